/* The client userdata and its methods: each call owns its request state (a
 * box on the Lua stack) and runs validate, sign, send and parse in order. */
#include "client.h"
#include "client_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "args.h"
#include "config.h"
#include "encode.h"
#include "error.h"
#include "fields.h"
#include "pacing.h"
#include "rate_store.h"
#include "policy.h"
#include "process.h"
#include "redact.h"
#include "response.h"
#include "session.h"
#include "sign.h"
#include "timeutil.h"
#include "validate.h"

/* Every header a request sends, in their order on the wire: the signer's,
 * then the request value's unsigned ones (the bare signer has no user agent). */
typedef void (*header_fn)(void *ud, const char *name, const char *value, size_t value_len);

static void each_header(const lp_http_request *r, const lp_signed *sig, header_fn fn, void *ud) {
  for (int i = 0; i < sig->nheaders; i++)
    fn(ud, lp_header_name(sig, i), lp_header_value(sig, i), sig->headers[i].value_len);
  for (int i = 0; i < LP_UNSIGNED_HEADERS; i++)
    if (r->headers[i].name) fn(ud, r->headers[i].name, r->headers[i].value, strlen(r->headers[i].value));
}

static void header_field(void *ud, const char *name, const char *value, size_t value_len) {
  lua_State *L = ud;
  lua_pushlstring(L, value, value_len);
  lua_setfield(L, -2, name);
}

void lp_push_headers(lua_State *L, const lp_http_request *r, const lp_signed *sig) {
  lua_createtable(L, 0, sig->nheaders + LP_UNSIGNED_HEADERS);
  each_header(r, sig, header_field, L);
}

