-- luamig.sqlite_rebuild -- what SQLite's ALTER TABLE cannot do (drop or
-- alter a column, add or drop a constraint, change the primary key), done
-- by SQLite's documented table rebuild (https://sqlite.org/lang_altertable.html,
-- "Making Other Kinds Of Table Schema Changes"), inside the step's
-- transaction:
--
--   foreign keys off for the swap (PRAGMA foreign_keys can only change
--   outside a transaction: when it is on inside one, the rebuild refuses);
--   SAVEPOINT, so that a failure leaves nothing behind, temp table included;
--   read the table (luamig.introspect), apply the changes to the model;
--   name the rows that would break a NOT NULL, CHECK or UNIQUE rule;
--   save the table's indexes and triggers and every view, drop the views;
--   CREATE TABLE luamig_tmp_<t>, INSERT ... SELECT, DROP TABLE t,
--   ALTER TABLE luamig_tmp_<t> RENAME TO t (legacy_alter_table on, so that
--   nothing else is rewritten); recreate indexes, views and triggers;
--   PRAGMA foreign_key_check on t and the tables referencing it;
--   RELEASE.
--
--   rebuild.run(ctx, table_name, changes)
--     ctx = {conn =, d = dialect, log = fn, raise = fn, opname = "drop_column"}
--     changes: the op layer's change records (add_column, drop_column,
--     alter_column, add_constraint, drop_constraint).
local introspect = require "luamig.introspect"
local sqltext = require "luamig.sqltext"

local M = {}

M.temp_prefix = "luamig_tmp_"

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

-- Does an SQL fragment mention this column (as a bare or quoted identifier)?
local function mentions(sql, col)
  for _, t in ipairs(sqltext.tokens(sql)) do
    if (t.k == "word" or t.k == "ident") and t.v:lower() == col:lower() then return true end
  end
  return false
end

-- Apply the changes to a copy of the table model. Returns the new model
-- and, per new column, the expression that fills it from the old table.
local function apply(ctx, old, changes)
  local raise, opname = ctx.raise, ctx.opname
  local t = copy(old)
  local source = {}                         -- new column name -> SQL over the old table
  for _, c in ipairs(t.columns) do source[c.name] = ctx.d.ident(c.name) end
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
      local e = ch.extra
      if e.pk then add_constraint("primary", e.pk) end
      if e.unique then add_constraint("unique", e.unique) end
      if e.foreign_key then add_constraint("foreign", e.foreign_key) end
      if e.check then add_constraint("check", e.check) end
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

