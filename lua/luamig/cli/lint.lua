-- luamig.cli.lint -- `luamig lint`, and the lint that `upgrade` runs first
-- (the setting lint_on_upgrade: "warn", "refuse", "off"; -q shows its errors only).
local lint = require "luamig.lint"
local common = require "luamig.cli.common"
local fail = require("luamig.errors").fail

local say, tell = common.say, common.tell

local M = {}
local function command(def) M[def.name] = def end

command{
  name = "lint", args = {0, 1}, usage = "lint [RANGE] [--offline] [--json]",
  summary = "Judge the operations of revisions before they run (locks, rewrites, renames).",
  details = "Runs each revision's upgrade(op) with an offline op that records its calls (nothing\n"
    .. "runs) and reports the rules they break: severity, rule id, file:line of the call, revision,\n"
    .. "why, and the safe version as luamig ops (doc/safety.md lists the rules). Default range: the\n"
    .. "revisions not yet applied on the database, whose tables, column types and row counts are\n"
    .. "read (a table of at most 1,000 rows turns a lock error into a warning). RANGE (e.g.\n"
    .. "base:head, REV:head) or --offline needs no database. A call is silenced for one rule by\n"
    .. "`-- luamig-lint: ignore RULE-ID: reason` on its line or the line above.\n"
    .. "Exit status: 1 when any error is found, else 0.",
  options = {{nil, "--offline", key = "offline", help = "read no database (default range: base:heads)"}},
  run = function(c)
    local report = lint.run(c.m, {range = c.args[1], offline = c.opts.offline})
    if c.globals.json then
      say(lint.json(report))
    else
      for _, f in ipairs(report.findings) do say(lint.human(f)); say("") end
      say(lint.summary(report))
    end
    return report.errors > 0 and 1 or 0
  end,
}

-- upgrade's lint, before anything runs: its findings on stderr; with
-- lint_on_upgrade = "refuse" an error stops the upgrade, and so does a revision the lint could not
-- judge (not-linted: its upgrade(op) failed offline, so its later calls were never seen). Raw SQL
-- the classifier cannot read (execute-unjudged) is a warning too; both are one line each.
-- --sql lints the range it writes, offline.
local ONE_LINE = {["execute-unjudged"] = true, ["not-linted"] = true}
local function short(f)
  return ("%s %s: %s:%s (revision %s): %s"):format(f.severity, f.rule, lint.esc(f.file or "?"), f.line or "?",
    lint.esc(f.revision or "?"), lint.esc(f.note or ""))
end

-- out(...): where the findings go (default: stderr; fleet's workers collect them).
function M.before_upgrade(c, target, out)
  out = out or tell
  local mode = c.m.settings.lint_on_upgrade or "warn"
  if mode ~= "warn" and mode ~= "refuse" and mode ~= "off" then
    fail(('lint_on_upgrade must be "warn", "refuse" or "off", got %q'):format(tostring(mode)))
  end
  if mode == "off" then return end
  -- the database upgrade will use (a SQLite file is created, as upgrade creates it; a failure to
  -- connect is upgrade's own); a target the plan cannot take fails here with upgrade's message.
  -- A server that cannot take writes, or a profile for another database, is refused first:
  -- before the lint runs any script's code.
  if c.opts.sql then
    c.m:_check_profile()
  else
    c.m:_check_writable("upgrade")
    c.m:_checksums()                                  -- libcrypto: before the SQLite file is made
    c.m:connection()
  end
  local report = lint.run(c.m, c.opts.sql and {range = target, offline = true} or {target = target})
  -- a Ctrl-C while a script ran offline is caught there as not-linted, and the run that follows
  -- would start afresh (lm_run_watch clears the flag): stop here
  if require("luamig.core").interrupted() then
    fail("interrupted (Ctrl-C) during the lint before the upgrade: nothing was run")
  end
  local shown, unlinted = 0, {}
  for _, f in ipairs(report.findings) do
    if f.rule == "not-linted" then unlinted[#unlinted + 1] = ("%s:%s"):format(f.file or "?", f.line or "?") end
    if f.severity == "error" or f.rule == "not-linted" or not c.globals.quiet then
      out("lint: ", ONE_LINE[f.rule] and short(f) or lint.human(f), "\n")
      shown = shown + 1
    end
  end
  if shown > 0 then out("lint: ", lint.summary(report), "\n") end
  if mode == "refuse" and report.errors > 0 then
    fail(("upgrade refused: the lint found %d error%s in the revisions to apply (lint_on_upgrade = "
      .. "\"refuse\"); nothing was run. Use the safe forms above, a marker comment with a reason, or "
      .. "lint_on_upgrade = \"warn\""):format(report.errors, report.errors == 1 and "" or "s"))
  end
  if mode == "refuse" and #unlinted > 0 then
    fail(("upgrade refused: the lint could not judge all of the revisions to apply (not-linted at %s: "
      .. "upgrade(op) failed when run offline, so the calls after that point were never judged) and "
      .. "lint_on_upgrade = \"refuse\"; nothing was run. Make upgrade(op) runnable offline, add "
      .. "`-- luamig-lint: ignore not-linted: reason` on the failing line, or set lint_on_upgrade = \"warn\"")
      :format(table.concat(unlinted, ", ")))
  end
end

return M
