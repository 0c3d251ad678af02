/* One HTTP exchange's answer: status, body and the headers livepull reads
 * (request ID, retry hints), parsed without libcurl. */
#include "answer.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void lp_answer_clear_headers(lp_answer *a) {
  a->request_id[0] = a->retry_after[0] = a->rate_limit[0] = '\0';
}

static void copy_value(char *out, size_t outsize, const char *v, size_t n) {
  while (n && (v[0] == ' ' || v[0] == '\t')) { v++; n--; }
  while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  if (n >= outsize) n = outsize - 1;
  memcpy(out, v, n);
  out[n] = '\0';
}

#define SLOT(field) offsetof(lp_answer, field), sizeof(((lp_answer *)0)->field)

static const struct {
  const char *name;
  size_t off, size;
  int only_if_empty;   /* x-ratelimit-user yields to x-ratelimit-user-api */
} wanted[] = {
  {"x-acs-request-id", SLOT(request_id), 0},
  {"x-acs-retry-after", SLOT(retry_after), 0},
  {"x-ratelimit-user-api", SLOT(rate_limit), 0},
  {"x-ratelimit-user", SLOT(rate_limit), 1},
};

void lp_answer_header(lp_answer *a, const char *line, size_t n) {
  if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {   /* a new response (after 1xx, proxies) */
    lp_answer_clear_headers(a);
    return;
  }
  for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
    size_t k = strlen(wanted[i].name);
    char *slot = (char *)a + wanted[i].off;
    if (n > k && line[k] == ':' && strncasecmp(line, wanted[i].name, k) == 0 &&
        !(wanted[i].only_if_empty && slot[0]))
      copy_value(slot, wanted[i].size, line + k + 1, n - k - 1);
  }
}

/* A non-negative whole number of milliseconds at s, else -1. */
static double millis(const char *s) {
  char *end;
  if (*s < '0' || *s > '9') return -1;
  double v = strtod(s, &end);
  return end == s ? -1 : v / 1000.0;
}

double lp_answer_retry_hint(const lp_answer *a) {
  if (a->retry_after[0]) {
    double s = millis(a->retry_after);
    if (s >= 0) return s;
  }
  const char *t = strstr(a->rate_limit, "TimeLeft:");   /* Limit:10,Remain:0,TimeLeft:200,Reset:... */
  return t ? millis(t + 9) : -1;
}
