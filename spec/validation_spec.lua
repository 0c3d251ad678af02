-- Every client-side rule, table-driven: a passing and a failing case each.
-- prepare() runs validation without any network, with an injected clock.
local livepull = require "livepull"
local H = require "helpers"

local NOW = "2026-11-25T00:00:00Z"
local client = livepull.new { access_key_id = "id", access_key_secret = "secret" }

local function prepare(params)
  return client:prepare("UpdateLivePullToPush", params, { timestamp = NOW, nonce = "n1" })
end

local function base(over)
  local p = { TaskId = "task-1", Region = "cn-shanghai" }
  for k, v in pairs(over or {}) do p[k] = v end
  return p
end

local function without(key)
  local p = base()
  p[key] = nil
  return p
end

local function seq_with_hole()
  local t = { "rtmp://a/b" }
  t[3] = "rtmp://c/d"
  return t
end

local function urls(n)
  local t = {}
  for i = 1, n do t[i] = "rtmp://h/app/s" .. i end
  return t
end

-- { name, params, code, field, message pattern (plain) }
local failing = {
  { "unknown key with a suggestion", base { Taskid = "x" }, "UnknownParameter", "Taskid", 'did you mean "TaskId"?' },
  { "unknown key, lower case", base { sourceurls = { "a" } }, "UnknownParameter", "sourceurls", 'did you mean "SourceUrls"?' },
  { "unknown key without a near name", base { Frobnicate = 1 }, "UnknownParameter", "Frobnicate", "is not a parameter of UpdateLivePullToPush" },
  { "non-string key", { TaskId = "t", Region = "cn-shanghai", [1] = "x" }, "UnknownParameter", "[1]", "must be strings" },
  { "params not a table", "TaskId=x", "InvalidParameter", "params", "must be a table" },
  { "params with a metatable", setmetatable(base(), {}), "InvalidParameter", "params", "without a metatable" },
  { "TaskId missing", without("TaskId"), "MissingParameter", "TaskId", "TaskId is required" },
  { "TaskId empty", base { TaskId = "" }, "InvalidParameter", "TaskId", "must not be empty" },
  { "TaskId with a space", base { TaskId = "a b" }, "InvalidParameter", "TaskId", "whitespace or control" },
  { "TaskId with a tab", base { TaskId = "a\tb" }, "InvalidParameter", "TaskId", "whitespace or control" },
  { "TaskId with an ideographic space (U+3000)", base { TaskId = "a\227\128\128b" }, "InvalidParameter", "TaskId", "whitespace or control" },
  { "TaskId with a C1 control (U+0085)", base { TaskId = "a\194\133b" }, "InvalidParameter", "TaskId", "whitespace or control" },
  { "SourceUrls entry with a no-break space", base { SourceUrls = { "rtmp://a/b\194\160c" } }, "InvalidParameter", "SourceUrls[1]", "whitespace" },
  { "TaskId too long", base { TaskId = ("x"):rep(129) }, "InvalidParameter", "TaskId", "at most 128 bytes" },
  { "TaskId a number", base { TaskId = 12 }, "InvalidParameter", "TaskId", "must be a string (got " },
  { "Region missing", without("Region"), "MissingParameter", "Region", "Region is required" },
  { "Region unknown, message lists them", base { Region = "eu-central-1" }, "InvalidParameter", "Region",
    "one of ap-southeast-1, ap-southeast-5, cn-beijing, cn-shanghai, cn-shenzhen" },
  { "RegionId upper case", base { RegionId = "CN-Beijing" }, "InvalidParameter", "RegionId", "region ID" },
  { "RegionId empty", base { RegionId = "" }, "InvalidParameter", "RegionId", "region ID" },
  { "StartTime Feb 30", base { StartTime = "2030-02-30T00:00:00Z" }, "InvalidParameter", "StartTime", "real UTC time" },
  { "StartTime hour 24", base { StartTime = "2030-01-01T24:00:00Z" }, "InvalidParameter", "StartTime", "real UTC time" },
  { "StartTime without Z", base { StartTime = "2030-01-01T10:00:00" }, "InvalidParameter", "StartTime", "YYYY-MM-DDTHH:MM:SSZ" },
  { "StartTime with offset", base { StartTime = "2030-01-01T10:00:00+08:00" }, "InvalidParameter", "StartTime", "YYYY-MM-DDTHH:MM:SSZ" },
  { "StartTime with fraction", base { StartTime = "2030-01-01T10:00:00.5Z" }, "InvalidParameter", "StartTime", "YYYY-MM-DDTHH:MM:SSZ" },
  { "StartTime 2030-02-29 (not a leap year)", base { StartTime = "2030-02-29T00:00:00Z" }, "InvalidParameter", "StartTime", "real UTC time" },
  { "StartTime month 13", base { StartTime = "2030-13-01T00:00:00Z" }, "InvalidParameter", "StartTime", "real UTC time" },
  { "StartTime a table", base { StartTime = {} }, "InvalidParameter", "StartTime", "got table" },
  { "StartTime a fractional number", base { StartTime = 1.5e9 + 0.5 }, "InvalidParameter", "StartTime", "whole Unix time" },
  { "StartTime a negative number", base { StartTime = -1 }, "InvalidParameter", "StartTime", "whole Unix time" },
  { "EndTime before StartTime", base { StartTime = "2030-08-27T14:30:00Z", EndTime = "2030-08-23T15:30:00Z" },
    "InvalidParam.CodeIllegalDuration", "EndTime", "EndTime must be later than StartTime" },
  { "EndTime equal to StartTime", base { StartTime = "2030-08-27T14:30:00Z", EndTime = "2030-08-27T14:30:00Z" },
    "InvalidParam.CodeIllegalDuration", "EndTime", "later than StartTime" },
  { "EndTime in the past", base { EndTime = "2020-01-01T00:00:00Z" }, "InvalidParameter", "EndTime",
    "later than the current time (2026-11-25T00:00:00Z)" },
  { "EndTime equal to now", base { EndTime = NOW }, "InvalidParameter", "EndTime", "later than the current time" },
  { "SourceUrls empty", base { SourceUrls = {} }, "InvalidParameter", "SourceUrls", "at least 1" },
  { "SourceUrls 31 entries", base { SourceUrls = urls(31) }, "InvalidParameter", "SourceUrls", "at most 30" },
  { "SourceUrls a string", base { SourceUrls = "rtmp://a/b" }, "InvalidParameter", "SourceUrls", "must be a list" },
  { "SourceUrls with a hole", base { SourceUrls = seq_with_hole() }, "InvalidParameter", "SourceUrls", "without holes" },
  { "SourceUrls with a string key", base { SourceUrls = { "rtmp://a/b", x = "y" } }, "InvalidParameter", "SourceUrls", "sequence" },
  { "SourceUrls starting at 0", base { SourceUrls = { [0] = "rtmp://a/b", "rtmp://c/d" } }, "InvalidParameter", "SourceUrls", "sequence" },
  { "SourceUrls entry empty", base { SourceUrls = { "rtmp://a/b", "" } }, "InvalidParameter", "SourceUrls[2]", "must not be empty" },
  { "SourceUrls entry with a space", base { SourceUrls = { "rtmp://a/b", "http://x/a b.flv" } }, "InvalidParameter", "SourceUrls[2]", "whitespace" },
  { "SourceUrls entry a number", base { SourceUrls = { "rtmp://a/b", "rtmp://c/d", 3 } }, "InvalidParameter", "SourceUrls[3]", "must be a string" },
  { "SourceUrls entry with a bad scheme", base { SourceUrls = { "ftp://a/b.mp4" } }, "InvalidParameter", "SourceUrls[1]", 'scheme "ftp"' },
  { "SourceUrls entry with a newline", base { SourceUrls = { "rtmp://a/b\n" } }, "InvalidParameter", "SourceUrls[1]", "control" },
  { "SourceUrls with a metatable", base { SourceUrls = setmetatable({ "rtmp://a/b" }, {}) }, "InvalidParameter", "SourceUrls", "metatable" },
  { "RepeatNumber -2", base { RepeatNumber = -2 }, "InvalidParameter", "RepeatNumber", "between -1 and 2147483647" },
  { "RepeatNumber 2^31", base { RepeatNumber = 2 ^ 31 }, "InvalidParameter", "RepeatNumber", "between -1 and 2147483647" },
  { "RepeatNumber 1.5", base { RepeatNumber = 1.5 }, "InvalidParameter", "RepeatNumber", "whole number" },
  { "RepeatNumber NaN", base { RepeatNumber = 0 / 0 }, "InvalidParameter", "RepeatNumber", "whole number" },
  { "RepeatNumber inf", base { RepeatNumber = math.huge }, "InvalidParameter", "RepeatNumber", "whole number" },
  { "RepeatNumber a string", base { RepeatNumber = "3" }, "InvalidParameter", "RepeatNumber", "must be an integer (got string)" },
  { "Offset 0", base { Offset = 0 }, "InvalidParameter", "Offset", "between 1 and" },
  { "Offset a boolean", base { Offset = true }, "InvalidParameter", "Offset", "got boolean" },
  { "FileIndex -1", base { FileIndex = -1 }, "InvalidParameter", "FileIndex", "between 0 and" },
  { "CallbackUrl without scheme", base { CallbackUrl = "cb.example.com/hook" }, "InvalidParameter", "CallbackUrl", "http:// or https://" },
  { "CallbackUrl rtmp", base { CallbackUrl = "rtmp://cb.example.com/hook" }, "InvalidParameter", "CallbackUrl", "http:// or https://" },
  { "CallbackUrl 2001 characters", base { CallbackUrl = "https://e.com/" .. ("a"):rep(1987) }, "InvalidParameter", "CallbackUrl", "at most 2000 characters" },
  { "CallbackUrl with a space", base { CallbackUrl = "https://e.com/a b" }, "InvalidParameter", "CallbackUrl", "without whitespace" },
  { "string with a NUL byte", base { TaskId = "a\0b" }, "InvalidParameter", "TaskId", "UTF-8 without NUL" },
  { "invalid UTF-8", base { CallbackUrl = "https://e.com/\255" }, "InvalidParameter", "CallbackUrl", "valid UTF-8" },
  { "overlong UTF-8", base { CallbackUrl = "https://e.com/\192\175" }, "InvalidParameter", "CallbackUrl", "valid UTF-8" },
  { "UTF-8 surrogate", base { CallbackUrl = "https://e.com/\237\160\128" }, "InvalidParameter", "CallbackUrl", "valid UTF-8" },
}

