-- luamig.lint.sql -- reads the raw SQL of op.execute only as far as the lint
-- needs: which statement it is, on which table, with which of the options
-- that decide its lock (CONCURRENTLY, NOT VALID, SET NOT NULL, a type
-- change, a default). Pure: no database, no error, no loop without end.
--
--   classify(sql, dialect) -> list of lint call descriptors (doc/safety.md,
--     "Raw SQL in op.execute"): one per statement, one per ALTER TABLE
--     action, one per name of a DROP TABLE / DROP INDEX / TRUNCATE, plus one
--     for a foreign key, check, unique or primary key written inline in an
--     ADD COLUMN. Each has op, table (and schema when the statement names
--     one), column, name, options (always a table), why (op "unjudged"),
--     note, offset (byte offset of its statement in sql, 0-based: the
--     statement starts at sql:sub(offset + 1)), line (its first line in sql,
--     1-based) and text (the statement, white space runs as one space,
--     first 80 bytes, whole characters).
--   dialect: "postgresql" (the default) or "sqlite": whose quoting, case
--     folding and statements apply.
local sqltext = require "luamig.sqltext"
local reader = require "luamig.lint.sql_reader"
local alter_table = require("luamig.lint.sql_alter").alter_table

local M = {}

local upper, is = sqltext.upper, sqltext.is
local parser, unjudged = reader.parser, reader.unjudged

