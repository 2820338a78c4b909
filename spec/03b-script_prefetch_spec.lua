-- Script files read ahead by a second thread (src/script_prefetch.c) from
-- 64 files on: the records come out in the same order with the same
-- content as from the caller reading each, across directories and
-- subdirectories, scanned or loaded in full; a file that cannot be read or
-- a broken script in the middle stops the load with its message, and the
-- next load works (the thread ended).
local h = require "spec.helpers"
local core = require "luamig.core"

local function script(id, down, extra)
  return table.concat({
    ("revision = %q"):format(id),
    "down_revision = " .. (down and ("%q"):format(down) or "nil"),
    ("message = %q"):format("revision " .. id),
    extra or "",
    "function upgrade(op)", "end", "function downgrade(op)", "end", "",
  }, "\n")
end

-- n scripts in a chain under dir, every seventh in a subdirectory and every
-- fifth in a form the header scan declines (loaded in full)
local function chain(dir, n, prefix)
  os.execute("mkdir -p " .. h.shell_quote(dir .. "/sub"))
  local ids = {}
  for i = 1, n do
    local id = ("%s%04d"):format(prefix, i)
    ids[i] = id
    local where = i % 7 == 0 and "/sub/" or "/"
    h.write_file(dir .. where .. id .. ".lua",
      script(id, ids[i - 1], i % 5 == 0 and "local unscanned = true" or nil))
  end
  return ids
end

describe("script files read ahead", function()
  for _, n in ipairs{10, 63, 64, 300} do
    it(("gives the same records in the same order as reading each (%d files, two directories)"):format(n), function()
      local root = h.tmpdir()
      chain(root .. "/a", n, "a")
      chain(root .. "/b", 70, "b")
      local dirs = {root .. "/a", root .. "/b"}
      local want = {}
      for _, d in ipairs(dirs) do
        for _, path in ipairs(core.find_scripts(d)) do
          local rec = core.load_script(path)
          want[#want + 1] = {path = path, revision = rec.revision, parents = rec.parents,
                             message = rec.message, checksum = rec.checksum}
        end
      end
      assert.equal(n + 70, #want)
      for _, scan in ipairs{true, false} do
        local got = {}
        for i, r in ipairs(core.load_scripts(dirs, {scan = scan})) do
          got[i] = {path = r.path, revision = r.revision, parents = r.parents, message = r.message,
                    checksum = r.checksum}
        end
        assert.same(want, got)
      end
    end)
  end

  it("a file that cannot be read in the middle stops the load with its name; the next load works", function()
    local root = h.tmpdir()
    chain(root, 200, "c")
    -- a regular file whose read fails (root reads any file whatever its mode): the
    -- reading process's own memory at offset 0, which is not mapped
    local bad = root .. "/c0100x.lua"
    os.execute(("ln -s /proc/self/mem %s"):format(h.shell_quote(bad)))
    for _, scan in ipairs{true, false} do
      local ok, err = pcall(core.load_scripts, root, {scan = scan})
      assert.is_false(ok)
      local msg = type(err) == "table" and err.message or tostring(err)
      assert.equal(bad .. ": Input/output error", msg)
    end
    os.remove(bad)
    assert.equal(200, #core.load_scripts(root, {scan = true}))
  end)

  it("a broken script in the middle stops the load with its file and line, from the CLI too", function()
    local dir = h.project()
    local versions = dir .. "/migrations/versions"
    chain(versions, 150, "d")
    h.write_file(versions .. "/d0075.lua", 'revision = "d0075"\ndown_revision = "d0074"\nfunction upgrade(op)\n')
    local status, out, err = h.luamig(dir, "history")
    assert.equal(1, status, out)
    assert.truthy(err:find("d0075.lua:4: 'end' expected", 1, true), err)
    status, out, err = h.luamig(dir, "heads")
    assert.equal(1, status, out)
    assert.truthy(err:find("d0075.lua:4: 'end' expected", 1, true), err)
  end)

  -- outside attack T, M2: a dangling link made the last revision silently missing
  it("a *.lua link to a file that is gone stops every command, naming it; other dangling links are not scripts", function()
    local dir = h.project()
    local versions = dir .. "/migrations/versions"
    chain(versions, 100, "q")
    local elsewhere = h.tmpdir()
    os.execute(("mv %s %s/ && ln -s %s/q0100.lua %s/q0100.lua && rm %s/q0100.lua"):format(
      h.shell_quote(versions .. "/q0100.lua"), h.shell_quote(elsewhere), h.shell_quote(elsewhere),
      h.shell_quote(versions), h.shell_quote(elsewhere)))
    os.execute(("ln -s /nonexistent/notes.txt %s/notes.txt"):format(h.shell_quote(versions)))
    for _, cmd in ipairs{"heads", "history", "upgrade head --sql"} do
      local status, out, err = h.luamig(dir, "--url sqlite:/nonexistent/x.db " .. cmd)
      assert.equal(1, status, cmd .. ": " .. out)
      assert.truthy(err:find("FAILED: migrations/versions/q0100.lua: No such file or directory (a link to a script "
        .. "that is not there: restore the file it points to, or remove the link)", 1, true), err)
    end
    os.remove(versions .. "/q0100.lua")
    local status, out, err = h.luamig(dir, "heads")
    assert.equal(0, status, err)
    assert.equal("q0099 (head)\n", out)
  end)

  -- outside attack T, L1: a version location inside versions/ was read twice
  it("a version location inside another read directory is read once", function()
    local dir = h.project()
    local versions = dir .. "/migrations/versions"
    chain(versions, 70, "n")
    h.write_file(dir .. "/luamig.lua", 'script_location = "migrations"\n'
      .. 'version_locations = {"migrations/versions/sub", "./migrations/versions/sub/"}\n')
    local status, out, err = h.luamig(dir, "history")
    assert.equal(0, status, err)
    assert.equal(70, #h.lines(out))
    assert.equal("n0069 -> n0070 (head), revision n0070", h.lines(out)[1])
  end)
end)
