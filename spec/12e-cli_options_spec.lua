-- The command line an Alembic user expects (issue 14, items 8 and 11):
-- -x KEY, --tag, -n/--name, --raiseerr, list_templates and init -t,
-- "did you mean" for commands, options, op functions, settings, sections
-- and templates; and the small wrong results of item 8 (a plan that read
-- every script twice, --version-path, the settings warning, bash
-- completion, a luamig.db left by a read-only command, the audit user).
local h = require "spec.helpers"

local function revs()
  return {
    {id = "aaaa1111", message = "create account", up = "CREATE TABLE account (id INTEGER)", down_sql = "DROP TABLE account"},
    {id = "bbbb2222", down = "aaaa1111", message = "create item", up = "CREATE TABLE item (id INTEGER)", down_sql = "DROP TABLE item"},
  }
end

-- A script that records op.tag and op.x.KEY (nil as the text "nil") in a
-- table seen(what, value).
local function recording(key)
  return {id = "cccc3333", message = "record", code = true, up = ([[
  op.execute('CREATE TABLE seen (what TEXT, value TEXT)')
  op.execute('INSERT INTO seen VALUES ($1, $2)', {'tag', op.tag == nil and 'nil' or op.tag})
  op.execute('INSERT INTO seen VALUES ($1, $2)', {'x', op.x[%q] == nil and 'nil' or op.x[%q]})]]):format(key, key),
    down_sql = "  op.execute('DROP TABLE seen')"}
end

local function seen(url)
  local out = {}
  for _, r in ipairs(h.query(url, "SELECT what, value FROM seen")) do out[r.what] = r.value end
  return out
end

local function has(text, want) return text:find(want, 1, true) ~= nil end

