-- Autogenerate's comparison on SQLite and PostgreSQL: every kind of
-- difference, asserted as the generated operations; the closure property
-- (apply the generated upgrade, compare again: nothing) and the inverse
-- (apply the generated downgrade: the schema before, by introspection).
local h = require "spec.helpers"
local luamig_op = require "luamig.op"
local introspect = require "luamig.introspect"
local autogen = require "luamig.autogen"
local record = require "luamig.autogen.record"
local diff = require "luamig.autogen.diff"

-- Run generated code (the body of upgrade or downgrade) with op.
local function apply(code, op)
  local fn = assert(load("return function(op)\n" .. code .. "\nend", "=generated", "t", _G))()
  fn(op)
end

h.each_db(function(db)
  local pg = db.name == "postgresql"
  local conn, op

  before_each(function()
    conn = db.connect()
    op = luamig_op.new{conn = conn}
  end)
  after_each(function() conn:close() end)

  local function declare(fn)
    local rop, store = record.new(db.name)
    fn(rop)
    return {dialect = db.name, tables = store.tables, order = store.order}
  end

  -- The generated upgrade as code lines, after applying it and checking
  -- closure and the downgrade's return to the schema before.
  local function roundtrip(declared, opts)
    opts = opts or {}
    local before = introspect.schema(conn)
    local ops = autogen.compare(conn, declared, opts)
    local ctx = {dialect = db.name}
    local codes = {}
    for i, o in ipairs(ops) do codes[i] = require("luamig.autogen.render").op(o, ctx) end
    local up, down = autogen.render(ops, ctx)
    apply(up, op)
    local again = autogen.compare(conn, declared, opts)
    assert.same({}, autogen.describe(again, ctx), "closure: check after the generated upgrade")
    apply(down, op)
    local restored = diff.compare(before, introspect.schema(conn), {dialect = db.name})
    assert.same({}, autogen.describe(restored, ctx), "the generated downgrade restores the schema")
    return codes, ops
  end

  local function base_schema(o)
    o.create_table("users", {
      {"id", "integer", primary_key = true},
      {"email", "string(255)", nullable = false, unique = true},
      {"name", "string(100)"},
    })
  end

  describe("no difference", function()
    it("finds nothing when the database was built by the same declarations", function()
      local function full(o)
        base_schema(o)
        o.create_table("posts", {
          {"id", "integer", primary_key = true},
          {"user_id", "integer", nullable = false, references = "users.id", ondelete = "CASCADE"},
          {"title", "string(200)", nullable = false, check = "length(title) > 0"},
          {"state", "string(10)", nullable = false, default = "draft"},
          {"score", "numeric(8,2)", default = 0},
          {"ratio", "double", default = 1.5},
          {"published", "boolean", nullable = false, default = false},
          {"created_at", "timestamp", default = o.raw("CURRENT_TIMESTAMP")},
          {"doc", "json"},
          {"big", "bigint", default = -1},
          {check = "state IN ('draft', 'live')", name = "ck_posts_state_values"},
          {unique = {"user_id", "title"}},
        }, {comment = "what users write"})
        o.create_index("ix_posts_published", "posts", {"published"}, {where = "published"})
        o.create_index("ix_posts_lower_title", "posts", {o.raw("lower(title)")})
        o.create_index("ix_posts_score", "posts", {"score", "user_id"}, {unique = true, where = "score > 0"})
      end
      full(op)
      local declared = declare(full)
      local ops = autogen.compare(conn, declared)
      assert.same({}, autogen.describe(ops, {dialect = db.name}))
    end)

    it("an empty declaration against an empty database", function()
      assert.same({}, autogen.compare(conn, declare(function() end)))
    end)
  end)

  describe("tables", function()
    it("an added table, with its foreign key, unique, check, defaults and index", function()
      base_schema(op)
      local codes = roundtrip(declare(function(o)
        base_schema(o)
        o.create_table("posts", {
          {"id", "integer", primary_key = true},
          {"user_id", "integer", nullable = false, references = "users.id", ondelete = "CASCADE"},
          {"title", "string(200)", nullable = false, check = "length(title) > 0"},
          {"published", "boolean", nullable = false, default = false},
          {"slug", "string(50)", unique = true},
        })
        o.create_index("ix_posts_user_id", "posts", {"user_id"})
      end))
      assert.same({table.concat({
        'op.create_table("posts", {',
        '  {"id", "integer", primary_key = true},',
        '  {"user_id", "integer", nullable = false, references = "users.id", ondelete = "CASCADE"},',
        '  {"title", "string(200)", nullable = false, check = "length(title) > 0"},',
        '  {"published", "boolean", nullable = false, default = false},',
        '  {"slug", "string(50)", unique = true},',
        '})'}, "\n"), 'op.create_index("ix_posts_user_id", "posts", {"user_id"})'}, codes)
    end)

    it("a removed table: dropped, and recreated with its index by the downgrade", function()
      base_schema(op)
      op.create_table("old", {{"id", "integer", primary_key = true}, {"v", "text", default = "x"},
                              {"n", "integer", nullable = false}})
      op.create_index("ix_old_v", "old", {"v"})
      local codes, ops = roundtrip(declare(base_schema))
      assert.same({'op.drop_index("ix_old_v", "old")', 'op.drop_table("old")'}, codes)
      local render = require("luamig.autogen.render")
      assert.same({table.concat({
        'op.create_table("old", {',
        '  {"id", "integer", primary_key = true},',
        '  {"v", "text", default = "x"},',
        '  {"n", "integer", nullable = false},',
        '})'}, "\n"), 'op.create_index("ix_old_v", "old", {"v"})'},
        {render.op(diff.inverse(ops[2]), {dialect = db.name}), render.op(diff.inverse(ops[1]), {dialect = db.name})})
    end)

    it("new tables come after the tables they reference; a cycle's foreign key comes last", function()
      local codes, ops = roundtrip(declare(function(o)
        o.create_table("a", {{"id", "integer", primary_key = true}, {"b_id", "integer", references = "b.id"}})
        o.create_table("b", {{"id", "integer", primary_key = true}, {"c_id", "integer", references = "c.id"}})
        o.create_table("c", {{"id", "integer", primary_key = true}, {"a_id", "integer"}})
        o.create_foreign_key("fk_c_a_id_a", "c", "a", {"a_id"}, {"id"})
      end))
      local kinds = {}
      for i, o in ipairs(ops) do kinds[i] = o.kind .. " " .. o.table end
      assert.same({"create_table c", "create_table b", "create_table a", "add_constraint c"}, kinds)
      assert.equal('op.create_foreign_key("fk_c_a_id_a", "c", "a", {"a_id"}, {"id"})', codes[4])
    end)

    it("removed tables: those referencing others are dropped first", function()
      op.create_table("parent", {{"id", "integer", primary_key = true}})
      op.create_table("child", {{"id", "integer", primary_key = true}, {"p", "integer", references = "parent.id"}})
      op.create_table("grandchild", {{"id", "integer", primary_key = true}, {"c", "integer", references = "child.id"}})
      local codes = roundtrip(declare(function() end))
      assert.same({'op.drop_table("grandchild")', 'op.drop_table("child")', 'op.drop_table("parent")'}, codes)
    end)
  end)

  describe("columns", function()
    it("added and removed columns", function()
      op.create_table("t", {{"id", "integer", primary_key = true}, {"gone", "string(20)", default = "g"}})
      local codes = roundtrip(declare(function(o)
        o.create_table("t", {{"id", "integer", primary_key = true}, {"bio", "text"},
                             {"n", "integer", nullable = false, default = 0}})
      end))
      assert.same({'op.drop_column("t", "gone")', 'op.add_column("t", {"bio", "text"})',
                   'op.add_column("t", {"n", "integer", nullable = false, default = 0})'}, codes)
    end)

    it("nullable changes both ways", function()
      op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text"}, {"b", "text", nullable = false}})
      local codes = roundtrip(declare(function(o)
        o.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text", nullable = false}, {"b", "text"}})
      end))
      assert.same({'op.alter_column("t", "a", {nullable = false})', 'op.alter_column("t", "b", {nullable = true})'}, codes)
    end)

    it("type changes, and none with compare_type = false", function()
      op.create_table("t", {{"id", "integer", primary_key = true}, {"s", "string(50)"}, {"n", "integer"},
                            {"d", "numeric(10,2)"}})
      local declared = declare(function(o)
        o.create_table("t", {{"id", "integer", primary_key = true}, {"s", "text"}, {"n", "bigint"},
                             {"d", "numeric(12,4)"}})
      end)
      assert.same({}, autogen.compare(conn, declared, {compare_type = false}))
      local codes = roundtrip(declared)
      assert.same({'op.alter_column("t", "s", {type_ = "text"})', 'op.alter_column("t", "n", {type_ = "bigint"})',
                   'op.alter_column("t", "d", {type_ = "numeric(12,4)"})'}, codes)
    end)

    it("type names the database spells its own way are not differences", function()
      op.execute(pg and 'CREATE TABLE t (id int4 PRIMARY KEY, s character varying(20), b bool, f float8)'
                     or 'CREATE TABLE t (id INTEGER PRIMARY KEY, s VARCHAR(20), b BOOLEAN, f DOUBLE)')
      local declared = declare(function(o)
        o.create_table("t", {{"id", "integer", primary_key = true, autoincrement = false}, {"s", "string(20)"},
                             {"b", pg and "bool" or "boolean"}, {"f", pg and "float8" or "double"}})
      end)
      assert.same({}, autogen.describe(autogen.compare(conn, declared), {dialect = db.name}))
    end)

    it("default added, changed and removed", function()
      op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text"}, {"b", "integer", default = 1},
                            {"c", "string(10)", default = "x"}})
      local codes = roundtrip(declare(function(o)
        o.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text", default = "it's"},
                             {"b", "integer", default = 2}, {"c", "string(10)"}})
      end))
      assert.same({'op.alter_column("t", "a", {server_default = "it\'s"})',
                   'op.alter_column("t", "b", {server_default = 2})',
                   'op.alter_column("t", "c", {server_default = op.NULL})'}, codes)
    end)

    it("an expression default the server rewrites is not a difference", function()
      local function d(o)
        o.create_table("t", {{"id", "integer", primary_key = true},
                             {"at", "timestamp", default = o.raw("CURRENT_TIMESTAMP")},
                             {"code", "text", default = o.raw("lower('ABC')")},
                             {"n", "integer", default = o.raw("1 + 2")}})
      end
      d(op)
      assert.same({}, autogen.describe(autogen.compare(conn, declare(d)), {dialect = db.name}))
    end)

    if pg then
      it("column comments", function()
        op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text", comment = "old"}, {"b", "text"}})
        local codes = roundtrip(declare(function(o)
          o.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text"}, {"b", "text", comment = "new"}})
        end))
        assert.same({'op.alter_column("t", "a", {comment = op.NULL})', 'op.alter_column("t", "b", {comment = "new"})'}, codes)
      end)
    end
  end)

  describe("indexes", function()
    before_each(function()
      op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text"}, {"b", "integer"}})
    end)
    local function t_table(o) o.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text"}, {"b", "integer"}}) end

    it("added: plain, unique, partial, on an expression", function()
      local codes = roundtrip(declare(function(o)
        t_table(o)
        o.create_index("ix_t_a", "t", {"a"})
        o.create_index("ix_t_b_a", "t", {"b", "a"}, {unique = true})
        o.create_index("ix_t_b_pos", "t", {"b"}, {where = "b > 0"})
        o.create_index("ix_t_lower_a", "t", {o.raw("lower(a)")})
      end))
      assert.same({'op.create_index("ix_t_a", "t", {"a"})',
                   'op.create_index("ix_t_b_a", "t", {"b", "a"}, {unique = true})',
                   'op.create_index("ix_t_b_pos", "t", {"b"}, {where = "b > 0"})',
                   'op.create_index("ix_t_lower_a", "t", {op.raw("lower(a)")})'}, codes)
    end)

    it("removed, and changed (dropped then created)", function()
      op.create_index("ix_t_a", "t", {"a"})
      op.create_index("ix_t_b", "t", {"b"})
      local codes = roundtrip(declare(function(o)
        t_table(o)
        o.create_index("ix_t_b", "t", {"b", "a"})
      end))
      assert.same({'op.drop_index("ix_t_a", "t")', 'op.drop_index("ix_t_b", "t")',
                   'op.create_index("ix_t_b", "t", {"b", "a"})'}, codes)
    end)
  end)

  describe("constraints", function()
    before_each(function()
      op.create_table("p", {{"id", "integer", primary_key = true}})
      op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text"}, {"p_id", "integer"}})
    end)
    local function tables(o, extra)
      o.create_table("p", {{"id", "integer", primary_key = true}})
      local cols = {{"id", "integer", primary_key = true}, {"a", "text"}, {"p_id", "integer"}}
      for _, e in ipairs(extra or {}) do cols[#cols + 1] = e end
      o.create_table("t", cols)
    end

    it("unique constraints added and removed", function()
      op.create_unique_constraint("uq_t_p_id", "t", {"p_id"})
      local codes = roundtrip(declare(function(o)
        tables(o)
        o.create_unique_constraint("uq_t_a_p_id", "t", {"a", "p_id"})
      end))
      assert.same({'op.drop_constraint("uq_t_p_id", "t", {type_ = "unique"})',
                   'op.create_unique_constraint("uq_t_a_p_id", "t", {"a", "p_id"})'}, codes)
    end)

    it("foreign keys added, removed and changed (actions)", function()
      op.create_table("q", {{"id", "integer", primary_key = true}, {"t_id", "integer", references = "t.id"},
                            {"p_id", "integer", references = "p.id"}})
      local codes = roundtrip(declare(function(o)
        tables(o)
        o.create_table("q", {{"id", "integer", primary_key = true},
                             {"t_id", "integer", references = "t.id", ondelete = "CASCADE"}, {"p_id", "integer"}})
        o.create_foreign_key(nil, "t", "p", {"p_id"}, {"id"}, {ondelete = "SET NULL"})
      end))
      assert.same({'op.drop_constraint("fk_q_p_id_p", "q", {type_ = "foreignkey"})',
                   'op.drop_constraint("fk_q_t_id_t", "q", {type_ = "foreignkey"})',
                   'op.create_foreign_key("fk_q_t_id_t", "q", "t", {"t_id"}, {"id"}, {ondelete = "CASCADE"})',
                   'op.create_foreign_key("fk_t_p_id_p", "t", "p", {"p_id"}, {"id"}, {ondelete = "SET NULL"})'}, codes)
    end)

    it("check constraints added and removed, by name", function()
      op.create_check_constraint("ck_t_a_short", "t", "length(a) < 10")
      local codes = roundtrip(declare(function(o)
        tables(o)
        o.create_check_constraint("ck_t_p_pos", "t", "p_id > 0")
      end))
      assert.same({'op.drop_constraint("ck_t_a_short", "t", {type_ = "check"})',
                   'op.create_check_constraint("ck_t_p_pos", "t", "p_id > 0")'}, codes)
    end)

    it("a check whose condition the server rewrites is not a difference; a changed one is", function()
      op.create_check_constraint("ck_t_a_in", "t", "a IN ('x', 'y')")
      local same = declare(function(o)
        tables(o)
        o.create_check_constraint("ck_t_a_in", "t", "a IN ('x', 'y')")
      end)
      assert.same({}, autogen.describe(autogen.compare(conn, same), {dialect = db.name}))
      local codes = roundtrip(declare(function(o)
        tables(o)
        o.create_check_constraint("ck_t_a_in", "t", "a IN ('x', 'z')")
      end))
      assert.same({'op.drop_constraint("ck_t_a_in", "t", {type_ = "check"})',
                   'op.create_check_constraint("ck_t_a_in", "t", "a IN (\'x\', \'z\')")'}, codes)
    end)
  end)

  describe("many changes at once", function()
    it("to one table with rows: columns, constraints, indexes and a new table it references", function()
      op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "string(20)", unique = true},
                            {"b", "integer", default = 1}, {"gone", "text"}})
      op.create_index("ix_t_b", "t", {"b"})
      op.execute("INSERT INTO t (id, a, b, gone) VALUES (1, 'x', 2, 'g'), (2, 'y', 3, NULL)")
      local codes = roundtrip(declare(function(o)
        o.create_table("kinds", {{"id", "integer", primary_key = true}, {"name", "text", nullable = false}})
        o.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text", nullable = false},
                             {"b", "bigint", default = 5}, {"kind_id", "integer", references = "kinds.id"},
                             {"c", "boolean", nullable = false, default = true}})
        o.create_index("ix_t_a_b", "t", {"a", "b"})
        o.create_check_constraint("ck_t_b_pos", "t", "b > 0")
      end))
      assert.same({
        'op.drop_index("ix_t_b", "t")',
        'op.drop_constraint("uq_t_a", "t", {type_ = "unique"})',
        'op.drop_column("t", "gone")',
        'op.create_table("kinds", {\n  {"id", "integer", primary_key = true},\n  {"name", "text", nullable = false},\n})',
        'op.add_column("t", {"kind_id", "integer"})',
        'op.add_column("t", {"c", "boolean", nullable = false, default = true})',
        'op.alter_column("t", "a", {type_ = "text", nullable = false})',
        'op.alter_column("t", "b", {type_ = "bigint", server_default = 5})',
        'op.create_index("ix_t_a_b", "t", {"a", "b"})',
        'op.create_check_constraint("ck_t_b_pos", "t", "b > 0")',
        'op.create_foreign_key("fk_t_kind_id_kinds", "t", "kinds", {"kind_id"}, {"id"})',
      }, codes)
      local rows = conn:query("SELECT id, a, b FROM t ORDER BY id")
      assert.same({{id = 1, a = "x", b = 2}, {id = 2, a = "y", b = 3}}, rows)
    end)
  end)

  describe("a database made without luamig", function()
    it("constraints without names, or named by the server, match declared ones by definition", function()
      conn:exec([[CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE,
                  qty INTEGER CHECK (qty >= 0))]])
      conn:exec([[CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id),
                  state VARCHAR(10) CHECK (state IN ('a', 'b')))]])
      local declared = declare(function(o)
        o.create_table("users", {{"id", "integer", primary_key = true, autoincrement = false},
                                 {"email", "string(255)", nullable = false, unique = true},
                                 {"qty", "integer", check = "qty >= 0"}})
        o.create_table("posts", {{"id", "integer", primary_key = true, autoincrement = false},
                                 {"user_id", "integer", references = "users.id"},
                                 {"state", "string(10)", check = "state IN ('a', 'b')"}})
      end)
      assert.same({}, autogen.describe(autogen.compare(conn, declared), {dialect = db.name}))
      local codes = roundtrip(declare(function(o)
        o.create_table("users", {{"id", "integer", primary_key = true, autoincrement = false},
                                 {"email", "string(255)", nullable = false},
                                 {"qty", "integer", check = "qty >= 0"}})
        o.create_table("posts", {{"id", "integer", primary_key = true, autoincrement = false},
                                 {"user_id", "integer", references = "users.id"},
                                 {"state", "string(10)", check = "state IN ('a', 'b')"}})
      end))
      -- a constraint without a name cannot be dropped by name: only PostgreSQL's named one is
      assert.same(pg and {'op.drop_constraint("users_email_key", "users", {type_ = "unique"})'} or {}, codes)
    end)
  end)

  describe("hostile names", function()
    it("tables, columns, indexes and constraints named select, we\"ird, a b", function()
      op.create_table("select", {{"id", "integer", primary_key = true}, {"we\"ird", "text"}})
      local codes = roundtrip(declare(function(o)
        o.create_table("select", {{"id", "integer", primary_key = true}, {"we\"ird", "text", nullable = false},
                                  {"a b", "string(5)", default = "it's", unique = true}})
        o.create_index("we\"ird ix", "select", {"we\"ird", "a b"})
        o.create_check_constraint("ck a b", "select", [["a b" <> 'x']])
        o.create_table("a.b", {{"id", "integer", primary_key = true},
                               {"s", "integer", references = {"select", "id"}}})
      end))
      assert.same({
        'op.create_table("a.b", {\n  {"id", "integer", primary_key = true},\n'
          .. '  {"s", "integer", references = "select.id"},\n})',
        'op.add_column("select", {"a b", "string(5)", default = "it\'s"})',
        'op.alter_column("select", "we\\"ird", {nullable = false})',
        'op.create_index("we\\"ird ix", "select", {"we\\"ird", "a b"})',
        'op.create_unique_constraint("uq_select_a b", "select", {"a b"})',
        'op.create_check_constraint("ck a b", "select", "\\"a b\\" <> \'x\'")',
      }, codes)
    end)
  end)

  if pg then
    describe("PostgreSQL only", function()
      it("deferrable constraints, index methods and included columns", function()
        op.create_table("t", {{"id", "integer", primary_key = true}, {"tags", "text[]"}, {"p", "integer"}})
        local codes = roundtrip(declare(function(o)
          o.create_table("t", {{"id", "integer", primary_key = true}, {"tags", "text[]"}, {"p", "integer"}})
          o.create_index("ix_t_tags", "t", {"tags"}, {using = "gin"})
          o.create_index("ix_t_p", "t", {"p"}, {include = {"id"}})
          o.create_unique_constraint("uq_t_p", "t", {"p"}, {deferrable = true, initially = "DEFERRED"})
          o.create_foreign_key("fk_t_p_t", "t", "t", {"p"}, {"id"}, {deferrable = true, match = "FULL"})
        end))
        assert.same({
          'op.create_index("ix_t_tags", "t", {"tags"}, {using = "gin"})',
          'op.create_index("ix_t_p", "t", {"p"}, {include = {"id"}})',
          'op.create_unique_constraint("uq_t_p", "t", {"p"}, {deferrable = true, initially = "DEFERRED"})',
          'op.create_foreign_key("fk_t_p_t", "t", "t", {"p"}, {"id"}, {match = "FULL", deferrable = true})',
        }, codes)
      end)

      it("a table in another schema is not compared; an identity column is not a default", function()
        conn:exec("CREATE SCHEMA other")
        conn:exec("CREATE TABLE other.elsewhere (id integer)")
        op.create_table("t", {{"id", "bigint", primary_key = true}, {"n", "integer", autoincrement = true}})
        local declared = declare(function(o)
          o.create_table("t", {{"id", "bigint", primary_key = true}, {"n", "integer", autoincrement = true}})
        end)
        assert.same({}, autogen.describe(autogen.compare(conn, declared), {dialect = db.name}))
      end)
    end)
  end

  describe("filters", function()
    it("include_object leaves out tables, columns and indexes on both sides", function()
      op.create_table("legacy", {{"id", "integer", primary_key = true}})
      op.create_table("t", {{"id", "integer", primary_key = true}, {"x", "text"}})
      op.create_index("ix_t_x", "t", {"x"})
      local seen = {}
      local ops = autogen.compare(conn, declare(function(o)
        o.create_table("t", {{"id", "integer", primary_key = true}, {"y", "text"}})
        o.create_table("new_skip", {{"id", "integer", primary_key = true}})
      end), {include_object = function(kind, name, tname)
        seen[kind .. ":" .. name .. ":" .. tostring(tname)] = true
        return not (name == "legacy" or name == "new_skip" or name == "x" or name == "ix_t_x")
      end})
      assert.same({"added column 't.y'"}, (function()
        local d = {} for i, o in ipairs(ops) do d[i] = diff.describe(o) end return d end)())
      assert.is_true(seen["column:x:t"])
      assert.is_true(seen["index:ix_t_x:t"])
      assert.is_true(seen["table:legacy:nil"])
    end)

    it("diff.filter is still the include_object filter embedders call (issue 15's outside attack)", function()
      local schema = {tables = {keep = {name = "keep", columns = {{name = "a"}, {name = "b"}}},
                                drop = {name = "drop", columns = {}}}, order = {"keep", "drop"}}
      local out = diff.filter(schema, function(kind, name)
        return not (name == "drop" or name == "b")
      end)
      assert.same({"keep"}, out.order)
      assert.is_nil(out.tables.drop)
      assert.equal(1, #out.tables.keep.columns)
      assert.equal("a", out.tables.keep.columns[1].name)
    end)

    it("luamig's own tables are never part of the comparison", function()
      conn:exec("CREATE TABLE luamig_version (version_num VARCHAR(64) PRIMARY KEY)")
      conn:exec("CREATE TABLE my_versions (version_num VARCHAR(64) PRIMARY KEY)")
      conn:exec("CREATE TABLE my_versions_log (id INTEGER)")
      local ops = autogen.compare(conn, declare(function() end),
                                  {exclude = {my_versions = true, my_versions_log = true}})
      assert.same({}, ops)
    end)
  end)
end)

