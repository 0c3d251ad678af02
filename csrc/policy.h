/* Retry and pacing policy: pure arithmetic on injected times and random
 * numbers, shared by the native send path and other transports. */
#ifndef LIVEPULL_POLICY_H
#define LIVEPULL_POLICY_H

typedef struct lp_retry_policy {
  int max_attempts;        /* 1 turns retries off */
  double base_delay;       /* seconds; doubled per attempt */
  double throttle_delay;   /* the base for Throttling* answers */
  double max_delay;        /* the cap of any single wait */
} lp_retry_policy;

/* The wait before attempt `attempt + 1` after `attempt` failed: full jitter,
 * random01 * min(max_delay, base * 2^(attempt-1)), or the server's hint
 * (seconds, capped at max_delay) when it gave one (hint >= 0). */
double lp_backoff(const lp_retry_policy *p, int attempt, int throttled, double hint, double random01);

/* One failure code's retry rule (the one table both transports use). */
typedef struct lp_failure_rule {
  const char *code;
  int retryable;       /* repeating the call may help */
  int not_processed;   /* the service surely did not act: even a Create may go again */
  int local;           /* found before sending: a repeat inside the call cannot cure it */
  int prefix;          /* also matches code.<anything> (Throttling.User) */
} lp_failure_rule;

const lp_failure_rule *lp_failure_rules(void);   /* terminated by code == NULL */
const lp_failure_rule *lp_failure_rule_find(const char *code);   /* NULL: a final failure */
int lp_code_retryable(const char *code);
int lp_status_retryable(long status);   /* HTTP 500, 502, 503, 504 */
int lp_is_throttling(const char *code);
/* 1 when a failure shows the request was not acted on (throttled, or never
 * connected), so even a non-idempotent call may be sent again. */
int lp_surely_not_processed(const char *code);

/* A token bucket: `rate` tokens per second, at most `burst` saved. */
typedef struct lp_bucket {
  double rate, burst, tokens, last;
} lp_bucket;

/* Seconds a paced request waits past the moment its token is whole. */
#define LP_PACING_MARGIN 0.005

void lp_bucket_init(lp_bucket *b, double rate, double burst, double now);
/* Reserves one token when the wait for it is at most max_wait seconds:
 * returns 0 with *wait the seconds to wait before using it (0 when one was
 * there), or -1 with *wait the wait it would have been and nothing taken. */
int lp_bucket_reserve(lp_bucket *b, double now, double max_wait, double *wait);
/* Takes one token and returns how long to wait before using it (0 when one
 * was there). A caller that waits that long keeps within the rate. */
double lp_bucket_take(lp_bucket *b, double now);

/* The longest single sleep: a day (every wait is bounded well below it). */
#define LP_MAX_SLEEP 86400.0

/* Monotonic seconds, and a sleep that a handled signal interrupts: 0 when
 * it slept the whole time, -1 when a signal ended it early. */
double lp_monotonic(void);
int lp_sleep(double seconds);

#endif
