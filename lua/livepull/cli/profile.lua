-- The command's side of the aliyun CLI's profile file (ALIBABA_CLOUD_CONFIG_FILE,
-- else ~/.aliyun/config.json): the library's reader (livepull.credentials.profile)
-- reads and checks every mode; here a profile that cannot be used becomes an
-- InvalidProfile error naming the profile and the file (never a secret: the
-- command never falls back to other keys), the secrets it holds are noted for
-- scrubbing, and a file others can read draws a warning.
local library = require "livepull.credentials.profile"

local M = {}

function M.path() return library.cli_path(os.getenv) end

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

-- Every secret a provider spec holds (a chained role's source too).
local function secrets_of(spec, out)
  out = out or {}
  if type(spec) ~= "table" then return out end
  out[#out + 1] = spec.access_key_secret
  out[#out + 1] = spec.security_token
  return secrets_of(spec.source, out)
end

-- load(name) -> { name, region_id, secrets = { ... } }, the path read; or
-- nil, InvalidProfile error. No name means the file's current profile (as
-- the library picks it); a missing file is not an error unless a name was
-- asked for (the result is then {}). The client is then made with
-- `profile = name`: the library's providers give the keys, for every mode.
function M.load(name)
  local path = M.path()
  local spec, err = library.cli(os.getenv, name)
  if not spec and not err then
    if name then return nil, invalid(("profile %q asked for, but %s cannot be read"):format(name, path)) end
    return {}
  end
  if not spec then
    local named = name and ("profile %q in %s"):format(name, path) or path
    return nil, invalid(named .. ": " .. tostring(err.message))
  end
  return { name = spec.origin:match("^cli_profile:(.*)$"), region_id = spec.region_id, secrets = secrets_of(spec) }, path
end

return M
