/* Signing: a pure function of (request, credentials, timestamp, nonce).
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

typedef struct lp_sign_input {
  const lp_signer *signer;
  const char *method;      /* "GET" / "POST" */
  const char *authority;   /* host[:port], signed as the host header */
  const char *action, *version;
  const char *format;      /* V1 only: "JSON" */
  const char *access_key_id;
  const char *security_token;   /* NULL without STS */
  const char *timestamp, *nonce;
} lp_sign_input;

/* Signs req (V1 adds the common parameters to it) into out: the query
 * string, the headers to send and, for inspection, the canonical form, the
 * string to sign and the signature. 0 ok, -1 out of memory. */
int lp_sign(const lp_sign_input *in, lp_request *req, lp_signed *out);

/* Canonical query of req's params: sorted by name, percent-encoded. */
void lp_canonical_query(const lp_request *req, lp_buf *out);

#endif
