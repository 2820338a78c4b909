-- luamig.lint.locks -- the PostgreSQL rules: operations that take a
-- blocking lock on, or rewrite, a table that existed before the revision
-- (severity error). doc/safety.md, "luamig lint: the rules", says for each
-- the lock PostgreSQL takes; spec/14b reads them back from pg_locks.
local r = require "luamig.lint.render"
local types = require "luamig.lint.types"
local lit, cols = r.lit, r.cols

local M = {}

local function tq(d) return lit(d.table) end

-- the raw statement of a descriptor from op.execute's SQL, without its ";"
local function stmt(d) return (d.stmt:gsub("%s*;%s*$", "")) end

-- raw ADD CONSTRAINT: the statement with NOT VALID where it is one clause (H3), else words
local function raw_not_valid(d)
  local s = stmt(d)
  if not (r.one_clause(s) and d.name and d.table) or s:upper():find("NOT%s+VALID") then
    return "-- add NOT VALID right after this constraint's definition in the statement, then\n"
      .. "-- ALTER TABLE ... VALIDATE CONSTRAINT ... in a later revision (its own transaction)"
  end
  return ("op.execute(%s)\n-- then, in a later revision (its own transaction):\nop.validate_constraint(%s, %s)")
    :format(lit(s .. " NOT VALID"), lit(d.name), tq(d))
end

