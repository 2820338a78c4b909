-- luamig.writable -- refuse a run that writes (upgrade, downgrade, stamp)
-- on a PostgreSQL server that cannot take writes, before anything is sent:
-- a hot standby (pg_is_in_recovery()) or a session that is read-only by
-- default (default_transaction_read_only = on, from the server's config,
-- ALTER DATABASE/ROLE ... SET, or PGOPTIONS). Without this the run would
-- fail at its first write (the version table, or the run lock's), with
-- PostgreSQL's "cannot execute ... in a read-only transaction". Commands
-- that only read (current, history, check) do not call it.
local fail = require("luamig.errors").fail

local M = {}

-- Raise a clear error when conn (PostgreSQL) cannot take the writes of a
-- `kind` run ("upgrade", "downgrade", "stamp").
function M.check(conn, kind)
  local row = conn:query([[SELECT pg_is_in_recovery()::text AS standby,
    current_setting('default_transaction_read_only') AS read_only]])[1]
  if row.standby == "true" then
    fail(("the server is a read-only standby; %s (pg_is_in_recovery() "
      .. "is true: it replays the primary's changes and takes no writes); nothing of the %s was run")
      :format(kind == "lock break" and "break the lock on the primary" or "run migrations against the primary", kind))
  end
  if row.read_only == "on" then
    fail(("the session is read-only (default_transaction_read_only = on, set in the server's "
      .. "configuration, by ALTER DATABASE or ALTER ROLE ... SET, in PGOPTIONS, or in the URL's "
      .. "options= parameter); nothing of the %s "
      .. "was run: connect as a role or to a database where it is off (ALTER DATABASE ... SET "
      .. "default_transaction_read_only = off), or to the primary if this server only serves reads")
      :format(kind))
  end
end

return M
