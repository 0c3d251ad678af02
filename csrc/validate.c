/* Validation: an operation's parameter rows walked over a Lua table, into
 * the name/value pairs of an lp_request or an error naming field and rule. */
#include "validate.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "encode.h"
#include "timeutil.h"

#define MAX_FIELDS LP_MAX_FIELDS
#define FAIL(...) (lp_error_set(err, "validation", __VA_ARGS__), -1)

static unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Every key must be a string naming a parameter of the operation; the
 * value of each is left on the stack, slots[i] its index for row i (0 for
 * a row not given), so the rows need no lookup of their own. */
static int check_keys(lua_State *L, int idx, const lp_operation *op, int *slots, lp_error *err) {
  lp_key_names names = {&op->fields[0].name, sizeof(lp_field), NULL};
  lp_unknown_key k;
  if (!lua_checkstack(L, MAX_FIELDS + 4))   /* the values, lua_next's pair, a list's walk */
    return FAIL("InvalidParameter", "params", "out of memory");
  if (!lp_collect_known_keys(L, idx, &names, slots, &k)) return 0;
  if (k.type)
    return FAIL("UnknownParameter", k.shown, "parameter names must be strings; found a %s key in the parameters of %s",
                k.type, op->action);
  if (k.hint)
    return FAIL("UnknownParameter", k.shown, "\"%s\" is not a parameter of %s; did you mean \"%s\"?", k.shown,
                op->action, k.hint);
  return FAIL("UnknownParameter", k.shown, "\"%s\" is not a parameter of %s", k.shown, op->action);
}

/* A scheme and its length, known at compile time. */
typedef struct scheme {
  const char *name;
  size_t len;
} scheme;
#define SCHEME(s) {s, sizeof(s) - 1}

static int starts_with_ci(const char *s, size_t n, const scheme *prefix) {
  if (n < prefix->len) return 0;
  for (size_t i = 0; i < prefix->len; i++)
    if (lower((unsigned char)s[i]) != (unsigned char)prefix->name[i]) return 0;
  return 1;
}

/* scheme://rest with a non-empty rest and no whitespace or controls. */
static int url_with_scheme(const char *s, size_t n, const scheme *schemes) {
  for (const scheme *p = schemes; p->name; p++)
    if (starts_with_ci(s, n, p) && n >= p->len + 4 && memcmp(s + p->len, "://", 3) == 0) return 1;
  return 0;
}

static const scheme http_schemes[] = {SCHEME("http"), SCHEME("https"), {NULL, 0}};
static const scheme rtmp_schemes[] = {SCHEME("rtmp"), {NULL, 0}};
static const scheme source_schemes[] = {SCHEME("rtmp"), SCHEME("rtmps"), SCHEME("rtsp"), SCHEME("srt"),
                                        SCHEME("http"), SCHEME("https"), {NULL, 0}};

/* visible: s is all printable ASCII (check_string found it so), so it
 * has no whitespace or control character to look for. */
