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

static int param_less(const lp_param *a, const lp_param *b) {
  size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
  int c = memcmp(a->name, b->name, n);
  return c < 0 || (c == 0 && a->name_len < b->name_len);
}

void lp_canonical_query(const lp_request *req, lp_buf *out) {
  /* Insertion sort of indexes: a request has a few dozen params at most. */
  int order[LP_MAX_PARAMS];
  for (int i = 0; i < req->nparams; i++) {
    int j = i;
    while (j > 0 && param_less(&req->params[i], &req->params[order[j - 1]])) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
  for (int k = 0; k < req->nparams; k++) {
    const lp_param *p = &req->params[order[k]];
    if (k) lp_buf_addchar(out, '&');
    lp_percent_encode(out, p->name, p->name_len);
    lp_buf_addchar(out, '=');
    lp_percent_encode(out, req->arena.data + p->value_off, p->value_len);
  }
}

static int add_param(lp_request *req, const char *name, const char *value) {
  return lp_request_add(req, name, strlen(name), value, strlen(value));
}

static int sign_rpc_v1(const lp_sign_input *in, lp_request *req, lp_signed *out) {
  const char *common[][2] = {
    {"AccessKeyId", in->access_key_id}, {"Action", in->action},
    {"Format", in->format ? in->format : "JSON"}, {"SignatureMethod", "HMAC-SHA1"},
    {"SignatureNonce", in->nonce}, {"SignatureVersion", "1.0"},
    {"Timestamp", in->timestamp}, {"Version", in->version},
    {"SecurityToken", in->security_token},
  };
  for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
    if (common[i][1] && add_param(req, common[i][0], common[i][1]) != 0) return -1;

  lp_canonical_query(req, &out->canonical);
  lp_buf_addstr(&out->sts, in->method);
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
  lp_signed_add_header(out, "host", in->authority, strlen(in->authority));
  return 0;
}

static int sign_acs3(const lp_sign_input *in, lp_request *req, lp_signed *out) {
  /* Already in byte order of their names: the canonical form wants them sorted. */
  const char *signed_headers[][2] = {
    {"host", in->authority},
    {"x-acs-action", in->action},
    {"x-acs-content-sha256", EMPTY_SHA256},   /* RPC calls here carry no body */
    {"x-acs-date", in->timestamp},
    {"x-acs-security-token", in->security_token},
    {"x-acs-signature-nonce", in->nonce},
    {"x-acs-version", in->version},
  };
  const size_t nsigned = sizeof signed_headers / sizeof signed_headers[0];

  lp_canonical_query(req, &out->query);
  lp_buf *c = &out->canonical;
  lp_buf_addstr(c, in->method);
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

int lp_sign(const lp_sign_input *in, lp_request *req, lp_signed *out) {
  lp_signed_reset(out);
  if (!in->signer || !in->signer->mac) return -1;
  int rc = in->signer->algorithm == LP_ALG_HMAC_SHA1 ? sign_rpc_v1(in, req, out)
                                                     : sign_acs3(in, req, out);
  if (rc == 0) lp_signed_add_header(out, "accept", "application/json", 16);
  if (rc != 0 || !lp_buf_ok(&out->hbuf) || !lp_buf_ok(&out->query)) return -1;
  return 0;
}
