-- One version everywhere: CMakeLists.txt's project(VERSION) is the source;
-- the versioned rockspec, livepull.version, `livepull --version` and the
-- changelog agree with it, the scm and versioned rockspecs differ only in
-- version and source, and `luarocks pack` makes a source rock that builds
-- with the network cut off.
local H = require "helpers"

local read = H.read_file

-- A rockspec is Lua assignments: run it in an empty environment.
local function load_rockspec(path)
  local env, chunk = {}, nil
  if setfenv then
    chunk = assert(loadstring(read(path), path))
    setfenv(chunk, env)
  else
    chunk = assert(load(read(path), path, "t", env))
  end
  chunk()
  return env
end

local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local VERSION = H.cmake_version()

describe("release", function()
  it("CMakeLists.txt declares the version", function()
    assert.is_string(VERSION)
  end)

  it("livepull.version is that version (a compile definition, not a literal)", function()
    assert.are.equal(VERSION, require("livepull").version)
    assert.are.equal(VERSION, require("livepull.safe").version)
    assert.are.equal(VERSION, require("livepull.core").version)
    local c = require("livepull").new { access_key_id = "a", access_key_secret = "b" }
    local req = c:prepare("UpdateLivePullToPush", { TaskId = "t", Region = "cn-beijing" })
    assert.are.equal("livepull/" .. VERSION .. " ", req.headers["user-agent"]:sub(1, #VERSION + 10))
  end)

  it("`livepull --version` prints it", function()
    local cpath = os.getenv("LIVEPULL_CPATH") or "build/?.so"
    local out, ok = H.run(("env -u LUA_PATH_5_4 -u LUA_CPATH_5_4 -u LUA_PATH_5_3 -u LUA_CPATH_5_3 " ..
      "-u LUA_PATH_5_2 -u LUA_CPATH_5_2 LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH=%s %s bin/livepull --version")
      :format(H.sh_quote(cpath .. ";;"), H.LUA))
    assert.is_true(ok, out)
    assert.are.equal("livepull " .. VERSION .. "\n", out)
  end)

  it("rockspecs/livepull-<version>-1.rockspec is the release, the same as the scm rockspec but for version and source", function()
    local path = "rockspecs/livepull-" .. VERSION .. "-1.rockspec"
    local release, scm = load_rockspec(path), load_rockspec("livepull-scm-1.rockspec")
    assert.are.equal(VERSION .. "-1", release.version)
    assert.are.equal("scm-1", scm.version)
    assert.are.equal("file://livepull-" .. VERSION .. ".tar.gz", release.source.url)
    assert.are.equal("livepull-" .. VERSION, release.source.dir)
    for k, v in pairs(scm) do
      if k ~= "version" and k ~= "source" then assert.is_true(same(v, release[k]), k .. " differs") end
    end
    for k in pairs(release) do assert.is_not_nil(scm[k], k .. " is only in the release rockspec") end
    local p = assert(io.popen("ls rockspecs"))
    for name in p:lines() do
      local v = name:match("^livepull%-(.+)%-%d+%.rockspec$")
      assert.is_not_nil(v, "rockspecs/" .. name)
      assert.truthy(read("CHANGELOG.md"):find("\n## [" .. v .. "] - ", 1, true), v .. " is not in CHANGELOG.md")
    end
    p:close()
  end)

  it("CHANGELOG.md has the version's section, dated", function()
    local text = read("CHANGELOG.md")
    assert.truthy(text:find("\n## [Unreleased]\n", 1, true))
    assert.truthy(text:find("\n## %[" .. VERSION:gsub("%.", "%%.") .. "%] %- %d%d%d%d%-%d%d%-%d%d\n"))
  end)

  it("luarocks pack makes a source rock that builds offline and loads", function()
    local out = H.tmpdir()
    local log, ok = H.run(("timeout 600 bash tools/source-rock --out %s --check %s 2>&1"):format(
      H.sh_quote(out), H.LUA_ABI))
    assert.is_true(ok, log)
    assert.are.equal(out .. "/livepull-" .. VERSION .. "-1.src.rock\n" .. VERSION .. "\n", log)
    local listing = H.run("unzip -l " .. H.sh_quote(out .. "/livepull-" .. VERSION .. "-1.src.rock"))
    assert.truthy(listing:find("livepull-" .. VERSION .. "-1.rockspec", 1, true))
    assert.truthy(listing:find("livepull-" .. VERSION .. ".tar.gz", 1, true))
    H.run("rm -rf " .. H.sh_quote(out))
  end)
end)
