-- luamig.introspect.sqlite -- read a SQLite schema into the table model
-- (see luamig.dialect.common). Four queries for the whole schema, each
-- joining sqlite_schema with a pragma table-valued function; what the
-- pragmas do not say (constraint names, check conditions, index
-- expressions and predicates, DEFERRABLE) is read from the stored SQL.
local sqltext = require "luamig.sqltext"
local dialect = require "luamig.dialect.sqlite"

local M = {}
local upper, is = sqltext.upper, sqltext.is

local function name_of(t) return t and (t.k == "word" or t.k == "ident" or t.k == "string") and t.v or nil end

-- The column names of a parenthesised list starting at toks[i] = "(".
local function column_list(toks, i)
  local close = sqltext.close_paren(toks, i)
  local cols = {}
  for _, p in ipairs(sqltext.split(toks, i + 1, close - 1)) do cols[#cols + 1] = name_of(toks[p[1]]) end
  return cols, close
end

local actions = {CASCADE = "CASCADE", RESTRICT = "RESTRICT"}

-- REFERENCES clause at toks[i]; returns the fk fields and the next index.
local function references(toks, i, last)
  local fk = {ref_table = name_of(toks[i + 1])}
  i = i + 2
  if is(toks[i], "(") then fk.ref_columns, i = column_list(toks, i); i = i + 1 end
  while i <= last do
    local u = upper(toks[i])
    if u == "ON" then
      local which, a1, a2 = upper(toks[i + 1]), upper(toks[i + 2]), upper(toks[i + 3])
      local action
      if a1 == "SET" or a1 == "NO" then action = a1 .. " " .. a2; i = i + 4
      else action = actions[a1]; i = i + 3 end
      if action == "NO ACTION" then action = nil end
      if which == "DELETE" then fk.on_delete = action else fk.on_update = action end
    elseif u == "MATCH" then
      fk.match = name_of(toks[i + 1]):upper(); i = i + 2
      if fk.match == "SIMPLE" or fk.match == "NONE" then fk.match = nil end
    elseif u == "NOT" and upper(toks[i + 1]) == "DEFERRABLE" then i = i + 2
    elseif u == "DEFERRABLE" then fk.deferrable = true; i = i + 1
    elseif u == "INITIALLY" then
      local w = upper(toks[i + 1])
      if w == "DEFERRED" then fk.initially = "DEFERRED" end
      i = i + 2
    else break end
  end
  return fk, i
end

-- Parse a CREATE TABLE statement: constraint names, checks, and the flags
-- the pragmas do not show. Returns {pk =, uniques =, fks =, checks =,
-- autoincrement =, options =}.
function M.parse_create_table(sql)
  local toks = sqltext.tokens(sql)
  local out = {uniques = {}, fks = {}, checks = {}, collations = {}}
  local open
  for j, t in ipairs(toks) do if is(t, "(") then open = j; break end end
  if not open then return out end
  local close = sqltext.close_paren(toks, open)
  local tail = {}
  for j = close + 1, #toks do tail[#tail + 1] = toks[j].v end
  if #tail > 0 then out.options = table.concat(tail, " "):upper() end
  for _, part in ipairs(sqltext.split(toks, open + 1, close - 1)) do
    local i, last = part[1], part[2]
    local cname
    if upper(toks[i]) == "CONSTRAINT" then cname = name_of(toks[i + 1]); i = i + 2 end
    local kw = upper(toks[i])
    if kw == "PRIMARY" or kw == "UNIQUE" then
      local j = i
      while j <= last and not is(toks[j], "(") do j = j + 1 end
      local cols, c = column_list(toks, j)
      for k = j, c do if upper(toks[k]) == "AUTOINCREMENT" then out.autoincrement = true end end
      if kw == "PRIMARY" then out.pk = {name = cname, columns = cols}
      else out.uniques[#out.uniques + 1] = {name = cname, columns = cols} end
    elseif kw == "CHECK" then
      local c = sqltext.close_paren(toks, i + 1)
      out.checks[#out.checks + 1] = {name = cname, condition = sqltext.text(sql, toks, i + 2, c - 1)}
    elseif kw == "FOREIGN" then
      local cols, c = column_list(toks, i + 2)
      local fk = references(toks, c + 1, last)
      fk.name, fk.columns = cname, cols
      out.fks[#out.fks + 1] = fk
    else                                         -- a column definition
      local col = name_of(toks[i])
      local j, pending = i + 1, nil
      while j <= last do
        local u = upper(toks[j])
        if u == "CONSTRAINT" then pending = name_of(toks[j + 1]); j = j + 2
        elseif u == "PRIMARY" then out.pk = {name = pending, columns = {col}}; pending = nil; j = j + 2
        elseif u == "UNIQUE" then
          out.uniques[#out.uniques + 1] = {name = pending, columns = {col}}; pending = nil; j = j + 1
        elseif u == "CHECK" then
          local c = sqltext.close_paren(toks, j + 1)
          out.checks[#out.checks + 1] = {name = pending, condition = sqltext.text(sql, toks, j + 2, c - 1)}
          pending = nil; j = c + 1
        elseif u == "REFERENCES" then
          local fk
          fk, j = references(toks, j, last)
          fk.name, fk.columns = pending, {col}
          out.fks[#out.fks + 1] = fk
          pending = nil
        elseif u == "AUTOINCREMENT" then out.autoincrement = true; j = j + 1
        elseif u == "COLLATE" then out.collations[col] = name_of(toks[j + 1]); pending = nil; j = j + 2
        elseif is(toks[j], "(") then pending = nil; j = sqltext.close_paren(toks, j) + 1
        else
          pending = nil                       -- CONSTRAINT name binds the constraint right after it
          j = j + 1
        end
      end
    end
  end
  return out
end

-- Parse CREATE INDEX: the text of each indexed element and the WHERE predicate.
function M.parse_create_index(sql)
  local toks = sqltext.tokens(sql)
  local on
  for j, t in ipairs(toks) do if upper(t) == "ON" then on = j; break end end
  local open = on and on + 1
  while open and open <= #toks and not is(toks[open], "(") do open = open + 1 end
  if not open or open > #toks then return {elements = {}} end
  local close = sqltext.close_paren(toks, open)
  local elements = {}
  for _, p in ipairs(sqltext.split(toks, open + 1, close - 1)) do
    elements[#elements + 1] = sqltext.text(sql, toks, p[1], p[2])
  end
  local where
  if upper(toks[close + 1]) == "WHERE" then where = sqltext.text(sql, toks, close + 2, #toks) end
  return {elements = elements, where = where}
end

local function same_list(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i]:lower() ~= b[i]:lower() then return false end end
  return true
end

local function sort_by_name(list)
  table.sort(list, function(a, b)
    local ka = (a.name or "") .. "\0" .. table.concat(a.columns or {a.condition or ""}, "\0")
    local kb = (b.name or "") .. "\0" .. table.concat(b.columns or {b.condition or ""}, "\0")
    return ka < kb
  end)
  return list
end

local TABLES = "m.type = 'table'"

-- The names of the schema's tables, SQLite's and luamig's own included (one query).
function M.table_names(conn)
  local names = {}
  for _, r in ipairs(conn:query("SELECT m.name FROM sqlite_schema m WHERE " .. TABLES)) do
    names[#names + 1] = r.name
  end
  return names
end

-- The schema of a live SQLite connection.
--   opts.table: only this table (no prefix filter); otherwise every table
--   but sqlite_* and luamig_*.
function M.read(conn, opts)
  opts = opts or {}
  local filter, params
  if opts.table then
    filter, params = TABLES .. " AND m.name = $1", {opts.table}
  else
    -- virtual tables (FTS, R*Tree) and their shadow tables are not the model's
    filter = TABLES .. [[ AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
               AND m.name NOT LIKE 'luamig\_%' ESCAPE '\'
               AND m.name NOT IN (SELECT tl.name FROM pragma_table_list tl
                                  WHERE tl.schema = 'main' AND tl.type IN ('virtual', 'shadow'))]]
  end
  local tables, order = {}, {}
  for _, r in ipairs(conn:query("SELECT m.name, m.sql FROM sqlite_schema m WHERE " .. filter
                                .. " ORDER BY m.name", params)) do
    local parsed = M.parse_create_table(r.sql or "")
    tables[r.name] = {name = r.name, columns = {}, uniques = {}, foreign_keys = {}, indexes = {},
                      checks = sort_by_name(parsed.checks), parsed = parsed}
    if parsed.options then tables[r.name].options = parsed.options end
    if parsed.autoincrement then tables[r.name].sqlite_autoincrement = true end
    order[#order + 1] = r.name
  end

  local pk_cols = {}
  for _, r in ipairs(conn:query([[SELECT m.name AS tbl, p.cid, p.name, p.type, p."notnull" AS not_null,
      p.dflt_value, p.pk, p.hidden FROM sqlite_schema m JOIN pragma_table_xinfo(m.name) p
      WHERE ]] .. filter .. " ORDER BY m.name, p.cid", params)) do
    local t = tables[r.tbl]
    if t and r.hidden == 0 then
      t.columns[#t.columns + 1] = {name = r.name, type = dialect.generic_type(r.type or ""),
        declared = r.type, nullable = r.not_null == 0, default = r.dflt_value,
        autoincrement = false, collate = t.parsed.collations[r.name]}
      if r.pk > 0 then
        pk_cols[r.tbl] = pk_cols[r.tbl] or {}
        pk_cols[r.tbl][r.pk] = #t.columns
      end
    elseif t then
      t.generated = true
    end
  end
  for tname, idx in pairs(pk_cols) do
    local t = tables[tname]
    local cols = {}
    for i = 1, #idx do cols[i] = t.columns[idx[i]].name end
    t.primary_key = {name = t.parsed.pk and t.parsed.pk.name, columns = cols}
    if #idx == 1 then
      local col = t.columns[idx[1]]
      if (col.declared or ""):upper() == "INTEGER" and not (t.options or ""):find("WITHOUT ROWID") then
        col.autoincrement, col.nullable = true, false
      end
    end
  end

  local indexes = {}
  for _, r in ipairs(conn:query([[SELECT m.name AS tbl, il.name AS iname, il."unique" AS isunique,
      il.origin, il.partial, ix.seqno, ix.cid, ix.name AS col, ix."desc" AS isdesc, ix.coll, s.sql
      FROM sqlite_schema m JOIN pragma_index_list(m.name) il JOIN pragma_index_xinfo(il.name) ix
      LEFT JOIN sqlite_schema s ON s.type = 'index' AND s.name = il.name
      WHERE ]] .. filter .. " AND ix.key = 1 ORDER BY m.name, il.name, ix.seqno", params)) do
    local t = tables[r.tbl]
    if t and r.origin ~= "pk" then
      local key = r.tbl .. "\0" .. r.iname
      local ix = indexes[key]
      if not ix then
        ix = {name = r.iname, unique = r.isunique == 1, columns = {}, origin = r.origin}
        if r.sql then ix.parsed = M.parse_create_index(r.sql) end
        if r.partial == 1 and ix.parsed then ix.where = ix.parsed.where end
        indexes[key] = ix
        if r.origin == "u" then t.uniques[#t.uniques + 1] = ix else t.indexes[#t.indexes + 1] = ix end
      end
      -- the order and a collation other than the column's go to
      -- column_options (luamig.op.index's model)
      local o = {order = r.isdesc == 1 and "desc" or nil}
      if r.cid == -2 then
        local text = ix.parsed and ix.parsed.elements[r.seqno + 1] or "?"
        local e = require("luamig.dialect.index_sql").read_element(text, "sqlite")
        if (e.order or e.collate) and not (e.nulls or e.opclass) then
          text = e.head
          if e.collate then o.collate = sqltext.tokens(e.collate, "sqlite")[1].v end
        end
        ix.columns[#ix.columns + 1] = {expr = text}
      else
        ix.columns[#ix.columns + 1] = r.col
        local own = t.parsed.collations[r.col] or "BINARY"
        if r.coll and r.coll:upper() ~= own:upper() then o.collate = r.coll end
      end
      if next(o) and r.origin ~= "u" then
        ix.column_options = ix.column_options or {}
        ix.column_options[#ix.columns] = o
      end
    end
  end
  for _, name in ipairs(order) do
    local t = tables[name]
    local uniques = {}
    for _, u in ipairs(t.uniques) do
      local found
      for _, pu in ipairs(t.parsed.uniques) do
        if same_list(pu.columns, u.columns) then found = pu; break end
      end
      uniques[#uniques + 1] = {name = found and found.name, columns = u.columns}
    end
    t.uniques = sort_by_name(uniques)
    for _, ix in ipairs(t.indexes) do ix.parsed, ix.origin = nil, nil end
    table.sort(t.indexes, function(a, b) return a.name < b.name end)
  end

  local fks = {}
  for _, r in ipairs(conn:query([[SELECT m.name AS tbl, f.id, f.seq, f."table" AS ref_table,
      f."from" AS col, f."to" AS ref_col, f.on_update, f.on_delete, f."match" AS fmatch
      FROM sqlite_schema m JOIN pragma_foreign_key_list(m.name) f
      WHERE ]] .. filter .. " ORDER BY m.name, f.id, f.seq", params)) do
    local t = tables[r.tbl]
    local key = r.tbl .. "\0" .. r.id
    local fk = fks[key]
    if not fk then
      local function action(a) if a == "NO ACTION" then return nil end return a end
      fk = {columns = {}, ref_table = r.ref_table, ref_columns = {}, id = r.id,
            on_delete = action(r.on_delete), on_update = action(r.on_update)}
      if r.fmatch and r.fmatch ~= "NONE" and r.fmatch ~= "SIMPLE" then fk.match = r.fmatch end
      fks[key] = fk
      t.foreign_keys[#t.foreign_keys + 1] = fk
    end
    fk.columns[#fk.columns + 1] = r.col
    if r.ref_col then fk.ref_columns[#fk.ref_columns + 1] = r.ref_col end
  end
  for _, name in ipairs(order) do
    local t = tables[name]
    for _, fk in ipairs(t.foreign_keys) do
      for _, pf in ipairs(t.parsed.fks) do
        if same_list(pf.columns, fk.columns) and pf.ref_table:lower() == fk.ref_table:lower() then
          fk.name, fk.deferrable, fk.initially = pf.name, pf.deferrable, pf.initially
          if #fk.ref_columns == 0 and pf.ref_columns then fk.ref_columns = pf.ref_columns end
          break
        end
      end
      if #fk.ref_columns == 0 then                 -- REFERENCES t: its primary key
        local parent = tables[fk.ref_table]
        fk.ref_columns = parent and parent.primary_key and parent.primary_key.columns or {}
      end
    end
    for _, fk in ipairs(t.foreign_keys) do fk.id = nil end
    sort_by_name(t.foreign_keys)
    for _, col in ipairs(t.columns) do col.declared = nil end
    t.parsed = nil
  end
  return {dialect = "sqlite", tables = tables}
end

return M
