-- livepull.resty pacing through a Redis bucket (rate_store), in a real
-- four-worker nginx with Debian's redis-server and nginx.redis, against the
-- emulator's strict sliding second (--qps 10): the bucket's key and expiry,
-- two rate_keys apart, a UNIX socket with ?db=N, AUTH/SELECT only on fresh
-- connections, update_many, PacingTimeout, a host clock 5 minutes behind,
-- NOSCRIPT after SCRIPT FLUSH, wrong passwords and a refused script,
-- rate_store_fallback = false, a paused Redis; a fleet of nginx workers and
-- native processes on one rate_key (defaults; rate 9 burst 1 for 10 s) with
-- /ping answered meanwhile; Redis stopped mid-run (each worker falls back
-- alone, says so in the error log, resumes after a restart). Then one
-- worker against Redis stand-ins that never answer or send malformed
-- replies (never replayed, memory bounded) and the connection pool's
-- identities. The password is in no answer and no log line.
local cjson = require "cjson"
local H = require "helpers"
local N = require "nginx.helpers"

local PASSWORD = H.REDIS_PASSWORD   -- grep target: never in an answer or a log line (check_no_secrets.lua too)
local WRONG = "wrong-Secret-77d2"         -- a wrong one, never shown either
local BUILD = os.getenv("LIVEPULL_BUILD_DIR") or "build"
local NATIVES = 3   -- native processes in the fleet runs
local LIVEPULL_TASK_ID = H.update_params().TaskId
local FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

local function seconds(iso)
  local h, m, s = iso:match("T(%d+):(%d+):([%d.]+)Z$")
  return tonumber(h) * 3600 + tonumber(m) * 60 + tonumber(s)
end

local function wall() return tonumber((H.run("date +%s.%N"))) end

local throttled = H.throttled

