-- Builds the public module on the C core. One implementation, two entry
-- points: require "livepull" raises error tables, require "livepull.safe"
-- returns nil, err instead (the mode is kept in each client).
local core = require "livepull.core"

local MAX_CACHED_CLIENTS = 8

-- A stable text for a config table, so equal configs share one client (and
-- its kept-alive connection) even when each call builds a fresh table.
local function config_key(config)
  if config == nil then return "" end
  if type(config) ~= "table" or getmetatable(config) ~= nil then return nil end
  local keys = {}
  for k in pairs(config) do
    if type(k) ~= "string" then return nil end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do
    local v = config[k]
    parts[i] = k .. "=" .. type(v) .. ":" .. tostring(v)
  end
  return table.concat(parts, "\0")
end

return function(safe)
  local M = {
    version = core.version,
    is_error = core.is_error,
  }
  local cache, cached = {}, 0

  function M.new(config)
    return core.new(config, safe)
  end

  local function client_for(config)
    local key = config_key(config)
    local client = key and cache[key]
    if client then return client end
    local err
    client, err = core.new(config, safe)
    if not client then return nil, err end
    if key then
      if cached >= MAX_CACHED_CLIENTS then   -- a bound, not an LRU: configs rarely vary
        for _, old in pairs(cache) do old:close() end
        cache, cached = {}, 0
      end
      cache[key], cached = client, cached + 1
    end
    return client
  end

  -- livepull.update(params [, config]) and one such function per operation.
  for action, method in pairs(core.operations()) do
    M[method] = function(params, config)
      local client, err = client_for(config)
      if not client then return nil, err end
      return client:call(action, params)
    end
  end

  return M
end
