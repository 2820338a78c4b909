-- luamig.autogen.diff -- compare two schemas in the table model (see
-- luamig.dialect.common) and list the operations that turn the live one
-- into the target one, in an order that applies.
--
--   local diff = require "luamig.autogen.diff"
--   local ops = diff.compare(target, live, {dialect = "sqlite", compare_type = true})
--
-- target and live are {tables = {[name] = table}, order = {names}} (order
-- optional: the declared creation order). Each operation is a table with
-- kind and table, and what it needs to be rendered and inverted:
--
--   {kind = "create_table", table = t, model = m}     {kind = "drop_table", table = t, model = m}
--   {kind = "add_column", table = t, column = c}      {kind = "drop_column", table = t, column = c}
--   {kind = "alter_column", table = t, column = name, changes = {field = {from, to}}}
--        fields: type, nullable, default, comment; nil values are diff.NONE
--   {kind = "create_index", table = t, index = ix}    {kind = "drop_index", table = t, index = ix}
--   {kind = "add_constraint", table = t, ctype = "unique" | "check" | "foreign", constraint = c}
--   {kind = "drop_constraint", table = t, ctype = ..., constraint = c}
--
-- What is compared, and what is not, follows Alembic's autogenerate
-- (reference/alembic.md §6): tables, columns, nullable, types (unless
-- compare_type is false), server defaults, column comments, indexes,
-- unique, foreign key and check constraints. Not detected: renames (a
-- drop and an add), primary key changes on an existing table,
-- autoincrement, and unnamed constraints on the live side that the target
-- does not have (they cannot be dropped by name).
local common = require "luamig.dialect.common"
local pg_introspect = require "luamig.introspect.postgresql"
local enums = require "luamig.autogen.enums"

local M = {}

-- include_object filtering is introspect's (the live schema is filtered
-- where it is read); kept here too, where embedders found it before.
M.filter = require("luamig.introspect").filter

-- "No value" in an alter_column change (no default, no comment).
M.NONE = setmetatable({}, {__name = "luamig.autogen.NONE", __tostring = function() return "none" end})

local dialects = {sqlite = "luamig.dialect.sqlite", postgresql = "luamig.dialect.postgresql"}

---------------------------------------------------------------------------
-- Normal forms: two spellings of the same thing compare equal.

-- Type names the databases accept besides the generic ones.
local type_aliases = {
  int = "integer", int4 = "integer", serial = "integer", int8 = "bigint", bigserial = "bigint",
  int2 = "smallint", bool = "boolean", float8 = "double", float4 = "float",
  ["double precision"] = "double", real = "float", decimal = "numeric", bytea = "binary",
  blob = "binary", character_varying = "string",                   -- jsonb is not json
}

local dialect_module = setmetatable({}, {__index = function(cache, name)
  local d = require(dialects[name])
  cache[name] = d
  return d
end})

function M.normalize_type(dialect, t)
  if t == nil then return nil end
  local d = dialect_module[dialect]
  local g = d.generic_type(d.type_sql(t))
  local base, args = g:match("^([%a_ ]-)%s*(%b())$")
  base = base or g
  local alias = type_aliases[base] or type_aliases[base:gsub(" ", "_")]
  if alias == "float" and dialect == "postgresql" then alias = "float(24)" end   -- real; float is double
  if alias then
    if args and (alias == "string" or alias == "numeric") then return alias .. args:gsub("%s+", "") end
    if not args then return alias end
  end
  return g
end

-- Strip balanced parentheses around the whole of s.
local function strip_parens(s)
  while s:match("^%b()$") do s = s:sub(2, -2):gsub("^%s+", ""):gsub("%s+$", "") end
  return s
end