int lp_fail(lua_State *L, int safe) {
  if (!safe) return lua_error(L);
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* core.fail(client, err): raises err, or returns nil, err, as the client's
 * own methods do (for failures found by the Lua front, e.g. client:tasks). */
int lp_client_fail(lua_State *L) {
  lp_client *c = (lp_client *)luaL_checkudata(L, 1, LP_CLIENT_MT);
  luaL_argcheck(L, lp_error_is(L, 2), 2, "a livepull error table");
  lua_settop(L, 2);
  return lp_fail(L, c->safe);
}

int lp_fail_with(lua_State *L, int safe, const lp_error *e) {
  lp_error_push(L, e);
  return lp_fail(L, safe);
}

void lp_call_free(lp_call *k) {
  if (!k) return;
  lp_request_free(&k->req);
  lp_signed_free(&k->sig);   /* held the signature and, for V1, the token */
  lp_buf_free(&k->url);
  lp_buf_free(&k->line);
  lp_buf_free(&k->answer.body);
  free(k);
}

void lp_client_release(lp_client *c) {
  lp_signer_free(&c->signer);
  lp_random_free(&c->random);
  lp_session_close(&c->session);
  lp_config_free(&c->cfg);
  lp_call_free(c->spare);
  c->spare = NULL;
  lp_many_free(c->spare_many);
  c->spare_many = NULL;
  lp_rate_store_free(c->rate_store);
  c->rate_store = NULL;
  c->closed = c->released = 1;
}

/* Ends a call: its state goes back as the client's spare (unless it grew
 * large, or the client is closed), and a close() made during the call
 * releases the client now. Safe to run twice. */
void lp_call_end(call_box *box) {
  lp_client *c = box->client;
  lp_call *k = box->call;
  if (!c) return;
  box->client = NULL;
  box->call = NULL;
  c->busy--;
  size_t held = k->req.arena.cap + k->sig.query.cap + k->sig.canonical.cap + k->sig.sts.cap +
                k->sig.hbuf.cap + k->url.cap + k->line.cap + k->answer.body.cap;
  if (!c->closed && !c->spare && held <= SPARE_MAX_BYTES) {
    c->spare = k;
  } else {
    lp_call_free(k);
  }
  if (c->closed && !c->released && c->busy == 0) lp_client_release(c);
}

static int call_box_gc(lua_State *L) {
  lp_call_end((call_box *)lua_touserdata(L, 1));
  return 0;
}

/* A new box (nothing in it), pushed. */
static call_box *new_box(lua_State *L) {
  call_box *box = (call_box *)lua_newuserdata(L, sizeof *box);
  box->client = NULL;
  box->call = NULL;
  if (luaL_newmetatable(L, LP_CALL_MT)) {
    lua_pushcfunction(L, call_box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, call_box_gc);   /* Lua 5.4's to-be-closed slot: the same ending */
    lua_setfield(L, -2, "__close");
  }
  lua_setmetatable(L, -2);
  return box;
}

/* Pushes the client's resident box, marked to-be-closed, when this call
 * may use it (see call_box); else returns NULL, nothing pushed. */
static call_box *take_resident(lua_State *L, lp_client *c) {
#if LUA_VERSION_NUM >= 504
  if (!c->resident || c->resident->client) return NULL;
  int main_thread = lua_pushthread(L);
  lua_pop(L, 1);
  if (!main_thread) return NULL;
  lp_getuservalue(L, 1);   /* the client is argument 1 of every method */
  lua_rawgeti(L, -1, 1);
  lua_remove(L, -2);
  lua_toclose(L, -1);
  return c->resident;
#else
  (void)L;
  (void)c;
  return NULL;
#endif
}

/* Starts a call: pushes its box and returns its state, or NULL (nothing
 * pushed) when memory ran out. */
lp_call *lp_call_begin(lua_State *L, lp_client *c) {
  call_box *box = take_resident(L, c);
  if (!box) box = new_box(L);
  lp_call *k = c->spare;
  c->spare = NULL;
  if (!k) k = (lp_call *)calloc(1, sizeof *k);
  if (!k) { lua_pop(L, 1); return NULL; }   /* a to-be-closed box: lua_pop closes it, harmlessly */
  box->call = k;
  box->client = c;
  c->busy++;
  return k;
}

lp_client *lp_check_client(lua_State *L) {
  return (lp_client *)luaL_checkudata(L, 1, LP_CLIENT_MT);
}

/* An open client, or NULL with the ClientClosed error pushed. */
lp_client *lp_open_client(lua_State *L) {
  lp_client *c = lp_check_client(L);
  if (!c->closed) return c;
  lp_error_new(L, "config", "ClientClosed", "this client was closed");
  return NULL;
}

int lp_client_new(lua_State *L) {
  int safe = lua_toboolean(L, 2);
  lp_error err;
  lp_client *c = (lp_client *)lua_newuserdata(L, sizeof *c);
  memset(c, 0, sizeof *c);
  c->closed = c->released = 1;   /* nothing to free until the config is read */
  luaL_getmetatable(L, LP_CLIENT_MT);
  lua_setmetatable(L, -2);
  c->safe = safe;
  lua_getfield(L, LUA_REGISTRYINDEX, LP_RUNTIME_KEY);
  const char *runtime = lua_tostring(L, -1);   /* the registry keeps it alive */
  lua_pop(L, 1);
  if (lp_config_read(L, 1, runtime ? runtime : LUA_VERSION, &c->cfg, &err) != 0)
    return lp_fail_with(L, safe, &err);
  c->closed = c->released = 0;
  /* The user value keeps what is Lua (the on_attempt hook) with the client. */
  lua_createtable(L, 0, 1);
  if (lua_type(L, 1) == LUA_TTABLE) {
    lua_pushliteral(L, "on_attempt");
    lua_rawget(L, 1);   /* lp_config_read checked it is a function or nil */
    c->has_hook = lua_type(L, -1) == LUA_TFUNCTION;
    lua_setfield(L, -2, "on_attempt");
  }
#if LUA_VERSION_NUM >= 504
  c->resident = new_box(L);   /* made once, reused by the calls (see call_box) */
  lua_rawseti(L, -2, 1);
#endif
  lp_setuservalue(L, -2);
  if (c->cfg.access_key_secret &&   /* NULL: a provider keys it later (core.set_credentials) */
      lp_signer_init(&c->signer, c->cfg.algorithm, c->cfg.access_key_secret) != 0) {
    lp_client_release(c);
    lp_error_set(&err, "config", "CryptoInitFailed", NULL, "OpenSSL could not set up the HMAC");
    return lp_fail_with(L, safe, &err);
  }
  /* The keyed HMAC is all signing needs: the secret itself goes now. */
  if (c->cfg.access_key_secret) OPENSSL_cleanse(c->cfg.access_key_secret, strlen(c->cfg.access_key_secret));
  free(c->cfg.access_key_secret);
  c->cfg.access_key_secret = NULL;
  c->retry = (lp_retry_policy){c->cfg.max_attempts, c->cfg.retry_base_delay,
                               THROTTLE_BASE_DELAY, c->cfg.retry_max_delay};
  lp_bucket_init(&c->bucket, c->cfg.rate_limit, c->cfg.rate_burst, lp_monotonic());
  lp_random_init(&c->random);
  return 1;
}

static int check_token(const char *s, size_t n) {
  if (n == 0 || n > 64) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || ch == '_' || ch == '.'))
      return 0;
  }
  return 1;
}

