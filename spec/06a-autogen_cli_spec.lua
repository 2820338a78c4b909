-- revision --autogenerate, check and roundtrip, black-box through the
-- luamig command, and the same through the embedding API, on SQLite and
-- PostgreSQL.
local h = require "spec.helpers"
local luamig = require "luamig"
local introspect = require "luamig.introspect"
local core = require "luamig.core"

local function read(path)
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  return text
end

-- The example project's migrations, copied into a new project directory.
local function example_project(schema)
  local dir = h.project({})
  os.execute(("cp %s/migrations/versions/*.lua %s/migrations/versions/"):format(
    h.shell_quote(h.root), h.shell_quote(dir)))
  if schema then h.write_file(dir .. "/schema.lua", schema) end
  return dir
end

-- The example project's schema, declared.
local BLOG = [[
function schema(op)
  op.create_table("users", {
    {"id", "integer", primary_key = true},
    {"email", "string(255)", nullable = false, unique = true},
    {"name", "string(100)", nullable = false},
    {"created_at", "timestamp", nullable = false, default = op.raw("CURRENT_TIMESTAMP")},
    {"display_name", "string(100)"},
  })
  op.create_table("posts", {
    {"id", "integer", primary_key = true},
    {"user_id", "integer", nullable = false, references = "users.id", ondelete = "CASCADE"},
    {"title", "string(200)", nullable = false},
    {"body", "text"},
    {"published", "boolean", nullable = false, default = false},
  })
  op.create_index("ix_posts_user_id_published", "posts", {"user_id", "published"})
  op.create_table("tags", {
    {"id", "integer", primary_key = true},
    {"name", "string(50)", nullable = false, unique = true},
  })
  op.create_table("post_tags", {
    {"post_id", "integer", nullable = false},
    {"tag_id", "integer", nullable = false},
    {primary_key = {"post_id", "tag_id"}},
    {foreign_key = {"post_id"}, references = "posts.id", ondelete = "CASCADE"},
    {foreign_key = {"tag_id"}, references = "tags.id", ondelete = "CASCADE"},
  })
  -- new since the last migration:
  EXTRA
end
]]

local function blog(extra) return (BLOG:gsub("EXTRA", extra or "")) end

