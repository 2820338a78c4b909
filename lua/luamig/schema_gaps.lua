-- luamig.schema_gaps -- what a database holds that luamig's declared
-- schema (schema.lua) and a baseline cannot say, item by item, for
-- `init --from-database` (its "Not covered" header and warning) and
-- `revision --baseline` (which refuses, without --force, when an item
-- would be rebuilt differently rather than merely left out).
--
--   local gaps = require("luamig.schema_gaps").list(conn, live)
--   -- {{item = "generated column g.b (...)", rebuild = true}, ...}
--
-- live: luamig.introspect's schema of the same database; items of tables
-- it does not hold (luamig's own, those include_object leaves out) are
-- not listed. rebuild = true: the baseline would create the object, but
-- not as it is (a generated column as a plain one, an identity ALWAYS as
-- BY DEFAULT, ...); rebuild = false: the object is left out, which the
-- warning says (views, triggers, functions, extensions, sequences,
-- SQLite's virtual tables).
-- Extensions are also returned on their own (M.extensions) so that a
-- baseline can create them first.
local M = {}

-- PostgreSQL: {sql, rebuild}; each query returns tbl (NULL: not of one
-- table) and item. current_schema() is the schema luamig reads.
local CS = "current_schema()::regnamespace"
local PG = {
  {[[SELECT c.relname AS tbl, 'generated column ' || quote_ident(c.relname) || '.' || quote_ident(a.attname)
      || ' (GENERATED ALWAYS AS (' || pg_get_expr(ad.adbin, ad.adrelid) || ') STORED)' AS item
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE c.relnamespace = ]] .. CS .. [[ AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attgenerated::text <> '' ORDER BY 2]], true},
  {[[SELECT c.relname AS tbl, 'foreign key ' || quote_ident(c.relname) || '.' || quote_ident(con.conname)
      || ' references ' || quote_ident(fn.nspname) || '.' || quote_ident(fc.relname)
      || ' in another schema (schema.lua and a baseline would point it at '
      || quote_ident(fc.relname) || ' of this schema)' AS item
     FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
     JOIN pg_class fc ON fc.oid = con.confrelid JOIN pg_namespace fn ON fn.oid = fc.relnamespace
     WHERE con.contype = 'f' AND c.relnamespace = ]] .. CS .. [[ AND fc.relnamespace <> ]] .. CS
     .. [[ ORDER BY 2]], true},
  {[[SELECT c.relname AS tbl, 'identity column ' || quote_ident(c.relname) || '.' || quote_ident(a.attname)
      || ' (GENERATED ' || CASE a.attidentity WHEN 'a' THEN 'ALWAYS' ELSE 'BY DEFAULT' END
      || ' AS IDENTITY START ' || s.seqstart || ' INCREMENT ' || s.seqincrement
      || '; luamig creates BY DEFAULT, START 1 INCREMENT 1)' AS item
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     JOIN pg_depend d ON d.refobjid = c.oid AND d.refobjsubid = a.attnum AND d.deptype = 'i'
       AND d.classid = 'pg_class'::regclass
     JOIN pg_sequence s ON s.seqrelid = d.objid
     WHERE c.relnamespace = ]] .. CS .. [[ AND a.attidentity IN ('a', 'd')
       AND (a.attidentity = 'a' OR s.seqstart <> 1 OR s.seqincrement <> 1 OR s.seqcycle
            OR s.seqmin <> 1 OR s.seqcache <> 1) ORDER BY 2]], true},
  {[[SELECT c.relname AS tbl, 'column ' || quote_ident(c.relname) || '.' || quote_ident(a.attname)
      || ' takes its default from sequence ' || quote_ident(sc.relname)
      || ', which it does not own (a baseline makes it an identity column of its own)' AS item
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
       AND d.refclassid = 'pg_class'::regclass
     JOIN pg_class sc ON sc.oid = d.refobjid AND sc.relkind = 'S'
     WHERE c.relnamespace = ]] .. CS .. [[ AND NOT EXISTS (SELECT 1 FROM pg_depend o
       WHERE o.classid = 'pg_class'::regclass AND o.objid = sc.oid AND o.deptype IN ('a', 'i')
         AND o.refobjid = c.oid AND o.refobjsubid = a.attnum) ORDER BY 2]], true},
  {[[SELECT c.relname AS tbl, 'exclusion constraint ' || quote_ident(c.relname) || '.'
      || quote_ident(con.conname) || ' (' || pg_get_constraintdef(con.oid, true) || ')' AS item
     FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
     WHERE con.contype = 'x' AND c.relnamespace = ]] .. CS .. [[ ORDER BY 2]], true},
  {[[SELECT c.relname AS tbl, 'unique constraint ' || quote_ident(c.relname) || '.'
      || quote_ident(con.conname) || ' NULLS NOT DISTINCT' AS item
     FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
     JOIN pg_index x ON x.indexrelid = con.conindid
     WHERE con.contype = 'u' AND c.relnamespace = ]] .. CS .. [[
       AND (to_jsonb(x) ->> 'indnullsnotdistinct') = 'true' ORDER BY 2]], true},
  {[[SELECT c.relname AS tbl, 'check constraint ' || quote_ident(c.relname) || '.'
      || quote_ident(con.conname) || ' NO INHERIT' AS item
     FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
     WHERE con.contype = 'c' AND con.connoinherit AND c.relnamespace = ]] .. CS .. [[ ORDER BY 2]], true},
  {[[SELECT c.relname AS tbl, 'foreign key ' || quote_ident(c.relname) || '.' || quote_ident(con.conname)
      || ' ' || pg_get_constraintdef(con.oid, true) AS item
     FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
     WHERE con.contype = 'f' AND c.relnamespace = ]] .. CS .. [[
       AND coalesce(to_jsonb(con) ->> 'confdelsetcols', 'null') <> 'null' ORDER BY 2]], true},
  {[[SELECT c.relname AS tbl, 'partitioned table ' || quote_ident(c.relname) || ' ('
      || pg_get_partkeydef(c.oid) || ')' AS item
     FROM pg_class c WHERE c.relkind = 'p' AND c.relnamespace = ]] .. CS .. [[ ORDER BY 2]], true},
  {[[SELECT p.relname AS tbl, 'partition ' || quote_ident(c.relname) || ' of ' || quote_ident(p.relname)
      AS item FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid JOIN pg_class p ON p.oid = i.inhparent
     WHERE c.relispartition AND c.relnamespace = ]] .. CS .. [[ ORDER BY 2]], true},
  {[[SELECT c.relname AS tbl, 'unlogged table ' || quote_ident(c.relname) AS item
     FROM pg_class c WHERE c.relpersistence = 'u' AND c.relkind IN ('r', 'p')
       AND c.relnamespace = ]] .. CS .. [[ ORDER BY 2]], true},
  {[[SELECT c.relname AS tbl, 'table ' || quote_ident(c.relname) || ' inherits from '
      || quote_ident(p.relname) AS item
     FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid JOIN pg_class p ON p.oid = i.inhparent
     WHERE NOT c.relispartition AND c.relnamespace = ]] .. CS .. [[ ORDER BY 2]], true},
  {[[SELECT NULL AS tbl, 'domain ' || quote_ident(t.typname) || ' (' || format_type(t.typbasetype, t.typtypmod)
      || ')' AS item FROM pg_type t WHERE t.typtype = 'd' AND t.typnamespace = ]] .. CS .. [[
       AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.objid = t.oid AND e.deptype = 'e') ORDER BY 2]], true},
  {[[SELECT NULL AS tbl, 'type ' || quote_ident(t.typname) || ' (' || CASE t.typtype WHEN 'c' THEN 'composite'
      WHEN 'r' THEN 'range' ELSE 'base' END || ')' AS item
     FROM pg_type t LEFT JOIN pg_class tc ON tc.oid = t.typrelid
     WHERE t.typnamespace = ]] .. CS .. [[ AND (t.typtype = 'r' OR t.typtype = 'c' AND tc.relkind = 'c'
         OR t.typtype = 'b' AND t.typcategory <> 'A')
       AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.objid = t.oid AND e.deptype = 'e')
     ORDER BY 2]], true},
  {[[SELECT NULL AS tbl, 'sequence ' || quote_ident(s.relname) AS item FROM pg_class s
     WHERE s.relkind = 'S' AND s.relnamespace = ]] .. CS .. [[ AND NOT EXISTS (SELECT 1 FROM pg_depend o
       WHERE o.classid = 'pg_class'::regclass AND o.objid = s.oid AND o.deptype IN ('a', 'i', 'e'))
     ORDER BY 2]], false},
}

