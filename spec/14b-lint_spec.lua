-- Issue 17, `luamig lint`: every rule's positive and negative case (offline
-- on PostgreSQL, the SQLite rebuild on SQLite), the lock or rewrite each
-- error rule claims read back from a real PostgreSQL (pg_locks while the
-- statement's transaction is open; pg_class.relfilenode for rewrites), what
-- a database adds (the default range, row counts and the small-table
-- threshold, the session time zone), markers, --json, exit statuses, and
-- upgrade's lint with each lint_on_upgrade value.
local h = require "spec.helpers"
local core = require "luamig.core"
local luamig_op = require "luamig.op"
local types = require "luamig.lint.types"

local PG_OFFLINE = "postgresql://nobody@127.0.0.1:1/none"   -- offline: only its kind counts

-- JSON to a Lua value, through Debian's python3 (the oracle of other specs).
local function decode(text)
  local dir = h.tmpdir()
  h.write_file(dir .. "/in.json", text)
  h.write_file(dir .. "/to_lua.py", [[
import json, sys
def lua(v):
    if v is None: return "nil"
    if v is True: return "true"
    if v is False: return "false"
    if isinstance(v, (int, float)): return repr(v)
    if isinstance(v, str): return "[==[" + v + "]==]"
    if isinstance(v, list): return "{" + ", ".join(lua(x) for x in v) + "}"
    return "{" + ", ".join("[ %s ] = %s" % (lua(k), lua(x)) for k, x in v.items()) + "}"
print("return " + lua(json.load(open(sys.argv[1]))))
]])
  local status, out, err = h.run(("/usr/bin/python3 %s %s"):format(h.shell_quote(dir .. "/to_lua.py"),
    h.shell_quote(dir .. "/in.json")))
  assert.equal(0, status, err)
  return assert(load(out))()
end

-- A project: rev "a1" makes t (a int, s varchar(20), n numeric(10,2), ts
-- timestamp) and r (id int primary key); rev "b2" has body (Lua lines of
-- upgrade(op), starting at line 8 of its file), extra lines before it.
local BASE = [[
  op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "integer"}, {"s", "varchar(20)"},
                        {"n", "numeric(10,2)"}, {"ts", "timestamp"}})
  op.create_table("r", {{"id", "integer", primary_key = true}})]]
local function project(body, url, opts)
  opts = opts or {}
  local revs = {{id = "a1", code = true, up = opts.base or BASE}}
  if body then revs[2] = {id = "b2", down = "a1", code = true, up = body, extra = opts.extra} end
  return h.project(revs, ("url = %q\n%s"):format(url or PG_OFFLINE, opts.config or ""))
end

-- The line of upgrade(op)'s first body line in a script h.script wrote.
local function body_line(dir, id)
  local i = 0
  for line in io.lines(("%s/migrations/versions/%s.lua"):format(dir, id)) do
    i = i + 1
    if line == "function upgrade(op)" then return i + 1 end
  end
end

local function lint(dir, args)
  local status, out, err = h.luamig(dir, "--json lint " .. (args or "--offline"))
  local ok, report = pcall(decode, out)
  assert(ok, ("not JSON (status %s): %s %s"):format(status, out, err))
  return report, status, err
end

