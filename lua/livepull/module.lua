-- Builds the public module on the C core. One implementation, two entry
-- points: require "livepull" raises error tables, require "livepull.safe"
-- returns nil, err instead (the mode is kept in each client).
local core = require "livepull.core"
local credentials = require "livepull.credentials"

local MAX_CACHED_CLIENTS = 8

-- Inside nginx (the global ngx) a plain client sends over cosockets where
-- the phase has them (livepull.nginx); elsewhere it is the C core's alone.
local ngx_lua = rawget(_G, "ngx")
local new_client = type(ngx_lua) == "table" and ngx_lua.get_phase and require("livepull.nginx").new
  or credentials.new

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

-- No answer is followed past this many pages (100 tasks each by default).
local MAX_PAGES = 10000

-- A protocol error about a page, raised or returned as the client fails.
local function bad_page(client, message)
  return core.fail(client, core.error("protocol", "InvalidResponse", message))
end

-- The page's entries when TaskList is a list (an empty one decodes as {}),
-- else nil.
local function entries(list)
  if list == nil then return {} end
  if type(list) ~= "table" then return nil end
  local n = #list
  for k in next, list do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then return nil end
  end
  return list
end

-- The TaskIds of a page, to see the service answer the same page again.
local function page_identity(page)
  local ids = {}
  for i, task in ipairs(page) do ids[i] = type(task) == "table" and tostring(task.TaskId) or "?" end
  return #page .. ":" .. table.concat(ids, "\0")
end

-- client:tasks(params): every task of a DescribeLivePullToPushList query,
-- page after page. The caller's table is copied, never changed. The loop
-- ends after Total tasks, on an empty page, on a page that repeats the one
-- before (a service that answers the last page for any later number), and
-- after MAX_PAGES. A page that is not a list is a protocol InvalidResponse
-- error. With livepull.safe a failed page ends the loop; call the iterator
-- by hand to get nil, err.
local function tasks(client, params)
  local query = {}
  if type(params) == "table" then
    for k, v in next, params do query[k] = v end
  end
  query.PageSize = query.PageSize or 100
  local page_number = query.PageNumber or 1
  local page, index, seen, total, identity, pages = nil, 0, 0, nil, nil, 0
  return function()
    while true do
      if page and index < #page then
        index, seen = index + 1, seen + 1
        return page[index]
      end
      if page and (#page == 0 or (total and seen >= total)) then return nil end
      if pages >= MAX_PAGES then
        return bad_page(client, ("the task list did not end after %d pages"):format(MAX_PAGES))
      end
      query.PageNumber = page_number
      local res, err = client:list(query)
      if not res then return nil, err end
      local list = entries(res.TaskList)
      if not list then
        return bad_page(client, ("TaskList must be a list of tasks (got a %s)"):format(
          type(res.TaskList) == "table" and "JSON object" or type(res.TaskList)))
      end
      local this_identity = page_identity(list)
      if #list > 0 and this_identity == identity then return nil end
      page, index, identity, total = list, 0, this_identity, tonumber(res.Total)
      page_number, pages = page_number + 1, pages + 1
    end
  end
end
core.client_methods().tasks = tasks
-- client:plan and client:apply (lua/livepull/plan.lua), loaded at their first call, so that a
-- program (the command's update, say) that never plans does not load it at start.
local methods = core.client_methods()
function methods.plan(...) return require("livepull.plan").plan(...) end
function methods.apply(...) return require("livepull.plan").apply(...) end

return function(safe)
  local M = {
    version = core.version,
    is_error = core.is_error,
  }
  local cache, cached = {}, 0

  function M.new(config)
    return new_client(config, safe)
  end

  local function client_for(config)
    local key = config_key(config)
    local client = key and cache[key]
    if client then return client end
    local err
    client, err = new_client(config, safe)
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
  for _, op in ipairs(core.operations()) do
    local action, method = op.action, op.method
    -- An operation may not hide new, version or is_error.
    if M[method] then error(("livepull: the function %s of %s is taken"):format(method, action)) end
    M[method] = function(params, config)
      local client, err = client_for(config)
      if not client then return nil, err end
      return client:call(action, params)
    end
  end

  return M
end
