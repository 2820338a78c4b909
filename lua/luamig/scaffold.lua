-- luamig.scaffold -- writing new migration scripts and initialising a
-- project: what `init`, `revision` and `merge` do to the file system.
--
-- Pure Lua 5.4 and no database. The caller (the runner) has already read
-- the graph and decided the new revision's parents, labels and
-- dependencies; this module turns them into a file, the way Alembic's
-- ScriptDirectory.generate_revision renders script.py.mako.
--
--   scaffold.init{dir = "migrations", config_path = "luamig.lua", url = nil}
--     -> entries
--   scaffold.write_revision{script_location = "migrations", message = "...", ...}
--     -> path, record
--
-- An entry is {kind = "directory" | "file", path = as given, abspath =,
-- line = "Creating directory /abs/dir ...  done" | "Generating /abs/f ...  done"},
-- in the order the things were created, so the command prints entry.line.
--
-- Every failure is error(message, 0) with a plain string that names the
-- path and says what to do.
--
-- Helpers, exported for the runner and the specs: scaffold.slug(message,
-- length), scaffold.rev_id(), scaffold.format_file_template(template,
-- tokens), scaffold.render(template_text, values, name), scaffold.literal(v),
-- scaffold.TEMPLATE (the built-in script.lua.tmpl) and scaffold.fs (the
-- few file-system calls, which a caller may replace).

local scaffold = {}

-- Unicode tables for the slug, filled in at the end of this file.
local WORD_RANGES, IGNORABLE_RANGES, CASED_RANGES, LOWER_RUNS

---------------------------------------------------------------------------
-- File system. Standard Lua has no directories, so a few calls go through
-- /bin/sh; they are gathered here so that a host with native calls can
-- replace them (scaffold.fs.mkdir_p = ...).

local function shell_quote(s)
  return "'" .. s:gsub("'", [['\'']]) .. "'"
end

