-- Issue 13, items 7, 9, 10, 11 and 13: values arrive byte for byte and the
-- same online and offline, on both databases; names the convention
-- shortens stay valid UTF-8; $N is inlined where the database binds it;
-- names over PostgreSQL's 63 bytes are treated the way PostgreSQL treats
-- them, or refused with a message.
--
-- The oracle for "offline equals online" is the database's own shell: the
-- same project is applied online to one fresh database and printed with
-- --sql, fed to `psql -v ON_ERROR_STOP=1` / `sqlite3 -bail`, for another.
local h = require "spec.helpers"
local core = require "luamig.core"

local q = h.shell_quote

-- A one-revision project whose upgrade is the Lua code up (and whose
-- downgrade is down, when given); config: luamig.lua's text.
local function project(up, down, config)
  return h.project({{id = "v1", code = true, up = up, down_sql = down}}, config)
end

local both_ways, query, hex = h.online_and_offline, h.query, h.hex

---------------------------------------------------------------------------
-- Item 7: binary values byte for byte
---------------------------------------------------------------------------

-- Lua code returning the byte strings under test (run by the migration and
-- by the spec, so both see the same values).
local BYTES = [[
local v = {"\\x41", "\0", "\\", "\\\\", "", "\255", "a\0b", "\\x", "\\000", "\n\r\t",
           "\\N", "\\.", "'", "''", "\0\0\0", "\\x4", "\\xzz", "\128\191\192"}
local all = {}
for b = 0, 255 do v[#v + 1] = string.char(b); all[#all + 1] = string.char(b) end
v[#v + 1] = table.concat(all)
v[#v + 1] = table.concat(all):rep(400)            -- 100 KB
return v
]]
local bytes = load(BYTES)()

local BINARY_UP = [[
  local values = (function() ]] .. BYTES .. [[ end)()
  op.create_table("blobs", {{"id", "integer", primary_key = true}, {"b", "binary"}})
  local rows = {}
  for i, s in ipairs(values) do rows[i] = {id = i, b = s} end
  rows[#rows + 1] = {id = #rows + 1}                  -- NULL stays NULL
  op.bulk_insert("blobs", rows)
  op.create_table("blobs2", {{"id", "integer", primary_key = true}, {"b", "binary"}})
  local i = 0
  op.bulk_insert("blobs2", function()                 -- the same from an iterator
    i = i + 1
    if values[i] then return {id = i, b = values[i]} end
  end)
]]

h.each_db(function(db)
  local pg = db.name == "postgresql"

  -- id -> hex of the value (and its storage class on SQLite)
  local function stored(url, tname)
    local sql = pg and ("SELECT id, encode(b, 'hex') AS hex FROM %s ORDER BY id")
                    or ("SELECT id, hex(b) AS hex, typeof(b) AS type FROM %s ORDER BY id")
    return query(url, sql:format(core.quote_ident(tname)))
  end

  local function expected(with_null)
    local rows = {}
    for i, s in ipairs(bytes) do
      rows[i] = {id = i, hex = hex(s, not pg), type = not pg and "blob" or nil}
    end
    if with_null then   -- hex(NULL) is '' on SQLite, encode(NULL) NULL on PostgreSQL
      rows[#rows + 1] = {id = #rows + 1, hex = not pg and "" or nil, type = not pg and "null" or nil}
    end
    return rows
  end

  describe("item 7: bulk_insert into a binary column", function()
    it("stores every byte value, NUL, backslashes, \\x41 literally, '' and 100 KB byte for byte, "
       .. "online and offline alike", function()
      local online, offline = both_ways(db, project(BINARY_UP))
      for _, url in ipairs({online, offline}) do
        assert.same(expected(true), stored(url, "blobs"))
        assert.same(expected(false), stored(url, "blobs2"))
      end
      -- read back through luamig's own query, the bytes are the same too
      local rows = query(online, "SELECT id, b FROM blobs ORDER BY id")
      for i, s in ipairs(bytes) do assert.equal(s, rows[i].b) end
    end)

    it("still refuses a value that is not a string, naming the row", function()
      local dir = project([[
        op.create_table("blobs", {{"id", "integer", primary_key = true}, {"b", "binary"}})
        op.bulk_insert("blobs", {{id = 1, b = "ok"}, {id = 2, b = 42}})
      ]])
      local status, _, err = h.luamig(dir, "--url " .. q(db.url()) .. " upgrade head")
      assert.equal(1, status)
      assert.truthy(err:find('bulk_insert: row 2, column "b": wrong type for the column (binary): '
        .. "expected a string of bytes, got integer 42", 1, true), err)
    end)
  end)
end)

---------------------------------------------------------------------------
-- Item 13: NaN, infinities and the integer limits
---------------------------------------------------------------------------

h.each_db(function(db)
  local pg = db.name == "postgresql"

  describe("item 13: special numbers in bulk_insert", function()
    local NUMBERS_UP = [[
      op.create_table("nums", {{"id", "integer", primary_key = true}, {"f", "double"},
                               {"big", "bigint"}, {"t", "text"}, {"n", "numeric"}})
      op.bulk_insert("nums", {
        {id = 1, f = math.huge, big = math.maxinteger, t = math.huge, n = math.huge},
        {id = 2, f = -math.huge, big = math.mininteger, t = -math.huge, n = -math.huge},
        {id = 3, f = 0.1, big = 0, t = 0.1, n = 0.1},
        {id = 4, f = 1e308, big = -1, t = math.maxinteger, n = math.maxinteger},
        {id = 5, f = 5e-324, t = math.mininteger, n = math.mininteger},
        {id = 6, f = 1/3, t = 1/3, n = 2^53},
        {id = 7, f = math.maxinteger, t = 1e300, n = -0.0},
      })
    ]]

    it("±inf and the 64-bit limits arrive the same online and offline, and as text the same on "
       .. "both databases", function()
      local online, offline = both_ways(db, project(NUMBERS_UP))
      local sql = "SELECT id, f, big, t FROM nums ORDER BY id"
      local want = {
        {id = 1, f = math.huge, big = math.maxinteger, t = "Infinity"},
        {id = 2, f = -math.huge, big = math.mininteger, t = "-Infinity"},
        {id = 3, f = 0.1, big = 0, t = "0.1"},
        {id = 4, f = 1e308, big = -1, t = "9223372036854775807"},
        {id = 5, f = 5e-324, t = "-9223372036854775808"},
        {id = 6, f = 1/3, t = "0.3333333333333333"},
        {id = 7, f = 2^63, t = "1e+300"},
      }
      assert.same(want, query(online, sql))
      assert.same(want, query(offline, sql))
      local nsql = pg and "SELECT id, n::text AS n FROM nums ORDER BY id"
                      or "SELECT id, n, typeof(n) AS type FROM nums ORDER BY id"
      assert.same(query(online, nsql), query(offline, nsql))
    end)

    for _, case in ipairs({
      {what = "a double column", col = '{"x", "double"}', value = "0/0"},
      {what = "a text column", col = '{"x", "text"}', value = "-(0/0)"},
      {what = "a numeric column", col = '{"x", "numeric(10,2)"}', value = "math.huge - math.huge"},
    }) do
      it("NaN in " .. case.what .. " is refused online and offline, naming the row and column", function()
        local dir = project(([[
          op.create_table("nums", {{"id", "integer", primary_key = true}, %s})
          op.bulk_insert("nums", {{id = 1, x = 1}, {id = 2, x = %s}})
        ]]):format(case.col, case.value))
        h.refused_online_and_offline(db, dir, 'bulk_insert: row 2, column "x": NaN cannot be inserted '
          .. "(SQLite would store NULL, PostgreSQL NaN): use nil for no value", "nums")
      end)
    end

    it("NaN is refused by conn:bulk_insert itself, without a column kind", function()
      local conn = db.connect()
      conn:exec("CREATE TABLE t (x DOUBLE PRECISION)")
      local err = tostring(h.error_of(conn.bulk_insert, conn, "t", {"x"}, {{x = 1.5}, {x = 0/0}}))
      assert.truthy(err:find("bulk_insert into 't': row 2, column 'x': NaN cannot be inserted "
        .. "(SQLite would store NULL, PostgreSQL NaN): use nil for no value", 1, true), err)
      assert.same({{n = 0}}, conn:query("SELECT count(*) AS n FROM t WHERE x IS NULL"))
      conn:close()
    end)
  end)
end)

---------------------------------------------------------------------------
-- Item 9: the naming convention shortens at character boundaries
---------------------------------------------------------------------------

h.each_db(function(db)
  local pg = db.name == "postgresql"

  describe("item 9: long non-ASCII names shortened by the convention", function()
    local tname = ("таблица"):rep(4) .. "xy"          -- 58 bytes: fits, its constraints do not
    local UP = ([[
      local t = %q
      op.create_table(t, {
        {"id", "integer", primary_key = true},
        {"имя", "text", unique = true, index = true},
        {"parent", "integer", references = t .. ".id"},
        {"n", "integer", check = "n > 0"},
      })
      op.create_index(nil, t, {"n"})
    ]]):format(tname)
    -- every name and (SQLite) every stored statement of the table
    local function names(url)
      local sql = pg and [[SELECT conname AS name FROM pg_constraint WHERE conrelid = $1::regclass
                           UNION SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                           WHERE i.indrelid = $1::regclass ORDER BY 1]]
                      or [[SELECT name FROM sqlite_master WHERE tbl_name = $1
                           UNION SELECT sql FROM sqlite_master WHERE tbl_name = $1 AND sql IS NOT NULL ORDER BY 1]]
      local out = {}
      for i, r in ipairs(query(url, sql, {pg and core.quote_ident(tname) or tname})) do out[i] = r.name end
      return out
    end

    it("every name is valid UTF-8 of at most 63 bytes, online, in --sql and offline", function()
      local online, offline, sql = both_ways(db, project(UP))
      assert.truthy(utf8.len(sql), "--sql output is not valid UTF-8")
      local got = names(online)
      assert.same(got, names(offline))
      assert.truthy(#got >= 4, table.concat(got, ", "))
      for _, n in ipairs(got) do
        assert.truthy(utf8.len(n), ("not valid UTF-8: %q"):format(n))
      end
      -- the shortened names: a whole-character prefix, "_" and an 8-digit hash
      for _, full in ipairs({"uq_" .. tname .. "_имя", "fk_" .. tname .. "_parent_" .. tname,
                             "ix_" .. tname .. "_имя"}) do
        local fit = sql:match('"(' .. full:sub(1, 12) .. '[^"]*_%x%x%x%x%x%x%x%x)"')
        assert.truthy(fit, full .. " in\n" .. sql)
        assert.truthy(#fit <= 63 and #fit >= 62 and utf8.len(fit), fit)
        assert.equal(full:sub(1, #fit - 9), fit:sub(1, -10))
      end
    end)

    it("a name cut anywhere in a character keeps the whole characters", function()
      local common = require "luamig.dialect.common"
      for extra = 0, 4 do
        local name = ("x"):rep(extra) .. ("ж"):rep(40)      -- the cut falls on both parities
        local fit = common.fit_name(name)
        assert.truthy(#fit <= 63 and #fit >= 62, fit)
        assert.truthy(utf8.len(fit), fit)
        assert.equal(name:sub(1, #fit - 9), fit:sub(1, -10))
        local fit4 = common.fit_name(("😀"):rep(20) .. ("x"):rep(extra))   -- 4-byte characters
        assert.truthy(utf8.len(fit4), fit4)
      end
      -- two names alike up to the cut still differ
      assert.are_not.equal(common.fit_name(("ж"):rep(40) .. "a"), common.fit_name(("ж"):rep(40) .. "b"))
    end)
  end)
end)

---------------------------------------------------------------------------
-- Item 10: $N inlined in offline SQL where the database binds it
---------------------------------------------------------------------------

describe("item 10: op.execute parameters in --sql", function()
  local sqltext = require "luamig.sqltext"
  local function lit(v) return "<" .. tostring(v) .. ">" end

  it("[postgresql] inlines $N inside [...] and leaves dollar quotes, E'' strings and nested "
     .. "comments alone", function()
    local function pg(sql) return sqltext.inline(sql, {"a", "b"}, lit, "postgresql") end
    assert.equal("SELECT data[<a>] #>> '{}'", pg("SELECT data[$1] #>> '{}'"))
    assert.equal("SELECT ARRAY[<a>, <b>]", pg("SELECT ARRAY[$1, $2]"))
    assert.equal("SELECT `<a>`, x$1", pg("SELECT `$1`, x$1"))
    assert.equal("SELECT $$ $1 $$, <a>", pg("SELECT $$ $1 $$, $1"))
    assert.equal("SELECT $t$ $1 $x$ $2 $t$, <b>", pg("SELECT $t$ $1 $x$ $2 $t$, $2"))
    assert.equal([[SELECT E'it\'s $1', <a>]], pg([[SELECT E'it\'s $1', $1]]))
    assert.equal("SELECT /* a /* b */ $1 */ <b>", pg("SELECT /* a /* b */ $1 */ $2"))
    assert.equal("SELECT 'x' -- $1\n, <b>", pg("SELECT 'x' -- $1\n, $2"))
    assert.equal('SELECT "$1", a$1, <a>', pg('SELECT "$1", a$1, $1'))
  end)

  it("[sqlite] leaves [...] and `...` identifiers alone, and E'...' is a plain string", function()
    local function lite(sql) return sqltext.inline(sql, {"a", "b"}, lit, "sqlite") end
    assert.equal("SELECT [$1], `$2`, <a>", lite("SELECT [$1], `$2`, $1"))
    assert.equal([[SELECT e'\', <a>]], lite([[SELECT e'\', $1]]))
    assert.equal("SELECT /* a /* b */ <a> */", lite("SELECT /* a /* b */ $1 */"))
  end)

  h.each_db(function(db)
    local pg = db.name == "postgresql"
    it("a statement with $N inside brackets runs the same online and offline", function()
      local up = pg and [[
        op.create_table("docs", {{"id", "integer", primary_key = true}, {"data", "jsonb"},
                                 {"title", "text"}, {"tags", "text[]"}, {"note", "text"}})
        op.execute("INSERT INTO docs (id, data) VALUES (1, $1::jsonb)", {'{"k": "v\'s"}'})
        op.execute("UPDATE docs SET title = data[$1] #>> '{}', tags = ARRAY[$2, $1], "
                   .. "note = $x$keeps $1$x$ || E'\\'$2' || $2 WHERE id = 1", {"k", "t"})
      ]] or [[
        op.create_table("docs", {{"id", "integer", primary_key = true}, {"$1", "text"},
                                 {"title", "text"}, {"note", "text"}})
        op.execute("INSERT INTO docs (id, [$1], title, note) VALUES (1, $1, '$1', $2 || '$1')",
                   {"k", "t"})
      ]]
      local online, offline, sql = both_ways(db, project(up))
      assert.falsy(sql:find("[$1]", 1, true) and pg, sql)
      local select = pg and "SELECT id, title, array_to_string(tags, ',') AS tags, note FROM docs"
                        or 'SELECT id, "$1" AS d, title, note FROM docs'
      local want = pg and {{id = 1, title = "v's", tags = "t,k", note = "keeps $1'$2t"}}
                      or {{id = 1, d = "k", title = "$1", note = "t$1"}}
      assert.same(want, query(online, select))
      assert.same(want, query(offline, select))
    end)
  end)
end)

---------------------------------------------------------------------------
-- Item 11: names over PostgreSQL's 63 bytes
---------------------------------------------------------------------------

h.each_db(function(db)
  local pg = db.name == "postgresql"

  describe("item 11: identifiers over 63 bytes", function()
    -- the name PostgreSQL keeps (the oracle: its own cast to name)
    local function stored_name(name)
      if not pg then return name end
      return query(db.url(), "SELECT $1::name::text AS n", {name})[1].n
    end

    for _, tname in ipairs({("long_table_"):rep(7), ("длинная_таблица_"):rep(3), ("x"):rep(63),
                            ("y"):rep(64), "a" .. ("😀"):rep(17), 'we"ird $1 ' .. ("ж"):rep(30)}) do
      local refused = pg and #tname > 63            -- PostgreSQL would truncate it: refused (doc/op.md)
      it(("bulk_insert into a table named with %d bytes, and the ops around it%s"):format(#tname,
          refused and ": refused on PostgreSQL, saying what it would keep" or ""), function()
        local up = ([[
          local t = %q
          op.create_table(t, {{"id", "integer", primary_key = true}, {"v", "text"}})
          op.add_column(t, {"w", "binary"})
          op.bulk_insert(t, {{id = 1, v = "one", w = "\\x41"}, {id = 2, v = "two"}})
          op.create_index("ix_v", t, {"v"})
          op.bulk_insert(t, {{id = 3, v = "three"}})
        ]]):format(tname)
        if refused then
          return h.refused_online_and_offline(db, project(up), ('v1.lua:9: the name "%s" is %d bytes: PostgreSQL would '
            .. 'truncate it to its first %d bytes ("%s")'):format(tname, #tname, #stored_name(tname), stored_name(tname)),
            stored_name(tname))
        end
        local online, offline = both_ways(db, project(up))
        local kept = stored_name(tname)
        if pg then
          assert.truthy(#kept <= 63 and utf8.len(kept), kept)
        end
        local sql = ("SELECT id, v, w FROM %s ORDER BY id"):format(core.quote_ident(kept))
        local want = {{id = 1, v = "one", w = "\\x41"}, {id = 2, v = "two"}, {id = 3, v = "three"}}
        assert.same(want, query(online, sql))
        assert.same(want, query(offline, sql))
      end)
    end

    it("a column named with more than 63 bytes is found by bulk_insert" .. (pg and ": refused on PostgreSQL" or ""), function()
      local col = ("колонка_"):rep(5)                 -- 75 bytes
      local up = ([[
        op.create_table("t", {{"id", "integer", primary_key = true}, {%q, "text"}})
        op.bulk_insert("t", {{id = 1, [%q] = "x"}})
      ]]):format(col, col)
      if pg then
        return h.refused_online_and_offline(db, project(up), ('v1.lua:8: the name "%s" is 75 bytes: PostgreSQL would '
          .. 'truncate it to its first %d bytes ("%s")'):format(col, #stored_name(col), stored_name(col)), "t")
      end
      local online, offline = both_ways(db, project(up))
      local sql = ("SELECT %s AS c FROM t"):format(core.quote_ident(stored_name(col)))
      assert.same({{c = "x"}}, query(online, sql))
      assert.same({{c = "x"}}, query(offline, sql))
    end)

    -- version_table lengths: the log table and the primary key derive from it
    for _, case in ipairs({
      {name = ("v"):rep(61), ok = true},
      {name = ("v"):rep(53) .. "_version", ok = true},  -- 61 bytes, log "<53>_log"
      {name = ("v"):rep(62)},
      {name = ("v"):rep(63)},
      {name = ("v"):rep(80)},
      {name = ("в"):rep(31)},                         -- 62 bytes
    }) do
      local what = ("a version_table of %d bytes"):format(#case.name)
      local ok = case.ok or not pg
      it(what .. (ok and " keeps its rows and its log" or " is refused up front, saying why"), function()
        local dir = h.project({{id = "v1", up = "CREATE TABLE t1 (x INTEGER)"}},
                              ("version_table = %q\n"):format(case.name))
        local url = db.url()
        local status, _, err = h.luamig(dir, "--url " .. q(url) .. " upgrade head")
        if ok then
          assert.equal(0, status, err)
          assert.same({"v1"}, h.version_rows(url, stored_name(case.name)))
          local log = core.version_log_name(case.name)
          local rows = query(url, ("SELECT revision, direction FROM %s"):format(core.quote_ident(stored_name(log))))
          assert.same({{revision = "v1", direction = "upgrade"}}, rows)
          status, _, err = h.luamig(dir, "--url " .. q(url) .. " current")
          assert.equal(0, status, err)
        else
          assert.equal(1, status, err)
          assert.truthy(err:find(('FAILED: version_table "%s" is too long for PostgreSQL'):format(case.name), 1, true), err)
          assert.truthy(err:find("PostgreSQL keeps the first 63 bytes of a name", 1, true), err)
          assert.same({}, h.tables(url))
          local sql
          status, sql, err = h.luamig(dir, "--url " .. q(url) .. " upgrade head --sql")
          assert.equal(1, status, sql)
          assert.truthy(err:find(('version_table "%s" is too long for PostgreSQL'):format(case.name), 1, true), err)
          status, _, err = h.luamig(dir, "--url " .. q(url) .. " current")
          assert.equal(1, status, err)
          assert.truthy(err:find(('version_table "%s" is too long for PostgreSQL'):format(case.name), 1, true), err)
        end
      end)
    end
  end)
end)
