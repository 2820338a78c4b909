-- doc/gen-commands.lua -- writes doc/commands.md from the binary's own help,
-- so the reference and `luamig CMD --help` cannot drift apart (a spec
-- checks them). Run: make docs.
local bin = assert(arg[1], "usage: lua5.4 doc/gen-commands.lua BUILD/bin/luamig > doc/commands.md")

local function help(args)
  local p = assert(io.popen(bin .. " " .. args .. " 2>&1"))
  local text = p:read("a")
  p:close()
  return (text:gsub("\n+$", ""))
end

local main = help("--help")
local out = {
  "# luamig commands",
  "",
  "The text of each section is what `luamig --help` and `luamig COMMAND --help`",
  "print (this file is generated from them by `make docs`). Exit status: 0 on",
  "success, 1 on failure (`FAILED: <message>` on stderr), 2 on a usage error.",
  "Log lines go to stderr; data (current, history, heads, show, `--sql`) to stdout.",
  "",
  "## luamig",
  "",
  "```",
  main,
  "```",
}
local in_commands = false
for line in main:gmatch("[^\n]*") do
  if line == "Commands:" then in_commands = true
  elseif in_commands and line == "" then in_commands = false
  elseif in_commands then
    local name = line:match("^  (%S+)")
    if name then
      out[#out + 1] = ""
      out[#out + 1] = "## " .. name
      out[#out + 1] = ""
      out[#out + 1] = "```"
      out[#out + 1] = help(name .. " --help")
      out[#out + 1] = "```"
    end
  end
end
print(table.concat(out, "\n"))
