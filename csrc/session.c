/* The libcurl easy handle: options, one exchange, and its failures as
 * stable error codes. */
#include "session.h"
#include "policy.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

int lp_session_global_init(void) {
  pthread_once(&global_once, global_init);
  return global_rc == CURLE_OK ? 0 : -1;
}

/* Never raises: a body past the cap is recorded and the transfer stopped. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
  lp_session *s = ud;
  size_t n = size * nmemb;
  if (s->answer.body.len + n > s->max_response_bytes) {
    s->answer.body_too_large = 1;
    return 0;
  }
  lp_buf_add(&s->answer.body, data, n);
  return lp_buf_ok(&s->answer.body) ? n : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud) {
  lp_answer_header(&((lp_session *)ud)->answer, data, size * nmemb);
  return size * nmemb;
}

int lp_session_open(lp_session *s, const lp_session_options *o, lp_error *err) {
  if (lp_session_global_init() != 0) {
    lp_error_set(err, "config", "CurlInitFailed", NULL, "curl_global_init failed");
    return -1;
  }
  s->easy = curl_easy_init();
  if (!s->easy) {
    lp_error_set(err, "config", "CurlInitFailed", NULL, "curl_easy_init failed");
    return -1;
  }
  s->max_response_bytes = o->max_response_bytes;
  CURL *e = s->easy;
  CURLcode rc = CURLE_OK;
  /* Each option in turn; the first refusal is reported with its name. */
  struct { const char *name; CURLcode rc; } steps[] = {
    {"errorbuffer", curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf)},
    {"nosignal", curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L)},
    {"protocols", curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https")},
    {"follow", curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L)},
    {"verify_peer", curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L)},
    {"verify_host", curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L)},
    {"connect_timeout", curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms)},
    {"timeout", curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms)},
    {"tcp_keepalive", curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L)},
    {"user_agent", curl_easy_setopt(e, CURLOPT_USERAGENT, o->user_agent)},
    {"write", curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body)},
    {"write", curl_easy_setopt(e, CURLOPT_WRITEDATA, s)},
    {"header", curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header)},
    {"header", curl_easy_setopt(e, CURLOPT_HEADERDATA, s)},
    {"ca_file", o->ca_file ? curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file) : CURLE_OK},
    {"ca_path", o->ca_path ? curl_easy_setopt(e, CURLOPT_CAPATH, o->ca_path) : CURLE_OK},
    /* The proxy option is the only proxy: "" tells libcurl to ignore
     * http_proxy, HTTPS_PROXY, ALL_PROXY and NO_PROXY in the environment
     * (proxy = "env" has read them at new, into these two). */
    {"proxy", curl_easy_setopt(e, CURLOPT_PROXY, o->proxy ? o->proxy : "")},
    {"noproxy", curl_easy_setopt(e, CURLOPT_NOPROXY, o->no_proxy ? o->no_proxy : "")},
  };
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    if (steps[i].rc != CURLE_OK) {
      rc = steps[i].rc;
      lp_error_set(err, "config", "InvalidConfig", steps[i].name, "libcurl refused option %s: %s",
                   steps[i].name, curl_easy_strerror(rc));
      lp_session_close(s);
      return -1;
    }
  }
  return 0;
}

void lp_session_close(lp_session *s) {
  if (s->easy) curl_easy_cleanup(s->easy);
  s->easy = NULL;
  lp_buf_free(&s->answer.body);
}

/* Stable names for the libcurl failures a caller may want to tell apart. */
/* libcurl's codes as livepull's names; whether each is retryable is the
 * retry table's word (policy.c). */
static const struct { CURLcode rc; const char *code; } curl_codes[] = {
  {CURLE_COULDNT_RESOLVE_HOST, "CouldNotResolveHost"},
  {CURLE_COULDNT_RESOLVE_PROXY, "CouldNotResolveProxy"},
  {CURLE_COULDNT_CONNECT, "CouldNotConnect"},
  {CURLE_OPERATION_TIMEDOUT, "Timeout"},
  {CURLE_SEND_ERROR, "SendError"},
  {CURLE_RECV_ERROR, "ReceiveError"},
  {CURLE_GOT_NOTHING, "EmptyReply"},
  {CURLE_PARTIAL_FILE, "PartialResponse"},
  {CURLE_SSL_CONNECT_ERROR, "TLSConnectError"},
  {CURLE_PEER_FAILED_VERIFICATION, "TLSVerificationFailed"},
  {CURLE_SSL_CACERT_BADFILE, "TLSBadCAFile"},
  {CURLE_SSL_CERTPROBLEM, "TLSCertificateProblem"},
  {CURLE_URL_MALFORMAT, "MalformedURL"},
  {CURLE_UNSUPPORTED_PROTOCOL, "UnsupportedProtocol"},
  {CURLE_OUT_OF_MEMORY, "OutOfMemory"},
};

/* libcurl's messages may quote a proxy URL; its user:password@ becomes ***@. */
static void redact_user_info(char *msg, size_t size) {
  char out[sizeof(((lp_error *)0)->message)];
  size_t o = 0;
  const char *p = msg;
  if (size > sizeof out) size = sizeof out;
  while (*p && o + 1 < size) {
    if (strncmp(p, "://", 3) == 0) {
      size_t n = strcspn(p + 3, "/ '\"@");
      if (p[3 + n] == '@' && n > 0 && o + 7 < size) {
        memcpy(out + o, "://***", 6);
        o += 6;
        p += 3 + n;
        continue;
      }
    }
    out[o++] = *p++;
  }
  out[o] = '\0';
  memcpy(msg, out, o + 1);
}

void lp_session_begin(lp_session *s, const char *method, const char *url, struct curl_slist *headers) {
  CURL *e = s->easy;
  lp_answer *a = &s->answer;
  lp_buf_reset(&a->body);
  a->status = 0;
  a->body_too_large = 0;
  lp_answer_clear_headers(a);
  s->errbuf[0] = '\0';
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  if (strcmp(method, "POST") == 0) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
  } else {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }
}

int lp_session_finish(lp_session *s, CURLcode rc, lp_error *err) {
  CURL *e = s->easy;
  lp_answer *a = &s->answer;
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);   /* the list is freed by the caller */
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &a->status);
  if (rc == CURLE_OK && lp_buf_ok(&a->body)) return 0;

  if (a->body_too_large) {
    lp_error_set(err, "protocol", "ResponseTooLarge", NULL,
                 "the response body is larger than max_response_bytes (%zu bytes)",
                 s->max_response_bytes);
    return -1;
  }
  if (!lp_buf_ok(&a->body)) {
    lp_error_set(err, "transport", "OutOfMemory", NULL, "out of memory while reading the response");
    return -1;
  }
  lp_session_curl_error(rc, s->errbuf, err);
  return -1;
}

void lp_session_curl_error(CURLcode rc, const char *errbuf, lp_error *err) {
  const char *code = "CurlError";
  for (size_t i = 0; i < sizeof curl_codes / sizeof curl_codes[0]; i++)
    if (curl_codes[i].rc == rc) code = curl_codes[i].code;
  lp_error_set(err, "transport", code, NULL, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
  redact_user_info(err->message, sizeof err->message);
  err->curl_code = (long)rc;
  err->retryable = lp_code_retryable(code);
}

int lp_session_perform(lp_session *s, const char *method, const char *url,
                       struct curl_slist *headers, lp_error *err) {
  lp_session_begin(s, method, url, headers);
  return lp_session_finish(s, curl_easy_perform(s->easy), err);
}
