-- What the luamig command tells its user (issue 14, items 12, 14, 16):
-- which database a command works on and where its URL came from; a new
-- SQLite file announced; bulk_insert progress on a terminal, and nothing
-- when stderr is not one; a misspelled generic type refused with the
-- generic name it is one edit from.
local h = require "spec.helpers"

local q = h.shell_quote

-- A project whose one revision's upgrade is code.
local function project_with(up, config)
  return h.project({{id = "a1", message = "one", code = true, up = up,
                     down_sql = "  op.drop_table('t')"}}, config)
end

h.each_db(function(db)
  local pg = db.name == "postgresql"

  describe("a misspelled generic type (item 16)", function()
    local function refused(ctype, want_generic, shown)
      local dir = project_with(("  op.create_table('t', {\n    {'id', 'integer', primary_key = true},\n"
        .. "    {'name', %q},\n  })"):format(ctype))
      local url = db.url()
      local status, _, err = h.luamig(dir, "--url " .. q(url) .. " upgrade head")
      assert.equal(1, status, err)
      local want = ('migrations/versions/a1.lua:8: create_table: column "name": type "%s" is not a '
        .. "generic type (did you mean '%s'?); a database type of that name passes through "
        .. "quoted: '%s'"):format(ctype, want_generic, shown)
      assert.truthy(err:find(want, 1, true), err)
      assert.same({}, h.version_rows(url))
      assert.same({}, (function()
        local t = {}
        for _, n in ipairs(h.tables(url)) do if n == "t" then t[#t + 1] = n end end
        return t
      end)())
      -- the same offline
      status, _, err = h.luamig(dir, "--url " .. q(db.url()) .. " upgrade head --sql")
      assert.equal(1, status, err)
      assert.truthy(err:find(want, 1, true), err)
    end

    it("strng(30) is an error naming string, the file:line and the column", function()
      refused("strng(30)", "string", '"strng"(30)')
    end)
    it("integr is an error naming integer", function()
      refused("integr", "integer", '"integr"')
    end)
    it("timestmp is an error naming timestamp", function()
      refused("timestmp", "timestamp", '"timestmp"')
    end)

    it("add_column and alter_column check the type too", function()
      local dir = project_with("  op.create_table('t', {{'id', 'integer', primary_key = true}})\n"
        .. "  op.add_column('t', {'n', 'bigitn'})")
      local status, _, err = h.luamig(dir, "--url " .. q(db.url()) .. " upgrade head")
      assert.equal(1, status, err)
      assert.truthy(err:find('add_column: column "n": type "bigitn" is not a generic type '
        .. "(did you mean 'bigint'?)", 1, true), err)
      dir = project_with("  op.create_table('t', {{'id', 'integer', primary_key = true}, {'n', 'text'}})\n"
        .. "  op.alter_column('t', 'n', {type_ = 'boolen'})")
      status, _, err = h.luamig(dir, "--url " .. q(db.url()) .. " upgrade head")
      assert.equal(1, status, err)
      assert.truthy(err:find('alter_column: column "n": type "boolen" is not a generic type '
        .. "(did you mean 'boolean'?)", 1, true), err)
    end)

    it("pass-through database types stay accepted, and a quoted name passes through", function()
      local types = pg and {"citext", "tsvector", "int8", "float8", "jsonb", "timetz", "name",
                            "line", "varchar(20)", "double precision", "text[]"}
                       or {"int8", "float8", "jsonb", "datetime", "blob", "real", "varchar(20)",
                           "name", "line", '"integr"'}
      local cols = {"    {'id', 'integer', primary_key = true},"}
      for i, t in ipairs(types) do cols[#cols + 1] = ("    {'c%d', %q},"):format(i, t) end
      local up = "  op.create_table('t', {\n" .. table.concat(cols, "\n") .. "\n  })"
      if pg then up = "  op.execute('CREATE EXTENSION IF NOT EXISTS citext')\n" .. up end
      local dir = project_with(up)
      local url = db.url()
      local status, _, err = h.luamig(dir, "--url " .. q(url) .. " upgrade head")
      assert.equal(0, status, err)
      assert.same({"a1"}, h.version_rows(url))
    end)
  end)
end)
