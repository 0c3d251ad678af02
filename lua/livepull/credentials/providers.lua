-- Provider specs (credentials = { type = ... }, or built from a profile) to
-- providers: { name, source, fetch(ctx) -> snapshot | nil, err }. The
-- fields each type takes are one table; validation walks it.
local core = require "livepull.core"
local U = require "livepull.credentials.util"
local sts = U.lazy "livepull.credentials.sts"
local imds = U.lazy "livepull.credentials.imds"
local uri = U.lazy "livepull.credentials.uri"
local process = U.lazy "livepull.credentials.process"

local P = {}

local ROLE = { role_session_name = "string", duration_seconds = "duration", policy = "string", sts_endpoint = "string" }
local SOURCE = { access_key_id = "string", access_key_secret = "string", security_token = "string" }

local function merge(...)
  local out = {}
  for _, t in ipairs { ... } do for k, v in pairs(t) do out[k] = v end end
  return out
end

-- type -> { fields = { name = kind }, required = { names }, public = may a user give it }
local TYPES = {
  access_key = { fields = SOURCE, required = { "access_key_id", "access_key_secret" }, public = true },
  ram_role_arn = { fields = merge(SOURCE, ROLE, { role_arn = "string", external_id = "string" }),
                   required = { "role_arn" }, public = true },
  ecs_ram_role = { fields = { role_name = "string", metadata_endpoint = "string" }, required = {}, public = true },
  oidc_role_arn = { fields = merge(ROLE, { role_arn = "string", oidc_provider_arn = "string", oidc_token_file = "string" }),
                    required = { "role_arn", "oidc_provider_arn", "oidc_token_file" }, public = true },
  credentials_uri = { fields = { uri = "string" }, required = { "uri" }, public = true },
  external = { fields = { process_command = "string" }, required = { "process_command" } },
}
-- Set only by the profile readers.
local INTERNAL = { type = true, origin = true, source = true, sts_region = true, enable_vpc = true, region_id = true }

local function where(spec, name)
  return spec.origin and ("%s (from %s)"):format(name, spec.origin) or "credentials." .. name
end

