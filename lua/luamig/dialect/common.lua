-- luamig.dialect.common -- what both dialects share: quoting, literals, the
-- generic type names, the naming convention, and CREATE TABLE rendering
-- from the table model.
--
-- The table model is the one shape the op API builds from a migration's
-- arguments, the SQLite rebuild edits, and luamig.introspect reads back:
--
--   { name = "users", comment = nil,
--     columns = { {name = "id", type = "integer", nullable = false,
--                  default = nil (SQL text), autoincrement = true, comment = nil}, ... },
--     primary_key  = {name = "pk_users", columns = {"id"}} or nil,
--     uniques      = { {name =, columns =, deferrable =, initially =}, ... },
--     foreign_keys = { {name =, columns =, ref_table =, ref_columns =, on_delete =,
--                       on_update =, deferrable =, initially =, match =}, ... },
--     checks       = { {name =, condition = "x > 0"}, ... },
--     indexes      = { {name =, unique =, columns = {"a", {expr = "lower(b)"}}, where =}, ... } }
--
-- Types in the model are generic names ("string(255)", "numeric(10,2)"),
-- or the database's own type name, lower-cased, when no generic one fits.
local core = require "luamig.core"
local sqltext = require "luamig.sqltext"
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


-- Alembic's recommended naming convention.
M.default_naming_convention = {
  ix = "ix_%(column_0_label)s",
  uq = "uq_%(table_name)s_%(column_0_name)s",
  ck = "ck_%(table_name)s_%(constraint_name)s",
  fk = "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
  pk = "pk_%(table_name)s",
}

-- Foreign key actions, as the model spells them (NO ACTION, the default, is nil).
M.fk_actions = {
  ["CASCADE"] = "CASCADE", ["SET NULL"] = "SET NULL", ["SET DEFAULT"] = "SET DEFAULT",
  ["RESTRICT"] = "RESTRICT", ["NO ACTION"] = false,
}

