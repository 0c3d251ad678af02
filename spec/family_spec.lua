-- The pull-to-push family from the same field table: Create's rules, and
-- every call end to end against the emulator's task life cycle.
local livepull = require "livepull"
local H = require "helpers"

local NOW = "2026-11-25T00:00:00Z"
local offline = livepull.new { access_key_id = "id", access_key_secret = "secret" }

local function create_params(over)
  local p = {
    Region = "cn-shanghai", StartTime = "2030-08-23T15:30:00Z", EndTime = "2030-08-27T14:30:00Z",
    SourceType = "live", SourceProtocol = "rtmp", SourceUrls = { "rtmp://pull.example.com/app/live" },
    DstUrl = "rtmp://push.example.com/app/out",
  }
  for k, v in pairs(over or {}) do p[k] = v end
  return p
end

local function without(p, key) p[key] = nil; return p end

-- { action, params, code, field }
local failing = {
  { "CreateLivePullToPush", without(create_params(), "DstUrl"), "MissingParameter", "DstUrl" },
  { "CreateLivePullToPush", without(create_params(), "StartTime"), "MissingParameter", "StartTime" },
  { "CreateLivePullToPush", without(create_params(), "SourceUrls"), "MissingParameter", "SourceUrls" },
  { "CreateLivePullToPush", create_params { SourceType = "file" }, "InvalidParameter", "SourceType" },
  { "CreateLivePullToPush", without(create_params(), "SourceProtocol"), "MissingParameter", "SourceProtocol" },
  { "CreateLivePullToPush", create_params { SourceProtocol = "rtsp" }, "InvalidParameter", "SourceProtocol" },
  { "CreateLivePullToPush", create_params { SourceUrls = { "rtmp://a/b", "rtmp://c/d" } }, "InvalidParameter", "SourceUrls" },
  { "CreateLivePullToPush", create_params { DstUrl = "http://push.example.com/x" }, "InvalidParameter", "DstUrl" },
  { "CreateLivePullToPush", create_params { RetryInterval = 59 }, "InvalidParameter", "RetryInterval" },
  { "CreateLivePullToPush", create_params { RetryInterval = 301 }, "InvalidParameter", "RetryInterval" },
  { "CreateLivePullToPush", create_params { TaskId = "x" }, "UnknownParameter", "TaskId" },
  { "CreateLivePullToPush", create_params { EndTime = "2030-08-20T00:00:00Z" }, "InvalidParam.CodeIllegalDuration", "EndTime" },
  { "DescribeLivePullToPush", { Region = "cn-shanghai" }, "MissingParameter", "TaskId" },
  { "StopLivePullToPush", { TaskId = "t" }, "MissingParameter", "Region" },
  { "RestartLivePullToPush", { TaskId = "t", Region = "cn-shanghai", CallbackUrl = "" }, "UnknownParameter", "CallbackUrl" },
  { "DeleteLivePullToPush", { TaskId = "a b", Region = "cn-shanghai" }, "InvalidParameter", "TaskId" },
  { "DescribeLivePullToPushList", {}, "MissingParameter", "Region" },
  { "DescribeLivePullToPushList", { Region = "cn-shanghai", PageSize = 0 }, "InvalidParameter", "PageSize" },
  { "DescribeLivePullToPushList", { Region = "cn-shanghai", PageSize = 101 }, "InvalidParameter", "PageSize" },
  { "DescribeLivePullToPushList", { Region = "cn-shanghai", PageNumber = 0 }, "InvalidParameter", "PageNumber" },
}

-- { action, params, method, query fragment }
local passing = {
  { "CreateLivePullToPush", create_params(), "POST", "SourceProtocol=rtmp" },
  { "CreateLivePullToPush", create_params { SourceType = "vod", SourceProtocol = nil, SourceUrls = { "m1", "m2", "m3" } }, "POST", "SourceType=vod" },
  { "CreateLivePullToPush", create_params { Region = "cn-shenzhen", RetryInterval = 60, RetryCount = 5, TaskName = "nightly 直播" }, "POST", "TaskName=nightly%20%E7%9B%B4%E6%92%AD" },
  { "DescribeLivePullToPush", { TaskId = "t", Region = "cn-beijing" }, "GET", "TaskId=t" },
  { "DescribeLivePullToPushList", { Region = "cn-beijing", PageSize = 100, TaskName = "night" }, "GET", "PageSize=100" },
  { "StopLivePullToPush", { TaskId = "t", Region = "cn-beijing" }, "GET", "Region=cn-beijing" },
  { "RestartLivePullToPush", { TaskId = "t", Region = "cn-beijing" }, "GET", "TaskId=t" },
  { "DeleteLivePullToPush", { TaskId = "t", Region = "cn-beijing", RegionId = "cn-beijing" }, "GET", "RegionId=cn-beijing" },
}

