-- The linted way, step 2 of 2 (not transactional): the work that reads the
-- whole table, under locks that do not block reads or writes.
-- CREATE INDEX CONCURRENTLY: SHARE UPDATE EXCLUSIVE on "items".
-- VALIDATE CONSTRAINT: SHARE UPDATE EXCLUSIVE on "items", ROW SHARE on
-- "parents". The project's ddl_lock_timeout does not apply outside a
-- transaction (only a script's own would): CONCURRENTLY's waits are for
-- older transactions to end (they block nobody), and a timeout in the
-- middle of it would leave an INVALID index behind.
revision = "b2000000aaaa"
down_revision = "b1000000aaaa"
message = "items.parent_id: index CONCURRENTLY, VALIDATE the foreign key (linted, 2/2)"
transactional = false

function upgrade(op)
  op.create_index("ix_items_parent_id", "items", {"parent_id"}, {postgresql_concurrently = true})
  op.validate_constraint("fk_items_parent_id", "items")
end

function downgrade(op)
  op.drop_index("ix_items_parent_id", "items", {postgresql_concurrently = true})
end
