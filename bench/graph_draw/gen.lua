-- bench/graph_draw/gen.lua -- writes a project for the history --graph bench.
--
--   lua5.4 bench/graph_draw/gen.lua SHAPE N DIR
--
-- DIR/migrations/versions/ gets one script per revision, in the plain form
-- `luamig revision` writes (so listings read the headers only, as they do on
-- a real project). Shapes (bench/graph/shapes.lua's):
--   linear   one chain
--   branchy  a trunk that forks into 4 lines of 5 every 21 revisions and
--            merges them again, plus 8 labelled side branches that never
--            merge, each depending on the trunk (9 heads)
local shape, n, dir = arg[1], tonumber(arg[2]), arg[3]
assert(shape and n and dir, "usage: lua5.4 bench/graph_draw/gen.lua linear|branchy N DIR")

local shapes = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/graph/shapes.lua")
local list = shapes.literal

os.execute(("mkdir -p '%s/migrations/versions'"):format(dir))
local make = (shape == "linear" or shape == "branchy") and shapes[shape]
for i, r in ipairs(assert(make, "unknown shape " .. shape)(n)) do
  local f = assert(io.open(("%s/migrations/versions/%s_rev_%d.lua"):format(dir, r[1], i), "w"))
  f:write(table.concat({
    ("revision = %q"):format(r[1]),
    "down_revision = " .. list(r[2]),
    "branch_labels = " .. list(r.labels),
    "depends_on = " .. list(r.deps),
    ("message = %q"):format("revision " .. i),
    "",
    "function upgrade(op)",
    "end",
    "",
    "function downgrade(op)",
    "end",
    "",
  }, "\n"))
  f:close()
end
