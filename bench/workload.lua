-- The one realistic call every measurement makes: UpdateLivePullToPush with
-- five parameters, two source URLs among them.
local W = {}

W.action = "UpdateLivePullToPush"
W.algorithms = { "ACS3-HMAC-SHA256", "HMAC-SHA1" }
W.params = {
  TaskId = "fd245384-4067-4f91-9d75-9666a6bc0000",
  Region = "cn-shanghai",
  SourceUrls = {
    "rtmp://pull.example.com/app/stream?auth_key=1700000000-0-0-0123456789abcdef",
    "https://backup.example.com/app/stream.flv",
  },
  EndTime = "2099-12-31T23:59:59Z",
  CallbackUrl = "https://cb.example.com/livepull/hook",
}

-- Nothing checks these keys: prepare sends nothing, the fixed server verifies nothing.
W.access_key_id = "LTAI5tBenchKeyId0000000000"
W.access_key_secret = "BenchSecret0123456789abcdefABCD"

-- rate_limit = 0: the client paces itself (10 requests/s by default), which
-- is policy, not cost; the bench measures the cost.
function W.config(algorithm, endpoint)
  return {
    access_key_id = W.access_key_id, access_key_secret = W.access_key_secret,
    signature_algorithm = algorithm, endpoint = endpoint, rate_limit = 0,
  }
end

return W
