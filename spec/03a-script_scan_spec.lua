-- The header scan (src/script_scan.c): listings read a script's metadata
-- from its text; the script is compiled and run on the first read of its
-- functions or checksum, and that load checks the scan read what Lua does.
local core = require "luamig.core"
local h = require "spec.helpers"

local function write_script(dir, name, text)
  h.write_file(dir .. "/" .. name, text)
  return dir .. "/" .. name
end

local plain = [[
-- create users
--
-- Revision ID: a1

revision      = "a1"
down_revision = nil
branch_labels = {"core", 'auth'}
depends_on    = nil
message       = "create users"   -- trailing comment
transactional = false

function upgrade(op)
  op.execute("CREATE TABLE users (id integer)")
end

function downgrade(op)
  op.execute("DROP TABLE users")
end
]]

describe("the header scan", function()
  local dir
  before_each(function() dir = h.tmpdir() end)

  it("gives the metadata of a plain script without running it", function()
    local path = write_script(dir, "a1.lua", plain)
    local r = core.load_scripts(dir, {scan = true})[1]
    assert.equal("a1", r.revision)
    assert.is_nil(r.down_revision)
    assert.same({}, r.parents)
    assert.same({"core", "auth"}, r.branch_labels)
    assert.same({}, r.depends_on)
    assert.equal("create users", r.message)
    assert.is_false(r.transactional)
    assert.is_true(r.has_downgrade)
    assert.equal(path, r.path)
    for _, k in ipairs({"upgrade", "downgrade", "env", "checksum"}) do
      assert.is_nil(rawget(r, k), k .. " is there before the first read")
    end
  end)

  it("completes the record on the first read of a function or the checksum", function()
    local path = write_script(dir, "a1.lua", plain)
    local r = core.load_scripts(dir, {scan = true})[1]
    local f = assert(io.open(path, "rb"))
    local text = f:read("a")
    f:close()
    assert.equal(core.sha256(text), r.checksum)
    assert.equal("function", type(rawget(r, "upgrade")))
    assert.equal("function", type(rawget(r, "downgrade")))
    assert.equal("table", type(rawget(r, "env")))
    assert.equal(core.sha256(text), rawget(r, "checksum"), "the checksum is kept once computed")
  end)

  it("reads lists, merges and a script without downgrade as the full load does", function()
    write_script(dir, "m.lua", [[
revision = "m"
down_revision = {"a", "b"}
depends_on = "c"

function upgrade(op)
end
]])
    local r = core.load_scripts(dir, {scan = true})[1]
    local full = core.load_scripts(dir)[1]
    assert.is_nil(rawget(r, "upgrade"), "scanned")
    assert.is_false(r.has_downgrade)
    for _, k in ipairs({"revision", "down_revision", "parents", "branch_labels", "depends_on",
                        "message", "transactional"}) do
      assert.same(full[k], r[k], k)
    end
    assert.is_nil(r.downgrade)
  end)

  it("leaves any other form to the full load", function()
    local forms = {
      ["local code"] = "local n = 1\n",
      ["long comment"] = "--[[ revision = 'x' ]]\n",
      ["an escape"] = 'message = "say \\"hi\\""\n',
      ["a second assignment"] = 'message = "one"\nmessage = "two"\n',
      ["a one-line function"] = "function downgrade(op) end\n",
      ["indented top level"] = '  message = "m"\n',
      ["a multi-line list"] = 'depends_on = {\n  "z",\n}\n',
    }
    for what, extra in pairs(forms) do
      local d = h.tmpdir()
      write_script(d, "s.lua", 'revision = "s"\n' .. extra .. "function upgrade(op)\nend\n")
      local r = core.load_scripts(d, {scan = true})[1]
      assert.equal("function", type(rawget(r, "upgrade")), what .. ": should be loaded in full")
      assert.is_nil(rawget(r, "checksum"), what .. ": the checksum waits for its first read")
      assert.equal(core.sha256(h.read_file(d .. "/s.lua")), r.checksum, what)
    end
  end)

  -- (outside attack T, L6) as lua5.4 loads a file: a byte-order mark and a "#!" first line
  -- are not code; line numbers stay the file's, and the checksum is the whole file's
  it("loads a script with a UTF-8 byte-order mark or a #! first line, as lua5.4 does", function()
    local d = h.tmpdir()
    write_script(d, "b1.lua", '\xEF\xBB\xBFrevision = "b1"\nfunction upgrade(op)\nend\n')
    write_script(d, "b2.lua", '#!/usr/bin/env lua\nrevision = "b2"\ndown_revision = "b1"\n'
      .. 'function upgrade(op) error("at line 4") end\n')
    write_script(d, "b3.lua", '\xEF\xBB\xBF#!lua\nrevision = "b3"\ndown_revision = "b2"\n'
      .. 'function upgrade(op)\nend\n')
    for _, scan in ipairs{true, false} do
      local recs = core.load_scripts(d, {scan = scan})
      assert.same({"b1", "b2", "b3"}, {recs[1].revision, recs[2].revision, recs[3].revision})
      for _, r in ipairs(recs) do assert.equal(core.sha256(h.read_file(r.path)), r.checksum) end
      local ok, err = pcall(recs[2].upgrade)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("b2.lua:4: at line 4", 1, true), tostring(err))
    end
  end)

  it("follows long strings and comments in a body, as Lua's lexer does", function()
    write_script(dir, "long.lua", [==[
revision = "l1"
message = "long strings"

function upgrade(op)
  op.execute([[
CREATE TRIGGER t AFTER INSERT ON x BEGIN
  SELECT 1;
end
revision = "not this"
]])
  --[=[ a long comment
end
]=] op.execute('SELECT "[["')
end
]==])
    local r = core.load_scripts(dir, {scan = true})[1]
    assert.is_nil(rawget(r, "upgrade"), "scanned")
    assert.equal("l1", r.revision)
    assert.equal("long strings", r.message)
    assert.equal("function", type(r.upgrade), "and the full load agrees")
  end)

  it("declines a long comment after an assignment, a lone carriage return, an escaped line end", function()
    for what, text in pairs({
      ["long comment"] = 'revision = "c1" --[[\nmessage = "hidden"\n-- ]]\nfunction upgrade(op)\nend\n',
      ["lone carriage return"] = 'revision = "c1"\nmessage = "m" -- c\rtransactional = false\nfunction upgrade(op)\nend\n',
      ["escaped line end"] = 'revision = "c1"\nfunction upgrade(op)\n  local s = "a\\\nend\\\n"\nend\n',
    }) do
      local d = h.tmpdir()
      write_script(d, "c.lua", text)
      local r = core.load_scripts(d, {scan = true})[1]
      assert.equal("function", type(rawget(r, "upgrade")), what .. ": should be loaded in full")
      if what == "lone carriage return" then
        assert.is_false(r.transactional, "Lua ends the comment at the \\r")
      else
        assert.is_nil(r.message, what)
      end
    end
  end)

  it("a script edited between the scan and its load is an error, not a silent difference", function()
    local path = write_script(dir, "edited.lua", 'revision = "t1"\nmessage = "listed"\nfunction upgrade(op)\nend\n')
    local r = core.load_scripts(dir, {scan = true})[1]
    assert.equal("listed", r.message)
    write_script(dir, "edited.lua", 'revision = "t1"\nmessage = "edited"\nfunction upgrade(op)\nend\n')
    local err = h.error_of(function() return r.upgrade end)
    local text = type(err) == "table" and err.message or tostring(err)
    assert.truthy(text:find(path .. ": running the script gives another message than its "
      .. "header did when it was listed: was the file edited since?", 1, true), text)
  end)

  it("a load error surfaces on the first read, with the file and line", function()
    local path = write_script(dir, "bad.lua", 'revision = "b1"\n\nfunction upgrade(op)\n  op.execute(\nend\n')
    local r = core.load_scripts(dir, {scan = true})[1]
    assert.equal("b1", r.revision)
    local err = h.error_of(function() return r.checksum end)
    local text = type(err) == "table" and err.message or tostring(err)
    assert.truthy(text:find(path .. ":5:", 1, true), text)
  end)