-- The emulator's successful arrivals, their times in order.
local function ok_times(requests)
  local times = {}
  for _, r in ipairs(requests) do
    if r.status == 200 then times[#times + 1] = seconds(r.time) end
  end
  table.sort(times)
  return times
end

-- The successful arrivals: count, and calls per second over their span.
local function ok_rate(requests)
  local times = ok_times(requests)
  if #times < 2 then return #times, 0, 0 end
  local span = times[#times] - times[1]
  return #times, (#times - 1) / span, span
end

-- The successful arrivals' rate fitted over all of them (H.fitted_rate): robust to one late arrival.
local function fitted_rate(requests) return H.fitted_rate(ok_times(requests)) end

-- The closest two arrivals at the emulator (seconds): slots 1/rate apart
-- arrive closer by the jitter between hosts (notes §B.3).
local function closest(requests)
  local times = {}
  for _, r in ipairs(requests) do times[#times + 1] = seconds(r.time) end
  table.sort(times)
  local gap = math.huge
  for i = 2, #times do gap = math.min(gap, times[i] - times[i - 1]) end
  return gap
end

-- A redis-cli command's output without its closing newline.
local function cli(redis, args) return (redis.cli(args):gsub("%s+$", "")) end

-- "name value" stats of INFO commandstats: { evalsha = calls, eval = calls, ... }
local function command_calls(redis)
  local calls = {}
  for name, n in cli(redis, "info commandstats"):gmatch("cmdstat_(%w+):calls=(%d+)") do calls[name] = tonumber(n) end
  return calls
end

describe("livepull.resty with a Redis rate store", function()
  local emu, redis, sock, nginx, run_count = nil, nil, nil, nil, 0
  local url_password

  setup(function()
    emu = H.start_emulator { qps = 10 }
    redis = H.start_redis { password = PASSWORD }
    sock = H.start_redis { unix = true, password = PASSWORD }   -- the workers (nobody) use its socket
    H.run("chmod 755 " .. H.sh_quote(sock.dir) .. " && chmod 777 " .. H.sh_quote(sock.socket))
    url_password = "redis://:{password}@127.0.0.1:" .. redis.port   -- redis.conf fills in the password
    nginx = N.start_nginx("spec/nginx/redis.conf", { workers = 4,
      env = "LIVEPULL_SPEC_REDIS_PASSWORD=" .. PASSWORD .. " LIVEPULL_SPEC_REDIS_WRONG=" .. WRONG })
  end)
  teardown(function()
    local log = H.run("cat " .. nginx.error_log)
    nginx.stop()
    redis.stop()
    sock.stop()
    emu.stop()
    assert.is_nil(log:find(PASSWORD, 1, true), "the Redis password is in nginx's error log")
    assert.is_nil(log:find(WRONG, 1, true), "a wrong Redis password is in nginx's error log")
  end)
  before_each(function() emu.reset() end)

  local function fresh_key()
    run_count = run_count + 1
    return ("spec-account-%d-%d"):format(os.time(), run_count)
  end

  local function get(path, args)
    args.endpoint = args.endpoint or emu.url
    local out = H.run("curl -s --max-time 60 " .. H.sh_quote(nginx.url .. path .. "?" .. N.query(args)))
    assert.is_nil(out:find(PASSWORD, 1, true) or out:find(WRONG, 1, true), "a Redis password is in an answer: " .. out)
    local ok, res = pcall(cjson.decode, out)
    assert(ok, "not JSON: " .. out)
    return res
  end
  local function call(args) return get("/call", args) end

  -- Runs every worker's loop for `secs`, and `natives` native processes
  -- (spec/rate_store_worker.lua, about their share of the calls each) with
  -- the same options, while /ping is asked every 0.4 s; `during()` runs
  -- meanwhile. Returns the nginx calls, the native results, the emulator's
  -- requests and the slowest /ping.
  local function fleet(args, secs, natives, during)
    run_count = run_count + 1
    local id = tostring(run_count)
    local worker = { endpoint = emu.url, rate_store = args.store:gsub("{password}", PASSWORD), rate_key = args.key,
      rate_limit = tonumber(args.rate), rate_burst = tonumber(args.burst), max_attempts = 3,
      access_key_id = H.KEY_ID, access_key_secret = H.SECRET, task_id = LIVEPULL_TASK_ID,
      count = math.floor(secs * 9 / 7) }
    local procs = {}
    for i = 1, natives do   -- the settings (and the password) in the environment, never on a command line
      procs[i] = assert(io.popen(("LIVEPULL_WORKER=%s lua5.4 -e %s spec/rate_store_worker.lua 2>&1"):format(
        H.sh_quote(cjson.encode(worker)), H.sh_quote(("package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path; "
          .. "package.cpath = %q .. ';' .. package.cpath"):format(BUILD .. "/?.so"))), "r"))
    end
    local run_args = H.copy(args)
    run_args.id, run_args.seconds, run_args.endpoint = id, secs, emu.url
    assert.is_true(get("/run", run_args).started)
    local calls, slowest_ping = {}, 0
    local function collect()
      local res = get("/results", { id = id })
      for _, c in pairs(res.calls) do calls[#calls + 1] = c end
      return res.done
    end
    if during then during() end
    local done = 0
    for _ = 1, (secs + 30) / 0.4 do
      local p0 = H.now()
      assert.truthy(H.run("curl -s --max-time 5 " .. nginx.url .. "/ping"):find("pong"))
      slowest_ping = math.max(slowest_ping, H.now() - p0)
      done = collect()
      if done == 4 then break end
      H.run("sleep 0.4")
    end
    assert.are.equal(4, done, "not every worker finished its run")
    local native_results = {}
    for i, p in ipairs(procs) do
      local out = p:read("*a")
      p:close()
      assert.is_nil(out:find(PASSWORD, 1, true), "the Redis password in a native process's output")
      local ok, res = pcall(cjson.decode, out)
      assert(ok and type(res) == "table", "native process " .. i .. ": " .. out)
      native_results[i] = res
    end
    return calls, native_results, emu.requests(), slowest_ping
  end

  -- The native processes' successes; none of their calls failed.
  local function natives_ok(results)
    local ok = 0
    for i, r in ipairs(results) do
      assert.are.equal(0, r.failed, "native process " .. i .. ": " .. cjson.encode(r.codes))
      ok = ok + r.ok
    end
    return ok
  end

  local function all_ok(list, who)
    local failed = {}
    for _, c in ipairs(list) do
      if not c.ok then failed[#failed + 1] = cjson.encode(c.error) end
    end
    assert.are.equal(0, #failed, who .. ": " .. #failed .. " of " .. #list .. " calls failed: " .. (failed[1] or ""))
  end

  local function workers_of(calls)
    local seen, n = {}, 0
    for _, c in ipairs(calls) do
      if not seen[c.worker] then seen[c.worker], n = true, n + 1 end
    end
    return n
  end

  it("a call reserves its slot in Redis under <prefix>:{<rate_key>}:bucket, which expires", function()
    local key = fresh_key()
    local res = call { store = url_password, key = key, rate = 2, burst = 1 }
    assert.is_true(res.ok, cjson.encode(res))
    local ttl = tonumber(cli(redis, "pttl " .. H.sh_quote("livepull:{" .. key .. "}:bucket")))
    assert.is_true(ttl > 0 and ttl <= 1600, "the bucket's TTL: " .. tostring(ttl) .. " ms")
    res = call { store = url_password, key = key, rate = 2, burst = 1, prefix = "other" }
    assert.is_true(res.ok and res.took < 0.3, "another prefix waited: " .. cjson.encode(res))
    assert.are.equal("1", cli(redis, "exists " .. H.sh_quote("other:{" .. key .. "}:bucket")))
  end)

  it("two rate_keys do not share a bucket; one key is shared by clients made per request", function()
    local a, b = fresh_key(), fresh_key()
    assert.is_true(call({ store = url_password, key = a, rate = 0.5, burst = 1 }).ok)
    local res = call { store = url_password, key = b, rate = 0.5, burst = 1 }
    assert.is_true(res.ok and res.took < 0.3, cjson.encode(res))
    res = call { store = url_password, key = a, rate = 0.5, burst = 1 }
    assert.is_true(res.ok and res.took > 1.5, "the same key did not wait: " .. cjson.encode(res))
  end)

  it("a UNIX socket store with ?db=N keeps the bucket in that database", function()
    local key = fresh_key()
    local res = call { store = "unix://:{password}@" .. sock.socket .. "?db=3", key = key, rate = 2, burst = 1 }
    assert.is_true(res.ok, cjson.encode(res))
    assert.are.equal("1", cli(sock, "-n 3 exists " .. H.sh_quote("livepull:{" .. key .. "}:bucket")))
    assert.are.equal("0", cli(sock, "-n 0 exists " .. H.sh_quote("livepull:{" .. key .. "}:bucket")))
  end)

  it("AUTH and SELECT only on a fresh connection: 12 calls in 4 workers, at most 4 of each", function()
    local store, key = "unix://:{password}@" .. sock.socket .. "?db=2", fresh_key()
    assert.is_true(call({ store = store, key = key, rate = 9, burst = 1 }).ok)
    cli(sock, "config resetstat")
    for _ = 1, 12 do assert.is_true(call({ store = store, key = key, rate = 9, burst = 1 }).ok) end
    local calls = command_calls(sock)
    assert.are.equal(12, calls.evalsha)
    assert.is_true((calls.auth or 0) <= 4 and (calls.select or 0) <= 4, cjson.encode(calls))
  end)

  it("update_many: each light thread reserves its own slot (6 items at 4/s, burst 1, over >= 1.2 s)", function()
    local before = command_calls(redis)
    local res = get("/many", { store = url_password, key = fresh_key(), rate = 4, burst = 1, n = 6, concurrency = 3 })
    assert.are.same({ "ok", "ok", "ok", "ok", "ok", "ok" }, res.items)
    local after = command_calls(redis)
    assert.are.equal(6, (after.evalsha or 0) - (before.evalsha or 0))
    local _, _, span = ok_rate(emu.requests())
    assert.is_true(span >= 1.2, ("6 slots at 4/s arrived within %.2f s"):format(span))
  end)

  it("a slot further away than max_pacing_wait fails at once with PacingTimeout and is not spent", function()
    local key = fresh_key()
    assert.is_true(call({ store = url_password, key = key, rate = 0.1, burst = 1, max_wait = 2 }).ok)
    N.expect_unspent_refusals(function()
      return call { store = url_password, key = key, rate = 0.1, burst = 1, max_wait = 2 }
    end, { attempts = 1 })
  end)

  it("a host whose wall clock is 5 minutes behind shares the bucket as usual (Redis TIME is the clock)", function()
    local offset = os.tmpname()   -- libfaketime reads the offset from here, as the workers' user
    H.run("chmod 644 " .. offset)
    local f = assert(io.open(offset, "w")); f:write("-300\n"); f:close()
    local skewed = N.start_nginx("spec/nginx/redis.conf", { workers = 1,
      env = "LIVEPULL_SPEC_REDIS_PASSWORD=" .. PASSWORD,
      preload = ("LD_PRELOAD=%s FAKETIME_TIMESTAMP_FILE=%s FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1")
        :format(FAKETIME, offset) })
    finally(function() os.remove(offset); skewed.stop() end)
    local key = fresh_key()
    assert.is_true(call({ store = url_password, key = key, rate = 2, burst = 1 }).ok)   -- the right time
    for _ = 1, 3 do
      local res = N.get(skewed.url .. "/call?" .. N.query { endpoint = emu.url, store = url_password, key = key,
        rate = 2, burst = 1, max_wait = 5 })
      assert.is_true(res.ok, cjson.encode(res))
      assert.is_true(os.time() - res.wall > 250, "libfaketime did not move nginx's wall clock")
      assert.is_true(res.took > 0.3 and res.took < 0.8, ("a slot 0.5 s away took %.2f s"):format(res.took))
    end
    local _, _, span = ok_rate(emu.requests())
    assert.is_true(span >= 1.4, ("4 calls at 2/s arrived within %.2f s"):format(span))
  end)

  it("NOSCRIPT after SCRIPT FLUSH: EVAL once, then EVALSHA again; every call succeeds", function()
    local key = fresh_key()
    assert.is_true(call({ store = url_password, key = key, rate = 100, burst = 10 }).ok)
    assert.are.equal("OK", cli(redis, "script flush"))
    cli(redis, "config resetstat")
    for _ = 1, 3 do assert.is_true(call({ store = url_password, key = key, rate = 100, burst = 10 }).ok) end
    local calls = command_calls(redis)
    assert.are.same({ 3, 1 }, { calls.evalsha, calls.eval })   -- EVALSHA, NOSCRIPT, EVAL; then EVALSHA twice
  end)

  it("a wrong password or a refused script: config RateStoreRejected at once, no password, no fallback", function()
    local wrong = WRONG
    for _, store in ipairs { "redis://:{wrong}@127.0.0.1:" .. redis.port,
                             "redis://nobody:{wrong}@127.0.0.1:" .. redis.port,
                             "unix://:{wrong}@" .. sock.socket } do
      local res = call { store = store, key = fresh_key(), rate = 5 }
      assert.are.same({ false, "config", "rate_store" }, { res.ok, res.error.kind, res.error.field }, cjson.encode(res))
      assert.is_nil(cjson.encode(res):find(wrong, 1, true), cjson.encode(res))
    end
    -- a user whose ACL refuses the script
    local acl = "acl setuser limited on " .. H.sh_quote(">" .. PASSWORD) .. " '~*' +@all -evalsha -eval"
    assert.are.equal("OK", cli(redis, acl))
    local res = call { store = "redis://limited:{password}@127.0.0.1:" .. redis.port, key = fresh_key(), rate = 5 }
    local rejected = { false, "config", "RateStoreRejected" }
    assert.are.same(rejected, { res.ok, res.error.kind, res.error.code }, cjson.encode(res))
    assert.truthy(res.error.message:find("NOPERM", 1, true), res.error.message)
    -- and no password at all where Redis wants one
    res = call { store = "redis://127.0.0.1:" .. redis.port, key = fresh_key(), rate = 5 }
    assert.are.same(rejected, { res.ok, res.error.kind, res.error.code }, cjson.encode(res))
    assert.are.equal(0, #emu.requests(), "a call was sent")
    assert.is_nil(H.run("cat " .. nginx.error_log):find(wrong, 1, true))
  end)

  it("rate_store_fallback = false: a stopped Redis fails the call at once with RateStoreUnavailable", function()
    redis.stop()
    finally(function()
      redis.start()
      H.run("sleep 1.1")   -- past the second in which a worker does not ask a store that failed
    end)
    local res = call { store = url_password, key = fresh_key(), rate = 5, fallback = "false", store_timeout = 0.25 }
    assert.are.same({ false, "transport", "RateStoreUnavailable", 1 },
      { res.ok, res.error.kind, res.error.code, res.error.attempts }, cjson.encode(res))
    assert.is_true(res.took < 0.4, ("took %.2f s"):format(res.took))
    assert.are.equal(0, #emu.requests())
  end)

  it("a Redis that does not answer in rate_store_timeout: the call falls back, within the timeout", function()
    local key = fresh_key()
    assert.is_true(call({ store = url_password, key = key, rate = 5, burst = 1 }).ok)   -- a pooled connection
    cli(redis, "config resetstat")
    cli(redis, "client pause 800 all")
    local res = call { store = url_password, key = key, rate = 5, burst = 1, store_timeout = 0.2 }
    assert.is_true(res.ok, cjson.encode(res))
    assert.is_true(res.took < 0.5, ("took %.2f s"):format(res.took))
    H.run("sleep 1.1")   -- the pause is over, and the second in which that worker skips the store
    local calls = command_calls(redis)   -- the lost reply's EVALSHA was not followed by another
    assert.is_true((calls.evalsha or 0) + (calls.eval or 0) <= 1, cjson.encode(calls))
  end)

  it("a fleet of 4 nginx workers and 3 native processes on one rate_key, defaults: every call succeeds", function()
    local calls, natives, requests, ping = fleet({ store = url_password, key = fresh_key() }, 4, NATIVES)
    all_ok(calls, "nginx")
    local native_ok = natives_ok(natives)
    assert.are.equal(4, workers_of(calls))
    local n, rate = ok_rate(requests)
    assert.are.equal(#calls + native_ok, n)
    print(("\n  defaults (10/s, burst 10): %d calls (%d nginx, %d native) at %.2f/s, %d throttling answers retried, "
      .. "/ping <= %.3f s"):format(n, #calls, native_ok, rate, throttled(requests), ping))
    -- the shared burst of 10 plus the rate admit 20 in the first second: the emulator throttles some, all retried
    assert.is_true(throttled(requests) > 0, "no throttling answer: was the burst spent?")
    assert.is_true(ping < 0.5, ("/ping took %.2f s"):format(ping))
  end)

  it("the same fleet at rate_limit = 9, rate_burst = 1 for 10 s: no throttling, >= 90 % of 9/s", function()
    local calls, natives, requests, ping = fleet({ store = url_password, key = fresh_key(), rate = 9, burst = 1 },
      10, NATIVES)
    all_ok(calls, "nginx")
    local native_ok = natives_ok(natives)
    assert.are.equal(4, workers_of(calls))
    local n, rate, span = ok_rate(requests)
    local fitted = fitted_rate(requests)
    print(("\n  rate 9, burst 1: %d calls (%d nginx, %d native) in %.2f s = %.2f/s (%.0f %% of 9/s; fitted %.3f/s), "
      .. "%d throttled, closest arrivals %.0f ms apart (slots 111 ms), /ping <= %.3f s"):format(n, #calls, native_ok,
      span, rate, rate / 9 * 100, fitted, throttled(requests), closest(requests) * 1000, ping))
    assert.are.equal(0, throttled(requests))
    assert.are.equal(#calls + native_ok, n)
    assert.is_true(native_ok > 0 and native_ok < n)
    assert.is_true(span >= 9.5, ("the run spanned %.2f s"):format(span))
    assert.is_true(rate >= 0.9 * 9, ("%.2f calls/s"):format(rate))
    assert.is_true(fitted <= 9.05, ("%.3f calls/s fitted (%.2f/s first to last)"):format(fitted, rate))
    assert.is_true(ping < 0.5, ("/ping took %.2f s"):format(ping))
  end)

  it("Redis stopped mid-run: each worker paces alone at 1/s, says so once, shares again after a restart", function()
    local key = fresh_key()
    local stopped, restarted
    local log_before = #H.run("cat " .. nginx.error_log)
    local calls, _, requests = fleet({ store = url_password, key = key, rate = 8, burst = 1 }, 8, 0,
      function()
        H.run("sleep 1.5")
        stopped = wall()
        redis.stop()
        H.run("sleep 3")
        restarted = wall()   -- before the start: a worker may share again before start() returns
        redis.start()
      end)
    all_ok(calls, "nginx")
    -- each worker alone at <= 1/s (the default rate_store_fallback) while Redis was down
    local last = {}
    local during = 0
    for _, c in ipairs(calls) do
      if c.t > stopped + 0.6 and c.t < restarted then
        during = during + 1
        if last[c.worker] then
          assert.is_true(c.t - last[c.worker] >= 0.95, ("worker %d: calls %.3f s apart while Redis was down")
            :format(c.worker, c.t - last[c.worker]))
        end
        last[c.worker] = c.t
      end
    end
    assert.is_true(during >= 4, "calls while Redis was down: " .. during)
    local log = H.run("cat " .. nginx.error_log):sub(log_before + 1)
    local alone, again = {}, {}
    for pid in log:gmatch("%[warn%] (%d+)#%d+: [^\n]*paces alone") do alone[#alone + 1] = pid end
    for pid in log:gmatch("%[warn%] (%d+)#%d+: [^\n]*answers again") do again[#again + 1] = pid end
    assert.is_true(#alone >= 1 and #alone <= 4, "fallback warnings: " .. #alone .. "\n" .. log)
    local seen = {}
    for _, pid in ipairs(alone) do   -- once per worker, not once per call
      assert.is_nil(seen[pid], "worker " .. pid .. " said it twice:\n" .. log)
      seen[pid] = true
    end
    assert.are.equal(#alone, #again, log)
    local redis_calls = command_calls(redis)   -- the new Redis has an empty script cache: NOSCRIPT, EVAL
    assert.is_true((redis_calls.eval or 0) >= 1 and (redis_calls.evalsha or 0) >= 8, cjson.encode(redis_calls))
    print(("\n  Redis away for 3 s of 8: %d calls, %d while it was away (4 workers alone at 1/s), "
      .. "%d throttling answers retried")
      :format(#calls, during, throttled(requests)))
  end)
end)

describe("livepull.resty in one worker: Redis stand-ins that misbehave, the connection pool", function()
  local emu, nginx
  setup(function()
    emu = H.start_emulator { qps = 10 }
    nginx = N.start_nginx("spec/nginx/redis.conf", { workers = 1,
      env = "LIVEPULL_SPEC_REDIS_PASSWORD=" .. PASSWORD .. " LIVEPULL_SPEC_REDIS_WRONG=" .. WRONG })
  end)
  teardown(function()
    nginx.stop()   -- asserts that no handler died with a Lua error
    emu.stop()
  end)
  before_each(function() emu.reset() end)

  -- { mode, what it does }
  local modes = {
    { "mute", "never answers (the reply is lost)" },
    { "garbage", "answers a bulk length that is not a number" },
    { "huge", "announces an array of 2^31 items" },
    { "long", "sends an error line that never ends" },
    { "array", "announces an array of 2e9 items and sends them" },
    { "nested", "sends arrays of 8 nested 7 deep (2 million integers)" },
    { "loading", "answers LOADING (a pause, not a refusal)" },
  }
  for _, m in ipairs(modes) do
    it("a store that " .. m[2] .. ": the call falls back within rate_store_timeout, the script sent once", function()
      local fake = H.start_fake_redis(m[1])
      finally(fake.stop)
      local store = "redis://127.0.0.1:" .. fake.port
      local res = N.get(nginx.url .. "/call?" .. N.query { endpoint = emu.url, store = store,
        key = "fake-" .. m[1], rate = 5, burst = 1, store_timeout = 0.25 })
      assert.is_true(res.ok, cjson.encode(res))
      assert.is_true(res.took < 0.6, ("took %.2f s"):format(res.took))
      assert.are.same({ "EVALSHA" }, fake.commands())   -- no EVAL after it: never replayed
      assert.are.equal(1, #emu.requests())
    end)
  end

  it("a connection that authenticated with one password never serves a client with another", function()
    local redis = H.start_redis { password = PASSWORD }
    finally(redis.stop)
    local function call(password)
      return N.get(nginx.url .. "/call?" .. N.query { endpoint = emu.url, key = "pool", rate = 50,
        store = "redis://:{" .. password .. "}@127.0.0.1:" .. redis.port })
    end
    assert.is_true(call("password").ok)   -- one worker: its connection is now in the pool
    local res = call("wrong")
    assert.are.same({ "config", "RateStoreRejected" }, { res.error and res.error.kind, res.error and res.error.code })
    assert.is_true(call("password").ok)
  end)

  it("after those replies the worker's memory is still small (core.rate_reply_limits: lines, items)", function()
    local peak = N.workers_peak_kib(nginx)
    print(("\n  nginx worker peak RSS after the misbehaving stores: %d KiB"):format(peak))
    assert.is_true(peak < 40 * 1024, peak .. " KiB")
  end)
end)
