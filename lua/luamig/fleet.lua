-- luamig.fleet -- one command over many databases or schemas (`luamig
-- fleet`): the targets (a file, or luamig.lua's databases list or
-- function), one target's run through the embedding API (a Runner per
-- target), and the workers that run them in parallel.
--
-- Parallelism: the C core's calls block, so -j N runs N worker processes
-- of this same binary (`luamig fleet --worker JOB`), each taking the
-- targets i, i+N, i+2N ... in turn, each through its own Runner. A job
-- file (mode 0600, from os.tmpname: it holds the URLs) tells a worker what
-- to run; it answers one line per target in its result file (not a pipe:
-- the parent waits for the workers in turn, and a full pipe would stall
-- the ones it is not reading), a Lua table literal the parent loads with
-- an empty environment. Stop-on-first-error crosses workers through a
-- stop file: a failing worker writes in it, and every worker reads it
-- before starting its next target; the parent writes in it too when a
-- signal reaches it alone (SIGTERM to its pid; Ctrl-C while a worker's
-- os.execute ignores SIGINT). A worker also stops when its parent is gone
-- (its parent pid changed: SIGKILL), and removes its job file as soon as
-- it has read it (it holds passwords).
local core = require "luamig.core"
local redact = require "luamig.redact"
local errors = require "luamig.errors"

local fail = errors.fail

local M = {}

M.commands = {upgrade = true, downgrade = true, current = true, check = true, verify = true}

-- Text of a label or an error for a terminal: control characters shown
-- escaped (\x0a), so that a name with a newline or ESC in it cannot forge a
-- line of the report or of stderr, nor clear the screen.
function M.escaped(s)
  return (tostring(s):gsub("%c", function(c) return ("\\x%02x"):format(c:byte()) end))
end

---------------------------------------------------------------------------
-- Targets: {url, schema = name or nil, name = label or nil, where = "FILE:LINE"}.

local target_keys = {url = true, schema = true, name = true}

-- One target from a databases entry (a URL or a table); where names it;
-- schema: the project's schema setting, for an entry that names none.
local function target_of(entry, where, schema)
  if type(entry) == "string" then entry = {url = entry} end
  if type(entry) == "table" and entry.schema == nil and schema ~= nil then
    local copy = {}
    for k, v in pairs(entry) do copy[k] = v end
    copy.schema, entry = schema, copy
  end
  if type(entry) ~= "table" then
    fail(("%s: a target is a URL or a table {url = ..., schema = ...}, not a %s"):format(where, type(entry)))
  end
  for k in pairs(entry) do
    if not target_keys[k] then
      fail(("%s: unknown key '%s' in a target (a target has url, schema and name)"):format(where, tostring(k)))
    end
  end
  redact.learn(entry.url)
  if type(entry.url) ~= "string" or entry.url == "" then
    fail(("%s: the target has no url (a database URL string)"):format(where))
  end
  local ok, u = pcall(core.parse_url, entry.url)
  if not ok then fail(("%s: %s"):format(where, redact.text(tostring(u)))) end
  for _, k in ipairs{"schema", "name"} do
    if entry[k] ~= nil and (type(entry[k]) ~= "string" or entry[k] == "") then
      fail(("%s: the target's %s must be a non-empty string"):format(where, k))
    end
  end
  local why = entry.schema and require("luamig.config").schema_why_not(entry.schema)
  if why then fail(("%s: %s"):format(where, why)) end
  if entry.schema and u.dialect ~= "postgresql" then
    fail(("%s: schema = %q: schemas are PostgreSQL's; a SQLite target is its file"):format(where, entry.schema))
  end
  local label = entry.name or (u.display .. (entry.schema and (" schema " .. entry.schema) or ""))
  return {url = entry.url, schema = entry.schema, name = entry.name, label = label, where = where}
end

