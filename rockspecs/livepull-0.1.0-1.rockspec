rockspec_format = "3.0"
package = "livepull"
version = "0.1.0-1"
-- The release archive: tools/source-rock makes it from the release commit
-- (git archive), points a copy of this rockspec at it and runs luarocks pack,
-- giving livepull-0.1.0-1.src.rock, which builds offline.
source = {
  url = "file://livepull-0.1.0.tar.gz",
  dir = "livepull-0.1.0",
}
description = {
  summary = "Validated, natively signed and sent ApsaraVideo Live pull-to-push calls from Lua",
  detailed = [[
livepull.update{...} turns a Lua table into a validated UpdateLivePullToPush
request, signs it with OpenSSL (ACS3-HMAC-SHA256 or HMAC-SHA1), sends it with
libcurl over a kept-alive connection and returns the JSON answer as a table.
]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
  -- lua-cjson is required at run time; on Debian it comes from the lua-cjson package.
}
external_dependencies = {
  CURL = { library = "curl" },
  OPENSSL = { library = "crypto" },
  HIREDIS = { library = "hiredis" },   -- the shared pacing bucket (rate_store); Debian: libhiredis-dev
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    LUA_INCDIR = "$(LUA_INCDIR)",   -- the headers of the Lua luarocks runs for: 5.4, or 5.1 for LuaJIT
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    LIVEPULL_INSTALL_CMOD = "$(LIBDIR)",
    LIVEPULL_INSTALL_LMOD = "$(LUADIR)",
    LIVEPULL_INSTALL_BIN = "$(BINDIR)",   -- the command, its shebang naming the Lua luarocks builds for
    LIVEPULL_LUA_INTERPRETER = "$(LUA)",
    LIVEPULL_INSTALL_MAN = "",   -- the rock keeps doc/ (luarocks doc livepull)
    BUILD_TESTING = "OFF",
  },
  copy_directories = { "doc", "docs" },
}
-- Copied as it is, not wrapped: luarocks' wrapper script would run a shell
-- and luarocks.loader (6-7 ms) on every start; the command finds its tree
-- itself (bin/livepull).
deploy = { wrap_bin_scripts = false }
