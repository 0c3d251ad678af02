/* The rate_store URL: redis://[[user]:password@]host[:port][/db] or
 * unix://[[user]:password@]/path/to.sock[?db=N], checked whole at
 * livepull.new. Host and port follow config.c's rules (one grammar for every
 * host). Messages state the rule, never the URL: it may hold a password. */
#include "rate_store_url.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "config.h"
#include "encode.h"

#define FAIL(...) (lp_error_set(err, "config", "InvalidConfig", "rate_store", __VA_ARGS__), -1)
#define DB_MAX 2147483647L

/* The URL cut into spans (not yet checked). */
typedef struct url_parts {
  int unix_socket, tls, known;
  const char *info, *after;   /* user info ('@' excluded), and what follows it */
  size_t info_len, after_len;
  int ats;                    /* '@' before the first '/' (unix) or in the authority */
  const char *user, *password;
  size_t user_len, password_len;
  int has_colon;
} url_parts;

static void split(const char *s, size_t n, url_parts *o) {
  static const struct { const char *prefix; int unix_socket, tls; } schemes[] = {
    {"redis://", 0, 0}, {"unix://", 1, 0}, {"rediss://", 0, 1},
  };
  memset(o, 0, sizeof *o);
  const char *rest = NULL;
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
    size_t k = strlen(schemes[i].prefix);
    if (n >= k && strncasecmp(s, schemes[i].prefix, k) == 0) {
      o->known = 1;
      o->unix_socket = schemes[i].unix_socket;
      o->tls = schemes[i].tls;
      rest = s + k;
    }
  }
  if (!rest) return;
  const char *end = s + n, *slash = memchr(rest, '/', (size_t)(end - rest));
  const char *auth_end = slash ? slash : end;
  const char *at = NULL;
  for (const char *p = rest; p < auth_end; p++)
    if (*p == '@') { at = p; o->ats++; }   /* the last one: a raw '@' in a password is an error below */
  o->after = at ? at + 1 : rest;
  o->after_len = (size_t)(end - o->after);
  if (!at) return;
  o->info = rest;
  o->info_len = (size_t)(at - rest);
  const char *colon = memchr(rest, ':', o->info_len);
  o->has_colon = colon != NULL;
  o->user = rest;
  o->user_len = (size_t)((colon ? colon : at) - rest);
  if (colon) {
    o->password = colon + 1;
    o->password_len = (size_t)(at - o->password);
  }
}

void lp_store_url_secrets(const char *s, lp_secrets *out) {
  if (!s) return;
  url_parts p;
  split(s, strlen(s), &p);
  lp_secrets_add(out, p.user, p.user_len);
  lp_secrets_add(out, p.password, p.password_len);
}

/* %XX-decoded copy of s[0..n) (checked by lp_userinfo_ok); NULL when out of
 * memory or when it decodes to a NUL byte (*nul set). */
static char *decode(const char *s, size_t n, int *nul) {
  char *d = malloc(n + 1), *q = d;
  if (!d) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      *q = (char)(lp_hex_value((unsigned char)s[i + 1]) * 16 + lp_hex_value((unsigned char)s[i + 2]));
      i += 2;
    } else {
      *q = s[i];
    }
    if (*q++ == '\0') { *nul = 1; free(d); return NULL; }
  }
  *q = '\0';
  return d;
}

static char *dup_n(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p) { memcpy(p, s, n); p[n] = '\0'; }
  return p;
}

/* A database number: decimal, no leading zero, 0-DB_MAX; -1 when not. */
static long parse_db(const char *s, size_t n) {
  long v = 0;
  if (n == 0 || n > 10 || (s[0] == '0' && n > 1)) return -1;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v <= DB_MAX ? v : -1;
}

