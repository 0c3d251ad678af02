/* lp_store_url_parse (the rate_store URL) on any bytes: an accepted URL
 * names exactly one place (a host and port 1-65535, or an absolute socket
 * path of at most 107 bytes) and a database 0-2147483647, its user and
 * password are spans of the input (as written, before decoding) that
 * decode to what was parsed; a refused one is a `config` InvalidConfig
 * error on field rate_store that frees what it parsed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "encode.h"
#include "rate_store_url.h"

/* s[0..n) decoded from %XX escapes (already checked by the parser). */
static size_t decoded(char *out, const char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      out[k++] = (char)(lp_hex_value((unsigned char)s[i + 1]) * 16 + lp_hex_value((unsigned char)s[i + 2]));
      i += 2;
    } else {
      out[k++] = s[i];
    }
  }
  return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  lp_store_url u;
  lp_error err;
  memset(&err, 0, sizeof err);
  if (lp_store_url_parse(s, size, &u, &err) != 0) {
    FUZZ_CHECK(strcmp(err.kind, "config") == 0);
    FUZZ_CHECK(strcmp(err.field, "rate_store") == 0);
    FUZZ_CHECK(!u.host && !u.path && !u.user && !u.password);
    free(s);
    return 0;
  }
  FUZZ_CHECK(!u.unix_socket == !u.path && !u.unix_socket == !!u.host);
  FUZZ_CHECK(u.db >= 0 && u.db <= 2147483647L);
  if (u.unix_socket) {
    FUZZ_CHECK(u.path[0] == '/' && strlen(u.path) <= LP_UNIX_PATH_MAX);
  } else {
    FUZZ_CHECK(u.port >= 1 && u.port <= 65535 && u.host[0] != '\0');
  }
  FUZZ_CHECK(!u.user || u.password);   /* a user never comes alone */
  if (strlen(s) == size) {   /* the secret spans point into s: only without NUL bytes in the input */
    lp_secrets sec;
    memset(&sec, 0, sizeof sec);
    lp_store_url_secrets(s, &sec);
    FUZZ_CHECK(sec.count == (u.user ? 1 : 0) + (u.password ? 1 : 0));
    const char *parsed[2] = {u.user ? u.user : u.password, u.user ? u.password : NULL};
    for (int i = 0; i < sec.count; i++) {
      FUZZ_CHECK(sec.item[i].s >= s && sec.item[i].s + sec.item[i].n <= s + size);
      char *d = malloc(sec.item[i].n + 1);
      FUZZ_CHECK(d != NULL);
      size_t k = decoded(d, sec.item[i].s, sec.item[i].n);
      FUZZ_CHECK(k == strlen(parsed[i]) && memcmp(d, parsed[i], k) == 0);
      free(d);
    }
  }
  lp_store_url_free(&u);
  free(s);
  return 0;
}
