-- luamig.op.check -- the op API's argument and option checks, and the
-- error they raise at the migration's line (not at luamig's own).
-- The option specs (Alembic's names and luamig's aliases) are here, shared
-- by op.X and batch.X.
local common = require "luamig.dialect.common"
local sqltext = require "luamig.sqltext"

local M = {}

-- Sources of luamig's own Lua modules: errors are reported at the first
-- stack frame outside them (the migration's line).
local internal = {}
local registered = setmetatable({}, {__mode = "k"})   -- modules already walked
local function register(mod)
  if registered[mod] then return end
  registered[mod] = true
  for _, v in pairs(mod) do
    if type(v) == "function" then internal[debug.getinfo(v, "S").source] = true end
  end
end
register(common)
register(sqltext)
M.register = register

-- Mark the calling file as luamig's own (each op/*.lua does, at load).
function M.mark_internal() internal[debug.getinfo(2, "S").source] = true end
M.mark_internal()

-- "file:line" of the migration's line that called the op API, or nil.
-- Every luamig module loaded counts as luamig's own (a dialect module's
-- frame may stand between the op and the error: common.raise below).
local function caller_line()
  for k, mod in pairs(package.loaded) do
    if type(k) == "string" and k:find("^luamig%.") and type(mod) == "table" then register(mod) end
  end
  local level = 2
  while true do
    local info = debug.getinfo(level, "Sl")
    if not info then return nil end
    if info.what ~= "C" and not internal[info.source] then
      return ("%s:%d"):format(info.short_src, info.currentline or 0)
    end
    level = level + 1
  end
end

-- Raise msg at the caller's line in the migration.
local function raise(msg)
  local where = caller_line()
  error(where and (where .. ": " .. msg) or msg, 0)
end
M.raise = raise
common.raise = raise                   -- the dialect's refusals (a name over 63 bytes) too

---------------------------------------------------------------------------
-- Argument and option checks

