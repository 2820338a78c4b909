-- The example project: a small blog. `make demo` applies it to luamig.db.
revision      = "1a2b3c4d5e6f"
down_revision = nil
message       = "create users"

function upgrade(op)
  op.create_table("users", {
    {"id", "integer", primary_key = true},
    {"email", "string(255)", nullable = false, unique = true},
    {"name", "string(100)", nullable = false},
    {"created_at", "timestamp", nullable = false, default = op.raw("CURRENT_TIMESTAMP")},
  })
end

function downgrade(op)
  op.drop_table("users")
end
