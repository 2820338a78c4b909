-- luamig.cli.options -- the command line's options, read as argparse (and
-- so Alembic) reads them: long and short names, attached values, clusters
-- of short options, a command's options before or after the global ones.
local suggest = require "luamig.suggest"
local common = require "luamig.cli.common"

local usage_error, quoted, url_like = common.usage_error, common.quoted, common.url_like

local M = {}

-- Options. Each spec: {short, long, key, value = "NAME" (takes an
-- argument), many = true (repeatable), help}.

local global_options = {
  {"-c", "--config", key = "config", value = "FILE", help = "the project file (default ./luamig.lua)"},
  {nil, "--url", key = "url", value = "URL", help = "the database (else DATABASE_URL, else the config's url, else sqlite:luamig.db)"},
  {"-n", "--name", key = "name", value = "NAME", help = "use the section NAME of luamig.lua (sections = {NAME = {...}})"},
  {"-x", nil, key = "x", value = "KEY[=VALUE]", many = true, help = "a value for scripts: op.x.KEY (\"\" without =VALUE)"},
  {"-q", "--quiet", key = "quiet", help = "no INFO lines (nor the bulk_insert progress line)"},
  {nil, "--raiseerr", key = "raiseerr", help = "on failure, also print the full Lua traceback"},
  {nil, "--json", key = "json", help = "machine-readable output (current, history, heads, show, verify, check, roundtrip, lint, fleet, lock status, --plan)"},
  {nil, "--version", key = "version", help = "print the version"},
  {"-h", "--help", key = "help", help = "this help, or a command's"},
}

local function find_option(specs, arg)
  for _, o in ipairs(specs) do
    if arg == o[1] or arg == o[2] then return o end
  end
end

-- A cluster of short options as argparse reads it: "-vi" is -v -i, and
-- the first letter that takes a value takes the rest ("-r-3:",
-- "-rbase:heads", "-vr1975:"). Returns {{option, attached value or nil
-- ("" when the value is the next argument), own}, ...}, own when the
-- option is specs' (else fallback's), or nil when a letter names no option.
local function short_cluster(specs, fallback, a)
  if not a:match("^%-%a.") then return nil end
  local out, k = {}, 2
  while k <= #a do
    local name = "-" .. a:sub(k, k)
    local o = find_option(specs, name)
    local own = o ~= nil
    o = o or (fallback and find_option(fallback, name))
    if not o or name == "--" then return nil end
    if o.value then
      out[#out + 1] = {o, a:sub(k + 1), own}
      return out
    end
    out[#out + 1] = {o, nil, own}
    k = k + 1
  end
  return out
end

-- " (did you mean '--x'?)" for a mistyped long option, from the options
-- of specs and fallback.
local function option_hint(arg, specs, fallback)
  if not arg:match("^%-%-") then return "" end
  local names = {}
  for _, list in ipairs({specs, fallback or {}}) do
    for _, o in ipairs(list) do if o[2] then names[#names + 1] = o[2] end end
  end
  return suggest.hint(arg:match("^[^=]*"), names)
end

-- Parse args[i..] against specs into opts; stops at the first positional
-- when stop_at_positional. Returns the positionals and the next index.
local function parse(cmd, specs, args, i, opts, stop_at_positional, fallback)
  local positional = {}
  local function set(o, own, v)
    local target = own and opts or opts.globals
    if o.many then
      target[o.key] = target[o.key] or {}
      table.insert(target[o.key], v)
    else
      target[o.key] = v
    end
  end
  -- The value of option `given` (spec o) from the next argument: missing,
  -- or another option of this command (`revision -m --autogenerate`), is a
  -- usage error, as argparse's "expected one argument".
  local function next_value(given, o, v)
    if v == nil then usage_error(cmd, "option %s needs a value (%s)", given, o.value) end
    local vname = v:match("^(%-%-[^=]+)=") or v
    if v:sub(1, 1) == "-" and (find_option(specs, vname) or (fallback and find_option(fallback, vname))) then
      usage_error(cmd, "option %s needs a value (%s), not the option %s; give the value after it "
        .. "(%s VALUE %s)", given, o.value, quoted(vname), given, vname)
    end
    return v
  end
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^(%-%-[^=]+)=(.*)$")
    local o = find_option(specs, name or a) or (fallback and find_option(fallback, name or a))
    local cluster = not o and short_cluster(specs, fallback, a)
    if a == "--" then
      for j = i + 1, #args do positional[#positional + 1] = args[j] end
      return positional, #args + 1
    elseif o then
      local v = true
      if o.value then
        if inline then v = inline
        else
          i = i + 1
          v = next_value(a, o, args[i])
        end
      elseif inline then
        usage_error(cmd, "option %s takes no value", name)
      end
      set(o, find_option(specs, name or a) ~= nil, v)
    elseif cluster then
      for _, entry in ipairs(cluster) do
        local v = entry[2] or true
        if v == "" then                                 -- "-vr RANGE": the value is the next argument
          i = i + 1
          v = next_value(entry[1][1], entry[1], args[i])
        end
        set(entry[1], entry[3], v)
      end
    elseif a:sub(1, 1) == "-" and a ~= "-" and not a:match("^%-%d") and not a:match("^%-%-?$") then
      usage_error(cmd, "unknown option %s%s", quoted(a), url_like(a, true) and "" or option_hint(a, specs, fallback))
    else
      if stop_at_positional then return positional, i end
      positional[#positional + 1] = a
    end
    i = i + 1
  end
  return positional, i
end

local function parse_x(list, cmd)
  local x = {}
  for _, kv in ipairs(list or {}) do
    -- -x KEY alone is KEY = "", as Alembic's get_x_argument(as_dictionary=True) has it
    local k, v = kv:match("^([^=]+)=(.*)$")
    -- (a word only: "db_password:S3cret" is a typo for '=', not a key)
    if not k and kv:match("^[%w_.-]+$") then k, v = kv, "" end
    -- not quoted: -x carries secrets (-x db_password=...), and a typo's
    -- ':' for '=' would print one
    if not k then
      usage_error(cmd, "-x takes KEY=VALUE, or a KEY alone (letters, digits, _ . -) for KEY=\"\"; the "
        .. "argument given is not shown, as -x values may be secrets")
    end
    x[k] = v
  end
  return x
end

M.global_options, M.find_option, M.parse, M.parse_x = global_options, find_option, parse, parse_x
return M
