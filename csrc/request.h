/* The values between the stages: validated parameters (name, value), the
 * HTTP request value built from them and, after signing, the query string
 * and headers to send. No Lua, no libcurl: the signer and its fuzz target
 * see only these. */
#ifndef LIVEPULL_REQUEST_H
#define LIVEPULL_REQUEST_H

#include <stddef.h>

#include "buffer.h"

#define LP_MAX_PARAMS 48
#define LP_MAX_HEADERS 12
/* The validated parameter values of one request, in bytes: every field's
 * own limit keeps a request below it; this bounds what any row adds. */
#define LP_MAX_REQUEST_BYTES (256 * 1024)

/* Names point at static field-table strings or at Lua strings that stay on
 * the stack for the whole call; values are copied into the arena. */
typedef struct lp_param {
  const char *name;
  size_t name_len;
  size_t value_off, value_len;   /* in lp_request.arena */
} lp_param;

typedef struct lp_request {
  lp_buf arena;
  lp_param params[LP_MAX_PARAMS];
  int nparams;
} lp_request;

typedef struct lp_header {
  size_t name_off, name_len, value_off, value_len;   /* in lp_signed.hbuf */
} lp_header;

typedef struct lp_signed {
  lp_buf query;       /* the URL's query string, without '?' */
  lp_buf canonical;   /* V3: canonical request; V1: canonicalized query */
  lp_buf sts;         /* the string to sign */
  lp_buf hbuf;
  lp_header headers[LP_MAX_HEADERS];
  int nheaders;
  char signature[65];
} lp_signed;

/* The unsigned headers every request carries, besides what the signer adds. */
#define LP_UNSIGNED_HEADERS 2

/* What a call sends, before the signature. The strings point into the
 * operation table, the configuration and the parameters' arena, so a value
 * is valid while the call's request and the client's config are. */
typedef struct lp_http_request {
  const char *method;      /* "GET" / "POST" */
  const char *scheme;      /* "https", or "http" on loopback */
  const char *host;        /* a name, a dotted quad or a bracketed IPv6 literal */
  int port;
  const char *authority;   /* host[:port]: the host header, which is signed */
  const char *path;        /* "/": RPC-style calls have no other */
  const char *action, *version;
  const char *format;      /* the answer's format: JSON */
  const lp_request *params;
  struct { const char *name, *value; } headers[LP_UNSIGNED_HEADERS];
} lp_http_request;

void lp_request_reset(lp_request *r);
void lp_request_free(lp_request *r);
/* Copies value into the arena. -1 when the table is full or memory ran out. */
int lp_request_add(lp_request *r, const char *name, size_t name_len, const char *value,
                   size_t value_len);
/* Records a value the caller already appended to the arena at value_off. */
int lp_request_add_span(lp_request *r, const char *name, size_t name_len, size_t value_off);
int lp_request_find(const lp_request *r, const char *name);   /* index or -1 */
#define lp_request_value(r, i) ((r)->arena.data + (r)->params[i].value_off)

void lp_signed_reset(lp_signed *s);
void lp_signed_free(lp_signed *s);
void lp_signed_add_header(lp_signed *s, const char *name, const char *value, size_t value_len);
#define lp_header_name(s, i) ((s)->hbuf.data + (s)->headers[i].name_off)
#define lp_header_value(s, i) ((s)->hbuf.data + (s)->headers[i].value_off)

#endif
