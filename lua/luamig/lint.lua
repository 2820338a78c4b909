-- luamig.lint -- `luamig lint`: the revisions of a range run through their
-- upgrade(op) with an offline op that records each call (op.new's
-- on_call, luamig.lint.record), and each call judged by the rules of
-- lint/locks.lua (PostgreSQL locks and rewrites: errors), lint/compat.lua
-- (renames and drops: warnings) and lint/meta.lua (raw SQL not judged,
-- SQLite rebuilds, markers). Nothing is executed; a database, when given,
-- is only read: which tables exist, column types, row counts.
--
--   local report = require("luamig.lint").run(runner, {range = "base:head",
--                                                    offline = true, target = "heads"})
--   report = {dialect, mode = "offline" | "database", range, revisions = {ids},
--             findings = {finding...}, ignored = {finding + reason...}, errors = n, warnings = n}
--   finding = {rule, severity, file, line, revision, op, table, column, name, note, why, safe,
--              rows (when the database says)}
--
-- Operations on a table created earlier in the same revision are not
-- judged. A table the database says holds at most SMALL rows turns a lock
-- or rewrite error into a warning (the lock is brief).
local core = require "luamig.core"
local check = require "luamig.op.check"
local record = require "luamig.lint.record"
local json = require "luamig.json"
check.mark_internal()

local M = {}
M.SMALL = 1000

