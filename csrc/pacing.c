/* A client's request slots: the one function every send path asks before
 * an attempt (client.c, many.c, client:pace()): its own token bucket, or the
 * account's bucket in Redis when rate_store is set (rate_store.c). */
#include "pacing.h"

#include "client_impl.h"
#include "policy.h"
#include "rate_store.h"

int lp_pace_reserve(lp_client *c, double now, double max_wait, double *wait, lp_error *err) {
  if (c->cfg.rate_store && !c->released) return lp_rate_store_reserve(c, now, max_wait, wait, err);
  if (lp_bucket_reserve(&c->bucket, now, max_wait, wait) == 0) return 0;
  lp_error_set(err, "transport", "PacingTimeout", NULL,
               "the next pacing slot is %.3f s away, longer than max_pacing_wait (%g s); "
               "nothing was sent", *wait, max_wait);
  err->retryable = 1;
  return -1;
}

int lp_pace_reserve_now(lp_client *c, double max_wait, double *wait, lp_error *err) {
  double now = lp_monotonic();
  if (lp_pace_reserve(c, now, max_wait, wait, err) != 0) return -1;
  double left = now + *wait - lp_monotonic();
  *wait = left > 0 ? left : 0;
  return 0;
}
