-- luamig.dialect.index_sql -- the text of CREATE INDEX per dialect: index
-- elements (a column, or an expression, with its collation, operator
-- class, order and NULLS placement), USING, INCLUDE, NULLS NOT DISTINCT,
-- WITH (storage parameters) and WHERE; and the reading of an op.raw index
-- element into those parts, which the op model and introspection share.
local sqltext = require "luamig.sqltext"

local M = {}

local ordering = {ASC = true, DESC = true, NULLS = true, FIRST = true, LAST = true}
-- Words after which a trailing word is an operand, not an operator class
-- (`a IS NULL`, `a COLLATE C`), and trailing words that are never one.
local operator_words = {AND = true, OR = true, NOT = true, IS = true, LIKE = true, ILIKE = true,
  IN = true, BETWEEN = true, SIMILAR = true, TO = true, COLLATE = true, AS = true, DISTINCT = true,
  FROM = true, AT = true, ZONE = true, ESCAPE = true, SYMMETRIC = true, OPERATOR = true,
  THEN = true, ELSE = true, WHEN = true, CASE = true, END = true}
local never_opclass = {NULL = true, TRUE = true, FALSE = true, ISNULL = true, NOTNULL = true,
  END = true, UNKNOWN = true}

local function ends_operand(t)
  if t == nil then return false end
  if t.k == "ident" or t.k == "string" or t.k == "number" then return true end
  if t.k == "word" then return not operator_words[t.v:upper()] end
  return sqltext.is(t, ")")
end

-- A name that may be qualified: toks[n] and, before it, "schema ." parts.
-- Returns the index of its first token, or nil.
local function name_start(toks, n)
  if not toks[n] or (toks[n].k ~= "word" and toks[n].k ~= "ident") then return nil end
  local i = n
  while i >= 3 and sqltext.is(toks[i - 1], ".") and (toks[i - 2].k == "word" or toks[i - 2].k == "ident") do
    i = i - 2
  end
  return i
end

-- Read an index element's SQL: {head = the expression's text, simple =
-- whether it stands without parentheses (a column, a function call, or
-- already parenthesised), column = the column's name when head is one,
-- collate, opclass (texts as written), order ("asc"/"desc"), nulls
-- ("first"/"last")}. dialect: "postgresql" or "sqlite" (for the tokens).
function M.read_element(sql, dialect)
  local toks = sqltext.tokens(sql, dialect)
  local n = #toks
  local out = {}
  if n == 0 then return {head = sql, rest = "", simple = true} end
  -- several elements in one op.raw ('upper(a) ASC, b'): left as written
  if #sqltext.split(toks, 1, n) > 1 then return {head = sql, rest = "", simple = true} end
  -- NULLS FIRST | LAST, then ASC | DESC
  if n >= 3 and sqltext.upper(toks[n - 1]) == "NULLS" and (sqltext.upper(toks[n]) == "FIRST"
      or sqltext.upper(toks[n]) == "LAST") then
    out.nulls = toks[n].v:lower()
    n = n - 2
  end
  if n >= 2 and (sqltext.upper(toks[n]) == "ASC" or sqltext.upper(toks[n]) == "DESC") then
    out.order = toks[n].v:lower()
    n = n - 1
  end
  -- an operator class: a (qualified) word after a complete operand
  if toks[n] and toks[n].k == "word" and not ordering[toks[n].v:upper()]
      and not never_opclass[toks[n].v:upper()] then
    local i = name_start(toks, n)
    if i and i >= 2 and ends_operand(toks[i - 1]) and not (toks[i - 1].k == "word"
        and sqltext.upper(toks[i - 1]) == "COLLATE") then
      out.opclass = sqltext.text(sql, toks, i, n)
      n = i - 1
    end
  end
  -- COLLATE name
  local i = name_start(toks, n)
  if i and i >= 3 and sqltext.upper(toks[i - 1]) == "COLLATE" then
    out.collate = sqltext.text(sql, toks, i, n)
    n = i - 2
  end
  if n == 0 then return {head = sql, rest = "", simple = true} end   -- only keywords: left as written
  out.head = sqltext.text(sql, toks, 1, n)
  out.rest = sql:sub(toks[n].e + 1)
  local single = n == 1 and (toks[1].k == "word" or toks[1].k == "ident")
  local call = toks[1].k == "word" and sqltext.is(toks[2], "(") and sqltext.close_paren(toks, 2) == n
  local wrapped = sqltext.is(toks[1], "(") and sqltext.close_paren(toks, 1) == n
  out.simple = single or call or wrapped
  if single then out.column = toks[1].v end
  return out
