revision      = "a1b2c3d4e5f6"
down_revision = nil
message       = "create notes"

function upgrade(op)
  op.create_table("notes", {
    {"id", "integer", primary_key = true},
    {"body", "text", nullable = false},
    {"created_at", "timestamp", nullable = false, default = op.raw("CURRENT_TIMESTAMP")},
  })
end

function downgrade(op)
  op.drop_table("notes")
end
