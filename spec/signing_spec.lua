-- The signer against every vector of ../shared/reference/signing-vectors.md,
-- and the percent-encoding rules both signatures share.
local core = require "livepull.core"

local U_PARAMS = {
  { "TaskId", "fd245384-4067-4f91-9d75-9666a6bc0000" },
  { "Region", "cn-shanghai" },
  { "RepeatNumber", "-1" },
  { "CallbackUrl", "https://cb.example.com/hook" },
  { "EndTime", "2030-01-02T03:04:05Z" },
  { "SourceUrls", '["rtmp://pull.example.com/app/stream?auth_key=1-0-0-abc&x=1","http://example.com/a b.flv"]' },
}

local vectors = {
  {
    name = "V1-A HMAC-SHA1 DescribeRegions (official)",
    spec = { algorithm = "HMAC-SHA1", method = "GET", host = "ecs.aliyuncs.com", action = "DescribeRegions",
             version = "2014-05-26", format = "XML", access_key_id = "testid", access_key_secret = "testsecret",
             nonce = "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", timestamp = "2016-02-23T12:46:24Z" },
    canonical = "AccessKeyId=testid&Action=DescribeRegions&Format=XML&SignatureMethod=HMAC-SHA1&SignatureNonce=3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf&SignatureVersion=1.0&Timestamp=2016-02-23T12%3A46%3A24Z&Version=2014-05-26",
    string_to_sign = "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26",
    signature = "OLeaidS1JvxuMvnyHOwuJ+uX5qY=",
  },
  {
    name = "V1-A variant POST (api-notes §4.3)",
    spec = { algorithm = "HMAC-SHA1", method = "POST", host = "ecs.aliyuncs.com", action = "DescribeRegions",
             version = "2014-05-26", format = "XML", access_key_id = "testid", access_key_secret = "testsecret",
             nonce = "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", timestamp = "2016-02-23T12:46:24Z" },
    signature = "MxbnVAM4w6sft9xjVpe/GCKueuk=",
  },
  {
    name = "V1-B HMAC-SHA1 DescribeDedicatedHosts (official)",
    spec = { algorithm = "HMAC-SHA1", method = "GET", host = "ecs.cn-beijing.aliyuncs.com",
             action = "DescribeDedicatedHosts", version = "2014-05-26", format = "JSON",
             access_key_id = "testid", access_key_secret = "testsecret",
             nonce = "edb2b34af0af9a6d14deaf7c1a5315eb", timestamp = "2023-03-13T08:34:30Z",
             query = { { "RegionId", "cn-beijing" } } },
    string_to_sign = "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeDedicatedHosts%26Format%3DJSON%26RegionId%3Dcn-beijing%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3Dedb2b34af0af9a6d14deaf7c1a5315eb%26SignatureVersion%3D1.0%26Timestamp%3D2023-03-13T08%253A34%253A30Z%26Version%3D2014-05-26",
    signature = "9NaGiOspFP5UPcwX8Iwt2YJXXuk=",
    query = "AccessKeyId=testid&Action=DescribeDedicatedHosts&Format=JSON&RegionId=cn-beijing&SignatureMethod=HMAC-SHA1&SignatureNonce=edb2b34af0af9a6d14deaf7c1a5315eb&SignatureVersion=1.0&Timestamp=2023-03-13T08%3A34%3A30Z&Version=2014-05-26&Signature=9NaGiOspFP5UPcwX8Iwt2YJXXuk%3D",
  },
  {
    name = "V3-A ACS3-HMAC-SHA256 RunInstances (official)",
    spec = { algorithm = "ACS3-HMAC-SHA256", method = "POST", host = "ecs.cn-shanghai.aliyuncs.com",
             action = "RunInstances", version = "2014-05-26", access_key_id = "YourAccessKeyId",
             access_key_secret = "YourAccessKeySecret", nonce = "3156853299f313e23d1673dc12e1703d",
             timestamp = "2023-10-26T10:22:32Z",
             query = { { "ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd" }, { "RegionId", "cn-shanghai" } } },
    canonical = table.concat({
      "POST", "/", "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai",
      "host:ecs.cn-shanghai.aliyuncs.com", "x-acs-action:RunInstances",
      "x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "x-acs-date:2023-10-26T10:22:32Z", "x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d",
      "x-acs-version:2014-05-26", "",
      "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version",
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" }, "\n"),
    string_to_sign = "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259",
    signature = "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0",
    authorization = "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0",
  },
  {
    name = "U-1 HMAC-SHA1 UpdateLivePullToPush (computed)",
    spec = { algorithm = "HMAC-SHA1", method = "GET", host = "live.aliyuncs.com", action = "UpdateLivePullToPush",
             version = "2016-11-01", format = "JSON", access_key_id = "testid", access_key_secret = "testsecret",
             nonce = "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", timestamp = "2016-02-23T12:46:24Z", query = U_PARAMS },
    canonical = "AccessKeyId=testid&Action=UpdateLivePullToPush&CallbackUrl=https%3A%2F%2Fcb.example.com%2Fhook&EndTime=2030-01-02T03%3A04%3A05Z&Format=JSON&Region=cn-shanghai&RepeatNumber=-1&SignatureMethod=HMAC-SHA1&SignatureNonce=3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf&SignatureVersion=1.0&SourceUrls=%5B%22rtmp%3A%2F%2Fpull.example.com%2Fapp%2Fstream%3Fauth_key%3D1-0-0-abc%26x%3D1%22%2C%22http%3A%2F%2Fexample.com%2Fa%20b.flv%22%5D&TaskId=fd245384-4067-4f91-9d75-9666a6bc0000&Timestamp=2016-02-23T12%3A46%3A24Z&Version=2016-11-01",
    signature = "HaX1mjqw0pYk64MA0dAqyduppEw=",
  },
  {
    name = "U-3 ACS3-HMAC-SHA256 UpdateLivePullToPush (computed)",
    spec = { algorithm = "ACS3-HMAC-SHA256", method = "GET", host = "live.aliyuncs.com",
             action = "UpdateLivePullToPush", version = "2016-11-01", access_key_id = "testid",
             access_key_secret = "testsecret", nonce = "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
             timestamp = "2016-02-23T12:46:24Z", query = U_PARAMS },
    string_to_sign = "ACS3-HMAC-SHA256\n0c37cf5f9ba24c25ab588cfe6993d915197a9acbe4473f4929305d09274469ce",
    signature = "afc683dcb176f594c9595761207dabe296364dbdd51f19d1042b603ecbe7f2d4",
  },
}

describe("signing vectors", function()
  for _, v in ipairs(vectors) do
    it(v.name, function()
      local out = core.sign(v.spec)
      assert.are.equal(v.signature, out.signature)
      if v.canonical then assert.are.equal(v.canonical, out.canonical) end
      if v.string_to_sign then assert.are.equal(v.string_to_sign, out.string_to_sign) end
      if v.query then assert.are.equal(v.query, out.query) end
      if v.authorization then assert.are.equal(v.authorization, out.headers.authorization) end
    end)
  end

  it("adds the STS token: SecurityToken for V1, x-acs-security-token signed for V3", function()
    local base = vectors[6].spec
    local spec = {}
    for k, v in pairs(base) do spec[k] = v end
    spec.security_token = "tok/en+1"
    local v3 = core.sign(spec)
    assert.are.equal("tok/en+1", v3.headers["x-acs-security-token"])
    assert.matches("SignedHeaders=host;x%-acs%-action;x%-acs%-content%-sha256;x%-acs%-date;x%-acs%-security%-token;x%-acs%-signature%-nonce;x%-acs%-version,",
      v3.headers.authorization)
    assert.are_not.equal(vectors[6].signature, v3.signature)
    spec.algorithm = "HMAC-SHA1"
    local v1 = core.sign(spec)
    assert.matches("&SecurityToken=tok%%2Fen%%2B1&", v1.canonical)
  end)
end)

describe("the bare signer's arguments", function()
  it("takes strings only (a number would be converted into a string nothing holds)", function()
    local spec = { algorithm = "HMAC-SHA1", method = "GET", host = "h", action = "A", version = "v",
      access_key_id = "k", access_key_secret = "s", nonce = 123456789012345678, timestamp = "t" }
    assert.has_error(function() core.sign(spec) end)
    spec.nonce = "n"
    spec.query = { { 1, "x" } }
    assert.has_error(function() core.sign(spec) end)
    spec.query = { { "P", "x" } }
    assert.are.equal("P=x", core.sign(spec).canonical:match("P=x"))
  end)
end)

describe("percent-encoding (RFC 3986, as both signatures use it)", function()
  local function encoded(value)
    local out = core.sign { algorithm = "ACS3-HMAC-SHA256", method = "GET", host = "h", action = "A",
      version = "v", access_key_id = "k", access_key_secret = "s", nonce = "n", timestamp = "t",
      query = { { "P", value } } }
    return (out.query:gsub("^P=", ""))
  end
  local cases = {
    { "AZaz09-_.~", "AZaz09-_.~" },
    { "a b", "a%20b" },
    { "*", "%2A" },
    { "+/=", "%2B%2F%3D" },
    { "&?#[]", "%26%3F%23%5B%5D" },
    { "é", "%C3%A9" },
    { "直播", "%E7%9B%B4%E6%92%AD" },
    { "\255\128", "%FF%80" },
    { "%", "%25" },
    { "", "" },
  }
  for _, c in ipairs(cases) do
    it(("%q -> %s"):format(c[1], c[2]), function()
      assert.are.equal(c[2], encoded(c[1]))
    end)
  end

  it("sorts parameters by name in byte order", function()
    local out = core.sign { algorithm = "ACS3-HMAC-SHA256", method = "GET", host = "h", action = "A",
      version = "v", access_key_id = "k", access_key_secret = "s", nonce = "n", timestamp = "t",
      query = { { "b", "1" }, { "B", "2" }, { "a", "3" }, { "ab", "4" }, { "A", "5" } } }
    assert.are.equal("A=5&B=2&a=3&ab=4&b=1", out.query)
  end)
end)
