-- spec/stress/lease.lua -- lock = "table" (the lease row) through a real
-- PgBouncer in transaction pooling mode (spec/pgbouncer.sh), where a
-- session advisory lock is worthless.
--
-- rounds(): spec/stress/concurrency.lua's rounds (8 `luamig upgrade head`
-- released together on a fresh database, 12 migrations that record their
-- own execution; each exactly once, version table at head, every runner
-- exits 0) with lock = "table" in luamig.lua, every runner through the
-- pooler.
-- killed_holder(): A holds the lease inside a slow step and is killed with
-- SIGKILL; B, started then, waits for the lease to expire (lock_lease
-- seconds after A last renewed it), takes it over (token + 1) and applies
-- every migration exactly once.
-- paused_holder(): A is stopped (SIGSTOP) inside a slow step, B takes the
-- expired lease over and finishes; A, continued (SIGCONT), reaches its
-- version write, finds the newer token and fails without committing
-- anything: every migration ran exactly once, the log has one upgrade each.
--
-- As a module: local lease = dofile("spec/stress/lease.lua")
-- As a command: lua5.4 spec/stress/lease.lua --bin BIN --pg-admin-url URL
--   --rounds N --takeovers N   (see spec/stress/run)
local core = require "luamig.core"
local h = require "spec.helpers"
local conc = dofile(h.root .. "/spec/stress/concurrency.lua")

local M = {}
local shell_quote, read_file, write_file, run, now = h.shell_quote, h.read_file, h.write_file, h.run, h.now

M.LEASE = 2                                           -- seconds: short, so takeovers are quick

-- Start a PgBouncer (transaction mode) in dir in front of the cluster the
-- admin URL names (its socket directory and port); returns its port.
function M.start_pgbouncer(dir, admin_url, mode, size, extra)
  local host = admin_url:match("[?&]host=([^&]+)")
  local port = admin_url:match("[?&]port=(%d+)")
  assert(host and port, "the admin URL names no host and port: " .. admin_url)
  local status, out, err = run(("bash %s/spec/pgbouncer.sh start %s %s %s %s %d %s"):format(
    shell_quote(h.root), shell_quote(dir), shell_quote(host), port, mode or "transaction",
    size or 20, shell_quote(extra or "")))
  assert(status == 0, "could not start pgbouncer: " .. out .. err)
  return tonumber(out:match("(%d+)%s*$"))
end

function M.stop_pgbouncer(dir)
  run(("bash %s/spec/pgbouncer.sh stop %s"):format(shell_quote(h.root), shell_quote(dir)))
end

-- The URL of database name through the pooler at port.
function M.pooled_url(port, name)
  return ("postgresql://postgres@127.0.0.1:%d/%s"):format(port, name)
end

local function config(extra)
  return ('lock = "table"\nlock_lease = %g\nlock_timeout = 60\n%s'):format(M.LEASE, extra or "")
end

-- opts: bin, dir, new_url (a fresh database through the pooler), rounds,
-- log. The figures of concurrency.lua's rounds.
function M.rounds(opts)
  os.execute("mkdir -p " .. shell_quote(opts.dir))
  write_file(opts.dir .. "/luamig.lua", config())
  return conc.rounds{bin = opts.bin, dir = opts.dir, dialect = "postgresql", new_url = opts.new_url,
                     rounds = opts.rounds, timeout = opts.timeout or 120, log = opts.log}
end

