/* Canonical query and signing (lp_request_add + lp_sign, both algorithms) on
 * fuzzed credentials, names and values. Must not crash; must never write
 * the request value it signs; the same input must give the same output,
 * from fresh buffers and from reused ones (a retry signs the same value
 * again); and the parts of the output must agree with one another,
 * recomputed here with OpenSSL.
 *
 * Input: a flags byte, then length-prefixed fields (one byte; with the top
 * bit set, a second byte extends it to 15 bits): key id, secret, token,
 * timestamp, nonce, authority, action, version, format, then name/value
 * pairs until the input ends. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "check.h"
#include "request.h"
#include "sign.h"

#define MAX_PAIRS 64   /* more than LP_MAX_PARAMS: the full table is tried too */

enum { F_KEY_ID, F_SECRET, F_TOKEN, F_TIMESTAMP, F_NONCE, F_AUTHORITY, F_ACTION, F_VERSION,
       F_FORMAT, NFIELDS };

typedef struct span { const char *p; size_t n; } span;

typedef struct input {
  unsigned flags;
  char *field[NFIELDS];   /* NUL-terminated copies: lp_sign_input takes C strings */
  span name[MAX_PAIRS], value[MAX_PAIRS];
  int npairs;
} input;

static span take(const uint8_t **d, size_t *left) {
  span s = {NULL, 0};
  if (*left == 0) return s;
  size_t n = **d;
  (*d)++, (*left)--;
  if ((n & 0x80) && *left) {
    n = (n & 0x7F) << 8 | **d;
    (*d)++, (*left)--;
  }
  if (n > *left) n = *left;
  s.p = (const char *)*d;
  s.n = n;
  *d += n;
  *left -= n;
  return s;
}

static void parse_input(input *in, const uint8_t *d, size_t left) {
  memset(in, 0, sizeof *in);
  if (left) { in->flags = *d++; left--; }
  for (int f = 0; f < NFIELDS; f++) {
    span s = take(&d, &left);
    in->field[f] = malloc(s.n + 1);
    FUZZ_CHECK(in->field[f] != NULL);
    if (s.n) memcpy(in->field[f], s.p, s.n);
    in->field[f][s.n] = '\0';
  }
  while (left && in->npairs < MAX_PAIRS) {
    in->name[in->npairs] = take(&d, &left);
    in->value[in->npairs] = take(&d, &left);
    in->npairs++;
  }
}

static void free_input(input *in) {
  for (int f = 0; f < NFIELDS; f++) free(in->field[f]);
}

static lp_algorithm algorithm_of(const input *in) {
  return (in->flags & 1) ? LP_ALG_HMAC_SHA1 : LP_ALG_ACS3_HMAC_SHA256;
}

static lp_sign_input sign_input(const input *in, const lp_signer *signer) {
  lp_sign_input si;
  si.signer = signer;
  si.access_key_id = in->field[F_KEY_ID];
  si.security_token = (in->flags & 2) ? in->field[F_TOKEN] : NULL;
  si.timestamp = in->field[F_TIMESTAMP];
  si.nonce = in->field[F_NONCE];
  return si;
}

/* The request value the build stage would hand the signer. */
static lp_http_request request_value(const input *in, const lp_request *params) {
  lp_http_request r;
  memset(&r, 0, sizeof r);
  r.method = (in->flags & 4) ? "POST" : "GET";
  r.authority = in->field[F_AUTHORITY];
  r.path = "/";
  r.action = in->field[F_ACTION];
  r.version = in->field[F_VERSION];
  r.format = (in->flags & 8) ? in->field[F_FORMAT] : NULL;
  r.params = params;
  return r;
}

/* A copy of the parameters, to check the signer never writes them. */
static int same_request(const lp_request *a, const lp_request *b) {
  if (a->nparams != b->nparams || a->arena.len != b->arena.len) return 0;
  if (a->arena.len && memcmp(a->arena.data, b->arena.data, a->arena.len) != 0) return 0;
  return memcmp(a->params, b->params, sizeof a->params[0] * (size_t)a->nparams) == 0;
}

