-- roundtrip on the project's own database kind (issue 14, item 15): a
-- PostgreSQL project gets a scratch database created on its server and
-- dropped afterwards, whatever happens; a --scratch-url that is not empty
-- is refused with the way to reset it, or emptied with --reset-scratch;
-- a SQLite project keeps its temporary file. The project database is
-- never touched, and no password is printed.
local h = require "spec.helpers"
local core = require "luamig.core"

-- A table whose column defaults to the server's now(): PostgreSQL only
-- (SQLite has no now()), which the old temporary SQLite file failed on.
local function now_project(extra)
  local revs = {
    {id = "aaaa0001", message = "create events", code = true,
     up = '  op.create_table("events", {{"id", "integer", primary_key = true},\n'
       .. '    {"at", "timestamptz", nullable = false, server_default = op.raw("now()")}})',
     down_sql = '  op.drop_table("events")'},
    {id = "aaaa0002", down = "aaaa0001", message = "add a note", code = true,
     up = '  op.add_column("events", {"note", "text", server_default = op.raw("now()::text")})',
     down_sql = '  op.drop_column("events", "note")'},
  }
  for _, r in ipairs(extra or {}) do revs[#revs + 1] = r end
  return h.project(revs)
end

-- The scratch database named by the "Created the scratch database" line.
local function created_name(err)
  return err:match("Created the scratch database (luamig_roundtrip_%d+_%x+) on the server of ")
end

local function database_exists(name)
  return #h.query(h.pg_admin_url, "SELECT 1 FROM pg_database WHERE datname = $1", {name}) > 0
end

-- The project database's state: its version rows and tables.
local function state(url)
  return {rows = h.version_rows(url), tables = h.tables(url)}
end

describe("[postgresql] roundtrip without --scratch-url", function()
  it("creates a scratch database on the project's server, runs there (now() works) and drops it", function()
    local dir = now_project()
    local _, url = h.fresh_pg()
    assert.equal(0, (h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade aaaa0001")))
    local before = state(url)
    assert.same({"aaaa0001"}, before.rows)
    local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " roundtrip")
    assert.equal(0, status, err)
    assert.equal("OK: 2 revision(s) upgrade, downgrade to the same schema, and upgrade again\n", out)
    local name = created_name(err)
    assert.truthy(name, err)
    assert.truthy(err:find("INFO  [luamig] Dropped the scratch database " .. name .. "\n", 1, true), err)
    assert.is_false(database_exists(name))
    assert.same(before, state(url))                  -- the project database untouched
  end)

  it("drops the scratch database after a failing downgrade too, and says what failed", function()
    local dir = now_project({
      {id = "aaaa0003", down = "aaaa0002", message = "broken downgrade", code = true,
       up = '  op.create_table("later", {{"id", "integer", primary_key = true}})',
       down_sql = '  op.drop_table("no_such_table")'},
    })
    local _, url = h.fresh_pg()
    assert.equal(0, (h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")))
    local before = state(url)
    local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " roundtrip")
    assert.equal(1, status)
    assert.equal("", out)
    assert.truthy(err:find("FAILED: roundtrip: downgrade of aaaa0003 (broken downgrade) failed: ", 1, true), err)
    local name = created_name(err)
    assert.truthy(name, err)
    assert.truthy(err:find("Dropped the scratch database " .. name, 1, true), err)
    assert.is_false(database_exists(name))
    assert.same(before, state(url))
  end)

  it("drops the scratch database when interrupted (SIGINT) mid-run", function()
    local dir = now_project({
      {id = "aaaa0003", down = "aaaa0002", message = "slow", code = true,
       up = '  op.execute("SELECT pg_sleep(0.3)")\n  local t = os.time() while os.time() < t + 3 do end',
       down_sql = '  op.execute("SELECT 1")'},
    })
    local _, url = h.fresh_pg()
    local work = h.tmpdir()
    local cmd = ("cd %s && (%s --url %s roundtrip >%s/out 2>%s/err & echo $! >%s/pid; wait $!; echo $? >%s/rc)")
      :format(h.shell_quote(dir), h.shell_quote(h.bin), h.shell_quote(url), work, work, work, work)
    os.execute("(" .. cmd .. ") &")
    -- wait until the slow revision runs, then interrupt
    local err
    for _ = 1, 100 do
      err = h.read_file(work .. "/err") or ""
      if err:find("Running upgrade aaaa0002 -> aaaa0003", 1, true) then break end
      os.execute("sleep 0.1")
    end
    local name = created_name(err)
    assert.truthy(name, err)
    assert.is_true(database_exists(name))
    os.execute("kill -INT $(cat " .. work .. "/pid)")
    for _ = 1, 200 do
      if h.read_file(work .. "/rc") then break end
      os.execute("sleep 0.1")
    end
    err = h.read_file(work .. "/err")
    assert.equal("130\n", h.read_file(work .. "/rc"))   -- as a shell expects of SIGINT
    assert.truthy(err:find("FAILED: roundtrip: interrupted (SIGINT); the scratch database " .. name
      .. " was dropped\n", 1, true), err)
    assert.is_false(database_exists(name))
    assert.same({}, h.version_rows(url))
  end)

  it("a role that may not create databases: exit 1 saying so and suggesting --scratch-url", function()
    local role, password = "luamig_rt_nocreatedb", "n0-Create#db/pw"
    local admin = core.connect(h.pg_admin_url)
    if #admin:query("SELECT 1 FROM pg_roles WHERE rolname = $1", {role}) == 0 then
      admin:exec(("CREATE ROLE %s LOGIN NOCREATEDB PASSWORD %s"):format(core.quote_ident(role),
                 core.quote_literal("postgresql", password)))
    end
    local name = h.fresh_pg()
    admin:close()
    local host, port = h.pg_tcp()
    local url = ("postgresql://%s:%s@%s:%s/%s"):format(role, h.url_escape(password), host, port, name)
    local dir = now_project()
    local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " roundtrip")
    assert.equal(1, status)
    assert.equal("", out)
    assert.truthy(err:find(("FAILED: roundtrip: the role of postgresql://%s:***@%s:%s/%s may not create "
      .. "databases (permission denied to create database); roundtrip on a PostgreSQL project runs on a "
      .. "scratch database it creates on the same server and drops afterwards: grant the role CREATEDB, "
      .. "or give an empty database with --scratch-url URL\n"):format(role, host, port, name), 1, true), err)
    assert.falsy(err:find(password, 1, true))
    assert.falsy(err:find(h.url_escape(password), 1, true))
    assert.equal(0, #h.query(h.pg_admin_url, "SELECT 1 FROM pg_database WHERE datname LIKE 'luamig\\_roundtrip\\_%'"))
  end)

  it("never prints the scratch URL's password (a role with CREATEDB and a password)", function()
    local role, password = "luamig_rt_creator", "cr3ate:Db@pw%x"
    local admin = core.connect(h.pg_admin_url)
    if #admin:query("SELECT 1 FROM pg_roles WHERE rolname = $1", {role}) == 0 then
      admin:exec(("CREATE ROLE %s LOGIN CREATEDB PASSWORD %s"):format(core.quote_ident(role),
                 core.quote_literal("postgresql", password)))
    end
    local name = h.fresh_pg()
    admin:exec(("ALTER DATABASE %s OWNER TO %s"):format(core.quote_ident(name), core.quote_ident(role)))
    admin:close()
    local host, port = h.pg_tcp()
    local url = ("postgresql://%s:%s@%s:%s/%s?sslmode=disable"):format(role, h.url_escape(password), host, port, name)
    local dir = now_project({
      {id = "aaaa0003", down = "aaaa0002", message = "broken", code = true,
       up = '  op.execute("SELECT 1")', down_sql = '  op.execute("SELECT * FROM no_such_table")'},
    })
    local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " roundtrip")
    assert.equal(1, status)
    local all = out .. err
    assert.truthy(all:find(("Created the scratch database luamig_roundtrip_%%d+_%%x+ on the server of "
      .. "postgresql://%s:%%*%%*%%*@%s:%s/%s%%?sslmode=disable\n"):format(role, host:gsub("%.", "%%."), port, name)), all)
    assert.truthy(all:find("downgrade of aaaa0003 (broken) failed", 1, true), all)
    assert.falsy(all:find(password, 1, true))
    assert.falsy(all:find(h.url_escape(password), 1, true))
    assert.falsy(all:find("cr3ate", 1, true))
    assert.is_false(database_exists(created_name(err)), all)
    -- --json too
    status, out, err = h.luamig(dir, "--json --url " .. h.shell_quote(url) .. " roundtrip")
    assert.equal(1, status)
    assert.falsy((out .. err):find("cr3ate", 1, true))
  end)
end)

h.each_db(function(db)
  describe("roundtrip --scratch-url", function()
    local forgetful_free = {
      {id = "bbbb0001", message = "create items", code = true,
       up = '  op.create_table("items", {{"id", "integer", primary_key = true}, {"sku", "string(20)"}})',
       down_sql = '  op.drop_table("items")'},
      {id = "bbbb0002", down = "bbbb0001", message = "index sku", code = true,
       up = '  op.create_index("ix_items_sku", "items", {"sku"})',
       down_sql = '  op.drop_index("ix_items_sku", "items")'},
    }

    it("refuses a used scratch database with the way to reset it; --reset-scratch empties it", function()
      local dir = h.project(forgetful_free)
      local url, scratch = db.url(), db.url()
      local arg = " roundtrip --scratch-url " .. h.shell_quote(scratch)
      local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. arg)
      assert.equal(0, status, err)
      assert.same({"bbbb0002"}, h.version_rows(scratch))    -- left at the heads
      local display = core.parse_url(scratch).display
      status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. arg)
      assert.equal(1, status)
      assert.equal("", out)
      -- PostgreSQL counts the id column's sequence too
      local pg = db.name == "postgresql" and 1 or 0
      assert.truthy(err:find(("FAILED: roundtrip: the scratch database %s is not empty (%d tables, views or "
        .. "sequences and the version rows bbbb0002); roundtrip downgrades, so it runs only on an empty "
        .. "database: add --reset-scratch to empty it first, or reset it yourself (luamig --url URL "
        .. "downgrade base, when it holds only this project's migrations; or drop the database and "
        .. "create it again)\n"):format(display, 1 + pg), 1, true), err)
      assert.same({"bbbb0002"}, h.version_rows(scratch))    -- refused: nothing done
      -- the first way out it names works
      status, _, err = h.luamig(dir, "--url " .. h.shell_quote(scratch) .. " downgrade base")
      assert.equal(0, status, err)
      status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. arg)
      assert.equal(0, status, err)
      -- --reset-scratch empties it, a table of its own and a stamped row included
      local conn = core.connect(scratch)
      conn:exec("CREATE TABLE precious (id INTEGER)")
      conn:exec("CREATE VIEW v AS SELECT id FROM precious")
      conn:close()
      status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. arg)
      assert.equal(1, status)
      assert.truthy(err:find(("is not empty (%d tables, views or sequences and the version rows bbbb0002)")
        :format(3 + pg), 1, true), err)
      status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. arg .. " --reset-scratch")
      assert.equal(0, status, err)
      assert.truthy(err:find("INFO  [luamig] Emptied the scratch database " .. display .. "\n", 1, true), err)
      assert.equal("OK: 2 revision(s) upgrade, downgrade to the same schema, and upgrade again\n", out)
      assert.same({"items", "luamig_log", "luamig_version"}, h.tables(scratch))
      assert.same({}, h.tables(url))                        -- the project database untouched
      assert.same({}, h.version_rows(url))
    end)

    it("a stamped scratch database (version rows only) is not empty either", function()
      local dir = h.project(forgetful_free)
      local scratch = db.url()
      assert.equal(0, (h.luamig(dir, "--url " .. h.shell_quote(scratch) .. " stamp bbbb0001")))
      local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(db.url()) .. " roundtrip --scratch-url "
        .. h.shell_quote(scratch))
      assert.equal(1, status)
      assert.truthy(err:find("is not empty (the version rows bbbb0001); roundtrip downgrades", 1, true), err)
    end)

    it("--reset-scratch without --scratch-url is a usage error", function()
      local dir = h.project(forgetful_free)
      local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(db.url()) .. " roundtrip --reset-scratch")
      assert.equal(2, status)
      assert.truthy(err:find("--reset-scratch empties the --scratch-url database; give --scratch-url URL too", 1, true), err)
    end)

    it("the configured database, spelt otherwise, is refused as a scratch database", function()
      local dir = h.project(forgetful_free)
      local url = db.url()
      local other = db.name == "sqlite" and ("sqlite:" .. url:sub(8):gsub("/([^/]*)$", "/./%1"))
        or ("postgres" .. url:sub(#"postgresql" + 1))
      local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " roundtrip --reset-scratch --scratch-url "
        .. h.shell_quote(other))
      assert.equal(1, status)
      assert.truthy(err:find(("FAILED: roundtrip: --scratch-url names the project's own database (%s): "
        .. "roundtrip downgrades and --reset-scratch empties it; give another database\n")
        :format(core.parse_url(url).display), 1, true), err)
    end)
  end)