-- The extensions of the database (plpgsql, always there, left out):
-- {{name =, schema = nil | name when not the current schema}}.
function M.extensions(conn)
  if conn:dialect() ~= "postgresql" then return {} end
  local out = {}
  for _, r in ipairs(conn:query([[SELECT e.extname AS name,
      CASE WHEN e.extnamespace <> current_schema()::regnamespace THEN n.nspname END AS schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
      WHERE e.extname <> 'plpgsql' ORDER BY e.extname]])) do
    out[#out + 1] = {name = r.name, schema = r.schema}
  end
  return out
end

local function sqlite_items(conn, live, add)
  local sqltext = require "luamig.sqltext"
  local function q(s) return '"' .. s:gsub('"', '""') .. '"' end
  local names = {}
  for name in pairs(live.tables) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    for _, r in ipairs(conn:query("SELECT name, hidden FROM pragma_table_xinfo($1) WHERE hidden IN (2, 3)"
                                  .. " ORDER BY cid", {name})) do
      local sql = conn:query("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = $1", {name})[1].sql
      local expr = "?"
      local toks = sqltext.tokens(sql, "sqlite")
      for j, t in ipairs(toks) do                     -- the column's AS (expr)
        if expr ~= "?" then break end
        if (t.k == "word" or t.k == "ident") and t.v == r.name then
          for k = j + 1, #toks do
            if sqltext.upper(toks[k]) == "AS" and sqltext.is(toks[k + 1], "(") then
              expr = sqltext.text(sql, toks, k + 2, sqltext.close_paren(toks, k + 1) - 1)
              break
            elseif sqltext.is(toks[k], ",") then break end
          end
        end
      end
      add(name, ("generated column %s.%s (AS (%s) %s)"):format(q(name), q(r.name), expr,
        r.hidden == 3 and "STORED" or "VIRTUAL"), true)
    end
    local t = live.tables[name]
    local options = (t.options or ""):upper()
    if options:find("WITHOUT ROWID") then add(name, ("table %s WITHOUT ROWID"):format(q(name)), true) end
    if options:find("STRICT") then add(name, ("table %s STRICT"):format(q(name)), true) end
    for _, c in ipairs(t.columns) do
      if c.nullable ~= false and not c.autoincrement and require("luamig.autogen.diff").in_key(t, c.name) then
        add(name, ("column %s.%s of the primary key allows NULL (SQLite's legacy rule); luamig creates it "
          .. "NOT NULL"):format(q(name), q(c.name)), true)
      end
    end
    local sql = conn:query("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = $1", {name})[1].sql or ""
    local toks = sqltext.tokens(sql, "sqlite")
    for j = 1, #toks - 2 do
      local u = sqltext.upper(toks[j])
      if u == "ON" and sqltext.upper(toks[j + 1]) == "CONFLICT" then
        add(name, ("table %s: ON CONFLICT %s"):format(q(name), sqltext.upper(toks[j + 2]) or "?"), true)
      elseif u == "PRIMARY" and sqltext.upper(toks[j + 1]) == "KEY" and sqltext.upper(toks[j + 2]) == "DESC"
             and t.primary_key and #t.primary_key.columns == 1 and t.columns[1]
             and not sqltext.is(toks[j + 2], "(") then
        add(name, ("table %s: INTEGER PRIMARY KEY DESC (not the rowid; a rebuild makes it the rowid)")
          :format(q(name)), true)
      end
    end
  end
end

-- The items, sorted; views, triggers and functions as the older header
-- named them ("view v", "trigger t_trg on t", "function f").
function M.list(conn, live)
  local out, seen = {}, {}
  local function add(tbl, item, rebuild)
    if tbl and not live.tables[tbl] then return end
    if seen[item] then return end
    seen[item] = true
    out[#out + 1] = {item = item, rebuild = rebuild}
  end
  if conn:dialect() == "sqlite" then
    for _, r in ipairs(conn:query([[SELECT type AS kind, name, tbl_name AS tbl FROM sqlite_schema
        WHERE type IN ('view', 'trigger') ORDER BY type, name]])) do
      add(nil, r.kind .. " " .. r.name, false)
    end
    -- virtual tables (FTS5, R*Tree, ...): their shadow tables go with them
    for _, r in ipairs(conn:query([[SELECT m.name, m.sql FROM sqlite_schema m JOIN pragma_table_list tl
        ON tl.name = m.name AND tl.schema = 'main' WHERE m.type = 'table' AND tl.type = 'virtual'
        ORDER BY m.name]])) do
      local using = (r.sql or ""):match("[Uu][Ss][Ii][Nn][Gg]%s+(.-)%s*$")
      add(nil, "virtual table " .. r.name .. (using and (" (USING " .. using .. ")") or ""), false)
    end
    sqlite_items(conn, live, add)
  else
    for _, e in ipairs(M.extensions(conn)) do
      add(nil, "extension " .. e.name .. (e.schema and (" (in schema " .. e.schema .. ")") or ""), false)
    end
    for _, r in ipairs(conn:query([[SELECT 'view' AS kind, c.relname AS name FROM pg_class c
        WHERE c.relkind IN ('v', 'm') AND c.relnamespace = current_schema()::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.objid = c.oid AND e.deptype = 'e')
      UNION ALL SELECT 'trigger', t.tgname || ' on ' || c.relname FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace
      UNION ALL SELECT 'function', p.proname FROM pg_proc p
        WHERE p.pronamespace = current_schema()::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass
                          AND e.objid = p.oid AND e.deptype = 'e')
      ORDER BY 1, 2]])) do
      add(nil, r.kind .. " " .. r.name, false)
    end
    for _, q in ipairs(PG) do
      for _, r in ipairs(conn:query(q[1])) do add(r.tbl, r.item, q[2]) end
    end
  end
  return out
end

-- The items as strings: all of them, and those a baseline rebuilds differently.
function M.strings(items)
  local all, rebuild = {}, {}
  for _, g in ipairs(items) do
    all[#all + 1] = g.item
    if g.rebuild then rebuild[#rebuild + 1] = g.item end
  end
  return all, rebuild
end

return M
