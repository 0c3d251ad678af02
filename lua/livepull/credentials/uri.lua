-- A credentials URI: GET it; the answer carries Code "Success" and
-- AccessKeyId, AccessKeySecret, SecurityToken, Expiration.
local core = require "livepull.core"
local U = require "livepull.credentials.util"

local R = {}

function R.fetch(ctx, uri)
  local status, headers, body = ctx.http { method = "GET", url = uri, connect_timeout = 5, timeout = 10,
    ca_file = ctx.ca_file, ca_path = ctx.ca_path }
  if not status then return nil, headers end   -- headers: the error
  if status ~= 200 then
    return nil, core.error("api", "CredentialsURIFailed", ("the credentials URI answered HTTP %d"):format(status),
      { status = status, retryable = status >= 500 })
  end
  local doc, err = U.decode_object(body, "the credentials URI", status)
  if not doc then return nil, err end
  if doc.Code ~= "Success" then
    return nil, core.error("api", "CredentialsURIFailed",
      ("the credentials URI answered Code %q, not Success"):format(tostring(doc.Code):sub(1, 40)), { status = status })
  end
  return U.snapshot(doc, "the credentials URI", status)
end

return R
