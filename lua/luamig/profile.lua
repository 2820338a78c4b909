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

-- Whether record (a script's) runs in a transaction under profile name,
-- and "profile" when it runs outside one by the profile's default (the
-- script has no `transactional = ...`): the one place that decides it, for
-- the run (core.run's opts.transactional) and for the lint.
function M.transactional(record, name)
  local d = M.of(name).transactional_default
  if record.transactional_given == false and d ~= nil then return d or "profile" end
  return record.transactional ~= false
end

-- Why a revision runs outside a transaction when M.transactional says
-- "profile" (the run's messages say it in place of "transactional = false").
function M.outside_why(name)
  return ("profile = %q runs a revision without transactional = ... outside a transaction"):format(name)
end

return M
