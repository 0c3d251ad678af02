-- Shared spec helpers: start and stop the emulator on a free loopback port,
-- drive its control API, make a throwaway CA and server certificate.
local cjson = require "cjson"

local H = {}

H.KEY_ID = "LTAI5tSpecKey"
H.SECRET = "spec-Secret-5e9b1c7d2a"   -- grep target: must never show up in output
H.STS_KEY_ID = "STS.SpecKey"
H.STS_SECRET = "sts-Secret-8f3a"
H.STS_TOKEN = "CAIS-spec-token-31337"
H.STS2_KEY_ID = "STS.SpecKey2"   -- a token that percent-encoding changes
H.STS2_SECRET = "sts2-Secret-77c1"
H.STS2_TOKEN = "CAIS+spec/token=2"
H.REDIS_PASSWORD = "Redis-Pa55-spec-7c3e"   -- grep target as well (check_no_secrets.lua)

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
H.sh_quote = sh_quote

-- Runs a shell command; returns its output, success and exit code. The code
-- travels in the output because LuaJIT's popen:close() does not report it.
local function run(cmd)
  local p = assert(io.popen("( " .. cmd .. " ); echo \"__exit=$?\"", "r"))
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("__exit=(%d+)\n?$"))
  out = out:gsub("__exit=%d+\n?$", "")
  return out, code == 0, code
end
H.run = run

-- A shell command running `code` in a fresh process of the Lua this spec
-- runs under, with the source tree's modules and this flavor's core.so.
function H.lua_command(code)
  local lua = H.LUA
  local cpath = os.getenv("LIVEPULL_CPATH") or "build/?.so"
  return ("%s -e %s"):format(lua, sh_quote(("package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path; " ..
    "package.cpath = %q .. ';' .. package.cpath; "):format(cpath) .. code))
end

-- The Lua this spec runs under (ctest sets it per flavour) and its ABI
-- version, which names luarocks' --lua-version and the install folders.
H.LUA = os.getenv("LIVEPULL_LUA_BIN") or "lua5.4"
H.LUA_ABI = H.LUA == "luajit" and "5.1" or H.LUA:match("^lua(5%.%d)$") or "5.4"

-- A luarocks command line for that Lua. For LuaJIT a private config makes
-- luarocks build against LuaJIT's headers and wrap commands with luajit
-- (by default --lua-version 5.1 means PUC Lua 5.1).
function H.luarocks(args)
  local prefix = ""
  if H.LUA == "luajit" then
    local config = os.tmpname()
    local f = assert(io.open(config, "w"))
    f:write('lua_interpreter = "luajit"\n', 'variables = { LUA_INCDIR = "/usr/include/luajit-2.1" }\n')
    f:close()
    prefix = "LUAROCKS_CONFIG=" .. sh_quote(config) .. " "
  end
  return prefix .. "luarocks --lua-version " .. H.LUA_ABI .. " " .. args
end

-- luarocks make of the rockspec into tree, from a private copy of the
-- sources: luarocks builds in <source>/build.luarocks, which specs running
-- side by side (one per Lua) would otherwise share. Returns log, ok.
function H.luarocks_make(tree, rockspec)
  local src = H.tmpdir()
  local log, ok = run(("tar --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C %s 2>&1"):format(sh_quote(src)))
  if ok then
    log, ok = run(("cd %s && %s 2>&1"):format(sh_quote(src),
      H.luarocks(("make --deps-mode=none --tree %s %s"):format(sh_quote(tree), rockspec or "livepull-scm-1.rockspec"))))
  end
  run("rm -rf " .. sh_quote(src))
  return log, ok
end

function H.tmpdir()
  return (run("mktemp -d"):gsub("%s+$", ""))
end

-- A CA and a certificate signed by it, for 127.0.0.1/localhost unless
-- san (an openssl subjectAltName list) says otherwise.
function H.make_certs(san)
  local dir = H.tmpdir()
  san = san or "DNS:localhost,IP:127.0.0.1"
  local script = table.concat({
    "set -e; cd " .. sh_quote(dir),
    "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=livepull-spec-ca 2>/dev/null",
    "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null",
    "printf 'subjectAltName=%s\\n' " .. sh_quote(san) .. " > san.ext",
    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext 2>/dev/null",
  }, " && ")
  local _, ok = run(script)
  assert(ok, "openssl failed to make the test certificates")
  return { dir = dir, ca = dir .. "/ca.pem", cert = dir .. "/server.pem", key = dir .. "/server.key" }
end

