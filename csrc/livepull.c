/* luaopen_livepull_core: the C half of require "livepull". The Lua front
 * modules (lua/livepull/) build the public raising and safe APIs on it. */
#include <limits.h>
#include <signal.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "client.h"
#include "client_impl.h"
#include "compat.h"
#include "config.h"
#include "error.h"
#include "fetch.h"
#include "fields.h"
#include "policy.h"
#include "rate_reply.h"
#include "rate_store.h"
#include "redact.h"
#include "response.h"
#include "session.h"
#include "sign.h"
#include "version.h"

#define LP_SIGNWORK_MT "livepull.signwork"

typedef struct signwork {
  lp_request req;
  lp_signed sig;
  lp_signer signer;
} signwork;

static int signwork_gc(lua_State *L) {
  signwork *w = (signwork *)luaL_checkudata(L, 1, LP_SIGNWORK_MT);
  lp_signer_free(&w->signer);
  lp_request_free(&w->req);
  lp_signed_free(&w->sig);
  return 0;
}

/* A string field read raw: the table itself holds the string, so the
 * pointer stays valid after the pop (a number would be converted into a
 * new, unowned string; it is refused instead). */
static const char *opt_field(lua_State *L, int t, const char *name, int required) {
  lua_pushstring(L, name);
  lua_rawget(L, t);
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  if (!s && (required || !lua_isnil(L, -1))) luaL_error(L, "sign: field '%s' must be a string", name);
  lua_pop(L, 1);
  return s;
}

/* core.sign(spec): the bare signer, for the published vectors and for
 * checking other implementations. No validation: it signs what it is given. */
static int core_sign(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argcheck(L, lp_is_plain_table(L, 1), 1, "a plain table");
  lp_sign_input in;
  lp_algorithm algorithm;
  memset(&in, 0, sizeof in);
  const char *alg = opt_field(L, 1, "algorithm", 1);
  if (strcmp(alg, "ACS3-HMAC-SHA256") == 0) algorithm = LP_ALG_ACS3_HMAC_SHA256;
  else if (strcmp(alg, "HMAC-SHA1") == 0) algorithm = LP_ALG_HMAC_SHA1;
  else return luaL_error(L, "sign: unknown algorithm");
  lp_http_request r = {
    .method = opt_field(L, 1, "method", 1), .authority = opt_field(L, 1, "host", 1),
    .action = opt_field(L, 1, "action", 1), .version = opt_field(L, 1, "version", 1),
    .format = opt_field(L, 1, "format", 0), .path = "/",
    .headers = {{"accept", "application/json"}},   /* the bare signer adds no user agent */
  };
  in.access_key_id = opt_field(L, 1, "access_key_id", 1);
  const char *secret = opt_field(L, 1, "access_key_secret", 1);
  in.security_token = opt_field(L, 1, "security_token", 0);
  in.nonce = opt_field(L, 1, "nonce", 1);
  in.timestamp = opt_field(L, 1, "timestamp", 1);
  if (strlen(secret) > 512) return luaL_error(L, "sign: secret too long");

  signwork *w = (signwork *)lua_newuserdata(L, sizeof *w);
  memset(w, 0, sizeof *w);
  luaL_getmetatable(L, LP_SIGNWORK_MT);
  lua_setmetatable(L, -2);
  if (lp_signer_init(&w->signer, algorithm, secret) != 0) return luaL_error(L, "sign: OpenSSL failed");
  in.signer = &w->signer;

  lua_getfield(L, 1, "query");   /* a list of {name, value} pairs */
  int q = lua_gettop(L);
  if (!lua_isnil(L, q)) {
    luaL_checktype(L, q, LUA_TTABLE);
    luaL_argcheck(L, lp_is_plain_table(L, q), 1, "query must be a plain table");
    for (int i = 1; i <= (int)lp_rawlen(L, q); i++) {
      lua_rawgeti(L, q, i);
      if (lua_type(L, -1) != LUA_TTABLE)   /* an entry must be a table before it is indexed */
        return luaL_error(L, "sign: query[%d] must be {name, value}, both strings", i);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      size_t nlen, vlen;
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "sign: query[%d] must be {name, value}, both strings", i);
      const char *name = lua_tolstring(L, -2, &nlen), *value = lua_tolstring(L, -1, &vlen);
      if (lp_request_add(&w->req, name, nlen, value, vlen) != 0)
        return luaL_error(L, "sign: too many query parameters");
      lua_pop(L, 3);   /* the names stay referenced by the query table */
    }
  }
  r.params = &w->req;
  if (lp_sign(&in, &r, &w->sig) != 0) return luaL_error(L, "sign: out of memory");

  lua_createtable(L, 0, 5);
  lua_pushlstring(L, w->sig.canonical.data, w->sig.canonical.len);
  lua_setfield(L, -2, "canonical");
  lua_pushlstring(L, w->sig.sts.data, w->sig.sts.len);
  lua_setfield(L, -2, "string_to_sign");
  lua_pushstring(L, w->sig.signature);
  lua_setfield(L, -2, "signature");
  lua_pushlstring(L, w->sig.query.data, w->sig.query.len);
  lua_setfield(L, -2, "query");
  lp_push_headers(L, &r, &w->sig);
  lua_setfield(L, -2, "headers");
  return 1;
}

