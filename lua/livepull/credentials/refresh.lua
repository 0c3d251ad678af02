-- One client's credentials over time: fetched from its provider (or, the
-- first time, the default chain), used until stale, refreshed one at a time,
-- kept through a failed refresh while more than a minute is left, the
-- client's signer re-keyed with each new snapshot.
local core = require "livepull.core"
local chain = require("livepull.credentials.util").lazy "livepull.credentials.chain"

local R = {}
R.__index = R

R.MIN_LEFT = 60          -- seconds: less than this left, a failed refresh fails the call
R.MAX_LEAD = 900         -- stale 15 minutes before expiry at most ...
R.LEAD_FRACTION = 1 / 3  -- ... or with a third of the lifetime left, whichever is shorter
R.BACKOFF = { 10, 20, 40, 60 }   -- seconds between failed refreshes (at most one per 10 s)

-- provider nil: the default chain picks one at the first fetch.
function R.new(ctx, provider)
  return setmetatable({ ctx = ctx, provider = provider, failures = 0, retry_at = -math.huge,
                        stale_at = -math.huge, refreshable = true }, R)
end

function R.static(info)
  return setmetatable({ provider = { name = "access_key" }, key_id = info.access_key_id,
                        refreshed_at = info.refreshed_at, stale_at = math.huge }, R)
end

local function wrap(provider, cause)
  if cause.code == "MissingCredentials" and not provider then return cause end
  local name = provider and provider.name or "default"
  local from = provider and provider.source and (" (" .. provider.source .. ")") or ""
  return core.error("config", "CredentialsRefreshFailed",
    ("could not get credentials from %s%s: %s: %s"):format(name, from, tostring(cause.code), tostring(cause.message)),
    { provider = name, source = provider and provider.source, cause = cause, retryable = cause.retryable == true })
end

-- When a snapshot fetched at `now` goes stale.
function R.stale_time(expiration, now)
  if not expiration then return math.huge end
  return expiration - math.min(R.MAX_LEAD, (expiration - now) * R.LEAD_FRACTION)
end

-- A provider's fetch through ctx.share (nginx with shared_dict: the worker
-- that refreshes shares the snapshot with the others, under a short lock).
local function shared_fetch(ctx, provider)
  local share, key = ctx.share, provider.share_key
  local function fresh()
    local snap = share.get(key)
    if snap and ctx.now() < snap.stale_at then return snap end
  end
  local snap = fresh()
  if snap then return snap end
  if not share.lock(key) then   -- another worker is fetching: wait for its result
    snap = share.wait(key, fresh)
    if snap then return snap end
    if not share.lock(key) then return provider.fetch(ctx) end   -- it gave up: fetch alone
  end
  snap = fresh()
  local err
  if not snap then
    snap, err = provider.fetch(ctx)
    if snap and (not snap.expiration or snap.expiration > ctx.now()) then
      snap.stale_at = R.stale_time(snap.expiration, ctx.now())
      share.set(key, snap)
    end
  end
  share.unlock(key)
  return snap, err
end

-- One fetch: provider, snapshot or provider, nil, err.
function R:fetch()
  if self.provider then
    local fetch = self.ctx.share and self.provider.share_key and shared_fetch or self.provider.fetch
    local snap, err = fetch(self.ctx, self.provider)
    return self.provider, snap, err
  end
  local p, snap = chain.resolve(self.ctx)
  if not p then return nil, nil, snap end
  return p, snap
end

-- Swaps the client to a fetched snapshot; true or nil, err.
function R:install(client, snap, now)
  if snap.expiration and snap.expiration <= now then
    return nil, core.error("protocol", "ExpiredCredentials",
      ("the provider gave credentials that expired %d s ago"):format(now - snap.expiration))
  end
  local ok, err = core.set_credentials(client, snap.access_key_id, snap.access_key_secret, snap.security_token)
  if not ok then return nil, err end
  self.key_id, self.expiration, self.refreshed_at = snap.access_key_id, snap.expiration, now
  self.generation = (self.generation or 0) + 1
  self.stale_at = snap.stale_at or R.stale_time(snap.expiration, now)   -- shared: the fetching worker's
  return true
end

local function time_left(self, now) return self.expiration and self.expiration - now or math.huge end

-- Before a signing: true when the client holds usable credentials, else
-- nil, err (MissingCredentials or CredentialsRefreshFailed).
function R:ensure(client)
  local ctx = self.ctx
  local now = ctx.now()
  if not self.refreshable or (self.key_id and now < self.stale_at) then return true end
  local usable = self.key_id and time_left(self, now) > R.MIN_LEFT
  if self.refreshing then   -- another light thread (nginx) is fetching
    if usable then return true end
    if not ctx.wait then
      return nil, core.error("config", "CredentialsRefreshFailed", "a refresh is already running on this client",
        { provider = self.provider and self.provider.name or "default" })
    end
    ctx.wait(self)
    return self:ensure_after_wait(client)
  end
  if now < self.retry_at then
    if usable then return true end
    return nil, self.last_error
  end
  self.refreshing = true
  local ok, provider, snap, err = pcall(self.fetch, self)
  self.refreshing = false
  if ctx.wake then ctx.wake(self) end
  if not ok then   -- a bug below, never a secret: the message is not kept
    provider, err = self.provider, core.error("config", "ProviderFailed", "the credential provider raised an error")
  end
  if snap then
    ok, err = self:install(client, snap, now)
    if ok then
      self.provider, self.failures, self.retry_at, self.last_error = provider, 0, -math.huge, nil
      return true
    end
    if err.code == "ClientClosed" then return nil, err end   -- closed (e.g. by <close>): not a provider failure
  end
  self.failures = self.failures + 1
  self.retry_at = now + R.BACKOFF[math.min(self.failures, #R.BACKOFF)]
  self.last_error = wrap(provider or self.provider, err)
  if usable then return true end
  return nil, self.last_error
end

function R:ensure_after_wait(client)
  local now = self.ctx.now()
  if self.key_id and time_left(self, now) > 0 and now < self.stale_at then return true end
  if self.key_id and time_left(self, now) > R.MIN_LEFT then return true end
  if self.last_error then return nil, self.last_error end
  return self:ensure(client)
end

-- credentials_info(): never the secret or token; the key ID by its first 6 characters.
function R:info()
  return {
    provider = self.provider and self.provider.name or "default",
    source = self.provider and self.provider.source,
    access_key_id = self.key_id and (self.key_id:sub(1, 6) .. "...") or nil,
    expiration = self.expiration,
    refreshed_at = self.refreshed_at,
  }
end

return R
