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
local suggest = require "luamig.suggest"

local M = {}

local out = io.stdout
local function say(...)
  out:write(redact.text(table.concat({...})))
  out:write("\n")
end
-- stdout is flushed first: piped, it is block-buffered, and a log line or
-- FAILED written after data must not reach a shared log before that data.
local function tell(...)
  out:flush()
  io.stderr:write(redact.text(table.concat({...})))
end

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
  {nil, "--url", key = "url", value = "URL", help = "the database (else DATABASE_URL, else the config's url, else sqlite:luamig.db)"},
  {"-n", "--name", key = "name", value = "NAME", help = "use the section NAME of luamig.lua (sections = {NAME = {...}})"},
  {"-x", nil, key = "x", value = "KEY[=VALUE]", many = true, help = "a value for scripts: op.x.KEY (\"\" without =VALUE)"},
  {"-q", "--quiet", key = "quiet", help = "no INFO lines (nor the bulk_insert progress line)"},
  {nil, "--raiseerr", key = "raiseerr", help = "on failure, also print the full Lua traceback"},
  {nil, "--json", key = "json", help = "machine-readable output (current, history, heads, show, verify, check, roundtrip, --plan)"},
  {nil, "--version", key = "version", help = "print the version"},
  {"-h", "--help", key = "help", help = "this help, or a command's"},
}

local function find_option(specs, arg)
  for _, o in ipairs(specs) do
    if arg == o[1] or arg == o[2] then return o end
  end
end