h.each_db(function(db)
  local url

  before_each(function() url = db.url() end)

  local function run(dir, args, env)
    return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args, env)
  end

  local function generated_path(out)
    return out:match("^Generating (.-) %.%.%.  done")
  end

  describe("revision --autogenerate", function()
    it("refuses a database that is not at head, and writes nothing", function()
      local dir = example_project(blog())
      local status, out, err = run(dir, "revision --autogenerate -m x")
      assert.equal(1, status)
      assert.equal("", out)
      assert.equal("FAILED: Target database is not up to date.\n", err)
      local _, listing = h.run("ls " .. h.shell_quote(dir .. "/migrations/versions"))
      assert.equal(7, #h.lines(listing))
      assert.equal(0, (run(dir, "upgrade 5e6f7a8b9c0d")))
      status, out, err = run(dir, "revision --autogenerate -m x")
      assert.equal(1, status)
      assert.equal("FAILED: Target database is not up to date.\n", err)
      status, out, err = run(dir, "check")
      assert.equal(1, status)
      assert.equal("FAILED: Target database is not up to date.\n", err)
    end)

    it("with no difference writes empty functions and says so", function()
      local dir = example_project(blog())
      assert.equal(0, (run(dir, "upgrade head")))
      local status, out, err = run(dir, "revision --autogenerate -m nothing --rev-id 0000aaaa")
      assert.equal(0, status, err)
      assert.same({"INFO  [luamig] No changes in schema detected."}, h.lines(err))
      local text = read(generated_path(out))
      assert.truthy(text:find("function upgrade(op)\n  -- no changes detected by autogenerate\nend", 1, true), text)
      assert.truthy(text:find("function downgrade(op)\n  -- no changes detected by autogenerate\nend", 1, true), text)
      status = run(dir, "upgrade head")
      assert.equal(0, status)
      assert.same({"0000aaaa"}, h.version_rows(url))
    end)

    it("writes the operations and their inverse; applied, check finds nothing; downgraded, the schema before", function()
      local dir = example_project(blog([[
  op.create_table("comments", {
    {"id", "integer", primary_key = true},
    {"post_id", "integer", nullable = false, references = "posts.id", ondelete = "CASCADE"},
    {"body", "text", nullable = false},
  })
  op.create_index("ix_comments_post_id", "comments", {"post_id"})
]]):gsub('{"display_name", "string%(100%)"},', '{"display_name", "string(100)"},\n    {"bio", "text"},'))
      assert.equal(0, (run(dir, "upgrade head")))
      local before = introspect.schema(core.connect(url))
      local status, out, err = run(dir, "revision --autogenerate -m 'comments and bio' --rev-id 0000bbbb")
      assert.equal(0, status, err)
      assert.same({"INFO  [luamig] Detected added table 'comments'",
                   "INFO  [luamig] Detected added index 'ix_comments_post_id' on 'comments'",
                   "INFO  [luamig] Detected added column 'users.bio'"}, h.lines(err))
      local text = read(generated_path(out))
      assert.truthy(text:find([[
function upgrade(op)
  -- ### commands auto generated by luamig - please adjust! ###
  op.create_table("comments", {
    {"id", "integer", primary_key = true},
    {"post_id", "integer", nullable = false, references = "posts.id", ondelete = "CASCADE"},
    {"body", "text", nullable = false},
  })
  op.create_index("ix_comments_post_id", "comments", {"post_id"})
  op.add_column("users", {"bio", "text"})
  -- ### end of commands ###
end

function downgrade(op)
  -- ### commands auto generated by luamig - please adjust! ###
  op.drop_column("users", "bio")
  op.drop_index("ix_comments_post_id", "comments")
  op.drop_table("comments")
  -- ### end of commands ###
end]], 1, true), text)
      status, out, err = run(dir, "upgrade head")
      assert.equal(0, status, err)
      status, out, err = run(dir, "check")
      assert.equal(0, status, err)
      assert.equal("No new upgrade operations detected.\n", out)
      status, out, err = run(dir, "downgrade -1")
      assert.equal(0, status, err)
      local conn = core.connect(url)
      local after = introspect.schema(conn)
      conn:close()
      assert.same(before, after)
    end)

    it("through the embedding API: m:revision{autogenerate = true}, m:check()", function()
      local dir = example_project(blog('op.create_table("notes", {{"id", "integer", primary_key = true}})'))
      local m <close> = luamig.open{url = url, script_location = dir .. "/migrations",
                                    target_schema = dir .. "/schema.lua"}
      m:upgrade("head")
      local r = m:check()
      assert.is_false(r.ok)
      assert.same({{kind = "create_table", table = "notes", name = "notes", description = "added table 'notes'",
                    code = 'op.create_table("notes", {\n  {"id", "integer", primary_key = true},\n})'}},
                  r.operations)
      local rev = m:revision{message = "notes", autogenerate = true, rev_id = "0000cccc"}
      assert.equal("0000cccc", rev.revision)
      assert.equal(1, #rev.operations)
      m:upgrade("head")
      assert.is_true(m:check().ok)
      local err = h.error_of(function() m:downgrade("-1"); m:check() end)
      assert.equal("Target database is not up to date.", err.message)
    end)
  end)

  describe("check", function()
    it("exit 1 listing the operations, --json too; 0 when none", function()
      local dir = example_project(blog('op.create_index("ix_users_name", "users", {"name"})'))
      assert.equal(0, (run(dir, "upgrade head")))
      local status, out, err = run(dir, "check")
      assert.equal(1, status)
      assert.equal('op.create_index("ix_users_name", "users", {"name"})\n', out)
      assert.equal("INFO  [luamig] Detected added index 'ix_users_name' on 'users'\n"
        .. "FAILED: New upgrade operations detected: 1 (listed above)\n", err)
      status, out = run(dir, "--json -q check")
      assert.equal(1, status)
      assert.equal('{"ok":false,"operations":[{"code":"op.create_index(\\"ix_users_name\\", \\"users\\", {\\"name\\"})",'
        .. '"description":"added index \'ix_users_name\' on \'users\'","kind":"create_index","name":"ix_users_name",'
        .. '"table":"users"}]}\n', out)
      h.write_file(dir .. "/schema.lua", blog())
      status, out, err = run(dir, "-q check")
      assert.equal(0, status, err)
      assert.equal("No new upgrade operations detected.\n", out)
      status, out = run(dir, "--json check")
      assert.equal(0, status)
      assert.equal('{"ok":true,"operations":[]}\n', out)
    end)

    it("include_object in luamig.lua leaves objects out", function()
      local dir = example_project(blog('op.create_table("skip_me", {{"id", "integer", primary_key = true}})'))
      h.write_file(dir .. "/luamig.lua", [[
include_object = function(kind, name, table)
  return not (kind == "table" and name == "skip_me")
end
]])
      assert.equal(0, (run(dir, "upgrade head")))
      local status, out, err = run(dir, "check")
      assert.equal(0, status, err)
      assert.equal("No new upgrade operations detected.\n", out)
    end)

    it("a version table of another name is never compared", function()
      local dir = example_project(blog())
      h.write_file(dir .. "/luamig.lua", 'version_table = "schema_versions"\n')
      assert.equal(0, (run(dir, "upgrade head")))
      local status, out, err = run(dir, "check")
      assert.equal(0, status, err)
      assert.equal("No new upgrade operations detected.\n", out)
    end)

    it("errors in the declared schema name the file and line", function()
      local dir = h.project({})
      local status, _, err = run(dir, "check")
      assert.equal(1, status)
      assert.equal("FAILED: target_schema 'schema.lua' not found: autogenerate compares the database with "
        .. "the schema that file declares in schema(op) (see doc/autogenerate.md)\n", err)
      h.write_file(dir .. "/schema.lua", 'function schema(op)\n  op.create_table("t", {{"id", "integer"}})\n'
        .. '  op.execute("DROP TABLE t")\nend\n')
      status, _, err = run(dir, "check")
      assert.equal(1, status)
      assert.equal("FAILED: schema.lua:3: op.execute is not a declaration: schema(op) declares the schema with "
        .. "create_table, create_index, create_unique_constraint, create_foreign_key, create_check_constraint, "
        .. "create_primary_key\n", err)
      h.write_file(dir .. "/schema.lua", 'function schema(op)\n  op.create_index("ix", "t", {"a"}, {uniq = true})\nend\n')
      status, _, err = run(dir, "check")
      assert.equal(1, status)
      assert.equal('FAILED: schema.lua:2: create_index: unknown option "uniq"\n', err)
    end)

    it("has --help from the command table", function()
      local status, out = h.luamig(h.tmpdir(), "check --help")
      assert.equal(0, status)
      assert.equal("usage: luamig check\n\nExit 1 if autogenerate would produce operations (the database must be at head).\n", out)
    end)
  end)

  describe("roundtrip", function()
    local forgetful = {
      {id = "aaaa0001", message = "create items", code = true,
       up = '  op.create_table("items", {{"id", "integer", primary_key = true}, {"sku", "string(20)"}})',
       down_sql = '  op.drop_table("items")'},
      {id = "aaaa0002", down = "aaaa0001", message = "index items by sku", code = true,
       up = '  op.create_index("ix_items_sku", "items", {"sku"})\n  op.add_column("items", {"note", "text"})',
       down_sql = '  op.drop_column("items", "note")'},
      {id = "aaaa0003", down = "aaaa0002", message = "later", code = true,
       up = '  op.create_table("later", {{"id", "integer", primary_key = true}})',
       down_sql = '  op.drop_table("later")'},
    }

    it("passes on the example project, on a temporary SQLite file by default", function()
      local dir = example_project()
      local status, out, err = run(dir, "roundtrip")
      assert.equal(0, status, err)
      assert.equal("OK: 7 revision(s) upgrade, downgrade to the same schema, and upgrade again\n", out)
      assert.equal(7, #h.grep(err, "[luamig] Roundtrip "))
      assert.same({}, h.tables(url))                                  -- the configured database untouched
    end)

    it("passes on the example project on a scratch database of this dialect", function()
      local dir = example_project()
      local scratch = db.url()
      local status, out, err = h.luamig(dir, "--url sqlite:never.db roundtrip --scratch-url " .. h.shell_quote(scratch))
      assert.equal(0, status, err)
      assert.equal("OK: 7 revision(s) upgrade, downgrade to the same schema, and upgrade again\n", out)
      assert.is_false(h.file_exists(dir .. "/never.db"))
    end)

    it("names the revision whose downgrade forgets the index it created; exit 1", function()
      local dir = h.project(forgetful)
      local scratch = db.url()
      local status, out, err = run(dir, "roundtrip --scratch-url " .. h.shell_quote(scratch))
      assert.equal(1, status)
      assert.equal("", out)
      local failed = err:match("(FAILED: .*)$")
      assert.equal("FAILED: roundtrip: the downgrade of aaaa0002 (index items by sku) does not restore the schema:\n"
        .. "  index 'ix_items_sku' on 'items' is left behind\n"
        .. "the downgrade would need:\n"
        .. '  op.drop_index("ix_items_sku", "items")\n', failed)
      assert.equal(1, #h.grep(err, "[luamig] Roundtrip aaaa0001"))
      assert.equal(0, #h.grep(err, "[luamig] Roundtrip aaaa0003"))
      status, out = run(dir, "--json -q roundtrip")
      assert.equal(1, status)
      assert.equal('{"failure":{"differences":[{"code":"op.drop_index(\\"ix_items_sku\\", \\"items\\")",'
        .. '"description":"index \'ix_items_sku\' on \'items\' is left behind"}],"message":"index items by sku",'
        .. '"phase":"compare","revision":"aaaa0002"},"ok":false,"tested":["aaaa0001"]}\n', out)
    end)

    it("walks branches, merges and a second root with depends_on, each revision undone alone", function()
      local function rev(id, down, t, depends)
        return {id = id, down = down, depends = depends, code = true,
                up = ('  op.create_table("%s", {{"id", "integer", primary_key = true}})'):format(t),
                down_sql = ('  op.drop_table("%s")'):format(t)}
      end
      local dir = h.project({
        rev("aaaa1111", nil, "account"), rev("bbbb2222", "aaaa1111", "b"), rev("cccc3333", "bbbb2222", "c"),
        rev("dddd4444", "bbbb2222", "d"), rev("eeee5555", {"dddd4444", "cccc3333"}, "e"),
        rev("ffff6666", nil, "n1"), rev("99990001", "ffff6666", "n2"),
        rev("99990003", "99990001", "n3", {"bbbb2222"}),
      })
      local status, out, err = run(dir, "roundtrip --scratch-url " .. h.shell_quote(db.url()))
      assert.equal(0, status, err)
      assert.equal("OK: 8 revision(s) upgrade, downgrade to the same schema, and upgrade again\n", out)
      assert.same({"Running downgrade eeee5555 -> dddd4444, cccc3333, revision eeee5555"},
                  (function()
                    local l = {}
                    for _, line in ipairs(h.grep(err, "Running downgrade eeee5555")) do
                      l[#l + 1] = line:match("%[luamig%] (.*)$")
                    end
                    return l
                  end)())
    end)

    it("RANGE limits the revisions tested", function()
      local dir = h.project(forgetful)
      local status, out, err = run(dir, "roundtrip aaaa0003:")
      assert.equal(0, status, err)
      assert.equal("OK: 1 revision(s) upgrade, downgrade to the same schema, and upgrade again\n", out)
      status = run(dir, "roundtrip :aaaa0001")
      assert.equal(0, status)
      status = run(dir, "roundtrip aaaa0002:aaaa0002")
      assert.equal(1, status)
    end)

    it("refuses a scratch database that is not empty, and the configured one", function()
      local dir = h.project(forgetful)
      local scratch = db.url()
      local conn = core.connect(scratch)
      conn:exec("CREATE TABLE precious (id INTEGER)")
      conn:close()
      local status, out, err = run(dir, "roundtrip --scratch-url " .. h.shell_quote(scratch))
      assert.equal(1, status)
      assert.equal("", out)
      assert.truthy(err:find("FAILED: roundtrip: the scratch database .* is not empty %(1 tables, views or "
        .. "sequences%); roundtrip downgrades, so it runs only on an empty database\n$"), err)
      assert.same({"precious"}, h.tables(scratch))
      status, out, err = run(dir, "roundtrip --scratch-url " .. h.shell_quote(url))
      assert.equal(1, status)
      assert.equal("FAILED: roundtrip: the scratch database is the configured database; roundtrip downgrades, "
        .. "so it runs only on a scratch database (--scratch-url naming an empty one)\n", err)
    end)

    it("reports an upgrade that gives another schema the second time (data the downgrade left)", function()
      local dir = h.project({
        {id = "cccc0001", message = "settings", code = true,
         up = '  op.create_table("settings", {{"k", "text"}})\n  op.create_table("t", {{"a", "integer"}})',
         down_sql = '  op.drop_table("t")\n  op.drop_table("settings")'},
        {id = "cccc0002", down = "cccc0001", message = "first run only", code = true,
         up = '  if #op.query("SELECT k FROM settings") == 0 then op.create_index("ix_t_a", "t", {"a"}) end\n'
           .. '  op.execute("INSERT INTO settings (k) VALUES (\'done\')")',
         down_sql = '  op.drop_index("ix_t_a", "t")'},
      })
      local status, _, err = run(dir, "roundtrip --scratch-url " .. h.shell_quote(db.url()))
      assert.equal(1, status)
      assert.equal("FAILED: roundtrip: cccc0002 (first run only) upgraded again after its downgrade gives "
        .. "another schema:\n  index 'ix_t_a' on 't' is missing\nas operations, to get there:\n"
        .. '  op.create_index("ix_t_a", "t", {"a"})\n', err:match("(FAILED: .*)$"))
    end)

    it("reports a downgrade that fails, naming the revision", function()
      local dir = h.project({
        {id = "bbbb0001", message = "one", code = true,
         up = '  op.create_table("one", {{"id", "integer", primary_key = true}})',
         down_sql = '  op.drop_table("no_such_table")'},
      })
      local status, _, err = run(dir, "roundtrip --scratch-url " .. h.shell_quote(db.url()))
      assert.equal(1, status)
      assert.truthy(err:find("FAILED: roundtrip: downgrade of bbbb0001 (one) failed: ", 1, true), err)
    end)

    it("through the embedding API: m:roundtrip()", function()
      local dir = h.project(forgetful)
      local m <close> = luamig.open{url = url, script_location = dir .. "/migrations"}
      local r = m:roundtrip{scratch_url = db.url()}
      assert.is_false(r.ok)
      assert.same({"aaaa0001"}, r.tested)
      assert.equal("aaaa0002", r.failure.revision)
      assert.same({{description = "index 'ix_items_sku' on 'items' is left behind",
                    code = 'op.drop_index("ix_items_sku", "items")'}}, r.failure.differences)
      r = m:roundtrip{range = "aaaa0003:"}
      assert.is_true(r.ok)
      assert.same({"aaaa0003"}, r.tested)
    end)

    it("has --help from the command table", function()
      local status, out = h.luamig(h.tmpdir(), "roundtrip --help")
      assert.equal(0, status)
      assert.equal("usage: luamig roundtrip [RANGE] [--scratch-url URL]\n\n"
        .. "On a scratch database: each revision up, down, compared, up again.\n\nOptions:\n"
        .. "  --scratch-url URL        an empty database to use (default: a temporary SQLite file); never the configured one\n",
        out)
    end)
  end)
end)
