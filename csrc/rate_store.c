/* The shared pacing bucket in Redis: every client of one account reserves
 * its slots with one GCRA script (rate_gcra.lua, compiled in) over one lazy
 * hiredis connection per client; while Redis is unreachable or slow the
 * client paces alone on a local bucket of rate_store_fallback per second. */
#include "rate_store.h"

#include <pthread.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "client_impl.h"
#include "policy.h"
#include "process.h"
#include "rate_gcra_script.h"
#include "rate_reply.h"

#define RECONNECT_AFTER 1.0     /* seconds between connection attempts after a failure */
#define NOTE_EVERY 60.0         /* seconds between two fallback notes on stderr */
#define MAX_WAIT_US 1e13        /* the script's wait bound, whatever max_wait is */

struct lp_rate_store {
  redisContext *redis;  /* NULL: not connected */
  unsigned long generation;   /* the process generation that opened it: a forked child opens its own */
  double retry_at;      /* monotonic: no new connection before this */
  lp_bucket alone;      /* the fallback bucket: rate_store_fallback/s, burst 1 */
  int falling_back;     /* the last reservation went to the fallback */
  double last_slot;     /* monotonic: when the last slot the store granted is used */
  double noted_at;      /* monotonic: the last note on stderr (-HUGE_VAL: none) */
  int noted;            /* a note was written since sharing last worked */
};

/* The script's SHA1 in hex, as Redis names it for EVALSHA. */
static const char *script_sha1(void) {
  static char hex[41];
  if (hex[0]) return hex;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(lp_rate_gcra_source, lp_rate_gcra_source_len, md, &n, EVP_sha1(), NULL) != 1 || n != 20)
    return NULL;
  for (unsigned int i = 0; i < n; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return hex;
}

int lp_rate_store_key(const lp_config *cfg, char *buf, size_t size) {
  const char *key = cfg->rate_key ? cfg->rate_key : cfg->access_key_id;
  if (!key || !cfg->rate_key_prefix) return -1;
  int n = snprintf(buf, size, "%s:{%s}:bucket", cfg->rate_key_prefix, key);
  return n > 0 && (size_t)n < size ? 0 : -1;
}

long long lp_rate_store_interval_us(double rate) {
  double us = ceil(1e6 / rate);
  return us < 1 ? 1 : (long long)us;
}

/* How one exchange with Redis ended. */
typedef enum {
  STORE_GRANTED,    /* a slot is reserved, delay_us away */
  STORE_REFUSED,    /* the free slot is delay_us away, past max_wait: nothing stored */
  STORE_AWAY,       /* unreachable, slow or busy: the fallback paces (why says what happened) */
  STORE_REJECTED,   /* Redis refused us (password, script): err is set, a config error */
} store_answer;

typedef struct exchange {
  lp_client *c;
  double deadline;        /* monotonic: the end of rate_store_timeout */
  long long delay_us;
  char why[200];          /* STORE_AWAY: what went wrong, for the note on stderr */
} exchange;

/* Redis errors that pass (a restart, a failover, a long script): the
 * fallback paces meanwhile. Any other error is a refusal. */
static int transient_error(const char *s) {
  static const char *const codes[] = {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN",
                                      "READONLY", "OOM", NULL};
  for (int i = 0; codes[i]; i++) {
    size_t n = strlen(codes[i]);
    if (strncmp(s, codes[i], n) == 0 && (s[n] == ' ' || s[n] == '\0')) return 1;
  }
  return 0;
}

/* A server's text fit for a message: printable ASCII, cut to size. */
static void printable(char *out, size_t size, const char *s, size_t n) {
  size_t j = 0;
  for (size_t i = 0; i < n && j + 1 < size; i++)
    out[j++] = (s[i] >= 0x20 && s[i] < 0x7F) ? s[i] : '?';
  out[j] = '\0';
}

static void drop(lp_rate_store *s) {
  if (s->redis) redisFree(s->redis);
  s->redis = NULL;
  s->retry_at = lp_monotonic() + RECONNECT_AFTER;
}

static store_answer away(exchange *x, lp_rate_store *s, const char *what, const char *detail) {
  char text[120];
  printable(text, sizeof text, detail, strlen(detail));
  snprintf(x->why, sizeof x->why, "%s: %s", what, text);
  drop(s);
  return STORE_AWAY;
}

/* One command bounded by what is left of the deadline and by the reply
 * caps (rate_reply.c): its reply, or NULL with the connection dropped (a
 * lost, late or oversized reply is never replayed: the script may have run). */
