-- bench/bench.lua -- the benchmark driver: luamig, Alembic and the C floor
-- on the same generated projects and fresh databases, interleaved run by
-- run; medians, min-max, peak memory, ratios, and a markdown table.
--
-- Started by bench/run, which builds the helpers, starts a throwaway
-- PostgreSQL and passes everything in the environment:
--   BENCH_ROOT     the repository (for bench/gen.lua)
--   BENCH_TMP      scratch directory (projects, databases, outputs)
--   BENCH_LUAMIG   the luamig binary (a private copy of build/bin/luamig)
--   BENCH_HELPERS  directory with timeit, floor_sqlite, floor_pg
--   BENCH_PGHOST, BENCH_PGPORT   the throwaway server (unix socket dir, port)
--   BENCH_QUICK=1  the quick suite (smaller sizes, 3 runs)
--   BENCH_RUNS     runs per case (default 5, quick 3)
--   BENCH_ONLY     Lua patterns, comma-separated: only cases whose key matches one
--   BENCH_OUT      where to write the markdown report
--   BENCH_SAMPLES  where to write every sample (TSV)
--   BENCH_CANDIDATE  another luamig binary (a proposed change) run as a
--                  fourth tool in the same interleaving, reported beside
--                  luamig
-- Timings are never asserted; the report says which targets a run met.

local env = os.getenv
local ROOT, TMP = assert(env("BENCH_ROOT")), assert(env("BENCH_TMP"))
local LUAMIG, HELPERS = assert(env("BENCH_LUAMIG")), assert(env("BENCH_HELPERS"))
local PGHOST, PGPORT = env("BENCH_PGHOST"), env("BENCH_PGPORT")
local QUICK = env("BENCH_QUICK") == "1"
local RUNS = tonumber(env("BENCH_RUNS") or "") or (QUICK and 3 or 5)
local ONLY = env("BENCH_ONLY")
local ALEMBIC = env("BENCH_ALEMBIC") or "/usr/bin/alembic"
local TIMEIT = HELPERS .. "/timeit"
local CANDIDATE = env("BENCH_CANDIDATE")
if CANDIDATE == "" then CANDIDATE = nil end

---------------------------------------------------------------------------
-- Small helpers

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function argv_line(argv)
  local out = {}
  for i, a in ipairs(argv) do out[i] = q(a) end
  return table.concat(out, " ")
end

-- Run a shell command; returns its stdout, or raises with its output.
local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok, _, code = p:close()
  if not ok then error(("command failed (%s): %s\n%s"):format(tostring(code), cmd, out), 0) end
  return out
end

local function log(fmt, ...) io.stderr:write((fmt):format(...), "\n") io.stderr:flush() end

local function read_file(path)
  local f = io.open(path)
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

-- gen.lua's revision id of revision i.
local function rev(i) return ("%012x"):format(0xbe9c0000000 + i * 104729) end

local function thousands(n)
  local s = tostring(n)
  return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
end

---------------------------------------------------------------------------
-- Projects: generated once per (kind, n) into TMP/proj/<kind>-<n>.

local generated = {}
local function project(kind, n)
  local dir = ("%s/proj/%s-%d"):format(TMP, kind, n)
  if not generated[dir] then
    log("  generating %s project with %s into %s", kind, thousands(n), dir)
    sh(("lua5.4 %s %s %d %s"):format(q(ROOT .. "/bench/gen.lua"), kind, n, q(dir)))
    -- warm up, untimed: the page cache for both trees, and Alembic's
    -- __pycache__ (compiled once per script, as on any second run)
    sh(("cd %s && %s heads >/dev/null"):format(q(dir .. "/luamig"), q(LUAMIG)))
    sh(("cd %s && %s heads >/dev/null"):format(q(dir .. "/alembic"), q(ALEMBIC)))
    generated[dir] = true
  end
  return dir
end

---------------------------------------------------------------------------
-- Databases. Each tool gets its own fresh database before every timed run.

local db = {}

function db.sqlite_path(tool) return ("%s/db/%s.db"):format(TMP, tool) end

function db.fresh_sqlite(tool)
  local p = db.sqlite_path(tool)
  os.remove(p)
  os.remove(p .. "-journal")
  os.remove(p .. "-wal")
  return p
end

