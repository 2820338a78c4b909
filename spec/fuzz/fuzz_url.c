/*
 * fuzz_url.c -- libFuzzer target for the database URL parser (db.c's
 * lm_url_parse, and libpq's conninfo check behind it for postgresql://).
 *
 * Beyond "no crash": a parsed URL has a driver and a target, its display
 * form never holds the password it was given, a failure carries a message,
 * and redacting a secret out of a message leaves no copy of it. Nothing
 * connects.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *url = malloc(size + 1);
  memcpy(url, data, size);
  url[size] = '\0';                       /* a C string: stops at the first NUL */
  struct lm_url u;
  struct lm_err e = LM_ERR_INIT;
  int rc = lm_url_parse(url, &u, &e);
  if (rc == LM_OK) {
    if (u.driver == NULL || u.target == NULL || u.display == NULL) abort();
    /* a password of 4+ characters, written once, never shows in the
     * display form (written twice, the second copy is just text) */
    const char *first;
    for (char **sp = u.secrets; sp != NULL && *sp != NULL; sp++)
      if (strlen(*sp) >= 4 && strchr(*sp, '*') == NULL &&
          (first = strstr(url, *sp)) != NULL && strstr(first + 1, *sp) == NULL &&
          strstr(u.display, *sp) != NULL)
        abort();
    lm_url_release(&u);
  } else if (e.message == NULL || e.message[0] == '\0') {
    abort();
  }
  /* the masking function itself on the raw input as the secret: gone
   * from the message, when it is long enough to be searched for (4+
   * characters: db.c leaves shorter ones, whose URL is masked anyway) and
   * not made of the stars of the mask itself */
  struct lm_err m = LM_ERR_INIT;
  lm_err_set(&m, LM_ERROR, "message about %s and %s", url, url);
  char *raw[] = {url, NULL};
  lm_err_redact(&m, raw);
  if (strlen(url) >= 4 && strchr(url, '*') == NULL && strstr(m.message, url) != NULL) abort();
  lm_err_release(&m);
  lm_err_release(&e);
  free(url);
  return 0;
}
