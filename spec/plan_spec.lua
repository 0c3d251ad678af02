-- client:plan and client:apply against the emulator's state rules (the oracle): every state
-- crossed with every field, each plan checked against what the emulator then accepts or
-- refuses; rollback, failed steps, both flavours; the pure comparison on hostile answers.
local livepull = require "livepull"
local safe = require "livepull.safe"
local plan = require "livepull.plan"
local H = require "helpers"

local function utc(offset) return os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + offset) end

local ID, REGION = "plan-task-1", "cn-shanghai"
local KEY = { TaskId = ID, Region = REGION }
local STOP, UPDATE, RESTART = "StopLivePullToPush", "UpdateLivePullToPush", "RestartLivePullToPush"

-- A live task in the given emulator state.
local function task_in(state)
  return {
    TaskId = ID, Region = REGION, State = state,
    StartTime = state == "scheduled" and utc(3600) or utc(-60), EndTime = utc(7200),
    SourceType = "live", SourceProtocol = "rtmp", SourceUrls = { "rtmp://pull.example.com/app/old" },
    DstUrl = "rtmp://push.example.com/app/plan", CallbackUrl = "https://cb.example.com/old",
    RepeatNumber = 0, Offset = 1, FileIndex = 0, RetryCount = 3, RetryInterval = 60, TaskName = "plan-task",
  }
end

