-- livepull.resty in a real nginx (Debian's nginx + libnginx-mod-http-lua),
-- started on loopback with its own prefix, in front of the emulator over
-- HTTP and HTTPS. Runs examples/nginx/nginx.conf, the config docs/nginx.md shows.
local cjson = require "cjson"
local H = require "helpers"
local N = require "nginx.helpers"

local TASK = "fd245384-4067-4f91-9d75-9666a6bc0000"
-- nginx's cosockets check the server name against DNS names only, so the
-- test certificate also names 127.0.0.1 as a DNS name.
local certs = H.make_certs("DNS:localhost,IP:127.0.0.1,DNS:127.0.0.1")

local uptime = H.now

-- examples/nginx/nginx.conf with workers in front of an emulator (emulator
-- opts) and, with credentials, a credentials emulator (N.stage).
local function example(workers, emulator, credentials)
  return N.stage { conf = "examples/nginx/nginx.conf", emulator = emulator or {}, credentials = credentials,
                   nginx = { workers = workers, ca_file = certs.ca } }
end

local get = N.get

for _, scheme in ipairs { "http", "https" } do
  describe("nginx with livepull.resty, emulator over " .. scheme, function()
    local stage = example(4, { qps = 10, tls = scheme == "https" and certs or nil })
    setup(stage.start)
    teardown(stage.stop)
    before_each(function() stage.emu.reset() end)

    it("a content handler updates a task and returns the result as JSON", function()
      local res = get(stage.nginx.url .. "/update?task=" .. TASK .. "&callback=https%3A%2F%2Fcb.example.com%2Fngx")
      assert.is_true(res.ok, cjson.encode(res))
      assert.are.equal(0, res.result.RetCode)
      assert.are.equal("https://cb.example.com/ngx", stage.emu.task(TASK).CallbackUrl)
    end)

    -- { name, path, kind, code }
    local kinds = {
      { "validation", "/fail?kind=validation", "validation", "InvalidParameter" },
      { "config", "/fail?kind=config", "config", "InvalidConfig" },
      { "transport", function() return "/fail?kind=transport&port=" .. H.closed_port() end, "transport", "CouldNotConnect" },
      { "api", "/update?task=no-such-task", "api", "CodeTaskNotExist" },
    }
    for _, k in ipairs(kinds) do
      it("a " .. k[1] .. " error comes back as a structured error table", function()
        local path = type(k[2]) == "function" and k[2]() or k[2]
        local res = get(stage.nginx.url .. path)
        assert.is_false(res.ok)
        assert.is_true(res.is_error)
        assert.are.same({ k[3], k[4] }, { res.error.kind, res.error.code })
      end)
    end

    it("a protocol error comes back as a structured error table", function()
      stage.emu.faults { { kind = "raw", status = 200, body = "<html>", content_type = "text/html" } }
      local res = get(stage.nginx.url .. "/update?task=" .. TASK)
      assert.are.same({ false, true, "protocol", "InvalidResponse" },
        { res.ok, res.is_error, res.error.kind, res.error.code })
    end)

    it("a server quoting the request back: the signature is redacted from the error", function()
      for encodings = 0, 2 do
        stage.emu.faults { { kind = "echo", encode = encodings } }
        local res = get(stage.nginx.url .. "/update?task=" .. TASK)
        assert.are.same({ false, "api", "GatewayError" }, { res.ok, res.error.kind, res.error.code })
        assert.truthy(res.error.message:find("x-acs-signature-nonce", 1, true), res.error.message)
        local rest = res.error.message:gsub("<redacted>", "")
        assert.is_nil(rest:find("Signature=%x") or rest:find("Signature%%3D%x") or rest:find("Signature%%253D%x"),
          res.error.message)
      end
    end)

    for _, framing in ipairs { "chunked", "close" } do
      it("reads a " .. framing .. "-framed answer over the cosocket", function()
        stage.emu.faults { { kind = "raw", status = 200, framing = framing, content_type = "application/json",
          body = '{"RequestId":"FRAMED-2","RetCode":0,"Description":"OK"}' } }
        local res = get(stage.nginx.url .. "/update?task=" .. TASK)
        assert.is_true(res.ok, cjson.encode(res))
        assert.are.equal("FRAMED-2", res.result.RequestId)
        assert.is_true(get(stage.nginx.url .. "/update?task=" .. TASK).ok)
      end)
    end

    it("client:apply stops, updates and restarts a running task only when allowed", function()
      local running = "demo-running-0001"
      local base = stage.nginx.url .. "/apply?task=" .. running .. "&region=cn-beijing&offset=6"
      local res = get(base)
      assert.are.same({ false, "TaskRunning", {} }, { res.ok, res.error.code, res.error.steps })
      res = get(base .. "&restart=1")
      assert.are.same({ true, true, "running" }, { res.ok, res.changed, res.state })
      assert.are.same({ "StopLivePullToPush", "UpdateLivePullToPush", "RestartLivePullToPush" }, res.steps)
      assert.are.same({ "running", 6 }, { stage.emu.task(running).State, stage.emu.task(running).Offset })
      res = get(base .. "&restart=1")
      assert.are.same({ true, false }, { res.ok, res.changed })
      res = get(stage.nginx.url .. "/apply?task=no-such-task&offset=6")
      assert.are.same({ false, "CodeTaskNotExist" }, { res.ok, res.error.code })
    end)

    it("retries a throttled answer with ngx.sleep and succeeds", function()
      stage.emu.faults { { kind = "throttle", time_left_ms = 100, count = 2 } }
      local res = get(stage.nginx.url .. "/update?task=" .. TASK)
      assert.is_true(res.ok, cjson.encode(res))
      assert.are.equal(3, #stage.emu.requests())
    end)

    it("a timeout is a transport error and the worker stays healthy", function()
      stage.emu.faults { { kind = "delay", seconds = 2, count = 3 } }
      local res = get(stage.nginx.url .. "/update?timeout=0.3&task=" .. TASK)
      assert.are.same({ "transport", "Timeout" }, { res.error.kind, res.error.code })
      assert.is_true(get(stage.nginx.url .. "/ping").pong)
      -- The emulator still finishes those delayed requests (and counts them
      -- against its QPS window): let them drain before the next case.
      H.run("sleep 2")
    end)

    it("a body that never ends stops at the call's timeout, not per read", function()
      stage.emu.faults { { kind = "endless", count = 3 } }
      local t0 = uptime()
      local res = get(stage.nginx.url .. "/update?timeout=0.5&task=" .. TASK)
      assert.are.same({ "transport", "Timeout" }, { res.error.kind, res.error.code })
      assert.is_true(uptime() - t0 < 3, "took " .. (uptime() - t0))
    end)

    it("4 workers hammering updates stay under the shared 10 QPS: zero throttling at the emulator", function()
      local procs = {}
      local t0 = uptime()
      for w = 1, 4 do
        local urls = {}
        for i = 1, 12 do urls[i] = H.sh_quote(stage.nginx.url .. "/update?task=" .. TASK .. "&n=" .. w .. "-" .. i) end
        procs[w] = io.popen("curl -s --no-progress-meter --parallel --parallel-max 3 " .. table.concat(urls, " ") .. " 2>/dev/null")
      end
      local ok_count = 0
      for _, p in ipairs(procs) do
        for line in p:read("*a"):gmatch("[^\n]+") do
          if cjson.decode(line).ok then ok_count = ok_count + 1 end
        end
        p:close()
      end
      local took = uptime() - t0
      local throttled = H.throttled(stage.emu.requests())
      assert.are.equal(48, ok_count)
      assert.are.equal(0, throttled)
      assert.is_true(took >= 48 / 8 - 1.2, ("48 updates took only %.2f s"):format(took))
      print(("\n  nginx %s: 48 updates from 4 workers in %.2f s, throttled %d"):format(scheme, took, throttled))
    end)

    it("without the shared dict each worker paces alone and the emulator throttles (control)", function()
      local procs = {}
      for w = 1, 4 do
        local urls = {}
        for i = 1, 8 do urls[i] = H.sh_quote(stage.nginx.url .. "/update?shared=0&task=" .. TASK .. "&n=" .. w .. "-" .. i) end
        procs[w] = io.popen("curl -s --no-progress-meter --parallel --parallel-max 4 " .. table.concat(urls, " ") .. " 2>/dev/null")
      end
      for _, p in ipairs(procs) do p:read("*a"); p:close() end
      local throttled = H.throttled(stage.emu.requests())
      assert.is_true(throttled > 0)
    end)
  end)
end

describe("nginx with one worker", function()
  it("answers another location while an update waits 2 s on the emulator (the worker is not blocked)", function()
    local stage = example(1)
    finally(stage.stop)
    stage.start()
    local emu, nginx = stage.emu, stage.nginx
    emu.faults { { kind = "delay", seconds = 2 } }
    local t0 = uptime()
    local slow = io.popen("curl -s " .. H.sh_quote(nginx.url .. "/update?task=" .. TASK))
    H.run("sleep 0.3")   -- the update is in flight
    local t1 = uptime()
    assert.is_true(get(nginx.url .. "/ping").pong)
    local ping_took = uptime() - t1
    local res = cjson.decode(slow:read("*a"))
    slow:close()
    assert.is_true(res.ok, cjson.encode(res))
    assert.is_true(uptime() - t0 >= 2)
    assert.is_true(ping_took < 0.5, ("ping took %.2f s"):format(ping_took))
    print(("\n  one worker: /ping answered in %.3f s while the update waited 2 s"):format(ping_took))
  end)
end)

describe("nginx credentials over cosockets", function()
  local stage = example(1, nil, true)
  local emu, creds, nginx
  setup(function()
    stage.start()
    emu, creds, nginx = stage.emu, stage.creds, stage.nginx
  end)
  teardown(stage.stop)

  it("resolves the ECS RAM role at the first call, once for 8 concurrent calls, /ping answered meanwhile", function()
    creds.config { failures = { imds = "slow" }, slow_seconds = 1, lifetime = 4 }
    local slow = io.popen("curl -s " .. H.sh_quote(nginx.url .. "/ecs?n=8&task=" .. TASK))
    H.run("sleep 0.5")   -- the metadata requests are in flight
    local t1 = uptime()
    assert.is_true(get(nginx.url .. "/ping").pong)
    local ping_took = uptime() - t1
    local res = cjson.decode(slow:read("*a"))
    slow:close()
    assert.are.same({}, res.failed)
    assert.are.equal(8, res.ok)
    assert.are.equal("ecs_ram_role", res.provider)
    assert.matches("^STS%.mi%.%.%.$", res.key)
    local stats = creds.stats()
    assert.are.equal(1, stats.issued.imds)       -- one refresh, not eight
    assert.are.equal(3, stats.received.imds)     -- token, role name, credentials
    assert.is_true(ping_took < 0.5, ("ping took %.2f s"):format(ping_took))
    print(("\n  nginx: /ping answered in %.3f s while 8 calls waited on one slow metadata refresh"):format(ping_took))
  end)

  it("refreshes a short-lived credential in the worker before it expires", function()
    creds.config { failures = { imds = cjson.null } }
    emu.reset()
    local seen = {}
    for _ = 1, 4 do
      local res = get(nginx.url .. "/ecs?task=" .. TASK)
      assert.are.equal(1, res.ok, cjson.encode(res))
      H.run("sleep 1.2")
    end
    for _, r in ipairs(emu.requests()) do seen[r.access_key_id] = true end
    local distinct = 0
    for _ in pairs(seen) do distinct = distinct + 1 end
    assert.is_true(distinct >= 2, "the worker never re-keyed")
  end)
end)

describe("nginx workers sharing credentials through the shared dict", function()
  it("4 workers fetch the ECS role's credentials once, and refresh them once", function()
    local stage = example(4, nil, true)
    finally(stage.stop)
    stage.start()
    local emu, creds, nginx = stage.emu, stage.creds, stage.nginx
    creds.config { lifetime = 6 }
    local function burst(tag)
      local urls = {}
      for i = 1, 24 do urls[i] = H.sh_quote(nginx.url .. "/ecs?task=" .. TASK .. "&n=" .. tag .. i) end
      local p = io.popen("curl -s --no-progress-meter --parallel --parallel-max 8 " .. table.concat(urls, " "))
      local ok, workers, keys = 0, {}, {}
      for line in p:read("*a"):gmatch("[^\n]+") do
        local res = cjson.decode(line)
        ok = ok + res.ok
        workers[res.worker] = true
        keys[res.key] = true
      end
      p:close()
      local nworkers, nkeys = 0, 0
      for _ in pairs(workers) do nworkers = nworkers + 1 end
      for _ in pairs(keys) do nkeys = nkeys + 1 end
      return ok, nworkers, nkeys
    end
    local ok, nworkers, nkeys = burst("a")
    assert.are.equal(24, ok)
    assert.is_true(nworkers >= 2, "only one worker answered; the case shows nothing")
    assert.are.equal(1, nkeys)
    assert.are.equal(1, creds.stats().issued.imds)
    H.run("sleep 4.5")   -- stale with less than a third of 6 s left
    ok, nworkers, nkeys = burst("b")
    assert.are.equal(24, ok)
    assert.are.equal(1, nkeys)
    assert.are.equal(2, creds.stats().issued.imds)
    print(("\n  nginx: %d workers shared one metadata fetch and one refresh"):format(nworkers))
  end)
end)
