/* core.fetch: one HTTP exchange for a credential provider on its own libcurl
 * handle: no proxy from the environment, TLS verified, no redirects, the
 * time and the answer's size bounded, plain http only to loopback or the
 * instance metadata address. */
#include "fetch.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "args.h"
#include "buffer.h"
#include "error.h"
#include "session.h"

#define LP_FETCH_MT "livepull.fetch"
#define MAX_URL 8192
#define MAX_HEADER_BYTES (16 * 1024)
#define METADATA_HOST "100.100.100.200"   /* the ECS instance metadata service */

/* Everything one exchange allocates, owned by a userdata on the Lua stack so
 * an error raised half way frees it. */
typedef struct fetchwork {
  CURL *easy;
  CURLU *url;
  struct curl_slist *headers;
  lp_buf body, head;
  size_t max_bytes;
  int too_large;
  char errbuf[CURL_ERROR_SIZE];
} fetchwork;

static void fetchwork_free(fetchwork *w) {
  if (w->easy) curl_easy_cleanup(w->easy);
  if (w->url) curl_url_cleanup(w->url);
  curl_slist_free_all(w->headers);
  lp_buf_free(&w->body);
  lp_buf_free(&w->head);
  w->easy = NULL;
  w->url = NULL;
  w->headers = NULL;
}

static int fetchwork_gc(lua_State *L) {
  fetchwork_free((fetchwork *)lua_touserdata(L, 1));
  return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
  fetchwork *w = ud;
  size_t n = size * nmemb;
  if (w->body.len + n > w->max_bytes) { w->too_large = 1; return 0; }
  lp_buf_add(&w->body, data, n);
  return lp_buf_ok(&w->body) ? n : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud) {
  fetchwork *w = ud;
  size_t n = size * nmemb;
  if (n > 5 && memcmp(data, "HTTP/", 5) == 0) lp_buf_reset(&w->head);   /* a new answer (after 100) */
  if (w->head.len + n > MAX_HEADER_BYTES) { w->too_large = 1; return 0; }
  lp_buf_add(&w->head, data, n);
  return lp_buf_ok(&w->head) ? n : 0;
}

/* A string field (NULL when nil); the plain table keeps the string alive. */
static const char *str_field(lua_State *L, const char *name, size_t *len) {
  lua_getfield(L, 1, name);
  const char *s = NULL;
  if (lua_type(L, -1) == LUA_TSTRING) s = lua_tolstring(L, -1, len);
  else if (!lua_isnil(L, -1)) luaL_error(L, "fetch: %s must be a string", name);
  lua_pop(L, 1);
  return s;
}

static double num_field(lua_State *L, const char *name, double fallback, double max) {
  lua_getfield(L, 1, name);
  double x = lua_isnil(L, -1) ? fallback : lua_tonumber(L, -1);
  if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "fetch: %s must be a number", name);
  lua_pop(L, 1);
  if (!(x > 0 && x <= max)) luaL_error(L, "fetch: %s must be above 0 and at most %f", name, max);
  return x;
}

static int fail(lua_State *L, const char *kind, const char *code, const char *fmt, const char *arg) {
  char text[300];
  snprintf(text, sizeof text, fmt, arg);
  lua_pushnil(L);
  lp_error_new(L, kind, code, text);
  return 2;
}

static int is_loopback(const char *host) {
  if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0) return 1;
  if (strncmp(host, "127.", 4) != 0) return 0;
  for (const char *p = host + 4; *p; p++)
    if (!((*p >= '0' && *p <= '9') || *p == '.')) return 0;
  return 1;
}

/* Printable bytes and tab only: a value from a server (a metadata token)
 * never splits a header line. */
static int header_text_ok(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c < 0x20 && c != '\t') || c == 0x7F) return 0;
  }
  return 1;
}

/* NULL when the URL may be fetched, else the error code with its message
 * written to msg (nothing pushed, so the caller frees u first). */
static const char *url_problem(CURLU *u, const char *url, char *msg, size_t size) {
  char *scheme = NULL, *host = NULL;
  if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    curl_free(scheme);
    snprintf(msg, size, "the provider's address is not a URL");
    return "InvalidURL";
  }
  int https = strcmp(scheme, "https") == 0, http = strcmp(scheme, "http") == 0;
  int ok = https || (http && (is_loopback(host) || strcmp(host, METADATA_HOST) == 0));
  curl_free(scheme);
  curl_free(host);
  if (ok) return NULL;
  snprintf(msg, size, "%s: a provider's address must be https:// (plain http only on loopback or to the "
           "instance metadata address " METADATA_HOST ")", http ? "plain http" : "unknown scheme");
  return "InsecureURL";
}

static int check_url(lua_State *L, fetchwork *w, const char *url) {
  char msg[300];
  w->url = curl_url();
  const char *code = url_problem(w->url, url, msg, sizeof msg);
  if (!code) return 0;
  return fail(L, "config", code, "%s", msg);
}

/* core.fetch_check(url) -> true | nil, err: the same URL rule, for the
 * cosocket transport of livepull.resty. */
int lp_fetch_check(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  char msg[300];
  CURLU *u = curl_url();
  const char *code = url_problem(u, url, msg, sizeof msg);
  curl_url_cleanup(u);
  if (code) return fail(L, "config", code, "%s", msg);
  lua_pushboolean(L, 1);
  return 1;
}

