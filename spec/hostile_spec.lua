-- Hostile input: bad parameter tables and configs, each answered with a
-- validation or config error naming the field, and not one byte sent (the
-- emulator sees zero requests across the whole list).
local livepull = require "livepull"
local H = require "helpers"

local function base(over)
  local p = { TaskId = "task-1", Region = "cn-shanghai" }
  for k, v in pairs(over or {}) do p[k] = v end
  return p
end

local function raising_mt()
  local boom = function() error("metamethod ran") end
  return { __index = boom, __newindex = boom, __pairs = boom, __len = boom }
end

local function yielding_mt()
  local y = function() return coroutine.yield() end
  return { __index = y, __pairs = y, __len = y }
end

local cyclic = {}
cyclic[1] = cyclic

local huge_list = {}
for i = 1, 1000000 do huge_list[i] = "rtmp://h/a/s" end

local big = ("x"):rep(10 * 1024 * 1024)

-- { params, field }
local bad_params = {
  -- wrong types at every field
  { base { TaskId = 1 }, "TaskId" }, { base { TaskId = true }, "TaskId" }, { base { TaskId = {} }, "TaskId" },
  { base { TaskId = print }, "TaskId" }, { base { TaskId = io.stdout }, "TaskId" },
  { base { Region = 5 }, "Region" }, { base { Region = {} }, "Region" }, { base { Region = false }, "Region" },
  { base { RegionId = 1 }, "RegionId" }, { base { RegionId = {} }, "RegionId" },
  { base { StartTime = true }, "StartTime" }, { base { StartTime = {} }, "StartTime" },
  { base { EndTime = print }, "EndTime" }, { base { EndTime = "tomorrow" }, "EndTime" },
  { base { SourceUrls = 1 }, "SourceUrls" }, { base { SourceUrls = true }, "SourceUrls" },
  { base { SourceUrls = "rtmp://a/b" }, "SourceUrls" }, { base { SourceUrls = { {} } }, "SourceUrls[1]" },
  { base { SourceUrls = { true } }, "SourceUrls[1]" }, { base { SourceUrls = { print } }, "SourceUrls[1]" },
  { base { RepeatNumber = "1" }, "RepeatNumber" }, { base { RepeatNumber = {} }, "RepeatNumber" },
  { base { Offset = "2" }, "Offset" }, { base { Offset = false }, "Offset" },
  { base { FileIndex = "0" }, "FileIndex" }, { base { FileIndex = {} }, "FileIndex" },
  { base { CallbackUrl = 1 }, "CallbackUrl" }, { base { CallbackUrl = {} }, "CallbackUrl" },
  -- huge inputs
  { base { TaskId = big }, "TaskId" }, { base { CallbackUrl = "https://e.com/" .. big }, "CallbackUrl" },
  { base { Region = big }, "Region" }, { base { SourceUrls = huge_list }, "SourceUrls" },
  { base { SourceUrls = { "rtmp://a/b", big .. " " } }, "SourceUrls[2]" },
  -- cyclic and metatables (raising and yielding metamethods never run)
  { base { SourceUrls = cyclic }, "SourceUrls[1]" },
  { setmetatable(base(), raising_mt()), "params" }, { setmetatable({}, raising_mt()), "params" },
  { setmetatable(base(), yielding_mt()), "params" },
  { base { SourceUrls = setmetatable({ "rtmp://a/b" }, raising_mt()) }, "SourceUrls" },
  { base { SourceUrls = setmetatable({}, yielding_mt()) }, "SourceUrls" },
  -- NUL, invalid and overlong UTF-8
  { base { TaskId = "a\0b" }, "TaskId" }, { base { CallbackUrl = "https://e.com/\0" }, "CallbackUrl" },
  { base { SourceUrls = { "rtmp://a/\0" } }, "SourceUrls[1]" }, { base { TaskId = "\255\254" }, "TaskId" },
  { base { TaskId = "\192\128" }, "TaskId" }, { base { TaskId = "\224\128\175" }, "TaskId" },
  { base { TaskId = "\240\128\128\175" }, "TaskId" }, { base { TaskId = "\244\144\128\128" }, "TaskId" },
  { base { TaskId = "\237\191\191" }, "TaskId" }, { base { TaskId = "abc\195" }, "TaskId" },
  { base { SourceUrls = { "http://e.com/\128" } }, "SourceUrls[1]" },
  -- integers at and beyond the 32/53/64-bit edges, NaN, -0.0
  { base { RepeatNumber = 2147483648 }, "RepeatNumber" }, { base { RepeatNumber = -2147483649 }, "RepeatNumber" },
  { base { Offset = 2 ^ 53 }, "Offset" }, { base { Offset = 2 ^ 53 + 1 }, "Offset" },
  { base { FileIndex = math.maxinteger or 2 ^ 63 }, "FileIndex" }, { base { FileIndex = math.mininteger or -2 ^ 63 }, "FileIndex" },
  { base { FileIndex = 2 ^ 64 }, "FileIndex" }, { base { Offset = -2 ^ 63 }, "Offset" },
  { base { RepeatNumber = 0 / 0 }, "RepeatNumber" }, { base { Offset = -(0 / 0) }, "Offset" },
  { base { Offset = -0.0 }, "Offset" }, { base { FileIndex = math.huge }, "FileIndex" },
  { base { RepeatNumber = -math.huge }, "RepeatNumber" }, { base { Offset = 1e-300 }, "Offset" },
  { base { StartTime = 2 ^ 63 }, "StartTime" }, { base { StartTime = 0 / 0 }, "StartTime" },
  { base { EndTime = 253402300800 }, "EndTime" },
  -- impossible dates
  { base { StartTime = "2030-02-29T00:00:00Z" }, "StartTime" }, { base { StartTime = "2030-13-01T00:00:00Z" }, "StartTime" },
  { base { StartTime = "2030-00-10T00:00:00Z" }, "StartTime" }, { base { StartTime = "2030-04-31T00:00:00Z" }, "StartTime" },
  { base { StartTime = "2030-01-01T23:60:00Z" }, "StartTime" }, { base { StartTime = "2030-01-01T23:59:60Z" }, "StartTime" },
  { base { StartTime = "1969-12-31T23:59:59Z" }, "StartTime" }, { base { StartTime = " 2030-01-01T00:00:00Z" }, "StartTime" },
  { base { StartTime = "2030-01-01t00:00:00z" }, "StartTime" }, { base { StartTime = "+030-01-01T00:00:00Z" }, "StartTime" },
  { base { EndTime = "2030-01-01T00:00:00Z\0" }, "EndTime" },
  -- keys
  { { TaskId = "t", Region = "cn-shanghai", [true] = 1 }, "[boolean]" },
  { { TaskId = "t", Region = "cn-shanghai", [1.5] = 1 }, "[1.5]" },
  { { TaskId = "t", Region = "cn-shanghai", [print] = 1 }, "[function]" },
  { { TaskId = "t", Region = "cn-shanghai", ["Task\0Id"] = 1 }, "Task\\x00Id" },
  { { TaskId = "t", Region = "cn-shanghai", [("K"):rep(100000)] = 1 }, ("K"):rep(40) .. "..." },
  { base { SourceUrls = { [1] = "rtmp://a/b", [2.5] = "x" } }, "SourceUrls" },
  { base { SourceUrls = { [1] = "rtmp://a/b", [-1] = "x" } }, "SourceUrls" },
  { base { SourceUrls = { [1] = "rtmp://a/b", [math.huge] = "x" } }, "SourceUrls" },
}

