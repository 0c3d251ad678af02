/* Client configuration: the one table of options, read from a Lua table
 * and the ALIBABA_CLOUD_* environment, with the endpoint and proxy rules. */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "args.h"
#include "encode.h"
#include "version.h"

#define LP_DEFAULT_HOST "live.aliyuncs.com"
#define FAIL(code, field, ...) (lp_error_set(err, "config", code, field, __VA_ARGS__), -1)

typedef enum {
  OPT_CREDENTIAL,   /* printable ASCII without spaces */
  OPT_TEXT,         /* a path, URL or name: UTF-8 without control characters */
  OPT_ENDPOINT, OPT_REGION_ID, OPT_ALGORITHM, OPT_NUMBER, OPT_BOOL,
  OPT_FUNCTION,     /* a Lua function: checked here, kept by the client (client.c) */
  OPT_KEY_NAME,     /* part of a Redis key: printable ASCII without spaces or braces */
  OPT_NUMBER_OR_FALSE,
  
  OPT_KIND_COUNT
} opt_kind;

typedef struct option {
  const char *name;   /* first: lp_suggest walks the names with a stride */
  opt_kind kind;
  size_t max_len;
  const char *env;
} option;

/* The value an option holds before it is copied: a Lua or environment
 * string, or a number. */
typedef struct staged {
  const char *s;
  size_t len;
  double num;
  int given;
  int is_false;   /* OPT_NUMBER_OR_FALSE given as false */
} staged;

enum {
  O_KEY_ID, O_SECRET, O_TOKEN, O_ENDPOINT, O_REGION_ID, O_ALGORITHM, O_CONNECT_TIMEOUT,
  O_TIMEOUT, O_CA_FILE, O_CA_PATH, O_PROXY, O_USER_AGENT, O_INSECURE, O_MAX_RESPONSE,
  O_MAX_ATTEMPTS, O_RETRY_BASE, O_RETRY_MAX, O_RATE_LIMIT, O_RATE_BURST, O_MAX_PACING_WAIT,
  O_ON_ATTEMPT, O_SHARED_DICT, O_FORCE_LIBCURL, O_RATE_STORE, O_RATE_KEY, O_RATE_KEY_PREFIX,
  O_RATE_STORE_TIMEOUT, O_RATE_STORE_FALLBACK, O_COUNT
};

static const option options[O_COUNT + 1] = {
  [O_KEY_ID] = {"access_key_id", OPT_CREDENTIAL, 256, "ALIBABA_CLOUD_ACCESS_KEY_ID"},
  [O_SECRET] = {"access_key_secret", OPT_CREDENTIAL, 256, "ALIBABA_CLOUD_ACCESS_KEY_SECRET"},
  [O_TOKEN] = {"security_token", OPT_CREDENTIAL, 16384, "ALIBABA_CLOUD_SECURITY_TOKEN"},
  [O_ENDPOINT] = {"endpoint", OPT_ENDPOINT, 1024, NULL},
  [O_REGION_ID] = {"region_id", OPT_REGION_ID, 64, NULL},
  [O_ALGORITHM] = {"signature_algorithm", OPT_ALGORITHM, 0, NULL},
  [O_CONNECT_TIMEOUT] = {"connect_timeout", OPT_NUMBER, 0, NULL},
  [O_TIMEOUT] = {"timeout", OPT_NUMBER, 0, NULL},
  [O_CA_FILE] = {"ca_file", OPT_TEXT, 4096, NULL},
  [O_CA_PATH] = {"ca_path", OPT_TEXT, 4096, NULL},
  [O_PROXY] = {"proxy", OPT_TEXT, 4096, NULL},
  [O_USER_AGENT] = {"user_agent", OPT_TEXT, 256, NULL},
  [O_INSECURE] = {"allow_insecure_http", OPT_BOOL, 0, NULL},
  [O_MAX_RESPONSE] = {"max_response_bytes", OPT_NUMBER, 0, NULL},
  [O_MAX_ATTEMPTS] = {"max_attempts", OPT_NUMBER, 0, NULL},
  [O_RETRY_BASE] = {"retry_base_delay", OPT_NUMBER, 0, NULL},
  [O_RETRY_MAX] = {"retry_max_delay", OPT_NUMBER, 0, NULL},
  [O_RATE_LIMIT] = {"rate_limit", OPT_NUMBER, 0, NULL},
  [O_RATE_BURST] = {"rate_burst", OPT_NUMBER, 0, NULL},
  [O_MAX_PACING_WAIT] = {"max_pacing_wait", OPT_NUMBER, 0, NULL},
  [O_ON_ATTEMPT] = {"on_attempt", OPT_FUNCTION, 0, NULL},
  [O_SHARED_DICT] = {"shared_dict", OPT_TEXT, 256, NULL},
  [O_FORCE_LIBCURL] = {"force_libcurl", OPT_BOOL, 0, NULL},
  [O_RATE_STORE] = {"rate_store", OPT_TEXT, 4096, NULL},
  [O_RATE_KEY] = {"rate_key", OPT_KEY_NAME, 128, NULL},
  [O_RATE_KEY_PREFIX] = {"rate_key_prefix", OPT_KEY_NAME, 64, NULL},
  [O_RATE_STORE_TIMEOUT] = {"rate_store_timeout", OPT_NUMBER, 0, NULL},
  [O_RATE_STORE_FALLBACK] = {"rate_store_fallback", OPT_NUMBER_OR_FALSE, 0, NULL},
  [O_COUNT] = {NULL, 0, 0, NULL},
};

