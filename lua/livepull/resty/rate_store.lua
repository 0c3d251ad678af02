-- livepull.resty.rate_store: reserves one pacing slot in the Redis bucket an
-- account's hosts share, over an nginx cosocket (Debian's nginx.redis), the
-- whole exchange within rate_store_timeout, so a worker never blocks.
--
--   local reply, err, unavailable = rate_store.reserve(store, script, key, argv)
--
-- store is core.rate_store(client) (scheme, host, port, path, db, user,
-- password, timeout); script { source, sha1 } (core.rate_script()); argv
-- the script's ARGV. Returns the script's reply (a table), or nil, err,
-- unavailable: unavailable is true when Redis could not be asked or did not
-- answer in time (the caller falls back), false when Redis answered with a
-- refusal that no retry mends (a wrong password, a script or command
-- refused: a config error). What the reply means is the caller's.
local core = require "livepull.core"

local M = {}
local unpack = unpack   -- nginx runs LuaJIT (5.1)

local POOL_SIZE = 32        -- idle connections kept per worker and store
local IDLE_MS = 60000
local MESSAGE_MAX = 200     -- bytes of a Redis error reply quoted in an error

-- Loaded at the first reservation, so nginx without lua-nginx-redis runs
-- livepull.resty as long as no rate_store is set.
local redis
local function redis_module()
  if redis == nil then
    local ok, mod = pcall(require, "nginx.redis")
    redis = ok and mod or false
  end
  return redis
end

-- The store as logs and errors name it: never its user or password.
function M.describe(store)
  if store.scheme == "unix" then
    return ("unix://%s?db=%d"):format(store.path, store.db or 0)
  end
  local host = store.host
  if host:find(":", 1, true) and host:sub(1, 1) ~= "[" then host = "[" .. host .. "]" end
  return ("redis://%s:%d/%d"):format(host, store.port, store.db or 0)
end

-- One keepalive pool per address, database and identity: a connection that
-- authenticated as one user or selected one database never serves another.
-- The identity is a number this worker gives each user and password it
-- meets (never reused), so no form of the password is in a pool's name,
-- which nginx's debug log prints.
local IDENTITIES_MAX = 64
local identities, identity_count, last_identity = {}, 0, 0
local function pool_name(store)
  local who = (store.user or "") .. "\0" .. (store.password or "")
  local n = identities[who]
  if not n then
    if identity_count >= IDENTITIES_MAX then identities, identity_count = {}, 0 end   -- old pools idle out
    last_identity = last_identity + 1
    n, identities[who], identity_count = last_identity, last_identity, identity_count + 1
  end
  return ("livepull-redis:%s:%d"):format(M.describe(store), n)
end

