/* What Lua 5.1 lacks that the other Luas have (compat.h). */
#include "compat.h"

#if LUA_VERSION_NUM < 502
void lp_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  for (; l->name; l++) {
    for (int i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}
#else
typedef int lp_compat_unused;   /* ISO C wants a translation unit to declare something */
#endif