-- { config, field }
local creds = { access_key_id = H.KEY_ID, access_key_secret = H.SECRET }
local function cfg(over)
  local c = H.copy(creds)
  for k, v in pairs(over) do c[k] = v end
  return c
end
local bad_configs = {
  { cfg { access_key_secret = "has space" }, "access_key_secret" },
  { cfg { access_key_secret = "sécret" }, "access_key_secret" },
  { cfg { access_key_secret = "\0" }, "access_key_secret" },
  { cfg { access_key_secret = ("s"):rep(100000) }, "access_key_secret" },
  { cfg { access_key_id = "id\t" }, "access_key_id" },
  { cfg { access_key_id = {} }, "access_key_id" },
  { cfg { security_token = "tok en" }, "security_token" },
  { cfg { security_token = "\255" }, "security_token" },
  { cfg { endpoint = "https://live.aliyuncs.com\0.evil" }, "endpoint" },
  { cfg { endpoint = "https://[::1" }, "endpoint" },
  { cfg { endpoint = "https://live.aliyuncs.com:0" }, "endpoint" },
  { cfg { endpoint = "https://live aliyuncs.com" }, "endpoint" },
  { cfg { endpoint = "javascript://x" }, "endpoint" },
  { cfg { timeout = -1 }, "timeout" }, { cfg { timeout = math.huge }, "timeout" },
  { cfg { connect_timeout = 0 / 0 }, "connect_timeout" },
  { cfg { max_attempts = 0 }, "max_attempts" }, { cfg { max_attempts = 1.5 }, "max_attempts" },
  { cfg { max_attempts = 11 }, "max_attempts" }, { cfg { rate_limit = -1 }, "rate_limit" },
  { cfg { rate_burst = 0 }, "rate_burst" }, { cfg { retry_base_delay = -0.1 }, "retry_base_delay" },
  { cfg { retry_max_delay = 0 / 0 }, "retry_max_delay" },
  { cfg { max_response_bytes = 2 ^ 40 }, "max_response_bytes" },
  { cfg { proxy = "http://p\r\n" }, "proxy" }, { cfg { ca_file = "a\0b" }, "ca_file" },
  { setmetatable(cfg {}, raising_mt()), "config" },
  { cfg { [1] = "x" }, "config" },
}

