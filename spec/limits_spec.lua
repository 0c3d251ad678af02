-- Limits that keep a hostile value or a misbehaving server from costing
-- memory, time or a crash: SourceUrls entry and request sizes, pacing values
-- and max_pacing_wait, signals during a wait, and client:tasks() paging.
local livepull = require "livepull"
local safe = require "livepull.safe"
local H = require "helpers"

local function config(emu, extra)
  local c = { endpoint = emu.url, access_key_id = H.KEY_ID, access_key_secret = H.SECRET,
              retry_base_delay = 0, timeout = 5 }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

describe("request sizes", function()
  local emu
  setup(function() emu = H.start_emulator() end)
  teardown(function() emu.stop() end)
  before_each(function() emu.reset() end)

  it("a SourceUrls entry of more than 2000 characters is refused, naming the entry", function()
    local c = safe.new(config(emu, { rate_limit = 0 }))
    local long = "rtmp://pull.example.com/app/" .. ("s"):rep(2000)
    local res, err = c:update(H.update_params { SourceUrls = { "rtmp://a.example.com/a/b", long } })
    assert.is_nil(res)
    assert.are.equal("validation", err.kind)
    assert.are.equal("SourceUrls[2]", err.field)
    assert.is_truthy(err.message:match("2000 characters"))
    local ok = c:update(H.update_params { SourceUrls = { "rtmp://pull.example.com/app/" .. ("s"):rep(1900) } })
    assert.is_truthy(ok)
    assert.are.equal(1, #emu.requests())
  end)

  it("30 entries of 100 KB fail validation, not the transport, and nothing is sent", function()
    local c = safe.new(config(emu, { rate_limit = 0 }))
    local urls = {}
    for i = 1, 30 do urls[i] = "rtmp://h.example.com/a/" .. ("x"):rep(100 * 1024) end
    local _, err = c:update(H.update_params { SourceUrls = urls })
    assert.are.equal("validation", err.kind)
    assert.are.equal("SourceUrls[1]", err.field)
    assert.are.equal(0, #emu.requests())
  end)

  it("prepare's URL stays bounded for the largest valid request", function()
    local c = livepull.new(config(emu))
    local urls = {}
    for i = 1, 30 do urls[i] = "rtmp://h.example.com/a/" .. ("中"):rep(1970) end
    local req = c:prepare("UpdateLivePullToPush", H.update_params { SourceUrls = urls })
    -- 30 x 1970 three-byte characters, percent-encoded: under 1 MiB, not 90 MB.
    assert.is_true(#req.url < 1024 * 1024)
  end)
end)

describe("pacing values", function()
  local emu
  setup(function() emu = H.start_emulator() end)
  teardown(function() emu.stop() end)
  before_each(function() emu.reset() end)

  for _, bad in ipairs { 1e-300, 1e-9, 0.009, -1, 0 / 0, math.huge } do
    it("rate_limit = " .. tostring(bad) .. " is a config error naming rate_limit", function()
      local c, err = safe.new(config(emu, { rate_limit = bad }))
      assert.is_nil(c)
      assert.are.equal("InvalidConfig", err.code)
      assert.are.equal("rate_limit", err.field)
    end)
  end
  for _, good in ipairs { 0, 0.01, 10 } do
    it("rate_limit = " .. good .. " is accepted", function()
      assert.is_truthy(safe.new(config(emu, { rate_limit = good })))
    end)
  end
  for _, bad in ipairs { -1, 86401, "60", 0 / 0 } do
    it("max_pacing_wait = " .. tostring(bad) .. " is a config error", function()
      local _, err = safe.new(config(emu, { max_pacing_wait = bad }))
      assert.are.equal("max_pacing_wait", err.field)
    end)
  end

  it("a wait longer than max_pacing_wait fails at once with PacingTimeout, keeping the slot", function()
    local c = safe.new(config(emu, { rate_limit = 0.5, rate_burst = 1, max_pacing_wait = 1 }))
    assert.is_truthy(c:update(H.update_params()))
    local started = H.now()
    local res, err = c:update(H.update_params())
    assert.is_nil(res)
    assert.are.equal("transport", err.kind)
    assert.are.equal("PacingTimeout", err.code)
    assert.is_true(err.retryable)
    assert.are.equal(1, err.attempts)
    assert.is_truthy(err.message:match("max_pacing_wait"))
    assert.is_true(H.now() - started < 0.5, "it waited before failing")
    assert.are.equal(1, #emu.requests())
    -- The refused call spent no slot: one is free again 2 s after the first.
    os.execute("sleep 2.1")
    assert.is_truthy(c:update(H.update_params()))
  end)

  it("client:pace() says nil, wait for a wait past max_pacing_wait", function()
    local c = livepull.new(config(emu, { rate_limit = 0.5, rate_burst = 1, max_pacing_wait = 1 }))
    assert.are.equal(0, c:pace())
    local slot, wait = c:pace()
    assert.is_nil(slot)
    assert.is_true(wait > 1.5 and wait <= 2.01)
    assert.are.equal(1, c:settings().max_pacing_wait)
  end)

  it("a signal the process handles ends a pacing wait at once", function()
    -- lua's own SIGINT handler stops the script; the sleep must not outlast it.
    local code = ("local c = require('livepull').new { endpoint = %q, access_key_id = %q, " ..
      "access_key_secret = %q, rate_limit = 0.1, rate_burst = 1 } " ..
      "local p = { TaskId = 'fd245384-4067-4f91-9d75-9666a6bc0000', Region = 'cn-shanghai' } " ..
      "c:update(p) io.stdout:write('first\\n') io.stdout:flush() c:update(p)"):format(emu.url, H.KEY_ID, H.SECRET)
    -- The signal goes once the first call is done (a slow start, as under
    -- valgrind, must not meet it in require); then the process must end at
    -- once, not after the 10 s slot.
    local dir = H.tmpdir()
    local script = table.concat({
      H.lua_command(code) .. " >" .. dir .. "/out 2>&1 & pid=$!",
      "i=0; while ! grep -q first " .. dir .. "/out && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done",
      "t0=$(date +%s%N); kill -INT $pid; wait $pid; t1=$(date +%s%N)",
      "echo took_ms=$(( (t1 - t0) / 1000000 ))",
    }, "\n")
    local result = H.run(script)
    local out = H.run("cat " .. dir .. "/out")
    local took = tonumber(result:match("took_ms=(%d+)"))
    took = took and took / 1000
    assert.is_truthy(out:match("first"), out)
    assert.is_true(took ~= nil and took < 5, ("the process outlived the signal: %s s of a 10 s wait"):format(tostring(took)))
    assert.are.equal(1, #emu.requests())
  end)
end)

describe("client:tasks() against a misbehaving list", function()
  local emu
  setup(function() emu = H.start_emulator() end)
  teardown(function() emu.stop() end)
  before_each(function() emu.reset() end)

  local function answer(body, count)
    emu.faults { { kind = "raw", status = 200, body = body, content_type = "application/json", count = count or 1 } }
  end

  local function drain(client)
    local got, n = {}, 0
    for task in client:tasks { Region = "cn-shanghai" } do
      n = n + 1
      got[n] = task
      assert(n < 1000, "the loop did not end")
    end
    return got
  end

  for _, case in ipairs {
    { "a number", '{"RequestId":"r","TaskList":5,"Total":1}' },
    { "a string", '{"RequestId":"r","TaskList":"tasks","Total":1}' },
    { "an object", '{"RequestId":"r","TaskList":{"a":{"TaskId":"x"}},"Total":1}' },
  } do
    it("TaskList as " .. case[1] .. " is a protocol InvalidResponse error on both flavours", function()
      answer(case[2])
      local ok, err = pcall(drain, livepull.new(config(emu, { rate_limit = 0 })))
      assert.is_false(ok)
      assert.is_true(livepull.is_error(err))
      assert.are.equal("protocol", err.kind)
      assert.are.equal("InvalidResponse", err.code)
      answer(case[2])
      local iter = safe.new(config(emu, { rate_limit = 0 })):tasks { Region = "cn-shanghai" }
      local task, err2 = iter()
      assert.is_nil(task)
      assert.are.equal("InvalidResponse", err2.code)
    end)
  end

  it("ends when the service omits Total and answers the same page again", function()
    answer('{"RequestId":"r","TaskList":[{"TaskId":"a"},{"TaskId":"b"}]}', 50)
    local got = drain(livepull.new(config(emu, { rate_limit = 0 })))
    assert.are.equal(2, #got)
    assert.are.equal(2, #emu.requests())
  end)

  it("still pages through the real emulator", function()
    local c = livepull.new(config(emu, { rate_limit = 0 }))
    local n = 0
    for _ in c:tasks { Region = "cn-shanghai", PageSize = 1 } do n = n + 1 end
    assert.is_true(n >= 2)
  end)
end)
