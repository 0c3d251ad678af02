-- The rockspec builds and installs a tree from which require "livepull" works,
-- with nothing from the source tree on the paths.
local H = require "helpers"

-- The rock for the Lua this spec runs under: 5.4, or the 5.1 ABI for LuaJIT.
local LUA = os.getenv("LIVEPULL_LUA_BIN") or "lua5.4"
local V = LUA == "luajit" and "5.1" or "5.4"

describe("packaging", function()
  it("luarocks make installs a working livepull for " .. LUA, function()
    local tree = H.tmpdir()
    local log, ok = H.run("luarocks --lua-version " .. V .. " make --deps-mode=none --tree " .. H.sh_quote(tree) ..
      " livepull-scm-1.rockspec 2>&1")
    assert.is_true(ok, log)
    local script = [[
      local livepull = require "livepull"
      local safe = require "livepull.safe"
      local c = livepull.new { access_key_id = "a", access_key_secret = "b" }
      local req = c:prepare("UpdateLivePullToPush", { TaskId = "t", Region = "cn-beijing" })
      io.write(livepull.version, " ", package.searchpath("livepull.core", package.cpath), " ", req.method)
    ]]
    local suffix = V == "5.4" and "_5_4" or ""
    local env = ("env -u LUA_PATH -u LUA_CPATH LUA_PATH%s=%s LUA_CPATH%s=%s "):format(
      suffix, H.sh_quote(tree .. "/share/lua/" .. V .. "/?.lua;" .. tree .. "/share/lua/" .. V .. "/?/init.lua;;"),
      suffix, H.sh_quote(tree .. "/lib/lua/" .. V .. "/?.so;;"))
    local out, ran = H.run(env .. LUA .. " -e " .. H.sh_quote(script) .. " 2>&1")
    assert.is_true(ran, out)
    assert.are.equal("0.1.0 " .. tree .. "/lib/lua/" .. V .. "/livepull/core.so GET", out)
    -- Every Lua file of the source tree is installed, readable by others
    -- (nginx workers run as nobody), livepull.resty.http among them.
    local lmod = tree .. "/share/lua/" .. V
    local wanted = H.run("cd lua && find livepull -name '*.lua' | sort")
    assert.truthy(wanted:find("livepull/resty/http.lua", 1, true))
    assert.are.equal(wanted, H.run("cd " .. H.sh_quote(lmod) .. " && find livepull -name '*.lua' | sort"))
    assert.are.equal("", H.run("find " .. H.sh_quote(lmod) .. " -name '*.lua' ! -perm -o=r"))
    H.run("rm -rf " .. H.sh_quote(tree))
  end)
end)
