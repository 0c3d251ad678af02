-- client:plan and client:apply: a change to one pull-to-push task planned from the task's state
-- (Describe's answer) and carried out through the client's own methods (describe, stop, update,
-- restart), so it works the same for livepull, livepull.safe and livepull.resty clients.
local core = require "livepull.core"
local cjson = require "cjson.safe"

local M = {}

local STOP, UPDATE, RESTART = "StopLivePullToPush", "UpdateLivePullToPush", "RestartLivePullToPush"

-- TaskStatus -> state. `takes`: which changes the state takes through Update: "all", "running"
-- (only the fields of class "running"; the others need a stop), nil (none: the task exited).
local STATES = {
  [0] = { name = "scheduled", takes = "all" },
  [1] = { name = "running", takes = "running" },
  [2] = { name = "retrying", takes = "running" },
  [3] = { name = "stopped", takes = "all" },
  [-1] = { name = "exited" },
}

-- The fields a plan compares, in the request's spelling. `info`: TaskInfo's spelling when it
-- differs; `kind`: how values compare; `class`: "running" (Update takes it even while the task
-- runs), "stopped" (Update takes it while the task does not run), "create" (only Create sets it).
-- TaskId, Region and RegionId name the task: never compared, never changed (Region stays update's job).
local FIELDS = {
  { name = "CallbackUrl", info = "CallbackURL", kind = "text", class = "running" },
  { name = "RepeatNumber", kind = "integer", class = "running" },
  { name = "StartTime", kind = "time", class = "stopped" },
  { name = "EndTime", kind = "time", class = "stopped" },
  { name = "SourceUrls", kind = "list", class = "stopped" },
  { name = "Offset", kind = "integer", class = "stopped" },
  { name = "FileIndex", kind = "integer", class = "stopped" },
  { name = "DstUrl", kind = "text", class = "create" },
  { name = "SourceType", kind = "text", class = "create" },
  { name = "SourceProtocol", kind = "text", class = "create", live_only = true },   -- ignored for vod/url
  { name = "TaskName", kind = "text", class = "create" },
  { name = "RetryCount", kind = "integer", class = "create" },
  { name = "RetryInterval", kind = "integer", class = "create" },
}
local CLASS_OF = {}
for _, f in ipairs(FIELDS) do CLASS_OF[f.name] = f.class end

-- Normalizing: each kind gives a comparable key and the value to show (the request's shape:
-- integers as integers, times as UTC text, lists as lists), or nil when the value does not fit.
local MAX_EPOCH = 253402300799   -- 9999-12-31T23:59:59Z

local function integer_value(v)
  if type(v) == "string" and v:match("^%-?%d+$") and #v <= 16 then v = tonumber(v) end
  if type(v) ~= "number" or v ~= v or v % 1 ~= 0 or v >= 2^53 or v <= -2^53 then return nil end
  return ("%d"):format(v), (math.tointeger and math.tointeger(v)) or v
end

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
local floor = math.floor
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  return era * 146097 + yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy - 719468
end

-- A time as Unix seconds: a number, or text YYYY-MM-DDTHH:MM:SS with an optional fraction and
-- Z, +HH:MM or -HH:MM (Describe's answer is read generously; it is compared in UTC).
local function epoch_of(v)
  if type(v) == "number" then return integer_value(v) and v or nil end
  if type(v) ~= "string" or #v > 40 then return nil end
  local y, mo, d, h, mi, s, rest = v:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or s > 60 then return nil end
  rest = rest:gsub("^%.%d+", "")
  local offset = 0
  if rest ~= "Z" then
    local sign, oh, om = rest:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
  end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
end

local NORMALIZE = {
  text = function(v)
    if type(v) ~= "string" then return nil end
    return v, v
  end,
  integer = integer_value,
  time = function(v)
    local epoch = epoch_of(v)
    if not epoch or epoch < 0 or epoch > MAX_EPOCH then return nil end
    local text = os.date("!%Y-%m-%dT%H:%M:%SZ", epoch)
    return text, text
  end,
  list = function(v)
    if type(v) == "string" then v = cjson.decode(v) end   -- a JSON array written as text
    if type(v) ~= "table" then return nil end
    local parts, copy, n = {}, {}, 0
    for _ in next, v do n = n + 1 end
    for i = 1, n do
      local s = rawget(v, i)
      if type(s) ~= "string" then return nil end   -- also a table that is not a sequence
      parts[i], copy[i] = #s .. ":" .. s, s
    end
    return table.concat(parts, ","), copy
  end,
}

-- The client's flavour: livepull raises its errors, livepull.safe and livepull.resty return
-- nil, err. A native client shows which by how prepare refuses an unknown action (no I/O);
-- a client without prepare returns nil, err.
local RAISES = setmetatable({}, { __mode = "k" })
local function raises(client)
  local known = RAISES[client]
  if known == nil then
    local ok, prepare = pcall(function() return client.prepare end)
    known = ok and type(prepare) == "function" and not pcall(prepare, client, "")
    RAISES[client] = known
  end
  return known
end

local function as_error(e)
  if type(e) == "table" then return e end
  return core.error("config", "InternalError", tostring(e))
end

-- One call through the client's own method: res, or nil, err (whichever way the client fails).
local function call(client, method, params)
  local ok, res, err = pcall(function() return client[method](client, params) end)
  if not ok then return nil, as_error(res) end
  if res == nil then return nil, as_error(err) end
  return res
end

local function fail(client, err)
  if raises(client) then error(err, 0) end
  return nil, err
end

-- Validation without I/O: the core's own rules, through prepare on an offline client.
local validator
local function validate(action, params)
  if not validator then
    validator = assert(core.new({ access_key_id = "livepull-plan", access_key_secret = "validation-only",
      security_token = false }, true))
  end
  local req, err = validator:prepare(action, params)
  if not req then return nil, err end
  return true
end

local function task_key(params)
  return { TaskId = rawget(params, "TaskId"), Region = rawget(params, "Region"), RegionId = rawget(params, "RegionId") }
end

-- The changed fields of one class, in FIELDS order.
local function changed_fields(p, class)
  local names = {}
  for _, f in ipairs(FIELDS) do
    if f.class == class and p.changes[f.name] then names[#names + 1] = f.name end
  end
  return names
end

M.changed_fields = changed_fields

-- M.compute(answer, params): the plan from a Describe answer (or a DescribeLivePullToPushList
-- entry: the same TaskStatus and TaskInfo); answer nil: the task is missing. Pure.
function M.compute(answer, params)
  local p = { task_id = rawget(params, "TaskId"), changes = {}, steps = {}, needs_restart = false }
  if type(answer) ~= "table" then
    p.state = "missing"
    return p
  end
  local _, status = integer_value(answer.TaskStatus)
  local state = STATES[status]
  p.state = state and state.name or "unknown"
  local info = type(answer.TaskInfo) == "table" and answer.TaskInfo or {}
  local source_type = rawget(params, "SourceType") or rawget(info, "SourceType")
  for _, f in ipairs(FIELDS) do
    local want = rawget(params, f.name)
    if want ~= nil and (not f.live_only or source_type == "live") then
      local to_key, to = NORMALIZE[f.kind](want)
      local from_key, from = NORMALIZE[f.kind](rawget(info, f.info or f.name))
      if from_key == nil or from_key ~= to_key then   -- absent from the answer: changed
        p.changes[f.name] = { from = from, to = to == nil and want or to }
      end
    end
  end
  if next(p.changes) == nil then return p end
  local create_only, needs_stop = changed_fields(p, "create"), changed_fields(p, "stopped")
  if #create_only > 0 then
    p.blocked = ("%s can be set only when a task is created (CreateLivePullToPush), not by an update")
      :format(table.concat(create_only, ", "))
  elseif not state then
    p.blocked = ("TaskStatus %.40s is not a state livepull knows; nothing is changed"):format(tostring(answer.TaskStatus))
  elseif not state.takes then
    p.blocked = "the task has exited (TaskStatus -1): it takes no change"
  elseif state.takes == "running" and #needs_stop > 0 then
    p.steps, p.needs_restart = { STOP, UPDATE, RESTART }, true
  else
    p.steps = { UPDATE }
  end
  return p
end

-- The plan, or nil, err; a missing task's Describe error comes third.
local function make_plan(client, params)
  if type(params) ~= "table" or getmetatable(params) ~= nil then   -- the core says what is wrong
    local _, err = validate(UPDATE, params)
    return nil, err
  end
  local update_params = {}
  for k, v in next, params do
    if CLASS_OF[k] ~= "create" then update_params[k] = v end
  end
  local ok, err = validate(UPDATE, update_params)   -- Create-only fields are compared, never sent
  if not ok then return nil, err end
  local answer, derr = call(client, "describe", task_key(params))
  if not answer then
    if derr.code ~= "CodeTaskNotExist" then return nil, derr end
    return M.compute(nil, params), nil, derr
  end
  return M.compute(answer, params)
end

-- client:plan(params): one DescribeLivePullToPush, nothing changed.
function M.plan(client, params)
  local p, err = make_plan(client, params)
  if not p then return fail(client, err) end
  return p
end

local function refusal(code, message, field, steps)
  return core.error("validation", code, message, { field = field, steps = steps or {} })
end

local function read_options(opts)
  if opts == nil then return false end
  if type(opts) ~= "table" or getmetatable(opts) ~= nil then
    return nil, refusal("InvalidParameter", "apply's options must be a plain table { allow_restart = true|false }",
      "opts")
  end
  for k, v in next, opts do
    if k ~= "allow_restart" or type(v) ~= "boolean" then
      return nil, refusal("InvalidParameter", "apply takes one option, allow_restart (a boolean)", tostring(k))
    end
  end
  return rawget(opts, "allow_restart") == true
end

-- Runs the plan's steps (check: stops before the first one); res, or nil and an error that
-- lists every step tried.
local function carry_out(client, params, opts, check)
  local allow_restart, oerr = read_options(opts)
  if oerr then return nil, oerr end
  local p, err, missing = make_plan(client, params)
  if not p then err.steps = {}; return nil, err end
  if missing then missing.steps = {}; return nil, missing end
  if p.blocked then
    return nil, refusal("ChangeNotAllowed", p.blocked, changed_fields(p, "create")[1])
  end
  if #p.steps == 0 then return { changed = false, steps = {}, plan = p } end
  if p.needs_restart and not allow_restart then
    local names = changed_fields(p, "stopped")
    return nil, refusal("TaskRunning", ("the task is %s: %s can change only while it is stopped; allow_restart = true " ..
      "(livepull apply --allow-restart) stops it, updates it and restarts it"):format(p.state, table.concat(names, ", ")),
      names[1])
  end
  if check then return { changed = true, steps = p.steps, plan = p } end
  local key = task_key(params)
  local update = task_key(params)
  for name in pairs(p.changes) do update[name] = rawget(params, name) end   -- only what differs
  local tried, done = {}, {}
  local function step(action, method, args)
    local res, serr = call(client, method, args)
    tried[#tried + 1] = { action = action, ok = res ~= nil }
    if res then done[#done + 1] = action end
    return res, serr
  end
  if p.needs_restart then
    local _, serr = step(STOP, "stop", key)
    if serr then serr.steps = tried; return nil, serr end
  end
  local result, uerr = step(UPDATE, "update", update)
  if not result then
    if p.needs_restart then   -- leave it running as it was
      uerr.rolled_back = step(RESTART, "restart", key) ~= nil
    end
    uerr.steps = tried
    return nil, uerr
  end
  if p.needs_restart then
    local _, rerr = step(RESTART, "restart", key)   -- the task stays stopped, with the new values
    if rerr then rerr.steps = tried; return nil, rerr end
  end
  return { changed = true, steps = done, plan = p, result = result }
end

-- M.check(client, params [, opts]): what apply would do, with apply's refusals, sending only the
-- Describe (check mode for playbooks). res.steps are the steps apply would take.
function M.check(client, params, opts)
  local res, err = carry_out(client, params, opts, true)
  if not res then return fail(client, err) end
  return res
end

-- client:apply(params [, { allow_restart = false }])
function M.apply(client, params, opts)
  local res, err = carry_out(client, params, opts)
  if not res then return fail(client, err) end
  return res
end

return M
