-- luamig.lint.types -- which alter_column type changes rewrite a table on
-- PostgreSQL. ALTER TABLE's docs (SET DATA TYPE): "changing the type of an
-- existing column will normally cause the entire table and its indexes to
-- be rewritten. As an exception, when changing the type of an existing
-- column, if the USING clause does not change the column contents and the
-- old type is either binary coercible to the new type or an unconstrained
-- domain over the new type, a table rewrite is not needed." Binary coercible
-- and length-checked only when shorter: varchar(n) -> varchar(m >= n),
-- varchar(n) -> varchar / text, text -> varchar; numeric(p,s) -> numeric(q
-- >= p, s) and -> numeric. timestamp <-> timestamptz: PostgreSQL 12's
-- release notes: no rewrite "when the session time zone is UTC" (12+ only).
-- spec/14b measures each with pg_class.relfilenode.
local pg = require "luamig.dialect.postgresql"
local common = require "luamig.dialect.common"

local M = {}

local ALIAS = {["character varying"] = "varchar", ["int"] = "integer", int4 = "integer", int8 = "bigint",
  int2 = "smallint", decimal = "numeric", ["timestamp without time zone"] = "timestamp",
  ["timestamp with time zone"] = "timestamptz", bool = "boolean", ["double precision"] = "float8"}

-- {base =, args = {numbers}} of a type as PostgreSQL spells it, or nil.
function M.canon(t)
  if type(t) ~= "string" then return nil end
  local norm = common.normalize_type(t)
  local ok, sql = pcall(pg.type_sql, norm or t)
  local s = ((ok and sql) or t):lower():gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
  local base, args, rest = s:match("^([%a_ ]-)%s*%(([%d%s,]*)%)%s*(.*)$")
  if not base then base, args, rest = s, "", "" end
  if rest ~= "" then base = base .. " " .. rest end          -- timestamp(3) with time zone
  base = ALIAS[base] or base
  local list = {}
  for n in args:gmatch("%d+") do list[#list + 1] = tonumber(n) end
  return {base = base, args = list, text = s}
end

-- Does old -> new rewrite the table? Returns "no", "yes", or "utc"
-- (timestamp <-> timestamptz: no rewrite on PostgreSQL 12+ with the
-- session time zone UTC, a rewrite otherwise), and a short reason.
function M.rewrites(old, new)
  local a, b = M.canon(old), M.canon(new)
  if not a or not b then return "yes", "the type before the change is unknown" end
  if a.text == b.text then return "no", "the type does not change" end
  if a.base == "varchar" and b.base == "varchar" then
    if #b.args == 0 then return "no", "varchar without a length takes every varchar" end
    if #a.args == 1 and b.args[1] >= a.args[1] then return "no", "varchar widening" end
    return "yes", "a shorter or bounded varchar checks and rewrites every row"
  end
  if a.base == "varchar" and b.base == "text" then return "no", "varchar to text is binary coercible" end
  if a.base == "text" and b.base == "varchar" and #b.args == 0 then return "no", "text to varchar is binary coercible" end
  if a.base == "numeric" and b.base == "numeric" then
    if #b.args == 0 then return "no", "numeric without precision takes every numeric" end
    if #a.args >= 1 and (a.args[2] or 0) == (b.args[2] or 0) and b.args[1] >= a.args[1] then
      return "no", "numeric precision increase with the same scale"
    end
    return "yes", "a numeric scale change or precision decrease rewrites every row"
  end
  local ts = {timestamp = true, timestamptz = true}
  if ts[a.base] and ts[b.base] and (a.args[1] == b.args[1]) then
    return "utc", "timestamp <-> timestamptz rewrites unless PostgreSQL 12+ with session time zone UTC"
  end
  return "yes", ("%s to %s is not binary coercible"):format(a.text, b.text)
end

return M
