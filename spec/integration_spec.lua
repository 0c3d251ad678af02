-- End to end over real HTTP and HTTPS on loopback against tools/live-emulator,
-- which the spec starts and stops itself.
local livepull = require "livepull"
local core = require "livepull.core"
local H = require "helpers"

local certs = H.make_certs()

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end

for _, scheme in ipairs { "http", "https" } do
  describe("against the emulator over " .. scheme, function()
    local emu, config

    setup(function()
      emu = H.start_emulator { tls = scheme == "https" and certs or nil }
      config = { endpoint = emu.url, access_key_id = H.KEY_ID, access_key_secret = H.SECRET,
                 ca_file = scheme == "https" and certs.ca or nil, timeout = 5,
                 max_attempts = 1, rate_limit = 0 }  -- one call, one request: faults show as they are
    end)
    teardown(function() emu.stop() end)
    before_each(function() emu.reset() end)

    local function client(extra)
      local c = {}
      for k, v in pairs(config) do c[k] = v end
      for k, v in pairs(extra or {}) do c[k] = v end
      return livepull.new(c)
    end

    local function expect_error(fn, kind, code)
      local ok, err = pcall(fn)
      assert.is_false(ok, "the call succeeded")
      assert.is_true(livepull.is_error(err), tostring(err))
      assert.are.equal(kind, err.kind, tostring(err))
      assert.are.equal(code, err.code, tostring(err))
      return err
    end

    for _, algorithm in ipairs { "ACS3-HMAC-SHA256", "HMAC-SHA1" } do
      it("updates a task (" .. algorithm .. ") and the service applies it", function()
        local c = client { signature_algorithm = algorithm }
        local res = c:update(H.update_params { CallbackUrl = "https://cb.example.com/" .. algorithm })
        assert.are.equal(0, res.RetCode)
        assert.are.equal("OK", res.Description)
        assert.matches("^%x+%-", res.RequestId)
        local task = emu.task("fd245384-4067-4f91-9d75-9666a6bc0000")
        assert.are.equal("https://cb.example.com/" .. algorithm, task.CallbackUrl)
        assert.are.equal(-1, task.RepeatNumber)
        assert.are.same({ "rtmp://pull.example.com/app/stream" }, task.SourceUrls)
        local log = emu.requests()
        assert.are.equal(1, #log)
        assert.are.equal(algorithm, log[1].algorithm)
        c:close()
      end)
    end

    it("livepull.update(params, config) works and reuses one client per config", function()
      local res = livepull.update(H.update_params(), config)
      assert.are.equal(0, res.RetCode)
      local res2 = livepull.update(H.update_params { RepeatNumber = 3 }, config)
      assert.are.equal(0, res2.RetCode)
      assert.are.equal(3, emu.task("fd245384-4067-4f91-9d75-9666a6bc0000").RepeatNumber)
    end)

    it("sends with the STS token", function()
      local c = client { access_key_id = H.STS_KEY_ID, access_key_secret = H.STS_SECRET, security_token = H.STS_TOKEN }
      assert.are.equal(0, c:update(H.update_params()).RetCode)
      local bad = client { access_key_id = H.STS_KEY_ID, access_key_secret = H.STS_SECRET }
      expect_error(function() bad:update(H.update_params()) end, "api", "InvalidSecurityToken.MismatchWithAccessKey")
    end)

    it("CodeTaskNotExist", function()
      local err = expect_error(function() client():update(H.update_params { TaskId = "no-such-task" }) end,
        "api", "CodeTaskNotExist")
      assert.are.equal(400, err.status)
      assert.are.equal("Task does not exist.", err.message)
      assert.truthy(err.request_id and err.host_id and err.recommend)
      assert.is_false(err.retryable)
      assert.matches("^livepull: api error CodeTaskNotExist %(HTTP 400, RequestId %S+%): Task does not exist%.$", tostring(err))
    end)

    it("CodeTaskHasStarted: Region after the start, sources while running", function()
      local c = client()
      expect_error(function() c:update { TaskId = "demo-running-0001", Region = "cn-shanghai" } end,
        "api", "CodeTaskHasStarted")
      expect_error(function() c:update { TaskId = "demo-running-0001", Region = "cn-beijing",
        SourceUrls = { "rtmp://x/y/z" } } end, "api", "CodeTaskHasStarted")
      -- while running, CallbackUrl and RepeatNumber may change
      assert.are.equal(0, c:update { TaskId = "demo-running-0001", Region = "cn-beijing",
        CallbackUrl = "", RepeatNumber = 2 }.RetCode)
      -- a stopped task takes everything but Region
      assert.are.equal(0, c:update { TaskId = "demo-stopped-0001", Region = "cn-shanghai",
        SourceUrls = { "http://e.com/a.mp4", "http://e.com/b.mp4" }, FileIndex = 1, Offset = 5 }.RetCode)
    end)

    it("InvalidParam.CodeIllegalDuration when the new EndTime falls before the stored StartTime", function()
      local err = expect_error(function()
        client():update { TaskId = "fd245384-4067-4f91-9d75-9666a6bc0000", Region = "cn-shanghai",
          EndTime = "2030-08-01T00:00:00Z" }
      end, "api", "InvalidParam.CodeIllegalDuration")
      assert.are.equal(400, err.status)
    end)

    it("InvalidParameter and MissingParameter for requests livepull itself would never send", function()
      local c = client()
      local function signed(query)
        local host = emu.url:match("://([^/]+)")
        local s = core.sign { algorithm = "ACS3-HMAC-SHA256", method = "GET", host = host,
          action = "UpdateLivePullToPush", version = "2016-11-01", access_key_id = H.KEY_ID,
          access_key_secret = H.SECRET, nonce = ("%x"):format(math.random(1, 2 ^ 30)) .. os.clock(),
          timestamp = iso(os.time()), query = query }
        return { method = "GET", url = emu.url .. "/?" .. s.query, headers = s.headers }
      end
      local status, body = H.send_prepared(signed { { "TaskId", "fd245384-4067-4f91-9d75-9666a6bc0000" },
        { "Region", "cn-shanghai" }, { "RepeatNumber", "-7" } }, certs.ca)
      local ok, err = pcall(c.parse, c, status, nil, body)
      assert.is_false(ok)
      assert.are.equal("InvalidParameter", err.code)
      status, body = H.send_prepared(signed { { "TaskId", "fd245384-4067-4f91-9d75-9666a6bc0000" } }, certs.ca)
      ok, err = pcall(c.parse, c, status, nil, body)
      assert.is_false(ok)
      assert.are.equal("MissingParameter", err.code)
      assert.truthy(err.message:find("Region", 1, true))
    end)

    it("InvalidAccessKeyId.NotFound", function()
      local err = expect_error(function() client { access_key_id = "LTAI-unknown" }:update(H.update_params()) end,
        "api", "InvalidAccessKeyId.NotFound")
      assert.are.equal(404, err.status)
    end)

    it("SignatureDoesNotMatch carries the server's string to sign, and never the secret", function()
      local wrong = "Wrong-" .. H.SECRET
      local err = expect_error(function() client { access_key_secret = wrong }:update(H.update_params()) end,
        "api", "SignatureDoesNotMatch")
      assert.truthy(err.message:find("server string to sign is:ACS3-HMAC-SHA256", 1, true))
      for _, v in pairs(err) do assert.is_nil(tostring(v):find(H.SECRET, 1, true)) end
      local v1 = expect_error(function()
        client { access_key_secret = wrong, signature_algorithm = "HMAC-SHA1" }:update(H.update_params())
      end, "api", "SignatureDoesNotMatch")
      assert.truthy(v1.message:find("server string to sign is:GET&%2F&", 1, true))
    end)

    it("SignatureDoesNotMatch with HMAC-SHA1 and STS: the quoted string to sign has the token redacted", function()
      local c = client { access_key_id = H.STS2_KEY_ID, access_key_secret = "Wrong-" .. H.STS2_SECRET,
        security_token = H.STS2_TOKEN, signature_algorithm = "HMAC-SHA1" }
      local err = expect_error(function() c:update(H.update_params()) end, "api", "SignatureDoesNotMatch")
      assert.truthy(err.message:find("SecurityToken%3D<redacted>", 1, true), err.message)
      for _, form in ipairs { H.STS2_TOKEN, "CAIS%2Bspec%2Ftoken%3D2", "CAIS%252Bspec%252Ftoken%253D2" } do
        assert.is_nil(err.message:find(form, 1, true), form)
      end
      -- and the same request with the right secret works: the token itself was fine
      assert.are.equal(0, client { access_key_id = H.STS2_KEY_ID, access_key_secret = H.STS2_SECRET,
        security_token = H.STS2_TOKEN, signature_algorithm = "HMAC-SHA1" }:update(H.update_params()).RetCode)
    end)

    it("SignatureNonceUsed when a nonce is replayed", function()
      local c = client()
      local req = c:prepare("UpdateLivePullToPush", H.update_params(), { nonce = "replayed-nonce-1" })
      local status, body = H.send_prepared(req, certs.ca)
      assert.are.equal(200, status)
      status, body = H.send_prepared(req, certs.ca)
      local ok, err = pcall(c.parse, c, status, nil, body)
      assert.is_false(ok)
      assert.are.equal("SignatureNonceUsed", err.code)
    end)

    it("InvalidTimeStamp.Expired for a clock 20 minutes off", function()
      local c = client()
      local req = c:prepare("UpdateLivePullToPush", H.update_params(), { timestamp = iso(os.time() - 1200) })
      local status, body = H.send_prepared(req, certs.ca)
      local ok, err = pcall(c.parse, c, status, nil, body)
      assert.is_false(ok)
      assert.are.equal("InvalidTimeStamp.Expired", err.code)
    end)

    it("a non-JSON answer is a protocol error with the status and the first bytes", function()
      emu.faults { { kind = "raw", status = 502, body = "<html>bad gateway</html>", content_type = "text/html" } }
      local err = expect_error(function() client():update(H.update_params()) end, "protocol", "InvalidResponse")
      assert.are.equal(502, err.status)
      assert.truthy(err.message:find("<html>bad gateway</html>", 1, true))
    end)

    for _, framing in ipairs { "chunked", "close" } do
      it("reads a " .. framing .. "-framed answer", function()
        emu.faults { { kind = "raw", status = 200, framing = framing, content_type = "application/json",
          body = '{"RequestId":"FRAMED-1","RetCode":0,"Description":"OK"}' } }
        local c = client()
        assert.are.equal("FRAMED-1", c:update(H.update_params()).RequestId)
        assert.are.equal(0, c:update(H.update_params()).RetCode)   -- and the next call works
      end)
    end

    it("a 200 with RetCode not 0 is an api error", function()
      emu.faults { { kind = "retcode", ret_code = 7, description = "task busy" } }
      local err = expect_error(function() client():update(H.update_params()) end, "api", "RetCode.7")
      assert.are.equal(7, err.ret_code)
      assert.are.equal("task busy", err.message)
    end)

    it("a 503 ServiceUnavailable is a retryable api error", function()
      emu.faults { { kind = "error", status = 503, code = "ServiceUnavailable", message = "try later" } }
      local err = expect_error(function() client():update(H.update_params()) end, "api", "ServiceUnavailable")
      assert.are.equal(503, err.status)
      assert.is_true(err.retryable)
    end)

    it("a slow answer past the timeout is a transport Timeout, and the client still works after", function()
      emu.faults { { kind = "delay", seconds = 2 } }
      local c = client { timeout = 0.5 }
      local t0 = os.time()
      local err = expect_error(function() c:update(H.update_params()) end, "transport", "Timeout")
      assert.are.equal(28, err.curl_code)
      assert.is_true(err.retryable)
      assert.is_true(os.time() - t0 <= 2)
      assert.are.equal(0, c:update(H.update_params()).RetCode)
      -- The emulator answers (and logs, and applies) the timed-out update when its 2 s end: let it,
      -- here, rather than in a later case that counts requests (30 calls on one connection took
      -- 0.2 s under valgrind, 1.3 s before this one lands; a loaded machine gets closer).
      local deadline = H.now() + 10
      while #emu.requests() < 2 and H.now() < deadline do H.run("sleep 0.05") end
    end)

    it("a connection reset is a retryable transport error", function()
      emu.faults { { kind = "reset" } }
      local ok, err = pcall(function() client():update(H.update_params()) end)
      assert.is_false(ok)
      assert.are.equal("transport", err.kind, tostring(err))
      assert.truthy(({ EmptyReply = 1, ReceiveError = 1, SendError = 1 })[err.code], tostring(err))
      assert.is_true(err.retryable)
    end)

    it("keeps one connection alive across calls", function()
      local c = client()
      for i = 1, 30 do
        assert.are.equal(0, c:update(H.update_params { RepeatNumber = i }).RetCode)
      end
      assert.are.equal(30, emu.task("fd245384-4067-4f91-9d75-9666a6bc0000").RepeatNumber)
      assert.are.equal(30, #emu.requests())
    end)
  end)
end

describe("transport failures", function()
  it("a closed port is a retryable transport error carrying curl's code and message", function()
    local c = livepull.new { endpoint = "http://127.0.0.1:" .. H.closed_port(), access_key_id = "a", access_key_secret = "b" }
    local ok, err = pcall(c.update, c, H.update_params())
    assert.is_false(ok)
    assert.are.equal("transport", err.kind)
    assert.are.equal("CouldNotConnect", err.code)
    assert.are.equal(7, err.curl_code)
    assert.is_true(err.retryable)
    assert.truthy(err.message:find("127.0.0.1", 1, true))
    assert.are.equal(3, err.attempts)   -- the default max_attempts: connect failures are retried
    assert.matches("^livepull: transport error CouldNotConnect %(curl 7, attempts 3%): ", tostring(err))
  end)

  it("an HTTPS server with a CA the client does not trust is a transport error", function()
    local emu = H.start_emulator { tls = certs }
    finally(emu.stop)
    local c = livepull.new { endpoint = emu.url, access_key_id = H.KEY_ID, access_key_secret = H.SECRET }
    local ok, err = pcall(c.update, c, H.update_params())
    assert.is_false(ok)
    assert.are.equal("transport", err.kind)
    assert.are.equal("TLSVerificationFailed", err.code)
    assert.are.equal(0, #emu.requests())
  end)

  it("a certificate for another host name is a transport error", function()
    local wrong = H.make_certs("DNS:wrong.example")
    local emu = H.start_emulator { tls = wrong }
    finally(emu.stop)
    local c = livepull.new { endpoint = emu.url, access_key_id = H.KEY_ID, access_key_secret = H.SECRET,
      ca_file = wrong.ca }
    local ok, err = pcall(c.update, c, H.update_params())
    assert.is_false(ok)
    assert.are.equal("transport", err.kind)
    assert.are.equal("TLSVerificationFailed", err.code)
    assert.truthy(err.message:find("subject name", 1, true), err.message)
  end)
end)
