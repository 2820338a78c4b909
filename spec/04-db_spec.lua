-- The db layer through luamig.core, on SQLite and PostgreSQL alike:
-- bound values, rows, transactions, errors, quoting, and the life of a
-- connection.
local core = require "luamig.core"
local h = require "spec.helpers"

h.each_db(function(db)
  local pg = db.name == "postgresql"
  local conn
  before_each(function() conn = db.connect() end)
  after_each(function() if conn then conn:close() end end)

  local function create_values_table()
    conn:exec([[CREATE TABLE vals (id INTEGER PRIMARY KEY, i BIGINT, f DOUBLE PRECISION,
                s TEXT, b BOOLEAN)]])
  end

  describe("bound parameters", function()
    local strings = {"", "it's", [[say "hi"]], "back\\slash", "two\nlines\r\n", "tab\there",
                     "héllo wörld ✓ 日本語", "'; DROP TABLE vals; --", "$1 ? :name"}

    it("round-trip integers beyond 2^53, floats, strings, booleans and NULL through a table", function()
      create_values_table()
      local ints = {0, -1, 9007199254740993, -9007199254740993, math.maxinteger, math.mininteger}
      local floats = {0.1, -2.5, 1e300, 5e-324, 1 / 3}
      for n, v in ipairs(ints) do conn:exec("INSERT INTO vals (id, i) VALUES ($1, $2)", {n, v}) end
      for n, v in ipairs(floats) do conn:exec("INSERT INTO vals (id, f) VALUES ($1, $2)", {100 + n, v}) end
      for n, v in ipairs(strings) do conn:exec("INSERT INTO vals (id, s) VALUES ($1, $2)", {200 + n, v}) end
      conn:exec("INSERT INTO vals (id, b) VALUES ($1, $2), ($3, $4)", {301, true, 302, false})
      conn:exec("INSERT INTO vals (id, i, f, s, b) VALUES ($1, $2, $3, $4, $5)", {n = 5, 400})
      local rows = conn:query("SELECT id, i, f, s, b FROM vals ORDER BY id")
      local got = {}
      for _, r in ipairs(rows) do got[r.id] = r end
      for n, v in ipairs(ints) do
        assert.equal(v, got[n].i)
        assert.equal("integer", math.type(got[n].i))
      end
      for n, v in ipairs(floats) do
        assert.equal(v, got[100 + n].f)
        assert.equal("float", math.type(got[100 + n].f))
      end
      for n, v in ipairs(strings) do assert.equal(v, got[200 + n].s) end
      assert.equal(true, got[301].b)
      assert.equal(false, got[302].b)
      assert.same({id = 400}, got[400])               -- every other column NULL, so absent
    end)

    it("type values selected directly, with no column to guide them", function()
      local rows = conn:query("SELECT $1 AS i, $2 AS f, $3 AS s, $4 AS n",
                              {n = 4, math.maxinteger, 0.1, "x'y"})
      assert.same({i = math.maxinteger, f = 0.1, s = "x'y"}, rows[1])
      assert.equal("integer", math.type(rows[1].i))
    end)

    it("use one value twice and in any order", function()
      local rows = conn:query("SELECT $2 AS a, $1 AS b, $2 AS c", {"one", "two"})
      assert.same({a = "two", b = "one", c = "two"}, rows[1])
    end)

    it("carry bytes that are not text (NUL, invalid UTF-8) into a binary column", function()
      conn:exec(("CREATE TABLE bin (id INTEGER PRIMARY KEY, data %s)"):format(pg and "BYTEA" or "BLOB"))
      local bytes = "a\0b\255\254\0"
      -- as core.binary: a plain string is text, and one with NUL is refused (issue 13)
      conn:exec("INSERT INTO bin (id, data) VALUES (1, $1)", {core.binary(bytes)})
      assert.equal(bytes, conn:query("SELECT data FROM bin")[1].data)
      assert.truthy(tostring(h.error_of(conn.exec, conn, "INSERT INTO bin (id, data) VALUES (2, $1)",
        {bytes})):find("a string with a NUL byte cannot be bound as text", 1, true))
    end)

    it("refuse a value that cannot be bound, naming it", function()
      local err = h.error_of(conn.exec, conn, "SELECT $1", {{}})
      assert.truthy(tostring(err):find("bad parameter $1: a table cannot be bound (use nil, a "
        .. "boolean, a number or a string)", 1, true), tostring(err))
    end)

    it("say when the values do not match the placeholders", function()
      local err = h.error_of(conn.query, conn, "SELECT $1 AS a, $2 AS b", {1})
      local expected = pg and "bind message supplies 1 parameters, but prepared statement \"\" requires 2"
                          or "the statement uses $2 but 1 value was given"
      assert.equal(expected, err.message)
      assert.equal("SELECT $1 AS a, $2 AS b", err.sql)
    end)
  end)

  describe("exec and query", function()
    it("exec runs a script of several statements and returns the rows changed", function()
      conn:exec([[CREATE TABLE t (x INTEGER);
                  INSERT INTO t (x) VALUES (1), (2), (3);  -- a comment
                  /* another */ UPDATE t SET x = x + 10 WHERE x > 1;]])
      assert.equal(3, conn:exec("DELETE FROM t WHERE x > $1", {0}))
    end)

    it("query returns the rows keyed by column and the column names in order", function()
      conn:exec("CREATE TABLE t (b TEXT, a INTEGER)")
      conn:exec("INSERT INTO t (b, a) VALUES ('x', 1), ('y', 2)")
      local rows, columns = conn:query("SELECT b, a FROM t ORDER BY a")
      assert.same({{b = "x", a = 1}, {b = "y", a = 2}}, rows)
      assert.same({"b", "a"}, columns)
      local none, cols2 = conn:query("SELECT a FROM t WHERE a > $1", {99})
      assert.same({}, none)
      assert.same({"a"}, cols2)
    end)
  end)

  describe("errors", function()
    it("carry the database's message, code, statement and position", function()
      local err = h.error_of(conn.query, conn, "SELECT x FROM missing_table")
      assert.equal("luamig.Error", getmetatable(err).__name)
      assert.equal("SELECT x FROM missing_table", err.sql)
      if pg then
        assert.equal('relation "missing_table" does not exist', err.message)
        assert.equal("42P01", err.sqlstate)
        assert.equal("42P01", err.code)
        assert.equal(15, err.position)
      else
        assert.equal("no such table: missing_table", err.message)
        assert.equal(1, err.code)                      -- SQLITE_ERROR
      end
      assert.equal(err.message, tostring(err))
    end)

    it("point at a syntax error", function()
      local err = h.error_of(conn.exec, conn, "CREATE TABLE ok (x INTEGER); SELECT 1 FROM WHERE")
      assert.equal(pg and 'syntax error at or near "WHERE"' or 'near "WHERE": syntax error', err.message)
      assert.equal(44, err.position)
      assert.equal("CREATE TABLE ok (x INTEGER); SELECT 1 FROM WHERE", err.sql)
    end)

    it("name the failing statement of a script", function()
      conn:exec("CREATE TABLE t (x INTEGER PRIMARY KEY)")
      local err = h.error_of(conn.exec, conn, "INSERT INTO t VALUES (1); INSERT INTO t VALUES (1);")
      if pg then
        assert.equal('duplicate key value violates unique constraint "t_pkey"\nDETAIL: Key (x)=(1) already exists.', err.message)
        assert.equal("23505", err.sqlstate)
      else
        assert.equal("UNIQUE constraint failed: t.x", err.message)
        assert.equal(1555, err.code)                   -- SQLITE_CONSTRAINT_PRIMARYKEY
        assert.equal("INSERT INTO t VALUES (1);", err.sql)
      end
    end)
  end)

  describe("transactions", function()
    local function tables()
      local sql = pg and "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
                      or "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1"
      local names = {}
      for _, r in ipairs(conn:query(sql)) do names[#names + 1] = r.name end
      return names
    end

    it("a failed statement inside a transaction leaves nothing behind, DDL included", function()
      conn:exec("CREATE TABLE kept (x INTEGER)")
      local ok = pcall(function()
        local tx <close> = conn:begin()
        conn:exec("CREATE TABLE made_in_tx (x INTEGER)")
        conn:exec("CREATE INDEX ix_made ON made_in_tx (x)")
        conn:exec("INSERT INTO kept (x) VALUES (1)")
        conn:exec("INSERT INTO no_such_table VALUES (1)")    -- fails: tx closes, rolls back
        tx:commit()
      end)
      assert.is_false(ok)
      assert.is_false(conn:in_transaction())
      assert.same({"kept"}, tables())
      assert.same({}, (conn:query("SELECT x FROM kept")))
    end)

    it("commit makes the work visible to another connection", function()
      local url = db.url()
      local a, b = core.connect(url), core.connect(url)
      do
        local tx <close> = a:begin()
        a:exec("CREATE TABLE t (x INTEGER)")
        a:exec("INSERT INTO t (x) VALUES ($1)", {42})
        tx:commit()
        assert.is_false(tx:active())
      end
      assert.same({{x = 42}}, (b:query("SELECT x FROM t")))
      a:close() b:close()
    end)

    it("an explicit rollback undoes DDL", function()
      local tx = conn:begin()
      conn:exec("CREATE TABLE t (x INTEGER)")
      tx:rollback()
      assert.same({}, tables())
      assert.is_false(conn:in_transaction())
    end)

    it("refuse to commit twice, to roll back a committed one, or to nest", function()
      local tx = conn:begin()
      assert.equal("cannot begin: a transaction is already open",
                   h.error_of(conn.begin, conn).message)
      tx:commit()
      assert.truthy(tostring(h.error_of(tx.commit, tx)):find(
        "cannot commit: the transaction was already committed", 1, true))
      assert.truthy(tostring(h.error_of(tx.rollback, tx)):find(
        "cannot roll back: the transaction was already committed", 1, true))
    end)

    it("a transaction dropped without commit is rolled back by the collector", function()
      do
        local tx = conn:begin()                        -- not to-be-closed
        conn:exec("CREATE TABLE t (x INTEGER)")
        tx = nil                                       -- luacheck: ignore
      end
      collectgarbage() collectgarbage()
      assert.is_false(conn:in_transaction())
      assert.same({}, tables())
    end)

    if pg then
      it("COMMIT of a transaction aborted by an error fails and keeps nothing", function()
        local tx = conn:begin()
        conn:exec("CREATE TABLE t (x INTEGER)")
        assert.is_table(h.error_of(conn.exec, conn, "SELECT * FROM nope"))
        local err = h.error_of(tx.commit, tx)
        assert.equal("COMMIT did not take effect: the transaction was aborted by an earlier "
                     .. "error and has been rolled back", err.message)
        assert.is_false(conn:in_transaction())
        assert.same({}, tables())
      end)
    end
  end)

  describe("quoting", function()
    local hostile = {"select", 'we"ird', "a b", "x;drop table y", "Mixed Case", "ünï", "--", "order"}

    it("hostile identifiers round-trip through CREATE, INSERT and SELECT", function()
      conn:exec("CREATE TABLE y (keep INTEGER)")
      for n, name in ipairs(hostile) do
        local t, c = conn:quote_ident(name), conn:quote_ident(name .. "_col")
        conn:exec(("CREATE TABLE %s (%s TEXT)"):format(t, c))
        conn:exec(("INSERT INTO %s (%s) VALUES ($1)"):format(t, c), {name})
        local rows = conn:query(("SELECT %s AS v FROM %s"):format(c, t))
        assert.same({{v = name}}, rows, "table #" .. n)
      end
      local sql = pg and "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
                      or "SELECT name FROM sqlite_master WHERE type = 'table'"
      local names = {}
      for _, r in ipairs(conn:query(sql)) do names[r.name] = true end
      for _, name in ipairs(hostile) do assert.is_true(names[name], name) end
      assert.is_true(names.y)                          -- "x;drop table y" dropped nothing
    end)

    it("quote_ident doubles quotes and refuses empty names and NUL", function()
      assert.equal('"we""ird"', core.quote_ident('we"ird'))
      assert.equal('"select"', conn:quote_ident("select"))
      assert.equal("an identifier cannot be empty", h.error_of(core.quote_ident, "").message)
      assert.equal("an identifier cannot contain a NUL byte", h.error_of(core.quote_ident, "a\0b").message)
    end)

    it("quote_literal is safe for any string, whatever the server's settings", function()
      local values = {"plain", "it's", "back\\slash\\'", "\\'; DROP TABLE y; --", "new\nline", "ü✓", ""}
      if pg then conn:exec("SET standard_conforming_strings = off") end
      for _, v in ipairs(values) do
        local rows = conn:query("SELECT " .. conn:quote_literal(v) .. " AS v")
        assert.equal(v, rows[1].v)
      end
      if pg then
        conn:exec("SET standard_conforming_strings = on")
        for _, v in ipairs(values) do
          assert.equal(v, conn:query("SELECT " .. core.quote_literal("postgresql", v) .. " AS v")[1].v)
        end
      end
      assert.equal("a string literal cannot contain a NUL byte",
                   h.error_of(conn.quote_literal, conn, "a\0b").message)
    end)
  end)

  describe("bulk_insert", function()
    before_each(function()
      conn:exec("CREATE TABLE bulk (id BIGINT NOT NULL, name TEXT, score DOUBLE PRECISION, ok BOOLEAN)")
    end)

    local function all_rows()
      return (conn:query("SELECT id, name, score, ok FROM bulk ORDER BY id"))
    end

    it("loads a list of rows with every kind of value", function()
      local rows = {
        {id = 1, name = "tab\there", score = 0.1, ok = true},
        {id = 2, name = "new\nline\\back\r", score = -1e300},
        {id = 3, name = "héllo ✓ 'q' \"dq\"", ok = false},
        {id = math.maxinteger},
      }
      assert.equal(4, conn:bulk_insert("bulk", {"id", "name", "score", "ok"}, rows))
      assert.same(rows, all_rows())
    end)

    it("streams rows from an iterator, reporting progress", function()
      local n, seen = 0, {}
      local function next_row()
        n = n + 1
        if n <= 25000 then return {id = n, name = "row " .. n} end
      end
      local tx <close> = conn:begin()
      local count = conn:bulk_insert("bulk", {"id", "name"}, next_row,
                                     {progress = function(done) seen[#seen + 1] = done end})
      tx:commit()
      assert.equal(25000, count)
      assert.same({10000, 20000}, seen)
      local r = conn:query("SELECT count(*) AS n, CAST(sum(id) AS BIGINT) AS s, max(name) AS m FROM bulk")[1]
      assert.same({n = 25000, s = 25000 * 25001 // 2, m = "row 9999"}, r)
    end)

    it("quotes hostile table and column names", function()
      conn:exec('CREATE TABLE "we""ird tbl" ("select" INTEGER, "a b" TEXT)')
      conn:bulk_insert('we"ird tbl', {"select", "a b"}, {{select = 1, ["a b"] = "x"}})
      assert.same({{["select"] = 1, ["a b"] = "x"}}, (conn:query('SELECT * FROM "we""ird tbl"')))
    end)

    it("names the row of an unknown column and leaves the connection usable", function()
      local tx = conn:begin()
      local err = h.error_of(conn.bulk_insert, conn, "bulk", {"id", "name"},
                             {{id = 1}, {id = 2, nmae = "typo"}})
      assert.truthy(tostring(err):find("bulk_insert into 'bulk': row 2: unknown column 'nmae' "
        .. "(the columns are id, name)", 1, true), tostring(err))
      tx:rollback()
      assert.same({}, all_rows())
      conn:exec("INSERT INTO bulk (id) VALUES (7)")
      assert.same({{id = 7}}, all_rows())
    end)

    it("refuses a value of a type it cannot insert, naming row and column", function()
      local err = h.error_of(conn.bulk_insert, conn, "bulk", {"id", "name"},
                             {{id = 1}, {id = 2}, {id = 3, name = {}}})
      assert.truthy(tostring(err):find("bulk_insert into 'bulk': row 3, column 'name': a table "
        .. "cannot be inserted (use nil, a boolean, a number or a string)", 1, true), tostring(err))
      assert.equal(1, conn:exec("INSERT INTO bulk (id) VALUES (1)"))
    end)

    it("reports the database's error with the row number", function()
      local err
      if pg then
        err = h.error_of(conn.bulk_insert, conn, "bulk", {"id", "name"}, {{id = 1}, {id = "abc"}})
        assert.equal('bulk_insert into \'bulk\': row 2, column id: invalid input syntax for type '
          .. 'bigint: "abc"', err.message)
        assert.equal("22P02", err.sqlstate)
      else
        err = h.error_of(conn.bulk_insert, conn, "bulk", {"id", "name"}, {{id = 1}, {name = "no id"}})
        assert.equal("bulk_insert into 'bulk': row 2: NOT NULL constraint failed: bulk.id", err.message)
      end
      assert.equal(1, conn:exec("INSERT INTO bulk (id) VALUES (1)"))
    end)

    it("ends the load cleanly when the iterator raises", function()
      local n = 0
      local err = h.error_of(conn.bulk_insert, conn, "bulk", {"id"}, function()
        n = n + 1
        if n == 3 then error("source broke") end
        return {id = n}
      end)
      assert.truthy(tostring(err):find("source broke", 1, true))
      assert.equal(1, conn:exec("INSERT INTO bulk (id) VALUES (99)"))
    end)

    it("leaves the collector's mode as it found it after a long load", function()
      for _, mode in ipairs({"incremental", "generational"}) do
        collectgarbage(mode)
        local n = 0
        local tx <close> = conn:begin()
        conn:bulk_insert("bulk", {"id"}, function()
          n = n + 1
          if n <= 12000 then return {id = n} end
        end)
        assert.equal(mode, collectgarbage("incremental"), "the mode after the load")
      end
    end)

    it("matches column names longer than Lua interns", function()
      local long = ("c"):rep(60)
      conn:exec(("CREATE TABLE wide_names (%s INTEGER, %s TEXT)"):format(long, long .. "2"))
      local rows = {}
      for i = 1, 3 do rows[i] = {[long] = i, [long .. "2"] = "v" .. i} end
      assert.equal(3, conn:bulk_insert("wide_names", {long, long .. "2"}, rows))
      local got = conn:query(("SELECT %s AS a, %s AS b FROM wide_names ORDER BY 1"):format(long, long .. "2"))
      assert.same({{a = 1, b = "v1"}, {a = 2, b = "v2"}, {a = 3, b = "v3"}}, got)
    end)

    it("sends opts.first as row 1, then the iterator's rows", function()
      local n = 1
      local count = conn:bulk_insert("bulk", {"id"}, function()
        n = n + 1
        if n <= 3 then return {id = n} end
      end, {first = {id = 1}})
      assert.equal(3, count)
      assert.same({{id = 1}, {id = 2}, {id = 3}}, all_rows())
      assert.truthy(tostring(h.error_of(conn.bulk_insert, conn, "bulk", {"id"}, {{id = 4}},
        {first = {id = 1}})):find("opts.first goes with an iterator", 1, true))
    end)

    it("checks each value against its column's kind as op_bulk's accepts does", function()
      -- the C check (value_kind.c) and the Lua predicates must agree on every value
      local accepts = require("luamig.op.bulk").accepts
      local values = {0, 1, 2, -7, 1.0, 0.5, -0.0, 1e300, 0/0, math.huge, true, false,
        "", " ", "12", " -12 ", "+3", "1 2", "12a", "0x10", "1.5", "1.", ".5", ".", "+.5e3",
        "1e5", "1e", "1e+", "1E-7", " 2.5 ", "\t7\n", "inf", "nan", "-", "--1", "١٢"}
      for _, generic in ipairs({"integer", "float", "boolean", "text", "timestamp"}) do
        local acc = accepts[generic]
        for _, v in ipairs(values) do
          local tx <close> = conn:begin()
          local ok, err = pcall(conn.bulk_insert, conn, "bulk", {"id", "name"}, {{id = 1, name = v}},
                                {kinds = {"any", acc[3]}})
          assert.equal(acc[1](v), ok, ("%s %q: C %s"):format(generic, tostring(v), tostring(err)))
          if not ok then
            assert.truthy(tostring(err):find("row 1, column 'name': " .. (v ~= v and "NaN cannot be inserted"
              or "wrong type for the column: expected " .. acc[3]), 1, true), tostring(err))
          end
        end
      end
    end)

    it("lets opts.explain give the message for a bad row", function()
      local seen
      local err = h.error_of(conn.bulk_insert, conn, "bulk", {"id", "name"},
        {{id = 1}, {id = 2, name = {}}},
        {explain = function(row, n) seen = n error("row " .. n .. " explained", 0) end})
      assert.equal(2, seen)
      assert.equal("row 2 explained", tostring(err))
      assert.equal(1, conn:exec("INSERT INTO bulk (id) VALUES (1)"))
    end)

    it("names a table that does not exist", function()
      local err = h.error_of(conn.bulk_insert, conn, "nope", {"id"}, {{id = 1}})
      assert.equal(pg and "bulk_insert into 'nope': relation \"nope\" does not exist"
                      or "bulk_insert into 'nope': no such table: nope", err.message)
    end)
  end)

  describe("the connection object", function()
    it("reports its dialect", function()
      assert.equal(db.name, conn:dialect())
    end)

    it("closes twice safely and raises when used after close", function()
      local c = db.connect()
      c:close()
      c:close()
      assert.equal("luamig.Conn (closed)", tostring(c))
      for _, call in ipairs{
        function() c:exec("SELECT 1") end, function() c:query("SELECT 1") end,
        function() c:begin() end, function() c:dialect() end,
      } do
        assert.truthy(tostring(h.error_of(call)):find("attempt to use a closed connection", 1, true))
      end
    end)

    it("a transaction outliving its connection raises on commit", function()
      local c = db.connect()
      local tx = c:begin()
      c:close()
      assert.truthy(tostring(h.error_of(tx.commit, tx)):find("attempt to use a closed connection", 1, true))
      assert.is_false(tx:active())
    end)

    it("closes as a to-be-closed variable, rolling back what was not committed", function()
      local url = db.url()
      do
        local c <close> = core.connect(url)
        c:begin()
        c:exec("CREATE TABLE t (x INTEGER)")
      end
      local c2 = core.connect(url)
      local sql = pg and "SELECT count(*) AS n FROM pg_tables WHERE tablename = 't'"
                      or "SELECT count(*) AS n FROM sqlite_master WHERE name = 't'"
      assert.equal(0, c2:query(sql)[1].n)
      c2:close()
    end)

    it("does not show a password in its text form", function()
      assert.is_nil(tostring(conn):find(h.pg_password, 1, true))
      assert.truthy(tostring(conn):find("^luamig.Conn %("))
    end)
  end)
end)

-- The facts the op layer renders offline, owned here and exported to Lua:
-- a value's fit for a column kind, a COPY line, $N inlining.
describe("core's offline SQL helpers", function()
  it("number_text: the shortest digits that read back, integers in decimal, PostgreSQL's infinities", function()
    local text = core.number_text
    assert.equal("0.1", text(0.1))
    assert.equal("0.30000000000000004", text(0.1 + 0.2))
    assert.equal("1", text(1.0))
    assert.equal("1e+100", text(1e100))
    assert.equal("9007199254740993", text(9007199254740993))
    assert.equal("-9223372036854775808", text(math.mininteger))
    assert.equal("Infinity", text(math.huge))
    assert.equal("-Infinity", text(-math.huge))
    for _, v in ipairs({0.1, 1 / 3, 2 ^ 0.5, 1e-300, 123456789.123, -5e-324}) do
      assert.equal(v, tonumber(text(v)))                -- no double is changed
    end
    assert.has_error(function() text("1") end)
  end)

  it("number_text's short-decimal path writes what the 15-16-17 digit search writes (issue 19)", function()
    -- the oracle: the fewest of 15, 16, 17 significant digits that read back, by Lua's own format
    local function oracle(v)
      if v == math.huge then return "Infinity" elseif v == -math.huge then return "-Infinity" end
      for digits = 15, 17 do
        local s = ("%." .. digits .. "g"):format(v)
        if digits == 17 or tonumber(s) == v then return s end
      end
    end
    local text = core.number_text
    local values = {0.0, -0.0, 0.5, -0.5, 1e-4, 9.9999e-5, 1.00005e-4, 0.0001, 0.00015, 1e15 - 1, 1e15,
                    1e15 - 0.5, 999999999999999.9, 99999999999.9999, 123456789012345.0, 1234567890.12345,
                    0.1, 0.2, 0.3, 0.7, 1.1, 2.675, 1e14 + 0.5, 4503599627370495.5, 1 / 3, 2 / 3,
                    12345.6789, -12345.6789, 3.0001, 0.00011, 7e-4, 5e-5, 1e-5}
    local seed = 19
    local function rand()                             -- a fixed sequence: a failure repeats
      seed = (seed * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff
      return seed
    end
    for _ = 1, 20000 do
      local digits, k = rand() % 16, rand() % 6
      local m = rand() % (math.tointeger(10 ^ digits) + 1)
      local v = m / 10 ^ k * (rand() % 2 == 0 and 1 or -1)
      values[#values + 1] = v
      values[#values + 1] = v + v * 2 ^ -52                 -- the next double up: not short
    end
    for _, v in ipairs(values) do
      assert.equal(oracle(v), text(v), ("%.17g"):format(v))
    end
  end)

  it("value_fits says whether a refused value is of the wrong kind or out of range", function()
    local function why(kind, v) return select(2, core.value_fits(kind, v)) end
    assert.equal("range", why("integer", "99999999999999999999"))
    assert.equal("range", why("integer", " -9223372036854775809 "))
    assert.is_nil(why("integer", "-9223372036854775808"))
    assert.equal("kind", why("integer", "99999999999999999999x"))
    assert.equal("kind", why("integer", "1e3"))
    assert.equal("range", why("number", "1e999"))
    assert.equal("range", why("number", "-1e-999"))
    assert.is_nil(why("number", "0e-999"))
    assert.equal("kind", why("number", "0x10"))
    assert.equal("kind", why("number", 0/0))
    assert.equal("kind", why("boolean", 2))
    assert.equal("kind", why("integer", {}))
  end)

  it("value_fits: value_kind.c's rule, nil fitting every kind", function()
    local fits = core.value_fits
    assert.is_true(fits("integer", 12))
    assert.is_true(fits("integer", " -12 "))
    assert.is_false(fits("integer", "12a"))
    assert.is_false(fits("integer", "99999999999999999999"))
    assert.is_false(fits("integer", 1.5))
    assert.is_true(fits("number", "1.5e3"))
    assert.is_false(fits("number", "0x10"))
    assert.is_false(fits("number", 0/0))
    assert.is_false(fits("number", "1e999"))
    assert.is_true(fits("boolean", 1))
    assert.is_false(fits("boolean", 2))
    assert.is_true(fits("text", 7))
    assert.is_false(fits("string", 7))
    assert.is_true(fits("binary", "bytes"))
    assert.is_true(fits("binary", core.binary("\0")))
    assert.is_false(fits("text", core.binary("\0")))
    assert.is_true(fits("any", core.binary("\0")))
    for _, kind in ipairs({"any", "integer", "number", "boolean", "text", "string", "binary"}) do
      assert.is_true(fits(kind, nil), kind)
    end
    assert.is_false(fits("any", {}))
    assert.truthy(tostring(h.error_of(fits, "int", 1)):find("invalid option 'int'", 1, true))
  end)

  it("copy_text: one line of COPY's text format, as the online COPY sends it", function()
    assert.equal("1\t\\N\ta\\tb\\\\c\\n\\rd\tt\tf\t0.1\t-Infinity\tNaN\t\\\\x00ff\n",
      core.copy_text({n = 9, 1, nil, "a\tb\\c\n\rd", true, false, 0.1, -math.huge, 0/0,
                      core.binary("\0\255")}))
    assert.equal("\\N\n", core.copy_text({n = 1}))
    -- kinds convert as bulk_insert does: bytes for binary, a number's text for text
    assert.equal("\\\\x6162\t5\t0.30000000000000004\t7\n",
      core.copy_text({"ab", 5, 0.1 + 0.2, 7}, {"binary", "text", "text", "integer"}))
    local line, bad = core.copy_text({"ok", "a\0b"})
    assert.is_nil(line)
    assert.equal(2, bad)
    assert.equal("\\\\x610062\n", core.copy_text({"a\0b"}, {"binary"}))
    assert.truthy(tostring(h.error_of(core.copy_text, {{}})):find(
      "copy_text: value 1: a table cannot be copied", 1, true))
  end)

  it("inline_sql: $N as literals of the dialect, outside quoted names", function()
    local sql = 'INSERT INTO "t$1" (a, b, c, d, e, f) VALUES ($1, $2, $3, $4, $5, $6)'
    local params = {n = 6, "it's", 7, nil, true, core.binary("AB"), 0.5}
    assert.equal([[INSERT INTO "t$1" (a, b, c, d, e, f) VALUES ('it''s', 7, NULL, TRUE, X'4142', 0.5)]],
                 core.inline_sql("sqlite", sql, params))
    assert.equal([[INSERT INTO "t$1" (a, b, c, d, e, f) VALUES ('it''s', 7, NULL, TRUE, decode('4142', 'hex'), 0.5)]],
                 core.inline_sql("postgresql", sql, params))
    assert.equal([[SELECT E'a\\b']], core.inline_sql("postgresql", "SELECT $1", {"a\\b"}))
    assert.equal("SELECT 'a\\b'", core.inline_sql("sqlite", "SELECT $1", {"a\\b"}))
    assert.equal("SELECT 1", core.inline_sql("sqlite", "SELECT 1"))
    assert.equal("SELECT 1-(-1), (-0.5)", core.inline_sql("sqlite", "SELECT 1-$1, $2", {-1, -0.5}))
    assert.equal("$1: NaN cannot be written as an SQL literal",
                 h.error_of(core.inline_sql, "sqlite", "SELECT $1", {0/0}).message)
    assert.truthy(tostring(h.error_of(core.inline_sql, "sqlite", "SELECT $1\0 $1", {1}))
                  :find("the SQL holds a NUL byte", 1, true))
    assert.equal("statement uses $2 but has 1 values",
                 h.error_of(core.inline_sql, "sqlite", "SELECT $2", {1}).message)
  end)
end)

h.each_db(function(db)
  it("inline_sql's text reads back as the bound values do", function()
    local conn <close> = db.connect()
    -- (a float is left out: PostgreSQL reads 2.5 as numeric, which comes back as text)
    local params = {n = 4, "it's \\ \"q\"", -7, core.binary("\0\1A"), "ünï"}
    local sql = "SELECT $1 AS s, $2 AS i, $3 AS b, $4 AS u"
    assert.same(conn:query(sql, params), conn:query(core.inline_sql(db.name, sql, params)))
    -- hostile forms (issue 15's second outside attack): a negative after "-" is no comment,
    -- a $1 inside a string literal is text
    sql = "SELECT 10-$1 AS d, -$2 AS m, '$1' AS s"
    params = {-1, -3}
    assert.same(conn:query(sql, params), conn:query(core.inline_sql(db.name, sql, params)))
    assert.same({{d = 11, m = 3, s = "$1"}}, conn:query(core.inline_sql(db.name, sql, params)))
  end)
end)
