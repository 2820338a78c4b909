-- Issue 17, the safe forms: create_foreign_key / create_check_constraint
-- {postgresql_not_valid = true} (ADD CONSTRAINT ... NOT VALID),
-- op.validate_constraint (VALIDATE CONSTRAINT), create_unique_constraint
-- {postgresql_using_index = "ix"} (UNIQUE USING INDEX); their SQL, their
-- effect on a real PostgreSQL (pg_constraint.convalidated, the index the
-- constraint uses, the lock VALIDATE holds), --sql, and SQLite's error at
-- the op's line; check and autogenerate of a NOT VALID constraint; and
-- revision --autogenerate's safe forms (two revisions) on PostgreSQL.
local h = require "spec.helpers"

local function offline(dialect) return h.offline_op(dialect, false) end

local error_of = h.op_error

local function here() return debug.getinfo(2, "l").currentline end

local function rev(id, down, up, extra, down_code)
  return {id = id, down = down, code = true, up = up, down_sql = down_code or "", extra = extra}
end

describe("the safe-form ops' SQL (PostgreSQL, offline)", function()
  it("NOT VALID on a foreign key and a check (both spellings), VALIDATE CONSTRAINT, UNIQUE USING INDEX", function()
    local op, out = offline("postgresql")
    op.create_foreign_key("fk_o_u", "o", "u", {"u_id"}, {"id"}, {postgresql_not_valid = true, ondelete = "cascade"})
    op.create_check_constraint("ck_o_n", "o", "n > 0", {not_valid = true})
    op.validate_constraint("fk_o_u", "o")
    op.create_unique_constraint("uq_o_n", "o", nil, {postgresql_using_index = "ix_o_n"})
    op.create_unique_constraint(nil, "o", nil, {postgresql_using_index = "ix_o_m", deferrable = true,
                                                initially = "deferred"})
    op.create_foreign_key("fk_plain", "o", "u", {"u_id"}, {"id"}, {postgresql_not_valid = false})
    op.create_check_constraint("ck_plain", "o", "n < 9")
    op.batch_alter_table("o", function(b)
      b.create_check_constraint("ck_b", "n <> 5", {postgresql_not_valid = true})
      b.validate_constraint("ck_b")
    end)
    assert.same({
      'ALTER TABLE "o" ADD CONSTRAINT "fk_o_u" FOREIGN KEY ("u_id") REFERENCES "u" ("id") ON DELETE CASCADE NOT VALID',
      'ALTER TABLE "o" ADD CONSTRAINT "ck_o_n" CHECK (n > 0) NOT VALID',
      'ALTER TABLE "o" VALIDATE CONSTRAINT "fk_o_u"',
      'ALTER TABLE "o" ADD CONSTRAINT "uq_o_n" UNIQUE USING INDEX "ix_o_n"',
      'ALTER TABLE "o" ADD CONSTRAINT "ix_o_m" UNIQUE USING INDEX "ix_o_m" DEFERRABLE INITIALLY DEFERRED',
      'ALTER TABLE "o" ADD CONSTRAINT "fk_plain" FOREIGN KEY ("u_id") REFERENCES "u" ("id")',
      'ALTER TABLE "o" ADD CONSTRAINT "ck_plain" CHECK (n < 9)',
      'ALTER TABLE "o" ADD CONSTRAINT "ck_b" CHECK (n <> 5) NOT VALID',
      'ALTER TABLE "o" VALIDATE CONSTRAINT "ck_b"',
    }, out)
  end)

  it("refuses bad arguments at the migration's line, saying what is wrong", function()
    local op = offline("postgresql")
    local msg, line = error_of(function() op.create_unique_constraint("uq", "o", {"n"}, {postgresql_using_index = "ix"}) end); local l1 = here()
    assert.equal('create_unique_constraint: argument 3 (columns) must be nil with postgresql_using_index: '
      .. 'the index "ix" has the columns', msg)
    assert.equal(l1, line)
    assert.equal('create_unique_constraint: option "postgresql_using_index" must be a non-empty string, got string ""',
      (error_of(op.create_unique_constraint, "uq", "o", nil, {postgresql_using_index = ""})))
    assert.equal('create_unique_constraint: argument 3 (columns) must be a column name or a list of column names, got nil',
      (error_of(op.create_unique_constraint, "uq", "o", nil, {deferrable = true})))
    assert.equal('create_check_constraint: option "postgresql_not_valid" must be a boolean, got string "yes"',
      (error_of(op.create_check_constraint, "ck", "o", "n > 0", {postgresql_not_valid = "yes"})))
    assert.equal('create_check_constraint: option "not_valid" given twice (as "not_valid" and "postgresql_not_valid")',
      (error_of(op.create_check_constraint, "ck", "o", "n > 0", {postgresql_not_valid = true, not_valid = true}))
        :gsub('%(as "postgresql_not_valid" and "not_valid"%)', '(as "not_valid" and "postgresql_not_valid")'))
    assert.equal("validate_constraint: argument 1 (name) must be a non-empty string, got nil",
      (error_of(op.validate_constraint, nil, "o")))
    assert.equal("validate_constraint: argument 2 (table) must be a non-empty string, got nil",
      (error_of(op.validate_constraint, "ck")))
    assert.equal('create_foreign_key: unknown option "postgresql_not_vaild"',
      (error_of(op.create_foreign_key, "fk", "o", "u", "u_id", "id", {postgresql_not_vaild = true})))
  end)
end)