local function check(spec, internal)
  local t = TYPES[spec.type]
  if not t or (not internal and not t.public) then
    local names = {}
    for name, row in pairs(TYPES) do if row.public then names[#names + 1] = name end end
    table.sort(names)
    return nil, U.config_error("credentials.type", ("credentials.type must be one of %s (got %s)")
      :format(table.concat(names, ", "), tostring(spec.type):sub(1, 40)))
  end
  for k, v in pairs(spec) do
    local kind = t.fields[k]
    if not kind and not (internal and INTERNAL[k]) and k ~= "type" then
      return nil, U.config_error("credentials." .. tostring(k),
        ("%q is not a field of credentials of type %s"):format(tostring(k):sub(1, 40), spec.type))
    end
    if kind == "string" and type(v) ~= "string" then
      return nil, U.config_error(where(spec, k), where(spec, k) .. " must be a string")
    end
    if kind == "duration" and (type(v) ~= "number" or v % 1 ~= 0 or v < 900 or v > 43200) then
      return nil, U.config_error(where(spec, k), where(spec, k) ..
        " must be a whole number of seconds from 900 to 43200 (STS refuses less than 15 minutes)")
    end
  end
  for _, name in ipairs(t.required) do
    if spec[name] == nil then
      return nil, U.config_error(where(spec, name), where(spec, name) .. " is required for credentials of type " .. spec.type)
    end
  end
  if spec.type == "ram_role_arn" and not spec.source and not (spec.access_key_id and spec.access_key_secret) then
    return nil, U.config_error(where(spec, "access_key_id"),
      "credentials of type ram_role_arn need access_key_id and access_key_secret (the key that assumes the role)")
  end
  if spec.role_session_name and not spec.role_session_name:match("^[%w%.@%-_]+$") then
    return nil, U.config_error(where(spec, "role_session_name"),
      where(spec, "role_session_name") .. " must be letters, digits and . @ - _")
  end
  return true
end

local function static(snapshot)
  return function() return snapshot end
end

-- The STS options of a role spec: endpoint, session name, duration.
local function role_options(ctx, spec)
  local region, vpc = spec.sts_region, spec.enable_vpc
  if not region then region, vpc = sts.env_region(ctx.env) end
  return {
    -- LIVEPULL_STS_ENDPOINT: the STS address for every role without one (tests, a relay)
    endpoint = sts.endpoint(spec.sts_endpoint or U.env_set(ctx.env, "LIVEPULL_STS_ENDPOINT"), region, vpc or U.env_true(ctx.env, "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED")),
    role_arn = spec.role_arn, policy = spec.policy, external_id = spec.external_id,
    role_session_name = spec.role_session_name or U.env_set(ctx.env, "ALIBABA_CLOUD_ROLE_SESSION_NAME")
      or ("livepull-%d"):format(os.time()),
    duration_seconds = spec.duration_seconds or 3600,
    oidc_provider_arn = spec.oidc_provider_arn, oidc_token_file = spec.oidc_token_file,
  }
end

P.metadata_disabled_message = "the instance metadata service is disabled by ALIBABA_CLOUD_ECS_METADATA_DISABLED=true"

local BUILD = {
  access_key = function(_, spec)
    return static { access_key_id = spec.access_key_id, access_key_secret = spec.access_key_secret,
                    security_token = spec.security_token }
  end,
  ram_role_arn = function(ctx, spec)
    local source_fetch
    if spec.source then
      local provider, err = P.from_spec(ctx, spec.source, true)
      if not provider then return nil, err end
      source_fetch = provider.fetch
    else
      source_fetch = static { access_key_id = spec.access_key_id, access_key_secret = spec.access_key_secret,
                              security_token = spec.security_token }
    end
    local o = role_options(ctx, spec)
    return function(c)
      local src, err = source_fetch(c)
      if not src then return nil, err end
      return sts.assume_role(c, o, src)
    end
  end,
  oidc_role_arn = function(ctx, spec)
    local o = role_options(ctx, spec)
    return function(c) return sts.assume_role_with_oidc(c, o) end
  end,
  ecs_ram_role = function(ctx, spec)
    if U.env_true(ctx.env, "ALIBABA_CLOUD_ECS_METADATA_DISABLED") then
      return nil, U.config_error(where(spec, "type"), P.metadata_disabled_message .. "; "
        .. (spec.origin or "the ecs_ram_role credentials") .. " cannot be used")
    end
    local o = { role_name = spec.role_name or U.env_set(ctx.env, "ALIBABA_CLOUD_ECS_METADATA"),
                -- LIVEPULL_METADATA_ENDPOINT: another address for every ecs_ram_role (tests, a relay)
                metadata_endpoint = spec.metadata_endpoint or U.env_set(ctx.env, "LIVEPULL_METADATA_ENDPOINT"),
                v1_disabled = U.env_true(ctx.env, "ALIBABA_CLOUD_IMDSV1_DISABLED") }
    return function(c) return imds.fetch(c, o) end
  end,
  credentials_uri = function(_, spec)
    return function(c) return uri.fetch(c, spec.uri) end
  end,
  external = function(_, spec)
    return function(c) return process.fetch(c, spec.process_command) end
  end,
}

-- A provider for a spec table; internal: built by a profile reader.
function P.from_spec(ctx, spec, internal)
  local ok, err = check(spec, internal)
  if not ok then return nil, err end
  local fetch
  fetch, err = BUILD[spec.type](ctx, spec)
  if not fetch then return nil, err end
  return { name = spec.type, source = spec.origin, fetch = fetch, share_key = P.share_key(spec) }
end

-- What tells two providers' credentials apart, for sharing them between
-- nginx workers (nil: nothing to share, static keys). No secret in it.
local IDENTITY = {
  ram_role_arn = { "access_key_id", "role_arn", "role_session_name", "duration_seconds", "policy", "external_id",
                   "sts_endpoint", "sts_region" },
  oidc_role_arn = { "role_arn", "oidc_provider_arn", "oidc_token_file", "role_session_name", "duration_seconds",
                    "policy", "sts_endpoint", "sts_region" },
  ecs_ram_role = { "role_name", "metadata_endpoint" },
  credentials_uri = { "uri" },
}

function P.share_key(spec)
  local fields = IDENTITY[spec.type]
  if not fields or spec.source then return nil end   -- a chained role: each worker alone
  local parts = { spec.type, spec.origin or "" }
  for _, name in ipairs(fields) do parts[#parts + 1] = tostring(spec[name] or "") end
  return table.concat(parts, "\0")
end

-- credentials = function: called with no arguments; returns a table with
-- access_key_id, access_key_secret, security_token, expiration (epoch
-- seconds or a UTC time), or nil, err. Its errors are wrapped, never printed
-- with what it returned.
function P.from_function(fn)
  return { name = "function", fetch = function()
    local ok, res, err = pcall(fn)
    if not ok then
      return nil, core.error("config", "ProviderFailed", "the credentials function raised an error (" .. type(res) .. ")")
    end
    if res == nil then
      if core.is_error(err) then return nil, err end
      return nil, core.error("config", "ProviderFailed", "the credentials function returned no credentials"
        .. (type(err) == "string" and (": " .. err:sub(1, 200)) or ""))
    end
    if type(res) ~= "table" or type(res.access_key_id) ~= "string" or type(res.access_key_secret) ~= "string"
        or (res.security_token ~= nil and type(res.security_token) ~= "string") then
      return nil, core.error("config", "ProviderFailed",
        "the credentials function must return { access_key_id = string, access_key_secret = string, "
        .. "security_token = string or nil, expiration = number or nil }")
    end
    local expiration = res.expiration
    if type(expiration) == "string" then expiration = U.parse_time(expiration) end
    if res.expiration ~= nil and type(expiration) ~= "number" then
      return nil, core.error("config", "ProviderFailed",
        "the credentials function's expiration must be epoch seconds or a UTC time YYYY-MM-DDTHH:MM:SSZ")
    end
    return { access_key_id = res.access_key_id, access_key_secret = res.access_key_secret,
             security_token = res.security_token, expiration = expiration }
  end }
end

return P
