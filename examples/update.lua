-- One update of a pull-to-push task, printed as a table.
-- Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET; the endpoint
-- from LIVEPULL_ENDPOINT (the real service when unset).
local livepull = require "livepull"

local function show(t, indent)
  indent = indent or ""
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local v = t[k]
    if type(v) == "table" then
      print(("%s%s = {"):format(indent, k))
      show(v, indent .. "  ")
      print(indent .. "}")
    else
      print(("%s%s = %s"):format(indent, k, type(v) == "string" and ("%q"):format(v) or tostring(v)))
    end
  end
end

local ok, res = pcall(livepull.update, {
  TaskId = "fd245384-4067-4f91-9d75-9666a6bc0000",
  Region = "cn-shanghai",
  StartTime = "2030-08-23T15:30:00Z",
  EndTime = "2030-08-27T14:30:00Z",
  SourceUrls = { "rtmp://pull.example.com/app/stream" },
  RepeatNumber = -1, Offset = 2, FileIndex = 0,
  CallbackUrl = "https://cb.example.com/hook",
}, { endpoint = os.getenv("LIVEPULL_ENDPOINT") })

if not ok then
  io.stderr:write(tostring(res), "\n")
  os.exit(1)
end
print("UpdateLivePullToPush answered:")
show(res, "  ")
