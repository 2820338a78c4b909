-- The bad-input catalog (DESIGN.md, "Transactions, locks, safety"): every
-- bad input the luamig command can be given, on SQLite and PostgreSQL.
-- Each case runs the real binary against a database already at a known
-- revision, and asserts three things together: the exit status, the
-- message (what is wrong, where, and what to do), and that the database
-- is exactly as it was (schema, version rows, log, data).
--
-- Cases whose message or outcome is still wrong are marked pending with
-- the reason; their bodies say what the right behaviour is.
local h = require "spec.helpers"
local core = require "luamig.core"
local introspect = require "luamig.introspect"

local is_root = (select(2, h.run("id -u")) or ""):match("^0") ~= nil

-- The two revisions every case starts from, both applied.
local BASE = {
  {id = "g1", message = "create accounts", code = true,
   up = "  op.create_table('accounts', {{'id', 'integer', primary_key = true}, {'name', 'text'}})\n"
     .. "  op.bulk_insert('accounts', {{id = 1, name = 'ada'}, {id = 2, name = 'grace'}})",
   down_sql = "  op.drop_table('accounts')"},
  {id = "g2", down = "g1", message = "add notes", code = true,
   up = "  op.create_table('notes', {{'id', 'integer', primary_key = true}, {'body', 'text'}})",
   down_sql = "  op.drop_table('notes')"},
}

