-- luamig.cli -- the luamig command: argument parsing, the command table,
-- and output in Alembic's formats. A thin face over the embedding API
-- (luamig/init.lua): every command is one or two calls on a runner.
--
-- Exit status: 0 success, 1 failure ("FAILED: message" on stderr), 2 usage.
-- Log lines go to stderr; data (current, history, heads, --sql) to stdout.
-- Everything written but the --sql script passes through luamig.redact, which knows every
-- password of the run's URLs.
local core = require "luamig.core"
local luamig = require "luamig"
local json = require "luamig.json"
local redact = require "luamig.redact"

local M = {}

local out = io.stdout
local function say(...)
  out:write(redact.text(table.concat({...})))
  out:write("\n")
end
local function tell(...) io.stderr:write(redact.text(table.concat({...}))) end

-- A usage error: exit status 2.
local Usage = {}
local function usage_error(cmd, fmt, ...)
  error(setmetatable({message = fmt:format(...), command = cmd}, Usage), 0)
end

-- Whether an argument looks like a database URL or a libpq keyword string
-- ("scheme://", a typo's "scheme:/" or "scheme//" with an '@', "key=value").
-- Revision syntax (LABEL@REV, START:END) has no '/', so only broad, where
-- broad is set (hiding an argument in a usage error), "u:PW@h" counts too.
local function url_like(a, broad)
  return a:find("://", 1, true) ~= nil or a:match("^%s*[%w_]+%s*=") ~= nil
    or (a:find("/", 1, true) ~= nil and a:find("@", 1, true) ~= nil)
    or (broad and a:match("^[^%s]*:[^%s]*@") ~= nil)
end

-- An argument as a usage error quotes it: a URL put in the wrong place is
-- not quoted at all (it may hold a password the redactor cannot know of).
local function quoted(a)
  if url_like(a, true) then return "(a database URL? it is not shown; give it with --url)" end
  return "'" .. a .. "'"
end

---------------------------------------------------------------------------
-- Options. Each spec: {short, long, key, value = "NAME" (takes an
-- argument), many = true (repeatable), help}.

local global_options = {
  {"-c", "--config", key = "config", value = "FILE", help = "the project file (default ./luamig.lua)"},
  {nil, "--url", key = "url", value = "URL", help = "the database (else DATABASE_URL, else the config's url)"},
  {"-x", nil, key = "x", value = "KEY=VALUE", many = true, help = "a value for scripts: op.x.KEY"},
  {"-q", "--quiet", key = "quiet", help = "no INFO lines"},
  {nil, "--json", key = "json", help = "machine-readable output (current, history, heads, show, verify, check, roundtrip, --plan)"},
  {nil, "--version", key = "version", help = "print the version"},
  {"-h", "--help", key = "help", help = "this help, or a command's"},
}

local function find_option(specs, arg)
  for _, o in ipairs(specs) do
    if arg == o[1] or arg == o[2] then return o end
  end
end

-- Parse args[i..] against specs into opts; stops at the first positional
-- when stop_at_positional. Returns the positionals and the next index.
local function parse(cmd, specs, args, i, opts, stop_at_positional, fallback)
  local positional = {}
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^(%-%-[^=]+)=(.*)$")
    local o = find_option(specs, name or a) or (fallback and find_option(fallback, name or a))
    if a == "--" then
      for j = i + 1, #args do positional[#positional + 1] = args[j] end
      return positional, #args + 1
    elseif o then
      local target = find_option(specs, name or a) and opts or opts.globals
      local v = true
      if o.value then
        if inline then v = inline
        else
          i = i + 1
          v = args[i]
          if v == nil then usage_error(cmd, "option %s needs a value (%s)", a, o.value) end
        end
      elseif inline then
        usage_error(cmd, "option %s takes no value", name)
      end
      if o.many then
        target[o.key] = target[o.key] or {}
        table.insert(target[o.key], v)
      else
        target[o.key] = v
      end
    elseif a:sub(1, 1) == "-" and a ~= "-" and not a:match("^%-%d") and not a:match("^%-%-?$") then
      usage_error(cmd, "unknown option %s", quoted(a))
    else
      if stop_at_positional then return positional, i end
      positional[#positional + 1] = a
    end
    i = i + 1
  end
  return positional, i
end

---------------------------------------------------------------------------
-- Output formats (shared/reference/alembic.md §8).

local function comma(list) return table.concat(list or {}, ", ") end

-- Alembic's indicators: "(head)" for a head nothing depends on, "(effective
-- head)" for a head that a depends_on elsewhere points at.
local function flags(info, current, with_effective)
  local s = ""
  if info.is_head and not info.is_effective_head then s = s .. " (head)" end
  if with_effective and info.is_effective_head then s = s .. " (effective head)" end
  if current and current[info.id] then s = s .. " (current)" end
  if info.is_branch_point then s = s .. " (branchpoint)" end
  if info.is_merge_point then s = s .. " (mergepoint)" end
  return s
end

local function labels(info)
  return #(info.labels or {}) > 0 and (" (" .. comma(info.labels) .. ")") or ""
end

local function history_line(info, current)
  local down = #info.parents > 0 and comma(info.parents) or "<base>"
  local deps = #(info.depends_on or {}) > 0 and (" (" .. comma(info.depends_on) .. ")") or ""
  local doc = info.message and (", " .. info.message) or ""
  return ("%s%s -> %s%s%s%s"):format(down, deps, info.id, labels(info), flags(info, current, true), doc)
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  return (os.getenv("PWD") or ".") .. "/" .. path
end

local function verbose_entry(info, current)
  local lines = {("Rev: %s%s"):format(info.id, flags(info, current, false))}
  if #info.parents > 1 then lines[#lines + 1] = "Merges: " .. comma(info.parents)
  else lines[#lines + 1] = "Parent: " .. (info.parents[1] or "<base>") end
  if #(info.depends_on or {}) > 0 then lines[#lines + 1] = "Also depends on: " .. comma(info.depends_on) end
  if info.is_branch_point then lines[#lines + 1] = "Branches into: " .. comma(info.children) end
  if #(info.labels or {}) > 0 then lines[#lines + 1] = "Branch names: " .. comma(info.labels) end
  lines[#lines + 1] = "Path: " .. absolute(info.path)
  lines[#lines + 1] = ""
  lines[#lines + 1] = "    " .. (info.message or ""):gsub("\n", "\n    ")
  lines[#lines + 1] = ""
  return table.concat(lines, "\n")
end

-- A revision for --json: plain fields only.
local function json_revision(info, current)
  return {id = info.id, parents = #info.parents > 0 and info.parents or json.empty_array,
          depends_on = #(info.depends_on or {}) > 0 and info.depends_on or json.empty_array,
          labels = #(info.labels or {}) > 0 and info.labels or json.empty_array,
          message = info.message, path = info.path, is_head = info.is_head,
          is_branch_point = info.is_branch_point, is_merge_point = info.is_merge_point,
          current = current and current[info.id] or nil, unknown = info.unknown}
end

local function json_list(list, current)
  local t = {}
  for i, info in ipairs(list) do t[i] = json_revision(info, current) end
  return #t > 0 and t or json.empty_array
end

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[type(v) == "table" and v.id or v] = true end
  return s
end

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

---------------------------------------------------------------------------
-- The command table: name, args = {min, max} positional arguments, usage,
-- summary, options, run(c) -> exit status; listing = true for the commands
-- that only read and print (main stops the collector for them).

local commands = {}
local function command(def)
  commands[#commands + 1] = def
  commands[def.name] = def
end

local function one_line(s) return (s:gsub("%s+$", "")) end

local sql_opt = {nil, "--sql", key = "sql", help = "print the SQL instead of running it (offline)"}
local plan_opt = {nil, "--plan", key = "plan", help = "print the steps a run would take, run nothing"}

command{
  name = "init", args = {0, 1}, usage = "init [DIR]",
  summary = "Create a project: luamig.lua, DIR/versions/ and DIR/script.lua.tmpl (DIR: migrations).",
  options = {},
  run = function(c)
    local scaffold = require "luamig.scaffold"
    local created = scaffold.init{dir = c.args[1] or "migrations",
                                  config_path = c.globals.config or "luamig.lua"}
    for _, entry in ipairs(created) do say(entry.line) end
  end,
}

command{
  name = "revision", args = {0, 0},
  usage = "revision -m MSG [--autogenerate] [--head H] [--splice] [--branch-label L] "
       .. "[--depends-on R] [--rev-id ID] [--version-path P]",
  summary = "Write a new migration script from the template.",
  options = {
    {"-m", "--message", key = "message", value = "MSG", help = "what the revision does"},
    {nil, "--autogenerate", key = "autogenerate", help = "fill it from the declared schema (target_schema)"},
    {nil, "--head", key = "head", value = "H", help = "the parent revision (default head; base for a new branch)"},
    {nil, "--splice", key = "splice", help = "allow a parent that is not a head"},
    {nil, "--branch-label", key = "branch_label", value = "L", many = true, help = "a branch label for the new revision"},
    {nil, "--depends-on", key = "depends_on", value = "R", many = true, help = "a revision this one depends on"},
    {nil, "--rev-id", key = "rev_id", value = "ID", help = "the new revision's id (default: random)"},
    {nil, "--version-path", key = "version_path", value = "P", help = "the directory to write it to"},
  },
  run = function(c)
    local r = c.m:revision{message = c.opts.message, head = c.opts.head, splice = c.opts.splice,
                           branch_label = c.opts.branch_label, depends_on = c.opts.depends_on,
                           rev_id = c.opts.rev_id, version_path = c.opts.version_path,
                           autogenerate = c.opts.autogenerate}
    say(("Generating %s ...  done"):format(absolute(r.path)))
  end,
}

command{
  name = "upgrade", args = {0, 1}, usage = "upgrade [TARGET] [--sql] [--plan]",
  summary = "Apply revisions up to TARGET (default head).",
  details = "TARGET: head, heads, a revision, +N, REV+N, LABEL@head. A START:END range is for --sql\n"
    .. "only (the SQL from START to END); online the run starts from the version table.\n"
    .. "A failure says what of the run is committed and where the database is; Ctrl-C stops the\n"
    .. "running statement, rolls its step back, says where the database is and exits 130.",
  options = {sql_opt, plan_opt},
  run = function(c)
    local target = c.args[1] or "head"
    if c.opts.plan then return print_plan(c, c.m:plan("upgrade", target)) end
    c.m:upgrade(target, {sql = c.opts.sql})
  end,
}

command{
  name = "downgrade", args = {1, 1}, usage = "downgrade TARGET [--sql] [--plan]",
  summary = "Revert revisions down to TARGET (-1, a revision, base).",
  details = "With several current heads, -1 is refused: name the head, HEAD@-1 or LABEL@-1 (REV-1\n"
    .. "would be REV's parent, whose downgrade undoes every branch above it). --sql needs\n"
    .. "<fromrev>:<torev> (e.g. head:base), as there is no database to start from; a range is\n"
    .. "refused without --sql. Failures and Ctrl-C: as for upgrade.",
  options = {sql_opt, plan_opt},
  run = function(c)
    if c.opts.plan then return print_plan(c, c.m:plan("downgrade", c.args[1])) end
    c.m:downgrade(c.args[1], {sql = c.opts.sql})
  end,
}

command{
  name = "stamp", args = {1, math.huge}, usage = "stamp REV... [--purge] [--sql] [--plan]",
  summary = "Set the version table to REV without running migrations.",
  details = "Several REVs record several heads (stamp A B from their merge gives A and B).\n"
    .. "START:REV (a range) is for --sql only.",
  options = {{nil, "--purge", key = "purge", help = "empty the version table first"}, sql_opt, plan_opt},
  run = function(c)
    if c.opts.plan then return print_plan(c, c.m:plan("stamp", c.args, {purge = c.opts.purge})) end
    c.m:stamp(c.args, {purge = c.opts.purge, sql = c.opts.sql})
  end,
}

command{
  name = "current", args = {0, 0}, usage = "current [-v] [--check-heads]", listing = true,
  summary = "The database's revision(s).",
  options = {
    {"-v", "--verbose", key = "verbose", help = "full entries"},
    {nil, "--check-heads", key = "check_heads", help = "exit 1 unless the database is at every head"},
  },
  run = function(c)
    local current = c.m:current()
    if c.globals.json then
      say(json.encode(json_list(current)))
    else
      if c.opts.verbose then say(("Current revision(s) for %s:"):format(c.m:display_url())) end
      for _, info in ipairs(current) do
        if info.unknown then say(info.id .. " (unknown revision)")
        elseif c.opts.verbose then say(verbose_entry(info))
        else say(info.id .. flags(info, nil, true)) end
      end
    end
    if c.opts.check_heads then
      local heads, at, at_ids = {}, set_of(current), {}
      for _, h in ipairs(c.m:heads()) do heads[#heads + 1] = h.id end
      for i, info in ipairs(current) do at_ids[i] = info.id end
      local missing = 0
      for _, h in ipairs(heads) do if not at[h] then missing = missing + 1 end end
      if missing > 0 or #current ~= #heads then
        luamig.fail(("the database is not at the head(s): it is at %s, the head(s): %s; run "
          .. "`luamig upgrade heads`"):format(#at_ids > 0 and comma(at_ids) or "base", comma(heads)))
      end
    end
  end,
}

command{
  name = "history", args = {0, 0}, usage = "history [-r RANGE] [-v] [-i]", listing = true,
  summary = "The revisions, newest first.",
  options = {
    {"-r", "--rev-range", key = "range", value = "RANGE", help = "START:END, either side may be empty"},
    {"-v", "--verbose", key = "verbose", help = "full entries"},
    {"-i", "--indicate-current", key = "indicate_current", help = "mark the database's revision(s)"},
  },
  run = function(c)
    local rows
    if c.opts.indicate_current or (c.opts.range and c.opts.range:find("current", 1, true)) then
      rows = c.m:current_rows()
    end
    local current = c.opts.indicate_current and set_of(rows) or nil
    local list = c.m:history(c.opts.range, {rows = rows})
    if c.globals.json then return say(json.encode(json_list(list, current))) end
    for _, info in ipairs(list) do
      say(c.opts.verbose and verbose_entry(info, current) or history_line(info, current))
    end
  end,
}

command{
  name = "heads", args = {0, 0}, usage = "heads [-v]", listing = true,
  summary = "The head revisions.",
  options = {{"-v", "--verbose", key = "verbose", help = "full entries"}},
  run = function(c)
    local list = c.m:heads()
    if c.globals.json then return say(json.encode(json_list(list))) end
    for _, info in ipairs(list) do
      if c.opts.verbose then say(verbose_entry(info))
      else say(("%s%s %s"):format(info.id, labels(info),
                                  info.is_effective_head and "(effective head)" or "(head)")) end
    end
  end,
}

command{
  name = "branches", args = {0, 0}, usage = "branches [-v]", listing = true,
  summary = "The branch points.",
  options = {{"-v", "--verbose", key = "verbose", help = "full entries"}},
  run = function(c)
    for _, info in ipairs(c.m:branches()) do
      if c.opts.verbose then say(verbose_entry(info))
      else say(info.id .. labels(info) .. flags(info, nil, false)) end
      for _, child in ipairs(info.children) do
        local ci = c.m:info(child)
        say(("%s -> %s%s%s"):format((" "):rep(#info.id), ci.id, labels(ci), flags(ci, nil, true)))
      end
    end
  end,
}

command{
  name = "show", args = {1, 1}, usage = "show REV", listing = true,
  summary = "One revision in full.",
  options = {},
  run = function(c)
    local list = c.m:show(c.args[1])
    if c.globals.json then return say(json.encode(json_list(list))) end
    for _, info in ipairs(list) do say(verbose_entry(info)) end
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

command{
  name = "edit", args = {1, 1}, usage = "edit REV",
  summary = "Open a revision's script in $EDITOR.",
  options = {},
  run = function(c)
    local list = c.m:show(c.args[1])
    local editor = os.getenv("VISUAL") or os.getenv("EDITOR")
    if not editor or editor == "" then
      luamig.fail("edit: set EDITOR (or VISUAL) to the editor to open " .. list[1].path .. " with")
    end
    local ok = os.execute(editor .. " '" .. list[1].path:gsub("'", "'\\''") .. "'")
    if not ok then luamig.fail(("edit: %s exited with an error"):format(editor)) end
  end,
}

command{
  name = "ensure_version", args = {0, 0}, usage = "ensure_version",
  summary = "Create the version table (and its log) if missing.",
  options = {},
  run = function(c) c.m:ensure_version() end,
}

command{
  name = "verify", args = {0, 0}, usage = "verify",
  summary = "Applied scripts changed since they ran; version rows naming unknown revisions.",
  options = {},
  run = function(c)
    local r = c.m:verify()
    if c.globals.json then
      say(json.encode({ok = r.ok, changed = #r.changed > 0 and r.changed or json.empty_array,
                       unknown = #r.unknown > 0 and r.unknown or json.empty_array}))
    else
      for _, ch in ipairs(r.changed) do
        say(("changed: %s (revision %s) differs from what was applied (sha256 %s, now %s)")
            :format(ch.path, ch.revision, ch.logged:sub(1, 12), ch.current:sub(1, 12)))
      end
      for _, id in ipairs(r.unknown) do
        say(("unknown: the version table holds '%s', which no script defines"):format(id))
      end
      if r.ok then say("OK: every applied script matches its file") end
    end
    return r.ok and 0 or 1
  end,
}

-- Operations for --json: plain fields only.
local function json_operations(list)
  local t = {}
  for i, o in ipairs(list) do
    t[i] = {kind = o.kind, type = o.ctype, table = o.table, name = o.name,
            description = o.description, code = o.code}
  end
  return #t > 0 and t or json.empty_array
end

command{
  name = "check", args = {0, 0}, usage = "check",
  summary = "Exit 1 if autogenerate would produce operations (the database must be at head).",
  options = {},
  run = function(c)
    local r = c.m:check()
    if c.globals.json then
      say(json.encode({ok = r.ok, operations = json_operations(r.operations)}))
      return r.ok and 0 or 1
    end
    if r.ok then say("No new upgrade operations detected.") return 0 end
    for _, o in ipairs(r.operations) do say(o.code) end
    luamig.fail(("New upgrade operations detected: %d (listed above)"):format(#r.operations))
  end,
}

command{
  name = "roundtrip", args = {0, 1}, usage = "roundtrip [RANGE] [--scratch-url URL]",
  summary = "On a scratch database: each revision up, down, compared, up again.",
  options = {
    {nil, "--scratch-url", key = "scratch_url", value = "URL",
     help = "an empty database to use (default: a temporary SQLite file); never the configured one"},
  },
  run = function(c)
    local r = c.m:roundtrip{range = c.args[1], scratch_url = c.opts.scratch_url}
    if c.globals.json then
      local f = r.failure
      if f and f.differences then
        f.differences = #f.differences > 0 and f.differences or json.empty_array
      end
      say(json.encode({ok = r.ok, tested = #r.tested > 0 and r.tested or json.empty_array, failure = f}))
      return r.ok and 0 or 1
    end
    if r.ok then
      say(("OK: %d revision(s) upgrade, downgrade to the same schema, and upgrade again"):format(#r.tested))
      return 0
    end
    local f = r.failure
    local what = f.revision .. (f.message and (" (" .. f.message .. ")") or "")
    if f.differences then
      local lines = {(f.phase == "compare" and "roundtrip: the downgrade of %s does not restore the schema:"
        or "roundtrip: %s upgraded again after its downgrade gives another schema:"):format(what)}
      for _, d in ipairs(f.differences) do lines[#lines + 1] = "  " .. d.description end
      lines[#lines + 1] = f.phase == "compare" and "the downgrade would need:" or "as operations, to get there:"
      for _, d in ipairs(f.differences) do lines[#lines + 1] = "  " .. d.code:gsub("\n", "\n  ") end
      luamig.fail(table.concat(lines, "\n"))
    end
    luamig.fail(("roundtrip: %s of %s failed: %s"):format(f.phase, what, f.error))
  end,
}

---------------------------------------------------------------------------
-- Help.

local function option_lines(specs)
  local lines = {}
  for _, o in ipairs(specs) do
    local names = (o[1] and o[2]) and (o[1] .. ", " .. o[2]) or (o[1] or o[2])
    if o.value then names = names .. " " .. o.value end
    lines[#lines + 1] = ("  %-24s %s"):format(names, o.help or "")
  end
  return table.concat(lines, "\n")
end

local function main_help()
  local lines = {"usage: luamig [global options] COMMAND [options]", "",
                 "A database migration runner for SQLite and PostgreSQL; migrations are Lua scripts.",
                 "", "Commands:"}
  for _, cmd in ipairs(commands) do
    lines[#lines + 1] = ("  %-15s %s"):format(cmd.name, cmd.summary)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Global options:"
  lines[#lines + 1] = option_lines(global_options)
  lines[#lines + 1] = ""
  lines[#lines + 1] = "luamig COMMAND --help shows a command's options."
  return table.concat(lines, "\n")
end

local function command_help(cmd)
  local text = ("usage: luamig %s\n\n%s"):format(cmd.usage, cmd.summary)
  if cmd.details then text = text .. "\n\n" .. cmd.details end
  if #cmd.options > 0 then text = text .. "\n\nOptions:\n" .. option_lines(cmd.options) end
  return text
end

---------------------------------------------------------------------------

local function file_exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

local function logger(globals)
  return function(level, message)
    if globals.quiet and level == "INFO" then return end
    tell(("%-5s [luamig] %s\n"):format(level == "WARNING" and "WARN" or level, message))
  end
end

local function parse_x(list, cmd)
  local x = {}
  for _, kv in ipairs(list or {}) do
    local k, v = kv:match("^([^=]+)=(.*)$")
    -- not quoted: -x carries secrets (-x db_password=...), and a typo's
    -- ':' for '=' would print one
    if not k then usage_error(cmd, "-x takes KEY=VALUE with a non-empty KEY; the argument given is not shown, as -x values may be secrets") end
    x[k] = v
  end
  return x
end

local function report_failure(err)
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
  local ok, status = pcall(function()
    local _, i = parse(nil, global_options, args, 1, globals, true)
    if globals.version then say("luamig " .. luamig.version .. " (" .. _VERSION .. ")") return 0 end
    local name = args[i]
    if globals.help and not name then say(main_help()) return 0 end
    if not name then usage_error(nil, "no command given") end
    local cmd = commands[name]
    if not cmd then usage_error(nil, "unknown command %s", quoted(name)) end
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
        .. "database's URL, or leave it out for a temporary SQLite file")
    end
    local config = globals.config
    if config and not file_exists(config) and name ~= "init" then
      luamig.fail(("config file '%s' not found"):format(config))
    end
    if not config and file_exists("luamig.lua") then config = "luamig.lua" end
    -- A listing reads every script's header into records that all stay
    -- live, then prints: the collector would walk that heap for almost no
    -- garbage (12-15% of `history` at 10,000 revisions); what it leaves
    -- uncollected is a few lines' worth per revision.
    if cmd.listing then collectgarbage("stop") end
    c = {args = positional, opts = opts, globals = globals}
    if name ~= "init" then
      c.m = luamig.open{config = config, url = globals.url, url_source = "--url",
                        x = parse_x(globals.x, cmd), log = logger(globals)}
    end
    return cmd.run(c) or 0
  end)
  if c and c.m then c.m:close() end                   -- whatever happened: main.c does not lua_close
  if ok then return status end
  if getmetatable(status) == Usage then
    tell("luamig: ", status.message, "\n")
    tell("usage: luamig ", status.command and status.command.usage or "[global options] COMMAND [options]", "\n")
    tell("(luamig ", status.command and (status.command.name .. " ") or "", "--help for more)\n")
    return 2
  end
  if core.interrupted() then                          -- Ctrl-C: the message says where the database is
    local message = type(status) == "table" and status.message or tostring(status)
    if not tostring(message):find("interrupted (Ctrl-C)", 1, true) then
      message = "interrupted (Ctrl-C): " .. tostring(message)
    end
    tell(message, "\n")
    return 130
  end
  report_failure(status)
  return 1
end

return M
