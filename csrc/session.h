/* The libcurl session: one easy handle per client, reused so the connection
 * stays alive. The only stage with I/O. */
#ifndef LIVEPULL_SESSION_H
#define LIVEPULL_SESSION_H

#include <curl/curl.h>

#include "answer.h"
#include "error.h"

typedef struct lp_session_options {
  long connect_timeout_ms, timeout_ms;
  const char *ca_file, *ca_path, *proxy, *user_agent;
  const char *no_proxy;   /* hosts that bypass the proxy; NULL: none */
  size_t max_response_bytes;
} lp_session_options;

typedef struct lp_session {
  CURL *easy;
  char errbuf[CURL_ERROR_SIZE];
  size_t max_response_bytes;
  lp_answer answer;
} lp_session;

int lp_session_global_init(void);   /* once per process; 0 ok */
/* 0 ok, -1 err set (config kind: an option libcurl refused). */
int lp_session_open(lp_session *s, const lp_session_options *o, lp_error *err);
void lp_session_close(lp_session *s);
/* One exchange in two halves, for libcurl's multi interface: begin sets the
 * request on the handle; finish reads the outcome of the transfer (its
 * CURLcode) into s->answer, 0, or -1 with a transport or protocol error. */
void lp_session_begin(lp_session *s, const char *method, const char *url, struct curl_slist *headers);
int lp_session_finish(lp_session *s, CURLcode rc, lp_error *err);
/* Both halves around curl_easy_perform: one request, blocking. */
int lp_session_perform(lp_session *s, const char *method, const char *url,
                       struct curl_slist *headers, lp_error *err);

/* A failed transfer's transport error: a stable code, libcurl's message
 * (errbuf, else its text for rc) with any user:password@ redacted. */
void lp_session_curl_error(CURLcode rc, const char *errbuf, lp_error *err);

#endif
