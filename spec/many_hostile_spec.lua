-- call_many as a careless or hostile caller drives it: core.check_many (the
-- argument rule both transports share) called directly with every wrong
-- shape, each an argument error numbered as the caller sees it and no
-- metamethod run; and hooks that turn on the batch while it runs (on_attempt
-- raising or closing the client, a re-entrant batch, on_result rewriting the
-- list and the options), which never crash, never send what they should not
-- and leave every item one outcome.
local core = require "livepull.core"
local livepull = require "livepull"
local safe = require "livepull.safe"
local H = require "helpers"

-- A metatable whose every metamethod notes that it ran (and raises).
local ran = {}
local function noting_mt(name)
  local function note() ran[#ran + 1] = name; error("metamethod ran") end
  return { __index = note, __newindex = note, __len = note, __pairs = note, __ipairs = note, __call = note,
           __tostring = note, __eq = note, __lt = note }
end

local sparse_huge = { [2 ^ 40] = {} }
local holey = { {}, {}, {} }
holey[2] = nil

-- { what, list, opts, the argument number, what the message says }
local BAD = {
  { "no list", nil, nil, 1, "a sequence of parameter tables" },
  { "a number", 5, nil, 1, "a sequence of parameter tables" },
  { "a string", "x", nil, 1, "a sequence of parameter tables" },
  { "a boolean", true, nil, 1, "a sequence of parameter tables" },
  { "a function", print, nil, 1, "a sequence of parameter tables" },
  { "a userdata", io.stdout, nil, 1, "a sequence of parameter tables" },
  { "a list with a metatable", setmetatable({ {} }, noting_mt("list")), nil, 1, "plain table" },
  { "a hole", holey, nil, 1, "no holes" },
  { "index 0", { [0] = {} }, nil, 1, "no holes" },
  { "index -1", { [-1] = {} }, nil, 1, "no holes" },
  { "index 1.5", { [1.5] = {} }, nil, 1, "no holes" },
  { "index 2^40 alone", sparse_huge, nil, 1, "no holes" },
  { "index inf", { [math.huge] = {} }, nil, 1, "no holes" },
  { "a name key", { {}, x = {} }, nil, 1, "no other keys" },
  { "a table key", { {}, [{}] = {} }, nil, 1, "no other keys" },
  { "a string item", { {}, "x" }, nil, 1, "parameter tables" },
  { "a number item", { 5 }, nil, 1, "parameter tables" },
  { "a boolean item", { {}, false }, nil, 1, "parameter tables" },
  { "a function item", { print }, nil, 1, "parameter tables" },
  { "a coroutine item", { coroutine.create(function() end) }, nil, 1, "parameter tables" },
  { "a userdata item", { io.stdout }, nil, 1, "parameter tables" },
  { "opts a number", { {} }, 5, 2, "a table of options or nil" },
  { "opts a string", { {} }, "x", 2, "a table of options or nil" },
  { "opts false", { {} }, false, 2, "a table of options or nil" },
  { "opts a function", { {} }, print, 2, "a table of options or nil" },
  { "opts with a metatable", { {} }, setmetatable({}, noting_mt("opts")), 2, "plain table" },
  { "concurrency 0", { {} }, { concurrency = 0 }, 2, "from 1 to 32" },
  { "concurrency 33", { {} }, { concurrency = 33 }, 2, "from 1 to 32" },
  { "concurrency -1", { {} }, { concurrency = -1 }, 2, "from 1 to 32" },
  { "concurrency 1.5", { {} }, { concurrency = 1.5 }, 2, "from 1 to 32" },
  { "concurrency NaN", { {} }, { concurrency = 0 / 0 }, 2, "from 1 to 32" },
  { "concurrency inf", { {} }, { concurrency = math.huge }, 2, "from 1 to 32" },
  { "concurrency 2^31 + 1", { {} }, { concurrency = 2 ^ 31 + 1 }, 2, "from 1 to 32" },
  { "concurrency 1e300", { {} }, { concurrency = 1e300 }, 2, "from 1 to 32" },
  { "concurrency a string", { {} }, { concurrency = "4" }, 2, "from 1 to 32" },
  { "concurrency a table", { {} }, { concurrency = { 4 } }, 2, "from 1 to 32" },
  { "on_result a string", { {} }, { on_result = "print" }, 2, "on_result must be a function" },
  { "on_result a callable table", { {} }, { on_result = setmetatable({}, noting_mt("callable")) }, 2,
    "on_result must be a function" },
  { "an unknown option", { {} }, { concurrency = 2, other = 1 }, 2, "concurrency and on_result" },
  { "a positional option", { {} }, { 4 }, 2, "concurrency and on_result" },
  { "a function as option name", { {} }, { [print] = 1 }, 2, "concurrency and on_result" },
}

describe("core.check_many called directly", function()
  before_each(function() ran = {} end)
  after_each(function() assert.are.same({}, ran, "a metamethod ran") end)

  for _, c in ipairs(BAD) do
    it("refuses " .. c[1] .. " with an argument error #" .. c[4], function()
      local ok, err = pcall(core.check_many, c[2], c[3])
      assert.is_false(ok)
      err = tostring(err)
      assert.truthy(err:find("bad argument #" .. c[4], 1, true), err)
      assert.truthy(err:find(c[5], 1, true), err)
      assert.is_nil(err:find("metamethod ran", 1, true), err)
    end)
  end

  it("numbers its argument errors from the caller's list (first), and checks first", function()
    local _, err = pcall(core.check_many, 5, nil, 2)   -- as in client:call_many(action, list)
    assert.truthy(tostring(err):find("bad argument #2", 1, true), tostring(err))
    _, err = pcall(core.check_many, { {} }, 5, 2)
    assert.truthy(tostring(err):find("bad argument #3", 1, true), tostring(err))
    for _, first in ipairs { 0, 9, 1.5, "x", {} } do
      local ok, e = pcall(core.check_many, { {} }, nil, first)
      assert.is_false(ok, tostring(first))
      assert.truthy(tostring(e):find("#3", 1, true), tostring(e))
    end
  end)

  it("gives n, the concurrency (0: automatic) and whether on_result is set for a good list", function()
    local function got(...) return { select("#", ...), ... } end
    assert.are.same({ 3, 0, 0, false }, got(core.check_many({})))
    assert.are.same({ 3, 0, 0, false }, got(core.check_many({}, nil)))
    assert.are.same({ 3, 2, 0, false }, got(core.check_many({ {}, {} }, {})))
    assert.are.same({ 3, 1, 32, true }, got(core.check_many({ {} }, { concurrency = 32, on_result = print })))
    -- items are checked by validation, one by one, not here: an item's metatable is not read
    assert.are.same({ 3, 1, 0, false }, got(core.check_many({ setmetatable({}, noting_mt("item")) })))
  end)

  it("takes a million items at once and refuses a huge sparse index without walking up to it", function()
    local list = {}
    for i = 1, 1000000 do list[i] = {} end
    assert.are.equal(1000000, (core.check_many(list)))
    local ok = pcall(core.check_many, { {}, [2 ^ 52] = {} })
    assert.is_false(ok)
  end)
end)

describe("hooks that turn on a batch", function()
  local emu
  setup(function() emu = H.start_emulator() end)
  teardown(function() emu.stop() end)
  before_each(function() emu.reset() end)

  local function updates(n)
    local list = {}
    for i = 1, n do list[i] = H.update_params { CallbackUrl = "https://cb.example.com/item/" .. i } end
    return list
  end
  local function new(module, extra)
    local cfg = { endpoint = emu.url, access_key_id = H.KEY_ID, access_key_secret = H.SECRET, rate_limit = 0,
                  retry_base_delay = 0.01 }
    for k, v in pairs(extra or {}) do cfg[k] = v end
    return module.new(cfg)
  end
  local function codes(results)
    local out = {}
    for i, r in ipairs(results) do out[i] = r.ok and "ok" or r.error.code end
    return out
  end
  local function count(list, value)
    local n = 0
    for _, v in ipairs(list) do if v == value then n = n + 1 end end
    return n
  end

  for _, module in ipairs { livepull, safe } do
    local flavour = module == safe and "livepull.safe" or "livepull"

    for _, raising in ipairs { false, true } do
      it(("an on_attempt that closes the client%s: the rest ClientClosed, nothing sent after it (%s)")
        :format(raising and " and raises" or "", flavour), function()
        local c, closed_at
        c = new(module, { on_attempt = function()
          if not closed_at then closed_at = #emu.requests() end
          c:close()
          if raising then error("hook failed") end
        end })
        local res = c:update_many(updates(8), { concurrency = 2 })
        assert.are.equal(8, #res)
        local got = codes(res)
        assert.are.equal(8, count(got, "ok") + count(got, "ClientClosed"), table.concat(got, ","))
        assert.is_true(count(got, "ClientClosed") >= 6, table.concat(got, ","))
        assert.are.equal(count(got, "ok"), #emu.requests())   -- in flight at the close: at most the concurrency
        local ok, r, e = pcall(c.update, c, H.update_params())
        local err = ok and e or r
        assert.are.equal("ClientClosed", err.code)
      end)
    end

    it("an on_attempt raising an error object whose __tostring raises changes nothing (" .. flavour .. ")", function()
      local c = new(module, { on_attempt = function()
        error(setmetatable({}, { __tostring = function() error("tostring ran") end }))
      end })
      assert.are.same({ "ok", "ok", "ok", "ok" }, codes(c:update_many(updates(4), { concurrency = 2 })))
      c:close()
    end)

    it("an on_attempt that closes the client before a retry: no retry is sent, ClientClosed as a single call says ("
       .. flavour .. ")", function()
      emu.faults { { kind = "error", status = 503, code = "ServiceUnavailable", message = "later", count = 3 } }
      local c
      c = new(module, { on_attempt = function(ev) if ev.retry_in then c:close() end end })
      local res = c:update_many(updates(4), { concurrency = 2 })
      assert.are.same({ "ClientClosed", "ClientClosed", "ClientClosed", "ClientClosed" }, codes(res))
      assert.are.same({ 1, 1, false }, { res[1].error.attempts, res[2].error.attempts, res[1].error.retryable })
      assert.are.equal(2, #emu.requests())
      -- the same hook on a single call
      c = new(module, { on_attempt = function(ev) if ev.retry_in then c:close() end end })
      local ok, r, e = pcall(c.update, c, H.update_params())
      local err = ok and e or r
      assert.are.same({ "ClientClosed", 1 }, { err.code, err.attempts })
      assert.are.equal(3, #emu.requests())
    end)

    it("an on_attempt that runs another batch on the same client: both batches whole (" .. flavour .. ")", function()
      local c, inner
      c = new(module, { on_attempt = function()
        if inner == nil then
          inner = false
          inner = codes(c:update_many(updates(3), { concurrency = 3 }))
        end
      end })
      assert.are.same({ "ok", "ok", "ok", "ok" }, codes(c:update_many(updates(4), { concurrency = 2 })))
      assert.are.same({ "ok", "ok", "ok" }, inner)
      assert.are.equal(7, #emu.requests())
      c:close()
    end)

    it("an on_result that rewrites the list and the options: later items are read raw and validated (" ..
       flavour .. ")", function()
      local c = new(module)
      local list, opts = updates(6), nil
      opts = { concurrency = 1, on_result = function(i)
        if i == 1 then
          list[2] = 5
          list[3] = nil
          list[4] = setmetatable({}, noting_mt("item"))
          setmetatable(list, noting_mt("list"))
          opts.on_result = "not a function any more"
          setmetatable(opts, noting_mt("opts"))
        end
      end }
      ran = {}
      local got = codes(c:update_many(list, opts))
      assert.are.same({ "ok", "InvalidParameter", "InvalidParameter", "InvalidParameter", "ok", "ok" }, got)
      assert.are.same({}, ran, "a metamethod ran")
      assert.are.equal(3, #emu.requests())
      c:close()
    end)
  end
end)
