-- luamig.op.apply -- running what the operations build: each statement on
-- the connection (online) or handed to emit, parameters inlined (offline);
-- and a list of changes to one table applied per dialect: plain DDL on
-- PostgreSQL, on SQLite ALTER TABLE where it can and a move-and-copy
-- rebuild (luamig.op.sqlite_rebuild) where it cannot.
local sqltext = require "luamig.sqltext"
local check = require "luamig.op.check"
local offline = require "luamig.op.offline"
local rebuild = require "luamig.op.sqlite_rebuild"
check.mark_internal()
local raise = check.raise

local M = {}

-- Run one statement (online) or hand it to emit (offline).
local function run(ctx, sql, params)
  if ctx.conn then
    local res = ctx.conn:exec(sql, params)
    ctx.statements = (ctx.statements or 0) + 1        -- ran: counted for op.autocommit_block's log line
    return res
  end
  ctx.statements = (ctx.statements or 0) + 1
  if params then
    local ok, out = pcall(sqltext.inline, sql, params, function(v, n)
      local ok2, lit = pcall(ctx.d.param_literal, v)
      if not ok2 then error(("parameter $%d: %s"):format(n, lit), 0) end
      return lit
    end, ctx.d.name)
    if not ok then raise("execute: " .. out) end
    sql = out
  end
  sql = sql:gsub("[%s;]+$", "")
  -- a statement ending in a comment gets a newline, or the ";" after it
  -- would be commented out (only "--" or "*/" can end one: no tokenizing else)
  if sql:find("--", 1, true) or sql:find("*/", 1, true) then
    local toks = sqltext.tokens(sql, ctx.d.name)
    if #toks > 0 and toks[#toks].e < #sql then sql = sql .. "\n" end
  end
  ctx.emit(sql, "statement")
end

local function run_all(ctx, stmts)
  for _, s in ipairs(stmts) do run(ctx, s) end
end

-- PostgreSQL: every change is plain DDL.
local function pg_apply(ctx, tname, ch)
  if ch.kind == "add_column" or ch.kind == "alter_column" then       -- an enum type made first
    require("luamig.op.enum").ensure(ctx, ch.enum or ch.column and ch.column.enum,
      ('%s "%s", column "%s"'):format(ch.kind, tname, ch.name or ch.column.name))
  end
  if ch.kind == "add_column" then
    run(ctx, ctx.d.add_column_sql(tname, ch.column, ch.opts))
    local e = ch.extra
    if e.pk then run(ctx, ctx.d.add_constraint_sql(tname, "primary", e.pk)) end
    if e.unique then run(ctx, ctx.d.add_constraint_sql(tname, "unique", e.unique)) end
    if e.foreign_key then run(ctx, ctx.d.add_constraint_sql(tname, "foreign", e.foreign_key)) end
    if e.check then run(ctx, ctx.d.add_constraint_sql(tname, "check", e.check)) end
    if ch.column.comment then run(ctx, ctx.d.comment_sql("COLUMN", tname, ch.column.name, ch.column.comment)) end
    if ch.index then run(ctx, ctx.d.create_index_sql(ch.index)) end
  elseif ch.kind == "drop_column" then
    run(ctx, ctx.d.drop_column_sql(tname, ch.name, ch.opts))
  elseif ch.kind == "alter_column" then
    if ch.enum and ch.type then                                        -- the default dropped around it
      local stmts
      stmts, ch = require("luamig.op.enum").alter_type_sql(ctx, tname, ch)
      run_all(ctx, stmts)
    end
    run_all(ctx, ctx.d.alter_column_sql(tname, ch.name, ch))
  elseif ch.kind == "add_constraint" then
    -- if_not_exists (PostgreSQL has no ADD CONSTRAINT IF NOT EXISTS): the
    -- catalog asked online; --sql writes the plain statement
    if ch.if_not_exists and ctx.conn and require("luamig.op.safe").constraint_exists(ctx, tname, ch.constraint.name) then
      return ctx.log("info", ('constraint "%s" on "%s" exists already; skipped (if_not_exists)'):format(ch.constraint.name, tname))
    end
    run(ctx, ctx.d.add_constraint_sql(tname, ch.ctype, ch.constraint))
  elseif ch.kind == "drop_constraint" then
    run(ctx, ctx.d.drop_constraint_sql(tname, ch.name, ch.opts))
  elseif ch.kind == "validate_constraint" then
    if ch.if_exists and ctx.conn and not require("luamig.op.safe").constraint_exists(ctx, tname, ch.name) then
      return ctx.log("info", ('constraint "%s" on "%s" does not exist; not validated (if_exists)'):format(ch.name, tname))
    end
    run(ctx, ctx.d.validate_constraint_sql(tname, ch.name))
  elseif ch.kind == "create_index" then
    run(ctx, ctx.d.create_index_sql(ch.index, ch.opts))
  elseif ch.kind == "drop_index" then
    run(ctx, ctx.d.drop_index_sql(ch.name, ch.opts))
  end
