-- Trust in what a migration script can do to luamig (issue 13, items 16,
-- 20 and 21): os.exit inside a script is an error at its line and the step
-- rolls back; a script whose top level never ends cannot hang a listing;
-- every error a script raises, whatever its value, names the script, the
-- line and the revision; a cycle error lists exactly the cycle.
local h = require "spec.helpers"
local core = require "luamig.core"

local REFUSED = "os.exit is refused in a migration script: ending the process there could leave "
  .. "a step half done. Raise an error instead (error(\"why\")): luamig rolls the step back and stops"
local BUDGET = "loading the script took more than 2 seconds of CPU time: its top-level code runs "
  .. "whenever luamig reads the scripts (history, heads, current, upgrade ...), so it must end "
  .. "quickly. Does a loop never end? Put the work in upgrade(op) or downgrade(op), which have no "
  .. "time limit"
-- The last line of an embedding run that failed in b2, from a1 (issue 14 item 13).
local WHERE_A1 = "\nNothing of this run is committed: the database is at a1, as before the run."

local YIELD_HINT = " (coroutine.yield works only inside a coroutine the script makes with "
  .. "coroutine.wrap or coroutine.create: upgrade, downgrade and the script's top level are "
  .. "plain calls)"

-- a1 creates t and puts one row in it; b2's upgrade inserts a row, then
-- runs body (its line 7 is body's first line).
local A1 = {id = "a1", message = "first", code = true,
            up = "  op.execute('CREATE TABLE t (x integer)')\n  op.execute('INSERT INTO t VALUES (1)')",
            down_sql = "  op.execute('DROP TABLE t')"}

local function b2(body, extra)
  return table.concat({
    'revision = "b2"',
    'down_revision = "a1"',
    'message = "second"',
    extra or "",
    "function upgrade(op)",
    "  op.execute('INSERT INTO t VALUES (2)')",
    body,
    "end",
    "function downgrade(op) end",
    "",
  }, "\n")
end

-- The database's state a failed step must leave: version rows, t's rows,
-- the log's rows.
local function state(url)
  local conn = core.connect(url)
  local s = {rows = {}, t = {}, log = {}}
  for i, r in ipairs(conn:query("SELECT version_num FROM luamig_version ORDER BY 1")) do
    s.rows[i] = r.version_num
  end
  for i, r in ipairs(conn:query("SELECT x FROM t ORDER BY x")) do s.t[i] = tonumber(r.x) end
  for i, r in ipairs(conn:query("SELECT revision, direction FROM luamig_log ORDER BY id")) do
    s.log[i] = r.revision .. " " .. r.direction
  end
  conn:close()
  return s
end

local AT_A1 = {rows = {"a1"}, t = {1}, log = {"a1 upgrade"}}

-- Asserts that stderr's first line is "FAILED: " .. want (what follows, if
-- anything, is the runner's account of the failed step).
local function fails_with(want, status, err)
  assert.equal(1, status)
  local line = "FAILED: " .. want
  local at = err:find("FAILED: ", 1, true)
  assert(at, "no FAILED line in: " .. err)
  assert.equal(line, err:sub(at, at + #line - 1))
end

h.each_db(function(db)
  local pg = db.name == "postgresql"
  local url, dir, file

  -- A project with a1 applied and b2 (text) not.
  local function setup(text)
    url = db.url()
    file = not pg and url:match("^sqlite:(.*)$") or nil
    dir = h.project({A1})
    local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")
    assert.equal(0, status, err)
    h.write_file(dir .. "/migrations/versions/b2.lua", text)
  end

  local function run(args)
    return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args)
  end

  local function unchanged()
    assert.same(AT_A1, state(url))
    if file then
      assert.is_false(h.file_exists(file .. "-journal"), "a hot journal is left")
      assert.is_false(h.file_exists(file .. "-wal") and #h.read_file(file .. "-wal") > 0,
                      "a WAL with frames is left")
    end
  end

  describe("item 16: os.exit inside a migration", function()
    for _, case in ipairs{
      {"os.exit()", "  os.exit()"},
      {"os.exit(0)", "  os.exit(0)"},
      {"os.exit(true, true), which would close the state", "  os.exit(true, true)"},
      {"require('os').exit", "  require('os').exit(3)"},
      {"_G.os.exit", "  _G.os.exit(0)"},
      {"a tail call", "  return os.exit(0)"},
      {"an exit captured at the top level", "  exit(0)", "local exit = os.exit"},
    } do
      it(case[1] .. " is an error at its line; the step rolls back", function()
        setup(b2(case[2], case[3]))
        local status, out, err = run("upgrade head")
        fails_with("upgrade b2 (second): migrations/versions/b2.lua:7: " .. REFUSED, status, err)
        assert.equal("", out)
        unchanged()
      end)
    end

    it("in downgrade too, and the revision stays applied", function()
      setup(b2("", nil):gsub("function downgrade%(op%) end",
        "function downgrade(op)\n  op.execute('DELETE FROM t')\n  os.exit(0)\nend"))
      local status, _, err = run("upgrade head")
      assert.equal(0, status, err)
      status, _, err = run("downgrade a1")
      fails_with("downgrade b2 (second): migrations/versions/b2.lua:11: " .. REFUSED, status, err)
      local s = state(url)
      assert.same({"b2"}, s.rows)
      assert.same({1, 2}, s.t)
    end)

    it("at a script's top level it fails the load, naming the line", function()
      setup(b2("", "os.exit(0)"))
      for _, cmd in ipairs{"history", "heads", "current", "upgrade head"} do
        local status, _, err = run(cmd)
        fails_with("migrations/versions/b2.lua:4: " .. REFUSED .. "\n", status, err)
      end
      unchanged()
    end)

    it("the embedding API: the host's os.exit is its own again after a failed and a good step",
       function()
      setup(b2("  os.exit(0)"))
      local real_exit, real_loaded = os.exit, package.loaded.os.exit
      local luamig = require "luamig"
      local m <close> = luamig.open{url = url, script_location = dir .. "/migrations"}
      local err = h.error_of(m.upgrade, m, "head")
      assert.equal("upgrade b2 (second): " .. dir .. "/migrations/versions/b2.lua:7: " .. REFUSED
                   .. WHERE_A1, err.message)
      assert.equal("b2", err.revision)
      assert.equal(real_exit, os.exit)
      assert.equal(real_loaded, package.loaded.os.exit)
      h.write_file(dir .. "/migrations/versions/b2.lua", b2(""))
      local m2 <close> = luamig.open{url = url, script_location = dir .. "/migrations"}
      m2:upgrade("head")
      assert.equal(real_exit, os.exit)
      assert.same({"b2"}, m2:current_rows())
    end)
  end)

  describe("item 21: every error value of a step names the script, its line and the revision", function()
    for _, case in ipairs{
      {"coroutine.yield()", "attempt to yield from outside a coroutine" .. YIELD_HINT},
      {"error({})", "error object is a table value"},
      {"error(nil)", "error object is a nil value"},
      {"error()", "error object is a nil value"},
      {"error(42)", "error object is a number value (42)"},
      {"error(false)", "error object is a boolean value (false)"},
      {"error('no position', 0)", "no position"},
      {"error(setmetatable({}, {__tostring = function() return 'told by __tostring' end}))",
       "told by __tostring"},
      {"error(setmetatable({}, {__tostring = function() error('broken') end}))",
       "error object is a table value"},
      {"error({message = {}})", "error object is a table value"},
      {"error(setmetatable({message = 42}, {__tostring = function() return 'forty-two' end}))",
       "forty-two"},
      {"string.rep()", "bad argument #1 to 'rep' (string expected, got no value)"},
    } do
      it(case[1], function()
        setup(b2("  " .. case[1]))
        local status, _, err = run("upgrade head")
        fails_with("upgrade b2 (second): migrations/versions/b2.lua:7: " .. case[2], status, err)
        unchanged()
      end)
    end

    it("a yield to a host's coroutine across luamig's C calls says where and what to do", function()
      setup(b2("  coroutine.yield()"))
      local luamig = require "luamig"
      local m <close> = luamig.open{url = url, script_location = dir .. "/migrations"}
      local err = coroutine.wrap(function() return h.error_of(m.upgrade, m, "head") end)()
      assert.equal("upgrade b2 (second): " .. dir .. "/migrations/versions/b2.lua:7: attempt to yield "
                   .. "across a C-call boundary" .. YIELD_HINT .. WHERE_A1, err.message)
      unchanged()
    end)

    it("an error object from the embedding API carries the revision and the place", function()
      setup(b2("  error(setmetatable({}, {__tostring = function() return 'custom' end}))"))
      local luamig = require "luamig"
      local m <close> = luamig.open{url = url, script_location = dir .. "/migrations"}
      local err = h.error_of(m.upgrade, m, "head")
      assert.equal("upgrade b2 (second): " .. dir .. "/migrations/versions/b2.lua:7: custom" .. WHERE_A1,
                   err.message)
      assert.equal("b2", err.revision)
      unchanged()
    end)
  end)

  describe("item 20: a script whose top level never ends", function()
    it("fails current and upgrade with the file, the line and the budget; nothing runs", function()
      setup(b2("", "while true do end"))
      for _, cmd in ipairs{"current", "upgrade head"} do
        local status, out, err = h.run(("cd %s && timeout 60 %s --url %s %s"):format(
          h.shell_quote(dir), h.shell_quote(h.bin), h.shell_quote(url), cmd))
        fails_with("migrations/versions/b2.lua:4: " .. BUDGET .. "\n", status, err)
        assert.equal("", out)
      end
      unchanged()
    end)
  end)
end)

describe("item 20: loading a script is bounded", function()
  local function project(top)
    local dir = h.project({A1})
    h.write_file(dir .. "/migrations/versions/b2.lua", b2("", top))
    return dir
  end

  local function bounded(dir, cmd)
    return h.run(("cd %s && timeout 60 %s %s"):format(h.shell_quote(dir), h.shell_quote(h.bin), cmd))
  end

  it("history and heads fail with the file, the line and the budget", function()
    local dir = project("while true do end")
    for _, cmd in ipairs{"history", "heads"} do
      local status, out, err = bounded(dir, cmd)
      fails_with("migrations/versions/b2.lua:4: " .. BUDGET .. "\n", status, err)
      assert.equal("", out)
    end
  end)

  it("a script cannot outlast the budget by catching its error", function()
    local dir = project("while true do pcall(function() while true do end end) end")
    local status, _, err = bounded(dir, "history")
    fails_with("migrations/versions/b2.lua:4: " .. BUDGET .. "\n", status, err)
    dir = project("pcall(function() while true do end end)")
    status, _, err = bounded(dir, "history")
    fails_with("migrations/versions/b2.lua:4: " .. BUDGET .. "\n", status, err)
  end)

  it("nor in a coroutine it makes", function()
    local dir = project("local co = coroutine.create(function() while true do end end)\n"
                        .. "coroutine.resume(co)")
    local status, _, err = bounded(dir, "heads")
    fails_with("migrations/versions/b2.lua:4: " .. BUDGET .. "\n", status, err)
  end)

  -- found by an outside attack: debug.sethook() switched the budget off
  it("nor by removing the budget's hook", function()
    for _, code in ipairs{"debug.sethook()\nwhile true do end",
                          "pcall(require('debug').sethook)\nwhile true do end"} do
      local dir = project(code)
      local status, out, err = bounded(dir, "history")
      assert.equal("", out)
      if code:find("pcall", 1, true) then
        fails_with("migrations/versions/b2.lua:5: " .. BUDGET .. "\n", status, err)
      else
        fails_with("migrations/versions/b2.lua:4: debug.sethook is refused while a migration script loads: "
          .. "its top-level code has a time budget. Set hooks inside upgrade(op) or downgrade(op)\n", status, err)
      end
    end
  end)

  it("a top level that works a while but ends loads", function()
    local dir = project("local t = {}\nfor i = 1, 1000000 do t[i] = i * 2 end\nmessage = 'busy ' .. #t")
    local status, out, err = bounded(dir, "history")
    assert.equal(0, status, err)
    assert.equal("a1 -> b2 (head), busy 1000000\n<base> -> a1, first\n", out)
  end)

  it("the host's debug hook is its own again after loading", function()
    local dir = project("local t = {}\nfor i = 1, 100000 do t[i] = i end")
    local calls = 0
    local function hook() calls = calls + 1 end
    debug.sethook(hook, "", 1000000)
    local records = core.load_scripts(dir .. "/migrations/versions")
    local got, mask, count = debug.gethook()
    debug.sethook()
    assert.equal(2, #records)
    assert.equal(hook, got)
    assert.equal("", mask)
    assert.equal(1000000, count)
  end)
end)

describe("a path longer than Lua's chunk names (59 characters) comes back whole", function()
  local sub = "a_very_long_directory_name_that_makes_lua_shorten_chunk_names"
  local name = "migrations/versions/" .. sub .. "/x1_a_long_slug_for_the_script.lua"
  local function project(text)
    local dir = h.project()
    os.execute("mkdir -p " .. h.shell_quote(dir .. "/migrations/versions/" .. sub))
    h.write_file(dir .. "/" .. name, text)
    return dir
  end

  it("in the load budget's message", function()
    local dir = project('revision = "x1"\nwhile true do end\nfunction upgrade(op) end\n')
    local status, _, err = h.run(("cd %s && timeout 60 %s history"):format(h.shell_quote(dir),
                                                                           h.shell_quote(h.bin)))
    fails_with(name .. ":2: " .. BUDGET .. "\n", status, err)
  end)

  it("in a step's yield error", function()
    local dir = project('revision = "x1"\nfunction upgrade(op)\n  coroutine.yield()\nend\n')
    local status, _, err = h.luamig(dir, "--url sqlite:x.db upgrade head")
    fails_with("upgrade x1: " .. name .. ":3: attempt to yield from outside a coroutine"
               .. YIELD_HINT .. "\n", status, err)
    assert.same({}, h.version_rows("sqlite:" .. dir .. "/x.db"))
  end)
end)

describe("item 21: load errors name the script and the line", function()
  for _, case in ipairs{
    {"coroutine.yield()", "attempt to yield from outside a coroutine" .. YIELD_HINT},
    {"error({})", "error object is a table value"},
    {"error(7)", "error object is a number value (7)"},
    {"error('zero', 0)", "zero"},
    {"error(setmetatable({}, {__tostring = function() return 'custom' end}))", "custom"},
  } do
    it(case[1] .. " at the top level", function()
      local dir = h.project({A1})
      h.write_file(dir .. "/migrations/versions/b2.lua", b2("", case[1]))
      local status, out, err = h.luamig(dir, "history")
      fails_with("migrations/versions/b2.lua:4: " .. case[2] .. "\n", status, err)
      assert.equal("", out)
    end)
  end
end)

describe("item 21: a cycle error lists exactly the cycle", function()
  local function graph(defs)
    local records = {}
    for i, d in ipairs(defs) do
      records[i] = {revision = d[1], down_revision = d[2], depends_on = d.deps,
                    path = "v/" .. d[1] .. ".lua"}
    end
    return core.graph(records)
  end
  local function message(defs)
    local err = h.error_of(graph, defs)
    return type(err) == "table" and err.message or err
  end
  local CYCLE = "Cycle is detected in revisions (%s); files: %s. Each is the down_revision of the "
    .. "next, and %s is the down_revision of %s: set one of these down_revisions to a revision "
    .. "outside the cycle (or nil) to break it"
  local DEP_CYCLE = "Dependency cycle is detected in revisions (%s); files: %s. Each is in the "
    .. "down_revision or depends_on of the next, and %s is in %s's: remove one of these links to "
    .. "break the cycle"

  it("not the revisions that hang from it", function()
    assert.equal(CYCLE:format("b, c", "v/b.lua, v/c.lua", "c", "b"),
                 message{{"b", "c"}, {"c", "b"}, {"d", "c"}, {"e", "d"}, {"a"}})
  end)

  it("not the ancestors a merge brings into it", function()
    -- Alembic's test_revision_map_upper_simple_cycle lists a, b, c, d, e
    assert.equal(CYCLE:format("c, d, e", "v/c.lua, v/d.lua, v/e.lua", "e", "c"),
                 message{{"a"}, {"b", "a"}, {"c", {"b", "e"}}, {"d", "c"}, {"e", "d"}})
  end)

  it("in run order, from the smallest id", function()
    assert.equal(CYCLE:format("k, m, z", "v/k.lua, v/m.lua, v/z.lua", "z", "k"),
                 message{{"z", "m"}, {"k", "z"}, {"m", "k"}})
  end)

  it("a cycle entered from a base and left to a head is found (Alembic's check misses it)", function()
    assert.equal(CYCLE:format("a, b, c", "v/a.lua, v/b.lua, v/c.lua", "c", "a"),
                 message{{"e"}, {"a", {"c", "e"}}, {"b", "a"}, {"c", "b"}, {"d", "b"}})
  end)

  it("a dependency cycle under a base is found, and only its revisions listed", function()
    assert.equal(DEP_CYCLE:format("a, b, c", "v/a.lua, v/b.lua, v/c.lua", "c", "a"),
                 message{{"x"}, {"a", "x", deps = {"c"}}, {"b", "a"}, {"c", "b"}, {"d", "c"}, {"f", "d"}})
  end)

  it("the command names the files", function()
    local dir = h.project({A1, {id = "c5", down = "c6"}, {id = "c6", down = "c5"},
                           {id = "c7", down = "c6"}})
    local status, out, err = h.luamig(dir, "heads")
    fails_with(CYCLE:format("c5, c6", "migrations/versions/c5.lua, migrations/versions/c6.lua",
                            "c6", "c5") .. "\n", status, err)
    assert.equal("", out)
  end)
end)
