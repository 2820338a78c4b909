-- luarocks make: builds and installs the luamig.core C module, the luamig
-- Lua modules and the luamig command into a rocks tree, offline, through
-- the project's own Makefile.
rockspec_format = "3.0"
package = "luamig"
version = "0.1.0-1"
-- `luarocks make` builds the checked-out tree it is run in and never reads
-- source.url; the field is mandatory, so it names that tree: there is no
-- published source archive for `luarocks install` to fetch.
source = {
  url = "file://.",
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
-- The C libraries the core links (Debian: libpq-dev libsqlite3-dev
-- libssl-dev): luarocks checks they are there before it builds. The
-- Makefile finds their flags with pkg-config (libpq's header is in a
-- directory of its own, /usr/include/postgresql on Debian, so only the
-- library is looked for here). libpq and libcrypto are not linked but loaded when a
-- PostgreSQL URL is first used (src/db_pg_lib.c) or a script first hashed (src/script_sha.c); they are still required,
-- for their headers and at run time.
external_dependencies = {
  LIBPQ = {library = "pq"},
  SQLITE3 = {header = "sqlite3.h", library = "sqlite3"},
  LIBCRYPTO = {header = "openssl/evp.h", library = "crypto"},
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
