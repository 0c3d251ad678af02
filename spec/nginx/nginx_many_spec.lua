-- livepull.resty's update_many in a real nginx against the emulator: input
-- order, per-item errors, the concurrency bound, pacing at a 10 QPS
-- emulator with zero throttling, on_result stopping the batch, a closed
-- client; and /ping answered by the same worker while a batch waits.
local cjson = require "cjson"
local H = require "helpers"
local N = require "nginx.helpers"

local function seconds(iso)
  local h, m, s = iso:match("T(%d+):(%d+):([%d.]+)Z$")
  return tonumber(h) * 3600 + tonumber(m) * 60 + tonumber(s)
end

-- The most requests the emulator served at one moment (its log has ms start
-- times, so each interval is taken 3 ms shorter).
local function max_overlap(requests)
  local edges = {}
  for _, r in ipairs(requests) do
    local t = seconds(r.time)
    edges[#edges + 1] = { t, 1 }
    edges[#edges + 1] = { t + r.duration_ms / 1000 - 0.003, -1 }
  end
  table.sort(edges, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
  local now, most = 0, 0
  for _, e in ipairs(edges) do
    now = now + e[2]
    most = math.max(most, now)
  end
  return most
end

describe("livepull.resty update_many", function()
  local emu, nginx
  setup(function()
    emu = H.start_emulator { qps = 10 }
    nginx = N.start_nginx("spec/nginx/test.conf", { workers = 1 })
  end)
  teardown(function()
    nginx.stop()
    emu.stop()
  end)
  before_each(function() emu.reset() end)

  local function many(args)
    args.endpoint = emu.url
    return N.get(nginx.url .. "/many?" .. N.query(args), 60)
  end

  it("answers every item in input order, an invalid one without sending it, within the bound", function()
    emu.faults { { kind = "delay", seconds = 0.3, count = 100 } }
    local out = many { n = 9, concurrency = 3, bad = 4 }
    assert.are.equal(9, #out.items)
    for i, item in ipairs(out.items) do
      assert.are.equal(i == 4 and "InvalidParameter" or "ok", item, "item " .. i)
    end
    assert.are.equal(9, out.heard)
    local reqs = emu.requests()
    assert.are.equal(8, #reqs)
    local most = max_overlap(reqs)
    assert.is_true(most >= 2 and most <= 3, "in flight at once: " .. most)
    assert.are.equal("ClientClosed", out.closed)
  end)

  it("paces the batch: rate 8, burst 1 at a 10 QPS emulator sees no throttling", function()
    local out = many { n = 16, rate = 8, burst = 1 }
    for i, item in ipairs(out.items) do assert.are.equal("ok", item, "item " .. i) end
    for _, r in ipairs(emu.requests()) do
      assert.is_falsy(type(r.code) == "string" and r.code:match("^Throttling"), "a throttling answer")
    end
  end)

  it("on_result returning false stops new items with Cancelled", function()
    emu.faults { { kind = "delay", seconds = 0.2, count = 100 } }
    local out = many { n = 10, concurrency = 2, stop_after = 3 }
    local sent, cancelled = 0, 0
    for _, item in ipairs(out.items) do
      if item == "ok" then sent = sent + 1 elseif item == "Cancelled" then cancelled = cancelled + 1 end
    end
    assert.are.equal(10, sent + cancelled)
    assert.is_true(sent >= 3 and sent <= 4, "sent " .. sent)
    assert.are.equal(sent, #emu.requests())
  end)

  it("the worker answers /ping while a batch waits on the emulator", function()
    emu.faults { { kind = "delay", seconds = 1.5, count = 100 } }
    local dir = H.tmpdir()
    H.run(("curl -s --max-time 30 %s > %s/many.json &"):format(
      H.sh_quote(nginx.url .. "/many?" .. N.query { endpoint = emu.url, n = 4, concurrency = 4 }), dir))
    H.run("sleep 0.3")
    local t0 = H.now()
    local pong = H.run("curl -s --max-time 5 " .. nginx.url .. "/ping")
    local took = H.now() - t0
    assert.truthy(pong:find("pong"))
    assert.is_true(took < 1, ("/ping took %.2f s"):format(took))
    for _ = 1, 60 do
      local f = io.open(dir .. "/many.json")
      local text = f and f:read("a")
      if f then f:close() end
      if text and text:find("items") then
        assert.are.equal(4, #cjson.decode(text).items)
        return
      end
      H.run("sleep 0.2")
    end
    error("the batch never answered")
  end)
end)