-- One differing value per field, and its class (the API reference's rules).
local NEW = {
  { "CallbackUrl", "https://cb.example.com/new", "running" },
  { "RepeatNumber", 7, "running" },
  { "StartTime", utc(1800), "stopped" },
  { "EndTime", utc(9000), "stopped" },
  { "SourceUrls", { "rtmp://pull.example.com/app/new" }, "stopped" },
  { "Offset", 9, "stopped" },
  { "FileIndex", 2, "stopped" },
  { "DstUrl", "rtmp://push.example.com/app/other", "create" },
  { "SourceType", "vod", "create" },
  { "SourceProtocol", "srt", "create" },
  { "TaskName", "renamed", "create" },
  { "RetryCount", 9, "create" },
  { "RetryInterval", 200, "create" },
}

-- What the issue says each state takes: "update", "restart" (stop, update, restart) or "blocked".
local EXPECTED = {
  scheduled = { running = "update", stopped = "update", create = "blocked" },
  running = { running = "update", stopped = "restart", create = "blocked" },
  retrying = { running = "update", stopped = "restart", create = "blocked" },
  stopped = { running = "update", stopped = "update", create = "blocked" },
  exited = { running = "blocked", stopped = "blocked", create = "blocked" },
}
local STATUS = { scheduled = 0, running = 1, retrying = 2, stopped = 3, exited = -1 }

local function with(t, over)
  for k, v in pairs(over) do t[k] = v end
  return t
end

local function keys(t)
  local names = {}
  for k in pairs(t) do names[#names + 1] = k end
  table.sort(names)
  return names
end

local function kind_of(p)
  if p.blocked then return "blocked" end
  if p.needs_restart then return "restart" end
  return #p.steps == 1 and "update" or "none"
end

describe("plan and apply against the emulator", function()
  local emu, client, sclient, config
  setup(function()
    emu = H.start_emulator()
    config = { endpoint = emu.url, access_key_id = H.KEY_ID, access_key_secret = H.SECRET, rate_limit = 0,
               retry_base_delay = 0.01 }
    client = livepull.new(config)
    sclient = safe.new(config)
  end)
  teardown(function() emu.stop() end)
  before_each(function() emu.reset() end)

  -- The requests since mark: { "Action", ... } and the last Update's parameter names.
  local function sent_since(mark)
    local actions, update_params = {}, nil
    local all = emu.requests()
    for i = mark + 1, #all do
      actions[#actions + 1] = all[i].action
      if all[i].action == UPDATE then update_params = all[i].params end
    end
    return actions, update_params
  end

  for _, state in ipairs { "scheduled", "running", "retrying", "stopped", "exited" } do
    for _, row in ipairs(NEW) do
      local name, value, class = row[1], row[2], row[3]
      local want = EXPECTED[state][class]
      it(("%s task, %s (%s field): %s, and the emulator agrees"):format(state, name, class, want), function()
        emu.put_task(task_in(state))
        local mark = #emu.requests()
        local params = { TaskId = ID, Region = REGION, [name] = value }
        local p = client:plan(params)
        assert.are.same({ "DescribeLivePullToPush" }, (sent_since(mark)))   -- nothing changed
        assert.are.equal(state, p.state)
        assert.are.equal(ID, p.task_id)
        assert.are.equal(want, kind_of(p))
        assert.are.same({ name }, keys(p.changes))
        if want == "blocked" then
          assert.are.same({}, p.steps)
          assert.truthy(p.blocked:find(class == "create" and name or "exited", 1, true), p.blocked)
        end

        -- The oracle: the bare Update the plan avoids or allows.
        mark = #emu.requests()
        local ok, err = pcall(client.update, client, params)
        if class == "create" then   -- not an Update parameter at all: refused before sending
          assert.is_false(ok)
          assert.are.same({ "validation", "UnknownParameter" }, { err.kind, err.code })
          assert.are.same({}, (sent_since(mark)))
        elseif want == "update" then
          assert.is_true(ok, tostring(err))
        else
          assert.is_false(ok)
          assert.are.equal("CodeTaskHasStarted", err.code)
        end

        -- apply carries the plan out (a fresh task in the same state).
        emu.put_task(task_in(state))
        mark = #emu.requests()
        local res, aerr = sclient:apply(params, { allow_restart = true })
        if want == "blocked" then
          assert.is_nil(res)
          assert.are.same({ "validation", "ChangeNotAllowed", {} }, { aerr.kind, aerr.code, aerr.steps })
          assert.are.same({ "DescribeLivePullToPush" }, (sent_since(mark)))
          return
        end
        assert.is_nil(aerr)
        assert.is_true(res.changed)
        local actions, update_params = sent_since(mark)
        local steps = want == "restart" and { STOP, UPDATE, RESTART } or { UPDATE }
        assert.are.same(steps, res.steps)
        local expected_actions = { "DescribeLivePullToPush" }
        for _, s in ipairs(steps) do expected_actions[#expected_actions + 1] = s end
        assert.are.same(expected_actions, actions)
        local only = { "Region", "TaskId", name }
        table.sort(only)
        assert.are.same(only, update_params)   -- only what differs
        local stored = emu.task(ID)
        assert.are.same(value, stored[name])
        assert.are.equal(want == "restart" and "running" or state, stored.State)
        assert.are.equal(0, res.result.RetCode)

        -- Applied twice: nothing more to do, only a Describe.
        mark = #emu.requests()
        res = client:apply(params, { allow_restart = true })
        assert.is_false(res.changed)
        assert.are.same({}, res.steps)
        assert.are.same({ "DescribeLivePullToPush" }, (sent_since(mark)))
      end)
    end
  end

  it("TaskStatus as Describe answers it for each state", function()
    for state, status in pairs(STATUS) do
      emu.put_task(task_in(state))
      assert.are.equal(status, client:describe(KEY).TaskStatus)
    end
  end)

  it("a change that needs a stop fails without allow_restart, naming the fields, before any change", function()
    emu.put_task(task_in("running"))
    local mark = #emu.requests()
    local ok, err = pcall(client.apply, client, { TaskId = ID, Region = REGION, Offset = 5, EndTime = utc(8000),
      CallbackUrl = "https://cb.example.com/x" })
    assert.is_false(ok)
    assert.is_true(livepull.is_error(err))
    assert.are.same({ "validation", "TaskRunning", "EndTime", {} }, { err.kind, err.code, err.field, err.steps })
    assert.truthy(err.message:find("EndTime, Offset", 1, true), err.message)
    assert.truthy(err.message:find("allow_restart", 1, true), err.message)
    assert.are.same({ "DescribeLivePullToPush" }, (sent_since(mark)))
    assert.are.equal("https://cb.example.com/old", emu.task(ID).CallbackUrl)
  end)

  it("a failed Update after the Stop restarts the task anyway: rolled_back, every step listed", function()
    emu.put_task(task_in("running"))
    emu.faults { { kind = "error", status = 400, code = "InvalidParameter", message = "injected",
                   action = UPDATE, task_id = ID } }
    local mark = #emu.requests()
    local res, err = sclient:apply({ TaskId = ID, Region = REGION, Offset = 5 }, { allow_restart = true })
    assert.is_nil(res)
    assert.are.same({ "api", "InvalidParameter", true }, { err.kind, err.code, err.rolled_back })
    assert.are.same({ { action = STOP, ok = true }, { action = UPDATE, ok = false }, { action = RESTART, ok = true } },
      err.steps)
    assert.are.same({ "DescribeLivePullToPush", STOP, UPDATE, RESTART }, (sent_since(mark)))
    local stored = emu.task(ID)
    assert.are.same({ "running", 1 }, { stored.State, stored.Offset })   -- running as before
  end)

  it("a rollback Restart that fails too: rolled_back = false, the task stays stopped", function()
    emu.put_task(task_in("running"))
    emu.faults { { kind = "error", status = 400, code = "InvalidParameter", action = UPDATE },
                 { kind = "error", status = 400, code = "Forbidden", action = RESTART } }
    local res, err = sclient:apply({ TaskId = ID, Region = REGION, Offset = 5 }, { allow_restart = true })
    assert.is_nil(res)
    assert.are.same({ "InvalidParameter", false }, { err.code, err.rolled_back })
    assert.are.same({ { action = STOP, ok = true }, { action = UPDATE, ok = false }, { action = RESTART, ok = false } },
      err.steps)
    assert.are.same({ "stopped", 1 }, { emu.task(ID).State, emu.task(ID).Offset })
  end)

  it("a failed Restart after the Update leaves the task stopped with the new values", function()
    emu.put_task(task_in("running"))
    emu.faults { { kind = "error", status = 400, code = "InvalidParameter", message = "injected",
                   action = RESTART, task_id = ID } }
    local ok, err = pcall(client.apply, client, { TaskId = ID, Region = REGION, Offset = 5 }, { allow_restart = true })
    assert.is_false(ok)
    assert.are.equal("InvalidParameter", err.code)
    assert.is_nil(err.rolled_back)
    assert.are.same({ { action = STOP, ok = true }, { action = UPDATE, ok = true }, { action = RESTART, ok = false } },
      err.steps)
    local stored = emu.task(ID)
    assert.are.same({ "stopped", 5 }, { stored.State, stored.Offset })
  end)

  it("a failed Stop: nothing else is sent", function()
    emu.put_task(task_in("retrying"))
    emu.faults { { kind = "error", status = 403, code = "Forbidden.RAM", message = "no", action = STOP } }
    local mark = #emu.requests()
    local res, err = sclient:apply({ TaskId = ID, Region = REGION, FileIndex = 1 }, { allow_restart = true })
    assert.is_nil(res)
    assert.are.same({ "Forbidden.RAM", { { action = STOP, ok = false } } }, { err.code, err.steps })
    assert.are.same({ "DescribeLivePullToPush", STOP }, (sent_since(mark)))
    assert.are.equal("retrying", emu.task(ID).State)
  end)

  it("every step is retried under the client's policy", function()
    emu.put_task(task_in("running"))
    emu.faults { { kind = "error", status = 503, action = STOP }, { kind = "error", status = 503, action = RESTART } }
    local mark = #emu.requests()
    local res = client:apply({ TaskId = ID, Region = REGION, Offset = 4 }, { allow_restart = true })
    assert.is_true(res.changed)
    assert.are.same({ "DescribeLivePullToPush", STOP, STOP, UPDATE, RESTART, RESTART }, (sent_since(mark)))
    assert.are.same({ "running", 4 }, { emu.task(ID).State, emu.task(ID).Offset })
  end)

  it("a missing task: state missing; apply fails with Describe's CodeTaskNotExist", function()
    local p = client:plan { TaskId = "no-such-task", Region = REGION, Offset = 3 }
    assert.are.same({ task_id = "no-such-task", state = "missing", changes = {}, steps = {}, needs_restart = false }, p)
    local ok, err = pcall(client.apply, client, { TaskId = "no-such-task", Region = REGION, Offset = 3 })
    assert.is_false(ok)
    assert.are.same({ "api", "CodeTaskNotExist", {} }, { err.kind, err.code, err.steps })
    local res, serr = sclient:apply { TaskId = "no-such-task", Region = REGION, Offset = 3 }
    assert.is_nil(res)
    assert.are.equal("CodeTaskNotExist", serr.code)
    -- the task exists, but in another Region: Describe does not find it there
    emu.put_task(task_in("stopped"))
    assert.are.equal("missing", client:plan({ TaskId = ID, Region = "cn-beijing", Offset = 3 }).state)
    assert.are.equal(REGION, emu.task(ID).Region)
  end)

  it("bad input is refused before anything is sent, both flavours", function()
    emu.put_task(task_in("stopped"))
    local mark = #emu.requests()
    local ok, err = pcall(client.plan, client, { TaskId = ID, Region = REGION, CallbackUrl = "ftp://x" })
    assert.is_false(ok)
    assert.are.same({ "validation", "CallbackUrl" }, { err.kind, err.field })
    local res, serr = sclient:apply({ TaskId = ID, Region = REGION, Bogus = 1 })
    assert.is_nil(res)
    assert.are.same({ "UnknownParameter", "Bogus", {} }, { serr.code, serr.field, serr.steps })
    res, serr = sclient:apply({ TaskId = ID, Region = REGION, Offset = 2 }, { allow_restart = "yes" })
    assert.is_nil(res)
    assert.are.same({ "validation", "InvalidParameter", "allow_restart" }, { serr.kind, serr.code, serr.field })
    res, serr = sclient:plan("not a table")
    assert.is_nil(res)
    assert.are.equal("validation", serr.kind)
    local hostile = setmetatable({ TaskId = ID, Region = REGION }, { __index = function() error("ran") end })
    res, serr = sclient:apply(hostile)
    assert.is_nil(res)
    assert.are.same({ "validation", "InvalidParameter" }, { serr.kind, serr.code })
    res, serr = sclient:apply({ TaskId = ID, Region = REGION }, setmetatable({}, { __index = function() error("ran") end }))
    assert.are.same({ "validation", "opts" }, { serr.kind, serr.field })
    assert.are.same({}, (sent_since(mark)))
  end)

  it("values compare in the API's spellings: CallbackURL, lists, UTC times, integers", function()
    local task = task_in("running")
    local end_at = os.time() + 7200   -- one moment for both sides (a second boundary may fall between two os.time calls)
    task.EndTime = os.date("!%Y-%m-%dT%H:%M:%SZ", end_at)
    emu.put_task(task)
    local p = client:plan { TaskId = ID, Region = REGION, CallbackUrl = task.CallbackUrl, Offset = 1.0,
      SourceUrls = { "rtmp://pull.example.com/app/old" }, EndTime = end_at, RetryCount = 3,
      SourceType = "live", SourceProtocol = "rtmp", TaskName = "plan-task", DstUrl = task.DstUrl }
    assert.are.same({}, p.changes)
    assert.are.same({}, p.steps)
    assert.is_nil(p.blocked)
    -- RepeatNumber from 0 to -1, given as a float; SourceUrls in another order is a change
    emu.put_task(with(task_in("stopped"), { SourceUrls = { "rtmp://a/1", "rtmp://a/2" }, SourceType = "url" }))
    p = client:plan { TaskId = ID, Region = REGION, RepeatNumber = -1.0, SourceUrls = { "rtmp://a/2", "rtmp://a/1" },
      StartTime = os.time() + 100 }
    assert.are.same({ from = 0, to = -1 }, p.changes.RepeatNumber)
    if math.type then assert.are.equal("integer", math.type(p.changes.RepeatNumber.to)) end
    assert.are.same({ "rtmp://a/1", "rtmp://a/2" }, p.changes.SourceUrls.from)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", p.changes.StartTime.to)
    assert.are.same({ UPDATE }, p.steps)
  end)
end)

describe("plan.compute on answers the emulator cannot give", function()
  local params = { TaskId = "t", Region = "cn-shanghai", CallbackUrl = "https://cb.example.com/a",
    StartTime = "2030-08-23T15:30:00Z", SourceUrls = { "rtmp://a/b" }, Offset = 2 }
  local function info(over)
    local i = { CallbackURL = "https://cb.example.com/a", StartTime = "2030-08-23T15:30:00Z",
      SourceUrls = { "rtmp://a/b" }, Offset = 2 }
    for k, v in pairs(over or {}) do i[k] = v end
    return { TaskStatus = 3, TaskInfo = i }
  end

  it("times with an offset or a fraction compare in UTC", function()
    assert.are.same({}, plan.compute(info { StartTime = "2030-08-23T23:30:00+08:00" }, params).changes)
    assert.are.same({}, plan.compute(info { StartTime = "2030-08-23T15:30:00.000Z" }, params).changes)
    assert.are.same({}, plan.compute(info { StartTime = 1913729400 }, params).changes)
    local p = plan.compute(info { StartTime = "2030-08-23T15:30:00-01:00" }, params)
    assert.are.same({ from = "2030-08-23T16:30:00Z", to = "2030-08-23T15:30:00Z" }, p.changes.StartTime)
  end)

  it("SourceUrls as JSON text, integers as text", function()
    assert.are.same({}, plan.compute(info { SourceUrls = '["rtmp://a/b"]', Offset = "2" }, params).changes)
  end)

  it("a field the answer does not show is changed (from absent)", function()
    local answer = info { CallbackURL = false }   -- not a string: unreadable, so changed too
    answer.TaskInfo.Offset = nil
    local p = plan.compute(answer, params)
    assert.are.same({ CallbackUrl = { to = "https://cb.example.com/a" }, Offset = { to = 2 } }, p.changes)
    assert.are.same({ UPDATE }, p.steps)
    p = plan.compute({ TaskStatus = 0 }, params)   -- no TaskInfo at all
    assert.are.same({ "CallbackUrl", "Offset", "SourceUrls", "StartTime" }, keys(p.changes))
  end)

  it("hostile shapes never raise; an unknown TaskStatus blocks", function()
    for _, answer in ipairs {
      { TaskStatus = 7, TaskInfo = {} }, { TaskStatus = {}, TaskInfo = "x" }, { TaskStatus = "1" },
      { TaskStatus = 1, TaskInfo = { SourceUrls = { 1, 2 }, StartTime = "9999-99-99T99:99:99Z", Offset = 1e300,
        CallbackURL = {} } },
      { TaskStatus = 0 / 0 }, "not a table",
    } do
      local p = plan.compute(answer, params)
      assert.is_table(p.changes)
    end
    local p = plan.compute({ TaskStatus = 7, TaskInfo = {} }, params)
    assert.are.equal("unknown", p.state)
    assert.truthy(p.blocked:find("TaskStatus 7", 1, true))
    assert.are.same({}, p.steps)
    assert.are.equal("running", plan.compute({ TaskStatus = "1", TaskInfo = {} }, params).state)
  end)

  it("SourceProtocol is compared only for a live source", function()
    local p = plan.compute({ TaskStatus = 3, TaskInfo = { SourceType = "vod", SourceProtocol = "" } },
      { TaskId = "t", Region = "cn-shanghai", SourceProtocol = "rtmp" })
    assert.are.same({}, p.changes)
  end)
end)
