-- luamig.op.sqlite_model -- planning a SQLite rebuild on the table model:
-- what each change (add/drop/alter column, add/drop constraint) does to a
-- copy of the model, and which expression over the old table fills each
-- new column. luamig.op.sqlite_rebuild executes the plan; the offline
-- runs and PostgreSQL's --sql tracking use it alone.
local sqltext = require "luamig.sqltext"

local M = {}

local function name_of(t) return t and (t.k == "word" or t.k == "ident" or t.k == "string") and t.v or nil end
local function same_name(a, b) return a ~= nil and b ~= nil and a:lower() == b:lower() end

local function copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x) end
  return t
end

local function find(list, pred)
  for i, x in ipairs(list) do if pred(x) then return i, x end end
end

local function has(list, name)
  return find(list, function(x) return x == name end) ~= nil
end

-- Might an SQL fragment read this column? A bare or quoted identifier
-- that is not a function's name (date(x) does not read a column "date").
-- Only a guess, for offline mode and for choosing which views to test:
-- the live rebuild asks SQLite itself (see edit_table and M.run).
local function mentions(sql, col)
  local toks = sqltext.tokens(sql)
  for i, t in ipairs(toks) do
    if (t.k == "word" or t.k == "ident") and t.v:lower() == col:lower()
        and not (t.k == "word" and sqltext.is(toks[i + 1], "(")) then
      return true
    end
  end
  return false
end

-- 'unique constraint "uq_t_a"', 'check constraint (a > 0)': for messages.
local function describe_constraint(kind, name, fallback)
  local words = {PRIMARY = "primary key", UNIQUE = "unique constraint", CHECK = "check constraint",
                 FOREIGN = "foreign key", REFERENCES = "foreign key", NOT = "NOT NULL", DEFAULT = "default"}
  local what = words[kind] or (kind:lower() .. " clause")
  if name then return ('%s "%s"'):format(what, name) end
  return ("%s %s"):format(what, fallback)
end

-- The table constraints an added column declares inline (primary_key,
-- unique, references, check), handed to add(kind, constraint).
local function add_column_constraints(e, add)
  if e.pk then add("primary", e.pk) end
  if e.unique then add("unique", e.unique) end
  if e.foreign_key then add("foreign", e.foreign_key) end
  if e.check then add("check", e.check) end
end

