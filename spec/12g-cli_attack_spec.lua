-- Issue 14, defects the outside attacks of the new command line found, each
-- kept as the reproducer that showed it.
local luamig = require "luamig"
local h = require "spec.helpers"

local function has(s, part) return s:find(part, 1, true) ~= nil end

describe("[sqlite] the attack on issue 14's command line", function()
  it("an option's missing value is not taken from the next option (revision -m --autogenerate)", function()
    local dir = h.project({{id = "a1", message = "one"}})
    local status, out, err = h.luamig(dir, "revision -m --autogenerate")
    assert.equal(2, status)
    assert.equal("", out)
    assert.truthy(has(err, "luamig: option -m needs a value (MSG), not the option '--autogenerate'; "
      .. "give the value after it (-m VALUE --autogenerate)"), err)
    local _, listing = h.run("ls " .. h.shell_quote(dir .. "/migrations/versions"))
    assert.same({"a1.lua"}, h.lines(listing))             -- no revision named "--autogenerate"
    status, _, err = h.luamig(dir, "history -r --graph")
    assert.equal(2, status)
    assert.truthy(has(err, "option -r needs a value (RANGE), not the option '--graph'"), err)
    -- a value that only looks like an option still works
    status, out, err = h.luamig(dir, "revision -m '-v is a message here' --rev-id b2")
    assert.equal(0, status, err)
    assert.truthy(has(out .. err, "-v is a message here") or has(out, "b2"), out .. err)
    local _, names = h.run("ls " .. h.shell_quote(dir .. "/migrations/versions"))
    assert.equal(2, #h.lines(names), names)
  end)

  it("a SQLite URI filename (sqlite:file:...) is refused: file: alone is a database that vanishes", function()
    local dir = h.project({{id = "a1", message = "one", up = "CREATE TABLE t (x INTEGER)"}})
    for _, url in ipairs{"sqlite:file:", "sqlite:file:x.db?mode=memory", "sqlite:file:new1.db"} do
      local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")
      assert.equal(1, status, url)
      assert.truthy(has(err, "FAILED: invalid database URL (SQLite URI filenames (file:...) are not "
        .. "supported; give the file's path (sqlite:app.db, or sqlite:./file:x.db for a name that "
        .. "starts with file:))"), err)
    end
    assert.is_false(h.file_exists(dir .. "/new1.db"))
    assert.is_false(h.file_exists(dir .. "/x.db"))
  end)

  it("check with no target schema and no revisions creates no database file", function()
    local dir = h.tmpdir()
    assert.equal(0, (h.luamig(dir, "init")))
    local status, _, err = h.luamig(dir, "--url sqlite:ro.db check")
    assert.equal(1, status)
    assert.truthy(has(err, "FAILED: target_schema 'schema.lua' not found"), err)
    assert.is_false(h.file_exists(dir .. "/ro.db"))
  end)

  it("--plan reads: with no SQLite file yet it plans from an empty database and creates none", function()
    local dir = h.project({{id = "a1", message = "one", up = "CREATE TABLE t (x INTEGER)"}})
    for _, args in ipairs{"upgrade --plan", "upgrade head --plan", "downgrade base --plan", "stamp head --plan"} do
      local status, out, err = h.luamig(dir, args)
      assert.equal(0, status, args .. ": " .. err)
      assert.truthy(has(err, "No SQLite database file " .. dir .. "/luamig.db: read as an empty "
        .. "database, nothing created"), err)
      if args:find("^upgrade") then assert.equal("upgrade  -> a1, one\n", out) end
      assert.is_false(h.file_exists(dir .. "/luamig.db"), args)
    end
  end)

  it("-n NAME: the Database line names the section; a list of sections is refused", function()
    local dir = h.project({{id = "a1", message = "one"}})
    h.write_file(dir .. "/luamig.lua", 'sections = { staging = { url = "sqlite:st.db" } }\n')
    local status, _, err = h.luamig(dir, "-n staging current")
    assert.equal(0, status, err)
    assert.truthy(has(err, "INFO  [luamig] Database: sqlite:st.db (from the url in section 'staging' "
      .. "of luamig.lua)\n"), err)
    h.write_file(dir .. "/luamig.lua", 'sections = { { url = "sqlite:one.db" } }\n')
    status, _, err = h.luamig(dir, "-n 1 current")
    assert.equal(1, status)
    assert.truthy(has(err, "FAILED: luamig.lua: sections must be named (sections = { NAME = { url = "
      .. "... } }), not a list"), err)
  end)

  it("history --dot with a NUL in a message is still valid Graphviz (control characters as ?)", function()
    local dir = h.project({{id = "a1", message = "one"}})
    local path = dir .. "/migrations/versions/a1.lua"
    local text = h.read_file(path)
    local patched = text:gsub('message = "one"', 'message = "o\\0n\\1e"')
    assert.are_not.equal(text, patched)
    h.write_file(path, patched)
    local status, out, err = h.luamig(dir, "history --dot")
    assert.equal(0, status, err)
    assert.truthy(has(out, '"a1\\no?n?e"') or has(out, "o?n?e"), out)
    assert.falsy(out:find("%z"), "a NUL byte reached the dot text")
  end)

  it("bulk_insert of an empty list still tells progress 0 of 0", function()
    local dir = h.project({{id = "m1", message = "empty", code = true,
      up = "  op.execute('CREATE TABLE items (id INTEGER)')\n  op.bulk_insert('items', {})"}})
    local seen = {}
    local m <close> = luamig.open{url = (h.fresh_sqlite()), script_location = dir .. "/migrations",
                                  progress = function(...) seen[#seen + 1] = {...} end}
    m:upgrade("head")
    assert.same({{0, 0, "items"}}, seen)
  end)

  it("a user name holding ':' displays percent-encoded, not as a user with a password", function()
    local dir = h.project({{id = "a1", message = "one"}})
    local status, _, err = h.luamig(dir, "--url 'postgresql://app%3Apw@127.0.0.1:1/x' current")
    assert.equal(1, status)
    assert.truthy(has(err, "INFO  [luamig] Database: postgresql://app%3Apw@127.0.0.1:1/x (from --url)\n"), err)
    assert.falsy(has(err, "app:***"), err)
  end)
end)

h.each_db(function(db)
  it("a failed transactional = false downgrade advises stamping where the step leads (the parent)", function()
    local dir = h.project({
      {id = "r1", message = "r1", up = "CREATE TABLE t (id int)", down_sql = "DROP TABLE t"},
      {id = "r2", down = "r1", message = "r2", extra = "transactional = false", code = true,
       up = "  op.execute('CREATE TABLE u (id int)')",
       down_sql = "  op.execute('DROP TABLE u')\n  op.execute('SELECT nosuch()')"},
    })
    local url = db.url()
    local q = "--url " .. h.shell_quote(url) .. " "
    assert.equal(0, (h.luamig(dir, q .. "upgrade head")))
    local status, _, err = h.luamig(dir, q .. "downgrade base")
    assert.equal(1, status)
    assert.truthy(has(err, "or finish it by hand and `luamig stamp r1`."), err)
    assert.same({"r2"}, h.version_rows(url))
    -- the advice works: the stamp records the step as done, and the rest runs
    status, _, err = h.luamig(dir, q .. "stamp r1")
    assert.equal(0, status, err)
    status, _, err = h.luamig(dir, q .. "downgrade base")
    assert.equal(0, status, err)
    assert.same({}, h.version_rows(url))
  end)
end)

h.each_db(function(db)
  it("Ctrl-C while waiting for another run's lock says so, with nothing run, and exits 130", function()
    local long = db.name == "postgresql" and "SELECT pg_sleep(60)"
      or "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c"
    local dir = h.project({
      {id = "r1", up = "CREATE TABLE t1 (x INTEGER)"},
      {id = "r2", down = "r1", message = "slow", code = true, up = "  op.execute(\"" .. long .. "\")"},
    })
    local url = db.url()
    h.write_file(dir .. "/wait.sh", ([[
cd %s || exit 99
L=%s; U=%s
$L --url "$U" upgrade head 2>a.txt & a=$!
i=0; while ! grep -q 'Running upgrade r1 -> r2' a.txt 2>/dev/null; do i=$((i+1)); [ $i -gt 200 ] && break; sleep 0.05; done
$L --url "$U" upgrade head 2>b.txt & b=$!
i=0; while ! grep -q 'Waiting for another luamig run' b.txt 2>/dev/null; do i=$((i+1)); [ $i -gt 200 ] && break; sleep 0.05; done
kill -INT $b; wait $b; rb=$?
kill -INT $a; wait $a
echo "$rb"]]):format(h.shell_quote(dir), h.shell_quote(h.bin), h.shell_quote(url)))
    local _, out = h.run("sh " .. h.shell_quote(dir .. "/wait.sh"))
    local err = h.read_file(dir .. "/b.txt")
    assert.equal("130", out:match("%d+"), err)
    assert.truthy(has(err, "\ninterrupted (Ctrl-C) while waiting for the migration lock: nothing of this run ran"), err)
    assert.falsy(has(err, "init.lua"), err)
    assert.same({"r1"}, h.version_rows(url))
  end)
end)

h.each_db(function(db)
  it("downgrade -1 at a merge names the parents to go back to, and that advice works", function()
    local dir = h.project({
      {id = "a1", up = "CREATE TABLE a (x INTEGER)", down_sql = "DROP TABLE a"},
      {id = "b1", down = "a1", up = "CREATE TABLE b (x INTEGER)", down_sql = "DROP TABLE b"},
      {id = "c1", down = "a1", up = "CREATE TABLE c (x INTEGER)", down_sql = "DROP TABLE c"},
      {id = "m1", down = {"b1", "c1"}, message = "merge"},
    })
    local url = db.url()
    local q = "--url " .. h.shell_quote(url) .. " "
    assert.equal(0, (h.luamig(dir, q .. "upgrade head")))
    local status, _, err = h.luamig(dir, q .. "downgrade -1")
    assert.equal(1, status)
    assert.truthy(has(err, "FAILED: Ambiguous walk: the database is at m1, a merge of b1, c1; "
      .. "`luamig downgrade b1` undoes the merge alone (the database is then at b1, c1)"), err)
    assert.same({"m1"}, h.version_rows(url))
    status, _, err = h.luamig(dir, q .. "downgrade b1")
    assert.equal(0, status, err)
    assert.same({"b1", "c1"}, h.version_rows(url))
    assert.same({"a", "b", "c", "luamig_log", "luamig_version"}, h.tables(url))
  end)
end)