end)

-- The project's own database under spellings the URL text does not give
-- away: the databases themselves tell (issue 14 follow-up: --reset-scratch
-- emptied the project database).
local own_revs = {
  {id = "dddd0001", message = "create users", code = true,
   up = '  op.create_table("users", {{"id", "integer", primary_key = true}, {"name", "string(20)"}})',
   down_sql = '  op.drop_table("users")'},
}

-- A project at its head with two rows in users; returns dir and the rows.
local function own_project(url)
  local dir = h.project(own_revs)
  assert.equal(0, (h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")))
  local conn = core.connect((url:gsub("^sqlite:([^/])", "sqlite:" .. dir .. "/%1")))
  conn:exec("INSERT INTO users (id, name) VALUES (1, 'ann'), (2, 'bob')")
  conn:close()
  return dir
end

local function users(url)
  local out = {}
  for _, r in ipairs(h.query(url, "SELECT id, name FROM users ORDER BY id")) do
    out[#out + 1] = tostring(r.id) .. "=" .. r.name
  end
  return out
end

local function log_rows(url)
  return #h.query(url, "SELECT * FROM luamig_log")
end

local own_prefix = "FAILED: roundtrip: --scratch-url names the project's own database ("
local own_suffix = "): roundtrip downgrades and --reset-scratch empties it; give another database\n"

describe("[sqlite] roundtrip --scratch-url naming the project's file otherwise", function()
  it("sub/../, a symlink, a hard link and a file: URI are refused; nothing in the project changes", function()
    local url = "sqlite:proj.db"
    local pdir = own_project(url)
    assert.is_true(os.execute(("cd %s && mkdir sub && ln -s proj.db link.db && ln proj.db hard.db")
      :format(h.shell_quote(pdir))))
    local abs = "sqlite:" .. pdir .. "/proj.db"
    local rows, versions, logged = users(abs), h.version_rows(abs), log_rows(abs)
    assert.same({"1=ann", "2=bob"}, rows)
    -- a file: URI is no SQLite URL luamig takes (12g), so it never reaches the project
    local status, _, err = h.luamig(pdir, "--url " .. url .. " roundtrip --reset-scratch --scratch-url sqlite:file:proj.db")
    assert.equal(1, status, err)
    assert.truthy(err:find("SQLite URI filenames (file:...) are not supported", 1, true), err)
    assert.same(rows, users(abs))
    for _, spelling in ipairs({"sqlite:sub/../proj.db", "sqlite:link.db", "sqlite:hard.db",
                               "sqlite:" .. pdir .. "/sub/../link.db"}) do
      for _, reset in ipairs({" --reset-scratch", ""}) do
        local status, out, err = h.luamig(pdir, "--url " .. url .. " roundtrip" .. reset
          .. " --scratch-url " .. h.shell_quote(spelling))
        assert.equal(1, status, spelling .. ": " .. err)
        assert.equal("", out)
        assert.truthy(err:find(own_prefix, 1, true), spelling .. ": " .. err)
        assert.truthy(err:find(own_suffix, 1, true), spelling .. ": " .. err)
        assert.same(rows, users(abs))
        assert.same(versions, h.version_rows(abs))
        assert.equal(logged, log_rows(abs))
      end
    end
    -- the message names the file
    local _, _, err = h.luamig(pdir, "--url " .. url .. " roundtrip --reset-scratch --scratch-url sqlite:link.db")
    assert.truthy(err:find(own_prefix .. "sqlite:link.db is the file /", 1, true), err)
    -- another file is still fine
    local status, out, err2 = h.luamig(pdir, "--url " .. url .. " roundtrip --scratch-url sqlite:other.db")
    assert.equal(0, status, err2)
    assert.equal("OK: 1 revision(s) upgrade, downgrade to the same schema, and upgrade again\n", out)
    assert.same(rows, users(abs))
  end)
end)

describe("[postgresql] roundtrip --scratch-url naming the project's database otherwise", function()
  it("a trailing slash on host, port or user spelt out, TCP for the socket: refused; nothing changes", function()
    local name, url = h.fresh_pg()
    local dir = own_project(url)
    local sock, port = h.pg_admin_url:match("host=([^&]+)"), h.pg_admin_url:match("port=(%d+)")
    local host, tcp_port = h.pg_tcp()
    local rows, versions, logged = users(url), h.version_rows(url), log_rows(url)
    assert.same({"1=ann", "2=bob"}, rows)
    local spellings = {
      ("postgresql://postgres@/%s?host=%s/"):format(name, sock) .. (port and ("&port=" .. port) or ""),
      url .. "&user=postgres",
      ("postgresql://postgres@%s:%s/%s"):format(host, tcp_port, name),
      ("postgresql:///%s?host=%s&port=%s&user=postgres&application_name=x"):format(name, sock, port or "5432"),
    }
    for _, spelling in ipairs(spellings) do
      for _, reset in ipairs({" --reset-scratch", ""}) do
        local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " roundtrip" .. reset
          .. " --scratch-url " .. h.shell_quote(spelling))
        assert.equal(1, status, spelling .. ": " .. err)
        assert.equal("", out)
        assert.truthy(err:find(own_prefix, 1, true), spelling .. ": " .. err)
        assert.truthy(err:find(own_suffix, 1, true), spelling .. ": " .. err)
        assert.same(rows, users(url))
        assert.same(versions, h.version_rows(url))
        assert.equal(logged, log_rows(url))
      end
    end
    local _, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " roundtrip --reset-scratch --scratch-url "
      .. h.shell_quote(spellings[3]))
    assert.truthy(err:find(("%s%s is the database %s on the server of %s%s"):format(own_prefix,
      core.parse_url(spellings[3]).display, name, core.parse_url(url).display, own_suffix), 1, true), err)
    -- another database on the same server is still fine
    local _, other = h.fresh_pg()
    local status, out, err2 = h.luamig(dir, "--url " .. h.shell_quote(url) .. " roundtrip --scratch-url "
      .. h.shell_quote(other))
    assert.equal(0, status, err2)
    assert.equal("OK: 1 revision(s) upgrade, downgrade to the same schema, and upgrade again\n", out)
    assert.same(rows, users(url))
  end)
end)

describe("[postgresql] roundtrip --scratch-url, the project's database of a role that is no superuser", function()
  it("is refused in another spelling; the project's rows and version rows unchanged", function()
    local role, password = "luamig_rt_owner", "0wn:er@pw"
    local admin = core.connect(h.pg_admin_url)
    if #admin:query("SELECT 1 FROM pg_roles WHERE rolname = $1", {role}) == 0 then
      admin:exec(("CREATE ROLE %s LOGIN PASSWORD %s"):format(core.quote_ident(role),
                 core.quote_literal("postgresql", password)))
    end
    local name = h.fresh_pg()
    admin:exec(("ALTER DATABASE %s OWNER TO %s"):format(core.quote_ident(name), core.quote_ident(role)))
    admin:close()
    local host, port = h.pg_tcp()
    local url = ("postgresql://%s:%s@%s:%s/%s"):format(role, h.url_escape(password), host, port, name)
    local dir = own_project(url)
    local rows, versions, logged = users(url), h.version_rows(url), log_rows(url)
    local other = ("postgresql://%s:%s@/%s?host=%s&port=%s&user=%s&sslmode=disable"):format(role,
      h.url_escape(password), name, host, port, role)
    local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " roundtrip --reset-scratch --scratch-url "
      .. h.shell_quote(other))
    assert.equal(1, status, err)
    assert.equal("", out)
    assert.truthy(err:find(("%s%s is the database %s on the server of %s%s"):format(own_prefix,
      core.parse_url(other).display, name, core.parse_url(url).display, own_suffix), 1, true), err)
    assert.falsy(err:find("0wn:er", 1, true))
    assert.same(rows, users(url))
    assert.same(versions, h.version_rows(url))
    assert.equal(logged, log_rows(url))
  end)
end)

