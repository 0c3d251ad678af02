-- Faults the emulator injects, one by one, and exactly what livepull makes
-- of each: success after retries where the failure is retryable, a
-- structured error otherwise, no hang past the timeout, bounded memory, and
-- a client that still works for the next call.
local livepull = require "livepull"
local H = require "helpers"

local TASK = "fd245384-4067-4f91-9d75-9666a6bc0000"

local now = H.now

local rss_kib = H.rss_kib

describe("faults", function()
  local emu, config

  setup(function()
    emu = H.start_emulator()
    config = { endpoint = emu.url, access_key_id = H.KEY_ID, access_key_secret = H.SECRET,
               timeout = 1, rate_limit = 0, retry_base_delay = 0.01 }
  end)
  teardown(function() emu.stop() end)
  before_each(function() emu.reset() end)

  local function client(extra)
    local c = H.copy(config)
    for k, v in pairs(extra or {}) do c[k] = v end
    return livepull.new(c)
  end

  local function attempts_seen()
    local nonces, n = {}, 0
    for _, r in ipairs(emu.requests()) do
      n = n + 1
      assert.is_nil(nonces[r.nonce], "a nonce was reused across attempts")
      nonces[r.nonce] = true
    end
    return n
  end

  -- The emulator logs a request when its answer ends: one the client gave up on (a delay past the
  -- timeout) is logged after the call returns, and must not land in the next case's log. Waits until
  -- n requests are logged (polling: no fixed sleep that a loaded machine outlasts), at most 10 s.
  local function logged(n)
    local deadline = now() + 10
    while #emu.requests() < n and now() < deadline do os.execute("sleep 0.05") end
  end

  -- Retryable faults: { name, faults, attempts the emulator sees, true when one of them is
  -- logged only after the call (a delayed answer the client gave up on) }
  local recovered = {
    { "2 throttling answers", { { kind = "throttle", time_left_ms = 50, count = 2 } }, 3 },
    { "InternalError 500", { { kind = "error", status = 500, code = "InternalError", message = "boom" } }, 2 },
    { "ServiceUnavailable 503", { { kind = "error", status = 503, code = "ServiceUnavailable", message = "later" } }, 2 },
    { "a 502 HTML page from a gateway", { { kind = "raw", status = 502, body = "<html>502</html>", content_type = "text/html" } }, 2 },
    { "a delay longer than the timeout", { { kind = "delay", seconds = 1.5 } }, 2, true },
    { "a connection reset", { { kind = "reset" } }, 2 },
    { "a connection reset mid-body", { { kind = "reset", mid_body = true } }, 2 },
    { "a truncated body", { { kind = "truncate" } }, 2 },
    { "headers with no body", { { kind = "headers_only" } }, 2 },
  }
  for _, case in ipairs(recovered) do
    it("recovers from " .. case[1] .. " with a fresh nonce per attempt", function()
      emu.faults(case[2])
      local res = client():update(H.update_params())
      assert.are.equal(0, res.RetCode)
      if case[4] then logged(case[3]) end
      assert.are.equal(case[3], attempts_seen())
    end)
  end

  it("honours TimeLeft from x-ratelimit-user-api", function()
    emu.faults { { kind = "throttle", time_left_ms = 400 } }
    local t0 = now()
    assert.are.equal(0, client():update(H.update_params()).RetCode)
    assert.is_true(now() - t0 >= 0.38)
  end)

  it("honours x-acs-retry-after (ms) over TimeLeft", function()
    emu.faults { { kind = "throttle", time_left_ms = 5, retry_after_ms = 300 } }
    local t0 = now()
    assert.are.equal(0, client():update(H.update_params()).RetCode)
    assert.is_true(now() - t0 >= 0.28)
  end)

  it("caps a server hint at retry_max_delay", function()
    emu.faults { { kind = "throttle", time_left_ms = 60000 } }
    local t0 = now()
    assert.are.equal(0, client { retry_max_delay = 0.2 }:update(H.update_params()).RetCode)
    assert.is_true(now() - t0 < 5)
  end)

  it("gives up after max_attempts with the last error, attempts and retryable", function()
    emu.faults { { kind = "error", status = 503, code = "ServiceUnavailable", message = "later", count = 5 } }
    local ok, err = pcall(client { max_attempts = 4 }.update, client { max_attempts = 4 }, H.update_params())
    assert.is_false(ok)
    assert.are.same({ "api", "ServiceUnavailable", 503, 4, true },
      { err.kind, err.code, err.status, err.attempts, err.retryable })
    assert.matches("attempts 4%)", tostring(err))
    assert.are.equal(4, attempts_seen())
  end)

  it("max_attempts = 1 turns retries off", function()
    emu.faults { { kind = "throttle", time_left_ms = 10 } }
    local c = client { max_attempts = 1 }
    local ok, err = pcall(c.update, c, H.update_params())
    assert.is_false(ok)
    assert.are.same({ "Throttling.User", 1, true }, { err.code, err.attempts, err.retryable })
    assert.are.equal(1, attempts_seen())
  end)

  -- Failures that must not be repeated: { name, faults, params override, config, kind, code }
  local final = {
    { "CodeTaskNotExist", {}, { TaskId = "nope" }, nil, "api", "CodeTaskNotExist" },
    { "SignatureDoesNotMatch", {}, nil, { access_key_secret = "wrong" }, "api", "SignatureDoesNotMatch" },
    { "InvalidAccessKeyId.NotFound", {}, nil, { access_key_id = "nobody" }, "api", "InvalidAccessKeyId.NotFound" },
    { "a 400 InvalidParameter", { { kind = "error", status = 400, code = "InvalidParameter", message = "bad" } }, nil, nil, "api", "InvalidParameter" },
    { "a 200 that is not JSON", { { kind = "raw", status = 200, body = "OK", content_type = "text/plain" } }, nil, nil, "protocol", "InvalidResponse" },
    { "a 200 with RetCode 1", { { kind = "retcode", ret_code = 1, description = "no" } }, nil, nil, "api", "RetCode.1" },
    { "a 50 MiB body", { { kind = "big", bytes = 50 * 1024 * 1024 } }, nil, nil, "protocol", "ResponseTooLarge" },
  }
  for _, case in ipairs(final) do
    it("does not retry " .. case[1], function()
      emu.faults(case[2])
      local c = client(case[4])
      local ok, err = pcall(c.update, c, H.update_params(case[3]))
      assert.is_false(ok)
      assert.are.equal(case[5], err.kind, tostring(err))
      assert.are.equal(case[6], err.code, tostring(err))
      assert.are.equal(1, err.attempts)
      assert.is_false(err.retryable)
      assert.are.equal(1, attempts_seen())
      -- and the client is still usable for the next call
      if not case[4] then assert.are.equal(0, c:update(H.update_params()).RetCode) end
    end)
  end

  it("keeps memory bounded on a 50 MiB answer (max_response_bytes)", function()
    local c = client()
    c:update(H.update_params())
    local before = rss_kib()
    emu.faults { { kind = "big", bytes = 50 * 1024 * 1024 } }
    local ok, err = pcall(c.update, c, H.update_params())
    assert.is_false(ok)
    assert.are.equal("ResponseTooLarge", err.code)
    assert.is_true(rss_kib() - before < 8 * 1024, "RSS grew by more than 8 MiB")
    local ok2, err2 = pcall(client { max_response_bytes = 4096 }.update, client { max_response_bytes = 4096 },
      H.update_params())
    assert.is_true(ok2, tostring(err2))   -- a normal answer is far below 4 KiB
  end)

  it("never hangs on a body that never ends: the timeout ends each attempt", function()
    emu.faults { { kind = "endless", count = 2 } }
    local c = client { timeout = 0.5, max_attempts = 2 }
    local t0 = now()
    local ok, err = pcall(c.update, c, H.update_params())
    local took = now() - t0
    assert.is_false(ok)
    assert.are.same({ "transport", "Timeout", 2 }, { err.kind, err.code, err.attempts })
    assert.is_true(took < 2.5, ("took %.2f s"):format(took))
    assert.are.equal(0, c:update(H.update_params()).RetCode)
  end)

  it("times out a slow answer on every attempt, then fails with Timeout", function()
    emu.faults { { kind = "delay", seconds = 1.2, count = 3 } }
    local c = client { timeout = 0.3 }
    local t0 = now()
    local ok, err = pcall(c.update, c, H.update_params())
    assert.is_false(ok)
    assert.are.same({ "Timeout", 3, true }, { err.code, err.attempts, err.retryable })
    assert.is_true(now() - t0 < 3)
    logged(3)   -- the emulator finishes (and logs) the delayed requests: let them drain
  end)

  it("a timeout below a millisecond still times out (it is never rounded to 'none')", function()
    emu.faults { { kind = "delay", seconds = 1 } }
    local c = client { timeout = 0.0004, max_attempts = 1 }
    local t0 = now()
    local ok, err = pcall(c.update, c, H.update_params())
    assert.is_false(ok)
    assert.are.equal("Timeout", err.code)
    assert.is_true(now() - t0 < 0.9)
    -- Let the delayed request drain: a fixed 1 s sleep left it about 50 ms (the next case's run) to be
    -- logged before the reset of the case after, which counts requests. One that left within the
    -- 0.4 ms is logged when its 1 s delay ends; one that never left leaves the fault pending.
    local give_up, deadline = t0 + 1.5, t0 + 10
    while #emu.requests() == 0 and now() < deadline and
          (now() < give_up or #emu.control("GET", "/_emulator/faults").pending == 0) do
      os.execute("sleep 0.05")
    end
  end)

  it("retries a refused connection, then reports it", function()
    local c = livepull.new { endpoint = "http://127.0.0.1:" .. H.closed_port(), access_key_id = "a",
      access_key_secret = "b", retry_base_delay = 0.01, max_attempts = 2 }
    local ok, err = pcall(c.update, c, H.update_params())
    assert.is_false(ok)
    assert.are.same({ "CouldNotConnect", 2 }, { err.code, err.attempts })
  end)

  local function create_params(dst)
    return { Region = "cn-beijing", StartTime = "2030-01-01T00:00:00Z", EndTime = "2030-01-02T00:00:00Z",
      SourceType = "vod", SourceUrls = { "media-1" }, DstUrl = "rtmp://push.example.com/app/" .. dst }
  end

  it("does not repeat a Create after a 503: the service may have made the task", function()
    emu.faults { { kind = "error", status = 503, code = "ServiceUnavailable", message = "later" } }
    local c = client()
    local ok, err = pcall(c.create, c, create_params("once"))
    assert.is_false(ok)
    assert.are.same({ "ServiceUnavailable", 1, true }, { err.code, err.attempts, err.retryable })
    assert.are.equal(1, attempts_seen())
  end)

  it("repeats a Create after throttling: the service did not act on it", function()
    emu.faults { { kind = "throttle", time_left_ms = 20 } }
    local res = client():create(create_params("throttled"))
    assert.truthy(res.TaskId)
    assert.are.equal(2, attempts_seen())
  end)

  it("sends nothing for invalid input, whatever max_attempts says", function()
    local c = client { max_attempts = 5 }
    local ok, err = pcall(c.update, c, H.update_params { Offset = 0 })
    assert.is_false(ok)
    assert.are.equal("validation", err.kind)
    assert.is_nil(err.attempts)
    assert.are.equal(0, attempts_seen())
  end)
end)

describe("pacing", function()
  local emu
  setup(function() emu = H.start_emulator { qps = 10 } end)
  teardown(function() emu.stop() end)
  before_each(function() emu.reset() end)

  local function run(n, extra)
    local c = H.copy { endpoint = emu.url, access_key_id = H.KEY_ID, access_key_secret = H.SECRET }
    for k, v in pairs(extra or {}) do c[k] = v end
    local client = livepull.new(c)
    local errors, t0 = {}, now()
    for i = 1, n do
      local ok, err = pcall(client.update, client, H.update_params { RepeatNumber = i })
      if not ok then errors[#errors + 1] = err end
    end
    return errors, now() - t0, H.throttled(emu.requests())
  end

  it("100 updates under the default 10/s pacing see no throttling error", function()
    local errors, took, throttled = run(100)
    assert.are.equal(0, #errors, #errors > 0 and tostring(errors[1]) or "")
    assert.are.equal(100, emu.task(TASK).RepeatNumber)
    assert.is_true(took >= 8.9, ("100 calls took only %.2f s"):format(took))
    print(("\n  pacing: 100 calls in %.2f s; the emulator throttled %d attempts (retried)"):format(took, throttled))
  end)

  it("the emulator does throttle an unpaced loop (so the case above means something)", function()
    local errors = run(30, { rate_limit = 0, max_attempts = 1 })
    assert.is_true(#errors >= 10)
    assert.are.equal("Throttling.User", errors[1].code)
  end)
end)