static const char *const algorithm_names[] = {"ACS3-HMAC-SHA256", "HMAC-SHA1", NULL};

/* The text options with a default. */
static const struct { int option; const char *value; } text_defaults[] = {
  {O_RATE_KEY_PREFIX, "livepull"},
};

static const char *text_default(int o) {
  for (size_t i = 0; i < sizeof text_defaults / sizeof text_defaults[0]; i++)
    if (text_defaults[i].option == o) return text_defaults[i].value;
  return NULL;
}

/* The options that only mean something with rate_store. */
static const int store_options[] = {O_RATE_KEY, O_RATE_KEY_PREFIX, O_RATE_STORE_TIMEOUT, O_RATE_STORE_FALLBACK};

/* The options lua/livepull/credentials reads (where the keys come from): C
 * only accepts them and notes that one is given, so they are not rows above. */
static const char *const provider_options[] = {"credentials", "profile", NULL};

static const option *find_option(const char *name, size_t len) {
  for (const option *o = options; o->name; o++)
    if (strlen(o->name) == len && memcmp(o->name, name, len) == 0) return o;
  return NULL;
}

static int check_keys(lua_State *L, int idx, lp_error *err) {
  lp_key_names names = {&options[0].name, sizeof(option), provider_options};
  lp_unknown_key k;
  if (!lp_find_unknown_key(L, idx, &names, &k)) return 0;
  if (k.type) return FAIL("UnknownOption", "config", "option names must be strings; found a %s key", k.type);
  if (k.hint) return FAIL("UnknownOption", k.shown, "\"%s\" is not an option; did you mean \"%s\"?", k.shown, k.hint);
  return FAIL("UnknownOption", k.shown, "\"%s\" is not an option of livepull.new", k.shown);
}

/* Hosts and ports (config.h): one grammar for the endpoint, the proxy and
 * the rate store. */
typedef lp_host_kind host_kind;
typedef lp_authority authority;

/* A number as inet_aton reads one (decimal, 0-octal or 0x-hex): a host
 * made of such labels is an address to libcurl and the resolver, however
 * odd its spelling, so it must be spelled the one plain way. */
static int numeric_label(const char *s, size_t n) {
  int hex = n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');   /* "0x" alone is 0 too */
  size_t i = hex ? 2 : 0;
  if (n == 0) return 0;
  for (; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= '0' && c <= '9') || (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))))) return 0;
  }
  return 1;
}

/* Four decimal octets 0-255 without leading zeros (which some parsers read as octal). */
static int plain_ipv4(const char *s, size_t n) {
  int octets = 0;
  size_t i = 0;
  while (octets < 4) {
    size_t start = i;
    long v = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3) v = v * 10 + (s[i++] - '0');
    if (i == start || v > 255 || (s[start] == '0' && i - start > 1)) return 0;
    octets++;
    if (octets < 4 && (i >= n || s[i++] != '.')) return 0;
  }
  return i == n;
}

/* A DNS name (labels of 1-63 letters, digits and inner '-', 253 bytes in
 * all, no trailing dot) or a plain IPv4 address. NULL, or the broken rule. */
static const char *check_name(const char *s, size_t n, host_kind *kind) {
  if (n == 0) return "has no host";
  if (n > 253) return "host is longer than 253 bytes";
  size_t start = 0, last = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && s[i] != '.') {
      unsigned char c = (unsigned char)s[i];
      if (!(lp_is_alnum(c) || c == '-')) return "host may hold only letters, digits, '.' and '-'";
      continue;
    }
    size_t len = i - start;
    if (len == 0) return "host has an empty label (check for a doubled or trailing '.')";
    if (len > 63) return "host has a label longer than 63 bytes";
    if (s[start] == '-' || s[i - 1] == '-') return "host has a label that starts or ends with '-'";
    last = start;
    start = i + 1;
  }
  *kind = LP_HOST_NAME;
  if (numeric_label(s + last, n - last)) {
    if (!plain_ipv4(s, n))
      return "host looks like an IPv4 address: write it as four decimal numbers 0-255 without leading zeros";
    *kind = LP_HOST_IPV4;
  }
  return NULL;
}

