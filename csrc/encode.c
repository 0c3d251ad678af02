#include "encode.h"

int lp_is_alnum(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_unreserved(unsigned char c) {
  return lp_is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

void lp_percent_encode(lp_buf *out, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  if (lp_buf_reserve(out, 3 * n) != 0) return;   /* worst case, once */
  char *p = out->data + out->len;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (is_unreserved(c)) {
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

int lp_has_space_or_control(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c == 0x7F) return 1;
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
