-- luamig.cli.scaffold -- the commands that write files: init, list_templates,
-- revision, merge.
local common = require "luamig.cli.common"

local say, absolute = common.say, common.absolute

-- name -> the command's definition (see cli.lua's command table)
local M = {}
local function command(def) M[def.name] = def end

command{
  name = "init", args = {0, 1}, usage = "init [DIR] [-t TEMPLATE] [--from-database [--force]]",
  summary = "Create a project: luamig.lua, DIR/versions/ and DIR/script.lua.tmpl (DIR: migrations).",
  options = {
    {"-t", "--template", key = "template", value = "TEMPLATE",
     help = "the project template (default generic; luamig list_templates lists them)"},
    {nil, "--from-database", key = "from_database",
     help = "also write schema.lua from the database (--url); in an existing project, only that"},
    {nil, "--force", key = "force", help = "with --from-database: replace an existing schema.lua"},
  },
  run = function(c)
    if c.opts.from_database then return require("luamig.cli.adopt").init_from_database(c) end
    if c.opts.force then
      common.usage_error(c.command, "--force goes with --from-database (it replaces schema.lua)")
    end
    local scaffold = require "luamig.scaffold"
    local created = scaffold.init{dir = c.args[1] or "migrations", template = c.opts.template,
                                  config_path = c.globals.config or "luamig.lua"}
    for _, entry in ipairs(created) do say(entry.line) end
  end,
}

command{
  name = "list_templates", args = {0, 0}, usage = "list_templates",
  summary = "The project templates init -t can use.",
  options = {},
  run = function()
    say("Available templates:\n")
    for _, t in ipairs(require("luamig.scaffold").TEMPLATES) do
      say(("%s - %s"):format(t.name, t.description))
    end
    say("\nTemplates are used via the 'init' command, e.g.:\n\n  luamig init --template generic migrations")
  end,
}

command{
  name = "revision", args = {0, 0},
  usage = "revision -m MSG [--autogenerate [--no-safe-forms] | --baseline [--force]] [--head H] [--splice] [--branch-label L] "
       .. "[--depends-on R] [--rev-id ID] [--version-path P]",
  summary = "Write a new migration script from the template.",
  options = {
    {"-m", "--message", key = "message", value = "MSG", help = "what the revision does"},
    {nil, "--autogenerate", key = "autogenerate", help = "fill it from the declared schema (target_schema)"},
    {nil, "--no-safe-forms", key = "no_safe_forms", help = "with --autogenerate on PostgreSQL: one plain revision, not the safe forms' two (doc/autogenerate.md)"},
    {nil, "--baseline", key = "baseline", help = "the first revision: it creates the database's whole schema"},
    {nil, "--force", key = "force", help = "with --baseline: write it although the database has what it creates otherwise (listed at the top of its upgrade)"},
    {nil, "--head", key = "head", value = "H", help = "the parent revision (default head; base for a new branch)"},
    {nil, "--splice", key = "splice", help = "allow a parent that is not a head"},
    {nil, "--branch-label", key = "branch_label", value = "L", many = true, help = "a branch label for the new revision"},
    {nil, "--depends-on", key = "depends_on", value = "R", many = true, help = "a revision this one depends on"},
    {nil, "--rev-id", key = "rev_id", value = "ID", help = "the new revision's id (default: random)"},
    {nil, "--version-path", key = "version_path", value = "P", help = "the directory to write it to"},
  },
  run = function(c)
    if c.opts.no_safe_forms and not c.opts.autogenerate then
      common.usage_error(c.command, "--no-safe-forms goes with --autogenerate")
    end
    if c.opts.force and not c.opts.baseline then
      common.usage_error(c.command, "--force goes with --baseline (it writes a baseline that differs from the database)")
    end
    if c.opts.baseline and c.opts.autogenerate then
      common.usage_error(c.command, "--baseline and --autogenerate do not go together: the baseline creates the "
        .. "database's whole schema; autogenerate writes its difference from schema.lua")
    end
    if c.opts.baseline and c.opts.head and c.opts.head ~= "base" and c.opts.head ~= "head" then
      common.usage_error(c.command, "--baseline has no parent; leave --head out")
    end
    local r = c.m:revision{message = c.opts.message, head = c.opts.head, splice = c.opts.splice,
                           branch_label = c.opts.branch_label, depends_on = c.opts.depends_on,
                           rev_id = c.opts.rev_id, version_path = c.opts.version_path,
                           autogenerate = c.opts.autogenerate, baseline = c.opts.baseline,
                           force = c.opts.force, safe_forms = not c.opts.no_safe_forms}
    say(("Generating %s ...  done"):format(absolute(r.path)))
    if r.second then say(("Generating %s ...  done"):format(absolute(r.second.path))) end
  end,
}

command{
  name = "merge", args = {1, math.huge}, usage = "merge -m MSG REV... [--rev-id ID] [--branch-label L]",
  summary = "Write a merge revision joining REV... (e.g. heads).",
  options = {
    {"-m", "--message", key = "message", value = "MSG", help = "what the merge does"},
    {nil, "--rev-id", key = "rev_id", value = "ID", help = "the new revision's id"},
    {nil, "--branch-label", key = "branch_label", value = "L", help = "a branch label for it"},
  },
  run = function(c)
    local r = c.m:merge{revisions = c.args, message = c.opts.message, rev_id = c.opts.rev_id,
                        branch_label = c.opts.branch_label}
    say(("Generating %s ...  done"):format(absolute(r.path)))
  end,
}

return M
