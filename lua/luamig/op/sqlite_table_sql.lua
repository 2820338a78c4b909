-- luamig.op.sqlite_table_sql -- the stored CREATE TABLE of a SQLite table,
-- parsed into its parts and edited by the changes of a rebuild.
local sqltext = require "luamig.sqltext"
local model = require "luamig.op.sqlite_model"
local name_of, same_name = model.name_of, model.same_name
local describe_constraint, add_column_constraints = model.describe_constraint, model.add_column_constraints

-- The stored CREATE TABLE, edited. The rebuild does not render the new
-- table from the model: it edits SQLite's own text, so that whatever the
-- model cannot say (conflict clauses, INTEGER PRIMARY KEY DESC, COLLATE,
-- AUTOINCREMENT, STRICT, WITHOUT ROWID, expression defaults, comments)
-- is carried over as written. SQLite's own ALTER TABLE DROP COLUMN works
-- the same way.
--
--   parts: one per column definition or table constraint, {text =, sep =}
--   (sep: what stood between it and the part before, comma included).
local column_starters = {CONSTRAINT = true, PRIMARY = true, NOT = true, NULL = true, UNIQUE = true,
                         CHECK = true, DEFAULT = true, COLLATE = true, REFERENCES = true,
                         GENERATED = true, AS = true}
local table_constraints = {CONSTRAINT = true, PRIMARY = true, UNIQUE = true, CHECK = true, FOREIGN = true}


