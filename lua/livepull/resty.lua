-- livepull.resty: the same calls as livepull, sent over nginx cosockets so
-- an nginx worker never blocks. Validation, signing, parsing and the retry
-- decision are the C core's (client:prepare, client:parse, client:backoff);
-- livepull.resty.http frames the bytes; this file connects, paces, and
-- runs the retry loop, sleeping with ngx.sleep.
--
--   local resty = require "livepull.resty"
--   local client = resty.new { endpoint = ..., shared_dict = "livepull" }
--   local res, err = client:update { TaskId = ..., Region = ... }
--
-- Methods return res, or nil and a livepull error table (the OpenResty way).
-- Cosockets work in rewrite, access, content, ssl and timer contexts; see
-- the phase table in docs/nginx.md.
local core = require "livepull.core"
local safe = require "livepull.safe"
local http = require "livepull.resty.http"

local ngx = ngx
local tcp = ngx.socket.tcp
local sleep = ngx.sleep

local M = { version = core.version, is_error = core.is_error }
local Client = {}
Client.__index = Client

local KEEPALIVE_IDLE_MS = 60000
local KEEPALIVE_POOL = 32
local LOCK_TRIES = 200          -- x 1 ms: a shared-dict lock is held for microseconds, never across a yield
local WORKER_BUCKETS_MAX = 1024 -- buckets one worker keeps without a shared dict (full ones are dropped first)

-- Pacing runs on CLOCK_MONOTONIC (core.monotonic), never on ngx.now(): a
-- wall-clock step back would stop refills for as long as the step. That
-- clock is host-wide, so the times workers write into one shared dict
-- (which only spans the workers of one host) compare soundly.
local clock = core.monotonic

