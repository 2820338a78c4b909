-- luamig.introspect on SQLite and PostgreSQL: tables made by hand as well
-- as by op, a fixed number of catalog queries whatever the number of
-- tables, and luamig's own tables left out.
local h = require "spec.helpers"
local introspect = require "luamig.introspect"
local luamig_op = require "luamig.op"

h.each_db(function(db)
  local pg = db.name == "postgresql"
  local conn
  before_each(function() conn = db.connect() end)
  after_each(function() conn:close() end)

  -- A stand-in for the connection that counts the queries made through it.
  local function counting(c)
    local n = {queries = 0}
    local proxy = {}
    function proxy.query(_, ...) n.queries = n.queries + 1; return c:query(...) end
    function proxy.dialect() return c:dialect() end
    return proxy, n
  end

  it("reads the whole schema in four queries (five on PostgreSQL: its enum types), whatever the number of tables", function()
    local op = luamig_op.new{conn = conn}
    op.create_table("t0", {{"id", "integer", primary_key = true}})
    local proxy, n = counting(conn)
    introspect.schema(proxy)
    assert.equal(pg and 5 or 4, n.queries)
    for i = 1, 30 do
      op.create_table("t" .. i, {{"id", "integer", primary_key = true}, {"p", "integer", references = "t0.id", index = true},
                                 {"u", "text", unique = true, check = "u <> 'x'"}})
    end
    n.queries = 0
    local s = introspect.schema(proxy)
    assert.equal(pg and 5 or 4, n.queries)
    local count = 0
    for _ in pairs(s.tables) do count = count + 1 end
    assert.equal(31, count)
    assert.same({{name = "fk_t30_p_t0", columns = {"p"}, ref_table = "t0", ref_columns = {"id"}}},
                s.tables.t30.foreign_keys)
  end)

  it("leaves out luamig's own tables, not other tables", function()
    conn:exec("CREATE TABLE luamig_version (version_num VARCHAR(64) PRIMARY KEY)")
    conn:exec("CREATE TABLE luamig_log (id INTEGER)")
    conn:exec("CREATE TABLE luamigrant (id INTEGER)")
    local names = {}
    for name in pairs(introspect.schema(conn).tables) do names[#names + 1] = name end
    assert.same({"luamigrant"}, names)
    assert.truthy(introspect.table(conn, "luamig_version"))
    assert.same({}, introspect.schema(conn, {exclude = {luamigrant = true}}).tables)
  end)

  it("reads tables written by hand: inline constraints, unnamed ones, actions", function()
    conn:exec([[CREATE TABLE parent (id INTEGER PRIMARY KEY, code VARCHAR(10) NOT NULL UNIQUE)]])
    conn:exec([[CREATE TABLE "Child" (
      id INTEGER NOT NULL,
      parent_id INTEGER CONSTRAINT fk_named REFERENCES parent (id) ON DELETE SET NULL ON UPDATE CASCADE,
      code VARCHAR(10) REFERENCES parent (code),
      qty NUMERIC(5,1) DEFAULT 2.5 CHECK (qty >= 0),
      note TEXT DEFAULT 'n/a',
      PRIMARY KEY (id),
      CONSTRAINT "both" UNIQUE (parent_id, code))]])
    conn:exec([[CREATE UNIQUE INDEX "ix child" ON "Child" (code, qty DESC) WHERE qty > 1]])
    local t = introspect.table(conn, "Child")
    assert.same({
      {name = "id", type = "integer", nullable = false, autoincrement = not pg},
      {name = "parent_id", type = "integer", nullable = true, autoincrement = false},
      {name = "code", type = "string(10)", nullable = true, autoincrement = false},
      {name = "qty", type = "numeric(5,1)", nullable = true, default = "2.5", autoincrement = false},
      {name = "note", type = "text", nullable = true, default = "'n/a'", autoincrement = false},
    }, t.columns)
    assert.same({name = pg and "Child_pkey" or nil, columns = {"id"}}, t.primary_key)
    assert.same({{name = "both", columns = {"parent_id", "code"}}}, t.uniques)
    assert.same({
      {name = pg and "Child_code_fkey" or nil, columns = {"code"}, ref_table = "parent", ref_columns = {"code"}},
      {name = "fk_named", columns = {"parent_id"}, ref_table = "parent", ref_columns = {"id"},
       on_delete = "SET NULL", on_update = "CASCADE"},
    }, t.foreign_keys)
    assert.same({{name = pg and "Child_qty_check" or nil, condition = pg and "qty >= 0::numeric" or "qty >= 0"}}, t.checks)
    -- qty DESC: the order is read (issue 16; it was lost before)
    assert.same({{name = "ix child", unique = true, columns = {"code", "qty"}, where = pg and "qty > 1::numeric" or "qty > 1",
                  column_options = {[2] = {order = "desc"}}}}, t.indexes)
  end)

  if not pg then
    it("leaves out virtual tables and their shadow tables", function()
      conn:exec("CREATE VIRTUAL TABLE docs USING fts5(body)")
      conn:exec("CREATE TABLE real (id INTEGER)")
      local names = {}
      for name in pairs(introspect.schema(conn).tables) do names[#names + 1] = name end
      assert.same({"real"}, names)
    end)
  end

  if pg then
    it("reads the session's temporary tables with temp = true, and only then", function()
      conn:exec("CREATE TABLE kept (id INTEGER)")
      conn:exec("CREATE TEMPORARY TABLE scratch (id INTEGER PRIMARY KEY, s VARCHAR(5) DEFAULT 'x')")
      local read = require("luamig.introspect.postgresql").read
      local temp = read(conn, {temp = true}).tables
      assert.same({"scratch"}, (function() local n = {} for k in pairs(temp) do n[#n + 1] = k end return n end)())
      assert.same({name = "s", type = "string(5)", nullable = true, default = "'x'", autoincrement = false},
                  temp.scratch.columns[2])
      assert.is_nil(introspect.schema(conn).tables.scratch)
    end)
  end

  it("an absent table is nil", function()
    assert.is_nil(introspect.table(conn, "nope"))
    assert.same({}, introspect.schema(conn).tables)
  end)
end)
