-- Issue 16 items 4 and 5: index options (operator classes, methods,
-- included columns, storage parameters, NULLS NOT DISTINCT, per-column
-- order, NULLS placement and collation, op.raw elements with an operator
-- class) on PostgreSQL, what of them SQLite takes and the clear error for
-- the rest; introspection and autogenerate of them; and
-- op.autocommit_block: what it commits, what the version row says after a
-- failure, its log line, its --sql text (COMMIT; ... BEGIN;), and
-- CONCURRENTLY inside and outside it. The SQL is compared with SQLAlchemy
-- 1.4's CreateIndex (Debian's /usr/bin/python3, the oracle).
local h = require "spec.helpers"
local luamig_op = require "luamig.op"
local introspect = require "luamig.introspect"
local autogen = require "luamig.autogen"
local record = require "luamig.autogen.record"
local core = require "luamig.core"

local function offline(dialect) return h.offline_op(dialect, false) end

local error_of = h.op_error

local function here() return debug.getinfo(2, "l").currentline end

-- SQLAlchemy 1.4's CREATE INDEX for each Python Index expression (on
-- table t (a text, b integer, c text)), per dialect.
local function sqlalchemy(dialect, exprs)
  local dir = h.tmpdir()
  local lines = {"import sqlalchemy as sa",
    "from sqlalchemy.dialects import " .. dialect,
    "from sqlalchemy.schema import CreateIndex",
    "m = sa.MetaData()",
    "t = sa.Table('t', m, sa.Column('a', sa.Text), sa.Column('b', sa.Integer), sa.Column('c', sa.Text))"}
  for _, e in ipairs(exprs) do
    lines[#lines + 1] = ("print(str(CreateIndex(%s).compile(dialect=%s.dialect())).replace('\\n', ' '))")
      :format(e, dialect)
  end
  h.write_file(dir .. "/oracle.py", table.concat(lines, "\n") .. "\n")
  local status, out, err = h.run("/usr/bin/python3 " .. h.shell_quote(dir .. "/oracle.py"))
  assert.equal(0, status, err)
  return h.lines(out)
end

local function unquoted(list)
  local out = {}
  for i, s in ipairs(list) do out[i] = (s:gsub('"', ""):gsub(";$", "")) end
  return out
end

describe("index options", function()
  it("render as SQLAlchemy 1.4 renders them, on PostgreSQL and SQLite (the oracle)", function()
    local py = {
      "sa.Index('i1', sa.text('\"a\" gin_trgm_ops'), postgresql_using='gin', _table=t)",
      "sa.Index('i2', t.c.a, postgresql_ops={'a': 'gin_trgm_ops'}, postgresql_using='gin')",
      "sa.Index('i3', t.c.a, t.c.b, postgresql_include=['c'], postgresql_with={'fillfactor': 70}, "
        .. "postgresql_where=sa.text('b > 0'), postgresql_concurrently=True)",
      "sa.Index('i4', t.c.a.desc().nulls_last(), t.c.b.asc())",
      "sa.Index('i5', t.c.a.collate('C').desc())",
      "sa.Index('i6', t.c.a, t.c.b, unique=True, postgresql_with={'fillfactor': 70, 'deduplicate_items': 'off'})",
      "sa.Index('i7', sa.text('lower(a) DESC'), _table=t)",
    }
    local lua = {
      function(op) op.create_index("i1", "t", {op.raw('"a" gin_trgm_ops')}, {postgresql_using = "gin"}) end,
      function(op) op.create_index("i2", "t", {"a"}, {postgresql_ops = {a = "gin_trgm_ops"}, postgresql_using = "gin"}) end,
      function(op) op.create_index("i3", "t", {"a", "b"}, {postgresql_include = {"c"}, postgresql_with = {fillfactor = 70},
                                                           postgresql_where = "b > 0", postgresql_concurrently = true}) end,
      function(op) op.create_index("i4", "t", {{"a", order = "desc", nulls = "last"}, {"b", order = "asc"}}) end,
      function(op) op.create_index("i5", "t", {{"a", collate = "C", order = "desc"}}) end,
      function(op) op.create_index("i6", "t", {"a", "b"}, {unique = true,
                                               postgresql_with = {fillfactor = 70, deduplicate_items = "off"}}) end,
      function(op) op.create_index("i7", "t", {op.raw("lower(a) DESC")}) end,
    }
    local op, out = offline("postgresql")
    for _, f in ipairs(lua) do f(op) end
    local want = sqlalchemy("postgresql", py)
    -- SQLAlchemy writes the WITH parameters in the dict's order, luamig sorted: i6 by hand
    assert.equal("CREATE UNIQUE INDEX i6 ON t (a, b) WITH (fillfactor = 70, deduplicate_items = off)", want[6])
    want[6] = "CREATE UNIQUE INDEX i6 ON t (a, b) WITH (deduplicate_items = off, fillfactor = 70)"
    assert.same(unquoted(want), unquoted(out))

    -- SQLite: the order and the collation per column; SQLAlchemy drops the
    -- postgresql_* options there, luamig refuses them (below), as it refuses
    -- NULLS FIRST/LAST, which SQLAlchemy writes and SQLite 3.40 refuses in an
    -- index ("unsupported use of NULLS LAST")
    local sop, sout = offline("sqlite")
    sop.create_index("i4", "t", {{"a", order = "desc"}, {"b", order = "asc"}})
    lua[5](sop)
    lua[7](sop)
    assert.same(unquoted(sqlalchemy("sqlite", {"sa.Index('i4', t.c.a.desc(), t.c.b.asc())", py[5], py[7]})),
                unquoted(sout))
  end)

  it("refuses bad names and values, saying which and where", function()
    local op = offline("postgresql")
    local cases = {
      {function() op.create_index("i", "t", {{"a", opclass = "x; DROP TABLE t"}}) end,
       'create_index: column 1: opclass must be an operator class name (like "text_pattern_ops"), got string "x; DROP TABLE t"'},
      {function() op.create_index("i", "t", {"a"}, {postgresql_ops = {a = "gin_trgm_ops)"}}) end,
       'create_index: option "postgresql_ops": the operator class of "a" must be a name (like "gin_trgm_ops"), got string "gin_trgm_ops)"'},
      {function() op.create_index("i", "t", {"a"}, {postgresql_ops = {b = "x_ops"}}) end,
       'create_index: option "postgresql_ops" names string "b", which is not a column of the index (a)'},
      {function() op.create_index("i", "t", {{"a", order = "sideways"}}) end,
       'create_index: column 1: order must be "asc" or "desc", got string "sideways"'},
      {function() op.create_index("i", "t", {{"a", nulls = "middle"}}) end,
       'create_index: column 1: nulls must be "first" or "last", got string "middle"'},
      {function() op.create_index("i", "t", {{"a", sort = "desc"}}) end,
       'create_index: column 1: unknown key "sort" (a column entry is {"name" or op.raw(...), order = "asc" | "desc", nulls = "first" | "last", collate = "name", opclass = "name"})'},
      {function() op.create_index("i", "t", {{42}}) end,
       "create_index: column 1 must start with a column name or op.raw(...), got integer"},
      {function() op.create_index("i", "t", {"a"}, {postgresql_with = {["fillfactor = 1); DROP TABLE t; --"] = 1}}) end,
       'create_index: option "postgresql_with": a storage parameter\'s name must be a name like "fillfactor", got string "fillfactor = 1); DROP TABLE t; --"'},
      {function() op.create_index("i", "t", {"a"}, {postgresql_with = {fillfactor = 0/0}}) end,
       'create_index: option "postgresql_with": fillfactor must be a number, a boolean or a non-empty string, got float'},
      {function() op.create_index("i", "t", {{"a", opclass = "x_ops"}}, {postgresql_ops = {a = "y_ops"}}) end,
       'create_index: column "a" has two operator classes (x_ops and y_ops)'},
      {function() op.create_index("i", "t", {"a"}, {postgresql_nulls_not_distinct = "yes"}) end,
       'create_index: option "postgresql_nulls_not_distinct" must be a boolean, got string "yes"'},
    }
    for _, c in ipairs(cases) do
      local msg, line = error_of(c[1])
      assert.equal(c[2], msg)
      assert.truthy(line)
    end
    -- a value that is not a word is a quoted literal
    local op2, out = offline("postgresql")
    op2.create_index("i", "t", {"a"}, {postgresql_with = {buffering = "it's", fillfactor = 70.5, fastupdate = false}})
    assert.same({[[CREATE INDEX "i" ON "t" ("a") WITH (buffering = 'it''s', fastupdate = false, fillfactor = 70.5)]]}, out)
  end)

  describe("[sqlite]", function()
    it("PostgreSQL-only options are an error naming the option and the guard, at the script's line", function()
      local op = offline("sqlite")
      local guard = 'guard the PostgreSQL-only part with `if op.dialect == "postgresql" then ... end`'
      local cases = {
        {{postgresql_using = "gin"}, 'option "postgresql_using"'},
        {{using = "gin"}, 'option "postgresql_using"'},
        {{postgresql_include = {"b"}}, 'option "postgresql_include"'},
        {{postgresql_with = {fillfactor = 70}}, 'option "postgresql_with"'},
        {{postgresql_ops = {a = "text_pattern_ops"}}, 'option "postgresql_ops"'},
        {{postgresql_nulls_not_distinct = true, unique = true}, 'option "postgresql_nulls_not_distinct"'},
        {{postgresql_concurrently = true}, 'option "postgresql_concurrently"'},
      }
      for _, c in ipairs(cases) do
        local line = here() + 1
        local msg, at = error_of(function() op.create_index("i", "t", {"a"}, c[1]) end)
        assert.equal("create_index: " .. c[2] .. " is PostgreSQL's, and SQLite has no such index option; "
          .. guard, msg)
        assert.equal(line, at)
      end
      assert.equal("create_index: column 1: opclass text_pattern_ops is PostgreSQL's, and SQLite has no such "
        .. "index option; " .. guard, (error_of(op.create_index, "i", "t", {{"a", opclass = "text_pattern_ops"}})))
      assert.equal("create_index: column 1: nulls (NULLS LAST) is PostgreSQL's, and SQLite has no such "
        .. "index option; " .. guard, (error_of(op.create_index, "i", "t", {{"a", nulls = "last"}})))
      -- an op.raw element read as a column follows the column's rename in an offline rebuild
      local op3, out3 = offline("sqlite")
      op3.create_table("t", {{"id", "integer", primary_key = true}, {"name", "text"}})
      op3.create_index("ix_n", "t", {op3.raw("name DESC")})
      op3.batch_alter_table("t", function(b) b.alter_column("name", {new_column_name = "nom", type = "string(20)"}) end)
      assert.equal('CREATE INDEX "ix_n" ON "t" (name DESC)', out3[2])
      assert.equal('CREATE INDEX "ix_n" ON "t" ("nom" DESC)', out3[#out3])
      local conn = core.connect((h.fresh_sqlite()))
      for _, sql in ipairs(out3) do conn:exec(sql) end
      assert.same({{sql = 'CREATE INDEX "ix_n" ON "t" ("nom" DESC)'}},
        conn:query("SELECT sql FROM sqlite_master WHERE name = 'ix_n'"))
      conn:close()
      -- postgresql_where is the partial index SQLite has too (as before)
      local op2, out = offline("sqlite")
      op2.create_index("i", "t", {"a"}, {postgresql_where = "a > 0"})
      assert.same({'CREATE INDEX "i" ON "t" ("a") WHERE a > 0'}, out)
    end)
  end)

  h.each_db(function(db)
    local pg = db.name == "postgresql"
    local conn, op
    before_each(function()
      conn = db.connect()
      op = luamig_op.new{conn = conn}
      op.create_table("t", {{"id", "integer", primary_key = true}, {"name", "text"}, {"n", "integer"},
                            {"doc", pg and "jsonb" or "text"}})
      conn:exec("INSERT INTO t (name, n) VALUES ('b', 1), ('a', 2), (NULL, 3), ('A', NULL)")
    end)
    after_each(function() conn:close() end)

    local function declare(fn)
      local rop, store = record.new(db.name)
      fn(rop)
      return {dialect = db.name, tables = store.tables, order = store.order}
    end
    local function base(o)
      o.create_table("t", {{"id", "integer", primary_key = true}, {"name", "text"}, {"n", "integer"},
                           {"doc", pg and "jsonb" or "text"}})
    end
    local function described(declared)
      local out = {}
      for i, d in ipairs(autogen.describe(autogen.compare(conn, declared), {dialect = db.name})) do
        out[i] = d.description
      end
      return out
    end

    it("per-column order and collation: the index the database has, read back, and check finds nothing", function()
      local function indexes(o)
        o.create_index("ix_order", "t", {{"n", order = "desc"}, {"name", order = "asc"}})
        o.create_index("ix_coll", "t", {{"name", collate = pg and "C" or "NOCASE", order = "desc"}})
        o.create_index("ix_raw", "t", {o.raw("n DESC"), o.raw("lower(name) DESC")})
      end
      indexes(op)
      local ix = introspect.table(conn, "t").indexes
      assert.same({"ix_coll", "ix_order", "ix_raw"}, {ix[1].name, ix[2].name, ix[3].name})
      assert.same({{order = "desc", collate = pg and "C" or "NOCASE"}}, ix[1].column_options)
      assert.same({{order = "desc"}}, ix[2].column_options)
      assert.same({"n", "name"}, ix[2].columns)
      assert.same({"n", {expr = "lower(name)"}}, ix[3].columns)
      assert.same({{order = "desc"}, {order = "desc"}}, ix[3].column_options)
      if not pg then
        assert.same({{sql = 'CREATE INDEX "ix_coll" ON "t" ("name" COLLATE "NOCASE" DESC)'}},
          conn:query("SELECT sql FROM sqlite_master WHERE name = 'ix_coll'"))
      else
        assert.same({{d = 'CREATE INDEX ix_coll ON public.t USING btree (name COLLATE "C" DESC)'}},
          conn:query("SELECT pg_get_indexdef('ix_coll'::regclass) AS d"))
      end
      assert.same({}, described(declare(function(o) base(o); indexes(o) end)))
      -- a changed order is a difference (the index dropped and made again)
      local changed = declare(function(o)
        base(o)
        o.create_index("ix_order", "t", {{"n", order = "asc"}, {"name", order = "asc"}})
        o.create_index("ix_coll", "t", {{"name", collate = pg and "C" or "NOCASE", order = "desc"}})
        o.create_index("ix_raw", "t", {o.raw("n DESC"), o.raw("lower(name) DESC")})
      end)
      assert.same({"removed index 'ix_order' on 't'", "added index 'ix_order' on 't'"}, described(changed))
    end)

    it("hostile names and op.raw elements: the database takes every rendering (the oracle), and check finds nothing", function()
      conn:exec([[CREATE TABLE "we""ird" ("a b" text, "select" text, "Ünï" text, n integer, "--x" text)]])
      local raw = op.raw
      local cases = {
        -- {columns, options, PostgreSQL's text, SQLite's text}
        {{raw('"a b" DESC')}, nil, [["a b" DESC]], [["a b" DESC]]},
        {{raw('n IS NULL')}, nil, [[(n IS NULL)]], [[n IS NULL]]},
        {{raw('n + 1 DESC')}, nil, [[(n + 1) DESC]], [[n + 1 DESC]]},
        {{raw('"select" || "a b" DESC')}, nil, [[("select" || "a b") DESC]], [["select" || "a b" DESC]]},
        {{raw('coalesce(n, 0) DESC')}, nil, [[coalesce(n, 0) DESC]], [[coalesce(n, 0) DESC]]},
        {{raw('CASE WHEN n > 0 THEN 1 ELSE 0 END')}, nil, [[(CASE WHEN n > 0 THEN 1 ELSE 0 END)]],
         [[CASE WHEN n > 0 THEN 1 ELSE 0 END]]},
        {{raw('upper("select") ASC, n')}, nil, [[upper("select") ASC, n]], [[upper("select") ASC, n]]},
        {{raw('n -- a comment')}, nil, "n -- a comment\n", "n -- a comment\n"},
        {{raw('n + 1 -- a comment')}, nil, "(n + 1) -- a comment\n", "n + 1 -- a comment\n"},
        {{{"--x", order = "desc"}, {"Ünï", collate = pg and "C" or "NOCASE"}}, nil,
         [["--x" DESC, "Ünï" COLLATE "C"]], [["--x" DESC, "Ünï" COLLATE "NOCASE"]]},
        {{{raw('lower("a b")'), order = "desc"}}, nil, [[lower("a b") DESC]], [[lower("a b") DESC]]},
      }
      if pg then
        local more = {
          {{raw('"a b" COLLATE "C" text_pattern_ops DESC NULLS FIRST')}, nil,
           [["a b" COLLATE "C" text_pattern_ops DESC NULLS FIRST]]},
          {{raw('"a b"::varchar varchar_pattern_ops')}, nil, [[("a b"::varchar) varchar_pattern_ops]]},
          {{raw('lower("a b") COLLATE "C"')}, nil, [[lower("a b") COLLATE "C"]]},
          {{raw('"Ünï" pg_catalog.text_pattern_ops')}, nil, [["Ünï" pg_catalog.text_pattern_ops]]},
          {{{"select", opclass = "pg_catalog.text_pattern_ops", order = "DESC", nulls = "FIRST"}}, nil,
           [["select" pg_catalog.text_pattern_ops DESC NULLS FIRST]]},
          {{{raw('lower("a b")'), opclass = "text_pattern_ops", collate = "C"}}, nil,
           [[lower("a b") COLLATE "C" text_pattern_ops]]},
          {{"n"}, {using = "brin", postgresql_with = {pages_per_range = 32, autosummarize = true}},
           [["n") WITH (autosummarize = true, pages_per_range = 32]]},
          {{"n"}, {include = {"a b", "Ünï"}, postgresql_with = {fillfactor = "70"}},
           [["n") INCLUDE ("a b", "Ünï") WITH (fillfactor = 70]]},
        }
        for _, c in ipairs(more) do cases[#cases + 1] = c end
      end
      local declared = {}
      for i, c in ipairs(cases) do
        local name = ("ix %d"):format(i)
        local sql = {}
        local oop = luamig_op.new{dialect = db.name, emit = function(text) sql[#sql + 1] = text end}
        oop.create_index(name, 'we"ird', c[1], c[2])
        local want = pg and c[3] or c[4]
        assert.truthy(sql[1]:find("(" .. want .. ")", 1, true) or sql[1]:find("(" .. want, 1, true), sql[1])
        op.create_index(name, 'we"ird', c[1], c[2])      -- the database takes it
        declared[#declared + 1] = {name, c[1], c[2]}
      end
      local pairable = declare(function(o)
        base(o)
        o.create_table('we"ird', {{"a b", "text"}, {"select", "text"}, {"Ünï", "text"}, {"n", "integer"}, {"--x", "text"}})
        for _, d in ipairs(declared) do o.create_index(d[1], 'we"ird', d[2], d[3]) end
      end)
      local found = described(pairable)
      if pg then
        -- PostgreSQL reads the declared indexes back as it spells them (autogen's temporary table)
        assert.same({}, found)
      else
        -- SQLite compares expressions as written: several elements in one op.raw, and a
        -- comment, differ from what the database reads back
        assert.same({"removed index 'ix 7' on 'we\"ird'", "removed index 'ix 8' on 'we\"ird'",
                     "removed index 'ix 9' on 'we\"ird'", "added index 'ix 7' on 'we\"ird'",
                     "added index 'ix 8' on 'we\"ird'", "added index 'ix 9' on 'we\"ird'"}, found)
      end
    end)

    if pg then
      it("operator classes (pg_trgm's gin_trgm_ops), methods, INCLUDE, WITH and NULLS NOT DISTINCT", function()
        conn:exec("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        local function indexes(o)
          o.create_index("ix_trgm", "t", {"name"}, {postgresql_using = "gin", postgresql_ops = {name = "gin_trgm_ops"}})
          o.create_index("ix_trgm_raw", "t", {o.raw('"name" gin_trgm_ops')}, {using = "gin"})
          o.create_index("ix_path", "t", {{"doc", opclass = "jsonb_path_ops"}}, {using = "gin"})
          o.create_index("ix_pattern", "t", {{"name", opclass = "text_pattern_ops", order = "desc", nulls = "last"}})
          o.create_index("ix_cover", "t", {"n"}, {unique = true, postgresql_include = {"name"},
            postgresql_with = {fillfactor = 70, deduplicate_items = "off"}, postgresql_nulls_not_distinct = true})
        end
        indexes(op)
        local defs = {}
        for _, r in ipairs(conn:query([[SELECT indexname, indexdef FROM pg_indexes
                                        WHERE tablename = 't' AND indexname LIKE 'ix\_%' ORDER BY 1]])) do
          defs[r.indexname] = r.indexdef
        end
        assert.same({
          ix_cover = "CREATE UNIQUE INDEX ix_cover ON public.t USING btree (n) INCLUDE (name) NULLS NOT DISTINCT "
            .. "WITH (deduplicate_items=off, fillfactor='70')",
          ix_path = "CREATE INDEX ix_path ON public.t USING gin (doc jsonb_path_ops)",
          ix_pattern = "CREATE INDEX ix_pattern ON public.t USING btree (name text_pattern_ops DESC NULLS LAST)",
          ix_trgm = "CREATE INDEX ix_trgm ON public.t USING gin (name gin_trgm_ops)",
          ix_trgm_raw = "CREATE INDEX ix_trgm_raw ON public.t USING gin (name gin_trgm_ops)",
        }, defs)
        -- the trigram index answers a LIKE '%x%' and NULLS NOT DISTINCT refuses a second NULL
        assert.same({{name = "b"}}, conn:query("SELECT name FROM t WHERE name LIKE '%b%'"))
        local ok, err = pcall(conn.exec, conn, "INSERT INTO t (name, n) VALUES ('y', NULL)")
        assert.is_false(ok)
        assert.matches('duplicate key value violates unique constraint "ix_cover"', tostring(err.message))
        -- read back: check finds nothing
        local ix = {}
        for _, i in ipairs(introspect.table(conn, "t").indexes) do ix[i.name] = i end
        assert.same({[1] = {opclass = "gin_trgm_ops"}}, ix.ix_trgm.column_options)
        assert.same({[1] = {opclass = "text_pattern_ops", order = "desc", nulls = "last"}}, ix.ix_pattern.column_options)
        assert.same({fillfactor = "70", deduplicate_items = "off"}, ix.ix_cover.with)
        assert.is_true(ix.ix_cover.nulls_not_distinct)
        assert.same({}, described(declare(function(o) base(o); indexes(o) end)))
        -- each changed option is a difference, rendered back with the option
        local changed = declare(function(o)
          base(o)
          o.create_index("ix_trgm", "t", {"name"}, {using = "gin"})            -- opclass gone: an error on gin, but a difference
          o.create_index("ix_trgm_raw", "t", {o.raw('"name" gin_trgm_ops')}, {using = "gin"})
          o.create_index("ix_path", "t", {{"doc", opclass = "jsonb_path_ops"}}, {using = "gin"})
          o.create_index("ix_pattern", "t", {{"name", opclass = "text_pattern_ops", order = "desc"}})  -- NULLS FIRST
          o.create_index("ix_cover", "t", {"n"}, {unique = true, include = {"name"},
            with = {fillfactor = 80, deduplicate_items = "off"}})                -- NULLs distinct again
        end)
        local ops = autogen.compare(conn, changed)
        local codes = {}
        for i, o in ipairs(ops) do codes[i] = require("luamig.autogen.render").op(o, {dialect = "postgresql"}) end
        table.sort(codes)
        assert.same({
          'op.create_index("ix_cover", "t", {"n"}, {unique = true, include = {"name"}, with = {deduplicate_items = "off", fillfactor = 80}})',
          'op.create_index("ix_pattern", "t", {{"name", order = "desc", opclass = "text_pattern_ops"}})',
          'op.create_index("ix_trgm", "t", {"name"}, {using = "gin"})',
          'op.drop_index("ix_cover", "t")',
          'op.drop_index("ix_pattern", "t")',
          'op.drop_index("ix_trgm", "t")',
        }, codes)
        -- and the live indexes rendered back are the declarations, applied again: nothing
        local live = introspect.schema(conn)
        local up = {}
        for _, i in ipairs(live.tables.t.indexes) do
          up[#up + 1] = require("luamig.autogen.render").op({kind = "create_index", table = "t", index = i},
                                                             {dialect = "postgresql"})
        end
        assert.truthy(table.concat(up, "\n"):find(
          'op.create_index("ix_cover", "t", {"n"}, {unique = true, include = {"name"}, with = {deduplicate_items = "off", fillfactor = 70}, nulls_not_distinct = true})', 1, true))
        assert.truthy(table.concat(up, "\n"):find(
          'op.create_index("ix_pattern", "t", {{"name", order = "desc", nulls = "last", opclass = "text_pattern_ops"}})', 1, true))
      end)

      it("NULLS NOT DISTINCT on a server before 15 is a clear error naming the server's version", function()
        local fake = setmetatable({query = function(_, sql)
          if sql == "SHOW server_version_num" then return {{server_version_num = "140011"}} end
          return conn:query(sql)
        end}, {__index = function(_, k) return function(_, ...) return conn[k](conn, ...) end end})
        local op14 = luamig_op.new{conn = fake, dialect = "postgresql"}
        local msg = error_of(op14.create_index, "ix_nnd", "t", {"n"}, {unique = true, postgresql_nulls_not_distinct = true})
        assert.equal("create_index: postgresql_nulls_not_distinct needs PostgreSQL 15 or later, and the server is "
          .. "14.11; drop the option (NULLs are then distinct) or upgrade the server", msg)
        assert.same({}, conn:query("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_nnd'"))
      end)
    end
  end)
end)

-- luamig check and revision --autogenerate, black-box
h.each_db(function(db)
  local pg = db.name == "postgresql"
  it("check after a migration made indexes with options finds nothing; a changed option is an operation that --autogenerate writes", function()
    local function indexes(fill, order)
      return table.concat({
        '  op.create_table("t", {{"id", "integer", primary_key = true}, {"name", "text"}, {"n", "integer"}})',
        ('  op.create_index("ix_t_n", "t", {{"n", order = "%s"}, {"name", collate = "%s"}})'):format(order, pg and "C" or "NOCASE"),
        pg and ('  op.create_index("ix_t_name", "t", {"name"}, {postgresql_ops = {name = "text_pattern_ops"}, '
          .. 'postgresql_include = {"n"}, postgresql_with = {fillfactor = %d}, unique = true, postgresql_nulls_not_distinct = true})'):format(fill) or "",
      }, "\n")
    end
    local dir = h.project({{id = "a1", code = true, up = indexes(70, "desc"), down_sql = '  op.drop_table("t")'}})
    h.write_file(dir .. "/schema.lua", "function schema(op)\n" .. indexes(70, "desc") .. "\nend\n")
    local url = db.url()
    local function run(args) return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args) end
    assert.equal(0, (run("upgrade head")))
    local status, out, err = run("-q check")
    assert.equal(0, status, err)
    assert.equal("No new upgrade operations detected.\n", out)
    h.write_file(dir .. "/schema.lua", "function schema(op)\n" .. indexes(80, "asc") .. "\nend\n")
    status, out = run("-q check")
    assert.equal(1, status)
    local want = {'op.drop_index("ix_t_n", "t")',
                  ('op.create_index("ix_t_n", "t", {"n", {"name", collate = "%s"}})'):format(pg and "C" or "NOCASE")}
    if pg then
      table.insert(want, 1, 'op.drop_index("ix_t_name", "t")')
      want[#want + 1] = 'op.create_index("ix_t_name", "t", {{"name", opclass = "text_pattern_ops"}}, {unique = true, '
        .. 'include = {"n"}, with = {fillfactor = 80}, nulls_not_distinct = true})'
    end
    local got = h.lines(out)
    table.sort(got)
    table.sort(want)
    assert.same(want, got)
    status, out, err = run("revision --autogenerate -m options")
    assert.equal(0, status, err)
    assert.equal(0, (run("upgrade head")))
    status, out, err = run("-q check")
    assert.equal(0, status, out .. err)
    if pg then
      assert.same({{d = "CREATE UNIQUE INDEX ix_t_name ON public.t USING btree (name text_pattern_ops) INCLUDE (n) "
        .. "NULLS NOT DISTINCT WITH (fillfactor='80')"}}, h.query(url, "SELECT pg_get_indexdef('ix_t_name'::regclass) AS d"))
    end
    -- and back: the generated downgrade restores the options (down to a1: on PostgreSQL
    -- autogenerate wrote two revisions, the indexes built concurrently in the second)
    assert.equal(0, (run("downgrade a1")))
    if pg then
      assert.same({{d = "CREATE UNIQUE INDEX ix_t_name ON public.t USING btree (name text_pattern_ops) INCLUDE (n) "
        .. "NULLS NOT DISTINCT WITH (fillfactor='70')"}, {d = 'CREATE INDEX ix_t_n ON public.t USING btree (n DESC, name COLLATE "C")'}},
        h.query(url, "SELECT pg_get_indexdef(c.oid) AS d FROM pg_class c WHERE relname IN ('ix_t_name', 'ix_t_n') ORDER BY relname DESC"))
    else
      assert.same({{sql = 'CREATE INDEX "ix_t_n" ON "t" ("n" DESC, "name" COLLATE "NOCASE")'}},
        h.query(url, "SELECT sql FROM sqlite_master WHERE name = 'ix_t_n'"))
    end
  end)
end)

---------------------------------------------------------------------------
-- op.autocommit_block, run by luamig

local function rev(id, down, up, extra, down_code)
  return {id = id, down = down, code = true, up = up, down_sql = down_code or "", extra = extra}
end

h.each_db(function(db)
  local pg = db.name == "postgresql"
  local function run(dir, url, args, env)
    return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args, env)
  end
  local function has_table(url, name)
    return #h.query(url, pg and "SELECT 1 FROM pg_tables WHERE tablename = $1"
      or "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1", {name}) == 1
  end
  local function has_index(url, name)
    return #h.query(url, pg and "SELECT 1 FROM pg_indexes WHERE indexname = $1"
      or "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = $1", {name}) == 1
  end
  local conc = pg and ", {postgresql_concurrently = true}" or ""
  local base = rev("a1", nil, [[  op.create_table("t", {{"id", "integer", primary_key = true}, {"name", "text"}})]])

  describe("op.autocommit_block", function()
    it("commits what came before, runs the block outside a transaction (CREATE INDEX CONCURRENTLY), and goes on", function()
      local dir = h.project({base, rev("b2", "a1", ([[
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.autocommit_block(function()
    op.create_index("ix_t_name", "t", {"name"}%s)
    op.execute("INSERT INTO t (name) VALUES ('in block')")
  end)
  op.create_table("v", {{"id", "integer", primary_key = true}})]]):format(conc), nil, ([[
  op.drop_table("v")
  op.autocommit_block(function() op.drop_index("ix_t_name", "t"%s) end)
  op.drop_table("u")]]):format(conc))})
      local url = db.url()
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(0, status, err)
      assert.same({"b2"}, h.version_rows(url))
      assert.is_true(has_index(url, "ix_t_name"))
      assert.is_true(has_table(url, "u") and has_table(url, "v"))
      assert.same({{name = "in block"}}, h.query(url, "SELECT name FROM t"))
      assert.same({"INFO  [luamig] upgrade b2 (revision b2): 2 statements ran outside a transaction "
        .. "(op.autocommit_block); what the step did before the block is committed"}, h.grep(err, "outside a transaction"))
      if pg then
        assert.same({{indisvalid = true}}, h.query(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_t_name'::regclass"))
      end
      -- down: DROP INDEX CONCURRENTLY in a block
      status, _, err = run(dir, url, "downgrade a1")
      assert.equal(0, status, err)
      assert.same({"a1"}, h.version_rows(url))
      assert.is_false(has_index(url, "ix_t_name") or has_table(url, "u") or has_table(url, "v"))
      assert.same({"INFO  [luamig] downgrade b2 (revision b2): 1 statement ran outside a transaction "
        .. "(op.autocommit_block); what the step did before the block is committed"}, h.grep(err, "outside a transaction"))
    end)

    if pg then
      it("without the block CREATE INDEX CONCURRENTLY fails with PostgreSQL's message, and nothing of the step stays", function()
        local dir = h.project({base, rev("b2", "a1", [[
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.execute('CREATE INDEX CONCURRENTLY "ix_t_name" ON "t" ("name")')]])})
        local url = db.url()
        local status, _, err = run(dir, url, "upgrade head")
        assert.equal(1, status)
        assert.truthy(err:find("CREATE INDEX CONCURRENTLY cannot run inside a transaction block", 1, true), err)
        assert.same({"a1"}, h.version_rows(url))
        assert.is_false(has_table(url, "u"))
      end)
    end

    it("postgresql_concurrently outside a block in a transactional step: a clear error pointing to the block", function()
      if not pg then return end
      for _, what in ipairs({'op.create_index("ix_t_name", "t", {"name"}, {postgresql_concurrently = true})',
                             'op.drop_index("ix_t_name", "t", {postgresql_concurrently = true})'}) do
        local dir = h.project({base, rev("b2", "a1", "  " .. what)})
        local url = db.url()
        local status, _, err = run(dir, url, "upgrade head")
        assert.equal(1, status)
        local verb = what:find("drop_index") and "drop_index" or "create_index"
        assert.truthy(err:find(("migrations/versions/b2.lua:8: %s: postgresql_concurrently cannot run inside the "
          .. 'transaction luamig opened for this step (PostgreSQL: "%s INDEX CONCURRENTLY cannot run inside a '
          .. 'transaction block"); put it in op.autocommit_block(function() ... end), or mark the revision '
          .. "transactional = false"):format(verb, verb == "drop_index" and "DROP" or "CREATE"), 1, true), err)
        assert.same({"a1"}, h.version_rows(url))
        -- offline too: a script that would fail is not written
        status, _, err = run(dir, db.url(), "upgrade head --sql")
        assert.equal(1, status)
        assert.truthy(err:find("postgresql_concurrently cannot run inside the transaction", 1, true), err)
      end
      -- in a transactional = false step it runs
      local dir = h.project({base, rev("b2", "a1", '  op.create_index("ix_t_name", "t", {"name"}, {postgresql_concurrently = true})',
                                      "transactional = false")})
      local url = db.url()
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(0, status, err)
      assert.is_true(has_index(url, "ix_t_name"))
    end)

    it("a failure after the block leaves the committed part and the previous version row, and says so", function()
      local dir = h.project({base, rev("b2", "a1", ([[
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.autocommit_block(function()
    op.create_index("ix_t_name", "t", {"name"}%s)
  end)
  op.create_table("v", {{"id", "integer", primary_key = true}})
  op.execute("SELECT * FROM no_such_table")]]):format(conc))})
      local url = db.url()
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(1, status)
      assert.same({"a1"}, h.version_rows(url))
      assert.is_true(has_table(url, "u"))                -- before the block: committed
      assert.is_true(has_index(url, "ix_t_name"))        -- the block: outside a transaction
      assert.is_false(has_table(url, "v"))               -- after the block: rolled back
      assert.truthy(err:find("This step used op.autocommit_block: what it did before the block is already "
        .. "committed and the block's statements ran outside a transaction, so they stay applied (what ran "
        .. "after the block was rolled back), and the version table still says a1. Check the database, then "
        .. "either undo that part by hand and run again, or finish it by hand and `luamig stamp b2`.", 1, true), err)
      assert.truthy(err:find("FAILED: upgrade b2 (revision b2): migrations/versions/b2.lua:13: ", 1, true), err)
    end)

    it("a failure inside the block: the part before it stays, the version row is the previous one", function()
      local dir = h.project({base, rev("b2", "a1", [[
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.autocommit_block(function()
    op.execute("INSERT INTO t (name) VALUES ('kept')")
    op.execute("SELECT * FROM no_such_table")
  end)]])})
      local url = db.url()
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(1, status)
      assert.same({"a1"}, h.version_rows(url))
      assert.is_true(has_table(url, "u"))
      assert.same({{name = "kept"}}, h.query(url, "SELECT name FROM t"))
      assert.truthy(err:find("migrations/versions/b2.lua:11: ", 1, true), err)
      assert.truthy(err:find("This step failed inside op.autocommit_block", 1, true), err)
      -- and the same command once the script is mended goes on from there
      h.write_file(dir .. "/migrations/versions/b2.lua", h.script(rev("b2", "a1", [[
  op.create_table("u", {{"id", "integer", primary_key = true}}, {if_not_exists = true})]])))
      status, _, err = run(dir, url, "upgrade head")
      assert.equal(0, status, err)
      assert.same({"b2"}, h.version_rows(url))
    end)

    it("with transaction_per_migration = false it commits the steps before too, and says where the database is", function()
      local dir = h.project({base,
        rev("b2", "a1", [[  op.create_table("u", {{"id", "integer", primary_key = true}})]]),
        rev("c3", "b2", [[
  op.create_table("v", {{"id", "integer", primary_key = true}})
  op.autocommit_block(function() op.execute("INSERT INTO u DEFAULT VALUES") end)
  op.execute("SELECT * FROM no_such_table")]])}, "transaction_per_migration = false\n")
      local url = db.url()
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(1, status)
      assert.same({"b2"}, h.version_rows(url))           -- a1 and b2 committed by the block
      assert.is_true(has_table(url, "v"))
      assert.same({{n = 1}}, h.query(url, "SELECT count(*) AS n FROM u"))
      assert.truthy(err:find("the version table still says b2", 1, true), err)
    end)

    it("in a transactional = false step the block just runs", function()
      local dir = h.project({base, rev("b2", "a1", ([[
  op.autocommit_block(function()
    op.create_index("ix_t_name", "t", {"name"}%s)
  end)]]):format(conc), "transactional = false")})
      local url = db.url()
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(0, status, err)
      assert.same({"b2"}, h.version_rows(url))
      assert.is_true(has_index(url, "ix_t_name"))
      assert.same({"INFO  [luamig] upgrade b2 (revision b2): 1 statement ran outside a transaction "
        .. "(op.autocommit_block)"}, h.grep(err, "statement ran outside"))
    end)

    it("--sql writes COMMIT; before the block and BEGIN; after it, and the script runs in the database's shell", function()
      local dir = h.project({base, rev("b2", "a1", ([[
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.autocommit_block(function()
    op.create_index("ix_t_name", "t", {"name"}%s)
  end)
  op.create_table("v", {{"id", "integer", primary_key = true}})]]):format(conc))})
      local _, offline_url, sql = h.online_and_offline(db, dir)
      local i_u = sql:find('CREATE TABLE "u"', 1, true)
      local i_ix = sql:find('CREATE INDEX ' .. (pg and "CONCURRENTLY " or "") .. '"ix_t_name"', 1, true)
      local i_v = sql:find('CREATE TABLE "v"', 1, true)
      assert.truthy(i_u and i_ix and i_v, sql)
      local between = sql:sub(i_u, i_v)
      assert.truthy(between:find('\n\nCOMMIT;\n\nCREATE INDEX', 1, true), between)
      assert.truthy(between:find('"name");\n\nBEGIN;\n\n', 1, true), between)
      assert.same({"b2"}, h.version_rows(offline_url))
      assert.is_true(has_index(offline_url, "ix_t_name"))
    end)

    it("Ctrl-C inside the block: what ran before and in it stays, the version row is the previous one, exit 130", function()
      local long = pg and "SELECT pg_sleep(60)"
        or "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c"
      local dir = h.project({base, rev("b2", "a1", ([[
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.autocommit_block(function()
    op.execute("INSERT INTO t (name) VALUES ('in block')")
    op.execute("%s")
  end)]]):format(long))})
      local url = db.url()
      h.write_file(dir .. "/interrupt.sh", ([[
cd %s || exit 99
%s --url %s upgrade head 2>err.txt & pid=$!
i=0; while ! grep -q 'Running upgrade a1 -> b2' err.txt 2>/dev/null; do
  i=$((i+1)); [ $i -gt 200 ] && break; sleep 0.05; done
sleep 0.5
kill -INT $pid
(sleep 20; kill -KILL $pid) >/dev/null 2>&1 & watchdog=$!
wait $pid; rc=$?; kill $watchdog 2>/dev/null
echo "$rc"]]):format(h.shell_quote(dir), h.shell_quote(h.bin), h.shell_quote(url)))
      local _, out = h.run("sh " .. h.shell_quote(dir .. "/interrupt.sh"))
      local err = h.read_file(dir .. "/err.txt") or ""
      assert.equal("130\n", out, err)
      assert.truthy(err:find("interrupted (Ctrl-C) during upgrade b2 (revision b2): this step used op.autocommit_block: "
        .. "what it did before the block and in it stays applied, and the version table still says a1. Check the "
        .. "database, then either undo that part by hand and run again, or finish it by hand and `luamig stamp b2`.",
        1, true), err)
      assert.same({"a1"}, h.version_rows(url))
      assert.is_true(has_table(url, "u"))
      assert.same({{name = "in block"}}, h.query(url, "SELECT name FROM t"))
    end)

    if pg then
      it("--sql has Alembic 1.8's shape for the same script (the oracle: alembic upgrade head --sql)", function()
        local adir = h.tmpdir()
        local status, _, err = h.run(("cd %s && /usr/bin/python3 -m alembic init al"):format(h.shell_quote(adir)))
        assert.equal(0, status, err)
        h.run(("cd %s && sed -i 's#^sqlalchemy.url.*#sqlalchemy.url = postgresql://x@localhost/x#' alembic.ini")
          :format(h.shell_quote(adir)))
        h.write_file(adir .. "/al/versions/b2.py", table.concat({
          'revision = "b2"', "down_revision = None", "branch_labels = None", "depends_on = None",
          "from alembic import op", "import sqlalchemy as sa", "def upgrade():",
          '    op.create_table("u", sa.Column("id", sa.Integer, primary_key=True))',
          "    with op.get_context().autocommit_block():",
          '        op.create_index("ix_t_name", "t", ["name"], postgresql_concurrently=True)',
          '    op.create_table("v", sa.Column("id", sa.Integer, primary_key=True))',
          "def downgrade():", "    pass", ""}, "\n"))
        local alembic_sql
        status, alembic_sql, err = h.run(("cd %s && /usr/bin/python3 -m alembic upgrade head --sql")
          :format(h.shell_quote(adir)))
        assert.equal(0, status, err)
        local dir = h.project({rev("b2", nil, [[
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.autocommit_block(function()
    op.create_index("ix_t_name", "t", {"name"}, {postgresql_concurrently = true})
  end)
  op.create_table("v", {{"id", "integer", primary_key = true}})]])})
        local sql
        status, sql, err = run(dir, db.url(), "upgrade head --sql")
        assert.equal(0, status, err)
        -- the transaction statements around the step's own, from the step's BEGIN on
        local function shape(text)
          local out = {}
          for line in text:gmatch("[^\n]+") do
            local m = line:match("^(BEGIN);") or line:match("^(COMMIT);")
              or (line:match('^CREATE TABLE "?([uv])"?') and "CREATE TABLE " .. line:match('^CREATE TABLE "?([uv])"?'))
              or (line:match("^CREATE INDEX CONCURRENTLY") and "CREATE INDEX CONCURRENTLY")
              or ((line:match("^INSERT INTO %S*_version") or line:match("^UPDATE %S*_version")) and "version row")
            if m then out[#out + 1] = m end
          end
          local from
          for i, m in ipairs(out) do if m == "CREATE TABLE u" then from = i - 1; break end end
          return table.move(out, from, #out, 1, {})
        end
        local want = {"BEGIN", "CREATE TABLE u", "COMMIT", "CREATE INDEX CONCURRENTLY", "BEGIN", "CREATE TABLE v",
                      "version row", "COMMIT"}
        assert.same(want, shape(alembic_sql))
        assert.same(want, shape(sql))
      end)
    end

    it("refuses a non-function, nesting, and a call outside a step", function()
      local dir = h.project({base, rev("b2", "a1", [[
  op.autocommit_block(function()
    op.autocommit_block(function() end)
  end)]])})
      local url = db.url()
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(1, status)
      assert.truthy(err:find("migrations/versions/b2.lua:9: autocommit_block: already inside one (blocks do not nest)", 1, true), err)
      assert.same({"a1"}, h.version_rows(url))
      local op = luamig_op.new{dialect = db.name, emit = function() end}
      assert.equal("autocommit_block: argument 1 must be a function (op.autocommit_block(function() ... end)), got string \"x\"",
        (error_of(op.autocommit_block, "x")))
      -- an embedder's op (no luamig run): the block runs; in the embedder's own transaction it is refused
      local conn = db.connect()
      local eop = luamig_op.new{conn = conn}
      eop.autocommit_block(function() eop.create_table("w", {{"id", "integer"}}) end)
      assert.truthy(introspect.table(conn, "w"))
      local tx = conn:begin()
      assert.equal("autocommit_block: the connection is in a transaction that luamig did not open; commit it "
        .. "before the block, or run the migration with luamig", (error_of(eop.autocommit_block, function() end)))
      tx:rollback()
      conn:close()
    end)
  end)
end)

---------------------------------------------------------------------------
-- Found by an outside attack (ATTACK_A: defect 1, L1, L2, L3), and the
-- message a lost connection gives after an autocommit block.

describe("outside attack", function()
  it("method and operator class names in capitals are written as PostgreSQL folds them (a quoted one keeps its case)", function()
    local op, out = offline("postgresql")
    op.create_index("ix_a", "u", {"a"}, {postgresql_using = "GIN", postgresql_ops = {a = "GIN_TRGM_OPS"}})
    op.create_index("ix4", "u", {{"c", nulls = "first", opclass = "Public.Int4_Ops"}}, {using = "BTREE"})
    op.create_index("ix5", "u", {{"c", opclass = '"My_int4_ops"'}}, {using = "HASH"})
    op.create_index("ix6", "u", {{"c", opclass = 'public."My_int4_ops"'}})
    assert.same({'CREATE INDEX "ix_a" ON "u" USING gin ("a" gin_trgm_ops)',
                 'CREATE INDEX "ix4" ON "u" USING btree ("c" public.int4_ops NULLS FIRST)',
                 'CREATE INDEX "ix5" ON "u" USING hash ("c" "My_int4_ops")',
                 'CREATE INDEX "ix6" ON "u" ("c" public."My_int4_ops")'}, out)
    -- SQLAlchemy 1.4 lower-cases the method too (the oracle)
    assert.same({"CREATE INDEX ix_a ON t USING gin (a GIN_TRGM_OPS)"},
      sqlalchemy("postgresql", {"sa.Index('ix_a', t.c.a, postgresql_using='GIN', postgresql_ops={'a': 'GIN_TRGM_OPS'})"}))
    -- what is not one name is still refused
    for _, bad in ipairs({'"unterminated', 'a b', 'x--', '"a"."b"."c"', 'a."', '""', "a.", ".a"}) do
      assert.equal(('create_index: column 1: opclass must be an operator class name (like "text_pattern_ops"), got %s')
        :format(require("luamig.op.check").describe(bad)), (error_of(op.create_index, "i", "t", {{"a", opclass = bad}})))
    end
  end)

  it("L3: create_index(nil, ...) on an expression is an error saying a name is needed, under the postgresql convention too", function()
    local op = luamig_op.new{dialect = "postgresql", emit = function() end, naming_convention = "postgresql"}
    assert.equal("create_index: an index on an expression needs a name (argument 1): a naming convention names "
      .. "only indexes on columns", (error_of(op.create_index, nil, "t", {op.raw("lower(a)")})))
  end)
end)

h.each_db(function(db)
  local pg = db.name == "postgresql"
  local function run(dir, url, args, env)
    return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args, env)
  end
  local base = rev("a1", nil, [[  op.create_table("t", {{"id", "integer", primary_key = true}, {"name", "text"}})]])

  describe("outside attack", function()
    it("D3: --sql runs nothing, so its messages say what the script holds, and a failure claims nothing stays", function()
      local dir = h.project({base, rev("b2", "a1", [[
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.autocommit_block(function() op.execute("INSERT INTO t (name) VALUES ('x')") end)]])})
      local url = db.url()
      local status, out, err = run(dir, url, "upgrade head --sql")
      assert.equal(0, status, err)
      assert.truthy(out:find("COMMIT;", 1, true), out)
      assert.same({"INFO  [luamig] upgrade b2 (revision b2): 1 statement written outside a transaction "
        .. "(op.autocommit_block): COMMIT; before them and BEGIN; after them in the script"},
        h.grep(err, "outside a transaction"))
      local bad = h.project({base, rev("b2", "a1", [[
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.autocommit_block(function() op.autocommit_block(function() end) end)]])})
      status, out, err = run(bad, url, "upgrade head --sql")
      assert.equal(1, status, out)
      assert.truthy(err:find("autocommit_block: already inside one (blocks do not nest)", 1, true), err)
      assert.falsy(err:find("stay applied", 1, true), err)
      assert.falsy(err:find("is committed", 1, true), err)
      assert.falsy(err:find("is already committed", 1, true), err)
      assert.same({}, h.tables(url))
    end)

    if pg then
      it("1: check settles after autogenerate with postgresql_using, ops and opclass in capitals (pg_trgm, BTREE, HASH, a quoted class)", function()
        local dir = h.project({rev("a1", nil, [[
  op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
  op.execute([=[CREATE OPERATOR CLASS "My_int4_ops" FOR TYPE int4 USING btree AS OPERATOR 1 <, OPERATOR 2 <=,
    OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 btint4cmp(int4, int4)]=])]])})
        local function schema(with_q)
          return table.concat({"function schema(op)",
            '  op.create_table("u", {{"id", "integer", primary_key = true}, {"a", "text"}, {"b", "text"}, {"c", "integer"}})',
            '  op.create_index("ix_a", "u", {"a"}, {postgresql_using = "GIN", postgresql_ops = {a = "GIN_TRGM_OPS"}})',
            '  op.create_index("ix_b", "u", {op.raw("b GIN_TRGM_OPS")}, {using = "Gin"})',
            '  op.create_index("ix4", "u", {{"c", nulls = "first"}}, {using = "BTREE"})',
            '  op.create_index("ix5", "u", {"c"}, {using = "HASH"})',
            with_q and [[  op.create_index("ix_q", "u", {{"c", opclass = '"My_int4_ops"'}})]] or "",
            "end", ""}, "\n")
        end
        h.write_file(dir .. "/schema.lua", schema(true))
        local url = db.url()
        assert.equal(0, (run(dir, url, "upgrade head")))
        local status, out, err = run(dir, url, "revision --autogenerate -m i")
        assert.equal(0, status, err)
        status, _, err = run(dir, url, "upgrade head")
        assert.equal(0, status, err)
        status, out, err = run(dir, url, "-q check")
        assert.equal(0, status, out .. err)
        assert.equal("No new upgrade operations detected.\n", out)
        assert.same({
          {d = "CREATE INDEX ix4 ON public.u USING btree (c NULLS FIRST)"},
          {d = "CREATE INDEX ix5 ON public.u USING hash (c)"},
          {d = "CREATE INDEX ix_a ON public.u USING gin (a gin_trgm_ops)"},
          {d = "CREATE INDEX ix_b ON public.u USING gin (b gin_trgm_ops)"},
          {d = 'CREATE INDEX ix_q ON public.u USING btree (c "My_int4_ops")'},
        }, h.query(url, "SELECT pg_get_indexdef(c.oid) AS d FROM pg_class c WHERE relkind = 'i' "
          .. "AND relname LIKE 'ix%' ORDER BY relname"))
        -- the quoted class read back from the database: dropping the index
        -- writes a downgrade that makes it again with its case
        h.write_file(dir .. "/schema.lua", schema(false))
        status, _, err = run(dir, url, "revision --autogenerate -m drop")
        assert.equal(0, status, err)
        status, _, err = run(dir, url, "upgrade head")
        assert.equal(0, status, err)
        assert.same({}, h.query(url, "SELECT 1 FROM pg_class WHERE relname = 'ix_q'"))
        status, _, err = run(dir, url, "downgrade -1")
        assert.equal(0, status, err)
        assert.same({{d = 'CREATE INDEX ix_q ON public.u USING btree (c "My_int4_ops")'}},
          h.query(url, "SELECT pg_get_indexdef('ix_q'::regclass) AS d"))
      end)
    end

    it("L1, L2: a failure inside the block says so, and the log counts only the statements that ran", function()
      local dir = h.project({base, rev("b2", "a1", [[
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.autocommit_block(function()
    op.execute("INSERT INTO t (name) VALUES ('kept')")
    op.execute("SELECT * FROM no_such_table")
  end)
  op.create_table("v", {{"id", "integer", primary_key = true}})]])})
      local url = db.url()
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(1, status)
      assert.same({"a1"}, h.version_rows(url))
      assert.truthy(err:find("This step failed inside op.autocommit_block: what it did before the block is already "
        .. "committed and the block's statements before the error ran outside a transaction, so they stay applied "
        .. "(nothing after the error ran), and the version table still says a1. Check the database, then either "
        .. "undo that part by hand and run again, or finish it by hand and `luamig stamp b2`.", 1, true), err)
      assert.is_nil(err:find("what ran after the block", 1, true), err)
      assert.same({"INFO  [luamig] upgrade b2 (revision b2): 1 statement ran outside a transaction "
        .. "(op.autocommit_block) before the error in it; what the step did before the block is committed"},
        h.grep(err, "statement ran outside a transaction"))
      assert.same({{name = "kept"}}, h.query(url, "SELECT name FROM t"))
      assert.same({}, h.query(url, pg and "SELECT 1 FROM pg_tables WHERE tablename = 'v'"
        or "SELECT 1 FROM sqlite_master WHERE name = 'v'"))
    end)

    it("L1: a failure before the block rolls the whole step back and says nothing of a block", function()
      local dir = h.project({base, rev("b2", "a1", [[
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.execute("SELECT * FROM no_such_table")
  op.autocommit_block(function()
    op.execute("INSERT INTO t (name) VALUES ('never')")
  end)]])})
      local url = db.url()
      local status, _, err = run(dir, url, "upgrade head")
      assert.equal(1, status)
      assert.same({"a1"}, h.version_rows(url))
      assert.is_nil(err:find("autocommit_block", 1, true), err)
      assert.is_nil(err:find("outside a transaction", 1, true), err)
      assert.truthy(err:find("migrations/versions/b2.lua:9: ", 1, true), err)
      assert.same({}, h.query(url, "SELECT name FROM t"))
      assert.same({}, h.query(url, pg and "SELECT 1 FROM pg_tables WHERE tablename = 'u'"
        or "SELECT 1 FROM sqlite_master WHERE name = 'u'"))
    end)

    if pg then
      it("the connection lost after the block: the message says what stays, not 'nothing of this step was committed'", function()
        local dir = h.project({base, rev("b2", "a1", [[
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.autocommit_block(function()
    op.create_index("ix_t_name", "t", {"name"}, {postgresql_concurrently = true})
  end)
  op.create_table("v", {{"id", "integer", primary_key = true}})
  op.execute("SELECT pg_terminate_backend(pg_backend_pid())")]])})
        local url = db.url()
        local status, _, err = run(dir, url, "upgrade head")
        assert.equal(1, status)
        assert.same({"a1"}, h.version_rows(url))
        assert.truthy(err:find("The database rolled the open transaction back: this step used op.autocommit_block, "
          .. "so what it did before the block is committed and the block's statements ran outside a transaction, so "
          .. "they stay applied (what ran after the block was rolled back), and the version table said a1 at luamig's "
          .. "last commit (it cannot be read now). Check the database, then either undo that part by hand and run "
          .. "again, or finish it by hand and `luamig stamp b2`.", 1, true), err)
        assert.is_nil(err:find("nothing of this step", 1, true), err)
        assert.is_nil(err:find("the step did not run", 1, true), err)
        assert.same({{n = 1}}, h.query(url, "SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'ix_t_name'"))
        assert.same({{n = 1}}, h.query(url, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'u'"))
        assert.same({{n = 0}}, h.query(url, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'v'"))
      end)

      it("the connection lost during COMMIT after the block: no 'running again is safe'", function()
        local dir = h.project({base, rev("b2", "a1", [[
  op.create_table("u", {{"id", "integer", primary_key = true}})
  op.autocommit_block(function()
    op.create_index("ix_t_name", "t", {"name"}, {postgresql_concurrently = true})
  end)
  op.execute([=[CREATE FUNCTION die_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$]=])
  op.execute([=[CREATE CONSTRAINT TRIGGER die AFTER INSERT ON t DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION die_at_commit()]=])
  op.execute("INSERT INTO t (name) VALUES ('x')")]])})
        local url = db.url()
        local status, _, err = run(dir, url, "upgrade head")
        assert.equal(1, status)
        assert.same({"a1"}, h.version_rows(url))
        assert.truthy(err:find("This happened during COMMIT", 1, true), err)
        assert.truthy(err:find("If it was not, what this step did before its op.autocommit_block and in it stays "
          .. "applied: check the database, then either undo that part by hand and run again, or finish it by hand "
          .. "and `luamig stamp b2`.", 1, true), err)
        assert.is_nil(err:find("running the same command again is safe", 1, true), err)
        assert.same({{n = 1}}, h.query(url, "SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'ix_t_name'"))
      end)
    end
  end)
end)
