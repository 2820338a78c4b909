-- squash START:END (issue 16, item 9): one revision that replaces a chain,
-- with Django's squashmigrations rule (src/graph_squash.c). The oracle
-- (TESTING.md): the unsquashed history gives the same schema at head --
-- pg_dump --schema-only on PostgreSQL, SQLite's own PRAGMAs on SQLite --
-- as the squashed project from an empty database, from one part-way
-- through the range and from one already at head; and roundtrip passes on
-- the squashed project.
local h = require "spec.helpers"
local core = require "luamig.core"

-- r1 outside the range, r2..r5 the range, r6 after it. Hostile names: a
-- table called select, a column we"ird.
local function revisions()
  return {
    {id = "r1000001", message = "users", code = true,
     up = [[  op.create_table("users", {{"id", "integer", primary_key = true},
    {"email", "string(100)", nullable = false}})]],
     down_sql = [[  op.drop_table("users")]]},
    {id = "r2000002", down = "r1000001", message = "posts", code = true,
     up = [[  op.create_table("posts", {{"id", "integer", primary_key = true},
    {"user_id", "integer", references = "users.id"}, {"title", "string(200)"}})]],
     down_sql = [[  op.drop_table("posts")]]},
    {id = "r3000003", down = "r2000002", message = "name and an index", code = true,
     up = [[  op.add_column("users", {"name", "text", server_default = "x"})
  op.create_index("ix_posts_title", "posts", {"title"})]],
     down_sql = [[  op.drop_index("ix_posts_title", "posts")
  op.drop_column("users", "name")]]},
    {id = "r4000004", down = "r3000003", message = "not null, unique", code = true,
     up = [[  op.alter_column("posts", "title", {nullable = false, existing_type = "string(200)"})
  op.create_unique_constraint("uq_users_email", "users", {"email"})]],
     down_sql = [[  op.drop_constraint("uq_users_email", "users", {type_ = "unique"})
  op.alter_column("posts", "title", {nullable = true, existing_type = "string(200)"})]]},
    {id = "r5000005", down = "r4000004", message = "select", code = true,
     up = '  op.create_table("select", {{"id", "integer", primary_key = true},\n'
       .. '    {\'we"ird\', "string(50)", nullable = false}})\n'
       .. '  op.create_check_constraint("ck_select_label", "select", [["we""ird" <> \'\']])',
     down_sql = [[  op.drop_table("select")]]},
    {id = "r6000006", down = "r5000005", message = "after the range", code = true,
     up = [[  op.add_column("select", {"weight", "integer"})]],
     down_sql = [[  op.drop_column("select", "weight")]]},
  }
end

