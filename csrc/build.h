/* The build stage: validated parameters, the client's configuration and
 * the operation become one HTTP request value (before signing), and a
 * signed one becomes the URL to send. */
#ifndef LIVEPULL_BUILD_H
#define LIVEPULL_BUILD_H

#include "buffer.h"
#include "config.h"
#include "error.h"
#include "fields.h"
#include "request.h"

/* Builds the request value of op from params (validated) and cfg; adds the
 * client's default RegionId to params when op takes one and none was
 * given. 0 ok, -1 err set (out of memory). */
int lp_build(const lp_config *cfg, const lp_operation *op, lp_request *params, lp_http_request *out,
             lp_error *err);

/* scheme://authority/path?query into url (reset first). 0 ok, -1 out of memory. */
struct lp_signed;
int lp_build_url(const lp_http_request *r, const struct lp_signed *s, lp_buf *url);

#endif
