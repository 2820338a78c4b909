-- luamig.op.sqlite_checks -- what a SQLite rebuild asks the live database
-- before and after the copy, to refuse a change that would lose or change
-- data: the rows a new rule would refuse, a type change that alters values,
-- triggers and views that read a dropped column, foreign keys.
local sqltext = require "luamig.sqltext"
local model = require "luamig.op.sqlite_model"
local tablesql = require "luamig.op.sqlite_table_sql"
local find, same_name = model.find, model.same_name
local parse_table, classify, column_segments = tablesql.parse_table, tablesql.classify, tablesql.column_segments

local M = {}

-- A name for a table the rebuild makes, free in the main and the temp
-- schema (an unqualified name means temp's object first), whatever the
-- kind of object (tables, views and indexes share one namespace, triggers
-- are kept clear of too), compared as SQLite compares names: without
-- regard to ASCII case (COLLATE NOCASE folds exactly that). The rebuild
-- never drops a table it did not create: a user's "luamig_tmp_t" stays.
local function free_name(conn, base)
  local name, n = base, 0
  while true do
    local rows = conn:query([[SELECT 1 FROM main.sqlite_schema WHERE name = $1 COLLATE NOCASE
        UNION ALL SELECT 1 FROM temp.sqlite_schema WHERE name = $1 COLLATE NOCASE]], {name})
    if #rows == 0 then return name end
    n = n + 1
    name = base .. "_" .. n
  end
end
M.free_name = free_name

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

-- SQLite's type affinity of a declared type (https://sqlite.org/datatype3.html, 3.1).
local function affinity(decl)
  local u = (decl or ""):upper()
  if u:find("INT") then return "INTEGER" end
  if u:find("CHAR") or u:find("CLOB") or u:find("TEXT") then return "TEXT" end
  if u == "" or u:find("BLOB") then return "BLOB" end
  if u:find("REAL") or u:find("FLOA") or u:find("DOUB") then return "REAL" end
  return "NUMERIC"
end

-- The values a new type's affinity would change in meaning or leave of
-- another kind, as SQL over the old table (nil: none can). '7' becoming 7
-- is what SQLite does and means the same; '007' becoming 7, '1.50'
-- becoming 1.5, 'abc' or 1.5 staying as they are in an INTEGER column,
-- a REAL that its text form rounds: not. NUMERIC affinity (dates,
-- booleans, numeric, ...) has no such expression: numeric_changes.
local function type_change_sql(q, aff)
  local canonical_int = ("%s = CAST(CAST(%s AS INTEGER) AS TEXT)"):format(q, q)
  local canonical_real = ("%s = CAST(CAST(%s AS REAL) AS TEXT)"):format(q, q)
  if aff == "INTEGER" then
    return ("typeof(%s) = 'blob' OR (typeof(%s) = 'text' AND NOT (%s OR (%s AND CAST(%s AS REAL) = CAST(%s AS INTEGER))))"
      .. " OR (typeof(%s) = 'real' AND %s <> CAST(%s AS INTEGER))"):format(q, q, canonical_int, canonical_real, q, q, q, q, q)
  elseif aff == "REAL" then
    return ("typeof(%s) = 'blob' OR (typeof(%s) = 'text' AND NOT (%s OR %s))"
      .. " OR (typeof(%s) = 'integer' AND CAST(CAST(%s AS REAL) AS INTEGER) <> %s)"):format(q, q, canonical_int,
      canonical_real, q, q, q)
  elseif aff == "TEXT" then
    return ("typeof(%s) = 'real' AND CAST(CAST(%s AS TEXT) AS REAL) <> %s"):format(q, q, q)
  end
end

-- NUMERIC affinity turns text into a number only when the text is a
-- well-formed literal, which no expression tells exactly: the text values
-- go through a TEMP column of NUMERIC affinity (o, without a type, keeps
-- them as they were), and a row whose value came out as a number of
-- another text form ('0.10000000000000000001' as 0.1, 22 digits as a
-- rounded REAL, '1e400' as Inf) changes meaning; '20240101' or '1' coming
-- out the same does not. Returns the keys (k_1 ...) of up to 11 such rows.
local function numeric_changes(ctx, tname, cname, select_keys, nkeys)
  local conn, d = ctx.conn, ctx.d
  local probe = M.free_name(conn, "luamig_affinity_probe")
  local key_defs, key_names = {}, {}
  for i = 1, nkeys do
    key_defs[i] = d.ident("k_" .. i)
    key_names[i] = d.ident("k_" .. i)
  end
  conn:exec(("CREATE TEMP TABLE %s (o, x NUMERIC, %s)"):format(d.ident(probe), table.concat(key_defs, ", ")))
  local ok, rows = pcall(function()
    conn:exec(("INSERT INTO temp.%s SELECT %s, %s, %s FROM main.%s WHERE typeof(%s) = 'text'"):format(
      d.ident(probe), d.ident(cname), d.ident(cname), table.concat(select_keys, ", "), d.ident(tname),
      d.ident(cname)))
    return conn:query(("SELECT %s FROM temp.%s WHERE typeof(x) <> 'text' AND CAST(x AS TEXT) <> o LIMIT 11")
      :format(table.concat(key_names, ", "), d.ident(probe)))
  end)
  conn:exec("DROP TABLE temp." .. d.ident(probe))
  if not ok then error(rows, 0) end
  return rows
end

-- Name the rows that the new table would refuse, before copying them.
local function precheck(ctx, old, new, changes)
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
  -- a new type whose affinity would change values (a STRICT table refuses them itself)
  if not (old.options or ""):upper():find("STRICT") then
    local declared = {}
    for _, r in ipairs(conn:query("SELECT name, type FROM pragma_table_info($1)", {old.name})) do declared[r.name] = r.type end
    for _, ch in ipairs(changes or {}) do
      if ch.kind == "alter_column" and ch.type and old_cols[ch.name] then
        local decl = d.type_sql(ch.type)
        local aff = affinity(decl)
        local changed = aff ~= affinity(declared[ch.name])
        local cond = changed and type_change_sql(d.ident(ch.name), aff)
        local ok, rows = true, {}
        if cond then
          ok, rows = pcall(conn.query, conn, "SELECT " .. key_list .. from .. " WHERE " .. cond .. " LIMIT 11")
        elseif changed and aff == "NUMERIC" then
          rows = numeric_changes(ctx, old.name, ch.name, select_keys, #keys)
        end
        do
          if ok and #rows > 0 then
            local what = aff == "NUMERIC"
              and "values (as '0.10000000000000000001' to 0.1, or 23 digits to a rounded REAL)"
              or ("values (as '007' to 7 or '1.50' to 1.5) or keep values that are not %s (as 'abc')"):format(decl)
            raise(('%s: rebuilding "%s": the type %s of column "%s" fails for rows %s: SQLite would change their '
              .. "%s; convert or fix those rows first (op.execute with an UPDATE), then run this operation")
              :format(ctx.opname, old.name, decl, ch.name, row_names(ctx, rows, keys), what))
          end
        end
      end
    end
  end
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

-- A WITHOUT ROWID table must keep a primary key: a drop_column of one of
-- its columns would take it along (SQLite: "PRIMARY KEY missing").
local function check_without_rowid_pk(ctx, tname, old_pk, without_rowid, has_pk, dropped)
  if not without_rowid or has_pk or not old_pk then return end
  local col
  for _, c in ipairs(old_pk) do
    for _, n in ipairs(dropped) do if same_name(c, n) then col = col or n end end
  end
  ctx.raise(('%s: "%s" is a WITHOUT ROWID table, which must have a primary key%s, and its primary key (%s) '
    .. "would go%s: give the table a primary key that does not use %s first (batch_alter_table with "
    .. "drop_constraint and create_primary_key), or rebuild it yourself (op.execute)"):format(ctx.opname, tname,
    "", table.concat(old_pk, ", "), col and (' with column "' .. col .. '"') or "",
    col and ('"' .. col .. '"') or "those columns"))
end

-- Is this double-quoted identifier in the fragment one of the names? A
-- double-quoted name that matches no column is, to SQLite, a string
-- literal (its "double-quoted string" misfeature, on for DDL by default):
-- re-creating "x" = 1 after dropping x would succeed and mean 'x' = 1.
local function quoted_mention(fragment, names)
  for _, t in ipairs(sqltext.tokens(fragment)) do
    if t.k == "ident" and fragment:sub(t.s, t.s) == '"' then
      for _, n in ipairs(names) do if same_name(t.v, n) then return n end end
    end
  end
end

-- The expression part of a CREATE INDEX: its key list and WHERE, without
-- the index and table names.
local function index_body(sql)
  local toks = sqltext.tokens(sql)
  for j, t in ipairs(toks) do
    if sqltext.upper(t) == "ON" then
      while j <= #toks and not sqltext.is(toks[j], "(") do j = j + 1 end
      return j <= #toks and sql:sub(toks[j].s) or ""
    end
  end
  return ""
end

-- Compile (EXPLAIN, never run) a statement that fires the trigger: a body
-- that reads a column which is gone fails here with SQLite's own words.
-- Returns nil when it compiles, else the error text.
local function trigger_error(ctx, tr)
  local conn, d = ctx.conn, ctx.d
  local event
  for _, t in ipairs(sqltext.tokens(tr.sql)) do
    local u = sqltext.upper(t)
    if u == "INSERT" or u == "UPDATE" or u == "DELETE" then event = u; break end
  end
  local target = d.ident(tr.tbl_name)
  local sql
  if event == "INSERT" then sql = "EXPLAIN INSERT INTO " .. target .. " DEFAULT VALUES"
  elseif event == "DELETE" then sql = "EXPLAIN DELETE FROM " .. target
  else
    local sets = {}
    for _, r in ipairs(conn:query("SELECT name FROM pragma_table_xinfo($1) WHERE hidden = 0", {tr.tbl_name})) do
      sets[#sets + 1] = d.ident(r.name) .. " = " .. d.ident(r.name)
    end
    if #sets == 0 then return nil end
    sql = "EXPLAIN UPDATE " .. target .. " SET " .. table.concat(sets, ", ")
  end
  local ok, err = pcall(conn.query, conn, sql)
  if ok then return nil end
  return tostring(type(err) == "table" and err.message or err)
end

-- The foreign key state of tname and the tables referencing it:
-- {rows = {key = true}, text = {...}} or {mismatch = "..."}.
local function fk_state(ctx, tname)
  local conn = ctx.conn
  local names = {tname}
  for _, r in ipairs(conn:query([[SELECT DISTINCT m.name FROM sqlite_schema m
      JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table' AND f."table" = $1 AND m.name <> $1
      ORDER BY m.name]], {tname})) do
    names[#names + 1] = r.name
  end
  local state = {rows = {}, groups = {}, order = {}}
  for _, child in ipairs(names) do
    local ok, rows = pcall(conn.query, conn, "SELECT * FROM pragma_foreign_key_check($1)", {child})
    if not ok then
      local msg = tostring(type(rows) == "table" and rows.message or rows)
      local parent = msg:match('foreign key mismatch %- ".-" referencing "(.-)"')
      if not parent then error(rows, 0) end
      local fks = {}
      for _, f in ipairs(conn:query([[SELECT id, group_concat("from", ', ') AS cols, group_concat("to", ', ') AS refs
          FROM pragma_foreign_key_list($1) WHERE "table" = $2 GROUP BY id ORDER BY id]], {child, parent})) do
        fks[#fks + 1] = ('"%s" (%s) -> "%s" (%s)'):format(child, f.cols, parent, f.refs or "its primary key")
      end
      state.mismatch = ('the foreign key %s does not reference the primary key or a unique constraint of "%s", '
        .. "so SQLite cannot check it (\"foreign key mismatch\"); reference the primary key, or add a unique "
        .. 'constraint or unique index on those columns of "%s"'):format(table.concat(fks, " and "), parent, parent)
      return state
    end
    for _, r in ipairs(rows) do
      state.rows[r.table .. "\0" .. tostring(r.rowid) .. "\0" .. r.parent] = true
      local key = r.table .. "\0" .. r.parent
      local g = state.groups[key]
      if not g then
        g = {t = r.table, parent = r.parent, ids = {}, n = 0}
        state.groups[key] = g
        state.order[#state.order + 1] = key
      end
      g.n = g.n + 1
      if #g.ids < 10 then g.ids[#g.ids + 1] = tostring(r.rowid) end
    end
  end
  return state
end

local function fk_text(state)
  local parts = {}
  for _, key in ipairs(state.order) do
    local g = state.groups[key]
    parts[#parts + 1] = ('rows of "%s" with rowid %s%s reference missing rows of "%s"'):format(
      g.t, table.concat(g.ids, ", "), g.n > #g.ids and (" and " .. (g.n - #g.ids) .. " more") or "", g.parent)
  end
  return table.concat(parts, "; ")
end

-- The name of the foreign key of a table (its stored CREATE TABLE) over
-- these columns, or nil when it has none.
local function fk_constraint_name(sql, from)
  local ok, shape = pcall(parse_table, sql)
  if not ok then return nil end
  local key = table.concat(from, "\0"):lower()
  for _, p in ipairs(shape.parts) do
    local info = classify(p)
    if info.constraint == "FOREIGN" and table.concat(info.columns, "\0"):lower() == key then return info.name end
    if info.column and #from == 1 and same_name(info.column, from[1]) then
      for _, sg in ipairs(column_segments(p.text).segs) do
        if sg.kw == "REFERENCES" then return sg.name end
      end
    end
  end
end

-- A dropped column that a foreign key references (another table's, or
-- the table's own that stays): SQLite would only say "foreign key
-- mismatch" after the copy. Say which key, and what to do.
local function check_referenced(ctx, old, dropped)
  if #dropped == 0 then return end
  local conn, tname = ctx.conn, old.name
  local fks, order = {}, {}
  for _, r in ipairs(conn:query([[SELECT m.name AS child, m.sql, f.id, f."from", f."to" FROM sqlite_schema m
      JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table' AND f."table" = $1 COLLATE NOCASE
      ORDER BY m.name, f.id, f.seq]], {tname})) do
    local key = r.child .. "\0" .. r.id
    local fk = fks[key]
    if not fk then
      fk = {child = r.child, sql = r.sql, from = {}, to = {}}
      fks[key] = fk
      order[#order + 1] = key
    end
    fk.from[#fk.from + 1] = r.from
    fk.to[#fk.to + 1] = r.to
  end
  local function is_dropped(name)
    for _, n in ipairs(dropped) do if same_name(n, name) then return n end end
  end
  for _, key in ipairs(order) do
    local fk = fks[key]
    local to = fk.to
    if #to == 0 or to[1] == nil or to[1] == "" then to = old.primary_key and old.primary_key.columns or {} end
    local col
    for _, c in ipairs(to) do col = col or is_dropped(c) end
    local goes = false
    if same_name(fk.child, tname) then
      for _, c in ipairs(fk.from) do if is_dropped(c) then goes = true end end
    end
    if col and not goes then
      local name = fk_constraint_name(fk.sql, fk.from)
      ctx.raise(('%s: column "%s" of "%s" is referenced by the foreign key %s of table "%s" (%s) -> "%s" (%s); '
        .. "without the column that foreign key would reference nothing (SQLite: \"foreign key mismatch\"): "
        .. "drop that foreign key first (%s), then drop the column"):format(ctx.opname, col, tname,
        name and ('"' .. name .. '"') or "(no name)", fk.child, table.concat(fk.from, ", "), tname,
        table.concat(to, ", "),
        name and ('op.drop_constraint("' .. name .. '", "' .. fk.child .. '", {type_ = "foreignkey"})')
          or ('it has no name: rebuild "' .. fk.child .. '" without it')))
    end
  end
end


M.row_names = row_names
M.precheck = precheck
M.check_without_rowid_pk = check_without_rowid_pk
M.quoted_mention = quoted_mention
M.index_body = index_body
M.trigger_error = trigger_error
M.fk_state = fk_state
M.fk_text = fk_text
M.check_referenced = check_referenced

return M
