-- The short crash test (the full one is `make stress`, spec/stress/run):
-- a 50-revision project with bulk loads and SQLite table rebuilds, whose
-- `upgrade head` and `downgrade base` are killed with SIGKILL at random
-- instants. After every kill the version table must name one revision
-- whose schema, rows and log are exactly that revision's, and the next
-- run must complete. spec/stress/crash.lua says how.
local h = require "spec.helpers"
local crash = dofile(h.root .. "/spec/stress/crash.lua")

local TRIALS = {sqlite = 12, postgresql = 8}    -- about 20 in all

h.each_db(function(db)
  it(("survives %d kills at random instants with the database at a consistent revision")
     :format(TRIALS[db.name]), function()
    local dir = h.tmpdir()
    crash.write_project(dir)
    local lines = {}
    local fig = crash.trials{bin = h.bin, dir = dir, url = db.url(), trials = TRIALS[db.name],
                             log = function(line) lines[#lines + 1] = line end}
    assert.equal(TRIALS[db.name], fig.trials)
    assert.equal(0, fig.inconsistencies, table.concat(lines, "\n"))
    assert.same({}, fig.failures)
  end)
end)
