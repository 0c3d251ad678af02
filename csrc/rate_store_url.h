/* The rate_store option: the grammar of its Redis URL and what it names. */
#ifndef LIVEPULL_RATE_STORE_URL_H
#define LIVEPULL_RATE_STORE_URL_H

#include <stddef.h>

#include "error.h"
#include "redact.h"

#define LP_REDIS_DEFAULT_PORT 6379
#define LP_UNIX_PATH_MAX 107   /* sun_path holds 108 bytes with the NUL */

/* redis://[[user]:password@]host[:port][/db] or
 * unix://[[user]:password@]/path/to.sock[?db=N], parsed. Strings are owned
 * (user and password decoded from their %XX escapes); NULL when absent. */
typedef struct lp_store_url {
  int unix_socket;      /* 1: path; 0: host and port */
  char *host;           /* a name or an address, IPv6 without brackets */
  int port;
  char *path;
  long db;              /* SELECT db; 0 is Redis' default */
  char *user, *password;
} lp_store_url;

/* Checks s[0..n) and fills out. 0 ok; -1 with a `config` InvalidConfig
 * error on field rate_store that states the rule and never quotes the URL
 * (it may hold a password). */
int lp_store_url_parse(const char *s, size_t n, lp_store_url *out, lp_error *err);
void lp_store_url_free(lp_store_url *u);
/* Adds the URL's user and password, as written (the redactor also matches
 * what %XX escapes decode to), to what errors must not show. */
void lp_store_url_secrets(const char *s, lp_secrets *out);

#endif
