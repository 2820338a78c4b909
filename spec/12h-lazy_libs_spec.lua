-- libpq loaded on the first PostgreSQL URL (src/db_pg_lib.c) and libcrypto
-- on the first checksum (src/script_sha.c), not by the dynamic loader at
-- start: SQLite and database-less commands run without libpq, listings
-- without libcrypto, a PostgreSQL URL still connects, checksums are still
-- SHA-256, and a library that cannot be loaded is a clear error.
-- LUAMIG_LIBPQ / LUAMIG_LIBCRYPTO name the file to load instead of the
-- soname; pointing one at a missing file stands for a machine without it.
local h = require "spec.helpers"

local MISSING = {LUAMIG_LIBPQ = "/nonexistent/libpq.so.5"}

local function project()
  return h.project{
    {id = "a1", up = "CREATE TABLE items (id integer PRIMARY KEY)", down_sql = "DROP TABLE items"},
    {id = "b2", down = "a1", message = "second"},
  }
end

-- A shared library built from C source (a stub standing for a broken library); its path.
local function build_lib(source)
  local dir = h.tmpdir()
  h.write_file(dir .. "/stub.c", source)
  local status, _, err = h.run(("%s -shared -fPIC -o %s/stub.so %s/stub.c")
    :format(os.getenv("CC") or "cc", h.shell_quote(dir), h.shell_quote(dir)))
  assert(status == 0, err)
  return dir .. "/stub.so"
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

describe("libcrypto loaded on first use", function()
  local NO_CRYPTO = {LUAMIG_LIBCRYPTO = "/nonexistent/libcrypto.so.3"}

  it("is not among the binary's libraries", function()
    local status, out = h.run("ldd " .. h.shell_quote(h.bin))
    assert.equal(0, status)
    assert.truthy(out:find("libsqlite3", 1, true), out)
    assert.falsy(out:find("libcrypto", 1, true), out)
  end)

  it("listings run when libcrypto cannot be loaded", function()
    local dir = project()
    local status, out, err = h.luamig(dir, "history", NO_CRYPTO)
    assert.equal(0, status, err)
    assert.same({"a1 -> b2 (head), second", "<base> -> a1, revision a1"}, h.lines(out))
    status, out, err = h.luamig(dir, "heads", NO_CRYPTO)
    assert.equal(0, status, err)
    assert.same({"b2 (head)"}, h.lines(out))
  end)

  -- a script not in `luamig revision`'s layout is loaded in full, not scanned: the full
  -- load too leaves the checksum to its first read (it hashed every such script)
  local function unscanned_project()
    local dir = project()
    h.write_file(dir .. "/migrations/versions/c3.lua", 'revision="c3"; down_revision="b2"\n'
      .. 'message = "compact" .. "\\tlayout"\nfunction upgrade(op) end function downgrade(op) end\n')
    return dir
  end

  it("listings run when libcrypto cannot be loaded, scripts loaded in full too", function()
    local dir = unscanned_project()
    local url = h.fresh_sqlite()
    local status, out, err = h.luamig(dir, "history", NO_CRYPTO)
    assert.equal(0, status, err)
    assert.equal("b2 -> c3 (head), compact\tlayout", h.lines(out)[1])
    for _, cmd in ipairs{"heads", "branches", "show c3", "history -v", "history --json",
                         "--url " .. h.shell_quote(url) .. " current"} do
      status, out, err = h.luamig(dir, cmd, NO_CRYPTO)
      assert.equal(0, status, cmd .. ": " .. err)
    end
    status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head", NO_CRYPTO)
    assert.equal(1, status, out)
    assert.truthy(err:find("cannot load libcrypto", 1, true), err)
  end)

  it("a script loaded in full and edited before its checksum is read says so", function()
    local dir = unscanned_project()
    local core = require "luamig.core"
    local path = dir .. "/migrations/versions/c3.lua"
    local rec = core.load_script(path)
    h.write_file(path, 'revision="c3"; down_revision="b2"\nfunction upgrade(op) op.execute("x") end\n')
    local ok, err = pcall(function() return rec.checksum end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find(path .. ": the file changed after it was loaded (its text "
      .. "differs from the code that ran): run the command again", 1, true), tostring(err))
    rec = core.load_script(path)
    local _, sum = h.run("sha256sum " .. h.shell_quote(path))
    assert.equal(sum:match("^%x+"), rec.checksum)
  end)

  it("a run stops before its first step when libcrypto cannot be loaded", function()
    local dir = project()
    local url, path = h.fresh_sqlite()
    local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head", NO_CRYPTO)
    assert.equal(1, status)
    assert.truthy(err:find("FAILED: cannot load libcrypto (OpenSSL), which the scripts' SHA-256 "
      .. "checksums need (/nonexistent/libcrypto.so.3: ", 1, true), err)
    assert.truthy(err:find("LUAMIG_LIBCRYPTO names a file that is not there or not a library; "
      .. "correct it or unset it", 1, true), err)
    -- before the database is opened: no empty SQLite file left behind
    assert.is_nil(io.open(path), path .. " was created")
  end)

  it("upgrade --sql and stamp need no libcrypto (they log no checksum)", function()
    local dir = unscanned_project()
    local status, out, err = h.luamig(dir, "--url sqlite:/nonexistent/x.db upgrade head --sql", NO_CRYPTO)
    assert.equal(0, status, err)
    assert.truthy(out:find("CREATE TABLE items", 1, true), out)
    local url, path = h.fresh_sqlite()
    status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " stamp head", NO_CRYPTO)
    assert.equal(0, status, err)
    assert.same({"c3"}, h.version_rows("sqlite:" .. path))
  end)

  it("a library that is not libcrypto is refused by name", function()
    local _, libs = h.run("ldd " .. h.shell_quote(h.bin))
    local sqlite = assert(libs:match("=> (%S*libsqlite3%S*)"), libs)
    local dir = project()
    local url = h.fresh_sqlite()
    local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head",
                                    {LUAMIG_LIBCRYPTO = sqlite})
    assert.equal(1, status)
    assert.truthy(err:find("FAILED: cannot use " .. sqlite .. " as libcrypto: it has no "
      .. "EVP_MD_CTX_new; correct or unset LUAMIG_LIBCRYPTO", 1, true), err)
  end)

  it("checksums are the files' SHA-256 (loaded by its soname), scanned or loaded in full", function()
    local dir = unscanned_project()
    local url, path = h.fresh_sqlite()
    local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")
    assert.equal(0, status, err)
    local _, sums = h.run("cd " .. h.shell_quote(dir) .. "/migrations/versions && sha256sum a1.lua b2.lua c3.lua")
    local want = {}
    for sum, file in sums:gmatch("(%x+)%s+(%S+)") do want[file:match("^(%w+)")] = sum end
    local conn = require("luamig.core").connect("sqlite:" .. path)
    local rows = conn:query("SELECT revision, checksum FROM luamig_log ORDER BY id")
    conn:close()
    assert.equal(3, #rows)
    for _, r in ipairs(rows) do assert.equal(want[r.revision], r.checksum) end
  end)
end)

