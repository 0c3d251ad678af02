-- livepull.resty: the same calls as livepull, sent over nginx cosockets so
-- an nginx worker never blocks. Validation, signing, parsing and the retry
-- decision are the C core's (client:prepare, client:parse, client:backoff);
-- this file only moves bytes and sleeps with ngx.sleep.
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
local LOCK_TRIES = 200   -- x 1 ms: a shared-dict lock is held for microseconds

local function now()
  ngx.update_time()
  return ngx.now()
end

local function transport_error(code, message, retryable)
  return core.error("transport", code, message, { retryable = retryable })
end

-- Pacing across every worker: the native token bucket's arithmetic
-- (core.bucket_take) over state in a lua_shared_dict, under a short lock.
local function shared_pace(dict, rate, burst)
  if rate <= 0 then return 0 end
  local lock = "livepull:lock"
  for _ = 1, LOCK_TRIES do
    if dict:add(lock, true, 1) then
      local tokens = dict:get("livepull:tokens") or burst
      local last = dict:get("livepull:last") or now()
      local wait
      tokens, last, wait = core.bucket_take(tokens, last, rate, burst, now())
      dict:set("livepull:tokens", tokens)
      dict:set("livepull:last", last)
      dict:delete(lock)
      return wait
    end
    sleep(0.001)
  end
  return nil, core.error("config", "PacingLockTimeout",
    "could not take the shared pacing lock (is the shared dict full?)")
end

local provider_transport, dict_share   -- defined below the HTTP helpers they use

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
  -- base_url is scheme://host[:port], host possibly a bracketed IPv6 address
  local scheme, host, port = s.base_url:match("^(https?)://%[([^%]]+)%]:?(%d*)$")
  if not scheme then scheme, host, port = s.base_url:match("^(https?)://([^:]+):?(%d*)$") end
  local self = setmetatable({
    core = client, settings = s, scheme = scheme, host = host,
    port = tonumber(port) or (scheme == "https" and 443 or 80),
  }, Client)
  if s.shared_dict then
    self.dict = ngx.shared[s.shared_dict]
    if not self.dict then
      client:close()
      return nil, core.error("config", "InvalidConfig",
        ("shared_dict %q is not a lua_shared_dict of this nginx"):format(s.shared_dict), { field = "shared_dict" })
    end
  end
  return self
end

function Client:pace()
  if self.dict then return shared_pace(self.dict, self.settings.rate_limit, self.settings.rate_burst) end
  return self.core:pace()
end

local function receive_headers(sock)
  local line, err = sock:receive("*l")
  if not line then return nil, err end
  local version, code = line:match("^HTTP/(%d%.%d) (%d%d%d)")
  local status = tonumber(code)
  if not status then return nil, "bad status line" end
  local headers = { ["@version"] = version }   -- not a header name: '@' cannot be one
  while true do
    line, err = sock:receive("*l")
    if not line then return nil, err end
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if name then headers[name:lower()] = value end
  end
  return status, headers
end