local function create_index(p, out)
  local unique = p:kw("UNIQUE")
  if not p:kw("INDEX") then return nil end
  local conc = p.dialect == "postgresql" and p:kw("CONCURRENTLY")
  local ine = p:kw("IF", "NOT", "EXISTS")
  local name, ischema
  if p:up() ~= "ON" then
    name, ischema = p:name()
    if not name then return nil end
  end
  if not p:kw("ON") then return nil end
  p:kw("ONLY")
  local tbl, schema = p:name()
  if not tbl then return nil end
  -- SQLite names the schema on the index: CREATE INDEX main.ix ON t
  if p.dialect == "sqlite" then schema = schema or ischema end
  local opts = {unique = unique, postgresql_concurrently = conc or false, if_not_exists = ine or nil}
  if p:kw("USING") then opts.postgresql_using = p:ident(p:tok()); p.i = p.i + 1 end
  if not is(p:tok(), "(") then return nil end
  local s = p.i
  p:group()
  opts.columns = p:text(s + 1, p.i - 2)
  local w = p:find(function(u) return u == "WHERE" end)
  if w <= p.last then opts.where = p:text(w + 1, p.last) end
  out[#out + 1] = {op = "create_index", table = tbl, schema = schema, name = name, options = opts}
  return true
end

-- A comma-separated list of names from here: {name, schema} pairs.
local function names(p)
  local list = {}
  repeat
    local n, s = p:name()
    if not n then return nil end
    p:punct("*")
    list[#list + 1] = {n, s}
  until not p:punct(",")
  return list
end

local function drop(p, out)
  local what = p:up()
  if p:kw("TABLE") then
    local ie = p:kw("IF", "EXISTS")
    local list = names(p)
    if not list then return nil end
    local cascade = p:up() == "CASCADE" or nil
    for _, n in ipairs(list) do
      out[#out + 1] = {op = "drop_table", table = n[1], schema = n[2], options = {if_exists = ie or nil, cascade = cascade}}
    end
    return true
  elseif p:kw("INDEX") then
    local conc = p.dialect == "postgresql" and p:kw("CONCURRENTLY")
    local ie = p:kw("IF", "EXISTS")
    local list = names(p)
    if not list then return nil end
    for _, n in ipairs(list) do
      out[#out + 1] = {op = "drop_index", name = n[1], schema = n[2],
        options = {postgresql_concurrently = conc or false, if_exists = ie or nil}}
    end
    return true
  elseif p:kw("EXTENSION") then
    p:kw("IF", "EXISTS")
    local list = names(p)
    if not list then return nil end
    for _, n in ipairs(list) do out[#out + 1] = {op = "drop_extension", name = n[1]} end
    return true
  elseif p:kw("TYPE") then
    p:kw("IF", "EXISTS")
    local list = names(p)
    if not list then return nil end
    for _, n in ipairs(list) do out[#out + 1] = {op = "drop_enum", name = n[1], schema = n[2]} end
    return true
  end
  out[#out + 1] = unjudged(("DROP %s is not read by the classifier"):format(what or "?"))
  return true
end

local function create_table(p, out)
  local ine = p:kw("IF", "NOT", "EXISTS")
  local tbl, schema = p:name()
  if not tbl then return nil end
  local opts = {if_not_exists = ine or nil}
  if p:up() == "AS" or p:up() == "PARTITION" and p:up(1) == "OF" then
    opts.as_select = p:up() == "AS" or nil
    opts.partition_of = p:up() == "PARTITION" or nil
  elseif not is(p:tok(), "(") then
    -- CREATE TABLE t (cols) AS ... is PostgreSQL's too; anything else is not a table
    if p:up() ~= "OF" then return nil end
  else
    local s = p.i
    p:group()
    if p:up() == "AS" then opts.as_select = true end
    opts.columns = p:text(s + 1, p.i - 2)
  end
  out[#out + 1] = {op = "create_table", table = tbl, schema = schema, options = opts}
  return true
end

-- WITH [RECURSIVE] name [(cols)] AS [[NOT] MATERIALIZED] (...) [, ...]
local function skip_with(p)
  if not p:kw("WITH") then return true end
  p:kw("RECURSIVE")
  repeat
    if not p:name() then return false end
    p:group()
    if not p:kw("AS") then return false end
    p:kw("NOT"); p:kw("MATERIALIZED")
    if not p:group() then return false end
  until not p:punct(",")
  return true
end

-- An UPDATE or DELETE with no WHERE in the rest of its statement touches
-- every row: noted, with note's format naming the table.
local function every_row(p, d, note)
  if p:find(function(x) return x == "WHERE" end) > p.last then
    d.options.all_rows = true
    d.note = note:format(d.table)
  end
end

local function dml(p, out)
  if not skip_with(p) then return nil end
  local u = p:up()
  local d = {op = "dml", options = {statement = u}}
  if u == "INSERT" or u == "REPLACE" then
    p.i = p.i + 1
    if p:kw("OR") then p.i = p.i + 1 end                  -- SQLite's INSERT OR REPLACE
    if not p:kw("INTO") then return nil end
    d.table, d.schema = p:name()
    if not d.table then return nil end
  elseif u == "UPDATE" then
    p.i = p.i + 1
    if p:kw("OR") then p.i = p.i + 1 end
    p:kw("ONLY")
    d.table, d.schema = p:name()
    if not d.table then return nil end
    every_row(p, d, "UPDATE without WHERE: changes every row of %s")
  elseif u == "DELETE" then
    p.i = p.i + 1
    if not p:kw("FROM") then return nil end
    p:kw("ONLY")
    d.table, d.schema = p:name()
    if not d.table then return nil end
    every_row(p, d, "DELETE without WHERE: removes every row of %s")
  elseif u == "MERGE" then
    p.i = p.i + 1
    if not p:kw("INTO") then return nil end
    p:kw("ONLY")
    d.table, d.schema = p:name()
    if not d.table then return nil end
  elseif u == "SELECT" or u == "VALUES" or u == "TABLE" or is(p:tok(), "(") then
    -- SELECT ... INTO t: a new table (PostgreSQL)
    local into = p:find(function(x) return x == "INTO" end)
    if into <= p.last and p.dialect == "postgresql" then
      local q = parser(p.sql, p.toks, into + 1, p.last, p.dialect)
      while q:kw("TEMPORARY") or q:kw("TEMP") or q:kw("UNLOGGED") or q:kw("TABLE") do end
      local tbl, schema = q:name()
      if not tbl then return nil end
      out[#out + 1] = {op = "create_table", table = tbl, schema = schema, options = {as_select = true}}
      return true
    end
    d.options.statement = "SELECT"
    d.note = "a SELECT changes nothing, unless a function it calls does"
  else
    return nil
  end
  out[#out + 1] = d
  return true
end

-- LOCK [TABLE] [ONLY] a [*], ... [IN mode MODE] [NOWAIT]
local function lock(p, out)
  p:kw("TABLE")
  p:kw("ONLY")
  local list = names(p)
  if not list then return nil end
  local mode = "ACCESS EXCLUSIVE"
  if p:kw("IN") then
    local s = p.i
    local e = p:find(function(w) return w == "MODE" end)
    if e > p.last or e == s then return nil end
    mode = p:text(s, e - 1):upper():gsub("%s+", " ")
  end
  for _, n in ipairs(list) do
    out[#out + 1] = {op = "lock_table", table = n[1], schema = n[2], options = {mode = mode}}
  end
  return true
end

local function truncate(p, out)
  p:kw("TABLE")
  p:kw("ONLY")
  local list = names(p)
  if not list then return nil end
  for _, n in ipairs(list) do
    out[#out + 1] = {op = "dml", table = n[1], schema = n[2], options = {statement = "TRUNCATE", all_rows = true},
      note = ("TRUNCATE removes every row of %s, under ACCESS EXCLUSIVE"):format(n[1])}
  end
  return true
end

local function copy(p, out)
  if is(p:tok(), "(") then
    p:group()
    out[#out + 1] = {op = "dml", options = {statement = "COPY", direction = p:up()}}
    return true
  end
  local tbl, schema = p:name()
  if not tbl then return nil end
  p:group()
  local dir = p:up()
  if dir ~= "FROM" and dir ~= "TO" then return nil end
  out[#out + 1] = {op = "dml", table = tbl, schema = schema, options = {statement = "COPY", direction = dir}}
  return true
end

local function set(p, out, first)
  local opts = {}
  if first == "RESET" then
    opts.reset = true
    opts.name = p:done() and nil or p:text(p.i, p.last):lower()
  elseif first == "PRAGMA" then
    local n = p:name()
    if not n then return nil end
    opts.name = n:lower()
    if p:punct("=") then opts.value = p:text(p.i, p.last)
    elseif is(p:tok(), "(") then opts.value = p:text(p.i + 1, p.last - 1) end
  else
    if p:kw("LOCAL") then opts["local"] = true else p:kw("SESSION") end
    if p:kw("TIME", "ZONE") then
      opts.name, opts.value = "timezone", p:text(p.i, p.last)
    else
      local s = p.i
      local e = p:find(function(u, t) return u == "TO" or is(t, "=") end)
      if e > p.last then
        -- SET CONSTRAINTS ..., SET TRANSACTION ..., SET ROLE x, SET SESSION AUTHORIZATION x
        local w = p:up()
        if not w then return nil end
        opts.name = w:lower()
        opts.value = p:text(p.i + 1, p.last)
      else
        opts.name = p:text(s, e - 1):lower()
        opts.value = p:text(e + 1, p.last)
      end
    end
  end
  out[#out + 1] = {op = "set", options = opts}
  return true
end

local TRANSACTION = {BEGIN = "BEGIN", START = "BEGIN", COMMIT = "COMMIT", END = "COMMIT", ROLLBACK = "ROLLBACK",
  ABORT = "ROLLBACK", SAVEPOINT = "SAVEPOINT", RELEASE = "RELEASE", PREPARE = "PREPARE TRANSACTION"}

local function create(p, out)
  p:kw("OR", "REPLACE")
  local u = p:up()
  if u == "UNIQUE" or u == "INDEX" then return create_index(p, out) end
  while p:kw("GLOBAL") or p:kw("LOCAL") or p:kw("TEMPORARY") or p:kw("TEMP") or p:kw("UNLOGGED") do end
  if p:kw("TABLE") then return create_table(p, out) end
  if p:kw("TYPE") then
    local n, s = p:name()
    if not n then return nil end
    local enum = p:kw("AS", "ENUM")
    out[#out + 1] = {op = enum and "create_enum" or "create_type", name = n, schema = s}
    return true
  end
  if p:kw("EXTENSION") then
    local ine = p:kw("IF", "NOT", "EXISTS")
    local n = p:ident(p:tok())
    if not n then return nil end
    out[#out + 1] = {op = "create_extension", name = n, options = {if_not_exists = ine or nil}}
    return true
  end
  if p:kw("FUNCTION") or p:kw("PROCEDURE") then
    out[#out + 1] = unjudged(("CREATE %s: its body runs when it is called, and the classifier does not read it")
      :format(p:up(-1)))
    return true
  end
  out[#out + 1] = unjudged(("CREATE %s is not read by the classifier"):format(p:up() or p:text(p.i, p.i)))
  return true
end

local function statement(p, out)
  for j = p.first, p.last - 1 do
    local t, n = p.toks[j], p.toks[j + 1]
    if upper(t) == "U" and is(n, "&") and n.s == t.e + 1 then
      out[#out + 1] = unjudged("U&'...' / U&\"...\" Unicode escapes are not read by the classifier")
      return true
    end
  end
  local u = p:up()
  if u == "EXPLAIN" then
    -- EXPLAIN ANALYZE runs the statement; plain EXPLAIN does not
    out[#out + 1] = unjudged("EXPLAIN is not read by the classifier")
    return true
  end
  p.i = p.i + 1
  if u == "CREATE" then return create(p, out)
  elseif u == "ALTER" then
    if p:kw("TABLE") then return alter_table(p, out) end
    if p:kw("TYPE") then
      local n, s = p:name()
      if not n then return nil end
      if p:kw("ADD", "VALUE") then
        local ine = p:kw("IF", "NOT", "EXISTS")
        local t = p:tok()
        if not t or t.k ~= "string" then return nil end
        p.i = p.i + 1
        local opts = {value = t.v, if_not_exists = ine or nil}
        if p:kw("BEFORE") then opts.before = p:tok() and p:tok().v
        elseif p:kw("AFTER") then opts.after = p:tok() and p:tok().v end
        out[#out + 1] = {op = "add_enum_value", name = n, schema = s, options = opts}
        return true
      elseif p:kw("RENAME", "VALUE") then
        local a, b = p:tok(), p:tok(2)
        out[#out + 1] = {op = "rename_enum_value", name = n, schema = s,
          options = {old = a and a.v, new = b and b.v}}
        return true
      end
      out[#out + 1] = unjudged("ALTER TYPE ... " .. (p:up() or "?") .. " is not read by the classifier",
        {name = n, schema = s})
      return true
    end
    out[#out + 1] = unjudged(("ALTER %s is not read by the classifier"):format(p:up() or "?"))
    return true
  elseif u == "LOCK" then return lock(p, out)
  elseif u == "DROP" then return drop(p, out)
  elseif u == "TRUNCATE" then return truncate(p, out)
  elseif u == "COPY" then return copy(p, out)
  elseif u == "SET" or u == "RESET" or (u == "PRAGMA" and p.dialect == "sqlite") then return set(p, out, u)
  elseif u == "DO" then
    out[#out + 1] = unjudged("a DO block: the classifier cannot see inside its body")
    return true
  elseif u == "CALL" then
    out[#out + 1] = unjudged("CALL runs a procedure whose body the classifier does not read")
    return true
  elseif TRANSACTION[u] and (u ~= "PREPARE" or p:up() == "TRANSACTION") then
    out[#out + 1] = {op = "transaction", options = {statement = TRANSACTION[u]}}
    return true
  elseif u == "INSERT" or u == "UPDATE" or u == "DELETE" or u == "MERGE" or u == "WITH" or u == "SELECT"
      or u == "VALUES" or u == "TABLE" or (u == "REPLACE" and p.dialect == "sqlite") or is(p:tok(-1), "(") then
    p.i = p.i - 1
    return dml(p, out)
  end
  return nil
end

-- The statements of toks: {first, last} index pairs, split at ";" except
-- inside parentheses (CREATE RULE ... DO (a; b)), BEGIN ATOMIC ... END (a
-- PostgreSQL SQL-standard function body) and CREATE TRIGGER ... BEGIN ...
-- END (SQLite).
local function statements(toks)
  local list, start = {}, 1
  local block, depth, head, parens = false, 0, nil, 0
  for j = 1, #toks do
    local t = toks[j]
    local u = upper(t)
    if j == start then head = u end
    if is(t, "(") then parens = parens + 1
    elseif is(t, ")") then parens = math.max(parens - 1, 0) end
    if block then
      if u == "CASE" or u == "BEGIN" then depth = depth + 1
      elseif u == "END" then
        depth = depth - 1
        if depth == 0 then block = false end
      end
    elseif head == "CREATE" and u == "BEGIN" then
      local w1, w2 = upper(toks[start + 1]), upper(toks[start + 2])
      local trigger = w1 == "TRIGGER" or ((w1 == "TEMP" or w1 == "TEMPORARY") and w2 == "TRIGGER")
      if upper(toks[j + 1]) == "ATOMIC" or trigger then block, depth = true, 1 end
    end
    if not block and parens == 0 and is(t, ";") then
      if j > start then list[#list + 1] = {start, j - 1} end
      start = j + 1
    end
  end
  if start <= #toks then list[#list + 1] = {start, #toks} end
  return list
end

local function text80(s)
  s = s:gsub("%s+", " ")
  if #s > 80 then
    local n = 80
    while n > 0 and (s:byte(n + 1) or 0) >= 0x80 and s:byte(n + 1) < 0xC0 do n = n - 1 end
    s = s:sub(1, n)
  end
  return s
end

-- line_of(i): the line (1 for the first) of byte i of sql; linear over
-- calls with i rising.
local function lines(sql)
  local pos, line = 1, 1
  return function(i)
    if i < pos then pos, line = 1, 1 end
    local _, n = sql:sub(pos, i - 1):gsub("\n", "")
    pos, line = i, line + n
    return line
  end
end

local function classify(sql, dialect)
  local toks = sqltext.tokens(sql, dialect)
  local out = {}
  local line_of = lines(sql)
  local open = toks.unterminated
  if open then
    -- PostgreSQL reads the whole string before it runs any of it: one
    -- unclosed quote or comment and nothing runs
    local first = 1
    for _, st in ipairs(statements(toks)) do
      if toks[st[1]].s <= open.s then first = toks[st[1]].s end
    end
    return {{op = "unjudged", offset = first - 1, line = line_of(first), text = text80(sql:sub(first)), options = {},
      why = ("unterminated %s starting at byte %d: the classifier reads nothing of this SQL"):format(open.what, open.s - 1)}}
  end
  local list = statements(toks)
  for _, st in ipairs(list) do
    local p = parser(sql, toks, st[1], st[2], dialect)
    local before = #out
    local ok, res = pcall(statement, p, out)
    if not ok or not res then
      for k = #out, before + 1, -1 do out[k] = nil end
      local first = upper(toks[st[1]]) or sqltext.text(sql, toks, st[1], st[1])
      out[#out + 1] = unjudged(ok and ("could not read this %s statement: not one of the forms the classifier "
        .. "knows (doc/safety.md), or not valid %s"):format(first:sub(1, 30), dialect == "sqlite" and "SQLite" or "PostgreSQL")
        or ("the classifier failed on this statement: " .. tostring(res)))
    end
    local offset, text = toks[st[1]].s - 1, text80(sqltext.text(sql, toks, st[1], st[2]))
    local line = line_of(toks[st[1]].s)
    for k = before + 1, #out do
      out[k].offset, out[k].line, out[k].text = offset, line, text
      out[k].stmt = sqltext.text(sql, toks, st[1], st[2])   -- the whole statement (safe forms, H3)
      out[k].statements = #list
      out[k].options = out[k].options or {}
      -- PostgreSQL runs the statements of one text as one transaction
      if #list > 1 and out[k].options.postgresql_concurrently then
        out[k].options.statements = #list
        out[k].note = ("CONCURRENTLY in a text of %d statements: PostgreSQL runs them as one transaction, "
          .. "and refuses it there; give it an op.execute of its own"):format(#list)
      end
    end
  end
  return out
end

function M.classify(sql, dialect)
  dialect = dialect == "sqlite" and "sqlite" or "postgresql"
  if type(sql) ~= "string" then
    return {{op = "unjudged", offset = 0, line = 1, text = "", options = {}, why = "the SQL is not a string"}}
  end
  local ok, res = pcall(classify, sql, dialect)
  if ok then return res end
  return {{op = "unjudged", offset = 0, line = 1, text = text80(sql), options = {},
    why = "the classifier failed: " .. tostring(res)}}
end

return M
