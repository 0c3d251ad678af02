-- STS (2015-04-01): AssumeRole signed with livepull's own HMAC-SHA1 (V1)
-- signer, AssumeRoleWithOIDC unsigned; the endpoint rule; the answer.
local core = require "livepull.core"
local U = require "livepull.credentials.util"

local S = {}

local VERSION = "2015-04-01"
local TIMEOUTS = { connect_timeout = 5, timeout = 10 }   -- as the official SDKs

local function form_encode(pairs_list)
  local parts = {}
  for i, p in ipairs(pairs_list) do
    parts[i] = p[1] .. "=" .. p[2]:gsub("[^%w%-_%.~]", function(c) return ("%%%02X"):format(c:byte()) end)
  end
  return table.concat(parts, "&")
end

-- The STS base URL: an explicit endpoint (a URL, or a bare host for https),
-- else sts[-vpc].<region>.aliyuncs.com from the region settings, else sts.aliyuncs.com.
function S.endpoint(endpoint, region, vpc)
  if endpoint then
    if endpoint:match("^https?://") then return (endpoint:gsub("/+$", "")) end
    return "https://" .. endpoint
  end
  if region then return ("https://sts%s.%s.aliyuncs.com"):format(vpc and "-vpc" or "", region) end
  return "https://sts.aliyuncs.com"
end

-- The region settings of the environment (ALIBABA_CLOUD_STS_REGION,
-- ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED), when a profile gives none.
function S.env_region(env)
  return U.env_set(env, "ALIBABA_CLOUD_STS_REGION"), U.env_true(env, "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED")
end

-- A failed answer as an api error; a quoted string to sign (it would hold
-- the source SecurityToken) is cut off.
local function answer_error(status, doc, action)
  local code = type(doc) == "table" and type(doc.Code) == "string" and doc.Code or "HTTP" .. status
  local message = type(doc) == "table" and type(doc.Message) == "string" and doc.Message or "no message"
  message = message:gsub("[Ss]tring to sign.*$", "string to sign: <cut>")
  return core.error("api", code, ("STS %s failed (HTTP %d): %s"):format(action, status, message:sub(1, 300)),
    { status = status, retryable = status >= 500 or code:find("^Throttling") ~= nil,
      request_id = type(doc) == "table" and doc.RequestId or nil })
end

local function exchange(ctx, url, action, body)
  local status, headers, answer = ctx.http {
    method = "POST", url = url .. "/", body = body,
    headers = { ["content-type"] = "application/x-www-form-urlencoded" },
    connect_timeout = TIMEOUTS.connect_timeout, timeout = TIMEOUTS.timeout,
    ca_file = ctx.ca_file, ca_path = ctx.ca_path,
  }
  if not status then return nil, headers end   -- headers: the error
  local doc, derr = U.decode_object(answer, "STS " .. action, status)
  if status ~= 200 then return nil, answer_error(status, doc, action) end
  if not doc then return nil, derr end
  if type(doc.Credentials) ~= "table" then
    return nil, U.protocol_error("STS " .. action .. " answered without Credentials", status)
  end
  return U.snapshot(doc.Credentials, "STS " .. action, status)
end

local function role_params(o)
  local p = {
    { "DurationSeconds", ("%d"):format(o.duration_seconds) },   -- an integer: never 3600.0
    { "RoleArn", o.role_arn },
    { "RoleSessionName", o.role_session_name },
  }
  if o.policy then p[#p + 1] = { "Policy", o.policy } end
  return p
end

local function timestamp(ctx) return U.format_time(ctx.now()) end

-- AssumeRole with the source credentials `src` (a snapshot): every
-- parameter in the signed form body, method POST.
function S.assume_role(ctx, o, src)
  local params = role_params(o)
  if o.external_id then params[#params + 1] = { "ExternalId", o.external_id } end
  local signed = core.sign {
    algorithm = "HMAC-SHA1", method = "POST", host = "sts", action = "AssumeRole", version = VERSION,
    format = "JSON", access_key_id = src.access_key_id, access_key_secret = src.access_key_secret,
    security_token = src.security_token, nonce = U.nonce(), timestamp = timestamp(ctx), query = params,
  }
  return exchange(ctx, o.endpoint, "AssumeRole", signed.query)
end

-- AssumeRoleWithOIDC: anonymous; the token file is read on every call (it rotates on disk).
function S.assume_role_with_oidc(ctx, o)
  local token, why = U.read_file(o.oidc_token_file, 20000)
  if not token then
    return nil, core.error("config", "InvalidConfig", "cannot read the OIDC token file: " .. tostring(why),
      { field = "oidc_token_file" })
  end
  token = token:gsub("%s+$", "")
  if #token < 4 then
    return nil, core.error("config", "InvalidConfig", "the OIDC token file " .. o.oidc_token_file .. " is empty",
      { field = "oidc_token_file" })
  end
  local params = role_params(o)
  table.insert(params, 1, { "Version", VERSION })
  table.insert(params, 1, { "Timestamp", timestamp(ctx) })
  table.insert(params, 1, { "OIDCToken", token })
  table.insert(params, 1, { "OIDCProviderArn", o.oidc_provider_arn })
  table.insert(params, 1, { "Format", "JSON" })
  table.insert(params, 1, { "Action", "AssumeRoleWithOIDC" })
  return exchange(ctx, o.endpoint, "AssumeRoleWithOIDC", form_encode(params))
end

return S
