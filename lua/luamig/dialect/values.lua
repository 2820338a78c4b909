-- luamig.dialect.values -- the Lua values the op API renders into SQL
-- beside plain strings, numbers and booleans: op.raw (SQL as written),
-- op.NULL, op.binary (bytes), and the one text form of a float.
local core = require "luamig.core"

local M = {}

-- A raw SQL fragment (op.raw): rendered as written.
local Raw = {__name = "luamig.raw"}
Raw.__index = Raw
Raw.__tostring = function(r) return r.sql end
-- A Lua number as SQL text in the one rendering of a float used
-- everywhere a float is written as text (literals, DDL defaults, $N in
-- --sql, a number stored in a text column, COPY rows), owned by C
-- (value_kind.c's lm_number_text): the fewest of 15, 16 or 17 significant
-- digits that read back as the same double, so 0.1 is "0.1", not
-- "0.10000000000000001", and no double is changed. An integer is written
-- as the float it converts to. The caller handles NaN and the infinities.
local number_text = core.number_text
function M.float_text(v) return number_text(v + 0.0) end

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

return M
