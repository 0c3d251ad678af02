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

static int pair_less(const sign_pair *a, const sign_pair *b) {
  size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
  int c = memcmp(a->name, b->name, n);
  return c < 0 || (c == 0 && a->name_len < b->name_len);
}

/* The canonical query of req's parameters and the extra pairs: sorted by
 * name (insertion sort: a few dozen pairs at most), percent-encoded. */
static void canonical_query(const lp_request *req, const sign_pair *extra, int nextra, lp_buf *out) {
  sign_pair pairs[LP_MAX_PARAMS + MAX_COMMON];
  int n = 0;
  for (int i = 0; i < req->nparams; i++) {
    const lp_param *p = &req->params[i];
    pairs[n++] = (sign_pair){p->name, req->arena.data + p->value_off, p->name_len, p->value_len};
  }
  for (int i = 0; i < nextra; i++) pairs[n++] = extra[i];
  for (int i = 1; i < n; i++) {
    sign_pair x = pairs[i];
    int j = i;
    for (; j > 0 && pair_less(&x, &pairs[j - 1]); j--) pairs[j] = pairs[j - 1];
    pairs[j] = x;
  }
  for (int k = 0; k < n; k++) {
    if (k) lp_buf_addchar(out, '&');
    lp_percent_encode(out, pairs[k].name, pairs[k].name_len);
    lp_buf_addchar(out, '=');
    lp_percent_encode(out, pairs[k].value, pairs[k].value_len);
  }
}

static int sign_rpc_v1(const lp_sign_input *in, const lp_http_request *r, lp_signed *out) {
  const char *common[MAX_COMMON][2] = {
    {"AccessKeyId", in->access_key_id}, {"Action", r->action},
    {"Format", r->format ? r->format : "JSON"}, {"SignatureMethod", "HMAC-SHA1"},
    {"SignatureNonce", in->nonce}, {"SignatureVersion", "1.0"},
    {"Timestamp", in->timestamp}, {"Version", r->version},
    {"SecurityToken", in->security_token},
  };
  sign_pair extra[MAX_COMMON];
  int nextra = 0;
  for (int i = 0; i < MAX_COMMON; i++)
    if (common[i][1])
      extra[nextra++] = (sign_pair){common[i][0], common[i][1], strlen(common[i][0]), strlen(common[i][1])};

  canonical_query(r->params, extra, nextra, &out->canonical);
  lp_buf_addstr(&out->sts, r->method);
  lp_buf_addstr(&out->sts, "&%2F&");
  lp_percent_encode(&out->sts, out->canonical.data, out->canonical.len);
  if (!lp_buf_ok(&out->canonical) || !lp_buf_ok(&out->sts)) return -1;

  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  if (!signer_mac(in->signer, out->sts.data, out->sts.len, mac, &mac_len)) return -1;
  lp_base64(out->signature, mac, mac_len);

  lp_buf_add(&out->query, out->canonical.data, out->canonical.len);
  lp_buf_addstr(&out->query, "&Signature=");
  lp_percent_encode(&out->query, out->signature, strlen(out->signature));
  lp_signed_add_header(out, "host", r->authority, strlen(r->authority));
  return 0;
}

static int sign_acs3(const lp_sign_input *in, const lp_http_request *r, lp_signed *out) {
  /* Already in byte order of their names: the canonical form wants them sorted. */
  const char *signed_headers[][2] = {
    {"host", r->authority},
    {"x-acs-action", r->action},
    {"x-acs-content-sha256", EMPTY_SHA256},   /* RPC calls here carry no body */
    {"x-acs-date", in->timestamp},
    {"x-acs-security-token", in->security_token},
    {"x-acs-signature-nonce", in->nonce},
    {"x-acs-version", r->version},
  };
  const size_t nsigned = sizeof signed_headers / sizeof signed_headers[0];

  canonical_query(r->params, NULL, 0, &out->query);
  lp_buf *c = &out->canonical;
  lp_buf_addstr(c, r->method);
  lp_buf_addstr(c, "\n/\n");
  lp_buf_add(c, out->query.data, out->query.len);
  lp_buf_addchar(c, '\n');
  for (size_t i = 0; i < nsigned; i++) {
    if (!signed_headers[i][1]) continue;
    lp_buf_addstr(c, signed_headers[i][0]);
    lp_buf_addchar(c, ':');
    lp_buf_addstr(c, signed_headers[i][1]);
    lp_buf_addchar(c, '\n');
  }
  lp_buf_addchar(c, '\n');
  size_t names_off = c->len;
  for (size_t i = 0; i < nsigned; i++) {
    if (!signed_headers[i][1]) continue;
    if (c->len > names_off) lp_buf_addchar(c, ';');
    lp_buf_addstr(c, signed_headers[i][0]);
  }
  size_t names_len = c->len - names_off;
  lp_buf_addchar(c, '\n');
  lp_buf_addstr(c, EMPTY_SHA256);
  if (!lp_buf_ok(c) || !lp_buf_ok(&out->query)) return -1;

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  char digest_hex[2 * EVP_MAX_MD_SIZE + 1];
  if (!EVP_Digest(c->data, c->len, digest, &digest_len, in->signer->sha256, NULL)) return -1;
  lp_hex(digest_hex, digest, digest_len);
  lp_buf_addstr(&out->sts, "ACS3-HMAC-SHA256\n");
  lp_buf_addstr(&out->sts, digest_hex);
  if (!lp_buf_ok(&out->sts)) return -1;

  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  if (!signer_mac(in->signer, out->sts.data, out->sts.len, mac, &mac_len)) return -1;
  lp_hex(out->signature, mac, mac_len);

  for (size_t i = 0; i < nsigned; i++)
    if (signed_headers[i][1])
      lp_signed_add_header(out, signed_headers[i][0], signed_headers[i][1],
                           strlen(signed_headers[i][1]));

  /* Authorization is assembled in hbuf itself: the value has three parts. */
  lp_buf *h = &out->hbuf;
  if (out->nheaders >= LP_MAX_HEADERS) return -1;
  lp_header *auth = &out->headers[out->nheaders++];
  auth->name_off = h->len;
  auth->name_len = strlen("authorization");
  lp_buf_add(h, "authorization", auth->name_len + 1);
  auth->value_off = h->len;
  lp_buf_addstr(h, "ACS3-HMAC-SHA256 Credential=");
  lp_buf_addstr(h, in->access_key_id);
  lp_buf_addstr(h, ",SignedHeaders=");
  lp_buf_add(h, c->data + names_off, names_len);
  lp_buf_addstr(h, ",Signature=");
  lp_buf_addstr(h, out->signature);
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