/* core.error(kind, code, message [, fields]): an error table for other
 * transports' own failures (a cosocket that timed out), same metatable,
 * its strings cut and any quoted signature value redacted (redact.h). */
static int core_error(lua_State *L) {
  lp_error_new(L, luaL_checkstring(L, 1), luaL_checkstring(L, 2), luaL_checkstring(L, 3));
  if (lua_type(L, 4) == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, 4)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_settable(L, -4);
    }
  }
  lp_redact_error_with(L, -1, NULL);
  return 1;
}

/* core.bucket_take(tokens, last, rate, burst, now [, max_wait]) ->
 * tokens, last, wait, taken: the native token bucket's arithmetic on state
 * kept elsewhere (a shared dict that paces every nginx worker). taken is
 * false when the wait would exceed max_wait (nothing reserved then). */
static int core_bucket_take(lua_State *L) {
  lp_bucket b = {luaL_checknumber(L, 3), luaL_checknumber(L, 4), luaL_checknumber(L, 1),
                 luaL_checknumber(L, 2)};
  double max_wait = luaL_optnumber(L, 6, HUGE_VAL), wait;
  int taken = lp_bucket_reserve(&b, luaL_checknumber(L, 5), max_wait, &wait) == 0;
  lua_pushnumber(L, b.tokens);
  lua_pushnumber(L, b.last);
  lua_pushnumber(L, wait);
  lua_pushboolean(L, taken);
  return 4;
}

/* core.isatty(fd): whether fd is a terminal. The command asks here rather
 * than spawning a shell for `[ -t 2 ]` on every run. */
static int core_isatty(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  lua_pushboolean(L, fd >= 0 && fd <= INT_MAX && isatty((int)fd) == 1);
  return 1;
}

/* core.monotonic(): seconds on CLOCK_MONOTONIC, for pacing state kept
 * outside the C core. That clock is one per host, so times taken by
 * different processes of one host (the nginx workers sharing a
 * lua_shared_dict) compare soundly, and a wall-clock step never moves it. */
static int core_monotonic(lua_State *L) {
  lua_pushnumber(L, lp_monotonic());
  return 1;
}

/* core.retry_rule(code [, status]) -> { retryable, not_processed, local,
 * throttling }: the one retry table (policy.c), for transports that build
 * their own errors (livepull.resty); a code it does not list is final,
 * unless the HTTP status is 500, 502, 503 or 504. */
static int core_retry_rule(lua_State *L) {
  const char *code = luaL_checkstring(L, 1);
  long status = (long)luaL_optnumber(L, 2, 0);
  const lp_failure_rule *r = lp_failure_rule_find(code);
  lua_createtable(L, 0, 4);
  lua_pushboolean(L, (r && r->retryable) || lp_status_retryable(status));
  lua_setfield(L, -2, "retryable");
  lua_pushboolean(L, r && r->not_processed);
  lua_setfield(L, -2, "not_processed");
  lua_pushboolean(L, r && r->local);
  lua_setfield(L, -2, "local");
  lua_pushboolean(L, lp_is_throttling(code));
  lua_setfield(L, -2, "throttling");
  return 1;
}

/* core.sigint_interrupts(): the command's Ctrl-C ends a blocking read on
 * every Lua. lua.c of 5.1-5.3 and luajit.c install their SIGINT handler with
 * signal(), whose SA_RESTART restarts a read from a pipe, so the "interrupted!"
 * hook would wait for the next input line; 5.4's sigaction has no SA_RESTART.
 * This keeps the host's handler and clears only SA_RESTART; with no handler
 * (default or ignored) it changes nothing. Returns whether it changed one. */
