-- bench/realhist/gen.lua -- one history shaped like a real project's,
-- written twice: as a luamig project and as an Alembic project, with the
-- same revision ids, parents, messages and operations.
--
--   lua5.4 bench/realhist/gen.lua N DIR [SEED]
--
-- N revisions (300 for the benchmark; at least 30), drawn from a seeded
-- generator (SEED, default 19), so one N and SEED always give the same
-- history. What a history of a web application's database looks like:
--   - tables created over time (id primary key, a few typed columns, some
--     with foreign keys to earlier tables), a few dropped again;
--   - columns added (most revisions), altered (widened, made NOT NULL after
--     an UPDATE filling the NULLs, renamed), dropped (an index on them
--     first);
--   - indexes, a fifth of them unique; unique constraints; foreign keys
--     added to existing tables;
--   - three PostgreSQL enum types (sa.Enum / op.enum), made by the first
--     table that uses them, reused by later columns, one gaining a value;
--   - four branches that merge again: at a fork two lines of revisions,
--     each working on tables of its own, then a merge revision with both
--     heads as its down_revision (a tuple), no operations, as `luamig
--     merge` and `alembic merge` write; in the first fork one revision
--     depends_on the other line's first revision (it adds a foreign key to
--     that line's table).
-- Changes that SQLite's ALTER TABLE cannot make (alter, drop column,
-- foreign keys and unique constraints on an existing table) are written in
-- batch_alter_table on both sides, as an Alembic project that supports
-- SQLite writes them (render_as_batch); on PostgreSQL both tools then emit
-- plain ALTERs. The whole upgrade runs in one transaction on both (Alembic's
-- default; luamig's transaction_per_migration = false).
--
-- DIR/luamig/    luamig.lua, luamig-nolint.lua, migrations/versions/<rev>_<slug>.lua
-- DIR/alembic/   alembic.ini, env.py, script.py.mako, versions/<rev>_<slug>.py
-- DIR/expected-sqlite.txt, DIR/expected-postgresql.txt
--                the schema the history leaves, in bench/realhist/schema.lua's
--                form (tables, columns with type and nullability, primary
--                keys, unique constraints, indexes, foreign keys, enum types
--                on PostgreSQL, the version row)
-- DIR/head       the head revision's id
-- DIR/summary    what the history holds, one "what count" per line

local n, dir, seed = tonumber(arg[1]), arg[2], tonumber(arg[3] or "19")
if not (n and dir and seed) or n < 30 or n ~= math.floor(n) then
  io.stderr:write("usage: lua5.4 bench/realhist/gen.lua N DIR [SEED]   (N a whole number >= 30)\n")
  os.exit(2)
end

-- A seeded linear congruential generator of our own: the same history from
-- any Lua build.
local state = seed * 2654435761 % 4294967296
local function rand(a, b)   -- a whole number in a..b
  state = (state * 1103515245 + 12345) % 2147483648
  return a + (state >> 8) % (b - a + 1)
end
local function chance(p) return rand(1, 1000) <= p * 1000 end
local function pick(list) return list[rand(1, #list)] end

local function rev(i) return ("%012x"):format(0x1e5a0000000 + i * 7919 * 13) end

-- ---- the names -------------------------------------------------------------
local TABLE_WORDS = {"users", "accounts", "orders", "invoices", "products", "categories",
  "payments", "shipments", "addresses", "sessions", "events", "tags", "comments", "reviews",
  "coupons", "teams", "projects", "tasks", "notes", "attachments", "messages", "channels",
  "subscriptions", "plans", "webhooks", "api_keys", "audit_logs", "carts", "cart_items",
  "order_items", "warehouses", "stock_levels", "suppliers", "refunds", "discounts", "regions",
  "currencies", "tax_rates", "notifications", "devices", "settings", "reports", "exports",
  "imports", "labels", "milestones", "sprints", "releases", "deployments", "incidents"}
local COLUMN_WORDS = {"email", "name", "title", "slug", "code", "phone", "city", "country",
  "zip", "note", "rating", "position", "score", "kind", "priority", "due_at", "paid_at",
  "total", "currency", "locale", "timezone", "archived", "active", "amount", "price",
  "quantity", "description", "summary", "body", "url", "version", "weight", "width",
  "height", "color", "source", "external_ref", "started_at", "ended_at", "expires_at",
  "token", "label", "reason", "channel", "level", "balance", "discount", "vat", "sku", "path"}
-- type keys: what each is on each side
local TYPES = {
  int   = {lua = '"integer"', py = "sa.Integer()", pg = "integer", sqlite = "INTEGER", fill = "0"},
  big   = {lua = '"bigint"', py = "sa.BigInteger()", pg = "bigint", sqlite = "BIGINT", fill = "0"},
  s50   = {lua = '"string(50)"', py = "sa.String(length=50)", pg = "character varying(50)",
           sqlite = "VARCHAR(50)", fill = "''"},
  s120  = {lua = '"string(120)"', py = "sa.String(length=120)", pg = "character varying(120)",
           sqlite = "VARCHAR(120)", fill = "''"},
  text  = {lua = '"text"', py = "sa.Text()", pg = "text", sqlite = "TEXT", fill = "''"},
  bool  = {lua = '"boolean"', py = "sa.Boolean()", pg = "boolean", sqlite = "BOOLEAN", fill = "FALSE"},
  ts    = {lua = '"timestamp"', py = "sa.DateTime()", pg = "timestamp without time zone",
           sqlite = "TIMESTAMP", fill = "CURRENT_TIMESTAMP"},
  num   = {lua = '"numeric(10,2)"', py = "sa.Numeric(precision=10, scale=2)", pg = "numeric(10,2)",
           sqlite = "NUMERIC(10,2)", fill = "0"},
  float = {lua = '"float"', py = "sa.Float()", pg = "double precision", sqlite = "FLOAT", fill = "0"},
  date  = {lua = '"date"', py = "sa.Date()", pg = "date", sqlite = "DATE", fill = "CURRENT_DATE"},
}
local TYPE_KEYS = {"int", "int", "s50", "s50", "s50", "s120", "text", "bool", "ts", "ts", "num",
  "float", "date", "big"}
local ENUMS = {
  {name = "order_status", values = {"pending", "paid", "shipped", "cancelled"}, extra = "refunded"},
  {name = "user_role", values = {"admin", "member", "guest"}, extra = "owner"},
  {name = "priority_level", values = {"low", "medium", "high"}, extra = "urgent"},
}

-- ---- the schema as the history builds it ------------------------------------
-- tables[name] = {name, cols = {list of col}, indexes = {name -> {cols, unique}},
--   uniques = {list of col lists}, fks = {list of {cols, ref}}, owner, referenced}
-- col = {name, type (key), nullable, enum (ENUMS entry), enum_values, fk, indexed}
local tables, table_order = {}, {}
local used_table_words = {}
local enum_made = {}          -- enum name -> true once its type exists
local enum_values = {}        -- enum name -> current value list (PostgreSQL)
local counts = setmetatable({}, {__index = function() return 0 end})

local function new_table_name()
  for _ = 1, 200 do
    local w = pick(TABLE_WORDS)
    if not used_table_words[w] then used_table_words[w] = 1; return w end
  end
  -- all taken: a numbered one
  local w = pick(TABLE_WORDS)
  used_table_words[w] = used_table_words[w] + 1
  return w .. "_" .. used_table_words[w]
end

local function has_col(t, name)
  for _, c in ipairs(t.cols) do if c.name == name then return c end end
end

local function new_col_name(t)
  for _ = 1, 100 do
    local w = pick(COLUMN_WORDS)
    if not has_col(t, w) then return w end
  end
  local i = #t.cols
  while has_col(t, "extra_" .. i) do i = i + 1 end
  return "extra_" .. i
end

-- a list of tables that a revision of `owner` (a branch id, or nil for the
-- main line) may change
local function changeable(owner, pred)
  local out = {}
  for _, name in ipairs(table_order) do
    local t = tables[name]
    if t and t.owner == owner and (not pred or pred(t)) then out[#out + 1] = t end
  end
  return out
end

-- tables a foreign key may point at: any live table not on an open branch,
-- or on the same branch (or one the revision depends on)
local function referable(owner, also)
  local out = {}
  for _, name in ipairs(table_order) do
    local t = tables[name]
    if t and (t.owner == nil or t.owner == owner or (also and t.owner == also)) then out[#out + 1] = t end
  end
  return out
end

-- ---- rendering a column on each side ---------------------------------------
local function q(s) return '"' .. s .. '"' end
local function pq(s) return "'" .. s .. "'" end

local function lua_list(xs) local o = {} for i, x in ipairs(xs) do o[i] = q(x) end return "{" .. table.concat(o, ", ") .. "}" end
local function py_list(xs) local o = {} for i, x in ipairs(xs) do o[i] = pq(x) end return "[" .. table.concat(o, ", ") .. "]" end
local function py_args(xs) local o = {} for i, x in ipairs(xs) do o[i] = pq(x) end return table.concat(o, ", ") end

-- the column's type, making the enum's type the first time it is used
local function lua_type(c)
  if c.enum then return ("op.enum(%s, {name = %s})"):format(lua_list(c.enum_values), q(c.enum.name)) end
  return TYPES[c.type].lua
end
local function py_type(c, first_use)
  if c.enum then
    if first_use then
      return ("sa.Enum(%s, name=%s, create_constraint=True)"):format(py_args(c.enum_values), pq(c.enum.name))
    end
    return ("postgresql.ENUM(%s, name=%s, create_type=False, create_constraint=True)"):format(
      py_args(c.enum_values), pq(c.enum.name))
  end
  return TYPES[c.type].py
end

local function lua_col(c)
  local s = ("{%s, %s"):format(q(c.name), lua_type(c))
  if c.pk then s = s .. ", primary_key = true" end
  if not c.nullable and not c.pk then s = s .. ", nullable = false" end
  return s .. "}"
end
local function py_col(c, first_use)
  return ("sa.Column(%s, %s, nullable=%s)"):format(pq(c.name), py_type(c, first_use),
    c.nullable and "True" or "False")
end

local function make_col(t, name, type_key, nullable)
  return {name = name, type = type_key, nullable = nullable, table = t.name}
end

-- a column of an enum, when one fits; marks the enum made
local function maybe_enum(t, c, on_main)
  if not chance(0.06) then return end
  for _ = 1, 3 do
    local e = pick(ENUMS)
    -- an enum is made on the main line only; a branch uses a made one
    local ok = on_main or enum_made[e.name]
    for _, other in ipairs(t.cols) do if other.enum == e then ok = false end end
    if ok then
      c.enum = e
      c.enum_values = {table.unpack(enum_values[e.name] or e.values)}
      c.type = "enum"
      c.name = ({order_status = "status", user_role = "role", priority_level = "priority"})[e.name]
      if has_col(t, c.name) then c.name = c.name .. "_" .. #t.cols end
      return
    end
  end
end

-- ---- revisions -------------------------------------------------------------
local revs = {}   -- {id, parents, depends, message, lua = {lines}, py = {lines}, lua_down, py_down}

local function add_rev(r)
  r.id = rev(#revs + 1)
  revs[#revs + 1] = r
  counts.revisions = counts.revisions + 1
  return r
end

-- Each generator below fills r.lua / r.py (the bodies of upgrade) and
-- r.lua_down / r.py_down, and updates the schema. `owner`: the branch.

local function gen_create_table(r, owner, dep_owner)
  local t = {name = new_table_name(), cols = {}, indexes = {}, uniques = {}, fks = {}, owner = owner}
  local pk = make_col(t, "id", "int", false)
  pk.pk = true
  t.cols[1] = pk
  local lua_cols, py_cols = {"    " .. lua_col(pk) .. ","}, {"        " .. py_col(pk) .. ","}
  local py_cons = {}
  local lua_cons = {}
  local first_enum = {}
  -- a foreign key or two to earlier tables
  local refs = referable(owner, dep_owner)
  local nfk = #refs > 0 and rand(0, math.min(2, #refs)) or 0
  for _ = 1, nfk do
    local ref = pick(refs)
    local cname = (ref.name:gsub("s$", "")) .. "_id"
    if not has_col(t, cname) then
      local c = make_col(t, cname, "int", chance(0.5))
      c.fk = ref.name
      t.cols[#t.cols + 1] = c
      lua_cols[#lua_cols + 1] = "    " .. lua_col(c) .. ","
      py_cols[#py_cols + 1] = "        " .. py_col(c) .. ","
      local fkname = ("fk_%s_%s_%s"):format(t.name, cname, ref.name)
      t.fks[#t.fks + 1] = {name = fkname, cols = {cname}, ref = ref.name}
      ref.referenced = (ref.referenced or 0) + 1
      lua_cons[#lua_cons + 1] = ('    {foreign_key = {%s}, references = {%s, {"id"}}, name = %s},'):format(
        q(cname), q(ref.name), q(fkname))
      py_cons[#py_cons + 1] = ("        sa.ForeignKeyConstraint([%s], ['%s.id'], name=%s),"):format(
        pq(cname), ref.name, pq(fkname))
      counts.foreign_keys = counts.foreign_keys + 1
    end
  end
  for _ = 1, rand(2, 6) do
    local c = make_col(t, new_col_name(t), pick(TYPE_KEYS), chance(0.6))
    maybe_enum(t, c, owner == nil)
    if c.enum and not has_col(t, c.name) then
      if not enum_made[c.enum.name] then
        first_enum[c] = true
        enum_made[c.enum.name] = true
        enum_values[c.enum.name] = {table.unpack(c.enum.values)}
        counts.enum_types = counts.enum_types + 1
      end
      counts.enum_columns = counts.enum_columns + 1
    elseif c.enum then
      c = nil
    end
    if c then
      t.cols[#t.cols + 1] = c
      lua_cols[#lua_cols + 1] = "    " .. lua_col(c) .. ","
      py_cols[#py_cols + 1] = "        " .. py_col(c, first_enum[c]) .. ","
    end
  end
  -- created_at / updated_at, as most tables have
  for _, cn in ipairs{"created_at", "updated_at"} do
    if chance(0.7) then
      local c = make_col(t, cn, "ts", cn == "updated_at")
      t.cols[#t.cols + 1] = c
      lua_cols[#lua_cols + 1] = "    " .. lua_col(c) .. ","
      py_cols[#py_cols + 1] = "        " .. py_col(c) .. ","
    end
  end
  py_cons[#py_cons + 1] = ("        sa.PrimaryKeyConstraint('id', name=%s),"):format(pq("pk_" .. t.name))
  r.message = "create table " .. t.name
  r.lua = {("  op.create_table(%s, {"):format(q(t.name))}
  for _, l in ipairs(lua_cols) do r.lua[#r.lua + 1] = l end
  for _, l in ipairs(lua_cons) do r.lua[#r.lua + 1] = l end
  r.lua[#r.lua + 1] = "  })"
  r.py = {("    op.create_table(%s,"):format(pq(t.name))}
  for _, l in ipairs(py_cols) do r.py[#r.py + 1] = l end
  for _, l in ipairs(py_cons) do r.py[#r.py + 1] = l end
  r.py[#r.py + 1] = "    )"
  -- index on each foreign key column, as autogenerate users add
  for _, fk in ipairs(t.fks) do
    local ixname = ("ix_%s_%s"):format(t.name, fk.cols[1])
    t.indexes[ixname] = {cols = {fk.cols[1]}, unique = false}
    has_col(t, fk.cols[1]).indexed = true
    r.lua[#r.lua + 1] = ("  op.create_index(%s, %s, %s)"):format(q(ixname), q(t.name), lua_list(fk.cols))
    r.py[#r.py + 1] = ("    op.create_index(op.f(%s), %s, %s, unique=False)"):format(pq(ixname), pq(t.name), py_list(fk.cols))
    counts.indexes = counts.indexes + 1
  end
  r.lua_down = {("  op.drop_table(%s)"):format(q(t.name))}
  r.py_down = {("    op.drop_table(%s)"):format(pq(t.name))}
  tables[t.name] = t
  table_order[#table_order + 1] = t.name
  counts.tables_created = counts.tables_created + 1
  return t
end

local function gen_add_column(r, t, on_main)
  local c = make_col(t, new_col_name(t), pick(TYPE_KEYS), true)
  maybe_enum(t, c, false)   -- add_column reuses a made enum only
  if c.enum and (not enum_made[c.enum.name] or has_col(t, c.name)) then
    c = make_col(t, new_col_name(t), pick(TYPE_KEYS), true)
  end
  if c.enum then counts.enum_columns = counts.enum_columns + 1 end
  t.cols[#t.cols + 1] = c
  r.message = ("add %s.%s"):format(t.name, c.name)
  r.lua = {("  op.add_column(%s, %s)"):format(q(t.name), lua_col(c))}
  r.py = {("    op.add_column(%s, %s)"):format(pq(t.name), py_col(c, false))}
  r.lua_down = {("  op.batch_alter_table(%s, function(batch) batch.drop_column(%s) end)"):format(q(t.name), q(c.name))}
  r.py_down = {("    with op.batch_alter_table(%s) as batch_op:"):format(pq(t.name)),
               ("        batch_op.drop_column(%s)"):format(pq(c.name))}
  counts.columns_added = counts.columns_added + 1
  -- sometimes indexed in the same revision
  if chance(0.25) and not c.enum and c.type ~= "text" then
    local unique = chance(0.2)
    local ixname = ("ix_%s_%s"):format(t.name, c.name)
    t.indexes[ixname] = {cols = {c.name}, unique = unique}
    c.indexed = true
    r.lua[#r.lua + 1] = ("  op.create_index(%s, %s, {%s}%s)"):format(q(ixname), q(t.name), q(c.name),
      unique and ", {unique = true}" or "")
    r.py[#r.py + 1] = ("    op.create_index(op.f(%s), %s, [%s], unique=%s)"):format(pq(ixname), pq(t.name),
      pq(c.name), unique and "True" or "False")
    counts.indexes = counts.indexes + 1
    if unique then counts.unique_indexes = counts.unique_indexes + 1 end
  end
end

local function plain_cols(t, pred)
  local out = {}
  for _, c in ipairs(t.cols) do
    if not c.pk and not c.fk and not c.indexed and not c.unique and not c.enum and (not pred or pred(c)) then
      out[#out + 1] = c
    end
  end
  return out
end

local function gen_create_index(r, t)
  local cands = {}
  for _, c in ipairs(t.cols) do
    if not c.pk and not c.indexed and c.type ~= "text" then cands[#cands + 1] = c end
  end
  if #cands == 0 then return false end
  local c = pick(cands)
  local cols = {c.name}
  if #cands > 1 and chance(0.3) then
    local d = pick(cands)
    if d ~= c then cols[2] = d.name end
  end
  local unique = chance(0.2)
  local ixname = "ix_" .. t.name .. "_" .. table.concat(cols, "_")
  if t.indexes[ixname] then return false end
  t.indexes[ixname] = {cols = cols, unique = unique}
  for _, cn in ipairs(cols) do has_col(t, cn).indexed = true end
  r.message = ("index %s on %s"):format(table.concat(cols, ", "), t.name)
  r.lua = {("  op.create_index(%s, %s, %s%s)"):format(q(ixname), q(t.name), lua_list(cols),
    unique and ", {unique = true}" or "")}
  r.py = {("    op.create_index(op.f(%s), %s, %s, unique=%s)"):format(pq(ixname), pq(t.name), py_list(cols),
    unique and "True" or "False")}
  r.lua_down = {("  op.drop_index(%s, %s)"):format(q(ixname), q(t.name))}
  r.py_down = {("    op.drop_index(op.f(%s), table_name=%s)"):format(pq(ixname), pq(t.name))}
  counts.indexes = counts.indexes + 1
  if unique then counts.unique_indexes = counts.unique_indexes + 1 end
  return true
end

local function batch_open(r, t)
  r.lua[#r.lua + 1] = ("  op.batch_alter_table(%s, function(batch)"):format(q(t.name))
  r.py[#r.py + 1] = ("    with op.batch_alter_table(%s, schema=None) as batch_op:"):format(pq(t.name))
end
local function batch_close(r) r.lua[#r.lua + 1] = "  end)" end

local function gen_alter_column(r, t)
  local kind = pick{"widen", "notnull", "notnull", "rename", "nullable"}
  local cands
  if kind == "widen" then
    cands = plain_cols(t, function(c) return c.type == "s50" end)
  elseif kind == "notnull" then
    cands = plain_cols(t, function(c) return c.nullable end)
  elseif kind == "nullable" then
    cands = plain_cols(t, function(c) return not c.nullable end)
  else
    cands = plain_cols(t)
  end
  if #cands == 0 then return false end
  local c = pick(cands)
  local old_name = c.name
  local existing_lua, existing_py = TYPES[c.type].lua, TYPES[c.type].py
  r.lua, r.py = {}, {}
  local lua_change, py_change
  if kind == "widen" then
    c.type = "s120"
    lua_change = 'type_ = "string(120)"'
    py_change = "type_=sa.String(length=120)"
    r.message = ("widen %s.%s"):format(t.name, c.name)
  elseif kind == "notnull" then
    -- a data step first, as a real history fills the NULLs
    local sql = ("UPDATE %s SET %s = %s WHERE %s IS NULL"):format(t.name, c.name, TYPES[c.type].fill, c.name)
    r.lua[#r.lua + 1] = ("  op.execute(%q)"):format(sql)
    r.py[#r.py + 1] = ('    op.execute("%s")'):format(sql)
    c.nullable = false
    lua_change, py_change = "nullable = false", "nullable=False"
    r.message = ("%s.%s NOT NULL"):format(t.name, c.name)
    counts.data_updates = counts.data_updates + 1
  elseif kind == "nullable" then
    c.nullable = true
    lua_change, py_change = "nullable = true", "nullable=True"
    r.message = ("%s.%s may be NULL"):format(t.name, c.name)
  else
    local new = c.name .. "_old"
    if has_col(t, new) then return false end
    lua_change = ("new_column_name = %s"):format(q(new))
    py_change = ("new_column_name=%s"):format(pq(new))
    r.message = ("rename %s.%s to %s"):format(t.name, c.name, new)
    c.name = new
  end
  batch_open(r, t)
  r.lua[#r.lua + 1] = ("    batch.alter_column(%s, {%s, existing_type = %s})"):format(
    q(old_name), lua_change, existing_lua)
  r.py[#r.py + 1] = ("        batch_op.alter_column(%s, %s, existing_type=%s)"):format(
    pq(old_name), py_change, existing_py)
  batch_close(r)
  r.lua_down = {"  -- not reversed in this benchmark"}
  r.py_down = {"    pass"}
  counts.columns_altered = counts.columns_altered + 1
  return true
end

local function gen_drop_column(r, t)
  local cands = {}
  for _, c in ipairs(t.cols) do
    if not c.pk and not c.fk and not c.enum then
      -- an index of this column alone may go first; a composite one keeps it
      local ok = true
      for _, ix in pairs(t.indexes) do
        for _, cn in ipairs(ix.cols) do if cn == c.name and #ix.cols > 1 then ok = false end end
      end
      for _, u in ipairs(t.uniques) do
        for _, cn in ipairs(u) do if cn == c.name then ok = false end end
      end
      if ok then cands[#cands + 1] = c end
    end
  end
  if #cands == 0 then return false end
  local c = pick(cands)
  r.lua, r.py = {}, {}
  local ixnames = {}
  for name, ix in pairs(t.indexes) do if ix.cols[1] == c.name then ixnames[#ixnames + 1] = name end end
  table.sort(ixnames)
  for _, name in ipairs(ixnames) do
    r.lua[#r.lua + 1] = ("  op.drop_index(%s, %s)"):format(q(name), q(t.name))
    r.py[#r.py + 1] = ("    op.drop_index(op.f(%s), table_name=%s)"):format(pq(name), pq(t.name))
    t.indexes[name] = nil
    counts.indexes_dropped = counts.indexes_dropped + 1
  end
  batch_open(r, t)
  r.lua[#r.lua + 1] = ("    batch.drop_column(%s)"):format(q(c.name))
  r.py[#r.py + 1] = ("        batch_op.drop_column(%s)"):format(pq(c.name))
  batch_close(r)
  for i, x in ipairs(t.cols) do if x == c then table.remove(t.cols, i) break end end
  r.message = ("drop %s.%s"):format(t.name, c.name)
  r.lua_down = {"  -- not reversed in this benchmark"}
  r.py_down = {"    pass"}
  counts.columns_dropped = counts.columns_dropped + 1
  return true
end

-- a new column with a foreign key to another table, on an existing table
-- (only: point at a table of that line, the one the revision depends on)
local function gen_add_fk(r, t, owner, only)
  local refs = {}
  for _, x in ipairs(referable(owner, only)) do
    if x ~= t and (not only or x.owner == only) then refs[#refs + 1] = x end
  end
  if #refs == 0 then return false end
  local ref = pick(refs)
  local cname = (ref.name:gsub("s$", "")) .. "_id"
  if has_col(t, cname) then return false end
  local c = make_col(t, cname, "int", true)
  c.fk, c.indexed = ref.name, true
  t.cols[#t.cols + 1] = c
  local fkname = ("fk_%s_%s_%s"):format(t.name, cname, ref.name)
  t.fks[#t.fks + 1] = {name = fkname, cols = {cname}, ref = ref.name}
  ref.referenced = (ref.referenced or 0) + 1
  local ixname = ("ix_%s_%s"):format(t.name, cname)
  t.indexes[ixname] = {cols = {cname}, unique = false}
  r.lua, r.py = {}, {}
  batch_open(r, t)
  r.lua[#r.lua + 1] = ("    batch.add_column(%s)"):format(lua_col(c))
  r.lua[#r.lua + 1] = ('    batch.create_foreign_key(%s, %s, {%s}, {"id"})'):format(q(fkname), q(ref.name), q(cname))
  r.py[#r.py + 1] = ("        batch_op.add_column(%s)"):format(py_col(c))
  r.py[#r.py + 1] = ("        batch_op.create_foreign_key(%s, %s, [%s], ['id'])"):format(pq(fkname), pq(ref.name), pq(cname))
  batch_close(r)
  r.lua[#r.lua + 1] = ("  op.create_index(%s, %s, {%s})"):format(q(ixname), q(t.name), q(cname))
  r.py[#r.py + 1] = ("    op.create_index(op.f(%s), %s, [%s], unique=False)"):format(pq(ixname), pq(t.name), pq(cname))
  r.message = ("%s references %s"):format(t.name, ref.name)
  r.lua_down = {"  -- not reversed in this benchmark"}
  r.py_down = {"    pass"}
  counts.foreign_keys = counts.foreign_keys + 1
  counts.indexes = counts.indexes + 1
  counts.columns_added = counts.columns_added + 1
  return true
end

local function gen_unique_constraint(r, t)
  local cands = plain_cols(t, function(c) return c.type ~= "text" end)
  if #cands == 0 then return false end
  local c = pick(cands)
  c.unique = true
  t.uniques[#t.uniques + 1] = {c.name}
  local name = ("uq_%s_%s"):format(t.name, c.name)
  r.lua, r.py = {}, {}
  batch_open(r, t)
  r.lua[#r.lua + 1] = ("    batch.create_unique_constraint(%s, {%s})"):format(q(name), q(c.name))
  r.py[#r.py + 1] = ("        batch_op.create_unique_constraint(%s, [%s])"):format(pq(name), pq(c.name))
  batch_close(r)
  r.message = ("%s.%s unique"):format(t.name, c.name)
  r.lua_down = {"  -- not reversed in this benchmark"}
  r.py_down = {"    pass"}
  counts.unique_constraints = counts.unique_constraints + 1
  return true
end

local function gen_enum_value(r)
  local cands = {}
  for _, e in ipairs(ENUMS) do
    if enum_made[e.name] and #enum_values[e.name] == #e.values then cands[#cands + 1] = e end
  end
  if #cands == 0 then return false end
  local e = pick(cands)
  table.insert(enum_values[e.name], e.extra)
  r.message = ("%s gains '%s'"):format(e.name, e.extra)
  r.lua = {'  if op.dialect == "postgresql" then',
           ("    op.add_enum_value(%s, %s)"):format(q(e.name), q(e.extra)), "  end"}
  r.py = {"    if op.get_bind().dialect.name == 'postgresql':",
          ("        op.execute(\"ALTER TYPE %s ADD VALUE '%s'\")"):format(e.name, e.extra)}
  r.lua_down = {"  -- not reversed in this benchmark"}
  r.py_down = {"    pass"}
  counts.enum_values_added = counts.enum_values_added + 1
  return true
end

local function gen_drop_table(r)
  local cands = changeable(nil, function(t) return (t.referenced or 0) == 0 end)
  if #cands < 8 then return false end
  local t = cands[rand(1, #cands - 4)]   -- an older one
  for _, fk in ipairs(t.fks) do tables[fk.ref].referenced = tables[fk.ref].referenced - 1 end
  tables[t.name] = nil
  r.message = "drop table " .. t.name
  r.lua = {("  op.drop_table(%s)"):format(q(t.name))}
  r.py = {("    op.drop_table(%s)"):format(pq(t.name))}
  r.lua_down = {"  -- not reversed in this benchmark"}
  r.py_down = {"    pass"}
  counts.tables_dropped = counts.tables_dropped + 1
  return true
end

-- One revision of `owner`'s line: some operation on its tables.
local function step(parents, owner, opts)
  opts = opts or {}
  local r = {parents = parents, depends = opts.depends}
  local mine = changeable(owner)
  if opts.create or #mine < (owner and 1 or 3) then
    gen_create_table(r, owner, opts.also)
    return add_rev(r)
  end
  if opts.fk_to then
    if gen_add_fk(r, pick(mine), owner, opts.fk_to) then return add_rev(r) end
  end
  for _ = 1, 20 do
    local x = rand(1, 100)
    local t = pick(mine)
    local ok
    if x <= 9 then gen_create_table(r, owner); ok = true
    elseif x <= 45 then gen_add_column(r, t, owner == nil); ok = true
    elseif x <= 60 then ok = gen_create_index(r, t)
    elseif x <= 72 then ok = gen_alter_column(r, t)
    elseif x <= 80 then ok = gen_drop_column(r, t)
    elseif x <= 88 then ok = gen_add_fk(r, t, owner)
    elseif x <= 92 then ok = gen_unique_constraint(r, t)
    elseif x <= 95 and owner == nil then ok = gen_enum_value(r)
    elseif x <= 97 and owner == nil then ok = gen_drop_table(r)
    end
    if ok then return add_rev(r) end
  end
  gen_add_column(r, pick(mine), owner == nil)
  return add_rev(r)
end

-- forks: at these fractions of the history, two lines of 3-6 revisions
local forks = {}
for i, f in ipairs{0.2, 0.42, 0.63, 0.82} do forks[math.floor(n * f)] = i end

local head = nil
while #revs < n do
  local fork = forks[#revs]
  local room = n - #revs
  if fork and room >= 10 then
    local la, lb = rand(3, math.min(6, (room - 2) // 2)), rand(3, math.min(6, (room - 2) // 2))
    local a_owner, b_owner = "a" .. fork, "b" .. fork
    local a_first
    local ha, hb = head, head
    for i = 1, la do
      local r = step({ha}, a_owner, {create = i == 1})
      if i == 1 then a_first = r end
      ha = r.id
    end
    for i = 1, lb do
      local opts = {create = i == 1}
      -- the first fork: b's second revision needs a's first (depends_on)
      if fork == 1 and i == 2 then opts.depends, opts.fk_to = a_first.id, a_owner end
      hb = step({hb}, b_owner, opts).id
    end
    local m = add_rev{parents = {ha, hb}, message = "merge " .. ha .. " and " .. hb, merge = true,
                      lua = {}, py = {"    pass"}, lua_down = {}, py_down = {"    pass"}}
    counts.merges = counts.merges + 1
    counts.branch_revisions = counts.branch_revisions + la + lb
    if fork == 1 then counts.depends_on = counts.depends_on + 1 end
    -- merged: the branches' tables belong to the main line now
    for _, name in ipairs(table_order) do
      local t = tables[name]
      if t and (t.owner == a_owner or t.owner == b_owner) then t.owner = nil end
    end
    head = m.id
  else
    head = step({head}, nil).id
  end
end

-- ---- writing ---------------------------------------------------------------
local function mkdir(path) assert(os.execute("mkdir -p '" .. path .. "'")) end
local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end
local function slug(msg) return (msg:gsub("[^%w]+", "_"):sub(1, 40):gsub("_$", "")) end

local lroot, aroot = dir .. "/luamig", dir .. "/alembic"
mkdir(lroot .. "/migrations/versions")
mkdir(aroot .. "/versions")
write(lroot .. "/luamig.lua", 'script_location = "migrations"\ntransaction_per_migration = false\n')
-- the same without the lint luamig runs before an upgrade (lint_on_upgrade,
-- default "warn"), to show what it costs
write(lroot .. "/luamig-nolint.lua",
  'script_location = "migrations"\ntransaction_per_migration = false\nlint_on_upgrade = "off"\n')

for _, r in ipairs(revs) do
  local lua_parent, py_parent, revises
  if #r.parents == 0 or r.parents[1] == nil then
    lua_parent, py_parent, revises = "nil", "None", ""
  elseif #r.parents == 1 then
    lua_parent, py_parent, revises = q(r.parents[1]), pq(r.parents[1]), r.parents[1]
  else
    lua_parent = lua_list(r.parents)
    py_parent = "(" .. py_args(r.parents) .. ")"
    revises = table.concat(r.parents, ", ")
  end
  local lua_dep = r.depends and q(r.depends) or "nil"
  local py_dep = r.depends and pq(r.depends) or "None"
  local name = r.id .. "_" .. slug(r.message)
  write(("%s/migrations/versions/%s.lua"):format(lroot, name), table.concat({
    "-- " .. r.message, "--", "-- Revision ID: " .. r.id, "-- Revises: " .. revises, "",
    ('revision      = "%s"'):format(r.id),
    "down_revision = " .. lua_parent,
    "branch_labels = nil",
    "depends_on    = " .. lua_dep,
    ("message       = %q"):format(r.message),
    "",
    "function upgrade(op)",
    table.concat(r.lua, "\n"),
    "end",
    "",
    "function downgrade(op)",
    table.concat(r.lua_down, "\n"),
    "end",
    "",
  }, "\n"))
  write(("%s/versions/%s.py"):format(aroot, name), table.concat({
    '"""' .. r.message, "", "Revision ID: " .. r.id, "Revises: " .. revises,
    "Create Date: 2026-12-07 00:00:00.000000", "", '"""',
    "from alembic import op",
    "import sqlalchemy as sa",
    "from sqlalchemy.dialects import postgresql",
    "", "",
    ("revision = '%s'"):format(r.id),
    "down_revision = " .. py_parent,
    "branch_labels = None",
    "depends_on = " .. py_dep,
    "", "",
    "def upgrade():",
    #r.py > 0 and table.concat(r.py, "\n") or "    pass",
    "", "",
    "def downgrade():",
    #r.py_down > 0 and table.concat(r.py_down, "\n") or "    pass",
    "",
  }, "\n"))
end

-- Alembic: bench/alembic_tree.lua's files, one transaction unless -x tpm=1,
-- with Alembic's recommended naming convention as the metadata's, luamig's
-- default, so both name a primary key pk_<table>.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
dofile(here .. "/../alembic_tree.lua").write(aroot, {tpm = "0", naming_convention = true})

-- ---- what the history leaves ----------------------------------------------
local function expected(dialect)
  local lines = {}
  local function add(s) lines[#lines + 1] = s end
  for _, name in ipairs(table_order) do
    local t = tables[name]
    if t then
      add("table " .. name)
      for _, c in ipairs(t.cols) do
        local ty
        if c.enum then
          if dialect == "postgresql" then ty = c.enum.name
          else
            local len = 0
            for _, v in ipairs(c.enum_values) do len = math.max(len, #v) end
            ty = ("VARCHAR(%d)"):format(len)
          end
        else
          ty = TYPES[c.type][dialect == "postgresql" and "pg" or "sqlite"]
        end
        add(("column %s.%s %s %s"):format(name, c.name, ty, (c.nullable and not c.pk) and "null" or "notnull"))
      end
      add(("pk %s (id)"):format(name))
      for ixname, ix in pairs(t.indexes) do
        add(("index %s %s %s (%s)"):format(name, ixname, ix.unique and "unique" or "plain", table.concat(ix.cols, ",")))
      end
      for _, u in ipairs(t.uniques) do add(("unique %s (%s)"):format(name, table.concat(u, ","))) end
      for _, fk in ipairs(t.fks) do
        add(("fk %s (%s) -> %s (id)"):format(name, table.concat(fk.cols, ","), fk.ref))
      end
    end
  end
  if dialect == "postgresql" then
    for _, e in ipairs(ENUMS) do
      if enum_made[e.name] then add(("enum %s %s"):format(e.name, table.concat(enum_values[e.name], ","))) end
    end
  end
  add("version " .. head)
  table.sort(lines)
  return table.concat(lines, "\n") .. "\n"
end
write(dir .. "/expected-sqlite.txt", expected("sqlite"))
write(dir .. "/expected-postgresql.txt", expected("postgresql"))
write(dir .. "/head", head .. "\n")

local live = 0
for _, name in ipairs(table_order) do if tables[name] then live = live + 1 end end
counts.tables_at_head = live
local keys = {}
for k in pairs(counts) do keys[#keys + 1] = k end
table.sort(keys)
local out = {}
for _, k in ipairs(keys) do out[#out + 1] = k .. " " .. counts[k] end
write(dir .. "/summary", table.concat(out, "\n") .. "\n")
