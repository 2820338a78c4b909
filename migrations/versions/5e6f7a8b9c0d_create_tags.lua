revision      = "5e6f7a8b9c0d"
down_revision = "4d5e6f7a8b9c"
message       = "create tags and post_tags"

function upgrade(op)
  op.create_table("tags", {
    {"id", "integer", primary_key = true},
    {"name", "string(50)", nullable = false, unique = true},
  })
  op.create_table("post_tags", {
    {"post_id", "integer", nullable = false},
    {"tag_id", "integer", nullable = false},
    {primary_key = {"post_id", "tag_id"}},
    {foreign_key = {"post_id"}, references = "posts.id", ondelete = "CASCADE"},
    {foreign_key = {"tag_id"}, references = "tags.id", ondelete = "CASCADE"},
  })
end

function downgrade(op)
  op.drop_table("post_tags")
  op.drop_table("tags")
end
