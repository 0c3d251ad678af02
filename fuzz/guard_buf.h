/* An lp_buf allocated to exactly the room a writer says it needs, its spare
 * bytes filled with a canary: ASan then catches a write past the end, and the
 * canary a stray write inside the allocation but past the final length. */
#ifndef LIVEPULL_FUZZ_GUARD_BUF_H
#define LIVEPULL_FUZZ_GUARD_BUF_H

#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "check.h"

#define GUARD_BYTE 0xA5

/* prefix stands for what a caller appended before (a query's "name="). */
static void guard_buf_init(lp_buf *b, const char *prefix, size_t plen, size_t room) {
  b->cap = plen + room + 1;   /* +1: lp_buf_reserve keeps room for a NUL */
  b->data = malloc(b->cap);
  FUZZ_CHECK(b->data != NULL);
  memset(b->data, GUARD_BYTE, b->cap);
  memcpy(b->data, prefix, plen);
  b->len = plen;
  b->failed = 0;
}

/* Checks the prefix is intact and, when the writer did not reallocate, that
 * nothing past the final length was touched. */
static void guard_buf_check(const lp_buf *b, const char *prefix, size_t plen, size_t cap0) {
  FUZZ_CHECK(!b->failed);
  FUZZ_CHECK(b->len >= plen && b->len < b->cap);
  FUZZ_CHECK(memcmp(b->data, prefix, plen) == 0);
  if (b->cap != cap0) return;
  for (size_t i = b->len; i < b->cap; i++) FUZZ_CHECK((unsigned char)b->data[i] == GUARD_BYTE);
}

#endif
