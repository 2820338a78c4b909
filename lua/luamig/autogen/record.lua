-- luamig.autogen.record -- the declared schema: run target_schema's
-- schema(op) against a recording op and keep the tables it builds.
--
--   local record = require "luamig.autogen.record"
--   local declared = record.load("schema.lua", "postgresql", {naming_convention = ...})
--   -- {dialect =, tables = {[name] = table model}, order = {names in creation order}}
--
-- The recording op is the real op API in offline mode (luamig.op with an
-- emit that discards the SQL and an offline_schema that keeps the models),
-- so the declaration goes through exactly the checks, type names, naming
-- convention and default rendering a migration does: one vocabulary for
-- migrations and for the declared schema (DESIGN.md, Autogenerate). Only
-- the create operations are offered; anything else is an error naming it.
local luamig_op = require "luamig.op"

local M = {}

-- What schema(op) may call: the declarations, and op's helpers.
local declarations = {"create_table", "create_index", "create_unique_constraint",
                      "create_foreign_key", "create_check_constraint", "create_primary_key", "create_enum"}
local helpers = {"raw", "NULL", "f", "inline_literal", "dialect", "x", "enum"}

-- A recording op for dialect: returns it and the store it fills.
function M.new(dialect, opts)
  opts = opts or {}
  local store = {tables = {}, order = {}, enums = {}}
  local inner = luamig_op.new{dialect = dialect, emit = function() end, offline_schema = store.tables,
                              naming_convention = opts.naming_convention, x = opts.x}
  local op = {}
  for _, name in ipairs(helpers) do op[name] = inner[name] end
  for _, name in ipairs(declarations) do op[name] = inner[name] end
  local create_table = inner.create_table
  -- errors at level 2 and a tail call keep the schema file's line in messages
  op.create_table = function(name, ...)
    if type(name) == "string" then
      if store.tables[name] then error(('create_table: table "%s" is declared twice'):format(name), 2) end
      store.order[#store.order + 1] = name
    end
    return create_table(name, ...)
  end
  local create_enum = inner.create_enum          -- kept: autogen/enums.lua compares the types
  op.create_enum = function(...)
    local e = create_enum(...)
    store.enums[require("luamig.dialect.enum").qualified(e.name, e.schema)] = e
    return e
  end
  return setmetatable(op, {__index = function(_, k)
    error(("op.%s is not a declaration: schema(op) declares the schema with %s")
      :format(tostring(k), table.concat(declarations, ", ")), 2)
  end}), store
end

-- Load a target_schema file and run its schema(op). Errors are raised as
-- "path:line: message" (or a message naming the file).
function M.load(path, dialect, opts)
  local env = setmetatable({}, {__index = _G})
  local chunk, err = loadfile(path, "t", env)
  if not chunk then
    local f = io.open(path)
    if not f then
      error(("target_schema '%s' not found: autogenerate compares the database with the schema "
        .. "that file declares in schema(op) (see doc/autogenerate.md)"):format(path), 0)
    end
    f:close()
    error(err, 0)
  end
  local ok, run_err = pcall(chunk)
  if not ok then error(tostring(run_err), 0) end
  if type(env.schema) ~= "function" then
    error(("%s: defines no function schema(op)"):format(path), 0)
  end
  local op, store = M.new(dialect, opts)
  ok, run_err = pcall(env.schema, op)
  if not ok then error(type(run_err) == "table" and tostring(run_err.message or run_err) or tostring(run_err), 0) end
  return {dialect = dialect, tables = store.tables, order = store.order, enums = store.enums}
end

return M
