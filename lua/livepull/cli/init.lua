-- The livepull command: one subcommand per operation, with parameter flags
-- derived from the core's field table, JSON out, errors as JSON on stderr
-- and an exit code per error kind.
local livepull = require "livepull.safe"
local core = require "livepull.core"
local cjson = require "cjson.safe"
local profile = require "livepull.cli.profile"
local progress = require "livepull.cli.progress"

local M = {}

M.EXIT = { ok = 0, usage = 2, validation = 3, config = 4, transport = 5, api = 6, protocol = 7, batch = 8 }

-- Client options as flags: { flag, option, kind }.
local CLIENT_FLAGS = {
  { "endpoint", "endpoint", "string" },
  { "access-key-id", "access_key_id", "string" },
  { "access-key-secret", "access_key_secret", "string" },
  { "security-token", "security_token", "string" },
  { "signature-algorithm", "signature_algorithm", "string" },
  { "timeout", "timeout", "number" },
  { "connect-timeout", "connect_timeout", "number" },
  { "max-attempts", "max_attempts", "number" },
  { "rate-limit", "rate_limit", "number" },
  { "ca-file", "ca_file", "string" },
  { "ca-path", "ca_path", "string" },
  { "proxy", "proxy", "string" },
  { "allow-insecure-http", "allow_insecure_http", "boolean" },
}

local BEHAVIOUR_FLAGS = {
  { "params", "FILE.json parameters as a JSON object ('-' for stdin); flags override them" },
  { "batch", "FILE.jsonl one parameter object per line ('-' for stdin); one JSON result per line" },
  { "profile", "NAME aliyun CLI profile from ~/.aliyun/config.json (default: ALIBABA_CLOUD_PROFILE, then current)" },
  { "dry-run", "print the signed request (secrets redacted) instead of sending it" },
  { "idempotent", "update only: describe first and skip the update when nothing would change" },
  { "help", "this text" },
}