const char *lp_parse_host_port(const char *a, size_t n, authority *out) {
  size_t hlen;
  const char *rule;
  out->host = a;
  out->port = 0;
  if (n > 0 && a[0] == '[') {
    const char *close = memchr(a, ']', n);
    if (!close) return "has an unclosed IPv6 bracket";
    hlen = (size_t)(close - a) + 1;
    char text[INET6_ADDRSTRLEN + 1];
    unsigned char bin[16];
    if (hlen - 2 == 0 || hlen - 2 >= sizeof text) return "has an invalid IPv6 address";
    memcpy(text, a + 1, hlen - 2);
    text[hlen - 2] = '\0';
    if (inet_pton(AF_INET6, text, bin) != 1) return "has an invalid IPv6 address";
    if (hlen < n && a[hlen] != ':') return "has junk after the IPv6 address";
    out->kind = LP_HOST_IPV6;
  } else {
    const char *colon = memchr(a, ':', n);
    hlen = colon ? (size_t)(colon - a) : n;
    if ((rule = check_name(a, hlen, &out->kind)) != NULL) return rule;
  }
  out->host_len = hlen;
  if (hlen < n) {   /* ":port": 1-65535, decimal, no leading zero */
    const char *p = a + hlen + 1;
    size_t digits = n - hlen - 1;
    long port = 0;
    for (size_t i = 0; i < digits && port <= 65535; i++) {
      if (p[i] < '0' || p[i] > '9') { port = -1; break; }
      port = port * 10 + (p[i] - '0');
    }
    if (digits == 0 || p[0] == '0' || port < 1 || port > 65535)
      return "port must be a number from 1 to 65535 without leading zeros";
    out->port = (int)port;
  }
  return NULL;
}

/* Loopback, where plain http is allowed: an IPv4 address in 127.0.0.0/8
 * (plain spelling, checked above), [::1] and localhost, written exactly so. */
static int is_loopback(const authority *h) {
  if (h->kind == LP_HOST_IPV4) return h->host_len > 4 && memcmp(h->host, "127.", 4) == 0;
  if (h->kind == LP_HOST_IPV6) return h->host_len == 5 && memcmp(h->host, "[::1]", 5) == 0;
  return h->host_len == 9 && memcmp(h->host, "localhost", 9) == 0;
}

/* "host", "host:port", "http(s)://host[:port][/]" -> scheme and authority. */
static int parse_endpoint(const char *s, size_t n, int allow_insecure, const char **scheme,
                          const char **auth, size_t *auth_len, size_t *host_len, lp_error *err) {
  const char *p = s, *end = s + n;
  *scheme = "https";
  const char *sep = strstr(s, "://");
  if (sep) {
    size_t k = (size_t)(sep - s);
    if (k == 5 && strncasecmp(s, "https", 5) == 0) *scheme = "https";
    else if (k == 4 && strncasecmp(s, "http", 4) == 0) *scheme = "http";
    else return FAIL("InvalidConfig", "endpoint", "endpoint must use https:// (or http:// on loopback)");
    p = sep + 3;
  }
  const char *a = p;
  while (p < end && *p != '/') p++;
  if (p < end && !(p + 1 == end))
    return FAIL("InvalidConfig", "endpoint", "endpoint must be a host or a URL without a path, query or fragment");
  size_t alen = (size_t)(p - a);
  if (memchr(a, '@', alen))
    return FAIL("InvalidConfig", "endpoint", "endpoint must not carry user info (name@host)");
  authority host;
  const char *rule = lp_parse_host_port(a, alen, &host);
  if (rule) return FAIL("InvalidConfig", "endpoint", "endpoint %s", rule);
  if (strcmp(*scheme, "http") == 0 && !allow_insecure && !is_loopback(&host))
    return FAIL("InvalidConfig", "endpoint",
                "http:// is allowed only for loopback hosts (127.0.0.0/8 as four decimal numbers, [::1], "
                "localhost); use https:// (or allow_insecure_http = true)");
  *auth = a;
  *auth_len = alen;
  *host_len = host.host_len;
  return 0;
}

/* A proxy URL cut into its parts (not yet checked). */
typedef struct proxy_parts {
  size_t scheme_len;        /* before "://"; 0 when there is none */
  const char *auth, *rest;  /* authority, and what follows it ('/...') */
  size_t auth_len, rest_len;
  const char *user, *password;   /* user info, NULL when none */
  size_t user_len, password_len;
  int ats;                  /* '@' in the authority */
} proxy_parts;

static void split_proxy(const char *s, size_t n, proxy_parts *o) {
  memset(o, 0, sizeof *o);
  const char *sep = strstr(s, "://");
  if (!sep) return;
  o->scheme_len = (size_t)(sep - s);
  o->auth = sep + 3;
  const char *end = s + n, *slash = memchr(o->auth, '/', (size_t)(end - o->auth));
  o->auth_len = (size_t)((slash ? slash : end) - o->auth);
  o->rest = o->auth + o->auth_len;
  o->rest_len = (size_t)(end - o->rest);
  const char *at = NULL;
  for (size_t i = 0; i < o->auth_len; i++)
    if (o->auth[i] == '@') { if (!at) at = o->auth + i; o->ats++; }
  if (!at) return;
  o->user = o->auth;
  const char *colon = memchr(o->user, ':', (size_t)(at - o->user));
  o->user_len = (size_t)((colon ? colon : at) - o->user);
  if (colon) {
    o->password = colon + 1;
    o->password_len = (size_t)(at - o->password);
  }
}

