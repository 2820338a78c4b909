-- luamig.scaffold.slug -- the file-name slug of a message, exactly as
-- Alembic computes it (Unicode-aware, from luamig.scaffold.unicode).
local unicode = require "luamig.scaffold.unicode"

local WORD_RANGES, IGNORABLE_RANGES, CASED_RANGES, LOWER_RUNS =
  unicode.WORD_RANGES, unicode.IGNORABLE_RANGES, unicode.CASED_RANGES, unicode.LOWER_RUNS

local M = {}

-- The slug: Alembic's
--     slug = "_".join(re.findall(r"\w+", message or "")).lower()
--     if len(slug) > truncate_slug_length:
--         slug = slug[:truncate_slug_length].rsplit("_", 1)[0] + "_"
-- on a Python 3 str, so \w and lower() are Unicode-aware and lengths count
-- code points. luamig.scaffold.unicode carries Python's Unicode data.

-- Is cp inside one of the [first, last] pairs of the sorted ranges?
local function in_ranges(ranges, cp)
  local lo, hi = 1, #ranges // 2
  while lo <= hi do
    local mid = (lo + hi) // 2
    if cp < ranges[2 * mid - 1] then
      hi = mid - 1
    elseif cp > ranges[2 * mid] then
      lo = mid + 1
    else
      return true
    end
  end
  return false
end

local function is_word(cp)
  if cp < 0x80 then
    return (cp >= 48 and cp <= 57) or (cp >= 65 and cp <= 90) or (cp >= 97 and cp <= 122)
           or cp == 95
  end
  return in_ranges(WORD_RANGES, cp)
end

-- Case_Ignorable and Cased as str.lower() sees them for a capital sigma;
-- only word characters and "_" ever reach these (no ASCII one is ignorable).
local function is_ignorable(cp)
  return cp >= 0x80 and in_ranges(IGNORABLE_RANGES, cp)
end

local function is_cased(cp)
  if cp < 0x80 then return (cp >= 65 and cp <= 90) or (cp >= 97 and cp <= 122) end
  return in_ranges(CASED_RANGES, cp)
end

local lower_map                                     -- cp -> lowercase cp, built once
local function lower_of(cp)
  if cp < 0x80 then return (cp >= 65 and cp <= 90) and cp + 32 or cp end
  if not lower_map then
    lower_map = {}
    for i = 1, #LOWER_RUNS, 4 do
      local first, count, delta, step = table.unpack(LOWER_RUNS, i, i + 3)
      for k = 0, count - 1 do
        local c = first + k * step
        lower_map[c] = c + delta
      end
    end
  end
  return lower_map[cp] or cp
end

-- The code points of s; a byte that is not part of valid UTF-8 becomes -1,
-- which no table contains (Python would see a lone surrogate: not \w).
local function code_points(s)
  local cps, i, n = {}, 1, #s
  while i <= n do
    local b = s:byte(i)
    local len = b < 0x80 and 1 or b >= 0xF0 and 4 or b >= 0xE0 and 3 or b >= 0xC0 and 2 or 1
    local seq = s:sub(i, i + len - 1)
    if len > 1 and #seq == len and utf8.len(seq) == 1 then
      cps[#cps + 1] = utf8.codepoint(seq)
      i = i + len
    else
      cps[#cps + 1] = b < 0x80 and b or -1
      i = i + 1
    end
  end
  return cps
end

-- str.lower() of a list of code points, final sigma included
-- (CPython's handle_capital_sigma).
local function lower_code_points(cps)
  local out, n = {}, #cps
  for i, cp in ipairs(cps) do
    if cp == 0x3A3 then
      local j = i - 1
      while j >= 1 and is_ignorable(cps[j]) do j = j - 1 end
      local final = j >= 1 and is_cased(cps[j])
      if final and i < n then
        j = i + 1
        while j <= n and is_ignorable(cps[j]) do j = j + 1 end
        final = j > n or not is_cased(cps[j])
      end
      out[#out + 1] = final and 0x3C2 or 0x3C3
    elseif cp == 0x130 then                           -- the one two-code-point lowercase
      out[#out + 1] = 0x69
      out[#out + 1] = 0x307
    else
      out[#out + 1] = lower_of(cp)
    end
  end
  return out
end

-- The file-name slug of a message, exactly as Alembic computes it; a
-- length of nil means 40, Alembic's default truncate_slug_length.
function M.slug(message, length)
  length = length == nil and 40 or length
  if math.type(length) ~= "integer" or length < 0 then
    error("truncate_slug_length must be a non-negative integer, not " .. tostring(length), 0)
  end
  local joined = {}
  local in_word = false
  for _, cp in ipairs(code_points(message or "")) do
    if is_word(cp) then
      if not in_word and #joined > 0 then joined[#joined + 1] = 95 end
      joined[#joined + 1] = cp
      in_word = true
    else
      in_word = false
    end
  end
  local slug = lower_code_points(joined)
  if #slug > length then
    local cut = length
    for i = length, 1, -1 do
      if slug[i] == 95 then cut = i - 1; break end
    end
    slug = {table.unpack(slug, 1, cut)}
    slug[#slug + 1] = 95
  end
  local parts = {}
  for i, cp in ipairs(slug) do parts[i] = utf8.char(cp) end
  return table.concat(parts)
end

return M
