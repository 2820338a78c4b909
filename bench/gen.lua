-- bench/gen.lua -- writes the benchmark's projects: the same migrations
-- twice, once as a luamig project and once as an Alembic project.
--
--   lua5.4 bench/gen.lua KIND N DIR
--
-- KIND is one of
--   tables   N revisions in one line, each creating a table
--            t00001 (id integer primary key, name varchar(50), value float)
--   columns  N revisions: the first creates table "wide" (id integer primary
--            key), each later one adds an integer column c00002, c00003, ...
--   bulk     one revision that creates table "items" (id integer, name
--            varchar(50), value float; no key nor index, so that the
--            server's work is the rows alone) and bulk-inserts N rows made
--            by a loop in the migration: (i, "name <i>", i * 0.5) for
--            i = 1..N; DIR/rows.lua is the Lua floor: the same loop, each
--            row taken and dropped, as plain lua5.4 runs it
--
-- DIR/luamig/   luamig.lua, migrations/versions/<rev>_<slug>.lua
-- DIR/alembic/  alembic.ini, env.py, script.py.mako, versions/<rev>_<slug>.py
--
-- Both tools read the database URL from the command line (luamig --url,
-- alembic -x url=...) and the transaction mode from luamig --config /
-- alembic -x tpm=0|1, so the same tree serves every database and mode.
-- The C floor programs (bench/floor/) issue the SQL that luamig renders for
-- these operations, so all three do the same database work.

local kind, n, dir = arg[1], tonumber(arg[2]), arg[3]
if not (kind and n and dir) then
  io.stderr:write("usage: lua5.4 bench/gen.lua tables|columns|bulk N DIR\n")
  os.exit(2)
end

-- Deterministic 12-hex-digit revision ids, distinct for every i.
local function rev(i) return ("%012x"):format(0xbe9c0000000 + i * 104729) end

local function mkdir(path) assert(os.execute("mkdir -p '" .. path .. "'")) end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- Each revision: {id, parent, message, lua_up, lua_down, py_up, py_down}.
local revs = {}

if kind == "tables" then
  for i = 1, n do
    local t = ("t%05d"):format(i)
    revs[i] = {
      message = "create table " .. t,
      lua_up = ('  op.create_table("%s", {\n    {"id", "integer", primary_key = true},\n'
        .. '    {"name", "string(50)"},\n    {"value", "float"},\n  })'):format(t),
      lua_down = ('  op.drop_table("%s")'):format(t),
      py_up = ("    op.create_table(\n        '%s',\n        sa.Column('id', sa.Integer, primary_key=True),\n"
        .. "        sa.Column('name', sa.String(50)),\n        sa.Column('value', sa.Float),\n    )"):format(t),
      py_down = ("    op.drop_table('%s')"):format(t),
    }
  end
elseif kind == "columns" then
  revs[1] = {
    message = "create table wide",
    lua_up = '  op.create_table("wide", {\n    {"id", "integer", primary_key = true},\n  })',
    lua_down = '  op.drop_table("wide")',
    py_up = "    op.create_table('wide', sa.Column('id', sa.Integer, primary_key=True))",
    py_down = "    op.drop_table('wide')",
  }
  for i = 2, n do
    local c = ("c%05d"):format(i)
    revs[i] = {
      message = "add column " .. c,
      lua_up = ('  op.add_column("wide", {"%s", "integer"})'):format(c),
      lua_down = ('  op.drop_column("wide", "%s")'):format(c),
      py_up = ("    op.add_column('wide', sa.Column('%s', sa.Integer))"):format(c),
      py_down = ("    op.drop_column('wide', '%s')"):format(c),
    }
  end
elseif kind == "bulk" then
  -- the row source, the same text in the migration and in the Lua floor
  local source = ([[
  local i, n = 0, %d
  local function rows()
    i = i + 1
    if i > n then return nil end
    return {id = i, name = "name " .. i, value = i * 0.5}
  end]]):format(n)
  mkdir(dir)
  write(dir .. "/rows.lua", table.concat({
    "-- the Lua floor: the migration's row source alone, each row taken and dropped",
    "local function main()", source,
    "  local count = 0",
    "  while rows() ~= nil do count = count + 1 end",
    "  assert(count == n, count)",
    "end", "main()", ""}, "\n"))
  revs[1] = {
    message = ("create items and load %d rows"):format(n),
    lua_up = ([[
  op.create_table("items", {
    {"id", "integer"},
    {"name", "string(50)"},
    {"value", "float"},
  })
%s
  op.bulk_insert("items", rows)]]):format(source),
    lua_down = '  op.drop_table("items")',
    py_up = ([[
    items = op.create_table(
        'items',
        sa.Column('id', sa.Integer),
        sa.Column('name', sa.String(50)),
        sa.Column('value', sa.Float),
    )
    op.bulk_insert(
        items,
        [{'id': i, 'name': 'name %%d' %% i, 'value': i * 0.5} for i in range(1, %d + 1)],
    )]]):format(n),
    py_down = "    op.drop_table('items')",
  }
else
  io.stderr:write("gen.lua: unknown kind '" .. kind .. "'\n")
  os.exit(2)
end

---------------------------------------------------------------------------
-- luamig

local lroot = dir .. "/luamig"
mkdir(lroot .. "/migrations/versions")
write(lroot .. "/luamig.lua", 'script_location = "migrations"\ntransaction_per_migration = true\n')
write(lroot .. "/luamig-onetx.lua", 'script_location = "migrations"\ntransaction_per_migration = false\n')

for i, r in ipairs(revs) do
  local id = rev(i)
  local parent = i > 1 and ('"%s"'):format(rev(i - 1)) or "nil"
  local slug = r.message:gsub("%W+", "_")
  write(("%s/migrations/versions/%s_%s.lua"):format(lroot, id, slug), table.concat({
    "-- " .. r.message,
    "--",
    "-- Revision ID: " .. id,
    "-- Revises: " .. (i > 1 and rev(i - 1) or ""),
    "",
    ('revision      = "%s"'):format(id),
    "down_revision = " .. parent,
    "branch_labels = nil",
    "depends_on    = nil",
    ('message       = "%s"'):format(r.message),
    "",
    "function upgrade(op)",
    r.lua_up,
    "end",
    "",
    "function downgrade(op)",
    r.lua_down,
    "end",
    "",
  }, "\n"))
end

---------------------------------------------------------------------------
-- Alembic: bench/alembic_tree.lua's files, a transaction per migration
-- unless -x tpm=0, constraints named by the database

local aroot = dir .. "/alembic"
mkdir(aroot .. "/versions")
local here = arg[0]:match("^(.*)/[^/]*$") or "."
dofile(here .. "/alembic_tree.lua").write(aroot, {tpm = "1", naming_convention = false})

for i, r in ipairs(revs) do
  local id = rev(i)
  local parent = i > 1 and ("'%s'"):format(rev(i - 1)) or "None"
  local slug = r.message:gsub("%W+", "_")
  write(("%s/versions/%s_%s.py"):format(aroot, id, slug), table.concat({
    '"""' .. r.message,
    "",
    "Revision ID: " .. id,
    "Revises: " .. (i > 1 and rev(i - 1) or ""),
    "Create Date: 2026-11-22 00:00:00.000000",
    "",
    '"""',
    "from alembic import op",
    "import sqlalchemy as sa",
    "",
    "",
    ("revision = '%s'"):format(id),
    "down_revision = " .. parent,
    "branch_labels = None",
    "depends_on = None",
    "",
    "",
    "def upgrade():",
    r.py_up,
    "",
    "",
    "def downgrade():",
    r.py_down,
    "",
  }, "\n"))
end
