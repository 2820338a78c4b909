revision      = "4d5e6f7a8b9c"
down_revision = "3c4d5e6f7a8b"
message       = "index posts by author and state"

function upgrade(op)
  op.create_index("ix_posts_user_id_published", "posts", {"user_id", "published"})
end

function downgrade(op)
  op.drop_index("ix_posts_user_id_published", "posts")
end
