-- luamig.dialect.enum -- enum types: the value op.enum returns, and their
-- SQL on each database (doc/op.md, "Enums").
--
-- An enum is {name =, values = {...}, schema = nil, create_type = true},
-- marked by its metatable (M.is_enum). On PostgreSQL a column of it has
-- the type's quoted (schema-qualified) name as its model type; on SQLite
-- it is string(longest value) with a CHECK (col IN (...)) named by the ck
-- convention, as SQLAlchemy 1.4 renders Enum(..., create_constraint=True).
local core = require "luamig.core"

local M = {}

local ENUM_MT = {__name = "luamig.enum"}
function ENUM_MT.__tostring(e) return ("op.enum(%s)"):format(e.name) end

function M.is_enum(v) return getmetatable(v) == ENUM_MT end

-- Check the values: a non-empty list of distinct strings. Returns a copy,
-- or nil and the reason.
function M.check_values(values)
  if type(values) ~= "table" or #values == 0 then
    return nil, "the values must be a non-empty list of strings"
  end
  local out, seen = {}, {}
  for k, v in pairs(values) do
    if math.type(k) ~= "integer" or k < 1 or k > #values then
      return nil, "the values must be a list of strings (no other keys)"
    end
    if type(v) ~= "string" then
      return nil, ("value %d must be a string, got %s"):format(k, type(v))
    end
    if v:find("\0", 1, true) then return nil, ("value %d contains a NUL byte"):format(k) end
    if seen[v] then return nil, ("value %q appears twice"):format(v) end
    seen[v] = true
  end
  for i = 1, #values do out[i] = values[i] end
  return out
end

function M.new(name, values, schema, create_type)
  return setmetatable({name = name, values = values, schema = schema,
                       create_type = create_type ~= false}, ENUM_MT)
end

local function ident(s) return core.quote_ident(s) end

-- The type's name as SQL: "schema"."name" or "name". A type exists only on
-- PostgreSQL, so its names go through that dialect's quoting, which refuses
-- one over 63 bytes at the migration's line.
function M.qualified(name, schema)
  local pg_ident = require("luamig.dialect.postgresql").ident
  if schema then return pg_ident(schema) .. "." .. pg_ident(name) end
  return pg_ident(name)
end

local function literals(values)
  local t = {}
  for i, v in ipairs(values) do t[i] = core.quote_literal("postgresql", v) end
  return table.concat(t, ", ")
end
M.literals = literals

-- PostgreSQL statements.
function M.create_sql(name, values, schema)
  return ("CREATE TYPE %s AS ENUM (%s)"):format(M.qualified(name, schema), literals(values))
end

-- CREATE TYPE unless a type of that name exists, in one statement (for
-- --sql, where nothing can be looked up): a DO block catching the error.
function M.create_if_not_exists_sql(name, values, schema)
  local body = M.create_sql(name, values, schema)
  local tag = "$luamig$"
  while body:find(tag, 1, true) do tag = tag:sub(1, -2) .. "_$" end
  return ("DO %sBEGIN %s; EXCEPTION WHEN duplicate_object THEN NULL; END%s"):format(tag, body, tag)
end

function M.drop_sql(name, schema, if_exists, cascade)
  return ("DROP TYPE %s%s%s"):format(if_exists and "IF EXISTS " or "", M.qualified(name, schema),
    cascade and " CASCADE" or "")
end

function M.add_value_sql(name, schema, value, o)
  local s = ("ALTER TYPE %s ADD VALUE %s%s"):format(M.qualified(name, schema),
    o.if_not_exists and "IF NOT EXISTS " or "", core.quote_literal("postgresql", value))
  if o.before then s = s .. " BEFORE " .. core.quote_literal("postgresql", o.before) end
  if o.after then s = s .. " AFTER " .. core.quote_literal("postgresql", o.after) end
  return s
end

function M.rename_value_sql(name, schema, old, new)
  return ("ALTER TYPE %s RENAME VALUE %s TO %s"):format(M.qualified(name, schema),
    core.quote_literal("postgresql", old), core.quote_literal("postgresql", new))
end

-- SQLite: the column's type and its CHECK condition.
function M.sqlite_type(values)
  local n = 1
  for _, v in ipairs(values) do
    local len = utf8.len(v) or #v
    if len > n then n = len end
  end
  return ("string(%d)"):format(n)
end

function M.check_condition(column, values)
  local t = {}
  for i, v in ipairs(values) do t[i] = core.quote_literal("sqlite", v) end
  return ("%s IN (%s)"):format(ident(column), table.concat(t, ", "))
end

return M