/* prepare's third argument: { nonce = "...", timestamp = "YYYY-MM-DDTHH:MM:SSZ" }. */
static int read_prepare_opts(lua_State *L, int idx, const char **nonce, const char **timestamp,
                             long long *now, lp_error *err) {
  static const char *const names[] = {"nonce", "timestamp", NULL};
  lp_key_names known = {names, sizeof names[0], NULL};
  lp_unknown_key unknown;
  if (lua_isnoneornil(L, idx)) return 0;
  if (!lp_is_plain_table(L, idx)) {
    lp_error_set(err, "validation", "InvalidParameter", "opts",
                 "prepare's options must be a plain table (no metatable)");
    return -1;
  }
  if (lp_find_unknown_key(L, idx, &known, &unknown)) {
    lp_error_set(err, "validation", "UnknownParameter", "opts",
                 "prepare takes the options nonce and timestamp only");
    return -1;
  }
  lua_getfield(L, idx, "nonce");   /* a plain table: no metamethod runs */
  if (!lua_isnil(L, -1)) {
    size_t n = 0;
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (!s || !check_token(s, n)) {
      lua_pop(L, 1);
      lp_error_set(err, "validation", "InvalidParameter", "opts.nonce",
                   "opts.nonce must be 1 to 64 characters from A-Z a-z 0-9 - _ .");
      return -1;
    }
    *nonce = s;   /* the opts table keeps it alive */
  }
  lua_pop(L, 1);
  lua_getfield(L, idx, "timestamp");
  if (!lua_isnil(L, -1)) {
    size_t n = 0;
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (!s || lp_time_parse(s, n, now) != 0) {
      lua_pop(L, 1);
      lp_error_set(err, "validation", "InvalidParameter", "opts.timestamp",
                   "opts.timestamp must be a UTC time written YYYY-MM-DDTHH:MM:SSZ");
      return -1;
    }
    *timestamp = s;
  }
  lua_pop(L, 1);
  return 0;
}

const lp_operation *lp_find_operation(lua_State *L, int idx, lp_error *err) {
  const char *action = lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
  const lp_operation *op = action ? lp_operation_find(action) : NULL;
  if (!op) {
    char list[512] = "";
    for (const lp_operation *o = lp_operations; o->action; o++) {
      if (o != lp_operations) strncat(list, ", ", sizeof list - strlen(list) - 1);
      strncat(list, o->action, sizeof list - strlen(list) - 1);
    }
    lp_error_set(err, "validation", "UnknownAction", "action", "the action must be one of %s", list);
  }
  return op;
}

/* A client closed while its own call ran: the call stops here. */
int lp_closed_error(lp_error *err) {
  lp_error_set(err, "config", "ClientClosed", NULL, "this client was closed during the call");
  return -1;
}

/* Sleeps before a send; a handled signal (Ctrl-C in a script) ends the
 * call at once rather than after the wait. */
int lp_wait_for(double seconds, lp_error *err) {
  if (lp_sleep(seconds) == 0) return 0;
  lp_error_set(err, "transport", "Interrupted", NULL,
               "a signal interrupted the wait before the request; nothing was sent");
  err->retryable = 1;
  return -1;
}

/* validate -> build: the request's parameters and value, once per call. */
int lp_call_validate(lua_State *L, lp_client *c, lp_call *k, const lp_operation *op,
                            int params_idx, long long now, lp_error *err) {
  lp_request_reset(&k->req);
  if (lp_validate(L, params_idx, op, now, &k->req, err) != 0) return -1;
  /* Validation reads Lua values: a finalizer or hook may have closed the
   * client meanwhile (its memory stays until the call ends). */
  if (c->closed) return lp_closed_error(err);
  return lp_build(&c->cfg, op, &k->req, &k->http, err);
}

/* sign: every attempt gets its own nonce and time; leaves k->sig and k->url. */
int lp_call_sign(lp_client *c, lp_call *k, const char *nonce, const char *timestamp, long long now,
                 lp_error *err) {
  char nonce_buf[LP_NONCE_LEN + 1], time_buf[LP_TIME_LEN + 1];
  if (!c->cfg.access_key_id) {
    lp_error_set(err, "config", "MissingCredentials", NULL, "this client has no credentials yet");
    return -1;
  }
  if (!nonce) {
    if (lp_random_nonce(&c->random, nonce_buf) != 0) {
      lp_error_set(err, "config", "RandomFailed", NULL, "the CSPRNG (getrandom, then RAND_bytes) failed");
      return -1;
    }
    nonce = nonce_buf;
  }
  if (!timestamp) {
    lp_time_format(now, time_buf);
    timestamp = time_buf;
  }
  lp_sign_input in = {
    .signer = &c->signer, .access_key_id = c->cfg.access_key_id,
    .security_token = c->cfg.security_token, .timestamp = timestamp, .nonce = nonce,
  };
  if (lp_sign(&in, &k->http, &k->sig) != 0) {
    lp_error_set(err, "config", "OutOfMemory", NULL, "out of memory while signing");
    return -1;
  }
  if (lp_build_url(&k->http, &k->sig, &k->url) != 0) {
    lp_error_set(err, "config", "OutOfMemory", NULL, "out of memory while building the request");
    return -1;
  }
  return 0;
}

/* Ends the call in box_idx and raises or returns the error on the top. */
int lp_call_fail(lua_State *L, lp_client *c, int box_idx) {
  lp_call_end((call_box *)lua_touserdata(L, box_idx));
  return lp_fail(L, c->safe);
}

