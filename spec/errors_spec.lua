-- The error contract: one table shape for every failure, config errors,
-- the safe module, parse() on raw answers, and secrets kept out of all of it.
local livepull = require "livepull"
local safe = require "livepull.safe"
local H = require "helpers"

local SECRET = H.SECRET
local TOKEN = H.STS_TOKEN

local function creds(extra)
  local c = { access_key_id = H.KEY_ID, access_key_secret = SECRET }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

-- { name, config, code, field, message pattern (plain) }
local bad_configs = {
  { "unknown option with a suggestion", creds { endpiont = "x" }, "UnknownOption", "endpiont", 'did you mean "endpoint"?' },
  { "non-string option name", creds { [1] = true }, "UnknownOption", "config", "must be strings" },
  { "config not a table", "https://live.aliyuncs.com", "InvalidConfig", "config", "must be a table" },
  { "secret with a space", creds { access_key_secret = "abc def" }, "InvalidConfig", "access_key_secret", "printable ASCII" },
  { "secret with non-ASCII", creds { access_key_secret = "abcé" }, "InvalidConfig", "access_key_secret", "printable ASCII" },
  { "key id with a newline", creds { access_key_id = "LTAI\n" }, "InvalidConfig", "access_key_id", "printable ASCII" },
  { "secret a number", creds { access_key_secret = 12345 }, "InvalidConfig", "access_key_secret", "must be a string" },
  { "secret too long", creds { access_key_secret = ("s"):rep(257) }, "InvalidConfig", "access_key_secret", "at most 256" },
  { "http to a public host", creds { endpoint = "http://live.aliyuncs.com" }, "InvalidConfig", "endpoint", "loopback" },
  { "ftp endpoint", creds { endpoint = "ftp://live.aliyuncs.com" }, "InvalidConfig", "endpoint", "https://" },
  { "endpoint with a path", creds { endpoint = "https://live.aliyuncs.com/api" }, "InvalidConfig", "endpoint", "without a path" },
  { "endpoint with user info", creds { endpoint = "https://user:pw@live.aliyuncs.com" }, "InvalidConfig", "endpoint", "user info" },
  { "endpoint with a bad port", creds { endpoint = "https://live.aliyuncs.com:99999" }, "InvalidConfig", "endpoint", "port" },
  { "endpoint empty", creds { endpoint = "" }, "InvalidConfig", "endpoint", "must not be empty" },
  { "unknown algorithm", creds { signature_algorithm = "HMAC-SHA256" }, "InvalidConfig", "signature_algorithm", "ACS3-HMAC-SHA256" },
  { "timeout 0", creds { timeout = 0 }, "InvalidConfig", "timeout", "above 0" },
  { "timeout NaN", creds { timeout = 0 / 0 }, "InvalidConfig", "timeout", "above 0" },
  { "connect_timeout a string", creds { connect_timeout = "5" }, "InvalidConfig", "connect_timeout", "must be a number" },
  { "region_id upper case", creds { region_id = "CN" }, "InvalidConfig", "region_id", "region ID" },
  { "allow_insecure_http a string", creds { allow_insecure_http = "yes" }, "InvalidConfig", "allow_insecure_http", "boolean" },
  { "max_response_bytes too small", creds { max_response_bytes = 10 }, "InvalidConfig", "max_response_bytes", "1024" },
  { "proxy with an unknown scheme", creds { proxy = "foo://user:pw@proxy:1" }, "InvalidConfig", "proxy", "socks5" },
  { "user_agent with a newline", creds { user_agent = "x\r\nX-Evil: 1" }, "InvalidConfig", "user_agent", "control characters" },
}

