-- bench/graph/shapes.lua -- the generated revision graphs the benches share
-- (bench/graph/bench.lua, bench/graph_draw/gen.lua): load with dofile.
--
-- shapes.NAME(n) returns a list of {revision, down_revision (nil, an id or a
-- list), labels = list, deps = list}:
--   linear   one chain
--   branchy  a trunk that forks into 4 lines of 5 every 21 revisions and
--            merges them again, plus 8 labelled side branches that never
--            merge, and a depends_on from each side branch to the trunk
--   forest   100 independent labelled roots, every 10th revision depending
--            on the previous root's line
-- shapes.literal(v): nil, an id or a list of ids as a Lua literal.
local shapes = {}

local function id(i) return ("%012x"):format(0x5eed0000 + i * 7919) end

function shapes.linear(n)
  local revs = {}
  for i = 1, n do revs[i] = {id(i), i > 1 and id(i - 1) or nil} end
  return revs
end

function shapes.branchy(n)
  local revs, trunk = {}, nil
  local function add(r) revs[#revs + 1] = r return r[1] end
  local side = {}
  for s = 1, 8 do side[s] = false end
  while #revs < n do
    -- a trunk stretch
    trunk = add{id(#revs + 1), trunk}
    -- a fork of 4 lines of 5, merged
    local tips = {}
    for b = 1, 4 do
      local p = trunk
      for _ = 1, 5 do p = add{id(#revs + 1), p} end
      tips[b] = p
    end
    trunk = add{id(#revs + 1), tips}
    -- the side branches grow by one each round
    for s = 1, 8 do
      if side[s] then
        side[s] = add{id(#revs + 1), side[s]}
      elseif #revs > 100 then
        side[s] = add{id(#revs + 1), trunk, labels = {"side" .. s}, deps = {trunk}}
      end
    end
  end
  return revs
end

function shapes.forest(n)
  local revs, lines = {}, {}
  local per = math.max(1, n // 100)
  for root = 1, 100 do
    local p = nil
    for k = 1, per do
      if #revs >= n then break end
      local r = {id(#revs + 1), p}
      if k == 1 then r.labels = {"tree" .. root} end
      if k % 10 == 0 and lines[root - 1] then r.deps = {lines[root - 1]} end
      revs[#revs + 1] = r
      p = r[1]
    end
    lines[root] = p
  end
  return revs
end

function shapes.literal(v)
  if v == nil then return "nil" end
  if type(v) == "string" then return ("%q"):format(v) end
  local out = {}
  for i, x in ipairs(v) do out[i] = ("%q"):format(x) end
  return "{" .. table.concat(out, ", ") .. "}"
end

return shapes