-- The last line of a run that failed in a step from g2 (the project's head).
local AT_G2 = "Nothing of this run is committed: the database is at g2, as before the run.\n"

-- A script file's text: h.script's, or raw text.
local function script(rev)
  if type(rev) == "string" then return rev end
  return h.script(rev)
end

-- Everything a failed command must leave as it was.
local function state(url)
  local conn = core.connect(url)
  local s = {schema = introspect.schema(conn), tables = {}}
  for i, r in ipairs(conn:query(conn:dialect() == "postgresql"
      and "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
      or "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1")) do
    s.tables[i] = r.name
  end
  local ok, rows = pcall(conn.query, conn, "SELECT version_num FROM luamig_version ORDER BY 1")
  s.rows = ok and rows or "no version table"
  ok, rows = pcall(conn.query, conn, "SELECT revision, direction, checksum FROM luamig_log ORDER BY id")
  if not ok then
    ok, rows = pcall(conn.query, conn, "SELECT revision, direction, checksum FROM luamig_log")
  end
  s.log = ok and rows or "no log"
  ok, rows = pcall(conn.query, conn, "SELECT id, name FROM accounts ORDER BY id")
  s.accounts = ok and rows or "no accounts"
  conn:close()
  return s
end

h.each_db(function(db)
  local pg = db.name == "postgresql"
  local url, dir, before

  -- A project at BASE, applied; extra: more scripts (files named by id,
  -- or {name = text}); config: luamig.lua's text.
  local function setup(extra, config)
    url = db.url()
    dir = h.project(BASE, config)
    local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " -q upgrade head")
    assert.equal(0, status, err)
    for key, rev in pairs(extra or {}) do
      local name = type(key) == "string" and key or rev.id
      h.write_file(("%s/migrations/versions/%s.lua"):format(dir, name), script(rev))
    end
    before = state(url)
  end

  -- (stderr without its Database line, which must name url, and without upgrade's lint-first
  -- lines: a script that fails is also "not-linted" and raw SQL it cannot read "execute-unjudged",
  -- one line each, spec/14b's subject; here the runner's own message is compared exactly)
  local function run(args, env)
    local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args, env)
    err = h.drop_database_lines(err, url)
    if args:find("upgrade", 1, true) then
      while err:sub(1, 6) == "lint: " do err = err:gsub("^[^\n]*\n?", "", 1) end
    end
    return status, out, err
  end

  -- The command fails with status and exactly the message err (a string,
  -- or {sqlite = ..., postgresql = ...}), and the database is unchanged.
  local function fails(args, status, err, env)
    local s, out, e = run(args, env)
    if type(err) == "table" then err = err[db.name] end
    assert.equal(err, e)
    assert.equal(status, s, e)
    assert.same(before, state(url))
    return out
  end

  local good3 = {id = "g3", down = "g2", message = "add tags", up = "CREATE TABLE tags (id INTEGER)",
                 down_sql = "DROP TABLE tags"}

  describe("scripts", function()
    it("1. a syntax error names the file and line, and no migration runs", function()
      setup({good3, {id = "b4", down = "g3", code = true, up = "  op.execute('x' \n"}})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua:10: ')' expected (to close '(' at line 8) near 'end'\n")
    end)

    it("2. a runtime error while loading names the file and line, and no migration runs", function()
      setup({good3, b4 = 'revision = "b4"\ndown_revision = "g3"\nlocal cfg = nil\nlocal x = cfg.name\n'
                         .. "function upgrade(op) end\n"})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua:4: attempt to index a nil value (local 'cfg')\n")
    end)

    it("3. a runtime error inside upgrade rolls the step back and names revision, file and line", function()
      setup({{id = "b3", down = "g2", message = "broken", code = true,
              up = "  op.execute('CREATE TABLE half (x INTEGER)')\n  local t = nil\n  t.x = 1"}})
      fails("upgrade head", 1, "INFO  [luamig] Running upgrade g2 -> b3, broken\n"
        .. "FAILED: upgrade b3 (broken): migrations/versions/b3.lua:10: attempt to index a nil value (local 't')\n" .. AT_G2)
    end)

    it("4. an SQL error inside upgrade names the revision, the statement and the database's error", function()
      setup({{id = "b3", down = "g2", message = "typo", code = true,
              up = "  op.execute('CREATE TABLE half (x INTEGER)')\n  op.execute('SELEC 1')"}})
      fails("upgrade head", 1, {
        sqlite = "INFO  [luamig] Running upgrade g2 -> b3, typo\n"
          .. "FAILED: upgrade b3 (typo): migrations/versions/b3.lua:9: near \"SELEC\": syntax error\n" .. AT_G2
          .. "  statement: SELEC 1\n",
        postgresql = "INFO  [luamig] Running upgrade g2 -> b3, typo\n"
          .. "FAILED: upgrade b3 (typo): migrations/versions/b3.lua:9: syntax error at or near \"SELEC\"\n" .. AT_G2
          .. "  statement: SELEC 1\n"})
    end)

    it("5. an error value that is not a string still says what failed", function()
      setup({{id = "b3", down = "g2", message = "raise a table", code = true,
              up = "  error({code = 1})"}})
      fails("upgrade head", 1, "INFO  [luamig] Running upgrade g2 -> b3, raise a table\n"
        .. "FAILED: upgrade b3 (raise a table): migrations/versions/b3.lua:8: error object is a table value\n" .. AT_G2)
    end)

    it("5a. error() without a value", function()
      setup({{id = "b3", down = "g2", message = "raise nothing", code = true, up = "  error()"}})
      fails("upgrade head", 1, "INFO  [luamig] Running upgrade g2 -> b3, raise nothing\n"
        .. "FAILED: upgrade b3 (raise nothing): migrations/versions/b3.lua:8: error object is a nil value\n" .. AT_G2)
    end)

    it("6. a script without upgrade is refused before anything runs", function()
      setup({good3, b4 = 'revision = "b4"\ndown_revision = "g3"\nfunction downgrade(op) end\n'})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua: revision b4 has no upgrade function\n")
    end)

    it("7. a downgrade through a script without downgrade is refused before anything runs", function()
      setup()
      h.write_file(dir .. "/migrations/versions/g2.lua", h.script({id = "g2", down = "g1",
        message = "add notes", no_downgrade = true, code = true,
        up = "  op.create_table('notes', {{'id', 'integer', primary_key = true}, {'body', 'text'}})"}))
      fails("downgrade base", 1, "FAILED: migrations/versions/g2.lua: revision g2 has no downgrade function; cannot downgrade through it\n")
    end)

    it("8. downgrade that is not a function", function()
      setup({good3, b4 = 'revision = "b4"\ndown_revision = "g3"\nfunction upgrade(op) end\ndowngrade = true\n'})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua: downgrade must be a function\n")
    end)

    it("9. a script with no revision id", function()
      setup({good3, b4 = 'down_revision = "g3"\nfunction upgrade(op) end\n'})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua: no revision id (set the global 'revision')\n")
    end)

    it("10. an empty file", function()
      setup({good3, b4 = ""})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua: no revision id (set the global 'revision')\n")
    end)

    it("11. a revision id that is not a string", function()
      setup({good3, b4 = 'revision = 44\ndown_revision = "g3"\nfunction upgrade(op) end\n'})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua: revision must be a string, not a number\n")
    end)

    it("12. an illegal character in a revision id", function()
      setup({good3, b4 = 'revision = "b-4"\ndown_revision = "g3"\nfunction upgrade(op) end\n'})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua: Character(s) '-' not allowed in revision identifier 'b-4'\n")
    end)

    it("13. '@' in a revision id", function()
      setup({good3, b4 = 'revision = "b4@x"\ndown_revision = "g3"\nfunction upgrade(op) end\n'})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua: Character(s) '@' not allowed in revision identifier 'b4@x'\n")
    end)

    it("14. an empty revision id", function()
      setup({good3, b4 = 'revision = ""\ndown_revision = "g3"\nfunction upgrade(op) end\n'})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua: revision id is empty\n")
    end)

    it("15. a duplicate revision id names both files", function()
      setup({good3, dup = 'revision = "g3"\ndown_revision = "g2"\nfunction upgrade(op) end\n'})
      fails("upgrade head", 1, "FAILED: Revision g3 is present more than once: migrations/versions/dup.lua "
        .. "and migrations/versions/g3.lua\n")
    end)

    it("16. a missing parent names the file and the id", function()
      setup({good3, {id = "b4", down = "zz99"}})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua: revision b4: down_revision 'zz99' is not present\n")
    end)

    it("17. a missing depends_on names the file and the id", function()
      setup({good3, {id = "b4", down = "g3", depends = {"nowhere"}}})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua: revision b4: depends_on 'nowhere' is not present\n")
    end)

    it("18. a revision that is its own parent", function()
      setup({good3, {id = "b4", down = "b4"}})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua: Self-loop is detected in revisions (b4)\n")
    end)

    it("19. a cycle names its revisions and files", function()
      setup({good3, {id = "c5", down = "c6"}, {id = "c6", down = "c5"}})
      fails("upgrade head", 1, "FAILED: Cycle is detected in revisions (c5, c6); files: "
        .. "migrations/versions/c5.lua, migrations/versions/c6.lua"
        .. ". Each is the down_revision of the next, and c6 is the down_revision of c5"
        .. ": set one of these down_revisions to a revision outside the cycle (or nil) to break it\n")
    end)

    it("20. down_revision of the wrong type", function()
      setup({good3, b4 = 'revision = "b4"\ndown_revision = 3\nfunction upgrade(op) end\n'})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua: down_revision must be nil, a revision "
        .. "id or a list of revision ids\n")
    end)

    it("21. branch_labels of the wrong type", function()
      setup({good3, b4 = 'revision = "b4"\ndown_revision = "g3"\nbranch_labels = {x = 1}\nfunction upgrade(op) end\n'})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua: branch_labels must be nil, a string or "
        .. "a list of strings\n")
    end)

    it("22. a branch label used twice names both revisions", function()
      setup({{id = "l3", down = "g2", labels = {"feature"}}, {id = "l4", labels = {"feature"}}})
      fails("upgrade heads", 1, "FAILED: migrations/versions/l4.lua: Branch name 'feature' in revision l4 "
        .. "already used by revision l3 (migrations/versions/l3.lua)\n")
    end)

    it("23. transactional that is not a boolean", function()
      setup({good3, b4 = 'revision = "b4"\ndown_revision = "g3"\ntransactional = "no"\nfunction upgrade(op) end\n'})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua: transactional must be true or false\n")
    end)

    it("24. a file saved as UTF-16 (not UTF-8) fails to load, naming it", function()
      setup({good3, b4 = "\255\254r\0e\0v\0"})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua:1: unexpected symbol near '<\\255>'\n")
    end)

    it("25. a precompiled chunk is refused, naming the file: scripts are text", function()
      setup({good3, b4 = string.dump(function() end)})
      fails("upgrade head", 1, "FAILED: migrations/versions/b4.lua: attempt to load a binary chunk (mode is 't')\n")
    end)

    it("26. Latin-1 bytes in a statement: PostgreSQL refuses them and the step rolls back", function()
      setup({b3 = 'revision = "b3"\ndown_revision = "g2"\nmessage = "latin"\n'
                  .. "function upgrade(op)\n  op.execute(\"CREATE TABLE t3 (x TEXT DEFAULT 'caf\233')\")\nend\n"
                  .. "function downgrade(op) end\n"})
      if pg then
        fails("upgrade head", 1, "INFO  [luamig] Running upgrade g2 -> b3, latin\n"
          .. "FAILED: upgrade b3 (latin): migrations/versions/b3.lua:5: invalid byte sequence for encoding "
          .. "\"UTF8\": 0xe9 0x27 0x29\n" .. AT_G2 .. "  statement: CREATE TABLE t3 (x TEXT DEFAULT 'caf\233')\n")
      else                                           -- SQLite keeps the bytes as written
        local status, _, err = run("upgrade head")
        assert.equal(0, status, err)
        local conn = core.connect(url)
        assert.equal("'caf\233'", introspect.table(conn, "t3").columns[1].default)
        conn:close()
      end
    end)

    it("27. a huge error message fails the step cleanly and whole", function()
      setup({b3 = 'revision = "b3"\ndown_revision = "g2"\nmessage = "huge"\n'
                  .. "function upgrade(op)\n  op.execute('CREATE TABLE t3 (x INTEGER)')\n"
                  .. "  error(string.rep('e', 4000000))\nend\n"})
      local status, _, err = run("upgrade head")
      assert.equal(1, status)
      local expected = "INFO  [luamig] Running upgrade g2 -> b3, huge\n"
        .. "FAILED: upgrade b3 (huge): migrations/versions/b3.lua:6: " .. ("e"):rep(4000000) .. "\n" .. AT_G2
      assert.is_true(err == expected, ("stderr of %d bytes: %s..."):format(#err, err:sub(1, 200)))
      assert.same(before, state(url))
    end)

    it("28. a huge revision message is carried through", function()
      local big = ("m"):rep(1000000)
      setup({{id = "b3", down = "g2", message = big, up = "CREATE TABLE t3 (x INTEGER)"}})
      local status, _, err = run("upgrade head")
      assert.equal(0, status, err:sub(1, 200))
      assert.is_true(err == "INFO  [luamig] Running upgrade g2 -> b3, " .. big .. "\n", err:sub(1, 200))
      local out
      status, out = run("history -r g2:b3")
      assert.equal(0, status)
      assert.is_true(out == "g2 -> b3 (head), " .. big .. "\ng1 -> g2, add notes\n", out:sub(1, 200))
    end)

    it("29. an unknown option of an operation names the operation and the option", function()
      setup({{id = "b3", down = "g2", message = "bad option", code = true,
              up = "  op.create_table('t3', {{'id', 'integer'}}, {frob = 1})"}})
      fails("upgrade head", 1, "INFO  [luamig] Running upgrade g2 -> b3, bad option\n"
        .. "FAILED: upgrade b3 (bad option): migrations/versions/b3.lua:8: create_table: unknown option \"frob\"\n" .. AT_G2)
    end)
    -- the explanation a step gets when its own SQL ended luamig's transaction
    local function ended(at)
      return "its SQL ended the transaction luamig opened for it (a COMMIT or ROLLBACK): what ran before "
        .. "that may be committed or undone, what ran after it was committed statement by statement, and "
        .. "the version table still says " .. at .. ", so this revision is not recorded. Mark a step that "
        .. "must manage its own transactions with transactional = false; check the database, then fix the "
        .. "step and run again, or finish it by hand and `luamig stamp b3`."
    end

    it("29a. a step that runs ROLLBACK itself is caught, and its revision is not recorded", function()
      setup({{id = "b3", down = "g2", message = "ends its transaction", code = true,
              up = "  op.execute('CREATE TABLE t5 (x INTEGER)')\n  op.execute('ROLLBACK')\n"
                .. "  op.execute('CREATE TABLE t6 (x INTEGER)')"}})
      local status, _, err = run("upgrade head")
      assert.equal(1, status)
      assert.equal("INFO  [luamig] Running upgrade g2 -> b3, ends its transaction\n"
        .. "FAILED: upgrade b3 (ends its transaction): " .. ended("g2") .. "\n", err)
      local after = state(url)
      assert.same(before.rows, after.rows)
      assert.same(before.log, after.log)
      assert.is_nil(after.schema.tables.t5)          -- rolled back by the step itself
      assert.truthy(after.schema.tables.t6)          -- ran after it, committed: as the message says
    end)

    it("29b. a step that runs COMMIT itself is caught, and says what stayed applied", function()
      setup({{id = "b3", down = "g2", message = "commits", code = true,
              up = "  op.execute('CREATE TABLE t2 (x INTEGER)')\n  op.execute('COMMIT')\n"
                .. "  op.execute('SELECT * FROM nope')"}})
      local status, _, err = run("upgrade head")
      assert.equal(1, status)
      assert.equal("INFO  [luamig] Running upgrade g2 -> b3, commits\n"
        .. "FAILED: upgrade b3 (commits): migrations/versions/b3.lua:10: "
        .. (pg and 'relation "nope" does not exist' or "no such table: nope") .. "\n"
        .. ended("g2") .. "\n  statement: SELECT * FROM nope\n", err)
      local after = state(url)
      assert.same(before.rows, after.rows)
      assert.same(before.log, after.log)
      assert.truthy(after.schema.tables.t2)          -- committed by the step itself
    end)

    it("29c. a revision id longer than the version table's column is refused on both databases", function()
      local long = ("a"):rep(80)
      setup({b3 = ('revision = %q\ndown_revision = "g2"\nfunction upgrade(op) end\n'):format(long)})
      fails("upgrade head", 1, ("FAILED: migrations/versions/b3.lua: revision id '%s' is 80 characters long; "
        .. "the version table holds ids of at most 64 (use a shorter revision)\n"):format(long))
    end)
  end)

  describe("targets", function()
    it("30. an ambiguous prefix lists the candidates", function()
      setup({{id = "bbbb1111", down = "g2"}, {id = "bbbb2222", down = "bbbb1111"}})
      fails("upgrade bbbb", 1, "FAILED: Multiple revisions start with 'bbbb': 'bbbb1111', 'bbbb2222'\n")
    end)

    it("31. an unknown target", function()
      setup({good3})
      fails("upgrade zzzz9999", 1, "FAILED: Can't locate revision identified by 'zzzz9999'\n")
    end)

    it("32. a short unknown prefix says to give four characters", function()
      setup({good3})
      fails("upgrade q", 1, "FAILED: Can't locate revision identified by 'q'; please ensure at least four "
        .. "characters are present for partial revision identifier matches\n")
    end)

    it("33. head with multiple heads says to use heads or LABEL@head", function()
      setup({good3, {id = "g4", down = "g2"}})
      fails("upgrade head", 1, "FAILED: Multiple head revisions are present for given argument 'head'; "
        .. "please specify a specific target revision, '<branchname>@head' to narrow to a specific head, "
        .. "or 'heads' for all heads\n")
    end)

    it("34. a relative target beyond the graph", function()
      setup({good3})
      fails("upgrade +3", 1, "FAILED: Relative revision +3 didn't produce 3 migrations\n")
      fails("downgrade -3", 1, "FAILED: Relative revision -3 didn't produce 3 migrations\n")
    end)

    it("35. an unknown branch label", function()
      setup({good3})
      fails("upgrade nolabel@head", 1, "FAILED: No such branch: 'nolabel'\n")
    end)

    it("36. junk after a revision", function()
      setup({good3})
      fails("upgrade head+x", 1, "FAILED: Can't locate revision identified by 'head+x'\n")
    end)
  end)

  describe("the database", function()
    it("37. a version row naming an unknown revision stops every run and says the way out", function()
      setup({good3})
      local conn = core.connect(url)
      conn:exec("INSERT INTO luamig_version (version_num) VALUES ('deadbeef')")
      conn:close()
      before = state(url)
      for _, args in ipairs{"upgrade head", "upgrade heads", "downgrade base"} do
        fails(args, 1, "FAILED: Can't locate revision identified by 'deadbeef' (a row of the version "
          .. "table): `luamig verify` lists such rows; `luamig stamp --purge REV` empties the table and "
          .. "records REV\n")
      end
    end)

    it("38. verify names the unknown row", function()
      setup({good3})
      local conn = core.connect(url)
      conn:exec("INSERT INTO luamig_version (version_num) VALUES ('deadbeef')")
      conn:close()
      before = state(url)
      local out = fails("verify", 1, "")
      assert.equal("unknown: the version table holds 'deadbeef', which no script defines\n", out)
    end)

    it("39. stamp --purge recovers from an unknown version row, running nothing", function()
      setup({good3})
      local conn = core.connect(url)
      conn:exec("INSERT INTO luamig_version (version_num) VALUES ('deadbeef')")
      conn:close()
      local status, _, err = run("stamp --purge g2")
      assert.equal(0, status, err)
      assert.equal("INFO  [luamig] Running stamp_revision  -> g2\n", err)
      local after = state(url)
      assert.same({{version_num = "g2"}}, after.rows)
      assert.same(before.schema, after.schema)
      assert.same(before.accounts, after.accounts)
      status, _, err = run("upgrade head")             -- and the project goes on from there
      assert.equal(0, status, err)
      assert.same({"g3"}, h.version_rows(url))
    end)

    it("40. identifiers carrying SQL are only names", function()
      local evil = "x\"; DROP TABLE accounts; --"
      setup({{id = "b3", down = "g2", message = "hostile names", code = true,
              up = ("  op.create_table(%q, {{%q, 'text'}})\n  op.create_index(%q, %q, {%q})")
                :format(evil, evil, evil .. "ix", evil, evil)}})
      local status, _, err = run("upgrade head")
      assert.equal(0, status, err)
      local conn = core.connect(url)
      local t = introspect.table(conn, evil)
      conn:close()
      assert.equal(evil, t.columns[1].name)
      assert.equal(evil .. "ix", t.indexes[1].name)
      local after = state(url)
      assert.same(before.accounts, after.accounts)   -- nothing dropped
    end)

    it("41. values carrying SQL are stored as written", function()
      local evil = "'); DROP TABLE accounts; --"
      setup({{id = "b3", down = "g2", message = "hostile values", code = true,
              up = ("  op.bulk_insert('accounts', {{id = 3, name = %q}})\n"
                 .. "  op.execute('INSERT INTO accounts (id, name) VALUES ($1, $2)', {4, %q})"):format(evil, evil)}})
      local status, _, err = run("upgrade head")
      assert.equal(0, status, err)
      local conn = core.connect(url)
      assert.same({{id = 1, name = "ada"}, {id = 2, name = "grace"}, {id = 3, name = evil}, {id = 4, name = evil}},
                  conn:query("SELECT id, name FROM accounts ORDER BY id"))
      conn:close()
    end)

    it("42. bulk_insert with an unknown column names the row, and the step rolls back", function()
      setup({{id = "b3", down = "g2", message = "seed", code = true,
              up = "  op.bulk_insert('accounts', {{id = 3, name = 'x'}, {id = 4, nmae = 'y'}})"}})
      fails("upgrade head", 1, "INFO  [luamig] Running upgrade g2 -> b3, seed\n"
        .. "FAILED: upgrade b3 (seed): migrations/versions/b3.lua:8: bulk_insert: row 2: table "
        .. "\"accounts\" has no column \"nmae\"\n" .. AT_G2)
    end)

    it("43. bulk_insert with a wrong type names the row, the column and the value", function()
      setup({{id = "b3", down = "g2", message = "seed", code = true,
              up = "  op.bulk_insert('accounts', {{id = 3, name = 'x'}, {id = 'four', name = 'y'}})"}})
      fails("upgrade head", 1, "INFO  [luamig] Running upgrade g2 -> b3, seed\n"
        .. "FAILED: upgrade b3 (seed): migrations/versions/b3.lua:8: bulk_insert: row 2, column \"id\": "
        .. "wrong type for the column (integer): expected an integer, got string \"four\"\n" .. AT_G2)
    end)

    it("44. bulk_insert with a duplicate key names the database's error, and the step rolls back", function()
      setup({{id = "b3", down = "g2", message = "seed", code = true,
              up = "  op.bulk_insert('accounts', {{id = 3, name = 'x'}, {id = 1, name = 'again'}})"}})
      local status, _, err = run("upgrade head")
      assert.equal(1, status)
      assert.equal("INFO  [luamig] Running upgrade g2 -> b3, seed\n"
        .. "FAILED: upgrade b3 (seed): migrations/versions/b3.lua:8: bulk_insert into 'accounts': row 2: "
        .. (pg and "duplicate key value violates unique constraint \"pk_accounts\"\n"
                   .. "DETAIL: Key (id)=(1) already exists.\n" .. AT_G2
                   .. "  statement: COPY \"accounts\" (\"id\", \"name\") FROM STDIN\n"
               or "UNIQUE constraint failed: accounts.id\n" .. AT_G2
                   .. "  statement: INSERT INTO \"accounts\" (\"id\", \"name\") VALUES (?1, ?2)\n"), err)
      assert.same(before, state(url))
    end)

    it("45. a transactional = false step failing midway says what may be partly applied and what to do", function()
      setup({{id = "n3", down = "g2", message = "outside", extra = "transactional = false", code = true,
              up = "  op.execute('CREATE TABLE partial (x INTEGER)')\n  op.execute('SELECT * FROM nope')"}})
      local status, _, err = run("upgrade head")
      assert.equal(1, status)
      local db_err = pg and 'relation "nope" does not exist' or "no such table: nope"
      assert.equal("INFO  [luamig] Running upgrade g2 -> n3, outside\n"
        .. "INFO  [luamig] Upgrade n3 runs outside a transaction (transactional = false)\n"
        .. "FAILED: upgrade n3 (outside): migrations/versions/n3.lua:9: " .. db_err .. "\n"
        .. "This step ran outside a transaction (transactional = false): what it did before the error "
        .. "stays applied, and the version table still says g2. Check the database, then either undo "
        .. "that part by hand and run again, or finish it by hand and `luamig stamp n3`.\n"
        .. "  statement: SELECT * FROM nope\n", err)
      local after = state(url)
      assert.same(before.rows, after.rows)           -- still at g2
      assert.same(before.log, after.log)
      assert.truthy(after.schema.tables.partial)      -- the part that ran, as announced
    end)

    it("46. an empty versions directory: nothing to do, and it says so", function()
      url = db.url()
      dir = h.project({})
      local status, out, err = run("upgrade head")
      assert.equal(0, status, err)
      assert.equal("", out)
      assert.equal("INFO  [luamig] No revisions in migrations/versions: nothing to do (luamig revision "
        .. "-m MSG makes one)\n", err)
      assert.same({}, h.version_rows(url))
    end)

    it("48. no versions directory at all says to run init", function()
      url = db.url()
      dir = h.tmpdir()
      local status, _, err = run("upgrade head")
      assert.equal(1, status)
      assert.equal("FAILED: Path doesn't exist: 'migrations/versions'. Please use the 'init' command to "
        .. "create a new scripts folder.\n", err)
      assert.same({}, h.tables(url))
    end)
  end)

  describe("configuration and command line", function()
    it("49. a config file with a syntax error names its line", function()
      setup()
      h.write_file(dir .. "/luamig.lua", "url = \n")
      fails("upgrade head", 1, "FAILED: luamig.lua:2: unexpected symbol near <eof>\n")
    end)

    it("50. a config file that raises names its line", function()
      setup()
      h.write_file(dir .. "/luamig.lua", "error('no config here')\n")
      fails("upgrade head", 1, "FAILED: luamig.lua:1: no config here\n")
    end)

    it("51. a setting of the wrong type is named", function()
      setup()
      for _, c in ipairs{
        {"script_location = 5", "script_location must be a string, not a number"},
        {"script_location = {}", "script_location must be a string, not a table"},
        {"version_table = 5", "version_table must be a string, not a number"},
        {"lock_timeout = 'x'", "lock_timeout must be a number, not a string"},
        {"transaction_per_migration = 'no'", "transaction_per_migration must be a boolean, not a string"},
      } do
        h.write_file(dir .. "/luamig.lua", c[1] .. "\n")
        fails("upgrade head", 1, "FAILED: luamig.lua: " .. c[2] .. "\n")
      end
    end)

    it("51a. a config file raising a table says what it raised", function()
      setup()
      h.write_file(dir .. "/luamig.lua", "error({})\n")
      fails("upgrade head", 1, "FAILED: luamig.lua: error object is a table value\n")
    end)

    it("52. -c naming a missing file", function()
      setup()
      fails("-c nope.lua upgrade head", 1, "FAILED: config file 'nope.lua' not found\n")
    end)

    it("53. an unknown command exits 2 with the usage", function()
      setup()
      fails("upgrayde head", 2, "luamig: unknown command 'upgrayde' (did you mean 'upgrade'?)\nusage: luamig [global options] "
        .. "COMMAND [options]\n(luamig --help for more)\n")
    end)

    it("54. an unknown option of a command exits 2 with its usage", function()
      setup()
      fails("upgrade head --sqll", 2, "luamig: unknown option '--sqll' (did you mean '--sql'?)\nusage: luamig upgrade [TARGET] "
        .. "[--sql] [--plan] [--tag TAG]\n(luamig upgrade --help for more)\n")
    end)

    it("55. an unknown global option", function()
      setup()
      fails("--frob upgrade head", 2, "luamig: unknown option '--frob'\nusage: luamig [global options] "
        .. "COMMAND [options]\n(luamig --help for more)\n")
    end)

    it("56. an option missing its value", function()
      setup()
      fails("upgrade head --url", 2, "luamig: option --url needs a value (URL)\nusage: luamig upgrade "
        .. "[TARGET] [--sql] [--plan] [--tag TAG]\n(luamig upgrade --help for more)\n")
    end)

    it("57. -x without KEY=VALUE or a bare KEY", function()
      setup()
      fails("-x no:thing upgrade head", 2, "luamig: -x takes KEY=VALUE, or a KEY alone (letters, digits, "
        .. "_ . -) for KEY=\"\"; the argument given is not shown, as -x values may be secrets\nusage: luamig "
        .. "upgrade [TARGET] [--sql] [--plan] [--tag TAG]\n(luamig upgrade --help for more)\n")
    end)

    it("58. a missing argument", function()
      setup()
      fails("downgrade", 2, "luamig: downgrade needs an argument\nusage: luamig downgrade TARGET [--sql] "
        .. "[--plan] [--tag TAG]\n(luamig downgrade --help for more)\n")
    end)

    it("59. a version_table name carrying SQL is only a name", function()
      local evil = 'v"; DROP TABLE accounts; --'
      url = db.url()
      dir = h.project(BASE, ("version_table = %q\n"):format(evil))
      local status, _, err = run("upgrade head")
      assert.equal(0, status, err)
      assert.same({"g2"}, h.version_rows(url, evil))
      assert.same({{id = 1, name = "ada"}, {id = 2, name = "grace"}}, state(url).accounts)
    end)
  end)
end)