local function psql(dbname, sql, tuples)
  return sh(("psql -X -q %s -v ON_ERROR_STOP=1 -h %s -p %s -U postgres -d %s -c %s"):format(
    tuples and "-At" or "", q(PGHOST), q(PGPORT), q(dbname), q(sql)))
end

function db.pg_name(tool) return "bench_" .. tool end

function db.fresh_pg(tool)
  local name = db.pg_name(tool)
  psql("postgres", ('DROP DATABASE IF EXISTS "%s"'):format(name))
  psql("postgres", ('CREATE DATABASE "%s"'):format(name))
  return name
end

-- The URL or connection string each tool takes for a database.
local function url_for(tool, dbkind, where)
  if dbkind == "sqlite" then
    if tool == "alembic" then return "sqlite:///" .. where end   -- where is absolute
    if tool == "floor" then return where end
    return "sqlite:" .. where
  end
  if tool == "alembic" then
    return ("postgresql+psycopg2://postgres@/%s?host=%s&port=%s"):format(where, PGHOST, PGPORT)
  elseif tool == "floor" then
    return ("host=%s port=%s user=postgres dbname=%s"):format(PGHOST, PGPORT, where)
  end
  return ("postgresql://postgres@/%s?host=%s&port=%s"):format(where, PGHOST, PGPORT)
end

-- One query's text result on a tool's database.
local function query(dbkind, where, sql)
  if dbkind == "sqlite" then return sh(("sqlite3 %s %s"):format(q(where), q(sql))) end
  return psql(where, sql, true)
end

---------------------------------------------------------------------------
-- Timing: bench/floor/timeit runs the command (no shell) and reports wall
-- seconds, peak RSS (KiB) and exit status.

local function timed(argv, dir, out_path)
  local err_path = TMP .. "/last.err"
  local line = sh(("%s -o %s -e %s -d %s -- %s"):format(TIMEIT, q(out_path or "/dev/null"),
    q(err_path), q(dir or TMP), argv_line(argv)))
  local wall, rss, code = line:match("^(%S+) (%S+) (%S+)")
  return tonumber(wall), tonumber(rss), tonumber(code), err_path
end

---------------------------------------------------------------------------
-- Cases. Each has a key, a title, the tools it runs, and for each tool a
-- prepare(run) -> argv, dir, out and a check(out) that raises when the
-- work was not done (so a fast wrong answer cannot win).

local cases = {}
-- With a candidate binary, every case runs it too: luamig's spec with the
-- binary swapped and a database of its own.
local function selected(key)
  if not ONLY then return true end
  for pat in ONLY:gmatch("[^,]+") do if key:match(pat) then return true end end
  return false
end

