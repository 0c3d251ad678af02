-- What prepare() builds: the exact request that would be sent.
local livepull = require "livepull"
local core = require "livepull.core"
local H = require "helpers"

local FIXED = { timestamp = "2016-02-23T12:46:24Z", nonce = "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf" }
local U_PARAMS = {
  TaskId = "fd245384-4067-4f91-9d75-9666a6bc0000", Region = "cn-shanghai", RepeatNumber = -1,
  CallbackUrl = "https://cb.example.com/hook", EndTime = "2030-01-02T03:04:05Z",
  SourceUrls = { "rtmp://pull.example.com/app/stream?auth_key=1-0-0-abc&x=1" },
}

local function query_of(url)
  local q = {}
  for k, v in url:match("%?(.*)$"):gmatch("([^&=]+)=([^&]*)") do q[k] = v end
  return q
end

describe("prepare", function()
  it("builds an ACS3-HMAC-SHA256 GET with the business parameters in the query", function()
    local c = livepull.new { access_key_id = "testid", access_key_secret = "testsecret" }
    local req = c:prepare("UpdateLivePullToPush", U_PARAMS, FIXED)
    assert.are.equal("GET", req.method)
    assert.are.equal("", req.body)
    assert.are.equal("https://live.aliyuncs.com/?CallbackUrl=https%3A%2F%2Fcb.example.com%2Fhook&EndTime=2030-01-02T03%3A04%3A05Z&Region=cn-shanghai&RepeatNumber=-1&SourceUrls=%5B%22rtmp%3A%2F%2Fpull.example.com%2Fapp%2Fstream%3Fauth_key%3D1-0-0-abc%26x%3D1%22%5D&TaskId=fd245384-4067-4f91-9d75-9666a6bc0000", req.url)
    local h = req.headers
    assert.are.equal("live.aliyuncs.com", h.host)
    assert.are.equal("UpdateLivePullToPush", h["x-acs-action"])
    assert.are.equal("2016-11-01", h["x-acs-version"])
    assert.are.equal(FIXED.timestamp, h["x-acs-date"])
    assert.are.equal(FIXED.nonce, h["x-acs-signature-nonce"])
    assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", h["x-acs-content-sha256"])
    assert.are.equal("application/json", h.accept)
    assert.matches("^livepull/%d+%.%d+%.%d+ %(Lua", h["user-agent"])
    -- The same signature the bare signer gives for these query parameters.
    local q = {}
    for k, v in pairs(query_of(req.url)) do
      q[#q + 1] = { k, (v:gsub("%%(%x%x)", function(x) return string.char(tonumber(x, 16)) end)) }
    end
    local bare = core.sign { algorithm = "ACS3-HMAC-SHA256", method = "GET", host = "live.aliyuncs.com",
      action = "UpdateLivePullToPush", version = "2016-11-01", access_key_id = "testid",
      access_key_secret = "testsecret", nonce = FIXED.nonce, timestamp = FIXED.timestamp, query = q }
    assert.are.equal(bare.headers.authorization, h.authorization)
  end)

  it("builds an HMAC-SHA1 RPC request whose signature matches vector U-1's algorithm", function()
    local c = livepull.new { access_key_id = "testid", access_key_secret = "testsecret",
      signature_algorithm = "HMAC-SHA1" }
    local req = c:prepare("UpdateLivePullToPush", U_PARAMS, FIXED)
    local q = query_of(req.url)
    assert.are.equal("UpdateLivePullToPush", q.Action)
    assert.are.equal("2016-11-01", q.Version)
    assert.are.equal("JSON", q.Format)
    assert.are.equal("HMAC-SHA1", q.SignatureMethod)
    assert.are.equal("1.0", q.SignatureVersion)
    assert.are.equal(FIXED.nonce, q.SignatureNonce)
    assert.are.equal("2016-02-23T12%3A46%3A24Z", q.Timestamp)
    assert.are.equal("testid", q.AccessKeyId)
    assert.is_nil(req.headers.authorization)
    assert.truthy(q.Signature and #q.Signature > 20)
    assert.matches("&Signature=[^&]+$", req.url)
  end)

  it("sends the STS token as x-acs-security-token (V3) or SecurityToken (V1)", function()
    local c3 = livepull.new { access_key_id = "a", access_key_secret = "b", security_token = "tok" }
    local r3 = c3:prepare("UpdateLivePullToPush", { TaskId = "t", Region = "cn-beijing" }, FIXED)
    assert.are.equal("tok", r3.headers["x-acs-security-token"])
    local c1 = livepull.new { access_key_id = "a", access_key_secret = "b", security_token = "tok",
      signature_algorithm = "HMAC-SHA1" }
    local r1 = c1:prepare("UpdateLivePullToPush", { TaskId = "t", Region = "cn-beijing" }, FIXED)
    assert.are.equal("tok", query_of(r1.url).SecurityToken)
  end)

  it("makes a fresh nonce and the current time for every request", function()
    local c = livepull.new { access_key_id = "a", access_key_secret = "b" }
    local seen = {}
    for _ = 1, 200 do
      local h = c:prepare("UpdateLivePullToPush", { TaskId = "t", Region = "cn-beijing" }).headers
      assert.matches("^%x+$", h["x-acs-signature-nonce"])
      assert.are.equal(32, #h["x-acs-signature-nonce"])
      assert.is_nil(seen[h["x-acs-signature-nonce"]])
      seen[h["x-acs-signature-nonce"]] = true
      local now = os.time()
      local y, mo, d, hh, mi, ss = h["x-acs-date"]:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z$")
      local t = os.time { year = y, month = mo, day = d, hour = hh, min = mi, sec = ss, isdst = false }
        + (os.time() - os.time(os.date("!*t")))
      assert.is_true(math.abs(t - now) <= 2)
    end
  end)

  it("adds the client's region_id as RegionId unless the call sets it", function()
    local c = livepull.new { access_key_id = "a", access_key_secret = "b", region_id = "cn-hangzhou" }
    local r = c:prepare("UpdateLivePullToPush", { TaskId = "t", Region = "cn-beijing" }, FIXED)
    assert.are.equal("cn-hangzhou", query_of(r.url).RegionId)
    r = c:prepare("UpdateLivePullToPush", { TaskId = "t", Region = "cn-beijing", RegionId = "cn-beijing" }, FIXED)
    assert.are.equal("cn-beijing", query_of(r.url).RegionId)
  end)

  it("signs the host and port of a loopback endpoint", function()
    local c = livepull.new { access_key_id = "a", access_key_secret = "b", endpoint = "http://127.0.0.1:8080" }
    local r = c:prepare("UpdateLivePullToPush", { TaskId = "t", Region = "cn-beijing" }, FIXED)
    assert.matches("^http://127%.0%.0%.1:8080/%?", r.url)
    assert.are.equal("127.0.0.1:8080", r.headers.host)
  end)

  it("rejects a bad action, nonce or timestamp option", function()
    local c = livepull.new { access_key_id = "a", access_key_secret = "b" }
    local p = { TaskId = "t", Region = "cn-beijing" }
    local cases = {
      { "Nope", p, nil, "UnknownAction", "action" },
      { "UpdateLivePullToPush", p, { nonce = "has space" }, "InvalidParameter", "opts.nonce" },
      { "UpdateLivePullToPush", p, { nonce = ("x"):rep(65) }, "InvalidParameter", "opts.nonce" },
      { "UpdateLivePullToPush", p, { timestamp = "yesterday" }, "InvalidParameter", "opts.timestamp" },
      { "UpdateLivePullToPush", p, { clock = 1 }, "UnknownParameter", "opts" },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(c.prepare, c, case[1], case[2], case[3])
      assert.is_false(ok)
      assert.are.equal(case[4], err.code)
      assert.are.equal(case[5], err.field)
    end
  end)

  it("keeps up with many different requests on one client (buffers are reused)", function()
    local c = livepull.new { access_key_id = "a", access_key_secret = "b" }
    for i = 1, 2000 do
      local urls = {}
      for j = 1, (i % 30) + 1 do urls[j] = "rtmp://h/app/" .. ("s"):rep(i % 50) .. j end
      local r = c:prepare("UpdateLivePullToPush", H.update_params { SourceUrls = urls, TaskId = "t" .. i }, FIXED)
      assert.truthy(r.url:find("TaskId=t" .. i, 1, true))
    end
  end)
end)
