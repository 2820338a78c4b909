-- luamig.op.autocommit -- op.autocommit_block(fn), Alembic's
-- get_context().autocommit_block(): the runner commits what the step did
-- so far, fn's statements run outside a transaction (CREATE INDEX
-- CONCURRENTLY, ALTER TYPE ... ADD VALUE on old servers), then a new
-- transaction holds the rest of the step and its version row. In a
-- transactional = false step fn just runs. Offline the runner writes
-- COMMIT; before fn's statements and BEGIN; after them. The transaction
-- itself is the runner's (core.autocommit_begin/end, runner.h); the count
-- of statements is apply.run's (ctx.statements).
local check = require "luamig.op.check"
check.mark_internal()

local M = {}

function M.make(ctx)
  return function(fn)
    if type(fn) ~= "function" then
      check.raise(("autocommit_block: argument 1 must be a function (op.autocommit_block(function() "
        .. "... end)), got %s"):format(check.describe(fn)))
    end
    if ctx.autocommit then check.raise("autocommit_block: already inside one (blocks do not nest)") end
    local core = require "luamig.core"
    if core.step_in_transaction() == nil then
      -- no luamig run (an embedder's op.new): the caller owns the connection's transactions
      if ctx.conn and ctx.conn:in_transaction() then
        check.raise("autocommit_block: the connection is in a transaction that luamig did not "
          .. "open; commit it before the block, or run the migration with luamig")
      end
      ctx.autocommit = true
      local ok, err = pcall(fn)
      ctx.autocommit = nil
      if not ok then error(err, 0) end
      return
    end
    local ok0, e0 = pcall(core.autocommit_begin)
    if not ok0 then check.raise(type(e0) == "table" and tostring(e0.message) or tostring(e0)) end
    ctx.autocommit = true
    local before = ctx.statements or 0
    -- an error inside the block keeps the line that raised it (the runner
    -- names the line of the frame it sees, the autocommit_block call, else)
    local ok, err = xpcall(fn, function(e)
      if type(e) == "table" and type(e.message) == "string" and not e.where then e.where = check.caller_line() end
      return e
    end)
    ctx.autocommit = nil
    local ok2, err2 = pcall(core.autocommit_end, (ctx.statements or 0) - before, not ok)
    if not ok then error(err, 0) end
    if not ok2 then error(err2, 0) end
  end
end

return M
