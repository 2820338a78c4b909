-- luamig.dialect.naming_ready -- the ready naming conventions a project
-- selects by name (naming_convention = "postgresql" in luamig.lua or in
-- luamig.op.new's cfg), and the one resolver of a naming_convention
-- setting into the convention luamig.dialect.naming applies.
--
-- "postgresql" gives the names PostgreSQL itself gives a constraint or index
-- created without one, so a database made by Alembic without a naming
-- convention and a later drop_constraint agree: PostgreSQL's
-- ChooseRelationName / makeObjectName (src/backend/commands/indexcmds.c)
-- and ChooseIndexNameAddition / ChooseForeignKeyConstraintNameAddition,
-- with its truncation of the table and column parts (not of the whole) to
-- 63 bytes, cut at whole UTF-8 characters (pg_mbcliplen). "sqlite" is the
-- same: SQLite keeps no name for an unnamed constraint (doc/op.md).
local naming = require "luamig.dialect.naming"

local M = {}

local NAMEDATALEN = 64

-- makeObjectName(name1, name2, label): "name1_name2_label", the longer of
-- name1 and name2 shortened a byte at a time until the whole fits in 63
-- bytes, each part then clipped to whole characters.
function M.pg_object_name(name1, name2, label)
  local overhead = (name2 and 1 or 0) + (label and #label + 1 or 0)
  local n1, n2 = #name1, name2 and #name2 or 0
  local avail = NAMEDATALEN - 1 - overhead
  while n1 + n2 > avail do
    if n1 > n2 then n1 = n1 - 1 else n2 = n2 - 1 end
  end
  local s = naming.clip_utf8(name1, n1)
  if name2 then s = s .. "_" .. naming.clip_utf8(name2, n2) end
  if label then s = s .. "_" .. label end
  return s
end

-- ChooseIndexNameAddition: the column names joined by "_", stopping once
-- the text reaches NAMEDATALEN bytes.
function M.pg_columns_addition(cols)
  local buf = ""
  for _, c in ipairs(cols) do
    if #buf > 0 then buf = buf .. "_" end
    buf = buf .. c:sub(1, NAMEDATALEN - 1)
    if #buf >= NAMEDATALEN then break end
  end
  return buf
end

-- The columns of the table a check condition names: PostgreSQL names a
-- check after its one column (pull_var_clause), else after the table only.
-- Identifiers are read outside '...' strings: "quoted" exactly (with ""
-- for a quote), bare ones folded to lower case.
local function condition_columns(condition, table_columns)
  local known = {}
  for _, c in ipairs(table_columns) do known[c] = true end
  local found, list, bare = {}, {}, {}
  local function hit(name)
    if known[name] and not found[name] then found[name] = true; list[#list + 1] = name end
  end
  local i, n = 1, #condition
  while i <= n do
    local c = condition:sub(i, i)
    local two = condition:sub(i, i + 1)
    if two == "--" then                          -- a comment to the end of the line
      i = (condition:find("\n", i, true) or n) + 1
      bare[#bare + 1] = " "
    elseif two == "/*" then                      -- a comment, nested as PostgreSQL nests them
      local depth, j = 1, i + 2
      while j <= n and depth > 0 do
        local t = condition:sub(j, j + 1)
        if t == "/*" then depth, j = depth + 1, j + 2
        elseif t == "*/" then depth, j = depth - 1, j + 2
        else j = j + 1 end
      end
      bare[#bare + 1] = " "
      i = j
    elseif c == '"' or c == "'" then             -- a quoted identifier or a string: doubled quotes inside
      -- E'...' (an escape string): a backslash escapes the next character
      local escapes = c == "'" and condition:sub(i - 1, i - 1):match("^[Ee]$")
        and not condition:sub(i - 2, i - 2):match("^[%w_$\128-\255]$")
      if escapes then bare[#bare] = nil end      -- the E is the string's, not a word
      local j, parts = i + 1, {}
      while j <= n do
        local d = condition:sub(j, j)
        if escapes and d == "\\" then
          j = j + 1
        elseif d == c then
          if condition:sub(j + 1, j + 1) ~= c then break end
          j = j + 1
        end
        parts[#parts + 1] = condition:sub(j, j)
        j = j + 1
      end
      if c == '"' then hit(table.concat(parts)) end
      bare[#bare + 1] = " "
      i = j + 1
    else
      bare[#bare + 1] = c
      i = i + 1
    end
  end
  for w in table.concat(bare):gmatch("[%a_\128-\255][%w_$\128-\255]*") do hit(w:lower()) end
  return list
end

local function pg_check(info)
  local col
  if info.condition and info.table_columns then
    local cols = condition_columns(info.condition, info.table_columns)
    col = #cols == 1 and cols[1] or nil
  elseif info.columns and #info.columns == 1 then
    col = info.columns[1]
  else
    return nil, "PostgreSQL's own name for a check depends on the one column its condition uses, which "
      .. ('luamig does not know here: give the name ("%s_COLUMN_check", or "%s_check" when it uses '
      .. "none or several)"):format(info.table, info.table)
  end
  return M.pg_object_name(info.table, col, "check")
end

-- info.include: an index's INCLUDE columns, which PostgreSQL's name counts
-- after the key columns (ChooseIndexColumnNames).
local function with_columns(label)
  return function(info)
    local cols = {table.unpack(info.columns or {})}
    for _, c in ipairs(info.include or {}) do cols[#cols + 1] = c end
    return M.pg_object_name(info.table, M.pg_columns_addition(cols), label)
  end
end

-- An index is the exception: in a database Alembic made, PostgreSQL never
-- chose an index's name. Alembic's create_index takes one (op.f(...)), and
-- SQLAlchemy names a Column(index = True) by its own default convention,
-- ix_<table>_<column>, with or without a naming convention configured; so
-- that is what "postgresql" gives too (PostgreSQL's own <table>_<cols>_idx
-- is only for an index made by SQL without a name).

local postgresql = {
  pk = function(info) return M.pg_object_name(info.table, nil, "pkey") end,
  uq = with_columns("key"),
  fk = with_columns("fkey"),
  ix = naming.default_naming_convention.ix,
  ck = pg_check,
}

M.ready = {postgresql = postgresql, sqlite = postgresql}
M.ready_names = {"postgresql", "sqlite"}

-- The convention a naming_convention setting selects: nil for Alembic's
-- recommended one (naming.default_naming_convention), a ready one's name,
-- or a table of patterns merged over the default key by key (false removes
-- a key). Returns the convention, or nil and what is wrong
-- ("naming_convention...").
function M.resolve(setting)
  if type(setting) == "string" then
    local ready = M.ready[setting]
    if not ready then
      return nil, ('naming_convention %q is not a ready convention: "postgresql", "sqlite", or a table of '
        .. "patterns"):format(setting)
    end
    return ready
  end
  local convention = {}
  for k, v in pairs(naming.default_naming_convention) do convention[k] = v end
  if setting == nil then return convention end
  if type(setting) ~= "table" then
    return nil, ("naming_convention must be a table of patterns or a ready convention's name, not a %s")
      :format(type(setting))
  end
  local keys = {}
  for k in pairs(setting) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, name in ipairs(keys) do
    local v = setting[name]
    if naming.default_naming_convention[name] == nil then
      return nil, ("naming_convention.%s is not a kind luamig names: the kinds are ix, uq, ck, fk, pk"):format(name)
    end
    if v ~= false and type(v) ~= "string" then
      return nil, ("naming_convention.%s must be a string (or false to remove it)"):format(name)
    end
    local problem = v and naming.pattern_problem(v)
    if problem then
      return nil, ("naming_convention.%s = %q %s: give a pattern such as %q, or false to remove it"):format(
        name, v, problem, naming.default_naming_convention[name])
    end
    convention[name] = v or nil
  end
  return convention
end

return M
