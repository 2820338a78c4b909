-- luamig.json -- a small JSON encoder for --json output. Tables with a
-- length (or the empty_array marker) become arrays; others objects with
-- sorted keys, so output is stable.
--
-- The output is always valid JSON (RFC 8259), whatever bytes a string
-- holds: valid UTF-8 is kept as it is; each byte that does not start a
-- valid UTF-8 sequence (a Latin-1 "\xe9", a stray continuation byte, an
-- overlong form, a surrogate, a code point past U+10FFFF) becomes U+FFFD,
-- the replacement character, written "\ufffd"; control characters are
-- escaped. Every string also passes through luamig.redact, before it is
-- escaped, so a password with a quote in it is found as written.
local redact = require "luamig.redact"

local M = {}

M.empty_array = setmetatable({}, {__name = "json.empty_array"})

local escapes = {['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                 ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t"}

local function escape(s)
  return (s:gsub('[%c"\\]', function(c)
    return escapes[c] or ("\\u%04x"):format(c:byte())
  end))
end

-- s as UTF-8: its valid runs kept, each invalid byte as "\ufffd" (strict
-- decoding: utf8.len rejects overlong forms, surrogates and > U+10FFFF).
local function valid_utf8(s)
  local parts, i, n = {}, 1, #s
  while i <= n do
    local len, bad = utf8.len(s, i, n)
    if len then
      parts[#parts + 1] = escape(s:sub(i))
      break
    end
    parts[#parts + 1] = escape(s:sub(i, bad - 1))
    parts[#parts + 1] = "\\ufffd"
    i = bad + 1
  end
  return table.concat(parts)
end

local function encode_string(s)
  return '"' .. valid_utf8(redact.text(s)) .. '"'
end

local function encode(v, out)
  local t = type(v)
  if v == nil then out[#out + 1] = "null"
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then out[#out + 1] = "null"
    elseif math.type(v) == "integer" then out[#out + 1] = tostring(v)
    else                                              -- the shortest text that reads back as v (0.009, not 0.0089999999999999993)
      local text = ("%.15g"):format(v)
      if tonumber(text) ~= v then text = ("%.16g"):format(v) end
      if tonumber(text) ~= v then text = ("%.17g"):format(v) end
      out[#out + 1] = text
    end
  elseif t == "string" then out[#out + 1] = encode_string(v)
  elseif t == "table" then
    if v == M.empty_array or #v > 0 then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) == "string" then keys[#keys + 1] = k end
      end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = encode_string(k)
        out[#out + 1] = ":"
        encode(v[k], out)
      end
      out[#out + 1] = "}"
    end
  else
    out[#out + 1] = "null"                            -- functions and userdata are not data
  end
end

function M.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

return M
