-- history --graph and --dot (issue 14, item 17): the revision graph drawn as
-- `git log --graph` draws commits, and in Graphviz's dot language. Small
-- graphs against exact drawings; a 1,000-revision graph against an
-- independent reading of the picture (every line traced from each `*` down to
-- the `*` it reaches must be a parent edge, and every parent edge a line), the
-- order of plain `history`, and the heads of `heads`; the database's revisions
-- marked on SQLite and PostgreSQL; colour only where asked or on a terminal.
local h = require "spec.helpers"

-- Alembic's reference graph (as in 08-cli_spec), a depends_on across lines.
local function G()
  return {
    {id = "aaaa1111", message = "create account table"},
    {id = "bbbb2222", down = "aaaa1111", message = "add a column"},
    {id = "cccc3333", down = "bbbb2222", message = "add another column"},
    {id = "dddd4444", down = "bbbb2222", message = "branch d"},
    {id = "eeee5555", down = {"dddd4444", "cccc3333"}, message = "merge c and d"},
    {id = "ffff6666", labels = {"networking"}, message = "networking root"},
    {id = "99990001", down = "ffff6666", message = "net 1"},
    {id = "99990002", down = "99990001", depends = {"bbbb2222"}, message = "networking needs account"},
  }
end

local G_DRAWING = [[
* 99990002 (networking) (head) networking needs account (depends on bbbb2222)
* 99990001 (networking) net 1
* ffff6666 (networking) networking root

*   eeee5555 (head) merge c and d
|\
* | dddd4444 branch d
| * cccc3333 add another column
|/
* bbbb2222 add a column
* aaaa1111 create account table
]]

local function drawing(dir, args, env)
  local status, out, err = h.luamig(dir, "history " .. args, env)
  assert.equal(0, status, err)
  return out
end

---------------------------------------------------------------------------
-- An independent reading of a drawing: which `*` each line from a `*` reaches.

-- The cell a line character starts from in the row above (its top) and
-- reaches in the row below (its bottom), as column positions.
local TOP = {["|"] = 0, ["*"] = 0, ["/"] = 1, ["\\"] = -1}

