-- A client closed, or called again, from a finalizer in the middle of its own
-- call: each call keeps its own request state, the client's memory lives
-- until the last call on it ends, and nothing crashes or mixes two calls.
-- The probes run in a fresh process with a small heap, where an aggressive
-- collector runs a chain of finalizers at every point of a call.
local H = require "helpers"

-- Lua run by each probe before its own code: a client config for the
-- emulator, and at_cycle(n, fn), which runs fn in the n-th finalizer of a
-- chain (each finalizer arms the next one).
local PRELUDE = [[
local livepull = require(%q)
local URL, KEY, SECRET = %q, %q, %q
local function config() return { endpoint = URL, access_key_id = KEY, access_key_secret = SECRET,
  rate_limit = 0, retry_base_delay = 0, timeout = 5 } end
local function on_gc(fn)
  if newproxy then local p = newproxy(true); getmetatable(p).__gc = fn
  else setmetatable({}, { __gc = fn }) end
end
local function at_cycle(n, fn)
  local state = { done = false }
  local function step() n = n - 1; if n <= 0 then state.done = true; fn() else on_gc(step) end end
  on_gc(step)
  return state
end
-- Full collections until the chain has run out (one link per cycle).
local function drain(state)
  for _ = 1, 200 do if state.done then return end; collectgarbage("collect") end
  error("the finalizer chain never ended")
end
-- The collector as eager as each Lua allows while staying incremental: a
-- pause of 0 runs cycle after cycle (hundreds in one decode on 5.1 and
-- LuaJIT), but Lua 5.2 and 5.3 then pay off a whole cycle's debt in one
-- step, a full collection at every allocation (7 s per probe call on 5.2,
-- minutes per spec); a pause of 100 starts each cycle once the heap has
-- grown at all, still 13-21 cycles in one decode there.
collectgarbage("setpause", (_VERSION == "Lua 5.2" or _VERSION == "Lua 5.3") and 100 or 0)
collectgarbage("setstepmul", 1000)
local TASK_A, TASK_B = "fd245384-4067-4f91-9d75-9666a6bc0000", "demo-stopped-0001"
local function params_a(cb) return { TaskId = TASK_A, Region = "cn-shanghai", CallbackUrl = cb } end
local function params_b(cb) return { TaskId = TASK_B, Region = "cn-shanghai", CallbackUrl = cb } end
local function callback_of(c, task)
  local res = assert(c:describe { TaskId = task, Region = "cn-shanghai" })
  return res.TaskInfo.CallbackURL
end
]]

local function probe(emu, module, code)
  local script = PRELUDE:format(module, emu.url, H.KEY_ID, H.SECRET) .. code
  local out, ok, status = H.run(H.lua_command(script) .. " 2>&1")
  assert(ok, ("the probe process failed (exit %s):\n%s"):format(tostring(status), out))
  return out
end

-- The probes' answers are large, so that decoding one runs many collection
-- cycles, and with them the finalizer chain, in the middle of the call.
local PAD = ('"Pad":[' .. ('{"a":1},'):rep(20000) .. '{"a":1}]')

-- The faults as a file, for curl: too large for a command line.
local function fault_file(status, body, count)
  local path = H.tmpdir() .. "/fault.json"
  local f = assert(io.open(path, "w"))
  f:write(require("cjson").encode { faults = { { kind = "raw", status = status, body = body,
    content_type = "application/json", count = count } } })
  f:close()
  return path
end

local function set_faults(emu, path)
  local _, ok = H.run("curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @" ..
    path .. " " .. emu.url .. "/_emulator/faults")
  assert(ok, "could not set the emulator's faults")
end

