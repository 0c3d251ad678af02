-- One native livepull process of nginx_redis_spec's fleet: updates the
-- seeded task in a loop for SECONDS with the client options in CONFIG_JSON
-- (rate_store and friends), one JSON line per call on stdout.
--   lua native_pacer.lua CONFIG_JSON SECONDS
local cjson = require "cjson"
local livepull = require "livepull.safe"
local core = require "livepull.core"

local config = cjson.decode(arg[1])
local client = assert(livepull.new(config))
local stop_at = core.monotonic() + tonumber(arg[2])
while core.monotonic() < stop_at do
  local res, err = client:update { TaskId = "fd245384-4067-4f91-9d75-9666a6bc0000", Region = "cn-shanghai" }
  io.write(cjson.encode { ok = res ~= nil, error = err and { kind = err.kind, code = err.code, message = err.message } }, "\n")
  io.flush()
end
client:close()
