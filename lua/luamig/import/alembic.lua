-- luamig.import.alembic -- `luamig import alembic PATH`: an Alembic versions/
-- directory translated into luamig scripts in the project's versions/.
-- python3 reads the files with its own parser (luamig.import.alembic_ast,
-- run from a temporary file; nothing of the files is executed) and prints a
-- Lua data chunk; this module checks it (syntax errors, headers, revision ids
-- already in the project), then writes one script per revision through the
-- script template, keeping the revision id, parents, branch labels,
-- depends_on, message and Create Date, so an alembic_version row stays valid.
local core = require "luamig.core"
local fs = require "luamig.fs"
local template = require "luamig.scaffold.template"
local fail = require("luamig.errors").fail

local M = {}

-- Alembic's own rule (_only_source_rev_file): *.py but not __init__*
-- nor an editor's lock file .#*
local function is_py(name)
  return name:match("%.py$") and not name:match("^__init__") and not name:match("^%.#")
end

-- The *.py revision files of path (or of path/versions), sorted.
local function python_files(path)
  local kind = fs.kind(path)
  if kind ~= "directory" then
    fail(("import alembic: %s is not a directory; give the Alembic versions/ directory (or the "
      .. "directory holding it)"):format(path))
  end
  local function list(dir)
    local names, err = fs.entries(dir)
    if not names then fail(("import alembic: cannot list %s: %s"):format(dir, err)) end
    local files = {}
    for _, n in ipairs(names) do
      if is_py(n) and fs.kind(fs.join(dir, n)) == "file" then files[#files + 1] = n end
    end
    table.sort(files)
    return files
  end
  local files = list(path)
  if #files == 0 and fs.kind(fs.join(path, "versions")) == "directory" then
    path = fs.join(path, "versions")
    files = list(path)
  end
  if #files == 0 then
    fail(("import alembic: no Alembic revision files (*.py) in %s; give the Alembic project's "
      .. "versions/ directory"):format(path))
  end
  return path, files
end

-- Runs the translator on the files; returns its per-file records.
local function translate(dir, files)
  if not os.execute("command -v python3 >/dev/null 2>&1") then
    fail("import alembic needs python3 on PATH to read the Alembic files with Python's own "
      .. "parser (an Alembic project has one); none was found. Install python3 or put it on PATH.")
  end
  local program, errfile = os.tmpname(), os.tmpname()
  local f = assert(io.open(program, "wb"))
  f:write((require "luamig.import.alembic_ast"))
  f:close()
  local cmd = {"python3", fs.shell_quote(program)}
  for _, n in ipairs(files) do cmd[#cmd + 1] = fs.shell_quote(fs.join(dir, n)) end
  local p = assert(io.popen(table.concat(cmd, " ") .. " 2>" .. fs.shell_quote(errfile), "r"))
  local out = p:read("a")
  local ok, _, code = p:close()
  local ef = io.open(errfile, "rb")
  local err = ef and ef:read("a") or ""
  if ef then ef:close() end
  os.remove(program)
  os.remove(errfile)
  if not ok then
    fail(("import alembic: python3 failed (exit status %s) reading %s:\n%s"):format(
      tostring(code), dir, (err:gsub("%s+$", ""))))
  end
  local chunk, lerr = load(out, "=python3 output", "t", {})
  if not chunk then fail("import alembic: python3 printed something unexpected: " .. tostring(lerr)) end
  return chunk()
end


-- A body: each line indented one level, but a line inside a multi-line
-- string (the translator marks it with a leading \1 byte) kept as it is.
local function body(code)
  if code == "" then return "  -- nothing (the Alembic function only passes)" end
  local lines = {}
  for line in (code .. "\n"):gmatch("(.-)\n") do
    if line:sub(1, 1) == "\1" then lines[#lines + 1] = line:sub(2)
    elseif line == "" then lines[#lines + 1] = ""
    else lines[#lines + 1] = "  " .. line end
  end
  return table.concat(lines, "\n")
end

-- The script's text for one translated file: the script template with the
-- header values; the bodies are put in after rendering (the template would
-- indent the lines of a multi-line string).
local function script_text(r)
  local message = r.message ~= "" and r.message or nil
  local text = template.render(template.TEMPLATE, {
    -- every comment value through comment_text: a line break in it starts a new "-- " line
    message_comment = template.comment_text(message or r.revision),
    revision_id = template.comment_text(r.revision),
    revises = template.comment_text(r.down_revision and table.concat(r.down_revision, ", ") or "<base>"),
    create_date = template.comment_text(r.create_date or "(unknown)"),
    revision = template.quote(r.revision),
    down_revision = template.literal(template.scalar_or_list(r.down_revision)),
    branch_labels = template.literal(r.branch_labels and #r.branch_labels > 0 and r.branch_labels or nil),
    depends_on = template.literal(r.depends_on and #r.depends_on > 0 and r.depends_on or nil),
    message = template.literal(message),
    upgrades = "\0UPGRADES\0", downgrades = "\0DOWNGRADES\0",
  }, "script template")
  local parts = {
    UPGRADES = body(r.upgrade),
    DOWNGRADES = body(r.downgrade),
  }
  text = text:gsub("[ \t]*%z(%u+)%z", parts)
  return text:sub(-1) == "\n" and text or text .. "\n"
end

-- The header values go into the script's comments and into the graph: the
-- revision ids (revision, down_revision, depends_on) and branch labels must
-- pass luamig's own revision-id grammar (core.check_rev_id, the rule
-- `luamig revision --rev-id` uses: no "+-:@", no "/" nor control
-- character), else the import is refused at the header's FILE:LINE.
local function check_ids(records, problems)
  for _, r in ipairs(records) do
    local lines = r.lines or {}
    local function check(key, id)
      local ok, message = core.check_rev_id(id, true)
      if not ok then
        problems[#problems + 1] = ("%s:%s: %s: %s; luamig's revision ids and branch labels cannot "
          .. "hold it (rename the revision in the Alembic history first)"):format(
          r.rel, tostring(lines[key] or "?"), key, message)
      end
    end
    if r.revision then check("revision", r.revision) end
    for _, key in ipairs{"down_revision", "depends_on", "branch_labels"} do
      for _, id in ipairs(r[key] or {}) do check(key, id) end
    end
  end
end

-- Imports the Alembic revisions of path into runner's first version
-- directory. Returns {dir =, written = {{path =, revision =, source =}},
-- untranslated = {{source =, line =, what =, script =}}}. Nothing is
-- written unless every file can be read and no revision id or file name is
-- already taken.
function M.import(runner, path)
  local dir, files = python_files(path)
  local records = translate(dir, files)
  local problems = {}
  for _, r in ipairs(records) do
    if r.read_error then problems[#problems + 1] = r.path .. ": cannot read: " .. r.read_error end
    if r.syntax_error then problems[#problems + 1] = r.syntax_error .. " (Python syntax error)" end
    if r.header_error then problems[#problems + 1] = r.header_error end
    if not (r.read_error or r.syntax_error or r.header_error) and not r.revision then
      problems[#problems + 1] = r.rel .. ": no revision = \"...\" line: not an Alembic revision file"
    end
  end
  if #problems == 0 then check_ids(records, problems) end
  if #problems > 0 then
    fail("import alembic: nothing imported:\n  " .. table.concat(problems, "\n  "))
  end
  local target = runner:_version_dirs()[1]
  local existing = {}
  if fs.kind(target) == "directory" then
    runner.records = nil
    local _ = runner:scripts()
    for id, rec in pairs(runner.by_id) do existing[id] = rec.path end
  end
  local seen = {}
  for _, r in ipairs(records) do
    if existing[r.revision] then
      problems[#problems + 1] = ("%s: revision %s already exists in the project (%s)"):format(
        r.rel, r.revision, existing[r.revision])
    elseif seen[r.revision] then
      problems[#problems + 1] = ("%s: revision %s is also the revision of %s"):format(r.rel, r.revision, seen[r.revision])
    end
    seen[r.revision] = r.rel
    r.out = fs.join(target, (r.rel:match("([^/]+)%.py$")) .. ".lua")
    -- (a symbolic link too, even one pointing nowhere: it is not replaced)
    if fs.kind(r.out) or os.execute("test -L " .. fs.shell_quote(r.out)) then
      problems[#problems + 1] = ("%s: %s already exists"):format(r.rel, r.out)
    end
  end
  if #problems > 0 then
    fail("import alembic: nothing imported:\n  " .. table.concat(problems, "\n  "))
  end
  if fs.kind(target) ~= "directory" then
    local ok, err = fs.mkdir_p(target)
    if not ok then fail(("import alembic: cannot create %s: %s"):format(target, err)) end
  end
  local result = {dir = dir, target = target, written = {}, untranslated = {}, notes = {}, had_scripts = next(existing) ~= nil}
  for _, r in ipairs(records) do
    fs.write_new_file(r.out, script_text(r))
    result.written[#result.written + 1] = {path = r.out, revision = r.revision, source = r.rel}
    for _, u in ipairs(r.notes or {}) do
      result.notes[#result.notes + 1] = {source = r.rel, line = u[1], what = u[2], script = r.out}
    end
    for _, u in ipairs(r.untranslated or {}) do
      result.untranslated[#result.untranslated + 1] = {source = r.rel, line = u[1], what = u[2], script = r.out}
    end
  end
  runner.records = nil
  return result
end

return M
