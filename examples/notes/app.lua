-- examples/notes/app.lua -- a Lua program that keeps its notes in SQLite
-- and brings its own database up to date at start-up with luamig.
--
--   lua5.4 app.lua [DATABASE_FILE] [NOTE...]
--
-- With luamig installed (make install, or luarocks make), require finds it;
-- from the source tree, set LUA_PATH and LUA_CPATH to lua/ and build/lib/.
local luamig = require "luamig"
local core = require "luamig.core"

local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
local db_file = arg[1] or (here .. "/notes.db")
local url = "sqlite:" .. db_file

-- 1. Migrate at start-up: quietly, unless something goes wrong.
do
  local m <close> = luamig.open{
    url = url,
    script_location = here .. "/migrations",
    log = function(level, message)
      if level ~= "INFO" then io.stderr:write(level, ": ", message, "\n") end
    end,
  }
  local ok, err = pcall(m.upgrade, m, "head")
  if not ok then
    -- an error value: message, and revision / sql when a step failed
    io.stderr:write("cannot prepare the database: ", tostring(err), "\n")
    if type(err) == "table" and err.revision then
      io.stderr:write("  in revision ", err.revision, "\n")
    end
    os.exit(1)
  end
end

-- 2. The program's own work, on a schema it can now rely on.
local conn <close> = core.connect(url)
for i = 2, #arg do
  conn:exec("INSERT INTO notes (body, tag) VALUES ($1, $2)", {arg[i], "cli"})
end
for _, note in ipairs(conn:query("SELECT id, body, tag FROM notes ORDER BY id")) do
  print(("%d\t%s\t%s"):format(note.id, note.tag, note.body))
end