-- Reads text (the --graph output) into rows of {cells = {x -> char}, id}:
-- the graph characters up to the revision id on a `*` row.
local function read_rows(text)
  local rows = {}
  for _, line in ipairs(h.lines(text)) do
    local graph, rest = line:match("^([%*|/\\_%-%. ]*)(.*)$")
    local row = {cells = {}}
    if graph:find("*", 1, true) then
      row.id = rest:match("^(%S+)")
    else
      assert(rest == "", "a row without a revision has text: " .. line)
    end
    for x = 1, #graph do
      local ch = graph:sub(x, x)
      if ch ~= " " then row.cells[x - 1] = ch end
    end
    rows[#rows + 1] = row
  end
  return rows
end

-- The cells of row r whose top is at one of the positions from..to.
local function below(rows, r, from, to)
  local found = {}
  local row = rows[r]
  if not row then return found end
  for x, ch in pairs(row.cells) do
    local top = TOP[ch] and x + TOP[ch]
    if top and top >= from and top <= to then found[#found + 1] = x end
  end
  table.sort(found)
  return found
end

-- Where a line character at (r, x) comes out at the bottom of its row: `/`
-- runs left along `_` (git's way over lanes in between).
local function bottom(rows, r, x)
  local ch = rows[r].cells[x]
  if ch == "|" then return x end
  if ch == "\\" then return x + 1 end
  assert(ch == "/", ("row %d: %q cannot continue a line"):format(r, tostring(ch)))
  while rows[r].cells[x - 2] == "_" do x = x - 2 end
  return x - 1
end

-- Traces every line leaving each `*` down to the `*` it ends at. Returns
-- the ids in drawing order and the edges as a sorted list "child>parent".
local function trace(text)
  local rows = read_rows(text)
  local order, edges = {}, {}
  for r, row in ipairs(rows) do
    if row.id then
      order[#order + 1] = row.id
      local x0
      for x, ch in pairs(row.cells) do if ch == "*" then x0 = x end end
      local x1 = x0                                     -- an octopus' "-." stretch
      while row.cells[x1 + 1] == "-" or row.cells[x1 + 1] == "." do x1 = x1 + 1 end
      for _, x in ipairs(below(rows, r + 1, x0, x1)) do
        local rr, xx = r + 1, x
        while rows[rr].cells[xx] ~= "*" do
          local b = bottom(rows, rr, xx)
          local next_cells = below(rows, rr + 1, b, b)
          assert(#next_cells == 1, ("%s: the line at row %d, column %d goes on to %d cells")
            :format(row.id, rr, xx, #next_cells))
          rr, xx = rr + 1, next_cells[1]
        end
        edges[#edges + 1] = row.id .. ">" .. rows[rr].id
      end
    end
  end
  table.sort(edges)
  return order, edges
end

local function parent_edges(revs)
  local edges = {}
  for _, r in ipairs(revs) do
    local down = type(r.down) == "table" and r.down or {r.down}
    for _, p in ipairs(down) do edges[#edges + 1] = r.id .. ">" .. p end
  end
  table.sort(edges)
  return edges
end

-- The ids of plain `history`, in its order.
local function history_order(dir, args)
  local ids = {}
  for _, line in ipairs(h.lines(drawing(dir, args or ""))) do
    ids[#ids + 1] = line:match("%-> ([^%s,]+)")
  end
  return ids
end

-- A generated history: a trunk that forks into `width` lines of `depth`
-- revisions and merges them back, over and over (width 4: an octopus merge,
-- width 2: a plain one), side branches with labels that depend on the trunk
-- and never merge, and a second root: n revisions in all.
local function big_graph(n)
  local revs, trunk, side, round = {}, nil, {}, 0
  local function add(r)
    r.id = ("%012x"):format(0xa0000000 + #revs * 7919)
    r.message = "revision " .. #revs + 1
    revs[#revs + 1] = r
    return r.id
  end
  while #revs < n do
    round = round + 1
    trunk = add{down = trunk}
    local width = round % 2 == 0 and 4 or 2
    local tips = {}
    for b = 1, width do
      local p = trunk
      for _ = 1, 3 + b do p = add{down = p} end
      tips[b] = p
    end
    trunk = add{down = tips}
    for s = 1, 3 do
      if side[s] then side[s] = add{down = side[s]}
      elseif round == 2 * s then side[s] = add{down = trunk, labels = {"side" .. s}, depends = {trunk}} end
    end
    if round == 5 then add{labels = {"other"}} end  -- a second root, a head
  end
  return revs
end

---------------------------------------------------------------------------

describe("history --graph", function()
  it("draws branches, merges, labels, heads and depends_on as git log --graph does", function()
    local dir = h.project(G())
    assert.equal(G_DRAWING, drawing(dir, "--graph"))
    local order, edges = trace(G_DRAWING)
    assert.same(history_order(dir), order)
    assert.same(parent_edges(G()), edges)
  end)

  it("draws a branch point with two heads", function()
    local dir = h.project{
      {id = "base", message = "base"},
      {id = "p1", down = "base", message = "p"},
      {id = "q1", down = "base", message = "q"},
      {id = "h1", down = "p1", message = "h1"},
      {id = "h2", down = "q1", message = "h2"},
      {id = "h3", down = "p1", message = "h3"},
    }
    assert.equal([[
* h1 (head) h1
| * h3 (head) h3
|/
| * h2 (head) h2
| * q1 q
* | p1 p
|/
* base base
]], drawing(dir, "--graph"))
  end)

  it("draws an octopus merge with git's -. and a merge into a lane to its left with _", function()
    local dir = h.project{
      {id = "root", message = "root"},
      {id = "x1", down = "root"}, {id = "y1", down = "root"}, {id = "z1", down = "root"},
      {id = "mm", down = {"x1", "y1", "z1"}, message = "merge three"},
    }
    local octopus = drawing(dir, "--graph")
    assert.equal([[
*-.   mm (head) merge three
|\ \
* | | x1 revision x1
| * | y1 revision y1
|/ /
| * z1 revision z1
|/
* root root
]], octopus)
    dir = h.project{
      {id = "base", message = "base"},
      {id = "yy", down = "base"}, {id = "xx", down = "base"},
      {id = "h1", down = "yy"},
      {id = "mm", down = {"xx", "yy"}},
    }
    local over = drawing(dir, "--graph")
    assert.equal([[
* h1 (head) revision h1
| *   mm (head) revision mm
| |\
|_|/
| * xx revision xx
* | yy revision yy
|/
* base base
]], over)
    local _, edges = trace(over)
    assert.same({"h1>yy", "mm>xx", "mm>yy", "xx>base", "yy>base"}, edges)
    _, edges = trace(octopus)
    assert.same({"mm>x1", "mm>y1", "mm>z1", "x1>root", "y1>root", "z1>root"}, edges)
  end)

  it("separates independent roots, so a head never sits under another line's base", function()
    local dir = h.project{
      {id = "r1", message = "first root"}, {id = "r2", message = "second root"},
      {id = "a2", down = "r1"}, {id = "b2", down = "r2"},
    }
    assert.equal([[
* a2 (head) revision a2
* r1 first root

* b2 (head) revision b2
* r2 second root
]], drawing(dir, "--graph"))
  end)

  it("draws a -r range, the parents outside it left out", function()
    local dir = h.project(G())
    assert.equal([[
*   eeee5555 (head) merge c and d
|\
* | dddd4444 branch d
| * cccc3333 add another column
|/
* bbbb2222 add a column
]], drawing(dir, "--graph -r bbbb2222:eeee5555"))
    assert.equal("* 99990002 (networking) (head) networking needs account (depends on bbbb2222)\n",
                 drawing(dir, "--graph -r 99990001:"):match("^[^\n]*\n"))
  end)

  it("puts -v's entries beside the lanes", function()
    local dir = h.project(G())
    local out = drawing(dir, "--graph -v -r bbbb2222:eeee5555")
    local lines = h.lines(out)
    assert.equal("*   Rev: eeee5555 (head) (mergepoint)", lines[1])
    assert.equal("|\\  Merges: dddd4444, cccc3333", lines[2])
    assert.truthy(lines[3]:match("^| | Path: /.*/eeee5555%.lua$"), lines[3])
    assert.equal("|/  Parent: bbbb2222", out:match("\n(|/  [^\n]*)"))
    assert.truthy(out:find("\n* Rev: bbbb2222 (branchpoint)\n  Parent: aaaa1111\n", 1, true), out)
    assert.truthy(out:find("\n      add a column\n", 1, true), out)
    assert.equal("      Revises: aaaa1111", lines[#lines])
  end)

  it("draws a 1,000-revision history (lines, 2- and 4-way merges, labelled side branches, two roots) correctly", function()
    local revs = big_graph(1000)
    local dir = h.project(revs)
    local out = drawing(dir, "--graph")
    local order, edges = trace(out)
    assert.equal(#revs, #order)
    assert.same(history_order(dir), order)
    assert.same(parent_edges(revs), edges)
    -- the heads `heads` lists, and only they, say (head)
    local heads = {}
    for _, line in ipairs(h.lines(drawing(dir, ""))) do
      if line:find("(head)", 1, true) then heads[#heads + 1] = line:match("%-> ([^%s,]+)") end
    end
    local marked = {}
    for _, line in ipairs(h.lines(out)) do
      if line:find("(head)", 1, true) then marked[#marked + 1] = line:match("[%*%-%.][ |\\/]*%s(%x+) ") end
    end
    table.sort(heads)
    table.sort(marked)
    assert.equal(5, #heads)                              -- the trunk, three side branches, the other root
    assert.same(heads, marked)
    -- each side branch says what it depends on
    local _, notes = out:gsub("%(depends on %x+%)", "")
    assert.equal(3, notes)
  end)
end)

describe("history --graph and --dot mark the database's revisions with -i", function()
  h.each_db(function(db)
    it("(current) on the revisions of the version table", function()
      local url = db.url()
      local dir = h.project(G())
      local function run(args) return h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. args) end
      local status, _, err = run("upgrade dddd4444")
      assert.equal(0, status, err)
      local s, out, e = run("history --graph -i")
      assert.equal(0, s, e)
      assert.equal(G_DRAWING:gsub("dddd4444 branch d", "dddd4444 (current) branch d"), out)
      status, _, err = run("upgrade heads")
      assert.equal(0, status, err)
      s, out, e = run("history --graph -i")
      assert.equal(0, s, e)
      local expected = G_DRAWING:gsub("%(head%) merge", "(head) (current) merge")
                                :gsub("%(head%) networking", "(head) (current) networking")
      assert.equal(expected, out)
      s, out, e = run("history --dot -i")
      assert.equal(0, s, e)
      assert.truthy(out:find('"eeee5555" [label="eeee5555 (head) (current)\\nmerge c and d", penwidth=2, '
        .. 'style="rounded,filled", fillcolor="lightblue"];', 1, true), out)
      assert.truthy(out:find('"dddd4444" [label="dddd4444\\nbranch d"];', 1, true), out)
      -- without -i, no connection and no marking
      s, out = h.luamig(dir, "--url sqlite:/nonexistent/dir/x.db history --graph")
      assert.equal(0, s)
      assert.equal(G_DRAWING, out)
    end)
  end)
end)

describe("history --dot", function()
  it("writes Graphviz: parent edges, depends_on dotted, heads bold, quotes escaped", function()
    local revs = G()
    revs[1].message = 'say "hi" \\ bye'
    local dir = h.project(revs)
    local out = drawing(dir, "--dot")
    local lines = h.lines(out)
    assert.equal('digraph "luamig" {', lines[1])
    assert.equal("}", lines[#lines])
    assert.truthy(out:find('  "aaaa1111" [label="aaaa1111\\nsay \\"hi\\" \\\\ bye"];\n', 1, true), out)
    assert.truthy(out:find('  "ffff6666" [label="ffff6666 (networking)\\nnetworking root"];\n', 1, true))
    assert.truthy(out:find('  "99990002" [label="99990002 (networking) (head)\\nnetworking needs account", penwidth=2];\n', 1, true))
    local edges = {}
    for from, to, attrs in out:gmatch('\n  "([^"]+)" %-> "([^"]+)"([^\n]*);') do
      edges[#edges + 1] = to .. ">" .. from .. (attrs ~= "" and " dotted" or "")
    end
    table.sort(edges)
    local want = parent_edges(revs)
    want[#want + 1] = "99990002>bbbb2222 dotted"
    table.sort(want)
    assert.same(want, edges)
  end)

  it("is accepted by Graphviz's dot -Tsvg, 1,000 revisions included", function()
    if not os.execute("command -v dot >/dev/null 2>&1") then
      return pending("Graphviz's dot is not installed (apt-get install graphviz)")
    end
    for _, revs in ipairs{G(), big_graph(1000)} do
      local dir = h.project(revs)
      h.write_file(dir .. "/g.dot", drawing(dir, "--dot"))
      local status, svg, err = h.run(("dot -Tsvg %s"):format(h.shell_quote(dir .. "/g.dot")))
      assert.equal(0, status, err)
      assert.truthy(svg:find("<svg", 1, true))
      assert.equal("", err)
    end
  end)
end)

describe("history --graph colour", function()
  local dir
  before_each(function() dir = h.project(G()) end)

  it("is off when not on a terminal, on with --color=always, off with --color=never", function()
    assert.equal(G_DRAWING, drawing(dir, "--graph"))
    assert.equal(G_DRAWING, drawing(dir, "--graph --color=auto"))
    assert.equal(G_DRAWING, drawing(dir, "--graph --color never"))
    local colored = drawing(dir, "--graph --color=always", {NO_COLOR = "1"})
    assert.truthy(colored:find("*   \27[33meeee5555\27[m \27[1;32m(head)\27[m merge c and d", 1, true), colored)
    assert.truthy(colored:find("\27[1;35m(networking)\27[m", 1, true))
    assert.equal(G_DRAWING, (colored:gsub("\27%[[%d;]*m", "")))
  end)

  it("is on on a terminal unless NO_COLOR is set or TERM is dumb", function()
    if not os.execute("command -v script >/dev/null 2>&1") then
      return pending("util-linux's script (a terminal for the command) is not installed")
    end
    local function on_tty(env)
      local cmd = ("cd %s && %s history --graph"):format(h.shell_quote(dir), h.shell_quote(h.bin))
      local status, out, err = h.run(("env %s script -qec %s /dev/null")
        :format(env, h.shell_quote(cmd)))
      assert.equal(0, status, err)
      return out
    end
    assert.truthy(on_tty("-u NO_COLOR TERM=xterm"):find("\27[33meeee5555\27[m", 1, true))
    assert.falsy(on_tty("TERM=xterm NO_COLOR=1"):find("\27[", 1, true))
    assert.falsy(on_tty("-u NO_COLOR TERM=dumb"):find("\27[", 1, true))
    assert.truthy(on_tty("TERM=xterm NO_COLOR="):find("\27[33m", 1, true))   -- empty: not set
  end)
end)

describe("history --graph refuses", function()
  local dir
  before_each(function() dir = h.project(G()) end)

  local cases = {
    {"history --graph --dot", "luamig: --graph and --dot are two drawings of the graph; give one of them"},
    {"--json history --graph", "luamig: --json cannot be combined with --graph (a drawing, not data)"},
    {"history --dot --json", "luamig: --json cannot be combined with --dot (a drawing, not data)"},
    {"history --dot -v", "luamig: --dot has no verbose form; leave out -v (the labels carry id and message)"},
    {"history --color=always", "luamig: --color applies to --graph only"},
    {"history --dot --color=never", "luamig: --color applies to --graph only"},
    {"history --graph --color=sometimes", "luamig: --color takes auto, always or never, not 'sometimes'"},
  }
  for _, case in ipairs(cases) do
    it(case[1] .. " with exit 2", function()
      local status, out, err = h.luamig(dir, case[1])
      assert.equal(2, status, err)
      assert.equal("", out)
      assert.truthy(err:find(case[2] .. "\n", 1, true), err)
      assert.truthy(err:find("usage: luamig history [-r RANGE] [-v] [-i] [--graph [--color=WHEN] | --dot]", 1, true), err)
    end)
  end
end)
