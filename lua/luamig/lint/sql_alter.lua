-- luamig.lint.sql_alter -- ALTER TABLE read for luamig.lint.sql: each
-- action, and the column definition of ADD COLUMN with its inline
-- constraints, as lint call descriptors.
--
--   alter_table(p, out) -> true when read (descriptors appended to out),
--     p just after ALTER TABLE
local sqltext = require "luamig.sqltext"
local reader = require "luamig.lint.sql_reader"

local upper, is = sqltext.upper, sqltext.is
local parser, unjudged = reader.parser, reader.unjudged

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
      opts.nullable, cname = false, nil
    elseif u == "NULL" then
      p.i = p.i + 1; opts.nullable, cname = true, nil
    elseif p:kw("DEFAULT") then
      local s = p.i
      local e = p:find(function(w, _, j)
        if j == s then return false end
        if w == "NOT" then return upper(p.toks[j + 1]) == "NULL" and upper(p.toks[j - 1]) ~= "IS" end
        if w == "NULL" then return upper(p.toks[j - 1]) ~= "IS" and upper(p.toks[j - 1]) ~= "NOT" end
        return COLSTOP[w] and w ~= "AS" and w ~= "COLLATE"
      end) - 1
      opts.server_default, cname = p:text(s, e), nil
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

-- One ALTER TABLE action, the whole of p.
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

return {alter_table = alter_table}
