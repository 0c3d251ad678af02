/* lp_time_parse / lp_time_format. Every accepted string must format back to
 * itself, and the accepted set must be exactly the one a reference validator
 * (written from the rules in docs/api.md) accepts; every epoch in [0, LP_TIME_MAX]
 * must format to a string that parses back to it. The reference epoch uses
 * day counting, not the civil-date algorithm in csrc/timeutil.c. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "timeutil.h"

static int ref_leap(long y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static long ref_num(const char *s, int n) {
  long v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/* Leap days in the years [1, y). */
static long leaps_before(long y) { return (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400; }

/* The epoch of s, or -1 when s is not YYYY-MM-DDTHH:MM:SSZ naming a real UTC
 * time from 1970 on. */
static long long ref_parse(const char *s, size_t n) {
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (n != 20) return -1;
  if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z')
    return -1;
  long y = ref_num(s, 4), mo = ref_num(s + 5, 2), d = ref_num(s + 8, 2);
  long h = ref_num(s + 11, 2), mi = ref_num(s + 14, 2), sec = ref_num(s + 17, 2);
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
      sec < 0 || sec > 59)
    return -1;
  long dim = mdays[mo - 1] + (mo == 2 && ref_leap(y));
  if (d > dim) return -1;
  long long days = 365LL * (y - 1970) + leaps_before(y) - leaps_before(1970);
  for (long m = 1; m < mo; m++) days += mdays[m - 1] + (m == 2 && ref_leap(y));
  days += d - 1;
  return days * 86400 + h * 3600 + mi * 60 + sec;
}

static void check_epoch(long long e) {
  char out[LP_TIME_LEN + 1];
  memset(out, 'x', sizeof out);
  lp_time_format(e, out);
  FUZZ_CHECK(out[LP_TIME_LEN] == '\0' && strlen(out) == LP_TIME_LEN);
  FUZZ_CHECK(ref_parse(out, LP_TIME_LEN) == e);
  long long back = -1;
  FUZZ_CHECK(lp_time_parse(out, LP_TIME_LEN, &back) == 0);
  FUZZ_CHECK(back == e);
}

/* Once per run: both ends of the range and one second of every day in it
 * (a different time of day each), so "every epoch" holds for every date and
 * not only for the dates the fuzzer happens to reach. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  check_epoch(0);
  check_epoch(LP_TIME_MAX);
  for (long long day = 0; day <= LP_TIME_MAX / 86400; day++)
    check_epoch(day * 86400 + day * 7919 % 86400);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  long long want = ref_parse(s, size);
  long long got = -2;
  int rc = lp_time_parse(s, size, &got);
  FUZZ_CHECK(rc == 0 || rc == -1);
  FUZZ_CHECK((rc == 0) == (want >= 0));
  if (rc == 0) {
    FUZZ_CHECK(got == want);
    FUZZ_CHECK(got >= 0 && got <= LP_TIME_MAX);
    char out[LP_TIME_LEN + 1];
    lp_time_format(got, out);
    FUZZ_CHECK(memcmp(out, s, LP_TIME_LEN) == 0);
  }

  /* The same bytes read as an epoch in range. */
  uint64_t v = 0;
  for (size_t i = 0; i < size && i < 8; i++) v = v << 8 | data[i];
  check_epoch((long long)(v % (uint64_t)(LP_TIME_MAX + 1)));
  return 0;
}
