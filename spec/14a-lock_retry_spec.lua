-- Issue 17, "Lock timeouts with retries": ddl_lock_timeout,
-- statement_timeout and lock_retries (luamig.lua, a script's header, a
-- run's options), applied with SET LOCAL in each step's transaction on
-- PostgreSQL, and a step whose lock is not granted (SQLSTATE 55P03) rolled
-- back and retried with back-off. The PostgreSQL specs use a REAL blocking
-- session (a background psql holding a lock on the table, seen in
-- pg_locks) and a concurrent reader whose queries time their own wait on
-- the server (clock_timestamp() - statement_timestamp(): the lock is taken
-- before execution starts). Also: the fix of a failed op.autocommit_block
-- that a script catches (the rest of the step in a transaction again).
local h = require "spec.helpers"
local core = require "luamig.core"

local function admin(url)
  return core.connect(url)
end

-- A project whose luamig.lua points at url; revs as h.project takes them.
local function project(url, revs, extra)
  return h.project(revs, ("url = %q\n%s"):format(url, extra or ""))
end

local function setup_orders(url)
  local c = admin(url)
  c:exec("CREATE TABLE orders (id integer)")
  c:exec("INSERT INTO orders VALUES (1), (2)")
  c:close()
end

-- A background psql that takes lock_mode on orders and holds it for
-- seconds; returns once pg_locks shows the lock granted to it.
local function blocker(url, seconds, mode)
  local dir = h.tmpdir()
  os.execute(("unset LD_PRELOAD; psql -X -q %s -c %s >%s 2>&1 &"):format(h.shell_quote(url),
    h.shell_quote(("BEGIN; LOCK TABLE orders IN %s MODE; SELECT pg_sleep(%g); COMMIT;")
      :format(mode or "ACCESS SHARE", seconds)), h.shell_quote(dir .. "/out")))
  local c = admin(url)
  local want = (mode or "ACCESS SHARE"):gsub(" (%a)", function(a) return a end):lower()
  for _ = 1, 200 do
    local rows = c:query([[SELECT l.mode FROM pg_locks l JOIN pg_class t ON t.oid = l.relation
      WHERE t.relname = 'orders' AND l.granted AND l.pid <> pg_backend_pid()]])
    if #rows > 0 then
      assert.equal(want, rows[1].mode:lower():gsub("lock$", ""))
      c:close()
      return
    end
    os.execute("sleep 0.02")
  end
  c:close()
  error("the blocking session never got its lock")
end

-- Hold ACCESS SHARE on orders in a session of this process (seen granted
-- in pg_locks by another); returns the function that lets it go.
local function hold_lock(url)
  local bc = admin(url)
  bc:exec("BEGIN")
  bc:exec("LOCK TABLE orders IN ACCESS SHARE MODE")
  local c = admin(url)
  local rows = c:query([[SELECT l.mode FROM pg_locks l JOIN pg_class t ON t.oid = l.relation
    WHERE t.relname = 'orders' AND l.granted AND l.pid <> pg_backend_pid()]])
  c:close()
  assert.same({{mode = "AccessShareLock"}}, rows)
  return function()
    bc:exec("ROLLBACK")
    bc:close()
  end
end

-- luamig ARGS in dir, in the background: wait_for(text) until its stderr
-- says text (false if it ended first), finish() -> status, stderr, seconds.
local function luamig_bg(dir, args)
  os.execute(("unset LD_PRELOAD; cd %s && (%s %s 2>err.txt; echo $? > rc) >/dev/null 2>&1 &")
    :format(h.shell_quote(dir), h.shell_quote(h.bin), args))
  local t0 = h.now()
  local function rc() return h.file_exists(dir .. "/rc") and (h.read_file(dir .. "/rc") or ""):match("%d+") end
  local bg = {}
  function bg.wait_for(text)
    for _ = 1, 3000 do
      if (h.read_file(dir .. "/err.txt") or ""):find(text, 1, true) then return true end
      if rc() then return false end
      os.execute("sleep 0.02")
    end
    return false
  end
  function bg.finish()
    for _ = 1, 3000 do
      local status = rc()
      if status then return tonumber(status), h.read_file(dir .. "/err.txt") or "", h.now() - t0 end
      os.execute("sleep 0.02")
    end
    error("luamig did not finish")
  end
  return bg
end

-- End every other session on the database (a blocker still sleeping).
local function end_sessions(url)
  local c = admin(url)
  c:query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
    .. "AND pid <> pg_backend_pid()")
  c:close()
end

