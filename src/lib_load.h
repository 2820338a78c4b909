/*
 * lib_load.h -- a shared library loaded with dlopen on first use (libpq,
 * libcrypto) instead of by the dynamic loader at every start: which file,
 * its functions, and the words when it cannot be used.
 */
#ifndef LUAMIG_LIB_LOAD_H
#define LUAMIG_LIB_LOAD_H

#include <stddef.h>

#include "luamig.h"

struct lm_lib {
  const char *name;     /* "libpq": "cannot use FILE as libpq" */
  const char *soname;   /* loaded unless env names another file */
  const char *env;      /* "LUAMIG_LIBPQ" */
  const char *needed;   /* after the name when it cannot be loaded: ", which ... needs" */
  const char *package;  /* the Debian package that installs soname */
  const char *version;  /* after a missing function's name: " (libpq 10 or later is needed)" */
  const char *file;     /* set by lm_lib_open: the file loaded (soname itself unless env chose) */
};

/* Loads lib (soname, or the file lib->env names) and stores the address of
 * each of names[0..n) into the function pointer at slots[i] (&p_fn). All
 * or nothing: on failure no slot is written, the library is closed and e
 * says why and what to do. */
int lm_lib_open(struct lm_lib *lib, const char *const names[], void *const slots[], size_t n,
                struct lm_err *e);

/* e says that lib's function fn, which only fails when memory runs out,
 * returned nothing: a stub or broken file is the likelier cause when
 * lib->env chose it. */
int lm_lib_nothing(const struct lm_lib *lib, const char *fn, struct lm_err *e);
/* The same for a function of lib that says it failed where it cannot
 * (SHA-256 of bytes in memory). */
int lm_lib_failed(const struct lm_lib *lib, const char *fn, struct lm_err *e);

#endif