-- The schema of the database at url, as the database itself gives it.
local function dump(url)
  if url:match("^sqlite:") then
    local conn = core.connect(url)
    local out = {}
    for _, t in ipairs(conn:query([[SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view', 'trigger')
        AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT LIKE 'luamig\_%' ESCAPE '\' ORDER BY name]])) do
      local q = core.quote_ident(t.name)
      out[#out + 1] = t.type .. " " .. t.name
      for _, c in ipairs(conn:query("PRAGMA table_xinfo(" .. q .. ")")) do
        out[#out + 1] = ("  column %s %s notnull=%s default=%s pk=%s"):format(c.name, c.type, c.notnull,
          tostring(c.dflt_value), c.pk)
      end
      local idx = {}
      for _, i in ipairs(conn:query("PRAGMA index_list(" .. q .. ")")) do
        local cols = {}
        for _, ic in ipairs(conn:query("PRAGMA index_info(" .. core.quote_ident(i.name) .. ")")) do
          cols[#cols + 1] = tostring(ic.name)
        end
        idx[#idx + 1] = ("  index unique=%s origin=%s partial=%s (%s)%s"):format(i.unique, i.origin,
          i.partial, table.concat(cols, ","), i.origin == "c" and (" " .. i.name) or "")
      end
      table.sort(idx)
      for _, l in ipairs(idx) do out[#out + 1] = l end
      for _, f in ipairs(conn:query("PRAGMA foreign_key_list(" .. q .. ")")) do
        out[#out + 1] = ("  fk %s -> %s.%s"):format(f.from, f.table, f.to)
      end
      local sql = conn:query("SELECT sql FROM sqlite_master WHERE name = $1", {t.name})[1].sql or ""
      for ck in sql:gmatch("CONSTRAINT%s+(%S+)%s+CHECK") do out[#out + 1] = "  check " .. ck end
    end
    conn:close()
    return table.concat(out, "\n")
  end
  local status, out = h.run(("pg_dump --schema-only --no-owner --no-privileges -T luamig_version "
    .. "-T luamig_log %s"):format(h.shell_quote(url)))
  assert(status == 0, out)
  local lines = {}
  for line in out:gmatch("[^\n]+") do
    if not line:match("^%-%-") and not line:match("^SET ") and not line:match("^SELECT pg_catalog")
      and not line:match("^\\restrict") and not line:match("^\\unrestrict") then
      lines[#lines + 1] = line
    end
  end
  return table.concat(lines, "\n")
end

-- A copy of a project directory.
local function copy(dir)
  local to = h.tmpdir()
  assert(os.execute(("cp -R %s/. %s"):format(h.shell_quote(dir), h.shell_quote(to))))
  return to
end

local function lm(dir, url, args)
  return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args)
end

-- The squash's file in dir's versions/.
local function squash_file(dir, id)
  local _, out = h.run(("ls %s/migrations/versions/%s_*.lua"):format(h.shell_quote(dir), id))
  return (out:gsub("\n$", ""))
end

h.each_db(function(db)
  describe("squash r2000002:r5000005", function()
    local old, new, ref
    setup(function()
      old = h.project(revisions())
      new = copy(old)
      ref = db.url()
      local status, _, err = lm(old, ref, "upgrade head")
      assert.equal(0, status, err)
      local s, out, e = lm(new, db.url(), "squash r2000002:r5000005 --rev-id sq000001 -m 'squash the middle'")
      assert.equal(0, s, e)
      assert.truthy(out:find("sq000001_squash_the_middle.lua ...  done (replaces r2000002, r3000003, "
        .. "r4000004, r5000005)", 1, true), out)
    end)

    it("writes a revision that declares what it replaces, with the range's parent", function()
      local text = h.read_file(squash_file(new, "sq000001"))
      assert.truthy(text:find('\nrevision      = "sq000001"\n', 1, true), text)
      assert.truthy(text:find('\ndown_revision = "r1000001"\nreplaces      = {"r2000002", "r3000003", '
        .. '"r4000004", "r5000005"}\n', 1, true), text)
      assert.falsy(text:find("op.execute", 1, true))
    end)

    it("lists the squash in place of the range in history and heads", function()
      local status, out = lm(new, db.url(), "history")
      assert.equal(0, status)
      assert.same({"sq000001 -> r6000006 (head), after the range", "r1000001 -> sq000001, squash the middle",
        "<base> -> r1000001, users"}, h.lines(out))
    end)

    it("gives a fresh database the unsquashed history's schema at head, through the squash", function()
      local url = db.url()
      local status, _, err = lm(new, url, "upgrade head")
      assert.equal(0, status, err)
      assert.truthy(err:find("Running upgrade r1000001 -> sq000001, squash the middle", 1, true), err)
      assert.falsy(err:find("r3000003", 1, true), err)
      local want = dump(ref)
      assert.truthy((want:find('we"ird', 1, true) or want:find('we""ird', 1, true)) and want:find("ix_posts_title", 1, true), want)
      assert.equal(want, dump(url))
      assert.same({"r6000006"}, h.version_rows(url))
    end)

    it("finishes the old revisions on a database part-way through the range", function()
      local url = db.url()
      assert.equal(0, (lm(old, url, "upgrade r3000003")))
      local status, out = lm(new, url, "current")
      assert.equal(0, status)
      assert.equal("r3000003\n", out)
      local s, _, err = lm(new, url, "upgrade head")
      assert.equal(0, s, err)
      assert.truthy(err:find("Running upgrade r3000003 -> r4000004, not null, unique\n", 1, true), err)
      assert.truthy(err:find("Running upgrade r4000004 -> r5000005, select\n", 1, true), err)
      assert.falsy(err:find("sq000001", 1, true), err)
      assert.equal(dump(ref), dump(url))
      assert.same({"r6000006"}, h.version_rows(url))
    end)

    it("goes on from a database already past the range, and from one at the range's end", function()
      local url = db.url()
      assert.equal(0, (lm(old, url, "upgrade head")))
      local status, out = lm(new, url, "upgrade head")
      assert.equal(0, status)
      assert.equal("", out)
      assert.equal(dump(ref), dump(url))
      assert.same({"r6000006"}, h.version_rows(url))
      -- at the range's end: the row names r5000005, read as the squash
      local url2 = db.url()
      assert.equal(0, (lm(old, url2, "upgrade r5000005")))
      local s2, out2 = lm(new, url2, "current")
      assert.equal(0, s2)
      assert.equal("sq000001\n", out2)
      local s3, _, err3 = lm(new, url2, "upgrade head")
      assert.equal(0, s3, err3)
      assert.truthy(err3:find("Running upgrade sq000001 -> r6000006", 1, true), err3)
      assert.same({"r6000006"}, h.version_rows(url2))
      assert.equal(dump(ref), dump(url2))
    end)

    it("downgrades past the range through the squash's downgrade", function()
      local url = db.url()
      assert.equal(0, (lm(new, url, "upgrade head")))
      local status, _, err = lm(new, url, "downgrade r1000001")
      assert.equal(0, status, err)
      assert.truthy(err:find("Running downgrade sq000001 -> r1000001", 1, true), err)
      assert.same({"r1000001"}, h.version_rows(url))
      assert.same({"luamig_log", "luamig_version", "users"}, h.tables(url))
    end)

    it("passes roundtrip on the squashed project", function()
      local status, out, err = lm(new, db.url(), "roundtrip")
      assert.equal(0, status, err)
      assert.equal("OK: 3 revision(s) upgrade, downgrade to the same schema, and upgrade again\n", out)
    end)

    it("works on with the old files deleted, and refuses a database part-way through them", function()
      local gone = copy(new)
      for _, id in ipairs{"r2000002", "r3000003", "r4000004", "r5000005"} do
        assert(os.remove(("%s/migrations/versions/%s.lua"):format(gone, id)))
      end
      local fresh = db.url()
      assert.equal(0, (lm(gone, fresh, "upgrade head")))
      assert.equal(dump(ref), dump(fresh))
      local at_end = db.url()
      assert.equal(0, (lm(old, at_end, "upgrade r5000005")))
      local s, _, err = lm(gone, at_end, "upgrade head")
      assert.equal(0, s, err)
      assert.same({"r6000006"}, h.version_rows(at_end))
      local part = db.url()
      assert.equal(0, (lm(old, part, "upgrade r3000003")))
      local s2, _, err2 = lm(gone, part, "upgrade head")
      assert.equal(1, s2)
      assert.truthy(err2:find("FAILED: the database is at r3000003, part-way through the revisions squashed "
        .. "into sq000001, but the files of r2000002, r3000003, r4000004, r5000005 are gone: restore them "
        .. "(from version control), upgrade past r5000005, then delete them again", 1, true), err2)
      assert.same({"r3000003"}, h.version_rows(part))
      local s3, out3 = lm(gone, part, "history")
      assert.equal(0, s3)
      assert.falsy(out3:find("r3000003", 1, true), out3)
    end)

    it("refuses a target inside the squash on a fresh database, saying what to name", function()
      local status, _, err = lm(new, db.url(), "upgrade r3000003")
      assert.equal(1, status)
      assert.truthy(err:find("Revision r3000003 is squashed into sq000001, which stands for it on this "
        .. "database (none or all of the revisions it replaces are applied): name sq000001 or a "
        .. "revision outside the squash", 1, true), err)
    end)
  end)

  describe("squash to the head", function()
    it("reads a row naming the range's end as the squash, and a new revision builds on the squash", function()
      local revs = revisions()
      revs[6] = nil
      local old = h.project(revs)
      local new = copy(old)
      local url = db.url()
      assert.equal(0, (lm(old, url, "upgrade head")))
      local s, _, e = lm(new, url, "squash r2000002:r5000005 --rev-id sq000002")
      assert.equal(0, s, e)
      local status, out = lm(new, url, "heads")
      assert.equal(0, status)
      assert.equal("sq000002 (head)\n", out)
      h.write_file(new .. "/migrations/versions/n0000007.lua", h.script{id = "n0000007", down = "sq000002",
        code = true, up = '  op.create_table("later", {{"id", "integer", primary_key = true}})',
        down_sql = '  op.drop_table("later")'})
      local s2, _, err2 = lm(new, url, "upgrade head")
      assert.equal(0, s2, err2)
      assert.truthy(err2:find("Running upgrade sq000002 -> n0000007", 1, true), err2)
      assert.same({"n0000007"}, h.version_rows(url))
      -- a database part-way finishes the old chain, then the new revision
      local part = db.url()
      assert.equal(0, (lm(old, part, "upgrade r2000002")))
      local s3, _, err3 = lm(new, part, "upgrade head")
      assert.equal(0, s3, err3)
      assert.truthy(err3:find("Running upgrade r5000005 -> n0000007", 1, true), err3)
      assert.equal(dump(url), dump(part))
    end)
  end)
end)

h.each_db(function(db)
  describe("squash from the base, with a branch label inside", function()
    it("starts from nothing, carries the label, and refuses the same range twice", function()
      local revs = revisions()
      revs[2].labels = {"core"}
      local old = h.project(revs)
      local new = copy(old)
      local ref = db.url()
      assert.equal(0, (lm(old, ref, "upgrade head")))
      local s, _, e = lm(new, db.url(), "squash r1000001:r3000003 --rev-id sq000004")
      assert.equal(0, s, e)
      local text = h.read_file(squash_file(new, "sq000004"))
      assert.truthy(text:find('\ndown_revision = nil\nreplaces      = {"r1000001", "r2000002", "r3000003"}\n'
        .. 'branch_labels = {"core"}\n', 1, true), text)
      local url = db.url()
      local s2, _, e2 = lm(new, url, "upgrade core@head")
      assert.equal(0, s2, e2)
      assert.truthy(e2:find("Running upgrade  -> sq000004", 1, true), e2)
      assert.equal(dump(ref), dump(url))
      local s3, out3 = lm(new, url, "history")
      assert.equal(0, s3)
      assert.equal("<base> -> sq000004 (core)", h.lines(out3)[#h.lines(out3)]:match("^(.-),"))
      local s4, _, e4 = lm(new, db.url(), "squash r2000002:r4000004")
      assert.equal(1, s4)
      assert.truthy(e4:find("FAILED: squash: START 'r2000002': Revision r2000002 is squashed into sq000004", 1, true), e4)
      local s5, _, e5 = lm(new, db.url(), "squash sq000004:r5000005")
      assert.equal(1, s5)
      assert.truthy(e5:find("FAILED: squash: sq000004 in sq000004:r5000005 is itself a squash", 1, true), e5)
    end)
  end)
end)

describe("[postgresql] squash --sql from the range's end", function()
  it("reads START = END as the squash and moves the stored row by its name", function()
    local dir = h.project(revisions())
    local s, _, e = lm(dir, select(2, h.fresh_pg()), "squash r2000002:r5000005 --rev-id sq000005")
    assert.equal(0, s, e)
    local status, out, err = lm(dir, "postgresql://nobody@localhost/none", "upgrade r5000005:head --sql")
    assert.equal(0, status, err)
    assert.truthy(out:find([[UPDATE "luamig_version" SET version_num = 'r6000006' WHERE version_num = 'r5000005';]],
      1, true), out)
    assert.falsy(out:find("'sq000005'", 1, true), out)
  end)
end)

describe("[postgresql] squash --scratch-url", function()
  it("builds on the given empty database, and refuses one that is not empty or is the project's", function()
    local dir = h.project(revisions())
    local _, project = h.fresh_pg()
    local _, scratch = h.fresh_pg()
    h.query(scratch, "CREATE TABLE leftover (id integer)")
    local s, out, err = lm(dir, project, "squash r2000002:r3000003 --scratch-url " .. h.shell_quote(scratch))
    assert.equal(1, s)
    assert.equal("", out)
    assert.truthy(err:find("FAILED: squash: the scratch database ", 1, true) and err:find(" is not empty; give an "
      .. "empty database (squash migrates it)", 1, true), err)
    local s2, _, err2 = lm(dir, project, "squash r2000002:r3000003 --scratch-url " .. h.shell_quote(project))
    assert.equal(1, s2)
    assert.truthy(err2:find("FAILED: squash: --scratch-url names the project's own database", 1, true), err2)
    local _, empty = h.fresh_pg()
    local s3, _, err3 = lm(dir, project, "squash r2000002:r3000003 --rev-id sq000006 --scratch-url " .. h.shell_quote(empty))
    assert.equal(0, s3, err3)
    assert.same({"leftover"}, h.tables(scratch))
    assert.same({}, h.tables(project))               -- the project database untouched
    assert.truthy(h.read_file(squash_file(dir, "sq000006")):find('replaces      = {"r2000002", "r3000003"}', 1, true))
  end)
end)

describe("[sqlite] squash refuses", function()
  local function refused(revs, range, want)
    local dir = h.project(revs)
    local status, out, err = h.luamig(dir, "squash " .. range)
    assert.equal(1, status, err)
    assert.equal("", out)
    assert.truthy(err:find(want, 1, true), err)
    local _, ls = h.run("ls " .. h.shell_quote(dir .. "/migrations/versions"))
    return ls
  end

  it("a range with a branch point inside", function()
    local revs = revisions()
    revs[#revs + 1] = {id = "x0000009", down = "r3000003", message = "branch"}
    refused(revs, "r2000002:r5000005", "FAILED: squash: r3000003, inside r2000002:r5000005, is a branch point "
      .. "(x0000009 also builds on it); a squash replaces a linear chain")
  end)

  it("a range with a merge inside", function()
    local revs = {
      {id = "a1", message = "a"}, {id = "b1", message = "b"},
      {id = "m1", down = {"a1", "b1"}, message = "merge"}, {id = "c1", down = "m1", message = "c"},
    }
    refused(revs, "a1:c1", "FAILED: squash: m1, inside a1:c1, is a merge (of a1, b1)")
  end)

  it("a range inside which another revision depends", function()
    local revs = revisions()
    revs[#revs + 1] = {id = "x0000009", down = "r1000001", depends = {"r3000003"}, message = "dep"}
    refused(revs, "r2000002:r5000005", "FAILED: squash: r3000003, inside r2000002:r5000005, is in the "
      .. "depends_on of x0000009; only the range's END may be depended on")
  end)

  it("one revision, an inverted range, a range that is not START:END, an unknown revision", function()
    refused(revisions(), "r3000003:r3000003", "FAILED: squash: r3000003:r3000003 names one revision (r3000003)")
    refused(revisions(), "r5000005:r2000002", "FAILED: squash: r5000005 is not below r2000002")
    refused(revisions(), "r2000002:zzzz9999", "FAILED: squash: END 'zzzz9999': Can't locate revision "
      .. "identified by 'zzzz9999'")
  end)

  it("data steps, listed with file and line, and writes nothing", function()
    local revs = revisions()
    revs[3].up = revs[3].up .. '\n  op.execute("UPDATE users SET name = \'y\'")'
    revs[4].up = revs[4].up .. '\n  op.bulk_insert("users", {{id = 1, email = "a"}})'
    local ls = refused(revs, "r2000002:r5000005", "holds steps that a squash, rebuilt from the schema alone, "
      .. "would drop or change:\n  migrations/versions/r3000003.lua:")
    assert.falsy(ls:find("squash", 1, true), ls)
    local dir = h.project(revs)
    local _, _, err = h.luamig(dir, "squash r2000002:r5000005")
    assert.truthy(err:find("r3000003.lua:10: op.execute(\"UPDATE users SET name = 'y'\") (runs SQL", 1, true), err)
    assert.truthy(err:find("r4000004.lua:10: op.bulk_insert(\"users\", {{id = 1, email = \"a\"}}) (inserts rows)",
      1, true), err)
  end)

  it("data the text scan cannot see, by the rows it leaves", function()
    local revs = revisions()
    revs[3].up = revs[3].up .. '\n  local run = op["exec" .. "ute"]\n  run("INSERT INTO users (id, email) VALUES (7, \'q\')")'
    refused(revs, "r2000002:r5000005", "FAILED: squash: the range r2000002:r5000005 changes what a schema "
      .. "comparison cannot redo:\n  table users: 0 rows before the range, 1 after")
  end)

  it("a view made where the text scan cannot see it", function()
    local revs = revisions()
    revs[3].up = revs[3].up .. '\n  local run = op["exec" .. "ute"]\n  run("CREATE VIEW v AS SELECT id FROM users")'
    refused(revs, "r2000002:r5000005", "\n  view v: made by the range\n")
  end)

  it("a hand-written replaces that is not a chain, naming the file", function()
    local revs = revisions()
    revs[#revs + 1] = {id = "sq000003", down = "r1000001", extra = 'replaces = {"r2000002", "r4000004"}',
                       message = "bad squash"}
    local dir = h.project(revs)
    local status, _, err = h.luamig(dir, "history")
    assert.equal(1, status)
    assert.truthy(err:find("sq000003.lua: revision sq000003: replaces must list a linear chain, oldest first, "
      .. "but the down_revision of r4000004 is not r2000002", 1, true), err)
  end)
end)

-- Outside attacker B's report (ATTACK_B.md), each defect kept as a spec.
describe("outside attack", function()
  -- t(id, name) with one row (outside any range: s1), then s2, s3 as given.
  local function rename_project(up2, down2, up3, down3)
    return h.project({
      {id = "s1", message = "t", code = true,
       up = [[  op.create_table("t", {{"id", "integer", primary_key = true}, {"name", "string(20)"}})
  op.execute("INSERT INTO t VALUES (1, 'seed')")]], down_sql = [[  op.drop_table("t")]]},
      {id = "s2", down = "s1", message = "two", code = true, up = up2, down_sql = down2},
      {id = "s3", down = "s2", message = "three", code = true,
       up = up3 or [[  op.add_column("t", {"z", "integer"})]], down_sql = down3 or [[  op.drop_column("t", "z")]]},
    })
  end

  h.each_db(function(db)
    local function refused(dir, want)
      local status, out, err = lm(dir, db.url(), "squash s2:s3 --rev-id q")
      assert.equal(1, status, err)
      assert.equal("", out)
      for _, w in ipairs(want) do assert.truthy(err:find(w, 1, true), err) end
      assert.truthy(err:find("or write the squash by hand", 1, true), err)
      local _, ls = h.run("ls " .. h.shell_quote(dir .. "/migrations/versions"))
      assert.falsy(ls:find("q_", 1, true), ls)
    end

    it("1: refuses a range with a column rename, in op and batch forms, naming file and line", function()
      refused(rename_project(
        [[  op.alter_column("t", "name", {new_column_name = "title", existing_type = "string(20)"})]],
        [[  op.alter_column("t", "title", {new_column_name = "name", existing_type = "string(20)"})]]),
        {"migrations/versions/s2.lua:8: op.alter_column(\"t\", \"name\", {new_column_name = \"title\", "
           .. "existing_type = \"string(20)\"}) (renames a column: autogenerate sees a drop and an add, and "
           .. "the column's data would be lost)",
         "migrations/versions/s2.lua:11: op.alter_column(\"t\", \"title\", {new_column_name = \"name\""})
      -- the batch form, spread over lines, in the range's last revision
      refused(rename_project([[  op.add_column("t", {"y", "integer"})]], [[  op.drop_column("t", "y")]],
        [[  op.batch_alter_table("t", function(b)
    b.alter_column("name",
      {new_column_name = "full name"})
  end)]], [[  op.batch_alter_table("t", function(b) b.alter_column("full name", {new_column_name = "name"}) end)]]),
        {"migrations/versions/s3.lua:9: b.alter_column(\"name\", (renames a column",
         "migrations/versions/s3.lua:14: op.batch_alter_table(\"t\", function(b) b.alter_column(\"full name\""})
    end)

    it("1: refuses a range with a table rename or a USING conversion", function()
      refused(rename_project([[  op.rename_table("t", "u")]], [[  op.rename_table("u", "t")]],
        [[  op.add_column("u", {"z", "integer"})]], [[  op.drop_column("u", "z")]]),
        {"migrations/versions/s2.lua:8: op.rename_table(\"t\", \"u\") (renames a table: autogenerate sees "
           .. "a drop and a create, and the table's rows would be lost)"})
      refused(rename_project([[  op.alter_column("t", "id", {type_ = "bigint", postgresql_using = "id * 10"})]],
        [[  op.alter_column("t", "id", {type_ = "integer", using = "id / 10"})]]),
        {"s2.lua:8: op.alter_column(\"t\", \"id\", {type_ = \"bigint\", postgresql_using = \"id * 10\"}) "
           .. "(converts the column's values with a USING expression, which autogenerate cannot see)",
         "s2.lua:11: op.alter_column(\"t\", \"id\", {type_ = \"integer\", using = \"id / 10\"}) (converts"})
    end)

    it("1: a rename in a comment is no rename; a server default change is written with a warning", function()
      local dir = rename_project([[  -- op.alter_column("t", "name", {new_column_name = "title"})
  op.alter_column("t", "name", {server_default = "x", existing_type = "string(20)"})]],
        [[  op.alter_column("t", "name", {server_default = nil, existing_type = "string(20)"})]])
      local status, _, err = lm(dir, db.url(), "squash s2:s3 --rev-id q")
      assert.equal(0, status, err)
      assert.truthy(err:find("WARN  [luamig] squash: migrations/versions/s2.lua:9: op.alter_column(\"t\", \"name\", "
        .. "{server_default = \"x\", existing_type = \"string(20)\"}) (changes a server default: rows of a "
        .. "database at the range's parent may get other values", 1, true), err)
      assert.falsy(err:find("s2.lua:8", 1, true), err)
    end)

    it("1: a rename the text scan cannot read is caught on the scratch database as it runs", function()
      local dir = rename_project([[  local alter = op["alter_" .. "column"]
  alter("t", "name", {new_column_name = "title", existing_type = "string(20)"})]],
        [[  local alter = op["alter_" .. "column"]
  alter("t", "title", {new_column_name = "name", existing_type = "string(20)"})]])
      local url = db.url()
      local status, out, err = lm(dir, url, "squash s2:s3 --rev-id q")
      assert.equal(1, status, err)
      assert.equal("", out)
      assert.truthy(err:find('FAILED: squash: the range s2:s3 renames, which a schema comparison cannot see (it '
        .. 'would write a drop and an add, and lose the data):\n  ', 1, true), err)
      assert.truthy(err:find('s2.lua:9: alter_column "t"."name" to "title"\nsquash around the rename, or write '
        .. "the squash by hand", 1, true), err)
      local _, ls = h.run("ls " .. h.shell_quote(dir .. "/migrations/versions"))
      assert.equal("s1.lua\ns2.lua\ns3.lua\n", ls)
      assert.same({}, h.tables(url))
    end)

    it("D1: a rename whose options are a variable, in a range with no rows, is refused (the data would be lost)", function()
      local dir = h.project({
        {id = "s1", message = "t", code = true,
         up = [[  op.create_table("t", {{"id", "integer", primary_key = true}, {"name", "string(20)"}})]],
         down_sql = [[  op.drop_table("t")]]},
        {id = "s2", down = "s1", message = "two", code = true,
         up = [[  local up = {new_column_name = "title", type_ = "text"}
  op.alter_column("t", "name", up)]],
         down_sql = [[  local down = {new_column_name = "name", type_ = "string(20)"}
  op.alter_column("t", "title", down)]]},
        {id = "s3", down = "s2", message = "three", code = true,
         up = [[  op.add_column("t", {"z", "integer"})]], down_sql = [[  op.drop_column("t", "z")]]},
      })
      local url = db.url()
      assert.equal(0, (lm(dir, url, "upgrade s3")))
      local status, out, err = lm(dir, url, "squash s2:s3 --rev-id q")
      assert.equal(1, status, err)
      assert.equal("", out)
      assert.truthy(err:find('s2.lua:9: alter_column "t"."name" to "title"', 1, true), err)
      local _, ls = h.run("ls " .. h.shell_quote(dir .. "/migrations/versions"))
      assert.equal("s1.lua\ns2.lua\ns3.lua\n", ls)
      assert.same({"s3"}, h.version_rows(url))
    end)

    it("9: a second squash right above an earlier one, whichever alias its first revision names", function()
      for _, h4_down in ipairs({"h3", "qh"}) do
        local revs = {}
        for i = 1, 6 do
          revs[i] = {id = "h" .. i, down = i > 1 and ("h" .. (i - 1)) or nil, message = "h" .. i, code = true,
                     up = ('  op.create_table("t%d", {{"id", "integer", primary_key = true}})'):format(i),
                     down_sql = ('  op.drop_table("t%d")'):format(i)}
        end
        local old = h.project(revs)
        local ref = db.url()
        assert.equal(0, (lm(old, ref, "upgrade head")))
        local new = copy(old)
        local s1, _, e1 = lm(new, db.url(), "squash h2:h3 --rev-id qh")
        assert.equal(0, s1, e1)
        if h4_down == "qh" then
          local f = new .. "/migrations/versions/h4.lua"
          h.write_file(f, (h.read_file(f):gsub('down_revision = "h3"', 'down_revision = "qh"')))
        end
        local s2, _, e2 = lm(new, db.url(), "squash h4:h5 --rev-id qm2")
        assert.equal(0, s2, e2)
        local fresh = db.url()
        local s3, _, e3 = lm(new, fresh, "upgrade head")
        assert.equal(0, s3, e3)
        assert.truthy(e3:find("Running upgrade qh -> qm2", 1, true), e3)
        assert.same({"h6"}, h.version_rows(fresh))
        assert.equal(dump(ref), dump(fresh))
        local part = db.url()                          -- part-way through the first squash
        assert.equal(0, (lm(old, part, "upgrade h2")))
        local s4, _, e4 = lm(new, part, "upgrade head")
        assert.equal(0, s4, e4)
        assert.truthy(e4:find("Running upgrade h3 -> qm2", 1, true), e4)
        assert.equal(dump(ref), dump(part))
      end
    end)

    it("14: duplicate version rows: current and verify say so, upgrade refuses naming the row", function()
      local dir = h.project({
        {id = "r1", message = "r1"}, {id = "r2a", down = "r1", message = "a"}, {id = "r2b", down = "r1", message = "b"},
        {id = "m1", down = {"r2a", "r2b"}, message = "merge", code = true,
         up = [[  op.create_table("merged", {{"id", "integer", primary_key = true}})]],
         down_sql = [[  op.drop_table("merged")]]},
      })
      local url = db.url()
      local conn = core.connect(url)
      conn:exec("CREATE TABLE luamig_version (version_num VARCHAR(32) NOT NULL)")
      conn:exec("INSERT INTO luamig_version VALUES ('r2a'), ('r2a'), ('r2b')")
      conn:close()
      local s1, _, e1 = lm(dir, url, "current")
      assert.equal(1, s1, e1)
      assert.truthy(e1:find("FAILED: the version table 'luamig_version' holds 'r2a' 2 times (a table without "
        .. "a primary key?); it must hold one row per head: `luamig stamp --purge REV...`", 1, true), e1)
      local s2, o2 = lm(dir, url, "verify")
      assert.equal(1, s2, o2)
      assert.truthy(o2:find("duplicate: the version table 'luamig_version' holds 'r2a' 2 times", 1, true), o2)
      local s3, _, e3 = lm(dir, url, "upgrade m1")
      assert.equal(1, s3, e3)
      assert.truthy(e3:find("the version table 'luamig_version' holds the row 'r2a' 2 times (a table without a "
        .. "primary key?); it must hold one row per head, so nothing was run: `luamig stamp --purge r2a r2b` "
        .. "rewrites it with one row each", 1, true), e3)
      assert.falsy(e3:find("second luamig", 1, true), e3)
      assert.same({"r2a", "r2a", "r2b"}, h.version_rows(url))
      assert.same({"luamig_version"}, h.tables(url))
      local s4, _, e4 = lm(dir, url, "stamp --purge r2a r2b")
      assert.equal(0, s4, e4)
      local s5, _, e5 = lm(dir, url, "upgrade m1")
      assert.equal(0, s5, e5)
      assert.same({"m1"}, h.version_rows(url))
    end)

    it("15: a failure on the scratch database says so, and leaves the user's database alone", function()
      local dir = rename_project([[  op.drop_column("t", "nope")]], [[  op.add_column("t", {"nope", "integer"})]])
      local url = db.url()
      local status, _, err = lm(dir, url, "squash s2:s3 --rev-id q")
      assert.equal(1, status, err)
      assert.truthy(err:find("FAILED: squash: running the range on the scratch database ", 1, true), err)
      assert.truthy(err:find(" failed; your database was not touched:\n", 1, true), err)
      assert.truthy(err:find("Nothing of this run is committed: the scratch database is at s1, as before the run.",
        1, true), err)
      assert.falsy(err:find("the database is at", 1, true), err)
      assert.same({}, h.version_rows(url))
      assert.same({}, h.tables(url))
    end)
  end)

  describe("[sqlite]", function()
    it("12: a hand-written replaces that is a string, empty, of one revision, or names an unknown id", function()
      local function bad(extra, want)
        local revs = {{id = "a1", message = "a1"}, {id = "a2", down = "a1", message = "a2"},
                      {id = "a3", down = "a2", message = "a3"},
                      {id = "q", down = nil, extra = extra, message = "hand-written squash"}}
        local dir = h.project(revs)
        for _, cmd in ipairs({"history", "upgrade head"}) do
          local status, _, err = h.luamig(dir, cmd)
          assert.equal(1, status, err)
          assert.truthy(err:find(want, 1, true), cmd .. ": " .. err)
        end
        assert.same({}, h.version_rows("sqlite:" .. dir .. "/luamig.db"))
      end
      bad('replaces = "a1"', "migrations/versions/q.lua: replaces must be a list of at least two revision "
        .. "ids (the chain the squash stands for, oldest first), not a string ('a1'): write replaces = {\"a1\", ...}")
      bad('replaces = {}', "migrations/versions/q.lua: replaces is an empty list; a squash replaces a chain "
        .. "of two or more revisions")
      bad('replaces = {"a1"}', "migrations/versions/q.lua: replaces lists one revision (a1); a squash "
        .. "replaces a chain of two or more")
      bad('replaces = {"a1", "zz"}', "migrations/versions/q.lua: revision q replaces zz, which no script "
        .. "defines, while a1, also in its replaces, is there: correct the id in replaces")
    end)

    it("13: a malformed range is a usage error (exit 2)", function()
      local dir = h.project(revisions())
      for _, range in ipairs({"r2000002", ":r3000003", "r2000002:", "a:b:c"}) do
        local status, out, err = h.luamig(dir, "squash " .. range)
        assert.equal(2, status, range .. ": " .. err)
        assert.equal("", out)
        assert.truthy(err:find("the range must be START:END, two revisions, both included", 1, true), err)
        assert.truthy(err:find("usage: luamig squash START:END", 1, true), err)
      end
    end)
  end)
end)

describe("issue 16 leftovers", function()
  -- r1..r3, the hand-written squash sq replacing them, r4 after sq
  local function project(extra)
    local revs = {}
    for i, id in ipairs{"r1", "r2", "r3"} do
      revs[i] = {id = id, down = i > 1 and ("r" .. (i - 1)) or nil, message = id, code = true,
                 up = ('  op.create_table("t_%s", {{"id", "integer", primary_key = true}})'):format(id),
                 down_sql = ('  op.drop_table("t_%s")'):format(id)}
    end
    revs[4] = {id = "sq", extra = 'replaces = {"r1", "r2", "r3"}', message = "squash", code = true,
               up = '  for _, t in ipairs{"t_r1", "t_r2", "t_r3"} do op.create_table(t, {{"id", "integer", '
                 .. 'primary_key = true}}) end',
               down_sql = '  for _, t in ipairs{"t_r3", "t_r2", "t_r1"} do op.drop_table(t) end'}
    revs[5] = {id = "r4", down = "sq", message = "r4", code = true,
               up = '  op.create_table("t_r4", {{"id", "integer", primary_key = true}})',
               down_sql = '  op.drop_table("t_r4")'}
    return h.project(revs, extra)
  end

  h.each_db(function(db)
    it("rows naming a squash and a revision it replaces: upgrade, upgrade --plan and current refuse alike", function()
      local dir = project()
      local url = db.url()
      local conn = core.connect(url)
      conn:exec("CREATE TABLE luamig_version (version_num VARCHAR(32) NOT NULL)")
      conn:exec("CREATE TABLE t_r1 (id integer)")
      conn:exec("CREATE TABLE t_r2 (id integer)")
      conn:exec("CREATE TABLE t_r3 (id integer)")
      conn:exec("INSERT INTO luamig_version VALUES ('r2'), ('sq')")
      conn:close()
      local want = "FAILED: the version table holds both 'sq' and 'r2', which sq replaces (sq is a squash of "
        .. "r1..r3): a database is at one or the other, so nothing was done; rewrite the rows with `luamig "
        .. "stamp --purge sq` if all of r1..r3 are applied, or `luamig stamp --purge r2` if the database is at r2"
      for _, cmd in ipairs{"upgrade", "upgrade head", "upgrade --plan", "upgrade r4 --plan", "downgrade base",
                           "current"} do
        local status, out, err = lm(dir, url, cmd)
        assert.equal(1, status, cmd .. ": " .. out .. err)
        assert.truthy(err:find(want, 1, true), cmd .. ": " .. err)
        assert.same({"r2", "sq"}, h.version_rows(url))
        assert.same({"luamig_version", "t_r1", "t_r2", "t_r3"}, h.tables(url))
      end
      -- the way out the message gives (r1..r3 are applied here)
      local s, _, e = lm(dir, url, "stamp --purge sq")
      assert.equal(0, s, e)
      assert.same({"sq"}, h.version_rows(url))
      s, _, e = lm(dir, url, "upgrade head")
      assert.equal(0, s, e)
      assert.same({"r4"}, h.version_rows(url))
      assert.same({"luamig_log", "luamig_version", "t_r1", "t_r2", "t_r3", "t_r4"}, h.tables(url))
    end)

    it("show current: a row at the chain's end shows the squash (files there or gone), one part-way its own parent", function()
      local dir = project()
      local url = db.url()
      local conn = core.connect(url)
      conn:exec("CREATE TABLE luamig_version (version_num VARCHAR(32) NOT NULL)")
      conn:exec("INSERT INTO luamig_version VALUES ('r3')")
      local s, out, err = lm(dir, url, "show current")
      assert.equal(0, s, err)
      assert.truthy(out:find("^Rev: sq\nParent: <base>\nPath: [^\n]*/migrations/versions/sq%.lua\n"), out)
      conn:exec("UPDATE luamig_version SET version_num = 'r2'")
      s, out, err = lm(dir, url, "show current")
      assert.equal(0, s, err)
      assert.truthy(out:find("^Rev: r2\nParent: r1\nReplaced by: sq %(a squash%)\nPath: [^\n]*/migrations/versions/r2%.lua\n"), out)
      -- the embedding API: a history after current() is the rows' view no more
      local luamig = require "luamig"
      local m <close> = luamig.open{url = url, script_location = dir .. "/migrations"}
      assert.same({"r2"}, (function() local t = {} for i, r in ipairs(m:current()) do t[i] = r.id end return t end)())
      local ids = {}
      for i, r in ipairs(m:history()) do ids[i] = r.id end
      assert.same({"r4", "sq"}, ids)
      -- the old files deleted: the row at the chain's end still reads as the squash
      conn:exec("UPDATE luamig_version SET version_num = 'r3'")
      conn:close()
      for _, id in ipairs{"r1", "r2", "r3"} do assert(os.remove(dir .. "/migrations/versions/" .. id .. ".lua")) end
      s, out, err = lm(dir, url, "show current")
      assert.equal(0, s, err)
      assert.truthy(out:find("^Rev: sq\nParent: <base>\n"), out)
      assert.same({"r3"}, h.version_rows(url))
    end)

    it("stamp --purge and show of a replaced id: as the script says, or a true refusal when its file is gone", function()
      local dir = project()
      local url = db.url()
      assert.equal(0, (lm(dir, url, "upgrade head")))
      assert.same({"r4"}, h.version_rows(url))
      -- part-way: the row is written, and upgrade finishes the old revisions
      local s, out, err = lm(dir, url, "stamp --purge r2")
      assert.equal(0, s, out .. err)
      assert.same({"r2"}, h.version_rows(url))
      local conn = core.connect(url)
      conn:exec("DROP TABLE t_r3")
      conn:exec("DROP TABLE t_r4")
      conn:close()
      s, out, err = lm(dir, url, "upgrade head")
      assert.equal(0, s, out .. err)
      assert.truthy(err:find("Running upgrade r2 -> r3", 1, true), err)
      assert.truthy(err:find("Running upgrade r3 -> r4", 1, true), err)
      assert.same({"r4"}, h.version_rows(url))
      -- the chain's end: all of it applied, the squash's row
      s, out, err = lm(dir, url, "stamp --purge r3")
      assert.equal(0, s, out .. err)
      assert.truthy(err:find("Running stamp_revision  -> sq", 1, true), err)
      assert.same({"sq"}, h.version_rows(url))
      -- show: the replaced revision's own file and parent, and what replaces it
      s, out, err = lm(dir, url, "show r2")
      assert.equal(0, s, err)
      assert.truthy(out:find("^Rev: r2\nParent: r1\nReplaced by: sq %(a squash%)\nPath: [^\n]*/r2%.lua\n"), out)
      -- the old files deleted
      for _, id in ipairs{"r1", "r2", "r3"} do assert(os.remove(dir .. "/migrations/versions/" .. id .. ".lua")) end
      s, out, err = lm(dir, url, "show r2")
      assert.equal(1, s, out)
      assert.truthy(err:find("FAILED: revision r2 is replaced by the squash sq, and its file is gone: `luamig show sq`",
        1, true), err)
      s, out, err = lm(dir, url, "stamp --purge r2")
      assert.equal(1, s, out)
      assert.truthy(err:find("FAILED: stamp --purge r2: r2 is part-way through the revisions squashed into sq, whose "
        .. "files are gone, so a database stamped there could not upgrade: restore them (from version control) "
        .. "first, or stamp sq if all of r1..r3 are applied", 1, true), err)
      assert.same({"sq"}, h.version_rows(url))
      s, out, err = lm(dir, url, "stamp --purge r3")
      assert.equal(0, s, out .. err)
      assert.same({"sq"}, h.version_rows(url))
    end)
  end)
end)
