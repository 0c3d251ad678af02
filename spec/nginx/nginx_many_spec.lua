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

  it("on_attempt hears every attempt with the native path's fields, never a parameter value", function()
    stage.emu.faults { { kind = "error", status = 503, code = "ServiceUnavailable", message = "later" } }
    local out = many { n = 2, concurrency = 1, hook = "record" }
    assert.are.same({ "ok", "ok" }, out.items)
    assert.are.equal(3, #out.events)   -- the first item's 503, its retry, the second item
    local first, second = out.events[1], out.events[2]
    assert.are.same({ "UpdateLivePullToPush", 1, 503, "ServiceUnavailable" },
                    { first.action, first.attempt, first.status, first.code })
    assert.is_true(first.retry_in >= 0 and first.elapsed >= 0 and first.paced >= 0)
    assert.are.equal("fd245384-4067-4f91-9d75-9666a6bc0000", first.task_id)
    assert.are.same({ 2, 200 }, { second.attempt, second.status })
    assert.is_nil(second.code)
    assert.is_nil(second.retry_in)
    assert.are.equal("string", type(second.request_id))
    local fields = { action = 1, attempt = 1, status = 1, code = 1, request_id = 1, elapsed = 1, paced = 1,
                     retry_in = 1, task_id = 1 }
    for _, ev in ipairs(out.events) do
      for k in pairs(ev) do assert.truthy(fields[k], "unexpected field " .. k) end
    end
  end)

  it("an on_attempt that raises changes nothing", function()
    local out = many { n = 4, concurrency = 2, hook = "raise" }
    assert.are.same({ "ok", "ok", "ok", "ok" }, out.items)
    assert.are.equal(4, #out.events)
  end)

  for _, hook in ipairs { "close", "close_raise" } do
    it("an on_attempt that closes the client (" .. hook .. "): the rest ClientClosed, nothing sent after it", function()
      stage.emu.faults { { kind = "delay", seconds = 0.2, count = 100 } }
      local out = many { n = 8, concurrency = 2, hook = hook }
      local ok, closed = 0, 0
      for _, item in ipairs(out.items) do
        if item == "ok" then ok = ok + 1 elseif item == "ClientClosed" then closed = closed + 1 end
      end
      assert.are.equal(8, ok + closed, table.concat(out.items, ","))
      assert.is_true(ok >= 1 and ok <= 2, table.concat(out.items, ","))
      assert.are.equal(ok, #stage.emu.requests())
      assert.are.equal("ClientClosed", out.closed)
    end)
  end

  it("an on_attempt that closes the client before a retry: no retry is sent, ClientClosed as natively", function()
    stage.emu.faults { { kind = "error", status = 503, code = "ServiceUnavailable", message = "later", count = 2 } }
    local out = many { n = 4, concurrency = 2, hook = "close_on_retry" }
    assert.are.same({ "ClientClosed", "ClientClosed", "ClientClosed", "ClientClosed" }, out.items)
    assert.are.same({ 1, 1, 0, 0 }, out.attempts)
    assert.are.equal(2, #stage.emu.requests())
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
