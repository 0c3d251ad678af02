/* A growable byte buffer with a sticky failure flag: writers never check
 * each append, the caller checks lp_buf_ok() once at the end. The memory is
 * owned by whatever embeds the buffer (a client userdata), so a Lua error
 * raised half way never leaks it. */
#ifndef LIVEPULL_BUFFER_H
#define LIVEPULL_BUFFER_H

#include <stddef.h>
#include <string.h>

typedef struct lp_buf {
  char *data;
  size_t len, cap;
  int failed;   /* set when an allocation failed; later appends do nothing */
} lp_buf;

void lp_buf_reset(lp_buf *b);                       /* len = 0, keep memory */
void lp_buf_free(lp_buf *b);
int lp_buf_reserve(lp_buf *b, size_t extra);        /* 0 ok, -1 failed */
void lp_buf_addstr(lp_buf *b, const char *s);
const char *lp_buf_cstr(lp_buf *b);                 /* NUL-terminated view */
#define lp_buf_ok(b) (!(b)->failed)

/* The appends are inline with the room check first: a signature makes a
 * few hundred of them, and nearly all fit in the memory a reused buffer
 * already has, so only a growth (or a failed buffer) pays a call. */
static inline void lp_buf_add(lp_buf *b, const void *p, size_t n) {
  if (n == 0) return;
  if (b->failed || n >= b->cap - b->len) {   /* + 1: room for lp_buf_cstr's NUL */
    if (lp_buf_reserve(b, n) != 0) return;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static inline void lp_buf_addchar(lp_buf *b, char c) {
  if (b->failed || b->len + 1 >= b->cap) {
    if (lp_buf_reserve(b, 1) != 0) return;
  }
  b->data[b->len++] = c;
}

/* A string literal's bytes, its length known at compile time. */
#define lp_buf_addlit(b, lit) lp_buf_add((b), "" lit, sizeof(lit) - 1)

#endif
