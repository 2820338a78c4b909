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

local M = {version = core.version, core = core}

local Runner = {}
Runner.__index = Runner
Runner.__name = "luamig.Runner"

-- Settings given to open that are not luamig.lua settings.
local open_only = {config = true, log = true, progress = true, x = true, url_source = true,
                   name = true, tag = true, traceback = true}

-- Raise a luamig error value: message plus fields.
local function fail(message, fields)
  local e = fields or {}
  e.message = message
  error(redact.error(core.error(e)), 0)
end
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

-- The dialect of the URL, without connecting.
function Runner:dialect()
  local ok, u = pcall(core.parse_url, self.url)
  if not ok then error(u, 0) end
  return u.dialect
end

-- The URL for messages: its password shown as ***.
function Runner:display_url()
  return core.parse_url(self.url).display
end

-- The kind of database a URL names, as a user reads it.
local kind_names = {sqlite = "SQLite", postgresql = "PostgreSQL"}

local function file_exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

-- The file a sqlite: URL names, when it is a plain file (not :memory: or a
-- file: URI), made absolute.
local function sqlite_file(u)
  local path = u.dialect == "sqlite" and u.path
  if not path or path == "" or path == ":memory:" or path:match("^file:") then return nil end
  if path:sub(1, 1) ~= "/" then
    local ok, cwd = pcall(core.cwd)
    if ok and cwd then path = cwd:gsub("/$", "") .. "/" .. path end
  end
  return path
end

-- Connects on first use. Says first which database and where its URL came
-- from (Alembic's "Context impl" line: a missing DATABASE_URL falling back
-- to the default must not pass unseen), then that a SQLite file was made.
-- Says which database and where its URL came from, once per runner.
function Runner:_announce(u)
  if self.announced then return end
  self.announced = true
  self:_log("INFO", ("Database: %s (%s)"):format(u.display, self.url_source or "from luamig.open"))
end

function Runner:connection()
  if not self.conn then
    local ok, u = pcall(core.parse_url, self.url)
    local file = ok and sqlite_file(u)
    local existed = file and file_exists(file)
    if ok then self:_announce(u) end
    self.conn = core.connect(self.url, {lock_timeout = self.settings.lock_timeout})
    if file and not existed and file_exists(file) then
      self:_log("INFO", "Created the SQLite database file " .. file)
    end
  end
  return self.conn
end

-- The connection for a command that only reads, or nil when the database
-- is a SQLite file that does not exist: a read finds nothing there, and
-- connecting would create the file (an empty luamig.db left behind by a
-- `luamig current` run in the wrong directory).
function Runner:_read_connection()
  if self.conn then return self.conn end
  local ok, u = pcall(core.parse_url, self.url)
  local file = ok and sqlite_file(u)
  if file and not file_exists(file) then
    self:_announce(u)
    self:_log("INFO", ("No SQLite database file %s: read as an empty database, nothing created"):format(file))
    return nil
  end
  return self:connection()
end

function Runner:close()
  if self.conn then self.conn:close() end
  self.conn = nil
end
Runner.__close = Runner.close
Runner.__gc = Runner.close

