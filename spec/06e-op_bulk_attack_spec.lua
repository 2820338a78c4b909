-- Issue 19's outside attack on bulk_insert (after its hot path was made
-- faster): each finding's reproducer, on both databases where it applies.
local h = require "spec.helpers"
local core = require "luamig.core"
local luamig_op = require "luamig.op"

-- values as a Lua list constructor, for a migration's text
local function lua_list(values)
  local out = {}
  for i, s in ipairs(values) do out[i] = ("%q"):format(s) end
  return "{" .. table.concat(out, ", ") .. "}"
end

h.each_db(function(db)
  local pg = db.name == "postgresql"

  describe("outside attack (issue 19)", function()
    local conn, op
    before_each(function()
      conn = db.connect()
      op = luamig_op.new{conn = conn}
      op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text"}, {"c", "text"}})
    end)
    after_each(function() conn:close() end)

    local function rows()
      return (conn:query("SELECT id, a, c FROM t ORDER BY id"))
    end

    it("2: a row whose fields come from a metatable's __index is read through it, not stored as NULLs", function()
      local proto = {__index = function(_, k) return k == "a" and "from index" or nil end}
      local tx = conn:begin()
      op.bulk_insert("t", {setmetatable({id = 1, c = "own"}, proto),
                           setmetatable({}, {__index = {id = 2, a = "x", c = "y"}})},
                     {columns = {"id", "a", "c"}})
      local i = 0
      op.bulk_insert("t", function()                    -- from an iterator too
        i = i + 1
        if i <= 3 then return setmetatable({}, {__index = {id = 10 + i, a = "it" .. i}}) end
      end, {columns = {"id", "a", "c"}})
      tx:commit()
      assert.same({{id = 1, a = "from index", c = "own"}, {id = 2, a = "x", c = "y"},
                   {id = 11, a = "it1"}, {id = 12, a = "it2"}, {id = 13, a = "it3"}}, rows())
    end)

    it("2: a value read through __index is checked like any other, naming the row and column", function()
      local tx = conn:begin()
      local err = h.error_of(function()
        op.bulk_insert("t", {{id = 1}, setmetatable({id = 2}, {__index = {a = {}}})}, {columns = {"id", "a"}})
      end)
      tx:rollback()
      assert.truthy(tostring(err):find('bulk_insert: row 2, column "a": a table cannot be inserted', 1, true), tostring(err))
    end)

    it("5: a statement from the rows' iterator is refused in words on PostgreSQL, runs on SQLite", function()
      local tx = conn:begin()
      local i = 0
      local ok, err = pcall(op.bulk_insert, "t", function()
        i = i + 1
        if i == 3 then op.execute("CREATE TABLE u (x integer)") end
        if i <= 5 then return {id = i} end
      end)
      if pg then
        assert.is_false(ok)
        assert.truthy(tostring(err):find("a statement was sent while bulk_insert into 't' streams its rows "
          .. "(COPY holds the connection until the last row): run it before or after the bulk_insert, "
          .. "not from its rows' iterator", 1, true), tostring(err))
        tx:rollback()
        -- the connection is usable again: the COPY ended
        assert.same({{n = 1}}, (conn:query("SELECT 1 AS n")))
      else
        assert.is_true(ok, tostring(err))
        tx:commit()
        assert.equal(5, #rows())
      end
    end)

    it("6: a load that fails part-way leaves none of its rows, even when the migration catches the error", function()
      local tx = conn:begin()
      local ok = pcall(op.bulk_insert, "t", {{id = 1, a = "1"}, {id = 2, a = "2"}, {id = 3, a = {}}})
      assert.is_false(ok)
      local i = 0
      ok = pcall(op.bulk_insert, "t", function()      -- the iterator's own error
        i = i + 1
        if i == 3 then error("source failed") end
        return {id = 10 + i}
      end)
      assert.is_false(ok)
      ok = pcall(op.bulk_insert, "t", {{id = 7}, {id = 7}})   -- the database's own refusal
      assert.is_false(ok)
      op.bulk_insert("t", {{id = 99}})                -- the step goes on
      tx:commit()
      assert.same({{id = 99}}, rows())
    end)

    it("6: outside a transaction too (a transactional = false step)", function()
      local ok = pcall(op.bulk_insert, "t", {{id = 1}, {id = 2}, {id = 1}})   -- a duplicate key at row 3
      assert.is_false(ok)
      assert.same({}, rows())
      assert.is_false(conn:in_transaction())
      op.bulk_insert("t", {{id = 5}, {id = 6}})
      assert.same({{id = 5}, {id = 6}}, rows())
      assert.is_false(conn:in_transaction())
    end)

    if not pg then
      it("3: a decimal string for a number column is stored as the nearest double (SQLite's reader is off by one ulp)", function()
        op.create_table("nums", {{"id", "integer", primary_key = true}, {"f", "double"}, {"n", "numeric"}})
        op.bulk_insert("nums", {{id = 1, f = "0.0177214", n = "0.0177214"}, {id = 2, f = " 1.5e3 "},
                                {id = 3, n = "9223372036854775807"}, {id = 4, f = 0.0177214}})
        local got = conn:query("SELECT id, f, n FROM nums ORDER BY id")
        assert.equal(0.0177214, got[1].f)
        assert.equal(0.0177214, got[1].n)
        assert.equal(1500.0, got[2].f)
        assert.equal(math.maxinteger, got[3].n)          -- an integer string stays exact
        assert.equal(got[4].f, got[1].f)
      end)
    end
  end)

  describe("outside attack R2 (issue 19), online and offline", function()
    local function project(up) return h.project({{id = "v1", code = true, up = up}}) end

    it("D1: a value from __index is checked offline as online (it was written unchecked to --sql)", function()
      h.refused_online_and_offline(db, project([[
  op.create_table("t", {{"id", "integer", primary_key = true}, {"n", "integer"}})
  op.bulk_insert("t", {{id = 1, n = 1}, setmetatable({id = 2}, {__index = {n = "12abc"}})})]]),
        'bulk_insert: row 2, column "n": wrong type for the column (integer): expected an integer, got string "12abc"', "t")
    end)

    it("D1: a row's own values are read raw, not through __pairs, online and offline alike", function()
      local online, offline = h.online_and_offline(db, project([[
  op.create_table("t", {{"id", "integer", primary_key = true}, {"v", "text"}})
  local mt = {__pairs = function() error("__pairs is not read") end,
              __index = function(_, k) if k == "v" then return "via index" end end}
  op.bulk_insert("t", {setmetatable({id = 1}, mt), setmetatable({id = 2, v = "own"}, mt)}, {columns = {"id", "v"}})]]))
      for _, url in ipairs{online, offline} do
        assert.same({{id = 1, v = "via index"}, {id = 2, v = "own"}}, h.query(url, "SELECT id, v FROM t ORDER BY id"))
      end
    end)

    it("D3: a first row with no keys of its own and no opts.columns is refused in words", function()
      h.refused_online_and_offline(db, project([[
  op.create_table("t", {{"id", "integer", primary_key = true}})
  op.bulk_insert("t", {setmetatable({}, {__index = {id = 1}})})]]),
        "bulk_insert: row 1 has no keys of its own, so no columns: the first row's keys are the columns "
        .. "unless opts.columns names them", "t")
    end)

    -- a caught failure part-way: none of the load's rows stay, and the step goes on (on
    -- PostgreSQL --sql left the COPY block without its "\." and psql read the statements
    -- after it as rows)
    local caught = [[
  pcall(op.bulk_insert, "t", {{id = 1, v = "a"}, {id = 2, v = "b"}, {id = 3, v = {}}})
  local i = 0
  pcall(op.bulk_insert, "t", function() i = i + 1; if i == 3 then error("x") end; return {id = 10 + i} end)
  op.bulk_insert("t", {{id = 99, v = "kept"}})
  op.execute("UPDATE t SET v = v || '!'")]]
    local create = [[
  op.create_table("t", {{"id", "integer", primary_key = true}, {"v", "text"}})]]

    it("D2: a load the migration catches failing leaves none of its rows offline either (savepoint)", function()
      local online, offline, sql = h.online_and_offline(db, project(create .. "\n" .. caught))
      assert.truthy(sql:find(pg and "ROLLBACK TO SAVEPOINT luamig_bulk" or "ROLLBACK TO luamig_bulk", 1, true), sql)
      for _, url in ipairs{online, offline} do
        assert.same({{id = 99, v = "kept!"}}, h.query(url, "SELECT id, v FROM t ORDER BY id"))
      end
    end)

    it("D2: outside the step's transaction too (transactional = false, op.autocommit_block)", function()
      for _, body in ipairs{caught, "  op.autocommit_block(function()\n" .. caught .. "\n  end)"} do
        local dir = h.project({{id = "v0", code = true, up = create},
          {id = "v1", down = "v0", code = true, up = body,
           extra = body == caught and "transactional = false" or nil}})
        local online, offline = h.online_and_offline(db, dir)
        for _, url in ipairs{online, offline} do
          assert.same({{id = 99, v = "kept!"}}, h.query(url, "SELECT id, v FROM t ORDER BY id"))
          assert.same({"v1"}, h.version_rows(url))
        end
      end
    end)
  end)

  describe("outside attack (issue 19), online and offline", function()
    it("1: a CR before a LF in a text value is stored online and through the database's shell alike", function()
      local values = {"a\r\nb", "\r", "x\r\n\r\ny", "\r\n", "it's\r\n", "plain"}
      local up = ([[
  op.create_table("t", {{"id", "integer", primary_key = true}, {"s", "text"}})
  local values = %s
  local rows = {}
  for i, s in ipairs(values) do rows[i] = {id = i, s = s} end
  op.bulk_insert("t", rows)]]):format(lua_list(values))
      local dir = h.project({{id = "v1", code = true, up = up}})
      local online, offline = h.online_and_offline(db, dir)
      local want = {}
      for i, s in ipairs(values) do want[i] = {id = i, hex = h.hex(s, not pg)} end
      local sql = pg and "SELECT id, encode(convert_to(s, 'UTF8'), 'hex') AS hex FROM t ORDER BY id"
                      or "SELECT id, hex(s) AS hex FROM t ORDER BY id"
      assert.same(want, h.query(online, sql))
      assert.same(want, h.query(offline, sql))
    end)
  end)
end)

describe("core.quote_literal on SQLite writes each CR as char(13)", function()
  it("so that the sqlite3 shell cannot drop it", function()
    assert.equal("('a' || char(13) || '\nb')", core.quote_literal("sqlite", "a\r\nb"))
    assert.equal("'a\nb'", core.quote_literal("sqlite", "a\nb"))
    assert.equal("'a\r\nb'", core.quote_literal("postgresql", "a\r\nb"))
  end)
end)
