-- luamig.lint.record -- the recorder of op calls: op.new's cfg.on_call
-- (op/init.lua) turns each call into a call descriptor (the brief's shape,
-- shared with luamig.lint.sql's classifier of raw SQL) and runs it on an
-- offline op, so that the models of later calls stay right.
local common = require "luamig.dialect.common"
local check = require "luamig.op.check"
check.mark_internal()

local M = {}

-- Where each operation keeps its table and options (batch.X: no table argument).
local POS = {
  create_table = {table = 1, options = 3}, drop_table = {table = 1}, rename_table = {table = 1},
  add_column = {table = 1, column = 2, options = 3}, drop_column = {table = 1, column = 2},
  alter_column = {table = 1, column = 2, options = 3},
  create_index = {name = 1, table = 2, columns = 3, options = 4}, drop_index = {name = 1, table = 2, options = 3},
  create_unique_constraint = {name = 1, table = 2, columns = 3, options = 4},
  create_primary_key = {name = 1, table = 2, columns = 3},
  create_foreign_key = {name = 1, table = 2, referent = 3, local_cols = 4, remote_cols = 5, options = 6},
  create_check_constraint = {name = 1, table = 2, condition = 3, options = 4},
  drop_constraint = {name = 1, table = 2, options = 3}, validate_constraint = {name = 1, table = 2},
}

local function first(o, ...)
  if type(o) ~= "table" then return nil end
  for _, k in ipairs({...}) do if o[k] ~= nil then return o[k] end end
  return nil
end

local function type_text(t)
  if type(t) == "string" then return t end
  if type(t) == "table" and type(t.name) == "string" then return t.name end
  return nil
end

local function default_text(v)
  if v == nil or v == common.NULL then return nil end
  if common.is_raw(v) then return v.sql end
  if type(v) == "string" then return "'" .. v:gsub("'", "''") .. "'" end
  return tostring(v)
end

-- The descriptor of one op call (args: table.pack of its arguments, with
-- the table inserted for batch.X), or nil for calls no rule looks at.
function M.describe(opname, args)
  local pos = POS[opname]
  if not pos then return nil end
  local function arg(k) return pos[k] and args[pos[k]] end
  local d = {op = opname, table = arg("table"), name = arg("name"), column = arg("column"), options = {},
             columns = arg("columns"), referent = arg("referent"), local_cols = arg("local_cols"),
             remote_cols = arg("remote_cols"), condition = arg("condition")}
  local o = arg("options") or {}
  local out = d.options
  d.given = type(o) == "table" and o or {}    -- the call's own options, kept whole for the safe forms (H3)
  if opname == "rename_table" then out.new_table = args[2] end
  if opname == "add_column" then
    local spec = args[2]
    if type(spec) == "table" then
      d.column = spec[1]
      out.type = type_text(spec[2] or first(spec, "type_", "type"))
      out.nullable = not (spec.nullable == false or spec.primary_key)
      out.server_default = default_text(first(spec, "server_default", "default"))
      out.unique, out.references = spec.unique, spec.references
      out.identity = spec.autoincrement and true or nil
      d.inline = {unique = spec.unique, index = spec.index, references = spec.references,
                  check = spec.check, primary_key = spec.primary_key}
    end
  elseif opname == "alter_column" then
    out.nullable = first(o, "nullable")
    out.type = type_text(first(o, "type_", "type"))
    out.existing_type = type_text(first(o, "existing_type"))
    out.server_default = default_text(first(o, "server_default", "default"))
    out.new_column_name = first(o, "new_column_name")
    out.using = first(o, "using", "postgresql_using") and true or nil
  else
    out.postgresql_concurrently = first(o, "postgresql_concurrently", "concurrently") and true or nil
    out.unique = first(o, "unique") and true or nil
    out.if_not_exists = first(o, "if_not_exists") and true or nil
    out.postgresql_not_valid = first(o, "postgresql_not_valid", "not_valid") and true or nil
    out.postgresql_using_index = first(o, "postgresql_using_index", "using_index")
  end
  if common.is_raw(d.condition) then d.condition = d.condition.sql end
  return d
end

-- The constraints and index an add_column makes besides the column (outside attack C, H2): the
-- descriptors of the statements luamig runs for them (op/build.lua's names, the default naming
-- convention), judged by the same rules as the ops written out.
function M.expand(d)
  local i, out = d.inline, {}
  if d.op ~= "add_column" or type(i) ~= "table" or type(d.column) ~= "string" or type(d.table) ~= "string" then
    return out
  end
  local t, c = d.table, d.column
  local function add(x) x.table, x.options = t, x.options or {}; out[#out + 1] = x end
  if i.primary_key then add({op = "create_primary_key", name = ("pk_%s"):format(t), columns = {c}}) end
  if i.unique then add({op = "create_unique_constraint", name = ("uq_%s_%s"):format(t, c), columns = {c}}) end
  if i.index then add({op = "create_index", name = ("ix_%s_%s"):format(t, c), columns = {c}}) end
  if i.check ~= nil then
    local cond = common.is_raw(i.check) and i.check.sql or i.check
    add({op = "create_check_constraint", name = ("ck_%s_%s"):format(t, c), condition = cond})
  end
  if type(i.references) == "string" then
    local ok, rt, rc = pcall(check.parse_references, i.references)
    if ok and rt then
      add({op = "create_foreign_key", name = ("fk_%s_%s_%s"):format(t, c, rt), referent = rt,
           local_cols = {c}, remote_cols = {rc}})
    end
  end
  return out
end

M.POS = POS
return M
