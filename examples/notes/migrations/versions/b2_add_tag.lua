revision      = "b2c3d4e5f6a1"
down_revision = "a1b2c3d4e5f6"
message       = "notes get a tag"

function upgrade(op)
  op.add_column("notes", {"tag", "string(30)", nullable = false, default = "general"})
  op.create_index(nil, "notes", {"tag"})
end

function downgrade(op)
  op.drop_index("ix_notes_tag", "notes")
  op.drop_column("notes", "tag")
end
