-- Installation and embedding: make install into a prefix, a Lua program
-- using only the installed paths, the binary on its own, luarocks make,
-- the man page, the command reference, and the examples/ program.
local h = require "spec.helpers"

local function make(args)
  return h.run(("make -s -C %s BUILD=%s %s"):format(h.shell_quote(h.root), h.shell_quote(h.build), args))
end

-- lua5.4 with module paths limited to a prefix's installed directories
local function lua_in(prefix, script_path)
  return ("LUA_PATH_5_4='%s/share/lua/5.4/?.lua;%s/share/lua/5.4/?/init.lua' "
       .. "LUA_CPATH_5_4='%s/lib/lua/5.4/?.so' %s %s"):format(prefix, prefix, prefix, h.lua, script_path)
end

local prefix
setup(function()
  prefix = h.tmpdir() .. "/usr"
  local status, out, err = make("install PREFIX=" .. h.shell_quote(prefix))
  assert(status == 0, out .. err)
end)

describe("make install", function()
  it("puts the binary, the Lua module, the man page, completion and pkg-config file in place", function()
    for _, path in ipairs{"/bin/luamig", "/lib/lua/5.4/luamig/core.so", "/share/lua/5.4/luamig/init.lua",
                          "/share/lua/5.4/luamig/op/init.lua", "/share/lua/5.4/luamig/dialect/sqlite.lua",
                          "/share/man/man1/luamig.1", "/share/bash-completion/completions/luamig",
                          "/lib/pkgconfig/luamig.pc", "/lib/libluamig.a", "/include/luamig/db.h"} do
      assert.is_true(h.file_exists(prefix .. path), path)
    end
    local status, out = h.run(("PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config --cflags --libs luamig"):format(prefix))
    assert.equal(0, status)
    assert.truthy(out:find(("-I%s/include/luamig "):format(prefix), 1, true), out)
    assert.truthy(out:find(("-L%s/lib -lluamig"):format(prefix), 1, true), out)
  end)

  it("honours DESTDIR, and uninstall removes what install put there", function()
    local dest = h.tmpdir()
    local status, out, err = make("install DESTDIR=" .. h.shell_quote(dest) .. " PREFIX=/opt/lm")
    assert.equal(0, status, out .. err)
    assert.is_true(h.file_exists(dest .. "/opt/lm/bin/luamig"))
    assert.is_true(h.file_exists(dest .. "/opt/lm/share/lua/5.4/luamig/cli.lua"))
    status, out, err = make("uninstall DESTDIR=" .. h.shell_quote(dest) .. " PREFIX=/opt/lm")
    assert.equal(0, status, out .. err)
    local _, left = h.run(("find %s -type f"):format(h.shell_quote(dest)))
    assert.equal("", left)
  end)

  it("renders the man page", function()
    local status, out = h.run(("MANWIDTH=80 man -l %s/share/man/man1/luamig.1"):format(prefix))
    assert.equal(0, status)
    assert.truthy(out:find("luamig %- database migrations for SQLite and PostgreSQL"), out)
    assert.truthy(out:find("EXIT STATUS", 1, true))
  end)
end)