/* Adds the pairs as a caller would: stop at the first refusal. */
static void fill(lp_request *req, const input *in) {
  for (int i = 0; i < in->npairs; i++)
    if (lp_request_add(req, in->name[i].p ? in->name[i].p : "", in->name[i].n,
                       in->value[i].p, in->value[i].n) != 0)
      break;
}

static int same_buf(const lp_buf *a, const lp_buf *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void check_same(const lp_signed *a, const lp_signed *b) {
  FUZZ_CHECK(same_buf(&a->query, &b->query));
  FUZZ_CHECK(same_buf(&a->canonical, &b->canonical));
  FUZZ_CHECK(same_buf(&a->sts, &b->sts));
  FUZZ_CHECK(strcmp(a->signature, b->signature) == 0);
  FUZZ_CHECK(a->nheaders == b->nheaders);
  for (int i = 0; i < a->nheaders; i++) {
    FUZZ_CHECK(strcmp(lp_header_name(a, i), lp_header_name(b, i)) == 0);
    FUZZ_CHECK(a->headers[i].value_len == b->headers[i].value_len);
    FUZZ_CHECK(memcmp(lp_header_value(a, i), lp_header_value(b, i), a->headers[i].value_len) == 0);
  }
}

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_' || c == '.' || c == '~';
}

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes a span that must be strictly percent-encoded into out. */
static size_t pct_decode(unsigned char *out, const char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%') { FUZZ_CHECK(unreserved((unsigned char)s[i])); out[k++] = (unsigned char)s[i]; continue; }
    FUZZ_CHECK(n - i >= 3 && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0);
    out[k++] = (unsigned char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
    i += 2;
  }
  return k;
}

/* The query holds nparams name=value pairs, names in byte order. */
static void check_query(const char *q, size_t n, int nparams) {
  unsigned char *prev = malloc(n + 1), *cur = malloc(n + 1);
  FUZZ_CHECK(prev && cur);
  size_t prevlen = 0;
  int pairs = 0;
  size_t i = 0;
  while (nparams && i <= n) {
    size_t end = i;
    while (end < n && q[end] != '&') end++;
    const char *eq = memchr(q + i, '=', end - i);
    FUZZ_CHECK(eq != NULL);
    size_t len = pct_decode(cur, q + i, (size_t)(eq - (q + i)));
    pct_decode(cur + len, eq + 1, (size_t)(q + end - eq - 1));   /* the value must decode too */
    if (pairs) {
      size_t m = prevlen < len ? prevlen : len;
      int c = memcmp(prev, cur, m);
      FUZZ_CHECK(c < 0 || (c == 0 && prevlen <= len));
    }
    memcpy(prev, cur, len);
    prevlen = len;
    pairs++;
    i = end + 1;
  }
  FUZZ_CHECK(pairs == nparams);
  FUZZ_CHECK(nparams || n == 0);
  free(prev);
  free(cur);
}

static const char *header(const lp_signed *s, const char *name, size_t *len) {
  for (int i = 0; i < s->nheaders; i++)
    if (strcmp(lp_header_name(s, i), name) == 0) { *len = s->headers[i].value_len; return lp_header_value(s, i); }
  return NULL;
}

static void check_acs3(const lp_sign_input *si, const lp_http_request *r, const char *secret,
                       const lp_signed *out) {
  const lp_buf *c = &out->canonical;
  check_query(out->query.data, out->query.len, r->params->nparams);
  /* method \n / \n query \n ... : the canonical request embeds the query. */
  size_t ml = strlen(r->method);
  FUZZ_CHECK(c->len > ml + 3 + out->query.len);
  FUZZ_CHECK(memcmp(c->data, r->method, ml) == 0 && memcmp(c->data + ml, "\n/\n", 3) == 0);
  FUZZ_CHECK(out->query.len == 0 || memcmp(c->data + ml + 3, out->query.data, out->query.len) == 0);

  unsigned char md[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0, maclen = 0;
  FUZZ_CHECK(EVP_Digest(c->data, c->len, md, &mdlen, EVP_sha256(), NULL));
  char sts[17 + 64 + 1] = "ACS3-HMAC-SHA256\n";
  for (unsigned i = 0; i < mdlen; i++) snprintf(sts + 17 + 2 * i, 3, "%02x", md[i]);
  FUZZ_CHECK(out->sts.len == strlen(sts) && memcmp(out->sts.data, sts, out->sts.len) == 0);

  FUZZ_CHECK(HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)sts,
                  strlen(sts), mac, &maclen));
  char hex[65];
  for (unsigned i = 0; i < maclen; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
  FUZZ_CHECK(strcmp(out->signature, hex) == 0);

  size_t alen = 0;
  const char *auth = header(out, "authorization", &alen);
  FUZZ_CHECK(auth != NULL);
  char *want = malloc(strlen(si->access_key_id) + 256);
  FUZZ_CHECK(want != NULL);
  sprintf(want, "ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=host;x-acs-action;"
                "x-acs-content-sha256;x-acs-date;%sx-acs-signature-nonce;x-acs-version,"
                "Signature=%s",
          si->access_key_id, si->security_token ? "x-acs-security-token;" : "", hex);
  FUZZ_CHECK(alen == strlen(want) && memcmp(auth, want, alen) == 0);
  free(want);
}

