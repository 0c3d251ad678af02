-- Credentials from the aliyun CLI's profile file (ALIBABA_CLOUD_CONFIG_FILE,
-- else ~/.aliyun/config.json), so users of that tool need no new setup. Modes
-- AK and StsToken are read here; the modes that fetch credentials (roles,
-- instance metadata, OIDC, a URI, an external command) are handed to the
-- library's provider chain (lua/livepull/credentials) by name. A profile that
-- cannot be used is an InvalidProfile error naming the profile and the file
-- (never a secret): the command never falls back to other keys.
local cjson = require "cjson.safe"

local M = {}

local MAX_BYTES = 1024 * 1024   -- read no more of the file (it could be /dev/zero)

function M.path()
  local file = os.getenv("ALIBABA_CLOUD_CONFIG_FILE")
  if file and file ~= "" then return file end
  local home = os.getenv("HOME") or ""
  return home .. "/.aliyun/config.json"
end

local function invalid(message)
  return { kind = "config", code = "InvalidProfile", field = "profile", message = message }
end

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- The file's permission bits as an octal string ("600"), or nil.
local function mode_of(path)
  local p = io.popen("stat -L -c %a -- " .. sh_quote(path) .. " 2>/dev/null")
  if not p then return nil end
  local mode = p:read("*a")
  p:close()
  return mode and mode:match("^(%d+)%s*$")
end

-- A warning text when the group or others may read the file, else nil.
function M.permission_warning(path)
  local mode = mode_of(path)
  if not mode then return nil end
  local group, others = tonumber(mode:sub(-2, -2)) or 0, tonumber(mode:sub(-1)) or 0
  if group % 8 >= 4 or others % 8 >= 4 then
    return ("%s holds credentials and is readable by others (mode %s); run: chmod 600 %s"):format(path, mode, path)
  end
  return nil
end

-- What each mode needs: the profile field, its name in messages.
local NEEDS = {
  AK = { "access_key_id", "access_key_secret" },
  StsToken = { "access_key_id", "access_key_secret", "sts_token" },
}
-- The modes the library's providers resolve (and refresh) themselves.
local PROVIDER_MODES = { RamRoleArn = true, EcsRamRole = true, ChainableRamRoleArn = true, OIDC = true,
                         CredentialsURI = true, External = true }

-- load(name [, path]) -> { name, access_key_id, access_key_secret,
-- security_token, region_id } (or { name, provider = true, region_id } for a
-- mode the library resolves), path read (or nil); or nil, InvalidProfile
-- error. No name means the file's current profile; a missing file is not an
-- error unless a name was asked for (the result is then {}).
function M.load(name, path)
  path = path or M.path()
  local f = io.open(path, "rb")
  if not f then
    if name then return nil, invalid(("profile %q asked for, but %s cannot be read"):format(name, path)) end
    return {}
  end
  local text = f:read(MAX_BYTES + 1)
  f:close()
  if text and #text > MAX_BYTES then
    return nil, invalid(("%s is larger than %d bytes: not an aliyun CLI configuration"):format(path, MAX_BYTES))
  end
  local doc = cjson.decode(text or "")
  if type(doc) ~= "table" or type(doc.profiles) ~= "table" then
    return nil, invalid(path .. " is not an aliyun CLI configuration (no profiles)")
  end
  name = name or (type(doc.current) == "string" and doc.current ~= "" and doc.current) or "default"
  for _, p in ipairs(doc.profiles) do
    if type(p) == "table" and p.name == name then
      local region_id = type(p.region_id) == "string" and p.region_id ~= "" and p.region_id or nil
      if PROVIDER_MODES[p.mode] then return { name = name, provider = true, region_id = region_id }, path end
      local needs = NEEDS[p.mode]
      if not needs then
        return nil, invalid(("profile %q in %s has mode %s; livepull reads modes AK, StsToken, RamRoleArn, "
          .. "EcsRamRole, ChainableRamRoleArn, OIDC, CredentialsURI and External")
          :format(name, path, type(p.mode) == "string" and p.mode or "(none)"))
      end
      for _, field in ipairs(needs) do
        local v = p[field]
        if type(v) ~= "string" or v == "" then
          return nil, invalid(("profile %q in %s (mode %s) has no %s: it must be a non-empty string")
            :format(name, path, p.mode, field))
        end
      end
      return {
        name = name,
        access_key_id = p.access_key_id,
        access_key_secret = p.access_key_secret,
        security_token = p.mode == "StsToken" and p.sts_token or nil,
        region_id = region_id,
      }, path
    end
  end
  return nil, invalid(("no profile %q in %s"):format(name, path))
end

return M
