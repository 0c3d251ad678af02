/* Reading one Redis reply within livepull's caps (rate_reply.h): hiredis
 * 0.14 trusts the sizes a server announces (it callocs an array of
 * *2000000000 before reading an item) and buffers a line of any length, so
 * the native client reads with its own reply builders, which refuse what
 * livepull would never get from Redis, and its own read loop, which bounds
 * the unparsed bytes and the whole exchange's time. */
#include "rate_reply.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

/* The unparsed bytes a reader may hold while waiting for the rest of an
 * item: a bulk string's header ("$4096\r\n"), its bytes and CRLF. */
#define UNPARSED_MAX (LP_REPLY_LINE_MAX + 16)

/* One reply's account, the reader's privdata during an exchange. */
typedef struct reply_budget {
  long items;           /* array items announced so far in this reply */
  char refused[100];    /* why a builder refused ("" when none) */
} reply_budget;

static void *refuse(const redisReadTask *task, const char *fmt, long long n, int cap) {
  reply_budget *b = task->privdata;
  if (b && !b->refused[0]) snprintf(b->refused, sizeof b->refused, fmt, n, cap);
  return NULL;   /* the reader then fails (it says "out of memory": b->refused says why) */
}

/* Reply objects as hiredis' own builders make them, so that
 * freeReplyObject frees them: calloc'd, their str and element from malloc;
 * each placed in its array, which hiredis leaves to the builders. */
static redisReply *new_reply(int type) {
  redisReply *r = calloc(1, sizeof *r);
  if (r) r->type = type;
  return r;
}

static redisReply *placed(const redisReadTask *task, redisReply *r) {
  if (r && task->parent) {
    redisReply *array = task->parent->obj;
    array->element[task->idx] = r;
  }
  return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len) {
  if (len > LP_REPLY_LINE_MAX)
    return refuse(task, "a string of %lld bytes (livepull reads at most %d)", (long long)len, LP_REPLY_LINE_MAX);
  redisReply *r = new_reply(task->type);
  if (!r || !(r->str = malloc(len + 1))) {
    free(r);
    return NULL;
  }
  memcpy(r->str, str, len);
  r->str[len] = '\0';
  r->len = len;
  return placed(task, r);
}

static void *create_array(const redisReadTask *task, int elements) {
  reply_budget *b = task->privdata;
  if (!b) return NULL;   /* outside an exchange: never */
  if (elements < 0 || elements > LP_REPLY_ITEMS_MAX)   /* < 0: a hiredis without the range check */
    return refuse(task, "an array of %lld items (livepull reads at most %d)", elements, LP_REPLY_ITEMS_MAX);
  if (b->items + elements > LP_REPLY_ITEMS_MAX)
    return refuse(task, "nested arrays of %lld items so far (livepull reads at most %d items in all)",
                  b->items + elements, LP_REPLY_ITEMS_MAX);
  b->items += elements;
  redisReply *r = new_reply(REDIS_REPLY_ARRAY);
  if (r && elements > 0) {
    if (!(r->element = calloc((size_t)elements, sizeof *r->element))) {
      free(r);
      return NULL;
    }
    r->elements = (size_t)elements;
  }
  return placed(task, r);
}

static void *create_integer(const redisReadTask *task, long long value) {
  redisReply *r = new_reply(REDIS_REPLY_INTEGER);
  if (r) r->integer = value;
  return placed(task, r);
}

static void *create_nil(const redisReadTask *task) {
  return placed(task, new_reply(REDIS_REPLY_NIL));
}

static redisReplyObjectFunctions capped = {create_string, create_array, create_integer, create_nil, freeReplyObject};

int lp_reply_cap(redisContext *redis) {
  redisReader *reader = redisReaderCreateWithFunctions(&capped);
  if (!reader) return -1;
  redisReaderFree(redis->reader);   /* a new connection's: nothing read yet */
  redis->reader = reader;
  return 0;
}

