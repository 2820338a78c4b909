-- suggest.lua -- "did you mean": the closest known word to a mistyped one,
-- for commands, options, settings, templates, op functions and type names.
local M = {}

-- Optimal string alignment distance (Levenshtein plus adjacent swaps), so
-- "upgarde" is one edit from "upgrade" as a user would count it.
function M.distance(a, b)
  local la, lb = #a, #b
  if a == b then return 0 end
  if la == 0 then return lb end
  if lb == 0 then return la end
  local prev2, prev, cur = {}, {}, {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    cur = { [0] = i }
    local ca = a:byte(i)
    for j = 1, lb do
      local cb = b:byte(j)
      local cost = (ca == cb) and 0 or 1
      local v = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      if i > 1 and j > 1 and ca == b:byte(j - 1) and a:byte(i - 1) == cb then
        v = math.min(v, prev2[j - 2] + 1)
      end
      cur[j] = v
    end
    prev2, prev = prev, cur
  end
  return prev[lb]
end

-- The candidate closest to word (case-insensitive), or nil when none is
-- within max_distance (default: a third of the word's length, at least 1,
-- at most 3), so short words do not get far-fetched suggestions. Ties go to
-- the first candidate in the list's order.
function M.closest(word, candidates, max_distance)
  if type(word) ~= "string" or word == "" then return nil end
  local limit = max_distance or math.max(1, math.min(3, #word // 3))
  local lw = word:lower()
  local best, best_d
  for _, c in ipairs(candidates) do
    local d = M.distance(lw, tostring(c):lower())
    if d <= limit and (not best_d or d < best_d) then best, best_d = c, d end
  end
  return best, best_d
end

-- " (did you mean 'x'?)" or "" -- for appending to an error message.
function M.hint(word, candidates, max_distance)
  local best = M.closest(word, candidates, max_distance)
  if best then return (" (did you mean '%s'?)"):format(best) end
  return ""
end

return M
