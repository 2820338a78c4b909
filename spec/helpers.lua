-- spec/helpers.lua -- what every spec shares: temp files, fresh databases
-- on both dialects, and running commands.
--
--   local h = require "spec.helpers"
--   h.each_db(function(db)            -- once for [sqlite], once for [postgresql]
--     it("...", function() local conn = db.connect() ... end)
--   end)
--
-- PostgreSQL comes from LUAMIG_TEST_PG_URL, which spec/run sets after
-- starting a throwaway cluster; each db.url() is a new, empty database.
local core = require "luamig.core"

local h = {}

h.root = os.getenv("LUAMIG_ROOT") or "."
h.build = os.getenv("LUAMIG_BUILD") or (h.root .. "/build")
h.bin = h.build .. "/bin/luamig"
h.pg_admin_url = os.getenv("LUAMIG_TEST_PG_URL")

-- busted reloads this module for each spec file, so names come from
-- /dev/urandom rather than a counter
local function unique(prefix)
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(8)
  f:close()
  return prefix .. bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
end

-- Quote a string for /bin/sh.
function h.shell_quote(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

-- Under a sanitizer build spec/run preloads the ASan runtime into lua5.4;
-- commands run by the specs must not inherit it, except a lua5.4 that
-- loads the instrumented module (h.lua).
local asan_preload = os.getenv("LUAMIG_ASAN_PRELOAD")
h.lua = asan_preload and ("LD_PRELOAD=" .. asan_preload .. " lua5.4") or "lua5.4"

-- Run a shell command; returns its exit status, stdout and stderr.
function h.run(cmd)
  local err = os.tmpname()
  local p = assert(io.popen("unset LD_PRELOAD; " .. cmd .. " 2>" .. err, "r"))
  local stdout = p:read("a")
  local _, _, status = p:close()
  local f = io.open(err)
  local stderr = f and f:read("a") or ""
  if f then f:close() end
  os.remove(err)
  return status, stdout, stderr
end

-- A new empty directory, removed with the run's temp dir.
function h.tmpdir()
  local status, out = h.run("mktemp -d")
  assert(status == 0, "mktemp -d failed")
  return (out:gsub("%s+$", ""))
end

function h.write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- The file's text, or nil when it cannot be read.
function h.read_file(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Wall-clock seconds, with the fraction (os.time has whole seconds only).
function h.now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("a"))
  p:close()
  return t
end

function h.file_exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

-- The admin URL with one more query parameter per key of params.
function h.pg_url_with(params)
  local url = assert(h.pg_admin_url, "LUAMIG_TEST_PG_URL is not set")
  local parts = {}
  for k, v in pairs(params) do parts[#parts + 1] = k .. "=" .. v end
  table.sort(parts)
  return url .. (url:find("?", 1, true) and "&" or "?") .. table.concat(parts, "&")
end

local admin
local function pg_admin()
  if not h.pg_admin_url then
    error("PostgreSQL specs need a server: run them with spec/run (make test), "
          .. "or set LUAMIG_TEST_PG_URL", 2)
  end
  admin = admin or core.connect(h.pg_admin_url)
  return admin
end

-- A new, empty PostgreSQL database; returns its name and URL.
function h.fresh_pg()
  local name = unique("luamig_t")
  local conn = pg_admin()
  conn:exec("CREATE DATABASE " .. core.quote_ident(name))
  return name, h.pg_url_with({dbname = name})
end

-- The server's TCP address (the socket URL is what the admin uses).
function h.pg_tcp()
  local hostport = os.getenv("LUAMIG_TEST_PG_TCP")
  if hostport then return hostport:match("^(.*):(%d+)$") end
  local rows = pg_admin():query("SELECT current_setting('port') AS port")
  return "127.0.0.1", rows[1].port
end

-- A login role that must give its password (scram), for auth specs.
h.pg_password_user, h.pg_password = "luamig_pw_user", "c0rrect horse/b@ttery"
function h.ensure_pg_password_user()
  local conn = pg_admin()
  local rows = conn:query("SELECT 1 FROM pg_roles WHERE rolname = $1", {h.pg_password_user})
  local verb = #rows == 0 and "CREATE" or "ALTER"
  conn:exec(("%s ROLE %s LOGIN PASSWORD %s"):format(verb, core.quote_ident(h.pg_password_user),
            core.quote_literal("postgresql", h.pg_password)))
end

-- Percent-encode a URL component.
function h.url_escape(s)
  return (s:gsub("[^%w%-._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

function h.fresh_sqlite()
  local dir = h.tmpdir()
  return "sqlite:" .. dir .. "/test.db", dir .. "/test.db"
end

h.dialects = {
  {name = "sqlite", url = function() return (h.fresh_sqlite()) end},
  {name = "postgresql", url = function() return select(2, h.fresh_pg()) end},
}
for _, db in ipairs(h.dialects) do
  db.connect = function() return core.connect(db.url()) end
end

-- Run fn(db) inside describe("[sqlite]") and describe("[postgresql]"), so
-- one spec body covers both databases (the output handler counts the
-- PostgreSQL ones by that tag).
function h.each_db(fn)
  local describe = h.caller_env(2).describe
  for _, db in ipairs(h.dialects) do
    describe("[" .. db.name .. "]", function() fn(db) end)
  end
end

-- busted gives each spec file its own environment (describe, it, ...);
-- a helper finds it as the _ENV of the function calling it.
function h.caller_env(level)
  local f = debug.getinfo(level + 1, "f").func
  for i = 1, math.huge do
    local name, value = debug.getupvalue(f, i)
    if name == nil then break end
    if name == "_ENV" then return value end
  end
  return _G
end

-- pcall that returns the error value (or nil when fn succeeded).
function h.error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then return nil end
  return err
end

-- An offline op (no connection) for dialect, and the list its statements
-- go to; semicolons: each statement ends with ";" as --sql writes it (COPY
-- data as it comes).
function h.offline_op(dialect, semicolons)
  local out = {}
  local op = require("luamig.op").new{dialect = dialect, emit = function(text, kind)
    out[#out + 1] = (semicolons and kind ~= "copy") and (text .. ";") or text
  end}
  return op, out
end

-- The message of the error fn(...) raises, without its "file:line: "
-- prefix, and that line (the migration's line op/check.lua's raise names).
function h.op_error(fn, ...)
  local err = h.error_of(fn, ...)
  assert(err ~= nil, "expected an error")
  err = type(err) == "table" and tostring(err.message) or tostring(err)
  local line, msg = err:match("^.-:(%d+): (.*)$")
  return msg or err, tonumber(line)
end

-- Run the luamig binary in dir; returns status, stdout, stderr.
-- env: extra environment variables.
function h.luamig(dir, args, env)
  local prefix = ""
  for k, v in pairs(env or {}) do prefix = prefix .. k .. "=" .. h.shell_quote(v) .. " " end
  return h.run(("cd %s && %s%s %s"):format(h.shell_quote(dir), prefix, h.shell_quote(h.bin), args))
end

-- The text of a migration script. rev: {id, down = id | {ids}, message,
-- up = "SQL" | lua code (when code = true), down_sql, labels, depends, extra}.
function h.script(rev)
  local function lua_list(v)
    if v == nil then return "nil" end
    if type(v) == "string" then return ("%q"):format(v) end
    local parts = {}
    for i, x in ipairs(v) do parts[i] = ("%q"):format(x) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  local function body(v)
    if v == nil then return "" end
    if rev.code then return v end
    return ("  op.execute(%q)"):format(v)
  end
  return table.concat({
    ("revision = %q"):format(rev.id),
    "down_revision = " .. lua_list(rev.down),
    "branch_labels = " .. lua_list(rev.labels),
    "depends_on = " .. lua_list(rev.depends),
    ("message = %q"):format(rev.message or ("revision " .. rev.id)),
    rev.extra or "",
    "function upgrade(op)", body(rev.up), "end",
    rev.no_downgrade and "" or ("function downgrade(op)\n" .. body(rev.down_sql) .. "\nend"),
    "",
  }, "\n")
end

-- A project directory with migrations/versions/ holding revs; returns it.
function h.project(revs, config)
  local dir = h.tmpdir()
  os.execute(("mkdir -p %s/migrations/versions"):format(h.shell_quote(dir)))
  for _, rev in ipairs(revs or {}) do
    h.write_file(("%s/migrations/versions/%s.lua"):format(dir, rev.id), h.script(rev))
  end
  if config then h.write_file(dir .. "/luamig.lua", config) end
  return dir
end

-- The version rows of the database at url, sorted ({} without the table).
function h.version_rows(url, table_name)
  local conn = core.connect(url)
  local ok, rows = pcall(conn.query, conn, ("SELECT version_num FROM %s ORDER BY version_num")
    :format(core.quote_ident(table_name or "luamig_version")))
  conn:close()
  local ids = {}
  if ok then for i, r in ipairs(rows) do ids[i] = r.version_num end end
  return ids
end

-- The user tables of the database at url, sorted.
function h.tables(url)
  local conn = core.connect(url)
  local sql = conn:dialect() == "postgresql"
    and "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    or "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
  local names = {}
  for i, r in ipairs(conn:query(sql)) do names[i] = r.name end
  conn:close()
  return names
end

-- Lines of text, without the trailing empty one.
function h.lines(text)
  local out = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do out[#out + 1] = line end
  if out[#out] == "" then out[#out] = nil end
  return out
end

-- stderr without the lines that say which database a command works on
-- ("INFO  [luamig] Database: ...", "... Created the SQLite database file
-- ...", "... No SQLite database file ...", "... Generating SQL for ..."), for
-- specs whose subject is something
-- else. With url, a Database line from --url must name it, password masked
-- (roundtrip's scratch database has one of its own).
function h.drop_database_lines(err, url)
  local check = require("luassert")
  local kept = {}
  for line in err:gmatch("[^\n]*\n?") do
    if line:find("^INFO  %[luamig%] Database: ") then
      if url and line:find("(from --url)", 1, true) then
        check.equal("INFO  [luamig] Database: " .. core.parse_url(url).display .. " (from --url)\n", line)
      end
    elseif not line:find("^INFO  %[luamig%] Created the SQLite database file ")
           and not line:find("^INFO  %[luamig%] No SQLite database file ")
           and not line:find("^INFO  %[luamig%] Generating SQL for ") then
      kept[#kept + 1] = line
    end
  end
  return table.concat(kept)
end

-- The lines of text that contain pattern (plain).
function h.grep(text, pattern)
  local out = {}
  for _, line in ipairs(h.lines(text)) do
    if line:find(pattern, 1, true) then out[#out + 1] = line end
  end
  return out
end

-- Feed sql to the database's own shell (psql -v ON_ERROR_STOP=1, or
-- sqlite3 -bail) for url, through a file in dir: status, stdout, stderr.
function h.sql_shell(db, url, dir, sql)
  h.write_file(dir .. "/up.sql", sql)
  return h.run(db.name == "postgresql"
    and ("psql -X -q -v ON_ERROR_STOP=1 -f %s %s"):format(h.shell_quote(dir .. "/up.sql"), h.shell_quote(url))
    or ("sqlite3 -bail %s < %s"):format(h.shell_quote(url:sub(8)), h.shell_quote(dir .. "/up.sql")))
end

-- Apply the project in dir online to a fresh database, and offline
-- (upgrade --sql fed to the database's shell) to another. Asserts both
-- succeeded; returns the two URLs and the SQL.
function h.online_and_offline(db, dir)
  local online, offline = db.url(), db.url()
  local check = require("luassert")                 -- busted's assert (this module's is Lua's)
  local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(online) .. " upgrade head")
  check.equal(0, status, err)
  local sql
  status, sql, err = h.luamig(dir, "--url " .. h.shell_quote(offline) .. " upgrade head --sql")
  check.equal(0, status, err)
  status, _, err = h.sql_shell(db, offline, dir, sql)
  check.equal(0, status, err)
  return online, offline, sql
end

-- The project in dir must fail alike online and offline (upgrade --sql),
-- each saying want: exit 1, no version row, no table tname left online.
function h.refused_online_and_offline(db, dir, want, tname)
  local check = require("luassert")
  local url = db.url()
  local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")
  check.equal(1, status, err)
  check.truthy(err:find(want, 1, true), err)
  check.same({}, h.version_rows(url))
  check.same({}, h.query(url, db.name == "postgresql"
    and "SELECT tablename FROM pg_tables WHERE tablename = $1"
    or "SELECT name FROM sqlite_master WHERE name = $1", {tname}))
  local out
  status, out, err = h.luamig(dir, "--url " .. h.shell_quote(db.url()) .. " upgrade head --sql")
  check.equal(1, status, out)
  check.truthy(err:find(want, 1, true), err)
end

-- The rows of a query on a connection of its own.
function h.query(url, sql, params)
  local conn = core.connect(url)
  local rows = conn:query(sql, params)
  conn:close()
  return rows
end

-- spec/run's PostgreSQL server, for tools that reach it themselves (psql,
-- the bench drivers): its socket directory and its port.
function h.pg_server()
  local url = assert(h.pg_admin_url, "LUAMIG_TEST_PG_URL is not set")
  return url:match("host=([^&]+)"), url:match("port=(%d+)")
end

-- Run the bench driver bench/<driver> (a bash script) with this build's
-- luamig and args: status, stdout, stderr.
function h.bench(driver, args)
  return h.run(("BUILD=%s bash %s/bench/%s --luamig %s %s"):format(h.shell_quote(h.build),
    h.shell_quote(h.root), driver, h.shell_quote(h.bin), args))
end

-- run(args) (a function returning status, stdout, stderr) must refuse args
-- before starting anything: exit 2, with want (plain) in stderr if given.
function h.refuses(run, args, want)
  local check = require("luassert")
  local status, _, err = run(args)
  check.equal(2, status, args .. ": " .. err)
  if want then check.truthy(err:find(want, 1, true), args .. ": " .. err) end
end

-- The bytes of s in hexadecimal (upper case when upper).
function h.hex(s, upper)
  return (s:gsub(".", function(c) return (upper and "%02X" or "%02x"):format(c:byte()) end))
end

return h
