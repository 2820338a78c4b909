/*
 * lua_sys.c -- the few facts about the process that Lua's standard library
 * cannot give: whether a descriptor is a terminal (progress lines, colour),
 * the real working directory (not an inherited $PWD), the user from the
 * password database (not $USER, which may be unset), and a monotonic clock
 * for rates and elapsed times; the process id, and the process's one
 * signal trap: the luamig command's Ctrl-C, and core.trap_interrupts,
 * which turns SIGINT, SIGTERM and SIGHUP into a Lua error so that cleanup
 * code runs (roundtrip drops the scratch database it created); a file's identity
 * (device and inode), to tell whether two paths name one file.
 */
#include <errno.h>
#include <signal.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lua_core.h"
#include "lua_sys.h"
#include "runner.h"

/* core.isatty(fd) -> boolean */
static int sys_isatty(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  lua_pushboolean(L, fd >= 0 && fd <= 1024 && isatty((int)fd));
  return 1;
}

/* core.cwd() -> path | nil, message */
static int sys_cwd(lua_State *L) {
  size_t size = 256;
  for (;;) {
    char *buf = lm_malloc(size);
    if (getcwd(buf, size)) {
      lua_pushstring(L, buf);
      free(buf);
      return 1;
    }
    int err = errno;
    free(buf);
    if (err != ERANGE || size > (1u << 20)) {
      lua_pushnil(L);
      lua_pushstring(L, strerror(err));
      return 2;
    }
    size *= 2;
  }
}

/* core.user() -> login name of the real uid from the password database,
 * or nil when it has no entry (a container running as an unnamed uid). */
static int sys_user(lua_State *L) {
  struct passwd pw, *found = NULL;
  char buf[4096];
  if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &found) == 0 && found && found->pw_name[0]) {
    lua_pushstring(L, found->pw_name);
  } else {
    lua_pushnil(L);
  }
  return 1;
}

/* core.monotonic() -> seconds (float) since an arbitrary fixed point */
static int sys_monotonic(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* core.ppid() -> the parent's id: a fleet worker sees it change (to 1 or a
 * subreaper) when the parent that started it dies. */
static int sys_ppid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getppid());
  return 1;
}

/* core.sleep(seconds): a short wait (a fleet parent polling its workers); a
 * signal ends it early. */
static int sys_sleep(lua_State *L) {
  lua_Number sec = luaL_checknumber(L, 1);
  if (sec > 0) {
    struct timespec ts = {(time_t)sec, (long)((sec - (lua_Number)(time_t)sec) * 1e9)};
    nanosleep(&ts, NULL);
  }
  return 0;
}

/* core.pid() -> this process's id */
static int sys_pid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

/* core.file_id(path) -> "dev:ino" of the file path names (symlinks
 * followed), or nil when there is none: two paths name one file (a
 * symlink, a hard link, another spelling) when their ids are equal. */
static int sys_file_id(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (stat(path, &st) != 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushfstring(L, "%I:%I", (lua_Integer)st.st_dev, (lua_Integer)st.st_ino);
  return 1;
}

/* ---- Signals: the process's one trap -------------------------------------
 * Every signal luamig handles lands in on_signal, which records it, stops
 * the statement of the run in progress (runner.h: the driver's interrupt,
 * async-signal-safe) and, as lua.c does, only sets a hook: the hook raises
 * the error at the next Lua instruction, where raising is safe. It serves
 * two owners:
 *  - the luamig command's Ctrl-C (lm_lua_trap_ctrl_c, from main.c): the
 *    runs of the process are marked interrupted (core.interrupted()), Lua
 *    code fails with "interrupted (Ctrl-C)", the run rolls the step back
 *    and says where the database is; a second Ctrl-C ends the process (the
 *    default action).
 *  - core.trap_interrupts, while on: SIGINT, SIGTERM and SIGHUP are
 *    recorded (core.trapped_signal()) and raise "interrupted (SIGTERM)"
 *    etc., or, while held, are only recorded and stop nothing. */
static lua_State *command_L;          /* the luamig command's state, for its Ctrl-C */
static lua_State *trap_L;             /* the main thread while trap_interrupts is on */
static volatile sig_atomic_t trapped_signal;
static struct sigaction saved_int, saved_term, saved_hup;
static int trap_on;
static volatile sig_atomic_t trap_hold;

#define STOP_LUA_MASK (LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT)

static const char *signal_name(int sig) {
  return sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "SIGINT";
}

/* Raises in the interrupted Lua code at its next call, return or
 * instruction: the command's Ctrl-C as "Ctrl-C", a trap's signal by name. */
static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted (%s)", trap_on ? signal_name(trapped_signal) : "Ctrl-C");
}

static void on_signal(int sig) {
  if (trap_on) {
    trapped_signal = sig;
    if (trap_hold) return;
    lm_run_stop_statement();
    if (trap_L != NULL) lua_sethook(trap_L, stop_hook, STOP_LUA_MASK, 1);
    return;
  }
  signal(sig, SIG_DFL);                               /* the command's Ctrl-C: a second one kills */
  lm_run_interrupt();
  if (command_L != NULL) lua_sethook(command_L, stop_hook, STOP_LUA_MASK, 1);
}

void lm_lua_trap_ctrl_c(lua_State *L) {
  command_L = L;
  signal(SIGINT, on_signal);
}

/* core.trap_interrupts(mode): true, SIGINT, SIGTERM and SIGHUP (a closed
 * terminal or ssh session) raise
 * "interrupted" in the main Lua thread (at once if one came while held);
 * "hold", they are only recorded (core.trapped_signal), for code that must
 * not be cut short; false, the previous handlers are back. */
static int sys_trap_interrupts(lua_State *L) {
  int on = lua_toboolean(L, 1);
  int hold = lua_type(L, 1) == LUA_TSTRING && strcmp(lua_tostring(L, 1), "hold") == 0;
  if (on) {
    trap_hold = 1;
    if (trap_L != NULL) lua_sethook(trap_L, NULL, 0, 0);
  }
  if (on && !trap_on) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    trap_L = lua_tothread(L, -1);
    lua_pop(L, 1);
    trapped_signal = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &saved_int);
    sigaction(SIGTERM, &sa, &saved_term);
    sigaction(SIGHUP, &sa, &saved_hup);
    trap_on = 1;
  }
  if (on) {
    trap_hold = hold;
    if (!hold && trapped_signal != 0) on_signal(trapped_signal);
  } else if (!on && trap_on) {
    sigaction(SIGINT, &saved_int, NULL);
    sigaction(SIGTERM, &saved_term, NULL);
    sigaction(SIGHUP, &saved_hup, NULL);
    if (trap_L != NULL) lua_sethook(trap_L, NULL, 0, 0);
    trap_L = NULL;
    trap_on = 0;
  }
  return 0;
}

/* core.trapped_signal() -> "SIGINT" | "SIGTERM" | "SIGHUP" | nil: the signal trapped
 * since trap_interrupts(true). */
static int sys_trapped_signal(lua_State *L) {
  if (trapped_signal == 0) lua_pushnil(L);
  else lua_pushstring(L, signal_name(trapped_signal));
  return 1;
}

void lm_lua_sys_open(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"isatty", sys_isatty}, {"cwd", sys_cwd}, {"user", sys_user}, {"monotonic", sys_monotonic},
    {"pid", sys_pid}, {"ppid", sys_ppid}, {"sleep", sys_sleep}, {"trap_interrupts", sys_trap_interrupts}, {"trapped_signal", sys_trapped_signal},
    {"file_id", sys_file_id},
    {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
