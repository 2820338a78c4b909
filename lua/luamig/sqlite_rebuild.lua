-- luamig.sqlite_rebuild -- what SQLite's ALTER TABLE cannot do (drop or
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

-- The stored CREATE TABLE, edited. The rebuild does not render the new
-- table from the model: it edits SQLite's own text, so that whatever the
-- model cannot say (conflict clauses, INTEGER PRIMARY KEY DESC, COLLATE,
-- AUTOINCREMENT, STRICT, WITHOUT ROWID, expression defaults, comments)
-- is carried over as written. SQLite's own ALTER TABLE DROP COLUMN works
-- the same way.
--
--   parts: one per column definition or table constraint, {text =, sep =}
--   (sep: what stood between it and the part before, comma included).
local column_starters = {CONSTRAINT = true, PRIMARY = true, NOT = true, NULL = true, UNIQUE = true,
                         CHECK = true, DEFAULT = true, COLLATE = true, REFERENCES = true,
                         GENERATED = true, AS = true}
local table_constraints = {CONSTRAINT = true, PRIMARY = true, UNIQUE = true, CHECK = true, FOREIGN = true}

local function name_of(t) return t and (t.k == "word" or t.k == "ident" or t.k == "string") and t.v or nil end
local function same_name(a, b) return a ~= nil and b ~= nil and a:lower() == b:lower() end

