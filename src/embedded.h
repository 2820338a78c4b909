/*
 * embedded.h -- the Lua modules compiled into the luamig binary (the
 * table is generated from lua/ by tools/embed.lua at build time).
 */
#ifndef LUAMIG_EMBEDDED_H
#define LUAMIG_EMBEDDED_H

#include <stddef.h>

struct lm_embedded {
  const char *module;      /* "luamig.op" */
  const char *chunkname;   /* "@lua/luamig/op/init.lua", for messages */
  const char *source;
  size_t len;
};

extern const struct lm_embedded lm_embedded[];   /* ends with a NULL module */

#endif
