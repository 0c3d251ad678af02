/* lp_json_string: the output must be one JSON string literal (RFC 8259) that
 * decodes back to the input bytes, must be valid UTF-8 whenever the input is
 * (so it is a valid JSON text), and must stay inside the room it reserves. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "encode.h"
#include "guard_buf.h"
#include "ref_utf8.h"

static int hex4(const char *s, unsigned long *cp) {
  unsigned long v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v << 4 | (unsigned long)d;
  }
  *cp = v;
  return 0;
}

static size_t put_utf8(unsigned char *o, unsigned long cp) {
  if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
  if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | cp >> 6); o[1] = (unsigned char)(0x80 | (cp & 63)); return 2; }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | cp >> 12); o[1] = (unsigned char)(0x80 | (cp >> 6 & 63));
    o[2] = (unsigned char)(0x80 | (cp & 63));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | cp >> 18); o[1] = (unsigned char)(0x80 | (cp >> 12 & 63));
  o[2] = (unsigned char)(0x80 | (cp >> 6 & 63)); o[3] = (unsigned char)(0x80 | (cp & 63));
  return 4;
}

/* Decodes exactly one string literal filling s[0..n); raw bytes >= 0x20 are
 * copied as they are (UTF-8 validity is checked separately). Returns the
 * decoded length or -1. Sets *solidus when "\/" was used. */
static long json_decode(unsigned char *out, const char *s, size_t n, int *solidus) {
  size_t k = 0, i = 1;
  if (n < 2 || s[0] != '"') return -1;
  for (;;) {
    if (i >= n) return -1;
    unsigned char c = (unsigned char)s[i];
    if (c == '"') return i == n - 1 ? (long)k : -1;
    if (c < 0x20) return -1;   /* control characters must be escaped */
    if (c != '\\') { out[k++] = c; i++; continue; }
    if (n - i < 2) return -1;
    char e = s[i + 1];
    i += 2;
    switch (e) {
      case '"': out[k++] = '"'; break;
      case '\\': out[k++] = '\\'; break;
      case '/': out[k++] = '/'; *solidus = 1; break;
      case 'b': out[k++] = '\b'; break;
      case 'f': out[k++] = '\f'; break;
      case 'n': out[k++] = '\n'; break;
      case 'r': out[k++] = '\r'; break;
      case 't': out[k++] = '\t'; break;
      case 'u': {
        unsigned long cp, lo;
        if (n - i < 4 || hex4(s + i, &cp)) return -1;
        i += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return -1;   /* a lone low surrogate */
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (n - i < 6 || s[i] != '\\' || s[i + 1] != 'u' || hex4(s + i + 2, &lo) ||
              lo < 0xDC00 || lo > 0xDFFF)
            return -1;
          i += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        k += put_utf8(out + k, cp);
        break;
      }
      default: return -1;
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char prefix[] = "[";
  const size_t plen = sizeof prefix - 1;
  lp_buf out;
  guard_buf_init(&out, prefix, plen, 6 * size + 2);
  size_t cap0 = out.cap;
  lp_json_string(&out, (const char *)data, size);
  guard_buf_check(&out, prefix, plen, cap0);

  const char *lit = out.data + plen;
  size_t litlen = out.len - plen;
  /* Each escape (<= 6 bytes) decodes to at most 4 bytes: size*4 is ample. */
  unsigned char *back = malloc(4 * litlen + 1);
  FUZZ_CHECK(back != NULL);
  int solidus = 0;
  long blen = json_decode(back, lit, litlen, &solidus);
  FUZZ_CHECK(blen == (long)size);
  FUZZ_CHECK(size == 0 || memcmp(back, data, size) == 0);
  FUZZ_CHECK(!solidus);   /* documented: '/' is written unescaped */
  if (ref_utf8_count(data, size, 1) >= 0)
    FUZZ_CHECK(ref_utf8_count((const unsigned char *)lit, litlen, 0) >= 0);

  free(back);
  lp_buf_free(&out);
  return 0;
}
