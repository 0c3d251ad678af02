-- The shared-bucket options (rate_store, rate_key, rate_key_prefix,
-- rate_store_timeout, rate_store_fallback): each rule, a passing and a
-- failing case; the password never in an error or tostring(client); the
-- Redis script compiled in from its one source.
local livepull = require "livepull"
local core = require "livepull.core"
local H = require "helpers"

local PASSWORD = "Redis-Pa55word-9d1e"

local function new(opts)
  opts.access_key_id = opts.access_key_id or H.KEY_ID
  opts.access_key_secret = H.SECRET
  return livepull.new(opts)
end

local function failure(opts)
  local ok, err = pcall(new, opts)
  assert.is_false(ok, "accepted")
  return err
end

-- { name, options, field, message part (plain) }
local failing = {
  { "an unknown scheme", { rate_store = "http://127.0.0.1:6379" }, "rate_store", "must be redis://" },
  { "no scheme", { rate_store = "127.0.0.1:6379" }, "rate_store", "must be redis://" },
  { "TLS", { rate_store = "rediss://:" .. PASSWORD .. "@127.0.0.1" }, "rate_store", "no TLS" },
  { "no host", { rate_store = "redis://" }, "rate_store", "has no host" },
  { "an odd IPv4 spelling", { rate_store = "redis://127.1" }, "rate_store", "four decimal numbers" },
  { "port 0", { rate_store = "redis://127.0.0.1:0" }, "rate_store", "port must be a number from 1 to 65535" },
  { "a port with junk", { rate_store = "redis://127.0.0.1:63x" }, "rate_store", "port must be" },
  { "a bad IPv6", { rate_store = "redis://[::g]:6379" }, "rate_store", "invalid IPv6" },
  { "a db with a leading zero", { rate_store = "redis://127.0.0.1/01" }, "rate_store", "/db must be" },
  { "a db too large", { rate_store = "redis://127.0.0.1/2147483648" }, "rate_store", "/db must be" },
  { "a query on redis://", { rate_store = "redis://127.0.0.1/0?x=1" }, "rate_store", "/db must be" },
  { "a password without ':'", { rate_store = "redis://" .. PASSWORD .. "@127.0.0.1" }, "rate_store",
    "[user]:password" },
  { "an empty password", { rate_store = "redis://user:@127.0.0.1" }, "rate_store", "[user]:password" },
  { "a raw '@' in the password", { rate_store = "redis://:" .. PASSWORD .. "@x@127.0.0.1" }, "rate_store",
    "percent-encode it as %40" },
  { "a space in the password", { rate_store = "redis://:" .. PASSWORD .. " x@127.0.0.1" }, "rate_store",
    "%XX escapes" },
  { "a password decoding to NUL", { rate_store = "redis://:" .. PASSWORD .. "%00@127.0.0.1" }, "rate_store",
    "NUL byte" },
  { "a relative socket path", { rate_store = "unix://redis.sock" }, "rate_store", "absolute socket path" },
  { "a socket path too long", { rate_store = "unix:///" .. ("s"):rep(107) }, "rate_store", "at most 107 bytes" },
  { "a space in the socket path", { rate_store = "unix:///tmp/a b.sock" }, "rate_store", "without spaces" },
  { "a query other than db", { rate_store = "unix:///tmp/r.sock?database=1" }, "rate_store", "?db=N" },
  { "a bad db query", { rate_store = "unix:///tmp/r.sock?db=-1" }, "rate_store", "?db=N" },
  { "a control character", { rate_store = "redis://127.0.0.1\n" }, "rate_store", "control characters" },
  { "a number", { rate_store = 6379 }, "rate_store", "must be a string" },
  { "rate_limit 0 with a store", { rate_store = "redis://127.0.0.1", rate_limit = 0 }, "rate_store",
    "rate_limit must not be 0" },
  { "a rate_key with braces", { rate_store = "redis://127.0.0.1", rate_key = "a{b}" }, "rate_key", "braces" },
  { "a rate_key with a space", { rate_store = "redis://127.0.0.1", rate_key = "a b" }, "rate_key", "without spaces" },
  { "an empty rate_key", { rate_store = "redis://127.0.0.1", rate_key = "" }, "rate_key", "must not be empty" },
  { "a rate_key too long", { rate_store = "redis://127.0.0.1", rate_key = ("k"):rep(129) }, "rate_key",
    "at most 128 bytes" },
  { "a non-ASCII prefix", { rate_store = "redis://127.0.0.1", rate_key_prefix = "pr\195\169" }, "rate_key_prefix",
    "printable ASCII" },
  { "a prefix too long", { rate_store = "redis://127.0.0.1", rate_key_prefix = ("p"):rep(65) }, "rate_key_prefix",
    "at most 64 bytes" },
  { "a zero timeout", { rate_store = "redis://127.0.0.1", rate_store_timeout = 0 }, "rate_store_timeout",
    "above 0 and at most 60" },
  { "a timeout too long", { rate_store = "redis://127.0.0.1", rate_store_timeout = 61 }, "rate_store_timeout",
    "above 0 and at most 60" },
  { "a string timeout", { rate_store = "redis://127.0.0.1", rate_store_timeout = "1" }, "rate_store_timeout",
    "must be a number" },
  { "fallback true", { rate_store = "redis://127.0.0.1", rate_store_fallback = true }, "rate_store_fallback",
    "must be a number or false" },
  { "fallback 0", { rate_store = "redis://127.0.0.1", rate_store_fallback = 0 }, "rate_store_fallback",
    "from 0.01 to 1000000, or false" },
  { "fallback NaN", { rate_store = "redis://127.0.0.1", rate_store_fallback = 0 / 0 }, "rate_store_fallback",
    "from 0.01 to 1000000, or false" },
  { "rate_key without a store", { rate_key = "acct" }, "rate_key", "used only with rate_store" },
  { "a prefix without a store", { rate_key_prefix = "p" }, "rate_key_prefix", "used only with rate_store" },
  { "a timeout without a store", { rate_store_timeout = 1 }, "rate_store_timeout", "used only with rate_store" },
  { "fallback false without a store", { rate_store_fallback = false }, "rate_store_fallback",
    "used only with rate_store" },
}

