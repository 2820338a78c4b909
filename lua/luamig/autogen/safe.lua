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

-- INFO lines for the live constraints added NOT VALID and not validated
-- yet (pg_constraint.convalidated false), sorted.
function M.not_validated(live)
  local out = {}
  for tname, t in pairs(live.tables or {}) do
    for _, list in ipairs({t.foreign_keys or {}, t.checks or {}}) do
      for _, c in ipairs(list) do
        if c.not_valid then
          out[#out + 1] = ('Constraint "%s" on "%s" is NOT VALID (existing rows not yet checked): '
            .. 'op.validate_constraint(%q, %q) validates it'):format(c.name, tname, c.name, tname)
        end
      end
    end
  end
  table.sort(out)
  return out
end

---------------------------------------------------------------------------
-- The split

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local CONCURRENTLY = {"postgresql_concurrently", "true"}

-- The helper check of a column made NOT NULL: its name (at most 63 bytes,
-- PostgreSQL's limit; a longer one is cut and ends in a checksum of the
-- whole, cut between UTF-8 characters) and condition.
local function not_null_check(tname, col)
  local name = ("ck_%s_%s_not_null"):format(tname, col)
  if #name > 63 then
    local sum = 0
    for i = 1, #name do sum = (sum * 31 + name:byte(i)) % 4294967296 end
    local cut = 54
    while cut > 0 and (name:byte(cut + 1) or 0) & 0xC0 == 0x80 do cut = cut - 1 end   -- not inside a UTF-8 character
    name = name:sub(1, cut) .. ("_%08x"):format(sum)
  end
  local d = require "luamig.dialect.postgresql"
  return {name = name, condition = d.ident(col) .. " IS NOT NULL"}
end

-- ops (luamig.autogen.diff's, PostgreSQL) split in two: returns first
-- (the ordinary revision's operations, its downgrade their inverses),
-- second_up and second_down (the transactional = false revision's upgrade
-- and downgrade, in luamig.autogen.render's op records); second_up is
-- empty when nothing needs it. On a table the diff creates, everything
-- keeps its plain form (the table is new and empty).
--   * create_index: CONCURRENTLY, if_not_exists, in the second; its
--     downgrade drops it CONCURRENTLY, if_exists;
--   * a foreign key or check: added NOT VALID in the first, validated in
--     the second;
--   * a unique constraint: its unique index built CONCURRENTLY under the
--     constraint's name in the second, then the constraint made of it
--     (UNIQUE USING INDEX); its downgrade drops the constraint (and so the
--     index);
--   * NOT NULL on an existing column: the first adds CHECK (col IS NOT
--     NULL) NOT VALID (and the column's other changes); the second
--     validates it, sets NOT NULL (PostgreSQL 12+ then skips the scan) and
--     drops the check; its downgrade puts the check back NOT VALID and
--     drops NOT NULL.
function M.split(ops)
  local created = {}
  for _, op in ipairs(ops) do if op.kind == "create_table" then created[op.table] = true end end
  local first, up, down = {}, {}, {}
  local function later(u, d)
    up[#up + 1] = u
    if d then table.insert(down, 1, d) end
  end
  for _, op in ipairs(ops) do
    local t = op.table
    if not t or created[t] then
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
      later({kind = "validate_constraint", table = t, name = op.constraint.name})
    elseif op.kind == "add_constraint" and op.ctype == "unique" and op.constraint.name then
      local u = op.constraint
      later({kind = "create_index", table = t, extra = {CONCURRENTLY, {"if_not_exists", "true"}},
             index = {name = u.name, table = t, unique = true, columns = u.columns}})
      later({kind = "add_constraint", table = t, ctype = "unique", no_columns = true,
             constraint = {name = u.name, deferrable = u.deferrable, initially = u.initially},
             extra = {{"postgresql_using_index", require("luamig.autogen.render").string(u.name)}}},
            {kind = "drop_constraint", table = t, ctype = "unique", constraint = u})
    elseif op.kind == "alter_column" and op.changes.nullable and op.changes.nullable[2] == false then
      local rest = {}
      for k, v in pairs(op.changes) do if k ~= "nullable" then rest[k] = v end end
      if next(rest) then
        local c = copy(op)
        c.changes = rest
        first[#first + 1] = c
      end
      local ck = not_null_check(t, op.column)
      local add = {kind = "add_constraint", table = t, ctype = "check", constraint = ck,
                   extra = {{"postgresql_not_valid", "true"}}}
      first[#first + 1] = add
      later({kind = "validate_constraint", table = t, name = ck.name})
      later({kind = "alter_column", table = t, column = op.column, changes = {nullable = {true, false}},
             target = op.target, live = op.live},
            {kind = "alter_column", table = t, column = op.column, changes = {nullable = {false, true}},
             target = op.live, live = op.target})
      later({kind = "drop_constraint", table = t, ctype = "check", constraint = ck}, add)
    else
      first[#first + 1] = op
    end
  end
  return first, up, down
end

return M
