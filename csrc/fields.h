/* The operations as data: one row per parameter, one entry per operation.
 * validate.c walks these rows; adding a parameter or an operation is an edit
 * here, not new code. */
#ifndef LIVEPULL_FIELDS_H
#define LIVEPULL_FIELDS_H

#include <stddef.h>

typedef enum {
  LP_T_STRING,    /* a Lua string checked by .rule */
  LP_T_INTEGER,   /* a whole number in [min, max] */
  LP_T_TIME,      /* YYYY-MM-DDTHH:MM:SSZ, or an integer Unix time */
  LP_T_URL_LIST,  /* a sequence of source URLs, sent as one JSON array */
} lp_type;

typedef enum {
  LP_R_TEXT,          /* any valid UTF-8 without NUL */
  LP_R_TOKEN,         /* non-empty, no whitespace or control characters */
  LP_R_CHOICE,        /* one of .choices */
  LP_R_REGION_ID,     /* lowercase letters, digits and '-' */
  LP_R_HTTP_URL,      /* http(s)://..., or "" when .allow_empty */
  LP_R_RTMP_URL,      /* rtmp://... */
  LP_R_SOURCE_URL,    /* a URL with a media scheme, or a VOD media ID */
} lp_rule;

typedef struct lp_field {
  const char *name;
  lp_type type;
  lp_rule rule;
  int required;
  long long min, max;            /* LP_T_INTEGER bounds; LP_T_URL_LIST item counts */
  size_t max_bytes, max_chars;   /* string limits, 0 = none */
  int allow_empty;
  const char *const *choices;    /* LP_R_CHOICE, NULL-terminated */
  const char *after;             /* LP_T_TIME: must be later than this field */
  const char *after_code;        /* the error code when it is not */
  int future;                    /* LP_T_TIME: must be later than now */
  /* A rule that holds only when another field has a given value, e.g.
   * SourceProtocol is required when SourceType is "live". */
  const char *when_field, *when_value;
  int required_when;             /* required when the condition holds */
  long long max_when;            /* URL list: at most this many entries then */
} lp_field;

typedef struct lp_operation {
  const char *action;   /* "UpdateLivePullToPush" */
  const char *method;   /* the Lua method name: "update" */
  const char *http_method;
  const lp_field *fields;   /* terminated by a row with name == NULL */
  int idempotent;           /* repeating it after an unclear failure is harmless */
} lp_operation;

extern const lp_operation lp_operations[];   /* terminated by action == NULL */

/* The most rows an operation may have: validation keeps per-row state in
 * arrays this long, and the module refuses to load a table with more. */
#define LP_MAX_FIELDS 32
extern const char *const lp_task_regions[];

const lp_operation *lp_operation_find(const char *action);
/* 1 when op has a parameter row called name. */
int lp_operation_takes(const lp_operation *op, const char *name);

#define LP_API_VERSION "2016-11-01"

#endif