static redisReply *command(exchange *x, lp_rate_store *s, int argc, const char **argv, const size_t *lens) {
  lp_reply_failure why;
  redisReply *r = lp_reply_exchange(s->redis, argc, argv, lens, x->deadline, &why);
  if (!r) away(x, s, why.what, why.detail);
  return r;
}

/* A refusal (err is set): the connection goes, without the reconnect pause
 * (Redis was reached: the next call asks again, and fails the same way). */
static store_answer rejected(lp_rate_store *s) {
  if (s->redis) redisFree(s->redis);
  s->redis = NULL;
  return STORE_REJECTED;
}

/* An error reply: a pause (STORE_AWAY) or a refusal (a config error). */
static store_answer error_reply(exchange *x, lp_rate_store *s, redisReply *r, const char *what, lp_error *err) {
  char text[200];
  printable(text, sizeof text, r->str ? r->str : "", r->str ? r->len : 0);
  freeReplyObject(r);
  if (transient_error(text)) return away(x, s, what, text);
  lp_error_set(err, "config", "RateStoreRejected", "rate_store", "Redis refused %s: %s; nothing was sent", what,
               text);
  return rejected(s);
}

/* Connects, then AUTH and SELECT as the URL says. */
static store_answer connect_store(exchange *x, lp_rate_store *s, lp_error *err) {
  const lp_store_url *u = &x->c->cfg.store;
  double left = x->deadline - lp_monotonic();
  if (lp_monotonic() < s->retry_at) {
    snprintf(x->why, sizeof x->why, "waiting to reconnect (at most once per second)");
    return STORE_AWAY;
  }
  if (left <= 0) return away(x, s, "no time left", "rate_store_timeout spent");
  struct timeval tv = lp_reply_timeval(left);
  s->redis = u->unix_socket ? redisConnectUnixWithTimeout(u->path, tv) : redisConnectWithTimeout(u->host, u->port, tv);
  s->generation = lp_process_generation();
  if (!s->redis) return away(x, s, "could not connect", "out of memory");
  if (s->redis->err) return away(x, s, "could not connect", s->redis->errstr);
  if (lp_reply_cap(s->redis) != 0) return away(x, s, "could not connect", "out of memory");
  char db[24];
  snprintf(db, sizeof db, "%ld", u->db);
  struct { int when, argc; const char *argv[3]; const char *what; } steps[] = {
    {u->password && u->user, 3, {"AUTH", u->user, u->password}, "AUTH"},
    {u->password && !u->user, 2, {"AUTH", u->password, NULL}, "AUTH"},
    {u->db != 0, 2, {"SELECT", db, NULL}, "SELECT"},
  };
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    if (!steps[i].when) continue;
    size_t lens[3];
    for (int k = 0; k < steps[i].argc; k++) lens[k] = strlen(steps[i].argv[k]);
    redisReply *r = command(x, s, steps[i].argc, steps[i].argv, lens);
    if (!r) return STORE_AWAY;
    if (r->type == REDIS_REPLY_ERROR) return error_reply(x, s, r, steps[i].what, err);
    freeReplyObject(r);
  }
  return STORE_GRANTED;
}

/* The reservation: EVALSHA, and EVAL only after NOSCRIPT. */
static store_answer reserve_in_redis(exchange *x, lp_rate_store *s, const char *key, double max_wait,
                                     lp_error *err) {
  const lp_config *cfg = &x->c->cfg;
  if (!s->redis) {
    store_answer a = connect_store(x, s, err);
    if (a != STORE_GRANTED) return a;
  }
  char interval[24], burst[32], wait_us[32];
  snprintf(interval, sizeof interval, "%lld", lp_rate_store_interval_us(cfg->rate_limit));
  snprintf(burst, sizeof burst, "%.17g", cfg->rate_burst);
  snprintf(wait_us, sizeof wait_us, "%.0f", max_wait * 1e6 < MAX_WAIT_US ? floor(max_wait * 1e6) : MAX_WAIT_US);
  const char *argv[] = {"EVALSHA", script_sha1(), "1", key, interval, burst, wait_us};
  size_t lens[7];
  for (int i = 0; i < 7; i++) lens[i] = strlen(argv[i]);
  redisReply *r = command(x, s, 7, argv, lens);
  if (r && r->type == REDIS_REPLY_ERROR && r->str && strncmp(r->str, "NOSCRIPT", 8) == 0) {
    freeReplyObject(r);   /* an explicit "not run": the script cache was flushed or Redis restarted */
    argv[0] = "EVAL";
    argv[1] = lp_rate_gcra_source;
    lens[0] = 4;
    lens[1] = lp_rate_gcra_source_len;
    r = command(x, s, 7, argv, lens);
  }
  if (!r) return STORE_AWAY;
  if (r->type == REDIS_REPLY_ERROR) return error_reply(x, s, r, "the pacing script", err);
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_INTEGER ||
      r->element[1]->type != REDIS_REPLY_INTEGER || r->element[1]->integer < 0) {
    freeReplyObject(r);
    lp_error_set(err, "config", "RateStoreRejected", "rate_store",
                 "the pacing script answered something other than {granted, delay}: is rate_store a Redis?");
    return rejected(s);
  }
  int granted = r->element[0]->integer == 1;
  x->delay_us = r->element[1]->integer;
  freeReplyObject(r);
  if (granted && (double)x->delay_us > atof(wait_us)) {   /* the script never grants past max_wait */
    lp_error_set(err, "config", "RateStoreRejected", "rate_store",
                 "the pacing script granted a slot further away than it was allowed to: is rate_store a Redis?");
    return rejected(s);
  }
  return granted ? STORE_GRANTED : STORE_REFUSED;
}

