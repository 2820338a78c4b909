-- spec/stress/concurrency.lua -- concurrent runners (DESIGN.md: "a second
-- runner waits and then sees the new state, so no migration is ever
-- applied twice").
--
-- rounds(): in each round, a fresh database and 8 `luamig upgrade head`
-- started together (they wait on one FIFO and are released at once), on a
-- project whose 12 migrations each record their own execution in a table
-- and take a moment (so the runners overlap). Every runner runs under
-- `timeout`, so a deadlock shows as status 124. Checks per round:
--   - every migration ran exactly once (the executions table, the log);
--   - the version table is at head;
--   - each runner exited 0, or 1 saying cleanly that another run did the
--     work ("another luamig run ..."); never a hang, never anything else;
--   - the "Running upgrade" lines of all runners add up to the 12 steps.
--
-- With outside = true (--outside) every migration is transactional = false
-- and records its execution in two autocommit statements with work
-- between them: only the run lock (an flock beside a SQLite file, the
-- advisory lock on PostgreSQL) keeps a second run out of such a step.
--
-- killed_holder(): a runner inside a slow step (so holding the lock: the
-- PostgreSQL advisory lock, or SQLite's write transaction) is killed with
-- SIGKILL; the next runner must proceed at once (the lock dies with the
-- session) and apply every migration exactly once.
--
-- As a module: local conc = dofile("spec/stress/concurrency.lua")
-- As a command: lua5.4 spec/stress/concurrency.lua --dialect sqlite|postgresql
--   --rounds N [--outside]   (see spec/stress/run)
local core = require "luamig.core"
local h = require "spec.helpers"

local M = {}

M.NREVS = 12
M.RUNNERS = 8

local shell_quote, write_file, read_file, run, now =
  h.shell_quote, h.write_file, h.read_file, h.run, h.now

-- SQL that takes a moment: a sleep on PostgreSQL, some work on SQLite.
local function slow_sql(dialect, seconds)
  if dialect == "postgresql" then return ("SELECT pg_sleep(%g)"):format(seconds) end
  return ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT %d) SELECT count(*) FROM c")
    :format(math.floor(seconds * 4000000))
end

-- The counting project: c01 creates the table, every cNN (c01 included)
-- inserts its own id. slow: the SQL each step runs first. outside: every
-- step transactional = false, inserting its id half before and half after
-- the slow SQL (so a step run twice shows as two rows or a half one).
function M.write_project(dir, slow, outside)
  os.execute("mkdir -p " .. shell_quote(dir .. "/migrations/versions"))
  for i = 1, M.NREVS do
    local id = ("c%02d"):format(i)
    local body = {}
    if i == 1 then body[#body + 1] = "  op.execute('CREATE TABLE IF NOT EXISTS executions (rev TEXT NOT NULL)')" end
    if outside then
      body[#body + 1] = ("  op.execute('INSERT INTO executions (rev) VALUES ($1)', {%q})"):format(id .. "-half")
    end
    for _, sql in ipairs(slow) do body[#body + 1] = ("  op.execute(%q)"):format(sql) end
    if outside then
      body[#body + 1] = ("  op.execute('UPDATE executions SET rev = $1 WHERE rev = $2', {%q, %q})")
        :format(id, id .. "-half")
    else
      body[#body + 1] = ("  op.execute('INSERT INTO executions (rev) VALUES ($1)', {%q})"):format(id)
    end
    write_file(("%s/migrations/versions/%s.lua"):format(dir, id), table.concat({
      ("revision = %q"):format(id),
      "down_revision = " .. (i > 1 and ("%q"):format(("c%02d"):format(i - 1)) or "nil"),
      ("message = %q"):format("count " .. id),
      outside and "transactional = false" or "",
      "function upgrade(op)",
      table.concat(body, "\n"),
      "end",
      "function downgrade(op) end",
      "",
    }, "\n"))
  end
end

-- What is wrong with the database at url after the runs (nil when right).
local function check_counts(url)
  local conn = core.connect(url)
  local problems = {}
  local ok, rows = pcall(conn.query, conn, "SELECT rev, count(*) AS n FROM executions GROUP BY rev ORDER BY rev")
  if not ok then
    problems[#problems + 1] = "no executions table: " .. tostring(rows)
    rows = {}
  end
  local seen = {}
  for _, r in ipairs(rows) do
    seen[r.rev] = r.n
    if r.n ~= 1 then problems[#problems + 1] = ("%s ran %d times"):format(r.rev, r.n) end
    if r.rev:match("%-half$") then problems[#problems + 1] = r.rev .. ": a step left half done" end
  end
  for i = 1, M.NREVS do
    local id = ("c%02d"):format(i)
    if not seen[id] then problems[#problems + 1] = id .. " never ran" end
  end
  local log = conn:query("SELECT revision, count(*) AS n FROM luamig_log WHERE direction = 'upgrade' "
                         .. "GROUP BY revision ORDER BY revision")
  for _, r in ipairs(log) do
    if r.n ~= 1 then problems[#problems + 1] = ("the log has %d upgrades of %s"):format(r.n, r.revision) end
  end
  if #log ~= M.NREVS then problems[#problems + 1] = ("the log names %d revisions"):format(#log) end
  local v = conn:query("SELECT version_num FROM luamig_version")
  if #v ~= 1 or v[1].version_num ~= ("c%02d"):format(M.NREVS) then
    local ids = {}
    for i, r in ipairs(v) do ids[i] = r.version_num end
    problems[#problems + 1] = "version rows: {" .. table.concat(ids, ", ") .. "}"
  end
  conn:close()
  if #problems > 0 then return table.concat(problems, "; ") end
end

-- One round: RUNNERS runners released together on the database at url.
-- Returns {statuses, ran = total Running lines, clean_others = runners that
-- exited 1 saying another run did it, seconds}, and a problem or nil.
function M.round(bin, dir, url, timeout)
  local work = dir .. "/round"
  os.execute("rm -rf " .. shell_quote(work) .. " && mkdir -p " .. shell_quote(work))
  local parts = {("cd %s && mkfifo go"):format(shell_quote(work))}
  for i = 1, M.RUNNERS do
    parts[#parts + 1] = ("( read -r _ <go; cd %s && exec timeout %d %s --url %s upgrade head ) >%s/out%d 2>%s/err%d; "
      .. "echo $? >%s/rc%d")
      :format(shell_quote(dir), timeout, shell_quote(bin), shell_quote(url), shell_quote(work), i,
              shell_quote(work), i, shell_quote(work), i)
  end
  -- each runner in the background, then open and close the FIFO: every
  -- reader is released at the same instant
  local cmd = parts[1] .. "; "
  for i = 2, #parts do cmd = cmd .. "{ " .. parts[i] .. "; } & " end
  cmd = cmd .. "sleep 0.3; exec 3>go; exec 3>&-; wait"
  local t0 = now()
  run(cmd)
  local result = {statuses = {}, ran = 0, clean_others = 0, seconds = now() - t0}
  local problems = {}
  for i = 1, M.RUNNERS do
    local status = tonumber(read_file(("%s/rc%d"):format(work, i)) or "")
    local err = read_file(("%s/err%d"):format(work, i)) or ""
    result.statuses[i] = status
    for _ in err:gmatch("%[luamig%] Running upgrade") do result.ran = result.ran + 1 end
    if status == 124 then
      problems[#problems + 1] = ("runner %d hung (killed by timeout after %d s)"):format(i, timeout)
    elseif status == 1 and err:match("FAILED: another luamig run") then
      result.clean_others = result.clean_others + 1
    elseif status ~= 0 then
      problems[#problems + 1] = ("runner %d exited %s: %s"):format(i, tostring(status), err)
    end
  end
  if result.ran ~= M.NREVS then
    problems[#problems + 1] = ("the runners announced %d steps, not %d"):format(result.ran, M.NREVS)
  end
  local p = check_counts(url)
  if p then problems[#problems + 1] = p end
  return result, (#problems > 0 and table.concat(problems, "\n") or nil)
end

-- rounds on fresh databases from new_url(). opts: bin, dir, dialect,
-- new_url, rounds, timeout, log. Returns the figures.
function M.rounds(opts)
  local log = opts.log or function() end
  local dir = opts.dir
  M.write_project(dir, {slow_sql(opts.dialect, 0.05)}, opts.outside)
  local fig = {rounds = 0, runners = 0, exits0 = 0, clean_others = 0, problems = 0, failures = {},
               slowest = 0}
  for r = 1, opts.rounds do
    local res, problem = M.round(opts.bin, dir, opts.new_url(), opts.timeout or 120)
    fig.rounds = fig.rounds + 1
    fig.runners = fig.runners + M.RUNNERS
    for _, s in ipairs(res.statuses) do if s == 0 then fig.exits0 = fig.exits0 + 1 end end
    fig.clean_others = fig.clean_others + res.clean_others
    fig.slowest = math.max(fig.slowest, res.seconds)
    if problem then
      fig.problems = fig.problems + 1
      fig.failures[#fig.failures + 1] = ("round %d: %s"):format(r, problem)
      log(fig.failures[#fig.failures])
    end
  end
  return fig
end

-- A runner killed while it holds the lock: the next one proceeds. c02 is
-- slow only for the first runner (LUAMIG_SLOW set): many short statements,
-- or with opts.single_statement one long one. Returns {waited = seconds the
-- second runner took, all of it}, and a problem or nil.
function M.killed_holder(opts)
  local dir = opts.dir .. (opts.single_statement and "/killed1" or "/killed")
  os.execute("mkdir -p " .. shell_quote(dir))
  M.write_project(dir, {})
  local slow = opts.single_statement and {slow_sql(opts.dialect, 20)} or {}
  if not opts.single_statement then
    for _ = 1, 200 do slow[#slow + 1] = slow_sql(opts.dialect, 0.1) end
  end
  local body = {"  if os.getenv('LUAMIG_SLOW') then"}
  for _, sql in ipairs(slow) do body[#body + 1] = ("    op.execute(%q)"):format(sql) end
  body[#body + 1] = "  end"
  local path = dir .. "/migrations/versions/c02.lua"
  local text = read_file(path):gsub("function upgrade%(op%)\n", function(m)
    return m .. table.concat(body, "\n") .. "\n"
  end)
  write_file(path, text)
  local url = opts.new_url()
  -- A starts, is inside c02 after 1.5 s, and is killed there
  local cmd = ("cd %s && { LUAMIG_SLOW=1 %s --url %s upgrade head >a.out 2>a.err & pid=$!; sleep 1.5; "
            .. "kill -KILL $pid; wait $pid; echo \"status=$?\"; }")
    :format(shell_quote(dir), shell_quote(opts.bin), shell_quote(url))
  local _, out = run(cmd)
  local a_err = read_file(dir .. "/a.err") or ""
  if not out:match("status=137") then
    return nil, "the first runner was not killed mid-run: " .. out .. a_err
  end
  if not a_err:match("Running upgrade c01 %-> c02") then
    return nil, "the first runner was not inside c02 when killed: " .. a_err
  end
  local t0 = now()
  local status, _, err = run(("cd %s && timeout 60 %s --url %s upgrade head"):format(shell_quote(dir),
                                                                                  shell_quote(opts.bin), shell_quote(url)))
  local waited = now() - t0
  if status ~= 0 then return nil, ("the next runner exited %s: %s"):format(tostring(status), err) end
  local p = check_counts(url)
  if p then return nil, p end
  if not err:match("Running upgrade c01 %-> c02") then
    return nil, "the next runner did not run c02: " .. err
  end
  return {waited = waited, stderr = err}
end

---------------------------------------------------------------------------
-- As a command.

if arg and arg[0] and arg[0]:match("concurrency%.lua$") then
  local opts = {rounds = 20, bin = os.getenv("LUAMIG_BIN") or "build/bin/luamig"}
  local i = 1
  while i <= #arg do
    local a, v = arg[i], arg[i + 1]
    if a == "--dialect" then opts.dialect = v
    elseif a == "--rounds" then opts.rounds = tonumber(v)
    elseif a == "--bin" then opts.bin = v
    elseif a == "--pg-admin-url" then opts.pg_admin_url = v
    elseif a == "--outside" then opts.outside = true i = i - 1
    else io.stderr:write("concurrency.lua: unknown argument ", a, "\n") os.exit(2) end
    i = i + 2
  end
  if not opts.bin:match("^/") then opts.bin = os.getenv("PWD") .. "/" .. opts.bin end
  local p = io.popen("mktemp -d")
  opts.dir = p:read("l")
  p:close()
  local n = 0
  if opts.dialect == "postgresql" then
    local admin = core.connect(assert(opts.pg_admin_url, "--pg-admin-url is required for postgresql"))
    opts.new_url = function()
      n = n + 1
      local name = ("luamig_conc_%d_%d"):format(os.time(), n)
      admin:exec("CREATE DATABASE " .. core.quote_ident(name))
      local url = opts.pg_admin_url
      return url .. (url:find("?", 1, true) and "&" or "?") .. "dbname=" .. name
    end
  else
    opts.dialect = "sqlite"
    opts.new_url = function()
      n = n + 1
      return ("sqlite:%s/db%d.db"):format(opts.dir, n)
    end
  end
  opts.log = function(line) io.stdout:write(line, "\n") io.stdout:flush() end
  local fig = M.rounds(opts)
  local name = opts.dialect .. (opts.outside and " (transactional = false steps)" or "")
  opts.log(("concurrency %s: %d rounds of %d runners: %d runners exited 0, %d said another run did the work, "
            .. "%d rounds with a problem (slowest round %.2f s)")
           :format(name, fig.rounds, M.RUNNERS, fig.exits0, fig.clean_others, fig.problems, fig.slowest))
  if opts.outside then os.exit(fig.problems == 0 and 0 or 1) end
  local res, problem = M.killed_holder(opts)
  if res then
    opts.log(("concurrency %s: a runner killed while holding the lock: the next one completed in %.2f s")
             :format(opts.dialect, res.waited))
  else
    opts.log(("concurrency %s: a runner killed while holding the lock: PROBLEM: %s"):format(opts.dialect, problem))
  end
  -- the same, killed inside one long statement (20 s): for the record
  opts.single_statement = true
  local res1, problem1 = M.killed_holder(opts)
  if res1 then
    opts.log(("concurrency %s: killed inside one 20 s statement: the next one completed in %.2f s")
             :format(opts.dialect, res1.waited))
  else
    opts.log(("concurrency %s: killed inside one 20 s statement: PROBLEM: %s"):format(opts.dialect, problem1))
  end
  os.exit((fig.problems == 0 and res and res1) and 0 or 1)
end

return M