end)

h.each_db(function(db)
  local url
  before_each(function() url = db.url() end)

  local function run(dir, args) return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args) end

  describe("a broken script among scanned ones", function()
    local function project()
      return h.project({
        {id = "aa01", message = "first", up = "CREATE TABLE t1 (id integer)"},
        {id = "aa02", down = "aa01", message = "second", code = true,
         up = "  op.execute('CREATE TABLE t2 (id integer)')\n  op.execute(\n"},
      })
    end

    it("history still lists it", function()
      local dir = project()
      local status, out = run(dir, "history")
      assert.equal(0, status)
      assert.truthy(out:find("aa01 -> aa02 (head), second", 1, true), out)
    end)

    it("upgrade stops before the first step, naming the file and line", function()
      local dir = project()
      local status, _, err = run(dir, "upgrade head")
      assert.equal(1, status)
      assert.truthy(err:find("migrations/versions/aa02.lua:11:", 1, true), err)
      assert.same({}, h.version_rows(url))
      local tables = h.tables(url)
      for _, t in ipairs(tables) do assert.not_equal("t1", t) end
    end)
  end)
end)

h.each_db(function(db)
  describe("a runner that lists, then runs", function()
    it("runs the scripts as they are when the run starts, not as they were listed", function()
      local luamig = require "luamig"
      local dir = h.project({{id = "e1", message = "first", up = "CREATE TABLE before_edit (id integer)"}})
      local url = db.url()
      local m <close> = luamig.open{url = url, script_location = dir .. "/migrations"}
      assert.equal("first", m:history()[1].message)
      h.write_file(dir .. "/migrations/versions/e1.lua", h.script({id = "e1", message = "edited",
        up = "CREATE TABLE after_edit (id integer)"}))
      m:upgrade("head")
      assert.same({"after_edit", "luamig_log", "luamig_version"}, h.tables(url))
      assert.equal("edited", m:history()[1].message)
    end)
  end)
end)
