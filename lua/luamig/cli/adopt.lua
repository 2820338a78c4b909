-- luamig.cli.adopt -- `luamig init --from-database`: schema.lua written
-- from the live database (luamig.schema_dump), in a new project (init
-- creates it first) or in the project that is already here.
local common = require "luamig.cli.common"
local fs = require "luamig.fs"
local fail = require("luamig.errors").fail

local say, absolute = common.say, common.absolute

local M = {}

-- c.m is the runner opened on the URL (--url, DATABASE_URL, or the
-- existing project's config); c.project: the config file when a project
-- is already here.
function M.init_from_database(c)
  local m = c.m
  local config_path = c.globals.config or "luamig.lua"
  local existing = c.project
  if existing and (c.args[1] or c.opts.template) then
    fail(("init --from-database: %s is here already, so this writes only its schema.lua; DIR and "
      .. "-t are for a new project: leave them out, or run it in another directory"):format(existing))
  end
  local target
  if existing then
    target = m.settings.target_schema
  else
    local dir = config_path:match("^(.*)/[^/]*$")
    target = dir and fs.join(dir, "schema.lua") or "schema.lua"
  end
  -- refuse before reading the database or creating anything
  if fs.kind(target) and not c.opts.force then
    fail(("init --from-database: %s already exists; it holds the declared schema of this "
      .. "project: add --force to replace it with the database's, or move it aside"):format(target))
  end
  if not existing and c.opts.template == "multidb" then
    fail("init --from-database: the multidb template has one schema per database; create the "
      .. "project with init -t multidb, then run init --from-database -n SECTION in it for each")
  end
  if not existing then
    -- init's own refusals (a non-empty scripts directory, ...) before the database is read
    local kind = fs.kind(c.args[1] or "migrations")
    if kind == "file" or kind == "directory" and #(fs.entries(c.args[1] or "migrations") or {}) > 0 then
      require("luamig.scaffold").init{dir = c.args[1] or "migrations", template = c.opts.template,
                                      config_path = config_path}
    end
  end
  if not m:_read_connection() then
    fail(("init --from-database: the SQLite database %s does not exist; give the URL of the "
      .. "database to read with --url or DATABASE_URL"):format(m:display_url()))
  end
  local dump = require "luamig.schema_dump"
  local text, count, missing = dump.schema_file(m)
  if not existing then
    local created = require("luamig.scaffold").init{dir = c.args[1] or "migrations",
      template = c.opts.template, config_path = config_path}
    for _, entry in ipairs(created) do say(entry.line) end
  end
  fs.write_new_file(target, text)
  say(("Generating %s ...  done (%d operation%s from %s)"):format(absolute(target), count,
    count == 1 and "" or "s", m:display_url()))
  if #missing > 0 then
    m:_log("WARNING", "Not covered by schema.lua (keep them in migrations with op.execute): "
      .. table.concat(missing, ", "))
  end
end

return M
