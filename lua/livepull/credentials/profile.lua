-- Profiles from files: the aliyun CLI's config.json (ALIBABA_CLOUD_CONFIG_FILE,
-- else ~/.aliyun/config.json) and the credentials INI file
-- (ALIBABA_CLOUD_CREDENTIALS_FILE, else ~/.alibabacloud/credentials), each
-- turned into a provider spec as `credentials = { type = ... }` takes.
local cjson = require("cjson.safe").new()
local U = require "livepull.credentials.util"

local P = {}

local MAX_FILE = 1024 * 1024
local MAX_CHAIN = 5   -- ChainableRamRoleArn source_profile links

local function home(env) return env("HOME") or "" end

function P.cli_path(env)
  return U.env_set(env, "ALIBABA_CLOUD_CONFIG_FILE") or home(env) .. "/.aliyun/config.json"
end

function P.ini_path(env)
  return U.env_set(env, "ALIBABA_CLOUD_CREDENTIALS_FILE") or home(env) .. "/.alibabacloud/credentials"
end

local function num(v) return type(v) == "number" and v > 0 and v or nil end
local function str(v) return type(v) == "string" and v ~= "" and v or nil end

-- The STS fields a role mode shares (RamRoleArn, ChainableRamRoleArn, OIDC).
local function role_fields(p, spec)
  spec.role_arn = str(p.ram_role_arn)
  spec.role_session_name = str(p.ram_session_name) or str(p.role_session_name)
  spec.duration_seconds = num(p.expired_seconds) or 3600
  spec.policy = str(p.policy)
  spec.sts_endpoint = str(p.sts_endpoint)
  spec.sts_region = str(p.sts_region)
  spec.enable_vpc = p.enable_vpc == true or p.enable_vpc == "true"
  return spec
end

-- mode (lower case, as the CLI compares) -> spec builder. `resolve` finds
-- another profile of the file for ChainableRamRoleArn.
local CLI_MODES = {
  ak = function(p)
    return { type = "access_key", access_key_id = str(p.access_key_id), access_key_secret = str(p.access_key_secret) }
  end,
  ststoken = function(p)   -- without its token the keys would sign as if they were a long-term key
    if not str(p.sts_token) then
      return nil, U.config_error("profile", ("profile %q (mode StsToken) has no sts_token: it must be a non-empty string")
        :format(p.name:sub(1, 64)))
    end
    return { type = "access_key", access_key_id = str(p.access_key_id), access_key_secret = str(p.access_key_secret),
             security_token = str(p.sts_token) }
  end,
  ramrolearn = function(p)
    return role_fields(p, { type = "ram_role_arn", access_key_id = str(p.access_key_id),
      access_key_secret = str(p.access_key_secret), security_token = str(p.sts_token),
      external_id = str(p.external_id) })
  end,
  ecsramrole = function(p) return { type = "ecs_ram_role", role_name = str(p.ram_role_name) } end,
  oidc = function(p)
    return role_fields(p, { type = "oidc_role_arn", oidc_provider_arn = str(p.oidc_provider_arn),
      oidc_token_file = str(p.oidc_token_file) })
  end,
  credentialsuri = function(p, _, env)
    return { type = "credentials_uri", uri = str(p.credentials_uri) or U.env_set(env, "ALIBABA_CLOUD_CREDENTIALS_URI") }
  end,
  external = function(p) return { type = "external", process_command = str(p.process_command) } end,
  chainableramrolearn = function(p, resolve)
    local source, err = resolve(p.source_profile)
    if not source then return nil, err end
    return role_fields(p, { type = "ram_role_arn", source = source, external_id = str(p.external_id) })
  end,
}

P.CLI_MODE_NAMES = "AK, StsToken, RamRoleArn, EcsRamRole, ChainableRamRoleArn, OIDC, CredentialsURI, External"

