-- luamig.dialect.types -- the generic type names and the type grammar:
-- which type strings the model accepts, how it spells them, and their
-- parsed form. Each dialect maps the generic names (luamig.dialect.common).
local suggest = require "luamig.suggest"

local M = {}

-- The generic type names, in a fixed order (for "did you mean"); each
-- dialect maps them (see doc/op.md). The one list of them: the type
-- grammar below (check_type, M.parse_type) is the one reader of them.
M.generic_type_list = {"integer", "bigint", "smallint", "string", "text", "boolean", "float",
  "double", "numeric", "date", "time", "timestamp", "timestamptz", "binary", "json", "uuid"}
M.generic_types = {}
for _, name in ipairs(M.generic_type_list) do M.generic_types[name] = true end

-- Database type names one edit or so from a generic name that are real
-- types of PostgreSQL or SQLite (or of a common extension), or common in
-- the wild (guid in SQLite schemas, ntext, bson): they pass through, where
-- any other name one edit from a generic one is taken for a misspelling.
local database_types = {}
for name in ([[bigserial bit bool box bpchar bytea char character cidr circle citext clob
  blob datetime decimal float4 float8 hstore inet int int2 int4 int8 interval jsonb line lseg
  ltree macaddr macaddr8 money name nchar nvarchar oid path point polygon real regclass
  serial serial2 serial4 serial8 smallserial time timetz tinyint tsquery tsvector varbit
  varchar xml guid ntext bson]]):gmatch("%S+") do database_types[name] = true end


-- Check a type string: a generic name (normalised to lower case without
-- spaces) or a database type passed through as written. Returns the model
-- spelling, or nil and the reason it is refused.
local check_type                                        -- the work; M.normalize_type memoises it
local type_cache = {}

function M.normalize_type(t)
  local hit = type_cache[t]
  if hit == nil then
    if type(t) ~= "string" then return check_type(t) end
    local model, reason = check_type(t)
    hit = {model, reason}
    type_cache[t] = hit
  end
  return hit[1], hit[2]
end

-- The type grammar: a generic name, its arguments, and what may follow it,
-- the subset of PostgreSQL's type syntax the model keeps:
--
--   name [(args)] [with time zone | without time zone] [[] ...] [collate name]
--
-- Which generic types take arguments, what they mean, and what is accepted.
local type_args = {
  string = {pattern = "^(%d+)$", accepts = "a length, as string(30)"},
  numeric = {pattern = "^(%d+),?(%d*)$", accepts = "a precision and a scale, as numeric(10,2), or a precision"},
  float = {pattern = "^(%d+)$", max = 53, min = 1, accepts = "a precision in bits, 1 to 53, as float(24)"},
  time = {pattern = "^(%d+)$", max = 6, min = 0, accepts = "a precision of fractional seconds, 0 to 6, as time(3)"},
  timestamp = {pattern = "^(%d+)$", max = 6, min = 0,
               accepts = "a precision of fractional seconds, 0 to 6, as timestamp(3)"},
  timestamptz = {pattern = "^(%d+)$", max = 6, min = 0,
                 accepts = "a precision of fractional seconds, 0 to 6, as timestamptz(3)"},
}
M.type_args = type_args

-- Parse a type written as the grammar above, with a generic base name.
-- Returns {base =, args = "3" or "10,2" or nil, dims = "[]" or "", collate =
-- the collation as written or nil}, nil when t is not of that shape or its
-- name is not generic, or nil and the reason when its arguments are wrong.
local function parse_generic(t)
  local s = t:gsub("^%s+", ""):gsub("%s+$", "")
  local l = s:lower()
  local base, pos = l:match("^(%a+)()")
  if not base or not M.generic_types[base] then return nil end
  local p = {base = base, dims = ""}
  local args, after = l:match("^%s*(%b())()", pos)
  if args then p.args = args:sub(2, -2):gsub("%s+", ""); pos = after end
  local tz, after_tz = l:match("^%s+(w[%a]*)%s+time%s+zone()", pos)
  if tz == "with" or tz == "without" then p.tz = tz; pos = after_tz end
  while true do
    local dim, after_dim = l:match("^%s*(%[%s*%d*%s*%])()", pos)
    if not dim then break end
    p.dims = p.dims .. dim:gsub("%s+", ""); pos = after_dim
  end
  local coll, after_coll = s:match("^%s+[Cc][Oo][Ll][Ll][Aa][Tt][Ee]%s+(\"[^\"]+\")()", pos)
  if not coll then coll, after_coll = s:match("^%s+[Cc][Oo][Ll][Ll][Aa][Tt][Ee]%s+([%a_][%w_]*)()", pos) end
  if coll then p.collate = coll; pos = after_coll end
  if pos <= #s then return nil end                      -- something else follows: not this grammar
  if p.tz then
    if base ~= "time" and base ~= "timestamp" then
      return nil, ("%s takes no '%s time zone' (only time and timestamp do)"):format(base, p.tz)
    end
    if base == "timestamp" and p.tz == "with" then p.base = "timestamptz" end
    if base == "time" and p.tz == "with" then p.timetz = true end
  end
  if p.args then
    local rule = type_args[p.base]
    if not rule then
      return nil, ("%s takes no arguments"):format(base)
    end
    local a, b = p.args:match(rule.pattern)
    local n = tonumber(a)
    if not a or (rule.max and (n < rule.min or n > rule.max)) or (p.base == "string" and n < 1)
       or (p.base == "numeric" and (n < 1 or n > 1000 or b == "" and p.args:find(",", 1, true))) then
      return nil, ("bad arguments for %s: it takes %s"):format(base, rule.accepts)
    end
  end
  return p
