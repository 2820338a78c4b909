-- luamig.cli.lock -- `luamig lock status` and `luamig lock break --yes`:
-- the run lock for the operator (who holds it, since when, until when),
-- and breaking it when its holder is gone or stuck.
local json = require "luamig.json"
local common = require "luamig.cli.common"
local errors = require "luamig.errors"

local say = common.say

local M = {}
local function command(def) M[def.name] = def end

-- "run 3f2a... (db1 pid 42), since T, expires T (in 12.3 s), token 7"
local function lease_words(l)
  local left = l.row_locked_by and "past, row locked" or l.expired and "expired" or ("in %.1f s"):format((l.ms_left or 0) / 1000)
  return ("run %s (%s pid %s), since %s, expires %s (%s), token %d"):format(l.run_id, l.host or "?",
    tostring(l.pid or "?"), l.acquired_at or "?", l.expires_at or "?", left, l.token)
end

local function status(c)
  local st = c.m:lock_status()
  if c.globals.json then
    -- a standby cannot see the primary's advisory lock: not "held": false
    local advisory = st.standby and {visible = false} or st.advisory
    say(json.encode({strategy = st.strategy, advisory = advisory, standby = st.standby,
                     lease_offered = st.lease_offered,
                      lease = st.lease, lease_table = st.lease_table,
                      lease_version_table_max = st.lease_version_table_max}))
    return 0
  end
  say(("lock = %s (version table %s)"):format(st.strategy, c.m.settings.version_table))
  if st.standby then
    say("advisory: not visible here: the server is a read-only standby, and advisory locks are not "
      .. "replicated; ask the primary")
  else
    say("advisory: " .. (st.advisory.held and ("held by " .. st.advisory.holder) or "free"))
  end
  local l = st.lease
  if not st.lease_offered then
    say(("table: not offered on %s (its run lock is the file lock above)"):format(c.m:dialect() == "sqlite" and "SQLite" or c.m:dialect()))
  elseif st.lease_version_table_max then
    say(("table: version_table is too long for a lease table (%s would be cut; lock = \"table\" needs "
      .. "a version_table of %d bytes or fewer)"):format(st.lease_table, st.lease_version_table_max))
  elseif l == nil then
    say(("table: no lease table %s"):format(st.lease_table))
  elseif l.held and l.row_locked_by then
    say(("table: held by %s; past its expiry, but an open transaction (server pid %d) holds the "
      .. "lease row, so it cannot tell whether that run is alive (a run with "
      .. "transaction_per_migration = false keeps the row until it commits); no run can take the "
      .. "lease until that transaction ends"):format(lease_words(l), l.row_locked_by))
  elseif l.held then
    say(("table: %s by %s"):format(l.expired and "expired lease held" or "held", lease_words(l)))
  else
    say(("table: free (token %d%s)"):format(l.token, l.run_id
      and (", last held by run %s (%s pid %s)"):format(l.run_id, l.host or "?", tostring(l.pid or "?")) or ""))
  end
  return 0
end

-- break's outcome: text, or with --json {kind, broken, what}.
local function told(c, kind, what)
  if c.globals.json then
    say(json.encode({kind = kind, broken = what ~= nil, what = what}))
  else
    say(what or ("nothing to break: the %s lock is free"):format(kind == "table" and "table (lease)" or "advisory"))
  end
  return 0
end

local function break_lock(c)
  c.m:_check_writable("lock break")                   -- a standby shows a replayed lease, no advisory lock
  local st = c.m:lock_status()
  local kind = (c.opts.lock or st.strategy) == "table" and "table" or "advisory"
  if kind == "table" and not st.lease_offered then
    errors.fail(('lock = "table" is not offered on %s: there is no lease to break (its run lock is '
      .. 'the file lock, which `luamig lock status` shows)'):format(c.m:dialect() == "sqlite" and "SQLite" or c.m:dialect()))
  end
  if kind == "table" and st.lease_version_table_max then
    errors.fail(('version_table %q is too long for lock = "table" (%d bytes or fewer), so it has no '
      .. 'lease to break'):format(c.m.settings.version_table, st.lease_version_table_max))
  end
  local held = kind == "table" and st.lease and st.lease.held or kind == "advisory" and st.advisory.held
  if not held then return told(c, kind, nil) end
  if not c.opts.yes then
    local what = kind == "table" and ("free the lease of " .. lease_words(st.lease))
      or ("terminate the PostgreSQL session that holds the advisory lock (%s)"):format(st.advisory.holder)
    common.usage_error(c.command, "this would %s; add --yes to break it", what)
  end
  return told(c, kind, c.m:lock_break(kind))
end

command{
  name = "lock", args = {1, 1}, usage = "lock status|break [--yes]",
  summary = "Show who holds the migration lock, or break it (--yes).",
  details = "status: the advisory lock's holder (PostgreSQL: the server pid, from pg_locks; SQLite: the\n"
    .. "lock file's) and the lease of lock = \"table\" (run id, host, pid, since, expires, token);\n"
    .. "--json for a script. break: for the lock setting's strategy, terminates the session that\n"
    .. "holds the advisory lock, or frees the lease and moves its token on, so the holder's next\n"
    .. "renewal or version write fails; without --yes it says what it would break and exits 2.",
  options = {{nil, "--yes", key = "yes", help = "break: really break it"},
             {nil, "--lock-strategy", key = "lock", value = "S",
              help = "break: the lock to break, advisory or table (default: the lock setting's)"}},
  run = function(c)
    local sub = c.args[1]
    if c.opts.lock and c.opts.lock ~= "advisory" and c.opts.lock ~= "table" then
      common.usage_error(c.command, "--lock-strategy: advisory or table, not %s", common.quoted(c.opts.lock))
    end
    if sub == "status" then
      if c.opts.yes or c.opts.lock then
        common.usage_error(c.command, "%s: for lock break only", c.opts.yes and "--yes" or "--lock-strategy")
      end
      return status(c)
    end
    if sub == "break" then return break_lock(c) end
    common.usage_error(c.command, "unknown lock command %s: status or break", common.quoted(sub))
  end,
}

return M
