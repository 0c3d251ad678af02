/* client:call_many and client:<method>_many: a list of requests with several
 * in flight at once over libcurl's multi interface, each validated, paced,
 * signed, retried and parsed exactly as a single call is. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "client.h"
#include "client_impl.h"
#include "pacing.h"
#include "process.h"
#include "response.h"
#include "timeutil.h"

#define MANY_MAX_SLOTS 32
#define MANY_UNPACED_SLOTS 8   /* the automatic concurrency when pacing is off */
#define LP_MANY_MT "livepull.many"

typedef enum { SLOT_FREE, SLOT_WAITING, SLOT_RUNNING } slot_state;

/* One request in flight: its own easy handle (its own connection) and call
 * state, reused item after item. */
typedef struct many_slot {
  lp_session session;
  lp_call *call;
  slot_state state;
  int item;            /* 1-based index into the list */
  int attempts;        /* made so far for this item */
  int reserved;        /* a pacing slot is reserved for the next attempt */
  double start_at;     /* monotonic: the next attempt may start then */
  double reserved_at;  /* monotonic: when that pacing slot was reserved */
  double started;      /* monotonic: the running attempt's start */
} many_slot;

struct lp_many {
  CURLM *multi;
  unsigned long generation;   /* curl handles are used only by the process that made them */
  many_slot slots[MANY_MAX_SLOTS];
};

void lp_many_free(struct lp_many *m) {
  if (!m) return;
  int own = m->generation == lp_process_generation();
  for (int i = 0; i < MANY_MAX_SLOTS; i++) {
    many_slot *s = &m->slots[i];
    if (own && s->session.easy) {
      if (s->state == SLOT_RUNNING) curl_multi_remove_handle(m->multi, s->session.easy);
      lp_session_close(&s->session);
    } else {
      lp_buf_free(&s->session.answer.body);   /* a forked child leaves the parent's handles alone */
    }
    lp_call_free(s->call);
  }
  if (own && m->multi) curl_multi_cleanup(m->multi);
  free(m);
}

/* The state of one call_many on the Lua stack: ended normally by
 * many_end, or by __gc when a Lua error unwinds past it. */
typedef struct many_box {
  lp_client *client;
  struct lp_many *many;
} many_box;

static void many_end(many_box *box) {
  lp_client *c = box->client;
  struct lp_many *m = box->many;
  if (!c) return;
  box->client = NULL;
  box->many = NULL;
  c->busy--;
  for (int i = 0; i < MANY_MAX_SLOTS; i++) {
    many_slot *s = &m->slots[i];
    if (s->state == SLOT_RUNNING) curl_multi_remove_handle(m->multi, s->session.easy);
    s->state = SLOT_FREE;
  }
  if (!c->closed && !c->spare_many) c->spare_many = m;   /* its connections stay alive */
  else lp_many_free(m);
  if (c->closed && !c->released && c->busy == 0) lp_client_release(c);
}

static int many_box_gc(lua_State *L) {
  many_end((many_box *)lua_touserdata(L, 1));
  return 0;
}