end

-- SQLite: does this alter_column change what only a rebuild can (the
-- nullability, type, default or position)? A rename or a comment does not.
local function alter_reshapes(ch)
  return ch.nullable ~= nil or ch.type or ch.default ~= nil or ch.insert_before or ch.insert_after
end

-- SQLite: can ALTER TABLE do this change alone?
local function sqlite_native(ctx, ch)
  if ch.kind == "add_column" then
    local e = ch.extra
    return not e.pk and not e.unique and (ch.column.nullable or ch.column.default ~= nil)
      and ctx.d.add_column_default_ok(ch.column.default) and not ch.opts.insert_before
      and not ch.opts.insert_after
  elseif ch.kind == "alter_column" then
    return not alter_reshapes(ch)
  end
  return ch.kind == "create_index" or ch.kind == "drop_index"
end

local function sqlite_columns(ctx, tname)
  local cols = {}
  for _, r in ipairs(ctx.conn:query("SELECT name FROM pragma_table_info($1)", {tname})) do cols[r.name] = true end
  return cols
end

-- After a column rename, make a change waiting for the rebuild refer to the new name.
local function rename_refs(ch, old, new)
  local function list(l)
    if not l then return end
    for i, c in ipairs(l) do if c == old then l[i] = new end end
  end
  if (ch.kind == "alter_column" or ch.kind == "drop_column") and ch.name == old then ch.name = new end
  for _, holder in ipairs({ch, ch.opts or {}}) do
    if holder.insert_before == old then holder.insert_before = new end
    if holder.insert_after == old then holder.insert_after = new end
  end
  if ch.constraint then list(ch.constraint.columns) end
  if ch.index then list(ch.index.columns) end
end

