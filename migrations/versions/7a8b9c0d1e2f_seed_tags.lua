-- A seed: the starting set of tags, loaded with bulk_insert.
revision      = "7a8b9c0d1e2f"
down_revision = "6f7a8b9c0d1e"
message       = "seed tags"

local tags = {"announcements", "databases", "lua", "migrations", "postgresql", "sqlite"}

function upgrade(op)
  local rows = {}
  for i, name in ipairs(tags) do rows[i] = {id = i, name = name} end
  op.bulk_insert("tags", rows)
end

function downgrade(op)
  op.execute("DELETE FROM tags WHERE id <= $1", {#tags})
end
