/* The growable byte buffer with a sticky failure flag. */
#include "buffer.h"

#include <stdlib.h>
#include <string.h>

void lp_buf_reset(lp_buf *b) {
  b->len = 0;
  b->failed = 0;
}

void lp_buf_free(lp_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->failed = 0;
}

int lp_buf_reserve(lp_buf *b, size_t extra) {
  if (b->failed) return -1;
  if (extra > (size_t)-1 - b->len - 1) { b->failed = 1; return -1; }
  size_t need = b->len + extra + 1;   /* +1: room for lp_buf_cstr's NUL */
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap = cap > (size_t)-1 / 2 ? need : cap * 2;
  char *p = realloc(b->data, cap);
  if (!p) { b->failed = 1; return -1; }
  b->data = p;
  b->cap = cap;
  return 0;
}

void lp_buf_add(lp_buf *b, const void *p, size_t n) {
  if (n == 0 || lp_buf_reserve(b, n) != 0) return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void lp_buf_addstr(lp_buf *b, const char *s) { lp_buf_add(b, s, strlen(s)); }

void lp_buf_addchar(lp_buf *b, char c) {
  if (lp_buf_reserve(b, 1) != 0) return;
  b->data[b->len++] = c;
}

const char *lp_buf_cstr(lp_buf *b) {
  if (lp_buf_reserve(b, 0) != 0) return NULL;
  b->data[b->len] = '\0';
  return b->data;
}
