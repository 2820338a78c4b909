# luamig -- build, test, install, deps.
#
#   make            build build/bin/luamig and the Lua module build/lib/luamig/core.so
#   make test       install missing packages, build with warnings as errors, run every spec
#                   (WERROR=1 makes warnings errors in any build; make test sets it)
#   make test SANITIZE=1   the same, built with AddressSanitizer + UndefinedBehaviorSanitizer
#   make deps       install the Debian packages the project needs (prints the command if not root)
#   make demo       the example project (completed by the runner issue)
#   make clean

PKGS      := lua5.4 libpq sqlite3 libcrypto
DEB_PKGS  := lua5.4 liblua5.4-dev lua-busted libpq-dev libsqlite3-dev libssl-dev \
             postgresql sqlite3 luarocks man-db pkg-config gcc make \
             python3 python3-alembic python3-psycopg2 pgbouncer

CC        ?= cc
WARN      := -Wall -Wextra -Wshadow -Wwrite-strings -Wmissing-prototypes \
             -Wstrict-prototypes -Wpointer-arith -Wformat=2
# Warnings are errors for developers and CI (make test), not for a user
# whose newer compiler warns about something new.
ifneq ($(filter 1 yes,$(WERROR)),)
  WARN += -Werror
endif
CSTD      := -std=c11 -D_POSIX_C_SOURCE=200809L
OPT       ?= -O2 -g

comma := ,
# SANITIZE=1 means address,undefined; any other value is passed to -fsanitize.
ifneq ($(strip $(SANITIZE)),)
  SAN_LIST := $(if $(filter 1 yes,$(SANITIZE)),address$(comma)undefined,$(SANITIZE))
  SANFLAGS := -fsanitize=$(SAN_LIST) -fno-sanitize-recover=all -fno-omit-frame-pointer
  BUILD    ?= build/sanitize
  OPT      := -O1 -g
else
  BUILD    ?= build
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libpq and libcrypto are not linked: db_pg_lib.c loads libpq on the first
# PostgreSQL URL, script_sha.c libcrypto on the first checksum.
PKG_LIBS   = $(filter-out -lpq -lcrypto,$(shell pkg-config --libs $(PKGS) 2>/dev/null))
ALL_CFLAGS = $(CSTD) $(WARN) $(OPT) $(SANFLAGS) -pthread -fPIC -MMD -MP $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) -pthread $(LDFLAGS)   # -pthread: the lease heartbeat (runner_lease.c)