describe("config errors", function()
  for _, c in ipairs(bad_configs) do
    it(c[1], function()
      local ok, err = pcall(livepull.new, c[2])
      assert.is_false(ok)
      assert.is_true(livepull.is_error(err))
      assert.are.equal("config", err.kind)
      assert.are.equal(c[3], err.code)
      assert.are.equal(c[4], err.field)
      assert.truthy(err.message:find(c[5], 1, true), "message was: " .. err.message)
      assert.is_nil(tostring(err):find(SECRET, 1, true))
    end)
  end

  it("MissingCredentials names the environment variables", function()
    local ok, err = pcall(livepull.new, { access_key_id = "only-id", endpoint = "https://x.example" })
    -- the environment may hold a secret; clear the case by naming both explicitly
    if ok then return end
    assert.are.equal("MissingCredentials", err.code)
    assert.truthy(err.message:find("ALIBABA_CLOUD_ACCESS_KEY_SECRET", 1, true))
  end)

  it("takes credentials from the ALIBABA_CLOUD_* environment", function()
    local out = H.run("env -u ALIBABA_CLOUD_SECURITY_TOKEN ALIBABA_CLOUD_ACCESS_KEY_ID=EnvKeyId " ..
      "ALIBABA_CLOUD_ACCESS_KEY_SECRET=env-secret " .. H.lua_command([[
        local c = require("livepull").new()
        print(c:prepare("UpdateLivePullToPush", { TaskId = "t", Region = "cn-beijing" }).headers.authorization)]]))
    assert.matches("Credential=EnvKeyId,", out)
    local missing = H.run("env -u ALIBABA_CLOUD_ACCESS_KEY_ID -u ALIBABA_CLOUD_ACCESS_KEY_SECRET " ..
      H.lua_command([[local c, e = require("livepull.safe").new(); print(e.code)]]))
    assert.matches("MissingCredentials", missing)
  end)
end)

describe("error tables", function()
  it("share one metatable and print one readable line", function()
    local c = livepull.new(creds())
    local ok, err = pcall(c.update, c, { TaskId = "t", Region = "mars-1" })
    assert.is_false(ok)
    assert.are.equal(getmetatable(err), getmetatable(select(2, pcall(livepull.new, { bogus = 1 }))))
    assert.matches("^livepull: validation error InvalidParameter %(field Region%): Region must be one of", tostring(err))
    assert.is_false(livepull.is_error({ kind = "validation" }))
    assert.is_false(livepull.is_error("x"))
    assert.is_false(livepull.is_error(nil))
  end)

  it("prints api errors as in the contract", function()
    local c = livepull.new(creds())
    local ok, err = pcall(c.parse, c, 400, nil,
      '{"RequestId":"16A96B9A-F203","HostId":"live.aliyuncs.com","Code":"CodeTaskNotExist","Message":"Task does not exist.","Recommend":"https://api.aliyun.com/troubleshoot?q=CodeTaskNotExist"}')
    assert.is_false(ok)
    assert.are.equal("livepull: api error CodeTaskNotExist (HTTP 400, RequestId 16A96B9A-F203): Task does not exist.", tostring(err))
    assert.are.same({ "api", "CodeTaskNotExist", "Task does not exist.", 400, "16A96B9A-F203", "live.aliyuncs.com",
      "https://api.aliyun.com/troubleshoot?q=CodeTaskNotExist", false },
      { err.kind, err.code, err.message, err.status, err.request_id, err.host_id, err.recommend, err.retryable })
  end)

  it("closed clients fail with ClientClosed; close is idempotent", function()
    local c = livepull.new(creds())
    c:close()
    c:close()
    assert.are.equal("livepull.client (closed)", tostring(c))
    local ok, err = pcall(c.update, c, { TaskId = "t", Region = "cn-beijing" })
    assert.is_false(ok)
    assert.are.equal("ClientClosed", err.code)
  end)

  it("closes with <close> in Lua 5.4", function()
    if _VERSION ~= "Lua 5.4" then return end   -- LuaJIT has no to-be-closed variables
    local chunk = load([[
      local livepull, creds = ...
      local kept
      do
        local c <close> = livepull.new(creds)
        kept = c
      end
      return tostring(kept)
    ]])
    assert.are.equal("livepull.client (closed)", chunk(livepull, creds()))
  end)
end)

