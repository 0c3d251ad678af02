-- livepull.resty against servers that trickle, flood or pad their answers:
-- every read stays inside the call's timeout, every line and the header
-- block are capped, header parsing is linear, and the worker keeps serving.
local H = require "helpers"
local N = require "nginx.helpers"

local uptime = H.now

-- { mode, what it must come back as }; every call has timeout = 2.
local cases = {
  { "trickle-status", "transport", "Timeout" },
  { "trickle-headers", "transport", "Timeout" },
  { "trickle-body", "transport", "Timeout" },
  { "trickle-chunk", "transport", "Timeout" },
  { "trickle-trailer", "transport", "Timeout" },
  { "long-status", "protocol", "ResponseTooLarge" },
  { "long-header", "protocol", "ResponseTooLarge" },
  { "many-headers", "protocol", "ResponseTooLarge" },
  { "long-chunk-size", "protocol", "ResponseTooLarge" },
  { "many-trailers", "protocol", "ResponseTooLarge" },
  { "huge-chunk", "protocol", "ResponseTooLarge" },
  { "huge-length", "protocol", "ResponseTooLarge" },
  { "two-lengths", "protocol", "InvalidResponse" },
}

local workers_peak_kib = N.workers_peak_kib

describe("nginx with livepull.resty against hostile servers", function()
  local listeners = { ok = "ok", spaces = "spaces", ["one-per-conn"] = "one-per-conn" }
  for _, c in ipairs(cases) do listeners[c[1]] = c[1] end
  local stage = N.stage { hostile = listeners }
  setup(stage.start)
  teardown(stage.stop)
  local call, url = stage.call, stage.url

  for _, c in ipairs(cases) do
    it(c[1] .. ": " .. c[2] .. " " .. c[3] .. " within the call's 2 s", function()
      local t0 = uptime()
      local res = call { endpoint = url(c[1]), timeout = 2 }
      local took = uptime() - t0
      assert.is_false(res.ok, require("cjson").encode(res))
      assert.are.same({ c[2], c[3] }, { res.error.kind, res.error.code })
      assert.is_true(took < 3.5, ("took %.2f s"):format(took))
      assert.is_true(call({ endpoint = url("ok") }).ok, "the worker serves the next call")
    end)
  end

  it("a pooled connection the server closes without answering is replaced once, not failed", function()
    for i = 1, 3 do   -- from the second call on, the pooled connection is the dead one
      local res = call { endpoint = url("one-per-conn") }
      assert.is_true(res.ok, "call " .. i .. ": " .. require("cjson").encode(res))
    end
  end)

  it("the capped floods keep the worker's memory small", function()
    local peak = workers_peak_kib(stage.nginx)
    print(("\n  nginx worker peak RSS after the floods: %d KiB"):format(peak))
    assert.is_true(peak < 128 * 1024, peak .. " KiB")
  end)

  it("parses 64 KB of space-padded header lines without blocking the worker", function()
    local slow = io.popen("curl -s " .. H.sh_quote(stage.nginx.url .. "/call?" .. N.query { endpoint = url("spaces") }))
    H.run("sleep 0.2")   -- the call is in flight
    local t0 = uptime()
    assert.is_true(N.get(stage.nginx.url .. "/ping").pong)
    local ping_took = uptime() - t0
    local res = require("cjson").decode(slow:read("*a"))
    slow:close()
    assert.is_true(res.ok, require("cjson").encode(res))
    assert.is_true(ping_took < 1, ("/ping waited %.2f s"):format(ping_took))
    print(("\n  padded headers: call %.3f s, /ping meanwhile %.3f s"):format(res.took, ping_took))
  end)
end)
