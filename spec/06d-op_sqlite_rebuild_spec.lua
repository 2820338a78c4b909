-- SQLite's ALTER emulation: drop_column and alter_column on a table with
-- rows, indexes, foreign keys to and from it, a view and a trigger on it.
-- Rows, indexes, view and trigger survive, PRAGMA foreign_key_check is
-- clean, and a failed rebuild leaves nothing behind, temp table included.
local h = require "spec.helpers"
local core = require "luamig.core"
local luamig_op = require "luamig.op"
local introspect = require "luamig.introspect"

describe("[sqlite] table rebuild", function()
  local conn, op, logs
  before_each(function()
    conn = core.connect(h.fresh_sqlite())
    logs = {}
    op = luamig_op.new{conn = conn, log = function(_, msg) logs[#logs + 1] = msg end}
    op.create_table("authors", {{"id", "integer", primary_key = true}, {"name", "text", nullable = false}})
    op.create_table("books", {
      {"id", "integer", primary_key = true},
      {"author_id", "integer", nullable = false, references = "authors.id", ondelete = "CASCADE"},
      {"title", "string(200)", nullable = false},
      {"pages", "integer"},
      {"obsolete", "text"},
      {"isbn", "string(20)", unique = true},
    })
    op.create_index(nil, "books", {"title"})
    op.create_index("ix_books_obsolete", "books", {"obsolete", "title"})
    op.create_index("ix_books_lower_title", "books", {op.raw("lower(title)")}, {where = "pages > 100"})
    op.create_table("reviews", {
      {"id", "integer", primary_key = true},
      {"book_id", "integer", references = "books.id", ondelete = "CASCADE"},
      {"stars", "integer"},
    })
    op.create_table("audit", {{"id", "integer", primary_key = true}, {"what", "text"}})
    op.execute([[CREATE VIEW "long books" AS SELECT id, title FROM books WHERE pages > 300]])
    op.execute([[CREATE TRIGGER books_insert AFTER INSERT ON books
                 BEGIN INSERT INTO audit (what) VALUES ('book ' || NEW.title); END]])
    op.execute([[CREATE TRIGGER reviews_insert AFTER INSERT ON reviews
                 BEGIN INSERT INTO audit (what) VALUES ((SELECT 'review of ' || title FROM books WHERE id = NEW.book_id)); END]])
    op.bulk_insert("authors", {{id = 1, name = "Ann"}, {id = 2, name = "Bob"}})
    op.bulk_insert("books", {
      {id = 1, author_id = 1, title = "Short", pages = 120, obsolete = "x", isbn = "111"},
      {id = 2, author_id = 1, title = "Long", pages = 900, isbn = "222"},
      {id = 3, author_id = 2, title = "Mid", pages = 350},
    })
    op.bulk_insert("reviews", {{id = 1, book_id = 1, stars = 5}, {id = 2, book_id = 3, stars = 3}})
    conn:exec("DELETE FROM audit")
  end)
  after_each(function() conn:close() end)

  local function rows(sql) return (conn:query(sql)) end
  local function objects()
    return rows("SELECT type, name, tbl_name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
  end
  local function book_rows() return rows("SELECT id, author_id, title, pages, isbn FROM books ORDER BY id") end

  local function assert_survivors(index_names)
    assert.same({
      {id = 1, author_id = 1, title = "Short", pages = 120, isbn = "111"},
      {id = 2, author_id = 1, title = "Long", pages = 900, isbn = "222"},
      {id = 3, author_id = 2, title = "Mid", pages = 350},
    }, book_rows())
    assert.same({{id = 1, book_id = 1, stars = 5}, {id = 2, book_id = 3, stars = 3}},
                rows("SELECT * FROM reviews ORDER BY id"))
    local names = {}
    for _, ix in ipairs(introspect.table(conn, "books").indexes) do names[#names + 1] = ix.name end
    assert.same(index_names, names)
    assert.same({{id = 2, title = "Long"}, {id = 3, title = "Mid"}}, rows([[SELECT * FROM "long books" ORDER BY id]]))
    conn:exec("INSERT INTO books (id, author_id, title, pages) VALUES (4, 2, 'New', 10)")
    conn:exec("INSERT INTO reviews (id, book_id, stars) VALUES (3, 2, 4)")
    assert.same({{what = "book New"}, {what = "review of Long"}}, rows("SELECT what FROM audit ORDER BY id"))
    assert.same({}, rows("PRAGMA foreign_key_check"))
    assert.same({}, rows("SELECT name FROM sqlite_schema WHERE name LIKE 'luamig_tmp%'"))
  end

  it("drop_column keeps rows, the other indexes, foreign keys both ways, the view and the triggers", function()
    op.drop_column("books", "obsolete")
    assert_survivors({"ix_books_lower_title", "ix_books_title"})
    local t = introspect.table(conn, "books")
    assert.same({"id", "author_id", "title", "pages", "isbn"},
                {t.columns[1].name, t.columns[2].name, t.columns[3].name, t.columns[4].name, t.columns[5].name})
    assert.same({{name = "fk_books_author_id_authors", columns = {"author_id"}, ref_table = "authors",
                  ref_columns = {"id"}, on_delete = "CASCADE"}}, t.foreign_keys)
    assert.same({{name = "uq_books_isbn", columns = {"isbn"}}}, t.uniques)
    assert.same({{name = "ix_books_lower_title", unique = false, columns = {{expr = "lower(title)"}},
                  where = "pages > 100"}, {name = "ix_books_title", unique = false, columns = {"title"}}},
                t.indexes)
    assert.same({{name = "fk_reviews_book_id_books", columns = {"book_id"}, ref_table = "books",
                  ref_columns = {"id"}, on_delete = "CASCADE"}}, introspect.table(conn, "reviews").foreign_keys)
  end)

  it("alter_column (type, nullability, default) keeps the same", function()
    op.alter_column("books", "pages", {type_ = "bigint", nullable = false, server_default = 1})
    assert_survivors({"ix_books_lower_title", "ix_books_obsolete", "ix_books_title"})
    local pages = introspect.table(conn, "books").columns[4]
    assert.same({name = "pages", type = "bigint", nullable = false, default = "1", autoincrement = false}, pages)
  end)

  it("runs inside the caller's transaction and commits with it", function()
    local tx = conn:begin()
    op.drop_column("books", "obsolete")
    assert.is_true(conn:in_transaction())
    tx:commit()
    assert_survivors({"ix_books_lower_title", "ix_books_title"})
  end)

  it("a rolled-back transaction undoes the rebuild", function()
    local before = introspect.schema(conn)
    local tx = conn:begin()
    op.drop_column("books", "obsolete")
    tx:rollback()
    assert.same(before, introspect.schema(conn))
    assert.same({{obsolete = "x"}}, rows("SELECT obsolete FROM books WHERE id = 1"))
  end)

  it("with PRAGMA foreign_keys on (outside a transaction) the swap does not cascade to referencing rows", function()
    conn:exec("PRAGMA foreign_keys = ON")
    op.drop_column("books", "obsolete")
    assert.same({{foreign_keys = 1}}, rows("PRAGMA foreign_keys"))
    assert_survivors({"ix_books_lower_title", "ix_books_title"})
  end)

  it("refuses to rebuild with foreign keys on inside a transaction, which could cascade", function()
    conn:exec("PRAGMA foreign_keys = ON")
    local tx = conn:begin()
    local err = h.error_of(function() op.drop_column("books", "obsolete") end)
    tx:rollback()
    assert.truthy(tostring(err):find('drop_column: rebuilding "books" needs foreign keys off, but PRAGMA '
      .. "foreign_keys is ON inside the transaction (it can only change outside one)", 1, true), tostring(err))
  end)

  describe("a failed rebuild", function()
    local before
    before_each(function() before = {introspect.schema(conn), objects(), book_rows()} end)
    local function unchanged()
      assert.same(before, {introspect.schema(conn), objects(), book_rows()})
      assert.same({}, rows("SELECT name FROM sqlite_schema WHERE name LIKE 'luamig_tmp%'"))
    end

    it("names the rows a new check constraint rejects, and leaves nothing behind", function()
      local err = h.error_of(function() op.create_check_constraint("ck_books_pages", "books", "pages > 200") end)
      assert.truthy(tostring(err):find('create_check_constraint: rebuilding "books": check constraint '
        .. '"ck_books_pages" fails for rows (id=1)', 1, true), tostring(err))
      unchanged()
    end)

    it("names the rows a NOT NULL rejects", function()
      local err = h.error_of(function() op.alter_column("books", "isbn", {nullable = false}) end)
      assert.truthy(tostring(err):find('alter_column: rebuilding "books": NOT NULL on column "isbn" fails for rows (id=3)', 1, true), tostring(err))
      unchanged()
    end)

    it("names the duplicates a new unique constraint rejects", function()
      local err = h.error_of(function() op.create_unique_constraint(nil, "books", {"author_id"}) end)
      assert.truthy(tostring(err):find('create_unique_constraint: rebuilding "books": unique constraint '
        .. '"uq_books_author_id" fails for rows (id=1), (id=2)', 1, true), tostring(err))
      unchanged()
    end)

    it("names the rows a new foreign key rejects, after the copy, and drops the temp table", function()
      conn:exec("INSERT INTO reviews (id, book_id, stars) VALUES (7, NULL, 9)")
      conn:exec("DELETE FROM audit")
      op.create_table("stars", {{"n", "integer", primary_key = true}})
      op.bulk_insert("stars", {{n = 3}, {n = 4}, {n = 5}})
      before = {introspect.schema(conn), objects(), book_rows()}
      local err = h.error_of(function()
        op.create_foreign_key(nil, "reviews", "stars", {"stars"}, {"n"})
      end)
      assert.truthy(tostring(err):find('create_foreign_key: rebuilding "reviews": foreign key check failed: '
        .. 'rows of "reviews" with rowid 7 reference missing rows of "stars"', 1, true), tostring(err))
      unchanged()
    end)

    it("inside the caller's transaction leaves it usable, and a view that breaks is named", function()
      op.execute([[CREATE VIEW obsolete_books AS SELECT obsolete FROM books]])
      before = {introspect.schema(conn), objects(), book_rows()}
      local tx = conn:begin()
      local err = h.error_of(function() op.drop_column("books", "obsolete") end)
      assert.truthy(tostring(err):find('drop_column: rebuilding "books": view "obsolete_books" no longer works', 1, true), tostring(err))
      assert.is_true(conn:in_transaction())
      conn:exec("INSERT INTO audit (what) VALUES ('still here')")
      tx:commit()
      conn:exec("DELETE FROM audit")
      unchanged()
    end)
  end)

  it("batch_alter_table does several changes in one rebuild", function()
    op.batch_alter_table("books", function(b)
      b.drop_column("obsolete")
      b.alter_column("pages", {nullable = false})
      b.add_column({"price", "numeric(8,2)", nullable = false, default = 0})
      b.create_check_constraint("ck_books_pages", "pages > 0")
      b.create_index("ix_books_price", {"price"})
    end)
    local n = 0
    for _, l in ipairs(logs) do if l:find("rebuilding SQLite table", 1, true) then n = n + 1 end end
    assert.equal(1, n)
    assert_survivors({"ix_books_lower_title", "ix_books_price", "ix_books_title"})
    assert.same({{name = "ck_books_pages", condition = "pages > 0"}}, introspect.table(conn, "books").checks)
  end)

  it("recreate = 'never' refuses what needs a rebuild; 'always' rebuilds even a plain change", function()
    local err = h.error_of(function()
      op.batch_alter_table("books", function(b) b.drop_column("obsolete") end, {recreate = "never"})
    end)
    assert.truthy(tostring(err):find('batch_alter_table: SQLite cannot do this with ALTER TABLE, and recreate = "never" forbids a rebuild of "books"', 1, true), tostring(err))
    op.batch_alter_table("books", function(b) b.add_column({"x", "integer"}) end, {recreate = "always"})
    assert.equal(1, #logs)
    assert_survivors({"ix_books_lower_title", "ix_books_obsolete", "ix_books_title"})
  end)

  it("keeps what a hand-written table says: AUTOINCREMENT, COLLATE, WITHOUT ROWID, inline constraints", function()
    conn:exec([[CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT COLLATE NOCASE NOT NULL
                CONSTRAINT name_ok CHECK (name <> ''), junk TEXT)]])
    conn:exec([[CREATE TABLE kv (k TEXT COLLATE NOCASE PRIMARY KEY, v BLOB, junk TEXT) WITHOUT ROWID]])
    conn:exec("INSERT INTO seq (name) VALUES ('a'), ('b')")
    conn:exec("DELETE FROM seq WHERE id = 2")
    conn:exec("INSERT INTO kv (k, v) VALUES ('Key', x'00')")
    local before = introspect.schema(conn).tables
    op.drop_column("seq", "junk")
    op.drop_column("kv", "junk")
    local after = introspect.schema(conn).tables
    table.remove(before.seq.columns, 3)
    table.remove(before.kv.columns, 3)
    assert.same(before.seq, after.seq)
    assert.same(before.kv, after.kv)
    assert.is_true(after.seq.sqlite_autoincrement)
    assert.equal("WITHOUT ROWID", after.kv.options)
    assert.equal("NOCASE", after.seq.columns[2].collate)
    conn:exec("INSERT INTO seq (name) VALUES ('c')")          -- AUTOINCREMENT: 2 is never reused
    assert.same({{id = 1, name = "a"}, {id = 3, name = "c"}}, rows("SELECT id, name FROM seq ORDER BY id"))
    assert.same({{v = "\0"}}, rows("SELECT v FROM kv WHERE k = 'KEY'"))   -- NOCASE kept
  end)

  it("leaves alone a view that was broken before and does not read the table", function()
    conn:exec("CREATE TABLE gone (x INTEGER)")
    conn:exec("CREATE VIEW stale AS SELECT x FROM gone")
    conn:exec("DROP TABLE gone")
    op.drop_column("books", "obsolete")
    assert.same({{name = "stale"}}, rows("SELECT name FROM sqlite_schema WHERE type = 'view' AND name = 'stale'"))
  end)

  it("refuses a table with generated columns, which it could not copy", function()
    conn:exec("CREATE TABLE g (a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2), c TEXT)")
    local err = h.error_of(function() op.drop_column("g", "c") end)
    assert.truthy(tostring(err):find('drop_column: table "g" has generated columns, which the rebuild cannot copy', 1, true), tostring(err))
  end)

  it("a primary key can be changed", function()
    op.create_table("pairs", {{"a", "integer", nullable = false}, {"b", "integer", nullable = false}})
    op.bulk_insert("pairs", {{a = 1, b = 1}, {a = 1, b = 2}})
    op.create_primary_key("pk_pairs", "pairs", {"a", "b"})
    assert.same({name = "pk_pairs", columns = {"a", "b"}}, introspect.table(conn, "pairs").primary_key)
    op.batch_alter_table("pairs", function(b)
      b.drop_constraint("pk_pairs", {type_ = "primary"})
      b.create_primary_key("pk_pairs_b", {"b"})
    end)
    assert.same({name = "pk_pairs_b", columns = {"b"}}, introspect.table(conn, "pairs").primary_key)
    assert.same({{a = 1, b = 1}, {a = 1, b = 2}}, rows("SELECT a, b FROM pairs ORDER BY b"))
  end)
end)
