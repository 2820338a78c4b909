-- The runner (runner*.c, version.c) reached through the embedding API,
-- require "luamig" and luamig.core, not the CLI, on both databases: a plan
-- and its steps, the version table and the log after upgrade, downgrade and
-- stamp, a failing step rolled back, the run lock's key and SQLite's
-- lock_timeout against a real second connection.
local luamig = require "luamig"
local core = require "luamig.core"
local h = require "spec.helpers"

local revs = {
  {id = "m1", message = "create one", up = "CREATE TABLE one (id INTEGER)", down_sql = "DROP TABLE one"},
  {id = "m2", down = "m1", message = "create two", up = "CREATE TABLE two (id INTEGER)",
   down_sql = "DROP TABLE two"},
  {id = "m3", down = "m2", message = "create three", up = "CREATE TABLE three (id INTEGER)",
   down_sql = "DROP TABLE three"},
}

-- The log's rows in order: "revision direction" (and whether a checksum was kept).
local function log_rows(url)
  local rows = h.query(url, "SELECT revision, direction, checksum FROM luamig_log ORDER BY id")
  local out = {}
  for i, r in ipairs(rows) do
    out[i] = ("%s %s%s"):format(r.revision, r.direction, r.checksum and " checksum" or "")
  end
  return out
end

local function open(url, dir, settings)
  local opts = {url = url, script_location = dir .. "/migrations"}
  for k, v in pairs(settings or {}) do opts[k] = v end
  return luamig.open(opts)
end

