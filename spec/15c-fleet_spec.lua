-- Issue 18, fleets: `luamig fleet COMMAND` over 50 PostgreSQL databases
-- and 10 schemas of another (a password user's URLs, over TCP), one of
-- them made to fail (a table its second revision creates is there
-- already): stop-on-first-error with -j 4 and -j 1, --continue and --json,
-- the report naming the failure, every other target at head, nothing run
-- twice (each revision logs a row in the target's own table), the re-run
-- after the fix running only the failed target; luamig.lua's databases as
-- a function reading a tenant registry; a SQLite fleet; bad input; no
-- password in any output.
local h = require "spec.helpers"
local core = require "luamig.core"
local dkjson = require "dkjson"

local N_DB, N_SCHEMA, BAD = 50, 10, 17

local function has(text, want) assert.truthy(text:find(want, 1, true), text) end
local function lacks(text, bad) assert.falsy(text:find(bad, 1, true), text) end

-- a1 makes the log, a2 a table (the one the bad target already has), a3 a row
local function project(config)
  return h.project({
    {id = "a1", up = "CREATE TABLE fleet_log (rev text NOT NULL); INSERT INTO fleet_log VALUES ('a1')",
     down_sql = "DROP TABLE fleet_log"},
    {id = "a2", down = "a1", up = "CREATE TABLE widgets (id integer); INSERT INTO fleet_log VALUES ('a2')",
     down_sql = "DROP TABLE widgets; DELETE FROM fleet_log WHERE rev = 'a2'"},
    {id = "a3", down = "a2", up = "INSERT INTO fleet_log VALUES ('a3')",
     down_sql = "DELETE FROM fleet_log WHERE rev = 'a3'"},
  }, config)
end

-- The report's rows: label -> {before, after, result}.
local function report_rows(out)
  local rows = {}
  for line in out:gmatch("[^\n]+") do
    local label, before, after, result = line:match("^(.-)%s%s+(%S+)%s%s+(%S+)%s+%S+s%s%s(.*)$")
    if label then rows[label] = {before = before, after = after, result = result} end
    local skipped = line:match("^(.-)%s%s+%-%s%s+%-%s+%-%s%s(skipped)$")
    if skipped then rows[skipped] = {result = "skipped"} end
  end
  return rows
end

describe("[postgresql] luamig fleet over 50 databases and 10 schemas", function()
  local dbs, schema_db, dir, targets_file, pw_escaped = {}, nil, nil, nil, nil
  local labels = {}                                   -- target i's label in the report
  local admin = {}                                    -- target i's admin URL, schema
  local host, port

  setup(function()
    h.ensure_pg_password_user()
    host, port = h.pg_tcp()
    pw_escaped = h.url_escape(h.pg_password)
    local conn = core.connect(h.pg_admin_url)
    local function create()
      local f = assert(io.open("/dev/urandom", "rb"))
      local name = "luamig_fleet_" .. h.hex(f:read(6))
      f:close()
      conn:exec(("CREATE DATABASE %s OWNER %s"):format(core.quote_ident(name), core.quote_ident(h.pg_password_user)))
      return name
    end
    local lines = {"# the fleet of issue 18", ""}
    for i = 1, N_DB do
      dbs[i] = create()
      local url = ("postgresql://%s:%s@%s:%s/%s"):format(h.pg_password_user, pw_escaped, host, port, dbs[i])
      lines[#lines + 1] = url .. (i % 10 == 0 and "   # a tenant" or "")
      labels[i] = ("postgresql://%s:***@%s:%s/%s"):format(h.pg_password_user, host, port, dbs[i])
      admin[i] = {url = h.pg_url_with({dbname = dbs[i]})}
    end
    schema_db = create()
    lines[#lines + 1] = "  # the schemas of one database"
    for s = 1, N_SCHEMA do
      local i = N_DB + s
      lines[#lines + 1] = ("postgresql://%s:%s@%s:%s/%s schema=tenant_%d"):format(h.pg_password_user,
        pw_escaped, host, port, schema_db, s)
      labels[i] = ("postgresql://%s:***@%s:%s/%s schema tenant_%d"):format(h.pg_password_user, host, port, schema_db, s)
      admin[i] = {url = h.pg_url_with({dbname = schema_db}), schema = "tenant_" .. s}
    end
    -- the tenant registry the databases function reads (in the schemas' database, public)
    h.query(admin[N_DB + 1].url, "CREATE TABLE tenant_registry (schema_name text)")
    for s = 1, N_SCHEMA do
      h.query(admin[N_DB + 1].url, "INSERT INTO tenant_registry VALUES ($1)", {"tenant_" .. s})
    end
    -- the bad target: a2's table is there already
    h.query(admin[BAD].url, "CREATE TABLE widgets (x text)")
    conn:close()
    dir = project()
    targets_file = dir .. "/targets"
    h.write_file(targets_file, table.concat(lines, "\n") .. "\n")
  end)

  teardown(function()
    local conn = core.connect(h.pg_admin_url)
    for _, name in ipairs(dbs) do conn:exec("DROP DATABASE IF EXISTS " .. core.quote_ident(name) .. " WITH (FORCE)") end
    if schema_db then conn:exec("DROP DATABASE IF EXISTS " .. core.quote_ident(schema_db) .. " WITH (FORCE)") end
    conn:close()
  end)

  -- target i's log: rev -> count ({} when it has no log table)
  local function log_of(i)
    local a = admin[i]
    local conn = core.connect(a.url)
    local tbl = (a.schema and (core.quote_ident(a.schema) .. ".") or "") .. "fleet_log"
    local ok, rows = pcall(conn.query, conn, "SELECT rev, count(*) AS n FROM " .. tbl .. " GROUP BY rev")
    conn:close()
    local out = {}
    if ok then for _, r in ipairs(rows) do out[r.rev] = math.tointeger(tonumber(r.n)) end end
    return out
  end

  local function no_password(out, err)
    lacks(out .. err, h.pg_password)
    lacks(out .. err, pw_escaped)
  end

  local function fleet(args)
    local status, out, err = h.luamig(dir, "fleet " .. args)
    no_password(out, err)
    return status, out, err
  end

  it("stops at the first failure with -j 4: the failing target named, the rest of its worker skipped", function()
    local status, out, err = fleet("upgrade --targets targets -j 4")
    assert.equal(1, status, err)
    has(err, ("Fleet: upgrade over %d targets, 4 at a time"):format(N_DB + N_SCHEMA))
    local rows = report_rows(out)
    assert.truthy(rows[labels[BAD]], out)
    has(rows[labels[BAD]].result, 'failed: ')
    has(rows[labels[BAD]].result, 'relation "widgets" already exists')
    assert.equal("base", rows[labels[BAD]].before)
    assert.equal("a1", rows[labels[BAD]].after)            -- a1's transaction committed, a2's not
    -- worker 1 runs 1, 5, 9, 13, 17, 21 ...: after 17 it stops
    for i = BAD + 4, N_DB + N_SCHEMA, 4 do assert.equal("skipped", rows[labels[i]].result, out) end
    for i = 1, BAD - 1, 4 do assert.equal("upgraded", rows[labels[i]].result, out) end
    local failed = 0
    for _, r in pairs(rows) do if r.result:match("^failed") then failed = failed + 1 end end
    assert.equal(1, failed, out)
    has(out, "1 failed")
  end)

  it("stops at the first failure with -j 1: every target after it skipped, and not touched", function()
    -- the targets after it that -j 4 left unstarted
    local untouched = {}
    for i = BAD + 1, N_DB do if not next(log_of(i)) then untouched[#untouched + 1] = i end end
    assert.truthy(#untouched > 0)
    local status, out, err = fleet("upgrade --targets targets -j 1")
    assert.equal(1, status, err)
    has(err, "1 at a time")
    local rows = report_rows(out)
    for i = 1, BAD - 1 do
      assert.truthy(rows[labels[i]].result == "upgraded" or rows[labels[i]].result == "already at head", out)
      assert.equal("a3", rows[labels[i]].after)
    end
    has(rows[labels[BAD]].result, 'relation "widgets" already exists')
    for i = BAD + 1, N_DB + N_SCHEMA do assert.equal("skipped", rows[labels[i]].result, out) end
    for _, i in ipairs(untouched) do assert.same({}, log_of(i)) end
    has(out, ("upgrade over %d targets: "):format(N_DB + N_SCHEMA))
    has(out, ("%d skipped"):format(N_DB + N_SCHEMA - BAD))
  end)

  it("--continue --json -j 4: every other target brought to head, the failure in the JSON, nothing ran twice", function()
    local status, jout, err = h.luamig(dir, "--json fleet upgrade --targets targets -j 4 --continue")
    assert.equal(1, status, err)
    no_password(jout, err)
    local doc = assert(dkjson.decode(jout), jout)
    assert.equal("upgrade", doc.command)
    assert.is_false(doc.ok)
    assert.equal(N_DB + N_SCHEMA, #doc.targets)
    for i, t in ipairs(doc.targets) do
      assert.equal(labels[i], t.target)
      assert.is_number(t.seconds)
      if i == BAD then
        assert.equal("failed", t.status)
        has(t.error, 'relation "widgets" already exists')
        assert.same({"a1"}, t.before)
        assert.same({"a1"}, t.after)
      elseif (i - 1) % 4 == 0 and i > BAD then        -- skipped by both runs before: from base
        assert.equal("upgraded", t.status, i)
        assert.same({}, t.before)
        assert.same({"a3"}, t.after)
      else
        assert.truthy(t.status == "already at head" or t.status == "upgraded", i)
        assert.same(t.status == "upgraded" and {} or {"a3"}, t.before)
        assert.same({"a3"}, t.after)
        assert.is_nil(t.error)
      end
    end
    assert.equal("tenant_3", doc.targets[N_DB + 3].schema)
    -- every revision logged once on every target (the bad one: a1 only)
    for i = 1, N_DB + N_SCHEMA do
      assert.same(i == BAD and {a1 = 1} or {a1 = 1, a2 = 1, a3 = 1}, log_of(i), i)
    end
    -- the schemas hold their own version tables; the database's public schema none
    local rows = h.query(admin[N_DB + 4].url, 'SELECT version_num FROM "tenant_4".luamig_version')
    assert.equal("a3", rows[1].version_num)
    rows = h.query(admin[N_DB + 1].url, "SELECT nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid "
      .. "WHERE c.relname = 'luamig_version' ORDER BY nspname")
    assert.equal(N_SCHEMA, #rows)
    for _, r in ipairs(rows) do assert.truthy(r.nspname:match("^tenant_%d+$"), r.nspname) end
  end)

  it("a re-run after the fix brings the failed target to head and runs nothing on the others", function()
    h.query(admin[BAD].url, "DROP TABLE widgets")
    local status, out, err = fleet("upgrade --targets targets -j 4")
    assert.equal(0, status, err .. out)
    local rows = report_rows(out)
    assert.same({before = "a1", after = "a3", result = "upgraded"}, rows[labels[BAD]])
    for i = 1, N_DB + N_SCHEMA do
      if i ~= BAD then assert.same({before = "a3", after = "a3", result = "already at head"}, rows[labels[i]]) end
    end
    has(out, ("upgrade over %d targets: 1 upgraded, %d already at head"):format(N_DB + N_SCHEMA, N_DB + N_SCHEMA - 1))
    for i = 1, N_DB + N_SCHEMA do assert.same({a1 = 1, a2 = 1, a3 = 1}, log_of(i), i) end
    -- verify over all: fine
    status, out, err = fleet("verify --targets targets -j 4")
    assert.equal(0, status, err .. out)
    has(out, ("verify over %d targets: %d ok"):format(N_DB + N_SCHEMA, N_DB + N_SCHEMA))
  end)

  it("databases as a function of luamig.lua reading a tenant registry; downgrade and current per schema", function()
    h.write_file(dir .. "/luamig.lua", ([[
local core = require "luamig.core"
databases = function()
  local conn = core.connect(%q)
  local rows = conn:query("SELECT schema_name FROM tenant_registry ORDER BY schema_name")
  conn:close()
  local out = {}
  for _, r in ipairs(rows) do out[#out + 1] = {url = %q, schema = r.schema_name} end
  return out
end
]]):format(admin[N_DB + 1].url, ("postgresql://%s:%s@%s:%s/%s"):format(h.pg_password_user, pw_escaped,
      host, port, schema_db)))
    local status, out, err = fleet("downgrade -1 -j 3")
    assert.equal(0, status, err .. out)
    has(err, ("Fleet: downgrade over %d targets, 3 at a time"):format(N_SCHEMA))
    local rows = report_rows(out)
    for s = 1, N_SCHEMA do
      assert.same({before = "a3", after = "a2", result = "downgraded"}, rows[labels[N_DB + s]])
      assert.same({a1 = 1, a2 = 1}, log_of(N_DB + s))
    end
    for i = 1, N_DB do assert.is_nil(rows[labels[i]]) end
    status, out, err = fleet("current")
    assert.equal(0, status, err .. out)
    has(out, ("current over %d targets: %d ok"):format(N_SCHEMA, N_SCHEMA))
    assert.same({before = "a2", after = "a2", result = "ok"}, report_rows(out)[labels[N_DB + 7]])
    -- a databases function that fails: said, with the config's name
    h.write_file(dir .. "/luamig.lua", "databases = function() error('registry down') end\n")
    status, _, err = fleet("current")
    assert.equal(1, status)
    has(err, "luamig.lua: the databases function failed: ")
    has(err, "registry down")
  end)

  it("a password in a failing target's URL is not printed, in the report or the error", function()
    local secret = "S3cretFleetPw%21x"
    h.write_file(dir .. "/badpw", ("postgresql://%s:%s@%s:%s/%s\n"):format(h.pg_password_user, secret, host,
      port, dbs[1]))
    local status, out, err = h.luamig(dir, "fleet current --targets badpw")
    assert.equal(1, status, err)
    lacks(out .. err, "S3cretFleetPw")
    has(out, ("postgresql://%s:***@"):format(h.pg_password_user))
    has(out, "failed: ")
    status, out, err = h.luamig(dir, "--json fleet current --targets badpw")
    assert.equal(1, status, err)
    lacks(out .. err, "S3cretFleetPw")
    assert.equal("failed", dkjson.decode(out).targets[1].status)
  end)
end)

describe("[postgresql] the schema setting outside fleets", function()
  it("upgrade puts the version table and the tables in the schema (created, its name quoted); current reads a missing one as empty", function()
    local name, url = h.fresh_pg()
    local dir = project('schema = \'Tenant "7"; x\'\n')
    local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " current")
    assert.equal(0, status, err)
    assert.equal("", out)
    has(err, 'No schema Tenant "7"; x: read as an empty database, nothing created')
    assert.same({}, h.query(url, "SELECT 1 FROM pg_namespace WHERE nspname = $1", {'Tenant "7"; x'}))
    status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")
    assert.equal(0, status, err)
    has(err, 'Database: ')
    has(err, ', schema Tenant "7"; x (from --url)')
    has(err, 'Created the schema Tenant "7"; x')
    local rows = h.query(url, 'SELECT version_num FROM "Tenant ""7""; x".luamig_version')
    assert.equal("a3", rows[1].version_num)
    assert.equal(3, #h.query(url, 'SELECT rev FROM "Tenant ""7""; x".fleet_log'))
    assert.same({}, h.query(url, "SELECT 1 FROM pg_tables WHERE schemaname = 'public'"))
    status, out = h.luamig(dir, "--url " .. h.shell_quote(url) .. " current")
    assert.equal(0, status)
    has(out, "a3 (head)")
    local conn = core.connect(h.pg_admin_url)
    conn:exec("DROP DATABASE " .. core.quote_ident(name) .. " WITH (FORCE)")
    conn:close()
  end)
end)

describe("[sqlite] luamig fleet over several files", function()
  local function sqlite_project()
    return h.project({
      {id = "s1", up = "CREATE TABLE fleet_log (rev text); INSERT INTO fleet_log VALUES ('s1')", down_sql = "DROP TABLE fleet_log"},
      {id = "s2", down = "s1", up = "INSERT INTO fleet_log VALUES ('s2')", down_sql = "DELETE FROM fleet_log WHERE rev = 's2'"},
    })
  end

  it("upgrades each file, a list in luamig.lua; a re-run says already at head; a listed-twice target runs once", function()
    local dir = sqlite_project()
    h.write_file(dir .. "/luamig.lua", ('databases = {"sqlite:%s/a.db", {url = "sqlite:%s/b.db", name = "tenant b"}, '
      .. '"sqlite:%s/c.db", "sqlite:%s/a.db"}\nbogus_setting = 1\n'):format(dir, dir, dir, dir))
    local status, out, err = h.luamig(dir, "fleet upgrade -j 2")
    assert.equal(0, status, err)
    has(err, "is listed again")
    -- every target's runner warns of the setting: said once
    has(err, ("sqlite:%s/a.db, tenant b and sqlite:%s/c.db: "):format(dir, dir))
    local _, n = err:gsub("unknown setting 'bogus_setting'", "")
    assert.equal(1, n, err)
    local rows = report_rows(out)
    assert.same({before = "base", after = "s2", result = "upgraded"}, rows["sqlite:" .. dir .. "/a.db"])
    assert.same({before = "base", after = "s2", result = "upgraded"}, rows["tenant b"])
    has(out, "upgrade over 3 targets: 3 upgraded")
    for _, f in ipairs{"a", "b", "c"} do
      local got = h.query(("sqlite:%s/%s.db"):format(dir, f), "SELECT count(*) AS n FROM fleet_log")
      assert.equal(2, math.tointeger(tonumber(got[1].n)))
    end
    status, out = h.luamig(dir, "fleet upgrade")
    assert.equal(0, status)
    has(out, "upgrade over 3 targets: 3 already at head")
    status, out = h.luamig(dir, "fleet downgrade s1")
    assert.equal(0, status)
    has(out, "downgrade over 3 targets: 3 downgraded")
    status, out = h.luamig(dir, "fleet downgrade s1")
    assert.equal(0, status)
    has(out, "downgrade over 3 targets: 3 nothing to do")
  end)

  it("check over the files: the one that drifted from schema.lua fails, --continue checks the rest", function()
    local dir = sqlite_project()
    h.write_file(dir .. "/schema.lua", 'function schema(op) op.create_table("fleet_log", {{"rev", "text"}}) end\n')
    h.write_file(dir .. "/t", ("sqlite:%s/a.db\nsqlite:%s/b.db\nsqlite:%s/c.db\n"):format(dir, dir, dir))
    assert.equal(0, (h.luamig(dir, "-q fleet upgrade --targets t")))
    h.query(("sqlite:%s/b.db"):format(dir), "ALTER TABLE fleet_log ADD COLUMN extra integer")
    local status, out, err = h.luamig(dir, "fleet check --targets t --continue")
    assert.equal(1, status, err)
    local rows = report_rows(out)
    assert.equal("ok", rows[("sqlite:%s/a.db"):format(dir)].result)
    assert.equal("failed: New upgrade operations detected: 1 (`luamig check` on this target lists them)",
      rows[("sqlite:%s/b.db"):format(dir)].result)
    assert.equal("ok", rows[("sqlite:%s/c.db"):format(dir)].result)
    status, out = h.luamig(dir, "fleet check --targets t")
    assert.equal(1, status)
    assert.equal("skipped", report_rows(out)[("sqlite:%s/c.db"):format(dir)].result)
  end)

  it("upgrade lints each target first: lint_on_upgrade = refuse fails the one whose table is large", function()
    local dir = sqlite_project()
    h.write_file(dir .. "/migrations/versions/s3.lua", h.script{id = "s3", down = "s2",
      code = true, up = '  op.alter_column("fleet_log", "rev", {nullable = false})',
      down_sql = '  op.alter_column("fleet_log", "rev", {nullable = true})'})
    h.write_file(dir .. "/t", ("sqlite:%s/small.db\nsqlite:%s/large.db\n"):format(dir, dir))
    assert.equal(0, (h.luamig(dir, "-q fleet upgrade s2 --targets t")))
    h.query(("sqlite:%s/large.db"):format(dir), "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
      .. "FROM n WHERE i < 1500) INSERT INTO fleet_log SELECT 'x' || i FROM n")
    h.write_file(dir .. "/luamig.lua", 'lint_on_upgrade = "refuse"\n')
    local status, out, err = h.luamig(dir, "fleet upgrade --targets t --continue")
    assert.equal(1, status, err)
    local rows = report_rows(out)
    assert.same({before = "s2", after = "s3", result = "upgraded"}, rows[("sqlite:%s/small.db"):format(dir)])
    local large = rows[("sqlite:%s/large.db"):format(dir)]
    assert.equal("s2", large.after)
    has(large.result, "failed: upgrade refused: the lint found 1 error in the revisions to apply")
    has(err, "lint: error sqlite-rebuild")
    has(err, "lint: warning sqlite-rebuild")
  end)

  it("Ctrl-C stops every worker after its step rolls back, even with --continue; the rest skipped, exit 130", function()
    local dir = sqlite_project()
    -- s3 says it started (a line appended: two workers' random numbers can be the same
    -- under ASan, whose heap addresses seed them), then waits (up to 30 s) for the signal
    h.write_file(dir .. "/migrations/versions/s3.lua", h.script{id = "s3", down = "s2", code = true, up = ([[
  local f = assert(io.open(%q .. "/started", "a")) f:write("x\n") f:close()
  local t = os.time()
  while os.time() - t < 30 do end
  op.execute("CREATE TABLE never (x integer)")]]):format(dir)})
    h.write_file(dir .. "/luamig.lua", 'lint_on_upgrade = "off"\n')
    h.write_file(dir .. "/t", ("sqlite:%s/a.db\nsqlite:%s/b.db\nsqlite:%s/c.db\nsqlite:%s/d.db\n")
      :format(dir, dir, dir, dir))
    local script = ([[
cd %s
setsid sh -c 'exec %s fleet upgrade --targets t -j 2 --continue >out 2>err' &
pid=$!
n=0
while [ "$(cat started 2>/dev/null | wc -l)" -lt 2 ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
kill -INT -- -$pid
wait $pid
echo $?
]]):format(h.shell_quote(dir), h.shell_quote(h.bin))
    local status, rc = h.run("bash -c " .. h.shell_quote(script))
    assert.equal(0, status)
    assert.equal("130\n", rc)
    local out, err = h.read_file(dir .. "/out"), h.read_file(dir .. "/err")
    local rows = report_rows(out)
    for _, f in ipairs{"a", "b"} do
      local r = rows[("sqlite:%s/%s.db"):format(dir, f)]
      assert.equal("base", r.before)
      assert.equal("s2", r.after)
      has(r.result, "failed: interrupted (Ctrl-C) during upgrade s3")
      has(r.result, "the step was rolled back")
      assert.same({}, h.query(("sqlite:%s/%s.db"):format(dir, f), "SELECT name FROM sqlite_master WHERE name = 'never'"))
    end
    for _, f in ipairs{"c", "d"} do assert.equal("skipped", rows[("sqlite:%s/%s.db"):format(dir, f)].result) end
    has(err, "interrupted (SIGINT): each target's row says where it is; run the command again to go on")
    assert.is_false(h.file_exists(dir .. "/c.db"))
  end)

  it("a schema on a SQLite target is refused before anything runs", function()
    local dir = sqlite_project()
    h.write_file(dir .. "/t", ("sqlite:%s/x.db schema=tenant_1\n"):format(dir))
    local status, _, err = h.luamig(dir, "fleet upgrade --targets t")
    assert.equal(1, status)
    has(err, "t:1: schema = \"tenant_1\": schemas are PostgreSQL's")
    assert.is_false(h.file_exists(dir .. "/x.db"))
  end)
end)

describe("luamig fleet: bad input", function()
  local dir
  setup(function()
    dir = h.project({{id = "r1", up = "SELECT 1"}})
    h.write_file(dir .. "/t", "sqlite:" .. dir .. "/one.db\n")
  end)

  local function usage(args, want)
    local status, out, err = h.luamig(dir, args)
    assert.equal(2, status, err)
    assert.equal("", out)
    has(err, want)
    has(err, "usage: luamig fleet COMMAND")
  end

  it("exits 2 with the usage for a missing file, a bad -j, an unknown command, no targets", function()
    usage("fleet upgrade --targets nope", "--targets nope: no such file")
    usage("fleet upgrade --targets t -j 0", "-j takes a number of targets to run at a time, 1 to 64, not '0'")
    usage("fleet upgrade --targets t -j x", "not 'x'")
    usage("fleet upgrade --targets t -j 65", "not '65'")
    usage("fleet upgrade --targets t -j", "option -j needs a value")
    usage("fleet migrate --targets t", "fleet runs upgrade, downgrade, current, check or verify, not 'migrate'")
    usage("fleet --targets t", "fleet needs a command")
    usage("fleet downgrade --targets t", "fleet downgrade needs a target revision")
    usage("fleet current r1 --targets t", "fleet current takes no revision")
    usage("fleet upgrade", "fleet needs targets: --targets FILE")
    usage("--url sqlite:x.db fleet upgrade --targets t", "not --url")
  end)

  it("exits 1 naming the file and line of a bad target", function()
    h.write_file(dir .. "/bad", "# ok\nsqlite:" .. dir .. "/one.db\nnotaurl://x\n")
    local status, out, err = h.luamig(dir, "fleet upgrade --targets bad")
    assert.equal(1, status)
    assert.equal("", out)
    has(err, "bad:3: ")
    assert.is_false(h.file_exists(dir .. "/one.db"))          -- nothing ran
    h.write_file(dir .. "/bad", "sqlite:" .. dir .. "/one.db color=blue\n")
    status, _, err = h.luamig(dir, "fleet upgrade --targets bad")
    assert.equal(1, status)
    has(err, "bad:1: unexpected text after the URL (not shown")       -- it may be a password's rest
    lacks(err, "blue")
    h.write_file(dir .. "/luamig.lua", "databases = {{url = 'sqlite:x.db', schema_name = 'a'}}\n")
    status, _, err = h.luamig(dir, "fleet upgrade")
    assert.equal(1, status)
    has(err, "luamig.lua: databases[1]: unknown key 'schema_name'")
    h.write_file(dir .. "/luamig.lua", "databases = 'sqlite:x.db'\n")
    status, _, err = h.luamig(dir, "fleet upgrade")
    assert.equal(1, status)
    has(err, "databases must be a list of database URLs")
  end)
end)

-- Outside attacker F's reproducers (fleet and the schema setting).
describe("outside attack F", function()
  -- s1 makes a table; code: extra Lua run first in its upgrade
  local function slow_project(code)
    return h.project({{id = "s1", code = true, up = (code or "") .. '\n  op.execute("CREATE TABLE t1 (id integer)")',
      down_sql = '  op.execute("DROP TABLE t1")'}}, 'lint_on_upgrade = "off"\n')
  end
  -- the lines of text (a count of "started" lines a migration appends)
  local function count_lines(path)
    local text = h.read_file(path) or ""
    local _, n = text:gsub("\n", "")
    return n
  end
  -- the fleet's temp files (/tmp/lua_*: the job files hold the URLs) that still name dir
  local function temp_files_naming(dir)
    local _, out = h.run("grep -lsF " .. h.shell_quote(dir) .. " /tmp/lua_* || true")
    return out
  end

  it("1, 11: a label of 100+ characters and control characters in a name keep the text report's rows", function()
    local dir = slow_project()
    local long = dir .. "/" .. ("x"):rep(100)
    os.execute("mkdir -p " .. h.shell_quote(long))
    h.write_file(dir .. "/luamig.lua", ([[databases = {"sqlite:%s/lg.db",
      {url = "sqlite:%s/b.db", name = "ev\nfake  base  s1  0.01s  upgraded\27[2K\r"}}
]]):format(long, dir))
    local status, out, err = h.luamig(dir, "fleet upgrade")
    assert.equal(0, status, err)
    assert.same({before = "base", after = "s1", result = "upgraded"}, report_rows(out)["sqlite:" .. long .. "/lg.db"])
    local label = "ev\\x0afake  base  s1  0.01s  upgraded\\x1b[2K\\x0d"
    local row
    for line in out:gmatch("[^\n]+") do if line:find(label, 1, true) == 1 then row = line:sub(#label + 1) end end
    assert.truthy(row and row:match("^%s+base%s+s1%s+%S+s  upgraded$"), out)
    lacks(out, "\nfake")
    lacks(out, "\27")
    has(out, "upgrade over 2 targets: 2 upgraded")
  end)

  it("2, 10: a schema name PostgreSQL would cut or read otherwise is refused before anything runs", function()
    local dir = slow_project()
    local url = "postgresql://nobody@127.0.0.1:1/nowhere"
    for _, case in ipairs{
      {("tenant_"):rep(9) .. "acme", "t:1: schema name longer than 63 bytes (67)"},
      {"pg_temp_3", 't:1: schema "pg_temp_3" is reserved by PostgreSQL'},
      {"$user", 't:1: schema "$user" is reserved by PostgreSQL'},
    } do
      h.write_file(dir .. "/t", ("%s schema=%s\n"):format(url, case[1]))
      local status, out, err = h.luamig(dir, "fleet upgrade --targets t")
      assert.equal(1, status, err)
      assert.equal("", out)
      has(err, case[2])
      lacks(err, "connect")
    end
    -- the setting outside fleets too (a NUL byte, a name of 64 bytes)
    for _, case in ipairs{{'"a\\0b"', 'schema "a\\0b" holds a control character'},
                          {'("t"):rep(64)', "schema name longer than 63 bytes (64)"}} do
      h.write_file(dir .. "/luamig.lua", "schema = " .. case[1] .. "\n")
      local status, _, err = h.luamig(dir, "--url " .. url .. " upgrade")
      assert.equal(1, status, err)
      has(err, "luamig.lua: " .. case[2])
      lacks(err, "connect")
    end
  end)

  it("3: two spellings of one SQLite file at once: the second run applied nothing and says so, BEFORE = AFTER", function()
    local dir = slow_project('  os.execute("sleep 1")')
    h.write_file(dir .. "/t", ("sqlite:%s/x.db\nsqlite:///%s/x.db\n"):format(dir, dir))
    local status, out, err = h.luamig(dir, "fleet upgrade --targets t -j 2")
    assert.equal(0, status, err)
    local rows = report_rows(out)
    local a, b = rows[("sqlite:%s/x.db"):format(dir)], rows[("sqlite:///%s/x.db"):format(dir)]
    if a.result ~= "upgraded" then a, b = b, a end
    assert.same({before = "base", after = "s1", result = "upgraded"}, a)
    assert.same({before = "s1", after = "s1", result = "already at head"}, b)
    has(out, "upgrade over 2 targets: 1 upgraded, 1 already at head")
  end)

  -- 4 targets, -j 2; each run says it started, then waits 1 s; the signal
  -- goes to the parent alone once both workers have started
  local function start_then_signal(signal)
    local dir = h.tmpdir()
    local proj = h.project({{id = "s1", code = true, up = ([[
  local f = assert(io.open(%q, "a")) f:write("x\n") f:close()
  os.execute("sleep 1")
  op.execute("CREATE TABLE t1 (id integer)")]]):format(dir .. "/started"), down_sql = '  op.execute("DROP TABLE t1")'}},
      'lint_on_upgrade = "off"\n')
    h.write_file(proj .. "/t", ("sqlite:%s/a.db\nsqlite:%s/b.db\nsqlite:%s/c.db\nsqlite:%s/d.db\n")
      :format(dir, dir, dir, dir))
    local script = ([[
cd %s
%s fleet upgrade --targets t -j 2 >out 2>err &
pid=$!
n=0
while [ "$(cat %s 2>/dev/null | wc -l)" -lt 2 ] && [ $n -lt 300 ]; do sleep 0.05; n=$((n + 1)); done
kill -%s $pid
wait $pid
echo $?
]]):format(h.shell_quote(proj), h.shell_quote(h.bin), h.shell_quote(dir .. "/started"), signal)
    local status, rc = h.run("bash -c " .. h.shell_quote(script))
    assert.equal(0, status)
    return dir, proj, rc
  end

  it("5: SIGTERM to the parent alone: the running targets end, no worker starts another, exit 143", function()
    local dir, proj, rc = start_then_signal("TERM")
    assert.equal("143\n", rc)
    local rows = report_rows(h.read_file(proj .. "/out"))
    for _, f in ipairs{"a", "b"} do
      assert.same({before = "base", after = "s1", result = "upgraded"}, rows[("sqlite:%s/%s.db"):format(dir, f)])
    end
    for _, f in ipairs{"c", "d"} do
      assert.equal("skipped", rows[("sqlite:%s/%s.db"):format(dir, f)].result)
      assert.is_false(h.file_exists(("%s/%s.db"):format(dir, f)))
    end
    assert.equal(2, count_lines(dir .. "/started"))
    has(h.read_file(proj .. "/err"), "interrupted (SIGTERM)")
    assert.equal("", temp_files_naming(dir))
  end)

  it("5: SIGKILL of the parent: its workers end their targets, start no other, and remove the job files", function()
    local dir = start_then_signal("KILL")
    local n = 0
    while temp_files_naming(dir) ~= "" and n < 60 do os.execute("sleep 0.1") n = n + 1 end
    assert.equal("", temp_files_naming(dir))            -- the job files (passwords) too
    os.execute("sleep 0.3")
    assert.equal(2, count_lines(dir .. "/started"))
    for _, f in ipairs{"c", "d"} do assert.is_false(h.file_exists(("%s/%s.db"):format(dir, f))) end
  end)

  it("6: a worker killed by a signal: its target failed, saying so; the ones it never started skipped", function()
    local dir = slow_project(([[
  if os.remove(%q) then os.execute("kill -9 $PPID") end]]):format("killme"))
    h.write_file(dir .. "/killme", "")
    h.write_file(dir .. "/t", ("sqlite:%s/a.db\nsqlite:%s/b.db\nsqlite:%s/c.db\n"):format(dir, dir, dir))
    local status, out, err = h.luamig(dir, "fleet upgrade --targets t")
    assert.equal(1, status, err)
    local rows = report_rows(out)
    local row
    for line in out:gmatch("[^\n]+") do
      if line:find("sqlite:" .. dir .. "/a.db ", 1, true) == 1 then row = line end
    end
    assert.truthy(row, out)
    assert.truthy(row:match("^%S+%s+%?%s+%?%s+%-%s+failed: the worker process running it was killed by signal 9$"), row)
    for _, f in ipairs{"b", "c"} do
      assert.equal("skipped", rows[("sqlite:%s/%s.db"):format(dir, f)].result)
      assert.is_false(h.file_exists(("%s/%s.db"):format(dir, f)))
    end
    has(out, "upgrade over 3 targets: 1 failed, 2 skipped")
  end)

  it("8: fleet current fails a target whose version row names no script", function()
    local dir = slow_project()
    h.write_file(dir .. "/t", ("sqlite:%s/a.db\nsqlite:%s/b.db\n"):format(dir, dir))
    assert.equal(0, (h.luamig(dir, "-q fleet upgrade --targets t")))
    h.query(("sqlite:%s/b.db"):format(dir), "UPDATE luamig_version SET version_num = 'zzz'")
    local status, out = h.luamig(dir, "fleet current --targets t --continue")
    assert.equal(1, status)
    local rows = report_rows(out)
    assert.equal("ok", rows[("sqlite:%s/a.db"):format(dir)].result)
    has(rows[("sqlite:%s/b.db"):format(dir)].result, "failed: Can't locate revision identified by 'zzz'")
    -- 16: --json ends its line; seconds at most 3 decimals (no 0.0089999999999999993)
    status, out = h.luamig(dir, "--json fleet current --targets t --continue")
    assert.equal(1, status)
    assert.equal("}\n", out:sub(-2))
    local n = 0
    for secs in out:gmatch('"seconds":([^,}]*)') do
      n = n + 1
      assert.truthy(secs:match("^%d+%.?%d?%d?%d?$"), secs)
    end
    assert.equal(2, n)
  end)

  it("9: no targets (an empty file, only comments, databases = {} or a function returning {}) is a usage error", function()
    local dir = slow_project()
    h.write_file(dir .. "/empty", "")
    h.write_file(dir .. "/comments", "# none yet\n\n   # really\n")
    for _, args in ipairs{"fleet upgrade --targets empty", "fleet upgrade --targets comments"} do
      local status, out, err = h.luamig(dir, args)
      assert.equal(2, status, err)
      assert.equal("", out)
      has(err, "no targets in ")
      has(err, "usage: luamig fleet COMMAND")
    end
    for _, setting in ipairs{"databases = {}", "databases = function() return {} end"} do
      h.write_file(dir .. "/luamig.lua", setting .. "\n")
      local status, _, err = h.luamig(dir, "fleet current")
      assert.equal(2, status, err)
      has(err, "no targets in luamig.lua's databases")
    end
  end)

  it("12, 14, 15: the project's schema is each target's, checked up front; a directory, repeated keys, holes, an error table", function()
    local dir = slow_project()
    h.write_file(dir .. "/t", ("sqlite:%s/a.db\n"):format(dir))
    h.write_file(dir .. "/luamig.lua", 'schema = "tenant_1"\n')
    local status, out, err = h.luamig(dir, "fleet upgrade --targets t")
    assert.equal(1, status, err)
    assert.equal("", out)
    has(err, 't:1: schema = "tenant_1": schemas are PostgreSQL\'s')
    assert.is_false(h.file_exists(dir .. "/a.db"))
    h.write_file(dir .. "/luamig.lua", "")
    status, out, err = h.luamig(dir, "fleet upgrade --targets " .. h.shell_quote(dir))
    assert.equal(2, status, err)
    has(err, "a directory, not a file")
    has(err, "usage: luamig fleet COMMAND")
    for _, case in ipairs{
      {"t", ("sqlite:%s/a.db name=x name=y\n"):format(dir), "t:1: name= given twice"},
      {"luamig.lua", ('databases = {[1] = "sqlite:%s/a.db", [3] = "sqlite:%s/b.db"}\n'):format(dir, dir),
       "luamig.lua: databases has the key 3; it must be a list"},
      {"luamig.lua", ('databases = {"sqlite:%s/a.db", extra = "sqlite:%s/b.db"}\n'):format(dir, dir),
       "luamig.lua: databases has the key 'extra'"},
      {"luamig.lua", "databases = function() error({code = 1}) end\n",
       "the databases function failed: an error value (a table) with no message"},
    } do
      h.write_file(dir .. "/luamig.lua", "")
      h.write_file(dir .. "/" .. case[1], case[2])
      status, out, err = h.luamig(dir, "fleet upgrade" .. (case[1] == "t" and " --targets t" or ""))
      assert.equal(1, status, err)
      has(err, case[3])
      assert.is_false(h.file_exists(dir .. "/a.db"))
    end
  end)

  describe("[postgresql]", function()
    local name, url, dir
    setup(function()
      name, url = h.fresh_pg()
      dir = project()
    end)
    teardown(function()
      local conn = core.connect(h.pg_admin_url)
      conn:exec("DROP DATABASE " .. core.quote_ident(name) .. " WITH (FORCE)")
      conn:close()
    end)

    -- Runs the shell command cmd (in dir) while a transaction of this
    -- process holds schema created but not committed, until n sessions wait
    -- on it (each run found no schema, and its CREATE SCHEMA waits on the
    -- unique index); then commits: the runs all go on. Returns cmd's output.
    local function racing_creators(schema, n, cmd)
      local holder = core.connect(url)
      holder:exec("BEGIN")
      holder:exec("CREATE SCHEMA " .. core.quote_ident(schema))
      local p = assert(io.popen(("exec 2>&1; cd %s || exit 1; %s"):format(h.shell_quote(dir), cmd)))
      local waiting, tries = 0, 0
      while waiting < n and tries < 200 do
        os.execute("sleep 0.05")
        tries = tries + 1
        waiting = math.tointeger(tonumber(h.query(h.pg_admin_url, "SELECT count(*) AS n FROM pg_stat_activity "
          .. "WHERE datname = $1 AND wait_event_type = 'Lock'", {name})[1].n))
      end
      local seen = {}
      for _, r in ipairs(h.query(h.pg_admin_url, "SELECT wait_event_type AS w, wait_event AS e, query AS q "
          .. "FROM pg_stat_activity WHERE datname = $1", {name})) do
        seen[#seen + 1] = ("%s %s %s"):format(tostring(r.w), tostring(r.e), tostring(r.q))
      end
      holder:exec("COMMIT")
      holder:close()
      local out = p:read("a")
      p:close()
      assert.equal(n, waiting, out .. table.concat(seen, "\n"))
      return out
    end

    it("4: two plain upgrades creating a missing schema at once: both succeed, each revision runs once", function()
      h.write_file(dir .. "/luamig.lua", 'schema = "solo"\n')
      local one = ("%s -q --url %s upgrade; echo $?"):format(h.shell_quote(h.bin), h.shell_quote(url))
      local out = racing_creators("solo", 2, ("(%s) & (%s) & wait"):format(one, one))
      assert.equal("0\n0\n", out)
      assert.equal("a3", h.query(url, "SELECT version_num FROM solo.luamig_version")[1].version_num)
      assert.equal(3, #h.query(url, "SELECT rev FROM solo.fleet_log"))
    end)

    it("4, 3: a fleet of two spellings of one missing schema, -j 2: one creates and upgrades it, the other finds it at head", function()
      h.write_file(dir .. "/luamig.lua", "")
      h.write_file(dir .. "/t", ("%s schema=fleet_x\n%s&application_name=again schema=fleet_x\n"):format(url, url))
      local out = racing_creators("fleet_x", 2, h.shell_quote(h.bin) .. " -q fleet upgrade --targets t -j 2; echo $?")
      has(out, "upgrade over 2 targets: 1 upgraded, 1 already at head\n0\n")
      assert.equal(3, #h.query(url, "SELECT rev FROM fleet_x.fleet_log"))
    end)

    it("12, 13: the project's schema shown in each target's row; downgrade of a missing schema creates none", function()
      h.write_file(dir .. "/luamig.lua", 'schema = "top_s"\n')
      h.write_file(dir .. "/t", ("%s\n%s schema=top_s\n"):format(url, url))
      local status, out, err = h.luamig(dir, "--json fleet downgrade base --targets t")
      assert.equal(0, status, err)
      has(err, "is listed again")
      local doc = dkjson.decode(out)
      assert.equal(1, #doc.targets)
      assert.equal("top_s", doc.targets[1].schema)
      assert.equal("nothing to do", doc.targets[1].status)
      assert.same({}, h.query(url, "SELECT 1 FROM pg_namespace WHERE nspname = 'top_s'"))
    end)

    it("7: upgrade --sql with the schema setting makes and selects the schema first; run, it lands there", function()
      h.write_file(dir .. "/luamig.lua", 'schema = "Tenant x"\n')
      local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade --sql")
      assert.equal(0, status, err)
      assert.equal('CREATE SCHEMA IF NOT EXISTS "Tenant x";\n\nSET search_path TO "Tenant x";\n\n',
        out:sub(1, #'CREATE SCHEMA IF NOT EXISTS "Tenant x";\n\nSET search_path TO "Tenant x";\n\n'))
      local conn = core.connect(url)
      conn:exec(out)
      conn:close()
      assert.equal("a3", h.query(url, 'SELECT version_num FROM "Tenant x".luamig_version')[1].version_num)
      assert.same({}, h.query(url, "SELECT 1 FROM pg_tables WHERE schemaname = 'public'"))
    end)
  end)
end)

describe("outside attack R2", function()
  it("D7: an unencoded space in a targets file's password: the text after it is not echoed, %20 is named", function()
    local dir = project()
    h.write_file(dir .. "/t", "postgresql://app:correct horse-battery-staple@db.example/app\n")
    local status, out, err = h.luamig(dir, "fleet current --targets t")
    assert.equal(1, status, err)
    assert.equal("", out)
    has(err, "t:1: unexpected text after the URL")
    has(err, "%20")
    has(err, "URL [schema=NAME] [name=LABEL]")
    for _, secret in ipairs{"horse", "battery", "staple", "db.example"} do lacks(out .. err, secret) end
  end)

  it("nits: a warning of several targets names them; '1 more target', singular", function()
    local dir = project()
    local list = {}
    for i = 1, 4 do list[i] = ('"sqlite:%s/n%d.db"'):format(dir, i) end
    h.write_file(dir .. "/luamig.lua", ("databases = {%s}\nbogus_setting = 1\n"):format(table.concat(list, ", ")))
    local status, _, err = h.luamig(dir, "fleet current")
    assert.equal(0, status, err)
    has(err, ("WARN  [luamig] sqlite:%s/n1.db, sqlite:%s/n2.db, sqlite:%s/n3.db and 1 more target: %s/luamig.lua: unknown setting")
      :format(dir, dir, dir, dir))
  end)

  it("D8: a label's newline and ESC reach stderr escaped, in a target's warnings and in 'listed again'", function()
    local dir = h.project({{id = "w1", up = "ANALYZE", down_sql = "SELECT 1"}})
    h.write_file(dir .. "/luamig.lua", ([[databases = {
  {url = "sqlite:%s/a.db", name = "lbl\nFORGED ROW\27[2J"},
  {url = "sqlite:%s/a.db", name = "two\nFORGED TWO\27[2J"},
}
]]):format(dir, dir))
    local status, out, err = h.luamig(dir, "fleet upgrade")
    assert.equal(0, status, err)
    has(err, "lbl\\x0aFORGED ROW\\x1b[2J: lint: warning execute-unjudged")
    has(err, "two\\x0aFORGED TWO\\x1b[2J is listed again")
    lacks(err, "\27")
    lacks(err, "\nFORGED")
    lacks(out, "\27")
    has(out, "upgrade over 1 target: 1 upgraded")
  end)

  it("D9: a relative REV over two spellings of one SQLite file is refused before anything runs", function()
    local dir = h.project({
      {id = "r1", up = "CREATE TABLE t1 (id integer)", down_sql = "DROP TABLE t1"},
      {id = "r2", down = "r1", up = "CREATE TABLE t2 (id integer)", down_sql = "DROP TABLE t2"},
      {id = "r3", down = "r2", up = "CREATE TABLE t3 (id integer)", down_sql = "DROP TABLE t3"},
    }, 'lint_on_upgrade = "off"\n')
    local status, _, err = h.luamig(dir, "--url sqlite:x.db upgrade")
    assert.equal(0, status, err)
    os.execute(("ln -s x.db %s/y.db"):format(h.shell_quote(dir)))
    h.write_file(dir .. "/t", ("sqlite:%s/x.db\nsqlite:%s/other.db\nsqlite:%s/y.db\n"):format(dir, dir, dir))
    for _, rev in ipairs{"downgrade -1", "upgrade +1", "downgrade r3@-2"} do
      local out
      status, out, err = h.luamig(dir, "fleet " .. rev .. " --targets t")
      assert.equal(1, status, err)
      assert.equal("", out)
      has(err, "t:1 and t:3 are one database (the file ")
      has(err, "a relative revision")
      assert.same({{version_num = "r3"}}, h.query("sqlite:" .. dir .. "/x.db", "SELECT version_num FROM luamig_version"))
      assert.is_false(h.file_exists(dir .. "/other.db"))
    end
    -- an absolute REV runs: the second spelling finds it done
    local out
    status, out, err = h.luamig(dir, "fleet downgrade r2 --targets t --continue")
    has(out, "downgraded")
    has(out, "nothing to do")
    assert.same({{version_num = "r2"}}, h.query("sqlite:" .. dir .. "/x.db", "SELECT version_num FROM luamig_version"))
  end)

  describe("[postgresql]", function()
    local names = {}
    local function fresh()
      local name, url = h.fresh_pg()
      names[#names + 1] = name
      return name, url
    end
    teardown(function()
      local conn = core.connect(h.pg_admin_url)
      for _, name in ipairs(names) do
        conn:exec("DROP DATABASE IF EXISTS " .. core.quote_ident(name) .. " WITH (FORCE)")
      end
      conn:close()
    end)

    it("D4: a read-only target of fleet upgrade or downgrade is refused before any script's code runs", function()
      local name, url = fresh()
      local marker = h.tmpdir() .. "/SCRIPT_CODE_RAN"
      local dir = h.project({{id = "m1", up = "CREATE TABLE t1 (id integer)", down_sql = "DROP TABLE t1",
        extra = ("io.open(%q, 'w'):close()"):format(marker)}})
      h.query(h.pg_admin_url, ("ALTER DATABASE %s SET default_transaction_read_only = on"):format(core.quote_ident(name)))
      h.write_file(dir .. "/t", url .. "\n")
      for _, command in ipairs{"upgrade", "downgrade base"} do
        local status, out, err = h.luamig(dir, "fleet " .. command .. " --targets t")
        assert.equal(1, status, err)
        has(out, "failed: the session is read-only")
        assert.is_false(h.file_exists(marker), command)
      end
      -- as plain upgrade
      local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade")
      assert.equal(1, status, err)
      has(err, "the session is read-only")
      assert.is_false(h.file_exists(marker))
    end)

    it("D9: a relative REV over two spellings of one database or schema is refused; other schemas run", function()
      local _, url = fresh()
      local dir = project()
      local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade")
      assert.equal(0, status, err)
      local function version() return h.query(url, "SELECT version_num FROM luamig_version")[1].version_num end
      for _, case in ipairs{
        -- another spelling, whose session shows times in another zone
        {"downgrade -1", ("%s\n%s&options=-c%%20TimeZone%%3DAsia/Tokyo\n"):format(url, url)},
        {"upgrade +1", ("%s\n%s schema=public\n"):format(url, url)},
      } do
        h.write_file(dir .. "/t", case[2])
        local out
        status, out, err = h.luamig(dir, "fleet " .. case[1] .. " --targets t")
        assert.equal(1, status, err)
        assert.equal("", out)
        has(err, "t:1 and t:2 are one database (the database ")
        assert.equal("a3", version())
        assert.equal(3, #h.query(url, "SELECT rev FROM fleet_log"))
      end
      -- outside attack R3 D3: a schema not made yet, named by schema= and by the URL's search_path
      h.write_file(dir .. "/t", ("%s schema=R3_new\n%s&options=-csearch_path%%3D%%22R3_new%%22\n"):format(url, url))
      status, _, err = h.luamig(dir, "fleet upgrade +1 --targets t")
      assert.equal(1, status, err)
      has(err, "t:1 and t:2 are one database (the database ")
      assert.same({}, h.query(url, "SELECT nspname FROM pg_namespace WHERE nspname = 'R3_new'"))
      h.write_file(dir .. "/t", ("%s schema=r2_a\n%s schema=r2_b\n"):format(url, url))
      local out
      status, out, err = h.luamig(dir, "fleet upgrade +1 --targets t")
      assert.equal(0, status, err)
      has(out, "upgrade over 2 targets: 2 upgraded")
      assert.equal("a1", h.query(url, "SELECT version_num FROM r2_b.luamig_version")[1].version_num)
    end)
  end)
end)
