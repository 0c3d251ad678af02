-- The rockspec builds and installs a tree from which require "livepull" works,
-- with nothing from the source tree on the paths, for the Lua this spec runs
-- under (luarocks --lua-version 5.1/5.2/5.3/5.4; 5.1 with LuaJIT's headers
-- for LuaJIT).
local H = require "helpers"

local LUA, V = H.LUA, H.LUA_ABI

describe("packaging", function()
  it("luarocks make installs a working livepull for " .. LUA, function()
    local tree = H.tmpdir()
    local log, ok = H.luarocks_make(tree)
    assert.is_true(ok, log)
    -- package.searchpath is 5.2+ (and LuaJIT): PUC 5.1 gets a loop.
    local script = [[
      local livepull = require "livepull"
      local safe = require "livepull.safe"
      local c = livepull.new { access_key_id = "a", access_key_secret = "b" }
      local req = c:prepare("UpdateLivePullToPush", { TaskId = "t", Region = "cn-beijing" })
      local function find(name, path)
        for template in path:gmatch("[^;]+") do
          local file = template:gsub("%?", (name:gsub("%.", "/")))
          local f = io.open(file)
          if f then f:close() return file end
        end
      end
      io.write(livepull.version, " ", find("livepull.core", package.cpath), " ", req.method)
    ]]
    local suffix = V == "5.1" and "" or "_" .. V:gsub("%.", "_")
    local env = ("env -u LUA_PATH -u LUA_CPATH LUA_PATH%s=%s LUA_CPATH%s=%s "):format(
      suffix, H.sh_quote(tree .. "/share/lua/" .. V .. "/?.lua;" .. tree .. "/share/lua/" .. V .. "/?/init.lua;;"),
      suffix, H.sh_quote(tree .. "/lib/lua/" .. V .. "/?.so;;"))
    local out, ran = H.run(env .. LUA .. " -e " .. H.sh_quote(script) .. " 2>&1")
    assert.is_true(ran, out)
    assert.are.equal(require("livepull").version .. " " .. tree .. "/lib/lua/" .. V .. "/livepull/core.so GET", out)
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