-- URLs and connections: one database at a time.
describe("[sqlite] URLs and files", function()
  local function project()
    return h.project(BASE)
  end

  it("60. an empty SQLite path is refused rather than taken as a memory database", function()
    local status, _, err = h.luamig(project(), "--url sqlite: upgrade head")
    assert.equal(1, status)
    assert.equal("FAILED: invalid database URL (the database path is empty; give a file "
      .. "(sqlite:app.db) or sqlite::memory:); the URL is not shown, as it may hold a password\n", err)
  end)

  it("61. an unknown scheme", function()
    local status, _, err = h.luamig(project(), "--url mysql://root:hunter22@db/app upgrade head")
    assert.equal(1, status)
    assert.equal("FAILED: unknown database URL scheme 'mysql': luamig "
      .. "supports sqlite: and postgresql:// URLs\n", err)
  end)

  it("62. not a URL at all", function()
    local status, _, err = h.luamig(project(), "--url app.db upgrade head")
    assert.equal(1, status)
    assert.equal("FAILED: invalid database URL (expected sqlite:PATH or "
      .. "postgresql://USER@HOST/DBNAME); the URL is not shown, as it may hold a password\n", err)
  end)

  it("63. a SQLite file in a directory that does not exist", function()
    local dir = project()
    local status, _, err = h.luamig(dir, "--url sqlite:" .. dir .. "/no/such/dir/app.db upgrade head")
    assert.equal(1, status)
    assert.equal(("INFO  [luamig] Database: sqlite:%s/no/such/dir/app.db (from --url)\n"
      .. "FAILED: cannot open SQLite database '%s/no/such/dir/app.db': unable to open database "
      .. "file (check that the path is a database file in a directory that exists and is writable)\n")
      :format(dir, dir), err)
  end)

  -- As root every file is writable: run as nobody then.
  -- The binary is self-contained, so a copy in dir serves whoever can read
  -- dir; the temporary directories above dir are opened for searching.
  local function as_other(dir, args)
    if not is_root then return h.luamig(dir, args) end
    os.execute(("cp %s %s/luamig && chmod -R a+rX %s"):format(h.shell_quote(h.bin), h.shell_quote(dir),
                                                             h.shell_quote(dir)))
    local tmp = os.getenv("TMPDIR") or "/tmp"
    local up = dir
    while true do
      up = up:match("^(.*)/[^/]*$")
      if not up or #up <= #tmp or up:sub(1, #tmp) ~= tmp then break end
      os.execute("chmod a+x " .. h.shell_quote(up))
    end
    if tmp ~= "/tmp" then os.execute("chmod a+x " .. h.shell_quote(tmp)) end
    return h.run(("cd %s && runuser -u nobody -- ./luamig %s"):format(h.shell_quote(dir), args))
  end

  it("64. an unwritable directory", function()
    local dir = project()
    os.execute(("mkdir %s/ro && chmod 555 %s/ro"):format(h.shell_quote(dir), h.shell_quote(dir)))
    local status, _, err = as_other(dir, "--url sqlite:ro/app.db upgrade head")
    assert.equal(1, status)
    assert.equal("INFO  [luamig] Database: sqlite:ro/app.db (from --url)\n"
      .. "FAILED: cannot open SQLite database 'ro/app.db': unable to open database file (check "
      .. "that the path is a database file in a directory that exists and is writable)\n", err)
    assert.is_false(h.file_exists(dir .. "/ro/app.db"))
  end)

  it("65. a read-only database file: the step fails on its first write and nothing changes", function()
    local dir = project()
    local url = "sqlite:" .. dir .. "/app.db"
    assert.equal(0, (h.luamig(dir, "-q --url " .. url .. " upgrade head")))
    local before = state(url)
    os.execute(("chmod 444 %s/app.db"):format(h.shell_quote(dir)))
    local status, _, err = as_other(dir, "--url " .. url .. " downgrade base")
    assert.equal(1, status)
    assert.equal("INFO  [luamig] Database: " .. url .. " (from --url)\n"
      .. "INFO  [luamig] Running downgrade g2 -> g1, add notes\n"
      .. "FAILED: downgrade g2 (add notes): migrations/versions/g2.lua:11: attempt to write a readonly database\n"
      .. "Nothing of this run is committed: the database is at g2, as before the run.\n"
      .. "  statement: DROP TABLE \"notes\"\n", err)
    assert.same(before, state(url))
  end)
end)

