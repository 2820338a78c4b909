-- luamig.cli.migrate -- the commands that move the database: upgrade,
-- downgrade, stamp (online, --sql, --plan), ensure_version.
local json = require "luamig.json"
local common = require "luamig.cli.common"

local say, comma = common.say, common.comma

-- name -> the command's definition (see cli.lua's command table)
local M = {}
local function command(def) M[def.name] = def end

local function print_plan(c, steps)
  if c.globals.json then
    local t = {}
    for i, s in ipairs(steps) do
      t[i] = {revision = s.revision, direction = s.direction,
              from = #s.from > 0 and s.from or json.empty_array,
              to = #s.to > 0 and s.to or json.empty_array,
              rows = #s.rows > 0 and s.rows or json.empty_array}
    end
    say(json.encode({steps = #t > 0 and t or json.empty_array,
                     start = #steps.start > 0 and steps.start or json.empty_array,
                     rows = #steps.rows > 0 and steps.rows or json.empty_array}))
    return
  end
  if #steps == 0 then say("Nothing to do: the database is already there.") return end
  for _, s in ipairs(steps) do
    local fn = s.direction == "stamp" and "stamp_revision" or s.direction
    local info = s.revision and c.m:info(s.revision)
    local doc = info and info.message and (", " .. info.message) or ""
    say(("%s %s -> %s%s"):format(fn, comma(s.from), comma(s.to), doc))
  end
end

local sql_opt = {nil, "--sql", key = "sql", help = "print the SQL instead of running it (offline)"}
local plan_opt = {nil, "--plan", key = "plan", help = "print the steps a run would take, run nothing"}
local tag_opt = {nil, "--tag", key = "tag", value = "TAG", help = "a tag for the scripts to read as op.tag"}

-- This run's lock timeouts (luamig.lock_retry), over the scripts' and luamig.lua's.
local timeout_opts = {
  {nil, "--ddl-lock-timeout", key = "ddl_lock_timeout", value = "T",
   help = "PostgreSQL lock_timeout of each step, e.g. 2s, 500ms, 0 (no limit), off (default 2s)"},
  {nil, "--statement-timeout", key = "statement_timeout", value = "T",
   help = "PostgreSQL statement_timeout of each step (same forms; default: the database's)"},
  {nil, "--lock-retries", key = "lock_retries", value = "N",
   help = "attempts of a step whose lock is not granted in time, or that fails in a serialization "
     .. "failure (40001) or deadlock (40P01) (1: no retry; default 10)"},
}

-- This run's lock strategy, over luamig.lua's lock.
local lock_opt = {nil, "--lock-strategy", key = "lock", value = "S",
  help = "the run lock: advisory (default), table (a lease row; through PgBouncer), none"}

local function lock_value(c)
  local v = c.opts.lock
  if v == nil then return nil end
  local why = require("luamig.config").lock_why_not("lock", v)
  if why then common.usage_error(c.command, "--lock-strategy: %s", why:gsub("^lock must", "must")) end
  return v
end

-- The values of timeout_opts given, checked (a usage error when bad).
local function timeout_values(c)
  local lock_retry = require "luamig.lock_retry"
  local out = {}
  for _, o in ipairs(timeout_opts) do
    local v = c.opts[o.key]
    if o.key == "lock_retries" and v and v:match("^%d+$") then v = math.tointeger(tonumber(v)) or v end
    if v ~= nil then
      local why = lock_retry.why_not(o.key, v)
      -- the option's word for "send nothing" is off (luamig.lua's: false)
      if why then
        why = why:gsub("^[%w_]+: ", ""):gsub("false to leave", "off to leave")
        common.usage_error(c.command, "%s: %s", o[2], why)
      end
      out[o.key] = v
    end
  end
  return out
end

-- upgrade's and downgrade's run: --plan prints the steps, else the runner
-- moves the database (or, with --sql, prints the SQL that would).
local function move(kind, default_target)
  return function(c)
    local target = c.args[1] or default_target
    local t = timeout_values(c)
    local lock = lock_value(c)
    if c.opts.plan then return print_plan(c, c.m:plan(kind, target)) end
    if kind == "upgrade" then require("luamig.cli.lint").before_upgrade(c, target) end
    c.m[kind](c.m, target, {sql = c.opts.sql, ddl_lock_timeout = t.ddl_lock_timeout,
                            statement_timeout = t.statement_timeout, lock_retries = t.lock_retries,
                            lock = lock})
  end
end

command{
  name = "upgrade", args = {0, 1}, usage = "upgrade [TARGET] [--sql] [--plan] [--tag TAG]",
  summary = "Apply revisions up to TARGET (default head).",
  details = "TARGET: head, heads, a revision, +N, REV+N, LABEL@head. A START:END range is for --sql\n"
    .. "only (the SQL from START to END); online the run starts from the version table.\n"
    .. "A failure says what of the run is committed and where the database is; Ctrl-C stops the\n"
    .. "running statement, rolls its step back, says where the database is and exits 130.",
  options = {sql_opt, plan_opt, tag_opt, timeout_opts[1], timeout_opts[2], timeout_opts[3], lock_opt},
  run = move("upgrade", "head"),
}

command{
  name = "downgrade", args = {1, 1}, usage = "downgrade TARGET [--sql] [--plan] [--tag TAG]",
  summary = "Revert revisions down to TARGET (-1, a revision, base).",
  details = "With several current heads, -1 is refused: name the head, HEAD@-1 or LABEL@-1 (REV-1\n"
    .. "would be REV's parent, whose downgrade undoes every branch above it). --sql needs\n"
    .. "<fromrev>:<torev> (e.g. head:base), as there is no database to start from; a range is\n"
    .. "refused without --sql. Failures and Ctrl-C: as for upgrade.",
  options = {sql_opt, plan_opt, tag_opt, timeout_opts[1], timeout_opts[2], timeout_opts[3], lock_opt},
  run = move("downgrade"),
}

command{
  name = "stamp", args = {1, math.huge}, usage = "stamp REV... [--purge] [--sql] [--plan] [--tag TAG]",
  summary = "Set the version table to REV without running migrations.",
  details = "Several REVs record several heads (stamp A B from their merge gives A and B).\n"
    .. "START:REV (a range) is for --sql only.",
  options = {{nil, "--purge", key = "purge", help = "empty the version table first"}, sql_opt, plan_opt, tag_opt,
             lock_opt},
  run = function(c)
    if c.opts.plan then return print_plan(c, c.m:plan("stamp", c.args, {purge = c.opts.purge})) end
    c.m:stamp(c.args, {purge = c.opts.purge, sql = c.opts.sql, lock = lock_value(c)})
  end,
}

command{
  name = "ensure_version", args = {0, 0}, usage = "ensure_version",
  summary = "Create the version table (and its log) if missing.",
  options = {},
  run = function(c) c.m:ensure_version() end,
}

return M
