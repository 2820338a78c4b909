-- luamig.op.enum -- enum types (doc/op.md, "Enums"): op.enum, the column
-- type; op.create_enum, drop_enum, add_enum_value, rename_enum_value,
-- drop_enum_value; and ensure(), which create_table, add_column and
-- alter_column call to make a column's PostgreSQL type unless it exists
-- (Alembic's checkfirst; in --sql, CREATE TYPE is written as Alembic's
-- --sql mode writes it, once per run).
--
-- On SQLite an enum column is string(longest value) with a CHECK
-- constraint (luamig.dialect.enum); create_enum and drop_enum do nothing
-- (there is no type) and the value changes are refused with what to do.
local check = require "luamig.op.check"
local enum = require "luamig.dialect.enum"
local core = require "luamig.core"
check.mark_internal()
local function run(ctx, sql) return require("luamig.op.apply").run(ctx, sql) end

local raise, check_arg, check_options = check.raise, check.check_arg, check.check_options

local M = {}

-- The types one offline run has created, per run (keyed by the run's
-- shared table models, else the emit function): --sql writes CREATE TYPE
-- once.
local made_offline = setmetatable({}, {__mode = "k"})
local function offline_made(ctx)
  local key = ctx.known or ctx.emit
  local t = made_offline[key]
  if not t then t = {}; made_offline[key] = t end
  return t
end

local function pg_lit(s) return core.quote_literal("postgresql", s) end

-- Does a type of this name exist (visible on the search path, or in schema)?
local function type_exists(ctx, name, schema)
  name = ctx.d.stored_name(name)
  local rows
  if schema then
    rows = ctx.conn:query([[SELECT 1 AS x FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE t.typname = $1 AND n.nspname = $2]], {name, ctx.d.stored_name(schema)})
  else
    rows = ctx.conn:query([[SELECT 1 AS x FROM pg_type t
      WHERE t.typname = $1 AND pg_type_is_visible(t.oid)]], {name})
  end
  return rows[1] ~= nil
end

-- The values of an existing enum type (in order), or nil when there is none.
local function live_values(ctx, qname)
  local rows = ctx.conn:query([[SELECT e.enumlabel AS v FROM pg_enum e
    WHERE e.enumtypid = to_regtype($1) ORDER BY e.enumsortorder]], {qname})
  local t = ctx.conn:query("SELECT to_regtype($1)::text AS t", {qname})
  if t[1].t == nil then return nil end
  local out = {}
  for i, r in ipairs(rows) do out[i] = r.v end
  return out
end

