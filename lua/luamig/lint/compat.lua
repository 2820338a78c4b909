-- luamig.lint.compat -- destructive or backward-incompatible operations
-- (severity warning, both databases): the application version still
-- running reads the old name or column. Expand/contract instead.
local r = require "luamig.lint.render"
local lit = r.lit

local M = {}

M.rules = {
  {id = "rename-table", severity = "warning", lock = "ACCESS EXCLUSIVE (brief)",
   why = "the code still running queries the old name and fails until it is deployed",
   safe = function(d)
     return ("-- expand: op.create_table(%s, ...) and write to both; backfill; switch the code;\n"
       .. "-- contract, in a later revision once no code reads it:\nop.drop_table(%s)")
       :format(lit(d.options.new_table), lit(d.table))
   end},
  {id = "rename-column", severity = "warning", lock = "ACCESS EXCLUSIVE (brief)",
   why = "the code still running reads and writes the old column name and fails until it is deployed",
   safe = function(d)
     return ("op.add_column(%s, {%s, \"...\"})  -- expand: write both, backfill, switch the code\n"
       .. "-- contract, in a later revision:\nop.drop_column(%s, %s)")
       :format(lit(d.table), lit(d.options.new_column_name), lit(d.table), lit(d.column))
   end},
  {id = "drop-column", severity = "warning", lock = "ACCESS EXCLUSIVE (brief)",
   why = "the data is gone, and code still running that reads the column fails",
   safe = function(d)
     return ("-- first deploy code that no longer reads %s.%s, then in a later revision:\nop.drop_column(%s, %s)")
       :format(d.table, d.column, lit(d.table), lit(d.column))
   end},
  {id = "drop-table", severity = "warning", lock = "ACCESS EXCLUSIVE (brief)",
   why = "the data is gone, and code still running that reads the table fails",
   safe = function(d)
     return ("-- first deploy code that no longer reads %s, then in a later revision:\nop.drop_table(%s)")
       :format(d.table, lit(d.table))
   end},
}

function M.judge(d, st)
  if not d.table or not st.existing(d.table) then return {} end
  local o = d.options or {}
  local function one(id, note) return {{rule = id, d = d, note = note}} end
  if d.op == "rename_table" then
    return one("rename-table", ("rename_table %s -> %s"):format(lit(d.table), lit(o.new_table)))
  elseif d.op == "alter_column" and o.new_column_name then
    return one("rename-column", ("alter_column %s.%s new_column_name = %s")
      :format(lit(d.table), lit(d.column), lit(o.new_column_name)))
  elseif d.op == "drop_column" then
    return one("drop-column", ("drop_column %s.%s"):format(lit(d.table), lit(d.column)))
  elseif d.op == "drop_table" then
    return one("drop-table", ("drop_table %s"):format(lit(d.table)))
  end
  return {}
end

return M
