-- luamig.cli.progress -- bulk_insert's progress line, on a terminal only:
-- rewritten in place (\r) at most ten times a second, ended (with the last
-- count) by the next line written to stderr, or when the load is done.
local core = require "luamig.core"
local redact = require "luamig.redact"

local progress = {}

-- 1234567 -> "1,234,567"
local function thousands(n)
  local s = tostring(math.floor(n))
  return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
end

function progress.text(p)
  local elapsed = p.at - p.start
  local rate = elapsed > 0 and thousands(p.done / elapsed) .. " rows/s" or "- rows/s"
  local count = p.total and ("%s of %s rows (%d%%)"):format(thousands(p.done), thousands(p.total),
    p.total > 0 and p.done * 100 // p.total or 100) or thousands(p.done) .. " rows"
  -- (a table name's control characters would move the cursor: shown as ?)
  return ('bulk_insert "%s": %s, %s, %.1f s'):format(tostring(p.table):gsub("%c", "?"), count, rate, elapsed)
end

function progress.draw(p)
  local line = progress.text(p)
  local pad = (" "):rep(math.max(0, (p.width or 0) - #line))
  io.stderr:write("\r", redact.text(line), pad)
  io.stderr:flush()
  p.width, p.drawn = #line, p.at
end

-- Ends the open progress line, if any, showing its last count.
function progress.finish()
  local p = progress.current
  if not p then return end
  progress.current = nil
  if p.drawn ~= p.at or p.width == nil then progress.draw(p) end
  io.stderr:write("\n")
end

-- The callback for luamig.open: nil unless stderr is a terminal and not -q.
function progress.callback(globals)
  if globals.quiet or not core.isatty(2) then return nil end
  return function(done, total, tname)
    local now = core.monotonic()
    local p = progress.current
    if done == 0 or not p or p.table ~= tname then
      progress.finish()
      p = {table = tname, total = total, start = now}
      progress.current = p
    end
    p.done, p.at = done, now
    if total and done >= total then return progress.finish() end
    if not p.drawn or now - p.drawn >= 0.1 then progress.draw(p) end
  end
end

return progress