-- The spec for profile `name` (nil: ALIBABA_CLOUD_PROFILE, else the file's
-- current), or nil, nil, why-skipped when the file does not exist, or
-- nil, config error.
function P.cli(env, name)
  local path = P.cli_path(env)
  local text, why, absent = U.read_file(path, MAX_FILE)
  if not text and absent then return nil, nil, "no file " .. path end
  if not text then return nil, U.config_error("profile", why) end
  local doc = cjson.decode(text)
  if type(doc) ~= "table" or type(doc.profiles) ~= "table" then
    return nil, U.config_error("profile", path .. " is not an aliyun CLI configuration (no profiles list)")
  end
  local by_name = {}
  for _, p in ipairs(doc.profiles) do
    if type(p) == "table" and type(p.name) == "string" then by_name[p.name] = p end
  end
  local depth = 0
  local function resolve(wanted)
    depth = depth + 1
    if depth > MAX_CHAIN then
      return nil, U.config_error("profile", ("source_profile links go deeper than %d profiles (a loop?)"):format(MAX_CHAIN))
    end
    local p = type(wanted) == "string" and by_name[wanted]
    if not p then
      return nil, U.config_error("profile", ("profile %q is not in %s"):format(tostring(wanted):sub(1, 64), path))
    end
    local mode = type(p.mode) == "string" and p.mode or ""
    local build = CLI_MODES[mode:lower()]
    if not build then
      return nil, U.config_error("profile", ("profile %q has mode %q, which livepull does not support (it reads %s)")
        :format(wanted, mode:sub(1, 40), P.CLI_MODE_NAMES))
    end
    local spec, err = build(p, resolve, env)
    if not spec then return nil, err end
    spec.origin = "cli_profile:" .. wanted
    spec.region_id = str(p.region_id)   -- the command's default RegionId; no provider reads it
    return spec
  end
  name = name or U.env_set(env, "ALIBABA_CLOUD_PROFILE") or (type(doc.current) == "string" and doc.current) or "default"
  return resolve(name)
end

-- INI: [section] then key = value lines; ; and # start comments.
local function parse_ini(text)
  local sections, current = {}, nil
  for line in text:gmatch("[^\r\n]+") do
    line = line:match("^%s*(.-)%s*$")
    local section = line:match("^%[%s*(.-)%s*%]$")
    if section then
      current = {}
      sections[section] = current
    elseif current and line ~= "" and not line:match("^[;#]") then
      local k, v = line:match("^([%w_]+)%s*=%s*(.-)$")
      if k then current[k] = v end
    end
  end
  return sections
end

local INI_TYPES = {
  access_key = function(s)
    return { type = "access_key", access_key_id = str(s.access_key_id), access_key_secret = str(s.access_key_secret) }
  end,
  ecs_ram_role = function(s) return { type = "ecs_ram_role", role_name = str(s.role_name) } end,
  ram_role_arn = function(s)
    return { type = "ram_role_arn", access_key_id = str(s.access_key_id), access_key_secret = str(s.access_key_secret),
             role_arn = str(s.role_arn), role_session_name = str(s.role_session_name), policy = str(s.policy),
             duration_seconds = 3600 }
  end,
  oidc_role_arn = function(s)
    return { type = "oidc_role_arn", role_arn = str(s.role_arn), oidc_provider_arn = str(s.oidc_provider_arn),
             oidc_token_file = str(s.oidc_token_file_path), role_session_name = str(s.role_session_name),
             policy = str(s.policy), duration_seconds = 3600 }
  end,
}

function P.ini(env)
  local path = P.ini_path(env)
  local text, why, absent = U.read_file(path, MAX_FILE)
  if not text and absent then return nil, nil, "no file " .. path end
  if not text then return nil, U.config_error("credentials", why) end
  local name = U.env_set(env, "ALIBABA_CLOUD_PROFILE") or "default"
  local section = parse_ini(text)[name]
  if not section then
    return nil, U.config_error("credentials", ("%s has no section [%s]"):format(path, name:sub(1, 64)))
  end
  local build = INI_TYPES[section.type or ""]
  if not build then
    return nil, U.config_error("credentials", ("section [%s] of %s has type %q; livepull reads access_key, "
      .. "ecs_ram_role, ram_role_arn and oidc_role_arn"):format(name, path, tostring(section.type):sub(1, 40)))
  end
  local spec = build(section)
  spec.origin = "credentials_file:" .. name
  return spec
end

return P
