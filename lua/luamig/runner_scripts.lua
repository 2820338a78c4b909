-- luamig.runner_scripts -- the Runner's scripts: where they are (the
-- version directories), loading them and their graph once, a revision as
-- plain values, and writing new ones (revision, merge) through
-- luamig.scaffold. Methods of luamig.Runner (init.lua installs them).
local core = require "luamig.core"
local fail = require("luamig.errors").fail

local M = {Runner = {}}
local Runner = M.Runner

-- The scripts and their graph, loaded once. Listings read only each
-- script's header (core.load_scripts' scan); a run (full = true) loads them
-- whole up front, so a broken script stops it before anything runs and no
-- file is read twice. A run after a listing in the same runner loads them
-- again (a long-lived program may have seen the files change). A scanned
-- record is completed on the first read of its functions or checksum.
-- The directories of scripts: script_location/versions, then
-- version_locations, each once (a version_locations that lists versions/
-- too, as Alembic's does, names the same directory again).
local function same_dir_key(dir)
  dir = dir:gsub("/+$", ""):gsub("/%./", "/"):gsub("^%./", "")
  return dir
end
function Runner:_version_dirs()
  local s = self.settings
  local dirs, seen = {}, {}
  for _, d in ipairs({s.script_location .. "/versions", table.unpack(s.version_locations)}) do
    local key = same_dir_key(d)
    if not seen[key] then seen[key] = true dirs[#dirs + 1] = d end
  end
  return dirs
end

-- The directories to read: one inside another listed is read with it (each
-- is read with its subdirectories); read again, its scripts would be
-- refused as "present more than once", naming the same file twice.
local function dirs_to_read(dirs)
  local out = {}
  for i, d in ipairs(dirs) do
    local key, inside = same_dir_key(d), false
    for j, other in ipairs(dirs) do
      local okey = same_dir_key(other)
      if j ~= i and key:sub(1, #okey + 1) == okey .. "/" then inside = true end
    end
    if not inside then out[#out + 1] = d end
  end
  return out
end

function Runner:scripts(full)
  if full and self.scanned then self.records = nil end
  if not self.records then
    local records = core.load_scripts(dirs_to_read(self:_version_dirs()), {scan = not full})
    local by_id = {}
    for _, r in ipairs(records) do by_id[r.revision] = r end
    M.add_ghosts(records, by_id)
    local graph = core.graph(records)
    self.records, self.graph, self.by_id, self.scanned = records, graph, by_id, not full
    self.order = nil
  end
  return self.records, self.graph
end

-- A squash's replaced revisions whose files are gone get a ghost record
-- (no path, no script), so that the graph's revisions and the records stay
-- indexed alike: the graph keeps them out of every listing and reads a
-- version row naming one as the squash (graph_squash.c).
function M.add_ghosts(records, by_id)
  for i = 1, #records do
    local r = records[i]
    if type(r.replaces) == "table" then
      for _, id in ipairs(r.replaces) do
        if type(id) == "string" and not by_id[id] then
          local ghost = {revision = id, ghost = true, has_downgrade = true, parents = {},
                         depends_on = {}, branch_labels = {}, replaces = {}, transactional = true}
          records[#records + 1] = ghost
          by_id[id] = ghost
        end
      end
    end
  end
end

-- The "Create Date:" line of a script's leading comment block (the
-- template writes it there, as Alembic's writes it in the docstring), or nil.
local function header_create_date(path)
  local f = io.open(path)
  if not f then return nil end
  local date
  for line in f:lines() do
    if not line:match("^%s*%-%-") and not line:match("^%s*$") then break end
    date = line:match("^%s*%-%-%s*Create Date:%s*(.-)%s*$")
    if date then break end
  end
  f:close()
  return date ~= "" and date or nil
end

-- A revision as plain values: id, parents, depends_on, labels, message,
-- path, and what it is in the graph; checksum on first read (it loads the
-- script: listings read only the headers), create_date on first read (it
-- reads the script's header comment).
local function record_checksum(info, key)
  if key == "checksum" then return getmetatable(info).record.checksum end
  if key == "create_date" then return header_create_date(info.path) end
end

function Runner:info(id)
  local _, graph = self:scripts()
  local g = graph:revision(id)
  if not g then return nil end
  local r = self.by_id[id]
  return setmetatable({
    id = id, revision = id, parents = g.down_revision, depends_on = r.depends_on,
    labels = g.branch_labels, message = r.message, path = r.path,
    children = g.children, dependents = g.dependents, transactional = r.transactional ~= false,
    is_head = g.is_head, is_effective_head = g.is_effective_head, is_base = g.is_base,
    is_branch_point = g.is_branch_point, is_merge_point = g.is_merge_point,
    replaces = g.replaces, replaced_by = g.replaced_by, hidden = g.hidden,
  }, {__index = record_checksum, record = r})
end

-- Resolve identifiers to full ids (for down_revision and depends_on).
function Runner:_resolve_all(idents)
  local _, graph = self:scripts()
  local out = {}
  for _, ident in ipairs(idents) do
    for _, id in ipairs(graph:resolve(ident)) do out[#out + 1] = id end
  end
  return out
end

-- Where a new revision goes when no --version-path is given and there are
-- several version locations: the one that holds its first parent's script,
-- as Alembic does; nil otherwise (one location, or a new base).
function Runner:_parent_location(parents)
  local dirs = self:_version_dirs()
  if #dirs < 2 or not parents[1] then return nil end
  local path = self.by_id[parents[1]].path
  for _, d in ipairs(dirs) do
    if path:sub(1, #d + 1) == d .. "/" then return d end
  end
end


-- A new script: {message, head = "head", splice, branch_label (string or
-- list), depends_on (list), rev_id, version_path, upgrades, downgrades,
-- autogenerate, safe_forms (false: autogenerate's one plain revision, not the
-- safe forms' two), baseline, force}. Returns {path = ..., revision = ...}.
local REVISION_KEYS = {"autogenerate", "baseline", "branch_label", "depends_on", "downgrades", "force", "head",
                       "message", "rev_id", "safe_forms", "splice", "upgrades", "version_path"}
local revision_key = {}
for _, k in ipairs(REVISION_KEYS) do revision_key[k] = true end

function Runner:revision(opts)
  opts = opts or {}
  if type(opts) ~= "table" then fail(("m:revision: opts must be a table, not a %s"):format(type(opts))) end
  for k in pairs(opts) do
    if not revision_key[k] then
      fail(("m:revision: unknown option %s; the options are %s"):format(
        type(k) == "string" and ("'" .. k .. "'") or ("[" .. tostring(k) .. "]"), table.concat(REVISION_KEYS, ", ")))
    end
  end
  local scaffold = require "luamig.scaffold"
  local _, graph = self:scripts()
  local operations, second
  if opts.baseline then
    -- {baseline = true}: the first revision, creating the database's whole schema (luamig.schema_dump)
    operations, opts = require("luamig.schema_dump").baseline_revision(self, opts)
  end
  if opts.autogenerate and not opts.baseline then
    -- {autogenerate = true}: the upgrade and downgrade come from comparing
    -- the database (which must be at head) with target_schema
    local ops = self:compare()
    local autogen = require "luamig.autogen"
    local ctx = self:_render_context()
    operations = autogen.describe(ops, ctx)
    -- PostgreSQL: the safe forms, a second revision for what runs outside a transaction
    local up2, down2, note
    if ctx.dialect == "postgresql" and opts.safe_forms ~= false and self.settings.autogenerate_safe_forms ~= false then
      local notes
      ops, up2, down2, notes = require("luamig.autogen.safe").split(ops, self._compared)
      for _, n in ipairs(notes) do self:_log("WARNING", "Safe forms: " .. n) end
      if #notes > 0 then
        local lines = {}
        for i, n in ipairs(notes) do lines[i] = "-- luamig safe forms: " .. n:gsub("\n", " ") end
        note = table.concat(lines, "\n")
      end
      if #up2 > 0 then
        second = {upgrades = autogen.render_module.ops(up2, ctx), downgrades = autogen.render_module.ops(down2, ctx),
                  only = #ops == 0}
      end
    end
    local up, down = autogen.render(ops, ctx)
    if note then up = note .. "\n" .. up end
    opts = setmetatable({upgrades = up, downgrades = down}, {__index = opts})
  end
  local head = opts.head or "head"
  local parents = {}
  if head ~= "base" then
    if head == "head" and #graph:heads() > 1 then
      fail("Multiple heads are present; please specify the head revision on which the new "
        .. "revision should be based, or perform a merge.")
    end
    parents = self:_resolve_all({head})
    for _, id in ipairs(parents) do
      if not opts.splice and not graph:revision(id).is_head then
        fail(("Revision %s is not a head revision; please specify --splice to create a new "
          .. "branch from this revision"):format(id))
      end
    end
  end
  local labels = opts.branch_label
  if type(labels) == "string" then labels = {labels} end
  -- the second revision's message: its " (outside a transaction)" kept
  -- in the file's slug, the message's words cut to make room for it
  local function second_message()
    local scaffold_slug, L = require("luamig.scaffold").slug, self.settings.truncate_slug_length
    local words = {}
    for w in (opts.message or "autogenerate"):gmatch("%S+") do words[#words + 1] = w end
    while true do
      local m = table.concat(words, " ") .. " (outside a transaction)"
      if #words <= 1 or scaffold_slug(m, L) == scaffold_slug(m, 1 << 30) then return m end
      words[#words] = nil
    end
  end
  local fields = {
    version_path = opts.version_path, message = opts.message, rev_id = opts.rev_id,
    branch_labels = labels, depends_on = opts.depends_on and self:_resolve_all(opts.depends_on),
    upgrades = opts.upgrades, downgrades = opts.downgrades,
  }
  if second and second.only then
    -- nothing runs in a transaction (only new indexes or unique constraints):
    -- one revision, the transactional = false one
    fields.message, fields.upgrades, fields.downgrades = second_message(), second.upgrades, second.downgrades
    fields.transactional = false
    local path, id = self:_write_revision(parents, fields)
    return {path = path, revision = id, operations = operations}
  end
  local path, id = self:_write_revision(parents, fields)
  if second then
    local path2, id2 = self:_write_revision({id}, {
      message = second_message(),
      upgrades = second.upgrades, downgrades = second.downgrades, transactional = false,
    })
    second = {path = path2, revision = id2}
  end
  return {path = path, revision = id, operations = operations, second = second}
end

-- A merge revision joining the given revisions (e.g. {"heads"}).
function Runner:merge(opts)
  local parents = self:_resolve_all(opts.revisions or {"heads"})
  if #parents < 2 then
    fail(("a merge needs at least two revisions; '%s' names %d"):format(
      table.concat(opts.revisions or {"heads"}, " "), #parents))
  end
  local path, id = self:_write_revision(parents, {
    message = opts.message, rev_id = opts.rev_id, branch_labels = opts.branch_label and {opts.branch_label},
  })
  return {path = path, revision = id}
end

-- Writes a new revision file whose parents are `parents` (ids) through
-- scaffold.write_revision, with the project's settings filled in (where
-- it goes, file name template, the ids it must not take): fields are
-- write_revision's own (message, rev_id, branch_labels, upgrades, ...).
-- Returns the path and the new revision's id; the graph is read again.
function Runner:_write_revision(parents, fields)
  local existing = {}
  for id in pairs(self.by_id) do existing[id] = true end
  local s = self.settings
  local args = {}
  for k, v in pairs(fields) do args[k] = v end
  args.script_location, args.version_locations = s.script_location, self:_version_dirs()
  args.version_path = fields.version_path or self:_parent_location(parents)
  args.file_template, args.truncate_slug_length = s.file_template, s.truncate_slug_length
  args.down_revision, args.existing_ids = require("luamig.scaffold.template").scalar_or_list(parents), existing
  local path, record = require("luamig.scaffold").write_revision(args)
  self.records = nil                                  -- the graph changed
  return path, record and record.revision or record
end
return M
