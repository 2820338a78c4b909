-- luamig.lint.render -- Lua source for the safe alternatives a rule writes
-- out (luamig ops), from a call descriptor's values.
local common = require "luamig.dialect.common"
local M = {}

local KEYWORDS = {}
for w in ("and break do else elseif end false for function goto if in local nil not or repeat return "
  .. "then true until while"):gmatch("%a+") do KEYWORDS[w] = true end

local function key(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") and not KEYWORDS[k] then return k end
  return "[" .. M.lit(k) .. "]"
end

-- A Lua value as Lua source: op.raw(...) stays op.raw, option tables keep
-- every key (outside attack C, H3), in a stable order.
function M.lit(v)
  if v == nil then return "nil" end
  if type(v) == "string" then return '"' .. v:gsub('[\\"]', "\\%0"):gsub("\n", "\\n"):gsub("\r", "\\r") .. '"' end
  if common.is_raw(v) then return "op.raw(" .. M.lit(v.sql) .. ")" end
  if v == common.NULL then return "op.NULL" end
  if type(v) == "table" then
    local parts, n = {}, #v
    for i = 1, n do parts[i] = M.lit(v[i]) end
    local keys = {}
    for k in pairs(v) do
      if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do parts[#parts + 1] = key(k) .. " = " .. M.lit(v[k]) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(v)
end

-- name or a placeholder for what the descriptor does not say
function M.name(v, placeholder) return v and M.lit(v) or placeholder end

-- The columns of an index or constraint (a list, or one name).
function M.cols(v)
  if type(v) == "string" then v = {v} end
  return type(v) == "table" and M.lit(v) or '{"..."}'
end

-- The call's own options (d.given) with add's keys set and drop's keys removed.
function M.opts(given, add, drop)
  local o = {}
  for k, v in pairs(given or {}) do o[k] = v end
  for _, k in ipairs(drop or {}) do o[k] = nil end
  for k, v in pairs(add or {}) do o[k] = v end
  return M.lit(o)
end

-- A PostgreSQL identifier, quoted.
function M.qi(x) return '"' .. tostring(x):gsub('"', '""') .. '"' end

-- A name of at most 63 bytes (outside attack C, L4): a long one is cut and
-- ends in a short hash of the whole, as the naming convention does.
function M.fit(name)
  if #name <= 63 then return name end
  local h = 5381
  for i = 1, #name do h = (h * 33 + name:byte(i)) % 4294967296 end
  return name:sub(1, 54) .. "_" .. ("%08x"):format(h)
end

-- sql with the text of statement stmt only when it is one statement that
-- this module can edit: nothing outside parentheses and quotes but one clause.
function M.one_clause(stmt)
  if type(stmt) ~= "string" then return false end
  local s = stmt:gsub("'[^']*'", "''"):gsub('"[^"]*"', '""')
  while true do
    local t = s:gsub("%b()", "")
    if t == s then break end
    s = t
  end
  return not s:find("[,;]") and not s:find("%-%-") and not s:find("/%*")
end

return M
