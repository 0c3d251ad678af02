/* Keeping secrets out of error tables: every string an error carries has
 * the client's secrets (STS token, signature, proxy user info) replaced by
 * "<redacted>" in each spelling a server may quote them in, and is cut to
 * LP_ERROR_TEXT_MAX bytes. Both transports' errors pass through here. */
#ifndef LIVEPULL_REDACT_H
#define LIVEPULL_REDACT_H

#include <stddef.h>

#include "compat.h"

#define LP_MAX_SECRETS 6
#define LP_ERROR_TEXT_MAX 1024   /* bytes kept of any one string of an error */
#define LP_REDACTED "<redacted>"

/* The values to hide. A value is matched however a server quotes it: raw,
 * each byte percent-encoded up to 8 times (hex in either case) or
 * after a backslash; a value given with %XX escapes (proxy user info) is
 * matched by what it decodes to. Spans point into memory the caller owns
 * only until lp_spellings_push has copied them to the stack. */
typedef struct lp_secrets {
  struct { const char *s; size_t n; } item[LP_MAX_SECRETS];
  int count;
} lp_secrets;

/* Adds a secret; NULL, empty and past-capacity values are skipped. */
void lp_secrets_add(lp_secrets *s, const char *value, size_t n);

/* The secrets (decoded), pushed as Lua strings so they outlive whatever
 * held them: a client closed by a finalizer half way. */
typedef struct lp_spellings {
  int base, count;   /* stack slots base+1 .. base+count */
} lp_spellings;

lp_spellings lp_spellings_push(lua_State *L, const lp_secrets *s);   /* s may be NULL */
void lp_spellings_pop(lua_State *L, const lp_spellings *sp);

/* Redacts and cuts every string value of the error table at idx. Besides
 * the secrets, a value after "Signature=" (the '=' encoded or not) or
 * "Signature":" is always redacted, whichever request it belonged to. */
void lp_redact_error(lua_State *L, int idx, const lp_spellings *sp);

/* lp_redact_error with the spellings pushed and popped around it. */
void lp_redact_error_with(lua_State *L, int idx, const lp_secrets *s);

/* Pushes at least the first `keep` bytes of s as they read once redacted:
 * a secret that starts in them is redacted whole, so no part of it shows.
 * Returns 1 when s went on past what was pushed. */
int lp_redact_push_head(lua_State *L, const char *s, size_t n, size_t keep,
                        const lp_spellings *sp);

#endif