local function describe(v)
  if common.is_raw(v) then return "op.raw" end
  if v == common.NULL then return "op.NULL" end
  if common.is_binary(v) then return "op.binary" end
  if type(v) == "string" then return ("string %q"):format(#v > 40 and v:sub(1, 40) .. "..." or v) end
  return math.type(v) or type(v)
end

local function is_list_of_strings(v)
  if type(v) ~= "table" or common.is_raw(v) or #v == 0 then return false end
  for k, s in pairs(v) do
    if math.type(k) ~= "integer" or type(s) ~= "string" then return false end
  end
  return true
end

-- Value kinds for arguments and options: a check and what to say when it fails.
local kinds = {
  boolean = {function(v) return type(v) == "boolean" end, "a boolean"},
  string = {function(v) return type(v) == "string" end, "a string"},
  name = {function(v) return type(v) == "string" and v ~= "" end, "a non-empty string"},
  optname = {function(v) return v == nil or (type(v) == "string" and v ~= "") end, "a non-empty string or nil"},
  sql = {function(v) return type(v) == "string" or common.is_raw(v) end, "a string of SQL or op.raw"},
  table = {function(v) return type(v) == "table" and not common.is_raw(v) end, "a table"},
  names = {function(v) return type(v) == "string" or is_list_of_strings(v) end,
           "a column name or a list of column names"},
  index_columns = {function(v)
      if type(v) == "string" or common.is_raw(v) then return true end
      if type(v) ~= "table" or #v == 0 then return false end
      for _, e in ipairs(v) do
        if type(e) ~= "string" and not common.is_raw(e) and type(e) ~= "table" then return false end
      end
      return true
    end, "a list of column names, op.raw expressions or column entries {\"name\", order = ...}"},
  default = {function(v)
      local t = type(v)
      return t == "string" or t == "number" or t == "boolean" or common.is_raw(v) or v == common.NULL
    end, "a string, number, boolean, op.raw or op.NULL"},
  comment = {function(v) return type(v) == "string" or v == common.NULL end, "a string or op.NULL"},
  any = {function() return true end, "anything"},
  type = {function(v) return type(v) == "string" or require("luamig.dialect.enum").is_enum(v) end,
          "a type string or op.enum(...)"},
  references = {function(v)
      return type(v) == "string" or (type(v) == "table" and type(v[1]) == "string"
        and (type(v[2]) == "string" or is_list_of_strings(v[2])))
    end, 'a string "table.column" or a list {"table", "column" or {columns}}'},
}

local function check_arg(opname, n, argname, v, kind)
  local k = kinds[kind]
  if not k[1](v) then
    raise(("%s: argument %d (%s) must be %s, got %s"):format(opname, n, argname, k[2], describe(v)))
  end
  return v
end

-- Check an options table against spec = {canonical = kind, ...} and
-- aliases = {alias = canonical}; returns the options under canonical names.
local function check_options(opname, opts, spec, aliases, argn, what)
  if opts == nil then return {} end
  what = what or "options"
  if type(opts) ~= "table" or common.is_raw(opts) then
    raise(("%s: argument %d (%s) must be a table, got %s"):format(opname, argn, what, describe(opts)))
  end
  local out, seen = {}, {}
  for k, v in pairs(opts) do
    local canon = type(k) == "string" and (aliases and aliases[k] or k) or nil
    local kind = canon and spec[canon]
    if not kind then
      raise(("%s: unknown option %s"):format(opname,
        type(k) == "string" and ('"' .. k .. '"') or ("[" .. tostring(k) .. "]")))
    end
    if seen[canon] then
      raise(('%s: option "%s" given twice (as "%s" and "%s")'):format(opname, canon, seen[canon], k))
    end
    seen[canon] = k
    if not kinds[kind][1](v) then
      raise(('%s: option "%s" must be %s, got %s'):format(opname, k, kinds[kind][2], describe(v)))
    end
    out[canon] = v
  end
  return out
end

local function as_list(v)
  if type(v) == "string" or common.is_raw(v) then return {v} end
  local t = {}
  for i, e in ipairs(v) do t[i] = e end
  return t
end

local fk_action_names = {["CASCADE"] = true, ["SET NULL"] = true, ["SET DEFAULT"] = true,
                         ["RESTRICT"] = true, ["NO ACTION"] = true}
local initially_names = {DEFERRED = true, IMMEDIATE = true}
local match_names = {FULL = true, PARTIAL = true, SIMPLE = true}

local function keyword(opname, optname, v, allowed)
  if v == nil then return nil end
  local u = v:upper():gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
  if not allowed[u] then
    local list = {}
    for k in pairs(allowed) do list[#list + 1] = k end
    table.sort(list)
    raise(('%s: option "%s" must be one of %s, got %q'):format(opname, optname, table.concat(list, ", "), v))
  end
  return u
end

local function sql_text(v)
  if v == nil then return nil end
  if common.is_raw(v) then return v.sql end
  return v
end

-- "table.column" (split at the last dot) or {"table", "column" | {columns}}.
local function parse_references(v)
  if type(v) == "string" then
    local t, c = v:match("^(.+)%.([^.]+)$")
    return t, {c}
  end
  return v[1], as_list(v[2])
end

---------------------------------------------------------------------------
-- Option specs, shared by op.X and batch.X

local ALIASES = {type = "type_", default = "server_default", on_delete = "ondelete",
                 on_update = "onupdate", postgresql_where = "where", sqlite_where = "where",
                 postgresql_concurrently = "concurrently", postgresql_using = "using",
                 postgresql_include = "include", postgresql_ops = "ops", postgresql_with = "with",
                 postgresql_nulls_not_distinct = "nulls_not_distinct",
                 postgresql_not_valid = "not_valid", postgresql_using_index = "using_index"}

local COLUMN_SPEC = {primary_key = "boolean", nullable = "boolean", unique = "boolean",
  server_default = "default", autoincrement = "boolean", references = "references",
  ondelete = "string", onupdate = "string", check = "sql", comment = "string", index = "boolean",
  type_ = "type"}

local SPEC = {
  create_table = {if_not_exists = "boolean", comment = "string"},
  drop_table = {if_exists = "boolean"},
  add_column = {if_not_exists = "boolean", insert_before = "name", insert_after = "name"},
  drop_column = {if_exists = "boolean"},
  alter_column = {nullable = "boolean", type_ = "type", server_default = "default",
    new_column_name = "name", comment = "comment", autoincrement = "boolean",
    existing_type = "string", existing_server_default = "any", existing_nullable = "boolean",
    existing_comment = "any", existing_autoincrement = "boolean", using = "sql",
    insert_before = "name", insert_after = "name"},
  create_index = {unique = "boolean", where = "sql", concurrently = "boolean",
    if_not_exists = "boolean", using = "string", include = "names", ops = "table", with = "table",
    nulls_not_distinct = "boolean"},
  drop_index = {if_exists = "boolean", concurrently = "boolean"},
  create_unique_constraint = {deferrable = "boolean", initially = "string", using_index = "name",
    if_not_exists = "boolean"},
  create_primary_key = {},
  create_foreign_key = {ondelete = "string", onupdate = "string", deferrable = "boolean",
    initially = "string", match = "string", not_valid = "boolean", if_not_exists = "boolean"},
  create_check_constraint = {not_valid = "boolean", if_not_exists = "boolean"},
  drop_constraint = {type_ = "string", if_exists = "boolean"},
  validate_constraint = {if_exists = "boolean"},
  bulk_insert = {columns = "names", multiinsert = "boolean"},
  batch_alter_table = {recreate = "string", copy_from = "table"},
}

local CONSTRAINT_TYPES = {foreignkey = "foreign", primary = "primary", unique = "unique", check = "check"}

M.caller_line = caller_line
M.describe = describe
M.check_arg = check_arg
M.check_options = check_options
M.as_list = as_list
M.keyword = keyword
M.sql_text = sql_text
M.parse_references = parse_references
M.fk_action_names, M.initially_names, M.match_names = fk_action_names, initially_names, match_names
M.ALIASES, M.COLUMN_SPEC, M.SPEC, M.CONSTRAINT_TYPES = ALIASES, COLUMN_SPEC, SPEC, CONSTRAINT_TYPES

return M