-- { name, options, what core.rate_store(client) gives (a subset) }
local passing = {
  { "host and port", { rate_store = "redis://127.0.0.1:6380" },
    { scheme = "redis", host = "127.0.0.1", port = 6380, db = 0, key = "livepull:{" .. H.KEY_ID .. "}:bucket",
      timeout = 0.25, fallback = 1, rate = 10, burst = 10, interval_us = 100000 } },
  { "the default port, a db, a password alone (encoded)",
    { rate_store = "redis://:" .. PASSWORD .. "%40x@localhost/3" },
    { host = "localhost", port = 6379, db = 3, password = PASSWORD .. "@x", user = false } },
  { "a user and a password, IPv6", { rate_store = "redis://edge:" .. PASSWORD .. "@[::1]:7000/" },
    { host = "::1", port = 7000, db = 0, user = "edge", password = PASSWORD } },
  { "a UNIX socket with a db", { rate_store = "unix:///run/redis/redis.sock?db=2" },
    { scheme = "unix", path = "/run/redis/redis.sock", db = 2, port = false, host = false } },
  { "a UNIX socket with a password", { rate_store = "unix://:" .. PASSWORD .. "@/tmp/r.sock" },
    { scheme = "unix", path = "/tmp/r.sock", password = PASSWORD } },
  { "every option", { rate_store = "redis://127.0.0.1", rate_key = "prod-account", rate_key_prefix = "edge:v1",
      rate_store_timeout = 0.05, rate_store_fallback = false, rate_limit = 9, rate_burst = 1 },
    { key = "edge:v1:{prod-account}:bucket", timeout = 0.05, fallback = false, rate = 9, burst = 1,
      interval_us = 111112 } },
  { "an empty rate_store is local pacing", { rate_store = "" }, nil },
  { "no store", {}, nil },
}

describe("rate_store options", function()
  for _, case in ipairs(failing) do
    it("rejects " .. case[1], function()
      local err = failure(case[2])
      assert.are.equal("config", err.kind)
      assert.are.equal("InvalidConfig", err.code)
      assert.are.equal(case[3], err.field)
      assert.truthy(err.message:find(case[4], 1, true), err.message)
      assert.is_nil(err.message:find(PASSWORD, 1, true), "the password shows: " .. err.message)
      assert.is_nil(err.message:find("127.0.0.1", 1, true), "the URL shows: " .. err.message)
    end)
  end

  for _, case in ipairs(passing) do
    it("accepts " .. case[1], function()
      local client = new(case[2])
      local info = core.rate_store(client)
      if case[3] == nil then
        assert.is_nil(info)
      else
        for k, want in pairs(case[3]) do
          if want == false and k ~= "fallback" then
            assert.is_nil(info[k], k)
          else
            assert.are.equal(want, info[k], k)
          end
        end
      end
      assert.is_nil(tostring(client):find(PASSWORD, 1, true))
      client:close()
      assert.is_nil(core.rate_store(client), "a closed client has no store")
    end)
  end

  it("takes the default rate_key from the AccessKeyId the client signs with now", function()
    local client = new { rate_store = "redis://127.0.0.1" }
    assert.are.equal("livepull:{" .. H.KEY_ID .. "}:bucket", core.rate_store(client).key)
    assert.is_true(core.set_credentials(client, "LTAI5tOtherKey", "other-secret"))
    assert.are.equal("livepull:{LTAI5tOtherKey}:bucket", core.rate_store(client).key)
  end)

  it("lists the options in core.options() with their defaults", function()
    local by_name = {}
    for _, o in ipairs(core.options()) do by_name[o.name] = o end
    assert.are.equal("string", by_name.rate_store.type)
    assert.is_nil(by_name.rate_store.default)
    assert.is_nil(by_name.rate_key.default)
    assert.are.equal("livepull", by_name.rate_key_prefix.default)
    assert.are.equal(0.25, by_name.rate_store_timeout.default)
    assert.are.equal(1, by_name.rate_store_fallback.default)
    assert.are.equal("number or false", by_name.rate_store_fallback.type)
  end)
end)

describe("the rate script", function()
  it("is csrc/rate_gcra.lua byte for byte, with its SHA1 as Redis names it", function()
    local f = assert(io.open("csrc/rate_gcra.lua", "rb"))
    local text = f:read("*a")
    f:close()
    local source, sha = core.rate_script()
    assert.are.equal(text, source)
    local out = H.run("sha1sum csrc/rate_gcra.lua")
    assert.are.equal(out:match("^(%x+)"), sha)
  end)
end)

describe("the reply caps", function()
  it("core.rate_reply_limits() are the numbers docs/pacing.md gives (both clients read them)", function()
    local limits = core.rate_reply_limits()
    assert.are.same({ line = 4096, items = 8 }, limits)
    local doc = H.read_file("docs/pacing.md")
    assert.truthy(doc:find("bulk%s+string%s+of%s+at%s+most%s+" .. limits.line .. "%s+bytes"))
    assert.truthy(doc:find("an%s+array%s+of%s+at%s+most%s+" .. limits.items .. "%s+items"))
  end)
end)
