/*
 * lib_load.c -- dlopen a library on first use (see lib_load.h). The
 * LUAMIG_LIB* variable names another file to load: a library outside the
 * loader's path, or, in the specs, a missing file or a stub.
 */
#include "lib_load.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

int lm_lib_open(struct lm_lib *lib, const char *const names[], void *const slots[], size_t n,
                struct lm_err *e) {
  const char *file = getenv(lib->env);
  int chosen = file != NULL && *file;
  if (!chosen) file = lib->soname;
  void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    if (chosen)
      return lm_err_set(e, LM_ERROR, "cannot load %s%s (%s): %s names a file that is not there or "
                        "not a library; correct it or unset it", lib->name, lib->needed, dlerror(),
                        lib->env);
    return lm_err_set(e, LM_ERROR, "cannot load %s%s (%s): install it (Debian: apt-get install %s)",
                      lib->name, lib->needed, dlerror(), lib->package);
  }
  for (size_t i = 0; i < n; i++) {
    if (dlsym(h, names[i]) == NULL) {
      dlclose(h);
      return lm_err_set(e, LM_ERROR, "cannot use %s as %s: it has no %s%s%s%s", file, lib->name,
                        names[i], lib->version, chosen ? "; correct or unset " : "",
                        chosen ? lib->env : "");
    }
  }
  for (size_t i = 0; i < n; i++) {                 /* every one is there: now write them */
    void *sym = dlsym(h, names[i]);
    memcpy(slots[i], &sym, sizeof sym);            /* POSIX: a function's address as void * */
  }
  lib->file = file;
  return LM_OK;
}

/* "lib's fn <what> (file...)": the file env chose is the suspect, else
 * cause (of the soname's failure) is said. */
static int lib_says(const struct lm_lib *lib, const char *fn, const char *what, const char *cause,
                    struct lm_err *e) {
  if (lib->file != NULL && lib->file != lib->soname)
    return lm_err_set(e, LM_ERROR, "%s's %s %s (%s, the file %s names): it is not a working %s; "
                      "correct or unset %s", lib->name, fn, what, lib->file, lib->env, lib->name,
                      lib->env);
  return lm_err_set(e, LM_ERROR, "%s's %s %s (%s): %s (%s can name another file to load)",
                    lib->name, fn, what, lib->soname, cause, lib->env);
}

int lm_lib_nothing(const struct lm_lib *lib, const char *fn, struct lm_err *e) {
  return lib_says(lib, fn, "returned nothing", "out of memory, or the library is broken", e);
}

int lm_lib_failed(const struct lm_lib *lib, const char *fn, struct lm_err *e) {
  return lib_says(lib, fn, "failed", "the library is broken", e);
}
