/* Byte-level encodings: RFC 3986 percent-encoding (the one both signatures
 * use), JSON string writing, UTF-8 checks, hex and Base64. Pure functions on
 * outside bytes, no Lua: each is a fuzzing target. */
#ifndef LIVEPULL_ENCODE_H
#define LIVEPULL_ENCODE_H

#include <stddef.h>

#include "buffer.h"

/* 1 for the RFC 3986 unreserved bytes A-Z a-z 0-9 - _ . ~ (never percent-encoded). */
int lp_is_unreserved(unsigned char c);

/* A hex digit's value (either case), or -1. */
int lp_hex_value(unsigned char c);

/* Appends s with every byte outside A-Za-z0-9-_.~ as %XX (uppercase hex). */
void lp_percent_encode(lp_buf *out, const char *s, size_t n);

/* The same into raw memory, for a caller that reserved room for a whole
 * query once: percent(s) needs 3n bytes, percent(percent(s)) 5n, each plus
 * LP_ENCODE_SLACK after the end (the encoders write a word at a time). The
 * first returns the end of what it wrote; the second writes percent(s) and
 * percent(percent(s)) in one pass (V1 signs the canonical query encoded
 * again) and moves both ends. */
#define LP_ENCODE_SLACK 8
/* The room to reserve for n source bytes at per_byte (3 or 5) each: SIZE_MAX,
 * which no reservation grants, when that overflows (a 32-bit size_t). */
size_t lp_encode_room(size_t n, size_t per_byte);
char *lp_percent_encode_to(char *p, const char *s, size_t n);
void lp_percent_encode_both_to(char **once, char **twice, const char *s, size_t n);

/* Appends s as a JSON string literal: quotes, \" \\ and control bytes
 * escaped, everything else (UTF-8 included) as is, '/' unescaped. */
void lp_json_string(lp_buf *out, const char *s, size_t n);

/* 1 when s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF)
 * and has no NUL byte; *chars gets the number of code points. */
int lp_utf8_check(const char *s, size_t n, size_t *chars);

/* The length of s's leading run of printable ASCII, 0x21-0x7E: bytes that
 * are valid UTF-8 and neither whitespace nor a control character. */
size_t lp_visible_ascii_span(const char *s, size_t n);

/* 1 when s has whitespace or a control character: a byte <= 0x20 or 0x7F,
 * a C1 control (U+0080-U+009F), or another Unicode White_Space character. */
int lp_has_space_or_control(const char *s, size_t n);

/* 1 for ASCII letters and digits, classified as unsigned bytes. */
int lp_is_alnum(unsigned char c);

/* Lowercase hex of n bytes into out (2n chars + NUL). */
void lp_hex(char *out, const unsigned char *in, size_t n);

/* Standard Base64 with padding of n bytes into out (4*ceil(n/3) + NUL). */
void lp_base64(char *out, const unsigned char *in, size_t n);

#endif
