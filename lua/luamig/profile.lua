-- luamig.profile -- the `profile` setting: which engine behind the
-- PostgreSQL protocol the migrations run against, and what luamig does
-- differently for it (doc/distributed.md, with each engine's own
-- documentation as the source):
--
--   postgresql   (default) nothing changes.
--   cockroachdb, yugabyte
--                a script without `transactional = ...` runs outside a
--                transaction (each statement commits on its own: neither
--                engine runs schema changes atomically inside a transaction);
--                a script's own `transactional = true` is kept. The lock
--                strategy they need is "table" (advisory locks are not
--                there): `lock`'s default under them (config.complete).
--   citus        every migration transaction starts with
--                SET LOCAL citus.multi_shard_modify_mode TO 'sequential'
--                (online and in --sql), so DDL on a distributed table in a
--                transaction uses one connection per worker.
--
-- Retrying a transactional step on a serialization failure (40001) or a
-- deadlock (40P01) is done for every profile (src/runner_retry.c).
local M = {}

M.names = {"postgresql", "cockroachdb", "yugabyte", "citus"}

M.CITUS_SETUP = "SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"

local behaviours = {
  postgresql = {},
  cockroachdb = {transactional_default = false, defaults = {lock = "table"}},
  yugabyte = {transactional_default = false, defaults = {lock = "table"}},
  citus = {tx_setup = M.CITUS_SETUP},
}

-- nil when v is a profile's name, else why not.
function M.why_not(v)
  if type(v) == "string" and behaviours[v] then return nil end
  local shown = type(v) == "string" and ("%q"):format(v) or ("a " .. type(v))
  local hint = type(v) == "string" and require("luamig.suggest").hint(v:lower(), M.names) or ""
  return ("profile: %s is not a profile%s; one of %s"):format(shown, hint,
    '"' .. table.concat(M.names, '", "') .. '"')
end

-- What profile name (default "postgresql") changes: {transactional_default,
-- tx_setup, defaults = {setting = value}}; every field may be nil.
function M.of(name)
  return assert(behaviours[name or "postgresql"], "unknown profile")
end

return M