describe("a client closed during its own call", function()
  local emu
  setup(function() emu = H.start_emulator() end)
  teardown(function() emu.stop() end)
  before_each(function() emu.reset() end)   -- faults a probe left unused go too

  for _, module in ipairs { "livepull.safe", "livepull" } do
    it("finishes the call or fails it with ClientClosed (" .. module .. ")", function()
      set_faults(emu, fault_file(200, '{"RequestId":"big","RetCode":0,' .. PAD .. '}', 40))
      local out = probe(emu, module, [[
local closed_inside, results = 0, {}
for n = 1, 40 do
  local c = livepull.new(config())
  local inside = false
  local chain = at_cycle(n % 8 + 1, function() if inside then closed_inside = closed_inside + 1 end; c:close() end)
  inside = true
  local ok, res, err = pcall(c.update, c, params_a("https://cb.example.com/n" .. n))
  inside = false
  if ok and res then results[#results + 1] = "ok"
  else
    local e = ok and err or res
    results[#results + 1] = type(e) == "table" and e.code or ("raw:" .. tostring(e))
  end
  drain(chain)   -- the client is closed by now
  local ok2, res2, err2 = pcall(c.update, c, params_a("https://cb.example.com/after"))
  local e2 = ok2 and err2 or res2
  assert(type(e2) == "table" and e2.code == "ClientClosed", "a closed client must refuse calls")
end
print("closed_inside=" .. closed_inside)
print("results=" .. table.concat(results, ","))
]])
      local inside = tonumber(out:match("closed_inside=(%d+)"))
      assert.is_true(inside and inside > 0, "no close ever ran inside a call:\n" .. out)
      local results = out:match("results=(%S+)")
      assert.is_truthy(results, out)
      for r in results:gmatch("[^,]+") do
        assert.is_true(r == "ok" or r == "ClientClosed", "unexpected outcome " .. r)
      end
    end)
  end

  it("a call made from a finalizer during another, and the outer call's retry, send their own parameters", function()
    local body = fault_file(500, '{"RequestId":"big","Code":"InternalError","Message":"x",' .. PAD .. '}', 1)
    local out = probe(emu, "livepull.safe", ([[
local c = livepull.new(config())
local checker = livepull.new(config())
local inner_ran = 0
for n = 1, 24 do
  os.execute("curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @%s %s")
  local outer_cb, inner_cb = "https://outer.example.com/" .. n, "https://inner.example.com/" .. n
  local inner_ok
  local chain = at_cycle(n %% 8 + 1, function()
    inner_ran = inner_ran + 1
    local r = c:update(params_b(inner_cb))
    inner_ok = r ~= nil and r.RetCode == 0
  end)
  local res, err = c:update(params_a(outer_cb))
  assert(res and res.RetCode == 0, "the outer call failed: " .. tostring(err))
  drain(chain)
  local got = callback_of(checker, TASK_A)
  assert(got == outer_cb, ("task A did not get the outer call's parameters: %%s, not %%s (inner: %%s)"):format(tostring(got), outer_cb, tostring(inner_ok)))
  if inner_ok then
    assert(callback_of(checker, TASK_B) == inner_cb, "task B did not get the inner call's parameters")
  end
end
print("inner_ran=" .. inner_ran)
]]):format(body, emu.url .. "/_emulator/faults"))
    assert.is_true(tonumber(out:match("inner_ran=(%d+)") or "0") > 0, out)
  end)
end)

describe("core.sign reads only what it checked", function()
  local core = require "livepull.core"
  local function spec(query)
    return { algorithm = "ACS3-HMAC-SHA256", method = "GET", host = "live.aliyuncs.com",
             action = "DescribeLivePullToPush", version = "2016-11-01", access_key_id = "id",
             access_key_secret = "secret", nonce = "n", timestamp = "2030-01-01T00:00:00Z", query = query }
  end
  for _, query in ipairs { { 5 }, { "x" }, { true }, { print }, { { 1, 2 } }, { { "a" } }, "notatable" } do
    it("refuses query = " .. tostring(type(query) == "table" and query[1] or query) .. " with an argument error", function()
      local ok, err = pcall(core.sign, spec(query))
      assert.is_false(ok)
      assert.is_truthy(tostring(err):match("query") or tostring(err):match("table"))
    end)
  end
end)
