-- Migration scripts (DESIGN.md layer 3): finding them, running each in its
-- own environment, their metadata and SHA-256, and the errors that name
-- the file. Fixture trees are in spec/fixtures/graph/scripts/.
local core = require "luamig.core"

local root = (os.getenv("LUAMIG_ROOT") or ".") .. "/spec/fixtures/graph/scripts/"

local function error_of(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error")
  return type(err) == "table" and err.message or tostring(err)
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

describe("loading scripts", function()
  local dir = root .. "good/versions"
  local records = core.load_scripts(dir)

  it("finds every *.lua below the directory, sorted, skipping hidden files", function()
    local paths = {}
    for i, r in ipairs(records) do paths[i] = r.path end
    assert.same({
      dir .. "/1a2b3c4d5e6f_create_users.lua",
      dir .. "/2b3c4d5e6f7a_add_email.lua",
      dir .. "/4d5e6f7a8b9c_merge.lua",
      dir .. "/sub/3c4d5e6f7a8b_auth_branch.lua",
    }, paths)
  end)

  it("reads the metadata of each", function()
    local r = records[1]
    assert.equal("1a2b3c4d5e6f", r.revision)
    assert.is_nil(r.down_revision)
    assert.same({}, r.parents)
    assert.same({}, r.branch_labels)
    assert.same({}, r.depends_on)
    assert.equal("create users", r.message)
    assert.is_true(r.transactional)
    assert.equal("function", type(r.upgrade))
    assert.equal("function", type(r.downgrade))

    r = records[2]
    assert.equal("1a2b3c4d5e6f", r.down_revision)
    assert.same({"1a2b3c4d5e6f"}, r.parents)
    assert.equal("add email", r.message)
    assert.is_false(r.transactional)

    r = records[3]
    assert.same({"2b3c4d5e6f7a", "3c4d5e6f7a8b"}, r.down_revision)
    assert.same({"2b3c4d5e6f7a", "3c4d5e6f7a8b"}, r.parents)

    r = records[4]
    assert.equal("1a2b3c4d5e6f", r.down_revision)     -- a one-element list is that id
    assert.same({"auth"}, r.branch_labels)            -- a string label becomes a list
  end)

  it("records the SHA-256 of each file, as sha256sum computes it", function()
    for _, r in ipairs(records) do
      local p = io.popen("sha256sum '" .. r.path .. "'")
      local sum = p:read("l"):match("^(%x+)")
      p:close()
      assert.equal(sum, r.checksum)
      assert.equal(sum, core.sha256(read(r.path)))
    end
    assert.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", core.sha256(""))
  end)

  it("runs each script in its own environment", function()
    assert.equal("defined by 1a2b3c4d5e6f", records[1].env.helper)
    assert.is_nil(records[2].env.helper)    -- the second script checked this while loading
    assert.is_nil(rawget(_G, "helper"))
    assert.is_nil(rawget(_G, "revision"))
    assert.is_nil(rawget(_G, "upgrade"))
  end)

  it("does not run upgrade or downgrade while loading", function()
    assert.has_error(records[2].upgrade, nil)   -- it raises when called, not before
  end)

  it("loads several version locations into one graph", function()
    local all = core.load_scripts{dir, root .. "other/versions"}
    assert.equal(5, #all)
    assert.equal("9f9f9f9f9f9f", all[5].revision)
    local g = core.graph(all)
    assert.same({"4d5e6f7a8b9c", "9f9f9f9f9f9f"}, g:heads())
    local p = g:upgrade_path({}, "networking@head")
    local order = {}
    for i, s in ipairs(p.steps) do order[i] = s.revision end
    assert.same({"1a2b3c4d5e6f", "3c4d5e6f7a8b", "9f9f9f9f9f9f"}, order)
    assert.same({"9f9f9f9f9f9f"}, p.rows)
    assert.equal(root .. "other/versions/9f9f9f9f9f9f_network.lua: revision 9f9f9f9f9f9f has no "
      .. "downgrade function; cannot downgrade through it",
      error_of(g.downgrade_path, g, {"9f9f9f9f9f9f"}, "base"))
  end)

  it("an empty list of directories loads nothing", function()
    assert.same({}, core.load_scripts{})
  end)
end)

describe("script errors name the file", function()
  local function load_error(name)
    return error_of(core.load_scripts, root .. name .. "/versions")
  end
  local function graph_error(name)
    return error_of(function() return core.graph(core.load_scripts(root .. name .. "/versions")) end)
  end
  local function file(name, base) return root .. name .. "/versions/" .. base end

  it("a syntax error: path:line: message", function()
    assert.equal(file("syntax", "aaaa_syntax.lua") .. ":5: ')' expected (to close '(' at line 4) near 'end'",
                 load_error("syntax"))
  end)

  it("a runtime error: path:line: message", function()
    assert.equal(file("runtime", "bbbb_runtime.lua") .. ":3: attempt to index a nil value (local 't')",
                 load_error("runtime"))
    assert.equal(file("errobj", "bbbb_errobj.lua") .. ":2: error object is a table value",
                 load_error("errobj"))
  end)

  it("a message without a position gets the file, and the line where the script raised it", function()
    assert.equal(file("binary", "b1b1_binary.lua") .. ": attempt to load a binary chunk (mode is 't')",
                 load_error("binary"))
    assert.equal(file("nopos", "c1c1_nopos.lua") .. ":2: no position here", load_error("nopos"))
  end)

  it("no revision id, or no upgrade function", function()
    assert.equal(file("norev", "cccc_norev.lua") .. ": no revision id (set the global 'revision')",
                 load_error("norev"))
    assert.equal(file("noupgrade", "dddd_noupgrade.lua") .. ": revision dddd has no upgrade function",
                 load_error("noupgrade"))
  end)

  it("a malformed down_revision", function()
    assert.equal(file("bad_down", "f1f1_bad.lua")
      .. ": down_revision must be nil, a revision id or a list of revision ids", load_error("bad_down"))
  end)

  it("an id with grammar characters", function()
    assert.equal(file("badid", "eeee_badid.lua")
      .. ": Character(s) '-' not allowed in revision identifier 'ee-ee'", graph_error("badid"))
  end)

  it("a duplicate id names both files", function()
    assert.equal("Revision ffff is present more than once: " .. file("dup", "ffff_one.lua") .. " and "
      .. file("dup", "ffff_two.lua"), graph_error("dup"))
  end)

  it("a missing parent or dependency: the file and the missing id", function()
    assert.equal(file("missing_parent", "a1a1_orphan.lua")
      .. ": revision a1a1: down_revision 'nowhere' is not present", graph_error("missing_parent"))
    assert.equal(file("missing_dep", "b2b2_dep.lua")
      .. ": revision b2b2: depends_on 'nolabel' is not present", graph_error("missing_dep"))
  end)

  it("a cycle: its revisions and files", function()
    assert.equal("Cycle is detected in revisions (c1c1, c2c2); files: " .. file("cycle", "c1c1_a.lua")
      .. ", " .. file("cycle", "c2c2_b.lua")
      .. ". Each is the down_revision of the next, and c2c2 is the down_revision of c1c1"
      .. ": set one of these down_revisions to a revision outside the cycle (or nil) to break it", graph_error("cycle"))
  end)

  it("a duplicate branch label", function()
    assert.equal(file("dup_label", "d2d2_b.lua") .. ": Branch name 'x' in revision d2d2 already used "
      .. "by revision d1d1 (" .. file("dup_label", "d1d1_a.lua") .. ")", graph_error("dup_label"))
  end)

  it("downgrading through a script without downgrade fails before anything runs", function()
    local g = core.graph(core.load_scripts(root .. "no_downgrade/versions"))
    assert.equal(file("no_downgrade", "e2e2_b.lua")
      .. ": revision e2e2 has no downgrade function; cannot downgrade through it",
      error_of(g.downgrade_path, g, {"e3e3"}, "base"))
    local p = g:downgrade_path({"e3e3"}, "e2e2")     -- stopping above it is fine
    assert.equal(1, #p.steps)
    assert.same({"e2e2"}, p.rows)
  end)

  it("a long path comes back whole, also for errors raised later in upgrade", function()
    local long = "migrations/versions/3f2a9c1d8e7b_create_the_users_table_with_a_long_slug.lua"
    local short = "..." .. long:sub(-56)          -- how Lua names that chunk in messages
    assert.equal(long .. ":12: boom\nstack traceback:\n\t" .. long .. ":12: in function 'upgrade'",
                 core.script_message(short .. ":12: boom\nstack traceback:\n\t" .. short
                   .. ":12: in function 'upgrade'", long))
    assert.equal("x.lua:1: fine", core.script_message("x.lua:1: fine", "x.lua"))
    -- a real one: the function runs after loading, its error names the file
    local records = core.load_scripts(root .. "good/versions")
    local ok, err = pcall(records[2].upgrade, {})
    assert.is_false(ok)
    assert.equal(records[2].path .. ":9: never called while loading",
                 core.script_message(err, records[2].path))
  end)

  it("a missing directory", function()
    assert.equal("Path doesn't exist: '" .. root .. "nowhere/versions'. Please use the 'init' "
      .. "command to create a new scripts folder.", load_error("nowhere"))
  end)
end)

describe("what scaffold reads without loading", function()
  it("core.find_scripts: the files load_scripts loads, in its order", function()
    local dir = root .. "good/versions"
    local paths = {}
    for i, r in ipairs(core.load_scripts(dir)) do paths[i] = r.path end
    assert.same(paths, core.find_scripts(dir))
    assert.same(paths, core.find_scripts(dir .. "/"))
    -- the set `find -L` gives, hidden names pruned at every depth
    local p = io.popen("find -L '" .. dir .. "' -mindepth 1 -name '.*' -prune -o -type f "
                       .. "-name '*.lua' -print | sort")
    local found = {}
    for line in p:lines() do found[#found + 1] = line end
    p:close()
    assert.same(found, core.find_scripts(dir))
    assert.matches("^Path doesn't exist: ", error_of(core.find_scripts, root .. "nowhere"))
  end)

  it("core.scan_header: the plain form's metadata, and the first revision line", function()
    local header, first = core.scan_header(read(root .. "good/versions/2b3c4d5e6f7a_add_email.lua"))
    local loaded = core.load_scripts(root .. "good/versions")[2]
    if header then
      assert.equal(loaded.revision, header.revision)
      assert.equal(loaded.message, header.message)
      assert.equal(loaded.downgrade ~= nil, header.has_downgrade)
    end
    assert.equal(loaded.revision, first)
    header, first = core.scan_header('-- a plain script\nrevision = "abc"\ndown_revision = '
      .. '{"x", "y"}\nbranch_labels = nil\nmessage = "m"\n\nfunction upgrade(op)\n  '
      .. 'op.execute("[[")\nend\n')
    assert.same({revision = "abc", down_revision = {"x", "y"}, message = "m",
                 has_downgrade = false}, header)
    assert.equal("abc", first)
    -- not the plain form: no header, the first `revision = "..."` line still read
    assert.same({nil, "z z"}, {core.scan_header("local x = 1\n\t revision\t= 'z z' .. 'more'\n"
                                                .. 'revision = "later"\n')})
    assert.same({nil, nil}, {core.scan_header('revision = "a\\"b"\nrevisions = "c"\n')})
    assert.same({nil, "ok"}, {core.scan_header('revision == "no"\nrevision="ok"')})
  end)
end)
