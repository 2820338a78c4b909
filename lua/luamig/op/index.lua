-- luamig.op.index -- the index model create_index (and a column's index =
-- true) builds from its arguments: the columns, each a name or an
-- expression with its order, NULLS placement, collation and operator
-- class; the PostgreSQL options (using, include, with, ops,
-- nulls_not_distinct, concurrently), refused on SQLite with a clear error;
-- and the checks made when the index is about to be created (CONCURRENTLY
-- inside the step's transaction, NULLS NOT DISTINCT before PostgreSQL 15).
--
-- The model: {name, table, unique, columns = {name | {expr = sql}}, where,
-- using, include = {names}, with = {param = value}, nulls_not_distinct,
-- column_options = {[i] = {order, nulls, collate, opclass, raw}}} (the last
-- only when some column has one; introspection reads the same fields;
-- raw: the op.raw text these were read from, which the SQL keeps as written).
local common = require "luamig.dialect.common"
local check = require "luamig.op.check"
local index_sql = require "luamig.dialect.index_sql"
check.mark_internal()

local raise, as_list, sql_text = check.raise, check.as_list, check.sql_text

local M = {}

local NAME = "^[%a_][%w_]*$"

-- An operator class's name as SQL: a plain or "quoted" name, which may be
-- schema-qualified; the unquoted parts folded to lower case, as PostgreSQL
-- folds them (and as its catalog names the class). nil if s is not one.
local function opclass_name(s)
  if type(s) ~= "string" or s == "" then return nil end
  local sqltext = require "luamig.sqltext"
  local toks = sqltext.tokens(s, "postgresql")
  if #toks ~= 1 and not (#toks == 3 and sqltext.is(toks[2], ".")) then return nil end
  local out = {}
  for i, t in ipairs(toks) do
    if t.s ~= (i == 1 and 1 or toks[i - 1].e + 1) then return nil end      -- no space, no comment
    local text = s:sub(t.s, t.e)
    if t.k == "word" and text:match(NAME) then out[i] = text:lower()
    elseif t.k == "ident" and #text > 2 and text:sub(-1) == '"' and text:sub(1, 1) == '"' then out[i] = text
    elseif i == 2 then out[i] = "."
    else return nil end
  end
  if toks[#toks].e ~= #s then return nil end
  return table.concat(out)
end

-- The PostgreSQL-only options under their Alembic names.
local PG_ONLY = {"using", "include", "with", "ops", "nulls_not_distinct", "concurrently"}

local function sqlite_refuses(opname, what)
  raise(('%s: %s is PostgreSQL\'s, and SQLite has no such index option; guard the '
    .. 'PostgreSQL-only part with `if op.dialect == "postgresql" then ... end`'):format(opname, what))
end

local ENTRY_KEYS = {order = true, nulls = true, collate = true, opclass = true}

-- Options of one column entry, checked; nil when it has none.
local function entry_options(ctx, opname, i, e)
  local o = {}
  for k, v in pairs(e) do
    if k ~= 1 and not ENTRY_KEYS[k] then
      raise(('%s: column %d: unknown key %s (a column entry is {"name" or op.raw(...), order = '
        .. '"asc" | "desc", nulls = "first" | "last", collate = "name", opclass = "name"})')
        :format(opname, i, type(k) == "string" and ('"' .. k .. '"') or ("[" .. tostring(k) .. "]")))
    end
  end
  if e.order ~= nil then
    local v = type(e.order) == "string" and e.order:lower()
    if v ~= "asc" and v ~= "desc" then
      raise(('%s: column %d: order must be "asc" or "desc", got %s'):format(opname, i, check.describe(e.order)))
    end
    o.order = v
  end
  if e.nulls ~= nil then
    local v = type(e.nulls) == "string" and e.nulls:lower()
    if v ~= "first" and v ~= "last" then
      raise(('%s: column %d: nulls must be "first" or "last", got %s'):format(opname, i, check.describe(e.nulls)))
    end
    if ctx.sqlite then sqlite_refuses(opname, ("column %d: nulls (NULLS %s)"):format(i, v:upper())) end
    o.nulls = v
  end
  if e.collate ~= nil then
    if type(e.collate) ~= "string" or e.collate == "" then
      raise(('%s: column %d: collate must be a collation name, got %s'):format(opname, i, check.describe(e.collate)))
    end
    o.collate = e.collate
  end
  if e.opclass ~= nil then
    local opclass = opclass_name(e.opclass)
    if not opclass then
      raise(('%s: column %d: opclass must be an operator class name (like "text_pattern_ops"), '
        .. 'got %s'):format(opname, i, check.describe(e.opclass)))
    end
    if ctx.sqlite then sqlite_refuses(opname, ("column %d: opclass %s"):format(i, e.opclass)) end
    o.opclass = opclass
  end
  return next(o) and o or nil
end

-- An op.raw element that is a column with a collation, an operator class
-- or an order ('"tags" gin_trgm_ops', 'name DESC'): the column and its
-- options, as introspection reads the index back; otherwise the expression.
local function raw_element(ctx, sql)
  local sqltext = require "luamig.sqltext"
  local r = index_sql.read_element(sql, ctx.d.name)
  local o = {order = r.order, nulls = r.nulls, opclass = r.opclass}
  if r.collate then
    local toks = sqltext.tokens(r.collate, ctx.d.name)
    if #toks ~= 1 then return {expr = sql} end
    o.collate = toks[1].v
  end
  -- SQLite has neither: the text goes as written, and SQLite says what is wrong
  if not next(o) or (ctx.sqlite and (o.nulls or o.opclass)) then return {expr = sql} end
  local tok = r.column and sqltext.tokens(r.head, ctx.d.name)[1]
  -- an unquoted word is folded by the database: only a lower-case one is the column's name
  local name = tok and (tok.k == "ident" and tok.v or (tok.v == tok.v:lower() and tok.v)) or nil
  -- rendered as written (luamig.dialect.index_sql) while the column or
  -- expression is still raw_of (a rename of the column in an offline
  -- SQLite rebuild's model makes it the structured form)
  o.raw, o.raw_of = sql, name or r.head
  if name then return name, o end
  return {expr = r.head}, o
end

function M.model(ctx, opname, name, tname, columns, o, name_for)
  if ctx.sqlite then
    for _, k in ipairs(PG_ONLY) do
      if o[k] ~= nil and o[k] ~= false then sqlite_refuses(opname, ('option "postgresql_%s"'):format(k)) end
    end
  end
  local cols, plain, colopts, any = {}, {}, {}, false
  for i, e in ipairs(as_list(columns)) do
    local opts
    if common.is_raw(e) then
      cols[i], opts = raw_element(ctx, e.sql)
    elseif type(e) == "table" then
      local head = e[1]
      if common.is_raw(head) then
        cols[i] = {expr = head.sql}
      elseif type(head) == "string" and head ~= "" then
        cols[i] = head
      else
        raise(('%s: column %d must start with a column name or op.raw(...), got %s')
          :format(opname, i, check.describe(head)))
      end
      opts = entry_options(ctx, opname, i, e)
    else
      cols[i] = e
    end
    if type(cols[i]) == "string" then plain[#plain + 1] = cols[i] end
    if opts then colopts[i], any = opts, true end
  end
  if o.ops then
    for col, opclass in pairs(o.ops) do
      local at
      for i, c in ipairs(cols) do if c == col then at = i; break end end
      if not at then
        raise(('%s: option "postgresql_ops" names %s, which is not a column of the index (%s)')
          :format(opname, check.describe(col), table.concat(plain, ", ")))
      end
      local folded = opclass_name(opclass)
      if not folded then
        raise(('%s: option "postgresql_ops": the operator class of "%s" must be a name (like '
          .. '"gin_trgm_ops"), got %s'):format(opname, col, check.describe(opclass)))
      end
      opclass = folded
      colopts[at] = colopts[at] or {}
      if colopts[at].opclass and colopts[at].opclass ~= opclass then
        raise(('%s: column "%s" has two operator classes (%s and %s)'):format(opname, col,
          colopts[at].opclass, opclass))
      end
      colopts[at].opclass, any = opclass, true
    end
  end
  if name == nil then
    if #plain ~= #cols then
      raise(opname .. ": an index on an expression needs a name (argument 1): a naming convention "
        .. "names only indexes on columns")
    end
    name = name_for(ctx, opname, "ix", {table = tname, columns = plain})
  end
  local using = o.using
  if using and not using:match(NAME) then
    raise(('%s: option "using" must be an index method name, got %q'):format(opname, using))
  end
  -- written unquoted, PostgreSQL folds it (SQLAlchemy renders it lower-cased too)
  if using then using = using:lower() end
  local with
  if o.with then
    with = {}
    for k, v in pairs(o.with) do
      if type(k) ~= "string" or not k:match(NAME) then
        raise(('%s: option "postgresql_with": a storage parameter\'s name must be a name like '
          .. '"fillfactor", got %s'):format(opname, check.describe(k)))
      end
      local t = type(v)
      if not (t == "boolean" or (t == "number" and v == v and v ~= math.huge and v ~= -math.huge)
              or (t == "string" and v ~= "")) then
        raise(('%s: option "postgresql_with": %s must be a number, a boolean or a non-empty string, '
          .. 'got %s'):format(opname, k, check.describe(v)))
      end
      with[k] = v
    end
    if not next(with) then with = nil end
  end
  return {name = name, table = tname, unique = o.unique or false, columns = cols,
          where = sql_text(o.where), using = using, include = o.include and as_list(o.include),
          with = with, nulls_not_distinct = o.nulls_not_distinct or nil,
          column_options = any and colopts or nil}
end

-- The server's version number (150000 for 15.0), asked once per op object.
local function server_version(ctx)
  if ctx.server_version == nil then
    local ok, rows = pcall(ctx.conn.query, ctx.conn, "SHOW server_version_num")
    ctx.server_version = ok and tonumber(rows[1] and rows[1].server_version_num) or false
  end
  return ctx.server_version or nil
end

-- Checks made when an index is about to be created or dropped on the
-- database: CONCURRENTLY inside a migration step's transaction (outside
-- op.autocommit_block), NULLS NOT DISTINCT on a server before 15.
function M.check_run(ctx, opname, ix, concurrently)
  if ctx.sqlite then return end
  if concurrently and not ctx.autocommit then
    local core = require "luamig.core"
    if core.step_in_transaction() then
      raise(('%s: postgresql_concurrently cannot run inside the transaction luamig opened for this '
        .. 'step (PostgreSQL: "%s INDEX CONCURRENTLY cannot run inside a transaction block"); put it '
        .. 'in op.autocommit_block(function() ... end), or mark the revision transactional = false')
        :format(opname, opname == "drop_index" and "DROP" or "CREATE"))
    end
  end
  if ix and ix.nulls_not_distinct and ctx.conn then
    local v = server_version(ctx)
    if v and v < 150000 then
      raise(('%s: postgresql_nulls_not_distinct needs PostgreSQL 15 or later, and the server is '
        .. '%d.%d; drop the option (NULLs are then distinct) or upgrade the server')
        :format(opname, v // 10000, v % 10000))
    end
  end
end

-- drop_index's checks: concurrently is PostgreSQL's, and needs to be
-- outside the step's transaction.
function M.check_drop(ctx, opname, concurrently)
  if concurrently and ctx.sqlite then sqlite_refuses(opname, 'option "postgresql_concurrently"') end
  M.check_run(ctx, opname, nil, concurrently)
end

return M
