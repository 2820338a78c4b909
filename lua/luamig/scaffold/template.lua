-- luamig.scaffold.template -- what scaffold writes and how it reports it:
-- Lua literals for metadata values, the script template and its ${name}
-- rendering, and the entries ("Creating directory ...  done") of what was
-- created.
local fs = require "luamig.fs"

local M = {}

-- Lua literals: what the template writes for metadata values, written by
-- the one Lua-literal writer (luamig.autogen.literal) in its UTF-8-safe
-- form: any string loads back byte for byte, valid UTF-8 stays readable,
-- and the bytes of invalid UTF-8 are escaped so the file stays valid UTF-8.
local lua_literal = require "luamig.autogen.literal"

function M.quote(s) return lua_literal.string(s, true) end

-- nil -> nil, a string -> "...", a list -> {"a", "b"}.
function M.literal(v) return lua_literal.literal(v, true) end

-- down_revision as a script states it: nil (none), one id, or a list of
-- two or more.
function M.scalar_or_list(list)
  if list == nil or #list == 0 then return nil end
  if #list == 1 then return list[1] end
  return list
end

-- The script template: a Lua file with ${name} substitutions. The metadata
-- values (revision, down_revision, branch_labels, depends_on, message)
-- arrive as Lua literals; create_date, revision_id, revises and
-- message_comment as text for comments; upgrades and downgrades as Lua
-- code. A multi-line value continues at the indentation of the line that
-- holds its ${name}. "$${" writes a literal "${".

M.TEMPLATE = [[
-- ${message_comment}
--
-- Revision ID: ${revision_id}
-- Revises: ${revises}
-- Create Date: ${create_date}

revision      = ${revision}
down_revision = ${down_revision}
branch_labels = ${branch_labels}
depends_on    = ${depends_on}
message       = ${message}

function upgrade(op)
  ${upgrades}
end

function downgrade(op)
  ${downgrades}
end
]]

M.DEFAULT_UPGRADES = '-- the changes, e.g. op.add_column("users", {"name", "text"})'
M.DEFAULT_DOWNGRADES = '-- undo them, e.g. op.drop_column("users", "name")'

-- Substitutes ${name} in text from values (strings); name is the
-- template's name for error messages.
function M.render(text, values, name)
  name = name or "template"
  return (text:gsub("()%$(%$?){([^}\n]*)}", function(pos, escaped, key)
    if escaped == "$" then return "${" .. key .. "}" end
    local value = values[key]
    if value == nil then
      local known = {}
      for k in pairs(values) do known[#known + 1] = k end
      table.sort(known)
      local _, line = text:sub(1, pos):gsub("\n", "")
      error(("%s:%d: unknown substitution ${%s}; the template may use ${%s}")
            :format(name, line + 1, key, table.concat(known, "}, ${")), 0)
    end
    value = tostring(value)
    if value:find("\n", 1, true) then
      local line_start = pos
      while line_start > 1 and text:sub(line_start - 1, line_start - 1) ~= "\n" do
        line_start = line_start - 1
      end
      local indent = text:match("^[ \t]*", line_start)
      value = value:gsub("\n([^\n])", function(c) return "\n" .. indent .. c end)
    end
    return value
  end))
end

-- A body for upgrade/downgrade: nil or blank gives the default comment;
-- leading blank lines and trailing white space go.
function M.body(code, default, what)
  if code == nil then return default end
  if type(code) ~= "string" then
    error(("%s must be a string of Lua code, not a %s"):format(what, type(code)), 0)
  end
  code = code:gsub("^%s*\n", ""):gsub("%s+$", "")
  if code == "" then return default end
  return code
end

-- The message as the rest of a "-- " comment: each further line gets its
-- own "--".
function M.comment_text(s)
  s = s:gsub("\r\n", "\n"):gsub("\r", "\n")
  return (s:gsub("\n([^\n]?)", function(c) return c == "" and "\n--" or "\n-- " .. c end))
end

-- The entries of what was created (luamig.scaffold's header), with the line
-- the command prints for each.
function M.created_directory(path)
  local abspath = fs.absolute(path)
  return {kind = "directory", path = path, abspath = abspath,
          line = "Creating directory " .. abspath .. " ...  done"}
end

function M.created_file(path)
  local abspath = fs.absolute(path)
  return {kind = "file", path = path, abspath = abspath,
          line = "Generating " .. abspath .. " ...  done"}
end

-- mkdir -p, appending an entry to created when the directory is new.
function M.ensure_directory(dir, created)
  local kind = fs.kind(dir)
  if kind == "directory" then return end
  if kind then
    error(("%s exists and is not a directory; remove it or choose another path"):format(dir), 0)
  end
  local ok, err = fs.mkdir_p(dir)
  if not ok then error(("cannot create directory %s: %s"):format(dir, err), 0) end
  created[#created + 1] = M.created_directory(dir)
end

return M