-- The counting project with c02 slow for the runner started with
-- LUAMIG_SLOW set: 30 statements of 0.1 s.
function M.slow_project(dir)
  os.execute("rm -rf " .. shell_quote(dir) .. " && mkdir -p " .. shell_quote(dir))
  conc.write_project(dir, {})
  write_file(dir .. "/luamig.lua", config())
  local path = dir .. "/migrations/versions/c02.lua"
  local body = {"  if os.getenv('LUAMIG_SLOW') then"}
  for _ = 1, 30 do body[#body + 1] = "    op.execute('SELECT pg_sleep(0.1)')" end
  body[#body + 1] = "  end"
  write_file(path, (read_file(path):gsub("function upgrade%(op%)\n", function(m)
    return m .. table.concat(body, "\n") .. "\n"
  end)))
end

-- What is wrong with the database at url (nil when every migration ran
-- once, the log has one upgrade each and the version table is at head).
local function check(url)
  local conn = core.connect(url)
  local problems = {}
  for _, r in ipairs(conn:query("SELECT rev, count(*) AS n FROM executions GROUP BY rev")) do
    if r.n ~= 1 then problems[#problems + 1] = ("%s ran %d times"):format(r.rev, r.n) end
  end
  local ran = conn:query("SELECT count(DISTINCT rev) AS n FROM executions")[1].n
  if ran ~= conc.NREVS then problems[#problems + 1] = ("%d migrations ran"):format(ran) end
  for _, r in ipairs(conn:query("SELECT revision, count(*) AS n FROM luamig_log WHERE direction = 'upgrade' "
                                .. "GROUP BY revision")) do
    if r.n ~= 1 then problems[#problems + 1] = ("the log has %d upgrades of %s"):format(r.n, r.revision) end
  end
  local v = conn:query("SELECT version_num FROM luamig_version")
  if #v ~= 1 or v[1].version_num ~= ("c%02d"):format(conc.NREVS) then
    problems[#problems + 1] = ("version rows: %d, first %s"):format(#v, v[1] and v[1].version_num or "none")
  end
  conn:close()
  return #problems > 0 and table.concat(problems, "; ") or nil
end
M.check = check

-- Wait (up to 10 s) until A's stderr says it runs c02.
function M.wait_inside_c02(dir)
  for _ = 1, 100 do
    if (read_file(dir .. "/a.err") or ""):match("Running upgrade c01 %-> c02") then return true end
    run("sleep 0.1")
  end
end

-- Start A in the background with LUAMIG_SLOW; returns its pid. Its exit
-- status goes to a.rc.
function M.start_a(dir, bin, url)
  -- in a subshell of its own: the shell of run() returns at once
  run(("cd %s && rm -f a.pid a.rc && ( { LUAMIG_SLOW=1 %s --url %s upgrade head >a.out 2>a.err & "
    .. "echo $! >a.pid; wait $!; echo $? >a.rc; } >/dev/null 2>&1 </dev/null & )")
    :format(shell_quote(dir), shell_quote(bin), shell_quote(url)))
  for _ = 1, 50 do
    local pid = tonumber(read_file(dir .. "/a.pid") or "")
    if pid then return pid end
    run("sleep 0.05")
  end
  error("A did not start")
end

-- A holding the lock inside c02: the slow project in dir (settings, when
-- given, replace its luamig.lua), A started on url. Returns A's pid, or nil
-- and what A said when it never reached c02.
function M.holder_in_c02(dir, bin, url, settings)
  M.slow_project(dir)
  if settings then write_file(dir .. "/luamig.lua", settings) end
  local pid = M.start_a(dir, bin, url)
  if not M.wait_inside_c02(dir) then return nil, "A never reached c02: " .. (read_file(dir .. "/a.err") or "") end
  return pid
end

-- A's exit status, once it has ended (up to 60 s).
local function a_status(dir)
  for _ = 1, 600 do
    local rc = tonumber(read_file(dir .. "/a.rc") or "")
    if rc then return rc end
    run("sleep 0.1")
  end
end
M.a_status = a_status

local function run_b(dir, bin, url)
  local t0 = now()
  local status, _, err = run(("cd %s && timeout 60 %s --url %s upgrade head"):format(shell_quote(dir),
    shell_quote(bin), shell_quote(url)))
  return status, err, now() - t0
end

-- A killed with SIGKILL inside c02 while holding the lease. opts: bin,
-- dir, url (a fresh database through the pooler). Returns {waited, b_err}
-- or nil and the problem.
function M.killed_holder(opts)
  local dir = opts.dir .. "/killed"
  local pid, problem = M.holder_in_c02(dir, opts.bin, opts.url)
  if not pid then return nil, problem end
  run(("kill -KILL %d"):format(pid))
  if a_status(dir) ~= 137 then return nil, "A was not killed" end
  local status, err, waited = run_b(dir, opts.bin, opts.url)
  if status ~= 0 then return nil, ("B exited %s: %s"):format(tostring(status), err) end
  if not err:match("Waiting for another luamig run %(run %x+") then
    return nil, "B did not wait for A's lease: " .. err
  end
  if not err:match("Took the migration lease %(run %x+, token 2,") then
    return nil, "B did not take the lease over with token 2: " .. err
  end
  local p = check(opts.url)
  if p then return nil, p end
  return {waited = waited, b_err = err}
end

-- A stopped (SIGSTOP) inside c02 past its lease; B takes over and
-- finishes; A continued (SIGCONT) must fail at its version write. Returns
-- {a_status, a_err, b_err} or nil and the problem.
function M.paused_holder(opts)
  local dir = opts.dir .. "/paused"
  local pid, problem = M.holder_in_c02(dir, opts.bin, opts.url)
  if not pid then return nil, problem end
  run(("kill -STOP %d"):format(pid))
  local status, err = run_b(dir, opts.bin, opts.url)
  run(("kill -CONT %d"):format(pid))
  local a_rc = a_status(dir)
  if status ~= 0 then return nil, ("B exited %s: %s"):format(tostring(status), err) end
  if not err:match("Running upgrade c01 %-> c02") then return nil, "B did not run c02: " .. err end
  local a_err = read_file(dir .. "/a.err") or ""
  local p = check(opts.url)
  if p then return nil, p .. "\nA: " .. a_err end
  return {a_status = a_rc, a_err = a_err, b_err = err}
end

---------------------------------------------------------------------------
-- As a command.

if arg and arg[0] and arg[0]:match("lease%.lua$") then
  local opts = {rounds = 20, takeovers = 5, bin = "build/bin/luamig"}
  local i = 1
  while i <= #arg do
    local a, v = arg[i], arg[i + 1]
    if a == "--rounds" then opts.rounds = tonumber(v)
    elseif a == "--takeovers" then opts.takeovers = tonumber(v)
    elseif a == "--bin" then opts.bin = v
    elseif a == "--pg-admin-url" then opts.pg_admin_url = v
    else io.stderr:write("lease.lua: unknown argument ", a, "\n") os.exit(2) end
    i = i + 2
  end
  if not opts.bin:match("^/") then opts.bin = os.getenv("PWD") .. "/" .. opts.bin end
  local p = io.popen("mktemp -d")
  local tmp = p:read("l")
  p:close()
  os.execute("chmod 755 " .. shell_quote(tmp))
  local admin = core.connect(assert(opts.pg_admin_url, "--pg-admin-url is required"))
  local port = M.start_pgbouncer(tmp .. "/pgbouncer", opts.pg_admin_url)
  local n = 0
  local function new_url()
    n = n + 1
    local name = ("luamig_lease_%d_%d"):format(os.time(), n)
    admin:exec("CREATE DATABASE " .. core.quote_ident(name))
    return M.pooled_url(port, name)
  end
  local log = function(line) io.stdout:write(line, "\n") io.stdout:flush() end
  local fig = M.rounds{bin = opts.bin, dir = tmp .. "/rounds", new_url = new_url, rounds = opts.rounds, log = log}
  log(("lease through pgbouncer (pool_mode=transaction): %d rounds of %d runners: %d exited 0, "
       .. "%d rounds with a problem (slowest round %.2f s)")
      :format(fig.rounds, conc.RUNNERS, fig.exits0, fig.problems, fig.slowest))
  local bad, waits = fig.problems, {}
  for k = 1, opts.takeovers do
    local res, problem = M.killed_holder{bin = opts.bin, dir = tmp .. "/k" .. k, url = new_url()}
    if res then waits[#waits + 1] = res.waited else bad = bad + 1 log("killed holder: PROBLEM: " .. problem) end
    local res2, problem2 = M.paused_holder{bin = opts.bin, dir = tmp .. "/p" .. k, url = new_url()}
    if not res2 then
      bad = bad + 1
      log("paused holder: PROBLEM: " .. problem2)
    elseif not res2.a_err:find("lost the migration lease to run", 1, true) then
      bad = bad + 1
      log("paused holder: A did not say it lost the lease: " .. res2.a_err)
    end
  end
  table.sort(waits)
  log(("lease takeovers (lock_lease = %g s): %d holders killed with SIGKILL, %d taken over (B finished in "
       .. "%.2f-%.2f s); %d holders stopped past their lease, each refused at its version write")
      :format(M.LEASE, opts.takeovers, #waits, waits[1] or 0, waits[#waits] or 0, opts.takeovers))
  M.stop_pgbouncer(tmp .. "/pgbouncer")
  admin:close()
  os.execute("rm -rf " .. shell_quote(tmp))
  os.exit(bad == 0 and 0 or 1)
end

return M
