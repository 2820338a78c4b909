-- Issue 19's real-shaped history (bench/realhist/), run small: 40
-- revisions. Not a benchmark: no timing is asserted here (bench/README.md
-- has the figures). What is checked: the generator is deterministic and
-- writes the shapes it promises (merges with two parents, a depends_on,
-- enums, foreign keys, unique indexes); `luamig upgrade head` of its
-- luamig tree leaves, on SQLite and on the suite's PostgreSQL, exactly the
-- schema the generator says the history leaves (read from the catalogue by
-- bench/realhist/schema.lua); the reader sees a change; Alembic's tree
-- leaves the same schema (only where Debian's Alembic is installed: the
-- suite does not need it); the driver refuses bad arguments.
local h = require "spec.helpers"

local GEN = h.root .. "/bench/realhist/gen.lua"
local SCHEMA = h.root .. "/bench/realhist/schema.lua"
local N = 40

-- spec/run's server, for psql
local pghost, pgport = h.pg_server()
local PGENV = ("PGHOST=%s PGPORT=%s PGUSER=postgres "):format(h.shell_quote(pghost), pgport)

local function gen(dir, n, seed)
  local status, out, err = h.run(("lua5.4 %s %d %s %s"):format(h.shell_quote(GEN), n, h.shell_quote(dir), seed or ""))
  assert.are.equal(0, status, out .. err)
end

local function schema(dialect, where, vt)
  local status, out, err = h.run(("%slua5.4 %s %s %s %s"):format(dialect == "postgresql" and PGENV or "",
    h.shell_quote(SCHEMA), dialect, h.shell_quote(where), vt))
  assert.are.equal(0, status, err)
  return out
end

local function alembic_installed()
  return h.file_exists("/usr/bin/alembic")
    and h.run("/usr/bin/python3 -c 'import alembic, psycopg2'") == 0
end

describe("bench/realhist", function()
  local dir = h.tmpdir() .. "/hist"
  gen(dir, N)
  local expected = {sqlite = h.read_file(dir .. "/expected-sqlite.txt"),
                    postgresql = h.read_file(dir .. "/expected-postgresql.txt")}
  local head = h.read_file(dir .. "/head"):match("%x+")

  it("generates one deterministic history with merges, a depends_on, enums, keys and indexes", function()
    local again = h.tmpdir() .. "/hist"
    gen(again, N)
    local status, out = h.run(("diff -r %s %s"):format(h.shell_quote(dir), h.shell_quote(again)))
    assert.are.equal(0, status, out)
    local other = h.tmpdir() .. "/hist"
    gen(other, N, 7)
    assert.are_not.equal(expected.sqlite, h.read_file(other .. "/expected-sqlite.txt"))

    local summary = h.read_file(dir .. "/summary")
    assert.are.equal(N, tonumber(summary:match("%f[%w_]revisions (%d+)")))
    assert.truthy(tonumber(summary:match("merges (%d+)")) >= 2, summary)
    assert.are.equal(1, tonumber(summary:match("depends_on (%d+)")), summary)
    -- the same revisions on both sides: ids, and the merges' two parents
    local _, lua_files = h.run("ls " .. h.shell_quote(dir .. "/luamig/migrations/versions"))
    local _, py_files = h.run("ls " .. h.shell_quote(dir .. "/alembic/versions"))
    assert.are.equal(lua_files:gsub("%.lua", ""), py_files:gsub("%.py", ""))
    local _, merges = h.run("grep -l '^down_revision = {' " .. h.shell_quote(dir .. "/luamig/migrations/versions") .. "/*.lua | wc -l")
    local _, py_merges = h.run("grep -l \"^down_revision = ('\" " .. h.shell_quote(dir .. "/alembic/versions") .. "/*.py | wc -l")
    assert.are.equal(tonumber(summary:match("merges (%d+)")), tonumber(merges))
    assert.are.equal(tonumber(merges), tonumber(py_merges))
    for _, fact in ipairs{"\nfk ", "\nenum order_status ", "\nversion " .. head} do
      assert.truthy(expected.postgresql:find(fact), fact)
    end
    -- a unique index or a unique constraint
    assert.truthy(expected.postgresql:find(" unique %(") or expected.postgresql:find("\nunique "))
    assert.truthy(expected.sqlite:find("\nfk "))
  end)

  it("luamig upgrade head leaves the schema the generator says, on SQLite", function()
    local db = h.tmpdir() .. "/rh.db"
    local status, out, err = h.run(("cd %s && %s --url %s upgrade head"):format(
      h.shell_quote(dir .. "/luamig"), h.shell_quote(h.bin), h.shell_quote("sqlite:" .. db)))
    assert.are.equal(0, status, out .. err)
    assert.are.equal(expected.sqlite, schema("sqlite", db, "luamig_version"))
    -- the reader sees what changes
    local ix = expected.sqlite:match("\nindex %S+ (%S+) ")
    assert.are.equal(0, (h.run(("sqlite3 %s 'DROP INDEX \"%s\"'"):format(h.shell_quote(db), ix))))
    assert.are_not.equal(expected.sqlite, schema("sqlite", db, "luamig_version"))
  end)

  it("luamig upgrade head leaves the schema the generator says, on PostgreSQL", function()
    local name, url = h.fresh_pg()
    local status, out, err = h.run(("cd %s && %s --url %s upgrade head"):format(
      h.shell_quote(dir .. "/luamig"), h.shell_quote(h.bin), h.shell_quote(url)))
    assert.are.equal(0, status, out .. err)
    assert.are.equal(expected.postgresql, schema("postgresql", name, "luamig_version"))
  end)

  it("Alembic's tree leaves the same schema (where Alembic is installed)", function()
    if not alembic_installed() then
      pending("Debian's alembic and python3-psycopg2 are not installed")
      return
    end
    local db = h.tmpdir() .. "/a.db"
    local status, out, err = h.run(("cd %s && /usr/bin/alembic -x url=%s upgrade head"):format(
      h.shell_quote(dir .. "/alembic"), h.shell_quote("sqlite:///" .. db)))
    assert.are.equal(0, status, out .. err)
    assert.are.equal(expected.sqlite, schema("sqlite", db, "alembic_version"))
    local name = h.fresh_pg()
    status, out, err = h.run(("cd %s && /usr/bin/alembic -x %s upgrade head"):format(h.shell_quote(dir .. "/alembic"),
      h.shell_quote(("url=postgresql+psycopg2://postgres@/%s?host=%s&port=%s"):format(name, pghost, pgport))))
    assert.are.equal(0, status, out .. err)
    assert.are.equal(expected.postgresql, schema("postgresql", name, "alembic_version"))
  end)

  it("the driver refuses bad arguments before starting anything", function()
    local function run(args) return h.bench("realhist/run", args) end
    h.refuses(run, "--revisions 12", "--revisions must be a whole number >= 30, got '12'")
    h.refuses(run, "--runs 0", "--runs must be a whole number >= 1, got '0'")
    h.refuses(run, "--dbs sqlite,mysql", "--dbs: sqlite and/or postgresql, got 'mysql'")
    h.refuses(function(args) return h.run(("lua5.4 %s %s"):format(h.shell_quote(GEN), args)) end,
              "10 " .. h.shell_quote(h.tmpdir()), "N a whole number >= 30")
  end)
end)
