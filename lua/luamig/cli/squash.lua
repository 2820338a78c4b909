-- luamig.cli.squash -- the squash command (luamig.squash does the work).
local common = require "luamig.cli.common"
local json = require "luamig.json"

local say, absolute, usage_error, quoted = common.say, common.absolute, common.usage_error, common.quoted

-- name -> the command's definition (see cli.lua's command table)
local M = {}

M.squash = {
  name = "squash", args = {1, 1}, usage = "squash START:END [-m MSG] [--rev-id ID] [--scratch-url URL]",
  summary = "Write one revision that replaces the chain START..END (both included).",
  details = "The new revision declares replaces = {START, ..., END}; its upgrade and downgrade are\n"
    .. "what the range does to the schema, found on a scratch database and checked there.\n"
    .. "Databases past the range go on, databases part-way through it finish the old\n"
    .. "revisions, fresh databases take the squash. Once every database is past the range,\n"
    .. "the old files may be deleted (doc/alembic.md, \"Squashing a history\").",
  options = {
    {"-m", "--message", key = "message", value = "MSG", help = "the new revision's message (default: squash START..END)"},
    {nil, "--rev-id", key = "rev_id", value = "ID", help = "the new revision's id (default: random)"},
    {nil, "--scratch-url", key = "scratch_url", value = "URL",
     help = "an empty database of the project's kind to build the range on (default: as roundtrip's)"},
  },
  run = function(c)
    if not c.args[1]:match("^[^:]+:[^:]+$") then
      usage_error(c.command, "the range must be START:END, two revisions, both included (e.g. "
        .. "1975ea83b712:ae1027a6acf), not %s", quoted(c.args[1]))
    end
    local r = require("luamig.squash").run(c.m, {range = c.args[1], message = c.opts.message,
                                                 rev_id = c.opts.rev_id, scratch_url = c.opts.scratch_url})
    if c.globals.json then
      say(json.encode({path = r.path, revision = r.revision, replaces = r.replaces}))
      return 0
    end
    say(("Generating %s ...  done (replaces %s)"):format(absolute(r.path), table.concat(r.replaces, ", ")))
  end,
}

return M
