-- Runs every measurement a few times, each run in a fresh process and the
-- rows interleaved (so a noisy moment hits all of them alike), then prints
-- the table (median, spread, ratio to the floor, target check) and writes it
-- as JSON. bench/run starts it from the repository root under Lua 5.4:
--   report.lua --mode full|short --out FILE --bin DIR --build DIR --endpoint URL [--luajit DIR]
--              [--paced URL] [--emulator URL] [--redis URL]
--              [--tree DIR] [--wrapped-tree DIR]   (the livepull command installed by luarocks)
-- Exit status 1 only when a measurement broke; a missed target is not a failure.
local opts = {}
for i = 1, #arg, 2 do opts[arg[i]:gsub("^%-%-", "")] = arg[i + 1] end
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path
package.cpath = opts.build .. "/?.so;" .. package.cpath

local core = require "livepull.core"
local livepull = require "livepull"
local cjson = require "cjson"
local monotime = require("system").monotime
local W = require "workload"

local SIZES = {
  full = { runs = 5, prepare = 100000, update = 20000, cli = 200, memory = { 1000, 100000 },
           batch_runs = 3, many = { 1000, 10000 } },
  short = { runs = 3, prepare = 20000, update = 3000, cli = 20, memory = { 1000, 5000 },
            batch_runs = 1, many = { 500, 2000 } },
}
local STARTS = 20   -- sequential invocations per start-up run (the issue's measure)
local size = assert(SIZES[opts.mode], "--mode must be full or short")
local KIB_PER_MIB = 1024

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Runs argv, returns the key=value numbers it printed; raises if it failed.
local function run(argv)
  local parts = {}
  for i, a in ipairs(argv) do parts[i] = quote(a) end
  local command = table.concat(parts, " ")
  local p = io.popen(command)
  local out = p:read("a")
  if not p:close() then error("failed: " .. command, 0) end
  local kv = {}
  for k, v in out:gmatch("([%w_]+)=(%-?[%d.]+)") do kv[k] = tonumber(v) end
  return kv
end

local function read_file(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

---------------------------------------------------------------------------
-- What the floors need to know about the real request.

-- The business parameters exactly as prepare puts them in the URL.
local function prepared_query(req)
  local q = {}
  for k, v in req.url:match("%?(.*)$"):gmatch("([^&=]+)=([^&]*)") do
    q[#q + 1] = { k, (v:gsub("%%(%x%x)", function(x) return string.char(tonumber(x, 16)) end)) }
  end
  return q
end

-- Lengths of the canonical request and of the string to sign for an algorithm.
local function signed_lengths(algorithm)
  local req = livepull.new(W.config()):prepare(W.action, W.params)
  local s = core.sign {
    algorithm = algorithm, method = "GET", host = "live.aliyuncs.com", action = W.action,
    version = req.headers["x-acs-version"], format = "JSON", access_key_id = W.access_key_id,
    access_key_secret = W.access_key_secret, nonce = req.headers["x-acs-signature-nonce"],
    timestamp = req.headers["x-acs-date"], query = prepared_query(req),
  }
  return #s.canonical, #s.string_to_sign
end

-- The request the round-trip floors replay: URL, and a header file for libcurl and curl(1).
local function replay_files(endpoint)
  local req = livepull.new(W.config(nil, endpoint)):prepare(W.action, W.params)
  local lines = {}
  for name, value in pairs(req.headers) do lines[#lines + 1] = name .. ": " .. value end
  table.sort(lines)
  local path = opts.bin .. "/headers.txt"
  write_file(path, table.concat(lines, "\n") .. "\n")
  return req.url, path
end

---------------------------------------------------------------------------
-- The rows. A row measures ns per call; `floor` names the row it is compared
-- with and `target` the check that applies. A ratio compares the two runs of
-- one round, which ran back to back: the machine's mood cancels out.

local TARGETS = {
  prepare = {
    text = "<= 3x floor, < 10 us",
    of = "time",
    ratio = function(ns, floor_ns) return ns / floor_ns end,
    check = function(r) return r.vs_floor <= 3 and r.ns < 10000 end,
  },
  round_trip = {
    text = ">= 0.8x floor rate",
    of = "rate",
    ratio = function(ns, floor_ns) return floor_ns / ns end,
    check = function(r) return r.vs_floor >= 0.8 end,
  },
  startup = {
    text = "<= 1.5x curl(1)",
    of = "time",
    ratio = function(ns, floor_ns) return ns / floor_ns end,
    check = function(r) return r.vs_floor <= 1.5 end,
  },
  rate_store = {   -- the shared bucket's cost: the time a reservation adds to a call
    of = "time",
    ratio = function(ns, floor_ns) return ns / floor_ns end,
  },
  fleet = {
    text = ">= 0.9x rate, 0 throttled",
    of = "rate",
    ratio = function(ns, floor_ns) return floor_ns / ns end,
    check = function(r) return r.vs_floor >= 0.9 and r.throttled == 0 end,
  },
  memory = {
    text = "growth < 2 MiB",
    check = function(r) return r.rss_kb_2 - r.rss_kb_1 < 2 * KIB_PER_MIB end,
  },
}

local runtimes = { { name = "Lua 5.4", lua = "lua5.4", cpath = opts.build } }
if opts.luajit then runtimes[2] = { name = "LuaJIT", lua = "luajit", cpath = opts.luajit } end

local rows, by_id = {}, {}
local curl_json   -- defined with the batch rows, used by the fleet row too
local function new_row(row)
  row.samples, row.cpu_samples = {}, {}
  return row
end
local function add(row)
  rows[#rows + 1], by_id[row.id] = new_row(row), row
end

local function measure(rt, ...)
  return { rt.lua, "bench/measure.lua", rt.cpath, ... }
end

local key_len = { ["ACS3-HMAC-SHA256"] = #W.access_key_secret, ["HMAC-SHA1"] = #W.access_key_secret + 1 }
for _, alg in ipairs(W.algorithms) do
  local canonical, sts = signed_lengths(alg)
  local v = alg == "HMAC-SHA1" and "v1" or "v3"
  local crypto = v == "v3" and ("SHA-256(%d B) + HMAC-SHA256(%d B)"):format(canonical, sts)
                 or ("HMAC-SHA1(%d B)"):format(sts)
  for _, rt in ipairs(runtimes) do
    add { section = "prepare", id = "prepare " .. alg .. " " .. rt.name, algorithm = alg,
          name = "livepull prepare, " .. rt.name, floor = "floor " .. alg,
          target = rt.name == "Lua 5.4" and "prepare" or nil,
          argv = measure(rt, "time", "prepare", alg, size.prepare) }
  end
  for _, f in ipairs {
    { id = "floor " .. alg, how = "oneshot", name = "floor: " .. crypto .. ", one-shot C" },
    { id = "kept " .. alg, how = "kept", name = "info: same crypto, OpenSSL contexts kept", floor = "floor " .. alg },
  } do
    add { section = "prepare", id = f.id, algorithm = alg, name = f.name, floor = f.floor,
          argv = { opts.bin .. "/hmac_floor", v, f.how, size.prepare, canonical, sts, key_len[alg] } }
  end
end

local url, header_file = replay_files(opts.endpoint)
add { section = "round_trip", id = "update", name = "livepull client:update, Lua 5.4", floor = "libcurl",
      target = "round_trip", argv = measure(runtimes[1], "time", "update", opts.endpoint, size.update) }
add { section = "round_trip", id = "libcurl", name = "floor: libcurl in C, one reused easy handle",
      argv = { opts.bin .. "/curl_floor", url, header_file, size.update } }
add { section = "round_trip", id = "cli", name = "curl(1) started per request (shell loop)", floor = "libcurl",
      run = function()
        local loop = "i=0; while [ $i -lt %d ]; do curl -sSf -o /dev/null -H @%s %s || exit 1; i=$((i+1)); done"
        loop = loop:format(size.cli, quote(header_file), quote(url))
        local t0 = monotime()
        if not os.execute(loop) then error("curl(1) loop failed", 0) end
        return { ns_per_call = (monotime() - t0) * 1e9 / size.cli }
      end }

-- Start-up: one request per process, the way a shell playbook calls each
-- command; bench/spawn starts them one after another with no shell between
-- and no Lua search path in the environment (the command finds its tree).
if opts.tree then
  local clean = { "env", "-u", "LUA_PATH", "-u", "LUA_CPATH", "-u", "LUA_PATH_5_4", "-u", "LUA_CPATH_5_4",
                  "-u", "LUA_INIT", "-u", "LUA_INIT_5_4" }
  local function spawn(env, ...)
    local argv = { table.unpack(clean) }
    for _, a in ipairs(env) do argv[#argv + 1] = a end
    for _, a in ipairs { opts.bin .. "/spawn", tostring(STARTS), ... } do argv[#argv + 1] = a end
    return argv
  end
  local function command(tree)
    return tree .. "/bin/livepull", "update", "--endpoint", opts.endpoint, "--access-key-id", W.access_key_id,
      "--access-key-secret", W.access_key_secret, "--rate-limit", "0", "--task-id", W.params.TaskId,
      "--region", W.params.Region, "--end-time", W.params.EndTime, "--callback-url", W.params.CallbackUrl,
      "--source-url", W.params.SourceUrls[1], "--source-url", W.params.SourceUrls[2]
  end
  add { section = "startup", id = "curl start", name = "floor: curl(1), the same signed request",
        argv = spawn({}, "curl", "-sSf", "-o", "/dev/null", "-H", "@" .. header_file, url) }
  add { section = "startup", id = "cli start", name = "livepull update, installed by luarocks", floor = "curl start",
        target = "startup", argv = spawn({}, command(opts.tree)) }
  if opts["wrapped-tree"] then
    add { section = "startup", id = "wrapped start", floor = "curl start",
          name = "info: the same through luarocks' wrapper (sh + luarocks.loader)",
          -- its loader reads the system's luarocks config, which does not know this tree:
          -- the paths `luarocks path` would print (as for a tree of one's own)
          argv = spawn({ "LUA_PATH_5_4=" .. opts["wrapped-tree"] .. "/share/lua/5.4/?.lua;"
                           .. opts["wrapped-tree"] .. "/share/lua/5.4/?/init.lua;;",
                         "LUA_CPATH_5_4=" .. opts["wrapped-tree"] .. "/lib/lua/5.4/?.so;;" },
                       command(opts["wrapped-tree"])) }
  end
end

-- The shared bucket (rate_store): what one reservation in loopback Redis
-- costs a call, next to the round trip, and what a fleet of three processes
-- sharing one rate_key achieves against the emulator's strict sliding second.
local FLEET = { processes = 3, rate = 9, per_process = opts.mode == "full" and 30 or 10 }
if opts.redis then
  add { section = "rate_store", id = "store update", floor = "update",
        name = "client:update, each call reserving its slot in Redis (loopback TCP), Lua 5.4",
        argv = measure(runtimes[1], "time", "update_store", opts.endpoint, size.update) }
  add { section = "rate_store", id = "store pace", name = "client:pace() alone: one reservation (EVALSHA), Lua 5.4",
        argv = measure(runtimes[1], "time", "pace_store", "-", size.update) }
end
if opts.redis and opts.emulator then
  local fleet_row
  fleet_row = { section = "rate_store", id = "fleet", floor = "fleet rate", target = "fleet", throttled = 0,
    name = ("%d processes on one rate_key (one with describe_many), rate_limit %d, rate_burst 1, "
            .. "emulator --qps 10: calls/s together"):format(FLEET.processes, FLEET.rate),
    run = function()
      curl_json("POST", opts.emulator .. "/_emulator/reset")
      local start_at = core.monotonic() + 1
      local procs = {}
      for i = 1, FLEET.processes do
        local cfg = cjson.encode { access_key_id = W.access_key_id, access_key_secret = W.access_key_secret,
          endpoint = opts.emulator, rate_store = opts.redis, rate_key = "bench-fleet", rate_limit = FLEET.rate,
          rate_burst = 1, task_id = W.params.TaskId, count = FLEET.per_process, many = i == FLEET.processes,
          start_at = start_at }
        procs[i] = assert(io.popen(("LIVEPULL_WORKER=%s lua5.4 -e %s spec/rate_store_worker.lua"):format(quote(cfg),
          quote(("package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path; package.cpath = %q .. package.cpath")
                :format(opts.build .. "/?.so;")))))
      end
      for _, p in ipairs(procs) do
        local res = cjson.decode(p:read("*a"))
        p:close()
        if res.failed > 0 then error("a fleet call failed: " .. table.concat(res.codes, ", "), 0) end
      end
      local times = {}
      for _, r in ipairs(curl_json("GET", opts.emulator .. "/_emulator/requests").requests) do
        local h, m, sec = r.time:match("T(%d+):(%d+):([%d.]+)Z$")
        times[#times + 1] = h * 3600 + m * 60 + sec
        if type(r.code) == "string" and r.code:find("^Throttling") then fleet_row.throttled = fleet_row.throttled + 1 end
      end
      table.sort(times)
      return { ns_per_call = (times[#times] - times[1]) * 1e9 / (#times - 1) }
    end }
  add(fleet_row)
  add { section = "rate_store", id = "fleet rate", name = ("floor: the configured rate, %d calls/s"):format(FLEET.rate),
        run = function() return { ns_per_call = 1e9 / FLEET.rate } end }
end

local memory_rows = {}
for _, m in ipairs {
  { "prepare", W.algorithms[1] }, { "prepare", W.algorithms[2] },
  { "update", opts.endpoint, "update, Lua 5.4" },
} do
  memory_rows[#memory_rows + 1] = new_row {
    section = "memory", id = "memory " .. m[1] .. " " .. m[2], target = "memory",
    name = m[3] or (m[1] .. " " .. m[2] .. ", Lua 5.4"),
    argv = measure(runtimes[1], "memory", m[1], m[2], size.memory[1], size.memory[2]),
  }
end

memory_rows[#memory_rows + 1] = new_row {
  section = "memory", id = "memory many", target = "memory",
  name = "update_many, Lua 5.4 (items per batch)",
  argv = measure(runtimes[1], "memory", "many", opts.endpoint, size.many[1], size.many[2]),
}

-- Batches: 40 updates through update_many (and the command's --batch) at the default pacing (10/s, burst
-- 10), against bench/paced_server.py (a token bucket of 10/s with a burst of
-- 10, answering after the round trip) and against the emulator's strict
-- sliding second. The floor is what the quota allows: the burst at once,
-- then 10/s, plus one round trip.
local BATCH = { items = 40, rate = 10, burst = 10 }
local function batch_floor(delay) return (BATCH.items - BATCH.burst) / BATCH.rate + delay end
local batch_rows = {}
if opts.paced then
  for _, delay in ipairs { 0.05, 0.3, 1 } do
    batch_rows[#batch_rows + 1] = { name = ("update_many, token-bucket server, round trip %.2f s"):format(delay),
                                    delay = delay, server = "paced", target = 1.1 }
  end
end
if opts.paced then
  batch_rows[#batch_rows + 1] = { name = "livepull update --batch FILE, token-bucket server, round trip 0.30 s",
                                  delay = 0.3, server = "paced", target = 1.1, cli = true }
end
if opts.emulator then
  batch_rows[#batch_rows + 1] = { name = "update_many, emulator --qps 10 (sliding second), round trip 0.30 s",
                                  delay = 0.3, server = "emulator" }
end

curl_json = function(method, url, body)
  local cmd = "curl -sS -X " .. method .. " " .. quote(url)
  if body then cmd = cmd .. " -H 'Content-Type: application/json' --data-binary " .. quote(cjson.encode(body)) end
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return cjson.decode(out)
end

-- The command's --batch over a file of the same 40 updates, timed from outside.
local function cli_batch(endpoint)
  local path = opts.bin .. "/batch.jsonl"
  local lines = {}
  for i = 1, BATCH.items do   -- a task each: lines about one task would be sent one after another
    local p = {}
    for k, v in pairs(W.params) do p[k] = v end
    p.TaskId = ("%s-%d"):format(W.params.TaskId, i)
    lines[i] = cjson.encode(p)
  end
  write_file(path, table.concat(lines, "\n") .. "\n")
  local cmd = ("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH=%s lua5.4 bin/livepull update --endpoint %s " ..
               "--access-key-id %s --access-key-secret %s --batch %s > %s"):format(
    quote(opts.build .. "/?.so;;"), quote(endpoint), quote(W.access_key_id), quote(W.access_key_secret),
    quote(path), quote(opts.bin .. "/batch.out"))
  local t0 = monotime()
  local ok = os.execute(cmd)
  local seconds = monotime() - t0
  local failed_lines = 0
  for line in io.lines(opts.bin .. "/batch.out") do
    if not cjson.decode(line).ok then failed_lines = failed_lines + 1 end
  end
  if not ok and failed_lines == 0 then error("livepull --batch failed", 0) end
  return { seconds = seconds, failed = failed_lines }
end

-- One run of a batch row: the server set up, the batch timed, its throttling counted.
local function batch_sample(row)
  if row.server == "paced" then
    curl_json("GET", ("%s/_config?delay=%s"):format(opts.paced, row.delay))
  else
    curl_json("POST", opts.emulator .. "/_emulator/reset")
    curl_json("POST", opts.emulator .. "/_emulator/faults",
              { faults = { { kind = "delay", seconds = row.delay, count = 1000 } } })
  end
  local endpoint = row.server == "paced" and opts.paced or opts.emulator
  local res
  if row.cli then
    res = cli_batch(endpoint)
  else
    res = run(measure(runtimes[1], "batch", "update", endpoint, BATCH.items))
  end
  local throttled, in_flight = 0, nil
  if row.server == "paced" then
    local stats = curl_json("GET", opts.paced .. "/_stats")
    throttled, in_flight = stats.throttled, stats.max_in_flight
  else
    for _, r in ipairs(curl_json("GET", opts.emulator .. "/_emulator/requests").requests) do
      if type(r.code) == "string" and r.code:match("^Throttling") then throttled = throttled + 1 end
    end
  end
  return res.seconds, res.failed, throttled, in_flight
end

---------------------------------------------------------------------------
-- Run: rounds of every row, then the memory rows once (RSS does not jitter).

local failed = false
local function sample(row)
  if row.error then return end
  local ok, res = pcall(row.run or run, row.argv)
  if ok and (res.ns_per_call or res.rss_kb_2) then
    row.samples[#row.samples + 1] = res.ns_per_call
    row.cpu_samples[#row.cpu_samples + 1] = res.cpu_ns_per_call
    row.result = res
  else
    row.error, failed = ok and "printed no result" or tostring(res), true
    io.stderr:write("bench: ", row.name, ": ", row.error, "\n")
  end
end

for round = 1, size.runs do
  io.stderr:write(("bench: round %d of %d\n"):format(round, size.runs))
  for _, row in ipairs(rows) do sample(row) end
end
io.stderr:write("bench: memory\n")
for _, row in ipairs(memory_rows) do sample(row) end
for round = 1, size.batch_runs do
  io.stderr:write(("bench: batches, round %d of %d\n"):format(round, size.batch_runs))
  for _, row in ipairs(batch_rows) do
    local ok, seconds, failed_items, throttled, in_flight = pcall(batch_sample, row)
    if ok and seconds then
      row.samples = row.samples or {}
      row.samples[#row.samples + 1] = seconds
      row.failed = math.max(row.failed or 0, failed_items)
      row.throttled = math.max(row.throttled or 0, throttled)
      row.in_flight = in_flight and math.max(row.in_flight or 0, in_flight) or row.in_flight
    else
      row.error, failed = tostring(seconds), true
      io.stderr:write("bench: ", row.name, ": ", row.error, "\n")
    end
  end
end

local function median(xs)
  local s = { table.unpack(xs) }
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) / 2] or (s[n / 2] + s[n / 2 + 1]) / 2
end

for _, row in ipairs(rows) do
  if #row.samples > 0 then
    row.ns = median(row.samples)
    row.spread = (math.max(table.unpack(row.samples)) - math.min(table.unpack(row.samples))) / row.ns
    row.cpu_ns = #row.cpu_samples > 0 and median(row.cpu_samples) or nil
  end
end
for _, row in ipairs(rows) do
  local f, t = by_id[row.floor], TARGETS[row.target or row.section]
  if f and #row.samples == size.runs and #f.samples == size.runs then
    row.ratios = {}
    for i = 1, size.runs do row.ratios[i] = t.ratio(row.samples[i], f.samples[i]) end
    row.vs_floor, row.vs_floor_of = median(row.ratios), t.of
    if row.target then row.pass = t.check(row) end
  end
end
for _, row in ipairs(memory_rows) do
  if row.result then row.pass = TARGETS.memory.check(row.result) end
end
for _, row in ipairs(batch_rows) do
  if row.samples then
    row.seconds = median(row.samples)
    row.floor = batch_floor(row.delay)
    row.vs_floor = row.seconds / row.floor
    -- Against the token bucket: within the target, every call a success, no throttling answer.
    if row.target then row.pass = row.vs_floor <= row.target and row.failed == 0 and row.throttled == 0 end
  end
end

---------------------------------------------------------------------------
-- Print.

local function commas(n)
  local s = ("%d"):format(math.floor(n + 0.5))
  return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^(%-?),", "%1"))
end

local function verdict(row)
  if row.error then return "ERROR" end
  if row.pass == nil then return "" end
  return row.pass and "PASS" or "FAIL"
end

-- Columns sized to their content; `align` has one letter per column, l or r.
local function print_table(title, align, head, body)
  local width = {}
  for _, line in ipairs { head, table.unpack(body) } do
    for i, cell in ipairs(line) do width[i] = math.max(width[i] or 0, utf8.len(cell)) end
  end
  print(title)
  for _, line in ipairs { head, table.unpack(body) } do
    local out = {}
    for i, cell in ipairs(line) do
      local pad = (" "):rep(width[i] - utf8.len(cell))
      if width[i] > 0 then out[#out + 1] = align:sub(i, i) == "r" and pad .. cell or cell .. pad end
    end
    print((("  " .. table.concat(out, "  ")):gsub("%s+$", "")))
  end
  print()
end

-- "0.62x rate (0.57-0.73)": the median ratio and its range over the rounds.
local function ratio_text(row)
  local digits = row.vs_floor < 0.1 and "%.3f" or "%.2f"
  return (digits .. "x %s (" .. digits .. "-" .. digits .. ")"):format(row.vs_floor, row.vs_floor_of,
    math.min(table.unpack(row.ratios)), math.max(table.unpack(row.ratios)))
end

local function timing_table(section, title)
  local body = {}
  for _, row in ipairs(rows) do
    if row.section == section then
      body[#body + 1] = {
        row.algorithm or "", row.name, row.ns and commas(1e9 / row.ns) or "-",
        row.ns and ("%.2f"):format(row.ns / 1000) or "-", row.cpu_ns and ("%.2f"):format(row.cpu_ns / 1000) or "-",
        row.spread and ("%.1f%%"):format(row.spread * 100) or "-",
        row.vs_floor and ratio_text(row) or "",
        row.target and TARGETS[row.target].text or "", verdict(row),
      }
    end
  end
  print_table(title, "llrrrrrll", { "", "", "calls/s", "us/call", "cpu us", "spread", "vs floor", "target", "" }, body)
end

local cpu = (read_file("/proc/cpuinfo") or ""):match("model name%s*:%s*([^\n]+)") or "?"
local cpus = select(2, (read_file("/proc/cpuinfo") or ""):gsub("\nprocessor", "")) + 1
local build_type = (read_file(opts.build .. "/CMakeCache.txt") or ""):match("CMAKE_BUILD_TYPE:STRING=([^\n]*)")
print(("livepull bench, %s mode: median of %d runs per row, each a fresh process; spread = (max - min) / median;\n"
       .. "us/call is wall time, cpu us the measuring process's own CPU time (os.clock / clock())")
      :format(opts.mode, size.runs))
print(("machine: %d x %s, load %s; module %s/livepull/core.so, CMAKE_BUILD_TYPE=%s")
      :format(cpus, cpu, (read_file("/proc/loadavg") or "?"):match("^(%S+)"), opts.build,
              build_type and build_type ~= "" and build_type or "(none: no -O, unoptimised!)"))
print(opts.luajit and ("LuaJIT: module " .. opts.luajit .. "/livepull/core.so")
      or "LuaJIT: skipped (no livepull/core.so in build-luajit/ or build/luajit/;"
         .. " cmake -DLIVEPULL_WITH_LUAJIT=ON builds one)")
print()
timing_table("prepare", ("prepare: validate + sign one UpdateLivePullToPush (5 params, 2 SourceUrls), %s calls per run")
             :format(commas(size.prepare)))
print("  floor = the crypto a signature needs, nothing else: ACS3 = SHA-256 over the canonical request + HMAC-SHA256")
print("  over the string to sign; HMAC-SHA1 = one HMAC-SHA1 over the string to sign. \"one-shot\" calls EVP_Digest()")
print("  and HMAC() as csrc/sign.c does; \"kept\" reuses a fetched digest and a keyed HMAC context (no target).")
print("  prepare also draws a 16-byte nonce (RAND_bytes) and reads the clock; the floor does not.")
print("  vs floor (both tables) = median over the rounds of the ratio between a row's run and its floor's run.")
print()
timing_table("round_trip", ("round trip: sequential updates (rate_limit = 0) over loopback to bench/fixed_server,"
                           .. " %s calls per run (curl(1): %d)"):format(commas(size.update), size.cli))

if opts.redis then
  timing_table("rate_store", ("rate_store: the shared bucket in Redis (loopback, redis-server of the machine); %s calls"
                              .. " per run; fleet: %d x %d describes per run"):format(commas(size.update),
                              FLEET.processes, FLEET.per_process))
  print("  vs floor: the reserving update against the plain update above (time), the fleet's calls/s against")
  print("  the configured rate (rate); the emulator counts a strict sliding second of 10.")
  print()
end

if opts.tree then
  timing_table("startup", ("start-up: %d sequential processes per run, each one update over a new loopback"
                           .. " connection to bench/fixed_server"):format(STARTS))
  print("  us/call = one whole process: exec, dynamic linking (libcurl, OpenSSL), Lua and the modules, the request.")
  print("  The command's shebang runs its Lua directly; luarocks' wrapper runs sh, then Lua with luarocks.loader.")
  print()
end

local mem_body = {}
for _, row in ipairs(memory_rows) do
  local r = row.result or {}
  mem_body[#mem_body + 1] = {
    row.name, r.rss_kb_1 and commas(r.rss_kb_1) .. " KiB" or "-", r.rss_kb_2 and commas(r.rss_kb_2) .. " KiB" or "-",
    r.rss_kb_2 and ("%+d KiB"):format(r.rss_kb_2 - r.rss_kb_1) or "-",
    r.heap_kb_2 and ("%d -> %d KiB"):format(r.heap_kb_1, r.heap_kb_2) or "-", TARGETS.memory.text, verdict(row),
  }
end
local at1, at2 = commas(size.memory[1]), commas(size.memory[2])
print_table(("memory: VmRSS inside the Lua process after a full collection, after %s and %s calls"):format(at1, at2),
            "lrrrrll", { "", "RSS @" .. at1, "RSS @" .. at2, "growth", "Lua heap", "target", "" }, mem_body)

local batch_body = {}
for _, row in ipairs(batch_rows) do
  batch_body[#batch_body + 1] = {
    row.name, row.seconds and ("%.2f s"):format(row.seconds) or "-", row.floor and ("%.2f s"):format(row.floor) or "-",
    row.vs_floor and ("%.2fx"):format(row.vs_floor) or "-", tostring(row.throttled or "-"),
    tostring(row.in_flight or "-"), tostring(row.failed or "-"),
    row.target and ("<= %.1fx, 0 throttled, 0 failed"):format(row.target) or "(retries absorb)", verdict(row),
  }
end
if #batch_rows > 0 then
  print_table(("batches: %d updates through update_many at the default pacing (10/s, burst 10), median of %d;"
               .. " floor = (40 - 10) / 10 s + one round trip"):format(BATCH.items, size.batch_runs),
              "lrrrrrrll", { "", "time", "floor", "vs floor", "throttled", "in flight", "failed", "target", "" },
              batch_body)
end

local spreads = {}
for _, row in ipairs(rows) do spreads[#spreads + 1] = row.spread end
if #spreads > 0 then
  print(("noise: spread between runs is %.1f%% for the median row, %.1f%% at worst")
        :format(median(spreads) * 100, math.max(table.unpack(spreads)) * 100))
end

---------------------------------------------------------------------------
-- JSON: the same rows with their raw samples.

local out = {
  mode = opts.mode, runs = size.runs, date = os.date("!%Y-%m-%dT%H:%M:%SZ"), cpu = cpu, cpus = cpus,
  build_type = build_type, luajit = opts.luajit, rows = {},
}
for _, row in ipairs(batch_rows) do
  out.rows[#out.rows + 1] = {
    section = "batch", name = row.name, seconds = row.seconds, floor_seconds = row.floor, vs_floor = row.vs_floor,
    samples_s = row.samples, throttled = row.throttled, max_in_flight = row.in_flight, failed = row.failed,
    target = row.target and ("<= %.1fx floor"):format(row.target), result = verdict(row) ~= "" and verdict(row) or nil,
    error = row.error,
  }
end
for _, list in ipairs { rows, memory_rows } do
  for _, row in ipairs(list) do
    out.rows[#out.rows + 1] = {
      section = row.section, name = row.name, algorithm = row.algorithm,
      calls_per_s = row.ns and math.floor(1e9 / row.ns + 0.5), us_per_call = row.ns and row.ns / 1000,
      spread = row.spread, samples_ns = #row.samples > 0 and row.samples or nil,
      vs_floor = row.vs_floor, vs_floor_of = row.vs_floor_of,   -- "time": ratio of us/call; "rate": of calls/s
      vs_floor_by_round = row.ratios,
      cpu_us_per_call = row.cpu_ns and row.cpu_ns / 1000,
      rss_kb = row.result and row.result.rss_kb_2 and { row.result.rss_kb_1, row.result.rss_kb_2 } or nil,
      lua_heap_kb = row.result and row.result.heap_kb_2 and { row.result.heap_kb_1, row.result.heap_kb_2 } or nil,
      calls = row.section == "memory" and size.memory or nil,
      target = row.target and TARGETS[row.target].text, result = verdict(row) ~= "" and verdict(row) or nil,
      error = row.error,
    }
  end
end
write_file(opts.out, cjson.encode(out) .. "\n")
print("written: " .. opts.out)
os.exit(failed and 1 or 0)
