-- luamig.dialect.common -- what both dialects share: the dialect base (quoting,
-- literals, CREATE TABLE and index rendering from the table model), and,
-- re-exported, the values (dialect.values), names (dialect.naming) and types
-- (dialect.types) that each have their own module.
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
local values = require "luamig.dialect.values"
local naming = require "luamig.dialect.naming"
local types = require "luamig.dialect.types"
local type_args = types.type_args

local M = {}
for _, mod in ipairs({values, naming, types}) do
  for k, v in pairs(mod) do M[k] = v end
end

-- Foreign key actions, as the model spells them (NO ACTION, the default, is nil).
M.fk_actions = {
  ["CASCADE"] = "CASCADE", ["SET NULL"] = "SET NULL", ["SET DEFAULT"] = "SET DEFAULT",
  ["RESTRICT"] = "RESTRICT", ["NO ACTION"] = false,
}

-- What PostgreSQL would do to a name over 63 bytes, and what to do instead.
function M.long_name_error(s)
  local kept = M.clip_utf8(s, M.max_name_length)
  return ('the name "%s" is %d bytes: PostgreSQL would truncate it to its first %d bytes ("%s"); '
    .. "use a shorter name (at most %d bytes)"):format(s, #s, #kept, kept, M.max_name_length)
end

-- How the dialect refuses a name: op/check.lua sets its raise here, so the
-- error names the migration's line (file:line of the op call).
function M.raise(msg) error(msg, 0) end

-- The dialect base: a table of methods that sqlite.lua and postgresql.lua extend.
function M.new(name)
  local d = {name = name}

  -- An identifier quoted. Every name an op gives PostgreSQL passes here, so
  -- this is where one over 63 bytes is refused (M.long_name_error) rather
  -- than truncated by the server with only a NOTICE.
  if name == "postgresql" then
    function d.ident(s)
      if type(s) == "string" and #s > M.max_name_length then M.raise(M.long_name_error(s)) end
      return core.quote_ident(s)
    end
  else
    function d.ident(s) return core.quote_ident(s) end
  end

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
    for i, s in ipairs(list) do t[i] = d.ident(s) end
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
      return (tonumber(args) <= 24 and "float(24)" or "double") .. dims
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

  -- CREATE TABLE, its comments (a dialect with comment_sql has them) and
  -- its indexes.
  function d.create_table(t, opts)
    local stmts = {d.create_table_sql(t, opts)}
    if d.comment_sql then
      if t.comment then stmts[#stmts + 1] = d.comment_sql("TABLE", t.name, nil, t.comment) end
      for _, col in ipairs(t.columns) do
        if col.comment then stmts[#stmts + 1] = d.comment_sql("COLUMN", t.name, col.name, col.comment) end
      end
    end
    for _, ix in ipairs(t.indexes or {}) do
      ix.table = ix.table or t.name
      stmts[#stmts + 1] = d.create_index_sql(ix, {if_not_exists = opts and opts.if_not_exists})
    end
    return stmts
  end

  -- CREATE INDEX: luamig.dialect.index_sql.
  function d.create_index_sql(ix, opts)
    return require("luamig.dialect.index_sql").create_index_sql(d, ix, opts)
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
