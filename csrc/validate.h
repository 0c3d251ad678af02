/* Validation: walks an operation's field rows over a Lua parameter table
 * and fills an lp_request, or fills an lp_error naming the field and the
 * rule. It reads the table with raw access only (no metamethod runs) and
 * raises no Lua error. */
#ifndef LIVEPULL_VALIDATE_H
#define LIVEPULL_VALIDATE_H

#include "error.h"
#include "fields.h"
#include "request.h"

/* now: the time "later than now" rules compare with. 0 ok, -1 err set. */
int lp_validate(lua_State *L, int idx, const lp_operation *op, long long now,
                lp_request *req, lp_error *err);

#endif
