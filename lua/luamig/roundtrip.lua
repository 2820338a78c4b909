-- luamig.roundtrip -- the Runner's roundtrip (doc/autogenerate.md): each
-- revision upgraded, downgraded, compared and upgraded again on a scratch
-- database, which it creates (PostgreSQL), makes a temporary file of
-- (SQLite) or checks is empty and not the project's own (--scratch-url).
-- A method of luamig.Runner (init.lua installs it).
local core = require "luamig.core"
local redact = require "luamig.redact"
local fail = require("luamig.errors").fail
local database = require "luamig.runner_database"

local kind_names, sqlite_file = database.kind_names, database.sqlite_file

local M = {Runner = {}}
local Runner = M.Runner

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

local pg_identity = database.pg_identity

-- Is the scratch database (connected over conn) the project's own? Asked
-- of the databases, not of the URLs' text: another spelling (a trailing
-- slash, a port or user spelt out, sub/../x.db, a symlink or hard link)
-- names the same database. Returns what makes it the same, for
-- the message, or nil.
function Runner:_own_database(conn)
  if conn:dialect() == "sqlite" then
    local scratch_file = sqlite_open_file(conn)
    local id = scratch_file and core.file_id(scratch_file)
    if not id then return nil end
    local file = sqlite_file(core.parse_url(self.url))
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
                                log_fn = self.log_fn, url_source = "the scratch database"},
                               getmetatable(self))
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
      local held = scratch_contents(conn, {vt, core.version_log_name(vt)})
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
return M
