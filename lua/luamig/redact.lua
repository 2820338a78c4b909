-- luamig.redact -- the one redactor every message leaving luamig passes
-- through: stdout, stderr, --json, the log callback, the error values of
-- the embedding API. It knows the secrets of this run: every form of every
-- password in each URL the run was given (--url, DATABASE_URL, the
-- config's url, --scratch-url, each command-line argument) as libpq reads
-- them (core.url_secrets, from PQconninfoParse) plus what merely looks like
-- a password, and PGPASSWORD. Each is replaced by "***" where it stands
-- as a whole, not inside a longer word (lm_redact); secrets shorter than 4
-- bytes are not searched for: "a" would hide every "a". The SQL script of
-- --sql is data and is not redacted.
local core = require "luamig.core"

local M = {}

local secrets, known = {}, {}

-- Add one secret.
function M.add(secret)
  if type(secret) ~= "string" or secret == "" or known[secret] then return end
  known[secret] = true
  secrets[#secrets + 1] = secret
end

-- Learn the secrets of text: a URL, valid or not, or any string that may
-- hold one.
function M.learn(text)
  if type(text) ~= "string" or text == "" then return end
  for _, s in ipairs(core.url_secrets(text)) do M.add(s) end
end

-- The environment's: DATABASE_URL and PGPASSWORD (libpq never prints the
-- latter, but a script or a message might).
function M.learn_environment()
  M.learn(os.getenv("DATABASE_URL"))
  M.add(os.getenv("PGPASSWORD"))
end

-- text with every known secret replaced by "***"; other values unchanged.
function M.text(text)
  if type(text) ~= "string" or #secrets == 0 then return text end
  return core.redact(text, secrets)
end

-- An error value with its message, statement and error fields redacted
-- (a string error is redacted as text); returns it.
function M.error(err)
  if type(err) == "string" then return M.text(err) end
  if type(err) == "table" then
    for _, k in ipairs{"message", "sql", "error", "where"} do
      if type(rawget(err, k)) == "string" then err[k] = M.text(err[k]) end
    end
  end
  return err
end

return M
