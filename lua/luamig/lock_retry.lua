-- luamig.lock_retry -- the settings ddl_lock_timeout, statement_timeout and
-- lock_retries: their forms, checked before anything is sent, and the
-- value each revision runs with (per run option, else the script's header,
-- else the project's luamig.lua, else the default). The runner applies
-- them (src/runner_retry.c: SET LOCAL on PostgreSQL, retry on 55P03).
--
-- Forms: a timeout is a number of seconds (2, 0.5), a string with a unit
-- ("2s", "500ms", "1.5s", "1min", "1h"), 0 for no limit, or false (or
-- "off") to send nothing, leaving the database's own setting; lock_retries
-- is a whole number of attempts in all, 1 to 1000 (1: no retry).
local M = {}

M.names = {"ddl_lock_timeout", "statement_timeout", "lock_retries"}
M.timeouts = {ddl_lock_timeout = true, statement_timeout = true}

local units = {ms = 1, s = 1000, min = 60000, h = 3600000, d = 86400000}
local MAX_MS = 2147483647                             -- PostgreSQL's limit for both
M.MAX_RETRIES = 1000

local FORMS = 'a number of seconds, or a string with a unit ("2s", "500ms", "1min"), 0 for no '
  .. 'limit, false to leave the database\'s own'

-- The milliseconds of timeout v (-1: not set, 0: no limit), or nil and why.
function M.timeout_ms(v)
  if v == nil or v == false or v == "off" then return -1 end
  local ms
  if math.type(v) == "integer" or math.type(v) == "float" then
    if v ~= v or v < 0 or v == math.huge then
      return nil, ("%s is not %s"):format(tostring(v), FORMS)
    end
    ms = v * 1000
  elseif type(v) == "string" then
    local num, unit = v:match("^%s*([%d.]+)%s*(%a*)%s*$")
    local n = num and num:match("^%d*%.?%d*$") and tonumber(num)
    if not n then return nil, ("%q is not %s"):format(v, FORMS) end
    if unit == "" then
      if n == 0 then return 0 end
      return nil, ("%q has no unit: write \"%ss\" for seconds or \"%sms\" for milliseconds (PostgreSQL "
        .. "reads a bare number as milliseconds, luamig's number form as seconds)"):format(v, num, num)
    end
    if not units[unit] then
      return nil, ("%q: unknown unit '%s' (ms, s, min, h, d)"):format(v, unit)
    end
    ms = n * units[unit]
  else
    return nil, ("a %s is not %s"):format(type(v), FORMS)
  end
  if ms > MAX_MS then
    return nil, ("%s is more than PostgreSQL allows (%d ms, about 24 days)"):format(tostring(v), MAX_MS)
  end
  local whole = math.floor(ms + 0.5)
  if ms > 0 and whole == 0 then
    return nil, ("%s is less than a millisecond; use 0 for no limit"):format(tostring(v))
  end
  return math.tointeger(whole)
end

-- The attempts of lock_retries v, or nil and why.
function M.retries(v)
  local n = v
  if math.type(n) == "float" and n == math.floor(n) then n = math.tointeger(n) or n end  -- 1.0, 20/2
  if math.type(n) ~= "integer" or n < 1 or n > M.MAX_RETRIES then
    return nil, ("%s is not a whole number of attempts from 1 to %d (1: no retry)"):format(
      type(v) == "string" and ("%q"):format(v) or tostring(v), M.MAX_RETRIES)
  end
  return n
end

-- Check setting name's value v; nil when good, else "name: why".
function M.why_not(name, v)
  local ok, why
  if M.timeouts[name] then ok, why = M.timeout_ms(v)
  else ok, why = M.retries(v) end
  if ok then return nil end
  return ("%s: %s"):format(name, why)
end

-- Raise "source: name: why" for the first bad one of settings (a table
-- with any of the three names).
function M.check(settings, source)
  for _, name in ipairs(M.names) do
    if settings[name] ~= nil then
      local why = M.why_not(name, settings[name])
      if why then error(("%s: %s"):format(source, why), 0) end
    end
  end
end

-- Resolve: for each revision record (records[i]), the values it runs with,
-- as core.run's opts.timeouts wants them. project: the completed settings;
-- run: the per-run overrides (may be nil or partial). Raises, naming the
-- script, on a bad value in a script; the others are checked earlier.
-- given: when set (offline), the names the project's luamig.lua sets: a
-- ddl_lock_timeout left at its default is then not sent (nothing retries
-- it in an --sql script).
function M.resolve(records, project, run, given)
  run = run or {}
  M.check(run, "run option")
  local out = {}
  for i, r in ipairs(records) do
    if r.path then M.check(r, r.path) end
    local function pick(name)
      if run[name] ~= nil then return run[name] end
      if r[name] ~= nil then return r[name] end
      if given and name == "ddl_lock_timeout" and not given[name] then return nil end
      return project[name]
    end
    out[i] = {
      ddl_lock_timeout_ms = assert(M.timeout_ms(pick("ddl_lock_timeout"))),
      statement_timeout_ms = assert(M.timeout_ms(pick("statement_timeout"))),
      lock_retries = pick("lock_retries") ~= nil and assert(M.retries(pick("lock_retries"))) or 1,
      -- outside a transaction only the script's own values apply (runner_retry.c)
      own_lock_timeout_ms = assert(M.timeout_ms(r.ddl_lock_timeout)),
      own_statement_timeout_ms = assert(M.timeout_ms(r.statement_timeout)),
    }
  end
  return out
end

-- Whether any of the three is set other than by default: by the run, a
-- script, or the project (defaults: config.defaults). For SQLite's notice.
function M.any_set(records, project, run, defaults)
  for _, name in ipairs(M.names) do
    if (run or {})[name] ~= nil or project[name] ~= defaults[name] then return true end
    for _, r in ipairs(records) do if r[name] ~= nil then return true end end
  end
  return false
end

return M
