/* The operations as data: the parameter rows of each operation and the
 * value sets they name. */
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
#define CALLBACK_URL \
  {.name = "CallbackUrl", .type = LP_T_STRING, .rule = LP_R_HTTP_URL, .max_chars = 2000, \
   .allow_empty = 1}
#define REPEAT_NUMBER {.name = "RepeatNumber", .type = LP_T_INTEGER, .min = -1, .max = INT32_LIMIT}
#define OFFSET {.name = "Offset", .type = LP_T_INTEGER, .min = 1, .max = INT32_LIMIT}
#define FILE_INDEX {.name = "FileIndex", .type = LP_T_INTEGER, .min = 0, .max = INT32_LIMIT}
#define END_TIME(req) \
  {.name = "EndTime", .type = LP_T_TIME, .required = req, .after = "StartTime", \
   .after_code = "InvalidParam.CodeIllegalDuration", .future = 1}

static const char *const source_types[] = {"live", "vod", "url", NULL};
static const char *const source_protocols[] = {"rtmp", "srt", "http-flv", "hls", NULL};

static const lp_field update_fields[] = {
  TASK_ID,
  REGION,
  REGION_ID,
  {.name = "StartTime", .type = LP_T_TIME},
  END_TIME(0),
  {.name = "SourceUrls", .type = LP_T_URL_LIST, .rule = LP_R_SOURCE_URL, .min = 1, .max = 30,
   .max_chars = 2000},
  REPEAT_NUMBER,
  OFFSET,
  FILE_INDEX,
  CALLBACK_URL,
  END_OF_FIELDS,
};

/* api-notes.md §2.1: a live source takes one URL and needs its protocol. */
static const lp_field create_fields[] = {
  REGION,
  REGION_ID,
  {.name = "StartTime", .type = LP_T_TIME, .required = 1},
  END_TIME(1),
  {.name = "SourceType", .type = LP_T_STRING, .rule = LP_R_CHOICE, .required = 1,
   .choices = source_types},
  {.name = "SourceProtocol", .type = LP_T_STRING, .rule = LP_R_CHOICE, .choices = source_protocols,
   .when_field = "SourceType", .when_value = "live", .required_when = 1},
  {.name = "SourceUrls", .type = LP_T_URL_LIST, .rule = LP_R_SOURCE_URL, .required = 1, .min = 1,
   .max = 30, .max_chars = 2000, .when_field = "SourceType", .when_value = "live", .max_when = 1},
  {.name = "DstUrl", .type = LP_T_STRING, .rule = LP_R_RTMP_URL, .required = 1, .max_chars = 2000},
  CALLBACK_URL,
  FILE_INDEX,
  OFFSET,
  REPEAT_NUMBER,
  {.name = "RetryCount", .type = LP_T_INTEGER, .min = 0, .max = INT32_LIMIT},
  {.name = "RetryInterval", .type = LP_T_INTEGER, .min = 60, .max = 300},
  {.name = "TaskName", .type = LP_T_STRING, .rule = LP_R_TEXT, .max_chars = 256},
  END_OF_FIELDS,
};

/* Describe, Stop, Restart and Delete name one task. */
static const lp_field task_fields[] = {TASK_ID, REGION, REGION_ID, END_OF_FIELDS};

static const lp_field list_fields[] = {
  REGION,
  REGION_ID,
  {.name = "TaskId", .type = LP_T_STRING, .rule = LP_R_TOKEN, .max_bytes = 128},
  {.name = "TaskName", .type = LP_T_STRING, .rule = LP_R_TEXT, .max_chars = 256},
  {.name = "DstUrl", .type = LP_T_STRING, .rule = LP_R_TEXT, .max_chars = 2000},
  {.name = "PageNumber", .type = LP_T_INTEGER, .min = 1, .max = INT32_LIMIT},
  {.name = "PageSize", .type = LP_T_INTEGER, .min = 1, .max = 100},
  END_OF_FIELDS,
};

/* Update sets values, and Describe, List, Stop, Restart and Delete end in
 * the same state however often they run; Create makes a new task each time,
 * so it is repeated only when the service surely did not act on it. */
/* In a task's life order: the order help and the docs list them in. */
const lp_operation lp_operations[] = {
  {"CreateLivePullToPush", "create", "POST", create_fields, 0},
  {"DescribeLivePullToPush", "describe", "GET", task_fields, 1},
  {"DescribeLivePullToPushList", "list", "GET", list_fields, 1},
  {"UpdateLivePullToPush", "update", "GET", update_fields, 1},
  {"StopLivePullToPush", "stop", "GET", task_fields, 1},
  {"RestartLivePullToPush", "restart", "GET", task_fields, 1},
  {"DeleteLivePullToPush", "delete", "GET", task_fields, 1},
  {NULL, NULL, NULL, NULL, 0},
};

const lp_operation *lp_operation_find(const char *action) {
  for (const lp_operation *op = lp_operations; op->action; op++)
    if (strcmp(op->action, action) == 0) return op;
  return NULL;
}

int lp_operation_takes(const lp_operation *op, const char *name) {
  for (const lp_field *f = op->fields; f->name; f++)
    if (strcmp(f->name, name) == 0) return 1;
  return 0;
}