-- A library whose constructor returns nothing: real ones do so only out of
-- memory, a stub or broken file named by the variable is the likelier cause,
-- so the error names the library, the file and the variable.
local function refused_with_stub(url, var, stub, lib, fn)
  local status, out, err = h.luamig(project(), "--url " .. h.shell_quote(url) .. " upgrade head",
                                    {[var] = stub})
  assert.equal(1, status, out)
  assert.truthy(err:find(("%s's %s returned nothing (%s, the file %s names): it is not a "
    .. "working %s; correct or unset %s"):format(lib, fn, stub, var, lib, var), 1, true), err)
  assert.falsy(err:find("out of memory", 1, true), err)
end

describe("a libcrypto whose EVP_MD_CTX_new returns nothing", function()
  local stub
  local function stub_lib()
    stub = stub or build_lib([[
void *EVP_MD_CTX_new(void) { return 0; }
const void *EVP_sha256(void) { return 0; }
int EVP_DigestInit_ex(void *c, const void *m, void *e) { (void)c; (void)m; (void)e; return 0; }
int EVP_DigestUpdate(void *c, const void *d, unsigned long n) { (void)c; (void)d; (void)n; return 0; }
int EVP_DigestFinal_ex(void *c, unsigned char *m, unsigned *n) { (void)c; (void)m; (void)n; return 0; }
]])
    return stub
  end

  h.each_db(function(db)
    it("stops the run before its first step, naming the file and LUAMIG_LIBCRYPTO", function()
      local url = db.url()
      refused_with_stub(url, "LUAMIG_LIBCRYPTO", stub_lib(), "libcrypto", "EVP_MD_CTX_new")
      assert.same({}, h.version_rows(url))
      for _, t in ipairs(h.tables(url)) do assert.not_equal("items", t) end
    end)
  end)
end)

