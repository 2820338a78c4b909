/*
 * script_scan.c -- a script's metadata read from its text, without
 * compiling or running it.
 *
 * Listing 10,000 revisions (history, heads, current) needs only each
 * script's header; compiling and running every file was two thirds of
 * that work. The scan accepts one plain form -- the one `luamig revision`
 * writes -- and declines anything else, so that the caller falls back to
 * the full load:
 *
 *   - blank lines and `--` comments (not long comments: they may hide code);
 *   - `name = literal` in column 0 for the metadata names, each once, where
 *     literal is nil, true, false, a quoted string without escapes, or a
 *     one-line list of such strings;
 *   - `function upgrade(...)` / `function downgrade(...)` alone on a line in
 *     column 0, the body closed by `end` alone in column 0; inside it, Lua's
 *     strings and comments are followed far enough that a long string or
 *     long comment spanning lines ([[ ... ]], [==[ ... ]==]) is skipped
 *     whole, as Lua's lexer does.
 *
 * Whatever is declined costs one wasted read of the file; whatever is
 * accepted is checked against the full load when that happens
 * (lua_graph.c), so a scan that read differently from Lua is an error,
 * never a silent difference (spec/fuzz/fuzz_script.c compares the two).
 */
#include "script.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

static int is_ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static const char *skip_blanks(const char *p, const char *end) {
  while (p < end && is_blank(*p)) p++;
  return p;
}

/* Whether [p, end) starts with the keyword word, not followed by a name
 * character. */
static int starts_word(const char *p, const char *end, const char *word) {
  size_t n = strlen(word);
  return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 &&
         (p + n == end || !is_ident_char(p[n]));
}

/* A quoted string without escapes at *pp: its text (between the quotes)
 * in *out; advances *pp. */
static int scan_string(const char **pp, const char *end, struct lm_scan_slice *out) {
  const char *p = *pp;
  if (p >= end || (*p != '"' && *p != '\'')) return 0;
  const char *s = p + 1, *e = s;
  while (e < end && *e != *p) {
    if (*e == '\\') return 0;
    e++;
  }
  if (e >= end) return 0;
  *out = (struct lm_scan_slice){s, (size_t)(e - s)};
  *pp = e + 1;
  return 1;
}

static void add_item(struct lm_scan *sc, struct lm_scan_slice item) {
  if (sc->nitems == sc->cap) {
    sc->cap = sc->cap ? sc->cap * 2 : 8;
    sc->items = lm_realloc(sc->items, sc->cap * sizeof *sc->items);
  }
  sc->items[sc->nitems++] = item;
}

/* A literal at *pp on one line ending at end, into *v (a list's strings
 * appended to sc->items); advances *pp. 0 when it is anything else. */
static int scan_literal(struct lm_scan *sc, const char **pp, const char *end, struct lm_scan_value *v) {
  const char *p = *pp;
  static const char *const words[] = {"nil", "true", "false"};
  if (p < end && (*p == '"' || *p == '\'')) {
    v->kind = LM_SCAN_STRING;
    return scan_string(pp, end, &v->text);
  }
  for (int i = 0; i < 3; i++) {
    if (starts_word(p, end, words[i])) {
      v->kind = i == 0 ? LM_SCAN_NIL : i == 1 ? LM_SCAN_TRUE : LM_SCAN_FALSE;
      *pp = p + strlen(words[i]);
      return 1;
    }
  }
  if (p >= end || *p != '{') return 0;
  v->kind = LM_SCAN_LIST;
  v->first = sc->nitems;
  p = skip_blanks(p + 1, end);
  while (p < end && *p != '}') {
    struct lm_scan_slice item;
    if (!scan_string(&p, end, &item)) return 0;
    add_item(sc, item);
    p = skip_blanks(p, end);
    if (p < end && *p == ',') p = skip_blanks(p + 1, end);
    else if (p < end && *p != '}') break;
  }
  if (p >= end || *p != '}') return 0;
  v->n = sc->nitems - v->first;
  *pp = p + 1;
  return 1;
}

