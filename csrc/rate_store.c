/* The shared pacing bucket in Redis: every client of one account reserves
 * its slots with one GCRA script (rate_gcra.lua, compiled in) over one lazy
 * hiredis connection per client; while Redis is unreachable or slow the
 * client paces alone on a local bucket of rate_store_fallback per second. */
#include "rate_store.h"

#include <errno.h>
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
#include "rate_gcra_script.h"
#include "timeutil.h"

#define RECONNECT_AFTER 1.0     /* seconds between connection attempts after a failure */
#define NOTE_EVERY 60.0         /* seconds between two fallback notes on stderr */
#define MAX_WAIT_US 1e13        /* the script's wait bound, whatever max_wait is */

struct lp_rate_store {
  redisContext *redis;  /* NULL: not connected */
  pid_t pid;            /* the process that opened it: a forked child opens its own */
  double retry_at;      /* monotonic: no new connection before this */
  lp_bucket alone;      /* the fallback bucket: rate_store_fallback/s, burst 1 */
  int alone_ready;
  int falling_back;     /* the last reservation went to the fallback */
  double noted_at;      /* monotonic: the last note on stderr (-1: none) */
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
