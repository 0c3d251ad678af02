/* The signers, ACS3-HMAC-SHA256 and the RPC HMAC-SHA1, over a const request
 * value: the query and headers to add, never a write to the request. */
#include "sign.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "encode.h"

/* OpenSSL 3 looks an algorithm up by name on every implicit use (EVP_sha256()
 * in a one-shot call): each signer fetches what it needs once and keeps it.
 * No process-wide state: what a signer fetched, it frees. */
int lp_signer_init(lp_signer *s, lp_algorithm algorithm, const char *secret) {
  char key[520];
  size_t len = strlen(secret);
  s->algorithm = algorithm;
  s->mac = NULL;
  s->sha256 = NULL;
  if (len > 512) return -1;
  memcpy(key, secret, len);
  if (algorithm == LP_ALG_HMAC_SHA1) key[len++] = '&';
  char digest[8];
  strcpy(digest, algorithm == LP_ALG_HMAC_SHA1 ? "SHA1" : "SHA256");
  OSSL_PARAM params[] = {
    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
    OSSL_PARAM_construct_end(),
  };
  EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  s->mac = hmac ? EVP_MAC_CTX_new(hmac) : NULL;   /* the context keeps its own reference */
  EVP_MAC_free(hmac);
  s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  int ok = s->mac && s->sha256 && EVP_MAC_init(s->mac, (const unsigned char *)key, len, params);
  OPENSSL_cleanse(key, sizeof key);
  if (!ok) lp_signer_free(s);
  return ok ? 0 : -1;
}

void lp_signer_free(lp_signer *s) {
  EVP_MAC_CTX_free(s->mac);   /* OpenSSL wipes the keyed state */
  EVP_MD_free(s->sha256);
  s->mac = NULL;
  s->sha256 = NULL;
}

/* One HMAC with the signer's key: re-initialising without a key keeps it. */
static int signer_mac(const lp_signer *s, const char *data, size_t len, unsigned char *out,
                      size_t *out_len) {
  return EVP_MAC_init(s->mac, NULL, 0, NULL) &&
         EVP_MAC_update(s->mac, (const unsigned char *)data, len) &&
         EVP_MAC_final(s->mac, out, out_len, EVP_MAX_MD_SIZE);
}

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* One name=value pair to sign: a request parameter, or one of V1's common
 * parameters, which are merged here rather than added to the request. */
typedef struct sign_pair {
  const char *name, *value;
  size_t name_len, value_len;
} sign_pair;

#define MAX_COMMON 9

/* Byte order of names, a shorter prefix first: memcmp's order, inline,
 * as names nearly always differ in their first byte. */
static int pair_less(const sign_pair *a, const sign_pair *b) {
  size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
  const unsigned char *x = (const unsigned char *)a->name, *y = (const unsigned char *)b->name;
  for (size_t i = 0; i < n; i++)
    if (x[i] != y[i]) return x[i] < y[i];
  return a->name_len < b->name_len;
}

/* The canonical query of req's parameters and the extra pairs (already in
 * order): the parameters sorted by name (insertion sort: a few dozen at
 * most), merged with the extras, percent-encoded; a parameter comes before
 * an extra of the same name. With twice, also appends that query
 * percent-encoded again (V1's string to sign), in the same pass. Room for
 * the worst case is reserved once, so the loop writes without checks. */
