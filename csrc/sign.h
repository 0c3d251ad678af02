/* Signing: a pure function of (request value, credentials, time, nonce).
 * It never touches the network or Lua; tests feed it the published vectors. */
#ifndef LIVEPULL_SIGN_H
#define LIVEPULL_SIGN_H

#include <openssl/evp.h>

#include "request.h"

typedef enum { LP_ALG_ACS3_HMAC_SHA256 = 0, LP_ALG_HMAC_SHA1 = 1 } lp_algorithm;

/* An algorithm and an HMAC keyed once with the secret (V1: secret + "&"),
 * so signing pays no OpenSSL fetch or re-key per request and the raw secret
 * need not travel with each request. */
typedef struct lp_signer {
  lp_algorithm algorithm;
  EVP_MAC_CTX *mac;
  EVP_MD *sha256;   /* fetched once: the V3 canonical request's digest */
} lp_signer;

/* 0 ok, -1 when OpenSSL failed or the secret is over 512 bytes. */
int lp_signer_init(lp_signer *s, lp_algorithm algorithm, const char *secret);
void lp_signer_free(lp_signer *s);

/* Who signs, when and with which nonce. */
typedef struct lp_sign_input {
  const lp_signer *signer;
  const char *access_key_id;
  const char *security_token;   /* NULL without STS */
  const char *timestamp, *nonce;
} lp_sign_input;

/* Signs the request value r into out: the query string to send, the
 * headers to add (the signed ones and authorization) and, for inspection,
 * the canonical form, the string to sign and the signature. r and its
 * parameters are only read (V1's common parameters are merged into the
 * query, not added to the request), so an attempt signs the same value
 * again. 0 ok, -1 out of memory or an unkeyed signer. */
int lp_sign(const lp_sign_input *in, const lp_http_request *r, lp_signed *out);

#endif
