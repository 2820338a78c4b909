-- luamig.verify -- the Runner's verify and verify --accept: applied scripts
-- compared with the checksums the log records, version rows that name no
-- script, and the warning an upgrade gives for an edited applied script.
-- Methods of luamig.Runner (init.lua installs them).
local core = require "luamig.core"
local fail = require("luamig.errors").fail
local who = require("luamig.runner_database").who

local M = {Runner = {}}
local Runner = M.Runner

-- The applied scripts (below the known version rows) compared with the
-- checksums the log records (core.logged_checksums: upgrade and accept
-- rows), oldest first: changed = {{revision, path, logged, current}},
-- unchecked = {ids} (no recorded checksum: applied with --sql, stamped, or
-- before the log), and how many were compared.
function Runner:_compare_checksums(conn, known_rows)
  local logged = core.logged_checksums(conn, self.settings.version_table)
  local _, graph = self:scripts()
  local applied = graph:applied(known_rows)           -- oldest first
  local changed, unchecked, compared = {}, {}, 0
  for _, id in ipairs(applied) do
    local r = self.by_id[id]
    if not logged[id] then
      unchecked[#unchecked + 1] = id
    else
      compared = compared + 1
      if logged[id] ~= r.checksum then
        changed[#changed + 1] = {revision = id, path = r.path, logged = logged[id], current = r.checksum}
      end
    end
  end
  return changed, unchecked, compared
end

-- Version rows stored more than once (a version table without a primary
-- key): {{id = , times = n}}, by id. Each head has one row; upgrade refuses
-- such a table (runner.c), current and verify say so.
function Runner:duplicate_rows(rows)
  local count, out = {}, {}
  for _, id in ipairs(rows or self:current_rows()) do count[id] = (count[id] or 0) + 1 end
  for id, n in pairs(count) do if n > 1 then out[#out + 1] = {id = id, times = n} end end
  table.sort(out, function(a, b) return a.id < b.id end)
  return out
end

-- The sentence for duplicate rows, with the way out.
function Runner:duplicate_rows_text(dups)
  local parts = {}
  for i, d in ipairs(dups) do parts[i] = ("'%s' %d times"):format(d.id, d.times) end
  return ("the version table '%s' holds %s (a table without a primary key?); it must hold one "
    .. "row per head: `luamig stamp --purge REV...` rewrites it with one row each"):format(
    self.settings.version_table, table.concat(parts, ", "))
end

-- The version rows split into those naming a script and those naming none.
function Runner:_known_rows(conn)
  local _, graph = self:scripts()
  local known, unknown = {}, {}
  for _, id in ipairs(core.current(conn, self.settings.version_table)) do
    if graph:revision(id) then known[#known + 1] = id else unknown[#unknown + 1] = id end
  end
  return known, unknown
end

-- Applied scripts whose file changed since, applied revisions the log has
-- no checksum for, and version rows that name no known revision: {ok,
-- changed = {{revision, path, logged, current}}, unchecked = {ids},
-- compared = n, unknown = {ids}, duplicate = {{id, times}}}. ok: nothing
-- changed, nothing unknown, no row twice.
function Runner:verify()
  self:scripts()                                      -- no project: say so before reading anything
  local conn = self:_read_connection()
  if not conn then
    return {ok = true, changed = {}, unknown = {}, unchecked = {}, compared = 0, duplicate = {}}
  end
  local known, unknown = self:_known_rows(conn)
  local changed, unchecked, compared = self:_compare_checksums(conn, known)
  local duplicate = self:duplicate_rows(core.current(conn, self.settings.version_table))
  return {ok = #changed == 0 and #unknown == 0 and #duplicate == 0, changed = changed,
          unknown = unknown, unchecked = unchecked, compared = compared, duplicate = duplicate}
end

-- Accept applied scripts as they are now (`verify --accept`): after a
-- reviewed edit, or where the log has no checksum. target: an identifier
-- naming one applied revision, or "all" (every applied script whose
-- recorded checksum differs or is missing). Each is recorded in the log as
-- a row of its own (direction "accept"), so the edit stays on record and
-- the "changed since it was applied" warning ends. Returns the accepted
-- {{revision, path, checksum, previous (nil: none was recorded)}}, oldest
-- first, and the revision id target names (nil for "all").
function Runner:accept(target)
  if type(target) ~= "string" or target == "" then
    fail("verify --accept needs a revision, or all")
  end
  local conn = self:connection()
  local _, graph = self:scripts()
  local known, unknown = self:_known_rows(conn)
  local changed, unchecked = self:_compare_checksums(conn, known)
  local pending = {}                                  -- id -> the checksum recorded now, or false
  for _, ch in ipairs(changed) do pending[ch.revision] = ch.logged end
  for _, id in ipairs(unchecked) do pending[id] = false end
  local ids, named = {}, nil                          -- named: the revision target names
  if target == "all" then
    for id in pairs(pending) do ids[#ids + 1] = id end
    self:_oldest_first(ids)
  else
    local found = graph:resolve(target)
    if #found ~= 1 then
      fail(("verify --accept: '%s' names %s; give one revision, or all"):format(target,
        #found == 0 and "no revision" or (#found .. " revisions (" .. table.concat(found, ", ") .. ")")))
    end
    local id = found[1]
    if not self:applied(known)[id] then
      local at = #known + #unknown > 0 and table.concat(known, ", ") or "base"
      if #unknown > 0 then at = at .. (#known > 0 and ", " or "") .. table.concat(unknown, ", ") end
      fail(("verify --accept: revision %s is not applied to this database (it is at %s); only an "
        .. "applied script's checksum is recorded"):format(id, at))
    end
    if pending[id] ~= nil then ids[1] = id end
    named = id
  end
  local accepted = {}
  for _, id in ipairs(ids) do
    local r = self.by_id[id]
    core.log_accept(conn, self.settings.version_table, id, r.checksum, who())
    accepted[#accepted + 1] = {revision = id, path = r.path, checksum = r.checksum,
                               previous = pending[id] or nil}
  end
  return accepted, named
end

-- Before an upgrade: a warning per applied script edited since it ran.
-- (Unknown version rows are left to the run itself, which names them.)
function Runner:_warn_changed(conn)
  local ok, rows = pcall(core.current, conn, self.settings.version_table)
  if not ok or #rows == 0 then return end
  local _, graph = self:scripts()
  for _, id in ipairs(rows) do if not graph:revision(id) then return end end
  for _, ch in ipairs((self:_compare_checksums(conn, rows))) do
    self:_log("WARNING", ("%s (revision %s) changed since it was applied; `luamig verify` "
      .. "lists every such script"):format(ch.path, ch.revision))
  end
end

return M
