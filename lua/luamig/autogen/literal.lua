-- luamig.autogen.literal -- Lua source literals for the code luamig writes
-- (autogenerate's operations, a new script's metadata): the one writer of
-- them. Any string loads back byte for byte: quotes, backslashes and
-- control characters are escaped.
local M = {}

local ESCAPES = {['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t"}

-- A Lua string literal, double-quoted. utf8_safe: the bytes of a string that
-- is not valid UTF-8 are escaped too, so the file stays valid UTF-8 (valid
-- UTF-8 is kept readable either way).
function M.string(s, utf8_safe)
  local pattern = (utf8_safe and not utf8.len(s)) and '[%c"\\\128-\255]' or '[%c"\\]'
  return '"' .. s:gsub(pattern, function(c)
    return ESCAPES[c] or ("\\%03d"):format(c:byte())
  end) .. '"'
end

-- A Lua literal for nil, a string, number, boolean or list of them.
function M.literal(v, utf8_safe)
  local t = type(v)
  if t == "string" then return M.string(v, utf8_safe) end
  if t == "number" or t == "boolean" then return tostring(v) end
  if t == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = M.literal(x, utf8_safe) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return "nil"
end

return M
