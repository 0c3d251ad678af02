-- A one-line progress bar on stderr for batch runs: done/total, in flight
-- (when the batch runs several at once: its runner sets bar.in_flight), rate,
-- ETA, failures. Redrawn at most every 100 ms. Without a total (a batch read from
-- stdin) it shows the count, the rate and the failures.
local M = {}
M.__index = M

local function clock()
  local f = io.open("/proc/uptime")
  if not f then return os.time() end
  local t = tonumber(f:read("*a"):match("^(%S+)"))
  f:close()
  return t
end

function M.new(total, out)
  return setmetatable({ total = total, done = 0, failed = 0, start = clock(), drawn = 0, out = out or io.stderr }, M)
end

function M:step(ok)
  self.done = self.done + 1
  if not ok then self.failed = self.failed + 1 end
  local now = clock()
  if now - self.drawn >= 0.1 or self.done == self.total then
    self.drawn = now
    self:draw(now)
  end
end

function M:draw(now)
  local elapsed = math.max(now - self.start, 1e-6)
  local rate = self.done / elapsed
  local flight = self.in_flight and ("  in flight %d"):format(self.in_flight) or ""
  if not self.total then
    self.out:write(("\r%d done%s  %.1f/s  failed %d "):format(self.done, flight, rate, self.failed))
    self.out:flush()
    return
  end
  local width = 24
  local frac = self.total > 0 and math.min(self.done / self.total, 1) or 1
  local filled = math.floor(frac * width + 0.5)
  local eta = rate > 0 and math.max(self.total - self.done, 0) / rate or 0
  self.out:write(("\r[%s%s] %d/%d%s  %.1f/s  ETA %d:%02d  failed %d "):format(
    ("#"):rep(filled), ("."):rep(width - filled), self.done, self.total, flight, rate,
    math.floor(eta / 60), math.floor(eta % 60), self.failed))
  if self.done == self.total then self.out:write("\n") end
  self.out:flush()
end

-- Ends the line of a bar that had no total.
function M:finish()
  if not self.total and self.done > 0 then
    self:draw(clock())
    self.out:write("\n")
    self.out:flush()
  end
end

return M