describe("family validation", function()
  for i, c in ipairs(failing) do
    it(("%s rejects #%d (%s %s)"):format(c[1], i, c[3], c[4]), function()
      local ok, err = pcall(offline.prepare, offline, c[1], c[2], { timestamp = NOW })
      assert.is_false(ok)
      assert.are.same({ "validation", c[3], c[4] }, { err.kind, err.code, err.field })
    end)
  end
  for i, c in ipairs(passing) do
    it(("%s accepts #%d"):format(c[1], i), function()
      local req = offline:prepare(c[1], c[2], { timestamp = NOW })
      assert.are.equal(c[3], req.method)
      assert.are.equal(c[1], req.headers["x-acs-action"])
      assert.truthy(req.url:find(c[4], 1, true), req.url)
    end)
  end

  it("describes every operation's fields for tools", function()
    local core = require "livepull.core"
    local ops = core.operations()
    -- in a task's life order, which the command's help follows
    assert.are.same({
      { action = "CreateLivePullToPush", method = "create" },
      { action = "DescribeLivePullToPush", method = "describe" },
      { action = "DescribeLivePullToPushList", method = "list" },
      { action = "UpdateLivePullToPush", method = "update" },
      { action = "StopLivePullToPush", method = "stop" },
      { action = "RestartLivePullToPush", method = "restart" },
      { action = "DeleteLivePullToPush", method = "delete" } }, ops)
    for _, op in ipairs(ops) do   -- validate.c walks at most 32 rows per operation
      assert.is_true(#core.fields(op.action) <= 32, op.action)
    end
    local f = core.fields("CreateLivePullToPush")
    local by = {}
    for _, row in ipairs(f) do by[row.name] = row end
    assert.is_true(by.DstUrl.required)
    assert.are.equal("required when SourceType is live", by.SourceProtocol.condition)
    assert.are.same({ "live", "vod", "url" }, by.SourceType.choices)
    assert.are.same({ 60, 300 }, { by.RetryInterval.min, by.RetryInterval.max })
  end)
end)

describe("family against the emulator", function()
  local emu, client, config
  setup(function()
    emu = H.start_emulator()
    config = { endpoint = emu.url, access_key_id = H.KEY_ID, access_key_secret = H.SECRET, rate_limit = 0 }
    client = livepull.new(config)
  end)
  teardown(function() emu.stop() end)
  before_each(function() emu.reset() end)

  it("create, describe, update, stop, restart, delete: a task's whole life", function()
    local created = client:create(create_params { CallbackUrl = "https://cb.example.com/a", TaskName = "life" })
    assert.are.equal(0, created.RetCode)
    local id = created.TaskId
    assert.matches("^%x+%-", id)

    local d = client:describe { TaskId = id, Region = "cn-shanghai" }
    assert.are.equal(0, d.TaskStatus)
    assert.are.equal("https://cb.example.com/a", d.TaskInfo.CallbackURL)
    assert.are.same({ "rtmp://pull.example.com/app/live" }, d.TaskInfo.SourceUrls)
    assert.are.equal("rtmp://push.example.com/app/out", d.TaskInfo.DstUrl)

    assert.are.equal(0, client:update { TaskId = id, Region = "cn-shanghai", RepeatNumber = 4 }.RetCode)
    assert.are.equal(4, client:describe { TaskId = id, Region = "cn-shanghai" }.TaskInfo.RepeatNumber)

    -- make it run (the emulator's control API stands in for the clock)
    local task = emu.task(id)
    task.State = "running"
    emu.put_task(task)
    assert.are.equal(1, client:describe { TaskId = id, Region = "cn-shanghai" }.TaskStatus)
    assert.are.equal(id, client:stop { TaskId = id, Region = "cn-shanghai" }.TaskId)
    assert.are.equal(3, client:describe { TaskId = id, Region = "cn-shanghai" }.TaskStatus)
    assert.are.equal(id, client:restart { TaskId = id, Region = "cn-shanghai" }.TaskId)
    assert.are.equal(1, client:describe { TaskId = id, Region = "cn-shanghai" }.TaskStatus)

    assert.are.equal(0, client:delete { TaskId = id, Region = "cn-shanghai" }.RetCode)
    local ok, err = pcall(client.describe, client, { TaskId = id, Region = "cn-shanghai" })
    assert.is_false(ok)
    assert.are.equal("CodeTaskNotExist", err.code)
  end)

  it("call(action, params) and livepull.<method>(params, config) reach every operation", function()
    local created = client:call("CreateLivePullToPush", create_params { SourceType = "vod", SourceProtocol = nil,
      SourceUrls = { "media-1" }, DstUrl = "rtmp://push.example.com/app/call" })
    local id = created.TaskId
    assert.are.equal(id, livepull.describe({ TaskId = id, Region = "cn-shanghai" }, config).TaskId)
    assert.are.equal(0, livepull.delete({ TaskId = id, Region = "cn-shanghai" }, config).RetCode)
  end)

  it("the emulator enforces Create's rules too (a DstUrl already in use)", function()
    client:create(create_params { DstUrl = "rtmp://push.example.com/app/dup" })
    local ok, err = pcall(client.create, client, create_params { DstUrl = "rtmp://push.example.com/app/dup" })
    assert.is_false(ok)
    assert.are.equal("InvalidParameter", err.code)
  end)

  it("lists with pages, and tasks{} iterates over all of them", function()
    for i = 1, 23 do
      client:create(create_params { Region = "cn-beijing", TaskName = "batch-" .. i,
        DstUrl = "rtmp://push.example.com/app/p" .. i })
    end
    local page = client:list { Region = "cn-beijing", PageSize = 10, PageNumber = 3 }
    assert.are.equal(10, page.PageSize)
    assert.is_true(page.Total >= 23)
    local seen, named = 0, 0
    local before = #emu.requests()
    local params = { Region = "cn-beijing", PageSize = 10 }
    for task in client:tasks(params) do
      seen = seen + 1
      if (task.TaskInfo.TaskName or ""):find("^batch%-") then named = named + 1 end
    end
    assert.are.equal(page.Total, seen)
    assert.are.equal(23, named)
    assert.are.equal(math.ceil(page.Total / 10), #emu.requests() - before)
    assert.are.same({ Region = "cn-beijing", PageSize = 10 }, params)   -- untouched
  end)

  it("tasks{} on livepull.safe hands back nil, err from a failed page", function()
    local safe = require "livepull.safe"
    local c = safe.new(config)
    local it = c:tasks { Region = "mars" }
    local task, err = it()
    assert.is_nil(task)
    assert.are.equal("Region", err.field)
  end)
end)

describe("client:settings()", function()
  local livepull = require "livepull"
  for _, case in ipairs {
    { "https://live.aliyuncs.com", "https", "live.aliyuncs.com", 443 },
    { "live.ap-southeast-1.aliyuncs.com", "https", "live.ap-southeast-1.aliyuncs.com", 443 },
    { "http://127.0.0.1:8080", "http", "127.0.0.1", 8080 },
    { "http://[::1]:9", "http", "[::1]", 9 },
    { "https://[::1]", "https", "[::1]", 443 },
  } do
    it("gives " .. case[1] .. " as scheme, host and port", function()
      local s = livepull.new { endpoint = case[1], access_key_id = "id", access_key_secret = "secret" }:settings()
      assert.are.equal(case[2], s.scheme)
      assert.are.equal(case[3], s.host)
      assert.are.equal(case[4], s.port)
    end)
  end

  it("every operation has its method and its _many twin, none hiding a built-in", function()
    local c = livepull.new { access_key_id = "id", access_key_secret = "secret" }
    for _, op in ipairs(require("livepull.core").operations()) do
      assert.are.equal("function", type(c[op.method]), op.action)
      assert.are.equal("function", type(c[op.method .. "_many"]), op.action)
    end
  end)
end)
