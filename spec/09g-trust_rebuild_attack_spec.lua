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
