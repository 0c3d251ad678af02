/* Shared checks of Lua arguments: type names, whole numbers, plain
 * tables, and a table's keys against the names it may have (with the
 * nearest name for a typo). One place for each, used by validation, the
 * options, prepare's and call_many's arguments. */
#ifndef LIVEPULL_ARGS_H
#define LIVEPULL_ARGS_H

#include <stddef.h>

#include "compat.h"

/* "integer" or "number" for numbers (5.3+ tells them apart), else Lua's name. */
const char *lp_type_name(lua_State *L, int idx);

/* A Lua number that is a whole number: 0 ok, -1 not a number, -2 not whole
 * or out of range. */
int lp_check_integer(lua_State *L, int idx, long long *out);

/* 1 when the value at idx is a table without a metatable: the only kind
 * livepull reads, so no metamethod runs while it does. */
int lp_is_plain_table(lua_State *L, int idx);

/* The closest name in the NULL-terminated list walked with stride bytes
 * between entries (case-insensitive edit distance <= 2), or NULL. */
const char *lp_suggest(const char *name, size_t len, const char *const *names, size_t stride);

/* A key that is not one of the names, as lp_find_unknown_key saw it. */
typedef struct lp_unknown_key {
  char shown[64];     /* the key cut to 40 bytes; "[<number>]" or "[<type>]" when not a string */
  const char *type;   /* the key's type when it is not a string, else NULL */
  const char *hint;   /* the nearest name for a string key, or NULL */
} lp_unknown_key;

/* The names a table may have: a list walked with stride (a field of a
 * table of rows, or a plain list with sizeof(char *)), and an optional
 * second plain list. */
typedef struct lp_key_names {
  const char *const *names;
  size_t stride;
  const char *const *more;
} lp_key_names;

/* Walks the keys of the plain table at idx: 0 when each is a string among
 * the names, 1 with *out set at the first that is not. Raw access only. */
int lp_find_unknown_key(lua_State *L, int idx, const lp_key_names *names, lp_unknown_key *out);

#endif
