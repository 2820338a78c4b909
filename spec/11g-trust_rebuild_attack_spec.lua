-- Issue 13, second round on the SQLite move-and-copy, from an outside
-- tester's attacks (/work/attack/repro-data): the rebuild never drops what
-- it did not create; --sql (offline) renders a rebuild only when it is the
-- one the live database would get; errors that say what to do.
local h = require "spec.helpers"
local core = require "luamig.core"
local luamig_op = require "luamig.op"

-- An error's message without the "file:line: " the op API puts before it.
local function message(err)
  return (tostring(err):gsub("^[^:]*%.lua:%d+: ", ""))
end

local function new_op(conn, logs)
  logs = logs or {}
  return luamig_op.new{conn = conn, log = function(_, msg) logs[#logs + 1] = msg end}
end

-- Every schema object and every row of every table (rowid included).
local function snapshot(conn)
  local out = {master = conn:query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"),
               temp = conn:query("SELECT type, name, tbl_name, sql FROM sqlite_temp_master ORDER BY type, name"),
               data = {}}
  for _, r in ipairs(conn:query("SELECT name, wr FROM pragma_table_list WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY schema, name")) do
    local q = core.quote_ident(r.name)
    out.data[r.name] = conn:query(r.wr == 1 and ("SELECT * FROM " .. q .. " ORDER BY 1")
                                  or ("SELECT _rowid_ AS luamig_rowid, * FROM " .. q .. " ORDER BY _rowid_"))
  end
  return out
end

local function sqlite_conn(statements)
  local conn = core.connect((h.fresh_sqlite()))
  for _, s in ipairs(statements or {}) do conn:exec(s) end
  return conn
end

describe("[sqlite] the rebuild never drops what it did not create", function()
  -- reproducer 04: a user table named luamig_tmp_<t> lost with its rows
  local users = {
    {"a table luamig_tmp_t", {"CREATE TABLE luamig_tmp_t (keep TEXT)", "INSERT INTO luamig_tmp_t VALUES ('precious')"}},
    {"a table LUAMIG_TMP_T (SQLite names ignore case)",
     {"CREATE TABLE LUAMIG_TMP_T (keep TEXT)", "INSERT INTO LUAMIG_TMP_T VALUES ('precious')"}},
    {"a view luamig_tmp_t", {"CREATE VIEW luamig_tmp_t AS SELECT 'precious' AS keep"}},
    {"a trigger luamig_tmp_t", {"CREATE TABLE audit (x TEXT)",
      "CREATE TRIGGER luamig_tmp_t AFTER INSERT ON t BEGIN INSERT INTO audit VALUES (new.a); END"}},
    {"an index luamig_tmp_t", {"CREATE INDEX luamig_tmp_t ON t (a)"}},
    {"a TEMP table luamig_tmp_t", {"CREATE TEMP TABLE luamig_tmp_t (keep TEXT)", "INSERT INTO luamig_tmp_t VALUES ('precious')"}},
    {"tables luamig_tmp_t and luamig_tmp_t_1", {"CREATE TABLE luamig_tmp_t (keep TEXT)",
      "INSERT INTO luamig_tmp_t VALUES ('precious')", "CREATE TABLE luamig_tmp_t_1 (keep TEXT)",
      "INSERT INTO luamig_tmp_t_1 VALUES ('precious 1')"}},
    {"a TEMP table luamig_probe (the CHECK probe's name)",
     {"CREATE TEMP TABLE luamig_probe (keep TEXT)", "INSERT INTO luamig_probe VALUES ('precious')"}},
  }
  for _, case in ipairs(users) do
    it(case[1] .. " is left as it was; drop_column works", function()
      local conn = sqlite_conn({"CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, e TEXT, CHECK (a <> 'zz'))",
                                "INSERT INTO t VALUES (1, 'a', 'x')"})
      for _, s in ipairs(case[2]) do conn:exec(s) end
      local before = snapshot(conn)
      new_op(conn).drop_column("t", "e")
      local after = snapshot(conn)
      -- every object but t as it was, t without e
      local function others(s)
        local out = {}
        for _, o in ipairs(s.master) do if o.name ~= "t" then out[#out + 1] = o end end
        return out
      end
      assert.same(others(before), others(after))
      assert.same(before.temp, after.temp)
      for name, rows in pairs(before.data) do
        if name ~= "t" then assert.same(rows, after.data[name]) end
      end
      assert.same({{luamig_rowid = 1, id = 1, a = "a"}}, after.data.t)
      assert.same('CREATE TABLE "t" (id INTEGER PRIMARY KEY, a TEXT, CHECK (a <> \'zz\'))',
                  conn:query("SELECT sql FROM sqlite_master WHERE name = 't'")[1].sql)
      assert.same({{integrity_check = "ok"}}, conn:query("PRAGMA integrity_check"))
      conn:close()
    end)
  end
end)

-- One migration, run online on one database and rendered offline (--sql)
-- and applied to another: the two must match, or offline must refuse.
local function online_and_offline(migration)
  local on = sqlite_conn()
  migration(new_op(on))
  local out = {}
  local op = luamig_op.new{dialect = "sqlite", emit = function(text) out[#out + 1] = text end}
  local ok, err = pcall(migration, op)
  if not ok then on:close(); return nil, err end
  local off = sqlite_conn()
  for _, s in ipairs(out) do off:exec(s) end
  local a, b = snapshot(on), snapshot(off)
  on:close(); off:close()
  return a, b
end

local function offline_error(migration)
  local out = {}
  local op = luamig_op.new{dialect = "sqlite", emit = function(text) out[#out + 1] = text end}
  local ok, err = pcall(migration, op)
  assert.is_false(ok, "offline rendering should have been refused")
  return tostring(err), out
end

local function create_t(op)
  op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text"}, {"e", "text"}})
end

describe("[sqlite] --sql rebuild after op.execute: as online, or refused", function()
  -- reproducers 09 and 05: what raw SQL made was lost by the offline rebuild
  local refused = {
    {"ALTER TABLE ... ADD COLUMN (attack 09)", {"ALTER TABLE t ADD COLUMN z TEXT",
                                                "INSERT INTO t (a, e, z) VALUES ('a1', 'e1', 'precious')"}},
    {"a unique expression index (attack 05)", {"CREATE UNIQUE INDEX uq_a_ci ON t (lower(a))"}},
    {"a trigger on the table (attack 05)", {"CREATE TABLE audit (x TEXT)",
      "CREATE TRIGGER t_audit AFTER INSERT ON t BEGIN INSERT INTO audit VALUES (new.a); END"}},
    {"a trigger on another table whose second statement writes it", {"CREATE TABLE o (x TEXT)",
      "CREATE TRIGGER o_ai AFTER INSERT ON o BEGIN SELECT 1; UPDATE t SET e = new.x; END"}},
    {"a view reading it", {"CREATE VIEW v AS SELECT id, e FROM t"}},
    {"the name in another case", {"ALTER TABLE T ADD COLUMN z TEXT"}},
    {'the name in double quotes', {'ALTER TABLE "t" ADD COLUMN z TEXT'}},
    {"the name in brackets", {"CREATE INDEX ix ON [t] (a)"}},
    {"the name in back quotes", {"CREATE INDEX ix ON `t` (a)"}},
    {"the name as main.t", {"CREATE INDEX ix ON main.t (a)"}},
    {"a second statement in the same execute", {"INSERT INTO t (a) VALUES ('x'); CREATE INDEX ix ON t (a)"}},
    {"a schema edit through writable_schema", {"PRAGMA writable_schema = ON", "PRAGMA writable_schema = OFF"}},
  }
  for _, case in ipairs(refused) do
    it(case[1] .. ": the rebuild is refused, naming the op.execute and its line", function()
      local line
      local err, out = offline_error(function(op)
        create_t(op)
        for _, s in ipairs(case[2]) do
          line = debug.getinfo(1, "l").currentline + 1
          op.execute(s)
        end
        op.drop_column("t", "e")
      end)
      assert.matches('drop_column: on SQLite this rebuilds table "t" from what the operations of this run say it is, '
        .. "but op.execute at spec/11g%-trust_rebuild_attack_spec%.lua:%d+ %(.-%) may have changed it or made objects "
        .. "on it that %-%-sql %(offline%) mode cannot see, and the rebuild would lose them: run this migration online, "
        .. "or make that change with op calls %(op%.add_column, op%.create_index, %.%.%.%)$", message(err))
      assert.matches(":" .. line .. " ", err, 1, true)
      -- nothing of the rebuild was emitted
      for _, s in ipairs(out) do assert.is_nil(s:find("luamig_tmp", 1, true)) end
    end)
  end

  it("the mark follows op.rename_table", function()
    local err = offline_error(function(op)
      create_t(op)
      op.execute("ALTER TABLE t ADD COLUMN z TEXT")
      op.rename_table("t", "u")
      op.drop_column("u", "e")
    end)
    assert.matches('drop_column: on SQLite this rebuilds table "u" from what', message(err), 1, true)
  end)

  it("the mark holds across the steps of one run (one emit function)", function()
    local out = {}
    local emit = function(text) out[#out + 1] = text end
    local step1 = luamig_op.new{dialect = "sqlite", emit = emit}
    create_t(step1)
    step1.execute("ALTER TABLE t ADD COLUMN z TEXT")
    local step2 = luamig_op.new{dialect = "sqlite", emit = emit}
    local ok, err = pcall(step2.drop_column, "t", "e")
    assert.is_false(ok)
    assert.matches("ALTER TABLE t ADD COLUMN z TEXT", tostring(err), 1, true)
  end)

  -- what raw SQL does that the model follows, or that cannot change the table
  local same = {
    {"rows written with op.execute", function(op)
      create_t(op)
      op.execute("INSERT INTO t (id, a, e) VALUES (1, 'a', 'x'), (5, 'b', 'y')")
      op.execute("UPDATE t SET a = 'c' WHERE id = 5; DELETE FROM t WHERE id = 1")
      op.execute("INSERT INTO t (a, e) VALUES ($1, $2)", {"t", "t"})
      op.drop_column("t", "e")
    end},
    {"an index of the run dropped with op.execute", function(op)
      create_t(op)
      op.create_index("ix_t_a", "t", {"a"})
      op.execute("DROP INDEX ix_t_a")
      op.execute("INSERT INTO t (a, e) VALUES ('a', 'x')")
      op.drop_column("t", "e")
    end},
    {"another table made and dropped with op.execute", function(op)
      create_t(op)
      op.execute("CREATE TABLE other (x TEXT)")
      op.execute("DROP TABLE other")
      op.drop_column("t", "e")
    end},
    {"a table of the run named luamig_tmp_t", function(op)
      create_t(op)
      op.create_table("luamig_tmp_t", {{"keep", "text"}})
      op.execute("INSERT INTO luamig_tmp_t VALUES ('precious')")
      op.execute("INSERT INTO t (a, e) VALUES ('a', 'x')")
      op.drop_column("t", "e")
    end},
  }
  for _, case in ipairs(same) do
    it(case[1] .. ": the offline script makes what online makes", function()
      local on, off = online_and_offline(case[2])
      assert.is_table(on, tostring(off))
      assert.same(on, off)
    end)
  end

  it("a table dropped with op.execute and made again with create_table is rebuilt from the new model", function()
    local on, off = online_and_offline(function(op)
      create_t(op)
      op.execute("DROP TABLE IF EXISTS t")
      op.create_table("t", {{"id", "integer", primary_key = true}, {"b", "text"}, {"e", "text"}})
      op.execute("INSERT INTO t (b, e) VALUES ('b', 'x')")
      op.drop_column("t", "e")
    end)
    assert.is_table(on, tostring(off))
    assert.same(on, off)
    assert.same({{luamig_rowid = 1, id = 1, b = "b"}}, on.data.t)
  end)

  it("a table this run did not make: a rebuild is refused, a plain drop is SQLite's own DROP COLUMN", function()
    local out = {}
    local op = luamig_op.new{dialect = "sqlite", emit = function(text) out[#out + 1] = text end}
    local ok, err = pcall(op.alter_column, "old", "a", {type_ = "integer"})
    assert.is_false(ok)
    assert.equal('alter_column: on SQLite this rebuilds table "old" from its live definition, which --sql (offline) '
      .. "mode cannot read (batch_alter_table's copy_from can give it)", message(err))
    op.drop_column("old", "e")
    assert.same({'ALTER TABLE "old" DROP COLUMN "e"'}, out)
  end)
end)

describe("dropping a column a foreign key references", function()
  h.each_db(function(db)
    it("is refused on both databases, naming the foreign key; nothing changes", function()
      local conn = db.connect()
      local op = new_op(conn)
      op.create_table("t", {{"id", "integer", primary_key = true}, {"code", "text", unique = true}, {"e", "text"}})
      op.create_table("c", {{"id", "integer", primary_key = true}, {"t_code", "text"}})
      op.create_foreign_key("fk_c_t", "c", "t", {"t_code"}, {"code"})
      op.execute("INSERT INTO t (id, code, e) VALUES (1, 'k', 'x')")
      op.execute("INSERT INTO c (id, t_code) VALUES (7, 'k')")
      local err = h.error_of(op.drop_column, "t", "code")
      assert.is_not_nil(err)
      if db.name == "sqlite" then
        assert.equal('drop_column: column "code" of "t" is referenced by the foreign key "fk_c_t" of table "c" '
          .. '(t_code) -> "t" (code); without the column that foreign key would reference nothing (SQLite: '
          .. '"foreign key mismatch"): drop that foreign key first (op.drop_constraint("fk_c_t", "c", '
          .. '{type_ = "foreignkey"})), then drop the column', message(err))
      else
        assert.matches("other objects depend on it", tostring(err), 1, true)
      end
      assert.same({{id = 1, code = "k", e = "x"}}, conn:query("SELECT id, code, e FROM t"))
      assert.same({{id = 7, t_code = "k"}}, conn:query("SELECT id, t_code FROM c"))
      -- what the message says to do works
      op.drop_constraint("fk_c_t", "c", {type_ = "foreignkey"})
      op.drop_column("t", "code")
      assert.same({{id = 1, e = "x"}}, conn:query("SELECT * FROM t"))
      conn:close()
    end)
  end)
end)

describe("[sqlite] dropping a column a foreign key references: every way to say it", function()
  local cases = {
    {"an unnamed table constraint over two columns, the table's name in another case",
     {"CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT, e TEXT, UNIQUE (a, b))",
      "CREATE TABLE c (x TEXT, y TEXT, FOREIGN KEY (x, y) REFERENCES T (a, b))"}, "b",
     'drop_column: column "b" of "t" is referenced by the foreign key (no name) of table "c" (x, y) -> "t" (a, b); '
       .. 'without the column that foreign key would reference nothing (SQLite: "foreign key mismatch"): drop that '
       .. 'foreign key first (it has no name: rebuild "c" without it), then drop the column'},
    {"a reference to the primary key without its columns",
     {"CREATE TABLE t (code TEXT PRIMARY KEY, e TEXT)", "CREATE TABLE c (x TEXT CONSTRAINT fk_x REFERENCES t)"}, "code",
     'drop_column: column "code" of "t" is referenced by the foreign key "fk_x" of table "c" (x) -> "t" (code); '
       .. 'without the column that foreign key would reference nothing (SQLite: "foreign key mismatch"): drop that '
       .. 'foreign key first (op.drop_constraint("fk_x", "c", {type_ = "foreignkey"})), then drop the column'},
    {"the table's own foreign key on another column",
     {"CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT UNIQUE, parent TEXT CONSTRAINT fk_parent REFERENCES t (code))"},
     "code",
     'drop_column: column "code" of "t" is referenced by the foreign key "fk_parent" of table "t" (parent) -> "t" (code); '
       .. 'without the column that foreign key would reference nothing (SQLite: "foreign key mismatch"): drop that '
       .. 'foreign key first (op.drop_constraint("fk_parent", "t", {type_ = "foreignkey"})), then drop the column'},
  }
  for _, case in ipairs(cases) do
    it(case[1], function()
      local conn = sqlite_conn(case[2])
      local before = snapshot(conn)
      local err = h.error_of(new_op(conn).drop_column, "t", case[3])
      assert.equal(case[4], message(err))
      assert.same(before, snapshot(conn))
      conn:close()
    end)
  end

  it("the table's own foreign key that goes with the dropped column is no obstacle", function()
    local conn = sqlite_conn({"CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT UNIQUE, parent TEXT REFERENCES t (code), e TEXT)",
                              "INSERT INTO t VALUES (1, 'k', 'k', 'x')"})
    new_op(conn).drop_column("t", "parent")
    assert.same({{id = 1, code = "k", e = "x"}}, conn:query("SELECT * FROM t"))
    conn:close()
  end)
end)

describe("[sqlite] a WITHOUT ROWID table keeps a primary key", function()
  it("drop_column of a primary key column is refused with what to do; what it says works", function()
    local conn = sqlite_conn({"CREATE TABLE w (a INTEGER NOT NULL, b INTEGER, e TEXT, CONSTRAINT pk_w PRIMARY KEY (a, b)) WITHOUT ROWID",
                              "INSERT INTO w VALUES (1, 2, 'x')"})
    local before = snapshot(conn)
    local op = new_op(conn)
    local err = h.error_of(op.drop_column, "w", "b")
    assert.equal('drop_column: "w" is a WITHOUT ROWID table, which must have a primary key, and its primary key (a, b) '
      .. 'would go with column "b": give the table a primary key that does not use "b" first (batch_alter_table with '
      .. "drop_constraint and create_primary_key), or rebuild it yourself (op.execute)", message(err))
    assert.same(before, snapshot(conn))
    op.batch_alter_table("w", function(b)
      b.drop_constraint("pk_w", {type_ = "primary"})
      b.create_primary_key("pk_w2", {"a"})
      b.drop_column("b")
    end)
    assert.same({{a = 1, e = "x"}}, conn:query("SELECT * FROM w"))
    conn:close()
  end)

  it("the same offline, from the model copy_from gives", function()
    local op = luamig_op.new{dialect = "sqlite", emit = function() end}
    local err = h.error_of(op.batch_alter_table, "w", function(b) b.drop_column("a") end, {copy_from = {
      name = "w", columns = {{name = "a", type = "integer", nullable = false}, {name = "b", type = "integer"}},
      primary_key = {columns = {"a", "b"}}, options = "WITHOUT ROWID"}})
    assert.equal('batch_alter_table: "w" is a WITHOUT ROWID table, which must have a primary key, and its primary key '
      .. '(a, b) would go with column "a": give the table a primary key that does not use "a" first (batch_alter_table '
      .. "with drop_constraint and create_primary_key), or rebuild it yourself (op.execute)", message(err))
  end)
end)

describe("alter_column to a type that would change values", function()
  h.each_db(function(db)
    it("'007', '1.50', 'abc' to integer: refused on both databases, rows unchanged", function()
      local conn = db.connect()
      local op = new_op(conn)
      op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text"}})
      op.execute("INSERT INTO t (id, a) VALUES (1, '007'), (2, '1.50'), (3, 'abc'), (4, '7')")
      local err = h.error_of(op.alter_column, "t", "a", {type_ = "integer"})
      assert.is_not_nil(err)
      if db.name == "sqlite" then
        assert.equal('alter_column: rebuilding "t": the type INTEGER of column "a" fails for rows (id=1), (id=2), (id=3): '
          .. "SQLite would change their values (as '007' to 7 or '1.50' to 1.5) or keep values that are not INTEGER "
          .. "(as 'abc'); convert or fix those rows first (op.execute with an UPDATE), then run this operation", message(err))
      else
        assert.matches("cannot be cast automatically", tostring(err), 1, true)
      end
      assert.same({{id = 1, a = "007"}, {id = 2, a = "1.50"}, {id = 3, a = "abc"}, {id = 4, a = "7"}},
                  conn:query("SELECT id, a FROM t ORDER BY id"))
      conn:close()
    end)
  end)
end)

describe("[sqlite] alter_column type: what SQLite's affinity keeps meaning goes through", function()
  local function run(decl, rows, to)
    local conn = sqlite_conn({"CREATE TABLE t (id INTEGER PRIMARY KEY, a " .. decl .. ")"})
    for i, v in ipairs(rows) do
      if type(v) == "table" then conn:exec(("INSERT INTO t (id, a) VALUES (%d, %s)"):format(i, v.sql))
      else conn:exec("INSERT INTO t (id, a) VALUES ($1, $2)", {i, v}) end
    end
    local err = h.error_of(new_op(conn).alter_column, "t", "a", {type_ = to})
    local out = conn:query("SELECT a, typeof(a) AS k FROM t ORDER BY id")
    conn:close()
    return err and message(err), out
  end
  it("'7', '-3', '2.0', NULL text to integer", function()
    local err, out = run("TEXT", {"7", "-3", "2.0"}, "integer")
    assert.is_nil(err)
    assert.same({{a = 7, k = "integer"}, {a = -3, k = "integer"}, {a = 2, k = "integer"}}, out)
  end)
  it("'1.5' and '7' text to double; integers to text", function()
    local err, out = run("TEXT", {"1.5", "7"}, "double")
    assert.is_nil(err)
    assert.same({{a = 1.5, k = "real"}, {a = 7.0, k = "real"}}, out)
    err, out = run("INTEGER", {7, -3}, "text")
    assert.is_nil(err)
    assert.same({{a = "7", k = "text"}, {a = "-3", k = "text"}}, out)
  end)
  it("refused: a real with a fraction into integer, a real its text rounds into text, 2^53+1 into double, a blob into integer", function()
    local err = run("REAL", {1.5}, "integer")
    assert.matches('the type INTEGER of column "a" fails for rows (id=1):', err, 1, true)
    err = run("REAL", {0.1 + 0.2}, "text")
    assert.matches('the type TEXT of column "a" fails for rows (id=1):', err, 1, true)
    err = run("INTEGER", {9007199254740993}, "double")
    assert.matches('the type DOUBLE of column "a" fails for rows (id=1):', err, 1, true)
    err = run("BLOB", {{sql = "x'0001'"}}, "integer")
    assert.matches('the type INTEGER of column "a" fails for rows (id=1):', err, 1, true)
  end)
  -- second outside attack: NUMERIC-affinity targets converted silently
  it("NUMERIC affinity (numeric, date, boolean, json): text that would come out as another number is refused", function()
    for _, to in ipairs{"numeric", "numeric(30,20)", "date", "boolean", "json"} do
      for _, v in ipairs{"0.10000000000000000001", "12345678901234567890123", "1e400", " 7"} do
        local err, out = run("TEXT", {"20240101", v, "abc"}, to)
        assert.matches('of column "a" fails for rows (id=2): SQLite would change their values '
          .. "(as '0.10000000000000000001' to 0.1, or 23 digits to a rounded REAL)", err, 1, true)
        assert.same({{a = "20240101", k = "text"}, {a = v, k = "text"}, {a = "abc", k = "text"}}, out, to .. " " .. v)
      end
    end
  end)
  it("NUMERIC affinity: text that comes out as the same number, and text that is not a number, go through", function()
    local err, out = run("TEXT", {"20240101", "1", "abc", "2024-01-01", "0.5"}, "numeric")
    assert.is_nil(err)
    assert.same({{a = 20240101, k = "integer"}, {a = 1, k = "integer"}, {a = "abc", k = "text"},
                 {a = "2024-01-01", k = "text"}, {a = 0.5, k = "real"}}, out)
  end)
  it("a STRICT table: SQLite itself refuses, nothing changes", function()
    local conn = sqlite_conn({"CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT) STRICT", "INSERT INTO t VALUES (1, 'abc')"})
    local err = h.error_of(new_op(conn).alter_column, "t", "a", {type_ = "integer"})
    assert.is_not_nil(err)
    assert.same({{id = 1, a = "abc"}}, conn:query("SELECT * FROM t"))
    conn:close()
  end)
end)