local function case(c)
  if not selected(c.key) then return end
  if CANDIDATE then
    table.insert(c.tools, 2, "candidate")
    c.candidate = function(tool)
      local spec = c.luamig(tool)
      spec.argv[1] = CANDIDATE
      return spec
    end
  end
  cases[#cases + 1] = c
end

local function luamig_argv(...)
  local a = {LUAMIG}
  for _, v in ipairs{...} do a[#a + 1] = v end
  return a
end

local function alembic_argv(...)
  local a = {ALEMBIC}
  for _, v in ipairs{...} do a[#a + 1] = v end
  return a
end

-- Start-up: the command that does least.
case{
  key = "startup", title = "start-up: `--version`",
  tools = {"luamig", "alembic"},
  luamig = function() return {argv = luamig_argv("--version"), dir = TMP} end,
  alembic = function() return {argv = alembic_argv("--version"), dir = TMP} end,
}

-- current: the database at head, made once (untimed) by each tool's stamp.
do
  local n = 1000
  local stamped = {}
  local function at_head(tool, dir)
    local path = ("%s/db/current-%s.db"):format(TMP, tool)
    if not stamped[tool] then
      os.remove(path)
      if tool ~= "alembic" then
        sh(("cd %s && %s --url %s stamp head"):format(q(dir .. "/luamig"), q(LUAMIG), q(url_for(tool, "sqlite", path))))
      else
        sh(("cd %s && %s -x url=%s stamp head"):format(q(dir .. "/alembic"), q(ALEMBIC), q(url_for(tool, "sqlite", path))))
      end
      stamped[tool] = true
    end
    return path
  end
  local function check_current(out) assert(read_file(out):find(rev(n), 1, true), "current did not print the head") end
  case{
    key = "current-1k", title = ("`current`, %s revisions at head (SQLite)"):format(thousands(n)),
    tools = {"luamig", "alembic"},
    targets = {{"vs_alembic", 20}},
    luamig = function(tool)
      local dir = project("tables", n)
      return {argv = luamig_argv("--url", url_for(tool, "sqlite", at_head(tool, dir)), "current"),
              dir = dir .. "/luamig", capture = true, check = check_current}
    end,
    alembic = function()
      local dir = project("tables", n)
      return {argv = alembic_argv("-x", "url=" .. url_for("alembic", "sqlite", at_head("alembic", dir)), "current"),
              dir = dir .. "/alembic", capture = true, check = check_current}
    end,
  }
end

-- history: no database.
for _, n in ipairs(QUICK and {1000, 5000, 10000} or {1000, 5000, 10000, 50000}) do
  local function check(out)
    local lines = select(2, read_file(out):gsub("\n", "\n"))
    assert(lines == n, ("history printed %d lines, not %d"):format(lines, n))
  end
  local targets = {}
  if n == 1000 then targets = {{"vs_alembic", 20}} end
  if n == 5000 then targets = {{"scale", "history-1k", 5}} end
  if n == 10000 then targets = {{"abs", 0.15}, {"scale", "history-1k", 10}} end
  if n == 50000 then targets = {{"scale", "history-1k", 50}} end
  case{
    key = ("history-%dk"):format(n // 1000), title = ("`history`, %s revisions"):format(thousands(n)),
    tools = {"luamig", "alembic"}, targets = targets, max_runs = n == 50000 and 3 or nil,
    luamig = function()
      return {argv = luamig_argv("history"), dir = project("tables", n) .. "/luamig", capture = true, check = check}
    end,
    alembic = function()
      return {argv = alembic_argv("history"), dir = project("tables", n) .. "/alembic", capture = true, check = check}
    end,
  }
end

-- upgrade head: kind ("tables" or "columns"), n revisions, on a database,
-- one transaction ("tx") or one per revision ("step").
local function upgrade_case(kind, n, dbkind, mode, targets, max_runs)
  local what = kind == "tables" and ("%s CREATE TABLE revisions"):format(thousands(n))
            or ("one table gaining %s columns"):format(thousands(n - 1))
  local dbname = dbkind == "sqlite" and "SQLite" or "PostgreSQL"
  local title = ("`upgrade head`, %s, %s, %s"):format(what,
    mode == "tx" and "one transaction" or "one transaction per revision", dbname)
  local function fresh(tool)
    if dbkind == "sqlite" then return db.fresh_sqlite(tool) end
    return db.fresh_pg(tool)
  end
  local function checker(tool, where)
    local vt = tool == "alembic" and "alembic_version" or "luamig_version"
    return function()
      local got = query(dbkind, where, "SELECT version_num FROM " .. vt)
      assert(got:match("^%s*(.-)%s*$") == rev(n), ("%s: version table holds %q, not %s"):format(tool, got, rev(n)))
      local probe = kind == "tables" and ('SELECT count(*) FROM "t%05d"'):format(n)
                 or ('SELECT count("c%05d") FROM "wide"'):format(n)
      query(dbkind, where, probe)
    end
  end
  case{
    key = ("upgrade-%s-%d-%s-%s"):format(kind, n, dbkind, mode),
    title = title, tools = {"luamig", "alembic", "floor"}, targets = targets, max_runs = max_runs,
    luamig = function(tool)
      local where = fresh(tool)
      return {argv = luamig_argv("-c", mode == "tx" and "luamig-onetx.lua" or "luamig.lua",
                                 "--url", url_for(tool, dbkind, where), "upgrade", "head"),
              dir = project(kind, n) .. "/luamig", check = checker(tool, where)}
    end,
    alembic = function()
      local where = fresh("alembic")
      return {argv = alembic_argv("-x", "url=" .. url_for("alembic", dbkind, where),
                                  "-x", "tpm=" .. (mode == "tx" and "0" or "1"), "upgrade", "head"),
              dir = project(kind, n) .. "/alembic", check = checker("alembic", where)}
    end,
    floor = function()
      local where = fresh("floor")
      return {argv = {HELPERS .. (dbkind == "sqlite" and "/floor_sqlite" or "/floor_pg"),
                      url_for("floor", dbkind, where), kind, tostring(n), mode},
              dir = TMP, check = checker("floor", where)}
    end,
  }
end

local function bulk_case(n, dbkind, targets, baseline)
  local dbname = dbkind == "sqlite" and "SQLite" or "PostgreSQL"
  local function fresh(tool)
    if dbkind == "sqlite" then return db.fresh_sqlite(tool) end
    return db.fresh_pg(tool)
  end
  local function checker(where)
    return function()
      local got = query(dbkind, where, 'SELECT count(*), sum("id") FROM "items"')
      local count = tonumber(got:match("^%s*(%d+)"))
      assert(count == n, ("items holds %s rows, not %d"):format(got, n))
    end
  end
  case{
    key = ("bulk-%s-%s"):format(baseline and "base" or tostring(n), dbkind),
    title = ("bulk_insert %s rows (id, varchar, float) from a loop, %s"):format(thousands(n), dbname),
    tools = {"luamig", "alembic", "floor", "lua_floor"}, targets = targets, rows = n, baseline = baseline,
    luamig = function(tool)
      local where = fresh(tool)
      return {argv = luamig_argv("--url", url_for(tool, dbkind, where), "upgrade", "head"),
              dir = project("bulk", n) .. "/luamig", check = checker(where)}
    end,
    alembic = function()
      local where = fresh("alembic")
      return {argv = alembic_argv("-x", "url=" .. url_for("alembic", dbkind, where), "upgrade", "head"),
              dir = project("bulk", n) .. "/alembic", check = checker(where)}
    end,
    floor = function()
      local where = fresh("floor")
      return {argv = {HELPERS .. (dbkind == "sqlite" and "/floor_sqlite" or "/floor_pg"),
                      url_for("floor", dbkind, where), "bulk", tostring(n), "tx"},
              dir = TMP, check = checker(where)}
    end,
    -- the Lua floor: the migration's row source alone, in plain lua5.4 (it checks its count)
    lua_floor = function()
      return {argv = {"lua5.4", project("bulk", n) .. "/rows.lua"}, dir = TMP}
    end,
  }
end

-- One transaction: 1,000 and 5,000 revisions (the 5,000 cases at most 3
-- runs: Alembic takes 15 s and more per run). One per revision (a commit,
-- hence an fsync, each): 1,000 revisions; --quick: 200, so that the quick
-- suite stays under five minutes on a busy disk.
local tx_sizes = QUICK and {1000} or {1000, 5000}
local step_sizes = QUICK and {200} or {1000}
for _, dbkind in ipairs{"sqlite", "postgresql"} do
  for _, n in ipairs(tx_sizes) do
    upgrade_case("tables", n, dbkind, "tx", {{"vs_floor", dbkind == "sqlite" and 2 or 1.3}}, n >= 5000 and 3 or nil)
  end
  for _, n in ipairs(step_sizes) do
    upgrade_case("tables", n, dbkind, "step", {{"vs_floor", 1.2}})
  end
end
local columns = QUICK and 300 or 1000
upgrade_case("columns", columns, "sqlite", "tx", {})
upgrade_case("columns", columns, "postgresql", "tx", {})

local rows = QUICK and 200000 or 1000000
bulk_case(1000, "sqlite", {}, true)
bulk_case(rows, "sqlite", {{"vs_floor", 1.5}, {"vs_floors", 1.2}, {"rss", 30 * 1024},
                           {"growth", "bulk-base-sqlite", 20 * 1024}, {"vs_alembic", 5}})
bulk_case(1000, "postgresql", {}, true)
bulk_case(rows, "postgresql", {{"vs_floor", 1.5}, {"vs_floors", 1.2}, {"rss", 30 * 1024},
                               {"growth", "bulk-base-postgresql", 20 * 1024}, {"vs_alembic", 15}})

---------------------------------------------------------------------------
-- Start-up checks: what a command must not load (scripts, a connection).
-- Not timings: pass or fail.

local checks = {}
local function startup_checks()
  local dir = TMP .. "/startup"
  sh("rm -rf " .. q(dir))
  sh(("lua5.4 %s tables 3 %s"):format(q(ROOT .. "/bench/gen.lua"), q(dir)))
  local proj = dir .. "/luamig"
  local marker = dir .. "/loaded"
  -- a script that leaves a marker when it is loaded
  local f = assert(io.open(proj .. "/migrations/versions/zzzz_marker.lua", "w"))
  f:write(("io.open(%q, 'w'):close()\nrevision = 'ffffffffffff'\ndown_revision = %q\n"
    .. "message = 'marker'\nfunction upgrade(op) end\nfunction downgrade(op) end\n"):format(marker, rev(3)))
  f:close()
  local function loads(argv)
    os.remove(marker)
    local _, _, code = timed(argv, proj)
    return exists(marker), code
  end
  local loaded, code = loads(luamig_argv("--version"))
  checks[#checks + 1] = {"`luamig --version` loads no migration script", not loaded and code == 0}
  os.remove(marker)
  local init_dir = dir .. "/init"
  sh("mkdir -p " .. q(init_dir))
  sh(("cp -r %s/migrations %s/"):format(q(proj), q(init_dir)))
  local _, _, icode = timed(luamig_argv("init", "other"), init_dir)
  checks[#checks + 1] = {"`luamig init` loads no migration script", not exists(marker) and icode == 0}
  -- a URL that cannot be connected to: a command that connects fails
  local bad = "postgresql://nobody@127.0.0.1:1/nowhere?connect_timeout=2"
  for _, cmd in ipairs{{"history"}, {"heads"}, {"show", rev(2)}, {"branches"}} do
    local argv = luamig_argv("--url", bad)
    for _, a in ipairs(cmd) do argv[#argv + 1] = a end
    local _, _, c = timed(argv, proj)
    checks[#checks + 1] = {("`luamig %s` needs no database connection"):format(table.concat(cmd, " ")), c == 0}
  end
  local argv = luamig_argv("--url", bad, "current")
  local _, _, c = timed(argv, proj)
  checks[#checks + 1] = {"(control) `luamig current` with that URL fails, as it must connect", c ~= 0}
end

---------------------------------------------------------------------------
-- Run: every case, runs interleaved: in run r the tools go in a rotated
-- order, so drift in the machine's load falls on all of them alike.

local results = {}          -- key -> tool -> {walls = {}, rss = {}}
local samples = {}

local function rotate(list, k)
  local out = {}
  for i = 1, #list do out[i] = list[(i - 1 + k) % #list + 1] end
  return out
end

local function run_case(c)
  local runs = math.min(RUNS, c.max_runs or RUNS)
  log("case %s: %s (%d runs)", c.key, c.title, runs)
  local res = {}
  for _, tool in ipairs(c.tools) do res[tool] = {walls = {}, rss = {}} end
  results[c.key] = res
  for r = 1, runs do
    local line = {}
    for _, tool in ipairs(rotate(c.tools, r - 1)) do
      local ok, err = pcall(function()
        local spec = c[tool](tool)
        local out = spec.capture and (TMP .. "/last.out") or nil
        local wall, rss, code, err_path
        for attempt = 1, 3 do                 -- exit 126/127: the binary was being replaced
          wall, rss, code, err_path = timed(spec.argv, spec.dir, out)
          if code ~= 126 and code ~= 127 then break end
          os.execute("sleep 1")
        end
        if code ~= 0 then
          error(("%s exited with %d: %s"):format(tool, code, read_file(err_path):sub(-1500)), 0)
        end
        if spec.check then spec.check(out) end
        table.insert(res[tool].walls, wall)
        table.insert(res[tool].rss, rss)
        samples[#samples + 1] = table.concat({c.key, tool, r, ("%.6f"):format(wall), rss}, "\t")
        line[#line + 1] = ("%s %.3fs %dMB"):format(tool, wall, rss // 1024)
      end)
      if not ok then
        res[tool].error = tostring(err)
        log("    %s FAILED: %s", tool, tostring(err))
      end
    end
    log("    run %d: %s", r, table.concat(line, ", "))
  end
end

---------------------------------------------------------------------------
-- Report

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

local function minmax(t)
  local lo, hi = math.huge, -math.huge
  for _, v in ipairs(t) do lo = math.min(lo, v) hi = math.max(hi, v) end
  return lo, hi
end

local function secs(v)
  if v >= 10 then return ("%.1f"):format(v) end
  if v >= 1 then return ("%.2f"):format(v) end
  if v >= 0.1 then return ("%.3f"):format(v) end
  return ("%.4f"):format(v)
end

local function mb(kib) return ("%.0f MB"):format(kib / 1024) end

local function cell(r)
  if not r then return "n/a" end
  if r.error then return "failed" end
  local m = median(r.walls)
  if not m then return "n/a" end
  local lo, hi = minmax(r.walls)
  return ("%s s (%s–%s), %s"):format(secs(m), secs(lo), secs(hi), mb((select(2, minmax(r.rss)))))
end

local function med(key, tool)
  local r = results[key] and results[key][tool]
  return r and not r.error and median(r.walls) or nil
end

local function peak(key, tool)
  local r = results[key] and results[key][tool]
  if not r or r.error or #r.rss == 0 then return nil end
  return select(2, minmax(r.rss))
end

-- Each target: its text and whether this run met it (nil: not measured).
local function judge(c, t, who)
  who = who or "luamig"
  local lm = med(c.key, who)
  if t[1] == "vs_alembic" then
    local a = med(c.key, "alembic")
    return ("≥ %g× faster than Alembic"):format(t[2]), lm and a and a / lm >= t[2]
  elseif t[1] == "vs_floor" then
    local f = med(c.key, "floor")
    return ("≤ %g× the floor"):format(t[2]), lm and f and lm / f <= t[2]
  elseif t[1] == "vs_floors" then                     -- the database floor plus the Lua floor
    local f, r = med(c.key, "floor"), med(c.key, "lua_floor")
    return ("≤ %g× the floor + the Lua floor"):format(t[2]), lm and f and r and lm / (f + r) <= t[2]
  elseif t[1] == "abs" then
    return ("< %g s"):format(t[2]), lm and lm < t[2]
  elseif t[1] == "scale" then
    local base = med(t[2], who)
    local ratio = lm and base and lm / base
    return ("≤ %g× the 1,000 case (is %s×)"):format(t[3], ratio and ("%.1f"):format(ratio) or "?"),
      ratio and ratio <= t[3]
  elseif t[1] == "rss" then
    local p = peak(c.key, who)
    return ("peak < %s"):format(mb(t[2])), p and p < t[2]
  elseif t[1] == "growth" then
    local p, b = peak(c.key, who), peak(t[2], who)
    local g = p and b and p - b
    return ("growth < %s (is %s)"):format(mb(t[3]), g and mb(g) or "?"), g and g < t[3]
  end
end

local function ratio_text(a, b)
  if not a or not b then return "–" end
  return ("%.1f×"):format(a / b)
end

local function report(meta)
  local out = {}
  local function add(s) out[#out + 1] = s end
  add("# luamig against Alembic and the C floor")
  add("")
  add("Written by `make bench` (bench/run); bench/README.md says what is measured and how. Ratios "
    .. "compare medians of the same run only.")
  add("")
  add(("Run: started %s, %s, %d runs per case%s (medians; min–max in parentheses; memory: peak RSS of the "
    .. "command's process)."):format(meta.date, QUICK and "`--quick`" or "full suite", RUNS,
    QUICK and "" or " (at most 3 for the 5,000-revision upgrades and the 50,000-revision history)"))
  add("")
  add(("Machine: %s. Load before the run: %s. %s"):format(meta.machine, meta.load, meta.versions))
  add("")
  add("| work | luamig | Alembic | C floor | Alembic/luamig | luamig/floor | target | met |")
  add("|---|---|---|---|---|---|---|---|")
  for _, c in ipairs(cases) do
    local res = results[c.key]
    if res then
      local lm, a, f = med(c.key, "luamig"), med(c.key, "alembic"), med(c.key, "floor")
      local tt, met = {}, {}
      for _, t in ipairs(c.targets or {}) do
        local text, ok = judge(c, t)
        tt[#tt + 1] = text
        met[#met + 1] = ok == nil and "?" or ok and "yes" or "**no**"
      end
      add(("| %s | %s | %s | %s | %s | %s | %s | %s |"):format(c.title, cell(res.luamig), cell(res.alembic),
        cell(res.floor), ratio_text(a, lm), ratio_text(lm, f),
        #tt > 0 and table.concat(tt, "; ") or "–", #met > 0 and table.concat(met, "; ") or "–"))
    end
  end
  if CANDIDATE then
    add("")
    add(("Candidate build `%s`, run in the same interleaving:"):format(CANDIDATE))
    add("")
    add("| work | luamig | candidate | candidate/luamig | Alembic/candidate | candidate/floor | target | met |")
    add("|---|---|---|---|---|---|---|---|")
    for _, c in ipairs(cases) do
      local res = results[c.key]
      if res and res.candidate then
        local lm, cd = med(c.key, "luamig"), med(c.key, "candidate")
        local a, f = med(c.key, "alembic"), med(c.key, "floor")
        local tt, met = {}, {}
        for _, t in ipairs(c.targets or {}) do
          local text, ok = judge(c, t, "candidate")
          tt[#tt + 1] = text
          met[#met + 1] = ok == nil and "?" or ok and "yes" or "**no**"
        end
        add(("| %s | %s | %s | %s | %s | %s | %s | %s |"):format(c.title, cell(res.luamig), cell(res.candidate),
          ratio_text(cd, lm), ratio_text(a, cd), ratio_text(cd, f),
          #tt > 0 and table.concat(tt, "; ") or "–", #met > 0 and table.concat(met, "; ") or "–"))
      end
    end
  end
  -- rows per second for the bulk loads
  local lines = {}
  for _, c in ipairs(cases) do
    if c.rows and not c.baseline and results[c.key] then
      local parts = {}
      for _, tool in ipairs{"luamig", "alembic", "floor"} do
        local m = med(c.key, tool)
        if m then parts[#parts + 1] = ("%s %s rows/s"):format(tool, thousands(math.floor(c.rows / m + 0.5))) end
      end
      lines[#lines + 1] = ("- %s: %s"):format(c.title, table.concat(parts, ", "))
    end
  end
  if #lines > 0 then
    add("")
    add("Bulk load rates (rows / median time):")
    add("")
    for _, l in ipairs(lines) do add(l) end
  end
  -- the bulk loads against both floors: how far from the database's limit, and from what a
  -- Lua row source costs on its own (bench/README.md: "The floors")
  local floors = {}
  for _, c in ipairs(cases) do
    local f, r, lm = med(c.key, "floor"), med(c.key, "lua_floor"), med(c.key, "luamig")
    if c.rows and results[c.key] and f and r and lm then
      floors[#floors + 1] = ("| %s | %s | %s | %s | %s s | %s | %s |"):format(c.title, cell(results[c.key].luamig),
        cell(results[c.key].floor), cell(results[c.key].lua_floor), secs(f + r), ratio_text(lm, f), ratio_text(lm, f + r))
    end
  end
  if #floors > 0 then
    add("")
    add("Bulk loads against the floors (database floor: the C program; Lua floor: the migration's row "
      .. "source alone in lua5.4):")
    add("")
    add("| work | luamig | database floor (C) | Lua floor (rows) | database + Lua | luamig/database | luamig/(database + Lua) |")
    add("|---|---|---|---|---|---|---|")
    for _, l in ipairs(floors) do add(l) end
  end
  if #checks > 0 then
    add("")
    add("Start-up checks (what a command must not load):")
    add("")
    for _, ch in ipairs(checks) do add(("- %s: %s"):format(ch[1], ch[2] and "yes" or "**NO**")) end
  end
  return table.concat(out, "\n") .. "\n"
end

---------------------------------------------------------------------------

local t0 = os.time()
local started = os.date("!%Y-%m-%d %H:%M UTC")
sh(("mkdir -p %s/db %s/proj"):format(q(TMP), q(TMP)))
if selected("startup-checks") then
  local ok, err = pcall(startup_checks)
  if not ok then log("start-up checks failed to run: %s", tostring(err)) end
end
for _, c in ipairs(cases) do run_case(c) end

local meta = {
  date = started,
  machine = env("BENCH_MACHINE") or "?",
  load = env("BENCH_LOAD") or "?",
  versions = env("BENCH_VERSIONS") or "",
}
local text = report(meta)
io.write("\n", text)
if env("BENCH_OUT") then
  -- keep the section bench/lock_load/run writes into the same file
  local kept = ""
  local old = io.open(env("BENCH_OUT"))
  if old then
    local s = old:read("a")
    old:close()
    local at = s:find("\n## Lock waits", 1, true)
    if at then kept = "\n" .. s:sub(at + 1) end
  end
  local f = assert(io.open(env("BENCH_OUT"), "w"))
  f:write(text, kept)
  f:close()
end
if env("BENCH_SAMPLES") then
  local f = assert(io.open(env("BENCH_SAMPLES"), "w"))
  f:write("case\ttool\trun\twall_s\tpeak_rss_kib\n", table.concat(samples, "\n"), "\n")
  f:close()
end
log("bench: %d s", os.time() - t0)
