/* A growable byte buffer with a sticky failure flag: writers never check
 * each append, the caller checks lp_buf_ok() once at the end. The memory is
 * owned by whatever embeds the buffer (a client userdata), so a Lua error
 * raised half way never leaks it. */
#ifndef LIVEPULL_BUFFER_H
#define LIVEPULL_BUFFER_H

#include <stddef.h>

typedef struct lp_buf {
  char *data;
  size_t len, cap;
  int failed;   /* set when an allocation failed; later appends do nothing */
} lp_buf;

void lp_buf_reset(lp_buf *b);                       /* len = 0, keep memory */
void lp_buf_free(lp_buf *b);
int lp_buf_reserve(lp_buf *b, size_t extra);        /* 0 ok, -1 failed */
void lp_buf_add(lp_buf *b, const void *p, size_t n);
void lp_buf_addstr(lp_buf *b, const char *s);
void lp_buf_addchar(lp_buf *b, char c);
const char *lp_buf_cstr(lp_buf *b);                 /* NUL-terminated view */
#define lp_buf_ok(b) (!(b)->failed)

#endif