describe("roundtrip --scratch-url of another database kind", function()
  it("[postgresql] a PostgreSQL project with a SQLite scratch: exit 1, nothing created or changed", function()
    local _, url = h.fresh_pg()
    local dir = own_project(url)
    local rows, versions = users(url), h.version_rows(url)
    local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url)
      .. " roundtrip --reset-scratch --scratch-url sqlite:scratch.db")
    assert.equal(1, status)
    assert.equal("", out)
    assert.truthy(err:find(("FAILED: roundtrip: --scratch-url names a SQLite database (sqlite:scratch.db), the "
      .. "project's is PostgreSQL (%s): roundtrip must run on a database of the project's kind, where its "
      .. "migrations run as they will; give a PostgreSQL database, or leave --scratch-url out\n")
      :format(core.parse_url(url).display), 1, true), err)
    assert.is_false(h.file_exists(dir .. "/scratch.db"))
    assert.same(rows, users(url))
    assert.same(versions, h.version_rows(url))
  end)

  it("[postgresql] a SQLite project with a PostgreSQL scratch: exit 1, the scratch untouched", function()
    local dir = own_project("sqlite:proj.db")
    local _, scratch = h.fresh_pg()
    local conn = core.connect(scratch)
    conn:exec("CREATE TABLE precious (id integer)")
    conn:close()
    local status, out, err = h.luamig(dir, "--url sqlite:proj.db roundtrip --reset-scratch --scratch-url "
      .. h.shell_quote(scratch))
    assert.equal(1, status)
    assert.equal("", out)
    assert.truthy(err:find(("FAILED: roundtrip: --scratch-url names a PostgreSQL database (%s), the "
      .. "project's is SQLite (sqlite:proj.db): roundtrip must run on a database of the project's kind, where "
      .. "its migrations run as they will; give a SQLite database, or leave --scratch-url out\n")
      :format(core.parse_url(scratch).display), 1, true), err)
    assert.same({"precious"}, h.tables(scratch))
    assert.same({"1=ann", "2=bob"}, users("sqlite:" .. dir .. "/proj.db"))
  end)
