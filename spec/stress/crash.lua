-- spec/stress/crash.lua -- the crash test: kill `luamig upgrade head` and
-- `luamig downgrade base` with SIGKILL at random instants, and check after
-- each kill that the database is at a consistent revision.
--
-- The project has 50 revisions in one line, in blocks of twelve kinds of
-- step: create_table, bulk_insert (thousands of rows, so that kills land
-- inside the load), add_column, create_index, a table with a foreign key,
-- a second bulk_insert, an UPDATE of every row, alter_column to NOT NULL,
-- drop_column and a check constraint (both table rebuilds on SQLite),
-- rename_table and a batch_alter_table forced to rebuild.
--
-- First a reference database walks the line one step at a time (upgrade
-- +1, fifty times, then downgrade -1, fifty times) and records, for every
-- revision, the state the database must be in there: its schema
-- (luamig.introspect), the rows of each table, and the log's net count of
-- applications per revision. Walking down must give back exactly the
-- states walking up gave.
--
-- Then each trial starts `luamig upgrade head` (from base) or `luamig
-- downgrade base` (from head), alternately, kills it with SIGKILL after a
-- random delay drawn from the length of a whole run, and checks:
--   1. the version table holds at most one row, naming a revision (or none: base);
--   2. the database's state is exactly that revision's state;
--   3. the log agrees: every revision up to it applied once, none after;
--   4. the same command run again completes (exit 0) and reaches its end
--      state (head or base), also checked in full.
-- An inconsistency is any failed check. The driver prints one summary line
-- and exits 1 when it found any.
--
-- As a module (the busted spec uses it): local crash = dofile("spec/stress/crash.lua")
-- As a command: lua5.4 spec/stress/crash.lua --url URL --trials N [--seed S] [--bin PATH]
--   [--one-transaction] [--name NAME]
local core = require "luamig.core"
local introspect = require "luamig.introspect"
local h = require "spec.helpers"

local M = {}

M.NREVS = 50

local shell_quote, write_file, run, now = h.shell_quote, h.write_file, h.run, h.now

---------------------------------------------------------------------------
-- The project.

M.ROWS = 3000                 -- rows per bulk_insert step

-- The twelve kinds of step of block b (tables a<b> and o<b>): {message,
-- up, down} as Lua code. Every down is the exact inverse of its up.
local function block(b)
  local a, o = "a" .. b, "o" .. b
  local rows = M.ROWS
  return {
    {"create " .. a,
     ("op.create_table(%q, {{'id', 'integer', primary_key = true}, {'name', 'string(40)'}, {'qty', 'integer'}})"):format(a),
     ("op.drop_table(%q)"):format(a)},
    {"seed " .. a,
     ("local i = 0\n  op.bulk_insert(%q, function() i = i + 1; if i <= %d then return {id = i, name = 'n' .. i, qty = i %% 7} end end)")
       :format(a, rows),
     ("op.execute('DELETE FROM %s')"):format(a)},
    {"add price to " .. a,
     ("op.add_column(%q, {'price', 'numeric(10,2)', default = 0})"):format(a),
     ("op.drop_column(%q, 'price')"):format(a)},
    {"index " .. a .. ".name",
     ("op.create_index('ix_%s_name', %q, {'name'})"):format(a, a),
     ("op.drop_index('ix_%s_name', %q)"):format(a, a)},
    {"create " .. o,
     ("op.create_table(%q, {{'id', 'integer', primary_key = true}, {'item_id', 'integer', references = '%s.id'}, {'n', 'integer'}})")
       :format(o, a),
     ("op.drop_table(%q)"):format(o)},
    {"seed " .. o,
     ("local i = 0\n  op.bulk_insert(%q, function() i = i + 1; if i <= %d then return {id = i, item_id = i, n = i} end end)")
       :format(o, rows),
     ("op.execute('DELETE FROM %s')"):format(o)},
    {"bump " .. a .. ".qty",
     ("op.execute('UPDATE %s SET qty = qty + 1')"):format(a),
     ("op.execute('UPDATE %s SET qty = qty - 1')"):format(a)},
    {a .. ".qty not null",
     ("op.alter_column(%q, 'qty', {nullable = false, existing_type = 'integer'})"):format(a),
     ("op.alter_column(%q, 'qty', {nullable = true, existing_type = 'integer'})"):format(a)},
    {"drop " .. a .. ".price",
     ("op.drop_column(%q, 'price')"):format(a),
     ("op.add_column(%q, {'price', 'numeric(10,2)', default = 0})"):format(a)},
    {"check " .. o .. ".n",
     ("op.create_check_constraint('ck_%s_n', %q, 'n >= 0')"):format(o, o),
     ("op.drop_constraint('ck_%s_n', %q, {type_ = 'check'})"):format(o, o)},
    {"rename " .. o,
     ("op.rename_table(%q, %q)"):format(o, o .. "r"),
     ("op.rename_table(%q, %q)"):format(o .. "r", o)},
    {"rebuild " .. a,
     ("op.batch_alter_table(%q, function(batch)\n    batch.add_column({'tag', 'text'})\n    batch.create_index('ix_%s_tag', {'tag'})\n  end, {recreate = 'always'})")
       :format(a, a),
     ("op.batch_alter_table(%q, function(batch)\n    batch.drop_index('ix_%s_tag')\n    batch.drop_column('tag')\n  end, {recreate = 'always'})")
       :format(a, a)},
  }