h.each_db(function(db)
  local url
  before_each(function() url = db.url() end)
  local function run(dir, args, env)
    return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args, env)
  end

  describe("-x and --tag reach the scripts", function()
    it("-x KEY without a value is KEY = \"\", as Alembic's get_x_argument has it", function()
      local dir = h.project({recording("dry_run")})
      local status, _, err = run(dir, "-x dry_run upgrade head")
      assert.equal(0, status, err)
      assert.same({tag = "nil", x = ""}, seen(url))
    end)

    it("-x with an empty key is still a usage error", function()
      local dir = h.project({recording("k")})
      local status, _, err = run(dir, "-x =v upgrade head")
      assert.equal(2, status)
      assert.truthy(has(err, "luamig: -x takes KEY=VALUE, or a KEY alone (letters, digits, _ . -) "
        .. "for KEY=\"\"; the argument given is not shown, as -x values may be secrets\n"), err)
      status, _, err = run(dir, "-x 'db_password:S3cret' upgrade head")
      assert.equal(2, status)
      assert.is_nil(err:find("S3cret", 1, true), err)
      assert.same({}, h.version_rows(url))
    end)

    it("--tag TAG is op.tag in upgrade, downgrade and stamp; without it op.tag is nil", function()
      local dir = h.project({recording("k")})
      local status, _, err = run(dir, "upgrade head --tag release-7")
      assert.equal(0, status, err)
      assert.same({tag = "release-7", x = "nil"}, seen(url))
      status, _, err = run(dir, "downgrade base --tag=r8")
      assert.equal(0, status, err)
      status, _, err = run(dir, "upgrade head")
      assert.equal(0, status, err)
      assert.same({tag = "nil", x = "nil"}, seen(url))
      status, _, err = run(dir, "stamp base --tag t")
      assert.equal(0, status, err)
      assert.same({}, h.version_rows(url))
    end)
  end)

  describe("-n/--name picks a section of luamig.lua", function()
    it("the section's url and version_table are used, the others' not", function()
      local other = db.url()
      local dir = h.project(revs(), ("sections = {\n  staging = {url = %q, version_table = 'stage_version'},\n"
        .. "  prod = {url = %q},\n}\n"):format(url, other))
      local status, _, err = h.luamig(dir, "-n staging upgrade head")
      assert.equal(0, status, err)
      assert.same({"bbbb2222"}, h.version_rows(url, "stage_version"))
      assert.same({}, h.version_rows(other))
      status, _, err = h.luamig(dir, "--name=prod upgrade aaaa1111")
      assert.equal(0, status, err)
      assert.same({"aaaa1111"}, h.version_rows(other))
      assert.is_nil(err:find("unknown setting", 1, true), err)
    end)

    it("a mistyped section is an error naming the sections, with the closest", function()
      local dir = h.project(revs(), ("sections = {staging = {url = %q}, prod = {url = %q}}\n"):format(url, url))
      local status, out, err = h.luamig(dir, "-n stagign upgrade head")
      assert.equal(1, status)
      assert.equal("", out)
      assert.truthy(has(err, "FAILED: luamig.lua: no section 'stagign' (did you mean 'staging'?); "
        .. "the sections: prod, staging"), err)
      assert.same({}, h.version_rows(url))
    end)
  end)

  describe("a mistyped op function", function()
    it("names the script's file:line and the closest op function", function()
      local dir = h.project({{id = "aaaa1111", message = "typo", code = true,
        up = "  op.create_table('t', {{'id', 'integer'}})\n  op.add_colum('t', {'name', 'text'})"}})
      local status, _, err = run(dir, "upgrade head")
      assert.equal(1, status)
      assert.truthy(has(err, "FAILED: upgrade aaaa1111 (typo): migrations/versions/aaaa1111.lua:9: "
        .. "op.add_colum: op has no such function or field (did you mean 'add_column'?); "
        .. "doc/op.md lists them"), err)
      assert.is_nil(err:find("attempt to call a nil value", 1, true), err)
      assert.same({}, h.version_rows(url))
      assert.same({"luamig_log", "luamig_version"}, h.tables(url))   -- no table t: rolled back
    end)
  end)

  describe("--raiseerr", function()
    it("adds the Lua traceback, the script's own frames included; without it there is none", function()
      local dir = h.project({{id = "aaaa1111", message = "boom", code = true,
        up = "  local function deep() error('boom') end\n  deep()"}})
      local status, _, err = run(dir, "--raiseerr upgrade head")
      assert.equal(1, status)
      assert.truthy(has(err, "stack traceback:"), err)
      assert.truthy(has(err, "migrations/versions/aaaa1111.lua:8: in upvalue 'deep'")
        or has(err, "migrations/versions/aaaa1111.lua:8: in local 'deep'"), err)
      assert.truthy(has(err, "FAILED: upgrade aaaa1111 (boom): migrations/versions/aaaa1111.lua:8: boom"), err)
      -- the traceback comes before the FAILED line, not after it
      assert.truthy(err:find("stack traceback:", 1, true) < err:find("\nFAILED: ", 1, true), err)
      status, _, err = run(dir, "upgrade head")
      assert.equal(1, status)
      assert.is_nil(err:find("stack traceback", 1, true), err)
    end)
  end)

  describe("the audit log's user", function()
    it("is the password database's name when $USER and $LOGNAME are unset", function()
      local dir = h.project(revs())
      local _, me = h.run("id -un")
      me = me:gsub("%s+$", "")
      local status, _, err = h.run(("cd %s && env -u USER -u LOGNAME %s --url %s upgrade head"):format(
        h.shell_quote(dir), h.shell_quote(h.bin), h.shell_quote(url)))
      assert.equal(0, status, err)
      local rows = h.query(url, "SELECT who FROM luamig_log ORDER BY id")
      assert.equal(2, #rows)
      for _, r in ipairs(rows) do
        assert.equal(me, r.who:match("^(.*)@"), r.who)
      end
    end)
  end)

  describe("upgrade --plan", function()
    local has_strace = h.run("command -v strace") == 0
    it("opens every script once, a plain one and one the header scan declines", function()
      if not has_strace then pending("strace is not installed") return end
      local list = revs()
      list[2].extra = "local suffix = ''\nmessage = 'create item' .. suffix"   -- not the plain form
      local dir = h.project(list)
      -- LeakSanitizer cannot run under ptrace: the sanitized build's leak check is off here
      local status, out, err = h.run(("cd %s && ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "
        .. "strace -f -e trace=open,openat -o trace.txt %s --url %s upgrade --plan")
        :format(h.shell_quote(dir), h.shell_quote(h.bin), h.shell_quote(url)))
      assert.equal(0, status, err)
      assert.equal("upgrade  -> aaaa1111, create account\nupgrade aaaa1111 -> bbbb2222, create item\n", out)
      local trace = h.read_file(dir .. "/trace.txt")
      for _, id in ipairs{"aaaa1111", "bbbb2222"} do
        local _, n = trace:gsub(id .. "%.lua\"", "")
        assert.equal(1, n, id .. " opened " .. n .. " times:\n" .. table.concat(h.grep(trace, id), "\n"))
      end
      assert.same({}, h.version_rows(url))
    end)
  end)
end)