end)

-- Run roundtrip in the background in dir, wait for wait_for in its
-- stderr, call at(err), send sig; returns the exit status line and stderr.
local function interrupted_run(dir, url, wait_for, sig, at)
  local work = h.tmpdir()
  local cmd = ("cd %s && (%s --url %s roundtrip >%s/out 2>%s/err & echo $! >%s/pid; wait $!; echo $? >%s/rc)")
    :format(h.shell_quote(dir), h.shell_quote(h.bin), h.shell_quote(url), work, work, work, work)
  os.execute("(" .. cmd .. ") &")
  local err
  for _ = 1, 150 do
    err = h.read_file(work .. "/err") or ""
    if err:find(wait_for, 1, true) then break end
    os.execute("sleep 0.1")
  end
  assert.truthy(err:find(wait_for, 1, true), err)
  at(err)
  os.execute("kill -" .. sig .. " $(cat " .. work .. "/pid)")
  for _ = 1, 200 do
    if h.read_file(work .. "/rc") then break end
    os.execute("sleep 0.1")
  end
  return h.read_file(work .. "/rc"), h.read_file(work .. "/err")
end

describe("roundtrip interrupted by SIGHUP (a closed terminal)", function()
  local slow = {
    {id = "eeee0001", message = "t", code = true,
     up = '  op.create_table("t", {{"id", "integer", primary_key = true}})',
     down_sql = '  op.drop_table("t")'},
  }

  it("[postgresql] drops the scratch database it created and exits 1 saying so", function()
    local dir = h.project({slow[1], {id = "eeee0002", down = "eeee0001", message = "slow", code = true,
      up = '  op.execute("SELECT pg_sleep(5)")', down_sql = '  op.execute("SELECT 1")'}})
    local _, url = h.fresh_pg()
    local name
    local rc, err = interrupted_run(dir, url, "Running upgrade eeee0001 -> eeee0002", "HUP", function(e)
      name = created_name(e)
      assert.truthy(name, e)
      assert.is_true(database_exists(name))
    end)
    assert.equal("129\n", rc, err)   -- 128 + SIGHUP, as a shell expects
    assert.truthy(err:find("FAILED: roundtrip: interrupted (SIGHUP); the scratch database " .. name
      .. " was dropped\n", 1, true), err)
    assert.is_false(database_exists(name))
    assert.same({}, h.version_rows(url))
  end)

  it("[sqlite] removes the temporary file and its lock file and exits 1", function()
    local dir = h.project({slow[1], {id = "eeee0002", down = "eeee0001", message = "slow", code = true,
      up = '  local t = os.time() while os.time() < t + 4 do end', down_sql = '  op.execute("SELECT 1")'}})
    local url = "sqlite:" .. dir .. "/app.db"
    local file
    local rc, err = interrupted_run(dir, url, "Running upgrade eeee0001 -> eeee0002", "HUP", function(e)
      file = e:match("Database: sqlite:(%S+) %(the scratch database%)")
      assert.truthy(file, e)
      assert.is_true(h.file_exists(file))
      assert.is_true(h.file_exists(file .. "-luamig.lock"))
    end)
    assert.equal("129\n", rc, err)   -- 128 + SIGHUP, as a shell expects
    assert.truthy(err:find("FAILED: roundtrip: interrupted (SIGHUP)\n", 1, true), err)
    assert.is_false(h.file_exists(file))
    assert.is_false(h.file_exists(file .. "-luamig.lock"))
  end)

  it("[sqlite] removes them after SIGTERM and after a failure too", function()
    local dir = h.project({slow[1], {id = "eeee0002", down = "eeee0001", message = "slow", code = true,
      up = '  local t = os.time() while os.time() < t + 4 do end', down_sql = '  op.execute("SELECT 1")'}})
    local file
    local rc, err = interrupted_run(dir, "sqlite:app.db", "Running upgrade eeee0001 -> eeee0002", "TERM", function(e)
      file = e:match("Database: sqlite:(%S+) %(the scratch database%)")
    end)
    assert.equal("143\n", rc, err)                   -- 128 + SIGTERM
    assert.truthy(err:find("FAILED: roundtrip: interrupted (SIGTERM)\n", 1, true), err)
    assert.is_false(h.file_exists(file))
    assert.is_false(h.file_exists(file .. "-luamig.lock"))
    dir = h.project({slow[1], {id = "eeee0002", down = "eeee0001", message = "broken", code = true,
      up = '  op.execute("SELECT 1")', down_sql = '  op.execute("SELECT * FROM no_such_table")'}})
    local status, _, err2 = h.luamig(dir, "--url sqlite:app.db roundtrip")
    assert.equal(1, status)
    file = err2:match("Database: sqlite:(%S+) %(the scratch database%)")
    assert.truthy(file, err2)
    assert.is_false(h.file_exists(file))
    assert.is_false(h.file_exists(file .. "-luamig.lock"))
  end)
end)

