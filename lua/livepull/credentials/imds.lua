-- The ECS instance metadata service (IMDS): an IMDSv2 token (PUT), then the
-- role name (unless given), then the role's credentials; without a token
-- (IMDSv1) only when ALIBABA_CLOUD_IMDSV1_DISABLED is not true.
local core = require "livepull.core"
local U = require "livepull.credentials.util"

local I = {}

I.DEFAULT_ENDPOINT = "http://100.100.100.200"
local ROLE_PATH = "/latest/meta-data/ram/security-credentials/"
local TOKEN_TTL = "21600"
local TIMEOUTS = { connect_timeout = 1, timeout = 2 }   -- 1 s connect + 1 s read, as the SDKs

local function get(ctx, req)
  req.connect_timeout, req.timeout = TIMEOUTS.connect_timeout, TIMEOUTS.timeout
  return ctx.http(req)
end

-- The IMDSv2 token, or nil (v1 allowed) / nil, err (v1 disabled).
local function session_token(ctx, base, v1_disabled)
  local status, headers, body = get(ctx, { method = "PUT", url = base .. "/latest/api/token",
    headers = { ["X-aliyun-ecs-metadata-token-ttl-seconds"] = TOKEN_TTL } })
  if status == 200 and body:match("^[%w%-_%.=+/]+$") and #body <= 1024 then return body end
  -- Unreachable (not an ECS host): going on without a token would only pay the timeouts again.
  if not status then return nil, headers end   -- headers: the error
  if not v1_disabled then return nil end
  return nil, core.error("api", "MetadataTokenFailed",
    ("the instance metadata service refused an IMDSv2 token (HTTP %d) and ALIBABA_CLOUD_IMDSV1_DISABLED=true"
     .. " forbids going on without one"):format(status), { status = status })
end

local function metadata(ctx, base, path, token)
  local status, headers, body = get(ctx, { method = "GET", url = base .. path,
    headers = token and { ["X-aliyun-ecs-metadata-token"] = token } or nil })
  if not status then return nil, headers end   -- headers: the error
  if status ~= 200 then
    return nil, core.error("api", "MetadataRequestFailed",
      ("the instance metadata service answered HTTP %d for %s"):format(status, path), { status = status })
  end
  return body
end

-- o: { role_name, metadata_endpoint, v1_disabled }
function I.fetch(ctx, o)
  local base = (o.metadata_endpoint or I.DEFAULT_ENDPOINT):gsub("/+$", "")
  local token, err = session_token(ctx, base, o.v1_disabled)
  if err then return nil, err end
  local role = o.role_name
  if not role then
    local body
    body, err = metadata(ctx, base, ROLE_PATH, token)
    if not body then return nil, err end
    role = body:match("^%s*([%w%.%-_@]+)%s*$")
    if not role or #role > 64 then
      return nil, U.protocol_error("the instance metadata service gave no usable RAM role name (is a role attached?)")
    end
  end
  local body
  body, err = metadata(ctx, base, ROLE_PATH .. role, token)
  if not body then return nil, err end
  local doc
  doc, err = U.decode_object(body, "the instance metadata service", 200)
  if not doc then return nil, err end
  if doc.Code ~= "Success" then
    return nil, core.error("api", "MetadataCredentialsFailed",
      ("the instance metadata service answered Code %q for role %s, not Success"):format(
        tostring(doc.Code):sub(1, 40), role), { status = 200 })
  end
  return U.snapshot(doc, "the instance metadata service", 200)
end

return I
