-- The livepull command, installed by the rockspec into a temporary tree and
-- run for real against the emulator: flags, files, stdin, dry run, every
-- exit code, batch, profiles, the progress bar under a pseudo-terminal.
local cjson = require "cjson"
local H = require "helpers"

local TASK = "fd245384-4067-4f91-9d75-9666a6bc0000"
local tree, env, emu, home

-- The shell command that runs the installed command with a clean
-- environment (plus opts.env, opts.home).
local function command_line(args, opts)
  opts = opts or {}
  return ("%s env -u ALIBABA_CLOUD_ACCESS_KEY_ID -u ALIBABA_CLOUD_ACCESS_KEY_SECRET " ..
    "-u ALIBABA_CLOUD_PROFILE -u ALIBABA_CLOUD_SECURITY_TOKEN HOME=%s %s %s/bin/livepull %s"):format(
    env, H.sh_quote(opts.home or home), opts.env or "", tree, args)
end

-- Runs the installed command; returns exit code, stdout, stderr.
local function livepull(args, opts)
  opts = opts or {}
  local dir = H.tmpdir()
  local feed = opts.stdin and ("printf '%%s' %s | "):format(H.sh_quote(opts.stdin)) or ""
  local cmd = ("cd %s && %s%s"):format(H.sh_quote(dir), feed, command_line(args, opts))
  local _, _, code = H.run(cmd .. " >" .. (opts.stdout or dir .. "/out") .. " 2>" .. dir .. "/err")
  local function slurp(name) return H.read_file(dir .. "/" .. name, true) or "" end
  return code, slurp("out"), slurp("err")
end

local function creds()
  return ("--endpoint %s --access-key-id %s --access-key-secret %s --rate-limit 0"):format(
    emu.url, H.KEY_ID, H.SECRET)
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

-- What a strict JSON reader (Python's, refusing NaN and Infinity) finds at
-- expr (Python, on the document d), as decoded JSON.
local function strict_json(text, expr)
  local file = write(H.tmpdir() .. "/doc.json", text)
  local script = "import json, sys\n" ..
    "def refuse(c): raise ValueError('not JSON: ' + c)\n" ..
    "d = json.load(open(sys.argv[1], encoding='utf-8'), parse_constant=refuse)\n" ..
    "print(json.dumps(" .. expr .. "))\n"
  local out, ok = H.run(("python3 -c %s %s 2>&1"):format(H.sh_quote(script), H.sh_quote(file)))
  assert(ok, out)
  return cjson.decode(out)
end

-- A file's whole text (one a test's shell script wrote in its folder).
local function read_in(dir, name) return H.read_file(dir .. "/" .. name) end

