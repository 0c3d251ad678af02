#include "fields.h"

#include <string.h>

/* Sources: ../shared/reference/api-notes.md §1.2 and the API reference page. */
const char *const lp_task_regions[] = {
  "ap-southeast-1", "ap-southeast-5", "cn-beijing", "cn-shanghai", "cn-shenzhen", NULL,
};

#define INT32_LIMIT 2147483647LL

#define TASK_ID \
  {.name = "TaskId", .type = LP_T_STRING, .rule = LP_R_TOKEN, .required = 1, .max_bytes = 128}
#define REGION \
  {.name = "Region", .type = LP_T_STRING, .rule = LP_R_CHOICE, .required = 1, \
   .choices = lp_task_regions}
#define REGION_ID \
  {.name = "RegionId", .type = LP_T_STRING, .rule = LP_R_REGION_ID, .max_bytes = 64}
#define END_OF_FIELDS {.name = NULL}

static const lp_field update_fields[] = {
  TASK_ID,
  REGION,
  REGION_ID,
  {.name = "StartTime", .type = LP_T_TIME},
  {.name = "EndTime", .type = LP_T_TIME, .after = "StartTime",
   .after_code = "InvalidParam.CodeIllegalDuration", .future = 1},
  {.name = "SourceUrls", .type = LP_T_URL_LIST, .rule = LP_R_SOURCE_URL, .min = 1, .max = 30},
  {.name = "RepeatNumber", .type = LP_T_INTEGER, .min = -1, .max = INT32_LIMIT},
  {.name = "Offset", .type = LP_T_INTEGER, .min = 1, .max = INT32_LIMIT},
  {.name = "FileIndex", .type = LP_T_INTEGER, .min = 0, .max = INT32_LIMIT},
  {.name = "CallbackUrl", .type = LP_T_STRING, .rule = LP_R_HTTP_URL, .max_chars = 2000,
   .allow_empty = 1},
  END_OF_FIELDS,
};

const lp_operation lp_operations[] = {
  {"UpdateLivePullToPush", "update", "GET", update_fields},
  {NULL, NULL, NULL, NULL},
};

const lp_operation *lp_operation_find(const char *action) {
  for (const lp_operation *op = lp_operations; op->action; op++)
    if (strcmp(op->action, action) == 0) return op;
  return NULL;
}
