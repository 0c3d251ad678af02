/* UTC times in the one form the API takes: YYYY-MM-DDTHH:MM:SSZ. */
#ifndef LIVEPULL_TIMEUTIL_H
#define LIVEPULL_TIMEUTIL_H

#include <stddef.h>

#define LP_TIME_LEN 20          /* strlen("2030-08-23T15:30:00Z") */
#define LP_TIME_MAX 253402300799LL  /* 9999-12-31T23:59:59Z */

/* Parses exactly YYYY-MM-DDTHH:MM:SSZ naming a real date and time (no
 * Feb 30, no hour 24, no leap second) from 1970 on. 0 ok, -1 otherwise. */
int lp_time_parse(const char *s, size_t n, long long *epoch);

/* Formats 0 <= epoch <= LP_TIME_MAX into out (LP_TIME_LEN + 1 bytes). */
void lp_time_format(long long epoch, char out[LP_TIME_LEN + 1]);

/* The current UTC time in seconds. */
long long lp_time_now(void);

#endif