describe("hostile input", function()
  local emu, client
  setup(function()
    emu = H.start_emulator()
    client = livepull.new { endpoint = emu.url, access_key_id = H.KEY_ID, access_key_secret = H.SECRET }
  end)
  teardown(function() emu.stop() end)

  it("has at least 80 cases", function()
    assert.is_true(#bad_params + #bad_configs >= 80)
  end)

  for i, case in ipairs(bad_params) do
    it(("params #%d (%s)"):format(i, case[2]:sub(1, 30)), function()
      local ok, err = pcall(client.update, client, case[1])
      assert.is_false(ok)
      assert.is_true(livepull.is_error(err), tostring(err))
      assert.are.equal("validation", err.kind)
      assert.are.equal(case[2], err.field)
      assert.is_true(#tostring(err) < 1024)
    end)
  end

  it("the same through a coroutine: nothing yields across the C boundary", function()
    local co = coroutine.wrap(function() return pcall(client.update, client, setmetatable(base(), yielding_mt())) end)
    local ok, err = co()
    assert.is_false(ok)
    assert.are.equal("params", err.field)
  end)

  for i, case in ipairs(bad_configs) do
    it(("config #%d (%s)"):format(i, case[2]), function()
      local c = case[1]
      if type(c) == "table" and getmetatable(c) == nil then c.endpoint = c.endpoint or emu.url end
      local ok, err = pcall(livepull.new, c)
      assert.is_false(ok)
      assert.is_true(livepull.is_error(err), tostring(err))
      assert.are.equal("config", err.kind)
      assert.are.equal(case[2], err.field)
      for _, v in pairs(err) do assert.is_nil(tostring(v):find(H.SECRET, 1, true)) end
    end)
  end

  it("sent nothing for any of them", function()
    assert.are.equal(0, #emu.requests())
    assert.are.equal(0, client:update(base { TaskId = "fd245384-4067-4f91-9d75-9666a6bc0000" }).RetCode)
    assert.are.equal(1, #emu.requests())
  end)
end)

-- Endpoints: plain http only to loopback written one unambiguous way; every
-- host, IPv6 literal and port checked at new. { endpoint, accepted, accepted with allow_insecure_http }
local endpoints = {
  { "http://127.0.0.1", true, true }, { "http://127.0.0.1:8080", true, true },
  { "http://127.255.255.254/", true, true }, { "http://127.0.0.2:1", true, true },
  { "http://[::1]", true, true }, { "http://[::1]:65535", true, true },
  { "http://localhost", true, true }, { "http://localhost:80/", true, true },
  { "https://live.aliyuncs.com", true, true }, { "live.aliyuncs.com:443", true, true },
  { "https://[2001:db8::1]:443", true, true }, { "https://10.0.0.1", true, true },
  { "https://a-b.c0.example", true, true },
  -- not loopback: plain http needs allow_insecure_http
  { "http://live.aliyuncs.com", false, true }, { "http://10.0.0.1", false, true },
  { "http://[::2]", false, true }, { "http://[0:0:0:0:0:0:0:1]", false, true },
  { "http://[::ffff:127.0.0.1]", false, true }, { "http://localhost.example", false, true },
  { "http://127.example", false, true },
  -- look like loopback, but libcurl or the resolver would read them otherwise: never accepted
  { "http://127.256.0.1", false, false }, { "http://127.1.1.1.1", false, false },
  { "http://127.999999999", false, false }, { "http://127.", false, false },
  { "http://127.0.0.1.", false, false }, { "http://0x7f.0.0.1", false, false },
  { "http://127.1", false, false }, { "http://0177.0.0.1", false, false },
  { "http://127.0.0.01", false, false }, { "http://2130706433", false, false },
  { "http://0x7f000001", false, false }, { "https://a.0x", false, false }, { "https://a.0X1f", false, false }, { "http://127.0.0.1a", false, true },
  { "http://localhost.", false, false }, { "https://127.0.0.1.", false, false },
  -- broken hosts and ports
  { "https://[zz]", false, false }, { "https://[]", false, false }, { "https://[::1", false, false },
  { "https://[::1]x", false, false }, { "https://[::1%25eth0]", false, false },
  { "https://..", false, false }, { "https://.example.com", false, false },
  { "https://a..b", false, false }, { "https://-a.example", false, false },
  { "https://a-.example", false, false }, { "https://" .. ("a"):rep(64) .. ".example", false, false },
  { "https://" .. ("abc."):rep(70) .. "com", false, false }, { "https://a_b.example", false, false },
  { "h:00443", false, false }, { "h:0", false, false }, { "h:65536", false, false }, { "h:", false, false },
  { "h:1:2", false, false }, { "h:+443", false, false }, { "h: 443", false, false }, { "https://:443", false, false },
  { "https://", false, false }, { "https:///", false, false },
}

describe("endpoints", function()
  for _, case in ipairs(endpoints) do
    for _, insecure in ipairs { false, true } do
      local want = case[insecure and 3 or 2]
      it(("%s %s%s"):format(want and "accepts" or "refuses", case[1]:sub(1, 60), insecure and " (allow_insecure_http)" or ""), function()
        local c, err = require("livepull.safe").new(cfg { endpoint = case[1], allow_insecure_http = insecure })
        if want then
          assert.is_truthy(c, tostring(err))
          c:close()
        else
          assert.is_nil(c)
          assert.are.equal("InvalidConfig", err.code)
          assert.are.equal("endpoint", err.field)
        end
      end)
    end
  end
end)

-- Proxies: parsed at new; a bad one is InvalidConfig on `proxy`, never
-- retryable, and never quotes the user info.
local proxies = {
  { "http://127.0.0.1:3128", true }, { "HTTP://127.0.0.1", true }, { "https://proxy.example:443/", true },
  { "socks5h://u:p%40ss%20w@[::1]:1080", true }, { "socks4a://user@h:1", true }, { "socks5://h", true },
  { "http://bob:S3cretPass@127.0.0.1:8080", true }, { "", true },
  { "bob:S3cretPass@[::1", false }, { "127.0.0.1:3128", false }, { "env", true },
  { "http://bob:S3cret@Pass@127.0.0.1:8080", false }, { "http://bob:S3cret Pass@127.0.0.1:8080", false },
  { "http://bob:S3cret\tPass@127.0.0.1:8080", false }, { "http://bob:S3cret%zzPass@127.0.0.1:8080", false },
  { "http://bob:S3cretPass@[::1", false }, { "http://bob:S3cretPass@[zz]:1", false },
  { "http://bob:S3cretPass@127.0.0.1:0", false }, { "http://bob:S3cretPass@127.0.0.1:65536", false },
  { "http://bob:S3cretPass@h:00080", false }, { "http://bob:S3cretPass@", false }, { "http://", false },
  { "http://bob:S3cretPass@h:1/path", false }, { "ftp://bob:S3cretPass@h:1", false },
  { "http://bob:S3cretPass@127.1:1", false }, { "http://bob:S3cretPass@a..b", false },
  { "http://bob:S3cret\"Pass@h:1", false }, { "http://bob:S3cretPass#@h:1", false },
}

describe("proxies", function()
  for _, case in ipairs(proxies) do
    it(("%s %q"):format(case[2] and "accepts" or "refuses", case[1]), function()
      local c, err = require("livepull.safe").new(cfg { endpoint = "https://live.aliyuncs.com", proxy = case[1] })
      if case[2] then
        assert.is_truthy(c, tostring(err))
        c:close()
        return
      end
      assert.is_nil(c)
      assert.are.same({ "config", "InvalidConfig", "proxy", false }, { err.kind, err.code, err.field, err.retryable })
      local text = tostring(err)
      for _, v in pairs(err) do text = text .. "\n" .. tostring(v) end
      assert.is_nil(text:find("S3cret", 1, true), text)
      assert.is_nil(text:find("bob", 1, true), text)
    end)
  end
end)

-- The environment's proxy variables are never used: the `proxy` option is
-- the only way to a proxy. A listening "proxy" on loopback records every
-- connection it gets.
describe("proxies in the environment", function()
  local emu, proxy, record
  setup(function()
    emu = H.start_emulator()
    record = H.tmpdir() .. "/connections"
    local script = [[
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    with open(sys.argv[1], "a") as f: f.write("connection\n")
    c.close()
]]
    local p = assert(io.popen("sh -c 'echo $$; exec python3 -c \"$0\" \"$1\"' " .. H.sh_quote(script) .. " " ..
      H.sh_quote(record), "r"))
    proxy = { pid = tonumber(p:read("*l")), port = tonumber(p:read("*l")), handle = p }
  end)
  teardown(function()
    os.execute("kill " .. proxy.pid)
    proxy.handle:close()
    emu.stop()
  end)
  local function connections()
    local f = io.open(record)
    if not f then return 0 end
    local n = select(2, f:read("*a"):gsub("\n", ""))
    f:close()
    return n
  end
  local function run_with_env(env, config_extra)
    local code = ([[
      local c, err = require("livepull.safe").new { endpoint = %q, access_key_id = %q, access_key_secret = %q,
        max_attempts = 1, timeout = 3 %s }
      local res
      if c then res, err = c:update { TaskId = "fd245384-4067-4f91-9d75-9666a6bc0000", Region = "cn-shanghai" } end
      print(res and "ok" or err.kind .. " " .. err.code)]]):format(emu.url, H.KEY_ID, H.SECRET, config_extra or "")
    return (H.run(env .. " " .. H.lua_command(code)):gsub("%s+$", ""))
  end

  it("http_proxy, HTTPS_PROXY, ALL_PROXY and friends are ignored", function()
    local p = "http://127.0.0.1:" .. proxy.port
    local env = ("env -u NO_PROXY -u no_proxy http_proxy=%s HTTP_PROXY=%s https_proxy=%s HTTPS_PROXY=%s " ..
      "ALL_PROXY=%s all_proxy=%s"):format(p, p, p, p, p, p)
    assert.are.equal("ok", run_with_env(env))
    assert.are.equal("ok", run_with_env(env, ', proxy = ""'))
    assert.are.equal(0, connections())
  end)

  it('proxy = "env" reads the environment as curl does, NO_PROXY included', function()
    local p = "127.0.0.1:" .. proxy.port   -- no scheme: http://, as curl reads it
    local before = connections()
    local env = "env -u NO_PROXY -u no_proxy -u all_proxy -u ALL_PROXY http_proxy=" .. p
    assert.matches("^transport ", run_with_env(env, ', proxy = "env"'))
    assert.are.equal(before + 1, connections())
    assert.are.equal("ok", run_with_env(env .. " NO_PROXY=127.0.0.1", ', proxy = "env"'))
    assert.are.equal("ok", run_with_env(env .. " no_proxy=localhost,127.0.0.0/8", ', proxy = "env"'))
    -- for http only the lowercase http_proxy counts (curl's rule); https_proxy is for https
    assert.are.equal("ok", run_with_env("env -u http_proxy -u all_proxy -u ALL_PROXY HTTP_PROXY=" .. p ..
      " https_proxy=" .. p, ', proxy = "env"'))
    assert.are.equal(before + 1, connections())
  end)

  it('proxy = "env" checks what it reads like the option, quoting no user info', function()
    for _, bad in ipairs { "bob:S3cretPass@[::1", "http://bob:S3cret@Pass@127.0.0.1:1", "ftp://bob:S3cretPass@h" } do
      local out = run_with_env("env http_proxy=" .. H.sh_quote(bad), ', proxy = "env"')
      assert.matches("^config InvalidConfig$", out)
    end
    local code = [[
      local c, err = require("livepull.safe").new { endpoint = "http://127.0.0.1:1", access_key_id = "k",
        access_key_secret = "s", proxy = "env" }
      print(err.field, err.retryable, tostring(err))]]
    local out = H.run("env http_proxy='bob:S3cretPass@[::1' " .. H.lua_command(code))
    assert.matches("^proxy	false	.*http_proxy", out)
    assert.is_nil(out:find("S3cret", 1, true), out)
    assert.is_nil(out:find("bob", 1, true), out)
  end)

  it("NO_PROXY does not bypass a configured proxy", function()
    local before = connections()
    local out = run_with_env("env NO_PROXY='*' no_proxy='*'", (", proxy = 'http://127.0.0.1:%d'"):format(proxy.port))
    assert.matches("^transport ", out)
    assert.are.equal(before + 1, connections())
  end)
end)

-- livepull.update(params, config) keeps a client per config: a config is
-- never mistaken for another, and its values' metamethods never run.
describe("the per-config client cache", function()
  local emu
  setup(function() emu = H.start_emulator() end)
  teardown(function() emu.stop() end)
  local params = { TaskId = "fd245384-4067-4f91-9d75-9666a6bc0000", Region = "cn-shanghai" }

  it("a value holding NUL bytes cannot pass for another config", function()
    local safe = require "livepull.safe"
    assert.is_truthy(safe.update(params, cfg { endpoint = emu.url, user_agent = "x" }))
    for _, forged in ipairs {
      cfg { endpoint = emu.url .. "\0user_agent=string:x" },
      cfg { endpoint = emu.url .. "\0" .. "10:user_agents1:x" },
      cfg { endpoint = emu.url .. "s1:x" },
    } do
      local res, err = safe.update(params, forged)
      assert.is_nil(res)
      assert.are.equal("endpoint", err.field)
    end
  end)

  it("never runs a value's __tostring, and such a config is the core's config error", function()
    local ran = false
    local value = setmetatable({}, { __tostring = function() ran = true; error("__tostring ran") end })
    for _, module in ipairs { "livepull", "livepull.safe" } do
      local ok, res, err = pcall(require(module).update, params, cfg { endpoint = emu.url, timeout = value })
      local e = ok and err or res
      assert.is_true(livepull.is_error(e), tostring(e))
      assert.are.same({ "InvalidConfig", "timeout" }, { e.code, e.field })
    end
    assert.is_false(ran)
  end)
end)
