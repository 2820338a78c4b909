-- The linted way, step 1 of 2 (transactional): only catalogue changes,
-- each lock wait bounded by ddl_lock_timeout (luamig.lua: bench/lock_load/
-- linted/settings.lua.in); a step whose lock is not granted in time is
-- rolled back and tried again (lock_retries), with back-off.
-- ADD COLUMN ... NOT NULL DEFAULT 1: a constant default is stored in the
-- catalogue (PostgreSQL 11+), no rewrite and no scan, so the ACCESS
-- EXCLUSIVE lock is held for milliseconds once granted.
-- The foreign key NOT VALID: SHARE ROW EXCLUSIVE, briefly; checks new
-- rows only, no scan of the table.
revision = "b1000000aaaa"
down_revision = nil
message = "items.parent_id: NOT NULL with a default, foreign key NOT VALID (linted, 1/2)"

function upgrade(op)
  op.add_column("items", {"parent_id", "integer", nullable = false, default = 1})
  op.create_foreign_key("fk_items_parent_id", "items", "parents", {"parent_id"}, {"id"},
    {postgresql_not_valid = true})
end

function downgrade(op)
  op.drop_column("items", "parent_id")
end
