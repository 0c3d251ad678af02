/* The transport floor of a round trip: the very GET livepull sends (URL and
 * headers taken from a real client:prepare), ITERATIONS times over one reused
 * libcurl easy handle with the options livepull's session sets. No Lua, no
 * validation, no signing, no JSON: only libcurl and the loopback socket.
 *
 * Usage: curl_floor URL HEADER_FILE ITERATIONS   (HEADER_FILE: "name: value" lines)
 * Prints: ns_per_call, cpu_ns_per_call and connects (1 when keep-alive held) */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

typedef struct body {
  size_t len;
  char data[65536];
} body;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
  body *b = ud;
  size_t n = size * nmemb;
  if (n > sizeof b->data - b->len) return 0;   /* fails the transfer, as a cap would */
  memcpy(b->data + b->len, data, n);
  b->len += n;
  return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud) {
  (void)data;
  (void)ud;
  return size * nmemb;
}

static struct curl_slist *read_headers(const char *path) {
  char line[20000];
  struct curl_slist *list = NULL;
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0]) list = curl_slist_append(list, line);
  }
  fclose(f);
  return list ? curl_slist_append(list, "Expect:") : NULL;   /* as livepull does */
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  static body b;
  char errbuf[CURL_ERROR_SIZE] = "";
  long iterations = argc == 4 ? atol(argv[3]) : 0;
  if (iterations <= 0) {
    fprintf(stderr, "usage: curl_floor URL HEADER_FILE ITERATIONS\n");
    return 2;
  }
  struct curl_slist *headers = read_headers(argv[2]);
  CURL *e = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? curl_easy_init() : NULL;
  if (!headers || !e) {
    fprintf(stderr, "curl_floor: cannot read %s or start libcurl\n", argv[2]);
    return 1;
  }
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_URL, argv[1]);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);

  long connects = 0;
  double t0 = 0;
  clock_t c0 = 0;   /* this process's CPU time, beside the wall time */
  for (long i = -iterations / 10; i < iterations; i++) {   /* the first tenth warms up */
    long status = 0, fresh = 0;
    if (i == 0) { t0 = now_ns(); c0 = clock(); }
    b.len = 0;
    CURLcode rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &fresh);
    connects += fresh;
    if (rc != CURLE_OK || status != 200 || b.len == 0) {
      fprintf(stderr, "curl_floor: request failed (curl %d, HTTP %ld): %s\n", (int)rc, status, errbuf);
      return 1;
    }
  }
  double elapsed = now_ns() - t0, cpu = (double)(clock() - c0) * 1e9 / CLOCKS_PER_SEC;
  printf("ns_per_call=%.1f\ncpu_ns_per_call=%.1f\nconnects=%ld\n", elapsed / (double)iterations,
         cpu / (double)iterations, connects);
  curl_easy_cleanup(e);
  curl_slist_free_all(headers);
  curl_global_cleanup();
  return 0;
}
