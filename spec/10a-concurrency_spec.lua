-- Concurrent runners, short version (the full one is `make stress`):
-- 8 `luamig upgrade head` released together on a fresh database, 3 rounds
-- per database, on a project whose migrations count their own executions;
-- and a runner killed with SIGKILL while it holds the lock (between short
-- statements, and inside one long one: client_connection_check_interval on
-- PostgreSQL frees its lock within a second). See
-- spec/stress/concurrency.lua for what each round checks.
local h = require "spec.helpers"
local conc = dofile(h.root .. "/spec/stress/concurrency.lua")

local ROUNDS = 3

h.each_db(function(db)
  it(("8 runners at once, %d rounds: every migration runs exactly once, nobody hangs, all exit 0")
     :format(ROUNDS), function()
    local lines = {}
    local fig = conc.rounds{bin = h.bin, dir = h.tmpdir(), dialect = db.name, new_url = db.url,
                            rounds = ROUNDS, timeout = 120,
                            log = function(line) lines[#lines + 1] = line end}
    assert.equal(0, fig.problems, table.concat(lines, "\n"))
    assert.equal(ROUNDS * conc.RUNNERS, fig.exits0 + fig.clean_others)
  end)

  it("a runner killed while it holds the lock: the next one proceeds at once and finishes the work", function()
    local res, problem = conc.killed_holder{bin = h.bin, dir = h.tmpdir(), dialect = db.name, new_url = db.url}
    assert.is_nil(problem)
    assert.is_true(res.waited < 10, ("the next runner took %.1f s"):format(res.waited))
  end)

  it("a runner killed inside one 20 s statement: its lock goes within seconds, not at the statement's end", function()
    local res, problem = conc.killed_holder{bin = h.bin, dir = h.tmpdir(), dialect = db.name, new_url = db.url,
                                            single_statement = true}
    assert.is_nil(problem)
    assert.is_true(res.waited < 8, ("the next runner took %.1f s"):format(res.waited))
  end)
end)
