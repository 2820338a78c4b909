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

  it("outside attack R2 D6: lock break on the standby is refused; lock status says advisory locks are not seen there", function()
    for _, strategy in ipairs({"table", "advisory"}) do
      local sdir = project(standby_url, two, ('lock = %q\n'):format(strategy))
      local status, out, err = h.luamig(sdir, "lock break --yes")
      assert.equal(1, status, strategy .. ": " .. out .. err)
      assert.truthy(has(err, "FAILED: the server is a read-only standby; break the lock on the primary"), err)
      assert.truthy(has(err, "nothing of the lock break was run"), err)
      assert.is_nil(err:find("read%-only transaction"), err)
      status, out, err = h.luamig(sdir, "lock status")
      assert.equal(0, status, err)
      assert.truthy(has(out, "advisory: not visible here: the server is a read-only standby, and advisory "
        .. "locks are not replicated; ask the primary"), out)
      status, out, err = h.luamig(sdir, "--json lock status")
      assert.equal(0, status, err)
      assert.truthy(has(out, '"standby":true'), out)
      assert.truthy(has(out, '"advisory":{"visible":false}'), out)   -- outside attack R3 D4: not "held":false
    end
    -- the primary's status is not so marked
    local status, out, err = h.luamig(dir, "lock status")
    assert.equal(0, status, err)
    assert.truthy(has(out, "advisory: free"), out)
  end)

  it("with a schema setting naming a missing schema: refused as a standby, not by the CREATE SCHEMA", function()
    local sdir = project(standby_url, two, 'schema = "tenant_new"\n')
    for _, args in ipairs({"upgrade head", "stamp head", "ensure_version"}) do
      local status, _, err = h.luamig(sdir, args)
      assert.equal(1, status, args .. ": " .. err)
      assert.truthy(has(err, "FAILED: the server is a read-only standby; run migrations against the primary"), err)
      assert.is_nil(err:find("read%-only transaction"), err)     -- PostgreSQL's own words, from CREATE SCHEMA
    end
    -- a session read-only by PGOPTIONS on the primary: the same, and no schema is made
    local _, url = h.fresh_pg()
    local d = project(url, two, 'schema = "tenant_new"\n')
    local status, _, err = h.luamig(d, "upgrade head", {PGOPTIONS = "-c default_transaction_read_only=on"})
    assert.equal(1, status, err)
    assert.truthy(has(err, "FAILED: the session is read-only (default_transaction_read_only = on"), err)
    assert.same({}, query(url, "SELECT nspname FROM pg_namespace WHERE nspname = 'tenant_new'"))
    status, _, err = h.luamig(d, "upgrade head")
    assert.equal(0, status, err)
    assert.truthy(has(err, "Created the schema tenant_new"), err)
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
    -- outside attack R2: a deadlock's words, not a serialization failure's
    assert.truthy(has(err, "Other transactions keep taking locks the step needs while waiting for its own"), err)
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
    assert.equal('distribute_table: option "shard_count" must be a whole number of shards from 1 to 64000 '
      .. "(Citus's limit), got 0", (h.op_error(op.distribute_table, "t", "c", {shard_count = 0})))
    assert.equal('distribute_table: unknown option "colocate"',
      (h.op_error(op.distribute_table, "t", "c", {colocate = "x"})))
    assert.truthy(has(h.op_error(op.distribute_table, "t"), "distribute_table: argument 2 (column) must be"))
  end)
end)

