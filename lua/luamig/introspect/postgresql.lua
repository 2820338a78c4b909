-- luamig.introspect.postgresql -- read the current schema (search_path's
-- first schema) of a PostgreSQL database into the table model (see
-- luamig.dialect.common): five catalog queries for the whole schema (the
-- fifth: its enum types, schema.enums, {[quoted name] = luamig.dialect.enum}).
local dialect = require "luamig.dialect.postgresql"
local enum = require "luamig.dialect.enum"
local index_collate = require "luamig.introspect.pg_index_collate"

-- The labels of an enum, in order, as hex joined by commas (a label may
-- hold any character but NUL), and back.
local LABELS = [[(SELECT string_agg(encode(convert_to(e.enumlabel, 'UTF8'), 'hex'), ',' ORDER BY e.enumsortorder)
  FROM pg_enum e WHERE e.enumtypid = %s)]]
local function labels(hex)
  local out = {}
  for h in (hex or ""):gmatch("[^,]+") do
    out[#out + 1] = h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end)
  end
  return out
end

local M = {}

-- The name PostgreSQL keeps for an identifier written as name (the first
-- 63 bytes, cut at a character boundary), for looking it up in the catalog.
M.stored_name = dialect.stored_name

local fk_action = {a = nil, r = "RESTRICT", c = "CASCADE", n = "SET NULL", d = "SET DEFAULT"}
local numeric_types = {integer = true, bigint = true, smallint = true, numeric = true,
                       real = true, ["double precision"] = true}

-- A default as PostgreSQL prints it, without the cast on a plain literal:
-- 'x'::character varying -> 'x', '-1'::integer -> -1.
function M.normalize_default(s)
  if s == nil then return nil end
  local lit, cast = s:match("^('.*')::([%w%s_]+)$")
  if lit and not lit:sub(2, -2):gsub("''", ""):find("'") then
    local n = lit:match("^'(%-?%d+%.?%d*)'$")
    if n and numeric_types[cast] then return n end
    return lit
  end
  local num, ncast = s:match("^%(?(%-?%d+%.?%d*)%)?::([%w%s_]+)$")   -- 0::numeric, (-1)::numeric
  if num and numeric_types[ncast] then return num end
  local paren = s:match("^%((%-%d+%.?%d*)%)$")        -- (-1)
  return paren or s
end

local function sort_by_name(list)
  table.sort(list, function(a, b)
    return (a.name or "") .. "\0" .. table.concat(a.columns or {}, "\0")
         < (b.name or "") .. "\0" .. table.concat(b.columns or {}, "\0")
  end)
  return list
end

-- The schema's tables: ordinary and partitioned ones, not the partitions themselves.
local FROM = " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
local TABLES = [[n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition]]

-- The names of the schema's tables, luamig's own included (one query).
function M.table_names(conn)
  local names = {}
  for _, r in ipairs(conn:query("SELECT c.relname AS name" .. FROM .. "WHERE " .. TABLES)) do
    names[#names + 1] = r.name
  end
  return names
end

-- The schema of a live PostgreSQL connection.
--   opts.table: only this table; otherwise every table but luamig_*.
--   opts.temp: the session's temporary tables instead (pg_temp), every one
--   (autogenerate builds declared tables there to read them back as the
--   server spells them).
function M.read(conn, opts)
  opts = opts or {}
  local filter, params = TABLES, nil
  if opts.temp then
    filter = [[c.relnamespace = pg_my_temp_schema() AND c.relkind IN ('r', 'p')]]
  elseif opts.table then
    filter, params = filter .. " AND c.relname = $1", {opts.table}
  else
    filter = filter .. [[ AND c.relname NOT LIKE 'luamig\_%' ESCAPE '\']]
  end

  local tables = {}
  for _, r in ipairs(conn:query("SELECT c.relname AS name, obj_description(c.oid, 'pg_class') AS comment, "
                                .. "c.relkind::text AS kind" .. FROM .. "WHERE " .. filter, params)) do
    tables[r.name] = {name = r.name, comment = r.comment, columns = {}, uniques = {},
                      foreign_keys = {}, checks = {}, indexes = {}}
    -- PARTITION BY (not declared by luamig; autogenerate's safe forms keep the plain form there)
    if r.kind == "p" then tables[r.name].partitioned = true end
  end

  for _, r in ipairs(conn:query([[SELECT c.relname AS tbl, a.attname AS name,
      format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
      pg_get_expr(ad.adbin, ad.adrelid) AS dflt, a.attidentity::text AS ident,
      a.attgenerated::text AS gen, col_description(c.oid, a.attnum) AS comment,
      CASE WHEN ty.typtype = 'e' THEN ty.typname END AS enum_name,
      CASE WHEN ty.typtype = 'e' AND tn.nspname <> current_schema() THEN tn.nspname END AS enum_schema,
      CASE WHEN ty.typtype = 'e' THEN ]] .. LABELS:format("ty.oid") .. [[ END AS enum_values,
      CASE WHEN et.typtype = 'e' THEN et.typname END AS enum_array,
      CASE WHEN et.typtype = 'e' AND etn.nspname <> current_schema() THEN etn.nspname END AS enum_array_schema
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_type ty ON ty.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = ty.typnamespace
      LEFT JOIN pg_type et ON ty.typcategory = 'A' AND et.oid = ty.typelem
      LEFT JOIN pg_namespace etn ON etn.oid = et.typnamespace
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
      WHERE a.attnum > 0 AND NOT a.attisdropped AND ]] .. filter
      .. " ORDER BY c.relname, a.attnum", params)) do
    local t = tables[r.tbl]
    if t then
      local col = {name = r.name, type = dialect.generic_type(r.type), nullable = not r.notnull,
                   default = M.normalize_default(r.dflt), autoincrement = false, comment = r.comment}
      if r.ident == "a" or r.ident == "d" then
        col.autoincrement = true
      elseif r.dflt and r.dflt:match("^nextval%('.*'::regclass%)$") then
        col.autoincrement, col.default = true, nil
      end
      if r.gen and r.gen ~= "" then col.generated = r.dflt; col.default = nil end
      if r.enum_name then                  -- luamig.dialect.enum: the type's quoted name, and its values
        col.enum = enum.new(r.enum_name, labels(r.enum_values), r.enum_schema)
        col.type = enum.qualified(r.enum_name, r.enum_schema)
      elseif r.enum_array then             -- an array of an enum: '"name"[]', as written in a migration
        col.type = enum.qualified(r.enum_array, r.enum_array_schema) .. "[]"
      end
      t.columns[#t.columns + 1] = col
    end
  end

  local cons = {}
  for _, r in ipairs(conn:query([[SELECT c.relname AS tbl, con.conname AS name,
      con.contype::text AS kind, k.i, ka.attname AS col, fa.attname AS ref_col,
      fc.relname AS ref_table, CASE WHEN fc.relnamespace <> c.relnamespace
        THEN (SELECT fn.nspname FROM pg_namespace fn WHERE fn.oid = fc.relnamespace) END AS ref_schema,
      con.confupdtype::text AS upd, con.confdeltype::text AS del,
      con.confmatchtype::text AS fmatch, con.condeferrable AS deferrable,
      con.condeferred AS deferred, con.convalidated AS validated,
      CASE WHEN con.contype = 'c' THEN pg_get_constraintdef(con.oid, true) END AS def
      FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_class fc ON fc.oid = con.confrelid
      LEFT JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refattnum, i) ON true
      LEFT JOIN pg_attribute ka ON ka.attrelid = con.conrelid AND ka.attnum = k.attnum
      LEFT JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = k.refattnum
      WHERE con.contype IN ('p', 'u', 'f', 'c') AND ]] .. filter
      .. " ORDER BY c.relname, con.conname, k.i", params)) do
    local t = tables[r.tbl]
    if t then
      local key = r.tbl .. "\0" .. r.name
      local c = cons[key]
      if not c then
        c = {name = r.name}
        -- added NOT VALID and not yet validated: the same constraint for
        -- check and autogenerate; Runner:compare says it is not validated
        if r.validated == false then c.not_valid = true end
        if r.kind == "p" then
          c.columns = {}
          t.primary_key = c
        elseif r.kind == "u" then
          c.columns = {}
          if r.deferrable then c.deferrable = true end
          if r.deferred then c.initially = "DEFERRED" end
          t.uniques[#t.uniques + 1] = c
        elseif r.kind == "f" then
          c.columns, c.ref_table, c.ref_columns = {}, r.ref_table, {}
          c.ref_schema = r.ref_schema               -- another schema's table (not declarable: listed, warned)
          c.on_delete, c.on_update = fk_action[r.del], fk_action[r.upd]
          if r.fmatch == "f" then c.match = "FULL" elseif r.fmatch == "p" then c.match = "PARTIAL" end
          if r.deferrable then c.deferrable = true end
          if r.deferred then c.initially = "DEFERRED" end
          t.foreign_keys[#t.foreign_keys + 1] = c
        else
          local def = r.validated == false and r.def and r.def:gsub(" NOT VALID$", "") or r.def
          local cond = (def or ""):match("^CHECK %((.*)%)") or def
          c.condition = cond
          t.checks[#t.checks + 1] = c
        end
        cons[key] = c
      end
      if c.columns and r.col then c.columns[#c.columns + 1] = r.col end
      if c.ref_columns and r.ref_col then c.ref_columns[#c.ref_columns + 1] = r.ref_col end
    end
  end

  local idx, elements = {}, {}                -- elements: ix -> {def, the key elements' texts}
  for _, r in ipairs(conn:query([[SELECT c.relname AS tbl, i.relname AS name,
      x.indisunique AS isunique, x.indisvalid AS isvalid, pg_get_expr(x.indpred, x.indrelid, true) AS pred,
      k.i, k.i > x.indnkeyatts AS included, a.attname AS col,
      pg_get_indexdef(x.indexrelid, k.i::int, true) AS expr, am.amname AS method,
      pg_get_indexdef(x.indexrelid, 0, true) AS def,
      x.indoption[k.i::int - 1] AS opt, quote_ident(oc.opcname) AS opclass, oc.opcdefault AS opcdefault,
      CASE WHEN x.indcollation[k.i::int - 1] NOT IN (0, COALESCE(a.attcollation, 100))
           THEN co.collname END AS collation,
      array_to_string(i.reloptions, chr(31)) AS reloptions,
      (to_jsonb(x) ->> 'indnullsnotdistinct') = 'true' AS nulls_not_distinct
      FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
      JOIN pg_class c ON c.oid = x.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_am am ON am.oid = i.relam
      CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, i)
      LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum AND k.attnum <> 0
      LEFT JOIN pg_opclass oc ON oc.oid = x.indclass[k.i::int - 1]
      LEFT JOIN pg_collation co ON co.oid = x.indcollation[k.i::int - 1]
      WHERE NOT EXISTS (SELECT 1 FROM pg_constraint pc WHERE pc.conindid = x.indexrelid
                        AND pc.conrelid = x.indrelid AND pc.contype IN ('p', 'u', 'x'))
        AND ]] .. filter .. " ORDER BY c.relname, i.relname, k.i", params)) do
    local t = tables[r.tbl]
    if t then
      local key = r.tbl .. "\0" .. r.name
      local ix = idx[key]
      if not ix then
        ix = {name = r.name, unique = r.isunique, columns = {}, where = r.pred}
        if r.method ~= "btree" then ix.using = r.method end
        if r.nulls_not_distinct then ix.nulls_not_distinct = true end
        if r.isvalid == false then ix.invalid = true end     -- a failed CONCURRENTLY build's
        if r.reloptions and r.reloptions ~= "" then
          ix.with = {}
          for kv in (r.reloptions .. "\31"):gmatch("(.-)\31") do
            local k, v = kv:match("^([^=]+)=(.*)$")
            if k then ix.with[k] = v end
          end
        end
        idx[key] = ix
        elements[ix] = {def = r.def, catalog = {}}
        t.indexes[#t.indexes + 1] = ix
      end
      if r.included then
        ix.include = ix.include or {}
        ix.include[#ix.include + 1] = r.col
      else
        ix.columns[#ix.columns + 1] = r.col or {expr = r.expr}
        elements[ix][#ix.columns] = r.expr
        elements[ix].catalog[#ix.columns] = r.collation
        -- indoption: 1 DESC, 2 NULLS FIRST; the defaults (ASC NULLS LAST,
        -- DESC NULLS FIRST) are not said
        local o, opt = {}, tonumber(r.opt) or 0
        local desc, first = opt & 1 == 1, opt & 2 == 2
        if desc then o.order = "desc" end
        if first ~= desc then o.nulls = first and "first" or "last" end
        if r.collation and r.col then o.collate = r.collation end   -- an expression's: below
        if r.opclass and not r.opcdefault then o.opclass = r.opclass end
        if next(o) then
          ix.column_options = ix.column_options or {}
          ix.column_options[#ix.columns] = o
        end
      end
    end
  end

  -- an expression's COLLATE, as the definition writes it: the catalog's
  -- indcollation can only be compared with the expression's own collation
  -- (lower(name) over a column COLLATE "C" is "C" without a COLLATE), which
  -- SQL cannot read
  for ix, e in pairs(elements) do
    local collates = index_collate.read(e.def, e)
    for pos, col in ipairs(ix.columns) do
      if type(col) == "table" and col.expr then
        local c
        if collates then c = collates[pos] else c = e.catalog[pos] end   -- unread: the catalog's
        if c then
          ix.column_options = ix.column_options or {}
          ix.column_options[pos] = ix.column_options[pos] or {}
          ix.column_options[pos].collate = c
        end
      end
    end
  end

  for _, t in pairs(tables) do
    sort_by_name(t.uniques)
    sort_by_name(t.foreign_keys)
    sort_by_name(t.checks)
    table.sort(t.indexes, function(a, b) return a.name < b.name end)
  end
  local enums                               -- the schema's enum types (not for one table or pg_temp)
  if not opts.temp and not opts.table then
    enums = {}
    for _, r in ipairs(conn:query([[SELECT t.typname AS name,
        CASE WHEN n.nspname <> current_schema() THEN n.nspname END AS schema,
        ]] .. LABELS:format("t.oid") .. [[ AS v
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typtype = 'e' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\_%' ESCAPE '\']])) do
      local e = enum.new(r.name, labels(r.v), r.schema)
      enums[enum.qualified(e.name, e.schema)] = e
    end
  end
  return {dialect = "postgresql", tables = tables, enums = enums}
end

return M
