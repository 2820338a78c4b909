-- Issue 13, the runner's items: a run-wide lock that also spans
-- transactional = false steps (1), a migration cannot close the connection
-- it borrows (8), a lost connection or a rollback SQLite made itself is
-- told as what it is (15), and a SQLite file another process holds is
-- waited for up to lock_timeout (18). Each case runs the real binary (or,
-- for two connections of one process, the embedding API) and asserts the
-- exit status, the words of the message, the version rows and every row.
local h = require "spec.helpers"
local core = require "luamig.core"
local luamig = require "luamig"

local is_root = (select(2, h.run("id -u")) or ""):match("^0") ~= nil

-- Run the binary on url in dir.
local function run(dir, url, args, env)
  return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args, env)
end

-- The values of column x of table t, in order ({} without the table).
local function xs(url, tname)
  local conn = core.connect(url)
  local ok, rows = pcall(conn.query, conn, ("SELECT x FROM %s ORDER BY x"):format(core.quote_ident(tname or "t")))
  conn:close()
  local out = {}
  if ok then for i, r in ipairs(rows) do out[i] = r.x end end
  return out
end

-- a1 makes table t; a2 (transactional = false) inserts 1..5, with work
-- between the rows so that two runs overlap inside it.
local function five_rows_project(extra_up)
  return h.project({
    {id = "a1", message = "table", up = "CREATE TABLE t (x INTEGER)"},
    {id = "a2", down = "a1", message = "five rows", code = true, extra = "transactional = false",
     up = (extra_up or "") .. "  for i = 1, 5 do\n"
       .. "    op.execute('INSERT INTO t (x) VALUES ($1)', {i})\n"
       .. "    local t0 = os.clock() while os.clock() - t0 < 0.04 do end\n"
       .. "  end"},
  })
end

-- n runs of `upgrade head` released at the same instant (a FIFO); their
-- statuses and stderr.
local function race(dir, url, n)
  local work = h.tmpdir()
  local cmd = ("cd %s && mkfifo go; "):format(h.shell_quote(work))
  for i = 1, n do
    cmd = cmd .. ("{ ( read -r _ <go; cd %s && exec timeout 60 %s --url %s upgrade head ) >/dev/null 2>err%d; "
      .. "echo $? >rc%d; } & "):format(h.shell_quote(dir), h.shell_quote(h.bin), h.shell_quote(url), i, i)
  end
  h.run(cmd .. "sleep 0.3; exec 3>go; exec 3>&-; wait")
  local statuses, errs = {}, {}
  for i = 1, n do
    statuses[i] = tonumber(h.read_file(("%s/rc%d"):format(work, i)) or "")
    errs[i] = h.read_file(("%s/err%d"):format(work, i)) or ""
  end
  return statuses, errs
end