static int check_string_rule(const lp_field *f, const char *path, const char *s, size_t n,
                             int visible, lp_error *err) {
  char shown[64];
  switch (f->rule) {
  case LP_R_TEXT:
    return 0;
  case LP_R_TOKEN:
    if (n == 0) return FAIL("InvalidParameter", path, "%s must not be empty", path);
    if (!visible && lp_has_space_or_control(s, n))
      return FAIL("InvalidParameter", path, "%s must not contain whitespace or control characters", path);
    return 0;
  case LP_R_CHOICE:
    for (const char *const *c = f->choices; *c; c++)
      if (strlen(*c) == n && memcmp(*c, s, n) == 0) return 0;
    {
      char list[256] = "";
      for (const char *const *c = f->choices; *c; c++) {
        if (c != f->choices) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, *c, sizeof list - strlen(list) - 1);
      }
      /* The value is not echoed: messages never repeat what could be a secret pasted in the wrong place. */
      return FAIL("InvalidParameter", path, "%s must be one of %s", path, list);
    }
  case LP_R_REGION_ID:
    for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)s[i];
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) n = 0;
    }
    if (n == 0)
      return FAIL("InvalidParameter", path,
                  "%s must be a region ID such as cn-beijing (lowercase letters, digits and '-')", path);
    return 0;
  case LP_R_HTTP_URL:
  case LP_R_RTMP_URL: {
    const scheme *schemes = f->rule == LP_R_HTTP_URL ? http_schemes : rtmp_schemes;
    const char *want = f->rule == LP_R_HTTP_URL ? "an http:// or https:// URL" : "an rtmp:// URL";
    if (n == 0 && f->allow_empty) return 0;
    if (!url_with_scheme(s, n, schemes) || (!visible && lp_has_space_or_control(s, n)))
      return FAIL("InvalidParameter", path, "%s must be %s without whitespace%s", path, want,
                  f->allow_empty ? ", or \"\" to clear it" : "");
    return 0;
  }
  case LP_R_SOURCE_URL: {
    if (n == 0) return FAIL("InvalidParameter", path, "%s must not be empty", path);
    if (!visible && lp_has_space_or_control(s, n))
      return FAIL("InvalidParameter", path, "%s must not contain whitespace or control characters", path);
    const char *sep = NULL;
    for (size_t i = 0; i + 3 <= n && !sep; i++)
      if (memcmp(s + i, "://", 3) == 0) sep = s + i;
    if (sep && !url_with_scheme(s, n, source_schemes)) {
      lp_excerpt(shown, sizeof shown, s, (size_t)(sep - s), 20);
      return FAIL("InvalidParameter", path,
                  "%s has scheme \"%s\"; a source URL must use rtmp, rtmps, rtsp, srt, http or https "
                  "(an entry without :// is taken as a VOD media ID)", path, shown);
    }
    return 0;
  }
  }
  return 0;
}

/* A Lua string that is valid UTF-8 within the field's length limits. */
static int check_string(lua_State *L, int vidx, const lp_field *f, const char *path,
                        const char **s, size_t *n, lp_error *err) {
  if (lua_type(L, vidx) != LUA_TSTRING)
    return FAIL("InvalidParameter", path, "%s must be a string (got %s)", path, lp_type_name(L, vidx));
  size_t chars = 0;
  *s = lua_tolstring(L, vidx, n);
  /* Most values are printable ASCII: then one cheap scan stands for the
   * UTF-8 walk and for the rules' whitespace and control check. */
  int visible = lp_visible_ascii_span(*s, *n) == *n;
  if (visible) chars = *n;
  else if (!lp_utf8_check(*s, *n, &chars))
    return FAIL("InvalidParameter", path, "%s must be valid UTF-8 without NUL bytes", path);
  if (f->max_bytes && *n > f->max_bytes)
    return FAIL("InvalidParameter", path, "%s must be at most %zu bytes long (got %zu)", path,
                f->max_bytes, *n);
  if (f->max_chars && chars > f->max_chars)
    return FAIL("InvalidParameter", path, "%s must be at most %zu characters long (got %zu)", path,
                f->max_chars, chars);
  return check_string_rule(f, path, *s, *n, visible, err);
}

static int add_integer(lp_request *req, const lp_field *f, long long v) {
  char num[24];
  int len = snprintf(num, sizeof num, "%lld", v);
  return lp_request_add(req, f->name, strlen(f->name), num, (size_t)len);
}

static int check_integer_field(lua_State *L, int vidx, const lp_field *f, lp_request *req,
                               lp_error *err) {
  long long v;
  int rc = lp_check_integer(L, vidx, &v);
  if (rc == -1)
    return FAIL("InvalidParameter", f->name, "%s must be an integer (got %s)", f->name,
                lp_type_name(L, vidx));
  if (rc == -2)
    return FAIL("InvalidParameter", f->name, "%s must be a whole number (got %.17g)", f->name,
                (double)lua_tonumber(L, vidx));
  if (v < f->min || v > f->max)
    return FAIL("InvalidParameter", f->name, "%s must be between %lld and %lld (got %lld)", f->name,
                f->min, f->max, v);
  return add_integer(req, f, v) == 0 ? 0 : FAIL("InvalidParameter", f->name, "out of memory");
}

