-- luamig.cli -- the luamig command: the command table, help, and main
-- (options, the runner, failures and exit statuses). A thin face over the
-- embedding API (luamig/init.lua): every command is one or two calls on a
-- runner. The commands are defined in cli/*.lua, by group (the table
-- below says which file); options are read in cli/options.lua.
--
-- Exit status: 0 success, 1 failure ("FAILED: message" on stderr), 2 usage.
-- Log lines go to stderr; data (current, history, heads, --sql) to stdout.
-- Everything written but the --sql script passes through luamig.redact, which knows every
-- password of the run's URLs.
local core = require "luamig.core"
local luamig = require "luamig"
local redact = require "luamig.redact"
local suggest = require "luamig.suggest"
local fs = require "luamig.fs"
local common = require "luamig.cli.common"
local options = require "luamig.cli.options"
local progress = require "luamig.cli.progress"

local say, tell, Usage, usage_error, url_like, quoted =
  common.say, common.tell, common.Usage, common.usage_error, common.url_like, common.quoted
local global_options, parse, parse_x = options.global_options, options.parse, options.parse_x

local M = {}

---------------------------------------------------------------------------
-- The command table, in the order help lists it: each command's name and
-- the file of cli/ that defines it: {name, args = {min, max} positional
-- arguments, usage, summary, details, options, run(c) -> exit status;
-- listing = true for the commands that only read and print (main stops the
-- collector for them); no_runner = true for a command that opens its own
-- runners (fleet: one per target)}. run gets c = {args, opts, globals, command, m (the
-- runner; not for init and list_templates)}.

local where = {
  {"init", "scaffold"}, {"list_templates", "scaffold"}, {"revision", "scaffold"},
  {"upgrade", "migrate"}, {"downgrade", "migrate"}, {"stamp", "migrate"},
  {"current", "listing"}, {"history", "listing"}, {"heads", "listing"},
  {"branches", "listing"}, {"show", "listing"}, {"merge", "scaffold"}, {"edit", "listing"},
  {"ensure_version", "migrate"}, {"verify", "checks"}, {"check", "checks"},
  {"roundtrip", "checks"}, {"squash", "squash"}, {"import", "import"}, {"lint", "lint"},
  {"fleet", "fleet"},
  {"lock", "lock"},
}
-- A command's file is loaded when the command runs (or help lists them all):
-- loading every file, and what each requires, at every start was a tenth of
-- `history` at 1,000 revisions.
local file_of = {}
for _, entry in ipairs(where) do file_of[entry[1]] = entry[2] end
local commands = setmetatable({}, {__index = function(t, name)
  local file = file_of[name]
  if not file then return nil end
  local def = assert(require("luamig.cli." .. file)[name], name)
  rawset(t, name, def)
  return def
end})

-- Every command's definition, in the table's order (help, suggestions).
local function all_commands()
  local list = {}
  for i, entry in ipairs(where) do list[i] = commands[entry[1]] end
  return list
end

---------------------------------------------------------------------------
-- Help.

local function option_lines(specs)
  local lines = {}
  for _, o in ipairs(specs) do
    if not o.hidden then                              -- hidden: internal (fleet's --worker)
      local names = (o[1] and o[2]) and (o[1] .. ", " .. o[2]) or (o[1] or o[2])
      if o.value then names = names .. " " .. o.value end
      lines[#lines + 1] = ("  %-24s %s"):format(names, o.help or "")
    end
  end
  return table.concat(lines, "\n")
end

local function main_help()
  local lines = {"usage: luamig [global options] COMMAND [options]", "",
                 "A database migration runner for SQLite and PostgreSQL; migrations are Lua scripts.",
                 "", "Commands:"}
  for _, cmd in ipairs(all_commands()) do
    lines[#lines + 1] = ("  %-15s %s"):format(cmd.name, cmd.summary)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Global options:"
  lines[#lines + 1] = option_lines(global_options)
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Every command that uses the database first logs which one and where its URL came from:"
  lines[#lines + 1] = "  INFO  [luamig] Database: postgresql://app:***@db/app (from DATABASE_URL)"
  lines[#lines + 1] = "(from --url, from DATABASE_URL, from the url in luamig.lua, or the built-in default),"
  lines[#lines + 1] = "and a SQLite file it creates: Created the SQLite database file PATH. With --sql it says"
  lines[#lines + 1] = "which database kind the SQL is for. On a terminal, bulk_insert shows rows, total, rate"
  lines[#lines + 1] = "and elapsed time on stderr, in place."
  lines[#lines + 1] = ""
  lines[#lines + 1] = "luamig COMMAND --help shows a command's options. Short options take attached"
  lines[#lines + 1] = "values and combine, as Alembic's: history -r-3:, history -vrbase:heads."
  return table.concat(lines, "\n")
end

local function command_help(cmd)
  local text = ("usage: luamig %s\n\n%s"):format(cmd.usage, cmd.summary)
  if cmd.details then text = text .. "\n\n" .. cmd.details end
  if #cmd.options > 0 then text = text .. "\n\nOptions:\n" .. option_lines(cmd.options) end
  return text
end

---------------------------------------------------------------------------
-- Running a command: log lines and failures on stderr.

local function logger(globals)
  return function(level, message)
    if globals.quiet and level == "INFO" then return end
    progress.finish()
    tell(("%-5s [luamig] %s\n"):format(level == "WARNING" and "WARN" or level, message))
  end
end

local function one_line(s) return (s:gsub("%s+$", "")) end

local function report_failure(err, traceback)
  progress.finish()
  if traceback then tell(traceback, "\n") end
  local message = type(err) == "table" and err.message or tostring(err)
  tell("FAILED: ", tostring(message), "\n")
  if type(err) == "table" and err.sql then
    tell("  statement: ", one_line(err.sql), "\n")
  end
end

function M.main(args)
  local globals = {}
  local c                                             -- the command's context, once made
  -- The redactor learns the secrets of every URL the command line holds
  -- before anything can be printed: --url's and --scratch-url's values,
  -- and any argument that looks like a URL or a libpq keyword string (one
  -- put where a command belongs is quoted by the usage error).
  -- (-x KEY=VALUE looks like a keyword string, but its value is the
  -- scripts', not a URL's: learning it would mask that word everywhere)
  for i, a in ipairs(args) do
    local option, value = a:match("^(%-%-[%w-]+)=(.*)$")
    if option == "--url" or option == "--scratch-url" then redact.learn(value) end
    if a == "--url" or a == "--scratch-url" then redact.learn(args[i + 1]) end
    if url_like(a) and args[i - 1] ~= "-x" then redact.learn(a) end
  end
  redact.learn_environment()
  local traceback                                     -- --raiseerr's, set by the handler below
  local ok, status = xpcall(function()
    local _, i = parse(nil, global_options, args, 1, globals, true)
    if globals.version then say("luamig " .. luamig.version .. " (" .. _VERSION .. ")") return 0 end
    local name = args[i]
    if globals.help and not name then say(main_help()) return 0 end
    if not name then usage_error(nil, "no command given") end
    local cmd = commands[name]
    if not cmd then
      local names = {}
      for _, entry in ipairs(where) do names[#names + 1] = entry[1] end
      usage_error(nil, "unknown command %s%s", quoted(name), url_like(name, true) and "" or suggest.hint(name, names))
    end
    local opts = {globals = globals}
    local positional = parse(cmd, cmd.options, args, i + 1, opts, false, global_options)
    if globals.help then say(command_help(cmd)) return 0 end
    if #positional < cmd.args[1] then usage_error(cmd, "%s needs %s", name,
      cmd.args[1] == 1 and "an argument" or ("at least %d arguments"):format(cmd.args[1])) end
    if #positional > cmd.args[2] then usage_error(cmd, "unexpected argument %s", quoted(positional[cmd.args[2] + 1])) end
    if globals.url == "" then
      usage_error(cmd, "--url is empty (an unset shell variable?); give a database URL, or leave "
        .. "--url out to use DATABASE_URL or the config's url")
    end
    if opts.scratch_url == "" then
      usage_error(cmd, "--scratch-url is empty (an unset shell variable?); give an empty "
        .. "database's URL, or leave it out for a scratch database of the project's kind")
    end
    if opts.reset_scratch and not opts.scratch_url then
      usage_error(cmd, "--reset-scratch empties the --scratch-url database; give --scratch-url URL too")
    end
    local config = globals.config
    if config and not fs.readable(config) and name ~= "init" then
      luamig.fail(("config file '%s' not found"):format(config))
    end
    if not config and fs.readable("luamig.lua") then config = "luamig.lua" end
    -- init --from-database reads the database: a runner on the existing project, or on the URL alone
    local adopting = name == "init" and opts.from_database
    local project = config and fs.readable(config) and config or nil
    if globals.name and not config and name ~= "init" and name ~= "list_templates" then
      luamig.fail(("-n %s: there is no luamig.lua here to hold that section (sections = { %s = "
        .. "{ url = ... } }); give the file with -c"):format(globals.name, globals.name))
    end
    -- A listing reads every script's header into records that all stay
    -- live, then prints: the collector would walk that heap for almost no
    -- garbage (12-15% of `history` at 10,000 revisions); what it leaves
    -- uncollected is a few lines' worth per revision.
    if cmd.listing then collectgarbage("stop") end
    c = {args = positional, opts = opts, globals = globals, command = cmd}
    luamig.traceback = globals.raiseerr
    c.project = adopting and project or nil
    if adopting or name ~= "init" and name ~= "list_templates" and not cmd.no_runner then
      c.m = luamig.open{config = adopting and project or config, url = globals.url, url_source = "--url", name = globals.name,
                        x = parse_x(globals.x, cmd), tag = opts.tag, log = logger(globals),
                        traceback = globals.raiseerr,
                        progress = progress.callback(globals)}
    end
    return cmd.run(c) or 0
  end, function(e)
    -- --raiseerr: the stack where the error was raised (a script's own
    -- frames come from the runner, which saw them before they unwound)
    if getmetatable(e) ~= Usage then
      local script = c and c.m and c.m.script_traceback
      traceback = script or luamig.last_traceback
        or debug.traceback(type(e) == "table" and tostring(e.message) or tostring(e), 2)
    end
    return e
  end)
  if c and c.m then c.m:close() end                   -- whatever happened: main.c does not lua_close
  progress.finish()
  if ok then return status end
  if getmetatable(status) == Usage then
    tell("luamig: ", status.message, "\n")
    tell("usage: luamig ", status.command and status.command.usage or "[global options] COMMAND [options]", "\n")
    tell("(luamig ", status.command and (status.command.name .. " ") or "", "--help for more)\n")
    return 2
  end
  if core.interrupted() then                          -- Ctrl-C: the message says where the database is
    local message = tostring(type(status) == "table" and status.message or status)
    message = message:gsub("^[^\n]-:%d+: (interrupted %(Ctrl%-C%))", "%1")   -- the hook's own: no file:line
    if not message:find("interrupted (Ctrl-C)", 1, true) then
      message = "interrupted (Ctrl-C): " .. tostring(message)
    end
    tell(message, "\n")
    return 130
  end
  report_failure(status, globals.raiseerr and traceback and redact.text(traceback) or nil)
  -- a signal roundtrip trapped to clean up: the exit status a shell expects of it
  local signal_status = {SIGHUP = 129, SIGINT = 130, SIGTERM = 143}
  return signal_status[core.trapped_signal() or ""] or 1
end

return M
