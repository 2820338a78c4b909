-- luamig.sqltext -- a small SQL tokenizer for what the op API must read
-- back: SQLite's stored CREATE TABLE / CREATE INDEX text (constraint names,
-- check conditions, index expressions), and $N placeholders to inline as
-- literals in offline (--sql) output.
--
--   sqltext.tokens(sql [, dialect]) -> { {k = kind, v = value, s = first, e = last}, ... }
--     kinds: "word" (bare word, v as written), "ident" (quoted identifier,
--     v unquoted), "string" (v unquoted), "number", "param" (v = N of $N),
--     "punct" (one character). Comments and white space are skipped.
--     A string, quoted identifier or block comment that never closes runs
--     to the end of sql, and the list says so: toks.unterminated =
--     {what = "string"|"quoted identifier"|"dollar-quoted string"|
--     "comment", s = first byte} (the first such; nil when all close).
--   sqltext.inline(sql, params, literal [, dialect]) -> sql with each $N
--     replaced by literal(params[N]), parenthesised where the literal
--     would otherwise merge with the text next to it; quotes,
--     comments and dollar-quoted strings untouched. literal must return a
--     self-contained piece of SQL (a negative number parenthesised).
--
-- dialect says whose lexical rules apply, since they differ where a $N may
-- hide: "sqlite" reads [...] and `...` as quoted identifiers; "postgresql"
-- reads them as punctuation (data[$1], ARRAY[$1] bind $1), and has E'...'
-- escape strings, dollar-quoted strings ($$...$$, $tag$...$tag$) and nested
-- block comments. SQLite also binds ?N and a bare ?, which takes the index
-- one past the highest assigned so far (a $N counts one when first seen),
-- as sqlite3_bind_parameter_index numbers them and the driver binds them.
-- Without a dialect both sets apply but ? (SQL that only has to be read,
-- never inlined for a database).
local M = {}

local rules = {
  sqlite = {brackets = true, backticks = true, question_params = true},
  postgresql = {escape_strings = true, dollar_quotes = true, nested_comments = true},
  any = {brackets = true, backticks = true, escape_strings = true, dollar_quotes = true},
}

-- The end of the block comment opening at i (its last character), nested
-- ones included when nested is set.
local function comment_end(sql, i, nested)
  local depth, j = 1, i + 2
  while true do
    local close = sql:find("*/", j, true)
    if not close then return #sql, true end
    local open = nested and sql:find("/*", j, true)
    if open and open < close then
      depth, j = depth + 1, open + 2
    else
      depth, j = depth - 1, close + 2
      if depth == 0 then return close + 1 end
    end
  end
end

local function find_close(sql, i, q)
  -- i is just after the opening quote q; doubled quotes are escapes
  while true do
    local j = sql:find(q, i, true)
    if not j then return nil end
    if sql:sub(j + 1, j + 1) == q then i = j + 2 else return j end
  end
end