-- A Redis error reply as a message: bytes from a server, so printable ASCII
-- only, cut, and never holding the password (a proxy could echo it).
local function quote_reply(store, text)
  text = tostring(text)
  if store.password and store.password ~= "" then
    local at = text:find(store.password, 1, true)
    while at do
      text = text:sub(1, at - 1) .. "<redacted>" .. text:sub(at + #store.password)
      at = text:find(store.password, 1, true)
    end
  end
  text = text:gsub("[^\32-\126]", "?")
  if #text > MESSAGE_MAX then text = text:sub(1, MESSAGE_MAX) .. "..." end
  return text
end

local function unavailable(store, why)
  return nil, core.error("transport", "RateStoreUnavailable",
    ("the rate store %s is unreachable or slow (%s; rate_store_timeout %g s)"):format(M.describe(store), why,
      store.timeout), { retryable = core.retry_rule("RateStoreUnavailable").retryable, field = "rate_store" }), true
end

local function refused(store, step, text)
  return nil, core.error("config", "RateStoreRejected",
    ("the rate store %s refused %s: %s; nothing was sent"):format(M.describe(store), step, quote_reply(store, text)),
    { field = "rate_store" }), false
end

-- Redis error replies that say "not now" (loading, a busy script, a
-- read-only replica, out of memory, a cluster in transition), not "never".
local TRANSIENT = { LOADING = true, BUSY = true, MASTERDOWN = true, READONLY = true, OOM = true,
                    TRYAGAIN = true, CLUSTERDOWN = true }
local function transient(text)
  return TRANSIENT[tostring(text):match("^(%u+)")] == true
end

-- nginx.redis trusts the sizes a reply announces (an array header of 2^30
-- allocates its table at once), reads lines of any length and arrays nested
-- to any depth. Its socket is wrapped: a line is at most LIMITS.line bytes,
-- a bulk string as long, an array at most LIMITS.items items, and all the
-- arrays of one reply together as many (the count restarts at each
-- command); livepull's replies are far smaller. Past a limit the exchange
-- ends as a store that cannot be read. The limits are the C core's
-- (csrc/rate_reply.h), which the native client holds too.
local LIMITS = core.rate_reply_limits()
local LINE_MAX, ITEMS_MAX = LIMITS.line, LIMITS.items
local Guard = {}
function Guard:receive(size)
  local sock = self.sock
  if size then return sock:receive(size) end   -- bulk data, its length already checked
  local read = sock:receiveuntil("\r\n")
  local line, err = read(LINE_MAX)
  if not line then return nil, err end
  local more
  more, err = read(LINE_MAX)   -- nil: the line ended within LINE_MAX bytes
  if more or err then
    sock:close()
    return nil, err or "a reply line longer than " .. LINE_MAX .. " bytes"
  end
  local kind, n = line:match("^([*$])(.*)$")
  if kind then
    n = tonumber(n)
    if kind == "*" and n and n > 0 then self.items = self.items + n end
    if not n or n % 1 ~= 0 or n > (kind == "*" and ITEMS_MAX or LINE_MAX) or self.items > ITEMS_MAX then
      sock:close()
      return nil, "a reply header livepull does not expect"
    end
  end
  return line
end
Guard.__index = function(guard, name)   -- every other method is the socket's
  if Guard[name] then return Guard[name] end
  return function(_, ...) return guard.sock[name](guard.sock, ...) end
end

-- Runs one command on red within the reservation's deadline: the reply,
-- or nil and a reason (a socket error), or false and Redis's error reply.
-- Should nginx.redis still raise on a malformed reply, that is caught: a
-- store that cannot be understood.
local function command(red, stop_at, name, ...)
  local left = stop_at - core.monotonic()
  if left <= 0 then return nil, "timeout" end
  red:set_timeout(math.max(1, math.floor(left * 1000)))
  red._sock.items = 0   -- the Guard's count of this reply's array items
  local ok, res, err = pcall(red[name], red, ...)
  if not ok then return nil, "a reply that is not RESP" end
  if res == nil then return nil, err or "no reply" end
  return res, err
end

-- AUTH and SELECT on a new connection (a pooled one did them already).
local function prepare(red, store, stop_at)
  if store.password and store.password ~= "" then
    local res, err
    if store.user and store.user ~= "" then
      res, err = command(red, stop_at, "auth", store.user, store.password)
    else
      res, err = command(red, stop_at, "auth", store.password)
    end
    if res == nil then return nil, err, true end
    if res == false then return nil, err, false, "AUTH" end
  end
  if store.db and store.db ~= 0 then
    local res, err = command(red, stop_at, "select", store.db)
    if res == nil then return nil, err, true end
    if res == false then return nil, err, false, "SELECT " .. store.db end
  end
  return true
end

-- The script by its SHA1; its source only after Redis answered NOSCRIPT
-- (a restart, a failover, SCRIPT FLUSH). A timeout or a lost reply is never
-- followed by a second run: the first may have reserved a slot.
local function run_script(red, script, stop_at, key, argv)
  local res, err = command(red, stop_at, "evalsha", script.sha1, 1, key, unpack(argv))
  if res == false and tostring(err):find("^NOSCRIPT") then
    res, err = command(red, stop_at, "eval", script.source, 1, key, unpack(argv))
  end
  return res, err
end

-- true, or nil and the config error of an nginx without nginx.redis
-- (checked when a client with a rate_store is made).
function M.check()
  if redis_module() then return true end
  return nil, core.error("config", "InvalidConfig",
    "rate_store needs the Lua module nginx.redis (Debian: apt-get install lua-nginx-redis) in lua_package_path",
    { field = "rate_store" })
end

function M.reserve(store, script, key, argv)
  local mod = redis_module()
  if not mod then return nil, select(2, M.check()), false end
  local stop_at = core.monotonic() + store.timeout
  local red = mod:new()
  red._sock = setmetatable({ sock = red._sock, items = 0 }, Guard)
  red:set_timeout(math.max(1, math.floor(store.timeout * 1000)))
  local ok, err
  local pool = { pool = pool_name(store), pool_size = POOL_SIZE }
  if store.scheme == "unix" then
    ok, err = red:connect("unix:" .. store.path, pool)
  else
    local host = store.host:match("^%[(.*)%]$") or store.host   -- a cosocket takes an IPv6 address bare
    ok, err = red:connect(host, store.port, pool)
  end
  if not ok then return unavailable(store, "connect: " .. tostring(err)) end
  local function fail_closed(...)
    red:close()
    return ...
  end
  if red:get_reused_times() == 0 then
    local done, why, down, step = prepare(red, store, stop_at)
    if not done then
      if down or transient(why) then return fail_closed(unavailable(store, tostring(why))) end
      return fail_closed(refused(store, step, why))
    end
  end
  local res
  res, err = run_script(red, script, stop_at, key, argv)
  if res == nil then return fail_closed(unavailable(store, tostring(err))) end
  if res == false then
    if transient(err) then return fail_closed(unavailable(store, quote_reply(store, err))) end
    return fail_closed(refused(store, "the pacing script", err))
  end
  red:set_keepalive(IDLE_MS, POOL_SIZE)
  return res
end

M.POOL_SIZE = POOL_SIZE
return M