h.each_db(function(db)
  local pg = db.name == "postgresql"

  it("plans, then upgrades, downgrades and stamps; the version table and the log follow", function()
    local dir, url = h.project(revs), db.url()
    local m <close> = open(url, dir)
    local plan = m:plan("upgrade", "head")
    assert.same({"m1", "m2", "m3"}, {plan[1].revision, plan[2].revision, plan[3].revision})
    assert.same({}, h.version_rows(url))             -- a plan runs nothing

    local steps = m:upgrade("m2")
    assert.same({{revision = "m1", direction = "upgrade", from = {}, to = {"m1"}, rows = {"m1"}},
                 {revision = "m2", direction = "upgrade", from = {"m1"}, to = {"m2"}, rows = {"m2"}}},
                {steps[1], steps[2]})
    assert.equal(2, #steps)
    assert.same({"m2"}, h.version_rows(url))
    assert.same({"luamig_log", "luamig_version", "one", "two"}, h.tables(url))

    steps = m:downgrade("m1")
    assert.same({revision = "m2", direction = "downgrade", from = {"m2"}, to = {"m1"}, rows = {"m1"}},
                steps[1])
    assert.equal(1, #steps)
    assert.same({"m1"}, h.version_rows(url))
    assert.same({"luamig_log", "luamig_version", "one"}, h.tables(url))

    m:stamp("m3")                                     -- records, runs nothing
    assert.same({"m3"}, h.version_rows(url))
    assert.same({"luamig_log", "luamig_version", "one"}, h.tables(url))
    assert.same({"m3"}, core.current(m:connection(), "luamig_version"))
    assert.equal("luamig_log", core.version_log_name("luamig_version"))
    assert.same({"m1 upgrade checksum", "m2 upgrade checksum", "m2 downgrade checksum",
                 "m2 stamp", "m3 stamp"}, log_rows(url))
  end)

  it("a failing step is rolled back, the version table and the log unchanged", function()
    local broken = {revs[1], {id = "m2", down = "m1", message = "broken", code = true,
      up = "  op.execute('CREATE TABLE half (id INTEGER)')\n"
        .. "  op.execute('INSERT INTO missing_table VALUES (1)')"}}
    local dir, url = h.project(broken), db.url()
    local m <close> = open(url, dir)
    m:upgrade("m1")
    local err = h.error_of(m.upgrade, m, "head")
    assert.equal("m2", err.revision)
    assert.equal("INSERT INTO missing_table VALUES (1)", err.sql)
    local path = dir .. "/migrations/versions/m2.lua"
    local reason = pg and 'relation "missing_table" does not exist' or "no such table: missing_table"
    assert.equal(("upgrade m2 (broken): %s:9: %s\nNothing of this run is committed: the database "
      .. "is at m1, as before the run."):format(path, reason), err.message)
    assert.same({"m1"}, h.version_rows(url))
    assert.same({"luamig_log", "luamig_version", "one"}, h.tables(url))   -- "half" went with the step
    assert.same({"m1 upgrade checksum"}, log_rows(url))
  end)

  it("writes the version table's SQL for the dialect offline (--sql), with no connection", function()
    local dir = h.project({revs[1]})
    local out = {}
    local m <close> = open(db.url(), dir)
    m:upgrade("m1", {sql = true, emit = function(text) out[#out + 1] = text end})
    local text = table.concat(out)
    local log_table = pg
      and 'CREATE TABLE IF NOT EXISTS "luamig_log" (id BIGSERIAL PRIMARY KEY, revision VARCHAR(64), '
        .. "direction VARCHAR(16) NOT NULL, checksum VARCHAR(64), applied_at TIMESTAMPTZ NOT NULL "
        .. "DEFAULT CURRENT_TIMESTAMP, duration_ms BIGINT, who TEXT);"
      or 'CREATE TABLE IF NOT EXISTS "luamig_log" (id INTEGER PRIMARY KEY, revision VARCHAR(64), '
        .. "direction VARCHAR(16) NOT NULL, checksum VARCHAR(64), applied_at TIMESTAMP NOT NULL "
        .. "DEFAULT CURRENT_TIMESTAMP, duration_ms BIGINT, who TEXT);"
    assert.truthy(text:find(log_table, 1, true), text)
    assert.truthy(text:find([[INSERT INTO "luamig_version" (version_num) VALUES ('m1');]], 1, true), text)
    assert.truthy(text:find("BEGIN;", 1, true) and text:find("COMMIT;", 1, true), text)
  end)

  if pg then
    it("takes the run lock as an advisory lock keyed by FNV-1a of \"luamig:\" and the version table", function()
      local seen = {{id = "m1", code = true,
        up = "  op.execute([[CREATE TABLE seen AS SELECT classid::bigint AS classid, objid::bigint AS objid, "
          .. "objsubid::int AS objsubid FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()]])"}}
      local dir, url = h.project(seen), db.url()
      local m <close> = open(url, dir, {version_table = "we\"ird version"})
      m:upgrade("head")
      local hash = 0xcbf29ce484222325                 -- FNV-1a, 64 bits (Lua's integers wrap)
      for c in ("luamig:we\"ird version"):gmatch(".") do hash = (hash ~ c:byte()) * 0x100000001b3 end
      local key = hash >> 1                           -- a non-negative bigint
      assert.same({{classid = key >> 32, objid = key & 0xffffffff, objsubid = 1}},
                  h.query(url, "SELECT classid, objid, objsubid FROM seen"))
    end)
  end
end)

describe("[sqlite] lock_timeout", function()
  -- A second process holds SQLite's write lock on the file (BEGIN
  -- IMMEDIATE) for hold seconds; returns once it holds it.
  local function hold_write_lock(url, hold)
    local dir = h.tmpdir()
    local script, flag = dir .. "/holder.lua", dir .. "/held"
    h.write_file(script, [[
      local core = require "luamig.core"
      local conn = core.connect(arg[1])
      conn:exec("BEGIN IMMEDIATE")
      local f = assert(io.open(arg[2], "w")) f:write("held") f:close()
      local deadline = core.monotonic() + tonumber(arg[3])
      while core.monotonic() < deadline do os.execute("sleep 0.05") end
      conn:exec("COMMIT")
      conn:close()
    ]])
    h.run(("(%s %s %s %s %s >/dev/null 2>&1 &)"):format(h.lua, h.shell_quote(script),
      h.shell_quote(url), h.shell_quote(flag), hold))
    local until_ = core.monotonic() + 20
    while not h.file_exists(flag) and core.monotonic() < until_ do os.execute("sleep 0.02") end
    assert(h.file_exists(flag), "the holder did not take the lock")
  end

  it("waits about lock_timeout for another process's write lock, then fails saying so", function()
    local dir = h.project(revs)
    local url, file = h.fresh_sqlite()
    local m <close> = open(url, dir, {lock_timeout = 1})
    m:upgrade("m1")
    hold_write_lock(url, 8)
    local start = core.monotonic()
    local err = h.error_of(m.upgrade, m, "head")
    local took = core.monotonic() - start
    assert.is_true(took >= 1 and took < 4, ("the run took %.1f s"):format(took))
    local waited = tostring(err):match("luamig waited (%d+%.%d) s")
    assert.truthy(waited, tostring(err))
    assert.is_true(tonumber(waited) >= 1 and tonumber(waited) < 4, waited)
    assert.equal(("the database '%s' is locked by another process: luamig "
      .. "waited %s s for it (lock_timeout = 1 s) and gave up; find what holds it (e.g. `fuser %s`), "
      .. "or raise lock_timeout"):format(file, waited, file), tostring(err))
    assert.same({"m1"}, h.version_rows(url))
  end)

  it("succeeds when the holder lets go within lock_timeout", function()
    local dir = h.project(revs)
    local url = h.fresh_sqlite()
    local m <close> = open(url, dir, {lock_timeout = 20})
    m:upgrade("m1")
    hold_write_lock(url, 1.5)
    local start = core.monotonic()
    local steps = m:upgrade("head")
    local took = core.monotonic() - start
    assert.is_true(took >= 0.5 and took < 15, ("the run took %.1f s"):format(took))
    assert.same({"m2", "m3"}, {steps[1].revision, steps[2].revision})
    assert.same({"m3"}, h.version_rows(url))
  end)
end)