function M.tokens(sql, dialect)
  local r = rules[dialect or "any"] or rules.any
  local toks, i, n = {}, 1, #sql
  local function add(k, v, s, e) toks[#toks + 1] = {k = k, v = v, s = s, e = e} end
  local function unclosed(what, s) toks.unterminated = toks.unterminated or {what = what, s = s} end
  local highest, named = 0, {}                        -- SQLite's parameter indexes
  local function index_named(name)
    if not named[name] then named[name], highest = true, highest + 1 end
  end
  while i <= n do
    local c = sql:sub(i, i)
    if c:match("%s") then
      i = i + 1
    elseif c == "-" and sql:sub(i + 1, i + 1) == "-" then
      local j = sql:find("\n", i, true)
      i = j and j + 1 or n + 1
    elseif c == "/" and sql:sub(i + 1, i + 1) == "*" then
      local e, open_end = comment_end(sql, i, r.nested_comments)
      if open_end then unclosed("comment", i) end
      i = e + 1
    elseif c == '"' or (c == "`" and r.backticks) then
      local j = find_close(sql, i + 1, c)
      if not j then j = n; unclosed("quoted identifier", i) end
      add("ident", sql:sub(i + 1, j - 1):gsub(c .. c, c), i, j)
      i = j + 1
    elseif c == "[" and r.brackets then
      local j = sql:find("]", i + 1, true)
      if not j then j = n; unclosed("quoted identifier", i) end
      add("ident", sql:sub(i + 1, j - 1), i, j)
      i = j + 1
    elseif c == "'" then
      local j = find_close(sql, i + 1, "'")
      if not j then j = n; unclosed("string", i) end
      add("string", sql:sub(i + 1, j - 1):gsub("''", "'"), i, j)
      i = j + 1
    elseif (c == "E" or c == "e") and r.escape_strings and sql:sub(i + 1, i + 1) == "'" then
      -- PostgreSQL escape string: backslash escapes, '' too
      local j = i + 2
      while j <= n do
        local cj = sql:sub(j, j)
        if cj == "\\" then j = j + 2
        elseif cj == "'" then
          if sql:sub(j + 1, j + 1) == "'" then j = j + 2 else break end
        else j = j + 1 end
      end
      if j > n then unclosed("string", i) end
      add("string", sql:sub(i + 2, j - 1), i, j)
      i = j + 1
    elseif c == "$" then
      local digits = sql:match("^%d+", i + 1)
      local tag = not digits and r.dollar_quotes
        and (sql:match("^[%a_\128-\255][%w_\128-\255]*%$", i + 1) or (sql:sub(i + 1, i + 1) == "$" and "$"))
      if digits then
        add("param", tonumber(digits), i, i + #digits)
        index_named("$" .. tonumber(digits))
        i = i + #digits + 1
      elseif tag then
        local open = "$" .. tag
        local j = sql:find(open, i + #open, true)
        local e = j and (j + #open - 1) or n
        if not j then unclosed("dollar-quoted string", i) end
        add("string", sql:sub(i + #open, (j or n + 1) - 1), i, e)
        i = e + 1
      else
        add("punct", c, i, i)
        i = i + 1
      end
    elseif c == "?" and r.question_params then
      local digits = sql:match("^%d+", i + 1)
      if digits then
        local v = tonumber(digits)
        named["?" .. v], highest = true, math.max(highest, v)
        add("param", v, i, i + #digits)
      else
        highest = highest + 1
        add("param", highest, i, i)
      end
      i = i + (digits and #digits or 0) + 1
    elseif c:match("[%a_\128-\255]") then
      local j = i
      while j + 1 <= n and sql:sub(j + 1, j + 1):match("[%w_$\128-\255]") do j = j + 1 end
      add("word", sql:sub(i, j), i, j)
      i = j + 1
    elseif c:match("%d") or (c == "." and sql:sub(i + 1, i + 1):match("%d")) then
      local s, e = sql:find("^[%d.]+[eE][+-]?%d+", i)
      if not s then s, e = sql:find("^[%w.]+", i) end
      add("number", sql:sub(s, e), s, e)
      i = e + 1
    else
      add("punct", c, i, i)
      i = i + 1
    end
  end
  return toks
end

-- A character that would join a literal written next to it into one token:
-- a quote ('x' 'R' is two strings, 'x''R' one), a letter or digit (x'41' is
-- a blob, E'..' an escape string, 5e5 one number), "$", "." and the
-- identifier quotes.
local JOINS = "[%w_$.'\"`\128-\255]"

-- How many values a parameter list holds, as the binding counts them
-- (params.n, else the largest integer key: nil holes count).
local function count(params)
  if type(params.n) == "number" then return params.n end
  local n = 0
  for k in pairs(params) do
    if math.type(k) == "integer" and k > n then n = k end
  end
  return n
end

function M.inline(sql, params, literal, dialect)
  local out, pos, n = {}, 1, count(params)
  for _, t in ipairs(M.tokens(sql, dialect)) do
    if t.k == "param" then
      if t.v < 1 then                                 -- as the online binding refuses them
        error(("unsupported placeholder '%s': use $1, $2, ..."):format(sql:sub(t.s, t.e)), 0)
      elseif t.v > n then
        error(("the statement uses $%d but %d value%s given"):format(t.v, n, n == 1 and " was" or "s were"), 0)
      end
      out[#out + 1] = sql:sub(pos, t.s - 1)
      -- parenthesised where it touches text it could merge with, so the
      -- statement reads as the online one does (or fails as it does): a
      -- space would not do, SQLite reads 'x' 'R' as a value and its alias
      local lit = literal(params[t.v], t.v)
      if (sql:sub(t.s - 1, t.s - 1):match(JOINS) and lit:sub(1, 1):match(JOINS))
         or (sql:sub(t.e + 1, t.e + 1):match(JOINS) and lit:sub(-1):match(JOINS)) then
        lit = "(" .. lit .. ")"
      end
      out[#out + 1] = lit
      pos = t.e + 1
    end
  end
  out[#out + 1] = sql:sub(pos)
  return table.concat(out)
end

-- Helpers for reading token lists.
function M.upper(t) return t and t.k == "word" and t.v:upper() or nil end
function M.is(t, p) return t ~= nil and t.k == "punct" and t.v == p end

-- The index of the ")" that closes the "(" at toks[i].
function M.close_paren(toks, i)
  local depth = 0
  for j = i, #toks do
    if M.is(toks[j], "(") then depth = depth + 1
    elseif M.is(toks[j], ")") then
      depth = depth - 1
      if depth == 0 then return j end
    end
  end
  return #toks
end

-- Split toks[first..last] at commas outside parentheses: a list of {first, last}.
function M.split(toks, first, last)
  local parts, depth, start = {}, 0, first
  for j = first, last do
    local t = toks[j]
    if M.is(t, "(") then depth = depth + 1
    elseif M.is(t, ")") then depth = depth - 1
    elseif M.is(t, ",") and depth == 0 then
      parts[#parts + 1] = {start, j - 1}
      start = j + 1
    end
  end
  if start <= last then parts[#parts + 1] = {start, last} end
  return parts
end

-- The source text of toks[first..last].
function M.text(sql, toks, first, last)
  if first > last then return "" end
  return sql:sub(toks[first].s, toks[last].e)
end

return M
