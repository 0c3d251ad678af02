-- One host of a fleet for spec/rate_store_spec.lua and bench/run: a process
-- that sends `count` Describe calls to the emulator through a client paced
-- by the shared bucket, one at a time or with call_many, and prints one
-- JSON line: { ok, failed, codes, attempts, throttled, first, last, sent }
-- (monotonic seconds, comparable across the processes of one host; `sent`:
-- when each attempt went out). Its
-- settings come as JSON in LIVEPULL_WORKER (the spec's own URL and password:
-- never on a command line, never printed).
local cjson = require "cjson"
local livepull = require "livepull.safe"
local core = require "livepull.core"

local cfg = cjson.decode((assert(os.getenv("LIVEPULL_WORKER"), "LIVEPULL_WORKER is not set")))
local attempts, throttled, sent = 0, 0, {}
local opts = {
  access_key_id = cfg.access_key_id, access_key_secret = cfg.access_key_secret,
  endpoint = cfg.endpoint, rate_store = cfg.rate_store, rate_key = cfg.rate_key,
  rate_limit = cfg.rate_limit, rate_burst = cfg.rate_burst, rate_store_fallback = cfg.rate_store_fallback,
  rate_store_timeout = cfg.rate_store_timeout,
  max_attempts = cfg.max_attempts,
  on_attempt = function(ev)
    attempts = attempts + 1
    sent[#sent + 1] = core.monotonic() - (ev.elapsed or 0)
    if ev.code and ev.code:find("^Throttling") then throttled = throttled + 1 end
  end,
}
local client = assert(livepull.new(opts))
-- Start together: every process of the run waits for the same monotonic moment.
while core.monotonic() < (cfg.start_at or 0) do end

local params = { TaskId = cfg.task_id, Region = "cn-shanghai" }
local out = { ok = 0, failed = 0, codes = {}, first = core.monotonic() }
local function tally(res, err)
  if res then out.ok = out.ok + 1 else
    out.failed = out.failed + 1
    out.codes[#out.codes + 1] = type(err) == "table" and tostring(err.code) or tostring(err)
  end
end
if cfg.many then
  local list = {}
  for i = 1, cfg.count do list[i] = params end
  local results = assert(client:describe_many(list))
  for i = 1, cfg.count do
    local r = results[i]
    tally(r and r.ok and r.result, r and r.error)
  end
else
  for _ = 1, cfg.count do tally(client:describe(params)) end
end
out.last = core.monotonic()
out.attempts, out.throttled, out.sent = attempts, throttled, sent
io.write(cjson.encode(out), "\n")
