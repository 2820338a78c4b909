-- luamig.lint.sql_reader -- the cursor luamig.lint.sql reads one statement's
-- tokens (sqltext.tokens) with: keywords, names as the database sees them,
-- parenthesised groups, the text as written. Every step moves forward or
-- stops at the statement's end.
--
--   parser(sql, toks, first, last, dialect) -> p over toks[first..last]
--   unjudged(why [, fields]) -> an "unjudged" descriptor
local sqltext = require "luamig.sqltext"

local R = {}

local upper, is = sqltext.upper, sqltext.is

-- PostgreSQL keeps the first 63 bytes of a name (NAMEDATALEN - 1), whole
-- characters only.
local function truncate63(s)
  if #s <= 63 then return s end
  local n = 63
  while n > 0 and (s:byte(n + 1) or 0) >= 0x80 and s:byte(n + 1) < 0xC0 do n = n - 1 end
  return s:sub(1, n)
end

-- A parser over toks[first..last] of one statement.
local P = {}
P.__index = P

local function parser(sql, toks, first, last, dialect)
  return setmetatable({sql = sql, toks = toks, i = first, first = first, last = last, dialect = dialect}, P)
end

function P:tok(k) local j = self.i + (k or 0); return j <= self.last and self.toks[j] or nil end
function P:up(k) return upper(self:tok(k)) end
function P:done() return self.i > self.last end
-- Consume the words given when they come next, in order; true when they did.
function P:kw(...)
  local words = {...}
  for k, w in ipairs(words) do
    if self:up(k - 1) ~= w then return false end
  end
  self.i = self.i + #words
  return true
end
function P:punct(p)
  if is(self:tok(), p) then self.i = self.i + 1; return true end
  return false
end
-- The text of toks[a..b] as written.
function P:text(a, b) return sqltext.text(self.sql, self.toks, a, math.min(b, self.last)) end

-- One name as the database sees it: a quoted identifier as written, a bare
-- word folded to lower case on PostgreSQL; nil when the token is no name.
function P:ident(t)
  if not t then return nil end
  local v
  if t.k == "ident" then v = t.v
  elseif t.k == "word" then v = self.dialect == "postgresql" and t.v:lower() or t.v
  else return nil end
  if self.dialect == "postgresql" then v = truncate63(v) end
  return v
end

-- A possibly qualified name: name, schema (nil when unqualified). Takes
-- the last two parts of a.b.c (database.schema.table).
function P:name()
  local n = self:ident(self:tok())
  if not n then return nil end
  self.i = self.i + 1
  local schema
  while is(self:tok(), ".") and self:ident(self:tok(1)) do
    schema, n = n, self:ident(self:tok(1))
    self.i = self.i + 2
  end
  return n, schema
end

-- Skip a parenthesised group starting here; true when there was one.
function P:group()
  if not is(self:tok(), "(") then return false end
  self.i = math.min(sqltext.close_paren(self.toks, self.i), self.last) + 1
  return true
end

-- The index of the first token from here at parenthesis depth 0 for which
-- stop(upper word, token, parser at that index) holds, else last + 1.
function P:find(stop)
  local depth = 0
  for j = self.i, self.last do
    local t = self.toks[j]
    if is(t, "(") or is(t, "[") then depth = depth + 1
    elseif is(t, ")") or is(t, "]") then depth = depth - 1
    elseif depth <= 0 and stop(upper(t), t, j) then return j end
  end
  return self.last + 1
end

-- A parenthesised list of names from here, as a list (a piece that is no
-- plain name, e.g. an expression, as written); nil when no "(" is here.
function P:cols()
  local s = self.i
  if not self:group() then return nil end
  local list = {}
  for _, part in ipairs(sqltext.split(self.toks, s + 1, self.i - 2)) do
    list[#list + 1] = part[1] == part[2] and self:ident(self.toks[part[1]]) or self:text(part[1], part[2])
  end
  return list
end

local function unjudged(why, extra)
  local d = {op = "unjudged", why = why}
  for k, v in pairs(extra or {}) do d[k] = v end
  return d
end

R.parser, R.unjudged = parser, unjudged
return R
