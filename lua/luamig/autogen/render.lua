-- luamig.autogen.render -- operations (luamig.autogen.diff) as Lua code
-- a person would have written: op.create_table with its columns, inline
-- unique/references/check where the naming convention gives the same
-- name, op.alter_column with Alembic's option names.
--
--   local render = require "luamig.autogen.render"
--   local code = render.ops(ops, {dialect = "sqlite", naming_convention = {...}})
--   -- one string of statements, no indentation (the template indents)
local common = require "luamig.dialect.common"
local naming_ready = require "luamig.dialect.naming_ready"
local diff = require "luamig.autogen.diff"
local lua_literal = require "luamig.autogen.literal"
local enums = require "luamig.autogen.enums"

local M = {}

-- Lua literals (luamig.autogen.literal owns them): render.string(s),
-- render.literal(v).
M.string, M.literal = lua_literal.string, lua_literal.literal

local numeric_types = {integer = true, bigint = true, smallint = true, float = true, double = true,
                       numeric = true}

-- A default (SQL text) as the Lua value op turns back into the same SQL:
-- 'text' -> "text", 42 -> 42, TRUE / 1 on a boolean -> true, else op.raw.
function M.default(sql, column_type)
  if sql == nil or sql == diff.NONE then return "op.NULL" end
  local base = (column_type or ""):match("^(%a+)") or ""
  local s = sql:gsub("^%s+", ""):gsub("%s+$", "")
  local inner = s:match("^'(.*)'$")
  if inner and not inner:gsub("''", ""):find("'") then return M.string((inner:gsub("''", "'"))) end
  local u = s:upper()
  if base == "boolean" then
    if u == "TRUE" or s == "1" then return "true" end
    if u == "FALSE" or s == "0" then return "false" end
  end
  if numeric_types[base] then
    if s:match("^%-?%d+$") and math.tointeger(tonumber(s)) then return s end
    if s:match("^%-?%d+%.%d+$") and ("%.17g"):format(tonumber(s)) == s then return s end
  end
  return "op.raw(" .. M.string(s) .. ")"
end

local autoinc_types = {
  sqlite = {integer = true},
  postgresql = {integer = true, bigint = true, smallint = true},
}

local function convention(ctx, kind, info)
  local conv = naming_ready.resolve(ctx.naming_convention) or naming_ready.resolve(nil)
  return (common.convention_name(conv, kind, info))
end
M.convention = convention   -- (ctx, kind, info) -> the name the project's convention gives, or nil

-- "{k = v, ...}" from an ordered list of {key, code} pairs; "" when empty.
local function options(pairs_)
  if #pairs_ == 0 then return "" end
  local parts = {}
  for i, p in ipairs(pairs_) do parts[i] = p[1] .. " = " .. p[2] end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- "users.id" when that splits back right, else {"users", "id"}.
local function references(table_name, column)
  if not column:find(".", 1, true) and not table_name:find(".", 1, true) then
    return M.string(table_name .. "." .. column)
  end
  return M.literal({table_name, column})
end