h.each_db(function(db)
  describe("the installed Lua module", function()
    it("migrates a database up and down and raises inspectable error values", function()
      local dir = h.project({
        {id = "e1", message = "one", up = "CREATE TABLE t1 (x INTEGER)", down_sql = "DROP TABLE t1"},
        {id = "e2", down = "e1", message = "two", code = true,
         up = "  op.create_table('t2', {{'x', 'integer'}})\n  op.execute('SELECT * FROM no_such_table')"},
      })
      local url = db.url()
      h.write_file(dir .. "/prog.lua", ([[
        local luamig = require "luamig"
        local m <close> = luamig.open{url = %q, script_location = %q}
        local steps = m:upgrade("e1")
        assert(#steps == 1 and steps[1].revision == "e1", "one step up")
        assert(m:current()[1].id == "e1")
        local ok, err = pcall(m.upgrade, m, "head")
        assert(not ok and type(err) == "table", "the failing step raises an error value")
        print(err.revision, tostring(err) == err.message, err.sql)
        print(err.message)
        assert(m:current()[1].id == "e1", "still at e1")
        m:downgrade("base")
        assert(#m:current() == 0)
        print("done")
      ]]):format(url, dir .. "/migrations"))
      local status, out, err = h.run(lua_in(prefix, h.shell_quote(dir .. "/prog.lua")))
      assert.equal(0, status, err)
      local lines = h.lines(out)
      assert.equal("e2\ttrue\tSELECT * FROM no_such_table", lines[1])
      assert.truthy(lines[2]:find("^upgrade e2 %(two%): .*e2%.lua:%d+: "), lines[2])
      assert.equal("done", lines[#lines])
      assert.same({}, h.version_rows(url))
    end)
  end)

  describe("the binary on its own", function()
    it("copied alone into an empty directory runs upgrade head", function()
      local dir = h.project({{id = "b1", message = "one", up = "CREATE TABLE t1 (x INTEGER)"}})
      os.execute(("cp %s %s/luamig"):format(h.shell_quote(h.bin), h.shell_quote(dir)))
      local url = db.url()
      local status, _, err = h.run(("cd %s && env -u LUAMIG_LUA_DIR LUA_PATH_5_4= LUA_CPATH_5_4= "
        .. "./luamig --url %s upgrade head"):format(h.shell_quote(dir), h.shell_quote(url)))
      assert.equal(0, status, err)
      assert.same({"b1"}, h.version_rows(url))
    end)
  end)
end)

describe("luarocks make", function()
  it("builds and installs the module, which then loads", function()
    local tree = h.tmpdir()
    -- a plain build whatever this run is (build/rock is shared between runs)
    local status, out, err = h.run(("cd %s && env -u SANITIZE luarocks --lua-version 5.4 make --tree %s luamig-0.1.0-1.rockspec")
      :format(h.shell_quote(h.root), h.shell_quote(tree)))
    assert.equal(0, status, out .. err)
    local script = h.tmpdir() .. "/load.lua"
    h.write_file(script, [[
      local luamig = require "luamig"
      local conn = luamig.core.connect("sqlite::memory:")
      print(luamig.version, conn:dialect())
    ]])
    status, out, err = h.run(lua_in(tree, h.shell_quote(script)))
    assert.equal(0, status, err)
    assert.equal("0.1.0\tsqlite\n", out)
    assert.is_true(h.file_exists(tree .. "/bin/luamig"))
  end)
end)

describe("the command reference", function()
  it("doc/commands.md holds exactly what --help prints, for luamig and every command", function()
    local f = assert(io.open(h.root .. "/doc/commands.md"))
    local doc = f:read("a")
    f:close()
    local sections = {}
    for name, text in doc:gmatch("\n## (%S+)\n\n```\n(.-)\n```") do sections[name] = text end
    local _, main = h.luamig(h.root, "--help")
    assert.equal(sections.luamig, (main:gsub("\n+$", "")))
    local count = 0
    for line in main:match("Commands:\n(.-)\n\n"):gmatch("[^\n]+") do
      local name = line:match("^  (%S+)")
      local _, text = h.luamig(h.root, name .. " --help")
      assert.equal(sections[name], (text:gsub("\n+$", "")), name .. ": run make docs")
      count = count + 1
    end
    assert.is_true(count >= 14, "commands found: " .. count)
  end)

  it("the man page names every command and every long option that --help lists", function()
    local man = h.read_file(h.root .. "/doc/luamig.1"):gsub("\\%-", "-")
    local _, main = h.luamig(h.root, "--help")
    local missing = {}
    local function need(word, where)
      if not man:find(word, 1, true) then missing[#missing + 1] = where .. ": " .. word end
    end
    for opt in main:match("Global options:\n(.-)\n\n"):gmatch("%-%-[%w-]+") do need(opt, "global") end
    for line in main:match("Commands:\n(.-)\n\n"):gmatch("[^\n]+") do
      local name = line:match("^  (%S+)")
      need(name, "command")
      local _, text = h.luamig(h.root, name .. " --help")
      for opt in text:gmatch("\n  [^\n]-(%-%-[%w-]+)") do
        if opt ~= "--help" then need(opt, name) end
      end
    end
    assert.same({}, missing)
  end)
end)

describe("examples/notes", function()
  it("migrates its own SQLite database at start-up and uses it", function()
    local db_file = h.tmpdir() .. "/notes.db"
    local cmd = ("LUA_PATH_5_4='%s/lua/?.lua;%s/lua/?/init.lua' LUA_CPATH_5_4='%s/lib/?.so' %s %s/examples/notes/app.lua %s")
      :format(h.root, h.root, h.build, h.lua, h.root, h.shell_quote(db_file))
    local status, out, err = h.run(cmd .. " 'buy milk' 'call Ada'")
    assert.equal(0, status, err)
    assert.equal("1\tcli\tbuy milk\n2\tcli\tcall Ada\n", out)
    status, out = h.run(cmd)                          -- again: already at head, data kept
    assert.equal(0, status)
    assert.equal("1\tcli\tbuy milk\n2\tcli\tcall Ada\n", out)
    assert.same({"b2c3d4e5f6a1"}, h.version_rows("sqlite:" .. db_file))
  end)
end)
