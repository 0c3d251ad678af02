-- livepull.resty's pacing in a real nginx, measured at a server that logs
-- when each request arrives: a call is validated before it takes a slot;
-- buckets outlive clients, per endpoint, AccessKeyId, rate and burst, with
-- or without a shared dict; max_pacing_wait bounds a wait; the buckets run
-- on the monotonic clock, so a wall-clock step back (libfaketime) does not
-- stall them.
local cjson = require "cjson"
local H = require "helpers"
local N = require "nginx.helpers"

local FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

-- Each case uses a rate of its own, so buckets never carry over between cases.
local next_rate = 1.9
local function fresh_rate(base)
  next_rate = next_rate + 0.001
  return (base or 2) + (next_rate - 1.9)
end

local function span(arrivals)
  return arrivals[#arrivals].t - arrivals[1].t
end

for _, store in ipairs { "shared dict", "worker" } do
  describe("nginx pacing with the " .. store .. " bucket", function()
    local shared = store == "shared dict" and "livepull" or nil
    local stage = N.stage { hostile = { ok = "ok", other = "ok" } }
    setup(stage.start)
    teardown(stage.stop)

    local function call(args)
      args.endpoint = args.endpoint or stage.url("ok")
      args.shared = shared
      return stage.call(args)
    end
    local function arrivals(name)
      return N.get(stage.url(name or "ok") .. "/_log")
    end

    it("paces clients made per request: 4 calls at 2/s arrive over at least 1.4 s", function()
      arrivals()
      local rate = fresh_rate(2)
      for _ = 1, 4 do assert.is_true(call({ rate = rate, burst = 1 }).ok) end
      local log = arrivals()
      assert.are.equal(4, #log)
      assert.is_true(span(log) >= 1.4, ("4 calls at 2/s arrived within %.2f s"):format(span(log)))
    end)

    it("an invalid call takes no slot: 5 refused calls return at once and the next valid one goes out at once", function()
      local rate = fresh_rate(1)
      for _ = 1, 5 do
        local res = call { rate = rate, burst = 1, region = "mars" }
        assert.are.same({ "validation", "InvalidParameter" }, { res.error.kind, res.error.code })
        assert.is_true(res.took < 0.3, ("a refused call took %.2f s"):format(res.took))
      end
      local res = call { rate = rate, burst = 1 }
      assert.is_true(res.ok, cjson.encode(res))
      assert.is_true(res.took < 0.3, ("the first valid call took %.2f s"):format(res.took))
    end)

    -- { what differs, args of the second call }
    local apart = {
      { "another AccessKeyId", { account = "2" } },
      { "another rate", { rate_delta = 0.5 } },
      { "another burst", { burst = 2 } },
      { "another endpoint", { endpoint_name = "other" } },
    }
    for _, c in ipairs(apart) do
      it("a call with " .. c[1] .. " does not wait for the first one's bucket", function()
        local rate = fresh_rate(0.5)
        assert.is_true(call({ rate = rate, burst = 1 }).ok)
        local res = call { rate = rate + (c[2].rate_delta or 0), burst = c[2].burst or 1, account = c[2].account,
          endpoint = c[2].endpoint_name and stage.url(c[2].endpoint_name) }
        assert.is_true(res.ok, cjson.encode(res))
        assert.is_true(res.took < 0.3, ("took %.2f s"):format(res.took))
        -- control: the same bucket again waits for its slot
        res = call { rate = rate, burst = 1 }
        assert.is_true(res.ok and res.took > 1, cjson.encode(res))
      end)
    end

    it("a slot further away than max_pacing_wait fails at once with PacingTimeout and is not spent", function()
      local rate = fresh_rate(0.1)   -- a slot every 10 s
      assert.is_true(call({ rate = rate, burst = 1, max_wait = 2 }).ok)
      N.expect_unspent_refusals(function() return call { rate = rate, burst = 1, max_wait = 2 } end)
    end)
  end)
end

describe("nginx pacing across a wall-clock step back", function()
  it("keeps refilling the buckets when the wall clock jumps back an hour", function()
    local offset = os.tmpname()   -- libfaketime reads the offset from here, as the workers' user
    H.run("chmod 644 " .. offset)
    local f = assert(io.open(offset, "w")); f:write("+0\n"); f:close()
    local stage = N.stage { hostile = { ok = "ok" }, nginx = { preload =
      ("LD_PRELOAD=%s FAKETIME_TIMESTAMP_FILE=%s FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1")
        :format(FAKETIME, offset) } }
    finally(function() os.remove(offset); stage.stop() end)
    stage.start()
    local ok_url = stage.url("ok")
    for _, shared in ipairs { "livepull", false } do
      local function call() return stage.call { endpoint = ok_url, rate = 2, burst = 1, shared = shared or nil } end
      f = assert(io.open(offset, "w")); f:write("+0\n"); f:close()
      assert.is_true(call().ok)   -- the bucket's state is written before the step
      f = assert(io.open(offset, "w")); f:write("-3600\n"); f:close()
      local clock = N.get(stage.nginx.url .. "/clock")
      assert.is_true(os.time() - clock.wall > 3500, "libfaketime did not move nginx's wall clock")
      N.get(ok_url .. "/_log")
      for _ = 1, 6 do assert.is_true(call().ok) end
      local log = N.get(ok_url .. "/_log")
      -- 6 calls at 2/s: about 2.5-3 s; a bucket on the wall clock never
      -- refills after the step and waits 0.5, 1, 1.5, ... s (10.5 s).
      assert.is_true(span(log) < 5, ("%s: 6 calls at 2/s took %.2f s after the step"):format(
        shared and "shared dict" or "worker", span(log)))
    end
  end)
end)
