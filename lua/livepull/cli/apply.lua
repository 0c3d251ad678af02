-- The plan and apply commands: one task's change planned and carried out (client:plan,
-- client:apply, Ansible's check mode and diff), and `apply --file`: a desired-state file of
-- tasks made true in the account (create, change, leave alone, optionally prune or recreate).
local plan = require "livepull.plan"
local core = require "livepull.core"
local cjson = require "cjson.safe"
local input = require "livepull.cli.input"

local M = {}

local CREATE = "CreateLivePullToPush"
local MAX_LISTED = 100000   -- tasks per Region: a listing that never ends is the server's fault

-- Flags of these commands alone, taken out before update's flags are parsed:
-- name -> { takes a value, text for --help }.
local OWN_FLAGS = {
  ["allow-restart"] = { false, "stop, update and restart a running task when a change needs it" },
  check = { false, "plan only: say what would change (Ansible check mode); only Describes are sent" },
  diff = { false, "add Ansible's diff: { before = {...}, after = {...} } (without --file)" },
  file = { true, "FILE.json a desired state: a JSON list of tasks (Create's parameters)" },
  prune = { false, "with --file and --region: delete that Region's tasks the file does not name" },
  recreate = { false, "with --file: delete and create anew a task whose Create-only fields differ" },
}
local OWN_ORDER = { "allow-restart", "check", "diff", "file", "prune", "recreate" }
M.OWN_FLAGS, M.OWN_ORDER = OWN_FLAGS, OWN_ORDER   -- for cli/completion.lua

-- A list written as a JSON array even when empty (lua-cjson 2.1 writes {} for an empty table).
local list = require("livepull.cli.json").array

local function error_out(cli, err)
  local out = cli.error_table(err)
  if type(err) == "table" then
    if err.steps then out.steps = list(err.steps) end
    out.rolled_back = err.rolled_back
  end
  return out
end

local function fail(cli, io_, err)
  cli.emit(io_.stderr, error_out(cli, err))
  return err.kind == "usage" and cli.EXIT.usage or cli.EXIT[err.kind] or 1
end

