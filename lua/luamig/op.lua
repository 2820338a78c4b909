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
-- Reference: doc/op.md.
local common = require "luamig.dialect.common"
local sqltext = require "luamig.sqltext"
local introspect = require "luamig.introspect"

local M = {}

local dialect_modules = {sqlite = "luamig.dialect.sqlite", postgresql = "luamig.dialect.postgresql"}

-- Offline, the table models that the operations of one run have made, so
-- that a later step can rebuild a SQLite table without reading it. A run
-- passes the same emit function to every step's op, which keys the store
-- (or it passes its own table as offline_schema).
local offline_models = setmetatable({}, {__mode = "k"})

-- Offline, what op.execute did that those models cannot follow, per run
-- (keyed by its table of models): {names = {[lower name] = {where =, sql =}},
-- all = {where =, sql =} or nil, words = {[lower word] = true}}. A rebuild
-- of a table named there is refused: offline output is the online one,
-- or nothing.
local offline_raw = setmetatable({}, {__mode = "k"})

-- The first keywords of statements that cannot change a table's shape or
-- add an object on it (data, transactions, maintenance).
local raw_harmless = {INSERT = true, UPDATE = true, DELETE = true, REPLACE = true, SELECT = true,
                      VALUES = true, WITH = true, BEGIN = true, COMMIT = true, END = true, ROLLBACK = true,
                      SAVEPOINT = true, RELEASE = true, ANALYZE = true, EXPLAIN = true, REINDEX = true,
                      VACUUM = true, PRAGMA = true, ATTACH = true, DETACH = true}
-- Names that let "harmless" statements rewrite the schema.
local raw_schema_words = {sqlite_master = true, sqlite_schema = true, sqlite_temp_master = true,
                          sqlite_temp_schema = true, writable_schema = true}

