-- Issue 17, lint of op.execute's raw SQL: luamig.lint.sql.classify(sql,
-- dialect) reads each statement only as far as the lint needs (which
-- statement, which table, the options that decide its lock) and says when
-- it could not judge (doc/safety.md, "Raw SQL in op.execute"). Every form
-- the classifier knows, table-driven; multi-statement strings with comments
-- and $$ bodies holding decoy statements; quoted, qualified and hostile
-- names; offsets and lines; unterminated strings and comments; fuzzing
-- with token soups and every truncation of every case. PostgreSQL is the
-- oracle: each classified sample runs on a throwaway database inside an
-- open transaction, and the tables pg_locks reports locked (and in which
-- mode) are the descriptor's; SQLite runs its samples too.
local h = require "spec.helpers"
local core = require "luamig.core"
local sqltext = require "luamig.sqltext"
local classify = require("luamig.lint.sql").classify

local NONE = setmetatable({}, {__tostring = function() return "<absent>" end})

-- Every key of want is in got with that value (tables compared the same
-- way, recursively); NONE asks for the key to be absent.
local function matches(want, got, path)
  path = path or "descriptor"
  for k, v in pairs(want) do
    local g, p = got and got[k], path .. "." .. tostring(k)
    if v == NONE then
      if g ~= nil then return false, ("%s: want absent, got %s"):format(p, tostring(g)) end
    elseif type(v) == "table" then
      if type(g) ~= "table" then return false, ("%s: want a table, got %s"):format(p, tostring(g)) end
      local ok, why = matches(v, g, p)
      if not ok then return false, why end
      if #v > 0 and #v ~= #g then return false, ("%s: want %d items, got %d"):format(p, #v, #g) end
    elseif g ~= v then
      return false, ("%s: want %s, got %s"):format(p, tostring(v), tostring(g))
    end
  end
  return true
end

