-- The run lock's strategies (lock = "advisory" | "table" | "none") and
-- `luamig lock status|break`, through a real PgBouncer in transaction
-- pooling mode (spec/pgbouncer.sh) in front of the suite's cluster:
-- 8 concurrent runs with the lease, a holder killed (SIGKILL) and one
-- stopped past its lease (SIGSTOP) are taken over, the stopped one never
-- writes after losing the lease; the advisory lock is refused through the
-- pooler; SQLite's cases. The long versions are `make stress`
-- (spec/stress/lease.lua).
local h = require "spec.helpers"
local core = require "luamig.core"
local lease = dofile(h.root .. "/spec/stress/lease.lua")

local function has(text, s) return text:find(s, 1, true) ~= nil end

-- A one-migration project; config: luamig.lua's text.
local function small_project(config)
  return h.project({{id = "a1", up = "CREATE TABLE t1 (id INTEGER)", down_sql = "DROP TABLE t1"}}, config)
end

describe("lock = \"table\" through PgBouncer (pool_mode=transaction)", function()
  local dir, port
  setup(function()
    dir = h.tmpdir()
    os.execute("chmod 755 " .. h.shell_quote(dir))    -- pgbouncer runs as postgres
    port = lease.start_pgbouncer(dir .. "/pgbouncer", h.pg_admin_url)
  end)
  teardown(function() if dir then lease.stop_pgbouncer(dir .. "/pgbouncer") end end)

  local function pooled()
    local name = h.fresh_pg()
    return lease.pooled_url(port, name), h.pg_url_with({dbname = name})
  end

  it("8 concurrent `upgrade head`, 2 rounds: every migration once, the version table at head, all exit 0", function()
    local lines = {}
    local fig = lease.rounds{bin = h.bin, dir = dir .. "/rounds", new_url = function() return (pooled()) end,
                             rounds = 2, log = function(l) lines[#lines + 1] = l end}
    assert.equal(0, fig.problems, table.concat(lines, "\n"))
    assert.equal(16, fig.exits0)
  end)

  it("a holder killed with SIGKILL mid-step: the next run waits for the lease to expire, takes it over (token 2) and finishes", function()
    local url = pooled()
    local res, problem = lease.killed_holder{bin = h.bin, dir = dir, url = url}
    assert.is_nil(problem)
    -- it waited for the 2 s lease, not for lock_timeout (60 s)
    assert.is_true(res.waited < 15, ("B took %.1f s"):format(res.waited))
    local rows = h.query(url, "SELECT token, expires_at FROM luamig_version_lock")
    assert.equal(2, rows[1].token)
    assert.is_nil(rows[1].expires_at)                 -- released at B's end
  end)

  it("a holder stopped past its lease: another run takes over; continued, it fails at its version write and commits nothing", function()
    local url = pooled()
    local res, problem = lease.paused_holder{bin = h.bin, dir = dir, url = url}
    assert.is_nil(problem)
    assert.equal(1, res.a_status, res.a_err)
    local b_run = res.b_err:match("Took the migration lease %(run (%x+), token 2,")
    assert.truthy(b_run, res.b_err)
    assert.truthy(has(res.a_err, ("lost the migration lease to run %s ("):format(b_run)), res.a_err)
    assert.truthy(has(res.a_err, "token 2 > 1)"), res.a_err)
    assert.truthy(has(res.a_err, "nothing of this step was committed"), res.a_err)
    -- A's c02 never committed: the log has B's upgrade of c02 only, made by B's run
    local log = h.query(url, "SELECT count(*) AS n FROM luamig_log WHERE revision = 'c02'")
    assert.equal(1, log[1].n)
    assert.same({"c12"}, h.version_rows(url))
  end)

  it("a step longer than the lease keeps it (the heartbeat renews it from a second connection): a run started meanwhile waits", function()
    local url = pooled()
    local kdir = dir .. "/long"
    local pid = assert(lease.holder_in_c02(kdir, h.bin, url, -- c02: 3 s for A
      'lock = "table"\nlock_lease = 0.6\nlock_timeout = 60\n'))
    local status, _, err = h.luamig(kdir, "--url " .. h.shell_quote(url) .. " upgrade head")
    assert.equal(0, status, err)
    assert.truthy(has(err, "Waiting for another luamig run (run "), err)
    assert.is_falsy(has(err, "Running upgrade"), err)   -- A did it all
    assert.equal(0, lease.a_status(kdir), h.read_file(kdir .. "/a.err"))
    assert.is_nil(lease.check(url))
    assert.equal(2, h.query(url, "SELECT token FROM luamig_version_lock")[1].token)
    _ = pid
  end)

  it("lock = \"advisory\" through the pooler: refused before anything runs, saying to use lock = \"table\"", function()
    local url, direct = pooled()
    local pdir = small_project(nil)
    local status, _, err = h.luamig(pdir, "--url " .. h.shell_quote(url) .. " upgrade head")
    assert.equal(1, status, err)
    assert.truthy(has(err, "FAILED: a session advisory lock is not safe through a transaction-pooling "
      .. "pooler (PgBouncer pool_mode=transaction)"), err)
    assert.truthy(has(err, 'Set lock = "table" in luamig.lua (or --lock-strategy table)'), err)
    assert.same({}, h.version_rows(direct))
    assert.same({}, h.tables(direct))
    -- connected directly, the same run takes the advisory lock and migrates
    status, _, err = h.luamig(pdir, "--url " .. h.shell_quote(direct) .. " upgrade head")
    assert.equal(0, status, err)
    assert.same({"a1"}, h.version_rows(direct))
  end)

  it("lock = \"advisory\" through a session-pooling PgBouncer is accepted (one client, one server session)", function()
    local sport = lease.start_pgbouncer(dir .. "/pgbouncer-session", h.pg_admin_url, "session")
    local ok, err = pcall(function()
      local name = h.fresh_pg()
      local status, _, e = h.luamig(small_project(nil), "--url "
        .. h.shell_quote(lease.pooled_url(sport, name)) .. " upgrade head")
      assert.equal(0, status, e)
      assert.same({"a1"}, h.version_rows(h.pg_url_with({dbname = name})))
    end)
    lease.stop_pgbouncer(dir .. "/pgbouncer-session")
    assert(ok, err)
  end)

  it("lock status and lock break on a lease left by a killed run; the next run then starts at once", function()
    local url = pooled()
    local kdir = dir .. "/status"
    local pid = assert(lease.holder_in_c02(kdir, h.bin, url, 'lock = "table"\nlock_lease = 30\n'))
    os.execute("kill -KILL " .. pid)
    assert.equal(137, lease.a_status(kdir))
    local a_run = (h.read_file(kdir .. "/a.err") or ""):match("Took the migration lease %(run (%x+)")
    assert.truthy(a_run)
    local u = "--url " .. h.shell_quote(url)
    local status, out, err = h.luamig(kdir, u .. " lock status")
    assert.equal(0, status, err)
    assert.truthy(has(out, "lock = table (version table luamig_version)"), out)
    assert.truthy(has(out, "advisory: free"), out)
    assert.truthy(out:match("table: held by run " .. a_run .. " %(.- pid " .. pid .. "%), since .-, expires .- %(in [%d.]+ s%), token 1"), out)
    status, out = h.luamig(kdir, u .. " --json lock status")
    assert.equal(0, status)
    -- one line, keys sorted (luamig.json)
    assert.truthy(out:match('^{"advisory":{"held":false},"lease":{"acquired_at":"[^"]+","expired":false,'
      .. '"expires_at":"[^"]+","held":true,"host":"[^"]+","ms_left":%d+,"pid":' .. pid .. ',"run_id":"'
      .. a_run .. '","token":1},"lease_offered":true,"lease_table":"luamig_version_lock","strategy":"table"}\n$'), out)
    -- without --yes: what it would break, exit 2, nothing broken
    status, out, err = h.luamig(kdir, u .. " lock break")
    assert.equal(2, status, out .. err)
    assert.truthy(has(err, "this would free the lease of run " .. a_run), err)
    assert.truthy(has(err, "add --yes to break it"), err)
    assert.equal(a_run, h.query(url, "SELECT run_id FROM luamig_version_lock")[1].run_id)
    status, out, err = h.luamig(kdir, u .. " lock break --yes")
    assert.equal(0, status, err)
    assert.truthy(has(out, "freed the lease of run " .. a_run), out)
    status, out = h.luamig(kdir, u .. " lock status")
    assert.truthy(has(out, "table: free (token 2)"), out)
    status, out, err = h.luamig(kdir, u .. " lock break --yes")
    assert.equal(0, status, err)
    assert.truthy(has(out, "nothing to break: the table (lease) lock is free"), out)
    -- the lease is free: no wait for its 30 s
    status, _, err = h.luamig(kdir, u .. " upgrade head")
    assert.equal(0, status, err)
    assert.is_falsy(has(err, "Waiting for another"), err)
    assert.truthy(has(err, "token 3,"), err)
    assert.is_nil(lease.check(url))
  end)
end)

describe("lock break on a live lease holder", function()
  it("the holder's version write fails: nothing of its step is committed, the next run does it", function()
    local _, url = h.fresh_pg()
    local kdir = h.tmpdir() .. "/livebreak"
    assert(lease.holder_in_c02(kdir, h.bin, url, 'lock = "table"\nlock_lease = 30\n'))
    local u = "--url " .. h.shell_quote(url)
    local status, out, err = h.luamig(kdir, u .. " lock break --yes")
    assert.equal(0, status, err)
    assert.truthy(has(out, "freed the lease of run "), out)
    assert.equal(1, lease.a_status(kdir))
    local a_err = h.read_file(kdir .. "/a.err")
    assert.truthy(has(a_err, "FAILED: upgrade c02 (count c02): lost the migration lease: it was broken "
      .. "(`luamig lock break`; token 2 > 1); nothing of this step was committed"), a_err)
    assert.same({"c01"}, h.version_rows(url))
    assert.equal(0, h.query(url, "SELECT count(*) AS n FROM executions WHERE rev = 'c02'")[1].n)
    status, _, err = h.luamig(kdir, u .. " upgrade head")
    assert.equal(0, status, err)
    assert.truthy(has(err, "token 3,"), err)
    assert.is_nil(lease.check(url))
  end)
end)

describe("lock = \"advisory\" on PostgreSQL: lock status names the server pid, lock break ends its session", function()
  it("a run holding the advisory lock: status shows its backend, break --yes terminates it and the run fails", function()
    local _, url = h.fresh_pg()
    local kdir = h.tmpdir() .. "/adv"
    local pid = assert(lease.holder_in_c02(kdir, h.bin, url, ""))   -- lock = "advisory", the default
    local u = "--url " .. h.shell_quote(url)
    local status, out, err = h.luamig(kdir, u .. " lock status")
    assert.equal(0, status, err)
    local backend = out:match("advisory: held by server pid (%d+)")
    assert.truthy(backend, out)
    local rows = h.query(url, "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1 AND datname = current_database()",
                         {tonumber(backend)})
    assert.equal(1, rows[1].n)
    assert.truthy(has(out, "table: no lease table luamig_version_lock"), out)
    status, out, err = h.luamig(kdir, u .. " lock break")
    assert.equal(2, status)
    assert.truthy(has(err, "this would terminate the PostgreSQL session that holds the advisory lock "
      .. "(server pid " .. backend .. ")"), err)
    status, out, err = h.luamig(kdir, u .. " lock break --yes")
    assert.equal(0, status, err)
    assert.truthy(has(out, "terminated server pid " .. backend), out)
    assert.equal(1, lease.a_status(kdir))
    assert.truthy(has(h.read_file(kdir .. "/a.err"), "connection to the PostgreSQL server was lost"))
    assert.same({"c01"}, h.version_rows(url))
    _ = pid
  end)

  it("outside attack R2 D1: another database of the server holding its advisory lock is not this one's", function()
    local _, url_a = h.fresh_pg()
    local _, url_b = h.fresh_pg()
    local kdir = h.tmpdir() .. "/adv_other"
    assert(lease.holder_in_c02(kdir, h.bin, url_a, ""))   -- A migrates database A, the same version_table
    local u = "--url " .. h.shell_quote(url_b)
    local status, out, err = h.luamig(kdir, u .. " lock status")
    assert.equal(0, status, err)
    assert.truthy(has(out, "advisory: free"), out)
    status, out, err = h.luamig(kdir, u .. " lock break --yes")
    assert.equal(0, status, err)
    assert.truthy(has(out, "nothing to break: the advisory lock is free"), out)
    assert.equal(0, lease.a_status(kdir))                -- A was not terminated
    assert.is_nil(lease.check(url_a))
  end)
end)

describe("[postgresql] lock = \"table\" and a long version_table", function()
  -- 60 bytes: "<vt>_lock" and "<vt>_log" both cut to "<vt>_lo"; 59 (outside
  -- attack R2 D3): cut to "<vt>_loc", a lease lock status and break never saw
  for _, n in ipairs({60, 59}) do
    it(("a %d-byte version_table is refused before anything is created; 58 bytes are taken"):format(n), function()
      local _, url = h.fresh_pg()
      local vt = ("v"):rep(n)
      local pdir = small_project(('lock = "table"\nversion_table = "%s"\n'):format(vt))
      local status, _, err = h.luamig(pdir, "--url " .. h.shell_quote(url) .. " upgrade head")
      assert.equal(1, status)
      assert.truthy(has(err, ('version_table "%s" is too long for lock = "table": PostgreSQL cuts names to 63 '
        .. 'bytes, so its lease table "%s_lock" would lose its end; use a version_table of 58 bytes or fewer '
        .. '(it is %d)'):format(vt, vt, n)), err)
      assert.same({}, h.tables(url))
      -- the same name with the advisory lock works
      h.write_file(pdir .. "/luamig.lua", ('version_table = "%s"\n'):format(vt))
      status, _, err = h.luamig(pdir, "--url " .. h.shell_quote(url) .. " upgrade head")
      assert.equal(0, status, err)
      if n == 59 then                                  -- 58 bytes: the lease, seen by lock status
        local vt58 = ("w"):rep(58)
        _, url = h.fresh_pg()
        h.write_file(pdir .. "/luamig.lua", ('lock = "table"\nversion_table = "%s"\n'):format(vt58))
        status, _, err = h.luamig(pdir, "--url " .. h.shell_quote(url) .. " upgrade head")
        assert.equal(0, status, err)
        local out
        status, out, err = h.luamig(pdir, "--url " .. h.shell_quote(url) .. " lock status")
        assert.equal(0, status, err)
        assert.truthy(has(out, "table: free (token 1, last held by run "), out)
      end
    end)
  end
end)

h.each_db(function(db)
  it("lock = \"none\": a warning on every run, and the run migrates", function()
    local pdir = small_project('lock = "none"\n')
    local url = db.url()
    for _ = 1, 2 do
      local status, _, err = h.luamig(pdir, "--url " .. h.shell_quote(url) .. " upgrade head")
      assert.equal(0, status, err)
      assert.truthy(has(err, 'WARN  [luamig] lock = "none": this run takes no migration lock'), err)
    end
    assert.same({"a1"}, h.version_rows(url))
    -- --lock-strategy none over luamig.lua's setting, on a downgrade too
    local status, _, err = h.luamig(small_project(nil), "--url " .. h.shell_quote(url) .. " downgrade base --lock-strategy none")
    assert.equal(0, status, err)
    assert.truthy(has(err, 'lock = "none"'), err)
  end)

  it("bad lock settings: a clear error (exit 1), a bad --lock-strategy a usage error (exit 2)", function()
    local url = db.url()
    local status, _, err = h.luamig(small_project('lock = "tabel"\n'), "--url " .. h.shell_quote(url) .. " upgrade head")
    assert.equal(1, status)
    assert.truthy(has(err, "luamig.lua: lock must be \"advisory\""), err)
    assert.truthy(has(err, "not 'tabel'"), err)
    status, _, err = h.luamig(small_project('lock_lease = 0\n'), "--url " .. h.shell_quote(url) .. " upgrade head")
    assert.equal(1, status)
    assert.truthy(has(err, "lock_lease must be a number of seconds from 0.1 to 86400"), err)
    status, _, err = h.luamig(small_project(nil), "--url " .. h.shell_quote(url) .. " upgrade head --lock-strategy bogus")
    assert.equal(2, status)
    assert.truthy(has(err, "--lock-strategy: must be \"advisory\""), err)
    assert.same({}, h.version_rows(url))
  end)

  it("the embedding API: m:upgrade(target, {lock = ...}) and m:lock_status()", function()
    local luamig = require "luamig"
    local pdir = small_project(nil)
    local url = db.url()
    local m <close> = luamig.open{url = url, script_location = pdir .. "/migrations"}
    local ok, err = pcall(m.upgrade, m, "head", {lock = "sometimes"})
    assert.is_false(ok)
    assert.truthy(has(tostring(type(err) == "table" and err.message or err), "m:upgrade: lock must be"), tostring(err))
    if db.name == "postgresql" then
      m:upgrade("head", {lock = "table", lock_lease = 5})
      local st = m:lock_status()
      assert.is_true(st.lease_offered)
      assert.equal(false, st.lease.held)
      assert.equal(1, st.lease.token)
    else
      ok, err = pcall(m.upgrade, m, "head", {lock = "table"})
      assert.is_false(ok)
      assert.truthy(has(tostring(type(err) == "table" and err.message or err),
        'lock = "table" is not offered on SQLite'), tostring(err))
      m:upgrade("head")
      local st = m:lock_status()
      assert.is_false(st.lease_offered)
      assert.is_false(st.advisory.held)
    end
    assert.same({"a1"}, h.version_rows(url))
  end)
end)

describe("SQLite", function()
  it("lock = \"table\" is refused (exit 1, nothing created); lock status shows the file lock; lock break cannot break it", function()
    local url = h.fresh_sqlite()
    local pdir = small_project('lock = "table"\n')
    local u = "--url " .. h.shell_quote(url)
    local status, _, err = h.luamig(pdir, u .. " upgrade head")
    assert.equal(1, status)
    assert.truthy(has(err, 'FAILED: lock = "table" is not offered on SQLite: its run lock is a file lock'), err)
    assert.same({}, h.version_rows(url))
    local out
    status, out, err = h.luamig(pdir, u .. " lock status")
    assert.equal(0, status, err)
    assert.truthy(has(out, "advisory: free"), out)
    assert.truthy(has(out, "table: not offered on SQLite"), out)
    -- lock = "table" has no lease here: said so (exit 1); the free file lock: nothing to break
    status, _, err = h.luamig(pdir, u .. " lock break --yes")
    assert.equal(1, status)
    assert.truthy(has(err, 'lock = "table" is not offered on SQLite: there is no lease to break'), err)
    status, out = h.luamig(pdir, u .. " lock break --yes --lock-strategy advisory")
    assert.equal(0, status)
    assert.truthy(has(out, "nothing to break: the advisory lock is free"), out)
  end)
end)

describe("outside attack L", function()
  local dir
  setup(function()
    dir = h.tmpdir()
    os.execute("chmod 755 " .. h.shell_quote(dir))    -- pgbouncer runs as postgres
  end)

  -- A PgBouncer in dir/name for the duration of fn(port).
  local function with_pgbouncer(name, mode, size, extra, fn)
    local port = lease.start_pgbouncer(dir .. "/" .. name, h.pg_admin_url, mode, size, extra)
    local ok, err = pcall(fn, port)
    lease.stop_pgbouncer(dir .. "/" .. name)
    assert(ok, err)
  end

  local function advisory_holders(url)
    return h.query(url, "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'")[1].n
  end

  it("D1: lock = \"advisory\" through a round-robin transaction pool of 2 warm sessions: refused, exit 1, no lock left behind", function()
    with_pgbouncer("rr", "transaction", 2, "server_round_robin = 1", function(port)
      local name, direct = h.fresh_pg()
      local url = lease.pooled_url(port, name)
      -- two server sessions in the pool, both idle
      -- psql is not instrumented: libasan preloaded into it can deadlock in glob()
      os.execute(("unset LD_PRELOAD; for j in 1 2; do psql -X -q -h 127.0.0.1 -p %d -U postgres %s -c 'SELECT pg_sleep(0.3)' "
        .. ">/dev/null & done; wait"):format(port, h.shell_quote(name)))
      local pdir = small_project(nil)
      local status, _, err = h.luamig(pdir, "--url " .. h.shell_quote(url) .. " upgrade head --lock-strategy advisory")
      assert.equal(1, status, err)
      assert.truthy(has(err, "FAILED: a session advisory lock is not safe through a transaction-pooling pooler"), err)
      assert.truthy(has(err, "ran in two server sessions"), err)
      assert.truthy(has(err, "luamig lock break --yes"), err)
      assert.same({}, h.version_rows(direct))
      assert.equal(0, advisory_holders(direct))        -- the unlock found the lock's session
      -- a direct run is not held up
      h.write_file(pdir .. "/luamig.lua", "lock_timeout = 3\n")
      status, _, err = h.luamig(pdir, "--url " .. h.shell_quote(direct) .. " upgrade head")
      assert.equal(0, status, err)
      assert.is_falsy(has(err, "Waiting for another"), err)
    end)
  end)

  it("D2: the pooler check's second connection refused (max_client_conn = 1): a warning, and the run migrates", function()
    with_pgbouncer("one", "session", 20, "max_client_conn = 1", function(port)
      local name, direct = h.fresh_pg()
      local status, _, err = h.luamig(small_project(nil), "--url "
        .. h.shell_quote(lease.pooled_url(port, name)) .. " upgrade head")
      assert.equal(0, status, err)
      assert.truthy(has(err, "WARN  [luamig] could not check for a transaction-pooling pooler before taking "
        .. "the advisory lock: a second connection could not be opened"), err)
      assert.same({"a1"}, h.version_rows(direct))
    end)
  end)

  it("D3: a session pool of 1: the check's second connection waits 3 s at most (not query_wait_timeout), with a warning", function()
    with_pgbouncer("s1", "session", 1, "", function(port)
      local name, direct = h.fresh_pg()
      local t0 = h.now()
      local status, _, err = h.luamig(small_project(nil), "--url "
        .. h.shell_quote(lease.pooled_url(port, name)) .. " upgrade head")
      assert.equal(0, status, err)
      assert.truthy(h.now() - t0 < 15, ("took %.1f s"):format(h.now() - t0))
      assert.truthy(has(err, "got no answer within 3 s"), err)
      assert.same({"a1"}, h.version_rows(direct))
    end)
  end)

  it("D4/D10: a holder in one transaction (transaction_per_migration = false): a waiter keeps lock_timeout, break gives up after 5 s, status cannot call it expired", function()
    local _, url = h.fresh_pg()
    local kdir = dir .. "/d4"
    local pid = assert(lease.holder_in_c02(kdir, h.bin, url,
      'lock = "table"\nlock_lease = 1\nlock_timeout = 2\ntransaction_per_migration = false\n'))
    os.execute("kill -STOP " .. pid .. "; sleep 1.5")   -- its lease expires; its transaction holds the row
    local ok, err0 = pcall(function()
      local u = "--url " .. h.shell_quote(url)
      local status, out, err = h.luamig(kdir, u .. " lock status")
      assert.equal(0, status, err)
      assert.truthy(has(out, "an open transaction (server pid "), out)
      assert.truthy(has(out, "cannot tell whether that run is alive"), out)
      assert.is_falsy(has(out, "(expired)"), out)
      local t0 = h.now()
      status, _, err = h.luamig(kdir, u .. " upgrade head")
      assert.equal(1, status, err)
      assert.truthy(has(err, "could not take the migration lease within 2 s"), err)
      assert.truthy(has(err, "its row held by the open transaction of server pid "), err)
      assert.truthy(h.now() - t0 < 8, ("the waiter took %.1f s"):format(h.now() - t0))
      t0 = h.now()
      status, _, err = h.luamig(kdir, u .. " lock break --yes")
      assert.equal(1, status, err)
      assert.truthy(has(err, "could not break the lease within 5 s: an open transaction (server pid "), err)
      assert.truthy(h.now() - t0 < 12, ("the break took %.1f s"):format(h.now() - t0))
    end)
    os.execute("kill -CONT " .. pid)
    assert(ok, err0)
    assert.equal(0, lease.a_status(kdir), h.read_file(kdir .. "/a.err"))
    assert.is_nil(lease.check(url))
  end)

  it("D5: lock_timeout NaN or negative: refused (exit 1) saying what it must be", function()
    local url = h.fresh_sqlite()
    for _, v in ipairs({"0/0", "-1", "1/0"}) do
      local status, _, err = h.luamig(small_project("lock_timeout = " .. v .. "\n"), "--url " .. h.shell_quote(url) .. " upgrade head")
      assert.equal(1, status, err)
      assert.truthy(has(err, "luamig.lua: lock_timeout must be a number of seconds from 0 to 31536000"), err)
    end
    assert.same({}, h.version_rows(url))
  end)

  it("D6: a live holder whose lease was broken and then taken: the holder says it was broken, not that it expired", function()
    local _, url = h.fresh_pg()
    local kdir = dir .. "/d6"
    assert(lease.holder_in_c02(kdir, h.bin, url, 'lock = "table"\nlock_lease = 30\n'))
    local u = "--url " .. h.shell_quote(url)
    local status, out, err = h.luamig(kdir, u .. " --json lock break --yes")
    assert.equal(0, status, err)
    assert.truthy(out:match('^{"broken":true,"kind":"table","what":"freed the lease of run '), out)
    status, _, err = h.luamig(kdir, u .. " upgrade head")
    assert.equal(0, status, err)
    assert.equal(1, lease.a_status(kdir))
    local a_err = h.read_file(kdir .. "/a.err")
    assert.truthy(has(a_err, "this run's lease was broken (`luamig lock break`) before it expired, and that run took it then"), a_err)
    assert.is_falsy(has(a_err, "expired and that run took it over"), a_err)
    assert.is_nil(lease.check(url))
  end)

  it("D7/D9: SQLite: lock break of a held file lock is a clean error; lock = \"table\" has no lease to break; lock status --yes is a usage error", function()
    local url, path = h.fresh_sqlite()
    h.write_file(path, "")
    local pdir = small_project(nil)
    local u = "--url " .. h.shell_quote(url)
    os.execute(("flock %s sleep 3 & sleep 0.3"):format(h.shell_quote(path .. "-luamig.lock")))
    local status, _, err = h.luamig(pdir, u .. " lock break --yes --lock-strategy advisory")
    assert.equal(1, status, err)
    assert.truthy(has(err, "FAILED: SQLite's run lock is a file lock held by a running process"), err)
    assert.is_falsy(err:find("%.lua:%d+:"), err)
    h.write_file(pdir .. "/luamig.lua", 'lock = "table"\n')
    status, _, err = h.luamig(pdir, u .. " lock break --yes")
    assert.equal(1, status, err)
    assert.truthy(has(err, 'FAILED: lock = "table" is not offered on SQLite: there is no lease to break'), err)
    status, _, err = h.luamig(pdir, u .. " lock status --yes")
    assert.equal(2, status, err)
    assert.truthy(has(err, "--yes: for lock break only"), err)
  end)

  it("D8: a 61-byte version_table: lock status reports the advisory lock and says the lease table name is too long; break of the table lock refuses", function()
    local _, url = h.fresh_pg()
    local vt = ("v"):rep(61)
    local pdir = small_project(('version_table = "%s"\n'):format(vt))
    local u = "--url " .. h.shell_quote(url)
    local status, _, err = h.luamig(pdir, u .. " upgrade head")
    assert.equal(0, status, err)
    local out
    status, out, err = h.luamig(pdir, u .. " lock status")
    assert.equal(0, status, err)
    assert.truthy(has(out, "advisory: free"), out)
    assert.truthy(has(out, 'table: version_table is too long for a lease table'), out)
    assert.truthy(has(out, "58 bytes or fewer"), out)
    status, _, err = h.luamig(pdir, u .. " lock break --yes --lock-strategy table")
    assert.equal(1, status, err)
    assert.truthy(has(err, 'is too long for lock = "table" (58 bytes or fewer)'), err)
    -- the 63-byte refusal's advice names lock = "table"'s bound too
    h.write_file(pdir .. "/luamig.lua", ('version_table = "%s"\n'):format(("w"):rep(63)))
    status, _, err = h.luamig(pdir, u .. " upgrade head")
    assert.equal(1, status, err)
    assert.truthy(has(err, '61 bytes or fewer always work; 58 or fewer with lock = "table"'), err)
  end)
end)

-- Outside attack R2 (a second black-box round on the fixed build): a step
-- outside a transaction went on sending statements for seconds after its
-- lease was broken (D2); a broken lease under a short lock_lease was
-- reported as expired (D5).
describe("[postgresql] outside attack R2: a holder that lost its lease", function()
  local function start_holder(url, settings, up, extra)
    local kdir = h.project({{id = "r1", code = true, up = up, extra = extra}}, settings)
    lease.start_a(kdir, h.bin, url)
    return kdir
  end

  local function wait_for(pred)
    for _ = 1, 200 do
      if pred() then return true end
      os.execute("sleep 0.05")
    end
  end

  it("D2: a transactional = false step sends nothing after the heartbeat found its lease broken", function()
    local _, url = h.fresh_pg()
    local kdir = start_holder(url, 'lock = "table"\nlock_lease = 0.6\n', [[
  op.execute("CREATE TABLE nt (i integer, at timestamptz DEFAULT clock_timestamp())")
  for i = 1, 16 do
    op.execute("INSERT INTO nt (i) VALUES (" .. i .. ")")
    op.execute("SELECT pg_sleep(0.25)")
  end]], "transactional = false")
    assert.truthy(wait_for(function()
      local ok, rows = pcall(h.query, url, "SELECT count(*) AS n FROM nt")
      return ok and rows[1].n >= 2
    end), h.read_file(kdir .. "/a.err"))
    local broken_at = h.query(url, "SELECT clock_timestamp()::text AS t")[1].t
    local status, out, err = h.luamig(kdir, "--url " .. h.shell_quote(url) .. " lock break --yes")
    assert.equal(0, status, err)
    assert.truthy(has(out, "freed the lease of run "), out)
    assert.equal(1, lease.a_status(kdir))
    local a_err = h.read_file(kdir .. "/a.err")
    assert.truthy(has(a_err, "lost the migration lease: it was broken (`luamig lock break`; token 2 > 1); "
      .. "the step was stopped before its next statement"), a_err)
    -- the heartbeat (every 0.2 s) sees it, and the statement in flight (0.25 s) ends: nothing later
    local late = h.query(url, "SELECT count(*) AS n FROM nt WHERE at > $1::timestamptz + interval '0.6 s'",
                         {broken_at})[1].n
    assert.equal(0, late, a_err)
    assert.truthy(h.query(url, "SELECT count(*) AS n FROM nt")[1].n < 16)
    assert.same({}, h.version_rows(url))
  end)

  it("D5: a lease broken while it still ran, under a 2 s lock_lease and a 4 s step, is said to be broken", function()
    local _, url = h.fresh_pg()
    local kdir = start_holder(url, 'lock = "table"\nlock_lease = 2\n', '  op.execute("SELECT pg_sleep(4)")')
    assert.truthy(wait_for(function()
      return has(h.read_file(kdir .. "/a.err") or "", "Running upgrade  -> r1")
    end), h.read_file(kdir .. "/a.err"))
    os.execute("sleep 0.5")
    local u = "--url " .. h.shell_quote(url)
    local status, out, err = h.luamig(kdir, u .. " lock break --yes")
    assert.equal(0, status, err)
    assert.truthy(has(out, "freed the lease of run "), out)
    status, _, err = h.luamig(kdir, u .. " upgrade head")   -- takes it (token 3) and runs r1
    assert.equal(0, status, err)
    assert.equal(1, lease.a_status(kdir))
    local a_err = h.read_file(kdir .. "/a.err")
    assert.truthy(has(a_err, "token 3 > 1): this run's lease was broken (`luamig lock break`) before it "
      .. "expired, and that run took it then"), a_err)
    assert.same({"r1"}, h.version_rows(url))
  end)
end)

-- Outside attack R3 (a third black-box round, on R2's fixes): a holder
-- resumed after SIGSTOP sent one statement before its heartbeat saw the
-- lease gone (D1); with the schema setting the heartbeat's connection did
-- not find the lease table, so the lease was never renewed (D2); with no
-- heartbeat connection a transactional = false step ran to its end (D5).
describe("[postgresql] outside attack R3: a step outside a transaction and its lease", function()
  local function loop_project(settings, n, sleep, create)
    return h.project({{id = "r1", extra = "transactional = false", code = true, up = ([[
  %s
  for i = 1, %d do
    op.execute("INSERT INTO nt (i) VALUES (" .. i .. ")")
    op.execute("SELECT pg_sleep(%g)")
  end]]):format(create and 'op.execute("CREATE TABLE nt (i integer, at timestamptz DEFAULT clock_timestamp())")' or "",
      n, sleep)}}, settings)
  end

  local function rows_after(url, t, slack)
    return h.query(url, ("SELECT count(*) AS n FROM nt WHERE at > $1::timestamptz + interval '%g s'"):format(slack),
                   {t})[1].n
  end

  local function wait_rows(url, n, tbl)
    for _ = 1, 200 do
      local ok, rows = pcall(h.query, url, "SELECT count(*) AS n FROM " .. (tbl or "nt"))
      if ok and rows[1].n >= n then return true end
      os.execute("sleep 0.05")
    end
  end

  it("D1: a holder stopped past a broken lease sends nothing when continued", function()
    local _, url = h.fresh_pg()
    local kdir = loop_project('lock = "table"\nlock_lease = 0.6\n', 60, 0.1, true)
    local pid = lease.start_a(kdir, h.bin, url)
    assert.truthy(wait_rows(url, 2), h.read_file(kdir .. "/a.err"))
    os.execute("kill -STOP " .. pid .. "; sleep 0.2")
    local status, out, err = h.luamig(kdir, "--url " .. h.shell_quote(url) .. " lock break --yes")
    assert.equal(0, status, err)
    assert.truthy(has(out, "freed the lease of run "), out)
    local broken_at = h.query(url, "SELECT clock_timestamp()::text AS t")[1].t
    os.execute("sleep 1.5; kill -CONT " .. pid)
    assert.equal(1, lease.a_status(kdir))
    local a_err = h.read_file(kdir .. "/a.err")
    assert.truthy(has(a_err, "lost the migration lease: it was broken (`luamig lock break`; token 2 > 1); "
      .. "the step was stopped before its next statement"), a_err)
    assert.equal(0, rows_after(url, broken_at, 0), a_err)
  end)

  it("D2: with the schema setting the heartbeat renews the lease: a statement longer than it keeps it", function()
    local _, url = h.fresh_pg()
    -- one INSERT, then one 3 s statement: only the heartbeat can renew the 1 s lease meanwhile
    local kdir = loop_project('lock = "table"\nlock_lease = 1\nlock_timeout = 30\nschema = "tenant one"\n', 1, 3, true)
    lease.start_a(kdir, h.bin, url)
    assert.truthy(wait_rows(url, 1, '"tenant one".nt'), h.read_file(kdir .. "/a.err"))
    os.execute("sleep 1.5")                            -- past the first lease
    local status, _, err = h.luamig(kdir, "--url " .. h.shell_quote(url) .. " upgrade head")
    assert.equal(0, lease.a_status(kdir), h.read_file(kdir .. "/a.err"))
    assert.equal(0, status, err)
    assert.truthy(has(err, "Waiting for another luamig run (run "), err)
    assert.is_falsy(has(err, "Running upgrade"), err)  -- A's work, found done
    assert.equal(1, h.query(url, 'SELECT count(*) AS n FROM "tenant one".nt')[1].n)
    assert.equal(1, h.query(url, 'SELECT count(*) AS n FROM "tenant one".luamig_log WHERE revision = \'r1\'')[1].n)
  end)

  it("D5: no heartbeat connection (a role's CONNECTION LIMIT 1): the step renews the lease itself and stops once it is broken", function()
    local name, admin_url = h.fresh_pg()
    local f = assert(io.open("/dev/urandom", "rb"))
    local role = "luamig_one_" .. h.hex(f:read(6))
    f:close()
    local c = core.connect(h.pg_admin_url)
    c:exec(("CREATE ROLE %s LOGIN PASSWORD 'one conn' CONNECTION LIMIT 1"):format(core.quote_ident(role)))
    c:exec(("ALTER DATABASE %s OWNER TO %s"):format(core.quote_ident(name), core.quote_ident(role)))
    c:close()
    local host, port = h.pg_tcp()
    local url = ("postgresql://%s:one%%20conn@%s:%s/%s"):format(role, host, port, name)
    local kdir = loop_project('lock = "table"\nlock_lease = 0.6\n', 16, 0.25, true)
    lease.start_a(kdir, h.bin, url)
    assert.truthy(wait_rows(admin_url, 6), h.read_file(kdir .. "/a.err"))   -- 1.5 s: past two leases, kept
    local status, out, err = h.luamig(kdir, "--url " .. h.shell_quote(admin_url) .. " lock break --yes")
    assert.equal(0, status, err)
    assert.truthy(has(out, "freed the lease of run "), out)
    local broken_at = h.query(admin_url, "SELECT clock_timestamp()::text AS t")[1].t
    assert.equal(1, lease.a_status(kdir))
    local a_err = h.read_file(kdir .. "/a.err")
    assert.truthy(has(a_err, "cannot open a second connection to PostgreSQL"), a_err)
    assert.truthy(has(a_err, "the step was stopped before its next statement"), a_err)
    assert.equal(0, rows_after(admin_url, broken_at, 0.6), a_err)
    assert.truthy(h.query(admin_url, "SELECT count(*) AS n FROM nt")[1].n < 16)
  end)
end)
