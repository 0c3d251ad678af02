/* The build stage: from validated parameters to the HTTP request value
 * that the signer reads and the senders send. */
#include "build.h"

#include <string.h>

#include "sign.h"

int lp_build(const lp_config *cfg, const lp_operation *op, lp_request *params, lp_http_request *out,
             lp_error *err) {
  if (cfg->region_id && lp_request_find(params, "RegionId") < 0 && lp_operation_takes(op, "RegionId") &&
      lp_request_add(params, "RegionId", 8, cfg->region_id, strlen(cfg->region_id)) != 0) {
    lp_error_set(err, "config", "OutOfMemory", NULL, "out of memory while building the request");
    return -1;
  }
  *out = (lp_http_request){
    .method = op->http_method, .scheme = cfg->scheme, .host = cfg->host, .port = cfg->port,
    .authority = cfg->authority, .path = "/", .action = op->action, .version = LP_API_VERSION,
    .format = "JSON", .params = params,
    .headers = {{"accept", "application/json"}, {"user-agent", cfg->user_agent}},
  };
  return 0;
}

int lp_build_url(const lp_http_request *r, const lp_signed *s, lp_buf *url) {
  lp_buf_reset(url);
  lp_buf_addstr(url, r->scheme);
  lp_buf_add(url, "://", 3);
  lp_buf_addstr(url, r->authority);
  lp_buf_addstr(url, r->path);
  lp_buf_addchar(url, '?');
  lp_buf_add(url, s->query.data, s->query.len);
  return lp_buf_cstr(url) ? 0 : -1;
}