describe("[sqlite] revision --version-path and version_locations", function()
  local function setup(locations)
    local dir = h.project(revs(), ("version_locations = %s\n"):format(locations))
    os.execute("mkdir -p " .. h.shell_quote(dir .. "/other"))
    return dir
  end

  it("accepts a configured location, and puts a child next to its parent without it", function()
    local dir = setup('{"other"}')
    local status, out, err = h.luamig(dir, "revision -m one --rev-id cccc3333 --version-path other")
    assert.equal(0, status, err)
    assert.truthy(out:find("^Generating .*/other/cccc3333_one%.lua %.%.%.  done\n$"), out)
    assert.truthy(h.file_exists(dir .. "/other/cccc3333_one.lua"))
    status, out, err = h.luamig(dir, "revision -m two --rev-id dddd4444")
    assert.equal(0, status, err)
    assert.truthy(h.file_exists(dir .. "/other/dddd4444_two.lua"), out)
    status, out = h.luamig(dir, "history")
    assert.equal(0, status)
    assert.equal("cccc3333 -> dddd4444 (head), two\n", h.lines(out)[1] .. "\n")
  end)

  it("a location listed twice (versions/ in version_locations, as Alembic lists it) is read once", function()
    local dir = setup('{"migrations/versions", "./other/"}')
    local status, out, err = h.luamig(dir, "revision -m three --rev-id eeee5555 --version-path ./other/")
    assert.equal(0, status, err)
    status, out, err = h.luamig(dir, "heads")
    assert.equal(0, status, err)
    assert.equal("eeee5555 (head)\n", out)
  end)

  it("refuses a path that is not a location, naming the locations", function()
    local dir = setup('"other"')
    local status, out, err = h.luamig(dir, "revision -m x --version-path elsewhere")
    assert.equal(1, status)
    assert.equal("", out)
    assert.truthy(has(err, "FAILED: Path elsewhere is not represented in current version locations; "
      .. "use one of: migrations/versions, other"), err)
  end)

  it("a new base with several locations needs --version-path", function()
    local dir = setup('"other"')
    local status, _, err = h.luamig(dir, "revision -m x --head base")
    assert.equal(1, status)
    assert.truthy(has(err, "FAILED: Multiple version locations present, please specify --version-path "
      .. "(one of: migrations/versions, other)"), err)
  end)
end)