-- Each emulator logs to its own file under <build>/emulator-logs, which a
-- last ctest test searches for secrets.
function H.log_file()
  local dir = (os.getenv("LIVEPULL_BUILD_DIR") or "build") .. "/emulator-logs"
  os.execute("mkdir -p " .. sh_quote(dir))
  H.log_count = (H.log_count or 0) + 1
  return ("%s/%d-%d.log"):format(dir, os.time(), math.random(1, 1e9))
end

-- control(method, path [, body]) -> the decoded JSON answer of a tool's
-- control API at url: over plain HTTP when the tool serves HTTP; with tls
-- (make_certs' table), curl trusts the spec's CA.
local function control_api(url, tls)
  local curl_tls = tls and ("--cacert " .. sh_quote(tls.ca) .. " ") or ""
  return function(method, path, body)
    local cmd = "curl -sS -X " .. method .. " " .. curl_tls
    if body ~= nil then
      cmd = cmd .. "-H 'Content-Type: application/json' --data-binary " .. sh_quote(cjson.encode(body)) .. " "
    end
    return cjson.decode((run(cmd .. sh_quote(url .. path))))
  end
end

-- Starts python3 tools/<tool> with args (and tls: make_certs' table, for
-- --tls-cert/--tls-key), reads the wrapper's pid and the tool's "listening
-- on URL" line; returns { url, pid, stop = fn, control = fn } or raises,
-- naming what did not start.
local function start_tool(tool, args, tls, what)
  if tls then
    args[#args + 1] = "--tls-cert"; args[#args + 1] = tls.cert
    args[#args + 1] = "--tls-key"; args[#args + 1] = tls.key
  end
  for i, a in ipairs(args) do args[i] = sh_quote(a) end
  local proc = assert(io.popen(("sh -c 'echo $$; exec python3 tools/%s \"$@\"' %s %s"):format(tool, tool,
    table.concat(args, " ")), "r"))
  local pid = assert(tonumber(proc:read("*l")), "no pid from the " .. what .. " wrapper")
  local line = proc:read("*l") or ""
  local url = line:match("listening on (%S+)")
  assert(url, "the " .. what .. " did not start: " .. line)
  return { url = url, pid = pid, control = control_api(url, tls), stop = function()
    os.execute("kill " .. pid .. " 2>/dev/null")
    proc:close()
  end }
end

-- Starts tools/live-emulator; returns { url, port, pid, stop = fn, control = fn }.
function H.start_emulator(opts)
  opts = opts or {}
  local args = {
    "--port", "0",
    "--access-key", H.KEY_ID .. ":" .. H.SECRET,
    "--access-key", H.STS_KEY_ID .. ":" .. H.STS_SECRET .. ":" .. H.STS_TOKEN,
    "--access-key", H.STS2_KEY_ID .. ":" .. H.STS2_SECRET .. ":" .. H.STS2_TOKEN,
    "--seed", "tools/emulator-seed.json",
    "--log", opts.log or H.log_file(),
  }
  if opts.qps then args[#args + 1] = "--qps"; args[#args + 1] = tostring(opts.qps) end
  local emu = start_tool("live-emulator", args, opts.tls, "emulator")
  emu.port = tonumber(emu.url:match(":(%d+)$"))
  function emu.requests() return emu.control("GET", "/_emulator/requests").requests end
  function emu.reset() return emu.control("POST", "/_emulator/reset") end
  function emu.faults(list) return emu.control("POST", "/_emulator/faults", { faults = list }) end
  function emu.task(id) return emu.control("GET", "/_emulator/tasks/" .. id) end
  function emu.put_task(task) return emu.control("PUT", "/_emulator/tasks/" .. task.TaskId, task) end
  return emu
end

-- Starts tools/credentials-emulator (STS, instance metadata, credentials
-- URI) registering what it issues with `live` (an emulator from
-- start_emulator); returns { url, stop, config = fn, stats = fn, reset = fn }.
-- Its secrets start "minted-Secret-", its tokens "CAIS-minted-" (grep targets).
function H.start_credentials_emulator(live, opts)
  opts = opts or {}
  local args = { "--port", "0", "--live", live.url, "--log", H.log_file(),
    "--access-key", H.KEY_ID .. ":" .. H.SECRET,
    "--access-key", H.STS_KEY_ID .. ":" .. H.STS_SECRET .. ":" .. H.STS_TOKEN }
  if opts.oidc_token_file then args[#args + 1] = "--oidc-token-file"; args[#args + 1] = opts.oidc_token_file end
  local emu = start_tool("credentials-emulator", args, opts.tls, "credentials emulator")
  function emu.config(settings) return emu.control("POST", "/_creds/config", settings) end
  function emu.stats() return emu.control("GET", "/_creds/stats") end
  function emu.reset() return emu.control("POST", "/_creds/reset") end
  return emu
end

-- A port nothing listens on: bind, note the port, close.
function H.closed_port()
  local out = run([[python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()']])
  return tonumber(out)
end

-- Starts Debian's redis-server in a temporary folder with its own config
-- (no persistence): on a free loopback port, or with opts.unix on a UNIX
-- socket only; opts.password sets requirepass. Returns { port, socket, dir,
-- url = fn(db), cli = fn(args) -> output, stop = fn, start = fn (again, same
-- port or socket) }. Stopped by its PID.
function H.start_redis(opts)
  opts = opts or {}
  local r = { dir = H.tmpdir() }
  r.port = opts.unix and 0 or H.closed_port()
  r.socket = opts.unix and (r.dir .. "/redis.sock") or nil
  local conf = {
    "bind 127.0.0.1", "port " .. r.port, 'save ""', "appendonly no", "daemonize no",
    "dir " .. r.dir, "logfile " .. r.dir .. "/redis.log", "databases 16",
  }
  if r.socket then conf[#conf + 1] = "unixsocket " .. r.socket; conf[#conf + 1] = "unixsocketperm 700" end
  if opts.password then conf[#conf + 1] = "requirepass " .. opts.password end
  local f = assert(io.open(r.dir .. "/redis.conf", "w"))
  f:write(table.concat(conf, "\n"), "\n")
  f:close()
  local auth = opts.password and (" -a " .. sh_quote(opts.password) .. " --no-auth-warning") or ""
  local target = r.socket and ("-s " .. sh_quote(r.socket)) or ("-h 127.0.0.1 -p " .. r.port)
  function r.cli(args) return (run("redis-cli " .. target .. auth .. " " .. args .. " 2>&1")) end
  function r.start()
    local pidfile = r.dir .. "/pid"
    run(("sh -c 'echo $$ > %s; exec redis-server %s' >/dev/null 2>&1 &"):format(sh_quote(pidfile),
      sh_quote(r.dir .. "/redis.conf")))
    for _ = 1, 200 do
      local pf = io.open(pidfile)
      r.pid = r.pid or (pf and tonumber(pf:read("*l")))
      if pf then pf:close() end
      if r.pid and r.cli("PING"):match("PONG") then return r end
      run("sleep 0.02")
    end
    error("redis-server did not start: " .. (run("cat " .. sh_quote(r.dir .. "/redis.log"))))
  end
  function r.stop()
    if not r.pid then return end
    -- -9: at once (a crash, for the outage case); gone once dead or a zombie its new parent has yet to reap
    run(("kill -9 %d; while ps -o stat= -p %d | grep -qv Z; do sleep 0.01; done"):format(r.pid, r.pid))
    r.pid = nil
    os.remove(r.dir .. "/pid")
  end
  function r.url(db, password)
    local info = password and (":" .. password .. "@") or ""
    if r.socket then return "unix://" .. info .. r.socket .. (db and ("?db=" .. db) or "") end
    return "redis://" .. info .. "127.0.0.1:" .. r.port .. (db and ("/" .. db) or "")
  end
  return r.start()
end

-- spec/nginx/fake_redis.py MODE, a Redis stand-in that misbehaves one way:
-- { port, commands = fn() -> the command names it read, stop = fn }.
function H.start_fake_redis(mode)
  local log = os.tmpname()
  local cmd = ("sh -c 'echo $$; exec python3 spec/nginx/fake_redis.py %s %s'"):format(mode, log)
  local proc = assert(io.popen(cmd, "r"))
  local pid = assert(tonumber(proc:read("*l")), "no pid from fake_redis")
  local port = assert(tonumber(proc:read("*l")), "fake_redis did not start")
  return {
    port = port,
    commands = function()
      local list = {}
      for line in io.lines(log) do list[#list + 1] = line end
      return list
    end,
    stop = function()
      os.execute("kill " .. pid .. " 2>/dev/null")
      proc:close()
      os.remove(log)
    end,
  }
end

-- Parameters of a valid update of the seeded scheduled task.
function H.update_params(extra)
  local p = {
    TaskId = "fd245384-4067-4f91-9d75-9666a6bc0000",
    Region = "cn-shanghai",
    StartTime = "2030-08-23T15:30:00Z",
    EndTime = "2030-08-27T14:30:00Z",
    SourceUrls = { "rtmp://pull.example.com/app/stream" },
    RepeatNumber = -1, Offset = 2, FileIndex = 0,
    CallbackUrl = "https://cb.example.com/hook",
  }
  for k, v in pairs(extra or {}) do p[k] = v end
  return p
end

-- Sends a request made by prepare() or core.sign() with the curl command,
-- as another transport would; returns status, body.
function H.send_prepared(req, ca_file)
  local cmd = { "curl -sS -g -X " .. req.method .. " -w '\n%{http_code}'" }
  if ca_file then cmd[#cmd + 1] = "--cacert " .. sh_quote(ca_file) end
  for name, value in pairs(req.headers) do cmd[#cmd + 1] = "-H " .. sh_quote(name .. ": " .. value) end
  cmd[#cmd + 1] = sh_quote(req.url)
  local out = run(table.concat(cmd, " "))
  local body, status = out:match("^(.*)\n(%d+)$")
  return tonumber(status), body
end

-- Seconds since boot with 10 ms resolution: wall time finer than os.time.
function H.now()
  local f = io.open("/proc/uptime")
  local t = tonumber(f:read("*a"):match("^(%S+)"))
  f:close()
  return t
end

-- This process's resident memory in KiB (field: "VmRSS" by default, or
-- "VmHWM", its peak).
function H.rss_kib(field)
  local pattern = "^" .. (field or "VmRSS") .. ":%s+(%d+)"
  for line in io.lines("/proc/self/status") do
    local kib = line:match(pattern)
    if kib then return tonumber(kib) end
  end
end

-- Restarts this process's peak resident memory (VmHWM) from its current
-- size; false where the kernel does not allow it.
function H.reset_peak_rss()
  local f = io.open("/proc/self/clear_refs", "w")
  if not f then return false end
  local ok = f:write("5")
  return f:close() and ok ~= nil
end

function H.copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = type(v) == "table" and H.copy(v) or v end
  return c
end

-- A file's whole text; with optional, nil (not an error) when it cannot be opened.
function H.read_file(path, optional)
  local f, err = io.open(path, "rb")
  if not f and optional then return nil end
  assert(f, err)
  local text = f:read("*a")
  f:close()
  return text
end

-- The version CMakeLists.txt's project() declares: the single source.
function H.cmake_version()
  return H.read_file("CMakeLists.txt"):match("project%(livepull VERSION (%d+%.%d+%.%d+) ")
end

-- What the command prints for argv (a --help), run in this process.
function H.cli_help(argv)
  local chunks = {}
  local sink = { write = function(self, ...) for _, s in ipairs { ... } do chunks[#chunks + 1] = s end return self end,
    flush = function() return true end }
  local code = require("livepull.cli").main(argv, { stdin = io.stdin, stdout = sink, stderr = sink })
  assert(code == 0, "exit " .. tostring(code) .. ": " .. table.concat(chunks))
  return table.concat(chunks)
end

-- "2026-12-01T11:36:02.123Z" -> seconds into the day (the emulator's request log times).
function H.log_seconds(iso)
  local h, m, s = iso:match("T(%d+):(%d+):([%d.]+)Z$")
  return tonumber(h) * 3600 + tonumber(m) * 60 + tonumber(s)
end

-- The most requests the emulator was serving at one moment, from its log.
-- The log has millisecond start times, so a request that follows another on
-- the same connection can seem to start up to 1 ms before the other ended:
-- each interval is taken 3 ms shorter.
function H.max_overlap(requests)
  local edges = {}
  for _, r in ipairs(requests) do
    local t = H.log_seconds(r.time)
    edges[#edges + 1] = { t, 1 }
    edges[#edges + 1] = { t + r.duration_ms / 1000 - 0.003, -1 }
  end
  table.sort(edges, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
  local now, most = 0, 0
  for _, e in ipairs(edges) do
    now = now + e[2]
    if now > most then most = now end
  end
  return most
end

-- Events per second over sorted times, as the least-squares slope of the times against their rank.
-- Each arrival at the emulator lags its pacing slot by what its process took to send it (about 10 ms,
-- tens of ms more on a loaded machine or under valgrind): (n - 1) / (last - first) moves by the
-- difference of the first and the last lag over the span (at 9/s over 10 s, 55 ms of it reads as
-- 9.05/s); the slope moves by less than a tenth of that for one late first or last arrival among 90
-- (about 6/n of it: a 0.2 s lag reads as 9.01/s, not 9.10/s), and still shows a rate that is really
-- too high.
function H.fitted_rate(times)
  local n, mean_i, mean_t = #times, (#times + 1) / 2, 0
  for _, t in ipairs(times) do mean_t = mean_t + t / n end
  local cov, var = 0, 0
  for i, t in ipairs(times) do
    cov, var = cov + (i - mean_i) * (t - mean_t), var + (i - mean_i) ^ 2
  end
  return var / cov
end

-- How many of the emulator's logged answers were throttling ones.
function H.throttled(requests)
  local n = 0
  for _, r in ipairs(requests) do
    if type(r.code) == "string" and r.code:find("^Throttling") then n = n + 1 end
  end
  return n
end

return H
