/* Errors are Lua tables sharing one metatable (registry key
 * LP_ERROR_MT): kind, code, message and, depending on the kind, field,
 * status, request_id, host_id, recommend, curl_code, retryable.
 * Stages below Lua fill an lp_error; only the Lua-facing code pushes it. */
#ifndef LIVEPULL_ERROR_H
#define LIVEPULL_ERROR_H

#include "compat.h"

#define LP_ERROR_MT "livepull.error"

typedef struct lp_error {
  const char *kind;     /* "validation", "config", "transport", "api", "protocol" */
  const char *code;     /* a static string */
  char field[128];
  char message[480];
  int retryable;
  long curl_code;       /* transport only, else 0 */
} lp_error;

void lp_error_set(lp_error *e, const char *kind, const char *code, const char *field,
                  const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* Writes a short, printable excerpt of user bytes (for messages): at most
 * max bytes, anything outside printable ASCII as \xNN. */
void lp_excerpt(char *out, size_t outsize, const char *s, size_t n, size_t max);

void lp_error_push(lua_State *L, const lp_error *e);
/* Pushes a new error table with the three fields every error has. */
void lp_error_new(lua_State *L, const char *kind, const char *code, const char *message);
void lp_error_open(lua_State *L);      /* creates the metatable */
int lp_error_is(lua_State *L, int idx);

#endif
