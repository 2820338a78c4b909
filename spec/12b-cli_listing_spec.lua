-- The listing commands as an Alembic user types them (issue 14, items 5-7,
-- 9-11 and the Path: of item 8): current and show with a version row no
-- script defines, verify and its unrecorded checksums, --accept, output
-- order when piped, short options with attached values, show/edit current,
-- heads --resolve-dependencies and Alembic's verbose layout. Black-box
-- through the luamig command; on SQLite and PostgreSQL where a database is
-- involved.
local h = require "spec.helpers"
local core = require "luamig.core"

-- A script with Alembic's header, as `luamig revision` writes it.
local function script(id, down, message, extra)
  local down_lua = down == nil and "nil" or type(down) == "string" and ("%q"):format(down)
    or ("{%q, %q}"):format(down[1], down[2])
  local revises = down == nil and "<base>" or type(down) == "string" and down or table.concat(down, ", ")
  return table.concat({
    "-- " .. message:gsub("\n", "\n-- "):gsub("%-%- \n", "--\n"),
    "--",
    "-- Revision ID: " .. id,
    "-- Revises: " .. revises,
    "-- Create Date: 2012-07-25 15:08:05",
    "",
    ("revision      = %q"):format(id),
    "down_revision = " .. down_lua,
    "branch_labels = " .. ((extra or {}).labels or "nil"),
    "depends_on    = " .. ((extra or {}).depends or "nil"),
    ("message       = %q"):format(message):gsub("\\\n", "\\n"),
    "",
    "function upgrade(op)",
    (extra or {}).up or "",
    "end",
    "",
    "function downgrade(op)",
    (extra or {}).down or "",
    "end",
    "",
  }, "\n")
end

-- Alembic's own example graph for depends_on (the one run against
-- python3-alembic 1.8.1 to take the expected output below): a branch
-- point, a labelled branch, and a revision that depends on it.
local function project()
  local dir = h.project({})
  local v = dir .. "/migrations/versions/"
  h.write_file(v .. "aaa1_first.lua", script("aaa1", nil, "first thing\n\na longer body\nsecond line",
    {up = '  op.execute("CREATE TABLE t1 (x INTEGER)")', down = '  op.execute("DROP TABLE t1")'}))
  h.write_file(v .. "bbb2_second.lua", script("bbb2", "aaa1", "second"))
  h.write_file(v .. "ccc3_branch.lua", script("ccc3", "aaa1", "branch", {labels = '{"feat"}'}))
  h.write_file(v .. "ddd4_dep.lua", script("ddd4", "bbb2", "dep", {depends = '{"ccc3"}'}))
  return dir
end

-- The directory as getcwd() names it (no symbolic links).
local function real(dir)
  local _, out = h.run("cd " .. h.shell_quote(dir) .. " && pwd -P")
  return (out:gsub("\n$", ""))
end

-- Alembic's `history -v` of that graph, word for word, but for luamig's
-- "<base>" where Alembic's template leaves "Revises:" empty, and the paths.
local function history_verbose(dir)
  local v = real(dir) .. "/migrations/versions/"
  return table.concat({
    "Rev: ddd4 (head)", "Parent: bbb2", "Also depends on: ccc3", "Path: " .. v .. "ddd4_dep.lua", "",
    "    dep", "    ", "    Revision ID: ddd4", "    Revises: bbb2", "    Create Date: 2012-07-25 15:08:05", "",
    "Rev: bbb2", "Parent: aaa1", "Path: " .. v .. "bbb2_second.lua", "",
    "    second", "    ", "    Revision ID: bbb2", "    Revises: aaa1", "    Create Date: 2012-07-25 15:08:05", "",
    "Rev: ccc3 (head)", "Parent: aaa1", "Branch names: feat", "Path: " .. v .. "ccc3_branch.lua", "",
    "    branch", "    ", "    Revision ID: ccc3", "    Revises: aaa1", "    Create Date: 2012-07-25 15:08:05", "",
    "Rev: aaa1 (branchpoint)", "Parent: <base>", "Branches into: bbb2, ccc3", "Path: " .. v .. "aaa1_first.lua", "",
    "    first thing", "    ", "    a longer body", "    second line", "    ",
    "    Revision ID: aaa1", "    Revises: <base>", "    Create Date: 2012-07-25 15:08:05", "",
    "",
  }, "\n")
