revision      = "3c4d5e6f7a8b"
down_revision = "2b3c4d5e6f7a"
message       = "add users.display_name"

function upgrade(op)
  op.add_column("users", {"display_name", "string(100)"})
end

function downgrade(op)
  op.drop_column("users", "display_name")
end