local function parse_table(sql)
  local toks = sqltext.tokens(sql)
  local open
  for j, t in ipairs(toks) do if sqltext.is(t, "(") then open = j; break end end
  local close = sqltext.close_paren(toks, open)
  local parts, prev_end = {}, toks[open].e
  for _, p in ipairs(sqltext.split(toks, open + 1, close - 1)) do
    local s, e = toks[p[1]].s, toks[p[2]].e
    parts[#parts + 1] = {text = sql:sub(s, e), sep = sql:sub(prev_end + 1, s - 1)}
    prev_end = e
  end
  return {parts = parts, tail = sql:sub(prev_end + 1)}
end

-- What a part is: a column ({column = name}) or a table constraint
-- ({constraint = KIND, name =, columns =} with KIND PRIMARY, UNIQUE, CHECK, FOREIGN).
local function classify(part)
  local toks = sqltext.tokens(part.text)
  local i, cname = 1, nil
  if sqltext.upper(toks[1]) == "CONSTRAINT" then cname = name_of(toks[2]); i = 3 end
  local kw = sqltext.upper(toks[i])
  if not (i == 3 or table_constraints[kw]) then return {column = name_of(toks[1]), toks = toks} end
  local info = {constraint = kw, name = cname, toks = toks}
  if kw ~= "CHECK" then
    local j = i
    while j <= #toks and not sqltext.is(toks[j], "(") do j = j + 1 end
    info.columns = {}
    if j <= #toks then
      for _, p in ipairs(sqltext.split(toks, j + 1, sqltext.close_paren(toks, j) - 1)) do
        info.columns[#info.columns + 1] = name_of(toks[p[1]])
      end
    end
  else
    local j = i + 1
    info.condition = sqltext.text(part.text, toks, j + 1, sqltext.close_paren(toks, j) - 1)
  end
  return info
end

-- A column definition split into its name and type, and its column
-- constraints: {head = "name TYPE", segs = {{kw =, name =, text =}, ...}}.
local function column_segments(text)
  local toks = sqltext.tokens(text)
  local upper, is = sqltext.upper, sqltext.is
  local function starts(j, kw)
    local u = upper(toks[j])
    if not (u and column_starters[u]) then return false end
    local before = upper(toks[j - 1])
    if before == "SET" then return false end                  -- ON DELETE SET NULL / SET DEFAULT
    if u == "NOT" and upper(toks[j + 1]) == "DEFERRABLE" then return false end
    if u == "AS" and kw == "GENERATED" then return false end
    return true
  end
  local i = 2
  while i <= #toks and not starts(i) do
    if is(toks[i], "(") then i = sqltext.close_paren(toks, i) + 1 else i = i + 1 end
  end
  local col = {head = sqltext.text(text, toks, 1, i - 1), name_text = sqltext.text(text, toks, 1, 1), segs = {}}
  while i <= #toks do
    local first, cname = i, nil
    if upper(toks[i]) == "CONSTRAINT" then cname = name_of(toks[i + 1]); i = i + 2 end
    local kw = upper(toks[i]) or ""
    i = i + 1
    if kw == "DEFAULT" then                                    -- one value: literal, signed number, (expr)
      if is(toks[i], "(") then i = sqltext.close_paren(toks, i) + 1
      elseif is(toks[i], "+") or is(toks[i], "-") then i = i + 2
      else i = i + 1 end
    elseif kw == "NOT" then i = i + 1
    end
    while i <= #toks and not starts(i, kw) do
      if is(toks[i], "(") then i = sqltext.close_paren(toks, i) + 1 else i = i + 1 end
    end
    col.segs[#col.segs + 1] = {kw = kw, name = cname, text = sqltext.text(text, toks, first, math.min(i - 1, #toks))}
  end
  return col
end

local function column_text(col)
  local out = {col.head}
  for _, s in ipairs(col.segs) do out[#out + 1] = s.text end
  return table.concat(out, " ")
end

local function render_table(shape, name_sql)
  local out = {"CREATE TABLE ", name_sql, " ("}
  for i, p in ipairs(shape.parts) do
    out[#out + 1] = i == 1 and p.sep:gsub("^%s*,", "") or p.sep
    out[#out + 1] = p.text
  end
  out[#out + 1] = shape.tail
  return table.concat(out)
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

-- Apply the changes to the stored CREATE TABLE text of the table.
-- Returns the edited shape and the names of the dropped columns.
--   ctx.check_depends(defs, clause, dropped) -> does this CHECK clause,
--   over the column definitions defs, use a dropped column?
local function edit_table(ctx, sql, changes)
  local d, log, opname = ctx.d, ctx.log, ctx.opname
  local NULL = require("luamig.dialect.common").NULL
  local shape = parse_table(sql)
  local parts = shape.parts
  for _, p in ipairs(parts) do p.info = classify(p) end
  local function new_part(text)
    local p = {text = text, sep = ", "}
    p.info = classify(p)
    return p
  end
  local function column_index(name)
    for i, p in ipairs(parts) do if same_name(p.info.column, name) then return i, p end end
  end
  local function insert_column(p, before, after)
    local pos = 1
    for i, q in ipairs(parts) do if q.info.column then pos = i + 1 end end
    if before then pos = column_index(before) elseif after then pos = column_index(after) + 1 end
    table.insert(parts, pos, p)
  end
  local function edit_column(name, fn)
    local _, p = column_index(name)
    local col = column_segments(p.text)
    fn(col)
    p.text = column_text(col)
    p.info = classify(p)
  end
  local function without(segs, pred)
    local kept = {}
    for _, s in ipairs(segs) do if not pred(s) then kept[#kept + 1] = s end end
    return kept
  end
  local function not_null(name)
    edit_column(name, function(col)
      for _, s in ipairs(col.segs) do if s.kw == "NOT" then return end end
      col.segs[#col.segs + 1] = {kw = "NOT", text = "NOT NULL"}
    end)
  end
  local function add_constraint(kind, c)
    if kind == "primary" then for _, cn in ipairs(c.columns) do not_null(cn) end end
    parts[#parts + 1] = new_part(d.constraint_sql(kind, c))
  end

  local dropped = {}
  for _, ch in ipairs(changes) do
    if ch.kind == "add_column" then
      insert_column(new_part(d.column_sql(ch.column)), ch.opts.insert_before, ch.opts.insert_after)
      add_column_constraints(ch.extra, add_constraint)
    elseif ch.kind == "drop_column" then
      local i = column_index(ch.name)
      table.remove(parts, i)
      dropped[#dropped + 1] = ch.name
      for j = #parts, 1, -1 do
        local info = parts[j].info
        if info.columns then
          for _, cn in ipairs(info.columns) do
            if same_name(cn, ch.name) then
              log("info", ('%s: %s goes with column "%s"'):format(opname,
                describe_constraint(info.constraint, info.name, "(" .. table.concat(info.columns, ", ") .. ")"), ch.name))
              table.remove(parts, j)
              break
            end
          end
        end
      end
    elseif ch.kind == "alter_column" then
      if ch.nullable == false then not_null(ch.name) end
      edit_column(ch.name, function(col)
        if ch.type then col.head = col.name_text .. " " .. d.type_sql(ch.type) end
        if ch.nullable == true then
          col.segs = without(col.segs, function(s) return s.kw == "NOT" end)
        end
        if ch.default ~= nil then
          col.segs = without(col.segs, function(s) return s.kw == "DEFAULT" end)
          if ch.default ~= NULL then col.segs[#col.segs + 1] = {kw = "DEFAULT", text = "DEFAULT " .. ch.default} end
        end
      end)
      if ch.insert_before or ch.insert_after then
        local p = table.remove(parts, (column_index(ch.name)))
        insert_column(p, ch.insert_before, ch.insert_after)
      end
    elseif ch.kind == "add_constraint" then
      add_constraint(ch.ctype, ch.constraint)
    elseif ch.kind == "drop_constraint" then
      local done = false
      for j, p in ipairs(parts) do
        if p.info.constraint and p.info.name == ch.name then table.remove(parts, j); done = true; break end
      end
      if not done then
        for _, p in ipairs(parts) do
          if p.info.column and not done then
            local col = column_segments(p.text)
            for _, s in ipairs(col.segs) do
              if s.name == ch.name then
                done = true
                col.segs = without(col.segs, function(x) return x == s end)
                p.text = column_text(col)
                p.info = classify(p)
                break
              end
            end
          end
        end
      end
    end
  end

  -- CHECK clauses, on the table or on a column, that use a dropped column
  if #dropped > 0 then
    local defs = {}
    for _, p in ipairs(parts) do
      if p.info.column then
        local col = column_segments(p.text)
        col.segs = without(col.segs, function(s) return s.kw == "CHECK" end)
        defs[#defs + 1] = column_text(col)
      end
    end
    defs = table.concat(defs, ", ")
    local function gone(clause, name)
      local by = ctx.check_depends(defs, clause, dropped)
      if by then
        log("info", ('%s: %s goes with column "%s"'):format(opname, describe_constraint("CHECK", name, clause), by))
      end
      return by
    end
    for j = #parts, 1, -1 do
      local p = parts[j]
      if p.info.constraint == "CHECK" then
        if gone(p.text, p.info.name) then table.remove(parts, j) end
      elseif p.info.column then
        local col = column_segments(p.text)
        local n = #col.segs
        col.segs = without(col.segs, function(s) return s.kw == "CHECK" and gone(s.text, s.name) end)
        if #col.segs ~= n then p.text = column_text(col); p.info = classify(p) end
      end
    end
  end
  if #parts == 0 or not parts[1].info.column then
    ctx.raise(('%s: table "%s" would have no columns left'):format(opname, ctx.table))
  end
  return shape, dropped
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

-- A name for the rowid that no column of the list shadows.
local function rowid_name(columns)
  for _, n in ipairs({"rowid", "_rowid_", "oid"}) do
    local taken = false
    for _, c in ipairs(columns) do if same_name(c, n) then taken = true end end
    if not taken then return n end
  end
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
