-- luamig.op.sqlite_rebuild -- what SQLite's ALTER TABLE cannot do (drop or
-- alter a column, add or drop a constraint, change the primary key), done
-- by SQLite's documented table rebuild (https://sqlite.org/lang_altertable.html,
-- "Making Other Kinds Of Table Schema Changes"), inside the step's
-- transaction. Nothing the operation does not mean to change may change:
--
--   foreign keys off for the swap (PRAGMA foreign_keys can only change
--   outside a transaction: when it is on inside one, the rebuild refuses);
--   SAVEPOINT, so that a failure leaves nothing behind, temp table included;
--   read the table (luamig.introspect), apply the changes to the model,
--   which checks them and says where each new column's values come from;
--   name the rows that would break a NOT NULL, CHECK or UNIQUE rule;
--   the new CREATE TABLE is the stored one, edited (edit_table), so every
--   clause the model cannot say (conflict clauses, DESC, COLLATE,
--   AUTOINCREMENT, STRICT, WITHOUT ROWID, expression defaults) is kept;
--   a CHECK goes with a dropped column only if SQLite says it reads it
--   (created on a probe table: "no such column");
--   save the table's indexes and triggers and every view, drop the views;
--   CREATE TABLE luamig_tmp_<t>, INSERT ... SELECT with the rowids,
--   DROP TABLE t, ALTER TABLE luamig_tmp_<t> RENAME TO t (legacy_alter_table
--   on, so that nothing else is rewritten); create the indexes again (one
--   goes only if SQLite says it reads a dropped column), then the views
--   and triggers; compile a statement firing each trigger of the schema
--   (a trigger body is checked only then) and refuse what would break one;
--   PRAGMA foreign_key_check on t and the tables referencing it;
--   RELEASE.
--
-- A name in double quotes that matches no column is a string to SQLite:
-- an object that says a dropped column so goes with it (index, CHECK) or
-- stops the rebuild (view, trigger), rather than silently reading 'name'.
--
-- This file executes the move-and-copy (M.run, live; M.offline, --sql);
-- the plan on the table model is luamig.op.sqlite_model, the edit of the
-- stored CREATE TABLE luamig.op.sqlite_table_sql, and what the live
-- database is asked before and after the copy luamig.op.sqlite_checks.
--
--   rebuild.run(ctx, table_name, changes)
--     ctx = {conn =, d = dialect, log = fn, raise = fn, opname = "drop_column"}
--     changes: the op layer's change records (add_column, drop_column,
--     alter_column, add_constraint, drop_constraint).
local introspect = require "luamig.introspect"
local sqltext = require "luamig.sqltext"
local model = require "luamig.op.sqlite_model"
local tablesql = require "luamig.op.sqlite_table_sql"
local checks = require "luamig.op.sqlite_checks"
local copy, find, mentions, apply, rowid_name = model.copy, model.find, model.mentions, model.apply, model.rowid_name
local column_segments, edit_table, render_table = tablesql.column_segments, tablesql.edit_table, tablesql.render_table
local precheck, check_without_rowid_pk, check_referenced = checks.precheck, checks.check_without_rowid_pk,
  checks.check_referenced
local quoted_mention, index_body, trigger_error = checks.quoted_mention, checks.index_body, checks.trigger_error
local fk_state, fk_text, free_name = checks.fk_state, checks.fk_text, checks.free_name

local M = {}

M.temp_prefix = "luamig_tmp_"
M.apply = apply
M.copy = copy
M.rename_column = model.rename_column