-- The AccessKeyId a prepared request is signed with (ACS3's Credential=,
-- or HMAC-SHA1's AccessKeyId query parameter): pacing is per account.
local function key_id_of(req)
  local auth = req.headers.authorization
  return auth and auth:match("^ACS3%-HMAC%-SHA256 Credential=([^,]*)") or req.url:match("[?&]AccessKeyId=([^&]*)") or ""
end

-- Buckets that outlive clients when no shared dict is set: one per worker,
-- endpoint, AccessKeyId, rate and burst (so a client per request is paced).
local worker_buckets, worker_bucket_count = {}, 0

local function forget_full_buckets(now)
  for key, b in pairs(worker_buckets) do
    if b.tokens + (now - b.last) * b.rate >= b.burst then
      worker_buckets[key] = nil
      worker_bucket_count = worker_bucket_count - 1
    end
  end
end

-- The two stores of bucket state: get(key) -> tokens, last (nil: a full
-- bucket); put(key, tokens, last) -> true or nil, err.
local worker_store = {
  get = function(_, key)
    local b = worker_buckets[key]
    if b then return b.tokens, b.last end
  end,
  put = function(_, key, tokens, last, rate, burst)
    local b = worker_buckets[key]
    if not b then
      if worker_bucket_count >= WORKER_BUCKETS_MAX then forget_full_buckets(last) end
      b = { rate = rate, burst = burst }
      worker_buckets[key] = b
      worker_bucket_count = worker_bucket_count + 1
    end
    b.tokens, b.last = tokens, last
    return true
  end,
}

local function dict_store(dict)
  return {
    lock = function(_, key)
      for _ = 1, LOCK_TRIES do
        if dict:add(key .. "|lock", true, 1) then return true end
        sleep(0.001)
      end
      return nil, core.error("config", "PacingLockTimeout",
        "could not take the shared pacing lock (is the shared dict full?)")
    end,
    unlock = function(_, key) dict:delete(key .. "|lock") end,
    get = function(_, key)
      local tokens, last = dict:get(key .. "|tokens"), dict:get(key .. "|last")
      if tokens and last then return tokens, last end
    end,
    put = function(_, key, tokens, last)
      local ok, err = dict:set(key .. "|tokens", tokens)
      if ok then ok, err = dict:set(key .. "|last", last) end
      if not ok then
        return nil, core.error("config", "PacingLockTimeout",
          "could not write the pacing state to the shared dict (is it full?): " .. tostring(err))
      end
      return true
    end,
  }
end

-- Takes a slot in the bucket under key (the native bucket's arithmetic,
-- core.bucket_take) and returns the seconds to wait for it, or nil and an
-- error: PacingTimeout when that wait would pass max_wait, in which case
-- no slot is taken.
local function take_slot(store, key, rate, burst, max_wait)
  if rate <= 0 then return 0 end
  if store.lock then
    local ok, err = store:lock(key)
    if not ok then return nil, err end
  end
  local now = clock()
  local tokens, last = store:get(key)
  local wait, taken
  tokens, last, wait, taken = core.bucket_take(tokens or burst, last or now, rate, burst, now, max_wait)
  local ok, err
  if taken then
    ok, err = store:put(key, tokens, last, rate, burst)
  else   -- the same error as the native path's; nothing was reserved
    err = core.error("transport", "PacingTimeout",
      ("the next pacing slot is %.3f s away, longer than max_pacing_wait (%g s); nothing was sent")
        :format(wait, max_wait), { retryable = core.retry_rule("PacingTimeout").retryable })
  end
  if store.unlock then store:unlock(key) end
  if not ok then return nil, err end
  return wait
end

function M.new(config)
  local client, err = safe.new(config)
  if not client then return nil, err end
  local s = client:settings()
  -- base_url is scheme://host[:port], host possibly a bracketed IPv6 address
  local scheme, host, port = s.base_url:match("^(https?)://%[([^%]]+)%]:?(%d*)$")
  if not scheme then scheme, host, port = s.base_url:match("^(https?)://([^:]+):?(%d*)$") end
  local self = setmetatable({
    core = client, settings = s, scheme = scheme, host = host,
    port = tonumber(port) or (scheme == "https" and 443 or 80),
    max_pacing_wait = s.max_pacing_wait,
    store = worker_store,
  }, Client)
  if s.shared_dict then
    local dict = ngx.shared[s.shared_dict]
    if not dict then
      client:close()
      return nil, core.error("config", "InvalidConfig",
        ("shared_dict %q is not a lua_shared_dict of this nginx"):format(s.shared_dict), { field = "shared_dict" })
    end
    self.store = dict_store(dict)
  end
  return self
end

-- Reserves a pacing slot for req (its account, this endpoint, rate and
-- burst) and returns the seconds to wait before sending, or nil, err.
function Client:pace(req)
  local s = self.settings
  self.key_id = self.key_id or key_id_of(req)
  local key = ("livepull|%s|%s|%.17g|%.17g"):format(s.base_url, self.key_id, s.rate_limit, s.rate_burst)
  return take_slot(self.store, key, s.rate_limit, s.rate_burst, self.max_pacing_wait)
end

-- One HTTP exchange over a pooled cosocket, all of it (connect, TLS, send,
-- every read) within stop_at: status, headers, body, or nil, nil, nil, err.
function Client:exchange(req, stop_at, fresh)
  local s = self.settings
  local sock = tcp()
  local function left_ms()
    return math.max(1, math.ceil((stop_at - clock()) * 1000))
  end
  local function fail(err)
    sock:close()
    return nil, nil, nil, err
  end
  if stop_at <= clock() then return nil, nil, nil, http.socket_error("timeout", "connect") end
  sock:settimeouts(math.min(s.connect_timeout * 1000, left_ms()), left_ms(), left_ms())
  local pool = ("livepull:%s:%s:%d"):format(self.scheme, self.host, self.port)
  local ok, err = sock:connect(self.host, self.port, { pool = pool })
  if not ok then return nil, nil, nil, http.socket_error(err, "connect") end
  local reused = sock:getreusedtimes() > 0
  if self.scheme == "https" and not reused then
    if stop_at <= clock() then return fail(http.socket_error("timeout", "TLS handshake")) end
    sock:settimeout(left_ms())
    -- lua-resty-core 0.1.25 (Debian 12) raises "assertion failed!" when a
    -- handshake completes at once but the certificate check fails
    -- (lua-resty-core issue 499): caught, that is a failed check, not a crash.
    -- reused_session is nil, never false: with false, ngx_lua 0.10.23 can
    -- lose the failed check of such a handshake and report success.
    local raised
    raised, ok, err = pcall(sock.sslhandshake, sock, nil, self.host, true)
    if not raised then ok, err = nil, ok end
    if not ok then return fail(http.socket_error(err, "TLS handshake")) end
  end
  -- A kept-alive connection the server had already closed never read the
  -- request, so one fresh connection is not a retry (libcurl does the same).
  local function stale(err_table)
    return reused and not fresh and err_table.code ~= "Timeout" and err_table.code ~= "PartialResponse"
  end
  if stop_at <= clock() then return fail(http.socket_error("timeout", "send")) end
  sock:settimeout(left_ms())
  ok, err = sock:send(http.request_text(req))
  if not ok then
    err = http.socket_error(err, "send")
    if stale(err) then sock:close(); return self:exchange(req, stop_at, true) end
    return fail(err)
  end
  local r = http.reader(sock, stop_at, clock)
  local status, headers, budget = http.read_head(r)
  if not status then
    err = headers
    if stale(err) and err.kind == "transport" then sock:close(); return self:exchange(req, stop_at, true) end
    return fail(err)
  end
  local body, closed = http.read_body(r, status, headers, budget, s.max_response_bytes)
  if not body then return fail(closed) end
  local connection = (headers.connection or ""):lower()
  if closed or r:pending() > 0 or connection == "close" or (headers["@version"] == "1.0" and connection ~= "keep-alive") then
    sock:close()
  else
    sock:setkeepalive(KEEPALIVE_IDLE_MS, KEEPALIVE_POOL)
  end
  return status, headers, body
end

-- The retry loop of the native path, with ngx.sleep. The call is validated
-- (prepare) before it may take a pacing slot, and signed again after any
-- wait, so each attempt carries a fresh time and nonce.
function Client:call(action, params)
  local req, err = self.core:prepare(action, params)
  if not req then return nil, err end
  for attempt = 1, math.huge do
    local wait, perr = self:pace(req)
    if not wait then
      perr.attempts = attempt   -- as the native path counts it; never retried inside the call
      return nil, perr
    end
    if wait > 0 then
      sleep(wait)
      req, err = self.core:prepare(action, params)
      if not req then return nil, err end
    end
    local status, headers, body, terr = self:exchange(req, clock() + self.settings.timeout)
    local res
    if status then res, err = self.core:parse(status, headers, body) else err = terr end
    if res then return res end
    err.attempts = attempt
    local delay = self.core:backoff(err, attempt, headers, action)
    if not delay then return nil, err end
    sleep(delay)
    req, err = self.core:prepare(action, params)
    if not req then return nil, err end
  end
end

for action, method in pairs(core.operations()) do
  Client[method] = function(self, params) return self:call(action, params) end
end

-- client:plan and client:apply (lua/livepull/plan.lua) through the methods above
local plan = require "livepull.plan"
Client.plan, Client.apply = plan.plan, plan.apply

function Client:close()
  self.core:close()
end

return M