describe("[sqlite] roundtrip without --scratch-url", function()
  it("still uses a temporary SQLite file, and leaves the project database alone", function()
    local dir = h.project({
      {id = "cccc0001", message = "t", code = true,
       up = '  op.create_table("t", {{"id", "integer", primary_key = true}})',
       down_sql = '  op.drop_table("t")'},
    })
    local url = "sqlite:" .. dir .. "/app.db"
    assert.equal(0, (h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")))
    local before = state(url)
    local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " roundtrip")
    assert.equal(0, status, err)
    assert.equal("OK: 1 revision(s) upgrade, downgrade to the same schema, and upgrade again\n", out)
    assert.falsy(err:find("Created the scratch database", 1, true))
    assert.same(before, state(url))
  end)
end)

describe("[postgresql] roundtrip --reset-scratch", function()
  it("a scratch database it cannot empty (schema of another owner): exit 1 with the way out, nothing dropped", function()
    local role, password = "luamig_rt_creator", "cr3ate:Db@pw%x"
    local admin = core.connect(h.pg_admin_url)
    if #admin:query("SELECT 1 FROM pg_roles WHERE rolname = $1", {role}) == 0 then
      admin:exec(("CREATE ROLE %s LOGIN CREATEDB PASSWORD %s"):format(core.quote_ident(role),
                 core.quote_literal("postgresql", password)))
    end
    admin:close()
    local name, admin_scratch = h.fresh_pg()
    local c = core.connect(admin_scratch)
    c:exec("CREATE SCHEMA theirs")
    c:exec("CREATE TABLE theirs.precious (id integer)")
    c:close()
    local host, port = h.pg_tcp()
    local scratch = ("postgresql://%s:%s@%s:%s/%s"):format(role, h.url_escape(password), host, port, name)
    local dir = now_project()
    local _, project = h.fresh_pg()
    local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(project) .. " roundtrip --reset-scratch --scratch-url "
      .. h.shell_quote(scratch))
    assert.equal(1, status)
    assert.equal("", out)
    assert.truthy(err:find(("FAILED: roundtrip: cannot empty the scratch database postgresql://%s:***@%s:%s/%s: ")
      :format(role, host, port, name), 1, true), err)
    assert.truthy(err:find("; empty it yourself (drop the database and create it again)\n", 1, true), err)
    assert.falsy(err:find("cr3ate", 1, true))
    assert.equal(1, #h.query(admin_scratch, "SELECT 1 FROM pg_tables WHERE tablename = 'precious'"))
    assert.same({}, h.tables(project))
  end)
end)