# Everything in src/ but the command-line face goes into the core; the
# executable adds main.c (the commands themselves are Lua: lua/luamig/cli*)
# on top of the same objects.
CLI_SRC   := src/main.c
CORE_SRC  := $(filter-out $(CLI_SRC),$(wildcard src/*.c))
CORE_OBJ  := $(CORE_SRC:src/%.c=$(BUILD)/obj/%.o)
CLI_OBJ   := $(CLI_SRC:src/%.c=$(BUILD)/obj/%.o)
LUA_SRC   := $(sort $(shell find lua -name '*.lua' 2>/dev/null))
EMBED_OBJ := $(BUILD)/obj/embedded.o
CTEST_SRC := $(wildcard spec/c/test_*.c)
CTEST_BIN := $(CTEST_SRC:spec/c/%.c=$(BUILD)/ctest/%)

BIN    := $(BUILD)/bin/luamig
MODULE := $(BUILD)/lib/luamig/core.so

.PHONY: all test check-c deps need demo docs clean bench stress fuzz install uninstall FORCE
all: $(BIN) $(MODULE)

# The flags a build used: objects are rebuilt when they change (WERROR,
# SANITIZE, CFLAGS), as git does with GIT-CFLAGS.
FLAGS_FILE := $(BUILD)/cflags
$(FLAGS_FILE): FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(ALL_CFLAGS)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS)' > $@
FORCE:

$(BUILD)/obj/%.o: src/%.c $(FLAGS_FILE)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(MODULE): $(CORE_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared -o $@ $^ $(ALL_LDFLAGS) $(filter-out -llua5.4,$(PKG_LIBS)) -ldl

$(BIN): $(CORE_OBJ) $(CLI_OBJ) $(EMBED_OBJ)
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS) -lm -ldl

# The Lua modules, compiled into the binary so that it works on its own.
$(BUILD)/gen/embedded.c: $(LUA_SRC) tools/embed.lua
	@mkdir -p $(@D)
	lua5.4 tools/embed.lua $@ $(LUA_SRC)

$(EMBED_OBJ): $(BUILD)/gen/embedded.c src/embedded.h $(FLAGS_FILE)
	@mkdir -p $(@D)
	$(CC) $(filter-out -MMD -MP,$(ALL_CFLAGS)) -Isrc -c $< -o $@

# Each C test links only what it tests: test_graph the graph files and
# util.c, no library, which proves the graph needs no Lua and no database.
CTEST_GRAPH_OBJ := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(wildcard src/graph*.c) src/util.c)
$(BUILD)/ctest/test_graph: spec/c/test_graph.c $(CTEST_GRAPH_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ $^ $(ALL_LDFLAGS)

$(BUILD)/ctest/%: spec/c/%.c $(CORE_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS) -lm -ldl

# C unit tests of the pure-C layers (the graph); each prints its counts.
check-c: $(CTEST_BIN)
	@for t in $(CTEST_BIN); do echo "== $$t"; $$t || exit 1; done

test: need
	$(MAKE) all check-c WERROR=1
	WERROR=1 BUILD=$(BUILD) SANITIZE=$(SANITIZE) CC=$(CC) bash spec/run

# What make test runs: the libraries, Lua, busted, a C compiler, PostgreSQL's
# server binaries, and the tools specs call. Only when something is missing
# does it ask for the Debian packages (so a machine with all of it installed
# another way never runs apt-get). Alembic (Debian's python3-alembic, run by
# /usr/bin/python3) is the oracle for the Alembic import and takeover specs.
# PgBouncer (/usr/sbin/pgbouncer; spec/pgbouncer.sh starts its own, never the
# system service) is the transaction pooler of the lock specs (15a).
NEED_CMDS := lua5.4 busted pkg-config $(CC) make sqlite3 luarocks man
need:
	@if pkg-config --exists $(PKGS) 2>/dev/null && \
	   command -v $(NEED_CMDS) >/dev/null 2>&1 && \
	   [ "$$(command -v $(NEED_CMDS) | wc -l)" = "$(words $(NEED_CMDS))" ] && \
	   ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && \
	   [ -x /usr/sbin/pgbouncer ] && \
	   /usr/bin/python3 -c 'import alembic, psycopg2' >/dev/null 2>&1; then :; \
	else $(MAKE) --no-print-directory deps; fi

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
	  echo "deps: missing packages:$$missing"; \
	  echo "deps: run: sudo apt-get install$$missing"; exit 1; \
	fi

# The example project in migrations/, on the default database (luamig.db).
demo: deps
	$(MAKE) all
	$(BIN) upgrade head
	$(BIN) history
	$(BIN) current

# ---- install: PREFIX and DESTDIR as usual --------------------------------
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
# where lua5.4 looks for C modules and for Lua modules under PREFIX
LUA_CMOD   ?= $(PREFIX)/lib/lua/5.4
LUA_LMOD   ?= $(PREFIX)/share/lua/5.4
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
STATIC_LIB := $(BUILD)/lib/libluamig.a
HEADERS    := src/luamig.h src/db.h src/graph.h src/runner.h src/version.h

$(STATIC_LIB): $(CORE_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# The pkg-config file names PREFIX, so it is written at install time.
VERSION := $(shell sed -n 's/^\#define LUAMIG_VERSION "\(.*\)"/\1/p' src/luamig.h)

install: all $(STATIC_LIB)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LUA_CMOD)/luamig \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(COMPLETIONDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
	  $(DESTDIR)$(INCLUDEDIR)/luamig
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/luamig
	install -m 755 $(MODULE) $(DESTDIR)$(LUA_CMOD)/luamig/core.so
	cd lua && find luamig -name '*.lua' | while read -r f; do \
	  install -D -m 644 "$$f" "$(DESTDIR)$(LUA_LMOD)/$$f"; done
	install -m 644 doc/luamig.1 $(DESTDIR)$(MANDIR)/man1/luamig.1
	install -m 644 doc/luamig.bash-completion $(DESTDIR)$(COMPLETIONDIR)/luamig
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/libluamig.a
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	  'Name: luamig' 'Description: database migrations for SQLite and PostgreSQL (C core)' \
	  'Version: $(VERSION)' 'Requires.private: lua5.4 libpq sqlite3 libcrypto' \
	  'Cflags: -I$${includedir}/luamig' 'Libs: -L$${libdir} -lluamig' \
	  > $(DESTDIR)$(LIBDIR)/pkgconfig/luamig.pc
	install -m 644 $(HEADERS) $(DESTDIR)$(INCLUDEDIR)/luamig/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/luamig $(DESTDIR)$(MANDIR)/man1/luamig.1 \
	  $(DESTDIR)$(COMPLETIONDIR)/luamig $(DESTDIR)$(LIBDIR)/libluamig.a \
	  $(DESTDIR)$(LIBDIR)/pkgconfig/luamig.pc
	rm -rf $(DESTDIR)$(LUA_CMOD)/luamig $(DESTDIR)$(LUA_LMOD)/luamig \
	  $(DESTDIR)$(INCLUDEDIR)/luamig

# doc/commands.md is generated from the binary's --help texts.
docs: all
	lua5.4 doc/gen-commands.lua $(BIN) > doc/commands.md

# Reliability (spec/stress, spec/fuzz) and benchmarks (bench/): on demand,
# never part of make test. Each is a script of its own directory.
stress: deps
	$(MAKE) all
	BUILD=$(BUILD) bash spec/stress/run

fuzz:
	bash spec/fuzz/run

bench: deps
	$(MAKE) all
	bash bench/run $(BENCH_ARGS)

clean:
	rm -rf build

-include $(CORE_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