end

local HISTORY = "bbb2 (ccc3) -> ddd4 (head), dep\naaa1 -> bbb2, second\n"
  .. "aaa1 -> ccc3 (feat) (effective head), branch\n<base> -> aaa1 (branchpoint), first thing\n"

describe("listing the graph (no database)", function()
  it("history: one line per revision, the message's first paragraph only (Alembic's doc)", function()
    local dir = project()
    local status, out, err = h.luamig(dir, "history")
    assert.equal(0, status, err)
    assert.equal(HISTORY, out)
  end)

  -- the plain lines are built in C (lua_graph.c's g:listing_text): the Lua rule they
  -- replaced is the oracle for a message's first paragraph, on random texts
  it("history's first paragraph is Lua's match('^(.-)\\n[ \\t]*\\n') without trailing %s", function()
    local function lua_rule(m) return ((m:match("^(.-)\n[ \t]*\n") or m):gsub("%s+$", "")) end
    local alphabet = {"a", "b", " ", "\t", "\n", "\r", "\v", "\f", "\0", "\xc3\xa9"}
    math.randomseed(19)
    for _ = 1, 20000 do
      local parts = {}
      for i = 1, math.random(0, 12) do parts[i] = alphabet[math.random(#alphabet)] end
      local m = table.concat(parts)
      assert.equal(lua_rule(m), core.first_paragraph(m), ("%q"):format(m))
    end
  end)

  it("history: merges, sorted labels, depends_on, current and messages of every shape in one listing", function()
    local dir = h.project({})
    local v = dir .. "/migrations/versions/"
    h.write_file(v .. "a1.lua", script("a1", nil, "base  \t"))
    h.write_file(v .. "b2.lua", script("b2", "a1", "left\r\n \t\r\nnot shown", {labels = '{"zeta", "alpha"}'}))
    h.write_file(v .. "c3.lua", script("c3", "a1", ""))
    h.write_file(v .. "d4.lua", script("d4", {"b2", "c3"}, "merge\nsame paragraph\n\nnext", {depends = '{"c3", "a1"}'}))
    -- loaded in full (not the plain form): no message at all
    h.write_file(v .. "e5.lua", 'revision = "e5"; down_revision = "d4"\nfunction upgrade(op) end\n')
    local url = h.fresh_sqlite()
    local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade d4")
    assert.equal(0, status, err)
    status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " history -i")
    assert.equal(0, status, err)
    -- (taken from the Lua listing this replaced, at 2e50b40: labels carry to descendants)
    assert.equal(table.concat({
      "d4 -> e5 (alpha, zeta) (head)",
      "b2, c3 (c3, a1) -> d4 (alpha, zeta) (current) (mergepoint), merge\nsame paragraph",
      "a1 -> b2 (alpha, zeta), left\r\n \t\r\nnot shown",
      "a1 -> c3, ",
      "<base> -> a1 (branchpoint), base",
      "",
    }, "\n"), out)
    status, out, err = h.luamig(dir, "history -r a1:c3")        -- a range: only its lines
    assert.equal(0, status, err)
    assert.equal("a1 -> c3, \n<base> -> a1 (branchpoint), base\n", out)
  end)

  it("history -v: Alembic's verbose layout, the whole message, Revision ID, Revises, Create Date", function()
    local dir = project()
    local status, out, err = h.luamig(dir, "history -v")
    assert.equal(0, status, err)
    assert.equal(history_verbose(dir), out)
  end)

  it("history -v and show: Path: from the real working directory, not an inherited $PWD", function()
    local dir = project()
    local want = "Path: " .. real(dir) .. "/migrations/versions/bbb2_second.lua"
    for _, args in ipairs{"history -v", "show bbb2"} do
      local status, out, err = h.luamig(dir, args, {PWD = "/somewhere/else"})
      assert.equal(0, status, err)
      assert.same({want}, h.grep(out, "bbb2_second.lua"))
    end
  end)

  it("heads --resolve-dependencies leaves out a head another revision depends on", function()
    local dir = project()
    local status, out, err = h.luamig(dir, "heads")
    assert.equal(0, status, err)
    assert.equal("ccc3 (feat) (effective head)\nddd4 (head)\n", out)
    status, out, err = h.luamig(dir, "heads --resolve-dependencies")
    assert.equal(0, status, err)
    assert.equal("ddd4 (head)\n", out)
    status, out = h.luamig(dir, "heads -v --resolve-dependencies")
    assert.equal(0, status)
    assert.equal(history_verbose(dir):match("^(.-\n\n.-\n\n)"), out)
    status, out = h.luamig(dir, "--json heads --resolve-dependencies")
    assert.truthy(out:find('^%[{"depends_on":%["ccc3"%],"id":"ddd4"'), out)
  end)

  it("short options take attached values, as argparse does: -r-3:, -rbase:heads, -rID:ID", function()
    local dir = h.project({
      {id = "1975ea83b712", message = "one"}, {id = "ae1027a6acf0", down = "1975ea83b712", message = "two"},
      {id = "27c6a30d7c24", down = "ae1027a6acf0", message = "three"},
      {id = "4bd4fd7c7e1a", down = "27c6a30d7c24", message = "four"},
    })
    for attached, spaced in pairs{["-r-3:"] = "-r -3:", ["-rbase:heads"] = "-r base:heads",
                                  ["-r1975:ae10"] = "-r 1975:ae10", ["-vr27c6:"] = "-v -r 27c6:",
                                  ["-vr 27c6:"] = "-v -r 27c6:"} do
      local status, out, err = h.luamig(dir, "history " .. attached)
      assert.equal(0, status, attached .. ": " .. err)
      local _, want = h.luamig(dir, "history " .. spaced)
      assert.equal(want, out, attached)
    end
    local _, out = h.luamig(dir, "history -r-3:")
    assert.equal("27c6a30d7c24 -> 4bd4fd7c7e1a (head), four\nae1027a6acf0 -> 27c6a30d7c24, three\n"
      .. "1975ea83b712 -> ae1027a6acf0, two\n<base> -> 1975ea83b712, one\n", out)
    _, out = h.luamig(dir, "history -r1975:ae10")
    assert.equal("1975ea83b712 -> ae1027a6acf0, two\n<base> -> 1975ea83b712, one\n", out)
    -- an attached global (-x) and a cluster ending in a value-taking letter
    local status, _, err = h.luamig(dir, "-qxkey=value history -vr-1:")
    assert.equal(0, status, err)
    -- a letter that names no option is still a usage error naming the whole word
    local out2
    status, out2, err = h.luamig(dir, "history -vz")
    assert.equal(2, status)
    assert.equal("", out2)
    assert.truthy(err:find("luamig: unknown option '-vz'\nusage: luamig history", 1, true), err)
    status, _, err = h.luamig(dir, "history -vr")
    assert.equal(2, status)
    assert.truthy(err:find("luamig: option -r needs a value (RANGE)", 1, true), err)
  end)

  it("show head, show heads; show head with two heads says to use heads", function()
    local dir = project()
    local status, out, err = h.luamig(dir, "show heads")
    assert.equal(0, status, err)
    assert.equal(history_verbose(dir):match("^(.-\n\n.-\n\n)"), out)     -- Alembic's real heads: ddd4
    status, out, err = h.luamig(dir, "show head")
    assert.equal(1, status)
    assert.equal("", out)
    assert.truthy(err:find("FAILED: Multiple head revisions are present for given argument 'head'; "
      .. "please specify a specific target revision, '<branchname>@head' to narrow to a specific head, "
      .. "or 'heads' for all heads", 1, true), err)
    status, out, err = h.luamig(dir, "show feat@head")
    assert.equal(0, status, err)
    assert.truthy(out:find("^Rev: ccc3 %(head%)\n"), out)
    local linear = h.project({{id = "l1", message = "one"}, {id = "l2", down = "l1", message = "two"}})
    status, out, err = h.luamig(linear, "show head")
    assert.equal(0, status, err)
    assert.truthy(out:find("^Rev: l2 %(head%)\nParent: l1\n"), out)
  end)

  it("branches -v: each branch with its first paragraph and a blank line after, as Alembic's (1.8.1)", function()
    local dir = project()
    local v = real(dir) .. "/migrations/versions/"
    local status, out, err = h.luamig(dir, "branches -v")
    assert.equal(0, status, err)
    assert.equal(table.concat({
      "Rev: aaa1 (branchpoint)", "Parent: <base>", "Branches into: bbb2, ccc3", "Path: " .. v .. "aaa1_first.lua", "",
      "    first thing", "    ", "    a longer body", "    second line", "    ",
      "    Revision ID: aaa1", "    Revises: <base>", "    Create Date: 2012-07-25 15:08:05", "",
      "     -> bbb2, second",
      "     -> ccc3 (feat) (effective head), branch",
      "", "",
    }, "\n"), out)
    status, out, err = h.luamig(dir, "branches")             -- the short form keeps no message
    assert.equal(0, status, err)
    assert.equal("aaa1 (branchpoint)\n     -> bbb2\n     -> ccc3 (feat) (effective head)\n", out)
  end)
end)

h.each_db(function(db)
  local url

  before_each(function() url = db.url() end)

  local function run(dir, args, env)
    return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args, env)
  end

  -- stdout and stderr through one pipe, in the order written
  local function run_merged(dir, args)
    return h.run(("(cd %s && %s --url %s %s 2>&1)"):format(h.shell_quote(dir), h.shell_quote(h.bin),
                                                         h.shell_quote(url), args))
  end

  local function insert_row(id)
    local conn = core.connect(url)
    conn:exec("INSERT INTO luamig_version (version_num) VALUES ($1)", {id})
    conn:close()
  end

  local function log_rows()
    return h.query(url, "SELECT revision, direction, checksum, duration_ms FROM luamig_log ORDER BY id")
  end

  local UNKNOWN = "FAILED: Can't locate revision identified by 'deadbeef0000' (a row of the version "
    .. "table that no script defines: is this code older than the database?): deploy the code that "
    .. "has it, or `luamig stamp --purge REV` to empty the version table and record REV\n"

  describe("current with a version row no script defines", function()
    it("prints the rows as before, then fails with the way out", function()
      local dir = project()
      assert.equal(0, (run(dir, "-q upgrade bbb2")))
      insert_row("deadbeef0000")
      local status, out, err = run(dir, "current")
      assert.equal(1, status)
      assert.equal("bbb2\ndeadbeef0000 (unknown revision)\n", out)
      assert.truthy(err:find(UNKNOWN, 1, true), err)
      status, out, err = run(dir, "current -v")
      assert.equal(1, status)
      assert.truthy(out:find("\nRev: bbb2\n", 1, true), out)
      assert.equal("\ndeadbeef0000 (unknown revision)\n", out:sub(-#"\ndeadbeef0000 (unknown revision)\n"))
      assert.truthy(err:find(UNKNOWN, 1, true), err)
      status, out, err = run(dir, "--json current")
      assert.equal(1, status)
      assert.truthy(out:find('{"depends_on":[],"id":"deadbeef0000","labels":[],"parents":[],"unknown":true}]\n',
                             1, true), out)
      assert.truthy(err:find(UNKNOWN, 1, true), err)
      -- two of them: both named
      insert_row("feedface0000")
      status, _, err = run(dir, "current")
      assert.equal(1, status)
      assert.truthy(err:find("FAILED: Can't locate revisions identified by 'deadbeef0000', 'feedface0000' "
        .. "(rows of the version table that no script defines: is this code older than the database?): "
        .. "deploy the code that has them, or `luamig stamp --purge REV`", 1, true), err)
      -- the way out works
      assert.equal(0, (run(dir, "-q stamp --purge bbb2")))
      status, out = run(dir, "current")
      assert.equal(0, status)
      assert.equal("bbb2\n", out)
    end)
  end)

  describe("show current and edit current", function()
    it("name the database's version rows", function()
      local dir = project()
      local status, out, err = run(dir, "show current")     -- no version table: nothing, as Alembic
      assert.equal(0, status, err)
      assert.equal("", out)
      status, out, err = run(dir, "edit current", {EDITOR = "echo editing"})
      assert.equal(1, status)
      assert.equal("", out)
      assert.truthy(err:find("FAILED: No current revisions: the version table of ", 1, true)
        and err:find(" is empty, so there is no script to edit\n", 1, true), err)
      assert.equal(0, (run(dir, "-q upgrade heads")))
      status, out, err = run(dir, "show current")
      assert.equal(0, status, err)
      assert.equal(history_verbose(dir):match("^(.-\n\n.-\n\n)"), out)   -- the one row: ddd4
      status, out, err = run(dir, "edit current", {EDITOR = "echo editing"})
      assert.equal(0, status, err)
      assert.equal("editing migrations/versions/ddd4_dep.lua\n", out)
      status, out, err = run(dir, "edit heads", {EDITOR = "echo editing"})
      assert.equal(0, status, err)
      assert.equal("editing migrations/versions/ddd4_dep.lua\n", out)
      assert.equal(0, (run(dir, "-q stamp --purge bbb2 ccc3")))
      status, out, err = run(dir, "edit current", {EDITOR = "echo editing"})
      assert.equal(0, status, err)
      assert.equal("editing migrations/versions/bbb2_second.lua\nediting migrations/versions/ccc3_branch.lua\n", out)
      insert_row("deadbeef0000")
      status, out, err = run(dir, "show current")
      assert.equal(1, status)
      assert.same({"Rev: bbb2", "Rev: ccc3 (head)"}, h.grep(out, "Rev: "))
      assert.equal("\ndeadbeef0000 (unknown revision)\n", out:sub(-#"\ndeadbeef0000 (unknown revision)\n"))
      assert.truthy(err:find(UNKNOWN, 1, true), err)
      status, out, err = run(dir, "edit current", {EDITOR = "echo editing"})
      assert.equal(1, status)
      assert.equal("", out)                                  -- nothing opened
      assert.truthy(err:find(UNKNOWN, 1, true), err)
    end)
  end)

  describe("verify", function()
    it("says how many applied revisions have no recorded checksum (--sql, stamp), and --accept all records them", function()
      local dir = project()
      local status, out, err = run(dir, "verify")
      assert.equal(0, status, err)
      assert.equal("OK: no revision is applied, so there is nothing to compare\n", out)
      local sql
      status, sql, err = run(dir, "upgrade bbb2 --sql")
      assert.equal(0, status, err)
      status, _, err = h.sql_shell(db, url, dir, sql)
      assert.equal(0, status, err)
      status, out, err = run(dir, "verify")
      assert.equal(0, status, err)
      assert.equal("unchecked: 2 applied revision(s) have no recorded checksum (applied with --sql, "
        .. "stamped, or before the log), so their scripts were not compared: aaa1, bbb2; `luamig verify "
        .. "--accept all` records them as they are now\n", out)
      assert.falsy(out:find("OK", 1, true))
      assert.equal(0, (run(dir, "-q stamp ccc3 bbb2")))      -- stamped: no checksum either
      status, out = run(dir, "--json verify")
      assert.equal(0, status)
      assert.equal('{"changed":[],"compared":0,"ok":true,"unchecked":["aaa1","bbb2","ccc3"],"unknown":[]}\n', out)
      assert.equal(0, (run(dir, "-q upgrade heads")))        -- ddd4 runs and is checksummed
      status, out = run(dir, "verify")
      assert.equal(0, status)
      assert.equal("unchecked: 3 applied revision(s) have no recorded checksum (applied with --sql, "
        .. "stamped, or before the log), so their scripts were not compared: aaa1, bbb2, ccc3; `luamig "
        .. "verify --accept all` records them as they are now\n"
        .. "OK: the 1 applied script(s) with a recorded checksum match their files\n", out)
      local before = #log_rows()
      status, out, err = run(dir, "verify --accept all")
      assert.equal(0, status, err)
      local lines = h.lines(out)
      assert.equal(4, #lines, out)
      assert.truthy(lines[1]:match("^accepted: migrations/versions/aaa1_first%.lua %(revision aaa1%): "
        .. "sha256 %x+ recorded %(none was recorded%)$"), out)
      assert.truthy(lines[3]:match("^accepted: migrations/versions/ccc3_branch%.lua %(revision ccc3%)"), out)
      assert.equal("OK: every applied script matches its file", lines[4])
      local rows = log_rows()
      assert.equal(before + 3, #rows)                         -- a row of its own for each
      for i = before + 1, before + 3 do
        assert.equal("accept", rows[i].direction)
        assert.equal(64, #rows[i].checksum)
        assert.is_nil(rows[i].duration_ms)
      end
      assert.same({"aaa1", "bbb2", "ccc3"}, {rows[before + 1].revision, rows[before + 2].revision,
                                             rows[before + 3].revision})
      status, out = run(dir, "verify --accept all")            -- nothing left: nothing written
      assert.equal(0, status)
      assert.equal("nothing to accept: every applied script has a recorded checksum that matches its file\n"
        .. "OK: every applied script matches its file\n", out)
      assert.equal(before + 3, #log_rows())
    end)

    it("an edit after the upgrade: changed until --accept REV records it, and the upgrade warning ends", function()
      local dir = project()
      assert.equal(0, (run(dir, "-q upgrade bbb2")))
      local path = dir .. "/migrations/versions/aaa1_first.lua"
      h.write_file(path, h.read_file(path) .. "-- reviewed edit\n")
      local status, out = run(dir, "verify")
      assert.equal(1, status)
      local lines = h.lines(out)
      assert.truthy(lines[1]:match("^changed: migrations/versions/aaa1_first%.lua %(revision aaa1%) "
        .. "differs from what was applied %(sha256 %x+, now %x+%)$"), out)
      assert.equal("once an edit is reviewed, `luamig verify --accept REV` (or `--accept all`) records "
        .. "the script as it is now", lines[2])
      assert.equal(2, #lines)
      local _, _, err = run(dir, "upgrade ccc3")
      assert.equal(1, #h.grep(err, "WARN  [luamig] migrations/versions/aaa1_first.lua (revision aaa1) "
        .. "changed since it was applied"), err)
      -- not applied: refused, nothing written
      local before = #log_rows()
      status, out, err = run(dir, "verify --accept ddd4")
      assert.equal(1, status)
      assert.equal("", out)
      assert.truthy(err:find("FAILED: verify --accept: revision ddd4 is not applied to this database "
        .. "(it is at bbb2, ccc3); only an applied script's checksum is recorded\n", 1, true), err)
      status, _, err = run(dir, "verify --accept zzzz")
      assert.equal(1, status)
      assert.truthy(err:find("FAILED: Can't locate revision identified by 'zzzz'", 1, true), err)
      assert.equal(before, #log_rows())
      status, out, err = run(dir, "verify --accept aaa1")
      assert.equal(0, status, err)
      assert.truthy(out:match("^accepted: migrations/versions/aaa1_first%.lua %(revision aaa1%): sha256 (%x+) "
        .. "recorded %(was %x+%)\nOK: every applied script matches its file\n$"), out)
      local rows = log_rows()
      assert.equal(before + 1, #rows)
      assert.equal("aaa1", rows[#rows].revision)
      assert.equal("accept", rows[#rows].direction)
      assert.equal(out:match("sha256 (%x+) recorded"), rows[#rows].checksum:sub(1, 12))
      _, _, err = run(dir, "upgrade heads")
      assert.same({}, h.grep(err, "WARN"))
      status, out = run(dir, "verify --accept aaa1")
      assert.equal(0, status)
      assert.equal("nothing to accept: the recorded checksum of aaa1 matches its file\n"
        .. "OK: every applied script matches its file\n", out)
      status, out = run(dir, "--json verify --accept all")
      assert.equal(0, status)
      assert.equal('{"accepted":[],"changed":[],"compared":4,"ok":true,"unchecked":[],"unknown":[]}\n', out)
    end)
  end)

  describe("verify after a downgrade or a stamp (the checksum that counts is the latest that changed how a revision is applied)", function()
    local UNCHECKED4 = "unchecked: 4 applied revision(s) have no recorded checksum (applied with --sql, "
      .. "stamped, or before the log), so their scripts were not compared: aaa1, bbb2, ccc3, ddd4; "
      .. "`luamig verify --accept all` records them as they are now\n"

    local function edit(dir, file)
      local path = dir .. "/migrations/versions/" .. file
      h.write_file(path, h.read_file(path) .. "-- edited\n")
    end

    it("upgrade, downgrade base, edit, stamp: unchecked, not changed; an upgrade or accept checks again", function()
      local dir = project()
      assert.equal(0, (run(dir, "-q upgrade heads")))
      assert.equal(0, (run(dir, "-q downgrade base")))
      edit(dir, "bbb2_second.lua")
      assert.equal(0, (run(dir, "-q stamp heads")))
      local status, out, err = run(dir, "verify")
      assert.equal(0, status, err)
      assert.equal(UNCHECKED4, out)                           -- was "changed: ... bbb2 ...", exit 1
      local log = log_rows()
      local stamped = {}
      for i = #log - 3, #log do
        assert.equal("stamp", log[i].direction)
        assert.is_nil(log[i].checksum)
        stamped[#stamped + 1] = log[i].revision
      end
      table.sort(stamped)
      assert.same({"aaa1", "bbb2", "ccc3", "ddd4"}, stamped)  -- a row for each revision it marks applied
      assert.same({"ddd4"}, h.version_rows(url))
      status, out, err = run(dir, "verify --accept bb")
      assert.equal(0, status, err)
      assert.truthy(out:find("^accepted: migrations/versions/bbb2_second%.lua %(revision bbb2%): sha256 %x+ "
        .. "recorded %(none was recorded%)\n"), out)
      -- stamp base (t1 was never created again) and upgrade: the new upgrade's checksums count
      assert.equal(0, (run(dir, "-q stamp base")))
      status, _, err = run(dir, "-q upgrade heads")
      assert.equal(0, status, err)
      status, out = run(dir, "verify")
      assert.equal(0, status)
      assert.equal("OK: every applied script matches its file\n", out)
    end)

    it("a stamp after an upgrade: no OK from the checksum of before, the reverse case", function()
      local dir = project()
      assert.equal(0, (run(dir, "-q upgrade heads")))
      assert.equal(0, (run(dir, "-q stamp base")))
      assert.same({}, h.version_rows(url))
      assert.equal(0, (run(dir, "-q stamp heads")))
      local status, out, err = run(dir, "verify")
      assert.equal(0, status, err)
      assert.equal(UNCHECKED4, out)                           -- was "OK: every applied script matches its file"
      edit(dir, "aaa1_first.lua")
      status, out = run(dir, "verify")
      assert.equal(0, status)
      assert.equal(UNCHECKED4, out)                           -- was "changed: ... aaa1 ...", exit 1
    end)

    it("downgrade part, stamp it back: only the revisions the stamp applied are unchecked", function()
      local dir = project()
      assert.equal(0, (run(dir, "-q upgrade heads")))
      assert.equal(0, (run(dir, "-q downgrade aaa1")))
      assert.same({"aaa1"}, h.version_rows(url))
      assert.equal(0, (run(dir, "-q stamp heads")))
      edit(dir, "aaa1_first.lua")
      edit(dir, "ddd4_dep.lua")
      local status, out = run(dir, "verify")
      assert.equal(1, status)
      local lines = h.lines(out)
      assert.truthy(lines[1]:match("^changed: migrations/versions/aaa1_first%.lua %(revision aaa1%) differs "
        .. "from what was applied %(sha256 %x+, now %x+%)$"), out)
      assert.equal("unchecked: 3 applied revision(s) have no recorded checksum (applied with --sql, "
        .. "stamped, or before the log), so their scripts were not compared: bbb2, ccc3, ddd4; `luamig "
        .. "verify --accept all` records them as they are now", lines[3])
      assert.equal(3, #lines, out)
    end)

    it("--accept PREFIX: the message names the revision id, not the prefix typed", function()
      local dir = project()
      assert.equal(0, (run(dir, "-q upgrade bbb2")))
      local status, out, err = run(dir, "verify --accept bb")
      assert.equal(0, status, err)
      assert.equal("nothing to accept: the recorded checksum of bbb2 matches its file\n"
        .. "OK: every applied script matches its file\n", out)
      status, out, err = run(dir, "verify --accept feat@head")
      assert.equal(1, status)
      assert.truthy(err:find("FAILED: verify --accept: revision ccc3 is not applied to this database "
        .. "(it is at bbb2); only an applied script's checksum is recorded", 1, true), err)
    end)
  end)

  describe("history -i with a version row no script defines", function()
    it("lists and marks what it can, warns on stderr with the way out, exits 0", function()
      local dir = project()
      assert.equal(0, (run(dir, "-q upgrade bbb2")))
      insert_row("deadbeef0000")
      local WARN = "WARN  [luamig] history -i: the version table holds 'deadbeef0000', which no script "
        .. "defines, so the listing cannot mark it current (is this code older than the database?): "
        .. "deploy the code that has it, or `luamig stamp --purge REV` to empty the version table and "
        .. "record REV\n"
      for _, args in ipairs{"history -i", "history -i -v", "--json history -i", "history -i --graph"} do
        local status, out, err = run(dir, args)
        assert.equal(0, status, args .. ": " .. err)
        assert.truthy(err:find(WARN, 1, true), args .. ": " .. err)
        if args == "history -i" then
          assert.equal("bbb2 (ccc3) -> ddd4 (head), dep\naaa1 -> bbb2 (current), second\n"
            .. "aaa1 -> ccc3 (feat) (effective head), branch\n<base> -> aaa1 (branchpoint), first thing\n", out)
        end
      end
      local _, _, err = run(dir, "history")                  -- without -i: no rows read, no warning
      assert.falsy(err:find("deadbeef0000", 1, true), err)
      assert.same({"bbb2", "deadbeef0000"}, h.version_rows(url))
      local conn = core.connect(url)                          -- two unknown rows: both named
      conn:exec("DELETE FROM luamig_version WHERE version_num = 'bbb2'")
      conn:exec("INSERT INTO luamig_version (version_num) VALUES ('cafe00000000')")
      conn:close()
      local status
      status, _, err = run(dir, "history -i")
      assert.equal(0, status)
      assert.truthy(err:find("WARN  [luamig] history -i: the version table holds 'cafe00000000', "
        .. "'deadbeef0000', which no script defines, so the listing cannot mark them current", 1, true)
        or err:find("'deadbeef0000', 'cafe00000000', which no script defines, so the listing cannot "
        .. "mark them current", 1, true), err)
      assert.truthy(err:find("deploy the code that has them, or", 1, true), err)
    end)
  end)

  describe("output order through one pipe", function()
    it("check: the operations before the FAILED line", function()
      local dir = h.project({})
      h.write_file(dir .. "/schema.lua", 'function schema(op)\n  op.create_table("pets", {{"id", "integer", '
        .. 'primary_key = true}})\nend\n')
      local status, out = run_merged(dir, "-q check")
      assert.equal(1, status)
      local lines = h.lines(out)
      assert.truthy(lines[1]:find('op.create_table("pets"', 1, true), out)
      assert.equal("FAILED: New upgrade operations detected: 1 (listed above)", lines[#lines])
    end)

    it("current: the rows before the FAILED line", function()
      local dir = project()
      assert.equal(0, (run(dir, "-q upgrade aaa1")))
      insert_row("deadbeef0000")
      local status, out = run_merged(dir, "-q current")
      assert.equal(1, status)
      assert.equal("aaa1 (branchpoint)\ndeadbeef0000 (unknown revision)\n" .. UNKNOWN, out)
    end)
  end)
end)
