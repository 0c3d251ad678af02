-- livepull.resty's update_many in a real nginx against the emulator: input
-- order, per-item errors, the concurrency bound, pacing at a 10 QPS
-- emulator with zero throttling, on_result stopping the batch, a closed
-- client; and /ping answered by the same worker while a batch waits.
local cjson = require "cjson"
local H = require "helpers"
local N = require "nginx.helpers"

describe("livepull.resty update_many", function()
  local stage = N.stage { emulator = { qps = 10 } }
  setup(stage.start)
  teardown(stage.stop)
  before_each(function() stage.emu.reset() end)

  local function many(args)
    args.endpoint = stage.emu.url
    return N.get(stage.nginx.url .. "/many?" .. N.query(args), 60)
  end

  it("answers every item in input order, an invalid one without sending it, within the bound", function()
    stage.emu.faults { { kind = "delay", seconds = 0.3, count = 100 } }
    local out = many { n = 9, concurrency = 3, bad = 4 }
    assert.are.equal(9, #out.items)
    for i, item in ipairs(out.items) do
      assert.are.equal(i == 4 and "InvalidParameter" or "ok", item, "item " .. i)
    end
    assert.are.equal(9, out.heard)
    local reqs = stage.emu.requests()
    assert.are.equal(8, #reqs)
    local most = H.max_overlap(reqs)
    assert.is_true(most >= 2 and most <= 3, "in flight at once: " .. most)
    assert.are.equal("ClientClosed", out.closed)
  end)

  it("paces the batch: rate 8, burst 1 at a 10 QPS emulator sees no throttling", function()
    local out = many { n = 16, rate = 8, burst = 1 }
    for i, item in ipairs(out.items) do assert.are.equal("ok", item, "item " .. i) end
    assert.are.equal(0, H.throttled(stage.emu.requests()), "throttling answers")
  end)

  it("on_result returning false stops new items with Cancelled", function()
    stage.emu.faults { { kind = "delay", seconds = 0.2, count = 100 } }
    local out = many { n = 10, concurrency = 2, stop_after = 3 }
    local sent, cancelled = 0, 0
    for _, item in ipairs(out.items) do
      if item == "ok" then sent = sent + 1 elseif item == "Cancelled" then cancelled = cancelled + 1 end
    end
    assert.are.equal(10, sent + cancelled)
    assert.is_true(sent >= 3 and sent <= 4, "sent " .. sent)
    assert.are.equal(sent, #stage.emu.requests())
  end)

  it("the worker answers /ping while a batch waits on the emulator", function()
    stage.emu.faults { { kind = "delay", seconds = 1.5, count = 100 } }
    local dir = H.tmpdir()
    H.run(("curl -s --max-time 30 %s > %s/many.json &"):format(
      H.sh_quote(stage.nginx.url .. "/many?" .. N.query { endpoint = stage.emu.url, n = 4, concurrency = 4 }), dir))
    H.run("sleep 0.3")
    local t0 = H.now()
    local pong = H.run("curl -s --max-time 5 " .. stage.nginx.url .. "/ping")
    local took = H.now() - t0
    assert.truthy(pong:find("pong"))
    assert.is_true(took < 1, ("/ping took %.2f s"):format(took))
    for _ = 1, 60 do
      local text = H.read_file(dir .. "/many.json", true)
      if text and text:find("items") then
        assert.are.equal(4, #cjson.decode(text).items)
        return
      end
      H.run("sleep 0.2")
    end
    error("the batch never answered")
  end)
end)