-- "id=3, id=7 and 4 more": the rows an error names.
local function row_names(ctx, rows, keys)
  local out = {}
  for i = 1, math.min(#rows, 10) do
    local parts = {}
    for _, k in ipairs(keys) do
      local v = rows[i]["k_" .. k.i]
      parts[#parts + 1] = k.label .. "=" .. (type(v) == "string" and ctx.d.string_literal(v) or tostring(v))
    end
    out[#out + 1] = "(" .. table.concat(parts, ", ") .. ")"
  end
  local s = table.concat(out, ", ")
  if #rows > 10 then s = s .. " and more" end
  return s
end

-- Name the rows that the new table would refuse, before copying them.
local function precheck(ctx, old, new)
  local conn, d, raise = ctx.conn, ctx.d, ctx.raise
  local keys = {}
  local pk = old.primary_key and old.primary_key.columns or nil
  if pk then
    for i, c in ipairs(pk) do keys[i] = {i = i, label = c, sql = d.ident(c)} end
  else
    keys[1] = {i = 1, label = "rowid", sql = "rowid"}
  end
  local select_keys = {}
  for i, k in ipairs(keys) do select_keys[i] = k.sql .. " AS " .. d.ident("k_" .. i) end
  local key_list = table.concat(select_keys, ", ")
  local from = " FROM " .. d.ident(old.name)
  local function fail(what, sql)
    local ok, rows = pcall(conn.query, conn, "SELECT " .. key_list .. from .. " WHERE " .. sql .. " LIMIT 11")
    if ok and #rows > 0 then
      raise(('%s: rebuilding "%s": %s fails for rows %s'):format(ctx.opname, old.name, what, row_names(ctx, rows, keys)))
    end
  end
  local old_cols = {}
  for _, c in ipairs(old.columns) do old_cols[c.name] = c end
  for _, c in ipairs(new.columns) do
    local oc = old_cols[c.name]
    if oc and oc.nullable and not c.nullable then
      fail(("NOT NULL on column \"%s\""):format(c.name), d.ident(c.name) .. " IS NULL")
    end
  end
  local function known(list, c, field)
    for _, x in ipairs(list) do
      if x.name == c.name and table.concat(x[field], "\0") == table.concat(c[field], "\0") then return true end
    end
  end
  for _, c in ipairs(new.checks) do
    local seen = false
    for _, oc in ipairs(old.checks) do if oc.name == c.name and oc.condition == c.condition then seen = true end end
    if not seen then
      fail(("check constraint \"%s\""):format(c.name or c.condition), "NOT (" .. c.condition .. ")")
    end
  end
  local uniques = {}
  for _, u in ipairs(new.uniques) do if not known(old.uniques, u, "columns") then uniques[#uniques + 1] = u end end
  if new.primary_key and not (old.primary_key and
      table.concat(old.primary_key.columns, "\0") == table.concat(new.primary_key.columns, "\0")) then
    uniques[#uniques + 1] = new.primary_key
  end
  for _, u in ipairs(uniques) do
    if #u.columns > 0 and not find(u.columns, function(c) return not old_cols[c] end) then
      local cols = d.idents(u.columns)
      fail(("unique constraint \"%s\""):format(u.name or table.concat(u.columns, ", ")),
        ("(%s) IN (SELECT %s%s GROUP BY %s HAVING count(*) > 1)"):format(cols, cols, from, cols))
    end
  end
end

-- The rows of tname that break a foreign key, named by rowid.
local function fk_violations(ctx, tname)
  local rows = ctx.conn:query("SELECT * FROM pragma_foreign_key_check($1)", {tname})
  if #rows == 0 then return nil end
  local by_parent, order = {}, {}
  for _, r in ipairs(rows) do
    local key = r.table .. "\0" .. r.parent
    if not by_parent[key] then by_parent[key] = {t = r.table, parent = r.parent, ids = {}}; order[#order + 1] = key end
    local ids = by_parent[key].ids
    if #ids < 10 then ids[#ids + 1] = tostring(r.rowid) end
  end
  local parts = {}
  for _, key in ipairs(order) do
    local v = by_parent[key]
    parts[#parts + 1] = ('rows of "%s" with rowid %s reference missing rows of "%s"'):format(
      v.t, table.concat(v.ids, ", "), v.parent)
  end
  return table.concat(parts, "; ")
end

M.apply = apply
M.copy = copy

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
  local tmp = M.temp_prefix .. tname
  local shape = copy(new)
  shape.name = tmp
  local stmts = {d.create_table_sql(shape)}
  local into, from = {}, {}
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
    precheck(ctx, old, new)

    -- what lives on the table or may read it: indexes, triggers, views
    local dropped_cols = {}
    for _, ch in ipairs(changes) do if ch.kind == "drop_column" then dropped_cols[#dropped_cols + 1] = ch.name end end
    local indexes = {}
    for _, r in ipairs(conn:query([[SELECT s.name, s.sql, (SELECT group_concat(quote(i.name), ',')
        FROM pragma_index_info(s.name) i) AS cols FROM sqlite_schema s
        WHERE s.type = 'index' AND s.tbl_name = $1 AND s.sql IS NOT NULL ORDER BY s.rowid]], {tname})) do
      local gone
      for _, c in ipairs(dropped_cols) do if mentions(r.sql, c) then gone = c end end
      if gone then
        log("info", ('%s: index "%s" goes with column "%s"'):format(ctx.opname, r.name, gone))
      else
        indexes[#indexes + 1] = r
      end
    end
    local views = conn:query("SELECT name, sql FROM sqlite_schema WHERE type = 'view' ORDER BY rowid")
    local view_names = {[tname] = true}
    for _, v in ipairs(views) do view_names[v.name] = true end
    local triggers = {}
    for _, r in ipairs(conn:query("SELECT name, tbl_name, sql FROM sqlite_schema WHERE type = 'trigger' ORDER BY rowid")) do
      if view_names[r.tbl_name] then triggers[#triggers + 1] = r end
    end

    -- AUTOINCREMENT's high-water mark, which DROP TABLE forgets
    local seq
    if old.sqlite_autoincrement then
      local sok, srows = pcall(conn.query, conn, "SELECT seq FROM sqlite_sequence WHERE name = $1", {tname})
      seq = sok and srows[1] and srows[1].seq or nil
    end

    for i = #views, 1, -1 do conn:exec("DROP VIEW " .. d.ident(views[i].name)) end
    local tmp = M.temp_prefix .. tname
    conn:exec("DROP TABLE IF EXISTS " .. d.ident(tmp))
    local shape = copy(new)
    shape.name = tmp
    conn:exec(d.create_table_sql(shape))
    local into, from = {}, {}
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
    if seq and new.sqlite_autoincrement then
      conn:exec("DELETE FROM sqlite_sequence WHERE name = $1", {tname})
      conn:exec("INSERT INTO sqlite_sequence (name, seq) VALUES ($1, $2)", {tname, seq})
    end
    for _, ix in ipairs(indexes) do conn:exec(ix.sql) end
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

    -- foreign keys: the table's own, and those of the tables referencing it
    local problems = {}
    local p = fk_violations(ctx, tname)
    if p then problems[#problems + 1] = p end
    for _, r in ipairs(conn:query([[SELECT DISTINCT m.name FROM sqlite_schema m
        JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table' AND f."table" = $1 AND m.name <> $1]], {tname})) do
      local q = fk_violations(ctx, r.name)
      if q then problems[#problems + 1] = q end
    end
    if #problems > 0 then
      raise(('%s: rebuilding "%s": foreign key check failed: %s'):format(ctx.opname, tname, table.concat(problems, "; ")))
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
