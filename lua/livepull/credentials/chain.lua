-- The default chain, in the official order: environment, OIDC, the aliyun
-- CLI profile, the credentials file, the ECS RAM role, the credentials URI.
-- Each entry gives a provider, or nil, nil, why-skipped, or nil, err.
-- The first provider whose fetch succeeds wins; only that one is kept.
local core = require "livepull.core"
local U = require "livepull.credentials.util"
local profile = require "livepull.credentials.profile"
local providers = require "livepull.credentials.providers"

local C = {}

-- A host without instance metadata pays its timeouts once per process:
-- after a transport failure the chain skips it for this long.
local IMDS_NEGATIVE_SECONDS = 300
local imds_unreachable_until = 0

local ENTRIES = {
  { name = "environment", build = function(ctx)
    local id, secret = U.env_set(ctx.env, "ALIBABA_CLOUD_ACCESS_KEY_ID"), U.env_set(ctx.env, "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    if not (id and secret) then
      return nil, nil, "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET are not both set"
    end
    local p, err = providers.from_spec(ctx, { type = "access_key", access_key_id = id, access_key_secret = secret,
      security_token = U.env_set(ctx.env, "ALIBABA_CLOUD_SECURITY_TOKEN") })
    if p then p.name = "environment" end
    return p, err
  end },
  { name = "oidc_role_arn", build = function(ctx)
    local arn, idp, file = U.env_set(ctx.env, "ALIBABA_CLOUD_ROLE_ARN"), U.env_set(ctx.env, "ALIBABA_CLOUD_OIDC_PROVIDER_ARN"),
      U.env_set(ctx.env, "ALIBABA_CLOUD_OIDC_TOKEN_FILE")
    if not (arn and idp and file) then
      return nil, nil, "ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE are not all set"
    end
    return providers.from_spec(ctx, { type = "oidc_role_arn", role_arn = arn, oidc_provider_arn = idp,
      oidc_token_file = file, role_session_name = U.env_set(ctx.env, "ALIBABA_CLOUD_ROLE_SESSION_NAME") })
  end },
  { name = "cli_profile", build = function(ctx)
    if U.env_true(ctx.env, "ALIBABA_CLOUD_CLI_PROFILE_DISABLED") then
      return nil, nil, "disabled by ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true"
    end
    local spec, err, why = profile.cli(ctx.env)
    if not spec then return nil, err, why end
    return providers.from_spec(ctx, spec, true)
  end },
  { name = "credentials_file", build = function(ctx)
    local spec, err, why = profile.ini(ctx.env)
    if not spec then return nil, err, why end
    return providers.from_spec(ctx, spec, true)
  end },
  { name = "ecs_ram_role", build = function(ctx)
    if U.env_true(ctx.env, "ALIBABA_CLOUD_ECS_METADATA_DISABLED") then
      return nil, nil, "disabled by ALIBABA_CLOUD_ECS_METADATA_DISABLED=true"
    end
    if ctx.now() < imds_unreachable_until then
      return nil, nil, "the instance metadata service was unreachable a moment ago (not retried for 5 minutes)"
    end
    local p, err = providers.from_spec(ctx, { type = "ecs_ram_role" })
    if not p then return nil, err end
    local fetch = p.fetch
    p.fetch = function(c)
      local snap, ferr = fetch(c)
      if not snap and ferr.kind == "transport" then imds_unreachable_until = c.now() + IMDS_NEGATIVE_SECONDS end
      return snap, ferr
    end
    return p
  end },
  { name = "credentials_uri", build = function(ctx)
    local u = U.env_set(ctx.env, "ALIBABA_CLOUD_CREDENTIALS_URI")
    if not u then return nil, nil, "ALIBABA_CLOUD_CREDENTIALS_URI is not set" end
    return providers.from_spec(ctx, { type = "credentials_uri", uri = u })
  end },
}

-- The first provider of the chain that yields credentials: provider,
-- snapshot; or nil, MissingCredentials listing each entry and why.
function C.resolve(ctx)
  local notes = {}
  for _, entry in ipairs(ENTRIES) do
    local p, err, why = entry.build(ctx)
    local snap
    if p then
      snap, err = p.fetch(ctx)
      if snap then return p, snap end
    end
    local reason = why and ("skipped: " .. why) or ("failed: " .. (err and err.code .. ": " .. err.message or "?"))
    notes[#notes + 1] = entry.name .. " " .. reason
  end
  return nil, core.error("config", "MissingCredentials",
    "no credentials from the default chain (set access_key_id and access_key_secret, the environment variables "
    .. "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or credentials/profile): "
    .. table.concat(notes, "; "), { field = "credentials" })
end

return C