-- SQLite: the changes in the order written, as on PostgreSQL. Renames,
-- index changes and plain ALTERs run as they come; the others gather
-- into one move-and-copy rebuild, run before the next change that must
-- see its result (so that add_column x, then renaming x, works).
local function sqlite_apply(ctx, opname, tname, changes, recreate)
  local needs_rebuild = recreate == "always"
  for _, ch in ipairs(changes) do
    if not sqlite_native(ctx, ch) then needs_rebuild = true end
    if ch.kind == "add_column" and ch.opts.if_not_exists or ch.kind == "drop_column" and ch.opts.if_exists then
      if not ctx.conn then raise(opname .. ": if_exists/if_not_exists on SQLite cannot be decided in --sql (offline) mode") end
    end
  end
  if needs_rebuild and recreate == "never" then
    raise(('%s: SQLite cannot do this with ALTER TABLE, and recreate = "never" forbids a rebuild of "%s"'):format(opname, tname))
  end
  local model = ctx.known and ctx.known[tname]
  local rctx = {conn = ctx.conn, d = ctx.d, log = ctx.log, raise = raise, opname = opname}
  -- pending: changes for the next rebuild; after: {index, opts} to create
  -- right after it (create_index written after pending changes); column_indexes:
  -- the indexes of columns it adds
  local pending, after, column_indexes, rebuilt = {}, {}, {}, false

  local function flush(force)
    if #pending == 0 and not force then return end
    if not ctx.conn then
      local only_drops = true
      for _, ch in ipairs(pending) do if ch.kind ~= "drop_column" then only_drops = false end end
      if model then
        -- a table this run made: rebuild it from its model, unless raw SQL touched it
        offline.check_raw(ctx, opname, tname)
        rctx.taken = function(name) return offline.taken(ctx, name) end
        local stmts
        stmts, model = rebuild.offline(rctx, model, pending)
        ctx.known[tname] = model
        run_all(ctx, stmts)
      elseif only_drops and recreate ~= "always" then
        -- offline: SQLite 3.35's own DROP COLUMN (it refuses indexed or constrained columns)
        for _, ch in ipairs(pending) do run(ctx, ctx.d.drop_column_sql(tname, ch.name)) end
      else
        raise(('%s: on SQLite this rebuilds table "%s" from its live definition, '
          .. "which --sql (offline) mode cannot read (batch_alter_table's copy_from can give it)"):format(opname, tname))
      end
    else
      rebuild.run(rctx, tname, pending)
    end
    pending, rebuilt = {}, true
    for _, list in ipairs({after, column_indexes}) do
      for _, ixo in ipairs(list) do
        run(ctx, ctx.d.create_index_sql(ixo[1], ixo[2]))
        offline.remember_index(ctx, ixo[1])
      end
    end
    after, column_indexes = {}, {}
  end

  -- A rename while changes wait for the rebuild: renaming first and
  -- making the waiting changes say the new name is the same, and keeps
  -- one rebuild, unless a waiting change adds, drops or reads either name.
  -- A column the waiting changes add is renamed before it is made.
  local function rename(old, new)
    local added, conflict = nil, #after > 0
    for _, ch in ipairs(pending) do
      if ch.kind == "add_column" then
        if ch.column.name == old and not added then added = ch
        elseif ch.column.name == old or ch.column.name == new then conflict = true end
      elseif ch.kind == "drop_column" and (ch.name == old or ch.name == new) then
        conflict = true
      elseif ch.kind == "add_constraint" and ch.ctype == "check" then
        for _, t in ipairs(sqltext.tokens(ch.constraint.condition)) do
          if (t.k == "word" or t.k == "ident") and (t.v == old or t.v == new) then conflict = true end
        end
      end
    end
    if conflict then flush() end
    if added and not conflict then
      added.column.name = new
      local e = added.extra
      for _, c in ipairs({e.pk or {}, e.unique or {}, e.foreign_key or {}, added.index or {}}) do
        for i, cn in ipairs(c.columns or {}) do if cn == old then c.columns[i] = new end end
      end
    else
      run(ctx, ctx.d.rename_column_sql(tname, old, new))
      if model then rebuild.rename_column(model, old, new) end
    end
    for _, ch in ipairs(pending) do rename_refs(ch, old, new) end
  end

  for _, ch in ipairs(changes) do
    if #after > 0 and not (ch.kind == "create_index"
                           or ch.kind == "alter_column" and not ch.new_name and not alter_reshapes(ch)) then
      flush()                       -- an index waiting for the rebuild must exist before what follows
    end
    if ctx.conn and ch.opts and (ch.kind == "add_column" and ch.opts.if_not_exists
                             or ch.kind == "drop_column" and ch.opts.if_exists) then
      flush()
      local existing = sqlite_columns(ctx, tname)
      if ch.kind == "add_column" and existing[ch.column.name] or ch.kind == "drop_column" and not existing[ch.name] then
        goto next_change
      end
    end
    if ch.kind == "drop_index" then
      flush()
      run(ctx, ctx.d.drop_index_sql(ch.name, ch.opts))
      offline.forget_index(ctx, tname, ch.name)
    elseif ch.kind == "create_index" then
      if #pending > 0 then
        after[#after + 1] = {ch.index, ch.opts}     -- created right after the rebuild
      else
        run(ctx, ctx.d.create_index_sql(ch.index, ch.opts))
        offline.remember_index(ctx, ch.index)
      end
    elseif ch.kind == "alter_column" then
      if ch.comment ~= nil then ctx.log("info", ("%s: SQLite has no column comments; comment ignored"):format(opname)) end
      if alter_reshapes(ch) then pending[#pending + 1] = ch end
      if ch.new_name then rename(ch.name, ch.new_name) end
    elseif ch.kind == "add_column" then
      if needs_rebuild then
        pending[#pending + 1] = ch
        if ch.index then column_indexes[#column_indexes + 1] = {ch.index} end
      else
        local e = ch.extra
        run(ctx, ctx.d.add_column_sql(tname, ch.column, e.foreign_key, e.check))
        if model then model = rebuild.apply(rctx, model, {ch}, true); ctx.known[tname] = model end
        if ch.index then
          run(ctx, ctx.d.create_index_sql(ch.index))
          offline.remember_index(ctx, ch.index)
        end
      end
    elseif ch.kind == "drop_column" or ch.kind == "add_constraint" or ch.kind == "drop_constraint" then
      pending[#pending + 1] = ch
    end
    ::next_change::
  end
  flush(recreate == "always" and not rebuilt)
end

-- Offline on PostgreSQL: keep the run's model of the table up to date
-- (bulk_insert reads its columns); a model that cannot follow is dropped.
local function pg_track(ctx, opname, tname, ch)
  local model = ctx.known and ctx.known[tname]
  if not model or ch.kind == "validate_constraint" then return end
  local ok = pcall(function()
    local rctx = {d = ctx.d, raise = function(m) error(m, 0) end, opname = opname}
    if ch.kind == "create_index" then offline.remember_index(ctx, ch.index)
    elseif ch.kind == "drop_index" then offline.forget_index(ctx, tname, ch.name)
    elseif ch.kind ~= "alter_column" or ch.nullable ~= nil or ch.type or ch.default ~= nil then
      model = rebuild.apply(rctx, model, {ch}, ch.kind == "add_column")
    end
    if ch.kind == "alter_column" and ch.new_name then rebuild.rename_column(model, ch.name, ch.new_name) end
    ctx.known[tname] = model
    if ch.kind == "add_column" and ch.index then offline.remember_index(ctx, ch.index) end
  end)
  if not ok then ctx.known[tname] = nil end
end

local function apply_changes(ctx, opname, tname, changes, recreate)
  if ctx.sqlite then return sqlite_apply(ctx, opname, tname, changes, recreate or "auto") end
  for _, ch in ipairs(changes) do
    pg_apply(ctx, tname, ch)
    pg_track(ctx, opname, tname, ch)
  end
end


M.run = run
M.run_all = run_all
M.apply_changes = apply_changes
return M
