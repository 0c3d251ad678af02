-- One measurement in a fresh process, under Lua 5.4 or LuaJIT; report.lua
-- runs it from the repository root and reads the key=value lines it prints.
--   measure.lua CPATH time   prepare ALGORITHM N    -> ns_per_call, cpu_ns_per_call
--   measure.lua CPATH time   update  ENDPOINT  N    -> ns_per_call, cpu_ns_per_call
--   measure.lua CPATH memory prepare ALGORITHM N1 N2 -> rss_kb_1, rss_kb_2, heap_kb_1, heap_kb_2
--   measure.lua CPATH memory update  ENDPOINT  N1 N2
--   measure.lua CPATH batch  update  ENDPOINT  N    -> seconds, failed (update_many of N, default pacing)
--   measure.lua CPATH memory many    ENDPOINT  N1 N2 (update_many of N1, then of N2 items)
--   measure.lua CPATH time   update_store ENDPOINT N -> as update, each call reserving its slot in the
--                                                       Redis at $LIVEPULL_BENCH_RATE_STORE (a rate it never reaches)
--   measure.lua CPATH time   pace_store   -        N -> client:pace() alone: one reservation
-- CPATH is the build folder that holds livepull/core.so for this Lua.
local unpack = table.unpack or unpack   -- luacheck: globals unpack (LuaJIT has the 5.1 name)
local cpath, mode, call_kind, target, n1, n2 = unpack(arg, 1, 6)
package.cpath = cpath .. "/?.so;" .. package.cpath
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path

local livepull = require "livepull"
local monotime = require("system").monotime
local W = require "workload"

-- Each call kind makes its client once and returns the call the loop repeats.
local calls = {
  prepare = function(algorithm)
    local client = livepull.new(W.config(algorithm))
    return function() return client:prepare(W.action, W.params) end
  end,
  update = function(endpoint)
    local client = livepull.new(W.config(nil, endpoint))
    return function()
      local res = client:update(W.params)
      if res.RetCode ~= 0 then error("unexpected answer from the fixed server") end
    end
  end,
}

-- The shared bucket's cost: a client whose every slot is reserved in Redis,
-- at a rate so high that no reservation waits.
local function store_client(endpoint)
  local config = W.config(nil, endpoint ~= "-" and endpoint or nil)
  config.rate_store = assert(os.getenv("LIVEPULL_BENCH_RATE_STORE"), "LIVEPULL_BENCH_RATE_STORE is not set")
  config.rate_limit, config.rate_burst, config.rate_key = 1e6, 1e6, "bench-cost"
  return livepull.new(config)
end
calls.update_store = function(endpoint)
  local client = store_client(endpoint)
  return function()
    local res = client:update(W.params)
    if res.RetCode ~= 0 then error("unexpected answer from the fixed server") end
  end
end
calls.pace_store = function()
  local client = store_client("-")
  return function()
    if client:pace() ~= 0 then error("a reservation waited: the bench rate is too low") end
  end
end

local function rss_kb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmRSS:%s*(%d+)")
    if kb then return tonumber(kb) end
  end
  error("no VmRSS in /proc/self/status")
end

-- A batch with the client's default pacing (10/s, burst 10): how long N
-- updates take through update_many.
local function batch_client(endpoint)
  local config = W.config(nil, endpoint)
  config.rate_limit = nil
  return livepull.new(config)
end

local function list_of(n)
  local list = {}
  for i = 1, n do list[i] = W.params end
  return list
end

local modes = {
  time = function(call, n)
    for _ = 1, math.max(1, math.floor(n / 10)) do call() end   -- warm-up
    local t0, c0 = monotime(), os.clock()   -- wall, and this process's CPU time
    for _ = 1, n do call() end
    print(("ns_per_call=%.1f"):format((monotime() - t0) * 1e9 / n))
    print(("cpu_ns_per_call=%.1f"):format((os.clock() - c0) * 1e9 / n))
  end,
  -- A full collection before each reading: what is left is what is kept.
  memory = function(call, n, m)
    local marks = { [n] = 1, [m] = 2 }
    for i = 1, m do
      call()
      if marks[i] then
        collectgarbage("collect")
        print(("rss_kb_%d=%d"):format(marks[i], rss_kb()))
        print(("heap_kb_%d=%.0f"):format(marks[i], collectgarbage("count")))
      end
    end
  end,
}

modes.batch = function(_, n, _, endpoint)
  local client = batch_client(endpoint)
  local t0 = monotime()
  local failed = 0
  for _, r in ipairs(client:update_many(list_of(n))) do
    if not r.ok then failed = failed + 1 end
  end
  print(("seconds=%.4f"):format(monotime() - t0))
  print(("failed=%d"):format(failed))
end

-- update_many of n1 items, then of n2: what is kept after each, against a
-- server that answers at once (no pacing).
calls.many = function(endpoint)
  local client = livepull.new(W.config(nil, endpoint))
  return function(n)
    for _, r in ipairs(client:update_many(list_of(n))) do
      if not r.ok then error("unexpected failure: " .. tostring(r.error)) end
    end
  end
end
modes.memory_many = function(call, n, m)
  for i, count in ipairs { n, m } do
    call(count)
    collectgarbage("collect")
    print(("rss_kb_%d=%d"):format(i, rss_kb()))
    print(("heap_kb_%d=%.0f"):format(i, collectgarbage("count")))
  end
end
if mode == "memory" and call_kind == "many" then mode = "memory_many" end

local make, run = calls[call_kind], modes[mode]
if mode == "batch" then
  run(nil, tonumber(n1), nil, target)
  os.exit(0)
end
if not (make and run and target and tonumber(n1)) then
  io.stderr:write("usage: measure.lua CPATH time|memory prepare|update ALGORITHM|ENDPOINT N [N2]\n")
  os.exit(2)
end
run(make(target), tonumber(n1), tonumber(n2))
