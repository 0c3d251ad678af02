-- Plain clients inside nginx: a client of require "livepull" (or
-- "livepull.safe") decides at each call whether the running phase has
-- cosockets. Where it has, the call goes through a livepull.resty twin built
-- from the same options (its validation, pacing, retries and light threads:
-- no second copy of them), answered in the plain module's way (raise, or
-- nil, err); elsewhere (init, init_worker, set, filters, log, balancer) it
-- stays on libcurl. livepull.module loads this only when the global ngx
-- exists, so outside nginx nothing changes. See docs/nginx.md.
local core = require "livepull.core"
local credentials = require "livepull.credentials"

local get_phase = ngx.get_phase
local resty   -- livepull.resty, loaded with the first twin

-- The phases whose Lua may yield on a cosocket: lua-nginx-module's
-- NGX_HTTP_LUA_CONTEXT_YIELDABLE (rewrite, server_rewrite, access, content,
-- timer, ssl_client_hello, ssl_cert, ssl_session_fetch) and the stream
-- module's preread (its content, timer and ssl_* phases share those names).
local COSOCKET_PHASES = {
  rewrite = true, server_rewrite = true, access = true, content = true, timer = true,
  ssl_client_hello = true, ssl_cert = true, ssl_session_fetch = true, preread = true,
}

-- A provider's first fetch over libcurl would block a phase that has
-- cosockets: there the plain client's own credentials wait for its first
-- libcurl call, and the twin resolves over cosockets instead.
local LAZY = { lazy = true }

local M = {}

-- plain client -> { resty = its twin (nil when none could be made),
-- err = why not, safe = the plain client's mode }. Weak keys; nothing in
-- the value refers to the plain client.
local twins = setmetatable({}, { __mode = "k" })

local function fail(safe, err)
  if safe then return nil, err end
  error(err)
end

-- Whether the running phase has cosockets.
function M.cosockets()
  return COSOCKET_PHASES[get_phase()] == true
end

-- livepull.new(config) inside nginx: the plain client and, unless
-- force_libcurl is set, its twin. Made where cosockets exist, the client's
-- credentials are resolved now over them, so a failure shows at new as it
-- does outside nginx; a twin that cannot be made (a proxy) fails there too,
-- and elsewhere only fails a later call made where cosockets exist.
function M.new(config, safe)
  local here = M.cosockets()
  local client, err = credentials.new(config, safe, here and LAZY or nil)
  if not client then return nil, err end
  if client:settings().force_libcurl then return client end
  resty = resty or require "livepull.resty"
  local twin, why = resty.new(config)
  twins[client] = { resty = twin, err = why, safe = safe }
  if here then
    local ok = twin ~= nil
    if twin then ok, why = credentials.ensure(twin.core) end
    if not ok then
      client:close()
      return fail(safe, why)
    end
  end
  return client
end

local methods = core.client_methods()

-- Each sending method asks the phase at every call: a client made in
-- init_by_lua is used later in content handlers, and one made in a content
-- handler may be used in log_by_lua.
local function route(name, send)
  local original = methods[name]
  methods[name] = function(client, ...)
    local twin = twins[client]
    if twin and COSOCKET_PHASES[get_phase()] then
      if not twin.resty then return fail(twin.safe, twin.err) end
      local res, err = send(twin.resty, ...)
      if res == nil and err ~= nil then return fail(twin.safe, err) end
      return res
    end
    return original(client, ...)
  end
end

route("call", function(r, ...) return r:call(...) end)
route("call_many", function(r, ...) return r:call_many(...) end)
route("prepare", function(r, ...) return r.core:prepare(...) end)   -- it may refresh credentials
route("credentials_info", function(r) return r:credentials_info() end)
for _, op in ipairs(core.operations()) do
  local method = op.method
  local many = method .. "_many"
  route(method, function(r, ...) return r[method](r, ...) end)
  route(many, function(r, ...) return r[many](r, ...) end)
end
-- tasks, plan and apply call the methods above.

-- close() closes the twin too (a batch running on it stops with
-- ClientClosed); later calls fail at once in the C core, in any phase.
local close = methods.close
methods.close = function(client, ...)
  local twin = twins[client]
  if twin then
    twins[client] = nil
    if twin.resty then twin.resty:close() end
  end
  return close(client, ...)
end

return M