describe("issue 16 leftovers", function()
  describe("[postgresql]", function()
    local db = h.dialects[2]
    it("an expression index over a collated column settles: nothing to do after it is made", function()
      local conn = db.connect()
      local op = luamig_op.new{conn = conn}
      local function schema(o)
        o.create_table("tc", {{"id", "integer", primary_key = true}, {"name", 'text collate "C"'}, {"n2", "text"}})
        o.create_index("ix_tc_lower", "tc", {o.raw("lower(name)")})
        o.create_index("ix_tc_lower_posix", "tc", {o.raw('lower(name) COLLATE "POSIX"')})
        o.create_index("ix_tc_n2_c", "tc", {o.raw('lower(n2) COLLATE "C"'), "id"}, {})
      end
      schema(op)
      local rop, store = record.new(db.name)
      schema(rop)
      local declared = {dialect = db.name, tables = store.tables, order = store.order}
      local ctx = {dialect = db.name}
      assert.same({}, autogen.describe(autogen.compare(conn, declared), ctx))
      -- what the database reads back: the COLLATE written, none where the expression has it already
      local t = introspect.schema(conn).tables.tc
      local by_name = {}
      for _, ix in ipairs(t.indexes) do by_name[ix.name] = ix end
      assert.is_nil(by_name.ix_tc_lower.column_options)
      assert.same({[1] = {collate = "POSIX"}}, by_name.ix_tc_lower_posix.column_options)
      assert.same({[1] = {collate = "C"}}, by_name.ix_tc_n2_c.column_options)
      -- declared without the COLLATE it has: a difference, dropped and made again
      rop, store = record.new(db.name)
      rop.create_table("tc", {{"id", "integer", primary_key = true}, {"name", 'text collate "C"'}, {"n2", "text"}})
      rop.create_index("ix_tc_lower", "tc", {rop.raw("lower(name)")})
      rop.create_index("ix_tc_lower_posix", "tc", {rop.raw("lower(name)")})
      rop.create_index("ix_tc_n2_c", "tc", {rop.raw('lower(n2) COLLATE "C"'), "id"}, {})
      local ops = autogen.compare(conn, {dialect = db.name, tables = store.tables, order = store.order})
      local up = autogen.render(ops, ctx)
      apply(up, op)
      assert.same({}, autogen.describe(autogen.compare(conn, {dialect = db.name, tables = store.tables,
        order = store.order}), ctx))
      conn:close()
    end)
  end)
end)
