/* Reference UTF-8 validator for the fuzz targets, written from the table in
 * RFC 3629 section 4 (allowed byte ranges per lead byte) rather than by
 * decoding code points, so it shares no logic with csrc/encode.c.
 * Returns the number of code points, or -1 when s is not well-formed.
 * allow_nul: whether U+0000 counts as well-formed (JSON can carry it). */
#ifndef LIVEPULL_FUZZ_REF_UTF8_H
#define LIVEPULL_FUZZ_REF_UTF8_H

#include <stddef.h>

static long ref_utf8_count(const unsigned char *s, size_t n, int allow_nul) {
  long count = 0;
  size_t i = 0;
  while (i < n) {
    unsigned char b = s[i];
    /* Allowed ranges of the 2nd byte; the 3rd and 4th are always 80-BF. */
    unsigned lo = 0x80, hi = 0xBF;
    size_t len;
    if (b == 0x00) { if (!allow_nul) return -1; len = 1; }
    else if (b <= 0x7F) len = 1;
    else if (b >= 0xC2 && b <= 0xDF) len = 2;
    else if (b == 0xE0) { len = 3; lo = 0xA0; }
    else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) len = 3;
    else if (b == 0xED) { len = 3; hi = 0x9F; }   /* excludes the surrogates */
    else if (b == 0xF0) { len = 4; lo = 0x90; }
    else if (b >= 0xF1 && b <= 0xF3) len = 4;
    else if (b == 0xF4) { len = 4; hi = 0x8F; }   /* nothing past U+10FFFF */
    else return -1;
    if (n - i < len) return -1;
    if (len > 1 && (s[i + 1] < lo || s[i + 1] > hi)) return -1;
    for (size_t k = 2; k < len; k++)
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return -1;
    i += len;
    count++;
  }
  return count;
}

#endif
