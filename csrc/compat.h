/* The few Lua C API differences between Lua 5.4 and the Lua 5.1 ABI that
 * LuaJIT 2.1 (nginx's Lua) speaks, so every other file is written once.
 * Built against 5.1 headers (PUC's or LuaJIT's), the module loads in LuaJIT. */
#ifndef LIVEPULL_COMPAT_H
#define LIVEPULL_COMPAT_H

#include <lauxlib.h>
#include <lua.h>

#if LUA_VERSION_NUM < 502
#define lp_rawlen(L, i) lua_objlen(L, i)
/* PUC 5.1 lacks luaL_setfuncs (LuaJIT has it): one private copy serves both. */
void lp_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
#define LP_HAS_INTEGERS 0
#else
#define lp_rawlen(L, i) lua_rawlen(L, i)
#define lp_setfuncs(L, l, nup) luaL_setfuncs(L, l, nup)
#define LP_HAS_INTEGERS (LUA_VERSION_NUM >= 503)
#endif

/* A userdata's one user value (a table livepull keeps beside the C state). */
#if LUA_VERSION_NUM < 502
#define lp_setuservalue(L, i) lua_setfenv(L, i)
#define lp_getuservalue(L, i) lua_getfenv(L, i)
#else
#define lp_setuservalue(L, i) lua_setuservalue(L, i)
#define lp_getuservalue(L, i) ((void)lua_getuservalue(L, i))
#endif

#define lp_newlib(L, l) (lua_newtable(L), lp_setfuncs(L, l, 0))

#endif
