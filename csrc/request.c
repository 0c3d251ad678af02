/* The request's parameter list and the signed query and headers: adding,
 * finding, resetting, freeing. */
#include "request.h"

#include <string.h>

void lp_request_reset(lp_request *r) {
  lp_buf_reset(&r->arena);
  r->nparams = 0;
}

void lp_request_free(lp_request *r) { lp_buf_free(&r->arena); r->nparams = 0; }

int lp_request_add_span(lp_request *r, const char *name, size_t name_len, size_t value_off) {
  if (r->nparams >= LP_MAX_PARAMS || !lp_buf_ok(&r->arena)) return -1;
  lp_param *p = &r->params[r->nparams++];
  p->name = name;
  p->name_len = name_len;
  p->value_off = value_off;
  p->value_len = r->arena.len - value_off;
  lp_buf_addchar(&r->arena, '\0');   /* values stay usable as C strings */
  return lp_buf_ok(&r->arena) ? 0 : -1;
}

int lp_request_add(lp_request *r, const char *name, size_t name_len, const char *value,
                   size_t value_len) {
  size_t off = r->arena.len;
  lp_buf_add(&r->arena, value, value_len);
  return lp_request_add_span(r, name, name_len, off);
}

int lp_request_find(const lp_request *r, const char *name) {
  size_t n = strlen(name);
  for (int i = 0; i < r->nparams; i++)
    if (r->params[i].name_len == n && memcmp(r->params[i].name, name, n) == 0) return i;
  return -1;
}

void lp_signed_reset(lp_signed *s) {
  lp_buf_reset(&s->query);
  lp_buf_reset(&s->canonical);
  lp_buf_reset(&s->sts);
  lp_buf_reset(&s->hbuf);
  s->nheaders = 0;
  s->signature[0] = '\0';
}

void lp_signed_free(lp_signed *s) {
  lp_buf_free(&s->query);
  lp_buf_free(&s->canonical);
  lp_buf_free(&s->sts);
  lp_buf_free(&s->hbuf);
  s->nheaders = 0;
  memset(s->signature, 0, sizeof s->signature);   /* a closed client keeps no signature */
}

void lp_signed_add_header(lp_signed *s, const char *name, const char *value, size_t value_len) {
  if (s->nheaders >= LP_MAX_HEADERS) { s->hbuf.failed = 1; return; }
  lp_header *h = &s->headers[s->nheaders++];
  h->name_off = s->hbuf.len;
  h->name_len = strlen(name);
  lp_buf_add(&s->hbuf, name, h->name_len + 1);
  h->value_off = s->hbuf.len;
  h->value_len = value_len;
  lp_buf_add(&s->hbuf, value, value_len);
  lp_buf_addchar(&s->hbuf, '\0');
}
