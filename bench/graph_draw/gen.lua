-- bench/graph_draw/gen.lua -- writes a project for the history --graph bench.
--
--   lua5.4 bench/graph_draw/gen.lua SHAPE N DIR
--
-- DIR/migrations/versions/ gets one script per revision, in the plain form
-- `luamig revision` writes (so listings read the headers only, as they do on
-- a real project). Shapes (those of bench/graph/bench.lua):
--   linear   one chain
--   branchy  a trunk that forks into 4 lines of 5 every 21 revisions and
--            merges them again, plus 8 labelled side branches that never
--            merge, each depending on the trunk (9 heads)
local shape, n, dir = arg[1], tonumber(arg[2]), arg[3]
assert(shape and n and dir, "usage: lua5.4 bench/graph_draw/gen.lua linear|branchy N DIR")

local function id(i) return ("%012x"):format(0x5eed0000 + i * 7919) end

local shapes = {}

function shapes.linear(count)
  local revs = {}
  for i = 1, count do revs[i] = {id(i), i > 1 and id(i - 1) or nil} end
  return revs
end

function shapes.branchy(count)
  local revs, trunk, side = {}, nil, {}
  local function add(r) revs[#revs + 1] = r return r[1] end
  while #revs < count do
    trunk = add{id(#revs + 1), trunk}
    local tips = {}
    for b = 1, 4 do
      local p = trunk
      for _ = 1, 5 do p = add{id(#revs + 1), p} end
      tips[b] = p
    end
    trunk = add{id(#revs + 1), tips}
    for s = 1, 8 do
      if side[s] then side[s] = add{id(#revs + 1), side[s]}
      elseif #revs > 100 then side[s] = add{id(#revs + 1), trunk, labels = {"side" .. s}, deps = {trunk}} end
    end
  end
  return revs
end

local function lua_list(v)
  if v == nil then return "nil" end
  if type(v) == "string" then return ("%q"):format(v) end
  local parts = {}
  for i, x in ipairs(v) do parts[i] = ("%q"):format(x) end
  return "(" .. table.concat(parts, ", ") .. ")"
end

os.execute(("mkdir -p '%s/migrations/versions'"):format(dir))
for i, r in ipairs(assert(shapes[shape], "unknown shape " .. shape)(n)) do
  local f = assert(io.open(("%s/migrations/versions/%s_rev_%d.lua"):format(dir, r[1], i), "w"))
  f:write(table.concat({
    ("revision = %q"):format(r[1]),
    "down_revision = " .. lua_list(r[2]):gsub("^%((.*)%)$", "{%1}"),
    "branch_labels = " .. lua_list(r.labels):gsub("^%((.*)%)$", "{%1}"),
    "depends_on = " .. lua_list(r.deps):gsub("^%((.*)%)$", "{%1}"),
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
