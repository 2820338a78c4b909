-- Enum types (issue 16, item 3; doc/op.md, "Enums"): op.enum as a column
-- type, the PostgreSQL type made by create_table / add_column unless it
-- exists, left by drop_table; create_enum, drop_enum, add_enum_value,
-- rename_enum_value, drop_enum_value (PostgreSQL's rewrite); SQLite's
-- string with a CHECK as SQLAlchemy 1.4 renders it; offline SQL; hostile
-- names; Alembic and SQLAlchemy (Debian's /usr/bin/python3) as the oracle.
local h = require "spec.helpers"
local core = require "luamig.core"
local luamig_op = require "luamig.op"
local introspect = require "luamig.introspect"

local function offline(dialect) return h.offline_op(dialect, true) end

-- The error message without its "file:line: " prefix, and the line.
local error_of = h.op_error

-- The labels of a PostgreSQL enum type, in order (nil when there is no type).
local function labels(conn, qname)
  if conn:query("SELECT to_regtype($1)::text AS t", {qname})[1].t == nil then return nil end
  local out = {}
  for i, r in ipairs(conn:query("SELECT enumlabel AS v FROM pg_enum WHERE enumtypid = to_regtype($1) ORDER BY enumsortorder", {qname})) do
    out[i] = r.v
  end
  return out
end

local function column_types(conn, tname)
  local out = {}
  local sql = conn:dialect() == "postgresql"
    and [[SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
          WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped]]
    or "SELECT name, type FROM pragma_table_info($1)"
  for _, r in ipairs(conn:query(sql, {conn:dialect() == "postgresql" and core.quote_ident(tname) or tname})) do
    out[r.name] = r.type
  end
  return out
end

local function py(script, ...)
  local dir = h.tmpdir()
  h.write_file(dir .. "/o.py", script)
  local args = {}
  for i, a in ipairs({...}) do args[i] = h.shell_quote(a) end
  local status, out, err = h.run("/usr/bin/python3 " .. dir .. "/o.py " .. table.concat(args, " "))
  assert(status == 0, err)
  return out
end

h.each_db(function(db)
  local pg = db.name == "postgresql"
  local conn, op
  local logs
  before_each(function()
    conn = db.connect()
    logs = {}
    op = luamig_op.new{conn = conn, log = function(level, msg) logs[#logs + 1] = level .. ": " .. msg end}
  end)
  after_each(function() conn:close() end)

  it("an enum column takes its values and refuses others", function()
    local status = op.enum({"a", "bbb", "it's"}, {name = "status"})
    op.create_table("t", {{"id", "integer", primary_key = true}, {"status", status, nullable = false, default = "a"}})
    op.create_table("u", {{"id", "integer", primary_key = true}, {"s", status}})   -- the type exists: reused
    conn:exec("INSERT INTO t (id, status) VALUES (1, 'it''s')")
    conn:exec("INSERT INTO t (id) VALUES (2)")
    conn:exec("INSERT INTO u (id, s) VALUES (1, 'bbb')")
    assert.same({{status = "it's"}, {status = "a"}}, conn:query("SELECT status FROM t ORDER BY id"))
    assert.is_not_nil(h.error_of(function() conn:exec("INSERT INTO t (id, status) VALUES (3, 'zz')") end))
    local types = column_types(conn, "t")
    if pg then
      assert.equal("status", types.status)
      assert.same({"a", "bbb", "it's"}, labels(conn, '"status"'))
    else
      assert.equal("VARCHAR(4)", types.status)
      local t = introspect.table(conn, "t")
      assert.same({{name = "ck_t_status", condition = [["status" IN ('a', 'bbb', 'it''s')]]}}, t.checks)
      assert.same({{name = "ck_u_s", condition = [["s" IN ('a', 'bbb', 'it''s')]]}}, introspect.table(conn, "u").checks)
    end
  end)

  it("hostile names and values: quoted and escaped", function()
    local e = op.enum({"x'); DROP TABLE t; --", 'q"q', "select"}, {name = 'we"ird'})
    op.create_table("select", {{"id", "integer", primary_key = true}, {"from", e}})
    conn:exec([[INSERT INTO "select" (id, "from") VALUES (1, 'x''); DROP TABLE t; --'), (2, 'select')]])
    assert.equal(2, #conn:query([[SELECT * FROM "select"]]))
    if pg then
      assert.same({"x'); DROP TABLE t; --", 'q"q', "select"}, labels(conn, '"we""ird"'))
      op.add_enum_value('we"ird', "it's", {after = 'q"q'})
      op.rename_enum_value('we"ird', "select", "from")
      assert.same({"x'); DROP TABLE t; --", 'q"q', "it's", "from"}, labels(conn, '"we""ird"'))
      conn:exec([[DELETE FROM "select" WHERE id = 1]])
      op.drop_enum_value('we"ird', "x'); DROP TABLE t; --")
      assert.same({'q"q', "it's", "from"}, labels(conn, '"we""ird"'))
      assert.same({{from = "from"}}, conn:query([[SELECT "from" FROM "select"]]))
    else
      assert.same({{name = 'ck_select_from', condition = [["from" IN ('x''); DROP TABLE t; --', 'q"q', 'select')]]}},
        introspect.table(conn, "select").checks)
    end
  end)

  it("add_column of an enum type; drop_table leaves the type; drop_enum", function()
    op.create_table("t", {{"id", "integer", primary_key = true}})
    op.add_column("t", {"mood", op.enum({"sad", "ok", "happy"}, {name = "mood"}), default = "ok"})
    conn:exec("INSERT INTO t (id) VALUES (1)")
    assert.same({{mood = "ok"}}, conn:query("SELECT mood FROM t"))
    assert.equal(pg and "mood" or "VARCHAR(5)", column_types(conn, "t").mood)
    op.drop_table("t")
    if pg then
      assert.same({"sad", "ok", "happy"}, labels(conn, "mood"))
      op.drop_enum("mood")
      assert.is_nil(labels(conn, "mood"))
      op.drop_enum("mood", {if_exists = true})
      assert.matches('type "mood" does not exist', tostring(h.error_of(function() op.drop_enum("mood") end)), 1, true)
    else
      op.drop_enum("mood")            -- nothing on SQLite, said in the log
      assert.matches("SQLite has no enum types; nothing to drop", logs[#logs], 1, true)
    end
  end)

  it("batch add_column of an enum type", function()
    op.create_table("t", {{"id", "integer", primary_key = true}})
    op.batch_alter_table("t", function(b)
      b.add_column({"kind", op.enum({"x", "yy"}, {name = "kind"}), nullable = false, default = "x"})
    end)
    conn:exec("INSERT INTO t (id) VALUES (1)")
    assert.is_not_nil(h.error_of(function() conn:exec("INSERT INTO t (id, kind) VALUES (2, 'z')") end))
    if pg then assert.same({"x", "yy"}, labels(conn, "kind"))
    else assert.equal("VARCHAR(2)", column_types(conn, "t").kind) end
  end)

  it("create_type = false: the type must exist (made by create_enum)", function()
    local e = op.enum({"a", "b"}, {name = "ab", create_type = false})
    if pg then
      local msg = tostring(h.error_of(function() op.create_table("t", {{"id", "integer"}, {"v", e}}) end))
      assert.matches('type "ab" does not exist', msg, 1, true)
    end
    local made = op.create_enum("ab", {"a", "b"})
    op.create_enum("ab", {"a", "b"}, {if_not_exists = true})
    op.create_table("t", {{"id", "integer"}, {"v", made}})
    conn:exec("INSERT INTO t VALUES (1, 'b')")
    if pg then
      assert.same({"a", "b"}, labels(conn, "ab"))
      assert.matches("type \"ab\" exists already; left as it is", logs[#logs], 1, true)
      assert.matches('type "ab" already exists', tostring(h.error_of(function() op.create_enum("ab", {"c"}) end)), 1, true)
    else
      assert.matches("SQLite has no enum types; nothing to create", logs[#logs], 1, true)
    end
  end)

  if pg then
    it("add_enum_value: before, after, if_not_exists", function()
      op.create_enum("e", {"b", "d"})
      op.add_enum_value("e", "a", {before = "b"})
      op.add_enum_value("e", "c", {after = "b"})
      op.add_enum_value("e", "z")
      op.add_enum_value("e", "z", {if_not_exists = true})
      assert.same({"a", "b", "c", "d", "z"}, labels(conn, "e"))
      assert.matches('enum label "z" already exists', tostring(h.error_of(function() op.add_enum_value("e", "z") end)), 1, true)
    end)

    it("rename_enum_value keeps the rows", function()
      op.create_table("t", {{"id", "integer"}, {"v", op.enum({"old", "x"}, {name = "e"})}})
      conn:exec("INSERT INTO t VALUES (1, 'old')")
      op.rename_enum_value("e", "old", "new")
      assert.same({{v = "new"}}, conn:query("SELECT v::text AS v FROM t"))
      assert.same({"new", "x"}, labels(conn, "e"))
    end)

    it("drop_enum_value rewrites every column, array and default of the type", function()
      conn:exec("CREATE SCHEMA other")
      local e = op.enum({"a", "b", "c"}, {name = "e"})
      op.create_table("t", {{"id", "integer"}, {"v", e, default = "c"}, {"vs", '"e"[]', default = op.raw("'{a,c}'::e[]")}})
      op.create_table("u", {{"id", "integer"}, {"w", e}})
      conn:exec("CREATE TABLE other.x (y e, z text DEFAULT 'a'::e::text)")
      conn:exec("INSERT INTO t VALUES (1, 'a', '{a,c}'), (2, DEFAULT, DEFAULT)")
      conn:exec("INSERT INTO u VALUES (1, 'c')")
      op.drop_enum_value("e", "b")
      assert.same({"a", "c"}, labels(conn, "e"))
      assert.same({{v = "a", vs = "{a,c}"}, {v = "c", vs = "{a,c}"}}, conn:query("SELECT v::text, vs::text FROM t ORDER BY id"))
      assert.same({v = "e", vs = "e[]"}, {v = column_types(conn, "t").v, vs = column_types(conn, "t").vs})
      assert.equal("e", column_types(conn, "u").w)
      conn:exec("INSERT INTO t (id) VALUES (3)")            -- the defaults are back
      assert.same({{v = "c", vs = "{a,c}"}}, conn:query("SELECT v::text, vs::text FROM t WHERE id = 3"))
      assert.same({{n = 1}}, conn:query("SELECT count(*)::int AS n FROM pg_type WHERE typname = 'e'"))
      assert.is_not_nil(h.error_of(function() conn:exec("INSERT INTO u VALUES (2, 'b')") end))
    end)

    it("drop_enum_value refuses while rows hold the value, naming table, column and count", function()
      op.create_table("t", {{"id", "integer"}, {"v", op.enum({"a", "b"}, {name = "e"})}, {"vs", '"e"[]'}})
      conn:exec("INSERT INTO t VALUES (1, 'b', NULL), (2, 'b', NULL), (3, 'a', '{a,b}')")
      local msg, line = error_of(function() op.drop_enum_value("e", "b") end)
      assert.equal('drop_enum_value: 2 row(s) of table t, column "v", still hold \'b\': update or delete them '
        .. 'first (e.g. op.execute("UPDATE ... SET ... WHERE ...")), then drop the value', msg)
      assert.is_number(line)
      conn:exec("UPDATE t SET v = 'a'")
      msg = error_of(function() op.drop_enum_value("e", "b") end)
      assert.matches('1 row(s) of table t, column "vs", still hold \'b\'', msg, 1, true)
      assert.equal("drop_enum_value: enum type \"e\" has no value 'zz' (its values: 'a', 'b')",
        (error_of(function() op.drop_enum_value("e", "zz") end)))
      assert.equal('drop_enum_value: enum type "nope" does not exist',
        (error_of(function() op.drop_enum_value("nope", "zz") end)))
      assert.same({"a", "b"}, labels(conn, "e"))
    end)

    it("a schema-qualified enum", function()
      conn:exec("CREATE SCHEMA s")
      local e = op.enum({"a", "b"}, {name = "e", schema = "s"})
      op.create_table("t", {{"id", "integer"}, {"v", e}})
      op.add_enum_value("e", "c", {schema = "s"})
      op.drop_enum_value("e", "a", {schema = "s"})
      assert.same({"b", "c"}, labels(conn, "s.e"))
      assert.equal("s.e", column_types(conn, "t").v)
      assert.is_nil(labels(conn, "public.e"))
    end)

    it("alter_column to and from an enum", function()
      op.create_table("t", {{"id", "integer"}, {"v", "string(10)"}})
      conn:exec("INSERT INTO t VALUES (1, 'b')")
      op.alter_column("t", "v", {type_ = op.enum({"a", "b"}, {name = "e"})})
      assert.equal("e", column_types(conn, "t").v)
      op.alter_column("t", "v", {type_ = "text"})
      assert.equal("text", column_types(conn, "t").v)
      assert.same({{v = "b"}}, conn:query("SELECT v FROM t"))
    end)
  else
    it("the value changes are refused on SQLite, saying what to do", function()
      for _, call in ipairs({
        function() op.add_enum_value("e", "x") end,
        function() op.rename_enum_value("e", "x", "y") end,
        function() op.drop_enum_value("e", "x") end,
      }) do
        local msg = error_of(call)
        assert.matches("^%a+_enum_value: SQLite has no enum types: an op.enum column's values are its CHECK constraint", msg)
        assert.matches("op.batch_alter_table(TABLE, function(b) b.drop_constraint(NAME); b.create_check_constraint(NAME, CONDITION) end)", msg, 1, true)
      end
      op.create_table("t", {{"id", "integer"}, {"v", "string(3)"}})
      assert.matches('alter_column: column "v": on SQLite an enum column is a string with a CHECK constraint',
        (error_of(function() op.alter_column("t", "v", {type_ = op.enum({"a"}, {name = "e"})}) end)), 1, true)
    end)
  end

  it("bad arguments: clear errors at the migration's line", function()
    local cases = {
      {function() op.enum({}, {name = "e"}) end, "enum: argument 1 (values): the values must be a non-empty list of strings"},
      {function() op.enum({"a", "a"}, {name = "e"}) end, 'enum: argument 1 (values): value "a" appears twice'},
      {function() op.enum({"a", 1}, {name = "e"}) end, "enum: argument 1 (values): value 2 must be a string, got number"},
      {function() op.enum({"a"}) end, 'enum: option "name" is required'},
      {function() op.enum({"a"}, {name = "e", create = true}) end, 'enum: unknown option "create"'},
      {function() op.create_enum("e", "a") end, "create_enum: argument 2 (values): the values must be a non-empty list of strings"},
      {function() op.add_enum_value("e", "x", {before = "a", after = "b"}) end, 'add_enum_value: give "before" or "after", not both'},
      {function() op.create_table("t", {{"id", {name = "e"}}}) end, 'the type (second element) must be a string or op.enum(...)'},
    }
    for _, c in ipairs(cases) do
      local msg, line = error_of(c[1])
      assert.matches(c[2], msg, 1, true)
      assert.is_number(line)
    end
  end)
end)

describe("offline SQL", function()
  it("[postgresql] every enum op", function()
    local op, out = offline("postgresql")
    local st = op.enum({"a", "it's"}, {name = "status"})
    op.create_table("t", {{"id", "integer"}, {"s", st}, {"s2", st}})
    op.create_table("u", {{"id", "integer"}, {"s", st}})               -- once per run
    op.add_column("u", {"k", op.enum({"x"}, {name = 'we"ird', schema = "sch"})})
    op.add_column("u", {"k2", op.enum({"x"}, {name = "made", create_type = false})})
    op.create_enum("e2", {"a"})
    op.create_enum("e3", {"a"}, {if_not_exists = true})
    op.add_enum_value("e2", "b", {after = "a", if_not_exists = true})
    op.rename_enum_value("e2", "b", "c")
    op.drop_enum("e2", {if_exists = true})
    -- a column's type: CREATE TYPE in a DO block that leaves an existing
    -- fitting type alone (made before a --sql range), once per run
    for i, create in pairs({[1] = [[CREATE TYPE "status" AS ENUM ('a', 'it''s');]],
                            [4] = [[CREATE TYPE "sch"."we""ird" AS ENUM ('x');]]}) do
      assert.truthy(out[i]:find("^DO %$luamig%$\n"), out[i])
      assert.truthy(out[i]:find("IF t IS NULL THEN\n    " .. create, 1, true), out[i])
      out[i] = create
    end
    assert.same({
      [[CREATE TYPE "status" AS ENUM ('a', 'it''s');]],
      'CREATE TABLE "t" (\n    "id" integer,\n    "s" "status",\n    "s2" "status"\n);',
      'CREATE TABLE "u" (\n    "id" integer,\n    "s" "status"\n);',
      [[CREATE TYPE "sch"."we""ird" AS ENUM ('x');]],
      [[ALTER TABLE "u" ADD COLUMN "k" "sch"."we""ird";]],
      [[ALTER TABLE "u" ADD COLUMN "k2" "made";]],
      [[CREATE TYPE "e2" AS ENUM ('a');]],
      [[DO $luamig$BEGIN CREATE TYPE "e3" AS ENUM ('a'); EXCEPTION WHEN duplicate_object THEN NULL; END$luamig$;]],
      [[ALTER TYPE "e2" ADD VALUE IF NOT EXISTS 'b' AFTER 'a';]],
      [[ALTER TYPE "e2" RENAME VALUE 'b' TO 'c';]],
      [[DROP TYPE IF EXISTS "e2";]],
    }, out)
  end)

  it("[sqlite] an enum column is VARCHAR(longest) with its CHECK; create_enum and drop_enum write nothing", function()
    local op, out = offline("sqlite")
    op.create_enum("status", {"a"})
    op.create_table("t", {{"id", "integer"}, {"s", op.enum({"a", "it's"}, {name = "status"})}})
    op.add_column("t", {"k", op.enum({"x", "yy"}, {name = "k"})})
    op.drop_enum("status")
    assert.same({
      'CREATE TABLE "t" (\n    "id" INTEGER,\n    "s" VARCHAR(4),\n'
        .. [[    CONSTRAINT "ck_t_s" CHECK ("s" IN ('a', 'it''s'))]] .. "\n);",
      [[ALTER TABLE "t" ADD COLUMN "k" VARCHAR(2) CONSTRAINT "ck_t_k" CHECK ("k" IN ('x', 'yy'));]],
    }, out)
  end)

  it("[postgresql] the --sql script run by psql gives the online schema, drop_enum_value included", function()
    local function script(op)
      op.create_table("t", {{"id", "integer"}, {"v", op.enum({"a", "b", "c"}, {name = "e"}), default = "c"},
                            {"vs", '"e"[]'}})
      op.create_enum("e2", {"x"}, {if_not_exists = true})
      op.add_enum_value("e", "d", {before = "a"})
      op.rename_enum_value("e", "c", "cc")
      op.drop_enum_value("e", "b")
    end
    local online = core.connect(select(2, h.fresh_pg()))
    script(luamig_op.new{conn = online})
    local op, out = offline("postgresql")
    script(op)
    local _, url = h.fresh_pg()
    local dir = h.tmpdir()
    local status, _, err = h.sql_shell({name = "postgresql"}, url, dir, table.concat(out, "\n") .. "\n")
    assert.equal(0, status, err)
    local off = core.connect(url)
    for _, c in ipairs({online, off}) do
      assert.same({"d", "a", "cc"}, labels(c, "e"))
      assert.same({"x"}, labels(c, "e2"))
      assert.same({id = "integer", v = "e", vs = "e[]"}, column_types(c, "t"))
      assert.same({{d = "'cc'::e"}}, c:query([[SELECT pg_get_expr(adbin, adrelid) AS d FROM pg_attrdef
        WHERE adrelid = 't'::regclass]]))
    end
    -- and its refusal: a row holding the value
    local refuse_url = select(2, h.fresh_pg())
    local rc = core.connect(refuse_url)
    rc:exec("CREATE TYPE e AS ENUM ('a', 'b'); CREATE TABLE t (v e); INSERT INTO t VALUES ('b')")
    local op2, out2 = offline("postgresql")
    op2.drop_enum_value("e", "b")
    status, _, err = h.sql_shell({name = "postgresql"}, refuse_url, dir, table.concat(out2, "\n") .. "\n")
    assert.equal(3, status)
    assert.matches("drop_enum_value: 1 row(s) of table t, column v, still hold b", err, 1, true)
    assert.same({"a", "b"}, labels(rc, "e"))
    online:close(); off:close(); rc:close()
  end)
end)

describe("the oracle", function()
  it("[postgresql] Alembic's create_table with sa.Enum gives the same types and columns", function()
    local function build(op)
      op.create_table("t", {{"id", "integer", primary_key = true},
        {"status", op.enum({"a", "bbb", "it's"}, {name = "status"}), nullable = false},
        {"select", op.enum({"x", "y"}, {name = 'we"ird'})}})
      op.create_table("u", {{"id", "integer", primary_key = true}, {"s", op.enum({"a", "bbb", "it's"}, {name = "status"})}})
      op.add_column("u", {"m", op.enum({"p", "q"}, {name = "m", create_type = false})})
    end
    local _, ours = h.fresh_pg()
    local c1 = core.connect(ours)
    c1:exec("CREATE TYPE m AS ENUM ('p', 'q')")
    build(luamig_op.new{conn = c1})
    local _, theirs = h.fresh_pg()
    local c2 = core.connect(theirs)
    c2:exec("CREATE TYPE m AS ENUM ('p', 'q')")
    py([[
import sys, psycopg2, sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
eng = sa.create_engine("postgresql+psycopg2://", creator=lambda: psycopg2.connect(sys.argv[1]))
with eng.begin() as conn:
    op = Operations(MigrationContext.configure(conn))
    op.create_table("t", sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("status", sa.Enum("a", "bbb", "it's", name="status"), nullable=False),
        sa.Column("select", sa.Enum("x", "y", name='we"ird')))
    op.create_table("u", sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("s", sa.Enum("a", "bbb", "it's", name="status")))
    op.add_column("u", sa.Column("m", sa.Enum("p", "q", name="m", create_type=False)))
]], theirs)
    local function types(c)
      local out = {}
      for _, r in ipairs(c:query([[SELECT t.typname AS name, string_agg(e.enumlabel, '|' ORDER BY e.enumsortorder) AS v
          FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname ORDER BY 1]])) do
        out[r.name] = r.v
      end
      return out
    end
    assert.same(types(c2), types(c1))
    assert.same({m = "p|q", status = "a|bbb|it's", ['we"ird'] = "x|y"}, types(c1))
    for _, tn in ipairs({"t", "u"}) do assert.same(column_types(c2, tn), column_types(c1, tn)) end
    c1:close(); c2:close()
  end)

  it("[sqlite] SQLAlchemy 1.4's Enum(create_constraint=True) DDL gives the same columns and checks", function()
    local url, path = h.fresh_sqlite()
    local c1 = core.connect(url)
    local op = luamig_op.new{conn = c1}
    op.create_table("t", {{"id", "integer", primary_key = true},
      {"status", op.enum({"a", "bbb", "it's"}, {name = "status"})}, {"select", op.enum({"x", "y"}, {name = 'we"ird'})}})
    local other, other_path = h.fresh_sqlite()
    py([[
import sys, sqlalchemy as sa
md = sa.MetaData(naming_convention={"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s"})
sa.Table("t", md, sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("status", sa.Enum("a", "bbb", "it's", name="status", create_constraint=True)),
    sa.Column("select", sa.Enum("x", "y", name='we"ird', create_constraint=True)))
md.create_all(sa.create_engine("sqlite:///" + sys.argv[1]))
]], other_path)
    local c2 = core.connect(other)
    assert.same(column_types(c2, "t"), column_types(c1, "t"))
    -- the same conditions; the names differ on purpose where the column's
    -- name is not the enum's (luamig names the CHECK after its column, so
    -- that one enum can type two columns of a table: doc/op.md, "Enums")
    local function checks(c)
      local out, names = {}, {}
      for i, ck in ipairs(introspect.table(c, "t").checks) do
        out[i] = (ck.condition:gsub('"', ""))
        names[i] = ck.name
      end
      table.sort(out); table.sort(names)
      return out, names
    end
    assert.same(checks(c2), checks(c1))
    assert.equal(2, #checks(c1))
    assert.same({'ck_t_status', 'ck_t_we"ird'}, select(2, checks(c2)))
    assert.same({"ck_t_select", "ck_t_status"}, select(2, checks(c1)))
    assert.truthy(path)
    c1:close(); c2:close()
  end)
end)

-- Autogenerate: the declared enums (op.create_enum in schema(op), op.enum
-- columns) against the live ones; the generated code applied closes the
-- difference, and the generated downgrade restores the schema before.
describe("autogenerate", function()
  local autogen = require "luamig.autogen"
  local record = require "luamig.autogen.record"
  local diff = require "luamig.autogen.diff"

  local function apply(code, op)
    assert(load("return function(op)\n" .. code .. "\nend", "=generated", "t", _G))()(op)
  end

  h.each_db(function(db)
    local conn, op
    before_each(function() conn = db.connect(); op = luamig_op.new{conn = conn} end)
    after_each(function() conn:close() end)

    local function declare(fn)
      local rop, store = record.new(db.name)
      fn(rop)
      return {dialect = db.name, tables = store.tables, order = store.order, enums = store.enums}
    end

    local function roundtrip(declared)
      local before = introspect.schema(conn)
      local ops = autogen.compare(conn, declared)
      local ctx = {dialect = db.name}
      local codes = {}
      for i, o in ipairs(ops) do codes[i] = require("luamig.autogen.render").op(o, ctx) end
      local up, down = autogen.render(ops, ctx)
      apply(up, op)
      assert.same({}, autogen.describe(autogen.compare(conn, declared), ctx), "closure")
      apply(down, op)
      assert.same({}, autogen.describe(diff.compare(before, introspect.schema(conn), {dialect = db.name}), ctx),
        "the downgrade restores the schema")
      return codes, ops
    end

    it("a new table with enum columns, and a declared type of its own", function()
      local codes = roundtrip(declare(function(o)
        o.create_enum("orphan", {"x"})
        o.create_table("t", {{"id", "integer", primary_key = true},
          {"status", o.enum({"a", "it's"}, {name = "status"}), nullable = false}, {"select", o.enum({"q"}, {name = 'we"ird'})}})
      end))
      if db.name == "postgresql" then
        assert.same({
          [[op.create_enum("orphan", {"x"})]],
          [[op.create_enum("status", {"a", "it's"})]],
          [[op.create_enum("we\"ird", {"q"})]],
          'op.create_table("t", {\n'
          .. '  {"id", "integer", primary_key = true},\n'
          .. [[  {"status", op.enum({"a", "it's"}, {name = "status"}), nullable = false},]] .. "\n"
          .. [[  {"select", op.enum({"q"}, {name = "we\"ird"})},]] .. "\n"
          .. "})",
        }, codes)
      else
        assert.same({
          'op.create_table("t", {\n'
          .. '  {"id", "integer", primary_key = true},\n'
          .. [[  {"status", op.enum({"a", "it's"}, {name = "status"}), nullable = false},]] .. "\n"
          .. [[  {"select", op.enum({"q"}, {name = "we\"ird"})},]] .. "\n"
          .. "})",
        }, codes)
      end
    end)

    it("an added enum column", function()
      op.create_table("t", {{"id", "integer", primary_key = true}})
      local codes = roundtrip(declare(function(o)
        o.create_table("t", {{"id", "integer", primary_key = true}, {"k", o.enum({"x", "yy"}, {name = "k"})}})
      end))
      assert.equal([[op.add_column("t", {"k", op.enum({"x", "yy"}, {name = "k"})})]], codes[#codes])
    end)

    if db.name == "sqlite" then
      it("changed values: the CHECK dropped and created (a move-and-copy)", function()
        op.create_table("t", {{"id", "integer", primary_key = true}, {"v", op.enum({"a", "b"}, {name = "e"})}})
        local codes = roundtrip(declare(function(o)
          o.create_table("t", {{"id", "integer", primary_key = true}, {"v", o.enum({"a", "b", "c"}, {name = "e"})}})
        end))
        assert.same({[[op.drop_constraint("ck_t_v", "t", {type_ = "check"})]],
                     [[op.create_check_constraint("ck_t_v", "t", "\"v\" IN ('a', 'b', 'c')")]]}, codes)
      end)
    end

    if db.name == "postgresql" then
      it("added and removed values, in their places", function()
        op.create_table("t", {{"id", "integer"}, {"v", op.enum({"a", "b", "c", "d"}, {name = "e"})}})
        local codes = roundtrip(declare(function(o)
          o.create_table("t", {{"id", "integer"}, {"v", o.enum({"n0", "a", "x", "c", "y"}, {name = "e"})}})
        end))
        assert.same({
          [[op.add_enum_value("e", "n0", {before = "a"})]],
          [[op.add_enum_value("e", "x", {after = "a"})]],
          [[op.add_enum_value("e", "y", {after = "c"})]],
          [[op.drop_enum_value("e", "d")]],
          [[op.drop_enum_value("e", "b")]],
        }, codes)
        assert.same({"a", "b", "c", "d"}, labels(conn, "e"))
      end)

      it("a removed type, and a column's change to and from an enum", function()
        op.create_enum("gone", {"x"})
        op.create_table("t", {{"id", "integer"}, {"v", "text"}, {"w", op.enum({"p"}, {name = "w"})}})
        local codes, ops = roundtrip(declare(function(o)
          o.create_table("t", {{"id", "integer"}, {"v", o.enum({"a"}, {name = "v"})}, {"w", "text"}})
        end))
        assert.same({
          [[op.create_enum("v", {"a"})]],
          [[op.alter_column("t", "v", {type_ = op.enum({"a"}, {name = "v"})})]],
          [[op.alter_column("t", "w", {type_ = "text"})]],
          [[op.drop_enum("gone")]],
          [[op.drop_enum("w")]],
        }, codes)
        assert.same({"added enum type 'v'", "changed column 't.v': type text -> \"v\"",
                     "changed column 't.w': type \"w\" -> text", "removed enum type 'gone'", "removed enum type 'w'"},
          (function() local t = {}; for i, o in ipairs(ops) do t[i] = diff.describe(o) end; return t end)())
      end)
    end
  end)
end)

-- A project using enums, run by the CLI: online and --sql fed to the
-- database's shell give the same schema; the downgrade to base leaves no
-- table and no type; upgrading again works.
h.each_db(function(db)
  it("the CLI: upgrade, --sql, downgrade and upgrade again", function()
    local pg = db.name == "postgresql"
    local dir = h.project({
      {id = "a1", code = true, up = [[
  op.create_table("posts", {{"id", "integer", primary_key = true},
    {"state", op.enum({"draft", "published"}, {name = "state"}), nullable = false, default = "draft"}})]],
       down_sql = [[
  op.drop_table("posts")
  op.drop_enum("state")]]},
      {id = "b2", down = "a1", code = true, up = [[
  if op.dialect == "postgresql" then op.add_enum_value("state", "archived", {after = "published"}) end
  op.add_column("posts", {"mood", op.enum({"sad", "ok"}, {name = "mood"})})]],
       down_sql = [[
  op.drop_column("posts", "mood")
  op.drop_enum("mood")
  if op.dialect == "postgresql" then op.drop_enum_value("state", "archived") end]]},
    })
    local online, offline_url = h.online_and_offline(db, dir)
    local c1, c2 = core.connect(online), core.connect(offline_url)
    local s1, s2 = introspect.schema(c1, {exclude = {luamig_version = true, luamig_log = true}}),
                   introspect.schema(c2, {exclude = {luamig_version = true, luamig_log = true}})
    assert.same(s1.tables.posts, s2.tables.posts)
    assert.same(s1.enums, s2.enums)
    if pg then
      assert.same({"draft", "published", "archived"}, labels(c1, "state"))
      assert.same({"sad", "ok"}, labels(c1, "mood"))
    else
      assert.same({"ck_posts_mood", "ck_posts_state"},
        (function() local t = {}; for i, ck in ipairs(s1.tables.posts.checks) do t[i] = ck.name end; return t end)())
    end
    c1:exec("INSERT INTO posts (id, mood) VALUES (1, 'ok')")
    local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(online) .. " downgrade a1")
    assert.equal(0, status, err)
    if pg then assert.same({"draft", "published"}, labels(c1, "state")); assert.is_nil(labels(c1, "mood")) end
    status, _, err = h.luamig(dir, "--url " .. h.shell_quote(online) .. " downgrade base")
    assert.equal(0, status, err)
    assert.same({"luamig_log", "luamig_version"}, h.tables(online))
    if pg then assert.same({}, c1:query("SELECT typname FROM pg_type WHERE typtype = 'e'")) end
    status, _, err = h.luamig(dir, "--url " .. h.shell_quote(online) .. " upgrade head")
    assert.equal(0, status, err)
    assert.same({"b2"}, h.version_rows(online))
    c1:close(); c2:close()
  end)

  if db.name == "sqlite" then it("SQLite's move-and-copy keeps an enum column's CHECK, and drops it with the column", function()
    local conn = db.connect()
    local op = luamig_op.new{conn = conn}
    op.create_table("t", {{"id", "integer", primary_key = true}, {"k", op.enum({"x", "y"}, {name = "k"})}, {"n", "integer"}})
    op.drop_column("t", "n")                                  -- a rebuild
    assert.same({{name = "ck_t_k", condition = [["k" IN ('x', 'y')]]}}, introspect.table(conn, "t").checks)
    assert.is_not_nil(h.error_of(function() conn:exec("INSERT INTO t (id, k) VALUES (1, 'z')") end))
    op.drop_column("t", "k")
    assert.same({}, introspect.table(conn, "t").checks)
    conn:close()
  end) end
end)

describe("autogenerate, arrays of an enum", function()
  it("[postgresql] a column '\"e\"[]' reads back as written: no difference", function()
    local autogen = require "luamig.autogen"
    local record = require "luamig.autogen.record"
    local conn = core.connect(select(2, h.fresh_pg()))
    local function schema(o)
      o.create_table("t", {{"id", "integer"}, {"v", o.enum({"a", "b"}, {name = "e"})}, {"vs", '"e"[]'},
                           {"ws", '"e"[][]'}})
    end
    schema(luamig_op.new{conn = conn})
    local rop, store = record.new("postgresql")
    schema(rop)
    local declared = {dialect = "postgresql", tables = store.tables, order = store.order, enums = store.enums}
    assert.same({}, autogen.describe(autogen.compare(conn, declared), {dialect = "postgresql"}))
    assert.equal('"e"[]', introspect.table(conn, "t").columns[3].type)
    conn:close()
  end)
end)

-- check and revision --autogenerate through the CLI, with enums declared
-- in schema.lua: the generated revision applied, check finds nothing.
h.each_db(function(db)
  it("the CLI: check and revision --autogenerate with enums in schema.lua", function()
    local pg = db.name == "postgresql"
    local url = db.url()
    local dir = h.project({})
    h.write_file(dir .. "/schema.lua", [[
function schema(op)
  if op.dialect == "postgresql" then op.create_enum("spare", {"x"}) end
  op.create_table("t", {{"id", "integer", primary_key = true},
    {"state", op.enum({"new", "it's done"}, {name = "state"}), nullable = false}})
end
]])
    local function run(args) return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args) end
    assert.equal(0, (run("upgrade head")))
    local status, out = run("check")
    assert.equal(1, status)
    local want = {
      'op.create_table("t", {',
      '  {"id", "integer", primary_key = true},',
      [[  {"state", op.enum({"new", "it's done"}, {name = "state"}), nullable = false},]],
      "})",
    }
    if pg then table.insert(want, 1, [[op.create_enum("spare", {"x"})]]); table.insert(want, 2, [[op.create_enum("state", {"new", "it's done"})]]) end
    assert.same(want, h.lines(out))
    status, out = run("--json check")
    assert.equal(1, status)
    if pg then
      assert.truthy(out:find('"kind":"create_enum"', 1, true), out)
      assert.truthy(out:find('"name":"spare"', 1, true), out)
      assert.truthy(out:find([["description":"added enum type 'spare'"]], 1, true), out)
    end
    local err
    status, _, err = run("revision --autogenerate -m enums")
    assert.equal(0, status, err)
    status, _, err = run("upgrade head")
    assert.equal(0, status, err)
    status, out = run("check")
    assert.equal(0, status, out)
    assert.equal("No new upgrade operations detected.\n", out)
    status, _, err = run("downgrade base")
    assert.equal(0, status, err)
    if pg then
      local c = core.connect(url)
      assert.same({}, c:query("SELECT typname FROM pg_type WHERE typtype = 'e'"))
      c:close()
    end
  end)
end)

describe("attacks", function()
  it("[postgresql] a name of 63 bytes, backslashes and the DO block's own tag in values, online and by psql", function()
    local long = ("n"):rep(63)               -- over 63 bytes is refused (spec 13a, outside attack 7)
    local values = {[[a\b]], "$luamig$", "x'y", "ü"}
    local function script(op)
      op.create_table("t", {{"id", "integer"}, {"v", op.enum(values, {name = long})}})
      op.create_table("u", {{"id", "integer"}, {"v", op.enum(values, {name = long})}})    -- found by its name
      op.add_enum_value(long, [[c\d]], {after = "$luamig$"})
      op.drop_enum_value(long, "$luamig$")
      op.drop_enum_value(long, "x'y")
    end
    local online = core.connect(select(2, h.fresh_pg()))
    script(luamig_op.new{conn = online})
    local op, out = offline("postgresql")
    script(op)
    local text = table.concat(out, "\n") .. "\n"
    assert.truthy(text:find("DO $luamig_$", 1, true), "a tag the values do not contain")
    local _, url = h.fresh_pg()
    local status, _, err = h.sql_shell({name = "postgresql"}, url, h.tmpdir(), text)
    assert.equal(0, status, err)
    local off = core.connect(url)
    local stored = '"' .. long:sub(1, 63) .. '"'
    for _, c in ipairs({online, off}) do
      assert.same({[[a\b]], [[c\d]], "ü"}, labels(c, stored))
      assert.equal(long:sub(1, 63), column_types(c, "u").v)
    end
    online:close(); off:close()
  end)

  it("[sqlite] a value longer in bytes than in characters: VARCHAR counts characters, as SQLAlchemy", function()
    local op, out = offline("sqlite")
    op.create_table("t", {{"v", op.enum({"üüü", "ab"}, {name = "e"})}})
    assert.truthy(out[1]:find('"v" VARCHAR(3)', 1, true), out[1])
  end)
end)

describe("elsewhere", function()
  it("[sqlite] without a ck convention the CHECK takes the column's name (SQLAlchemy: the enum's)", function()
    local out = {}
    local op = luamig_op.new{dialect = "sqlite", naming_convention = {ck = false},
                             emit = function(text) out[#out + 1] = text end}
    op.create_table("t", {{"v", op.enum({"a"}, {name = "status"})}})
    assert.equal('CREATE TABLE "t" (\n    "v" VARCHAR(1),\n    CONSTRAINT "v" CHECK ("v" IN (\'a\'))\n)', out[1])
  end)

  h.each_db(function(db)
    it("op.table declares an enum column for bulk_insert offline", function()
      local op, out = offline(db.name)
      local t = op.table("t", {{"id", "integer"}, {"v", op.enum({"a", "b"}, {name = "e"})}})
      assert.equal(db.name == "postgresql" and '"e"' or "string(1)", t.columns[2].type)
      op.bulk_insert(t, {{id = 1, v = "b"}})
      assert.equal(db.name == "postgresql" and 'COPY "t" ("id", "v") FROM stdin;\n|1\tb\n|\\.\n'
        or [[SAVEPOINT luamig_bulk;|INSERT INTO "t" ("id", "v") VALUES (1, 'b');|RELEASE luamig_bulk;]],
        table.concat(out, "|"))
    end)
  end)
end)

describe("the oracle, offline", function()
  it("[postgresql] Alembic's --sql writes the same statements for create_table with sa.Enum (once per run) and drop_table", function()
    local alembic = py([[
import io, sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
buf = io.StringIO()
op = Operations(MigrationContext.configure(dialect_name="postgresql", opts={"as_sql": True, "output_buffer": buf}))
op.create_table("t", sa.Column("id", sa.Integer), sa.Column("s", sa.Enum("a", "it's", name="status")),
    sa.Column("s2", sa.Enum("a", "it's", name="status")))
op.create_table("u", sa.Column("id", sa.Integer), sa.Column("s", sa.Enum("a", "it's", name="status")))
op.drop_table("t")
print(buf.getvalue())
]])
    local op, out = offline("postgresql")
    local st = op.enum({"a", "it's"}, {name = "status"})
    op.create_table("t", {{"id", "integer"}, {"s", st}, {"s2", st}})
    op.create_table("u", {{"id", "integer"}, {"s", st}})
    op.drop_table("t")
    local function normal(text)
      local list = {}
      for stmt in text:gmatch("([^;]+);") do
        stmt = stmt:gsub('"', ""):lower():gsub("%s+", " "):gsub(" ?([(),]) ?", "%1"):gsub("^ ", ""):gsub(" $", "")
        list[#list + 1] = stmt
      end
      return list
    end
    -- Alembic's CREATE TYPE, inside a DO block that leaves an existing type
    -- alone (one made before a --sql range: luamig's choice)
    local create = out[1]:match("^DO %$luamig%$\n.-IF t IS NULL THEN\n    (CREATE TYPE [^\n]*;)")
    assert.truthy(create, out[1])
    out[1] = create
    assert.same(normal(alembic), normal(table.concat(out, "\n")))
    assert.equal(4, #normal(alembic))
  end)
end)

-- The outside attacker's reproducers (issue 16's attack report A,
-- defects 4, 5, 6 and 8), kept as specs.
describe("outside attack", function()
  local PG = {name = "postgresql"}
  for _, db in ipairs(h.dialects) do if db.name == "postgresql" then PG = db end end
  local SQLITE
  for _, db in ipairs(h.dialects) do if db.name == "sqlite" then SQLITE = db end end

  local function cli(dir, url, args) return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args) end
  local function check_names(c, tname)
    local t = {}
    for i, ck in ipairs(introspect.table(c, tname).checks) do t[i] = ck.name end
    return t
  end

  -- 4: one enum typing two columns of a table made two CHECKs of one name
  it("[sqlite] 4: one enum for two columns: a CHECK per column, online and --sql alike; check settles", function()
    local e = {"a", "b"}
    local function script(op)
      local st = op.enum(e, {name = "st"})
      op.create_table("t", {{"id", "integer", primary_key = true}, {"v", st}, {"w", st}})
      op.add_column("t", {"x", st})
    end
    local c = SQLITE.connect()
    script(luamig_op.new{conn = c})
    assert.same({"ck_t_v", "ck_t_w", "ck_t_x"}, check_names(c, "t"))
    assert.is_not_nil(h.error_of(function() c:exec("INSERT INTO t (id, w) VALUES (1, 'z')") end))
    local op, out = offline("sqlite")
    script(op)
    local text = table.concat(out, "\n")
    for _, n in ipairs({"ck_t_v", "ck_t_w", "ck_t_x"}) do
      local _, count = text:gsub('CONSTRAINT "' .. n .. '"', "")
      assert.equal(1, count, text)
    end
    c:close()
    -- a history: create_table, then add_column in a later revision, online and by --sql
    local dir = h.project({
      {id = "a1", code = true, up = [[op.create_table("t", {{"id", "integer", primary_key = true}, {"v", op.enum({"a", "b"}, {name = "st"})}})]]},
      {id = "a2", down = "a1", code = true, up = [[op.add_column("t", {"w", op.enum({"a", "b"}, {name = "st"})})]]},
    })
    local online, offline_url = h.online_and_offline(SQLITE, dir)
    local c1, c2 = core.connect(online), core.connect(offline_url)
    assert.same({"ck_t_v", "ck_t_w"}, check_names(c1, "t"))
    assert.same(introspect.table(c1, "t"), introspect.table(c2, "t"))
    c1:close(); c2:close()
    -- autogenerate from schema.lua: applied, check finds nothing
    dir = h.project({})
    h.write_file(dir .. "/schema.lua", [[
function schema(op)
  local e = op.enum({"a", "b"}, {name = "st"})
  op.create_table("t", {{"id", "integer", primary_key = true}, {"v", e}, {"w", e}})
end
]])
    local url = SQLITE.url()
    local status, _, err = cli(dir, url, "revision --autogenerate -m i")
    assert.equal(0, status, err)
    status, _, err = cli(dir, url, "upgrade head")
    assert.equal(0, status, err)
    local out2
    status, out2 = cli(dir, url, "check")
    assert.equal(0, status, out2)
    assert.equal("No new upgrade operations detected.\n", out2)
  end)

  it("[sqlite] 4: a database SQLAlchemy made (its CHECK named after the enum): check finds nothing", function()
    local url, path = h.fresh_sqlite()
    py([[
import sys, sqlalchemy as sa
md = sa.MetaData(naming_convention={"ck": "ck_%(table_name)s_%(constraint_name)s", "pk": "pk_%(table_name)s"})
sa.Table("t", md, sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("state", sa.Enum("a", "b", name="status", create_constraint=True)))
md.create_all(sa.create_engine("sqlite:///" + sys.argv[1]))
]], path)
    local dir = h.project({})
    h.write_file(dir .. "/schema.lua", [[
function schema(op)
  op.create_table("t", {{"id", "integer", primary_key = true}, {"state", op.enum({"a", "b"}, {name = "status"})}})
end
]])
    local status, out = cli(dir, url, "check")
    assert.equal(0, status, out)
    assert.equal("No new upgrade operations detected.\n", out)
    local c = core.connect(url)
    assert.same({"ck_t_status"}, check_names(c, "t"))
    c:close()
    -- a changed value: the CHECK dropped by its own name
    h.write_file(dir .. "/schema.lua", [[
function schema(op)
  op.create_table("t", {{"id", "integer", primary_key = true}, {"state", op.enum({"a", "c"}, {name = "status"})}})
end
]])
    status, out = cli(dir, url, "check")
    assert.equal(1, status, out)
    assert.truthy(out:find('op.drop_constraint("ck_t_status", "t", {type_ = "check"})', 1, true), out)
  end)

  -- 5: alter_column to an enum on a column with a server default
  it("[postgresql] 5: alter_column to an enum keeps the column's default (as the new type), online and by psql", function()
    local function setup(c)
      c:exec([[CREATE TABLE t (id int, v varchar(10) DEFAULT 'a', w varchar(10) DEFAULT 'b');
               INSERT INTO t (id) VALUES (1);
               CREATE TABLE "we""ird" ("a b" text DEFAULT 'it''s', "x" text DEFAULT upper('q'), n int);
               INSERT INTO "we""ird" (n) VALUES (1)]])
    end
    local function script(op)
      op.alter_column("t", "v", {type_ = op.enum({"a", "b"}, {name = "vt"})})
      op.alter_column("t", "w", {type_ = op.enum({"a", "b"}, {name = "vt"}), server_default = "a"})
      op.alter_column('we"ird', "a b", {type_ = op.enum({"it's", "Q"}, {name = "$luamig$"})})
      op.alter_column('we"ird', "x", {type_ = op.enum({"it's", "Q"}, {name = "$luamig$"}), new_column_name = "y"})
    end
    local online = core.connect(select(2, h.fresh_pg()))
    setup(online)
    script(luamig_op.new{conn = online})
    local _, url = h.fresh_pg()
    local off = core.connect(url)
    setup(off)
    local op, out = offline("postgresql")
    script(op)
    local status, _, err = h.sql_shell(PG, url, h.tmpdir(), table.concat(out, "\n") .. "\n")
    assert.equal(0, status, err)
    for _, c in ipairs({online, off}) do
      assert.same({id = "integer", v = "vt", w = "vt"}, column_types(c, "t"))
      assert.same({{v = "a", w = "b"}}, c:query("SELECT v::text AS v, w::text AS w FROM t"))
      assert.same({{n = "v", d = "'a'::vt"}, {n = "w", d = "'a'::vt"}}, c:query([[SELECT a.attname AS n,
        pg_get_expr(d.adbin, d.adrelid) AS d FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid
        AND a.attnum = d.adnum WHERE d.adrelid = 't'::regclass ORDER BY 1]]))
      assert.same({{a = "it's", y = "Q"}}, c:query([[SELECT "a b"::text AS a, y::text AS y FROM "we""ird"]]))
      assert.same({{n = "a b", d = [['it''s'::"$luamig$"]]}, {n = "y", d = [[(upper('q'::text))::"$luamig$"]]}},
        c:query([[SELECT a.attname AS n, pg_get_expr(d.adbin, d.adrelid) AS d FROM pg_attrdef d JOIN pg_attribute a
        ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = '"we""ird"'::regclass ORDER BY 1]]))
    end
    online:close(); off:close()
  end)

  it("[postgresql] 5: autogenerate's change of a defaulted string column to an enum runs, and check settles", function()
    local dir = h.project({})
    local url = PG.url()
    local function schema(typ)
      h.write_file(dir .. "/schema.lua", ([[
function schema(op)
  op.create_table("t", {{"id", "integer", primary_key = true}, {"v", %s, server_default = "a"}})
end
]]):format(typ))
    end
    local function step(name)
      local status, _, err = cli(dir, url, "revision --autogenerate -m " .. name)
      assert.equal(0, status, err)
      status, _, err = cli(dir, url, "upgrade head")
      assert.equal(0, status, err)
    end
    schema('"string(10)"')
    step("one")
    h.query(url, "INSERT INTO t (id) VALUES (1)")
    schema('op.enum({"a", "b"}, {name = "vt"})')
    step("two")
    local status, out = cli(dir, url, "check")
    assert.equal(0, status, out)
    assert.same({{v = "a"}}, h.query(url, "SELECT v::text AS v FROM t"))
    local c = core.connect(url)
    assert.equal("vt", column_types(c, "t").v)
    c:close()
  end)

  -- 6: a --sql range whose first step is after the type was made
  it("[postgresql] 6: a --sql range does not make again a type made before it (or by an earlier step of it)", function()
    local dir = h.project({
      {id = "a1", code = true, up = [[
  op.create_table("t", {{"id", "integer", primary_key = true}, {"v", op.enum({"a", "b"}, {name = "st"})}})]]},
      {id = "a2", down = "a1", code = true, up = [[
  op.add_column("t", {"w", op.enum({"a", "b"}, {name = "st"})})
  op.create_table("u", {{"id", "integer"}, {"v", op.enum({"a", "b"}, {name = "st"})}, {"x", "text"}})
  op.alter_column("u", "x", {type_ = op.enum({"a", "b"}, {name = "st"})})
  op.add_column("u", {"y", op.enum({"p"}, {name = "yt"})})
  op.add_column("u", {"z", op.enum({"p"}, {name = "yt"})})]]},
    })
    local online, offline_url = PG.url(), PG.url()
    local status, _, err = cli(dir, online, "upgrade head")
    assert.equal(0, status, err)
    status, _, err = cli(dir, offline_url, "upgrade a1")
    assert.equal(0, status, err)
    local sql
    status, sql, err = cli(dir, offline_url, "upgrade a1:a2 --sql")
    assert.equal(0, status, err)
    local _, creates = sql:gsub("CREATE TYPE", "")
    assert.equal(2, creates, sql)                   -- st and yt, each once, each in a DO block
    assert.is_nil(sql:find('\nCREATE TYPE "st"', 1, true), sql)
    status, _, err = h.sql_shell(PG, offline_url, h.tmpdir(), sql)
    assert.equal(0, status, err)
    local c1, c2 = core.connect(online), core.connect(offline_url)
    for _, tn in ipairs({"t", "u"}) do
      assert.same(introspect.table(c1, tn), introspect.table(c2, tn))
    end
    assert.same({id = "integer", v = "st", x = "st", y = "yt", z = "yt"}, column_types(c2, "u"))
    assert.same({"a", "b"}, labels(c2, "st"))
    -- and from base, the same script makes each type once
    local base_url = PG.url()
    status, sql, err = cli(dir, base_url, "upgrade head --sql")
    assert.equal(0, status, err)
    status, _, err = h.sql_shell(PG, base_url, h.tmpdir(), sql)
    assert.equal(0, status, err)
    local c3 = core.connect(base_url)
    assert.same(introspect.table(c1, "u"), introspect.table(c3, "u"))
    c1:close(); c2:close(); c3:close()
  end)

  it("[postgresql] 6: a type the --sql run dropped is made again by a plain CREATE TYPE, and psql runs it all", function()
    local op, out = offline("postgresql")
    op.create_table("t", {{"id", "integer"}, {"v", op.enum({"a"}, {name = "st"})}})
    op.drop_table("t")
    op.drop_enum("st")
    op.create_table("t", {{"id", "integer"}, {"v", op.enum({"b"}, {name = "st"})}})
    op.add_column("t", {"w", op.enum({"b"}, {name = "st"})})
    assert.truthy(out[1]:find("^DO "), out[1])
    assert.same({'DROP TABLE "t";', 'DROP TYPE "st";', [[CREATE TYPE "st" AS ENUM ('b');]]}, {out[3], out[4], out[5]})
    assert.equal(7, #out)
    local _, url = h.fresh_pg()
    local status, _, err = h.sql_shell(PG, url, h.tmpdir(), table.concat(out, "\n") .. "\n")
    assert.equal(0, status, err)
    local c = core.connect(url)
    assert.same({"b"}, labels(c, "st"))
    assert.same({id = "integer", v = "st", w = "st"}, column_types(c, "t"))
    c:close()
  end)

  -- 8: the enum's name taken by another type
  it("[postgresql] 8: a name taken by a row type or by an enum lacking values: a clear error, online and by psql", function()
    local cases = {
      {function(op) op.create_table("status", {{"id", "integer", primary_key = true}}) end,
       function(op) op.create_table("t", {{"id", "integer"}, {"v", op.enum({"a", "b"}, {name = "status"})}}) end,
       [[create_table "t", column "v": type "status" exists already and is the row type of table status: ]]
         .. [[give the enum another name (op.enum(values, {name = ...})), or create_type = false if the column is meant to have that type]]},
      {function(op) op.create_enum("st", {"x", "y"}); op.create_table("t", {{"id", "integer"}}) end,
       function(op) op.add_column("t", {"v", op.enum({"a", "x", "b"}, {name = "st"})}) end,
       [[add_column "t", column "v": enum type "st" exists already with the values ('x', 'y'), without 'a', 'b': ]]
         .. [[add them first (op.add_enum_value), give the enum another name, or create_type = false to use the type as it is]]},
    }
    for _, case in ipairs(cases) do
      local c = core.connect(PG.url())
      local op = luamig_op.new{conn = c}
      case[1](op)
      local msg, line = error_of(function() case[2](op) end)
      assert.equal(case[3], msg)
      assert.is_not_nil(line)
      assert.is_nil(c:query("SELECT to_regclass('t') AS r")[1].r ~= nil and column_types(c, "t").v or nil)
      c:close()
      -- --sql cannot look: its DO block raises the same words when psql runs it
      local _, url = h.fresh_pg()
      local c2 = core.connect(url)
      case[1](luamig_op.new{conn = c2})
      local op2, out = offline("postgresql")
      case[2](op2)
      local status, _, err = h.sql_shell(PG, url, h.tmpdir(), table.concat(out, "\n") .. "\n")
      assert.equal(3, status)
      assert.truthy(err:find(case[3], 1, true), err)
      c2:close()
    end
    -- an enum holding more values (extended since) is used as it is
    local c = core.connect(PG.url())
    local op = luamig_op.new{conn = c}
    op.create_enum("st", {"a", "b", "c"})
    op.create_table("t", {{"id", "integer"}, {"v", op.enum({"a", "b"}, {name = "st"})}})
    assert.same({"a", "b", "c"}, labels(c, "st"))
    assert.equal("st", column_types(c, "t").v)
    c:close()
  end)
end)

describe("issue 16 leftovers", function()
  local autogen = require "luamig.autogen"
  local record = require "luamig.autogen.record"
  it("[postgresql] enum types used only by tables include_object leaves out are not dropped; one used by nothing is", function()
    local conn = h.dialects[2].connect()
    local op = luamig_op.new{conn = conn}
    op.create_enum("tags", {"x"})
    op.create_table("ext", {{"id", "integer", primary_key = true}, {"m", op.enum({"a", "b"}, {name = "mood"})},
                            {"ms", '"tags"[]'}})
    op.create_table("shared", {{"id", "integer", primary_key = true}, {"m", op.enum({"a", "b"}, {name = "both"})}})
    op.create_table("ext2", {{"id", "integer", primary_key = true}, {"m", op.enum({"a", "b"}, {name = "both"})}})
    op.create_table("t", {{"id", "integer", primary_key = true}})
    op.create_enum("unused", {"z"})
    local rop, store = record.new("postgresql")
    rop.create_table("t", {{"id", "integer", primary_key = true}})
    local declared = {dialect = "postgresql", tables = store.tables, order = store.order, enums = store.enums}
    local include = function(kind, name) return not (kind == "table" and (name == "ext" or name == "shared" or name == "ext2")) end
    local ops = autogen.compare(conn, declared, {include_object = include})
    local function said(list)
      local t = {}
      for i, d in ipairs(autogen.describe(list, {dialect = "postgresql"})) do t[i] = d.description end
      return t
    end
    assert.same({"removed enum type 'unused'"}, said(ops))
    -- a type a kept table uses stays compared: shared kept, both's drop is proposed with the table
    include = function(kind, name) return not (kind == "table" and (name == "ext" or name == "ext2")) end
    ops = autogen.compare(conn, declared, {include_object = include})
    assert.same({"removed table 'shared'", "removed enum type 'both'", "removed enum type 'unused'"}, said(ops))
    conn:close()
  end)
end)