/* Whether [p, end) is a one-line comment: "--" not opening a long one. */
static int line_comment(const char *p, const char *end) {
  if (end - p < 2 || p[0] != '-' || p[1] != '-') return 0;
  p += 2;
  if (p < end && *p == '[') {
    p++;
    while (p < end && *p == '=') p++;
    if (p < end && *p == '[') return 0;
  }
  return 1;
}

/* The level of the long bracket opening at p ("[[" 0, "[=[" 1, ...), its
 * end in *after; -1 when p opens none. */
static int long_open(const char *p, const char *end, const char **after) {
  if (p >= end || *p != '[') return -1;
  const char *q = p + 1;
  while (q < end && *q == '=') q++;
  if (q >= end || *q != '[') return -1;
  *after = q + 1;
  return (int)(q - p - 1);
}

/* The characters that may start a string, a comment or a long bracket. */
static const unsigned char token_start[256] = {['"'] = 1, ['\''] = 1, ['-'] = 1, ['['] = 1};

/* Follows Lua's tokens across one line [p, eol) of a function body, far
 * enough to know where a long string or long comment opened on one line
 * closes on a later one: *level is the open long bracket's level, -1 for
 * none. Returns 0 for what the scan does not follow (a quoted string
 * continued on the next line). */
static int scan_body_line(const char *p, const char *eol, int *level) {
  const char *after;
  while (p < eol) {
    if (*level >= 0) {                                /* inside [=*[ ... ]=*] */
      const char *close = memchr(p, ']', (size_t)(eol - p));
      if (close == NULL) return 1;
      const char *q = close + 1;
      while (q < eol && *q == '=') q++;
      if (q < eol && *q == ']' && q - close - 1 == *level) {
        *level = -1;
        p = q + 1;
      } else {
        p = close + 1;
      }
    } else if (*p == '"' || *p == '\'') {
      char quote = *p++;
      for (; p < eol && *p != quote; p++)
        if (*p == '\\' && ++p >= eol) return 0;     /* an escaped newline */
      if (p >= eol) return 0;
      p++;
    } else if (eol - p >= 2 && p[0] == '-' && p[1] == '-') {
      int n = long_open(p + 2, eol, &after);
      if (n < 0) return 1;                            /* a line comment: the rest is text */
      *level = n;
      p = after;
    } else if (*p == '[' && (*level = long_open(p, eol, &after)) >= 0) {
      p = after;
    } else {
      for (p++; p < eol && !token_start[(unsigned char)*p]; p++) {}
    }
  }
  return 1;
}

static const char *const meta_names[] = {"revision", "down_revision", "branch_labels",
                                         "depends_on", "replaces", "message", "transactional",
                                         "ddl_lock_timeout", "statement_timeout", "lock_retries",
                                         NULL};
enum { FIRST_NUMERIC = 7 };                           /* the names that may be a number */

/* A decimal number's text (digits and points) at *pp; Lua reads it when
 * it is pushed (lm_script_scan_push), and one Lua does not read declines. */
static int scan_number(const char **pp, const char *end, struct lm_scan_value *v) {
  const char *p = *pp;
  while (p < end && (isdigit((unsigned char)*p) || *p == '.') && p - *pp < LM_SCAN_NUMBER_MAX) p++;
  if (p == *pp || (p < end && is_ident_char(*p))) return 0;
  v->kind = LM_SCAN_NUMBER;
  v->text = (struct lm_scan_slice){*pp, (size_t)(p - *pp)};
  *pp = p;
  return 1;
}