-- What is wrong with an existing type for an enum column, or nil when it
-- is fine: an enum type holding every value the column declares (more is
-- fine: a type extended by add_enum_value since, as a history's later
-- columns often still say the first values).
local function type_conflict(ctx, e, where)
  local qname = enum.qualified(e.name, e.schema)
  local row = ctx.conn:query([[SELECT t.typtype AS k, CASE WHEN t.typrelid <> 0 THEN t.typrelid::regclass::text END AS rel
    FROM pg_type t WHERE t.oid = to_regtype($1)]], {qname})[1]
  if row.k ~= "e" then
    local what = row.rel and ("the row type of table " .. row.rel) or "not an enum"
    return ("%s: type %s exists already and is %s: give the enum another name (op.enum(values, {name = ...})), "
      .. "or create_type = false if the column is meant to have that type"):format(where, qname, what)
  end
  local have, missing = live_values(ctx, qname), {}
  local set = {}
  for _, v in ipairs(have) do set[v] = true end
  for _, v in ipairs(e.values) do if not set[v] then missing[#missing + 1] = v end end
  if #missing == 0 then return nil end
  return ("%s: enum type %s exists already with the values (%s), without %s: add them first "
    .. "(op.add_enum_value), give the enum another name, or create_type = false to use the type as it is")
    :format(where, qname, enum.literals(have), enum.literals(missing))
end

-- --sql: CREATE TYPE unless the type exists, in one DO block that raises
-- what type_conflict says online when the existing type does not fit.
local function ensure_sql(e, where)
  local qname = enum.qualified(e.name, e.schema)
  local vals = enum.literals(e.values)
  local body = ([[
DECLARE
  t regtype := to_regtype(%s); k "char"; rel text; have text; missing text;
BEGIN
  IF t IS NULL THEN
    %s;
    RETURN;
  END IF;
  SELECT typtype, CASE WHEN typrelid <> 0 THEN typrelid::regclass::text END INTO k, rel FROM pg_type WHERE oid = t;
  IF k <> 'e' THEN
    RAISE EXCEPTION '%%: type %% exists already and is %%: give the enum another name (op.enum(values, {name = ...})), or create_type = false if the column is meant to have that type',
      %s, %s, coalesce('the row type of table ' || rel, 'not an enum');
  END IF;
  SELECT string_agg(quote_literal(enumlabel), ', ' ORDER BY enumsortorder) INTO have FROM pg_enum WHERE enumtypid = t;
  SELECT string_agg(quote_literal(v), ', ' ORDER BY o) INTO missing FROM unnest(ARRAY[%s]::text[]) WITH ORDINALITY AS x(v, o)
    WHERE NOT EXISTS (SELECT 1 FROM pg_enum WHERE enumtypid = t AND enumlabel = x.v);
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION '%%: enum type %% exists already with the values (%%), without %%: add them first (op.add_enum_value), give the enum another name, or create_type = false to use the type as it is',
      %s, %s, have, missing;
  END IF;
END]]):format(pg_lit(qname), enum.create_sql(e.name, e.values, e.schema), pg_lit(where), pg_lit(qname),
    vals, pg_lit(where), pg_lit(qname))
  local tag = "$luamig$"
  while body:find(tag, 1, true) do tag = tag:sub(1, -2) .. "_$" end
  return "DO " .. tag .. "\n" .. body .. tag
end

-- Make the type of an enum column unless it exists (PostgreSQL); an
-- existing type that does not fit is refused, online and in --sql alike.
-- In --sql, a type this run made (or dropped) is known; another may exist
-- already (made before the range), so the DO block decides.
--   where: 'create_table "t", column "v"', for the messages
function M.ensure(ctx, e, where)
  if ctx.sqlite or not e or not e.create_type then return end
  local key = enum.qualified(e.name, e.schema)
  where = where or "enum column"
  if ctx.conn then
    if not type_exists(ctx, e.name, e.schema) then run(ctx, enum.create_sql(e.name, e.values, e.schema))
    else
      local why = type_conflict(ctx, e, where)
      if why then raise(why) end
    end
  else
    local made = offline_made(ctx)
    if made[key] then return end
    run(ctx, made[key] == false and enum.create_sql(e.name, e.values, e.schema) or ensure_sql(e, where))
    made[key] = true
  end
end

-- A column of an enum type: its model type, and on SQLite the CHECK.
--   name_for(kind, info): the constraint name by the naming convention
function M.column(ctx, e, cname, tname, name_for)
  if not ctx.sqlite then return enum.qualified(e.name, e.schema), nil end
  -- named as a column-level check of the column is (ck_<table>_<column>),
  -- not after the enum as SQLAlchemy does: one enum may type several
  -- columns of a table, and each CHECK needs a name of its own; the name
  -- depends on nothing else, so online, --sql and autogenerate agree
  local ck_name = cname
  if ctx.convention.ck then
    ck_name = name_for("ck", {table = tname, columns = {cname}, constraint_name = cname})
  end
  return enum.sqlite_type(e.values), {name = ck_name, condition = enum.check_condition(cname, e.values),
                                      enum = e, column = cname}
end

local function values_arg(opname, n, values)
  local v, why = enum.check_values(values)
  if not v then raise(("%s: argument %d (values): %s"):format(opname, n, why)) end
  return v
end

local ENUM_SPEC = {name = "name", create_type = "boolean", schema = "name", native_enum = "boolean"}

function M.install(ctx, op)
  local function sqlite_refused(opname)
    raise(("%s: SQLite has no enum types: an op.enum column's values are its CHECK constraint "
      .. "(named as a check of that column: ck_<table>_<column> by the naming convention); change that constraint with "
      .. "op.batch_alter_table(TABLE, function(b) b.drop_constraint(NAME); "
      .. "b.create_check_constraint(NAME, CONDITION) end) (doc/op.md, \"Enums\")"):format(opname))
  end

  -- op.enum(values, {name =, create_type =, schema =}): a column type.
  function op.enum(values, opts)
    local v = values_arg("enum", 1, values)
    local o = check_options("enum", opts, ENUM_SPEC, nil, 2)
    if not o.name then
      raise('enum: option "name" is required (the PostgreSQL type\'s name; on SQLite the CHECK constraint\'s), '
        .. 'as in op.enum({"a", "b"}, {name = "status"})')
    end
    if o.native_enum == false then
      raise('enum: native_enum = false is not supported; use a string column with a check constraint')
    end
    -- on PostgreSQL its names are refused here, at this line, when too long
    if not ctx.sqlite then enum.qualified(o.name, o.schema) end
    return enum.new(o.name, v, o.schema, o.create_type)
  end

  function op.create_enum(name, values, opts)
    local opname = "create_enum"
    check_arg(opname, 1, "name", name, "name")
    local v = values_arg(opname, 2, values)
    local o = check_options(opname, opts, {if_not_exists = "boolean", schema = "name"}, nil, 3)
    local e = enum.new(name, v, o.schema, false)
    if ctx.sqlite then
      ctx.log("info", opname .. ": SQLite has no enum types; nothing to create (an op.enum column is checked by its CHECK constraint)")
      return e
    end
    local key = enum.qualified(name, o.schema)
    if ctx.conn then
      if o.if_not_exists and type_exists(ctx, name, o.schema) then
        ctx.log("info", ('%s: type %s exists already; left as it is'):format(opname, key))
        return e
      end
      run(ctx, enum.create_sql(name, v, o.schema))
    else
      run(ctx, (o.if_not_exists and enum.create_if_not_exists_sql or enum.create_sql)(name, v, o.schema))
      offline_made(ctx)[key] = true
    end
    return e
  end

  function op.drop_enum(name, opts)
    local opname = "drop_enum"
    check_arg(opname, 1, "name", name, "name")
    local o = check_options(opname, opts, {if_exists = "boolean", schema = "name", cascade = "boolean"}, nil, 2)
    if ctx.sqlite then
      return ctx.log("info", opname .. ": SQLite has no enum types; nothing to drop")
    end
    run(ctx, enum.drop_sql(name, o.schema, o.if_exists, o.cascade))
    if not ctx.conn then offline_made(ctx)[enum.qualified(name, o.schema)] = false end
  end

  function op.add_enum_value(name, value, opts)
    local opname = "add_enum_value"
    check_arg(opname, 1, "name", name, "name")
    check_arg(opname, 2, "value", value, "string")
    local o = check_options(opname, opts, {before = "string", after = "string", if_not_exists = "boolean",
                                           schema = "name"}, nil, 3)
    if o.before and o.after then raise(opname .. ': give "before" or "after", not both') end
    if ctx.sqlite then sqlite_refused(opname) end
    run(ctx, enum.add_value_sql(name, o.schema, value, o))
  end

  function op.rename_enum_value(name, old, new, opts)
    local opname = "rename_enum_value"
    check_arg(opname, 1, "name", name, "name")
    check_arg(opname, 2, "old", old, "string")
    check_arg(opname, 3, "new", new, "string")
    local o = check_options(opname, opts, {schema = "name"}, nil, 4)
    if ctx.sqlite then sqlite_refused(opname) end
    run(ctx, enum.rename_value_sql(name, o.schema, old, new))
  end

  function op.drop_enum_value(name, value, opts)
    local opname = "drop_enum_value"
    check_arg(opname, 1, "name", name, "name")
    check_arg(opname, 2, "value", value, "string")
    local o = check_options(opname, opts, {schema = "name"}, nil, 3)
    if ctx.sqlite then sqlite_refused(opname) end
    local qname = enum.qualified(name, o.schema)
    if ctx.conn then M.drop_value_precheck(ctx, opname, qname, value) end
    run(ctx, M.drop_value_sql(qname, name, value))
  end
end

-- PostgreSQL: alter_column's change of a column's type to an enum. A
-- default (of the old type) cannot be cast automatically, so it is dropped
-- first; when the change sets no default of its own, it is set again after,
-- as the same literal of the new type ('a'::character varying becomes
-- 'a'::"vt"; another expression is cast through text). One DO block, the
-- same online and in --sql, which cannot look the default up beforehand.
-- Returns the statements, and the change without its type.
function M.alter_type_sql(ctx, tname, ch)
  local d = ctx.d
  local prefix = ("ALTER TABLE %s ALTER COLUMN %s "):format(d.ident(tname), d.ident(ch.name))
  local alter = prefix .. "TYPE " .. ch.type .. (ch.using and (" USING " .. ch.using) or "")
  local rest = {}
  for k, v in pairs(ch) do rest[k] = v end
  rest.type, rest.using = nil, nil
  if ch.default ~= nil then return {prefix .. "DROP DEFAULT", alter}, rest end
  local body = ([[
DECLARE
  d text; lit text;
BEGIN
  SELECT pg_get_expr(ad.adbin, ad.adrelid) INTO d FROM pg_attrdef ad
    JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
    WHERE ad.adrelid = to_regclass(%s) AND a.attname = %s;
  IF d IS NOT NULL THEN EXECUTE %s; END IF;
  EXECUTE %s;
  IF d IS NOT NULL THEN
    lit := substring(d from '^(''(?:[^'']|'''')*'')::[^'']+$');
    EXECUTE %s || coalesce(lit, '(' || d || ')::text') || '::' || %s;
  END IF;
END]]):format(pg_lit(d.ident(tname)), pg_lit(ch.name), pg_lit(prefix .. "DROP DEFAULT"), pg_lit(alter),
    pg_lit(prefix .. "SET DEFAULT "), pg_lit(ch.type))
  local tag = "$luamig$"
  while body:find(tag, 1, true) do tag = tag:sub(1, -2) .. "_$" end
  return {"DO " .. tag .. "\n" .. body .. tag}, rest
end

-- The columns (and arrays) of a type, and the defaults that mention it.
local USES = [[SELECT a.attrelid::regclass::text AS tbl, a.attname AS col,
    a.atttypid = to_regtype($1) AS scalar, pg_get_expr(ad.adbin, ad.adrelid) AS dflt
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND NOT c.relispartition
    AND a.atttypid IN (to_regtype($1), (SELECT typarray FROM pg_type WHERE oid = to_regtype($1)))
  ORDER BY 1, 2]]

-- Online: refuse, with what to do, a removal the rewrite would fail on.
function M.drop_value_precheck(ctx, opname, qname, value)
  local values = live_values(ctx, qname)
  if not values then raise(("%s: enum type %s does not exist"):format(opname, qname)) end
  local found = false
  for _, v in ipairs(values) do if v == value then found = true end end
  if not found then
    raise(("%s: enum type %s has no value %s (its values: %s)"):format(opname, qname, pg_lit(value),
      enum.literals(values)))
  end
  for _, r in ipairs(ctx.conn:query(USES, {qname})) do
    local q = ("SELECT count(*) AS n FROM %s WHERE %s"):format(r.tbl, r.scalar
      and (core.quote_ident(r.col) .. "::text = $1") or ("$1 = ANY (" .. core.quote_ident(r.col) .. "::text[])"))
    local n = tonumber(ctx.conn:query(q, {value})[1].n)
    if n > 0 then
      raise(("%s: %d row(s) of table %s, column %s, still hold %s: update or delete them first "
        .. "(e.g. op.execute(\"UPDATE ... SET ... WHERE ...\")), then drop the value")
        :format(opname, n, r.tbl, core.quote_ident(r.col), pg_lit(value)))
    end
    if r.dflt and r.dflt:find(pg_lit(value) .. "::", 1, true) then
      raise(("%s: the default of table %s, column %s, is %s: change it first (op.alter_column(..., "
        .. "{server_default = ...}))"):format(opname, r.tbl, core.quote_ident(r.col), r.dflt))
    end
  end
end

-- The rewrite PostgreSQL needs to remove a value, as one DO block (the same
-- online and in --sql, which cannot look the columns up beforehand): a new
-- type with the other values; every column of the type (and of its array
-- type) changed to it USING col::text::new; the defaults that mention the
-- type dropped before and set again after; the old type dropped and the
-- new one renamed. A row still holding the value raises, naming it.
function M.drop_value_sql(qname, name, value)
  local v = pg_lit(value)
  local body = ([[
DECLARE
  old_t regtype := to_regtype(%s);
  nsp text; tmp text; labels text; r record; n bigint;
  d_tbl text[] := '{}'; d_col text[] := '{}'; d_expr text[] := '{}';
BEGIN
  IF old_t IS NULL THEN RAISE EXCEPTION 'drop_enum_value: enum type %% does not exist', %s; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_enum WHERE enumtypid = old_t AND enumlabel = %s) THEN
    RAISE EXCEPTION 'drop_enum_value: enum type %% has no value %%', %s, %s;
  END IF;
  SELECT ns.nspname INTO nsp FROM pg_type t JOIN pg_namespace ns ON ns.oid = t.typnamespace WHERE t.oid = old_t;
  tmp := format('%%I.%%I', nsp, 'luamig_enum_new_' || old_t::oid::text);
  SELECT coalesce(string_agg(quote_literal(enumlabel), ', ' ORDER BY enumsortorder), '') INTO labels
    FROM pg_enum WHERE enumtypid = old_t AND enumlabel <> %s;
  EXECUTE format('CREATE TYPE %%s AS ENUM (%%s)', tmp, labels);
  FOR r IN SELECT ad.adrelid::regclass::text AS tbl, a.attname AS col, pg_get_expr(ad.adbin, ad.adrelid) AS dflt
      FROM pg_depend dp JOIN pg_attrdef ad ON dp.classid = 'pg_attrdef'::regclass AND dp.objid = ad.oid
      JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
      WHERE dp.refclassid = 'pg_type'::regclass
        AND dp.refobjid IN (old_t, (SELECT typarray FROM pg_type WHERE oid = old_t)) LOOP
    d_tbl := d_tbl || r.tbl; d_col := d_col || r.col::text; d_expr := d_expr || r.dflt;
    EXECUTE format('ALTER TABLE %%s ALTER COLUMN %%I DROP DEFAULT', r.tbl, r.col);
  END LOOP;
  FOR r IN SELECT a.attrelid::regclass::text AS tbl, a.attname AS col, a.atttypid = old_t AS scalar
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND a.atttypid IN (old_t, (SELECT typarray FROM pg_type WHERE oid = old_t)) LOOP
    IF r.scalar THEN
      EXECUTE format('SELECT count(*) FROM %%s WHERE %%I::text = %%L', r.tbl, r.col, %s::text) INTO n;
    ELSE
      EXECUTE format('SELECT count(*) FROM %%s WHERE %%L = ANY (%%I::text[])', r.tbl, %s::text, r.col) INTO n;
    END IF;
    IF n > 0 THEN
      RAISE EXCEPTION 'drop_enum_value: %% row(s) of table %%, column %%, still hold %%', n, r.tbl, quote_ident(r.col), %s;
    END IF;
    IF r.scalar THEN
      EXECUTE format('ALTER TABLE %%s ALTER COLUMN %%I TYPE %%s USING %%I::text::%%s', r.tbl, r.col, tmp, r.col, tmp);
    ELSE
      EXECUTE format('ALTER TABLE %%s ALTER COLUMN %%I TYPE %%s[] USING %%I::text[]::%%s[]', r.tbl, r.col, tmp, r.col, tmp);
    END IF;
  END LOOP;
  EXECUTE format('DROP TYPE %%s', old_t);
  EXECUTE format('ALTER TYPE %%s RENAME TO %%I', tmp, %s);
  FOR i IN 1 .. coalesce(array_length(d_tbl, 1), 0) LOOP
    EXECUTE format('ALTER TABLE %%s ALTER COLUMN %%I SET DEFAULT %%s', d_tbl[i], d_col[i], d_expr[i]);
  END LOOP;
END]]):format(pg_lit(qname), pg_lit(qname), v, pg_lit(qname), pg_lit(value), v, v, v, pg_lit(value), pg_lit(name))
  local tag = "$luamig$"
  while body:find(tag, 1, true) do tag = tag:sub(1, -2) .. "_$" end
  return "DO " .. tag .. "\n" .. body .. tag
end

return M
