-- luamig.runner_database -- the Runner's database: its URL (dialect, the
-- URL as messages show it), the connection made on first use, the read
-- that creates no SQLite file, and the names the log records (user@host,
-- the log table). Methods of luamig.Runner (init.lua installs them).
local core = require "luamig.core"
local fs = require "luamig.fs"

local M = {Runner = {}}
local Runner = M.Runner

-- The kind of database a URL names, as a user reads it.
M.kind_names = {sqlite = "SQLite", postgresql = "PostgreSQL"}

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

-- The file a sqlite: URL names, when it is a plain file (not :memory:),
-- made absolute. (core.parse_url refuses file: URIs.)
function M.sqlite_file(u)
  local path = u.dialect == "sqlite" and u.path
  if not path or path == "" or path == ":memory:" then return nil end
  if path:sub(1, 1) ~= "/" then
    local ok, cwd = pcall(core.cwd)
    if ok and cwd then path = cwd:gsub("/$", "") .. "/" .. path end
  end
  return path
end
local sqlite_file = M.sqlite_file

-- What makes a PostgreSQL database one: its server (the time the server
-- started, to the microsecond, as seconds since the epoch: the session's
-- TimeZone does not change them; and its port) and the database's name and
-- oid; the cluster's system identifier too where the role may read it.
function M.pg_identity(conn)
  local row = conn:query("SELECT current_database() AS name, d.oid::text AS oid, "
    .. "extract(epoch FROM pg_postmaster_start_time())::text AS started, current_setting('port') AS port "
    .. "FROM pg_database d WHERE d.datname = current_database()")[1] or {}
  local ok, sys = pcall(conn.query, conn, "SELECT system_identifier::text AS id FROM pg_control_system()")
  return {name = row.name, oid = row.oid, started = row.started, port = row.port,
          system = ok and sys[1] and sys[1].id or nil}
end

-- Connects on first use. Says first which database and where its URL came
-- from (Alembic's "Context impl" line: a missing DATABASE_URL falling back
-- to the default must not pass unseen), then that a SQLite file was made.
-- Says which database and where its URL came from, once per runner.
function Runner:_announce(u)
  if self.announced then return end
  self.announced = true
  local schema = self.settings.schema
  self:_log("INFO", ("Database: %s%s (%s)"):format(u.display,
    schema and (", schema " .. schema) or "", self.url_source or "from luamig.open"))
end

-- The schema setting (PostgreSQL): the session's search_path is that
-- schema alone, so the version table and a migration's unqualified names
-- live in it (public too would let a version table there be found
-- instead). The name is quoted as an identifier and bound as a value.
-- create: make the schema when it is missing (a run that writes); else a
-- missing schema returns false (a read finds nothing there).
local function use_schema(self, conn, create)
  local schema = self.settings.schema
  if schema == nil then return true end
  if conn:dialect() ~= "postgresql" then
    require("luamig.errors").fail(("schema = %q: schemas are PostgreSQL's; a SQLite target is "
      .. "its file (remove schema, or give a postgresql:// URL)"):format(schema))
  end
  if schema == "" then require("luamig.errors").fail("schema is empty; give a schema name or leave it out") end
  local rows = conn:query("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", {schema})
  if #rows == 0 then
    if not create then return false end
    -- IF NOT EXISTS still races (two runs creating it at once: one gets a
    -- unique violation on pg_namespace); the other's schema is as good
    local made, err = pcall(conn.exec, conn, "CREATE SCHEMA IF NOT EXISTS " .. conn:quote_ident(schema))
    if made then
      self:_log("INFO", ("Created the schema %s"):format(schema))
    elseif not (type(err) == "table" and (err.sqlstate == "23505" or err.sqlstate == "42P06")) then
      error(err, 0)
    end
  end
  conn:query("SELECT pg_catalog.set_config('search_path', $1, false)", {conn:quote_ident(schema)})
  return true
end

-- A distributed engine's profile is for a server that speaks PostgreSQL's
-- protocol: any other database is refused before it is connected to (no
-- SQLite file is created), for every command, and in --sql.
function Runner:_check_profile()
  local p = self.settings.profile
  if p == nil or p == "postgresql" then return end
  local ok, u = pcall(core.parse_url, self.url)
  if ok and u.dialect ~= "postgresql" then
    require("luamig.errors").fail(("profile = %q is for servers that speak PostgreSQL's protocol; the "
      .. "database is %s: remove the setting, or use a postgresql:// URL"):format(p,
      M.kind_names[u.dialect] or u.dialect))
  end
