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
local credentials = require "livepull.credentials"
local http = require "livepull.resty.http"
local rate_store = require "livepull.resty.rate_store"
local semaphore = require "ngx.semaphore"
local json = require("cjson.safe").new()

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

-- Wall-clock seconds, for credential expirations (which are dates).
local function now()
  ngx.update_time()
  return ngx.now()
end

local provider_transport, dict_share   -- defined below the HTTP helpers they use

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

-- The native path's error for a slot further away than max_pacing_wait
-- (nothing was reserved).
local function pacing_timeout(wait, max_wait)
  return core.error("transport", "PacingTimeout",
    ("the next pacing slot is %.3f s away, longer than max_pacing_wait (%g s); nothing was sent")
      :format(wait, max_wait), { retryable = core.retry_rule("PacingTimeout").retryable })
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
  else
    err = pacing_timeout(wait, max_wait)
  end
  if store.unlock then store:unlock(key) end
  if not ok then return nil, err end
  return wait
end

function M.new(config)
  local transport = provider_transport
  local dict = type(config) == "table" and type(config.shared_dict) == "string" and ngx.shared[config.shared_dict]
  if dict then   -- credentials refreshed once for every worker
    transport = { share = dict_share(dict) }
    for k, v in pairs(provider_transport) do transport[k] = v end
  end
  local client, err = credentials.new(config, true, transport)
  if not client then return nil, err end
  local s = client:settings()
  -- What a cosocket cannot do is refused, never dropped in silence.
  local refused = s.proxy and { "proxy", "livepull.resty cannot send through a proxy (a cosocket connects "
      .. "directly); inside nginx, require \"livepull\" with force_libcurl = true sends through it over libcurl, "
      .. "blocking the worker during each call" }
    or s.force_libcurl and { "force_libcurl", "livepull.resty always sends over cosockets; force_libcurl is an "
      .. "option of require \"livepull\"" }
  if refused then
    client:close()
    return nil, core.error("config", "InvalidConfig", refused[2], { field = refused[1] })
  end
  -- The core gives the endpoint as parts; a cosocket takes an IPv6 host without brackets.
  local scheme, host, port = s.scheme, s.host:match("^%[(.*)%]$") or s.host, s.port
  local self = setmetatable({
    core = client, settings = s, scheme = scheme, host = host,
    port = tonumber(port) or (scheme == "https" and 443 or 80),
    max_pacing_wait = s.max_pacing_wait,
    store = worker_store,
    on_attempt = type(config) == "table" and config.on_attempt or nil,   -- the core checked it is a function
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
  if core.rate_store(client) then
    local ok, rerr = rate_store.check()
    if not ok then
      client:close()
      return nil, rerr
    end
  end
  return self
end

-- Pacing through a Redis bucket (rate_store): each worker keeps, per
-- store, the state of an outage: when to ask Redis again (at most once a
-- second after a failure, as the native path reconnects) and when it last
-- said in the error log that it paces alone (at most once a minute).
local RETRY_STORE_AFTER = 1
local WARN_EVERY = 60
local OUTAGES_MAX = 256
local outages, outage_count = {}, 0
local script   -- { source, sha1 }: core.rate_script(), the native path's text

local function outage_of(id)
  local o = outages[id]
  if not o then
    if outage_count >= OUTAGES_MAX then outages, outage_count = {}, 0 end   -- only warnings' spacing is lost
    o = {}
    outages[id], outage_count = o, outage_count + 1
  end
  return o
end

-- The seconds to wait for a slot in the store's bucket (the script's
-- reply), nil and PacingTimeout when it is further than max_wait, or nil,
-- err, down (down: Redis did not answer; false: it refused us).
local function reserve_shared(st, max_wait)
  if not script then
    local source, sha1 = core.rate_script()
    script = { source = source, sha1 = sha1 }
  end
  local max_us = math.min(math.floor(max_wait * 1e6), 1e13)   -- the native path's ARGV, byte for byte
  local argv = { ("%d"):format(st.interval_us), ("%.17g"):format(st.burst), ("%.0f"):format(max_us) }
  local reply, err, down = rate_store.reserve(st, script, st.key, argv)
  if not reply then return nil, err, down end
  local reserved, delay
  if type(reply) == "table" then reserved, delay = reply[1], reply[2] end
  if (reserved ~= 0 and reserved ~= 1) or type(delay) ~= "number" or not (delay >= 0 and delay < 1e15) then
    return nil, core.error("config", "RateStoreRejected", ("the rate store %s answered the pacing script with "
      .. "something other than {granted, delay}: is rate_store a Redis?"):format(rate_store.describe(st)),
      { field = "rate_store" }), false
  end
  if reserved == 0 then return nil, pacing_timeout(delay / 1e6, max_wait) end
  return delay / 1e6
end

-- When this worker's last slot from each store is used (monotonic), so that
-- pacing alone after it keeps the fallback rate (a few stores per worker).
local last_shared = {}

-- The per-worker bucket this worker paces alone on while the store is away.
local function fallback_key(id, st)
  return ("livepull-fallback|%s|%s|%.17g"):format(id, st.key, st.fallback)
end

function Client:pace_shared(st)
  if st.rate <= 0 then return 0 end
  local id = rate_store.describe(st)
  local o = outages[id]
  local t = clock()
  if not o or t >= o.retry_at then
    local wait, err, down = reserve_shared(st, self.max_pacing_wait)
    if wait then last_shared[id] = t + wait end
    if wait or down == nil or down == false then   -- Redis answered (a slot, PacingTimeout, or a refusal)
      if o then
        if o.alone then
          ngx.log(ngx.WARN, "livepull: the rate store ", id, " answers again: this worker's pacing is shared again")
        end
        o.alone, o.down, o.retry_at = nil, nil, 0
      end
      return wait, err
    end
    o = outage_of(id)
    if not o.down and st.fallback then
      -- An outage begins with the fallback bucket as this worker's last shared slot left it: the
      -- first call alone goes 1/fallback s after that slot (a debt while it is still ahead).
      o.down = true
      local since = last_shared[id] and (t - last_shared[id]) * st.fallback
      if since and since < 1 then worker_store:put(fallback_key(id, st), since, t) end
    end
    o.retry_at, o.message = t + RETRY_STORE_AFTER, err.message
    if st.fallback and (not o.warned_at or t - o.warned_at >= WARN_EVERY) then
      o.warned_at, o.alone = t, true   -- alone: the end of this outage is said too
      ngx.log(ngx.WARN, "livepull: ", err.message, "; this worker paces alone at ", st.fallback,
        " requests/s (rate_store_fallback) until it answers")
    end
  end
  if not st.fallback then   -- never retried inside the call
    return nil, core.error("transport", "RateStoreUnavailable",
      o.message .. "; nothing was sent (rate_store_fallback = false)",
      { retryable = core.retry_rule("RateStoreUnavailable").retryable, field = "rate_store" })
  end
  return take_slot(worker_store, fallback_key(id, st), st.fallback, 1, self.max_pacing_wait)
end

-- Reserves a pacing slot for req (its account, this endpoint, rate and
-- burst) and returns the seconds to wait before sending, or nil, err.
function Client:pace(req)
  local s = self.settings
  self.key_id = self.key_id or key_id_of(req)
  local st = core.rate_store(self.core)   -- asked each time: the default rate_key is the current AccessKeyId
  if st then
    if not st.key then
      return nil, core.error("config", "InvalidConfig", "rate_key is not set and the client has no AccessKeyId yet",
        { field = "rate_key" })
    end
    return self:pace_shared(st)
  end
  local key = ("livepull|%s|%s|%.17g|%.17g"):format(s.base_url, self.key_id, s.rate_limit, s.rate_burst)
  return take_slot(self.store, key, s.rate_limit, s.rate_burst, self.max_pacing_wait)
end

-- One HTTP exchange over a pooled cosocket, all of it (connect, TLS, send,
-- every read) within stop_at: status, headers, body, or nil, nil, nil, err.
function Client:exchange(req, stop_at, fresh)
  local s = self.settings
  local started = clock()
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
  local took = clock() - started   -- call_many's automatic concurrency follows the round trip
  self.rtt = self.rtt and 0.7 * self.rtt + 0.3 * took or took
  local connection = (headers.connection or ""):lower()
  if closed or r:pending() > 0 or connection == "close" or (headers["@version"] == "1.0" and connection ~= "keep-alive") then
    sock:close()
  else
    sock:setkeepalive(KEEPALIVE_IDLE_MS, KEEPALIVE_POOL)
  end
  return status, headers, body
end

-- The credential providers' HTTP (instance metadata, STS, a credentials
-- URI) over a cosocket: the same URL rule as core.fetch, its own short
-- timeouts, no redirects, no keepalive, TLS verified (lua_ssl_trusted_certificate),
-- the framing and limits of livepull.resty.http, every read within the deadline.
local PROVIDER_MAX_BYTES = 65536
local function provider_http(req)
  local ok, err = core.fetch_check(req.url)
  if not ok then return nil, err end
  local scheme, authority = req.url:match("^(https?)://([^/?#]+)")
  local host, port = authority:match("^%[([^%]]+)%]:?(%d*)$")
  if not host then host, port = authority:match("^([^:]+):?(%d*)$") end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  local body = req.body or ""
  local headers = { host = authority, connection = "close" }
  if req.method ~= "GET" and req.method ~= "POST" then headers["content-length"] = tostring(#body) end
  for name, value in pairs(req.headers or {}) do
    if tostring(name):find("[%c:]") or tostring(value):find("%c") then
      return nil, core.error("config", "InvalidHeader", "a header name or value holds a control character")
    end
    headers[name] = value
  end
  local stop_at = clock() + req.timeout
  local function left_ms() return math.max(1, math.ceil((stop_at - clock()) * 1000)) end
  local sock = tcp()
  sock:settimeouts(math.min(req.connect_timeout * 1000, left_ms()), left_ms(), left_ms())
  ok, err = sock:connect(host, port)
  if not ok then return nil, http.socket_error(err, "connect") end
  if scheme == "https" then
    sock:settimeout(left_ms())
    local raised
    raised, ok, err = pcall(sock.sslhandshake, sock, nil, host, true)   -- see Client:exchange
    if not raised then ok, err = nil, ok end
    if not ok then sock:close(); return nil, http.socket_error(err, "TLS handshake") end
  end
  if stop_at <= clock() then sock:close(); return nil, http.socket_error("timeout", "send") end
  sock:settimeout(left_ms())
  ok, err = sock:send(http.request_text { method = req.method, url = req.url, headers = headers, body = body })
  if not ok then sock:close(); return nil, http.socket_error(err, "send") end
  local r = http.reader(sock, stop_at, clock)
  local status, answer_headers, budget = http.read_head(r)
  if not status then sock:close(); return nil, answer_headers end
  local answer
  answer, err = http.read_body(r, status, answer_headers, budget, PROVIDER_MAX_BYTES)
  sock:close()
  if not answer then return nil, err end
  return status, answer_headers, answer
end

-- One refresh per client per worker: the others wait on a semaphore (or,
-- with more than a minute left, keep signing with the old credentials).
local REFRESH_WAIT = 15   -- seconds at most
provider_transport = {
  http = provider_http, now = now, lazy = true, no_process = true,
  wait = function(state)
    state.sem = state.sem or semaphore.new(0)
    state.waiters = (state.waiters or 0) + 1
    state.sem:wait(REFRESH_WAIT)
    state.waiters = state.waiters - 1
  end,
  wake = function(state)
    if state.sem and (state.waiters or 0) > 0 then state.sem:post(state.waiters) end
  end,
}

-- With shared_dict, the worker that refreshes stores the snapshot (the
-- secret lives only there and in each worker's signer) for the others, under
-- a lock that expires if its holder dies; a waiting worker polls for it.
local SHARE_LOCK_TTL = 30    -- seconds: longer than any provider fetch
local SHARE_POLL = 0.05
dict_share = function(dict)
  local function key(identity) return "livepull:creds:" .. ngx.md5(identity) end
  return {
    get = function(identity)
      local text = dict:get(key(identity))
      return text and json.decode(text) or nil
    end,
    set = function(identity, snap)
      local ttl = snap.expiration and math.max(1, snap.expiration - now()) or 0
      dict:set(key(identity), json.encode(snap), ttl)
    end,
    lock = function(identity) return dict:add(key(identity) .. ":lock", true, SHARE_LOCK_TTL) end,
    unlock = function(identity) dict:delete(key(identity) .. ":lock") end,
    wait = function(identity, fresh)
      for _ = 1, SHARE_LOCK_TTL / SHARE_POLL do
        sleep(SHARE_POLL)
        local snap = fresh()
        if snap then return snap end
        if not dict:get(key(identity) .. ":lock") then return nil end   -- it failed: fetch ourselves
      end
    end,
  }
end

-- client:credentials_info(): where the keys come from (never the secret).
function Client:credentials_info()
  return self.core:credentials_info()
end

-- The on_attempt event of one attempt, as the native path builds it
-- (docs/api.md "Watching attempts"): status and request_id only when there
-- was an answer, code only on failure, never a parameter value but TaskId.
-- An error raised by the hook is dropped.
local function emit(self, action, params, n, status, res, err, elapsed, paced, retry_in)
  local ev = { action = action, attempt = n, status = status, elapsed = elapsed, paced = paced, retry_in = retry_in }
  if res then
    ev.request_id = type(res.RequestId) == "string" and res.RequestId or nil
  else
    ev.code = err.code
    if status then ev.request_id = type(err.request_id) == "string" and err.request_id or nil end
  end
  local task_id = type(params) == "table" and rawget(params, "TaskId")
  if type(task_id) == "string" then ev.task_id = task_id end   -- validated: the value sent
  pcall(self.on_attempt, ev)
end

local function closed_error(attempts)
  local err = core.error("config", "ClientClosed", "this client was closed during the call")
  err.attempts = attempts
  return err
end

-- The retry loop of the native path, with ngx.sleep. The call is validated
-- (prepare) before it may take a pacing slot, and signed again after any
-- wait, so each attempt carries a fresh time and nonce.
function Client:call(action, params)
  local req, err = self.core:prepare(action, params)
  if not req then return nil, err end
  for attempt = 1, math.huge do
    local paced_from = clock()
    local wait, perr = self:pace(req)
    if not wait then
      perr.attempts = attempt   -- as the native path counts it; never retried inside the call
      if self.on_attempt then emit(self, action, params, attempt, nil, nil, perr, 0, clock() - paced_from) end
      return nil, perr
    end
    if wait > 0 then
      sleep(wait)
      req, err = self.core:prepare(action, params)
      if not req then return nil, err end
    end
    local paced = clock() - paced_from
    local generation = credentials.generation(self.core)
    local started = clock()
    local status, headers, body, terr = self:exchange(req, started + self.settings.timeout)
    local elapsed = clock() - started
    local res
    if status then res, err = self.core:parse(status, headers, body) else err = terr end
    -- parse scrubs the client's current STS token from a SignatureDoesNotMatch
    -- message (it quotes the string to sign); after a refresh in another light
    -- thread the request carried the previous token, so the quote goes whole.
    if err and err.code == "SignatureDoesNotMatch" and credentials.generation(self.core) ~= generation then
      err.message = "the signature does not match (the service's string to sign is withheld: the credentials "
        .. "were refreshed during the call)"
    end
    if res then
      if self.on_attempt then emit(self, action, params, attempt, status, res, nil, elapsed, paced) end
      return res
    end
    err.attempts = attempt
    local delay = self.core:backoff(err, attempt, headers, action)
    if self.on_attempt then emit(self, action, params, attempt, status, nil, err, elapsed, paced, delay) end
    if not delay then return nil, err end
    if self.closed then return nil, closed_error(attempt) end   -- closed by the hook: as the native path
    sleep(delay)
    req, err = self.core:prepare(action, params)
    if not req then return nil, err end
  end
end

-- client:call_many(action, list [, opts]): the native contract (argument
-- rules, results in input order, on_result, Cancelled, automatic
-- concurrency) over light threads, each item a whole Client:call
-- (validated, paced, retried). See docs/api.md "Many calls at once".
local MANY_MAX = 32
local MANY_UNPACED = 8
local WAIT_FOR_TURN = 0.05   -- seconds a light thread above the concurrency waits to look again

-- first: the list's argument number for the caller (2 here, 1 for <method>_many).
local function call_many(self, action, list, opts, first)
  local n, concurrency, has_on_result = core.check_many(list, opts, first)
  if self.closed then return nil, core.error("config", "ClientClosed", "this client was closed") end
  local s = self.settings
  local results, next_item, in_flight, stop = {}, 1, 0, nil
  local function limit()
    if concurrency > 0 then return concurrency end
    if s.rate_limit <= 0 then return MANY_UNPACED end
    local want = self.rtt and math.ceil(s.rate_limit * self.rtt) + 1 or s.rate_burst
    return math.max(1, math.min(MANY_MAX, want))
  end
  local function finish(i, res, err)
    results[i] = res and { ok = true, result = res } or { ok = false, error = err }
    if has_on_result then   -- documented: an error raised by on_result is dropped; false stops
      local ok, ret = pcall(rawget(opts, "on_result"), i, res, err, in_flight)
      if ok and ret == false and not stop then stop = "Cancelled" end
    end
    if self.closed and not stop then stop = "ClientClosed" end
  end
  local function worker(index)
    while not stop and next_item <= n do
      if index > limit() then
        sleep(WAIT_FOR_TURN)
      else
        local i = next_item
        next_item = i + 1
        in_flight = in_flight + 1
        local res, err = self:call(action, rawget(list, i))   -- raw: a hook may have given the list a metatable
        in_flight = in_flight - 1
        finish(i, res, err)
      end
    end
  end
  local threads = {}
  for k = 1, math.min(n, concurrency > 0 and concurrency or MANY_MAX) do
    threads[k] = ngx.thread.spawn(worker, k)
  end
  for _, t in ipairs(threads) do ngx.thread.wait(t) end
  for i = 1, n do   -- not sent: the batch stopped (or a light thread died)
    if not results[i] then
      local err = stop == "ClientClosed" and core.error("config", "ClientClosed", "this client was closed during the batch")
        or stop and core.error("config", "Cancelled", "not sent: on_result asked the batch to stop")
        or core.error("config", "InternalError", "the light thread sending this item failed")
      finish(i, nil, err)
    end
  end
  return results
end

function Client:call_many(action, list, opts) return call_many(self, action, list, opts, 2) end

for _, op in ipairs(core.operations()) do
  local action, method = op.action, op.method
  Client[method] = function(self, params) return self:call(action, params) end
  Client[method .. "_many"] = function(self, list, opts) return call_many(self, action, list, opts, 1) end
end

-- client:plan and client:apply (lua/livepull/plan.lua) through the methods above
local plan = require "livepull.plan"
Client.plan, Client.apply = plan.plan, plan.apply

function Client:close()
  self.closed = true
  self.core:close()
end

return M
