-- luamig.lint.render -- Lua source for the safe alternatives a rule writes
-- out (luamig ops), from a call descriptor's values.
local M = {}

function M.lit(v)
  if v == nil then return "nil" end
  if type(v) == "string" then return '"' .. v:gsub('[\\"]', "\\%0"):gsub("\n", "\\n") .. '"' end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = M.lit(x) end
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

return M
