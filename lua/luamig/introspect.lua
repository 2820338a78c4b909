-- luamig.introspect -- read a live schema into plain, comparable Lua tables.
--
--   local introspect = require "luamig.introspect"
--   local schema = introspect.schema(conn)   -- {dialect =, tables = {[name] = table}}
--   local t = introspect.table(conn, "users") -- one table, or nil when it does not exist
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
-- (four on either database), whatever the number of tables, and leaves out
-- tables whose names start with "luamig_" (the version table and log) and
-- SQLite's own sqlite_* tables; opts can leave out more (see M.schema). Only tables: views, triggers and sequences
-- are not part of the model.
local M = {}

local readers = {
  sqlite = "luamig.introspect.sqlite",
  postgresql = "luamig.introspect.postgresql",
}

local function reader(conn)
  local name = conn:dialect()
  return require(assert(readers[name], "introspect: unknown dialect " .. tostring(name)))
end

-- opts (optional): exclude = {[name] = true}, tables left out besides
-- luamig_*; include_object = function(kind, name, table) returning false
-- for what to leave out (kind: "table", "column", "index",
-- "unique_constraint", "foreign_key_constraint", "check_constraint").
function M.schema(conn, opts)
  local s = reader(conn).read(conn)
  if not opts then return s end
  for name in pairs(opts.exclude or {}) do s.tables[name] = nil end
  if opts.include_object then s = require("luamig.autogen.diff").filter(s, opts.include_object) end
  return s
end

-- One table by the name it was written with (on PostgreSQL a name over 63
-- bytes is looked up as the server truncated it).
function M.table(conn, name)
  local r = reader(conn)
  if r.stored_name then name = r.stored_name(name) end
  return r.read(conn, {table = name}).tables[name]
end

return M
