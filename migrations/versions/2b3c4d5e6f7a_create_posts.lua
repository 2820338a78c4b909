revision      = "2b3c4d5e6f7a"
down_revision = "1a2b3c4d5e6f"
message       = "create posts"

function upgrade(op)
  op.create_table("posts", {
    {"id", "integer", primary_key = true},
    {"user_id", "integer", nullable = false, references = "users.id", ondelete = "CASCADE"},
    {"title", "string(200)", nullable = false},
    {"body", "text"},
    {"published", "boolean", nullable = false, default = false},
  })
end

function downgrade(op)
  op.drop_table("posts")
end
