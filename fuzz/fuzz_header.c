/* Response header lines (lp_answer_header in csrc/answer.c, what libcurl's
 * header callback feeds). Each line is handed over in an allocation of
 * exactly its length, without a NUL, as libcurl does, so ASan sees any read
 * past it. The kept values must stay NUL-terminated inside their slots, and
 * x-acs-request-id / x-acs-retry-after must hold the last such header since
 * the last status line, trimmed of OWS (RFC 9110) and CRLF and cut to fit,
 * as modelled here. Built by fuzz/run only when csrc/answer.c exists. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "check.h"

typedef struct model { char value[256]; size_t len; } model;

static int ieq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
    if (x != y) return 0;
  }
  return 1;
}

/* Records line's value in m when it is the header `name` (lowercase). */
static void model_line(model *m, const char *name, const char *line, size_t n, size_t cap) {
  size_t k = strlen(name);
  if (n <= k || line[k] != ':' || !ieq(line, name, k)) return;
  const char *v = line + k + 1;
  size_t len = n - k - 1;
  while (len && (v[0] == ' ' || v[0] == '\t')) v++, len--;
  while (len && (v[len - 1] == ' ' || v[len - 1] == '\t' || v[len - 1] == '\r' ||
                 v[len - 1] == '\n'))
    len--;
  if (len > cap - 1) len = cap - 1;
  memcpy(m->value, v, len);
  m->len = len;
}

static void check_slot(const char *slot, size_t size, const model *m) {
  FUZZ_CHECK(memchr(slot, '\0', size) != NULL);
  /* A NUL inside the value ends the C string early: compare up to it. */
  size_t want = strnlen(m->value, m->len);
  FUZZ_CHECK(strlen(slot) == want && memcmp(slot, m->value, want) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lp_answer a;
  memset(&a, 0, sizeof a);
  model rid = {{0}, 0}, retry = {{0}, 0};
  size_t i = 0;
  while (i < size) {
    size_t end = i;
    while (end < size && data[end] != '\n') end++;
    if (end < size) end++;   /* the line keeps its '\n', as libcurl passes it */
    size_t n = end - i;
    char *line = malloc(n ? n : 1);
    FUZZ_CHECK(line != NULL);
    memcpy(line, data + i, n);
    lp_answer_header(&a, line, n);
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
      rid.len = retry.len = 0;
    } else {
      model_line(&rid, "x-acs-request-id", line, n, sizeof a.request_id);
      model_line(&retry, "x-acs-retry-after", line, n, sizeof a.retry_after);
    }
    free(line);
    check_slot(a.request_id, sizeof a.request_id, &rid);
    check_slot(a.retry_after, sizeof a.retry_after, &retry);
    FUZZ_CHECK(memchr(a.rate_limit, '\0', sizeof a.rate_limit) != NULL);
    double hint = lp_answer_retry_hint(&a);
    FUZZ_CHECK(!isnan(hint) && (hint == -1 || hint >= 0));
    i = end;
  }
  return 0;
}
