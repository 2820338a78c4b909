/*
 * fuzz_url.c -- libFuzzer target for the database URL parser (db.c's
 * lm_url_parse, and libpq's conninfo check behind it for postgresql://).
 *
 * Beyond "no crash": a parsed URL has a driver and a target, its display
 * form never holds the password it was given as a whole word (db.c's rule), a failure carries a message,
 * and redacting a secret out of a message leaves no copy of it. Nothing
 * connects.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int word_byte(unsigned char c) { return isalnum(c) || c == '_' || c >= 0x80; }

/* Whether needle stands in text as a whole, as db.c's redactor masks it: an
 * end of needle that is a word byte does not touch another word byte (a
 * password inside a longer word, "secret" in a database "mysecretdb", is
 * left by design: masking it there would tell it). */
static int whole_in(const char *text, const char *needle) {
  size_t n = strlen(needle);
  int ws = word_byte((unsigned char)needle[0]), we = word_byte((unsigned char)needle[n - 1]);
  for (const char *hit = strstr(text, needle); hit != NULL; hit = strstr(hit + 1, needle))
    if (!(ws && hit > text && word_byte((unsigned char)hit[-1])) && !(we && word_byte((unsigned char)hit[n])))
      return 1;
  return 0;
}

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
          whole_in(u.display, *sp))
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
  if (strlen(url) >= 4 && strchr(url, '*') == NULL && whole_in(m.message, url)) abort();
  lm_err_release(&m);
  lm_err_release(&e);
  free(url);
  return 0;
}
