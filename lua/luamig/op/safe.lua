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

-- if_not_exists of create_unique_constraint / create_foreign_key /
-- create_check_constraint (PostgreSQL has no ADD CONSTRAINT IF NOT
-- EXISTS: the catalog is asked online, and --sql writes the plain
-- statement): refused on SQLite.
function M.if_not_exists(ctx, opname, o)
  if not o.if_not_exists then return nil end
  if ctx.sqlite then sqlite_refuses(opname, 'option "if_not_exists" on a constraint') end
  return true
end

-- op.validate_constraint(name, table, {if_exists = true}): the change
-- record. Any other option is refused (as drop_constraint, it has no
-- schema option: the table is found on the search_path).
function M.validate(ctx, opname, tname, pos, name, opts)
  check_arg(opname, pos.name, "name", name, "name")
  local o = check.check_options(opname, opts, check.SPEC.validate_constraint, check.ALIASES, pos.options)
  if ctx.sqlite then sqlite_refuses(opname, "validate_constraint (ALTER TABLE ... VALIDATE CONSTRAINT)") end
  return {kind = "validate_constraint", name = name, if_exists = o.if_exists or nil}
end

-- Does the table (on the search_path) have a constraint of that name?
-- Online only: the callers write the plain statement in --sql.
function M.constraint_exists(ctx, tname, name)
  local rows = ctx.conn:query([[SELECT 1 AS x FROM pg_constraint
    WHERE conrelid = to_regclass(quote_ident($1)) AND conname = $2]], {tname, name})
  return #rows > 0
end

-- create_index with if_not_exists on a live PostgreSQL database, before
-- its CREATE INDEX ... IF NOT EXISTS: PostgreSQL skips with a NOTICE
-- whatever relation has the name, and an INVALID index (left by a failed
-- or interrupted CONCURRENTLY build) counts as existing. So: a name taken
-- by something that is not an index on this table is refused; an INVALID
-- index of that name on this table is dropped first (CONCURRENTLY when
-- the build is), and built again.
function M.before_create_index(ctx, opname, tname, ix, opts)
  if ctx.sqlite or not ctx.conn or not (opts and opts.if_not_exists) then return end
  local rows = ctx.conn:query([[SELECT c.relkind::text AS kind, x.indisvalid AS valid,
      x.indrelid IS NOT DISTINCT FROM to_regclass(quote_ident($2)) AS on_table,
      x.indrelid::regclass::text AS owner
    FROM pg_class c LEFT JOIN pg_index x ON x.indexrelid = c.oid
    WHERE c.relname = $1 AND c.relnamespace = COALESCE(
      (SELECT relnamespace FROM pg_class WHERE oid = to_regclass(quote_ident($2))),
      (SELECT oid FROM pg_namespace WHERE nspname = current_schema()))]], {ix.name, tname})
  local r = rows[1]
  if not r then return end
  local KINDS = {r = "a table", v = "a view", m = "a materialized view", S = "a sequence",
                 f = "a foreign table", p = "a partitioned table", c = "a composite type"}
  if (r.kind ~= "i" and r.kind ~= "I") or not r.on_table then
    local what = KINDS[r.kind] or (r.owner and ('an index on "%s"'):format(r.owner)) or "another relation"
    raise(('%s: the name "%s" is taken by %s, not an index on "%s": IF NOT EXISTS would skip the build '
      .. 'without a word; rename the index (or that relation) and run again'):format(opname, ix.name, what, tname))
  end
  if not r.valid then
    ctx.log("warning", ('%s: index "%s" on "%s" is INVALID (a failed or interrupted CONCURRENTLY build): '
      .. 'dropped and built again'):format(opname, ix.name, tname))
    ctx.conn:exec(ctx.d.drop_index_sql(ix.name, {concurrently = opts.concurrently, if_exists = true}))
  end
end

-- A failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind: the
-- error says which, and the way out.
function M.after_failed_index(ctx, ix, err)
  if ctx.sqlite or not ctx.conn or type(err) ~= "table" or type(err.message) ~= "string" then return err end
  local ok, rows = pcall(ctx.conn.query, ctx.conn, [[SELECT 1 AS x FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
    WHERE c.relname = $1 AND NOT x.indisvalid]], {ix.name})
  if ok and #rows > 0 then
    err.message = err.message .. ('\nThe failed build left the INVALID index "%s" (not used, not enforced): '
      .. 'run `upgrade` again once the cause is fixed (create_index with if_not_exists drops it and builds '
      .. 'it again), or drop it by hand: DROP INDEX CONCURRENTLY %s;'):format(ix.name, ctx.d.ident(ix.name))
  end
  return err
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