-- A column spec {name, type, ...}; inline: constraints the column carries
-- (primary_key, unique, fk, check), chosen by the caller.
local function column_spec(ctx, col, inline)
  local parts = {M.string(col.name), col.enum and enums.type_code(col.enum) or M.string(col.type)}
  inline = inline or {}
  if inline.primary_key then parts[#parts + 1] = "primary_key = true" end
  -- what create_table makes of the key by itself (op/build.lua's autoincrement):
  -- on PostgreSQL not a foreign key column, nor one with a default
  local pk_autoinc = inline.single_pk and autoinc_types[ctx.dialect][col.type]
    and (ctx.dialect == "sqlite" or not inline.in_fk and col.default == nil)
  if pk_autoinc and not col.autoincrement then parts[#parts + 1] = "autoincrement = false" end
  if col.autoincrement and not pk_autoinc and ctx.dialect == "postgresql" then
    parts[#parts + 1] = "autoincrement = true"
  end
  if col.nullable == false and not inline.primary_key then parts[#parts + 1] = "nullable = false" end
  if col.default ~= nil and (not col.autoincrement or ctx.dialect == "sqlite") then  -- a rowid keeps its default
    parts[#parts + 1] = "default = " .. M.default(col.default, col.type)
  end
  if inline.unique then parts[#parts + 1] = "unique = true" end
  if inline.fk then
    local fk = inline.fk
    parts[#parts + 1] = "references = " .. references(fk.ref_table, fk.ref_columns[1])
    if fk.on_delete then parts[#parts + 1] = "ondelete = " .. M.string(fk.on_delete) end
    if fk.on_update then parts[#parts + 1] = "onupdate = " .. M.string(fk.on_update) end
  end
  if inline.check then parts[#parts + 1] = "check = " .. M.string(inline.check.condition) end
  if col.comment and ctx.dialect == "postgresql" then parts[#parts + 1] = "comment = " .. M.string(col.comment) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function deferrable_options(c, list)
  if c.deferrable then list[#list + 1] = {"deferrable", "true"} end
  if c.initially then list[#list + 1] = {"initially", M.string(c.initially)} end
  return list
end

local function fk_options(fk)
  local list = {}
  if fk.on_delete then list[#list + 1] = {"ondelete", M.string(fk.on_delete)} end
  if fk.on_update then list[#list + 1] = {"onupdate", M.string(fk.on_update)} end
  if fk.match then list[#list + 1] = {"match", M.string(fk.match)} end
  return deferrable_options(fk, list)
end

local function index_columns(ix)
  local parts = {}
  for i in ipairs(ix.columns) do parts[i] = require("luamig.autogen.index_options").column(ix, i, M.string) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function index_options(ix, extra)
  local list = {}
  if ix.unique then list[#list + 1] = {"unique", "true"} end
  if ix.where then list[#list + 1] = {"where", M.string(ix.where)} end
  if ix.using and ix.using ~= "btree" then list[#list + 1] = {"using", M.string(ix.using)} end
  if ix.include and #ix.include > 0 then list[#list + 1] = {"include", M.literal(ix.include)} end
  require("luamig.autogen.index_options").options(ix, list, M.string)
  for _, p in ipairs(extra or {}) do list[#list + 1] = p end
  return options(list)
end

-- extra: more {key, code} options (luamig.autogen.safe's op.extra)
local function create_index(table_name, ix, extra)
  local o = index_options(ix, extra)
  return ("op.create_index(%s, %s, %s%s)"):format(M.string(ix.name), M.string(table_name),
    index_columns(ix), o ~= "" and (", " .. o) or "")
end

local function create_table(ctx, t)
  local name = t.name or t.table
  local inline = {}                  -- column name -> what it carries inline
  local function at(col) inline[col] = inline[col] or {}; return inline[col] end
  local entries = {}
  local pk = t.primary_key
  if pk and #pk.columns == 1 then
    at(pk.columns[1]).single_pk = true
    if pk.name == nil or pk.name == convention(ctx, "pk", {table = name, columns = pk.columns}) then
      at(pk.columns[1]).primary_key = true
      pk = nil
    end
  end
  for _, fk in ipairs(t.foreign_keys or {}) do
    for _, c in ipairs(fk.columns) do at(c).in_fk = true end
  end
  local rest = {uniques = {}, foreign_keys = {}, checks = {}}
  for _, u in ipairs(t.uniques or {}) do
    local col = u.columns[1]
    if #u.columns == 1 and not u.deferrable and not u.initially and not at(col).unique
       and u.name == convention(ctx, "uq", {table = name, columns = u.columns}) then
      at(col).unique = true
    else
      rest.uniques[#rest.uniques + 1] = u
    end
  end
  for _, fk in ipairs(t.foreign_keys or {}) do
    local col = fk.columns[1]
    if #fk.columns == 1 and not fk.deferrable and not fk.initially and not fk.match and not at(col).fk
       and fk.name == convention(ctx, "fk", {table = name, columns = fk.columns,
                                             referred_table = fk.ref_table, referred_columns = fk.ref_columns}) then
      at(col).fk = fk
    else
      rest.foreign_keys[#rest.foreign_keys + 1] = fk
    end
  end
  for _, ck in ipairs(t.checks or {}) do
    local col                          -- a column check: named by the convention after its column
    if ck.enum then goto next_check end  -- SQLite: an op.enum column's own CHECK
    for _, c in ipairs(t.columns) do
      if ck.name and not at(c.name).check
         and ck.name == convention(ctx, "ck", {table = name, columns = {c.name}, constraint_name = c.name}) then
        col = c.name
        break
      end
    end
    if col then at(col).check = ck else rest.checks[#rest.checks + 1] = ck end
    ::next_check::
  end
  for _, col in ipairs(t.columns) do entries[#entries + 1] = column_spec(ctx, col, inline[col.name]) end
  if pk then
    local name_part = (pk.name and pk.name ~= convention(ctx, "pk", {table = name, columns = pk.columns}))
      and (", name = " .. M.string(pk.name)) or ""
    entries[#entries + 1] = ("{primary_key = %s%s}"):format(M.literal(pk.columns), name_part)
  end
  for _, u in ipairs(rest.uniques) do
    local list = {{"unique", M.literal(u.columns)}}
    if u.name then list[#list + 1] = {"name", M.string(u.name)} end
    entries[#entries + 1] = options(deferrable_options(u, list))
  end
  for _, fk in ipairs(rest.foreign_keys) do
    local list = {{"foreign_key", M.literal(fk.columns)},
                  {"references", M.literal({fk.ref_table, fk.ref_columns})}}
    if fk.name then list[#list + 1] = {"name", M.string(fk.name)} end
    for _, p in ipairs(fk_options(fk)) do list[#list + 1] = p end
    entries[#entries + 1] = options(list)
  end
  for _, ck in ipairs(rest.checks) do
    local list = {{"check", M.string(ck.condition)}}
    if ck.name then list[#list + 1] = {"name", M.string(ck.name)} end
    entries[#entries + 1] = options(list)
  end
  local lines = {("op.create_table(%s, {"):format(M.string(name))}
  for _, e in ipairs(entries) do lines[#lines + 1] = "  " .. e .. "," end
  local close = "})"
  if t.comment and ctx.dialect == "postgresql" then close = "}, {comment = " .. M.string(t.comment) .. "})" end
  lines[#lines + 1] = close
  for _, ix in ipairs(t.indexes or {}) do lines[#lines + 1] = create_index(name, ix) end
  return table.concat(lines, "\n")
end

local constraint_type = {unique = "unique", check = "check", foreign = "foreignkey"}

-- One operation as Lua code (one or more lines).
function M.op(op, ctx)
  local k, t = op.kind, M.string(op.table or "")
  if enums.kinds[k] then return enums.render(op) end
  if k == "create_table" then return create_table(ctx, setmetatable({name = op.table}, {__index = op.model})) end
  if k == "drop_table" then return ("op.drop_table(%s)"):format(t) end
  if k == "add_column" then
    return ("op.add_column(%s, %s)"):format(t, column_spec(ctx, op.column))
  end
  if k == "drop_column" then return ("op.drop_column(%s, %s)"):format(t, M.string(op.column.name)) end
  -- op.extra: more {key, code} options (luamig.autogen.safe: concurrently, NOT VALID, USING INDEX)
  local extra = op.extra or {}
  if k == "validate_constraint" then
    local o = options(extra)
    return ("op.validate_constraint(%s, %s%s)"):format(M.string(op.name), t, o ~= "" and (", " .. o) or "")
  end
  if k == "create_index" then return create_index(op.table, op.index, op.extra) end
  if k == "drop_index" then
    local o = options(extra)
    return ("op.drop_index(%s, %s%s)"):format(M.string(op.index.name), t, o ~= "" and (", " .. o) or "")
  end
  if k == "add_constraint" then
    local c = op.constraint
    if op.ctype == "unique" then
      local o = options(deferrable_options(c, {table.unpack(extra)}))
      return ("op.create_unique_constraint(%s, %s, %s%s)"):format(M.string(c.name), t,
        op.no_columns and "nil" or M.literal(c.columns), o ~= "" and (", " .. o) or "")
    elseif op.ctype == "check" then
      local o = options(extra)
      return ("op.create_check_constraint(%s, %s, %s%s)"):format(M.string(c.name), t, M.string(c.condition),
        o ~= "" and (", " .. o) or "")
    else
      local o = fk_options(c)
      for _, p in ipairs(extra) do o[#o + 1] = p end
      o = options(o)
      return ("op.create_foreign_key(%s, %s, %s, %s, %s%s)"):format(M.string(c.name), t,
        M.string(c.ref_table), M.literal(c.columns), M.literal(c.ref_columns), o ~= "" and (", " .. o) or "")
    end
  end
  if k == "drop_constraint" then
    local o = {{"type_", M.string(constraint_type[op.ctype])}}
    for _, p in ipairs(extra) do o[#o + 1] = p end
    return ("op.drop_constraint(%s, %s, %s)"):format(M.string(op.constraint.name), t, options(o))
  end
  -- alter_column, in Alembic's option names
  local list = {}
  local ch = op.changes
  local col_type = ch.type and ch.type[2] or (op.target and op.target.type)
  if ch.type then
    local e = op.target and op.target.enum
    list[#list + 1] = {"type_", e and ch.type[2] == op.target.type and enums.type_code(e) or M.string(ch.type[2])}
  end
  if ch.nullable then list[#list + 1] = {"nullable", tostring(ch.nullable[2])} end
  if ch.default then list[#list + 1] = {"server_default", M.default(ch.default[2], col_type)} end
  if ch.comment then
    list[#list + 1] = {"comment", ch.comment[2] == diff.NONE and "op.NULL" or M.string(ch.comment[2])}
  end
  return ("op.alter_column(%s, %s, %s)"):format(t, M.string(op.column), options(list))
end

-- A list of operations as statements, one per line (create_table spans
-- several), between Alembic's markers; the "no changes" comment when empty.
function M.ops(ops, ctx)
  if #ops == 0 then return "-- no changes detected by autogenerate" end
  local out = {"-- ### commands auto generated by luamig - please adjust! ###"}
  for _, op in ipairs(ops) do out[#out + 1] = M.op(op, ctx) end
  out[#out + 1] = "-- ### end of commands ###"
  return table.concat(out, "\n")
end

return M