int lp_call_fail_with(lua_State *L, lp_client *c, int box_idx, const lp_error *e) {
  lp_error_push(L, e);
  return lp_call_fail(L, c, box_idx);
}

int lp_out_of_memory(lua_State *L, lp_client *c) {
  lp_error err;
  lp_error_set(&err, "config", "OutOfMemory", NULL, "out of memory while starting a call");
  return lp_fail_with(L, c->safe, &err);
}

/* client:prepare(action, params [, opts]) -> { method, url, headers, body } */
static int client_prepare(lua_State *L) {
  lp_client *c = lp_open_client(L);
  lp_error err;
  const char *nonce = NULL, *timestamp = NULL;
  long long now = lp_time_now();
  if (!c) return lp_fail(L, lp_check_client(L)->safe);
  lua_settop(L, 4);
  lp_call *k = lp_call_begin(L, c);   /* at index 5 */
  if (!k) return lp_out_of_memory(L, c);
  const lp_operation *op = lp_find_operation(L, 2, &err);
  if (!op || read_prepare_opts(L, 4, &nonce, &timestamp, &now, &err) != 0 ||
      lp_call_validate(L, c, k, op, 3, now, &err) != 0 ||
      lp_call_sign(c, k, nonce, timestamp, now, &err) != 0)
    return lp_call_fail_with(L, c, 5, &err);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, op->http_method);
  lua_setfield(L, -2, "method");
  lua_pushlstring(L, k->url.data, k->url.len);
  lua_setfield(L, -2, "url");
  lp_push_headers(L, &k->http, &k->sig);
  lua_setfield(L, -2, "headers");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "body");
  lp_call_end((call_box *)lua_touserdata(L, 5));
  return 1;
}

/* libcurl's header lines, written one after another into one buffer. */
typedef struct header_lines {
  lp_buf *line;
  size_t offsets[LP_MAX_HEADERS + LP_UNSIGNED_HEADERS + 1];
  int n;
} header_lines;

static void header_line(void *ud, const char *name, const char *value, size_t value_len) {
  header_lines *h = ud;
  h->offsets[h->n++] = h->line->len;
  lp_buf_addstr(h->line, name);
  lp_buf_add(h->line, ": ", 2);
  lp_buf_add(h->line, value, value_len);
  lp_buf_addchar(h->line, '\0');
}

/* The headers as libcurl's list, without an allocation per line: the lines
 * sit in k->line and the nodes in the call. libcurl only reads a
 * CURLOPT_HTTPHEADER list, so it never frees these. */
struct curl_slist *lp_call_headers(lp_call *k) {
  header_lines h = {.line = &k->line, .n = 0};
  lp_buf_reset(&k->line);
  each_header(&k->http, &k->sig, header_line, &h);
  h.offsets[h.n++] = k->line.len;
  lp_buf_add(&k->line, "Expect:", 8);   /* with its NUL: never wait for 100-continue */
  if (!lp_buf_ok(&k->line)) return NULL;
  for (int i = 0; i < h.n; i++) {   /* the buffer is final now: point into it */
    k->header_nodes[i].data = k->line.data + h.offsets[i];
    k->header_nodes[i].next = i + 1 < h.n ? &k->header_nodes[i + 1] : NULL;
  }
  return k->header_nodes;
}

/* Seconds to libcurl's milliseconds, rounded up: 0 would mean "no timeout". */
static long timeout_ms(double seconds) {
  double ms = ceil(seconds * 1000);
  return ms < 1 ? 1 : (long)ms;
}

void lp_client_session_options(const lp_client *c, lp_session_options *o) {
  *o = (lp_session_options){
    .connect_timeout_ms = timeout_ms(c->cfg.connect_timeout),
    .timeout_ms = timeout_ms(c->cfg.timeout),
    .ca_file = c->cfg.ca_file, .ca_path = c->cfg.ca_path, .proxy = c->cfg.proxy,
    .no_proxy = c->cfg.no_proxy,
    .max_response_bytes = (size_t)c->cfg.max_response_bytes,
  };
}

static int open_session(lp_client *c, lp_error *err) {
  unsigned long generation = lp_process_generation();
  if (c->session.easy && c->session_generation != generation) {
    /* Inherited across fork (a client made in nginx's init_by_lua, used in a
     * worker): the parent still uses that connection, so the child leaves the
     * handle untouched (closing it would send TLS close_notify on the
     * parent's socket) and opens its own. The handle's memory stays behind,
     * once per fork. */
    c->session.easy = NULL;
  }
  if (c->session.easy) return 0;
  c->session_generation = generation;
  lp_session_options o;
  lp_client_session_options(c, &o);
  return lp_session_open(&c->session, &o, err);
}

/* What this client's errors must never show: the token and proxy user
 * info (config) and the call's signature. */
void lp_client_secrets(const lp_client *c, const lp_call *k, lp_secrets *s) {
  memset(s, 0, sizeof *s);
  if (c->released) return;
  lp_config_secrets(&c->cfg, s);
  if (k) lp_secrets_add(s, k->sig.signature, strlen(k->sig.signature));
}

