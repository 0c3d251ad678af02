/* Byte encodings: percent-encoding, JSON strings, UTF-8 checks, hex, Base64. */
#include "encode.h"

#include <stdint.h>
#include <string.h>

int lp_is_alnum(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* The byte tables are constant, written by these macros from each byte's
 * value: no set-up at run time, nothing shared that two threads could race
 * to fill. ALL256(f) is f(0), f(1), ..., f(255). */
#define ROW4(f, c) f(c), f((c) + 1), f((c) + 2), f((c) + 3)
#define ROW16(f, c) ROW4(f, c), ROW4(f, (c) + 4), ROW4(f, (c) + 8), ROW4(f, (c) + 12)
#define ROW64(f, c) ROW16(f, c), ROW16(f, (c) + 16), ROW16(f, (c) + 32), ROW16(f, (c) + 48)
#define ALL256(f) ROW64(f, 0), ROW64(f, 64), ROW64(f, 128), ROW64(f, 192)

/* RFC 3986 unreserved bytes, A-Z a-z 0-9 - _ . ~ (the one place for the
 * rule), and as a table: the signer encodes every byte of the query. */
#define UNRES(c) (((c) >= '0' && (c) <= '9') || ((c) >= 'A' && (c) <= 'Z') || \
                  ((c) >= 'a' && (c) <= 'z') || (c) == '-' || (c) == '.' || (c) == '_' || (c) == '~')
static const unsigned char unreserved[256] = {ALL256(UNRES)};

int lp_is_unreserved(unsigned char c) { return unreserved[c]; }

int lp_hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Each byte's encoding as it is written, in 8 bytes: the encoded bytes
 * first, the length in the last. Both encoders copy a whole entry per input
 * byte and move on by the length, with no branch on the byte: in URLs and
 * JSON the reserved bytes come every few bytes, at no pattern a branch
 * predictor learns. */
typedef struct enc_entry { unsigned char b[8]; } enc_entry;
#define ENC_LEN(e) ((size_t)(e).b[7])

/* once: c or %XX; twice: c or %25XX (the second encoding turns '%' into
 * "%25" and leaves the hex digits). */
#define HEX_UPPER(x) ((x) < 10 ? '0' + (x) : 'A' + (x) - 10)
#define HEX_LOWER(x) ((x) < 10 ? '0' + (x) : 'a' + (x) - 10)
#define ONCE(c) {{UNRES(c) ? (c) : '%', UNRES(c) ? 0 : HEX_UPPER((c) >> 4), \
                  UNRES(c) ? 0 : HEX_UPPER((c) & 15), 0, 0, 0, 0, UNRES(c) ? 1 : 3}}
#define TWICE(c) {{UNRES(c) ? (c) : '%', UNRES(c) ? 0 : '2', UNRES(c) ? 0 : '5', \
                   UNRES(c) ? 0 : HEX_UPPER((c) >> 4), UNRES(c) ? 0 : HEX_UPPER((c) & 15), 0, 0, \
                   UNRES(c) ? 1 : 5}}
#define HEX_PAIR(c) {HEX_LOWER((c) >> 4), HEX_LOWER((c) & 15)}
static const enc_entry enc_once[256] = {ALL256(ONCE)}, enc_twice[256] = {ALL256(TWICE)};
/* Each byte's two lowercase hex digits: one 2-byte copy per byte (V3
 * writes two digests a request; JSON's \u00XX). */
static const char hex_pairs[256][2] = {ALL256(HEX_PAIR)};

/* Copies e's 8 bytes to p (the caller reserved LP_ENCODE_SLACK), returns p moved past its encoding. */
static inline char *put_entry(char *p, const enc_entry *e) {
  memcpy(p, e->b, 8);
  return p + ENC_LEN(*e);
}

/* 1 when all 8 bytes at s are unreserved: then they are copied as they
 * are, 8 at a time (names, IDs, nonces and most of a URL are such runs). */
static inline int unreserved8(const unsigned char *s) {
  return unreserved[s[0]] & unreserved[s[1]] & unreserved[s[2]] & unreserved[s[3]] &
         unreserved[s[4]] & unreserved[s[5]] & unreserved[s[6]] & unreserved[s[7]];
}

char *lp_percent_encode_to(char *p, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (unreserved8(u + i)) {
      memcpy(p, u + i, 8);
      p += 8;
      continue;
    }
    for (size_t k = i; k < i + 8; k++) p = put_entry(p, &enc_once[u[k]]);
  }
  for (; i < n; i++) p = put_entry(p, &enc_once[u[i]]);
  return p;
}

/* The second encoding of a byte is as long as the first when it is kept
 * (1) and two bytes longer when it is escaped (3 -> 5: "%25XX"). */
#define BOTH(p, q, c) do { \
    size_t len_ = ENC_LEN(enc_once[c]); \
    memcpy((p), enc_once[c].b, 8); \
    memcpy((q), enc_twice[c].b, 8); \
    (p) += len_; \
    (q) += 2 * len_ - 1; \
  } while (0)

void lp_percent_encode_both_to(char **once, char **twice, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  char *p = *once, *q = *twice;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (unreserved8(u + i)) {
      memcpy(p, u + i, 8);
      memcpy(q, u + i, 8);
      p += 8;
      q += 8;
      continue;
    }
    for (size_t k = i; k < i + 8; k++) BOTH(p, q, u[k]);
  }
  for (; i < n; i++) BOTH(p, q, u[i]);
  *once = p;
  *twice = q;
}

size_t lp_encode_room(size_t n, size_t per_byte) {
  return n > (SIZE_MAX - LP_ENCODE_SLACK) / per_byte ? SIZE_MAX : per_byte * n + LP_ENCODE_SLACK;
}

