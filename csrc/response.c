/* Parse: a raw answer (status, body) into the result table or an api or
 * protocol error table, the same for every transport. */
#include "response.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "policy.h"
#include "redact.h"

#define EXCERPT_BYTES 120   /* of a body that is not the documented JSON */

int lp_api_retryable(const char *code, long status) {
  return lp_code_retryable(code) || lp_status_retryable(status);
}

/* The body's first bytes, secrets redacted before they are escaped and cut. */
static void protocol_error(lua_State *L, long status, const char *body, size_t len,
                           const char *why, const lp_spellings *sp) {
  char excerpt[200], message[400];
  size_t n;
  int more = lp_redact_push_head(L, body, len, EXCERPT_BYTES, sp);
  const char *head = lua_tolstring(L, -1, &n);
  lp_excerpt(excerpt, sizeof excerpt, head, n, EXCERPT_BYTES);
  if (more && n <= EXCERPT_BYTES) strncat(excerpt, "...", sizeof excerpt - strlen(excerpt) - 1);
  lua_pop(L, 1);
  snprintf(message, sizeof message, "%s (HTTP %ld); the body begins: \"%s\"", why, status, excerpt);
  lp_error_new(L, "protocol", "InvalidResponse", message);
  lua_pushinteger(L, (lua_Integer)status);
  lua_setfield(L, -2, "status");
  lua_pushboolean(L, lp_api_retryable(NULL, status));
  lua_setfield(L, -2, "retryable");
}

/* Copies t[from] to err[to] when it is a string (JSON null and numbers are skipped). */
static void copy_string(lua_State *L, int t, const char *from, int err, const char *to) {
  lua_getfield(L, t, from);
  if (lua_type(L, -1) == LUA_TSTRING) lua_setfield(L, err, to);
  else lua_pop(L, 1);
}

static const char *string_field(lua_State *L, int t, const char *name) {
  lua_getfield(L, t, name);
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1);
  return s;
}

static void api_error(lua_State *L, int t, long status, const char *code, const char *message,
                      const char *request_id) {
  lp_error_new(L, "api", code, message);
  int e = lua_gettop(L);
  lua_pushinteger(L, (lua_Integer)status);
  lua_setfield(L, e, "status");
  if (request_id) {
    lua_pushstring(L, request_id);
    lua_setfield(L, e, "request_id");
  }
  copy_string(L, t, "RequestId", e, "request_id");   /* the body's wins over the header */
  copy_string(L, t, "HostId", e, "host_id");
  copy_string(L, t, "Recommend", e, "recommend");
  lua_pushboolean(L, lp_api_retryable(code, status));
  lua_setfield(L, e, "retryable");
}

#if LP_HAS_INTEGERS
/* lua-cjson 2.1 decodes every number as a float; the API's numbers
 * (RetCode, TaskStatus, PageSize...) are integers, so whole values that a
 * double holds exactly become Lua integers again: RetCode == 0, math.type
 * "integer", printed as 0 and not 0.0. */
static void restore_integers(lua_State *L, int t, int depth) {
  if (depth > 100) return;
  luaL_checkstack(L, 4, "decoding an answer");
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -1) == LUA_TTABLE) {
      restore_integers(L, lua_gettop(L), depth + 1);
    } else if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1)) {
      lua_Number d = lua_tonumber(L, -1);
      if (d == floor(d) && d >= -9007199254740992.0 && d <= 9007199254740992.0) {
        lua_pushvalue(L, -2);
        lua_pushinteger(L, (lua_Integer)d);
        lua_rawset(L, t);   /* assigning an existing key is allowed during lua_next */
      }
    }
    lua_pop(L, 1);
  }
}
#else
#define restore_integers(L, t, depth) ((void)0)
#endif

/* 1 when the first byte after JSON whitespace opens an object: cjson
 * decodes [] and {} to the same empty table, so the body itself tells. */
static int opens_object(const char *body, size_t len) {
  size_t i = 0;
  while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r')) i++;
  return i < len && body[i] == '{';
}

static int parse(lua_State *L, long status, const char *body, size_t len, const char *request_id,
                 const lp_spellings *sp) {
  if (!opens_object(body, len)) {
    protocol_error(L, status, body, len, "the answer is not a JSON object", sp);
    return 0;
  }
  lua_getfield(L, LUA_REGISTRYINDEX, LP_JSON_DECODE_KEY);
  lua_pushlstring(L, body, len);
  if (lua_pcall(L, 1, 1, 0) != 0 || lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 1);
    protocol_error(L, status, body, len, "the answer is not a JSON object", sp);
    return 0;
  }
  int t = lua_gettop(L);
  restore_integers(L, t, 0);
  if (status >= 200 && status < 300) {
    /* Success is a RetCode that is absent or the number 0; anything else,
     * even 0.5 or "1", is the service saying no. */
    lua_getfield(L, t, "RetCode");
    int type = lua_type(L, -1);
    if (type == LUA_TNIL || (type == LUA_TNUMBER && lua_tonumber(L, -1) == 0)) {
      lua_pop(L, 1);
      return 1;
    }
    char shown[32] = "?";
    if (type == LUA_TNUMBER || type == LUA_TSTRING) {
      size_t n;
      const char *v = lua_tolstring(L, -1, &n);   /* converts only this stack copy */
      lp_excerpt(shown, sizeof shown, v, n, 20);
    }
    lua_pop(L, 1);
    char code[48], message[80];
    const char *given = string_field(L, t, "Code"), *description = string_field(L, t, "Description");
    snprintf(code, sizeof code, "RetCode.%s", shown);
    snprintf(message, sizeof message, "the service answered RetCode %s", shown);
    api_error(L, t, status, given ? given : code, description ? description : message, request_id);
    lua_getfield(L, t, "RetCode");   /* as the service sent it */
    lua_setfield(L, -2, "ret_code");
    lua_remove(L, t);
    return 0;
  }
  const char *code = string_field(L, t, "Code");
  if (!code) {
    lua_pop(L, 1);
    protocol_error(L, status, body, len, "an error answer without the documented Code field", sp);
    return 0;
  }
  const char *message = string_field(L, t, "Message");
  api_error(L, t, status, code, message ? message : "", request_id);
  lua_remove(L, t);
  return 0;
}

int lp_response_push(lua_State *L, long status, const char *body, size_t len,
                     const char *request_id, const lp_secrets *secrets) {
  lp_spellings sp = lp_spellings_push(L, secrets);   /* copied before any Lua code runs */
  int ok = parse(L, status, body, len, request_id, &sp);
  if (!ok) lp_redact_error(L, -1, &sp);
  lp_spellings_pop(L, &sp);
  return ok;
}
