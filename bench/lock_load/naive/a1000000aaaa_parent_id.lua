-- The naive way: one transactional revision, as it is usually first written.
-- ADD COLUMN takes ACCESS EXCLUSIVE on "items" and waits for it with no
-- limit; the lock is then held to the end of the step, through the index
-- build (CREATE INDEX scans the table) and the foreign key's check of every
-- row, so every query on "items" queues for all of it.
revision = "a1000000aaaa"
down_revision = nil
message = "items.parent_id: NOT NULL with a default, index, foreign key (naive)"

function upgrade(op)
  op.add_column("items", {"parent_id", "integer", nullable = false, default = 1})
  op.create_index("ix_items_parent_id", "items", {"parent_id"})
  op.create_foreign_key("fk_items_parent_id", "items", "parents", {"parent_id"}, {"id"})
end

function downgrade(op)
  op.drop_column("items", "parent_id")
end