-- A reader: a psql session running SELECT on orders every 20 ms until
-- stop() is called; stop() returns each query's wait for its lock (ms).
local function reader(url)
  local dir = h.tmpdir()
  local stopfile, out = dir .. "/stop", dir .. "/out"
  local q = "SELECT 'w:' || round(1000 * extract(epoch FROM clock_timestamp() - statement_timestamp())) "
    .. "FROM (SELECT count(*) FROM orders) AS o;"
  local done = dir .. "/done"
  os.execute(("unset LD_PRELOAD; ((while [ ! -e %s ]; do echo %s; sleep 0.02; done | psql -X -q -At %s >%s 2>&1); touch %s) &")
    :format(h.shell_quote(stopfile), h.shell_quote(q), h.shell_quote(url), h.shell_quote(out),
            h.shell_quote(done)))
  os.execute("sleep 0.1")
  return function()
    h.write_file(stopfile, "")
    local text
    for _ = 1, 200 do                                   -- psql ends at the loop's end
      if h.file_exists(done) then break end
      os.execute("sleep 0.02")
    end
    text = h.read_file(out) or ""
    local waits = {}
    for ms in text:gmatch("w:(%d+)") do waits[#waits + 1] = tonumber(ms) end
    return waits, text
  end
end

local function max_of(list)
  local m = 0
  for _, v in ipairs(list) do if v > m then m = v end end
  return m
end

local function count(text, pattern)
  local n = 0
  for _ in text:gmatch(pattern) do n = n + 1 end
  return n
end

local function columns(url, table_name)
  local c = admin(url)
  local rows = c:query("SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
    .. "ORDER BY ordinal_position", {table_name})
  c:close()
  local out = {}
  for i, r in ipairs(rows) do out[i] = r.column_name end
  return out
end

local ADD_NOTE = {id = "a1", down = "a0", message = "add note",
                  up = [[op.add_column("orders", {"note", "text"})]], code = true}
local A0 = {id = "a0", message = "create t2", up = "CREATE TABLE t2 (id integer)"}

describe("[postgresql] a step blocked by another session's lock", function()
  it("waits at most ddl_lock_timeout per attempt, retries, and succeeds once the blocker goes; a reader never waits much longer than the timeout", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local dir = project(url, {A0, ADD_NOTE}, 'ddl_lock_timeout = "300ms"\nlock_retries = 10\n')
    local stop = reader(url)
    local release = hold_lock(url)
    local bg = luamig_bg(dir, "upgrade")
    local retried = bg.wait_for("attempt 2 of 10, next in")
    release()                                           -- the blocker goes
    local status, err = bg.finish()
    local waits, raw = stop()
    assert.is_true(retried, err)
    assert.equal(0, status, err)
    -- attempts logged with their numbers, the table named
    assert.truthy(err:find('upgrade a1 (add note): lock on "orders" not granted in 300ms, attempt 1 of 10, next in', 1, true), err)
    assert.truthy(err:find('attempt 2 of 10', 1, true), err)
    assert.is_nil(err:find("giving up", 1, true))
    assert.same({"a1"}, h.version_rows(url))
    assert.same({"id", "note"}, columns(url, "orders"))
    -- the reader: queued behind the waiting ALTER (so > 0: the blocker
    -- mattered), but never for much longer than the 300 ms timeout
    -- (without it, for as long as the blocker held its lock)
    assert.is_true(#waits > 20, raw)
    local worst = max_of(waits)
    assert.is_true(worst > 100, ("the longest wait was %d ms: the blocker never mattered"):format(worst))
    assert.is_true(worst < 300 + 250, ("a reader waited %d ms behind the migration (timeout 300 ms)"):format(worst))
  end)

  it("fails after lock_retries attempts with a clear message, each rolled back; the database at the last committed step", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local dir = project(url, {A0, ADD_NOTE}, 'ddl_lock_timeout = 0.2\nlock_retries = 3\n')
    blocker(url, 30)
    local t0 = h.now()
    local status, _, err = h.luamig(dir, "upgrade")
    local took = h.now() - t0
    end_sessions(url)
    assert.equal(1, status)
    assert.truthy(err:find('attempt 1 of 3, next in', 1, true), err)
    assert.truthy(err:find('attempt 2 of 3, next in', 1, true), err)
    assert.truthy(err:find('canceling statement due to lock timeout', 1, true), err)
    assert.truthy(err:find('lock on "orders" not granted in 200ms, attempt 3 of 3: giving up (lock_retries = 3)', 1, true), err)
    assert.truthy(err:find("The step before it is committed: the database is at a0.", 1, true), err)
    assert.same({"a0"}, h.version_rows(url))
    assert.same({"id"}, columns(url, "orders"))
    -- three waits of 200 ms and two back-offs (100, 200 ms +-25%), not the
    -- blocker's 30 s (the margin is for a sanitizer build's start-up)
    assert.is_true(took < 10, ("the run took %.1f s"):format(took))
  end)

  it("with one transaction for the run, a retry runs the whole transaction again (and says so)", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local dir = project(url, {A0, ADD_NOTE},
      'ddl_lock_timeout = "200ms"\nlock_retries = 20\ntransaction_per_migration = false\n')
    local release = hold_lock(url)
    local bg = luamig_bg(dir, "upgrade")
    local retried = bg.wait_for("runs again from upgrade a0")
    release()
    local status, err = bg.finish()
    assert.is_true(retried, err)
    assert.equal(0, status, err)
    assert.truthy(err:find("transaction_per_migration = false: the run's transaction is rolled back and "
      .. "runs again from upgrade a0 (create t2) (2 steps)", 1, true), err)
    assert.is_true(count(err, "Running upgrade  %-> a0") >= 2, err)
    assert.same({"a1"}, h.version_rows(url))
    assert.same({"t2"}, (function()
      local t = {}
      for _, n in ipairs(h.tables(url)) do if n == "t2" then t[#t + 1] = n end end
      return t
    end)())
  end)

  it("a per-script ddl_lock_timeout and a per-run --lock-retries override the project's", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local rev = {id = "a1", message = "add note", code = true, extra = 'ddl_lock_timeout = "150ms"',
                 up = [[op.add_column("orders", {"note", "text"})]]}
    local dir = project(url, {rev}, 'ddl_lock_timeout = "10s"\nlock_retries = 10\n')
    blocker(url, 30)
    local t0 = h.now()
    local status, _, err = h.luamig(dir, "upgrade --lock-retries 2")
    local took = h.now() - t0
    end_sessions(url)
    assert.equal(1, status)
    assert.truthy(err:find('lock on "orders" not granted in 150ms, attempt 1 of 2, next in', 1, true), err)
    assert.truthy(err:find('attempt 2 of 2: giving up (lock_retries = 2)', 1, true), err)
    assert.is_true(took < 10, ("the run took %.1f s"):format(took))
    assert.same({}, h.version_rows(url))
  end)

  it("Ctrl-C during the back-off stops at once with the interrupt message and exit 130", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local dir = project(url, {ADD_NOTE, A0}, 'ddl_lock_timeout = "100ms"\nlock_retries = 20\n')
    blocker(url, 30)
    -- attempt 5's back-off: about 0.8 s (100 ms / 2 * 2^4, +-25%): SIGINT lands in it
    h.write_file(dir .. "/interrupt.sh", ([[
cd %s || exit 99
%s upgrade 2>err.txt & pid=$!
i=0; while ! grep -q 'attempt 5 of 20, next in' err.txt 2>/dev/null; do
  i=$((i+1)); [ $i -gt 1000 ] && break; sleep 0.01; done
t0=$(date +%%s.%%N); kill -INT $pid
(sleep 20; kill -KILL $pid) >/dev/null 2>&1 & watchdog=$!
wait $pid; rc=$?; t1=$(date +%%s.%%N); kill $watchdog 2>/dev/null
echo "$rc $t0 $t1"]]):format(h.shell_quote(dir), h.shell_quote(h.bin)))
    local _, out = h.run("sh " .. h.shell_quote(dir .. "/interrupt.sh"))
    local rc, t0, t1 = out:match("^(%d+) ([%d.]+) ([%d.]+)")
    local took = tonumber(t1) - tonumber(t0)
    end_sessions(url)
    local log = dir .. "/err.txt"
    local err = h.read_file(log)
    assert.equal("130", rc, err)
    assert.is_true(took < 1, ("it took %.2f s to stop"):format(took))
    assert.truthy(err:find('interrupted (Ctrl-C) while waiting to retry upgrade a1 (add note) after its lock on "orders" not granted in 100ms: the step was rolled back', 1, true), err)
    assert.truthy(err:find("The step before it is committed: the database is at a0.", 1, true), err)
    assert.same({"a0"}, h.version_rows(url))
    assert.same({"id"}, columns(url, "orders"))
  end)

  it("only 55P03 is retried: a statement_timeout or an SQL error fails at the first attempt", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local slow = {id = "s1", message = "slow", up = "SELECT pg_sleep(30)"}
    local dir = project(url, {slow}, 'statement_timeout = "200ms"\n')
    local t0 = h.now()
    local status, _, err = h.luamig(dir, "upgrade")
    assert.equal(1, status)
    assert.is_true(h.now() - t0 < 10)   -- not the statement's 30 s
    assert.truthy(err:find("canceling statement due to statement timeout", 1, true), err)
    assert.is_nil(err:find("attempt", 1, true), err)

    local bad = {id = "b1", message = "bad", up = "ALTER TABLE orders ADD COLUMN id integer"}
    dir = project(url, {bad})
    status, _, err = h.luamig(dir, "upgrade")
    assert.equal(1, status)
    assert.truthy(err:find('column "id" of relation "orders" already exists', 1, true), err)
    assert.is_nil(err:find("attempt", 1, true), err)
    assert.same({}, h.version_rows(url))
  end)

  it("a transactional = false step is not retried, and says so; its own header's SET applied to it (it waited only that)", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local rev = {id = "n1", message = "outside", code = true, extra = 'transactional = false\nddl_lock_timeout = "200ms"',
                 up = [[op.execute("ALTER TABLE orders ADD COLUMN note text")]]}
    local dir = project(url, {rev}, 'ddl_lock_timeout = "5s"\nlock_retries = 5\n')
    blocker(url, 30)
    local t0 = h.now()
    local status, _, err = h.luamig(dir, "upgrade")
    local took = h.now() - t0
    end_sessions(url)
    assert.equal(1, status)
    assert.truthy(err:find('lock on "orders" not granted in 200ms; not retried: this step runs outside a '
      .. 'transaction (transactional = false)', 1, true), err)
    assert.is_nil(err:find("attempt", 1, true), err)
    assert.is_true(took < 10, ("the run took %.1f s"):format(took))
    assert.same({}, h.version_rows(url))
  end)

  it("a step whose op.autocommit_block committed part of it is not retried, and says so", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    -- the timeout in the script's header: after a block the project's
    -- does not apply (attack B 5)
    local rev = {id = "p1", message = "partial", code = true, extra = 'ddl_lock_timeout = "200ms"', up = [[
  op.autocommit_block(function() op.execute("CREATE TABLE early (id integer)") end)
  op.add_column("orders", {"note", "text"})]]}
    local dir = project(url, {rev}, 'lock_retries = 5\n')
    blocker(url, 30)
    local status, _, err = h.luamig(dir, "upgrade")
    end_sessions(url)
    assert.equal(1, status)
    assert.truthy(err:find("not retried: an op.autocommit_block committed part of this step", 1, true), err)
    assert.is_nil(err:find("attempt 1", 1, true), err)
    assert.same({}, h.version_rows(url))
  end)
end)

describe("--sql", function()
  local url = "postgresql://nobody@localhost/offline"
  it("writes SET LOCAL lock_timeout (and statement_timeout) after each step's BEGIN; script and run values override", function()
    local revs = {
      {id = "r1", message = "one", up = "CREATE TABLE t1 (id integer)"},
      {id = "r2", down = "r1", message = "two", up = "CREATE TABLE t2 (id integer)", extra = 'ddl_lock_timeout = "5s"'},
      {id = "r3", down = "r2", message = "three", up = "CREATE TABLE t3 (id integer)", extra = "ddl_lock_timeout = false"},
      {id = "r4", down = "r3", message = "four", up = "CREATE TABLE t4 (id integer)", extra = "transactional = false"},
      {id = "r5", down = "r4", message = "five", up = "CREATE TABLE t5 (id integer)",
       extra = 'transactional = false\nddl_lock_timeout = "1s"'},
    }
    local dir = project(url, revs, 'statement_timeout = "1min"\n')
    local status, out, err = h.luamig(dir, "upgrade --sql")
    assert.equal(0, status, err)
    local function step(id)
      return out:match("%-%- Running upgrade [^\n]*%-> " .. id .. "\n(.-)%-%- Running") or
             out:match("%-%- Running upgrade [^\n]*%-> " .. id .. "\n(.*)$")
    end
    -- the default ddl_lock_timeout is not written offline (attack B 7):
    -- only the project's, the script's and the run's values
    assert.truthy(step("r1"):find("\n\nSET LOCAL statement_timeout = '1min';\n\nCREATE TABLE t1", 1, true), out)
    assert.is_nil(step("r1"):find("SET LOCAL lock_timeout", 1, true), out)
    assert.truthy(step("r2"):find("SET LOCAL lock_timeout = '5s';", 1, true), out)
    assert.is_nil(step("r3"):find("lock_timeout", 1, true), out)
    assert.truthy(step("r3"):find("SET LOCAL statement_timeout = '1min';", 1, true), out)
    -- outside a transaction: only the script's own values, as a session
    -- SET taken back after the step (the project's do not apply there)
    assert.is_nil(step("r4"):find("_timeout", 1, true), out)
    assert.truthy(step("r5"):find("SET lock_timeout = '1s';\n\nCREATE TABLE t5 (id integer);\n\n"
      .. "RESET lock_timeout;\n\n", 1, true), out)
    assert.is_nil(step("r5"):find("statement_timeout", 1, true), out)
    assert.truthy(out:find("BEGIN;\n\n%-%- Running upgrade  %-> r1\n\n%-%- A statement that runs into "
      .. "the lock_timeout or statement_timeout set below fails.-step%.\n\nSET LOCAL"), out)

    -- downgrade too, with its own option
    status, out, err = h.luamig(dir, "downgrade r2:r1 --sql --ddl-lock-timeout 3s")
    assert.equal(0, status, err)
    assert.truthy(out:find("BEGIN;\n\n%-%- Running downgrade r2 %-> r1\n\n%-%- A statement.-step%.\n\n"
      .. "SET LOCAL lock_timeout = '3s';\n\n"
      .. "SET LOCAL statement_timeout = '1min';"), out)

    status, out, err = h.luamig(dir, "upgrade --sql --ddl-lock-timeout 750ms --statement-timeout 0")
    assert.equal(0, status, err)
    assert.equal(3, count(out, "SET LOCAL lock_timeout = '750ms'"), out)
    assert.equal(3, count(out, "SET LOCAL statement_timeout = '0ms'"), out)
    assert.equal(1, count(out, "SET lock_timeout = '1s'"), out)
    assert.is_nil(out:find("'5s'", 1, true))
  end)

  it("SQLite: the settings are accepted, have no effect, and a run says so", function()
    local sqlite_url = h.fresh_sqlite()
    local dir = project(sqlite_url, {{id = "q1", message = "one", up = "CREATE TABLE t1 (id integer)",
                                      extra = 'ddl_lock_timeout = "1s"'}}, "lock_retries = 3\n")
    local status, out, err = h.luamig(dir, "upgrade --sql")
    assert.equal(0, status, err)
    assert.is_nil(out:find("SET", 1, true), out)
    status, _, err = h.luamig(dir, "upgrade")
    assert.equal(0, status, err)
    assert.truthy(err:find("ddl_lock_timeout, statement_timeout and lock_retries have no effect on SQLite", 1, true), err)
    assert.same({"q1"}, h.version_rows(sqlite_url))
    -- with the defaults alone, nothing is said
    local dir2 = project(h.fresh_sqlite(), {{id = "q1", message = "one", up = "CREATE TABLE t1 (id integer)"}})
    status, _, err = h.luamig(dir2, "upgrade")
    assert.equal(0, status, err)
    assert.is_nil(err:find("no effect", 1, true), err)
  end)
end)

describe("bad forms, refused before anything is sent", function()
  local rev = {id = "x1", message = "one", up = "CREATE TABLE t1 (id integer)"}
  local cases = {
    {'ddl_lock_timeout = "2"', 'luamig.lua: ddl_lock_timeout: "2" has no unit: write "2s" for seconds or "2ms"'},
    {'ddl_lock_timeout = "5 parsecs"', "unknown unit 'parsecs' (ms, s, min, h, d)"},
    {'ddl_lock_timeout = -1', "ddl_lock_timeout: -1 is not a number of seconds"},
    {'statement_timeout = 0/0', "statement_timeout:"},
    {'statement_timeout = "30d"', "more than PostgreSQL allows"},
    {'statement_timeout = 0.0001', "less than a millisecond; use 0 for no limit"},
    {'ddl_lock_timeout = {}', "ddl_lock_timeout: a table is not"},
    {'lock_retries = 0', "lock_retries: 0 is not a whole number of attempts from 1 to 1000 (1: no retry)"},
    {'lock_retries = 2.5', "lock_retries: 2.5 is not a whole number"},
    {'lock_retries = "3"', 'lock_retries: "3" is not'},
  }
  for _, case in ipairs(cases) do
    it("luamig.lua: " .. case[1], function()
      local sqlite_url, path = h.fresh_sqlite()
      local dir = project(sqlite_url, {rev}, case[1] .. "\n")
      local status, _, err = h.luamig(dir, "upgrade")
      assert.equal(1, status, err)
      assert.truthy(err:find(case[2], 1, true), err)
      assert.is_false(h.file_exists(path))
    end)
  end

  it("a script's header: the error names the file, and nothing runs", function()
    local _, url = h.fresh_pg()
    local bad = {id = "x2", down = "x1", message = "two", up = "CREATE TABLE t2 (id integer)", extra = 'ddl_lock_timeout = "fast"'}
    local dir = project(url, {rev, bad})
    local status, _, err = h.luamig(dir, "upgrade")
    assert.equal(1, status, err)
    assert.truthy(err:find('migrations/versions/x2.lua: ddl_lock_timeout: "fast" is not a number of seconds', 1, true), err)
    assert.same({}, h.tables(url))
    -- a function is refused as the script loads
    h.write_file(dir .. "/migrations/versions/x2.lua", h.script{id = "x2", down = "x1", message = "two",
      up = "CREATE TABLE t2 (id integer)", extra = "lock_retries = function() end"})
    status, _, err = h.luamig(dir, "upgrade")
    assert.equal(1, status, err)
    assert.truthy(err:find("x2.lua: lock_retries must be a whole number of attempts, not a function", 1, true), err)
    assert.same({}, h.tables(url))
  end)

  it("options: a usage error, exit 2", function()
    local dir = project(h.fresh_sqlite(), {rev})
    for args, want in pairs{
      ["--lock-retries 0"] = "--lock-retries: 0 is not a whole number of attempts from 1 to 1000",
      ["--lock-retries x"] = "--lock-retries: \"x\" is not",
      ["--ddl-lock-timeout 3"] = '--ddl-lock-timeout: "3" has no unit',
      ["--statement-timeout 1e3s"] = '--statement-timeout: "1e3s" is not',
      ["--ddl-lock-timeout ''"] = '--ddl-lock-timeout: "" is not',
    } do
      local status, _, err = h.luamig(dir, "upgrade " .. args)
      assert.equal(2, status, args .. ": " .. err)
      assert.truthy(err:find(want, 1, true), args .. ": " .. err)
    end
  end)
end)

h.each_db(function(db)
  describe("a failed op.autocommit_block that the script catches", function()
    local function rev(after)
      return {id = "c1", message = "caught", code = true, up = ([[
  op.execute("CREATE TABLE before_block (id integer)")
  local ok = pcall(op.autocommit_block, function()
    op.execute("CREATE TABLE in_block (id integer)")
    op.execute("SELECT no_such_column FROM in_block")
  end)
  assert(not ok, "the block should have failed")
  assert(op.get_bind():in_transaction(), "the rest of the step runs outside a transaction")
  op.execute("CREATE TABLE after_block (id integer)")
  %s]]):format(after or "")}
    end

    it("the rest of the step and its version row run in a transaction again", function()
      local url = db.url()
      local dir = project(url, {rev()})
      local status, _, err = h.luamig(dir, "upgrade")
      assert.equal(0, status, err)
      assert.same({"c1"}, h.version_rows(url))
      local names = {}
      for _, n in ipairs(h.tables(url)) do names[n] = true end
      assert.is_true(names.before_block and names.in_block and names.after_block)
    end)

    it("a failure after it rolls back what ran after the block (atomic), and records nothing", function()
      local url = db.url()
      local dir = project(url, {rev('op.execute("SELECT * FROM no_such_table")')})
      local status, _, err = h.luamig(dir, "upgrade")
      assert.equal(1, status, err)
      local names = {}
      for _, n in ipairs(h.tables(url)) do names[n] = true end
      assert.is_true(names.before_block and names.in_block)     -- committed by the block
      assert.is_nil(names.after_block)                          -- rolled back with the step
      assert.same({}, h.version_rows(url))
    end)
  end)
end)

describe("[postgresql] 55P03 without a timeout", function()
  it("a NOWAIT lock that fails is retried as well, and the message says lock_not_available", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local dir = project(url, {{id = "w1", message = "nowait", up = "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE NOWAIT"}},
      "ddl_lock_timeout = false\nlock_retries = 2\n")
    local bc = admin(url)
    bc:exec("BEGIN")
    bc:exec("LOCK TABLE orders IN ACCESS SHARE MODE")
    local status, out, err = h.luamig(dir, "upgrade")
    bc:exec("ROLLBACK")
    bc:close()
    assert.equal(1, status)
    assert.truthy(err:find('upgrade w1 (nowait): lock on "orders" not granted (lock_not_available), attempt 1 of 2, next in', 1, true), err)
    assert.truthy(err:find('attempt 2 of 2: giving up', 1, true), err)
    -- nothing was set: the database's own lock_timeout
    status, out = h.luamig(dir, "upgrade --sql")
    assert.equal(0, status)
    assert.is_nil(out:find("lock_timeout", 1, true), out)
  end)
end)

describe("the embedding API", function()
  it("Runner:upgrade takes the run's values, checked as the options are", function()
    local luamig = require "luamig"
    local sqlite_url = h.fresh_sqlite()
    local dir = project(sqlite_url, {{id = "e1", message = "one", up = "CREATE TABLE t1 (id integer)"}})
    local m = luamig.open{config = dir .. "/luamig.lua", log = function() end}
    local err = h.error_of(m.upgrade, m, "head", {lock_retries = 0})
    assert.truthy(tostring(type(err) == "table" and err.message or err):find("lock_retries: 0 is not a whole number", 1, true))
    assert.same({}, h.version_rows(sqlite_url))
    m:upgrade("head", {ddl_lock_timeout = "1s", lock_retries = 3})
    assert.same({"e1"}, h.version_rows(sqlite_url))
    m:close()
    err = h.error_of(luamig.open, {config = dir .. "/luamig.lua", ddl_lock_timeout = "soon", log = function() end})
    assert.truthy(tostring(type(err) == "table" and err.message or err):find('ddl_lock_timeout: "soon" is not', 1, true))
  end)
end)

describe("the table named in the retry message", function()
  -- lm_run_locked_table through the messages: parsed from the failed statement
  it("is read from ALTER, CREATE INDEX, LOCK, DROP, quoted and qualified names", function()
    local _, url = h.fresh_pg()
    local c = admin(url)
    c:exec([[CREATE SCHEMA app; CREATE TABLE app."We""ird Orders" (id integer); CREATE TABLE orders (id integer)]])
    c:close()
    local cases = {
      {[[op.execute('ALTER TABLE IF EXISTS ONLY app."We""ird Orders" ADD COLUMN x int')]], [[lock on "app.We""ird Orders"]]},
      {[[op.execute('/* c */ create index on ORDERS (id)')]], [[lock on "orders"]]},
      {[[op.execute("LOCK TABLE orders IN SHARE MODE")]], [[lock on "orders"]]},
      {[[op.execute("DROP TABLE orders")]], [[lock on "orders"]]},
    }
    for i, case in ipairs(cases) do
      local dir = project(url, {{id = "k" .. i, message = "k", code = true, up = case[1]}},
        -- lint_on_upgrade off: the lint's table-size read (SELECT count(*))
        -- waits, without a limit, behind the ACCESS EXCLUSIVE below
        'ddl_lock_timeout = "50ms"\nlock_retries = 1\nlint_on_upgrade = "off"\n')
      -- ACCESS EXCLUSIVE blocks even the CREATE INDEX's SHARE lock
      local bc = admin(url)
      bc:exec([[BEGIN; LOCK TABLE orders, app."We""ird Orders" IN ACCESS EXCLUSIVE MODE]])
      local status, _, err = h.luamig(dir, "upgrade")
      bc:exec("ROLLBACK")
      bc:close()
      assert.equal(1, status, err)
      assert.truthy(err:find(case[2] .. " not granted in 50ms, attempt 1 of 1: giving up", 1, true), err)
    end
  end)
end)

-- /work/wt/ATTACK17B.md: an outside attack on the lock timeouts and retries.
describe("outside attack B", function()
  -- 1: a retried step ran upgrade(op) again in the same Lua state, so what
  -- the script's top level built carried over from the rolled-back attempt
  -- (rows inserted twice; an exhausted iterator inserting nothing while
  -- the revision was recorded). Each attempt now runs the script afresh.
  local TOP = {
    rows = {[[
local rows = {}
local function add(name) rows[#rows + 1] = {id = #rows + 1, name = name} end]],
      [[add("FR"); add("DE")
  op.bulk_insert("seed", rows)]], {{id = "1", name = "FR"}, {id = "2", name = "DE"}}},
    iterator = {[[
local i = 0
local gen = function() i = i + 1; if i <= 3 then return {id = i, name = "n" .. i} end end]],
      [[op.bulk_insert("seed", gen)]],
      {{id = "1", name = "n1"}, {id = "2", name = "n2"}, {id = "3", name = "n3"}}},
  }
  for _, kind in ipairs({"rows", "iterator"}) do
    for _, per_step in ipairs({true, false}) do
      it(("[postgresql] 1: a retry reruns the script afresh: top-level %s, transaction_per_migration = %s")
          :format(kind, tostring(per_step)), function()
        local _, url = h.fresh_pg()
        setup_orders(url)
        local c = admin(url)
        c:exec("CREATE TABLE seed (id integer, name text)")
        c:close()
        local top, call, want = TOP[kind][1], TOP[kind][2], TOP[kind][3]
        -- one transaction for the run: the seed in the step before the
        -- blocked one (it runs again too); else both in the blocked step
        local revs = per_step
          and {{id = "a1", message = "seed", code = true, extra = top,
                up = call .. '\n  op.add_column("orders", {"c", "integer"})'}}
          or {{id = "a0", message = "seed", code = true, extra = top, up = call},
              {id = "a1", down = "a0", message = "add c", code = true,
               up = 'op.add_column("orders", {"c", "integer"})'}}
        local dir = project(url, revs, ('ddl_lock_timeout = "200ms"\nlock_retries = 20\n'
          .. 'transaction_per_migration = %s\n'):format(tostring(per_step)))
        local release = hold_lock(url)
        local bg = luamig_bg(dir, "upgrade")
        local retried = bg.wait_for("attempt 2 of 20, next in")
        release()
        local status, err = bg.finish()
        assert.is_true(retried, err)
        assert.equal(0, status, err)
        assert.same({"a1"}, h.version_rows(url))
        assert.same(want, h.query(url, "SELECT id::text AS id, name FROM seed ORDER BY id"))
        assert.same({"id", "c"}, columns(url, "orders"))
      end)
    end
  end

  -- 2: with one transaction for the run, a step's SET LOCAL stayed in
  -- force for the later steps, which set none of their own.
  local R3 = {id = "r3", message = "header", code = true, extra = 'statement_timeout = "1s"',
              up = 'op.add_column("orders", {"n3", "integer"})'}
  local R4 = {id = "r4", down = "r3", message = "plain", code = true, extra = "ddl_lock_timeout = false",
              up = 'op.execute("SELECT pg_sleep(1.3)")'}

  it("[postgresql] 2: transaction_per_migration = false: a later step gets none of an earlier step's timeouts", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local dir = project(url, {R3, R4}, "transaction_per_migration = false\n")
    local status, _, err = h.luamig(dir, "upgrade")
    assert.equal(0, status, err)
    assert.same({"r4"}, h.version_rows(url))
    assert.same({"id", "n3"}, columns(url, "orders"))
  end)

  it("2: --sql: a step that sets none restores each value SET LOCAL before it in the transaction", function()
    local dir = project("postgresql://u@localhost/x", {R3, R4},
      'transaction_per_migration = false\nddl_lock_timeout = "2s"\n')
    local status, out, err = h.luamig(dir, "upgrade --sql")
    assert.equal(0, status, err)
    local r3 = out:match("Running upgrade  %-> r3.-Running upgrade") or ""
    local r4 = out:match("Running upgrade r3 %-> r4.*") or ""
    assert.truthy(r3:find("SET LOCAL lock_timeout = '2s';", 1, true), out)
    assert.truthy(r3:find("SET LOCAL statement_timeout = '1s';", 1, true), out)
    assert.truthy(r4:find("SET LOCAL lock_timeout TO DEFAULT;\n\nSET LOCAL statement_timeout TO DEFAULT;", 1, true), out)
    assert.is_nil(r4:find("_timeout = '", 1, true), out)
    -- with a transaction per step, nothing to restore: no DEFAULT written
    dir = project("postgresql://u@localhost/x", {R3, R4})
    status, out = h.luamig(dir, "upgrade --sql")
    assert.equal(0, status)
    assert.is_nil(out:find("TO DEFAULT", 1, true), out)
  end)

  -- 3: with one transaction for the run, a failure after an earlier
  -- step's op.autocommit_block said "Nothing of this run is committed".
  it("[postgresql] 3: a failure after an earlier step's op.autocommit_block says what is committed", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local dir = project(url, {
      {id = "b1", message = "acb", code = true, up = [[op.add_column("orders", {"n6", "integer"})
  op.autocommit_block(function()
    op.create_index("ix_orders_id", "orders", {"id"}, {postgresql_concurrently = true})
  end)
  op.add_column("orders", {"n6b", "integer"})]]},
      {id = "b2", down = "b1", message = "after acb", up = "SELEC 1"},
    }, "transaction_per_migration = false\n")
    local status, _, err = h.luamig(dir, "upgrade")
    assert.equal(1, status, err)
    assert.is_nil(err:find("Nothing of this run is committed", 1, true), err)
    assert.truthy(err:find("Part of this run is committed: upgrade b1 (acb) used op.autocommit_block, "
      .. "which committed the run's transaction (transaction_per_migration = false)", 1, true), err)
    assert.truthy(err:find("the version table still says base. Check the database, then either undo "
      .. "that part of upgrade b1 (acb) by hand and run again, or finish it by hand, `luamig stamp b1`, "
      .. "and run again.", 1, true), err)
    assert.same({}, h.version_rows(url))
    assert.same({"id", "n6"}, columns(url, "orders"))
    assert.same({{n = "1"}}, h.query(url, "SELECT count(*)::text AS n FROM pg_indexes WHERE indexname = 'ix_orders_id'"))
  end)

  -- 5: after an op.autocommit_block committed part of a step, the project's
  -- 2 s default turned a wait (that used to succeed) into a half-applied,
  -- unretryable step. There only the script's own ddl_lock_timeout applies.
  local ACB = {id = "c1", message = "acb", code = true, up = [[op.execute("CREATE TABLE t9 (id integer)")
  op.autocommit_block(function() op.execute("SELECT 1") end)
  op.add_column("orders", {"n6", "integer"})]]}

  it("[postgresql] 5: after a step's op.autocommit_block the project's ddl_lock_timeout does not apply: the step waits and completes", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local dir = project(url, {ACB}, 'ddl_lock_timeout = "200ms"\n')
    local release = hold_lock(url)
    local bg = luamig_bg(dir, "upgrade --ddl-lock-timeout 100ms")
    local blocked = bg.wait_for("ran outside a transaction (op.autocommit_block)")
    os.execute("sleep 0.7")                             -- well past both timeouts
    release()
    local status, err = bg.finish()
    assert.is_true(blocked, err)
    assert.equal(0, status, err)
    assert.is_nil(err:find("not granted", 1, true), err)
    assert.same({"c1"}, h.version_rows(url))
    assert.same({"id", "n6"}, columns(url, "orders"))
  end)

  it("[postgresql] 5: the script header's own ddl_lock_timeout still applies after the block (not retried, says so)", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local rev = setmetatable({extra = 'ddl_lock_timeout = "150ms"'}, {__index = ACB})
    local dir = project(url, {rev}, 'ddl_lock_timeout = "10s"\n')
    local release = hold_lock(url)
    local status, _, err = h.luamig(dir, "upgrade")
    release()
    assert.equal(1, status, err)
    assert.truthy(err:find('lock on "orders" not granted in 150ms; not retried: an op.autocommit_block '
      .. "committed part of this step", 1, true), err)
    assert.same({}, h.version_rows(url))
  end)

  it("5: --sql: no project or run lock_timeout after a block's BEGIN; the script's own, if any", function()
    local dir = project("postgresql://u@localhost/x", {ACB}, 'ddl_lock_timeout = "3s"\n')
    local status, out, err = h.luamig(dir, "upgrade --sql")
    assert.equal(0, status, err)
    local after = out:match("SELECT 1;.-BEGIN;(.*)") or ""
    assert.truthy(after:find('ALTER TABLE "orders" ADD COLUMN "n6" integer;', 1, true), out)
    assert.is_nil(after:find("lock_timeout", 1, true), out)
    assert.equal(1, count(out, "SET LOCAL lock_timeout = '3s';"), out)
  end)

  -- 7: --sql wrote the default 2 s lock timeout into every transaction,
  -- which nothing retries offline (psql -f went on after a failed step).
  it("7: --sql writes no default ddl_lock_timeout; an explicit one (project, script, run) with a note on ON_ERROR_STOP, once", function()
    local revs = {{id = "d1", message = "one", up = "CREATE TABLE t1 (id integer)"},
                  {id = "d2", down = "d1", message = "two", up = "CREATE TABLE t2 (id integer)"}}
    local note = "-- A statement that runs into the lock_timeout or statement_timeout set below fails, and\n"
      .. "-- nothing retries it offline. Run this script so that an error stops it\n"
      .. "-- (psql -v ON_ERROR_STOP=1 -f FILE): else psql goes on with the next step."
    local dir = project("postgresql://u@localhost/x", revs)
    local status, out, err = h.luamig(dir, "upgrade --sql")
    assert.equal(0, status, err)
    assert.is_nil(out:find("_timeout", 1, true), out)
    assert.is_nil(out:find("ON_ERROR_STOP", 1, true), out)
    -- set in the project (even to the default's value): written, the note once
    dir = project("postgresql://u@localhost/x", revs, 'ddl_lock_timeout = "2s"\n')
    status, out, err = h.luamig(dir, "upgrade --sql")
    assert.equal(0, status, err)
    assert.equal(2, count(out, "SET LOCAL lock_timeout = '2s';"), out)
    assert.equal(1, count(out, "ON_ERROR_STOP"), out)
    assert.truthy(out:find(note .. "\n\nSET LOCAL lock_timeout = '2s';", 1, true), out)
    -- by the run, or a script's header
    dir = project("postgresql://u@localhost/x", {revs[1], setmetatable({extra = 'ddl_lock_timeout = "4s"'},
      {__index = revs[2]})})
    status, out = h.luamig(dir, "upgrade d1 --sql")
    assert.equal(0, status)
    assert.is_nil(out:find("_timeout", 1, true), out)
    status, out = h.luamig(dir, "upgrade --sql")
    assert.equal(0, status)
    assert.equal(1, count(out, "SET LOCAL lock_timeout = '4s';"), out)
    assert.equal(1, count(out, "ON_ERROR_STOP"), out)
    status, out = h.luamig(dir, "upgrade d1 --sql --ddl-lock-timeout 1s")
    assert.equal(0, status)
    assert.equal(1, count(out, "SET LOCAL lock_timeout = '1s';"), out)
    -- online the default still applies (the retry is there)
  end)

  -- 6: lock_timeout also ends a row-lock wait (an UPDATE behind another
  -- transaction's row): the message blamed a table lock nobody held.
  it("[postgresql] 6: a row-lock wait that times out: the message does not claim a table lock", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local dir = project(url, {{id = "e1", message = "backfill", up = "UPDATE orders SET id = 10 WHERE id = 1"}},
      'ddl_lock_timeout = "100ms"\nlock_retries = 2\n')
    local bc = admin(url)
    bc:exec("BEGIN")
    bc:exec("UPDATE orders SET id = 11 WHERE id = 1")
    -- the holder has no lock on the table that conflicts: ROW EXCLUSIVE only
    assert.same({{mode = "RowExclusiveLock"}}, h.query(url, [[SELECT l.mode FROM pg_locks l JOIN pg_class t
      ON t.oid = l.relation WHERE t.relname = 'orders' AND l.pid <> pg_backend_pid()]]))
    local status, _, err = h.luamig(dir, "upgrade")
    bc:exec("ROLLBACK")
    bc:close()
    assert.equal(1, status, err)
    assert.truthy(err:find('lock on "orders" (the table\'s, or a row\'s that another transaction holds) '
      .. "not granted in 100ms, attempt 2 of 2: giving up (lock_retries = 2)", 1, true), err)
    assert.truthy(err:find("Another session holds a lock the statement needs, on a table or on rows", 1, true), err)
    assert.is_nil(err:find("lock on the table", 1, true), err)
    assert.same({}, h.version_rows(url))
  end)

  -- 9: the COPY of op.bulk_insert: the table is named
  it("[postgresql] 9: a bulk_insert blocked at its COPY names the table", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local dir = project(url, {{id = "e2", message = "bulk", code = true,
      up = 'op.bulk_insert("orders", {{id = 5}, {id = 6}})'}},
      'ddl_lock_timeout = "100ms"\nlock_retries = 1\n')
    local bc = admin(url)
    bc:exec("BEGIN")
    bc:exec("LOCK TABLE orders IN EXCLUSIVE MODE")      -- blocks writers, not readers
    local status, _, err = h.luamig(dir, "upgrade")
    bc:exec("ROLLBACK")
    bc:close()
    assert.equal(1, status, err)
    assert.truthy(err:find('lock on "orders" (the table\'s, or a row\'s that another transaction holds) '
      .. "not granted in 100ms, attempt 1 of 1: giving up", 1, true), err)
    assert.is_nil(err:find("to the statement COPY", 1, true), err)
    assert.same({{n = "2"}}, h.query(url, "SELECT count(*)::text AS n FROM orders"))
  end)

  -- 10: option and value handling
  it("10: the option's error says off (the CLI word), not false", function()
    local dir = project("postgresql://u@localhost/x", {{id = "f1", up = "SELECT 1"}})
    local status, _, err = h.luamig(dir, "upgrade --sql --ddl-lock-timeout bogus")
    assert.equal(2, status, err)
    assert.truthy(err:find("off to leave the database's own", 1, true), err)
    assert.is_nil(err:find("false to leave", 1, true), err)
    status = h.luamig(dir, "upgrade --sql --ddl-lock-timeout off")
    assert.equal(0, status)
  end)

  it("10: lock_retries = 1.0 or 20/2 is a whole number; 1.5 is not", function()
    for _, case in ipairs({{"1.0", 0}, {"20/2", 0}, {"1.5", 1}}) do
      local dir = project("postgresql://u@localhost/x", {{id = "f1", up = "SELECT 1"}},
        "lock_retries = " .. case[1] .. "\n")
      local status, _, err = h.luamig(dir, "upgrade --sql")
      assert.equal(case[2], status, case[1] .. ": " .. err)
      if case[2] == 1 then assert.truthy(err:find("1.5 is not a whole number of attempts", 1, true), err) end
    end
  end)

  it("10: luamig init's luamig.lua lists the lock settings, commented, with their defaults", function()
    local dir = h.tmpdir()
    local status, _, err = h.luamig(dir, "init migrations")
    assert.equal(0, status, err)
    local text = h.read_file(dir .. "/luamig.lua")
    assert.truthy(text:find('\n%-%- ddl_lock_timeout = "2s"\n'), text)
    assert.truthy(text:find("\n%-%- lock_retries = 10\n"), text)
    assert.truthy(text:find("\n%-%- statement_timeout = false\n"), text)
    assert.truthy(text:find("\n%-%- lock_timeout = 300\n"), text)
    -- uncommented, each is a valid setting
    h.write_file(dir .. "/luamig.lua", (text:gsub("\n%-%- (ddl_lock_timeout)", "\n%1")
      :gsub("\n%-%- (lock_retries)", "\n%1"):gsub("\n%-%- (statement_timeout)", "\n%1")))
    status, _, err = h.luamig(dir, "upgrade --sql")
    assert.equal(0, status, err)
    assert.is_nil(err:find("unknown setting", 1, true), err)
  end)

  it("10: a misspelled setting in a script's header is warned about, with the name meant", function()
    local dir = project("postgresql://u@localhost/x", {{id = "f1", up = "SELECT 1",
      extra = 'ddl_lock_timout = "30s"\nstatment_timeout = "1s"\nlocal_note = "not a setting"'}})
    local status, _, err = h.luamig(dir, "upgrade --sql")
    assert.equal(0, status, err)
    assert.truthy(err:find("migrations/versions/f1.lua: 'ddl_lock_timout' is not a setting and is ignored; "
      .. "did you mean 'ddl_lock_timeout'?", 1, true), err)
    assert.truthy(err:find("'statment_timeout' is not a setting and is ignored; did you mean "
      .. "'statement_timeout'?", 1, true), err)
    assert.is_nil(err:find("local_note", 1, true), err)
  end)

  it("10: the same misspelling in two scripts is warned about in each (one search per name)", function()
    local dir = project("postgresql://u@localhost/x", {
      {id = "f1", up = "SELECT 1", extra = 'ddl_lock_timout = "30s"'},
      {id = "f2", down = "f1", up = "SELECT 2", extra = 'ddl_lock_timout = "30s"'}})
    local status, _, err = h.luamig(dir, "upgrade --sql")
    assert.equal(0, status, err)
    for _, f in ipairs{"f1", "f2"} do
      assert.truthy(err:find(("migrations/versions/%s.lua: 'ddl_lock_timout' is not a setting"):format(f), 1, true), err)
    end
  end)

  it("10: SQLite: the no-effect notice only when a step of the run, the project or the run sets one", function()
    local url = h.fresh_sqlite()
    local dir = project(url, {{id = "q1", message = "one", up = "CREATE TABLE t1 (id integer)",
                               extra = 'ddl_lock_timeout = "1s"'},
                              {id = "q2", down = "q1", message = "two", up = "CREATE TABLE t2 (id integer)"}})
    local notice = "have no effect on SQLite"
    local status, _, err = h.luamig(dir, "upgrade q1")
    assert.equal(0, status, err)
    assert.equal(1, count(err, notice), err)
    status, _, err = h.luamig(dir, "upgrade")              -- q2 only: nothing set
    assert.equal(0, status, err)
    assert.is_nil(err:find(notice, 1, true), err)
    assert.same({"q2"}, h.version_rows(url))
    status, _, err = h.luamig(dir, "downgrade q1 --lock-retries 2")   -- by the run
    assert.equal(0, status, err)
    assert.equal(1, count(err, notice), err)
  end)

  -- 8: a lock timeout on the step's version-table write was not retried
  it("[postgresql] 8: the version row held by another session: the step is retried like its own statements, the table named", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local dir = project(url, {A0, ADD_NOTE}, 'ddl_lock_timeout = "200ms"\nlock_retries = 20\n')
    local status, _, err = h.luamig(dir, "upgrade a0")
    assert.equal(0, status, err)
    local bc = admin(url)
    bc:exec("BEGIN")
    bc:query("SELECT * FROM luamig_version FOR UPDATE")
    local bg = luamig_bg(dir, "upgrade")
    local retried = bg.wait_for("attempt 2 of 20, next in")
    bc:exec("ROLLBACK")
    bc:close()
    local status2, err2 = bg.finish()
    assert.is_true(retried, err2)
    assert.equal(0, status2, err2)
    assert.truthy(err2:find('upgrade a1 (add note): lock on "luamig_version" (the table\'s, or a row\'s that '
      .. "another transaction holds) not granted in 200ms, attempt 1 of 20", 1, true), err2)
    assert.same({"a1"}, h.version_rows(url))
    assert.same({"id", "note"}, columns(url, "orders"))
  end)

  -- 9: a statement_timeout that ends a lock wait before ddl_lock_timeout
  it("[postgresql] 9: a statement_timeout not above ddl_lock_timeout: the failure says why it was not retried", function()
    local _, url = h.fresh_pg()
    setup_orders(url)
    local dir = project(url, {A0, ADD_NOTE}, 'ddl_lock_timeout = "1s"\nstatement_timeout = "150ms"\nlock_retries = 5\n')
    local release = hold_lock(url)
    local status, _, err = h.luamig(dir, "upgrade")
    release()
    assert.equal(1, status, err)
    assert.truthy(err:find("canceling statement due to statement timeout", 1, true), err)
    assert.truthy(err:find("statement_timeout is not above ddl_lock_timeout: if the statement was waiting "
      .. "for a lock, the statement timeout ended the wait first, and that is not retried", 1, true), err)
    assert.is_nil(err:find("attempt 1", 1, true), err)
    -- above it: no such note
    _, url = h.fresh_pg()
    dir = project(url, {{id = "a2", message = "slow", up = "SELECT pg_sleep(0.5)"}},
      'ddl_lock_timeout = "100ms"\nstatement_timeout = "200ms"\n')
    status, _, err = h.luamig(dir, "upgrade")
    assert.equal(1, status, err)
    assert.is_nil(err:find("is not above ddl_lock_timeout", 1, true), err)
  end)
end)
