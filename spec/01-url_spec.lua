-- Database URLs: every form DESIGN.md lists, bad ones, and the password
-- kept out of every message.
local core = require "luamig.core"
local h = require "spec.helpers"

describe("database URLs", function()
  describe("SQLite forms", function()
    local cases = {
      {"sqlite:app.db", "app.db"},
      {"sqlite:/abs/dir/app.db", "/abs/dir/app.db"},
      {"sqlite::memory:", ":memory:"},
      {"sqlite:///relative.db", "relative.db"},
      {"sqlite:///sub/dir/rel.db", "sub/dir/rel.db"},
      {"sqlite:////absolute/path.db", "/absolute/path.db"},
      {"sqlite:///:memory:", ":memory:"},
    }
    for _, case in ipairs(cases) do
      it(case[1] .. " names " .. case[2], function()
        local u = core.parse_url(case[1])
        assert.equal("sqlite", u.dialect)
        assert.equal(case[2], u.path)
      end)
    end
  end)

  describe("PostgreSQL forms", function()
    -- the display form is rebuilt from libpq's parse (PQconninfoParse):
    -- the scheme as written, then libpq's fields in libpq's order
    for _, case in ipairs{
      {"postgresql://user@localhost/db"},
      {"postgres://user@localhost:5433/db"},
      {"postgresql+psycopg2://user@localhost/db"},
      {"postgresql+asyncpg://user@localhost/db"},
      {"postgresql://user@/db?host=/var/run/postgresql&sslmode=disable&connect_timeout=3",
       "postgresql://user@/db?connect_timeout=3&host=/var/run/postgresql&sslmode=disable"},
      {"postgresql://"},
    } do
      local url, display = case[1], case[2] or case[1]
      it(url .. " is PostgreSQL", function()
        local u = core.parse_url(url)
        assert.equal("postgresql", u.dialect)
        assert.is_nil(u.path)
        assert.equal(display, u.display)
      end)
    end
  end)

  describe("bad URLs", function()
    -- a URL that cannot be read is never quoted, not even masked: what a
    -- hand-made mask takes for the password may not be where it is
    local hidden = "; the URL is not shown, as it may hold a password"
    local cases = {
      {"", "the database URL is empty: give sqlite:PATH or postgresql://USER@HOST/DBNAME"},
      {"app.db", "invalid database URL (expected sqlite:PATH or postgresql://USER@HOST/DBNAME)" .. hidden},
      {"sqlite:", "invalid database URL (the database path is empty; give a file (sqlite:app.db) or sqlite::memory:)" .. hidden},
      {"sqlite:///", "invalid database URL (the database path is empty; give a file (sqlite:app.db) or sqlite::memory:)" .. hidden},
      {"sqlite://host/app.db", "invalid database URL (a SQLite URL has no host; use sqlite:///relative.db or sqlite:////absolute/path.db)" .. hidden},
      {"sqlite:///app.db?mode=ro", "invalid database URL (query parameters are not supported in SQLite URLs)" .. hidden},
      {"mysql://bob:hunter2@db.example/app", "unknown database URL scheme 'mysql': luamig supports sqlite: and postgresql:// URLs"},
      {"postgresql:db", "invalid database URL (a PostgreSQL URL starts with postgresql://)" .. hidden},
      {"postgresql://bob:hunter2@host:notaport/db", "invalid database URL (invalid port number: a port is a number up to 65535, and a user name or password holding / @ : ? # or a space must be percent-encoded, e.g. @ as %40 and / as %2F)" .. hidden},
      {"postgresql://bob:hunter2@host/db?nosuchparam=1", "invalid database URL (invalid URI query parameter)" .. hidden},
    }
    for _, case in ipairs(cases) do
      it(("%q is refused with a clear message"):format(case[1]), function()
        local err = h.error_of(core.parse_url, case[1])
        assert.is_table(err)
        assert.equal(case[2], err.message:sub(1, #case[2]))
        assert.is_nil(err.message:find("hunter2", 1, true))
        local err2 = h.error_of(core.connect, case[1])
        assert.equal(err.message, err2.message)
      end)
    end

    it("masks a password given as a query parameter", function()
      local err = h.error_of(core.connect, "postgresql://bob@127.0.0.1:1/db?password=hunter2&connect_timeout=2")
      assert.truthy(err.message:find("postgresql://bob:***@127.0.0.1:1/db?connect_timeout=2", 1, true))
      assert.is_nil(err.message:find("hunter2", 1, true))
    end)
  end)

  describe("connecting with each SQLite form", function()
    it("sqlite:PATH and sqlite:////ABS create the file at that path", function()
      local dir = h.tmpdir()
      local c1 = core.connect("sqlite:" .. dir .. "/a.db")
      c1:exec("CREATE TABLE t (x INTEGER)")
      c1:close()
      assert.is_true(h.file_exists(dir .. "/a.db"))
      local c2 = core.connect("sqlite:///" .. dir .. "/b.db")  -- "////" + absolute
      c2:exec("CREATE TABLE t (x INTEGER)")
      c2:close()
      assert.is_true(h.file_exists(dir .. "/b.db"))
      -- the same file through both forms: the data is shared
      local c3 = core.connect("sqlite:" .. dir .. "/b.db")
      assert.same({{name = "t"}}, (c3:query("SELECT name FROM sqlite_master")))
      c3:close()
    end)

    it("sqlite:REL and sqlite:///REL are relative to the working directory", function()
      local dir = h.tmpdir()
      local script = [[
        local core = require "luamig.core"
        for _, url in ipairs{"sqlite:rel1.db", "sqlite:///sub/rel2.db"} do
          local c = core.connect(url); c:exec("CREATE TABLE t (x INTEGER)"); c:close()
        end]]
      os.execute("mkdir " .. h.shell_quote(dir .. "/sub"))
      local status, _, stderr = h.run(("cd %s && %s -e %s"):format(h.shell_quote(dir), h.lua,
        h.shell_quote(("package.cpath=%q;"):format(h.build .. "/lib/?.so") .. script)))
      assert.equal(0, status, stderr)
      assert.is_true(h.file_exists(dir .. "/rel1.db"))
      assert.is_true(h.file_exists(dir .. "/sub/rel2.db"))
    end)

    it("sqlite::memory: is a private database per connection", function()
      local a, b = core.connect("sqlite::memory:"), core.connect("sqlite::memory:")
      a:exec("CREATE TABLE t (x INTEGER)")
      assert.equal(0, #b:query("SELECT name FROM sqlite_master"))
      a:close() b:close()
    end)

    it("an unwritable path is a clear error", function()
      for _, path in ipairs{"/nonexistent-dir/x.db", "/dev/null/x.db"} do
        local err = h.error_of(core.connect, "sqlite:" .. path)
        assert.equal(("cannot open SQLite database '%s': unable to open database file (check "
          .. "that the path is a database file in a directory that exists and is writable)")
          :format(path), err.message)
        assert.equal(14, err.code)                     -- SQLITE_CANTOPEN
      end
    end)

    it("a file that is not a database is a clear error", function()
      local dir = h.tmpdir()
      h.write_file(dir .. "/junk.db", ("this is not a database\n"):rep(100))
      local err = h.error_of(core.connect, "sqlite:" .. dir .. "/junk.db")
      assert.equal(("cannot open SQLite database '%s/junk.db': file is not a database (check "
        .. "that the path is a database file in a directory that exists and is writable)")
        :format(dir), err.message)
      assert.equal(26, err.code)                       -- SQLITE_NOTADB
    end)
  end)

  describe("[postgresql] connecting with each form", function()
    local host, port, dbname
    setup(function()
      host, port = h.pg_tcp()
      dbname = h.fresh_pg()
    end)

    local function current_db(url)
      local conn = core.connect(url)
      local rows = conn:query("SELECT current_database() AS db, current_user AS who")
      conn:close()
      return rows[1]
    end

    it("postgresql://, postgres:// and postgresql+psycopg2:// over TCP", function()
      for _, scheme in ipairs{"postgresql", "postgres", "postgresql+psycopg2"} do
        local url = ("%s://postgres@%s:%s/%s"):format(scheme, host, port, dbname)
        assert.same({db = dbname, who = "postgres"}, current_db(url))
      end
    end)

    it("a unix socket directory given as host=", function()
      local socket_dir = h.pg_admin_url:match("host=([^&]+)")
      if socket_dir then
        local url = ("postgresql://postgres@/%s?host=%s&port=%s"):format(dbname, socket_dir, port)
        assert.same({db = dbname, who = "postgres"}, current_db(url))
      else
        assert.same({db = dbname, who = "postgres"}, current_db(h.pg_url_with({dbname = dbname})))
      end
    end)

    it("keeps libpq parameters: sslmode and connect_timeout", function()
      local base = ("postgresql://postgres@%s:%s/%s"):format(host, port, dbname)
      assert.same({db = dbname, who = "postgres"},
                  current_db(base .. "?sslmode=disable&connect_timeout=5&application_name=spec"))
      -- sslmode=require is honoured: the throwaway server has no SSL
      local err = h.error_of(core.connect, base .. "?sslmode=require")
      assert.truthy(err.message:find("server does not support SSL, but SSL was required", 1, true),
                    err.message)
    end)

    it("a password, percent-encoded in the URL, logs in and never shows", function()
      h.ensure_pg_password_user()
      local user, pw = h.pg_password_user, h.pg_password
      local url = ("postgresql://%s:%s@%s:%s/%s"):format(user, h.url_escape(pw), host, port, dbname)
      assert.same({db = dbname, who = user}, current_db(url))
      local wrong = ("postgresql://%s:%s@%s:%s/%s"):format(user, "Wr0ng-S3cret", host, port, dbname)
      local err = h.error_of(core.connect, wrong)
      assert.equal(("cannot connect to PostgreSQL at 'postgresql://%s:***@%s:%s/%s': "
        .. "connection to server at \"%s\", port %s failed: FATAL:  password authentication "
        .. "failed for user \"%s\""):format(user, host, port, dbname, host, port, user), err.message)
      assert.is_nil(err.message:find("Wr0ng", 1, true))
    end)

    it("a one-character password does not mask every such letter of the message", function()
      local err = h.error_of(core.connect, "postgresql://u:a@127.0.0.1:1/db?connect_timeout=2")
      assert.equal("cannot connect to PostgreSQL at 'postgresql://u:***@127.0.0.1:1/db?"
        .. "connect_timeout=2': connection to server at \"127.0.0.1\", port 1 failed: Connection "
        .. "refused\n\tIs the server running on that host and accepting TCP/IP connections?",
        err.message)
    end)

    it("connection refused is a clear error", function()
      local err = h.error_of(core.connect, "postgresql://postgres:pw@127.0.0.1:1/db?connect_timeout=2")
      assert.equal("cannot connect to PostgreSQL at 'postgresql://postgres:***@127.0.0.1:1/db?"
        .. "connect_timeout=2': connection to server at \"127.0.0.1\", port 1 failed: Connection "
        .. "refused\n\tIs the server running on that host and accepting TCP/IP connections?",
        err.message)
    end)

    it("a database that does not exist is a clear error", function()
      local err = h.error_of(core.connect, ("postgresql://postgres@%s:%s/no_such_db"):format(host, port))
      assert.truthy(err.message:find('database "no_such_db" does not exist', 1, true), err.message)
    end)
  end)
end)
