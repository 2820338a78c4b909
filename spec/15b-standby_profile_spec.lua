-- Issue 18, "Through a real pooler, against a real standby" (the standby
-- part) and "Distributed engines": a run that writes refused on a REAL hot
-- standby (pg_basebackup -R of the suite's cluster, spec/pg_standby.sh) and
-- on a read-only session (default_transaction_read_only by ALTER DATABASE
-- and by PGOPTIONS), reads still served; a step retried after a REAL
-- serialization failure (two SERIALIZABLE transactions in a write skew)
-- and after a 40001 raised by the step; the `profile` setting (citus: SET
-- LOCAL citus.multi_shard_modify_mode in every migration transaction;
-- cockroachdb/yugabyte: revisions outside a transaction by default); the
-- Citus ops in --sql and their refusals (no citus extension, SQLite).
local h = require "spec.helpers"
local core = require "luamig.core"

local function has(text, part) return text:find(part, 1, true) ~= nil end

local function project(url, revs, extra)
  return h.project(revs, ("url = %q\n%s"):format(url, extra or ""))
end

local function query(url, sql, params)
  local c = core.connect(url)
  local rows = c:query(sql, params)
  c:close()
  return rows
end

local two = {
  {id = "aaaa1111", up = "CREATE TABLE t1 (id integer)", down_sql = "DROP TABLE t1"},
  {id = "bbbb2222", down = "aaaa1111", up = "CREATE TABLE t2 (id integer)", down_sql = "DROP TABLE t2"},
}

describe("[postgresql] a run that writes, on a server that cannot take writes", function()
  local standby_dir, standby_url, db, primary_url, dir

  setup(function()
    local name
    name, primary_url = h.fresh_pg()
    dir = project(primary_url, two)
    local status, _, err = h.luamig(dir, "upgrade aaaa1111")
    assert.equal(0, status, err)
    local host, port = h.pg_admin_url:match("host=([^&]+)"), h.pg_admin_url:match("port=(%d+)")
    assert(host and port, "the suite's cluster URL names no socket dir and port: " .. h.pg_admin_url)
    local parent = h.tmpdir()
    os.execute("chmod 755 " .. h.shell_quote(parent))  -- the server's owner goes in
    standby_dir = parent .. "/standby"
    local st, out, serr = h.run(("bash %s/spec/pg_standby.sh start %s %s %s"):format(
      h.shell_quote(h.root), h.shell_quote(host), port, h.shell_quote(standby_dir)))
    assert(st == 0, "the standby did not start: " .. out .. serr)
    standby_url = ("postgresql://postgres@/%s?host=%s&port=%s"):format(name, standby_dir, out:match("%d+"))
    db = name
  end)

  teardown(function()
    if standby_dir then h.run(("bash %s/spec/pg_standby.sh stop %s"):format(h.shell_quote(h.root),
      h.shell_quote(standby_dir))) end
  end)

  it("the standby is a REAL hot standby of the primary, with its rows", function()
    assert.same({{r = "true"}}, query(standby_url, "SELECT pg_is_in_recovery()::text AS r"))
    assert.same({"aaaa1111"}, h.version_rows(standby_url))
    assert.truthy(db)
  end)

  it("upgrade, downgrade and stamp fail before anything, saying so; current and history read", function()
    for _, args in ipairs({"upgrade head", "downgrade base", "stamp bbbb2222", "upgrade head --sql"}) do
      local status, out, err = h.luamig(dir, ("--url %s %s"):format(h.shell_quote(standby_url), args))
      if args:find("--sql", 1, true) then                -- offline: no server, nothing refused
        assert.equal(0, status, err)
        assert.truthy(has(out, "CREATE TABLE t2"), out)
      else
        assert.equal(1, status, args .. ": " .. err)
        assert.truthy(has(err, "FAILED: the server is a read-only standby; run migrations against the "
          .. "primary (pg_is_in_recovery() is true"), args .. ": " .. err)
        assert.is_nil(err:find("read-only transaction", 1, true), err)   -- not PostgreSQL's own
      end
    end
    local status, out, err = h.luamig(dir, ("--url %s current"):format(h.shell_quote(standby_url)))
    assert.equal(0, status, err)
    assert.truthy(has(out, "aaaa1111"), out)
    status, out, err = h.luamig(dir, ("--url %s history"):format(h.shell_quote(standby_url)))
    assert.equal(0, status, err)
    assert.truthy(has(out, "bbbb2222"), out)
    assert.same({"aaaa1111"}, h.version_rows(standby_url))
    -- the primary takes the same run, and the standby replays it
    status, _, err = h.luamig(dir, "upgrade head")
    assert.equal(0, status, err)
    local seen
    for _ = 1, 250 do
      seen = h.version_rows(standby_url)
      if seen[1] == "bbbb2222" then break end
      os.execute("sleep 0.02")
    end
    assert.same({"bbbb2222"}, seen)
    -- at head now: check compares the standby's schema (a read)
    h.write_file(dir .. "/schema.lua", 'function schema(op)\n  op.create_table("t1", {{"id", "integer"}})\n'
      .. '  op.create_table("t2", {{"id", "integer"}})\nend\n')
    status, out, err = h.luamig(dir, ("--url %s check"):format(h.shell_quote(standby_url)))
    assert.equal(0, status, err)
    assert.equal("No new upgrade operations detected.\n", out)
    status, _, err = h.luamig(dir, ("--url %s ensure_version"):format(h.shell_quote(standby_url)))
    assert.equal(1, status, err)
    assert.truthy(has(err, "FAILED: the server is a read-only standby; run migrations against the primary"), err)
  end)

  it("default_transaction_read_only = on (ALTER DATABASE): refused, reads work", function()
    local name, url = h.fresh_pg()
    local d = project(url, two)
    local c = core.connect(h.pg_admin_url)
    c:exec(("ALTER DATABASE %s SET default_transaction_read_only = on"):format(core.quote_ident(name)))
    c:close()
    for _, args in ipairs({"upgrade head", "stamp head"}) do
      local status, _, err = h.luamig(d, args)
      assert.equal(1, status, err)
      assert.truthy(has(err, "FAILED: the session is read-only (default_transaction_read_only = on, "), err)
      assert.truthy(has(err, "nothing of the " .. args:match("%a+") .. " was run"), err)
    end
    assert.same({}, h.tables(url))                     -- not even the version table
    local status, out, err = h.luamig(d, "current")
    assert.equal(0, status, err)
    assert.truthy(has(out, "(no revision applied)") or out == "" or has(out, "base"), out)
  end)

  it("default_transaction_read_only = on (PGOPTIONS): refused; without it the run works", function()
    local _, url = h.fresh_pg()
    local d = project(url, two)
    local status, _, err = h.luamig(d, "upgrade head", {PGOPTIONS = "-c default_transaction_read_only=on"})
    assert.equal(1, status, err)
    assert.truthy(has(err, "FAILED: the session is read-only (default_transaction_read_only = on"), err)
    assert.same({}, h.tables(url))
    status, _, err = h.luamig(d, "upgrade head")
    assert.equal(0, status, err)
    assert.same({"bbbb2222"}, h.version_rows(url))
  end)
end)

-- luamig ARGS in dir in the background; finish() -> status, stderr.
local function luamig_bg(dir, args)
  os.execute(("unset LD_PRELOAD; cd %s && (%s %s 2>err.txt; echo $? > rc) >/dev/null 2>&1 &")
    :format(h.shell_quote(dir), h.shell_quote(h.bin), args))
  return function()
    for _ = 1, 1500 do
      local rc = (h.read_file(dir .. "/rc") or ""):match("%d+")
      if rc then return tonumber(rc), h.read_file(dir .. "/err.txt") or "" end
      os.execute("sleep 0.02")
    end
    error("luamig did not finish")
  end
end

describe("[postgresql] a serialization failure (40001) or deadlock (40P01) retried", function()
  it("a REAL write skew of two SERIALIZABLE transactions: the step is rolled back, retried, right", function()
    local name, url = h.fresh_pg()
    local c = core.connect(url)
    c:exec("CREATE TABLE doctors (name text, on_call boolean)")
    c:exec("CREATE TABLE audit (note text)")
    c:close()
    c = core.connect(h.pg_admin_url)
    c:exec(("ALTER DATABASE %s SET default_transaction_isolation = 'serializable'"):format(core.quote_ident(name)))
    c:close()
    -- the step reads doctors and writes audit, then waits while the
    -- other transaction reads audit and writes doctors, and commits first
    local dir = project(url, {{id = "cccc3333", code = true, up = [[
  op.execute("SELECT count(*) FROM doctors WHERE on_call")
  op.execute("INSERT INTO audit SELECT 'on call: ' || count(*) FROM doctors WHERE on_call")
  op.execute("SELECT pg_sleep(1.2) /* skew-wait */")]]}})
    local finish = luamig_bg(dir, "upgrade head")
    local other = core.connect(url)
    local waited = false
    for _ = 1, 400 do
      local rows = other:query([[SELECT 1 AS x FROM pg_stat_activity WHERE state = 'active'
        AND query LIKE '%skew-wait%' AND pid <> pg_backend_pid()]])
      if rows[1] then waited = true break end
      os.execute("sleep 0.01")
    end
    assert.is_true(waited, "the step never reached its wait")
    other:exec("BEGIN ISOLATION LEVEL SERIALIZABLE")
    assert.same({{n = 0}}, other:query("SELECT count(*)::integer AS n FROM audit"))
    other:exec("INSERT INTO doctors VALUES ('alice', true)")
    other:exec("COMMIT")                               -- first to commit: it wins
    other:close()
    local status, err = finish()
    assert.equal(0, status, err)
    assert.truthy(err:find("WARN  %[luamig%] upgrade cccc3333 %(revision cccc3333%): serialization failure "
      .. "%(SQLSTATE 40001: a concurrent transaction's change conflicts with the step's%), attempt 1 of 10, "
      .. "next in 0%.%ds"), err)
    -- rolled back, then run once more after the other's commit: it saw alice
    assert.same({{note = "on call: 1"}}, query(url, "SELECT note FROM audit"))
    assert.same({"cccc3333"}, h.version_rows(url))
    assert.same({{n = 1}}, query(url, "SELECT count(*)::integer AS n FROM luamig_log"))
  end)

  -- A REAL 40001 at COMMIT, once: a deferred constraint trigger raises it
  -- while the sequence (not rolled back) says it is the first commit.
  local function commit_conflict_db()
    local _, url = h.fresh_pg()
    local c = core.connect(url)
    c:exec("CREATE TABLE marks (rev text)")
    c:exec("CREATE SEQUENCE commits")
    c:exec([[CREATE FUNCTION conflict_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('commits') = 1 THEN
          RAISE EXCEPTION 'could not serialize access (at COMMIT, once)' USING ERRCODE = '40001';
        END IF;
        RETURN NULL;
      END$$]])
    c:exec([[CREATE CONSTRAINT TRIGGER conflict_at_commit AFTER INSERT ON marks
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION conflict_once()]])
    c:close()
    return url
  end
  local marking = {
    {id = "aaaa1111", up = "INSERT INTO marks VALUES ('aaaa1111')"},
    {id = "bbbb2222", down = "aaaa1111", up = "INSERT INTO marks VALUES ('bbbb2222')"},
  }

  it("a 40001 at COMMIT: the step is retried (a transaction per migration)", function()
    local url = commit_conflict_db()
    local status, _, err = h.luamig(project(url, marking), "upgrade head")
    assert.equal(0, status, err)
    assert.truthy(has(err, "upgrade aaaa1111 (revision aaaa1111): serialization failure (SQLSTATE 40001: a "
      .. "concurrent transaction's change conflicts with the step's), attempt 1 of 10, next in"), err)
    assert.same({{rev = "aaaa1111"}, {rev = "bbbb2222"}}, query(url, "SELECT rev FROM marks ORDER BY rev"))
    assert.same({"bbbb2222"}, h.version_rows(url))
    assert.same({{n = 2}}, query(url, "SELECT count(*)::integer AS n FROM luamig_log"))
  end)

  it("a 40001 at the run's COMMIT (transaction_per_migration = false): the run's transaction again", function()
    local url = commit_conflict_db()
    local status, _, err = h.luamig(project(url, marking, "transaction_per_migration = false\n"), "upgrade head")
    assert.equal(0, status, err)
    assert.truthy(has(err, "upgrade bbbb2222 (revision bbbb2222): serialization failure (SQLSTATE 40001: a "
      .. "concurrent transaction's change conflicts with the step's), attempt 1 of 10, next in"), err)
    assert.truthy(has(err, "transaction_per_migration = false: the run's transaction is rolled back and runs "
      .. "again from upgrade aaaa1111 (revision aaaa1111) (2 steps)"), err)
    assert.same({{rev = "aaaa1111"}, {rev = "bbbb2222"}}, query(url, "SELECT rev FROM marks ORDER BY rev"))
    assert.same({"bbbb2222"}, h.version_rows(url))
  end)

  local raise40001 = [[
  op.execute("CREATE TABLE IF NOT EXISTS tries (n integer)")
  op.execute("INSERT INTO tries VALUES (1)")
  op.execute("DO $$BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '%s'; END$$")]]

  it("a step that always fails with 40001 gives up after lock_retries attempts, each rolled back", function()
    local _, url = h.fresh_pg()
    local dir = project(url, {{id = "dddd4444", code = true, up = raise40001:format("40001")}}, "lock_retries = 3\n")
    local status, _, err = h.luamig(dir, "upgrade head")
    assert.equal(1, status, err)
    assert.truthy(has(err, "attempt 2 of 3, next in"), err)
    assert.truthy(has(err, "serialization failure (SQLSTATE 40001: a concurrent transaction's change "
      .. "conflicts with the step's), attempt 3 of 3: giving up (lock_retries = 3); each attempt was "
      .. "rolled back"), err)
    assert.same({}, query(url, "SELECT tablename FROM pg_tables WHERE tablename = 'tries'"))
    assert.same({}, h.version_rows(url))
  end)

  it("a deadlock (40P01) is retried like a 40001", function()
    local _, url = h.fresh_pg()
    local dir = project(url, {{id = "dddd4444", code = true, up = raise40001:format("40P01")}}, "lock_retries = 2\n")
    local status, _, err = h.luamig(dir, "upgrade head")
    assert.equal(1, status, err)
    assert.truthy(has(err, "deadlock (SQLSTATE 40P01: the step and another transaction each waited for the "
      .. "other's lock; PostgreSQL ended the step's), attempt 1 of 2, next in"), err)
    assert.truthy(has(err, "attempt 2 of 2: giving up (lock_retries = 2)"), err)
  end)

  it("a transactional = false step is not retried: what it did stays", function()
    local _, url = h.fresh_pg()
    local dir = project(url, {{id = "dddd4444", code = true, up = raise40001:format("40001"),
                               extra = "transactional = false"}})
    local status, _, err = h.luamig(dir, "upgrade head")
    assert.equal(1, status, err)
    assert.truthy(has(err, "serialization failure (SQLSTATE 40001: a concurrent transaction's change "
      .. "conflicts with the step's); not retried: this step runs outside a transaction (transactional = "
      .. "false)"), err)
    assert.same({{n = 1}}, query(url, "SELECT count(*)::integer AS n FROM tries"))
    assert.same({}, h.version_rows(url))
  end)
end)

describe("the profile setting", function()
  it("[sqlite] a profile that is not one is refused, naming the profiles", function()
    local url = h.fresh_sqlite()
    local dir = project(url, two, "profile = 'citsu'\n")
    local status, _, err = h.luamig(dir, "upgrade head")
    assert.equal(1, status, err)
    assert.truthy(has(err, 'luamig.lua: profile: "citsu" is not a profile (did you mean \'citus\'?); one of '
      .. '"postgresql", "cockroachdb", "yugabyte", "citus"'), err)
  end)

  it("[sqlite] a distributed engine's profile with a SQLite database is refused", function()
    local url, file = h.fresh_sqlite()
    local dir = project(url, two, "profile = 'citus'\n")
    local status, _, err = h.luamig(dir, "upgrade head")
    assert.equal(1, status, err)
    assert.truthy(has(err, 'FAILED: profile = "citus" is for servers that speak PostgreSQL\'s protocol; the '
      .. "database is SQLite"), err)
    assert.same({}, h.version_rows("sqlite:" .. file))
  end)

  local seen_mode = {{id = "eeee5555", code = true, up = [[
  op.execute("CREATE TABLE seen AS SELECT current_setting('citus.multi_shard_modify_mode', true) AS mode")]]}}

  it("[postgresql] citus: SET LOCAL citus.multi_shard_modify_mode in each transaction, in --sql", function()
    local _, url = h.fresh_pg()
    local dir = project(url, two, "profile = 'citus'\n")
    local status, out, err = h.luamig(dir, "upgrade head --sql")
    assert.equal(0, status, err)
    local _, begins = out:gsub("BEGIN;\n\nSET LOCAL citus.multi_shard_modify_mode TO 'sequential';\n", "")
    local _, all_begins = out:gsub("BEGIN;", "")
    assert.truthy(begins >= 2, out)                    -- one per revision at least
    assert.equal(all_begins, begins, out)              -- and every transaction has it
    -- without the profile: not there
    dir = project(url, two)
    status, out = h.luamig(dir, "upgrade head --sql")
    assert.equal(0, status)
    assert.is_nil(out:find("citus", 1, true), out)
  end)

  it("[postgresql] citus: online, the step's transaction has it (a placeholder GUC on plain PostgreSQL)", function()
    local _, url = h.fresh_pg()
    local dir = project(url, seen_mode, "profile = 'citus'\n")
    local status, _, err = h.luamig(dir, "upgrade head")
    assert.equal(0, status, err)
    assert.same({{mode = "sequential"}}, query(url, "SELECT mode FROM seen"))
    local _, url2 = h.fresh_pg()                        -- the default profile: not set
    status, _, err = h.luamig(project(url2, seen_mode), "upgrade head")
    assert.equal(0, status, err)
    local rows = query(url2, "SELECT mode FROM seen")
    assert.equal(1, #rows)
    assert.is_nil(rows[1].mode)
  end)

  local two_statements = {{id = "ffff6666", code = true, up = [[
  op.execute("CREATE TABLE first_one (id integer)")
  op.execute("CREATE TABLE broken (")]]}}

  for _, p in ipairs({"cockroachdb", "yugabyte"}) do
    it("[postgresql] " .. p .. ": a revision runs outside a transaction unless it says transactional = true", function()
      local _, url = h.fresh_pg()
      local dir = project(url, two_statements, ("profile = %q\n"):format(p))
      local status, _, err = h.luamig(dir, "upgrade head")
      assert.equal(1, status, err)
      assert.truthy(has(err, ("INFO  [luamig] profile %s: a revision without `transactional = true` runs "
        .. "outside a transaction"):format(p)), err)
      assert.same({{n = 1}}, query(url, "SELECT count(*)::integer AS n FROM pg_tables WHERE tablename = 'first_one'"))
      assert.same({}, h.version_rows(url))
      -- the script's own transactional = true is kept: all or nothing
      local _, url2 = h.fresh_pg()
      local revs = {{id = "ffff6666", code = true, up = two_statements[1].up, extra = "transactional = true"}}
      status, _, err = h.luamig(project(url2, revs, ("profile = %q\n"):format(p)), "upgrade head")
      assert.equal(1, status, err)
      assert.same({{n = 0}}, query(url2, "SELECT count(*)::integer AS n FROM pg_tables WHERE tablename = 'first_one'"))
    end)
  end

  it("[postgresql] cockroachdb --sql: the revision's statements without BEGIN, its version row in one", function()
    local _, url = h.fresh_pg()
    local status, out, err = h.luamig(project(url, two_statements, "profile = 'cockroachdb'\n"), "upgrade head --sql")
    assert.equal(0, status, err)
    assert.truthy(has(out, "-- Running upgrade  -> ffff6666\n\nCREATE TABLE first_one (id integer);\n\n"
      .. "CREATE TABLE broken (;\n\nBEGIN;\n\nINSERT INTO \"luamig_version\" (version_num) VALUES ('ffff6666');"
      .. "\n\nCOMMIT;\n"), out)
  end)

  it("[postgresql] cockroachdb and yugabyte take the table lock unless the project sets lock", function()
    for _, p in ipairs({"cockroachdb", "yugabyte"}) do
      local _, url = h.fresh_pg()
      local status, _, err = h.luamig(project(url, two, ("profile = %q\n"):format(p)), "upgrade head")
      assert.equal(0, status, err)
      assert.same({{n = 1}}, query(url, "SELECT count(*)::integer AS n FROM pg_tables WHERE tablename = 'luamig_version_lock'"))
      local _, url2 = h.fresh_pg()
      status, _, err = h.luamig(project(url2, two, ("profile = %q\nlock = 'advisory'\n"):format(p)), "upgrade head")
      assert.equal(0, status, err)
      assert.same({{n = 0}}, query(url2, "SELECT count(*)::integer AS n FROM pg_tables WHERE tablename = 'luamig_version_lock'"))
    end
  end)

  it("[postgresql] the default profile: the same revision is rolled back whole", function()
    local _, url = h.fresh_pg()
    local status, _, err = h.luamig(project(url, two_statements), "upgrade head")
    assert.equal(1, status, err)
    assert.same({{n = 0}}, query(url, "SELECT count(*)::integer AS n FROM pg_tables WHERE tablename = 'first_one'"))
  end)
end)

describe("Citus ops", function()
  local citus_rev = {{id = "abab1212", code = true, up = [[
  op.create_table("Orders", {{"tenant_id", "bigint"}, {"id", "bigint"}})
  op.distribute_table("Orders", "tenant_id", {colocate_with = "it's \"odd\"", shard_count = 32})
  op.distribute_table("events", "TenantId", {colocate_with = "none", schema = "app"})
  op.reference_table("countries")]]}}

  it("[postgresql] --sql: create_distributed_table and create_reference_table, names quoted as values", function()
    local _, url = h.fresh_pg()
    local dir = project(url, citus_rev, "profile = 'citus'\n")
    local status, out, err = h.luamig(dir, "upgrade head --sql")
    assert.equal(0, status, err)
    assert.truthy(has(out, "SELECT create_distributed_table('\"Orders\"'::regclass, 'tenant_id'::text, "
      .. "colocate_with => '\"it''s \"\"odd\"\"\"'::text, shard_count => 32);\n"), out)
    assert.truthy(has(out, "SELECT create_distributed_table('\"app\".\"events\"'::regclass, 'TenantId'::text, "
      .. "colocate_with => 'none'::text);\n"), out)
    assert.truthy(has(out, "SELECT create_reference_table('\"countries\"'::regclass);\n"), out)
  end)

  it("[postgresql] online without the citus extension: a clear error at the op's line, nothing applied", function()
    local _, url = h.fresh_pg()
    local dir = project(url, citus_rev, "profile = 'citus'\n")
    local status, _, err = h.luamig(dir, "upgrade head")
    assert.equal(1, status, err)
    assert.truthy(err:find("abab1212%.lua:%d+: distribute_table: create_distributed_table is Citus's: the "
      .. "database has no citus extension %(profile = \"citus\" needs it"), err)
    assert.same({}, query(url, "SELECT tablename FROM pg_tables WHERE tablename = 'Orders'"))
    assert.same({}, h.version_rows(url))
  end)

  it("[sqlite] refused at the op's line, online and in --sql", function()
    local url = h.fresh_sqlite()
    local dir = project(url, {{id = "abab1212", code = true, up = "  op.reference_table(\"countries\")"}})
    for _, args in ipairs({"upgrade head", "upgrade head --sql"}) do
      local status, _, err = h.luamig(dir, args)
      assert.equal(1, status, err)
      assert.truthy(has(err, "abab1212.lua:8: reference_table: Citus's create_reference_table is for PostgreSQL "
        .. "with the citus extension (profile = \"citus\"); SQLite has no distributed tables"), args .. ": " .. err)
    end
  end)

  it("[sqlite] bad arguments are said at the op's line", function()
    local op = h.offline_op("postgresql")
    assert.equal('distribute_table: option "shard_count" must be a whole number of shards, 1 or more, got 0',
      (h.op_error(op.distribute_table, "t", "c", {shard_count = 0})))
    assert.equal('distribute_table: unknown option "colocate"',
      (h.op_error(op.distribute_table, "t", "c", {colocate = "x"})))
    assert.truthy(has(h.op_error(op.distribute_table, "t"), "distribute_table: argument 2 (column) must be"))
  end)
end)