M.rules = {
  {id = "index-not-concurrent", severity = "error", lock = "SHARE",
   why = "CREATE INDEX without CONCURRENTLY holds a SHARE lock on the table while it builds: writes wait",
   safe = function(d)
     if d.stmt then                               -- raw SQL: the statement with CONCURRENTLY (H3)
       local s = stmt(d)
       local a, b = s:find("^%s*[Cc][Rr][Ee][Aa][Tt][Ee]%s+[%a%s]-[Ii][Nn][Dd][Ee][Xx]")
       if not a then return "-- the same statement with CONCURRENTLY after INDEX, alone in op.autocommit_block" end
       return ("op.autocommit_block(function()\n  op.execute(%s)\nend)"):format(lit(s:sub(1, b) .. " CONCURRENTLY" .. s:sub(b + 1)))
     end
     return ("op.autocommit_block(function()\n  op.create_index(%s, %s, %s, %s)\nend)"):format(r.name(d.name, '"ix_..."'),
       tq(d), cols(d.columns), r.opts(d.given, {postgresql_concurrently = true, if_not_exists = true}, {"concurrently"}))
   end},
  {id = "concurrent-in-transaction", severity = "error", lock = "none (refused)",
   why = "CONCURRENTLY cannot run inside a transaction block: PostgreSQL refuses it in the step's transaction",
   safe = function(d)
     if d.stmt then                               -- raw SQL: the statement alone, out of the transaction (H3)
       return ("op.autocommit_block(function()\n  op.execute(%s)\nend)  -- one op.execute per statement")
         :format(lit(stmt(d)))
     end
     return ("op.autocommit_block(function()\n  op.%s(%s, %s%s)\nend)  -- or transactional = false in the revision")
       :format(d.op, r.name(d.name, '"ix_..."'), tq(d), d.op == "create_index"
         and (", " .. cols(d.columns) .. ", " .. r.opts(d.given, {postgresql_concurrently = true, if_not_exists = true}, {"concurrently"}))
         or (", " .. r.opts(d.given, {postgresql_concurrently = true}, {"concurrently"})))
   end},
  {id = "not-null-existing-column", severity = "error", lock = "ACCESS EXCLUSIVE",
   why = "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock: reads and writes wait",
   safe = function(d)
     local ck = lit(r.fit(("ck_%s_%s_not_null"):format(d.table, d.column)))
     return ("-- revision 1:\nop.create_check_constraint(%s, %s, %s, {postgresql_not_valid = true})\n"
       .. "-- revision 2 (its own transaction):\nop.validate_constraint(%s, %s)\n"
       .. "-- revision 3 (PostgreSQL 12+ skips the scan, proven by the valid check):\n"
       .. "op.alter_column(%s, %s, {nullable = false})\nop.drop_constraint(%s, %s, {type_ = \"check\"})")
       :format(ck, tq(d), lit(('"%s" IS NOT NULL'):format(d.column)), ck, tq(d), tq(d), lit(d.column), ck, tq(d))
   end},
  {id = "foreign-key-not-valid", severity = "error", lock = "SHARE ROW EXCLUSIVE (both tables)",
   why = "ADD FOREIGN KEY validates every row under a SHARE ROW EXCLUSIVE lock on both tables: writes wait",
   safe = function(d)
     if d.stmt then return raw_not_valid(d) end
     return ("op.create_foreign_key(%s, %s, %s, %s, %s, %s)\n"
       .. "-- then, in a later revision (its own transaction):\nop.validate_constraint(%s, %s)")
       :format(r.name(d.name, '"fk_..."'), tq(d), r.name(d.referent, '"..."'), cols(d.local_cols),
         cols(d.remote_cols), r.opts(d.given, {postgresql_not_valid = true}, {"not_valid"}), r.name(d.name, '"fk_..."'), tq(d))
   end},
  {id = "check-not-valid", severity = "error", lock = "ACCESS EXCLUSIVE",
   why = "ADD CHECK scans every row under an ACCESS EXCLUSIVE lock: reads and writes wait",
   safe = function(d)
     if d.stmt then return raw_not_valid(d) end
     return ("op.create_check_constraint(%s, %s, %s, %s)\n"
       .. "-- then, in a later revision (its own transaction):\nop.validate_constraint(%s, %s)")
       :format(r.name(d.name, '"ck_..."'), tq(d), r.name(d.condition, '"..."'),
         r.opts(d.given, {postgresql_not_valid = true}, {"not_valid"}), r.name(d.name, '"ck_..."'), tq(d))
   end},
  {id = "validate-same-transaction", severity = "error", lock = "ACCESS EXCLUSIVE (held from the ADD)",
   why = "VALIDATE in the transaction that added the constraint NOT VALID scans under the ADD's lock, held to COMMIT",
   safe = function(d)
     return ("-- move it to a later revision (or after op.autocommit_block's commit):\nop.validate_constraint(%s, %s)")
       :format(r.name(d.name, '"..."'), tq(d))
   end},
  {id = "type-rewrite", severity = "error", lock = "ACCESS EXCLUSIVE",
   why = "this type change rewrites the table and its indexes under an ACCESS EXCLUSIVE lock",
   safe = function(d)
     return ("-- expand/contract: a new column, filled in batches, then swapped:\n"
       .. "op.add_column(%s, {%s, %s})\n-- backfill with UPDATE ... in batches; switch the code; then\n"
       .. "op.drop_column(%s, %s)\nop.alter_column(%s, %s, {new_column_name = %s})")
       :format(tq(d), lit((d.column or "c") .. "_new"), lit(d.options.type or "..."), tq(d), lit(d.column),
         tq(d), lit((d.column or "c") .. "_new"), lit(d.column))
   end},
  {id = "volatile-default", severity = "error", lock = "ACCESS EXCLUSIVE",
   why = "a column with a volatile default is filled row by row: the table is rewritten under ACCESS EXCLUSIVE",
   safe = function(d)
     local o = d.options or {}
     local t = type(o.type) == "string" and o.type:lower() or ""
     if o.computed or o.identity then
       return "-- no in-place form: add a plain nullable column, fill it in batches, and let the code\n"
         .. "-- compute the value (or take a maintenance window for GENERATED / IDENTITY)"
     end
     if t:match("serial") then                   -- a runnable form (outside attack C, M6)
       local seq = ("%s_%s_seq"):format(d.table, d.column):sub(1, 63)
       local qi = function(x) return '"' .. x:gsub('"', '""') .. '"' end
       return ("op.execute(%s)\nop.add_column(%s, {%s, %s})\n"
         .. "op.alter_column(%s, %s, {server_default = op.raw(%s)})  -- new rows only\n"
         .. "op.execute(%s)\n"
         .. "-- then fill the existing rows in batches (a later revision or a job), e.g.\n"
         .. "-- UPDATE %s SET %s = nextval('%s') WHERE %s IS NULL AND <key range>")
         :format(lit("CREATE SEQUENCE " .. qi(seq)), tq(d), lit(d.column),
           lit(t:match("bigserial") and "bigint" or t:match("smallserial") and "smallint" or "integer"),
           tq(d), lit(d.column), lit(("nextval('%s')"):format(qi(seq):gsub("'", "''"))),
           lit(("ALTER SEQUENCE %s OWNED BY %s.%s"):format(qi(seq), qi(d.table), qi(d.column))),
           qi(d.table), qi(d.column), qi(seq):gsub("'", "''"), qi(d.column))
     end
     return ("op.add_column(%s, {%s, %s})\nop.alter_column(%s, %s, {server_default = op.raw(%s)})  -- new rows only\n"
       .. "-- then fill the existing rows with UPDATE ... in batches")
       :format(tq(d), lit(d.column), lit(o.type or "..."), tq(d), lit(d.column), lit(o.server_default))
   end},
  {id = "unique-without-index", severity = "error", lock = "ACCESS EXCLUSIVE",
   why = "ADD UNIQUE/PRIMARY KEY builds its index under an ACCESS EXCLUSIVE lock: reads and writes wait",
   safe = function(d)
     -- named after the constraint (an index ix_T_C may exist already; outside attack C, M8), at most 63 bytes
     local base = d.name or ("%s_%s"):format(d.table, type(d.columns) == "table" and table.concat(d.columns, "_") or "unique")
     local kind = d.op == "create_primary_key" and "PRIMARY KEY" or "UNIQUE"
     if d.stmt or type(d.columns) ~= "table" or type(d.table) ~= "string" then   -- no placeholders (H3)
       return ("-- build the index first: CREATE UNIQUE INDEX CONCURRENTLY on the same columns, alone in\n"
         .. "-- op.autocommit_block; then ALTER TABLE ... ADD CONSTRAINT ... %s USING INDEX that index"):format(kind)
     end
     local ixname = r.fit(("ix_%s"):format(base))
     local ix = lit(ixname)
     local index = ("op.autocommit_block(function()\n  op.create_index(%s, %s, %s, {unique = true, "
       .. "postgresql_concurrently = true, if_not_exists = true})\nend)\n"):format(ix, tq(d), cols(d.columns))
     if d.op == "create_primary_key" then          -- stays a primary key (H3): luamig's op has no using_index for it
       return index .. ("op.execute(%s)"):format(lit(("ALTER TABLE %s ADD %sPRIMARY KEY USING INDEX %s")
         :format(r.qi(d.table), d.name and ("CONSTRAINT " .. r.qi(d.name) .. " ") or "", r.qi(ixname))))
     end
     return index .. ("op.create_unique_constraint(%s, %s, nil, %s)")
       :format(r.name(d.name, '"uq_..."'), tq(d), r.opts(d.given, {postgresql_using_index = ixname}, {"using_index"}))
   end},
}

