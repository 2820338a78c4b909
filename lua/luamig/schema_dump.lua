-- luamig.schema_dump -- the live schema of a database as Lua code: the
-- declared schema (schema.lua's schema(op), doc/autogenerate.md) that
-- `luamig init --from-database` writes, and the upgrade and downgrade of
-- `luamig revision --baseline`.
--
--   local dump = require "luamig.schema_dump"
--   local ops = dump.operations(runner)     -- create_table ... in dependency order
--   local text = dump.schema_file(runner)    -- the whole schema.lua
--   local up, down = dump.baseline(runner)   -- a revision's bodies
--
-- One renderer: the operations are what luamig.autogen.diff gives for an
-- empty database and the live schema as the target (tables after the
-- tables they reference, a foreign key in a cycle created after all of
-- them), rendered by luamig.autogen.render as autogenerate renders them,
-- so constraint names are written only where the project's naming
-- convention would give another one. Views, triggers, sequences of their
-- own and functions are not luamig's vocabulary: the file says which the
-- database has, in a comment.
local diff = require "luamig.autogen.diff"
local render = require "luamig.autogen.render"
local introspect = require "luamig.introspect"

local M = {}

-- The columns of t that condition names (as a word or "quoted").
local function named_columns(t, condition)
  local found = {}
  for _, c in ipairs(t.columns) do
    local plain = c.name:match("^[%a_][%w_]*$")
      and condition:find("%f[%w_]" .. c.name:gsub("%p", "%%%0") .. "%f[^%w_]")
    local quoted = condition:find('"' .. c.name:gsub('"', '""') .. '"', 1, true)
    if plain or quoted then found[#found + 1] = c.name end
  end
  return found
end

-- A constraint without a name in the database (SQLite's inline UNIQUE,
-- REFERENCES, CHECK) is declared as the naming convention names it: a
-- single-column one inline on its column (unique = true, references =,
-- check =), where check matches it by definition. A check on several
-- columns, which the convention cannot name without a constraint name, is
-- named as PostgreSQL would name it (<table>_check, then _check1, ...).
local function name_unnamed(t, ctx)
  local name = t.name
  for _, u in ipairs(t.uniques or {}) do
    u.name = u.name or render.convention(ctx, "uq", {table = name, columns = u.columns})
  end
  for _, fk in ipairs(t.foreign_keys or {}) do
    fk.name = fk.name or render.convention(ctx, "fk", {table = name, columns = fk.columns,
      referred_table = fk.ref_table, referred_columns = fk.ref_columns})
  end
  local taken, n = {}, 0
  for _, ck in ipairs(t.checks or {}) do if ck.name then taken[ck.name] = true end end
  for _, ck in ipairs(t.checks or {}) do
    if not ck.name then
      local cols = named_columns(t, ck.condition)
      local conv, why = render.convention(ctx, "ck", {table = name, columns = cols,
        constraint_name = #cols == 1 and cols[1] or nil})
      if conv and not taken[conv] then
        ck.name = conv
      elseif why and why:find("needs") or conv then       -- the convention cannot name it alone
        repeat
          ck.name = name .. "_check" .. (n > 0 and tostring(n) or "")
          n = n + 1
        until not taken[ck.name]
      end
      if ck.name then taken[ck.name] = true end
    end
  end
end

-- The operations that create the live schema of the runner's database
-- from nothing (luamig's own tables left out), and the live schema.
function M.operations(runner)
  local conn = runner:connection()
  local live = introspect.schema(conn, {exclude = runner:_own_tables(),
                                        include_object = runner.settings.include_object})
  local ctx = runner:_render_context()
  for tname, t in pairs(live.tables) do
    t.name = t.name or tname
    name_unnamed(t, ctx)
  end
  local ops = diff.compare(live, {tables = {}}, {dialect = conn:dialect()})
  return ops, live
end

-- What the database has that luamig does not declare: {"view v", ...}.
function M.not_covered(conn)
  local rows
  if conn:dialect() == "sqlite" then
    rows = conn:query([[SELECT type AS kind, name FROM sqlite_schema
      WHERE type IN ('view', 'trigger') ORDER BY type, name]])
  else
    rows = conn:query([[SELECT 'view' AS kind, c.relname AS name FROM pg_class c
        WHERE c.relkind IN ('v', 'm') AND c.relnamespace = current_schema()::regnamespace
      UNION ALL SELECT 'trigger', t.tgname || ' on ' || c.relname FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace
      UNION ALL SELECT 'function', p.proname FROM pg_proc p
        WHERE p.pronamespace = current_schema()::regnamespace
      ORDER BY 1, 2]])
  end
  local out = {}
  for i, r in ipairs(rows) do out[i] = r.kind .. " " .. r.name end
  return out
end

local function indented(code, prefix)
  return prefix .. code:gsub("\n", "\n" .. prefix)
end

-- The whole schema.lua: a header saying where it came from (the URL with
-- its password masked) and what it leaves out, then schema(op).
function M.schema_file(runner, opts)
  opts = opts or {}
  local ops = M.operations(runner)
  local ctx = runner:_render_context()
  local lines = {
    "-- schema.lua: the declared schema (doc/autogenerate.md), written by",
    ("-- `luamig init --from-database` from %s"):format(runner:display_url()),
    ("-- (%s) on %s UTC. Edit it as your own: luamig check compares"):format(
      runner:dialect(), opts.date or os.date("!%Y-%m-%d %H:%M:%S")),
    "-- the database with it, revision --autogenerate writes the difference.",
  }
  local missing = M.not_covered(runner:connection())
  if #missing > 0 then
    lines[#lines + 1] = "-- Not covered (luamig declares no views, triggers or functions; keep them in"
    lines[#lines + 1] = "-- migrations with op.execute): " .. table.concat(missing, ", ")
  end
  lines[#lines + 1] = "function schema(op)"
  for _, op in ipairs(ops) do lines[#lines + 1] = indented(render.op(op, ctx), "  ") end
  lines[#lines + 1] = "end"
  return table.concat(lines, "\n") .. "\n", #ops
end

-- The bodies of a baseline revision: the upgrade creates the schema, the
-- downgrade drops it (tables that reference others first). Also returns
-- the operations as autogenerate describes them, and what is not covered.
function M.baseline(runner)
  local ops = M.operations(runner)
  local ctx = runner:_render_context()
  local autogen = require "luamig.autogen"
  local up, down = autogen.render(ops, ctx)
  return up, down, autogen.describe(ops, ctx), M.not_covered(runner:connection())
end

-- Runner:revision's {baseline = true}: refused unless the project has no
-- revision yet; returns the operations (as autogenerate describes them)
-- and opts with the upgrade and downgrade bodies.
function M.baseline_revision(runner, opts)
  local fail = require("luamig.errors").fail
  if opts.autogenerate then
    fail("revision: --baseline and --autogenerate do not go together: the baseline creates the "
      .. "database's whole schema; autogenerate writes its difference from schema.lua")
  end
  local _, graph = runner:scripts()
  local heads = graph:heads()
  if #heads > 0 then
    fail(("revision --baseline writes the first revision of a project, and this one has "
      .. "revisions already (heads: %s). A baseline of a database whose history is here is "
      .. "that history: keep it (squash it to shorten it); to start the history anew, move "
      .. "the scripts of %s aside first"):format(table.concat(heads, ", "),
      runner.settings.script_location))
  end
  if opts.head and opts.head ~= "base" and opts.head ~= "head" then
    fail("revision --baseline: the baseline has no parent; leave --head out")
  end
  local up, down, described, missing = M.baseline(runner)
  if #missing > 0 then
    runner:_log("WARNING", "Not covered by the baseline (add them to it with op.execute): "
      .. table.concat(missing, ", "))
  end
  return described, setmetatable({upgrades = up, downgrades = down}, {__index = opts})
end

return M
