-- Issue 13, SQLite move-and-copy: nothing the rebuild does not mean to
-- change may change. Each rebuild is compared object by object and row by
-- row (rowid included) with the database before it, and, where SQLite's
-- own ALTER TABLE ... DROP COLUMN succeeds, with what SQLite itself makes
-- of the same database: the same sqlite_master (modulo spacing and the
-- quoting of the rebuilt table's name), the same rows, the same rowids.
-- Then PRAGMA integrity_check and foreign_key_check.
local h = require "spec.helpers"
local core = require "luamig.core"
local luamig_op = require "luamig.op"
local introspect = require "luamig.introspect"

-- SQL text modulo spacing: runs of blanks are one, none beside ( ) ,
local function squeeze(sql)
  if not sql then return nil end
  return (sql:gsub("%s+", " "):gsub(" ?([(),]) ?", "%1"):gsub("^ ", ""):gsub(" $", ""))
end

-- CREATE TABLE "t" ( and CREATE TABLE t( are the same table
local function table_sql(name, sql)
  if not sql then return nil end
  local body = sql:match("^CREATE TABLE[^(]-(%(.*)$")
  return body and ("CREATE TABLE " .. name .. squeeze(body)) or squeeze(sql)
end

-- Everything a user could observe: every schema object, every row of every
-- table with its rowid, in order.
local function snapshot(conn)
  local master = {}
  for _, r in ipairs(conn:query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")) do
    master[#master + 1] = {type = r.type, name = r.name, tbl_name = r.tbl_name,
                           sql = r.type == "table" and table_sql(r.name, r.sql) or squeeze(r.sql)}
  end
  local data = {}
  for _, r in ipairs(conn:query([[SELECT name, wr, type FROM pragma_table_list
                                  WHERE schema = 'main' AND name NOT LIKE 'sqlite_schema' ORDER BY name]])) do
    local q = core.quote_ident(r.name)
    local sql = (r.wr == 1 or r.type == "virtual") and ("SELECT * FROM " .. q .. " ORDER BY 1")
                or ("SELECT _rowid_ AS luamig_rowid, * FROM " .. q .. " ORDER BY _rowid_")
    if r.type ~= "virtual" then data[r.name] = conn:query(sql) end
  end
  return {master = master, data = data}
end

-- The stored SQL of one object, modulo spacing.
local function sql_of(conn, name)
  for _, o in ipairs(snapshot(conn).master) do if o.name == name then return o.sql end end
end

-- An error's message without the "file:line: " the op API puts before it.
local function message(err)
  return (tostring(err):gsub("^[^:]*%.lua:%d+: ", ""))
end

local function healthy(conn)
  assert.same({{integrity_check = "ok"}}, conn:query("PRAGMA integrity_check"))
  assert.same({}, conn:query("PRAGMA foreign_key_check"))
  assert.same({}, conn:query("SELECT name FROM sqlite_master WHERE name LIKE 'luamig_tmp%'"))
end

local function exec_all(conn, script)
  for stmt in script:gmatch("[^;]+") do
    if stmt:find("%S") then conn:exec(stmt) end
  end
end

local function new_op(conn, logs)
  return luamig_op.new{conn = conn, log = function(_, msg) logs[#logs + 1] = msg end}
end

local function grep(list, pattern)
  local out = {}
  for _, l in ipairs(list) do if l:find(pattern, 1, true) then out[#out + 1] = l end end
  return out
end

-- Build the same database twice; run SQLite's own statement on one and
-- luamig's operation on the other; return both connections.
local function twins(script)
  local a, b = core.connect((h.fresh_sqlite())), core.connect((h.fresh_sqlite()))
  -- statements holding ';' inside (triggers) are given as a list
  for _, conn in ipairs({a, b}) do
    if type(script) == "table" then for _, s in ipairs(script) do conn:exec(s) end else exec_all(conn, script) end
  end
  return a, b
end

-- A table as applications have them: no INTEGER PRIMARY KEY (implicit
-- rowids with gaps), a column named like a function ("date"), an
-- expression default, conflict clauses, COLLATE, expression and partial
-- and unique expression indexes, a CHECK calling date(), a trigger on it,
-- a trigger on another table writing it, a view, FTS5 external content,
-- foreign keys out (authors) and in (attendees).
local EVENTS = {
  "CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE ON CONFLICT IGNORE)",
  "CREATE TABLE log (id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT)",
  [[CREATE TABLE events (
      title TEXT NOT NULL COLLATE NOCASE,
      "date" TEXT,
      created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S','now')),
      author_id INTEGER REFERENCES authors (id) ON DELETE CASCADE,
      code TEXT UNIQUE ON CONFLICT IGNORE,
      CHECK (date(created_at) IS NOT NULL)
    )]],
  "CREATE INDEX ix_events_day ON events (date(created_at))",
  "CREATE UNIQUE INDEX ux_events_title_day ON events (title, date(created_at))",
  "CREATE INDEX ix_events_recent ON events (title) WHERE created_at > '2020'",
  "CREATE TRIGGER events_ai AFTER INSERT ON events BEGIN INSERT INTO log (what) VALUES ('event ' || new.title); END",
  "CREATE TRIGGER authors_ad AFTER DELETE ON authors BEGIN UPDATE events SET code = NULL WHERE author_id = old.id; END",
  "CREATE VIEW v_events AS SELECT title, created_at FROM events WHERE author_id IS NOT NULL",
  "CREATE TABLE attendees (id INTEGER PRIMARY KEY, event_code TEXT REFERENCES events (code))",
  "CREATE VIRTUAL TABLE events_fts USING fts5 (title, content = 'events', content_rowid = 'rowid')",
  "INSERT INTO authors (id, name) VALUES (1, 'Ann'), (2, 'Bob')",
}
for i = 1, 17 do
  EVENTS[#EVENTS + 1] = ("INSERT INTO events (title, \"date\", created_at, author_id, code) VALUES "
    .. "('talk %d', 'd%d', '2021-01-%02dT10:00:00', %d, 'c%d')"):format(i, i, i, i % 2 + 1, i)
end
for _, s in ipairs({
  "DELETE FROM events WHERE rowid NOT IN (3, 5, 17)",
  "INSERT INTO events_fts (events_fts) VALUES ('rebuild')",
  "INSERT INTO attendees (id, event_code) VALUES (1, 'c3'), (2, 'c17')",
}) do EVENTS[#EVENTS + 1] = s end

describe("[sqlite] move-and-copy, against SQLite's own ALTER TABLE", function()
  it("drop_column of \"date\" keeps date(created_at) indexes and CHECK, rowids, FTS5, triggers, views, conflict clauses", function()
    local sqlite, ours = twins(EVENTS)
    sqlite:exec([[ALTER TABLE events DROP COLUMN "date"]])
    local logs = {}
    new_op(ours, logs).drop_column("events", "date")
    assert.same(snapshot(sqlite), snapshot(ours))
    assert.same({}, grep(logs, "goes with"))
    healthy(ours)
    -- rowids 3, 5, 17 are those FTS5 knows
    assert.same({{luamig_rowid = 3}, {luamig_rowid = 5}, {luamig_rowid = 17}},
                ours:query("SELECT rowid AS luamig_rowid FROM events ORDER BY rowid"))
    assert.same({{rowid = 17, title = "talk 17"}},
                ours:query("SELECT rowid, title FROM events_fts WHERE events_fts MATCH '17'"))
    ours:exec("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")
    -- the objects still work: unique expression index, CHECK, conflict clause, trigger
    assert.has_error(function()
      ours:exec("INSERT INTO events (title, created_at, code) VALUES ('TALK 3', '2021-01-03T23:00:00', 'x')")
    end)
    assert.has_error(function() ours:exec("INSERT INTO events (title, created_at) VALUES ('t', 'not a date')") end)
    ours:exec("INSERT INTO events (title, code) VALUES ('new', 'c5')")        -- IGNOREd: code c5 exists
    assert.same({{n = 3}}, ours:query("SELECT count(*) AS n FROM events"))
    ours:exec("INSERT INTO events (title, code) VALUES ('newer', 'c99')")
    assert.same({{what = "event newer"}}, ours:query("SELECT what FROM log WHERE id = (SELECT max(id) FROM log)"))
    assert.truthy(ours:query("SELECT created_at FROM events WHERE code = 'c99'")[1].created_at:match("^%d%d%d%d%-"))
    sqlite:close(); ours:close()
  end)

  it("a rename with recreate = 'always' (a rebuild that changes nothing more) is SQLite's own RENAME COLUMN", function()
    local sqlite, ours = twins(EVENTS)
    sqlite:exec([[ALTER TABLE events RENAME COLUMN "title" TO "name"]])   -- luamig quotes every name
    local logs = {}
    new_op(ours, logs).batch_alter_table("events", function(b) b.alter_column("title", {new_column_name = "name"}) end,
                                         {recreate = "always"})
    assert.same({'batch_alter_table: rebuilding SQLite table "events" (move and copy)'}, grep(logs, "rebuilding"))
    assert.same(snapshot(sqlite), snapshot(ours))
    healthy(ours)
    ours:exec("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")
    sqlite:close(); ours:close()
  end)

  it("alter_column and constraint changes on the same table change its CREATE TABLE only as asked", function()
    local conn = core.connect((h.fresh_sqlite()))
    for _, stmt in ipairs(EVENTS) do conn:exec(stmt) end
    local before = snapshot(conn)
    local op = new_op(conn, {})
    op.alter_column("events", "code", {type_ = "string(20)"})
    op.create_check_constraint("ck_title", "events", "length(title) > 0")
    op.alter_column("events", "date", {nullable = false, server_default = "none"})
    op.drop_constraint("ck_title", "events", {type_ = "check"})
    op.alter_column("events", "date", {nullable = true})
    local after = snapshot(conn)
    local function without_events(snap)
      local out = {}
      for _, o in ipairs(snap.master) do if o.name ~= "events" then out[#out + 1] = o end end
      return out
    end
    assert.same(without_events(before), without_events(after))
    assert.same(before.data, after.data)
    assert.equal([[CREATE TABLE events(title TEXT NOT NULL COLLATE NOCASE,"date" TEXT DEFAULT 'none',]]
      .. [[created_at TEXT NOT NULL DEFAULT(strftime('%Y-%m-%dT%H:%M:%S','now')),author_id INTEGER REFERENCES ]]
      .. [[authors(id)ON DELETE CASCADE,code VARCHAR(20)UNIQUE ON CONFLICT IGNORE,CHECK(date(created_at)IS NOT NULL))]],
      sql_of(conn, "events"))
    healthy(conn)
    conn:exec("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")
    conn:close()
  end)

  it("a column named like its table: the unique index on another column stays", function()
    local sqlite, ours = twins([[
      CREATE TABLE note (id INTEGER PRIMARY KEY, note TEXT, slug TEXT NOT NULL);
      CREATE UNIQUE INDEX ux_note_slug ON note (slug);
      CREATE INDEX ix_note_lower ON note (lower(slug)) WHERE slug <> 'note';
      INSERT INTO note (id, note, slug) VALUES (4, 'n', 'a'), (9, 'm', 'b')]])
    sqlite:exec("ALTER TABLE note DROP COLUMN note")
    new_op(ours, {}).drop_column("note", "note")
    assert.same(snapshot(sqlite), snapshot(ours))
    healthy(ours)
    assert.has_error(function() ours:exec("INSERT INTO note (slug) VALUES ('a')") end)
    sqlite:close(); ours:close()
  end)

  it("keeps PRIMARY KEY ON CONFLICT REPLACE, INTEGER PRIMARY KEY DESC, AUTOINCREMENT, STRICT, WITHOUT ROWID", function()
    local script = [[
      CREATE TABLE kv (k TEXT PRIMARY KEY ON CONFLICT REPLACE, v TEXT, junk TEXT);
      CREATE TABLE u (a TEXT UNIQUE ON CONFLICT IGNORE, junk TEXT, b INTEGER CHECK (b > 0));
      CREATE TABLE dsc (id INTEGER PRIMARY KEY DESC, x TEXT, junk TEXT);
      CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT, x TEXT, junk TEXT);
      CREATE TABLE st (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, junk ANY) STRICT;
      CREATE TABLE wr (k TEXT COLLATE NOCASE PRIMARY KEY, v BLOB, junk TEXT) WITHOUT ROWID;
      INSERT INTO kv VALUES ('a', '1', 'j'), ('b', '2', 'j');
      INSERT INTO u VALUES ('a', 'j', 1), ('b', 'j', 2);
      INSERT INTO dsc (id, x) VALUES (10, 'p'), (20, 'q');
      INSERT INTO seq (x) VALUES ('p'), ('q'), ('r');
      DELETE FROM seq WHERE id = 3;
      INSERT INTO st VALUES (1, 5, 'j');
      INSERT INTO wr VALUES ('Key', x'00', 'j')]]
    local sqlite, ours = twins(script)
    local op = new_op(ours, {})
    for _, t in ipairs({"kv", "u", "dsc", "seq", "st", "wr"}) do
      sqlite:exec(("ALTER TABLE %s DROP COLUMN junk"):format(t))
      op.drop_column(t, "junk")
    end
    assert.same(snapshot(sqlite), snapshot(ours))
    healthy(ours)
    ours:exec("INSERT INTO kv VALUES ('a', '9')")                     -- REPLACE
    assert.same({{k = "a", v = "9"}, {k = "b", v = "2"}}, ours:query("SELECT * FROM kv ORDER BY k"))
    ours:exec("INSERT INTO u VALUES ('a', 3)")                        -- IGNORE
    assert.same({{n = 2}}, ours:query("SELECT count(*) AS n FROM u"))
    ours:exec("INSERT INTO seq (x) VALUES ('s')")                     -- AUTOINCREMENT: 3 is not reused
    assert.same({{id = 4}}, ours:query("SELECT max(id) AS id FROM seq"))
    assert.has_error(function() ours:exec("INSERT INTO st VALUES (2, 'not a number')") end)
    assert.same({{v = "\0"}}, ours:query("SELECT v FROM wr WHERE k = 'KEY'"))
    sqlite:close(); ours:close()
  end)

  it("alter_column keeps the other clauses of the column and of the table", function()
    local conn = core.connect((h.fresh_sqlite()))
    exec_all(conn, [[
      CREATE TABLE kv (k TEXT PRIMARY KEY ON CONFLICT REPLACE, v TEXT COLLATE NOCASE, n INTEGER);
      CREATE TABLE dsc (id INTEGER PRIMARY KEY DESC, x TEXT);
      INSERT INTO kv VALUES ('a', 'A', 1), ('b', 'B', 2);
      INSERT INTO dsc (id, x) VALUES (10, 'p'), (20, 'q')]])
    local before = snapshot(conn)
    local op = new_op(conn, {})
    op.alter_column("kv", "n", {nullable = false, server_default = 0})
    op.alter_column("dsc", "x", {nullable = false})
    local after = snapshot(conn)
    assert.same(before.data, after.data)
    assert.equal([[CREATE TABLE kv(k TEXT PRIMARY KEY ON CONFLICT REPLACE,v TEXT COLLATE NOCASE,n INTEGER NOT NULL DEFAULT 0)]],
                 sql_of(conn, "kv"))
    assert.equal([[CREATE TABLE dsc(id INTEGER PRIMARY KEY DESC,x TEXT NOT NULL)]], sql_of(conn, "dsc"))
    conn:exec("INSERT INTO kv (k, v) VALUES ('a', 'z')")
    assert.same({{k = "a", v = "z", n = 0}, {k = "b", v = "B", n = 2}}, conn:query("SELECT * FROM kv ORDER BY k"))
    assert.same({{k = "b"}}, conn:query("SELECT k FROM kv WHERE v = 'b'"))
    healthy(conn)
    conn:close()
  end)

  it("hostile names: a table we\"ird with columns select and a b", function()
    local sqlite, ours = twins({
      [[CREATE TABLE "we""ird" ("select" INTEGER, "a b" TEXT, "Ünïcödé" TEXT DEFAULT 'x''y')]],
      [[CREATE INDEX "ix;--" ON "we""ird" ("select") WHERE "Ünïcödé" <> '']],
      [[CREATE TRIGGER "t r" AFTER UPDATE ON "we""ird" BEGIN SELECT new."select"; END]],
      [[INSERT INTO "we""ird" VALUES (1, 'p', 'q'), (2, 'r', 's')]],
      [[DELETE FROM "we""ird" WHERE "select" = 1]],
    })
    sqlite:exec([[ALTER TABLE "we""ird" DROP COLUMN "a b"]])
    new_op(ours, {}).drop_column('we"ird', "a b")
    assert.same(snapshot(sqlite), snapshot(ours))
    healthy(ours)
    sqlite:close(); ours:close()
  end)
end)

describe("[sqlite] move-and-copy: what uses the dropped column, decided exactly", function()
  it("drops only the indexes and CHECKs that read the column, and names each", function()
    local conn = core.connect((h.fresh_sqlite()))
    exec_all(conn, [[
      CREATE TABLE events (title TEXT, "date" TEXT, created_at TEXT,
        CONSTRAINT ck_day CHECK (date(created_at) IS NOT NULL),
        CONSTRAINT ck_date_len CHECK (length(date) < 20),
        CONSTRAINT ck_quoted CHECK ("date" <> 'x'));
      CREATE INDEX ix_day ON events (date(created_at));
      CREATE INDEX ix_date ON events ("date");
      CREATE INDEX ix_lower_date ON events (lower(date));
      CREATE INDEX ix_title_where ON events (title) WHERE "date" IS NOT NULL;
      CREATE INDEX ix_cast ON events (CAST(created_at AS date));
      INSERT INTO events VALUES ('a', 'd', '2021-01-01')]])
    local logs = {}
    new_op(conn, logs).drop_column("events", "date")
    local names = {}
    for _, r in ipairs(conn:query("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")) do
      names[#names + 1] = r.name
    end
    assert.same({"ix_cast", "ix_day"}, names)
    assert.equal("CREATE TABLE events(title TEXT,created_at TEXT,CONSTRAINT ck_day CHECK(date(created_at)IS NOT NULL))",
                 sql_of(conn, "events"))
    table.sort(logs)
    assert.same({
      'drop_column: check constraint "ck_date_len" goes with column "date"',
      'drop_column: check constraint "ck_quoted" goes with column "date"',
      'drop_column: index "ix_date" goes with column "date"',
      'drop_column: index "ix_lower_date" goes with column "date"',
      'drop_column: index "ix_title_where" goes with column "date"',
    }, grep(logs, "goes with"))
    assert.has_error(function() conn:exec("INSERT INTO events VALUES ('b', 'nope')") end)   -- ck_day kept
    healthy(conn)
    conn:close()
  end)

  it("a column CHECK that reads another column goes with that column", function()
    local conn = core.connect((h.fresh_sqlite()))
    exec_all(conn, [[
      CREATE TABLE r (lo INTEGER CHECK (lo >= 0), hi INTEGER CONSTRAINT ck_order CHECK (hi >= lo) NOT NULL, junk TEXT);
      INSERT INTO r VALUES (1, 2, 'j')]])
    local logs = {}
    local op = new_op(conn, logs)
    op.drop_column("r", "junk")
    assert.same({}, grep(logs, "goes with"))
    op.drop_column("r", "lo")
    assert.same({'drop_column: check constraint "ck_order" goes with column "lo"'}, grep(logs, "goes with"))
    assert.equal("CREATE TABLE r(hi INTEGER NOT NULL)", sql_of(conn, "r"))
    assert.same({{hi = 2}}, conn:query("SELECT * FROM r"))
    conn:close()
  end)
end)

describe("[sqlite] move-and-copy refuses to break a trigger", function()
  for _, case in ipairs({
    {"on the table", "CREATE TRIGGER tr_b AFTER INSERT ON t BEGIN INSERT INTO other (x) VALUES (new.b); END", "t"},
    {"on another table", "CREATE TRIGGER tr_b AFTER INSERT ON other BEGIN UPDATE t SET a = 0 WHERE b = new.x; END", "other"},
  }) do
    it(case[1] .. ": names the trigger, changes nothing, as SQLite's own DROP COLUMN", function()
      local script = {"CREATE TABLE t (a INTEGER, b INTEGER)", "CREATE TABLE other (x INTEGER)", case[2],
                      "INSERT INTO t VALUES (1, 2)"}
      local sqlite, ours = twins(script)
      assert.has_error(function() sqlite:exec("ALTER TABLE t DROP COLUMN b") end)
      local before = snapshot(ours)
      local err = h.error_of(function() new_op(ours, {}).drop_column("t", "b") end)
      assert.equal(('drop_column: rebuilding "t": trigger "tr_b" on "%s" would no longer work: no such column: %s; '
        .. "drop or change the trigger first (op.execute), then run this operation")
        :format(case[3], case[3] == "t" and "new.b" or "b"), message(err))
      assert.same(before, snapshot(ours))
      ours:exec("INSERT INTO other (x) VALUES (5)")
      ours:exec("INSERT INTO t VALUES (3, 4)")
      sqlite:close(); ours:close()
    end)
  end

  it("a trigger broken before the step is not this step's", function()
    local conn = core.connect((h.fresh_sqlite()))
    exec_all(conn, "CREATE TABLE t (a INTEGER, b INTEGER); CREATE TABLE other (x INTEGER)")
    conn:exec("CREATE TRIGGER old_bad AFTER INSERT ON other BEGIN SELECT nope FROM other; END")
    new_op(conn, {}).drop_column("t", "b")
    assert.same({{name = "old_bad"}}, conn:query("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
    conn:close()
  end)
end)

describe("[sqlite] move-and-copy: defaults, rowids", function()
  it("a table with an expression default can be rebuilt again and again", function()
    local conn = core.connect((h.fresh_sqlite()))
    local op = new_op(conn, {})
    op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text"}, {"b", "text"}})
    op.add_column("t", {"stamp", "text", server_default = op.raw("strftime('%Y-%m-%dT%H:%M:%S','now')")})
    op.drop_column("t", "a")
    op.drop_column("t", "b")
    conn:exec("INSERT INTO t (id) VALUES (1)")
    assert.truthy(conn:query("SELECT stamp FROM t")[1].stamp:match("^%d%d%d%d%-%d%d%-%d%dT"))
    -- the model read back renders a CREATE TABLE SQLite accepts
    local d = require "luamig.dialect.sqlite"
    local model = introspect.table(conn, "t")
    model.name = "t2"
    conn:exec(d.create_table_sql(model))
    conn:exec("INSERT INTO t2 (id) VALUES (1)")
    assert.truthy(conn:query("SELECT stamp FROM t2")[1].stamp:match("^%d%d%d%d%-%d%d%-%d%dT"))
    conn:close()
  end)

  it("rowids survive alter_column, add_constraint and drop_constraint", function()
    local conn = core.connect((h.fresh_sqlite()))
    exec_all(conn, [[CREATE TABLE t (a INTEGER, b TEXT);
      INSERT INTO t (rowid, a, b) VALUES (3, 1, 'x'), (5, 2, 'y'), (17, 3, 'z')]])
    local op = new_op(conn, {})
    op.alter_column("t", "b", {nullable = false})
    op.create_unique_constraint("uq_t_a", "t", {"a"})
    op.drop_constraint("uq_t_a", "t", {type_ = "unique"})
    assert.same({{r = 3, a = 1}, {r = 5, a = 2}, {r = 17, a = 3}}, conn:query("SELECT rowid AS r, a FROM t ORDER BY rowid"))
    conn:close()
  end)
end)

describe("[sqlite] move-and-copy: foreign key messages", function()
  it("a foreign key to a column that is not unique says what to do", function()
    local conn = core.connect((h.fresh_sqlite()))
    exec_all(conn, [[CREATE TABLE stars (n INTEGER); CREATE TABLE reviews (id INTEGER PRIMARY KEY, stars INTEGER);
      INSERT INTO stars VALUES (3); INSERT INTO reviews VALUES (1, 3)]])
    local before = snapshot(conn)
    local err = h.error_of(function() new_op(conn, {}).create_foreign_key("fk_r_s", "reviews", "stars", {"stars"}, {"n"}) end)
    assert.equal('create_foreign_key: rebuilding "reviews": the foreign key "reviews" (stars) -> "stars" (n) does not '
      .. 'reference the primary key or a unique constraint of "stars", so SQLite cannot check it ("foreign key '
      .. 'mismatch"); reference the primary key, or add a unique constraint or unique index on those columns of "stars"',
      message(err))
    assert.same(before, snapshot(conn))
    conn:close()
  end)

  it("orphan rows that were there before the step are said to be", function()
    local conn = core.connect((h.fresh_sqlite()))
    exec_all(conn, [[CREATE TABLE p (id INTEGER PRIMARY KEY);
      CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p (id), junk TEXT);
      INSERT INTO p VALUES (1); INSERT INTO c VALUES (1, 1, 'j'), (7, 99, 'j')]])
    local before = snapshot(conn)
    local err = h.error_of(function() new_op(conn, {}).drop_column("c", "junk") end)
    assert.equal('drop_column: rebuilding "c": foreign key check failed: rows of "c" with rowid 7 reference missing '
      .. 'rows of "p"; these rows broke their foreign keys before this step (PRAGMA foreign_key_check lists them): '
      .. "fix or delete them, then run the migration again", message(err))
    assert.same(before, snapshot(conn))
    conn:close()
  end)
end)

h.each_db(function(db)
  describe("batch_alter_table applies its changes in the order written", function()
    local conn, op
    before_each(function()
      conn = db.connect()
      op = luamig_op.new{conn = conn, log = function() end}
      op.create_table("t", {{"id", "integer", primary_key = true}, {"a", "text"}, {"old", "text"}})
      op.bulk_insert("t", {{id = 1, a = "p", old = "o"}, {id = 2, a = "q"}})
    end)
    after_each(function() conn:close() end)
    local function columns()
      local out = {}
      for i, c in ipairs(introspect.table(conn, "t").columns) do out[i] = c.name end
      return out
    end

    it("add_column x, then rename x to y", function()
      op.batch_alter_table("t", function(b)
        b.add_column({"x", "text"})
        b.alter_column("x", {new_column_name = "y"})
      end)
      assert.same({"id", "a", "old", "y"}, columns())
    end)

    it("add_column x NOT NULL with a default, rename x to y, then index y, drop old, rename a to old", function()
      op.batch_alter_table("t", function(b)
        b.add_column({"x", "text", nullable = false, default = "d"})
        b.alter_column("x", {new_column_name = "y"})
        b.create_index("ix_t_y", {"y"})
        b.drop_column("old")
        b.alter_column("a", {new_column_name = "old"})
      end)
      assert.same({"id", "old", "y"}, columns())
      assert.same({{id = 1, old = "p", y = "d"}, {id = 2, old = "q", y = "d"}},
                  conn:query([[SELECT id, "old", y FROM t ORDER BY id]]))
      local ix = introspect.table(conn, "t").indexes
      assert.same({{name = "ix_t_y", unique = false, columns = {"y"}}}, ix)
    end)

    it("add_column x with an index, then rename x to y: the index follows", function()
      op.batch_alter_table("t", function(b)
        b.add_column({"x", "text", index = true})
        b.alter_column("x", {new_column_name = "y"})
        b.drop_column("old")
      end)
      assert.same({"id", "a", "y"}, columns())
      assert.same({{name = "ix_t_x", unique = false, columns = {"y"}}}, introspect.table(conn, "t").indexes)
    end)

    it("rename a to b, then add a new a", function()
      op.batch_alter_table("t", function(b)
        b.alter_column("a", {new_column_name = "b"})
        b.add_column({"a", "integer", nullable = false, default = 7})
      end)
      assert.same({"id", "b", "old", "a"}, columns())
      assert.same({{id = 1, a = 7, b = "p"}, {id = 2, a = 7, b = "q"}}, conn:query("SELECT id, a, b FROM t ORDER BY id"))
    end)

    it("drop_column, then dropping its index, fails as it would on the other database", function()
      op.create_index("ix_t_old", "t", {"old"})
      local err = h.error_of(function()
        op.batch_alter_table("t", function(b)
          b.drop_column("old")
          b.drop_index("ix_t_old")
        end)
      end)
      assert.truthy(tostring(err):find("ix_t_old", 1, true), tostring(err))
    end)
  end)
end)

describe("[sqlite] move-and-copy: attacks", function()
  it("a view or trigger naming the dropped column in double quotes is refused, not turned into a string", function()
    for _, obj in ipairs({
      {"CREATE VIEW v AS SELECT a, \"b\" AS x FROM t", 'view "v"'},
      {"CREATE TRIGGER tr AFTER INSERT ON other BEGIN UPDATE t SET a = 0 WHERE \"b\" = new.x; END", 'trigger "tr"'},
    }) do
      local conn = core.connect((h.fresh_sqlite()))
      exec_all(conn, "CREATE TABLE t (a INTEGER, b INTEGER); CREATE TABLE other (x INTEGER); INSERT INTO t VALUES (1, 2)")
      conn:exec(obj[1])
      local before = snapshot(conn)
      local err = h.error_of(function() new_op(conn, {}).drop_column("t", "b") end)
      assert.equal(('drop_column: rebuilding "t": %s says "b" in double quotes; without the column SQLite would read '
        .. "it as the string 'b' and go on silently: drop or change the %s first (op.execute), then run this operation")
        :format(obj[2], obj[2]:match("^%a+")), message(err))
      assert.same(before, snapshot(conn))
      conn:close()
    end
  end)

  it("a table with a column named rowid keeps its real rowids", function()
    local conn = core.connect((h.fresh_sqlite()))
    exec_all(conn, [[CREATE TABLE r ("rowid" TEXT, x INTEGER, junk TEXT);
      INSERT INTO r (_rowid_, "rowid", x) VALUES (4, 'a', 1), (11, 'b', 2)]])
    new_op(conn, {}).drop_column("r", "junk")
    assert.same({{r = 4, rowid = "a", x = 1}, {r = 11, rowid = "b", x = 2}},
                conn:query([[SELECT _rowid_ AS r, "rowid", x FROM r ORDER BY _rowid_]]))
    conn:close()
  end)

  it("column clauses SQLite spells many ways survive an edit of a neighbour", function()
    local conn = core.connect((h.fresh_sqlite()))
    exec_all(conn, [[CREATE TABLE p (id INTEGER PRIMARY KEY);
      CREATE TABLE c (
        a INTEGER DEFAULT -1 NOT NULL ON CONFLICT REPLACE, -- a comment
        b TEXT CONSTRAINT b_ok CHECK (b <> 'x') DEFAULT 'it''s' COLLATE RTRIM,
        p_id INTEGER CONSTRAINT fk_p REFERENCES p (id) ON DELETE SET NULL NOT DEFERRABLE INITIALLY IMMEDIATE,
        n NUMERIC(10, 2) DEFAULT NULL,
        junk TEXT)]])
    local op = new_op(conn, {})
    op.drop_column("c", "junk")
    op.alter_column("c", "n", {type_ = "integer", nullable = false, server_default = 0})
    assert.equal("CREATE TABLE c(a INTEGER DEFAULT -1 NOT NULL ON CONFLICT REPLACE,-- a comment "
      .. "b TEXT CONSTRAINT b_ok CHECK(b <> 'x')DEFAULT 'it''s' COLLATE RTRIM,p_id INTEGER CONSTRAINT fk_p "
      .. "REFERENCES p(id)ON DELETE SET NULL NOT DEFERRABLE INITIALLY IMMEDIATE,n INTEGER NOT NULL DEFAULT 0)",
      sql_of(conn, "c"))
    op.drop_constraint("b_ok", "c", {type_ = "check"})
    op.drop_constraint("fk_p", "c", {type_ = "foreignkey"})
    assert.equal("CREATE TABLE c(a INTEGER DEFAULT -1 NOT NULL ON CONFLICT REPLACE,-- a comment "
      .. "b TEXT DEFAULT 'it''s' COLLATE RTRIM,p_id INTEGER,n INTEGER NOT NULL DEFAULT 0)", sql_of(conn, "c"))
    conn:exec("INSERT INTO c (a, b) VALUES (NULL, 'x')")
    assert.same({{a = -1, b = "x", n = 0}}, conn:query("SELECT a, b, n FROM c"))
    conn:close()
  end)
end)

describe("[sqlite] offline (--sql) move-and-copy", function()
  it("keeps the rowids of a table without INTEGER PRIMARY KEY, and a date(...) index", function()
    local out = {}
    local op = luamig_op.new{dialect = "sqlite", emit = function(text) out[#out + 1] = text end}
    op.create_table("t", {{"a", "text"}, {"date", "text"}, {"created_at", "text"}})
    op.create_index("ix_t_day", "t", {op.raw("date(created_at)")})
    op.execute("INSERT INTO t (rowid, a, created_at) VALUES (3, 'x', '2021-01-01'), (17, 'y', '2021-01-02')")
    op.drop_column("t", "date")
    local conn = core.connect((h.fresh_sqlite()))
    for _, stmt in ipairs(out) do conn:exec(stmt) end
    assert.same({{r = 3, a = "x"}, {r = 17, a = "y"}}, conn:query("SELECT rowid AS r, a FROM t ORDER BY rowid"))
    assert.same({{name = "ix_t_day"}}, conn:query("SELECT name FROM sqlite_master WHERE type = 'index'"))
    healthy(conn)
    conn:close()
  end)
end)
