-- luamig.errors -- raising luamig's error values, for the runner's modules
-- (luamig, luamig.verify, luamig.roundtrip ...) and the CLI (luamig.fail).
local core = require "luamig.core"
local redact = require "luamig.redact"

local M = {}

-- Raise a luamig error value: message plus fields, the run's secrets
-- redacted.
function M.fail(message, fields)
  local e = fields or {}
  e.message = message
  error(redact.error(core.error(e)), 0)
end

return M
