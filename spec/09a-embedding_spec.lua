-- The embedding API, require "luamig", on both databases: what a Lua tool
-- gets back, the callbacks that replace printing, and error values.
local luamig = require "luamig"
local core = require "luamig.core"
local h = require "spec.helpers"

local revs = {
  {id = "m1", message = "create items", up = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)",
   down_sql = "DROP TABLE items"},
  {id = "m2", down = "m1", message = "seed items", code = true,
   up = "  local rows = {}\n  for i = 1, 25000 do rows[i] = {id = i, name = 'item ' .. i} end\n"
     .. "  op.bulk_insert('items', rows)",
   down_sql = "  op.execute('DELETE FROM items')"},
  {id = "m3", down = "m2", message = "broken", code = true,
   up = "  op.execute('UPDATE items SET name = $1 WHERE id = $2', {'x', 1})\n"
     .. "  op.execute('INSERT INTO missing_table VALUES (1)')"},
}

h.each_db(function(db)
  local pg = db.name == "postgresql"

  it("two runners on two databases in one Lua state, with log and progress callbacks", function()
    local dir = h.project(revs)
    local url_a, url_b = db.url(), db.url()
    local logs, progress = {}, {}
    local a <close> = luamig.open{url = url_a, script_location = dir .. "/migrations",
                                  log = function(level, msg) logs[#logs + 1] = level .. " " .. msg end,
                                  progress = function(...) progress[#progress + 1] = {...} end}
    local b <close> = luamig.open{url = url_b, script_location = dir .. "/migrations"}
    local plan = a:plan("upgrade", "m2")
    assert.same({"m1", "m2"}, {plan[1].revision, plan[2].revision})
    assert.same({}, h.version_rows(url_a))           -- a plan runs nothing
    local steps = a:upgrade("m2")
    assert.same({{revision = "m1", direction = "upgrade", from = {}, to = {"m1"}, rows = {"m1"}},
                 {revision = "m2", direction = "upgrade", from = {"m1"}, to = {"m2"}, rows = {"m2"}}},
                {steps[1], steps[2]})
    local opened = {"INFO Database: " .. core.parse_url(url_a).display .. " (from luamig.open)"}
    if not pg then                                   -- the plan read no file and made none
      opened[2] = "INFO No SQLite database file " .. url_a:sub(#"sqlite:" + 1)
        .. ": read as an empty database, nothing created"
    end
    assert.same(opened, {table.unpack(logs, 1, #opened)})
    assert.same({"INFO Running upgrade  -> m1, create items", "INFO Running upgrade m1 -> m2, seed items"},
                {table.unpack(logs, #opened + 1)})
    assert.same({{0, 25000, "items"}, {10000, 25000, "items"}, {20000, 25000, "items"},
                 {25000, 25000, "items"}}, progress)
    b:upgrade("m1")
    assert.same({"m2"}, h.version_rows(url_a))
    assert.same({"m1"}, h.version_rows(url_b))
    local cur = a:current()
    assert.equal(1, #cur)
    assert.same({id = "m2", parents = {"m1"}, message = "seed items", is_head = false},
                {id = cur[1].id, parents = cur[1].parents, message = cur[1].message, is_head = cur[1].is_head})
    assert.same({"m3", "m2", "m1"}, (function()
      local ids = {} for i, r in ipairs(a:history()) do ids[i] = r.id end return ids end)())
  end)

  it("a failing step raises an error value with revision, sql and the database's code", function()
    local dir = h.project(revs)
    local url = db.url()
    local m <close> = luamig.open{url = url, script_location = dir .. "/migrations"}
    m:upgrade("m2")
    local ok, err = pcall(m.upgrade, m, "head")
    assert.is_false(ok)
    assert.equal("m3", err.revision)
    assert.equal("INSERT INTO missing_table VALUES (1)", err.sql)
    if pg then assert.equal("42P01", err.sqlstate) else assert.equal(1, err.code) end
    assert.equal(err.message, tostring(err))
    assert.truthy(err.message:find("^upgrade m3 %(broken%): .-/m3%.lua:9: "), err.message)
    assert.same({"m2"}, h.version_rows(url))
    -- the UPDATE before the failure was rolled back with the step
    local conn = m:connection()
    assert.equal("item 1", conn:query("SELECT name FROM items WHERE id = 1")[1].name)
  end)

  it("opens a luamig.lua by path, and reports a bad target as an error value", function()
    local url = db.url()
    local dir = h.project(revs, ("url = %q\nscript_location = 'migrations'\n"):format(url))
    local m <close> = luamig.open(dir .. "/luamig.lua")
    assert.equal(url, m.url)
    local ok, err = pcall(m.upgrade, m, "nosuch")
    assert.is_false(ok)
    assert.equal("Can't locate revision identified by 'nosuch'", tostring(err))
  end)
end)

describe("issue 16 leftovers", function()
  local function error_message(fn, ...)
    local ok, err = pcall(fn, ...)
    assert.is_false(ok)
    return type(err) == "table" and err.message or tostring(err)
  end

  it("[sqlite] m:plan, m:upgrade, m:downgrade and m:stamp say what a kind or target must be", function()
    local dir = h.project(revs)
    local url = h.dialects[1].url()
    local m <close> = luamig.open{url = url, script_location = dir .. "/migrations"}
    assert.equal("m:plan: the kind must be \"upgrade\", \"downgrade\" or \"stamp\", not 'bogus'",
      error_message(m.plan, m, "bogus"))
    assert.equal("m:plan: the kind must be \"upgrade\", \"downgrade\" or \"stamp\", not a nil",
      error_message(m.plan, m))
    local target = 'must be a string ("head", "base", "+1", "-2", a revision id or label), not '
    assert.equal("m:upgrade: the target " .. target .. "the number 42", error_message(m.upgrade, m, 42))
    assert.equal("m:upgrade: the target " .. target .. "the number 42", error_message(m.plan, m, "upgrade", 42))
    assert.equal("m:downgrade: the target " .. target .. "a table", error_message(m.downgrade, m, {}))
    assert.equal("m:stamp: the target " .. target .. "a boolean", error_message(m.stamp, m, {"m1", true}))
    assert.equal("m:upgrade: opts must be a table, not a string", error_message(m.upgrade, m, "head", "sql"))
    assert.same({}, h.version_rows(url))
    -- what stays as it was
    local plan = m:plan("upgrade")
    assert.equal("m1", plan[1].revision)
    assert.equal("downgrade needs a target, e.g. -1 or base", error_message(m.plan, m, "downgrade"))
  end)

  it("[sqlite] m:revision refuses an unknown option, naming the known ones, and writes nothing", function()
    local dir = h.project({})
    local m <close> = luamig.open{url = h.dialects[1].url(), script_location = dir .. "/migrations"}
    assert.equal("m:revision: unknown option 'autogenrate'; the options are autogenerate, baseline, branch_label, "
      .. "depends_on, downgrades, force, head, message, rev_id, splice, upgrades, version_path",
      error_message(m.revision, m, {message = "x", autogenrate = true}))
    assert.equal("", select(2, h.run("ls -A " .. h.shell_quote(dir .. "/migrations/versions"))))
    local r = m:revision{message = "x", rev_id = "a1"}
    assert.equal("a1", r.revision)
  end)
end)