/* The wait for this client's next pacing slot, bounded by max_pacing_wait:
 * 0 with the slot taken and waited for; -1 with err set (PacingTimeout
 * when the wait is too long, nothing taken; Interrupted when a signal
 * ended the wait). */
static int pace(lp_client *c, lp_error *err) {
  double wait;
  if (lp_pace_reserve_now(c, c->cfg.max_pacing_wait, &wait, err) != 0) return -1;
  return lp_wait_for(wait, err);
}

/* One attempt: pace, sign, send, parse. Pushes the result (returns 1) or an
 * error table (returns 0). */
static int attempt(lua_State *L, lp_client *c, lp_call *k, const lp_operation *op) {
  lp_error err;
  lp_secrets secrets;
  double t0 = lp_monotonic();
  k->answered = 0;
  k->paced = k->elapsed = 0;
  int paced = pace(c, &err);
  double t1 = lp_monotonic();
  k->paced = t1 - t0;
  if (paced != 0 || lp_call_sign(c, k, NULL, NULL, lp_time_now(), &err) != 0)
    goto failed;
  struct curl_slist *headers = lp_call_headers(k);   /* owned by the call: nothing to free */
  if (!headers) {
    lp_error_set(&err, "config", "OutOfMemory", NULL, "out of memory while building headers");
    goto failed;
  }
  int rc = lp_session_perform(&c->session, op->http_method, k->url.data, headers, &err);
  k->elapsed = lp_monotonic() - t1;
  if (rc != 0) goto failed;
  k->answered = 1;
  /* The answer becomes the call's own: decoding it runs Lua code, which may
   * close the client or make another call on it. */
  lp_answer taken = k->answer;
  k->answer = c->session.answer;
  c->session.answer = taken;
  lp_answer *a = &k->answer;
  lp_client_secrets(c, k, &secrets);
  return lp_response_push(L, a->status, a->body.data ? a->body.data : "", a->body.len,
                          a->request_id[0] ? a->request_id : NULL, &secrets);
failed:
  lp_error_push(L, &err);
  lp_client_secrets(c, k, &secrets);   /* libcurl's message may quote what it was given */
  lp_redact_error_with(L, -1, &secrets);
  return 0;
}

/* The retry decision both transports share: 1 with *wait set when the
 * error at err_idx (after attempt n of op; op NULL: unknown) is worth
 * another attempt, else 0. Only an answer carries the server's hint, in
 * hints; a transport failure has none. */
int lp_retry_wait(lua_State *L, lp_client *c, int err_idx, long long n, const lp_operation *op,
                      const lp_answer *hints, double *wait) {
  lua_getfield(L, err_idx, "retryable");
  int retryable = lua_toboolean(L, -1);
  lua_getfield(L, err_idx, "code");
  const char *code = lua_tostring(L, -1);
  const lp_failure_rule *rule = lp_failure_rule_find(code);
  int throttled = lp_is_throttling(code);
  int repeatable = !op || op->idempotent || (rule && rule->not_processed);
  int local = rule && rule->local;   /* a new attempt inside the call cannot cure it */
  lua_getfield(L, err_idx, "kind");
  int answered = lua_tostring(L, -1) && strcmp(lua_tostring(L, -1), "transport") != 0;
  lua_pop(L, 3);   /* the strings were only compared above */
  if (!retryable || local || !repeatable || n >= c->retry.max_attempts) return 0;
  double hint = answered && hints ? lp_answer_retry_hint(hints) : -1;
  *wait = lp_backoff(&c->retry, (int)n, throttled, hint, lp_random_unit(&c->random));
  return 1;
}

/* Raw reads of the outcome table: a string field, or nil pushed. */
static void push_string_field(lua_State *L, int t, const char *name) {
  lua_pushstring(L, name);
  lua_rawget(L, t);
  if (lua_type(L, -1) != LUA_TSTRING) { lua_pop(L, 1); lua_pushnil(L); }
}

