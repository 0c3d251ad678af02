-- Helpers of the nginx specs: start nginx (Debian's, with the Lua module)
-- on loopback with its own prefix and a config from the source tree, and
-- start spec/nginx/hostile_server.py's misbehaving servers.
local assert = require "luassert"
local cjson = require "cjson"
local H = require "helpers"

local N = {}
local BUILD = os.getenv("LIVEPULL_BUILD_DIR") or "build"

local function abspath(p) return (H.run("realpath " .. H.sh_quote(p)):gsub("%s+$", "")) end

-- Starts nginx with conf (a file with {{...}} placeholders); opts: workers,
-- ca_file, endpoint, preload (extra environment before the command, e.g.
-- LD_PRELOAD=...). Returns { url, stop, error_log, prefix }.
function N.start_nginx(conf, opts)
  local prefix = H.tmpdir()
  H.run("chmod 755 " .. prefix .. " && mkdir -p " .. prefix .. "/tmp")
  -- Workers (nobody) read the CA too: with an init_worker_by_lua block the
  -- Lua module loads lua_ssl_trusted_certificate in each worker.
  if opts.ca_file then
    H.run("chmod 644 " .. H.sh_quote(opts.ca_file) .. " && chmod 755 " ..
          H.sh_quote((opts.ca_file:gsub("/[^/]*$", ""))))
  end
  local port = H.closed_port()
  local src = abspath(".")
  local vars = {
    WORKERS = tostring(opts.workers or 1), PREFIX = prefix, PORT = tostring(port),
    CA_FILE = opts.ca_file or "/etc/ssl/certs/ca-certificates.crt",
    LUA_PATH = src .. "/lua/?.lua;" .. src .. "/lua/?/init.lua",
    LUA_CPATH = abspath(BUILD) .. "/luajit/?.so",
    SRC = src,
  }
  local f = assert(io.open(conf))
  local text = f:read("*a"):gsub("{{([%u_]+)}}", function(k) return assert(vars[k], k) end)
  f:close()
  f = assert(io.open(prefix .. "/nginx.conf", "w"))
  f:write(text)
  f:close()
  local env = ("ALIBABA_CLOUD_ACCESS_KEY_ID=%s ALIBABA_CLOUD_ACCESS_KEY_SECRET=%s LIVEPULL_ENDPOINT=%s %s %s ")
    :format(H.KEY_ID, H.SECRET, opts.endpoint or "http://127.0.0.1:9", opts.preload or "", opts.env or "")
  -- Output to a file: the daemon would otherwise hold our pipe open forever.
  local _, ok = H.run(env .. "nginx -p " .. prefix .. " -c " .. prefix .. "/nginx.conf -e " .. prefix ..
    "/error.log >" .. prefix .. "/start.log 2>&1")
  assert(ok, "nginx did not start: " .. H.run("cat " .. prefix .. "/start.log " .. prefix .. "/error.log"))
  local url = "http://127.0.0.1:" .. port
  for _ = 1, 50 do   -- until it answers
    if H.run("curl -s " .. url .. "/ping"):find("pong") then break end
    H.run("sleep 0.1")
  end
  return {
    url = url,
    prefix = prefix,
    error_log = prefix .. "/error.log",
    stop = function()
      H.run("kill $(cat " .. prefix .. "/nginx.pid) 2>/dev/null")
      -- No handler may have died with a Lua error (connect failures the
      -- cases provoke are logged too, but as cosocket errors, not these).
      local log = H.run("cat " .. prefix .. "/error.log")
      assert.is_nil(log:find("runtime error", 1, true), log)
      assert.is_nil(log:find("entry thread aborted", 1, true), log)
      -- nor a credential the credentials emulator issued
      assert.is_nil(log:find("minted-Secret-", 1, true))
      assert.is_nil(log:find("CAIS-minted-", 1, true))
    end,
  }
end

-- The peak resident memory (KiB) of nginx's worker processes.
function N.workers_peak_kib(nginx)
  local master = H.run("cat " .. nginx.prefix .. "/nginx.pid"):match("%d+")
  local peak = 0
  for pid in H.run("cat /proc/" .. master .. "/task/*/children"):gmatch("%d+") do
    local hwm = H.run("grep VmHWM /proc/" .. pid .. "/status"):match("(%d+)")
    peak = math.max(peak, tonumber(hwm) or 0)
  end
  return peak
end

-- GET url with curl (at most max_time seconds); the decoded JSON answer.
function N.get(url, max_time)
  local out = H.run("curl -s --max-time " .. (max_time or 60) .. " " .. H.sh_quote(url))
  local ok, res = pcall(cjson.decode, out)
  assert(ok, "not JSON from " .. url .. ": " .. out)
  return res
end

-- Query string from a table (values escaped for a URL).
function N.query(t)
  local parts = {}
  for k, v in pairs(t) do
    parts[#parts + 1] = k .. "=" .. tostring(v):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end)
  end
  table.sort(parts)
  return table.concat(parts, "&")
end

-- Starts spec/nginx/hostile_server.py with listeners { name = "mode[,cert=..,key=..]" };
-- returns { ports = { name = port }, url = fn(name, scheme), stop = fn }.
function N.start_hostile(listeners)
  local args = {}
  for name, mode in pairs(listeners) do args[#args + 1] = H.sh_quote(name .. "=" .. mode) end
  local proc = assert(io.popen("sh -c 'echo $$; exec python3 spec/nginx/hostile_server.py \"$@\"' hostile " ..
    table.concat(args, " "), "r"))
  local pid = assert(tonumber(proc:read("*l")), "no pid from the hostile server")
  local ports = {}
  for _ = 1, 100 do
    local line = proc:read("*l")
    assert(line, "the hostile server did not start")
    if line == "ready" then break end
    local name, port = line:match("^(%S+) (%d+)$")
    ports[name] = tonumber(port)
  end
  return {
    ports = ports,
    url = function(name, scheme) return (scheme or "http") .. "://127.0.0.1:" .. assert(ports[name], name) end,
    stop = function()
      os.execute("kill " .. pid .. " 2>/dev/null")
      proc:close()
    end,
  }
end

-- nginx in front of what a spec needs, for a describe block (setup(stage.start),
-- teardown(stage.stop)) or one test (stage.start(), finally(stage.stop)).
-- how, or a function returning it when the stage starts (certificates made
-- at setup, say): conf (default spec/nginx/test.conf); hostile = listeners of
-- start_hostile; emulator = H.start_emulator's opts; credentials = true for
-- a credentials emulator registered with that emulator, its URL handed to
-- nginx as LIVEPULL_METADATA_ENDPOINT; nginx = start_nginx's opts (one
-- worker and the emulator as endpoint unless said).
-- stage.nginx, .servers, .emu, .creds are what runs; stage.url(name, scheme)
-- a hostile listener's URL; stage.call(args) GETs nginx's /call.
function N.stage(how)
  local stage = {}
  function stage.start()
    local h = type(how) == "function" and how() or how
    if h.hostile then stage.servers = N.start_hostile(h.hostile) end
    if h.emulator then stage.emu = H.start_emulator(h.emulator) end
    if h.credentials then stage.creds = H.start_credentials_emulator(stage.emu) end
    local o = { workers = 1, endpoint = stage.emu and stage.emu.url }
    for k, v in pairs(h.nginx or {}) do o[k] = v end
    if stage.creds then o.env = "LIVEPULL_METADATA_ENDPOINT=" .. stage.creds.url .. " " .. (o.env or "") end
    stage.nginx = N.start_nginx(h.conf or "spec/nginx/test.conf", o)
  end
  function stage.stop()   -- what start got to start; nginx last, as its stop asserts on its log
    for _, name in ipairs { "servers", "creds", "emu", "nginx" } do
      if stage[name] then stage[name].stop() end
    end
  end
  function stage.url(name, scheme) return stage.servers.url(name, scheme) end
  function stage.call(args)
    return N.get(stage.nginx.url .. "/call?" .. N.query(args), 30)
  end
  return stage
end

-- Two calls whose slot is further away than max_pacing_wait (a bucket at 0.1/s
-- whose one slot was just spent): each fails at once with PacingTimeout and
-- does not spend the slot, so the second sees it no further away than the
-- first did. refused() makes one such call through /call and returns its answer;
-- expect = the error fields beyond kind, code and retryable (attempts, say).
function N.expect_unspent_refusals(refused, expect)
  local waits = {}
  for i = 1, 2 do
    local res = refused()
    local want, got = { "transport", "PacingTimeout", true }, { res.error.kind, res.error.code, res.error.retryable }
    for name, value in pairs(expect or {}) do want[#want + 1], got[#got + 1] = value, res.error[name] end
    assert.are.same(want, got)
    assert.is_true(res.took < 0.3, ("took %.2f s"):format(res.took))
    waits[i] = tonumber(res.error.message:match("next pacing slot is ([%d.]+) s away"))
    assert.is_true(waits[i] and waits[i] > 5 and waits[i] <= 10, res.error.message)
  end
  assert.is_true(waits[2] <= waits[1], "the refused call reserved a slot: " .. waits[1] .. " then " .. waits[2])
end

return N
