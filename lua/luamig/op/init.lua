-- luamig.op -- the op API that migration scripts call: DDL, data and
-- offline SQL on SQLite and PostgreSQL (DESIGN.md, "The op API").
--
-- The runner builds one op object per step and hands it to the script's
-- upgrade(op) or downgrade(op), inside the step's transaction:
--
--   local op = require("luamig.op").new{
--     conn      = conn,          -- a luamig.core connection; nil offline (--sql)
--     dialect   = "sqlite",      -- or "postgresql"; optional online (taken from conn)
--     x         = {KEY = "VALUE"},            -- -x arguments, seen as op.x.KEY
--     tag       = "TAG",                      -- --tag, seen as op.tag (nil without it)
--     emit      = function(text, kind) end,   -- offline only, see below
--     naming_convention = {ix = "...", uq = "...", ck = "...", fk = "...", pk = "..."},
--                                 -- optional; merged over Alembic's recommended one
--     log       = function(level, msg) end,   -- optional: "info" / "warning" notes
--     progress  = function(rows_done, total, table) end,  -- optional: bulk_insert: 0, every
--                                  10,000 rows, the final count; total nil for an iterator
--     offline_schema = {},                    -- optional, offline: the table models one run
--                                             -- has made, shared by its steps (default: kept
--                                             -- per emit function, so one emit per run does it)
--   }
--
-- Online, every statement runs on conn at once (the runner owns BEGIN and
-- COMMIT; op never opens or ends the step's transaction: the SQLite table
-- rebuild only uses a SAVEPOINT inside it).
-- Offline, nothing connects; each statement goes to emit:
--   emit(sql, "statement")  one SQL statement, without its terminating ";",
--                           with any parameters inlined as escaped literals:
--                           the runner writes it followed by ";" and a newline;
--   emit(text, "copy")      PostgreSQL bulk_insert data: the "COPY ... FROM stdin;"
--                           line, rows, and the closing "\." line, in pieces that
--                           end with a newline; the runner writes them verbatim
--                           and in order, adding nothing in between.
--
-- Operations are called with a dot (op.create_table(...)); options are a
-- Lua table with Alembic's names, plus the aliases type, default, on_delete,
-- on_update, where, concurrently, using, include. A misspelled option or a
-- wrong argument type raises "op_name: ..." at the migration's line.
--
-- The op API is these modules, each given the op object's context ctx
-- ({conn, d = dialect module, sqlite, emit, log, convention, known,
-- raw_seen}) explicitly: check (arguments, options, the error at the
-- migration's line), build (column/constraint/index/table models and
-- change records), apply (running SQL online and offline; per-dialect
-- application of changes), offline (what --sql knows of the run's tables),
-- bulk (bulk_insert), sqlite_rebuild (SQLite's move-and-copy, with
-- sqlite_model, sqlite_table_sql and sqlite_checks). This file assembles
-- the op table.
local common = require "luamig.dialect.common"
local naming_ready = require "luamig.dialect.naming_ready"
local introspect = require "luamig.introspect"
local check = require "luamig.op.check"
local build = require "luamig.op.build"
local apply = require "luamig.op.apply"
local offline = require "luamig.op.offline"
local rebuild = require "luamig.op.sqlite_rebuild"
local enum_op = require "luamig.op.enum"
check.mark_internal()

local raise, register, describe = check.raise, check.register, check.describe
local check_arg, check_options, sql_text = check.check_arg, check.check_options, check.sql_text
local ALIASES, SPEC = check.ALIASES, check.SPEC
local copy = rebuild.copy
for _, mod in ipairs({build, apply, offline, rebuild, require "luamig.op.safe", require "luamig.op.citus", require "luamig.op.sqlite_model",
                      require "luamig.op.sqlite_table_sql", require "luamig.op.sqlite_checks", enum_op}) do
  register(mod)
end

local M = {}
M.raise = raise

local dialect_modules = {sqlite = "luamig.dialect.sqlite", postgresql = "luamig.dialect.postgresql"}

-- Argument positions of the table operations, for messages; batch.X has
-- no table argument, so the positions after it move down by one.
local POS = {
  add_column = {table = 1, column = 2, options = 3},
  drop_column = {table = 1, column = 2, options = 3},
  alter_column = {table = 1, column = 2, changes = 3},
  create_index = {name = 1, table = 2, columns = 3, options = 4},
  drop_index = {name = 1, table = 2, options = 3},
  create_unique_constraint = {name = 1, table = 2, columns = 3, options = 4},
  create_primary_key = {name = 1, table = 2, columns = 3},
  create_foreign_key = {name = 1, table = 2, referent = 3, local_cols = 4, remote_cols = 5, options = 6},
  create_check_constraint = {name = 1, table = 2, condition = 3, options = 4},
  validate_constraint = {name = 1, table = 2, options = 3},
  drop_constraint = {name = 1, table = 2, options = 3},
}
local BATCH_POS = {}
for opname, pos in pairs(POS) do
  local b = {}
  for k, v in pairs(pos) do if k ~= "table" then b[k] = v > pos.table and v - 1 or v end end
  BATCH_POS[opname] = b
end

function M.new(cfg)
  if type(cfg) ~= "table" then error("luamig.op.new: expects a table", 2) end
  local conn = cfg.conn
  local dialect_name = cfg.dialect or (conn and conn:dialect())
  if not dialect_modules[dialect_name] then
    error(("luamig.op.new: dialect must be \"sqlite\" or \"postgresql\", got %s"):format(tostring(dialect_name)), 2)
  end
  if conn and conn:dialect() ~= dialect_name then
    error(("luamig.op.new: dialect %q does not match the connection (%s)"):format(dialect_name, conn:dialect()), 2)
  end
  if not conn and type(cfg.emit) ~= "function" then
    error("luamig.op.new: offline (no conn) needs an emit function", 2)
  end
  local d = require(dialect_modules[dialect_name])
  register(d)
  local convention, why = naming_ready.resolve(cfg.naming_convention)
  if not convention then error("luamig.op.new: " .. why, 2) end
  local ctx = {conn = conn, d = d, sqlite = dialect_name == "sqlite", emit = cfg.emit,
               log = cfg.log or function() end, convention = convention,
               -- cfg.on_rename(what, where): told of each rename and USING conversion
               -- as it runs (a squash refuses a range with one: autogenerate cannot see it)
               on_rename = cfg.on_rename}
  if not conn then offline.attach(ctx, cfg) end

  local op = {dialect = dialect_name, x = cfg.x or {}, raw = common.raw, NULL = common.NULL,
              binary = common.binary}

  ---------------------------------------------------------------------------
  -- The operations

  function op.create_table(name, items, opts)
    local opname = "create_table"
    check_arg(opname, 1, "name", name, "name")
    check_arg(opname, 2, "columns", items, "table")
    local o = check_options(opname, opts, SPEC.create_table, ALIASES, 3)
    if o.if_not_exists and conn and introspect.table(conn, name) then
      ctx.log("info", ('create_table: table "%s" exists already; left as it is'):format(name))
      return introspect.table(conn, name)
    end
    local t = build.table_model(ctx, opname, name, items, o)
    for _, col in ipairs(t.columns) do
      enum_op.ensure(ctx, col.enum, ('create_table "%s", column "%s"'):format(name, col.name))
    end
    if ctx.sqlite and (t.comment or false) then ctx.log("info", "create_table: SQLite has no comments; comment ignored") end
    apply.run_all(ctx, d.create_table(t, o))
    if ctx.known and not (o.if_not_exists and ctx.known[name]) then ctx.known[name] = copy(t) end
    return t
  end

  function op.drop_table(name, opts)
    check_arg("drop_table", 1, "name", name, "name")
    local o = check_options("drop_table", opts, SPEC.drop_table, ALIASES, 2)
    apply.run(ctx, ctx.d.drop_table_sql(name, o))
    if ctx.known then ctx.known[name] = nil end
  end

  function op.rename_table(old, new)
    check_arg("rename_table", 1, "old", old, "name")
    check_arg("rename_table", 2, "new", new, "name")
    if ctx.on_rename then ctx.on_rename(("rename_table %q to %q"):format(old, new), check.caller_line()) end
    apply.run(ctx, ctx.d.rename_table_sql(old, new))
    if ctx.known then
      local t = ctx.known[old]
      ctx.known[old] = nil
      ctx.raw_seen.names[new:lower()] = ctx.raw_seen.names[new:lower()] or ctx.raw_seen.names[old:lower()]
      if t then
        t.name = new
        for _, ix in ipairs(t.indexes or {}) do ix.table = new end
        ctx.known[new] = t
      end
      for _, other in pairs(ctx.known) do                 -- references follow, as SQLite's rename does
        for _, fk in ipairs(other.foreign_keys or {}) do
          if fk.ref_table == old then fk.ref_table = new end
        end
      end
    end
  end

  -- op.X(...) for the operations that change one table: check the table
  -- argument, build the change, apply it.
  local function table_op(opname)
    local pos = POS[opname]
    return function(...)
      local args = table.pack(...)
      local tname = args[pos.table]
      if opname == "drop_index" then
        if tname ~= nil then check_arg(opname, pos.table, "table", tname, "name") end
      else
        check_arg(opname, pos.table, "table", tname, "name")
      end
      local rest, j = {}, 0
      for i = 1, math.max(args.n, 6) do
        if i ~= pos.table then j = j + 1; rest[j] = args[i] end
      end
      local ch = build[opname](ctx, opname, tname, pos, table.unpack(rest, 1, 5))
      if ch.kind == "create_index" then
        local safe = require "luamig.op.safe"
        safe.before_create_index(ctx, opname, tname, ch.index, ch.opts)
        local ok, err = pcall(apply.run, ctx, ctx.d.create_index_sql(ch.index, ch.opts))
        if not ok then error(ch.opts.concurrently and safe.after_failed_index(ctx, ch.index, err) or err, 0) end
        offline.remember_index(ctx, ch.index)
      elseif ch.kind == "drop_index" then
        apply.run(ctx, ctx.d.drop_index_sql(ch.name, ch.opts))
        offline.forget_index(ctx, tname, ch.name)
      else
        apply.apply_changes(ctx, opname, tname, {ch})
      end
    end
  end
  for opname in pairs(POS) do op[opname] = table_op(opname) end

  function op.batch_alter_table(tname, fn, opts)
    local opname = "batch_alter_table"
    check_arg(opname, 1, "table", tname, "name")
    if type(fn) ~= "function" then
      raise(("%s: argument 2 (fn) must be a function, got %s"):format(opname, describe(fn)))
    end
    local o = check_options(opname, opts, SPEC.batch_alter_table, ALIASES, 3)
    local recreate = o.recreate or "auto"
    if recreate ~= "auto" and recreate ~= "always" and recreate ~= "never" then
      raise(('%s: option "recreate" must be one of auto, always, never, got %q'):format(opname, recreate))
    end
    if o.copy_from then
      -- Alembic's copy_from: the table as it is, so that offline SQLite can rebuild it
      local t = o.copy_from
      if type(t.name) ~= "string" or type(t.columns) ~= "table" then
        raise(opname .. ': option "copy_from" must be a table model (what create_table or luamig.introspect returns)')
      end
      if ctx.known then
        t = copy(t)
        t.name = tname
        for _, field in ipairs({"uniques", "foreign_keys", "checks", "indexes"}) do t[field] = t[field] or {} end
        for _, ix in ipairs(t.indexes) do ix.table = tname end
        ctx.known[tname] = t
      end
    end
    local changes = {}
    local batch = {dialect = dialect_name, x = op.x, raw = op.raw, NULL = op.NULL, f = op.f,
                   binary = op.binary}
    for name in pairs(POS) do
      local function add(...)
        changes[#changes + 1] = build[name](ctx, "batch." .. name, tname, BATCH_POS[name], ...)
      end
      batch[name] = cfg.on_call and function(...)      -- the lint's recorder: see below
        return cfg.on_call("batch." .. name, table.pack(...), check.caller_line(), add, tname)
      end or add
    end
    fn(batch)
    apply.apply_changes(ctx, opname, tname, changes, recreate)
  end

  -- Table comments (PostgreSQL; SQLite has none and ignores them).
  local function set_table_comment(opname, tname, comment)
    if ctx.sqlite then return ctx.log("info", opname .. ": SQLite has no comments; ignored") end
    apply.run(ctx, ctx.d.comment_sql("TABLE", tname, nil, comment))
    if ctx.known and ctx.known[tname] then ctx.known[tname].comment = comment end
  end

  function op.create_table_comment(tname, comment, opts)
    check_arg("create_table_comment", 1, "table", tname, "name")
    check_arg("create_table_comment", 2, "comment", comment, "string")
    check_options("create_table_comment", opts, {existing_comment = "any"}, nil, 3)
    return set_table_comment("create_table_comment", tname, comment)
  end

  function op.drop_table_comment(tname, opts)
    check_arg("drop_table_comment", 1, "table", tname, "name")
    check_options("drop_table_comment", opts, {existing_comment = "any"}, nil, 2)
    return set_table_comment("drop_table_comment", tname, nil)
  end

  -- The live connection (Alembic's get_bind), for what the op API does not cover.
  function op.get_bind()
    if not ctx.conn then raise("get_bind: there is no connection in --sql (offline) mode") end
    return ctx.conn
  end

  function op.execute(sql, params)
    check_arg("execute", 1, "sql", sql, "sql")
    if params ~= nil then check_arg("execute", 2, "params", params, "table") end
    local text = sql_text(sql)
    apply.run(ctx, text, params)
    if ctx.raw_seen and ctx.sqlite then offline.note_raw(ctx, text) end
  end

  function op.query(sql, params)
    check_arg("query", 1, "sql", sql, "sql")
    if params ~= nil then check_arg("query", 2, "params", params, "table") end
    if not ctx.conn then raise("query: needs a live database; it cannot run in --sql (offline) mode") end
    return ctx.conn:query(sql_text(sql), params)
  end

  -- A value rendered inline in SQL (Alembic's inline_literal), for UPDATEs
  -- that must also work offline.
  function op.inline_literal(v)
    local ok, s = pcall(ctx.d.literal, v)
    if not ok then raise("inline_literal: " .. s) end
    return common.raw(s)
  end

  -- Statements outside the step's transaction: luamig.op.autocommit.
  op.autocommit_block = require("luamig.op.autocommit").make(ctx)

  -- A name marked final (Alembic's op.f): luamig never rewrites explicit names.
  function op.f(name) return name end

  -- A table's columns declared for bulk_insert without creating it
  -- (Alembic's sa.table("t", sa.column("b", LargeBinary))): the model
  -- bulk_insert takes in place of the name, so offline knows the types of
  -- a table an earlier run made. Online the database's own types rule.
  function op.table(name, columns)
    check_arg("table", 1, "name", name, "name")
    if type(columns) ~= "table" or #columns == 0 then
      raise('table: argument 2 (columns) must be a list of {"name", "type"}')
    end
    local t = {name = name, columns = {}}
    for i, c in ipairs(columns) do
      if type(c) ~= "table" or type(c[1]) ~= "string" or c[1] == "" then
        raise(('table: column %d must be {"name", "type"}'):format(i))
      end
      t.columns[i] = {name = c[1], type = require("luamig.dialect.enum").is_enum(c[2])
        and enum_op.column(ctx, c[2], c[1], name, function() return nil end)
        or build.check_type(ctx, "table", c[2], c[1])}
    end
    return t
  end

  enum_op.install(ctx, op)                  -- op.enum, create_enum, drop_enum, *_enum_value
  require("luamig.op.citus").install(ctx, op)   -- op.distribute_table, op.reference_table

  op.bulk_insert = require("luamig.op.bulk").make({
    conn = ctx.conn, d = ctx.d, emit = ctx.emit, known = ctx.known, raise = raise, check_arg = check_arg,
    check_options = function(opts, argn) return check_options("bulk_insert", opts, SPEC.bulk_insert, ALIASES, argn) end,
    progress = cfg.progress, register = register, log = ctx.log,
  })

  -- A name op does not have is an error at the script's line that names
  -- the closest op function, not Lua's "attempt to call a nil value (field
  -- 'add_colum')". tag (--tag) is nil when no tag was given.
  op.tag = cfg.tag
  -- cfg.on_call(opname, args, where, run, batch_table): luamig lint's
  -- recorder (luamig.lint.record), called in place of each operation with
  -- its arguments (table.pack), the file:line of the call and the function
  -- that runs it; batch.X's opname is "batch.X", with the batch's table.
  if cfg.on_call then
    local plain = {raw = true, NULL = true, binary = true, f = true, inline_literal = true,
                   table = true, get_bind = true, query = true, enum = true}
    for k, f in pairs(op) do
      if type(f) == "function" and not plain[k] then
        op[k] = function(...) return cfg.on_call(k, table.pack(...), check.caller_line(), f) end
      end
    end
  end
  local names = {}
  for k in pairs(op) do names[#names + 1] = k end
  table.sort(names)
  return setmetatable(op, {__index = function(_, k)
    if k == "tag" then return nil end
    local name = tostring(k)
    error(("op.%s: op has no such function or field%s; doc/op.md lists them")
      :format(name, require("luamig.suggest").hint(name, names)), 2)
  end})
end

return M
