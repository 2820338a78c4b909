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
        .. "but op.execute at spec/09g%-trust_rebuild_attack_spec%.lua:%d+ %(.-%) may have changed it or made objects "
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
