-- luamig.cli.common -- what every part of the luamig command shares: the
-- output (data to stdout, the rest to stderr, all redacted), usage errors
-- (exit status 2), and the small formats of ids and paths.
local core = require "luamig.core"
local redact = require "luamig.redact"

local out = io.stdout
local function say(...)
  out:write(redact.text(table.concat({...})))
  out:write("\n")
end
-- stdout is flushed first: piped, it is block-buffered, and a log line or
-- FAILED written after data must not reach a shared log before that data.
local function tell(...)
  out:flush()
  io.stderr:write(redact.text(table.concat({...})))
end

-- A usage error: exit status 2.
local Usage = {}
local function usage_error(cmd, fmt, ...)
  error(setmetatable({message = fmt:format(...), command = cmd}, Usage), 0)
end

-- Whether an argument looks like a database URL or a libpq keyword string
-- ("scheme://", a typo's "scheme:/" or "scheme//" with an '@', "key=value").
-- Revision syntax (LABEL@REV, START:END) has no '/', so only broad, where
-- broad is set (hiding an argument in a usage error), "u:PW@h" counts too.
local function url_like(a, broad)
  return a:find("://", 1, true) ~= nil or a:match("^%s*[%w_]+%s*=") ~= nil
    or (a:find("/", 1, true) ~= nil and a:find("@", 1, true) ~= nil)
    or (broad and a:match("^[^%s]*:[^%s]*@") ~= nil)
end

-- An argument as a usage error quotes it: a URL put in the wrong place is
-- not quoted at all (it may hold a password the redactor cannot know of).
local function quoted(a)
  if url_like(a, true) then return "(a database URL? it is not shown; give it with --url)" end
  return "'" .. a .. "'"
end

local function comma(list) return table.concat(list or {}, ", ") end

-- A path made absolute from the real working directory ($PWD may be
-- inherited from another directory, or unset).
local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local cwd = core.cwd()
  if not cwd then return path end                     -- the directory was removed: relative it stays
  return (cwd == "/" and "" or cwd) .. "/" .. path
end

return {say = say, tell = tell, Usage = Usage, usage_error = usage_error, url_like = url_like,
        quoted = quoted, comma = comma, absolute = absolute}