static void canonical_query(const lp_request *req, const sign_pair *extra, int nextra, lp_buf *out,
                            lp_buf *twice) {
  sign_pair params[LP_MAX_PARAMS], pairs[LP_MAX_PARAMS + MAX_COMMON];
  int np = 0, n = 0;
  size_t bytes = 0;
  for (int i = 0; i < req->nparams; i++) {
    const lp_param *p = &req->params[i];
    sign_pair x = {p->name, req->arena.data + p->value_off, p->name_len, p->value_len};
    int j = np++;
    for (; j > 0 && pair_less(&x, &params[j - 1]); j--) params[j] = params[j - 1];
    params[j] = x;
    bytes += x.name_len + x.value_len + 2;
  }
  for (int i = 0; i < nextra; i++) bytes += extra[i].name_len + extra[i].value_len + 2;
  for (int i = 0, j = 0; i < np || j < nextra;)   /* the merge: one comparison per pair */
    pairs[n++] = j >= nextra || (i < np && !pair_less(&extra[j], &params[i])) ? params[i++] : extra[j++];
  /* 3 (5 twice) bytes per source byte at most ('&' and '=' included), and the encoders' slack. */
  if (lp_buf_reserve(out, lp_encode_room(bytes, 3)) != 0 ||
      (twice && lp_buf_reserve(twice, lp_encode_room(bytes, 5)) != 0))
    return;
  char *p = out->data + out->len, *q = twice ? twice->data + twice->len : NULL;
  for (int k = 0; k < n; k++) {
    if (k) *p++ = '&';
    if (twice) {
      if (k) { memcpy(q, "%26", 3); q += 3; }
      lp_percent_encode_both_to(&p, &q, pairs[k].name, pairs[k].name_len);
      *p++ = '=';
      memcpy(q, "%3D", 3);
      q += 3;
      lp_percent_encode_both_to(&p, &q, pairs[k].value, pairs[k].value_len);
    } else {
      p = lp_percent_encode_to(p, pairs[k].name, pairs[k].name_len);
      *p++ = '=';
      p = lp_percent_encode_to(p, pairs[k].value, pairs[k].value_len);
    }
  }
  out->len = (size_t)(p - out->data);
  if (twice) twice->len = (size_t)(q - twice->data);
}

/* A name and a value, the name's length known at compile time. */
#define COMMON(name, value) {name, value, sizeof(name) - 1, 0}

static int sign_rpc_v1(const lp_sign_input *in, const lp_http_request *r, lp_signed *out) {
  /* In byte order of their names, as the merge wants them. */
  const sign_pair common[MAX_COMMON] = {
    COMMON("AccessKeyId", in->access_key_id), COMMON("Action", r->action),
    COMMON("Format", r->format ? r->format : "JSON"), COMMON("SecurityToken", in->security_token),
    COMMON("SignatureMethod", "HMAC-SHA1"), COMMON("SignatureNonce", in->nonce),
    COMMON("SignatureVersion", "1.0"), COMMON("Timestamp", in->timestamp),
    COMMON("Version", r->version),
  };
  sign_pair extra[MAX_COMMON];
  int nextra = 0;
  for (int i = 0; i < MAX_COMMON; i++) {
    if (!common[i].value) continue;
    extra[nextra] = common[i];
    extra[nextra++].value_len = strlen(common[i].value);
  }

  lp_buf_addstr(&out->sts, r->method);
  lp_buf_addlit(&out->sts, "&%2F&");
  canonical_query(r->params, extra, nextra, &out->canonical, &out->sts);
  if (!lp_buf_ok(&out->canonical) || !lp_buf_ok(&out->sts)) return -1;

  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  if (!signer_mac(in->signer, out->sts.data, out->sts.len, mac, &mac_len)) return -1;
  lp_base64(out->signature, mac, mac_len);

  lp_buf_add(&out->query, out->canonical.data, out->canonical.len);
  lp_buf_addlit(&out->query, "&Signature=");
  lp_percent_encode(&out->query, out->signature, strlen(out->signature));
  lp_signed_add_header(out, "host", 4, r->authority, strlen(r->authority));
  return 0;
}

/* A header the V3 signature covers; each length is measured once, as the
 * canonical request, the signed names and the header list all use it. */
typedef struct signed_header {
  const char *name, *value;   /* value NULL: not sent (no token) */
  size_t name_len, value_len;
} signed_header;
#define SIGNED_HEADER(name, value) {name, value, sizeof(name) - 1, (value) ? strlen(value) : 0}