int lp_userinfo_ok(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%') {
      if (i + 2 >= n || lp_hex_value((unsigned char)s[i + 1]) < 0 ||
          lp_hex_value((unsigned char)s[i + 2]) < 0)
        return 0;
      i += 2;
    } else if (!(lp_is_unreserved(c) || strchr("!$&'()*+,;=:", c))) {
      return 0;
    }
  }
  return 1;
}

/* The proxy URL, checked here so a typo is a config error and not a
 * retried connect failure. Messages state the rule, never the URL: it may
 * hold a password. */
static int check_proxy(const char *s, size_t n, lp_error *err) {
  static const char *const schemes[] = {"http", "https", "socks4", "socks4a", "socks5", "socks5h", NULL};
  proxy_parts p;
  split_proxy(s, n, &p);
  int known = 0;
  for (int i = 0; schemes[i] && p.scheme_len; i++)
    known |= strlen(schemes[i]) == p.scheme_len && strncasecmp(s, schemes[i], p.scheme_len) == 0;
  if (!known)
    return FAIL("InvalidConfig", "proxy",
                "proxy must be a URL starting with http://, https://, socks4://, socks4a://, socks5:// or socks5h://");
  if (p.rest_len > 1)
    return FAIL("InvalidConfig", "proxy", "proxy must be scheme://[user:password@]host[:port] without a path");
  if (p.ats > 1)
    return FAIL("InvalidConfig", "proxy", "proxy user info must not hold a raw '@': percent-encode it as %%40");
  const char *host = p.auth;
  size_t host_len = p.auth_len;
  if (p.user) {
    size_t info_len = p.user_len + (p.password ? p.password_len + 1 : 0);
    if (!lp_userinfo_ok(p.user, info_len))
      return FAIL("InvalidConfig", "proxy",
                  "proxy user info may hold only letters, digits, -._~!$&'()*+,;=: and %%XX escapes "
                  "(percent-encode anything else, a space as %%20)");
    host += info_len + 1;
    host_len -= info_len + 1;
  }
  authority a;
  const char *rule = lp_parse_host_port(host, host_len, &a);
  if (rule) return FAIL("InvalidConfig", "proxy", "proxy %s", rule);
  return 0;
}

/* proxy = "env": the proxy the environment names for the endpoint's
 * scheme, read as curl reads it (https_proxy or HTTPS_PROXY for https;
 * http_proxy, lowercase only, for http; then all_proxy or ALL_PROXY; no
 * scheme means http://), checked like the option, and no_proxy or
 * NO_PROXY for libcurl to match the host against. Read once, at new. */
static int proxy_from_environment(const char *scheme, staged *proxy, char *buf, size_t size,
                                  staged *no_proxy, lp_error *err) {
  static const char *const for_https[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", NULL};
  static const char *const for_http[] = {"http_proxy", "all_proxy", "ALL_PROXY", NULL};
  const char *const *names = strcmp(scheme, "https") == 0 ? for_https : for_http;
  const char *name = NULL, *value = NULL;
  for (int i = 0; names[i] && !value; i++) {
    const char *s = getenv(names[i]);
    if (s && s[0]) { name = names[i]; value = s; }
  }
  proxy->s = NULL;
  proxy->len = 0;
  if (!value) return 0;   /* the environment names none: no proxy */
  if (strlen(value) > 4096)
    return FAIL("InvalidConfig", "proxy", "proxy = \"env\": the environment's %s is longer than 4096 bytes", name);
  snprintf(buf, size, "%s%s", strstr(value, "://") ? "" : "http://", value);
  if (check_proxy(buf, strlen(buf), err) != 0) {
    char why[sizeof err->message];
    snprintf(why, sizeof why, "%s", err->message);
    snprintf(err->message, sizeof err->message, "proxy = \"env\": the environment's %s is not usable: %.380s",
             name, why);
    return -1;
  }
  proxy->s = buf;
  proxy->len = strlen(buf);
  const char *np = getenv("no_proxy");
  if (!np || !np[0]) np = getenv("NO_PROXY");
  if (!np || !np[0]) return 0;
  size_t n = strlen(np);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)np[i] < 0x20 || (unsigned char)np[i] > 0x7E || n > 4096)
      return FAIL("InvalidConfig", "proxy",
                  "proxy = \"env\": NO_PROXY must be at most 4096 bytes of printable ASCII");
  no_proxy->s = np;
  no_proxy->len = n;
  return 0;
}

