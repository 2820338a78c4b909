/*
 * timeit.c -- run one command and report its wall time and peak memory.
 *
 *   timeit [-o OUT] [-e ERR] [-d DIR] -- COMMAND [ARG...]
 *
 * Runs COMMAND (execvp, no shell) with stdout to OUT and stderr to ERR
 * (default /dev/null for both) in DIR (default: here), and prints one
 * line on stdout:
 *
 *   <wall seconds> <peak RSS in KiB> <exit status>
 *
 * Wall time is CLOCK_MONOTONIC around fork..wait4; the peak RSS is the
 * child's ru_maxrss from wait4, so it counts the command's own process
 * (luamig, python3 running alembic, a floor program), not the database
 * server. A command killed by a signal reports 128 + the signal.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(void) {
  fputs("usage: timeit [-o OUT] [-e ERR] [-d DIR] -- COMMAND [ARG...]\n", stderr);
  exit(2);
}

/* Point fd at path (opened for writing, truncated). */
static void redirect(int fd, const char *path) {
  int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (f < 0 || dup2(f, fd) < 0) {
    fprintf(stderr, "timeit: %s: %s\n", path, strerror(errno));
    _exit(127);
  }
  close(f);
}

int main(int argc, char **argv) {
  const char *out = "/dev/null", *err = "/dev/null", *dir = NULL;
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (i + 1 >= argc) usage();
    if (strcmp(argv[i], "-o") == 0) out = argv[++i];
    else if (strcmp(argv[i], "-e") == 0) err = argv[++i];
    else if (strcmp(argv[i], "-d") == 0) dir = argv[++i];
    else usage();
  }
  if (i + 1 >= argc) usage();
  char **cmd = argv + i + 1;

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) {
    perror("timeit: fork");
    return 1;
  }
  if (pid == 0) {
    if (dir != NULL && chdir(dir) != 0) {
      fprintf(stderr, "timeit: %s: %s\n", dir, strerror(errno));
      _exit(127);
    }
    redirect(1, out);
    redirect(2, err);
    execvp(cmd[0], cmd);
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      perror("timeit: wait4");
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  printf("%.6f %ld %d\n", wall, ru.ru_maxrss, code);
  return 0;
}