/* hiredis writes with write(2): a Redis that closed the connection must
 * not end the process with SIGPIPE. Blocked around the exchange; one raised
 * meanwhile is taken back (as libcurl does). */
typedef struct pipe_guard {
  sigset_t old;
  int was_pending;
} pipe_guard;

static void pipe_guard_on(pipe_guard *g) {
  sigset_t block, pending;
  sigemptyset(&block);
  sigaddset(&block, SIGPIPE);
  g->was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &block, &g->old);
}

static void pipe_guard_off(pipe_guard *g) {
  sigset_t pending, only;
  if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
    struct timespec zero = {0, 0};
    sigemptyset(&only);
    sigaddset(&only, SIGPIPE);
    sigtimedwait(&only, NULL, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* The one line a fallback says, at most once a minute; never a password
 * (the URL is not quoted: its host or path is). */
static void note(const lp_client *c, lp_rate_store *s, const char *why, double now) {
  if (now - s->noted_at < NOTE_EVERY) return;
  s->noted_at = now;
  const lp_store_url *u = &c->cfg.store;
  const char *p = u->password, *n = u->user;
  if ((p && strstr(why, p)) || (n && strstr(why, n))) why = "(detail withheld)";
  fprintf(stderr, "livepull: the rate store (%s %s:%d) is unreachable or slow (%s); this process paces alone "
          "at %g requests/s until it answers\n", u->unix_socket ? "unix" : "redis",
          u->unix_socket ? u->path : u->host, u->unix_socket ? 0 : u->port, why, c->cfg.rate_store_fallback);
  fflush(stderr);
  s->noted = 1;
}

static int pacing_timeout(double wait, double max_wait, const char *where, lp_error *err) {
  lp_error_set(err, "transport", "PacingTimeout", NULL,
               "the next pacing slot (%s) is %.3f s away, longer than max_pacing_wait (%g s); nothing was sent",
               where, wait, max_wait);
  err->retryable = 1;
  return -1;
}

/* Redis is away: pace alone on rate_store_fallback/s (burst 1), or fail. */
static int fall_back(lp_client *c, lp_rate_store *s, double now, double max_wait, const char *why, double *wait,
                     lp_error *err) {
  double fallback = c->cfg.rate_store_fallback;
  *wait = 0;
  if (fallback == 0) {
    lp_error_set(err, "transport", "RateStoreUnavailable", "rate_store",
                 "the rate store did not answer (%s); nothing was sent (rate_store_fallback = false)", why);
    err->retryable = 1;
    return -1;
  }
  double t = lp_monotonic();
  if (!s->falling_back) {
    /* An outage begins with the bucket as this client's last shared slot
     * left it: the first call alone goes 1/fallback s after that slot (a
     * debt while it is still ahead), not at once after it. */
    lp_bucket_init(&s->alone, fallback, 1, t);
    if (s->last_slot > 0 && (t - s->last_slot) * fallback < 1) s->alone.tokens = (t - s->last_slot) * fallback;
  }
  note(c, s, why, t);
  s->falling_back = 1;
  if (lp_bucket_reserve(&s->alone, t, max_wait, wait) != 0)
    return pacing_timeout(*wait, max_wait, "the fallback bucket, Redis being away", err);
  *wait += t - now;   /* waits count from the caller's now */
  return 0;
}

int lp_rate_store_reserve(lp_client *c, double now, double max_wait, double *wait, lp_error *err) {
  lp_rate_store *s = c->rate_store;
  *wait = 0;
  if (!s) {
    if (!(s = calloc(1, sizeof *s))) {
      lp_error_set(err, "config", "OutOfMemory", NULL, "out of memory for the rate store");
      return -1;
    }
    s->noted_at = -HUGE_VAL;
    c->rate_store = s;
  }
  if (s->redis && s->generation != lp_process_generation()) {   /* opened before a fork: the parent's, not ours */
    redisFree(s->redis);
    s->redis = NULL;
  }
  char key[512];
  if (lp_rate_store_key(&c->cfg, key, sizeof key) != 0) {
    lp_error_set(err, "config", "InvalidConfig", "rate_key",
                 "the shared bucket has no key: set rate_key, or give the client its credentials first");
    return -1;
  }
  exchange x;
  memset(&x, 0, sizeof x);
  x.c = c;
  x.deadline = lp_monotonic() + c->cfg.rate_store_timeout;
  pipe_guard g;
  pipe_guard_on(&g);
  store_answer a = reserve_in_redis(&x, s, key, max_wait, err);
  pipe_guard_off(&g);
  if (a == STORE_AWAY) return fall_back(c, s, now, max_wait, x.why, wait, err);
  if (a == STORE_REJECTED) return -1;
  if (s->falling_back && s->noted) {
    fprintf(stderr, "livepull: the rate store answers again; sharing the rate\n");
    fflush(stderr);
  }
  s->falling_back = s->noted = 0;
  *wait = x.delay_us / 1e6;
  if (a == STORE_REFUSED) return pacing_timeout(*wait, max_wait, "in the shared bucket", err);
  /* The delay counts from Redis' answer; a paced slot is used a margin
   * after it comes, as local pacing does (policy.c). */
  if (*wait > 0) *wait += lp_monotonic() - now + LP_PACING_MARGIN;
  s->last_slot = now + *wait;
  return 0;
}

void lp_rate_store_free(lp_rate_store *s) {
  if (!s) return;
  if (s->redis) redisFree(s->redis);
  free(s);
}

/* core.rate_script() -> source, sha1: the script, for transports that send
 * it themselves (livepull.resty). */
int lp_rate_script(lua_State *L) {
  const char *sha = script_sha1();
  if (!sha) return luaL_error(L, "livepull: OpenSSL could not hash the rate script");
  lua_pushlstring(L, lp_rate_gcra_source, lp_rate_gcra_source_len);
  lua_pushstring(L, sha);
  return 2;
}

/* core.rate_store(client) -> { scheme, host, port, path, db, user,
 * password, key, timeout, fallback, rate, burst, interval_us } or nil when
 * the client paces locally. For livepull.resty, which talks to Redis over
 * cosockets; key is computed now (the default rate_key is the AccessKeyId,
 * which a credentials provider may change): ask again at each reservation. */
int lp_rate_store_info(lua_State *L) {
  lp_client *c = lp_check_client(L);
  const lp_config *cfg = &c->cfg;
  if (c->released || !cfg->rate_store) {
    lua_pushnil(L);
    return 1;
  }
  const lp_store_url *u = &cfg->store;
  lua_createtable(L, 0, 13);
  lua_pushstring(L, u->unix_socket ? "unix" : "redis");
  lua_setfield(L, -2, "scheme");
  const struct { const char *name, *value; } strings[] = {
    {"host", u->host}, {"path", u->path}, {"user", u->user}, {"password", u->password},
  };
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
    if (!strings[i].value) continue;
    lua_pushstring(L, strings[i].value);
    lua_setfield(L, -2, strings[i].name);
  }
  if (!u->unix_socket) {
    lua_pushinteger(L, u->port);
    lua_setfield(L, -2, "port");
  }
  lua_pushinteger(L, (lua_Integer)u->db);
  lua_setfield(L, -2, "db");
  char key[512];
  if (lp_rate_store_key(cfg, key, sizeof key) == 0) {   /* no key yet: a provider has not keyed the client */
    lua_pushstring(L, key);
    lua_setfield(L, -2, "key");
  }
  lua_pushnumber(L, cfg->rate_store_timeout);
  lua_setfield(L, -2, "timeout");
  if (cfg->rate_store_fallback > 0) lua_pushnumber(L, cfg->rate_store_fallback);
  else lua_pushboolean(L, 0);
  lua_setfield(L, -2, "fallback");
  lua_pushnumber(L, cfg->rate_limit);
  lua_setfield(L, -2, "rate");
  lua_pushnumber(L, cfg->rate_burst);
  lua_setfield(L, -2, "burst");
  lua_pushinteger(L, (lua_Integer)lp_rate_store_interval_us(cfg->rate_limit));
  lua_setfield(L, -2, "interval_us");
  return 1;
}
