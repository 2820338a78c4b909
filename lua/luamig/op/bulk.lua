-- luamig.op.bulk -- op.bulk_insert: rows from a Lua list or an iterator,
-- in constant memory.
--
-- Online the rows go straight to the C hot path, conn:bulk_insert (one
-- prepared INSERT re-bound per row on SQLite, COPY FROM STDIN on
-- PostgreSQL), which checks each value against its column's kind (the
-- third field of accepts; value_kind.c): an unknown column, a value that
-- cannot be stored, or a value of the wrong kind for the column's type (a
-- non-numeric string for an integer column, which SQLite's dynamic typing
-- would accept) fails the step naming the row number, with the message
-- explain() gives. Offline the rows are checked here and rendered: one
-- INSERT per row on SQLite, a COPY block on PostgreSQL.
--
-- The columns are opts.columns, else those of the first row (in the
-- table's column order); a later row may leave some out (NULL), but not add
-- others.
local core = require "luamig.core"
local introspect = require "luamig.introspect"
local common = require "luamig.dialect.common"

local M = {}

local type = type

-- What each generic type accepts: a check on the Lua value, what it
-- expects (for messages), and the check's kind name in C (value_kind.h).
-- The rule is the C core's (core.value_fits, value_kind.c's): NaN fits
-- none (SQLite would store NULL where PostgreSQL keeps NaN); a string of an
-- integer must fit 64 bits, and one of a number a double (no overflow to an
-- infinity, no non-zero value read as 0): SQLite would store a rounded
-- REAL, Inf or 0 where PostgreSQL refuses it.
local value_fits = core.value_fits
local function fits(kind) return function(v) return value_fits(kind, v) end end
local int_ok, num_ok, bool_ok = fits("integer"), fits("number"), fits("boolean")
local text_ok, string_ok, binary_ok = fits("text"), fits("string"), fits("binary")
local is_binary = common.is_binary

-- Why a string written as a number is out of range for an integer or a
-- number column (core.value_fits says "range" for it): bulk_insert's message.
local out_of_range = {
  integer = "an integer must be between -9223372036854775808 and 9223372036854775807 "
         .. "(SQLite would store a rounded REAL)",
  number = "it is beyond a double's range (SQLite would store Inf or 0)",
}

local integer = {int_ok, "an integer", "integer"}
local number = {num_ok, "a number", "number"}
local text = {text_ok, "a string", "text"}
local string_ = {string_ok, "a string", "string"}
local accepts = {
  integer = integer, bigint = integer, smallint = integer,
  float = number, double = number, numeric = number,
  boolean = {bool_ok, "a boolean", "boolean"},
  string = text, text = text,
  date = string_, time = string_, timestamp = string_, timestamptz = string_, uuid = string_,
  json = string_, binary = {binary_ok, "a string of bytes", "binary"},
}
-- The databases' own spellings of the same kinds (a column declared
-- "bytea" or "BLOB" holds bytes as surely as one declared "binary"), matched
-- without regard to case and to arguments ("VARCHAR(20)", "INT8").
local native_kinds = {
  bytea = "binary", blob = "binary",
  int = "integer", int2 = "integer", int4 = "integer", int8 = "integer", tinyint = "integer",
  mediumint = "integer", serial = "integer", bigserial = "integer", smallserial = "integer",
  real = "float", float4 = "float", float8 = "double", ["double precision"] = "double",
  decimal = "numeric", bool = "boolean",
  varchar = "text", char = "text", character = "text", ["character varying"] = "text",
  nchar = "text", nvarchar = "text", clob = "text", jsonb = "json",
}

