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
