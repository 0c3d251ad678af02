/* Retry and pacing arithmetic: backoff with jitter, the failure-code
 * table, the token bucket, monotonic time and an interruptible sleep. */
#include "policy.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

double lp_backoff(const lp_retry_policy *p, int attempt, int throttled, double hint, double random01) {
  if (hint >= 0) return hint < p->max_delay ? hint : p->max_delay;
  double ceiling = (throttled ? p->throttle_delay : p->base_delay) * ldexp(1.0, attempt - 1);
  if (ceiling > p->max_delay) ceiling = p->max_delay;
  return random01 * ceiling;
}

/* Every failure code the retry decision knows, once: whether a repeat may
 * help the caller, whether the failure shows the service did not act (so
 * even a Create may go again), and whether it is local (a repeat inside
 * the call cannot cure it). A code not listed is final. HTTP 500/502/503/504
 * answers are retryable whatever their code (lp_status_retryable). */
static const lp_failure_rule failure_rules[] = {
  {"Throttling", 1, 1, 0, 1},   /* Throttling, Throttling.User, Throttling.Api, ... */
  {"ServiceUnavailable", 1, 0, 0, 0},
  {"InternalError", 1, 0, 0, 0},
  {"CouldNotResolveHost", 1, 1, 0, 0},
  {"CouldNotResolveProxy", 1, 1, 0, 0},
  {"CouldNotConnect", 1, 1, 0, 0},
  {"Timeout", 1, 0, 0, 0},
  {"SendError", 1, 0, 0, 0},
  {"ReceiveError", 1, 0, 0, 0},
  {"EmptyReply", 1, 0, 0, 0},
  {"PartialResponse", 1, 0, 0, 0},
  {"PacingTimeout", 1, 1, 1, 0},
  {"RateStoreUnavailable", 1, 1, 1, 0},   /* Redis away and rate_store_fallback = false */
  {"Interrupted", 1, 1, 1, 0},
  {NULL, 0, 0, 0, 0},
};

const lp_failure_rule *lp_failure_rules(void) { return failure_rules; }

const lp_failure_rule *lp_failure_rule_find(const char *code) {
  if (!code) return NULL;
  for (const lp_failure_rule *r = failure_rules; r->code; r++) {
    size_t n = strlen(r->code);
    if (strncmp(code, r->code, n) == 0 && (code[n] == '\0' || (r->prefix && code[n] == '.')))
      return r;
  }
  return NULL;
}

int lp_surely_not_processed(const char *code) {
  const lp_failure_rule *r = lp_failure_rule_find(code);
  return r && r->not_processed;
}

int lp_is_throttling(const char *code) {
  const lp_failure_rule *r = lp_failure_rule_find(code);
  return r && r == &failure_rules[0];
}

int lp_code_retryable(const char *code) {
  const lp_failure_rule *r = lp_failure_rule_find(code);
  return r && r->retryable;
}

int lp_status_retryable(long status) {
  return status == 500 || status == 502 || status == 503 || status == 504;
}

void lp_bucket_init(lp_bucket *b, double rate, double burst, double now) {
  b->rate = rate;
  b->burst = burst;
  b->tokens = burst;
  b->last = now;
}

int lp_bucket_reserve(lp_bucket *b, double now, double max_wait, double *wait) {
  *wait = 0;
  if (b->rate <= 0) return 0;   /* pacing off */
  if (now > b->last) {
    b->tokens += (now - b->last) * b->rate;
    if (b->tokens > b->burst) b->tokens = b->burst;
    b->last = now;
  }
  /* The token may be one not yet refilled: it is reserved for later, and
   * used a margin after it is whole (a server counts arrivals, and a request
   * on a kept-alive connection arrives sooner than one of the burst that had
   * to connect first: without it, the first paced one can look early). */
  *wait = b->tokens >= 1 ? 0 : (1 - b->tokens) / b->rate + LP_PACING_MARGIN;
  if (*wait > max_wait) return -1;   /* not taken: the slot stays for others */
  b->tokens -= 1;
  return 0;
}

double lp_bucket_take(lp_bucket *b, double now) {
  double wait;
  lp_bucket_reserve(b, now, HUGE_VAL, &wait);
  return wait;
}

double lp_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int lp_sleep(double seconds) {
  if (!(seconds > 0)) return 0;
  if (seconds > LP_MAX_SLEEP) seconds = LP_MAX_SLEEP;   /* never a cast out of time_t's range */
  struct timespec ts = {(time_t)seconds, (long)((seconds - floor(seconds)) * 1e9)};
  if (ts.tv_nsec > 999999999L) ts.tv_nsec = 999999999L;
  /* A signal the process handles ends the wait (Ctrl-C in a script must not
   * wait out a pacing slot); other failures cannot shorten it. */
  while (nanosleep(&ts, &ts) != 0)
    if (errno == EINTR) return -1;
  return 0;
}
