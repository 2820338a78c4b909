-- luamig -- the embedding API: the same calls the luamig command makes.
--
--   local luamig = require "luamig"
--   local m <close> = luamig.open{url = "sqlite:app.db", script_location = "migrations",
--                                 log = function(level, msg) end}
--   m:upgrade("head")   m:downgrade("-1")   m:stamp("head")   m:current()
--
-- luamig.open takes the settings of luamig.lua (DESIGN.md) as a table, or
-- the path of a luamig.lua ({config = path, ...} to add to it). Methods
-- return plain Lua values and raise error values with message, revision,
-- sql, sqlstate and code fields and a __tostring. No message, error value
-- or log line shows a password of the run's URLs (luamig.redact).
local core = require "luamig.core"
local config = require "luamig.config"
local redact = require "luamig.redact"
local errors = require "luamig.errors"
local database = require "luamig.runner_database"

local M = {version = core.version, core = core}

-- luamig.Runner: its methods are here (running, listing) and in the
-- modules below, each a concern of its own; open() makes one.
local Runner = {}
Runner.__index = Runner
Runner.__name = "luamig.Runner"
for _, name in ipairs{"luamig.runner_database", "luamig.runner_scripts", "luamig.verify",
                      "luamig.runner_autogen", "luamig.roundtrip"} do
  local part = require(name)
  for name, fn in pairs(part.Runner) do Runner[name] = fn end
end
Runner.__close = Runner.close
Runner.__gc = Runner.close

local fail, who, kind_names = errors.fail, database.who, database.kind_names

-- Settings given to open that are not luamig.lua settings.
local open_only = {config = true, log = true, progress = true, x = true, url_source = true,
                   name = true, tag = true, traceback = true}

M.fail = fail

-- Calls fn(...) and returns its results; an error it raises leaves with
-- the run's secrets redacted (the embedding API's error values).
local function redacted(ok, ...)
  if ok then return ... end
  error(redact.error((...)), 0)
