-- luamig.autogen -- autogenerate: compare the live schema with the declared
-- one (target_schema) and say, as op calls, what would make them equal.
--
--   local autogen = require "luamig.autogen"
--   local declared = autogen.declared("schema.lua", "sqlite", {naming_convention = nil})
--   local ops = autogen.compare(conn, declared, {exclude = {luamig_version = true},
--                                                include_object = fn, compare_type = true})
--   local up, down = autogen.render(ops, {dialect = "sqlite"})   -- Lua code
--
-- The pieces: autogen/record.lua (the declared model, through a recording
-- op), luamig.introspect (the live model, a fixed number of catalog
-- queries), autogen/diff.lua (the operations and their order),
-- autogen/render.lua (Lua code). On PostgreSQL, the server rewrites
-- expressions (defaults, checks, index predicates) and type names in its
-- own way; when the first comparison of a table finds such a difference,
-- the declared table is built once as a temporary table inside a
-- transaction that is rolled back, read back, and compared again, so only
-- real differences remain.
local introspect = require "luamig.introspect"
local record = require "luamig.autogen.record"
local diff = require "luamig.autogen.diff"
local render = require "luamig.autogen.render"

local M = {diff = diff, render_module = render}

M.declared = record.load

local function copy_shallow(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local function by_name(list)
  local out = {}
  for _, x in ipairs(list or {}) do if x.name then out[x.name] = x end end
  return out
end

-- The existing tables whose comparison found a difference the server's
-- spelling may explain: a type or default, an index or a check to create.
local function suspects(ops, live)
  local names = {}
  for _, op in ipairs(ops) do
    if live.tables[op.table] and (op.kind == "alter_column" and (op.changes.type or op.changes.default)
        or op.kind == "create_index" or op.kind == "add_constraint" and op.ctype == "check") then
      names[op.table] = true
    end
  end
  return names
end

-- PostgreSQL: the declared tables named in names, as the server spells
-- them. Each is created as a temporary table (without foreign keys, which
-- a temporary table cannot have to a permanent one) in a savepoint of a
-- transaction that is rolled back; a table the server refuses keeps its
-- declared spelling. Returns {[name] = table model}.
local function server_spelling(conn, declared, names)
  local d = require "luamig.dialect.postgresql"
  local tx <close> = conn:begin()
  for name in pairs(names) do
    local t = copy_shallow(declared.tables[name])
    t.foreign_keys = {}
    t.indexes = {}
    for i, ix in ipairs(declared.tables[name].indexes or {}) do
      t.indexes[i] = copy_shallow(ix)
      t.indexes[i].table = name
    end
    conn:exec("SAVEPOINT luamig_autogen")
    local ok = pcall(function()
      for i, sql in ipairs(d.create_table(t)) do
        if i == 1 then sql = sql:gsub("^CREATE TABLE ", "CREATE TEMPORARY TABLE ") end
        conn:exec(sql)
      end
    end)
    conn:exec(ok and "RELEASE SAVEPOINT luamig_autogen" or "ROLLBACK TO SAVEPOINT luamig_autogen")
  end
  local read = require("luamig.introspect.postgresql").read(conn, {temp = true})
  tx:rollback()
  return read.tables
end

-- The declared table with the server's spelling of types, defaults,
-- check conditions and index definitions.
local function respelled(t, server)
  local out = copy_shallow(t)
  local cols = by_name(server.columns)
  out.columns = {}
  for i, c in ipairs(t.columns) do
    local sc, nc = cols[c.name], copy_shallow(c)
    if sc then nc.type, nc.default, nc.declared = sc.type, sc.default, c end
    out.columns[i] = nc
  end
  local checks = by_name(server.checks)
  out.checks = {}
  for i, ck in ipairs(t.checks or {}) do
    local sc = ck.name and checks[ck.name]
    out.checks[i] = sc and {name = ck.name, condition = sc.condition, declared = ck} or ck
  end
  local indexes = by_name(server.indexes)
  out.indexes = {}
  for i, ix in ipairs(t.indexes or {}) do
    local si, nix = indexes[ix.name], copy_shallow(ix)
    if si then nix.columns, nix.where, nix.declared = si.columns, si.where, ix end
    if si then nix.column_options = si.column_options end   -- pg_catalog.x_ops read as x_ops
    out.indexes[i] = nix
  end
  return out
end

-- The operations that turn the live schema of conn into declared.
--   opts.exclude: {[table] = true} left out of the live schema (the
--   version table and log); opts.include_object: function(kind, name,
--   table) -> false to leave out, on both sides; opts.compare_type.
-- Returns the operations and the live schema.
function M.compare(conn, declared, opts)
  opts = opts or {}
  local dialect = conn:dialect()
  local live = introspect.schema(conn, {exclude = opts.exclude or {}, include_object = opts.include_object})
  local target = introspect.filter(declared, opts.include_object)
  local dopts = {dialect = dialect, compare_type = opts.compare_type}
  local ops = diff.compare(target, live, dopts)
  if dialect == "postgresql" then
    local names = suspects(ops, live)
    if next(names) then
      local server = server_spelling(conn, target, names)
      local tables = copy_shallow(target.tables)
      for name in pairs(names) do
        if server[name] then tables[name] = respelled(target.tables[name], server[name]) end
      end
      target = {dialect = target.dialect, tables = tables, order = target.order, enums = target.enums}
      ops = diff.compare(target, live, dopts)
      -- what is rendered is the declaration as written, not the server's spelling
      for _, op in ipairs(ops) do
        if op.index and op.index.declared then op.index = op.index.declared end
        if op.constraint and op.constraint.declared then op.constraint = op.constraint.declared end
        if op.kind == "add_column" and op.column.declared then op.column = op.column.declared end
        if op.kind == "alter_column" and op.target.declared then
          local c = op.target.declared
          if op.changes.type then op.changes.type[2] = c.type end
          if op.changes.default then op.changes.default[2] = c.default == nil and diff.NONE or c.default end
          op.target = c
        end
      end
    end
  end
  return ops, live
end

-- Upgrade and downgrade code for ops.
--   ctx: {dialect =, naming_convention =}
function M.render(ops, ctx)
  return render.ops(ops, ctx), render.ops(diff.invert(ops), ctx)
end

-- Plain descriptions of ops, for check and --json:
-- {kind, table, name, description, code}.
function M.describe(ops, ctx)
  local out = {}
  for i, op in ipairs(ops) do
    local name = op.kind == "alter_column" and op.column
      or (op.column and op.column.name) or (op.index and op.index.name)
      or (op.constraint and op.constraint.name) or op.table or (op.enum and op.enum.name)
    out[i] = {kind = op.kind, ctype = op.ctype, table = op.table, name = name, description = diff.describe(op),
              code = render.op(op, ctx)}
  end
  return out
end

return M
