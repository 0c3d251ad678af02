/* The shared pacing bucket kept in Redis (rate_store): the GCRA script
 * (rate_gcra.lua, compiled in), the native client's connection to Redis
 * and its fallback bucket while Redis is away. */
#ifndef LIVEPULL_RATE_STORE_H
#define LIVEPULL_RATE_STORE_H

#include <stddef.h>

#include "compat.h"
#include "config.h"
#include "error.h"

struct lp_client;
typedef struct lp_rate_store lp_rate_store;

/* The Redis key of the client's bucket, <prefix>:{<rate_key>}:bucket, with
 * rate_key defaulting to the AccessKeyId the client signs with now (a
 * credentials provider may change it). 0 ok; -1 when the client has no key
 * yet or the key does not fit. */
int lp_rate_store_key(const lp_config *cfg, char *buf, size_t size);
/* The script's emission interval: 1e6 / rate_limit microseconds, rounded
 * up so that rounding never raises the rate. */
long long lp_rate_store_interval_us(double rate);

/* Reserves the client's next slot in Redis (pacing.c's lp_pace_reserve has
 * the contract); when Redis is unreachable or slow, on the local fallback
 * bucket (or RateStoreUnavailable when rate_store_fallback = false). */
int lp_rate_store_reserve(struct lp_client *c, double now, double max_wait, double *wait, lp_error *err);
/* Closes the connection and frees the store state (NULL: nothing). */
void lp_rate_store_free(lp_rate_store *s);

int lp_rate_store_info(lua_State *L);   /* core.rate_store(client) */
int lp_rate_script(lua_State *L);       /* core.rate_script() -> source, sha1 hex */

#endif
