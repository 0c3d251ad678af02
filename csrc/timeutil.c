/* UTC times as YYYY-MM-DDTHH:MM:SSZ: now, formatting and parsing. */
#include "timeutil.h"

#include <time.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil algorithm, which needs no tables and no timegm). */
static long long days_from_civil(long long y, unsigned m, unsigned d) {
  y -= m <= 2;
  long long era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (long long)doe - 719468;
}

static void civil_from_days(long long z, long long *y, unsigned *m, unsigned *d) {
  z += 719468;
  long long era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (long long)yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, int n, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (unsigned)(c - '0');
  }
  *out = v;
  return 0;
}

static int is_leap(unsigned y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int lp_time_parse(const char *s, size_t n, long long *epoch) {
  static const unsigned char mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  unsigned y, mo, d, h, mi, sec;
  if (n != LP_TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != 'Z')
    return -1;
  if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
      digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec))
    return -1;
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return -1;
  if (d > (unsigned)mdays[mo - 1] + (mo == 2 && is_leap(y))) return -1;
  *epoch = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
  return 0;
}

void lp_time_format(long long epoch, char out[LP_TIME_LEN + 1]) {
  long long y;
  unsigned m, d;
  civil_from_days(epoch / 86400, &y, &m, &d);
  unsigned rem = (unsigned)(epoch % 86400);
  /* Digits by hand (this runs for every request); the callers keep epoch
   * within [0, LP_TIME_MAX], so the year has 4 digits. */
  unsigned parts[] = {(unsigned)y / 100 % 100, (unsigned)y % 100, m, d, rem / 3600, rem / 60 % 60, rem % 60};
  static const char after[7] = {0, '-', '-', 'T', ':', ':', 'Z'};   /* cc yy-MM-DDThh:mm:ssZ */
  char *p = out;
  for (int i = 0; i < 7; i++) {
    *p++ = (char)('0' + parts[i] / 10);
    *p++ = (char)('0' + parts[i] % 10);
    if (after[i]) *p++ = after[i];
  }
  *p = '\0';
}

long long lp_time_now(void) { return (long long)time(NULL); }
