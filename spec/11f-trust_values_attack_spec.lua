-- Issue 13, second round on values (an outside tester's attack): a $N
-- inlined by --sql stays the value online binds (a negative number is not a
-- comment, a string does not merge with the text beside it); strings of
-- numbers beyond 64 bits or a double are refused, not rounded; a float is
-- written with the fewest digits that read back, everywhere; a string
-- parameter with NUL is refused on PostgreSQL; bytes stay bytes.
--
-- The oracle for "offline equals online" is the database's own shell: the
-- same project is applied online to one fresh database and printed with
-- --sql, fed to `psql -v ON_ERROR_STOP=1` / `sqlite3 -bail`, for another.
local h = require "spec.helpers"
local core = require "luamig.core"

local q = h.shell_quote

local function project(up, config)
  return h.project({{id = "v1", code = true, up = up}}, config)
end

local shell, both_ways, query, hex = h.sql_shell, h.online_and_offline, h.query, h.hex

---------------------------------------------------------------------------
-- Item 1: a negative parameter in --sql is not a comment
---------------------------------------------------------------------------

h.each_db(function(db)
  local pg = db.name == "postgresql"

  describe("item 1: $N inlined by --sql", function()
    it("a negative number after '-', a minimum integer, 2^-2 and 100000*100000 give the rows "
       .. "online gives", function()
      local dir = project(([[
        op.execute("CREATE TABLE t (id integer PRIMARY KEY, s text, n numeric)")
        op.execute("INSERT INTO t (id, s) VALUES (1, 'r1'), (2, 'r2'), (3, 'r3')")
        op.execute("UPDATE t SET s = 'changed', n = $1-$2 WHERE id = 1", {5, -1})
        op.execute("UPDATE t SET s = 'hit' WHERE id = 1-$1", {-1})
        op.execute("UPDATE t SET n = -$1 WHERE id = 3", {-7})
        op.execute("INSERT INTO t (id, s) VALUES (4, CAST($1 AS text))", {math.mininteger})
        op.execute("INSERT INTO t (id, n) VALUES (5, $1)", {0.1})
        op.execute("INSERT INTO t (id, n) VALUES (6, $1*$2)", {100000, 100000})
        op.execute("INSERT INTO t (id, s) VALUES (7, $1)", {1/3})
        op.execute("INSERT INTO t (id, n) VALUES (8, $1-$2)", {-0.5, -1.5})
        %s
      ]]):format(pg and [[
        op.execute("INSERT INTO t (id, n) VALUES (9, 2^$1)", {-2})
        op.execute("INSERT INTO t (id, n) VALUES (10, $1::bigint)", {math.mininteger})
      ]] or ""))
      local online, offline, sql = both_ways(db, dir)
      for line in sql:gmatch("[^\n]+") do                 -- no comment was made
        assert.truthy(line:match("^%-%- Running") or not line:find("--", 1, true), line)
      end
      local want = {
        {id = 1, s = "changed", n = "6"},
        {id = 2, s = "hit"},
        {id = 3, s = "r3", n = "7"},
        {id = 4, s = "-9223372036854775808"},
        {id = 5, n = "0.1"},
        {id = 6, n = "10000000000"},
        {id = 7, s = pg and "0.3333333333333333" or "0.333333333333333"},
        {id = 8, n = "1"},
      }
      if pg then
        want[9] = {id = 9, n = "0.25"}
        want[10] = {id = 10, n = "-9223372036854775808"}
      end
      local sel = "SELECT id, s, CAST(n AS text) AS n FROM t ORDER BY id"
      assert.same(want, query(online, sel))
      assert.same(want, query(offline, sel))
    end)

    it("a parameter next to a quote or a digit does not merge with it: the statement fails "
       .. "offline as it does online", function()
      for _, stmt in ipairs({"SELECT $1||'x'$2", "SELECT 'x'$1", "SELECT 1$1"}) do
        local dir = project(('op.execute(%q, {"R", "S"})'):format(stmt))
        local url = db.url()
        local status, _, err = h.luamig(dir, "--url " .. q(url) .. " upgrade head")
        assert.equal(1, status, stmt)
        assert.truthy(err:find("syntax error", 1, true) or err:find("unrecognized token", 1, true), err)
        local sql
        status, sql, err = h.luamig(dir, "--url " .. q(url) .. " upgrade head --sql")
        assert.equal(0, status, err)
        assert.falsy(sql:find("'x''", 1, true), sql)       -- never one string x'R
        status, _, err = shell(db, url, dir, sql)
        assert.is_not.equal(0, status, stmt .. " ran offline:\n" .. sql)
        assert.truthy(err:find("syntax error", 1, true) or err:find("unrecognized token", 1, true), err)
      end
    end)
  end)
end)

---------------------------------------------------------------------------
-- Item 2: strings of numbers a column cannot hold are refused
---------------------------------------------------------------------------

h.each_db(function(db)
  local pg = db.name == "postgresql"

  describe("item 2: bulk_insert of an out-of-range number string", function()
    for _, case in ipairs({
      {col = "bigint", value = "9223372036854775808", range = "an integer must be between"},
      {col = "integer", value = "-9223372036854775809", range = "an integer must be between"},
      {col = "bigint", value = "99999999999999999999", range = "an integer must be between"},
      {col = "double", value = "1e400", range = "it is beyond a double's range"},
      -- float is double precision on PostgreSQL (as SQLAlchemy's Float): the
      -- database reads it back, online, as double; offline the script's float
      {col = "float", value = "-1e400", range = "it is beyond a double's range", pg_online = "double"},
      {col = "numeric(10,2)", value = "1e-400", range = "it is beyond a double's range"},
    }) do
      it(("%q into a %s column is refused online and offline, naming the row and column")
         :format(case.value, case.col), function()
        local dir = project(([[
          local t = op.create_table("t", {{"id", "integer", primary_key = true}, {"x", %q}})
          op.bulk_insert(t, {{id = 1, x = "12"}, {id = 2, x = %q}})
        ]]):format(case.col, case.value))
        local function want(t)
          return ('bulk_insert: row 2, column "x": "%s" is out of range for the column (%s): %s')
            :format(case.value, t, case.range)
        end
        if pg and case.pg_online then
          local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(db.url()) .. " upgrade head")
          assert.equal(1, status, err)
          assert.truthy(err:find(want(case.pg_online), 1, true), err)
          assert.same({}, h.version_rows(db.url()))
          local out
          status, out, err = h.luamig(dir, "--url " .. h.shell_quote(db.url()) .. " upgrade head --sql")
          assert.equal(1, status, out)
          assert.truthy(err:find(want(case.col), 1, true), err)
        else
          h.refused_online_and_offline(db, dir, want(case.col), "t")
        end
      end)
    end

    it("the 64-bit limits and the smallest double are accepted, stored exactly", function()
      local online, offline = both_ways(db, project([[
        local t = op.create_table("t", {{"id", "integer", primary_key = true}, {"i", "bigint"},
                                        {"f", "double"}})
        op.bulk_insert(t, {{id = 1, i = "9223372036854775807", f = "1e-310"},
                           {id = 2, i = " -9223372036854775808 ", f = "1.7976931348623157e308"},
                           {id = 3, i = "000000000000000000000042", f = "0e-999"}})
      ]]))
      local want = {{id = 1, i = math.maxinteger, f = 1e-310},
                    {id = 2, i = math.mininteger, f = 1.7976931348623157e308},
                    {id = 3, i = 42, f = 0.0}}
      for _, url in ipairs({online, offline}) do
        assert.same(want, query(url, "SELECT id, i, f FROM t ORDER BY id"))
      end
    end)

    it("conn:bulk_insert's C check agrees with op_bulk's Lua check on the edges", function()
      local accepts = require("luamig.op.bulk").accepts
      local conn = db.connect()
      conn:exec("CREATE TABLE bulk (id integer, name text)")
      local values = {"9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "-9223372036854775809", "18446744073709551616", "99999999999999999999", "  +9223372036854775807 ",
        "0000000000000000000000000001", "1e308", "1e309", "-1e309", "1e-400", "0e-400", "0.0e-999",
        "1e-320", "0.000", "1" .. ("0"):rep(400), "." .. ("0"):rep(400) .. "1"}
      for _, generic in ipairs({"integer", "float"}) do
        local acc = accepts[generic]
        for _, v in ipairs(values) do
          local tx <close> = conn:begin()
          local ok, err = pcall(conn.bulk_insert, conn, "bulk", {"id", "name"}, {{id = 1, name = v}},
                                {kinds = {"any", acc[3]}})
          assert.equal(acc[1](v), ok, ("%s %q: C %s"):format(generic, v, tostring(err)))
        end
      end
      conn:close()
    end)
  end)
end)

---------------------------------------------------------------------------
-- Item 4: a float as text has the fewest digits that read back
---------------------------------------------------------------------------

h.each_db(function(db)
  local pg = db.name == "postgresql"

  describe("item 4: float rendering", function()
    it("a float DEFAULT is 0.1, not 0.10000000000000001, online and offline", function()
      local online, offline = both_ways(db, project([[
        op.create_table("d", {{"id", "integer", primary_key = true},
                              {"n", "numeric(30,20)", default = 0.1}, {"s", "text", default = 0.1},
                              {"f", "double", default = 1/3}})
        op.execute("INSERT INTO d (id) VALUES (1)")
      ]]))
      local sel = "SELECT id, CAST(n AS text) AS n, s, f FROM d"
      local want = {{id = 1, n = pg and "0.10000000000000000000" or "0.1", s = "0.1", f = 1/3}}
      assert.same(want, query(online, sel))
      assert.same(want, query(offline, sel))
    end)

    it("bulk_insert of a float into string(50) stores the text a text column gets, and a numeric "
       .. "column the shortest digits, online and offline", function()
      local online, offline = both_ways(db, project([[
        local t = op.create_table("t", {{"id", "integer", primary_key = true}, {"s", "text"},
                                        {"v", "string(50)"}, {"n", "numeric(40,20)"}})
        op.bulk_insert(t, {{id = 1, s = 1/3, v = 1/3, n = 0.1}, {id = 2, s = 2^63, v = 2^63, n = 1/3},
                           {id = 3, s = 100.0, v = 100.0, n = 100.0}})
      ]]))
      local want = {
        {id = 1, s = "0.3333333333333333", v = "0.3333333333333333", type = "text"},
        {id = 2, s = "9.223372036854776e+18", v = "9.223372036854776e+18", type = "text"},
        {id = 3, s = "100", v = "100", type = "text"},
      }
      local sel = pg and "SELECT id, s, v, 'text' AS type FROM t ORDER BY id"
                     or "SELECT id, s, v, typeof(v) AS type FROM t ORDER BY id"
      assert.same(want, query(online, sel))
      assert.same(want, query(offline, sel))
      if pg then
        local nwant = {{n = "0.10000000000000000000"}, {n = "0.33333333333333330000"},
                       {n = "100.00000000000000000000"}}
        assert.same(nwant, query(online, "SELECT n::text AS n FROM t ORDER BY id"))
        assert.same(nwant, query(offline, "SELECT n::text AS n FROM t ORDER BY id"))
      end
    end)
  end)
end)

---------------------------------------------------------------------------
-- Items 3, 5, 6: NUL in a text parameter; bytes stay bytes
---------------------------------------------------------------------------

-- Byte strings that text input would change (PostgreSQL's bytea input reads
-- \x41 as "A"; SQLite would store TEXT): as Lua source, for the migrations.
local BYTES = [[{"\\x41", "\\\\", "\0\\x41", "\255\254", "", "'", "\\000", "a\0"}]]
local bytes = load("return " .. BYTES)()


h.each_db(function(db)
  local pg = db.name == "postgresql"

  -- id -> hex of b (and its storage class on SQLite)
  local function stored(url, tname)
    local sql = pg and "SELECT id, encode(b, 'hex') AS hex FROM %s ORDER BY id"
                    or "SELECT id, hex(b) AS hex, typeof(b) AS type FROM %s ORDER BY id"
    return query(url, sql:format(tname))
  end
  local function expected()
    local rows = {}
    for i, s in ipairs(bytes) do rows[i] = {id = i, hex = hex(s, not pg), type = not pg and "blob" or nil} end
    return rows
  end

  describe("item 3: a string parameter with a NUL byte", function()
    it("is refused by op.execute online as offline, on both databases, and nothing is stored", function()
      local dir = project([[
        op.execute("CREATE TABLE t (id integer PRIMARY KEY, s text)")
        op.execute("INSERT INTO t VALUES (1, $1)", {"x\0y"})
      ]])
      local url = db.url()
      local status, _, err = h.luamig(dir, "--url " .. q(url) .. " upgrade head")
      assert.equal(1, status)
      assert.truthy(err:find("v1%.lua:%d+: bad parameter %$1: a string with a NUL byte cannot be bound as "
        .. "text %(PostgreSQL's text cannot hold NUL%): for bytes use op%.binary%(s%)"), err)
      assert.same({}, h.version_rows(url))
      assert.same({}, query(url, pg and "SELECT tablename FROM pg_tables WHERE tablename = 't'"
                                     or "SELECT name FROM sqlite_master WHERE name = 't'"))
      local out
      status, out, err = h.luamig(dir, "--url " .. q(db.url()) .. " upgrade head --sql")
      assert.equal(1, status, out)
      assert.truthy(err:find("execute: parameter $1: a string literal cannot contain a NUL byte", 1, true), err)
    end)

    it("is refused by conn:exec and conn:query themselves", function()
      local conn = db.connect()
      conn:exec("CREATE TABLE t (s text)")
      for _, call in ipairs({conn.exec, conn.query}) do
        local err = tostring(h.error_of(call, conn, "SELECT length($1)", {"\0"}))
        assert.truthy(err:find("bad parameter $1: a string with a NUL byte", 1, true), err)
      end
      assert.same({{n = 0}}, conn:query("SELECT count(*) AS n FROM t"))
      conn:close()
    end)
  end)

  describe("item 6: op.binary", function()
    it("copies bytes read with op.query back byte for byte with op.execute", function()
      local online = db.url()
      local dir = project(([[
        local values = %s
        local src = op.create_table("src", {{"id", "integer", primary_key = true}, {"b", "binary"}})
        op.create_table("dst", {{"id", "integer", primary_key = true}, {"b", "binary"}})
        local rows = {}
        for i, s in ipairs(values) do rows[i] = {id = i, b = s} end
        op.bulk_insert(src, rows)
        for _, r in ipairs(op.query("SELECT id, b FROM src ORDER BY id")) do
          op.execute("INSERT INTO dst (id, b) VALUES ($1, $2)", {r.id, op.binary(r.b)})
        end
      ]]):format(BYTES))
      local status, _, err = h.luamig(dir, "--url " .. q(online) .. " upgrade head")
      assert.equal(0, status, err)
      assert.same(expected(), stored(online, "src"))
      assert.same(expected(), stored(online, "dst"))
      local rows = query(online, "SELECT id, b FROM dst ORDER BY id")
      for i, s in ipairs(bytes) do assert.equal(s, rows[i].b) end
    end)

    it("op.execute and bulk_insert by name store op.binary values as bytes, online and offline alike",
       function()
      local online, offline, sql = both_ways(db, project(([[
        local values = %s
        op.execute("CREATE TABLE e (id integer PRIMARY KEY, b %s)")
        op.execute("CREATE TABLE k (id integer PRIMARY KEY, b %s)")
        local rows = {}
        for i, s in ipairs(values) do
          op.execute("INSERT INTO e (id, b) VALUES ($1, $2)", {i, op.binary(s)})
          rows[i] = {id = i, b = op.binary(s)}
        end
        op.bulk_insert("k", rows)
      ]]):format(BYTES, pg and "bytea" or "blob", pg and "bytea" or "blob")))
      assert.falsy(sql:find("\0", 1, true))                 -- bytes go as hex, never raw
      for _, url in ipairs({online, offline}) do
        assert.same(expected(), stored(url, "e"))
        assert.same(expected(), stored(url, "k"))
      end
    end)

    it("is refused where a column takes text, and is not a plain string anywhere else", function()
      local dir = project([[
        local t = op.create_table("t", {{"id", "integer", primary_key = true}, {"s", "text"}})
        op.bulk_insert(t, {{id = 1, s = op.binary("ab")}})
      ]])
      local status, _, err = h.luamig(dir, "--url " .. q(db.url()) .. " upgrade head")
      assert.equal(1, status)
      assert.truthy(err:find('bulk_insert: row 1, column "s": wrong type for the column (text): expected '
        .. "a string, got table luamig.Binary (2 bytes)", 1, true), err)
      assert.equal("luamig.Binary (3 bytes)", tostring(core.binary("a\0b")))
      assert.truthy(tostring(h.error_of(core.binary, 42)):find("string expected", 1, true))
    end)
  end)

  describe("item 5: bulk_insert offline into a table the run did not create", function()
    local CREATE = [[op.create_table("t", {{"id", "integer", primary_key = true}, {"b", "binary"}})]]

    -- Apply v1 to two databases, then v2 online to one and offline to the other.
    local function second_step(v2)
      local dir = h.project({{id = "v1", code = true, up = CREATE},
                             {id = "v2", down = "v1", code = true, up = v2}})
      local online, offline = db.url(), db.url()
      local status, _, err = h.luamig(dir, "--url " .. q(online) .. " upgrade head")
      assert.equal(0, status, err)
      status, _, err = h.luamig(dir, "--url " .. q(offline) .. " upgrade v1")
      assert.equal(0, status, err)
      local sql
      status, sql, err = h.luamig(dir, "--url " .. q(offline) .. " upgrade v1:head --sql")
      assert.equal(0, status, err)
      local shell_status, _, shell_err = shell(db, offline, dir, sql)
      assert.equal(0, shell_status, shell_err)
      return online, offline, err
    end

    it("with the types declared by op.table, bytes are written as bytes, as online", function()
      local online, offline, err = second_step(([[
        local values = %s
        local rows = {}
        for i, s in ipairs(values) do rows[i] = {id = i, b = s} end
        op.bulk_insert(op.table("t", {{"id", "integer"}, {"b", "binary"}}), rows)
      ]]):format(BYTES))
      assert.falsy(err:find("unknown offline", 1, true), err)
      assert.same(expected(), stored(online, "t"))
      assert.same(expected(), stored(offline, "t"))
    end)

    it("by name alone, says once on stderr that the types are unknown and how to declare them", function()
      local _, _, err = second_step([[
        op.bulk_insert("t", {{id = 1, b = "abc"}})
        op.bulk_insert("t", {{id = 2, b = "def"}})
      ]])
      local want = 'bulk_insert: the column types of table "t" are unknown offline (the run did not '
        .. "create it): its string values are written as text, which a binary column reads differently "
        .. 'than online; declare the types by passing op.table("t", {{"column", "type"}, ...}) or the '
        .. "table's model in place of the name, or wrap bytes in op.binary(s)"
      local first = err:find(want, 1, true)
      assert.truthy(first, err)
      assert.falsy(err:find(want, first + 1, true), err)
    end)
  end)
end)

---------------------------------------------------------------------------
-- Second outside attack: the databases' own spellings of a type (bytea,
-- BLOB, INT8, REAL) are checked and bound as the generic ones are.
h.each_db(function(db)
  local pg = db.name == "postgresql"

  it("a column declared in the database's own spelling of binary keeps its bytes online and offline", function()
    for _, spelling in ipairs(pg and {"bytea", "BYTEA"} or {"BLOB", "blob"}) do
      local dir = project(([[
        op.create_table("t", {{"id", "integer", primary_key = true}, {"b", %q}})
        op.bulk_insert("t", {{id = 1, b = "\\x41"}, {id = 2, b = "a\0b"}, {id = 3, b = "\\\\"}})
      ]]):format(spelling))
      local online, offline = both_ways(db, dir)
      local sql = pg and "SELECT id, encode(b, 'hex') AS h FROM t ORDER BY id"
                      or "SELECT id, lower(hex(b)) AS h, typeof(b) AS k FROM t ORDER BY id"
      local want = {}
      for i, s in ipairs{"\\x41", "a\0b", "\\\\"} do
        want[i] = {id = i, h = hex(s), k = (not pg) and "blob" or nil}
      end
      assert.same(want, query(online, sql), spelling)
      assert.same(want, query(offline, sql), spelling)
    end
  end)

  it("an integer column in the database's own spelling refuses what does not fit 64 bits", function()
    for _, spelling in ipairs{"INT8", "bigint", "INT"} do
      local dir = project(([[
        op.create_table("t", {{"id", "integer", primary_key = true}, {"n", %q}})
        op.bulk_insert("t", {{id = 1, n = "9223372036854775808"}})
      ]]):format(spelling))
      h.refused_online_and_offline(db, dir,
        'bulk_insert: row 1, column "n": "9223372036854775808" is out of range for the column', "t")
    end
  end)
end)

-- Second outside attack: SQLite binds ?N and a bare ? online; --sql left
-- them in the script, where sqlite3 bound NULL.
describe("[sqlite] ? and ?N placeholders: --sql inlines them as online binds them", function()
  local db = h.dialects[1]                              -- sqlite
  it("a bare ?, ?N and $N mixed give the same rows online and offline", function()
    local dir = project([[
      op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text"}, {"b", "text"}})
      op.execute("INSERT INTO t (id, a, b) VALUES (1, ?, ?)", {"x", "y"})
      op.execute("INSERT INTO t (id, a, b) VALUES (2, ?2, ?1)", {"x", "y"})
      op.execute("INSERT INTO t (id, a, b) VALUES (3, $2, ?)", {"x", "y"})
    ]])
    local online, offline, sql = both_ways(db, dir)
    assert.is_nil(sql:find("?", 1, true), sql)
    local want = {{id = 1, a = "x", b = "y"}, {id = 2, a = "y", b = "x"}, {id = 3, a = "y", b = "y"}}
    assert.same(want, query(online, "SELECT id, a, b FROM t ORDER BY id"))
    assert.same(want, query(offline, "SELECT id, a, b FROM t ORDER BY id"))
  end)
end)
