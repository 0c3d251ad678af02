-- The plan and apply commands run for real (bin/livepull under this spec's Lua) against the
-- emulator, whose request log proves what was sent: check mode, diff, exit codes, a 20-task
-- desired-state file applied twice, --prune, --recreate, duplicate names.
local cjson = require "cjson.safe"
local H = require "helpers"

local REGION = "cn-shenzhen"   -- the seed has no task there
local emu, dir

local function utc(offset) return os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + offset) end

-- The command as bin/livepull runs it: under Lua 5.4 (its #! line), with the source tree's
-- modules and the 5.4 core, whichever Lua runs this spec.
local COMMAND = ("lua5.4 -e %s bin/livepull"):format(H.sh_quote(("package.path = 'lua/?.lua;lua/?/init.lua;' .. " ..
  "package.path; package.cpath = '%s/?.so;' .. package.cpath"):format(os.getenv("LIVEPULL_BUILD_DIR") or "build")))

-- Runs the command; returns exit code, decoded stdout (or the text), decoded stderr (or the text).
local function livepull(args)
  local cmd = ("env -u ALIBABA_CLOUD_ACCESS_KEY_ID -u ALIBABA_CLOUD_ACCESS_KEY_SECRET -u ALIBABA_CLOUD_PROFILE " ..
    "HOME=%s %s %s --endpoint %s --access-key-id %s --access-key-secret %s --rate-limit 0 >%s/out 2>%s/err"):format(
    H.sh_quote(dir), COMMAND,
    args, emu.url, H.KEY_ID, H.SECRET, dir, dir)
  local _, _, code = H.run(cmd)
  local function slurp(name)
    local s = H.read_file(dir .. "/" .. name)
    return cjson.decode(s ~= "" and s or "null") or s
  end
  return code, slurp("out"), slurp("err")
end

local function write_json(name, value)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(cjson.encode(value))
  f:close()
  return path
end

local function actions_since(mark)
  local out, all = {}, emu.requests()
  for i = mark + 1, #all do out[#out + 1] = all[i].action end
  return out
end

local function task(id, over)
  local t = { TaskId = id, Region = REGION, State = "running", StartTime = utc(-60), EndTime = utc(7200),
    SourceType = "live", SourceProtocol = "rtmp", SourceUrls = { "rtmp://pull.example.com/app/" .. id },
    DstUrl = "rtmp://push.example.com/app/" .. id, CallbackUrl = "", TaskName = id, Offset = 1 }
  for k, v in pairs(over or {}) do t[k] = v end
  emu.put_task(t)
  return t
end

-- A desired-state entry: Create's parameters.
local function entry(name, over)
  local e = { TaskName = name, StartTime = "2030-08-23T15:30:00Z", EndTime = "2030-08-27T14:30:00Z",
    SourceType = "vod", SourceUrls = { "media-" .. name }, DstUrl = "rtmp://push.example.com/file/" .. name }
  for k, v in pairs(over or {}) do e[k] = v end
  return e
end

local function ids_of(list)
  local out = {}
  for i, item in ipairs(list) do out[i] = item.TaskName or item.TaskId end
  table.sort(out)
  return out
end

describe("livepull plan and apply", function()
  setup(function()
    emu = H.start_emulator()
    dir = H.tmpdir()
  end)
  teardown(function()
    emu.stop()
    H.run("rm -rf " .. H.sh_quote(dir))
  end)
  before_each(function() emu.reset() end)

  it("plan prints the plan as JSON, exit 0, after one Describe", function()
    task("p1")
    local mark = #emu.requests()
    local code, out = livepull("plan --task-id p1 --region " .. REGION .. " --offset 5 --callback-url https://cb.example.com/p")
    assert.are.equal(0, code)
    assert.are.same({ task_id = "p1", state = "running", needs_restart = true,
      steps = { "StopLivePullToPush", "UpdateLivePullToPush", "RestartLivePullToPush" },
      changes = { Offset = { from = 1, to = 5 }, CallbackUrl = { from = "", to = "https://cb.example.com/p" } } }, out)
    assert.are.same({ "DescribeLivePullToPush" }, actions_since(mark))
    code, out = livepull("plan --task-id gone --region " .. REGION .. " --offset 5")
    assert.are.same({ 0, "missing", {} }, { code, out.state, out.steps })
  end)

  it("apply --check sends only Describes; --diff shows before and after; the real apply then changes it", function()
    task("c1")
    local mark = #emu.requests()
    local args = "apply --task-id c1 --region " .. REGION .. " --offset 5 --callback-url https://cb.example.com/c"
    local code, out = livepull(args .. " --check --diff --allow-restart")
    assert.are.equal(0, code)
    assert.is_true(out.changed)
    assert.is_true(out.check_mode)
    assert.are.same({ "StopLivePullToPush", "UpdateLivePullToPush", "RestartLivePullToPush" }, out.steps)
    assert.are.same({ before = { Offset = 1, CallbackUrl = "" }, after = { Offset = 5, CallbackUrl = "https://cb.example.com/c" } },
      out.diff)
    assert.are.same({ "DescribeLivePullToPush" }, actions_since(mark))
    assert.are.equal(1, emu.task("c1").Offset)

    -- check mode predicts apply's refusal: exit 3, nothing but the Describe
    mark = #emu.requests()
    local err
    code, out, err = livepull(args .. " --check")
    assert.are.same({ 3, "TaskRunning", {} }, { code, err.code, err.steps })
    assert.are.same({ "DescribeLivePullToPush" }, actions_since(mark))

    code, out = livepull(args .. " --allow-restart")
    assert.are.same({ 0, true }, { code, out.changed })
    assert.are.equal(0, out.result.RetCode)
    assert.are.same({ "running", 5 }, { emu.task("c1").State, emu.task("c1").Offset })
    code, out = livepull(args .. " --allow-restart --diff")
    assert.are.same({ 0, false, {}, { before = {}, after = {} } }, { code, out.changed, out.steps, out.diff })
  end)

  it("a failed step: the error on stderr lists the steps and the rollback, exit code by kind", function()
    task("f1")
    emu.faults { { kind = "error", status = 400, code = "InvalidParameter", action = "UpdateLivePullToPush" } }
    local code, _, err = livepull("apply --allow-restart --task-id f1 --region " .. REGION .. " --file-index 3")
    assert.are.equal(6, code)
    assert.are.same({ "InvalidParameter", true }, { err.code, err.rolled_back })
    assert.are.same({ { action = "StopLivePullToPush", ok = true }, { action = "UpdateLivePullToPush", ok = false },
      { action = "RestartLivePullToPush", ok = true } }, err.steps)
    assert.are.equal("running", emu.task("f1").State)
    code, _, err = livepull("apply --task-id f1 --region " .. REGION .. " --dst-url rtmp://x/y")
    assert.are.same({ 2 }, { code })   -- not an Update flag
    assert.truthy(err.message:find("dst-url", 1, true))
  end)

  it("a 20-task desired state applied twice: the second run sends no Update, Create or Delete", function()
    local tasks = {}
    for i = 1, 20 do tasks[i] = entry(("t%02d"):format(i), i % 2 == 0 and { CallbackUrl = "https://cb.example.com/" .. i } or nil) end
    local file = write_json("tasks.json", tasks)
    local mark = #emu.requests()
    local code, out = livepull("apply --file " .. file .. " --region " .. REGION)
    assert.are.equal(0, code)
    assert.is_true(out.changed)
    assert.are.equal(20, #out.created)
    for _, item in ipairs(out.created) do assert.matches("^%x+%-", item.TaskId) end
    assert.are.same({ {}, {}, {}, {}, {} }, { out.updated, out.unchanged, out.failed, out.deleted, out.recreated })
    local sent = actions_since(mark)
    assert.are.equal(21, #sent)   -- one list, twenty creates

    mark = #emu.requests()
    code, out = livepull("apply --file " .. file .. " --region " .. REGION)
    assert.are.same({ 0, false, 20, 0 }, { code, out.changed, #out.unchanged, #out.created })
    assert.are.same({ "DescribeLivePullToPushList" }, actions_since(mark))

    -- one entry changed: only it is updated, with only the field that differs
    tasks[3].CallbackUrl = "https://cb.example.com/changed"
    write_json("tasks.json", tasks)
    mark = #emu.requests()
    code, out = livepull("apply --file " .. file .. " --region " .. REGION)
    assert.are.same({ 0, true, { "t03" }, 19 }, { code, out.changed, ids_of(out.updated), #out.unchanged })
    assert.are.same({ "DescribeLivePullToPushList", "DescribeLivePullToPush", "UpdateLivePullToPush" }, actions_since(mark))
    local last = emu.requests()[#emu.requests()]
    assert.are.same({ "CallbackUrl", "Region", "TaskId" }, last.params)
  end)

  it("a running task in the file: a stopped-class change restarts it with --allow-restart", function()
    local t = task("r1", { SourceType = "vod", SourceProtocol = "", SourceUrls = { "m1" }, StartTime = "2026-01-01T00:00:00Z" })
    local e = entry("r1", { TaskId = "r1", StartTime = t.StartTime, EndTime = t.EndTime, SourceUrls = { "m1" },
      DstUrl = t.DstUrl, FileIndex = 2 })
    local file = write_json("running.json", { e })
    local code, out = livepull("apply --file " .. file .. " --region " .. REGION)
    assert.are.same({ 8, "TaskRunning" }, { code, out.failed[1] and out.failed[1].error.code })
    code, out = livepull("apply --file " .. file .. " --region " .. REGION .. " --allow-restart")
    assert.are.same({ 0, { "r1" }, { "r1" } }, { code, ids_of(out.updated), ids_of(out.restarted) })
    assert.are.same({ "running", 2 }, { emu.task("r1").State, emu.task("r1").FileIndex })
  end)

  it("--prune deletes the Region's tasks the file does not name; with --check it only shows them", function()
    local keep = task("keep")
    task("stray-1")
    task("stray-2")
    local other = task("elsewhere", { Region = "cn-beijing" })
    local file = write_json("prune.json", { entry("keep", { TaskId = "keep", StartTime = keep.StartTime,
      EndTime = keep.EndTime, SourceType = "live", SourceProtocol = "rtmp", SourceUrls = keep.SourceUrls,
      DstUrl = keep.DstUrl, CallbackUrl = "" }) })
    local mark = #emu.requests()
    local code, out = livepull("apply --file " .. file .. " --region " .. REGION .. " --prune --check")
    assert.are.same({ 0, true, { "stray-1", "stray-2" }, { "keep" } }, { code, out.changed, ids_of(out.deleted), ids_of(out.unchanged) })
    assert.are.same({ "DescribeLivePullToPushList" }, actions_since(mark))
    assert.is_table(emu.task("stray-1"))

    code, out = livepull("apply --file " .. file .. " --region " .. REGION)   -- never without --prune
    assert.are.same({ 0, {} }, { code, out.deleted })
    assert.is_table(emu.task("stray-2"))

    code, out = livepull("apply --file " .. file .. " --region " .. REGION .. " --prune")
    assert.are.same({ 0, { "stray-1", "stray-2" } }, { code, ids_of(out.deleted) })
    assert.is_nil(emu.task("stray-1").TaskId)
    assert.is_nil(emu.task("stray-2").TaskId)
    assert.are.equal("keep", emu.task("keep").TaskId)
    assert.are.equal(other.TaskId, emu.task("elsewhere").TaskId)   -- another Region

    local err
    code, out, err = livepull("apply --file " .. file .. " --prune")   -- which Region?
    assert.are.same({ 2, "InvalidArguments" }, { code, err.code })

    -- an entry that fails still claims its task: never pruned
    task("bad-entry")
    file = write_json("prune2.json", { entry("bad-entry", { RetryInterval = 5 }) })
    code, out = livepull("apply --file " .. file .. " --region " .. REGION .. " --prune")
    assert.are.same({ 8, "RetryInterval", { "keep" } }, { code, out.failed[1].error.field, ids_of(out.deleted) })
    assert.are.equal("bad-entry", emu.task("bad-entry").TaskId)
  end)

  it("a duplicate TaskName, in the file or in the account, is a usage error before any change", function()
    local file = write_json("dup.json", { entry("same"), entry("same", { DstUrl = "rtmp://push.example.com/file/b" }) })
    local mark = #emu.requests()
    local code, _, err = livepull("apply --file " .. file .. " --region " .. REGION)
    assert.are.same({ 2, "usage" }, { code, err.kind })
    assert.truthy(err.message:find("same", 1, true))
    assert.are.same({}, actions_since(mark))

    task("twin-a", { TaskName = "twin" })
    task("twin-b", { TaskName = "twin" })
    file = write_json("twin.json", { entry("twin"), entry("fresh") })
    mark = #emu.requests()
    code, _, err = livepull("apply --file " .. file .. " --region " .. REGION)
    assert.are.same({ 2, "usage" }, { code, err.kind })
    assert.truthy(err.message:find("twin", 1, true))
    assert.are.same({ "DescribeLivePullToPushList" }, actions_since(mark))
  end)

  it("an unknown TaskId fails (never created), a Create-only difference fails unless --recreate; others go on", function()
    local t = task("old", { State = "stopped", SourceType = "vod", SourceProtocol = "", SourceUrls = { "m" },
      StartTime = "2030-08-23T15:30:00Z", EndTime = "2030-08-27T14:30:00Z" })
    local file = write_json("mixed.json", {
      entry("ghost", { TaskId = "no-such-task" }),
      entry("old", { TaskId = "old", SourceUrls = { "m" }, DstUrl = "rtmp://push.example.com/app/moved" }),
      entry("new-one"),
    })
    local code, out = livepull("apply --file " .. file .. " --region " .. REGION)
    assert.are.equal(8, code)
    local errors = {}
    for _, item in ipairs(out.failed) do errors[item.TaskId] = item.error.code end
    assert.are.same({ ["no-such-task"] = "CodeTaskNotExist", old = "ChangeNotAllowed" }, errors)
    assert.are.same({ "new-one" }, ids_of(out.created))
    assert.is_nil(emu.task("no-such-task").TaskId)

    code, out = livepull("apply --file " .. file .. " --region " .. REGION .. " --recreate")
    assert.are.equal(8, code)   -- the ghost still fails
    assert.are.equal(1, #out.recreated)
    local r = out.recreated[1]
    assert.are.equal("old", r.PreviousTaskId)
    assert.are_not.equal("old", r.TaskId)
    assert.is_nil(emu.task("old").TaskId)
    assert.are.equal("rtmp://push.example.com/app/moved", emu.task(r.TaskId).DstUrl)
    assert.are.same({ "new-one" }, ids_of(out.unchanged))
    assert.are.equal(t.Region, emu.task(r.TaskId).Region)
  end)

  it("usage errors: flags that do not go together", function()
    local file = write_json("one.json", { entry("u") })
    for _, args in ipairs {
      "plan --check --task-id x --region " .. REGION,
      "apply --prune --task-id x --region " .. REGION,
      "apply --file " .. file .. " --task-id x --region " .. REGION,
      "apply --file " .. file .. " --diff --region " .. REGION,
      "apply --dry-run --task-id x --region " .. REGION,
      "apply --check=yes --task-id x --region " .. REGION,
      "apply --file " .. dir .. "/no-such-file.json --region " .. REGION,
    } do
      local code, _, err = livepull(args)
      assert.are.same({ 2, "usage" }, { code, err.kind }, args)
    end
    assert.are.same({}, emu.requests())
    local code, out = livepull("apply --help")
    assert.are.equal(0, code)
    for _, flag in ipairs { "--allow-restart", "--check", "--diff", "--file", "--prune", "--recreate" } do
      assert.truthy(out:find(flag, 1, true), flag)
    end
  end)
end)