end

-- A run that writes (upgrade, downgrade, stamp) on a server that cannot
-- take writes is refused first: before the lint and before any script's
-- code runs (luamig.writable).
function Runner:_check_writable(kind)
  self:_check_profile()
  if self:dialect() ~= "postgresql" then return end
  if self.conn == nil and kind ~= "downgrade" then
    self:connection(kind)                             -- checked before a missing schema is made
    return
  end
  -- a downgrade creates no missing schema (Runner:_run finds nothing to do there): read, do not make it
  local conn = self.conn or self:_read_connection()
  if conn then require("luamig.writable").check(conn, kind) end
end

-- --sql with the schema setting: the script's first statements make the
-- schema and select it, as use_schema does online (the name quoted).
function Runner:_offline_schema(emit)
  local schema = self.settings.schema
  if schema == nil then return end
  if self:dialect() ~= "postgresql" then
    require("luamig.errors").fail(("schema = %q: schemas are PostgreSQL's; a SQLite target is "
      .. "its file (remove schema, or give a postgresql:// URL)"):format(schema))
  end
  local q = core.quote_ident(schema)
  emit(("CREATE SCHEMA IF NOT EXISTS %s;"):format(q))
  emit(("SET search_path TO %s;"):format(q))
end

-- The run's connection, made on first use; its schema setting selected
-- (and the schema made when missing). writes_kind, when given, names the
-- writing run it is for ("upgrade", "stamp"): a PostgreSQL server that
-- cannot take writes is refused before the schema is made (luamig.writable).
function Runner:connection(writes_kind)
  self:_check_profile()
  if not self.conn then
    local ok, u = pcall(core.parse_url, self.url)
    local file = ok and sqlite_file(u)
    local existed = file and fs.readable(file)
    if ok then self:_announce(u) end
    local conn = core.connect(self.url, {lock_timeout = self.settings.lock_timeout})
    local used, err = pcall(function()
      if writes_kind and conn:dialect() == "postgresql" then require("luamig.writable").check(conn, writes_kind) end
      return use_schema(self, conn, true)
    end)
    if not used then conn:close() error(err, 0) end
    self.conn = conn
    if file and not existed and fs.readable(file) then
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
  self:_check_profile()
  if self.conn then return self.conn end
  local ok, u = pcall(core.parse_url, self.url)
  local file = ok and sqlite_file(u)
  if file and not fs.readable(file) then
    self:_announce(u)
    self:_log("INFO", ("No SQLite database file %s: read as an empty database, nothing created"):format(file))
    return nil
  end
  if self.settings.schema ~= nil and ok and u.dialect == "postgresql" then
    self:_announce(u)                                   -- a missing schema reads as empty, and stays missing
    local conn = core.connect(self.url, {lock_timeout = self.settings.lock_timeout})
    local used, there = pcall(use_schema, self, conn, false)
    if not used or not there then
      conn:close()
      if not used then error(there, 0) end
      self:_log("INFO", ("No schema %s: read as an empty database, nothing created"):format(self.settings.schema))
      return nil
    end
    self.conn = conn
    return conn
  end
  return self:connection()
end

function Runner:close()
  if self.conn then self.conn:close() end
  self.conn = nil
end

-- The version table and its log (named by the C core): luamig's own
-- tables, never part of a compared schema.
function Runner:_own_tables()
  local vt = self.settings.version_table
  return {[vt] = true, [core.version_log_name(vt)] = true}
end

-- The audit log's "user@host": $USER or $LOGNAME, else (a cron job, a
-- container) the password database's name for the real uid.
function M.who()
  local function set(name) local v = os.getenv(name) return v ~= "" and v or nil end
  local user = set("USER") or set("LOGNAME") or core.user() or "?"
  local f = io.open("/proc/sys/kernel/hostname")
  local host = f and f:read("l") or os.getenv("HOSTNAME") or "?"
  if f then f:close() end
  return user .. "@" .. host
end

return M