-- The text a number is stored as in a text column, the same online and
-- offline, on both databases (value_kind.c's lm_number_text).
local number_text = core.number_text

local function show(v)
  if is_binary(v) then return tostring(v) end
  if type(v) == "string" then return ("%q"):format(#v > 30 and v:sub(1, 30) .. "..." or v) end
  return tostring(v)
end

local function hex_literal(v)
  return "X'" .. common.hex(v):upper() .. "'"
end

function M.make(ctx)
  local conn, d, raise, emit = ctx.conn, ctx.d, ctx.raise, ctx.emit
  local warned = {}   -- tables whose unknown types were told once
  ctx.register(M)

  return function(tbl, rows, opts)
    local tname, model
    if type(tbl) == "string" and tbl ~= "" then
      tname = tbl
    elseif type(tbl) == "table" and type(tbl.name) == "string" and type(tbl.columns) == "table" then
      tname, model = tbl.name, tbl
    else
      ctx.check_arg("bulk_insert", 1, "table", tbl, "name")
    end
    if type(rows) ~= "table" and type(rows) ~= "function" then
      raise(("bulk_insert: argument 2 (rows) must be a list of rows or an iterator function, got %s"):format(
        math.type(rows) or type(rows)))
    end
    local o = ctx.check_options(opts, 3)
    local next_row = rows
    if type(rows) == "table" then
      local i = 0
      next_row = function() i = i + 1; return rows[i] end
    end

    if conn then model = introspect.table(conn, tname) end
    if not conn and not model and ctx.known then model = ctx.known[tname] end
    if conn and not model then raise(('bulk_insert: table "%s" does not exist'):format(tname)) end
    if not conn and not model and not warned[tname] then
      -- online reads the types from the database; offline has only what
      -- this run made or the script declares
      warned[tname] = true
      ctx.log("warning", ('bulk_insert: the column types of table "%s" are unknown offline (the run '
        .. "did not create it): its string values are written as text, which a binary column reads "
        .. "differently than online; declare the types by passing op.table(\"%s\", {{\"column\", "
        .. "\"type\"}, ...}) or the table's model in place of the name, or wrap bytes in "
        .. "op.binary(s)"):format(tname, tname))
    end
    -- by the name the database keeps: on PostgreSQL a column written with
    -- more than 63 bytes is the one named by its first 63
    local stored = d.stored_name
    local function by_stored(t, k) return type(k) == "string" and rawget(t, stored(k)) or nil end
    local types = setmetatable({}, {__index = by_stored})
    local order = setmetatable({}, {__index = by_stored})
    if model then
      for i, c in ipairs(model.columns) do types[c.name] = c.type; order[c.name] = i end
    end

    local first = next_row()
    if first == nil then                              -- nothing to load: progress still hears 0 of 0
      if conn and ctx.progress then ctx.progress(0, type(rows) == "table" and 0 or nil, tname) end
      return 0
    end
    if type(first) ~= "table" then raise(("bulk_insert: row 1 is a %s, not a table"):format(type(first))) end
    local columns
    if o.columns then
      columns = type(o.columns) == "string" and {o.columns} or o.columns
    else
      columns = {}
      for k in next, first do                       -- its own keys, as the C core reads rows
        if type(k) ~= "string" then
          raise(("bulk_insert: row 1: key %s is not a column name"):format(show(k)))
        end
        columns[#columns + 1] = k
      end
      if #columns == 0 then
        raise("bulk_insert: row 1 has no keys of its own, so no columns: the first row's keys are "
          .. "the columns unless opts.columns names them (a row whose fields come from a "
          .. "metatable's __index needs opts.columns)")
      end
      table.sort(columns, function(a, b)
        local ia, ib = order[a] or math.huge, order[b] or math.huge
        if ia ~= ib then return ia < ib end
        return a < b
      end)
    end
    local chosen = {}
    for _, c in ipairs(columns) do
      if model and not types[c] then raise(('bulk_insert: table "%s" has no column "%s"'):format(tname, c)) end
      chosen[c] = true
    end

    -- Each column's check: the Lua predicate (offline rows, and explain) and
    -- its name for C (online rows).
    local function bindable(v)
      local tv = type(v)
      return tv == "boolean" or tv == "number" or tv == "string" or is_binary(v)
    end
    local function storable(v) return value_fits("any", v) end
    -- a column's generic type with its arguments ("string(50)", "numeric(30,20)")
    -- takes what its base takes
    local function accepts_of(t)
      if type(t) ~= "string" then return nil end
      local generic = common.split_type(t)
      if generic then return accepts[generic] end
      local base = t:lower():gsub("%b()", ""):match("^%s*(.-)%s*$")
      return accepts[base] or accepts[native_kinds[base]]
    end
    local check_of, kinds = {}, {}
    for i, c in ipairs(columns) do
      local acc = model and accepts_of(types[c])
      check_of[c] = acc and acc[1] or storable
      kinds[i] = acc and acc[3] or "any"
    end

    -- A row's values as the C core reads them online: its own keys (raw, as next gives them),
    -- then, for a row with a metatable, each column its own keys do not give, through __index.
    local function plain_of(row)
      if getmetatable(row) == nil then return row end
      local plain = {}
      for k, v in next, row do plain[k] = v end
      for _, c in ipairs(columns) do
        if rawget(row, c) == nil then plain[c] = row[c] end
      end
      return plain
    end
    local function values_of(row) return next, plain_of(row), nil end

    -- Why row n failed: the message for the first bad value.
    local function explain(row, n)
      if type(row) ~= "table" then raise(("bulk_insert: row %d is a %s, not a table"):format(n, type(row))) end
      for k, v in values_of(row) do
        if not chosen[k] then
          if model and types[k] == nil then
            raise(('bulk_insert: row %d: table "%s" has no column %s'):format(n, tname, show(k)))
          end
          raise(("bulk_insert: row %d: column %s is not among the columns of the first row "
                 .. "(give them all with opts.columns)"):format(n, show(k)))
        end
        if not bindable(v) then
          raise(('bulk_insert: row %d, column "%s": a %s cannot be inserted '
                 .. "(use nil, a boolean, a number or a string)"):format(n, k, type(v)))
        end
        if v ~= v then
          raise(('bulk_insert: row %d, column "%s": NaN cannot be inserted '
                 .. "(SQLite would store NULL, PostgreSQL NaN): use nil for no value"):format(n, k))
        end
        local acc = model and accepts_of(types[k]) or nil
        if acc and not acc[1](v) then
          local _, misfit = value_fits(acc[3], v)
          if misfit == "range" and out_of_range[acc[3]] then
            raise(('bulk_insert: row %d, column "%s": %s is out of range for the column (%s): %s'):format(
              n, k, show(v), types[k], out_of_range[acc[3]]))
          end
          raise(('bulk_insert: row %d, column "%s": wrong type for the column (%s): expected %s, got %s %s'):format(
            n, k, types[k], acc[2], math.type(v) or type(v), show(v)))
        end
      end
    end

    local function check_row(row, n)
      if type(row) ~= "table" then return explain(row, n) end
      for k, v in next, row do
        local ok = check_of[k]
        if not ok or not ok(v) then return explain(row, n) end
      end
    end

    -- offline: each row checked and rendered from the values read once (a row with a
    -- metatable as a plain copy, so that an __index giving another value each time is
    -- rendered as it was checked)
    local n = 0
    local function checked()
      local row
      if n == 0 then row = first else row = next_row() end
      if row == nil then return nil end
      n = n + 1
      if type(row) == "table" then row = plain_of(row) end
      check_row(row, n)
      return row
    end

    if conn then
      -- progress(rows_done, total, table): 0 at the start, every 10,000 rows
      -- (the C core's count), and the final count at the end; total is the
      -- list's length, nil for an iterator
      local progress, report, reported = ctx.progress, nil, nil
      local total = type(rows) == "table" and #rows or nil
      if progress then
        report = function(done) reported = done; progress(done, total, tname) end
        report(0)
      end
      -- a list goes as it is; an iterator's first row was taken above
      local count = conn:bulk_insert(tname, columns, rows, {first = type(rows) == "function" and first or nil,
        kinds = kinds, explain = explain, progress = report})
      if report and reported ~= count then report(count) end
      return count
    end

    -- offline: which columns take bytes, and which take numbers as text
    local binary, text = {}, {}
    for i in ipairs(columns) do
      binary[i], text[i] = kinds[i] == "binary", kinds[i] == "text"
    end
    if d.name == "postgresql" then
      -- as online (db_pg.c): in a step's transaction the load runs in a savepoint, and
      -- outside one in a transaction of its own (online the COPY is atomic by itself), so
      -- that a load failing part-way that the migration catches ends its COPY block and
      -- leaves none of its rows. Without a luamig run (an embedder's op.new) the caller
      -- owns the transactions: the block is written alone.
      local in_step = core.step_in_transaction()
      local wrap = (ctx.autocommit or in_step == false) and {"BEGIN", "COMMIT", {"ROLLBACK"}}
        or in_step and {"SAVEPOINT luamig_bulk", "RELEASE SAVEPOINT luamig_bulk",
                        {"ROLLBACK TO SAVEPOINT luamig_bulk", "RELEASE SAVEPOINT luamig_bulk"}}
      if wrap then emit(wrap[1], "statement") end
      emit(("COPY %s (%s) FROM stdin;\n"):format(d.ident(tname), d.idents(columns)), "copy")
      -- each row as the online COPY sends it (core.copy_text: db_pg.c's encoder)
      local buf, ncols = {}, #columns
      local loaded, err = pcall(function()
        for row in checked do
          local fields = {n = ncols}
          for i, c in ipairs(columns) do fields[i] = row[c] end
          local line, bad = core.copy_text(fields, kinds)
          if not line then
            raise(('bulk_insert: row %d, column "%s": a string with a NUL byte cannot be copied into '
              .. "PostgreSQL as text: for bytes use op.binary(s)"):format(n, columns[bad]))
          end
          buf[#buf + 1] = line
          if #buf >= 1000 then emit(table.concat(buf), "copy"); buf = {} end
        end
      end)
      if loaded and #buf > 0 then emit(table.concat(buf), "copy") end
      emit("\\.\n", "copy")
      if not loaded then
        for _, sql in ipairs(wrap and wrap[3] or {}) do emit(sql, "statement") end
        error(err, 0)
      end
      if wrap then emit(wrap[2], "statement") end
    else
      -- as online (db_sqlite.c): in a savepoint, so that a load failing part-way that the
      -- migration catches leaves none of its rows in the script's database either
      local head = ("INSERT INTO %s (%s) VALUES ("):format(d.ident(tname), d.idents(columns))
      emit("SAVEPOINT luamig_bulk", "statement")
      local loaded, err = pcall(function()
        for row in checked do
          local vals = {}
          for i, c in ipairs(columns) do
            local v = row[c]
            if is_binary(v) then vals[i] = hex_literal(v.bytes)
            elseif binary[i] and type(v) == "string" then vals[i] = hex_literal(v)
            elseif text[i] and type(v) == "number" then vals[i] = d.literal(number_text(v))
            elseif v == math.huge or v == -math.huge then
              vals[i] = v > 0 and "9e999" or "-9e999"   -- SQLite reads an overflow as Inf (as .dump writes it)
            else
              local ok, lit = pcall(d.literal, v)
              if not ok then raise(('bulk_insert: row %d, column "%s": %s'):format(n, c, lit)) end
              vals[i] = lit
            end
          end
          emit(head .. table.concat(vals, ", ") .. ")", "statement")
        end
      end)
      if not loaded then
        emit("ROLLBACK TO luamig_bulk", "statement")
        emit("RELEASE luamig_bulk", "statement")
        error(err, 0)
      end
      emit("RELEASE luamig_bulk", "statement")
    end
    return n
  end
end

M.accepts = accepts         -- generic type -> {check, what it expects}

return M
