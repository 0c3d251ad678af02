-- Builds the public module on the C core. One implementation, two entry
-- points: require "livepull" raises error tables, require "livepull.safe"
-- returns nil, err instead (the mode is kept in each client).
local core = require "livepull.core"

local MAX_CACHED_CLIENTS = 8

-- A text naming a config's content, so equal configs share one client (and
-- its kept-alive connection) even when each call builds a fresh table. Each
-- option is written length-prefixed (name, type, value), so no value can
-- mimic another option; only strings, numbers and booleans are written
-- (never through tostring, so no __tostring runs). Any other config is not
-- cached: nil, and the core judges it.
local function config_key(config)
  if config == nil then return "" end
  if type(config) ~= "table" or getmetatable(config) ~= nil then return nil end
  local keys = {}
  for k in next, config do
    if type(k) ~= "string" then return nil end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do
    local v, t = config[k], type(config[k])
    if t == "number" then v = ("%.17g"):format(v)
    elseif t == "boolean" then v = v and "true" or "false"
    elseif t ~= "string" then return nil end
    parts[i] = ("%d:%s%s%d:%s"):format(#k, k, t:sub(1, 1), #v, v)
  end
  return table.concat(parts)
end

-- client:tasks(params): every task of a DescribeLivePullToPushList query,
-- page after page. The caller's table is copied, never changed. With
-- livepull.safe a failed page ends the loop; call the iterator by hand to
-- get nil, err.
local function tasks(client, params)
  local query = {}
  if type(params) == "table" then
    for k, v in next, params do query[k] = v end
  end
  query.PageSize = query.PageSize or 100
  local page_number = query.PageNumber or 1
  local page, index, seen, total
  return function()
    while true do
      if page and index < #page then
        index, seen = index + 1, seen + 1
        return page[index]
      end
      if page and (#page == 0 or (total and seen >= total)) then return nil end
      query.PageNumber = page_number
      local res, err = client:list(query)
      if not res then return nil, err end
      page, index, seen, total = res.TaskList or {}, 0, seen or 0, tonumber(res.Total)
      page_number = page_number + 1
    end
  end
end
core.client_methods().tasks = tasks

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
