-- luamig.scaffold: init's files and refusals, new scripts that load back
-- with exactly the metadata asked for, Alembic's file_template tokens and
-- slug rules, custom templates, and every refusal's message.
local core = require "luamig.core"
local h = require "spec.helpers"
local scaffold = require "luamig.scaffold"

local FIXTURES = h.root .. "/spec/fixtures/scaffold"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

-- Loads a script the way the runner does: a fresh environment whose reads
-- fall through to the globals. Returns that environment.
local function load_script(path)
  local env = setmetatable({}, {__index = _G})
  local chunk = assert(loadfile(path, "t", env))
  chunk()
  return env
end

local function cwd()
  local _, out = h.run("pwd")
  return (out:gsub("\n$", ""))
end

-- A fresh project: script_location with an empty versions/ directory.
local function project()
  local dir = h.tmpdir()
  assert(os.execute("mkdir " .. h.shell_quote(dir .. "/migrations") .. " "
                    .. h.shell_quote(dir .. "/migrations/versions")))
  return dir .. "/migrations", dir
end

local function ls(dir)
  local _, out = h.run("ls -A " .. h.shell_quote(dir))
  local names = {}
  for name in out:gmatch("[^\n]+") do names[#names + 1] = name end
  return names
end

-- 2012-07-25 15:08:05 UTC, the date of Alembic's own file_template tests
local NOW = 1343228885

describe("scaffold.init", function()
  -- Runs Lua code in a new temporary directory (relative paths are the point).
  local function in_tmp(code)
    local dir = h.tmpdir()
    local command = ("cd %s && %s -e %s"):format(h.shell_quote(dir), h.lua,
      h.shell_quote("package.path = " .. ("%q"):format(package.path) .. "\n" .. code))
    return dir, h.run(command)
  end

  it("creates the directory, versions/, script.lua.tmpl and luamig.lua, and says so", function()
    local dir, status, out, err = in_tmp([[
      local s = require "luamig.scaffold"
      for _, e in ipairs(s.init{}) do print(e.kind, e.path, e.line) end]])
    assert.equal(0, status, err)
    assert.equal(table.concat({
      "directory\tmigrations\tCreating directory " .. dir .. "/migrations ...  done",
      "directory\tmigrations/versions\tCreating directory " .. dir
        .. "/migrations/versions ...  done",
      "file\tmigrations/script.lua.tmpl\tGenerating " .. dir
        .. "/migrations/script.lua.tmpl ...  done",
      "file\tluamig.lua\tGenerating " .. dir .. "/luamig.lua ...  done",
    }, "\n") .. "\n", out)
    assert.same({}, ls(dir .. "/migrations/versions"))
    assert.equal(scaffold.TEMPLATE, read(dir .. "/migrations/script.lua.tmpl"))
  end)

  it("writes luamig.lua with script_location set and every other default commented", function()
    local dir = h.tmpdir()
    scaffold.init{dir = dir .. "/db", config_path = dir .. "/luamig.lua"}
    local text = read(dir .. "/luamig.lua")
    local env = load_script(dir .. "/luamig.lua")
    assert.equal(dir .. "/db", env.script_location)
    for _, name in ipairs{"url", "version_table", "file_template", "target_schema",
                          "transaction_per_migration"} do
      assert.is_nil(rawget(env, name), name)
    end
    assert.truthy(text:find('\n-- url = "sqlite:luamig.db"\n', 1, true))
    assert.truthy(text:find('\n-- version_table = "luamig_version"\n', 1, true))
    assert.truthy(text:find('\n-- file_template = "%(rev)s_%(slug)s"\n', 1, true))
    assert.truthy(text:find('\n-- target_schema = "schema.lua"\n', 1, true))
    assert.truthy(text:find('\n-- transaction_per_migration = true\n', 1, true))
    -- uncommenting a default gives that default
    local f = assert(load(text:gsub('\n%-%- ([%w_]+ = )', "\n%1"), "=luamig.lua", "t", {}))
    local all = {}
    debug.setupvalue(f, 1, all)
    f()
    assert.same({script_location = dir .. "/db", url = "sqlite:luamig.db",
                 version_table = "luamig_version", file_template = "%(rev)s_%(slug)s",
                 target_schema = "schema.lua", transaction_per_migration = true,
                 -- issue 17's lock settings (attack 17B 10); statement_timeout
                 -- false is its default, not set
                 lock_timeout = 300, ddl_lock_timeout = "2s", statement_timeout = false,
                 lock_retries = 10, lock = "advisory", lock_lease = 30}, all)
  end)

  it("writes the url given, and a directory name with quotes, as literals that load back", function()
    local dir = h.tmpdir()
    local odd = dir .. [[/we"ird \ dir]]
    scaffold.init{dir = odd, config_path = dir .. "/luamig.lua",
                  url = [[postgresql://u:p"w@localhost/db]]}
    local env = load_script(dir .. "/luamig.lua")
    assert.equal(odd, env.script_location)
    assert.equal([[postgresql://u:p"w@localhost/db]], env.url)
    assert.truthy(h.file_exists(odd .. "/script.lua.tmpl"))
  end)

  it("uses an existing empty directory without creating it again", function()
    local dir = h.tmpdir()
    assert(os.execute("mkdir " .. h.shell_quote(dir .. "/m")))
    local entries = scaffold.init{dir = dir .. "/m", config_path = dir .. "/luamig.lua"}
    assert.same({"directory", "file", "file"},
                {entries[1].kind, entries[2].kind, entries[3].kind})
    assert.equal(dir .. "/m/versions", entries[1].path)
    assert.equal("Creating directory " .. dir .. "/m/versions ...  done", entries[1].line)
  end)

  it("creates missing parent directories, announcing only the script directory", function()
    local dir = h.tmpdir()
    local entries = scaffold.init{dir = dir .. "/a/b/migrations",
                                  config_path = dir .. "/luamig.lua"}
    assert.equal(4, #entries)
    assert.equal(dir .. "/a/b/migrations", entries[1].abspath)
    assert.equal(dir .. "/a/b/migrations/versions", entries[2].abspath)
  end)

  it("gives absolute, normalised paths for relative ones", function()
    local dir, status, out, err = in_tmp([[
      local s = require "luamig.scaffold"
      local e = s.init{dir = "./db//", config_path = "conf.lua"}
      print(e[1].path, e[1].abspath, e[2].path, e[2].abspath, e[4].abspath)]])
    assert.equal(0, status, err)
    assert.equal(("./db//\t%s/db\t./db//versions\t%s/db/versions\t%s/conf.lua\n")
                 :format(dir, dir, dir), out)
    assert.equal(cwd(), scaffold.fs.cwd())
  end)

  it("refuses a directory that is not empty, and creates nothing", function()
    local dir = h.tmpdir()
    h.write_file(dir .. "/README", "mine")
    local err = h.error_of(scaffold.init, {dir = dir, config_path = dir .. "/luamig.lua"})
    assert.equal("Directory " .. dir .. " already exists and is not empty; choose another "
                 .. "directory, or remove its contents first", err)
    assert.same({"README"}, ls(dir))
  end)

  it("counts a hidden file as content", function()
    local dir = h.tmpdir()
    h.write_file(dir .. "/.keep", "")
    local err = h.error_of(scaffold.init, {dir = dir, config_path = dir .. "/luamig.lua"})
    assert.truthy(err:find("already exists and is not empty", 1, true))
  end)

  it("refuses an existing luamig.lua, and creates nothing", function()
    local dir = h.tmpdir()
    h.write_file(dir .. "/luamig.lua", "url = 'sqlite:x.db'\n")
    local err = h.error_of(scaffold.init, {dir = dir .. "/migrations",
                                           config_path = dir .. "/luamig.lua"})
    assert.equal("File " .. dir .. "/luamig.lua already exists; to start a new project "
                 .. "elsewhere, run init in another directory or pass another configuration "
                 .. "file with -c", err)
    assert.same({"luamig.lua"}, ls(dir))
    assert.equal("url = 'sqlite:x.db'\n", read(dir .. "/luamig.lua"))
  end)

  it("refuses a file where the directory should be", function()
    local dir = h.tmpdir()
    h.write_file(dir .. "/migrations", "")
    local err = h.error_of(scaffold.init, {dir = dir .. "/migrations",
                                           config_path = dir .. "/luamig.lua"})
    assert.equal(dir .. "/migrations exists and is not a directory; choose another directory "
                 .. "for the scripts, e.g. luamig init migrations", err)
  end)

  it("refuses a configuration file in a directory that does not exist", function()
    local dir = h.tmpdir()
    local err = h.error_of(scaffold.init, {dir = dir .. "/migrations",
                                           config_path = dir .. "/no/luamig.lua"})
    assert.equal("cannot create " .. dir .. "/no/luamig.lua: directory " .. dir
                 .. "/no does not exist; create it first or pass another configuration file "
                 .. "with -c", err)
    assert.same({}, ls(dir))
  end)

  it("makes a project whose first revision the real script loader reads", function()
    local dir = h.tmpdir()
    scaffold.init{dir = dir .. "/migrations", config_path = dir .. "/luamig.lua"}
    local path = scaffold.write_revision{script_location = dir .. "/migrations",
                                         message = "create users", rev_id = "3f2a9c1d8e7b"}
    assert.equal(dir .. "/migrations/versions/3f2a9c1d8e7b_create_users.lua", path)
    local records = core.load_scripts(dir .. "/migrations/versions")
    assert.equal(1, #records)
    assert.equal("3f2a9c1d8e7b", records[1].revision)
    assert.equal("create users", records[1].message)
    assert.equal("function", type(records[1].upgrade))
    assert.equal("function", type(records[1].downgrade))
  end)
end)

describe("scaffold.write_revision", function()
  it("writes a script that loads back with the metadata asked for", function()
    local loc = project()
    local path, record = scaffold.write_revision{
      script_location = loc, message = "create users", rev_id = "3f2a9c1d8e7b",
      now = NOW, utc = true}
    assert.equal(loc .. "/versions/3f2a9c1d8e7b_create_users.lua", path)
    local env = load_script(path)
    assert.equal("3f2a9c1d8e7b", env.revision)
    assert.is_nil(rawget(env, "down_revision"))
    assert.is_nil(rawget(env, "branch_labels"))
    assert.is_nil(rawget(env, "depends_on"))
    assert.equal("create users", env.message)
    assert.equal("function", type(env.upgrade))
    assert.equal("function", type(env.downgrade))
    env.upgrade({})
    env.downgrade({})
    assert.same({revision = "3f2a9c1d8e7b", message = "create users",
                 create_date = "2012-07-25 15:08:05", path = path,
                 created = {{kind = "file", path = path, abspath = path,
                             line = "Generating " .. path .. " ...  done"}}}, record)
  end)

  it("writes exactly DESIGN.md's format", function()
    local loc = project()
    local path = scaffold.write_revision{script_location = loc, message = "create users",
                                        rev_id = "3f2a9c1d8e7b", down_revision = "1975ea83b712",
                                        now = NOW, utc = true}
    assert.equal([[
-- create users
--
-- Revision ID: 3f2a9c1d8e7b
-- Revises: 1975ea83b712
-- Create Date: 2012-07-25 15:08:05

revision      = "3f2a9c1d8e7b"
down_revision = "1975ea83b712"
branch_labels = nil
depends_on    = nil
message       = "create users"

function upgrade(op)
  -- the changes, e.g. op.add_column("users", {"name", "text"})
end

function downgrade(op)
  -- undo them, e.g. op.drop_column("users", "name")
end
]], read(path))
  end)

  it("writes a merge's parents, branch labels and dependencies as lists", function()
    local loc = project()
    local path, record = scaffold.write_revision{
      script_location = loc, message = "merge c and d", rev_id = "eeee5555",
      down_revision = {"dddd4444", "cccc3333"}, branch_labels = "auth",
      depends_on = {"bbbb2222", "networking"}}
    local text = read(path)
    assert.truthy(text:find('\ndown_revision = {"dddd4444", "cccc3333"}\n', 1, true))
    assert.truthy(text:find('\nbranch_labels = {"auth"}\n', 1, true))
    assert.truthy(text:find('\ndepends_on    = {"bbbb2222", "networking"}\n', 1, true))
    assert.truthy(text:find('\n-- Revises: dddd4444, cccc3333\n', 1, true))
    local env = load_script(path)
    assert.same({"dddd4444", "cccc3333"}, env.down_revision)
    assert.same({"auth"}, env.branch_labels)
    assert.same({"bbbb2222", "networking"}, env.depends_on)
    assert.same({"dddd4444", "cccc3333"}, record.down_revision)
    assert.same({"auth"}, record.branch_labels)
  end)

  it("writes a one-element parent list as the id, and empty lists as nil", function()
    local loc = project()
    local path = scaffold.write_revision{script_location = loc, message = "m", rev_id = "a1",
                                        down_revision = {"b2"}, branch_labels = {},
                                        depends_on = {}}
    local env = load_script(path)
    assert.equal("b2", env.down_revision)
    assert.is_nil(rawget(env, "branch_labels"))
    assert.is_nil(rawget(env, "depends_on"))
  end)

  it("generates 12 lowercase hex digits when no id is given", function()
    local loc = project()
    local seen = {}
    for _ = 1, 5 do
      local path, record = scaffold.write_revision{script_location = loc, message = "x"}
      assert.truthy(record.revision:match("^[0-9a-f]+$"), record.revision)
      assert.equal(12, #record.revision)
      assert.equal(loc .. "/versions/" .. record.revision .. "_x.lua", path)
      assert.is_nil(seen[record.revision])
      seen[record.revision] = true
    end
    assert.truthy(scaffold.rev_id():match("^%x%x%x%x%x%x%x%x%x%x%x%x$"))
  end)

  it("uses Alembic's 'empty message' without a message, and an empty slug", function()
    local loc = project()
    local path, record = scaffold.write_revision{script_location = loc, rev_id = "ab12"}
    assert.equal(loc .. "/versions/ab12_.lua", path)
    assert.equal("empty message", record.message)
    assert.equal("empty message", load_script(path).message)
  end)

  describe("messages with hostile characters load back identically", function()
    local messages = {
      {"double quotes", [[say "hi"]]},
      {"single quotes", [[it's]]},
      {"backslashes", [[C:\new\table \" \\]]},
      {"newlines", "first line\nsecond line\n\nfourth\n"},
      {"carriage returns and tabs", "a\r\nb\rc\td"},
      {"closing long brackets", "]] ]=] ]==] [[ [==["},
      {"a comment opener", "--[[ not a comment"},
      {"control characters and NUL", "nul\0bell\7esc\27del\127 end"},
      {"digits after an escape", "\0" .. "123\1" .. "9"},
      {"UTF-8", "créer la table « utilisateurs » 日本語 🚀"},
      {"invalid UTF-8", "bad \255\254 bytes \195("},
      {"Lua code", 'end revision = "hijack" --'},
      {"format directives", "%s %q %(rev)s ${revision}"},
    }
    for _, case in ipairs(messages) do
      it(case[1], function()
        local loc = project()
        local path, record = scaffold.write_revision{script_location = loc, message = case[2],
                                                     rev_id = "f00d"}
        local env = load_script(path)
        assert.equal(case[2], env.message)
        assert.equal("f00d", env.revision)
        assert.equal(case[2], record.message)
        assert.equal(case[2], core.load_scripts(loc .. "/versions")[1].message)
      end)
    end
  end)

  it("keeps a multi-line message's header lines comments", function()
    local loc = project()
    local path = scaffold.write_revision{script_location = loc, rev_id = "a1",
                                        message = "title\n\nbody ]] line\r\nlast",
                                        now = NOW, utc = true}
    local header = read(path):match("^(.-)\n\n")
    assert.equal("-- title\n--\n-- body ]] line\n-- last\n--\n-- Revision ID: a1\n"
                 .. "-- Revises: <base>\n-- Create Date: 2012-07-25 15:08:05", header)
    assert.equal("title\n\nbody ]] line\r\nlast", load_script(path).message)
  end)

  it("places upgrade and downgrade code in the functions, indented", function()
    local loc = project()
    local path = scaffold.write_revision{
      script_location = loc, message = "add name", rev_id = "c0ffee",
      upgrades = '\nop.add_column("users", {"name", "text"})\nif op.dialect == "sqlite" then\n'
                 .. '  op.execute("ANALYZE")\nend\n\n',
      downgrades = 'op.drop_column("users", "name")'}
    local text = read(path)
    assert.truthy(text:find('\nfunction upgrade(op)\n  op.add_column("users", {"name", "text"})\n'
                            .. '  if op.dialect == "sqlite" then\n    op.execute("ANALYZE")\n'
                            .. '  end\nend\n', 1, true), text)
    assert.truthy(text:find('\nfunction downgrade(op)\n  op.drop_column("users", "name")\nend\n',
                            1, true))
    local calls = {}
    local op = setmetatable({dialect = "sqlite"}, {__index = function(_, name)
      return function(...) calls[#calls + 1] = {name, ...} end
    end})
    local env = load_script(path)
    env.upgrade(op)
    env.downgrade(op)
    assert.same({{"add_column", "users", {"name", "text"}}, {"execute", "ANALYZE"},
                 {"drop_column", "users", "name"}}, calls)
  end)

  it("uses the default comment for a blank body", function()
    local loc = project()
    local path = scaffold.write_revision{script_location = loc, rev_id = "a1", upgrades = "  \n",
                                        downgrades = ""}
    local text = read(path)
    assert.truthy(text:find("function upgrade(op)\n  -- the changes", 1, true))
    assert.truthy(text:find("function downgrade(op)\n  -- undo them", 1, true))
  end)

  it("refuses upgrade code that does not compile, and writes nothing", function()
    local loc = project()
    local err = h.error_of(scaffold.write_revision, {script_location = loc, rev_id = "a1",
                                                     message = "m", upgrades = "op.x("})
    assert.equal("the script rendered from the built-in template does not load: " .. loc
                 .. "/versions/a1_m.lua:15: unexpected symbol near 'end'; fix the template or "
                 .. "the upgrade/downgrade code", err)
    assert.same({}, ls(loc .. "/versions"))
  end)

  it("refuses an id longer than the version table holds, and writes nothing", function()
    -- the graph would refuse to load the script it wrote (found in issue 15's review)
    local loc = project()
    local id = ("a"):rep(65)
    local err = h.error_of(scaffold.write_revision, {script_location = loc, rev_id = id, message = "m"})
    assert.equal("revision id '" .. id .. "' is 65 characters long; the version table holds ids "
                 .. "of at most 64 (use a shorter revision)", err)
    assert.same({}, ls(loc .. "/versions"))
    local path = scaffold.write_revision{script_location = loc, rev_id = ("b"):rep(64), message = "m"}
    assert.truthy(h.file_exists(path))
  end)

  it("writes the create date in local time unless utc is set", function()
    local loc = project()
    local _, record = scaffold.write_revision{script_location = loc, rev_id = "a1", now = NOW}
    assert.equal(os.date("%Y-%m-%d %H:%M:%S", NOW), record.create_date)
    local _, r2 = scaffold.write_revision{script_location = loc, rev_id = "a2", now = NOW,
                                          utc = true}
    assert.equal("2012-07-25 15:08:05", r2.create_date)
  end)

  it("creates a missing versions/ directory and reports it", function()
    local dir = h.tmpdir()
    local path, record = scaffold.write_revision{script_location = dir, rev_id = "a1",
                                                message = "m"}
    assert.equal(dir .. "/versions/a1_m.lua", path)
    assert.equal("Creating directory " .. dir .. "/versions ...  done", record.created[1].line)
    assert.equal("Generating " .. path .. " ...  done", record.created[2].line)
  end)

  it("writes into a version location given with version_path", function()
    local loc, dir = project()
    local other = dir .. "/more_versions"
    local path = scaffold.write_revision{script_location = loc, rev_id = "a1", message = "m",
                                        version_locations = {loc .. "/versions", other},
                                        version_path = other .. "/"}
    assert.equal(other .. "/a1_m.lua", path)
    assert.truthy(h.file_exists(path))
    -- the only location needs no version_path
    local p2 = scaffold.write_revision{script_location = loc, rev_id = "a2", message = "m",
                                      version_locations = {other}}
    assert.equal(other .. "/a2_m.lua", p2)
  end)
end)

describe("file_template", function()
  local function name_for(file_template, extra)
    local loc = project()
    local opts = {script_location = loc, message = "this is a message", rev_id = "12345",
                  file_template = file_template, now = NOW, utc = true}
    for k, v in pairs(extra or {}) do opts[k] = v end
    local path = scaffold.write_revision(opts)
    assert.truthy(h.file_exists(path))
    return path:sub(#loc + #"/versions/" + 1)
  end

  it("defaults to %(rev)s_%(slug)s", function()
    assert.equal("12345_this_is_a_message.lua", name_for(nil))
  end)

  it("has every Alembic token (Alembic's test_args and test_epoch)", function()
    assert.equal("12345_this_is_a_message_2012_7_25_15_8_5.lua",
                 name_for("%(rev)s_%(slug)s_%(year)s_%(month)s_%(day)s_%(hour)s_%(minute)s_"
                          .. "%(second)s"))
    assert.equal("1343228885_12345_this_is_a_message_2012_7_25_15_8_5.lua",
                 name_for("%(epoch)s_%(rev)s_%(slug)s_%(year)s_%(month)s_%(day)s_%(hour)s_"
                          .. "%(minute)s_%(second)s"))
  end)

  it("pads with Python's %.2d and %02d", function()
    local loc = project()
    local path = scaffold.write_revision{
      script_location = loc, message = "Initial schema", rev_id = "dcd397241ba3",
      now = 1141189323, utc = true,               -- 2006-03-01 05:02:03
      file_template = "%(year)d%(month).2d%(day).2d_%(hour).2d%(minute).2d-%(rev)s_%(slug)s"}
    assert.equal(loc .. "/versions/20060301_0502-dcd397241ba3_initial_schema.lua", path)
    assert.equal("2006-03-01_05-02-03.lua",
                 scaffold.format_file_template("%(year)04d-%(month)02d-%(day)02d_%(hour)02d-"
                   .. "%(minute)02d-%(second)02d", {year = 2006, month = 3, day = 1, hour = 5,
                   minute = 2, second = 3}) .. ".lua")
  end)

  it("writes the seed project's layout (YYYYMMDD_HHMM-rev_slug)", function()
    local loc = project()
    -- 2025-10-13 22:37 UTC
    local path = scaffold.write_revision{
      script_location = loc, message = "initial_schema", rev_id = "dcd397241ba3",
      now = 1760395020, utc = true,
      file_template = "%(year)d%(month).2d%(day).2d_%(hour).2d%(minute).2d-%(rev)s_%(slug)s"}
    assert.equal(loc .. "/versions/20251013_2237-dcd397241ba3_initial_schema.lua", path)
  end)

  it("creates subdirectories (Alembic 1.18's test_file_template_with_directory_path)", function()
    local loc = project()
    local path, record = scaffold.write_revision{
      script_location = loc, message = "test message", rev_id = "abc123",
      now = 1735223422, utc = true,               -- 2024-12-26 14:30:22
      file_template = "%(year)d/%(month).2d/%(day).2d_%(rev)s_%(slug)s"}
    assert.equal(loc .. "/versions/2024/12/26_abc123_test_message.lua", path)
    assert.equal("directory", record.created[1].kind)
    assert.equal(loc .. "/versions/2024/12", record.created[1].abspath)
    assert.equal("abc123", core.load_scripts(loc .. "/versions")[1].revision)
  end)

  it("formats as Python does: %%, widths, flags, precision, %r, %x", function()
    local tokens = {rev = "ab", slug = "café_crème", epoch = 1343228885, year = 2012, month = 7,
                    day = 25, hour = 15, minute = 8, second = 5}
    local f = scaffold.format_file_template
    assert.equal("100%_ab", f("100%%_%(rev)s", tokens))
    assert.equal("ab   |   ab|'ab'|café|  café_crème", f("%(rev)-5s|%(rev)5s|%(rev)r|"
                                                          .. "%(slug).4s|%(slug)12s", tokens))
    assert.equal("007|00007|+7|   07|0x7|7", f("%(month).3d|%(month)05.3d|%(month)+d|"
                                              .. "%(month)5.2d|%(month)#x|%(month)i", tokens))
    assert.equal("1343228885|50100bd5|%(epoch)s", f("%(epoch)d|%(epoch)x|%%(epoch)s", tokens))
  end)

  describe("refuses", function()
    local cases = {
      {"an unknown token", "%(rev)s_%(name)s",
       'file_template "%(rev)s_%(name)s": unknown token %(name)s; the tokens are rev, slug, '
       .. "epoch, year, month, day, hour, minute, second"},
      {"a number conversion of text", "%(rev)d",
       'file_template "%(rev)d": %(rev)d needs a number, but rev is text; use %(rev)s'},
      {"a % without a token", "%s_%(rev)s",
       'file_template "%s_%(rev)s": the % at position 1 must start a token such as %(rev)s '
       .. "(tokens: rev, slug, epoch, year, month, day, hour, minute, second), or be written "
       .. "%% for a literal %"},
      {"an incomplete token", "%(rev)s_%(slug)",
       'file_template "%(rev)s_%(slug)": incomplete format at the end'},
      {"an unsupported conversion", "%(rev)q",
       "file_template \"%(rev)q\": unsupported format character 'q' in %(rev)q"},
      {"an absolute path", "/tmp/%(rev)s",
       'file_template "/tmp/%(rev)s" gives "/tmp/12345.lua" (an absolute path); change '
       .. "file_template"},
      {"a parent directory", "../%(rev)s",
       'file_template "../%(rev)s" gives "../12345.lua" (a \'..\' component); change '
       .. "file_template"},
      {"a hidden file name", ".%(rev)s",
       'file_template ".%(rev)s" gives ".12345.lua" (a name starting with \'.\', which luamig '
       .. "skips when it looks for scripts); change file_template"},
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        local loc = project()
        local err = h.error_of(scaffold.write_revision, {
          script_location = loc, message = "m", rev_id = "12345", file_template = case[2]})
        assert.equal(case[3], err)
        assert.same({}, ls(loc .. "/versions"))
      end)
    end
  end)
end)

describe("slug", function()
  -- Alembic's own expectations (tests/test_script_production.py)
  it("cuts at a word boundary and keeps the underscore (_test_007_long_name)", function()
    assert.equal("this_is_a_really_long_name_with_lots_of_", scaffold.slug(
      "this is a really long name with lots of characters and also I'd like it to\nhave\n"
      .. "newlines"))
  end)

  it("honours truncate_slug_length (_test_008_long_name_configurable)", function()
    assert.equal("this_is_a_really_long_name_with_lots_of_characters_and_also_", scaffold.slug(
      "this is a really long name with lots of characters and also I'd like it to\nhave\n"
      .. "newlines", 60))
    local loc = project()
    local path = scaffold.write_revision{script_location = loc, rev_id = "a1",
                                        message = "one two three four", truncate_slug_length = 9}
    assert.equal(loc .. "/versions/a1_one_two_.lua", path)
  end)

  local cases = {
    {"turns every run of non-word characters into one underscore",
     "add column: users.email (NOT NULL)", "add_column_users_email_not_null"},
    {"keeps underscores, which are word characters", "__init__ a__b", "__init___a__b"},
    {"drops leading and trailing punctuation", "  -- drop it! --  ", "drop_it"},
    {"is empty for a message without word characters", "!!! ... ???", ""},
    {"lowercases Unicode letters and keeps them", "Straße über CAFÉ", "straße_über_café"},
    {"uses Python's final sigma", "ΟΔΟΣ ΣΑΣ", "οδος_σας"},
    {"lowercases dotted capital I to two code points", "İstanbul", "i\u{307}stanbul"},
    {"keeps CJK, digits of other scripts and superscripts", "日本語 ٣٤٥ x²", "日本語_٣٤٥_x²"},
    {"splits at emoji, combining marks and non-breaking spaces",
     "rocket🚀launch e\u{301}t\u{a0}b", "rocket_launch_e_t_b"},
    {"counts code points, not bytes, when truncating", ("é"):rep(30) .. " " .. ("ü"):rep(20),
     ("é"):rep(30) .. "_"},
    {"cuts a single long word at the length and adds an underscore", ("a"):rep(41),
     ("a"):rep(40) .. "_"},
    {"keeps a slug of exactly the length", ("a"):rep(40), ("a"):rep(40)},
    {"treats invalid UTF-8 as a separator", "bad\255bytes", "bad_bytes"},
  }
  for _, case in ipairs(cases) do
    it(case[1], function()
      assert.equal(case[3], scaffold.slug(case[2]))
    end)
  end

  it("matches Alembic's code on every message of the generated fixture", function()
    local fixture = dofile(FIXTURES .. "/slugs.lua")
    assert.is_true(#fixture > 300)
    local wrong = {}
    for _, c in ipairs(fixture) do
      local got = scaffold.slug(c[1], c[2])
      if got ~= c[3] then
        wrong[#wrong + 1] = ("%q (%d): got %q, Alembic %q"):format(c[1], c[2], got, c[3])
      end
    end
    assert.same({}, wrong)
  end)

  it("refuses a negative length", function()
    assert.equal("truncate_slug_length must be a non-negative integer, not -1",
                 h.error_of(scaffold.slug, "m", -1))
  end)
end)

describe("templates", function()
  it("uses script_location/script.lua.tmpl, with its extra values", function()
    local loc = project()
    h.write_file(loc .. "/script.lua.tmpl", [[
-- ${message_comment} (${revision_id}, from ${revises}) ${ticket}
revision = ${revision}
down_revision = ${down_revision}
branch_labels = ${branch_labels}
depends_on = ${depends_on}
message = ${message}
created = "${create_date}"
literal = "$${revision}"

function upgrade(op)
    ${upgrades}
end

function downgrade(op)
    ${downgrades}
end
]])
    local path = scaffold.write_revision{script_location = loc, message = "custom",
                                        rev_id = "a1", down_revision = "b2", now = NOW,
                                        utc = true, template_args = {ticket = "JIRA-7"},
                                        upgrades = "op.a()\nop.b()"}
    assert.equal([[
-- custom (a1, from b2) JIRA-7
revision = "a1"
down_revision = "b2"
branch_labels = nil
depends_on = nil
message = "custom"
created = "2012-07-25 15:08:05"
literal = "${revision}"

function upgrade(op)
    op.a()
    op.b()
end

function downgrade(op)
    -- undo them, e.g. op.drop_column("users", "name")
end
]], read(path))
    assert.equal("${revision}", load_script(path).literal)
  end)

  it("takes a template file given explicitly", function()
    local loc, dir = project()
    h.write_file(dir .. "/mine.tmpl", "revision = ${revision}\nmessage = ${message}\n"
                 .. "function upgrade(op) end\n-- mine\n")
    local path = scaffold.write_revision{script_location = loc, rev_id = "a1", message = "m",
                                        template = dir .. "/mine.tmpl"}
    assert.equal('revision = "a1"\nmessage = "m"\nfunction upgrade(op) end\n-- mine\n',
                 read(path))
  end)

  it("falls back to the built-in template", function()
    local loc = project()
    local path = scaffold.write_revision{script_location = loc, rev_id = "a1", message = "m"}
    assert.truthy(read(path):find("\nrevision      = \"a1\"\n", 1, true))
  end)

  it("refuses an unknown substitution, naming the template and line", function()
    local loc = project()
    h.write_file(loc .. "/script.lua.tmpl", "revision = ${revision}\n\nx = ${nope}\n")
    local err = h.error_of(scaffold.write_revision, {script_location = loc, rev_id = "a1"})
    assert.equal(loc .. "/script.lua.tmpl:3: unknown substitution ${nope}; the template may "
                 .. "use ${branch_labels}, ${create_date}, ${depends_on}, ${down_revision}, "
                 .. "${downgrades}, ${message}, ${message_comment}, ${revises}, ${revision}, "
                 .. "${revision_id}, ${upgrades}", err)
  end)

  it("refuses a template that drops metadata that was asked for", function()
    local loc = project()
    h.write_file(loc .. "/script.lua.tmpl", "revision = ${revision}\ndown_revision = "
                 .. "${down_revision}\nmessage = ${message}\nfunction upgrade(op) end\n")
    local err = h.error_of(scaffold.write_revision, {script_location = loc, rev_id = "a1",
                                                     message = "m", branch_labels = {"auth"}})
    assert.equal("the script rendered from " .. loc .. "/script.lua.tmpl has branch_labels = "
                 .. 'nil instead of {"auth"}; the template must contain branch_labels = '
                 .. "${branch_labels}", err)
    assert.same({}, ls(loc .. "/versions"))
  end)

  it("refuses a template without an upgrade function", function()
    local loc = project()
    h.write_file(loc .. "/script.lua.tmpl", "revision = ${revision}\nmessage = ${message}\n")
    local err = h.error_of(scaffold.write_revision, {script_location = loc, rev_id = "a1"})
    assert.equal("the script rendered from " .. loc .. "/script.lua.tmpl defines no upgrade "
                 .. "function; the template must contain function upgrade(op) ... end", err)
  end)

  it("refuses a template file that cannot be read", function()
    local loc = project()
    local err = h.error_of(scaffold.write_revision, {script_location = loc, rev_id = "a1",
                                                     template = loc .. "/none.tmpl"})
    assert.equal("cannot read the template " .. loc .. "/none.tmpl: " .. loc
                 .. "/none.tmpl: No such file or directory", err)
  end)
end)

describe("write_revision refuses", function()
  local function refusal(opts)
    local loc = project()
    opts.script_location = opts.script_location or loc
    local err = h.error_of(scaffold.write_revision, opts)
    return err, loc
  end

  for _, case in ipairs{
    {"a-b", "Character(s) '-' not allowed in revision identifier 'a-b'"},
    {"a@b", "Character(s) '@' not allowed in revision identifier 'a@b'"},
    {"a+b", "Character(s) '+' not allowed in revision identifier 'a+b'"},
    {"a:b", "Character(s) ':' not allowed in revision identifier 'a:b'"},
    {"@a-b+c:d", "Character(s) '+, -, :, @' not allowed in revision identifier '@a-b+c:d'"},
    {"../x", "Character(s) '/' not allowed in revision identifier '../x'"},
    {"a\nb", "Character(s) '\\010' not allowed in revision identifier 'a\\010b'"},
    {"", "revision id is empty; pass a revision id such as 3f2a9c1d8e7b with --rev-id, or "
         .. "none to have one generated"},
  } do
    it("the revision id " .. ("%q"):format(case[1]):gsub("\\\n", "\\n"), function()
      local err, loc = refusal{rev_id = case[1], message = "m"}
      assert.equal(case[2], err)
      assert.same({}, ls(loc .. "/versions"))
    end)
  end

  it("an id already present in the version directory", function()
    local loc = project()
    h.write_file(loc .. "/versions/x.lua", 'revision = "abc"\nfunction upgrade(op) end\n')
    local err = h.error_of(scaffold.write_revision, {script_location = loc, rev_id = "abc",
                                                     message = "other"})
    assert.equal("Revision abc is already present in " .. loc .. "/versions/x.lua; choose "
                 .. "another id with --rev-id, or leave it out to have one generated", err)
  end)

  it("an id in existing_ids, given as a set or a list", function()
    local err = refusal{rev_id = "abc", existing_ids = {abc = "versions/abc_x.lua"}}
    assert.equal("Revision abc is already present in versions/abc_x.lua; choose another id "
                 .. "with --rev-id, or leave it out to have one generated", err)
    err = refusal{rev_id = "abc", existing_ids = {"def", "abc"}}
    assert.equal("Revision abc is already present; choose another id with --rev-id, or leave "
                 .. "it out to have one generated", err)
    err = refusal{rev_id = "abc", existing_ids = {abc = true}}
    assert.equal("Revision abc is already present; choose another id with --rev-id, or leave "
                 .. "it out to have one generated", err)
  end)

  it("to overwrite a file", function()
    local loc = project()
    h.write_file(loc .. "/versions/abc_m.lua", "-- someone's work\n")
    local err = h.error_of(scaffold.write_revision, {script_location = loc, rev_id = "abc",
                                                     message = "m", existing_ids = {}})
    assert.equal("File " .. loc .. "/versions/abc_m.lua already exists; choose another "
                 .. "--rev-id or file_template, or remove the file", err)
    assert.equal("-- someone's work\n", read(loc .. "/versions/abc_m.lua"))
  end)

  it("a script_location that does not exist", function()
    local dir = h.tmpdir()
    local err = h.error_of(scaffold.write_revision, {script_location = dir .. "/nope",
                                                     message = "m"})
    assert.equal("Path doesn't exist: '" .. dir .. "/nope'. Please use the 'init' command to "
                 .. "create a new scripts folder.", err)
  end)

  it("a version_path that is not a version location", function()
    local loc, dir = project()
    local err = refusal{script_location = loc, version_path = dir .. "/elsewhere",
                        message = "m"}
    assert.equal("Path " .. dir .. "/elsewhere is not represented in current version locations; "
                 .. "use one of: " .. loc .. "/versions", err)
  end)

  it("to guess between several version locations", function()
    local loc = project()
    local err = refusal{script_location = loc, message = "m",
                        version_locations = {loc .. "/a", loc .. "/b"}}
    assert.equal("Multiple version locations present, please specify --version-path (one of: "
                 .. loc .. "/a, " .. loc .. "/b)", err)
  end)

  it("a revision that is its own parent", function()
    local err = refusal{rev_id = "a1", down_revision = {"b2", "a1"}}
    assert.equal("revision a1 cannot be its own down_revision", err)
  end)

  it("a parent listed twice", function()
    local err = refusal{rev_id = "a1", down_revision = {"b2", "b2"}}
    assert.equal("down_revision lists b2 twice", err)
  end)

  it("metadata of the wrong type", function()
    assert.equal("message must be a string", refusal{message = 42})
    assert.equal("branch_labels must be nil, a string or a list of strings, not a number",
                 refusal{branch_labels = 1})
    assert.equal("depends_on[2] must be a non-empty string", refusal{depends_on = {"a", ""}})
    assert.equal("upgrades must be a string of Lua code, not a table", refusal{upgrades = {}})
  end)
end)

describe("issue 16 leftovers", function()
  it("revision --rev-id refuses the words targets reserve, and forms relative targets take", function()
    for _, id in ipairs{"head", "heads", "base", "current"} do
      local dir = h.project({})
      local status, out, err = h.luamig(dir, "revision -m x --rev-id " .. id)
      assert.equal(1, status, out .. err)
      assert.equal("", out)
      assert.truthy(err:find(("FAILED: revision id '%s' is a word targets reserve (base, head, heads, current): "
        .. "`luamig upgrade %s` would not name this revision; choose another id with --rev-id, or leave it out "
        .. "to have one generated"):format(id, id), 1, true), err)
      assert.same({}, ls(dir .. "/migrations/versions"))
      dir = h.project({{id = "a1"}, {id = "b1"}})
      status, out, err = h.luamig(dir, "merge heads -m x --rev-id " .. id)
      assert.equal(1, status, out .. err)
      assert.truthy(err:find(("FAILED: revision id '%s' is a word targets reserve"):format(id), 1, true), err)
      assert.same({"a1.lua", "b1.lua"}, ls(dir .. "/migrations/versions"))
    end
    for _, id in ipairs{"+1", "-1", "head-1", "heads+2", "x@head"} do
      local dir = h.project({})
      local status, out, err = h.luamig(dir, "revision -m x --rev-id=" .. id)
      assert.equal(1, status, out .. err)
      assert.truthy(err:find("not allowed in revision identifier '" .. id .. "'", 1, true), err)
      assert.same({}, ls(dir .. "/migrations/versions"))
    end
    -- a word that only starts like one is an id
    local dir = h.project({})
    local status, out, err = h.luamig(dir, "revision -m x --rev-id headline")
    assert.equal(0, status, out .. err)
    assert.same({"headline_x.lua"}, ls(dir .. "/migrations/versions"))
  end)
end)
