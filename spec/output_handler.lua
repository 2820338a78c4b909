-- A busted output handler: a dot per passing spec, each failure and error
-- in full at the end, then the counts. The base handler keeps the books;
-- this one writes "passed failed postgresql_passed" to the file named by
-- LUAMIG_SPEC_SUMMARY, from which spec/run prints the closing line.
return function(options)
  local busted = require "busted"
  local handler = require("busted.outputHandlers.base")()
  local column = 0

  local function out(s)
    io.stdout:write(s)
    io.stdout:flush()
  end

  local function mark(c)
    out(c)
    column = column + 1
    if column >= 72 then out("\n") column = 0 end
  end

  local function describe_failure(kind, f)
    local trace = f.trace or {}
    local where = trace.short_src and (trace.short_src .. ":" .. tostring(trace.currentline)) or ""
    local message = f.message
    if type(message) ~= "string" then message = tostring(message) end
    return ("%s: %s\n  %s\n  %s\n"):format(kind, f.name or "?", where, message or "")
  end

  handler.testEnd = function(element, parent, status)
    mark(status == "success" and "." or status == "pending" and "p" or
         status == "failure" and "F" or "E")
    return nil, true
  end

  handler.fileError = function()
    mark("E")
    return nil, true
  end

  handler.suiteEnd = function()
    out("\n")
    for _, f in ipairs(handler.failures) do out("\n" .. describe_failure("FAIL", f)) end
    for _, f in ipairs(handler.errors) do out("\n" .. describe_failure("ERROR", f)) end
    local pg = 0
    for _, s in ipairs(handler.successes) do
      if s.name:find("[postgresql]", 1, true) then pg = pg + 1 end
    end
    local passed = handler.successesCount
    local failed = handler.failuresCount + handler.errorsCount
    out(("busted: %d passed, %d failed, %d pending (%d on PostgreSQL) in %.1f s\n")
        :format(passed, failed, handler.pendingsCount, pg, handler.getDuration()))
    local path = os.getenv("LUAMIG_SPEC_SUMMARY")
    if path then
      local f = assert(io.open(path, "w"))
      f:write(("%d %d %d\n"):format(passed, failed, pg))
      f:close()
    end
    return nil, true
  end

  busted.subscribe({"test", "end"}, handler.testEnd, {predicate = handler.cancelOnPending})
  busted.subscribe({"error", "file"}, handler.fileError)
  busted.subscribe({"error", "describe"}, handler.fileError)
  busted.subscribe({"suite", "end"}, handler.suiteEnd)
  return handler
end
