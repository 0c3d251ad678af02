/* What came back from one HTTP exchange: the status, the body and the few
 * headers livepull reads. Header lines are parsed here, without libcurl, so
 * any transport (and the fuzzer) can feed them. */
#ifndef LIVEPULL_ANSWER_H
#define LIVEPULL_ANSWER_H

#include <stddef.h>

#include "buffer.h"

typedef struct lp_answer {
  long status;
  lp_buf body;
  int body_too_large;
  char request_id[80];     /* x-acs-request-id */
  char retry_after[32];    /* x-acs-retry-after (ms) */
  char rate_limit[160];    /* x-ratelimit-user-api, else x-ratelimit-user */
} lp_answer;

/* Forgets the headers of an earlier response (a new status line). */
void lp_answer_clear_headers(lp_answer *a);

/* Reads one raw header line ("Name: value\r\n" or a status line). */
void lp_answer_header(lp_answer *a, const char *line, size_t n);

/* The wait the server asks for before a retry, in seconds: x-acs-retry-after
 * (ms), else TimeLeft:<ms> of the rate-limit header; -1 when there is none. */
double lp_answer_retry_hint(const lp_answer *a);

#endif
