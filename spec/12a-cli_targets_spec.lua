-- Issue 14, the targets a command line is given and what a failed run
-- leaves: a START:END range is for --sql only (1), stamp from a merge down
-- to its parents records both (2), an offline downgrade needs
-- <fromrev>:<torev> (3), downgrade -1 from two heads is refused (4), and a
-- failure or a Ctrl-C says where the database is and what of the run is
-- committed (13). Each case runs the real binary and asserts the exit
-- status, the words of the message and the version rows.
local h = require "spec.helpers"
local luamig = require "luamig"

local function run(dir, url, args, env)
  return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args, env)
end

-- r0 <- a1, r0 <- b1, m merges a1 and b1; each makes its own table.
local function branched()
  local function rev(id, down)
    return {id = id, down = down, up = ("CREATE TABLE t_%s (x INTEGER)"):format(id),
            down_sql = ("DROP TABLE t_%s"):format(id)}
  end
  return h.project({rev("r0"), rev("a1", "r0"), rev("b1", "r0"), rev("m", {"a1", "b1"})})
end

-- a chain r1 <- r2 <- r3
local function chain()
  local function rev(id, down)
    return {id = id, down = down, up = ("CREATE TABLE t_%s (x INTEGER)"):format(id),
            down_sql = ("DROP TABLE t_%s"):format(id)}
  end
  return h.project({rev("r1"), rev("r2", "r1"), rev("r3", "r2")})
end

local function has(text, want)
  assert.truthy(text:find(want, 1, true), text)
end

