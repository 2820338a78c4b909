-- luamig.op.offline -- what --sql (offline) mode knows of the tables a run
-- has made: their models (so that a later step can rebuild a SQLite table
-- without reading it), and what op.execute did that those models cannot
-- follow (so that such a rebuild is refused rather than wrong).
local sqltext = require "luamig.sqltext"
local check = require "luamig.op.check"
local copy = require("luamig.op.sqlite_model").copy
check.mark_internal()
local raise, caller_line = check.raise, check.caller_line

local M = {}

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

-- Give an offline op context its run's store: ctx.known (name -> table
-- model, for the tables this run has made) and ctx.raw_seen.
function M.attach(ctx, cfg)
  local known = cfg.offline_schema or offline_models[ctx.emit] or {}
  offline_models[ctx.emit] = known
  local raw_seen = offline_raw[known] or {names = {}, words = {}}
  offline_raw[known] = raw_seen
  ctx.known, ctx.raw_seen = known, raw_seen
end

-- Offline: note what an op.execute may have done to the tables the run
-- has models of. Statements that only read or write rows change no
-- table; DROP INDEX and DROP TABLE are followed; anything else (ALTER,
-- CREATE INDEX/TRIGGER/VIEW, DDL luamig does not know) marks every known
-- table it names, anywhere in its text (a trigger body too), and a
-- statement of a kind luamig does not know naming none marks them all.
local function note_raw(ctx, sql)
  local toks = sqltext.tokens(sql, ctx.d.name)
  local firsts, start = {}, true
  local schema_write = false
  for _, t in ipairs(toks) do
    if sqltext.is(t, ";") then start = true
    elseif start then firsts[#firsts + 1] = {kw = sqltext.upper(t) or "", at = #firsts + 1}; start = false end
    if (t.k == "word" or t.k == "ident") and raw_schema_words[t.v:lower()] then schema_write = true end
  end
  local rec = {where = caller_line(), sql = sql}
  if schema_write then ctx.raw_seen.all = ctx.raw_seen.all or rec; return end
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
        for _, t in pairs(ctx.known) do
          for j = #(t.indexes or {}), 1, -1 do
            if t.indexes[j].name:lower() == name:lower() then table.remove(t.indexes, j) end
          end
        end
        return
      elseif what == "TABLE" then
        for tn in pairs(ctx.known) do if tn:lower() == name:lower() then ctx.known[tn] = nil end end
        return
      end
    end
  end
  local named = false
  for _, t in ipairs(toks) do
    if t.k == "word" or t.k == "ident" or t.k == "string" then
      local w = t.v:lower()
      ctx.raw_seen.words[w] = true
      for tn in pairs(ctx.known) do
        if tn:lower() == w then
          named = true
          ctx.raw_seen.names[w] = ctx.raw_seen.names[w] or rec
        end
      end
    end
  end
  if not named then
    local kinds = {CREATE = true, ALTER = true, DROP = true}
    for _, f in ipairs(firsts) do
      if not raw_harmless[f.kw] and not kinds[f.kw] then ctx.raw_seen.all = ctx.raw_seen.all or rec end
    end
  end
end

-- Offline: refuse to rebuild a table that an op.execute may have changed.
local function check_raw(ctx, opname, tname)
  local rec = ctx.raw_seen.names[tname:lower()] or ctx.raw_seen.all
  if not rec then return end
  local text = rec.sql:gsub("%s+", " "):gsub("^ ", "")
  if #text > 80 then text = text:sub(1, 77) .. "..." end
  raise(('%s: on SQLite this rebuilds table "%s" from what the operations of this run say it is, but '
    .. 'op.execute%s (%s) may have changed it or made objects on it that --sql (offline) mode cannot see, '
    .. "and the rebuild would lose them: run this migration online, or make that change with op calls "
    .. "(op.add_column, op.create_index, ...)"):format(opname, tname, rec.where and (" at " .. rec.where) or "", text))
end

-- Offline: is this name (any object's, any case) one the run may have made?
local function offline_taken(ctx, name)
  local l = name:lower()
  if ctx.raw_seen.words[l] then return true end
  for tn, t in pairs(ctx.known) do
    if tn:lower() == l then return true end
    for _, ix in ipairs(t.indexes or {}) do if ix.name and ix.name:lower() == l then return true end end
  end
  return false
end
local function forget_index(ctx, tname, name)
  if not ctx.known then return end
  for tn, t in pairs(ctx.known) do
    if tname == nil or tn == tname then
      for i, ix in ipairs(t.indexes or {}) do
        if ix.name == name then table.remove(t.indexes, i); return end
      end
    end
  end
end
local function remember_index(ctx, ix)
  local t = ctx.known and ctx.known[ix.table]
  if t then
    t.indexes = t.indexes or {}
    t.indexes[#t.indexes + 1] = copy(ix)
  end
end


M.note_raw = note_raw
M.check_raw = check_raw
M.taken = offline_taken
M.forget_index = forget_index
M.remember_index = remember_index

return M
