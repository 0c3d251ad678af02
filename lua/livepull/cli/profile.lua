-- Credentials from the aliyun CLI's profile file (~/.aliyun/config.json), so
-- users of that tool need no new setup. Modes AK and StsToken are read.
local cjson = require "cjson.safe"

local M = {}

function M.path()
  local home = os.getenv("HOME") or ""
  return home .. "/.aliyun/config.json"
end

-- The named profile (or the file's "current" one) as client options, or
-- nil, message. A missing file is not an error unless a name was asked for.
function M.load(name, path)
  path = path or M.path()
  local f = io.open(path, "rb")
  if not f then
    if name then return nil, "profile \"" .. name .. "\" asked for, but " .. path .. " does not exist" end
    return {}
  end
  local text = f:read("*a")
  f:close()
  local doc = cjson.decode(text)
  if type(doc) ~= "table" or type(doc.profiles) ~= "table" then
    return nil, path .. " is not an aliyun CLI configuration (no profiles)"
  end
  name = name or doc.current or "default"
  for _, p in ipairs(doc.profiles) do
    if type(p) == "table" and p.name == name then
      if p.mode ~= "AK" and p.mode ~= "StsToken" then
        return nil, ("profile %q has mode %s; livepull reads modes AK and StsToken"):format(name, tostring(p.mode))
      end
      local function str(v) return type(v) == "string" and v ~= "" and v or nil end
      return {
        access_key_id = str(p.access_key_id),
        access_key_secret = str(p.access_key_secret),
        security_token = p.mode == "StsToken" and str(p.sts_token) or nil,
        region_id = str(p.region_id),
      }
    end
  end
  return nil, ("no profile %q in %s"):format(name, path)
end

return M