static int check_time_field(lua_State *L, int vidx, const lp_field *f, lp_request *req,
                            long long *epoch, lp_error *err) {
  char text[LP_TIME_LEN + 1];
  if (lua_type(L, vidx) == LUA_TNUMBER) {
    if (lp_check_integer(L, vidx, epoch) != 0 || *epoch < 0 || *epoch > LP_TIME_MAX)
      return FAIL("InvalidParameter", f->name,
                  "%s as a number must be a whole Unix time between 0 and %lld", f->name, LP_TIME_MAX);
    lp_time_format(*epoch, text);
    return lp_request_add(req, f->name, strlen(f->name), text, LP_TIME_LEN) == 0
               ? 0 : FAIL("InvalidParameter", f->name, "out of memory");
  }
  if (lua_type(L, vidx) != LUA_TSTRING)
    return FAIL("InvalidParameter", f->name,
                "%s must be a string YYYY-MM-DDTHH:MM:SSZ or an integer Unix time (got %s)", f->name,
                lp_type_name(L, vidx));
  size_t n;
  const char *s = lua_tolstring(L, vidx, &n);
  if (lp_time_parse(s, n, epoch) != 0)
    return FAIL("InvalidParameter", f->name,
                "%s must be a real UTC time written YYYY-MM-DDTHH:MM:SSZ, e.g. 2030-08-23T15:30:00Z",
                f->name);
  return lp_request_add(req, f->name, strlen(f->name), s, n) == 0
             ? 0 : FAIL("InvalidParameter", f->name, "out of memory");
}

/* A proper sequence of 1..max strings, written as one compact JSON array. */
static int check_url_list(lua_State *L, int vidx, const lp_field *f, lp_request *req,
                          long long *entries, lp_error *err) {
  const char *name = f->name;
  if (lua_type(L, vidx) != LUA_TTABLE)
    return FAIL("InvalidParameter", name, "%s must be a list (a Lua sequence) of strings (got %s)",
                name, lp_type_name(L, vidx));
  if (!lp_is_plain_table(L, vidx))
    return FAIL("InvalidParameter", name, "%s must be a plain table without a metatable", name);
  long long count = 0, max_key = 0;
  lua_pushnil(L);
  while (lua_next(L, vidx)) {
    long long k;
    lua_pop(L, 1);
    if (lp_check_integer(L, -1, &k) != 0 || k < 1) {
      lua_pop(L, 1);
      return FAIL("InvalidParameter", name,
                  "%s must be a sequence: a list without holes or non-integer keys", name);
    }
    if (++count > f->max) {   /* stop early: a huge table costs no more than max+1 steps */
      lua_pop(L, 1);
      return FAIL("InvalidParameter", name, "%s must have at most %lld entries", name, f->max);
    }
    if (k > max_key) max_key = k;
  }
  if (count < f->min) return FAIL("InvalidParameter", name, "%s must have at least %lld entry", name, f->min);
  if (max_key != count)
    return FAIL("InvalidParameter", name, "%s must be a sequence: a list without holes", name);

  size_t off = req->arena.len;
  lp_buf_addchar(&req->arena, '[');
  for (long long i = 1; i <= count; i++) {
    char path[64];
    const char *s;
    size_t n;
    lua_rawgeti(L, vidx, (int)i);
    int rc = check_string(L, lua_gettop(L), f, name, &s, &n, err);
    if (rc != 0) {   /* the entry's path is formatted only for the message */
      snprintf(path, sizeof path, "%s[%lld]", name, i);
      check_string(L, lua_gettop(L), f, path, &s, &n, err);
    }
    if (rc == 0) {
      if (i > 1) lp_buf_addchar(&req->arena, ',');
      lp_json_string(&req->arena, s, n);
    }
    lua_pop(L, 1);
    if (rc != 0) return -1;
  }
  lp_buf_addchar(&req->arena, ']');
  *entries = count;
  return lp_request_add_span(req, name, strlen(name), off) == 0
             ? 0 : FAIL("InvalidParameter", name, "out of memory");
}

/* number: a time's epoch, or a list's entry count, for the rules between fields. */
static int check_field(lua_State *L, int vidx, const lp_field *f, lp_request *req,
                       long long *number, lp_error *err) {
  const char *s;
  size_t n;
  switch (f->type) {
  case LP_T_STRING:
    if (check_string(L, vidx, f, f->name, &s, &n, err) != 0) return -1;
    return lp_request_add(req, f->name, strlen(f->name), s, n) == 0
               ? 0 : FAIL("InvalidParameter", f->name, "out of memory");
  case LP_T_INTEGER:
    return check_integer_field(L, vidx, f, req, err);
  case LP_T_TIME:
    return check_time_field(L, vidx, f, req, number, err);
  case LP_T_URL_LIST:
    return check_url_list(L, vidx, f, req, number, err);
  }
  return 0;
}

