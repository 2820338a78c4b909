-- luamig.dialect.sqlite -- types and DDL for SQLite.
--
-- What SQLite's ALTER TABLE cannot do (drop or alter a column, add or drop
-- a constraint) is not rendered here: luamig.op.sqlite_rebuild moves and
-- copies the table. Comments do not exist in SQLite and are ignored.
local common = require "luamig.dialect.common"

local d = common.new("sqlite")

d.types = {
  integer = {name = "INTEGER"}, bigint = {name = "BIGINT"}, smallint = {name = "SMALLINT"},
  string = {name = "VARCHAR"}, text = {name = "TEXT"}, boolean = {name = "BOOLEAN"},
  float = {name = "FLOAT"}, double = {name = "DOUBLE"}, numeric = {name = "NUMERIC"},
  date = {name = "DATE"}, time = {name = "TIME"}, timestamp = {name = "TIMESTAMP"},
  timestamptz = {name = "TIMESTAMPTZ"}, binary = {name = "BLOB"}, json = {name = "JSON"},
  uuid = {name = "UUID"},
}

d.reverse_types = {
  integer = "integer", bigint = "bigint", smallint = "smallint", varchar = "string",
  text = "text", boolean = "boolean", float = "float", real = "float", double = "double",
  ["double precision"] = "double", numeric = "numeric", date = "date", time = "time",
  timestamp = "timestamp", datetime = "timestamp",      -- DATETIME: SQLAlchemy's DateTime on SQLite
  timestamptz = "timestamptz", blob = "binary", json = "json",
  uuid = "uuid",
}

d.supports_comments = false

-- SQLite stores 1 and 0 for booleans (TRUE and FALSE are only aliases).
function d.boolean_literal(v) return v and "1" or "0" end

-- A DEFAULT that is not a plain literal must be parenthesised in SQLite.
local function is_plain_default(s)
  local u = s:upper()
  return s:match("^[+-]?%d+%.?%d*$") or s:match("^[+-]?%d*%.%d+$")
    or s:match("^[+-]?%d+%.?%d*[eE][+-]?%d+$")
    or (s:match("^'.*'$") and not s:sub(2, -2):gsub("''", ""):find("'"))
    or s:match("^[xX]'%x*'$")
    or u == "NULL" or u == "TRUE" or u == "FALSE" or u == "CURRENT_TIME"
    or u == "CURRENT_DATE" or u == "CURRENT_TIMESTAMP"
    or (s:match("^%b()$") ~= nil)
end

function d.default_sql(v)
  if common.is_raw(v) then
    local s = v.sql:gsub("^%s+", ""):gsub("%s+$", "")
    if is_plain_default(s) then return s end
    return "(" .. s .. ")"
  end
  return d.literal(v)
end

-- Can ALTER TABLE ADD COLUMN take this default? (No CURRENT_* and no expression.)
function d.add_column_default_ok(sql)
  if sql == nil then return true end
  local u = sql:upper()
  if u:match("^CURRENT_") or sql:match("^%(") then return false end
  return true
end

function d.column_sql(col)
  local s = d.ident(col.name) .. " " .. d.type_sql(col.type)
  if col.collate then s = s .. " COLLATE " .. d.ident(col.collate) end
  if col.nullable == false then s = s .. " NOT NULL" end
  if col.default ~= nil then
    -- PRAGMA table_info gives an expression default without its parentheses
    local v = col.default:gsub("^%s+", ""):gsub("%s+$", "")
    s = s .. " DEFAULT " .. (is_plain_default(v) and v or "(" .. v .. ")")
  end
  return s
end

-- ADD COLUMN with inline foreign key and check (both allowed by SQLite).
function d.add_column_sql(tname, col, fk, check)
  local s = ("ALTER TABLE %s ADD COLUMN %s"):format(d.ident(tname), d.column_sql(col))
  if fk then
    s = s .. " " .. d.constraint_prefix(fk) .. "REFERENCES " .. d.ident(fk.ref_table)
      .. " (" .. d.idents(fk.ref_columns) .. ")"
    if fk.match then s = s .. " MATCH " .. fk.match end
    if fk.on_delete then s = s .. " ON DELETE " .. fk.on_delete end
    if fk.on_update then s = s .. " ON UPDATE " .. fk.on_update end
    if fk.deferrable then s = s .. " DEFERRABLE" end
    if fk.initially then s = s .. " INITIALLY " .. fk.initially end
  end
  if check then s = s .. " " .. d.constraint_prefix(check) .. "CHECK (" .. check.condition .. ")" end
  return s
end

function d.drop_column_sql(tname, cname)
  return ("ALTER TABLE %s DROP COLUMN %s"):format(d.ident(tname), d.ident(cname))
end

return d