local function with_rule(report, id)
  local out = {}
  for _, f in ipairs(report.findings) do if f.rule == id then out[#out + 1] = f end end
  return out
end

-- Assert: exactly one finding of rule id, at line (of b2) and severity.
local function finds(body, id, severity, opts)
  local dir = project(body, nil, opts)
  local report, status = lint(dir)
  local got = with_rule(report, id)
  assert.equal(1, #got, ("%s in: %s"):format(id, body))
  assert.equal(severity, got[1].severity)
  assert.equal("b2", got[1].revision)
  assert.equal(body_line(dir, "b2"), got[1].line)
  assert.truthy(got[1].file:find("migrations/versions/b2.lua$"), got[1].file)
  assert.equal(severity == "error" and 1 or status, status)
  return got[1], report
end

local function clean(body, id, opts)
  local dir = project(body, nil, opts)
  local report = lint(dir)
  assert.same({}, with_rule(report, id), body)
  return report
end

describe("luamig lint rules (PostgreSQL, offline)", function()
  it("index-not-concurrent: create_index on an existing table; fine with CONCURRENTLY outside the transaction or on a new table", function()
    local f = finds('  op.create_index("ix_t_a", "t", {"a"})', "index-not-concurrent", "error")
    assert.equal("SHARE", f.lock)
    assert.truthy(f.safe:find('op.create_index("ix_t_a", "t", {"a"}, {if_not_exists = true, postgresql_concurrently = true})', 1, true), f.safe)
    assert.truthy(f.safe:find("op.autocommit_block(function()", 1, true))
    clean('  op.autocommit_block(function()\n    op.create_index("ix_t_a", "t", {"a"}, {postgresql_concurrently = true})\n  end)',
      "index-not-concurrent")
    clean(BASE .. '\n  op.create_index("ix_t_a", "t", {"a"})', "index-not-concurrent",
      {base = '  op.create_table("other", {{"id", "integer"}})'})
  end)

  it("concurrent-in-transaction: CONCURRENTLY in the step's transaction; fine in autocommit_block or transactional = false", function()
    finds('  op.create_index("ix_t_a", "t", {"a"}, {postgresql_concurrently = true})', "concurrent-in-transaction", "error")
    finds('  op.drop_index("ix_t_a", "t", {postgresql_concurrently = true})', "concurrent-in-transaction", "error")
    clean('  op.autocommit_block(function()\n    op.create_index("ix_t_a", "t", {"a"}, {postgresql_concurrently = true})\n  end)',
      "concurrent-in-transaction")
    clean('  op.create_index("ix_t_a", "t", {"a"}, {concurrently = true})', "concurrent-in-transaction",
      {extra = "transactional = false"})
  end)

  it("not-null-existing-column: SET NOT NULL on an existing table; the safe path is CHECK NOT VALID, VALIDATE, SET NOT NULL", function()
    local f = finds('  op.alter_column("t", "a", {nullable = false})', "not-null-existing-column", "error")
    assert.truthy(f.safe:find('op.create_check_constraint("ck_t_a_not_null", "t", "\\"a\\" IS NOT NULL", {postgresql_not_valid = true})', 1, true), f.safe)
    assert.truthy(f.safe:find('op.validate_constraint("ck_t_a_not_null", "t")', 1, true))
    clean('  op.alter_column("t", "a", {nullable = true})', "not-null-existing-column")
    clean(BASE .. '\n  op.alter_column("t", "a", {nullable = false})', "not-null-existing-column",
      {base = '  op.create_table("other", {{"id", "integer"}})'})
  end)

  it("foreign-key-not-valid: create_foreign_key without NOT VALID; fine with postgresql_not_valid", function()
    local f = finds('  op.create_foreign_key("fk_t_r", "t", "r", {"a"}, {"id"})', "foreign-key-not-valid", "error")
    assert.truthy(f.safe:find('op.create_foreign_key("fk_t_r", "t", "r", {"a"}, {"id"}, {postgresql_not_valid = true})', 1, true), f.safe)
    clean('  op.create_foreign_key("fk_t_r", "t", "r", {"a"}, {"id"}, {postgresql_not_valid = true})', "foreign-key-not-valid")
  end)

  it("check-not-valid: create_check_constraint without NOT VALID; fine with postgresql_not_valid (or not_valid)", function()
    local f = finds('  op.create_check_constraint("ck_t_a", "t", "a > 0")', "check-not-valid", "error")
    assert.truthy(f.safe:find('op.validate_constraint("ck_t_a", "t")', 1, true), f.safe)
    clean('  op.create_check_constraint("ck_t_a", "t", "a > 0", {postgresql_not_valid = true})', "check-not-valid")
    clean('  op.create_check_constraint("ck_t_a", "t", "a > 0", {not_valid = true})', "check-not-valid")
  end)

  it("validate-same-transaction: VALIDATE in the revision that added it NOT VALID; fine in a later revision or after autocommit_block", function()
    local dir = project('  op.create_check_constraint("ck_t_a", "t", "a > 0", {postgresql_not_valid = true})\n'
      .. '  op.validate_constraint("ck_t_a", "t")')
    local got = with_rule(lint(dir), "validate-same-transaction")
    assert.equal(1, #got)
    assert.equal(body_line(dir, "b2") + 1, got[1].line)
    assert.equal("error", got[1].severity)
    dir = h.project({{id = "a1", code = true, up = BASE},
      {id = "b2", down = "a1", code = true, up = '  op.create_check_constraint("ck_t_a", "t", "a > 0", {postgresql_not_valid = true})'},
      {id = "c3", down = "b2", code = true, up = '  op.validate_constraint("ck_t_a", "t")'}}, ("url = %q"):format(PG_OFFLINE))
    assert.same({}, with_rule(lint(dir), "validate-same-transaction"))
    -- transaction_per_migration = false: the whole run is one transaction, so a later revision is too
    h.write_file(dir .. "/luamig.lua", ("url = %q\ntransaction_per_migration = false\n"):format(PG_OFFLINE))
    got = with_rule(lint(dir), "validate-same-transaction")
    assert.equal(1, #got)
    assert.equal("c3", got[1].revision)
    clean('  op.create_foreign_key("fk_t_r", "t", "r", {"a"}, {"id"}, {postgresql_not_valid = true})\n'
      .. '  op.autocommit_block(function() op.validate_constraint("fk_t_r", "t") end)', "validate-same-transaction")
  end)

  it("type-rewrite: a type change that rewrites; varchar widening, varchar -> text, numeric precision up are fine", function()
    local f = finds('  op.alter_column("t", "a", {type_ = "bigint"})', "type-rewrite", "error")
    assert.truthy(f.note:find("integer -> bigint", 1, true), f.note)
    finds('  op.alter_column("t", "n", {type_ = "numeric(10,3)"})', "type-rewrite", "error")
    finds('  op.alter_column("t", "s", {type_ = "varchar(10)"})', "type-rewrite", "error")
    finds('  op.alter_column("t", "ts", {type_ = "timestamptz"})', "type-rewrite", "error")   -- no database: time zone unknown
    finds('  op.alter_column("t", "s", {type_ = "varchar(40)", using = "s || \'\'"})', "type-rewrite", "error")
    clean('  op.alter_column("t", "s", {type_ = "varchar(40)"})', "type-rewrite")
    clean('  op.alter_column("t", "s", {type_ = "string(40)"})', "type-rewrite")
    clean('  op.alter_column("t", "s", {type_ = "text"})', "type-rewrite")
    clean('  op.alter_column("t", "n", {type_ = "numeric(12,2)"})', "type-rewrite")
    -- existing_type, when given, is the type before the change
    clean('  op.alter_column("t", "a", {type_ = "varchar(40)", existing_type = "varchar(30)"})', "type-rewrite")
  end)

  it("volatile-default: add_column with a volatile default (or serial); a constant or now() is fine", function()
    finds('  op.add_column("t", {"u", "uuid", server_default = op.raw("gen_random_uuid()")})', "volatile-default", "error")
    finds('  op.add_column("t", {"u", "float", server_default = op.raw("random()")})', "volatile-default", "error")
    finds('  op.add_column("t", {"u", "bigserial"})', "volatile-default", "error")
    clean('  op.add_column("t", {"u", "timestamptz", server_default = op.raw("now()")})', "volatile-default")
    clean('  op.add_column("t", {"u", "text", server_default = "random()"})', "volatile-default")   -- a string literal
  end)

  it("unique-without-index: a unique constraint or primary key built under the lock; fine with postgresql_using_index", function()
    local f = finds('  op.create_unique_constraint("uq_t_a", "t", {"a"})', "unique-without-index", "error")
    assert.truthy(f.safe:find('op.create_unique_constraint("uq_t_a", "t", nil, {postgresql_using_index = "ix_uq_t_a"})', 1, true), f.safe)
    assert.truthy(f.safe:find('op.create_index("ix_uq_t_a", "t", {"a"}, {unique = true, postgresql_concurrently = true', 1, true), f.safe)
    clean('  op.create_unique_constraint("uq_t_a", "t", nil, {postgresql_using_index = "ix_t_a"})', "unique-without-index")
  end)

  it("rename-table, rename-column, drop-column, drop-table: warnings (exit 0) on existing tables; none on a table of the same revision", function()
    finds('  op.rename_table("t", "t2")', "rename-table", "warning")
    finds('  op.alter_column("t", "a", {new_column_name = "b"})', "rename-column", "warning")
    finds('  op.drop_column("t", "a")', "drop-column", "warning")
    finds('  op.batch_alter_table("t", function(b) b.drop_column("a") end)', "drop-column", "warning")
    finds('  op.drop_table("r")', "drop-table", "warning")
    local new = {base = '  op.create_table("other", {{"id", "integer"}})'}
    for _, body in ipairs{'op.rename_table("t", "t2")', 'op.alter_column("t", "a", {new_column_name = "b"})',
                          'op.drop_column("t", "a")', 'op.drop_table("t")'} do
      local report = clean(BASE .. "\n  " .. body, "x", new)
      assert.same({}, report.findings, body)
    end
  end)

  it("execute-unjudged: raw SQL the classifier cannot read says so; a warning, not an error", function()
    local f = finds('  op.execute("CLUSTER t")', "execute-unjudged", "warning")
    assert.truthy(f.note:find('op.execute("CLUSTER t"): could not read this CLUSTER statement', 1, true), f.note)
    clean('  op.create_index("ix_t_a", "t", {"a"}, {unique = true, postgresql_concurrently = true})', "execute-unjudged",
      {extra = "transactional = false"})
  end)

  it("raw SQL: the classifier's descriptors are judged by the same rules (luamig.lint.sql's contract)", function()
    local dir = project('  op.execute("CREATE INDEX ix ON t (a); UPDATE t SET a = 1; VACUUM")')
    local saved = package.loaded["luamig.lint.sql"]
    package.loaded["luamig.lint.sql"] = {classify = function(sql, dialect)
      assert.equal("postgresql", dialect)
      assert.truthy(sql:find("^CREATE INDEX"))
      return {{op = "create_index", table = "t", name = "ix", options = {}, offset = 0},
              {op = "dml", table = "t", options = {}, offset = 30},
              {op = "unjudged", why = "VACUUM is not known", text = "VACUUM", offset = 50}}
    end}
    local m = require("luamig").open{config = dir .. "/luamig.lua"}
    local ok, report = pcall(require("luamig.lint").run, m, {offline = true})
    package.loaded["luamig.lint.sql"] = saved
    assert(ok, report)
    local ids = {}
    for _, f in ipairs(report.findings) do ids[#ids + 1] = f.rule .. ":" .. f.revision end
    assert.same({"index-not-concurrent:b2", "execute-unjudged:b2"}, ids)
    assert.equal("VACUUM is not known", report.findings[2].note:match(": (VACUUM is not known)$"))
  end)

  it("not-linted: an upgrade that cannot run offline is named, as a warning", function()
    local f = finds('  error("needs the network")', "not-linted", "warning")
    assert.truthy(f.note:find("needs the network", 1, true), f.note)
    clean('  op.add_column("t", {"u", "text"})', "not-linted")
  end)
end)

describe("luamig lint against hostile scripts", function()
  it("a bad op call or os.exit in upgrade is named at its line (not-linted) and the later revisions are still judged", function()
    local dir = h.project({{id = "a1", code = true, up = BASE},
      {id = "b2", down = "a1", code = true, up = '  op.create_index("ix", nil, {"a"})\n  op.drop_column("t", "a")\n  os.exit(3)'},
      {id = "c3", down = "b2", code = true, up = '  op.drop_table("r")'}}, ("url = %q"):format(PG_OFFLINE))
    local report, status = lint(dir)
    assert.equal(0, status)                    -- warnings only
    local nl = with_rule(report, "not-linted")
    assert.equal(2, #nl)
    assert.equal(body_line(dir, "b2"), nl[1].line)
    assert.truthy(nl[1].note:find("create_index failed offline: ", 1, true), nl[1].note)
    assert.equal(body_line(dir, "b2") + 2, nl[2].line)
    assert.equal(1, #with_rule(report, "drop-column"))       -- judged after the bad call
    assert.equal("c3", with_rule(report, "drop-table")[1].revision)
  end)

  it("a marker whose reason is blank, or that sits in a string on another call's line, silences nothing", function()
    local dir = project('  op.create_index("ix_t_a", "t", {"a"}) -- luamig-lint: ignore index-not-concurrent:   ')
    local report = lint(dir)
    assert.equal(1, #with_rule(report, "bad-marker"))
    assert.equal(1, #with_rule(report, "index-not-concurrent"))
    dir = project('  op.drop_column("t", "s") -- luamig-lint: ignore index-not-concurrent: other call\n'
      .. '  op.create_index("ix_t_a", "t", {"a"})')
    assert.equal(1, #with_rule(lint(dir), "index-not-concurrent"))
  end)
end)

describe("luamig lint markers", function()
  local CALL = '  op.create_index("ix_t_a", "t", {"a"})'
  it("a marker with a reason on the call's line or the line above silences that rule for that call", function()
    for _, body in ipairs{CALL .. " -- luamig-lint: ignore index-not-concurrent: t holds 12 rows, ever",
                          "  -- luamig-lint: ignore index-not-concurrent: t holds 12 rows, ever\n" .. CALL} do
      local dir = project(body)
      local report, status = lint(dir)
      assert.same({}, report.findings, body)
      assert.equal(0, status)
      assert.equal(1, #report.ignored)
      assert.equal("t holds 12 rows, ever", report.ignored[1].reason)
      assert.equal("index-not-concurrent", report.ignored[1].rule)
    end
  end)

  it("does not silence another rule, another call, or from two lines above", function()
    for _, body in ipairs{CALL .. " -- luamig-lint: ignore drop-table: wrong rule",
                          "  -- luamig-lint: ignore index-not-concurrent: too far\n\n" .. CALL,
                          CALL .. " -- luamig-lint: ignore index-not-concurrent: only this one\n"
                            .. '  op.create_index("ix_t_s", "t", {"s"})'} do
      local dir = project(body)
      local report, status = lint(dir)
      assert.equal(1, #with_rule(report, "index-not-concurrent"), body)
      assert.equal(1, status)
    end
  end)

  it("a marker without a reason, or with an unknown rule id, is itself an error and silences nothing", function()
    local dir = project(CALL .. " -- luamig-lint: ignore index-not-concurrent")
    local report, status = lint(dir)
    assert.equal(1, status)
    local bad = with_rule(report, "bad-marker")
    assert.equal(1, #bad)
    assert.equal("error", bad[1].severity)
    assert.equal(body_line(dir, "b2"), bad[1].line)
    assert.truthy(bad[1].note:find("no reason given for ignoring index-not-concurrent", 1, true), bad[1].note)
    assert.equal(1, #with_rule(report, "index-not-concurrent"))
    dir = project(CALL .. " -- luamig-lint: ignore index-not-concurent: typo")
    bad = with_rule(lint(dir), "bad-marker")
    assert.equal(1, #bad)
    assert.truthy(bad[1].note:find('unknown rule id "index-not-concurent"', 1, true), bad[1].note)
    assert.truthy(bad[1].note:find("index-not-concurrent", 1, true))        -- the closest id
    dir = project(CALL .. " -- luamig-lint: skip it")
    assert.equal(1, #with_rule(lint(dir), "bad-marker"))
  end)
end)

describe("luamig lint output", function()
  it("--json: a stable shape (version, dialect, mode, revisions, errors, warnings, findings, ignored)", function()
    local dir = project('  op.create_index("ix_t_a", "t", {"a"})\n  op.drop_column("t", "s")')
    local report, status = lint(dir)
    assert.equal(1, status)
    local keys = {}
    for k in pairs(report) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.same({"dialect", "errors", "findings", "ignored", "mode", "revisions", "version", "warnings"}, keys)
    assert.equal(1, report.version)
    assert.equal("postgresql", report.dialect)
    assert.equal("offline", report.mode)
    assert.same({"a1", "b2"}, report.revisions)
    assert.equal(1, report.errors)
    assert.equal(1, report.warnings)
    assert.same({}, report.ignored)
    local f = report.findings[1]
    keys = {}
    for k in pairs(f) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.same({"file", "line", "lock", "name", "note", "op", "revision", "rule", "safe", "severity", "table", "why"}, keys)
    assert.equal("create_index", f.op)
    assert.equal("ix_t_a", f.name)
    assert.equal("drop-column", report.findings[2].rule)
    assert.equal("s", report.findings[2].column)
  end)

  it("human: severity, rule, file:line, revision, why, safe; a summary; exit 1 on errors, 0 on warnings only or none", function()
    local dir = project('  op.create_index("ix_t_a", "t", {"a"})')
    local status, out = h.luamig(dir, "lint --offline")
    assert.equal(1, status)
    local line = body_line(dir, "b2")
    assert.truthy(out:find(("error index%%-not%%-concurrent: [^\n]*migrations/versions/b2.lua:%d %%(revision b2%%)\n"):format(line)), out)
    assert.truthy(out:find("\n  why: CREATE INDEX without CONCURRENTLY holds a SHARE lock", 1, true), out)
    assert.truthy(out:find("\n  safe:\n    op.autocommit_block(function()\n", 1, true), out)
    local summary = "\n1 error, 0 warnings, 0 ignored by marker, in 2 revisions (postgresql, offline)\n"
    assert.equal(summary, out:sub(-#summary))
    status, out = h.luamig(project('  op.drop_column("t", "a")'), "lint --offline")
    assert.equal(0, status)
    assert.truthy(out:find("0 errors, 1 warning,", 1, true), out)
    status, out = h.luamig(project(nil), "lint --offline")
    assert.equal(0, status)
    assert.equal("0 errors, 0 warnings, 0 ignored by marker, in 1 revision (postgresql, offline)\n", out)
  end)

  it("RANGE lints only that range, offline; a bad range is a clear error; extra arguments are usage errors", function()
    local dir = project('  op.create_index("ix_t_a", "t", {"a"})')
    local report = lint(dir, "a1:head")
    assert.same({"b2"}, report.revisions)
    report = lint(dir, "base:a1")
    assert.same({"a1"}, report.revisions)
    assert.same({}, report.findings)
    local status, _, err = h.luamig(dir, "lint nosuch:head")
    assert.equal(1, status)
    assert.truthy(err:find("nosuch", 1, true), err)
    status, _, err = h.luamig(dir, "lint a b")
    assert.equal(2, status)
    assert.truthy(err:find("unexpected argument 'b'", 1, true), err)
  end)
end)

---------------------------------------------------------------------------
-- The claims, against PostgreSQL

-- The granted lock modes session A holds on each table after fn(op) ran in
-- its open transaction, read from session B's pg_locks.
local function locks_during(url, fn)
  local a, b = core.connect(url), core.connect(url)
  a:exec("BEGIN")
  local ok, err = pcall(fn, luamig_op.new{conn = a}, a)
  local pid = a:query("SELECT pg_backend_pid() AS p")[1].p
  local held = {}
  for _, r in ipairs(b:query("SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
    .. "WHERE l.pid = $1 AND l.granted AND c.relkind = 'r'", {pid})) do
    held[r.relname] = held[r.relname] or {}
    held[r.relname][r.mode] = true
  end
  a:exec("ROLLBACK")
  a:close(); b:close()
  assert(ok, err)
  return held
end

local function relfilenode(conn, t)
  return conn:query("SELECT relfilenode FROM pg_class WHERE relname = $1", {t})[1].relfilenode
end

describe("[postgresql] luamig lint's claims, measured", function()
  local url, conn
  setup(function()
    url = select(2, h.fresh_pg())
    conn = core.connect(url)
    conn:exec([[CREATE TABLE r (id int PRIMARY KEY);
      CREATE TABLE t (id int PRIMARY KEY, a int, s varchar(20), n numeric(10,2), ts timestamp, tx text);
      INSERT INTO r SELECT g FROM generate_series(1, 100) g;
      INSERT INTO t SELECT g, g % 100 + 1, 'x', 1.5, now(), 'y' FROM generate_series(1, 2000) g]])
  end)
  teardown(function() conn:close() end)

  it("each error rule's operation takes the lock doc/safety.md names; the safe forms take SHARE UPDATE EXCLUSIVE", function()
    local cases = {
      {"index-not-concurrent", function(op) op.create_index("ix_t_a", "t", {"a"}) end, {t = "ShareLock"}},
      {"not-null-existing-column", function(op) op.alter_column("t", "a", {nullable = false}) end, {t = "AccessExclusiveLock"}},
      {"foreign-key-not-valid", function(op) op.create_foreign_key("fk_t_r", "t", "r", {"a"}, {"id"}) end,
        {t = "ShareRowExclusiveLock", r = "ShareRowExclusiveLock"}},
      {"check-not-valid", function(op) op.create_check_constraint("ck_t_a", "t", "a > 0") end, {t = "AccessExclusiveLock"}},
      {"unique-without-index", function(op) op.create_unique_constraint("uq_t_id_a", "t", {"id", "a"}) end, {t = "AccessExclusiveLock"}},
      {"type-rewrite", function(op) op.alter_column("t", "a", {type_ = "bigint"}) end, {t = "AccessExclusiveLock"}},
      {"volatile-default", function(op) op.add_column("t", {"u", "float", server_default = op.raw("random()")}) end, {t = "AccessExclusiveLock"}},
      {"rename-table", function(op) op.rename_table("t", "t2") end, {t = "AccessExclusiveLock"}},
      {"drop-column", function(op) op.drop_column("t", "tx") end, {t = "AccessExclusiveLock"}},
      {"validate (safe form)", function(_, a)
        a:exec("ALTER TABLE t ADD CONSTRAINT ck_v CHECK (a > 0) NOT VALID")
        a:exec("COMMIT"); a:exec("BEGIN")
        a:exec("ALTER TABLE t VALIDATE CONSTRAINT ck_v")
      end, {t = "ShareUpdateExclusiveLock"}},
    }
    for _, c in ipairs(cases) do
      local held = locks_during(url, c[2])
      for tname, mode in pairs(c[3]) do
        assert.is_true((held[tname] or {})[mode] == true, ("%s: %s on %s, held: %s"):format(c[1], mode, tname,
          require("luamig.json").encode(held)))
      end
    end
    conn:exec("ALTER TABLE t DROP CONSTRAINT IF EXISTS ck_v")
    -- the rule's own lock rows say the same
    local lint = require "luamig.lint"
    assert.equal("SHARE", lint.by_id["index-not-concurrent"].lock)
    assert.equal("ACCESS EXCLUSIVE", lint.by_id["not-null-existing-column"].lock)
    assert.equal("SHARE ROW EXCLUSIVE (both tables)", lint.by_id["foreign-key-not-valid"].lock)
  end)

  it("type-rewrite's verdicts are PostgreSQL's: relfilenode changes exactly when the lint says the table is rewritten", function()
    local pairs_ = {
      {"s", "varchar(20)", "varchar(40)"}, {"s", "varchar(20)", "varchar"}, {"s", "varchar(20)", "text"},
      {"s", "varchar(20)", "varchar(10)"}, {"tx", "text", "varchar"}, {"tx", "text", "varchar(10)"},
      {"n", "numeric(10,2)", "numeric(12,2)"}, {"n", "numeric(10,2)", "numeric"}, {"n", "numeric(10,2)", "numeric(10,3)"},
      {"n", "numeric(10,2)", "numeric(8,2)"}, {"a", "integer", "bigint"}, {"a", "integer", "text"},
    }
    for _, p in ipairs(pairs_) do
      local col, old, new = p[1], p[2], p[3]
      conn:exec("BEGIN")
      local before = relfilenode(conn, "t")
      conn:exec(("ALTER TABLE t ALTER COLUMN %s TYPE %s"):format(col, new))
      local rewritten = relfilenode(conn, "t") ~= before
      conn:exec("ROLLBACK")
      local verdict = types.rewrites(old, new)
      assert.equal(rewritten and "yes" or "no", verdict, ("%s -> %s"):format(old, new))
    end
    -- timestamp -> timestamptz: no rewrite with the session time zone UTC (PostgreSQL 12+), a rewrite otherwise
    assert.equal("utc", (types.rewrites("timestamp", "timestamptz")))
    for _, tz in ipairs{"UTC", "Europe/Paris"} do
      conn:exec("BEGIN")
      conn:exec(("SET LOCAL TimeZone = '%s'"):format(tz))
      local before = relfilenode(conn, "t")
      conn:exec("ALTER TABLE t ALTER COLUMN ts TYPE timestamptz")
      local rewritten = relfilenode(conn, "t") ~= before
      conn:exec("ROLLBACK")
      assert.equal(tz ~= "UTC", rewritten, tz)
    end
  end)

  it("volatile-default: random() rewrites the table, now() and a constant do not", function()
    for _, c in ipairs{{"random()", true}, {"now()", false}, {"'x'", false}} do
      conn:exec("BEGIN")
      local before = relfilenode(conn, "t")
      conn:exec(("ALTER TABLE t ADD COLUMN u2 text DEFAULT %s"):format(c[1]))
      local rewritten = relfilenode(conn, "t") ~= before
      conn:exec("ROLLBACK")
      assert.equal(c[2], rewritten, c[1])
    end
  end)
end)

---------------------------------------------------------------------------
-- With a database

local function rows_into(url, t, n)
  local c = core.connect(url)
  if c:dialect() == "postgresql" then
    c:exec(("INSERT INTO %s (id) SELECT g FROM generate_series(1, %d) g"):format(t, n))
  else
    c:exec(("WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %d) "
      .. "INSERT INTO %s (id) SELECT i FROM g"):format(n, t))
  end
  c:close()
end

describe("luamig lint with a database", function()
  it("[postgresql] the default range is the revisions not yet applied; a table of at most 1,000 rows makes a lock error a warning", function()
    local url = select(2, h.fresh_pg())
    local dir = project('  op.create_index("ix_t_a", "t", {"a"})', url, {config = 'lint_on_upgrade = "off"'})
    local status, _, err = h.luamig(dir, "upgrade a1")
    assert.equal(0, status, err)
    local report, st = lint(dir, "")
    assert.equal("database", report.mode)
    assert.same({"b2"}, report.revisions)
    local f = with_rule(report, "index-not-concurrent")[1]
    assert.equal("warning", f.severity)
    assert.equal(0, f.rows)
    assert.truthy(f.note:find("the table has 0 rows, at most 1000: the lock is brief", 1, true), f.note)
    assert.equal(0, st)
    rows_into(url, "t", 1001)
    report, st = lint(dir, "")
    f = with_rule(report, "index-not-concurrent")[1]
    assert.equal("error", f.severity)
    assert.equal(1001, f.rows)
    assert.equal(1, st)
  end)

  it("[postgresql] timestamp -> timestamptz is fine when the database's session time zone is UTC, an error otherwise", function()
    local name, url = h.fresh_pg()
    local dir = project('  op.alter_column("t", "ts", {type_ = "timestamptz"})', url, {config = 'lint_on_upgrade = "off"'})
    assert.equal(0, (h.luamig(dir, "upgrade a1")))
    rows_into(url, "t", 1001)
    for _, c in ipairs{{"UTC", 0}, {"Europe/Paris", 1}} do
      h.query(url, ("ALTER DATABASE %s SET TimeZone = '%s'"):format(core.quote_ident(name), c[1]))
      local report = lint(dir, "")
      assert.equal(c[2], #with_rule(report, "type-rewrite"), c[1])
    end
  end)

  it("[sqlite] sqlite-rebuild: an op that rebuilds an existing table, with the rows it copies; add_column in place is fine", function()
    local url = (h.fresh_sqlite())
    local dir = project('  op.alter_column("t", "a", {type_ = "bigint"})\n  op.add_column("t", {"u", "text"})\n'
      .. '  op.batch_alter_table("t", function(b) b.create_check_constraint("ck_a", "a > 0") end)', url,
      {config = 'lint_on_upgrade = "off"'})
    local report, st = lint(dir)            -- offline: the model of a1
    local got = with_rule(report, "sqlite-rebuild")
    assert.equal(2, #got)
    assert.equal(body_line(dir, "b2"), got[1].line)
    assert.equal(body_line(dir, "b2") + 2, got[2].line)
    assert.equal("error", got[1].severity)
    assert.equal(1, st)
    assert.equal(0, (h.luamig(dir, "upgrade a1")))
    rows_into(url, "t", 1500)
    report = lint(dir, "")
    got = with_rule(report, "sqlite-rebuild")
    assert.equal(2, #got)
    assert.equal(1500, got[1].rows)
    assert.truthy(got[1].note:find("1500 rows would be copied", 1, true), got[1].note)
    -- the PostgreSQL rules do not apply on SQLite
    assert.same({}, with_rule(report, "index-not-concurrent"))
    clean('  op.add_column("t", {"u", "text"})', "sqlite-rebuild", {})
    local d2 = project('  op.add_column("t", {"u", "text"})', (h.fresh_sqlite()))
    assert.same({}, lint(d2).findings)
  end)
end)

describe("[postgresql] upgrade runs the lint first (lint_on_upgrade)", function()
  local BODY = '  op.create_index("ix_t_a", "t", {"a"})'
  local function fresh(setting)
    local url = select(2, h.fresh_pg())
    local dir = project(nil, url, {config = 'lint_on_upgrade = "off"'})
    assert.equal(0, (h.luamig(dir, "upgrade")))
    rows_into(url, "t", 1001)
    h.write_file(dir .. "/migrations/versions/b2.lua", h.script({id = "b2", down = "a1", code = true, up = BODY}))
    h.write_file(dir .. "/luamig.lua", ("url = %q\n%s"):format(url, setting and ("lint_on_upgrade = %q"):format(setting) or ""))
    return dir, url
  end

  it("warn (the default): the findings on stderr, then the upgrade runs", function()
    local dir, url = fresh(nil)
    local status, _, err = h.luamig(dir, "upgrade")
    assert.equal(0, status, err)
    assert.truthy(err:find("lint: error index%-not%-concurrent: [^\n]*b2.lua:%d+ %(revision b2%)"), err)
    assert.truthy(err:find("lint: 1 error, 0 warnings", 1, true), err)
    assert.same({"b2"}, h.version_rows(url))
  end)

  it("refuse: an error stops the upgrade before anything runs (exit 1); warnings alone do not", function()
    local dir, url = fresh("refuse")
    local status, _, err = h.luamig(dir, "upgrade")
    assert.equal(1, status)
    assert.truthy(err:find('FAILED: upgrade refused: the lint found 1 error in the revisions to apply (lint_on_upgrade = "refuse"); nothing was run', 1, true), err)
    assert.same({"a1"}, h.version_rows(url))
    -- with --sql too (the range it writes, offline), and nothing on stdout
    local out
    status, out, err = h.luamig(dir, "upgrade a1:head --sql")
    assert.equal(1, status)
    assert.equal("", out)
    assert.truthy(err:find("upgrade refused", 1, true), err)
    -- a marker lets it through
    h.write_file(dir .. "/migrations/versions/b2.lua", h.script({id = "b2", down = "a1", code = true,
      up = BODY .. " -- luamig-lint: ignore index-not-concurrent: maintenance window"}))
    status, _, err = h.luamig(dir, "upgrade")
    assert.equal(0, status, err)
    assert.same({"b2"}, h.version_rows(url))
  end)

  it("warn with -q: raw SQL not judged and warnings are left to luamig lint", function()
    local url = select(2, h.fresh_pg())
    local dir = h.project({{id = "a1", up = "CREATE TABLE x (id int); COMMENT ON TABLE x IS 'x'"},
      {id = "b2", down = "a1", code = true, up = '  op.drop_table("x")'}}, ("url = %q"):format(url))
    local status, _, err = h.luamig(dir, "-q upgrade")
    assert.equal(0, status, err)
    assert.equal("", err)
    assert.same({"b2"}, h.version_rows(url))
    local report = lint(dir, "--offline")
    assert.equal(1, #with_rule(report, "execute-unjudged"))
    assert.equal(1, #with_rule(report, "drop-table"))
  end)

  it("off: no lint; a wrong value is an error naming the values", function()
    local dir, url = fresh("off")
    local status, _, err = h.luamig(dir, "upgrade")
    assert.equal(0, status, err)
    assert.falsy(err:find("lint", 1, true), err)
    assert.same({"b2"}, h.version_rows(url))
    dir = fresh("strict")
    status, _, err = h.luamig(dir, "upgrade")
    assert.equal(1, status)
    assert.truthy(err:find('lint_on_upgrade must be "warn", "refuse" or "off", got "strict"', 1, true), err)
  end)

  it("--sql with warn: the lint on stderr, the SQL on stdout", function()
    local dir = fresh(nil)
    local status, out, err = h.luamig(dir, "upgrade a1:head --sql")
    assert.equal(0, status, err)
    assert.truthy(out:find('CREATE INDEX "ix_t_a" ON "t" ("a");', 1, true), out)
    assert.falsy(out:find("lint", 1, true))
    assert.truthy(err:find("lint: error index-not-concurrent", 1, true), err)
  end)
end)

describe("outside attack C", function()
  -- the attack's table t with 5,000 rows, b2 written after; returns dir, url
  local function filled(body, setting)
    local url = select(2, h.fresh_pg())
    local dir = project(nil, url, {config = 'lint_on_upgrade = "off"'})
    assert.equal(0, (h.luamig(dir, "upgrade")))
    rows_into(url, "t", 5000)
    h.write_file(dir .. "/migrations/versions/b2.lua", h.script({id = "b2", down = "a1", code = true, up = body}))
    h.write_file(dir .. "/luamig.lua", ("url = %q\n%s"):format(url, setting and ("lint_on_upgrade = %q"):format(setting) or ""))
    return dir, url
  end

  it("H1: op.query and op.get_bind return no rows offline, and the calls after them are judged", function()
    for _, first in ipairs({'  local rows = op.query("select 1 as one")\n  assert(#rows == 0)',
                            '  local conn = op.get_bind()\n  assert(#conn:query("select 1") == 0)'}) do
      local dir, url = filled(first .. '\n  op.create_index("ixq", "t", {"a"})\n  op.alter_column("t", "a", {type_ = "bigint"})',
                              "refuse")
      local report, status = lint(dir, "")
      assert.equal(1, status)
      assert.same({}, with_rule(report, "not-linted"))
      assert.equal(1, #with_rule(report, "index-not-concurrent"))
      assert.equal(1, #with_rule(report, "type-rewrite"))
      local _, _, err = h.luamig(dir, "upgrade")
      assert.truthy(err:find("upgrade refused: the lint found 2 errors", 1, true), err)
      assert.same({"a1"}, h.version_rows(url))
      assert.same({}, h.query(url, "SELECT indexname FROM pg_indexes WHERE indexname = 'ixq'"))
    end
  end)

  it("H1: SQL run through op.get_bind():exec is judged like op.execute's", function()
    local dir = project('  op.get_bind():exec("CREATE INDEX ixb ON t (a)")')
    local got = with_rule(lint(dir), "index-not-concurrent")
    assert.equal(1, #got)
    assert.equal(body_line(dir, "b2"), got[1].line)
  end)

  it("H1: a revision the lint could not judge is shown on upgrade, and refused in refuse mode", function()
    local body = '  error("needs the network")\n  op.create_index("ixq", "t", {"a"})'
    local dir, url = filled(body, "refuse")
    local status, _, err = h.luamig(dir, "-q upgrade")
    assert.equal(1, status)
    assert.truthy(err:find("lint: warning not%-linted: [^\n]*b2.lua:%d+ %(revision b2%)"), err)
    assert.truthy(err:find("upgrade refused: the lint could not judge all of the revisions to apply (not-linted at "
      .. "migrations/versions/b2.lua:" .. body_line(dir, "b2"), 1, true), err)
    assert.same({"a1"}, h.version_rows(url))
    -- warn: shown, the upgrade runs (and fails on the script's own error)
    h.write_file(dir .. "/luamig.lua", ("url = %q\n"):format(url))
    status, _, err = h.luamig(dir, "upgrade")
    assert.equal(1, status)
    assert.truthy(err:find("lint: warning not-linted", 1, true), err)
    assert.truthy(err:find("needs the network", 1, true), err)
    -- a marker on the failing line lets refuse mode through to the script
    h.write_file(dir .. "/luamig.lua", ("url = %q\nlint_on_upgrade = \"refuse\"\n"):format(url))
    h.write_file(dir .. "/migrations/versions/b2.lua", h.script({id = "b2", down = "a1", code = true,
      up = '  error("needs the network") -- luamig-lint: ignore not-linted: judged by hand'}))
    status, _, err = h.luamig(dir, "upgrade")
    assert.equal(1, status)
    assert.falsy(err:find("upgrade refused", 1, true), err)
    assert.truthy(err:find("needs the network", 1, true), err)
  end)

  it("H1: raw SQL the classifier cannot judge is a warning line on upgrade (not with -q); the upgrade runs", function()
    local dir, url = filled('  op.execute("VACUUM FULL t")\n  op.execute("ALTER TABLE t SET LOGGED")\n'
      .. '  op.execute([[DO $$ BEGIN EXECUTE \'CREATE INDEX ixdo ON t (a)\'; END $$]])', "refuse")
    h.write_file(dir .. "/migrations/versions/b2.lua", h.script({id = "b2", down = "a1", code = true,
      extra = "transactional = false",
      up = '  op.execute("VACUUM FULL t")\n  op.execute("ALTER TABLE t SET LOGGED")\n'
        .. '  op.execute([[DO $$ BEGIN EXECUTE \'CREATE INDEX ixdo ON t (a)\'; END $$]])'}))
    local status, _, err = h.luamig(dir, "upgrade")
    assert.equal(0, status, err)
    local n = 0
    for line in err:gmatch("[^\n]+") do
      if line:find("^lint: warning execute%-unjudged: .*b2%.lua:%d+ %(revision b2%): op%.execute") then n = n + 1 end
    end
    assert.equal(3, n, err)
    assert.truthy(err:find("lint: 0 errors, 3 warnings", 1, true), err)
    assert.same({"b2"}, h.version_rows(url))
  end)

  it("M1: the lint's reads wait for a lock at most ddl_lock_timeout: a locked table is 'size unknown'", function()
    local dir, url = filled('  op.create_index("ixq", "t", {"a"})', "refuse")
    h.write_file(dir .. "/luamig.lua", ("url = %q\nlint_on_upgrade = \"refuse\"\nddl_lock_timeout = \"300ms\"\n"):format(url))
    local c = core.connect(url)
    c:exec("BEGIN")
    c:exec("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
    local t0 = os.time()
    local report, status = lint(dir, "")
    assert.equal(1, status)
    local got = with_rule(report, "index-not-concurrent")
    assert.equal(1, #got)
    assert.equal("error", got[1].severity)
    assert.truthy(got[1].note:find("(size unknown: the table is locked by another session)", 1, true), got[1].note)
    -- upgrade: the lint does not hang; its refusal comes within seconds
    local _, _, err = h.luamig(dir, "upgrade --ddl-lock-timeout 1s --lock-retries 2")
    assert.truthy(err:find("upgrade refused: the lint found 1 error", 1, true), err)
    assert.truthy(os.time() - t0 < 15, "took " .. (os.time() - t0) .. " s")
    c:exec("ROLLBACK")
    c:close()
    assert.same({"a1"}, h.version_rows(url))
  end)

  it("H2: the constraints and index add_column makes are judged like the ops written out", function()
    local body = table.concat({
      '  op.add_column("t", {"x1", "integer", unique = true})',
      '  op.add_column("t", {"x2", "integer", index = true})',
      '  op.add_column("t", {"x3", "integer", references = "r.id"})',
      '  op.add_column("t", {"x4", "integer", check = "x4 > 0"})',
      '  op.batch_alter_table("t", function(batch) batch.add_column({"x5", "integer", unique = true}) end)',
      '  op.add_column("t", {"x6", "integer"})',
      '  op.create_table("n", {{"id", "integer"}})',
      '  op.add_column("n", {"y", "integer", unique = true, index = true, references = "r.id", check = "y > 0"})'}, "\n")
    local dir = project(body)
    local report, status = lint(dir)
    assert.equal(1, status)
    local l0 = body_line(dir, "b2")
    local got = {}
    for _, f in ipairs(report.findings) do got[#got + 1] = {f.rule, f.line - l0 + 1, f.name} end
    table.sort(got, function(a, b) return a[2] < b[2] end)
    assert.same({{"unique-without-index", 1, "uq_t_x1"}, {"index-not-concurrent", 2, "ix_t_x2"},
                 {"foreign-key-not-valid", 3, "fk_t_x3_r"}, {"check-not-valid", 4, "ck_t_x4"},
                 {"unique-without-index", 5, "uq_t_x5"}}, got)
    -- the primary key: a table without one gets it from add_column
    report = lint(project('  op.add_column("t", {"x7", "integer", primary_key = true})', nil,
      {base = '  op.create_table("t", {{"a", "integer"}})\n  op.create_table("r", {{"id", "integer", primary_key = true}})'}))
    assert.equal(1, #with_rule(report, "unique-without-index"))
    assert.equal("pk_t", with_rule(report, "unique-without-index")[1].name)
  end)

  it("H4: SET NOT NULL after a validated CHECK (c IS NOT NULL) is not flagged (range, database)", function()
    local url = select(2, h.fresh_pg())
    local dir = h.project({{id = "a1", code = true, up = BASE},
      {id = "s1", down = "a1", code = true,
       up = '  op.create_check_constraint("ck_t_a_not_null", "t", "\\"a\\" IS NOT NULL", {postgresql_not_valid = true})'},
      {id = "s2", down = "s1", code = true, up = '  op.validate_constraint("ck_t_a_not_null", "t")'},
      {id = "s3", down = "s2", code = true,
       up = '  op.alter_column("t", "a", {nullable = false})\n  op.drop_constraint("ck_t_a_not_null", "t", {type_ = "check"})'}},
      ("url = %q\nlint_on_upgrade = \"refuse\"\n"):format(url))
    assert.same({}, with_rule(lint(dir, "--offline"), "not-null-existing-column"))
    -- without the VALIDATE it is flagged
    h.write_file(dir .. "/migrations/versions/s2.lua", h.script({id = "s2", down = "s1", code = true, up = "  local _ = nil"}))
    assert.equal(1, #with_rule(lint(dir, "--offline"), "not-null-existing-column"))
    h.write_file(dir .. "/migrations/versions/s2.lua", h.script({id = "s2", down = "s1", code = true,
      up = '  op.validate_constraint("ck_t_a_not_null", "t")'}))
    -- in the database: valid there, s3 alone is judged; PostgreSQL agrees it skips the scan
    assert.equal(0, (h.luamig(dir, "-q upgrade s1")))
    local c = core.connect(url)
    c:exec("INSERT INTO t (id, a) SELECT g, g FROM generate_series(1, 5000) g")
    c:close()
    assert.equal(0, (h.luamig(dir, "-q upgrade s2")))
    local report, status = lint(dir, "")
    assert.equal(0, status)
    assert.same({}, with_rule(report, "not-null-existing-column"))
    local status2, _, err = h.luamig(dir, "upgrade")
    assert.equal(0, status2, err)
    assert.same({"s3"}, h.version_rows(url))
    assert.same({{n = "NO"}}, h.query(url, "SELECT is_nullable AS n FROM information_schema.columns WHERE table_name = 't' AND column_name = 'a'"))
  end)

  it("H4: revision --autogenerate's NOT NULL safe form passes the lint in refuse mode and upgrades", function()
    local url = select(2, h.fresh_pg())
    local dir = project(nil, url, {config = 'lint_on_upgrade = "off"'})
    assert.equal(0, (h.luamig(dir, "upgrade")))
    local c = core.connect(url)
    c:exec("INSERT INTO t (id, a) SELECT g, g FROM generate_series(1, 5000) g")
    c:close()
    h.write_file(dir .. "/schema.lua", "function schema(op)\n" .. BASE:gsub('{"a", "integer"}', '{"a", "integer", nullable = false}') .. "\nend\n")
    h.write_file(dir .. "/luamig.lua", ("url = %q\nlint_on_upgrade = \"refuse\"\n"):format(url))
    local status, out, err = h.luamig(dir, "revision --autogenerate -m notnull")
    assert.equal(0, status, out .. err)
    local report
    report, status = lint(dir, "")
    assert.equal(0, status)
    assert.equal(0, report.errors)
    assert.equal(2, #report.revisions)
    status, _, err = h.luamig(dir, "upgrade")
    assert.equal(0, status, err)
    assert.falsy(err:find("lint: error", 1, true), err)
    assert.same({{n = "NO"}}, h.query(url, "SELECT is_nullable AS n FROM information_schema.columns WHERE table_name = 't' AND column_name = 'a'"))
  end)

  it("M3: raw ADD COLUMN ... GENERATED ... STORED / AS IDENTITY, and add_column autoincrement, are rewrites", function()
    local f = finds('  op.execute("ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (a*2) STORED")', "volatile-default", "error")
    assert.truthy(f.note:find("GENERATED ALWAYS AS", 1, true), f.note)
    f = finds('  op.execute("ALTER TABLE t ADD COLUMN idn bigint GENERATED BY DEFAULT AS IDENTITY")', "volatile-default", "error")
    assert.truthy(f.note:find("GENERATED AS IDENTITY", 1, true), f.note)
    finds('  op.add_column("t", {"idn", "bigint", autoincrement = true})', "volatile-default", "error")
    clean('  op.execute("ALTER TABLE t ADD COLUMN g2 int")', "volatile-default")
  end)

  it("M4: CONCURRENTLY in a multi-statement op.execute, and raw DROP INDEX CONCURRENTLY in a transaction", function()
    local f = finds('  op.execute("CREATE INDEX CONCURRENTLY c10 ON t(a); SELECT 1")', "concurrent-in-transaction", "error",
      {extra = "transactional = false"})
    assert.truthy(f.note:find("one op.execute text of 2 statements", 1, true), f.note)
    finds('  op.execute("DROP INDEX CONCURRENTLY ix_y")', "concurrent-in-transaction", "error")
    clean('  op.execute("DROP INDEX CONCURRENTLY ix_y")', "concurrent-in-transaction", {extra = "transactional = false"})
    clean('  op.execute("CREATE INDEX CONCURRENTLY c10 ON t(a)")', "concurrent-in-transaction", {extra = "transactional = false"})
  end)

  it("M5: create_table if_not_exists / CREATE TABLE IF NOT EXISTS on an existing table exempts nothing", function()
    local dir = project('  op.create_table("t", {{"id", "integer"}}, {if_not_exists = true})\n  op.create_index("co3", "t", {"a"})')
    assert.equal(1, #with_rule(lint(dir), "index-not-concurrent"))
    dir = project('  op.execute([[CREATE TABLE IF NOT EXISTS r (id int)]])\n'
      .. '  op.create_index("co4", "r", {"id"})')
    assert.equal(1, #with_rule(lint(dir), "index-not-concurrent"))
    clean('  op.create_table("z", {{"id", "integer"}})\n  op.create_index("co5", "z", {"id"})', "index-not-concurrent")
  end)

  it("M8: the unique safe form's index is named after the constraint (at most 63 bytes)", function()
    local f = finds('  op.create_unique_constraint("uq2", "t", {"a"})', "unique-without-index", "error")
    assert.truthy(f.safe:find('op.create_index("ix_uq2", "t", {"a"}', 1, true), f.safe)
    assert.truthy(f.safe:find('op.create_unique_constraint("uq2", "t", nil, {postgresql_using_index = "ix_uq2"})', 1, true), f.safe)
    f = finds(('  op.create_unique_constraint("%s", "t", {"a"})'):format(("u"):rep(63)), "unique-without-index", "error")
    local ix = f.safe:match('op.create_index%("(ix_u+_%x+)"')     -- cut, with a hash of the whole (L4)
    assert.truthy(ix and #ix == 63, f.safe)
  end)

  it("M2: in DB mode a table the range creates is new (warning), one the range fills is of unknown size (error)", function()
    -- (b) a fresh database: a1 creates t, b2 indexes it: a warning, refuse mode lets it run
    local url = select(2, h.fresh_pg())
    local dir = project('  op.create_index("ix1", "t", {"a"})', url, {config = 'lint_on_upgrade = "refuse"'})
    local report, status = lint(dir, "")
    assert.equal(0, status)
    local got = with_rule(report, "index-not-concurrent")
    assert.equal(1, #got)
    assert.equal("warning", got[1].severity)
    assert.truthy(got[1].note:find("(created earlier in the range, not in the database yet)", 1, true), got[1].note)
    local st2, _, err = h.luamig(dir, "upgrade")
    assert.equal(0, st2, err)
    assert.same({"b2"}, h.version_rows(url))
    -- (a) an earlier pending revision fills t: the database's 0 rows are not trusted
    url = select(2, h.fresh_pg())
    dir = h.project({{id = "a1", code = true, up = BASE},
      {id = "b1", down = "a1", code = true,
       up = '  op.execute("INSERT INTO t (id, a) SELECT g, g FROM generate_series(1, 20000) g")'},
      {id = "b2", down = "b1", code = true, up = '  op.create_index("ix_bf", "t", {"a"})'}},
      ("url = %q\nlint_on_upgrade = \"refuse\"\n"):format(url))
    assert.equal(0, (h.luamig(dir, "-q upgrade a1")))
    report, status = lint(dir, "")
    assert.equal(1, status)
    got = with_rule(report, "index-not-concurrent")
    assert.equal("error", got[1].severity)
    assert.truthy(got[1].note:find("size unknown", 1, true), got[1].note)
    local _, _, err2 = h.luamig(dir, "upgrade")
    assert.truthy(err2:find("upgrade refused", 1, true), err2)
    assert.same({"a1"}, h.version_rows(url))
  end)

  it("M7: existing_type that disagrees with the database: the database's type is judged, the mismatch said", function()
    local url = select(2, h.fresh_pg())
    local dir = project('  op.alter_column("t", "a", {type_ = "bigint", existing_type = "bigint"})', url,
      {config = 'lint_on_upgrade = "off"'})
    assert.equal(0, (h.luamig(dir, "-q upgrade a1")))
    local report = lint(dir, "")
    local got = with_rule(report, "type-rewrite")
    assert.equal(1, #got)
    assert.truthy(got[1].note:find("(existing_type bigint, but the database says integer)", 1, true), got[1].note)
    -- offline, existing_type is all there is
    assert.same({}, with_rule(lint(dir, "--offline"), "type-rewrite"))
  end)

  it("L7: control characters of a script are escaped in the human output", function()
    local dir = project('  error("x \\27[2J\\7")')
    local _, out = h.luamig(dir, "lint --offline")
    assert.falsy(out:find("\27", 1, true), out)
    assert.falsy(out:find("\7", 1, true), out)
    assert.truthy(out:find("\\027[2J\\007", 1, true), out)
  end)

  it("M6: the serial volatile-default safe form runs on PostgreSQL and lints clean", function()
    local f = finds('  op.add_column("t", {"sn", "bigserial"})', "volatile-default", "error")
    local dir, url = filled("  " .. f.safe:gsub("\n", "\n  "), "refuse")
    local report, status = lint(dir, "")
    assert.same({}, with_rule(report, "volatile-default"))
    assert.equal(0, status)
    local st2, _, err = h.luamig(dir, "upgrade")
    assert.equal(0, st2, err)
    assert.same({{t = "bigint", d = "nextval('t_sn_seq'::regclass)"}}, h.query(url,
      "SELECT data_type AS t, column_default AS d FROM information_schema.columns WHERE table_name = 't' AND column_name = 'sn'"))
  end)
end)

-- H3: the printed safe form (--json) of calls with options, run on PostgreSQL, makes the same
-- catalog as the unsafe call on another fresh database, and lints clean.
describe("[postgresql] outside attack C: safe forms", function()
  local SBASE = [[
  op.create_table("t", {{"id", "integer"}, {"a", "integer"}, {"b", "integer"}, {"c", "text"}, {"u", "integer"}})
  op.create_table("p", {{"id", "integer", primary_key = true}})]]
  local UNSAFE = [[
  op.create_index("u1", "t", {{"a", order = "desc"}, op.raw("lower(c)"), {"c", nulls = "first"}}, {unique = true, where = "a > 0", postgresql_using = "btree", postgresql_include = {"b"}})
  op.create_index("u2", "t", {"c"}, {postgresql_ops = {c = "text_pattern_ops"}, postgresql_nulls_not_distinct = true, unique = true})
  op.create_unique_constraint("uq2", "t", {"b"}, {deferrable = true, initially = "DEFERRED"})
  op.create_foreign_key("fk3", "t", "p", {"u"}, {"id"}, {ondelete = "CASCADE", onupdate = "SET NULL", deferrable = true, initially = "DEFERRED", match = "FULL"})
  op.create_primary_key("pk2", "t", {"a"})
  op.create_check_constraint("ck4", "t", op.raw("b > 0"))
  op.execute([==[ALTER TABLE t ADD CONSTRAINT fk5 FOREIGN KEY (b) REFERENCES p(id) ON DELETE SET NULL DEFERRABLE]==])
  op.execute([==[CREATE INDEX u6 ON t USING hash (c) WHERE b > 1]==])]]

  local function catalog(url)
    return {
      cons = h.query(url, [[SELECT conname, contype, confdeltype, confupdtype, condeferrable, condeferred,
        confmatchtype, convalidated, pg_get_constraintdef(oid) AS def FROM pg_constraint
        WHERE conrelid = 't'::regclass ORDER BY conname]]),
      idx = h.query(url, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 't' ORDER BY indexname"),
      cols = h.query(url, [[SELECT attname, attnotnull FROM pg_attribute WHERE attrelid = 't'::regclass
        AND attnum > 0 ORDER BY attnum]]),
    }
  end

  local function at_base()
    local url = select(2, h.fresh_pg())
    local dir = project(nil, url, {base = SBASE, config = 'lint_on_upgrade = "off"'})
    local st, _, err = h.luamig(dir, "upgrade")
    assert.equal(0, st, err)
    h.query(url, "INSERT INTO p (id) VALUES (1), (2)")
    h.query(url, "INSERT INTO t (id, a, b, c, u) VALUES (1, 1, 1, 'x', 1), (2, 2, 2, 'y', 2)")
    return dir, url
  end

  it("H3: foreign keys, indexes, unique, primary key, check and raw SQL keep every option", function()
    -- the unsafe calls, on one database
    local dir1, url1 = at_base()
    h.write_file(dir1 .. "/migrations/versions/b2.lua", h.script({id = "b2", down = "a1", code = true, up = UNSAFE}))
    local report = lint(dir1)
    local st, _, err = h.luamig(dir1, "upgrade")
    assert.equal(0, st, err)
    local want = catalog(url1)
    local names = {}
    for _, c in ipairs(want.cons) do names[#names + 1] = c.conname end
    for _, i in ipairs(want.idx) do names[#names + 1] = i.indexname end
    assert.same({"ck4", "fk3", "fk5", "pk2", "uq2", "pk2", "u1", "u2", "u6", "uq2"}, names)
    -- the safe forms, in order: before "-- then, in a later revision" in b2, the rest in c3
    local now, later = {}, {}
    for _, f in ipairs(report.findings) do
      if f.revision == "b2" then
        assert.equal("error", f.severity)
        assert.falsy(f.safe:find('"..."', 1, true), f.safe)
        assert.falsy(f.safe:find("{}", 1, true), f.safe)
        local a, b = f.safe:find("\n%-%- then, in a later revision[^\n]*\n")
        now[#now + 1] = a and f.safe:sub(1, a - 1) or f.safe
        if a then later[#later + 1] = f.safe:sub(b + 1) end
      end
    end
    assert.equal(8, #now)
    assert.equal(3, #later)
    local dir2, url2 = at_base()
    local function body(list) return "  " .. table.concat(list, "\n"):gsub("\n", "\n  ") end
    h.write_file(dir2 .. "/migrations/versions/b2.lua", h.script({id = "b2", down = "a1", code = true, up = body(now)}))
    h.write_file(dir2 .. "/migrations/versions/c3.lua", h.script({id = "c3", down = "b2", code = true, up = body(later)}))
    h.write_file(dir2 .. "/luamig.lua", ("url = %q\nlint_on_upgrade = \"refuse\""):format(url2))
    local report2, status2 = lint(dir2)
    local errors = {}
    for _, f in ipairs(report2.findings) do
      if f.severity == "error" then errors[#errors + 1] = f.rule .. ": " .. (f.note or "") end
    end
    assert.same({}, errors)
    assert.equal(0, status2)
    st, _, err = h.luamig(dir2, "upgrade")
    assert.equal(0, st, err)
    assert.same(want, catalog(url2))
  end)

  it("H3: option tables render as Lua that loads back to the same value (keywords, quotes, op.raw)", function()
    local render = require "luamig.lint.render"
    local v = {"a", {"b", order = "desc"}, ["end"] = true, ["a b"] = 'q"\n\\', n = 2}
    local src = render.lit(v)
    local back = assert(load("return " .. src, "=t", "t", {op = {raw = function(x) return {raw = x} end}}))()
    assert.same(v, back)
    assert.equal('op.raw("lower(\\"c\\")")', render.lit(require("luamig.dialect.common").raw('lower("c")')))
    local long = render.fit(("x"):rep(80))
    assert.equal(63, #long)
    assert.not_equal(long, render.fit(("x"):rep(79) .. "y"))
  end)

  it("L4: a suggested check name fits 63 bytes and runs", function()
    local f = finds('  op.alter_column("customer_subscription_events_archive_table", '
      .. '"previous_subscription_identifier", {nullable = false})', "not-null-existing-column", "error",
      {base = '  op.create_table("customer_subscription_events_archive_table", '
        .. '{{"previous_subscription_identifier", "integer"}})'})
    local name = f.safe:match('op.create_check_constraint%("([^"]+)"')
    assert.truthy(name, f.safe)
    assert.truthy(#name <= 63, name)
    assert.truthy(f.safe:find(('op.validate_constraint("%s"'):format(name), 1, true), f.safe)
  end)
end)

-- L5: markers count only in real Lua line comments; "ignore A, B: reason" ignores both rules;
-- a marker in a string, a block comment, in other case, or two in one comment are handled.
describe("outside attack C: L5 markers", function()
  local CALL = '  op.create_index("ix_t_a", "t", {"a"})'
  it("a marker inside a Lua string silences nothing and is no marker", function()
    for _, body in ipairs{CALL .. ' local s = "-- luamig-lint: ignore index-not-concurrent: in a string"',
                          CALL .. " local s = [[ -- luamig-lint: ignore index-not-concurrent: long ]]",
                          "  local s = [[\n  -- luamig-lint: ignore index-not-concurrent: long string line\n  ]]\n" .. CALL} do
      local report, status = lint(project(body))
      assert.equal(1, #with_rule(report, "index-not-concurrent"), body)
      assert.same({}, with_rule(report, "bad-marker"), body)
      assert.same({}, report.ignored, body)
      assert.equal(1, status)
    end
  end)

  it("ignore A, B: reason ignores both rules of the call", function()
    local body = '  op.create_unique_constraint("uq9", "t", {"a"}) -- luamig-lint: ignore unique-without-index, '
      .. "index-not-concurrent: t is tiny"
    local report, status = lint(project(body))
    assert.same({}, report.findings)
    assert.equal(0, status)
    assert.equal(1, #report.ignored)
    assert.equal("t is tiny", report.ignored[1].reason)
    report = lint(project(CALL .. " -- luamig-lint: ignore index-not-concurrent, no-such-rule: x"))
    local bad = with_rule(report, "bad-marker")
    assert.equal(1, #bad)
    assert.truthy(bad[1].note:find('unknown rule id "no-such-rule"', 1, true), bad[1].note)
    assert.equal(1, #with_rule(report, "index-not-concurrent"))
  end)

  it("a block comment, another case, or two markers in one comment are bad markers and silence nothing", function()
    for body, words in pairs{
      [CALL .. " --[[ luamig-lint: ignore index-not-concurrent: block ]]"] = "block comment",
      [CALL .. " -- LUAMIG-LINT: ignore index-not-concurrent: upper"] = "exactly",
      [CALL .. " -- luamig-lint: ignore index-not-concurrent: r -- luamig-lint: ignore check-not-valid: r2"] = "two markers",
    } do
      local report, status = lint(project(body))
      local bad = with_rule(report, "bad-marker")
      assert.equal(1, #bad, body)
      assert.truthy(bad[1].note:find(words, 1, true), bad[1].note)
      assert.equal(1, #with_rule(report, "index-not-concurrent"), body)
      assert.equal(1, status)
    end
  end)
end)

describe("upgrade's lint leaves the scripts as they were (outside attack S 1)", function()
  -- A seed fed by a top-level iterator: the lint runs upgrade(op) offline first; the
  -- run that follows must load the script afresh, not reuse the used-up iterator.
  local SEED = [[
local i = 0
local function gen() i = i + 1; if i <= 5 then return {id = i} end end]]
  local function seed_project(url)
    return h.project({{id = "s1", code = true, extra = SEED, up = [[
  op.create_table("seed", {{"id", "integer"}})
  op.bulk_insert("seed", gen)]], down_sql = '  op.drop_table("seed")'}}, ("url = %q\n"):format(url))
  end

  for _, db in ipairs(h.dialects) do
    it(("[%s] the seed's 5 rows are inserted with lint_on_upgrade = \"warn\" (the default)"):format(db.name), function()
      local url = db.url()
      local dir = seed_project(url)
      local status, _, err = h.luamig(dir, "upgrade head")
      assert.equal(0, status, err)
      assert.same({"s1"}, h.version_rows(url))
      assert.equal(5, tonumber(h.query(url, "SELECT count(*) AS n FROM seed")[1].n))
    end)
  end

  it("the lint does not read bulk_insert's rows: the iterator runs once, in the run (issue 19)", function()
    local url = h.dialects[1].url()
    local calls = os.tmpname()
    local dir = h.project({{id = "s1", code = true, extra = ([[
local i = 0
local function gen()
  local f = assert(io.open(%q, "a")); f:write("x"); f:close()
  i = i + 1; if i <= 5 then return {id = i} end
end]]):format(calls), up = [[
  op.create_table("seed", {{"id", "integer"}})
  op.bulk_insert("seed", gen)]], down_sql = '  op.drop_table("seed")'}}, ("url = %q\n"):format(url))
    local status, _, err = h.luamig(dir, "upgrade head")
    assert.equal(0, status, err)
    local f = assert(io.open(calls)); local seen = f:read("a"); f:close(); os.remove(calls)
    assert.equal(6, #seen)                          -- five rows and the nil that ends them
    assert.equal(5, tonumber(h.query(url, "SELECT count(*) AS n FROM seed")[1].n))
  end)

  it("--sql writes the seed's rows after the lint ran", function()
    local dir = seed_project(PG_OFFLINE)
    local status, out, err = h.luamig(dir, "upgrade head --sql")
    assert.equal(0, status, err)
    assert.truthy(out:find('COPY "seed" ("id") FROM stdin;\n1\n2\n3\n4\n5\n\\.\n', 1, true), out)
  end)
end)