-- Sources of luamig's own Lua modules: errors are reported at the first
-- stack frame outside them (the migration's line).
local internal = {}
local registered = setmetatable({}, {__mode = "k"})   -- modules already walked
local function register(mod)
  if registered[mod] then return end
  registered[mod] = true
  for _, v in pairs(mod) do
    if type(v) == "function" then internal[debug.getinfo(v, "S").source] = true end
  end
end
internal[debug.getinfo(1, "S").source] = true
register(common)
register(sqltext)

-- "file:line" of the migration's line that called the op API, or nil.
local function caller_line()
  local level = 2
  while true do
    local info = debug.getinfo(level, "Sl")
    if not info then return nil end
    if info.what ~= "C" and not internal[info.source] then
      return ("%s:%d"):format(info.short_src, info.currentline or 0)
    end
    level = level + 1
  end
end

-- Raise msg at the caller's line in the migration.
local function raise(msg)
  local where = caller_line()
  error(where and (where .. ": " .. msg) or msg, 0)
end
M.raise = raise

---------------------------------------------------------------------------
-- Argument and option checks

local function describe(v)
  if common.is_raw(v) then return "op.raw" end
  if v == common.NULL then return "op.NULL" end
  if common.is_binary(v) then return "op.binary" end
  if type(v) == "string" then return ("string %q"):format(#v > 40 and v:sub(1, 40) .. "..." or v) end
  return math.type(v) or type(v)
end

local function is_list_of_strings(v)
  if type(v) ~= "table" or common.is_raw(v) or #v == 0 then return false end
  for k, s in pairs(v) do
    if math.type(k) ~= "integer" or type(s) ~= "string" then return false end
  end
  return true
end

-- Value kinds for arguments and options: a check and what to say when it fails.
local kinds = {
  boolean = {function(v) return type(v) == "boolean" end, "a boolean"},
  string = {function(v) return type(v) == "string" end, "a string"},
  name = {function(v) return type(v) == "string" and v ~= "" end, "a non-empty string"},
  optname = {function(v) return v == nil or (type(v) == "string" and v ~= "") end, "a non-empty string or nil"},
  sql = {function(v) return type(v) == "string" or common.is_raw(v) end, "a string of SQL or op.raw"},
  table = {function(v) return type(v) == "table" and not common.is_raw(v) end, "a table"},
  names = {function(v) return type(v) == "string" or is_list_of_strings(v) end,
           "a column name or a list of column names"},
  index_columns = {function(v)
      if type(v) == "string" or common.is_raw(v) then return true end
      if type(v) ~= "table" or #v == 0 then return false end
      for _, e in ipairs(v) do if type(e) ~= "string" and not common.is_raw(e) then return false end end
      return true
    end, "a list of column names or op.raw expressions"},
  default = {function(v)
      local t = type(v)
      return t == "string" or t == "number" or t == "boolean" or common.is_raw(v) or v == common.NULL
    end, "a string, number, boolean, op.raw or op.NULL"},
  comment = {function(v) return type(v) == "string" or v == common.NULL end, "a string or op.NULL"},
  any = {function() return true end, "anything"},
  references = {function(v)
      return type(v) == "string" or (type(v) == "table" and type(v[1]) == "string"
        and (type(v[2]) == "string" or is_list_of_strings(v[2])))
    end, 'a string "table.column" or a list {"table", "column" or {columns}}'},
}

local function check_arg(opname, n, argname, v, kind)
  local k = kinds[kind]
  if not k[1](v) then
    raise(("%s: argument %d (%s) must be %s, got %s"):format(opname, n, argname, k[2], describe(v)))
  end
  return v
end

-- Check an options table against spec = {canonical = kind, ...} and
-- aliases = {alias = canonical}; returns the options under canonical names.
local function check_options(opname, opts, spec, aliases, argn, what)
  if opts == nil then return {} end
  what = what or "options"
  if type(opts) ~= "table" or common.is_raw(opts) then
    raise(("%s: argument %d (%s) must be a table, got %s"):format(opname, argn, what, describe(opts)))
  end
  local out, seen = {}, {}
  for k, v in pairs(opts) do
    local canon = type(k) == "string" and (aliases and aliases[k] or k) or nil
    local kind = canon and spec[canon]
    if not kind then
      raise(("%s: unknown option %s"):format(opname,
        type(k) == "string" and ('"' .. k .. '"') or ("[" .. tostring(k) .. "]")))
    end
    if seen[canon] then
      raise(('%s: option "%s" given twice (as "%s" and "%s")'):format(opname, canon, seen[canon], k))
    end
    seen[canon] = k
    if not kinds[kind][1](v) then
      raise(('%s: option "%s" must be %s, got %s'):format(opname, k, kinds[kind][2], describe(v)))
    end
    out[canon] = v
  end
  return out
end

local function as_list(v)
  if type(v) == "string" or common.is_raw(v) then return {v} end
  local t = {}
  for i, e in ipairs(v) do t[i] = e end
  return t
end

local fk_action_names = {["CASCADE"] = true, ["SET NULL"] = true, ["SET DEFAULT"] = true,
                         ["RESTRICT"] = true, ["NO ACTION"] = true}
local initially_names = {DEFERRED = true, IMMEDIATE = true}
local match_names = {FULL = true, PARTIAL = true, SIMPLE = true}

local function keyword(opname, optname, v, allowed)
  if v == nil then return nil end
  local u = v:upper():gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
  if not allowed[u] then
    local list = {}
    for k in pairs(allowed) do list[#list + 1] = k end
    table.sort(list)
    raise(('%s: option "%s" must be one of %s, got %q'):format(opname, optname, table.concat(list, ", "), v))
  end
  return u
end

local function sql_text(v)
  if v == nil then return nil end
  if common.is_raw(v) then return v.sql end
  return v
end

-- "table.column" (split at the last dot) or {"table", "column" | {columns}}.
local function parse_references(v)
  if type(v) == "string" then
    local t, c = v:match("^(.+)%.([^.]+)$")
    return t, {c}
  end
  return v[1], as_list(v[2])
end

---------------------------------------------------------------------------
-- Option specs, shared by op.X and batch.X

local ALIASES = {type = "type_", default = "server_default", on_delete = "ondelete",
                 on_update = "onupdate", postgresql_where = "where", sqlite_where = "where",
                 postgresql_concurrently = "concurrently", postgresql_using = "using",
                 postgresql_include = "include"}

local COLUMN_SPEC = {primary_key = "boolean", nullable = "boolean", unique = "boolean",
  server_default = "default", autoincrement = "boolean", references = "references",
  ondelete = "string", onupdate = "string", check = "sql", comment = "string", index = "boolean",
  type_ = "string"}

local SPEC = {
  create_table = {if_not_exists = "boolean", comment = "string"},
  drop_table = {if_exists = "boolean"},
  add_column = {if_not_exists = "boolean", insert_before = "name", insert_after = "name"},
  drop_column = {if_exists = "boolean"},
  alter_column = {nullable = "boolean", type_ = "string", server_default = "default",
    new_column_name = "name", comment = "comment", autoincrement = "boolean",
    existing_type = "string", existing_server_default = "any", existing_nullable = "boolean",
    existing_comment = "any", existing_autoincrement = "boolean", using = "sql",
    insert_before = "name", insert_after = "name"},
  create_index = {unique = "boolean", where = "sql", concurrently = "boolean",
    if_not_exists = "boolean", using = "string", include = "names"},
  drop_index = {if_exists = "boolean", concurrently = "boolean"},
  create_unique_constraint = {deferrable = "boolean", initially = "string"},
  create_primary_key = {},
  create_foreign_key = {ondelete = "string", onupdate = "string", deferrable = "boolean",
    initially = "string", match = "string"},
  create_check_constraint = {},
  drop_constraint = {type_ = "string", if_exists = "boolean"},
  bulk_insert = {columns = "names", multiinsert = "boolean"},
  batch_alter_table = {recreate = "string", copy_from = "table"},
}

local CONSTRAINT_TYPES = {foreignkey = "foreign", primary = "primary", unique = "unique", check = "check"}

---------------------------------------------------------------------------

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
  local rebuild = require "luamig.sqlite_rebuild"
  register(rebuild)
  local convention = {}
  for k, v in pairs(common.default_naming_convention) do convention[k] = v end
  for k, v in pairs(cfg.naming_convention or {}) do
    if v ~= false and type(v) ~= "string" then
      error(("luamig.op.new: naming_convention.%s must be a string (or false to remove it)"):format(tostring(k)), 2)
    end
    convention[k] = v or nil
  end
  local log = cfg.log or function() end
  local emit = cfg.emit
  local sqlite = dialect_name == "sqlite"

  local op = {dialect = dialect_name, x = cfg.x or {}, raw = common.raw, NULL = common.NULL,
              binary = common.binary}

  -- offline: name -> table model, for the tables this run has made
  local known, raw_seen
  if not conn then
    known = cfg.offline_schema or offline_models[emit] or {}
    offline_models[emit] = known
    raw_seen = offline_raw[known] or {names = {}, words = {}}
    offline_raw[known] = raw_seen
  end

  -- Offline: note what an op.execute may have done to the tables the run
  -- has models of. Statements that only read or write rows change no
  -- table; DROP INDEX and DROP TABLE are followed; anything else (ALTER,
  -- CREATE INDEX/TRIGGER/VIEW, DDL luamig does not know) marks every known
  -- table it names, anywhere in its text (a trigger body too), and a
  -- statement of a kind luamig does not know naming none marks them all.
  local function note_raw(sql)
    local toks = sqltext.tokens(sql, d.name)
    local firsts, start = {}, true
    local schema_write = false
    for _, t in ipairs(toks) do
      if sqltext.is(t, ";") then start = true
      elseif start then firsts[#firsts + 1] = {kw = sqltext.upper(t) or "", at = #firsts + 1}; start = false end
      if (t.k == "word" or t.k == "ident") and raw_schema_words[t.v:lower()] then schema_write = true end
    end
    local rec = {where = caller_line(), sql = sql}
    if schema_write then raw_seen.all = raw_seen.all or rec; return end
    local ddl = false
    for _, f in ipairs(firsts) do
      if not raw_harmless[f.kw] then ddl = true end
    end
    if not ddl then return end
    -- DROP INDEX name / DROP TABLE name, alone: follow them
    if #firsts == 1 and firsts[1].kw == "DROP" then
      local i = 2
      local what = sqltext.upper(toks[i])
      i = i + 1
      if sqltext.upper(toks[i]) == "IF" and sqltext.upper(toks[i + 1]) == "EXISTS" then i = i + 2 end
      if toks[i + 1] and sqltext.is(toks[i + 1], ".") then i = i + 2 end   -- main.name
      local name = toks[i] and (toks[i].k == "word" or toks[i].k == "ident" or toks[i].k == "string") and toks[i].v
      local last = toks[#toks]
      if name and (toks[i] == last or (sqltext.is(last, ";") and toks[i + 1] == last)) then
        if what == "INDEX" then
          for _, t in pairs(known) do
            for j = #(t.indexes or {}), 1, -1 do
              if t.indexes[j].name:lower() == name:lower() then table.remove(t.indexes, j) end
            end
          end
          return
        elseif what == "TABLE" then
          for tn in pairs(known) do if tn:lower() == name:lower() then known[tn] = nil end end
          return
        end
      end
    end
    local named = false
    for _, t in ipairs(toks) do
      if t.k == "word" or t.k == "ident" or t.k == "string" then
        local w = t.v:lower()
        raw_seen.words[w] = true
        for tn in pairs(known) do
          if tn:lower() == w then
            named = true
            raw_seen.names[w] = raw_seen.names[w] or rec
          end
        end
      end
    end
    if not named then
      local kinds = {CREATE = true, ALTER = true, DROP = true}
      for _, f in ipairs(firsts) do
        if not raw_harmless[f.kw] and not kinds[f.kw] then raw_seen.all = raw_seen.all or rec end
      end
    end
  end

  -- Offline: refuse to rebuild a table that an op.execute may have changed.
  local function check_raw(opname, tname)
    local rec = raw_seen.names[tname:lower()] or raw_seen.all
    if not rec then return end
    local text = rec.sql:gsub("%s+", " "):gsub("^ ", "")
    if #text > 80 then text = text:sub(1, 77) .. "..." end
    raise(('%s: on SQLite this rebuilds table "%s" from what the operations of this run say it is, but '
      .. 'op.execute%s (%s) may have changed it or made objects on it that --sql (offline) mode cannot see, '
      .. "and the rebuild would lose them: run this migration online, or make that change with op calls "
      .. "(op.add_column, op.create_index, ...)"):format(opname, tname, rec.where and (" at " .. rec.where) or "", text))
  end

  -- Offline: is this name (any object's, any case) one the run may have made?
  local function offline_taken(name)
    local l = name:lower()
    if raw_seen.words[l] then return true end
    for tn, t in pairs(known) do
      if tn:lower() == l then return true end
      for _, ix in ipairs(t.indexes or {}) do if ix.name and ix.name:lower() == l then return true end end
    end
    return false
  end
  local function forget_index(tname, name)
    if not known then return end
    for tn, t in pairs(known) do
      if tname == nil or tn == tname then
        for i, ix in ipairs(t.indexes or {}) do
          if ix.name == name then table.remove(t.indexes, i); return end
        end
      end
    end
  end
  local function remember_index(ix)
    local t = known and known[ix.table]
    if t then
      t.indexes = t.indexes or {}
      t.indexes[#t.indexes + 1] = rebuild.copy(ix)
    end
  end

  -- Run one statement (online) or hand it to emit (offline).
  local function run(sql, params)
    if conn then return conn:exec(sql, params) end
    if params then
      local ok, out = pcall(sqltext.inline, sql, params, function(v, n)
        local ok2, lit = pcall(d.param_literal, v)
        if not ok2 then error(("parameter $%d: %s"):format(n, lit), 0) end
        return lit
      end, d.name)
      if not ok then raise("execute: " .. out) end
      sql = out
    end
    sql = sql:gsub("[%s;]+$", "")
    -- a statement ending in a comment gets a newline, or the ";" after it
    -- would be commented out (only "--" or "*/" can end one: no tokenizing else)
    if sql:find("--", 1, true) or sql:find("*/", 1, true) then
      local toks = sqltext.tokens(sql, d.name)
      if #toks > 0 and toks[#toks].e < #sql then sql = sql .. "\n" end
    end
    emit(sql, "statement")
  end

  local function run_all(stmts)
    for _, s in ipairs(stmts) do run(s) end
  end

  local function name_for(opname, kind, info)
    local name, why = common.convention_name(convention, kind, info)
    if not name then raise(("%s: no name given, and %s"):format(opname, why)) end
    return name
  end

  local function check_type(opname, t, column)
    local norm, why = common.normalize_type(t)
    if norm then why = d.type_refused(norm); if why then norm = nil end end
    if not norm then
      raise(opname .. ": " .. (column and ('column "%s": '):format(column) or "") .. why)
    end
    return norm
  end

  local function default_sql(opname, v)
    if v == nil or v == common.NULL then return v end
    local ok, s = pcall(d.default_sql, v)
    if not ok then raise(opname .. ": default: " .. s) end
    return s
  end

  local autoinc_types = sqlite and {integer = true} or {integer = true, bigint = true, smallint = true}

  -- A column spec {name, type, ...} -> column model and the constraints it declares.
  local function column_from_spec(opname, tname, spec, argn)
    if type(spec) ~= "table" or common.is_raw(spec) or type(spec[1]) ~= "string" or spec[1] == "" then
      raise(("%s: argument %d: a column is {name, type, options...}, got %s"):format(opname, argn, describe(spec)))
    end
    local name = spec[1]
    local opts = {}
    for k, v in pairs(spec) do if k ~= 1 and k ~= 2 then opts[k] = v end end
    opts = check_options(opname .. " (column " .. name .. ")", opts, COLUMN_SPEC, ALIASES, argn, "column")
    local ctype = spec[2]
    if ctype == nil then ctype = opts.type_ end
    if type(ctype) ~= "string" then
      raise(('%s: column "%s": the type (second element) must be a string, got %s'):format(opname, name, describe(ctype)))
    end
    local col = {name = name, type = check_type(opname, ctype, name), nullable = opts.nullable ~= false,
                 default = default_sql(opname, opts.server_default), autoincrement = false,
                 comment = opts.comment}
    local extra = {primary_key = opts.primary_key, autoincrement = opts.autoincrement, index = opts.index}
    if opts.primary_key then col.nullable = false end
    if opts.unique then
      extra.unique = {name = name_for(opname, "uq", {table = tname, columns = {name}}), columns = {name}}
    end
    if opts.references then
      local rt, rc = parse_references(opts.references)
      if not rt then raise(('%s: column "%s": references must be "table.column", got %q'):format(opname, name, opts.references)) end
      extra.foreign_key = {columns = {name}, ref_table = rt, ref_columns = rc,
        on_delete = keyword(opname, "ondelete", opts.ondelete, fk_action_names),
        on_update = keyword(opname, "onupdate", opts.onupdate, fk_action_names)}
      if extra.foreign_key.on_delete == "NO ACTION" then extra.foreign_key.on_delete = nil end
      if extra.foreign_key.on_update == "NO ACTION" then extra.foreign_key.on_update = nil end
      extra.foreign_key.name = name_for(opname, "fk", {table = tname, columns = {name},
        referred_table = rt, referred_columns = rc})
    elseif opts.ondelete or opts.onupdate then
      raise(('%s: column "%s": ondelete/onupdate need references'):format(opname, name))
    end
    if opts.check then
      extra.check = {name = name_for(opname, "ck", {table = tname, columns = {name}, constraint_name = name}),
                     condition = sql_text(opts.check)}
    end
    return col, extra
  end

  local function fk_from_opts(opname, c, opts)
    c.on_delete = keyword(opname, "ondelete", opts.ondelete, fk_action_names)
    c.on_update = keyword(opname, "onupdate", opts.onupdate, fk_action_names)
    if c.on_delete == "NO ACTION" then c.on_delete = nil end
    if c.on_update == "NO ACTION" then c.on_update = nil end
    c.deferrable = opts.deferrable or nil
    c.initially = keyword(opname, "initially", opts.initially, initially_names)
    if c.initially == "IMMEDIATE" then c.initially = nil end
    c.match = keyword(opname, "match", opts.match, match_names)
    if c.match == "SIMPLE" then c.match = nil end
    return c
  end

  -- A table-level constraint entry of create_table.
  local TABLE_CONSTRAINT_SPEC = {
    primary_key = {primary_key = "names", name = "optname"},
    unique = {unique = "names", name = "optname", deferrable = "boolean", initially = "string"},
    foreign_key = {foreign_key = "names", references = "references", name = "optname",
      ondelete = "string", onupdate = "string", deferrable = "boolean", initially = "string",
      match = "string"},
    check = {check = "sql", name = "optname"},
  }
  local function table_constraint(opname, tname, entry, argn)
    local kind
    for k in pairs(TABLE_CONSTRAINT_SPEC) do if entry[k] ~= nil then kind = k; break end end
    if not kind then
      raise(("%s: argument %d: an entry is a column {name, type, ...} or a constraint "
        .. "{primary_key = ...}, {unique = ...}, {foreign_key = ..., references = ...} or {check = ...}"):format(opname, argn))
    end
    local what = opname .. " (" .. kind .. " constraint)"
    local o = check_options(what, entry, TABLE_CONSTRAINT_SPEC[kind], ALIASES, argn, "constraint")
    if kind == "check" then
      local name = o.name or name_for(what, "ck", {table = tname})
      return "check", {name = name, condition = sql_text(o.check)}
    end
    local cols = as_list(o[kind])
    if kind == "primary_key" then
      return "primary", {name = o.name or name_for(what, "pk", {table = tname, columns = cols}), columns = cols}
    elseif kind == "unique" then
      local c = {name = o.name or name_for(what, "uq", {table = tname, columns = cols}), columns = cols,
                 deferrable = o.deferrable or nil,
                 initially = keyword(what, "initially", o.initially, initially_names)}
      if c.initially == "IMMEDIATE" then c.initially = nil end
      return "unique", c
    else
      if not o.references then raise(what .. ': needs references = {"table", {columns}}') end
      local rt, rc = parse_references(o.references)
      if not rt then raise(('%s: references must be {"table", {columns}} or "table.column", got %q'):format(what, o.references)) end
      if #rc ~= #cols then
        raise(("%s: %d local column(s) but %d referenced"):format(what, #cols, #rc))
      end
      local c = fk_from_opts(what, {columns = cols, ref_table = rt, ref_columns = rc}, o)
      c.name = o.name or name_for(what, "fk", {table = tname, columns = cols, referred_table = rt,
                                                referred_columns = rc})
      return "foreign", c
    end
  end

  local function index_model(opname, name, tname, columns, o)
    local cols, plain = {}, {}
    for i, e in ipairs(as_list(columns)) do
      if common.is_raw(e) then cols[i] = {expr = e.sql} else cols[i] = e; plain[#plain + 1] = e end
    end
    if name == nil then
      if #plain ~= #cols then raise(opname .. ": an index on an expression needs a name") end
      name = name_for(opname, "ix", {table = tname, columns = plain})
    end
    local using = o.using
    if using and not using:match("^[%a_][%w_]*$") then
      raise(('%s: option "using" must be an index method name, got %q'):format(opname, using))
    end
    return {name = name, table = tname, unique = o.unique or false, columns = cols,
            where = sql_text(o.where), using = using, include = o.include and as_list(o.include)}
  end

  ---------------------------------------------------------------------------
  -- Changes to one table: what add_column, alter_column, the constraint
  -- operations and batch_alter_table have in common. Each builder checks
  -- its arguments and returns a change; apply_changes runs a list of them.

  local build = {}

  function build.add_column(opname, tname, pos, spec, opts)
    local col, extra = column_from_spec(opname, tname, spec, pos.column)
    local o = check_options(opname, opts, SPEC.add_column, ALIASES, pos.options)
    local ch = {kind = "add_column", column = col, extra = extra, opts = o}
    if extra.primary_key then
      extra.pk = {name = name_for(opname, "pk", {table = tname, columns = {col.name}}), columns = {col.name}}
    end
    if extra.index then
      ch.index = index_model(opname, nil, tname, {col.name}, {})
    end
    return ch
  end

  function build.drop_column(opname, tname, pos, name, opts)
    check_arg(opname, pos.column, "column", name, "name")
    return {kind = "drop_column", name = name, opts = check_options(opname, opts, SPEC.drop_column, ALIASES, pos.options)}
  end

  function build.alter_column(opname, tname, pos, name, changes)
    check_arg(opname, pos.column, "column", name, "name")
    local o = check_options(opname, changes, SPEC.alter_column, ALIASES, pos.changes, "changes")
    local ch = {kind = "alter_column", name = name, nullable = o.nullable, new_name = o.new_column_name,
                comment = o.comment, using = sql_text(o.using),
                insert_before = o.insert_before, insert_after = o.insert_after}
    if o.type_ then ch.type = check_type(opname, o.type_, name) end
    if o.server_default ~= nil then ch.default = default_sql(opname, o.server_default) end
    return ch
  end

  function build.create_index(opname, tname, pos, name, columns, opts)
    check_arg(opname, pos.name, "name", name, "optname")
    check_arg(opname, pos.columns, "columns", columns, "index_columns")
    local o = check_options(opname, opts, SPEC.create_index, ALIASES, pos.options)
    return {kind = "create_index", index = index_model(opname, name, tname, columns, o),
            opts = {concurrently = o.concurrently, if_not_exists = o.if_not_exists}}
  end

  function build.drop_index(opname, tname, pos, name, opts)
    check_arg(opname, pos.name, "name", name, "name")
    return {kind = "drop_index", name = name, opts = check_options(opname, opts, SPEC.drop_index, ALIASES, pos.options)}
  end

  function build.create_unique_constraint(opname, tname, pos, name, cols, opts)
    check_arg(opname, pos.name, "name", name, "optname")
    check_arg(opname, pos.columns, "columns", cols, "names")
    local o = check_options(opname, opts, SPEC.create_unique_constraint, ALIASES, pos.options)
    cols = as_list(cols)
    local c = {name = name or name_for(opname, "uq", {table = tname, columns = cols}), columns = cols,
               deferrable = o.deferrable or nil, initially = keyword(opname, "initially", o.initially, initially_names)}
    if c.initially == "IMMEDIATE" then c.initially = nil end
    return {kind = "add_constraint", ctype = "unique", constraint = c}
  end

  function build.create_primary_key(opname, tname, pos, name, cols)
    check_arg(opname, pos.name, "name", name, "optname")
    check_arg(opname, pos.columns, "columns", cols, "names")
    cols = as_list(cols)
    return {kind = "add_constraint", ctype = "primary",
            constraint = {name = name or name_for(opname, "pk", {table = tname, columns = cols}), columns = cols}}
  end

  function build.create_foreign_key(opname, tname, pos, name, referent, local_cols, remote_cols, opts)
    check_arg(opname, pos.name, "name", name, "optname")
    check_arg(opname, pos.referent, "referent", referent, "name")
    check_arg(opname, pos.local_cols, "local_cols", local_cols, "names")
    check_arg(opname, pos.remote_cols, "remote_cols", remote_cols, "names")
    local o = check_options(opname, opts, SPEC.create_foreign_key, ALIASES, pos.options)
    local lc, rc = as_list(local_cols), as_list(remote_cols)
    if #lc ~= #rc then raise(("%s: %d local column(s) but %d remote"):format(opname, #lc, #rc)) end
    local c = fk_from_opts(opname, {columns = lc, ref_table = referent, ref_columns = rc}, o)
    c.name = name or name_for(opname, "fk", {table = tname, columns = lc, referred_table = referent,
                                              referred_columns = rc})
    return {kind = "add_constraint", ctype = "foreign", constraint = c}
  end

  function build.create_check_constraint(opname, tname, pos, name, condition)
    check_arg(opname, pos.name, "name", name, "optname")
    check_arg(opname, pos.condition, "condition", condition, "sql")
    return {kind = "add_constraint", ctype = "check",
            constraint = {name = name or name_for(opname, "ck", {table = tname}), condition = sql_text(condition)}}
  end

  function build.drop_constraint(opname, tname, pos, name, opts)
    check_arg(opname, pos.name, "name", name, "name")
    local o = check_options(opname, opts, SPEC.drop_constraint, ALIASES, pos.options)
    local ctype
    if o.type_ then
      ctype = CONSTRAINT_TYPES[o.type_]
      if not ctype then
        raise(('%s: option "type_" must be one of check, foreignkey, primary, unique, got %q'):format(opname, o.type_))
      end
    end
    return {kind = "drop_constraint", name = name, ctype = ctype, opts = o}
  end

  -- PostgreSQL: every change is plain DDL.
  local function pg_apply(tname, ch)
    if ch.kind == "add_column" then
      run(d.add_column_sql(tname, ch.column, ch.opts))
      local e = ch.extra
      if e.pk then run(d.add_constraint_sql(tname, "primary", e.pk)) end
      if e.unique then run(d.add_constraint_sql(tname, "unique", e.unique)) end
      if e.foreign_key then run(d.add_constraint_sql(tname, "foreign", e.foreign_key)) end
      if e.check then run(d.add_constraint_sql(tname, "check", e.check)) end
      if ch.column.comment then run(d.comment_sql("COLUMN", tname, ch.column.name, ch.column.comment)) end
      if ch.index then run(d.create_index_sql(ch.index)) end
    elseif ch.kind == "drop_column" then
      run(d.drop_column_sql(tname, ch.name, ch.opts))
    elseif ch.kind == "alter_column" then
      run_all(d.alter_column_sql(tname, ch.name, ch))
    elseif ch.kind == "add_constraint" then
      run(d.add_constraint_sql(tname, ch.ctype, ch.constraint))
    elseif ch.kind == "drop_constraint" then
      run(d.drop_constraint_sql(tname, ch.name, ch.opts))
    elseif ch.kind == "create_index" then
      run(d.create_index_sql(ch.index, ch.opts))
    elseif ch.kind == "drop_index" then
      run(d.drop_index_sql(ch.name, ch.opts))
    end
  end

  -- SQLite: can ALTER TABLE do this change alone?
  local function sqlite_native(ch)
    if ch.kind == "add_column" then
      local e = ch.extra
      return not e.pk and not e.unique and (ch.column.nullable or ch.column.default ~= nil)
        and d.add_column_default_ok(ch.column.default) and not ch.opts.insert_before
        and not ch.opts.insert_after
    elseif ch.kind == "alter_column" then
      return ch.nullable == nil and ch.type == nil and ch.default == nil
        and not ch.insert_before and not ch.insert_after
    end
    return ch.kind == "create_index" or ch.kind == "drop_index"
  end

  local function sqlite_columns(tname)
    local cols = {}
    for _, r in ipairs(conn:query("SELECT name FROM pragma_table_info($1)", {tname})) do cols[r.name] = true end
    return cols
  end

  -- After a column rename, make a change waiting for the rebuild refer to the new name.
  local function rename_refs(ch, old, new)
    local function list(l)
      if not l then return end
      for i, c in ipairs(l) do if c == old then l[i] = new end end
    end
    if (ch.kind == "alter_column" or ch.kind == "drop_column") and ch.name == old then ch.name = new end
    for _, holder in ipairs({ch, ch.opts or {}}) do
      if holder.insert_before == old then holder.insert_before = new end
      if holder.insert_after == old then holder.insert_after = new end
    end
    if ch.constraint then list(ch.constraint.columns) end
    if ch.index then list(ch.index.columns) end
  end

  -- SQLite: the changes in the order written, as on PostgreSQL. Renames,
  -- index changes and plain ALTERs run as they come; the others gather
  -- into one move-and-copy rebuild, run before the next change that must
  -- see its result (so that add_column x, then renaming x, works).
  local function sqlite_apply(opname, tname, changes, recreate)
    local needs_rebuild = recreate == "always"
    for _, ch in ipairs(changes) do
      if not sqlite_native(ch) then needs_rebuild = true end
      if ch.kind == "add_column" and ch.opts.if_not_exists or ch.kind == "drop_column" and ch.opts.if_exists then
        if not conn then raise(opname .. ": if_exists/if_not_exists on SQLite cannot be decided in --sql (offline) mode") end
      end
    end
    if needs_rebuild and recreate == "never" then
      raise(('%s: SQLite cannot do this with ALTER TABLE, and recreate = "never" forbids a rebuild of "%s"'):format(opname, tname))
    end
    local model = known and known[tname]
    local rctx = {conn = conn, d = d, log = log, raise = raise, opname = opname}
    -- pending: changes for the next rebuild; after: {index, opts} to create
    -- right after it (create_index written after pending changes); column_indexes:
    -- the indexes of columns it adds
    local pending, after, column_indexes, rebuilt = {}, {}, {}, false

    local function flush(force)
      if #pending == 0 and not force then return end
      if not conn then
        local only_drops = true
        for _, ch in ipairs(pending) do if ch.kind ~= "drop_column" then only_drops = false end end
        if model then
          -- a table this run made: rebuild it from its model, unless raw SQL touched it
          check_raw(opname, tname)
          rctx.taken = offline_taken
          local stmts
          stmts, model = rebuild.offline(rctx, model, pending)
          known[tname] = model
          run_all(stmts)
        elseif only_drops and recreate ~= "always" then
          -- offline: SQLite 3.35's own DROP COLUMN (it refuses indexed or constrained columns)
          for _, ch in ipairs(pending) do run(d.drop_column_sql(tname, ch.name)) end
        else
          raise(('%s: on SQLite this rebuilds table "%s" from its live definition, '
            .. "which --sql (offline) mode cannot read (batch_alter_table's copy_from can give it)"):format(opname, tname))
        end
      else
        rebuild.run(rctx, tname, pending)
      end
      pending, rebuilt = {}, true
      for _, list in ipairs({after, column_indexes}) do
        for _, ixo in ipairs(list) do
          run(d.create_index_sql(ixo[1], ixo[2]))
          remember_index(ixo[1])
        end
      end
      after, column_indexes = {}, {}
    end

    -- A rename while changes wait for the rebuild: renaming first and
    -- making the waiting changes say the new name is the same, and keeps
    -- one rebuild, unless a waiting change adds, drops or reads either name.
    -- A column the waiting changes add is renamed before it is made.
    local function rename(old, new)
      local added, conflict = nil, #after > 0
      for _, ch in ipairs(pending) do
        if ch.kind == "add_column" then
          if ch.column.name == old and not added then added = ch
          elseif ch.column.name == old or ch.column.name == new then conflict = true end
        elseif ch.kind == "drop_column" and (ch.name == old or ch.name == new) then
          conflict = true
        elseif ch.kind == "add_constraint" and ch.ctype == "check" then
          for _, t in ipairs(sqltext.tokens(ch.constraint.condition)) do
            if (t.k == "word" or t.k == "ident") and (t.v == old or t.v == new) then conflict = true end
          end
        end
      end
      if conflict then flush() end
      if added and not conflict then
        added.column.name = new
        local e = added.extra
        for _, c in ipairs({e.pk or {}, e.unique or {}, e.foreign_key or {}, added.index or {}}) do
          for i, cn in ipairs(c.columns or {}) do if cn == old then c.columns[i] = new end end
        end
      else
        run(d.rename_column_sql(tname, old, new))
        if model then rebuild.rename_column(model, old, new) end
      end
      for _, ch in ipairs(pending) do rename_refs(ch, old, new) end
    end

    for _, ch in ipairs(changes) do
      if #after > 0 and not (ch.kind == "create_index" or ch.kind == "alter_column" and not ch.new_name
                             and ch.nullable == nil and ch.type == nil and ch.default == nil
                             and not ch.insert_before and not ch.insert_after) then
        flush()                       -- an index waiting for the rebuild must exist before what follows
      end
      if conn and ch.opts and (ch.kind == "add_column" and ch.opts.if_not_exists
                               or ch.kind == "drop_column" and ch.opts.if_exists) then
        flush()
        local existing = sqlite_columns(tname)
        if ch.kind == "add_column" and existing[ch.column.name] or ch.kind == "drop_column" and not existing[ch.name] then
          goto next_change
        end
      end
      if ch.kind == "drop_index" then
        flush()
        run(d.drop_index_sql(ch.name, ch.opts))
        forget_index(tname, ch.name)
      elseif ch.kind == "create_index" then
        if #pending > 0 then
          after[#after + 1] = {ch.index, ch.opts}     -- created right after the rebuild
        else
          run(d.create_index_sql(ch.index, ch.opts))
          remember_index(ch.index)
        end
      elseif ch.kind == "alter_column" then
        if ch.comment ~= nil then log("info", ("%s: SQLite has no column comments; comment ignored"):format(opname)) end
        if ch.nullable ~= nil or ch.type or ch.default ~= nil or ch.insert_before or ch.insert_after then
          pending[#pending + 1] = ch
        end
        if ch.new_name then rename(ch.name, ch.new_name) end
      elseif ch.kind == "add_column" then
        if needs_rebuild then
          pending[#pending + 1] = ch
          if ch.index then column_indexes[#column_indexes + 1] = {ch.index} end
        else
          local e = ch.extra
          run(d.add_column_sql(tname, ch.column, e.foreign_key, e.check))
          if model then model = rebuild.apply(rctx, model, {ch}); known[tname] = model end
          if ch.index then
            run(d.create_index_sql(ch.index))
            remember_index(ch.index)
          end
        end
      elseif ch.kind == "drop_column" or ch.kind == "add_constraint" or ch.kind == "drop_constraint" then
        pending[#pending + 1] = ch
      end
      ::next_change::
    end
    flush(recreate == "always" and not rebuilt)
  end

  -- Offline on PostgreSQL: keep the run's model of the table up to date
  -- (bulk_insert reads its columns); a model that cannot follow is dropped.
  local function pg_track(opname, tname, ch)
    local model = known and known[tname]
    if not model then return end
    local ok = pcall(function()
      local rctx = {d = d, raise = function(m) error(m, 0) end, opname = opname}
      if ch.kind == "create_index" then remember_index(ch.index)
      elseif ch.kind == "drop_index" then forget_index(tname, ch.name)
      elseif ch.kind ~= "alter_column" or ch.nullable ~= nil or ch.type or ch.default ~= nil then
        model = rebuild.apply(rctx, model, {ch})
      end
      if ch.kind == "alter_column" and ch.new_name then rebuild.rename_column(model, ch.name, ch.new_name) end
      known[tname] = model
      if ch.kind == "add_column" and ch.index then remember_index(ch.index) end
    end)
    if not ok then known[tname] = nil end
  end

  local function apply_changes(opname, tname, changes, recreate)
    if sqlite then return sqlite_apply(opname, tname, changes, recreate or "auto") end
    for _, ch in ipairs(changes) do
      pg_apply(tname, ch)
      pg_track(opname, tname, ch)
    end
  end

  ---------------------------------------------------------------------------
  -- The operations

  function op.create_table(name, items, opts)
    local opname = "create_table"
    check_arg(opname, 1, "name", name, "name")
    check_arg(opname, 2, "columns", items, "table")
    local o = check_options(opname, opts, SPEC.create_table, ALIASES, 3)
    if o.if_not_exists and conn and introspect.table(conn, name) then
      log("info", ('create_table: table "%s" exists already; left as it is'):format(name))
      return introspect.table(conn, name)
    end
    local t = {name = name, columns = {}, uniques = {}, foreign_keys = {}, checks = {}, indexes = {},
               comment = o.comment}
    local pk_cols, pk_name, autoinc = {}, nil, {}
    local seen = {}
    for i, entry in ipairs(items) do
      if type(entry) ~= "table" then
        raise(("%s: argument 2, entry %d: expected a column or constraint table, got %s"):format(opname, i, describe(entry)))
      end
      if type(entry[1]) == "string" then
        local col, extra = column_from_spec(opname, name, entry, 2)
        if seen[col.name] then raise(('%s: column "%s" appears twice'):format(opname, col.name)) end
        seen[col.name] = true
        t.columns[#t.columns + 1] = col
        if extra.primary_key then pk_cols[#pk_cols + 1] = col.name end
        autoinc[col] = extra.autoincrement
        if extra.unique then t.uniques[#t.uniques + 1] = extra.unique end
        if extra.foreign_key then t.foreign_keys[#t.foreign_keys + 1] = extra.foreign_key end
        if extra.check then t.checks[#t.checks + 1] = extra.check end
        if extra.index then t.indexes[#t.indexes + 1] = index_model(opname, nil, name, {col.name}, {}) end
      else
        local kind, c = table_constraint(opname, name, entry, 2)
        if kind == "primary" then
          if #pk_cols > 0 or pk_name then raise(opname .. ": more than one primary key") end
          pk_cols, pk_name = c.columns, c.name
        elseif kind == "unique" then t.uniques[#t.uniques + 1] = c
        elseif kind == "foreign" then t.foreign_keys[#t.foreign_keys + 1] = c
        else t.checks[#t.checks + 1] = c end
      end
    end
    if #t.columns == 0 then raise(opname .. ": a table needs at least one column") end
    if #pk_cols > 0 then
      t.primary_key = {name = pk_name or name_for(opname, "pk", {table = name, columns = pk_cols}), columns = pk_cols}
      for _, col in ipairs(t.columns) do
        for _, pc in ipairs(pk_cols) do
          if pc == col.name then col.nullable = false end
        end
      end
      if #pk_cols == 1 then
        for _, col in ipairs(t.columns) do
          if col.name == pk_cols[1] and autoinc_types[col.type] and autoinc[col] ~= false then
            col.autoincrement = true
          end
        end
      end
    end
    for _, col in ipairs(t.columns) do
      if autoinc[col] == true and not col.autoincrement and not sqlite and autoinc_types[col.type] then
        col.autoincrement = true
      end
    end
    local names = {}
    for _, c in ipairs(t.columns) do names[c.name] = true end
    local function check_cols(list, what)
      for _, cn in ipairs(list) do
        if not names[cn] then raise(('%s: %s names column "%s", which the table does not have'):format(opname, what, cn)) end
      end
    end
    if t.primary_key then check_cols(t.primary_key.columns, "the primary key") end
    for _, u in ipairs(t.uniques) do check_cols(u.columns, "unique constraint " .. u.name) end
    for _, f in ipairs(t.foreign_keys) do check_cols(f.columns, "foreign key " .. f.name) end
    if sqlite and (t.comment or false) then log("info", "create_table: SQLite has no comments; comment ignored") end
    run_all(d.create_table(t, o))
    if known and not (o.if_not_exists and known[name]) then known[name] = rebuild.copy(t) end
    return t
  end

  function op.drop_table(name, opts)
    check_arg("drop_table", 1, "name", name, "name")
    local o = check_options("drop_table", opts, SPEC.drop_table, ALIASES, 2)
    run(d.drop_table_sql(name, o))
    if known then known[name] = nil end
  end

  function op.rename_table(old, new)
    check_arg("rename_table", 1, "old", old, "name")
    check_arg("rename_table", 2, "new", new, "name")
    run(d.rename_table_sql(old, new))
    if known then
      local t = known[old]
      known[old] = nil
      raw_seen.names[new:lower()] = raw_seen.names[new:lower()] or raw_seen.names[old:lower()]
      if t then
        t.name = new
        for _, ix in ipairs(t.indexes or {}) do ix.table = new end
        known[new] = t
      end
      for _, other in pairs(known) do                 -- references follow, as SQLite's rename does
        for _, fk in ipairs(other.foreign_keys or {}) do
          if fk.ref_table == old then fk.ref_table = new end
        end
      end
    end
  end

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
    create_check_constraint = {name = 1, table = 2, condition = 3},
    drop_constraint = {name = 1, table = 2, options = 3},
  }
  local BATCH_POS = {}
  for opname, pos in pairs(POS) do
    local b = {}
    for k, v in pairs(pos) do if k ~= "table" then b[k] = v > pos.table and v - 1 or v end end
    BATCH_POS[opname] = b
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
      local ch = build[opname](opname, tname, pos, table.unpack(rest, 1, 5))
      if ch.kind == "create_index" then
        run(d.create_index_sql(ch.index, ch.opts))
        remember_index(ch.index)
      elseif ch.kind == "drop_index" then
        run(d.drop_index_sql(ch.name, ch.opts))
        forget_index(tname, ch.name)
      else
        apply_changes(opname, tname, {ch})
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
      if known then
        t = rebuild.copy(t)
        t.name = tname
        for _, field in ipairs({"uniques", "foreign_keys", "checks", "indexes"}) do t[field] = t[field] or {} end
        for _, ix in ipairs(t.indexes) do ix.table = tname end
        known[tname] = t
      end
    end
    local changes = {}
    local batch = {dialect = dialect_name, x = op.x, raw = op.raw, NULL = op.NULL, f = op.f,
                   binary = op.binary}
    for name in pairs(POS) do
      batch[name] = function(...)
        changes[#changes + 1] = build[name]("batch." .. name, tname, BATCH_POS[name], ...)
      end
    end
    fn(batch)
    apply_changes(opname, tname, changes, recreate)
  end

  -- Table comments (PostgreSQL; SQLite has none and ignores them).
  function op.create_table_comment(tname, comment, opts)
    check_arg("create_table_comment", 1, "table", tname, "name")
    check_arg("create_table_comment", 2, "comment", comment, "string")
    check_options("create_table_comment", opts, {existing_comment = "any"}, nil, 3)
    if sqlite then return log("info", "create_table_comment: SQLite has no comments; ignored") end
    run(d.comment_sql("TABLE", tname, nil, comment))
    if known and known[tname] then known[tname].comment = comment end
  end

  function op.drop_table_comment(tname, opts)
    check_arg("drop_table_comment", 1, "table", tname, "name")
    check_options("drop_table_comment", opts, {existing_comment = "any"}, nil, 2)
    if sqlite then return log("info", "drop_table_comment: SQLite has no comments; ignored") end
    run(d.comment_sql("TABLE", tname, nil, nil))
    if known and known[tname] then known[tname].comment = nil end
  end

  -- The live connection (Alembic's get_bind), for what the op API does not cover.
  function op.get_bind()
    if not conn then raise("get_bind: there is no connection in --sql (offline) mode") end
    return conn
  end

  function op.execute(sql, params)
    check_arg("execute", 1, "sql", sql, "sql")
    if params ~= nil then check_arg("execute", 2, "params", params, "table") end
    local text = sql_text(sql)
    run(text, params)
    if raw_seen and sqlite then note_raw(text) end
  end

  function op.query(sql, params)
    check_arg("query", 1, "sql", sql, "sql")
    if params ~= nil then check_arg("query", 2, "params", params, "table") end
    if not conn then raise("query: needs a live database; it cannot run in --sql (offline) mode") end
    return conn:query(sql_text(sql), params)
  end

  -- A value rendered inline in SQL (Alembic's inline_literal), for UPDATEs
  -- that must also work offline.
  function op.inline_literal(v)
    local ok, s = pcall(d.literal, v)
    if not ok then raise("inline_literal: " .. s) end
    return common.raw(s)
  end

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
      t.columns[i] = {name = c[1], type = check_type("table", c[2], c[1])}
    end
    return t
  end

  op.bulk_insert = require("luamig.op_bulk").make({
    conn = conn, d = d, emit = emit, known = known, raise = raise, check_arg = check_arg,
    check_options = function(opts, argn) return check_options("bulk_insert", opts, SPEC.bulk_insert, ALIASES, argn) end,
    progress = cfg.progress, register = register, log = log,
  })

  -- A name op does not have is an error at the script's line that names
  -- the closest op function, not Lua's "attempt to call a nil value (field
  -- 'add_colum')". tag (--tag) is nil when no tag was given.
  op.tag = cfg.tag
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