-- Functions that are not VOLATILE in PostgreSQL's catalog (a default of
-- them is stored once, PostgreSQL 11+); any other call counts as volatile.
local STABLE = {}
for n in ([[now current_timestamp current_date current_time localtimestamp localtime
  transaction_timestamp statement_timestamp lower upper coalesce concat nullif greatest least
  length abs round to_char to_timestamp to_date make_date make_interval jsonb_build_object
  json_build_object jsonb_build_array json_build_array array cast current_user session_user
  current_setting]]):gmatch("%S+") do STABLE[n] = true end

local function volatile_call(sql)
  if type(sql) ~= "string" then return nil end
  local s = sql:gsub("'[^']*'", "''")
  for fn in s:gmatch("([%a_][%w_%.]*)%s*%(") do
    local base = fn:lower():match("([%w_]+)$")
    if not STABLE[base] then return fn end
  end
  return nil
end

-- The column of a condition "c IS NOT NULL" (quoted or not, in parentheses or not), lowercased.
local function not_null_column(cond)
  if type(cond) ~= "string" then return nil end
  local s = cond:gsub("^%s*%(+", ""):gsub("%)+%s*$", "")
  local c = s:match('^%s*"([^"]+)"%s+[Ii][Ss]%s+[Nn][Oo][Tt]%s+[Nn][Uu][Ll][Ll]%s*$')
    or s:match('^%s*([%a_][%w_]*)%s+[Ii][Ss]%s+[Nn][Oo][Tt]%s+[Nn][Uu][Ll][Ll]%s*$')
  return c and c:lower()
end
M.not_null_column = not_null_column

