-- The rockspec builds and installs a tree from which require "livepull" works,
-- with nothing from the source tree on the paths.
local H = require "helpers"

describe("packaging", function()
  it("luarocks make installs a working livepull", function()
    local tree = H.tmpdir()
    local log, ok = H.run("luarocks --lua-version 5.4 make --deps-mode=none --tree " .. H.sh_quote(tree) ..
      " livepull-scm-1.rockspec 2>&1")
    assert.is_true(ok, log)
    local script = [[
      local livepull = require "livepull"
      local safe = require "livepull.safe"
      local c = livepull.new { access_key_id = "a", access_key_secret = "b" }
      local req = c:prepare("UpdateLivePullToPush", { TaskId = "t", Region = "cn-beijing" })
      io.write(livepull.version, " ", package.searchpath("livepull.core", package.cpath), " ", req.method)
    ]]
    local env = ("LUA_PATH_5_4=%s LUA_CPATH_5_4=%s "):format(
      H.sh_quote(tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua;;"),
      H.sh_quote(tree .. "/lib/lua/5.4/?.so;;"))
    local out, ran = H.run(env .. "lua5.4 -e " .. H.sh_quote(script) .. " 2>&1")
    assert.is_true(ran, out)
    assert.are.equal("0.1.0 " .. tree .. "/lib/lua/5.4/livepull/core.so GET", out)
    H.run("rm -rf " .. H.sh_quote(tree))
  end)
end)
