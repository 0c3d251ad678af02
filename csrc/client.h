/* The client userdata: a configuration, a libcurl session and the reusable
 * buffers of the prepare path. Methods raise error tables, or return
 * nil, err for a client made by livepull.safe. */
#ifndef LIVEPULL_CLIENT_H
#define LIVEPULL_CLIENT_H

#include "compat.h"

#define LP_CLIENT_MT "livepull.client"
#define LP_RUNTIME_KEY "livepull.runtime"   /* registry: "Lua 5.4", "LuaJIT 2.1..." */

int lp_client_new(lua_State *L);   /* core.new(config, safe) */
void lp_client_open(lua_State *L); /* registers the metatable */
/* Pushes a signed request's headers (the value's own and the signer's) as { [lowercase name] = value }. */
struct lp_http_request;
struct lp_signed;
void lp_push_headers(lua_State *L, const struct lp_http_request *r, const struct lp_signed *sig);

int lp_client_fail(lua_State *L);   /* core.fail(client, err) */
int lp_client_set_credentials(lua_State *L);   /* core.set_credentials(client, id, secret [, token]) */

/* Raises the error table on the top of the stack, or returns nil, err. */
int lp_fail(lua_State *L, int safe);

#endif
