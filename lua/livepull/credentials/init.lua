-- livepull.credentials: where a client's keys come from. new() reads the
-- options access_key_* (static), credentials and profile, builds the
-- provider, and keeps each client's credential state; every signing method
-- first makes sure the client's credentials are fresh.
local core = require "livepull.core"
local U = require "livepull.credentials.util"
local profile = U.lazy "livepull.credentials.profile"
local providers = U.lazy "livepull.credentials.providers"
local refresh = require "livepull.credentials.refresh"

local M = {}

-- client -> state. Weak keys: the state never holds its client (LuaJIT's
-- weak tables are not ephemerons).
local states = setmetatable({}, { __mode = "k" })

local function native_ctx(cfg)
  return { http = core.fetch, now = os.time, env = os.getenv, ca_file = cfg.ca_file, ca_path = cfg.ca_path }
end

-- The provider the options ask for (nil: the default chain), or nil, err.
local function provider_for(ctx, cfg)
  local c, name = cfg.credentials, cfg.profile
  if c ~= nil and name ~= nil then
    return nil, U.config_error("profile", "give credentials or profile, not both")
  end
  if name ~= nil then
    if type(name) ~= "string" or name == "" then return nil, U.config_error("profile", "profile must be a profile name") end
    local spec, err, why = profile.cli(ctx.env, name)
    if not spec then
      return nil, err or U.config_error("profile", ("profile %q asked for, but there is %s"):format(name:sub(1, 64), why))
    end
    return providers.from_spec(ctx, spec, true)
  end
  if c == nil or c == "default" then return false end
  if type(c) == "function" then return providers.from_function(c) end
  if type(c) == "table" and getmetatable(c) == nil then
    local spec = {}
    for k, v in pairs(c) do spec[k] = v end
    return providers.from_spec(ctx, spec, false)
  end
  return nil, U.config_error("credentials",
    "credentials must be \"default\", a table with a type field, or a function returning credentials")
end

local function fail(safe, err)
  if safe then return nil, err end
  error(err)
end

-- livepull.new(config): transport nil (native: resolves now, over
-- core.fetch), or { http, now, wait, wake, lazy, no_process } (nginx:
-- cosockets, resolved at the first call).
function M.new(config, safe, transport)
  if config ~= nil and (type(config) ~= "table" or getmetatable(config) ~= nil) then
    return core.new(config, safe)   -- the C reader reports what is wrong with it
  end
  local cfg = config or {}
  local keys = cfg.access_key_id ~= nil or cfg.access_key_secret ~= nil or cfg.security_token ~= nil
  if keys and cfg.credentials == nil and cfg.profile == nil then
    local client, err = core.new(config, safe)
    if client then
      states[client] = refresh.static {
        access_key_id = cfg.access_key_id or os.getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), refreshed_at = os.time() }
    end
    return client, err
  end
  local core_config = cfg
  if cfg.credentials == nil and cfg.profile == nil then   -- the default chain, said for the C reader
    core_config = {}
    for k, v in pairs(cfg) do core_config[k] = v end
    core_config.credentials = "default"
  end
  local client, err = core.new(core_config, safe)   -- every other option checked first
  if not client then return nil, err end
  local ctx = native_ctx(cfg)
  for k, v in pairs(transport or {}) do ctx[k] = v end
  local provider
  provider, err = provider_for(ctx, cfg)
  if provider == nil then
    client:close()
    return fail(safe, err)
  end
  local state = refresh.new(ctx, provider or nil)
  if not ctx.lazy then
    local ok
    ok, err = state:ensure(client)
    if not ok then
      client:close()
      return fail(safe, err)
    end
  end
  states[client] = state
  return client
end

-- How many times the client was re-keyed: a transport that yields between
-- prepare and parse (livepull.resty) sees whether a refresh came between.
function M.generation(client)
  local state = states[client]
  return state and state.generation or 0
end

-- Makes sure the client holds usable credentials now (fetching them if its
-- state is lazy): true or nil, err. A plain client made inside nginx where
-- cosockets exist resolves this way at new, over its cosocket twin.
function M.ensure(client)
  local state = states[client]
  if state and state.refreshable then return state:ensure(client) end
  return true
end

-- The client methods that sign make sure of the credentials first; close
-- forgets the state. The methods table is the C core's, shared by clients.
local methods = core.client_methods()

local function fresh_first(original)
  return function(client, ...)
    local state = states[client]
    if state and state.refreshable then
      local ok, err = state:ensure(client)
      if not ok then return core.fail(client, err) end
    end
    return original(client, ...)
  end
end

local signing = { "call", "prepare", "call_many" }
for _, op in ipairs(core.operations()) do signing[#signing + 1] = op.method end
for _, name in ipairs(signing) do
  if methods[name] then methods[name] = fresh_first(methods[name]) end
end

local close = methods.close
methods.close = function(client, ...)
  states[client] = nil
  return close(client, ...)
end

-- client:credentials_info() -> { provider, source, access_key_id = "LTAI5t...",
-- expiration, refreshed_at }: never the secret or the token.
function methods.credentials_info(client)
  local state = states[client]
  -- closed by close(), or by <close>/__gc, which reach the C method directly
  if not state or tostring(client):find("(closed)", 1, true) then
    return core.fail(client, core.error("config", "ClientClosed", "this client was closed"))
  end
  return state:info()
end

return M
