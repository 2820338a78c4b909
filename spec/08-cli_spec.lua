-- The luamig command, black-box, on SQLite and PostgreSQL: the newcomer's
-- path, failures that leave nothing behind, concurrent runners, checksums,
-- and Alembic's verified examples (reference/alembic.md §2-§3).
local h = require "spec.helpers"

local function G()  -- the reference's graph G
  return {
    {id = "aaaa1111", message = "create account table", up = "CREATE TABLE account (id INTEGER)", down_sql = "DROP TABLE account"},
    {id = "bbbb2222", down = "aaaa1111", message = "add a column", up = "CREATE TABLE b (id INTEGER)", down_sql = "DROP TABLE b"},
    {id = "cccc3333", down = "bbbb2222", message = "add another column", up = "CREATE TABLE c (id INTEGER)", down_sql = "DROP TABLE c"},
    {id = "dddd4444", down = "bbbb2222", message = "branch d", up = "CREATE TABLE d (id INTEGER)", down_sql = "DROP TABLE d"},
    {id = "eeee5555", down = {"dddd4444", "cccc3333"}, message = "merge c and d"},
    {id = "ffff6666", labels = {"networking"}, message = "networking root", up = "CREATE TABLE n1 (id INTEGER)", down_sql = "DROP TABLE n1"},
    {id = "99990001", down = "ffff6666", message = "net 1"},
    {id = "99990002", down = "99990001", message = "net 2"},
    {id = "99990003", down = "99990002", depends = {"bbbb2222"}, message = "networking needs account"},
  }
end

