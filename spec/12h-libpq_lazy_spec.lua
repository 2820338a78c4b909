-- libpq loaded on the first PostgreSQL URL (src/db_pg_lib.c), not by the
-- dynamic loader at start: SQLite and database-less commands run without
-- it, a PostgreSQL URL still connects, and a libpq that cannot be loaded
-- is a clear error. LUAMIG_LIBPQ names the file to load instead of
-- libpq.so.5; pointing it at a missing file stands for a machine without
-- libpq.
local h = require "spec.helpers"

local MISSING = {LUAMIG_LIBPQ = "/nonexistent/libpq.so.5"}

local function project()
  return h.project{
    {id = "a1", up = "CREATE TABLE items (id integer PRIMARY KEY)", down_sql = "DROP TABLE items"},
    {id = "b2", down = "a1", message = "second"},
  }
end

describe("libpq loaded on first use", function()
  it("is not among the binary's libraries", function()
    local status, out = h.run("ldd " .. h.shell_quote(h.bin))
    assert.equal(0, status)
    assert.truthy(out:find("libsqlite3", 1, true), out)    -- ldd did list them
    assert.falsy(out:find("libpq", 1, true), out)
  end)

  it("SQLite and database-less commands run when libpq cannot be loaded", function()
    local dir = project()
    local url, path = h.fresh_sqlite()
    local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head", MISSING)
    assert.equal(0, status, err)
    assert.same({"b2"}, h.version_rows("sqlite:" .. path))
    assert.same({"items", "luamig_log", "luamig_version"}, h.tables("sqlite:" .. path))
    status, out, err = h.luamig(dir, "history", MISSING)
    assert.equal(0, status, err)
    assert.same({"a1 -> b2 (head), second", "<base> -> a1, revision a1"}, h.lines(out))
    status, out = h.luamig(dir, "--version", MISSING)
    assert.equal(0, status)
    assert.truthy(out:find("^luamig "), out)
  end)

  it("a PostgreSQL URL fails with what to do when libpq cannot be loaded", function()
    local dir = project()
    local status, out, err = h.luamig(dir, "--url postgresql://app:s3cret@127.0.0.1/app current", MISSING)
    assert.equal(1, status, out)
    assert.equal("", out)
    assert.truthy(err:find("FAILED: cannot load libpq, PostgreSQL's client library, which a "
      .. "PostgreSQL URL needs (/nonexistent/libpq.so.5: ", 1, true), err)
    assert.truthy(err:find("LUAMIG_LIBPQ names a file that is not there or not a library; "
      .. "correct it or unset it", 1, true), err)
    assert.falsy(err:find("s3cret", 1, true), err)
  end)

  it("a library that is not libpq is refused by name", function()
    local _, libs = h.run("ldd " .. h.shell_quote(h.bin))
    local sqlite = assert(libs:match("=> (%S*libsqlite3%S*)"), libs)
    local dir = project()
    local status, _, err = h.luamig(dir, "--url postgresql://app@127.0.0.1/app current",
                                    {LUAMIG_LIBPQ = sqlite})
    assert.equal(1, status)
    assert.truthy(err:find("FAILED: cannot use " .. sqlite .. " as libpq: it has no PQcancel "
      .. "(libpq 10 or later is needed); correct or unset LUAMIG_LIBPQ", 1, true), err)
  end)

  it("a PostgreSQL URL connects and migrates (libpq found by its soname)", function()
    local dir = project()
    local _, url = h.fresh_pg()
    local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")
    assert.equal(0, status, err)
    assert.same({"b2"}, h.version_rows(url))
    assert.same({"items", "luamig_log", "luamig_version"}, h.tables(url))
    status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " current")
    assert.equal(0, status, err)
    assert.same({"b2 (head)"}, h.lines(out))
  end)

  it("LUAMIG_LIBPQ naming libpq's file loads that one", function()
    local _, libs = h.run("ldd " .. h.shell_quote(h.bin))
    local dir_of = assert(libs:match("=> (%S*/)libsqlite3"), libs)   -- the same multiarch directory
    local dir = project()
    local _, url = h.fresh_pg()
    local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade a1",
                                    {LUAMIG_LIBPQ = dir_of .. "libpq.so.5"})
    assert.equal(0, status, err)
    assert.same({"a1"}, h.version_rows(url))
  end)
end)