local groups = {require "luamig.lint.locks", require "luamig.lint.compat", (require "luamig.lint.meta")}
M.rules, M.by_id = {}, {}
for _, g in ipairs(groups) do
  for _, rule in ipairs(g.rules) do M.rules[#M.rules + 1] = rule; M.by_id[rule.id] = rule end
end
-- the rules whose error is a lock or rewrite of the table's rows (the size threshold applies)
local SIZED = {["index-not-concurrent"] = true, ["not-null-existing-column"] = true,
  ["foreign-key-not-valid"] = true, ["check-not-valid"] = true, ["type-rewrite"] = true,
  ["volatile-default"] = true, ["unique-without-index"] = true, ["sqlite-rebuild"] = true}

-- The safe forms' option names (doc/op.md): a luamig.op that does not know
-- them yet refuses them; the lint still judges the call as written.
local NEWER = {postgresql_not_valid = true, not_valid = true, postgresql_using_index = true}

local function judge(d, st)
  local out = {}
  for _, g in ipairs(groups) do
    if g.judge then for _, f in ipairs(g.judge(d, st)) do out[#out + 1] = f end end
  end
  return out
end

---------------------------------------------------------------------------
-- Markers: -- luamig-lint: ignore RULE-ID: reason

local file_lines = {}
local function lines_of(path)
  if file_lines[path] == nil then
    local f = io.open(path, "r")
    local lines = false
    if f then
      lines = {}
      for l in f:lines() do lines[#lines + 1] = l end
      f:close()
    end
    file_lines[path] = lines
  end
  return file_lines[path] or nil
end

-- The Lua comments of a script (luamig.lint.comments): markers count only
-- there, not in strings (outside attack C, L5).
local file_comments = {}
local function comments_of(path)
  if file_comments[path] == nil then
    local lines = lines_of(path)
    if lines then
      local lc, block = require("luamig.lint.comments").comments(table.concat(lines, "\n"))
      file_comments[path] = {lc, block}
    else
      file_comments[path] = false
    end
  end
  return file_comments[path] or nil
end

-- The marker of a line comment's text (after "--"): {ids = {[id] = true}, reason =} or
-- {bad = why}, nil when none. "ignore A, B: reason" ignores both rules.
local function marker(comment)
  if not comment or not comment:lower():find("luamig%-lint:") then return nil end
  local rest = comment:match("^%s*luamig%-lint:(.*)$")
  if not rest then
    return {bad = 'a marker must be a line comment of its own, exactly "-- luamig-lint: ignore RULE-ID: reason"'}
  end
  local list, tail = rest:match("^%s*ignore%s+([%w%-]+[%w%-,%s]-)%s*(:.*)$")
  if not list then list, tail = rest:match("^%s*ignore%s+([%w%-]+[%w%-,%s]-)%s*()$"), "" end
  if not list then return {bad = 'not of the form "-- luamig-lint: ignore RULE-ID: reason"'} end
  local ids = {}
  for id in (list .. ","):gmatch("%s*([^,]-)%s*,") do
    if not id:match("^[%w%-]+$") then return {bad = ("bad rule list %q"):format(list)} end
    if not M.by_id[id] then
      return {bad = ("unknown rule id %q%s"):format(id, require("luamig.suggest").hint(id, M.ids()))}
    end
    ids[id] = true
  end
  local reason = tail:match("^:%s*(.-)%s*$")
  if not reason or reason == "" then return {bad = ("no reason given for ignoring %s"):format(list)} end
  if reason:lower():find("luamig%-lint") then return {bad = "two markers in one comment: give each its own line"} end
  return {ids = ids, reason = reason}
end

function M.ids()
  local ids = {}
  for i, rule in ipairs(M.rules) do ids[i] = rule.id end
  return ids
end

---------------------------------------------------------------------------
-- The run

local function q(conn, sql)
  local ok, rows = pcall(conn.query, conn, sql)
  return ok and rows or nil
end

function M.run(runner, opts)
  opts = opts or {}
  file_lines = {}                             -- the scripts as they are now (an embedder runs it again)
  local dialect = runner:dialect()
  -- The lint runs each upgrade(op) once, offline: on records of its own, dropped from the
  -- Runner's cache at once, so the run that follows loads every script afresh (a top-level
  -- iterator or counter the lint used up would otherwise feed the real run nothing).
  local records = runner:scripts(true)
  runner.records = nil
  local by_id = {}
  for _, r in ipairs(records) do by_id[r.revision] = r end
  local steps, conn
  local report = {dialect = dialect, mode = (opts.offline or opts.range) and "offline" or "database",
                  range = opts.range or opts.target or "heads", revisions = {}, findings = {}, ignored = {},
                  errors = 0, warnings = 0}
  if #records == 0 then return report end     -- nothing to lint (and nothing to plan)
  if opts.offline or opts.range then
    steps = runner:_run("upgrade", {target = opts.range or "heads", sql = true, plan = true})
  else
    steps = runner:plan("upgrade", opts.target or "heads")
    conn = runner:_read_connection()
  end

  -- What the database says, read once per table. On PostgreSQL each read waits for a lock at
  -- most ddl_lock_timeout (1s when off; outside attack C, M1): a table another session holds
  -- locked is "size unknown", not a hang before upgrade's own lock_timeout logic.
  local introspect = require "luamig.introspect"
  local db_tables, db_rows, locked = {}, {}, {}
  local wait_ms
  local function bounded(t, fn)
    if dialect ~= "postgresql" then return pcall(fn) end
    if not wait_ms then
      local ok, ms = pcall(require("luamig.lock_retry").timeout_ms, runner.settings.ddl_lock_timeout)
      wait_ms = (ok and type(ms) == "number" and ms > 0) and math.floor(ms) or 1000
    end
    local old = q(conn, "SELECT current_setting('lock_timeout') AS v")
    q(conn, ("SELECT set_config('lock_timeout', '%dms', false)"):format(wait_ms))
    local res = table.pack(pcall(fn))
    if old then q(conn, ("SELECT set_config('lock_timeout', '%s', false)"):format((tostring(old[1].v):gsub("'", "''")))) end
    local e = res[2]
    if not res[1] and ((type(e) == "table" and e.sqlstate == "55P03")
        or tostring(type(e) == "table" and e.message or e):find("lock timeout", 1, true)) then
      locked[t] = true
    end
    return table.unpack(res, 1, res.n)
  end
  -- The names of the schema's tables, read once, so that a table the range creates is not
  -- introspected (three catalogue queries each on PostgreSQL: a third of a 300-revision upgrade's
  -- time on a fresh database, bench/realhist; on SQLite 1,000 CREATE TABLEs spent 0.57 G
  -- instructions there). SQLite's names match in any case.
  local existing
  local fold = dialect == "sqlite" and string.lower or function(x) return x end
  local function exists(t)
    if existing == nil then
      local ok, names = pcall(introspect.table_names, conn)
      existing = false                        -- unread: ask introspect, as before
      if ok then
        existing = {}
        for _, name in ipairs(names) do existing[fold(name)] = true end
      end
    end
    if not existing or type(t) ~= "string" or t:find(".", 1, true) then return true end   -- as before
    return existing[fold(t)] == true
  end
  local function db_table(t)
    if not conn then return nil end
    if db_tables[t] == nil then
      if not exists(t) then
        db_tables[t] = false
      else
        local ok, m = bounded(t, function() return introspect.table(conn, t) end)
        db_tables[t] = ok and m or false
      end
    end
    return db_tables[t] or nil
  end
  local function rows(t)
    if not conn or not db_table(t) then return nil end
    if db_rows[t] == nil then
      local qt = core.quote_ident(t)
      local ok, r = bounded(t, function() return conn:query(dialect == "postgresql"
        and ("SELECT count(*) AS n FROM (SELECT 1 FROM %s LIMIT %d) s"):format(qt, M.SMALL + 1)
        or ("SELECT count(*) AS n FROM %s"):format(qt)) end)
      db_rows[t] = ok and r and tonumber(r[1].n) or false
    end
    return db_rows[t] or nil
  end
  local utc
  local function server_utc()
    if utc == nil then
      local r = conn and dialect == "postgresql" and q(conn, "SELECT current_setting('server_version_num')::int "
        .. ">= 120000 AND current_setting('TimeZone') IN ('UTC', 'Etc/UTC') AS ok")
      utc = r and (r[1].ok == true or r[1].ok == "t" or r[1].ok == 1) or false
    end
    return utc
  end

  local range_new, written = {}, {}           -- tables the range creates, and fills (M2)
  local known, seeded = {}, {}                -- the offline op's models (SQLite rebuilds need them)
  local rebuilt = false
  local rec, created, autocommit
  local segment = 0                           -- which transaction a call runs in (changes at each COMMIT)
  local st = {dialect = dialect, server_utc = server_utc, not_valid = {}}
  function st.existing(t) return not created[t:lower()] end
  function st.db_column_type(t, c)                -- the database's alone (M7)
    local m = db_table(t)
    for _, col in ipairs(m and m.columns or {}) do
      if col.name == c then return col.type end
    end
    return nil
  end
  -- H4: CHECK (c IS NOT NULL) added valid or validated earlier in the range, or valid in the database
  st.checks, st.proven = {}, {}
  local db_proven = {}
  function st.not_null_proven(t, c)
    if type(t) ~= "string" or type(c) ~= "string" then return false end
    if st.proven[t:lower() .. "." .. c:lower()] then return true end
    if not conn or dialect ~= "postgresql" or not db_table(t) then return false end
    if db_proven[t] == nil then
      db_proven[t] = {}
      local ok, rs = bounded(t, function() return conn:query("SELECT pg_get_constraintdef(c.oid) AS def "
        .. "FROM pg_constraint c WHERE c.conrelid = to_regclass($1) AND c.contype = 'c' AND c.convalidated",
        {core.quote_ident(t)}) end)
      for _, row in ipairs(ok and rs or {}) do
        local col = require("luamig.lint.locks").not_null_column((tostring(row.def):gsub("^CHECK%s*", "")))
        if col then db_proven[t][col] = true end
      end
    end
    return db_proven[t][c:lower()] == true
  end
  function st.segment() return segment end
  -- as the run decides it: a distributed engine's profile runs a revision
  -- without `transactional = ...` outside a transaction
  function st.in_transaction()
    return require("luamig.profile").transactional(rec, runner.settings.profile) == true and not autocommit
  end
  function st.column_type(t, c)
    local m = known[t] or db_table(t)
    for _, col in ipairs(m and m.columns or {}) do
      if col.name == c then return col.type end
    end
    return nil
  end

  local function where_of(where)
    local file, line = (where or ""):match("^(.*):(%d+)$")
    if file and rec.path and (file == rec.path or (file:sub(1, 3) == "..." and rec.path:sub(-(#file - 3)) == file:sub(4))) then
      file = rec.path
    end
    return file or rec.path, tonumber(line)
  end

  local function add(f, where)
    local rule = M.by_id[f.rule]
    local d = f.d or {}
    local file, line = where_of(where)
    if f.note and #f.note > 300 then f.note = f.note:sub(1, 297) .. "..." end
    local out = {rule = rule.id, severity = rule.severity, file = file, line = line, revision = rec.revision,
                 op = d.op, table = d.table, column = d.column, name = d.name, note = f.note, why = rule.why,
                 lock = rule.lock, safe = rule.safe(d)}
    if SIZED[rule.id] and d.table and st.existing(d.table) then
      -- the pending range itself (outside attack C, M2): rows written by an earlier call of the
      -- range make the database's count meaningless (unknown size: judged as big); a table the
      -- database lacks and an earlier revision of the range creates is new and empty when the run
      -- reaches it (PostgreSQL takes the lock on an empty, unused table for about a millisecond)
      local key = d.table:lower()
      if written[key] then
        out.note = out.note .. " (rows are written to it earlier in the range: size unknown)"
      elseif conn and range_new[key] and not db_table(d.table) and not locked[d.table] then
        out.rows = 0
        out.note = out.note .. " (created earlier in the range, not in the database yet)"
      else
        out.rows = rows(d.table)
      end
      if out.rows and rule.id == "sqlite-rebuild" then
        out.note = out.note .. (": %d rows would be copied"):format(out.rows)
      end
      if not out.rows and locked[d.table] then
        out.note = out.note .. " (size unknown: the table is locked by another session)"
      end
      if out.rows and out.rows <= M.SMALL and rule.severity == "error" then
        out.severity = "warning"
        out.note = out.note .. (" (the table has %d rows, at most %d: the lock is brief)"):format(out.rows, M.SMALL)
      end
    end
    -- a marker on the call's line or the line above silences this rule for this call
    local lines = file and line and lines_of(file)
    if lines and rule.id ~= "bad-marker" then
      for _, l in ipairs({line, line - 1}) do
        -- the line above counts when it is only the marker comment (not another call's)
        local cm = comments_of(file)
        local mk = cm and (l == line or (lines[l] or ""):match("^%s*%-%-")) and marker(cm[1][l])
        if mk and mk.ids and mk.ids[rule.id] and mk.reason then
          out.reason, out.marker_line = mk.reason, l
          report.ignored[#report.ignored + 1] = out
          return
        end
      end
    end
    report.findings[#report.findings + 1] = out
  end

  local function judge_all(d, where)
    -- IF NOT EXISTS may find the table there: no exemption for it (outside attack C, M5)
    if d.op == "create_table" and d.table and not (d.options or {}).if_not_exists then
      created[d.table:lower()], range_new[d.table:lower()] = true, true
    end
    if d.op == "dml" and type(d.table) == "string" and (d.options or {}).statement ~= "DELETE"
        and (d.options or {}).statement ~= "TRUNCATE" and (d.options or {}).statement ~= "UPDATE" then
      written[d.table:lower()] = true
    end
    for _, f in ipairs(judge(d, st)) do add(f, where) end
    for _, x in ipairs(record.expand(d)) do
      for _, f in ipairs(judge(x, st)) do
        f.note = ("add_column %q: %s"):format(d.column, f.note or "")
        add(f, where)
      end
    end
    if d.op == "rename_table" and d.table and created[d.table:lower()] and d.options.new_table then
      created[d.options.new_table:lower()] = true
    end
  end

  local function judge_sql(sql, where)
    local ok, mod = pcall(require, "luamig.lint.sql")
    local descs
    if ok and type(mod) == "table" and type(mod.classify) == "function" then
      local ok2, res = pcall(mod.classify, sql, dialect)
      if ok2 and type(res) == "table" then descs = res end
    end
    local text = (type(sql) == "string" and sql or ""):gsub("%s+", " "):sub(1, 80)
    if not descs then
      return add({rule = "execute-unjudged", d = {op = "execute"},
                  note = ("op.execute(%q): luamig.lint.sql, the SQL classifier, is not available"):format(text)}, where)
    end
    for _, d in ipairs(descs) do
      d.options = d.options or {}
      if d.op == "unjudged" then
        add({rule = "execute-unjudged", d = d, note = ("op.execute(%q): %s"):format(d.text or text, d.why or "not judged")}, where)
      else
        judge_all(d, where)
      end
    end
  end

  local function hook(name, args, where, f, batch_table)
    local opname = name:gsub("^batch%.", "")
    local full = args
    if batch_table then
      full = {n = args.n + 1}
      local at = record.POS[opname] and record.POS[opname].table or 1
      for i = 1, args.n + 1 do
        full[i] = i < at and args[i] or i == at and batch_table or args[i - 1]
      end
    end
    local d
    if opname == "autocommit_block" then
      segment, autocommit = segment + 1, true
      local ok, err = pcall(f, table.unpack(args, 1, args.n))
      segment, autocommit = segment + 1, false
      if not ok then error(err, 0) end
      return
    elseif opname == "bulk_insert" then
      -- rows are data, judged by no rule: not read here, so a seed's iterator is not run twice
      -- (a 1,000,000-row load took three times as long with the lint on upgrade reading it)
      local t = args[1]
      t = type(t) == "table" and (t.name or t[1]) or t
      if type(t) == "string" then written[t:lower()] = true end
      return type(args[2]) == "table" and #args[2] or 0  -- the count a run returns; unknown for an iterator
    elseif opname == "execute" then
      local sql = args[1]
      if type(sql) == "table" and sql.sql then sql = sql.sql end
      judge_sql(sql, where)
    else
      d = record.describe(opname, full)
      if d and d.table and dialect == "sqlite" and conn and not seeded[d.table] and not known[d.table] then
        seeded[d.table] = true
        local m = db_table(d.table)
        if m then known[d.table] = require("luamig.op.sqlite_model").copy(m) end
      end
      if d then judge_all(d, where) end
      if opname == "batch_alter_table" then d = {op = opname, table = args[1], options = {}} end
    end
    rebuilt = false
    local res = table.pack(pcall(f, table.unpack(args, 1, args.n)))
    local table_name = d and d.table
    if not res[1] then
      local msg = type(res[2]) == "table" and tostring(res[2].message) or tostring(res[2])
      if msg:find("this rebuilds table", 1, true) then rebuilt = true
      elseif NEWER[msg:match('unknown option "([%w_]+)"') or ""] then   -- luamig.op without them yet
      else
        add({rule = "not-linted", d = d or {op = opname}, note = ("%s failed offline: %s"):format(name, msg)}, where)
      end
    end
    if rebuilt and dialect == "sqlite" and table_name and st.existing(table_name) and name:sub(1, 6) ~= "batch." then
      add({rule = "sqlite-rebuild", d = d, note = ("%s rebuilds table %q"):format(opname, table_name)}, where)
    end
    if res[1] then return table.unpack(res, 2, res.n) end
  end

  local op = require("luamig.op").new{dialect = dialect, x = runner.x, tag = runner.tag,
    naming_convention = runner.settings.naming_convention, offline_schema = known, on_call = hook,
    emit = function(text) if text:find(require("luamig.op.sqlite_rebuild").temp_prefix, 1, true) then rebuilt = true end end}

  -- op.query / op.get_bind (outside attack C, H1): offline they return no rows, so the calls
  -- after them are still judged (a branch taken on their rows is judged as if no row came back);
  -- SQL run through the bind's exec is judged like op.execute's
  rawset(op, "query", function() return {}, {} end)
  local bind = {dialect = function() return dialect end, in_transaction = function() return true end,
                quote_ident = function(_, s) return '"' .. tostring(s):gsub('"', '""') .. '"' end}
  function bind.query() return {}, {} end
  function bind.exec(_, sql) judge_sql(sql, check.caller_line()) end
  rawset(op, "get_bind", function() return bind end)

  -- op.validate_constraint (the safe forms' op) recorded even where this op has none yet
  if rawget(op, "validate_constraint") == nil then
    rawset(op, "validate_constraint", function(...)
      return hook("validate_constraint", table.pack(...), check.caller_line(), function() end)
    end)
  end

  for _, step in ipairs(steps) do
    local r = step.direction == "upgrade" and by_id[step.revision]
    if r and not r.ghost then
      -- a transaction per revision (transaction_per_migration, the default), else one for the run
      rec, created, autocommit = r, {}, false
      if runner.settings.transaction_per_migration ~= false then segment = segment + 1 end
      report.revisions[#report.revisions + 1] = r.revision
      -- the markers of the script: wrong ones are findings
      local cm = r.path and comments_of(r.path)
      for i = 1, cm and #(lines_of(r.path) or {}) or 0 do
        local mk = marker(cm[1][i])
        if mk and mk.bad then
          add({rule = "bad-marker", d = {op = "marker"}, note = "luamig-lint marker: " .. mk.bad}, r.path .. ":" .. i)
        elseif cm[2][i] and cm[2][i]:lower():find("luamig%-lint") then
          add({rule = "bad-marker", d = {op = "marker"}, note = "luamig-lint marker: in a --[[ ]] block comment, "
            .. "which does not count: write it as a line comment \"-- luamig-lint: ignore RULE-ID: reason\""}, r.path .. ":" .. i)
        end
      end
      if type(r.upgrade) == "function" then
        local ok, err = core.call_script(r.upgrade, function(e) return e end, op)
        if not ok then
          local msg = type(err) == "string" and err or type(err) == "table" and type(err.message) == "string"
            and err.message or ("error object is a %s value"):format(type(err))
          local line = msg:match(":(%d+): ") or "0"
          add({rule = "not-linted", d = {op = "upgrade"}, note = "upgrade(op) failed offline: " .. msg}, r.path .. ":" .. line)
        end
      end
    end
  end
  for i, f in ipairs(report.findings) do f.seq = i end    -- errors first, else in the order found
  table.sort(report.findings, function(a, b)
    if (a.severity == "error") ~= (b.severity == "error") then return a.severity == "error" end
    return a.seq < b.seq
  end)
  for _, f in ipairs(report.findings) do
    if f.severity == "error" then report.errors = report.errors + 1 else report.warnings = report.warnings + 1 end
  end
  return report
end

---------------------------------------------------------------------------
-- Output

local function indent(text, pad) return pad .. text:gsub("\n", "\n" .. pad) end

-- control characters of a script's text shown as \ddd (a terminal is not driven by a revision;
-- outside attack C, L7); keep_nl keeps the safe form's line breaks
local function esc(v, keep_nl)
  return (tostring(v):gsub("%c", function(ch)
    if keep_nl and ch == "\n" then return ch end
    return ("\\%03d"):format(ch:byte())
  end))
end
M.esc = esc

function M.human(f)
  local lines = {("%s %s: %s:%s (revision %s)"):format(f.severity, f.rule, esc(f.file or "?"), f.line or "?",
                   esc(f.revision or "?")),
                 "  " .. esc(f.note or ""), "  why: " .. f.why, "  safe:", indent(esc(f.safe, true), "    ")}
  return table.concat(lines, "\n")
end

function M.summary(report)
  return ("%d error%s, %d warning%s, %d ignored by marker, in %d revision%s (%s, %s)"):format(
    report.errors, report.errors == 1 and "" or "s", report.warnings, report.warnings == 1 and "" or "s",
    #report.ignored, #report.revisions, #report.revisions == 1 and "" or "s", report.dialect,
    report.mode == "offline" and "offline" or "read from the database")
end

local FIELDS = {"rule", "severity", "file", "line", "revision", "op", "table", "column", "name", "note",
                "why", "lock", "safe", "rows", "reason"}
function M.json(report)
  local function list(fs)
    local out = {}
    for i, f in ipairs(fs) do
      local o = {}
      for _, k in ipairs(FIELDS) do o[k] = f[k] end
      out[i] = o
    end
    return #out > 0 and out or json.empty_array
  end
  return json.encode({version = 1, dialect = report.dialect, mode = report.mode,
    revisions = #report.revisions > 0 and report.revisions or json.empty_array,
    errors = report.errors, warnings = report.warnings,
    findings = list(report.findings), ignored = list(report.ignored)})
end

return M