describe("validation rejects", function()
  for _, c in ipairs(failing) do
    it(c[1], function()
      local ok, err = pcall(prepare, c[2])
      assert.is_false(ok)
      assert.is_true(livepull.is_error(err), "not an error table: " .. tostring(err))
      assert.are.equal("validation", err.kind)
      assert.are.equal(c[3], err.code)
      assert.are.equal(c[4], err.field)
      assert.truthy(err.message:find(c[5], 1, true), "message was: " .. err.message)
      assert.is_false(err.retryable)
    end)
  end
end)

-- { name, params, expected query fragment (plain) }
local passing = {
  { "the minimum", base(), "Region=cn-shanghai&TaskId=task-1" },
  { "a full update", H.update_params(), "RepeatNumber=-1" },
  { "TaskId with other non-ASCII letters", base { TaskId = "任务-é-\226\128\139" }, "TaskId=%E4%BB%BB%E5%8A%A1-%C3%A9-%E2%80%8B" },
  { "TaskId of 128 bytes", base { TaskId = ("x"):rep(128) }, "TaskId=" .. ("x"):rep(128) },
  { "every task region", base { Region = "ap-southeast-5" }, "Region=ap-southeast-5" },
  { "RegionId", base { RegionId = "cn-beijing" }, "RegionId=cn-beijing" },
  { "StartTime on a leap day", base { StartTime = "2028-02-29T23:59:59Z" }, "StartTime=2028-02-29T23%3A59%3A59Z" },
  { "StartTime in the past is allowed (the docs do not forbid it)", base { StartTime = "2020-01-01T00:00:00Z" }, "StartTime=2020-01-01T00" },
  { "an integer Unix time is formatted", base { EndTime = 1900000000 }, "EndTime=2030-03-17T17%3A46%3A40Z" },
  { "a whole float Unix time is formatted", base { StartTime = 1900000000.0 }, "StartTime=2030-03-17T17%3A46%3A40Z" },
  { "EndTime later than StartTime", base { StartTime = "2030-01-01T00:00:00Z", EndTime = "2030-01-01T00:00:01Z" }, "EndTime=2030-01-01T00%3A00%3A01Z" },
  { "SourceUrls as one compact JSON array", base { SourceUrls = { "rtmp://a/b?x=1&y=2", "http://c/d.flv" } },
    "SourceUrls=%5B%22rtmp%3A%2F%2Fa%2Fb%3Fx%3D1%26y%3D2%22%2C%22http%3A%2F%2Fc%2Fd.flv%22%5D" },
  { "30 SourceUrls", base { SourceUrls = urls(30) }, "s30%22%5D" },
  { "every source scheme, any case", base { SourceUrls = { "RTMP://a/b", "rtmps://a/b", "rtsp://a/b", "srt://a:1", "http://a/b.flv", "https://a/b.mp4" } }, "SourceUrls=" },
  { "a VOD media ID without a scheme", base { SourceUrls = { "a1b2c3d4e5f6" } }, "SourceUrls=%5B%22a1b2c3d4e5f6%22%5D" },
  { "non-ASCII in a URL stays raw in the JSON, then percent-encoded", base { SourceUrls = { "http://e.com/直播.flv" } }, "%E7%9B%B4%E6%92%AD.flv" },
  { "RepeatNumber -1 loops forever", base { RepeatNumber = -1 }, "RepeatNumber=-1" },
  { "RepeatNumber 2.0 is a whole number", base { RepeatNumber = 2.0 }, "RepeatNumber=2&" },
  { "RepeatNumber at the 32-bit edge", base { RepeatNumber = 2147483647 }, "RepeatNumber=2147483647" },
  { "Offset 1", base { Offset = 1 }, "Offset=1&" },
  { "FileIndex 0", base { FileIndex = 0 }, "FileIndex=0&" },
  { "FileIndex -0.0 is 0", base { FileIndex = -0.0 }, "FileIndex=0&" },
  { "CallbackUrl empty clears it", base { CallbackUrl = "" }, "CallbackUrl=&" },
  { "CallbackUrl of 2000 characters", base { CallbackUrl = "https://e.com/" .. ("a"):rep(1986) }, "CallbackUrl=https" },
  { "CallbackUrl counts characters, not bytes", base { CallbackUrl = "https://e.com/" .. ("é"):rep(1986) }, "CallbackUrl=https" },
}

describe("validation accepts", function()
  for _, c in ipairs(passing) do
    it(c[1], function()
      local req = prepare(c[2])
      assert.truthy(req.url:find(c[3], 1, true), "url was: " .. req.url)
    end)
  end

  it("leaves the caller's table untouched", function()
    local p = H.update_params()
    local before = H.copy(p)
    prepare(p)
    assert.are.same(before, p)
  end)
end)