static void check_v1(const lp_sign_input *si, const lp_http_request *r, const char *secret,
                     const lp_signed *out) {
  const lp_buf *c = &out->canonical;
  /* the request's pairs and the eight common ones (nine with a token), merged */
  check_query(c->data, c->len, r->params->nparams + 8 + (si->security_token != NULL));
  /* query = canonical "&Signature=" percent(signature) */
  FUZZ_CHECK(out->query.len > c->len && memcmp(out->query.data, c->data, c->len) == 0);

  size_t slen = strlen(secret);
  unsigned char *key = malloc(slen + 1), mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  FUZZ_CHECK(key != NULL);
  memcpy(key, secret, slen);
  key[slen] = '&';
  FUZZ_CHECK(HMAC(EVP_sha1(), key, (int)slen + 1, (const unsigned char *)out->sts.data,
                  out->sts.len, mac, &maclen));
  free(key);
  unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  EVP_EncodeBlock(b64, mac, (int)maclen);
  FUZZ_CHECK(strcmp(out->signature, (const char *)b64) == 0);

  size_t ml = strlen(r->method);
  FUZZ_CHECK(out->sts.len >= ml + 5 && memcmp(out->sts.data, r->method, ml) == 0 &&
             memcmp(out->sts.data + ml, "&%2F&", 5) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  input in;
  parse_input(&in, data, size);
  /* The signer keys its HMAC once; a secret it refuses (over 512 bytes) ends the case. */
  lp_signer signer;
  const char *secret = in.field[F_SECRET];
  if (lp_signer_init(&signer, algorithm_of(&in), secret) != 0) {
    FUZZ_CHECK(strlen(secret) > 512);
    free_input(&in);
    return 0;
  }
  lp_sign_input si = sign_input(&in, &signer);

  lp_request r1 = {0}, r2 = {0}, copy = {0};
  lp_signed s1 = {0}, s2 = {0};
  fill(&r1, &in);
  fill(&copy, &in);
  lp_http_request v1 = request_value(&in, &r1);
  int rc1 = lp_sign(&si, &v1, &s1);
  FUZZ_CHECK(same_request(&r1, &copy));   /* the signer only reads its input */
  fill(&r2, &in);
  lp_http_request v2 = request_value(&in, &r2);
  int rc2 = lp_sign(&si, &v2, &s2);
  FUZZ_CHECK(rc1 == 0 || rc1 == -1);
  FUZZ_CHECK(rc1 == rc2);
  if (rc1 == 0) {
    check_same(&s1, &s2);
    if (algorithm_of(&in) == LP_ALG_HMAC_SHA1) check_v1(&si, &v1, secret, &s1);
    else check_acs3(&si, &v1, secret, &s1);
  }

  /* The same value signed again into reused buffers, as a retry does. */
  int rc3 = lp_sign(&si, &v1, &s1);
  FUZZ_CHECK(rc3 == rc1);
  if (rc3 == 0) check_same(&s1, &s2);

  lp_request_free(&r1);
  lp_request_free(&r2);
  lp_request_free(&copy);
  lp_signed_free(&s1);
  lp_signed_free(&s2);
  lp_signer_free(&signer);
  free_input(&in);
  return 0;
}
