-- Plain-Lua code (require "livepull" / "livepull.safe") inside a real nginx
-- with one worker: in a content handler it sends over cosockets, so /ping is
-- answered while a call waits on a slow emulator, with the plain module's
-- raise or nil, err and the native path's results and errors; a client made
-- in init_by_lua does the same in content; set_by_lua and log_by_lua (no
-- cosockets) and force_libcurl keep libcurl, which holds the worker.
local cjson = require "cjson"
local H = require "helpers"
local N = require "nginx.helpers"

local snippet = dofile("spec/nginx/plain_snippet.lua")
local UNKNOWN_TASK = "00000000-0000-4000-8000-00000000beef"

describe("plain livepull inside nginx", function()
  local emu, nginx
  setup(function()
    emu = H.start_emulator()
    nginx = N.start_nginx("spec/nginx/plain.conf", { workers = 1, endpoint = emu.url })
  end)
  teardown(function()
    nginx.stop()
    emu.stop()
  end)
  before_each(function() emu.reset() end)

  local function url(path, args)
    args = args or {}
    args.endpoint = args.endpoint or emu.url
    return nginx.url .. path .. "?" .. N.query(args)
  end

  -- GETs u in the background, asks the single worker for /ping 0.5 s later
  -- (a call on a 1.5 s answer then waits 1 s more); returns the seconds /ping
  -- took and the background answer (decoded).
  local function ping_while(u)
    local dir = H.tmpdir()
    H.run(("curl -s --max-time 30 %s > %s/out.json &"):format(H.sh_quote(u), dir))
    H.run("sleep 0.5")
    local t0 = H.now()
    local pong = H.run("curl -s --max-time 20 " .. nginx.url .. "/ping")
    local took = H.now() - t0
    assert.truthy(pong:find("pong"), pong)
    for _ = 1, 100 do
      local f = io.open(dir .. "/out.json")
      local text = f and f:read("a")
      if f then f:close() end
      if text and text:find("\n$") then
        local ok, out = pcall(cjson.decode, text)
        assert(ok, "not JSON from " .. u .. ": " .. text .. H.run("tail -5 " .. nginx.error_log))
        return took, out
      end
      H.run("sleep 0.1")
    end
    error("no answer from " .. u)
  end

  local function slow_answer() emu.faults { { kind = "delay", seconds = 1.5, count = 1 } } end

  it("sends over cosockets in a content handler: /ping is answered while the call waits", function()
    slow_answer()
    local took, out = ping_while(url("/plain"))
    assert.is_true(took < 1, ("/ping took %.2f s: the worker was blocked"):format(took))
    assert.is_false(out.raised)
    assert.is_string(out.result.RequestId)
    assert.are.equal(1, #emu.requests())
    -- on_attempt fires over cosockets as on libcurl
    assert.are.equal(1, #out.events)
    local ev = out.events[1]
    assert.are.equal("UpdateLivePullToPush", ev.action)
    assert.are.equal(1, ev.attempt)
    assert.are.equal(200, ev.status)
    assert.are.equal(out.result.RequestId, ev.request_id)
    assert.are.equal("fd245384-4067-4f91-9d75-9666a6bc0000", ev.task_id)
    assert.is_nil(ev.code)
    assert.is_true(ev.elapsed >= 1.4, "elapsed " .. ev.elapsed)
  end)

  -- The same snippet natively (this busted process, libcurl) and in nginx.
  local function same_error(mod, raised)
    local native = snippet(require(mod), { endpoint = emu.url, key_id = H.KEY_ID, secret = H.SECRET,
                                            task = UNKNOWN_TASK, attempts = 2 })
    local out = N.get(url("/plain", { mod = mod, task = UNKNOWN_TASK, attempts = 2 }))
    assert.are.equal(raised, native.raised)
    assert.are.equal(raised, out.raised)
    assert.is_true(out.error.is_error)
    assert.is_string(out.error.code)
    assert.are.same(native.error, out.error)
    assert.are.equal(#native.events, #out.events)
    for i, ev in ipairs(out.events) do
      assert.are.equal(native.events[i].code, ev.code)
      assert.are.equal(native.events[i].status, ev.status)
      assert.are.equal(native.events[i].retry_in == nil, ev.retry_in == nil)
    end
  end

  it("livepull raises the native path's error table (pcall gets kind and code)", function()
    same_error("livepull", true)
  end)

  it("livepull.safe returns nil, err with the same table", function()
    same_error("livepull.safe", false)
  end)

  it("on_attempt sees the native path's events across a retry", function()
    local function run(native)
      emu.reset()
      emu.faults { { kind = "error", status = 503, count = 1 } }
      if native then
        return snippet(require "livepull", { endpoint = emu.url, key_id = H.KEY_ID, secret = H.SECRET, attempts = 3 })
      end
      return N.get(url("/plain", { attempts = 3 }))
    end
    local native, out = run(true), run(false)
    assert.are.equal(2, #native.events)
    assert.are.equal(#native.events, #out.events)
    for i, ev in ipairs(out.events) do
      local want = native.events[i]
      for _, k in ipairs { "action", "attempt", "status", "code", "task_id" } do
        assert.are.equal(want[k], ev[k], k .. " of event " .. i)
      end
      assert.are.equal(want.retry_in == nil, ev.retry_in == nil, "retry_in of event " .. i)
      assert.are.equal(want.request_id == nil, ev.request_id == nil, "request_id of event " .. i)
      assert.is_number(ev.elapsed)
      assert.is_number(ev.paced)
    end
    assert.is_string(out.result.RequestId)
  end)

  it("call_many from plain Lua: input order, per-item errors, light threads, ClientClosed after close", function()
    local list = { { TaskId = "fd245384-4067-4f91-9d75-9666a6bc0000", Region = "cn-shanghai" }, { TaskId = "", Region = "cn-shanghai" } }
    local native = require("livepull.safe").new { endpoint = emu.url, rate_limit = 0, access_key_id = H.KEY_ID,
                                                  access_key_secret = H.SECRET }:update_many(list)
    local invalid = native[2].error.code
    emu.reset()
    emu.faults { { kind = "delay", seconds = 1.5, count = 100 } }
    for _, mod in ipairs { "livepull", "livepull.safe" } do
      local took, out = ping_while(url("/many", { mod = mod, n = 4, bad = 2, concurrency = 3 }))
      assert.is_true(took < 1, ("/ping took %.2f s during %s's batch"):format(took, mod))
      assert.are.same({ "ok", invalid, "ok", "ok" }, out.items)
      assert.are.equal(4, out.heard)
      assert.are.equal("ClientClosed", out.closed)
    end
    assert.are.equal(6, #emu.requests())
  end)

  it("a client made in init_by_lua sends over cosockets in a content handler", function()
    slow_answer()
    local took, out = ping_while(nginx.url .. "/init")
    assert.is_true(took < 1, ("/ping took %.2f s"):format(took))
    assert.is_string(out.result.RequestId)
  end)

  it("set_by_lua keeps libcurl: the call works and holds the worker", function()
    slow_answer()
    local took, out = ping_while(url("/set"))
    assert.is_string(out.result and out.result.RequestId, cjson.encode(out))
    assert.are.equal(1, #out.events)
    assert.is_true(took > 0.5, ("/ping took %.2f s: set_by_lua did not wait in libcurl"):format(took))
  end)

  it("log_by_lua keeps libcurl: the call works after the answer went out", function()
    assert.are.equal("later", N.get(url("/log")).logged)
    local out
    for _ = 1, 50 do
      out = N.get(nginx.url .. "/last")
      if out.result or out.error then break end
      H.run("sleep 0.1")
    end
    assert.is_string(out.result and out.result.RequestId, cjson.encode(out) .. H.run("tail -5 " .. nginx.error_log))
    assert.are.equal(1, #emu.requests())
  end)

  it("force_libcurl = true keeps a content handler's call on libcurl", function()
    slow_answer()
    local took, out = ping_while(url("/plain", { force_libcurl = 1 }))
    assert.is_string(out.result.RequestId)
    assert.is_true(took > 0.5, ("/ping took %.2f s: force_libcurl did not keep libcurl"):format(took))
  end)

  it("a credentials provider (fetched over cosockets), tasks(), prepare and credentials_info from a content handler", function()
    local creds = H.start_credentials_emulator(emu)
    creds.config { failures = { uri = "slow" }, slow_seconds = 1.5 }   -- new() waits on it
    local native = require("livepull").new { endpoint = emu.url, rate_limit = 0, access_key_id = H.KEY_ID,
                                             access_key_secret = H.SECRET }
    local expected = 0
    for _ in native:tasks { Region = "cn-shanghai", PageSize = 1 } do expected = expected + 1 end
    native:close()
    local took, out = ping_while(url("/extras", { uri = creds.url .. "/credentials" }))
    creds.stop()
    assert.is_true(took < 1, ("/ping took %.2f s: the credentials were fetched over libcurl"):format(took))
    assert.is_true(expected > 1)   -- more than one page
    assert.are.equal(expected, out.tasks)
    assert.are.equal("credentials_uri", out.provider)
    assert.is_true(out.signed)
  end)

  it("a proxy, which cosockets cannot use, fails new in a content handler and names force_libcurl", function()
    local out = N.get(url("/proxy"))
    assert.is_true(out.raised)
    assert.are.equal("InvalidConfig", out.code)
    assert.are.equal("proxy", out.field)
    assert.truthy(out.message:find("force_libcurl", 1, true), out.message)
    assert.is_nil(out.message:find("127.0.0.1:9", 1, true))   -- the proxy URL is never quoted
    -- made in init_by_lua (libcurl), the client fails each call where cosockets would send it
    assert.are.same({ sent = false, code = "InvalidConfig", field = "proxy" }, out.later)
    -- livepull.resty refuses both: a proxy it cannot use, and force_libcurl it cannot honour
    assert.are.same({ made = false, proxy = "proxy", forced = "force_libcurl" }, out.resty)
    assert.are.equal(0, #emu.requests())
  end)

  it("an ngx.timer.at callback sends over cosockets", function()
    slow_answer()
    assert.are.equal("started", N.get(url("/timer")).timer)
    H.run("sleep 0.3")
    local t0 = H.now()
    assert.truthy(H.run("curl -s --max-time 20 " .. nginx.url .. "/ping"):find("pong"))
    local took = H.now() - t0
    assert.is_true(took < 1, ("/ping took %.2f s while the timer's call waited"):format(took))
    local out
    for _ = 1, 50 do
      out = N.get(nginx.url .. "/last_timer")
      if out.result or out.error then break end
      H.run("sleep 0.1")
    end
    assert.is_string(out.result and out.result.RequestId, cjson.encode(out))
  end)

  it("outside nginx, require \"livepull\" loads none of this", function()
    local client = require("livepull.safe").new { endpoint = emu.url, access_key_id = H.KEY_ID,
                                                  access_key_secret = H.SECRET, rate_limit = 0 }
    assert.is_table(client:update { TaskId = "fd245384-4067-4f91-9d75-9666a6bc0000", Region = "cn-shanghai" })
    client:close()
    assert.is_nil(package.loaded["livepull.nginx"])
    assert.is_nil(package.loaded["livepull.resty"])
  end)
end)