describe("parse (the sans-I/O end)", function()
  local c = livepull.new(creds())
  local cases = {
    { "success", 200, '{"RequestId":"R1","RetCode":0,"Description":"OK"}', nil, nil },
    { "success without RetCode", 200, '{"RequestId":"R1","TaskId":"t"}', nil, nil },
    { "RetCode not 0 in a 200", 200, '{"RequestId":"R2","RetCode":3,"Description":"busy"}', "api", "RetCode.3" },
    { "error body", 400, '{"RequestId":"R3","Code":"InvalidParameter","Message":"bad"}', "api", "InvalidParameter" },
    { "throttling is retryable", 400, '{"RequestId":"R4","Code":"Throttling.User","Message":"slow down"}', "api", "Throttling.User", true },
    { "503 is retryable", 503, '{"RequestId":"R5","Code":"ServiceUnavailable","Message":"later"}', "api", "ServiceUnavailable", true },
    { "HTML", 502, "<html>Bad gateway</html>", "protocol", "InvalidResponse", true },
    { "empty body", 200, "", "protocol", "InvalidResponse" },
    { "JSON but not an object", 200, "[1,2]", "protocol", "InvalidResponse" },
    { "an error without Code", 404, '{"message":"no"}', "protocol", "InvalidResponse" },
    { "RetCode as a string", 200, '{"RequestId":"R6","RetCode":"1"}', "api", "RetCode.1" },
    { "RetCode 0.5", 200, '{"RequestId":"R7","RetCode":0.5}', "api", "RetCode.0.5" },
    { "RetCode far past any integer", 200, '{"RequestId":"R8","RetCode":1e300}', "api", "RetCode.1e+300" },
    { "truncated JSON", 200, '{"RequestId":"R', "protocol", "InvalidResponse" },
  }
  for _, case in ipairs(cases) do
    it(case[1], function()
      local ok, res = pcall(c.parse, c, case[2], {}, case[3])
      if not case[4] then
        assert.is_true(ok, tostring(res))
        assert.are.equal("R1", res.RequestId)
      else
        assert.is_false(ok)
        assert.are.equal(case[4], res.kind)
        assert.are.equal(case[5], res.code)
        assert.are.equal(case[2], res.status)
        assert.are.equal(case[6] or false, res.retryable)
      end
    end)
  end

  it("shows the first bytes of a body that is not JSON, escaped", function()
    local ok, err = pcall(c.parse, c, 200, nil, "<html>\n" .. ("x"):rep(500))
    assert.is_false(ok)
    assert.truthy(err.message:find("<html>\\x0A", 1, true))
    assert.is_true(#err.message < 400)
  end)

  it("gives the API's whole numbers back as Lua integers, nested ones too", function()
    local res = c:parse(200, nil, '{"RequestId":"R","RetCode":0,"TaskList":[{"TaskStatus":1,"CurrentOffset":2.5}]}')
    assert.are.equal(0, res.RetCode)
    assert.are.equal(1, res.TaskList[1].TaskStatus)
    assert.are.equal(2.5, res.TaskList[1].CurrentOffset)
    if math.type then
      assert.are.equal("integer", math.type(res.RetCode))
      assert.are.equal("integer", math.type(res.TaskList[1].TaskStatus))
      assert.are.equal("float", math.type(res.TaskList[1].CurrentOffset))
    end
  end)

  it("takes the request ID from the header when the body has none", function()
    local _, err = pcall(c.parse, c, 400, { ["x-acs-request-id"] = "HDR-1" }, '{"Code":"X","Message":"m"}')
    assert.are.equal("HDR-1", err.request_id)
  end)
end)

describe("what error messages quote", function()
  it("hides a proxy's user:password", function()
    local c = livepull.new(creds { endpoint = "http://127.0.0.1:9", max_attempts = 1,
      proxy = "http://proxyuser:" .. SECRET .. "@127.0.0.1:" .. H.closed_port() })
    local ok, err = pcall(c.update, c, { TaskId = "t", Region = "cn-beijing" })
    assert.is_false(ok)
    assert.are.equal("transport", err.kind)
    assert.is_nil(tostring(err):find(SECRET, 1, true))
    assert.is_nil(tostring(err):find("proxyuser", 1, true))
  end)

  it("parse reads headers raw: a proxy table's __index is not consulted", function()
    local c = livepull.new(creds())
    local headers = setmetatable({}, { __index = function() return "FROM-INDEX" end })
    local _, err = pcall(c.parse, c, 400, headers, '{"Code":"X","Message":"m"}')
    assert.is_nil(err.request_id)
  end)
end)

describe("livepull.safe", function()
  it("returns nil, err where livepull raises", function()
    local c, err = safe.new { bogus = true }
    assert.is_nil(c)
    assert.are.equal("UnknownOption", err.code)
    c = safe.new(creds())
    local res, verr = c:prepare("UpdateLivePullToPush", { TaskId = "" , Region = "cn-beijing" })
    assert.is_nil(res)
    assert.are.equal("validation", verr.kind)
    local nothing, perr = c:parse(500, nil, "oops")
    assert.is_nil(nothing)
    assert.are.equal("protocol", perr.kind)
    local r, uerr = safe.update({ Taskid = "x" }, creds())
    assert.is_nil(r)
    assert.are.equal("UnknownParameter", uerr.code)
    assert.is_true(safe.is_error(uerr))
  end)
end)

describe("secrets", function()
  it("never appear in tostring(client), errors or messages", function()
    local c = livepull.new(creds { security_token = TOKEN })
    local text = { tostring(c) }
    local function collect(ok, err)
      if not ok then
        text[#text + 1] = tostring(err)
        for _, v in pairs(err) do text[#text + 1] = tostring(v) end
      end
    end
    collect(pcall(c.update, c, { Taskid = SECRET }))
    collect(pcall(c.update, c, { TaskId = "t", Region = SECRET }))
    collect(pcall(livepull.new, creds { access_key_secret = SECRET .. " " }))
    collect(pcall(livepull.new, creds { access_key_id = SECRET .. "\n" }))
    collect(pcall(livepull.new, creds { security_token = TOKEN .. "é" }))
    local all = table.concat(text, "\n")
    assert.is_nil(all:find(SECRET, 1, true))
    assert.is_nil(all:find(TOKEN, 1, true))
    assert.matches("key LTAI%*%*%*%*", tostring(c))
  end)
end)

-- A server (a gateway, a debugging proxy) that quotes the request back in
-- its error answer gets the token and the signature redacted from every
-- string of the error, however it spells them.
describe("secrets a server quotes back", function()
  local function encode(s)
    return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
  end
  -- the secret raw, percent-encoded 1-3 times (hex upper and lower case), JSON-escaped
  local function spellings(secret)
    local list, s = { secret, (secret:gsub("/", "\\/")) }, secret
    for _ = 1, 3 do
      s = encode(s)
      list[#list + 1] = s
      list[#list + 1] = s:lower()
    end
    return list
  end
  local function strings_of(err)
    local all = { tostring(err) }
    for k, v in pairs(err) do
      if type(v) == "string" then all[#all + 1] = k .. "=" .. v end
    end
    return table.concat(all, "\n")
  end
  local function assert_clean(err, secrets)
    local text = strings_of(err)
    for _, secret in ipairs(secrets) do
      for _, spelled in ipairs(spellings(secret)) do
        assert.is_nil(text:find(spelled, 1, true), ("%q shows in:\n%s"):format(spelled, text))
      end
    end
    -- whatever signature the request had: every quoted one is redacted
    local rest = text:gsub("<redacted>", "")
    assert.is_nil(rest:find("Signature=%w") or rest:find("Signature%%3[Dd]%w") or rest:find("Signature%%253[Dd]%w"), text)
    return text
  end

  local emu
  setup(function() emu = H.start_emulator() end)
  teardown(function() emu.stop() end)

  for _, alg in ipairs { "ACS3-HMAC-SHA256", "HMAC-SHA1" } do
    for encodings = 0, 2 do
      it(("the native path, %s, the request quoted encoded %d time(s)"):format(alg, encodings), function()
        local c = livepull.new { endpoint = emu.url, access_key_id = H.STS2_KEY_ID, access_key_secret = H.STS2_SECRET,
          security_token = H.STS2_TOKEN, signature_algorithm = alg, max_attempts = 1 }
        emu.faults { { kind = "echo", encode = encodings, fields = { "Message", "Recommend", "HostId", "RequestId" } } }
        local ok, err = pcall(c.update, c, H.update_params())
        assert.is_false(ok)
        assert.are.equal("GatewayError", err.code)
        local text = assert_clean(err, { H.STS2_TOKEN, H.STS2_SECRET })
        for _, field in ipairs { "message", "recommend", "host_id", "request_id" } do
          assert.truthy(err[field]:find("<redacted>", 1, true), field .. " was not quoting the request: " .. text)
        end
        assert.truthy(err.message:find("UpdateLivePullToPush", 1, true))   -- the rest of the quote stays
      end)
    end
  end

  it("a plain-text error page quoting the request: the excerpt shows no part of a secret", function()
    local c = livepull.new { endpoint = emu.url, access_key_id = H.STS2_KEY_ID, access_key_secret = H.STS2_SECRET,
      security_token = H.STS2_TOKEN, signature_algorithm = "HMAC-SHA1", max_attempts = 1 }
    -- the token starts at byte 110 of the body: the 120-byte excerpt would cut it
    local body = ("x"):rep(110) .. H.STS2_TOKEN .. " and more"
    local ok, err = pcall(c.parse, c, 502, nil, body)
    assert.is_false(ok)
    assert.are.equal("InvalidResponse", err.code)
    assert.is_nil(err.message:find("CAIS", 1, true), err.message)
    emu.faults { { kind = "echo", json = false, status = 502 } }
    ok, err = pcall(c.update, c, H.update_params())
    assert.are.equal("InvalidResponse", err.code)
    assert_clean(err, { H.STS2_TOKEN })
  end)

  it("client:parse (livepull.resty's path): the signature and token in every field and spelling", function()
    for _, alg in ipairs { "ACS3-HMAC-SHA256", "HMAC-SHA1" } do
      local c = livepull.new { endpoint = emu.url, access_key_id = H.STS2_KEY_ID, access_key_secret = H.STS2_SECRET,
        security_token = H.STS2_TOKEN, signature_algorithm = alg }
      local req = c:prepare("UpdateLivePullToPush", H.update_params(), { nonce = "n1", timestamp = "2030-01-01T00:00:00Z" })
      local signature = alg == "HMAC-SHA1" and req.url:match("Signature=([^&]+)")
        or req.headers.authorization:match("Signature=(%x+)")
      if alg == "HMAC-SHA1" then signature = signature:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end) end
      local s, t = spellings(signature), spellings(H.STS2_TOKEN)
      local cjson = require "cjson"
      local body = cjson.encode {
        Code = "Bad" .. t[3], Message = "sig " .. s[1] .. " token " .. t[1] .. " again " .. t[2],
        Recommend = s[3] .. "|" .. t[4] .. "|" .. s[5], HostId = s[6] .. t[5] .. s[7], RequestId = t[6] .. t[7],
      }
      local ok, err = pcall(c.parse, c, 400, { ["x-acs-request-id"] = t[8] }, body)
      assert.is_false(ok)
      assert_clean(err, { signature, H.STS2_TOKEN })
    end
  end)

  it("core.error (livepull.resty's own errors) redacts a quoted signature value", function()
    local core = require "livepull.core"
    local err = core.error("transport", "ReceiveError", "failed on GET /?a=1&Signature=abc%2Bdef%3D&b=2",
      { detail = 'auth: "Signature":"0123abcd"' })
    assert.are.equal("failed on GET /?a=1&Signature=<redacted>&b=2", err.message)
    assert.are.equal('auth: "Signature":"<redacted>"', err.detail)
  end)
end)

describe("what an error carries", function()
  local c = livepull.new(creds())

  it("a 200 whose body is a JSON array, string, number or null is InvalidResponse", function()
    for _, body in ipairs { "[]", " \n[]", "[{}]", '"ok"', "0", "null", "true", "{}x" } do
      local ok, err = pcall(c.parse, c, 200, nil, body)
      assert.is_false(ok, body)
      assert.are.equal("protocol", err.kind)
      assert.are.equal("InvalidResponse", err.code, body)
    end
    assert.are.same({}, c:parse(200, nil, " {}"))
  end)

  it("cuts any string longer than 1 KiB on a UTF-8 boundary and says so", function()
    local message = "a" .. ("é"):rep(500000)   -- byte 1024 falls inside a character
    local cjson = require "cjson"
    local ok, err = pcall(c.parse, c, 400, nil,
      cjson.encode { Code = "X", Message = message, Recommend = ("r"):rep(5000), HostId = "h" })
    assert.is_false(ok)
    assert.are.equal(message:sub(1, 1023), err.message:sub(1, 1023))
    assert.matches("^ %[cut: 1023 of 1000001 bytes shown%]$", err.message:sub(1024))
    assert.are.equal(1024, #err.recommend:match("^r+"))
    assert.are.equal("h", err.host_id)
    assert.is_true(#tostring(err) < 1200)
    if utf8 then assert.truthy(utf8.len(err.message)) end
  end)
end)

describe("the one retry table", function()
  local core = require "livepull.core"
  for _, case in ipairs {
    { "Throttling.User", true, true, false, true }, { "Throttling", true, true, false, true },
    { "ServiceUnavailable", true, false, false, false }, { "InternalError", true, false, false, false },
    { "CouldNotConnect", true, true, false, false }, { "Timeout", true, false, false, false },
    { "PacingTimeout", true, true, true, false }, { "Interrupted", true, true, true, false },
    { "TLSVerificationFailed", false, false, false, false }, { "CodeTaskNotExist", false, false, false, false },
    { "ThrottlingX", false, false, false, false },
  } do
    it(case[1] .. " is retryable=" .. tostring(case[2]), function()
      local r = core.retry_rule(case[1])
      assert.are.same({ retryable = case[2], not_processed = case[3], ["local"] = case[4], throttling = case[5] }, r)
    end)
  end
  it("an unlisted code with HTTP 502 is retryable", function()
    assert.is_true(core.retry_rule("BadGateway", 502).retryable)
    assert.is_false(core.retry_rule("BadGateway", 400).retryable)
  end)
end)