/* The answer's headers as { [lowercase name] = value } (a repeated name keeps the last). */
static void push_headers(lua_State *L, fetchwork *w) {
  lua_newtable(L);
  const char *p = w->head.data, *end = p ? p + w->head.len : NULL;
  while (p && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (colon && colon > p) {
      char name[128];
      size_t n = (size_t)(colon - p) < sizeof name ? (size_t)(colon - p) : sizeof name - 1;
      for (size_t i = 0; i < n; i++) name[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] + 32) : p[i];
      const char *v = colon + 1, *ve = eol;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      lua_pushlstring(L, name, n);
      lua_pushlstring(L, v, (size_t)(ve - v));
      lua_rawset(L, -3);
    }
    p = eol + 1;
  }
}

int lp_fetch(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argcheck(L, lp_is_plain_table(L, 1), 1, "a plain table");
  size_t url_len = 0, body_len = 0, n = 0;
  const char *method = str_field(L, "method", &n);
  const char *url = str_field(L, "url", &url_len);
  const char *body = str_field(L, "body", &body_len);
  const char *ca_file = str_field(L, "ca_file", &n), *ca_path = str_field(L, "ca_path", &n);
  if (!method) method = "GET";
  if (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0 && strcmp(method, "POST") != 0)
    return luaL_error(L, "fetch: method must be GET, PUT or POST");
  if (!url || url_len > MAX_URL) return luaL_error(L, "fetch: url must be a string of at most %d bytes", MAX_URL);
  double connect_timeout = num_field(L, "connect_timeout", 5, 60);
  double timeout = num_field(L, "timeout", 10, 600);
  double max_bytes = num_field(L, "max_bytes", 65536, 16 * 1024 * 1024);
  lua_getfield(L, 1, "headers");
  int headers_idx = lua_gettop(L);
  if (!lua_isnil(L, headers_idx)) luaL_checktype(L, headers_idx, LUA_TTABLE);

  fetchwork *w = (fetchwork *)lua_newuserdata(L, sizeof *w);
  memset(w, 0, sizeof *w);
  if (luaL_newmetatable(L, LP_FETCH_MT)) {
    lua_pushcfunction(L, fetchwork_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  int work = lua_gettop(L);
  w->max_bytes = (size_t)max_bytes;
  if (check_url(L, w, url) != 0) return 2;
  if (lua_istable(L, headers_idx)) {
    lp_buf line = {0};
    lua_pushnil(L);
    while (lua_next(L, headers_idx)) {
      size_t kn = 0, vn = 0;
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
        lp_buf_free(&line);
        return luaL_error(L, "fetch: headers must map names to strings");
      }
      const char *k = lua_tolstring(L, -2, &kn), *v = lua_tolstring(L, -1, &vn);
      if (!header_text_ok(k, kn) || !header_text_ok(v, vn) || memchr(k, ':', kn) || kn == 0) {
        lp_buf_free(&line);
        lua_settop(L, work);
        return fail(L, "config", "InvalidHeader", "%s", "a header name or value holds a control character");
      }
      lp_buf_reset(&line);
      lp_buf_add(&line, k, kn);
      lp_buf_add(&line, ": ", 2);
      lp_buf_add(&line, v, vn);
      struct curl_slist *next = lp_buf_cstr(&line) ? curl_slist_append(w->headers, line.data) : NULL;
      if (!next) { lp_buf_free(&line); return luaL_error(L, "fetch: out of memory"); }
      w->headers = next;
      lua_pop(L, 1);
    }
    lp_buf_free(&line);
  }
  struct curl_slist *next = curl_slist_append(w->headers, "Expect:");
  if (!next) return luaL_error(L, "fetch: out of memory");
  w->headers = next;

  if (lp_session_global_init() != 0 || !(w->easy = curl_easy_init()))
    return fail(L, "transport", "CurlInitFailed", "%s", "libcurl could not start a transfer");
  CURL *e = w->easy;
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, w->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROXY, "");   /* never a proxy from the environment */
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)ceil(connect_timeout * 1000));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ceil(timeout * 1000));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, w);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, w);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->headers);
  curl_easy_setopt(e, CURLOPT_CURLU, w->url);
  if (ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
  if (ca_path) curl_easy_setopt(e, CURLOPT_CAPATH, ca_path);
  if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");   /* the args table holds it */
    if (strcmp(method, "PUT") == 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
  }
  CURLcode rc = curl_easy_perform(e);
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  if (w->too_large)
    return fail(L, "protocol", "ResponseTooLarge", "%s", "the provider's answer is larger than its limit");
  if (rc != CURLE_OK || !lp_buf_ok(&w->body) || !lp_buf_ok(&w->head)) {
    lp_error err;
    lp_session_curl_error(rc == CURLE_OK ? CURLE_OUT_OF_MEMORY : rc, w->errbuf, &err);
    lua_pushnil(L);
    lp_error_push(L, &err);
    return 2;
  }
  lua_pushinteger(L, status);
  push_headers(L, w);
  lua_pushlstring(L, w->body.data ? w->body.data : "", w->body.len);
  fetchwork_free(w);   /* the connection closes now, not at the next collection */
  return 3;
}
