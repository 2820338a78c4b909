-- luamig.autogen.enums -- autogenerate for PostgreSQL enum types: the
-- declared ones (op.create_enum in schema(op), and every op.enum column),
-- compared with the live ones (luamig.introspect's schema.enums), as
-- operations of their own:
--
--   {kind = "create_enum", enum = e}     {kind = "drop_enum", enum = e}
--   {kind = "add_enum_value", enum = e, value = v, before = v2 | after = v2}
--   {kind = "drop_enum_value", enum = e, value = v, before = | after = (its place, for the inverse)}
--
-- New types and added values come first (before the tables and columns
-- that use them), removed values and dropped types last (after the
-- columns that used them are gone), so the downgrade, their inverses in
-- reverse order, is right too. Renamed values show as a removal and an
-- addition; a change of the values' order alone is not detected.
local enum = require "luamig.dialect.enum"
local lua_literal = require "luamig.autogen.literal"

local M = {}

local function key(e) return enum.qualified(e.name, e.schema) end

-- The declared enums of a schema: {[qualified name] = enum}.
function M.declared(schema)
  local out = {}
  for k, e in pairs(schema.enums or {}) do out[k] = e end
  for _, t in pairs(schema.tables or {}) do
    for _, c in ipairs(t.columns or {}) do
      if c.enum and not out[key(c.enum)] then out[key(c.enum)] = c.enum end
    end
  end
  return out
end

local function sorted(t)
  local list = {}
  for k in pairs(t) do list[#list + 1] = k end
  table.sort(list)
  return list
end

-- The operations: first (before the table changes) and last (after them).
function M.compare(target, live)
  local first, last = {}, {}
  local want, have = M.declared(target), live.enums or {}
  local schemas = {}
  for _, e in pairs(want) do if e.schema then schemas[e.schema] = true end end
  for _, k in ipairs(sorted(want)) do
    local e, l = want[k], have[k]
    if not l then
      first[#first + 1] = {kind = "create_enum", enum = e}
    else
      local in_live, in_want = {}, {}
      for _, v in ipairs(l.values) do in_live[v] = true end
      for _, v in ipairs(e.values) do in_want[v] = true end
      local list = {}                                  -- the live values, as the adds go
      for i, v in ipairs(l.values) do list[i] = v end
      for i, v in ipairs(e.values) do
        if not in_live[v] then
          local op = {kind = "add_enum_value", enum = e, value = v}
          if i > 1 then op.after = e.values[i - 1]
          else
            for j = 2, #e.values do if in_live[e.values[j]] then op.before = e.values[j]; break end end
            if not op.before then op.after = list[#list] end
          end
          first[#first + 1] = op
          list[#list + 1] = v
        end
      end
      -- last value first, so that the downgrade adds them back first to last,
      -- each after the one before it
      for i = #l.values, 1, -1 do
        local v = l.values[i]
        if not in_want[v] then
          local op = {kind = "drop_enum_value", enum = e, value = v}
          if i > 1 then op.after = l.values[i - 1]
          else
            for j = 2, #l.values do if in_want[l.values[j]] then op.before = l.values[j]; break end end
          end
          last[#last + 1] = op
        end
      end
    end
  end
  for _, k in ipairs(sorted(have)) do
    local l = have[k]
    if not want[k] and (l.schema == nil or schemas[l.schema]) then last[#last + 1] = {kind = "drop_enum", enum = l} end
  end
  return first, last
end

M.kinds = {create_enum = true, drop_enum = true, add_enum_value = true, drop_enum_value = true}

function M.inverse(op)
  local k = op.kind
  if k == "create_enum" then return {kind = "drop_enum", enum = op.enum} end
  if k == "drop_enum" then return {kind = "create_enum", enum = op.enum} end
  local inv = {enum = op.enum, value = op.value, before = op.before, after = op.after}
  inv.kind = k == "add_enum_value" and "drop_enum_value" or "add_enum_value"
  return inv
end

local S = lua_literal.string

-- op.enum({...}, {name = ...}) for a column type.
function M.type_code(e)
  local opts = {"name = " .. S(e.name)}
  if e.schema then opts[#opts + 1] = "schema = " .. S(e.schema) end
  return ("op.enum(%s, {%s})"):format(lua_literal.literal(e.values), table.concat(opts, ", "))
end

local function schema_opt(e, list)
  if e.schema then list[#list + 1] = "schema = " .. S(e.schema) end
  return #list > 0 and (", {" .. table.concat(list, ", ") .. "}") or ""
end

function M.render(op)
  local e = op.enum
  if op.kind == "create_enum" then
    return ("op.create_enum(%s, %s%s)"):format(S(e.name), lua_literal.literal(e.values), schema_opt(e, {}))
  elseif op.kind == "drop_enum" then
    return ("op.drop_enum(%s%s)"):format(S(e.name), schema_opt(e, {}))
  elseif op.kind == "add_enum_value" then
    local list = {}
    if op.before then list[1] = "before = " .. S(op.before) elseif op.after then list[1] = "after = " .. S(op.after) end
    return ("op.add_enum_value(%s, %s%s)"):format(S(e.name), S(op.value), schema_opt(e, list))
  end
  return ("op.drop_enum_value(%s, %s%s)"):format(S(e.name), S(op.value), schema_opt(e, {}))
end

-- The phrases of luamig.autogen.diff (Detected ..., and what a downgrade left).
M.phrases = {
  create_enum = {"added enum type '%s'", "enum type '%s' is missing"},
  drop_enum = {"removed enum type '%s'", "enum type '%s' is left behind"},
  add_enum_value = {"added value '%s' to enum type '%s'", "value '%s' of enum type '%s' is missing"},
  drop_enum_value = {"removed value '%s' from enum type '%s'", "value '%s' of enum type '%s' is left behind"},
}

function M.subject(op)
  local name = op.enum.schema and (op.enum.schema .. "." .. op.enum.name) or op.enum.name
  if op.value then return op.value, name end
  return name
end

return M
