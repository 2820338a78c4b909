-- luamig.dialect.naming -- the names luamig gives: Alembic's naming
-- convention for indexes and constraints, and the clipping of an over-long
-- name to what PostgreSQL keeps (with a hash of the whole name), the same
-- on both databases.
local M = {}

-- Alembic's recommended naming convention.
M.default_naming_convention = {
  ix = "ix_%(column_0_label)s",
  uq = "uq_%(table_name)s_%(column_0_name)s",
  ck = "ck_%(table_name)s_%(constraint_name)s",
  fk = "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
  pk = "pk_%(table_name)s",
}

-- Identifiers longer than this get a hashed tail (PostgreSQL's NAMEDATALEN - 1),
-- on both databases so that a name is the same wherever it is created.
M.max_name_length = 63

-- 32-bit FNV-1a, for the tail of over-long names.
local function fnv1a(s)
  local h = 0x811c9dc5
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * 0x01000193) & 0xffffffff
  end
  return ("%08x"):format(h)
end

-- The longest prefix of s of at most n bytes that does not end inside a
-- UTF-8 character (PostgreSQL's pg_mbcliplen): a name cut in a character
-- is invalid UTF-8, which PostgreSQL refuses and SQLite stores as it is.
function M.clip_utf8(s, n)
  if #s <= n then return s end
  while n > 0 and s:byte(n + 1) & 0xC0 == 0x80 do n = n - 1 end   -- n + 1 continues a character
  return s:sub(1, n)
end

-- Shorten a name that the database would truncate, keeping it unique: a
-- prefix of whole characters, "_" and a hash of the whole name.
function M.fit_name(name)
  if #name <= M.max_name_length then return name end
  return M.clip_utf8(name, M.max_name_length - 9) .. "_" .. fnv1a(name)
end

-- The tokens a naming convention may use, each computed from the
-- constraint's info only when its pattern names it.
local function join(list, sep) return list and #list > 0 and table.concat(list, sep) or nil end
local function labels(info, sep)
  local t = {}
  for i, c in ipairs(info.columns or {}) do t[i] = info.table .. "_" .. c end
  return join(t, sep)
end
local convention_tokens = {
  table_name = function(info) return info.table end,
  constraint_name = function(info) return info.constraint_name end,
  column_0_name = function(info) return info.columns and info.columns[1] end,
  column_0_label = function(info)
    local c = info.columns and info.columns[1]
    return c and (info.table .. "_" .. c)
  end,
  column_0N_name = function(info) return join(info.columns, "") end,
  column_0_N_name = function(info) return join(info.columns, "_") end,
  column_0N_label = function(info) return labels(info, "") end,
  column_0_N_label = function(info) return labels(info, "_") end,
  referred_table_name = function(info) return info.referred_table end,
  referred_column_0_name = function(info) return info.referred_columns and info.referred_columns[1] end,
  referred_column_0N_name = function(info) return join(info.referred_columns, "") end,
  referred_column_0_N_name = function(info) return join(info.referred_columns, "_") end,
}

-- Why a pattern cannot give names, or nil: empty, or a %(token)s luamig
-- does not know (said when the setting is read, not at the first op).
function M.pattern_problem(pattern)
  if pattern == "" then return "is empty" end
  local unknown
  for token in pattern:gmatch("%%%(([^)]*)%)s") do
    if not convention_tokens[token] then unknown = unknown or token end
  end
  if unknown then
    local known = {}
    for k in pairs(convention_tokens) do known[#known + 1] = k end
    table.sort(known)
    return ("names %%(%s)s, which is not a token luamig knows (%s)"):format(unknown, table.concat(known, ", "))
  end
end

-- The name a convention gives to an index or constraint.
--   kind: "ix" "uq" "ck" "fk" "pk"; info: {table =, columns = {...},
--   referred_table =, referred_columns =, constraint_name =, and for a
--   check: condition =, table_columns = (the new table's column names)}
-- Returns the name, or nil and the reason.
function M.convention_name(convention, kind, info)
  local pattern = convention[kind]
  if pattern == nil then return nil, "the naming convention has no '" .. kind .. "' entry" end
  if type(pattern) == "function" then return pattern(info) end      -- a ready one (naming_ready)
  local missing
  local name = pattern:gsub("%%%(([%w_]+)%)s", function(token)
    local value = convention_tokens[token]
    local v = value and value(info)
    if v == nil then missing = missing or token; return "" end
    return v
  end)
  if missing then
    return nil, ("the naming convention '%s' needs %%(%s)s, which is not known here"):format(pattern, missing)
  end
  return M.fit_name(name)
end

return M
