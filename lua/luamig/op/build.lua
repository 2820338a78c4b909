-- luamig.op.build -- the models the operations make from their arguments:
-- columns, constraints (named by the naming convention), indexes, a new
-- table, and the change records that luamig.op.apply runs. Nothing here
-- touches the database; ctx is the op object's context (luamig.op.new).
local common = require "luamig.dialect.common"
local check = require "luamig.op.check"
local enum = require "luamig.dialect.enum"
local enum_op = require "luamig.op.enum"
check.mark_internal()

local raise, describe, check_arg, check_options = check.raise, check.describe, check.check_arg, check.check_options
local as_list, keyword, sql_text, parse_references = check.as_list, check.keyword, check.sql_text,
  check.parse_references
local fk_action_names, initially_names, match_names = check.fk_action_names, check.initially_names, check.match_names
local ALIASES, COLUMN_SPEC, SPEC, CONSTRAINT_TYPES = check.ALIASES, check.COLUMN_SPEC, check.SPEC,
  check.CONSTRAINT_TYPES

local function name_for(ctx, opname, kind, info)
  local name, why = common.convention_name(ctx.convention, kind, info)
  if not name then raise(("%s: no name given, and %s"):format(opname, why)) end
  return name
end

local function check_type(ctx, opname, t, column)
  local norm, why = common.normalize_type(t)
  if norm then why = ctx.d.type_refused(norm); if why then norm = nil end end
  if not norm then
    raise(opname .. ": " .. (column and ('column "%s": '):format(column) or "") .. why)
  end
  return norm
end

local function default_sql(ctx, opname, v)
  if v == nil or v == common.NULL then return v end
  local ok, s = pcall(ctx.d.default_sql, v)
  if not ok then raise(opname .. ": default: " .. s) end
  return s
end

-- An option keyword as the model keeps it: nil for the database's default
-- (NO ACTION, IMMEDIATE, SIMPLE), which the rendered SQL then leaves out.
local function model_keyword(opname, optname, v, allowed, default)
  local k = keyword(opname, optname, v, allowed)
  if k == default then return nil end
  return k
end


-- A column spec {name, type, ...} -> column model and the constraints it declares.
--   table_columns: the names of the table's columns (a check's name under
--   the "postgresql" convention depends on those its condition uses)
local function column_from_spec(ctx, opname, tname, spec, argn, table_columns)
  if type(spec) ~= "table" or common.is_raw(spec) or type(spec[1]) ~= "string" or spec[1] == "" then
    raise(("%s: argument %d: a column is {name, type, options...}, got %s"):format(opname, argn, describe(spec)))
  end
  local name = spec[1]
  local opts = {}
  for k, v in pairs(spec) do if k ~= 1 and k ~= 2 then opts[k] = v end end
  opts = check_options(opname .. " (column " .. name .. ")", opts, COLUMN_SPEC, ALIASES, argn, "column")
  local ctype = spec[2]
  if ctype == nil then ctype = opts.type_ end
  local enum_t = enum.is_enum(ctype) and ctype or nil
  if type(ctype) ~= "string" and not enum_t then
    raise(('%s: column "%s": the type (second element) must be a string or op.enum(...), got %s'):format(opname, name, describe(ctype)))
  end
  local col = {name = name, type = enum_t and "" or check_type(ctx, opname, ctype, name), nullable = opts.nullable ~= false,
               default = default_sql(ctx, opname, opts.server_default), autoincrement = false,
               comment = opts.comment}
  local extra = {primary_key = opts.primary_key, autoincrement = opts.autoincrement, index = opts.index}
  if opts.primary_key then col.nullable = false end
  if opts.unique then
    extra.unique = {name = name_for(ctx, opname, "uq", {table = tname, columns = {name}}), columns = {name}}
  end
  if opts.references then
    local rt, rc = parse_references(opts.references)
    if not rt then raise(('%s: column "%s": references must be "table.column", got %q'):format(opname, name, opts.references)) end
    extra.foreign_key = {columns = {name}, ref_table = rt, ref_columns = rc,
      on_delete = model_keyword(opname, "ondelete", opts.ondelete, fk_action_names, "NO ACTION"),
      on_update = model_keyword(opname, "onupdate", opts.onupdate, fk_action_names, "NO ACTION")}
    extra.foreign_key.name = name_for(ctx, opname, "fk", {table = tname, columns = {name},
      referred_table = rt, referred_columns = rc})
  elseif opts.ondelete or opts.onupdate then
    raise(('%s: column "%s": ondelete/onupdate need references'):format(opname, name))
  end
  if opts.check then
    extra.check = {name = name_for(ctx, opname, "ck", {table = tname, columns = {name}, constraint_name = name,
                                                       condition = table_columns and sql_text(opts.check),
                                                       table_columns = table_columns}),
                   condition = sql_text(opts.check)}
  end
  if enum_t then                            -- op/enum.lua: the type's name, or SQLite's string and CHECK
    local ck
    col.type, ck = enum_op.column(ctx, enum_t, name, tname, function(k, i) return name_for(ctx, opname, k, i) end)
    col.enum = enum_t
    if ck and extra.check then raise(('%s: column "%s": an op.enum column on SQLite is its CHECK; give the other check at table level'):format(opname, name)) end
    extra.check = ck or extra.check
  end
  return col, extra