describe("outside attack S", function()
  -- S2: a REAL 40001 at the COMMIT luamig sends before a transactional =
  -- false step (transaction_per_migration = false), raised once by a
  -- deferred constraint trigger
  local function commit_db(times)
    local _, url = h.fresh_pg()
    local c = core.connect(url)
    c:exec("CREATE SEQUENCE cnt")
    c:exec("CREATE TABLE t (v text)")
    c:exec("CREATE TABLE trig (v text)")
    c:exec(([[CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      IF nextval('cnt') < %d THEN RAISE EXCEPTION 'commit-time ser' USING ERRCODE = '40001'; END IF;
      RETURN NULL; END $$]]):format(times))
    c:exec([[CREATE CONSTRAINT TRIGGER ct AFTER INSERT ON trig DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW EXECUTE FUNCTION f()]])
    c:close()
    return url
  end
  local c123 = {
    {id = "c1", code = true, up = [[
  op.execute("INSERT INTO t VALUES ('c1')")
  op.execute("INSERT INTO trig VALUES ('c1')")]]},
    {id = "c2", down = "c1", extra = "transactional = false", up = "INSERT INTO t VALUES ('c2')"},
    {id = "c3", down = "c2", up = "INSERT INTO t VALUES ('c3')"},
  }

  it("S2 [postgresql] a 40001 at the COMMIT before a transactional = false step: retried from the first step", function()
    local url = commit_db(2)
    local status, _, err = h.luamig(project(url, c123, "transaction_per_migration = false\n"), "-q upgrade head")
    assert.equal(0, status, err)
    assert.truthy(has(err, "WARN  [luamig] upgrade c1 (revision c1): serialization failure (SQLSTATE 40001: a "
      .. "concurrent transaction's change conflicts with the step's), attempt 1 of 10, next in"), err)
    assert.same({{v = "c1"}, {v = "c2"}, {v = "c3"}}, query(url, "SELECT v FROM t ORDER BY v"))
    assert.same({"c3"}, h.version_rows(url))
  end)

  it("S2 [postgresql] giving up at a COMMIT of the run's transaction names the step, as in a step", function()
    for _, revs in ipairs({{c123[1]}, c123}) do        -- the final COMMIT; the COMMIT before c2
      local url = commit_db(1000)
      local dir = project(url, revs, "transaction_per_migration = false\nlock_retries = 2\n")
      local status, _, err = h.luamig(dir, "-q upgrade head")
      assert.equal(1, status, err)
      assert.truthy(has(err, "FAILED: upgrade c1 (revision c1): commit-time ser\nserialization failure (SQLSTATE "
        .. "40001: a concurrent transaction's change conflicts with the step's), attempt 2 of 2: giving up "
        .. "(lock_retries = 2)"), err)
      assert.same({}, query(url, "SELECT v FROM t"))
      assert.same({}, h.version_rows(url))
    end
  end)

  -- S3: under cockroachdb/yugabyte a revision without a transactional
  -- line runs outside a transaction, and the lint judges it so
  local concurrent = {{id = "dddd4444", code = true, up = [[
  op.create_table("items", {{"id", "integer"}})
  op.create_index("ix_items_id", "items", {"id"}, {postgresql_concurrently = true})]]}}

  for _, p in ipairs({"cockroachdb", "yugabyte"}) do
    it("S3 [postgresql] " .. p .. ": the lint judges a revision without a transactional line as outside a transaction", function()
      local _, url = h.fresh_pg()
      local dir = project(url, concurrent, ("profile = %q\nlint_on_upgrade = 'refuse'\n"):format(p))
      local status, out, err = h.luamig(dir, "lint --offline")
      assert.is_nil((out .. err):find("concurrent-in-transaction", 1, true), out .. err)
      assert.equal(0, status, out .. err)
      status, _, err = h.luamig(dir, "upgrade head")
      assert.equal(0, status, err)
      assert.same({"dddd4444"}, h.version_rows(url))
      -- the default profile: in a transaction, so refused
      local _, url2 = h.fresh_pg()
      status, _, err = h.luamig(project(url2, concurrent, "lint_on_upgrade = 'refuse'\n"), "upgrade head")
      assert.equal(1, status, err)
      assert.truthy(has(err, "concurrent-in-transaction"), err)
      assert.same({}, h.version_rows(url2))
    end)
  end

  -- S4: the read-only refusal comes before upgrade's lint and before any
  -- script code (top level or upgrade()/downgrade()) runs
  it("S4 [postgresql] a read-only session is refused before the lint and any script code", function()
    local name, url = h.fresh_pg()
    local marks = h.tmpdir() .. "/marks"
    local touch = ("os.execute(%q)"):format("echo x >> " .. h.shell_quote(marks))
    local revs = {{id = "eeee5555", code = true, extra = touch, up = "  " .. touch .. [[

  op.create_table("items", {{"id", "integer"}})
  op.create_index("ix_items_id", "items", {"id"})
  op.execute("CREATE INDEX ix_t ON items (id)")]], down_sql = "  " .. touch}}
    local dir = project(url, revs)
    local status, _, err = h.luamig(dir, "upgrade eeee5555")
    assert.equal(0, status, err)
    os.remove(marks)
    local c = core.connect(h.pg_admin_url)
    c:exec(("ALTER DATABASE %s SET default_transaction_read_only = on"):format(core.quote_ident(name)))
    c:close()
    for _, args in ipairs({"upgrade head", "downgrade base", "stamp base"}) do
      status, _, err = h.luamig(dir, args)
      assert.equal(1, status, args .. ": " .. err)
      assert.truthy(has(err, "FAILED: the session is read-only"), err)
      assert.is_nil(err:find("lint:", 1, true), err)
      assert.is_nil(h.read_file(marks), args .. ": a script's code ran")
    end
  end)

  it("S4 [postgresql] the message names the URL's options= parameter, and that is refused too", function()
    local _, url = h.fresh_pg()
    local ro = url .. (url:find("?", 1, true) and "&" or "?") .. "options=-c%20default_transaction_read_only%3Don"
    local status, _, err = h.luamig(project(ro, two), "upgrade head")
    assert.equal(1, status, err)
    assert.truthy(has(err, "by ALTER DATABASE or ALTER ROLE ... SET, in PGOPTIONS, or in the URL's options= "
      .. "parameter); nothing of the upgrade was run"), err)
    assert.same({}, h.tables(url))
  end)

  -- S5: a distributed engine's profile with a SQLite URL: refused by every
  -- command that connects, before the SQLite file is created
  it("S5 [sqlite] every command that connects refuses the profile before creating the file", function()
    local dir = h.project(two, "script_location = 'migrations'\nprofile = 'yugabyte'\n")
    for _, args in ipairs({"ensure_version", "current", "check", "verify", "stamp head", "upgrade head",
                           "upgrade head --sql", "upgrade --plan", "downgrade base", "lint"}) do
      local status, _, err = h.luamig(dir, "--url sqlite:y.db " .. args)
      assert.equal(1, status, args .. ": " .. err)
      assert.truthy(has(err, 'FAILED: profile = "yugabyte" is for servers that speak PostgreSQL\'s protocol; '
        .. "the database is SQLite"), args .. ": " .. err)
      assert.is_nil(h.read_file(dir .. "/y.db"), args .. ": the SQLite file was created")
    end
  end)

  -- S6: the cause of running outside a transaction is the profile
  it("S6 [postgresql] cockroachdb: the messages name the profile, not a transactional line the script lacks", function()
    local _, url = h.fresh_pg()
    local revs = {{id = "ffff6666", code = true, up = [[
  op.execute("CREATE TABLE tries (n integer)")
  op.execute("DO $$BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END$$")]]}}
    local status, _, err = h.luamig(project(url, revs, "profile = 'cockroachdb'\n"), "upgrade head")
    assert.equal(1, status, err)
    local why = 'profile = "cockroachdb" runs a revision without transactional = ... outside a transaction'
    assert.truthy(has(err, "INFO  [luamig] Upgrade ffff6666 runs outside a transaction (" .. why .. ")"), err)
    assert.truthy(has(err, "not retried: this step runs outside a transaction (" .. why .. "), so it cannot"), err)
    assert.truthy(has(err, "This step ran outside a transaction (" .. why .. ")"), err)
    assert.is_nil(err:find("transactional = false", 1, true), err)
  end)

  -- S7, S8: distribute_table's arguments
  it("S7 [postgresql] colocate_with: not qualified with the table's schema; s.t, {schema, table}; keywords in any case", function()
    local op, out = h.offline_op("postgresql")
    op.distribute_table("events", "tid", {schema = "app", colocate_with = "tenants"})
    op.distribute_table("events", "tid", {colocate_with = "public.tenants"})
    op.distribute_table("events", "tid", {colocate_with = {schema = "other", table = "t.x"}})
    op.distribute_table("events", "tid", {colocate_with = {table = "Tenants"}})
    op.distribute_table("events", "tid", {colocate_with = "NONE"})
    op.distribute_table("events", "tid", {colocate_with = "Default"})
    local sql = table.concat(out, "\n")
    for _, want in ipairs({[['"app"."events"'::regclass, 'tid'::text, colocate_with => '"tenants"'::text)]],
                           [[colocate_with => '"public"."tenants"'::text)]],
                           [[colocate_with => '"other"."t.x"'::text)]],
                           [[colocate_with => '"Tenants"'::text)]],
                           [[colocate_with => 'none'::text)]],
                           [[colocate_with => 'default'::text)]]}) do
      assert.truthy(has(sql, want), want .. "\n" .. sql)
    end
    assert.truthy(has(h.op_error(op.distribute_table, "t", "c", {colocate_with = "a.b.c"}),
      'distribute_table: option "colocate_with" must be "default", "none", a table name'), "a.b.c")
    assert.truthy(has(h.op_error(op.distribute_table, "t", "c", {colocate_with = {schema = "s"}}),
      'option "colocate_with" must be'), "no table")
    assert.truthy(has(h.op_error(op.distribute_table, "t", "c", {colocate_with = 3}),
      'option "colocate_with" must be'), "a number")
  end)

  it("S8 [postgresql] shard_count: Citus's range, integral floats, NaN; a NUL in the column at the op", function()
    local op, out = h.offline_op("postgresql")
    op.distribute_table("t", "c", {shard_count = 64.0})
    op.distribute_table("t", "c", {shard_count = 64000})
    assert.truthy(has(out[1], "shard_count => 64)"), out[1])
    assert.truthy(has(out[2], "shard_count => 64000)"), out[2])
    local msg = 'distribute_table: option "shard_count" must be a whole number of shards from 1 to 64000 '
      .. "(Citus's limit), got "
    assert.equal(msg .. tostring(math.maxinteger), (h.op_error(op.distribute_table, "t", "c",
      {shard_count = math.maxinteger})))
    assert.equal(msg .. "64001", (h.op_error(op.distribute_table, "t", "c", {shard_count = 64001})))
    assert.equal(msg .. "NaN", (h.op_error(op.distribute_table, "t", "c", {shard_count = 0/0})))
    assert.equal(msg .. "1.5", (h.op_error(op.distribute_table, "t", "c", {shard_count = 1.5})))
    assert.equal("distribute_table: argument 2 (column) contains a NUL byte: no column name has one",
      (h.op_error(op.distribute_table, "t", "c\0d")))
    -- in --sql, as the attacker ran it: the op's own message at its line
    local _, url = h.fresh_pg()
    local dir = project(url, {{id = "abab1212", code = true, up = [[  op.distribute_table("t", "c\0d")]]}})
    local status, _, err = h.luamig(dir, "upgrade head --sql")
    assert.equal(1, status, err)
    assert.truthy(has(err, "abab1212.lua:8: distribute_table: argument 2 (column) contains a NUL byte"), err)
  end)

  it("S9 upgrade --help: --lock-retries names the 40001/40P01 retries", function()
    local status, out, err = h.luamig(h.tmpdir(), "upgrade --help")
    assert.equal(0, status, err)
    assert.truthy(has(out:gsub("%s+", " "), "attempts of a step whose lock is not granted in time, or that "
      .. "fails in a serialization failure (40001) or deadlock (40P01)"), out)
  end)
end)