/* One top-level `name = literal` line [p, eol): sets sc's value of name. */
static int scan_assignment(struct lm_scan *sc, const char *p, const char *eol) {
  const char *name = p;
  while (p < eol && is_ident_char(*p)) p++;
  size_t n = (size_t)(p - name);
  int k = 0;
  while (meta_names[k] && !(strlen(meta_names[k]) == n && memcmp(meta_names[k], name, n) == 0))
    k++;
  if (meta_names[k] == NULL) return 0;
  p = skip_blanks(p, eol);
  if (p >= eol || *p != '=' || (p + 1 < eol && p[1] == '=')) return 0;
  p = skip_blanks(p + 1, eol);
  if (sc->seen & (1u << k)) return 0;                /* set twice: let Lua decide */
  struct lm_scan_value *v = &sc->v[k];
  if (k >= FIRST_NUMERIC && p < eol && isdigit((unsigned char)*p)) {
    if (!scan_number(&p, eol, v)) return 0;
  } else if (!scan_literal(sc, &p, eol, v)) {
    return 0;
  }
  p = skip_blanks(p, eol);
  if (p < eol && !line_comment(p, eol)) return 0;
  sc->seen |= 1u << k;
  return 1;
}

int lm_script_scan_parse(const char *data, size_t len, struct lm_scan *sc) {
  const char *p = data, *end = data + len;
  int in_body = 0, level = -1, has_upgrade = 0, has_downgrade = 0;
  int any_cr = memchr(data, '\r', len) != NULL;     /* most files have none: no look per line */
  sc->accepted = 0;
  sc->seen = 0;
  sc->nitems = 0;
  for (; p < end; p++) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (eol == NULL) eol = end;
    const char *cr = any_cr ? memchr(p, '\r', (size_t)(eol - p)) : NULL;
    if (cr != NULL && cr != eol - 1) goto decline;    /* Lua breaks lines at a lone \r too */
    const char *q = skip_blanks(p, eol);
    if (in_body) {
      if (level < 0 && q == p && q < eol) {          /* column 0 ends the body, or declines */
        if (!starts_word(q, eol, "end") || skip_blanks(q + 3, eol) != eol) goto decline;
        in_body = 0;
      } else if (!scan_body_line(p, eol, &level)) {
        goto decline;
      }
    } else if (q == eol || line_comment(q, eol)) {
      /* a blank line, or a one-line comment at the top level */
    } else if (q != p) {
      goto decline;                                   /* indented code at the top level */
    } else if (starts_word(q, eol, "function")) {
      q = skip_blanks(q + 8, eol);
      if (starts_word(q, eol, "upgrade") && !has_upgrade) {
        has_upgrade = 1;
        q += 7;
      } else if (starts_word(q, eol, "downgrade") && !has_downgrade) {
        has_downgrade = 1;
        q += 9;
      } else {
        goto decline;
      }
      if ((q = skip_blanks(q, eol)) >= eol || *q != '(') goto decline;
      if ((q = memchr(q, ')', (size_t)(eol - q))) == NULL) goto decline;
      q = skip_blanks(q + 1, eol);                    /* nothing after the parameters */
      if (q < eol && !(eol - q >= 2 && q[0] == '-' && q[1] == '-')) goto decline;
      in_body = 1;
      if (!scan_body_line(q, eol, &level)) goto decline;   /* a long comment may open here */
    } else if (!scan_assignment(sc, q, eol)) {
      goto decline;
    }
    p = eol;
  }
  if (in_body || !has_upgrade) goto decline;
  sc->has_downgrade = has_downgrade;
  return sc->accepted = 1;
decline:
  return 0;
}