end

-- Database types whose first word is a generic name: they pass through.
local multiword_types = {["double precision"] = true}

-- The model spelling of a parsed type.
local function model_of(p)
  local s = p.timetz and "timetz" or p.base                 -- time with time zone: a database type
  if p.args then s = s .. "(" .. p.args .. ")" end
  s = s .. p.dims
  if p.collate then s = s .. " collate " .. p.collate end
  return s
end

-- The first word of a type and what follows it, when what follows could be
-- the rest of the grammar above (arguments, a time zone, [], a collation):
-- such a word one edit from a generic name is taken for its misspelling.
local function word_of(t)
  local word, rest = t:match("^%s*([%a_][%w_]*)(.-)%s*$")
  if not word then return nil end
  if rest == "" or rest:match("^%s*%(") or rest:match("^%s*%[") or rest:match("^%s+[Cc][Oo][Ll][Ll][Aa][Tt][Ee]%s")
     or rest:match("^%s+[Ww][Ii][Tt][Hh]") then
    return word, rest
  end
  return nil
end

function check_type(t)
  if type(t) ~= "string" or t:match("^%s*$") then return nil, "a type must be a non-empty string" end
  if t:find(";", 1, true) or t:find("--", 1, true) or t:find("/*", 1, true)
     or t:find("*/", 1, true) or t:find("\0", 1, true) then
    return nil, ("type %q could end the statement (';' or a comment): refused"):format(t)
  end
  local depth = 0
  for c in t:gmatch("[()]") do
    depth = depth + (c == "(" and 1 or -1)
    if depth < 0 then break end
  end
  if depth ~= 0 then return nil, ("type %q has unbalanced parentheses: refused"):format(t) end
  local quotes = select(2, t:gsub("'", "")) + select(2, t:gsub('"', ""))
  if quotes % 2 ~= 0 then return nil, ("type %q has an unterminated quote: refused"):format(t) end
  local p, why = parse_generic(t)
  if p then return model_of(p) end
  if why then return nil, ("type %q: %s"):format(t, why) end
  local first = t:match("^%s*([%a_][%w_]*)")
  if first and M.generic_types[first:lower()]
     and not multiword_types[t:lower():gsub("%s+", " "):match("^ ?(.-) ?$")] then
    return nil, ("type %q: after the generic name %s only (arguments), 'with time zone' or 'without "
      .. "time zone', [] and 'collate NAME' may follow"):format(t, first:lower())
  end
  local word, rest = word_of(t)
  if word and not M.generic_types[word:lower()] and not database_types[word:lower()] then
    local generic = suggest.closest(word:lower(), M.generic_type_list, 1)
    if generic then
      local msg = ("type %q is not a generic type (did you mean '%s'?)"):format(t, generic)
      -- the quoted name is a type name both databases read when only
      -- arguments follow it (PostgreSQL also takes [] and a collation)
      if rest == "" or rest:match("^%s*%b()$") then
        msg = msg .. ("; a database type of that name passes through quoted: '\"%s\"%s'"):format(
          word, rest:gsub("^%s+", ""))
      end
      return nil, msg
    end
  end
  return (t:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- A model type parsed: {base =, args =, dims =, collate =} for a generic
-- one (memoised), nil for a database type.
local parsed_cache = {}
function M.parse_type(t)
  local hit = parsed_cache[t]
  if hit == nil then
    hit = type(t) == "string" and parse_generic(t) or false
    if hit and hit.timetz then hit = false end
    parsed_cache[t] = hit
  end
  return hit or nil
end

-- Split a model type into its generic base and argument text (nil for a
-- database type, and for an array of a generic type).
function M.split_type(t)
  local p = M.parse_type(t)
  if p and p.dims == "" then return p.base, p.args end
  return nil
end

return M
