/* Where a client's next request slot comes from: its own token bucket
 * today; the one place a shared store (Redis) plugs in. */
#ifndef LIVEPULL_PACING_H
#define LIVEPULL_PACING_H

#include "error.h"

struct lp_client;

/* Reserves the client's next slot at monotonic time now, bounded by
 * max_wait seconds: 0 with *wait the seconds to wait before sending (0 when
 * a slot was free); -1 with err set and nothing reserved (PacingTimeout,
 * retryable for the caller, when the wait would be longer; *wait is then
 * that wait). */
int lp_pace_reserve(struct lp_client *c, double now, double max_wait, double *wait, lp_error *err);
/* The same, now being the moment of the call, for a caller that waits as
 * soon as it returns (a sequential call, client:pace()): *wait then counts
 * from the return, as the reservation's own time (a Redis round trip, or
 * its whole timeout before the fallback) is already spent. */
int lp_pace_reserve_now(struct lp_client *c, double max_wait, double *wait, lp_error *err);

#endif