-- Apply the changes to a copy of the table model. Returns the new model
-- and, per new column, the expression that fills it from the old table.
-- in_place: change old itself (a model kept up to date step by step, where
-- a copy per add_column made 999 of them on one table quadratic: 8.8 G
-- instructions in upgrade's lint)
local function apply(ctx, old, changes, in_place)
  local raise, opname = ctx.raise, ctx.opname
  local t = in_place and old or copy(old)
  local source = {}                         -- new column name -> SQL over the old table
  if not in_place then                      -- (a rebuild's: in place nothing is copied)
    for _, c in ipairs(t.columns) do source[c.name] = ctx.d.ident(c.name) end
  end
  local function column(name)
    local i, c = find(t.columns, function(c) return c.name == name end)
    if not c then raise(('%s: table "%s" has no column "%s"'):format(opname, t.name, name)) end
    return i, c
  end
  local function all_names()
    local names = {}
    if t.primary_key and t.primary_key.name then names[t.primary_key.name] = "primary" end
    for _, c in ipairs(t.uniques) do if c.name then names[c.name] = "unique" end end
    for _, c in ipairs(t.foreign_keys) do if c.name then names[c.name] = "foreign" end end
    for _, c in ipairs(t.checks) do if c.name then names[c.name] = "check" end end
    return names
  end
  local function place(col, before, after)
    local pos = #t.columns + 1
    if before then pos = column(before) elseif after then pos = column(after) + 1 end
    table.insert(t.columns, pos, col)
  end
  local function add_constraint(kind, c)
    if c.name and all_names()[c.name] then
      raise(('%s: constraint "%s" for table "%s" already exists'):format(opname, c.name, t.name))
    end
    for _, cn in ipairs(c.columns or {}) do column(cn) end
    if kind == "primary" then
      if t.primary_key then
        raise(('%s: table "%s" already has a primary key%s'):format(opname, t.name,
          t.primary_key.name and (' ("' .. t.primary_key.name .. '")') or ""))
      end
      t.primary_key = copy(c)
      for _, cn in ipairs(c.columns) do select(2, column(cn)).nullable = false end
    elseif kind == "unique" then t.uniques[#t.uniques + 1] = copy(c)
    elseif kind == "foreign" then t.foreign_keys[#t.foreign_keys + 1] = copy(c)
    else t.checks[#t.checks + 1] = copy(c) end
  end

  for _, ch in ipairs(changes) do
    if ch.kind == "add_column" then
      if find(t.columns, function(c) return c.name == ch.column.name end) then
        raise(('%s: table "%s" already has a column "%s"'):format(opname, t.name, ch.column.name))
      end
      place(copy(ch.column), ch.opts.insert_before, ch.opts.insert_after)
      add_column_constraints(ch.extra, add_constraint)
    elseif ch.kind == "drop_column" then
      local i = column(ch.name)
      table.remove(t.columns, i)
      source[ch.name] = nil
      if #t.columns == 0 then raise(('%s: cannot drop "%s", the only column of "%s"'):format(opname, ch.name, t.name)) end
      local function keep(c) return not has(c.columns, ch.name) end
      if t.primary_key and not keep(t.primary_key) then t.primary_key = nil end
      local function filter(list, pred)
        local out = {}
        for _, x in ipairs(list) do if pred(x) then out[#out + 1] = x end end
        return out
      end
      t.uniques = filter(t.uniques, keep)
      t.foreign_keys = filter(t.foreign_keys, keep)
      t.checks = filter(t.checks, function(c) return not mentions(c.condition, ch.name) end)
    elseif ch.kind == "alter_column" then
      local i, c = column(ch.name)
      if ch.nullable ~= nil then c.nullable = ch.nullable end
      if ch.type then c.type = ch.type end
      if ch.default ~= nil then
        if ch.default == require("luamig.dialect.common").NULL then c.default = nil else c.default = ch.default end
      end
      if ch.insert_before or ch.insert_after then
        table.remove(t.columns, i)
        place(c, ch.insert_before, ch.insert_after)
      end
    elseif ch.kind == "add_constraint" then
      add_constraint(ch.ctype, ch.constraint)
    elseif ch.kind == "drop_constraint" then
      local kind = all_names()[ch.name]
      if not kind or (ch.ctype and ch.ctype ~= kind) then
        if not ch.opts.if_exists then
          raise(('%s: table "%s" has no %sconstraint named "%s"'):format(opname, t.name,
            ch.ctype and (ch.ctype == "foreign" and "foreign key " or ch.ctype == "primary" and "primary key "
                          or ch.ctype .. " ") or "", ch.name))
        end
      elseif kind == "primary" then
        t.primary_key = nil
      else
        local field = ({unique = "uniques", foreign = "foreign_keys", check = "checks"})[kind]
        local i = find(t[field], function(c) return c.name == ch.name end)
        table.remove(t[field], i)
      end
    end
  end
  -- A single INTEGER primary key is SQLite's rowid alias.
  for _, c in ipairs(t.columns) do c.autoincrement = false end
  if t.primary_key and #t.primary_key.columns == 1 then
    local _, c = column(t.primary_key.columns[1])
    if c.type == "integer" then c.autoincrement = true end
  end
  if t.sqlite_autoincrement then                -- AUTOINCREMENT needs an INTEGER PRIMARY KEY
    local pk = t.primary_key
    local c
    if pk and #pk.columns == 1 then c = select(2, column(pk.columns[1])) end
    if not (c and c.type == "integer") then t.sqlite_autoincrement = nil end
  end
  return t, source
end

-- A name for the rowid that no column of the list shadows.
local function rowid_name(columns)
  for _, n in ipairs({"rowid", "_rowid_", "oid"}) do
    local taken = false
    for _, c in ipairs(columns) do if same_name(c, n) then taken = true end end
    if not taken then return n end
  end
end

-- Rename a column in a table model, with the constraints and indexes naming it.
function M.rename_column(t, old, new)
  local function list(l)
    for i, c in ipairs(l or {}) do if c == old then l[i] = new end end
  end
  for _, c in ipairs(t.columns) do if c.name == old then c.name = new end end
  if t.primary_key then list(t.primary_key.columns) end
  for _, c in ipairs(t.uniques or {}) do list(c.columns) end
  for _, c in ipairs(t.foreign_keys or {}) do list(c.columns) end
  for _, ix in ipairs(t.indexes or {}) do list(ix.columns) end
end

M.name_of = name_of
M.same_name = same_name
M.copy = copy
M.find = find
M.has = has
M.mentions = mentions
M.describe_constraint = describe_constraint
M.add_column_constraints = add_column_constraints
M.apply = apply
M.rowid_name = rowid_name

return M
