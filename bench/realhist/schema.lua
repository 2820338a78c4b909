-- bench/realhist/schema.lua -- the schema a database holds, read from its
-- catalogue with the sqlite3 / psql command-line tools (not through
-- luamig, so that it judges luamig and Alembic alike), in the form
-- bench/realhist/gen.lua writes to DIR/expected-<dialect>.txt:
--
--   lua5.4 bench/realhist/schema.lua sqlite FILE VERSION_TABLE
--   lua5.4 bench/realhist/schema.lua postgresql DBNAME VERSION_TABLE   (psql's PG* environment)
--
-- One sorted line per fact:
--   table T
--   column T.C TYPE null|notnull    (PostgreSQL: format_type; SQLite: the declared
--                                    type upper-cased, DATETIME read as TIMESTAMP, no
--                                    spaces; a primary key column is notnull)
--   pk T (cols)
--   unique T (cols)                 (a unique constraint)
--   index T NAME unique|plain (cols)  (an index made by CREATE INDEX)
--   fk T (cols) -> R (cols)
--   enum NAME v1,v2,...             (PostgreSQL)
--   version REV                     (the version table's rows)
-- The tools' own tables (luamig_*, alembic_version) are left out.

local dialect, where, vt = arg[1], arg[2], arg[3]
if not (dialect and where and vt) or not vt:match("^[%w_]+$") then
  io.stderr:write("usage: lua5.4 bench/realhist/schema.lua sqlite|postgresql FILE|DBNAME VERSION_TABLE\n")
  os.exit(2)
end

local function q(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end

local function run(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok, _, code = p:close()
  if not ok then
    io.stderr:write(("schema.lua: %s failed (status %s)\n"):format(cmd:match("^%S+"), tostring(code)))
    os.exit(1)
  end
  return out
end

local SQLITE = [[
SELECT 'table ' || name FROM sqlite_master
 WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'luamig_%' AND name <> 'alembic_version';
SELECT 'column ' || m.name || '.' || p.name || ' '
       || replace(replace(upper(p.type), ' ', ''), 'DATETIME', 'TIMESTAMP') || ' '
       || CASE WHEN p."notnull" OR p.pk > 0 THEN 'notnull' ELSE 'null' END
  FROM sqlite_master m, pragma_table_info(m.name) p
 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE 'luamig_%' AND m.name <> 'alembic_version';
SELECT 'pk ' || name || ' (' || cols || ')' FROM (
  SELECT m.name, (SELECT group_concat(name, ',') FROM
                    (SELECT name FROM pragma_table_info(m.name) WHERE pk > 0 ORDER BY pk)) AS cols
    FROM sqlite_master m
   WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE 'luamig_%' AND m.name <> 'alembic_version')
 WHERE cols IS NOT NULL;
SELECT CASE il.origin WHEN 'u' THEN 'unique ' || m.name
                      ELSE 'index ' || m.name || ' ' || il.name || ' '
                           || CASE WHEN il."unique" THEN 'unique' ELSE 'plain' END END
       || ' (' || (SELECT group_concat(name, ',') FROM
                     (SELECT name FROM pragma_index_info(il.name) ORDER BY seqno)) || ')'
  FROM sqlite_master m, pragma_index_list(m.name) il
 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE 'luamig_%' AND m.name <> 'alembic_version'
   AND il.origin <> 'pk';
SELECT 'fk ' || name || ' (' || group_concat("from", ',') || ') -> ' || "table" || ' (' || group_concat("to", ',') || ')'
  FROM (SELECT m.name, f.* FROM sqlite_master m, pragma_foreign_key_list(m.name) f
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE 'luamig_%'
           AND m.name <> 'alembic_version' ORDER BY m.name, f.id, f.seq)
 GROUP BY name, id;
SELECT 'version ' || version_num FROM ]] .. vt .. ";\n"

local PG = [[
SELECT 'table ' || c.relname FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
   AND c.relname NOT LIKE 'luamig\_%' AND c.relname <> 'alembic_version';
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' '
       || CASE WHEN a.attnotnull THEN 'notnull' ELSE 'null' END
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
   AND c.relname NOT LIKE 'luamig\_%' AND c.relname <> 'alembic_version';
SELECT CASE k.contype WHEN 'p' THEN 'pk ' WHEN 'u' THEN 'unique ' ELSE 'fk ' END || c.relname || ' ('
       || (SELECT string_agg(a.attname, ',' ORDER BY x.ord) FROM unnest(k.conkey) WITH ORDINALITY x(num, ord)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.num) || ')'
       || CASE WHEN k.contype = 'f' THEN ' -> ' || r.relname || ' ('
            || (SELECT string_agg(a.attname, ',' ORDER BY x.ord) FROM unnest(k.confkey) WITH ORDINALITY x(num, ord)
                  JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = x.num) || ')'
          ELSE '' END
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid LEFT JOIN pg_class r ON r.oid = k.confrelid
 WHERE c.relnamespace = 'public'::regnamespace AND k.contype IN ('p', 'u', 'f')
   AND c.relname NOT LIKE 'luamig\_%' AND c.relname <> 'alembic_version';
SELECT 'index ' || t.relname || ' ' || i.relname || ' ' || CASE WHEN x.indisunique THEN 'unique' ELSE 'plain' END
       || ' (' || (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(num, ord)
                     JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.num) || ')'
  FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
 WHERE t.relnamespace = 'public'::regnamespace AND t.relname NOT LIKE 'luamig\_%' AND t.relname <> 'alembic_version'
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.contype IN ('p', 'u'));
SELECT 'enum ' || t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
  FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
 WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.typname;
SELECT 'version ' || version_num FROM ]] .. vt .. ";\n"

local out
if dialect == "sqlite" then
  out = run(("sqlite3 -batch %s %s"):format(q(where), q(SQLITE)))
elseif dialect == "postgresql" then
  -- one -c per query: psql shows only the last result of a -c holding several
  local cs = {}
  for stmt in PG:gmatch("(.-);\n") do cs[#cs + 1] = "-c " .. q(stmt) end
  out = run(("psql -X -q -At -v ON_ERROR_STOP=1 -d %s %s"):format(q(where), table.concat(cs, " ")))
else
  io.stderr:write("schema.lua: dialect is sqlite or postgresql, not '" .. dialect .. "'\n")
  os.exit(2)
end
local lines = {}
for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
table.sort(lines)
io.write(table.concat(lines, "\n"), "\n")
