-- luamig import alembic PATH (issue 16, item 11): an Alembic versions/
-- directory translated into luamig scripts. The oracle is Alembic itself
-- (Debian's 1.8.1 under /usr/bin/python3): the original history runs under
-- Alembic on one fresh database, the imported one under luamig on another,
-- and after every step up and down the two schemas (normalised catalog
-- queries), rows and version rows must be equal, on SQLite and PostgreSQL.
local h = require "spec.helpers"
local core = require "luamig.core"

local FIXTURES = h.root .. "/spec/fixtures/alembic"
local PY = "/usr/bin/python3"

-- A luamig project that keeps Alembic's version table, with the history of
-- fixtures/alembic/NAME imported; returns its directory and the import's
-- status, stdout and stderr.
local function imported(name, extra_config)
  local dir = h.project({}, 'version_table = "alembic_version"\n' .. (extra_config or ""))
  local status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(FIXTURES .. "/" .. name .. "/versions"))
  return dir, status, out, err
end

-- SQLAlchemy's URL for one of the spec databases.
local function sqlalchemy_url(url)
  local path = url:match("^sqlite:(.*)$")
  if path then return "sqlite:///" .. path end
  -- the spec URLs name the database with ?dbname=, which psycopg2 refuses
  -- beside SQLAlchemy's own: it becomes the path
  local base, query = url:match("^postgres[%w]*://([^/]*)/[^?]*%?(.*)$")
  local params, dbname = {}, nil
  for k, v in query:gmatch("([^&=]+)=([^&]*)") do
    if k == "dbname" then dbname = v else params[#params + 1] = k .. "=" .. v end
  end
  return ("postgresql+psycopg2://%s/%s?%s"):format(base, dbname, table.concat(params, "&"))
end

-- Histories run without a naming convention under Alembic (luamig gets
-- naming_convention = "postgresql" / "sqlite", the databases' own names).
local NO_NAMING = {autogen_style = true, pg_names = true}

-- Runs Alembic on the original history NAME against url.
local function alembic(name, url, args)
  local dir = h.tmpdir()
  h.write_file(dir .. "/alembic.ini", ("[alembic]\nscript_location = %s\nversion_locations = %s/%s/versions\n%s")
    :format(FIXTURES, FIXTURES, name, NO_NAMING[name] and "naming_convention = none\n" or ""))
  return h.run(("cd %s && ALEMBIC_URL=%s %s -m alembic -c alembic.ini %s"):format(
    h.shell_quote(dir), h.shell_quote(sqlalchemy_url(url)), PY, args))
end

local function sorted(t) table.sort(t) return t end
local function squash(s) return s and (s:gsub('"', ""):gsub("%s+", " "):gsub("^%((.*)%)$", "%1")) end

-- SQLite's type names for the same affinity: SQLAlchemy writes DATETIME
-- where luamig writes TIMESTAMP / TIMESTAMPTZ.
local sqlite_type = {DATETIME = "TIMESTAMP", TIMESTAMPTZ = "TIMESTAMP"}

-- The schema and rows of a database as comparable lines (the version table left out).
local function sqlite_schema(url)
  local lines = {}
  local conn = core.connect(url)
  local tables = conn:query("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
    .. "'sqlite%' AND name NOT LIKE 'luamig%' AND name NOT IN ('alembic_version', 'alembic_log') ORDER BY name")
  for _, t in ipairs(tables) do
    local q = core.quote_ident(t.name)
    for _, c in ipairs(conn:query("SELECT * FROM pragma_table_info(" .. core.quote_literal("sqlite", t.name) .. ")")) do
      local ty = c.type:upper()
      lines[#lines + 1] = ("%s.%s %s notnull=%s default=%s pk=%s"):format(t.name, c.name, sqlite_type[ty] or ty,
        c.notnull, squash(c.dflt_value), c.pk)
    end
    for name, kind in t.sql:gmatch('CONSTRAINT%s+"?([%w_]+)"?%s+(%u+)') do
      lines[#lines + 1] = ("%s constraint %s %s"):format(t.name, name, kind)
    end
    for cond in t.sql:gmatch("CHECK%s*(%b())") do lines[#lines + 1] = t.name .. " check " .. squash(cond) end
    for _, fk in ipairs(conn:query("SELECT * FROM pragma_foreign_key_list(" .. core.quote_literal("sqlite", t.name) .. ")")) do
      lines[#lines + 1] = ("%s fk %s -> %s.%s on delete %s on update %s"):format(t.name, fk.from, fk.table, fk.to,
        fk.on_delete, fk.on_update)
    end
    for _, ix in ipairs(conn:query("SELECT * FROM pragma_index_list(" .. core.quote_literal("sqlite", t.name) .. ")")) do
      local cols = {}
      for _, c in ipairs(conn:query("SELECT name FROM pragma_index_info(" .. core.quote_literal("sqlite", ix.name) .. ")")) do
        cols[#cols + 1] = c.name or "<expr>"
      end
      local sql = conn:query("SELECT sql FROM sqlite_master WHERE name = $1", {ix.name})[1].sql
      lines[#lines + 1] = ("%s index %s unique=%s %s %s"):format(t.name, ix.origin == "c" and ix.name or "(auto)",
        ix.unique, table.concat(cols, ","), sql and squash(sql:match("%b()(.*)$")) or "")
    end
    for _, r in ipairs(conn:query("SELECT * FROM " .. q .. " ORDER BY 1")) do
      local cells = {}
      for k, v in pairs(r) do cells[#cells + 1] = k .. "=" .. tostring(v) end
      lines[#lines + 1] = t.name .. " row " .. table.concat(sorted(cells), " ")
    end
  end
  conn:close()
  return sorted(lines)
end

local function pg_schema(url)
  local lines = {}
  local conn = core.connect(url)
  local skip = "NOT IN ('alembic_version', 'alembic_log') AND %s NOT LIKE 'luamig%%'"
  for _, c in ipairs(conn:query(([[
      SELECT table_name, column_name, udt_name AS data_type, character_maximum_length AS len, numeric_precision AS p,
             numeric_scale AS s, is_nullable, column_default, is_identity,
             col_description(format('%%I', table_name)::regclass, ordinal_position::int) AS comment
      FROM information_schema.columns WHERE table_schema = current_schema() AND table_name ]] .. skip)
      :format("table_name"))) do
    local default, auto = c.column_default, c.is_identity == "YES"
    if default and default:match("^nextval%(") then default, auto = nil, true end   -- serial = identity
    lines[#lines + 1] = ("%s.%s %s(%s,%s,%s) null=%s default=%s auto=%s comment=%s"):format(c.table_name,
      c.column_name, c.data_type, c.len, c.p, c.s, c.is_nullable, default, auto, c.comment)
  end
  for _, t in ipairs(conn:query(([[SELECT table_name, obj_description(format('%%I', table_name)::regclass,
      'pg_class') AS comment FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_name ]] .. skip):format("table_name"))) do
    lines[#lines + 1] = ("%s comment=%s"):format(t.table_name, t.comment)
  end
  for _, k in ipairs(conn:query(([[
      SELECT conrelid::regclass::text AS t, conname, contype, pg_get_constraintdef(oid) AS def
      FROM pg_constraint WHERE connamespace = current_schema()::regnamespace AND conrelid <> 0
        AND conrelid::regclass::text ]] .. skip):format("conrelid::regclass::text"))) do
    lines[#lines + 1] = ("%s constraint %s %s %s"):format(k.t, k.conname, k.contype, k.def)
  end
  for _, i in ipairs(conn:query(([[SELECT tablename, indexname, indexdef FROM pg_indexes
      WHERE schemaname = current_schema() AND tablename ]] .. skip):format("tablename"))) do
    lines[#lines + 1] = ("%s index %s %s"):format(i.tablename, i.indexname, i.indexdef)
  end
  for _, e in ipairs(conn:query([[SELECT t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS labels
      FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
      WHERE t.typnamespace = current_schema()::regnamespace GROUP BY t.typname]])) do
    lines[#lines + 1] = ("enum %s %s"):format(e.typname, e.labels)
  end
  for _, t in ipairs(conn:query(([[SELECT table_name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_name ]] .. skip):format("table_name"))) do
    for _, r in ipairs(conn:query("SELECT * FROM " .. core.quote_ident(t.table_name) .. " ORDER BY 1")) do
      local cells = {}
      for k, v in pairs(r) do
        v = tostring(v)
        -- values the server makes (gen_random_uuid(), now()) differ run to run
        if v:match("^%x+%-%x+%-%x+%-%x+%-%x+$") or v:match("^%d+%-%d+%-%d+ %d+:%d+:[%d.]+%+00$") then
          v = "<generated>"
        end
        cells[#cells + 1] = k .. "=" .. v
      end
      lines[#lines + 1] = t.table_name .. " row " .. table.concat(sorted(cells), " ")
    end
  end
  conn:close()
  return sorted(lines)
end

local function schema(db, url)
  return db.name == "sqlite" and sqlite_schema(url) or pg_schema(url)
end

-- Runs the same commands under Alembic (original) and luamig (imported),
-- comparing after each one.
local function compare_steps(db, name, steps, dir)
  local a_url, l_url = db.url(), db.url()
  for _, step in ipairs(steps) do
    local s1, o1, e1 = alembic(name, a_url, step)
    assert.equal(0, s1, step .. " under Alembic:\n" .. o1 .. e1)
    local s2, o2, e2 = h.luamig(dir, "--url " .. h.shell_quote(l_url) .. " " .. step)
    assert.equal(0, s2, step .. " under luamig:\n" .. o2 .. e2)
    assert.same(h.version_rows(a_url, "alembic_version"), h.version_rows(l_url, "alembic_version"), step)
    local want, got = schema(db, a_url), schema(db, l_url)
    if NO_NAMING[name] and db.name == "sqlite" then
      -- SQLite keeps no name for an unnamed constraint, luamig names every
      -- one (doc/op.md, naming_convention = "sqlite"): the names are left
      -- out, the constraints themselves (pk, foreign keys, unique indexes) compared
      local function unnamed(lines)
        local out = {}
        for _, l in ipairs(lines) do if not l:find(" constraint ", 1, true) then out[#out + 1] = l end end
        return out
      end
      want, got = unnamed(want), unnamed(got)
    end
    assert.same(want, got, "after " .. step)
  end
end

local HISTORY_STEPS = {
  "upgrade 1a2b3c4d5e6f", "upgrade 2b3c4d5e6f70", "upgrade 3a000000000a", "upgrade 3b000000000b",
  "upgrade audit@head", "upgrade heads", "downgrade 3a000000000a", "downgrade audit@base",
  "downgrade 2b3c4d5e6f70", "downgrade base", "upgrade heads",
}

describe("import alembic: the headers (Alembic's history as the oracle)", function()
  it("keeps revision ids, parents (a tuple as a list), branch labels, depends_on and messages", function()
    local dir, status, out, err = imported("history")
    assert.equal(0, status, err)
    assert.truthy(out:find("Imported 6 Alembic revision(s) from ", 1, true), out)
    assert.truthy(out:find("Every statement was translated.", 1, true), out)
    local text = h.read_file(dir .. "/migrations/versions/4c000000000c_merge.lua")
    assert.truthy(text:find('down_revision = {"3a000000000a", "3b000000000b"}', 1, true), text)
    assert.truthy(text:find('message       = "merge the batch and tags branches"', 1, true), text)
    assert.truthy(text:find("-- Create Date: 2023-01-06 10:11:12.000000", 1, true), text)
    text = h.read_file(dir .. "/migrations/versions/5d000000000d_audit.lua")
    assert.truthy(text:find('branch_labels = {"audit"}', 1, true), text)
    assert.truthy(text:find('depends_on    = {"2b3c4d5e6f70"}', 1, true), text)
    local _, hist = h.luamig(dir, "history")
    local astatus, want = alembic("history", "sqlite:" .. h.tmpdir() .. "/unused.db", "history")
    assert.equal(0, astatus)
    assert.equal(want, hist)                          -- Alembic's own listing of the originals
  end)
end)

h.each_db(function(db)
  describe("import alembic: the same schema as Alembic after every step", function()
    it("a history with a branch, a merge, branch labels, depends_on, batch blocks, bulk_insert", function()
      local dir, status, _, err = imported("history")
      assert.equal(0, status, err)
      compare_steps(db, "history", HISTORY_STEPS, dir)
    end)
  end)
end)

h.each_db(function(db)
  describe("import alembic: hostile names and values, as Alembic", function()
    it("quotes, keywords, spaces, ]] and ]=] in strings, newlines, tabs, CR, 64-bit extremes", function()
      local dir, status, out, err = imported("hostile")
      assert.equal(0, status, err)
      assert.truthy(out:find("Imported 1 Alembic revision(s)", 1, true), out)   -- __init__.py is not one
      compare_steps(db, "hostile", {"upgrade head", "downgrade base", "upgrade head"}, dir)
    end)
  end)
end)

h.each_db(function(db)
  describe("import alembic: an autogenerate-style history without a naming convention", function()
    it("unnamed constraints get the database's own names under naming_convention = \"" .. db.name .. "\"", function()
      local dir, status, _, err = imported("autogen_style", ('naming_convention = "%s"\n'):format(db.name))
      assert.equal(0, status, err)
      compare_steps(db, "autogen_style", {"upgrade +1", "upgrade +1", "upgrade +1", "downgrade -1",
        "downgrade base", "upgrade head"}, dir)
    end)
  end)
end)

describe("[postgresql] import alembic: PostgreSQL types, alter_column, constraints, as Alembic", function()
  it("UUID, JSONB, ARRAY, INET, Interval, comments, func.now(), true(), postgresql_using, include, where", function()
    local dir, status, out, err = imported("pg_history")
    assert.equal(0, status, err)
    assert.truthy(out:find("Every statement was translated.", 1, true), out)
    compare_steps(h.dialects[2], "pg_history", {"upgrade c001", "upgrade c002", "downgrade c001",
      "downgrade base", "upgrade head"}, dir)
  end)
end)

-- The op API for enums, index options and autocommit_block (the enum and
-- index helpers' work): pending on a build without it.
local function has_op(name)
  local op = require("luamig.op").new{dialect = "postgresql", emit = function() end}
  return (pcall(function() return op[name] end))
end

h.each_db(function(db)
  describe("import alembic, needs enum/index branches: enums, index options, autocommit_block", function()
    it("the same schema as Alembic after every step", function()
      if not (has_op("create_enum") and has_op("autocommit_block") and has_op("enum")) then
        pending("needs the enum and index branches (op.enum, op.create_enum, op.autocommit_block)")
        return
      end
      local dir, status, _, err = imported("enum_index")
      assert.equal(0, status, err)
      compare_steps(db, "enum_index", {"upgrade head", "downgrade base", "upgrade head"}, dir)
    end)
  end)
end)

describe("import alembic: what cannot be translated", function()
  local UNTRANSLATED = {
    "versions/aa01_data_fixes.py:28: op.get_bind(): Python code using the connection",
    "versions/aa01_data_fixes.py:29: a for loop",
    "versions/aa01_data_fixes.py:31: an if statement",
    "versions/aa01_data_fixes.py:33: an f-string with expressions",
    "versions/aa01_data_fixes.py:34: an assignment: session = Session(bind=op.get_bind())",
    "versions/aa01_data_fixes.py:37: a call of helper(...)",
    "versions/aa01_data_fixes.py:39: a literal value, got datetime(2020, 1, 1)",
    "versions/aa01_data_fixes.py:41: op.execute with a :parameter",
  }

  it("lists every place FILE:LINE: WHAT, writes the scripts and exits 0", function()
    local dir, status, out, err = imported("untranslated")
    assert.equal(0, status, err)
    local want = "Not translated: 8 place(s); each script raises error(\"not translated: ...\") there, "
      .. "under the Python it replaces. Translate them by hand:\n  " .. table.concat(UNTRANSLATED, "\n  ") .. "\n"
    assert.equal(want, (out:match("Not translated:.*$"):gsub("Naming convention:[^\n]*\n", "")))
  end)

  it("puts error(\"not translated: ...\") at the place, under the Python it replaces, in a batch block too", function()
    local dir = imported("untranslated")
    local text = h.read_file(dir .. "/migrations/versions/aa01_data_fixes.lua")
    assert.truthy(text:find([[
  -- not translated (versions/aa01_data_fixes.py:29-30):
  --   for row in conn.execute(sa.text("SELECT id FROM accounts")):
  --       conn.execute(sa.text("UPDATE accounts SET name = 'x' WHERE id = :id"), {"id": row.id})
  error("not translated: versions/aa01_data_fixes.py:29: a for loop")
]], 1, true), text)
    assert.truthy(text:find([[
  op.batch_alter_table("accounts", function(batch_op)
    batch_op.add_column({"joined", "timestamp", nullable = true})
    -- not translated (versions/aa01_data_fixes.py:37):
    --   helper(batch_op)
    error("not translated: versions/aa01_data_fixes.py:37: a call of helper(...)")
  end)
]], 1, true), text)
    -- what translates around them is translated, comments kept
    assert.truthy(text:find('  -- the accounts table\n  op.create_table("accounts", {', 1, true), text)
    assert.truthy(text:find('op.add_column("accounts", {"flag", "boolean", server_default = false})', 1, true), text)
  end)

  h.each_db(function(db)
    it("the script stops at the first such place, naming it, and nothing of the step stays", function()
      local dir = imported("untranslated")
      local url = db.url()
      local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")
      assert.equal(1, status)
      assert.truthy(err:find("migrations/versions/aa01_data_fixes.lua:21: not translated: "
        .. "versions/aa01_data_fixes.py:28: op.get_bind(): Python code using the connection", 1, true), err)
      assert.same({}, h.version_rows(url, "alembic_version"))
      assert.same({"alembic_log", "alembic_version"}, h.tables(url))   -- no "accounts"
    end)
  end)
end)

describe("import alembic: refusals (nothing is written)", function()
  local function versions_of(dir)
    local _, out = h.run("ls -A " .. h.shell_quote(dir .. "/migrations/versions"))
    return out
  end

  it("a Python syntax error, with file and line from Python", function()
    local dir = h.project({}, 'version_table = "alembic_version"\n')
    local status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(FIXTURES .. "/broken/versions"))
    assert.equal(1, status, out)
    assert.equal("FAILED: import alembic: nothing imported:\n"
      .. "  versions/bb02_broken.py:13: '(' was never closed (Python syntax error)\n", err)
    assert.equal("", versions_of(dir))
  end)

  it("a revision id the project already has", function()
    local dir = imported("history")
    local before = versions_of(dir)
    local status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(FIXTURES .. "/history/versions"))
    assert.equal(1, status)
    assert.truthy(err:find("  versions/1a2b3c4d5e6f_create_users.py: revision 1a2b3c4d5e6f already exists in "
      .. "the project (migrations/versions/1a2b3c4d5e6f_create_users.lua)\n", 1, true), err)
    assert.equal(before, versions_of(dir))
  end)

  it("a directory without *.py revisions, or no directory", function()
    local dir = h.project({}, "")
    local empty = h.tmpdir()
    h.write_file(empty .. "/README", "x")
    local status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(empty))
    assert.equal(1, status)
    assert.equal(("FAILED: import alembic: no Alembic revision files (*.py) in %s; give the Alembic "
      .. "project's versions/ directory\n"):format(empty), err)
    status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(empty .. "/nope"))
    assert.equal(1, status)
    assert.truthy(err:find(empty .. "/nope is not a directory", 1, true), err)
  end)

  it("the Alembic project directory is taken for its versions/", function()
    local dir = h.project({}, "")
    local status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(FIXTURES .. "/history"))
    assert.equal(0, status, err)
    assert.truthy(out:find("Imported 6 Alembic revision(s) from " .. FIXTURES .. "/history/versions", 1, true), out)
  end)

  it("a .py file that is not a revision, a header that is not a literal, two files with one id", function()
    local alembic_dir = h.tmpdir()
    h.write_file(alembic_dir .. "/a1_ok.py", "revision = 'a1'\ndown_revision = None\n")
    h.write_file(alembic_dir .. "/helpers.py", "def f():\n    pass\n")
    h.write_file(alembic_dir .. "/a2_dyn.py", "import os\nrevision = os.environ['R']\ndown_revision = 'a1'\n")
    h.write_file(alembic_dir .. "/a3_dup.py", "revision = 'a1'\ndown_revision = ('x', 3)\n")
    h.write_file(alembic_dir .. "/a4_dup.py", "revision = 'a1'\ndown_revision = None\n")
    local dir = h.project({}, "")
    local status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(alembic_dir))
    assert.equal(1, status)
    local base = alembic_dir:match("([^/]+)$")
    assert.truthy(err:find(base .. "/helpers.py: no revision = \"...\" line: not an Alembic revision file", 1, true), err)
    assert.truthy(err:find(base .. "/a2_dyn.py:2: revision is not a literal value", 1, true), err)
    assert.truthy(err:find(base .. "/a3_dup.py:2: down_revision must be a string or a tuple of strings", 1, true), err)
    assert.equal("", versions_of(dir))
    os.remove(alembic_dir .. "/helpers.py") os.remove(alembic_dir .. "/a2_dyn.py") os.remove(alembic_dir .. "/a3_dup.py")
    status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(alembic_dir))
    assert.equal(1, status)
    assert.truthy(err:find(base .. "/a4_dup.py: revision a1 is also the revision of " .. base .. "/a1_ok.py", 1, true), err)
    assert.equal("", versions_of(dir))
  end)

  it("no python3 on PATH: says so", function()
    local bin = h.tmpdir()
    for _, tool in ipairs{"ls", "mkdir", "mv", "rm", "cat", "test"} do
      os.execute(("ln -s $(command -v %s) %s/%s"):format(tool, h.shell_quote(bin), tool))
    end
    local dir = h.project({}, "")
    local status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(FIXTURES .. "/history"), {PATH = bin})
    assert.equal(1, status)
    assert.equal("FAILED: import alembic needs python3 on PATH to read the Alembic files with Python's own "
      .. "parser (an Alembic project has one); none was found. Install python3 or put it on PATH.\n", err)
    assert.equal("", versions_of(dir))
  end)

  it("(not a refusal) file and directory names a shell would misread are used as they are", function()
    local src = h.tmpdir() .. "/src dir"
    os.execute("mkdir -p " .. h.shell_quote(src))
    h.write_file(src .. "/-x it's $(touch pwned).py", h.read_file(FIXTURES .. "/autogen_style/versions/0a1b2c3d4e5f_users.py"))
    local dir = h.project({}, "")
    local status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(src))
    assert.equal(0, status, err)
    assert.truthy(out:find("-x it's $(touch pwned).lua ...  done", 1, true), out)
    assert.is_false(h.file_exists(dir .. "/pwned"))
    local _, hist = h.luamig(dir, "history")
    assert.equal("<base> -> 0a1b2c3d4e5f (head), users table\n", hist)
  end)

  it("another kind than alembic is a usage error", function()
    local dir = h.project({}, "")
    local status, _, err = h.luamig(dir, "import django x")
    assert.equal(2, status)
    assert.truthy(err:find("luamig: import knows 'alembic' only, got 'django'", 1, true), err)
  end)

  it("a file whose name is taken already", function()
    local dir = h.project({}, "")
    local mine = 'revision = "mine01"\ndown_revision = nil\nfunction upgrade(op) end\nfunction downgrade(op) end\n'
    h.write_file(dir .. "/migrations/versions/h001_weird_names.lua", mine)
    local status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(FIXTURES .. "/hostile"))
    assert.equal(1, status)
    assert.truthy(err:find("versions/h001_weird_names.py: migrations/versions/h001_weird_names.lua already exists", 1, true), err)
    assert.equal(mine, h.read_file(dir .. "/migrations/versions/h001_weird_names.lua"))
  end)
end)

describe("import alembic: the translation of each construct", function()
  -- Imports one revision whose upgrade() is body; returns the script's upgrade body.
  local function translate(body, module_level)
    local src = h.tmpdir()
    h.write_file(src .. "/t1_x.py", "from alembic import op\nimport sqlalchemy as sa\n"
      .. "from sqlalchemy.dialects import postgresql\n" .. (module_level or "")
      .. "revision = 't1'\ndown_revision = None\n\n\ndef upgrade():\n" .. body .. "\n\n\ndef downgrade():\n    pass\n")
    local dir = h.project({}, "")
    local status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(src))
    assert.equal(0, status, err)
    local text = h.read_file(dir .. "/migrations/versions/t1_x.lua")
    return text:match("function upgrade%(op%)\n(.-)\nend\n"), out
  end

  it("types (SQLAlchemy's name for name where luamig has it)", function()
    local lua = translate([[
    op.create_table('t',
        sa.Column('a', sa.String(30, collation='C')),
        sa.Column('b', postgresql.ARRAY(sa.Integer(), dimensions=2)),
        sa.Column('c', sa.Time(timezone=True)),
        sa.Column('d', sa.TIMESTAMP(timezone=True, precision=3)),
        sa.Column('e', sa.Float(precision=24)),
        sa.Column('f', sa.Numeric(8)),
        sa.Column('g', sa.Unicode()),
        sa.Column('h', postgresql.CITEXT()),
        sa.Column('i', sa.CHAR(2)),
        sa.Column('j', sqlmodel.sql.sqltypes.AutoString(length=9)),
    )]], "import sqlmodel\n")
    assert.equal([[
  op.create_table("t", {
    {"a", 'string(30) collate "C"'},
    {"b", "integer[][]"},
    {"c", "time with time zone"},
    {"d", "timestamptz(3)"},
    {"e", "float(24)"},
    {"f", "numeric(8)"},
    {"g", "string"},
    {"h", "citext"},
    {"i", "char(2)"},
    {"j", "string(9)"},
  })]], lua)
  end)

  it("table comments, index, unique and comment on columns, a named ForeignKey, a column check", function()
    local lua = translate([[
    op.create_table('t',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('p', sa.Integer, sa.ForeignKey('parent.id', name='fk_t_p', ondelete='CASCADE'), index=True),
        sa.Column('q', sa.Integer, sa.CheckConstraint('q > 0'), unique=True, comment="it's"),
        mysql_engine='InnoDB',
    )
    op.create_table_comment('t', 'a table', existing_comment=None)
    op.drop_table_comment('t', existing_comment='a table')]])
    assert.equal([[
  op.create_table("t", {
    {"id", "integer", primary_key = true},
    {"p", "integer", index = true},
    {"q", "integer", check = "q > 0", unique = true, comment = "it's"},
    {foreign_key = {"p"}, references = {"parent", {"id"}}, name = "fk_t_p", ondelete = "CASCADE"},
  })
  op.create_table_comment("t", "a table")
  op.drop_table_comment("t", {existing_comment = "a table"})]], lua)
  end)

  it("what is refused in place: schema=, Identity, native_enum=False, copy_from, a bulk_insert of a query, "
    .. "drop_constraint(None)", function()
    local lua, out = translate([[
    op.create_table('t', sa.Column('id', sa.Integer, sa.Identity()), schema='other')
    op.add_column('t', sa.Column('id', sa.Integer, sa.Identity()))
    op.add_column('t', sa.Column('e', sa.Enum('a', name='e', native_enum=False)))
    op.drop_column('t', 'c', schema='other')
    with op.batch_alter_table('t', copy_from=tbl) as b:
        b.drop_column('c')
    op.bulk_insert(tbl, rows)
    op.create_exclude_constraint('x', 't', ('c', '&&'))
    op.drop_constraint(None, 't', type_='foreignkey')]])
    for _, want in ipairs{
      "t1_x.py:9: sa.Identity() in a Column",
      "t1_x.py:10: sa.Identity() in a Column",
      "t1_x.py:11: Enum(native_enum=False)",
      "t1_x.py:12: schema=",
      "t1_x.py:13: batch_alter_table(copy_from=...)",
      "t1_x.py:15: bulk_insert into tbl",
      "t1_x.py:16: op.create_exclude_constraint(...): no translation for this operation",
      "t1_x.py:17: drop_constraint(None, ...): a constraint without a name (Alembic fails here too; "
        .. "give the name the database has)",
    } do
      assert.truthy(out:find(want, 1, true), want .. "\n" .. out)
      assert.truthy(lua:find("/" .. want .. '")', 1, true), lua)
    end
    assert.equal(8, select(2, lua:gsub('error%("not translated: ', "")))
    assert.equal(0, select(2, lua:gsub("\n  op%.", "")) + (lua:find("^  op%.") and 1 or 0))   -- nothing half-translated
  end)

  it("a module-level enum, its create and drop, enum columns (SQLAlchemy 1.4's: no CHECK on SQLite "
    .. "without create_constraint=True)", function()
    local lua = translate([[
    mood.create(op.get_bind())
    op.add_column('t', sa.Column('m', mood))
    op.add_column('t', sa.Column('n', sa.Enum('a', 'bb', name='e2')))
    sa.Enum('x', name='other').create(op.get_bind(), checkfirst=True)
    postgresql.ENUM(name='gone').drop(op.get_bind(), checkfirst=True)]],
      "mood = sa.Enum('happy', 'sad', name='mood', create_constraint=True)\n")
    assert.equal([[
  local mood = op.enum({"happy", "sad"}, {name = "mood"})
  op.create_enum("mood", {"happy", "sad"})
  op.add_column("t", {"m", mood})
  op.add_column("t", {"n", op.dialect == "sqlite" and "string(2)" or op.enum({"a", "bb"}, {name = "e2"})})
  op.create_enum("other", {"x"}, {if_not_exists = true})
  op.drop_enum("gone", {if_exists = true})]], lua)
  end)

  it("a module docstring without a message, annotated headers, a BOM and a latin-1 coding cookie", function()
    local src = h.tmpdir()
    h.write_file(src .. "/r1.py", "\239\187\191from typing import Union\nrevision: str = 'r1'\n"
      .. "down_revision: Union[str, None] = None\nbranch_labels: Union[str, None] = 'lbl'\n"
      .. "def upgrade() -> None:\n    op.execute('SELECT 1')\n")
    h.write_file(src .. "/r2.py", "# -*- coding: latin-1 -*-\n\"\"\"caf\233\"\"\"\nrevision = 'r2'\n"
      .. "down_revision = 'r1'\ndef upgrade():\n    op.execute(\"SELECT 'caf\233'\")\n")
    local dir = h.project({}, "")
    local status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(src))
    assert.equal(0, status, err)
    local r1 = h.read_file(dir .. "/migrations/versions/r1.lua")
    assert.truthy(r1:find('branch_labels = {"lbl"}', 1, true), r1)
    assert.truthy(r1:find('message       = nil', 1, true), r1)
    -- no downgrade(): Alembic fails on that step (AttributeError), so does the script (outside attack, item 6)
    assert.truthy(r1:find('r1.py:1: downgrade() is missing: Alembic fails on this step")', 1, true), r1)
    local r2 = h.read_file(dir .. "/migrations/versions/r2.lua")
    assert.truthy(r2:find('message       = "café"', 1, true), r2)
    assert.truthy(r2:find([[op.execute("SELECT 'café'")]], 1, true), r2)
  end)
end)

-- Outside attacker C's report (issue 16): each defect's reproducer.
describe("import alembic: outside attack", function()
  -- A directory of Alembic revision files {name = source}; returns its path.
  local function sources(files)
    local src = h.tmpdir() .. "/versions"
    os.execute("mkdir " .. h.shell_quote(src))
    for name, text in pairs(files) do h.write_file(src .. "/" .. name, text) end
    return src
  end
  local function rev(id, down, body, extra)
    return ("\"\"\"m\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n%srevision = %s\ndown_revision = %s\n\n\n"
      .. "def upgrade():\n%s\n\n\ndef downgrade():\n    pass\n"):format(extra or "", id, down, body or "    pass")
  end

  it("1: a revision id, parent, depends_on or branch label that is not a luamig id is refused at FILE:LINE", function()
    local marker = h.tmpdir() .. "/PWNED"
    for _, case in ipairs{
      {rev("'bb\\nos.execute(\"touch " .. marker .. "\")'", "'aa'"), "bb.py:4: revision: Character(s) '\\010"},
      {rev("'bb'", "('aa', 'zz\\nos.execute(\"touch " .. marker .. "\")')"), "bb.py:5: down_revision: Character(s) '\\010"},
      {rev("'bb'", "'aa'", nil, "depends_on = 'x\\ry'\n"), "bb.py:4: depends_on: Character(s) '\\013'"},
      {rev("'bb'", "'aa'", nil, "branch_labels = ('a/b',)\n"), "bb.py:4: branch_labels: Character(s) '/'"},
      {rev("'b-b'", "'aa'"), "bb.py:4: revision: Character(s) '-'"},
    } do
      local src = sources{["aa.py"] = rev("'aa'", "None"), ["bb.py"] = case[1]}
      local dir = h.project({}, "")
      local status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(src))
      assert.equal(1, status, err)
      assert.truthy(err:find(case[2], 1, true), err)
      assert.truthy(err:find("nothing imported", 1, true), err)
      assert.is_nil(h.read_file(dir .. "/migrations/versions/aa.lua"))
      assert.is_nil(h.read_file(marker))
    end
  end)

  it("1: every header comment line keeps its -- (a Create Date with a CR, a multi-line message)", function()
    local src = sources{["aa.py"] = '"""one\nos.execute(\'x\')\n\nRevision ID: aa\nCreate Date: 2020\rerror(\'boom\')\n"""\n'
      .. "revision = 'aa'\ndown_revision = None\n\ndef upgrade():\n    pass\n\ndef downgrade():\n    pass\n"}
    local dir = h.project({}, "")
    local status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(src))
    assert.equal(0, status, err)
    local text = h.read_file(dir .. "/migrations/versions/aa.lua")
    local header = text:match("^(.-)\n\n")
    for line in (header .. "\n"):gmatch("(.-)[\r\n]") do assert.truthy(line:match("^%-%-"), line) end
    status, _, err = h.luamig(dir, "history")
    assert.equal(0, status, err)
    -- a directory name with a line break reaches the "-- not translated (DIR/FILE:LINE)" comment
    local parent = h.tmpdir() .. "/v\nerror('injected')"
    os.execute("mkdir " .. h.shell_quote(parent))
    h.write_file(parent .. "/aa.py", "revision = 'aa'\ndown_revision = None\n\ndef upgrade():\n    for x in y:\n"
      .. "        pass\n\ndef downgrade():\n    pass\n")
    dir = h.project({}, "")
    status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(parent))
    assert.equal(0, status, err)
    text = h.read_file(dir .. "/migrations/versions/aa.lua")
    assert.truthy(text:find("-- not translated (v\\010error('injected')/aa.py:5-6):", 1, true), text)
    assert.falsy(text:find("\nerror('injected')", 1, true), text)
  end)

  it("2: a decorated, async or rebound upgrade()/downgrade() is not translated (Alembic runs something else)", function()
    local src = sources{["aa.py"] = "from alembic import op\nimport functools\nrevision = 'aa'\ndown_revision = None\n\n"
      .. "def only_pg(f):\n    return f\n\n\n@only_pg\ndef upgrade():\n    op.execute('SELECT 1')\n\n\n"
      .. "async def downgrade():\n    op.execute('SELECT 2')\n",
      ["bb.py"] = "from alembic import op\nrevision = 'bb'\ndown_revision = 'aa'\n\n"
      .. "def upgrade():\n    op.execute('SELECT 1')\n\n\nupgrade = print\n\n\ndef downgrade():\n    pass\n"}
    local dir = h.project({}, "")
    local status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(src))
    assert.equal(0, status, err)
    assert.truthy(out:find("versions/aa.py:10: upgrade() has the decorator @only_pg: the function Alembic runs is not its body",
      1, true), out)
    assert.truthy(out:find("versions/aa.py:15: downgrade() is an async def", 1, true), out)
    assert.truthy(out:find("versions/bb.py:9: upgrade is bound again at line 9", 1, true), out)
    local aa = h.read_file(dir .. "/migrations/versions/aa.lua")
    assert.falsy(aa:find('op.execute("SELECT', 1, true), aa)
    status, _, err = h.luamig(dir, "--url " .. h.shell_quote("sqlite:" .. dir .. "/x.db") .. " upgrade head")
    assert.equal(1, status)
    assert.truthy(err:find("not translated: versions/aa.py:10: upgrade() has the decorator @only_pg", 1, true), err)
  end)

  it("6: a missing downgrade() fails on that step as under Alembic, not a silent no-op", function()
    local src = sources{["aa.py"] = "from alembic import op\nimport sqlalchemy as sa\nrevision = 'aa'\n"
      .. "down_revision = None\n\ndef upgrade():\n    op.create_table('t', sa.Column('id', sa.Integer))\n"}
    local dir = h.project({}, "")
    local status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(src))
    assert.equal(0, status, err)
    assert.truthy(out:find("versions/aa.py:1: downgrade() is missing: Alembic fails on this step", 1, true), out)
    local url = "sqlite:" .. dir .. "/x.db"
    status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")
    assert.equal(0, status, err)
    status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " downgrade base")
    assert.equal(1, status)
    assert.truthy(err:find("not translated: versions/aa.py:1: downgrade() is missing", 1, true), err)
    assert.same({"aa"}, h.version_rows(url))
    assert.same({"luamig_log", "luamig_version", "t"}, h.tables(url))
  end)

  describe("3: a history written without a naming convention", function()
    it("[postgresql] import sets naming_convention = \"postgresql\"; a later drop_constraint by PostgreSQL's name works, as under Alembic", function()
      local dir, status, out, err = imported("pg_names")
      assert.equal(0, status, err)
      assert.truthy(out:find('Naming convention: set naming_convention = "postgresql" in luamig.lua: the Alembic '
        .. "project has no naming convention", 1, true), out)
      local config = h.read_file(dir .. "/luamig.lua")
      assert.truthy(config:find('\nnaming_convention = "postgresql"\n', 1, true), config)
      assert.truthy(config:find('^version_table = "alembic_version"\n'), config)
      compare_steps(h.dialects[2], "pg_names", {"upgrade a1", "upgrade a2", "downgrade a1", "downgrade base",
        "upgrade head"}, dir)
    end)

    it("is told, not set, when the project had scripts, env.py mentions a convention, or there is no env.py", function()
      -- the project had a script before
      local dir = h.project({{id = "x0"}}, "")
      local status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(FIXTURES .. "/pg_names/versions"))
      assert.equal(0, status, err)
      assert.truthy(out:find('Naming convention: SET naming_convention = "postgresql" in luamig.lua yourself '
        .. "(not set by the import: the project had scripts before", 1, true), out)
      assert.equal("", h.read_file(dir .. "/luamig.lua"))
      -- a luamig.lua that ends in return: the appended line would not count
      dir = h.project({}, "return {}\n")
      status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(FIXTURES .. "/pg_names/versions"))
      assert.equal(0, status, err)
      assert.truthy(out:find("yourself (not set by the import: luamig.lua read with the line appended does not give it)",
        1, true), out)
      assert.equal("return {}\n", h.read_file(dir .. "/luamig.lua"))
      -- env.py names a convention
      local src = h.tmpdir()
      os.execute(("mkdir %s/versions && cp %s/pg_names/versions/a1_tables.py %s/versions/"):format(
        h.shell_quote(src), h.shell_quote(FIXTURES), h.shell_quote(src)))
      h.write_file(src .. "/env.py", "target_metadata = MetaData(naming_convention={'pk': 'pk_%(table_name)s'})\n")
      dir = h.project({}, "")
      status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(src .. "/versions"))
      assert.equal(0, status, err)
      assert.truthy(out:find("env.py mentions naming_convention: give luamig.lua's naming_convention the same names",
        1, true), out)
      assert.equal("", h.read_file(dir .. "/luamig.lua"))
      -- no env.py
      os.remove(src .. "/env.py")
      dir = h.project({}, "")
      status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(src .. "/versions"))
      assert.equal(0, status, err)
      assert.truthy(out:find("Naming convention: no env.py beside", 1, true), out)
      -- luamig.lua sets one: nothing said
      dir = h.project({}, 'naming_convention = "sqlite"\n')
      status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(FIXTURES .. "/pg_names/versions"))
      assert.equal(0, status, err)
      assert.falsy(out:find("Naming convention", 1, true), out)
      -- no luamig.lua: refused, nothing created
      dir = h.tmpdir()
      status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(FIXTURES .. "/pg_names/versions"))
      assert.equal(1, status)
      assert.truthy(err:find("import alembic: there is no luamig.lua here", 1, true), err)
      assert.is_nil(h.read_file(dir .. "/migrations"))
      assert.falsy(os.rename(dir .. "/migrations", dir .. "/m2"))
    end)
  end)

  h.each_db(function(db)
    it("4, 5: Column(index=True, unique=True) is one unique index ix_<table>_<column>; autoincrement=True outside "
      .. "the primary key is ignored, as in SQLAlchemy 1.4 (Alembic as the oracle)", function()
      local dir, status, out, err = imported("outside_columns")
      assert.equal(0, status, err)
      assert.truthy(out:find("Every statement was translated.", 1, true), out)
      local k1 = h.read_file(dir .. "/migrations/versions/k1_columns.lua")
      assert.truthy(k1:find('op.create_index("ix_p_c", "p", {"c"}, {unique = true})', 1, true), k1)
      assert.truthy(k1:find('op.create_index("ix_q_d", "q", {"d"}, {unique = true})', 1, true), k1)
      compare_steps(db, "outside_columns", {"upgrade k1", "upgrade k2", "downgrade k1", "downgrade base", "upgrade head"}, dir)
    end)
  end)

  it("7: a type is resolved through the file's imports; one not from SQLAlchemy is not translated", function()
    local src = sources{["aa.py"] = "from alembic import op\nimport sqlalchemy as sa\n"
      .. "from sqlalchemy import Text as String, Integer as Boolean\nfrom app.types import JSON\n"
      .. "from sqlalchemy.dialects.postgresql import UUID as PGUUID\nrevision = 'aa'\ndown_revision = None\n\n"
      .. "def upgrade():\n    op.create_table('t', sa.Column('a', String()), sa.Column('b', Boolean),\n"
      .. "        sa.Column('u', PGUUID()))\n    op.add_column('t', sa.Column('j', JSON()))\n"
      .. "    op.add_column('t', sa.Column('k', Unknown()))\n\ndef downgrade():\n    pass\n"}
    local dir = h.project({}, "")
    local status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(src))
    assert.equal(0, status, err)
    local text = h.read_file(dir .. "/migrations/versions/aa.lua")
    assert.truthy(text:find('{"a", "text"},\n    {"b", "integer"},\n    {"u", "uuid"},', 1, true), text)
    assert.truthy(out:find("versions/aa.py:12: type JSON: it is app.types.JSON, not a SQLAlchemy type", 1, true), out)
    assert.truthy(out:find("versions/aa.py:13: type Unknown: Unknown is not imported from SQLAlchemy in this file", 1, true), out)
  end)

  it("8: batch_alter_table(recreate='always') and insert_before/insert_after are flagged: a note above and in the report", function()
    local src = sources{["aa.py"] = "from alembic import op\nimport sqlalchemy as sa\nrevision = 'aa'\n"
      .. "down_revision = None\n\ndef upgrade():\n    with op.batch_alter_table('t', recreate='always') as b:\n"
      .. "        b.add_column(sa.Column('x', sa.Integer()), insert_before='id')\n"
      .. "        b.drop_column('y')\n\ndef downgrade():\n    pass\n"}
    local dir = h.project({}, "")
    local status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(src))
    assert.equal(0, status, err)
    assert.truthy(out:find("Every statement was translated.\nCheck by hand: 2 place(s) translated whose result may differ "
      .. "from Alembic's (a \"-- note\" comment above each):\n"
      .. "  versions/aa.py:7: batch_alter_table(recreate='always'): Alembic rebuilds the table on PostgreSQL too "
      .. "(column order, constraints made anew); luamig alters it in place there\n"
      .. "  versions/aa.py:8: insert_before=: the column order follows it", 1, true), out)
    local text = h.read_file(dir .. "/migrations/versions/aa.lua")
    assert.truthy(text:find("\n  -- note (versions/aa.py:7): batch_alter_table(recreate='always')", 1, true), text)
    assert.truthy(text:find("\n    -- note (versions/aa.py:8): insert_before=:", 1, true), text)
    assert.truthy(text:find('b.add_column({"x", "integer"}, {insert_before = "id"})', 1, true), text)
  end)

  h.each_db(function(db)
    it("9: bulk_insert into sa.table with untyped sa.column()s inserts the same rows as Alembic", function()
      local dir, status, out, err = imported("outside_bulk")
      assert.equal(0, status, err)
      assert.truthy(out:find("Every statement was translated.", 1, true), out)
      compare_steps(db, "outside_bulk", {"upgrade head", "downgrade base", "upgrade head"}, dir)
      local text = h.read_file(dir .. "/migrations/versions/b1_rows.lua")
      assert.truthy(text:find('op.bulk_insert("p", {', 1, true), text)
      assert.truthy(text:find('local t = "p"', 1, true), text)
    end)
  end)

  it("10: a deep expression and a NUL byte are refused at FILE(:LINE); .#lock and __init__* files are skipped; "
    .. "a dangling symbolic link at the target is not replaced", function()
    local deep = "op.execute(" .. ('"y"' .. (' + "y"'):rep(3000)) .. ")"
    local src = sources{["aa.py"] = rev("'aa'", "None", "    " .. deep),
      ["bb.py"] = rev("'bb'", "'aa'") .. "\n\nx = 1\0\n"}
    local dir = h.project({}, "")
    local status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(src))
    assert.equal(1, status)
    assert.truthy(err:find("versions/aa.py: an expression nested too deeply for Python's parser (RecursionError)", 1, true), err)
    assert.truthy(err:find("versions/bb.py:16: ", 1, true), err)
    assert.falsy(err:find("Traceback", 1, true), err)
    -- lock and __init__ files
    src = sources{["aa.py"] = rev("'aa'", "None"), [".#aa.py"] = "broken (", ["__init__x.py"] = "broken ("}
    status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(src))
    assert.equal(0, status, err)
    -- a dangling link where the script would go: refused, as every command refuses a *.lua
    -- link to a missing script (spec 03b), and left as it is
    dir = h.project({}, "")
    os.execute("ln -s /nonexistent/x " .. h.shell_quote(dir .. "/migrations/versions/aa.lua"))
    status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(src))
    assert.equal(1, status)
    assert.truthy(err:find("migrations/versions/aa.lua: No such file or directory (a link to a script "
      .. "that is not there: restore the file it points to, or remove the link)", 1, true), err)
    assert.truthy(os.execute("test -L " .. h.shell_quote(dir .. "/migrations/versions/aa.lua")))
    -- a dangling link not named *.lua is no script: the import writes beside it
    dir = h.project({}, "")
    os.execute("ln -s /nonexistent/x " .. h.shell_quote(dir .. "/migrations/versions/aa.lua.orig"))
    status, _, err = h.luamig(dir, "import alembic " .. h.shell_quote(src))
    assert.equal(0, status, err)
    assert.truthy(os.execute("test -f " .. h.shell_quote(dir .. "/migrations/versions/aa.lua")))
  end)

  it("10: an untranslated construct is reported at its own line, not the statement's first", function()
    local src = sources{["aa.py"] = rev("'aa'", "None", "    op.create_table('t',\n        sa.Column('id', sa.Integer()),\n"
      .. "        sa.Column('b', sa.Boolean(create_constraint=True)))")}
    local dir = h.project({}, "")
    local status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(src))
    assert.equal(0, status, err)
    assert.truthy(out:find("  versions/aa.py:11: type sa.Boolean(create_constraint=True)\n", 1, true), out)
    local text = h.read_file(dir .. "/migrations/versions/aa.lua")
    assert.truthy(text:find("-- not translated (versions/aa.py:9-11):", 1, true), text)
    assert.truthy(text:find('error("not translated: versions/aa.py:11: type sa.Boolean(create_constraint=True)")', 1, true), text)
  end)

  it("10: a form feed or U+2028 in a comment does not shift the quoted lines", function()
    local src = sources{["aa.py"] = "# a\fb \226\128\168 c\nrevision = 'aa'\ndown_revision = None\n\ndef upgrade():\n"
      .. "    for x in y:\n        pass\n\ndef downgrade():\n    pass\n"}
    local dir = h.project({}, "")
    local status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(src))
    assert.equal(0, status, err)
    assert.truthy(out:find("versions/aa.py:6: a for loop", 1, true), out)
    local text = h.read_file(dir .. "/migrations/versions/aa.lua")
    assert.truthy(text:find("-- not translated (versions/aa.py:6-7):\n  --   for x in y:\n  --       pass\n", 1, true), text)
  end)
end)

describe("issue 16 leftovers", function()
  it("an empty luamig.lua gets the naming_convention line (no crash, exit 0)", function()
    local dir = h.project({}, "")
    local status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(FIXTURES .. "/pg_names/versions"))
    assert.equal(0, status, err)
    assert.truthy(out:find('Naming convention: set naming_convention = "postgresql" in luamig.lua', 1, true), out)
    local config = h.read_file(dir .. "/luamig.lua")
    assert.truthy(config:find('^\n%-%- Added by `luamig import alembic`'), config)
    assert.truthy(config:find('\nnaming_convention = "postgresql"\n$'), config)
    -- a luamig.lua without a final newline gets one before the addition
    dir = h.project({}, 'version_table = "v"')
    status, out, err = h.luamig(dir, "import alembic " .. h.shell_quote(FIXTURES .. "/pg_names/versions"))
    assert.equal(0, status, err)
    config = h.read_file(dir .. "/luamig.lua")
    assert.truthy(config:find('^version_table = "v"\n\n%-%- Added by'), config)
  end)
end)
