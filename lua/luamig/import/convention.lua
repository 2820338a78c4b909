-- luamig.import.convention -- after `luamig import alembic`: the naming
-- convention the imported scripts need. An Alembic project usually has
-- none, so its databases carry the databases' own names for unnamed
-- constraints (users_pkey, users_email_key, posts_user_id_fkey), which
-- luamig's naming_convention = "postgresql" gives (doc/op.md); luamig's
-- default convention would give pk_users ..., and a later
-- drop_constraint("users_email_key") would fail.
--
-- The setting is written into luamig.lua only when that is safe: the
-- Alembic project's env.py was found and does not mention
-- naming_convention, luamig.lua sets none, the project had no scripts
-- before the import (a convention changes what earlier scripts create), no
-- -n section is in use, and luamig.lua read again gives the new value (an
-- appended line after a `return` would not). Otherwise the report says
-- what to set. Returns the report's lines.
local config = require "luamig.config"
local fs = require "luamig.fs"

local M = {}

local SETTING = 'naming_convention = "postgresql"'
local WHY = "the Alembic project has no naming convention, so its databases carry the "
  .. "databases' own names for unnamed constraints (users_pkey, users_email_key, "
  .. "posts_user_id_fkey), which luamig gives with " .. SETTING .. " (doc/alembic.md)"

local function parent(dir)
  local p = fs.absolute(dir):gsub("/+$", ""):match("^(.*)/[^/]*$")
  return p ~= "" and p or "/"
end

-- The Alembic project's env.py: in the versions directory's parent (the
-- usual layout) or in the directory itself.
local function env_py(versions_dir)
  for _, d in ipairs{parent(versions_dir), versions_dir} do
    local p = fs.join(d, "env.py")
    if fs.kind(p) == "file" then return p, fs.read_file(p) end
  end
end

-- opts: {config_path =, section =, had_scripts =, settings =, versions_dir =}
function M.settle(opts)
  if opts.settings.naming_convention ~= nil then return {} end
  local env_path, env_text = env_py(opts.versions_dir)
  if env_path and not env_text then
    return {("Naming convention: %s cannot be read; if the Alembic project has no naming convention (the "
      .. "usual case), set %s in luamig.lua: %s."):format(env_path, SETTING, WHY)}
  end
  -- (outside Python comments)
  if env_text and env_text:gsub("#[^\n]*", ""):find("naming_convention", 1, true) then
    return {("Naming convention: %s mentions naming_convention: give luamig.lua's naming_convention the "
      .. "same names (a table of patterns, doc/config.md), or the names luamig gives unnamed constraints "
      .. "will not be the database's."):format(env_path)}
  end
  if not env_path then
    return {("Naming convention: no env.py beside %s, so luamig cannot tell whether the Alembic project has "
      .. "one; if it has none (the usual case), set %s in luamig.lua: %s."):format(opts.versions_dir, SETTING, WHY)}
  end
  local path = opts.config_path
  local text = path and fs.read_file(path)
  local why_not = not path and "there is no luamig.lua"
    or not text and ("%s cannot be read"):format(path)
    or opts.section and ("-n %s is in use"):format(opts.section)
    or opts.had_scripts and "the project had scripts before, and the setting changes what they create"
    or text:find("naming_convention", 1, true) and ("%s mentions naming_convention"):format(path)
  if not why_not then
    local new = text .. ((text == "" or text:sub(-1) == "\n") and "" or "\n")
      .. "\n-- Added by `luamig import alembic`: " .. WHY:gsub(", which", ";\n-- luamig") .. ".\n"
      .. SETTING .. "\n"
    local ok, err = pcall(fs.write_new_file, path, new)
    if ok then
      local rok, settings = pcall(config.read, path)
      if rok and settings.naming_convention == "postgresql" then
        return {("Naming convention: set %s in %s: %s."):format(SETTING, path, WHY)}
      end
      fs.write_new_file(path, text)
      why_not = ("%s read with the line appended does not give it"):format(path)
    else
      why_not = tostring(err)
    end
  end
  return {("Naming convention: SET %s in luamig.lua yourself (not set by the import: %s): %s."):format(
    SETTING, why_not, WHY)}
end

return M
