-- luamig.cli.fleet -- `luamig fleet COMMAND`: upgrade, downgrade, current,
-- check or verify over many databases or schemas (luamig.fleet runs them),
-- and the report: one row per target, or --json.
local core = require "luamig.core"
local config = require "luamig.config"
local fleet = require "luamig.fleet"
local json = require "luamig.json"
local fs = require "luamig.fs"
local common = require "luamig.cli.common"

local say, tell, usage_error, quoted = common.say, common.tell, common.usage_error, common.quoted

local M = {}

local MAX_JOBS = 64

-- A target's result, in the order the summary line counts them.
local STATUSES = {"upgraded", "downgraded", "already at head", "nothing to do", "ok", "failed", "skipped"}

-- The targets: --targets FILE, else the databases setting of the config.
-- A schema set for the whole project (luamig.lua's schema) is each target's
-- that names none: shown in its label, checked with it before anything runs.
local function targets_of(c, cfg_path)
  local settings, source
  if cfg_path then
    settings, source = config.read(cfg_path), cfg_path
    if c.globals.name then
      settings = config.section(settings, c.globals.name, cfg_path)
      source = ("section '%s' of %s"):format(c.globals.name, cfg_path)
    end
  end
  if c.opts.targets then
    -- path/. opens only for a directory (and reads nothing: a <(...) pipe stays whole)
    local dir = io.open(c.opts.targets .. "/.")
    if dir then dir:close() end
    if dir or not fs.readable(c.opts.targets) then
      usage_error(c.command, "--targets %s: %s (a file of database URLs, one a line)", c.opts.targets,
        dir and "a directory, not a file" or "no such file")
    end
    return fleet.read_file(c.opts.targets, settings and settings.schema)
  end
  if not cfg_path then
    usage_error(c.command, "fleet needs targets: --targets FILE (one URL a line), or databases = {...} "
      .. "in luamig.lua (there is no luamig.lua here)")
  end
  if settings.databases == nil then
    usage_error(c.command, "fleet needs targets: --targets FILE (one URL a line), or databases = {...} "
      .. "(a list, or a function returning one) in %s", source)
  end
  return fleet.from_setting(settings.databases, source, settings.schema)
end

-- The targets a warning came from, for its prefix: "a", "a and b", "a, b
-- and c", "a, b, c and 4 more targets" (a setting's warning comes from
-- every target of the fleet); each label escaped.
local function targets_named(labels)
  local shown = {}
  for i = 1, math.min(#labels, 3) do shown[i] = fleet.escaped(labels[i]) end
  local rest = #labels - #shown
  if rest > 0 then return ("%s and %d more target%s"):format(table.concat(shown, ", "), rest, rest == 1 and "" or "s") end
  if #shown == 1 then return shown[1] end
  return table.concat(shown, ", ", 1, #shown - 1) .. " and " .. shown[#shown]
end

local function revs(list)
  if list == nil then return "?" end
  if #list == 0 then return "base" end
  return table.concat(list, ",")
end

local function first_line(s) return (tostring(s):match("^[^\n]*")) end

-- A cell of the text report, as a label on stderr: control characters escaped.
local cell = fleet.escaped

-- s padded to width bytes, left- or right-aligned (a format width stops at 99).
local function pad(s, width, right)
  local fill = (" "):rep(width - #s)
  return right and fill .. s or s .. fill
end

local function report_text(results, command)
  local rows = {{"TARGET", "BEFORE", "AFTER", "TIME", "RESULT"}}
  for _, r in ipairs(results) do
    local result = r.status
    if r.error then result = result .. ": " .. first_line(r.error) end
    local ran = r.status ~= "skipped"
    rows[#rows + 1] = {cell(r.target.label), ran and revs(r.before) or "-", ran and revs(r.after) or "-",
                       r.seconds and ("%.2fs"):format(r.seconds) or "-", cell(result)}
  end
  local width = {}
  for _, row in ipairs(rows) do
    for i = 1, 4 do width[i] = math.max(width[i] or 0, #row[i]) end
  end
  local lines = {}
  for _, row in ipairs(rows) do
    lines[#lines + 1] = table.concat({pad(row[1], width[1]), pad(row[2], width[2]), pad(row[3], width[3]),
      pad(row[4], width[4], true), row[5]}, "  ")
  end
  local counts = {}
  for _, r in ipairs(results) do counts[r.status] = (counts[r.status] or 0) + 1 end
  local parts = {}
  for _, s in ipairs(STATUSES) do
    if counts[s] then parts[#parts + 1] = ("%d %s"):format(counts[s], s) end
  end
  lines[#lines + 1] = ("%s over %d target%s: %s"):format(command, #results, #results == 1 and "" or "s",
    table.concat(parts, ", "))
  return table.concat(lines, "\n")
end

local function report_json(results, command, ok)
  local list = {}
  for i, r in ipairs(results) do
    local function arr(l) return l and (#l > 0 and l or json.empty_array) or nil end
    list[i] = {target = r.target.label, url = core.parse_url(r.target.url).display,
               schema = r.target.schema, status = r.status, before = arr(r.before), after = arr(r.after),
               seconds = r.seconds and math.floor(r.seconds * 1000 + 0.5) / 1000, error = r.error, warnings = #r.warnings > 0 and r.warnings or nil}
  end
  return json.encode({command = command, ok = ok, targets = #list > 0 and list or json.empty_array})
end

M.fleet = {
  name = "fleet", args = {0, 2}, no_runner = true,
  usage = "fleet COMMAND [REV] [--targets FILE] [-j N] [--continue]",
  summary = "Run upgrade, downgrade, current, check or verify over many databases or schemas.",
  details = "The targets: --targets FILE (a URL a line, optionally schema=NAME after it; # comments),\n"
    .. "else luamig.lua's databases (a list of URLs or {url = ..., schema = ..., name = ...}, or a\n"
    .. "function returning one). A report follows: each target (its password hidden), its revisions\n"
    .. "before and after, the time taken, and the result or error (--json: the same as JSON).\n"
    .. "It stops at the first failure (targets not yet started are skipped) unless --continue.\n"
    .. "Exit status 0 when every target succeeded, 1 otherwise. See doc/fleet.md.",
  options = {
    {nil, "--targets", key = "targets", value = "FILE", help = "the targets, one database URL a line (default: databases in luamig.lua)"},
    {"-j", "--jobs", key = "jobs", value = "N", help = "run N targets at a time (default 1; at most " .. MAX_JOBS .. ")"},
    {nil, "--continue", key = "continue", help = "run every target even after one fails (default: stop at the first failure)"},
    {nil, "--worker", key = "worker", value = "JOB", hidden = true, help = "(internal) one worker process's share of the targets"},
  },
  run = function(c)
    if c.opts.worker then return fleet.worker(c.opts.worker) end
    local command = c.args[1]
    local names = "upgrade, downgrade, current, check or verify"
    if not command then usage_error(c.command, "fleet needs a command: %s", names) end
    if not fleet.commands[command] then
      usage_error(c.command, "fleet runs %s, not %s", names, quoted(command))
    end
    local args = {c.args[2]}
    if command == "downgrade" and not args[1] then
      usage_error(c.command, "fleet downgrade needs a target revision, e.g. -1 or base")
    end
    if command ~= "upgrade" and command ~= "downgrade" and args[1] then
      usage_error(c.command, "fleet %s takes no revision (unexpected argument %s)", command, quoted(args[1]))
    end
    local jobs = 1
    if c.opts.jobs then
      jobs = c.opts.jobs:match("^%d+$") and math.tointeger(tonumber(c.opts.jobs))
      if not jobs or jobs < 1 or jobs > MAX_JOBS then
        usage_error(c.command, "-j takes a number of targets to run at a time, 1 to %d, not %s",
          MAX_JOBS, quoted(c.opts.jobs))
      end
    end
    if c.globals.url then
      usage_error(c.command, "fleet takes its databases from --targets FILE or luamig.lua's databases, "
        .. "not --url (which is one database: `luamig %s --url URL`)", command)
    end
    local cfg_path = c.globals.config or (fs.readable("luamig.lua") and "luamig.lua") or nil
    local targets = targets_of(c, cfg_path)
    local function warn(msg) tell("WARN  [luamig] ", msg, "\n") end
    targets = fleet.distinct(targets, warn)
    if #targets == 0 then                              -- an empty registry is a mistake to say, not success
      usage_error(c.command, "no targets in %s: give at least one database URL",
        c.opts.targets or (cfg_path .. "'s databases"))
    end
    if args[1] and #targets > 1 and fleet.relative_to_current(args[1]) then
      fleet.refuse_one_database_twice(targets, command, args[1])
    end
    if not c.globals.quiet then
      tell(("INFO  [luamig] Fleet: %s over %d target%s, %d at a time%s\n"):format(command, #targets,
        #targets == 1 and "" or "s", math.min(jobs, #targets), c.opts.continue and ", continuing past failures" or ""))
    end
    local results, signal = fleet.run({config = cfg_path and common.absolute(cfg_path), name = c.globals.name,
                               x = require("luamig.cli.options").parse_x(c.globals.x, c.command), tag = c.opts.tag, command = command, args = args,
                               continue = c.opts.continue, quiet = c.globals.quiet}, targets, jobs)
    -- warnings after the run, each text once (a setting's warning comes from every target)
    local ok, seen, order = true, {}, {}
    for _, r in ipairs(results) do
      if r.status == "failed" or r.status == "skipped" then ok = false end
      for _, w in ipairs(r.warnings) do
        if not seen[w] then seen[w] = {}; order[#order + 1] = w end
        table.insert(seen[w], r.target.label)
      end
    end
    for _, w in ipairs(order) do
      warn(("%s: %s"):format(targets_named(seen[w]), w))
    end
    if c.globals.json then say(report_json(results, command, signal == nil and ok))
    else say(report_text(results, command)) end
    if signal then
      tell(("interrupted (%s): each target's row says where it is; run the command again to go on\n"):format(signal))
      return ({SIGHUP = 129, SIGINT = 130, SIGTERM = 143})[signal] or 1
    end
    return ok and 0 or 1
  end,
}

return M