void lp_config_secrets(const lp_config *cfg, lp_secrets *out) {
  if (cfg->security_token) lp_secrets_add(out, cfg->security_token, strlen(cfg->security_token));
  lp_store_url_secrets(cfg->rate_store, out);
  if (!cfg->proxy) return;
  proxy_parts p;
  split_proxy(cfg->proxy, strlen(cfg->proxy), &p);
  lp_secrets_add(out, p.user, p.user_len);
  lp_secrets_add(out, p.password, p.password_len);
}

/* The byte rules of a text option (length, UTF-8, no control characters;
 * credentials printable ASCII without spaces, never empty). */
static int check_text(const option *o, const char *s, size_t len, lp_error *err) {
  if (o->max_len && len > o->max_len)
    return FAIL("InvalidConfig", o->name, "%s must be at most %zu bytes long", o->name, o->max_len);
  size_t chars;
  if (!lp_utf8_check(s, len, &chars))
    return FAIL("InvalidConfig", o->name, "%s must be valid UTF-8 without NUL bytes", o->name);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (o->kind == OPT_CREDENTIAL && (c <= 0x20 || c >= 0x7F))
      return FAIL("InvalidConfig", o->name,
                  "%s must be printable ASCII without spaces (check for a stray newline or quote)", o->name);
    if (o->kind == OPT_KEY_NAME && (c <= 0x20 || c >= 0x7F || c == '{' || c == '}'))
      return FAIL("InvalidConfig", o->name,
                  "%s must be printable ASCII without spaces or braces (the key's {...} is its Redis Cluster "
                  "hash tag)", o->name);
    if (c < 0x20 || c == 0x7F)
      return FAIL("InvalidConfig", o->name, "%s must not contain control characters", o->name);
  }
  if (len == 0 && o->kind != OPT_TEXT)
    return FAIL("InvalidConfig", o->name, "%s must not be empty", o->name);
  return 0;
}

int lp_config_check_credential(const char *name, const char *s, size_t len, lp_error *err) {
  const option *o = find_option(name, strlen(name));
  if (!o || o->kind != OPT_CREDENTIAL) return FAIL("InvalidConfig", name, "%s is not a credential", name);
  return check_text(o, s, len, err);
}

static int stage(lua_State *L, int idx, const option *o, staged *v, lp_error *err) {
  memset(v, 0, sizeof *v);
  if (idx) {
    lua_getfield(L, idx, o->name);   /* a plain table: checked by the caller */
    int t = lua_type(L, -1);
    if (t == LUA_TNIL) {
      lua_pop(L, 1);
    } else if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1) && o->env && o->kind != OPT_BOOL &&
               strcmp(o->name, "security_token") == 0) {
      lua_pop(L, 1);   /* security_token = false: no token, and the environment's is not read */
      return 0;
    } else if (o->kind == OPT_BOOL) {
      if (t != LUA_TBOOLEAN) { lua_pop(L, 1); return FAIL("InvalidConfig", o->name, "%s must be a boolean", o->name); }
      v->num = lua_toboolean(L, -1);
      v->given = 1;
      lua_pop(L, 1);
      return 0;
    } else if (o->kind == OPT_FUNCTION) {
      lua_pop(L, 1);
      if (t != LUA_TFUNCTION) return FAIL("InvalidConfig", o->name, "%s must be a function", o->name);
      return 0;
    } else if (o->kind == OPT_NUMBER_OR_FALSE && t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
      v->given = v->is_false = 1;
      lua_pop(L, 1);
      return 0;
    } else if (o->kind == OPT_NUMBER || o->kind == OPT_NUMBER_OR_FALSE) {
      if (t != LUA_TNUMBER) {
        lua_pop(L, 1);
        return FAIL("InvalidConfig", o->name, "%s must be a number%s", o->name,
                    o->kind == OPT_NUMBER_OR_FALSE ? " or false" : "");
      }
      v->num = lua_tonumber(L, -1);
      v->given = 1;
      lua_pop(L, 1);
      return 0;
    } else {
      if (t != LUA_TSTRING) { lua_pop(L, 1); return FAIL("InvalidConfig", o->name, "%s must be a string", o->name); }
      v->s = lua_tolstring(L, -1, &v->len);   /* stays alive in the config table */
      v->given = 1;
      lua_pop(L, 1);
    }
  }
  if (!v->given && o->env) {
    v->s = getenv(o->env);
    if (v->s && v->s[0]) { v->len = strlen(v->s); v->given = 1; }
    else v->s = NULL;
  }
  if (!v->given || !v->s) return 0;
  return check_text(o, v->s, v->len, err);
}

static char *dup_n(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p) { memcpy(p, s, n); p[n] = '\0'; }
  return p;
}

void lp_config_free(lp_config *cfg) {
  char **strings[] = {&cfg->access_key_id, &cfg->access_key_secret, &cfg->security_token,
                      &cfg->base_url, &cfg->authority, &cfg->host, &cfg->region_id, &cfg->ca_file,
                      &cfg->ca_path, &cfg->proxy, &cfg->no_proxy, &cfg->user_agent,
                      &cfg->shared_dict, &cfg->rate_store, &cfg->rate_key, &cfg->rate_key_prefix};
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
    if (*strings[i]) OPENSSL_cleanse(*strings[i], strlen(*strings[i]));   /* secrets die with the client */
    free(*strings[i]);
    *strings[i] = NULL;
  }
  lp_store_url_free(&cfg->store);
}

