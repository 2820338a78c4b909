-- luamig.graph_draw -- the revision graph as a picture: the terminal
-- drawing of `history --graph` (lanes of `*`, `|`, `/`, `\`, as `git log
-- --graph` draws commits) and the Graphviz text of `history --dot`.
--
-- Pure functions from graph data to lines: no database, no files. A node:
--   { id = "3f2a9c1d8e7b", parents = {ids}, depends_on = {as written},
--     dependencies = {resolved ids}, labels = {names}, message = s | nil,
--     head = bool, effective_head = bool, current = bool,
--     text = nil | {lines} (replaces the one-line text: history -v) }
-- The nodes come newest first in a topological order (every revision
-- before its parents: what `history` lists). Parents and dependencies not
-- among the nodes (outside a -r range) are not drawn.
--
-- The drawing keeps a list of lanes, each waiting for one revision. A
-- revision takes the lane waiting for it (a new head gets a new lane at the
-- right); its first parent takes over its lane, further parents (a merge)
-- get new lanes right of it; a base ends its lane. Two lanes waiting for the
-- same revision (a branch point below) are joined, one per row, the right
-- one folding into the left one with `/` (and `_` over lanes in between).
-- Column k of a row is character 2k; odd characters carry the diagonals.
local M = {}

local PALETTE = {"31", "32", "33", "34", "35", "36"}      -- git's column colours
local ESC = "\27["
local NONE = {}

local function paint(s, code, color)
  if not color or not code then return s end
  return ESC .. code .. "m" .. s .. ESC .. "m"
end

-- A row under construction: characters and their colour codes by position.
local function new_row() return {chars = {}, codes = {}, width = 0} end

local function put(row, x, ch, code)
  row.chars[x + 1] = ch
  row.codes[x + 1] = code
  if x + 1 > row.width then row.width = x + 1 end
end

-- The row as text: spaces where nothing was put, padded to pad characters
-- (when given) and followed by text, else with no trailing space.
local function render(row, color, pad, text)
  local out, chars, codes = {}, row.chars, row.codes
  local width = row.width
  if pad and pad > width then width = pad end
  for i = 1, width do
    local ch = chars[i] or " "
    out[i] = (color and codes[i] and ch ~= " ") and paint(ch, codes[i], true) or ch
  end
  local s = table.concat(out)
  if text and text ~= "" then return s .. " " .. text end
  return (s:gsub(" +$", ""))
end

-- The one line of text beside a revision's `*`.
local function one_line(node, color)
  local message = node.message and node.message:match("^[^\n]*") or ""
  if not color and #(node.labels or NONE) == 0 and not node.current and not node.effective_head
     and #(node.depends_on or NONE) == 0 then             -- the common line, in one concatenation
    return node.id .. (node.head and " (head)" or "") .. (message ~= "" and " " .. message or "")
  end
  local parts = {paint(node.id, "33", color)}
  if node.labels and #node.labels > 0 then
    parts[#parts + 1] = paint("(" .. table.concat(node.labels, ", ") .. ")", "1;35", color)
  end
  if node.head then parts[#parts + 1] = paint("(head)", "1;32", color) end
  if node.effective_head then parts[#parts + 1] = paint("(effective head)", "1;32", color) end
  if node.current then parts[#parts + 1] = paint("(current)", "1;36", color) end
  if message ~= "" then parts[#parts + 1] = message end
  if node.depends_on and #node.depends_on > 0 then
    parts[#parts + 1] = "(depends on " .. table.concat(node.depends_on, ", ") .. ")"
  end
  return table.concat(parts, " ")
end

-- The terminal drawing. opts.color: ANSI colours. Returns a list of lines.
function M.lines(nodes, opts)
  local color = opts and opts.color
  local shown = {}
  for _, node in ipairs(nodes) do shown[node.id] = true end
  local lanes, codes = {}, {}          -- lane k waits for lanes[k], drawn in codes[k]
  local next_code = 0
  local function fresh_code()
    next_code = next_code % #PALETTE + 1
    return PALETTE[next_code]
  end
  local pipe = setmetatable({}, {__index = function(t, code)  -- "|" painted per lane colour
    local v = paint("|", code, color)
    t[code] = v
    return v
  end})
  local seg = {}                       -- a commit row's cells, reused
  local out = {}
  local pending = {}                   -- text lines of the last revision not yet printed
  local pi = 1
  -- Emits a row, beside the next pending text line if any.
  local function emit(row, lane_count)
    local text = pending[pi]
    if text then
      pi = pi + 1
      out[#out + 1] = render(row, color, math.max(1, 2 * lane_count - 1), text)
    else
      out[#out + 1] = render(row, color)
    end
  end
  local function straight_row(skip)
    local row = new_row()
    for k = 1, #lanes do
      if k ~= skip then put(row, 2 * (k - 1), "|", codes[k]) end
    end
    return row
  end

  for index, node in ipairs(nodes) do
    local id = node.id
    local c
    for k = 1, #lanes do
      if lanes[k] == id then c = k break end
    end
    if not c then                      -- a head: a new lane at the right
      c = #lanes + 1
      lanes[c], codes[c] = id, fresh_code()
    end
    local parents = node.parents or NONE
    for i = 1, #parents do
      if not shown[parents[i]] then     -- outside a -r range: not drawn
        local kept = {}
        for _, p in ipairs(parents) do if shown[p] then kept[#kept + 1] = p end end
        parents = kept
        break
      end
    end
    local np, n = #parents, #lanes
    local extra = np > 2 and 2 * (np - 2) or 0          -- the "-." stretch of an octopus merge

    -- An octopus merge's "-." stretch needs room: the lanes right of it move
    -- right first, one column per row (git's pre-commit rows).
    for i = 1, extra > 0 and np - 2 or 0 do
      if c == n then break end
      local row = new_row()
      for k = 1, c do put(row, 2 * (k - 1), "|", codes[k]) end
      for k = c + 1, n do put(row, 2 * (k - 1) + 2 * (i - 1) + 1, "\\", codes[k]) end
      emit(row, n + i)
    end

    -- The revision's row: `*` in its lane. The common rows (no octopus)
    -- are made from whole strings: this is the loop 10,000 revisions run.
    local after = n - 1 + np
    local text_lines = node.text or {one_line(node, color)}
    if extra == 0 then
      for k = 1, n do seg[k] = k == c and "*" or pipe[codes[k]] end
      local s = table.concat(seg, " ", 1, n)
      if after > n then s = s .. ("  "):rep(after - n) end
      out[#out + 1] = text_lines[1] ~= "" and (s .. " " .. text_lines[1]) or s
      pending, pi = text_lines, 2
    else
      local row = new_row()
      for k = 1, n do
        if k < c then put(row, 2 * (k - 1), "|", codes[k])
        elseif k > c then put(row, 2 * (k - 1) + extra, "|", codes[k]) end
      end
      put(row, 2 * (c - 1), "*")
      for x = 1, extra do put(row, 2 * (c - 1) + x, x == extra and "." or "-", codes[c]) end
      pending, pi = text_lines, 1
      emit(row, math.max(n, after))
    end

    -- The lanes after it: its parents in place of its lane.
    local joined = false               -- whether two lanes may now wait for one revision
    if np == 1 then
      lanes[c] = parents[1]
      for k = 1, n do
        if k ~= c and lanes[k] == parents[1] then joined = true break end
      end
    elseif np >= 2 then                -- a merge: `\` to each further parent's lane
      local new_lanes, new_codes = {}, {}
      for k = 1, c - 1 do new_lanes[k], new_codes[k] = lanes[k], codes[k] end
      for i, p in ipairs(parents) do
        new_lanes[#new_lanes + 1] = p
        new_codes[#new_codes + 1] = i == 1 and codes[c] or fresh_code()
      end
      for k = c + 1, n do new_lanes[#new_lanes + 1], new_codes[#new_codes + 1] = lanes[k], codes[k] end
      local row = new_row()
      for k = 1, c do put(row, 2 * (k - 1), "|", new_codes[k]) end
      for i = 2, np do put(row, 2 * (c - 1) + 2 * (i - 1) - 1, "\\", new_codes[c + i - 1]) end
      for k = c + 1, n do put(row, 2 * (k - 1) + extra + 1, "\\", codes[k]) end
      lanes, codes = new_lanes, new_codes
      emit(row, #lanes)
      joined = true
    else                               -- a base: its lane ends; lanes right of it move left
      if c < n then
        local row = new_row()
        for k = 1, c - 1 do put(row, 2 * (k - 1), "|", codes[k]) end
        for k = c + 1, n do put(row, 2 * (k - 1) - 1, "/", codes[k]) end
        emit(row, n)
      end
      table.remove(lanes, c)
      table.remove(codes, c)
      -- A new head drawn next in the column this base just left would sit
      -- right under it, as if it were its parent: a row between them.
      local following = nodes[index + 1]
      if following and c == n and pending[pi] == nil then
        local waiting = false
        for k = 1, #lanes do waiting = waiting or lanes[k] == following.id end
        if not waiting then emit(straight_row(), #lanes) end
      end
    end

    -- Join lanes waiting for the same revision, the leftmost pair first.
    while joined do
      local first, i, j = {}, nil, nil
      for k = 1, #lanes do
        local at = first[lanes[k]]
        if at then i, j = at, k break end
        first[lanes[k]] = k
      end
      if not j then break end
      local row = new_row()
      for k = 1, #lanes do
        if k < j then put(row, 2 * (k - 1), "|", codes[k])
        elseif k > j then put(row, 2 * (k - 1) - 1, "/", codes[k]) end
      end
      put(row, 2 * (j - 1) - 1, "/", codes[j])
      for x = 2 * (i - 1) + 1, 2 * (j - 1) - 3, 2 do put(row, x, "_", codes[j]) end
      local count = #lanes
      table.remove(lanes, j)
      table.remove(codes, j)
      emit(row, count)
    end

    -- Text lines left over (history -v): beside the lanes as they are.
    while pending[pi] do emit(straight_row(), #lanes) end
  end
  return out
end

-- A DOT string literal: quotes and backslashes escaped, newlines as \n,
-- other control characters (a NUL ends Graphviz's string) as "?".
local function dot_string(s)
  s = s:gsub('[\\"]', "\\%0"):gsub("\r?\n", "\\n"):gsub("%c", "?")
  return '"' .. s .. '"'
end

-- The Graphviz drawing (`dot -Tsvg`): bases at the bottom, an arrow from
-- each parent up to its child, dotted arrows for depends_on; heads drawn
-- bold, the database's revisions filled. Returns a list of lines.
function M.dot(nodes, opts)
  local name = opts and opts.name or "luamig"
  local shown = {}
  for _, node in ipairs(nodes) do shown[node.id] = true end
  local out = {
    "digraph " .. dot_string(name) .. " {",
    "  rankdir=BT;",
    '  node [shape=box, style=rounded, fontname="monospace"];',
    '  edge [arrowsize=0.7];',
  }
  for _, node in ipairs(nodes) do
    local first = {node.id}
    if node.labels and #node.labels > 0 then first[#first + 1] = "(" .. table.concat(node.labels, ", ") .. ")" end
    if node.head then first[#first + 1] = "(head)" end
    if node.effective_head then first[#first + 1] = "(effective head)" end
    if node.current then first[#first + 1] = "(current)" end
    local label = table.concat(first, " ")
    if node.message and node.message ~= "" then label = label .. "\n" .. node.message end
    local attrs = {"label=" .. dot_string(label)}
    if node.head or node.effective_head then attrs[#attrs + 1] = "penwidth=2" end
    if node.current then
      attrs[#attrs + 1] = 'style="rounded,filled"'
      attrs[#attrs + 1] = 'fillcolor="lightblue"'
    end
    out[#out + 1] = ("  %s [%s];"):format(dot_string(node.id), table.concat(attrs, ", "))
  end
  for _, node in ipairs(nodes) do
    for _, p in ipairs(node.parents or {}) do
      if shown[p] then out[#out + 1] = ("  %s -> %s;"):format(dot_string(p), dot_string(node.id)) end
    end
    for _, d in ipairs(node.dependencies or {}) do
      if shown[d] then
        out[#out + 1] = ('  %s -> %s [style=dotted, tooltip="depends on"];')
          :format(dot_string(d), dot_string(node.id))
      end
    end
  end
  out[#out + 1] = "}"
  return out
end

return M