static int sign_acs3(const lp_sign_input *in, const lp_http_request *r, lp_signed *out) {
  /* Already in byte order of their names: the canonical form wants them sorted. */
  const signed_header signed_headers[] = {
    SIGNED_HEADER("host", r->authority),
    SIGNED_HEADER("x-acs-action", r->action),
    SIGNED_HEADER("x-acs-content-sha256", EMPTY_SHA256),   /* RPC calls here carry no body */
    SIGNED_HEADER("x-acs-date", in->timestamp),
    SIGNED_HEADER("x-acs-security-token", in->security_token),
    SIGNED_HEADER("x-acs-signature-nonce", in->nonce),
    SIGNED_HEADER("x-acs-version", r->version),
  };
  const size_t nsigned = sizeof signed_headers / sizeof signed_headers[0];

  canonical_query(r->params, NULL, 0, &out->query, NULL);
  lp_buf *c = &out->canonical;
  lp_buf_addstr(c, r->method);
  lp_buf_addlit(c, "\n/\n");
  lp_buf_add(c, out->query.data, out->query.len);
  lp_buf_addchar(c, '\n');
  for (size_t i = 0; i < nsigned; i++) {
    const signed_header *h = &signed_headers[i];
    if (!h->value) continue;
    lp_buf_add(c, h->name, h->name_len);
    lp_buf_addchar(c, ':');
    lp_buf_add(c, h->value, h->value_len);
    lp_buf_addchar(c, '\n');
  }
  lp_buf_addchar(c, '\n');
  size_t names_off = c->len;
  for (size_t i = 0; i < nsigned; i++) {
    if (!signed_headers[i].value) continue;
    if (c->len > names_off) lp_buf_addchar(c, ';');
    lp_buf_add(c, signed_headers[i].name, signed_headers[i].name_len);
  }
  size_t names_len = c->len - names_off;
  lp_buf_addchar(c, '\n');
  lp_buf_addlit(c, EMPTY_SHA256);
  if (!lp_buf_ok(c) || !lp_buf_ok(&out->query)) return -1;

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  char digest_hex[2 * EVP_MAX_MD_SIZE + 1];
  if (!EVP_Digest(c->data, c->len, digest, &digest_len, in->signer->sha256, NULL)) return -1;
  lp_hex(digest_hex, digest, digest_len);
  lp_buf_addlit(&out->sts, "ACS3-HMAC-SHA256\n");
  lp_buf_add(&out->sts, digest_hex, 2 * digest_len);
  if (!lp_buf_ok(&out->sts)) return -1;

  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  if (!signer_mac(in->signer, out->sts.data, out->sts.len, mac, &mac_len)) return -1;
  lp_hex(out->signature, mac, mac_len);

  for (size_t i = 0; i < nsigned; i++) {
    const signed_header *h = &signed_headers[i];
    if (h->value) lp_signed_add_header(out, h->name, h->name_len, h->value, h->value_len);
  }

  /* Authorization is assembled in hbuf itself: the value has three parts. */
  lp_buf *h = &out->hbuf;
  if (out->nheaders >= LP_MAX_HEADERS) return -1;
  lp_header *auth = &out->headers[out->nheaders++];
  auth->name_off = h->len;
  auth->name_len = sizeof("authorization") - 1;
  lp_buf_add(h, "authorization", auth->name_len + 1);
  auth->value_off = h->len;
  lp_buf_addlit(h, "ACS3-HMAC-SHA256 Credential=");
  lp_buf_addstr(h, in->access_key_id);
  lp_buf_addlit(h, ",SignedHeaders=");
  lp_buf_add(h, c->data + names_off, names_len);
  lp_buf_addlit(h, ",Signature=");
  lp_buf_add(h, out->signature, 2 * mac_len);
  auth->value_len = h->len - auth->value_off;
  lp_buf_addchar(h, '\0');
  return 0;
}

int lp_sign(const lp_sign_input *in, const lp_http_request *r, lp_signed *out) {
  lp_signed_reset(out);
  if (!in->signer || !in->signer->mac) return -1;
  int rc = in->signer->algorithm == LP_ALG_HMAC_SHA1 ? sign_rpc_v1(in, r, out) : sign_acs3(in, r, out);
  if (rc != 0 || !lp_buf_ok(&out->hbuf) || !lp_buf_ok(&out->query)) return -1;
  return 0;
}