-- The findings of one descriptor d (st: the revision's state, lint.lua).
function M.judge(d, st)
  if st.dialect ~= "postgresql" then return {} end
  local o, out = d.options or {}, {}
  local function add(id, note) out[#out + 1] = {rule = id, d = d, note = note} end
  -- CONCURRENTLY: a raw DROP INDEX names no table, and a text of several statements is one
  -- transaction whatever the step (outside attack C, M4)
  if (d.op == "create_index" or d.op == "drop_index") and o.postgresql_concurrently then
    if o.statements then
      add("concurrent-in-transaction", ('%s %s with CONCURRENTLY in one op.execute text of %d statements: '
        .. 'PostgreSQL runs them as one transaction and refuses it'):format(d.op, lit(d.name), o.statements))
    elseif st.in_transaction() then
      add("concurrent-in-transaction", ('%s %s with postgresql_concurrently runs in the step\'s transaction')
        :format(d.op, lit(d.name)))
    end
  end
  if not d.table then return out end
  local existing = st.existing(d.table)
  if d.op == "create_index" or d.op == "drop_index" then
    if not o.postgresql_concurrently and d.op == "create_index" and existing then
      add("index-not-concurrent", ('create_index %s on existing table %s without postgresql_concurrently')
        :format(lit(d.name), lit(d.table)))
    end
  end
  -- a CHECK (c IS NOT NULL) that is valid lets SET NOT NULL skip its scan (PostgreSQL 12+):
  -- remember which ones the range adds and validates (outside attack C, H4)
  if d.op == "create_check_constraint" and d.name and st.proven then
    local col = not_null_column(d.condition)
    if col then
      st.checks[d.name:lower()] = {table = d.table:lower(), column = col}
      if not o.postgresql_not_valid then st.proven[d.table:lower() .. "." .. col] = true end
    end
  elseif d.op == "validate_constraint" and d.name and st.proven then
    local ck = st.checks[d.name:lower()]
    if ck then st.proven[ck.table .. "." .. ck.column] = true end
  end
  if not existing then
    if (d.op == "create_foreign_key" or d.op == "create_check_constraint") and o.postgresql_not_valid and d.name then
      st.not_valid[d.name:lower()] = st.segment()
    end
    return out
  end
  if d.op == "alter_column" then
    if o.nullable == false and not (st.not_null_proven and st.not_null_proven(d.table, d.column)) then
      add("not-null-existing-column", ('alter_column %s.%s nullable = false'):format(lit(d.table), lit(d.column)))
    end
    if o.type then
      -- the database's type wins over existing_type (outside attack C, M7); a mismatch is said
      local known_type = st.db_column_type and st.db_column_type(d.table, d.column)
      local before = known_type or o.existing_type or st.column_type(d.table, d.column)
      local mismatch = ""
      if known_type and o.existing_type and known_type:lower():gsub("%s+", "") ~= o.existing_type:lower():gsub("%s+", "") then
        mismatch = (" (existing_type %s, but the database says %s)"):format(o.existing_type, known_type)
      end
      local verdict, reason = types.rewrites(before, o.type)
      if o.using then verdict, reason = "yes", "a USING expression rewrites every row" end
      if verdict == "utc" and st.server_utc() then verdict = "no" end
      if verdict ~= "no" then
        add("type-rewrite", ('alter_column %s.%s type %s -> %s: %s%s'):format(lit(d.table), lit(d.column),
          before or "?", o.type, reason, before and mismatch or " (give existing_type)"))
      end
    end
  elseif d.op == "add_column" then
    local t = type(o.type) == "string" and o.type:lower() or ""
    local fn = volatile_call(o.server_default)
    if o.computed or o.identity then
      add("volatile-default", ('add_column %s.%s %s: every row is computed and written, the table is rewritten')
        :format(lit(d.table), lit(d.column), o.computed and ("GENERATED ALWAYS AS " .. tostring(o.computed))
          or "GENERATED AS IDENTITY"))
    elseif t:match("serial") then
      add("volatile-default", ('add_column %s.%s of type %s: its default nextval() is volatile')
        :format(lit(d.table), lit(d.column), o.type))
    elseif fn then
      add("volatile-default", ('add_column %s.%s default %s: %s() is volatile (or not known to be stable)')
        :format(lit(d.table), lit(d.column), o.server_default, fn))
    end
  elseif d.op == "create_foreign_key" or d.op == "create_check_constraint" then
    if o.postgresql_not_valid then
      if d.name then st.not_valid[d.name:lower()] = st.segment() end
    else
      add(d.op == "create_foreign_key" and "foreign-key-not-valid" or "check-not-valid",
        ('%s %s on existing table %s without postgresql_not_valid'):format(d.op, lit(d.name), lit(d.table)))
    end
  elseif d.op == "create_unique_constraint" or d.op == "create_primary_key" then
    if not o.postgresql_using_index then
      add("unique-without-index", ('%s %s on existing table %s without postgresql_using_index')
        :format(d.op, lit(d.name), lit(d.table)))
    end
  end
  if d.op == "validate_constraint" and d.name and st.in_transaction() and st.not_valid[d.name:lower()] == st.segment() then
    add("validate-same-transaction", ('validate_constraint %s in the transaction that added it NOT VALID')
      :format(lit(d.name)))
  end
  return out
end

return M