describe("[postgresql] URLs and connections", function()
  local function project()
    return h.project(BASE)
  end

  it("66. an invalid port is named before connecting", function()
    local status, _, err = h.luamig(project(), "--url postgresql://u:hunter22@localhost:99999/db upgrade head")
    assert.equal(1, status)
    assert.equal("FAILED: invalid database URL (invalid port number: a port is a number up to 65535, "
      .. "and a user name or password holding / @ : ? # or a space must be percent-encoded, e.g. @ as "
      .. "%40 and / as %2F); the URL is not shown, as it may hold a password\n", err)
  end)

  it("67. an unreachable server names the address and says to check it is running", function()
    local status, _, err = h.luamig(project(), "--url 'postgresql://u:hunter22@127.0.0.1:1/db' upgrade head")
    assert.equal(1, status)
    assert.equal("INFO  [luamig] Database: postgresql://u:***@127.0.0.1:1/db (from --url)\n"
      .. "FAILED: cannot connect to PostgreSQL at 'postgresql://u:***@127.0.0.1:1/db': connection "
      .. "to server at \"127.0.0.1\", port 1 failed: Connection refused\n\tIs the server running on that "
      .. "host and accepting TCP/IP connections?\n", err)
  end)

  it("68. a wrong password is not echoed, in the URL or in a parameter or PGPASSWORD", function()
    h.ensure_pg_password_user()
    local host, port = h.pg_tcp()
    local wrong = "Wr0ng-s3cret%21"
    local cases = {
      {("postgresql://%s:%s@%s:%s/postgres"):format(h.pg_password_user, wrong, host, port),
       ("postgresql://%s:***@%s:%s/postgres"):format(h.pg_password_user, host, port), {}},
      {("postgresql://%s@%s:%s/postgres?password=%s"):format(h.pg_password_user, host, port, wrong),
       ("postgresql://%s:***@%s:%s/postgres"):format(h.pg_password_user, host, port), {}},
      {("postgresql://%s@%s:%s/postgres"):format(h.pg_password_user, host, port),
       ("postgresql://%s@%s:%s/postgres"):format(h.pg_password_user, host, port), {PGPASSWORD = "Wr0ng-s3cret!"}},
    }
    for _, c in ipairs(cases) do
      local status, out, err = h.luamig(project(), "--url " .. h.shell_quote(c[1]) .. " upgrade head", c[3])
      assert.equal(1, status)
      assert.equal(("INFO  [luamig] Database: %s (from --url)\n"
        .. "FAILED: cannot connect to PostgreSQL at '%s': connection to server at \"%s\", port %s "
        .. "failed: FATAL:  password authentication failed for user \"%s\"\n"):format(c[2], c[2], host, port,
        h.pg_password_user), err)
      assert.is_nil((out .. err):find("s3cret", 1, true))
    end
  end)

  it("69. a database that does not exist", function()
    local host, port = h.pg_tcp()
    local status, _, err = h.luamig(project(),
      ("--url postgresql://postgres@%s:%s/no_such_db upgrade head"):format(host, port))
    assert.equal(1, status)
    assert.equal(("INFO  [luamig] Database: postgresql://postgres@%s:%s/no_such_db (from --url)\n"
      .. "FAILED: cannot connect to PostgreSQL at 'postgresql://postgres@%s:%s/no_such_db': "
      .. "connection to server at \"%s\", port %s failed: FATAL:  database \"no_such_db\" does not exist\n")
      :format(host, port, host, port, host, port), err)
  end)
end)
