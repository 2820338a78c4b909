-- luamig.config -- the project's settings: defaults, luamig.lua, and the
-- precedence of the database URL (DESIGN.md, "Project configuration").
local M = {}

-- Every setting: its name, the Lua type it must have ("list" = a string or
-- a list of strings) and its default (nil: none). The one table both the
-- reader and its unknown-setting warning use, so the list of known settings
-- is the list of settings read.
M.settings = {
  {"script_location", "string", "migrations"},
  {"url", "string", nil},                            -- see M.url for the precedence
  {"version_table", "string", "luamig_version"},
  {"version_locations", "list", nil},                -- more directories of scripts, besides versions/
  {"file_template", "string", "%(rev)s_%(slug)s"},
  {"truncate_slug_length", "number", 40},
  {"target_schema", "string", "schema.lua"},
  {"transaction_per_migration", "boolean", true},
  {"lock_timeout", "number", 300},                   -- seconds to wait for another run's lock (M.lock_why_not)
  {"lock", "lock", "advisory"},                      -- the run lock: "advisory" | "table" | "none" (M.lock_why_not)
  {"lock_lease", "lease", 30},                       -- lock = "table": seconds a lease lasts unrenewed
  {"ddl_lock_timeout", "timeout", "2s"},             -- PostgreSQL lock_timeout of each step (lock_retry.lua)
  {"statement_timeout", "timeout", nil},             -- PostgreSQL statement_timeout of each step
  {"lock_retries", "retries", 10},                   -- attempts of a step: lock not granted, 40001, 40P01
  {"naming_convention", "convention", nil},          -- "postgresql", "sqlite", or overrides of the default
  {"include_object", "function", nil},               -- function(kind, name, table) for autogenerate
  {"compare_type", "boolean", true},
  {"autogenerate_safe_forms", "boolean", true},      -- PostgreSQL: luamig.autogen.safe's two revisions
  {"lint_on_upgrade", "string", "warn"},             -- "warn" | "refuse" | "off" (luamig.cli.lint)
  {"profile", "profile", "postgresql"},              -- the engine: "postgresql" | "cockroachdb" | "yugabyte" | "citus" (luamig.profile)
  {"sections", "table", nil},                        -- name -> settings, chosen with -n NAME (M.section)
  {"schema", "string", nil},                         -- PostgreSQL: the run's schema (search_path), e.g. a tenant's
  {"databases", "targets", nil},                     -- luamig fleet's targets: a list, or a function returning one
}

