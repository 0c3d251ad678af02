/* Redaction and the length cap of error strings (see redact.h). */
#include "redact.h"

#include <stdio.h>
#include <string.h>

#include "encode.h"

/* A byte is recognised percent-encoded up to 1 + this many times: deep
 * enough for any real quoting, and a bound on the work a hostile
 * "%252525..." can cause. */
#define MAX_EXTRA_ENCODINGS 7

void lp_secrets_add(lp_secrets *s, const char *value, size_t n) {
  if (!value || n == 0 || s->count >= LP_MAX_SECRETS) return;
  s->item[s->count].s = value;
  s->item[s->count].n = n;
  s->count++;
}

static unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c; }

/* 1 when s[0..n) starts with p[0..pn), ASCII case aside (%2b is %2B). */
static int starts_with(const char *s, size_t n, const char *p, size_t pn) {
  if (pn > n) return 0;
  for (size_t i = 0; i < pn; i++)
    if (lower((unsigned char)s[i]) != lower((unsigned char)p[i])) return 0;
  return 1;
}

/* s with its %XX escapes decoded (user info is written so), pushed. */
static void push_decoded(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i++) {
    int hi = i + 2 < n ? lp_hex_value((unsigned char)s[i + 1]) : -1;
    int lo = i + 2 < n ? lp_hex_value((unsigned char)s[i + 2]) : -1;
    if (s[i] == '%' && hi >= 0 && lo >= 0) {
      luaL_addchar(&b, (char)(hi * 16 + lo));
      i += 2;
    } else {
      luaL_addchar(&b, s[i]);
    }
  }
  luaL_pushresult(&b);
}

lp_spellings lp_spellings_push(lua_State *L, const lp_secrets *s) {
  lp_spellings sp = {lua_gettop(L), 0};
  if (!s) return sp;
  luaL_checkstack(L, LP_MAX_SECRETS + 8, "redacting secrets");
  for (int i = 0; i < s->count; i++, sp.count++) push_decoded(L, s->item[i].s, s->item[i].n);
  return sp;
}

void lp_spellings_pop(lua_State *L, const lp_spellings *sp) {
  for (int i = 0; i < sp->count; i++) lua_remove(L, sp->base + 1);
}

/* The length of the text at s that spells byte b, or 0: b itself, b after
 * a backslash (JSON's \/), or %HH percent-encoded up to 8 times (%2B,
 * %252B, %25252B...). Letters match in either case: a secret
 * folded to one case still gives most of it away. */
static size_t spelled_byte(const char *s, size_t n, unsigned char b) {
  if (n == 0) return 0;
  if (s[0] == '%') {
    size_t pairs = 0;   /* the "25"s of each extra encoding */
    while (pairs < MAX_EXTRA_ENCODINGS && 3 + 2 * pairs <= n && s[1 + 2 * pairs] == '2' &&
           s[2 + 2 * pairs] == '5')
      pairs++;
    size_t at = 1 + 2 * pairs;
    int hi = at + 1 < n ? lp_hex_value((unsigned char)s[at]) : -1;
    int lo = at + 1 < n ? lp_hex_value((unsigned char)s[at + 1]) : -1;
    if (hi >= 0 && lo >= 0 && hi * 16 + lo == b) return at + 2;
    if (b == '%' && pairs > 0) return at;   /* the last "25" was the byte itself */
  }
  if (lower((unsigned char)s[0]) == lower(b)) return 1;
  if (s[0] == '\\' && n > 1 && lower((unsigned char)s[1]) == lower(b)) return 2;
  return 0;
}

/* The length of the text at s that spells the whole secret, or 0. */
static size_t spelled_secret(const char *s, size_t n, const char *secret, size_t sn) {
  size_t i = 0;
  for (size_t k = 0; k < sn; k++) {
    size_t u = spelled_byte(s + i, n - i, (unsigned char)secret[k]);
    if (!u) return 0;
    i += u;
  }
  return i;
}

/* A signature's value: Base64 or hex, its + / = possibly percent-encoded
 * up to 8 times. Returns its length at s. */
static size_t signature_value(const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t u = lp_is_alnum((unsigned char)s[i]) ? 1 : 0;
    if (!u) u = spelled_byte(s + i, n - i, '+');
    if (!u) u = spelled_byte(s + i, n - i, '/');
    if (!u) u = spelled_byte(s + i, n - i, '=');
    if (!u) break;
    i += u;
  }
  return i;
}

/* At s: "Signature" and '=' (encoded or not) or a JSON "Signature":" ;
 * returns the offset of the value, or 0. */
