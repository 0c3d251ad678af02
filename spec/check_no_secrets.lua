-- Run by ctest after every spec: the test secret and STS token must appear
-- nowhere in what the specs printed (spec-output/) or the emulators logged.
package.path = "spec/?.lua;" .. package.path
local H = require "helpers"

local build = assert(arg[1], "usage: check_no_secrets.lua BUILD_DIR")
local files = {}
for name in io.popen("ls " .. build .. "/spec-output/*.log " .. build .. "/emulator-logs/*.log 2>/dev/null"):lines() do
  files[#files + 1] = name
end

local found, bytes = 0, 0
for _, name in ipairs(files) do
  local f = io.open(name, "rb")
  if f then
    local text = f:read("*a")
    f:close()
    bytes = bytes + #text
    -- minted-*: what tools/credentials-emulator issues (STS, metadata, URI)
    for _, secret in ipairs { H.SECRET, H.STS_SECRET, H.STS_TOKEN, H.STS2_SECRET, H.STS2_TOKEN, H.REDIS_PASSWORD,
                              "minted-Secret-", "CAIS-minted-" } do
      if text:find(secret, 1, true) then
        found = found + 1
        print("FOUND a test secret in " .. name)
      end
    end
  end
end
print(("%d files, %d bytes searched"):format(#files, bytes))
os.exit(found == 0 and bytes > 0 and 0 or 1)
