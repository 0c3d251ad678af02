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
  local function slurp(name)
    local f = io.open(dir .. "/" .. name)
    if not f then return "" end
    local s = f:read("a")
    f:close()
    return s
  end
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

describe("livepull command", function()
  setup(function()
    tree = H.tmpdir()
    local log, ok = H.run(("luarocks --lua-version 5.4 make --deps-mode=none --tree %s livepull-scm-1.rockspec 2>&1")
      :format(H.sh_quote(tree)))
    assert(ok, log)
    env = H.run(("luarocks --lua-version 5.4 --tree %s path"):format(H.sh_quote(tree))):gsub("export ", ""):gsub("\n", " ")
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
    code, _, err = livepull("describe --profile role" .. task, { home = h })
    assert.are.equal(4, code)
    assert.truthy(err:find("RamRoleArn", 1, true))
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
end)