-- The body by chunks, Content-Length, or until close; never more than
-- limit. deadline() sets the socket's timeout to the time the call has left.
local function receive_body(sock, headers, limit, deadline)
  local chunked = (headers["transfer-encoding"] or ""):lower():find("chunked", 1, true)
  local length_text = headers["content-length"]
  if length_text and not chunked then   -- chunked framing wins when both are sent
    if not length_text:match("^%d+$") then return nil, "bad content-length" end
    local length = tonumber(length_text)
    if length > limit then return nil, "too large" end
    if length == 0 then return "" end
    if not deadline() then return nil, "timeout" end
    return sock:receive(length)
  end
  if chunked then
    local parts, total = {}, 0
    while true do
      if not deadline() then return nil, "timeout" end
      local size_line, err = sock:receive("*l")
      if not size_line then return nil, err end
      local hex = size_line:match("^%x+")
      local size = hex and tonumber(hex, 16)
      if not size then return nil, "bad chunk" end
      if size == 0 then
        repeat size_line, err = sock:receive("*l") until not size_line or size_line == ""
        return size_line and table.concat(parts) or nil, err
      end
      total = total + size
      if total > limit then return nil, "too large" end
      local data
      data, err = sock:receive(size)
      if not data then return nil, err end
      parts[#parts + 1] = data
      sock:receive(2)   -- the CRLF after each chunk
    end
  end
  local parts, total = {}, 0   -- no length: the body ends when the server closes
  while true do
    if not deadline() then return nil, "timeout" end
    local data, err, partial = sock:receive(8192)
    data = data or partial
    if data and #data > 0 then
      total = total + #data
      if total > limit then return nil, "too large" end
      parts[#parts + 1] = data
    end
    if err == "closed" then return table.concat(parts) end
    if err then return nil, err end
  end
end

local function classify(err, stage)
  if err == "timeout" then return transport_error("Timeout", stage .. " timed out", true) end
  if stage == "connect" then return transport_error("CouldNotConnect", "connect failed: " .. tostring(err), true) end
  if stage == "tls" then
    if tostring(err):find("verify", 1, true) then
      return transport_error("TLSVerificationFailed", "TLS handshake failed: " .. tostring(err), false)
    end
    return transport_error("TLSConnectError", "TLS handshake failed: " .. tostring(err), false)
  end
  if stage == "send" then return transport_error("SendError", "send failed: " .. tostring(err), true) end
  if stage == "status" and err == "closed" then
    return transport_error("EmptyReply", "the server closed the connection without answering", true)
  end
  return transport_error("ReceiveError", stage .. " failed: " .. tostring(err), true)
end

-- One HTTP exchange over a pooled cosocket: status, headers, body or nil,
-- nil, nil, err. `timeout` bounds the whole exchange, as in the native path.
function Client:exchange(req, fresh)
  local s = self.settings
  local sock = tcp()
  local stop_at = now() + s.timeout
  local function deadline()   -- the time left, applied to the socket; false when none is
    local left = stop_at - now()
    if left <= 0 then return false end
    sock:settimeout(math.max(1, math.floor(left * 1000)))
    return true
  end
  sock:settimeouts(s.connect_timeout * 1000, s.timeout * 1000, s.timeout * 1000)
  local pool = ("livepull:%s:%s:%d"):format(self.scheme, self.host, self.port)
  local ok, err = sock:connect(self.host, self.port, { pool = pool })
  if not ok then return nil, nil, nil, classify(err, "connect") end
  local reused = sock:getreusedtimes() > 0
  if self.scheme == "https" and not reused then
    if not deadline() then sock:close(); return nil, nil, nil, classify("timeout", "tls") end
    ok, err = sock:sslhandshake(nil, self.host, true)
    if not ok then sock:close(); return nil, nil, nil, classify(err, "tls") end
  end
  local path = req.url:match("^https?://[^/]+(/.*)$")
  local lines = { req.method .. " " .. path .. " HTTP/1.1" }
  for name, value in pairs(req.headers) do lines[#lines + 1] = name .. ": " .. value end
  if req.method == "POST" then lines[#lines + 1] = "content-length: " .. #req.body end
  lines[#lines + 1] = ""
  lines[#lines + 1] = req.body
  local status, headers
  if deadline() then
    ok, err = sock:send(table.concat(lines, "\r\n"))
    if ok then
      if deadline() then status, headers = receive_headers(sock) else headers = "timeout" end
    end
  else
    err = "timeout"
  end
  if not status then
    sock:close()
    local why = err or headers
    -- A kept-alive connection the server had already closed: it never read
    -- the request, so one fresh connection is not a retry (libcurl does the same).
    if reused and not fresh and why ~= "timeout" then return self:exchange(req, true) end
    return nil, nil, nil, classify(why, ok and "status" or "send")
  end
  local body
  body, err = receive_body(sock, headers, s.max_response_bytes, deadline)
  if not body then
    sock:close()
    if err == "too large" then
      return nil, nil, nil, core.error("protocol", "ResponseTooLarge",
        ("the response body is larger than max_response_bytes (%d bytes)"):format(s.max_response_bytes),
        { status = status })
    end
    if err == "bad content-length" then
      return nil, nil, nil, core.error("protocol", "InvalidResponse", "the answer's Content-Length is not a number",
        { status = status })
    end
    return nil, nil, nil, classify(err, "body")
  end
  local connection = (headers.connection or ""):lower()
  if connection == "close" or (headers["@version"] == "1.0" and connection ~= "keep-alive") then
    sock:close()
  else
    sock:setkeepalive(KEEPALIVE_IDLE_MS, KEEPALIVE_POOL)
  end
  return status, headers, body
end

-- The credential providers' HTTP (instance metadata, STS, a credentials
-- URI) over a cosocket: the same URL rule as core.fetch, its own short
-- timeouts, no redirects, no keepalive, TLS verified (lua_ssl_trusted_certificate).
local function provider_http(req)
  local ok, err = core.fetch_check(req.url)
  if not ok then return nil, err end
  local scheme, authority, path = req.url:match("^(https?)://([^/?#]+)(.*)$")
  local host, port = authority:match("^%[([^%]]+)%]:?(%d*)$")
  if not host then host, port = authority:match("^([^:]+):?(%d*)$") end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if path == "" or path:sub(1, 1) == "?" then path = "/" .. path end
  local sock = tcp()
  local stop_at = now() + req.timeout
  local function deadline()
    local left = stop_at - now()
    if left <= 0 then return false end
    sock:settimeout(math.max(1, math.floor(left * 1000)))
    return true
  end
  sock:settimeouts(req.connect_timeout * 1000, req.timeout * 1000, req.timeout * 1000)
  ok, err = sock:connect(host, port)
  if not ok then return nil, classify(err, "connect") end
  if scheme == "https" then
    ok, err = sock:sslhandshake(nil, host, true)
    if not ok then sock:close(); return nil, classify(err, "tls") end
  end
  local body = req.body or ""
  local lines = { ("%s %s HTTP/1.1"):format(req.method, path), "host: " .. authority, "connection: close",
                  "content-length: " .. #body }
  for name, value in pairs(req.headers or {}) do
    if tostring(name):find("[%c:]") or tostring(value):find("[%c]") then
      sock:close()
      return nil, core.error("config", "InvalidHeader", "a header name or value holds a control character")
    end
    lines[#lines + 1] = name .. ": " .. value
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = body
  local status, headers
  if not deadline() then sock:close(); return nil, classify("timeout", "send") end
  ok, err = sock:send(table.concat(lines, "\r\n"))
  if ok and deadline() then status, headers = receive_headers(sock) else headers = err or "timeout" end
  if not status then sock:close(); return nil, classify(headers, ok and "status" or "send") end
  local answer
  answer, err = receive_body(sock, headers, 65536, deadline)
  sock:close()
  if not answer then
    if err == "too large" then
      return nil, core.error("protocol", "ResponseTooLarge", "the provider's answer is larger than its limit")
    end
    return nil, classify(err, "body")
  end
  return status, headers, answer
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

-- The retry loop of the native path, with ngx.sleep.
function Client:call(action, params)
  for attempt = 1, math.huge do
    local wait, perr = self:pace()
    if not wait then return nil, perr end
    if wait > 0 then sleep(wait) end
    local req, err = self.core:prepare(action, params)   -- a new nonce and time per attempt
    if not req then return nil, err end
    local generation = credentials.generation(self.core)
    local status, headers, body, terr = self:exchange(req)
    local res
    if status then res, err = self.core:parse(status, headers, body) else err = terr end
    -- parse scrubs the client's current STS token from a SignatureDoesNotMatch
    -- message (it quotes the string to sign); after a refresh in another light
    -- thread the request carried the previous token, so the quote goes whole.
    if err and err.code == "SignatureDoesNotMatch" and credentials.generation(self.core) ~= generation then
      err.message = "the signature does not match (the service's string to sign is withheld: the credentials "
        .. "were refreshed during the call)"
    end
    if res then return res end
    err.attempts = attempt
    local delay = self.core:backoff(err, attempt, headers, action)
    if not delay then return nil, err end
    sleep(delay)
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