-- The targets of a file: one per line, "URL" or "URL schema=NAME";
-- blank lines and # comments (a line's start, or after a space) ignored.
function M.read_file(path, schema)
  local f, err = io.open(path)
  local text = f and f:read("a")
  if f then f:close() end
  if not text then
    fail(("--targets %s: cannot read the file (%s); give a file of database URLs, one a line")
      :format(path, (tostring(err or "a directory?"):gsub("^[^:]*: ", ""))))
  end
  for line in text:gmatch("[^\n]+") do redact.learn(line) end     -- before any message
  local out, n = {}, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = line:gsub("^%s*#.*$", ""):gsub("%s+#.*$", ""):gsub("^%s+", ""):gsub("%s+$", "")
    if line ~= "" then
      local where = ("%s:%d"):format(path, n)
      local url, rest = line:match("^(%S+)%s*(.*)$")
      local entry = {url = url}
      for word in rest:gmatch("%S+") do
        local k, v = word:match("^(%w+)=(.+)$")
        if k ~= "schema" and k ~= "name" then
          -- not echoed: after an unencoded space in a password, it is the password's rest
          fail(("%s: unexpected text after the URL (not shown, as it may be part of a password: a space "
            .. "in a URL's password must be written %%20); a line is URL [schema=NAME] [name=LABEL]"):format(where))
        end
        if entry[k] then fail(("%s: %s= given twice"):format(where, k)) end
        entry[k] = v
      end
      out[#out + 1] = target_of(entry, where, schema)
    end
  end
  return out
end

-- The targets of luamig.lua's databases: a list, or a function returning one.
function M.from_setting(databases, source, schema)
  local list = databases
  if type(databases) == "function" then
    local ok, res = pcall(databases)
    if not ok then
      fail(("%s: the databases function failed: %s"):format(source,
        redact.text(type(res) ~= "table" and tostring(res) or res.message ~= nil and tostring(res.message)
          or "an error value (a table) with no message")))
    end
    list = res
    if type(list) ~= "table" then
      fail(("%s: the databases function must return a list of targets, not a %s"):format(source, type(list)))
    end
  end
  for _, t in pairs(list) do redact.learn(type(t) == "table" and rawget(t, "url") or t) end
  -- a list: keys 1..n only (a hole or a named key would drop targets unseen)
  local n = 0
  for _ in pairs(list) do n = n + 1 end
  for k in pairs(list) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      fail(("%s: databases has the key %s; it must be a list (1, 2, 3 ... without holes)")
        :format(source, type(k) == "string" and ("'" .. k .. "'") or tostring(k)))
    end
  end
  local out = {}
  for i, entry in ipairs(list) do out[i] = target_of(entry, ("%s: databases[%d]"):format(source, i), schema) end
  return out
end

-- Without a target listed twice (the same URL and schema): it runs once.
function M.distinct(targets, warn)
  local seen, out = {}, {}
  for _, t in ipairs(targets) do
    local key = t.url .. "\0" .. (t.schema or "")
    if seen[key] then
      warn(("%s: %s is listed again (first at %s); it runs once"):format(t.where, M.escaped(t.label),
        seen[key].where))
    else
      seen[key] = t
      out[#out + 1] = t
    end
  end
  return out
end

---------------------------------------------------------------------------
-- A REV relative to each target's current revisions (-1, +2, branch@-1)
-- steps a database once per target that names it: two spellings of one
-- database (a host name and its address, schema=public and no schema, a
-- symlink to a SQLite file), which an absolute REV reaches once (the
-- second finds the work done), would be stepped twice. Such a fleet is
-- refused before anything runs: the parent asks each target what database
-- it is.

-- Whether rev is relative to the current revisions: Alembic's
-- [branch@][symbol](+|-)N without a symbol, matched as graph_target.c's
-- match_relative does ("head-1" or "ae10+2" name one revision whatever a
-- target's current one).
function M.relative_to_current(rev)
  local function tail(t)                              -- nil: not relative; else: without a symbol
    local symbol = t:match("^[%w_\128-\255]*")
    if not t:sub(#symbol + 1):match("^[+-]%d") then return nil end
    return symbol == ""
  end
  for at in rev:gmatch("()@") do
    if at > 1 then
      local relative = tail(rev:sub(at + 1))
      if relative ~= nil then return relative end
    end
  end
  return tail(rev) == true
end

-- What database (and schema) target t runs on, as a key, and as words for
-- a message; nil when that cannot be told (a PostgreSQL server not
-- reached: the target's run fails as it would anyway). SQLite: the file's
-- device and inode (a missing file: its directory's, and its name).
-- PostgreSQL: the server (its start time and port), the database's name
-- and oid (runner_database.pg_identity), and the schema the run uses: the
-- target's, else the session's current_schema() (where an unqualified
-- version table goes).
-- The first schema of conn's search_path, which current_schema() leaves
-- out while it does not exist (a run would create it): the name as
-- PostgreSQL reads it (quoted: as written; else folded to lower case;
-- $user: the role).
local function first_in_path(conn)
  local row = conn:query("SELECT current_setting('search_path') AS p, current_user AS u")[1]
  local p = row.p:match("^%s*(.*)$")
  if p:sub(1, 1) == '"' then
    local name, i = {}, 2
    while i <= #p do
      local c = p:sub(i, i)
      if c == '"' and p:sub(i + 1, i + 1) == '"' then name[#name + 1] = '"'; i = i + 2
      elseif c == '"' then break
      else name[#name + 1] = c; i = i + 1 end
    end
    return table.concat(name)
  end
  local name = p:match("^[^,]*"):match("^(.-)%s*$")
  return name == "$user" and row.u or name:lower()
end

local function database_of(t)
  local database = require "luamig.runner_database"
  local u = core.parse_url(t.url)
  if u.dialect == "sqlite" then
    local file = database.sqlite_file(u)
    if not file then return nil end                   -- :memory:: each connection its own
    local id = core.file_id(file)
    if not id then
      local dir, base = file:match("^(.*)/([^/]*)$")
      id = dir and core.file_id(dir == "" and "/" or dir)
      id = id and (id .. "/" .. base)
    end
    return id and ("sqlite\0" .. id), "the file " .. file
  end
  local ok, conn = pcall(core.connect, t.url)
  if not ok then return nil end
  local got, key, what = pcall(function()
    local d = database.pg_identity(conn)
    local schema = t.schema or conn:query("SELECT current_schema() AS s")[1].s or first_in_path(conn)
    return table.concat({"postgresql", d.started or "", d.port or "", d.name or "", d.oid or "", schema}, "\0"),
      ("the database %s, schema %s, on one server"):format(d.name, schema)
  end)
  conn:close()
  if not got then return nil end
  return key, what
end

-- Refuses (exit status 1) a command with the relative rev when two of the
-- targets are one database: running it would step that database twice.
function M.refuse_one_database_twice(targets, command, rev)
  local seen = {}
  for _, t in ipairs(targets) do
    local key, what = database_of(t)
    if key and seen[key] then
      fail(("fleet %s %s: %s and %s are one database (%s): a relative revision (%s) steps each target "
        .. "from where it is, so that database would be stepped once for each; list it once, or give "
        .. "an absolute revision (a revision id, head, base); nothing was run")
        :format(command, M.escaped(rev), seen[key].where, t.where, M.escaped(what), M.escaped(rev)))
    end
    if key then seen[key] = t end
  end
end

---------------------------------------------------------------------------
-- Data between the parent and its workers: Lua literals of strings,
-- numbers, booleans and tables, loaded with no environment.

local function literal(v)
  local kind = type(v)
  if kind == "string" then return (("%q"):format(v):gsub("\n", "n")) end
  if kind == "number" or kind == "boolean" or kind == "nil" then return tostring(v) end
  assert(kind == "table", kind)
  local parts = {}
  for k, x in pairs(v) do parts[#parts + 1] = ("[%s]=%s"):format(literal(k), literal(x)) end
  table.sort(parts)
  return "{" .. table.concat(parts, ",") .. "}"
end
M.literal = literal

function M.load_literal(text, what)
  local chunk, err = load("return " .. text, "=" .. what, "t", {})
  if not chunk then error(what .. ": " .. err, 0) end
  return chunk()
end

---------------------------------------------------------------------------
-- One target's run, in a worker: its revisions before and after, how long,
-- and the error (redacted) if it failed.

local function ids(list)
  local out = {}
  for i, info in ipairs(list) do out[i] = info.id end
  return out
end

-- Whether two lists of revisions hold the same ones (current lists them
-- oldest first, heads in the graph's order).
local function same(a, b)
  if #a ~= #b then return false end
  local set = {}
  for _, id in ipairs(a) do set[id] = true end
  for _, id in ipairs(b) do if not set[id] then return false end end
  return true
end

-- What a check or verify found, as one line.
local function verify_text(r)
  local parts = {}
  if #r.changed > 0 then parts[#parts + 1] = ("%d applied script(s) changed"):format(#r.changed) end
  if #r.unknown > 0 then parts[#parts + 1] = ("unknown revision(s) %s"):format(table.concat(r.unknown, ", ")) end
  if #r.duplicate > 0 then parts[#parts + 1] = ("%d duplicate version row(s)"):format(#r.duplicate) end
  return "verify: " .. table.concat(parts, "; ")
end

local actions = {
  -- as `luamig upgrade`: the lint first (lint_on_upgrade), its findings among the warnings
  upgrade = function(m, args, job, warnings)
    local target = args[1] or "head"
    require("luamig.cli.lint").before_upgrade({m = m, opts = {}, globals = {quiet = job.quiet}}, target,
      function(...) warnings[#warnings + 1] = (table.concat({...}):gsub("\n$", "")) end)
    return m:upgrade(target)
  end,
  downgrade = function(m, args) return m:downgrade(args[1]) end,
  -- as `luamig current`: a version row naming no script is an error
  current = function(m)
    for _, info in ipairs(m:current()) do
      if info.unknown then
        fail(("Can't locate revision identified by '%s' (a row of the version table): `luamig verify` "
          .. "lists such rows"):format(info.id))
      end
    end
  end,
  check = function(m)
    local r = m:check()
    if not r.ok then
      fail(("New upgrade operations detected: %d (`luamig check` on this target lists them)"):format(#r.operations))
    end
  end,
  verify = function(m)
    local r = m:verify()
    if not r.ok then fail(verify_text(r)) end
  end,
}

function M.run_one(job, t)
  local luamig = require "luamig"
  local started = core.monotonic()
  local r = {index = t.index, warnings = {}}
  local m, refused
  local ok, err = pcall(function()
    m = luamig.open{config = job.config, name = job.name, url = t.url, url_source = "a fleet target",
                    schema = t.schema, x = job.x, tag = job.tag,
                    log = function(level, msg)
                      if level ~= "INFO" then r.warnings[#r.warnings + 1] = msg end
                    end}
    -- a run that writes, on a server that cannot take writes (a standby, a
    -- read-only session), is refused first, as `luamig upgrade` refuses it:
    -- before the read below, which loads the scripts (runs their top level)
    if job.command == "upgrade" or job.command == "downgrade" then
      refused = true
      m:_check_writable(job.command)
      refused = false
    end
    r.before = ids(m:current())
    local steps = actions[job.command](m, job.args, job, r.warnings)
    -- what the run found under its lock (another run of the same database,
    -- under another spelling, may have moved it since the read above)
    if type(steps) == "table" and steps.start and not same(r.before, steps.start) then
      r.before = {table.unpack(steps.start)}
    end
    r.heads = ids(m:heads())
  end)
  if m then
    if not refused then                               -- refused: no script loaded, BEFORE and AFTER ?
      local got, after = pcall(function() return ids(m:current()) end)
      r.after = got and after or nil
    end
    m:close()
  end
  r.seconds = core.monotonic() - started
  if not ok then
    r.error = redact.text(type(err) == "table" and tostring(err.message) or tostring(err))
    r.status = "failed"
  elseif job.command == "upgrade" and same(r.before, r.after) then
    local target = job.args[1] or "head"
    r.status = (target == "head" or target == "heads") and same(r.after, r.heads)
      and "already at head" or "nothing to do"
  elseif job.command == "upgrade" then r.status = "upgraded"
  elseif job.command == "downgrade" then r.status = same(r.before, r.after) and "nothing to do" or "downgraded"
  else r.status = "ok" end
  r.heads = nil
  return r
end

-- Whether this worker's parent is gone (killed: this process was handed
-- to init or a subreaper) or asked every worker to stop.
local function told_to_stop(job)
  if core.ppid() ~= job.parent then return true end
  local stop = io.open(job.stop_file)
  local stopped = stop and stop:read(1)
  if stop then stop:close() end
  return stopped ~= nil
end

-- A worker: the targets of its job file, in turn, each announced in the
-- result file when it starts and answered there as soon as it ends.
function M.worker(path)
  local f = assert(io.open(path))
  local job = M.load_literal(f:read("a"), "the fleet job")
  f:close()
  os.remove(path)                                     -- it holds passwords; read once
  for _, t in ipairs(job.targets) do redact.learn(t.url) end
  local out = assert(io.open(job.result_file, "w"))
  for _, t in ipairs(job.targets) do
    if core.interrupted() then break end                -- Ctrl-C: its step was rolled back; no other target
    if told_to_stop(job) then break end
    out:write(literal{index = t.index, started = true}, "\n")
    out:flush()
    local r = M.run_one(job, t)
    if r.status == "failed" and not job.continue then
      local s = io.open(job.stop_file, "a")
      if s then s:write("stop\n") s:close() end
    end
    out:write(literal(r), "\n")
    out:flush()
  end
  out:close()
  if core.ppid() ~= job.parent then                   -- no parent to read or remove them
    for _, file in ipairs{job.result_file, job.err_file, job.stop_file} do os.remove(file) end
    return 1
  end
  return 0
end

---------------------------------------------------------------------------
-- The parent: N workers over the targets; every target's result, in the
-- targets' order (one never started: status "skipped").

local function sh(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end

-- This binary, for the workers: the running executable (Linux's
-- /proc/PID/exe, read by the worker's shell while this process lives).
local function self_exe()
  local path = ("/proc/%d/exe"):format(core.pid())
  local f = io.open(path)
  if f then f:close() return path end
  return "luamig"
end

-- Returns the results and the signal that came while the workers ran, if
-- any: Ctrl-C reaches the workers too (one process group), and each stops
-- as `luamig upgrade` does; this process holds the signal (the job files,
-- which hold passwords, are removed and the report printed), passes it on
-- through the stop file (for a worker it did not reach), and says so after.
function M.run(job, targets, jobs)
  core.trap_interrupts("hold")
  local ok, results = pcall(M._run, job, targets, jobs)
  local signal = core.trapped_signal()
  core.trap_interrupts(false)
  if not ok then error(results, 0) end
  return results, signal
end

-- Whether process pid has ended (a zombie not yet reaped, or gone).
local function ended(pid)
  if not pid then return true end                     -- unknown: close() waits for it
  local f = io.open(("/proc/%d/stat"):format(pid))
  if not f then return true end
  local stat = f:read("a") or ""
  f:close()
  return (stat:match("%)%s+(%a)") or "Z") == "Z"
end

-- Waits for every worker to end, polling: a signal held here meanwhile
-- (one the workers may not have got: SIGTERM to this pid alone) is passed
-- on through the stop file, so no worker starts another target.
local function wait_for(workers, stop_file)
  local told = false
  while true do
    local running = false
    for _, worker in ipairs(workers) do
      if not ended(worker.pid) then running = true break end
    end
    if not running then return end
    if not told and core.trapped_signal() then
      told = true
      local f = io.open(stop_file, "a")
      if f then f:write("interrupted\n") f:close() end
    end
    core.sleep(0.05)
  end
end

function M._run(job, targets, jobs)
  local n = math.min(jobs, #targets)
  local stop_file = os.tmpname()                      -- empty; a failing worker writes in it
  local workers = {}
  local exe = self_exe()
  for w = 1, n do
    local share = {}
    for i = w, #targets, n do
      local t = targets[i]
      share[#share + 1] = {index = i, url = t.url, schema = t.schema}
    end
    local job_file, err_file, result_file = os.tmpname(), os.tmpname(), os.tmpname()
    local f = assert(io.open(job_file, "w"))
    f:write(literal{config = job.config, name = job.name, x = job.x, tag = job.tag, quiet = job.quiet,
                    command = job.command, args = job.args, continue = job.continue, parent = core.pid(),
                    stop_file = stop_file, result_file = result_file, err_file = err_file, targets = share})
    f:close()
    -- the shell says its pid, which the worker keeps (exec)
    local p = assert(io.popen(("echo $$; exec %s fleet --worker %s >/dev/null 2>%s"):format(sh(exe),
      sh(job_file), sh(err_file)), "r"))
    workers[w] = {pipe = p, pid = math.tointeger(tonumber(p:read("l"))), job_file = job_file,
                  err_file = err_file, result_file = result_file, share = share}
  end
  wait_for(workers, stop_file)
  local results = {}
  for w, worker in ipairs(workers) do
    worker.pipe:read("a")
    local _, how, code = worker.pipe:close()           -- reaps the worker
    local started = {}
    local rf = io.open(worker.result_file)
    if rf then
      for line in rf:lines() do
        local ok, r = pcall(M.load_literal, line, "a fleet worker's answer")
        if ok and type(r) == "table" and math.type(r.index) == "integer" then
          if r.started then started[r.index] = true else results[r.index] = r end
        end
      end
      rf:close()
    end
    local ef = io.open(worker.err_file)
    local err_text = ef and ef:read("a") or ""
    if ef then ef:close() end
    for _, path in ipairs{worker.job_file, worker.err_file, worker.result_file} do os.remove(path) end
    -- a worker that died (a crash, a signal): the target it had started
    -- fails with what it said; the ones it never started are skipped
    if how ~= "exit" or code ~= 0 then
      local ended = how == "signal" and ("was killed by signal %s"):format(tostring(code))
        or ("ended with exit status %s"):format(tostring(code))
      for _, t in ipairs(worker.share) do
        if started[t.index] and not results[t.index] then
          results[t.index] = {index = t.index, status = "failed", warnings = {},
            error = ("the worker process running it %s%s"):format(ended,
              err_text ~= "" and (": " .. redact.text((err_text:gsub("%s+$", "")))) or "")}
        end
      end
    end
    workers[w] = nil
  end
  os.remove(stop_file)
  for i = 1, #targets do
    results[i] = results[i] or {index = i, status = "skipped", warnings = {}}
    results[i].target = targets[i]
  end
  return results
end

return M