-- A cluster of short options as argparse reads it: "-vi" is -v -i, and
-- the first letter that takes a value takes the rest ("-r-3:",
-- "-rbase:heads", "-vr1975:"). Returns {{option, attached value or nil
-- ("" when the value is the next argument), own}, ...}, own when the
-- option is specs' (else fallback's), or nil when a letter names no option.
local function short_cluster(specs, fallback, a)
  if not a:match("^%-%a.") then return nil end
  local out, k = {}, 2
  while k <= #a do
    local name = "-" .. a:sub(k, k)
    local o = find_option(specs, name)
    local own = o ~= nil
    o = o or (fallback and find_option(fallback, name))
    if not o or name == "--" then return nil end
    if o.value then
      out[#out + 1] = {o, a:sub(k + 1), own}
      return out
    end
    out[#out + 1] = {o, nil, own}
    k = k + 1
  end
  return out
end

-- " (did you mean '--x'?)" for a mistyped long option, from the options
-- of specs and fallback.
local function option_hint(arg, specs, fallback)
  if not arg:match("^%-%-") then return "" end
  local names = {}
  for _, list in ipairs({specs, fallback or {}}) do
    for _, o in ipairs(list) do if o[2] then names[#names + 1] = o[2] end end
  end
  return suggest.hint(arg:match("^[^=]*"), names)
end

-- Parse args[i..] against specs into opts; stops at the first positional
-- when stop_at_positional. Returns the positionals and the next index.
local function parse(cmd, specs, args, i, opts, stop_at_positional, fallback)
  local positional = {}
  local function set(o, own, v)
    local target = own and opts or opts.globals
    if o.many then
      target[o.key] = target[o.key] or {}
      table.insert(target[o.key], v)
    else
      target[o.key] = v
    end
  end
  -- The value of option `given` (spec o) from the next argument: missing,
  -- or another option of this command (`revision -m --autogenerate`), is a
  -- usage error, as argparse's "expected one argument".
  local function next_value(given, o, v)
    if v == nil then usage_error(cmd, "option %s needs a value (%s)", given, o.value) end
    local vname = v:match("^(%-%-[^=]+)=") or v
    if v:sub(1, 1) == "-" and (find_option(specs, vname) or (fallback and find_option(fallback, vname))) then
      usage_error(cmd, "option %s needs a value (%s), not the option %s; give the value after it "
        .. "(%s VALUE %s)", given, o.value, quoted(vname), given, vname)
    end
    return v
  end
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^(%-%-[^=]+)=(.*)$")
    local o = find_option(specs, name or a) or (fallback and find_option(fallback, name or a))
    local cluster = not o and short_cluster(specs, fallback, a)
    if a == "--" then
      for j = i + 1, #args do positional[#positional + 1] = args[j] end
      return positional, #args + 1
    elseif o then
      local v = true
      if o.value then
        if inline then v = inline
        else
          i = i + 1
          v = next_value(a, o, args[i])
        end
      elseif inline then
        usage_error(cmd, "option %s takes no value", name)
      end
      set(o, find_option(specs, name or a) ~= nil, v)
    elseif cluster then
      for _, entry in ipairs(cluster) do
        local v = entry[2] or true
        if v == "" then                                 -- "-vr RANGE": the value is the next argument
          i = i + 1
          v = next_value(entry[1][1], entry[1], args[i])
        end
        set(entry[1], entry[3], v)
      end
    elseif a:sub(1, 1) == "-" and a ~= "-" and not a:match("^%-%d") and not a:match("^%-%-?$") then
      usage_error(cmd, "unknown option %s%s", quoted(a), url_like(a, true) and "" or option_hint(a, specs, fallback))
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

-- A message's first paragraph (Alembic's "doc"), for one-line listings;
-- verbose entries show the whole message.
local function first_paragraph(message)
  return ((message:match("^(.-)\n[ \t]*\n") or message):gsub("%s+$", ""))
end

local function history_line(info, current)
  local down = #info.parents > 0 and comma(info.parents) or "<base>"
  local deps = #(info.depends_on or {}) > 0 and (" (" .. comma(info.depends_on) .. ")") or ""
  local doc = info.message and (", " .. first_paragraph(info.message)) or ""
  return ("%s%s -> %s%s%s%s"):format(down, deps, info.id, labels(info), flags(info, current, true), doc)
end

-- A path made absolute from the real working directory ($PWD may be
-- inherited from another directory, or unset).
local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local cwd = core.cwd()
  if not cwd then return path end                     -- the directory was removed: relative it stays
  return (cwd == "/" and "" or cwd) .. "/" .. path
end

-- Alembic's verbose entry (its Script.log_entry): the indicators in its
-- order ("(head)" for an effective head too), the graph lines, Path:, and
-- the script's text as Alembic's template writes its docstring: the whole
-- message, then Revision ID, Revises and, from the script's header
-- comment, Create Date.
local function verbose_entry(info, current)
  local indicators = (info.is_head and " (head)" or "") .. (info.is_branch_point and " (branchpoint)" or "")
    .. (info.is_merge_point and " (mergepoint)" or "") .. (current and current[info.id] and " (current)" or "")
  local lines = {("Rev: %s%s"):format(info.id, indicators)}
  if #info.parents > 1 then lines[#lines + 1] = "Merges: " .. comma(info.parents)
  else lines[#lines + 1] = "Parent: " .. (info.parents[1] or "<base>") end
  if #(info.depends_on or {}) > 0 then lines[#lines + 1] = "Also depends on: " .. comma(info.depends_on) end
  if info.is_branch_point then lines[#lines + 1] = "Branches into: " .. comma(info.children) end
  if #(info.labels or {}) > 0 then lines[#lines + 1] = "Branch names: " .. comma(info.labels) end
  lines[#lines + 1] = "Path: " .. absolute(info.path)
  lines[#lines + 1] = ""
  local doc = {}
  if info.message and info.message ~= "" then
    doc[1] = (info.message:gsub("%s+$", ""))
    doc[2] = ""
  end
  doc[#doc + 1] = "Revision ID: " .. info.id
  doc[#doc + 1] = "Revises: " .. (#info.parents > 0 and comma(info.parents) or "<base>")
  local date = info.create_date
  if date then doc[#doc + 1] = "Create Date: " .. date end
  lines[#lines + 1] = "    " .. table.concat(doc, "\n"):gsub("\n", "\n    ")
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
local tag_opt = {nil, "--tag", key = "tag", value = "TAG", help = "a tag for the scripts to read as op.tag"}

command{
  name = "init", args = {0, 1}, usage = "init [DIR] [-t TEMPLATE]",
  summary = "Create a project: luamig.lua, DIR/versions/ and DIR/script.lua.tmpl (DIR: migrations).",
  options = {
    {"-t", "--template", key = "template", value = "TEMPLATE",
     help = "the project template (default generic; luamig list_templates lists them)"},
  },
  run = function(c)
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
  name = "upgrade", args = {0, 1}, usage = "upgrade [TARGET] [--sql] [--plan] [--tag TAG]",
  summary = "Apply revisions up to TARGET (default head).",
  details = "TARGET: head, heads, a revision, +N, REV+N, LABEL@head. A START:END range is for --sql\n"
    .. "only (the SQL from START to END); online the run starts from the version table.\n"
    .. "A failure says what of the run is committed and where the database is; Ctrl-C stops the\n"
    .. "running statement, rolls its step back, says where the database is and exits 130.",
  options = {sql_opt, plan_opt, tag_opt},
  run = function(c)
    local target = c.args[1] or "head"
    if c.opts.plan then return print_plan(c, c.m:plan("upgrade", target)) end
    c.m:upgrade(target, {sql = c.opts.sql})
  end,
}

command{
  name = "downgrade", args = {1, 1}, usage = "downgrade TARGET [--sql] [--plan] [--tag TAG]",
  summary = "Revert revisions down to TARGET (-1, a revision, base).",
  details = "With several current heads, -1 is refused: name the head, HEAD@-1 or LABEL@-1 (REV-1\n"
    .. "would be REV's parent, whose downgrade undoes every branch above it). --sql needs\n"
    .. "<fromrev>:<torev> (e.g. head:base), as there is no database to start from; a range is\n"
    .. "refused without --sql. Failures and Ctrl-C: as for upgrade.",
  options = {sql_opt, plan_opt, tag_opt},
  run = function(c)
    if c.opts.plan then return print_plan(c, c.m:plan("downgrade", c.args[1])) end
    c.m:downgrade(c.args[1], {sql = c.opts.sql})
  end,
}

command{
  name = "stamp", args = {1, math.huge}, usage = "stamp REV... [--purge] [--sql] [--plan] [--tag TAG]",
  summary = "Set the version table to REV without running migrations.",
  details = "Several REVs record several heads (stamp A B from their merge gives A and B).\n"
    .. "START:REV (a range) is for --sql only.",
  options = {{nil, "--purge", key = "purge", help = "empty the version table first"}, sql_opt, plan_opt, tag_opt},
  run = function(c)
    if c.opts.plan then return print_plan(c, c.m:plan("stamp", c.args, {purge = c.opts.purge})) end
    c.m:stamp(c.args, {purge = c.opts.purge, sql = c.opts.sql})
  end,
}

-- The failure of a listing that met version rows naming no script (a
-- deploy that rolled its code back onto a newer database), after the
-- listing printed them: Alembic fails there too.
local function unknown_rows(ids)
  local quoted_ids = {}
  for i, id in ipairs(ids) do quoted_ids[i] = "'" .. id .. "'" end
  local one = #ids == 1
  luamig.fail(("Can't locate %s identified by %s (%s of the version table that no script "
    .. "defines: is this code older than the database?): deploy the code that has %s, or "
    .. "`luamig stamp --purge REV` to empty the version table and record REV")
    :format(one and "revision" or "revisions", comma(quoted_ids), one and "a row" or "rows",
            one and "it" or "them"))
end

-- history -i: a warning (on stderr, after the listing; the exit status
-- stays 0, as Alembic's) for version rows no script defines, which no
-- line can mark current.
local function unknown_current(c, rows)
  local _, graph = c.m:scripts()
  local unknown = {}
  for _, id in ipairs(rows or {}) do
    if not graph:revision(id) then unknown[#unknown + 1] = "'" .. id .. "'" end
  end
  if #unknown == 0 then return end
  local one = #unknown == 1
  c.m:_log("WARNING", ("history -i: the version table holds %s, which no script defines, so the "
    .. "listing cannot mark %s current (is this code older than the database?): deploy the code "
    .. "that has %s, or `luamig stamp --purge REV` to empty the version table and record REV")
    :format(comma(unknown), one and "it" or "them", one and "it" or "them"))
end

command{
  name = "current", args = {0, 0}, usage = "current [-v] [--check-heads]", listing = true,
  summary = "The database's revision(s); exit 1 if a version row names no script (with the way out).",
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
    local unknown = {}
    for _, info in ipairs(current) do if info.unknown then unknown[#unknown + 1] = info.id end end
    if #unknown > 0 then unknown_rows(unknown) end
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

-- The lines of a verbose entry, for history --graph -v.
local function entry_lines(info, current)
  local lines = {}
  for line in (verbose_entry(info, current):gsub("\n+$", "") .. "\n"):gmatch("(.-)\n") do
    lines[#lines + 1] = line
  end
  return lines
end

-- Whether --graph colours: --color=always|never, else (auto) only on a
-- terminal, without NO_COLOR set (https://no-color.org) and not TERM=dumb.
local function use_color(when)
  if when == "always" then return true end
  if when == "never" then return false end
  local no_color, term = os.getenv("NO_COLOR"), os.getenv("TERM")
  if no_color and no_color ~= "" then return false end
  if term == "dumb" then return false end
  return require("luamig.core").isatty(1)
end

command{
  name = "history", args = {0, 0},
  usage = "history [-r RANGE] [-v] [-i] [--graph [--color=WHEN] | --dot]", listing = true,
  summary = "The revisions, newest first, each with its message's first paragraph, or drawn as a graph (--graph, --dot).",
  options = {
    {"-r", "--rev-range", key = "range", value = "RANGE", help = "START:END, either side may be empty (also attached: -r-3:, -rbase:heads)"},
    {"-v", "--verbose", key = "verbose", help = "Alembic's full entries: the whole message, Revision ID, Revises, Create Date"},
    {"-i", "--indicate-current", key = "indicate_current", help = "mark the database's revision(s)"},
    {nil, "--graph", key = "graph", help = "draw branches and merges as `git log --graph` does"},
    {nil, "--color", key = "color", value = "WHEN",
     help = "--graph in colour: auto (on a terminal without NO_COLOR), always, never"},
    {nil, "--dot", key = "dot", help = "the graph in Graphviz's dot language (dotted: depends_on)"},
  },
  run = function(c)
    local o, cmd = c.opts, commands.history
    if o.graph and o.dot then
      usage_error(cmd, "--graph and --dot are two drawings of the graph; give one of them")
    end
    if (o.graph or o.dot) and c.globals.json then
      usage_error(cmd, "--json cannot be combined with --%s (a drawing, not data)", o.graph and "graph" or "dot")
    end
    if o.dot and o.verbose then
      usage_error(cmd, "--dot has no verbose form; leave out -v (the labels carry id and message)")
    end
    if o.color and not o.graph then
      usage_error(cmd, "--color applies to --graph only")
    end
    if o.color and o.color ~= "auto" and o.color ~= "always" and o.color ~= "never" then
      usage_error(cmd, "--color takes auto, always or never, not %s", quoted(o.color))
    end
    local rows
    if o.indicate_current or (o.range and o.range:find("current", 1, true)) then
      rows = c.m:current_rows()
    end
    local current = o.indicate_current and set_of(rows) or nil
    if o.graph or o.dot then
      local draw = require "luamig.graph_draw"
      local nodes = c.m:history_graph(o.range, {rows = rows, current = current})
      if o.verbose then
        for i, info in ipairs(c.m:history(o.range, {rows = rows})) do
          nodes[i].text = entry_lines(info, current)
        end
      end
      local lines = o.dot and draw.dot(nodes) or draw.lines(nodes, {color = use_color(o.color)})
      if #lines > 0 then say(table.concat(lines, "\n")) end
      if o.indicate_current then unknown_current(c, rows) end
      return
    end
    local list = c.m:history(o.range, {rows = rows})
    if c.globals.json then say(json.encode(json_list(list, current)))
    else
      for _, info in ipairs(list) do
        say(o.verbose and verbose_entry(info, current) or history_line(info, current))
      end
    end
    if o.indicate_current then unknown_current(c, rows) end
  end,
}

command{
  name = "heads", args = {0, 0}, usage = "heads [-v] [--resolve-dependencies]", listing = true,
  summary = "The head revisions.",
  options = {
    {"-v", "--verbose", key = "verbose", help = "full entries"},
    {nil, "--resolve-dependencies", key = "resolve_dependencies",
     help = "count depends_on as a parent: leave out a head another revision depends on"},
  },
  run = function(c)
    local list = c.m:heads{resolve_dependencies = c.opts.resolve_dependencies}
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
    local v = c.opts.verbose
    for _, info in ipairs(c.m:branches()) do
      if v then say(verbose_entry(info))
      else say(info.id .. labels(info) .. flags(info, nil, false)) end
      for _, child in ipairs(info.children) do
        local ci = c.m:info(child)
        local doc = v and ci.message and (", " .. first_paragraph(ci.message)) or ""
        say(("%s -> %s%s%s%s"):format((" "):rep(#info.id), ci.id, labels(ci), flags(ci, nil, true), doc))
      end
      if v then say("") end                              -- Alembic's blank line after each block
    end
  end,
}

command{
  name = "show", args = {1, 1}, usage = "show REV", listing = true,
  summary = "A revision in full; REV may be heads (every head) or current (the database's).",
  options = {},
  run = function(c)
    local list = c.m:show(c.args[1])
    local unknown = {}
    if c.globals.json then say(json.encode(json_list(list))) end
    for _, info in ipairs(list) do
      if info.unknown then
        unknown[#unknown + 1] = info.id
        if not c.globals.json then say(info.id .. " (unknown revision)") end
      elseif not c.globals.json then
        say(verbose_entry(info))
      end
    end
    if #unknown > 0 then unknown_rows(unknown) end
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
  summary = "Open a revision's script in $EDITOR; REV may be heads or current (each in turn).",
  options = {},
  run = function(c)
    local list = c.m:show(c.args[1])
    if #list == 0 and c.args[1] == "current" then
      luamig.fail(("No current revisions: the version table of %s is empty, so there is no "
        .. "script to edit"):format(c.m:display_url()))
    end
    local unknown = {}
    for _, info in ipairs(list) do if info.unknown then unknown[#unknown + 1] = info.id end end
    if #unknown > 0 then unknown_rows(unknown) end
    local editor = os.getenv("VISUAL") or os.getenv("EDITOR")
    if not editor or editor == "" then
      luamig.fail("edit: set EDITOR (or VISUAL) to the editor to open " .. list[1].path .. " with")
    end
    for _, info in ipairs(list) do
      local ok = os.execute(editor .. " '" .. info.path:gsub("'", "'\\''") .. "'")
      if not ok then luamig.fail(("edit: %s exited with an error"):format(editor)) end
    end
  end,
}

command{
  name = "ensure_version", args = {0, 0}, usage = "ensure_version",
  summary = "Create the version table (and its log) if missing.",
  options = {},
  run = function(c) c.m:ensure_version() end,
}

-- At most ten ids, then how many more.
local function some_ids(ids)
  if #ids <= 10 then return comma(ids) end
  return ("%s, ... (and %d more)"):format(table.concat(ids, ", ", 1, 10), #ids - 10)
end

command{
  name = "verify", args = {0, 0}, usage = "verify [--accept REV|all]",
  summary = "Applied scripts changed since they ran or never checksummed; version rows naming unknown revisions.",
  options = {
    {nil, "--accept", key = "accept", value = "REV|all",
     help = "record the applied script's checksum as it is now (after reviewing an edit, or where none was recorded)"},
  },
  run = function(c)
    local accepted, named
    if c.opts.accept then accepted, named = c.m:accept(c.opts.accept) end
    local r = c.m:verify()
    if c.globals.json then
      local t = {ok = r.ok, changed = #r.changed > 0 and r.changed or json.empty_array,
                 unknown = #r.unknown > 0 and r.unknown or json.empty_array,
                 unchecked = #r.unchecked > 0 and r.unchecked or json.empty_array,
                 compared = r.compared}
      if accepted then t.accepted = #accepted > 0 and accepted or json.empty_array end
      say(json.encode(t))
      return r.ok and 0 or 1
    end
    if accepted then
      for _, a in ipairs(accepted) do
        say(("accepted: %s (revision %s): sha256 %s recorded (%s)"):format(a.path, a.revision,
          a.checksum:sub(1, 12), a.previous and ("was " .. a.previous:sub(1, 12)) or "none was recorded"))
      end
      if #accepted == 0 then
        say(c.opts.accept == "all"
          and "nothing to accept: every applied script has a recorded checksum that matches its file"
          or ("nothing to accept: the recorded checksum of %s matches its file"):format(named))
      end
    end
    for _, ch in ipairs(r.changed) do
      say(("changed: %s (revision %s) differs from what was applied (sha256 %s, now %s)")
          :format(ch.path, ch.revision, ch.logged:sub(1, 12), ch.current:sub(1, 12)))
    end
    if #r.changed > 0 then
      say("once an edit is reviewed, `luamig verify --accept REV` (or `--accept all`) records the script as it is now")
    end
    for _, id in ipairs(r.unknown) do
      say(("unknown: the version table holds '%s', which no script defines"):format(id))
    end
    if #r.unchecked > 0 then
      say(("unchecked: %d applied revision(s) have no recorded checksum (applied with --sql, "
        .. "stamped, or before the log), so their scripts were not compared: %s; `luamig verify "
        .. "--accept all` records them as they are now"):format(#r.unchecked, some_ids(r.unchecked)))
    end
    if r.ok then
      if #r.unchecked == 0 and r.compared == 0 then
        say("OK: no revision is applied, so there is nothing to compare")
      elseif #r.unchecked == 0 then
        say("OK: every applied script matches its file")
      elseif r.compared > 0 then
        say(("OK: the %d applied script(s) with a recorded checksum match their files"):format(r.compared))
      end
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
  name = "roundtrip", args = {0, 1}, usage = "roundtrip [RANGE] [--scratch-url URL [--reset-scratch]]",
  summary = "On a scratch database: each revision up, down, compared, up again.",
  options = {
    {nil, "--scratch-url", key = "scratch_url", value = "URL",
     help = "an empty database of the project's kind, never the configured one (default: PostgreSQL project: a "
       .. "database created on its server and dropped afterwards; SQLite: a temporary file)"},
    {nil, "--reset-scratch", key = "reset_scratch",
     help = "empty the --scratch-url database first (its tables and views dropped, on PostgreSQL "
       .. "every schema but the system ones) instead of refusing one that is not empty"},
  },
  run = function(c)
    local r = c.m:roundtrip{range = c.args[1], scratch_url = c.opts.scratch_url,
                            reset_scratch = c.opts.reset_scratch}
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

local function file_exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

-- bulk_insert's progress line, on a terminal only: rewritten in place
-- (\r) at most ten times a second, ended (with the last count) by the next
-- line written to stderr, or when the load is done.
local progress = {}

-- 1234567 -> "1,234,567"
local function thousands(n)
  local s = tostring(math.floor(n))
  return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
end

function progress.text(p)
  local elapsed = p.at - p.start
  local rate = elapsed > 0 and thousands(p.done / elapsed) .. " rows/s" or "- rows/s"
  local count = p.total and ("%s of %s rows (%d%%)"):format(thousands(p.done), thousands(p.total),
    p.total > 0 and p.done * 100 // p.total or 100) or thousands(p.done) .. " rows"
  -- (a table name's control characters would move the cursor: shown as ?)
  return ('bulk_insert "%s": %s, %s, %.1f s'):format(tostring(p.table):gsub("%c", "?"), count, rate, elapsed)
end

function progress.draw(p)
  local line = progress.text(p)
  local pad = (" "):rep(math.max(0, (p.width or 0) - #line))
  io.stderr:write("\r", redact.text(line), pad)
  io.stderr:flush()
  p.width, p.drawn = #line, p.at
end

-- Ends the open progress line, if any, showing its last count.
function progress.finish()
  local p = progress.current
  if not p then return end
  progress.current = nil
  if p.drawn ~= p.at or p.width == nil then progress.draw(p) end
  io.stderr:write("\n")
end

-- The callback for luamig.open: nil unless stderr is a terminal and not -q.
function progress.callback(globals)
  local core = luamig.core
  if globals.quiet or not core.isatty(2) then return nil end
  return function(done, total, tname)
    local now = core.monotonic()
    local p = progress.current
    if done == 0 or not p or p.table ~= tname then
      progress.finish()
      p = {table = tname, total = total, start = now}
      progress.current = p
    end
    p.done, p.at = done, now
    if total and done >= total then return progress.finish() end
    if not p.drawn or now - p.drawn >= 0.1 then progress.draw(p) end
  end
end

local function logger(globals)
  return function(level, message)
    if globals.quiet and level == "INFO" then return end
    progress.finish()
    tell(("%-5s [luamig] %s\n"):format(level == "WARNING" and "WARN" or level, message))
  end
end

local function parse_x(list, cmd)
  local x = {}
  for _, kv in ipairs(list or {}) do
    -- -x KEY alone is KEY = "", as Alembic's get_x_argument(as_dictionary=True) has it
    local k, v = kv:match("^([^=]+)=(.*)$")
    -- (a word only: "db_password:S3cret" is a typo for '=', not a key)
    if not k and kv:match("^[%w_.-]+$") then k, v = kv, "" end
    -- not quoted: -x carries secrets (-x db_password=...), and a typo's
    -- ':' for '=' would print one
    if not k then
      usage_error(cmd, "-x takes KEY=VALUE, or a KEY alone (letters, digits, _ . -) for KEY=\"\"; the "
        .. "argument given is not shown, as -x values may be secrets")
    end
    x[k] = v
  end
  return x
end

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
      for _, def in ipairs(commands) do names[#names + 1] = def.name end
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
    if config and not file_exists(config) and name ~= "init" then
      luamig.fail(("config file '%s' not found"):format(config))
    end
    if not config and file_exists("luamig.lua") then config = "luamig.lua" end
    if globals.name and not config and name ~= "init" and name ~= "list_templates" then
      luamig.fail(("-n %s: there is no luamig.lua here to hold that section (sections = { %s = "
        .. "{ url = ... } }); give the file with -c"):format(globals.name, globals.name))
    end
    -- A listing reads every script's header into records that all stay
    -- live, then prints: the collector would walk that heap for almost no
    -- garbage (12-15% of `history` at 10,000 revisions); what it leaves
    -- uncollected is a few lines' worth per revision.
    if cmd.listing then collectgarbage("stop") end
    c = {args = positional, opts = opts, globals = globals}
    luamig.traceback = globals.raiseerr
    if name ~= "init" and name ~= "list_templates" then
      c.m = luamig.open{config = config, url = globals.url, url_source = "--url", name = globals.name,
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
