-- A data migration: every user gets a display name from their name.
revision      = "6f7a8b9c0d1e"
down_revision = "5e6f7a8b9c0d"
message       = "backfill users.display_name"

function upgrade(op)
  op.execute("UPDATE users SET display_name = name WHERE display_name IS NULL")
end

function downgrade(op)
  op.execute("UPDATE users SET display_name = NULL")
end
