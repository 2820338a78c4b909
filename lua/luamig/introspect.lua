-- luamig.introspect -- read a live schema into plain, comparable Lua tables.
--
--   local introspect = require "luamig.introspect"
--   local schema = introspect.schema(conn)   -- {dialect =, tables = {[name] = table}}
--   local t = introspect.table(conn, "users") -- one table, or nil when it does not exist
--   local names = introspect.table_names(conn) -- {"users", ...}: which tables there are
--
-- Each table follows the model of luamig.dialect.common:
--   {name, comment, columns = {{name, type, nullable, default, autoincrement, comment}},
--    primary_key = {name, columns}, uniques = {{name, columns, deferrable, initially}},
--    foreign_keys = {{name, columns, ref_table, ref_columns, on_delete, on_update,
--                     deferrable, initially, match}},
--    checks = {{name, condition}},
--    indexes = {{name, unique, columns = {"col" or {expr = "..."}}, where, using, include}}}
-- Columns keep their order; the other lists are sorted by name. Types are
-- the generic names where one fits ("string(255)"), else the database's
-- own spelling, lower-cased. Defaults are SQL text as the database keeps
-- it (PostgreSQL's cast on a plain literal removed). Foreign key actions
-- are nil for NO ACTION. Index and constraint columns are names.
--
-- schema() reads the whole schema with a fixed number of catalog queries
-- (four on SQLite; five on PostgreSQL, its enum types too: schema.enums), whatever the number of tables, and leaves out
-- tables whose names start with "luamig_" (the version table and log) and
-- SQLite's own sqlite_* tables; opts can leave out more (see M.schema). Only tables: views, triggers and sequences
-- are not part of the model.
local enum = require "luamig.dialect.enum"

local M = {}

local readers = {
  sqlite = "luamig.introspect.sqlite",
  postgresql = "luamig.introspect.postgresql",
}

local function reader(conn)
  local name = conn:dialect()
  return require(assert(readers[name], "introspect: unknown dialect " .. tostring(name)))
end

-- The include_object kind of each list of a table model.
local kinds = {uniques = "unique_constraint", foreign_keys = "foreign_key_constraint",
               checks = "check_constraint", indexes = "index"}

-- A schema without what include_object(kind, name, table) rejects (autogen
-- filters the declared schema the same way as the live one).
function M.filter(schema, include)
  if not include then return schema end
  local out = {tables = {}, order = {}, dialect = schema.dialect, enums = schema.enums}
  local function keep(kind, name, tname)
    return include(kind, name, tname) ~= false
  end
  for name, t in pairs(schema.tables) do
    if keep("table", name, nil) then
      local c = {}
      for k, v in pairs(t) do c[k] = v end
      c.columns = {}
      for _, col in ipairs(t.columns) do
        if keep("column", col.name, name) then c.columns[#c.columns + 1] = col end
      end
      for field, kind in pairs(kinds) do
        c[field] = {}
        for _, x in ipairs(t[field] or {}) do
          if x.name == nil or keep(kind, x.name, name) then c[field][#c[field] + 1] = x end
        end
      end
      out.tables[name] = c
    end
  end
  for _, name in ipairs(schema.order or {}) do
    if out.tables[name] then out.order[#out.order + 1] = name end
  end
  -- enum types only what is left out uses are left out too (a type used
  -- by nothing stays: whether to drop it is autogenerate's to say)
  if schema.enums then
    local function used(tables)
      local set = {}
      for _, t in pairs(tables) do
        for _, col in ipairs(t.columns or {}) do
          if col.enum then set[enum.qualified(col.enum.name, col.enum.schema)] = true end
          local array_of = type(col.type) == "string" and col.type:match("^(.*)%[%]$")
          if array_of then set[array_of] = true end
        end
      end
      return set
    end
    local all, kept = used(schema.tables), used(out.tables)
    out.enums = {}
    for k, e in pairs(schema.enums) do
      if kept[k] or not all[k] then out.enums[k] = e end
    end
  end
  return out
end

-- opts (optional): exclude = {[name] = true}, tables left out besides
-- luamig_*; include_object = function(kind, name, table) returning false
-- for what to leave out (kind: "table", "column", "index",
-- "unique_constraint", "foreign_key_constraint", "check_constraint").
function M.schema(conn, opts)
  local s = reader(conn).read(conn)
  if not opts then return s end
  for name in pairs(opts.exclude or {}) do s.tables[name] = nil end
  if opts.include_object then s = M.filter(s, opts.include_object) end
  return s
end

-- The names of the tables introspect.table can read, in no order (one query; on
-- PostgreSQL current_schema()'s, on SQLite every one, luamig's own included).
function M.table_names(conn)
  return reader(conn).table_names(conn)
end

-- One table by the name it was written with (on PostgreSQL a name over 63
-- bytes is looked up as the server truncated it).
function M.table(conn, name)
  local r = reader(conn)
  if r.stored_name then name = r.stored_name(name) end
  return r.read(conn, {table = name}).tables[name]
end

return M
