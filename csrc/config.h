/* Client configuration: the option table, reading it from a Lua table and
 * the ALIBABA_CLOUD_* environment, and the endpoint rules. */
#ifndef LIVEPULL_CONFIG_H
#define LIVEPULL_CONFIG_H

#include "error.h"
#include "rate_store_url.h"
#include "redact.h"
#include "sign.h"

/* Hosts and ports, one grammar for the endpoint, the proxy and the rate
 * store (rate_store_url.c). */
typedef enum { LP_HOST_NAME, LP_HOST_IPV4, LP_HOST_IPV6 } lp_host_kind;

typedef struct lp_authority {
  const char *host;   /* IPv6 with its brackets */
  size_t host_len;
  lp_host_kind kind;
  int port;           /* 0: none given */
} lp_authority;

/* host[:port] in a[0..n): NULL, or the broken rule (never quoting a): a DNS
 * name, a plain IPv4 address or a bracketed IPv6 one; a port 1-65535. */
const char *lp_parse_host_port(const char *a, size_t n, lp_authority *out);
/* RFC 3986 user info: unreserved, sub-delims, ':' and %XX escapes. */
int lp_userinfo_ok(const char *s, size_t n);

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
  /* The shared bucket (rate_store.c): rate_store as given (NULL: local
   * pacing) and parsed; rate_key NULL: the AccessKeyId at each call. */
  char *rate_store, *rate_key, *rate_key_prefix;
  lp_store_url store;
  double rate_store_timeout;              /* seconds for a whole reservation */
  double rate_store_fallback;             /* requests/s alone while Redis is away; 0: fail instead */
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

/* Adds what errors must not show: the security token, the proxy's and the
 * rate store's user names and passwords. The spans point into cfg. */
void lp_config_secrets(const lp_config *cfg, lp_secrets *out);

#endif
