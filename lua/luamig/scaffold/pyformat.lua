-- luamig.scaffold.pyformat -- file_template's Python "%" formatting with
-- a mapping, as Alembic applies it (%(rev)s, %(year)d, %(month).2d ...).
local quote = require("luamig.scaffold.template").quote

local M = {}

-- file_template: Python's "%" formatting with a mapping, as Alembic applies
-- it, so every template written for Alembic works (%(rev)s, %(year)d,
-- %(month).2d, %(epoch)s, %%...). Any conversion Python accepts is
-- accepted; a token that is not one of Alembic's is an error.

local TOKEN_NAMES = "rev, slug, epoch, year, month, day, hour, minute, second"

local function ulen(s)
  return utf8.len(s) or #s
end

-- The first n code points of s.
local function usub(s, n)
  if not utf8.len(s) then return s:sub(1, n) end
  if n >= utf8.len(s) then return s end
  return s:sub(1, utf8.offset(s, n + 1) - 1)
end

local function pad(s, width, left)
  local missing = width - ulen(s)
  if missing <= 0 then return s end
  return left and s .. (" "):rep(missing) or (" "):rep(missing) .. s
end

local function python_repr(v)
  if type(v) ~= "string" then return tostring(v) end
  local q = (v:find("'", 1, true) and not v:find('"', 1, true)) and '"' or "'"
  return q .. v:gsub("\\", "\\\\"):gsub(q, "\\" .. q) .. q
end

-- One conversion of Python's printf-style formatting.
local function convert(template, name, value, flags, width, dot, precision, conv)
  local function fail(why)
    error(("file_template %s: %%(%s)%s %s"):format(quote(template), name, conv, why), 0)
  end
  if not conv:match("^[sracdiuoxXeEfFgG]$") then
    error(("file_template %s: unsupported format character '%s' in %%(%s)%s")
          :format(quote(template), conv, name, conv), 0)
  end
  width = tonumber(width) or 0
  precision = dot == "." and (tonumber(precision) or 0) or nil
  if width > 255 or (precision and precision > 255) then fail("is too wide") end
  local left = flags:find("-", 1, true) ~= nil
  if conv == "s" or conv == "r" or conv == "a" then
    local s = conv == "s" and tostring(value) or python_repr(value)
    if precision then s = usub(s, precision) end
    return pad(s, width, left)
  elseif conv == "c" then
    local s = type(value) == "string" and value or utf8.char(value)
    if type(value) == "string" and ulen(value) ~= 1 then fail("needs a single character") end
    return pad(s, width, left)
  end
  if type(value) ~= "number" then
    fail(("needs a number, but %s is text; use %%(%s)s"):format(name, name))
  end
  if conv == "d" or conv == "i" or conv == "u" or conv == "o" or conv == "x" or conv == "X" then
    local digits
    if conv == "o" then digits = ("%o"):format(math.abs(value))
    elseif conv == "x" then digits = ("%x"):format(math.abs(value))
    elseif conv == "X" then digits = ("%X"):format(math.abs(value))
    else digits = ("%d"):format(math.abs(value)) end
    if precision and #digits < precision then digits = ("0"):rep(precision - #digits) .. digits end
    if flags:find("#", 1, true) and (conv == "o" or conv == "x" or conv == "X") then
      digits = (conv == "o" and "0o" or conv == "x" and "0x" or "0X") .. digits
    end
    local sign = value < 0 and "-" or flags:find("+", 1, true) and "+"
                 or flags:find(" ", 1, true) and " " or ""
    if not left and flags:find("0", 1, true) and #sign + #digits < width then
      local prefix = digits:match("^0[oxX]") or ""
      digits = prefix .. ("0"):rep(width - #sign - #digits) .. digits:sub(#prefix + 1)
    end
    return pad(sign .. digits, width, left)
  end
  -- e E f F g G
  if width > 99 or (precision and precision > 99) then fail("is too wide") end
  return (("%" .. flags .. (width > 0 and width or "") .. (precision and "." .. precision or "")
           .. conv):format(value))
end

-- template % tokens, as Python formats a string with a mapping.
function M.format_file_template(template, tokens)
  local out, i, n = {}, 1, #template
  while i <= n do
    local p = template:find("%", i, true)
    if not p then
      out[#out + 1] = template:sub(i)
      break
    end
    out[#out + 1] = template:sub(i, p - 1)
    if template:sub(p + 1, p + 1) == "%" then
      out[#out + 1] = "%"
      i = p + 2
    else
      local name, flags, width, dot, precision, stop =
        template:match("^%%%(([^)]*)%)([-+ #0]*)(%d*)(%.?)(%d*)[hlL]?()", p)
      if not name then
        error(("file_template %s: the %% at position %d must start a token such as %%(rev)s "
               .. "(tokens: %s), or be written %%%% for a literal %%")
              :format(quote(template), p, TOKEN_NAMES), 0)
      end
      local conv = template:sub(stop, stop)
      if conv == "" then
        error(("file_template %s: incomplete format at the end"):format(quote(template)), 0)
      end
      local value = tokens[name]
      if value == nil then
        error(("file_template %s: unknown token %%(%s)%s; the tokens are %s")
              :format(quote(template), name, conv, TOKEN_NAMES), 0)
      end
      out[#out + 1] = convert(template, name, value, flags, width, dot, precision, conv)
      i = stop + 1
    end
  end
  return table.concat(out)
end

return M