-- Offline (--sql), for a table whose model earlier operations of the same
-- run made: the rebuild as statements, without reading the database (so
-- without the row checks and without views and triggers, which only a
-- live database shows). Returns the statements and the new model.
function M.offline(ctx, model, changes)
  local d = ctx.d
  local tname = model.name
  local new, source = apply(ctx, model, changes)
  local dropped = {}
  for _, ch in ipairs(changes) do if ch.kind == "drop_column" then dropped[#dropped + 1] = ch.name end end
  local kept = {}
  for _, ix in ipairs(new.indexes or {}) do
    local gone = false
    for _, col in ipairs(dropped) do
      for _, e in ipairs(ix.columns) do
        if e == col or (type(e) == "table" and mentions(e.expr, col)) then gone = true end
      end
      if ix.where and mentions(ix.where, col) then gone = true end
    end
    if not gone then kept[#kept + 1] = ix end
  end
  new.indexes = kept
  check_without_rowid_pk(ctx, tname, model.primary_key and model.primary_key.columns,
    (model.options or ""):upper():find("WITHOUT ROWID") ~= nil, new.primary_key ~= nil, dropped)
  -- a name no object of the run has (a table already there makes CREATE TABLE fail, never lose it)
  local tmp, n = M.temp_prefix .. tname, 0
  while ctx.taken and ctx.taken(tmp) do n = n + 1; tmp = M.temp_prefix .. tname .. "_" .. n end
  local shape = copy(new)
  shape.name = tmp
  local stmts = {d.create_table_sql(shape)}
  local into, from = {}, {}
  -- rowids are kept, as online; a table whose INTEGER PRIMARY KEY is its rowid copies it anyway
  local pk = model.primary_key and model.primary_key.columns
  local alias = pk and #pk == 1 and select(2, find(model.columns, function(c) return c.name == pk[1] end))
  if not (model.options or ""):upper():find("WITHOUT ROWID") and not (alias and alias.type == "integer") then
    local names = {}
    for _, c in ipairs(model.columns) do names[#names + 1] = c.name end
    for _, c in ipairs(new.columns) do names[#names + 1] = c.name end
    local r = rowid_name(names)
    if r then into[1], from[1] = r, r end
  end
  for _, c in ipairs(new.columns) do
    if source[c.name] then into[#into + 1] = d.ident(c.name); from[#from + 1] = source[c.name] end
  end
  if #into > 0 then
    stmts[#stmts + 1] = ("INSERT INTO %s (%s) SELECT %s FROM %s"):format(d.ident(tmp), table.concat(into, ", "),
      table.concat(from, ", "), d.ident(tname))
  end
  stmts[#stmts + 1] = "DROP TABLE " .. d.ident(tname)
  stmts[#stmts + 1] = "PRAGMA legacy_alter_table = ON"
  stmts[#stmts + 1] = ("ALTER TABLE %s RENAME TO %s"):format(d.ident(tmp), d.ident(tname))
  stmts[#stmts + 1] = "PRAGMA legacy_alter_table = OFF"
  for _, ix in ipairs(new.indexes) do
    ix.table = tname
    stmts[#stmts + 1] = d.create_index_sql(ix)
  end
  return stmts, new
end

function M.run(ctx, tname, changes)
  local conn, d, raise, log = ctx.conn, ctx.d, ctx.raise, ctx.log
  local fk_on = conn:query("PRAGMA foreign_keys")[1].foreign_keys == 1
  if fk_on then
    if conn:in_transaction() then
      raise(('%s: rebuilding "%s" needs foreign keys off, but PRAGMA foreign_keys is ON inside the '
        .. "transaction (it can only change outside one)"):format(ctx.opname, tname))
    end
    conn:exec("PRAGMA foreign_keys = OFF")
  end
  local legacy = conn:query("PRAGMA legacy_alter_table")[1].legacy_alter_table
  conn:exec("SAVEPOINT luamig_rebuild")
  local ok, err = pcall(function()
    local old = introspect.table(conn, tname)
    if not old then raise(('%s: table "%s" does not exist'):format(ctx.opname, tname)) end
    if old.generated then raise(('%s: table "%s" has generated columns, which the rebuild cannot copy'):format(ctx.opname, tname)) end
    local new, source = apply(ctx, old, changes)
    log("info", ('%s: rebuilding SQLite table "%s" (move and copy)'):format(ctx.opname, tname))
    precheck(ctx, old, new, changes)
    local tmp = free_name(conn, M.temp_prefix .. tname)
    local probe = free_name(conn, "luamig_probe")

    -- the new CREATE TABLE: the stored one, edited
    local stored = conn:query("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = $1", {tname})[1].sql
    local ectx = {d = d, log = log, raise = raise, opname = ctx.opname, table = tname}
    function ectx.check_depends(defs, clause, dropped)
      local by = quoted_mention(clause, dropped)
      if by then return by end
      -- a TEMP table under a name free in both schemas, dropped right after
      local pok, perr = pcall(conn.exec, conn, ("CREATE TEMP TABLE %s (%s, %s)"):format(d.ident(probe), defs, clause))
      if pok then conn:exec("DROP TABLE temp." .. d.ident(probe)); return nil end
      local msg = tostring(type(perr) == "table" and perr.message or perr)
      local col = msg:match("no such column: (.*)$")
      if col then return col end
      raise(('%s: rebuilding "%s": cannot keep %s: %s'):format(ctx.opname, tname, clause, msg))
    end
    local shape, dropped = edit_table(ectx, stored, changes)
    check_referenced(ctx, old, dropped)
    do
      local without_rowid, has_pk = false, false
      for _, t in ipairs(sqltext.tokens(shape.tail)) do
        if sqltext.upper(t) == "ROWID" then without_rowid = true end
      end
      for _, p in ipairs(shape.parts) do
        if p.info.constraint == "PRIMARY" then has_pk = true end
        if p.info.column then
          for _, sg in ipairs(column_segments(p.text).segs) do if sg.kw == "PRIMARY" then has_pk = true end end
        end
      end
      check_without_rowid_pk(ctx, tname, old.primary_key and old.primary_key.columns, without_rowid, has_pk, dropped)
    end

    -- what lives on the table or may read it: indexes, triggers, views
    local indexes = conn:query([[SELECT name, sql FROM sqlite_schema
        WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL ORDER BY rowid]], {tname})
    local views = conn:query("SELECT name, sql FROM sqlite_schema WHERE type = 'view' ORDER BY rowid")
    local view_names = {[tname] = true}
    for _, v in ipairs(views) do view_names[v.name] = true end
    local triggers, all_triggers = {}, conn:query("SELECT name, tbl_name, sql FROM sqlite_schema WHERE type = 'trigger' ORDER BY rowid")
    for _, r in ipairs(all_triggers) do
      if view_names[r.tbl_name] then triggers[#triggers + 1] = r end
      r.broken_before = trigger_error(ctx, r)
    end
    local rowid_table = conn:query("SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = $1", {tname})[1].wr == 0

    -- AUTOINCREMENT's high-water mark, which DROP TABLE forgets
    local seq
    if old.sqlite_autoincrement then
      local sok, srows = pcall(conn.query, conn, "SELECT seq FROM main.sqlite_sequence WHERE name = $1", {tname})
      seq = sok and srows[1] and srows[1].seq or nil
    end

    -- A view or trigger that reads the table and says a dropped column in
    -- double quotes would go on working, reading the string instead
    -- (SQLite's own DROP COLUMN lets that happen): refuse.
    if #dropped > 0 then
      for _, list in ipairs({{views, "view"}, {all_triggers, "trigger"}}) do
        for _, v in ipairs(list[1]) do
          local by = mentions(v.sql, tname) and quoted_mention(v.sql, dropped)
          if by then
            raise(('%s: rebuilding "%s": %s "%s" says "%s" in double quotes; without the column SQLite would read '
              .. "it as the string '%s' and go on silently: drop or change the %s first (op.execute), "
              .. "then run this operation"):format(ctx.opname, tname, list[2], v.name, by, by, list[2]))
          end
        end
      end
    end

    for i = #views, 1, -1 do conn:exec("DROP VIEW " .. d.ident(views[i].name)) end
    conn:exec(render_table(shape, d.ident(tmp)))
    local into, from = {}, {}
    if rowid_table then
      -- keep every rowid: FTS external content and whatever else is keyed by it.
      -- Listed first, so that an INTEGER PRIMARY KEY column given after it wins.
      local new_cols = {}
      for _, r in ipairs(conn:query("SELECT name FROM pragma_table_xinfo($1)", {tmp})) do new_cols[#new_cols + 1] = r.name end
      local old_cols = {}
      for _, c in ipairs(old.columns) do old_cols[#old_cols + 1] = c.name end
      local to_name, from_name = rowid_name(new_cols), rowid_name(old_cols)
      if not (to_name and from_name) then
        raise(('%s: rebuilding "%s": its columns named rowid, _rowid_ and oid hide the rowid, which the copy '
          .. "must keep; rename one of them first"):format(ctx.opname, tname))
      end
      into[1], from[1] = to_name, from_name
    end
    for _, c in ipairs(new.columns) do
      if source[c.name] then
        into[#into + 1] = d.ident(c.name)
        from[#from + 1] = source[c.name]
      end
    end
    if #into > 0 then
      conn:exec(("INSERT INTO %s (%s) SELECT %s FROM %s"):format(d.ident(tmp), table.concat(into, ", "),
        table.concat(from, ", "), d.ident(tname)))
    end
    conn:exec("DROP TABLE " .. d.ident(tname))
    conn:exec("PRAGMA legacy_alter_table = ON")
    conn:exec(("ALTER TABLE %s RENAME TO %s"):format(d.ident(tmp), d.ident(tname)))
    conn:exec("PRAGMA legacy_alter_table = " .. (legacy == 1 and "ON" or "OFF"))
    local autoincrement = false
    for _, t in ipairs(sqltext.tokens(render_table(shape, ""))) do
      if sqltext.upper(t) == "AUTOINCREMENT" then autoincrement = true end
    end
    if seq and autoincrement then
      conn:exec("DELETE FROM main.sqlite_sequence WHERE name = $1", {tname})
      conn:exec("INSERT INTO main.sqlite_sequence (name, seq) VALUES ($1, $2)", {tname, seq})
    end
    -- every index comes back unless it uses a dropped column: SQLite says
    -- so when it is created again ("no such column")
    for _, ix in ipairs(indexes) do
      local by = quoted_mention(index_body(ix.sql), dropped)
      if not by then
        local iok, ierr = pcall(conn.exec, conn, ix.sql)
        if not iok then
          local msg = tostring(type(ierr) == "table" and ierr.message or ierr)
          by = #dropped > 0 and msg:match("no such column: (.*)$")
          if not by then
            raise(('%s: rebuilding "%s": index "%s" cannot be created again: %s'):format(ctx.opname, tname, ix.name, msg))
          end
        end
      end
      if by then log("info", ('%s: index "%s" goes with column "%s"'):format(ctx.opname, ix.name, by)) end
    end
    for _, v in ipairs(views) do
      -- CREATE VIEW does not check the columns it reads: selecting does
      -- (only views that name the table: another view's old troubles are not this step's)
      local vok, verr = pcall(conn.exec, conn, v.sql)
      if vok and mentions(v.sql, tname) then
        vok, verr = pcall(conn.query, conn, "SELECT 1 FROM " .. d.ident(v.name) .. " LIMIT 0")
      end
      if not vok then
        raise(('%s: rebuilding "%s": view "%s" no longer works: %s'):format(ctx.opname, tname, v.name, tostring(verr)))
      end
    end
    for _, tr in ipairs(triggers) do
      local tok, terr = pcall(conn.exec, conn, tr.sql)
      if not tok then
        raise(('%s: rebuilding "%s": trigger "%s" no longer works: %s'):format(ctx.opname, tname, tr.name, tostring(terr)))
      end
    end
    -- CREATE TRIGGER does not check the columns its body reads either:
    -- compiling a statement that fires it does. A trigger that worked
    -- before and does not now would break every later write.
    for _, tr in ipairs(all_triggers) do
      local terr = not tr.broken_before and trigger_error(ctx, tr)
      if terr then
        raise(('%s: rebuilding "%s": trigger "%s" on "%s" would no longer work: %s; drop or change the trigger '
          .. "first (op.execute), then run this operation"):format(ctx.opname, tname, tr.name, tr.tbl_name, terr))
      end
    end

    -- foreign keys: the table's own, and those of the tables referencing it
    local fk_after = fk_state(ctx, tname)
    local fk_before = {rows = {}}
    if fk_after.mismatch or #fk_after.order > 0 then
      -- were they so before? (the step fails either way: ask the old table)
      conn:exec("ROLLBACK TO luamig_rebuild")
      fk_before = fk_state(ctx, tname)
    end
    if fk_after.mismatch then
      raise(('%s: rebuilding "%s": %s%s'):format(ctx.opname, tname, fk_after.mismatch,
        fk_before.mismatch and " (it was so before this step already)" or ""))
    end
    local new_rows = false
    for key in pairs(fk_after.rows) do if not fk_before.rows[key] then new_rows = true end end
    if new_rows then
      raise(('%s: rebuilding "%s": foreign key check failed: %s; fix or delete those rows first, '
        .. "or change the operation"):format(ctx.opname, tname, fk_text(fk_after)))
    elseif #fk_after.order > 0 then
      raise(('%s: rebuilding "%s": foreign key check failed: %s; these rows broke their foreign keys before '
        .. "this step (PRAGMA foreign_key_check lists them): fix or delete them, then run the migration again")
        :format(ctx.opname, tname, fk_text(fk_after)))
    end
  end)
  if ok then
    conn:exec("RELEASE luamig_rebuild")
  else
    pcall(conn.exec, conn, "ROLLBACK TO luamig_rebuild")
    pcall(conn.exec, conn, "RELEASE luamig_rebuild")
    pcall(conn.exec, conn, "PRAGMA legacy_alter_table = " .. (legacy == 1 and "ON" or "OFF"))
  end
  if fk_on then conn:exec("PRAGMA foreign_keys = ON") end
  if not ok then error(err, 0) end
end

return M
