/* core.fetch: the credential providers' own small HTTP client (instance
 * metadata, STS, a credentials URI), apart from the Live session. */
#ifndef LIVEPULL_FETCH_H
#define LIVEPULL_FETCH_H

#include "compat.h"

/* core.fetch{ method, url, headers, body, connect_timeout, timeout,
 * max_bytes, ca_file, ca_path } -> status, headers, body | nil, err */
int lp_fetch(lua_State *L);
/* core.fetch_check(url) -> true | nil, err: core.fetch's URL rule alone. */
int lp_fetch_check(lua_State *L);

#endif