end

-- One element: e is a column name or {expr = sql}; o its options
-- {collate, opclass, order, nulls} or nil.
local element
function element(d, e, o)
  o = o or {}
  local pg = d.name == "postgresql"
  local s
  if o.raw and (e == o.raw_of or (type(e) == "table" and e.expr == o.raw_of)) then
    return element(d, {expr = o.raw})                   -- an op.raw element, as written
  end
  if type(e) ~= "table" then
    s = d.ident(e)
  elseif not pg then
    s = e.expr                                  -- SQLite takes any expression as written
  else
    -- PostgreSQL takes an expression other than a column or a function
    -- call only in parentheses; its COLLATE, operator class, order and
    -- NULLS stay outside them
    local r = M.read_element(e.expr, "postgresql")
    s = r.simple and e.expr or ("(" .. r.head .. ")" .. r.rest)
  end
  -- an expression ending in a "--" comment would comment out what follows
  if type(e) == "table" and s:find("--", 1, true) then s = s .. "\n" end
  if o.collate then s = s .. " COLLATE " .. d.ident(o.collate) end
  if o.opclass and pg then s = s .. " " .. o.opclass end
  if o.order then s = s .. " " .. o.order:upper() end
  if o.nulls and pg then s = s .. " NULLS " .. o.nulls:upper() end
  return s
end
M.element = element

-- A storage parameter's value: a number or a word as written, anything
-- else a quoted literal.
local function param_value(d, v)
  if type(v) == "boolean" then return v and "true" or "false" end
  if math.type(v) == "integer" then return tostring(v) end
  if type(v) == "string" and (v:match("^[%a_][%w_]*$") or v:match("^%d+$")) then return v end
  return d.literal(v)
end

-- CREATE INDEX for the index model ix (luamig.op.index); opts:
-- {concurrently, if_not_exists}.
function M.create_index_sql(d, ix, opts)
  opts = opts or {}
  local pg = d.name == "postgresql"
  local cols = {}
  local co = ix.column_options or {}
  for i, e in ipairs(ix.columns) do cols[i] = element(d, e, co[i]) end
  local s = ("CREATE %sINDEX %s%s%s ON %s%s (%s)"):format(
    ix.unique and "UNIQUE " or "",
    (opts.concurrently and pg) and "CONCURRENTLY " or "",
    opts.if_not_exists and "IF NOT EXISTS " or "",
    d.ident(ix.name), d.ident(ix.table),
    (ix.using and pg) and (" USING " .. ix.using) or "",
    table.concat(cols, ", "))
  if pg then
    if ix.include and #ix.include > 0 then s = s .. " INCLUDE (" .. d.idents(ix.include) .. ")" end
    if ix.nulls_not_distinct then s = s .. " NULLS NOT DISTINCT" end
    if ix.with and next(ix.with) then
      local keys = {}
      for k in pairs(ix.with) do keys[#keys + 1] = k end
      table.sort(keys)
      for i, k in ipairs(keys) do keys[i] = k .. " = " .. param_value(d, ix.with[k]) end
      s = s .. " WITH (" .. table.concat(keys, ", ") .. ")"
    end
  end
  if ix.where then s = s .. " WHERE " .. ix.where end
  return s
end

return M
