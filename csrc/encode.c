/* Byte encodings: percent-encoding, JSON strings, UTF-8 checks, hex, Base64. */
#include "encode.h"

int lp_is_alnum(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* RFC 3986 unreserved bytes, A-Z a-z 0-9 - _ . ~, as a table: the signer
 * encodes every byte of the query twice (V1), so this is a hot loop. */
#define U1(c) [c] = 1
static const unsigned char unreserved[256] = {
  U1('-'), U1('.'), U1('_'), U1('~'),
  U1('0'), U1('1'), U1('2'), U1('3'), U1('4'), U1('5'), U1('6'), U1('7'), U1('8'), U1('9'),
  U1('A'), U1('B'), U1('C'), U1('D'), U1('E'), U1('F'), U1('G'), U1('H'), U1('I'), U1('J'),
  U1('K'), U1('L'), U1('M'), U1('N'), U1('O'), U1('P'), U1('Q'), U1('R'), U1('S'), U1('T'),
  U1('U'), U1('V'), U1('W'), U1('X'), U1('Y'), U1('Z'),
  U1('a'), U1('b'), U1('c'), U1('d'), U1('e'), U1('f'), U1('g'), U1('h'), U1('i'), U1('j'),
  U1('k'), U1('l'), U1('m'), U1('n'), U1('o'), U1('p'), U1('q'), U1('r'), U1('s'), U1('t'),
  U1('u'), U1('v'), U1('w'), U1('x'), U1('y'), U1('z'),
};
#undef U1

int lp_is_unreserved(unsigned char c) { return unreserved[c]; }

int lp_hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

void lp_percent_encode(lp_buf *out, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  if (lp_buf_reserve(out, 3 * n) != 0) return;   /* worst case, once */
  char *p = out->data + out->len;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved[c]) {
      *p++ = (char)c;
    } else {
      *p++ = '%';
      *p++ = hex[c >> 4];
      *p++ = hex[c & 15];
    }
  }
  out->len = (size_t)(p - out->data);
}

void lp_json_string(lp_buf *out, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (lp_buf_reserve(out, 6 * n + 2) != 0) return;
  char *p = out->data + out->len;
  *p++ = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      *p++ = '\\';
      *p++ = (char)c;
    } else if (c < 0x20) {
      const char *named = c == '\n' ? "n" : c == '\r' ? "r" : c == '\t' ? "t"
                        : c == '\b' ? "b" : c == '\f' ? "f" : NULL;
      *p++ = '\\';
      if (named) {
        *p++ = named[0];
      } else {
        *p++ = 'u'; *p++ = '0'; *p++ = '0';
        *p++ = hex[c >> 4];
        *p++ = hex[c & 15];
      }
    } else {
      *p++ = (char)c;
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
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex[in[i] >> 4];
    out[2 * i + 1] = hex[in[i] & 15];
  }
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
