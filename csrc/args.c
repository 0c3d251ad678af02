/* Shared checks of Lua arguments: types, whole numbers, plain tables and
 * known keys with a suggestion. */
#include "args.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

const char *lp_type_name(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
#if LP_HAS_INTEGERS
    if (lua_isinteger(L, idx)) return "integer";
#endif
    return "number";
  }
  return lua_typename(L, lua_type(L, idx));
}

int lp_check_integer(lua_State *L, int idx, long long *out) {
  if (lua_type(L, idx) != LUA_TNUMBER) return -1;
#if LP_HAS_INTEGERS
  if (lua_isinteger(L, idx)) { *out = (long long)lua_tointeger(L, idx); return 0; }
#endif
  lua_Number d = lua_tonumber(L, idx);
  /* 2^63 is exact as a double; anything at or past it does not fit. */
  if (isnan(d) || isinf(d) || d != floor(d) || d >= 9223372036854775808.0 ||
      d < -9223372036854775808.0)
    return -2;
  *out = (long long)d;
  return 0;
}

int lp_is_plain_table(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  if (!lua_getmetatable(L, idx)) return 1;
  lua_pop(L, 1);
  return 0;
}

static unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Levenshtein distance, case-insensitive, on names of at most 62 bytes. */
static size_t edit_distance(const char *a, size_t n, const char *b, size_t m) {
  size_t row[64];
  if (n >= 63 || m >= 63) return 99;
  for (size_t j = 0; j <= m; j++) row[j] = j;
  for (size_t i = 1; i <= n; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= m; j++) {
      size_t up = row[j];
      size_t cost = lower((unsigned char)a[i - 1]) != lower((unsigned char)b[j - 1]);
      size_t best = diag + cost;
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[m];
}

#define NEXT_NAME(p, stride) ((const char *const *)((const char *)(p) + (stride)))

const char *lp_suggest(const char *name, size_t len, const char *const *names, size_t stride) {
  const char *best = NULL;
  size_t best_d = 3;
  for (const char *const *p = names; *p; p = NEXT_NAME(p, stride)) {
    size_t d = edit_distance(name, len, *p, strlen(*p));
    if (d < best_d) { best_d = d; best = *p; }
  }
  return best;
}

static int listed(const char *key, size_t len, const char *const *names, size_t stride) {
  for (const char *const *p = names; p && *p; p = NEXT_NAME(p, stride))
    if (strlen(*p) == len && memcmp(*p, key, len) == 0) return 1;
  return 0;
}

int lp_find_unknown_key(lua_State *L, int idx, const lp_key_names *names, lp_unknown_key *out) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      out->type = lp_type_name(L, -2);
      out->hint = NULL;
      if (lua_type(L, -2) == LUA_TNUMBER) snprintf(out->shown, sizeof out->shown, "[%.17g]", lua_tonumber(L, -2));
      else snprintf(out->shown, sizeof out->shown, "[%s]", out->type);
      lua_pop(L, 2);
      return 1;
    }
    size_t len;
    const char *key = lua_tolstring(L, -2, &len);   /* a string key: no conversion in place */
    if (!listed(key, len, names->names, names->stride) && !listed(key, len, names->more, sizeof(char *))) {
      out->type = NULL;
      out->hint = lp_suggest(key, len, names->names, names->stride);
      if (!out->hint && names->more) out->hint = lp_suggest(key, len, names->more, sizeof(char *));
      lp_excerpt(out->shown, sizeof out->shown, key, len, 40);
      lua_pop(L, 2);
      return 1;
    }
    lua_pop(L, 1);
  }
  return 0;
}