int lm_script_scan_push(lua_State *L, const struct lm_scan *sc) {
  int top = lua_gettop(L);
  lua_createtable(L, 0, 8);                          /* the metadata names and has_downgrade */
  for (int k = 0; meta_names[k]; k++) {
    if (!(sc->seen & (1u << k))) continue;
    const struct lm_scan_value *v = &sc->v[k];
    switch (v->kind) {
    case LM_SCAN_NIL: lua_pushnil(L); break;
    case LM_SCAN_TRUE: lua_pushboolean(L, 1); break;
    case LM_SCAN_FALSE: lua_pushboolean(L, 0); break;
    case LM_SCAN_STRING: lua_pushlstring(L, v->text.s, v->text.len); break;
    case LM_SCAN_NUMBER: {
      char buf[LM_SCAN_NUMBER_MAX + 1];
      memcpy(buf, v->text.s, v->text.len);
      buf[v->text.len] = '\0';
      if (lua_stringtonumber(L, buf) == 0) {          /* "1.2.3": Lua's to say */
        lua_settop(L, top);
        return 0;
      }
      break;
    }
    default:                                          /* LM_SCAN_LIST */
      lua_createtable(L, (int)v->n, 0);
      for (size_t i = 0; i < v->n; i++) {
        lua_pushlstring(L, sc->items[v->first + i].s, sc->items[v->first + i].len);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
    }
    lua_setfield(L, top + 1, meta_names[k]);
  }
  lua_pushboolean(L, sc->has_downgrade);
  lua_setfield(L, top + 1, "\001has_downgrade");
  return 1;
}

void lm_script_scan_release(struct lm_scan *sc) {
  free(sc->items);
  sc->items = NULL;
  sc->nitems = sc->cap = 0;
}

int lm_script_scan_header(lua_State *L, const char *data, size_t len) {
  struct lm_scan sc = LM_SCAN_INIT;
  int ok = lm_script_scan_parse(data, len, &sc);
  /* a push that fails on memory leaks the items: a few bytes, as rare */
  if (ok) ok = lm_script_scan_push(L, &sc);
  lm_script_scan_release(&sc);
  return ok;
}

/* Lua's %s without the newline (lines never hold one). */
static int is_line_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

int lm_script_first_revision(const char *data, size_t len, const char **id, size_t *idlen) {
  const char *end = data + len;
  for (const char *p = data; p < end; p++) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (eol == NULL) eol = end;
    const char *q = p;
    while (q < eol && is_line_space(*q)) q++;
    if ((size_t)(eol - q) >= 8 && memcmp(q, "revision", 8) == 0) {
      for (q += 8; q < eol && is_line_space(*q); q++) {}
      if (q < eol && *q == '=') {
        for (q++; q < eol && is_line_space(*q); q++) {}
        if (q < eol && (*q == '"' || *q == '\'')) {
          const char *s = q + 1, *e = s;
          while (e < eol && *e != *q && *e != '\\') e++;
          if (e < eol && *e == *q) {
            *id = s;
            *idlen = (size_t)(e - s);
            return 1;
          }
        }
      }
    }
    p = eol;
  }
  return 0;
}

/* Whether the values at a and b are equal, lists compared by element. */
static int same_value(lua_State *L, int a, int b) {
  if (!lua_istable(L, a) || !lua_istable(L, b)) return lua_rawequal(L, a, b);
  lua_Integer n = (lua_Integer)lua_rawlen(L, a);
  if ((lua_Integer)lua_rawlen(L, b) != n) return 0;
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, a, i);
    lua_rawgeti(L, b, i);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (!same) return 0;
  }
  return 1;
}

const char *lm_script_scan_differs(lua_State *L, int scanned, int loaded) {
  static const char *const fields[] = {"revision", "down_revision", "parents", "branch_labels",
                                       "depends_on", "replaces", "message", "transactional",
                                       "ddl_lock_timeout", "statement_timeout", "lock_retries",
                                       NULL};
  scanned = lua_absindex(L, scanned);
  loaded = lua_absindex(L, loaded);
  const char *differs = NULL;
  for (int i = 0; fields[i] && !differs; i++) {
    lua_getfield(L, scanned, fields[i]);
    lua_getfield(L, loaded, fields[i]);
    if (!same_value(L, -1, -2)) differs = fields[i];
    lua_pop(L, 2);
  }
  if (differs) return differs;
  lua_getfield(L, scanned, "has_downgrade");
  lua_getfield(L, loaded, "downgrade");
  if (lua_toboolean(L, -2) != !lua_isnil(L, -1)) differs = "downgrade function";
  lua_pop(L, 2);
  return differs;
}
