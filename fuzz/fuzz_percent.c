/* lp_percent_encode against a reference encoder (RFC 3986 unreserved kept,
 * everything else %XX in uppercase) and a decoder that must give the input
 * back; lp_percent_encode_both_to against the reference applied once and
 * twice. Both signatures depend on this being exact. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "encode.h"
#include "guard_buf.h"

static int ref_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_' || c == '.' || c == '~';
}

static size_t ref_encode(char *out, const unsigned char *s, size_t n) {
  static const char up[] = "0123456789ABCDEF";
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (ref_unreserved(s[i])) {
      out[k++] = (char)s[i];
    } else {
      out[k++] = '%';
      out[k++] = up[s[i] >> 4];
      out[k++] = up[s[i] & 15];
    }
  }
  return k;
}

/* Only uppercase hex is accepted: lowercase would change the signature. */
static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* -1 when s is not a strict encoding (stray '%', lowercase hex, a byte that
 * should have been escaped, or an escape of an unreserved byte). */
static long strict_decode(unsigned char *out, const char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c != '%') {
      if (!ref_unreserved(c)) return -1;
      out[k++] = c;
      continue;
    }
    if (n - i < 3) return -1;
    int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
    if (hi < 0 || lo < 0) return -1;
    unsigned char b = (unsigned char)(hi << 4 | lo);
    if (ref_unreserved(b)) return -1;
    out[k++] = b;
    i += 2;
  }
  return (long)k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char prefix[] = "Name=";
  const size_t plen = sizeof prefix - 1;
  lp_buf out;
  guard_buf_init(&out, prefix, plen, 3 * size + LP_ENCODE_SLACK);
  size_t cap0 = out.cap;
  lp_percent_encode(&out, (const char *)data, size);
  guard_buf_check_slack(&out, prefix, plen, cap0, LP_ENCODE_SLACK - 1);

  char *want = malloc(3 * size + 1);
  unsigned char *back = malloc(size + 1);
  FUZZ_CHECK(want && back);
  size_t wlen = ref_encode(want, data, size);
  const char *got = out.data + plen;
  size_t glen = out.len - plen;
  FUZZ_CHECK(glen == wlen);
  FUZZ_CHECK(memcmp(got, want, wlen) == 0);
  long blen = strict_decode(back, got, glen);
  FUZZ_CHECK(blen == (long)size);
  FUZZ_CHECK(size == 0 || memcmp(back, data, size) == 0);

  /* Both at once (V1's canonical query and string to sign): each within
   * its documented room, 3 and 5 bytes per input byte and the slack. */
  lp_buf once, twice;
  guard_buf_init(&once, prefix, plen, 3 * size + LP_ENCODE_SLACK);
  guard_buf_init(&twice, prefix, plen, 5 * size + LP_ENCODE_SLACK);
  size_t once0 = once.cap, twice0 = twice.cap;
  char *p = once.data + once.len, *q = twice.data + twice.len;
  lp_percent_encode_both_to(&p, &q, (const char *)data, size);
  once.len = (size_t)(p - once.data);
  twice.len = (size_t)(q - twice.data);
  FUZZ_CHECK(once.len == plen + wlen && memcmp(once.data + plen, want, wlen) == 0);
  char *want2 = malloc(3 * wlen + 1);
  FUZZ_CHECK(want2 != NULL);
  size_t w2len = ref_encode(want2, (const unsigned char *)want, wlen);
  FUZZ_CHECK(twice.len == plen + w2len && memcmp(twice.data + plen, want2, w2len) == 0);
  for (size_t i = once.len + LP_ENCODE_SLACK - 1; once.cap == once0 && i < once.cap; i++)
    FUZZ_CHECK((unsigned char)once.data[i] == GUARD_BYTE);
  for (size_t i = twice.len + LP_ENCODE_SLACK - 1; twice.cap == twice0 && i < twice.cap; i++)
    FUZZ_CHECK((unsigned char)twice.data[i] == GUARD_BYTE);

  free(want2);
  lp_buf_free(&once);
  lp_buf_free(&twice);
  free(want);
  free(back);
  lp_buf_free(&out);
  return 0;
}
