-- bench/autogen/bench.lua -- times autogenerate's comparison on a large schema.
--
--   lua5.4 bench/autogen/bench.lua [N]        (default 1000 tables)
--   LUAMIG_BENCH_PG_URL=postgresql://... also runs PostgreSQL (bench/autogen/run
--   starts a throwaway server and sets it)
--
-- For each database it builds N tables with the op API in one transaction
-- (each: an identity/rowid key, seven columns of the generic types with
-- defaults, a foreign key to the previous table, a unique constraint, a
-- check and two indexes, one of them partial), then times, best of 5:
--   declare     schema(op) through the recording op (the declared model)
--   introspect  introspect.schema(conn): the whole live schema
--   diff        diff.compare(declared, live): no difference expected
--   compare     autogen.compare(conn, declared): introspect + diff, as check runs it
--   changed     autogen.compare after one column's default changed on every 10th
--               table (on PostgreSQL, those tables are re-read as temporary tables)
-- Times are wall-clock seconds.
local root = os.getenv("LUAMIG_ROOT") or "."
package.path = root .. "/lua/?.lua;" .. package.path
package.cpath = (os.getenv("LUAMIG_BUILD") or (root .. "/build")) .. "/lib/?.so;" .. package.cpath
local core = require "luamig.core"
local luamig_op = require "luamig.op"
local introspect = require "luamig.introspect"
local autogen = require "luamig.autogen"
local record = require "luamig.autogen.record"
local diff = require "luamig.autogen.diff"

local N = tonumber(arg[1]) or 1000

local function now()
  local f = io.popen("date +%s.%N")
  local t = tonumber(f:read("l"))
  f:close()
  return t
end

-- The schema: N tables, each referencing the one before.
local function schema(op, changed)
  for i = 1, N do
    local t = ("t%04d"):format(i)
    local cols = {
      {"id", "integer", primary_key = true},
      {"name", "string(100)", nullable = false},
      {"note", "text", default = (changed and i % 10 == 0) and "changed" or "none"},
      {"qty", "integer", nullable = false, default = 0},
      {"price", "numeric(10,2)"},
      {"active", "boolean", nullable = false, default = true},
      {"created_at", "timestamp", default = op.raw("CURRENT_TIMESTAMP")},
      {"ref", "uuid"},
    }
    if i > 1 then cols[#cols + 1] = {"prev_id", "integer", references = ("t%04d.id"):format(i - 1)} end
    cols[#cols + 1] = {unique = {"name"}}
    cols[#cols + 1] = {check = "qty >= 0", name = "ck_" .. t .. "_qty"}
    op.create_table(t, cols)
    op.create_index(nil, t, {"qty"})
    op.create_index("ix_" .. t .. "_active_name", t, {"name"}, {where = "active"})
  end
end

local function best(fn)
  local b = math.huge
  for _ = 1, 5 do
    local t0 = now()
    fn()
    b = math.min(b, now() - t0)
  end
  return b
end

local function bench(name, url)
  local conn = core.connect(url)
  local dialect = conn:dialect()
  local t0 = now()
  do
    local tx <close> = conn:begin()
    schema(luamig_op.new{conn = conn})
    tx:commit()
  end
  local build = now() - t0
  local function declare(changed)
    local op, store = record.new(dialect)
    schema(op, changed)
    return {dialect = dialect, tables = store.tables, order = store.order}
  end
  local declared = declare()
  local live = introspect.schema(conn)
  assert(#diff.compare(declared, live, {dialect = dialect}) == 0, "the schema should compare equal")
  local changed = declare(true)
  local nchanged = #autogen.compare(conn, changed)
  assert(nchanged == N // 10, ("expected %d changes, got %d"):format(N // 10, nchanged))
  local row = {
    name = name,
    build = build,
    declare = best(function() declare() end),
    introspect = best(function() introspect.schema(conn) end),
    diff = best(function() diff.compare(declared, live, {dialect = dialect}) end),
    compare = best(function() autogen.compare(conn, declared) end),
    changed = best(function() autogen.compare(conn, changed) end),
  }
  conn:close()
  return row
end

local rows = {}
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)
rows[#rows + 1] = bench("SQLite", "sqlite:" .. dir .. "/bench.db")
os.execute("rm -rf " .. dir)
local pg = os.getenv("LUAMIG_BENCH_PG_URL")
if pg then rows[#rows + 1] = bench("PostgreSQL", pg) end

print(("%d tables (%s); seconds, best of 5\n"):format(N, _VERSION))
print("| database | build (op, once) | declare | introspect | diff | compare (introspect + diff) | compare, 10% changed |")
print("|---|---|---|---|---|---|---|")
for _, r in ipairs(rows) do
  print(("| %s | %.2f | %.3f | %.3f | %.3f | **%.3f** | %.3f |"):format(r.name, r.build, r.declare,
    r.introspect, r.diff, r.compare, r.changed))
end
