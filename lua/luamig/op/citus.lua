-- luamig.op.citus -- Citus's table distribution as ops (doc/op.md,
-- "Citus"): op.distribute_table(table, column, {colocate_with = ...,
-- shard_count = n}) and op.reference_table(table), which call Citus's
-- create_distributed_table and create_reference_table. The names travel as
-- values: the table as its quoted identifier in a regclass literal
-- ('"Orders"'::regclass, so a mixed-case or odd name means that table and
-- no other), the column as text (Citus looks it up by its exact name, as
-- the catalog has it: "TenantId" is written 'TenantId'), colocate_with as
-- text (a table name Citus parses like regclass, so quoted: "tenants" or
-- "app.tenants" split at its dot as Citus reads it, or {schema = "app",
-- table = "t.x"} for names with a dot; "default" and "none", in any case,
-- are Citus's keywords and pass as they are); online they are bound
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

-- Citus's limit on shard_count (MAX_SHARD_COUNT in its shared_library_init.h).
M.MAX_SHARD_COUNT = 64000

-- shard_count n as a whole number (64.0 taken, as settings take 3.0), or
-- a clear error.
local function shard_count(opname, n)
  local v = math.type(n) == "float" and n == math.floor(n) and math.tointeger(n) or n
  if math.type(v) ~= "integer" or v < 1 or v > M.MAX_SHARD_COUNT then
    local shown = type(n) == "string" and ("%q"):format(n)
      or (type(n) == "number" and n ~= n) and "NaN" or tostring(n)
    raise(('%s: option "shard_count" must be a whole number of shards from 1 to %d (Citus\'s '
      .. 'limit), got %s'):format(opname, M.MAX_SHARD_COUNT, shown))
  end
  return v
end

-- colocate_with as Citus reads it: its keywords "default" and "none" (in
-- any case) as they are; "t" or "s.t" (split at the dot, as Citus parses
-- it) or {schema = "s", table = "t"} as a quoted regclass text. It is not
-- qualified with the distributed table's schema: it names its own.
local function colocate_text(ctx, opname, c)
  local bad = ('%s: option "colocate_with" must be "default", "none", a table name ("tenants" or '
    .. '"app.tenants") or {schema = "app", table = "tenants"}'):format(opname)
  if type(c) == "table" then
    if type(c.table) ~= "string" or c.table == "" or (c.schema ~= nil and (type(c.schema) ~= "string"
        or c.schema == "")) then raise(bad .. ", got a table without a non-empty string table field") end
    for k in pairs(c) do
      if k ~= "table" and k ~= "schema" then raise(('%s; unknown field %q'):format(bad, tostring(k))) end
    end
    return regclass_text(ctx, c.table, c.schema)
  end
  if type(c) ~= "string" or c == "" then raise(bad .. ", got " .. (type(c) == "string" and '""' or ("a " .. type(c)))) end
  local lower = c:lower()
  if lower == "default" or lower == "none" then return lower end
  local schema, name = c:match("^([^.]+)%.([^.]+)$")
  if schema then return regclass_text(ctx, name, schema) end
  if c:find(".", 1, true) then
    raise(('%s, got %q: write a name with a dot in it as {schema = ..., table = ...}'):format(bad, c))
  end
  return regclass_text(ctx, c)
end

function M.install(ctx, op)
  function op.distribute_table(tname, column, opts)
    local opname = "distribute_table"
    check_arg(opname, 1, "table", tname, "name")
    check_arg(opname, 2, "column", column, "name")
    if column:find("\0", 1, true) then
      raise(("%s: argument 2 (column) contains a NUL byte: no column name has one"):format(opname))
    end
    local o = check_options(opname, opts, {colocate_with = "any", shard_count = "any", schema = "name"}, nil, 3)
    local shards = o.shard_count ~= nil and shard_count(opname, o.shard_count) or nil
    refuse_sqlite(ctx, opname, "create_distributed_table")
    need_citus(ctx, opname, "create_distributed_table")
    local params = {regclass_text(ctx, tname, o.schema), column}
    local sql = "SELECT create_distributed_table($1::regclass, $2::text"
    if o.colocate_with ~= nil then
      params[#params + 1] = colocate_text(ctx, opname, o.colocate_with)
      sql = sql .. (", colocate_with => $%d::text"):format(#params)
    end
    -- a whole number checked above: written as it is (a bound number
    -- would read CAST(32 AS bigint)::integer in --sql)
    if shards then sql = sql .. (", shard_count => %d"):format(shards) end
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