static int core_sigint_interrupts(lua_State *L) {
  struct sigaction sa;
  int changed = 0;
  if (sigaction(SIGINT, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler != SIG_DFL &&
      sa.sa_handler != SIG_IGN && (sa.sa_flags & SA_RESTART)) {
    sa.sa_flags &= ~SA_RESTART;
    changed = sigaction(SIGINT, &sa, NULL) == 0;
  }
  lua_pushboolean(L, changed);
  return 1;
}

static int core_is_error(lua_State *L) {
  lua_pushboolean(L, lp_error_is(L, 1));
  return 1;
}

/* core.operations(): { {action = "CreateLivePullToPush", method = "create"}, ... } in
 * the table's order, which is a task's life order (help and docs list them so). */
static int core_operations(lua_State *L) {
  lua_newtable(L);
  for (int i = 0; lp_operations[i].action; i++) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, lp_operations[i].action);
    lua_setfield(L, -2, "action");
    lua_pushstring(L, lp_operations[i].method);
    lua_setfield(L, -2, "method");
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* core.fields(action): the operation's rows, for tools such as the command
 * line that derive their flags from them. */
static int core_fields(lua_State *L) {
  static const char *const type_names[] = {"string", "integer", "time", "list"};
  const lp_operation *op = lp_operation_find(luaL_checkstring(L, 1));
  if (!op) return luaL_argerror(L, 1, "not an operation");
  lua_newtable(L);
  for (int i = 0; op->fields[i].name; i++) {
    const lp_field *f = &op->fields[i];
    lua_createtable(L, 0, 6);
    lua_pushstring(L, f->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, type_names[f->type]);
    lua_setfield(L, -2, "type");
    lua_pushboolean(L, f->required);
    lua_setfield(L, -2, "required");
    if (f->type == LP_T_INTEGER || f->type == LP_T_URL_LIST) {
      lua_pushinteger(L, (lua_Integer)f->min);
      lua_setfield(L, -2, "min");
      lua_pushinteger(L, (lua_Integer)f->max);
      lua_setfield(L, -2, "max");
    }
    if (f->choices) {
      lua_newtable(L);
      for (int k = 0; f->choices[k]; k++) {
        lua_pushstring(L, f->choices[k]);
        lua_rawseti(L, -2, k + 1);
      }
      lua_setfield(L, -2, "choices");
    }
    if (f->when_field) {
      lua_pushfstring(L, "%s when %s is %s", f->required_when ? "required" : "limited",
                      f->when_field, f->when_value);
      lua_setfield(L, -2, "condition");
    }
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* core.client_methods(): the table client methods are looked up in, so the
 * Lua front module can add the few that are plain Lua (client:tasks). */
static int core_client_methods(lua_State *L) {
  luaL_getmetatable(L, LP_CLIENT_MT);
  lua_getfield(L, -1, "__index");
  return 1;
}

/* cjson decodes answers; a private cjson.safe instance, so a caller's cjson
 * settings never change how livepull reads the service. */
static void load_json_decoder(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "cjson.safe");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "new");
  lua_call(L, 0, 1);
  lua_getfield(L, -1, "decode");
  lua_setfield(L, LUA_REGISTRYINDEX, LP_JSON_DECODE_KEY);
  lua_pop(L, 2);
}

/* The running Lua's name for the user agent: LuaJIT says so in jit.version,
 * whichever headers the module was built with. */
static void record_runtime(lua_State *L) {
  lua_getglobal(L, "jit");
  if (lua_istable(L, -1)) lua_getfield(L, -1, "version");
  else lua_getglobal(L, "_VERSION");
  if (!lua_isstring(L, -1)) {
    lua_pop(L, 1);
    lua_pushliteral(L, LUA_VERSION);
  }
  lua_setfield(L, LUA_REGISTRYINDEX, LP_RUNTIME_KEY);
  lua_pop(L, 1);
}


__attribute__((visibility("default"))) int luaopen_livepull_core(lua_State *L) {
  record_runtime(L);
  static const luaL_Reg functions[] = {
    {"new", lp_client_new}, {"sign", core_sign}, {"is_error", core_is_error},
    {"operations", core_operations}, {"fields", core_fields}, {"options", lp_config_options},
    {"client_methods", core_client_methods}, {"error", core_error},
    {"bucket_take", core_bucket_take}, {"fail", lp_client_fail}, {"retry_rule", core_retry_rule},
    {"monotonic", core_monotonic}, {"set_credentials", lp_client_set_credentials}, {"fetch", lp_fetch},
    {"fetch_check", lp_fetch_check}, {"check_many", lp_core_check_many}, {"isatty", core_isatty},
    {"sigint_interrupts", core_sigint_interrupts}, {"rate_store", lp_rate_store_info},
    {"rate_script", lp_rate_script}, {"rate_reply_limits", lp_rate_reply_limits}, {NULL, NULL},
  };
  if (lp_session_global_init() != 0) return luaL_error(L, "livepull: curl_global_init failed");
  load_json_decoder(L);
  lp_error_open(L);
  lp_client_open(L);
  if (luaL_newmetatable(L, LP_SIGNWORK_MT)) {
    lua_pushcfunction(L, signwork_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  lp_newlib(L, functions);
  lua_pushliteral(L, LP_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}
