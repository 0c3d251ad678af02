/* Nonces from the kernel's CSPRNG, pooled per client and per process, and
 * xorshift64* jitter. */
#define _GNU_SOURCE   /* getrandom */
#include "random.h"

#include <errno.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "encode.h"
#include "policy.h"
#include "process.h"

/* getrandom(2), which OpenSSL's own generator seeds from: a command that
 * sends one request over plain HTTP then never sets up OpenSSL's DRBG
 * (about a third of a millisecond at start-up). RAND_bytes only where the
 * kernel has no getrandom. 0 ok, -1 failed. */
static int fill_random(unsigned char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = getrandom(buf + got, n - got, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return RAND_bytes(buf + got, (int)(n - got)) == 1 ? 0 : -1;
    got += (size_t)k;
  }
  return 0;
}

void lp_random_init(lp_random *r) {
  r->used = sizeof r->pool;   /* empty: filled at the first nonce */
  r->generation = 0;
  if (fill_random((unsigned char *)&r->jitter, sizeof r->jitter) != 0 || r->jitter == 0)
    r->jitter = 0x9E3779B97F4A7C15ULL ^ (unsigned long long)lp_monotonic();
}

void lp_random_free(lp_random *r) { OPENSSL_cleanse(r->pool, sizeof r->pool); }

int lp_random_nonce(lp_random *r, char out[LP_NONCE_LEN + 1]) {
  unsigned long generation = lp_process_generation();
  /* A child refills its own pool: no two processes send one nonce. */
  if (r->used + LP_NONCE_LEN / 2 > sizeof r->pool || r->generation != generation) {
    if (fill_random(r->pool, sizeof r->pool) != 0) return -1;
    r->used = 0;
    r->generation = generation;
  }
  lp_hex(out, r->pool + r->used, LP_NONCE_LEN / 2);
  OPENSSL_cleanse(r->pool + r->used, LP_NONCE_LEN / 2);
  r->used += LP_NONCE_LEN / 2;
  return 0;
}

double lp_random_unit(lp_random *r) {
  r->jitter ^= r->jitter >> 12;
  r->jitter ^= r->jitter << 25;
  r->jitter ^= r->jitter >> 27;
  return (double)((r->jitter * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}
