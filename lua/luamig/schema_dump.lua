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
-- convention would give another one. What luamig cannot declare
-- (luamig.schema_gaps) the file lists in a comment, item by item; a
-- baseline refuses, unless forced, what it would create otherwise. A
-- SQLite primary key column that allows NULL (SQLite's legacy rule) is
-- declared as the op API makes it, NOT NULL: luamig.autogen.diff does not
-- compare a SQLite key column's nullability, and the comment lists it.
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
-- from nothing (luamig's own tables left out), and the live schema. On
-- PostgreSQL the schema's enum types come first (op.create_enum, also
-- those only an array column or no column uses), and are dropped last.
function M.operations(runner)
  local conn = runner:connection()
  local live = introspect.schema(conn, {exclude = runner:_own_tables(),
                                        include_object = runner.settings.include_object})
  local ctx = runner:_render_context()
  for tname, t in pairs(live.tables) do
    t.name = t.name or tname
    name_unnamed(t, ctx)
  end
  -- a column's collation (other than its type's) goes into its type
  -- string, as a migration writes it: {"s", 'text collate "C"'}
  local function collate(tname, cname, coll)
    local t = live.tables[tname]
    for _, c in ipairs(t and t.columns or {}) do
      if c.name == cname and not c.enum then
        local plain = conn:dialect() == "sqlite" and "^[%a_][%w_]*$" or "^[a-z_][a-z0-9_]*$"
        c.type = c.type .. " collate " .. (coll:match(plain) and coll or '"' .. coll:gsub('"', '""') .. '"')
        c.collate = nil
      end
    end
  end
  if conn:dialect() == "sqlite" then
    for tname, t in pairs(live.tables) do
      for _, c in ipairs(t.columns) do if c.collate then collate(tname, c.name, c.collate) end end
    end
  else
    for _, r in ipairs(conn:query([[SELECT c.relname AS tbl, a.attname AS col, co.collname AS coll
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid
        JOIN pg_collation co ON co.oid = a.attcollation
        WHERE c.relnamespace = current_schema()::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attcollation <> 0 AND a.attcollation <> t.typcollation]])) do
      collate(r.tbl, r.col, r.coll)
    end
  end
  local empty = {tables = {}}
  if conn:dialect() == "postgresql" then empty.enums = {} end
  local ops = diff.compare(live, empty, {dialect = conn:dialect()})
  return ops, live
end

-- What the database has that luamig does not declare, item by item
-- (luamig.schema_gaps): {{item =, rebuild =}, ...}.
function M.gaps(runner, live)
  return require("luamig.schema_gaps").list(runner:connection(), live)
end

-- The items as strings (compatibility: "view v", ...).
function M.not_covered(runner, live)
  return (require("luamig.schema_gaps").strings(M.gaps(runner, live)))
end

local function indented(code, prefix)
  return prefix .. code:gsub("\n", "\n" .. prefix)
end

