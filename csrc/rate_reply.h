/* Reading one Redis reply within livepull's caps: the native client's
 * exchange with the rate store (hiredis), and the caps themselves, which
 * livepull.resty takes from core.rate_reply_limits(). */
#ifndef LIVEPULL_RATE_REPLY_H
#define LIVEPULL_RATE_REPLY_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "compat.h"

/* What a reply may hold: livepull's own replies ({granted, delay}, +OK, a
 * short error) are far smaller; a server that announces or sends more is
 * not one livepull can use, and is treated as one that did not answer. */
#define LP_REPLY_LINE_MAX 4096   /* bytes of a line (status, error, integer, header) and of a bulk string */
#define LP_REPLY_ITEMS_MAX 8     /* items of an array, and of all the arrays of one reply together */

/* Why an exchange gave no reply: what (a static phrase) and a detail fit
 * for a message (never a secret: numbers and hiredis' own texts only). */
typedef struct lp_reply_failure {
  const char *what;
  char detail[128];   /* as long as hiredis' errstr */
} lp_reply_failure;

/* Gives a new connection the capped reader. 0, or -1 (out of memory). */
int lp_reply_cap(redisContext *redis);

/* Sends one command and reads its reply, the whole exchange ending at
 * deadline (monotonic seconds) and within the caps. The reply, or NULL with
 * *why filled: the connection is then unusable (a reply may be half read). */
redisReply *lp_reply_exchange(redisContext *redis, int argc, const char **argv, const size_t *lens, double deadline,
                              lp_reply_failure *why);

/* seconds as a socket timeout (at least 1 ms: 0 would mean none). */
struct timeval lp_reply_timeval(double seconds);

int lp_rate_reply_limits(lua_State *L);   /* core.rate_reply_limits() -> { line, items } */

#endif
