-- luamig.autogen.safe -- revision --autogenerate's safe forms on
-- PostgreSQL (doc/autogenerate.md, "Safe forms"; doc/safety.md): the
-- changes to an existing table that would hold a long lock are split in
-- two revisions, the ordinary one (transactional changes, constraints
-- added NOT VALID) and a second one, transactional = false, with the
-- concurrent index builds, the VALIDATE CONSTRAINTs, SET NOT NULL through
-- a validated check, and the unique constraints made from their
-- concurrently built index. And the check's note on constraints not yet
-- validated.
local M = {}

-- The live constraints added NOT VALID and not validated yet
-- (pg_constraint.convalidated false) and the INVALID indexes (a failed or
-- interrupted CONCURRENTLY build), sorted: {table, name, line} each, the
-- line for check's WARNING (which -q does not hide).
function M.not_validated(live)
  local out, bad = {}, {}
  for tname, t in pairs(live.tables or {}) do
    for _, list in ipairs({t.foreign_keys or {}, t.checks or {}}) do
      for _, c in ipairs(list) do
        if c.not_valid then
          out[#out + 1] = {table = tname, name = c.name,
            line = ('Constraint "%s" on "%s" is NOT VALID (existing rows not yet checked): '
              .. 'op.validate_constraint(%q, %q) validates it'):format(c.name, tname, c.name, tname)}
        end
      end
    end
    for _, ix in ipairs(t.indexes or {}) do
      if ix.invalid then
        bad[#bad + 1] = {table = tname, name = ix.name,
          line = ('Index "%s" on "%s" is INVALID (a failed or interrupted CONCURRENTLY build: not used, '
            .. 'not enforced); autogenerate drops it and builds it again'):format(ix.name, tname)}
      end
    end
  end
  local function by_line(a, b) return a.line < b.line end
  table.sort(out, by_line)
  table.sort(bad, by_line)
  return out, bad
end

---------------------------------------------------------------------------
-- The split

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local CONCURRENTLY = {"postgresql_concurrently", "true"}

