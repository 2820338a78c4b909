-- luamig.autogen.index_options -- what autogenerate compares and writes of
-- an index beyond its name, columns, uniqueness, method, included columns
-- and predicate (luamig.autogen.diff and render keep those): each column's
-- order, NULLS placement, collation and operator class, the storage
-- parameters (WITH) and NULLS NOT DISTINCT, in luamig.op.index's model.
local sqltext = require "luamig.sqltext"

local M = {}

-- An operator class as PostgreSQL reads it: an unquoted word folded to
-- lower case, a quoted one as written, and without its schema (the
-- database's catalog names it unqualified).
local function opclass_form(s)
  if not s then return "" end
  local toks = sqltext.tokens(s, "postgresql")
  local last = toks[#toks]
  if not last then return s end
  if last.k == "ident" then return last.v end
  return last.k == "word" and last.v:lower() or s:lower()
end

-- A column's options in a normal form: nil where the database's default.
local function column_form(o)
  o = o or {}
  local desc = o.order and o.order:lower() == "desc"
  local nulls = o.nulls and o.nulls:lower()
  if nulls == (desc and "first" or "last") then nulls = nil end
  return table.concat({desc and "desc" or "", nulls or "", o.collate and o.collate:lower() or "",
                       opclass_form(o.opclass)}, "\0")
end

local function with_form(w)
  local keys = {}
  for k, v in pairs(w or {}) do keys[#keys + 1] = k:lower() .. "=" .. tostring(v):lower() end
  table.sort(keys)
  return table.concat(keys, "\0")
end

-- Whether a and b agree on these options.
function M.same(a, b)
  local n = math.max(#a.columns, #b.columns)
  local ca, cb = a.column_options or {}, b.column_options or {}
  for i = 1, n do
    if column_form(ca[i]) ~= column_form(cb[i]) then return false end
  end
  return with_form(a.with) == with_form(b.with)
    and (a.nulls_not_distinct or false) == (b.nulls_not_distinct or false)
end

-- The Lua of index column i: "name", op.raw("expr"), or {..., order = ...}
-- when it has options. str and lit: render's string and literal writers.
function M.column(ix, i, str)
  local e = ix.columns[i]
  local head = type(e) == "table" and ("op.raw(" .. str(e.expr) .. ")") or str(e)
  local o = ix.column_options and ix.column_options[i]
  if not o or column_form(o) == "\0\0\0" then return head end
  local parts = {head}
  local desc = o.order and o.order:lower() == "desc"
  if desc then parts[#parts + 1] = 'order = "desc"' end
  local nulls = o.nulls and o.nulls:lower()
  if nulls and nulls ~= (desc and "first" or "last") then parts[#parts + 1] = "nulls = " .. str(nulls) end
  if o.collate then parts[#parts + 1] = "collate = " .. str(o.collate) end
  if o.opclass then parts[#parts + 1] = "opclass = " .. str(o.opclass) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- Append {name, lua} pairs for these options to list.
function M.options(ix, list, str)
  if ix.with and next(ix.with) then
    local keys = {}
    for k in pairs(ix.with) do keys[#keys + 1] = k end
    table.sort(keys)
    for i, k in ipairs(keys) do
      local v = ix.with[k]
      local text
      if type(v) == "boolean" or type(v) == "number" then text = tostring(v)
      elseif v:match("^%-?%d+$") and math.tointeger(tonumber(v)) then text = v
      else text = str(v) end
      keys[i] = (k:match("^[%a_][%w_]*$") and k or ("[" .. str(k) .. "]")) .. " = " .. text
    end
    list[#list + 1] = {"with", "{" .. table.concat(keys, ", ") .. "}"}
  end
  if ix.nulls_not_distinct then list[#list + 1] = {"nulls_not_distinct", "true"} end
end

return M