-- argv without this command's own flags, and those flags.
local function take_own_flags(cli, argv)
  local rest, own = { argv[1] }, {}
  local i = 2
  while i <= #argv do
    local a = argv[i]
    local name, inline = a:match("^%-%-([%w-]+)=(.*)$")
    name = name or a:match("^%-%-([%w-]+)$")
    local flag = name and OWN_FLAGS[name]
    if not flag then
      rest[#rest + 1] = a
    elseif argv[1] == "plan" then
      return nil, cli.usage_error(("--%s works with apply, not plan"):format(name))
    elseif flag[1] then
      if not inline then i = i + 1; inline = argv[i] end
      if inline == nil then return nil, cli.usage_error("--" .. name .. " needs a value") end
      own[name] = inline
    else
      if inline then return nil, cli.usage_error("--" .. name .. " takes no value") end
      own[name] = true
    end
    i = i + 1
  end
  return rest, own
end

local function help(cli, out, command)
  cli.help(out, command)
  if command == "apply" then
    out:write("\napply's own options:\n")
    for _, name in ipairs(OWN_ORDER) do
      local f = OWN_FLAGS[name]
      local arg, text = f[2]:match("^(%u[%w.]*) (.*)$")
      out:write(("  --%-24s %s\n"):format(name .. (arg and " " .. arg or ""), arg and text or f[2]))
    end
  end
  out:write("\n(--batch, --dry-run and --idempotent do not apply here.)\n")
end

-- The flag combinations that make no sense, as a usage error; nil when they do.
local function misuse(cli, args, own)
  for _, name in ipairs { "batch", "dry-run", "idempotent" } do
    if args.flags[name] then return cli.usage_error(("--%s does not go with %s"):format(name, args.command)) end
  end
  if own.file then
    if own.diff then return cli.usage_error("--diff works without --file") end
    for name in pairs(args.params) do
      if name ~= "Region" and name ~= "RegionId" then
        return cli.usage_error("with --file, the tasks come from the file; of the parameter flags only --region "
          .. "(and --region-id) apply")
      end
    end
    if args.flags.params then return cli.usage_error("--params does not go with --file") end
    if own.prune and not args.params.Region then return cli.usage_error("--prune needs --region") end
  elseif own.prune or own.recreate then
    return cli.usage_error(("--%s works with --file"):format(own.prune and "prune" or "recreate"))
  end
end

-- { before = {...}, after = {...} } of the changed fields.
local function diff_of(p)
  local before, after = {}, {}
  for name, change in pairs(p.changes) do before[name], after[name] = change.from, change.to end
  return { before = before, after = after }
end

local function plan_out(p)
  return { task_id = p.task_id, state = p.state, changes = p.changes, steps = list(p.steps),
           needs_restart = p.needs_restart, blocked = p.blocked }
end

-- livepull plan / livepull apply [--check] [--diff] [--allow-restart], one task.
local function run_one(cli, client, command, params, own, io_)
  local res, err
  if command == "plan" then
    res, err = client:plan(params)
    if not res then return fail(cli, io_, err) end
    cli.emit(io_.stdout, plan_out(res))
    return cli.EXIT.ok
  end
  local run = own.check and plan.check or plan.apply
  res, err = run(client, params, { allow_restart = own["allow-restart"] == true })
  if not res then return fail(cli, io_, err) end
  local out = plan_out(res.plan)
  out.changed, out.steps, out.result, out.check_mode = res.changed, list(res.steps), res.result, own.check or nil
  if own.diff then out.diff = diff_of(res.plan) end
  cli.emit(io_.stdout, out)
  return cli.EXIT.ok
end

-- ---------------------------------------------------------------------------------------------
-- apply --file: the desired state.
-- ---------------------------------------------------------------------------------------------

-- The file's entries, each a copy with its Region, or nil and a usage error.
local function read_entries(cli, path, defaults, io_)
  local text, why = cli.read_file(path, io_.stdin)
  if not text then return nil, cli.usage_error("cannot read --file: " .. tostring(why)) end
  local decoded = cjson.decode(text)
  if type(decoded) ~= "table" or (next(decoded) ~= nil and #decoded == 0) then
    return nil, cli.usage_error("--file must hold a JSON list of task objects")
  end
  local entries, ids, names = {}, {}, {}
  for i, e in ipairs(decoded) do
    if type(e) ~= "table" or #e > 0 then return nil, cli.usage_error(("--file entry %d is not a JSON object"):format(i)) end
    local entry, cerr = input.convert(CREATE, cli.merged(defaults, e))   -- the JSON input rules
    if not entry then return nil, cerr end
    local where = ("--file entry %d"):format(i)
    if type(entry.Region) ~= "string" then return nil, cli.usage_error(where .. " has no Region and --region is not given") end
    if entry.TaskId ~= nil then
      if type(entry.TaskId) ~= "string" then return nil, cli.usage_error(where .. ": TaskId must be a string") end
      if ids[entry.TaskId] then return nil, cli.usage_error(where .. " repeats TaskId " .. entry.TaskId) end
      ids[entry.TaskId] = true
    elseif type(entry.TaskName) == "string" and entry.TaskName ~= "" then
      local key = entry.Region .. "\0" .. entry.TaskName
      if names[key] then
        return nil, cli.usage_error(("%s repeats TaskName %q in %s: a name must be unique in its Region")
          :format(where, entry.TaskName, entry.Region))
      end
      names[key] = true
    else
      return nil, cli.usage_error(where .. " names no task: give it a TaskId or a TaskName")
    end
    entries[i] = entry
  end
  return entries
end

-- Every task of each Region: { [region] = { by_id = {...}, by_name = { [name] = {task, ...} }, list = {...} } }.
local function read_account(client, regions)
  local account = {}
  for region in pairs(regions) do
    local seen = { by_id = {}, by_name = {}, list = {} }
    local next_task, listed = client:tasks { Region = region }, 0
    while true do
      local task, err = next_task()
      if err then return nil, err end
      if task == nil then break end
      listed = listed + 1
      if listed > MAX_LISTED then
        return nil, core.error("protocol", "InvalidResponse",
          ("DescribeLivePullToPushList for %s listed more than %d tasks"):format(region, MAX_LISTED))
      end
      if type(task) == "table" and type(task.TaskId) == "string" then
        local info = type(task.TaskInfo) == "table" and task.TaskInfo or {}
        seen.by_id[task.TaskId], seen.list[#seen.list + 1] = task, task
        if type(info.TaskName) == "string" then
          local same = seen.by_name[info.TaskName] or {}
          same[#same + 1] = task
          seen.by_name[info.TaskName] = same
        end
      end
    end
    account[region] = seen
  end
  return account
end

local function without_task_id(entry)
  local p = {}
  for k, v in pairs(entry) do if k ~= "TaskId" then p[k] = v end end
  return p
end

local function failed(item, err, steps)
  if steps then err.steps = steps end
  item.error = err
  return { "failed" }, item
end

-- Delete and create anew: the Create-only fields differ. A running task is interrupted, so it
-- takes --allow-restart like any stop.
local function recreate(client, entry, current, p, item, own)
  if (p.state == "running" or p.state == "retrying") and not own["allow-restart"] then
    return failed(item, core.error("validation", "TaskRunning",
      ("the task is %s: recreating it interrupts it; add --allow-restart"):format(p.state),
      { field = plan.changed_fields(p, "create")[1] }))
  end
  item.PreviousTaskId = current.TaskId
  if own.check then item.TaskId = nil; return { "recreated" }, item end
  local _, derr = client:delete { TaskId = current.TaskId, Region = entry.Region, RegionId = entry.RegionId }
  if derr then return failed(item, derr, { { action = "DeleteLivePullToPush", ok = false } }) end
  local res, cerr = client:create(without_task_id(entry))
  if not res then
    item.TaskId = nil
    return failed(item, cerr, { { action = "DeleteLivePullToPush", ok = true }, { action = CREATE, ok = false } })
  end
  item.TaskId = res.TaskId
  return { "recreated" }, item
end

-- One entry: the summary lists it goes to, and its item { TaskId, TaskName [, error] }.
local function settle(client, entry, account, own)
  local item = { TaskId = entry.TaskId, TaskName = entry.TaskName }
  local opts = { allow_restart = own["allow-restart"] == true }
  local seen = account[entry.Region]
  local current
  if entry.TaskId then current = seen.by_id[entry.TaskId] else current = (seen.by_name[entry.TaskName] or {})[1] end
  if current then item.TaskId = current.TaskId end   -- claimed even when the entry fails: never pruned
  local valid, verr = client:prepare(CREATE, without_task_id(entry))   -- every entry is a whole task
  if not valid then return failed(item, verr) end
  if not current then
    if entry.TaskId then   -- an unknown TaskId is never created: Describe says why
      local _, err = plan.check(client, entry, opts)
      return failed(item, err)
    end
    if own.check then return { "created" }, item end
    local res, err = client:create(entry)
    if not res then return failed(item, err, { { action = CREATE, ok = false } }) end
    item.TaskId = res.TaskId
    return { "created" }, item
  end
  local params = without_task_id(entry)
  params.TaskId = current.TaskId
  item.TaskName = item.TaskName or (type(current.TaskInfo) == "table" and current.TaskInfo.TaskName or nil)
  local p = plan.compute(current, params)   -- from the listing: no Describe for an equal task
  if #p.steps == 0 and not p.blocked then return { "unchanged" }, item end
  if p.blocked and own.recreate and #plan.changed_fields(p, "create") > 0 then
    return recreate(client, entry, current, p, item, own)
  end
  local res, err = (own.check and plan.check or plan.apply)(client, params, opts)
  if not res then return failed(item, err) end
  if res.plan.needs_restart then return { "updated", "restarted" }, item end
  return { "updated" }, item
end

local SUMMARY = { "created", "updated", "restarted", "recreated", "deleted", "unchanged", "failed" }
local CHANGING = { UpdateLivePullToPush = true, [CREATE] = true, DeleteLivePullToPush = true }

-- Whether a failed entry still changed the account (a Restart failed after the Update, a Create
-- after the Delete).
local function changed_anyway(err)
  for _, s in ipairs(type(err) == "table" and err.steps or {}) do
    if s.ok and CHANGING[s.action] then return true end
  end
  return false
end

local function run_file(cli, client, args, own, io_)
  local entries, uerr = read_entries(cli, own.file, args.params, io_)
  if not entries then return fail(cli, io_, uerr) end
  local regions = {}
  for _, e in ipairs(entries) do regions[e.Region] = true end
  if own.prune then regions[args.params.Region] = true end
  local account, aerr = read_account(client, regions)
  if not account then return fail(cli, io_, aerr) end
  for i, e in ipairs(entries) do   -- a name must find one task, or none
    local same = not e.TaskId and account[e.Region].by_name[e.TaskName]
    if same and #same > 1 then
      return fail(cli, io_, cli.usage_error(("--file entry %d: %d tasks in %s are named %q; give the entry a TaskId")
        :format(i, #same, e.Region, e.TaskName)))
    end
  end

  local summary, claimed = { changed = false }, {}
  for _, name in ipairs(SUMMARY) do summary[name] = list() end
  local function add(kinds, item)
    for _, kind in ipairs(kinds) do
      if kind ~= "unchanged" and kind ~= "failed" then summary.changed = true end
      local list_ = summary[kind]
      list_[#list_ + 1] = item
    end
    if item.error then
      summary.changed = summary.changed or changed_anyway(item.error)
      item.error = error_out(cli, item.error)
    end
    for _, id in ipairs { item.TaskId, item.PreviousTaskId } do claimed[id] = true end
  end
  for _, e in ipairs(entries) do
    if e.TaskId then claimed[e.TaskId] = true end
    add(settle(client, e, account, own))
  end
  if own.prune then
    local region = args.params.Region
    for _, task in ipairs(account[region].list) do
      if not claimed[task.TaskId] then
        local item = { TaskId = task.TaskId, TaskName = type(task.TaskInfo) == "table" and task.TaskInfo.TaskName or nil }
        local _, err
        if not own.check then _, err = client:delete { TaskId = task.TaskId, Region = region } end
        if err then add(failed(item, err, { { action = "DeleteLivePullToPush", ok = false } }))
        else add({ "deleted" }, item) end
      end
    end
  end
  if own.check then summary.check_mode = true end
  cli.emit(io_.stdout, summary)
  return #summary.failed == 0 and cli.EXIT.ok or cli.EXIT.batch
end

-- main(argv, io_, cli): cli is lua/livepull/cli/init.lua's module (its parsing and helpers).
function M.main(argv, io_, cli)
  local command = argv[1]
  local rest, own = take_own_flags(cli, argv)
  if not rest then return fail(cli, io_, own) end
  local args, perr = cli.parse_args(rest)
  if not args then return fail(cli, io_, perr) end
  if args.flags.help then help(cli, io_.stdout, command); return cli.EXIT.ok end
  local merr = misuse(cli, args, own)
  if merr then return fail(cli, io_, merr) end

  local params, perr2 = cli.gather_params(args, io_)   -- --params and the flags, as every command reads them
  if not params then return fail(cli, io_, perr2) end
  local client, cerr = cli.open_client(args)
  if not client then return fail(cli, io_, cerr) end
  local code
  if own.file then code = run_file(cli, client, args, own, io_)
  else code = run_one(cli, client, command, params, own, io_) end
  client:close()
  return code
end

return M
