-- livepull's shared pacing bucket: reserves the next request slot of one
-- account, run inside Redis (EVALSHA; EVAL after NOSCRIPT) by every client
-- that shares the account's rate. The one source: CMake embeds this file in
-- the C module (core.rate_script() gives it and its SHA1), livepull.resty
-- sends the same text.
--
-- GCRA: the bucket is one value, the TAT (theoretical arrival time), in
-- integer microseconds of Redis TIME, the only clock used (host clocks may
-- be skewed). A token bucket of capacity `burst` refilled one token every
-- `interval`: `burst` calls may go at once, then one per interval.
--
-- KEYS[1]  the bucket: <rate_key_prefix>:{<rate_key>}:bucket
-- ARGV[1]  the emission interval in microseconds (1e6 / rate_limit), >= 1
-- ARGV[2]  the burst (rate_burst), >= 1
-- ARGV[3]  the longest wait in microseconds (max_pacing_wait), >= 0
-- Reply    {1, delay}: a slot is reserved; send after `delay` microseconds
--                     (0: now), sleeping on the caller's own clock;
--          {0, delay}: refused, nothing stored: the free slot is `delay`
--                     microseconds away, longer than ARGV[3].
-- The key expires a second after the bucket would be full again, so an
-- idle account leaves nothing in Redis.
local interval, burst, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not (interval and burst and max_wait and interval >= 1 and burst >= 1 and max_wait >= 0) then
  return redis.error_reply("livepull rate script: ARGV must be interval_us >= 1, burst >= 1, max_wait_us >= 0")
end
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call("GET", KEYS[1]) or "") or now
if tat < now then tat = now end
-- The slot: the first moment the bucket holds a token.
local slot = tat - (burst - 1) * interval
if slot < now then slot = now end
local delay = math.floor(slot - now)
if delay > max_wait then return {0, delay} end
local next_tat = tat + interval
redis.call("SET", KEYS[1], string.format("%.0f", next_tat), "PX", math.ceil((next_tat - now) / 1000) + 1000)
return {1, delay}
