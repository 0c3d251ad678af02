/* The crypto floor of a signature: exactly the hashing the signer must do and
 * nothing else, over inputs as long as livepull's real ones.
 *   v3  SHA-256 over the canonical request, then HMAC-SHA256 over the string to sign
 *   v1  HMAC-SHA1 over the string to sign (the key is the secret and '&')
 * "oneshot" calls EVP_Digest() and HMAC() as csrc/sign.c does: the floor the
 * targets are checked against. "kept" fetches the digest and keys the MAC once
 * and only re-initialises them per call: what the same hashing costs without
 * OpenSSL 3's per-call algorithm fetch and context set-up.
 *
 * Usage: hmac_floor v3|v1 oneshot|kept ITERATIONS CANONICAL_LEN STS_LEN KEY_LEN
 * Prints: ns_per_call and cpu_ns_per_call */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

typedef struct input {
  int v3;
  unsigned char *canonical, *sts, *key;
  size_t canonical_len, sts_len, key_len;
} input;

typedef struct kept {
  EVP_MD *sha256;
  EVP_MD_CTX *md;
  EVP_MAC_CTX *mac;
} kept;

static unsigned sink;   /* every result feeds it, so no call can be optimised away */

static int oneshot_call(const input *in) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (in->v3 && !EVP_Digest(in->canonical, in->canonical_len, out, &len, EVP_sha256(), NULL))
    return -1;
  if (!HMAC(in->v3 ? EVP_sha256() : EVP_sha1(), in->key, (int)in->key_len, in->sts, in->sts_len,
            out, &len))
    return -1;
  sink += out[0];
  return 0;
}

static int kept_open(kept *k, const input *in) {
  EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  OSSL_PARAM params[] = {
    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, in->v3 ? "SHA256" : "SHA1", 0),
    OSSL_PARAM_construct_end(),
  };
  k->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  k->md = EVP_MD_CTX_new();
  k->mac = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
  EVP_MAC_free(hmac);   /* the context holds its own reference */
  if (!k->sha256 || !k->md || !k->mac) return -1;
  return EVP_MAC_init(k->mac, in->key, in->key_len, params) ? 0 : -1;
}

static int kept_call(const input *in, kept *k) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  size_t mac_len = 0;
  if (in->v3 && (!EVP_DigestInit_ex2(k->md, k->sha256, NULL) ||
                 !EVP_DigestUpdate(k->md, in->canonical, in->canonical_len) ||
                 !EVP_DigestFinal_ex(k->md, out, &len)))
    return -1;
  /* A NULL key re-initialises HMAC with the key it already holds. */
  if (!EVP_MAC_init(k->mac, NULL, 0, NULL) || !EVP_MAC_update(k->mac, in->sts, in->sts_len) ||
      !EVP_MAC_final(k->mac, out, &mac_len, sizeof out))
    return -1;
  sink += out[0];
  return 0;
}

static unsigned char *filled(size_t n, int c) {
  unsigned char *p = malloc(n ? n : 1);
  if (p) memset(p, c, n);
  return p;
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 7 || (strcmp(argv[1], "v3") && strcmp(argv[1], "v1")) ||
      (strcmp(argv[2], "oneshot") && strcmp(argv[2], "kept"))) {
    fprintf(stderr, "usage: hmac_floor v3|v1 oneshot|kept ITERATIONS CANONICAL_LEN STS_LEN KEY_LEN\n");
    return 2;
  }
  long iterations = atol(argv[3]);
  input in = {
    .v3 = strcmp(argv[1], "v3") == 0,
    .canonical_len = (size_t)atol(argv[4]), .sts_len = (size_t)atol(argv[5]),
    .key_len = (size_t)atol(argv[6]),
  };
  in.canonical = filled(in.canonical_len, 'c');
  in.sts = filled(in.sts_len, 's');
  in.key = filled(in.key_len, 'k');
  kept k = {NULL, NULL, NULL};
  int use_kept = strcmp(argv[2], "kept") == 0;
  if (iterations <= 0 || !in.canonical || !in.sts || !in.key || (use_kept && kept_open(&k, &in) != 0)) {
    fprintf(stderr, "hmac_floor: bad arguments or OpenSSL set-up failed\n");
    return 1;
  }

  double t0 = 0;
  clock_t c0 = 0;   /* this process's CPU time, beside the wall time */
  for (long i = -iterations / 10; i < iterations; i++) {   /* the first tenth warms up */
    if (i == 0) { t0 = now_ns(); c0 = clock(); }
    if ((use_kept ? kept_call(&in, &k) : oneshot_call(&in)) != 0) {
      fprintf(stderr, "hmac_floor: OpenSSL failed\n");
      return 1;
    }
  }
  double elapsed = now_ns() - t0, cpu = (double)(clock() - c0) * 1e9 / CLOCKS_PER_SEC;
  printf("ns_per_call=%.1f\ncpu_ns_per_call=%.1f\nsink=%u\n", elapsed / (double)iterations,
         cpu / (double)iterations, sink);

  EVP_MAC_CTX_free(k.mac);
  EVP_MD_CTX_free(k.md);
  EVP_MD_free(k.sha256);
  free(in.canonical);
  free(in.sts);
  free(in.key);
  return 0;
}