end
-- With M.traceback set (the CLI's --raiseerr), the Lua stack where a
-- public call's error was raised is kept in M.last_traceback: the
-- innermost call's, as the outer ones only see it rethrown.
local depth = 0
local function traced(e)
  if M.traceback and not M.last_traceback then
    M.last_traceback = debug.traceback(type(e) == "table" and tostring(e.message) or tostring(e), 2)
  end
  return e
end
local function leave(ok, ...)
  depth = depth - 1
  return redacted(ok, ...)
end
local function guarded(fn)
  return function(...)
    if depth == 0 then M.last_traceback = nil end
    depth = depth + 1
    return leave(xpcall(fn, traced, ...))
  end
end

local function open(opts)
  if type(opts) == "string" then opts = {config = opts} end
  opts = opts or {}
  redact.learn(opts.url)                              -- every URL of the run, used or not
  redact.learn_environment()
  local settings, warnings, base = {}, {}, ""
  if opts.config then
    local ok, res, warn = pcall(config.read, opts.config)
    if not ok then fail(tostring(res)) end
    settings, warnings, base = res, warn, config.dirname(opts.config)
  end
  if opts.name ~= nil then                            -- -n NAME: a named section of the config
    local ok, res, warn = pcall(config.section, settings, opts.name, opts.config or "luamig.open")
    if not ok then fail(tostring(res)) end
    settings = res
    for _, w in ipairs(warn) do warnings[#warnings + 1] = w end
  end
  settings.sections = nil
  for k, v in pairs(opts) do
    if not open_only[k] and k ~= "url" then
      if not config.known[k] then warnings[#warnings + 1] = config.unknown_warning("luamig.open", k) end
      settings[k] = v
    end
  end
  local config_source = opts.config or "luamig.open"
  if opts.name ~= nil then config_source = ("section '%s' of %s"):format(opts.name, config_source) end
  local ok, url, source = pcall(config.url, opts.url, settings.url, opts.url_source or "luamig.open",
                                config_source)
  if not ok then fail(url) end
  local self = setmetatable({
    settings = config.complete(settings, base),
    url = url,
    url_source = source,
    x = opts.x or {},
    tag = opts.tag,
    want_traceback = opts.traceback,                  -- keep a failing script's Lua traceback
    log_fn = opts.log,
    progress = opts.progress,
  }, Runner)
  for _, w in ipairs(warnings) do self:_log("WARNING", w) end
  return self
end

function Runner:_log(level, message)
  if self.log_fn then self.log_fn(level, redact.text(message)) end
end

-- What a step's error value becomes, with where in the script it came
-- from (run as the message handler, so the failing frame is still on the
-- stack). Every value ends up with a message that names the script: a
-- string is given the script's file and line in front unless it already
-- starts with them (an error raised by a C function such as
-- coroutine.yield, or error(msg, 0), has none); a table with a string
-- message gets where = "path:line"; any other value (error(), error({}),
-- error(42), a table with __tostring) becomes {message = its __tostring
-- text or what it was, value = it}, as Lua's own loader names them.
local function locate(err, path)
  local kind = type(err)
  if kind ~= "string" and not (kind == "table" and type(err.message) == "string") then
    local text
    local mt = debug.getmetatable(err)
    if mt and mt.__tostring then
      local ok, s = pcall(tostring, err)
      if ok and type(s) == "string" then text = s end
    end
    if not text then
      text = ("error object is a %s value"):format(kind)
      if kind == "number" or kind == "boolean" then text = ("%s (%s)"):format(text, tostring(err)) end
    end
    err = {message = text, value = err}
  end
  if type(err) == "table" and err.where then return err end
  local source, where = "@" .. path, path
  for level = 2, 200 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.source == source then
      if info.currentline > 0 then where = ("%s:%d"):format(path, info.currentline) end
      break
    end
  end
  if type(err) == "string" then
    err = core.script_message(err, path)               -- Lua shortens long chunk names
    if err:sub(1, #path + 1) ~= path .. ":" then err = where .. ": " .. err end
    return err
  end
  err.where = where
  return err
end

-- The op object a script's upgrade or downgrade receives.
function Runner:_op(conn, dialect, emit)
  local op = require("luamig.op")
  return op.new{conn = conn, dialect = dialect, x = self.x, tag = self.tag, emit = emit,
                naming_convention = self.settings.naming_convention,
                log = function(level, msg) self:_log(level:upper(), msg) end,
                progress = self.progress, on_rename = self.on_rename}
end

-- Each revision's lock and statement timeouts and lock retries (core.run's
-- opts.timeouts), every script's values checked first (a bad one fails
-- before anything is sent); on SQLite, a word that they do nothing there.
local function lock_timeouts(self, records, dialect, run, offline)
  local lock_retry = require "luamig.lock_retry"
  local ok, res = pcall(lock_retry.resolve, records, self.settings, run,
    offline and (config.given[self.settings] or {}) or nil)
  if not ok then fail(tostring(res)) end
  -- a near miss of a setting in a script's header (ddl_lock_timout) would
  -- be ignored silently: warn, with the name meant
  local suggest = require "luamig.suggest"
  -- one edit-distance search per distinct name, not per script: every header has the same few
  -- (revision, down_revision, message ...), and searching each again was a third of an upgrade's
  -- instructions at 300 revisions (bench/realhist)
  local closest = setmetatable({}, {__index = function(t, k)
    local meant = suggest.closest(k, lock_retry.names, 2) or false
    t[k] = meant
    return meant
  end})
  for _, r in ipairs(records) do
    local env = rawget(r, "env")
    if type(env) == "table" then
      for k, v in next, env do
        if type(k) == "string" and type(v) ~= "function" and not lock_retry.timeouts[k]
           and k ~= "lock_retries" then
          local meant = closest[k]
          if meant then
            self:_log("WARNING", ("%s: '%s' is not a setting and is ignored; did you mean '%s'?")
              :format(r.path, k, meant))
          end
        end
      end
    end
  end
  -- SQLite: said once, when the project or the run sets one (here), or a
  -- step of the run does (sqlite_note, from the migrate hook)
  self._sqlite_noted = nil
  if dialect == "sqlite" and lock_retry.any_set({}, self.settings, run, config.defaults) then
    self:_sqlite_note()
  end
  return res
end

function Runner:_sqlite_note()
  if self._sqlite_noted then return end
  self._sqlite_noted = true
  self:_log("INFO", "ddl_lock_timeout, statement_timeout and lock_retries have no effect on "
    .. "SQLite: a step waits for the database file up to lock_timeout (its busy timeout)")
end

-- The checksums a run logs, computed before the database is opened: a run
-- that cannot compute them (libcrypto) stops before it creates a SQLite
-- file or runs the lint. The scripts loaded whole, as a run loads them.
function Runner:_checksums()
  for _, r in ipairs((self:scripts(true))) do local _ = r.checksum end
end

-- Run or plan: kind "upgrade" | "downgrade" | "stamp". opts.sql renders
-- offline SQL through opts.emit (default: stdout); opts.plan computes only.
function Runner:_run(kind, opts)
  -- a profile for another database, a hot standby or a read-only
  -- session: refused before any script is loaded or anything is sent
  if opts.sql or opts.plan then self:_check_profile() else self:_check_writable(kind) end
  local records, graph = self:scripts(not opts.plan)
  local s = self.settings
  local offline = opts.sql
  local dialect = self:dialect()
  local conn
  if kind == "downgrade" and not offline and not opts.plan and s.schema ~= nil and dialect == "postgresql"
     and self:_read_connection() == nil then
    return {start = {}, rows = {}}                    -- a missing schema: nothing to downgrade, none made
  end
  if not offline and not opts.plan and kind ~= "stamp" then self:_checksums() end
  if not offline then
    -- a plan reads: where there is no SQLite file yet, it plans from an
    -- empty database in memory rather than create the file
    conn = opts.plan and not self.conn and self:_read_connection() == nil
      and core.connect("sqlite::memory:") or self:connection()
  end
  if offline and not opts.plan then
    self:_log("INFO", ("Generating SQL for %s, the kind of the database URL (%s); nothing "
      .. "is run"):format(kind_names[dialect] or dialect, self.url_source or "from luamig.open"))
  end
  -- Offline: the runner's statements (";"-terminated) and comments, and
  -- op's statements (unterminated) and COPY data (verbatim), in order.
  local emit, op_emit
  if offline then
    -- the script is data that must run as written: not redacted (a
    -- password that is also a word would turn into "***" in it)
    local write = opts.emit or function(text) io.stdout:write(text) end
    emit = function(sql) write(sql .. "\n\n") end
    op_emit = function(text, kind)
      if kind == "copy" then write(text) else write(text .. ";\n\n") end
    end
  end
  if offline and not opts.plan then self:_offline_schema(emit) end
  local profile = require("luamig.profile")
  local prof = profile.of(s.profile)
  if prof.transactional_default == false and not opts.plan then
    self:_log("INFO", ("profile %s: a revision without `transactional = true` runs outside a "
      .. "transaction, each statement committing on its own"):format(s.profile))
  end
  if kind == "upgrade" and conn and not opts.plan then self:_warn_changed(conn) end
  if #records == 0 then
    self:_log("INFO", ("No revisions in %s/versions: nothing to do (luamig revision -m MSG "
      .. "makes one)"):format(s.script_location))
  end
  local tx_of = {}
  for i, rec in ipairs(records) do tx_of[i] = profile.transactional(rec, s.profile) end
  local timeouts = not opts.plan and lock_timeouts(self, records, dialect, opts.run_settings, offline) or nil
  local op
  local called = {}                                   -- records whose step ran in this run
  local ok, steps = pcall(core.run, conn, graph, records, {
    kind = kind, target = opts.target, targets = opts.targets, purge = opts.purge,
    version_table = s.version_table, transaction_per_migration = s.transaction_per_migration,
    lock_timeout = s.lock_timeout, plan = opts.plan, dialect = offline and dialect or nil,
    lock = opts.lock or s.lock, lock_lease = opts.lock_lease or s.lock_lease,
    who = who(), timeouts = timeouts,
    transactional = tx_of, outside_why = profile.outside_why(s.profile), tx_setup = prof.tx_setup,
    log = function(level, msg) self:_log(level, msg) end,
    emit = emit,
    migrate = function(record, direction)
      local fn = record[direction]
      -- A second call of a step in this run is a lock retry (or a run
      -- again after another run moved the rows): the script runs again
      -- from its file in a fresh environment, so nothing its top level
      -- built (a list, a counter, an iterator) carries over from the
      -- attempt that was rolled back.
      if called[record] then
        local fresh = core.load_script(record.path)
        if fresh.checksum ~= record.checksum then
          error(("%s: the file changed during the run (its checksum differs from when the run "
            .. "loaded it), so this attempt is not run again: run luamig again"):format(record.path), 0)
        end
        fn = fresh[direction]
      end
      called[record] = true
      if dialect == "sqlite" and (record.ddl_lock_timeout ~= nil or record.statement_timeout ~= nil
          or record.lock_retries ~= nil) then
        self:_sqlite_note()
      end
      if type(fn) ~= "function" then
        error(("%s: revision %s has no %s function"):format(record.path, record.revision, direction), 0)
      end
      op = op or self:_op(conn, dialect, op_emit)     -- one per run: steps share it
      -- os.exit is refused while the script's code runs (core.call_script)
      local ok, err = core.call_script(fn, function(e)
        local located = locate(e, record.path)
        if self.want_traceback then
          self.script_traceback = debug.traceback(type(located) == "table"
            and tostring(located.message) or tostring(located), 2)
        end
        return located
      end, op)
      if not ok then
        if type(err) == "table" and err.where then
          err.message = err.where .. ": " .. tostring(err.message)
        end
        error(err, 0)
      end
    end,
  })
  if not ok then
    local err = steps
    if type(err) == "table" and type(err.message) == "string"
       and err.message:find("(a row of the version table)", 1, true) then
      err.message = err.message .. ": `luamig verify` lists such rows; `luamig stamp --purge REV` "
        .. "empties the table and records REV"
    end
    error(err, 0)
  end
  return steps
end

-- A run's own ddl_lock_timeout, statement_timeout and lock_retries (opts
-- of upgrade and downgrade; the CLI's --ddl-lock-timeout ...), which
-- override the scripts' and the project's.
local function run_settings(opts)
  return {ddl_lock_timeout = opts.ddl_lock_timeout, statement_timeout = opts.statement_timeout,
          lock_retries = opts.lock_retries}
end

-- A target of m:upgrade, m:downgrade, m:stamp and m:plan: a string, said
-- clearly otherwise (core.run's own check names its internals).
local function check_target(method, target)
  if type(target) ~= "string" then
    fail(("m:%s: the target must be a string (\"head\", \"base\", \"+1\", \"-2\", a revision id or "
      .. "label), not %s"):format(method, type(target) == "number" and ("the number " .. tostring(target))
      or ("a " .. type(target))))
  end
end

local function check_opts(method, opts)
  if opts ~= nil and type(opts) ~= "table" then
    fail(("m:%s: opts must be a table, not a %s"):format(method, type(opts)))
  end
  return opts or {}
end

-- A run's own lock and lock_lease (m:upgrade(t, {lock = "table"}), the
-- CLI's --lock-strategy), checked as luamig.lua's are; nil when not given.
local function lock_opts(method, opts)
  for _, k in ipairs({"lock", "lock_lease"}) do
    if opts[k] ~= nil then
      local why = config.lock_why_not(k, opts[k])
      if why then fail(("m:%s: %s"):format(method, why)) end
    end
  end
  return opts.lock, opts.lock_lease
end

function Runner:upgrade(target, opts)
  opts = check_opts("upgrade", opts)
  if target == nil then target = "head" end
  check_target("upgrade", target)
  local lock, lease = lock_opts("upgrade", opts)
  return self:_run("upgrade", {target = target, sql = opts.sql, plan = opts.plan, emit = opts.emit,
                               run_settings = run_settings(opts), lock = lock, lock_lease = lease})
end

function Runner:downgrade(target, opts)
  opts = check_opts("downgrade", opts)
  if target == nil then fail("downgrade needs a target, e.g. -1 or base") end
  check_target("downgrade", target)
  local lock, lease = lock_opts("downgrade", opts)
  return self:_run("downgrade", {target = target, sql = opts.sql, plan = opts.plan, emit = opts.emit,
                                 run_settings = run_settings(opts), lock = lock, lock_lease = lease})
end

function Runner:stamp(targets, opts)
  opts = check_opts("stamp", opts)
  if type(targets) == "string" then targets = {targets} end
  if type(targets) ~= "table" or #targets == 0 then
    fail("m:stamp: the targets must be a revision (a string) or a list of them, e.g. \"head\" or {\"a1\", \"b1\"}")
  end
  for _, t in ipairs(targets) do check_target("stamp", t) end
  local lock, lease = lock_opts("stamp", opts)
  return self:_run("stamp", {targets = targets, purge = opts.purge, sql = opts.sql,
                             plan = opts.plan, emit = opts.emit, lock = lock, lock_lease = lease})
end

-- The run lock, as `luamig lock status` shows it: {advisory = {held,
-- holder}, lease = {held, expired, host, pid, run_id, acquired_at,
-- expires_at, token, ms_left} or nil, strategy = the lock setting}.
function Runner:lock_status()
  local conn = self:connection()
  local st = core.lock_status(conn, self.settings.version_table)
  st.strategy = self.settings.lock
  st.lease_table = self.settings.version_table .. "_lock"
  -- a standby replays the lease row, but no advisory lock: those live in the primary's memory
  st.standby = conn:dialect() == "postgresql"
    and conn:query("SELECT pg_is_in_recovery()::text AS r")[1].r == "true" or nil
  return st
end

-- Break the run lock of kind ("advisory": end the session holding it;
-- "table": free the lease, its token moved on). What was done, or nil when
-- nothing was held.
function Runner:lock_break(kind)
  kind = kind or (self.settings.lock == "table" and "table" or "advisory")
  self:_check_writable("lock break")                  -- a standby: break it on the primary
  return core.lock_break(self:connection(), self.settings.version_table, kind)
end

-- The steps a run would take: plan("upgrade", "head").
function Runner:plan(kind, target, opts)
  opts = check_opts("plan", opts)
  if kind == "stamp" then return self:stamp(target, {plan = true, purge = opts.purge}) end
  if kind == "upgrade" then return self:upgrade(target, {plan = true}) end
  if kind == "downgrade" then return self:downgrade(target, {plan = true}) end
  fail(("m:plan: the kind must be \"upgrade\", \"downgrade\" or \"stamp\", not %s"):format(
    type(kind) == "string" and ("'" .. kind .. "'") or ("a " .. type(kind))))
end

-- The version rows; creates nothing (not even a missing SQLite file).
function Runner:current_rows()
  local conn = self:_read_connection()
  if not conn then return {} end
  return core.current(conn, self.settings.version_table)
end

-- Every revision applied when the version table holds rows: their
-- ancestors through down_revision and depends_on (the graph's). A set, id
-- -> true.
function Runner:applied(rows)
  local _, graph = self:scripts()
  local set = {}
  for _, id in ipairs(graph:applied(rows)) do set[id] = true end
  return set
end

-- The graph's order of revisions, oldest first (by depth, the longest walk
-- down to a base through parents and dependencies, then by id): id ->
-- position.
function Runner:_order()
  if not self.order then
    local _, graph = self:scripts()
    self.order = {}
    for i, id in ipairs(graph:order()) do self.order[id] = i end
  end
  return self.order
end

-- list sorted oldest first (Runner:_order), ids no script defines last,
-- by id; id_of(item) gives an item's id (default: the item is one).
function Runner:_oldest_first(list, id_of)
  local order = self:_order()
  id_of = id_of or function(item) return item end
  table.sort(list, function(a, b)
    local ia, ib = id_of(a), id_of(b)
    local oa, ob = order[ia], order[ib]
    if oa and ob then return oa < ob end
    if oa or ob then return oa ~= nil end           -- unknown rows last
    return ia < ib
  end)
  return list
end

-- The database's current revisions, as Alembic's current shows them: the
-- applied revisions none of whose children is applied (so a depends_on
-- target still counts), oldest first. A row naming no known revision
-- comes back as {id = x, unknown = true}.
function Runner:current()
  local rows = self:current_rows()
  local _, graph = self:scripts()
  local known, out = {}, {}
  for _, id in ipairs(rows) do if self.by_id[id] then known[#known + 1] = id end end
  for _, id in ipairs(graph:current(known)) do out[#out + 1] = self:info(id) end
  if #out > 1 then                                    -- oldest first (the order walks every script)
    self:_oldest_first(out, function(info) return info.id end)
  end
  for _, id in ipairs(rows) do
    if not self.by_id[id] then out[#out + 1] = {id = id, revision = id, unknown = true, parents = {}} end
  end
  return out
end

-- The heads; opts.resolve_dependencies: Alembic's `heads
-- --resolve-dependencies`, without the heads that another revision's
-- depends_on points at (the "effective heads").
function Runner:heads(opts)
  local _, graph = self:scripts()
  local out = {}
  for _, id in ipairs(graph:heads{resolve_dependencies = opts and opts.resolve_dependencies}) do out[#out + 1] = self:info(id) end
  return out
end

function Runner:branches()
  local _, graph = self:scripts()
  local out = {}
  for _, id in ipairs(graph:branch_points()) do out[#out + 1] = self:info(id) end
  return out
end

-- Revisions newest first; range "START:END" (either side may be empty);
-- opts.rows: the version rows, for ranges that say "current".
function Runner:history(range, opts)
  local _, graph = self:scripts()
  local out = {}
  for _, id in ipairs(graph:history(range or ":", (opts or {}).rows or {})) do
    out[#out + 1] = self:info(id)
  end
  return out
end

-- history's plain listing as text, a line a revision newest first, in
-- Alembic's format (graph:listing_text builds it in one C pass): opts.rows
-- the version rows, opts.current a set of ids marked "(current)".
function Runner:history_text(range, opts)
  opts = opts or {}
  local _, graph = self:scripts()
  return graph:listing_text(range or ":", opts.rows or {}, self.records, opts.current)
end

-- history's revisions as luamig.graph_draw's nodes (history --graph,
-- --dot): id, parents, dependencies, labels, head, effective_head from the
-- graph in one call, message and depends_on (as written) from the scripts;
-- current = true for the revisions opts.current (a set of ids) holds.
function Runner:history_graph(range, opts)
  opts = opts or {}
  local _, graph = self:scripts()
  local nodes, by_id, current = graph:drawing(range or ":", opts.rows or {}), self.by_id, opts.current
  for _, node in ipairs(nodes) do
    local r = by_id[node.id]
    node.message, node.depends_on = r.message, r.depends_on
    if current and current[node.id] then node.current = true end
  end
  return nodes
end

-- The revisions an identifier names (show, edit): "heads" names every
-- head, "current" the database's version rows (oldest first; a row naming
-- no script comes back as {id = x, unknown = true}, as current gives it).
function Runner:show(ident)
  local _, graph = self:scripts()
  if ident == "current" then
    local rows, out = self:_oldest_first(self:current_rows()), {}
    local known = {}
    for _, id in ipairs(rows) do if graph:revision(id) then known[#known + 1] = id end end
    graph:current(known)                              -- the rows' view: a squash or the chain it replaces
    for _, id in ipairs(rows) do
      local g = graph:revision(id)
      if g and g.hidden and g.replaced_by then id = g.replaced_by end   -- a row read as its squash
      out[#out + 1] = self.by_id[id] and self:info(id)
                      or {id = id, revision = id, unknown = true, parents = {}}
    end
    return out
  end
  graph:current({})                                  -- the view without rows: show reads no database
  local g = graph:revision(ident)
  if g and g.hidden and g.replaced_by then           -- a revision a squash replaces: its own file
    local r = self.by_id[ident]
    if r.ghost then
      fail(("revision %s is replaced by the squash %s, and its file is gone: `luamig show %s`"):format(
        ident, g.replaced_by, g.replaced_by))
    end
    local info = self:info(ident)
    info.parents = r.parents                          -- as its script says (the graph reads it as the squash)
    return {info}
  end
  local ids = graph:resolve(ident)
  if #ids == 0 then fail(("'%s' names no revision"):format(ident)) end
  local out = {}
  for _, id in ipairs(ids) do out[#out + 1] = self:info(id) end
  return out
end

function Runner:ensure_version()
  self:_check_writable("ensure_version")
  core.ensure_version(self:connection(), self.settings.version_table)
end

-- The public API: open and every public method let no secret out in an
-- error value (the internal ones, "_"-prefixed, are called through these).
M.open = guarded(open)
for name, fn in pairs(Runner) do
  if type(fn) == "function" and not name:match("^_") then Runner[name] = guarded(fn) end
end

M.Runner = Runner
return M