-- Runs a shell command; returns its output and whether it succeeded.
local function shell(cmd)
  local p = assert(io.popen(cmd .. " 2>&1", "r"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

local fs = {}
scaffold.fs = fs

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

-- The *.lua files below dir, as the script loader finds them (names that
-- start with a dot are skipped, at every depth).
function fs.find_scripts(dir)
  local out = shell("find -L " .. shell_quote(dir) .. " -mindepth 1 -name '.*' -prune -o "
                    .. "-type f -name '*.lua' -print")
  local paths = {}
  for path in out:gmatch("[^\n]+") do
    if path:sub(1, #dir) == dir then paths[#paths + 1] = path end
  end
  return paths
end

function fs.cwd()
  local out, ok = shell("pwd")
  assert(ok, "pwd failed: " .. out)
  return (out:gsub("\n$", ""))
end

function fs.rename(from, to)
  return os.rename(from, to)
end

-- Writes a new file through a hidden temporary name, so the script loader
-- never sees half a script.
local function write_new_file(path, text)
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

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end

-- Collapses "//", "/./" and a trailing "/" (not ".."; like Python's
-- Path.absolute(), which Alembic uses).
local function normalize(path)
  local abs = path:sub(1, 1) == "/"
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part ~= "." then parts[#parts + 1] = part end
  end
  local s = table.concat(parts, "/")
  if abs then return "/" .. s end
  return s == "" and "." or s
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return normalize(path) end
  return normalize(fs.cwd() .. "/" .. path)
end

local function join(dir, name)
  if dir:sub(-1) == "/" then return dir .. name end
  return dir .. "/" .. name
end

local function created_directory(path)
  local abspath = absolute(path)
  return {kind = "directory", path = path, abspath = abspath,
          line = "Creating directory " .. abspath .. " ...  done"}
end

local function created_file(path)
  local abspath = absolute(path)
  return {kind = "file", path = path, abspath = abspath,
          line = "Generating " .. abspath .. " ...  done"}
end

-- mkdir -p, appending an entry to created when the directory is new.
local function ensure_directory(dir, created)
  local kind = fs.kind(dir)
  if kind == "directory" then return end
  if kind then
    error(("%s exists and is not a directory; remove it or choose another path"):format(dir), 0)
  end
  local ok, err = fs.mkdir_p(dir)
  if not ok then error(("cannot create directory %s: %s"):format(dir, err), 0) end
  created[#created + 1] = created_directory(dir)
end

---------------------------------------------------------------------------
-- Lua literals: what the template writes for metadata values. Any string
-- loads back byte for byte: quotes, backslashes and control characters are
-- escaped, valid UTF-8 is kept readable, and bytes of invalid UTF-8 are
-- escaped so the file stays valid UTF-8.

local ESCAPES = {['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r",
                 ["\t"] = "\\t"}

local function quote(s)
  local pattern = utf8.len(s) and '[%c"\\]' or '[%c"\\\128-\255]'
  return '"' .. s:gsub(pattern, function(c)
    return ESCAPES[c] or ("\\%03d"):format(c:byte())
  end) .. '"'
end

-- nil -> nil, a string -> "...", a list -> {"a", "b"}.
function scaffold.literal(v)
  if v == nil then return "nil" end
  if type(v) == "string" then return quote(v) end
  local items = {}
  for i, item in ipairs(v) do items[i] = quote(item) end
  return "{" .. table.concat(items, ", ") .. "}"
end

---------------------------------------------------------------------------
-- The slug: Alembic's
--     slug = "_".join(re.findall(r"\w+", message or "")).lower()
--     if len(slug) > truncate_slug_length:
--         slug = slug[:truncate_slug_length].rsplit("_", 1)[0] + "_"
-- on a Python 3 str, so \w and lower() are Unicode-aware and lengths count
-- code points. The generated tables at the end carry Python's Unicode data.

-- Is cp inside one of the [first, last] pairs of the sorted ranges?
local function in_ranges(ranges, cp)
  local lo, hi = 1, #ranges // 2
  while lo <= hi do
    local mid = (lo + hi) // 2
    if cp < ranges[2 * mid - 1] then
      hi = mid - 1
    elseif cp > ranges[2 * mid] then
      lo = mid + 1
    else
      return true
    end
  end
  return false
end

local function is_word(cp)
  if cp < 0x80 then
    return (cp >= 48 and cp <= 57) or (cp >= 65 and cp <= 90) or (cp >= 97 and cp <= 122)
           or cp == 95
  end
  return in_ranges(WORD_RANGES, cp)
end

-- Case_Ignorable and Cased as str.lower() sees them for a capital sigma;
-- only word characters and "_" ever reach these (no ASCII one is ignorable).
local function is_ignorable(cp)
  return cp >= 0x80 and in_ranges(IGNORABLE_RANGES, cp)
end

local function is_cased(cp)
  if cp < 0x80 then return (cp >= 65 and cp <= 90) or (cp >= 97 and cp <= 122) end
  return in_ranges(CASED_RANGES, cp)
end

local lower_map                                     -- cp -> lowercase cp, built once
local function lower_of(cp)
  if cp < 0x80 then return (cp >= 65 and cp <= 90) and cp + 32 or cp end
  if not lower_map then
    lower_map = {}
    for i = 1, #LOWER_RUNS, 4 do
      local first, count, delta, step = table.unpack(LOWER_RUNS, i, i + 3)
      for k = 0, count - 1 do
        local c = first + k * step
        lower_map[c] = c + delta
      end
    end
  end
  return lower_map[cp] or cp
end

-- The code points of s; a byte that is not part of valid UTF-8 becomes -1,
-- which no table contains (Python would see a lone surrogate: not \w).
local function code_points(s)
  local cps, i, n = {}, 1, #s
  while i <= n do
    local b = s:byte(i)
    local len = b < 0x80 and 1 or b >= 0xF0 and 4 or b >= 0xE0 and 3 or b >= 0xC0 and 2 or 1
    local seq = s:sub(i, i + len - 1)
    if len > 1 and #seq == len and utf8.len(seq) == 1 then
      cps[#cps + 1] = utf8.codepoint(seq)
      i = i + len
    else
      cps[#cps + 1] = b < 0x80 and b or -1
      i = i + 1
    end
  end
  return cps
end

-- str.lower() of a list of code points, final sigma included
-- (CPython's handle_capital_sigma).
local function lower_code_points(cps)
  local out, n = {}, #cps
  for i, cp in ipairs(cps) do
    if cp == 0x3A3 then
      local j = i - 1
      while j >= 1 and is_ignorable(cps[j]) do j = j - 1 end
      local final = j >= 1 and is_cased(cps[j])
      if final and i < n then
        j = i + 1
        while j <= n and is_ignorable(cps[j]) do j = j + 1 end
        final = j > n or not is_cased(cps[j])
      end
      out[#out + 1] = final and 0x3C2 or 0x3C3
    elseif cp == 0x130 then                           -- the one two-code-point lowercase
      out[#out + 1] = 0x69
      out[#out + 1] = 0x307
    else
      out[#out + 1] = lower_of(cp)
    end
  end
  return out
end

-- The file-name slug of a message, exactly as Alembic computes it; a
-- length of nil means 40, Alembic's default truncate_slug_length.
function scaffold.slug(message, length)
  length = length == nil and 40 or length
  if math.type(length) ~= "integer" or length < 0 then
    error("truncate_slug_length must be a non-negative integer, not " .. tostring(length), 0)
  end
  local joined = {}
  local in_word = false
  for _, cp in ipairs(code_points(message or "")) do
    if is_word(cp) then
      if not in_word and #joined > 0 then joined[#joined + 1] = 95 end
      joined[#joined + 1] = cp
      in_word = true
    else
      in_word = false
    end
  end
  local slug = lower_code_points(joined)
  if #slug > length then
    local cut = length
    for i = length, 1, -1 do
      if slug[i] == 95 then cut = i - 1; break end
    end
    slug = {table.unpack(slug, 1, cut)}
    slug[#slug + 1] = 95
  end
  local parts = {}
  for i, cp in ipairs(slug) do parts[i] = utf8.char(cp) end
  return table.concat(parts)
end

---------------------------------------------------------------------------
-- Revision ids

-- 12 lowercase hex digits, random: Alembic's uuid4().hex[-12:].
function scaffold.rev_id()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(6)
  if f then f:close() end
  if not bytes or #bytes ~= 6 then
    bytes = string.pack(">I6", math.random(0, (1 << 48) - 1))
  end
  return (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- Alembic's _revision_illegal_chars, plus what would make the id unsafe as
-- part of a file name: "/" and control characters.
local ILLEGAL_ID_CHARS = {["+"] = true, ["-"] = true, [":"] = true, ["@"] = true,
                          ["/"] = true}

local function check_rev_id(id)
  if type(id) ~= "string" then
    error(("revision id must be a string, not a %s"):format(type(id)), 0)
  end
  if id == "" then
    error("revision id is empty; pass a revision id such as 3f2a9c1d8e7b with --rev-id, "
          .. "or none to have one generated", 0)
  end
  local found, seen = {}, {}
  for c in id:gmatch(".") do
    if (ILLEGAL_ID_CHARS[c] or c:match("%c")) and not seen[c] then
      seen[c] = true
      found[#found + 1] = c
    end
  end
  if #found > 0 then
    table.sort(found)
    for i, c in ipairs(found) do
      if c:match("%c") then found[i] = ("\\%03d"):format(c:byte()) end
    end
    error(("Character(s) '%s' not allowed in revision identifier '%s'")
          :format(table.concat(found, ", "), id:gsub("%c", function(c)
            return ("\\%03d"):format(c:byte())
          end)), 0)
  end
end

---------------------------------------------------------------------------
-- file_template: Python's "%" formatting with a mapping, as Alembic applies
-- it, so every template written for Alembic works (%(rev)s, %(year)d,
-- %(month).2d, %(epoch)s, %%...). Any conversion Python accepts is
-- accepted; a token that is not one of Alembic's is an error.

local TOKEN_NAMES = "rev, slug, epoch, year, month, day, hour, minute, second"

local function ulen(s)
  return utf8.len(s) or #s
end

-- The first n code points of s.
local function usub(s, n)
  if not utf8.len(s) then return s:sub(1, n) end
  if n >= utf8.len(s) then return s end
  return s:sub(1, utf8.offset(s, n + 1) - 1)
end

local function pad(s, width, left)
  local missing = width - ulen(s)
  if missing <= 0 then return s end
  return left and s .. (" "):rep(missing) or (" "):rep(missing) .. s
end

local function python_repr(v)
  if type(v) ~= "string" then return tostring(v) end
  local q = (v:find("'", 1, true) and not v:find('"', 1, true)) and '"' or "'"
  return q .. v:gsub("\\", "\\\\"):gsub(q, "\\" .. q) .. q
end

-- One conversion of Python's printf-style formatting.
local function convert(template, name, value, flags, width, dot, precision, conv)
  local function fail(why)
    error(("file_template %s: %%(%s)%s %s"):format(quote(template), name, conv, why), 0)
  end
  if not conv:match("^[sracdiuoxXeEfFgG]$") then
    error(("file_template %s: unsupported format character '%s' in %%(%s)%s")
          :format(quote(template), conv, name, conv), 0)
  end
  width = tonumber(width) or 0
  precision = dot == "." and (tonumber(precision) or 0) or nil
  if width > 255 or (precision and precision > 255) then fail("is too wide") end
  local left = flags:find("-", 1, true) ~= nil
  if conv == "s" or conv == "r" or conv == "a" then
    local s = conv == "s" and tostring(value) or python_repr(value)
    if precision then s = usub(s, precision) end
    return pad(s, width, left)
  elseif conv == "c" then
    local s = type(value) == "string" and value or utf8.char(value)
    if type(value) == "string" and ulen(value) ~= 1 then fail("needs a single character") end
    return pad(s, width, left)
  end
  if type(value) ~= "number" then
    fail(("needs a number, but %s is text; use %%(%s)s"):format(name, name))
  end
  if conv == "d" or conv == "i" or conv == "u" or conv == "o" or conv == "x" or conv == "X" then
    local digits
    if conv == "o" then digits = ("%o"):format(math.abs(value))
    elseif conv == "x" then digits = ("%x"):format(math.abs(value))
    elseif conv == "X" then digits = ("%X"):format(math.abs(value))
    else digits = ("%d"):format(math.abs(value)) end
    if precision and #digits < precision then digits = ("0"):rep(precision - #digits) .. digits end
    if flags:find("#", 1, true) and (conv == "o" or conv == "x" or conv == "X") then
      digits = (conv == "o" and "0o" or conv == "x" and "0x" or "0X") .. digits
    end
    local sign = value < 0 and "-" or flags:find("+", 1, true) and "+"
                 or flags:find(" ", 1, true) and " " or ""
    if not left and flags:find("0", 1, true) and #sign + #digits < width then
      local prefix = digits:match("^0[oxX]") or ""
      digits = prefix .. ("0"):rep(width - #sign - #digits) .. digits:sub(#prefix + 1)
    end
    return pad(sign .. digits, width, left)
  end
  -- e E f F g G
  if width > 99 or (precision and precision > 99) then fail("is too wide") end
  return (("%" .. flags .. (width > 0 and width or "") .. (precision and "." .. precision or "")
           .. conv):format(value))
end

-- template % tokens, as Python formats a string with a mapping.
function scaffold.format_file_template(template, tokens)
  local out, i, n = {}, 1, #template
  while i <= n do
    local p = template:find("%", i, true)
    if not p then
      out[#out + 1] = template:sub(i)
      break
    end
    out[#out + 1] = template:sub(i, p - 1)
    if template:sub(p + 1, p + 1) == "%" then
      out[#out + 1] = "%"
      i = p + 2
    else
      local name, flags, width, dot, precision, stop =
        template:match("^%%%(([^)]*)%)([-+ #0]*)(%d*)(%.?)(%d*)[hlL]?()", p)
      if not name then
        error(("file_template %s: the %% at position %d must start a token such as %%(rev)s "
               .. "(tokens: %s), or be written %%%% for a literal %%")
              :format(quote(template), p, TOKEN_NAMES), 0)
      end
      local conv = template:sub(stop, stop)
      if conv == "" then
        error(("file_template %s: incomplete format at the end"):format(quote(template)), 0)
      end
      local value = tokens[name]
      if value == nil then
        error(("file_template %s: unknown token %%(%s)%s; the tokens are %s")
              :format(quote(template), name, conv, TOKEN_NAMES), 0)
      end
      out[#out + 1] = convert(template, name, value, flags, width, dot, precision, conv)
      i = stop + 1
    end
  end
  return table.concat(out)
end

---------------------------------------------------------------------------
-- The script template: a Lua file with ${name} substitutions. The metadata
-- values (revision, down_revision, branch_labels, depends_on, message)
-- arrive as Lua literals; create_date, revision_id, revises and
-- message_comment as text for comments; upgrades and downgrades as Lua
-- code. A multi-line value continues at the indentation of the line that
-- holds its ${name}. "$${" writes a literal "${".

scaffold.TEMPLATE = [[
-- ${message_comment}
--
-- Revision ID: ${revision_id}
-- Revises: ${revises}
-- Create Date: ${create_date}

revision      = ${revision}
down_revision = ${down_revision}
branch_labels = ${branch_labels}
depends_on    = ${depends_on}
message       = ${message}

function upgrade(op)
  ${upgrades}
end

function downgrade(op)
  ${downgrades}
end
]]

local DEFAULT_UPGRADES = '-- the changes, e.g. op.add_column("users", {"name", "text"})'
local DEFAULT_DOWNGRADES = '-- undo them, e.g. op.drop_column("users", "name")'

-- Substitutes ${name} in text from values (strings); name is the
-- template's name for error messages.
function scaffold.render(text, values, name)
  name = name or "template"
  return (text:gsub("()%$(%$?){([^}\n]*)}", function(pos, escaped, key)
    if escaped == "$" then return "${" .. key .. "}" end
    local value = values[key]
    if value == nil then
      local known = {}
      for k in pairs(values) do known[#known + 1] = k end
      table.sort(known)
      local _, line = text:sub(1, pos):gsub("\n", "")
      error(("%s:%d: unknown substitution ${%s}; the template may use ${%s}")
            :format(name, line + 1, key, table.concat(known, "}, ${")), 0)
    end
    value = tostring(value)
    if value:find("\n", 1, true) then
      local line_start = pos
      while line_start > 1 and text:sub(line_start - 1, line_start - 1) ~= "\n" do
        line_start = line_start - 1
      end
      local indent = text:match("^[ \t]*", line_start)
      value = value:gsub("\n([^\n])", function(c) return "\n" .. indent .. c end)
    end
    return value
  end))
end

-- A body for upgrade/downgrade: nil or blank gives the default comment;
-- leading blank lines and trailing white space go.
local function body(code, default, what)
  if code == nil then return default end
  if type(code) ~= "string" then
    error(("%s must be a string of Lua code, not a %s"):format(what, type(code)), 0)
  end
  code = code:gsub("^%s*\n", ""):gsub("%s+$", "")
  if code == "" then return default end
  return code
end

-- The message as the rest of a "-- " comment: each further line gets its
-- own "--".
local function comment_text(s)
  s = s:gsub("\r\n", "\n"):gsub("\r", "\n")
  return (s:gsub("\n([^\n]?)", function(c) return c == "" and "\n--" or "\n-- " .. c end))
end

---------------------------------------------------------------------------
-- init

local CONFIG_TEMPLATE = [[
-- luamig.lua: the project configuration. Every setting is optional; the
-- commented-out values are the defaults.

-- holds versions/ and script.lua.tmpl
script_location = ${script_location}

-- the database; --url and the DATABASE_URL environment variable take precedence
${url}

-- version_table = "luamig_version"

-- new scripts' file names; Alembic's tokens:
-- %(rev)s %(slug)s %(year)d %(month).2d %(day).2d %(hour).2d %(minute).2d %(second).2d %(epoch)s
-- file_template = "%(rev)s_%(slug)s"

-- the declared schema that autogenerate compares against
-- target_schema = "schema.lua"

-- false: the whole run in one transaction
-- transaction_per_migration = true
]]

-- The multidb template's configuration: one section per database, each
-- with its own scripts and version table; every command names one with
-- -n (Alembic's multidb template runs one env.py over several engines).
local MULTIDB_CONFIG_TEMPLATE = [[
-- luamig.lua: a project of several databases (init -t multidb). Each
-- database is a section with its own scripts and URL; every command names
-- the section it works on:
--
--   luamig -n engine1 upgrade head
--   luamig -n engine2 revision -m "create accounts"
--
-- Settings outside sections apply to every section; a section's own
-- settings take precedence. The database URL still yields to --url and
-- DATABASE_URL, so set those only for one section's command.

-- version_table = "luamig_version"
-- transaction_per_migration = true

sections = {
  engine1 = {
    script_location = ${engine1_location},
    url = "sqlite:engine1.db",
  },
  engine2 = {
    script_location = ${engine2_location},
    url = "sqlite:engine2.db",
  },
}
]]

-- The project templates init -t takes: name, description, and the
-- script directories below DIR ("" for DIR itself) that it creates.
scaffold.TEMPLATES = {
  {name = "generic", description = "Generic single-database configuration.", dirs = {""}},
  {name = "multidb", description = "Several databases, one section of luamig.lua each "
     .. "(luamig -n engine1 ...).", dirs = {"engine1", "engine2"}},
}

-- Creates DIR/versions/, DIR/script.lua.tmpl and the configuration file
-- (opts.template "multidb": DIR/engine1/ and DIR/engine2/ with one each);
-- see the top of the file for the entries returned.
function scaffold.init(opts)
  opts = opts or {}
  local template_name = opts.template or "generic"
  local template
  for _, t in ipairs(scaffold.TEMPLATES) do if t.name == template_name then template = t end end
  if not template then
    local names = {}
    for i, t in ipairs(scaffold.TEMPLATES) do names[i] = t.name end
    error(("init: no template '%s'%s; the templates: %s (luamig list_templates)")
      :format(tostring(template_name), require("luamig.suggest").hint(tostring(template_name), names),
              table.concat(names, ", ")), 0)
  end
  local dir = opts.dir or "migrations"
  local config_path = opts.config_path or "luamig.lua"
  if type(dir) ~= "string" or dir == "" then error("init: dir must be a non-empty path", 0) end
  if type(config_path) ~= "string" or config_path == "" then
    error("init: config_path must be a non-empty path", 0)
  end
  if opts.url ~= nil and type(opts.url) ~= "string" then
    error("init: url must be a string", 0)
  end

  -- refuse before creating anything
  local kind = fs.kind(dir)
  if kind == "file" then
    error(("%s exists and is not a directory; choose another directory for the scripts, "
           .. "e.g. luamig init migrations"):format(dir), 0)
  elseif kind == "directory" then
    local names, err = fs.entries(dir)
    if not names then error(("cannot read directory %s: %s"):format(dir, err), 0) end
    if #names > 0 then
      error(("Directory %s already exists and is not empty; choose another directory, "
             .. "or remove its contents first"):format(dir), 0)
    end
  end
  if fs.kind(config_path) then
    error(("File %s already exists; to start a new project elsewhere, run init in another "
           .. "directory or pass another configuration file with -c"):format(config_path), 0)
  end
  local config_dir = config_path:match("^(.*)/[^/]*$")
  if config_dir and config_dir ~= "" and fs.kind(config_dir) ~= "directory" then
    error(("cannot create %s: directory %s does not exist; create it first or pass another "
           .. "configuration file with -c"):format(config_path, config_dir), 0)
  end

  local created = {}
  ensure_directory(dir, created)
  for _, sub in ipairs(template.dirs) do
    local location = sub == "" and dir or join(dir, sub)
    ensure_directory(location, created)
    ensure_directory(join(location, "versions"), created)
    local template_path = join(location, "script.lua.tmpl")
    write_new_file(template_path, scaffold.TEMPLATE)
    created[#created + 1] = created_file(template_path)
  end

  local config
  if template.name == "multidb" then
    config = scaffold.render(MULTIDB_CONFIG_TEMPLATE, {
      engine1_location = quote(join(dir, "engine1")), engine2_location = quote(join(dir, "engine2")),
    }, "luamig.lua template")
  else
    config = scaffold.render(CONFIG_TEMPLATE, {
      script_location = quote(dir),
      url = opts.url and "url = " .. quote(opts.url) or '-- url = "sqlite:luamig.db"',
    }, "luamig.lua template")
  end
  write_new_file(config_path, config)
  created[#created + 1] = created_file(config_path)
  return created
end

---------------------------------------------------------------------------
-- write_revision

-- nil | string | list of strings -> nil | list (empty -> nil).
local function id_list(v, what)
  if v == nil then return nil end
  if type(v) == "string" then v = {v} end
  if type(v) ~= "table" then
    error(("%s must be nil, a string or a list of strings, not a %s"):format(what, type(v)), 0)
  end
  local list, seen = {}, {}
  for i, item in ipairs(v) do
    if type(item) ~= "string" or item == "" then
      error(("%s[%d] must be a non-empty string"):format(what, i), 0)
    end
    if seen[item] then
      error(("%s lists %s twice"):format(what, item), 0)
    end
    seen[item] = true
    list[#list + 1] = item
  end
  return #list > 0 and list or nil
end

-- down_revision as a script states it: nil, one id, or a list of two or more.
local function scalar_or_list(list)
  if list == nil then return nil end
  if #list == 1 then return list[1] end
  return list
end

local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- The ids already present: the existing_ids option (a set of id -> true
-- or path, or a list), else a scan of the version locations for lines
-- `revision = "..."` (no script is run).
local function existing_revisions(opts, locations)
  local known = {}
  if opts.existing_ids ~= nil then
    for k, v in pairs(opts.existing_ids) do
      if math.type(k) == "integer" and type(v) == "string" then
        known[v] = known[v] or true
      elseif type(k) == "string" and v then
        known[k] = v
      end
    end
    return known
  end
  for _, dir in ipairs(locations) do
    if fs.kind(dir) == "directory" then
      for _, path in ipairs(fs.find_scripts(dir)) do
        local text = read_file(path) or ""
        for line in text:gmatch("[^\n]+") do
          local id = line:match("^%s*revision%s*=%s*\"([^\"\\]*)\"")
                     or line:match("^%s*revision%s*=%s*'([^'\\]*)'")
          if id then
            known[id] = known[id] or path
            break
          end
        end
      end
    end
  end
  return known
end

-- Where the new file goes: version_path if it is one of the locations, the
-- only location, or an error.
local function choose_location(opts, locations)
  local version_path = opts.version_path
  if version_path == nil then
    if #locations > 1 then
      error("Multiple version locations present, please specify --version-path "
            .. "(one of: " .. table.concat(locations, ", ") .. ")", 0)
    end
    return locations[1]
  end
  if type(version_path) ~= "string" or version_path == "" then
    error("version_path must be a non-empty path", 0)
  end
  local wanted = absolute(version_path)
  for _, location in ipairs(locations) do
    if absolute(location) == wanted then return version_path end
  end
  error(("Path %s is not represented in current version locations; use one of: %s")
        :format(version_path, table.concat(locations, ", ")), 0)
end

-- The file name below the version location: file_template's result plus
-- ".lua", relative, without "." or ".." components or hidden names.
local function check_file_name(name, file_template)
  local problem
  if name == "" or name:sub(-1) == "/" then
    problem = "an empty file name"
  elseif name:sub(1, 1) == "/" then
    problem = "an absolute path"
  elseif name:find("%z") then
    problem = "a NUL byte"
  else
    for part in name:gmatch("[^/]+") do
      if part == "." or part == ".." then
        problem = "a '" .. part .. "' component"
      elseif part:sub(1, 1) == "." then
        problem = "a name starting with '.', which luamig skips when it looks for scripts"
      end
    end
  end
  if problem then
    error(("file_template %s gives %s (%s); change file_template")
          :format(quote(file_template), quote(name .. ".lua"), problem), 0)
  end
end

-- Loads the rendered script in a fresh environment, as the runner will,
-- and checks that it states what was asked. Nothing touches a database:
-- loading a script only defines its globals.
local function check_rendered(text, path, template_name, expect)
  local env = setmetatable({}, {__index = _G})
  -- chunk name "=": messages come as ":line: ...", and get the full path
  -- (a long "@path" would be cut to its last 60 characters)
  local chunk, err = load(text, "=", "t", env)
  if chunk then
    local ok, rerr = pcall(chunk)
    err = not ok and tostring(rerr) or nil
  end
  if err then
    err = err:sub(1, 1) == ":" and path .. err or path .. ": " .. err
    error(("the script rendered from %s does not load: %s; fix the template or the "
           .. "upgrade/downgrade code"):format(template_name, err), 0)
  end
  for _, key in ipairs{"revision", "down_revision", "branch_labels", "depends_on", "message"} do
    local got = rawget(env, key)
    if not same(got, expect[key]) then
      error(("the script rendered from %s has %s = %s instead of %s; the template must "
             .. "contain %s = ${%s}"):format(template_name, key,
             type(got) == "table" and "a table" or scaffold.literal(got),
             scaffold.literal(expect[key]), key, key), 0)
    end
  end
  if type(rawget(env, "upgrade")) ~= "function" then
    error(("the script rendered from %s defines no upgrade function; the template must "
           .. "contain function upgrade(op) ... end"):format(template_name), 0)
  end
end

function scaffold.write_revision(opts)
  if type(opts) ~= "table" then error("write_revision: expected a table of options", 0) end
  local script_location = opts.script_location
  if type(script_location) ~= "string" or script_location == "" then
    error("write_revision: script_location must be a non-empty path", 0)
  end
  if fs.kind(script_location) ~= "directory" then
    error(("Path doesn't exist: '%s'. Please use the 'init' command to create a new scripts "
           .. "folder."):format(script_location), 0)
  end
  if opts.message ~= nil and type(opts.message) ~= "string" then
    error("message must be a string", 0)
  end

  local locations = {}
  if opts.version_locations ~= nil then
    for _, location in ipairs(opts.version_locations) do locations[#locations + 1] = location end
  end
  if #locations == 0 then locations[1] = join(script_location, "versions") end
  local location = choose_location(opts, locations)

  local existing = existing_revisions(opts, locations)
  local rev_id = opts.rev_id
  if rev_id == nil then
    repeat rev_id = scaffold.rev_id() until not existing[rev_id]
  else
    check_rev_id(rev_id)
    if existing[rev_id] then
      local where = type(existing[rev_id]) == "string" and " in " .. existing[rev_id] or ""
      error(("Revision %s is already present%s; choose another id with --rev-id, or leave "
             .. "it out to have one generated"):format(rev_id, where), 0)
    end
  end

  local down = id_list(opts.down_revision, "down_revision")
  if down then
    for _, id in ipairs(down) do
      if id == rev_id then
        error(("revision %s cannot be its own down_revision"):format(rev_id), 0)
      end
    end
  end
  local branch_labels = id_list(opts.branch_labels, "branch_labels")
  local depends_on = id_list(opts.depends_on, "depends_on")
  local message = opts.message
  if message == nil then message = "empty message" end    -- Alembic's, for no -m

  local now = opts.now or os.time()
  if math.type(now) == "float" then now = math.floor(now) end
  if math.type(now) ~= "integer" then error("now must be a time in seconds", 0) end
  local date_prefix = opts.utc and "!" or ""
  local t = os.date(date_prefix .. "*t", now)
  local create_date = os.date(date_prefix .. "%Y-%m-%d %H:%M:%S", now)

  local file_template = opts.file_template or "%(rev)s_%(slug)s"
  if type(file_template) ~= "string" then error("file_template must be a string", 0) end
  local name = scaffold.format_file_template(file_template, {
    rev = rev_id, slug = scaffold.slug(opts.message, opts.truncate_slug_length),
    epoch = now, year = t.year, month = t.month, day = t.day,
    hour = t.hour, minute = t.min, second = t.sec,
  })
  check_file_name(name, file_template)
  local path = join(location, name .. ".lua")
  if fs.kind(path) then
    error(("File %s already exists; choose another --rev-id or file_template, or remove the file")
          :format(path), 0)
  end

  -- the template: given text, a given file, script_location's, or built in
  local template_text, template_name = opts.template_text, "the template text"
  if template_text == nil then
    local template_path = opts.template
    if template_path ~= nil then
      local text, err = read_file(template_path)
      if not text then
        error(("cannot read the template %s: %s"):format(template_path, err), 0)
      end
      template_text, template_name = text, template_path
    else
      template_path = join(script_location, "script.lua.tmpl")
      template_text = read_file(template_path)
      template_name = template_path
      if not template_text then
        template_text, template_name = scaffold.TEMPLATE, "the built-in template"
      end
    end
  end

  local revises = down and table.concat(down, ", ") or "<base>"
  local values = {
    revision = quote(rev_id), revision_id = rev_id, revises = revises,
    down_revision = scaffold.literal(scalar_or_list(down)),
    branch_labels = scaffold.literal(branch_labels),
    depends_on = scaffold.literal(depends_on),
    message = quote(message), message_comment = comment_text(message),
    create_date = create_date,
    upgrades = body(opts.upgrades, DEFAULT_UPGRADES, "upgrades"),
    downgrades = body(opts.downgrades, DEFAULT_DOWNGRADES, "downgrades"),
  }
  if opts.template_args then
    for k, v in pairs(opts.template_args) do
      if values[k] == nil then values[k] = tostring(v) end
    end
  end
  local text = scaffold.render(template_text, values, template_name)
  check_rendered(text, path, template_name, {
    revision = rev_id, down_revision = scalar_or_list(down), branch_labels = branch_labels,
    depends_on = depends_on, message = message,
  })

  local created = {}
  ensure_directory(path:match("^(.*)/[^/]*$"), created)
  write_new_file(path, text)
  created[#created + 1] = created_file(path)
  return path, {
    revision = rev_id, down_revision = scalar_or_list(down), branch_labels = branch_labels,
    depends_on = depends_on, message = message, create_date = create_date, path = path,
    created = created,
  }
end

---------------------------------------------------------------------------
-- BEGIN GENERATED UNICODE TABLES (spec/fixtures/scaffold/gen_unicode.py, Python 3.11.7,
-- Unicode 14.0.0). Pairs of first, last code point; runs of first, count, delta, step.
WORD_RANGES = {0xAA, 0xAA, 0xB2, 0xB3, 0xB5, 0xB5, 0xB9, 0xBA, 0xBC, 0xBE, 0xC0, 0xD6, 0xD8, 0xF6,
  0xF8, 0x2C1, 0x2C6, 0x2D1, 0x2E0, 0x2E4, 0x2EC, 0x2EC, 0x2EE, 0x2EE, 0x370, 0x374, 0x376, 0x377,
  0x37A, 0x37D, 0x37F, 0x37F, 0x386, 0x386, 0x388, 0x38A, 0x38C, 0x38C, 0x38E, 0x3A1, 0x3A3, 0x3F5,
  0x3F7, 0x481, 0x48A, 0x52F, 0x531, 0x556, 0x559, 0x559, 0x560, 0x588, 0x5D0, 0x5EA, 0x5EF, 0x5F2,
  0x620, 0x64A, 0x660, 0x669, 0x66E, 0x66F, 0x671, 0x6D3, 0x6D5, 0x6D5, 0x6E5, 0x6E6, 0x6EE, 0x6FC,
  0x6FF, 0x6FF, 0x710, 0x710, 0x712, 0x72F, 0x74D, 0x7A5, 0x7B1, 0x7B1, 0x7C0, 0x7EA, 0x7F4, 0x7F5,
  0x7FA, 0x7FA, 0x800, 0x815, 0x81A, 0x81A, 0x824, 0x824, 0x828, 0x828, 0x840, 0x858, 0x860, 0x86A,
  0x870, 0x887, 0x889, 0x88E, 0x8A0, 0x8C9, 0x904, 0x939, 0x93D, 0x93D, 0x950, 0x950, 0x958, 0x961,
  0x966, 0x96F, 0x971, 0x980, 0x985, 0x98C, 0x98F, 0x990, 0x993, 0x9A8, 0x9AA, 0x9B0, 0x9B2, 0x9B2,
  0x9B6, 0x9B9, 0x9BD, 0x9BD, 0x9CE, 0x9CE, 0x9DC, 0x9DD, 0x9DF, 0x9E1, 0x9E6, 0x9F1, 0x9F4, 0x9F9,
  0x9FC, 0x9FC, 0xA05, 0xA0A, 0xA0F, 0xA10, 0xA13, 0xA28, 0xA2A, 0xA30, 0xA32, 0xA33, 0xA35, 0xA36,
  0xA38, 0xA39, 0xA59, 0xA5C, 0xA5E, 0xA5E, 0xA66, 0xA6F, 0xA72, 0xA74, 0xA85, 0xA8D, 0xA8F, 0xA91,
  0xA93, 0xAA8, 0xAAA, 0xAB0, 0xAB2, 0xAB3, 0xAB5, 0xAB9, 0xABD, 0xABD, 0xAD0, 0xAD0, 0xAE0, 0xAE1,
  0xAE6, 0xAEF, 0xAF9, 0xAF9, 0xB05, 0xB0C, 0xB0F, 0xB10, 0xB13, 0xB28, 0xB2A, 0xB30, 0xB32, 0xB33,
  0xB35, 0xB39, 0xB3D, 0xB3D, 0xB5C, 0xB5D, 0xB5F, 0xB61, 0xB66, 0xB6F, 0xB71, 0xB77, 0xB83, 0xB83,
  0xB85, 0xB8A, 0xB8E, 0xB90, 0xB92, 0xB95, 0xB99, 0xB9A, 0xB9C, 0xB9C, 0xB9E, 0xB9F, 0xBA3, 0xBA4,
  0xBA8, 0xBAA, 0xBAE, 0xBB9, 0xBD0, 0xBD0, 0xBE6, 0xBF2, 0xC05, 0xC0C, 0xC0E, 0xC10, 0xC12, 0xC28,
  0xC2A, 0xC39, 0xC3D, 0xC3D, 0xC58, 0xC5A, 0xC5D, 0xC5D, 0xC60, 0xC61, 0xC66, 0xC6F, 0xC78, 0xC7E,
  0xC80, 0xC80, 0xC85, 0xC8C, 0xC8E, 0xC90, 0xC92, 0xCA8, 0xCAA, 0xCB3, 0xCB5, 0xCB9, 0xCBD, 0xCBD,
  0xCDD, 0xCDE, 0xCE0, 0xCE1, 0xCE6, 0xCEF, 0xCF1, 0xCF2, 0xD04, 0xD0C, 0xD0E, 0xD10, 0xD12, 0xD3A,
  0xD3D, 0xD3D, 0xD4E, 0xD4E, 0xD54, 0xD56, 0xD58, 0xD61, 0xD66, 0xD78, 0xD7A, 0xD7F, 0xD85, 0xD96,
  0xD9A, 0xDB1, 0xDB3, 0xDBB, 0xDBD, 0xDBD, 0xDC0, 0xDC6, 0xDE6, 0xDEF, 0xE01, 0xE30, 0xE32, 0xE33,
  0xE40, 0xE46, 0xE50, 0xE59, 0xE81, 0xE82, 0xE84, 0xE84, 0xE86, 0xE8A, 0xE8C, 0xEA3, 0xEA5, 0xEA5,
  0xEA7, 0xEB0, 0xEB2, 0xEB3, 0xEBD, 0xEBD, 0xEC0, 0xEC4, 0xEC6, 0xEC6, 0xED0, 0xED9, 0xEDC, 0xEDF,
  0xF00, 0xF00, 0xF20, 0xF33, 0xF40, 0xF47, 0xF49, 0xF6C, 0xF88, 0xF8C, 0x1000, 0x102A, 0x103F,
  0x1049, 0x1050, 0x1055, 0x105A, 0x105D, 0x1061, 0x1061, 0x1065, 0x1066, 0x106E, 0x1070, 0x1075,
  0x1081, 0x108E, 0x108E, 0x1090, 0x1099, 0x10A0, 0x10C5, 0x10C7, 0x10C7, 0x10CD, 0x10CD, 0x10D0,
  0x10FA, 0x10FC, 0x1248, 0x124A, 0x124D, 0x1250, 0x1256, 0x1258, 0x1258, 0x125A, 0x125D, 0x1260,
  0x1288, 0x128A, 0x128D, 0x1290, 0x12B0, 0x12B2, 0x12B5, 0x12B8, 0x12BE, 0x12C0, 0x12C0, 0x12C2,
  0x12C5, 0x12C8, 0x12D6, 0x12D8, 0x1310, 0x1312, 0x1315, 0x1318, 0x135A, 0x1369, 0x137C, 0x1380,
  0x138F, 0x13A0, 0x13F5, 0x13F8, 0x13FD, 0x1401, 0x166C, 0x166F, 0x167F, 0x1681, 0x169A, 0x16A0,
  0x16EA, 0x16EE, 0x16F8, 0x1700, 0x1711, 0x171F, 0x1731, 0x1740, 0x1751, 0x1760, 0x176C, 0x176E,
  0x1770, 0x1780, 0x17B3, 0x17D7, 0x17D7, 0x17DC, 0x17DC, 0x17E0, 0x17E9, 0x17F0, 0x17F9, 0x1810,
  0x1819, 0x1820, 0x1878, 0x1880, 0x1884, 0x1887, 0x18A8, 0x18AA, 0x18AA, 0x18B0, 0x18F5, 0x1900,
  0x191E, 0x1946, 0x196D, 0x1970, 0x1974, 0x1980, 0x19AB, 0x19B0, 0x19C9, 0x19D0, 0x19DA, 0x1A00,
  0x1A16, 0x1A20, 0x1A54, 0x1A80, 0x1A89, 0x1A90, 0x1A99, 0x1AA7, 0x1AA7, 0x1B05, 0x1B33, 0x1B45,
  0x1B4C, 0x1B50, 0x1B59, 0x1B83, 0x1BA0, 0x1BAE, 0x1BE5, 0x1C00, 0x1C23, 0x1C40, 0x1C49, 0x1C4D,
  0x1C7D, 0x1C80, 0x1C88, 0x1C90, 0x1CBA, 0x1CBD, 0x1CBF, 0x1CE9, 0x1CEC, 0x1CEE, 0x1CF3, 0x1CF5,
  0x1CF6, 0x1CFA, 0x1CFA, 0x1D00, 0x1DBF, 0x1E00, 0x1F15, 0x1F18, 0x1F1D, 0x1F20, 0x1F45, 0x1F48,
  0x1F4D, 0x1F50, 0x1F57, 0x1F59, 0x1F59, 0x1F5B, 0x1F5B, 0x1F5D, 0x1F5D, 0x1F5F, 0x1F7D, 0x1F80,
  0x1FB4, 0x1FB6, 0x1FBC, 0x1FBE, 0x1FBE, 0x1FC2, 0x1FC4, 0x1FC6, 0x1FCC, 0x1FD0, 0x1FD3, 0x1FD6,
  0x1FDB, 0x1FE0, 0x1FEC, 0x1FF2, 0x1FF4, 0x1FF6, 0x1FFC, 0x2070, 0x2071, 0x2074, 0x2079, 0x207F,
  0x2089, 0x2090, 0x209C, 0x2102, 0x2102, 0x2107, 0x2107, 0x210A, 0x2113, 0x2115, 0x2115, 0x2119,
  0x211D, 0x2124, 0x2124, 0x2126, 0x2126, 0x2128, 0x2128, 0x212A, 0x212D, 0x212F, 0x2139, 0x213C,
  0x213F, 0x2145, 0x2149, 0x214E, 0x214E, 0x2150, 0x2189, 0x2460, 0x249B, 0x24EA, 0x24FF, 0x2776,
  0x2793, 0x2C00, 0x2CE4, 0x2CEB, 0x2CEE, 0x2CF2, 0x2CF3, 0x2CFD, 0x2CFD, 0x2D00, 0x2D25, 0x2D27,
  0x2D27, 0x2D2D, 0x2D2D, 0x2D30, 0x2D67, 0x2D6F, 0x2D6F, 0x2D80, 0x2D96, 0x2DA0, 0x2DA6, 0x2DA8,
  0x2DAE, 0x2DB0, 0x2DB6, 0x2DB8, 0x2DBE, 0x2DC0, 0x2DC6, 0x2DC8, 0x2DCE, 0x2DD0, 0x2DD6, 0x2DD8,
  0x2DDE, 0x2E2F, 0x2E2F, 0x3005, 0x3007, 0x3021, 0x3029, 0x3031, 0x3035, 0x3038, 0x303C, 0x3041,
  0x3096, 0x309D, 0x309F, 0x30A1, 0x30FA, 0x30FC, 0x30FF, 0x3105, 0x312F, 0x3131, 0x318E, 0x3192,
  0x3195, 0x31A0, 0x31BF, 0x31F0, 0x31FF, 0x3220, 0x3229, 0x3248, 0x324F, 0x3251, 0x325F, 0x3280,
  0x3289, 0x32B1, 0x32BF, 0x3400, 0x4DBF, 0x4E00, 0xA48C, 0xA4D0, 0xA4FD, 0xA500, 0xA60C, 0xA610,
  0xA62B, 0xA640, 0xA66E, 0xA67F, 0xA69D, 0xA6A0, 0xA6EF, 0xA717, 0xA71F, 0xA722, 0xA788, 0xA78B,
  0xA7CA, 0xA7D0, 0xA7D1, 0xA7D3, 0xA7D3, 0xA7D5, 0xA7D9, 0xA7F2, 0xA801, 0xA803, 0xA805, 0xA807,
  0xA80A, 0xA80C, 0xA822, 0xA830, 0xA835, 0xA840, 0xA873, 0xA882, 0xA8B3, 0xA8D0, 0xA8D9, 0xA8F2,
  0xA8F7, 0xA8FB, 0xA8FB, 0xA8FD, 0xA8FE, 0xA900, 0xA925, 0xA930, 0xA946, 0xA960, 0xA97C, 0xA984,
  0xA9B2, 0xA9CF, 0xA9D9, 0xA9E0, 0xA9E4, 0xA9E6, 0xA9FE, 0xAA00, 0xAA28, 0xAA40, 0xAA42, 0xAA44,
  0xAA4B, 0xAA50, 0xAA59, 0xAA60, 0xAA76, 0xAA7A, 0xAA7A, 0xAA7E, 0xAAAF, 0xAAB1, 0xAAB1, 0xAAB5,
  0xAAB6, 0xAAB9, 0xAABD, 0xAAC0, 0xAAC0, 0xAAC2, 0xAAC2, 0xAADB, 0xAADD, 0xAAE0, 0xAAEA, 0xAAF2,
  0xAAF4, 0xAB01, 0xAB06, 0xAB09, 0xAB0E, 0xAB11, 0xAB16, 0xAB20, 0xAB26, 0xAB28, 0xAB2E, 0xAB30,
  0xAB5A, 0xAB5C, 0xAB69, 0xAB70, 0xABE2, 0xABF0, 0xABF9, 0xAC00, 0xD7A3, 0xD7B0, 0xD7C6, 0xD7CB,
  0xD7FB, 0xF900, 0xFA6D, 0xFA70, 0xFAD9, 0xFB00, 0xFB06, 0xFB13, 0xFB17, 0xFB1D, 0xFB1D, 0xFB1F,
  0xFB28, 0xFB2A, 0xFB36, 0xFB38, 0xFB3C, 0xFB3E, 0xFB3E, 0xFB40, 0xFB41, 0xFB43, 0xFB44, 0xFB46,
  0xFBB1, 0xFBD3, 0xFD3D, 0xFD50, 0xFD8F, 0xFD92, 0xFDC7, 0xFDF0, 0xFDFB, 0xFE70, 0xFE74, 0xFE76,
  0xFEFC, 0xFF10, 0xFF19, 0xFF21, 0xFF3A, 0xFF41, 0xFF5A, 0xFF66, 0xFFBE, 0xFFC2, 0xFFC7, 0xFFCA,
  0xFFCF, 0xFFD2, 0xFFD7, 0xFFDA, 0xFFDC, 0x10000, 0x1000B, 0x1000D, 0x10026, 0x10028, 0x1003A,
  0x1003C, 0x1003D, 0x1003F, 0x1004D, 0x10050, 0x1005D, 0x10080, 0x100FA, 0x10107, 0x10133, 0x10140,
  0x10178, 0x1018A, 0x1018B, 0x10280, 0x1029C, 0x102A0, 0x102D0, 0x102E1, 0x102FB, 0x10300, 0x10323,
  0x1032D, 0x1034A, 0x10350, 0x10375, 0x10380, 0x1039D, 0x103A0, 0x103C3, 0x103C8, 0x103CF, 0x103D1,
  0x103D5, 0x10400, 0x1049D, 0x104A0, 0x104A9, 0x104B0, 0x104D3, 0x104D8, 0x104FB, 0x10500, 0x10527,
  0x10530, 0x10563, 0x10570, 0x1057A, 0x1057C, 0x1058A, 0x1058C, 0x10592, 0x10594, 0x10595, 0x10597,
  0x105A1, 0x105A3, 0x105B1, 0x105B3, 0x105B9, 0x105BB, 0x105BC, 0x10600, 0x10736, 0x10740, 0x10755,
  0x10760, 0x10767, 0x10780, 0x10785, 0x10787, 0x107B0, 0x107B2, 0x107BA, 0x10800, 0x10805, 0x10808,
  0x10808, 0x1080A, 0x10835, 0x10837, 0x10838, 0x1083C, 0x1083C, 0x1083F, 0x10855, 0x10858, 0x10876,
  0x10879, 0x1089E, 0x108A7, 0x108AF, 0x108E0, 0x108F2, 0x108F4, 0x108F5, 0x108FB, 0x1091B, 0x10920,
  0x10939, 0x10980, 0x109B7, 0x109BC, 0x109CF, 0x109D2, 0x10A00, 0x10A10, 0x10A13, 0x10A15, 0x10A17,
  0x10A19, 0x10A35, 0x10A40, 0x10A48, 0x10A60, 0x10A7E, 0x10A80, 0x10A9F, 0x10AC0, 0x10AC7, 0x10AC9,
  0x10AE4, 0x10AEB, 0x10AEF, 0x10B00, 0x10B35, 0x10B40, 0x10B55, 0x10B58, 0x10B72, 0x10B78, 0x10B91,
  0x10BA9, 0x10BAF, 0x10C00, 0x10C48, 0x10C80, 0x10CB2, 0x10CC0, 0x10CF2, 0x10CFA, 0x10D23, 0x10D30,
  0x10D39, 0x10E60, 0x10E7E, 0x10E80, 0x10EA9, 0x10EB0, 0x10EB1, 0x10F00, 0x10F27, 0x10F30, 0x10F45,
  0x10F51, 0x10F54, 0x10F70, 0x10F81, 0x10FB0, 0x10FCB, 0x10FE0, 0x10FF6, 0x11003, 0x11037, 0x11052,
  0x1106F, 0x11071, 0x11072, 0x11075, 0x11075, 0x11083, 0x110AF, 0x110D0, 0x110E8, 0x110F0, 0x110F9,
  0x11103, 0x11126, 0x11136, 0x1113F, 0x11144, 0x11144, 0x11147, 0x11147, 0x11150, 0x11172, 0x11176,
  0x11176, 0x11183, 0x111B2, 0x111C1, 0x111C4, 0x111D0, 0x111DA, 0x111DC, 0x111DC, 0x111E1, 0x111F4,
  0x11200, 0x11211, 0x11213, 0x1122B, 0x11280, 0x11286, 0x11288, 0x11288, 0x1128A, 0x1128D, 0x1128F,
  0x1129D, 0x1129F, 0x112A8, 0x112B0, 0x112DE, 0x112F0, 0x112F9, 0x11305, 0x1130C, 0x1130F, 0x11310,
  0x11313, 0x11328, 0x1132A, 0x11330, 0x11332, 0x11333, 0x11335, 0x11339, 0x1133D, 0x1133D, 0x11350,
  0x11350, 0x1135D, 0x11361, 0x11400, 0x11434, 0x11447, 0x1144A, 0x11450, 0x11459, 0x1145F, 0x11461,
  0x11480, 0x114AF, 0x114C4, 0x114C5, 0x114C7, 0x114C7, 0x114D0, 0x114D9, 0x11580, 0x115AE, 0x115D8,
  0x115DB, 0x11600, 0x1162F, 0x11644, 0x11644, 0x11650, 0x11659, 0x11680, 0x116AA, 0x116B8, 0x116B8,
  0x116C0, 0x116C9, 0x11700, 0x1171A, 0x11730, 0x1173B, 0x11740, 0x11746, 0x11800, 0x1182B, 0x118A0,
  0x118F2, 0x118FF, 0x11906, 0x11909, 0x11909, 0x1190C, 0x11913, 0x11915, 0x11916, 0x11918, 0x1192F,
  0x1193F, 0x1193F, 0x11941, 0x11941, 0x11950, 0x11959, 0x119A0, 0x119A7, 0x119AA, 0x119D0, 0x119E1,
  0x119E1, 0x119E3, 0x119E3, 0x11A00, 0x11A00, 0x11A0B, 0x11A32, 0x11A3A, 0x11A3A, 0x11A50, 0x11A50,
  0x11A5C, 0x11A89, 0x11A9D, 0x11A9D, 0x11AB0, 0x11AF8, 0x11C00, 0x11C08, 0x11C0A, 0x11C2E, 0x11C40,
  0x11C40, 0x11C50, 0x11C6C, 0x11C72, 0x11C8F, 0x11D00, 0x11D06, 0x11D08, 0x11D09, 0x11D0B, 0x11D30,
  0x11D46, 0x11D46, 0x11D50, 0x11D59, 0x11D60, 0x11D65, 0x11D67, 0x11D68, 0x11D6A, 0x11D89, 0x11D98,
  0x11D98, 0x11DA0, 0x11DA9, 0x11EE0, 0x11EF2, 0x11FB0, 0x11FB0, 0x11FC0, 0x11FD4, 0x12000, 0x12399,
  0x12400, 0x1246E, 0x12480, 0x12543, 0x12F90, 0x12FF0, 0x13000, 0x1342E, 0x14400, 0x14646, 0x16800,
  0x16A38, 0x16A40, 0x16A5E, 0x16A60, 0x16A69, 0x16A70, 0x16ABE, 0x16AC0, 0x16AC9, 0x16AD0, 0x16AED,
  0x16B00, 0x16B2F, 0x16B40, 0x16B43, 0x16B50, 0x16B59, 0x16B5B, 0x16B61, 0x16B63, 0x16B77, 0x16B7D,
  0x16B8F, 0x16E40, 0x16E96, 0x16F00, 0x16F4A, 0x16F50, 0x16F50, 0x16F93, 0x16F9F, 0x16FE0, 0x16FE1,
  0x16FE3, 0x16FE3, 0x17000, 0x187F7, 0x18800, 0x18CD5, 0x18D00, 0x18D08, 0x1AFF0, 0x1AFF3, 0x1AFF5,
  0x1AFFB, 0x1AFFD, 0x1AFFE, 0x1B000, 0x1B122, 0x1B150, 0x1B152, 0x1B164, 0x1B167, 0x1B170, 0x1B2FB,
  0x1BC00, 0x1BC6A, 0x1BC70, 0x1BC7C, 0x1BC80, 0x1BC88, 0x1BC90, 0x1BC99, 0x1D2E0, 0x1D2F3, 0x1D360,
  0x1D378, 0x1D400, 0x1D454, 0x1D456, 0x1D49C, 0x1D49E, 0x1D49F, 0x1D4A2, 0x1D4A2, 0x1D4A5, 0x1D4A6,
  0x1D4A9, 0x1D4AC, 0x1D4AE, 0x1D4B9, 0x1D4BB, 0x1D4BB, 0x1D4BD, 0x1D4C3, 0x1D4C5, 0x1D505, 0x1D507,
  0x1D50A, 0x1D50D, 0x1D514, 0x1D516, 0x1D51C, 0x1D51E, 0x1D539, 0x1D53B, 0x1D53E, 0x1D540, 0x1D544,
  0x1D546, 0x1D546, 0x1D54A, 0x1D550, 0x1D552, 0x1D6A5, 0x1D6A8, 0x1D6C0, 0x1D6C2, 0x1D6DA, 0x1D6DC,
  0x1D6FA, 0x1D6FC, 0x1D714, 0x1D716, 0x1D734, 0x1D736, 0x1D74E, 0x1D750, 0x1D76E, 0x1D770, 0x1D788,
  0x1D78A, 0x1D7A8, 0x1D7AA, 0x1D7C2, 0x1D7C4, 0x1D7CB, 0x1D7CE, 0x1D7FF, 0x1DF00, 0x1DF1E, 0x1E100,
  0x1E12C, 0x1E137, 0x1E13D, 0x1E140, 0x1E149, 0x1E14E, 0x1E14E, 0x1E290, 0x1E2AD, 0x1E2C0, 0x1E2EB,
  0x1E2F0, 0x1E2F9, 0x1E7E0, 0x1E7E6, 0x1E7E8, 0x1E7EB, 0x1E7ED, 0x1E7EE, 0x1E7F0, 0x1E7FE, 0x1E800,
  0x1E8C4, 0x1E8C7, 0x1E8CF, 0x1E900, 0x1E943, 0x1E94B, 0x1E94B, 0x1E950, 0x1E959, 0x1EC71, 0x1ECAB,
  0x1ECAD, 0x1ECAF, 0x1ECB1, 0x1ECB4, 0x1ED01, 0x1ED2D, 0x1ED2F, 0x1ED3D, 0x1EE00, 0x1EE03, 0x1EE05,
  0x1EE1F, 0x1EE21, 0x1EE22, 0x1EE24, 0x1EE24, 0x1EE27, 0x1EE27, 0x1EE29, 0x1EE32, 0x1EE34, 0x1EE37,
  0x1EE39, 0x1EE39, 0x1EE3B, 0x1EE3B, 0x1EE42, 0x1EE42, 0x1EE47, 0x1EE47, 0x1EE49, 0x1EE49, 0x1EE4B,
  0x1EE4B, 0x1EE4D, 0x1EE4F, 0x1EE51, 0x1EE52, 0x1EE54, 0x1EE54, 0x1EE57, 0x1EE57, 0x1EE59, 0x1EE59,
  0x1EE5B, 0x1EE5B, 0x1EE5D, 0x1EE5D, 0x1EE5F, 0x1EE5F, 0x1EE61, 0x1EE62, 0x1EE64, 0x1EE64, 0x1EE67,
  0x1EE6A, 0x1EE6C, 0x1EE72, 0x1EE74, 0x1EE77, 0x1EE79, 0x1EE7C, 0x1EE7E, 0x1EE7E, 0x1EE80, 0x1EE89,
  0x1EE8B, 0x1EE9B, 0x1EEA1, 0x1EEA3, 0x1EEA5, 0x1EEA9, 0x1EEAB, 0x1EEBB, 0x1F100, 0x1F10C, 0x1FBF0,
  0x1FBF9, 0x20000, 0x2A6DF, 0x2A700, 0x2B738, 0x2B740, 0x2B81D, 0x2B820, 0x2CEA1, 0x2CEB0, 0x2EBE0,
  0x2F800, 0x2FA1D, 0x30000, 0x3134A,}
IGNORABLE_RANGES = {0x2B0, 0x2C1, 0x2C6, 0x2D1, 0x2E0, 0x2E4, 0x2EC, 0x2EC, 0x2EE, 0x2EE, 0x374,
  0x374, 0x37A, 0x37A, 0x559, 0x559, 0x640, 0x640, 0x6E5, 0x6E6, 0x7F4, 0x7F5, 0x7FA, 0x7FA, 0x81A,
  0x81A, 0x824, 0x824, 0x828, 0x828, 0x8C9, 0x8C9, 0x971, 0x971, 0xE46, 0xE46, 0xEC6, 0xEC6, 0x10FC,
  0x10FC, 0x17D7, 0x17D7, 0x1843, 0x1843, 0x1AA7, 0x1AA7, 0x1C78, 0x1C7D, 0x1D2C, 0x1D6A, 0x1D78,
  0x1D78, 0x1D9B, 0x1DBF, 0x2071, 0x2071, 0x207F, 0x207F, 0x2090, 0x209C, 0x2C7C, 0x2C7D, 0x2D6F,
  0x2D6F, 0x2E2F, 0x2E2F, 0x3005, 0x3005, 0x3031, 0x3035, 0x303B, 0x303B, 0x309D, 0x309E, 0x30FC,
  0x30FE, 0xA015, 0xA015, 0xA4F8, 0xA4FD, 0xA60C, 0xA60C, 0xA67F, 0xA67F, 0xA69C, 0xA69D, 0xA717,
  0xA71F, 0xA770, 0xA770, 0xA788, 0xA788, 0xA7F2, 0xA7F4, 0xA7F8, 0xA7F9, 0xA9CF, 0xA9CF, 0xA9E6,
  0xA9E6, 0xAA70, 0xAA70, 0xAADD, 0xAADD, 0xAAF3, 0xAAF4, 0xAB5C, 0xAB5F, 0xAB69, 0xAB69, 0xFF70,
  0xFF70, 0xFF9E, 0xFF9F, 0x10780, 0x10785, 0x10787, 0x107B0, 0x107B2, 0x107BA, 0x16B40, 0x16B43,
  0x16F93, 0x16F9F, 0x16FE0, 0x16FE1, 0x16FE3, 0x16FE3, 0x1AFF0, 0x1AFF3, 0x1AFF5, 0x1AFFB, 0x1AFFD,
  0x1AFFE, 0x1E137, 0x1E13D, 0x1E94B, 0x1E94B,}
CASED_RANGES = {0xAA, 0xAA, 0xB5, 0xB5, 0xBA, 0xBA, 0xC0, 0xD6, 0xD8, 0xF6, 0xF8, 0x1BA, 0x1BC,
  0x1BF, 0x1C4, 0x293, 0x295, 0x2AF, 0x370, 0x373, 0x376, 0x377, 0x37B, 0x37D, 0x37F, 0x37F, 0x386,
  0x386, 0x388, 0x38A, 0x38C, 0x38C, 0x38E, 0x3A1, 0x3A3, 0x3F5, 0x3F7, 0x481, 0x48A, 0x52F, 0x531,
  0x556, 0x560, 0x588, 0x10A0, 0x10C5, 0x10C7, 0x10C7, 0x10CD, 0x10CD, 0x10D0, 0x10FA, 0x10FD,
  0x10FF, 0x13A0, 0x13F5, 0x13F8, 0x13FD, 0x1C80, 0x1C88, 0x1C90, 0x1CBA, 0x1CBD, 0x1CBF, 0x1D00,
  0x1D2B, 0x1D6B, 0x1D77, 0x1D79, 0x1D9A, 0x1E00, 0x1F15, 0x1F18, 0x1F1D, 0x1F20, 0x1F45, 0x1F48,
  0x1F4D, 0x1F50, 0x1F57, 0x1F59, 0x1F59, 0x1F5B, 0x1F5B, 0x1F5D, 0x1F5D, 0x1F5F, 0x1F7D, 0x1F80,
  0x1FB4, 0x1FB6, 0x1FBC, 0x1FBE, 0x1FBE, 0x1FC2, 0x1FC4, 0x1FC6, 0x1FCC, 0x1FD0, 0x1FD3, 0x1FD6,
  0x1FDB, 0x1FE0, 0x1FEC, 0x1FF2, 0x1FF4, 0x1FF6, 0x1FFC, 0x2102, 0x2102, 0x2107, 0x2107, 0x210A,
  0x2113, 0x2115, 0x2115, 0x2119, 0x211D, 0x2124, 0x2124, 0x2126, 0x2126, 0x2128, 0x2128, 0x212A,
  0x212D, 0x212F, 0x2134, 0x2139, 0x2139, 0x213C, 0x213F, 0x2145, 0x2149, 0x214E, 0x214E, 0x2160,
  0x217F, 0x2183, 0x2184, 0x2C00, 0x2C7B, 0x2C7E, 0x2CE4, 0x2CEB, 0x2CEE, 0x2CF2, 0x2CF3, 0x2D00,
  0x2D25, 0x2D27, 0x2D27, 0x2D2D, 0x2D2D, 0xA640, 0xA66D, 0xA680, 0xA69B, 0xA722, 0xA76F, 0xA771,
  0xA787, 0xA78B, 0xA78E, 0xA790, 0xA7CA, 0xA7D0, 0xA7D1, 0xA7D3, 0xA7D3, 0xA7D5, 0xA7D9, 0xA7F5,
  0xA7F6, 0xA7FA, 0xA7FA, 0xAB30, 0xAB5A, 0xAB60, 0xAB68, 0xAB70, 0xABBF, 0xFB00, 0xFB06, 0xFB13,
  0xFB17, 0xFF21, 0xFF3A, 0xFF41, 0xFF5A, 0x10400, 0x1044F, 0x104B0, 0x104D3, 0x104D8, 0x104FB,
  0x10570, 0x1057A, 0x1057C, 0x1058A, 0x1058C, 0x10592, 0x10594, 0x10595, 0x10597, 0x105A1, 0x105A3,
  0x105B1, 0x105B3, 0x105B9, 0x105BB, 0x105BC, 0x10C80, 0x10CB2, 0x10CC0, 0x10CF2, 0x118A0, 0x118DF,
  0x16E40, 0x16E7F, 0x1D400, 0x1D454, 0x1D456, 0x1D49C, 0x1D49E, 0x1D49F, 0x1D4A2, 0x1D4A2, 0x1D4A5,
  0x1D4A6, 0x1D4A9, 0x1D4AC, 0x1D4AE, 0x1D4B9, 0x1D4BB, 0x1D4BB, 0x1D4BD, 0x1D4C3, 0x1D4C5, 0x1D505,
  0x1D507, 0x1D50A, 0x1D50D, 0x1D514, 0x1D516, 0x1D51C, 0x1D51E, 0x1D539, 0x1D53B, 0x1D53E, 0x1D540,
  0x1D544, 0x1D546, 0x1D546, 0x1D54A, 0x1D550, 0x1D552, 0x1D6A5, 0x1D6A8, 0x1D6C0, 0x1D6C2, 0x1D6DA,
  0x1D6DC, 0x1D6FA, 0x1D6FC, 0x1D714, 0x1D716, 0x1D734, 0x1D736, 0x1D74E, 0x1D750, 0x1D76E, 0x1D770,
  0x1D788, 0x1D78A, 0x1D7A8, 0x1D7AA, 0x1D7C2, 0x1D7C4, 0x1D7CB, 0x1DF00, 0x1DF09, 0x1DF0B, 0x1DF1E,
  0x1E900, 0x1E943,}
LOWER_RUNS = {192,23,32,1, 216,7,32,1, 256,24,1,2, 306,3,1,2, 313,8,1,2, 330,23,1,2, 376,1,-121,1,
  377,3,1,2, 385,1,210,1, 386,2,1,2, 390,1,206,1, 391,1,1,1, 393,2,205,1, 395,1,1,1, 398,1,79,1,
  399,1,202,1, 400,1,203,1, 401,1,1,1, 403,1,205,1, 404,1,207,1, 406,1,211,1, 407,1,209,1,
  408,1,1,1, 412,1,211,1, 413,1,213,1, 415,1,214,1, 416,3,1,2, 422,1,218,1, 423,1,1,1, 425,1,218,1,
  428,1,1,1, 430,1,218,1, 431,1,1,1, 433,2,217,1, 435,2,1,2, 439,1,219,1, 440,1,1,1, 444,1,1,1,
  452,1,2,1, 453,1,1,1, 455,1,2,1, 456,1,1,1, 458,1,2,1, 459,9,1,2, 478,9,1,2, 497,1,2,1, 498,2,1,2,
  502,1,-97,1, 503,1,-56,1, 504,20,1,2, 544,1,-130,1, 546,9,1,2, 570,1,10795,1, 571,1,1,1,
  573,1,-163,1, 574,1,10792,1, 577,1,1,1, 579,1,-195,1, 580,1,69,1, 581,1,71,1, 582,5,1,2,
  880,2,1,2, 886,1,1,1, 895,1,116,1, 902,1,38,1, 904,3,37,1, 908,1,64,1, 910,2,63,1, 913,17,32,1,
  931,9,32,1, 975,1,8,1, 984,12,1,2, 1012,1,-60,1, 1015,1,1,1, 1017,1,-7,1, 1018,1,1,1,
  1021,3,-130,1, 1024,16,80,1, 1040,32,32,1, 1120,17,1,2, 1162,27,1,2, 1216,1,15,1, 1217,7,1,2,
  1232,48,1,2, 1329,38,48,1, 4256,38,7264,1, 4295,1,7264,1, 4301,1,7264,1, 5024,80,38864,1,
  5104,6,8,1, 7312,43,-3008,1, 7357,3,-3008,1, 7680,75,1,2, 7838,1,-7615,1, 7840,48,1,2,
  7944,8,-8,1, 7960,6,-8,1, 7976,8,-8,1, 7992,8,-8,1, 8008,6,-8,1, 8025,4,-8,2, 8040,8,-8,1,
  8072,8,-8,1, 8088,8,-8,1, 8104,8,-8,1, 8120,2,-8,1, 8122,2,-74,1, 8124,1,-9,1, 8136,4,-86,1,
  8140,1,-9,1, 8152,2,-8,1, 8154,2,-100,1, 8168,2,-8,1, 8170,2,-112,1, 8172,1,-7,1, 8184,2,-128,1,
  8186,2,-126,1, 8188,1,-9,1, 8486,1,-7517,1, 8490,1,-8383,1, 8491,1,-8262,1, 8498,1,28,1,
  8544,16,16,1, 8579,1,1,1, 9398,26,26,1, 11264,48,48,1, 11360,1,1,1, 11362,1,-10743,1,
  11363,1,-3814,1, 11364,1,-10727,1, 11367,3,1,2, 11373,1,-10780,1, 11374,1,-10749,1,
  11375,1,-10783,1, 11376,1,-10782,1, 11378,1,1,1, 11381,1,1,1, 11390,2,-10815,1, 11392,50,1,2,
  11499,2,1,2, 11506,1,1,1, 42560,23,1,2, 42624,14,1,2, 42786,7,1,2, 42802,31,1,2, 42873,2,1,2,
  42877,1,-35332,1, 42878,5,1,2, 42891,1,1,1, 42893,1,-42280,1, 42896,2,1,2, 42902,10,1,2,
  42922,1,-42308,1, 42923,1,-42319,1, 42924,1,-42315,1, 42925,1,-42305,1, 42926,1,-42308,1,
  42928,1,-42258,1, 42929,1,-42282,1, 42930,1,-42261,1, 42931,1,928,1, 42932,8,1,2, 42948,1,-48,1,
  42949,1,-42307,1, 42950,1,-35384,1, 42951,2,1,2, 42960,1,1,1, 42966,2,1,2, 42997,1,1,1,
  65313,26,32,1, 66560,40,40,1, 66736,36,40,1, 66928,11,39,1, 66940,15,39,1, 66956,7,39,1,
  66964,2,39,1, 68736,51,64,1, 71840,32,32,1, 93760,32,32,1, 125184,34,34,1,}
-- END GENERATED UNICODE TABLES

return scaffold