local function parse_table(sql)
  local toks = sqltext.tokens(sql)
  local open
  for j, t in ipairs(toks) do if sqltext.is(t, "(") then open = j; break end end
  local close = sqltext.close_paren(toks, open)
  local parts, prev_end = {}, toks[open].e
  for _, p in ipairs(sqltext.split(toks, open + 1, close - 1)) do
    local s, e = toks[p[1]].s, toks[p[2]].e
    parts[#parts + 1] = {text = sql:sub(s, e), sep = sql:sub(prev_end + 1, s - 1)}
    prev_end = e
  end
  return {parts = parts, tail = sql:sub(prev_end + 1)}
end

-- What a part is: a column ({column = name}) or a table constraint
-- ({constraint = KIND, name =, columns =} with KIND PRIMARY, UNIQUE, CHECK, FOREIGN).
local function classify(part)
  local toks = sqltext.tokens(part.text)
  local i, cname = 1, nil
  if sqltext.upper(toks[1]) == "CONSTRAINT" then cname = name_of(toks[2]); i = 3 end
  local kw = sqltext.upper(toks[i])
  if not (i == 3 or table_constraints[kw]) then return {column = name_of(toks[1]), toks = toks} end
  local info = {constraint = kw, name = cname, toks = toks}
  if kw ~= "CHECK" then
    local j = i
    while j <= #toks and not sqltext.is(toks[j], "(") do j = j + 1 end
    info.columns = {}
    if j <= #toks then
      for _, p in ipairs(sqltext.split(toks, j + 1, sqltext.close_paren(toks, j) - 1)) do
        info.columns[#info.columns + 1] = name_of(toks[p[1]])
      end
    end
  else
    local j = i + 1
    info.condition = sqltext.text(part.text, toks, j + 1, sqltext.close_paren(toks, j) - 1)
  end
  return info
end

-- A column definition split into its name and type, and its column
-- constraints: {head = "name TYPE", segs = {{kw =, name =, text =}, ...}}.
local function column_segments(text)
  local toks = sqltext.tokens(text)
  local upper, is = sqltext.upper, sqltext.is
  local function starts(j, kw)
    local u = upper(toks[j])
    if not (u and column_starters[u]) then return false end
    local before = upper(toks[j - 1])
    if before == "SET" then return false end                  -- ON DELETE SET NULL / SET DEFAULT
    if u == "NOT" and upper(toks[j + 1]) == "DEFERRABLE" then return false end
    if u == "AS" and kw == "GENERATED" then return false end
    return true
  end
  local i = 2
  while i <= #toks and not starts(i) do
    if is(toks[i], "(") then i = sqltext.close_paren(toks, i) + 1 else i = i + 1 end
  end
  local col = {head = sqltext.text(text, toks, 1, i - 1), name_text = sqltext.text(text, toks, 1, 1), segs = {}}
  while i <= #toks do
    local first, cname = i, nil
    if upper(toks[i]) == "CONSTRAINT" then cname = name_of(toks[i + 1]); i = i + 2 end
    local kw = upper(toks[i]) or ""
    i = i + 1
    if kw == "DEFAULT" then                                    -- one value: literal, signed number, (expr)
      if is(toks[i], "(") then i = sqltext.close_paren(toks, i) + 1
      elseif is(toks[i], "+") or is(toks[i], "-") then i = i + 2
      else i = i + 1 end
    elseif kw == "NOT" then i = i + 1
    end
    while i <= #toks and not starts(i, kw) do
      if is(toks[i], "(") then i = sqltext.close_paren(toks, i) + 1 else i = i + 1 end
    end
    col.segs[#col.segs + 1] = {kw = kw, name = cname, text = sqltext.text(text, toks, first, math.min(i - 1, #toks))}
  end
  return col
end

local function column_text(col)
  local out = {col.head}
  for _, s in ipairs(col.segs) do out[#out + 1] = s.text end
  return table.concat(out, " ")
end

local function render_table(shape, name_sql)
  local out = {"CREATE TABLE ", name_sql, " ("}
  for i, p in ipairs(shape.parts) do
    out[#out + 1] = i == 1 and p.sep:gsub("^%s*,", "") or p.sep
    out[#out + 1] = p.text
  end
  out[#out + 1] = shape.tail
  return table.concat(out)
end

-- Apply the changes to the stored CREATE TABLE text of the table.
-- Returns the edited shape and the names of the dropped columns.
--   ctx.check_depends(defs, clause, dropped) -> does this CHECK clause,
--   over the column definitions defs, use a dropped column?
local function edit_table(ctx, sql, changes)
  local d, log, opname = ctx.d, ctx.log, ctx.opname
  local NULL = require("luamig.dialect.common").NULL
  local shape = parse_table(sql)
  local parts = shape.parts
  for _, p in ipairs(parts) do p.info = classify(p) end
  local function new_part(text)
    local p = {text = text, sep = ", "}
    p.info = classify(p)
    return p
  end
  local function column_index(name)
    for i, p in ipairs(parts) do if same_name(p.info.column, name) then return i, p end end
  end
  local function insert_column(p, before, after)
    local pos = 1
    for i, q in ipairs(parts) do if q.info.column then pos = i + 1 end end
    if before then pos = column_index(before) elseif after then pos = column_index(after) + 1 end
    table.insert(parts, pos, p)
  end
  local function edit_column(name, fn)
    local _, p = column_index(name)
    local col = column_segments(p.text)
    fn(col)
    p.text = column_text(col)
    p.info = classify(p)
  end
  local function without(segs, pred)
    local kept = {}
    for _, s in ipairs(segs) do if not pred(s) then kept[#kept + 1] = s end end
    return kept
  end
  local function not_null(name)
    edit_column(name, function(col)
      for _, s in ipairs(col.segs) do if s.kw == "NOT" then return end end
      col.segs[#col.segs + 1] = {kw = "NOT", text = "NOT NULL"}
    end)
  end
  local function add_constraint(kind, c)
    if kind == "primary" then for _, cn in ipairs(c.columns) do not_null(cn) end end
    parts[#parts + 1] = new_part(d.constraint_sql(kind, c))
  end

  local dropped = {}
  for _, ch in ipairs(changes) do
    if ch.kind == "add_column" then
      insert_column(new_part(d.column_sql(ch.column)), ch.opts.insert_before, ch.opts.insert_after)
      add_column_constraints(ch.extra, add_constraint)
    elseif ch.kind == "drop_column" then
      local i = column_index(ch.name)
      table.remove(parts, i)
      dropped[#dropped + 1] = ch.name
      for j = #parts, 1, -1 do
        local info = parts[j].info
        if info.columns then
          for _, cn in ipairs(info.columns) do
            if same_name(cn, ch.name) then
              log("info", ('%s: %s goes with column "%s"'):format(opname,
                describe_constraint(info.constraint, info.name, "(" .. table.concat(info.columns, ", ") .. ")"), ch.name))
              table.remove(parts, j)
              break
            end
          end
        end
      end
    elseif ch.kind == "alter_column" then
      if ch.nullable == false then not_null(ch.name) end
      edit_column(ch.name, function(col)
        if ch.type then col.head = col.name_text .. " " .. d.type_sql(ch.type) end
        if ch.nullable == true then
          col.segs = without(col.segs, function(s) return s.kw == "NOT" end)
        end
        if ch.default ~= nil then
          col.segs = without(col.segs, function(s) return s.kw == "DEFAULT" end)
          if ch.default ~= NULL then col.segs[#col.segs + 1] = {kw = "DEFAULT", text = "DEFAULT " .. ch.default} end
        end
      end)
      if ch.insert_before or ch.insert_after then
        local p = table.remove(parts, (column_index(ch.name)))
        insert_column(p, ch.insert_before, ch.insert_after)
      end
    elseif ch.kind == "add_constraint" then
      add_constraint(ch.ctype, ch.constraint)
    elseif ch.kind == "drop_constraint" then
      local done = false
      for j, p in ipairs(parts) do
        if p.info.constraint and p.info.name == ch.name then table.remove(parts, j); done = true; break end
      end
      if not done then
        for _, p in ipairs(parts) do
          if p.info.column and not done then
            local col = column_segments(p.text)
            for _, s in ipairs(col.segs) do
              if s.name == ch.name then
                done = true
                col.segs = without(col.segs, function(x) return x == s end)
                p.text = column_text(col)
                p.info = classify(p)
                break
              end
            end
          end
        end
      end
    end
  end

  -- CHECK clauses, on the table or on a column, that use a dropped column
  if #dropped > 0 then
    local defs = {}
    for _, p in ipairs(parts) do
      if p.info.column then
        local col = column_segments(p.text)
        col.segs = without(col.segs, function(s) return s.kw == "CHECK" end)
        defs[#defs + 1] = column_text(col)
      end
    end
    defs = table.concat(defs, ", ")
    local function gone(clause, name)
      local by = ctx.check_depends(defs, clause, dropped)
      if by then
        log("info", ('%s: %s goes with column "%s"'):format(opname, describe_constraint("CHECK", name, clause), by))
      end
      return by
    end
    for j = #parts, 1, -1 do
      local p = parts[j]
      if p.info.constraint == "CHECK" then
        if gone(p.text, p.info.name) then table.remove(parts, j) end
      elseif p.info.column then
        local col = column_segments(p.text)
        local n = #col.segs
        col.segs = without(col.segs, function(s) return s.kw == "CHECK" and gone(s.text, s.name) end)
        if #col.segs ~= n then p.text = column_text(col); p.info = classify(p) end
      end
    end
  end
  if #parts == 0 or not parts[1].info.column then
    ctx.raise(('%s: table "%s" would have no columns left'):format(opname, ctx.table))
  end
  return shape, dropped
end

return {
  parse_table = parse_table,
  classify = classify,
  column_segments = column_segments,
  column_text = column_text,
  render_table = render_table,
  edit_table = edit_table,
}