void lp_emit_attempt(lua_State *L, lp_client *c, int client_idx, const lp_call *k,
                     const lp_operation *op, int n, int outcome_idx, int ok, double retry_in) {
  if (!c->has_hook) return;
  lp_getuservalue(L, client_idx);
  lua_getfield(L, -1, "on_attempt");
  lua_remove(L, -2);
  if (lua_type(L, -1) != LUA_TFUNCTION) { lua_pop(L, 1); return; }
  lua_createtable(L, 0, 9);
  lua_pushstring(L, op->action);
  lua_setfield(L, -2, "action");
  lua_pushinteger(L, n);
  lua_setfield(L, -2, "attempt");
  if (k->answered) {
    lua_pushinteger(L, (lua_Integer)k->answer.status);
    lua_setfield(L, -2, "status");
    push_string_field(L, outcome_idx, ok ? "RequestId" : "request_id");
    lua_setfield(L, -2, "request_id");
  }
  if (!ok) {
    push_string_field(L, outcome_idx, "code");
    lua_setfield(L, -2, "code");
  }
  lua_pushnumber(L, k->elapsed);
  lua_setfield(L, -2, "elapsed");
  lua_pushnumber(L, k->paced);
  lua_setfield(L, -2, "paced");
  if (retry_in >= 0) {
    lua_pushnumber(L, retry_in);
    lua_setfield(L, -2, "retry_in");
  }
  int t = lp_request_find(&k->req, "TaskId");
  if (t >= 0) {
    lua_pushlstring(L, lp_request_value(&k->req, t), k->req.params[t].value_len);
    lua_setfield(L, -2, "task_id");
  }
  if (lua_pcall(L, 1, 0, 0) != 0) lua_pop(L, 1);   /* documented: a failing hook changes nothing */
}

/* A call: validated once, then attempted until it succeeds, fails for good
 * or runs out of attempts. Pushes the result or fails with the last error,
 * which carries `attempts`. The call's state is a box on the stack. */
static int send_request(lua_State *L, lp_client *c, const lp_operation *op, int params_idx) {
  lp_error err;
  lp_call *k = lp_call_begin(L, c);
  if (!k) return lp_out_of_memory(L, c);
  int box = lua_gettop(L);
  if (lp_call_validate(L, c, k, op, params_idx, lp_time_now(), &err) != 0 || open_session(c, &err) != 0)
    return lp_call_fail_with(L, c, box, &err);
  for (int n = 1;; n++) {
    if (attempt(L, c, k, op)) {
      lp_emit_attempt(L, c, 1, k, op, n, lua_gettop(L), 1, -1);
      lp_call_end((call_box *)lua_touserdata(L, box));
      return 1;
    }
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "attempts");
    double wait;
    int again = lp_retry_wait(L, c, lua_gettop(L), n, op, &k->answer, &wait);
    lp_emit_attempt(L, c, 1, k, op, n, lua_gettop(L), 0, again ? wait : -1);
    if (!again) return lp_call_fail(L, c, box);
    if (c->closed || lp_wait_for(wait, &err) != 0) {   /* closed by Lua code in this attempt */
      if (c->closed) lp_closed_error(&err);
      lua_pop(L, 1);
      lp_error_push(L, &err);
      lua_pushinteger(L, n);
      lua_setfield(L, -2, "attempts");
      return lp_call_fail(L, c, box);
    }
    lua_pop(L, 1);   /* this attempt's error */
  }
}

/* client:call(action, params) */
static int client_call(lua_State *L) {
  lp_client *c = lp_open_client(L);
  lp_error err;
  if (!c) return lp_fail(L, lp_check_client(L)->safe);
  const lp_operation *op = lp_find_operation(L, 2, &err);
  if (!op) return lp_fail_with(L, c->safe, &err);
  lua_settop(L, 3);
  return send_request(L, c, op, 3);
}

/* client:update(params) and its siblings: the operation is the upvalue. */
static int client_operation(lua_State *L) {
  lp_client *c = lp_open_client(L);
  if (!c) return lp_fail(L, lp_check_client(L)->safe);
  const lp_operation *op = &lp_operations[lua_tointeger(L, lua_upvalueindex(1))];
  lua_settop(L, 2);
  return send_request(L, c, op, 2);
}

/* client:parse(status, headers, body): the sans-I/O end of a call. */
static int client_parse(lua_State *L) {
  lp_client *c = lp_check_client(L);
  long long status = 0;
  size_t len = 0;
  const char *request_id = NULL;
  if (lp_check_integer(L, 2, &status) != 0 || status < 100 || status > 999)
    return luaL_argerror(L, 2, "an HTTP status code");
  const char *body = luaL_checklstring(L, 4, &len);
  if (lua_type(L, 3) == LUA_TTABLE) {
    lua_pushliteral(L, "x-acs-request-id");
    lua_rawget(L, 3);   /* raw: the table itself then holds the string */
    request_id = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1);
  } else if (!lua_isnoneornil(L, 3)) {
    return luaL_argerror(L, 3, "a table of headers or nil");
  }
  lua_settop(L, 4);   /* body and headers stay referenced at 3 and 4 */
  lp_secrets secrets;
  if (c->released) {   /* no secrets left to hide; the generic redaction still runs */
    if (lp_response_push(L, (long)status, body, len, request_id, NULL)) return 1;
    return lp_fail(L, c->safe);
  }
  lp_call *k = lp_call_begin(L, c);   /* the spare: the latest prepare's signature, at index 5 */
  if (!k) return lp_out_of_memory(L, c);
  lp_client_secrets(c, k, &secrets);
  if (lp_response_push(L, (long)status, body, len, request_id, &secrets)) {
    lp_call_end((call_box *)lua_touserdata(L, 5));
    return 1;
  }
  return lp_call_fail(L, c, 5);
}

