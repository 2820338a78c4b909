-- luamig.cli.import -- import alembic PATH: an Alembic history translated
-- into luamig scripts (luamig.import.alembic does the work).
local common = require "luamig.cli.common"
local fs = require "luamig.fs"
local fail = require("luamig.errors").fail

local say, absolute, usage_error = common.say, common.absolute, common.usage_error

local M = {}
local function command(def) M[def.name] = def end

command{
  name = "import", args = {2, 2}, usage = "import alembic PATH",
  summary = "Translate an Alembic versions/ directory (PATH) into scripts in versions/.",
  details = "Reads each PATH/*.py with python3's own parser (python3 on PATH; nothing is executed)\n"
    .. "and writes versions/<same name>.lua with the same revision id, down_revision,\n"
    .. "branch_labels, depends_on and message, so an alembic_version row stays valid.\n"
    .. "A statement with no faithful translation becomes error(\"not translated: ...\") in\n"
    .. "its place, under the Python it replaces; each is listed as FILE:LINE: WHAT on\n"
    .. "stdout. Exit 0 when the scripts are written (check the list), 1 when nothing was\n"
    .. "written: a Python syntax error, a revision id already in the project, no *.py in\n"
    .. "PATH, no python3. doc/alembic.md, \"Importing an Alembic history\", has the table.",
  options = {},
  run = function(c)
    if c.args[1] ~= "alembic" then
      usage_error(c.command, "import knows 'alembic' only, got '%s'", c.args[1])
    end
    local config_path = c.globals.config or (fs.readable("luamig.lua") and "luamig.lua") or nil
    if not config_path then
      -- the scripts would land in ./migrations/versions of no project
      fail("import alembic: there is no luamig.lua here: run it in the luamig project's directory "
        .. "(luamig init makes one), or give the project's luamig.lua with -c")
    end
    local r = require("luamig.import.alembic").import(c.m, c.args[2])
    for _, w in ipairs(r.written) do
      say(("Generating %s ...  done"):format(absolute(w.path)))
    end
    say(("Imported %d Alembic revision(s) from %s into %s."):format(#r.written, r.dir, r.target))
    if #r.untranslated > 0 then
      say(("Not translated: %d place(s); each script raises error(\"not translated: ...\") "
        .. "there, under the Python it replaces. Translate them by hand:"):format(#r.untranslated))
      for _, u in ipairs(r.untranslated) do
        say(("  %s:%d: %s"):format(u.source, u.line, u.what))
      end
    else
      say("Every statement was translated.")
    end
    if #r.notes > 0 then
      say(("Check by hand: %d place(s) translated whose result may differ from Alembic's (a \"-- note\" "
        .. "comment above each):"):format(#r.notes))
      for _, u in ipairs(r.notes) do
        say(("  %s:%d: %s"):format(u.source, u.line, u.what))
      end
    end
    for _, line in ipairs(require("luamig.import.convention").settle{
        config_path = config_path, section = c.globals.name, had_scripts = r.had_scripts,
        settings = c.m.settings, versions_dir = r.dir}) do
      say(line)
    end
  end,
}

return M