static size_t signature_label(const char *s, size_t n) {
  static const char *const json_separators[] = {"\":\"", "\": \"", NULL};
  if (!starts_with(s, n, "Signature", 9)) return 0;
  size_t eq = spelled_byte(s + 9, n - 9, '=');
  if (eq) return 9 + eq;
  for (int k = 0; json_separators[k]; k++)
    if (starts_with(s + 9, n - 9, json_separators[k], strlen(json_separators[k])))
      return 9 + strlen(json_separators[k]);
  return 0;
}

typedef struct spelling { const char *s; size_t n; } spelling;

static int read_spellings(lua_State *L, const lp_spellings *sp, spelling out[LP_MAX_SECRETS]) {
  int k = 0;
  for (int i = 0; sp && i < sp->count && k < LP_MAX_SECRETS; i++, k++)
    out[k].s = lua_tolstring(L, sp->base + 1 + i, &out[k].n);   /* strings: no conversion */
  return k;
}

/* Redacts s into b, replacing what starts before limit (a match may run
 * past it); returns where it stopped, *changed set when it replaced any. */
static size_t redact_into(luaL_Buffer *b, const char *s, size_t n, size_t limit, const spelling *sp,
                          int k, int *changed) {
  size_t i = 0, copied = 0;
  while (i < n && i < limit) {
    size_t best = 0, value_at = 0, value_len = 0;
    for (int j = 0; j < k; j++) {   /* the longest spelling that matches here */
      size_t len = spelled_secret(s + i, n - i, sp[j].s, sp[j].n);
      if (len > best) best = len;
    }
    if (!best && (value_at = signature_label(s + i, n - i)) != 0)
      value_len = signature_value(s + i + value_at, n - i - value_at);
    if (!best && !value_len) { i++; continue; }
    luaL_addlstring(b, s + copied, i + value_at - copied);
    luaL_addstring(b, LP_REDACTED);
    i += best ? best : value_at + value_len;
    copied = i;
    *changed = 1;
  }
  luaL_addlstring(b, s + copied, i - copied);
  return i;
}

/* The first LP_ERROR_TEXT_MAX bytes of s (at most), cut before a UTF-8
 * character's continuation bytes, and a note of how much the text had. */
static void push_cut(lua_State *L, const char *s, size_t n, size_t total) {
  size_t keep = n < LP_ERROR_TEXT_MAX ? n : LP_ERROR_TEXT_MAX;
  for (int back = 0; back < 3 && keep > 0 && keep < n && ((unsigned char)s[keep] & 0xC0) == 0x80; back++) keep--;
  char note[64];
  snprintf(note, sizeof note, " [cut: %zu of %zu bytes shown]", keep, total);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, s, keep);
  luaL_addstring(&b, note);
  luaL_pushresult(&b);
}

/* Pushes s redacted and cut and returns 1, or returns 0 (nothing pushed)
 * when s needs neither. Past the cap nothing is read: a 1 GiB message
 * costs what a 1 KiB one does. */
static int push_clean(lua_State *L, const char *s, size_t n, const spelling *sp, int k) {
  luaL_Buffer b;
  int changed = 0;
  luaL_buffinit(L, &b);
  size_t stop = redact_into(&b, s, n, LP_ERROR_TEXT_MAX + 1, sp, k, &changed);
  luaL_pushresult(&b);
  size_t len;
  const char *clean = lua_tolstring(L, -1, &len);
  if (stop < n || len > LP_ERROR_TEXT_MAX) {
    push_cut(L, clean, len, n);
    lua_remove(L, -2);
    return 1;
  }
  if (changed) return 1;
  lua_pop(L, 1);
  return 0;
}

void lp_redact_error(lua_State *L, int idx, const lp_spellings *sp) {
  spelling list[LP_MAX_SECRETS];
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  int k = read_spellings(L, sp, list);
  luaL_checkstack(L, 8, "redacting an error");
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -1) == LUA_TSTRING) {
      size_t n;
      const char *s = lua_tolstring(L, -1, &n);
      if (push_clean(L, s, n, list, k)) {
        lua_pushvalue(L, -3);   /* key */
        lua_insert(L, -2);
        lua_rawset(L, idx);     /* an existing key: allowed during lua_next */
      }
    }
    lua_pop(L, 1);
  }
}

void lp_redact_error_with(lua_State *L, int idx, const lp_secrets *s) {
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  lp_spellings sp = lp_spellings_push(L, s);
  lp_redact_error(L, idx, &sp);
  lp_spellings_pop(L, &sp);
}

int lp_redact_push_head(lua_State *L, const char *s, size_t n, size_t keep,
                        const lp_spellings *sp) {
  spelling list[LP_MAX_SECRETS];
  int k = read_spellings(L, sp, list), changed = 0;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t stop = redact_into(&b, s, n, keep, list, k, &changed);
  luaL_pushresult(&b);
  return stop < n;
}