M.defaults, M.known = {}, {}                          -- name -> default; name -> true
local types, names = {}, {}                           -- name -> type; the names, sorted
for _, s in ipairs(M.settings) do
  local name, kind, default = s[1], s[2], s[3]
  M.defaults[name], M.known[name], types[name] = default, true, kind
  names[#names + 1] = name
end
table.sort(names)
M.names = names

M.default_url = "sqlite:luamig.db"

-- The warning for a name that is not a setting, with the closest setting.
function M.unknown_warning(source, name)
  local suggest = require "luamig.suggest"
  name = tostring(name)
  local best = suggest.closest(name, names)
  return ("%s: unknown setting '%s' is ignored%s; known settings: %s"):format(source, name,
    best and (" (did you mean '%s'?)"):format(best) or "", table.concat(names, ", "))
end

-- The directory part of a path ("" for a bare name).
function M.dirname(path)
  return path:match("^(.*)/[^/]*$") or ""
end

-- path joined to dir, unless it is absolute.
function M.join(dir, path)
  if path:sub(1, 1) == "/" or dir == "" or dir == "." then return path end
  return dir .. "/" .. path
end

-- A syntax error without the source text Lua quotes ("unfinished string
-- near '"postgresql://u:PW@h/db'"): the file that did not parse may hold a
-- password anywhere, so only punctuation (near '=') and <eof> are kept.
local function unquoted_syntax_error(err)
  local head, token = err:match("^(.-) near '(.*)'$")
  if not head then return err end
  if token:match("^%p+$") and not token:find("[\"'%[]") then return err end
  return head .. " (the text there is not quoted: it may hold a password)"
end

-- Read a luamig.lua: a Lua file whose globals are settings. Returns the
-- settings it sets and a list of warnings (unknown names). A syntax or
-- runtime error is raised as "path:line: message"; neither shows the url's
-- password.
function M.read(path)
  local redact = require "luamig.redact"
  local env = setmetatable({}, {__index = _G})
  local chunk, err = loadfile(path, "t", env)
  if not chunk then error(unquoted_syntax_error(err), 0) end
  local ok, run_err = pcall(chunk)
  redact.learn(rawget(env, "url"))                   -- before any message can show it
  local sections = rawget(env, "sections")            -- and every section's, used or not
  if type(sections) == "table" then
    for _, section in pairs(sections) do
      if type(section) == "table" then redact.learn(rawget(section, "url")) end
    end
  end
  local databases = rawget(env, "databases")          -- and every fleet target's
  if type(databases) == "table" then
    for _, t in pairs(databases) do
      redact.learn(type(t) == "table" and rawget(t, "url") or t)
    end
  end
  if not ok then
    if type(run_err) ~= "string" then               -- error({}) or error(): say what it was
      run_err = ("%s: error object is a %s value"):format(path, type(run_err))
    end
    error(redact.text(run_err), 0)
  end
  local settings, warnings = {}, {}
  for k, v in pairs(env) do
    if M.known[k] then
      settings[k] = v
    else
      warnings[#warnings + 1] = M.unknown_warning(path, k)
    end
  end
  table.sort(warnings)
  M.check(settings, path)
  return settings, warnings
end

-- The settings of section name (-n NAME: sections = {NAME = {...}} in the
-- config) laid over the top-level ones; warnings for its unknown names.
-- A missing section is an error that lists the sections there are.
function M.section(settings, name, path)
  local sections = settings.sections or {}
  for k in pairs(sections) do
    if type(k) ~= "string" then
      error(("%s: sections must be named (sections = { NAME = { url = ... } }), not a list"):format(path), 0)
    end
  end
  local chosen = sections[name]
  if chosen == nil then
    local have = {}
    for k in pairs(sections) do have[#have + 1] = tostring(k) end
    table.sort(have)
    local suggest = require "luamig.suggest"
    error(("%s: no section '%s'%s; %s"):format(path, name, suggest.hint(name, have),
      #have > 0 and ("the sections: " .. table.concat(have, ", "))
        or "define it as sections = { " .. name .. " = { url = ... } }"), 0)
  end
  if type(chosen) ~= "table" then
    error(("%s: sections.%s must be a table of settings, not a %s"):format(path, name, type(chosen)), 0)
  end
  local out, warnings = {}, {}
  for k, v in pairs(settings) do if k ~= "sections" then out[k] = v end end
  for k, v in pairs(chosen) do
    if k == "sections" then
      warnings[#warnings + 1] = ("%s: sections.%s: sections do not nest; its sections are ignored")
        :format(path, name)
    elseif M.known[k] then out[k] = v
    else warnings[#warnings + 1] = M.unknown_warning(("%s: sections.%s"):format(path, name), k) end
  end
  table.sort(warnings)
  M.check(out, ("%s: sections.%s"):format(path, name))
  return out, warnings
end

-- The run lock's strategies (lock), the lease's bounds (lock_lease) and
-- the wait for another run's lock (lock_timeout: 0 to a year):
-- nil when v is one, else why not (for "NAME: why" messages and usage errors).
M.lock_strategies = {advisory = true, table = true, none = true}
function M.lock_why_not(name, v)
  if name == "lock" then
    if M.lock_strategies[v] then return nil end
    return ('lock must be "advisory" (a session advisory lock on PostgreSQL, the lock file on '
      .. 'SQLite), "table" (a lease row: PostgreSQL, through a transaction pooler too) or "none", '
      .. 'not %s'):format(type(v) == "string" and ("'" .. v .. "'") or ("a " .. type(v)))
  end
  if name == "lock_timeout" then
    if type(v) == "number" and v == v and v >= 0 and v <= 31536000 then return nil end
    return ("lock_timeout must be a number of seconds from 0 to 31536000 (a year; default 300), not %s")
      :format(type(v) == "number" and tostring(v) or ("a " .. type(v)))
  end
  if type(v) ~= "number" or v ~= v or v < 0.1 or v > 86400 then
    return ("lock_lease must be a number of seconds from 0.1 to 86400 (default 30), not %s")
      :format(type(v) == "number" and tostring(v) or ("a " .. type(v)))
  end
end

-- The schema setting (and a fleet target's schema): nil when PostgreSQL
-- takes name as a schema of its own, else why not. Checked before anything
-- runs: PostgreSQL cuts a name at 63 bytes (two tenants with a long common
-- prefix would share one schema), refuses pg_* and a NUL, and reads $user
-- and pg_temp* in a search_path as something else.
M.SCHEMA_MAX = 63
function M.schema_why_not(name)
  if type(name) ~= "string" or name == "" then return "schema must be a non-empty string" end
  if #name > M.SCHEMA_MAX then
    return ("schema name longer than %d bytes (%d): PostgreSQL would cut it, so two such names could "
      .. "be one schema; give a shorter name"):format(M.SCHEMA_MAX, #name)
  end
  if name:find("%c") then
    return ("schema %q holds a control character; give a name without one"):format(name)
  end
  if name:sub(1, 3) == "pg_" or name == "$user" then
    return ("schema %q is reserved by PostgreSQL (pg_* names, and $user in a search_path); give "
      .. "another name"):format(name)
  end
end

local function type_ok(want, v)
  if want == "convention" then return type(v) == "table" or type(v) == "string" end
  if want == "timeout" or want == "retries" or want == "profile" or want == "lock" or want == "lease" then
    return true                                       -- checked below
  end
  if want == "targets" then return type(v) == "table" or type(v) == "function" end
  if want ~= "list" then return type(v) == want end
  if type(v) == "string" then return true end
  if type(v) ~= "table" then return false end
  for _, x in ipairs(v) do if type(x) ~= "string" then return false end end
  return true
end

-- Check the types of the settings given; source names them in the message
-- ("luamig.lua", "luamig.open"). Raises "source: NAME must be a T, not a U".
function M.check(settings, source)
  local names = {}
  for k in pairs(settings) do names[#names + 1] = tostring(k) end
  table.sort(names)
  for _, k in ipairs(names) do
    local want, v = types[k], settings[k]
    if want and not type_ok(want, v) then
      local what = want == "list" and "string or a list of strings" or want
      if want == "convention" then what = 'table of patterns or a ready convention\'s name ("postgresql", "sqlite")' end
      if want == "targets" then what = "list of database URLs or targets ({url = ..., schema = ...}), or a function returning one" end
      error(("%s: %s must be a %s, not a %s"):format(source, k, what, type(v)), 0)
    end
    if k == "schema" then
      local why = M.schema_why_not(v)
      if why then error(("%s: %s"):format(source, why), 0) end
    end
    if want == "convention" then
      local ok, why = require("luamig.dialect.naming_ready").resolve(v)
      if not ok then error(("%s: %s"):format(source, why), 0) end
    end
    if want == "timeout" or want == "retries" then
      local why = require("luamig.lock_retry").why_not(k, v)
      if why then error(("%s: %s"):format(source, why), 0) end
    end
    if want == "profile" then
      local why = require("luamig.profile").why_not(v)
      if why then error(("%s: %s"):format(source, why), 0) end
    end
    if want == "lock" or want == "lease" or k == "lock_timeout" then
      local why = M.lock_why_not(k, v)
      if why then error(("%s: %s"):format(source, why), 0) end
    end
  end
end

-- The URL to use: --url (cli_source names it: "--url", "luamig.open"),
-- else DATABASE_URL, else the config's url (from config_source), else the
-- embedded default. The first of them that is set decides, and an empty
-- one is an error, not a reason to go on to the next: `--url "$UNSET"` or
-- DATABASE_URL="" falling through to another database would migrate the
-- wrong one. Returns the URL and where it came from, as the "Database:"
-- line says it ("from --url", "from DATABASE_URL", "from the url in
-- luamig.lua", "the built-in default; ...").
function M.url(cli_url, config_url, cli_source, config_source)
  local env = os.getenv("DATABASE_URL")
  if cli_url ~= nil then
    if cli_url == "" then
      error(("%s: the database URL is empty (an unset shell variable?); give a URL, or leave "
        .. "it out to use DATABASE_URL or the config's url"):format(cli_source or "--url"), 0)
    end
    return cli_url, "from " .. (cli_source or "--url")
  end
  if env ~= nil then
    if env == "" then
      error("DATABASE_URL is set but empty; set it to a database URL, or unset it to use "
        .. "the config's url", 0)
    end
    return env, "from DATABASE_URL"
  end
  if config_url ~= nil then
    if config_url == "" then
      error(("%s: url is empty; give a database URL or remove the setting"):format(
        config_source or "luamig.lua"), 0)
    end
    return config_url, "from the url in " .. (config_source or "luamig.lua")
  end
  return M.default_url, "the built-in default; set --url, DATABASE_URL or url in luamig.lua"
end

-- Settings with defaults filled in, and paths resolved against base_dir
-- (the directory of the config file).
function M.complete(settings, base_dir)
  M.check(settings, "luamig.open")
  local s = {}
  for k, v in pairs(M.defaults) do s[k] = v end
  for k, v in pairs(settings) do if k ~= "sections" then s[k] = v end end
  -- a profile's own defaults (cockroachdb, yugabyte: lock = "table") under what the project sets
  for k, v in pairs(require("luamig.profile").of(s.profile).defaults or {}) do
    if settings[k] == nil then s[k] = v end
  end
  base_dir = base_dir or ""
  s.script_location = M.join(base_dir, s.script_location)
  s.target_schema = M.join(base_dir, s.target_schema)
  if type(s.version_locations) == "string" then s.version_locations = {s.version_locations} end
  local locations = {}
  for i, dir in ipairs(s.version_locations or {}) do locations[i] = M.join(base_dir, dir) end
  s.version_locations = locations
  local given = {}
  for k in pairs(settings) do given[k] = true end
  M.given[s] = given
  return s
end

-- For a completed settings table, the names set in it (not defaults).
M.given = setmetatable({}, {__mode = "k"})

return M