h.each_db(function(db)
  local pg = db.name == "postgresql"

  describe("1. a transactional = false step and two runs at once", function()
    it("two `upgrade head` released together, 4 trials: the step runs exactly once, both exit 0", function()
      local dir = five_rows_project()
      for trial = 1, 4 do
        local url = db.url()
        local statuses, errs = race(dir, url, 2)
        assert.same({0, 0}, statuses, table.concat(errs, "\n"))
        assert.same({1, 2, 3, 4, 5}, xs(url), ("trial %d:\n%s"):format(trial, table.concat(errs, "\n")))
        assert.same({"a2"}, h.version_rows(url))
        local ran = 0
        for _, err in ipairs(errs) do
          for _ in err:gmatch("Running upgrade a1 %-> a2") do ran = ran + 1 end
        end
        assert.equal(1, ran, table.concat(errs, "\n"))
      end
    end)

    it("a second run on another connection of the same process waits for the lock and gives up after lock_timeout", function()
      local url = db.url()
      local dir = five_rows_project("  spec_09c_hook()\n")
      local inner_err, waited
      _G.spec_09c_hook = function()
        _G.spec_09c_hook = function() end                -- once: the inner run would call it too
        local m2 = luamig.open{url = url, script_location = dir .. "/migrations", lock_timeout = 1}
        local t0 = h.now()
        inner_err = h.error_of(m2.upgrade, m2, "head")
        waited = h.now() - t0
        m2:close()
      end
      local m = luamig.open{url = url, script_location = dir .. "/migrations"}
      local ok, err = pcall(m.upgrade, m, "head")
      m:close()
      _G.spec_09c_hook = nil
      assert.is_true(ok, tostring(err))
      assert.is_table(inner_err, "the second run did not fail")
      assert.truthy(tostring(inner_err.message):find("could not take the migration lock within 1 s: another "
        .. "luamig run (" .. (pg and "server pid " or "pid "), 1, true), tostring(inner_err.message))
      assert.is_true(waited >= 0.9 and waited < 5, ("waited %.2f s"):format(waited))
      assert.same({1, 2, 3, 4, 5}, xs(url))
      assert.same({"a2"}, h.version_rows(url))
    end)

    it("a migration cannot start a second run on the connection it borrows (same runner)", function()
      local url = db.url()
      local dir = five_rows_project("  spec_09c_hook()\n")
      local m = luamig.open{url = url, script_location = dir .. "/migrations", lock_timeout = 1}
      local inner_err
      _G.spec_09c_hook = function()
        _G.spec_09c_hook = function() end
        inner_err = h.error_of(m.upgrade, m, "head")
      end
      local ok, err = pcall(m.upgrade, m, "head")
      m:close()
      _G.spec_09c_hook = nil
      assert.is_true(ok, tostring(err))
      assert.truthy(tostring(inner_err):find("a luamig run is already using this connection: a migration cannot "
        .. "start another run (upgrade, downgrade, stamp) on the connection it borrows", 1, true), tostring(inner_err))
      assert.same({1, 2, 3, 4, 5}, xs(url))
      assert.same({"a2"}, h.version_rows(url))
    end)

    it("a failing transactional = false step states the version rows the table really holds", function()
      local url = db.url()
      local dir = h.project({
        {id = "a1", message = "table", up = "CREATE TABLE t (x INTEGER)"},
        {id = "a2", down = "a1", message = "outside", code = true, extra = "transactional = false",
         up = "  op.execute('INSERT INTO t (x) VALUES (1)')\n  spec_09c_hook()\n  op.execute('SELECT * FROM nope')"},
      })
      _G.spec_09c_hook = function()                      -- "another run" moves the table meanwhile
        local c = core.connect(url)
        c:exec("UPDATE luamig_version SET version_num = 'zz9'")
        c:close()
      end
      local m = luamig.open{url = url, script_location = dir .. "/migrations"}
      local err = h.error_of(m.upgrade, m, "head")
      m:close()
      _G.spec_09c_hook = nil
      assert.is_table(err)
      assert.truthy(err.message:find("This step ran outside a transaction (transactional = false): what it "
        .. "did before the error stays applied, and the version table says zz9 (another run changed it "
        .. "from a1). Check the database", 1, true), err.message)
      assert.is_nil(err.message:find("still says", 1, true), err.message)
      assert.same({"zz9"}, h.version_rows(url))
      assert.same({1}, xs(url))
    end)

    if not pg then
      it("the lock is a file beside the database, shared by every path to it, and an in-memory database needs none", function()
        local url, path = h.fresh_sqlite()
        local dir = five_rows_project()
        local link = path:gsub("test%.db$", "link.db")
        local status, _, err = run(dir, url, "upgrade a1")
        assert.equal(0, status, err)
        os.execute(("ln -s %s %s"):format(h.shell_quote(path), h.shell_quote(link)))
        -- two runs, one through the symlink: still one lock, the step runs once
        local w = h.tmpdir()
        h.run(("cd %s && { %s --url %s upgrade head 2>%s/e1 & %s --url %s upgrade head 2>%s/e2; wait; }")
          :format(h.shell_quote(dir), h.shell_quote(h.bin), h.shell_quote(url), w,
                  h.shell_quote(h.bin), h.shell_quote("sqlite:" .. link), w))
        assert.same({1, 2, 3, 4, 5}, xs(url), (h.read_file(w .. "/e1") or "") .. (h.read_file(w .. "/e2") or ""))
        assert.is_true(h.file_exists(path .. "-luamig.lock"))
        assert.is_false(h.file_exists(link .. "-luamig.lock"))
        assert.equal("", h.read_file(path .. "-luamig.lock"))   -- no stale pid once released
        local m = luamig.open{url = "sqlite::memory:", script_location = dir .. "/migrations"}
        m:upgrade("head")
        assert.same({"a2"}, core.current(m:connection(), "luamig_version"))
        m:close()
      end)

      it("hostile paths: a name with a space and quotes gets its lock file; a lock path that is a directory is an error that says so", function()
        local d = h.tmpdir()
        local path = d .. "/a b'\"c.db"
        local url = "sqlite:" .. path
        local dir = five_rows_project()
        local statuses, errs = race(dir, url, 3)
        assert.same({0, 0, 0}, statuses, table.concat(errs, "\n"))
        assert.same({1, 2, 3, 4, 5}, xs(url))
        assert.is_true(h.file_exists(path .. "-luamig.lock"))
        local url2, path2 = h.fresh_sqlite()
        os.execute("mkdir " .. h.shell_quote(path2 .. "-luamig.lock"))
        local status, _, err = run(dir, url2, "upgrade head")
        assert.equal(1, status, err)
        assert.truthy(err:find(("FAILED: cannot open the migration lock file '%s-luamig.lock': Is a directory (luamig "
          .. "keeps it beside the database so that two runs never migrate at once: the directory must be "
          .. "writable, as it must be for SQLite's journal)"):format(path2), 1, true), err)
        assert.same({}, h.version_rows(url2))
      end)

      it("a read-only file system: no lock file can be made, and a run with nothing to do still succeeds", function()
        local mnt = h.tmpdir()
        local ok = is_root and os.execute(("mount -t tmpfs -o size=1m tmpfs %s 2>/dev/null"):format(h.shell_quote(mnt)))
        if not ok then
          pending("needs root and `mount -t tmpfs` for a read-only file system (not available here)")
          return
        end
        finally(function() os.execute(("umount %s"):format(h.shell_quote(mnt))) end)
        local url = "sqlite:" .. mnt .. "/ro.db"
        local dir = five_rows_project()
        local status, _, err = run(dir, url, "upgrade head")
        assert.equal(0, status, err)
        os.remove(mnt .. "/ro.db-luamig.lock")
        assert.is_true(os.execute(("mount -o remount,ro %s"):format(h.shell_quote(mnt))))
        status, _, err = run(dir, url, "upgrade head")
        assert.equal(0, status, err)
        assert.same({"a2"}, h.version_rows(url))
        assert.is_false(h.file_exists(mnt .. "/ro.db-luamig.lock"))
      end)
    end
  end)

  describe("8. the connection a migration borrows (op.get_bind())", function()
    local function setup(up, extra)
      local url = db.url()
      local dir = h.project({
        {id = "a1", message = "table", up = "CREATE TABLE t (x INTEGER)"},
        {id = "a2", down = "a1", message = "borrow", code = true, extra = extra, up = up},
      })
      local status, _, err = run(dir, url, "upgrade a1")
      assert.equal(0, status, err)
      return url, dir
    end

    local CLOSE_REFUSED = "cannot close this connection: a luamig run is using it (a migration borrows "
      .. "it through op.get_bind() and must leave it open; luamig closes it when the run ends)"

    for _, case in ipairs({
      {"close()", "  op.execute('INSERT INTO t (x) VALUES (1)')\n  op.get_bind():close()\n"
        .. "  op.execute('INSERT INTO t (x) VALUES (2)')", nil},
      {"a <close> variable", "  op.execute('INSERT INTO t (x) VALUES (1)')\n  do local c <close> = op.get_bind() end\n"
        .. "  op.execute('INSERT INTO t (x) VALUES (2)')", nil},
    }) do
      it(("%s in a step is refused with a clear error and the step rolls back"):format(case[1]), function()
        local url, dir = setup(case[2], case[3])
        local status, _, err = run(dir, url, "upgrade head")
        assert.equal(1, status, err)
        assert.truthy(err:find("FAILED: upgrade a2 (borrow): migrations/versions/a2.lua:", 1, true), err)
        assert.truthy(err:find(CLOSE_REFUSED, 1, true), err)
        assert.same({"a1"}, h.version_rows(url))
        assert.same({}, xs(url))                         -- rolled back
        status, _, err = run(dir, url, "current")       -- and the database is fine
        assert.equal(0, status, err)
      end)
    end

    it("close() in a transactional = false step is refused too; what ran before stays, as announced", function()
      local url, dir = setup("  op.execute('INSERT INTO t (x) VALUES (1)')\n  op.get_bind():close()",
                             "transactional = false")
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(1, status, err)
      assert.truthy(err:find(CLOSE_REFUSED, 1, true), err)
      assert.truthy(err:find("the version table still says a1", 1, true), err)
      assert.same({"a1"}, h.version_rows(url))
      assert.same({1}, xs(url))
    end)

    it("begin() inside luamig's transaction says why it cannot, and the step rolls back", function()
      local url, dir = setup("  op.execute('INSERT INTO t (x) VALUES (1)')\n  local tx = op.get_bind():begin()")
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(1, status, err)
      assert.truthy(err:find("migrations/versions/a2.lua:9: cannot begin a transaction: luamig runs this step "
        .. "in its own transaction on this connection (op.get_bind()); mark the migration "
        .. "transactional = false to manage transactions yourself", 1, true), err)
      assert.same({"a1"}, h.version_rows(url))
      assert.same({}, xs(url))
    end)

    it("a transactional = false step may begin and commit its own transaction", function()
      local url, dir = setup("  local tx <close> = op.get_bind():begin()\n"
        .. "  op.execute('INSERT INTO t (x) VALUES (1)')\n  tx:commit()", "transactional = false")
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(0, status, err)
      assert.same({"a2"}, h.version_rows(url))
      assert.same({1}, xs(url))
    end)

    it("a transactional = false step that leaves its own transaction open: rolled back, and said", function()
      local url, dir = setup("  _G.keep_09c = op.get_bind():begin()\n  op.execute('INSERT INTO t (x) VALUES (1)')",
                             "transactional = false")
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(1, status, err)
      assert.truthy(err:find("FAILED: upgrade a2 (borrow): the step left a transaction of its own open (a BEGIN "
        .. "or conn:begin() without its COMMIT); luamig rolled that transaction back", 1, true), err)
      assert.truthy(err:find("the version table still says a1", 1, true), err)
      assert.same({"a1"}, h.version_rows(url))
      assert.same({}, xs(url))
    end)
  end)

  describe("15. the database ends the step's transaction itself", function()
    -- what every such message must say, and must not
    local function assert_told_truth(err, at)
      assert.truthy(err:find("The database rolled the open transaction back: nothing of this step was committed, "
        .. "and the database is at " .. at, 1, true), err)
      assert.truthy(err:find("Running the same command again is safe: it starts from where the database is. "
        .. "Do not `luamig stamp a2`: the step did not run.", 1, true), err)
      assert.is_nil(err:find("its SQL ended the transaction", 1, true), err)
      assert.is_nil(err:find("finish it by hand", 1, true), err)
    end

    if pg then
      local function setup(up)
        local url = db.url()
        local dir = h.project({
          {id = "a1", message = "table", up = "CREATE TABLE t (x INTEGER)"},
          {id = "a2", down = "a1", message = "doomed", code = true,
           up = "  op.execute('INSERT INTO t (x) VALUES (1)')\n"
             .. "  if os.getenv('DOOM_09C') then\n" .. up .. "\n  end\n"
             .. "  op.execute('INSERT INTO t (x) VALUES (2)')"},
        })
        local status, _, err = run(dir, url, "upgrade a1")
        assert.equal(0, status, err)
        return url, dir
      end

      local LOST = "the connection to the PostgreSQL server was lost (the server ended the session: terminated "
        .. "by an administrator, restarted, or a timeout such as idle_in_transaction_session_timeout)."

      it("pg_terminate_backend from another session during a step", function()
        local url, dir = setup("    local pid = op.query('SELECT pg_backend_pid() AS pid')[1].pid\n"
          .. "    local c = require('luamig.core').connect(os.getenv('URL_09C'))\n"
          .. "    c:exec('SELECT pg_terminate_backend($1::int)', {pid})\n    c:close()")
        local status, _, err = run(dir, url, "upgrade head", {DOOM_09C = "1", URL_09C = url})
        assert.equal(1, status, err)
        assert.truthy(err:find("FAILED: upgrade a2 (doomed): migrations/versions/a2.lua:", 1, true), err)
        assert.truthy(err:find(LOST, 1, true), err)
        assert_told_truth(err, "a1 (luamig's last commit)")
        assert.same({"a1"}, h.version_rows(url))
        assert.same({}, xs(url))
        status, _, err = run(dir, url, "upgrade head")   -- re-running is safe, as said
        assert.equal(0, status, err)
        assert.same({"a2"}, h.version_rows(url))
        assert.same({1, 2}, xs(url))
      end)

      it("idle_in_transaction_session_timeout while the step works in Lua", function()
        local url, dir = setup("    op.execute(\"SET idle_in_transaction_session_timeout = '200ms'\")\n"
          .. "    os.execute('sleep 1')")
        local status, _, err = run(dir, url, "upgrade head", {DOOM_09C = "1"})
        assert.equal(1, status, err)
        assert.truthy(err:find(LOST, 1, true), err)
        assert_told_truth(err, "a1 (luamig's last commit)")
        assert.same({"a1"}, h.version_rows(url))
        assert.same({}, xs(url))
      end)

      it("with transaction_per_migration = false: the database is where the run started", function()
        local url, dir = setup("    local pid = op.query('SELECT pg_backend_pid() AS pid')[1].pid\n"
          .. "    local c = require('luamig.core').connect(os.getenv('URL_09C'))\n"
          .. "    c:exec('SELECT pg_terminate_backend($1::int)', {pid})\n    c:close()")
        h.write_file(dir .. "/migrations/versions/a0.lua", h.script({id = "a0", message = "first"}))
        h.write_file(dir .. "/migrations/versions/a1.lua", h.script({id = "a1", down = "a0", message = "table",
                                                                     up = "CREATE TABLE t (x INTEGER)"}))
        h.write_file(dir .. "/luamig.lua", "transaction_per_migration = false\n")
        local fresh = db.url()
        local status, _, err = run(dir, fresh, "upgrade head", {DOOM_09C = "1", URL_09C = fresh})
        assert.equal(1, status, err)
        assert_told_truth(err, "base (luamig's last commit)")
        assert.same({}, h.version_rows(fresh))
        assert.same({"luamig_log", "luamig_version"}, h.tables(fresh))
        local _ = url
      end)

      -- found by an outside attack: a loss during COMMIT was told as both
      -- "rolled back, it did not run" and "cannot tell"
      it("lost during COMMIT: one story, the outcome unknown, both revisions named, no 'it did not run'", function()
        local url, dir = setup(
          "    op.execute([[CREATE FUNCTION die_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$\n"
          .. "      BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$]])\n"
          .. "    op.execute([[CREATE CONSTRAINT TRIGGER die AFTER INSERT ON t DEFERRABLE INITIALLY DEFERRED\n"
          .. "      FOR EACH ROW EXECUTE FUNCTION die_at_commit()]])")
        local status, _, err = run(dir, url, "upgrade head", {DOOM_09C = "1"})
        assert.equal(1, status, err)
        assert.truthy(err:find(LOST, 1, true), err)
        assert.truthy(err:find("This happened during COMMIT, so luamig cannot tell whether the step was committed: "
          .. "the database is at a2 if it was, or at a1 if it was not; `luamig current` says which. Either way "
          .. "running the same command again is safe: it starts from where the database is.", 1, true), err)
        assert.is_nil(err:find("it did not run", 1, true), err)
        assert.is_nil(err:find("rolled the open transaction back", 1, true), err)
        assert.same({"a1"}, h.version_rows(url))       -- the server did roll it back
        assert.same({}, xs(url))
      end)
    else
      it("a full disk: SQLite rolls the transaction back itself", function()
        local mnt = h.tmpdir()
        local ok = is_root and os.execute(("mount -t tmpfs -o size=1m tmpfs %s 2>/dev/null"):format(h.shell_quote(mnt)))
        if not ok then
          pending("needs root and `mount -t tmpfs` to fill a disk (not available here)")
          return
        end
        finally(function() os.execute(("umount %s"):format(h.shell_quote(mnt))) end)
        local url = "sqlite:" .. mnt .. "/full.db"
        local dir = h.project({
          {id = "a1", message = "table", up = "CREATE TABLE t (x BLOB)"},
          {id = "a2", down = "a1", message = "fills the disk", code = true,
           up = "  op.execute('CREATE TABLE t2 (y INTEGER)')\n"
             .. "  for _ = 1, 200 do op.execute('INSERT INTO t (x) VALUES (randomblob(20000))') end"},
        })
        local status, _, err = run(dir, url, "upgrade a1")
        assert.equal(0, status, err)
        status, _, err = run(dir, url, "upgrade head")
        assert.equal(1, status, err)
        assert.truthy(err:find("FAILED: upgrade a2 (fills the disk): migrations/versions/a2.lua:9: database or "
          .. "disk is full\nSQLite rolled the transaction back itself after an error (database or disk is full). ",
          1, true), err)
        assert_told_truth(err, "a1.")
        assert.same({"a1"}, h.version_rows(url))
        assert.same({"luamig_log", "luamig_version", "t"}, h.tables(url))
        local conn = core.connect(url)
        assert.equal(0, conn:query("SELECT count(*) AS n FROM t")[1].n)
        assert.equal("ok", conn:query("PRAGMA integrity_check")[1].integrity_check)
        conn:close()
      end)
    end
  end)

  if not pg then
    describe("18. a SQLite file another process holds", function()
      -- the sqlite3 shell holds the database (BEGIN EXCLUSIVE or IMMEDIATE)
      -- for hold seconds, starting now; returns once it holds it
      local function hold(path, mode, seconds)
        h.run(("{ printf 'BEGIN %s;\\nINSERT INTO hold VALUES (1);\\n.shell sleep %g\\nCOMMIT;\\n' | sqlite3 %s "
          .. ">/dev/null 2>&1 & } ; sleep 0.4"):format(mode, seconds, h.shell_quote(path)))
      end

      local function setup(config)
        local url, path = h.fresh_sqlite()
        local dir = h.project({
          {id = "a1", message = "table", up = "CREATE TABLE t (x INTEGER)"},
          {id = "a2", down = "a1", message = "row", up = "INSERT INTO t (x) VALUES (1)"},
        }, config)
        local status, _, err = run(dir, url, "upgrade a1")
        assert.equal(0, status, err)
        local conn = core.connect(url)
        conn:exec("CREATE TABLE hold (x INTEGER)")
        conn:close()
        return url, path, dir
      end

      for _, mode in ipairs({"EXCLUSIVE", "IMMEDIATE"}) do
        it(("a %s holder past lock_timeout: luamig waits lock_timeout, then says who and how long"):format(mode), function()
          local url, path, dir = setup("lock_timeout = 1\n")
          hold(path, mode, 4)
          local t0 = h.now()
          local status, _, err = run(dir, url, "upgrade head")
          local took = h.now() - t0
          assert.equal(1, status, err)
          assert.truthy(err:find(("the database '%s' is locked by another process: luamig waited 1.0 s "
            .. "for it (lock_timeout = 1 s) and gave up; find what holds it (e.g. `fuser %s`), or raise "
            .. "lock_timeout"):format(path, path), 1, true), err)
          assert.is_true(took < 3.5, ("took %.1f s"):format(took))
          assert.is_nil(err:find("cannot open", 1, true), err)
          os.execute("sleep 4")
          assert.same({"a1"}, h.version_rows(url))
        end)
      end

      it("an EXCLUSIVE holder for 6 s and lock_timeout = 10: luamig waits, then runs", function()
        local url, path, dir = setup("lock_timeout = 10\n")
        hold(path, "EXCLUSIVE", 6)
        local status, _, err = run(dir, url, "upgrade head")
        assert.equal(0, status, err)
        assert.same({"a2"}, h.version_rows(url))
        assert.same({1}, xs(url))
      end)
    end)
  end
end)
