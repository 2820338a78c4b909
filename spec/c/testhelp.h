/* testhelp.h -- the smallest test harness (after Redis's testhelp.h):
 * test_cond(description, condition) prints and counts one check;
 * test_report() prints the counts and exits 1 if any check failed. */
#ifndef LUAMIG_TESTHELP_H
#define LUAMIG_TESTHELP_H
#include <stdio.h>
#include <stdlib.h>
static int test_failed, test_count;
#define test_cond(descr, c) do { test_count++; if (c) printf("ok %d - %s\n", test_count, descr); \
  else { test_failed++; printf("not ok %d - %s (%s:%d)\n", test_count, descr, __FILE__, __LINE__); } } while (0)
#define test_report() do { printf("%d tests, %d passed, %d failed\n", test_count, \
  test_count - test_failed, test_failed); if (test_failed) exit(1); } while (0)
#endif
