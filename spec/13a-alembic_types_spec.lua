-- Issue 16 items 1, 2, 6 and 7: luamig's columns against SQLAlchemy 1.4
-- (Debian's /usr/bin/python3 is the oracle). Each oracle case runs
-- SQLAlchemy's own CREATE TABLE on the database and luamig's create_table
-- next to it, and compares the two tables as the database reports them:
-- auto-increment (identity or serial), the default, the type, NOT NULL;
-- types compare by the database's own type name. Then the ready naming
-- conventions "postgresql" and "sqlite", against the names PostgreSQL
-- itself gives to unnamed constraints, long and multi-byte names included.
local h = require "spec.helpers"
local luamig_op = require "luamig.op"
local introspect = require "luamig.introspect"

local raw = require("luamig.dialect.common").raw
local PY = "/usr/bin/python3"

-- SQLAlchemy's CREATE TABLE for each case, per dialect: cases is a list of
-- {name, "python column and constraint arguments"}; returns
-- ddl[name][dialect] (nil where SQLAlchemy refuses) and the reason.
local function sqlalchemy_ddl(cases)
  local lines = {"import sqlalchemy as sa",
    "from sqlalchemy.schema import CreateTable",
    "from sqlalchemy.dialects import postgresql, sqlite",
    "C = sa.Column", "cases = []"}
  for _, c in ipairs(cases) do
    lines[#lines + 1] = ("cases.append((%q, lambda: [%s]))"):format(c[1], c[2])
  end
  lines[#lines + 1] = [[
for name, items in cases:
    m = sa.MetaData()
    sa.Table("p", m, C("id", sa.Integer, primary_key=True), C("k", sa.Integer))
    t = sa.Table("sa_" + name, m, *items())
    for d in (postgresql.dialect(), sqlite.dialect()):
        try:
            s = " ".join(str(CreateTable(t).compile(dialect=d)).split())
        except Exception as e:
            s = "ERROR " + " ".join(str(e).split())
        print(name + "\t" + d.name + "\t" + s)
]]
  local dir = h.tmpdir()
  h.write_file(dir .. "/oracle.py", table.concat(lines, "\n"))
  local status, out, err = h.run(PY .. " " .. h.shell_quote(dir .. "/oracle.py"))
  assert(status == 0, "the SQLAlchemy oracle failed: " .. err)
  local ddl = {}
  for name, dialect, sql in out:gmatch("([^\t\n]+)\t([^\t\n]+)\t([^\n]*)") do
    ddl[name] = ddl[name] or {}
    ddl[name][dialect] = sql
  end
  return ddl
end

-- A table's columns as the database reports them, without the table's name.
local function columns_of(conn, name)
  local t = assert(introspect.table(conn, name), "no table " .. name)
  local cols = {}
  for i, c in ipairs(t.columns) do
    cols[i] = {name = c.name, type = c.type, nullable = c.nullable, default = c.default,
               autoincrement = c.autoincrement}
  end
  return cols
end

-- Items 1 and 2: which integer primary key auto-increments.
local AUTOINC_CASES = {
  -- {name, SQLAlchemy's columns, luamig's create_table entries}
  {"fk_table", 'C("id", sa.Integer, nullable=False), sa.ForeignKeyConstraint(["id"], ["p.id"]), '
     .. 'sa.PrimaryKeyConstraint("id")',
   {{"id", "integer", nullable = false}, {foreign_key = {"id"}, references = {"p", {"id"}}},
    {primary_key = {"id"}}}},
  {"fk_column", 'C("id", sa.Integer, sa.ForeignKey("p.id"), primary_key=True)',
   {{"id", "integer", primary_key = true, references = "p.id"}}},
  {"fk_column_bigint", 'C("id", sa.BigInteger, sa.ForeignKey("p.id"), primary_key=True)',
   {{"id", "bigint", primary_key = true, references = "p.id"}}},
  {"fk_composite", 'C("a", sa.Integer, primary_key=True), C("b", sa.Integer, primary_key=True), '
     .. 'sa.ForeignKeyConstraint(["a", "b"], ["p.id", "p.k"])',
   {{"a", "integer", primary_key = true}, {"b", "integer", primary_key = true},
    {foreign_key = {"a", "b"}, references = {"p", {"id", "k"}}}}},
  {"fk_autoinc_true", 'C("id", sa.Integer, sa.ForeignKey("p.id"), primary_key=True, autoincrement=True)',
   {{"id", "integer", primary_key = true, references = "p.id", autoincrement = true}}},
  {"fk_other_column", 'C("id", sa.Integer, primary_key=True), C("p_id", sa.Integer, sa.ForeignKey("p.id"))',
   {{"id", "integer", primary_key = true}, {"p_id", "integer", references = "p.id"}}},
  {"default_raw", 'C("id", sa.Integer, primary_key=True, server_default=sa.text("42"))',
   {{"id", "integer", primary_key = true, server_default = raw("42")}}},
  {"default_number", 'C("id", sa.Integer, primary_key=True, server_default=sa.text("7"))',
   {{"id", "integer", primary_key = true, server_default = 7}}},
  {"default_nextval", 'C("id", sa.BigInteger, primary_key=True, server_default=sa.text("nextval(\'s\')"))',
   {{"id", "bigint", primary_key = true, server_default = raw("nextval('s')")}}, pg_only = true},
  {"composite", 'C("a", sa.Integer, primary_key=True), C("b", sa.Integer, primary_key=True)',
   {{"a", "integer", primary_key = true}, {"b", "integer", primary_key = true}}},
  {"composite_autoinc", 'C("a", sa.Integer, primary_key=True), C("b", sa.Integer, primary_key=True, '
     .. 'autoincrement=True)',
   {{"a", "integer", primary_key = true}, {"b", "integer", primary_key = true, autoincrement = true}}},
  {"autoinc_false", 'C("id", sa.Integer, primary_key=True, autoincrement=False)',
   {{"id", "integer", primary_key = true, autoincrement = false}}},
  {"plain", 'C("id", sa.Integer, primary_key=True)', {{"id", "integer", primary_key = true}}},
  {"bigint", 'C("id", sa.BigInteger, primary_key=True)', {{"id", "bigint", primary_key = true}}},
  {"smallint", 'C("id", sa.SmallInteger, primary_key=True)', {{"id", "smallint", primary_key = true}}},
  {"string", 'C("id", sa.String(10), primary_key=True)', {{"id", "string(10)", primary_key = true}}},
}

h.each_db(function(db)
  local pg = db.name == "postgresql"
  local conn, op
  before_each(function()
    conn = db.connect()
    op = luamig_op.new{conn = conn, log = function() end}
  end)
  after_each(function() if conn then conn:close() end end)

  describe("integer primary keys auto-increment by SQLAlchemy 1.4's autoincrement=\"auto\" (items 1, 2)", function()
    local oracle
    local function ddl(name)
      oracle = oracle or sqlalchemy_ddl(AUTOINC_CASES)
      return oracle[name][db.name]
    end

    for _, case in ipairs(AUTOINC_CASES) do
      local name, items = case[1], case[3]
      if pg or not case.pg_only then
        it(name .. ": the table luamig creates is the one SQLAlchemy's DDL creates", function()
          op.create_table("p", {{"id", "integer", primary_key = true}, {"k", "integer"}, {unique = {"id", "k"}}})
          if pg then conn:exec("CREATE SEQUENCE s") end
          local sql = ddl(name)
          if sql:match("^ERROR") then
            -- SQLAlchemy refuses it for this database: luamig refuses it too
            assert.truthy(h.error_of(op.create_table, "lm_" .. name, items))
            return
          end
          conn:exec(sql)
          op.create_table("lm_" .. name, items)
          assert.same(columns_of(conn, "sa_" .. name), columns_of(conn, "lm_" .. name))
        end)
      end
    end

    it("the cases say what they claim: a foreign key or a default keeps the key from auto-incrementing", function()
      op.create_table("p", {{"id", "integer", primary_key = true}})
      op.create_table("c", {{"id", "integer", nullable = false}, {foreign_key = {"id"}, references = {"p", {"id"}}},
                            {primary_key = {"id"}}})
      op.create_table("d", {{"id", "integer", primary_key = true, default = raw("42")}})
      op.create_table("e", {{"id", "bigint", primary_key = true, default = 7}})
      op.create_table("f", {{"id", "integer", primary_key = true}})
      local c, d, e, f = columns_of(conn, "c")[1], columns_of(conn, "d")[1], columns_of(conn, "e")[1],
        columns_of(conn, "f")[1]
      -- SQLite: a single INTEGER primary key is the rowid whatever the DDL says
      assert.same({not pg, not pg, false, true},
                  {c.autoincrement, d.autoincrement, e.autoincrement, f.autoincrement})
      assert.same({"42", "7"}, {d.default, e.default})
      if pg then
        local rows = conn:query([[SELECT a.attrelid::regclass::text AS t, a.attidentity::text AS ident
          FROM pg_attribute a WHERE a.attname = 'id' AND a.attrelid::regclass::text IN ('c', 'd', 'e', 'f')
          ORDER BY 1]])
        assert.same({{t = "c", ident = ""}, {t = "d", ident = ""}, {t = "e", ident = ""}, {t = "f", ident = "d"}}, rows)
      end
    end)

    it("autogenerate writes what rebuilds the same keys: identity on a foreign key column, a default kept", function()
      local autogen = require "luamig.autogen"
      op.create_table("p", {{"id", "integer", primary_key = true}})
      op.create_table("a", {{"id", "integer", primary_key = true, references = "p.id"}})
      op.create_table("b", {{"id", "integer", primary_key = true, references = "p.id", autoincrement = true}})
      op.create_table("c", {{"id", "integer", primary_key = true, default = 42}})
      op.create_table("d", {{"id", "bigint", primary_key = true}})
      op.create_table("e", {{"id", "integer", primary_key = true, autoincrement = false}})
      local _, downgrade = autogen.render(autogen.compare(conn, {dialect = db.name, tables = {}, order = {}}),
                                          {dialect = db.name})
      local conn2 = db.connect()
      local op2 = luamig_op.new{conn = conn2, log = function() end}
      assert(load("return function(op)\n" .. downgrade .. "\nend", "=generated", "t", _G))()(op2)
      for _, t in ipairs({"a", "b", "c", "d", "e"}) do
        assert.same(columns_of(conn, t), columns_of(conn2, t), t .. ":\n" .. downgrade)
      end
      conn2:close()
    end)

    it("autoincrement = true with a default, or on a type that is not an integer, is refused", function()
      local err = h.error_of(op.create_table, "t", {{"id", "integer", primary_key = true, autoincrement = true,
                                                      default = 1}})
      assert.truthy(tostring(err):find('create_table: column "id": autoincrement = true and a default: '
        .. "an identity column has no default; drop one of them", 1, true), tostring(err))
      err = h.error_of(op.create_table, "t", {{"id", "string(10)", primary_key = true, autoincrement = true}})
      assert.truthy(tostring(err):find('create_table: column "id": autoincrement = true needs an integer, '
        .. "bigint or smallint column, not string(10)", 1, true), tostring(err))
      assert.same({}, introspect.schema(conn).tables)
    end)

    if not pg then
      it("SQLite: autoincrement = true on a column of a composite key is refused, as SQLAlchemy refuses it", function()
        local err = h.error_of(op.create_table, "t", {{"a", "integer", primary_key = true},
                                                       {"b", "integer", primary_key = true, autoincrement = true}})
        assert.truthy(tostring(err):find('create_table: column "b": autoincrement = true on a column of a '
          .. "composite primary key: SQLite auto-increments only a single INTEGER PRIMARY KEY", 1, true),
          tostring(err))
      end)
    end
  end)
end)

-- Item 7: naming_convention = "postgresql" gives the names PostgreSQL gives
-- unnamed constraints and indexes. The oracle: the same table created by
-- plain SQL without names on PostgreSQL, whose chosen names must be the
-- ones luamig computed.
local NAMING_CASES = {
  {"short", "users", {"id", "c1", "c2", "c3", "c4"}},
  {"long", "t" .. ("x"):rep(62), {"id", ("a"):rep(40), ("b"):rep(50), ("c"):rep(63), "d"}},
  {"long table, short columns", ("L"):rep(60), {"id", "c1", "c2", "c3", "c4"}},
  {"multi-byte", ("таблица_"):rep(4), {"id", ("ключ"):rep(7) .. "x", ("日本語"):rep(6), ("é"):rep(31), "ü"}},
  {"multi-byte odd cut", "ab" .. ("日"):rep(20), {"id", "x" .. ("é"):rep(30), "y" .. ("日"):rep(20), "z", "w"}},
  {"four-byte characters", ("🐘"):rep(15), {"id", "a" .. ("🐘"):rep(15), ("🦆"):rep(15), "c", "d"}},
  {"63 bytes exactly: no cut", ("b"):rep(58), {"id", "c1", "c2", "c3", "c4"}},
  {"64 bytes: cut by one", ("b"):rep(59), {"id", "c1", "c2", "c3", "c4"}},
  {"quotes, spaces and upper case", 'We"ird Table', {"Id", 'a"b', "c d", "E", "f"}},
}

-- The table on both sides: id primary key, c1 unique, c2 references p,
-- c3 with a column check, a unique on (c3, c4, c1), a check on c1 and c2
-- (no one column: "<table>_check"), a table check on c4 alone, an index on c2.
local function q(s) return '"' .. s:gsub('"', '""') .. '"' end

local function pg_plain_sql(tname, cols)
  return {("CREATE TABLE %s (%s integer PRIMARY KEY, %s integer UNIQUE, %s integer REFERENCES p (id), "
      .. "%s integer CHECK (%s > 0), %s integer, UNIQUE (%s, %s, %s), CHECK (%s < %s), CHECK (%s < 100))"):format(
      q(tname), q(cols[1]), q(cols[2]), q(cols[3]), q(cols[4]), q(cols[4]), q(cols[5]),
      q(cols[4]), q(cols[5]), q(cols[2]), q(cols[2]), q(cols[3]), q(cols[5])),
    -- the index: an Alembic-made database's index is named by SQLAlchemy
    -- (ix_<table>_<column>), never by PostgreSQL, and so is luamig's
    ("CREATE INDEX %s ON %s (%s)"):format(q(require("luamig.dialect.naming").convention_name(
      {ix = "ix_%(column_0_label)s"}, "ix", {table = tname, columns = {cols[3]}})), q(tname), q(cols[3]))}
end

local function luamig_create(op, tname, cols)
  op.create_table(tname, {
    {cols[1], "integer", primary_key = true},
    {cols[2], "integer", unique = true},
    {cols[3], "integer", references = "p.id"},
    {cols[4], "integer", check = q(cols[4]) .. " > 0"},
    {cols[5], "integer"},
    {unique = {cols[4], cols[5], cols[2]}},
    {check = q(cols[2]) .. " < " .. q(cols[3])},
    {check = q(cols[5]) .. " < 100"},
  })
  op.create_index(nil, tname, {cols[3]})
end

-- The names of a table's constraints and indexes, sorted.
local function pg_names(conn, tname)
  local names = {}
  for _, r in ipairs(conn:query("SELECT conname AS n FROM pg_constraint WHERE conrelid = $1::regclass "
      .. "UNION SELECT indexname FROM pg_indexes WHERE tablename = $2 ORDER BY 1", {q(tname), tname})) do
    names[#names + 1] = r.n
  end
  return names
end

local function sqlite_names(conn, tname)
  local t = introspect.table(conn, tname)
  local names = {t.primary_key.name}
  for _, field in ipairs({"uniques", "foreign_keys", "checks", "indexes"}) do
    for _, c in ipairs(t[field]) do names[#names + 1] = c.name end
  end
  table.sort(names)
  return names
end

local pg_db = h.dialects[2]

-- The names PostgreSQL chose for each case's table, created without names.
local server_names = {}
local function names_postgresql_gives(case)
  if not server_names[case[1]] then
    local conn = pg_db.connect()
    conn:exec("CREATE TABLE p (id integer PRIMARY KEY)")
    for _, sql in ipairs(pg_plain_sql(case[2], case[3])) do conn:exec(sql) end
    server_names[case[1]] = pg_names(conn, case[2])
    conn:close()
  end
  return server_names[case[1]]
end

h.each_db(function(db)
  local pg = db.name == "postgresql"
  local conn, op
  before_each(function()
    conn = db.connect()
    op = luamig_op.new{conn = conn, log = function() end, naming_convention = pg and "postgresql" or "sqlite"}
    op.create_table("p", {{"id", "integer", primary_key = true}})
  end)
  after_each(function() if conn then conn:close() end end)

  describe("naming_convention = \"" .. (pg and "postgresql" or "sqlite") .. "\": PostgreSQL's own names (item 7)", function()
    for _, case in ipairs(NAMING_CASES) do
      it(case[1] .. ": every name luamig gives is the one PostgreSQL chose, and drop_constraint finds them", function()
        local want = names_postgresql_gives(case)
        assert.equal(8, #want)
        for _, n in ipairs(want) do assert.truthy(#n <= 63, n) end
        luamig_create(op, case[2], case[3])
        local got = pg and pg_names(conn, case[2]) or sqlite_names(conn, case[2])
        assert.same(want, got)
        -- a later migration drops each constraint by PostgreSQL's name
        local t = introspect.table(conn, case[2])
        for _, c in ipairs(t.checks) do op.drop_constraint(c.name, case[2]) end
        for _, c in ipairs(t.uniques) do op.drop_constraint(c.name, case[2]) end
        for _, c in ipairs(t.foreign_keys) do op.drop_constraint(c.name, case[2]) end
        t = introspect.table(conn, case[2])
        assert.same({{}, {}, {}}, {t.checks, t.uniques, t.foreign_keys})
      end)
    end

    it("names in short: users_pkey, users_c1_key, users_c2_fkey, users_c3_check, users_check, ix_users_c2", function()
      luamig_create(op, "users", {"id", "c1", "c2", "c3", "c4"})
      assert.same({"ix_users_c2", "users_c1_key", "users_c2_fkey", "users_c3_c4_c1_key", "users_c3_check",
                   "users_c4_check", "users_check", "users_pkey"},
                  pg and pg_names(conn, "users") or sqlite_names(conn, "users"))
    end)

    it("luamig.lua's naming_convention = \"" .. (pg and "postgresql" or "sqlite") .. "\": upgrade names, downgrade drops by name, the CLI", function()
      local dir = h.project({
        {id = "a1", code = true,
         up = "  op.create_table('users', {{'id', 'integer', primary_key = true}, {'email', 'text', unique = true}})",
         down_sql = "  op.drop_table('users')"},
        {id = "b2", down = "a1", code = true,
         up = "  op.create_table('posts', {{'id', 'integer', primary_key = true}, "
           .. "{'user_id', 'integer', references = 'users.id', index = true}, {'n', 'integer', check = 'n > 0'}})",
         down_sql = "  op.drop_constraint('posts_user_id_fkey', 'posts', {type_ = 'foreignkey'})\n"
           .. "  op.drop_constraint('posts_n_check', 'posts', {type_ = 'check'})\n"
           .. "  op.drop_index('ix_posts_user_id', 'posts')\n  op.drop_table('posts')"},
      }, ("naming_convention = %q\n"):format(pg and "postgresql" or "sqlite"))
      local url = pg and select(2, h.fresh_pg()) or (h.fresh_sqlite())
      local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")
      assert.equal(0, status, err)
      local conn2 = require("luamig.core").connect(url)
      local users, posts = introspect.table(conn2, "users"), introspect.table(conn2, "posts")
      assert.same({"users_pkey", "users_email_key", "posts_pkey", "posts_user_id_fkey", "posts_n_check",
                   "ix_posts_user_id"},
                  {users.primary_key.name, users.uniques[1].name, posts.primary_key.name,
                   posts.foreign_keys[1].name, posts.checks[1].name, posts.indexes[1].name})
      conn2:close()
      status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " downgrade a1")
      assert.equal(0, status, err)
      assert.same({"a1"}, h.version_rows(url))
      h.write_file(dir .. "/luamig.lua", 'naming_convention = "postgres"\n')
      status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")
      assert.equal(1, status, err)
      assert.truthy(err:find('naming_convention "postgres" is not a ready convention: "postgresql", "sqlite", '
        .. "or a table of patterns", 1, true), err)
      assert.same({"a1"}, h.version_rows(url))
    end)

    it("create_check_constraint without a name is refused: its column is not known there", function()
      op.create_table("t", {{"id", "integer", primary_key = true}, {"qty", "integer"}})
      local err = tostring(h.error_of(op.create_check_constraint, nil, "t", "qty > 0"))
      assert.truthy(err:find("create_check_constraint: no name given, and PostgreSQL's own name for a check "
        .. 'depends on the one column its condition uses, which luamig does not know here: give the name '
        .. '("t_COLUMN_check", or "t_check" when it uses none or several)', 1, true), err)
    end)

    it("an unknown ready convention is refused by op.new and by luamig.lua", function()
      local err = tostring(h.error_of(luamig_op.new, {conn = conn, naming_convention = "mysql"}))
      assert.truthy(err:find('luamig.op.new: naming_convention "mysql" is not a ready convention: '
        .. '"postgresql", "sqlite", or a table of patterns', 1, true), err)
      local config = require "luamig.config"
      err = tostring(h.error_of(config.check, {naming_convention = "Postgresql"}, "luamig.lua"))
      assert.truthy(err:find('luamig.lua: naming_convention "Postgresql" is not a ready convention', 1, true), err)
      err = tostring(h.error_of(config.check, {naming_convention = 3}, "luamig.lua"))
      assert.truthy(err:find("luamig.lua: naming_convention must be a table of patterns or a ready "
        .. "convention's name", 1, true), err)
      config.check({naming_convention = "postgresql"}, "luamig.lua")
    end)
  end)
end)

-- Item 6: every generic type against SQLAlchemy 1.4's type, by the type the
-- database reports for a column made by each. {luamig type, SQLAlchemy type
-- on PostgreSQL, on SQLite}; a SQLite entry {sa, luamig's name} is a
-- documented difference (doc/alembic.md): the column's type name differs,
-- its affinity and stored values do not.
local TYPE_CASES = {
  {"integer", "sa.Integer()", "sa.Integer()"},
  {"bigint", "sa.BigInteger()", "sa.BigInteger()"},
  {"smallint", "sa.SmallInteger()", "sa.SmallInteger()"},
  {"string", "sa.String()", "sa.String()"},
  {"string(30)", "sa.String(30)", "sa.String(30)"},
  {"text", "sa.Text()", "sa.Text()"},
  {"boolean", "sa.Boolean()", "sa.Boolean()"},
  {"float", "sa.Float()", "sa.Float()"},
  {"float(24)", "sa.Float(24)", {"sa.Float(24)", "FLOAT(24)"}},
  {"float(53)", "sa.Float(53)", {"sa.Float(53)", "FLOAT(53)"}},
  {"double", "postgresql.DOUBLE_PRECISION()", {nil, "DOUBLE"}},
  {"numeric", "sa.Numeric()", "sa.Numeric()"},
  {"numeric(10,2)", "sa.Numeric(10, 2)", "sa.Numeric(10, 2)"},
  {"date", "sa.Date()", "sa.Date()"},
  {"time", "sa.Time()", "sa.Time()"},
  {"time with time zone", "sa.Time(timezone=True)", {"sa.Time(timezone=True)", "timetz"}},
  {"timestamp", "sa.DateTime()", {"sa.DateTime()", "TIMESTAMP"}},
  {"timestamp", "sa.TIMESTAMP()", "sa.TIMESTAMP()"},
  {"timestamptz", "sa.DateTime(timezone=True)", {"sa.DateTime(timezone=True)", "TIMESTAMPTZ"}},
  {"binary", "sa.LargeBinary()", "sa.LargeBinary()"},
  {"json", "sa.JSON()", "sa.JSON()"},
  {"jsonb", "postgresql.JSONB()", false},
  {"uuid", "postgresql.UUID()", {nil, "UUID"}},
}

local function type_oracle()
  local cases = {}
  for i, c in ipairs(TYPE_CASES) do
    local sqlite_sa = c[3]
    if type(sqlite_sa) == "table" then sqlite_sa = sqlite_sa[1] elseif sqlite_sa == false then sqlite_sa = nil end
    cases[#cases + 1] = {"pg" .. i, ('C("id", sa.Integer, primary_key=True), C("c", %s)'):format(c[2])}
    if sqlite_sa then
      cases[#cases + 1] = {"sqlite" .. i, ('C("id", sa.Integer, primary_key=True), C("c", %s)'):format(sqlite_sa)}
    end
  end
  return sqlalchemy_ddl(cases)
end

-- The type of column c as the database itself spells it.
local function db_type(conn, pg, tname)
  if pg then
    return conn:query("SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute "
      .. "WHERE attrelid = $1::regclass AND attname = 'c'", {tname})[1].t
  end
  for _, r in ipairs(conn:query("PRAGMA table_info(" .. tname .. ")")) do
    if r.name == "c" then return r.type end
  end
end

h.each_db(function(db)
  local pg = db.name == "postgresql"
  local conn, op
  before_each(function()
    conn = db.connect()
    op = luamig_op.new{conn = conn, log = function() end}
  end)
  after_each(function() if conn then conn:close() end end)

  describe("generic types are SQLAlchemy 1.4's types (item 6)", function()
    local oracle
    for i, case in ipairs(TYPE_CASES) do
      local lm, sqlite_case = case[1], case[3]
      if pg or sqlite_case ~= false then
        local sa = case[2]
        if not pg then sa = type(sqlite_case) == "table" and sqlite_case[1] or nil end
        if not pg and type(sqlite_case) == "string" then sa = sqlite_case end
        local differs = not pg and type(sqlite_case) == "table" and sqlite_case[2]
        it(("%s is %s%s"):format(lm, sa or "(no SQLAlchemy 1.4 type)",
             differs and (" but written " .. differs .. " (documented)") or ""), function()
          op.create_table("lm", {{"id", "integer", primary_key = true}, {"c", lm}})
          local got = db_type(conn, pg, "lm")
          if sa then
            oracle = oracle or type_oracle()
            local sql = oracle[(pg and "pg" or "sqlite") .. i][db.name]
            assert.falsy(sql:match("^ERROR"), sql)
            conn:exec(sql)
            local want = db_type(conn, pg, (sql:match('^CREATE TABLE "?([%w_]+)')))
            if differs then
              assert.are_not.equal(want, got)
            else
              assert.equal(want, got)
            end
          end
          if differs then assert.equal(differs, got) end
        end)
      end
    end

    it("float is double precision on PostgreSQL: real compares equal to float(24), not to float", function()
      local autogen = require "luamig.autogen"
      local record = require "luamig.autogen.record"
      local function declared(a, b)
        local rop, store = record.new(db.name)
        rop.create_table("t", {{"id", "integer", primary_key = true}, {"a", a}, {"b", b}})
        return {dialect = db.name, tables = store.tables, order = store.order}
      end
      conn:exec(pg and "CREATE TABLE t (id integer PRIMARY KEY, a real, b double precision)"
                   or "CREATE TABLE t (id INTEGER PRIMARY KEY, a FLOAT(24), b FLOAT)")
      assert.same({}, autogen.compare(conn, declared("float(24)", "float")))
      assert.same({}, autogen.compare(conn, declared(pg and "float4" or "float(24)", pg and "double" or "float")))
      local ops = autogen.compare(conn, declared("float", "float(24)"))
      if pg then
        local got = {}
        for i, o in ipairs(ops) do got[i] = {o.column, o.changes.type[1], o.changes.type[2]} end
        assert.same({{"a", "float(24)", "float"}, {"b", "double", "float(24)"}}, got)
      else
        -- SQLite keeps the declared name: FLOAT(24) and FLOAT are both REAL
        assert.equal(2, #ops)
      end
    end)

    it("json and jsonb: each compares equal to itself and differs from the other", function()
      if not pg then
        -- SQLite has no jsonb type: the name passes through as written
        op.create_table("t", {{"id", "integer", primary_key = true}, {"j", "json"}})
        assert.equal("json", columns_of(conn, "t")[2].type)
        return
      end
      local autogen = require "luamig.autogen"
      local record = require "luamig.autogen.record"
      local function declared(jtype, btype)
        local rop, store = record.new(db.name)
        rop.create_table("t", {{"id", "integer", primary_key = true}, {"j", jtype}, {"b", btype}})
        return {dialect = db.name, tables = store.tables, order = store.order}
      end
      op.create_table("t", {{"id", "integer", primary_key = true}, {"j", "json"}, {"b", "jsonb"}})
      local rows = conn:query("SELECT attname AS c, format_type(atttypid, atttypmod) AS t FROM pg_attribute "
        .. "WHERE attrelid = 't'::regclass AND attname IN ('j', 'b') ORDER BY attname")
      assert.same({{c = "b", t = "jsonb"}, {c = "j", t = "json"}}, rows)
      assert.same({}, autogen.compare(conn, declared("json", "jsonb")))
      local ops = autogen.describe(autogen.compare(conn, declared("jsonb", "json")), {dialect = db.name})
      local what = {}
      for i, o in ipairs(ops) do what[i] = o.kind .. " " .. o.name .. ": " .. o.description end
      table.sort(what)
      assert.equal(2, #what, table.concat(what, "\n"))
      assert.truthy(what[1]:find("^alter_column b: .*type"), what[1])
      assert.truthy(what[2]:find("^alter_column j: .*type"), what[2])
    end)
  end)
end)

---------------------------------------------------------------------------
-- The outside attack on issue 16 (defects 2, 3 and 7 of its report), each
-- reproducer kept; PostgreSQL itself is the oracle for every name.
---------------------------------------------------------------------------

-- The names PostgreSQL gives the checks of tables made by plain SQL.
local function pg_check_names(sqls)
  local conn = pg_db.connect()
  for _, sql in ipairs(sqls) do conn:exec(sql) end
  local names = {}
  for i, r in ipairs(conn:query("SELECT conname AS n FROM pg_constraint WHERE contype = 'c' "
      .. "AND connamespace = 'public'::regnamespace ORDER BY 1")) do
    names[i] = r.n
  end
  conn:close()
  return names
end

-- The name PostgreSQL keeps for an identifier written as s (its own cast).
local function pg_kept(s)
  local conn = pg_db.connect()
  local n = conn:query("SELECT $1::name::text AS n", {s})[1].n
  conn:close()
  return n
end

h.each_db(function(db)
  local pg = db.name == "postgresql"
  local convention = pg and "postgresql" or "sqlite"

  describe("outside attack", function()
    -- defect 2: t.a checks a < b (two columns), t.b checks id > 0 (only id),
    -- t.c checks c > 0; add_column adds f checking b > 0 and g checking
    -- g > 0; u.v checks 1 > 0 (no column)
    local ORACLE_SQL = {
      "CREATE TABLE t (id integer PRIMARY KEY, a integer CHECK (a < b), b integer CHECK (id > 0), "
        .. "c integer CHECK (c > 0))",
      "ALTER TABLE t ADD COLUMN f integer CHECK (b > 0)",
      "ALTER TABLE t ADD COLUMN g integer CHECK (g > 0)",
      "CREATE TABLE u (id integer PRIMARY KEY, v integer CHECK (1 > 0))",
    }
    local function declare(op)
      op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "integer", check = "a < b"},
                            {"b", "integer", check = "id > 0"}, {"c", "integer", check = "c > 0"}})
      op.add_column("t", {"f", "integer", check = "b > 0"})
      op.add_column("t", {"g", "integer", check = "g > 0"})
      op.create_table("u", {{"id", "integer", primary_key = true}, {"v", "integer", check = "1 > 0"}})
    end

    it("2: a column-level check is named after the columns its condition uses, as PostgreSQL names it", function()
      local want = pg_check_names(ORACLE_SQL)
      assert.same({"t_b_check", "t_c_check", "t_check", "t_g_check", "t_id_check", "u_check"}, want)
      local conn = db.connect()
      declare(luamig_op.new{conn = conn, log = function() end, naming_convention = convention})
      local got = {}
      for _, tn in ipairs({"t", "u"}) do
        for _, c in ipairs(introspect.table(conn, tn).checks) do got[#got + 1] = c.name end
      end
      conn:close()
      table.sort(got)
      assert.same(want, got)
    end)

    it("2: --sql gives the same names (add_column knows the table from the run)", function()
      local want = pg_check_names(ORACLE_SQL)
      local out = {}
      declare(luamig_op.new{dialect = db.name, emit = function(s) out[#out + 1] = s end,
                            naming_convention = convention})
      local sql = table.concat(out, ";\n")
      local got = {}
      for n in sql:gmatch('CONSTRAINT "([^"]+)" CHECK') do got[#got + 1] = n end
      table.sort(got)
      assert.same(want, got)
    end)

    if pg then  -- E'' strings are PostgreSQL's
      it("D2: a name a check's comment or escape string mentions is no column of its condition, as for PostgreSQL", function()
        local cases = {
          {"d", "d > 0 /* id */"}, {"e", "e > 0 -- id\n"}, {"b", "b <> E'x\\' id '"},
          {"f", "f > 0 /* a /* nested id */ still id */"}, {"g", "g <> e'\\\\' AND id > 0"},
        }
        local cols, sqlcols = {{"id", "integer", primary_key = true}}, {"id integer PRIMARY KEY"}
        for _, c in ipairs(cases) do
          cols[#cols + 1] = {c[1], c[1] == "b" and "text" or c[1] == "g" and "text" or "integer", check = c[2]}
          sqlcols[#sqlcols + 1] = ("%s %s CHECK (%s)"):format(c[1], (c[1] == "b" or c[1] == "g") and "text" or "integer", c[2])
        end
        local want = pg_check_names({"CREATE TABLE t (" .. table.concat(sqlcols, ", ") .. ")"})
        assert.same({"t_b_check", "t_check", "t_d_check", "t_e_check", "t_f_check"}, want)
        local conn = db.connect()
        luamig_op.new{conn = conn, log = function() end, naming_convention = convention}.create_table("t", cols)
        local got = {}
        for _, c in ipairs(introspect.table(conn, "t").checks) do got[#got + 1] = c.name end
        conn:close()
        table.sort(got)
        assert.same(want, got)
      end)
    end

    if pg then
      it("3: the postgresql convention names an index as SQLAlchemy names Column(index=True) (the oracle), INCLUDE or not", function()
        local py = [[
import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex
from sqlalchemy.dialects import postgresql
m = sa.MetaData()
t = sa.Table("t", m, sa.Column("id", sa.Integer, primary_key=True), sa.Column("a", sa.Integer, index=True),
             sa.Column("c", sa.Integer, index=True))
for ix in sorted(t.indexes, key=lambda i: i.name): print(ix.name)
]]
        local f = io.popen("unset LD_PRELOAD; /usr/bin/python3 -c " .. h.shell_quote(py))
        local want = {}
        for l in f:lines() do want[#want + 1] = l end
        f:close()
        assert.same({"ix_t_a", "ix_t_c"}, want)
        conn = db.connect()
        local op = luamig_op.new{conn = conn, log = function() end, naming_convention = "postgresql"}
        op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "integer", index = true}, {"b", "integer"},
                              {"c", "integer"}})
        op.create_index(nil, "t", {"c"}, {postgresql_include = {"a", "b"}})
        local got = {}
        for i, r in ipairs(conn:query("SELECT indexname AS n FROM pg_indexes WHERE schemaname = 'public' "
            .. "AND tablename = 't' AND indexname NOT LIKE '%pkey' ORDER BY 1")) do got[i] = r.n end
        conn:close()
        assert.same(want, got)
      end)
    end

    -- defect 7: every kind of name an op is given, over 63 bytes
    local LONG = ("c"):rep(64)
    local WIDE = ("é"):rep(35)                        -- 70 bytes; PostgreSQL keeps 31 characters
    local T = '{"id", "integer", primary_key = true}'
    local LONG_CASES = {
      {"a table", ("op.create_table(%q, {%s})"):format(WIDE, T), WIDE},
      {"a column", ("op.create_table('t', {%s, {%q, 'integer'}})"):format(T, LONG), LONG},
      {"an enum type", ("op.create_table('t', {%s, {'v', op.enum({'a'}, {name = %q})}})"):format(T, LONG), LONG, true},
      {"an enum's schema", ("op.create_table('t', {%s, {'v', op.enum({'a'}, {name = 'e', schema = %q})}})")
        :format(T, LONG), LONG, "schema"},
      {"create_enum's name", ("op.create_table('t', {%s})\n  op.create_enum(%q, {'a'})"):format(T, LONG), LONG, true},
      {"an added column", ("op.create_table('t', {%s})\n  op.add_column('t', {%q, 'text'})"):format(T, LONG), LONG},
      {"an index", ("op.create_table('t', {%s})\n  op.create_index(%q, 't', {'id'})"):format(T, LONG), LONG},
      {"a constraint", ("op.create_table('t', {%s, {'v', 'integer'}})\n  op.create_unique_constraint(%q, 't', {'v'})")
        :format(T, LONG), LONG},
      {"a new table name", ("op.create_table('t', {%s})\n  op.rename_table('t', %q)"):format(T, LONG), LONG},
      {"a new column name", ("op.create_table('t', {%s, {'v', 'integer'}})\n  op.alter_column('t', 'v', "
        .. "{new_column_name = %q})"):format(T, LONG), LONG},
    }
    for _, case in ipairs(LONG_CASES) do
      local line = case[2]:find("\n", 1, true) and 9 or 8
      if pg then
        it(("7: %s over 63 bytes is refused at the script's line, online and in --sql, saying what PostgreSQL "
            .. "would keep"):format(case[1]), function()
          local kept = pg_kept(case[3])
          assert.equal(case[3] == WIDE and 62 or 63, #kept)
          local dir = h.project({{id = "a1", code = true, up = "  " .. case[2]}})
          h.refused_online_and_offline(db, dir, ('migrations/versions/a1.lua:%d: the name "%s" is %d bytes: '
            .. 'PostgreSQL would truncate it to its first %d bytes ("%s"); use a shorter name (at most 63 bytes)')
            :format(line, case[3], #case[3], #kept, kept), "t")
        end)
      elseif case[4] ~= "schema" then
        it(("7: %s over 63 bytes is kept whole on SQLite"):format(case[1]), function()
          local dir = h.project({{id = "a1", code = true, up = "  " .. case[2]}})
          h.online_and_offline(db, dir)
        end)
      end
    end

    if pg then
      it("7: a name over 63 bytes in schema.lua is refused by autogenerate at schema.lua's line; nothing is written", function()
        local dir = h.project({}, 'script_location = "migrations"\ntarget_schema = "schema.lua"\n')
        h.write_file(dir .. "/schema.lua", ([[
function schema(op)
  op.create_table("t", {{"id", "integer", primary_key = true},
    {"v", op.enum({"a"}, {name = %q})}})
end
]]):format(LONG))
        local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(db.url()) .. " revision --autogenerate -m x")
        assert.equal(1, status, out)
        assert.truthy(err:find(('schema.lua:3: the name "%s" is 64 bytes: PostgreSQL would truncate it to its first '
          .. '63 bytes ("%s")'):format(LONG, LONG:sub(1, 63)), 1, true), err)
        local files = {}
        for f in io.popen("ls " .. h.shell_quote(dir .. "/migrations/versions")):lines() do files[#files + 1] = f end
        assert.same({}, files)
      end)

      it("7: names of exactly 63 bytes work, and check then settles (autogenerate writes no longer name)", function()
        local t63, c63, e63 = ("t"):rep(63), ("c"):rep(63), ("e"):rep(63)
        local dir = h.project({}, 'script_location = "migrations"\ntarget_schema = "schema.lua"\n')
        h.write_file(dir .. "/schema.lua", ([[
function schema(op)
  op.create_table(%q, {{"id", "integer", primary_key = true}, {%q, "integer", unique = true, index = true},
                       {"v", op.enum({"a", "b"}, {name = %q})}})
end
]]):format(t63, c63, e63))
        local url = db.url()
        local u = "--url " .. h.shell_quote(url)
        local status, _, err = h.luamig(dir, u .. " revision --autogenerate -m init")
        assert.equal(0, status, err)
        status, _, err = h.luamig(dir, u .. " upgrade head")
        assert.equal(0, status, err)
        status, _, err = h.luamig(dir, u .. " check")
        assert.equal(0, status, err)
        local conn = require("luamig.core").connect(url)
        local t = introspect.table(conn, t63)
        conn:close()
        assert.same({t63, c63}, {t.name, t.columns[2].name})
        for _, n in ipairs({t.primary_key.name, t.uniques[1] and t.uniques[1].name or "", t.indexes[1].name}) do
          assert.truthy(#n <= 63, n)
        end
      end)
    end
  end)
end)