/* The numeric options: default, range and whether it must be whole;
 * min_nonzero > 0: the value is 0 or at least that (a rate of 1e-300 would
 * mean a wait beyond any clock). */
static const struct {
  int option;
  double fallback, min, max;
  int min_exclusive, whole;
  const char *rule;
  double min_nonzero;
} numbers[] = {
  {O_CONNECT_TIMEOUT, 5, 0, 86400, 1, 0, "a number of seconds above 0 and at most 86400", 0},
  {O_TIMEOUT, 10, 0, 86400, 1, 0, "a number of seconds above 0 and at most 86400", 0},
  {O_MAX_RESPONSE, 1048576, 1024, 1073741824.0, 0, 1, "a whole number from 1024 to 1073741824", 0},
  {O_MAX_ATTEMPTS, 3, 1, 10, 0, 1, "a whole number from 1 (no retries) to 10", 0},
  {O_RETRY_BASE, 0.1, 0, 60, 0, 0, "a number of seconds from 0 to 60", 0},
  {O_RETRY_MAX, 20, 0, 3600, 0, 0, "a number of seconds from 0 to 3600", 0},
  {O_RATE_LIMIT, 10, 0, 1e6, 0, 0,
   "0 (no pacing) or a number of requests per second from 0.01 to 1000000", 0.01},
  {O_RATE_BURST, 10, 1, 1e6, 0, 0, "a number of requests from 1 to 1000000", 0},
  {O_MAX_PACING_WAIT, 60, 0, 86400, 0, 0, "a number of seconds from 0 to 86400", 0},
  {O_RATE_STORE_TIMEOUT, 0.25, 0, 60, 1, 0, "a number of seconds above 0 and at most 60", 0},
  {O_RATE_STORE_FALLBACK, 1, 0.01, 1e6, 0, 0,
   "a number of requests per second from 0.01 to 1000000, or false (fail the call instead)", 0},
};

static int check_numbers(const staged *v, double *out, lp_error *err) {
  for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
    int o = numbers[i].option;
    if (v[o].is_false) { out[o] = 0; continue; }   /* rate_store_fallback = false */
    double x = v[o].given ? v[o].num : numbers[i].fallback;
    int below = numbers[i].min_exclusive ? !(x > numbers[i].min) : !(x >= numbers[i].min);
    int too_small = numbers[i].min_nonzero > 0 && x != 0 && !(x >= numbers[i].min_nonzero);
    if (below || too_small || !(x <= numbers[i].max) || (numbers[i].whole && x != floor(x)))
      return FAIL("InvalidConfig", options[o].name, "%s must be %s", options[o].name, numbers[i].rule);
    out[o] = x;
  }
  return 0;
}

/* credentials or profile with access_key_* in the same table: which wins
 * would be a guess, so neither does. */
static int conflicting_keys(lua_State *L, int idx, lp_error *err) {
  static const char *const keys[] = {"access_key_id", "access_key_secret", "security_token"};
  for (size_t i = 0; idx && i < sizeof keys / sizeof keys[0]; i++) {
    lua_getfield(L, idx, keys[i]);
    int given = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (given)
      return FAIL("InvalidConfig", keys[i], "%s cannot be given with credentials or profile: "
                  "give one way to get the keys", keys[i]);
  }
  return 0;
}

