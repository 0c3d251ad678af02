-- The livepull command: one subcommand per operation, with parameter flags
-- derived from the core's field table, JSON out, errors as JSON on stderr
-- and an exit code per error kind. Whatever fails inside, the command ends
-- with one JSON error object (exit 1), never a traceback.
local livepull = require "livepull.safe"
local core = require "livepull.core"
local input = require "livepull.cli.input"
local output = require "livepull.cli.output"
local redact = require "livepull.cli.redact"

local M = {}

M.EXIT = { ok = 0, internal = 1, usage = 2, validation = 3, config = 4, transport = 5, api = 6, protocol = 7,
  batch = 8, interrupted = 130 }

-- Files read whole (--params) are read up to this size: a JSON object of
-- parameters is far smaller, and /dev/zero must not fill the memory.
M.MAX_PARAMS_BYTES = 8 * 1024 * 1024

-- Client options as flags: { flag, option, kind [, secret] }. Every option
-- of livepull.new is here or in NOT_FLAGS (a spec holds both lists to the
-- core's option table).
local CLIENT_FLAGS = {
  { "endpoint", "endpoint", "string" },
  { "access-key-id", "access_key_id", "string" },
  { "access-key-secret", "access_key_secret", "string", true },
  { "security-token", "security_token", "string", true },
  { "signature-algorithm", "signature_algorithm", "string" },
  { "timeout", "timeout", "number" },
  { "connect-timeout", "connect_timeout", "number" },
  { "max-attempts", "max_attempts", "number" },
  { "retry-base-delay", "retry_base_delay", "number" },
  { "retry-max-delay", "retry_max_delay", "number" },
  { "rate-limit", "rate_limit", "number" },
  { "rate-burst", "rate_burst", "number" },
  { "max-pacing-wait", "max_pacing_wait", "number" },
  -- the URL may hold Redis' password: scrubbed from every output like a secret
  { "rate-store", "rate_store", "string", true },
  { "rate-key", "rate_key", "string" },
  { "rate-key-prefix", "rate_key_prefix", "string" },
  { "rate-store-timeout", "rate_store_timeout", "number" },
  { "rate-store-fallback", "rate_store_fallback", "number or false" },
  { "max-response-bytes", "max_response_bytes", "number" },
  { "user-agent", "user_agent", "string" },
  { "ca-file", "ca_file", "string" },
  { "ca-path", "ca_path", "string" },
  { "proxy", "proxy", "string" },
  { "allow-insecure-http", "allow_insecure_http", "boolean" },
}
-- --credentials-uri URI: credentials = { type = "credentials_uri", uri = URI }.
local CREDENTIALS_URI_FLAG = { "credentials-uri", "credentials_uri", "string" }
M.CLIENT_FLAGS = CLIENT_FLAGS
M.NOT_FLAGS = {
  region_id = "the parameter flag --region-id sends RegionId; a profile's region_id is the default",
  shared_dict = "nginx only (livepull.resty)",
  force_libcurl = "nginx only (a plain client inside nginx)",
  on_attempt = "a Lua function: no command-line form",
  credentials = "--credentials-uri URI gives the credentials_uri type; the other types are Lua tables",
  profile = "--profile NAME (or ALIBABA_CLOUD_PROFILE) reads it",
}

local BEHAVIOUR_FLAGS = {
  { "params", "FILE.json parameters as a JSON object ('-' for stdin); flags override them" },
  { "batch", "FILE.jsonl one parameter object per line ('-' for stdin); one JSON result per line" },
  { "concurrency", "N with --batch: 1-32 requests in flight (default: automatic for a file; 1 for a pipe)" },
  { "profile", "NAME aliyun CLI profile from ~/.aliyun/config.json (default: ALIBABA_CLOUD_PROFILE, then current)" },
  { "dry-run", "print the signed request (secrets redacted) instead of sending it" },
  { "idempotent", "update only: describe first and skip the update when nothing would change" },
  { "help", "this text (also -h)" },
}

-- Commands: name -> action, in the order help lists them.
local COMMANDS, ORDER = {}, {}
for _, op in ipairs(core.operations()) do
  COMMANDS[op.method] = op.action
  ORDER[#ORDER + 1] = op.method
end
-- plan and apply (cli/apply.lua) take update's parameter flags.
COMMANDS.plan, COMMANDS.apply = "UpdateLivePullToPush", "UpdateLivePullToPush"
ORDER[#ORDER + 1], ORDER[#ORDER + 2] = "plan", "apply"
-- credentials: where the keys would come from (client:credentials_info()); client flags only.
COMMANDS.credentials = "DescribeLivePullToPush"
ORDER[#ORDER + 1] = "credentials"
local COMMAND_NOTES = { credentials = "where the credentials come from, as JSON (no secret; no API call)" }

local function flag_of(name, is_list)
  local kebab = name:gsub("(%l)(%u)", "%1-%2"):lower()
  return is_list and kebab:gsub("s$", "") or kebab
end
M.CLIENT_FLAGS, M.BEHAVIOUR_FLAGS, M.ORDER, M.COMMANDS, M.flag_of = CLIENT_FLAGS, BEHAVIOUR_FLAGS, ORDER, COMMANDS, flag_of   -- for cli/completion.lua
M.CREDENTIALS_URI_FLAG = CREDENTIALS_URI_FLAG

local function usage_error(message)
  return { kind = "usage", code = "InvalidArguments", message = message }
end

local function read_file(path, stdin, limit)
  limit = limit or M.MAX_PARAMS_BYTES
  local f, why = stdin, nil
  if path ~= "-" then f, why = io.open(path, "rb") end
  if not f then return nil, why end
  local text, rerr = f:read(limit + 1)
  if f ~= stdin then f:close() end
  if text == nil and rerr == nil then text = "" end   -- an empty file
  if text and #text > limit then return nil, ("larger than %d bytes"):format(limit) end
  return text, rerr
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
    for _, name in ipairs(ORDER) do add(("  %-11s %s"):format(name, COMMAND_NOTES[name] or COMMANDS[name])) end
    add("")
    add("Run 'livepull COMMAND --help' for a command's parameter flags.")
    add("'livepull completion bash' prints a bash completion script; 'livepull --version' the version.")
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
  add(("  --%-24s credentials from a credentials URI"):format("credentials-uri V"))
  add("")
  add("credentials: --access-key-id/--access-key-secret, or --credentials-uri, else --profile or")
  add("ALIBABA_CLOUD_PROFILE, else ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET (+ _SECURITY_TOKEN), else the")
  add("current profile of ~/.aliyun/config.json (every mode: AK, StsToken, RamRoleArn, EcsRamRole,")
  add("ChainableRamRoleArn, OIDC, CredentialsURI, External), else the rest of the default chain")
  add("(docs/credentials.md). 'livepull credentials' shows which, without the secret.")
  add("")
  add("JSON input (--params, --batch lines): an integer field also takes a string of decimal")
  add("digits (\"3\", \"-1\"); a time field too (a Unix time).")
  add("")
  add("exit codes: 0 ok, 1 internal failure, 2 usage, 3 validation, 4 config, 5 transport,")
  add("6 api, 7 protocol, 8 a batch with at least one failed line.")
  local ok, why = out:write(table.concat(lines, "\n"), "\n")
  if ok then ok, why = out:flush() end
  if not ok then error("cannot write the help: " .. tostring(why), 0) end
end

local function is_help(a) return a == "--help" or a == "-h" end

-- argv -> { command, params, options, flags } or nil, usage error (or a
-- validation error: a flag value that breaks cli/input's rules).
local function parse_args(argv)
  local command = argv[1]
  if command == nil or is_help(command) or command == "help" then
    local topic = command == "help" and argv[2]
    if topic and not COMMANDS[topic] then
      return nil, usage_error(("unknown command %q; commands: %s"):format(topic, table.concat(ORDER, ", ")))
    end
    return { help = true, command = topic or nil }
  end
  if command == "--version" then return { version = true } end
  local action = COMMANDS[command]
  if not action then
    return nil, usage_error(("unknown command %q; commands: %s"):format(command, table.concat(ORDER, ", ")))
  end
  for i = 2, #argv do
    if is_help(argv[i]) then return { help = true, command = command, flags = { help = true } } end
  end

  local fields = {}
  for _, f in ipairs(core.fields(action)) do
    fields[flag_of(f.name, f.type == "list")] = f
    if f.type == "list" then fields[flag_of(f.name, false)] = f end
  end
  local client_flags, behaviour = {}, {}
  for _, c in ipairs(CLIENT_FLAGS) do client_flags[c[1]] = c end
  client_flags[CREDENTIALS_URI_FLAG[1]] = CREDENTIALS_URI_FLAG
  for _, b in ipairs(BEHAVIOUR_FLAGS) do behaviour[b[1]] = true end

  local args = { command = command, action = action, params = {}, options = {}, flags = {} }
  local i = 2
  while i <= #argv do
    local a = argv[i]
    local name, inline = a:match("^%-%-([%w-]+)=(.*)$")
    name = name or a:match("^%-%-([%w-]+)$")
    if not name then   -- not quoted: it may be a secret typed without its flag
      return nil, usage_error(("unexpected argument %d: options are --name VALUE or --name=VALUE"):format(i - 1))
    end
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
        elseif c[3] == "number or false" then
          local v = value()
          if v == "false" then
            args.options[c[2]] = false
          else
            args.options[c[2]] = tonumber(v) or error(usage_error("--" .. name .. " needs a number or false"), 0)
          end
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
  if args.flags.batch == "-" and args.flags.params == "-" then
    return nil, usage_error("--batch - and --params - cannot both read stdin")
  end
  if command == "credentials" and next(args.params) then
    return nil, usage_error("credentials takes client flags only (no parameters)")
  end
  if args.flags.concurrency then
    local n = input.decimal_integer(args.flags.concurrency)
    if not (args.flags.batch and n and n >= 1 and n <= 32) then
      return nil, usage_error("--concurrency takes a whole number from 1 to 32, with --batch")
    end
    if n > 1 and args.flags.idempotent then
      return nil, usage_error("--idempotent batches run one line at a time (--concurrency 1)")
    end
    args.flags.concurrency = n
  end
  local converted, cerr = input.convert(action, args.params)   -- "3" -> 3 for integer flags
  if not converted then return nil, cerr end
  args.params = converted
  return args
end

-- The secret flags' values, before parsing: even a usage error's output is
-- scrubbed of them.
local function note_secret_flags(argv, out)
  for i, a in ipairs(argv) do
    for _, c in ipairs(CLIENT_FLAGS) do
      if c[4] then
        if a == "--" .. c[1] then out:secret(argv[i + 1]) end
        out:secret(a:match("^%-%-" .. c[1]:gsub("%-", "%%-") .. "=(.*)$"))
      end
    end
  end
  out:secret(os.getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET"))
  out:secret(os.getenv("ALIBABA_CLOUD_SECURITY_TOKEN"))
end

local run_writer = output.new { stdout = io.stdout, stderr = io.stderr }   -- this run's writer (see main)

-- The options a profile gives.
local PROFILE_OPTIONS = { access_key_id = true, access_key_secret = true, security_token = true, region_id = true }

-- livepull.new(opts) with a profile's unusable values (a space in a secret,
-- a bad region_id: the core's rules, which the library's provider reports
-- as the cause of a CredentialsRefreshFailed) reported as InvalidProfile;
-- source names the profile the credentials came from, if one.
local function new_client(opts, source)
  local client, err = livepull.new(opts)
  local field = type(err) == "table" and type(err.field) == "string" and err.field or ""
  local refused = type(err) == "table" and ((field ~= "" and err.code == "InvalidConfig") or
    (err.code == "CredentialsRefreshFailed" and type(err.cause) == "table" and err.cause.code == "InvalidConfig"))
  local from_profile = PROFILE_OPTIONS[field] or (opts.profile and refused)
  if not client and source and from_profile then
    return nil, { kind = "config", code = "InvalidProfile", field = "profile",
                  message = source .. ": " .. tostring(err.message) }
  end
  return client, err
end

-- Credentials come whole from one place: the flags, else a profile (named,
-- or the file's current one when the environment has none), else (left to
-- the library) the environment. A token is never borrowed from elsewhere:
-- security_token = false tells the library not to read the environment's.
-- A named profile that cannot be used is an error, never a fall back.
-- -> opts, and the profile's description when one gave the credentials.
local function client_options(args, out)
  out = out or run_writer
  local opts = {}
  for k, v in pairs(args.options) do opts[k] = v end
  if (opts.access_key_id == nil) ~= (opts.access_key_secret == nil) then
    return nil, usage_error("--access-key-id and --access-key-secret go together")
  end
  local uri = opts.credentials_uri
  opts.credentials_uri = nil
  if uri and (opts.access_key_id or args.flags.profile) then
    return nil, usage_error("--credentials-uri, --access-key-id and --profile each give the credentials: use one")
  end
  if uri then
    opts.credentials = { type = "credentials_uri", uri = uri }
    return opts, "--credentials-uri"
  end
  if opts.access_key_id then
    if opts.security_token == nil then opts.security_token = false end
    return opts
  end
  if opts.security_token ~= nil then
    return nil, usage_error("--security-token goes with --access-key-id and --access-key-secret")
  end
  local env_name = os.getenv("ALIBABA_CLOUD_PROFILE")
  local name = args.flags.profile or (env_name ~= "" and env_name or nil)
  local from_env = os.getenv("ALIBABA_CLOUD_ACCESS_KEY_ID") and os.getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
  local source
  if name or not from_env then
    local profile = require "livepull.cli.profile"   -- loaded only when a profile is read
    local p, path_or_err = profile.load(name)
    if not p then return nil, path_or_err end
    if path_or_err then
      local warning = profile.permission_warning(path_or_err)
      if warning then out:warning("ProfileFileReadable", warning) end
    end
    if p.name then   -- every mode through the library's providers: the keys come whole from the profile
      for _, secret in ipairs(p.secrets) do out:secret(secret) end
      opts.profile = p.name
      source = ("profile %q in %s"):format(p.name, path_or_err)
    end
    if opts.region_id == nil then opts.region_id = p.region_id end
  end
  return opts, source
end

-- The client the flags, a profile or the environment describe (one place
-- for every command) -> client, or nil and an error.
local function open_client(args, out)
  local opts, source_or_err = client_options(args, out)
  if not opts then return nil, source_or_err end
  return new_client(opts, source_or_err)
end

local function merged(defaults, params)
  local p = {}
  for k, v in pairs(defaults) do p[k] = v end
  for k, v in pairs(params) do p[k] = v end
  return p
end

-- --idempotent: whether the update would change the task, by plan.compute's
-- comparison (livepull.plan: the one place that compares a request with
-- Describe's TaskInfo; nothing there raises on what a server sends).
local function would_change(current, params)
  if type(current.TaskInfo) ~= "table" then
    return nil, { kind = "protocol", code = "InvalidResponse",
                  message = "DescribeLivePullToPush answered without a TaskInfo object; --idempotent cannot compare" }
  end
  return next(require("livepull.plan").compute(current, params).changes) ~= nil
end

-- --idempotent: validate, describe, update only when something changes.
-- Both answers carry changed and TaskId, and RequestId of the last call.
local function idempotent_update(client, args, params)
  local _, verr = client:prepare(args.action, params)   -- invalid: nothing is sent, not even the Describe
  if verr then return nil, verr end
  local current, err = client:describe { TaskId = params.TaskId, Region = params.Region, RegionId = params.RegionId }
  if not current then return nil, err end
  local change, cerr = would_change(current, params)
  if change == nil then return nil, cerr end
  if not change then
    return { changed = false, TaskId = params.TaskId, RequestId = current.RequestId,
             Description = "no change; update skipped" }
  end
  local res, uerr = client:call(args.action, params)
  if not res then return nil, uerr end
  res.changed = true
  if res.TaskId == nil then res.TaskId = params.TaskId end
  return res
end

local function run_one(client, args, params)
  if args.flags.idempotent then return idempotent_update(client, args, params) end
  return client:call(args.action, params)
end

local function exit_code(err)
  return M.EXIT[type(err) == "table" and err.kind] or M.EXIT.internal
end

-- One batch line -> result or nil, error.
local function run_line(client, args, defaults, n, text)
  local params, why = input.decode_object(text)
  if not params then
    return nil, { kind = "validation", code = "InvalidParameter", field = "line",
                  message = ("line %d %s"):format(n, why) }
  end
  local converted, err = input.convert(args.action, merged(defaults, params))
  if not converted then return nil, err end
  return run_one(client, args, converted)
end

local EINTR = 4

-- A batch file's line count for the progress bar: one streamed pass.
local function count_lines(f)
  if not f:seek("set") then return nil end   -- a pipe: no total
  local total = 0
  for line in f:lines() do
    if line:match("%S") then total = total + 1 end
  end
  f:seek("set")
  return total
end

-- A batch line's record for the output: its line number, and its result or error.
local function line_record(n, res, err)
  local record = { line = n, ok = res ~= nil }
  if res then record.result = res else record.error = output.error_table(err) end
  return record
end

-- Writes a record; an answer that cannot be written says so on its line.
local function write_record(out, record)
  local wrote, werr = pcall(out.result, out, record)
  if not wrote then
    record = { line = record.line, ok = false, error = output.internal_error(werr) }
    out:result(record)
  end
  return record.ok
end

-- The input of a batch: line by line, blank lines skipped (but counted).
-- next() -> n, text | nil at the end; raises the command's errors.
local function line_source(stream, out)
  local n = 0
  return function()
    while true do
      local line, rerr, errno = stream:read("*l")
      if line == nil then
        if errno == EINTR then error("interrupted!", 0) end   -- Ctrl-C while waiting for input
        if rerr then
          error({ usage = usage_error(("cannot read --batch after line %d: %s"):format(n, tostring(rerr))) }, 0)
        end
        return nil
      end
      n = n + 1
      line = input.clean_line(line, n)
      if line:match("%S") then return n, line end
    end
  end
end

-- One line at a time: each answer is out before the next line is read (a
-- pipe's producer may wait for it).
local function batch_one_by_one(client, args, defaults, next_line, out, bar)
  local failed = 0
  for n, line in next_line do
    local ok, res, err = pcall(run_line, client, args, defaults, n, line)
    local interrupted = not ok and output.is_interrupt(res) and res
    if not ok then res, err = nil, output.internal_error(res) end
    if not write_record(out, line_record(n, res, err)) then failed = failed + 1 end
    if bar then bar:step(res ~= nil) end
    if interrupted then error(interrupted, 0) end   -- Ctrl-C ends the batch, not just this line
  end
  return failed
end

-- Lines read ahead in one window: memory stays bounded by it, and results
-- are written in input order as soon as each (and all before it) is known.
M.BATCH_WINDOW = 256

-- Windows of lines through client:call_many, several requests in flight. A
-- window ends before a line whose TaskId it already holds, so lines about
-- one task are applied in their order.
local function batch_in_windows(client, args, defaults, next_line, out, bar)
  local failed, carried = 0, nil
  while true do
    local lines, list, slot_of, tasks = {}, {}, {}, {}
    while #lines < M.BATCH_WINDOW do
      local entry = carried
      carried = nil
      if not entry then
        local n, line = next_line()
        if not n then break end
        local params, err = input.decode_object(line)
        local converted
        if params then converted, err = input.convert(args.action, merged(defaults, params))
        else err = { kind = "validation", code = "InvalidParameter", field = "line",
                     message = ("line %d %s"):format(n, err) } end
        entry = { n = n, params = converted, err = not converted and err or nil }
      end
      local task = entry.params and entry.params.TaskId
      if task ~= nil and tasks[task] then carried = entry; break end   -- the next window's first
      if task ~= nil then tasks[task] = true end
      lines[#lines + 1] = entry
      if entry.params then
        list[#list + 1] = entry.params
        slot_of[#list] = #lines
      end
    end
    if #lines == 0 then return failed end
    local done, written = {}, 0
    -- Writes every record from the next unwritten line on that is known.
    local function flush()
      while written < #lines and (done[written + 1] or lines[written + 1].err) do
        written = written + 1
        local l = lines[written]
        local record = done[written] or line_record(l.n, nil, l.err)
        if not write_record(out, record) then failed = failed + 1 end
        if bar then bar:step(record.ok) end
      end
    end
    flush()
    local results = client:call_many(args.action, list, {
      concurrency = args.flags.concurrency,
      on_result = function(i, res, err, in_flight)
        local at = slot_of[i]
        done[at] = line_record(lines[at].n, res, err)
        if bar then bar.in_flight = in_flight end
        flush()
      end,
    })
    local interrupted = false
    for i = 1, #list do   -- on_result errors are dropped by call_many: nothing may be lost
      local at = slot_of[i]
      if not done[at] then done[at] = line_record(lines[at].n, results[i].result, results[i].error) end
      interrupted = interrupted or (not results[i].ok and results[i].error.code == "Interrupted")
    end
    flush()
    if interrupted then error("interrupted!", 0) end   -- Ctrl-C ends the batch
  end
end

-- --batch: read, run and answer line by line (the first answer is out
-- before the input ends; memory stays flat). Every non-blank line gets
-- exactly one result line, whatever fails. A file (or a seekable stdin) is
-- sent in windows with several requests in flight; a pipe one line at a
-- time unless --concurrency says otherwise.
local function run_batch(client, args, defaults, io_, out)
  local stream, why = io_.stdin, nil
  if args.flags.batch ~= "-" then stream, why = io.open(args.flags.batch, "rb") end
  if not stream then
    out:error(usage_error("cannot read --batch: " .. tostring(why)))
    return M.EXIT.usage
  end
  local seekable = stream:seek("cur") ~= nil
  local bar = io_.stderr_is_tty and require("livepull.cli.progress").new(seekable and count_lines(stream) or nil, io_.stderr)
  local concurrency = args.flags.concurrency or (seekable and not args.flags.idempotent and "auto") or 1
  local runner = concurrency == 1 and batch_one_by_one or batch_in_windows
  if concurrency == "auto" then args.flags.concurrency = nil end
  local ok, failed = pcall(runner, client, args, defaults, line_source(stream, out), out, bar)
  if not ok then
    if type(failed) == "table" and failed.usage then
      out:error(failed.usage)
      return M.EXIT.usage
    end
    error(failed, 0)
  end
  if bar then bar:finish() end
  if stream ~= io_.stdin then stream:close() end
  return failed == 0 and M.EXIT.ok or M.EXIT.batch
end

-- The parameters from --params and the flags, converted by the input rules.
local function gather_params(args, io_)
  local params = {}
  if args.flags.params then
    local text, why = read_file(args.flags.params, io_.stdin, M.MAX_PARAMS_BYTES)
    if not text then return nil, usage_error("cannot read --params: " .. tostring(why)) end
    local decoded, derr = input.decode_object(text)
    if not decoded then return nil, usage_error("--params " .. derr) end
    params = decoded
  end
  return input.convert(args.action, merged(params, args.params))
end

local function run(argv, io_, out)
  note_secret_flags(argv, out)
  if argv[1] == "plan" or argv[1] == "apply" then return require("livepull.cli.apply").main(argv, io_, M) end
  if argv[1] == "completion" then return require("livepull.cli.completion").main(M, argv, io_) end
  local args, uerr = parse_args(argv)
  if not args then
    out:error(uerr)
    return exit_code(uerr)
  end
  if args.help then help(io_.stdout, args.command); return M.EXIT.ok end
  if args.version then io_.stdout:write("livepull ", livepull.version, "\n"); return M.EXIT.ok end

  local params, perr = gather_params(args, io_)
  if not params then
    out:error(perr)
    return exit_code(perr)
  end

  local client, cerr = open_client(args, out)
  if not client then
    out:error(cerr)
    return exit_code(cerr)
  end

  if args.command == "credentials" then
    local info, ierr = client:credentials_info()
    client:close()
    if not info then
      out:error(ierr)
      return exit_code(ierr)
    end
    out:result(info)
    return M.EXIT.ok
  end

  if args.flags.batch then
    local code = run_batch(client, args, params, io_, out)
    client:close()
    return code
  end

  local res, err
  if args.flags["dry-run"] then
    local req
    req, err = client:prepare(args.action, params)
    res = req and redact.request(req)
  else
    res, err = run_one(client, args, params)
  end
  client:close()
  if not res then
    out:error(err)
    return exit_code(err)
  end
  out:result(res)
  return M.EXIT.ok
end

-- main(argv, io_) -> exit code. io_ = { stdin, stdout, stderr, stderr_is_tty } for tests.
function M.main(argv, io_)
  io_ = io_ or { stdin = io.stdin, stdout = io.stdout, stderr = io.stderr,
                 stderr_is_tty = core.isatty(2) }
  local out = output.new(io_)
  run_writer = out
  local ok, code = xpcall(function() return run(argv, io_, out) end, function(e) return e end)
  if ok then return code end
  -- An internal failure: one JSON error object on stderr, exit 1 (130 for Ctrl-C).
  if not pcall(out.error, out, output.internal_error(code)) then
    pcall(io_.stderr.write, io_.stderr, '{"kind":"internal","code":"InternalError","message":"the command failed"}\n')
  end
  return output.is_interrupt(code) and M.EXIT.interrupted or M.EXIT.internal
end

-- For other command files (cli/apply.lua): JSON through this run's writer
-- (arrays kept, secrets scrubbed, a failed write raised), the error shape,
-- and the shared steps.
function M.to_json(v) return run_writer:encode(v) end
function M.emit(stream, value) run_writer:line(stream, value) end   -- one checked JSON line
M.error_table = output.error_table
M.parse_args, M.open_client, M.gather_params, M.read_file, M.merged, M.help, M.usage_error =
  parse_args, open_client, gather_params, read_file, merged, help, usage_error

return M