-- The scripts and their graph, loaded once. Listings read only each
-- script's header (core.load_scripts' scan); a run (full = true) loads them
-- whole up front, so a broken script stops it before anything runs and no
-- file is read twice. A run after a listing in the same runner loads them
-- again (a long-lived program may have seen the files change). A scanned
-- record is completed on the first read of its functions or checksum.
-- The directories of scripts: script_location/versions, then
-- version_locations, each once (a version_locations that lists versions/
-- too, as Alembic's does, names the same directory again).
local function same_dir_key(dir)
  dir = dir:gsub("/+$", ""):gsub("/%./", "/"):gsub("^%./", "")
  return dir
end
function Runner:_version_dirs()
  local s = self.settings
  local dirs, seen = {}, {}
  for _, d in ipairs({s.script_location .. "/versions", table.unpack(s.version_locations)}) do
    local key = same_dir_key(d)
    if not seen[key] then seen[key] = true dirs[#dirs + 1] = d end
  end
  return dirs
end

function Runner:scripts(full)
  if full and self.scanned then self.records = nil end
  if not self.records then
    local dirs = self:_version_dirs()
    local records = core.load_scripts(dirs, {scan = not full})
    local graph = core.graph(records)
    local by_id = {}
    for _, r in ipairs(records) do by_id[r.revision] = r end
    self.records, self.graph, self.by_id, self.scanned = records, graph, by_id, not full
    self.order = nil
  end
  return self.records, self.graph
end

-- The "Create Date:" line of a script's leading comment block (the
-- template writes it there, as Alembic's writes it in the docstring), or nil.
local function header_create_date(path)
  local f = io.open(path)
  if not f then return nil end
  local date
  for line in f:lines() do
    if not line:match("^%s*%-%-") and not line:match("^%s*$") then break end
    date = line:match("^%s*%-%-%s*Create Date:%s*(.-)%s*$")
    if date then break end
  end
  f:close()
  return date ~= "" and date or nil
end

-- A revision as plain values: id, parents, depends_on, labels, message,
-- path, and what it is in the graph; checksum on first read (it loads the
-- script: listings read only the headers), create_date on first read (it
-- reads the script's header comment).
local function record_checksum(info, key)
  if key == "checksum" then return getmetatable(info).record.checksum end
  if key == "create_date" then return header_create_date(info.path) end
end

function Runner:info(id)
  local _, graph = self:scripts()
  local g = graph:revision(id)
  if not g then return nil end
  local r = self.by_id[id]
  return setmetatable({
    id = id, revision = id, parents = g.down_revision, depends_on = r.depends_on,
    labels = g.branch_labels, message = r.message, path = r.path,
    children = g.children, dependents = g.dependents, transactional = r.transactional ~= false,
    is_head = g.is_head, is_effective_head = g.is_effective_head, is_base = g.is_base,
    is_branch_point = g.is_branch_point, is_merge_point = g.is_merge_point,
  }, {__index = record_checksum, record = r})
end

-- The audit log's "user@host": $USER or $LOGNAME, else (a cron job, a
-- container) the password database's name for the real uid.
local function who()
  local function set(name) local v = os.getenv(name) return v ~= "" and v or nil end
  local user = set("USER") or set("LOGNAME") or core.user() or "?"
  local f = io.open("/proc/sys/kernel/hostname")
  local host = f and f:read("l") or os.getenv("HOSTNAME") or "?"
  if f then f:close() end
  return user .. "@" .. host
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
                progress = self.progress}
end

-- Run or plan: kind "upgrade" | "downgrade" | "stamp". opts.sql renders
-- offline SQL through opts.emit (default: stdout); opts.plan computes only.
function Runner:_run(kind, opts)
  local records, graph = self:scripts(not opts.plan)
  local s = self.settings
  local offline = opts.sql
  local dialect = self:dialect()
  local conn
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
  if kind == "upgrade" and conn and not opts.plan then self:_warn_changed(conn) end
  if #records == 0 then
    self:_log("INFO", ("No revisions in %s/versions: nothing to do (luamig revision -m MSG "
      .. "makes one)"):format(s.script_location))
  end
  local op
  local ok, steps = pcall(core.run, conn, graph, records, {
    kind = kind, target = opts.target, targets = opts.targets, purge = opts.purge,
    version_table = s.version_table, transaction_per_migration = s.transaction_per_migration,
    lock_timeout = s.lock_timeout, plan = opts.plan, dialect = offline and dialect or nil,
    who = who(),
    log = function(level, msg) self:_log(level, msg) end,
    emit = emit,
    migrate = function(record, direction)
      local fn = record[direction]
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

function Runner:upgrade(target, opts)
  opts = opts or {}
  return self:_run("upgrade", {target = target or "head", sql = opts.sql, plan = opts.plan, emit = opts.emit})
end

function Runner:downgrade(target, opts)
  opts = opts or {}
  if target == nil then fail("downgrade needs a target, e.g. -1 or base") end
  return self:_run("downgrade", {target = target, sql = opts.sql, plan = opts.plan, emit = opts.emit})
end

function Runner:stamp(targets, opts)
  opts = opts or {}
  if type(targets) == "string" then targets = {targets} end
  return self:_run("stamp", {targets = targets, purge = opts.purge, sql = opts.sql,
                             plan = opts.plan, emit = opts.emit})
end

-- The steps a run would take: plan("upgrade", "head").
function Runner:plan(kind, target, opts)
  opts = opts or {}
  if kind == "stamp" then return self:stamp(target, {plan = true, purge = opts.purge}) end
  return self:_run(kind, {target = target, plan = true})
end

-- The version rows; creates nothing (not even a missing SQLite file).
function Runner:current_rows()
  local conn = self:_read_connection()
  if not conn then return {} end
  return core.current(conn, self.settings.version_table)
end

-- Every revision applied when the version table holds rows: their
-- ancestors through down_revision and depends_on. A set, id -> true.
function Runner:applied(rows)
  local _, graph = self:scripts()
  local seen, stack = {}, {}
  for _, id in ipairs(rows) do if graph:revision(id) then stack[#stack + 1] = id end end
  while #stack > 0 do
    local id = table.remove(stack)
    if not seen[id] then
      seen[id] = true
      local g = graph:revision(id)
      for _, p in ipairs(g.down_revision) do stack[#stack + 1] = p end
      for _, d in ipairs(g.depends_on or {}) do stack[#stack + 1] = d end
    end
  end
  return seen
end

-- An order of revisions, oldest first: by depth (the longest walk down to
-- a base through parents and dependencies), then by id.
function Runner:_order()
  if not self.order then
    local records, graph = self:scripts()
    local depth = {}
    local function depth_of(id)
      if depth[id] then return depth[id] end
      local g, d = graph:revision(id), 0
      for _, p in ipairs(g.down_revision) do d = math.max(d, depth_of(p) + 1) end
      for _, p in ipairs(g.depends_on or {}) do d = math.max(d, depth_of(p) + 1) end
      depth[id] = d
      return d
    end
    local ids = {}
    for i, r in ipairs(records) do ids[i] = r.revision depth_of(r.revision) end
    table.sort(ids, function(a, b)
      if depth[a] ~= depth[b] then return depth[a] < depth[b] end
      return a < b
    end)
    self.order = {}
    for i, id in ipairs(ids) do self.order[id] = i end
  end
  return self.order
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
    local order = self:_order()
    table.sort(out, function(a, b) return order[a.id] < order[b.id] end)
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
    local rows, out = self:current_rows(), {}
    local order = self:_order()
    table.sort(rows, function(a, b)
      local oa, ob = order[a], order[b]
      if oa and ob then return oa < ob end
      if oa or ob then return oa ~= nil end           -- unknown rows last
      return a < b
    end)
    for _, id in ipairs(rows) do
      out[#out + 1] = self.by_id[id] and self:info(id)
                      or {id = id, revision = id, unknown = true, parents = {}}
    end
    return out
  end
  local ids = graph:resolve(ident)
  if #ids == 0 then fail(("'%s' names no revision"):format(ident)) end
  local out = {}
  for _, id in ipairs(ids) do out[#out + 1] = self:info(id) end
  return out
end

-- The applied scripts (below the known version rows) compared with the
-- checksums the log records (core.logged_checksums: upgrade and accept
-- rows), oldest first: changed = {{revision, path, logged, current}},
-- unchecked = {ids} (no recorded checksum: applied with --sql, stamped, or
-- before the log), and how many were compared.
function Runner:_compare_checksums(conn, known_rows)
  local logged = core.logged_checksums(conn, self.settings.version_table)
  local order = self:_order()
  local applied = {}
  for id in pairs(self:applied(known_rows)) do applied[#applied + 1] = id end
  table.sort(applied, function(a, b) return order[a] < order[b] end)
  local changed, unchecked, compared = {}, {}, 0
  for _, id in ipairs(applied) do
    local r = self.by_id[id]
    if not logged[id] then
      unchecked[#unchecked + 1] = id
    else
      compared = compared + 1
      if logged[id] ~= r.checksum then
        changed[#changed + 1] = {revision = id, path = r.path, logged = logged[id], current = r.checksum}
      end
    end
  end
  return changed, unchecked, compared
end

-- The version rows split into those naming a script and those naming none.
function Runner:_known_rows(conn)
  local _, graph = self:scripts()
  local known, unknown = {}, {}
  for _, id in ipairs(core.current(conn, self.settings.version_table)) do
    if graph:revision(id) then known[#known + 1] = id else unknown[#unknown + 1] = id end
  end
  return known, unknown
end

-- Applied scripts whose file changed since, applied revisions the log has
-- no checksum for, and version rows that name no known revision: {ok,
-- changed = {{revision, path, logged, current}}, unchecked = {ids},
-- compared = n, unknown = {ids}}. ok: nothing changed, nothing unknown.
function Runner:verify()
  self:scripts()                                      -- no project: say so before reading anything
  local conn = self:_read_connection()
  if not conn then return {ok = true, changed = {}, unknown = {}, unchecked = {}, compared = 0} end
  local known, unknown = self:_known_rows(conn)
  local changed, unchecked, compared = self:_compare_checksums(conn, known)
  return {ok = #changed == 0 and #unknown == 0, changed = changed, unknown = unknown,
          unchecked = unchecked, compared = compared}
end

-- Accept applied scripts as they are now (`verify --accept`): after a
-- reviewed edit, or where the log has no checksum. target: an identifier
-- naming one applied revision, or "all" (every applied script whose
-- recorded checksum differs or is missing). Each is recorded in the log as
-- a row of its own (direction "accept"), so the edit stays on record and
-- the "changed since it was applied" warning ends. Returns the accepted
-- {{revision, path, checksum, previous (nil: none was recorded)}}, oldest
-- first, and the revision id target names (nil for "all").
function Runner:accept(target)
  if type(target) ~= "string" or target == "" then
    fail("verify --accept needs a revision, or all")
  end
  local conn = self:connection()
  local _, graph = self:scripts()
  local known, unknown = self:_known_rows(conn)
  local changed, unchecked = self:_compare_checksums(conn, known)
  local pending = {}                                  -- id -> the checksum recorded now, or false
  for _, ch in ipairs(changed) do pending[ch.revision] = ch.logged end
  for _, id in ipairs(unchecked) do pending[id] = false end
  local ids, named = {}, nil                          -- named: the revision target names
  if target == "all" then
    local order = self:_order()
    for id in pairs(pending) do ids[#ids + 1] = id end
    table.sort(ids, function(a, b) return order[a] < order[b] end)
  else
    local found = graph:resolve(target)
    if #found ~= 1 then
      fail(("verify --accept: '%s' names %s; give one revision, or all"):format(target,
        #found == 0 and "no revision" or (#found .. " revisions (" .. table.concat(found, ", ") .. ")")))
    end
    local id = found[1]
    if not self:applied(known)[id] then
      local at = #known + #unknown > 0 and table.concat(known, ", ") or "base"
      if #unknown > 0 then at = at .. (#known > 0 and ", " or "") .. table.concat(unknown, ", ") end
      fail(("verify --accept: revision %s is not applied to this database (it is at %s); only an "
        .. "applied script's checksum is recorded"):format(id, at))
    end
    if pending[id] ~= nil then ids[1] = id end
    named = id
  end
  local accepted = {}
  for _, id in ipairs(ids) do
    local r = self.by_id[id]
    core.log_accept(conn, self.settings.version_table, id, r.checksum, who())
    accepted[#accepted + 1] = {revision = id, path = r.path, checksum = r.checksum,
                               previous = pending[id] or nil}
  end
  return accepted, named
end

-- Before an upgrade: a warning per applied script edited since it ran.
-- (Unknown version rows are left to the run itself, which names them.)
function Runner:_warn_changed(conn)
  local ok, rows = pcall(core.current, conn, self.settings.version_table)
  if not ok or #rows == 0 then return end
  local _, graph = self:scripts()
  for _, id in ipairs(rows) do if not graph:revision(id) then return end end
  for _, ch in ipairs((self:_compare_checksums(conn, rows))) do
    self:_log("WARNING", ("%s (revision %s) changed since it was applied; `luamig verify` "
      .. "lists every such script"):format(ch.path, ch.revision))
  end
end

function Runner:ensure_version()
  core.ensure_version(self:connection(), self.settings.version_table)
end

-- Resolve identifiers to full ids (for down_revision and depends_on).
function Runner:_resolve_all(idents)
  local _, graph = self:scripts()
  local out = {}
  for _, ident in ipairs(idents) do
    for _, id in ipairs(graph:resolve(ident)) do out[#out + 1] = id end
  end
  return out
end

-- Where a new revision goes when no --version-path is given and there are
-- several version locations: the one that holds its first parent's script,
-- as Alembic does; nil otherwise (one location, or a new base).
function Runner:_parent_location(parents)
  local dirs = self:_version_dirs()
  if #dirs < 2 or not parents[1] then return nil end
  local path = self.by_id[parents[1]].path
  for _, d in ipairs(dirs) do
    if path:sub(1, #d + 1) == d .. "/" then return d end
  end
end

local function list_or_one(t)
  if t == nil or #t == 0 then return nil end
  if #t == 1 then return t[1] end
  return t
end

-- A new script: {message, head = "head", splice, branch_label (string or
-- list), depends_on (list), rev_id, version_path, upgrades, downgrades}.
-- Returns {path = ..., revision = ...}.
function Runner:revision(opts)
  opts = opts or {}
  local scaffold = require "luamig.scaffold"
  local _, graph = self:scripts()
  local operations
  if opts.autogenerate then
    -- {autogenerate = true}: the upgrade and downgrade come from comparing
    -- the database (which must be at head) with target_schema
    local ops = self:compare()
    local autogen = require "luamig.autogen"
    local ctx = self:_render_context()
    operations = autogen.describe(ops, ctx)
    local up, down = autogen.render(ops, ctx)
    opts = setmetatable({upgrades = up, downgrades = down}, {__index = opts})
  end
  local head = opts.head or "head"
  local parents = {}
  if head ~= "base" then
    if head == "head" and #graph:heads() > 1 then
      fail("Multiple heads are present; please specify the head revision on which the new "
        .. "revision should be based, or perform a merge.")
    end
    parents = self:_resolve_all({head})
    for _, id in ipairs(parents) do
      if not opts.splice and not graph:revision(id).is_head then
        fail(("Revision %s is not a head revision; please specify --splice to create a new "
          .. "branch from this revision"):format(id))
      end
    end
  end
  local labels = opts.branch_label
  if type(labels) == "string" then labels = {labels} end
  local existing = {}
  for id in pairs(self.by_id) do existing[id] = true end
  local s = self.settings
  local path, record = scaffold.write_revision{
    script_location = s.script_location, version_locations = self:_version_dirs(),
    version_path = opts.version_path or self:_parent_location(parents),
    file_template = s.file_template, truncate_slug_length = s.truncate_slug_length,
    message = opts.message, rev_id = opts.rev_id, down_revision = list_or_one(parents),
    branch_labels = labels, depends_on = opts.depends_on and self:_resolve_all(opts.depends_on),
    upgrades = opts.upgrades, downgrades = opts.downgrades, existing_ids = existing,
  }
  self.records = nil                                  -- the graph changed
  return {path = path, revision = record and record.revision or record, operations = operations}
end

-- A merge revision joining the given revisions (e.g. {"heads"}).
function Runner:merge(opts)
  local parents = self:_resolve_all(opts.revisions or {"heads"})
  if #parents < 2 then
    fail(("a merge needs at least two revisions; '%s' names %d"):format(
      table.concat(opts.revisions or {"heads"}, " "), #parents))
  end
  local scaffold = require "luamig.scaffold"
  local existing = {}
  for id in pairs(self.by_id) do existing[id] = true end
  local s = self.settings
  local path, record = scaffold.write_revision{
    script_location = s.script_location, version_locations = self:_version_dirs(),
    version_path = self:_parent_location(parents), file_template = s.file_template,
    truncate_slug_length = s.truncate_slug_length, message = opts.message, rev_id = opts.rev_id,
    down_revision = parents, branch_labels = opts.branch_label and {opts.branch_label},
    existing_ids = existing,
  }
  self.records = nil
  return {path = path, revision = record and record.revision or record}
end

---------------------------------------------------------------------------
-- Autogenerate, check, roundtrip (doc/autogenerate.md).

-- The version table and its log: never part of the compared schema.
function Runner:_own_tables()
  local vt = self.settings.version_table
  local log = vt:gsub("_version$", "") .. "_log"
  return {[vt] = true, [log] = true}
end

function Runner:_render_context()
  return {dialect = self:dialect(), naming_convention = self.settings.naming_convention}
end

-- Is the database at every head (Alembic's rule before autogenerate)?
function Runner:_at_head()
  local _, graph = self:scripts()
  local rows = self:current_rows()
  for _, id in ipairs(rows) do if not graph:revision(id) then return false end end
  local applied = self:applied(rows)
  for _, id in ipairs(graph:heads()) do if not applied[id] then return false end end
  return true
end

-- The declared schema: target_schema's schema(op), recorded.
function Runner:declared_schema()
  local record = require "luamig.autogen.record"
  local ok, res = pcall(record.load, self.settings.target_schema, self:dialect(),
                        {naming_convention = self.settings.naming_convention, x = self.x})
  if not ok then fail(type(res) == "table" and tostring(res.message or res) or tostring(res)) end
  return res
end

-- The operations (luamig.autogen.diff) that turn the database into the
-- declared schema; the database must be at head.
function Runner:compare()
  if not self:_at_head() then fail("Target database is not up to date.") end
  local declared = self:declared_schema()
  local conn = self:connection()                      -- after the scripts and the schema: a failure creates nothing
  local autogen = require "luamig.autogen"
  local ops = autogen.compare(conn, declared, {exclude = self:_own_tables(),
    include_object = self.settings.include_object, compare_type = self.settings.compare_type})
  for _, op in ipairs(ops) do self:_log("INFO", "Detected " .. autogen.diff.describe(op)) end
  if #ops == 0 then self:_log("INFO", "No changes in schema detected.") end
  return ops
end

-- Alembic's check: {ok = no difference, operations = {{kind, ctype, table,
-- name, description, code}}}. A difference is a result, not an error.
function Runner:check()
  local ops = self:compare()
  local autogen = require "luamig.autogen"
  return {ok = #ops == 0, operations = autogen.describe(ops, self:_render_context())}
end

-- The live schema of a connection, without luamig's own tables.
function Runner:_schema(conn)
  return require("luamig.introspect").schema(conn, {exclude = self:_own_tables()})
end

-- What a scratch database holds besides luamig's own tables: {n =
-- tables, views and sequences, rows = its version rows}; empty when both
-- are none (a database brought back with `downgrade base` is). On
-- PostgreSQL every schema but the system ones counts, as a migration may
-- create its own.
local PG_USER_SCHEMAS = [[n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%']]
local function scratch_contents(conn, own)
  local sql = conn:dialect() == "postgresql"
    and [[SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE ]] .. PG_USER_SCHEMAS .. [[ AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
            AND NOT (n.nspname = current_schema() AND c.relname IN ($1, $2))
            AND NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                              AND d.deptype = 'a' AND t.relnamespace = c.relnamespace
                              AND n.nspname = current_schema() AND t.relname IN ($1, $2))]]
    or [[SELECT count(*) AS n FROM sqlite_schema WHERE type IN ('table', 'view')
           AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT IN ($1, $2)]]
  local n = conn:query(sql, {own[1], own[2]})[1].n
  local ok, rows = pcall(conn.query, conn, "SELECT version_num FROM " .. conn:quote_ident(own[1])
                                           .. " ORDER BY version_num")
  local ids = {}
  for i, r in ipairs(ok and rows or {}) do ids[i] = r.version_num end
  return {n = n, rows = ids}
end

-- --reset-scratch: empty the scratch database. PostgreSQL: every schema
-- but the system ones dropped with all it holds (extensions and types
-- included), the current schema created again; SQLite: every view and
-- table dropped (their indexes and triggers with them). One transaction.
local function reset_scratch(conn)
  local q = function(name) return conn:quote_ident(name) end
  local tx <close> = conn:begin()
  if conn:dialect() == "postgresql" then
    local current = conn:query("SELECT current_schema() AS s")[1].s
    local rows = conn:query("SELECT n.nspname AS s FROM pg_namespace n WHERE " .. PG_USER_SCHEMAS
                            .. " ORDER BY n.nspname")
    for _, r in ipairs(rows) do conn:exec("DROP SCHEMA " .. q(r.s) .. " CASCADE") end
    if current then conn:exec("CREATE SCHEMA " .. q(current)) end
  else
    conn:exec("PRAGMA defer_foreign_keys = ON")
    local rows = conn:query([[SELECT type, name FROM sqlite_schema WHERE type IN ('table', 'view')
      AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY type = 'table', sql LIKE 'CREATE VIRTUAL%' DESC]])
    for _, r in ipairs(rows) do
      conn:exec(("DROP %s IF EXISTS %s"):format(r.type == "view" and "VIEW" or "TABLE", q(r.name)))
    end
  end
  tx:commit()
end

-- The downgrade target that undoes revision id alone, just after it was
-- applied (nothing above it applied yet).
function Runner:_undo_target(id)
  local parents = self:info(id).parents
  if #parents == 0 then return id .. "@base" end
  if #parents == 1 then return id .. "@-1" end
  return parents[1]                                   -- unmerge: back to both parents
end

-- A PostgreSQL project's scratch database: created on the project's
-- server over the project's connection (the project database itself is
-- only connected to), named luamig_roundtrip_<pid>_<random>. Returns its
-- name and URL (the project URL with the database replaced, by libpq's
-- parser).
function Runner:_create_scratch()
  local conn = self:connection()
  local random = ""
  local f = io.open("/dev/urandom", "rb")
  if f then
    random = (f:read(4) or ""):gsub(".", function(c) return ("%02x"):format(c:byte()) end)
    f:close()
  end
  if #random < 8 then random = ("%08x"):format(math.random(0, 0x7fffffff)) end
  local name = ("luamig_roundtrip_%d_%s"):format(core.pid(), random)
  local ok, err = pcall(conn.exec, conn, "CREATE DATABASE " .. conn:quote_ident(name))
  if not ok then
    local message = type(err) == "table" and tostring(err.message) or tostring(err)
    if type(err) == "table" and err.code == "42501" then
      fail(("roundtrip: the role of %s may not create databases (%s); roundtrip on a PostgreSQL "
        .. "project runs on a scratch database it creates on the same server and drops afterwards: "
        .. "grant the role CREATEDB, or give an empty database with --scratch-url URL")
        :format(self:display_url(), message))
    end
    fail(("roundtrip: cannot create the scratch database %s on the server of %s: %s; give an empty "
      .. "database with --scratch-url URL"):format(name, self:display_url(), message))
  end
  local url = core.url_with_dbname(self.url, name)
  redact.learn(url)
  self:_log("INFO", ("Created the scratch database %s on the server of %s"):format(name, self:display_url()))
  return name, url
end

-- Drop the scratch database _create_scratch made; a failure is a warning
-- that says how to drop it by hand. true when it is gone.
function Runner:_drop_scratch(name)
  local ok, err = pcall(function()
    local conn = self:connection()
    local version = tonumber(conn:query("SHOW server_version_num")[1].server_version_num)
    conn:exec("DROP DATABASE IF EXISTS " .. conn:quote_ident(name)
              .. (version >= 130000 and " WITH (FORCE)" or ""))
  end)
  if ok then
    self:_log("INFO", ("Dropped the scratch database %s"):format(name))
    return true
  end
  self:_log("WARNING", ("could not drop the scratch database %s (%s); drop it with: DROP DATABASE %s")
    :format(name, redact.text(type(err) == "table" and tostring(err.message) or tostring(err)),
            core.quote_ident(name)))
  return false
end

-- Do two URLs name the same database, as their parsers read them (the
-- password aside)? Only a first look, before connecting: the databases
-- themselves decide (Runner:_own_database).
local function same_database(a, b)
  if a == b then return true end
  local oka, ua = pcall(core.parse_url, a)
  local okb, ub = pcall(core.parse_url, b)
  if not (oka and okb) or ua.dialect ~= ub.dialect then return false end
  if ua.path then
    if ua.path == ":memory:" then return false end
    local function resolved(path)
      if path:sub(1, 1) ~= "/" then path = (core.cwd() or ".") .. "/" .. path end
      path = path:gsub("//+", "/")
      local n
      repeat path, n = path:gsub("/%./", "/") until n == 0
      return path
    end
    return resolved(ua.path) == resolved(ub.path)
  end
  local function tail(display) return display:match("://(.*)$") or display end
  return tail(ua.display) == tail(ub.display)          -- postgres:// is postgresql://
end

-- The file a SQLite connection has open as its main database, or nil
-- (":memory:", a temporary database).
local function sqlite_open_file(conn)
  for _, row in ipairs(conn:query("PRAGMA database_list")) do
    if row.name == "main" then return row.file ~= "" and row.file or nil end
  end
  return nil
end

-- What makes a PostgreSQL database one: its server (the time the server
-- started, to the microsecond, and its port) and the database's name and
-- oid; the cluster's system identifier too where the role may read it.
local function pg_identity(conn)
  local row = conn:query("SELECT current_database() AS name, d.oid::text AS oid, "
    .. "pg_postmaster_start_time()::text AS started, current_setting('port') AS port "
    .. "FROM pg_database d WHERE d.datname = current_database()")[1] or {}
  local ok, sys = pcall(conn.query, conn, "SELECT system_identifier::text AS id FROM pg_control_system()")
  return {name = row.name, oid = row.oid, started = row.started, port = row.port,
          system = ok and sys[1] and sys[1].id or nil}
end

-- Is the scratch database (connected over conn) the project's own? Asked
-- of the databases, not of the URLs' text: another spelling (a trailing
-- slash, a port or user spelt out, sub/../x.db, a symlink or hard link, a
-- file: URI) names the same database. Returns what makes it the same, for
-- the message, or nil.
function Runner:_own_database(conn)
  if conn:dialect() == "sqlite" then
    local scratch_file = sqlite_open_file(conn)
    local id = scratch_file and core.file_id(scratch_file)
    if not id then return nil end
    local u = core.parse_url(self.url)
    local file = sqlite_file(u)
    if not file and u.path and u.path:match("^file:") then
      file = sqlite_open_file(self:connection())    -- a file: URI: as SQLite reads it
    end
    if file and core.file_id(file) == id then return "the file " .. scratch_file end
    return nil
  end
  local project = self:connection()
  local a, b = pg_identity(conn), pg_identity(project)
  if a.system and b.system and a.system ~= b.system then return nil end
  if a.name == b.name and a.oid == b.oid and a.started == b.started and a.port == b.port then
    return ("the database %s on the server of %s"):format(a.name, self:display_url())
  end
  return nil
end

-- The "test both directions" practice as one call: on a scratch database,
-- for each revision from base to the heads, in upgrade order:
-- introspect, upgrade that one step, downgrade it, compare with the
-- schema before, upgrade it again. The scratch database: opts.scratch_url,
-- which must be empty (opts.reset_scratch empties it first); without it,
-- on a PostgreSQL project a database created on the project's server and
-- dropped afterwards (failure and SIGINT/SIGTERM/SIGHUP included), on a
-- SQLite project a temporary file (removed, with its lock file, likewise).
-- A scratch database of another kind, or that is the project's own
-- (_own_database), is refused. The scratch database is left at the heads
-- (a created one is dropped). opts.range ("START:END", history's grammar)
-- limits the revisions tested; the others are only upgraded. Stops at the
-- first failure. Returns {ok, tested = {ids}, failure = {revision,
-- message, phase, differences = {{description, code}}}}.
function Runner:roundtrip(opts)
  opts = opts or {}
  local records = self:scripts()
  local scratch_url, scratch_path, created = opts.scratch_url, nil, nil
  redact.learn(scratch_url)
  if scratch_url == "" then
    fail("roundtrip: the scratch database URL is empty (an unset shell variable?); give an "
      .. "empty database's URL, or leave it out for a scratch database of the project's kind")
  end
  -- A Ctrl-C (SIGTERM, SIGHUP) must not leave a created database or a
  -- temporary file behind: held while it is made, an error inside the run,
  -- held again while the cleanup runs.
  core.trap_interrupts("hold")
  local okc, err = pcall(function()
    if scratch_url then
      local project_kind = self:dialect()
      local okp, su = pcall(core.parse_url, scratch_url)
      if okp and su.dialect ~= project_kind then
        fail(("roundtrip: --scratch-url names a %s database (%s), the project's is %s (%s): roundtrip "
          .. "must run on a database of the project's kind, where its migrations run as they will; "
          .. "give a %s database, or leave --scratch-url out"):format(kind_names[su.dialect] or su.dialect,
          su.display, kind_names[project_kind] or project_kind, self:display_url(),
          kind_names[project_kind] or project_kind))
      end
      if same_database(scratch_url, self.url) then
        fail(("roundtrip: --scratch-url names the project's own database (%s): roundtrip downgrades "
          .. "and --reset-scratch empties it; give another database"):format(self:display_url()))
      end
    elseif self:dialect() == "postgresql" then
      created, scratch_url = self:_create_scratch()
    else
      scratch_path = os.tmpname()
      scratch_url = "sqlite:" .. scratch_path
    end
  end)
  if not okc then
    if scratch_path then os.remove(scratch_path) end
    core.trap_interrupts(false)
    error(err, 0)
  end
  local scratch = setmetatable({settings = self.settings, url = scratch_url, x = self.x,
                                log_fn = self.log_fn, url_source = "the scratch database"}, Runner)
  local ok, result = pcall(function()
    core.trap_interrupts(true)                        -- inside: a signal held so far raises here
    local conn = scratch:connection()
    if not created then
      local same = self:_own_database(conn)
      if same then
        fail(("roundtrip: --scratch-url names the project's own database (%s is %s): roundtrip "
          .. "downgrades and --reset-scratch empties it; give another database")
          :format(scratch:display_url(), same))
      end
      local vt = self.settings.version_table
      local held = scratch_contents(conn, {vt, (vt:gsub("_version$", "") .. "_log")})
      if (held.n > 0 or #held.rows > 0) and opts.reset_scratch then
        local okr, err = pcall(reset_scratch, conn)
        if not okr then
          fail(("roundtrip: cannot empty the scratch database %s: %s; empty it yourself (drop the "
            .. "database and create it again)"):format(scratch:display_url(),
            type(err) == "table" and tostring(err.message) or tostring(err)))
        end
        self:_log("INFO", ("Emptied the scratch database %s"):format(scratch:display_url()))
      elseif held.n > 0 or #held.rows > 0 then
        local what = {}
        if held.n > 0 then what[1] = ("%d tables, views or sequences"):format(held.n) end
        if #held.rows > 0 then what[#what + 1] = "the version rows " .. table.concat(held.rows, ", ") end
        fail(("roundtrip: the scratch database %s is not empty (%s); roundtrip downgrades, so it "
          .. "runs only on an empty database: add --reset-scratch to empty it first, or reset it "
          .. "yourself (luamig --url URL downgrade base, when it holds only this project's "
          .. "migrations; or drop the database and create it again)")
          :format(scratch:display_url(), table.concat(what, " and ")))
      end
    end
    local test
    if opts.range then
      test = {}
      for _, info in ipairs(self:history(opts.range)) do test[info.id] = true end
    end
    local diff = require "luamig.autogen.diff"
    local render = require "luamig.autogen.render"
    local ctx = scratch:_render_context()
    local result = {ok = true, tested = {}}
    local steps = scratch:plan("upgrade", #records > 0 and "heads" or "base")
    for _, step in ipairs(steps) do
      local id = step.revision
      local info = self:info(id)
      if test and not test[id] then
        scratch:upgrade(id)
      else
        local phase = "upgrade"
        local okstep, err = pcall(function()
          local before, rows_before = scratch:_schema(conn), scratch:current_rows()
          scratch:upgrade(id)
          local upgraded = scratch:_schema(conn)
          phase = "downgrade"
          scratch:downgrade(scratch:_undo_target(id))
          local rows_after = scratch:current_rows()
          table.sort(rows_before)
          table.sort(rows_after)
          if table.concat(rows_before, " ") ~= table.concat(rows_after, " ") then
            error(("the version table holds %s, not %s as before the upgrade"):format(
              #rows_after > 0 and table.concat(rows_after, ", ") or "nothing",
              #rows_before > 0 and table.concat(rows_before, ", ") or "nothing"), 0)
          end
          -- differences between the schema expected and the one found, as
          -- what is missing or left behind, and the ops that would fix it
          local function differ(expected, found, which)
            local ops = diff.compare(expected, found, {dialect = conn:dialect()})
            if #ops == 0 then return false end
            local differences = {}
            for i, op in ipairs(ops) do
              differences[i] = {description = diff.describe_leftover(op), code = render.op(op, ctx)}
            end
            result.ok = false
            result.failure = {revision = id, message = info.message, phase = which,
                              differences = differences}
            return true
          end
          if differ(before, scratch:_schema(conn), "compare") then return end
          phase = "upgrade again"
          scratch:upgrade(id)
          differ(upgraded, scratch:_schema(conn), "upgrade again")
        end)
        if core.trapped_signal() then error(err, 0) end
        if not okstep then
          result.ok = false
          result.failure = {revision = id, message = info.message, phase = phase,
                            error = redact.text(type(err) == "table" and tostring(err.message)
                                                or tostring(err))}
        end
        if not result.ok then return result end
        result.tested[#result.tested + 1] = id
        self:_log("INFO", ("Roundtrip %s: upgrade, downgrade, same schema, upgrade again: ok%s")
          :format(id, info.message and (", " .. info.message) or ""))
      end
    end
    return result
  end)
  core.trap_interrupts("hold")                        -- a second Ctrl-C cannot cut the cleanup short
  local cleaned = pcall(scratch.close, scratch)
  if created then
    local okd, dropped = pcall(self._drop_scratch, self, created)
    cleaned = okd and dropped
  end
  if scratch_path then                                -- and its run-lock file: nobody else knows it
    os.remove(scratch_path)
    os.remove(scratch_path .. "-luamig.lock")
  end
  local signal = core.trapped_signal()
  core.trap_interrupts(false)
  if signal then
    fail(("roundtrip: interrupted (%s)%s"):format(signal,
      created and (cleaned and ("; the scratch database " .. created .. " was dropped")
                   or ("; the scratch database " .. created .. " may be left: DROP DATABASE "
                       .. core.quote_ident(created))) or ""))
  end
  if not ok then error(result, 0) end
  return result
end

-- The public API: open and every public method let no secret out in an
-- error value (the internal ones, "_"-prefixed, are called through these).
M.open = guarded(open)
for name, fn in pairs(Runner) do
  if type(fn) == "function" and not name:match("^_") then Runner[name] = guarded(fn) end
end

M.Runner = Runner
return M