int lp_config_read(lua_State *L, int idx, const char *runtime, lp_config *cfg, lp_error *err) {
  staged v[O_COUNT];
  if (!lua_isnoneornil(L, idx)) {
    if (lua_type(L, idx) != LUA_TTABLE)
      return FAIL("InvalidConfig", "config", "the configuration must be a table (got %s)", lp_type_name(L, idx));
    if (!lp_is_plain_table(L, idx))
      return FAIL("InvalidConfig", "config", "the configuration must be a plain table without a metatable");
    if (check_keys(L, idx, err) != 0) return -1;
  } else {
    idx = 0;
  }
  for (int i = 0; i < O_COUNT; i++)
    if (stage(L, idx, &options[i], &v[i], err) != 0) return -1;

  /* credentials/profile: the keys come later, from a provider (core.set_credentials). */
  int deferred = 0;
  for (int i = 0; idx && provider_options[i]; i++) {
    lua_getfield(L, idx, provider_options[i]);
    deferred |= !lua_isnil(L, -1);
    lua_pop(L, 1);
  }
  if (deferred && conflicting_keys(L, idx, err) != 0) return -1;
  if (!deferred && (!v[O_KEY_ID].given || !v[O_SECRET].given))
    return FAIL("MissingCredentials", v[O_KEY_ID].given ? "access_key_secret" : "access_key_id",
                "no credentials: set access_key_id and access_key_secret, or the environment "
                "variables ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET");

  const char *scheme = "https", *auth = LP_DEFAULT_HOST;
  size_t auth_len = strlen(auth), host_len = auth_len;
  int insecure = v[O_INSECURE].given && v[O_INSECURE].num != 0;
  if (v[O_ENDPOINT].given &&
      parse_endpoint(v[O_ENDPOINT].s, v[O_ENDPOINT].len, insecure, &scheme, &auth, &auth_len, &host_len, err) != 0)
    return -1;

  char env_proxy[4096 + 8];
  staged no_proxy = {NULL, 0, 0, 0, 0};
  if (v[O_PROXY].len == 0) v[O_PROXY].s = NULL;   /* proxy = "": none, as when unset */
  if (v[O_PROXY].s && v[O_PROXY].len == 3 && memcmp(v[O_PROXY].s, "env", 3) == 0 &&
      proxy_from_environment(scheme, &v[O_PROXY], env_proxy, sizeof env_proxy, &no_proxy, err) != 0)
    return -1;
  if (v[O_PROXY].s && check_proxy(v[O_PROXY].s, v[O_PROXY].len, err) != 0) return -1;
  if (v[O_REGION_ID].given) {
    for (size_t i = 0; i < v[O_REGION_ID].len; i++) {
      unsigned char c = (unsigned char)v[O_REGION_ID].s[i];
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
        return FAIL("InvalidConfig", "region_id", "region_id must be a region ID such as cn-shanghai");
    }
  }
  lp_algorithm algorithm = LP_ALG_ACS3_HMAC_SHA256;
  if (v[O_ALGORITHM].given) {
    int found = 0;
    for (int i = 0; algorithm_names[i]; i++)
      if (strcmp(v[O_ALGORITHM].s, algorithm_names[i]) == 0) { algorithm = (lp_algorithm)i; found = 1; }
    if (!found)
      return FAIL("InvalidConfig", "signature_algorithm",
                  "signature_algorithm must be \"ACS3-HMAC-SHA256\" or \"HMAC-SHA1\"");
  }
  double num[O_COUNT];
  if (check_numbers(v, num, err) != 0) return -1;
  if (v[O_RATE_STORE].len == 0) v[O_RATE_STORE].s = NULL;   /* rate_store = "": local pacing, as when unset */
  for (size_t i = 0; !v[O_RATE_STORE].s && i < sizeof store_options / sizeof store_options[0]; i++)
    if (v[store_options[i]].given)
      return FAIL("InvalidConfig", options[store_options[i]].name, "%s is used only with rate_store",
                  options[store_options[i]].name);
  if (v[O_RATE_STORE].s && num[O_RATE_LIMIT] == 0)
    return FAIL("InvalidConfig", "rate_store", "rate_store shares a rate: rate_limit must not be 0");
  /* The last check, as it allocates: freed below if a copy fails. */
  if (v[O_RATE_STORE].s && lp_store_url_parse(v[O_RATE_STORE].s, v[O_RATE_STORE].len, &cfg->store, err) != 0)
    return -1;
  const char *prefix = v[O_RATE_KEY_PREFIX].given ? v[O_RATE_KEY_PREFIX].s : text_default(O_RATE_KEY_PREFIX);

  /* Everything is checked: now copy what the client keeps. */
  char ua[512];
  const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
  snprintf(ua, sizeof ua, "livepull/%s (%s; libcurl/%s)%s%.*s", LP_VERSION, runtime,
           cv && cv->version ? cv->version : "?", v[O_USER_AGENT].given ? " " : "",
           (int)v[O_USER_AGENT].len, v[O_USER_AGENT].s ? v[O_USER_AGENT].s : "");
  char base[1100];
  snprintf(base, sizeof base, "%s://%.*s", scheme, (int)auth_len, auth);

  struct { char **dst; const char *src; size_t len; } copies[] = {
    {&cfg->access_key_id, deferred ? NULL : v[O_KEY_ID].s, v[O_KEY_ID].len},
    {&cfg->access_key_secret, deferred ? NULL : v[O_SECRET].s, v[O_SECRET].len},
    {&cfg->security_token, deferred ? NULL : v[O_TOKEN].s, v[O_TOKEN].len},
    {&cfg->region_id, v[O_REGION_ID].s, v[O_REGION_ID].len},
    {&cfg->ca_file, v[O_CA_FILE].s, v[O_CA_FILE].len},
    {&cfg->ca_path, v[O_CA_PATH].s, v[O_CA_PATH].len},
    {&cfg->proxy, v[O_PROXY].s, v[O_PROXY].len},
    {&cfg->no_proxy, no_proxy.s, no_proxy.len},
    {&cfg->shared_dict, v[O_SHARED_DICT].s, v[O_SHARED_DICT].len},
    {&cfg->rate_store, v[O_RATE_STORE].s, v[O_RATE_STORE].len},
    {&cfg->rate_key, v[O_RATE_KEY].s, v[O_RATE_KEY].len},
    {&cfg->rate_key_prefix, v[O_RATE_STORE].s ? prefix : NULL, strlen(prefix)},
    {&cfg->user_agent, ua, strlen(ua)},
    {&cfg->base_url, base, strlen(base)},
    {&cfg->authority, auth, auth_len},
    {&cfg->host, auth, host_len},
  };
  for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++) {
    if (!copies[i].src) continue;
    *copies[i].dst = dup_n(copies[i].src, copies[i].len);
    if (!*copies[i].dst) { lp_config_free(cfg); return FAIL("OutOfMemory", NULL, "out of memory"); }
  }
  cfg->scheme = scheme;   /* a static string */
  cfg->port = host_len < auth_len ? atoi(auth + host_len + 1) : strcmp(scheme, "https") == 0 ? 443 : 80;
  cfg->algorithm = algorithm;
  cfg->connect_timeout = num[O_CONNECT_TIMEOUT];
  cfg->timeout = num[O_TIMEOUT];
  cfg->allow_insecure_http = insecure;
  cfg->force_libcurl = v[O_FORCE_LIBCURL].given && v[O_FORCE_LIBCURL].num != 0;
  cfg->max_response_bytes = (long long)num[O_MAX_RESPONSE];
  cfg->max_attempts = (int)num[O_MAX_ATTEMPTS];
  cfg->retry_base_delay = num[O_RETRY_BASE];
  cfg->retry_max_delay = num[O_RETRY_MAX];
  cfg->rate_limit = num[O_RATE_LIMIT];
  cfg->rate_burst = num[O_RATE_BURST];
  cfg->max_pacing_wait = num[O_MAX_PACING_WAIT];
  cfg->rate_store_timeout = num[O_RATE_STORE_TIMEOUT];
  cfg->rate_store_fallback = num[O_RATE_STORE_FALLBACK];
  return 0;
}

