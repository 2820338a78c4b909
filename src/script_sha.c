/*
 * script_sha.c -- a script's SHA-256 (its checksum in the version log),
 * with libcrypto loaded by dlopen on the first checksum rather than linked:
 * listings (history, heads, show, ...) read the scripts' headers and never
 * hash, and relocating libcrypto at start was ~3 M instructions and 120
 * page faults, a tenth of `history` at 1,000 revisions. LUAMIG_LIBCRYPTO
 * names another file to load (lib_load.c).
 */
#include "lib_load.h"
#include "script.h"

#include <openssl/evp.h>
#include <openssl/opensslv.h>

#define STR_(x) #x
#define STR(x) STR_(x)
#if OPENSSL_VERSION_MAJOR >= 3
#define LIBCRYPTO_SONAME "libcrypto.so." STR(OPENSSL_SHLIB_VERSION)
#else
#define LIBCRYPTO_SONAME "libcrypto.so.1.1"
#endif

static struct {
  EVP_MD_CTX *(*ctx_new)(void);
  const EVP_MD *(*sha256)(void);
  int (*init)(EVP_MD_CTX *, const EVP_MD *, ENGINE *);
  int (*update)(EVP_MD_CTX *, const void *, size_t);
  int (*final)(EVP_MD_CTX *, unsigned char *, unsigned int *);
} crypto;

static struct lm_lib libcrypto = {
  .name = "libcrypto", .soname = LIBCRYPTO_SONAME, .env = "LUAMIG_LIBCRYPTO",
  .needed = " (OpenSSL), which the scripts' SHA-256 checksums need",
  .package = "libssl3", .version = "",
};

static int load_crypto(struct lm_err *e) {
  if (crypto.final != NULL) return LM_OK;         /* lm_lib_open writes all or none */
  static const char *const names[] = {"EVP_MD_CTX_new", "EVP_sha256", "EVP_DigestInit_ex",
                                      "EVP_DigestUpdate", "EVP_DigestFinal_ex"};
  void *const slots[] = {&crypto.ctx_new, &crypto.sha256, &crypto.init, &crypto.update,
                         &crypto.final};
  return lm_lib_open(&libcrypto, names, slots, sizeof names / sizeof names[0], e);
}

int lm_script_sha256(const void *data, size_t len, char hex[65], struct lm_err *e) {
  if (load_crypto(e) != LM_OK) return LM_ERROR;
  /* One context for the process: creating one per file (as EVP_Digest
   * does) costs more than hashing a migration. */
  static EVP_MD_CTX *ctx;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (ctx == NULL && (ctx = crypto.ctx_new()) == NULL)
    return lm_lib_nothing(&libcrypto, "EVP_MD_CTX_new", e);
  if (!crypto.init(ctx, crypto.sha256(), NULL))
    return lm_lib_failed(&libcrypto, "EVP_DigestInit_ex", e);
  if (!crypto.update(ctx, data, len)) return lm_lib_failed(&libcrypto, "EVP_DigestUpdate", e);
  if (!crypto.final(ctx, md, &mdlen) || mdlen != 32)
    return lm_lib_failed(&libcrypto, "EVP_DigestFinal_ex", e);
  static const char digits[] = "0123456789abcdef";
  for (unsigned int i = 0; i < mdlen; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  hex[64] = '\0';
  return LM_OK;
}
