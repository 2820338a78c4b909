-- luamig.op.citus -- Citus's table distribution as ops (doc/op.md,
-- "Citus"): op.distribute_table(table, column, {colocate_with = ...,
-- shard_count = n}) and op.reference_table(table), which call Citus's
-- create_distributed_table and create_reference_table. The names travel as
-- values: the table as its quoted identifier in a regclass literal
-- ('"Orders"'::regclass, so a mixed-case or odd name means that table and
-- no other), the column as text (Citus looks it up by its exact name, as
-- the catalog has it: "TenantId" is written 'TenantId'), colocate_with as
-- text (a table name Citus parses like regclass, so quoted); online they are bound
-- parameters, in --sql inlined literals (op.apply). Online on a server
-- without Citus the op fails at its line saying so, before PostgreSQL's
-- "function ... does not exist"; SQLite refuses it.
local check = require "luamig.op.check"
check.mark_internal()
local raise, check_arg, check_options = check.raise, check.check_arg, check.check_options
local function run(ctx, sql, params) return require("luamig.op.apply").run(ctx, sql, params) end

local M = {}

-- "orders", {schema = "s"} -> '"s"."orders"' as regclass text.
local function regclass_text(ctx, name, schema)
  return (schema and (ctx.d.ident(schema) .. ".") or "") .. ctx.d.ident(name)
end

local function refuse_sqlite(ctx, opname, fn)
  if ctx.sqlite then
    raise(("%s: Citus's %s is for PostgreSQL with the citus extension (profile = \"citus\"); "
      .. "SQLite has no distributed tables: leave the call out of a revision meant for SQLite "
      .. "(if op.dialect == \"postgresql\" then ... end)"):format(opname, fn))
  end
end

-- Online: the function must be there (Citus installed), else a clear error.
local function need_citus(ctx, opname, fn)
  if not ctx.conn then return end
  local rows = ctx.conn:query("SELECT 1 AS x FROM pg_proc WHERE proname = $1", {fn})
  if rows[1] == nil then
    raise(("%s: %s is Citus's: the database has no citus extension (profile = \"citus\" needs it: "
      .. "CREATE EXTENSION citus, on the coordinator); nothing was distributed"):format(opname, fn))
  end
end

function M.install(ctx, op)
  function op.distribute_table(tname, column, opts)
    local opname = "distribute_table"
    check_arg(opname, 1, "table", tname, "name")
    check_arg(opname, 2, "column", column, "name")
    local o = check_options(opname, opts, {colocate_with = "name", shard_count = "any", schema = "name"}, nil, 3)
    if o.shard_count ~= nil and (math.type(o.shard_count) ~= "integer" or o.shard_count < 1) then
      raise(('%s: option "shard_count" must be a whole number of shards, 1 or more, got %s')
        :format(opname, type(o.shard_count) == "string" and ("%q"):format(o.shard_count)
          or tostring(o.shard_count)))
    end
    refuse_sqlite(ctx, opname, "create_distributed_table")
    need_citus(ctx, opname, "create_distributed_table")
    local params = {regclass_text(ctx, tname, o.schema), column}
    local sql = "SELECT create_distributed_table($1::regclass, $2::text"
    if o.colocate_with then
      -- "default" and "none" are Citus's words; anything else names a table
      local c = o.colocate_with
      params[#params + 1] = (c == "default" or c == "none") and c or regclass_text(ctx, c, o.schema)
      sql = sql .. (", colocate_with => $%d::text"):format(#params)
    end
    -- a whole number checked above: written as it is (a bound number
    -- would read CAST(32 AS bigint)::integer in --sql)
    if o.shard_count then sql = sql .. (", shard_count => %d"):format(o.shard_count) end
    run(ctx, sql .. ")", params)
  end

  function op.reference_table(tname, opts)
    local opname = "reference_table"
    check_arg(opname, 1, "table", tname, "name")
    local o = check_options(opname, opts, {schema = "name"}, nil, 2)
    refuse_sqlite(ctx, opname, "create_reference_table")
    need_citus(ctx, opname, "create_reference_table")
    run(ctx, "SELECT create_reference_table($1::regclass)", {regclass_text(ctx, tname, o.schema)})
  end
end

return M
