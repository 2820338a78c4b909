-- luamig.scaffold -- writing new migration scripts and initialising a
-- project: what `init`, `revision` and `merge` do to the file system.
--
-- No database (luamig.core only for the file system). The caller (the runner) has already read
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
-- The parts, each a module of its own: luamig.fs (the file system),
-- scaffold/project.lua (init), scaffold/template.lua (the script template,
-- Lua literals, the entries), scaffold/pyformat.lua (file_template),
-- scaffold/slug.lua and its generated scaffold/unicode.lua. Exported here
-- for the runner and the specs: scaffold.slug(message, length),
-- scaffold.rev_id(), scaffold.format_file_template(template, tokens),
-- scaffold.render(template_text, values, name), scaffold.literal(v),
-- scaffold.TEMPLATE (the built-in script.lua.tmpl), scaffold.TEMPLATES (the
-- project templates) and scaffold.fs (the few file-system calls, which a
-- caller may replace).
local core = require "luamig.core"
local fs = require "luamig.fs"
local script_template = require "luamig.scaffold.template"
local project = require "luamig.scaffold.project"

local quote, body, comment_text = script_template.quote, script_template.body,
  script_template.comment_text
local ensure_directory, created_file = script_template.ensure_directory, script_template.created_file
local join, absolute, read_file, write_new_file = fs.join, fs.absolute, fs.read_file, fs.write_new_file

local scaffold = {
  fs = fs,
  slug = require("luamig.scaffold.slug").slug,
  format_file_template = require("luamig.scaffold.pyformat").format_file_template,
  literal = script_template.literal,
  render = script_template.render,
  TEMPLATE = script_template.TEMPLATE,
  TEMPLATES = project.TEMPLATES,
  init = project.init,
}

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

-- The id grammar is the graph's (core.check_rev_id), with what would make
-- the id unsafe as part of a file name ("/" and control characters), and
-- the version table's width (an id the graph would refuse to load must not
-- be written); the messages for a missing id are scaffold's own.
local RESERVED = {base = true, head = true, heads = true, current = true}

local function check_rev_id(id)
  if type(id) ~= "string" then
    error(("revision id must be a string, not a %s"):format(type(id)), 0)
  end
  if id == "" then
    error("revision id is empty; pass a revision id such as 3f2a9c1d8e7b with --rev-id, "
          .. "or none to have one generated", 0)
  end
  local ok, message, reason = core.check_rev_id(id, true)
  if not ok and (reason == "characters" or reason == "length") then error(message, 0) end
  if RESERVED[id] then
    error(("revision id '%s' is a word targets reserve (base, head, heads, current): `luamig upgrade %s` "
           .. "would not name this revision; choose another id with --rev-id, or leave it out to have one "
           .. "generated"):format(id, id), 0)
  end
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


local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- The ids already present: the existing_ids option (a set of id -> true
-- or path, or a list), else each script's first line `revision = "..."`
-- (core.scan_header; no script is run).
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
      for _, path in ipairs(core.find_scripts(dir)) do
        local _, id = core.scan_header(read_file(path) or "")
        if id then known[id] = known[id] or path end
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
    down_revision = scaffold.literal(script_template.scalar_or_list(down)),
    branch_labels = scaffold.literal(branch_labels),
    depends_on = scaffold.literal(depends_on),
    message = quote(message), message_comment = comment_text(message),
    create_date = create_date,
    upgrades = body(opts.upgrades, script_template.DEFAULT_UPGRADES, "upgrades"),
    downgrades = body(opts.downgrades, script_template.DEFAULT_DOWNGRADES, "downgrades"),
  }
  if opts.template_args then
    for k, v in pairs(opts.template_args) do
      if values[k] == nil then values[k] = tostring(v) end
    end
  end
  local text = scaffold.render(template_text, values, template_name)
  if opts.transactional == false then      -- autogenerate's second revision (luamig.autogen.safe)
    local line = "transactional = false  -- CREATE INDEX CONCURRENTLY and VALIDATE run outside a transaction\n"
    local at = text:find("\nfunction upgrade")
    text = at and (text:sub(1, at) .. line .. "\n" .. text:sub(at + 1)) or (text .. "\n" .. line)
  end
  check_rendered(text, path, template_name, {
    revision = rev_id, down_revision = script_template.scalar_or_list(down), branch_labels = branch_labels,
    depends_on = depends_on, message = message,
  })

  local created = {}
  ensure_directory(path:match("^(.*)/[^/]*$"), created)
  write_new_file(path, text)
  created[#created + 1] = created_file(path)
  return path, {
    revision = rev_id, down_revision = script_template.scalar_or_list(down), branch_labels = branch_labels,
    depends_on = depends_on, message = message, create_date = create_date, path = path,
    created = created,
  }
end

return scaffold
