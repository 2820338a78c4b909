-- op.bulk_insert on SQLite and PostgreSQL: rows from a list or an
-- iterator, every kind of value, progress, and a bad row failing the step
-- with its number.
local h = require "spec.helpers"
local luamig_op = require "luamig.op"

h.each_db(function(db)
  local conn, op, progress
  before_each(function()
    conn = db.connect()
    progress = {}
    op = luamig_op.new{conn = conn, progress = function(n, total, tname)
      progress[#progress + 1] = {n, total, tname}
    end}
    op.create_table("we\"ird", {
      {"id", "integer", primary_key = true},
      {"a b", "text"},
      {"n", "bigint"},
      {"f", "double"},
      {"ok", "boolean"},
      {"price", "numeric(10,2)"},
    })
  end)
  after_each(function() conn:close() end)

  local function rows()
    return (conn:query([[SELECT id, "a b", n, f, ok FROM "we""ird" ORDER BY id]]))
  end

  it("inserts a list of rows with strings, integers, floats, booleans and NULL", function()
    local n = op.bulk_insert("we\"ird", {
      {id = 1, ["a b"] = "it's \"q\" \\ tab\t nl\n", n = math.maxinteger, f = 0.1, ok = true},
      {id = 2, ["a b"] = "", n = -7, f = -1e300, ok = false},
      {id = 3},
    })
    assert.equal(3, n)
    assert.same({
      {id = 1, ["a b"] = "it's \"q\" \\ tab\t nl\n", n = math.maxinteger, f = 0.1, ok = true},
      {id = 2, ["a b"] = "", n = -7, f = -1e300, ok = false},
      {id = 3},
    }, rows())
  end)

  it("reads rows from an iterator, reports progress (0, every 10,000 rows, the last), and returns the count", function()
    local i = 0
    local tx = conn:begin()                          -- as the runner runs a step
    local n = op.bulk_insert("we\"ird", function()
      i = i + 1
      if i <= 20001 then return {id = i, n = i * 2, price = "1.50"} end
    end)
    tx:commit()
    assert.equal(20001, n)
    assert.same({{0, nil, 'we"ird'}, {10000, nil, 'we"ird'}, {20000, nil, 'we"ird'}, {20001, nil, 'we"ird'}}, progress)
    assert.same({{c = 20001, s = 20001 * 20002}},
                (conn:query([[SELECT count(*) AS c, CAST(sum(n) AS BIGINT) AS s FROM "we""ird"]])))
  end)

  it("an empty source inserts nothing", function()
    assert.equal(0, op.bulk_insert("we\"ird", {}))
    assert.equal(0, op.bulk_insert("we\"ird", function() return nil end))
    assert.same({}, rows())
  end)

  it("takes the columns from opts.columns when the first row leaves some out", function()
    op.bulk_insert("we\"ird", {{id = 1}, {id = 2, n = 5}}, {columns = {"id", "n"}})
    assert.same({{id = 1}, {id = 2, n = 5}}, rows())
  end)

  describe("a bad row fails with its number", function()
    local function failure(source)
      local err
      local tx = conn:begin()
      err = h.error_of(function() op.bulk_insert("we\"ird", source) end)
      tx:rollback()
      assert.same({}, rows())                       -- the step's transaction undoes the rows before it
      return tostring(err):match("^.-:%d+: (.*)$") or tostring(err)
    end

    it("an unknown column", function()
      assert.equal('bulk_insert: row 2: table "we"ird" has no column "nope"',
                   failure({{id = 1}, {id = 2, nope = 1}}))
    end)

    it("a non-numeric string for an integer column, which SQLite alone would store", function()
      assert.equal('bulk_insert: row 3, column "n": wrong type for the column (bigint): expected an integer, got string "abc"',
                   failure({{id = 1, n = 1}, {id = 2, n = "2"}, {id = 3, n = "abc"}}))
    end)

    it("a string for a boolean column, a float for an integer one", function()
      assert.equal('bulk_insert: row 1, column "ok": wrong type for the column (boolean): expected a boolean, got string "yes"',
                   failure({{id = 1, ok = "yes"}}))
      assert.equal('bulk_insert: row 1, column "n": wrong type for the column (bigint): expected an integer, got float 1.5',
                   failure({{id = 1, n = 1.5}}))
    end)

    it("a value that cannot be stored", function()
      assert.equal('bulk_insert: row 2, column "a b": a table cannot be inserted (use nil, a boolean, a number or a string)',
                   failure({{id = 1, ["a b"] = "x"}, {id = 2, ["a b"] = {}}}))
    end)

    it("a row that is not a table, from an iterator", function()
      local i = 0
      assert.equal("bulk_insert: row 2 is a string, not a table",
                   failure(function() i = i + 1; if i == 1 then return {id = 1} elseif i == 2 then return "x" end end))
    end)
  end)

  it("a missing table is an error naming it", function()
    local err = h.error_of(function() op.bulk_insert("nope", {{id = 1}}) end)
    assert.truthy(tostring(err):find('bulk_insert: table "nope" does not exist', 1, true), tostring(err))
  end)
end)