/* core.options(): { {name, type, default, env, rule, choices, read_by}... } from the
 * option table, for the docs spec, the man page and shell completion. */
int lp_config_options(lua_State *L) {
  static const char *const type_names[OPT_KIND_COUNT] = {
    [OPT_CREDENTIAL] = "string", [OPT_TEXT] = "string", [OPT_ENDPOINT] = "string",
    [OPT_REGION_ID] = "string", [OPT_ALGORITHM] = "string", [OPT_NUMBER] = "number",
    [OPT_BOOL] = "boolean", [OPT_FUNCTION] = "function", [OPT_KEY_NAME] = "string",
    [OPT_NUMBER_OR_FALSE] = "number or false",
  };
  lua_createtable(L, O_COUNT, 0);
  for (int i = 0; i < O_COUNT; i++) {
    const option *o = &options[i];
    lua_createtable(L, 0, 5);
    lua_pushstring(L, o->name);
    lua_setfield(L, -2, "name");
    if (!type_names[o->kind]) return luaL_error(L, "livepull: option kind %d has no type name", (int)o->kind);
    lua_pushstring(L, type_names[o->kind]);
    lua_setfield(L, -2, "type");
    if (o->env) { lua_pushstring(L, o->env); lua_setfield(L, -2, "env"); }
    if (o->kind == OPT_ALGORITHM) {
      lua_newtable(L);
      for (int k = 0; algorithm_names[k]; k++) {
        lua_pushstring(L, algorithm_names[k]);
        lua_rawseti(L, -2, k + 1);
      }
      lua_setfield(L, -2, "choices");
    }
    if (o->kind == OPT_ENDPOINT) lua_pushliteral(L, "https://" LP_DEFAULT_HOST);
    else if (o->kind == OPT_ALGORITHM) lua_pushstring(L, algorithm_names[0]);
    else if (o->kind == OPT_BOOL) lua_pushboolean(L, 0);
    else if (text_default(i)) lua_pushstring(L, text_default(i));
    else lua_pushnil(L);
    for (size_t k = 0; k < sizeof numbers / sizeof numbers[0]; k++) {
      if (numbers[k].option != i) continue;
      lua_pop(L, 1);
      lua_pushnumber(L, numbers[k].fallback);
      lua_pushstring(L, numbers[k].rule);
      lua_setfield(L, -3, "rule");
    }
    lua_setfield(L, -2, "default");
    lua_rawseti(L, -2, i + 1);
  }
  for (int i = 0; provider_options[i]; i++) {   /* accepted here, read by lua/livepull/credentials */
    lua_createtable(L, 0, 3);
    lua_pushstring(L, provider_options[i]);
    lua_setfield(L, -2, "name");
    lua_pushliteral(L, "any");
    lua_setfield(L, -2, "type");
    lua_pushliteral(L, "livepull.credentials");
    lua_setfield(L, -2, "read_by");
    lua_rawseti(L, -2, O_COUNT + i + 1);
  }
  return 1;
}
