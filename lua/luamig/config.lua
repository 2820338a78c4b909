-- luamig.config -- the project's settings: defaults, luamig.lua, and the
-- precedence of the database URL (DESIGN.md, "Project configuration").
local M = {}

-- Every setting with its default; a luamig.lua may set any of them.
M.defaults = {
  script_location = "migrations",
  url = nil,                           -- see M.url for the precedence
  version_table = "luamig_version",
  version_locations = nil,             -- more directories of scripts, besides versions/
  file_template = "%(rev)s_%(slug)s",
  truncate_slug_length = 40,
  target_schema = "schema.lua",
  transaction_per_migration = true,
  lock_timeout = 300,                  -- seconds to wait for another run's lock
  naming_convention = nil,             -- overrides of the op API's constraint names
  include_object = nil,                -- function(kind, name, table) for autogenerate
  compare_type = true,
  output_encoding = "utf-8",
}

M.default_url = "sqlite:luamig.db"

-- Settings without a default value, known all the same.
local optional = {url = true, version_locations = true, naming_convention = true, include_object = true}

local function known_list()
  local names = {}
  for k in pairs(M.defaults) do names[#names + 1] = k end
  for k in pairs(optional) do names[#names + 1] = k end
  table.sort(names)
  return table.concat(names, ", ")
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
  if not ok then
    if type(run_err) ~= "string" then               -- error({}) or error(): say what it was
      run_err = ("%s: error object is a %s value"):format(path, type(run_err))
    end
    error(redact.text(run_err), 0)
  end
  local settings, warnings = {}, {}
  for k, v in pairs(env) do
    if M.defaults[k] ~= nil or optional[k] then
      settings[k] = v
    else
      warnings[#warnings + 1] = ("%s: unknown setting '%s' is ignored (known settings: %s)")
        :format(path, tostring(k), known_list())
    end
  end
  table.sort(warnings)
  M.check(settings, path)
  return settings, warnings
end

-- The Lua type each setting must have ("list" = a string or a list of strings).
local types = {
  script_location = "string", url = "string", version_table = "string",
  version_locations = "list", file_template = "string", truncate_slug_length = "number",
  target_schema = "string", transaction_per_migration = "boolean", lock_timeout = "number",
  naming_convention = "table", include_object = "function", compare_type = "boolean",
  output_encoding = "string",
}

local function type_ok(want, v)
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
      error(("%s: %s must be a %s, not a %s"):format(source, k, what, type(v)), 0)
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
  for k, v in pairs(settings) do s[k] = v end
  base_dir = base_dir or ""
  s.script_location = M.join(base_dir, s.script_location)
  s.target_schema = M.join(base_dir, s.target_schema)
  if type(s.version_locations) == "string" then s.version_locations = {s.version_locations} end
  local locations = {}
  for i, dir in ipairs(s.version_locations or {}) do locations[i] = M.join(base_dir, dir) end
  s.version_locations = locations
  return s
end

return M
