-- luamig.cli.listing -- the commands that read and print revisions, in
-- Alembic's formats (shared/reference/alembic.md §8) or --json: current,
-- history (--graph, --dot), heads, branches, show; and edit, which opens
-- what show names.
local luamig = require "luamig"
local json = require "luamig.json"
local common = require "luamig.cli.common"
local fs = require "luamig.fs"

local say, usage_error, quoted, comma, absolute =
  common.say, common.usage_error, common.quoted, common.comma, common.absolute

-- name -> the command's definition (see cli.lua's command table)
local M = {}
local function command(def) M[def.name] = def end

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
local first_paragraph = require("luamig.core").first_paragraph

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
  if info.replaced_by then lines[#lines + 1] = "Replaced by: " .. info.replaced_by .. " (a squash)" end
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
    local dups = c.m:duplicate_rows()
    if #dups > 0 then luamig.fail(c.m:duplicate_rows_text(dups)) end
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
    local o, cmd = c.opts, c.command
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
    if c.globals.json or o.verbose then
      local list = c.m:history(o.range, {rows = rows})
      if c.globals.json then say(json.encode(json_list(list, current)))
      else
        for _, info in ipairs(list) do say(verbose_entry(info, current)) end
      end
    else                                              -- the lines built in C, one write
      local text = c.m:history_text(o.range, {rows = rows, current = current})
      if text ~= "" then say(text) end
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
      local ok = os.execute(editor .. " " .. fs.shell_quote(info.path))
      if not ok then luamig.fail(("edit: %s exited with an error"):format(editor)) end
    end
  end,
}

return M