end

local function fk_from_opts(ctx, opname, c, opts)
  c.on_delete = model_keyword(opname, "ondelete", opts.ondelete, fk_action_names, "NO ACTION")
  c.on_update = model_keyword(opname, "onupdate", opts.onupdate, fk_action_names, "NO ACTION")
  c.deferrable = opts.deferrable or nil
  c.initially = model_keyword(opname, "initially", opts.initially, initially_names, "IMMEDIATE")
  c.match = model_keyword(opname, "match", opts.match, match_names, "SIMPLE")
  return c
end

-- A unique constraint of the model (create_table's entry, create_unique_constraint).
local function unique_model(ctx, opname, tname, name, cols, o)
  return {name = name or name_for(ctx, opname, "uq", {table = tname, columns = cols}), columns = cols,
          deferrable = o.deferrable or nil,
          initially = model_keyword(opname, "initially", o.initially, initially_names, "IMMEDIATE")}
end

-- A table-level constraint entry of create_table.
local TABLE_CONSTRAINT_SPEC = {
  primary_key = {primary_key = "names", name = "optname"},
  unique = {unique = "names", name = "optname", deferrable = "boolean", initially = "string"},
  foreign_key = {foreign_key = "names", references = "references", name = "optname",
    ondelete = "string", onupdate = "string", deferrable = "boolean", initially = "string",
    match = "string"},
  check = {check = "sql", name = "optname"},
}
local function table_constraint(ctx, opname, tname, entry, argn, table_columns)
  local kind
  for k in pairs(TABLE_CONSTRAINT_SPEC) do if entry[k] ~= nil then kind = k; break end end
  if not kind then
    raise(("%s: argument %d: an entry is a column {name, type, ...} or a constraint "
      .. "{primary_key = ...}, {unique = ...}, {foreign_key = ..., references = ...} or {check = ...}"):format(opname, argn))
  end
  local what = opname .. " (" .. kind .. " constraint)"
  local o = check_options(what, entry, TABLE_CONSTRAINT_SPEC[kind], ALIASES, argn, "constraint")
  if kind == "check" then
    local name = o.name or name_for(ctx, what, "ck", {table = tname, condition = sql_text(o.check),
                                                       table_columns = table_columns})
    return "check", {name = name, condition = sql_text(o.check)}
  end
  local cols = as_list(o[kind])
  if kind == "primary_key" then
    return "primary", {name = o.name or name_for(ctx, what, "pk", {table = tname, columns = cols}), columns = cols}
  elseif kind == "unique" then
    return "unique", unique_model(ctx, what, tname, o.name, cols, o)
  else
    if not o.references then raise(what .. ': needs references = {"table", {columns}}') end
    local rt, rc = parse_references(o.references)
    if not rt then raise(('%s: references must be {"table", {columns}} or "table.column", got %q'):format(what, o.references)) end
    if #rc ~= #cols then
      raise(("%s: %d local column(s) but %d referenced"):format(what, #cols, #rc))
    end
    local c = fk_from_opts(ctx, what, {columns = cols, ref_table = rt, ref_columns = rc}, o)
    c.name = o.name or name_for(ctx, what, "fk", {table = tname, columns = cols, referred_table = rt,
                                              referred_columns = rc})
    return "foreign", c
  end
end

-- The index model: luamig.op.index.
-- PostgreSQL's own index name counts the INCLUDE columns too
-- (ChooseIndexColumnNames): the info carries them for the "postgresql"
-- convention; the patterns' tokens do not use them.
local function index_model(ctx, opname, name, tname, columns, o)
  local function ix_name_for(c, op_name, kind, info)
    info.include = o.include and as_list(o.include) or nil
    return name_for(c, op_name, kind, info)
  end
  return require("luamig.op.index").model(ctx, opname, name, tname, columns, o, ix_name_for)
end

---------------------------------------------------------------------------
-- Changes to one table: what add_column, alter_column, the constraint
-- operations and batch_alter_table have in common. Each builder checks
-- its arguments and returns a change; apply_changes runs a list of them.

local build = {}

-- The column names of a table add_column adds to, with the new one: from
-- the run's models offline, the database online; nil when unknown (a --sql
-- range that starts after the table was made).
local function columns_with(ctx, tname, spec)
  local t = ctx.known and ctx.known[tname]
  if not t and ctx.conn then t = require("luamig.introspect").table(ctx.conn, tname) end
  if not t or type(spec) ~= "table" or type(spec[1]) ~= "string" then return nil end
  local names = {}
  for i, c in ipairs(t.columns) do names[i] = c.name end
  names[#names + 1] = spec[1]
  return names
end

function build.add_column(ctx, opname, tname, pos, spec, opts)
  local table_columns = type(spec) == "table" and spec.check ~= nil and type(ctx.convention.ck) == "function"
    and columns_with(ctx, tname, spec) or nil
  local col, extra = column_from_spec(ctx, opname, tname, spec, pos.column, table_columns)
  local o = check_options(opname, opts, SPEC.add_column, ALIASES, pos.options)
  local ch = {kind = "add_column", column = col, extra = extra, opts = o}
  if extra.primary_key then
    extra.pk = {name = name_for(ctx, opname, "pk", {table = tname, columns = {col.name}}), columns = {col.name}}
  end
  if extra.index then
    ch.index = index_model(ctx, opname, nil, tname, {col.name}, {})
  end
  return ch
end

function build.drop_column(ctx, opname, tname, pos, name, opts)
  check_arg(opname, pos.column, "column", name, "name")
  return {kind = "drop_column", name = name, opts = check_options(opname, opts, SPEC.drop_column, ALIASES, pos.options)}
end

function build.alter_column(ctx, opname, tname, pos, name, changes)
  check_arg(opname, pos.column, "column", name, "name")
  local o = check_options(opname, changes, SPEC.alter_column, ALIASES, pos.changes, "changes")
  local ch = {kind = "alter_column", name = name, nullable = o.nullable, new_name = o.new_column_name,
              comment = o.comment, using = sql_text(o.using),
              insert_before = o.insert_before, insert_after = o.insert_after}
  if ctx.on_rename and (o.new_column_name or o.using) then
    ctx.on_rename(('%s "%s"."%s"%s'):format(opname, tname, name, o.new_column_name
      and (' to "%s"'):format(o.new_column_name) or " with USING"), check.caller_line())
  end
  if enum.is_enum(o.type_) then             -- op/enum.lua makes the type; PostgreSQL casts through text
    if ctx.sqlite then
      raise(('%s: column "%s": on SQLite an enum column is a string with a CHECK constraint: change the '
        .. 'type to "string(N)" and add the check with create_check_constraint (doc/op.md, "Enums")'):format(opname, name))
    end
    ch.type, ch.enum = enum_op.column(ctx, o.type_, name, tname, function() return nil end), o.type_
    if not ctx.sqlite and not ch.using then ch.using = ctx.d.ident(name) .. "::text::" .. ch.type end
  elseif o.type_ then ch.type = check_type(ctx, opname, o.type_, name) end
  if o.server_default ~= nil then ch.default = default_sql(ctx, opname, o.server_default) end
  return ch
end

function build.create_index(ctx, opname, tname, pos, name, columns, opts)
  check_arg(opname, pos.name, "name", name, "optname")
  check_arg(opname, pos.columns, "columns", columns, "index_columns")
  local o = check_options(opname, opts, SPEC.create_index, ALIASES, pos.options)
  local ix = index_model(ctx, opname, name, tname, columns, o)
  require("luamig.op.index").check_run(ctx, opname, ix, o.concurrently)
  return {kind = "create_index", index = ix,
          opts = {concurrently = o.concurrently, if_not_exists = o.if_not_exists}}
end

function build.drop_index(ctx, opname, tname, pos, name, opts)
  check_arg(opname, pos.name, "name", name, "name")
  local o = check_options(opname, opts, SPEC.drop_index, ALIASES, pos.options)
  require("luamig.op.index").check_drop(ctx, opname, o.concurrently)
  return {kind = "drop_index", name = name, opts = o}
end

function build.create_unique_constraint(ctx, opname, tname, pos, name, cols, opts)
  check_arg(opname, pos.name, "name", name, "optname")
  local o = check_options(opname, opts, SPEC.create_unique_constraint, ALIASES, pos.options)
  local safe = require "luamig.op.safe"
  local ine = safe.if_not_exists(ctx, opname, o)
  local using = safe.using_index(ctx, opname, pos, name, cols, o)
  if using then return {kind = "add_constraint", ctype = "unique", constraint = using, if_not_exists = ine} end
  check_arg(opname, pos.columns, "columns", cols, "names")
  cols = as_list(cols)
  return {kind = "add_constraint", ctype = "unique", constraint = unique_model(ctx, opname, tname, name, cols, o),
          if_not_exists = ine}
end

function build.create_primary_key(ctx, opname, tname, pos, name, cols)
  check_arg(opname, pos.name, "name", name, "optname")
  check_arg(opname, pos.columns, "columns", cols, "names")
  cols = as_list(cols)
  return {kind = "add_constraint", ctype = "primary",
          constraint = {name = name or name_for(ctx, opname, "pk", {table = tname, columns = cols}), columns = cols}}
end

function build.create_foreign_key(ctx, opname, tname, pos, name, referent, local_cols, remote_cols, opts)
  check_arg(opname, pos.name, "name", name, "optname")
  check_arg(opname, pos.referent, "referent", referent, "name")
  check_arg(opname, pos.local_cols, "local_cols", local_cols, "names")
  check_arg(opname, pos.remote_cols, "remote_cols", remote_cols, "names")
  local o = check_options(opname, opts, SPEC.create_foreign_key, ALIASES, pos.options)
  local lc, rc = as_list(local_cols), as_list(remote_cols)
  if #lc ~= #rc then raise(("%s: %d local column(s) but %d remote"):format(opname, #lc, #rc)) end
  local c = fk_from_opts(ctx, opname, {columns = lc, ref_table = referent, ref_columns = rc}, o)
  c.name = name or name_for(ctx, opname, "fk", {table = tname, columns = lc, referred_table = referent,
                                            referred_columns = rc})
  return {kind = "add_constraint", ctype = "foreign", constraint = require("luamig.op.safe").not_valid(ctx, opname, c, o),
          if_not_exists = require("luamig.op.safe").if_not_exists(ctx, opname, o)}
end

function build.create_check_constraint(ctx, opname, tname, pos, name, condition, opts)
  check_arg(opname, pos.name, "name", name, "optname")
  check_arg(opname, pos.condition, "condition", condition, "sql")
  local o = check_options(opname, opts, SPEC.create_check_constraint, ALIASES, pos.options)
  return {kind = "add_constraint", ctype = "check", constraint = require("luamig.op.safe").not_valid(ctx, opname,
          {name = name or name_for(ctx, opname, "ck", {table = tname, condition = sql_text(condition)}),
           condition = sql_text(condition)}, o), if_not_exists = require("luamig.op.safe").if_not_exists(ctx, opname, o)}
end

function build.validate_constraint(ctx, opname, tname, pos, name, opts)
  return require("luamig.op.safe").validate(ctx, opname, tname, pos, name, opts)
end

function build.drop_constraint(ctx, opname, tname, pos, name, opts)
  check_arg(opname, pos.name, "name", name, "name")
  local o = check_options(opname, opts, SPEC.drop_constraint, ALIASES, pos.options)
  local ctype
  if o.type_ then
    ctype = CONSTRAINT_TYPES[o.type_]
    if not ctype then
      raise(('%s: option "type_" must be one of check, foreignkey, primary, unique, got %q'):format(opname, o.type_))
    end
  end
  return {kind = "drop_constraint", name = name, ctype = ctype, opts = o}
end

-- Which column of a new table auto-increments: SQLAlchemy 1.4's rules for
-- autoincrement = "auto" (PrimaryKeyConstraint._autoincrement_column, and
-- the PostgreSQL dialect's column specification), with IDENTITY where
-- SQLAlchemy writes SERIAL (doc/op.md, "Auto-increment"):
--   * a single-column integer, bigint or smallint primary key, unless
--     autoincrement = false, it has a server default, or it is a column of
--     a foreign key (then it is "INTEGER NOT NULL", its default kept);
--   * autoincrement = true on a primary key column (one of a composite key
--     too) or, luamig's own, on any integer column: IDENTITY on PostgreSQL
--     even with a foreign key; refused with a default (SQLAlchemy drops the
--     default without a word) or on a type that is not an integer.
-- SQLite: a single-column INTEGER primary key is the rowid whatever is
-- declared (SQLite decides, not the DDL); the flag only records it.
local INTEGER_TYPES = {integer = true, bigint = true, smallint = true}
local function autoincrement(ctx, opname, t, pk_cols, autoinc)
  local in_fk = {}
  for _, f in ipairs(t.foreign_keys) do for _, c in ipairs(f.columns) do in_fk[c] = true end end
  for _, col in ipairs(t.columns) do
    if autoinc[col] == true then
      if not INTEGER_TYPES[col.type] then
        raise(('%s: column "%s": autoincrement = true needs an integer, bigint or smallint column, not %s')
          :format(opname, col.name, col.type))
      end
      if col.default ~= nil then
        raise(('%s: column "%s": autoincrement = true and a default: an identity column has no default; '
          .. 'drop one of them'):format(opname, col.name))
      end
    end
  end
  local single = #pk_cols == 1 and pk_cols[1]
  for _, col in ipairs(t.columns) do
    if ctx.sqlite then
      if autoinc[col] == true and col.name ~= single and #pk_cols > 1 then
        for _, pc in ipairs(pk_cols) do
          if pc == col.name then
            raise(('%s: column "%s": autoincrement = true on a column of a composite primary key: SQLite '
              .. 'auto-increments only a single INTEGER PRIMARY KEY (its rowid)'):format(opname, col.name))
          end
        end
      end
      col.autoincrement = col.name == single and col.type == "integer" and autoinc[col] ~= false
    elseif autoinc[col] == true then
      col.autoincrement = true
    elseif col.name == single and autoinc[col] == nil then
      col.autoincrement = INTEGER_TYPES[col.type] and col.default == nil and not in_fk[col.name] or false
    end
  end
end

-- The model of a new table (create_table's columns and constraints).
function build.table_model(ctx, opname, name, items, o)
  local t = {name = name, columns = {}, uniques = {}, foreign_keys = {}, checks = {}, indexes = {},
             comment = o.comment}
  local pk_cols, pk_name, autoinc = {}, nil, {}
  local seen, column_names = {}, {}
  for _, entry in ipairs(items) do
    if type(entry) == "table" and type(entry[1]) == "string" then column_names[#column_names + 1] = entry[1] end
  end
  for i, entry in ipairs(items) do
    if type(entry) ~= "table" then
      raise(("%s: argument 2, entry %d: expected a column or constraint table, got %s"):format(opname, i, describe(entry)))
    end
    if type(entry[1]) == "string" then
      local col, extra = column_from_spec(ctx, opname, name, entry, 2, column_names)
      if seen[col.name] then raise(('%s: column "%s" appears twice'):format(opname, col.name)) end
      seen[col.name] = true
      t.columns[#t.columns + 1] = col
      if extra.primary_key then pk_cols[#pk_cols + 1] = col.name end
      autoinc[col] = extra.autoincrement
      if extra.unique then t.uniques[#t.uniques + 1] = extra.unique end
      if extra.foreign_key then t.foreign_keys[#t.foreign_keys + 1] = extra.foreign_key end
      if extra.check then t.checks[#t.checks + 1] = extra.check end
      if extra.index then t.indexes[#t.indexes + 1] = index_model(ctx, opname, nil, name, {col.name}, {}) end
    else
      local kind, c = table_constraint(ctx, opname, name, entry, 2, column_names)
      if kind == "primary" then
        if #pk_cols > 0 or pk_name then raise(opname .. ": more than one primary key") end
        pk_cols, pk_name = c.columns, c.name
      elseif kind == "unique" then t.uniques[#t.uniques + 1] = c
      elseif kind == "foreign" then t.foreign_keys[#t.foreign_keys + 1] = c
      else t.checks[#t.checks + 1] = c end
    end
  end
  if #t.columns == 0 then raise(opname .. ": a table needs at least one column") end
  if #pk_cols > 0 then
    t.primary_key = {name = pk_name or name_for(ctx, opname, "pk", {table = name, columns = pk_cols}), columns = pk_cols}
    for _, col in ipairs(t.columns) do
      for _, pc in ipairs(pk_cols) do
        if pc == col.name then col.nullable = false end
      end
    end
  end
  autoincrement(ctx, opname, t, pk_cols, autoinc)
  local names = {}
  for _, c in ipairs(t.columns) do names[c.name] = true end
  local function check_cols(list, what)
    for _, cn in ipairs(list) do
      if not names[cn] then raise(('%s: %s names column "%s", which the table does not have'):format(opname, what, cn)) end
    end
  end
  if t.primary_key then check_cols(t.primary_key.columns, "the primary key") end
  for _, u in ipairs(t.uniques) do check_cols(u.columns, "unique constraint " .. u.name) end
  for _, f in ipairs(t.foreign_keys) do check_cols(f.columns, "foreign key " .. f.name) end
  return t
end

build.index_model = index_model
build.check_type = check_type
return build