describe("the safe-form ops on SQLite", function()
  local GUARD = 'guard the PostgreSQL-only part with `if op.dialect == "postgresql" then ... end`'
  it("are each an error at the op's line that says to guard them", function()
    local op = offline("sqlite")
    local cases = {
      {function() op.create_foreign_key("fk", "o", "u", {"u_id"}, {"id"}, {postgresql_not_valid = true}) end,
       'create_foreign_key: option "postgresql_not_valid" (ADD CONSTRAINT ... NOT VALID) is PostgreSQL\'s'},
      {function() op.create_check_constraint("ck", "o", "n > 0", {not_valid = true}) end,
       'create_check_constraint: option "postgresql_not_valid" (ADD CONSTRAINT ... NOT VALID) is PostgreSQL\'s'},
      {function() op.validate_constraint("ck", "o") end,
       "validate_constraint: validate_constraint (ALTER TABLE ... VALIDATE CONSTRAINT) is PostgreSQL's"},
      {function() op.create_unique_constraint("uq", "o", nil, {postgresql_using_index = "ix"}) end,
       'create_unique_constraint: option "postgresql_using_index" (ADD CONSTRAINT ... UNIQUE USING INDEX) is PostgreSQL\'s'},
      {function() op.batch_alter_table("o", function(b) b.validate_constraint("ck") end) end,
       "batch.validate_constraint: validate_constraint (ALTER TABLE ... VALIDATE CONSTRAINT) is PostgreSQL's"},
      {function() op.batch_alter_table("o", function(b) b.create_check_constraint("ck", "n > 0", {postgresql_not_valid = true}) end) end,
       'batch.create_check_constraint: option "postgresql_not_valid" (ADD CONSTRAINT ... NOT VALID) is PostgreSQL\'s'},
    }
    for _, c in ipairs(cases) do
      local l = debug.getinfo(c[1], "S").linedefined
      local msg, line = error_of(c[1])
      assert.equal(c[2] .. ", and SQLite has no such thing; " .. GUARD, msg)
      assert.equal(l, line)
    end
  end)

  it("stop an upgrade with the script's file:line, exit 1, and nothing applied", function()
    local dir = h.project({rev("a1", nil, [[  op.create_table("t", {{"id", "integer", primary_key = true}, {"n", "integer"}})]]),
      rev("b2", "a1", [[
  op.create_check_constraint("ck_t_n", "t", "n > 0", {postgresql_not_valid = true})]])})
    local url = h.fresh_sqlite()
    local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")
    assert.equal(1, status)
    assert.truthy(err:find('b2.lua:8: create_check_constraint: option "postgresql_not_valid" (ADD CONSTRAINT ... NOT VALID) '
      .. "is PostgreSQL's, and SQLite has no such thing; " .. GUARD, 1, true), err)
    assert.same({"a1"}, h.version_rows(url))
  end)
end)

describe("[postgresql]", function()
  local core = require "luamig.core"
  local function run(dir, url, args, env)
    return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args, env)
  end
  local function validated(url)
    local out = {}
    for _, r in ipairs(h.query(url, "SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'o'::regclass "
        .. "AND contype IN ('f', 'c', 'u') ORDER BY conname")) do
      out[r.conname] = r.convalidated
    end
    return out
  end
  local a1 = rev("a1", nil, [[
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.create_table("o", {{"id", "integer", primary_key = true}, {"u_id", "integer"}, {"n", "integer"}})
  op.create_table("lockseen", {{"step", "text"}, {"relname", "text"}, {"mode", "text"}})
  op.execute("INSERT INTO u (id) VALUES (1), (2)")
  op.execute("INSERT INTO o (id, u_id, n) VALUES (1, 1, 10), (2, 2, 20), (3, NULL, 30)")]],
    nil, '  op.drop_table("lockseen"); op.drop_table("o"); op.drop_table("u")')
  local b2 = rev("b2", "a1", [[
  op.create_foreign_key("fk_o_u", "o", "u", {"u_id"}, {"id"}, {postgresql_not_valid = true})
  op.create_check_constraint("ck_o_n", "o", "n > 0", {not_valid = true})
  op.execute("INSERT INTO lockseen SELECT 'b2', c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
    .. "WHERE l.pid = pg_backend_pid() AND c.relname IN ('o', 'u') ORDER BY 2, 3")]], nil, [[
  op.drop_constraint("ck_o_n", "o", {type_ = "check"})
  op.drop_constraint("fk_o_u", "o", {type_ = "foreignkey"})]])
  -- the locks the step's own transaction holds after the VALIDATEs (pg_locks)
  local c3 = rev("c3", "b2", [[
  op.validate_constraint("fk_o_u", "o")
  op.validate_constraint("ck_o_n", "o")
  op.execute("INSERT INTO lockseen SELECT 'c3', c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
    .. "WHERE l.pid = pg_backend_pid() AND c.relname IN ('o', 'u') ORDER BY 2, 3")]], nil,
    [[  op.execute("DELETE FROM lockseen WHERE step = 'c3'")]])
  local d4 = rev("d4", "c3", [[
  op.create_index("ix_o_n", "o", {"n"}, {unique = true, postgresql_concurrently = true, if_not_exists = true})
  op.create_unique_constraint("uq_o_n", "o", nil, {postgresql_using_index = "ix_o_n"})]], "transactional = false",
    [[  op.drop_constraint("uq_o_n", "o", {type_ = "unique"})]])

  it("add NOT VALID (convalidated false), VALIDATE under SHARE UPDATE EXCLUSIVE only, make a unique constraint of a concurrent index; and go back down", function()
    local dir = h.project({a1, b2, c3, d4})
    local _, url = h.fresh_pg()
    local status, _, err = run(dir, url, "upgrade b2")
    assert.equal(0, status, err)
    assert.same({ck_o_n = false, fk_o_u = false}, validated(url))
    -- the adds: short locks, no scan (the check's ACCESS EXCLUSIVE, the foreign key's SHARE ROW EXCLUSIVE)
    assert.same({{relname = "o", mode = "AccessExclusiveLock"}, {relname = "o", mode = "AccessShareLock"},
                 {relname = "o", mode = "ShareRowExclusiveLock"},
                 {relname = "u", mode = "AccessShareLock"}, {relname = "u", mode = "ShareRowExclusiveLock"}},
      h.query(url, "SELECT relname, mode FROM lockseen WHERE step = 'b2' ORDER BY 1, 2"))
    -- not validated: a new row is checked, the old ones were not scanned
    local conn = core.connect(url)
    assert.truthy(tostring(h.error_of(conn.exec, conn, "INSERT INTO o (id, u_id, n) VALUES (9, 7, 1)")):find("fk_o_u", 1, true))
    assert.truthy(tostring(h.error_of(conn.exec, conn, "INSERT INTO o (id, u_id, n) VALUES (9, 1, -1)")):find("ck_o_n", 1, true))
    -- VALIDATE while another session has written to o and not committed: it does not wait for it
    conn:exec("BEGIN")
    conn:exec("INSERT INTO o (id, u_id, n) VALUES (8, 2, 80)")
    status, _, err = run(dir, url, "upgrade c3", {PGOPTIONS = "-c lock_timeout=3s"})
    assert.equal(0, status, err)
    conn:exec("ROLLBACK")
    assert.same({ck_o_n = true, fk_o_u = true}, validated(url))
    -- nothing stronger than SHARE UPDATE EXCLUSIVE on o (the plain ADD takes SHARE ROW EXCLUSIVE on both)
    assert.same({{relname = "o", mode = "AccessShareLock"}, {relname = "o", mode = "ShareUpdateExclusiveLock"},
                 {relname = "u", mode = "AccessShareLock"}, {relname = "u", mode = "RowShareLock"}},
      h.query(url, "SELECT relname, mode FROM lockseen WHERE step = 'c3' ORDER BY 1, 2"))
    status, _, err = run(dir, url, "upgrade head")
    assert.equal(0, status, err)
    assert.same({{conname = "uq_o_n", index = "uq_o_n", convalidated = true}},
      h.query(url, "SELECT conname, conindid::regclass::text AS index, convalidated FROM pg_constraint "
        .. "WHERE conrelid = 'o'::regclass AND contype = 'u'"))
    assert.same({}, h.query(url, "SELECT 1 FROM pg_class WHERE relname = 'ix_o_n'"))     -- renamed to the constraint
    assert.same({"d4"}, h.version_rows(url))
    status, _, err = run(dir, url, "downgrade a1")
    assert.equal(0, status, err)
    assert.same({}, validated(url))
    assert.same({{n = 0}}, h.query(url, "SELECT count(*) AS n FROM lockseen WHERE step = 'c3'"))
    assert.same({{n = 0}}, h.query(url, "SELECT count(*) AS n FROM pg_indexes WHERE tablename = 'o' AND indexname <> 'pk_o'"))
    conn:close()
  end)

  it("the plain ADD FOREIGN KEY waits for that writer, and gives up at lock_timeout (the contrast)", function()
    local dir = h.project({a1, rev("b2", "a1", [[  op.create_foreign_key("fk_o_u", "o", "u", {"u_id"}, {"id"})]])})
    local _, url = h.fresh_pg()
    assert.equal(0, (run(dir, url, "upgrade a1")))
    local conn = core.connect(url)
    conn:exec("BEGIN")
    conn:exec("INSERT INTO o (id, u_id, n) VALUES (8, 2, 80)")
    -- luamig's own ddl_lock_timeout (SET LOCAL) is what bounds the wait; one attempt, no retry
    local status, _, err = run(dir, url, "upgrade head --ddl-lock-timeout 300ms --lock-retries 1")
    conn:exec("ROLLBACK")
    conn:close()
    assert.equal(1, status)
    assert.truthy(err:find('lock on "o"', 1, true) and err:find("not granted in 300ms, attempt 1 of 1: giving up", 1, true), err)
    assert.same({"a1"}, h.version_rows(url))
  end)

  it("VALIDATE of a constraint the old rows break fails and leaves it NOT VALID; --sql writes the same statements", function()
    local bad = rev("a1", nil, a1.up .. '\n  op.execute("INSERT INTO o (id, u_id, n) VALUES (4, 99, -4)")', nil, a1.down_sql)
    local dir = h.project({bad, b2, c3, d4})
    local _, url = h.fresh_pg()
    local status, _, err = run(dir, url, "upgrade head")
    assert.equal(1, status)
    assert.truthy(err:find('insert or update on table "o" violates foreign key constraint "fk_o_u"', 1, true), err)
    assert.same({"b2"}, h.version_rows(url))
    assert.same({ck_o_n = false, fk_o_u = false}, validated(url))
    local out
    status, out, err = run(dir, url, "upgrade b2:head --sql")
    assert.equal(0, status, err)
    local want = {
      'ALTER TABLE "o" VALIDATE CONSTRAINT "fk_o_u";',
      'ALTER TABLE "o" VALIDATE CONSTRAINT "ck_o_n";',
      'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "ix_o_n" ON "o" ("n");',
      'ALTER TABLE "o" ADD CONSTRAINT "uq_o_n" UNIQUE USING INDEX "ix_o_n";',
    }
    local got = {}
    for _, l in ipairs(h.lines(out)) do if l:find("CONSTRAINT") or l:find("INDEX") then got[#got + 1] = l end end
    assert.same(want, got)
    status, out = run(dir, url, "upgrade base:b2 --sql")
    assert.equal(0, status)
    assert.same({'ALTER TABLE "o" ADD CONSTRAINT "fk_o_u" FOREIGN KEY ("u_id") REFERENCES "u" ("id") NOT VALID;',
                 'ALTER TABLE "o" ADD CONSTRAINT "ck_o_n" CHECK (n > 0) NOT VALID;'}, h.grep(out, "NOT VALID"))
  end)
end)

