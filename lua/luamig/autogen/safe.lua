-- luamig.autogen.safe -- revision --autogenerate's safe forms on
-- PostgreSQL (doc/autogenerate.md, "Safe forms"; doc/safety.md): the
-- changes to an existing table that would hold a long lock are split in
-- two revisions, the ordinary one (transactional changes, constraints
-- added NOT VALID) and a second one, transactional = false, with the
-- concurrent index builds, the VALIDATE CONSTRAINTs, SET NOT NULL through
-- a validated check, and the unique constraints made from their
-- concurrently built index. And the check's note on constraints not yet
-- validated.
local M = {}

-- INFO lines for the live constraints added NOT VALID and not validated
-- yet (pg_constraint.convalidated false), sorted.
function M.not_validated(live)
  local out = {}
  for tname, t in pairs(live.tables or {}) do
    for _, list in ipairs({t.foreign_keys or {}, t.checks or {}}) do
      for _, c in ipairs(list) do
        if c.not_valid then
          out[#out + 1] = ('Constraint "%s" on "%s" is NOT VALID (existing rows not yet checked): '
            .. 'op.validate_constraint(%q, %q) validates it'):format(c.name, tname, c.name, tname)
        end
      end
    end
  end
  table.sort(out)
  return out
end

return M