local function running_lines(stderr)
  local out = {}
  for _, line in ipairs(h.grep(stderr, "[luamig] Running ")) do
    out[#out + 1] = line:match("%[luamig%] (.*)$")
  end
  return out
end

h.each_db(function(db)
  local pg = db.name == "postgresql"
  local url

  before_each(function() url = db.url() end)

  -- luamig with --url set to this spec's database
  -- (stderr without its Database line, which must name url: spec 12d's subject)
  local function run(dir, args, env)
    local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args, env)
    return status, out, h.drop_database_lines(err, url)
  end

  describe("a newcomer's path", function()
    it("init, revision, upgrade, downgrade, history, current, stamp", function()
      local dir = h.tmpdir()
      local status, out, err = run(dir, "init")
      assert.equal(0, status, err)
      assert.is_true(h.file_exists(dir .. "/luamig.lua"))
      assert.is_true(h.file_exists(dir .. "/migrations/script.lua.tmpl"))

      local function revision(id, message, up, down)
        local s, o, e = run(dir, ("revision -m %s --rev-id %s"):format(h.shell_quote(message), id))
        assert.equal(0, s, e)
        local path = o:match("^Generating (.-) %.%.%.  done")
        assert.truthy(path, o)
        local f = assert(io.open(path))
        local text = f:read("a")
        f:close()
        text = text:gsub("function upgrade%(op%)\n", function(m) return m .. ("  op.execute(%q)\n"):format(up) end)
                   :gsub("function downgrade%(op%)\n", function(m) return m .. ("  op.execute(%q)\n"):format(down) end)
        h.write_file(path, text)
        return path
      end
      revision("aaaa1111", "create users", "CREATE TABLE users (id INTEGER PRIMARY KEY)", "DROP TABLE users")
      revision("bbbb2222", "add posts", "CREATE TABLE posts (id INTEGER PRIMARY KEY)", "DROP TABLE posts")

      status, out, err = run(dir, "upgrade head")
      assert.equal(0, status, err)
      assert.same({"Running upgrade  -> aaaa1111, create users",
                   "Running upgrade aaaa1111 -> bbbb2222, add posts"}, running_lines(err))
      assert.same({"bbbb2222"}, h.version_rows(url))
      assert.same({"luamig_log", "luamig_version", "posts", "users"}, h.tables(url))

      status, out, err = run(dir, "downgrade -1")
      assert.equal(0, status, err)
      assert.same({"Running downgrade bbbb2222 -> aaaa1111, add posts"}, running_lines(err))
      assert.same({"aaaa1111"}, h.version_rows(url))
      assert.same({"luamig_log", "luamig_version", "users"}, h.tables(url))

      status, out, err = run(dir, "upgrade +1")
      assert.equal(0, status, err)
      assert.same({"bbbb2222"}, h.version_rows(url))

      status, out = run(dir, "history")
      assert.equal(0, status)
      assert.equal("aaaa1111 -> bbbb2222 (head), add posts\n<base> -> aaaa1111, create users\n", out)
      status, out = run(dir, "current")
      assert.equal(0, status)
      assert.equal("bbbb2222 (head)\n", out)

      status, out, err = run(dir, "stamp aaaa1111")
      assert.equal(0, status, err)
      assert.same({"Running stamp_revision bbbb2222 -> aaaa1111"}, running_lines(err))
      assert.same({"aaaa1111"}, h.version_rows(url))
      assert.same({"luamig_log", "luamig_version", "posts", "users"}, h.tables(url))  -- nothing ran
      status = run(dir, "stamp base")
      assert.equal(0, status)
      assert.same({}, h.version_rows(url))
    end)

    it("read-only commands create nothing; graph commands need no database", function()
      local dir = h.project(G())
      local status, out, err = run(dir, "current")
      assert.equal(0, status, err)
      assert.equal("", out)
      assert.same({}, h.tables(url))
      status, out, err = h.luamig(dir, "--url postgresql://nobody@127.0.0.1:1/nothing heads")
      assert.equal(0, status, err)
      assert.equal("99990003 (networking) (head)\neeee5555 (head)\n", out)
    end)
  end)

  describe("a migration that fails midway", function()
    local revs = {
      {id = "r1", message = "one", up = "CREATE TABLE t1 (x INTEGER)", down_sql = "DROP TABLE t1"},
      {id = "r2", down = "r1", message = "two", up = "CREATE TABLE t2 (x INTEGER)", down_sql = "DROP TABLE t2"},
      {id = "r3", down = "r2", message = "three", code = true,
       up = "  op.execute('CREATE TABLE t3 (x INTEGER)')\n  op.execute('SELECT * FROM no_such_table')"},
    }

    it("leaves the database at the previous revision with nothing of the failed step", function()
      local dir = h.project(revs)
      local status, out, err = run(dir, "upgrade head")
      assert.equal(1, status)
      local msg = pg and 'relation "no_such_table" does not exist' or "no such table: no_such_table"
      assert.equal(("FAILED: upgrade r3 (three): migrations/versions/r3.lua:9: %s\n"
                    .. "The 2 steps before it are committed: the database is at r2.\n"
                    .. "  statement: SELECT * FROM no_such_table\n"):format(msg),
                   err:match("FAILED:.*$"))
      assert.same({"r2"}, h.version_rows(url))
      assert.same({"luamig_log", "luamig_version", "t1", "t2"}, h.tables(url))
    end)

    it("with transaction_per_migration = false rolls the whole run back", function()
      local dir = h.project(revs, "transaction_per_migration = false\n")
      local status, _, err = run(dir, "upgrade head")
      assert.equal(1, status)
      assert.truthy(err:find("\nNothing of this run is committed (transaction_per_migration = "
        .. "false: the 2 steps before it rolled back with it): the database is at base, as before "
        .. "the run.\n", 1, true), err)
      assert.same({}, h.version_rows(url))
      assert.same({"luamig_log", "luamig_version"}, h.tables(url))
    end)
  end)

  describe("two runners at once", function()
    it("apply every migration exactly once", function()
      local slow = pg and "SELECT pg_sleep(0.15)"
        or "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 300000) SELECT count(*) FROM c"
      local revs = {{id = "c0", message = "counter", up = "CREATE TABLE counter (rev TEXT)"}}
      for i = 1, 6 do
        revs[#revs + 1] = {id = "c" .. i, down = "c" .. (i - 1), message = "step " .. i, code = true,
          up = ("  op.execute(%q)\n  op.execute(\"INSERT INTO counter (rev) VALUES ('c%d')\")"):format(slow, i)}
      end
      local dir = h.project(revs)
      local cmd = ("cd %s; (%s --url %s upgrade head >a.out 2>a.err; echo $? >a.rc) & "
                .. "(%s --url %s upgrade head >b.out 2>b.err; echo $? >b.rc) & wait")
        :format(h.shell_quote(dir), h.bin, h.shell_quote(url), h.bin, h.shell_quote(url))
      assert.equal(0, (h.run(cmd)))
      local function read(name)
        local f = assert(io.open(dir .. "/" .. name))
        local s = f:read("a")
        f:close()
        return s
      end
      assert.equal("0\n", read("a.rc"), read("a.err"))
      assert.equal("0\n", read("b.rc"), read("b.err"))
      local conn = db.connect and require("luamig.core").connect(url)
      local counts = conn:query("SELECT rev, count(*) AS n FROM counter GROUP BY rev ORDER BY rev")
      conn:close()
      local expected = {}
      for i = 1, 6 do expected[i] = {rev = "c" .. i, n = 1} end
      assert.same(expected, counts)
      assert.same({"c6"}, h.version_rows(url))
      local ran_a, ran_b = #running_lines(read("a.err")), #running_lines(read("b.err"))
      assert.equal(7, ran_a + ran_b)
      if pg then                                       -- the lock holds for the whole run
        assert.is_true(ran_a == 0 or ran_b == 0, read("a.err") .. read("b.err"))
      end
    end)
  end)

  describe("checksums", function()
    it("verify names an edited applied script, and upgrade warns", function()
      local dir = h.project({
        {id = "v1", message = "one", up = "CREATE TABLE t1 (x INTEGER)", down_sql = "DROP TABLE t1"},
        {id = "v2", down = "v1", message = "two", up = "CREATE TABLE t2 (x INTEGER)", down_sql = "DROP TABLE t2"},
      })
      assert.equal(0, (run(dir, "upgrade head")))
      local status, out = run(dir, "verify")
      assert.equal(0, status, out)
      assert.equal("OK: every applied script matches its file\n", out)
      local path = dir .. "/migrations/versions/v1.lua"
      local f = assert(io.open(path, "a"))
      f:write("-- edited after it was applied\n")
      f:close()
      status, out = run(dir, "verify")
      assert.equal(1, status)
      assert.truthy(out:match("^changed: migrations/versions/v1%.lua %(revision v1%) differs from what was applied %(sha256 %x+, now %x+%)\n"
        .. "once an edit is reviewed, `luamig verify %-%-accept REV` %(or `%-%-accept all`%) records the script as it is now\n$"), out)
      local _, _, err = run(dir, "upgrade head")
      assert.same({"WARN  [luamig] migrations/versions/v1.lua (revision v1) changed since it was applied; `luamig verify` lists every such script"},
                  h.grep(err, "WARN"))
    end)

    it("verify names a version row that no script defines", function()
      local dir = h.project({{id = "v1", message = "one"}})
      assert.equal(0, (run(dir, "ensure_version")))
      local conn = require("luamig.core").connect(url)
      conn:exec("INSERT INTO luamig_version (version_num) VALUES ('deadbeef')")
      conn:close()
      local status, out = run(dir, "verify")
      assert.equal(1, status)
      assert.equal("unknown: the version table holds 'deadbeef', which no script defines\n", out)
    end)
  end)

  describe("current --check-heads", function()
    it("exits 1 when behind and 0 at the heads", function()
      local dir = h.project({{id = "k1", message = "one"}, {id = "k2", down = "k1", message = "two"}})
      run(dir, "upgrade k1")
      local status, out, err = run(dir, "current --check-heads")
      assert.equal(1, status)
      assert.equal("k1\n", out)
      assert.equal("FAILED: the database is not at the head(s): it is at k1, the head(s): k2; run "
                   .. "`luamig upgrade heads`\n", err)
      run(dir, "upgrade head")
      status, out = run(dir, "current --check-heads")
      assert.equal(0, status)
      assert.equal("k2 (head)\n", out)
    end)
  end)

  describe("Alembic's verified examples", function()
    it("1: linear and relative targets", function()
      local dir = h.project({G()[1], G()[2], G()[3]})
      local status, _, err = run(dir, "upgrade +2")
      assert.equal(0, status, err)
      assert.same({"Running upgrade  -> aaaa1111, create account table",
                   "Running upgrade aaaa1111 -> bbbb2222, add a column"}, running_lines(err))
      status, _, err = run(dir, "upgrade +2")
      assert.equal(1, status)
      assert.equal("FAILED: Relative revision +2 didn't produce 2 migrations\n", err)
      assert.same({"bbbb2222"}, h.version_rows(url))
      status, _, err = run(dir, "upgrade head")
      assert.equal(0, status, err)
      status, _, err = run(dir, "downgrade head-2")
      assert.equal(0, status, err)
      assert.same({"Running downgrade cccc3333 -> bbbb2222, add another column",
                   "Running downgrade bbbb2222 -> aaaa1111, add a column"}, running_lines(err))
      status, _, err = run(dir, "upgrade base+3")
      assert.equal(0, status, err)
      assert.same({"Running upgrade aaaa1111 -> bbbb2222, add a column",
                   "Running upgrade bbbb2222 -> cccc3333, add another column"}, running_lines(err))
      assert.same({"cccc3333"}, h.version_rows(url))
      status, _, err = run(dir, "downgrade aaaa1111+1")
      assert.equal(0, status, err)
      assert.same({"bbbb2222"}, h.version_rows(url))
    end)

    it("2-4: a branch made with --splice, heads, branch@ targets, merge and unmerge", function()
      local dir = h.project({G()[1], G()[2], G()[3]})
      local status, _, err = run(dir, "revision -m 'branch d' --head bbbb2222 --rev-id dddd4444")
      assert.equal(1, status)
      assert.equal("FAILED: Revision bbbb2222 is not a head revision; please specify --splice to "
                   .. "create a new branch from this revision\n", err)
      status, _, err = run(dir, "revision -m 'branch d' --head bbbb2222 --splice --rev-id dddd4444")
      assert.equal(0, status, err)
      run(dir, "upgrade bbbb2222")
      status, _, err = run(dir, "upgrade head")
      assert.equal(1, status)
      assert.equal("FAILED: Multiple head revisions are present for given argument 'head'; please "
        .. "specify a specific target revision, '<branchname>@head' to narrow to a specific head, "
        .. "or 'heads' for all heads\n", err)
      status, _, err = run(dir, "upgrade +1")
      assert.equal(1, status)
      assert.truthy(err:find("Ambiguous walk", 1, true), err)
      status, _, err = run(dir, "upgrade heads")
      assert.equal(0, status, err)
      assert.same({"cccc3333", "dddd4444"}, h.version_rows(url))
      local out
      status, out = run(dir, "current")
      assert.equal("cccc3333 (head)\ndddd4444 (head)\n", out)
      -- 3: branch-at syntax
      status, _, err = run(dir, "downgrade cccc3333@-1")
      assert.equal(0, status, err)
      assert.same({"Running downgrade cccc3333 -> bbbb2222, add another column"}, running_lines(err))
      assert.same({"dddd4444"}, h.version_rows(url))
      status, _, err = run(dir, "upgrade cccc3333@head")
      assert.equal(0, status, err)
      assert.same({"cccc3333", "dddd4444"}, h.version_rows(url))
      -- 4: merge
      status, out, err = run(dir, "merge -m 'merge c and d' --rev-id eeee5555 heads")
      assert.equal(0, status, err)
      status, _, err = run(dir, "upgrade head")
      assert.equal(0, status, err)
      assert.same({"Running upgrade cccc3333, dddd4444 -> eeee5555, merge c and d"}, running_lines(err))
      assert.same({"eeee5555"}, h.version_rows(url))
      status, _, err = run(dir, "downgrade -1")
      assert.equal(1, status)
      assert.truthy(err:find("Ambiguous walk", 1, true), err)
      status, _, err = run(dir, "downgrade dddd4444")
      assert.equal(0, status, err)
      assert.same({"Running downgrade eeee5555 -> cccc3333, dddd4444, merge c and d"}, running_lines(err))
      assert.same({"cccc3333", "dddd4444"}, h.version_rows(url))
    end)

    it("5: a labelled second root with depends_on", function()
      local dir = h.project({G()[1], G()[2]})
      local function ok(args)
        local status, out, err = run(dir, args)
        assert.equal(0, status, err)
        return out, err
      end
      ok("revision -m 'networking root' --head=base --branch-label=networking --rev-id ffff6666")
      ok("revision -m 'net 1' --head=networking@head --rev-id 99990001")
      ok("revision -m 'net 2' --head=networking@head --rev-id 99990002")
      ok("revision -m 'networking needs account' --head=networking@head --depends-on=bbbb2222 --rev-id 99990003")
      local _, err = ok("upgrade networking@head")
      assert.same({"Running upgrade  -> aaaa1111, create account table",
                   "Running upgrade aaaa1111 -> bbbb2222, add a column",
                   "Running upgrade  -> ffff6666, networking root",
                   "Running upgrade ffff6666 -> 99990001, net 1",
                   "Running upgrade 99990001 -> 99990002, net 2",
                   "Running upgrade 99990002 -> 99990003, networking needs account"}, running_lines(err))
      assert.same({"99990003"}, h.version_rows(url))
      local out = ok("current")
      assert.equal("bbbb2222 (effective head)\n99990003 (head)\n", out)
      out = ok("history -r 99990002:99990003")
      assert.equal("99990002 (bbbb2222) -> 99990003 (networking) (head), networking needs account\n"
                   .. "99990001 -> 99990002 (networking), net 2\n", out)
      _, err = ok("downgrade bbbb2222@-1")
      assert.same({"Running downgrade 99990003 -> 99990002, networking needs account",
                   "Running downgrade bbbb2222 -> aaaa1111, add a column"}, running_lines(err))
      assert.same({"99990002", "aaaa1111"}, h.version_rows(url))
    end)

    it("the stamp sequence of §3 gives Alembic's rows", function()
      local dir = h.project(G())
      local steps = {
        {"stamp cccc3333", {"cccc3333"}},
        {"stamp dddd4444", {"cccc3333", "dddd4444"}},
        {"stamp eeee5555", {"eeee5555"}},
        {"stamp bbbb2222", {"bbbb2222"}},
        {"stamp ffff6666 aaaa1111", {"aaaa1111", "ffff6666"}},
        {"stamp networking@head", {"99990003"}},
        {"stamp heads", {"99990003", "eeee5555"}},
        {"stamp base", {}},
      }
      for _, step in ipairs(steps) do
        local status, _, err = run(dir, step[1])
        assert.equal(0, status, step[1] .. ": " .. err)
        assert.same(step[2], h.version_rows(url), step[1])
      end
      assert.same({"luamig_log", "luamig_version"}, h.tables(url))   -- stamps run no migration
    end)
  end)

  describe("the example project (make demo)", function()
    it("migrates up, down to base and up again", function()
      local dir = h.tmpdir()
      os.execute(("cp -r %s/migrations %s/"):format(h.shell_quote(h.root), h.shell_quote(dir)))
      local status, _, err = run(dir, "upgrade head")
      assert.equal(0, status, err)
      assert.equal(7, #running_lines(err))
      assert.same({"luamig_log", "luamig_version", "post_tags", "posts", "tags", "users"}, h.tables(url))
      local conn = require("luamig.core").connect(url)
      assert.equal(6, conn:query("SELECT count(*) AS n FROM tags")[1].n)
      conn:exec("INSERT INTO users (email, name) VALUES ('a@example.org', 'Ada')")
      conn:close()
      status, _, err = run(dir, "downgrade base")
      assert.equal(0, status, err)
      assert.same({"luamig_log", "luamig_version"}, h.tables(url))
      status, _, err = run(dir, "upgrade head")
      assert.equal(0, status, err)
      assert.same({"7a8b9c0d1e2f"}, h.version_rows(url))
    end)
  end)

  describe("settings", function()
    local revs = {{id = "s1", message = "one", code = true,
                   up = "  op.execute('CREATE TABLE ' .. op.x.tbl .. ' (x INTEGER)')"}}

    it("-x KEY=VALUE reaches scripts as op.x.KEY", function()
      local dir = h.project(revs)
      local status, _, err = run(dir, "-x tbl=from_x upgrade head")
      assert.equal(0, status, err)
      assert.same({"from_x", "luamig_log", "luamig_version"}, h.tables(url))
    end)

    it("the URL comes from --url, else DATABASE_URL, else luamig.lua, else sqlite:luamig.db", function()
      local dir = h.project(revs, ("url = %q\nx_unknown = 1\n"):format(url))
      local status, _, err = h.luamig(dir, "-x tbl=from_config upgrade head")
      assert.equal(0, status, err)
      assert.same({"from_config", "luamig_log", "luamig_version"}, h.tables(url))
      assert.truthy(err:find("WARN  [luamig] luamig.lua: unknown setting 'x_unknown' is ignored", 1, true), err)
      -- DATABASE_URL wins over the config; --url over both
      local other = db.url()
      status, _, err = h.luamig(dir, "-x tbl=from_env upgrade head", {DATABASE_URL = other})
      assert.equal(0, status, err)
      assert.same({"from_env", "luamig_log", "luamig_version"}, h.tables(other))
      local third = db.url()
      status, _, err = h.luamig(dir, "--url " .. h.shell_quote(third) .. " -x tbl=from_flag upgrade head",
                                {DATABASE_URL = other})
      assert.equal(0, status, err)
      assert.same({"from_flag", "luamig_log", "luamig_version"}, h.tables(third))
      -- and with none of them, the embedded default
      local plain = h.project(revs)
      status, _, err = h.luamig(plain, "-x tbl=dflt upgrade head")
      assert.equal(0, status, err)
      assert.same({"dflt", "luamig_log", "luamig_version"}, h.tables("sqlite:" .. plain .. "/luamig.db"))
    end)

    it("a config file with a syntax error names its line", function()
      local dir = h.project(revs, "url = 'sqlite:x.db'\nscript_location = \n")
      local status, _, err = h.luamig(dir, "heads")
      assert.equal(1, status)
      assert.equal("FAILED: luamig.lua:3: unexpected symbol near <eof>\n", err)
    end)
  end)

  describe("transactional = false", function()
    it("runs the step outside a transaction and says so", function()
      local dir = h.project({
        {id = "n1", message = "plain", up = "CREATE TABLE t1 (x INTEGER)"},
        {id = "n2", down = "n1", message = "outside", up = "CREATE TABLE t2 (x INTEGER)",
         extra = "transactional = false"},
      })
      local status, _, err = run(dir, "upgrade head")
      assert.equal(0, status, err)
      assert.same({"INFO  [luamig] Upgrade n2 runs outside a transaction (transactional = false)"},
                  h.grep(err, "outside a transaction"))
      assert.same({"n2"}, h.version_rows(url))
    end)

    it("a failure midway says what may be partly applied and what to do", function()
      local dir = h.project({
        {id = "n1", message = "plain", up = "CREATE TABLE t1 (x INTEGER)"},
        {id = "n2", down = "n1", message = "outside", code = true, extra = "transactional = false",
         up = "  op.execute('CREATE TABLE t2 (x INTEGER)')\n  op.execute('SELECT * FROM nope')"},
      })
      local status, _, err = run(dir, "upgrade head")
      assert.equal(1, status)
      assert.truthy(err:find("This step ran outside a transaction (transactional = false): what it "
        .. "did before the error stays applied, and the version table still says n1. Check the "
        .. "database, then either undo that part by hand and run again, or finish it by hand and "
        .. "`luamig stamp n2`.", 1, true), err)
      assert.same({"n1"}, h.version_rows(url))
      assert.same({"luamig_log", "luamig_version", "t1", "t2"}, h.tables(url))   -- t2 stayed
    end)
  end)

  describe("machine-readable output", function()
    it("--json for current, heads, history, show, verify and --plan", function()
      local dir = h.project({{id = "j1", message = "one"}, {id = "j2", down = "j1", message = "two"}})
      local status, out = run(dir, "--json upgrade --plan")
      assert.equal(0, status)
      assert.equal('{"rows":["j2"],"start":[],"steps":[{"direction":"upgrade","from":[],"revision":"j1",'
        .. '"rows":["j1"],"to":["j1"]},{"direction":"upgrade","from":["j1"],"revision":"j2","rows":["j2"],'
        .. '"to":["j2"]}]}\n', out)
      assert.same({}, h.tables(url))                   -- --plan runs nothing
      run(dir, "upgrade j1")
      status, out = run(dir, "--json current")
      assert.equal('[{"depends_on":[],"id":"j1","is_branch_point":false,"is_head":false,"is_merge_point":false,'
        .. '"labels":[],"message":"one","parents":[],"path":"migrations/versions/j1.lua"}]\n', out)
      status, out = run(dir, "--json heads")
      assert.truthy(out:find('^%[{"depends_on":%[%],"id":"j2"'), out)
      status, out = run(dir, "--json verify")
      assert.equal('{"changed":[],"compared":1,"ok":true,"unchecked":[],"unknown":[]}\n', out)
    end)
  end)

  describe("offline SQL", function()
    it("of the example project, fed to the database's own shell, matches an online upgrade", function()
      local core = require "luamig.core"
      local introspect = require "luamig.introspect"
      local dir = h.tmpdir()
      os.execute(("cp -r %s/migrations %s/"):format(h.shell_quote(h.root), h.shell_quote(dir)))
      local offline_url = db.url()
      local status, sql, err = h.luamig(dir, "--url " .. h.shell_quote(offline_url) .. " upgrade head --sql")
      assert.equal(0, status, err)
      assert.same({}, h.tables(offline_url))           -- nothing connected
      h.write_file(dir .. "/up.sql", sql)
      local shell = pg and ("psql %s -q -v ON_ERROR_STOP=1 -f %s"):format(h.shell_quote(offline_url),
                                                                           h.shell_quote(dir .. "/up.sql"))
                       or ("sqlite3 -bail %s < %s"):format(h.shell_quote(offline_url:sub(8)),
                                                          h.shell_quote(dir .. "/up.sql"))
      local rc, _, shell_err = h.run(shell)
      assert.equal(0, rc, shell_err)
      status, _, err = run(dir, "upgrade head")         -- the same project online
      assert.equal(0, status, err)
      local online, offline = core.connect(url), core.connect(offline_url)
      assert.same(introspect.schema(online), introspect.schema(offline))
      assert.same(online:query("SELECT version_num FROM luamig_version"),
                  offline:query("SELECT version_num FROM luamig_version"))
      assert.same(online:query("SELECT id, name FROM tags ORDER BY id"),
                  offline:query("SELECT id, name FROM tags ORDER BY id"))
      online:close() offline:close()
    end)

    it("upgrade --sql prints the script without connecting", function()
      local dir = h.project({{id = "o1", message = "one", up = "CREATE TABLE t1 (x INTEGER)"}})
      local status, out, err = run(dir, "upgrade head --sql")
      assert.equal(0, status, err)
      assert.same({}, h.tables(url))
      assert.truthy(out:find("CREATE TABLE IF NOT EXISTS \"luamig_version\"", 1, true), out)
      -- no SET LOCAL lock_timeout: the default ddl_lock_timeout (issue 17)
      -- is not written offline, where nothing retries it (attack 17B 7)
      assert.truthy(out:find("-- Running upgrade  -> o1\n\nCREATE TABLE t1 (x INTEGER);\n\n"
        .. "INSERT INTO \"luamig_version\" (version_num) VALUES ('o1');", 1, true), out)
      assert.truthy(out:find("BEGIN;", 1, true) and out:find("COMMIT;", 1, true))
    end)
  end)

  if pg then
    describe("the lock", function()
      it("a runner waits for the lock, says so, and gives up after lock_timeout", function()
        local dir = h.project({{id = "l1", message = "one", up = "CREATE TABLE t1 (x INTEGER)"}},
                              "lock_timeout = 1\n")
        local holder = require("luamig.core").connect(url)
        local status, _, err = run(dir, "upgrade head")
        assert.equal(0, status, err)
        run(dir, "downgrade base")
        local rows = holder:query("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'")
        assert.equal(0, rows[1].n)                     -- released at the end of each run
        -- a run that holds the lock for 3 s inside a step, and a second one 1 s later
        local slow = h.project({{id = "l1", message = "slow", code = true,
          up = "  op.execute('SELECT pg_sleep(3)')"}}, "lock_timeout = 1\n")
        local cmd = ("cd %s; (%s --url %s upgrade head >a.out 2>a.err &) ; sleep 1; %s --url %s upgrade head")
          :format(h.shell_quote(slow), h.bin, h.shell_quote(url), h.bin, h.shell_quote(url))
        status, _, err = h.run(cmd)
        assert.equal(1, status)
        assert.truthy(err:find("INFO  %[luamig%] Waiting for another luamig run %(server pid %d+%) to release "
                               .. "the migration lock%.%.%."), err)
        assert.truthy(err:find("FAILED: could not take the migration lock within 1 s: another luamig run "
          .. "(server pid", 1, true), err)
        holder:close()
        os.execute("sleep 3")
      end)
    end)
  end

  describe("graph commands", function()
    it("show, branches and edit", function()
      local dir = h.project(G())
      local status, out = run(dir, "show bbbb")
      assert.equal(0, status)
      assert.equal(("Rev: bbbb2222 (branchpoint)\nParent: aaaa1111\nBranches into: cccc3333, dddd4444\n"
        .. "Path: %s/migrations/versions/bbbb2222.lua\n\n    add a column\n    \n    Revision ID: bbbb2222\n"
        .. "    Revises: aaaa1111\n\n"):format(dir), out)
      status, out = run(dir, "branches")
      assert.equal(0, status)
      assert.equal("bbbb2222 (branchpoint)\n         -> cccc3333\n         -> dddd4444\n", out)
      status, out = run(dir, "edit 9999")
      assert.equal(1, status)
      status, out = run(dir, "edit 99990001", {EDITOR = "echo editing"})
      assert.equal(0, status)
      assert.equal("editing migrations/versions/99990001.lua\n", out)
    end)
  end)

  describe("usage", function()
    it("an unknown command or option exits 2 with the usage", function()
      local dir = h.project({})
      local status, out, err = run(dir, "upgrayde")
      assert.equal(2, status)
      assert.equal("", out)
      assert.equal("luamig: unknown command 'upgrayde' (did you mean 'upgrade'?)\nusage: luamig [global options] COMMAND "
                   .. "[options]\n(luamig --help for more)\n", err)
      status, _, err = run(dir, "upgrade --sqll")
      assert.equal(2, status)
      assert.equal("luamig: unknown option '--sqll' (did you mean '--sql'?)\nusage: luamig upgrade [TARGET] [--sql] "
                   .. "[--plan] [--tag TAG]\n(luamig upgrade --help for more)\n", err)
    end)

    it("--help prints to stdout and exits 0, per command too", function()
      local dir = h.project({})
      local status, out = run(dir, "--help")
      assert.equal(0, status)
      assert.truthy(out:find("usage: luamig [global options] COMMAND [options]", 1, true))
      for _, cmd in ipairs{"init", "revision", "upgrade", "downgrade", "current", "history", "heads",
                           "branches", "show", "stamp", "merge", "edit", "ensure_version", "verify"} do
        status, out = run(dir, cmd .. " --help")
        assert.equal(0, status, cmd)
        assert.truthy(out:find("usage: luamig " .. cmd, 1, true), cmd)
      end
    end)
  end)
end)
