-- luamig.introspect.pg_index_collate -- the COLLATE of each key element of a
-- PostgreSQL index, as pg_get_indexdef(oid, 0, true) writes it.
--
-- For an expression the catalog's indcollation cannot be compared with
-- anything from SQL: PostgreSQL writes COLLATE after an element only where
-- the index's collation differs from the expression's own (lower(name) over
-- a column COLLATE "C" is collated "C" with no COLLATE written), and
-- pg_get_indexdef(oid, k, true) leaves the COLLATE out. So the whole
-- definition is read element by element: each element's text (as the
-- per-element call gives it, or in the parentheses the whole definition
-- adds around an expression) and what follows it up to the next top-level
-- comma.
local M = {}

-- The position after the quoted text starting at i (q the quote), or nil.
local function skip_quoted(s, i, q)
  local j = i + 1
  while j <= #s do
    local c = s:sub(j, j)
    if c == q then
      if s:sub(j + 1, j + 1) ~= q then return j + 1 end
      j = j + 2
    else
      j = j + 1
    end
  end
end

-- The position of the next top-level "," or ")" from i (the element's end).
local function element_end(s, i)
  local depth = 0
  while i <= #s do
    local c = s:sub(i, i)
    if c == "'" or c == '"' then
      i = skip_quoted(s, i, c)
      if not i then return nil end
    else
      if c == "(" then depth = depth + 1
      elseif c == ")" then
        if depth == 0 then return i end
        depth = depth - 1
      elseif c == "," and depth == 0 then return i end
      i = i + 1
    end
  end
end

-- A collation name as written: "C" -> C, "a""b" -> a"b; a qualified or
-- otherwise written name as it is.
local function unquote(name)
  local inner = name:match('^"(.*)"$')
  if inner and not inner:gsub('""', ""):find('"', 1, true) then return (inner:gsub('""', '"')) end
  return name
end

-- def: pg_get_indexdef(oid, 0, true); elements: the texts of the key
-- elements in order (pg_get_indexdef(oid, k, true)). Returns {[k] =
-- collation} for the elements whose COLLATE is written, or nil when the
-- definition does not read as expected (the caller keeps the catalog's).
function M.read(def, elements)
  local p = def:find(" USING [%w_]+ %(")
  if not p then return nil end
  p = def:find("(", p, true) + 1
  local out = {}
  for k, el in ipairs(elements) do
    local after
    if def:sub(p, p + #el - 1) == el then
      after = p + #el
    elseif def:sub(p, p) == "(" and def:sub(p + 1, p + #el) == el and def:sub(p + #el + 1, p + #el + 1) == ")" then
      after = p + #el + 2
    else
      return nil
    end
    local stop = element_end(def, after)
    if not stop then return nil end
    local rest = def:sub(after, stop - 1)
    local name
    local from = #" COLLATE " + 1
    if rest:sub(1, from - 1) == " COLLATE " then
      if rest:sub(from, from) == '"' then                   -- a quoted name may hold "" and spaces
        local e = skip_quoted(rest, from, '"')
        if not e then return nil end
        name = rest:sub(from, e - 1)
        if rest:sub(e, e) == "." then name = nil end        -- schema-qualified: as written
      end
      name = name or rest:match("^(%S+)", from)
    end
    if name then out[k] = unquote(name) end
    p = stop + 2                                            -- ", "
  end
  return out
end

return M
