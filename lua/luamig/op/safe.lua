-- luamig.op.safe -- the PostgreSQL options and operation for changes that
-- do not hold a long lock on a big table (doc/op.md, "Constraints without
-- a long lock"; doc/safety.md):
--   create_foreign_key / create_check_constraint {postgresql_not_valid = true}
--     ADD CONSTRAINT ... NOT VALID: only new and updated rows are checked,
--     no scan of the table under its lock;
--   op.validate_constraint(name, table)
--     ALTER TABLE ... VALIDATE CONSTRAINT: the scan, under SHARE UPDATE
--     EXCLUSIVE (reads and writes go on);
--   create_unique_constraint(name, table, nil, {postgresql_using_index = "ix"})
--     ADD CONSTRAINT name UNIQUE USING INDEX ix: a unique index made
--     beforehand (CONCURRENTLY) becomes the constraint, without a build.
-- SQLite has none of them: each is an error at the migration's line that
-- says to guard the PostgreSQL part with `if op.dialect == "postgresql"`.
local check = require "luamig.op.check"
check.mark_internal()

local raise, check_arg = check.raise, check.check_arg

local M = {}

local function sqlite_refuses(opname, what)
  raise(('%s: %s is PostgreSQL\'s, and SQLite has no such thing; guard the PostgreSQL-only part '
    .. 'with `if op.dialect == "postgresql" then ... end`'):format(opname, what))
end
M.sqlite_refuses = sqlite_refuses

-- The not_valid option of a foreign key or check: refused on SQLite, kept
-- on the constraint's model (c.not_valid) for the ALTER TABLE ... ADD.
function M.not_valid(ctx, opname, c, o)
  if o.not_valid then
    if ctx.sqlite then sqlite_refuses(opname, 'option "postgresql_not_valid" (ADD CONSTRAINT ... NOT VALID)') end
    c.not_valid = true
  end
  return c
end

-- create_unique_constraint's arguments with postgresql_using_index: no
-- columns (the index has them), the index's name checked. Returns the
-- constraint's model, or nil without the option.
function M.using_index(ctx, opname, pos, name, cols, o)
  if o.using_index == nil then return nil end
  if ctx.sqlite then
    sqlite_refuses(opname, 'option "postgresql_using_index" (ADD CONSTRAINT ... UNIQUE USING INDEX)')
  end
  if cols ~= nil then
    raise(('%s: argument %d (columns) must be nil with postgresql_using_index: the index "%s" has the '
      .. 'columns'):format(opname, pos.columns, o.using_index))
  end
  -- without a name PostgreSQL names the constraint after the index; with
  -- one it renames the index to it
  return {name = name or o.using_index, using_index = o.using_index, deferrable = o.deferrable or nil,
          initially = o.initially and check.keyword(opname, "initially", o.initially, check.initially_names) or nil}
end

-- op.validate_constraint(name, table): the change record.
function M.validate(ctx, opname, tname, pos, name)
  check_arg(opname, pos.name, "name", name, "name")
  if ctx.sqlite then sqlite_refuses(opname, "validate_constraint (ALTER TABLE ... VALIDATE CONSTRAINT)") end
  return {kind = "validate_constraint", name = name}
end

-- PostgreSQL's clause for a constraint model with the options above:
-- UNIQUE USING INDEX, and NOT VALID after a foreign key or check.
function M.add_constraint_sql(d, kind, c)
  local s
  if kind == "unique" and c.using_index then
    s = d.constraint_prefix(c) .. "UNIQUE USING INDEX " .. d.ident(c.using_index)
    if c.deferrable then s = s .. " DEFERRABLE" end
    if c.initially then s = s .. " INITIALLY " .. c.initially end
  else
    s = d.constraint_sql(kind, c)
  end
  if c.not_valid and (kind == "foreign" or kind == "check") then s = s .. " NOT VALID" end
  return s
end

return M