-- Commands: name -> action, in the order help lists them.
local COMMANDS, ORDER = {}, { "create", "describe", "list", "update", "stop", "restart", "delete" }
for action, method in pairs(core.operations()) do COMMANDS[method] = action end
-- plan and apply (cli/apply.lua) take update's parameter flags.
COMMANDS.plan, COMMANDS.apply = "UpdateLivePullToPush", "UpdateLivePullToPush"
ORDER[#ORDER + 1], ORDER[#ORDER + 2] = "plan", "apply"

local function flag_of(name, is_list)
  local kebab = name:gsub("(%l)(%u)", "%1-%2"):lower()
  return is_list and kebab:gsub("s$", "") or kebab
end

-- JSON text; lua-cjson 2.1 writes "/" as "\/", which is valid but hard to read.
local function to_json(v)
  local text = assert(cjson.encode(v))
  return (text:gsub("(\\+)/", function(bs) return #bs % 2 == 1 and bs:sub(2) .. "/" end))
end
M.to_json = to_json

local function error_table(err)
  if type(err) ~= "table" then return { kind = "config", code = "InternalError", message = tostring(err) } end
  local out = {}
  for _, k in ipairs { "kind", "code", "message", "field", "status", "request_id", "host_id", "recommend",
    "ret_code", "curl_code", "retryable", "attempts" } do
    out[k] = err[k]
  end
  return out
end

local function usage_error(message)
  return { kind = "usage", code = "InvalidArguments", message = message }
end

local function read_file(path, stdin)
  if path == "-" then return stdin:read("a") end
  local f, why = io.open(path, "rb")
  if not f then return nil, why end
  local text = f:read("a")
  f:close()
  return text
end

local function help(out, command)
  local lines = {}
  local function add(s) lines[#lines + 1] = s end
  if not command then
    add("usage: livepull COMMAND [options]")
    add("")
    add("Drive ApsaraVideo Live pull-to-push tasks. Output: the answer as JSON on stdout;")
    add("errors: a JSON object on stderr.")
    add("")
    add("commands:")
    for _, name in ipairs(ORDER) do add(("  %-9s %s"):format(name, COMMANDS[name])) end
    add("")
    add("Run 'livepull COMMAND --help' for a command's parameter flags.")
  else
    add(("usage: livepull %s [parameter flags] [options]   (%s)"):format(command, COMMANDS[command]))
    add("")
    add("parameters:")
    for _, f in ipairs(core.fields(COMMANDS[command])) do
      local notes = {}
      if f.required then notes[#notes + 1] = "required" end
      if f.condition then notes[#notes + 1] = f.condition end
      if f.choices then notes[#notes + 1] = "one of " .. table.concat(f.choices, ", ") end
      if f.type == "integer" then notes[#notes + 1] = ("integer %d..%d"):format(f.min, f.max) end
      if f.type == "time" then notes[#notes + 1] = "YYYY-MM-DDTHH:MM:SSZ or Unix time" end
      if f.type == "list" then notes[#notes + 1] = ("repeat for %d..%d values"):format(f.min, f.max) end
      add(("  --%-18s %s%s"):format(flag_of(f.name, f.type == "list") .. " V", f.name,
        #notes > 0 and ("  (" .. table.concat(notes, "; ") .. ")") or ""))
    end
  end
  add("")
  add("options:")
  for _, b in ipairs(BEHAVIOUR_FLAGS) do
    local arg, text = b[2]:match("^(%u[%w.]*) (.*)$")
    add(("  --%-24s %s"):format(b[1] .. (arg and " " .. arg or ""), arg and text or b[2]))
  end
  for _, c in ipairs(CLIENT_FLAGS) do
    add(("  --%-24s client option %s"):format(c[1] .. (c[3] == "boolean" and "" or " V"), c[2]))
  end
  add("")
  add("credentials: --access-key-id/--access-key-secret, else --profile or ALIBABA_CLOUD_PROFILE,")
  add("else ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET (+ _SECURITY_TOKEN), else the current profile of")
  add("~/.aliyun/config.json (modes AK and StsToken).")
  add("")
  add("exit codes: 0 ok, 2 usage, 3 validation, 4 config, 5 transport, 6 api, 7 protocol,")
  add("8 a batch with at least one failed line.")
  out:write(table.concat(lines, "\n"), "\n")
end

-- argv -> { command, params, options, flags } or nil, usage error.
local function parse_args(argv)
  local command = argv[1]
  if command == nil or command == "--help" or command == "-h" or command == "help" then
    return { help = true }
  end
  if command == "--version" then return { version = true } end
  local action = COMMANDS[command]
  if not action then
    return nil, usage_error(("unknown command %q; commands: %s"):format(command, table.concat(ORDER, ", ")))
  end

  local fields = {}
  for _, f in ipairs(core.fields(action)) do
    fields[flag_of(f.name, f.type == "list")] = f
    if f.type == "list" then fields[flag_of(f.name, false)] = f end
  end
  local client_flags, behaviour = {}, {}
  for _, c in ipairs(CLIENT_FLAGS) do client_flags[c[1]] = c end
  for _, b in ipairs(BEHAVIOUR_FLAGS) do behaviour[b[1]] = true end

  local args = { command = command, action = action, params = {}, options = {}, flags = {} }
  local i = 2
  while i <= #argv do
    local a = argv[i]
    local name, inline = a:match("^%-%-([%w-]+)=(.*)$")
    name = name or a:match("^%-%-([%w-]+)$")
    if not name then return nil, usage_error(("unexpected argument %q"):format(a)) end
    local function value()
      if inline then return inline end
      i = i + 1
      if argv[i] == nil then error(usage_error("--" .. name .. " needs a value"), 0) end
      return argv[i]
    end
    local ok, err = pcall(function()
      if fields[name] then
        local f = fields[name]
        local v = value()
        if f.type == "list" then
          local list = args.params[f.name] or {}
          list[#list + 1] = v
          args.params[f.name] = list
        elseif f.type == "integer" or (f.type == "time" and v:match("^%-?%d+$")) then
          args.params[f.name] = math.tointeger(tonumber(v)) or tonumber(v) or v   -- the library says what is wrong
        else
          args.params[f.name] = v
        end
      elseif client_flags[name] then
        local c = client_flags[name]
        if c[3] == "boolean" then
          if inline then error(usage_error("--" .. name .. " takes no value"), 0) end
          args.options[c[2]] = true
        elseif c[3] == "number" then
          local v = value()
          args.options[c[2]] = tonumber(v) or error(usage_error("--" .. name .. " needs a number"), 0)
        else
          args.options[c[2]] = value()
        end
      elseif behaviour[name] then
        if name == "dry-run" or name == "idempotent" or name == "help" then
          if inline then error(usage_error("--" .. name .. " takes no value"), 0) end
          args.flags[name] = true
        else
          args.flags[name] = value()
        end
      else
        error(usage_error(("unknown option --%s for %s (see livepull %s --help)"):format(name, command, command)), 0)
      end
    end)
    if not ok then return nil, err end
    i = i + 1
  end
  if args.flags.idempotent and command ~= "update" then
    return nil, usage_error("--idempotent works with update only")
  end
  if args.flags.batch and args.flags["dry-run"] then
    return nil, usage_error("--batch and --dry-run do not go together")
  end
  return args
end

-- Credentials come whole from one place: the flags, else a profile (named,
-- or the file's current one when the environment has none), else (left to
-- the library) the environment. A token is never borrowed from elsewhere:
-- security_token = false tells the library not to read the environment's.
local function client_options(args)
  local opts = {}
  for k, v in pairs(args.options) do opts[k] = v end
  if (opts.access_key_id == nil) ~= (opts.access_key_secret == nil) then
    return nil, usage_error("--access-key-id and --access-key-secret go together")
  end
  if opts.access_key_id then
    if opts.security_token == nil then opts.security_token = false end
    return opts
  end
  if opts.security_token ~= nil then
    return nil, usage_error("--security-token goes with --access-key-id and --access-key-secret")
  end
  local name = args.flags.profile or os.getenv("ALIBABA_CLOUD_PROFILE")
  local from_env = os.getenv("ALIBABA_CLOUD_ACCESS_KEY_ID") and os.getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
  if name or not from_env then
    local p, why = profile.load(name)
    if not p then return nil, { kind = "config", code = "InvalidProfile", field = "profile", message = why } end
    if p.access_key_id and p.access_key_secret then
      opts.access_key_id, opts.access_key_secret = p.access_key_id, p.access_key_secret
      opts.security_token = p.security_token or false
    end
    if opts.region_id == nil then opts.region_id = p.region_id end
  end
  return opts
end

local function redact(req)
  local headers = {}
  for k, v in pairs(req.headers) do headers[k] = v end
  if headers.authorization then
    headers.authorization = headers.authorization:gsub("Signature=%x+", "Signature=<redacted>")
  end
  if headers["x-acs-security-token"] then headers["x-acs-security-token"] = "<redacted>" end
  local url = req.url:gsub("([?&]Signature=)[^&]*", "%1<redacted>"):gsub("([?&]SecurityToken=)[^&]*", "%1<redacted>")
  return { method = req.method, url = url, headers = headers, body = req.body }
end

local function merged(defaults, params)
  local p = {}
  for k, v in pairs(defaults) do p[k] = v end
  for k, v in pairs(params) do p[k] = v end
  return p
end

-- --idempotent: what the update would change, compared with Describe's TaskInfo.
local TASKINFO_NAMES = { CallbackUrl = "CallbackURL" }
local function normalized(name, v)
  if (name == "StartTime" or name == "EndTime") and type(v) == "number" then
    return os.date("!%Y-%m-%dT%H:%M:%SZ", v)
  end
  if type(v) == "table" then return to_json(v) end
  if type(v) == "number" then return tostring(math.tointeger(v) or v) end
  return v
end

local function would_change(client, params)
  local current, err = client:describe { TaskId = params.TaskId, Region = params.Region }
  if not current then return nil, err end
  local info = current.TaskInfo or {}
  for name, v in pairs(params) do
    if name ~= "TaskId" and name ~= "Region" and name ~= "RegionId" then
      local now = info[TASKINFO_NAMES[name] or name]
      if normalized(name, v) ~= normalized(name, now) then return true end
    end
  end
  return false
end

local function run_one(client, args, params)
  if args.flags.idempotent then
    local change, err = would_change(client, params)
    if change == nil then return nil, err end
    if not change then
      return { changed = false, TaskId = params.TaskId, Description = "no change; update skipped" }
    end
    local res, uerr = client:call(args.action, params)
    if not res then return nil, uerr end
    res.changed = true
    return res
  end
  return client:call(args.action, params)
end

local function exit_code(err)
  return M.EXIT[err.kind] or 1
end

local function run_batch(client, args, defaults, io_)
  local text, why = read_file(args.flags.batch, io_.stdin)
  if not text then
    io_.stderr:write(to_json(usage_error("cannot read --batch: " .. tostring(why))), "\n")
    return M.EXIT.usage
  end
  local lines = {}
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do lines[#lines + 1] = line end
  local items = {}
  for n, line in ipairs(lines) do
    if line:match("%S") then items[#items + 1] = { n = n, text = line } end
  end
  local bar = io_.stderr_is_tty and progress.new(#items, io_.stderr) or nil
  local failed = 0
  for _, item in ipairs(items) do
    local params = cjson.decode(item.text)
    local res, err
    if type(params) ~= "table" then
      err = { kind = "validation", code = "InvalidParameter", field = "line",
              message = "line " .. item.n .. " is not a JSON object" }
    else
      res, err = run_one(client, args, merged(defaults, params))
    end
    local out = { line = item.n, ok = res ~= nil }
    if res then out.result = res else out.error = error_table(err); failed = failed + 1 end
    io_.stdout:write(to_json(out), "\n")
    io_.stdout:flush()
    if bar then bar:step(res ~= nil) end
  end
  return failed == 0 and M.EXIT.ok or M.EXIT.batch
end

-- main(argv, io_) -> exit code. io_ = { stdin, stdout, stderr, stderr_is_tty } for tests.
function M.main(argv, io_)
  io_ = io_ or { stdin = io.stdin, stdout = io.stdout, stderr = io.stderr,
                 stderr_is_tty = os.execute("[ -t 2 ]") == true }
  if argv[1] == "plan" or argv[1] == "apply" then return require("livepull.cli.apply").main(argv, io_, M) end
  local args, uerr = parse_args(argv)
  if not args then
    io_.stderr:write(to_json(uerr), "\n")
    return M.EXIT.usage
  end
  if args.help then help(io_.stdout); return M.EXIT.ok end
  if args.version then io_.stdout:write("livepull ", livepull.version, "\n"); return M.EXIT.ok end
  if args.flags.help then help(io_.stdout, args.command); return M.EXIT.ok end

  local params = {}
  if args.flags.params then
    local text, why = read_file(args.flags.params, io_.stdin)
    local decoded = text and cjson.decode(text)
    if type(decoded) ~= "table" then
      io_.stderr:write(to_json(usage_error("--params must name a file holding a JSON object: " ..
        tostring(why or "not a JSON object"))), "\n")
      return M.EXIT.usage
    end
    params = decoded
  end
  params = merged(params, args.params)

  local opts, perr = client_options(args)
  if not opts then
    io_.stderr:write(to_json(perr), "\n")
    return exit_code(perr)
  end
  local client, cerr = livepull.new(opts)
  if not client then
    io_.stderr:write(to_json(error_table(cerr)), "\n")
    return exit_code(cerr)
  end

  if args.flags.batch then return run_batch(client, args, params, io_) end

  local res, err
  if args.flags["dry-run"] then
    local req
    req, err = client:prepare(args.action, params)
    res = req and redact(req)
  else
    res, err = run_one(client, args, params)
  end
  client:close()
  if not res then
    io_.stderr:write(to_json(error_table(err)), "\n")
    return exit_code(err)
  end
  io_.stdout:write(to_json(res), "\n")
  return M.EXIT.ok
end

-- For cli/apply.lua.
M.parse_args, M.client_options, M.error_table, M.read_file, M.merged, M.help, M.usage_error =
  parse_args, client_options, error_table, read_file, merged, help, usage_error

return M
