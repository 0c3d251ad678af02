/* The client's state and the steps of a call, shared by the files that run
 * calls (client.c: one at a time; many.c: many in flight). Not for Lua. */
#ifndef LIVEPULL_CLIENT_IMPL_H
#define LIVEPULL_CLIENT_IMPL_H

#include "build.h"
#include "compat.h"
#include "config.h"
#include "error.h"
#include "fields.h"
#include "policy.h"
#include "random.h"
#include "redact.h"
#include "request.h"
#include "session.h"
#include "sign.h"

/* Throttling answers back off from a larger base than other failures. */
#define THROTTLE_BASE_DELAY 0.5

/* One call's request state. Each call owns one (a spare is kept between
 * calls), so a call made from a hook or finalizer in the middle of another
 * never sees or overwrites the other's request, signature or answer. */
typedef struct lp_call {
  lp_request req;           /* validate's output: the parameters */
  lp_http_request http;     /* build's: the request value, read by every attempt */
  lp_signed sig;            /* sign's, per attempt */
  lp_buf url, line;
  struct curl_slist header_nodes[LP_MAX_HEADERS + LP_UNSIGNED_HEADERS + 1];
  lp_answer answer;         /* taken from the session after each exchange */
  int answered;             /* this attempt got an HTTP answer */
  double paced, elapsed;    /* this attempt's seconds: waiting for its slot, the exchange */
} lp_call;

/* A spare whose buffers grew past this after an unusually large request is
 * freed rather than kept. */
#define SPARE_MAX_BYTES (64 * 1024)

typedef struct lp_client {
  lp_config cfg;
  int safe;
  int closed;     /* no new call or attempt may start */
  int released;   /* the resources below are freed */
  int busy;       /* calls running now: close() during one defers the release */
  lp_session session;   /* opened at the first send */
  unsigned long session_generation;   /* the process generation that opened it */
  lp_call *spare;
  struct lp_many *spare_many;   /* call_many's handles, kept for their connections */
  int has_hook;                 /* on_attempt is set: the userdata's user value holds it */
  lp_retry_policy retry;
  lp_bucket bucket;
  struct lp_rate_store *rate_store;   /* rate_store set: the Redis connection, opened at the first slot */
  lp_random random;         /* nonces and jitter */
  lp_signer signer;         /* the HMAC keyed with the secret */
} lp_client;

#define LP_CALL_MT "livepull.call"

/* The userdata that holds a call's state on the Lua stack: when the call
 * ends normally lp_call_end runs; when a Lua error unwinds past it (a hook, a
 * memory error), __gc does the same later, so nothing leaks or stays busy. */
typedef struct call_box {
  lp_client *client;
  lp_call *call;
} call_box;

lp_client *lp_check_client(lua_State *L);
/* An open client, or NULL with the ClientClosed error pushed. */
lp_client *lp_open_client(lua_State *L);
int lp_fail_with(lua_State *L, int safe, const lp_error *e);
int lp_out_of_memory(lua_State *L, lp_client *c);
const lp_operation *lp_find_operation(lua_State *L, int idx, lp_error *err);

/* A call's state: pushes its box and returns it (NULL: out of memory,
 * nothing pushed); lp_call_end gives it back (safe to run twice). */
lp_call *lp_call_begin(lua_State *L, lp_client *c);
void lp_call_end(call_box *box);
int lp_call_fail(lua_State *L, lp_client *c, int box_idx);
int lp_call_fail_with(lua_State *L, lp_client *c, int box_idx, const lp_error *e);

/* The stages: validate and build params into k (once per call), sign k's
 * request value (each attempt), the headers as libcurl's list (nodes in k). */
int lp_call_validate(lua_State *L, lp_client *c, lp_call *k, const lp_operation *op,
                     int params_idx, long long now, lp_error *err);
int lp_call_sign(lp_client *c, lp_call *k, const char *nonce, const char *timestamp, long long now,
                 lp_error *err);
struct curl_slist *lp_call_headers(lp_call *k);
/* What the client's errors must never show: the token, the proxy's user
 * info and (with k) the call's signature. */
void lp_client_secrets(const lp_client *c, const lp_call *k, lp_secrets *s);

/* The session options every easy handle of the client gets. */
void lp_client_session_options(const lp_client *c, lp_session_options *o);
/* The retry decision: 1 with *wait when the error at err_idx is worth
 * attempt n + 1. */
int lp_retry_wait(lua_State *L, lp_client *c, int err_idx, long long n, const lp_operation *op,
                  const lp_answer *hints, double *wait);
/* Sleeps; -1 with Interrupted set when a signal ended the wait. */
int lp_wait_for(double seconds, lp_error *err);
int lp_closed_error(lp_error *err);
/* Calls the client's on_attempt hook, if any, after attempt n of call k,
 * whose outcome (result or error table) is at outcome_idx; retry_in < 0:
 * no next attempt. Errors raised by the hook are caught and dropped. */
void lp_emit_attempt(lua_State *L, lp_client *c, int client_idx, const lp_call *k,
                     const lp_operation *op, int n, int outcome_idx, int ok, double retry_in);

/* Frees a call's state (a spare, a slot's, or one that ended). */
void lp_call_free(lp_call *k);

/* Frees what the client holds (after close, once no call runs on it). */
void lp_client_release(lp_client *c);

/* call_many's state (many.c), freed with the client. */
void lp_many_free(struct lp_many *m);
/* client:call_many(action, list [, opts]) and client:<method>_many(list [, opts]). */
int lp_client_call_many(lua_State *L);
int lp_client_operation_many(lua_State *L);
int lp_core_check_many(lua_State *L);   /* core.check_many(list [, opts]) */

#endif