-- A name of at most 63 bytes (PostgreSQL's limit): a longer one is cut
-- and ends in a checksum of the whole, cut between UTF-8 characters.
local function fit(name)
  if #name <= 63 then return name end
  local sum = 0
  for i = 1, #name do sum = (sum * 31 + name:byte(i)) % 4294967296 end
  local cut = 54
  while cut > 0 and (name:byte(cut + 1) or 0) & 0xC0 == 0x80 do cut = cut - 1 end   -- not inside a UTF-8 character
  return name:sub(1, cut) .. ("_%08x"):format(sum)
end

-- The helper check of a column made NOT NULL: its name, ck_<t>_<c>_not_null
-- (fit to 63 bytes), or with _2, _3, ... when taken(name) says the table
-- has or declares a constraint or index of that name; and its condition.
local function not_null_check(tname, col, taken)
  local name = fit(("ck_%s_%s_not_null"):format(tname, col))
  local i = 1
  while taken(name) do
    i = i + 1
    name = fit(("ck_%s_%s_not_null_%d"):format(tname, col, i))
  end
  local d = require "luamig.dialect.postgresql"
  return {name = name, condition = d.ident(col) .. " IS NOT NULL"}
end

-- The names on each table (constraints and indexes) of the live and the
-- declared schema, for the helper's name.
local function names_of(schemas)
  local names = {}
  for _, sc in ipairs(schemas) do
    for tname, t in pairs(sc.tables or {}) do
      local n = names[tname] or {}
      names[tname] = n
      for _, list in ipairs({t.uniques or {}, t.foreign_keys or {}, t.checks or {}, t.indexes or {}}) do
        for _, c in ipairs(list) do if c.name then n[c.name] = true end end
      end
      if t.primary_key and t.primary_key.name then n[t.primary_key.name] = true end
    end
  end
  return names
end

local function column_key(tname, cols)
  local c = {}
  for i, v in ipairs(cols or {}) do
    if type(v) ~= "string" then return nil end
    c[i] = v
  end
  table.sort(c)
  return tname .. "\0" .. table.concat(c, "\0")
end

-- ops (luamig.autogen.diff's, PostgreSQL) split in two: returns first
-- (the ordinary revision's operations, its downgrade their inverses),
-- second_up and second_down (the transactional = false revision's upgrade
-- and downgrade, in luamig.autogen.render's op records), and notes (lines
-- for the first revision and the log, on what kept the plain form);
-- second_up is empty when nothing needs it. info: {live = schema,
-- declared = schema} (optional): the helper's free name and the
-- partitioned tables. On a table the diff creates, everything keeps its
-- plain form (the table is new and empty); on a partitioned table too
-- (PostgreSQL refuses CONCURRENTLY and NOT VALID foreign keys there).
--   * create_index: CONCURRENTLY, if_not_exists, in the second; its
--     downgrade drops it CONCURRENTLY, if_exists;
--   * a foreign key or check: added NOT VALID in the first, validated in
--     the second; a foreign key referencing a unique constraint or index
--     the same diff adds on an existing table: added NOT VALID in the
--     second, after it, then validated;
--   * a unique constraint: its unique index built CONCURRENTLY under the
--     constraint's name in the second, then the constraint made of it
--     (UNIQUE USING INDEX, if_not_exists); its downgrade drops the
--     constraint (and so the index);
--   * NOT NULL on an existing column: the first adds CHECK (col IS NOT
--     NULL) NOT VALID (and the column's other changes); the second
--     validates it (if_exists), sets NOT NULL (PostgreSQL 12+ then skips
--     the scan; nothing if it is NOT NULL already) and drops the check
--     (if_exists); its downgrade puts the check back NOT VALID and drops
--     NOT NULL.
-- Every step of the second is so re-runnable after a failure part-way.
-- A new table's foreign key onto such a unique key: the table is made in
-- the first without it, and the key added in the second after the unique
-- key (a plain ADD: the table is new and empty).
function M.split(ops, info)
  info = info or {}
  local live = info.live and info.live.tables or {}
  local names = names_of({info.live or {}, info.declared or {}})
  local created, notes = {}, {}
  for _, op in ipairs(ops) do if op.kind == "create_table" then created[op.table] = true end end
  -- the unique keys the diff adds to existing tables, and who references them
  local new_unique = {}
  for _, op in ipairs(ops) do
    local t = op.table
    if t and not created[t] and not (live[t] and live[t].partitioned) then
      local cols
      if op.kind == "add_constraint" and op.ctype == "unique" and op.constraint.name then cols = op.constraint.columns
      elseif op.kind == "create_index" and op.index.unique and not op.index.where then cols = op.index.columns end
      local k = cols and column_key(t, cols)
      if k then new_unique[k] = true end
    end
  end
  local function on_new_unique(fk) return new_unique[column_key(fk.ref_table, fk.ref_columns) or ""] end
  local partitioned = {}
  for _, op in ipairs(ops) do
    local t = op.table
    if t and not created[t] and live[t] and live[t].partitioned and not partitioned[t] and op.kind ~= "drop_index"
       and op.kind ~= "drop_constraint" then
      partitioned[t] = true
      notes[#notes + 1] = ('"%s" is a partitioned table: its changes keep the plain form (PostgreSQL refuses '
        .. 'CREATE INDEX CONCURRENTLY and NOT VALID foreign keys there), under its lock'):format(t)
    end
  end
  local first, up, down, fks_after = {}, {}, {}, {}
  local function later(u, d)
    up[#up + 1] = u
    if d then table.insert(down, 1, d) end
  end
  for _, op in ipairs(ops) do
    local t = op.table
    if op.kind == "create_table" and not partitioned[t] then
      -- a new table's foreign keys onto a unique key built in the second:
      -- added there, after it (the new table is empty: no NOT VALID needed)
      local keep, moved = {}, false
      for _, fk in ipairs(op.model.foreign_keys or {}) do
        if on_new_unique(fk) then
          fks_after[#fks_after + 1] = {kind = "add_constraint", table = t, ctype = "foreign", constraint = fk, new = true}
          moved = true
        else
          keep[#keep + 1] = fk
        end
      end
      if moved then
        local model = copy(op.model)
        model.foreign_keys = keep
        op = copy(op)
        op.model = model
      end
      first[#first + 1] = op
    elseif op.kind == "add_constraint" and op.ctype == "foreign" and not partitioned[t] and on_new_unique(op.constraint) then
      fks_after[#fks_after + 1] = copy(op)
      fks_after[#fks_after].new = created[t]
    elseif not t or created[t] or partitioned[t] then
      first[#first + 1] = op
    elseif op.kind == "create_index" then
      local c = copy(op)
      c.extra = {CONCURRENTLY, {"if_not_exists", "true"}}
      later(c, {kind = "drop_index", table = t, index = op.index,
                extra = {CONCURRENTLY, {"if_exists", "true"}}})
    elseif op.kind == "add_constraint" and (op.ctype == "foreign" or op.ctype == "check") then
      local c = copy(op)
      c.extra = {{"postgresql_not_valid", "true"}}
      first[#first + 1] = c
      later({kind = "validate_constraint", table = t, name = op.constraint.name, extra = {{"if_exists", "true"}}})
    elseif op.kind == "add_constraint" and op.ctype == "unique" and op.constraint.name then
      local u = op.constraint
      later({kind = "create_index", table = t, extra = {CONCURRENTLY, {"if_not_exists", "true"}},
             index = {name = u.name, table = t, unique = true, columns = u.columns}})
      later({kind = "add_constraint", table = t, ctype = "unique", no_columns = true,
             constraint = {name = u.name, deferrable = u.deferrable, initially = u.initially},
             extra = {{"postgresql_using_index", require("luamig.autogen.render").string(u.name)},
                      {"if_not_exists", "true"}}},
            {kind = "drop_constraint", table = t, ctype = "unique", constraint = u})
    elseif op.kind == "alter_column" and op.changes.nullable and op.changes.nullable[2] == false then
      local rest = {}
      for k, v in pairs(op.changes) do if k ~= "nullable" then rest[k] = v end end
      if next(rest) then
        local c = copy(op)
        c.changes = rest
        first[#first + 1] = c
      end
      local taken = names[t] or {}
      names[t] = taken
      local ck = not_null_check(t, op.column, function(n) return taken[n] end)
      taken[ck.name] = true
      -- re-runnable after a failure part-way: the first revision's
      -- downgrade and the second drop the helper if_exists, the second
      -- validates it if_exists (SET NOT NULL of a NOT NULL column does nothing)
      local add = {kind = "add_constraint", table = t, ctype = "check", constraint = ck,
                   extra = {{"postgresql_not_valid", "true"}}, inverse_extra = {{"if_exists", "true"}}}
      first[#first + 1] = add
      later({kind = "validate_constraint", table = t, name = ck.name, extra = {{"if_exists", "true"}}})
      later({kind = "alter_column", table = t, column = op.column, changes = {nullable = {true, false}},
             target = op.target, live = op.live},
            {kind = "alter_column", table = t, column = op.column, changes = {nullable = {false, true}},
             target = op.live, live = op.target})
      later({kind = "drop_constraint", table = t, ctype = "check", constraint = ck, extra = {{"if_exists", "true"}}},
            {kind = "add_constraint", table = t, ctype = "check", constraint = ck,
             extra = {{"postgresql_not_valid", "true"}}})
    else
      first[#first + 1] = op
    end
  end
  -- foreign keys onto a unique key built above: after it, NOT VALID then VALIDATE
  for _, op in ipairs(fks_after) do
    local c = copy(op)
    c.extra = op.new and {{"if_not_exists", "true"}} or {{"postgresql_not_valid", "true"}, {"if_not_exists", "true"}}
    later(c, {kind = "drop_constraint", table = op.table, ctype = "foreign", constraint = op.constraint,
              extra = {{"if_exists", "true"}}})
  end
  for _, op in ipairs(fks_after) do
    if not op.new then later({kind = "validate_constraint", table = op.table, name = op.constraint.name, extra = {{"if_exists", "true"}}}) end
  end
  return first, up, down, notes
end

-- The helper's name (for the specs).
M.not_null_check = not_null_check

return M
