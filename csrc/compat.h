/* The few Lua C API differences between Lua 5.4 and LuaJIT 2.1 (the 5.1
 * ABI), so every other file is written once against the 5.4 API. */
#ifndef LIVEPULL_COMPAT_H
#define LIVEPULL_COMPAT_H

#include <lauxlib.h>
#include <lua.h>

#if LUA_VERSION_NUM < 502
#define lp_rawlen(L, i) lua_objlen(L, i)
#define luaL_newlib(L, l) (lua_newtable(L), luaL_register(L, NULL, l))
void luaL_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
#define LP_HAS_INTEGERS 0
#else
#define lp_rawlen(L, i) lua_rawlen(L, i)
#define LP_HAS_INTEGERS (LUA_VERSION_NUM >= 503)
#endif

#endif