/* client:settings(): what another transport needs to send like the native
 * path does (no credentials in it). */
static int client_settings(lua_State *L) {
  lp_client *c = lp_open_client(L);
  if (!c) return lp_fail(L, lp_check_client(L)->safe);
  const lp_config *cfg = &c->cfg;
  lua_createtable(L, 0, 16);
  /* The endpoint as parts, so no transport parses a URL again. */
  lua_pushstring(L, cfg->scheme);
  lua_setfield(L, -2, "scheme");
  lua_pushstring(L, cfg->host);
  lua_setfield(L, -2, "host");
  lua_pushinteger(L, cfg->port);
  lua_setfield(L, -2, "port");
  const char *strings[][2] = {
    {"base_url", cfg->base_url}, {"authority", cfg->authority}, {"ca_file", cfg->ca_file},
    {"shared_dict", cfg->shared_dict}, {"user_agent", cfg->user_agent},
  };
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
    if (!strings[i][1]) continue;
    lua_pushstring(L, strings[i][1]);
    lua_setfield(L, -2, strings[i][0]);
  }
  /* Booleans a transport must honour: livepull.resty cannot send through a
   * proxy (a cosocket connects directly), and force_libcurl keeps a plain
   * client off cosockets inside nginx (lua/livepull/nginx.lua). */
  lua_pushboolean(L, cfg->proxy != NULL);
  lua_setfield(L, -2, "proxy");
  lua_pushboolean(L, cfg->force_libcurl);
  lua_setfield(L, -2, "force_libcurl");
  const struct { const char *name; double value; } numbers[] = {
    {"connect_timeout", cfg->connect_timeout}, {"timeout", cfg->timeout},
    {"max_response_bytes", (double)cfg->max_response_bytes}, {"max_attempts", cfg->max_attempts},
    {"rate_limit", cfg->rate_limit}, {"rate_burst", cfg->rate_burst},
    {"max_pacing_wait", cfg->max_pacing_wait},
  };
  for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
    lua_pushnumber(L, numbers[i].value);
    lua_setfield(L, -2, numbers[i].name);
  }
  return 1;
}

/* client:backoff(err, attempt [, headers [, action]]): seconds to wait before
 * the next attempt, or nil when err is final, the attempts are used up, or
 * the action must not be repeated after this failure. The same
 * decision the native path makes, for transports that sleep their own way. */
