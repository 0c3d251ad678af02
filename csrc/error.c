/* Error tables: building them, their metatable (__tostring) and raw reads. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void lp_error_set(lp_error *e, const char *kind, const char *code, const char *field,
                  const char *fmt, ...) {
  va_list ap;
  e->kind = kind;
  e->code = code;
  e->retryable = 0;
  e->curl_code = 0;
  snprintf(e->field, sizeof e->field, "%s", field ? field : "");
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
}

void lp_excerpt(char *out, size_t outsize, const char *s, size_t n, size_t max) {
  size_t o = 0;
  for (size_t i = 0; i < n && i < max && o + 5 < outsize; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') out[o++] = (char)c;
    else o += (size_t)snprintf(out + o, outsize - o, "\\x%02X", c);
  }
  if (n > max && o + 4 < outsize) { memcpy(out + o, "...", 3); o += 3; }
  out[o < outsize ? o : outsize - 1] = '\0';
}

void lp_error_new(lua_State *L, const char *kind, const char *code, const char *message) {
  lua_createtable(L, 0, 8);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, code);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, message);
  lua_setfield(L, -2, "message");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "retryable");
  luaL_getmetatable(L, LP_ERROR_MT);
  lua_setmetatable(L, -2);
}

void lp_error_push(lua_State *L, const lp_error *e) {
  lp_error_new(L, e->kind, e->code, e->message);
  if (e->field[0]) {
    lua_pushstring(L, e->field);
    lua_setfield(L, -2, "field");
  }
  if (e->curl_code) {
    lua_pushinteger(L, (lua_Integer)e->curl_code);
    lua_setfield(L, -2, "curl_code");
  }
  lua_pushboolean(L, e->retryable);
  lua_setfield(L, -2, "retryable");
}

int lp_error_is(lua_State *L, int idx) {
  if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, LP_ERROR_MT);
  int same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same;
}

/* Appends ", " between the parts of the parenthesised detail. */
static void detail(luaL_Buffer *b, int *n, const char *label, const char *value) {
  luaL_addstring(b, *n ? ", " : " (");
  luaL_addstring(b, label);
  luaL_addstring(b, value);
  (*n)++;
}

/* Raw reads: the table holds what they return, whatever its metatable says. */
static const char *str_field(lua_State *L, int t, const char *name) {
  lua_pushstring(L, name);
  lua_rawget(L, t);
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1);   /* the string stays alive: the table still holds it */
  return s;
}

/* A whole number field within +-10^9 (what status codes and counts are), else 0. */
static long small_int_field(lua_State *L, int t, const char *name) {
  lua_pushstring(L, name);
  lua_rawget(L, t);
  lua_Number v = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
  lua_pop(L, 1);
  return v == v && v >= -1e9 && v <= 1e9 ? (long)v : 0;
}

/* livepull: api error CodeTaskNotExist (HTTP 400, RequestId 16A9...): Task does not exist. */
static int error_tostring(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  char num[32];
  int n = 0;
  luaL_Buffer b;
  const char *kind = str_field(L, 1, "kind"), *code = str_field(L, 1, "code");
  const char *field = str_field(L, 1, "field"), *rid = str_field(L, 1, "request_id");
  const char *message = str_field(L, 1, "message");
  long status = small_int_field(L, 1, "status"), curl = small_int_field(L, 1, "curl_code");
  long attempts = small_int_field(L, 1, "attempts");

  luaL_buffinit(L, &b);
  luaL_addstring(&b, "livepull: ");
  luaL_addstring(&b, kind ? kind : "unknown");
  luaL_addstring(&b, " error ");
  luaL_addstring(&b, code ? code : "?");
  if (status) { snprintf(num, sizeof num, "%ld", status); detail(&b, &n, "HTTP ", num); }
  if (rid) detail(&b, &n, "RequestId ", rid);
  if (field) detail(&b, &n, "field ", field);
  if (curl) { snprintf(num, sizeof num, "%ld", curl); detail(&b, &n, "curl ", num); }
  if (attempts > 1) { snprintf(num, sizeof num, "%ld", attempts); detail(&b, &n, "attempts ", num); }
  if (n) luaL_addchar(&b, ')');
  luaL_addstring(&b, ": ");
  luaL_addstring(&b, message ? message : "");
  luaL_pushresult(&b);
  return 1;
}

void lp_error_open(lua_State *L) {
  if (luaL_newmetatable(L, LP_ERROR_MT)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "livepull.error");
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
}