local function show(list)
  local out = {}
  for i, d in ipairs(list) do
    local parts = {}
    for k, v in pairs(d) do
      if type(v) == "table" then
        local o = {}
        for k2, v2 in pairs(v) do o[#o + 1] = tostring(k2) .. "=" .. tostring(v2) end
        table.sort(o)
        v = "{" .. table.concat(o, ", ") .. "}"
      end
      parts[#parts + 1] = k .. "=" .. tostring(v)
    end
    table.sort(parts)
    out[i] = table.concat(parts, " ")
  end
  return table.concat(out, "\n")
end

local function expect(sql, dialect, want)
  local got = classify(sql, dialect)
  assert(#got == #want, ("%s\nwant %d descriptors, got %d:\n%s"):format(sql, #want, #got, show(got)))
  for i, w in ipairs(want) do
    local ok, why = matches(w, got[i])
    assert(ok, ("%s\ndescriptor %d: %s\n%s"):format(sql, i, tostring(why), show(got)))
  end
  return got
end

-- The forms, PostgreSQL: {sql, {descriptor, ...}}
local PG = {
  -- CREATE INDEX
  {"CREATE INDEX ix ON orders (a)",
    {{op = "create_index", table = "orders", schema = NONE, name = "ix",
      options = {unique = false, postgresql_concurrently = false, columns = "a", where = NONE}}}},
  {"create unique index concurrently if not exists ix2 on only public.Orders using gin (lower(b)) where a > 0",
    {{op = "create_index", table = "orders", schema = "public", name = "ix2",
      options = {unique = true, postgresql_concurrently = true, if_not_exists = true, postgresql_using = "gin",
                 columns = "lower(b)", where = "a > 0"}}}},
  {'CREATE INDEX ON "My Schema"."Orders" (a, (b || \'x\'))',
    {{op = "create_index", table = "Orders", schema = "My Schema", name = NONE,
      options = {columns = "a, (b || 'x')"}}}},
  {"CREATE INDEX CONCURRENTLY ON t (a)", {{op = "create_index", table = "t", options = {postgresql_concurrently = true}}}},
  -- DROP INDEX
  {"DROP INDEX CONCURRENTLY IF EXISTS ix, s.ix2 CASCADE",
    {{op = "drop_index", name = "ix", options = {postgresql_concurrently = true, if_exists = true}},
     {op = "drop_index", name = "ix2", schema = "s", options = {postgresql_concurrently = true}}}},
  {"DROP INDEX ix", {{op = "drop_index", name = "ix", options = {postgresql_concurrently = false, if_exists = NONE}}}},
  -- ALTER TABLE ... ADD COLUMN
  {"ALTER TABLE IF EXISTS ONLY t ADD COLUMN IF NOT EXISTS c varchar(20) DEFAULT 'x' NOT NULL",
    {{op = "add_column", table = "t", column = "c",
      options = {type = "varchar(20)", server_default = "'x'", nullable = false, if_not_exists = true}}}},
  {"ALTER TABLE t ADD c timestamp with time zone DEFAULT now()",
    {{op = "add_column", table = "t", column = "c",
      options = {type = "timestamp with time zone", server_default = "now()", nullable = true}}}},
  {"ALTER TABLE t ADD c int NULL DEFAULT NULL",
    {{op = "add_column", column = "c", options = {type = "int", server_default = "NULL", nullable = true}}}},
  {"ALTER TABLE t ADD c boolean DEFAULT x IS NOT NULL NOT NULL",
    {{op = "add_column", column = "c", options = {server_default = "x IS NOT NULL", nullable = false}}}},
  {"ALTER TABLE t ADD COLUMN u_id int CONSTRAINT fk_u REFERENCES u (id) ON DELETE SET NULL CHECK (u_id > 0)",
    {{op = "add_column", table = "t", column = "u_id", options = {type = "int", nullable = true, server_default = NONE}},
     {op = "create_foreign_key", table = "t", column = "u_id", name = "fk_u",
      options = {referent_table = "u", remote_cols = {"id"}, local_cols = {"u_id"}, postgresql_not_valid = false}},
     {op = "create_check_constraint", table = "t", column = "u_id", name = NONE,
      options = {condition = "u_id > 0", postgresql_not_valid = false}}}},
  {"ALTER TABLE t ADD COLUMN c int CONSTRAINT nn NOT NULL CHECK (c > 0) CONSTRAINT d DEFAULT 1 REFERENCES u",
    {{op = "add_column", column = "c", options = {nullable = false, server_default = "1"}},
     {op = "create_check_constraint", name = NONE, options = {condition = "c > 0"}},
     {op = "create_foreign_key", name = NONE, options = {referent_table = "u"}}}},
  {"ALTER TABLE t ADD COLUMN id2 bigint PRIMARY KEY, ADD COLUMN e text UNIQUE",
    {{op = "add_column", column = "id2", options = {type = "bigint", nullable = false}},
     {op = "create_primary_key", column = "id2", options = {columns = {"id2"}}},
     {op = "add_column", column = "e", options = {type = "text", nullable = true}},
     {op = "create_unique_constraint", column = "e", options = {columns = {"e"}}}}},
  {"ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (a * 2) STORED",
    {{op = "add_column", column = "g", options = {type = "int", computed = "ALWAYS AS (a * 2) STORED"}}}},
  -- DROP COLUMN, ALTER COLUMN
  {"ALTER TABLE t ADD COLUMN n bigint GENERATED BY DEFAULT AS IDENTITY (START 5) NOT NULL",
    {{op = "add_column", column = "n", options = {type = "bigint", identity = "BY DEFAULT AS IDENTITY (START 5)",
      computed = NONE, nullable = false}}}},
  {"ALTER TABLE t DROP COLUMN IF EXISTS c CASCADE",
    {{op = "drop_column", table = "t", column = "c", options = {if_exists = true, cascade = true}}}},
  {"ALTER TABLE t DROP c", {{op = "drop_column", table = "t", column = "c", options = {if_exists = NONE}}}},
  {"ALTER TABLE t ALTER COLUMN c SET DATA TYPE numeric(10, 2) USING c::numeric(10, 2)",
    {{op = "alter_column", table = "t", column = "c",
      options = {type = "numeric(10, 2)", postgresql_using = "c::numeric(10, 2)"}}}},
  {'ALTER TABLE t ALTER c TYPE text COLLATE "C"',
    {{op = "alter_column", column = "c", options = {type = "text", collation = '"C"', postgresql_using = NONE}}}},
  {"ALTER TABLE t ALTER c SET NOT NULL, ALTER COLUMN d DROP NOT NULL, ALTER e SET DEFAULT 0, ALTER f DROP DEFAULT",
    {{op = "alter_column", column = "c", options = {nullable = false}},
     {op = "alter_column", column = "d", options = {nullable = true}},
     {op = "alter_column", column = "e", options = {server_default = "0"}},
     {op = "alter_column", column = "f", options = {server_default = false}}}},
  -- table constraints
  {"ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a, b) REFERENCES s.u (x, y) ON DELETE CASCADE NOT VALID",
    {{op = "create_foreign_key", table = "t", name = "fk",
      options = {local_cols = {"a", "b"}, referent_table = "u", referent_schema = "s", remote_cols = {"x", "y"},
                 postgresql_not_valid = true}}}},
  {"ALTER TABLE t ADD FOREIGN KEY (a) REFERENCES u",
    {{op = "create_foreign_key", table = "t", name = NONE,
      options = {local_cols = {"a"}, referent_table = "u", remote_cols = NONE, postgresql_not_valid = false}}}},
  {"ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0 AND b IS NOT NULL) NOT VALID",
    {{op = "create_check_constraint", table = "t", name = "ck",
      options = {condition = "a > 0 AND b IS NOT NULL", postgresql_not_valid = true}}}},
  {"ALTER TABLE t ADD CHECK (a > 0)",
    {{op = "create_check_constraint", table = "t", name = NONE, options = {postgresql_not_valid = false}}}},
  {"ALTER TABLE t ADD CONSTRAINT uq UNIQUE USING INDEX ix_uq",
    {{op = "create_unique_constraint", table = "t", name = "uq", options = {postgresql_using_index = "ix_uq"}}}},
  {"ALTER TABLE t ADD CONSTRAINT uq2 UNIQUE NULLS NOT DISTINCT (a, b)",
    {{op = "create_unique_constraint", name = "uq2", options = {columns = {"a", "b"}, postgresql_using_index = NONE}}}},
  {"ALTER TABLE t ADD PRIMARY KEY USING INDEX ix_pk",
    {{op = "create_primary_key", table = "t", options = {postgresql_using_index = "ix_pk"}}}},
  {"ALTER TABLE t ADD CONSTRAINT ex EXCLUDE USING gist (a WITH =)",
    {{op = "unjudged", table = "t", name = "ex"}}},
  {"ALTER TABLE t VALIDATE CONSTRAINT fk", {{op = "validate_constraint", table = "t", name = "fk"}}},
  {"ALTER TABLE t DROP CONSTRAINT IF EXISTS fk CASCADE",
    {{op = "drop_constraint", table = "t", name = "fk", options = {if_exists = true}}}},
  -- renames, schema
  {"ALTER TABLE t RENAME TO t2", {{op = "rename_table", table = "t", options = {new_table = "t2"}}}},
  {'ALTER TABLE t RENAME COLUMN a TO "B"', {{op = "alter_column", table = "t", column = "a", options = {new_column_name = "B"}}}},
  {"ALTER TABLE t RENAME a TO b", {{op = "alter_column", column = "a", options = {new_column_name = "b"}}}},
  {"ALTER TABLE t RENAME CONSTRAINT c1 TO c2",
    {{op = "rename_constraint", table = "t", name = "c1", options = {new_name = "c2"}}}},
  {"ALTER TABLE t SET SCHEMA archive", {{op = "set_schema", table = "t", options = {new_schema = "archive"}}}},
  -- ALTER TABLE actions the classifier does not read: said, with the table
  {"ALTER TABLE t SET TABLESPACE fast", {{op = "unjudged", table = "t"}}},
  {"ALTER TABLE t ALTER c SET STATISTICS 100", {{op = "unjudged", table = "t", column = "c"}}},
  {"ALTER TABLE t ADD c int, OWNER TO bob",
    {{op = "add_column", column = "c"}, {op = "unjudged", table = "t"}}},
  -- CREATE TABLE, SELECT INTO, DROP TABLE, TRUNCATE
  {'CREATE TABLE IF NOT EXISTS s."T" (id int PRIMARY KEY, u_id int REFERENCES u)',
    {{op = "create_table", table = "T", schema = "s", options = {as_select = NONE}}}},
  {"CREATE UNLOGGED TABLE t2 AS SELECT * FROM t", {{op = "create_table", table = "t2", options = {as_select = true}}}},
  {"CREATE TEMP TABLE t2 (a, b) AS SELECT 1, 2", {{op = "create_table", table = "t2", options = {as_select = true}}}},
  {"SELECT * INTO TEMP TABLE t3 FROM t", {{op = "create_table", table = "t3", options = {as_select = true}}}},
  {"CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1)", {{op = "create_table", table = "p1", options = {partition_of = true}}}},
  {"DROP TABLE IF EXISTS a, s.B CASCADE",
    {{op = "drop_table", table = "a", options = {if_exists = true, cascade = true}},
     {op = "drop_table", table = "b", schema = "s", options = {if_exists = true, cascade = true}}}},
  {"DROP TABLE t", {{op = "drop_table", table = "t", options = {if_exists = NONE, cascade = NONE}}}},
  {"TRUNCATE TABLE ONLY a, b",
    {{op = "dml", table = "a", options = {statement = "TRUNCATE", all_rows = true}},
     {op = "dml", table = "b", options = {statement = "TRUNCATE", all_rows = true}}}},
  -- DML
  {"INSERT INTO s.t (a) VALUES (1)", {{op = "dml", table = "t", schema = "s", options = {statement = "INSERT"}}}},
  {"WITH x AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM x",
    {{op = "dml", table = "b", options = {statement = "INSERT"}}}},
  {"UPDATE t SET a = 1 WHERE id = 2", {{op = "dml", table = "t", note = NONE, options = {statement = "UPDATE", all_rows = NONE}}}},
  {"UPDATE ONLY t AS x SET a = (SELECT 1 WHERE true)",
    {{op = "dml", table = "t", note = "UPDATE without WHERE: changes every row of t",
      options = {statement = "UPDATE", all_rows = true}}}},
  {"DELETE FROM t", {{op = "dml", table = "t", note = "DELETE without WHERE: removes every row of t",
    options = {statement = "DELETE", all_rows = true}}}},
  {"DELETE FROM t WHERE a IN (SELECT 1)", {{op = "dml", table = "t", options = {all_rows = NONE}}}},
  {"MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE", {{op = "dml", table = "t", options = {statement = "MERGE"}}}},
  {"COPY t (a, b) FROM STDIN", {{op = "dml", table = "t", options = {statement = "COPY", direction = "FROM"}}}},
  {"COPY (SELECT 1) TO STDOUT", {{op = "dml", table = NONE, options = {statement = "COPY", direction = "TO"}}}},
  {"SELECT setval('s', 1)", {{op = "dml", table = NONE, options = {statement = "SELECT"}}}},
  -- SET, RESET, transaction control
  {"SET lock_timeout = '2s'", {{op = "set", options = {name = "lock_timeout", value = "'2s'", ["local"] = NONE}}}},
  {"SET LOCAL statement_timeout TO 5000", {{op = "set", options = {name = "statement_timeout", value = "5000", ["local"] = true}}}},
  {"SET SESSION TIME ZONE 'UTC'", {{op = "set", options = {name = "timezone", value = "'UTC'"}}}},
  {"SET CONSTRAINTS ALL DEFERRED", {{op = "set", options = {name = "constraints", value = "ALL DEFERRED"}}}},
  {"RESET ALL", {{op = "set", options = {reset = true, name = "all"}}}},
  {"RESET lock_timeout", {{op = "set", options = {reset = true, name = "lock_timeout"}}}},
  {"BEGIN; START TRANSACTION; COMMIT; END; ROLLBACK; SAVEPOINT a",
    {{op = "transaction", options = {statement = "BEGIN"}}, {op = "transaction", options = {statement = "BEGIN"}},
     {op = "transaction", options = {statement = "COMMIT"}}, {op = "transaction", options = {statement = "COMMIT"}},
     {op = "transaction", options = {statement = "ROLLBACK"}}, {op = "transaction", options = {statement = "SAVEPOINT"}}}},
  -- LOCK TABLE
  {"LOCK TABLE ONLY orders IN SHARE ROW EXCLUSIVE MODE NOWAIT",
    {{op = "lock_table", table = "orders", options = {mode = "SHARE ROW EXCLUSIVE"}}}},
  {"LOCK a, s.b", {{op = "lock_table", table = "a", options = {mode = "ACCESS EXCLUSIVE"}},
    {op = "lock_table", table = "b", schema = "s", options = {mode = "ACCESS EXCLUSIVE"}}}},
  -- types, extensions
  {"CREATE TYPE mood AS ENUM ('a')", {{op = "create_enum", name = "mood"}}},
  {"CREATE TYPE pair AS (a int, b int)", {{op = "create_type", name = "pair"}}},
  {"ALTER TYPE s.mood ADD VALUE IF NOT EXISTS 'b' BEFORE 'a'",
    {{op = "add_enum_value", name = "mood", schema = "s", options = {value = "b", before = "a", if_not_exists = true}}}},
  {"ALTER TYPE mood RENAME VALUE 'a' TO 'z'", {{op = "rename_enum_value", name = "mood", options = {old = "a", new = "z"}}}},
  {"CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public",
    {{op = "create_extension", name = "pg_trgm", options = {if_not_exists = true}}}},
  -- what the classifier cannot see into, or does not read
  {"DO $$ BEGIN ALTER TABLE t ADD c int; CREATE INDEX i ON t (a); END $$",
    {{op = "unjudged", why = "a DO block: the classifier cannot see inside its body"}}},
  {"DO LANGUAGE plpgsql $x$ BEGIN DROP TABLE t; END $x$", {{op = "unjudged"}}},
  {"CREATE OR REPLACE FUNCTION f() RETURNS trigger AS $$ BEGIN CREATE INDEX i ON t (a); RETURN NEW; END $$ LANGUAGE plpgsql",
    {{op = "unjudged", why = "CREATE FUNCTION: its body runs when it is called, and the classifier does not read it"}}},
  {"CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (CASE WHEN true THEN 1 END); DELETE FROM t; END",
    {{op = "unjudged", why = "CREATE PROCEDURE: its body runs when it is called, and the classifier does not read it"}}},
  {"CALL p()", {{op = "unjudged"}}},
  {"CREATE VIEW v AS SELECT 1", {{op = "unjudged", why = "CREATE VIEW is not read by the classifier"}}},
  {"GRANT SELECT ON t TO x", {{op = "unjudged",
    why = "could not read this GRANT statement: not one of the forms the classifier knows (doc/safety.md), or not valid PostgreSQL"}}},
  {"VACUUM t", {{op = "unjudged"}}},
  {"PREPARE q AS SELECT 1", {{op = "unjudged"}}},
  {"PREPARE TRANSACTION 'x'", {{op = "transaction", options = {statement = "PREPARE TRANSACTION"}}}},
  {"ALTER TABLE db.s.t DROP c", {{op = "drop_column", table = "t", schema = "s", column = "c"}}},
  {"CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO u VALUES (1); DELETE FROM v)",
    {{op = "unjudged", why = "CREATE RULE is not read by the classifier"}}},
  {'ALTER TABLE U&"d\\0061t" ADD c int',
    {{op = "unjudged", why = "U&'...' / U&\"...\" Unicode escapes are not read by the classifier"}}},
  {"ALTER INDEX ix RENAME TO ix2", {{op = "unjudged", why = "ALTER INDEX is not read by the classifier"}}},
  {"ALTER TABLE", {{op = "unjudged"}}},
  {"CREATE INDEX ON", {{op = "unjudged"}}},
}

local SQLITE = {
  {"CREATE UNIQUE INDEX IF NOT EXISTS ix ON t (a) WHERE a > 0",
    {{op = "create_index", table = "t", name = "ix",
      options = {unique = true, postgresql_concurrently = false, if_not_exists = true, where = "a > 0"}}}},
  {"CREATE INDEX CONCURRENTLY ix ON t (a)", {{op = "unjudged",
    why = "could not read this CREATE statement: not one of the forms the classifier knows (doc/safety.md), or not valid SQLite"}}},
  {"ALTER TABLE [Orders] ADD COLUMN `c` INTEGER NOT NULL DEFAULT 0",
    {{op = "add_column", table = "Orders", column = "c", options = {type = "INTEGER", nullable = false, server_default = "0"}}}},
  {"ALTER TABLE Orders ADD d REFERENCES u(id)",
    {{op = "add_column", table = "Orders", column = "d", options = {type = NONE}},
     {op = "create_foreign_key", table = "Orders", options = {referent_table = "u"}}}},
  {"ALTER TABLE t ADD COLUMN v INTEGER AS (a + 1) VIRTUAL NOT NULL",
    {{op = "add_column", column = "v", options = {type = "INTEGER", computed = "AS (a + 1) VIRTUAL", nullable = false}}}},
  {"ALTER TABLE t RENAME TO u", {{op = "rename_table", table = "t", options = {new_table = "u"}}}},
  {"ALTER TABLE t RENAME COLUMN a TO b", {{op = "alter_column", column = "a", options = {new_column_name = "b"}}}},
  {"ALTER TABLE t RENAME a TO b", {{op = "alter_column", column = "a", options = {new_column_name = "b"}}}},
  {"ALTER TABLE main.t DROP COLUMN c", {{op = "drop_column", table = "t", schema = "main", column = "c"}}},
  {"CREATE TEMP TABLE x (a)", {{op = "create_table", table = "x"}}},
  {"CREATE TABLE y AS SELECT 1 AS a", {{op = "create_table", table = "y", options = {as_select = true}}}},
  {"DROP TABLE IF EXISTS main.x", {{op = "drop_table", table = "x", schema = "main"}}},
  {"DROP INDEX ix", {{op = "drop_index", name = "ix"}}},
  {"CREATE INDEX main.ix2 ON t (b)", {{op = "create_index", name = "ix2", table = "t", schema = "main"}}},
  {"INSERT OR REPLACE INTO t VALUES (1)", {{op = "dml", table = "t", options = {statement = "INSERT"}}}},
  {"REPLACE INTO t VALUES (1)", {{op = "dml", table = "t", options = {statement = "REPLACE"}}}},
  {"UPDATE OR IGNORE t SET a = 1", {{op = "dml", table = "t", options = {statement = "UPDATE", all_rows = true}}}},
  {"PRAGMA foreign_keys = OFF", {{op = "set", options = {name = "foreign_keys", value = "OFF"}}}},
  {"PRAGMA main.foreign_key_check(t)", {{op = "set", options = {name = "foreign_key_check", value = "t"}}}},
  {"BEGIN IMMEDIATE TRANSACTION", {{op = "transaction", options = {statement = "BEGIN"}}}},
  {"ALTER TABLE t ALTER COLUMN c TYPE int", {{op = "unjudged", table = "t",
    why = "could not read the ALTER TABLE action \"ALTER COLUMN c TYPE int\" (SQLite's ALTER TABLE takes only ADD COLUMN, DROP COLUMN and RENAME)"}}},
  {"ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0)", {{op = "unjudged", table = "t"}}},
  {"CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM u; UPDATE u SET a = CASE WHEN 1 THEN 2 END; END",
    {{op = "unjudged", why = "CREATE TRIGGER is not read by the classifier"}}},
}

describe("lint.sql.classify, PostgreSQL forms", function()
  for _, c in ipairs(PG) do
    it(c[1], function()
      local got = expect(c[1], "postgresql", c[2])
      for _, d in ipairs(got) do
        local off = c[1]:find(d.text:sub(1, 12), 1, true) - 1
        assert.equal(off, d.offset)
        assert.equal(1, d.line)
        assert.equal(c[1]:sub(off + 1, off + #d.text), d.text)
        assert.truthy(#d.text <= 80)
        assert.equal("table", type(d.options))
        if d.op == "unjudged" then assert.equal("string", type(d.why)) end
      end
    end)
  end
end)

describe("lint.sql.classify, SQLite forms", function()
  for _, c in ipairs(SQLITE) do
    it(c[1], function() expect(c[1], "sqlite", c[2]) end)
  end
end)

-- Decoys: statements inside comments, strings and bodies that must not be read.
local MULTI = table.concat({
  "-- CREATE INDEX decoy ON x (a);",
  "/* ALTER TABLE decoy ALTER a SET NOT NULL; /* nested; */ still; */",
  "CREATE INDEX ix ON t (a);",
  "DO $$ BEGIN EXECUTE 'CREATE INDEX i2 ON t (b)'; ALTER TABLE t ALTER b SET NOT NULL; END $$;",
  "SELECT $tag$ ; DROP TABLE t; $tag$, E'\\'; DROP TABLE u; ', 'it''s; DROP TABLE v';",
  "ALTER TABLE \"we;ird\" ALTER \"a b\" SET NOT NULL ; ;",
  "UPDATE t SET a = 1 -- WHERE a = 2",
  ";",
}, "\n")

describe("lint.sql.classify, statements in one string", function()
  it("skips comments, strings and bodies, and gives each statement's offset and line", function()
    local got = expect(MULTI, "postgresql", {
      {op = "create_index", table = "t", name = "ix", line = 3, text = "CREATE INDEX ix ON t (a)"},
      {op = "unjudged", line = 4},
      {op = "dml", line = 5, options = {statement = "SELECT"}},
      {op = "alter_column", table = "we;ird", column = "a b", options = {nullable = false}, line = 6},
      {op = "dml", table = "t", line = 7, options = {all_rows = true}},
    })
    local starts = {"CREATE INDEX ix", "DO $$", "SELECT $tag$", 'ALTER TABLE "we;ird"', "UPDATE t"}
    for i, d in ipairs(got) do
      assert.equal(MULTI:find(starts[i], 1, true) - 1, d.offset)
      assert.equal(starts[i], MULTI:sub(d.offset + 1, d.offset + #starts[i]))
      local _, nl = MULTI:sub(1, d.offset):gsub("\n", "")
      assert.equal(nl + 1, d.line)
    end
    assert.equal(MULTI:sub(got[2].offset + 1, got[2].offset + 80), got[2].text)
    assert.equal(80, #got[2].text)
    assert.equal("UPDATE t SET a = 1", got[5].text)
  end)

  it("on SQLite, [..] and `..` quote names and $$ is no quote", function()
    expect("CREATE INDEX [a;b] ON `t;u` (x); ALTER TABLE \"T\" DROP COLUMN [c]", "sqlite", {
      {op = "create_index", name = "a;b", table = "t;u", offset = 0},
      {op = "drop_column", table = "T", column = "c", offset = 33}})
  end)

  it("reads names as the database sees them: quoted keep case, bare ones fold on PostgreSQL, 63 bytes", function()
    local long64 = ("x"):rep(64)
    local cyr = ("д"):rep(32)                         -- 64 bytes: PostgreSQL keeps 31 characters
    expect(("ALTER TABLE %s ADD c int; ALTER TABLE \"%s\" ADD c int; ALTER TABLE \"Ünïcödé\".\"select\" ADD c int; "
            .. "CREATE INDEX \"we\"\"ird\" ON ÜNI (a); ALTER TABLE \"$$\" ADD \"--dash\" int"):format(long64, cyr), "postgresql", {
      {table = ("x"):rep(63)}, {table = ("д"):rep(31)}, {table = "select", schema = "Ünïcödé"},
      {op = "create_index", name = 'we"ird', table = "Üni"}, {table = "$$", column = "--dash"}})
    -- SQLite neither folds nor truncates
    expect(("ALTER TABLE %s ADD c int"):format(long64:upper()), "sqlite", {{table = long64:upper()}})
  end)
end)

describe("lint.sql.classify, unterminated quotes and comments", function()
  local cases = {
    {"CREATE INDEX ix ON t (a); SELECT 'abc", "string", 33},
    {"ALTER TABLE t ADD c int; /* never closed", "comment", 25},
    {"SELECT 1; /* outer /* inner */ still open", "comment", 10},
    {'ALTER TABLE "t ADD c int', "quoted identifier", 12},
    {"DO $body$ BEGIN END $bod$", "dollar-quoted string", 3},
    {"SELECT E'it\\'s", "string", 7},
    {"SELECT 'a''", "string", 7},
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      local got = classify(c[1], "postgresql")
      assert.equal(1, #got)
      assert.equal("unjudged", got[1].op)
      assert.equal(("unterminated %s starting at byte %d: the classifier reads nothing of this SQL"):format(c[2], c[3]),
                   got[1].why)
      assert.truthy(got[1].offset <= c[3])
    end)
  end

  it("sqltext.tokens says which quote is open, and where; nothing when all close", function()
    assert.same({what = "string", s = 8}, sqltext.tokens("SELECT 'x").unterminated)
    assert.same({what = "quoted identifier", s = 8}, sqltext.tokens("SELECT [x", "sqlite").unterminated)
    assert.same({what = "quoted identifier", s = 8}, sqltext.tokens("SELECT `x", "sqlite").unterminated)
    assert.same({what = "comment", s = 10}, sqltext.tokens("SELECT 1 /* /* */", "postgresql").unterminated)
    assert.is_nil(sqltext.tokens("SELECT 1 /* /* */", "sqlite").unterminated)   -- SQLite does not nest
    assert.same({what = "dollar-quoted string", s = 8}, sqltext.tokens("SELECT $a$ x", "postgresql").unterminated)
    assert.is_nil(sqltext.tokens("SELECT 'x''y', \"a\"\"b\", $a$ $ $a$, E'\\'' /* */ -- x", "postgresql").unterminated)
    -- the tokens of a closed string are as before
    local t = sqltext.tokens("SELECT 'x''y'")
    assert.same({k = "string", v = "x'y", s = 8, e = 13}, t[2])
  end)

  it("no statement, no descriptor: an empty string, comments, lone semicolons", function()
    assert.same({}, classify("", "postgresql"))
    assert.same({}, classify(" ;; -- CREATE INDEX i ON t (a)\n /* DROP TABLE t */ ;", "postgresql"))
    assert.same({}, classify("\n\t", "sqlite"))
  end)

  it("an SQL that is no string is unjudged, not an error", function()
    local got = classify(nil, "postgresql")
    assert.equal("unjudged", got[1].op)
    assert.equal("the SQL is not a string", got[1].why)
  end)
end)

-- Every descriptor is well formed, whatever the input.
local KNOWN_OPS = {}
for _, o in ipairs{"create_index", "drop_index", "add_column", "drop_column", "alter_column", "create_table",
  "drop_table", "rename_table", "create_foreign_key", "create_check_constraint", "create_unique_constraint",
  "create_primary_key", "drop_constraint", "validate_constraint", "rename_constraint", "set_schema", "dml", "set",
  "transaction", "create_enum", "create_type", "add_enum_value", "rename_enum_value", "drop_enum", "create_extension",
  "drop_extension", "lock_table", "unjudged"} do KNOWN_OPS[o] = true end

local function well_formed(sql, got)
  assert.equal("table", type(got))
  for _, d in ipairs(got) do
    assert(KNOWN_OPS[d.op], ("unknown op %s for %q"):format(tostring(d.op), sql))
    assert(math.type(d.offset) == "integer" and d.offset >= 0 and d.offset <= #sql, sql)
    assert(math.type(d.line) == "integer" and d.line >= 1, sql)
    assert(type(d.text) == "string" and #d.text <= 80, sql)
    assert(type(d.options) == "table", sql)
    assert(d.op ~= "unjudged" or type(d.why) == "string", sql)
    assert(not d.why or not d.why:find("classifier failed", 1, true), ("%q: %s"):format(sql, tostring(d.why)))
  end
end

describe("lint.sql.classify, hostile input", function()
  it("never fails nor hangs on any truncation of any case, on either dialect", function()
    local t0, n = os.clock(), 0
    local all = {MULTI}
    for _, c in ipairs(PG) do all[#all + 1] = c[1] end
    for _, c in ipairs(SQLITE) do all[#all + 1] = c[1] end
    for _, sql in ipairs(all) do
      for cut = 0, #sql do
        local s = sql:sub(1, cut)
        well_formed(s, classify(s, "postgresql"))
        well_formed(s, classify(s, "sqlite"))
        n = n + 1
      end
    end
    assert.truthy(n > 4000, n)
    assert.truthy(os.clock() - t0 < 30, "too slow: " .. (os.clock() - t0))
  end)

  it("never fails nor hangs on random token soups", function()
    local words = {"CREATE", "INDEX", "UNIQUE", "CONCURRENTLY", "IF", "NOT", "EXISTS", "ON", "ONLY", "USING", "ALTER",
      "TABLE", "ADD", "COLUMN", "DROP", "CONSTRAINT", "FOREIGN", "KEY", "REFERENCES", "CHECK", "PRIMARY", "VALID",
      "VALIDATE", "RENAME", "TO", "SET", "TYPE", "DATA", "DEFAULT", "NULL", "LOCAL", "RESET", "BEGIN", "ATOMIC",
      "END", "CASE", "COMMIT", "DO", "WITH", "AS", "SELECT", "INTO", "INSERT", "UPDATE", "DELETE", "FROM", "WHERE",
      "COPY", "TRUNCATE", "MATCH", "SCHEMA", "ENUM", "VALUE", "BEFORE", "GENERATED", "PRAGMA", "REPLACE", "OR",
      "TRIGGER", "FUNCTION", "EXTENSION", "t", "\"q\"\"x\"", "[b]", "`c`", "'s'", "E'\\''", "$$ x $$", "$a$;$a$",
      "$1", "?", "1.5e3", "(", ")", "(", ")", ",", ",", ";", ";", ".", "*", "=", "::", "--c\n", "/* c */", "\n"}
    local seed = tonumber(os.getenv("LUAMIG_FUZZ_SEED") or "") or os.time()
    math.randomseed(seed)
    local t0 = os.clock()
    for _ = 1, 3000 do
      local parts = {}
      for k = 1, math.random(1, 40) do parts[k] = words[math.random(#words)] end
      local sql = table.concat(parts, math.random(2) == 1 and " " or "")
      for _, dialect in ipairs{"postgresql", "sqlite"} do
        local ok, got = pcall(classify, sql, dialect)
        assert(ok, ("seed %d: %q: %s"):format(seed, sql, tostring(got)))
        local ok2, why = pcall(well_formed, sql, got)
        assert(ok2, ("seed %d: %s"):format(seed, tostring(why)))
      end
    end
    -- random bytes too
    for _ = 1, 500 do
      local b = {}
      for k = 1, math.random(0, 60) do b[k] = string.char(math.random(0, 255)) end
      local sql = table.concat(b)
      well_formed(sql, classify(sql, "postgresql"))
      well_formed(sql, classify(sql, "sqlite"))
    end
    assert.truthy(os.clock() - t0 < 30, "too slow")
  end)

  it("reads a long string in linear time", function()
    local big = ("ALTER TABLE t ADD c int DEFAULT 0 NOT NULL; /* x */ UPDATE t SET c = 1 WHERE c = 2;\n"):rep(5000)
    local t0 = os.clock()
    local got = classify(big, "postgresql")
    assert.equal(10000, #got)
    assert.equal(#big - #"UPDATE t SET c = 1 WHERE c = 2;\n", got[#got].offset)
    assert.equal(5000, got[#got].line)
    assert.truthy(os.clock() - t0 < 10, "too slow: " .. (os.clock() - t0))
  end)
end)

-- The oracle: PostgreSQL runs each sample and reports in pg_locks which
-- tables it locked; they are the descriptors' tables (and the foreign key's
-- referent), in the mode stated here.
local SETUP = [[
CREATE SCHEMA "My Schema";
CREATE TABLE u (id int PRIMARY KEY);
CREATE TABLE orders (id int PRIMARY KEY, a int, b text, d text, e int, status text, f int DEFAULT 1);
CREATE TABLE "Orders" (id int PRIMARY KEY, a int);
CREATE TABLE "My Schema".items (id int PRIMARY KEY, n int, CONSTRAINT ck_n CHECK (n > 0) NOT VALID);
CREATE TABLE "we;ird" ("a b" int);
CREATE TABLE "Üni" (a int);
CREATE TABLE ]] .. ("l"):rep(63) .. [[ (a int);
CREATE UNIQUE INDEX ix_uq ON orders (a);
CREATE INDEX ix_b ON orders (b);
]]

local ORACLE = {
  {"CREATE INDEX ix1 ON orders (a)", {orders = "ShareLock"}},
  {"create unique index if not exists ix2 on only Orders using btree (lower(b)) where a > 0", {orders = "ShareLock"}},
  {'CREATE INDEX ON "Orders" (a)', {Orders = "ShareLock"}},
  {'CREATE INDEX ON "My Schema".ITEMS (n)', {["My Schema.items"] = "ShareLock"}},
  {"ALTER TABLE orders ADD COLUMN c int DEFAULT 0 NOT NULL", {orders = "AccessExclusiveLock"}},
  {"ALTER TABLE orders ADD COLUMN r int REFERENCES u (id)", {orders = "AccessExclusiveLock", u = "ShareRowExclusiveLock"}},
  {"ALTER TABLE orders ALTER COLUMN d TYPE varchar(10) USING d::varchar", {orders = "AccessExclusiveLock"}},
  {"ALTER TABLE orders ALTER e SET NOT NULL, ALTER f DROP DEFAULT", {orders = "AccessExclusiveLock"}},
  {"ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id) NOT VALID",
    {orders = "ShareRowExclusiveLock", u = "ShareRowExclusiveLock"}},
  {"ALTER TABLE orders ADD CONSTRAINT ck CHECK (a > 0) NOT VALID", {orders = "AccessExclusiveLock"}},
  {'ALTER TABLE "My Schema".Items VALIDATE CONSTRAINT ck_n', {["My Schema.items"] = "ShareUpdateExclusiveLock"}},
  {"ALTER TABLE orders ADD CONSTRAINT uq UNIQUE USING INDEX ix_uq", {orders = "AccessExclusiveLock"}},
  {"ALTER TABLE orders RENAME COLUMN status TO state", {orders = "AccessExclusiveLock"}},
  {'ALTER TABLE "Orders" RENAME TO orders2', {Orders = "AccessExclusiveLock"}},
  {"ALTER TABLE orders DROP COLUMN b", {orders = "AccessExclusiveLock"}},
  {'ALTER TABLE "we;ird" ALTER "a b" SET NOT NULL', {["we;ird"] = "AccessExclusiveLock"}},
  {("ALTER TABLE %s ADD b int"):format(("l"):rep(70)), {[("l"):rep(63)] = "AccessExclusiveLock"}},
  {'DROP TABLE "Orders", "My Schema".items', {Orders = "AccessExclusiveLock", ["My Schema.items"] = "AccessExclusiveLock"}},
  {"TRUNCATE Orders", {orders = "AccessExclusiveLock"}},
  {"UPDATE orders SET a = 1", {orders = "RowExclusiveLock"}},
  {"CREATE INDEX ON ÜNI (a)", {["Üni"] = "ShareLock"}},
  {"LOCK TABLE orders IN SHARE MODE", {orders = "ShareLock"}},
  {'LOCK "Orders", "My Schema".items', {Orders = "AccessExclusiveLock", ["My Schema.items"] = "AccessExclusiveLock"}},
  {'DELETE FROM "Orders" WHERE id = 1', {Orders = "RowExclusiveLock"}},
  {"INSERT INTO public.orders (id) VALUES (1)", {orders = "RowExclusiveLock"}},
}

local MODES = {"AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
  "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
local RANK = {}
for i, m in ipairs(MODES) do RANK[m] = i end

describe("[postgresql] lint.sql.classify against PostgreSQL (the oracle)", function()
  local url, conn, oids
  setup(function()
    url = select(2, h.fresh_pg())
    conn = core.connect(url)
    conn:exec(SETUP)
    -- the user tables as they were before each sample: oid -> "schema.name" (public: just the name)
    oids = {}
    for _, r in ipairs(conn:query([[SELECT c.oid::bigint AS oid, n.nspname AS s, c.relname AS t FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')]])) do
      oids[r.oid] = r.s == "public" and r.t or (r.s .. "." .. r.t)
    end
  end)
  teardown(function() if conn then conn:close() end end)

  for _, c in ipairs(ORACLE) do
    it(c[1], function()
      local want = {}
      for _, d in ipairs(classify(c[1], "postgresql")) do
        assert.is_not.equal("unjudged", d.op, d.why)
        for _, pair in ipairs{{d.table, d.schema}, {d.options.referent_table, d.options.referent_schema}} do
          if pair[1] then want[(pair[2] and pair[2] ~= "public") and (pair[2] .. "." .. pair[1]) or pair[1]] = true end
        end
      end
      conn:exec("BEGIN")
      local ok, err = pcall(conn.exec, conn, c[1])
      local locked = {}
      if ok then
        for _, r in ipairs(conn:query([[SELECT relation::bigint AS oid, mode FROM pg_locks
            WHERE pid = pg_backend_pid() AND locktype = 'relation']])) do
          local name = oids[r.oid]
          if name and (not locked[name] or RANK[r.mode] > RANK[locked[name]]) then locked[name] = r.mode end
        end
      end
      conn:exec("ROLLBACK")
      assert(ok, tostring(err))
      local got_tables = {}
      for name in pairs(locked) do got_tables[name] = true end
      assert.same(got_tables, want)                   -- the tables PostgreSQL locked are the descriptor's
      assert.same(c[2], locked)                       -- in the mode the lint is told
    end)
  end

  it("CONCURRENTLY forms are valid SQL and the index is on the descriptor's table", function()
    local sqls = {'CREATE INDEX CONCURRENTLY ixc ON "My Schema".ITEMS (n)', "DROP INDEX CONCURRENTLY ix_b"}
    local d1 = classify(sqls[1], "postgresql")[1]
    assert.same({"create_index", "items", "My Schema", true},
                {d1.op, d1.table, d1.schema, d1.options.postgresql_concurrently})
    conn:exec(sqls[1])
    local r = conn:query([[SELECT n.nspname AS s, c.relname AS t FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE i.indexrelid = '"My Schema".ixc'::regclass]])
    assert.same({s = d1.schema, t = d1.table}, r[1])
    local d2 = classify(sqls[2], "postgresql")[1]
    assert.same({"drop_index", "ix_b", true}, {d2.op, d2.name, d2.options.postgresql_concurrently})
    conn:exec(sqls[2])
    assert.is_nil(conn:query("SELECT to_regclass('ix_b')::text AS r")[1].r)
  end)

  it("the multi-statement string runs as the classifier split it: the decoys did not run", function()
    local u2 = select(2, h.fresh_pg())
    local c2 = core.connect(u2)
    c2:exec([[CREATE TABLE t (a int, b int); CREATE TABLE u (a int); CREATE TABLE v (a int); CREATE TABLE "we;ird" ("a b" int)]])
    c2:exec(MULTI)
    local rows = c2:query([[SELECT string_agg(relname, ',' ORDER BY relname) AS r FROM pg_class
        WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'i')]])
    assert.equal("i2,ix,t,u,v,we;ird", rows[1].r)     -- ix from the statement, i2 from inside the DO body
    assert.equal("t", c2:query([[SELECT attnotnull::text AS n FROM pg_attribute
        WHERE attrelid = '"we;ird"'::regclass AND attname = 'a b']])[1].n:sub(1, 1))
    c2:close()
  end)

  it("hostile names: the table PostgreSQL locks is the descriptor's, for ADD COLUMN and CREATE INDEX", function()
    local names = {"select", 'we"ird', "a b", "back\\slash", "semi;colon", "--dash", "/*c*/", "$1", "$$", "$q$",
      "new\nline", "tab\tx", "Ünïcödé", "😀", "E'x'", ("n"):rep(64), ("ж"):rep(40)}
    for _, name in ipairs(names) do
      local q = core.quote_ident(name)
      conn:exec("CREATE TABLE " .. q .. " (a int)")
      local real = conn:query("SELECT relname AS r FROM pg_class WHERE oid = to_regclass($1)", {q})[1].r
      for _, sql in ipairs{("ALTER TABLE %s ADD COLUMN x int"):format(q), ("CREATE INDEX ON public.%s (a)"):format(q)} do
        local ds = classify(sql, "postgresql")
        assert.equal(1, #ds, sql)
        assert.equal(real, ds[1].table, sql)
        conn:exec("BEGIN")
        conn:exec(sql)
        local rows = conn:query([[SELECT c.relname AS r FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
            WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND c.relkind = 'r'
            AND c.relnamespace = 'public'::regnamespace]])
        conn:exec("ROLLBACK")
        assert.equal(1, #rows, sql)
        assert.equal(rows[1].r, ds[1].table, sql)
      end
      conn:exec("DROP TABLE " .. q)
    end
  end)

  it("CONCURRENTLY in a text of several statements has a note, and PostgreSQL refuses it", function()
    for _, sql in ipairs{"SELECT 1; CREATE INDEX CONCURRENTLY ixm ON orders (d)",
                         "COMMIT; DROP INDEX CONCURRENTLY ix_b; BEGIN"} do
      local ds = classify(sql, "postgresql")
      local d = ds[2]
      assert.is_true(d.options.postgresql_concurrently)
      assert.equal(("CONCURRENTLY in a text of %d statements: PostgreSQL runs them as one transaction, "
        .. "and refuses it there; give it an op.execute of its own"):format(#ds), d.note)
      local err = h.error_of(function() conn:exec(sql) end)
      assert.truthy(tostring(type(err) == "table" and err.message or err):find("cannot run inside a transaction block", 1, true),
                    tostring(type(err) == "table" and err.message or err))
    end
    assert.is_nil(classify("CREATE INDEX CONCURRENTLY ixm ON orders (d);", "postgresql")[1].note)
  end)

  it("CREATE TABLE and SELECT INTO make the table the descriptor names", function()
    local sqls = {'CREATE TABLE IF NOT EXISTS "My Schema"."New" (id int REFERENCES u)',
                  "SELECT 1 AS a INTO TEMP TABLE Tmp3", "CREATE UNLOGGED TABLE Made AS SELECT * FROM orders"}
    for _, sql in ipairs(sqls) do
      local d = classify(sql, "postgresql")[1]
      assert.equal("create_table", d.op)
      conn:exec("BEGIN")
      local ok, err = pcall(conn.exec, conn, sql)
      local r = ok and conn:query([[SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relname = $1 AND (n.nspname = $2 OR ($2 = '' AND n.nspname = ANY (current_schemas(true))))]],
          {d.table, d.schema or ""})
      conn:exec("ROLLBACK")
      assert(ok, tostring(err))
      assert.equal(1, r[1].n, sql)
    end
  end)
end)

describe("[sqlite] lint.sql.classify against SQLite", function()
  it("each SQLite sample is valid SQLite and acts on the descriptor's table", function()
    local url = h.fresh_sqlite()
    local conn = core.connect(url)
    conn:exec("CREATE TABLE t (a, b, c); CREATE TABLE u (id INTEGER PRIMARY KEY, a); CREATE TABLE Orders (id)")
    local samples = {
      "CREATE UNIQUE INDEX IF NOT EXISTS ix ON t (a) WHERE a > 0",
      "ALTER TABLE [Orders] ADD COLUMN `c` INTEGER NOT NULL DEFAULT 0",
      "ALTER TABLE Orders ADD d REFERENCES u(id)",
      "ALTER TABLE t RENAME COLUMN a TO a2",
      "ALTER TABLE main.t DROP COLUMN c",
      "CREATE TABLE y AS SELECT 1 AS a",
      "ALTER TABLE y RENAME TO y2",
      "DROP TABLE IF EXISTS main.y2",
      "INSERT OR REPLACE INTO u VALUES (1, 2)",
      "PRAGMA foreign_keys = OFF",
      "CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM u; UPDATE u SET a = CASE WHEN 1 THEN 2 END; END",
    }
    for _, sql in ipairs(samples) do
      local ds = classify(sql, "sqlite")
      local ok, err = pcall(conn.exec, conn, sql)
      assert(ok, sql .. ": " .. tostring(err))
      local d = ds[1]
      if d.op == "create_index" then
        assert.equal(d.table, conn:query("SELECT tbl_name FROM sqlite_master WHERE name = ?", {d.name})[1].tbl_name)
      elseif d.op == "add_column" then
        assert.equal(1, #conn:query("SELECT 1 FROM pragma_table_info(?) WHERE name = ?", {d.table, d.column}))
      elseif d.op == "alter_column" then
        assert.equal(1, #conn:query("SELECT 1 FROM pragma_table_info(?) WHERE name = ?", {d.table, d.options.new_column_name}))
      elseif d.op == "drop_column" then
        assert.equal(0, #conn:query("SELECT 1 FROM pragma_table_info(?) WHERE name = ?", {d.table, d.column}))
      elseif d.op == "rename_table" then
        assert.equal(1, #conn:query("SELECT 1 FROM sqlite_master WHERE name = ?", {d.options.new_table}))
      elseif d.op == "create_table" then
        assert.equal(1, #conn:query("SELECT 1 FROM sqlite_master WHERE name = ?", {d.table}))
      end
    end
    -- hostile names, SQLite's quoting: the column lands on the descriptor's table
    for _, name in ipairs{"select", 'we"ird', "a b", "semi;colon", "--dash", "[x]", "`y`", "$$", "Ünïcödé", "new\nline"} do
      local q = '"' .. name:gsub('"', '""') .. '"'
      conn:exec("CREATE TABLE " .. q .. " (a)")
      local sql = ("ALTER TABLE %s ADD COLUMN z INTEGER; CREATE INDEX %s ON %s (z)"):format(q, core.quote_ident(name .. "_ix"), q)
      local ds = classify(sql, "sqlite")
      conn:exec(sql)
      assert.equal(name, ds[1].table)
      assert.equal(1, #conn:query("SELECT 1 FROM pragma_table_info(?) WHERE name = 'z'", {ds[1].table}))
      assert.equal(ds[2].table, conn:query("SELECT tbl_name FROM sqlite_master WHERE name = ?", {ds[2].name})[1].tbl_name)
    end
    -- the trigger's body did not split: one statement, and the trigger is there
    assert.equal(1, #conn:query("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'tr'"))
    conn:close()
  end)
end)