describe("[sqlite] the settings of luamig.lua", function()
  local known = "autogenerate_safe_forms, compare_type, databases, ddl_lock_timeout, file_template, include_object, "
    .. "lint_on_upgrade, lock, lock_lease, lock_retries, lock_timeout, naming_convention, profile, schema, script_location, sections, "
    .. "statement_timeout, target_schema, transaction_per_migration, truncate_slug_length, url, "
    .. "version_locations, version_table"

  it("warns of an unknown setting with the closest one and every setting read", function()
    local dir = h.project(revs(), "urll = 'sqlite:x.db'\noutput_encoding = 'utf-8'\n")
    local status, _, err = h.luamig(dir, "--url sqlite:app.db history")
    assert.equal(0, status, err)
    assert.truthy(has(err, "WARN  [luamig] luamig.lua: unknown setting 'urll' is ignored (did you "
      .. "mean 'url'?); known settings: " .. known .. "\n"), err)
    assert.truthy(has(err, "WARN  [luamig] luamig.lua: unknown setting 'output_encoding' is ignored; "
      .. "known settings: " .. known .. "\n"), err)
  end)

  it("every setting the warning lists is read without a warning", function()
    local dir = h.project(revs(), table.concat({
      "script_location = 'migrations'", "url = 'sqlite:app.db'", "version_table = 'v_version'",
      "version_locations = {}", "file_template = '%(rev)s'", "truncate_slug_length = 10",
      "target_schema = 'schema.lua'", "transaction_per_migration = true", "lock_timeout = 5",
      "naming_convention = {}", "include_object = function() return true end", "compare_type = false",
      "sections = {other = {url = 'sqlite:other.db'}}", "profile = 'postgresql'", "databases = {'sqlite:tenant.db'}",
    }, "\n") .. "\n")
    local status, _, err = h.luamig(dir, "upgrade head")
    assert.equal(0, status, err)
    assert.is_nil(err:find("unknown setting", 1, true), err)
    assert.same({"bbbb2222"}, h.version_rows("sqlite:" .. dir .. "/app.db", "v_version"))
  end)

  it("a section's unknown setting is warned about under its name", function()
    local dir = h.project(revs(), "sections = {dev = {url = 'sqlite:dev.db', version_tabel = 'x'}}\n")
    local status, _, err = h.luamig(dir, "-n dev upgrade head")
    assert.equal(0, status, err)
    assert.truthy(has(err, "WARN  [luamig] luamig.lua: sections.dev: unknown setting 'version_tabel' is "
      .. "ignored (did you mean 'version_table'?)"), err)
    assert.same({"bbbb2222"}, h.version_rows("sqlite:" .. dir .. "/dev.db"))
  end)

  it("sections must be a table, and a section a table of settings", function()
    local dir = h.project(revs(), "sections = 'staging'\n")
    local status, _, err = h.luamig(dir, "history")
    assert.equal(1, status)
    assert.truthy(has(err, "FAILED: luamig.lua: sections must be a table, not a string"), err)
    dir = h.project(revs(), "sections = {staging = 'postgresql://x'}\n")
    status, _, err = h.luamig(dir, "-n staging history")
    assert.equal(1, status)
    assert.truthy(has(err, "FAILED: luamig.lua: sections.staging must be a table of settings, not a string"), err)
  end)

  it("no section's password is shown, used or not", function()
    local dir = h.project(revs(), "sections = {\n  a = {url = 'postgresql://u:Sekr3tA@127.0.0.1:1/db?connect_timeout=1'},\n"
      .. "  b = {url = 'postgresql://u:Sekr3tB@127.0.0.1:1/db?connect_timeout=1'},\n}\n")
    local status, out, err = h.luamig(dir, "-n a current -v")
    assert.equal(1, status)
    assert.is_nil((out .. err):find("Sekr3t", 1, true), out .. err)
    assert.truthy(has(err, "***"), err)
    -- a config that fails quoting an unused section's URL: masked all the same
    dir = h.project(revs(), "sections = {b = {url = 'postgresql://u:Sekr3tB@h/db'}}\n"
      .. "error('cannot use ' .. sections.b.url)\n")
    status, out, err = h.luamig(dir, "history")
    assert.equal(1, status)
    assert.is_nil(err:find("Sekr3t", 1, true), err)
    assert.truthy(has(err, "cannot use postgresql://u:***@h/db"), err)
  end)

  it("--raiseerr on a failure outside the scripts: the stack from where it was raised", function()
    local dir = h.project(revs(), "lock_timeout = 'soon'\n")
    local status, _, err = h.luamig(dir, "--raiseerr history")
    assert.equal(1, status)
    assert.truthy(has(err, "luamig.lua: lock_timeout must be a number, not a string\nstack traceback:\n"), err)
    assert.truthy(has(err, "in function 'luamig.open'"), err)
    local lines = h.lines(err)
    assert.equal("FAILED: luamig.lua: lock_timeout must be a number, not a string", lines[#lines])
  end)

  it("-n without a luamig.lua says where the section should be", function()
    local dir = h.tmpdir()
    local status, _, err = h.luamig(dir, "-n staging current")
    assert.equal(1, status)
    assert.truthy(has(err, "FAILED: -n staging: there is no luamig.lua here to hold that section "
      .. "(sections = { staging = { url = ... } }); give the file with -c"), err)
    assert.is_false(h.file_exists(dir .. "/luamig.db"))
  end)
end)

describe("[sqlite] a read-only command where there is no project", function()
  for _, args in ipairs{"current", "history", "history -i", "heads", "branches", "show head",
                        "verify", "check"} do
    it(args .. " fails and creates no luamig.db", function()
      local dir = h.tmpdir()
      local status, out, err = h.luamig(dir, args)
      assert.equal(1, status)
      assert.equal("", out)
      assert.truthy(has(err, "FAILED: Path doesn't exist: 'migrations/versions'. Please use the "
        .. "'init' command to create a new scripts folder."), err)
      assert.is_false(h.file_exists(dir .. "/luamig.db"))
    end)
  end

  it("current on a missing SQLite file prints nothing and creates nothing", function()
    local dir = h.project(revs())
    local status, out, err = h.luamig(dir, "current")
    assert.equal(0, status, err)
    assert.equal("", out)
    status, out, err = h.luamig(dir, "verify")
    assert.equal(0, status, err)
    assert.is_false(h.file_exists(dir .. "/luamig.db"))
  end)
end)

describe("[sqlite] did you mean", function()
  it("a mistyped command: exit 2 with the closest command", function()
    local dir = h.project(revs())
    local status, out, err = h.luamig(dir, "upgarde head")
    assert.equal(2, status)
    assert.equal("", out)
    assert.truthy(has(err, "luamig: unknown command 'upgarde' (did you mean 'upgrade'?)\n"), err)
    assert.is_false(h.file_exists(dir .. "/luamig.db"))
  end)

  it("a mistyped option: exit 2 with the closest of the command's and the global options", function()
    local dir = h.project(revs())
    local status, _, err = h.luamig(dir, "upgrade head --sqll")
    assert.equal(2, status)
    assert.truthy(has(err, "luamig: unknown option '--sqll' (did you mean '--sql'?)\n"), err)
    status, _, err = h.luamig(dir, "history --verbsoe")
    assert.equal(2, status)
    assert.truthy(has(err, "luamig: unknown option '--verbsoe' (did you mean '--verbose'?)\n"), err)
    status, _, err = h.luamig(dir, "current --raiserr")
    assert.equal(2, status)
    assert.truthy(has(err, "luamig: unknown option '--raiserr' (did you mean '--raiseerr'?)\n"), err)
    status, _, err = h.luamig(dir, "current --zzzzzz")
    assert.equal(2, status)
    assert.truthy(has(err, "luamig: unknown option '--zzzzzz'\n"), err)
  end)
end)

describe("list_templates and init -t", function()
  it("list_templates lists generic and multidb", function()
    local status, out, err = h.luamig(h.tmpdir(), "list_templates")
    assert.equal(0, status, err)
    assert.equal("Available templates:\n\n"
      .. "generic - Generic single-database configuration.\n"
      .. "multidb - Several databases, one section of luamig.lua each (luamig -n engine1 ...).\n\n"
      .. "Templates are used via the 'init' command, e.g.:\n\n"
      .. "  luamig init --template generic migrations\n", out)
  end)

  it("init -t generic is init", function()
    local dir = h.tmpdir()
    local status, _, err = h.luamig(dir, "init -t generic db")
    assert.equal(0, status, err)
    assert.truthy(h.file_exists(dir .. "/db/script.lua.tmpl"))
    assert.truthy(has(h.read_file(dir .. "/luamig.lua"), 'script_location = "db"'))
  end)

  it("init -t multidb: one section per database, each migrated on its own with -n", function()
    local dir = h.tmpdir()
    local status, out, err = h.luamig(dir, "init --template multidb")
    assert.equal(0, status, err)
    for _, path in ipairs{"migrations/engine1/versions", "migrations/engine1/script.lua.tmpl",
                          "migrations/engine2/versions", "migrations/engine2/script.lua.tmpl"} do
      assert.truthy(has(out, dir .. "/" .. path .. " ...  done"), out)
    end
    status, _, err = h.luamig(dir, "-n engine1 revision -m one --rev-id aaaa1111")
    assert.equal(0, status, err)
    status, _, err = h.luamig(dir, "-n engine2 revision -m two --rev-id bbbb2222")
    assert.equal(0, status, err)
    status, _, err = h.luamig(dir, "-n engine1 upgrade head")
    assert.equal(0, status, err)
    status, _, err = h.luamig(dir, "-n engine2 upgrade head")
    assert.equal(0, status, err)
    assert.same({"aaaa1111"}, h.version_rows("sqlite:" .. dir .. "/engine1.db"))
    assert.same({"bbbb2222"}, h.version_rows("sqlite:" .. dir .. "/engine2.db"))
  end)

  it("an unknown template is an error with the closest and the list; nothing is created", function()
    local dir = h.tmpdir()
    local status, _, err = h.luamig(dir, "init -t multdb")
    assert.equal(1, status)
    assert.truthy(has(err, "FAILED: init: no template 'multdb' (did you mean 'multidb'?); the "
      .. "templates: generic, multidb (luamig list_templates)"), err)
    assert.is_false(h.file_exists(dir .. "/luamig.lua"))
    assert.is_false(h.file_exists(dir .. "/migrations"))
  end)
end)

describe("bash completion", function()
  it("offers each revision once", function()
    local dir = h.project(revs())
    local script = ([[
      source %s
      COMP_WORDS=(luamig upgrade ""); COMP_CWORD=2
      _luamig
      printf '%%s\n' "${COMPREPLY[@]}" | sort
    ]]):format(h.shell_quote(h.root .. "/doc/luamig.bash-completion"))
    h.write_file(dir .. "/complete.sh", script)
    local status, out, err = h.run(("cd %s && PATH=%s:$PATH bash complete.sh"):format(
      h.shell_quote(dir), h.shell_quote(h.build .. "/bin")))
    assert.equal(0, status, err)
    assert.equal("aaaa1111\nbase\nbbbb2222\nhead\nheads\n", out)
  end)

  local function complete(dir, words)
    local script = ([[
      source %s
      COMP_WORDS=(%s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
      _luamig
      printf '%%s\n' "${COMPREPLY[@]}" | sort
    ]]):format(h.shell_quote(h.root .. "/doc/luamig.bash-completion"), words)
    h.write_file(dir .. "/complete.sh", script)
    local status, out, err = h.run(("cd %s && PATH=%s:$PATH bash complete.sh"):format(
      h.shell_quote(dir), h.shell_quote(h.build .. "/bin")))
    assert.equal(0, status, err)
    return out
  end

  it("offers every long option each command's --help lists", function()
    local dir = h.tmpdir()
    local _, main = h.luamig(dir, "--help")
    local missing = {}
    for line in main:match("Commands:\n(.-)\n\n"):gmatch("[^\n]+") do
      local name = line:match("^  (%S+)")
      local offered = {}
      for word in complete(dir, ("luamig %s --"):format(name)):gmatch("[^\n]+") do
        offered[(word:gsub("=$", ""))] = true
      end
      local _, help = h.luamig(dir, name .. " --help")
      for opt in help:gmatch("\n  [^\n]-(%-%-[%w-]+)") do
        if not offered[opt] then missing[#missing + 1] = name .. " " .. opt end
      end
    end
    assert.same({}, missing)
  end)

  it("lists the revisions of the project -c names", function()
    local dir = h.tmpdir()
    local proj = h.project(revs())
    h.write_file(proj .. "/luamig.lua", "")
    local out = complete(dir, ("luamig -c %s upgrade ''"):format(h.shell_quote(proj .. "/luamig.lua")))
    assert.equal("aaaa1111\nbase\nbbbb2222\nhead\nheads\n", out)
  end)
end)
