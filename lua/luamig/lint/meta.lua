-- luamig.lint.meta -- what the lint itself could not judge or was told:
-- raw SQL it could not classify, a revision whose upgrade failed under the
-- recording op, a marker comment that is wrong; and SQLite's rebuild.
local r = require "luamig.lint.render"
local lit = r.lit

local M = {}

M.rules = {
  {id = "execute-unjudged", severity = "warning", lock = "unknown",
   why = "raw SQL that luamig cannot judge: check its locks by hand, or write it with op calls",
   safe = function() return "-- the same change with op calls (op.create_index, op.add_column, ...)" end},
  {id = "sqlite-rebuild", severity = "error", lock = "the database's write lock",
   why = "SQLite cannot ALTER this in place: the table is copied to a new one while writers wait",
   safe = function(d)
     return ("-- on a large table: a new table filled in batches, or a maintenance window;\n"
       .. "-- op.add_column(%s, ...) without constraints is done in place"):format(lit(d.table))
   end},
  {id = "not-linted", severity = "warning", lock = "unknown",
   why = "the revision's upgrade failed when run offline for the lint: its later calls are not judged",
   safe = function() return "-- keep upgrade(op) runnable offline (no op.query / op.get_bind for DDL decisions)" end},
  {id = "bad-marker", severity = "error", lock = "none",
   why = "a luamig-lint marker needs a known rule id and a reason: -- luamig-lint: ignore RULE-ID: reason",
   safe = function() return "-- luamig-lint: ignore RULE-ID: why this is safe here" end},
}

return M
