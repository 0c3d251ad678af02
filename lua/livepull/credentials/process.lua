-- The External mode: runs the profile's process_command (with a time limit)
-- and reads the JSON it prints: mode, access_key_id, access_key_secret,
-- sts_token, expiration.
local core = require "livepull.core"
local cjson = require("cjson.safe").new()
local U = require "livepull.credentials.util"

local P = {}

P.TIMEOUT = 60   -- seconds, as the official Go library
local MAX_OUTPUT = 64 * 1024

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function failed(message)
  return core.error("config", "ExternalCommandFailed", message, { field = "process_command" })
end

function P.fetch(ctx, command)
  if ctx.no_process then
    return nil, failed("the External mode runs a command, which would block an nginx worker; "
      .. "use another mode (or livepull outside nginx)")
  end
  local p = io.popen(("timeout -k 1 %d sh -c %s; echo \"__exit=$?\""):format(P.TIMEOUT, sh_quote(command)), "r")
  if not p then return nil, failed("could not start process_command") end
  local out = p:read(MAX_OUTPUT + 64) or ""
  p:close()
  local code = tonumber(out:match("__exit=(%d+)%s*$"))
  out = out:gsub("__exit=%d+%s*$", "")
  if code == 124 then return nil, failed(("process_command did not finish within %d s"):format(P.TIMEOUT)) end
  if code ~= 0 then return nil, failed(("process_command exited with status %s"):format(tostring(code))) end
  local doc = cjson.decode(out)
  if type(doc) ~= "table" then return nil, failed("process_command did not print a JSON object") end
  if doc.mode ~= "AK" and doc.mode ~= "StsToken" then
    return nil, failed("process_command printed mode " .. tostring(doc.mode):sub(1, 40) .. "; AK or StsToken expected")
  end
  for _, name in ipairs { "access_key_id", "access_key_secret" } do
    if type(doc[name]) ~= "string" then return nil, failed("process_command printed no " .. name) end
  end
  local snap = { access_key_id = doc.access_key_id, access_key_secret = doc.access_key_secret }
  if doc.mode == "StsToken" then
    if type(doc.sts_token) ~= "string" then return nil, failed("process_command printed StsToken without sts_token") end
    snap.security_token = doc.sts_token
  end
  if doc.expiration ~= nil then
    snap.expiration = type(doc.expiration) == "number" and doc.expiration or U.parse_time(doc.expiration)
    if not snap.expiration then return nil, failed("process_command printed an expiration that is not a UTC time") end
  end
  return snap
end

return P