/* redis: host[:port][/db] in p->after. */
static int parse_tcp(const url_parts *p, lp_store_url *out, lp_error *err) {
  const char *a = p->after, *slash = memchr(a, '/', p->after_len);
  size_t alen = slash ? (size_t)(slash - a) : p->after_len;
  lp_authority host;
  const char *rule = lp_parse_host_port(a, alen, &host);
  if (rule) return FAIL("rate_store %s", rule);
  if (slash) {
    size_t dlen = p->after_len - alen - 1;
    if (dlen > 0 && (out->db = parse_db(slash + 1, dlen)) < 0)
      return FAIL("rate_store's /db must be a database number from 0 to 2147483647 (no query or fragment)");
  }
  int v6 = host.kind == LP_HOST_IPV6;   /* hiredis takes the address without brackets */
  out->host = dup_n(host.host + v6, host.host_len - 2 * (size_t)v6);
  out->port = host.port ? host.port : LP_REDIS_DEFAULT_PORT;
  return out->host ? 0 : (lp_error_set(err, "config", "OutOfMemory", NULL, "out of memory"), -1);
}

/* unix: /path[?db=N] in p->after. */
static int parse_unix(const url_parts *p, lp_store_url *out, lp_error *err) {
  const char *a = p->after, *q = memchr(a, '?', p->after_len);
  size_t plen = q ? (size_t)(q - a) : p->after_len;
  if (plen == 0 || a[0] != '/')
    return FAIL("rate_store unix:// must name an absolute socket path: unix:///run/redis/redis.sock");
  if (plen > LP_UNIX_PATH_MAX) return FAIL("rate_store's socket path must be at most %d bytes", LP_UNIX_PATH_MAX);
  for (size_t i = 0; i < plen; i++)
    if ((unsigned char)a[i] <= 0x20 || (unsigned char)a[i] >= 0x7F || a[i] == '#')
      return FAIL("rate_store's socket path must be printable ASCII without spaces or '#'");
  if (q) {
    size_t qlen = p->after_len - plen - 1;
    if (qlen < 3 || memcmp(q + 1, "db=", 3) != 0 || (out->db = parse_db(q + 4, qlen - 3)) < 0)
      return FAIL("rate_store's query may only be ?db=N, a database number from 0 to 2147483647");
  }
  out->path = dup_n(a, plen);
  return out->path ? 0 : (lp_error_set(err, "config", "OutOfMemory", NULL, "out of memory"), -1);
}

static int parse_userinfo(const url_parts *p, lp_store_url *out, lp_error *err) {
  if (p->ats > 1) return FAIL("rate_store's user info must not hold a raw '@': percent-encode it as %%40");
  if (!p->info) return 0;
  if (!p->has_colon || p->password_len == 0)
    return FAIL("rate_store's user info must be [user]:password (\":password@\" for a password alone)");
  if (!lp_userinfo_ok(p->info, p->info_len))
    return FAIL("rate_store's user info may hold only letters, digits, -._~!$&'()*+,;=: and %%XX escapes "
                "(percent-encode anything else)");
  int nul = 0;
  if (p->user_len && !(out->user = decode(p->user, p->user_len, &nul)) && !nul) goto oom;
  if (!nul && !(out->password = decode(p->password, p->password_len, &nul)) && !nul) goto oom;
  if (nul) return FAIL("rate_store's user and password must not decode to a NUL byte (%%00)");
  return 0;
oom:
  lp_error_set(err, "config", "OutOfMemory", NULL, "out of memory");
  return -1;
}

int lp_store_url_parse(const char *s, size_t n, lp_store_url *out, lp_error *err) {
  memset(out, 0, sizeof *out);
  url_parts p;
  split(s, n, &p);
  if (p.tls)
    return FAIL("rate_store: rediss:// (TLS) is not supported: Debian's hiredis has no TLS; reach Redis on "
                "loopback, a UNIX socket or through a TLS tunnel");
  if (!p.known)
    return FAIL("rate_store must be redis://[[user]:password@]host[:port][/db] or "
                "unix://[[user]:password@]/path/to.sock[?db=N]");
  out->unix_socket = p.unix_socket;
  int rc = parse_userinfo(&p, out, err);
  if (rc == 0) rc = p.unix_socket ? parse_unix(&p, out, err) : parse_tcp(&p, out, err);
  if (rc != 0) lp_store_url_free(out);
  return rc;
}

void lp_store_url_free(lp_store_url *u) {
  char **strings[] = {&u->host, &u->path, &u->user, &u->password};
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
    if (*strings[i]) OPENSSL_cleanse(*strings[i], strlen(*strings[i]));   /* the password dies with the client */
    free(*strings[i]);
    *strings[i] = NULL;
  }
}
