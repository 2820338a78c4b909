-- luamig.runner_autogen -- the Runner's autogenerate and check
-- (doc/autogenerate.md): the declared schema, compared with the database
-- at head. Methods of luamig.Runner (init.lua installs them).
local fail = require("luamig.errors").fail

local M = {Runner = {}}
local Runner = M.Runner

function Runner:_render_context()
  return {dialect = self:dialect(), naming_convention = self.settings.naming_convention}
end

-- Is the database at every head (Alembic's rule before autogenerate)?
function Runner:_at_head()
  local _, graph = self:scripts()
  local rows = self:current_rows()
  for _, id in ipairs(rows) do
    if not graph:revision(id) then                    -- say which row, as upgrade does
      fail(("Can't locate revision identified by '%s' (a row of the version table): `luamig verify` "
        .. "lists such rows; `luamig stamp --purge REV` empties the table and records REV"):format(id))
    end
  end
  local applied = self:applied(rows)
  for _, id in ipairs(graph:heads()) do if not applied[id] then return false end end
  return true
end

-- The declared schema: target_schema's schema(op), recorded.
function Runner:declared_schema()
  local record = require "luamig.autogen.record"
  local ok, res = pcall(record.load, self.settings.target_schema, self:dialect(),
                        {naming_convention = self.settings.naming_convention, x = self.x})
  if not ok then fail(type(res) == "table" and tostring(res.message or res) or tostring(res)) end
  return res
end

-- The operations (luamig.autogen.diff) that turn the database into the
-- declared schema; the database must be at head.
function Runner:compare()
  if not self:_at_head() then fail("Target database is not up to date.") end
  local declared = self:declared_schema()
  local conn = self:connection()                      -- after the scripts and the schema: a failure creates nothing
  local autogen = require "luamig.autogen"
  local ops, live = autogen.compare(conn, declared, {exclude = self:_own_tables(),
    include_object = self.settings.include_object, compare_type = self.settings.compare_type})
  -- generated columns: luamig declares none, so it cannot compare them; say so
  local gen = {}
  for name, t in pairs(live.tables) do
    if t.generated then gen[#gen + 1] = ("%s (SQLite: its generated columns)"):format(name) end
    for _, c in ipairs(t.columns) do if c.generated then gen[#gen + 1] = name .. "." .. c.name end end
  end
  if #gen > 0 then
    table.sort(gen)
    self:_log("WARNING", "Generated columns are not compared (luamig declares none; doc/autogenerate.md): "
      .. table.concat(gen, ", "))
  end
  local other = {}                                -- foreign keys into another schema: by table name only
  for name, t in pairs(live.tables) do
    for _, fk in ipairs(t.foreign_keys or {}) do
      if fk.ref_schema then
        other[#other + 1] = ("%s.%s -> %s.%s"):format(name, fk.name or "?", fk.ref_schema, fk.ref_table)
      end
    end
  end
  if #other > 0 then
    table.sort(other)
    self:_log("WARNING", "Foreign keys into another schema are compared by table name only "
      .. "(doc/autogenerate.md): " .. table.concat(other, ", "))
  end
  -- a constraint added NOT VALID is the declared one (no difference): a
  -- warning, not an operation; an INVALID index is built again (an operation)
  local not_valid, invalid = require("luamig.autogen.safe").not_validated(live)
  for _, e in ipairs(not_valid) do self:_log("WARNING", e.line) end
  for _, e in ipairs(invalid) do self:_log("WARNING", e.line) end
  self._not_valid, self._invalid_indexes = not_valid, invalid
  self._compared = {live = live, declared = declared}
  for _, op in ipairs(ops) do self:_log("INFO", "Detected " .. autogen.diff.describe(op)) end
  if #ops == 0 then self:_log("INFO", "No changes in schema detected.") end
  return ops
end

-- Alembic's check: {ok = no difference, operations = {{kind, ctype, table,
-- name, description, code}}}. A difference is a result, not an error.
function Runner:check()
  local ops = self:compare()
  local autogen = require "luamig.autogen"
  local function list(l)
    local out = {}
    for i, e in ipairs(l or {}) do out[i] = {table = e.table, name = e.name} end
    return out
  end
  return {ok = #ops == 0, operations = autogen.describe(ops, self:_render_context()),
          not_valid = list(self._not_valid), invalid_indexes = list(self._invalid_indexes)}
end

-- The live schema of a connection, without luamig's own tables.
function Runner:_schema(conn)
  return require("luamig.introspect").schema(conn, {exclude = self:_own_tables()})
end

return M
