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

local M = {}

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

-- Descriptor helpers -----------------------------------------------------

local function unjudged(why, extra)
  local d = {op = "unjudged", why = why}
  for k, v in pairs(extra or {}) do d[k] = v end
  return d
end

-- Column-definition keywords that end a type or a default expression.
local COLSTOP = {CONSTRAINT = true, NOT = true, NULL = true, DEFAULT = true, CHECK = true,
  UNIQUE = true, PRIMARY = true, REFERENCES = true, COLLATE = true, GENERATED = true,
  COMPRESSION = true, DEFERRABLE = true, INITIALLY = true, AS = true}

-- ADD [COLUMN] c type constraints..., from the column name on: the
-- add_column descriptor and one per inline constraint.
local function column_def(p, tbl, schema, out)
  local col = p:ident(p:tok())
  if not col then return nil end
  p.i = p.i + 1
  local tstart = p.i
  local tend = p:find(function(u) return COLSTOP[u] end) - 1
  local opts = {nullable = true}
  if tend >= tstart then opts.type = p:text(tstart, tend) end
  p.i = tend + 1
  local d = {op = "add_column", table = tbl, schema = schema, column = col, options = opts}
  out[#out + 1] = d
  local cname
  while not p:done() do
    local u = p:up()
    if p:kw("CONSTRAINT") then
      cname = p:ident(p:tok()); p.i = p.i + 1
    elseif p:kw("NOT", "NULL") then
      opts.nullable = false
    elseif u == "NULL" then
      p.i = p.i + 1; opts.nullable = true
    elseif p:kw("DEFAULT") then
      local s = p.i
      local e = p:find(function(w, _, j)
        if j == s then return false end
        if w == "NOT" then return upper(p.toks[j + 1]) == "NULL" and upper(p.toks[j - 1]) ~= "IS" end
        if w == "NULL" then return upper(p.toks[j - 1]) ~= "IS" and upper(p.toks[j - 1]) ~= "NOT" end
        return COLSTOP[w] and w ~= "AS" and w ~= "COLLATE"
      end) - 1
      opts.server_default = p:text(s, e)
      p.i = e + 1
    elseif p:kw("CHECK") then
      local s = p.i
      p:group()
      out[#out + 1] = {op = "create_check_constraint", table = tbl, schema = schema, column = col, name = cname,
        options = {condition = p:text(s + 1, p.i - 2), postgresql_not_valid = false, inline = true}}
      cname = nil
      if p:kw("NO", "INHERIT") then end
    elseif p:kw("UNIQUE") then
      if p:kw("NULLS", "NOT", "DISTINCT") or p:kw("NULLS", "DISTINCT") then end
      out[#out + 1] = {op = "create_unique_constraint", table = tbl, schema = schema, column = col, name = cname,
        options = {columns = {col}, inline = true}}
      cname = nil
    elseif p:kw("PRIMARY", "KEY") then
      opts.nullable = false
      out[#out + 1] = {op = "create_primary_key", table = tbl, schema = schema, column = col, name = cname,
        options = {columns = {col}, inline = true}}
      cname = nil
    elseif p:kw("REFERENCES") then
      local rt, rs = p:name()
      local rcols = p:cols()
      out[#out + 1] = {op = "create_foreign_key", table = tbl, schema = schema, column = col, name = cname,
        options = {referent_table = rt, referent_schema = rs, local_cols = {col}, remote_cols = rcols,
          postgresql_not_valid = false, inline = true}}
      cname = nil
      -- MATCH FULL, ON DELETE SET NULL (cols), ON UPDATE NO ACTION, ...
      while true do
        if p:kw("MATCH") then p.i = p.i + 1
        elseif p:kw("ON") then
          p.i = p.i + 1
          if p:kw("SET") then p.i = p.i + 1; p:group()
          elseif not p:kw("NO", "ACTION") then p.i = p.i + 1 end
        else break end
      end
    elseif p:kw("GENERATED") then
      -- GENERATED {ALWAYS | BY DEFAULT} AS {IDENTITY [(...)] | (e) STORED}
      local s = p.i
      if not p:kw("ALWAYS") then p:kw("BY", "DEFAULT") end
      p:kw("AS")
      local identity = p:kw("IDENTITY")
      p:group()
      if p:up() == "STORED" then p.i = p.i + 1 end
      if p.i == s then p.i = p.i + 1 end
      if identity then opts.identity = p:text(s, p.i - 1) else opts.computed = p:text(s, p.i - 1) end
    elseif p:up() == "AS" and is(p:tok(1), "(") then   -- SQLite's c AS (expr) [STORED|VIRTUAL]
      local s = p.i
      p.i = p.i + 1
      p:group()
      if p:up() == "STORED" or p:up() == "VIRTUAL" then p.i = p.i + 1 end
      opts.computed = p:text(s, p.i - 1)
    else
      -- COLLATE x, COMPRESSION x, DEFERRABLE, INITIALLY ..., anything else
      if not p:group() then p.i = p.i + 1 end
    end
  end
  return d
end

-- ADD [CONSTRAINT n] FOREIGN KEY | CHECK | UNIQUE | PRIMARY KEY | EXCLUDE.
local function table_constraint(p, tbl, schema)
  local name
  if p:kw("CONSTRAINT") then name = p:ident(p:tok()); p.i = p.i + 1 end
  local base = {table = tbl, schema = schema, name = name}
  local function with(op, opts)
    local d = {op = op, options = opts}
    for k, v in pairs(base) do d[k] = v end
    -- NOT VALID anywhere after the definition, at depth 0
    local nv = p:find(function(u, _, j) return u == "NOT" and upper(p.toks[j + 1]) == "VALID" end)
    if op == "create_foreign_key" or op == "create_check_constraint" then
      opts.postgresql_not_valid = nv <= p.last
    end
    return d
  end
  local function cols() return p:cols() end
  if p:kw("FOREIGN", "KEY") then
    local lcols = cols()
    if not p:kw("REFERENCES") then return nil end
    local rt, rs = p:name()
    return with("create_foreign_key", {local_cols = lcols, referent_table = rt, referent_schema = rs, remote_cols = cols()})
  elseif p:kw("CHECK") then
    local s = p.i
    p:group()
    return with("create_check_constraint", {condition = p:text(s + 1, p.i - 2)})
  elseif p:kw("UNIQUE") or p:kw("PRIMARY", "KEY") then
    local op = p:up(-1) == "UNIQUE" and "create_unique_constraint" or "create_primary_key"
    if p:kw("NULLS", "NOT", "DISTINCT") or p:kw("NULLS", "DISTINCT") then end
    if p:kw("USING", "INDEX") then
      return with(op, {postgresql_using_index = p:ident(p:tok())})
    end
    return with(op, {columns = cols()})
  elseif p:up() == "EXCLUDE" then
    return unjudged("an EXCLUDE constraint builds its index under ACCESS EXCLUSIVE; the classifier does not judge it",
      base)
  end
  return nil
end

-- One ALTER TABLE action in toks[a..b].
-- What SQLite's ALTER TABLE takes: ADD [COLUMN], DROP [COLUMN], RENAME.
local function sqlite_action(p)
  local u = p:up()
  if u == "RENAME" then return true end
  if u == "ADD" or u == "DROP" then
    local w = p:up(1)
    return not (w == "CONSTRAINT" or w == "FOREIGN" or w == "CHECK" or w == "UNIQUE" or w == "PRIMARY"
      or w == "EXCLUDE")
  end
  return false
end

local function alter_action(p, tbl, schema, out)
  if p.dialect == "sqlite" and not sqlite_action(p) then return nil end
  local function add(d)
    d.table, d.schema = d.table or tbl, d.schema or schema
    out[#out + 1] = d
    return d
  end
  local u = p:up()
  if p:kw("ADD") then
    local w = p:up()
    if w == "CONSTRAINT" or w == "FOREIGN" or w == "CHECK" or w == "UNIQUE" or w == "PRIMARY" or w == "EXCLUDE" then
      local d = table_constraint(p, tbl, schema)
      return d and add(d)
    end
    p:kw("COLUMN")
    local ine = p:kw("IF", "NOT", "EXISTS")
    local before = #out
    if not column_def(p, tbl, schema, out) then return nil end
    if ine then out[before + 1].options.if_not_exists = true end
    return true
  elseif p:kw("DROP") then
    if p:kw("CONSTRAINT") then
      local ie = p:kw("IF", "EXISTS")
      local n = p:ident(p:tok())
      return n and add{op = "drop_constraint", name = n, options = {if_exists = ie or nil}}
    end
    if p:up() == "NOT" or p:up() == "DEFAULT" or p:up() == "EXPRESSION" or p:up() == "IDENTITY" then return nil end
    p:kw("COLUMN")
    local ie = p:kw("IF", "EXISTS")
    local c = p:ident(p:tok())
    return c and add{op = "drop_column", column = c, options = {if_exists = ie or nil,
      cascade = p:up(1) == "CASCADE" or nil}}
  elseif p:up() == "ALTER" and p:up(1) ~= "CONSTRAINT" then
    p:kw("ALTER")
    p:kw("COLUMN")
    local c = p:ident(p:tok())
    if not c then return nil end
    p.i = p.i + 1
    local d = {op = "alter_column", column = c, options = {}}
    if p:kw("SET", "DATA", "TYPE") or p:kw("TYPE") then
      local s = p.i
      local e = p:find(function(w) return w == "USING" or w == "COLLATE" end) - 1
      d.options.type = p:text(s, e)
      p.i = e + 1
      if p:kw("COLLATE") then d.options.collation = p:text(p.i, p.i); p.i = p.i + 1 end
      if p:kw("USING") then d.options.postgresql_using = p:text(p.i, p.last) end
    elseif p:kw("SET", "NOT", "NULL") then d.options.nullable = false
    elseif p:kw("DROP", "NOT", "NULL") then d.options.nullable = true
    elseif p:kw("SET", "DEFAULT") then d.options.server_default = p:text(p.i, p.last)
    elseif p:kw("DROP", "DEFAULT") then d.options.server_default = false
    else
      return add(unjudged(("ALTER COLUMN ... %s is not read by the classifier"):format(p:text(p.i, p.i + 1)),
        {column = c}))
    end
    return add(d)
  elseif p:kw("VALIDATE", "CONSTRAINT") then
    local n = p:ident(p:tok())
    return n and add{op = "validate_constraint", name = n}
  elseif p:kw("RENAME") then
    if p:kw("TO") then
      local n = p:ident(p:tok())
      return n and add{op = "rename_table", options = {new_table = n}}
    elseif p:kw("CONSTRAINT") then
      local a, b = p:ident(p:tok()), p:ident(p:tok(2))
      return a and b and p:up(1) == "TO" and add{op = "rename_constraint", name = a, options = {new_name = b}}
    end
    p:kw("COLUMN")
    local a, b = p:ident(p:tok()), p:ident(p:tok(2))
    return a and b and p:up(1) == "TO" and add{op = "alter_column", column = a, options = {new_column_name = b}}
  elseif p:kw("SET", "SCHEMA") then
    local n = p:ident(p:tok())
    return n and add{op = "set_schema", options = {new_schema = n}}
  end
  return add(unjudged(("ALTER TABLE ... %s is not read by the classifier"):format(
    u and p:text(p.i, math.min(p.i + 1, p.last)) or "?")))
end

local function alter_table(p, out)
  p:kw("IF", "EXISTS")
  p:kw("ONLY")
  local tbl, schema = p:name()
  if not tbl then return nil end
  p:punct("*")
  if p:done() then return nil end
  local parts = sqltext.split(p.toks, p.i, p.last)
  for _, part in ipairs(parts) do
    local sub = parser(p.sql, p.toks, part[1], part[2], p.dialect)
    local before = #out
    local ok = alter_action(sub, tbl, schema, out)
    if not ok then
      for k = #out, before + 1, -1 do out[k] = nil end
      out[#out + 1] = unjudged(("could not read the ALTER TABLE action %q%s"):format(sub:text(part[1], part[2]):sub(1, 60),
        p.dialect == "sqlite" and " (SQLite's ALTER TABLE takes only ADD COLUMN, DROP COLUMN and RENAME)" or ""),
        {table = tbl, schema = schema})
    end
  end
  return true
end

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
  p:kw("IF", "NOT", "EXISTS")
  local tbl, schema = p:name()
  if not tbl then return nil end
  local opts = {}
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
    local w = p:find(function(x) return x == "WHERE" end)
    if w > p.last then
      d.options.all_rows = true
      d.note = ("UPDATE without WHERE: changes every row of %s"):format(d.table)
    end
  elseif u == "DELETE" then
    p.i = p.i + 1
    if not p:kw("FROM") then return nil end
    p:kw("ONLY")
    d.table, d.schema = p:name()
    if not d.table then return nil end
    local w = p:find(function(x) return x == "WHERE" end)
    if w > p.last then
      d.options.all_rows = true
      d.note = ("DELETE without WHERE: removes every row of %s"):format(d.table)
    end
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
      out[k].options = out[k].options or {}
      -- PostgreSQL runs the statements of one text as one transaction
      if #list > 1 and out[k].options.postgresql_concurrently then
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