-- Whitespace collapsed outside quotes, outer parentheses stripped.
function M.normalize_sql(s)
  if s == nil then return nil end
  local out, i, n = {}, 1, #s
  while i <= n do
    local c = s:sub(i, i)
    if c == "'" or c == '"' then
      local j = i + 1
      while j <= n do
        if s:sub(j, j) == c then
          if s:sub(j + 1, j + 1) == c then j = j + 2 else break end
        else j = j + 1 end
      end
      out[#out + 1] = s:sub(i, j)
      i = j + 1
    elseif c:match("%s") then
      local j = i
      while j <= n and s:sub(j, j):match("%s") do j = j + 1 end
      local before, after = out[#out] and out[#out]:sub(-1) or "", s:sub(j, j)
      if not (before == "" or before:match("[(,]") or after == "" or after:match("[(),]")) then
        out[#out + 1] = " "
      end
      i = j
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return strip_parens(table.concat(out))
end

function M.normalize_default(dialect, s)
  if s == nil then return nil end
  if dialect == "postgresql" then s = pg_introspect.normalize_default(s) end
  s = M.normalize_sql(s)
  local u = s:upper()
  if u == "TRUE" or u == "FALSE" or u == "NULL" or u:match("^CURRENT_%a+$") then return u end
  if u == "NOW()" and dialect == "postgresql" then return "CURRENT_TIMESTAMP" end
  return s
end

local function same_list(a, b)
  a, b = a or {}, b or {}
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

local function index_element(e)
  if type(e) == "table" then return "\1" .. M.normalize_sql(e.expr) end
  return e
end

local function same_index(a, b)
  if a.invalid or b.invalid then return false end    -- INVALID (failed CONCURRENTLY build): built again
  if (a.unique or false) ~= (b.unique or false) then return false end
  if #a.columns ~= #b.columns then return false end
  for i = 1, #a.columns do
    if index_element(a.columns[i]) ~= index_element(b.columns[i]) then return false end
  end
  if M.normalize_sql(a.where) ~= M.normalize_sql(b.where) then return false end
  if (a.using or "btree") ~= (b.using or "btree") then return false end
  return same_list(a.include, b.include) and require("luamig.autogen.index_options").same(a, b)
end

local function same_unique(a, b)
  return same_list(a.columns, b.columns) and (a.deferrable or false) == (b.deferrable or false)
    and a.initially == b.initially
end

local function same_foreign_key(a, b)
  return same_list(a.columns, b.columns) and a.ref_table == b.ref_table
    and same_list(a.ref_columns, b.ref_columns) and a.on_delete == b.on_delete
    and a.on_update == b.on_update and (a.deferrable or false) == (b.deferrable or false)
    and a.initially == b.initially and a.match == b.match
end

local function same_check(a, b)
  if M.normalize_sql(a.condition) == M.normalize_sql(b.condition) then return true end
  -- an op.enum column's CHECK: its column quoted (luamig) or not (SQLAlchemy)
  local e = a.enum and a or b.enum and b
  if not (e and e.column and e.column:match("^[a-z_][a-z0-9_]*$")) then return false end
  local function bare(c) return M.normalize_sql((c:gsub('^"' .. e.column .. '" ', e.column .. " "))) end
  return bare(a.condition) == bare(b.condition)
end

M.same = {index = same_index, unique = same_unique, foreign = same_foreign_key, check = same_check}

---------------------------------------------------------------------------
-- Ordering

local function sorted_keys(t)
  local list = {}
  for k in pairs(t) do list[#list + 1] = k end
  table.sort(list)
  return list
end

-- Tables in an order where each comes after the tables its foreign keys
-- reference (among names), starting from first (a preferred order).
-- Returns the order and, per table, the foreign keys that point at a table
-- coming later (a cycle): those must be created after all the tables.
local function dependency_order(names, models, first)
  local member, order, state, late = {}, {}, {}, {}
  for _, n in ipairs(names) do member[n] = true end
  local function visit(n)
    if state[n] == "done" then return end
    state[n] = "visiting"
    for _, fk in ipairs(models[n].foreign_keys or {}) do
      local r = fk.ref_table
      if member[r] and r ~= n and state[r] == nil then visit(r) end
    end
    state[n] = "done"
    order[#order + 1] = n
  end
  local seen, start = {}, {}
  for _, n in ipairs(first or {}) do
    if member[n] and not seen[n] then seen[n] = true; start[#start + 1] = n end
  end
  for _, n in ipairs(names) do
    if not seen[n] then seen[n] = true; start[#start + 1] = n end
  end
  for _, n in ipairs(start) do visit(n) end
  local position = {}
  for i, n in ipairs(order) do position[n] = i end
  for _, n in ipairs(order) do
    for _, fk in ipairs(models[n].foreign_keys or {}) do
      local r = fk.ref_table
      if member[r] and r ~= n and position[r] > position[n] then
        late[n] = late[n] or {}
        late[n][fk] = true
      end
    end
  end
  return order, late
end

---------------------------------------------------------------------------
-- Matching lists of named things.

-- A name PostgreSQL made up for a constraint or index created without
-- one (users_email_key, posts_user_id_fkey, t_qty_check, t_a_idx, with a
-- digit when taken): such an item matches a declared one by definition,
-- as an unnamed one does, so a database built without luamig's naming
-- convention does not come out as renames.
local function server_named(table_name, name)
  if not name or name:sub(1, #table_name + 1) ~= table_name .. "_" then return false end
  return name:match("_key%d*$") or name:match("_fkey%d*$") or name:match("_check%d*$")
    or name:match("_idx%d*$") or false
end

-- Pair up target and live items: by name, else (a live item without a
-- name, or one named by the server) by definition. A pair that differs is
-- a drop and a create. Calls removed(l) in the live list's order (sorted
-- by name), then added(t) in the target's order.
local function match(table_name, target, live, same, added, removed)
  local by_name, used, creates = {}, {}, {}
  for _, l in ipairs(live or {}) do if l.name then by_name[l.name] = l end end
  local named = {}
  for _, t in ipairs(target or {}) do if t.name then named[t.name] = true end end
  for _, t in ipairs(target or {}) do
    local l = t.name and by_name[t.name]
    if l then
      used[l] = true
      if not same(t, l) then used[l] = "changed"; creates[#creates + 1] = t end
    else
      local found
      for _, x in ipairs(live or {}) do
        -- (an op.enum column's CHECK also matches one of another name: a
        -- database made by SQLAlchemy names it after the enum, luamig after the column)
        if not used[x] and (not x.name or ((t.enum or server_named(table_name, x.name)) and not named[x.name]))
           and same(t, x) then
          found = x
          break
        end
      end
      if found then used[found] = true else creates[#creates + 1] = t end
    end
  end
  for _, l in ipairs(live or {}) do
    if used[l] ~= true and l.name then removed(l) end
  end
  for _, t in ipairs(creates) do added(t) end
end

-- Whether column name is in the primary key of table model t.
function M.in_key(t, name)
  for _, k in ipairs(t.primary_key and t.primary_key.columns or {}) do if k == name then return true end end
  return false
end

local function column_changes(dialect, tc, lc, opts)
  local changes, n = {}, 0
  local function set(field, from, to)
    changes[field] = {from == nil and M.NONE or from, to == nil and M.NONE or to}
    n = n + 1
  end
  local enum_col = dialect == "postgresql" and (tc.enum or lc.enum)   -- enum types: by their exact name
  if opts.compare_type ~= false and (enum_col and tc.type ~= lc.type
     or not enum_col and M.normalize_type(dialect, tc.type) ~= M.normalize_type(dialect, lc.type)) then
    set("type", lc.type, tc.type)
  end
  -- an identity column is NOT NULL whatever was declared (PostgreSQL); a
  -- primary key column on SQLite may hold NULL unless it says NOT NULL (a
  -- legacy rule), and luamig writes NOT NULL there: not a change
  if (tc.nullable ~= false) ~= (lc.nullable ~= false) and not (tc.autoincrement and lc.autoincrement)
     and not opts.sqlite_pk_column then
    set("nullable", lc.nullable ~= false, tc.nullable ~= false)
  end
  if not (tc.autoincrement or lc.autoincrement)
     and M.normalize_default(dialect, tc.default) ~= M.normalize_default(dialect, lc.default) then
    set("default", lc.default, tc.default)
  end
  if dialect == "postgresql" and tc.comment ~= lc.comment then set("comment", lc.comment, tc.comment) end
  return n > 0 and changes or nil
end

---------------------------------------------------------------------------

-- The operations that turn live into target.
--   opts.dialect: "sqlite" | "postgresql"; opts.compare_type (default true)
-- Returns the list of operations, in order.
function M.compare(target, live, opts)
  opts = opts or {}
  local dialect = opts.dialect or target.dialect or live.dialect
  local phase = {drop_fk = {}, drop_other = {}, drop_column = {}, create_table = {}, add_column = {},
                 alter = {}, create_other = {}, create_fk = {}, drop_table = {}}
  local function push(list, op) list[#list + 1] = op end

  local created, dropped, common_names = {}, {}, {}
  for _, name in ipairs(sorted_keys(target.tables)) do
    if live.tables[name] then common_names[#common_names + 1] = name else created[#created + 1] = name end
  end
  for _, name in ipairs(sorted_keys(live.tables)) do
    if not target.tables[name] then dropped[#dropped + 1] = name end
  end

  -- new tables, each after those it references; cyclic references last
  local order, late = dependency_order(created, target.tables, target.order)
  -- (a table's indexes are operations of their own, as Alembic has them)
  for _, name in ipairs(order) do
    local model = {}
    for k, v in pairs(target.tables[name]) do model[k] = v end
    model.indexes, model.foreign_keys = {}, {}
    for _, fk in ipairs(target.tables[name].foreign_keys or {}) do
      if late[name] and late[name][fk] then
        push(phase.create_fk, {kind = "add_constraint", table = name, ctype = "foreign", constraint = fk})
      else
        model.foreign_keys[#model.foreign_keys + 1] = fk
      end
    end
    push(phase.create_table, {kind = "create_table", table = name, model = model})
    for _, ix in ipairs(target.tables[name].indexes or {}) do
      push(phase.create_table, {kind = "create_index", table = name, index = ix})
    end
  end

  -- removed tables: those referencing others first; cycles broken first
  local dorder, dlate = dependency_order(dropped, live.tables)
  for i = #dorder, 1, -1 do
    local name = dorder[i]
    local model = {}
    for k, v in pairs(live.tables[name]) do model[k] = v end
    model.indexes, model.foreign_keys = {}, {}
    for _, fk in ipairs(live.tables[name].foreign_keys or {}) do
      if dlate[name] and dlate[name][fk] then
        push(phase.drop_fk, {kind = "drop_constraint", table = name, ctype = "foreign", constraint = fk})
      else
        model.foreign_keys[#model.foreign_keys + 1] = fk
      end
    end
    for _, ix in ipairs(live.tables[name].indexes or {}) do
      push(phase.drop_table, {kind = "drop_index", table = name, index = ix})
    end
    push(phase.drop_table, {kind = "drop_table", table = name, model = model})
  end

  for _, name in ipairs(common_names) do
    local t, l = target.tables[name], live.tables[name]
    local live_cols = {}
    for _, c in ipairs(l.columns) do live_cols[c.name] = c end
    local target_cols, added_cols = {}, {}
    for _, c in ipairs(t.columns) do
      target_cols[c.name] = c
      local lc = live_cols[c.name]
      if not lc then
        added_cols[c.name] = true
        push(phase.add_column, {kind = "add_column", table = name, column = c})
      else
        local in_pk = dialect == "sqlite" and M.in_key(t, c.name) and M.in_key(l, c.name)
        local changes = column_changes(dialect, c, lc,
          in_pk and setmetatable({sqlite_pk_column = true}, {__index = opts}) or opts)
        if changes then
          push(phase.alter, {kind = "alter_column", table = name, column = c.name, changes = changes,
                             target = c, live = lc})
        end
      end
    end
    for _, c in ipairs(l.columns) do
      if not target_cols[c.name] then push(phase.drop_column, {kind = "drop_column", table = name, column = c}) end
    end

    match(name, t.indexes, l.indexes, same_index,
      function(ix) push(phase.create_other, {kind = "create_index", table = name, index = ix}) end,
      function(ix) push(phase.drop_other, {kind = "drop_index", table = name, index = ix}) end)
    for _, spec in ipairs({{"uniques", "unique", same_unique}, {"checks", "check", same_check},
                           {"foreign_keys", "foreign", same_foreign_key}}) do
      local field, ctype, same = spec[1], spec[2], spec[3]
      local drops = ctype == "foreign" and phase.drop_fk or phase.drop_other
      local creates = ctype == "foreign" and phase.create_fk or phase.create_other
      match(name, t[field], l[field], same,
        function(c)                        -- (SQLite: an added op.enum column brings its own CHECK)
          if not (c.enum and added_cols[c.column]) then
            push(creates, {kind = "add_constraint", table = name, ctype = ctype, constraint = c})
          end
        end,
        function(c) push(drops, {kind = "drop_constraint", table = name, ctype = ctype, constraint = c}) end)
    end
  end

  local ops = {}
  local enums_first, enums_last = {}, {}
  if dialect == "postgresql" and live.enums then enums_first, enums_last = enums.compare(target, live) end
  for _, op in ipairs(enums_first) do ops[#ops + 1] = op end
  for _, p in ipairs({"drop_fk", "drop_other", "drop_column", "create_table", "add_column", "alter",
                      "create_other", "create_fk", "drop_table"}) do
    for _, op in ipairs(phase[p]) do ops[#ops + 1] = op end
  end
  for _, op in ipairs(enums_last) do ops[#ops + 1] = op end
  return ops
end

-- The operation that undoes op.
function M.inverse(op)
  local k = op.kind
  if enums.kinds[k] then return enums.inverse(op) end
  if k == "create_table" then return {kind = "drop_table", table = op.table, model = op.model} end
  if k == "drop_table" then return {kind = "create_table", table = op.table, model = op.model} end
  if k == "add_column" then return {kind = "drop_column", table = op.table, column = op.column} end
  if k == "drop_column" then return {kind = "add_column", table = op.table, column = op.column} end
  if k == "create_index" then return {kind = "drop_index", table = op.table, index = op.index} end
  if k == "drop_index" then return {kind = "create_index", table = op.table, index = op.index} end
  if k == "add_constraint" then
    return {kind = "drop_constraint", table = op.table, ctype = op.ctype, constraint = op.constraint,
            extra = op.inverse_extra}
  end
  if k == "drop_constraint" then
    return {kind = "add_constraint", table = op.table, ctype = op.ctype, constraint = op.constraint}
  end
  local changes = {}
  for field, fromto in pairs(op.changes) do changes[field] = {fromto[2], fromto[1]} end
  return {kind = "alter_column", table = op.table, column = op.column, changes = changes,
          target = op.live, live = op.target}
end

-- The downgrade of a list of operations: their inverses, last first.
function M.invert(ops)
  local out = {}
  for i = #ops, 1, -1 do out[#out + 1] = M.inverse(ops[i]) end
  return out
end

---------------------------------------------------------------------------
-- Words for an operation (log lines, check, roundtrip).

local ctype_words = {unique = "unique constraint", check = "check constraint", foreign = "foreign key"}

local function show(v)
  if v == M.NONE or v == nil then return "none" end
  return tostring(v)
end

-- The format arguments of an operation's phrase, the same for every wording.
local function subject(op)
  local k, t = op.kind, op.table
  if enums.kinds[k] then return enums.subject(op) end
  if k == "create_table" or k == "drop_table" then return t end
  if k == "add_column" or k == "drop_column" then return t, op.column.name end
  if k == "create_index" or k == "drop_index" then return op.index.name, t end
  return ctype_words[op.ctype], op.constraint.name, t
end

-- Each operation's phrase: [1] Alembic's "Detected ..." one, from the
-- target's point of view; [2] the same difference told as what a
-- downgrade failed to restore (target: the schema before the upgrade,
-- live: the schema after the downgrade).
local phrases = {
  create_table = {"added table '%s'", "table '%s' is missing"},
  drop_table = {"removed table '%s'", "table '%s' is left behind"},
  add_column = {"added column '%s.%s'", "column '%s.%s' is missing"},
  drop_column = {"removed column '%s.%s'", "column '%s.%s' is left behind"},
  create_index = {"added index '%s' on '%s'", "index '%s' on '%s' is missing"},
  drop_index = {"removed index '%s' on '%s'", "index '%s' on '%s' is left behind"},
  add_constraint = {"added %s '%s' on '%s'", "%s '%s' on '%s' is missing"},
  drop_constraint = {"removed %s '%s' on '%s'", "%s '%s' on '%s' is left behind"},
}
for k, w in pairs(enums.phrases) do phrases[k] = w end

-- An operation in words: phrases[kind][which], or for an alter_column the
-- column and its changes, each told by change(field, target value, live value).
local function tell(op, which, column, change)
  local w = phrases[op.kind]
  if w then return w[which]:format(subject(op)) end
  local parts = {}
  for _, field in ipairs({"type", "nullable", "default", "comment"}) do
    local c = op.changes[field]
    if c then parts[#parts + 1] = change(field, show(c[1]), show(c[2])) end
  end
  return column:format(op.table, op.column, table.concat(parts, ", "))
end

function M.describe(op)
  return tell(op, 1, "changed column '%s.%s': %s", function(field, target, live)
    return ("%s %s -> %s"):format(field, target, live)
  end)
end

function M.describe_leftover(op)
  return tell(op, 2, "column '%s.%s' differs: %s", function(field, target, live)
    return ("%s was %s, is %s"):format(field, live, target)
  end)
end

M.common = common
return M