h.each_db(function(db)
  describe("a START:END range outside --sql (1)", function()
    it("upgrade r1:head on a fresh database is refused, nothing is created", function()
      local dir, url = chain(), db.url()
      local status, out, err = run(dir, url, "upgrade r1:head")
      assert.equal(1, status, out .. err)
      has(err, "FAILED: Range revision not allowed: 'r1:head' is a START:END range, which only "
        .. "--sql takes; give a single target (e.g. `luamig upgrade head`), or add --sql to "
        .. "write the SQL of that range\n")
      assert.falsy(err:find("planning again", 1, true), err)
      assert.same({}, h.version_rows(url))
      assert.same({}, h.tables(url))
    end)

    it("downgrade head:r1 runs no downgrade", function()
      local dir, url = chain(), db.url()
      assert.equal(0, (run(dir, url, "upgrade head")))
      local status, _, err = run(dir, url, "downgrade head:r1")
      assert.equal(1, status, err)
      has(err, "FAILED: Range revision not allowed: 'head:r1' is a START:END range, which only "
        .. "--sql takes; give a single target (e.g. `luamig downgrade r1`)")
      assert.falsy(err:find("Running downgrade", 1, true), err)
      assert.same({"r3"}, h.version_rows(url))
    end)

    it("stamp r1:head at head is refused, the rows stay", function()
      local dir, url = chain(), db.url()
      assert.equal(0, (run(dir, url, "upgrade head")))
      local status, _, err = run(dir, url, "stamp r1:head")
      assert.equal(1, status, err)
      has(err, "FAILED: Range revision not allowed: 'r1:head' is a START:END range, which only "
        .. "--sql takes; give a single target (e.g. `luamig stamp head`)")
      assert.same({"r3"}, h.version_rows(url))
    end)

    it("the embedding API refuses it alike, and --sql still takes it", function()
      local dir, url = chain(), db.url()
      local m = luamig.open{url = url, script_location = dir .. "/migrations"}
      local err = h.error_of(m.upgrade, m, "r1:head")
      m:close()
      has(tostring(err), "Range revision not allowed: 'r1:head' is a START:END range")
      assert.same({}, h.version_rows(url))
      local status, sql = run(dir, url, "upgrade r1:head --sql")
      assert.equal(0, status)
      has(sql, "CREATE TABLE t_r2")
      assert.falsy(sql:find("CREATE TABLE t_r1", 1, true), sql)
    end)
  end)

  describe("stamp from a merge down to its parents (2)", function()
    it("stamp a1 b1 from m records both", function()
      local dir, url = branched(), db.url()
      assert.equal(0, (run(dir, url, "upgrade head")))
      assert.same({"m"}, h.version_rows(url))
      local status, out, err = run(dir, url, "stamp a1 b1")
      assert.equal(0, status, err)
      assert.same({"a1", "b1"}, h.version_rows(url))
      status, out = run(dir, url, "current")
      assert.equal(0, status)
      has(out, "a1")
      has(out, "b1")
      -- and back up: the merge again, from both rows
      status, _, err = run(dir, url, "stamp m")
      assert.equal(0, status, err)
      assert.same({"m"}, h.version_rows(url))
    end)

    it("a version write that matches no row is an error, not a silent pass", function()
      -- r2's own SQL removes the row its step then updates
      local dir = h.project({
        {id = "r1", up = "CREATE TABLE t (x INTEGER)"},
        {id = "r2", down = "r1", up = "DELETE FROM luamig_version"},
      })
      local url = db.url()
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(1, status, err)
      has(err, "FAILED: upgrade r2 (revision r2): the version table 'luamig_version' changed under "
        .. "this run: expected the row 'r1' when updating it, found 0")
      assert.same({"r1"}, h.version_rows(url))
    end)
  end)

  describe("an offline downgrade without <fromrev>:<torev> (3)", function()
    for _, target in ipairs({"base", "-1", "r2"}) do
      it("downgrade " .. target .. " --sql says what Alembic says", function()
        local dir, url = chain(), db.url()
        local status, out, err = run(dir, url, "downgrade " .. target .. " --sql")
        assert.equal(1, status, out .. err)
        assert.equal("", out)
        has(err, "FAILED: downgrade with --sql requires <fromrev>:<torev>: offline there is no "
          .. "database to start from, so say where it is, e.g. `luamig downgrade "
          .. (target == "-1" and "<fromrev>" or "head") .. ":" .. target .. " --sql` (`luamig "
          .. "current` on the database gives <fromrev>)\n")
      end)
    end

    it("with the range it writes the downgrades", function()
      local dir, url = chain(), db.url()
      local status, out, err = run(dir, url, "downgrade head:r1 --sql")
      assert.equal(0, status, err)
      has(out, "DROP TABLE t_r3")
      has(out, "DROP TABLE t_r2")
    end)
  end)

  describe("downgrade -1 with two current heads (4)", function()
    it("is refused, lists the heads and says HEAD@-1", function()
      local dir, url = branched(), db.url()
      assert.equal(0, (run(dir, url, "upgrade a1")))
      assert.equal(0, (run(dir, url, "upgrade b1")))
      local status, _, err = run(dir, url, "downgrade -1")
      assert.equal(1, status, err)
      has(err, "FAILED: downgrade -1 is ambiguous: the database has 2 current heads (a1, b1); "
        .. "name the head to step back, e.g. `luamig downgrade a1@-1` or `luamig downgrade b1@-1` "
        .. "(HEAD@-1 or LABEL@-1 steps back that branch only)\n")
      assert.same({"a1", "b1"}, h.version_rows(url))
      -- the spelling it suggests steps back that head only
      status, _, err = run(dir, url, "downgrade b1@-1")
      assert.equal(0, status, err)
      assert.same({"a1"}, h.version_rows(url))
      assert.same({"luamig_log", "luamig_version", "t_a1", "t_r0"}, h.tables(url))
    end)

    it("a head with a branch label is named by its label", function()
      local dir = h.project({
        {id = "r0", up = "SELECT 1"},
        {id = "a1", down = "r0", labels = {"billing"}, up = "SELECT 1"},
        {id = "b1", down = "r0", up = "SELECT 1"},
      })
      local url = db.url()
      assert.equal(0, (run(dir, url, "upgrade heads")))
      local status, _, err = run(dir, url, "downgrade -1")
      assert.equal(1, status, err)
      has(err, "e.g. `luamig downgrade billing@-1` or `luamig downgrade b1@-1`")
      status, _, err = run(dir, url, "downgrade billing@-1")
      assert.equal(0, status, err)
      assert.same({"b1"}, h.version_rows(url))
    end)
  end)

  describe("where a failed run leaves the database (13)", function()
    -- r1, r2 make tables; r3 fails after making one of its own
    local function failing(config)
      return h.project({
        {id = "r1", up = "CREATE TABLE t1 (x INTEGER)"},
        {id = "r2", down = "r1", up = "CREATE TABLE t2 (x INTEGER)"},
        {id = "r3", down = "r2", code = true,
         up = "  op.execute('CREATE TABLE t3 (x INTEGER)')\n  op.execute('SELECT * FROM nowhere')"},
      }, config)
    end

    it("one transaction per step: the steps before it are committed", function()
      local dir, url = failing(), db.url()
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(1, status, err)
      has(err, "\nThe 2 steps before it are committed: the database is at r2.\n")
      assert.same({"r2"}, h.version_rows(url))
      assert.same({"luamig_log", "luamig_version", "t1", "t2"}, h.tables(url))
    end)

    it("one step before it", function()
      local dir, url = failing(), db.url()
      assert.equal(0, (run(dir, url, "upgrade r1")))
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(1, status, err)
      has(err, "\nThe step before it is committed: the database is at r2.\n")
    end)

    it("nothing run before it", function()
      local dir, url = failing(), db.url()
      assert.equal(0, (run(dir, url, "upgrade r2")))
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(1, status, err)
      has(err, "\nNothing of this run is committed: the database is at r2, as before the run.\n")
    end)

    it("transaction_per_migration = false: the whole run rolled back, and it says so", function()
      local dir, url = failing("transaction_per_migration = false\n"), db.url()
      assert.equal(0, (run(dir, url, "upgrade r1")))
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(1, status, err)
      has(err, "\nNothing of this run is committed (transaction_per_migration = false: the step "
        .. "before it rolled back with it): the database is at r1, as before the run.\n")
      assert.same({"r1"}, h.version_rows(url))
      assert.same({"luamig_log", "luamig_version", "t1"}, h.tables(url))
    end)
  end)

  describe("Ctrl-C in a step (13)", function()
    -- r1 makes t1; r2 makes t2, then runs a statement that would take
    -- minutes: pg_sleep on PostgreSQL, an endless recursive CTE on SQLite
    local function slow_project()
      local long = db.name == "postgresql" and "SELECT pg_sleep(60)"
        or "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c"
      return h.project({
        {id = "r1", up = "CREATE TABLE t1 (x INTEGER)"},
        {id = "r2", down = "r1", message = "slow", code = true,
         up = "  op.execute('CREATE TABLE t2 (x INTEGER)')\n  op.execute(\"" .. long .. "\")"},
      })
    end

    -- Run upgrade head in the background, send SIGINT once r2 has started;
    -- returns the exit status, stderr and the seconds it took after SIGINT.
    local function interrupt(dir, url)
      local script = ([[
cd %s || exit 99
%s --url %s upgrade head 2>err.txt & pid=$!
i=0; while ! grep -q 'Running upgrade r1 -> r2' err.txt 2>/dev/null; do
  i=$((i+1)); [ $i -gt 200 ] && break; sleep 0.05; done
sleep 0.5
t0=$(date +%%s.%%N); kill -INT $pid
(sleep 20; kill -KILL $pid) >/dev/null 2>&1 & watchdog=$!
wait $pid; rc=$?; t1=$(date +%%s.%%N); kill $watchdog 2>/dev/null
echo "$rc $t0 $t1"]]):format(h.shell_quote(dir), h.shell_quote(h.bin), h.shell_quote(url))
      h.write_file(dir .. "/interrupt.sh", script)
      local _, out = h.run("sh " .. h.shell_quote(dir .. "/interrupt.sh"))
      local rc, t0, t1 = out:match("^(%d+) ([%d.]+) ([%d.]+)")
      return tonumber(rc), h.read_file(dir .. "/err.txt") or "", tonumber(t1) - tonumber(t0)
    end

    it("stops the statement, rolls the step back, says where the database is, exits 130", function()
      local dir, url = slow_project(), db.url()
      local status, err, took = interrupt(dir, url)
      assert.equal(130, status, err)
      has(err, "\ninterrupted (Ctrl-C) during upgrade r2 (slow): the step was rolled back\n"
        .. "The step before it is committed: the database is at r1.\n")
      assert.falsy(err:find("FAILED", 1, true), err)
      assert.is_true(took < 10, "took " .. took .. " s after SIGINT")
      assert.same({"r1"}, h.version_rows(url))
      assert.same({"luamig_log", "luamig_version", "t1"}, h.tables(url))
      -- and the next run starts from there
      h.write_file(dir .. "/migrations/versions/r2.lua", h.script({id = "r2", down = "r1",
        up = "CREATE TABLE t2 (x INTEGER)"}))
      local s2, _, e2 = run(dir, url, "upgrade head")
      assert.equal(0, s2, e2)
      assert.same({"r2"}, h.version_rows(url))
    end)

    it("the embedding API: core.interrupt() from a host stops the run; the next run is not", function()
      local dir = h.project({
        {id = "r1", up = "CREATE TABLE t1 (x INTEGER)"},
        {id = "r2", down = "r1", message = "asks to stop", code = true,
         up = "  op.execute('CREATE TABLE t2 (x INTEGER)')\n"
           .. "  require('luamig.core').interrupt()\n  op.execute('SELECT 1')"},
      })
      local url = db.url()
      local m = luamig.open{url = url, script_location = dir .. "/migrations", log = function() end}
      local err = h.error_of(m.upgrade, m, "head")
      assert.equal("interrupted (Ctrl-C) during upgrade r2 (asks to stop): the step was rolled back\n"
        .. "The step before it is committed: the database is at r1.", err.message)
      assert.is_true(require("luamig.core").interrupted())
      assert.same({"r1"}, h.version_rows(url))
      h.write_file(dir .. "/migrations/versions/r2.lua", h.script({id = "r2", down = "r1",
        up = "CREATE TABLE t2 (x INTEGER)"}))
      m:close()
      m = luamig.open{url = url, script_location = dir .. "/migrations", log = function() end}
      m:upgrade("head")
      m:close()
      assert.same({"r2"}, h.version_rows(url))
    end)
  end)
end)