-- A stub of every function the driver loads (db_pg_lib.c's list), each returning
-- nothing unless own[name] gives its C definition.
local function libpq_stub(own)
  local names, seen = {}, {}
  for line in io.lines(h.root .. "/src/db_pg_lib.c") do
    local name = line:match("^%s*XV%((PQ%w+)") or line:match("^%s*X%([^,]+, (PQ%w+)")
    if name and not seen[name] then
      seen[name] = true
      names[#names + 1] = own[name] or "void *" .. name .. "(void) { return 0; }"
    end
  end
  assert(seen.PQconninfoParse and seen.PQconnectdbParams and #names > 30, #names)
  return build_lib(table.concat(names, "\n") .. "\n")
end

-- own plus a URL parser that gives no fields (PQconninfoParse's list ends at once)
local function empty_url(own)
  own = own or {}
  own.PQconninfoParse = "static void *none[7]; void *PQconninfoParse(const char *s, char **m) "
    .. "{ (void)s; *m = 0; return none; }"
  own.PQconninfoFree = "void PQconninfoFree(void *o) { (void)o; }"
  return own
end

describe("a libpq whose PQconnectdbParams returns nothing", function()
  it("a PostgreSQL URL fails naming the file and LUAMIG_LIBPQ, the database untouched", function()
    -- a URL without fields (PQconninfoParse's list ends at once), then no connection
    local stub = libpq_stub(empty_url())
    local _, url = h.fresh_pg()
    refused_with_stub(url, "LUAMIG_LIBPQ", stub, "libpq", "PQconnectdbParams")
    assert.same({}, h.tables(url))
  end)
end)

describe("a libpq whose PQconninfoParse returns nothing", function()
  it("a PostgreSQL URL fails naming the file and LUAMIG_LIBPQ, the database untouched", function()
    local _, url = h.fresh_pg()
    refused_with_stub(url, "LUAMIG_LIBPQ", libpq_stub{}, "libpq", "PQconninfoParse")
    assert.same({}, h.tables(url))
  end)
end)

-- (outside attack T, L3) a libpq whose connection fails with no message at all
describe("a libpq whose PQerrorMessage returns nothing", function()
  it("fails in words instead of crashing", function()
    local stub = libpq_stub(empty_url{
      PQconnectdbParams = "static int conn; void *PQconnectdbParams(const char *const *k, "
        .. "const char *const *v, int x) { (void)k; (void)v; (void)x; return &conn; }",
      PQstatus = "int PQstatus(const void *c) { (void)c; return 1; }",
      PQfinish = "void PQfinish(void *c) { (void)c; }",
    })
    local status, out, err = h.luamig(project(), "--url postgresql://u:secret-pw@/x current",
                                      {LUAMIG_LIBPQ = stub})
    assert.equal(1, status, out)
    assert.truthy(err:find("FAILED: cannot connect to PostgreSQL at 'postgresql://", 1, true), err)
    assert.truthy(err:find("libpq gave no message", 1, true), err)
    assert.falsy(err:find("secret-pw", 1, true), err)
  end)
end)

-- (outside attack T, L4) a libcrypto whose digest fails names its file, as its other failures do
describe("a libcrypto whose EVP_DigestFinal_ex fails", function()
  it("stops the run naming the function, the file and LUAMIG_LIBCRYPTO", function()
    local stub = build_lib([[
static int ctx;
void *EVP_MD_CTX_new(void) { return &ctx; }
const void *EVP_sha256(void) { return &ctx; }
int EVP_DigestInit_ex(void *c, const void *m, void *e) { (void)c; (void)m; (void)e; return 1; }
int EVP_DigestUpdate(void *c, const void *d, unsigned long n) { (void)c; (void)d; (void)n; return 1; }
int EVP_DigestFinal_ex(void *c, unsigned char *m, unsigned *n) { (void)c; (void)m; (void)n; return 0; }
]])
    local url, path = h.fresh_sqlite()
    local status, out, err = h.luamig(project(), "--url " .. h.shell_quote(url) .. " upgrade head",
                                      {LUAMIG_LIBCRYPTO = stub})
    assert.equal(1, status, out)
    assert.truthy(err:find(("libcrypto's EVP_DigestFinal_ex failed (%s, the file LUAMIG_LIBCRYPTO "
      .. "names): it is not a working libcrypto; correct or unset LUAMIG_LIBCRYPTO"):format(stub), 1, true), err)
    assert.is_nil(io.open(path))
  end)
end)
