-- luamig.squash -- `luamig squash START:END` (doc/commands.md, doc/alembic.md
-- "Squashing a history"): one new revision that declares replaces = {START,
-- ..., END} and whose upgrade and downgrade are what the range does to the
-- schema, rendered by autogenerate from two states of a scratch database
-- (the range's parent and its END). The graph (src/graph_squash.c) decides
-- per database which of the squash and the replaced chain is in effect.
--
--   local squash = require "luamig.squash"
--   local r = squash.run(runner, {range = "a1:d4", message = "squash",
--                                 rev_id = nil, scratch_url = nil})
--   -- r = {path, revision, replaces = {ids, oldest first}, operations = n}
--
-- Refused, each with what to do: a range that is not a linear chain (a
-- branch point or a merge inside, a revision inside that another depends
-- on), one revision, a squash inside; steps a schema comparison cannot
-- redo (data: op.execute, bulk_insert, get_bind; objects autogenerate does
-- not model: views, triggers, functions, types, extensions), found in the
-- scripts' text (file:line) and, as a second net, by comparing row counts
-- and those objects between the two states. The squash is checked on the
-- scratch database before the command succeeds: its downgrade gives the
-- range's parent schema again and its upgrade the END schema; otherwise
-- the file is removed and the differences are listed.
local core = require "luamig.core"
local fail = require("luamig.errors").fail
local scaffold = require "luamig.scaffold"
local diff = require "luamig.autogen.diff"
local autogen = require "luamig.autogen"

local M = {}

-- op calls whose effect a schema comparison cannot reproduce
local NOT_SCHEMA = {
  {"execute", "runs SQL (data or objects autogenerate does not model)"},
  {"bulk_insert", "inserts rows"},
  {"get_bind", "uses the connection directly"},
  {"create_enum", "creates a type"}, {"drop_enum", "drops a type"},
  {"add_enum_value", "changes a type"}, {"rename_enum_value", "changes a type"},
  {"drop_enum_value", "changes a type"}, {"autocommit_block", "commits part of a step"},
  {"rename_table", "renames a table: autogenerate sees a drop and a create, and the table's rows "
    .. "would be lost"},
}

local function message_of(err)
  return type(err) == "table" and tostring(err.message or err) or tostring(err)
end

-- The one revision ident names, or a failure that says which end it is.
local function resolve_one(graph, ident, which)
  local ok, ids = pcall(graph.resolve, graph, ident)
  if not ok then fail(("squash: %s '%s': %s"):format(which, ident, message_of(ids))) end
  if #ids ~= 1 then
    fail(("squash: %s '%s' names %s; give one revision"):format(which, ident,
      #ids == 0 and "no revision (base)" or ("%d revisions (%s)"):format(#ids, table.concat(ids, ", "))))
  end
  return ids[1]
end

-- The chain from first up to last, oldest first, checked to be linear.
local function chain_of(self, first, last, range)
  local chain, id = {}, last
  while true do
    local info = self:info(id)
    if info.replaces then
      fail(("squash: %s in %s is itself a squash (replaces %s); squash the revisions it replaces "
        .. "instead"):format(id, range, table.concat(info.replaces, ", ")))
    end
    table.insert(chain, 1, info)
    if id == first then break end
    if #info.parents == 0 then
      fail(("squash: %s is not below %s: the range START:END goes from START up to END along "
        .. "down_revision (give the older revision first)"):format(first, last))
    end
    if #info.parents > 1 then
      fail(("squash: %s, inside %s, is a merge (of %s); a squash replaces a linear chain: squash the "
        .. "range above the merge, or the ones below it"):format(id, range, table.concat(info.parents, ", ")))
    end
    id = info.parents[1]
  end
  if #chain < 2 then
    fail(("squash: %s names one revision (%s); a squash replaces two or more"):format(range, first))
  end
  for i = 1, #chain - 1 do
    local info = chain[i]
    if #info.children > 1 then
      local others = {}
      for _, c in ipairs(info.children) do if c ~= chain[i + 1].id then others[#others + 1] = c end end
      fail(("squash: %s, inside %s, is a branch point (%s also builds on it); a squash replaces a "
        .. "linear chain: end the range at %s, or start it above"):format(info.id, range,
        table.concat(others, ", "), info.id))
    end
    if #info.dependents > 0 then
      fail(("squash: %s, inside %s, is in the depends_on of %s; only the range's END may be depended "
        .. "on: end the range at %s"):format(info.id, range, table.concat(info.dependents, ", "), info.id))
    end
  end
  return chain
end

-- Options of an alter_column call (batch forms too) whose meaning a schema
-- comparison cannot see: a rename reads as a drop and an add (the column's
-- rows are lost), a USING expression as the default cast.
local NOT_SCHEMA_OPTIONS = {
  {"new_column_name", "renames a column: autogenerate sees a drop and an add, and the column's data "
    .. "would be lost"},
  {"postgresql_using", "converts the column's values with a USING expression, which autogenerate "
    .. "cannot see"},
  {"using", "converts the column's values with a USING expression, which autogenerate cannot see"},
}
-- Options that change what existing rows hold, worth a look but not refused.
local WARN_OPTIONS = {
  {"server_default", "changes a server default: rows of a database at the range's parent may get "
    .. "other values through the squash than through the revisions (check the squash's upgrade)"},
  {"default", "changes a server default: rows of a database at the range's parent may get "
    .. "other values through the squash than through the revisions (check the squash's upgrade)"},
}

-- Script text with comments blanked (newlines kept, so positions keep
-- their line), strings left as they are.
local function without_comments(text)
  return (text:gsub("(%-%-%[(=*)%[.-%]%2%])", function(c) return (c:gsub("[^\n]", " ")) end)
              :gsub("%-%-[^\n]*", ""))
end

local function line_at(text, pos)
  local n = 1
  for _ in text:sub(1, pos):gmatch("\n") do n = n + 1 end
  return n
end

-- The lines of the chain's scripts that call an op a squash cannot redo
-- (refused), and those whose effect on existing rows it may not redo
-- (warned), each as "  path:line: text (why)".
local function not_schema_steps(chain)
  local found, warned = {}, {}
  for _, info in ipairs(chain) do
    local f = info.path and io.open(info.path)
    if f then
      local raw = f:read("a")
      f:close()
      local lines, text = {}, without_comments(raw)
      for line in (raw .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
      local mine, mine_warned = {}, {}
      local function add(to, n, why)
        to[#to + 1] = {n = n, text = ("  %s:%d: %s (%s)"):format(info.path, n,
          (lines[n] or ""):match("^%s*(.-)%s*$"), why)}
      end
      local n = 0
      for line in (text .. "\n"):gmatch("([^\n]*)\n") do
        n = n + 1
        for _, entry in ipairs(NOT_SCHEMA) do
          if line:find("[%.:]" .. entry[1] .. "%s*%(") then add(mine, n, entry[2]) end
        end
      end
      local pos = 1
      while true do
        local s_at, open_at = text:find("[%.:]alter_column%s*%(", pos)
        if not s_at then break end
        local args = text:match("^%b()", open_at) or text:sub(open_at)
        local hit
        for _, entry in ipairs(NOT_SCHEMA_OPTIONS) do
          if not hit and (args:find("[^%w_]" .. entry[1] .. "%s*=[^=]") or args:find("[\"']" .. entry[1] .. "[\"']%s*%]%s*=")) then
            add(mine, line_at(text, s_at + 1), entry[2])
            hit = true
          end
        end
        for _, entry in ipairs(WARN_OPTIONS) do
          if not hit and args:find("[^%w_]" .. entry[1] .. "%s*=[^=]") then
            hit = true
            add(mine_warned, line_at(text, s_at + 1), entry[2])
          end
        end
        pos = open_at + 1
      end
      for _, pair in ipairs({{mine, found}, {mine_warned, warned}}) do
        table.sort(pair[1], function(a, b) return a.n < b.n end)
        for _, e in ipairs(pair[1]) do pair[2][#pair[2] + 1] = e.text end
      end
    end
  end
  return found, warned
end

-- What the schema model leaves out, as a set of "kind name" strings.
local function other_objects(conn)
  local sql = conn:dialect() == "postgresql" and [[
      SELECT 'view ' || schemaname || '.' || viewname AS o FROM pg_views
       WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
      UNION ALL SELECT 'materialized view ' || schemaname || '.' || matviewname FROM pg_matviews
      UNION ALL SELECT 'trigger ' || c.relname || '.' || t.tgname FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal
      UNION ALL SELECT 'function ' || n.nspname || '.' || p.proname FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
      UNION ALL SELECT 'type ' || n.nspname || '.' || t.typname FROM pg_type t
        JOIN pg_namespace n ON n.oid = t.typnamespace
       WHERE t.typtype IN ('e', 'd') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      UNION ALL SELECT 'extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql']]
    or [[SELECT type || ' ' || name AS o FROM sqlite_schema WHERE type IN ('view', 'trigger')]]
  local set = {}
  for _, r in ipairs(conn:query(sql)) do set[r.o] = true end
  return set
end

local function row_counts(conn, schema)
  local counts = {}
  for name in pairs(schema.tables) do
    counts[name] = tonumber(conn:query("SELECT count(*) AS n FROM " .. conn:quote_ident(name))[1].n)
  end
  return counts
end

-- The rows of each table, each row as one string (columns by name), sorted:
-- the squash's check compares them before and after its downgrade and
-- upgrade, so that a rename squashed into a drop and an add shows where
-- the scratch database has rows (those inserted below the range).
local function rows_of(conn, schema)
  local out = {}
  for name in pairs(schema.tables) do
    local list = {}
    for _, row in ipairs(conn:query("SELECT * FROM " .. conn:quote_ident(name))) do
      local keys, parts = {}, {}
      for k in pairs(row) do if type(k) == "string" then keys[#keys + 1] = k end end
      table.sort(keys)
      for i, k in ipairs(keys) do
        local v = row[k]
        parts[i] = k .. "=" .. (type(v) == "string" and ("%q"):format(v) or tostring(v))
      end
      list[#list + 1] = "(" .. table.concat(parts, ", ") .. ")"
    end
    table.sort(list)
    out[name] = list
  end
  return out
end

-- The rows of `want` not kept in `got`, as lines (at most a few per table).
local function rows_lost(want, got)
  local lines = {}
  for name, list in pairs(want) do
    local have, shown = {}, 0
    for _, r in ipairs(got[name] or {}) do have[r] = (have[r] or 0) + 1 end
    for _, r in ipairs(list) do
      if (have[r] or 0) > 0 then have[r] = have[r] - 1
      elseif shown < 3 then
        shown = shown + 1
        lines[#lines + 1] = ("  table %s: the row %s"):format(name, r)
      end
    end
  end
  table.sort(lines)
  return lines
end

-- Pairs in the squash's upgrade that look like a rename: a column dropped
-- and one of the same type added in the same table, a table dropped and
-- one with the same columns created. Warned: a real drop and add look so too.
local function rename_like(ops)
  local by_table, tables, lines = {}, {created = {}, dropped = {}}, {}
  local function cols(model)
    local l = {}
    for _, c in ipairs(model.columns or {}) do l[#l + 1] = tostring(c.type) end
    return table.concat(l, ",")
  end
  for _, op in ipairs(ops) do
    if op.kind == "add_column" or op.kind == "drop_column" then
      local t = by_table[op.table] or {add_column = {}, drop_column = {}}
      by_table[op.table] = t
      table.insert(t[op.kind], op.column)
    elseif op.kind == "create_table" then tables.created[#tables.created + 1] = op
    elseif op.kind == "drop_table" then tables.dropped[#tables.dropped + 1] = op end
  end
  for name, t in pairs(by_table) do
    for _, d in ipairs(t.drop_column) do
      for _, a in ipairs(t.add_column) do
        if tostring(a.type) == tostring(d.type) then
          lines[#lines + 1] = ("column %s.%s dropped and %s.%s added"):format(name, d.name, name, a.name)
        end
      end
    end
  end
  for _, d in ipairs(tables.dropped) do
    for _, c in ipairs(tables.created) do
      if cols(d.model) == cols(c.model) then
        lines[#lines + 1] = ("table %s dropped and %s created"):format(d.table, c.table)
      end
    end
  end
  table.sort(lines)
  return lines
end

-- A scratch database of the project's kind (roundtrip's: doc/autogenerate.md):
-- --scratch-url's (empty, not the project's own), else on PostgreSQL one
-- created on the project's server, on SQLite a temporary file. Returns a
-- runner on it and its cleanup.
local function open_scratch(self, scratch_url)
  local created, path
  if scratch_url then
    local ok, su = pcall(core.parse_url, scratch_url)
    if ok and su.dialect ~= self:dialect() then
      fail(("squash: --scratch-url names a %s database, the project's is %s: give a database of "
        .. "the project's kind"):format(su.dialect, self:dialect()))
    end
  elseif self:dialect() == "postgresql" then
    created, scratch_url = self:_create_scratch()
  else
    path = os.tmpname()
    scratch_url = "sqlite:" .. path
  end
  local log = self.log_fn
  local scratch = setmetatable({settings = self.settings, url = scratch_url, x = self.x,
                                url_source = "the scratch database",
                                log_fn = function(level, text)
                                  if level ~= "INFO" and log then log(level, text) end
                                end}, getmetatable(self))
  local function cleanup()
    pcall(scratch.close, scratch)
    if created then self:_drop_scratch(created) end
    if path then
      os.remove(path)
      os.remove(path .. "-luamig.lock")
    end
  end
  local ok, err = pcall(function()
    local conn = scratch:connection()
    if not created then
      local same = self:_own_database(conn)
      if same then
        fail(("squash: --scratch-url names the project's own database (%s); give an empty one"):format(same))
      end
      if not path and (#scratch:current_rows() > 0 or next(scratch:_schema(conn).tables)) then
        fail(("squash: the scratch database %s is not empty; give an empty database (squash "
          .. "migrates it)"):format(scratch:display_url()))
      end
    end
  end)
  if not ok then
    cleanup()
    error(err, 0)
  end
  return scratch, cleanup
end

-- Differences between two schemas as lines, or nil when equal.
local function differences(expected, found, conn, ctx)
  local ops = diff.compare(expected, found, {dialect = conn:dialect()})
  if #ops == 0 then return nil end
  local render = require "luamig.autogen.render"
  local lines = {}
  for _, op in ipairs(ops) do
    lines[#lines + 1] = "  " .. diff.describe_leftover(op) .. ": " .. render.op(op, ctx):gsub("\n", " ")
  end
  return table.concat(lines, "\n")
end

-- The project's script template (or the built-in one) with a replaces line
-- after down_revision's, so the file is written once, whole.
local function template_with_replaces(script_location)
  local path = script_location .. "/script.lua.tmpl"
  local f = io.open(path)
  local text, name = scaffold.TEMPLATE, "the built-in template"
  if f then
    text, name = f:read("a"), path
    f:close()
  end
  local line = "replaces      = ${replaces}\n"
  local out, n = text:gsub("(\n?down_revision[^\n]*\n)", "%1" .. line, 1)
  if n == 0 then out, n = text:gsub("(\n?revision%s*=[^\n]*\n)", "%1" .. line, 1) end
  if n == 0 then out = line .. text end
  return out, name
end

-- A failure on the scratch database said as one: the runner's words
-- ("the database is at ...") are about the scratch, not the user's.
local function on_scratch(scratch, what, fn)
  local ok, err = pcall(fn)
  if ok then return end
  local msg = message_of(err):gsub("^FAILED: ", ""):gsub("([Tt]he) database is at", "%1 scratch database is at")
  fail(("squash: %s on the scratch database %s failed; your database was not touched:\n%s")
    :format(what, scratch:display_url(), msg))
end

function M.run(self, opts)
  local range = opts.range or ""
  local s_start, s_end = range:match("^([^:]+):([^:]+)$")
  if not s_start then
    fail(("squash: the range must be START:END, two revisions, both included (e.g. "
      .. "1975ea83b712:ae1027a6acf), not '%s'"):format(range))
  end
  local _, graph = self:scripts()
  local first, last = resolve_one(graph, s_start, "START"), resolve_one(graph, s_end, "END")
  local chain = chain_of(self, first, last, range)
  local ids, labels, depends, in_chain = {}, {}, {}, {}
  for i, info in ipairs(chain) do ids[i], in_chain[info.id] = info.id, true end
  for _, info in ipairs(chain) do
    local record = self.by_id[info.id]
    for _, l in ipairs(record.branch_labels or {}) do labels[#labels + 1] = l end
    for _, d in ipairs(info.depends_on or {}) do
      if not in_chain[d] then depends[#depends + 1] = d end
    end
    if info.transactional == false then
      self:_log("WARNING", ("squash: %s runs outside a transaction (transactional = false); the "
        .. "squash is an ordinary transactional revision, and its safe forms (indexes built CONCURRENTLY, "
        .. "constraints added NOT VALID then validated) are replaced by the plain forms, which hold their "
        .. "table's lock while they build or scan: a database still below the range gets those locks "
        .. "(doc/safety.md)"):format(info.id))
    end
  end
  local found, warned = not_schema_steps(chain)
  if #found > 0 then
    fail(("squash: %s holds steps that a squash, rebuilt from the schema alone, would drop or "
      .. "change:\n%s\nsquash a range without them (split it around these revisions: squash the "
      .. "revisions before them and those after them apart), move the data into a revision of its "
      .. "own outside the range, or write the squash by hand (doc/alembic.md, \"Squashing a "
      .. "history\")"):format(range, table.concat(found, "\n")))
  end
  for _, w in ipairs(warned) do self:_log("WARNING", "squash: " .. w:match("^%s*(.*)$")) end
  local parents = chain[1].parents

  local scratch, cleanup = open_scratch(self, opts.scratch_url)
  local ok, result = pcall(function()
    local conn = scratch:connection()
    local ctx = self:_render_context()
    on_scratch(scratch, "building the range's parent", function()
      for _, p in ipairs(parents) do scratch:upgrade(p) end
    end)
    local before = scratch:_schema(conn)
    local before_rows, before_other = row_counts(conn, before), other_objects(conn)
    -- what the range renames, seen as it runs: the text scan above misses a
    -- rename whose options come from a variable, and autogenerate would
    -- write it as a drop and an add (the column's data lost)
    local renames = {}
    scratch.on_rename = function(what, where) renames[#renames + 1] = ("  %s: %s"):format(where or "?", what) end
    on_scratch(scratch, "running the range", function() scratch:upgrade(last) end)
    scratch.on_rename = nil
    if #renames > 0 then
      fail(("squash: the range %s renames, which a schema comparison cannot see (it would write a drop "
        .. "and an add, and lose the data):\n%s\nsquash around the rename, or write the squash by hand")
        :format(range, table.concat(renames, "\n")))
    end
    local after = scratch:_schema(conn)
    local changed = {}
    for name, n in pairs(row_counts(conn, after)) do
      if n ~= (before_rows[name] or 0) then
        changed[#changed + 1] = ("  table %s: %d rows before the range, %d after"):format(name,
          before_rows[name] or 0, n)
      end
    end
    for o in pairs(other_objects(conn)) do
      if not before_other[o] then changed[#changed + 1] = "  " .. o .. ": made by the range" end
    end
    for o in pairs(before_other) do
      if not other_objects(conn)[o] then changed[#changed + 1] = "  " .. o .. ": removed by the range" end
    end
    if #changed > 0 then
      table.sort(changed)
      fail(("squash: the range %s changes what a schema comparison cannot redo:\n%s\nsquash a range "
        .. "without these steps (split it around them)"):format(range, table.concat(changed, "\n")))
    end
    local ops = diff.compare(after, before, {dialect = conn:dialect()})
    for _, l in ipairs(rename_like(ops)) do
      self:_log("WARNING", ("squash: the squash's upgrade has %s, of the same type: if the range "
        .. "renamed it (a rename autogenerate cannot see), a database taking the squash loses that "
        .. "data; squash around the rename, or write the squash by hand"):format(l))
    end
    local end_rows = rows_of(conn, after)
    local up, down = autogen.render(ops, ctx)
    local s = self.settings
    local path, id = self:_write_revision(parents, {
      message = opts.message or ("squash %s..%s"):format(first, last), rev_id = opts.rev_id,
      branch_labels = #labels > 0 and labels or nil, depends_on = #depends > 0 and depends or nil,
      upgrades = up, downgrades = down,
      template_text = template_with_replaces(s.script_location),
      template_args = {replaces = scaffold.literal(ids)},
    })
    scratch.records = nil                               -- the graph changed
    -- the check: the squash's downgrade and upgrade on the scratch database
    local okv, err = pcall(function()
      scratch:downgrade(#parents == 0 and "base" or scratch:_undo_target(id))
      local bad = differences(before, scratch:_schema(conn), conn, ctx)
      if bad then error("its downgrade does not give the schema before the range:\n" .. bad, 0) end
      scratch:upgrade(id)
      bad = differences(after, scratch:_schema(conn), conn, ctx)
      if bad then error("its upgrade does not give the schema at " .. last .. ":\n" .. bad, 0) end
      local lost = rows_lost(end_rows, rows_of(conn, after))
      if #lost > 0 then
        error("its downgrade and upgrade do not keep the rows the range keeps (a rename "
          .. "autogenerate read as a drop and an add?):\n" .. table.concat(lost, "\n")
          .. "\nsquash around the step that changes them, or write the squash by hand", 0)
      end
    end)
    if not okv then
      os.remove(path)
      self.records = nil
      fail(("squash: the squashed revision was not written: checked on the scratch database %s "
        .. "(your database was not touched), %s"):format(scratch:display_url(),
        (message_of(err):gsub("([Tt]he) database is at", "%1 scratch database is at"))))
    end
    return {path = path, revision = id, replaces = ids, operations = #ops}
  end)
  cleanup()
  if not ok then error(result, 0) end
  return result
end

return M
