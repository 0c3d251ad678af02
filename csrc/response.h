/* Parse: any transport's raw answer (status, body) becomes the result table
 * or an api/protocol error table, the same for every transport. */
#ifndef LIVEPULL_RESPONSE_H
#define LIVEPULL_RESPONSE_H

#include <stddef.h>

#include "compat.h"
#include "redact.h"

#define LP_JSON_DECODE_KEY "livepull.json_decode"   /* registry: cjson.safe's decode */

/* Pushes the decoded result and returns 1, or pushes an error table and
 * returns 0. request_id: the x-acs-request-id header, or NULL. Only a JSON
 * object is an answer. The error's strings have the secrets (NULL: none
 * known) redacted and are cut to LP_ERROR_TEXT_MAX bytes (redact.h). */
int lp_response_push(lua_State *L, long status, const char *body, size_t len,
                     const char *request_id, const lp_secrets *secrets);

/* 1 when an api error code (or, lacking one, the HTTP status) is worth retrying. */
int lp_api_retryable(const char *code, long status);

#endif
