/* Client configuration: the option table, reading it from a Lua table and
 * the ALIBABA_CLOUD_* environment, and the endpoint rules. */
#ifndef LIVEPULL_CONFIG_H
#define LIVEPULL_CONFIG_H

#include "error.h"
#include "redact.h"
#include "sign.h"

typedef struct lp_config {
  char *access_key_id, *access_key_secret, *security_token;
  char *base_url;     /* scheme://authority, no trailing slash */
  char *authority;    /* host[:port]: the signed host header */
  const char *scheme; /* "https" or "http" (static) */
  char *host;         /* the authority's host: a name, dotted quad or [IPv6] */
  int port;           /* the authority's port, or the scheme's */
  char *region_id;
  char *ca_file, *ca_path, *proxy, *user_agent;
  char *no_proxy;      /* proxy = "env": the environment's NO_PROXY, for libcurl; else NULL */
  char *shared_dict;   /* livepull.resty: the lua_shared_dict that paces all workers */
  lp_algorithm algorithm;
  double connect_timeout, timeout;
  int allow_insecure_http;
  int force_libcurl;   /* a plain client inside nginx keeps libcurl even where cosockets exist */
  long long max_response_bytes;
  int max_attempts;                       /* 1: no retries */
  double retry_base_delay, retry_max_delay;
  double rate_limit, rate_burst;          /* requests per second; 0: no pacing */
  double max_pacing_wait;                 /* seconds: a longer pacing wait fails the call */
} lp_config;

/* runtime names the Lua in the user agent. Reads the table at idx (or nil: everything from the environment). Checks
 * every option before allocating; on success the strings in cfg are owned
 * by cfg. 0 ok, -1 err set (kind "config"). */
int lp_config_read(lua_State *L, int idx, const char *runtime, lp_config *cfg, lp_error *err);
void lp_config_free(lp_config *cfg);
/* The rule config applies to the option `name` (access_key_id,
 * access_key_secret or security_token), for keys a provider fetched.
 * 0 ok, -1 err set. */
int lp_config_check_credential(const char *name, const char *s, size_t len, lp_error *err);

/* core.options(): the declared options with type, default, env and choices. */
int lp_config_options(lua_State *L);

/* Adds what errors must not show: the security token and the proxy's user
 * name and password. The spans point into cfg. */
void lp_config_secrets(const lp_config *cfg, lp_secrets *out);

#endif
