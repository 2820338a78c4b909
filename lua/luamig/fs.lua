-- luamig.fs -- the few file-system calls luamig makes beyond io.open.
-- Standard Lua has no directories, so some go through /bin/sh; they are
-- gathered here so that a host with native calls can replace them
-- (luamig.scaffold.fs is this table: scaffold.fs.mkdir_p = ...).
local core = require "luamig.core"

local fs = {}

-- s as one word for /bin/sh.
function fs.shell_quote(s)
  return "'" .. s:gsub("'", [['\'']]) .. "'"
end
local shell_quote = fs.shell_quote

-- Runs a shell command; returns its output and whether it succeeded.
local function shell(cmd)
  local p = assert(io.popen(cmd .. " 2>&1", "r"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

-- Whether path can be opened for reading.
function fs.readable(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

-- "directory", "file" (anything else that exists), or nil when the path
-- does not exist.
function fs.kind(path)
  local f, _, code = io.open(path, "r")
  if f == nil then
    if code == 2 or code == 20 then return nil end   -- ENOENT, ENOTDIR
    -- exists but unreadable (EACCES...): ask the shell
    if os.execute("test -d " .. shell_quote(path)) then return "directory" end
    if os.execute("test -e " .. shell_quote(path)) then return "file" end
    return nil
  end
  local _, _, err = f:read(0)
  f:close()
  return err == 21 and "directory" or "file"         -- EISDIR
end

-- The names in a directory, hidden ones included.
function fs.entries(dir)
  local out, ok = shell("ls -A -- " .. shell_quote(dir))
  if not ok then return nil, (out:gsub("%s+$", "")) end
  local names = {}
  for name in out:gmatch("[^\n]+") do names[#names + 1] = name end
  return names
end

-- Creates dir and its missing parents. Returns true, or nil and the reason.
function fs.mkdir_p(dir)
  local out, ok = shell("mkdir -p -- " .. shell_quote(dir))
  if ok then return true end
  out = out:gsub("%s+$", "")
  return nil, out:match(": ([^:]+)$") or out
end

-- The working directory as the shell's pwd gives it: $PWD when it is an
-- absolute path naming the current directory (the path the user cd'd
-- through, symlinks kept), else the real one.
function fs.cwd()
  local pwd = os.getenv("PWD")
  if pwd and pwd:sub(1, 1) == "/" and not (pwd .. "/"):find("/%.%.?/") then
    local here = core.file_id(".")
    if here and core.file_id(pwd) == here then return pwd end
  end
  local cwd, err = core.cwd()
  assert(cwd, "pwd failed: " .. tostring(err))
  return cwd
end

function fs.rename(from, to)
  return os.rename(from, to)
end

-- Writes a new file through a hidden temporary name, so the script loader
-- never sees half a script.
function fs.write_new_file(path, text)
  local dir, base = path:match("^(.*/)([^/]+)$")
  local tmp = (dir or "") .. "." .. (base or path) .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then error(("cannot write %s: %s"):format(path, err), 0) end
  local ok, werr = f:write(text)
  local cok, cerr = f:close()
  if not ok or not cok then
    os.remove(tmp)
    error(("cannot write %s: %s"):format(path, werr or cerr), 0)
  end
  local rok, rerr = fs.rename(tmp, path)
  if not rok then
    os.remove(tmp)
    error(("cannot write %s: %s"):format(path, rerr), 0)
  end
end

function fs.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end

-- Collapses "//", "/./" and a trailing "/" (not ".."; like Python's
-- Path.absolute(), which Alembic uses).
function fs.normalize(path)
  local abs = path:sub(1, 1) == "/"
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part ~= "." then parts[#parts + 1] = part end
  end
  local s = table.concat(parts, "/")
  if abs then return "/" .. s end
  return s == "" and "." or s
end

function fs.absolute(path)
  if path:sub(1, 1) == "/" then return fs.normalize(path) end
  return fs.normalize(fs.cwd() .. "/" .. path)
end

function fs.join(dir, name)
  if dir:sub(-1) == "/" then return dir .. name end
  return dir .. "/" .. name
end

return fs