local function lines_of(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

-- Runs a shell script in dir that starts `update --batch -` reading the
-- fifo `in` (the command's process is $pid, its output out and err, its
-- input fd 3; `send JSON` writes a line, `wait_out N [TRIES]` waits until
-- out has N lines, TRIES x 0.05 s at most), then steps, then closes the
-- input and writes the exit code into rc. Returns a reader of dir's files.
local function piped_batch(dir, steps)
  local script = {
    "cd " .. H.sh_quote(dir),
    "mkfifo in",
    command_line("update " .. creds() .. " --region cn-shanghai --batch -") .. " <in >out 2>err &",
    "pid=$!",   -- the wrapper execs lua: its process is the command
    "exec 3>in",
    "send() { printf '%s\\n' \"$1\" >&3; }",
    -- out may not be open yet when the input is: it counts as 0 lines (a signal sent before lua
    -- starts would be lost: a background job starts with SIGINT ignored)
    "wait_out() { i=0; while [ \"$(wc -l <out 2>/dev/null || echo 0)\" -lt $1 ] && [ $i -lt ${2:-300} ]; do " ..
      "sleep 0.05; i=$((i+1)); done; }",
  }
  for _, step in ipairs(steps) do script[#script + 1] = step end
  script[#script + 1] = "exec 3>&-"
  script[#script + 1] = "wait $pid; echo $? >rc"
  H.run(table.concat(script, "\n"))
  return function(name) return read_in(dir, name) end
end

-- RFC 3986 percent-encoding (what the signer and Python's quote(safe="") do), in either hex case.
local function pct(s, lower)
  local fmt = lower and "%%%02x" or "%%%02X"
  return (s:gsub("[^%w%-%._~]", function(c) return fmt:format(c:byte()) end))
end

-- s as typed, percent-encoded once and twice, upper- and lowercase hex.
local function spellings(s)
  return { s, pct(s), pct(pct(s)), pct(s, true), pct(pct(s, true), true) }
end

describe("livepull command", function()
  setup(function()
    tree = H.tmpdir()
    -- Built from a private copy (H.luarocks_make) for the Lua this spec runs under.
    local log, ok = H.luarocks_make(tree)
    assert(ok, log)
    env = H.run(H.luarocks(("--tree %s path"):format(H.sh_quote(tree)))):gsub("export ", ""):gsub("\n", " ")
    emu = H.start_emulator()
    home = H.tmpdir()
  end)
  teardown(function()
    emu.stop()
    H.run("rm -rf " .. H.sh_quote(tree))
  end)
  before_each(function() emu.reset() end)

  it("--help lists every command and the exit codes; each command's --help its flags", function()
    local code, out = livepull("--help")
    assert.are.equal(0, code)
    for _, c in ipairs { "create", "describe", "list", "update", "stop", "restart", "delete", "exit codes" } do
      assert.truthy(out:find(c, 1, true), c)
    end
    code, out = livepull("update --help")
    assert.are.equal(0, code)
    for _, f in ipairs { "--task-id", "--region", "--source-url", "--callback-url", "--repeat-number",
      "--dry-run", "--batch", "--idempotent", "--profile", "--endpoint", "--timeout" } do
      assert.truthy(out:find(f, 1, true), f)
    end
    code, out = livepull("create --help")
    assert.truthy(out:find("--source-protocol", 1, true))
    assert.truthy(out:find("required when SourceType is live", 1, true))
  end)

  it("updates a task from flags and prints the answer as JSON", function()
    local code, out, err = livepull("update " .. creds() .. (" --task-id %s --region cn-shanghai " ..
      "--source-url rtmp://a/b/c --source-url http://e.com/x.flv --repeat-number -1 " ..
      "--callback-url https://cb.example.com/cli"):format(TASK))
    assert.are.equal(0, code, err)
    local res = cjson.decode(out)
    assert.are.equal(0, res.RetCode)
    local task = emu.task(TASK)
    assert.are.same({ "rtmp://a/b/c", "http://e.com/x.flv" }, task.SourceUrls)
    assert.are.equal("https://cb.example.com/cli", task.CallbackUrl)
  end)

  it("takes parameters from --params FILE and from stdin, flags overriding", function()
    local file = write(H.tmpdir() .. "/p.json", cjson.encode { TaskId = TASK, Region = "cn-shanghai", RepeatNumber = 5 })
    local code, out, err = livepull("update " .. creds() .. " --params " .. file .. " --repeat-number 6")
    assert.are.equal(0, code, err)
    assert.are.equal(6, emu.task(TASK).RepeatNumber)
    code, out, err = livepull("update " .. creds() .. " --params -",
      { stdin = cjson.encode { TaskId = TASK, Region = "cn-shanghai", Offset = 9 } })
    assert.are.equal(0, code, err)
    assert.are.equal(9, emu.task(TASK).Offset)
    assert.are.equal(0, cjson.decode(out).RetCode)
  end)

  it("--dry-run prints the signed request with secrets redacted and sends nothing", function()
    local code, out = livepull("update " .. creds() .. " --security-token " .. H.STS_TOKEN ..
      " --task-id t --region cn-beijing --dry-run")
    assert.are.equal(0, code)
    local req = cjson.decode(out)
    assert.are.equal("GET", req.method)
    assert.matches("Signature=<redacted>$", req.headers.authorization)
    assert.are.equal("<redacted>", req.headers["x-acs-security-token"])
    assert.is_nil(out:find(H.SECRET, 1, true))
    assert.is_nil(out:find(H.STS_TOKEN, 1, true))
    code, out = livepull("update " .. creds() .. " --signature-algorithm HMAC-SHA1 --task-id t --region cn-beijing --dry-run")
    assert.matches("Signature=<redacted>", cjson.decode(out).url)
    assert.are.equal(0, #emu.requests())
  end)

  -- { name, args, exit code, error kind, code }
  local failures = {
    { "usage: an unknown flag", function() return "update --bogus 1" end, 2, "usage", "InvalidArguments" },
    { "usage: an unknown command", function() return "frobnicate" end, 2, "usage", "InvalidArguments" },
    { "usage: a value for a boolean flag", function() return "update --allow-insecure-http=false --task-id x --region cn-beijing" end, 2, "usage", "InvalidArguments" },
    { "usage: half a key pair", function() return "update --access-key-id a --task-id x --region cn-beijing" end, 2, "usage", "InvalidArguments" },
    { "validation", function() return "update " .. creds() .. " --task-id x --region mars" end, 3, "validation", "InvalidParameter" },
    { "config", function() return "update --endpoint ftp://x --access-key-id a --access-key-secret b --task-id x --region cn-beijing" end, 4, "config", "InvalidConfig" },
    { "config: no credentials", function() return "update --endpoint " .. emu.url .. " --task-id x --region cn-beijing" end, 4, "config", "MissingCredentials" },
    { "transport", function() return ("update --endpoint http://127.0.0.1:%d --access-key-id a --access-key-secret b --max-attempts 1 --task-id x --region cn-beijing"):format(H.closed_port()) end, 5, "transport", "CouldNotConnect" },
    { "api", function() return "update " .. creds() .. " --task-id nope --region cn-shanghai" end, 6, "api", "CodeTaskNotExist" },
  }
  for _, f in ipairs(failures) do
    it("exit code " .. f[3] .. " for " .. f[1] .. ", the error as JSON on stderr", function()
      local code, out, err = livepull(f[2]())
      assert.are.equal(f[3], code, err)
      assert.are.equal("", out)
      local e = cjson.decode(err)
      assert.are.same({ f[4], f[5] }, { e.kind, e.code })
      assert.is_nil(err:find(H.SECRET, 1, true))
    end)
  end

  it("exit code 7 for a protocol error", function()
    emu.faults { { kind = "raw", status = 200, body = "not json", content_type = "text/plain" } }
    local code, _, err = livepull("describe " .. creds() .. " --task-id " .. TASK .. " --region cn-shanghai")
    assert.are.equal(7, code)
    assert.are.equal("protocol", cjson.decode(err).kind)
  end)

  it("runs a playbook: create, describe, list, stop, restart, delete", function()
    local code, out, err = livepull("create " .. creds() .. " --region cn-beijing --start-time 2030-01-01T00:00:00Z " ..
      "--end-time 2030-01-02T00:00:00Z --source-type vod --source-url media-1 --source-url media-2 " ..
      "--dst-url rtmp://push.example.com/app/cli --task-name from-cli")
    assert.are.equal(0, code, err)
    local id = cjson.decode(out).TaskId
    local task_args = creds() .. " --task-id " .. id .. " --region cn-beijing"
    code, out = livepull("describe " .. task_args)
    assert.are.equal("from-cli", cjson.decode(out).TaskInfo.TaskName)
    code, out = livepull("list " .. creds() .. " --region cn-beijing --task-name from-cli")
    assert.are.equal(1, cjson.decode(out).Total)
    local t = emu.task(id); t.State = "running"; emu.put_task(t)
    assert.are.equal(0, (livepull("stop " .. task_args)))
    assert.are.equal(0, (livepull("restart " .. task_args)))
    assert.are.equal(0, (livepull("delete " .. task_args)))
    assert.are.equal(6, (livepull("describe " .. task_args)))
  end)

  it("--idempotent skips an update that changes nothing (changed: false)", function()
    local args = "update " .. creds() .. " --idempotent --task-id " .. TASK ..
      " --region cn-shanghai --callback-url https://cb.example.com/same --repeat-number 2"
    local code, out = livepull(args)
    assert.are.equal(0, code)
    assert.is_true(cjson.decode(out).changed)
    code, out = livepull(args)
    assert.are.equal(0, code)
    assert.is_false(cjson.decode(out).changed)
    local actions = {}
    for _, r in ipairs(emu.requests()) do actions[#actions + 1] = r.action end
    assert.are.same({ "DescribeLivePullToPush", "UpdateLivePullToPush", "DescribeLivePullToPush" }, actions)
  end)

  it("--batch applies each line, keeps going past a failed one, and exits 8", function()
    local file = write(H.tmpdir() .. "/b.jsonl", table.concat({
      cjson.encode { TaskId = TASK, RepeatNumber = 1 },
      cjson.encode { TaskId = "no-such-task", RepeatNumber = 2 },
      "",
      "not json",
      cjson.encode { TaskId = TASK, RepeatNumber = 3 },
    }, "\n"))
    local code, out = livepull("update " .. creds() .. " --region cn-shanghai --batch " .. file)
    assert.are.equal(8, code)
    local results = {}
    for line in out:gmatch("[^\n]+") do results[#results + 1] = cjson.decode(line) end
    assert.are.equal(4, #results)
    assert.are.same({ 1, true }, { results[1].line, results[1].ok })
    assert.are.same({ 2, false, "CodeTaskNotExist" }, { results[2].line, results[2].ok, results[2].error.code })
    assert.are.same({ 4, false, "validation" }, { results[3].line, results[3].ok, results[3].error.kind })
    assert.are.same({ 5, true }, { results[4].line, results[4].ok })
    assert.are.equal(3, emu.task(TASK).RepeatNumber)
  end)

  it("--batch exits 0 when every line worked", function()
    local code = livepull("update " .. creds() .. " --region cn-shanghai --batch -",
      { stdin = cjson.encode { TaskId = TASK, Offset = 3 } .. "\n" })
    assert.are.equal(0, code)
  end)

  it("draws a progress bar on stderr under a terminal, and none when stderr is a file", function()
    local lines = {}
    for i = 1, 12 do lines[i] = cjson.encode { TaskId = TASK, RepeatNumber = i } end
    local file = write(H.tmpdir() .. "/p.jsonl", table.concat(lines, "\n"))
    local inner = ("%s env -u ALIBABA_CLOUD_ACCESS_KEY_ID -u ALIBABA_CLOUD_ACCESS_KEY_SECRET HOME=%s %s/bin/livepull update %s --region cn-shanghai --batch %s >/dev/null")
      :format(env, home, tree, creds(), file)
    local screen = H.run("script -qec " .. H.sh_quote(inner) .. " /dev/null")
    assert.truthy(screen:find("12/12", 1, true), screen)
    assert.truthy(screen:find("[########################]", 1, true), screen)
    assert.truthy(screen:find("failed 0", 1, true), screen)
    local _, _, err = livepull("update " .. creds() .. " --region cn-shanghai --batch " .. file)
    assert.are.equal("", err)
  end)

  it("a batch file runs several requests at once and writes results in input order", function()
    emu.faults { { kind = "delay", seconds = 0.3, count = 100 } }
    local lines = {}
    for i = 1, 16 do lines[i] = cjson.encode { PageNumber = i, PageSize = 1 } end
    lines[7] = cjson.encode { PageSize = 1000 }   -- invalid: answered in its place, never sent
    local file = write(H.tmpdir() .. "/c.jsonl", table.concat(lines, "\n") .. "\n")
    local code, out = livepull("list " .. creds() .. " --region cn-shanghai --batch " .. file .. " --concurrency 4")
    assert.are.equal(8, code)
    local results = lines_of(out)
    assert.are.equal(16, #results)
    for i, line in ipairs(results) do
      local r = cjson.decode(line)
      assert.are.equal(i, r.line)
      assert.are.equal(i ~= 7, r.ok)
    end
    local reqs = emu.requests()
    assert.are.equal(15, #reqs)
    -- The emulator's log: several overlapped, never more than 4.
    local most = H.max_overlap(reqs)
    assert.is_true(most >= 2 and most <= 4, "in flight at once: " .. most)
  end)

  it("lines about one task are applied in file order, even with concurrency", function()
    local lines = {}
    for i = 1, 6 do lines[i] = cjson.encode { TaskId = TASK, RepeatNumber = i } end
    local file = write(H.tmpdir() .. "/o.jsonl", table.concat(lines, "\n") .. "\n")
    local code = livepull("update " .. creds() .. " --region cn-shanghai --batch " .. file .. " --concurrency 4")
    assert.are.equal(0, code)
    assert.are.equal(6, emu.task(TASK).RepeatNumber)
  end)

  it("--concurrency needs --batch and a whole number from 1 to 32", function()
    for _, bad in ipairs { "--concurrency 4", "--batch - --concurrency 0", "--batch - --concurrency 33",
                           "--batch - --concurrency 2.5", "--batch - --concurrency x",
                           "--batch - --idempotent --concurrency 2" } do
      local code, _, err = livepull("update " .. creds() .. " --task-id " .. TASK .. " --region cn-shanghai " .. bad)
      assert.are.equal(2, code, bad)
      assert.matches("concurrency", err)
    end
    assert.are.equal(0, #emu.requests())
  end)

  it("the progress bar shows what is in flight in a concurrent batch", function()
    emu.faults { { kind = "delay", seconds = 0.2, count = 100 } }
    local lines = {}
    for i = 1, 12 do lines[i] = cjson.encode { TaskId = TASK, RepeatNumber = i } end
    local file = write(H.tmpdir() .. "/f.jsonl", table.concat(lines, "\n"))
    local inner = ("%s env -u ALIBABA_CLOUD_ACCESS_KEY_ID -u ALIBABA_CLOUD_ACCESS_KEY_SECRET HOME=%s %s/bin/livepull update %s --region cn-shanghai --batch %s --concurrency 3 >/dev/null")
      :format(env, home, tree, creds(), file)
    local screen = H.run("script -qec " .. H.sh_quote(inner) .. " /dev/null")
    assert.truthy(screen:find("12/12", 1, true), screen)
    assert.truthy(screen:find("in flight %d"), screen)
  end)

  it("reads credentials from the aliyun CLI profile file", function()
    local h = H.tmpdir()
    os.execute("mkdir -p " .. h .. "/.aliyun")
    write(h .. "/.aliyun/config.json", cjson.encode {
      current = "work",
      profiles = {
        { name = "work", mode = "AK", access_key_id = H.KEY_ID, access_key_secret = H.SECRET, region_id = "cn-shanghai" },
        { name = "broken", mode = "AK", access_key_id = H.KEY_ID, access_key_secret = "wrong" },
        { name = "sts", mode = "StsToken", access_key_id = H.STS_KEY_ID, access_key_secret = H.STS_SECRET, sts_token = H.STS_TOKEN },
        { name = "role", mode = "RamRoleArn", access_key_id = "x", access_key_secret = "y" },
      },
    })
    os.execute("chmod 600 " .. h .. "/.aliyun/config.json")
    local task = " --endpoint " .. emu.url .. " --rate-limit 0 --task-id " .. TASK .. " --region cn-shanghai"
    assert.are.equal(0, (livepull("describe" .. task, { home = h })))
    assert.are.equal(0, (livepull("describe --profile sts" .. task, { home = h })))
    local code, _, err = livepull("describe --profile broken" .. task, { home = h })
    assert.are.equal(6, code)
    assert.are.equal("SignatureDoesNotMatch", cjson.decode(err).code)
    code = livepull("describe" .. task, { home = h, env = "ALIBABA_CLOUD_PROFILE=broken" })
    assert.are.equal(6, code)
    code, _, err = livepull("describe --profile role" .. task, { home = h })   -- a role without its ARN
    assert.are.equal(4, code)
    assert.are.equal("InvalidProfile", cjson.decode(err).code)
    assert.truthy(err:find("role_arn", 1, true))
    code, _, err = livepull("describe --profile nobody" .. task, { home = h })
    assert.are.equal(4, code)
    -- a profile's credentials come whole: the environment's token is not added to them
    local code2, out2 = livepull("describe --profile work --dry-run" .. task, { home = h,
      env = "ALIBABA_CLOUD_SECURITY_TOKEN=" .. H.STS_TOKEN })
    assert.are.equal(0, code2)
    assert.is_nil(cjson.decode(out2).headers["x-acs-security-token"])
    -- the environment beats the file's current profile
    code = livepull("describe" .. task, { home = h,
      env = ("ALIBABA_CLOUD_ACCESS_KEY_ID=%s ALIBABA_CLOUD_ACCESS_KEY_SECRET=wrong"):format(H.KEY_ID) })
    assert.are.equal(6, code)
  end)

  ---------------------------------------------------------------------------
  -- Issue 9, item 15: no traceback, whatever happens.
  ---------------------------------------------------------------------------
  local task_flags = function() return creds() .. " --task-id " .. TASK .. " --region cn-shanghai" end

  it("prints an answer holding 1e400, -1e400 (inf, -inf) with null there, and exits 0", function()
    emu.faults { { kind = "raw", status = 200, content_type = "application/json",
      body = '{"RequestId":"r-inf","TaskId":"t","TaskStatus":1e400,"TaskInfo":{"Offset":-1e400,"FileIndex":2}}' } }
    local code, out, err = livepull("describe " .. task_flags())
    assert.are.equal(0, code, err)
    assert.are.equal("", err)
    assert.are.same({ "r-inf", cjson.null, cjson.null, 2 },
      strict_json(out, "[d['RequestId'], d['TaskStatus'], d['TaskInfo']['Offset'], d['TaskInfo']['FileIndex']]"))
  end)

  it("a batch writes one result line per input line, whatever each line meets", function()
    emu.faults {
      { kind = "raw", status = 200, content_type = "application/json", body = '{"RequestId":"r1","Big":1e400}' },
      { kind = "raw", status = 200, content_type = "application/json", body = '{"RequestId":"r2","List":[1e400,-1e400]}' },
    }
    local input_lines = {
      cjson.encode { TaskId = TASK, RepeatNumber = 1 },          -- 1: an answer with inf
      cjson.encode { TaskId = TASK, RepeatNumber = 2 },          -- 2: an answer with a list of inf
      "not json",                                                -- 3
      "[1, 2]",                                                  -- 4: an array
      '{"TaskId": null}',                                        -- 5: null
      '{"RepeatNumber": 1e400, "TaskId": "' .. TASK .. '"}',     -- 6: inf in the input
      '{"RepeatNumber": "3.0", "TaskId": "' .. TASK .. '"}',     -- 7: not an integer string
      '{"' .. ("k"):rep(5000) .. '": 1}',                        -- 8: a long unknown name
      cjson.encode { TaskId = TASK, RepeatNumber = 4 },          -- 9: fine
    }
    local file = write(H.tmpdir() .. "/b.jsonl", table.concat(input_lines, "\n") .. "\n")
    -- One at a time: which request meets which injected answer must not be a race.
    local code, out, err = livepull("update " .. creds() .. " --region cn-shanghai --concurrency 1 --batch " .. file)
    assert.are.equal(8, code, err)
    assert.are.equal("", err)
    local results = lines_of(out)
    assert.are.equal(#input_lines, #results)
    local oks = {}
    for i, line in ipairs(results) do
      local r = strict_json(line, "[d['line'], d['ok']]")
      assert.are.equal(i, r[1])
      oks[i] = r[2]
    end
    assert.are.same({ true, true, false, false, false, false, false, false, true }, oks)
    assert.are.same({ cjson.null, cjson.null }, strict_json(results[2], "d['result']['List']"))
    assert.are.equal(4, emu.task(TASK).RepeatNumber)
  end)

  it("an internal failure (stdout cannot be written) is one JSON error on stderr, exit 1", function()
    local code, _, err = livepull("describe " .. task_flags(), { stdout = "/dev/full" })
    assert.are.equal(1, code)
    local errs = lines_of(err)
    assert.are.equal(1, #errs, err)
    assert.are.same({ "internal", "InternalError" }, strict_json(errs[1], "[d['kind'], d['code']]"))
    assert.is_nil(err:find("traceback", 1, true))
  end)

  it("--idempotent validates before its Describe: nothing is sent for invalid values", function()
    local cases = {
      { "--params", cjson.encode { RepeatNumber = 1e300 } },
      { "--end-time 2001-01-01T00:00:00Z" },
      { "--source-url ftp://example.com/x" },
      { "--repeat-number 99999999999" },
    }
    local pfile = H.tmpdir() .. "/p.json"
    for _, c in ipairs(cases) do
      local extra = c[2] and (c[1] .. " " .. write(pfile, '{"RepeatNumber": 1e400}')) or c[1]
      local code, out, err = livepull("update --idempotent " .. task_flags() .. " " .. extra)
      assert.are.equal(3, code, extra .. ": " .. err)
      assert.are.equal("", out)
      assert.are.equal("validation", cjson.decode(err).kind)
    end
    assert.are.same({}, emu.requests())
  end)

  it("--idempotent: a Describe answer without a TaskInfo object is a protocol error, no update sent", function()
    for _, body in ipairs { '{"RequestId":"r","TaskInfo":5}', '{"RequestId":"r","TaskInfo":"x"}', '{"RequestId":"r"}' } do
      emu.reset()
      emu.faults { { kind = "raw", status = 200, content_type = "application/json", body = body } }
      local code, _, err = livepull("update --idempotent " .. task_flags() .. " --repeat-number 2")
      assert.are.equal(7, code, body .. ": " .. err)
      assert.are.same({ "protocol", "InvalidResponse" }, strict_json(err, "[d['kind'], d['code']]"))
      for _, r in ipairs(emu.requests()) do assert.are_not.equal("UpdateLivePullToPush", r.action) end
    end
  end)

  it("in-process: a failing write or read never escapes main, and a batch keeps one line per input", function()
    local cli = require "livepull.cli"
    local function sink(fail_at)
      local s = { lines = {}, writes = 0 }
      function s:write(...)
        self.writes = self.writes + 1
        if self.writes == fail_at then return nil, "No space left on device" end
        self.lines[#self.lines + 1] = table.concat({ ... })
        return self
      end
      function s:flush() return self end
      return s
    end
    local file = write(H.tmpdir() .. "/b.jsonl", table.concat({
      cjson.encode { TaskId = TASK, RepeatNumber = 1 },
      cjson.encode { TaskId = TASK, RepeatNumber = 2 },
      cjson.encode { TaskId = TASK, RepeatNumber = 3 } }, "\n"))
    local out, err = sink(2), sink()
    local argv = { "update", "--endpoint", emu.url, "--access-key-id", H.KEY_ID, "--access-key-secret", H.SECRET,
      "--rate-limit", "0", "--region", "cn-shanghai", "--batch", file }
    local code = cli.main(argv, { stdin = io.stdin, stdout = out, stderr = err })
    assert.are.equal(8, code)
    assert.are.equal(3, #out.lines)
    local second = cjson.decode(out.lines[2])
    assert.are.same({ 2, false, "internal" }, { second.line, second.ok, second.error.kind })
    assert.matches("No space left", second.error.message)
    -- a read that raises
    local broken = { read = function() error("boom\nstack traceback: here") end }
    err = sink()
    code = cli.main({ "update", "--task-id", TASK, "--region", "cn-shanghai", "--params", "-" },
      { stdin = broken, stdout = sink(), stderr = err })
    assert.are.equal(1, code)
    assert.are.equal(1, #err.lines)
    local e = cjson.decode(err.lines[1])
    assert.are.same({ "internal", "InternalError" }, { e.kind, e.code })
    assert.matches("boom", e.message)
    assert.is_nil(e.message:find("traceback", 1, true))
  end)

  ---------------------------------------------------------------------------
  -- Item 16: arrays stay arrays.
  ---------------------------------------------------------------------------
  it("prints the service's empty TaskList and SourceUrls as [] (read by a strict JSON reader)", function()
    local code, out, err = livepull("list " .. creds() .. " --region cn-shanghai --task-name no-such-name")
    assert.are.equal(0, code, err)
    assert.are.same({ "list", 0 }, strict_json(out, "[type(d['TaskList']).__name__, len(d['TaskList'])]"))
    code, out = livepull("list " .. creds() .. " --region cn-shanghai")
    assert.are.equal(0, code)
    assert.are.same({ "list", "list" },
      strict_json(out, "[type(d['TaskList']).__name__, type(d['TaskList'][0]['TaskInfo']['SourceUrls']).__name__]"))
    -- a task whose SourceUrls is empty, seen by describe, list and a batch line
    local _, ok = H.run(("curl -sS -X PUT -H 'Content-Type: application/json' --data-binary %s %s"):format(
      H.sh_quote('{"TaskId":"empty-urls","Region":"cn-beijing","SourceUrls":[],' ..
        '"StartTime":"2030-08-23T15:30:00Z","EndTime":"2030-08-27T14:30:00Z"}'),
      H.sh_quote(emu.url .. "/_emulator/tasks/empty-urls")))
    assert(ok)
    code, out = livepull("describe " .. creds() .. " --task-id empty-urls --region cn-beijing")
    assert.are.equal(0, code)
    assert.are.same({ "list", 0 }, strict_json(out, "[type(d['TaskInfo']['SourceUrls']).__name__, len(d['TaskInfo']['SourceUrls'])]"))
    code, out = livepull("list " .. creds() .. " --region cn-beijing --task-id empty-urls")
    assert.are.equal(0, code)
    assert.are.same("list", strict_json(out, "type(d['TaskList'][0]['TaskInfo']['SourceUrls']).__name__"))
    code, out = livepull("list " .. creds() .. " --batch -", { stdin = '{"Region":"cn-beijing","TaskName":"nothing-here"}\n' })
    assert.are.equal(0, code)
    assert.are.same("list", strict_json(out, "type(d['result']['TaskList']).__name__"))
  end)

  describe("the JSON writer", function()
    local json = require "livepull.cli.json"
    local cyclic = {}
    cyclic.self = cyclic
    -- { name, value, expected text }
    local cases = {
      { "inf", 1 / 0, "null" }, { "-inf", -1 / 0, "null" }, { "nan", 0 / 0, "null" },
      { "integers", { 0, -1, 3, 2 ^ 53 }, "[0,-1,3,9007199254740992]" },
      { "fractions round-trip", { 0.1, 1.5, 1e300, -2.5e-8 }, "[0.1,1.5,1e+300,-2.5e-08]" },
      { "an empty table", {}, "{}" },
      { "an empty list under an array key", { TaskList = {}, SourceUrls = {}, Other = {} },
        '{"Other":{},"SourceUrls":[],"TaskList":[]}' },
      { "nested", { TaskList = { { TaskInfo = { SourceUrls = {} } } } }, '{"TaskList":[{"TaskInfo":{"SourceUrls":[]}}]}' },
      { "a sparse table is an object", { [1] = "a", [3] = "c" }, '{"1":"a","3":"c"}' },
      { "a table marked as a list", { steps = json.array {}, more = json.array { 1 } }, '{"more":[1],"steps":[]}' },
      { "a mixed table is an object", { "a", x = 1 }, '{"1":"a","x":1}' },
      { "keys that JSON cannot hold are left out", { [true] = 1, [1.5] = 2, b = 3 }, '{"1.5":2,"b":3}' },
      { "a cycle", cyclic, '{"self":null}' },
      { "functions and cjson.null", { print, cjson.null }, "[null,null]" },
      { "escapes", "a/b\"\\\n\t\0\127", '"a/b\\"\\\\\\n\\t\\u0000\\u007f"' },
      { "UTF-8 kept, other bytes replaced", "\195\169\255\237\160\128x", '"\195\169\239\191\189\239\191\189\239\191\189\239\191\189x"' },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local text = json.encode(c[2], { arrays = { TaskList = true, SourceUrls = true } })
        assert.are.equal(c[3], text)
      end)
    end
    it("a table nested deeper than lua-cjson reads is cut with null, without an error", function()
      local t = {}
      local deep = t
      for _ = 1, 5000 do deep[1] = {}; deep = deep[1] end
      local text = json.encode(t)
      assert.truthy(text:find("null", 1, true))
    end)
  end)

  ---------------------------------------------------------------------------
  -- Item 17: profiles that cannot be used are errors, never a fall back.
  ---------------------------------------------------------------------------
  describe("--profile that cannot be used", function()
    local PROFILE_SECRET = "profile-Secret-0b7e4a"
    -- { case, profile entry (name "p") or nil for "no such profile" }
    local cases = {
      { "an empty secret", { mode = "AK", access_key_id = H.KEY_ID, access_key_secret = "" } },
      { "no secret", { mode = "AK", access_key_id = H.KEY_ID } },
      { "a number as secret", { mode = "AK", access_key_id = H.KEY_ID, access_key_secret = 12345 } },
      { "an object as secret", { mode = "AK", access_key_id = H.KEY_ID, access_key_secret = { PROFILE_SECRET } } },
      { "no key id", { mode = "AK", access_key_secret = PROFILE_SECRET } },
      { "an empty key id", { mode = "AK", access_key_id = "", access_key_secret = PROFILE_SECRET } },
      { "StsToken without a token", { mode = "StsToken", access_key_id = H.STS_KEY_ID, access_key_secret = PROFILE_SECRET } },
      { "StsToken with an empty token", { mode = "StsToken", access_key_id = H.STS_KEY_ID, access_key_secret = PROFILE_SECRET, sts_token = "" } },
      { "no mode", { access_key_id = H.KEY_ID, access_key_secret = PROFILE_SECRET } },
      { "a secret with a space (the core's rule)", { mode = "AK", access_key_id = H.KEY_ID,
        access_key_secret = PROFILE_SECRET .. " x" } },
      { "a token with a newline", { mode = "StsToken", access_key_id = H.STS_KEY_ID, access_key_secret = PROFILE_SECRET,
        sts_token = "CAIS\nx" } },
      { "a bad region_id", { mode = "AK", access_key_id = H.KEY_ID, access_key_secret = PROFILE_SECRET,
        region_id = "CN Shanghai" } },
      { "an unknown name", nil },
    }
    for _, c in ipairs(cases) do
      it("is InvalidProfile naming the profile and the file: " .. c[1], function()
        local h = H.tmpdir()
        os.execute("mkdir -p " .. h .. "/.aliyun")
        local entry = c[2] and H.copy(c[2]) or { name = "other", mode = "AK", access_key_id = "x", access_key_secret = "y" }
        entry.name = entry.name or "p"
        local file = write(h .. "/.aliyun/config.json", cjson.encode { current = "p", profiles = { entry } })
        os.execute("chmod 600 " .. file)
        -- the environment's keys work, and must not be used instead
        local good_env = ("ALIBABA_CLOUD_ACCESS_KEY_ID=%s ALIBABA_CLOUD_ACCESS_KEY_SECRET=%s"):format(H.KEY_ID, H.SECRET)
        for _, how in ipairs { { "--profile p ", "" }, { "", "ALIBABA_CLOUD_PROFILE=p " } } do
          local code, out, err = livepull("describe " .. how[1] .. "--endpoint " .. emu.url ..
            " --rate-limit 0 --task-id " .. TASK .. " --region cn-shanghai", { home = h, env = how[2] .. good_env })
          assert.are.equal(4, code, err)
          assert.are.equal("", out)
          local e = cjson.decode(err)
          assert.are.same({ "config", "InvalidProfile" }, { e.kind, e.code })
          assert.truthy(e.message:find('"p"', 1, true), e.message)
          assert.truthy(e.message:find(file, 1, true), e.message)
          assert.is_nil(err:find(PROFILE_SECRET, 1, true))
        end
        assert.are.same({}, emu.requests())
      end)
    end

    it("plan and apply take their parameters and client as every command does (one place)", function()
      local h = H.tmpdir()
      os.execute("mkdir -p " .. h .. "/.aliyun")
      local file = write(h .. "/.aliyun/config.json", cjson.encode { current = "p", profiles = {
        { name = "p", mode = "StsToken", access_key_id = H.STS_KEY_ID, access_key_secret = PROFILE_SECRET },
        { name = "good", mode = "AK", access_key_id = H.KEY_ID, access_key_secret = H.SECRET, region_id = "CN Shanghai" } } })
      os.execute("chmod 600 " .. file)
      local task = " --endpoint " .. emu.url .. " --rate-limit 0 --task-id " .. TASK .. " --region cn-shanghai"
      for _, command in ipairs { "plan", "apply --check", "update --dry-run" } do
        local code, _, err = livepull(command .. task .. " --profile p", { home = h })
        assert.are.equal(4, code, command .. ": " .. err)
        local e = cjson.decode(err)
        assert.are.same({ "InvalidProfile", true, true }, { e.code, e.message:find('"p"', 1, true) ~= nil,
          e.message:find("sts_token", 1, true) ~= nil }, command .. ": " .. e.message)
        code, _, err = livepull(command .. task .. " --profile good", { home = h })   -- the profile's bad region_id
        assert.are.equal(4, code, command .. ": " .. err)
        assert.are.equal("InvalidProfile", cjson.decode(err).code, command)
        code, _, err = livepull(command .. task .. " --params /dev/zero --profile good", { home = h })
        assert.are.equal(2, code, command .. ": " .. err)
        assert.matches("larger than", cjson.decode(err).message)
      end
      assert.are.same({}, emu.requests())
    end)

    it("a config.json that others can read draws one warning line on stderr, and still works", function()
      local h = H.tmpdir()
      os.execute("mkdir -p " .. h .. "/.aliyun")
      local file = write(h .. "/.aliyun/config.json", cjson.encode { current = "p", profiles = {
        { name = "p", mode = "AK", access_key_id = H.KEY_ID, access_key_secret = H.SECRET } } })
      local run = "describe --endpoint " .. emu.url .. " --rate-limit 0 --task-id " .. TASK .. " --region cn-shanghai"
      for _, mode in ipairs { "644", "640", "604" } do
        os.execute("chmod " .. mode .. " " .. file)
        local code, out, err = livepull(run, { home = h })
        assert.are.equal(0, code, err)
        assert.are.equal(0, cjson.decode(out).RetCode)
        local warnings = lines_of(err)
        assert.are.equal(1, #warnings, err)
        local w = cjson.decode(warnings[1])
        assert.are.same({ "warning", "ProfileFileReadable" }, { w.kind, w.code })
        assert.truthy(w.message:find(file, 1, true))
        assert.truthy(w.message:find(mode, 1, true))
      end
      os.execute("chmod 600 " .. file)
      local code, _, err = livepull(run, { home = h })
      assert.are.equal(0, code)
      assert.are.equal("", err)
      -- a failing call: the warning line, then the error line
      os.execute("chmod 644 " .. file)
      local _, _, err2 = livepull("describe --endpoint " .. emu.url .. " --rate-limit 0 --task-id nope --region cn-shanghai",
        { home = h })
      local l = lines_of(err2)
      assert.are.same({ "warning", "api" }, { cjson.decode(l[1]).kind, cjson.decode(l[2]).kind })
    end)
  end)

  ---------------------------------------------------------------------------
  -- Item 18: --batch streams.
  ---------------------------------------------------------------------------
  it("--batch - answers the first line while the input is still open", function()
    local slurp = piped_batch(H.tmpdir(), {
      "send " .. H.sh_quote(cjson.encode { TaskId = TASK, RepeatNumber = 7 }),
      "wait_out 1",
      "wc -l <out >first",
      "kill -0 $pid || echo finished-early >first",
      "send " .. H.sh_quote(cjson.encode { TaskId = TASK, RepeatNumber = 8 }),
    })
    assert.are.equal("1", (slurp("first"):gsub("%s", "")))
    assert.are.equal("0", (slurp("rc"):gsub("%s", "")), slurp("err"))
    local results = lines_of(slurp("out"))
    assert.are.equal(2, #results)
    assert.are.equal(8, emu.task(TASK).RepeatNumber)
  end)

  it("Ctrl-C ends a batch (exit 130, one JSON error), the lines done kept", function()
    local slurp = piped_batch(H.tmpdir(), {
      "send " .. H.sh_quote(cjson.encode { TaskId = TASK, RepeatNumber = 5 }),
      "wait_out 1",
      "kill -INT $pid",
      "wait $pid; echo $? >rc-int",
    })
    assert.are.equal("130", (slurp("rc-int"):gsub("%s", "")))
    assert.are.equal(1, #lines_of(slurp("out")))
    local errs = lines_of(slurp("err"))
    assert.are.equal(1, #errs, slurp("err"))
    assert.are.same({ "internal", "Interrupted" }, strict_json(errs[1], "[d['kind'], d['code']]"))
  end)

  it("a --params or profile file that never ends (/dev/zero) is refused, bounded", function()
    local code, _, err = livepull("update " .. task_flags() .. " --params /dev/zero")
    assert.are.equal(2, code, err)
    assert.matches("larger than", cjson.decode(err).message)
    local h = H.tmpdir()
    os.execute("mkdir -p " .. h .. "/.aliyun && ln -s /dev/zero " .. h .. "/.aliyun/config.json")
    code, _, err = livepull("describe --profile p --endpoint " .. emu.url .. " --task-id x --region cn-beijing", { home = h })
    assert.are.equal(4, code, err)
    assert.are.equal("InvalidProfile", cjson.decode(lines_of(err)[#lines_of(err)]).code)
  end)

  it("--batch - over 100,000 lines keeps its memory flat (peak RSS from /proc) and answers every line", function()
    local dir = H.tmpdir()
    -- about 27 MB of input: lines that fail validation (nothing sent), and a real call every 25,000 lines
    local gen = "import json, sys\n" ..
      "first, count = int(sys.argv[1]), int(sys.argv[2])\n" ..
      "pad = 'x' * 200\n" ..
      "for n in range(first, first + count):\n" ..
      "    if n % 25000 == 0:\n" ..
      "        print(json.dumps({'TaskId': '" .. TASK .. "', 'RepeatNumber': n // 25000}))\n" ..
      "    else:\n" ..
      "        print(json.dumps({'TaskId': '" .. TASK .. "', 'RepeatNumber': 'n%d' % n, 'CallbackUrl': 'https://cb.example.com/' + pad}))\n"
    write(dir .. "/gen.py", gen)
    local started = H.now()
    local slurp = piped_batch(dir, {
      "python3 gen.py 1 2000 >&3",
      "wait_out 2000 6000",
      "grep VmHWM /proc/$pid/status >hwm-start",
      "python3 gen.py 2001 98000 >&3",
      "wait_out 100000 6000",
      "grep VmHWM /proc/$pid/status >hwm-end",
    })
    local elapsed = H.now() - started
    local start_kib = tonumber(slurp("hwm-start"):match("(%d+)"))
    local end_kib = tonumber(slurp("hwm-end"):match("(%d+)"))
    print(("\n    batch of 100000 lines: %.1f s, peak RSS %d KiB after 2000 lines, %d KiB after 100000")
      :format(elapsed, start_kib, end_kib))
    assert.are.equal("8", (slurp("rc"):gsub("%s", "")))
    local count, last = 0, nil
    for line in io.lines(dir .. "/out") do count = count + 1; last = line end
    assert.are.equal(100000, count)
    assert.are.equal(100000, cjson.decode(last).line)
    -- reading the whole input (27 MB) first would add far more than this
    assert.is_true(end_kib - start_kib < 8 * 1024, ("peak grew by %d KiB"):format(end_kib - start_kib))
    assert.are.equal(4, emu.task(TASK).RepeatNumber)
  end)

  ---------------------------------------------------------------------------
  -- Item 19: rough edges.
  ---------------------------------------------------------------------------
  it("never echoes an argument it does not understand (it may be a secret without its flag)", function()
    local code, out, err = livepull("update --access-key-id a Typed-Secret-Without-Flag --task-id x")
    assert.are.equal(2, code)
    assert.are.equal("", out)
    assert.is_nil(err:find("Typed-Secret", 1, true))
    assert.matches("unexpected argument 3", cjson.decode(err).message)
    code = livepull("update --help=yes")
    assert.are.equal(2, code)
  end)

  it("an empty ALIBABA_CLOUD_PROFILE counts as unset", function()
    local code, _, err = livepull("describe --endpoint " .. emu.url .. " --rate-limit 0 --task-id " .. TASK ..
      " --region cn-shanghai", { env = ("ALIBABA_CLOUD_PROFILE= ALIBABA_CLOUD_ACCESS_KEY_ID=%s ALIBABA_CLOUD_ACCESS_KEY_SECRET=%s")
        :format(H.KEY_ID, H.SECRET) })
    assert.are.equal(0, code, err)
  end)

  it("every command's -h, --help and 'help COMMAND' print its help and exit 0", function()
    for _, c in ipairs { "create", "describe", "list", "update", "stop", "restart", "delete" } do
      for _, form in ipairs { c .. " -h", c .. " --help", "help " .. c, c .. " --task-id x -h" } do
        local code, out, err = livepull(form)
        assert.are.equal(0, code, form .. ": " .. err)
        assert.truthy(out:find("usage: livepull " .. c, 1, true), form)
        assert.truthy(out:find("--rate-burst", 1, true), form)
      end
    end
    local code, out = livepull("-h")
    assert.are.equal(0, code)
    assert.truthy(out:find("commands:", 1, true))
  end)

  describe("credentials from the library's providers", function()
    local creds
    setup(function() creds = H.start_credentials_emulator(emu) end)
    teardown(function() creds.stop() end)

    local function profile_home(profiles)
      local h = H.tmpdir()
      os.execute("mkdir -p " .. h .. "/.aliyun")
      write(h .. "/.aliyun/config.json", cjson.encode { current = profiles[1].name, profiles = profiles })
      os.execute("chmod 600 " .. h .. "/.aliyun/config.json")
      return h
    end

    it("livepull credentials says where the keys come from, never the secret", function()
      local code, out, err = livepull(("credentials --access-key-id %s --access-key-secret %s"):format(H.KEY_ID, H.SECRET))
      assert.are.equal(0, code, err)
      local info = cjson.decode(out)
      assert.are.equal("access_key", info.provider)
      assert.are.equal(H.KEY_ID:sub(1, 6) .. "...", info.access_key_id)
      assert.is_nil(out:find(H.SECRET, 1, true))
      assert.are.equal(2, (livepull("credentials --task-id x")))
    end)

    it("--profile NAME of a RamRoleArn profile signs with the role's STS keys", function()
      local h = profile_home {
        { name = "role", mode = "RamRoleArn", access_key_id = H.KEY_ID, access_key_secret = H.SECRET,
          ram_role_arn = "acs:ram::1234567890123456:role/livepull-spec", ram_session_name = "cli",
          sts_endpoint = creds.url },
      }
      local code, out, err = livepull("credentials --profile role", { home = h })
      assert.are.equal(0, code, err)
      local info = cjson.decode(out)
      assert.are.equal("ram_role_arn", info.provider)
      assert.are.equal("cli_profile:role", info.source)
      code, out, err = livepull(("describe --endpoint %s --task-id %s --region cn-shanghai --profile role"):format(
        emu.url, TASK), { home = h })
      assert.are.equal(0, code, err)
      assert.are.equal(TASK, cjson.decode(out).TaskInfo.TaskId)
      local reqs = emu.requests()
      assert.are.equal(1, #reqs)
      assert.are_not.equal(H.KEY_ID, reqs[#reqs].access_key_id)   -- the role's key, not the source key
    end)

    it("--credentials-uri fetches the keys from the URI", function()
      local code, out, err = livepull(("describe --endpoint %s --task-id %s --region cn-shanghai --credentials-uri %s"):format(
        emu.url, TASK, creds.url .. "/credentials"))
      assert.are.equal(0, code, err)
      assert.are.equal(TASK, cjson.decode(out).TaskInfo.TaskId)
      code = livepull(("describe --task-id x --credentials-uri %s --access-key-id a --access-key-secret b"):format(creds.url))
      assert.are.equal(2, code)
    end)

    it("a profile mode the library refuses is InvalidProfile naming it", function()
      local h = profile_home { { name = "sso", mode = "CloudSSO" } }
      local code, _, err = livepull("describe --endpoint " .. emu.url .. " --task-id x --profile sso", { home = h })
      assert.are.equal(4, code)
      local e = cjson.decode(err)
      assert.are.equal("InvalidProfile", e.code)
      assert.truthy(e.message:find("CloudSSO", 1, true), e.message)
      assert.are.equal(0, #emu.requests())
    end)
  end)

  it("has a flag for every option of livepull.new (or says why not), read from the core's option table", function()
    local cli = require "livepull.cli"
    local source = H.read_file("csrc/config.c")
    local flagged = {}
    for _, c in ipairs(cli.CLIENT_FLAGS) do flagged[c[2]] = c[1] end
    local names = {}
    for name in source:gmatch('%[O_[%u_]+%]%s*=%s*{"([%w_]+)"') do names[#names + 1] = name end
    -- and the options the credentials providers read (credentials, profile)
    for list in source:gmatch("provider_options%[%] = (%b{})") do
      for name in list:gmatch('"([%w_]+)"') do names[#names + 1] = name end
    end
    assert.is_true(#names >= 19)
    for _, name in ipairs(names) do
      assert.truthy(flagged[name] or cli.NOT_FLAGS[name], name .. " has no flag")
      if flagged[name] then assert.are.equal(name:gsub("_", "-"), flagged[name]) end
    end
  end)

  it("--rate-burst (and the other new client flags) reach livepull.new", function()
    for _, c in ipairs {
      { "--rate-burst 0", "rate_burst" }, { "--retry-base-delay -1", "retry_base_delay" },
      { "--retry-max-delay -1", "retry_max_delay" }, { "--max-response-bytes 10", "max_response_bytes" },
      { "--user-agent " .. H.sh_quote("a\tb"), "user_agent" }, { "--max-pacing-wait -1", "max_pacing_wait" },
    } do
      local code, _, err = livepull("describe " .. task_flags() .. " " .. c[1])
      assert.are.equal(4, code, c[1] .. ": " .. err)
      assert.are.same({ "InvalidConfig", c[2] }, strict_json(err, "[d['code'], d['field']]"))
    end
    local code, _, err = livepull("describe " .. creds():gsub("%-%-rate%-limit 0", "--rate-limit 8 --rate-burst 1") ..
      " --task-id " .. TASK .. " --region cn-shanghai --user-agent playbook/1 --max-pacing-wait 5")
    assert.are.equal(0, code, err)
  end)

  it("a JSON null in --params is refused naming the field and its type; nothing is sent", function()
    local pfile = H.tmpdir() .. "/p.json"
    for _, c in ipairs {
      { '{"TaskId": null}', "TaskId", "TaskId must be a string (got null)" },
      { '{"RepeatNumber": null}', "RepeatNumber", "RepeatNumber must be an integer (got null)" },
      { '{"SourceUrls": ["rtmp://a/b", null]}', "SourceUrls", "SourceUrls[2] must be a string (got null)" },
      { '{"EndTime": null}', "EndTime", "EndTime must be a string YYYY-MM-DDTHH:MM:SSZ or an integer Unix time (got null)" },
    } do
      local code, out, err = livepull("update " .. task_flags():gsub("%-%-task%-id %S+", "") .. " --params " .. write(pfile, c[1]) ..
        (c[2] == "TaskId" and "" or " --task-id " .. TASK))
      assert.are.equal(3, code, c[1] .. ": " .. err)
      assert.are.equal("", out)
      local e = cjson.decode(err)
      assert.are.same({ "validation", c[2], c[3] }, { e.kind, e.field, e.message })
    end
    assert.are.same({}, emu.requests())
  end)

  it("a JSON array (or any non-object) as --params is a usage error; as a batch line, that line's error", function()
    local pfile = H.tmpdir() .. "/p.json"
    for _, text in ipairs { "[]", " [1, 2]", '"x"', "3", "null", "" } do
      local code, out, err = livepull("update " .. task_flags() .. " --params " .. write(pfile, text))
      assert.are.equal(2, code, text .. ": " .. err)
      assert.are.equal("", out)
      assert.matches("must be a JSON object", cjson.decode(err).message)
    end
    local code, out = livepull("update " .. creds() .. " --region cn-shanghai --batch -", { stdin = "[]\n[{}]\n" })
    assert.are.equal(8, code)
    local results = lines_of(out)
    assert.are.equal(2, #results)
    for i, r in ipairs(results) do
      local d = cjson.decode(r)
      assert.are.same({ i, false }, { d.line, d.ok })
      assert.matches("must be a JSON object", d.error.message)
    end
    assert.are.same({}, emu.requests())
  end)

  it("in JSON input (and flags), an exact decimal integer string is that integer; the Lua API stays strict", function()
    local pfile = H.tmpdir() .. "/p.json"
    for _, c in ipairs { { "3", 3 }, { "-1", -1 }, { "0", 0 }, { "12", 12 } } do
      local code, _, err = livepull("update " .. task_flags() .. " --params " ..
        write(pfile, cjson.encode { RepeatNumber = c[1] }))
      assert.are.equal(0, code, c[1] .. ": " .. err)
      assert.are.equal(c[2], emu.task(TASK).RepeatNumber)
    end
    local code, _, err = livepull("update " .. creds() .. " --region cn-shanghai --batch -",
      { stdin = cjson.encode { TaskId = TASK, Offset = "5", FileIndex = "2" } .. "\n" })
    assert.are.equal(0, code, err)
    assert.are.same({ 5, 2 }, { emu.task(TASK).Offset, emu.task(TASK).FileIndex })
    code, _, err = livepull("update " .. task_flags() .. " --repeat-number 6")
    assert.are.equal(0, code, err)
    assert.are.equal(6, emu.task(TASK).RepeatNumber)
    emu.reset()
    for _, bad in ipairs { "3.0", " 3", "3 ", "0x3", "1e2", "+3", "03", "-0", "", "three", "3\n" } do
      code, _, err = livepull("update " .. task_flags() .. " --params " .. write(pfile, cjson.encode { RepeatNumber = bad }))
      assert.are.equal(3, code, ("%q: %s"):format(bad, err))
      local e = cjson.decode(err)
      assert.are.same({ "validation", "RepeatNumber" }, { e.kind, e.field })
      assert.matches("must be an integer", e.message)
      code = livepull("update " .. task_flags() .. " --repeat-number " .. H.sh_quote(bad))
      assert.are.equal(3, code, ("flag %q"):format(bad))
    end
    assert.are.same({}, emu.requests())
    local client = require("livepull.safe").new { endpoint = emu.url, access_key_id = H.KEY_ID, access_key_secret = H.SECRET }
    local req, lerr = client:prepare("UpdateLivePullToPush", { TaskId = TASK, Region = "cn-shanghai", RepeatNumber = "3" })
    assert.is_nil(req)
    assert.are.equal("RepeatNumber", lerr.field)
    client:close()
  end)

  it("plan and apply follow the same input rules and help", function()
    local pfile = H.tmpdir() .. "/p.json"
    local code, _, err = livepull("plan " .. task_flags() .. " --params " .. write(pfile, '{"RepeatNumber": "4"}'))
    assert.are.equal(0, code, err)
    code, _, err = livepull("plan " .. task_flags() .. " --repeat-number 4")
    assert.are.equal(0, code, err)
    code, _, err = livepull("plan " .. task_flags() .. " --params " .. write(pfile, '{"RepeatNumber": null}'))
    assert.are.equal(3, code, err)
    assert.are.equal("RepeatNumber must be an integer (got null)", cjson.decode(err).message)
    code, _, err = livepull("apply " .. task_flags() .. " --params " .. write(pfile, "[]"))
    assert.are.equal(2, code, err)
    local file = write(H.tmpdir() .. "/state.json", cjson.encode { { TaskName = "t1", StartTime = "2030-01-01T00:00:00Z",
      EndTime = "2030-01-02T00:00:00Z", SourceType = "vod", SourceUrls = { "m1" }, DstUrl = "rtmp://push.example.com/a/t1",
      RetryCount = "x" } })
    code, _, err = livepull("apply " .. creds() .. " --region cn-beijing --file " .. file)
    assert.are.equal(3, code, err)
    assert.are.equal("RetryCount", cjson.decode(err).field)
    for _, form in ipairs { "plan -h", "apply --help" } do
      code = livepull(form)
      assert.are.equal(0, code, form)
    end
    -- an output that cannot be written is exit 1 here too, and for help
    for _, form in ipairs { "plan " .. task_flags() .. " --repeat-number 4", "-h", "update -h" } do
      local c, _, e = livepull(form, { stdout = "/dev/full" })
      assert.are.equal(1, c, form)
      assert.are.equal("internal", cjson.decode(e).kind)
    end
  end)

  it("both --idempotent answers carry changed, TaskId and the RequestId of the last call", function()
    local args = "update --idempotent " .. task_flags() .. " --repeat-number 9"
    local code, out = livepull(args)
    assert.are.equal(0, code)
    local changed = cjson.decode(out)
    code, out = livepull(args)
    assert.are.equal(0, code)
    local same = cjson.decode(out)
    assert.are.same({ true, TASK }, { changed.changed, changed.TaskId })
    assert.are.same({ false, TASK }, { same.changed, same.TaskId })
    assert.is_string(changed.RequestId)
    assert.is_string(same.RequestId)
    assert.are_not.equal(changed.RequestId, same.RequestId)
  end)

  ---------------------------------------------------------------------------
  -- Item 4, the command's part: no secret in the output, whatever quotes it.
  ---------------------------------------------------------------------------
  describe("against a server that quotes the request back", function()
    local server
    local function start_server(status)
      local log = H.tmpdir() .. "/requests.jsonl"
      local cmd = ("sh -c 'echo $$; exec python3 spec/quoting_server.py \"$@\"' quoting --log %s --status %d --also %s --also %s")
        :format(H.sh_quote(log), status, H.sh_quote(H.STS2_SECRET), H.sh_quote(H.SECRET))
      local proc = assert(io.popen(cmd, "r"))
      local pid = tonumber(proc:read("*l"))
      local url = (proc:read("*l") or ""):match("listening on (%S+)")
      assert(url, "the quoting server did not start")
      return { url = url, log = log, stop = function() os.execute("kill " .. pid); proc:close() end }
    end
    after_each(function() if server then server.stop(); server = nil end end)

    -- The signatures that went out, as sent (V1: from the URL, decoded; V3: the hex).
    local function signatures(log)
      local out = {}
      for line in io.lines(log) do
        local r = cjson.decode(line)
        local v1 = r.path:match("[?&]Signature=([^&]+)")
        if v1 then out[#out + 1] = (v1:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)) end
        local auth = r.headers.authorization or r.headers.Authorization
        if auth then out[#out + 1] = auth:match("Signature=(%x+)") end
      end
      return out
    end

    local function assert_clean(text, log, secrets)
      local sigs = signatures(log)
      assert.is_true(#sigs >= 1)
      for _, s in ipairs(sigs) do secrets[#secrets + 1] = s end
      for _, s in ipairs(secrets) do
        for _, form in ipairs(spellings(s)) do
          assert.is_nil(text:find(form, 1, true), ("%q shows up in the output"):format(form))
        end
      end
      assert.truthy(text:find("we got: GET", 1, true), "the quote did not come through: " .. text)
    end

    local sts_flags = ("--access-key-id %s --access-key-secret %s --security-token %s"):format(
      H.STS2_KEY_ID, H.STS2_SECRET, H.sh_quote(H.STS2_TOKEN))
    -- { name, credentials (flags, env), HOME with a profile? }
    local sources = {
      { "flags", sts_flags, "" },
      { "the environment", "", ("ALIBABA_CLOUD_ACCESS_KEY_ID=%s ALIBABA_CLOUD_ACCESS_KEY_SECRET=%s ALIBABA_CLOUD_SECURITY_TOKEN=%s")
        :format(H.STS2_KEY_ID, H.STS2_SECRET, H.sh_quote(H.STS2_TOKEN)) },
      { "a profile", "--profile sts2", "" },
    }
    local profile_home
    local function home_with_profile()
      if profile_home then return profile_home end
      profile_home = H.tmpdir()
      os.execute("mkdir -p " .. profile_home .. "/.aliyun")
      write(profile_home .. "/.aliyun/config.json", cjson.encode { profiles = {
        { name = "sts2", mode = "StsToken", access_key_id = H.STS2_KEY_ID, access_key_secret = H.STS2_SECRET,
          sts_token = H.STS2_TOKEN } } })
      os.execute("chmod 600 " .. profile_home .. "/.aliyun/config.json")
      return profile_home
    end

    for _, src in ipairs(sources) do
      for _, algorithm in ipairs { "HMAC-SHA1", "ACS3-HMAC-SHA256" } do
        it(("an error answer (credentials from %s, %s)"):format(src[1], algorithm), function()
          server = start_server(400)
          local code, out, err = livepull(("describe --endpoint %s %s --signature-algorithm %s --max-attempts 1 " ..
            "--task-id t --region cn-beijing"):format(server.url, src[2], algorithm),
            { env = src[3], home = src[1] == "a profile" and home_with_profile() or nil })
          assert.are.equal(6, code, err)
          assert.are.equal("", out)
          assert.are.equal(1, #lines_of(err))
          assert_clean(err, server.log, { H.STS2_SECRET, H.STS2_TOKEN })
        end)
      end
    end

    it("a success answer and a batch that quote the request", function()
      server = start_server(200)
      local code, out, err = livepull(("describe --endpoint %s %s --task-id t --region cn-beijing"):format(server.url, sts_flags))
      assert.are.equal(0, code, err)
      assert_clean(out, server.log, { H.STS2_SECRET, H.STS2_TOKEN })
      code, out, err = livepull(("describe --endpoint %s %s --signature-algorithm HMAC-SHA1 --region cn-beijing --batch -")
        :format(server.url, sts_flags), { stdin = '{"TaskId":"a"}\n{"TaskId":"b"}\n' })
      assert.are.equal(0, code, err)
      assert.are.equal(2, #lines_of(out))
      assert_clean(out, server.log, { H.STS2_SECRET, H.STS2_TOKEN })
    end)

    it("the emulator's echo fault, quoting 0, 1 or 2 times encoded, either algorithm", function()
      for _, algorithm in ipairs { "HMAC-SHA1", "ACS3-HMAC-SHA256" } do
        for encode = 0, 2 do
          emu.faults { { kind = "echo", encode = encode, fields = { "Message", "Recommend", "HostId", "RequestId" } } }
          local code, out, err = livepull(("describe --endpoint %s %s --signature-algorithm %s --max-attempts 1 " ..
            "--task-id t --region cn-beijing"):format(emu.url, sts_flags, algorithm))
          assert.are.equal(6, code, err)
          assert.are.equal("", out)
          assert.truthy(err:find("the request was: ", 1, true), err)
          for _, secret in ipairs { H.STS2_SECRET, H.STS2_TOKEN } do
            for _, form in ipairs(spellings(secret)) do assert.is_nil(err:find(form, 1, true), form) end
          end
          assert.is_nil(err:find("Signature=%w"))
          assert.is_nil(err:find("Signature%%3D%w"))
          assert.is_nil(err:find("Signature%%253D%w"))
        end
      end
    end)

    it("unit: the scrubber finds secrets spelled any way and any Signature value", function()
      local redact = require "livepull.cli.redact"
      local s = redact.new()
      s:add(H.STS2_TOKEN)
      s:add("abc")   -- too short to search for
      local forms = spellings(H.STS2_TOKEN)
      forms[#forms + 1] = "CAIS+spec\\/token=2"                   -- JSON escapes left in a string
      forms[#forms + 1] = "CAIS\\u002bspec\\u002Ftoken\\u003d2"
      for _, form in ipairs(forms) do
        assert.are.equal("x <redacted> y", s:scrub("x " .. form .. " y"))
      end
      -- each character spelled its own way (Python's quote() keeps "/")
      assert.are.equal("<redacted> <redacted>", s:scrub("CAIS%2Bspec/token%3D2 CAIS%2bspec%2Ftoken=2"))
      assert.are.equal("abc", s:scrub("abc"))
      assert.are.equal("?Signature=<redacted>&a=1 Signature%3D<redacted>%26b Signature%253D<redacted>%2526c " ..
        "x,Signature=<redacted> SignatureMethod=HMAC-SHA1",
        s:scrub("?Signature=ab%2Bc%3D&a=1 Signature%3Dab%252B%26b Signature%253Dq%25252B%2526c " ..
          "x,Signature=0a1b2c SignatureMethod=HMAC-SHA1"))
    end)
  end)
end)
