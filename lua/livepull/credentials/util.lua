-- What the credential providers share: their error tables, time parsing,
-- answer decoding, nonces and the environment rules (ALIBABA_CLOUD_*=true).
local core = require "livepull.core"
local cjson = require("cjson.safe").new()

local U = {}

function U.config_error(field, message)
  return core.error("config", "InvalidConfig", message, { field = field })
end

function U.protocol_error(message, status)
  return core.error("protocol", "InvalidResponse", message, { status = status })
end

-- "true" (any case) as the official libraries read a switch variable.
function U.env_true(env, name)
  local v = env(name)
  return v ~= nil and v:lower() == "true"
end

function U.env_set(env, name)
  local v = env(name)
  return v ~= nil and v ~= "" and v or nil
end

-- Days since 1970-01-01 of a civil date (proleptic Gregorian), so the
-- parse needs no time zone.
local function days_from_civil(y, m, d)
  local floor = math.floor
  y = m <= 2 and y - 1 or y
  local era = floor((y >= 0 and y or y - 399) / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- "2006-01-02T15:04:05Z" to epoch seconds, or nil.
function U.parse_time(text)
  if type(text) ~= "string" then return nil end
  local y, mo, d, h, mi, s = text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)Z$")
  if not y then return nil end
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or s > 60 then return nil end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
end

function U.format_time(epoch)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(epoch))
end

-- A JSON object from a provider's answer, or nil, protocol error.
function U.decode_object(body, what, status)
  local doc = cjson.decode(body)
  if type(doc) ~= "table" then
    return nil, U.protocol_error(what .. " answered with something that is not a JSON object", status)
  end
  return doc
end

-- The credential fields of an answer (AccessKeyId, ...) as a snapshot, or
-- nil, protocol error naming the first field missing. `expiration_required`:
-- temporary credentials must say when they end.
function U.snapshot(doc, what, status)
  local out = {
    access_key_id = doc.AccessKeyId, access_key_secret = doc.AccessKeySecret,
    security_token = doc.SecurityToken,
  }
  for _, name in ipairs { "AccessKeyId", "AccessKeySecret", "SecurityToken" } do
    if type(doc[name]) ~= "string" or doc[name] == "" then
      return nil, U.protocol_error(("%s answered without %s"):format(what, name), status)
    end
  end
  out.expiration = U.parse_time(doc.Expiration)
  if not out.expiration then
    return nil, U.protocol_error(what .. " answered without a valid Expiration (YYYY-MM-DDTHH:MM:SSZ)", status)
  end
  return out
end

-- 32 hex characters from the kernel's CSPRNG: STS request nonces.
function U.nonce()
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(16)
  f:close()
  return (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- Reads a small file whole (tokens, profiles), or nil, why, absent (true
-- when it could not be opened, false when it is too large).
function U.read_file(path, limit)
  local f, err = io.open(path, "rb")
  if not f then return nil, err, true end
  local text = f:read(limit + 1) or ""
  f:close()
  if #text > limit then return nil, ("%s is larger than %d bytes"):format(path, limit), false end
  return text
end

-- A module loaded at its first use: a client with static keys (the command
-- with --access-key-id, say) never pays for compiling the fetchers.
function U.lazy(name)
  return setmetatable({}, { __index = function(proxy, key)
    local module = require(name)
    setmetatable(proxy, { __index = module })
    return module[key]
  end })
end

return U