describe("[postgresql] revision --autogenerate's safe forms", function()
  local function run(dir, url, args, env)
    return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args, env)
  end
  local a1 = rev("a1", nil, [[
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.create_table("o", {{"id", "integer", primary_key = true}, {"u_id", "integer"}, {"n", "integer"},
                        {"code", "text"}, {"note", "text"}})
  op.execute("INSERT INTO u (id) VALUES (1), (2)")
  op.execute("INSERT INTO o (id, u_id, n, code) VALUES (1, 1, 10, 'a'), (2, 2, 20, 'b'), (3, NULL, 30, 'c')")]],
    nil, '  op.drop_table("o"); op.drop_table("u")')
  local SCHEMA = [[
function schema(op)
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.create_table("o", {{"id", "integer", primary_key = true}, {"u_id", "integer", references = "u.id"},
    {"n", "integer", nullable = false}, {"code", "text", unique = true}, {"note", "text"},
    {check = "n > 0", name = "ck_o_pos"}})
  op.create_index("ix_o_note", "o", {"note"})
  op.create_table("p", {{"id", "integer", primary_key = true}, {"o_id", "integer", references = "o.id"},
    {check = "id > 0", name = "ck_p_pos"}})
  op.create_index("ix_p_o_id", "p", {"o_id"})
end
]]
  local function project()
    local dir = h.project({a1}, 'target_schema = "schema.lua"\n')
    h.write_file(dir .. "/schema.lua", SCHEMA)
    return dir
  end
  local function new_files(dir)
    local out = {}
    for _, l in ipairs(h.lines(select(2, h.run("ls " .. h.shell_quote(dir .. "/migrations/versions"))))) do
      if l ~= "a1.lua" then out[#out + 1] = l end
    end
    return out
  end
  local function ops_of(text, fn)
    local body = text:match("function " .. fn .. "%(op%)\n(.-)\nend")
    local out = {}
    for _, l in ipairs(h.lines(body)) do
      l = l:gsub("^%s+", "")
      if l ~= "" and not l:find("^%-%-") then out[#out + 1] = l end
    end
    return out
  end

  it("writes two revisions: the plain one with NOT VALID adds, and a transactional = false one; upgrade, check, downgrade", function()
    local dir = project()
    local _, url = h.fresh_pg()
    assert.equal(0, (run(dir, url, "upgrade head")))
    local status, out, err = run(dir, url, "revision --autogenerate -m safe --rev-id 00000001")
    assert.equal(0, status, err)
    local gen = h.grep(out, "Generating ")
    assert.equal(2, #gen, out)
    local files = new_files(dir)
    assert.equal(2, #files)
    local first = h.read_file(dir .. "/migrations/versions/00000001_safe.lua")
    local second_name = gen[2]:match("versions/([^/]+%.lua) %.%.%.")
    assert.truthy(second_name, gen[2])
    local second = h.read_file(dir .. "/migrations/versions/" .. second_name)
    local id2 = second_name:match("^(%x+)_")
    assert.truthy(gen[1]:find("00000001_safe.lua", 1, true))
    assert.truthy(second:find('\ndown_revision = "00000001"\n', 1, true), second)
    assert.truthy(second:find('\ntransactional = false', 1, true), second)
    assert.same({
      'op.create_table("p", {',
      '{"id", "integer", primary_key = true},',
      '{"o_id", "integer", references = "o.id"},',
      '{check = "id > 0", name = "ck_p_pos"},',
      '})',
      'op.create_index("ix_p_o_id", "p", {"o_id"})',
      'op.create_check_constraint("ck_o_n_not_null", "o", "\\"n\\" IS NOT NULL", {postgresql_not_valid = true})',
      'op.create_check_constraint("ck_o_pos", "o", "n > 0", {postgresql_not_valid = true})',
      'op.create_foreign_key("fk_o_u_id_u", "o", "u", {"u_id"}, {"id"}, {postgresql_not_valid = true})',
    }, ops_of(first, "upgrade"))
    assert.same({
      'op.drop_constraint("fk_o_u_id_u", "o", {type_ = "foreignkey"})',
      'op.drop_constraint("ck_o_pos", "o", {type_ = "check"})',
      'op.drop_constraint("ck_o_n_not_null", "o", {type_ = "check", if_exists = true})',
      'op.drop_index("ix_p_o_id", "p")',
      'op.drop_table("p")',
    }, ops_of(first, "downgrade"))
    assert.same({
      'op.validate_constraint("ck_o_n_not_null", "o", {if_exists = true})',
      'op.alter_column("o", "n", {nullable = false})',
      'op.drop_constraint("ck_o_n_not_null", "o", {type_ = "check", if_exists = true})',
      'op.create_index("ix_o_note", "o", {"note"}, {postgresql_concurrently = true, if_not_exists = true})',
      'op.create_index("uq_o_code", "o", {"code"}, {unique = true, postgresql_concurrently = true, if_not_exists = true})',
      'op.create_unique_constraint("uq_o_code", "o", nil, {postgresql_using_index = "uq_o_code", if_not_exists = true})',
      'op.validate_constraint("ck_o_pos", "o", {if_exists = true})',
      'op.validate_constraint("fk_o_u_id_u", "o", {if_exists = true})',
    }, ops_of(second, "upgrade"))
    assert.same({
      'op.drop_constraint("uq_o_code", "o", {type_ = "unique"})',
      'op.drop_index("ix_o_note", "o", {postgresql_concurrently = true, if_exists = true})',
      'op.create_check_constraint("ck_o_n_not_null", "o", "\\"n\\" IS NOT NULL", {postgresql_not_valid = true})',
      'op.alter_column("o", "n", {nullable = true})',
    }, ops_of(second, "downgrade"))

    status, _, err = run(dir, url, "upgrade head")
    assert.equal(0, status, err)
    assert.same({id2}, h.version_rows(url))
    assert.same({{conname = "ck_o_pos", convalidated = true}, {conname = "fk_o_u_id_u", convalidated = true},
                 {conname = "pk_o", convalidated = true}, {conname = "uq_o_code", convalidated = true}},
      h.query(url, "SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'o'::regclass ORDER BY 1"))
    assert.same({{attnotnull = true}}, h.query(url, "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'o'::regclass AND attname = 'n'"))
    assert.same({{idx = "uq_o_code"}}, h.query(url, "SELECT conindid::regclass::text AS idx FROM pg_constraint WHERE conname = 'uq_o_code'"))
    status, out, err = run(dir, url, "check")
    assert.equal(0, status, out .. err)
    assert.same({}, h.grep(err, "NOT VALID"))
    -- the linted form's upgrade again finds nothing to do
    status, out, err = run(dir, url, "revision --autogenerate -m again --rev-id 00000003")
    assert.equal(0, status, err)
    assert.equal(1, #h.grep(out, "Generating "))
    os.remove(dir .. "/migrations/versions/00000003_again.lua")

    status, _, err = run(dir, url, "downgrade a1")
    assert.equal(0, status, err)
    assert.same({"a1"}, h.version_rows(url))
    assert.same({{conname = "pk_o"}}, h.query(url, "SELECT conname FROM pg_constraint WHERE conrelid = 'o'::regclass"))
    assert.same({{attnotnull = false}}, h.query(url, "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'o'::regclass AND attname = 'n'"))
    assert.same({{n = 1}}, h.query(url, "SELECT count(*) AS n FROM pg_indexes WHERE tablename = 'o'"))
    assert.same({}, h.query(url, "SELECT 1 FROM pg_tables WHERE tablename = 'p'"))
    status, _, err = run(dir, url, "upgrade head")          -- and up again
    assert.equal(0, status, err)
    assert.equal(0, (run(dir, url, "check")))
  end)

  it("--no-safe-forms and autogenerate_safe_forms = false write the plain single revision", function()
    for _, how in ipairs({{"--no-safe-forms", ""}, {"", "autogenerate_safe_forms = false\n"}}) do
      local dir = project()
      h.write_file(dir .. "/luamig.lua", 'target_schema = "schema.lua"\n' .. how[2])
      local _, url = h.fresh_pg()
      assert.equal(0, (run(dir, url, "upgrade head")))
      local status, out, err = run(dir, url, "revision --autogenerate -m plain --rev-id 00000002 " .. how[1])
      assert.equal(0, status, err)
      assert.equal(1, #h.grep(out, "Generating "))
      assert.same({"00000002_plain.lua"}, new_files(dir))
      local text = h.read_file(dir .. "/migrations/versions/00000002_plain.lua")
      assert.is_nil(text:find("not_valid", 1, true))
      assert.is_nil(text:find("transactional", 1, true))
      assert.truthy(text:find('op.create_index("ix_o_note", "o", {"note"})', 1, true))
      assert.truthy(text:find('op.alter_column("o", "n", {nullable = false})', 1, true))
    end
    local status, _, err = h.luamig(h.tmpdir(), "revision -m x --no-safe-forms")
    assert.equal(2, status)
    assert.truthy(err:find("--no-safe-forms goes with --autogenerate", 1, true), err)
  end)

  it("new tables alone keep the plain form: no second revision", function()
    local dir = h.project({}, 'target_schema = "schema.lua"\n')
    h.write_file(dir .. "/schema.lua", SCHEMA)
    local _, url = h.fresh_pg()
    local status, out, err = run(dir, url, "revision --autogenerate -m init --rev-id 00000001")
    assert.equal(0, status, err)
    assert.equal(1, #h.grep(out, "Generating "))
    local text = h.read_file(dir .. "/migrations/versions/00000001_init.lua")
    assert.is_nil(text:find("not_valid", 1, true))
    assert.is_nil(text:find("concurrently", 1, true))
    assert.equal(0, (run(dir, url, "upgrade head")))
    assert.equal(0, (run(dir, url, "check")))
  end)

  it("check: a NOT VALID constraint is the declared one (exit 0), said in a WARN line (-q keeps it)", function()
    local dir = h.project({a1, rev("b2", "a1", [[
  op.create_foreign_key("fk_o_u_id_u", "o", "u", {"u_id"}, {"id"}, {postgresql_not_valid = true})
  op.create_check_constraint("ck_o_pos", "o", "n > 0", {postgresql_not_valid = true})]])}, 'target_schema = "schema.lua"\n')
    h.write_file(dir .. "/schema.lua", [[
function schema(op)
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.create_table("o", {{"id", "integer", primary_key = true}, {"u_id", "integer", references = "u.id"},
    {"n", "integer"}, {"code", "text"}, {"note", "text"}, {check = "n > 0", name = "ck_o_pos"}})
end
]])
    local _, url = h.fresh_pg()
    assert.equal(0, (run(dir, url, "upgrade head")))
    local status, out, err = run(dir, url, "check")
    assert.equal(0, status, out .. err)
    assert.same({
      'WARN  [luamig] Constraint "ck_o_pos" on "o" is NOT VALID (existing rows not yet checked): '
        .. 'op.validate_constraint("ck_o_pos", "o") validates it',
      'WARN  [luamig] Constraint "fk_o_u_id_u" on "o" is NOT VALID (existing rows not yet checked): '
        .. 'op.validate_constraint("fk_o_u_id_u", "o") validates it',
    }, h.grep(err, "NOT VALID"))
  end)
end)

describe("[sqlite] revision --autogenerate", function()
  it("is unchanged: one revision, the plain forms", function()
    local dir = h.project({rev("a1", nil, [[
  op.create_table("o", {{"id", "integer", primary_key = true}, {"note", "text"}})]])}, 'target_schema = "schema.lua"\n')
    h.write_file(dir .. "/schema.lua", [[
function schema(op)
  op.create_table("o", {{"id", "integer", primary_key = true}, {"note", "text"}})
  op.create_index("ix_o_note", "o", {"note"})
end
]])
    local url = h.fresh_sqlite()
    assert.equal(0, (h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")))
    local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " revision --autogenerate -m ix --rev-id 00000002")
    assert.equal(0, status, err)
    assert.equal(1, #h.grep(out, "Generating "))
    local text = h.read_file(dir .. "/migrations/versions/00000002_ix.lua")
    assert.truthy(text:find('\n  op.create_index("ix_o_note", "o", {"note"})\n', 1, true), text)
  end)
end)

describe("hostile names", function()
  it("are quoted in the safe-form ops' SQL", function()
    local op, out = offline("postgresql")
    op.validate_constraint('c"k; DROP TABLE u', 'o"t')
    op.create_unique_constraint('u"q', 'o"t', nil, {postgresql_using_index = 'i"x'})
    op.create_check_constraint('c"k', 'o"t', '"we""ird" IS NOT NULL', {postgresql_not_valid = true})
    assert.same({
      'ALTER TABLE "o""t" VALIDATE CONSTRAINT "c""k; DROP TABLE u"',
      'ALTER TABLE "o""t" ADD CONSTRAINT "u""q" UNIQUE USING INDEX "i""x"',
      'ALTER TABLE "o""t" ADD CONSTRAINT "c""k" CHECK ("we""ird" IS NOT NULL) NOT VALID',
    }, out)
    local msg, line = error_of(function() op.validate_constraint(("x"):rep(64), "t") end); local l = here()
    assert.truthy(msg:find(' is 64 bytes: PostgreSQL would truncate it to its first 63 bytes', 1, true), msg)
    assert.equal(l, line)
  end)

  it("NOT NULL's helper check: a name of at most 63 bytes, cut between UTF-8 characters, distinct per column", function()
    local safe = require "luamig.autogen.safe"
    local t = ("é"):rep(25)                                 -- 50 bytes
    local function helper(col)
      local first = safe.split({{kind = "alter_column", table = t, column = col, changes = {nullable = {true, false}},
                                 target = {}, live = {}}})
      return first[1].constraint
    end
    local a, b = helper("column_a"), helper("column_b")
    assert.is_true(#a.name <= 63 and #b.name <= 63)
    assert.truthy(utf8.len(a.name), "valid UTF-8: " .. a.name)
    assert.are_not.equal(a.name, b.name)
    assert.equal('"column_a" IS NOT NULL', a.condition)
    assert.equal("ck_x_n_not_null", helper and safe.split({{kind = "alter_column", table = "x", column = "n",
      changes = {nullable = {true, false}}, target = {}, live = {}}})[1].constraint.name)
  end)
end)

describe("[postgresql] revision --autogenerate's safe forms, hostile names", function()
  it("a long table name and a column with a quote made NOT NULL: applied, checked, undone", function()
    local t = "t_" .. ("é"):rep(28)                     -- 58 bytes
    local dir = h.project({rev("a1", nil, ([[
  op.create_table(%q, {{"id", "integer", primary_key = true}, {'we"ird', "integer"}})
  op.execute('INSERT INTO "%s" (id, "we""ird") VALUES (1, 1)')]]):format(t, t), nil, ('  op.drop_table(%q)'):format(t))},
      'target_schema = "schema.lua"\n')
    h.write_file(dir .. "/schema.lua", ([[
function schema(op)
  op.create_table(%q, {{"id", "integer", primary_key = true}, {'we"ird', "integer", nullable = false}})
end
]]):format(t))
    local _, url = h.fresh_pg()
    local function run(args) return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args) end
    assert.equal(0, (run("upgrade head")))
    local status, out, err = run("revision --autogenerate -m nn")
    assert.equal(0, status, err)
    assert.equal(2, #h.grep(out, "Generating "))
    status, _, err = run("upgrade head")
    assert.equal(0, status, err)
    assert.same({{attnotnull = true}}, h.query(url, "SELECT attnotnull FROM pg_attribute WHERE attname = 'we\"ird'"))
    assert.same({}, h.query(url, "SELECT conname FROM pg_constraint WHERE contype = 'c' AND connamespace = 'public'::regnamespace"))
    status, out, err = run("check")
    assert.equal(0, status, out .. err)
    status, _, err = run("downgrade a1")
    assert.equal(0, status, err)
    assert.same({{attnotnull = false}}, h.query(url, "SELECT attnotnull FROM pg_attribute WHERE attname = 'we\"ird'"))
    assert.same({}, h.query(url, "SELECT conname FROM pg_constraint WHERE contype = 'c' AND connamespace = 'public'::regnamespace"))
  end)
end)

-- The outside attack on the safe forms (/work/wt/ATTACK17A.md), each
-- reproducer kept: defects 2-9, 11-13 (1 is in spec 09a).
describe("outside attack A", function()
  local function run(dir, url, args)
    return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args)
  end
  -- a project at a1 (applied), with schema.lua; returns dir, url
  local function at_a1(a1_code, schema, a1_down)
    local dir = h.project({rev("a1", nil, a1_code, nil, a1_down)}, 'target_schema = "schema.lua"\n')
    h.write_file(dir .. "/schema.lua", schema)
    local _, url = h.fresh_pg()
    local status, _, err = run(dir, url, "upgrade head")
    assert.equal(0, status, err)
    return dir, url
  end
  local function generate(dir, url, msg)
    local status, out, err = run(dir, url, "revision --autogenerate -m " .. h.shell_quote(msg))
    assert.equal(0, status, err)
    local files = {}
    for _, l in ipairs(h.grep(out, "Generating ")) do files[#files + 1] = l:match("versions/([^/]+%.lua) %.%.%.") end
    return files, out, err
  end
  local function notnull(url, t, c)
    return h.query(url, "SELECT attnotnull FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2", {t, c})[1].attnotnull
  end

  it("2a/2c: a NOT NULL pair that fails part-way goes down from the half state, and a run after fixing the data completes", function()
    local dir, url = at_a1([[
  op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "integer"}, {"b", "integer"}})
  op.execute("INSERT INTO t SELECT g, g, CASE WHEN g = 50 THEN NULL ELSE g END FROM generate_series(1, 100) g")]], [[
function schema(op)
  op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "integer", nullable = false},
                        {"b", "integer", nullable = false}})
end
]], '  op.drop_table("t")')
    local files = generate(dir, url, "nn")
    assert.equal(2, #files)
    local id1, id2 = files[1]:match("^(%x+)_"), files[2]:match("^(%x+)_")
    local status, _, err = run(dir, url, "upgrade head")
    assert.equal(1, status)
    assert.truthy(err:find('check constraint "ck_t_b_not_null" of relation "t" is violated by some row', 1, true), err)
    assert.same({id1}, h.version_rows(url))
    assert.is_true(notnull(url, "t", "a"))                  -- the half state: a done, its helper dropped
    -- down from the half state (revision 1's downgrade drops the helpers if_exists)
    status, _, err = run(dir, url, "downgrade -1")
    assert.equal(0, status, err)
    assert.same({"a1"}, h.version_rows(url))
    assert.same({}, h.query(url, "SELECT conname FROM pg_constraint WHERE contype = 'c' AND conrelid = 't'::regclass"))
    -- up again, fails at b again; fix the data; the same run completes
    assert.equal(1, (run(dir, url, "upgrade head")))
    h.query(url, "UPDATE t SET b = 0 WHERE b IS NULL")
    status, _, err = run(dir, url, "upgrade head")
    assert.equal(0, status, err)
    assert.same({id2}, h.version_rows(url))
    assert.is_true(notnull(url, "t", "b"))
    assert.same({}, h.query(url, "SELECT conname FROM pg_constraint WHERE contype = 'c' AND conrelid = 't'::regclass"))
    assert.equal(0, (run(dir, url, "check")))
  end)

  it("2b: a unique constraint made of its index, then a VALIDATE that fails: re-run after fixing the data", function()
    local dir, url = at_a1([[
  op.create_table("orders", {{"id", "integer", primary_key = true}, {"ref", "text"}, {"qty", "integer"}})
  op.execute("INSERT INTO orders VALUES (1, 'a', 1), (2, 'b', 0)")]], [[
function schema(op)
  op.create_table("orders", {{"id", "integer", primary_key = true}, {"ref", "text", unique = true},
                             {"qty", "integer", check = "qty > 0"}})
end
]], '  op.drop_table("orders")')
    local files = generate(dir, url, "uq ck")
    assert.equal(2, #files)
    local status, _, err = run(dir, url, "upgrade head")
    assert.equal(1, status)
    assert.truthy(err:find("is violated by some row", 1, true), err)
    assert.same({{n = 1}}, h.query(url, "SELECT count(*)::int AS n FROM pg_constraint WHERE conname = 'uq_orders_ref'"))
    h.query(url, "UPDATE orders SET qty = 1")
    status, _, err = run(dir, url, "upgrade head")
    assert.equal(0, status, err)
    assert.truthy(err:find('constraint "uq_orders_ref" on "orders" exists already; skipped (if_not_exists)', 1, true), err)
    assert.same({files[2]:match("^(%x+)_")}, h.version_rows(url))
    assert.equal(0, (run(dir, url, "check")))
  end)

  it("3/8/9: a failed CONCURRENTLY build's INVALID index: named with the way out, seen by check (-q, --json), rebuilt by the re-run", function()
    local dir, url = at_a1([[
  op.create_table("t", {{"id", "integer", primary_key = true}, {"ref", "text"}})
  op.execute("INSERT INTO t SELECT g, 'r' || (g % 10) FROM generate_series(1, 100) g")]], [[
function schema(op)
  op.create_table("t", {{"id", "integer", primary_key = true}, {"ref", "text"}})
  op.create_index("ix_t_ref", "t", {"ref"}, {unique = true})
end
]], '  op.drop_table("t")')
    local files = generate(dir, url, "uq")
    assert.equal(1, #files)                                  -- 12: only the transactional = false one
    local text = h.read_file(dir .. "/migrations/versions/" .. files[1])
    assert.truthy(text:find("\ntransactional = false", 1, true), text)
    assert.truthy(files[1]:find("_uq_outside_a_transaction%.lua$"), files[1])
    local status, _, err = run(dir, url, "upgrade head")
    assert.equal(1, status)
    assert.truthy(err:find('The failed build left the INVALID index "ix_t_ref" (not used, not enforced): run `upgrade` '
      .. 'again once the cause is fixed (create_index with if_not_exists drops it and builds it again), or drop it by '
      .. 'hand: DROP INDEX CONCURRENTLY "ix_t_ref";', 1, true), err)
    assert.same({{indisvalid = false}}, h.query(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_t_ref'::regclass"))
    -- check: the INVALID index is to be built again (exit 1), said in a WARN line -q keeps, and in --json
    h.query(url, "UPDATE luamig_version SET version_num = $1", {files[1]:match("^(%x+)_")})
    local out
    status, out, err = run(dir, url, "-q check")
    assert.equal(1, status, out .. err)
    assert.same({'WARN  [luamig] Index "ix_t_ref" on "t" is INVALID (a failed or interrupted CONCURRENTLY build: '
      .. 'not used, not enforced); autogenerate drops it and builds it again'}, h.grep(err, "INVALID"))
    status, out = run(dir, url, "--json check")
    assert.equal(1, status)
    assert.truthy(out:find('"invalid_indexes":[{"name":"ix_t_ref","table":"t"}]', 1, true), out)
    h.query(url, "UPDATE luamig_version SET version_num = 'a1'")
    -- fix the data: the re-run drops the INVALID index and builds it again
    h.query(url, "UPDATE t SET ref = 'r' || id")
    status, _, err = run(dir, url, "upgrade head")
    assert.equal(0, status, err)
    assert.truthy(err:find('index "ix_t_ref" on "t" is INVALID (a failed or interrupted CONCURRENTLY build): dropped and built again', 1, true), err)
    assert.same({{indisvalid = true}}, h.query(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_t_ref'::regclass"))
    assert.is_not_nil(h.error_of(h.query, url, "INSERT INTO t VALUES (1000, 'r5')"))
    assert.equal(0, (run(dir, url, "check")))
  end)

  it("7: if_not_exists refuses a name another relation holds, instead of PostgreSQL's silent skip", function()
    local dir, url = at_a1([[
  op.create_table("t", {{"id", "integer", primary_key = true}, {"ref", "text"}})
  op.execute("CREATE VIEW ix_t_ref AS SELECT 1 AS x")]], [[
function schema(op)
  op.create_table("t", {{"id", "integer", primary_key = true}, {"ref", "text"}})
  op.create_index("ix_t_ref", "t", {"ref"}, {unique = true})
end
]])
    local files = generate(dir, url, "v")
    local status, _, err = run(dir, url, "upgrade head")
    assert.equal(1, status)
    assert.truthy(err:find(files[1] .. ':%d+: create_index: the name "ix_t_ref" is taken by a view, not an index on "t": '
      .. 'IF NOT EXISTS would skip the build without a word; rename the index %(or that relation%) and run again'), err)
    assert.same({"a1"}, h.version_rows(url))
  end)

  it("4/5/13: a FK onto a unique constraint of the same diff comes after it; the helper's name is free; the second file keeps its suffix", function()
    local dir, url = at_a1([[
  op.create_table("a", {{"id", "integer", primary_key = true}, {"code", "text"}})
  op.create_table("b", {{"id", "integer", primary_key = true}, {"a_code", "text"}, {"n", "integer"}})
  op.create_check_constraint("ck_b_n_not_null", "b", "n > 0")
  op.execute("INSERT INTO a SELECT g, 'c' || g FROM generate_series(1, 10) g")
  op.execute("INSERT INTO b SELECT g, 'c' || g, g FROM generate_series(1, 10) g")]], [[
function schema(op)
  op.create_table("a", {{"id", "integer", primary_key = true}, {"code", "text", unique = true}})
  op.create_table("b", {{"id", "integer", primary_key = true}, {"a_code", "text", references = "a.code"},
                        {"n", "integer", nullable = false}, {check = "n > 0", name = "ck_b_n_not_null"}})
end
]])
    local files = generate(dir, url, "make the column a of table t not null because reasons")
    assert.equal(2, #files)
    assert.truthy(files[2]:find("_outside_a_transaction%.lua$"), files[2])
    assert.falsy(files[1]:find("outside"), files[1])
    local first = h.read_file(dir .. "/migrations/versions/" .. files[1])
    local second = h.read_file(dir .. "/migrations/versions/" .. files[2])
    assert.truthy(first:find('op.create_check_constraint("ck_b_n_not_null_2", "b", "\\"n\\" IS NOT NULL", '
      .. '{postgresql_not_valid = true})', 1, true), first)
    assert.falsy(first:find("fk_b_a_code_a", 1, true), first)
    local uq = second:find('op.create_unique_constraint("uq_a_code"', 1, true)
    local fk = second:find('op.create_foreign_key("fk_b_a_code_a", "b", "a", {"a_code"}, {"code"}, '
      .. '{postgresql_not_valid = true, if_not_exists = true})', 1, true)
    assert.truthy(uq and fk and uq < fk, second)
    local status, _, err = run(dir, url, "upgrade head")
    assert.equal(0, status, err)
    assert.same({{conname = "ck_b_n_not_null", convalidated = true}, {conname = "fk_b_a_code_a", convalidated = true}},
      h.query(url, "SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'b'::regclass AND contype IN ('c', 'f') ORDER BY 1"))
    assert.equal(0, (run(dir, url, "check")))
    status, _, err = run(dir, url, "downgrade a1")
    assert.equal(0, status, err)
    assert.same({{conname = "ck_b_n_not_null"}},
      h.query(url, "SELECT conname FROM pg_constraint WHERE conrelid = 'b'::regclass AND contype IN ('c', 'f', 'u')"))
  end)

  it("4 (new table) and 6: a new table's FK onto the diff's unique key comes after it; a partitioned table keeps the plain form with a note", function()
    local dir, url = at_a1([[
  op.create_table("a", {{"id", "integer", primary_key = true}, {"code", "text"}})
  op.execute("CREATE TABLE ev (id integer, k text) PARTITION BY RANGE (id)")
  op.execute("CREATE TABLE ev1 PARTITION OF ev FOR VALUES FROM (0) TO (1000)")
  op.execute("INSERT INTO ev SELECT g, 'k' FROM generate_series(1, 10) g")]], [[
function schema(op)
  op.create_table("a", {{"id", "integer", primary_key = true}, {"code", "text", unique = true}})
  op.create_table("b", {{"id", "integer", primary_key = true}, {"a_code", "text", references = "a.code"}})
  op.create_table("ev", {{"id", "integer"}, {"k", "text"}})
end
]])
    local files = generate(dir, url, "fk new")
    assert.equal(2, #files)
    local first = h.read_file(dir .. "/migrations/versions/" .. files[1])
    local second = h.read_file(dir .. "/migrations/versions/" .. files[2])
    assert.falsy(first:find("references", 1, true), first)
    local uq = second:find('op.create_unique_constraint("uq_a_code"', 1, true)
    local fk = second:find('op.create_foreign_key("fk_b_a_code_a", "b", "a", {"a_code"}, {"code"}, {if_not_exists = true})', 1, true)
    assert.truthy(uq and fk and uq < fk, second)
    local st, _, e = run(dir, url, "upgrade head")
    assert.equal(0, st, e)
    assert.equal(0, (run(dir, url, "check")))
    st, _, e = run(dir, url, "downgrade a1")
    assert.equal(0, st, e)
    assert.equal(0, (run(dir, url, "upgrade head")))
    -- the partitioned table alone
    h.write_file(dir .. "/schema.lua", [[
function schema(op)
  op.create_table("a", {{"id", "integer", primary_key = true}, {"code", "text", unique = true}})
  op.create_table("b", {{"id", "integer", primary_key = true}, {"a_code", "text", references = "a.code"}})
  op.create_table("ev", {{"id", "integer"}, {"k", "text", nullable = false}, {"z", "text", index = true}})
  op.create_index("ix_a_id_code", "a", {"id", "code"})
end
]])
    h.query(url, "ALTER TABLE ev ADD COLUMN z text")
    local err, text
    files, _, err = generate(dir, url, "part")
    assert.equal(2, #files)                                 -- a's index still built concurrently
    assert.truthy(err:find('WARN  [luamig] Safe forms: "ev" is a partitioned table: its changes keep the plain form', 1, true), err)
    text = h.read_file(dir .. "/migrations/versions/" .. files[1])
    assert.truthy(text:find('-- luamig safe forms: "ev" is a partitioned table', 1, true), text)
    assert.truthy(text:find('op.create_index("ix_ev_z", "ev", {"z"})', 1, true), text)
    assert.truthy(text:find('op.alter_column("ev", "k", {nullable = false})', 1, true), text)
    local status
    status, _, err = run(dir, url, "upgrade head")
    assert.equal(0, status, err)
    assert.is_true(notnull(url, "ev", "k"))
    assert.equal(0, (run(dir, url, "check")))
  end)
end)

describe("outside attack A, the ops", function()
  it("11: validate_constraint refuses an unknown option; if_exists and if_not_exists write the plain statement in --sql", function()
    local op, out = offline("postgresql")
    local l = here() + 1
    local msg, line = error_of(function() op.validate_constraint("ck", "t", {schema = "audit"}) end)
    assert.equal(l, line)
    assert.truthy(msg:find('^validate_constraint: unknown option "schema"'), msg)
    op.validate_constraint("ck", "t", {if_exists = true})
    op.create_unique_constraint("uq", "t", nil, {postgresql_using_index = "uq", if_not_exists = true})
    op.create_foreign_key("fk", "t", "u", {"u_id"}, {"id"}, {postgresql_not_valid = true, if_not_exists = true})
    op.drop_constraint("ck", "t", {if_exists = true})
    assert.same({'ALTER TABLE "t" VALIDATE CONSTRAINT "ck"',
                 'ALTER TABLE "t" ADD CONSTRAINT "uq" UNIQUE USING INDEX "uq"',
                 'ALTER TABLE "t" ADD CONSTRAINT "fk" FOREIGN KEY ("u_id") REFERENCES "u" ("id") NOT VALID',
                 'ALTER TABLE "t" DROP CONSTRAINT IF EXISTS "ck"'}, out)
  end)

  it("[sqlite] a constraint's if_not_exists is refused at the op's line", function()
    local op = offline("sqlite")
    local l = here() + 1
    local msg, line = error_of(function() op.create_unique_constraint("uq", "t", {"a"}, {if_not_exists = true}) end)
    assert.equal(l, line)
    assert.equal('create_unique_constraint: option "if_not_exists" on a constraint is PostgreSQL\'s, and SQLite has '
      .. 'no such thing; guard the PostgreSQL-only part with `if op.dialect == "postgresql" then ... end`', msg)
  end)
end)

describe("outside attack A, squash", function()
  it("14: squashing a transactional = false revision warns that its safe forms become the plain forms", function()
    local dir = h.project({rev("a1", nil, '  op.create_table("t", {{"id", "integer", primary_key = true}, {"n", "integer"}})',
                               nil, '  op.drop_table("t")'),
                           rev("b2", "a1", '  op.create_index("ix_t_n", "t", {"n"})', "transactional = false",
                               '  op.drop_index("ix_t_n", "t")')})
    local url = h.fresh_sqlite()
    local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " squash a1:b2 --rev-id sq000001 -m sq")
    assert.equal(0, status, err)
    assert.same({"WARN  [luamig] squash: b2 runs outside a transaction (transactional = false); the squash is an "
      .. "ordinary transactional revision, and its safe forms (indexes built CONCURRENTLY, constraints added NOT "
      .. "VALID then validated) are replaced by the plain forms, which hold their table's lock while they build "
      .. "or scan: a database still below the range gets those locks (doc/safety.md)"}, h.grep(err, "squash: b2"))
  end)
end)