/* Pushes the box and returns the state: the client's spare, or a new one. */
static struct lp_many *many_begin(lua_State *L, lp_client *c) {
  many_box *box = (many_box *)lua_newuserdata(L, sizeof *box);
  box->client = NULL;
  box->many = NULL;
  if (luaL_newmetatable(L, LP_MANY_MT)) {
    lua_pushcfunction(L, many_box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  struct lp_many *m = c->spare_many;
  c->spare_many = NULL;
  if (m && m->generation != lp_process_generation()) { lp_many_free(m); m = NULL; }   /* inherited across fork */
  if (!m) {
    m = (struct lp_many *)calloc(1, sizeof *m);
    if (!m) return NULL;
    m->generation = lp_process_generation();
    m->multi = curl_multi_init();
    if (!m->multi) { free(m); return NULL; }
    curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, (long)MANY_MAX_SLOTS);
  }
  box->client = c;
  box->many = m;
  c->busy++;
  return m;
}

/* What one run needs besides the Lua stack: 1 client, 2 list, 3 opts,
 * 4 results, 5 box. */
typedef struct run {
  lp_client *c;
  const lp_operation *op;
  struct lp_many *m;
  int n, next_item, finished;
  int limit, automatic;
  double rtt;            /* smoothed seconds per exchange, 0 before the first */
  const char *stop_code; /* why unsent items are not sent: Cancelled, ClientClosed, Interrupted */
  int has_on_result;
} run;

enum { LIST = 2, OPTS = 3, RESULTS = 4 };

/* The item's outcome (the value on the top) becomes results[item], and
 * on_result hears of it; pops the value. */
static void record(lua_State *L, run *r, int item, int ok) {
  lua_createtable(L, 0, 2);
  lua_pushboolean(L, ok);
  lua_setfield(L, -2, "ok");
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, ok ? "result" : "error");
  lua_rawseti(L, RESULTS, item);
  r->finished++;
  if (r->has_on_result) {
    lua_pushliteral(L, "on_result");
    lua_rawget(L, OPTS);
    lua_pushinteger(L, item);
    if (ok) { lua_pushvalue(L, -3); lua_pushnil(L); }
    else { lua_pushnil(L); lua_pushvalue(L, -4); }
    int in_flight = 0;   /* admitted and not finished: sent, or waiting for a slot or a retry */
    for (int i = 0; i < MANY_MAX_SLOTS; i++) in_flight += r->m->slots[i].state != SLOT_FREE;
    lua_pushinteger(L, in_flight);
    /* Documented: an error raised by on_result is dropped; false stops.
     * lua's Ctrl-C arrives as an "interrupted!" error raised in whatever Lua
     * code runs next, often on_result: it stops the batch, not only the hook. */
    int rc = lua_pcall(L, 4, 1, 0);
    if (!r->stop_code && rc == 0 && lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
      r->stop_code = "Cancelled";
    if (!r->stop_code && rc != 0 && lua_type(L, -1) == LUA_TSTRING) {
      size_t n;
      const char *e = lua_tolstring(L, -1, &n);
      if (n >= 12 && strcmp(e + n - 12, "interrupted!") == 0) r->stop_code = "Interrupted";
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (r->c->closed) r->stop_code = "ClientClosed";
}

static void record_error(lua_State *L, run *r, int item, const lp_error *e, int attempts) {
  lp_error_push(L, e);
  if (attempts > 0) {
    lua_pushinteger(L, attempts);
    lua_setfield(L, -2, "attempts");
  }
  record(L, r, item, 0);
}

static void stopped_error(const run *r, lp_error *e) {
  if (strcmp(r->stop_code, "ClientClosed") == 0) lp_closed_error(e);
  else if (strcmp(r->stop_code, "Interrupted") == 0)
    lp_error_set(e, "transport", "Interrupted", NULL, "a signal interrupted the batch; not sent");
  else
    lp_error_set(e, "config", "Cancelled", NULL, "not sent: on_result asked the batch to stop");
}

/* Validates the next item into a free slot; an invalid item is recorded at
 * once (no attempt, no event, nothing sent). */
static void admit(lua_State *L, run *r, many_slot *s) {
  lp_error err;
  int item = r->next_item++;
  if (!s->call && !(s->call = (lp_call *)calloc(1, sizeof *s->call))) {
    lp_error_set(&err, "config", "OutOfMemory", NULL, "out of memory while starting a request");
    record_error(L, r, item, &err, 0);
    return;
  }
  lua_rawgeti(L, LIST, item);
  int rc = lp_call_validate(L, r->c, s->call, r->op, lua_gettop(L), lp_time_now(), &err);
  lua_pop(L, 1);   /* names in the request are the field table's; values were copied */
  if (rc != 0) { record_error(L, r, item, &err, 0); return; }
  s->item = item;
  s->attempts = 0;
  s->reserved = 0;
  s->start_at = 0;
  s->state = SLOT_WAITING;
}

/* A failure before or without an answer: libcurl's message may quote what
 * it was given, so it is redacted like an answer's. */
static void push_transport_error(lua_State *L, lp_client *c, const lp_call *k, const lp_error *err) {
  lp_secrets secrets;
  lp_error_push(L, err);
  lp_client_secrets(c, k, &secrets);
  lp_redact_error_with(L, -1, &secrets);
}

/* Ends a slot's item with the error on the top of the stack. */
static void fail_slot(lua_State *L, run *r, many_slot *s) {
  s->state = SLOT_FREE;
  record(L, r, s->item, 0);
}

/* Starts the slot's next attempt when its pacing slot has come: reserves
 * one first, and waits for it by staying in SLOT_WAITING. */
static void start(lua_State *L, run *r, many_slot *s, double now) {
  lp_client *c = r->c;
  lp_call *k = s->call;
  lp_error err;
  if (!s->reserved) {
    double wait;
    if (lp_pace_reserve(c, now, c->cfg.max_pacing_wait, &wait, &err) != 0) goto failed;
    s->reserved = 1;
    s->reserved_at = now;
    s->start_at = now + wait;
    if (wait > 0) return;
  }
  k->paced = now - s->reserved_at;
  k->answered = 0;
  k->elapsed = 0;
  s->reserved = 0;
  if (lp_call_sign(c, k, NULL, NULL, lp_time_now(), &err) != 0) goto failed;
  struct curl_slist *headers = lp_call_headers(k);
  if (!headers) {
    lp_error_set(&err, "config", "OutOfMemory", NULL, "out of memory while building headers");
    goto failed;
  }
  if (!s->session.easy) {
    lp_session_options o;
    lp_client_session_options(c, &o);
    if (lp_session_open(&s->session, &o, &err) != 0) goto failed;
  }
  lp_session_begin(&s->session, r->op->http_method, k->url.data, headers);
  if (curl_multi_add_handle(r->m->multi, s->session.easy) != CURLM_OK) {
    lp_error_set(&err, "transport", "CurlError", NULL, "libcurl could not start the transfer");
    goto failed;
  }
  s->state = SLOT_RUNNING;
  s->started = now;
  return;
failed:
  s->attempts++;
  push_transport_error(L, c, k, &err);
  lua_pushinteger(L, s->attempts);
  lua_setfield(L, -2, "attempts");
  lp_emit_attempt(L, c, 1, k, r->op, s->attempts, lua_gettop(L), 0, -1);
  fail_slot(L, r, s);
}

/* A transfer ended: parse it, then finish the item or schedule its retry. */
static void complete(lua_State *L, run *r, many_slot *s, CURLcode code, double now) {
  lp_client *c = r->c;
  lp_call *k = s->call;
  lp_error err;
  curl_multi_remove_handle(r->m->multi, s->session.easy);
  s->state = SLOT_WAITING;
  s->attempts++;
  k->elapsed = now - s->started;
  r->rtt = r->rtt > 0 ? 0.7 * r->rtt + 0.3 * k->elapsed : k->elapsed;
  int ok = 0;
  if (lp_session_finish(&s->session, code, &err) == 0) {
    lp_answer taken = k->answer;   /* the call's own: decoding runs Lua code */
    k->answer = s->session.answer;
    s->session.answer = taken;
    k->answered = 1;
    lp_answer *a = &k->answer;
    lp_secrets secrets;
    lp_client_secrets(c, k, &secrets);
    ok = lp_response_push(L, a->status, a->body.data ? a->body.data : "", a->body.len,
                          a->request_id[0] ? a->request_id : NULL, &secrets);
  } else {
    push_transport_error(L, c, k, &err);
  }
  if (ok) {
    lp_emit_attempt(L, c, 1, k, r->op, s->attempts, lua_gettop(L), 1, -1);
    s->state = SLOT_FREE;
    record(L, r, s->item, 1);
    return;
  }
  lua_pushinteger(L, s->attempts);
  lua_setfield(L, -2, "attempts");
  double wait = 0;
  int again = lp_retry_wait(L, c, lua_gettop(L), s->attempts, r->op, &k->answer, &wait);
  int stopped = again && r->stop_code && strcmp(r->stop_code, "Cancelled") != 0;
  lp_emit_attempt(L, c, 1, k, r->op, s->attempts, lua_gettop(L), 0, again && !stopped ? wait : -1);
  if (again && !stopped && !c->closed) {
    lua_pop(L, 1);
    s->start_at = now + wait;   /* then it takes a pacing slot like any attempt */
    return;
  }
  if (again) {   /* a retry that will not be made says why, as a single call does */
    lp_error why;
    if (c->closed) lp_closed_error(&why);
    else stopped_error(r, &why);
    lua_pop(L, 1);
    lp_error_push(L, &why);
    lua_pushinteger(L, s->attempts);
    lua_setfield(L, -2, "attempts");
  }
  fail_slot(L, r, s);
}

/* The automatic concurrency: the burst at first, then enough requests in
 * flight to keep the pacing busy (rate x round trip + 1). */
static void adjust_limit(run *r) {
  if (!r->automatic) return;
  const lp_config *cfg = &r->c->cfg;
  double want = cfg->rate_limit <= 0 ? MANY_UNPACED_SLOTS
              : r->rtt > 0 ? ceil(cfg->rate_limit * r->rtt) + 1 : cfg->rate_burst;
  r->limit = want < 1 ? 1 : want > MANY_MAX_SLOTS ? MANY_MAX_SLOTS : (int)want;
}

/* Items not sent because the batch stops get the reason as their error;
 * after Cancelled, items between two attempts still finish their retries. */
static void cancel_unsent(lua_State *L, run *r) {
  lp_error err;
  stopped_error(r, &err);
  int all_waiting = strcmp(r->stop_code, "Cancelled") != 0;
  for (int i = 0; i < MANY_MAX_SLOTS; i++) {
    many_slot *s = &r->m->slots[i];
    if (s->state == SLOT_WAITING && (s->attempts == 0 || all_waiting)) {
      s->state = SLOT_FREE;
      record_error(L, r, s->item, &err, s->attempts);
    }
  }
  while (r->next_item <= r->n) record_error(L, r, r->next_item++, &err, 0);
}

static void drive(lua_State *L, run *r) {
  struct lp_many *m = r->m;
  while (r->finished < r->n) {
    double now = lp_monotonic();
    adjust_limit(r);
    int active = 0;
    for (int i = 0; i < MANY_MAX_SLOTS; i++) active += m->slots[i].state != SLOT_FREE;
    for (int i = 0; i < MANY_MAX_SLOTS && !r->stop_code && r->next_item <= r->n && active < r->limit; i++)
      if (m->slots[i].state == SLOT_FREE) {
        admit(L, r, &m->slots[i]);
        active += m->slots[i].state != SLOT_FREE;
      }
    if (r->stop_code) cancel_unsent(L, r);
    int running = 0;
    double next = HUGE_VAL;
    for (int i = 0; i < MANY_MAX_SLOTS; i++) {
      many_slot *s = &m->slots[i];
      if (s->state == SLOT_WAITING && s->start_at <= now) start(L, r, s, now);
      if (s->state == SLOT_WAITING && s->start_at < next) next = s->start_at;
      running += s->state == SLOT_RUNNING;
    }
    if (r->finished >= r->n) break;
    if (!running) {
      if (next == HUGE_VAL) continue;   /* a free slot: admit more */
      lp_error err;
      if (lp_wait_for(next - lp_monotonic(), &err) != 0 && !r->stop_code) r->stop_code = "Interrupted";
      continue;
    }
    double wait = next == HUGE_VAL ? 1.0 : next - lp_monotonic();
    int timeout_ms = wait <= 0 ? 0 : wait > 1.0 ? 1000 : (int)ceil(wait * 1000);
    int still;
    curl_multi_poll(m->multi, NULL, 0, timeout_ms, NULL);
    curl_multi_perform(m->multi, &still);
    CURLMsg *msg;
    int queued;
    while ((msg = curl_multi_info_read(m->multi, &queued))) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL *easy = msg->easy_handle;   /* copied: msg dies with the handle's removal */
      CURLcode code = msg->data.result;
      for (int i = 0; i < MANY_MAX_SLOTS; i++)
        if (m->slots[i].state == SLOT_RUNNING && m->slots[i].session.easy == easy) {
          complete(L, r, &m->slots[i], code, lp_monotonic());
          break;
        }
    }
  }
}

/* A proper sequence of tables and known options, or an argument error:
 * a wrong list is a programming error, on every flavour. */
/* list and opts: their stack indices; shift: how many arguments the caller
 * saw before the list (self, call_many's action). */
static int check_arguments(lua_State *L, int list, int opts, int shift, int *n, int *concurrency,
                           int *has_on_result) {
  if (lua_type(L, list) != LUA_TTABLE) return luaL_argerror(L, list + shift, "a sequence of parameter tables");
  luaL_argcheck(L, lp_is_plain_table(L, list), list + shift, "the list must be a plain table");
  int len = (int)lp_rawlen(L, list), count = 0;
  lua_pushnil(L);
  while (lua_next(L, list)) {
    int good = lua_type(L, -2) == LUA_TNUMBER && lua_type(L, -1) == LUA_TTABLE;
    double k = good ? lua_tonumber(L, -2) : 0;
    lua_pop(L, 1);
    if (!good || k != floor(k) || k < 1 || k > len || ++count > len) {
      lua_pop(L, 1);
      return luaL_argerror(L, list + shift, "a sequence of parameter tables (no holes, no other keys)");
    }
  }
  if (count != len) return luaL_argerror(L, list + shift, "a sequence of parameter tables (no holes, no other keys)");
  *n = len;
  *concurrency = 0;
  *has_on_result = 0;
  if (lua_isnoneornil(L, opts)) return 0;
  if (lua_type(L, opts) != LUA_TTABLE) return luaL_argerror(L, opts + shift, "a table of options or nil");
  luaL_argcheck(L, lp_is_plain_table(L, opts), opts + shift, "the options must be a plain table");
  lua_pushnil(L);
  while (lua_next(L, opts)) {
    const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    if (strcmp(key, "concurrency") == 0) {
      double v = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
      luaL_argcheck(L, v == floor(v) && v >= 1 && v <= MANY_MAX_SLOTS, opts + shift,
                    "opts.concurrency must be a whole number from 1 to 32");
      *concurrency = (int)v;
    } else if (strcmp(key, "on_result") == 0) {
      luaL_argcheck(L, lua_type(L, -1) == LUA_TFUNCTION, opts + shift, "opts.on_result must be a function");
      *has_on_result = 1;
    } else {
      return luaL_argerror(L, opts + shift, "the options are concurrency and on_result");
    }
    lua_pop(L, 1);
  }
  return 0;
}

/* Stack on entry: 1 client, 2 list, 3 opts (or none). */
static int call_many(lua_State *L, lp_client *c, const lp_operation *op, int shift) {
  int n = 0, concurrency = 0, has_on_result = 0;
  lua_settop(L, 3);
  check_arguments(L, LIST, OPTS, shift, &n, &concurrency, &has_on_result);
  lua_createtable(L, n, 0);   /* RESULTS */
  if (n == 0) return 1;
  struct lp_many *m = many_begin(L, c);   /* the box at 5 */
  if (!m) return lp_out_of_memory(L, c);
  run r = {.c = c, .op = op, .m = m, .n = n, .next_item = 1, .has_on_result = has_on_result,
           .limit = concurrency, .automatic = concurrency == 0};
  adjust_limit(&r);
  drive(L, &r);
  many_end((many_box *)lua_touserdata(L, 5));
  lua_settop(L, RESULTS);
  return 1;
}

/* core.check_many(list [, opts [, first]]) -> n, concurrency (0: automatic),
 * has_on_result: the argument rule of call_many, for transports that run
 * the batch themselves (livepull.resty); raises the same argument errors,
 * numbered from first (default 1): the list's place among the arguments
 * of the caller's own function (2 for call_many's action, list). */
int lp_core_check_many(lua_State *L) {
  int n = 0, concurrency = 0, has_on_result = 0;
  lua_Number first = luaL_optnumber(L, 3, 1);   /* not optinteger: LuaJIT's truncates 1.5 */
  luaL_argcheck(L, first == floor(first) && first >= 1 && first <= 8, 3, "the list's argument number, from 1 to 8");
  lua_settop(L, 2);
  check_arguments(L, 1, 2, (int)first - 1, &n, &concurrency, &has_on_result);
  lua_pushinteger(L, n);
  lua_pushinteger(L, concurrency);
  lua_pushboolean(L, has_on_result);
  return 3;
}

/* client:call_many(action, list [, opts]) */
int lp_client_call_many(lua_State *L) {
  lp_client *c = lp_open_client(L);
  lp_error err;
  if (!c) return lp_fail(L, lp_check_client(L)->safe);
  const lp_operation *op = lp_find_operation(L, 2, &err);
  if (!op) return lp_fail_with(L, c->safe, &err);
  lua_remove(L, 2);
  return call_many(L, c, op, 1);
}

/* client:update_many(list [, opts]) and its siblings: the operation is the upvalue. */
int lp_client_operation_many(lua_State *L) {
  lp_client *c = lp_open_client(L);
  if (!c) return lp_fail(L, lp_check_client(L)->safe);
  return call_many(L, c, &lp_operations[lua_tointeger(L, lua_upvalueindex(1))], 0);
}
