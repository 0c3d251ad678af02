/* A client's randomness: signature nonces from the CSPRNG (pooled, never
 * shared with a forked child) and cheap uniform numbers for retry jitter. */
#ifndef LIVEPULL_RANDOM_H
#define LIVEPULL_RANDOM_H

#include <stddef.h>

#define LP_NONCE_LEN 32   /* hex characters: 128 bits */

typedef struct lp_random {
  /* One getrandom call per 64 nonces; a used nonce is wiped from the pool. */
  unsigned char pool[1024];
  size_t used;
  unsigned long generation;   /* the process generation the pool was filled in */
  unsigned long long jitter;  /* xorshift64* state: not for secrets */
} lp_random;

/* Seeds the jitter; the pool fills at the first nonce. */
void lp_random_init(lp_random *r);
/* Wipes the pool. */
void lp_random_free(lp_random *r);
/* A fresh nonce as LP_NONCE_LEN hex characters and a NUL. 0 ok, -1 when the
 * CSPRNG failed. */
int lp_random_nonce(lp_random *r, char out[LP_NONCE_LEN + 1]);
/* A uniform number in [0, 1). */
double lp_random_unit(lp_random *r);

#endif