/* Rules between fields: a time later than another one, and than now. */
static int check_times(const lp_operation *op, const long long *epochs, const int *given,
                       long long now, lp_error *err) {
  char text[LP_TIME_LEN + 1];
  for (int i = 0; i < MAX_FIELDS && op->fields[i].name; i++) {
    const lp_field *f = &op->fields[i];
    if (f->type != LP_T_TIME || !given[i]) continue;
    for (int j = 0; f->after && j < MAX_FIELDS && op->fields[j].name; j++)
      if (given[j] && op->fields[j].name[0] == f->after[0] &&   /* the first byte spares a strcmp per row */
          strcmp(op->fields[j].name, f->after) == 0 && epochs[i] <= epochs[j])
        return FAIL(f->after_code, f->name, "%s must be later than %s", f->name, f->after);
    if (f->future && epochs[i] <= now) {
      lp_time_format(now, text);
      return FAIL("InvalidParameter", f->name, "%s must be later than the current time (%s)",
                  f->name, text);
    }
  }
  return 0;
}

/* Rules that hold when another field has a given value (Create: a live
 * source needs SourceProtocol and takes one URL). */
static int check_conditions(const lp_operation *op, const lp_request *req, const int *given,
                            const long long *entries, lp_error *err) {
  for (int i = 0; i < MAX_FIELDS && op->fields[i].name; i++) {
    const lp_field *f = &op->fields[i];
    if (!f->when_field) continue;
    int w = lp_request_find(req, f->when_field);
    if (w < 0 || strcmp(lp_request_value(req, w), f->when_value) != 0) continue;
    if (f->required_when && !given[i])
      return FAIL("MissingParameter", f->name, "%s is required when %s is \"%s\"", f->name,
                  f->when_field, f->when_value);
    if (f->max_when && given[i]) {
      if (entries[i] > f->max_when)
        return FAIL("InvalidParameter", f->name, "%s must have at most %lld entr%s when %s is \"%s\"",
                    f->name, f->max_when, f->max_when == 1 ? "y" : "ies", f->when_field, f->when_value);
    }
  }
  return 0;
}

int lp_validate(lua_State *L, int idx, const lp_operation *op, long long now, lp_request *req,
                lp_error *err) {
  long long numbers[MAX_FIELDS];   /* per field: a time's epoch or a list's length */
  int given[MAX_FIELDS];
  int slots[MAX_FIELDS];           /* per field: its value's stack index, 0 when absent */
  /* Only the operation's rows are read: clearing those (a handful) is
   * cheaper than clearing the whole arrays (a rep stos each). */
  for (int i = 0; i < MAX_FIELDS && op->fields[i].name; i++) given[i] = slots[i] = 0;
  if (lua_type(L, idx) != LUA_TTABLE)
    return FAIL("InvalidParameter", "params", "the parameters of %s must be a table (got %s)",
                op->action, lp_type_name(L, idx));
  if (!lp_is_plain_table(L, idx))
    return FAIL("InvalidParameter", "params",
                "the parameters of %s must be a plain table without a metatable", op->action);
  int base = lua_gettop(L);
  int rc = check_keys(L, idx, op, slots, err);
  for (int i = 0; rc == 0 && i < MAX_FIELDS && op->fields[i].name; i++) {
    const lp_field *f = &op->fields[i];
    if (!slots[i] || lua_isnil(L, slots[i])) {
      if (f->required) rc = FAIL("MissingParameter", f->name, "%s is required by %s", f->name, op->action);
      continue;
    }
    rc = check_field(L, slots[i], f, req, &numbers[i], err);
    given[i] = rc == 0;
  }
  lua_settop(L, base);   /* the values check_keys left */
  if (rc != 0) return -1;
  if (check_times(op, numbers, given, now, err) != 0) return -1;
  if (req->arena.len > LP_MAX_REQUEST_BYTES)
    return FAIL("InvalidParameter", "params", "the parameters of %s take %zu bytes; a request takes at most %d",
                op->action, req->arena.len, LP_MAX_REQUEST_BYTES);
  return check_conditions(op, req, given, numbers, err);
}
