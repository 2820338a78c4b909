-- luamig.scaffold.project -- what `init` creates: the script directories,
-- their script.lua.tmpl and luamig.lua, from the project templates
-- (generic, multidb).
local fs = require "luamig.fs"
local script_template = require "luamig.scaffold.template"

local quote, ensure_directory, created_file, render = script_template.quote,
  script_template.ensure_directory, script_template.created_file, script_template.render
local join, write_new_file = fs.join, fs.write_new_file

local M = {}

local CONFIG_TEMPLATE = [[
-- luamig.lua: the project configuration. Every setting is optional; the
-- commented-out values are the defaults.

-- holds versions/ and script.lua.tmpl
script_location = ${script_location}

-- the database; --url and the DATABASE_URL environment variable take precedence
${url}

-- version_table = "luamig_version"

-- new scripts' file names; Alembic's tokens:
-- %(rev)s %(slug)s %(year)d %(month).2d %(day).2d %(hour).2d %(minute).2d %(second).2d %(epoch)s
-- file_template = "%(rev)s_%(slug)s"

-- the declared schema that autogenerate compares against
-- target_schema = "schema.lua"

-- false: the whole run in one transaction
-- transaction_per_migration = true

-- the wait for another luamig run (seconds)
-- lock_timeout = 300

-- the run lock: "advisory" (PostgreSQL's session advisory lock, SQLite's
-- lock file), "table" (a lease row: through PgBouncer's transaction
-- pooling too), "none"; and the lease's length in seconds
-- lock = "advisory"
-- lock_lease = 30

-- PostgreSQL: each step statement's lock wait (SET LOCAL lock_timeout),
-- its statement_timeout, and the attempts of a step whose lock is not
-- granted in time or that fails in a serialization failure or deadlock
-- (40001, 40P01) (doc/safety.md, "Lock timeouts and retries")
-- ddl_lock_timeout = "2s"
-- statement_timeout = false
-- lock_retries = 10
]]

-- The multidb template's configuration: one section per database, each
-- with its own scripts and version table; every command names one with
-- -n (Alembic's multidb template runs one env.py over several engines).
local MULTIDB_CONFIG_TEMPLATE = [[
-- luamig.lua: a project of several databases (init -t multidb). Each
-- database is a section with its own scripts and URL; every command names
-- the section it works on:
--
--   luamig -n engine1 upgrade head
--   luamig -n engine2 revision -m "create accounts"
--
-- Settings outside sections apply to every section; a section's own
-- settings take precedence. The database URL still yields to --url and
-- DATABASE_URL, so set those only for one section's command.

-- version_table = "luamig_version"
-- transaction_per_migration = true

sections = {
  engine1 = {
    script_location = ${engine1_location},
    url = "sqlite:engine1.db",
  },
  engine2 = {
    script_location = ${engine2_location},
    url = "sqlite:engine2.db",
  },
}
]]

-- The project templates init -t takes: name, description, and the
-- script directories below DIR ("" for DIR itself) that it creates.
M.TEMPLATES = {
  {name = "generic", description = "Generic single-database configuration.", dirs = {""}},
  {name = "multidb", description = "Several databases, one section of luamig.lua each "
     .. "(luamig -n engine1 ...).", dirs = {"engine1", "engine2"}},
}

-- Creates DIR/versions/, DIR/script.lua.tmpl and the configuration file
-- (opts.template "multidb": DIR/engine1/ and DIR/engine2/ with one each);
-- see luamig.scaffold's header for the entries returned.
function M.init(opts)
  opts = opts or {}
  local template_name = opts.template or "generic"
  local template
  for _, t in ipairs(M.TEMPLATES) do if t.name == template_name then template = t end end
  if not template then
    local names = {}
    for i, t in ipairs(M.TEMPLATES) do names[i] = t.name end
    error(("init: no template '%s'%s; the templates: %s (luamig list_templates)")
      :format(tostring(template_name), require("luamig.suggest").hint(tostring(template_name), names),
              table.concat(names, ", ")), 0)
  end
  local dir = opts.dir or "migrations"
  local config_path = opts.config_path or "luamig.lua"
  if type(dir) ~= "string" or dir == "" then error("init: dir must be a non-empty path", 0) end
  if type(config_path) ~= "string" or config_path == "" then
    error("init: config_path must be a non-empty path", 0)
  end
  if opts.url ~= nil and type(opts.url) ~= "string" then
    error("init: url must be a string", 0)
  end

  -- refuse before creating anything
  local kind = fs.kind(dir)
  if kind == "file" then
    error(("%s exists and is not a directory; choose another directory for the scripts, "
           .. "e.g. luamig init migrations"):format(dir), 0)
  elseif kind == "directory" then
    local names, err = fs.entries(dir)
    if not names then error(("cannot read directory %s: %s"):format(dir, err), 0) end
    if #names > 0 then
      error(("Directory %s already exists and is not empty; choose another directory, "
             .. "or remove its contents first"):format(dir), 0)
    end
  end
  if fs.kind(config_path) then
    error(("File %s already exists; to start a new project elsewhere, run init in another "
           .. "directory or pass another configuration file with -c"):format(config_path), 0)
  end
  local config_dir = config_path:match("^(.*)/[^/]*$")
  if config_dir and config_dir ~= "" and fs.kind(config_dir) ~= "directory" then
    error(("cannot create %s: directory %s does not exist; create it first or pass another "
           .. "configuration file with -c"):format(config_path, config_dir), 0)
  end

  local created = {}
  ensure_directory(dir, created)
  for _, sub in ipairs(template.dirs) do
    local location = sub == "" and dir or join(dir, sub)
    ensure_directory(location, created)
    ensure_directory(join(location, "versions"), created)
    local template_path = join(location, "script.lua.tmpl")
    write_new_file(template_path, script_template.TEMPLATE)
    created[#created + 1] = created_file(template_path)
  end

  local config
  if template.name == "multidb" then
    config = render(MULTIDB_CONFIG_TEMPLATE, {
      engine1_location = quote(join(dir, "engine1")), engine2_location = quote(join(dir, "engine2")),
    }, "luamig.lua template")
  else
    config = render(CONFIG_TEMPLATE, {
      script_location = quote(dir),
      url = opts.url and "url = " .. quote(opts.url) or '-- url = "sqlite:luamig.db"',
    }, "luamig.lua template")
  end
  write_new_file(config_path, config)
  created[#created + 1] = created_file(config_path)
  return created
end

return M