static int client_backoff(lua_State *L) {
  lp_client *c = lp_check_client(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  long long n = 0;
  if (lp_check_integer(L, 3, &n) != 0 || n < 1) return luaL_argerror(L, 3, "an attempt number from 1");
  lp_answer hints;
  memset(&hints, 0, sizeof hints);
  if (lua_type(L, 4) == LUA_TTABLE) {
    static const char *const names[] = {"x-acs-retry-after", "x-ratelimit-user-api", "x-ratelimit-user"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      lua_getfield(L, 4, names[i]);
      if (lua_type(L, -1) == LUA_TSTRING) {
        char line[256];
        int len = snprintf(line, sizeof line, "%s: %s", names[i], lua_tostring(L, -1));
        if (len > 0) lp_answer_header(&hints, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
      }
      lua_pop(L, 1);
    }
  }
  double wait;
  if (lp_retry_wait(L, c, 2, n, lp_operation_find(luaL_optstring(L, 5, "")), &hints, &wait))
    lua_pushnumber(L, wait);
  else
    lua_pushnil(L);
  return 1;
}

/* client:pace(): reserves a slot in this client's token bucket (or the
 * shared one, rate_store) and returns the seconds to wait before using it;
 * any failure but a too long wait is raised (or nil, err when safe). */
static int client_pace(lua_State *L) {
  lp_client *c = lp_check_client(L);
  double wait;
  lp_error err;
  if (lp_pace_reserve_now(c, c->released ? HUGE_VAL : c->cfg.max_pacing_wait, &wait, &err) != 0) {
    if (strcmp(err.code, "PacingTimeout") != 0) {
      lp_secrets secrets;
      lp_client_secrets(c, NULL, &secrets);
      lp_error_push(L, &err);
      lp_redact_error_with(L, -1, &secrets);
      return lp_fail(L, c->safe);
    }
    lua_pushnil(L);   /* nil, wait: longer than max_pacing_wait, nothing taken */
    lua_pushnumber(L, wait);
    return 2;
  }
  lua_pushnumber(L, wait);
  return 1;
}

/* client:close(): at once, or when the calls running on it end (a hook or
 * finalizer may close a client in the middle of its own call). */
static int client_close(lua_State *L) {
  lp_client *c = lp_check_client(L);
  c->closed = 1;
  if (!c->released && c->busy == 0) lp_client_release(c);
  return 0;
}

/* __gc: nothing can be running on an unreachable client (a call keeps it on
 * its stack; one that a Lua error unwound has no one to finish it). */
static int client_gc(lua_State *L) {
  lp_client *c = lp_check_client(L);
  c->closed = 1;
  if (!c->released) lp_client_release(c);
  c->busy = 0;
  return 0;
}

static int client_tostring(lua_State *L) {
  lp_client *c = lp_check_client(L);
  if (c->closed) {
    lua_pushliteral(L, "livepull.client (closed)");
  } else {
    /* Only the first four characters of the key ID: enough to tell keys apart. */
    char text[1200];
    snprintf(text, sizeof text, "livepull.client (%s, key %.4s****, %s)", c->cfg.base_url,
             c->cfg.access_key_id ? c->cfg.access_key_id : "",
             c->cfg.algorithm == LP_ALG_HMAC_SHA1 ? "HMAC-SHA1" : "ACS3-HMAC-SHA256");
    lua_pushstring(L, text);
  }
  return 1;
}

/* core.set_credentials(client, id, secret [, token]) -> true | nil, err:
 * re-keys a live client with a provider's credentials as one snapshot
 * (the old key material wiped). Not a method: callers are the credentials
 * module, never user code. */
int lp_client_set_credentials(lua_State *L) {
  lp_client *c = lp_check_client(L);
  size_t n[3] = {0, 0, 0};
  const char *names[3] = {"access_key_id", "access_key_secret", "security_token"};
  const char *v[3] = {luaL_checklstring(L, 2, &n[0]), luaL_checklstring(L, 3, &n[1]),
                      luaL_optlstring(L, 4, NULL, &n[2])};
  lp_error err;
  lp_signer next;
  char *id = NULL, *token = NULL;
  if (c->released) {
    lp_error_set(&err, "config", "ClientClosed", NULL, "this client was closed");
    return lp_fail_with(L, 1, &err);
  }
  for (int i = 0; i < 3; i++)
    if (v[i] && lp_config_check_credential(names[i], v[i], n[i], &err) != 0) return lp_fail_with(L, 1, &err);
  if (lp_signer_init(&next, c->cfg.algorithm, v[1]) != 0 || !(id = calloc(1, n[0] + 1)) ||
      (v[2] && !(token = calloc(1, n[2] + 1)))) {
    free(id);
    lp_signer_free(&next);
    lp_error_set(&err, "config", "CryptoInitFailed", NULL, "could not set up the HMAC for new credentials");
    return lp_fail_with(L, 1, &err);
  }
  memcpy(id, v[0], n[0]);
  if (token) memcpy(token, v[2], n[2]);
  lp_signer_free(&c->signer);
  char **old[2] = {&c->cfg.access_key_id, &c->cfg.security_token};
  for (int i = 0; i < 2; i++) {
    if (*old[i]) OPENSSL_cleanse(*old[i], strlen(*old[i]));
    free(*old[i]);
  }
  c->signer = next;
  c->cfg.access_key_id = id;
  c->cfg.security_token = token;
  lua_pushboolean(L, 1);
  return 1;
}

void lp_client_open(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"prepare", client_prepare}, {"call", client_call}, {"parse", client_parse},
    {"close", client_close}, {"settings", client_settings}, {"backoff", client_backoff},
    {"pace", client_pace}, {"call_many", lp_client_call_many}, {NULL, NULL},
  };
  if (!luaL_newmetatable(L, LP_CLIENT_MT)) { lua_pop(L, 1); return; }
  lua_pushcfunction(L, client_gc);
  lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
  lua_pushcfunction(L, client_close);
  lua_setfield(L, -2, "__close");
#endif
  lua_pushcfunction(L, client_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, LP_CLIENT_MT);
  lua_setfield(L, -2, "__name");
  lua_pushliteral(L, "locked");   /* getmetatable(client) does not hand out the methods */
  lua_setfield(L, -2, "__metatable");
  lua_newtable(L);
  lp_setfuncs(L, methods, 0);
  for (int i = 0; lp_operations[i].action; i++) {   /* two methods per operation */
    const lp_operation *op = &lp_operations[i];
    int rows = 0;
    while (op->fields[rows].name) rows++;
    if (rows > LP_MAX_FIELDS)   /* a table edit must not pass unvalidated rows */
      luaL_error(L, "livepull: %s has %d parameter rows; validation handles at most %d", op->action,
                 rows, LP_MAX_FIELDS);
    for (int many = 0; many < 2; many++) {
      lua_pushfstring(L, many ? "%s_many" : "%s", op->method);
      lua_pushvalue(L, -1);
      lua_rawget(L, -3);
      if (!lua_isnil(L, -1))   /* an operation may not hide a built-in method or another operation */
        luaL_error(L, "livepull: the method %s of %s is taken", lua_tostring(L, -2), op->action);
      lua_pop(L, 1);
      lua_pushinteger(L, i);
      lua_pushcclosure(L, many ? lp_client_operation_many : client_operation, 1);
      lua_rawset(L, -3);
    }
  }
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
