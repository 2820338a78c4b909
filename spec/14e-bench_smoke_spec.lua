-- Issue 17's benchmark harness (bench/lock_load/run), run small: 10,000
-- rows, one report query, both ways. Not a benchmark: no timing is
-- asserted here (bench/RESULTS.md has the figures). What is checked: the
-- run ends with status 0, which it only does when every load query
-- succeeded and each way left the schema it should (column NOT NULL with
-- its default, index valid, foreign key validated, table not rewritten);
-- its report has a row per way with figures in it; and bad arguments are
-- refused before anything starts.
local h = require "spec.helpers"

-- spec/run's server, as SOCKETDIR:PORT
local server = table.concat({h.pg_server()}, ":")

local function run(args)
  return h.bench("lock_load/run", "--server " .. h.shell_quote(server) .. " " .. args)
end

describe("bench/lock_load/run", function()
  it("runs both ways on 10,000 rows under load and reports each", function()
    local dir = h.tmpdir()
    local out = dir .. "/report.md"
    local status, stdout, stderr = run("--rows 10000 --long-every 4 --long-hold 1.5 --warmup 1.2 --after 0.3"
      .. " --lock-timeout 500ms --out " .. h.shell_quote(out))
    assert.are.equal(0, status, stdout .. stderr)
    local report = h.read_file(out)
    assert.truthy(report:find("## Lock waits: a migration under load", 1, true))
    assert.truthy(report:find('"items": 10,000 rows', 1, true))
    for _, way in ipairs{"naive", "linted"} do
      local max, p99, retries = report:match("\n| " .. way
        .. " | 1.5 s every 4 s | ([%d.]+) ms | ([%d.]+) ms | [%d.]+ ms | %d+ of %d+ | [%d.]+ s | (%d+) | %d+ %(%d+%) |")
      assert.truthy(max, way .. " row missing in:\n" .. report)
      assert.truthy(tonumber(p99) <= tonumber(max), report)
      assert.truthy(tonumber(retries) >= 0)
    end
    -- the probe: a constant default does not rewrite the table, a volatile one does
    assert.truthy(report:find("(not rewritten): PostgreSQL 11+", 1, true), report)
    assert.truthy(report:find("a new file (rewritten)", 1, true), report)
  end)

  it("refuses bad arguments before starting anything", function()
    h.refuses(run, "--rows 12abc", "--rows must be a whole number >= 1, got '12abc'")
    h.refuses(run, "--rows 0")
    h.refuses(run, "--ways naive,../../etc", "no way '../../etc'")
    h.refuses(run, "--ways naive,..", "no way '..'")
    h.refuses(run, "--lock-timeout 1h", "--lock-timeout: a number of seconds")
  end)
end)
