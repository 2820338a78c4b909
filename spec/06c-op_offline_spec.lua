-- The op API offline (--sql): no connection, each statement handed to emit
-- with its parameters inlined as escaped literals. The exact SQL for both
-- dialects, the clear errors for what needs a live database, and the
-- script fed to sqlite3 and psql giving the same schema and rows as the
-- same operations run online.
local h = require "spec.helpers"
local luamig_op = require "luamig.op"
local introspect = require "luamig.introspect"

local function offline(dialect) return h.offline_op(dialect, true) end

-- The error message without its "file:line: " prefix, and the line.
local error_of = h.op_error

describe("offline SQL", function()
  describe("[sqlite]", function()
    local op, out
    before_each(function() op, out = offline("sqlite") end)

    it("create_table, with constraints and indexes, every name from the convention", function()
      op.create_table("users", {
        {"id", "integer", primary_key = true},
        {"email", "string(255)", nullable = false, unique = true},
        {"name", "text", default = "it's", comment = "ignored on SQLite"},
        {"active", "boolean", default = true},
        {"created_at", "timestamptz", default = op.raw("CURRENT_TIMESTAMP")},
        {"score", "float", default = op.raw("random() * 2")},
      }, {comment = "people"})
      op.create_table("we\"ird", {
        {"select", "bigint", primary_key = true},
        {"a b", "integer", references = "users.id", ondelete = "CASCADE", index = true},
        {"votes", "numeric(10,2)", check = "votes >= 0"},
        {unique = {"a b", "votes"}},
      }, {if_not_exists = true})
      assert.same({
        'CREATE TABLE "users" (\n'
        .. '    "id" INTEGER NOT NULL,\n'
        .. '    "email" VARCHAR(255) NOT NULL,\n'
        .. [[    "name" TEXT DEFAULT 'it''s',]] .. "\n"
        .. '    "active" BOOLEAN DEFAULT 1,\n'
        .. '    "created_at" TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,\n'
        .. '    "score" FLOAT DEFAULT (random() * 2),\n'
        .. '    CONSTRAINT "pk_users" PRIMARY KEY ("id"),\n'
        .. '    CONSTRAINT "uq_users_email" UNIQUE ("email")\n'
        .. ");",
        'CREATE TABLE IF NOT EXISTS "we""ird" (\n'
        .. '    "select" BIGINT NOT NULL,\n'
        .. '    "a b" INTEGER,\n'
        .. '    "votes" NUMERIC(10, 2),\n'
        .. '    CONSTRAINT "pk_we""ird" PRIMARY KEY ("select"),\n'
        .. '    CONSTRAINT "uq_we""ird_a b" UNIQUE ("a b", "votes"),\n'
        .. '    CONSTRAINT "fk_we""ird_a b_users" FOREIGN KEY ("a b") REFERENCES "users" ("id") ON DELETE CASCADE,\n'
        .. '    CONSTRAINT "ck_we""ird_votes" CHECK (votes >= 0)\n'
        .. ");",
        'CREATE INDEX IF NOT EXISTS "ix_we""ird_a b" ON "we""ird" ("a b");',
      }, out)
    end)

    it("table and column operations that ALTER TABLE can do", function()
      op.rename_table("a", "b b")
      op.add_column("t", {"c", "integer", references = {"users", "id"}, check = "c > 0"})
      op.add_column("t", {"d", "string(5)", nullable = false, default = "x", index = true})
      op.drop_column("t", "old")
      op.alter_column("t", "c", {new_column_name = "select", comment = "ignored"})
      op.drop_table("t", {if_exists = true})
      assert.same({
        'ALTER TABLE "a" RENAME TO "b b";',
        'ALTER TABLE "t" ADD COLUMN "c" INTEGER CONSTRAINT "fk_t_c_users" REFERENCES "users" ("id") '
          .. 'CONSTRAINT "ck_t_c" CHECK (c > 0);',
        [[ALTER TABLE "t" ADD COLUMN "d" VARCHAR(5) NOT NULL DEFAULT 'x';]],
        'CREATE INDEX "ix_t_d" ON "t" ("d");',
        'ALTER TABLE "t" DROP COLUMN "old";',
        'ALTER TABLE "t" RENAME COLUMN "c" TO "select";',
        'DROP TABLE IF EXISTS "t";',
      }, out)
    end)

    it("indexes: unique, partial, expressions; concurrently is PostgreSQL's only", function()
      op.create_index(nil, "t", {"a", "b"})
      assert.matches('create_index: option "postgresql_concurrently" is PostgreSQL\'s',
        h.error_of(op.create_index, "ix_expr", "t", {op.raw("lower(name)"), "id"}, {concurrently = true}))
      op.create_index("ix_expr", "t", {op.raw("lower(name)"), "id"}, {unique = true, sqlite_where = "id > 0"})
      op.drop_index("ix_expr", "t", {if_exists = true})
      op.drop_index("ix_t_a")
      assert.same({
        'CREATE INDEX "ix_t_a" ON "t" ("a", "b");',
        'CREATE UNIQUE INDEX "ix_expr" ON "t" (lower(name), "id") WHERE id > 0;',
        'DROP INDEX IF EXISTS "ix_expr";',
        'DROP INDEX "ix_t_a";',
      }, out)
    end)

    it("execute inlines the parameters as escaped literals, placeholders in strings untouched", function()
      op.execute("UPDATE t SET s = $1, n = $2, f = $3, b = $4, z = $5 WHERE note <> '$1' -- $2\n", {n = 5, "it's", 42, 0.5, true})
      op.execute("DELETE FROM t")
      -- a trailing line comment gets a newline, so that the runner's ";" is not commented out
      assert.same({"UPDATE t SET s = 'it''s', n = 42, f = 0.5, b = 1, z = NULL WHERE note <> '$1' -- $2\n;",
                   "DELETE FROM t;"}, out)
    end)

    it("execute refuses a placeholder without a value, as the online binding does (issue 15's outside attack)", function()
      local err = h.error_of(op.execute, "SELECT $2", {1})
      assert.truthy(err:find("execute: the statement uses $2 but 1 value was given", 1, true), err)
      err = h.error_of(op.execute, "SELECT $3", {n = 2})
      assert.truthy(err:find("execute: the statement uses $3 but 2 values were given", 1, true), err)
      err = h.error_of(op.execute, "SELECT $0", {1})
      assert.truthy(err:find("execute: unsupported placeholder '$0': use $1, $2, ...", 1, true), err)
      assert.same({}, out)
    end)

    it("inline_literal renders a value for UPDATEs that must work offline; f returns the name", function()
      op.execute("UPDATE t SET s = " .. tostring(op.inline_literal("it's")) .. " WHERE b = "
                 .. tostring(op.inline_literal(true)))
      assert.same({"UPDATE t SET s = 'it''s' WHERE b = 1;"}, out)
      assert.equal("ix_final", op.f("ix_final"))
      assert.equal("inline_literal: a table cannot be written as an SQL literal (use nil, a boolean, a number or a string)",
                   (error_of(function() op.inline_literal({}) end)))
    end)

    it("bulk_insert renders one INSERT per row, with the first row's columns", function()
      op.bulk_insert("t t", {{id = 1, s = "a'b", f = 1.5, b = true}, {id = 2, b = false}})
      local n = 0
      op.bulk_insert("u", function() n = n + 1; if n <= 2 then return {x = n} end end)
      assert.same({                                   -- each load in a savepoint, as online
        "SAVEPOINT luamig_bulk;",
        [[INSERT INTO "t t" ("b", "f", "id", "s") VALUES (1, 1.5, 1, 'a''b');]],
        [[INSERT INTO "t t" ("b", "f", "id", "s") VALUES (0, NULL, 2, NULL);]],
        "RELEASE luamig_bulk;",
        "SAVEPOINT luamig_bulk;",
        [[INSERT INTO "u" ("x") VALUES (1);]],
        [[INSERT INTO "u" ("x") VALUES (2);]],
        "RELEASE luamig_bulk;",
      }, out)
    end)

    it("uses the table's columns and types when given the table create_table returned", function()
      local t = op.create_table("blobs", {{"id", "integer", primary_key = true}, {"data", "binary"}, {"n", "integer"}})
      for k in pairs(out) do out[k] = nil end
      op.bulk_insert(t, {{data = "\0\255", id = 1}})
      assert.same({"SAVEPOINT luamig_bulk;", [[INSERT INTO "blobs" ("id", "data") VALUES (1, X'00FF');]],
                   "RELEASE luamig_bulk;"}, out)
      local msg = error_of(function() op.bulk_insert(t, {{id = 2, n = "many"}}) end)
      assert.equal('bulk_insert: row 1, column "n": wrong type for the column (integer): expected an integer, got string "many"', msg)
    end)

    it("what needs the live table definition is a clear error, at the migration's line", function()
      local line = debug.getinfo(1, "l").currentline + 1
      local msg, at = error_of(function() op.alter_column("t", "c", {nullable = false}) end)
      assert.equal('alter_column: on SQLite this rebuilds table "t" from its live definition, which --sql (offline) mode cannot read (batch_alter_table\'s copy_from can give it)', msg)
      assert.equal(line, at)
      assert.equal('create_check_constraint: on SQLite this rebuilds table "t" from its live definition, which --sql (offline) mode cannot read (batch_alter_table\'s copy_from can give it)',
                   (error_of(function() op.create_check_constraint("ck", "t", "x > 0") end)))
      assert.equal('drop_constraint: on SQLite this rebuilds table "t" from its live definition, which --sql (offline) mode cannot read (batch_alter_table\'s copy_from can give it)',
                   (error_of(function() op.drop_constraint("ck", "t") end)))
      assert.equal("query: needs a live database; it cannot run in --sql (offline) mode",
                   (error_of(function() op.query("SELECT 1") end)))
      assert.same({}, out)
    end)

    it("rebuilds a table that earlier steps of the same run made, from their model", function()
      op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "integer", index = true},
                            {"b", "text"}})
      -- the runner makes one op per step, all with the same emit: the model carries over
      local emit = function(text) out[#out + 1] = text .. ";" end
      local step1 = luamig_op.new{dialect = "sqlite", emit = emit}
      local step2 = luamig_op.new{dialect = "sqlite", emit = emit}
      step1.create_table("p", {{"id", "integer", primary_key = true}})
      step1.add_column("p", {"code", "string(5)"})
      step2.create_foreign_key(nil, "p", "p", {"code"}, {"id"})
      step2.batch_alter_table("p", function(b)
        b.alter_column("code", {nullable = false, new_column_name = "c"})
        b.create_check_constraint("ck_p_c", "c <> ''")
      end)
      op.drop_column("t", "a")
      assert.same({
        'CREATE TABLE "t" (\n    "id" INTEGER NOT NULL,\n    "a" INTEGER,\n    "b" TEXT,\n'
          .. '    CONSTRAINT "pk_t" PRIMARY KEY ("id")\n);',
        'CREATE INDEX "ix_t_a" ON "t" ("a");',
        'CREATE TABLE "p" (\n    "id" INTEGER NOT NULL,\n    CONSTRAINT "pk_p" PRIMARY KEY ("id")\n);',
        'ALTER TABLE "p" ADD COLUMN "code" VARCHAR(5);',
        'CREATE TABLE "luamig_tmp_p" (\n    "id" INTEGER NOT NULL,\n    "code" VARCHAR(5),\n'
          .. '    CONSTRAINT "pk_p" PRIMARY KEY ("id"),\n'
          .. '    CONSTRAINT "fk_p_code_p" FOREIGN KEY ("code") REFERENCES "p" ("id")\n);',
        'INSERT INTO "luamig_tmp_p" ("id", "code") SELECT "id", "code" FROM "p";',
        'DROP TABLE "p";',
        'PRAGMA legacy_alter_table = ON;',
        'ALTER TABLE "luamig_tmp_p" RENAME TO "p";',
        'PRAGMA legacy_alter_table = OFF;',
        'ALTER TABLE "p" RENAME COLUMN "code" TO "c";',
        'CREATE TABLE "luamig_tmp_p" (\n    "id" INTEGER NOT NULL,\n    "c" VARCHAR(5) NOT NULL,\n'
          .. '    CONSTRAINT "pk_p" PRIMARY KEY ("id"),\n'
          .. '    CONSTRAINT "fk_p_code_p" FOREIGN KEY ("c") REFERENCES "p" ("id"),\n'
          .. [[    CONSTRAINT "ck_p_c" CHECK (c <> '')]] .. '\n);',
        'INSERT INTO "luamig_tmp_p" ("id", "c") SELECT "id", "c" FROM "p";',
        'DROP TABLE "p";',
        'PRAGMA legacy_alter_table = ON;',
        'ALTER TABLE "luamig_tmp_p" RENAME TO "p";',
        'PRAGMA legacy_alter_table = OFF;',
        'CREATE TABLE "luamig_tmp_t" (\n    "id" INTEGER NOT NULL,\n    "b" TEXT,\n'
          .. '    CONSTRAINT "pk_t" PRIMARY KEY ("id")\n);',
        'INSERT INTO "luamig_tmp_t" ("id", "b") SELECT "id", "b" FROM "t";',
        'DROP TABLE "t";',
        'PRAGMA legacy_alter_table = ON;',
        'ALTER TABLE "luamig_tmp_t" RENAME TO "t";',
        'PRAGMA legacy_alter_table = OFF;',
      }, out)
    end)

    it("batch_alter_table with copy_from rebuilds a table the run did not make", function()
      local shape = {name = "t", columns = {{name = "id", type = "integer", nullable = false},
                                            {name = "n", type = "integer", nullable = true}},
                     primary_key = {name = "pk_t", columns = {"id"}},
                     indexes = {{name = "ix_t_n", unique = false, columns = {"n"}}}}
      op.batch_alter_table("t", function(b) b.alter_column("n", {nullable = false}) end, {copy_from = shape})
      assert.same({
        'CREATE TABLE "luamig_tmp_t" (\n    "id" INTEGER NOT NULL,\n    "n" INTEGER NOT NULL,\n'
          .. '    CONSTRAINT "pk_t" PRIMARY KEY ("id")\n);',
        'INSERT INTO "luamig_tmp_t" ("id", "n") SELECT "id", "n" FROM "t";',
        'DROP TABLE "t";',
        'PRAGMA legacy_alter_table = ON;',
        'ALTER TABLE "luamig_tmp_t" RENAME TO "t";',
        'PRAGMA legacy_alter_table = OFF;',
        'CREATE INDEX "ix_t_n" ON "t" ("n");',
      }, out)
    end)

    it("batch_alter_table offline: what ALTER TABLE can do", function()
      op.batch_alter_table("t", function(b)
        b.alter_column("a", {new_column_name = "b"})
        b.add_column({"c", "text"})
        b.create_index(nil, {"b", "c"})
      end)
      assert.same({'ALTER TABLE "t" RENAME COLUMN "a" TO "b";', 'ALTER TABLE "t" ADD COLUMN "c" TEXT;',
                   'CREATE INDEX "ix_t_b" ON "t" ("b", "c");'}, out)
    end)
  end)

  describe("[postgresql]", function()
    local op, out
    before_each(function() op, out = offline("postgresql") end)

    it("execute refuses a placeholder without a value, as the online binding does", function()
      local err = h.error_of(op.execute, "SELECT $2", {1})
      assert.truthy(err:find("execute: the statement uses $2 but 1 value was given", 1, true), err)
      err = h.error_of(op.execute, "SELECT $3", {n = 2})
      assert.truthy(err:find("execute: the statement uses $3 but 2 values were given", 1, true), err)
      assert.same({}, out)
    end)

    it("create_table with identity, comments, constraints and indexes", function()
      op.create_table("users", {
        {"id", "integer", primary_key = true},
        {"email", "string(255)", nullable = false, unique = true},
        {"name", "text", default = "back\\slash", comment = "display name"},
        {"active", "boolean", default = true},
        {"data", "json"},
        {"uid", "uuid"},
        {"created_at", "timestamptz", default = op.raw("now()")},
      }, {comment = "it's people"})
      op.create_table("posts", {
        {"id", "bigint", primary_key = true},
        {"user_id", "integer", references = "users.id", ondelete = "SET NULL", onupdate = "CASCADE"},
        {"n", "double"},
        {foreign_key = {"n"}, references = {"users", {"id"}}, name = "fk_custom", deferrable = true,
         initially = "DEFERRED", match = "FULL"},
        {check = "n > 0", name = "positive"},
      })
      assert.same({
        'CREATE TABLE "users" (\n'
        .. '    "id" integer GENERATED BY DEFAULT AS IDENTITY NOT NULL,\n'
        .. '    "email" varchar(255) NOT NULL,\n'
        .. [[    "name" text DEFAULT E'back\\slash',]] .. "\n"
        .. '    "active" boolean DEFAULT TRUE,\n'
        .. '    "data" json,\n'
        .. '    "uid" uuid,\n'
        .. '    "created_at" timestamptz DEFAULT now(),\n'
        .. '    CONSTRAINT "pk_users" PRIMARY KEY ("id"),\n'
        .. '    CONSTRAINT "uq_users_email" UNIQUE ("email")\n'
        .. ");",
        [[COMMENT ON TABLE "users" IS 'it''s people';]],
        [[COMMENT ON COLUMN "users"."name" IS 'display name';]],
        'CREATE TABLE "posts" (\n'
        .. '    "id" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL,\n'
        .. '    "user_id" integer,\n'
        .. '    "n" double precision,\n'
        .. '    CONSTRAINT "pk_posts" PRIMARY KEY ("id"),\n'
        .. '    CONSTRAINT "fk_posts_user_id_users" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE SET NULL ON UPDATE CASCADE,\n'
        .. '    CONSTRAINT "fk_custom" FOREIGN KEY ("n") REFERENCES "users" ("id") MATCH FULL DEFERRABLE INITIALLY DEFERRED,\n'
        .. '    CONSTRAINT "positive" CHECK (n > 0)\n'
        .. ");",
      }, out)
    end)

    it("column operations", function()
      op.add_column("t", {"c", "integer", references = "u.id", unique = true, check = "c > 0", comment = "see"},
                    {if_not_exists = true})
      op.drop_column("t", "old", {if_exists = true})
      op.alter_column("t", "c", {type_ = "bigint", postgresql_using = "c::bigint", nullable = false,
                                 server_default = 0, comment = "who", new_column_name = "d"})
      op.alter_column("t", "d", {nullable = true, default = op.NULL, comment = op.NULL})
      op.rename_table("t", "select")
      op.drop_table("select")
      assert.same({
        'ALTER TABLE "t" ADD COLUMN IF NOT EXISTS "c" integer;',
        'ALTER TABLE "t" ADD CONSTRAINT "uq_t_c" UNIQUE ("c");',
        'ALTER TABLE "t" ADD CONSTRAINT "fk_t_c_u" FOREIGN KEY ("c") REFERENCES "u" ("id");',
        'ALTER TABLE "t" ADD CONSTRAINT "ck_t_c" CHECK (c > 0);',
        [[COMMENT ON COLUMN "t"."c" IS 'see';]],
        'ALTER TABLE "t" DROP COLUMN IF EXISTS "old";',
        'ALTER TABLE "t" ALTER COLUMN "c" TYPE bigint USING c::bigint;',
        'ALTER TABLE "t" ALTER COLUMN "c" SET NOT NULL;',
        'ALTER TABLE "t" ALTER COLUMN "c" SET DEFAULT 0;',
        [[COMMENT ON COLUMN "t"."c" IS 'who';]],
        'ALTER TABLE "t" RENAME COLUMN "c" TO "d";',
        'ALTER TABLE "t" ALTER COLUMN "d" DROP NOT NULL;',
        'ALTER TABLE "t" ALTER COLUMN "d" DROP DEFAULT;',
        'COMMENT ON COLUMN "t"."d" IS NULL;',
        'ALTER TABLE "t" RENAME TO "select";',
        'DROP TABLE "select";',
      }, out)
    end)

    it("indexes, including CONCURRENTLY, USING and INCLUDE", function()
      op.create_index(nil, "t", {"a"}, {postgresql_concurrently = true, if_not_exists = true})
      op.create_index("ix_gin", "t", {"doc"}, {postgresql_using = "gin"})
      op.create_index("ix_cover", "t", {op.raw("lower(email)")}, {unique = true, include = {"id"},
                                                                  postgresql_where = "deleted_at IS NULL"})
      op.drop_index("ix_t_a", "t", {concurrently = true, if_exists = true})
      op.create_index("ix_order", "t", {op.raw("created_at DESC"), op.raw("lower(a) ASC NULLS LAST"),
                                        op.raw("a + b DESC"), op.raw("(a * 2)")})
      assert.same({
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "ix_t_a" ON "t" ("a");',
        'CREATE INDEX "ix_gin" ON "t" USING gin ("doc");',
        'CREATE UNIQUE INDEX "ix_cover" ON "t" (lower(email)) INCLUDE ("id") WHERE deleted_at IS NULL;',
        'DROP INDEX CONCURRENTLY IF EXISTS "ix_t_a";',
        'CREATE INDEX "ix_order" ON "t" (created_at DESC, lower(a) ASC NULLS LAST, (a + b) DESC, (a * 2));',
      }, out)
    end)

    it("constraint operations", function()
      op.create_unique_constraint(nil, "t", {"a", "b"}, {deferrable = true})
      op.create_primary_key(nil, "t", {"id"})
      op.create_foreign_key(nil, "t", "u u", {"uid"}, {"id"}, {on_delete = "restrict", match = "simple"})
      op.create_check_constraint("ck_t_pos", "t", op.raw("a > 0"))
      op.drop_constraint("ck_t_pos", "t", {type_ = "check", if_exists = true})
      op.drop_constraint("pk_t", "t")
      op.create_table_comment("t", "why")
      op.drop_table_comment("t")
      assert.same({
        'ALTER TABLE "t" ADD CONSTRAINT "uq_t_a" UNIQUE ("a", "b") DEFERRABLE;',
        'ALTER TABLE "t" ADD CONSTRAINT "pk_t" PRIMARY KEY ("id");',
        'ALTER TABLE "t" ADD CONSTRAINT "fk_t_uid_u u" FOREIGN KEY ("uid") REFERENCES "u u" ("id") ON DELETE RESTRICT;',
        'ALTER TABLE "t" ADD CONSTRAINT "ck_t_pos" CHECK (a > 0);',
        'ALTER TABLE "t" DROP CONSTRAINT IF EXISTS "ck_t_pos";',
        'ALTER TABLE "t" DROP CONSTRAINT "pk_t";',
        [[COMMENT ON TABLE "t" IS 'why';]],
        'COMMENT ON TABLE "t" IS NULL;',
      }, out)
    end)

    it("execute inlines parameters; a value that cannot be a literal is refused", function()
      op.execute("INSERT INTO t VALUES ($1, $2, $3, $$ $1 $$, $4)", {"a\\b", false, math.mininteger, -1.25})
      -- numbers carry the type online binds them with (int8, float8)
      assert.same({[[INSERT INTO t VALUES (E'a\\b', FALSE, CAST(-9223372036854775808 AS bigint), $$ $1 $$, ]]
                   .. [[CAST(-1.25 AS double precision));]]}, out)
      assert.equal("execute: parameter $1: a table cannot be written as an SQL literal (use nil, a boolean, a number or a string)",
                   (error_of(function() op.execute("SELECT $1", {{}}) end)))
    end)

    it("bulk_insert renders COPY with escaped data", function()
      op.bulk_insert("t", {{id = 1, s = "tab\there\nnew\\line", b = true, f = 0.1}, {id = 2}, {id = 3, s = "\\N"}})
      assert.same({
        'COPY "t" ("b", "f", "id", "s") FROM stdin;\n',
        "t\t0.1\t1\ttab\\there\\nnew\\\\line\n\\N\t\\N\t2\t\\N\n\\N\t\\N\t3\t\\\\N\n",
        "\\.\n",
      }, out)
    end)

    it("a row with a column the first row lacks is an error naming the row", function()
      local msg = error_of(function() op.bulk_insert("t", {{a = 1}, {a = 2}, {a = 3, b = 4}}) end)
      assert.equal('bulk_insert: row 3: column "b" is not among the columns of the first row (give them all with opts.columns)', msg)
    end)
  end)

  describe("fed to sqlite3 and psql", function()
    -- One migration, run online on one database and rendered offline for another.
    local function migration(op)
      op.create_table("users", {
        {"id", "integer", primary_key = true},
        {"email", "string(255)", nullable = false, unique = true},
        {"name", "text", default = "it's"},
        {"active", "boolean", nullable = false, default = false},
      })
      op.create_table("we\"ird", {
        {"select", "integer", primary_key = true},
        {"user_id", "integer", references = "users.id", ondelete = "CASCADE", index = true},
        {"a b", "numeric(8,2)", check = "\"a b\" >= 0"},
        {"gone", "text"},
      })
      op.add_column("we\"ird", {"note", "string(20)"})
      op.alter_column("we\"ird", "note", {new_column_name = "remark"})
      op.drop_column("we\"ird", "gone")
      op.create_index("ix_users_lower_name", "users", {op.raw("lower(name)")}, {where = "active"})
      -- what SQLite rebuilds: offline too, from the model the run made
      op.create_table("tags", {{"id", "integer", primary_key = true}, {"name", "string(20)", index = true},
                               {"owner", "integer"}})
      op.create_foreign_key(nil, "tags", "users", {"owner"}, {"id"}, {ondelete = "SET NULL"})
      op.alter_column("tags", "name", {nullable = false})
      op.create_check_constraint("ck_tags_id", "tags", "id > 0")
      op.bulk_insert("users", {{id = 1, email = "a@x", name = "tab\there", active = true},
                               {id = 2, email = "b'x", active = false}})
      op.bulk_insert("we\"ird", {{["select"] = 1, user_id = 1, ["a b"] = 2.5, remark = "new\nline"}})
      op.execute([[UPDATE users SET name = $1 WHERE id = $2]], {"back\\slash 'q'", 2})
    end

    -- as the runner writes it: a statement and ";\n", COPY pieces verbatim
    local function script(dialect)
      local out = {}
      migration(luamig_op.new{dialect = dialect, emit = function(text, kind)
        out[#out + 1] = kind == "copy" and text or (text .. ";\n")
      end})
      return table.concat(out)
    end

    local function data(conn)
      return {(conn:query("SELECT id, email, name, active FROM users ORDER BY id")),
              (conn:query([[SELECT "select", user_id, "a b", remark FROM "we""ird"]]))}
    end

    it("[sqlite] gives the same schema and rows as the online run", function()
      local core = require "luamig.core"
      local online = core.connect(h.fresh_sqlite())
      migration(luamig_op.new{conn = online})
      local url, path = h.fresh_sqlite()
      local file = os.tmpname()
      h.write_file(file, script("sqlite"))
      local status, _, stderr = h.run("sqlite3 -bail " .. h.shell_quote(path) .. " < " .. h.shell_quote(file))
      assert.equal(0, status, stderr)
      local replayed = core.connect(url)
      assert.same(introspect.schema(online), introspect.schema(replayed))
      assert.same(data(online), data(replayed))
    end)

    it("[postgresql] gives the same schema and rows as the online run", function()
      local core = require "luamig.core"
      local _, url1 = h.fresh_pg()
      local online = core.connect(url1)
      migration(luamig_op.new{conn = online})
      local _, url2 = h.fresh_pg()
      local file = os.tmpname()
      h.write_file(file, script("postgresql"))
      local status, _, stderr = h.run("psql -X -q -v ON_ERROR_STOP=1 -f " .. h.shell_quote(file) .. " " .. h.shell_quote(url2))
      assert.equal(0, status, stderr)
      local replayed = core.connect(url2)
      assert.same(introspect.schema(online), introspect.schema(replayed))
      assert.same(data(online), data(replayed))
    end)
  end)
end)
