-- luamig.cli.checks -- the commands that check the project: verify (the
-- applied scripts against the log), check (the database against the
-- declared schema), roundtrip (each revision up, down and up again).
local luamig = require "luamig"
local json = require "luamig.json"
local common = require "luamig.cli.common"

local say, comma = common.say, common.comma

-- name -> the command's definition (see cli.lua's command table)
local M = {}
local function command(def) M[def.name] = def end

-- At most ten ids, then how many more.
local function some_ids(ids)
  if #ids <= 10 then return comma(ids) end
  return ("%s, ... (and %d more)"):format(table.concat(ids, ", ", 1, 10), #ids - 10)
end

command{
  name = "verify", args = {0, 0}, usage = "verify [--accept REV|all]",
  summary = "Applied scripts changed since they ran or never checksummed; version rows naming unknown revisions.",
  options = {
    {nil, "--accept", key = "accept", value = "REV|all",
     help = "record the applied script's checksum as it is now (after reviewing an edit, or where none was recorded)"},
  },
  run = function(c)
    local accepted, named
    if c.opts.accept then accepted, named = c.m:accept(c.opts.accept) end
    local r = c.m:verify()
    if c.globals.json then
      local t = {ok = r.ok, changed = #r.changed > 0 and r.changed or json.empty_array,
                 unknown = #r.unknown > 0 and r.unknown or json.empty_array,
                 unchecked = #r.unchecked > 0 and r.unchecked or json.empty_array,
                 compared = r.compared, duplicate = #r.duplicate > 0 and r.duplicate or nil}
      if accepted then t.accepted = #accepted > 0 and accepted or json.empty_array end
      say(json.encode(t))
      return r.ok and 0 or 1
    end
    if accepted then
      for _, a in ipairs(accepted) do
        say(("accepted: %s (revision %s): sha256 %s recorded (%s)"):format(a.path, a.revision,
          a.checksum:sub(1, 12), a.previous and ("was " .. a.previous:sub(1, 12)) or "none was recorded"))
      end
      if #accepted == 0 then
        say(c.opts.accept == "all"
          and "nothing to accept: every applied script has a recorded checksum that matches its file"
          or ("nothing to accept: the recorded checksum of %s matches its file"):format(named))
      end
    end
    for _, ch in ipairs(r.changed) do
      say(("changed: %s (revision %s) differs from what was applied (sha256 %s, now %s)")
          :format(ch.path, ch.revision, ch.logged:sub(1, 12), ch.current:sub(1, 12)))
    end
    if #r.changed > 0 then
      say("once an edit is reviewed, `luamig verify --accept REV` (or `--accept all`) records the script as it is now")
    end
    for _, id in ipairs(r.unknown) do
      say(("unknown: the version table holds '%s', which no script defines"):format(id))
    end
    if #r.duplicate > 0 then say("duplicate: " .. c.m:duplicate_rows_text(r.duplicate)) end
    if #r.unchecked > 0 then
      say(("unchecked: %d applied revision(s) have no recorded checksum (applied with --sql, "
        .. "stamped, or before the log), so their scripts were not compared: %s; `luamig verify "
        .. "--accept all` records them as they are now"):format(#r.unchecked, some_ids(r.unchecked)))
    end
    if r.ok then
      if #r.unchecked == 0 and r.compared == 0 then
        say("OK: no revision is applied, so there is nothing to compare")
      elseif #r.unchecked == 0 then
        say("OK: every applied script matches its file")
      elseif r.compared > 0 then
        say(("OK: the %d applied script(s) with a recorded checksum match their files"):format(r.compared))
      end
    end
    return r.ok and 0 or 1
  end,
}

-- Operations for --json: plain fields only.
local function json_operations(list)
  local t = {}
  for i, o in ipairs(list) do
    t[i] = {kind = o.kind, type = o.ctype, table = o.table, name = o.name,
            description = o.description, code = o.code}
  end
  return #t > 0 and t or json.empty_array
end

command{
  name = "check", args = {0, 0}, usage = "check",
  summary = "Exit 1 if autogenerate would produce operations (the database must be at head).",
  options = {},
  run = function(c)
    local r = c.m:check()
    if c.globals.json then
      say(json.encode({ok = r.ok, operations = json_operations(r.operations),
                       not_valid = #r.not_valid > 0 and r.not_valid or json.empty_array,
                       invalid_indexes = #r.invalid_indexes > 0 and r.invalid_indexes or json.empty_array}))
      return r.ok and 0 or 1
    end
    if r.ok then say("No new upgrade operations detected.") return 0 end
    for _, o in ipairs(r.operations) do say(o.code) end
    luamig.fail(("New upgrade operations detected: %d (listed above)"):format(#r.operations))
  end,
}

command{
  name = "roundtrip", args = {0, 1}, usage = "roundtrip [RANGE] [--scratch-url URL [--reset-scratch]]",
  summary = "On a scratch database: each revision up, down, compared, up again.",
  options = {
    {nil, "--scratch-url", key = "scratch_url", value = "URL",
     help = "an empty database of the project's kind, never the configured one (default: PostgreSQL project: a "
       .. "database created on its server and dropped afterwards; SQLite: a temporary file)"},
    {nil, "--reset-scratch", key = "reset_scratch",
     help = "empty the --scratch-url database first (its tables and views dropped, on PostgreSQL "
       .. "every schema but the system ones) instead of refusing one that is not empty"},
  },
  run = function(c)
    local r = c.m:roundtrip{range = c.args[1], scratch_url = c.opts.scratch_url,
                            reset_scratch = c.opts.reset_scratch}
    if c.globals.json then
      local f = r.failure
      if f and f.differences then
        f.differences = #f.differences > 0 and f.differences or json.empty_array
      end
      say(json.encode({ok = r.ok, tested = #r.tested > 0 and r.tested or json.empty_array, failure = f}))
      return r.ok and 0 or 1
    end
    if r.ok then
      say(("OK: %d revision(s) upgrade, downgrade to the same schema, and upgrade again"):format(#r.tested))
      return 0
    end
    local f = r.failure
    local what = f.revision .. (f.message and (" (" .. f.message .. ")") or "")
    if f.differences then
      local lines = {(f.phase == "compare" and "roundtrip: the downgrade of %s does not restore the schema:"
        or "roundtrip: %s upgraded again after its downgrade gives another schema:"):format(what)}
      for _, d in ipairs(f.differences) do lines[#lines + 1] = "  " .. d.description end
      lines[#lines + 1] = f.phase == "compare" and "the downgrade would need:" or "as operations, to get there:"
      for _, d in ipairs(f.differences) do lines[#lines + 1] = "  " .. d.code:gsub("\n", "\n  ") end
      luamig.fail(table.concat(lines, "\n"))
    end
    luamig.fail(("roundtrip: %s of %s failed: %s"):format(f.phase, what, f.error))
  end,
}

return M