void lp_percent_encode(lp_buf *out, const char *s, size_t n) {
  if (lp_buf_reserve(out, lp_encode_room(n, 3)) != 0) return;   /* worst case, once */
  out->len = (size_t)(lp_percent_encode_to(out->data + out->len, s, n) - out->data);
}

/* Tests on 8 bytes at once (any byte order: they only say whether some
 * byte matches; a byte loop then finds which). From the well-known bit
 * tricks: a byte below n (n <= 128), above n (n <= 127), equal to c. */
typedef uint64_t word8;
#define ONES ((word8)0x0101010101010101ULL)
#define HIGHS ((word8)0x8080808080808080ULL)
#define ANY_BELOW(w, n) (((w) - ONES * (n)) & ~(w) & HIGHS)
#define ANY_ABOVE(w, n) ((((w) + ONES * (127 - (n))) | (w)) & HIGHS)
#define ANY_EQUAL(w, c) ANY_BELOW((w) ^ (ONES * (c)), 1)

static word8 load8(const unsigned char *p) {
  word8 w;
  memcpy(&w, p, sizeof w);
  return w;
}

/* The length of s's leading run of bytes JSON takes as they are. */
static size_t json_plain_span(const unsigned char *s, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    word8 w = load8(s + i);
    if (ANY_BELOW(w, 0x20) | ANY_EQUAL(w, '"') | ANY_EQUAL(w, '\\')) break;
  }
  while (i < n && s[i] >= 0x20 && s[i] != '"' && s[i] != '\\') i++;
  return i;
}

void lp_json_string(lp_buf *out, const char *s, size_t n) {
  if (lp_buf_reserve(out, 6 * n + 2) != 0) return;
  const unsigned char *u = (const unsigned char *)s;
  char *p = out->data + out->len;
  *p++ = '"';
  for (size_t i = 0; i < n; i++) {
    size_t run = json_plain_span(u + i, n - i);   /* most values need no escape at all */
    memcpy(p, u + i, run);
    p += run;
    i += run;
    if (i == n) break;
    unsigned char c = u[i];
    if (c == '"' || c == '\\') {
      *p++ = '\\';
      *p++ = (char)c;
    } else {
      const char *named = c == '\n' ? "n" : c == '\r' ? "r" : c == '\t' ? "t"
                        : c == '\b' ? "b" : c == '\f' ? "f" : NULL;
      *p++ = '\\';
      if (named) {
        *p++ = named[0];
      } else {
        memcpy(p, "u00", 3);
        memcpy(p + 3, hex_pairs[c], 2);
        p += 5;
      }
    }
  }
  *p++ = '"';
  out->len = (size_t)(p - out->data);
}

int lp_utf8_check(const char *s, size_t n, size_t *chars) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  size_t count = 0;
  while (p < end) {
    unsigned char c = *p;
    size_t len;
    unsigned long cp;
    if (c == 0) return 0;
    if (c < 0x80) { p++; count++; continue; }
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;   /* continuation byte first, overlong 2-byte lead, or > U+10FFFF */
    if ((size_t)(end - p) < len) return 0;
    for (size_t i = 1; i < len; i++) {
      if ((p[i] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    p += len;
    count++;
  }
  if (chars) *chars = count;
  return 1;
}

size_t lp_visible_ascii_span(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    word8 w = load8(p + i);
    if (ANY_BELOW(w, 0x21) | ANY_ABOVE(w, 0x7E)) break;
  }
  while (i < n && (unsigned)(p[i] - 0x21) < 0x7F - 0x21) i++;   /* 0x21..0x7E */
  return i;
}

/* Unicode's other White_Space characters and the C1 controls, as UTF-8:
 * a pasted U+3000 or U+00A0 in an ID is as wrong as an ASCII space. */
static int unicode_space_or_control(const unsigned char *p, size_t left) {
  if (left >= 2 && p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0xA0) return 1;   /* U+0080-U+00A0 */
  if (left < 3) return 0;
  unsigned long cp = ((unsigned long)p[0] << 16) | ((unsigned long)p[1] << 8) | p[2];
  return cp == 0xE19A80UL ||                                    /* U+1680 */
         (cp >= 0xE28080UL && cp <= 0xE2808AUL) ||              /* U+2000-U+200A */
         cp == 0xE280A8UL || cp == 0xE280A9UL ||                /* U+2028, U+2029 */
         cp == 0xE280AFUL || cp == 0xE2819FUL ||                /* U+202F, U+205F */
         cp == 0xE38080UL;                                      /* U+3000 */
}

int lp_has_space_or_control(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n; i++) {
    if (p[i] <= 0x20 || p[i] == 0x7F) return 1;
    if (p[i] >= 0xC2 && unicode_space_or_control(p + i, n - i)) return 1;
  }
  return 0;
}

void lp_hex(char *out, const unsigned char *in, size_t n) {
  for (size_t i = 0; i < n; i++) memcpy(out + 2 * i, hex_pairs[in[i]], 2);
  out[2 * n] = '\0';
}

void lp_base64(char *out, const unsigned char *in, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  char *p = out;
  for (; i + 2 < n; i += 3) {
    unsigned long v = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8) | in[i + 2];
    *p++ = tab[(v >> 18) & 63]; *p++ = tab[(v >> 12) & 63];
    *p++ = tab[(v >> 6) & 63];  *p++ = tab[v & 63];
  }
  if (i < n) {
    unsigned long v = (unsigned long)in[i] << 16;
    if (i + 1 < n) v |= (unsigned long)in[i + 1] << 8;
    *p++ = tab[(v >> 18) & 63];
    *p++ = tab[(v >> 12) & 63];
    *p++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
    *p++ = '=';
  }
  *p = '\0';
}
