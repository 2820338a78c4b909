-- luarocks make: builds and installs the luamig.core C module, the luamig
-- Lua modules and the luamig command into a rocks tree, offline, through
-- the project's own Makefile.
rockspec_format = "3.0"
package = "luamig"
version = "0.1.0-1"
source = {
  url = "git+file:///luamig",   -- luarocks make builds the working tree; nothing is fetched
}
description = {
  summary = "Database migrations for SQLite and PostgreSQL, written in Lua",
  detailed = [[
    Alembic's model and commands (revisions, branches, merges, upgrade +1,
    downgrade -1, history, current, stamp) with a C core: transactional steps
    on SQLite and PostgreSQL, a run-wide lock, checksums of applied scripts.
    Embed it with require "luamig".
  ]],
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
build = {
  type = "make",
  build_target = "all",
  install_target = "install",
  build_variables = {
    BUILD = "build/rock",
  },
  install_variables = {
    BUILD = "build/rock",
    PREFIX = "$(PREFIX)",
    BINDIR = "$(BINDIR)",
    LUA_CMOD = "$(LIBDIR)",
    LUA_LMOD = "$(LUADIR)",
  },
}