end

-- The revision ids, in order: r01 ... r50.
function M.ids()
  local ids = {}
  for i = 1, M.NREVS do ids[i] = ("r%02d"):format(i) end
  return ids
end

-- Writes the project into dir (dir/migrations/versions/rNN.lua). With
-- one_transaction, its luamig.lua sets transaction_per_migration = false:
-- a whole run is one transaction, so a kill must leave the database where
-- the run started.
function M.write_project(dir, one_transaction)
  os.execute("mkdir -p " .. shell_quote(dir .. "/migrations/versions"))
  if one_transaction then write_file(dir .. "/luamig.lua", "transaction_per_migration = false\n") end
  local steps = {}
  for b = 1, math.ceil(M.NREVS / 12) do
    for _, s in ipairs(block(b)) do steps[#steps + 1] = s end
  end
  local ids = M.ids()
  for i = 1, M.NREVS do
    local s = steps[i]
    write_file(("%s/migrations/versions/%s.lua"):format(dir, ids[i]), table.concat({
      ("revision = %q"):format(ids[i]),
      "down_revision = " .. (i > 1 and ("%q"):format(ids[i - 1]) or "nil"),
      ("message = %q"):format(s[1]),
      "",
      "function upgrade(op)",
      "  " .. s[2],
      "end",
      "",
      "function downgrade(op)",
      "  " .. s[3],
      "end",
      "",
    }, "\n"))
  end
end

---------------------------------------------------------------------------
-- States.

local function user_tables(conn)
  local sql = conn:dialect() == "postgresql"
    and "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    or "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
  local names = {}
  for _, r in ipairs(conn:query(sql)) do
    if not r.name:match("^luamig_") then names[#names + 1] = r.name end
  end
  return names
end

-- Whether the table exists (without an error that would abort a
-- PostgreSQL transaction).
local function has_table(conn, name)
  if conn:dialect() == "postgresql" then
    return conn:query("SELECT to_regclass($1) IS NOT NULL AS ok", {core.quote_ident(name)})[1].ok
  end
  return #conn:query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1", {name}) > 0
end

-- On PostgreSQL a killed client's session can outlive it for a moment: the
-- server finishes (and may commit) what it was sent. Wait until no other
-- session is connected to this database, so that the state is final.
local function wait_for_other_sessions(conn)
  for _ = 1, 300 do
    local n = conn:query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
                         .. "AND pid <> pg_backend_pid()")[1].n
    if n == 0 then return end
    os.execute("sleep 0.1")
  end
  error("another session is still connected to the database after 30 s")
end

-- The state of the database: {rows = version rows, schema, data, log},
-- read in one snapshot (REPEATABLE READ on PostgreSQL).
-- data: per table its row count and a sum over its integer columns, so
-- that a half-applied UPDATE or load shows.
function M.state(url)
  local conn = core.connect(url)
  local pg = conn:dialect() == "postgresql"
  if pg then wait_for_other_sessions(conn) end
  local tx <close> = conn:begin()
  if pg then conn:exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ") end
  local s = {rows = {}, data = {}, log = {}}
  if has_table(conn, "luamig_version") then
    for i, r in ipairs(conn:query("SELECT version_num FROM luamig_version ORDER BY 1")) do
      s.rows[i] = r.version_num
    end
  end
  s.schema = introspect.schema(conn)
  for _, name in ipairs(user_tables(conn)) do
    local t = s.schema.tables[name]
    local sums = {"count(*) AS n"}
    for _, c in ipairs(t and t.columns or {}) do
      if c.type == "integer" then
        sums[#sums + 1] = ("CAST(coalesce(sum(%s), 0) AS BIGINT) AS %s"):format(core.quote_ident(c.name),
                                                                              core.quote_ident("sum_" .. c.name))
      end
    end
    s.data[name] = conn:query(("SELECT %s FROM %s"):format(table.concat(sums, ", "), core.quote_ident(name)))[1]
  end
  -- net applications per revision, from the log
  if has_table(conn, "luamig_log") then
    for _, r in ipairs(conn:query("SELECT revision, direction FROM luamig_log")) do
      if r.revision then
        local d = r.direction == "upgrade" and 1 or r.direction == "downgrade" and -1 or 0
        s.log[r.revision] = (s.log[r.revision] or 0) + d
        if s.log[r.revision] == 0 then s.log[r.revision] = nil end
      end
    end
  end
  tx:rollback()
  conn:close()
  return s
end

-- A readable difference between two values (nil when equal).
local function diff(a, b, path)
  path = path or ""
  if type(a) ~= type(b) then return ("%s: %s vs %s"):format(path, tostring(a), tostring(b)) end
  if type(a) ~= "table" then
    if a ~= b then return ("%s: %s vs %s"):format(path, tostring(a), tostring(b)) end
    return nil
  end
  for k, v in pairs(a) do
    local d = diff(v, b[k], path .. "." .. tostring(k))
    if d then return d end
  end
  for k, v in pairs(b) do
    if a[k] == nil then return ("%s.%s: missing vs %s"):format(path, tostring(k), tostring(v)) end
  end
  return nil
end
M.diff = diff

---------------------------------------------------------------------------
-- The runs.

local function luamig(bin, dir, url, args)
  return run(("cd %s && %s -q --url %s %s"):format(shell_quote(dir), shell_quote(bin), shell_quote(url), args))
end

-- Walk the line on a reference database: expected[k] (k = 0 .. NREVS,
-- 0 = base) is the state at revision k. Fails when a step fails or when
-- walking down does not give back the state walking up gave.
function M.reference(bin, dir, url)
  local expected = {}
  expected[0] = M.state(url)
  local t0 = now()
  for k = 1, M.NREVS do
    local status, _, err = luamig(bin, dir, url, "upgrade +1")
    assert(status == 0, ("reference: upgrade to revision %d failed: %s"):format(k, err))
    expected[k] = M.state(url)
  end
  for k = M.NREVS - 1, 0, -1 do
    local status, _, err = luamig(bin, dir, url, "downgrade -1")
    assert(status == 0, ("reference: downgrade to revision %d failed: %s"):format(k, err))
    local d = diff(expected[k], M.state(url))
    assert(d == nil, ("reference: revision %d differs walking down from walking up: %s"):format(k, tostring(d)))
  end
  -- how long a whole run takes, for the kill delays
  local t1 = now()
  local status, _, err = luamig(bin, dir, url, "upgrade head")
  assert(status == 0, err)
  local t2 = now()
  status, _, err = luamig(bin, dir, url, "downgrade base")
  assert(status == 0, err)
  local t3 = now()
  return expected, {walk = t1 - t0, up = t2 - t1, down = t3 - t2}
end

-- Which revision (0 = base) the version rows name; nil and a reason when
-- they name none, or more than one.
local function revision_of(rows)
  if #rows == 0 then return 0 end
  if #rows > 1 then return nil, "several version rows: " .. table.concat(rows, ", ") end
  local k = tonumber(rows[1]:match("^r(%d%d)$"))
  if not k or k < 1 or k > M.NREVS then return nil, "unknown version row " .. rows[1] end
  return k
end

-- Check the database at url against expected; returns the revision, or
-- nil and what is wrong.
function M.check(url, expected)
  local s = M.state(url)
  local k, why = revision_of(s.rows)
  if not k then return nil, why end
  local d = diff(expected[k], s)
  if d then return nil, ("at revision %d the state differs: %s"):format(k, d) end
  return k
end

-- Start args, kill it with SIGKILL after delay seconds (timeout -s KILL).
-- Returns "killed" or "finished" (it ended on its own first), its exit
-- status, how long it ran in seconds, and the revision (0 = base) that the
-- last step it announced ("Running upgrade a -> b") was going to, or nil.
function M.kill_after(bin, dir, url, args, delay)
  local cmd = ("cd %s && t0=$(date +%%s%%N); timeout -s KILL %.4f %s --url %s %s >/dev/null 2>killed.err; "
            .. "st=$?; t1=$(date +%%s%%N); echo \"status=$st ms=$(( (t1 - t0) / 1000000 ))\"")
    :format(shell_quote(dir), delay, shell_quote(bin), shell_quote(url), args)
  local _, out = run(cmd)
  local status = tonumber(out:match("status=(%d+)"))
  local seconds = (tonumber(out:match("ms=(%d+)")) or 0) / 1000
  local f = io.open(dir .. "/killed.err")
  local err = f and f:read("a") or ""
  if f then f:close() end
  local going_to
  for to in err:gmatch("Running %a+ [^\n]-%-> ?(r?%d*)") do
    going_to = tonumber(to:match("%d+")) or 0
  end
  if status == 137 then return "killed", status, seconds, going_to end
  return "finished", status, seconds, going_to
end

-- Run trials on url. opts: bin, dir (a project written by write_project),
-- url, trials, seed, log (function(line)), one_transaction (the project was
-- written so: a kill must leave the start). Returns the figures:
-- {trials, killed, finished, inconsistencies, reached = {[k] = n}, failures = {...}}.
function M.trials(opts)
  local log = opts.log or function() end
  math.randomseed(opts.seed or os.time())
  local ref_url = opts.reference_url or opts.url
  local expected, times = M.reference(opts.bin, opts.dir, ref_url)
  log(("reference: %d revisions walked up and down; a whole upgrade takes %.2f s, a downgrade %.2f s")
      :format(M.NREVS, times.up, times.down))
  local fig = {trials = 0, killed = 0, finished = 0, inconsistencies = 0, failures = {}, mid_step = 0,
               reached = {}, times = times}
  local url = opts.url
  -- the database under test starts at base
  local k0, why = M.check(url, expected)
  if k0 ~= 0 then error("the database under test does not start at base: " .. tostring(why or k0)) end
  -- a whole run's length, per direction: the reference's, then the mean
  -- of the runs that ended before their kill (every trial is a whole run)
  local span = {up = times.up, down = times.down}
  for trial = 1, opts.trials do
    local up = trial % 2 == 1
    local args = up and "upgrade head" or "downgrade base"
    local dir_key = up and "up" or "down"
    local delay = math.random() * span[dir_key] * 1.05
    local outcome, _, ran, going_to = M.kill_after(opts.bin, opts.dir, url, args, delay)
    if outcome == "finished" then span[dir_key] = (span[dir_key] + ran) / 2 end
    fig.trials = fig.trials + 1
    fig[outcome] = fig[outcome] + 1
    local k, problem = M.check(url, expected)
    if k then
      fig.reached[k] = (fig.reached[k] or 0) + 1
      -- inside a step: one was announced and the database is not at its end
      if outcome == "killed" and going_to and going_to ~= k then fig.mid_step = fig.mid_step + 1 end
      if outcome == "finished" and k ~= (up and M.NREVS or 0) then
        problem = ("the run ended on its own before the kill, but the database is at revision %d"):format(k)
      elseif opts.one_transaction and k ~= 0 and k ~= M.NREVS then
        problem = ("the run was one transaction, but the database is at revision %d"):format(k)
      end
    end
    -- the next run completes
    local status, _, err = luamig(opts.bin, opts.dir, url, args)
    if not problem and status ~= 0 then
      problem = ("the next `luamig %s` failed (status %s): %s"):format(args, tostring(status), err)
    end
    if not problem then
      local k_end, p2 = M.check(url, expected)
      if k_end ~= (up and M.NREVS or 0) then
        problem = p2 or ("the next `luamig %s` ended at revision %d"):format(args, k_end)
      end
    end
    if problem then
      fig.inconsistencies = fig.inconsistencies + 1
      fig.failures[#fig.failures + 1] = ("trial %d (%s, killed after %.3f s, %s): %s")
        :format(trial, args, delay, outcome, problem)
      log(fig.failures[#fig.failures])
      break                                          -- what follows would start from an unknown state
    end
    if trial % 10 == 0 then
      log(("  %d trials: %d killed mid-run, %d finished first, %d inconsistencies")
          :format(fig.trials, fig.killed, fig.finished, fig.inconsistencies))
    end
  end
  local distinct = 0
  for _ in pairs(fig.reached) do distinct = distinct + 1 end
  fig.distinct_revisions = distinct
  return fig
end

function M.summary(name, fig)
  return ("crash %s: %d trials, %d killed mid-run (%d of them inside a step, rolled back), %d finished "
       .. "before the kill, %d distinct revisions seen after a kill, %d inconsistencies")
       :format(name, fig.trials, fig.killed, fig.mid_step, fig.finished, fig.distinct_revisions,
               fig.inconsistencies)
end

---------------------------------------------------------------------------
-- As a command.

if arg and arg[0] and arg[0]:match("crash%.lua$") and not package.loaded["spec.stress.crash"] then
  local opts = {trials = 20, bin = os.getenv("LUAMIG_BIN") or "build/bin/luamig"}
  local i = 1
  while i <= #arg do
    local a, v = arg[i], arg[i + 1]
    if a == "--url" then opts.url = v
    elseif a == "--reference-url" then opts.reference_url = v
    elseif a == "--trials" then opts.trials = tonumber(v)
    elseif a == "--seed" then opts.seed = tonumber(v)
    elseif a == "--bin" then opts.bin = v
    elseif a == "--dir" then opts.dir = v
    elseif a == "--name" then opts.name = v
    elseif a == "--one-transaction" then opts.one_transaction = true; i = i - 1
    else io.stderr:write("crash.lua: unknown argument ", a, "\n") os.exit(2) end
    i = i + 2
  end
  assert(opts.url, "crash.lua: --url URL is required")
  if not opts.bin:match("^/") then opts.bin = os.getenv("PWD") .. "/" .. opts.bin end
  if not opts.dir then
    local p = io.popen("mktemp -d")
    opts.dir = p:read("l")
    p:close()
  end
  M.write_project(opts.dir, opts.one_transaction)
  opts.log = function(line) io.stdout:write(line, "\n") io.stdout:flush() end
  opts.seed = opts.seed or os.time()
  opts.log(("crash %s: seed %d, %d trials, project %s"):format(opts.name or "", opts.seed, opts.trials, opts.dir))
  local fig = M.trials(opts)
  opts.log(M.summary(opts.name or core.connect(opts.url):dialect(), fig))
  local seen = {}
  for k, n in pairs(fig.reached) do seen[#seen + 1] = ("%d:%d"):format(k, n) end
  table.sort(seen, function(x, y) return tonumber(x:match("^%d+")) < tonumber(y:match("^%d+")) end)
  opts.log("revisions after a kill (revision:times): " .. table.concat(seen, " "))
  os.exit(fig.inconsistencies == 0 and 0 or 1)
end

return M
