-- What the luamig command tells its user (issue 14, items 12, 14, 16):
-- which database a command works on and where its URL came from; a new
-- SQLite file announced; bulk_insert progress on a terminal, and nothing
-- when stderr is not one; a misspelled generic type refused with the
-- generic name it is one edit from, and the type grammar a generic name
-- takes (precisions, time zones, arrays, collations).
local h = require "spec.helpers"

local q = h.shell_quote

-- A project whose one revision's upgrade is code.
local function project_with(up, config)
  return h.project({{id = "a1", message = "one", code = true, up = up,
                     down_sql = "  op.drop_table('t')"}}, config)
end

-- The lines of err that are log lines naming the database.
local function database_lines(err)
  local t = {}
  for _, line in ipairs(h.lines(err)) do
    if line:find("[luamig] Database: ", 1, true) or line:find("[luamig] Created the SQLite", 1, true)
       or line:find("[luamig] Generating SQL for ", 1, true) then
      t[#t + 1] = line
    end
  end
  return t
end

-- A URL as the Database line shows it: its password as ***.
local function display(url)
  return (require "luamig.core").parse_url(url).display
end

-- Runs the command under script(1), so that its stderr is a terminal;
-- returns the status and what the terminal showed (stdout and stderr).
local function on_terminal(dir, args)
  local cmd = ("cd %s && %s %s"):format(q(dir), q(h.bin), args)
  local status, out = h.run(("script -qec %s /dev/null"):format(q(cmd)))
  return status, (out:gsub("\r\n", "\n"))
end

h.each_db(function(db)
  local pg = db.name == "postgresql"

  describe("which database a command works on (item 12)", function()
    local revs = {{id = "d1", message = "one", up = "CREATE TABLE d (id INTEGER)", down_sql = "DROP TABLE d"}}

    it("--url: upgrade, current, stamp and downgrade say the URL and that it came from --url", function()
      local dir, url = h.project(revs), db.url()
      local want = "INFO  [luamig] Database: " .. display(url) .. " (from --url)"
      for _, args in ipairs({"upgrade head", "current", "history -i", "downgrade base", "stamp head",
                             "stamp base", "verify", "ensure_version", "upgrade head --plan"}) do
        local status, _, err = h.luamig(dir, "--url " .. q(url) .. " " .. args)
        assert.equal(0, status, args .. ": " .. err)
        local lines = database_lines(err)
        assert.equal(want, lines[1], args .. ": " .. err)
        assert.equal(1, #h.grep(err, "Database:"), args .. ": " .. err)
      end
    end)

    it("DATABASE_URL, and the url in luamig.lua (or -c FILE), say so", function()
      local dir, url = h.project(revs), db.url()
      local status, _, err = h.luamig(dir, "upgrade head", {DATABASE_URL = url})
      assert.equal(0, status, err)
      assert.truthy(err:find("INFO  [luamig] Database: " .. display(url) .. " (from DATABASE_URL)\n", 1, true), err)
      assert.same({"d1"}, h.version_rows(url))
      local url2 = db.url()
      h.write_file(dir .. "/luamig.lua", ("url = %q\n"):format(url2))
      status, _, err = h.luamig(dir, "current")
      assert.equal(0, status, err)
      assert.truthy(err:find("INFO  [luamig] Database: " .. display(url2) .. " (from the url in luamig.lua)\n", 1, true), err)
      if not pg then                                    -- a read-only command creates no file, and says so
        local file = url2:gsub("^sqlite:", "")
        assert.truthy(err:find("INFO  [luamig] No SQLite database file " .. file
          .. ": read as an empty database, nothing created\n", 1, true), err)
        assert.is_false(h.file_exists(file))
      end
      h.write_file(dir .. "/other.lua", ("url = %q\n"):format(url2))
      status, _, err = h.luamig(dir, "-c other.lua current")
      assert.equal(0, status, err)
      assert.truthy(err:find("INFO  [luamig] Database: " .. display(url2) .. " (from the url in other.lua)\n", 1, true), err)
      -- DATABASE_URL wins over the config's url, and says so
      status, _, err = h.luamig(dir, "current", {DATABASE_URL = url})
      assert.equal(0, status, err)
      assert.truthy(err:find("Database: " .. display(url) .. " (from DATABASE_URL)", 1, true), err)
    end)

    it("-q silences the line; a failure to connect still names the database", function()
      local dir, url = h.project(revs), db.url()
      local status, _, err = h.luamig(dir, "-q --url " .. q(url) .. " upgrade head")
      assert.equal(0, status, err)
      assert.equal("", err)
      local bad = pg and "postgresql://app:s3cr3t-pw@127.0.0.1:1/app" or "sqlite:" .. h.tmpdir() .. "/no/such/dir/x.db"
      status, _, err = h.luamig(dir, "--url " .. q(bad) .. " upgrade head")
      assert.equal(1, status, err)
      assert.truthy(err:find("INFO  [luamig] Database: " .. display(bad) .. " (from --url)\nFAILED: ", 1, true), err)
      assert.falsy(err:find("s3cr3t", 1, true), err)
    end)

    it("--sql says which database kind the SQL is for, and connects to nothing", function()
      local dir = h.project(revs)
      local url = pg and "postgresql://app:s3cr3t-pw@127.0.0.1:1/app" or "sqlite:" .. h.tmpdir() .. "/never.db"
      local status, out, err = h.luamig(dir, "--url " .. q(url) .. " upgrade head --sql")
      assert.equal(0, status, err)
      assert.truthy(out:find("CREATE TABLE d", 1, true), out)
      assert.same({("INFO  [luamig] Generating SQL for %s, the kind of the database URL (from --url); "
        .. "nothing is run"):format(pg and "PostgreSQL" or "SQLite")}, database_lines(err))
      assert.falsy(err:find("s3cr3t", 1, true), err)
      if not pg then assert.falsy(h.file_exists(url:sub(8)), "--sql created the file") end
    end)
  end)

  describe("a misspelled generic type (item 16)", function()
    local function refused(ctype, want_generic, shown)
      local dir = project_with(("  op.create_table('t', {\n    {'id', 'integer', primary_key = true},\n"
        .. "    {'name', %q},\n  })"):format(ctype))
      local url = db.url()
      local status, _, err = h.luamig(dir, "--url " .. q(url) .. " upgrade head")
      assert.equal(1, status, err)
      local want = ('migrations/versions/a1.lua:8: create_table: column "name": type "%s" is not a '
        .. "generic type (did you mean '%s'?); a database type of that name passes through "
        .. "quoted: '%s'"):format(ctype, want_generic, shown)
      assert.truthy(err:find(want, 1, true), err)
      assert.same({}, h.version_rows(url))
      assert.same({}, (function()
        local t = {}
        for _, n in ipairs(h.tables(url)) do if n == "t" then t[#t + 1] = n end end
        return t
      end)())
      -- the same offline
      status, _, err = h.luamig(dir, "--url " .. q(db.url()) .. " upgrade head --sql")
      assert.equal(1, status, err)
      assert.truthy(err:find(want, 1, true), err)
    end

    it("strng(30) is an error naming string, the file:line and the column", function()
      refused("strng(30)", "string", '"strng"(30)')
    end)
    it("integr is an error naming integer", function()
      refused("integr", "integer", '"integr"')
    end)
    it("timestmp is an error naming timestamp", function()
      refused("timestmp", "timestamp", '"timestmp"')
    end)

    it("add_column and alter_column check the type too", function()
      local dir = project_with("  op.create_table('t', {{'id', 'integer', primary_key = true}})\n"
        .. "  op.add_column('t', {'n', 'bigitn'})")
      local status, _, err = h.luamig(dir, "--url " .. q(db.url()) .. " upgrade head")
      assert.equal(1, status, err)
      assert.truthy(err:find('add_column: column "n": type "bigitn" is not a generic type '
        .. "(did you mean 'bigint'?)", 1, true), err)
      dir = project_with("  op.create_table('t', {{'id', 'integer', primary_key = true}, {'n', 'text'}})\n"
        .. "  op.alter_column('t', 'n', {type_ = 'boolen'})")
      status, _, err = h.luamig(dir, "--url " .. q(db.url()) .. " upgrade head")
      assert.equal(1, status, err)
      assert.truthy(err:find('alter_column: column "n": type "boolen" is not a generic type '
        .. "(did you mean 'boolean'?)", 1, true), err)
    end)

    it("pass-through database types stay accepted, and a quoted name passes through", function()
      local types = pg and {"citext", "tsvector", "int8", "float8", "jsonb", "timetz", "name",
                            "line", "varchar(20)", "double precision", "text[]"}
                       or {"int8", "float8", "jsonb", "datetime", "blob", "real", "varchar(20)",
                           "name", "line", '"integr"'}
      local cols = {"    {'id', 'integer', primary_key = true},"}
      for i, t in ipairs(types) do cols[#cols + 1] = ("    {'c%d', %q},"):format(i, t) end
      local up = "  op.create_table('t', {\n" .. table.concat(cols, "\n") .. "\n  })"
      if pg then up = "  op.execute('CREATE EXTENSION IF NOT EXISTS citext')\n" .. up end
      local dir = project_with(up)
      local url = db.url()
      local status, _, err = h.luamig(dir, "--url " .. q(url) .. " upgrade head")
      assert.equal(0, status, err)
      assert.same({"a1"}, h.version_rows(url))
    end)
  end)

  describe("the type grammar: precisions, time zones, arrays, collations (item 16)", function()
    -- Creates table t with one column per type (c1, c2, ...), after the
    -- statements in pre; returns the upgrade's status, stderr and the URL.
    local function create(types, pre)
      local cols = {"    {'id', 'integer', primary_key = true},"}
      for i, t in ipairs(types) do cols[#cols + 1] = ("    {'c%d', %q},"):format(i, t) end
      local create_t = "  op.create_table('t', {\n" .. table.concat(cols, "\n") .. "\n  })"
      local url, dir = db.url(), project_with((pre or "") .. create_t)
      local status, _, err = h.luamig(dir, "--url " .. q(url) .. " upgrade head")
      return status, err, url, dir, create_t
    end
    -- The column types of t as the database keeps them, by column name.
    local function column_types(url)
      local got = {}
      local rows = pg and h.query(url, "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type "
          .. "FROM pg_attribute a WHERE a.attrelid = 't'::regclass AND a.attnum > 0 AND NOT a.attisdropped")
        or h.query(url, "SELECT name, type FROM pragma_table_info('t')")
      for _, r in ipairs(rows) do got[r.name] = r.type end
      return got
    end
    local function accepted(cases, pre)
      local types, want = {}, {}
      for i, c in ipairs(cases) do types[i] = c[1]; want["c" .. i] = pg and c[2] or c[3] end
      local status, err, url, dir, create_t = create(types, pre)
      assert.equal(0, status, err)
      assert.same({"a1"}, h.version_rows(url))
      local got = column_types(url)
      got.id = nil
      assert.same(want, got)
      -- autogenerate reads the columns back as the types declared: check finds nothing
      h.write_file(dir .. "/schema.lua", "function schema(op)\n" .. create_t .. "\nend\n")
      local cstatus, cout, cerr = h.luamig(dir, "--url " .. q(url) .. " check")
      assert.equal(0, cstatus, cout .. cerr)
      return url
    end
    local function refused_with(ctype, want)
      local status, err, url = create({ctype})
      assert.equal(1, status, err)
      assert.truthy(err:find('create_table: column "c1": ' .. want, 1, true), err)
      assert.same({}, h.version_rows(url))
      local dir = project_with(("  op.create_table('t', {{'id', 'integer', primary_key = true}, {'c1', %q}})"):format(ctype))
      local status2, _, err2 = h.luamig(dir, "--url " .. q(db.url()) .. " upgrade head --sql")
      assert.equal(1, status2, err2)
      assert.truthy(err2:find('create_table: column "c1": ' .. want, 1, true), err2)
      return err
    end

    it("precisions and time zones on time, timestamp, timestamptz and float are accepted", function()
      accepted({
        {"timestamp(3) with time zone", "timestamp(3) with time zone", "TIMESTAMPTZ(3)"},
        {"timestamp(3) without time zone", "timestamp(3) without time zone", "TIMESTAMP(3)"},
        {"time(3) with time zone", "time(3) with time zone", "timetz(3)"},
        {"time(3) without time zone", "time(3) without time zone", "TIME(3)"},
        {"timestamp(3)", "timestamp(3) without time zone", "TIMESTAMP(3)"},
        {"timestamptz(3)", "timestamp(3) with time zone", "TIMESTAMPTZ(3)"},
        {"time(6)", "time(6) without time zone", "TIME(6)"},
        {"float(24)", "real", "FLOAT(24)"},
        {"float(53)", "double precision", "FLOAT(53)"},
        {"TIMESTAMP WITH TIME ZONE", "timestamp with time zone", "TIMESTAMPTZ"},
      })
    end)

    it("a bad precision says what the type takes", function()
      refused_with("timestamp(9)", 'type "timestamp(9)": bad arguments for timestamp: it takes a precision '
        .. "of fractional seconds, 0 to 6, as timestamp(3)")
      refused_with("float(60)", 'type "float(60)": bad arguments for float: it takes a precision in bits, '
        .. "1 to 53, as float(24)")
      refused_with("integer(3)", 'type "integer(3)": integer takes no arguments')
      -- a generic name followed by what is not part of a type is not passed through unmapped
      refused_with("string(30) not null", "type \"string(30) not null\": after the generic name string only "
        .. "(arguments), 'with time zone' or 'without time zone', [] and 'collate NAME' may follow")
      refused_with("date with time zone", "type \"date with time zone\": date takes no 'with time zone' "
        .. "(only time and timestamp do)")
    end)

    it("arrays of generic types: PostgreSQL arrays of the mapped type; SQLite refuses them", function()
      if pg then
        accepted({
          {"numeric(10,2)[]", "numeric(10,2)[]"},
          {"string(30)[]", "character varying(30)[]"},
          {"string[]", "character varying[]"},
          {"integer[][]", "integer[]"},
          {"text[]", "text[]"},
        })
      else
        for _, t in ipairs({"numeric(10,2)[]", "string(30)[]", "string[]", "text[]"}) do
          refused_with(t, ('type "%s": SQLite has no array types (use json, or a table of the elements)'):format(t))
        end
        -- a quoted collation after [] is still an array (found by the third outside attack)
        refused_with('string(30)[] collate "C"', 'type "string(30)[] collate \\"C\\"": SQLite has no array types')
      end
    end)

    it("a collation after a generic type: the type mapped, the collation kept", function()
      if pg then
        local url = accepted({{'string(30) collate "C"', "character varying(30)"}})
        assert.same({{collation_name = "C"}}, h.query(url, "SELECT collation_name FROM information_schema.columns "
          .. "WHERE table_name = 't' AND column_name = 'c1'"))
      else
        local url = accepted({{'string(30) collate "NOCASE"', nil, "VARCHAR(30)"}})
        local sql = h.query(url, "SELECT sql FROM sqlite_master WHERE name = 't'")[1].sql
        assert.truthy(sql:find('"c1" VARCHAR(30) COLLATE "NOCASE"', 1, true), sql)
        -- SQLite has no collation C: the database says so
        local status, err = create({'string(30) collate "C"'})
        assert.equal(1, status, err)
        assert.truthy(err:find("no such collation sequence: C", 1, true), err)
      end
    end)

    it("guid, ntext and bson are database type names, not misspellings", function()
      if pg then
        accepted({{"guid", "guid"}, {"ntext", "ntext"}, {"bson", "bson"}},
          "  op.execute('CREATE DOMAIN guid AS uuid')\n  op.execute('CREATE DOMAIN ntext AS text')\n"
          .. "  op.execute('CREATE DOMAIN bson AS bytea')\n")
      else
        accepted({{"guid", nil, "guid"}, {"ntext", nil, "ntext"}, {"bson", nil, "bson"}})
      end
    end)

    it("misspellings are still refused; the quoted name is offered only where it is a type name", function()
      refused_with("strng(30)[]", "type \"strng(30)[]\" is not a generic type (did you mean 'string'?)")
      local err = refused_with("strng(30)[]", "")
      assert.falsy(err:find("passes through quoted", 1, true), err)
      err = refused_with('strng(30) collate "C"', "type \"strng(30) collate \\\"C\\\"\" is not a generic type "
        .. "(did you mean 'string'?)")
      assert.falsy(err:find("passes through quoted", 1, true), err)
      refused_with("timestmp(3)", "type \"timestmp(3)\" is not a generic type (did you mean 'timestamp'?); "
        .. "a database type of that name passes through quoted: '\"timestmp\"(3)'")
      refused_with("uid", "type \"uid\" is not a generic type (did you mean 'uuid'?); a database type of that "
        .. "name passes through quoted: '\"uid\"'")
    end)
  end)

  describe("bulk_insert progress (item 14)", function()
    local up = "  op.create_table('t', {{'id', 'integer', primary_key = true}, {'v', 'text'}})\n"
      .. "  local rows = {}\n  for i = 1, 25000 do rows[i] = {id = i, v = 'x' .. i} end\n"
      .. "  op.bulk_insert('t', rows)\n"
      .. "  local i = 0\n"
      .. "  op.bulk_insert('t', function() i = i + 1; if i <= 200000 then return {id = 100000 + i, v = 'y'} end end)"

    it("on a terminal: rows, total, rate and elapsed time, in place, with a final line", function()
      local dir, url = project_with(up), db.url()
      local status, shown = on_terminal(dir, "--url " .. q(url) .. " upgrade head")
      assert.equal(0, status, shown)
      -- the list: its total and 100% on the final line, ended before the next
      local list_final = shown:match('\r(bulk_insert "t": 25,000 of 25,000 rows %(100%%%), [%d,]+ rows/s, %d+%.%d s) *\n')
      assert.truthy(list_final, shown)
      -- the iterator: no total; its final line has the count and ends with a newline
      local final, rate, secs = shown:match('\r(bulk_insert "t": 200,000 rows, ([%d,]+) rows/s, (%d+%.%d) s) *\n')
      assert.truthy(final, shown)
      assert.truthy(tonumber((rate:gsub(",", ""))) > 0, final)
      -- updated in place: every progress line starts with \r, and the in-between ones
      -- are not ended by a newline
      local draws = 0
      for piece in shown:gmatch('\r(bulk_insert "t": [%d,]+ rows,[^\r\n]*)') do draws = draws + 1 end
      assert.truthy(draws >= 2, shown)
      -- at most ten a second (and the first and last)
      assert.truthy(draws <= 3 + math.ceil(tonumber(secs) * 10), ("%d draws in %s s"):format(draws, secs))
      assert.falsy(shown:find('\nbulk_insert', 1, true), shown)
      -- the run's log lines still come whole, after the progress
      assert.truthy(shown:find("INFO  [luamig] Running upgrade  -> a1, one\n", 1, true), shown)
      assert.equal(225000, h.query(url, "SELECT count(*) AS n FROM t")[1].n)
    end)

    it("not on a terminal, or with -q, nothing", function()
      local dir = project_with(up)
      local status, _, err = h.luamig(dir, "--url " .. q(db.url()) .. " upgrade head")
      assert.equal(0, status, err)
      assert.falsy(err:find("bulk_insert", 1, true), err)
      assert.falsy(err:find("\r", 1, true), err)
      local shown
      status, shown = on_terminal(dir, "-q --url " .. q(db.url()) .. " upgrade head")
      assert.equal(0, status, shown)
      assert.equal("", shown)
    end)

    it("a failing load ends the progress line before FAILED", function()
      local dir = project_with(up .. "\n  op.bulk_insert('t', {{id = 1, v = 'dup'}})")
      local status, shown = on_terminal(dir, "--url " .. q(db.url()) .. " upgrade head")
      assert.equal(1, status, shown)
      assert.truthy(shown:find('\rbulk_insert "t": 0 of 1 rows %(0%%%), %- rows/s, 0%.%d s *\nFAILED: upgrade a1'), shown)
    end)

    it("a table name's control characters are shown as ?, not sent to the terminal", function()
      local dir = project_with("  op.create_table('a\\rb\\27[2J', {{'id', 'integer', primary_key = true}})\n"
        .. "  op.bulk_insert('a\\rb\\27[2J', {{id = 1}, {id = 2}, {id = 3}})")
      local status, shown = on_terminal(dir, "--url " .. q(db.url()) .. " upgrade head")
      assert.equal(0, status, shown)
      assert.truthy(shown:find('\rbulk_insert "a?b?[2J": 3 of 3 rows (100%), ', 1, true), shown)
      assert.falsy(shown:find("\27", 1, true), shown)
    end)

    it("the embedding API's progress callback gets (rows_done, total, table)", function()
      local luamig = require "luamig"
      local dir, url = project_with(up), db.url()
      local seen = {}
      local m <close> = luamig.open{url = url, script_location = dir .. "/migrations",
        progress = function(...) seen[#seen + 1] = table.pack(...) end}
      m:upgrade("head")
      local want = {}
      for _, n in ipairs({0, 10000, 20000, 25000}) do want[#want + 1] = {n = 3, n, 25000, "t"} end
      for n = 0, 200000, 10000 do want[#want + 1] = {n = 3, n, nil, "t"} end
      assert.same(want, seen)
    end)
  end)
end)

describe("the built-in default (item 12)", function()
  it("says it is the default and how to set another, and announces the file it creates", function()
    local dir = h.project({{id = "d1", message = "one", up = "CREATE TABLE d (id INTEGER)",
                           down_sql = "DROP TABLE d"}})
    local function run(args)
      return h.run(("cd %s && env -u DATABASE_URL %s %s"):format(q(dir), q(h.bin), args))
    end
    local status, _, err = run("upgrade head")
    assert.equal(0, status, err)
    local real = select(2, h.run("cd " .. q(dir) .. " && pwd -P")):gsub("\n$", "")
    assert.same({"INFO  [luamig] Database: sqlite:luamig.db (the built-in default; set --url, "
                   .. "DATABASE_URL or url in luamig.lua)",
                 "INFO  [luamig] Created the SQLite database file " .. real .. "/luamig.db"},
                database_lines(err))
    -- the second run finds the file: no Created line
    status, _, err = run("current")
    assert.equal(0, status, err)
    assert.same({"INFO  [luamig] Database: sqlite:luamig.db (the built-in default; set --url, "
                   .. "DATABASE_URL or url in luamig.lua)"}, database_lines(err))
  end)
end)