struct timeval lp_reply_timeval(double seconds) {
  struct timeval tv;
  tv.tv_sec = (time_t)seconds;
  tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
  if (tv.tv_sec == 0 && tv.tv_usec < 1000) tv.tv_usec = 1000;   /* 0 would mean no timeout */
  return tv;
}

static redisReply *failed(lp_reply_failure *why, const char *what, const char *detail) {
  why->what = what;
  snprintf(why->detail, sizeof why->detail, "%s", detail);
  return NULL;
}

/* The socket's timeouts set to what is left before deadline: 0, or -1 with
 * *why filled. Set before every read and write, so a server that trickles
 * bytes cannot stretch the exchange past deadline. */
static int time_left(redisContext *redis, double deadline, lp_reply_failure *why) {
  double left = deadline - lp_monotonic();
  if (left <= 0) { failed(why, "no answer within rate_store_timeout", "timed out"); return -1; }
  if (redisSetTimeout(redis, lp_reply_timeval(left)) != REDIS_OK) {
    failed(why, "could not set the timeout", redis->errstr);
    return -1;
  }
  return 0;
}

static redisReply *io_failed(redisContext *redis, lp_reply_failure *why) {
  int timed_out = redis->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
  return timed_out ? failed(why, "no answer within rate_store_timeout", "timed out")
                   : failed(why, "the connection failed", redis->errstr);
}

static redisReply *too_long(lp_reply_failure *why) {
  char detail[sizeof why->detail];
  snprintf(detail, sizeof detail, "a line or bulk string longer than %d bytes", LP_REPLY_LINE_MAX);
  return failed(why, "a reply larger than livepull reads", detail);
}

/* hiredis' blocking redisGetReply, with the caps and one deadline. */
static redisReply *read_reply(redisContext *redis, double deadline, reply_budget *budget, lp_reply_failure *why) {
  int done = 0;
  while (!done) {
    if (time_left(redis, deadline, why) != 0) return NULL;
    if (redisBufferWrite(redis, &done) != REDIS_OK) return io_failed(redis, why);
  }
  for (;;) {
    void *reply = NULL;
    if (redisGetReplyFromReader(redis, &reply) != REDIS_OK)
      return budget->refused[0] ? failed(why, "a reply larger than livepull reads", budget->refused)
                                : failed(why, "the connection failed", redis->errstr);
    if (reply) return reply;
    if (redis->reader->len - redis->reader->pos > UNPARSED_MAX)
      return too_long(why);
    if (time_left(redis, deadline, why) != 0) return NULL;
    if (redisBufferRead(redis) != REDIS_OK) return io_failed(redis, why);
  }
}

redisReply *lp_reply_exchange(redisContext *redis, int argc, const char **argv, const size_t *lens, double deadline,
                              lp_reply_failure *why) {
  reply_budget budget;
  memset(&budget, 0, sizeof budget);
  /* Bytes from before this command would answer it: a store (or a proxy)
   * that sent more than it was asked for is not one to trust. */
  if (redis->reader->len != redis->reader->pos)
    return failed(why, "the store sent a reply it was not asked for", "unasked bytes");
  if (redisAppendCommandArgv(redis, argc, argv, lens) != REDIS_OK)
    return failed(why, "the connection failed", redis->errstr);
  redis->reader->privdata = &budget;   /* the reader hands it to every builder of this reply */
  redisReply *r = read_reply(redis, deadline, &budget, why);
  redis->reader->privdata = NULL;
  return r;
}

/* core.rate_reply_limits() -> { line = bytes, items = count }: the caps,
 * for livepull.resty's reader of nginx.redis replies. */
int lp_rate_reply_limits(lua_State *L) {
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, LP_REPLY_LINE_MAX);
  lua_setfield(L, -2, "line");
  lua_pushinteger(L, LP_REPLY_ITEMS_MAX);
  lua_setfield(L, -2, "items");
  return 1;
}
