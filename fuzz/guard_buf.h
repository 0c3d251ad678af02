/* An lp_buf allocated to exactly the room a writer documents as its worst
 * case, its spare bytes filled with a canary: ASan then catches a write past
 * the end, and the canary a stray write inside the allocation but past the
 * final length. The real allocator rounds capacities up (to 256, then
 * doubling), which would hide a writer that reserves less than it writes, so
 * fuzz/run links these targets with -Wl,--wrap=lp_buf_reserve and the wrapper
 * below records how far the writer reserved. */
#ifndef LIVEPULL_FUZZ_GUARD_BUF_H
#define LIVEPULL_FUZZ_GUARD_BUF_H

#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "check.h"

#define GUARD_BYTE 0xA5

static size_t guard_reserved_end;   /* the furthest len + extra asked for */

int __real_lp_buf_reserve(lp_buf *b, size_t extra);
int __wrap_lp_buf_reserve(lp_buf *b, size_t extra);

int __wrap_lp_buf_reserve(lp_buf *b, size_t extra) {
  int rc = __real_lp_buf_reserve(b, extra);
  if (rc == 0 && b->len + extra > guard_reserved_end) guard_reserved_end = b->len + extra;
  return rc;
}

/* prefix stands for what a caller appended before (a query's "name="). */
static void guard_buf_init(lp_buf *b, const char *prefix, size_t plen, size_t room) {
  b->cap = plen + room + 1;   /* +1: lp_buf_reserve keeps room for a NUL */
  b->data = malloc(b->cap);
  FUZZ_CHECK(b->data != NULL);
  memset(b->data, GUARD_BYTE, b->cap);
  memcpy(b->data, prefix, plen);
  b->len = plen;
  b->failed = 0;
  guard_reserved_end = 0;
}

/* Checks the prefix is intact, that the writer reserved all it wrote and,
 * when it did not reallocate, that nothing past the final length changed
 * but the scratch bytes a writer documents (slack: the percent-encoders
 * store a word at a time, so up to LP_ENCODE_SLACK - 1 bytes past the end). */
static void guard_buf_check_slack(const lp_buf *b, const char *prefix, size_t plen, size_t cap0,
                                  size_t slack) {
  FUZZ_CHECK(!b->failed);
  FUZZ_CHECK(b->len >= plen && b->len < b->cap);
  FUZZ_CHECK(memcmp(b->data, prefix, plen) == 0);
  FUZZ_CHECK(b->len == plen || b->len <= guard_reserved_end);
  if (b->cap != cap0) return;
  for (size_t i = b->len + slack; i < b->cap; i++) FUZZ_CHECK((unsigned char)b->data[i] == GUARD_BYTE);
}

static inline void guard_buf_check(const lp_buf *b, const char *prefix, size_t plen, size_t cap0) {
  guard_buf_check_slack(b, prefix, plen, cap0, 0);
}

#endif
