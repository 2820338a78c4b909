-- luamig.lint.comments -- the Lua comments of a script's text, so that
-- lint markers count only in real comments (outside attack C, L5): not in
-- strings. comments(text) -> {[line] = text after "--" of the line comment
-- that starts on that line}, {[line] = true for a line where a --[[ ]]
-- block comment starts}.
local M = {}

local function long_end(text, i)   -- i at "[": the level of a long bracket, or nil
  local eq = text:match("^%[(=*)%[", i)
  return eq
end

function M.comments(text)
  local line_c, block = {}, {}
  local i, n, line = 1, #text, 1
  while i <= n do
    i = text:find("[\n%-\"'%[]", i)              -- the next character that can matter
    if not i then break end
    local c = text:sub(i, i)
    if c == "\n" then
      line = line + 1; i = i + 1
    elseif c == "-" and text:sub(i + 1, i + 1) == "-" then
      local eq = text:sub(i + 2, i + 2) == "[" and long_end(text, i + 2)
      if eq then                                   -- block comment
        local close = "]" .. eq .. "]"
        local s, e = text:find(close, i + 4 + #eq, true)
        e = e or n
        block[line] = text:sub(i, e)
        for _ in text:sub(i, e):gmatch("\n") do line = line + 1 end
        i = e + 1
      else
        local e = text:find("\n", i, true) or n + 1
        line_c[line] = text:sub(i + 2, e - 1)
        i = e
      end
    elseif c == '"' or c == "'" then
      local j = i + 1
      local stop = c == '"' and '[\\\n"]' or "[\\\n']"
      while j <= n do
        j = text:find(stop, j) or n + 1               -- a backslash, a line end or the quote
        local d = text:sub(j, j)
        if d == "\\" then
          if text:sub(j + 1, j + 1) == "\n" then line = line + 1 end
          j = j + 2
        elseif d == c or d == "\n" then break
        else j = j + 1 end
      end
      i = j + 1
    elseif c == "[" and long_end(text, i) then        -- long string
      local eq = long_end(text, i)
      local close = "]" .. eq .. "]"
      local _, e = text:find(close, i + 2 + #eq, true)
      e = e or n
      for _ in text:sub(i, e):gmatch("\n") do line = line + 1 end
      i = e + 1
    else
      i = i + 1
    end
  end
  return line_c, block
end

return M