-- One comment line per item (an item never holds a newline: a default or
-- an expression that does is written with its newlines as spaces).
local function comment_lines(lines, items, prefix)
  for _, item in ipairs(items) do lines[#lines + 1] = prefix .. item:gsub("[\r\n]+", " ") end
end

-- The whole schema.lua: a header saying where it came from (the URL with
-- its password masked) and what it leaves out, then schema(op). Returns
-- the text, the number of operations and the items not covered.
function M.schema_file(runner, opts)
  opts = opts or {}
  local ops, live = M.operations(runner)
  local ctx = runner:_render_context()
  local lines = {
    "-- schema.lua: the declared schema (doc/autogenerate.md), written by",
    ("-- `luamig init --from-database` from %s"):format(runner:display_url()),
    ("-- (%s) on %s UTC. Edit it as your own: luamig check compares"):format(
      runner:dialect(), opts.date or os.date("!%Y-%m-%d %H:%M:%S")),
    "-- the database with it, revision --autogenerate writes the difference.",
  }
  local missing = M.not_covered(runner, live)
  if #missing > 0 then
    lines[#lines + 1] = "-- Not covered: schema.lua does not declare these, or declares them otherwise than"
    lines[#lines + 1] = "-- the database has them, and check does not compare them (keep them in"
    lines[#lines + 1] = "-- migrations with op.execute; doc/autogenerate.md, \"Not covered\"):"
    comment_lines(lines, missing, "--   ")
  end
  lines[#lines + 1] = "function schema(op)"
  for _, op in ipairs(ops) do lines[#lines + 1] = indented(render.op(op, ctx), "  ") end
  lines[#lines + 1] = "end"
  return table.concat(lines, "\n") .. "\n", #ops, missing
end

-- The bodies of a baseline revision: the upgrade creates the database's
-- extensions (PostgreSQL: CREATE EXTENSION IF NOT EXISTS, so that their
-- types exist), its enum types, and its tables; the downgrade drops the
-- tables (those that reference others first), then the enum types, and
-- leaves the extensions. Also returns the operations as autogenerate
-- describes them, and the items not covered ({{item =, rebuild =}}).
function M.baseline(runner)
  local ops, live = M.operations(runner)
  local ctx = runner:_render_context()
  local autogen = require "luamig.autogen"
  local up, down = autogen.render(ops, ctx)
  local conn = runner:connection()
  local first = {}
  for _, e in ipairs(require("luamig.schema_gaps").extensions(conn)) do
    local function ident(name) return name:match("^[a-z_][a-z0-9_]*$") and name or conn:quote_ident(name) end
    local sql = "CREATE EXTENSION IF NOT EXISTS " .. ident(e.name)
      .. (e.schema and (" WITH SCHEMA " .. ident(e.schema)) or "")
    first[#first + 1] = ("op.execute(%s)"):format(render.string(sql))
  end
  if #first > 0 then
    up = table.concat(first, "\n") .. "\n" .. up
  end
  return up, down, autogen.describe(ops, ctx), M.gaps(runner, live), live
end

-- Runner:revision's {baseline = true}: refused unless the project has no
-- revision yet, the database is there and has tables, and nothing in it
-- would be rebuilt otherwise than it is (opts.force: written all the same,
-- those items listed in a comment at the top of the upgrade); returns the
-- operations (as autogenerate describes them) and opts with the upgrade
-- and downgrade bodies.
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
  if not runner:_read_connection() then
    fail(("revision --baseline: the SQLite database %s does not exist; the baseline is written from "
      .. "the database that has the schema: give its URL with --url or DATABASE_URL"):format(runner:display_url()))
  end
  local up, down, described, gaps, live = M.baseline(runner)
  if next(live.tables) == nil then
    fail(("revision --baseline: the database %s has no tables (luamig's own left out), so a baseline "
      .. "would be empty: give the URL of the database that has the schema, or start with "
      .. "revision -m"):format(runner:display_url()))
  end
  local all, rebuild = require("luamig.schema_gaps").strings(gaps)
  if #rebuild > 0 and not opts.force then
    local where = {}
    for _, item in ipairs(rebuild) do where[#where + 1] = "  " .. item:gsub("[\r\n]+", " ") end
    fail(("revision --baseline: the database has what a baseline would create otherwise than it is; "
      .. "nothing written:\n%s\nAdd them to the baseline yourself (op.execute) after writing it "
      .. "with --force, which lists them at the top of its upgrade"):format(table.concat(where, "\n")))
  end
  if #rebuild > 0 then
    local lines = {"-- Written with --force: this baseline creates these otherwise than the database",
                   "-- it was written from has them (edit it, e.g. with op.execute):"}
    comment_lines(lines, rebuild, "--   ")
    up = table.concat(lines, "\n") .. "\n" .. up
  end
  local left_out = {}
  for _, g in ipairs(gaps) do if not g.rebuild then left_out[#left_out + 1] = g.item end end
  if #left_out > 0 then
    runner:_log("WARNING", "Not covered by the baseline (add them to it with op.execute): "
      .. table.concat(left_out, ", "))
  end
  if #rebuild > 0 then
    runner:_log("WARNING", "Written with --force: the baseline creates these otherwise than the database has "
      .. "them: " .. table.concat(rebuild, ", "))
  end
  return described, setmetatable({upgrades = up, downgrades = down}, {__index = opts})
end

return M
