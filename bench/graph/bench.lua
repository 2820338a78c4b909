-- bench/graph/bench.lua -- times the revision graph on generated script trees.
--
--   lua5.4 bench/graph/bench.lua [sizes...]      (default 1000 10000 50000)
--
-- For each size and shape it writes one migration file per revision into a
-- temporary versions/ directory, then times, in one process:
--   load     core.load_scripts (read, SHA-256, run every file in its own env)
--   graph    core.graph (link, validate, cycles, labels)
--   heads    g:heads()
--   upgrade  g:upgrade_path({}, "heads"), the full path from an empty table
--   history  g:history(), every revision newest first
-- Shapes:
--   linear   one chain
--   branchy  a trunk that forks into 4 lines of 5 every 21 revisions and
--            merges them again, plus 8 labelled side branches that never
--            merge, and a depends_on from each side branch to the trunk
--   forest   100 independent labelled roots, every 10th revision depending
--            on the previous root's line
-- Times are CPU seconds (os.clock).
package.cpath = (os.getenv("LUAMIG_BUILD") or "build") .. "/lib/?.so;" .. package.cpath
local core = require "luamig.core"

-- the shapes above, shared with bench/graph_draw/gen.lua
local shapes = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/shapes.lua")
local list = shapes.literal

local function write_tree(dir, revs)
  os.execute("mkdir -p " .. dir .. "/versions")
  for i, r in ipairs(revs) do
    local f = assert(io.open(("%s/versions/%06d_%s.lua"):format(dir, i, r[1]), "w"))
    f:write(("revision = %q\ndown_revision = %s\n"):format(r[1], list(r[2])))
    if r.labels then f:write(("branch_labels = %s\n"):format(list(r.labels))) end
    if r.deps then f:write(("depends_on = %s\n"):format(list(r.deps))) end
    f:write(("message = %q\n\n"):format("revision " .. i))
    f:write("function upgrade(op)\n  op.execute(\"SELECT 1\")\nend\n\n")
    f:write("function downgrade(op)\n  op.execute(\"SELECT 1\")\nend\n")
    f:close()
  end
end

local function time(f)
  local t0 = os.clock()
  local r = f()
  return os.clock() - t0, r
end

local sizes = {}
for i = 1, #arg do sizes[#sizes + 1] = tonumber(arg[i]) end
if #sizes == 0 then sizes = {1000, 10000, 50000} end

local tmp = os.tmpname()
os.remove(tmp)
print(("%-8s %7s %8s %8s %8s %8s %8s %8s %7s %6s"):format(
  "shape", "revs", "load", "graph", "heads", "upgrade", "history", "total", "steps", "heads"))
for _, n in ipairs(sizes) do
  for _, shape in ipairs{"linear", "branchy", "forest"} do
    local dir = ("%s-%s-%d"):format(tmp, shape, n)
    local revs = shapes[shape](n)
    write_tree(dir, revs)
    collectgarbage()
    local t_load, records = time(function() return core.load_scripts(dir .. "/versions") end)
    local t_graph, g = time(function() return core.graph(records) end)
    local t_heads, heads = time(function() return g:heads() end)
    local t_up, plan = time(function() return g:upgrade_path({}, "heads") end)
    local t_hist, hist = time(function() return g:history() end)
    assert(#plan.steps == #revs and #hist == #revs)
    print(("%-8s %7d %8.3f %8.3f %8.4f %8.3f %8.3f %8.3f %7d %6d"):format(shape, #revs, t_load,
      t_graph, t_heads, t_up, t_hist, t_load + t_graph + t_heads + t_up, #plan.steps, #heads))
    os.execute("rm -rf " .. dir)
  end
end