-- Identifiers longer than this get a hashed tail (PostgreSQL's NAMEDATALEN - 1),
-- on both databases so that a name is the same wherever it is created.
M.max_name_length = 63

-- A raw SQL fragment (op.raw): rendered as written.
local Raw = {__name = "luamig.raw"}
Raw.__index = Raw
Raw.__tostring = function(r) return r.sql end
-- A Lua float as SQL text, the one rendering used everywhere a float is
-- written as text (literals, DDL defaults, $N in --sql, a number stored in a
-- text column, COPY rows; value_kind.c's lm_number_text is the same in C):
-- the fewest of 15, 16 or 17 significant digits that read back as the same
-- double, so 0.1 is "0.1", not "0.10000000000000001", and no double is
-- changed. The caller handles NaN and the infinities.
function M.float_text(v)
  for digits = 15, 16 do
    local s = ("%." .. digits .. "g"):format(v)
    if tonumber(s) == v then return s end
  end
  return ("%.17g"):format(v)
end

-- A byte string to store as bytes (bytea, BLOB): core.binary's value,
-- {bytes = s} with the metatable luamig.Binary. Online it binds as bytes
-- where a plain string binds as text; offline it is written X'..' on
-- SQLite and decode('..', 'hex') on PostgreSQL.
M.binary = core.binary
local binary_mt = getmetatable(core.binary(""))
function M.is_binary(v) return type(v) == "table" and getmetatable(v) == binary_mt end

-- The bytes of s as hex digits.
function M.hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

function M.raw(sql)
  return setmetatable({sql = sql}, Raw)
end
function M.is_raw(v)
  return getmetatable(v) == Raw
end

-- op.NULL: "no value", to drop a default or a comment in alter_column.
M.NULL = setmetatable({}, {__name = "luamig.NULL", __tostring = function() return "op.NULL" end})

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

-- The name a convention gives to an index or constraint.
--   kind: "ix" "uq" "ck" "fk" "pk"; info: {table =, columns = {...},
--   referred_table =, referred_columns =, constraint_name =}
-- Returns the name, or nil and the reason.
function M.convention_name(convention, kind, info)
  local pattern = convention[kind]
  if pattern == nil then return nil, "the naming convention has no '" .. kind .. "' entry" end
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

-- The dialect base: a table of methods that sqlite.lua and postgresql.lua extend.
function M.new(name)
  local d = {name = name}

  function d.ident(s) return core.quote_ident(s) end

  -- The name the database keeps for an identifier written as s: PostgreSQL
  -- truncates one over 63 bytes (NAMEDATALEN - 1) at a character boundary,
  -- so "t" written with 70 bytes is found in the catalog by its first 63;
  -- SQLite keeps every name whole.
  if name == "postgresql" then
    function d.stored_name(s) return M.clip_utf8(s, M.max_name_length) end
  else
    function d.stored_name(s) return s end
  end

  function d.idents(list)
    local t = {}
    for i, s in ipairs(list) do t[i] = core.quote_ident(s) end
    return table.concat(t, ", ")
  end

  function d.string_literal(s) return core.quote_literal(name, s) end

  -- A Lua value as an SQL literal; nil and op.NULL are NULL.
  function d.literal(v)
    local tv = type(v)
    if v == nil or v == M.NULL then return "NULL"
    elseif tv == "string" then return core.quote_literal(name, v)
    elseif tv == "boolean" then return d.boolean_literal(v)
    elseif math.type(v) == "integer" then return tostring(v)
    elseif math.type(v) == "float" then
      if v ~= v or v == math.huge or v == -math.huge then
        error(("%s cannot be written as an SQL literal"):format(tostring(v)), 0)
      end
      local s = M.float_text(v)
      if not s:find("[%.eE]") then s = s .. ".0" end
      return s
    elseif M.is_raw(v) then return v.sql
    elseif M.is_binary(v) then
      if name == "postgresql" then return ("decode('%s', 'hex')"):format(M.hex(v.bytes)) end
      return ("X'%s'"):format(M.hex(v.bytes):upper())
    end
    error(("a %s cannot be written as an SQL literal (use nil, a boolean, a number or a string)"):format(tv), 0)
  end

  function d.boolean_literal(v) return v and "TRUE" or "FALSE" end

  -- A Lua value as what stands for $N in --sql output: the value the
  -- online binding would send, as a self-contained piece of SQL. On
  -- PostgreSQL numbers are bound typed (int8, float8), so the literal
  -- carries the same type (CAST(5 AS bigint): 100000 * 100000 does not
  -- overflow int4 offline where it does not online); on SQLite a negative
  -- number is parenthesised, so "$1-$2" with {5, -1} reads 5-(-1), not
  -- the comment 5--1. Strings, booleans and NULL are d.literal's.
  function d.param_literal(v)
    if type(v) ~= "number" then return d.literal(v) end
    if v ~= v then error("NaN cannot be written as an SQL literal", 0) end
    local s
    if v == math.huge or v == -math.huge then
      s = name == "postgresql" and (v > 0 and "'Infinity'" or "'-Infinity'")
          or (v > 0 and "9e999" or "-9e999")       -- SQLite reads an overflow as Inf
    else
      s = d.literal(v)
    end
    if name == "postgresql" then
      return ("CAST(%s AS %s)"):format(s, math.type(v) == "integer" and "bigint" or "double precision")
    end
    return s:sub(1, 1) == "-" and "(" .. s .. ")" or s
  end

  -- The SQL text for a DEFAULT clause: op.raw as written, a value as a literal.
  function d.default_sql(v)
    if M.is_raw(v) then return v.sql end
    return d.literal(v)
  end

  -- The model type rendered for this database (memoised: every column
  -- asks, and it depends on the string alone): a generic base mapped, its
  -- arguments, array brackets and collation kept; a database type as written.
  local type_sql_of = {}
  function d.type_sql(t)
    local sql = type_sql_of[t]
    if sql then return sql end
    local p = M.parse_type(t)
    if not p then
      sql = t
    else
      local mapped = d.types[p.base]
      if p.args then
        sql = (mapped.with_args or mapped.name) .. "(" .. p.args:gsub(",", ", ") .. ")"
      else
        sql = mapped.name
      end
      sql = sql .. p.dims
      if p.collate then sql = sql .. " COLLATE " .. p.collate end
    end
    type_sql_of[t] = sql
    return sql
  end

  -- Why this database cannot have a model type, or nil.
  function d.type_refused(t)
    -- a generic type with [] (its collation may be quoted), or a database
    -- type whose [] is not inside a quoted name
    local p = M.parse_type(t)
    local array = p and p.dims ~= "" or (not p and t:gsub('"[^"]*"', ""):find("[", 1, true))
    if d.name == "sqlite" and array then
      return ("type %q: SQLite has no array types (use json, or a table of the elements)"):format(t)
    end
    return nil
  end

  -- The generic name for a database type (introspection); falls back to the
  -- type as the database spells it, lower-cased. PostgreSQL's spellings
  -- "timestamp(3) with time zone" and "character varying(30)[]" read as
  -- timestamptz(3) and string(30)[]; a collation is not part of it.
  function d.generic_type(db_type)
    local t = db_type:lower():gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
    t = t:gsub(' collate ("?[^"]*"?)$', "")
    local dims = ""
    while true do
      local rest, dim = t:match("^(.-)%s*(%[%d*%])$")
      if not rest then break end
      t, dims = rest, dim .. dims
    end
    local tz
    local head, w = t:match("^(.-) (with) time zone$")
    if not head then head, w = t:match("^(.-) (without) time zone$") end
    if head and (head:match("^time[%s(]") or head:match("^timestamp[%s(]") or head == "time"
                 or head == "timestamp") then
      t, tz = head, w
    end
    local base, args = t:match("^(.-)%s*(%b())$")
    if base then args = args:sub(2, -2):gsub("%s+", "") else base = t end
    if tz == "with" then
      if base == "time" then
        return "timetz" .. (args and "(" .. args .. ")" or "") .. dims
      end
      base = "timestamptz"
    end
    local g = d.reverse_types[base]
    if g == "float" and args and d.float_precision_collapses then   -- PostgreSQL: real or double
      return (tonumber(args) <= 24 and "float" or "double") .. dims
    end
    if g and (args == nil or type_args[g]) then
      if args and args ~= "" then return g .. "(" .. args .. ")" .. dims end
      return g .. dims
    end
    return t .. (tz and (" " .. tz .. " time zone") or "") .. dims
  end

  function d.constraint_prefix(c)
    return c.name and ("CONSTRAINT " .. d.ident(c.name) .. " ") or ""
  end

  local function deferrable(c)
    local s = ""
    if c.deferrable then s = s .. " DEFERRABLE" end
    if c.initially then s = s .. " INITIALLY " .. c.initially end
    return s
  end

  -- A table-level constraint clause; kind is "primary", "unique", "foreign" or "check".
  function d.constraint_sql(kind, c)
    local p = d.constraint_prefix(c)
    if kind == "primary" then
      return p .. "PRIMARY KEY (" .. d.idents(c.columns) .. (c.autoincrement_keyword and " AUTOINCREMENT" or "") .. ")"
    elseif kind == "unique" then
      return p .. "UNIQUE (" .. d.idents(c.columns) .. ")" .. deferrable(c)
    elseif kind == "check" then
      return p .. "CHECK (" .. c.condition .. ")"
    else
      local s = p .. "FOREIGN KEY (" .. d.idents(c.columns) .. ") REFERENCES "
        .. d.ident(c.ref_table) .. " (" .. d.idents(c.ref_columns) .. ")"
      if c.match then s = s .. " MATCH " .. c.match end
      if c.on_delete then s = s .. " ON DELETE " .. c.on_delete end
      if c.on_update then s = s .. " ON UPDATE " .. c.on_update end
      return s .. deferrable(c)
    end
  end

  -- The model's constraints in rendering order: pk, uniques, fks, checks.
  function d.each_constraint(t)
    local list = {}
    if t.primary_key then
      local pk = t.primary_key
      if t.sqlite_autoincrement and d.name == "sqlite" then          -- keep SQLite's AUTOINCREMENT
        pk = {name = pk.name, columns = pk.columns, autoincrement_keyword = true}
      end
      list[#list + 1] = {"primary", pk}
    end
    for _, c in ipairs(t.uniques or {}) do list[#list + 1] = {"unique", c} end
    for _, c in ipairs(t.foreign_keys or {}) do list[#list + 1] = {"foreign", c} end
    for _, c in ipairs(t.checks or {}) do list[#list + 1] = {"check", c} end
    return list
  end

  -- CREATE TABLE for a model table (without its indexes and comments).
  function d.create_table_sql(t, opts)
    local parts = {}
    for _, col in ipairs(t.columns) do parts[#parts + 1] = d.column_sql(col, t) end
    for _, kc in ipairs(d.each_constraint(t)) do
      parts[#parts + 1] = d.constraint_sql(kc[1], kc[2])
    end
    return ("CREATE TABLE %s%s (\n    %s\n)%s"):format(
      opts and opts.if_not_exists and "IF NOT EXISTS " or "", d.ident(t.name),
      table.concat(parts, ",\n    "),
      (t.options and d.name == "sqlite") and (" " .. t.options) or "")   -- WITHOUT ROWID, STRICT
  end

  -- One column of an index: a name or {expr = "..."}.
  local ordering = {ASC = true, DESC = true, NULLS = true, FIRST = true, LAST = true}
  local function index_element(e)
    if type(e) ~= "table" then return d.ident(e) end
    if d.name ~= "postgresql" then return e.expr end
    -- PostgreSQL takes an expression other than a column or a function call
    -- only in parentheses; a trailing ASC/DESC/NULLS FIRST stays outside them
    local toks = sqltext.tokens(e.expr)
    local n = #toks
    while n > 0 and toks[n].k == "word" and ordering[toks[n].v:upper()] do n = n - 1 end
    if n == 0 then return e.expr end
    local head = e.expr:sub(1, toks[n].e)
    local tail = e.expr:sub(toks[n].e + 1)
    local simple = n == 1 and (toks[1].k == "word" or toks[1].k == "ident")
    local call = toks[1].k == "word" and sqltext.is(toks[2], "(") and sqltext.close_paren(toks, 2) == n
    local wrapped = sqltext.is(toks[1], "(") and sqltext.close_paren(toks, 1) == n
    if simple or call or wrapped then return e.expr end
    return "(" .. head .. ")" .. tail
  end

  function d.create_index_sql(ix, opts)
    opts = opts or {}
    local cols = {}
    for i, e in ipairs(ix.columns) do cols[i] = index_element(e) end
    local s = ("CREATE %sINDEX %s%s%s ON %s%s (%s)"):format(
      ix.unique and "UNIQUE " or "",
      (opts.concurrently and d.name == "postgresql") and "CONCURRENTLY " or "",
      opts.if_not_exists and "IF NOT EXISTS " or "",
      d.ident(ix.name), d.ident(ix.table),
      (ix.using and d.name == "postgresql") and (" USING " .. ix.using) or "",
      table.concat(cols, ", "))
    if ix.include and #ix.include > 0 and d.name == "postgresql" then
      s = s .. " INCLUDE (" .. d.idents(ix.include) .. ")"
    end
    if ix.where then s = s .. " WHERE " .. ix.where end
    return s
  end

  function d.drop_index_sql(name, opts)
    opts = opts or {}
    return ("DROP INDEX %s%s%s"):format(
      (opts.concurrently and d.name == "postgresql") and "CONCURRENTLY " or "",
      opts.if_exists and "IF EXISTS " or "", d.ident(name))
  end

  function d.drop_table_sql(name, opts)
    return ("DROP TABLE %s%s"):format(opts and opts.if_exists and "IF EXISTS " or "", d.ident(name))
  end

  function d.rename_table_sql(old, new)
    return ("ALTER TABLE %s RENAME TO %s"):format(d.ident(old), d.ident(new))
  end

  function d.rename_column_sql(t, old, new)
    return ("ALTER TABLE %s RENAME COLUMN %s TO %s"):format(d.ident(t), d.ident(old), d.ident(new))
  end

  return d
end

return M
