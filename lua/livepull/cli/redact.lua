-- Secrets out of the command's output, whatever carried them there (an
-- error table quoting the request, a hostile answer): the AccessKeySecret
-- and STS token the command was given, and the value of any Signature
-- parameter or Authorization field. Each is found as typed, percent-encoded
-- any number of times (either hex case, character by character) or with
-- JSON escapes left in, so a quoted URL or string to sign cannot hide it.
local M = {}

M.MARK = "<redacted>"
-- Shorter values are not searched for: they would match ordinary text, and
-- no real AccessKeySecret (30 characters) or STS token is that short.
M.MIN_LENGTH = 4

local PERCENT, BACKSLASH = 37, 92

-- The index after the spelling of byte c at s[i], or nil. A spelling is c
-- itself; "%", any number of "25" (one per extra round of encoding), then
-- c's two hex digits; or a JSON escape left in a string (\/, \u002f).
local function spells(s, i, c)
  local b = s:byte(i)
  if b == c then return i + 1 end
  if b == BACKSLASH then
    if s:byte(i + 1) == c then return i + 2 end
    local hex = s:match("^u(%x%x%x%x)", i + 1)
    if hex and tonumber(hex, 16) == c then return i + 6 end
    return nil
  end
  if b ~= PERCENT then return nil end
  local j = i + 1
  while true do
    local hex = s:sub(j, j + 1)
    if not hex:match("^%x%x$") then return nil end
    local v = tonumber(hex, 16)
    if v == c then return j + 2 end
    if v ~= PERCENT then return nil end
    j = j + 2
  end
end

local function spells_text(s, i, text)
  for k = 1, #text do
    i = spells(s, i, text:byte(k))
    if not i then return nil end
  end
  return i
end

-- s with each match replaced by the mark. find(s, i) -> the next
-- candidate's position at (nil: none left) and, when it is a match, where
-- the mark starts and the index after the match; the scan goes on past a
-- candidate that is not one.
local function replace_matches(s, find)
  local parts, last, i = nil, 1, 1
  while true do
    local at, from, after = find(s, i)
    if not at then break end
    if after then
      parts = parts or {}
      parts[#parts + 1] = s:sub(last, from - 1)
      parts[#parts + 1] = M.MARK
      last, i = after, after
    else
      i = at + 1
    end
  end
  if not parts then return s end
  parts[#parts + 1] = s:sub(last)
  return table.concat(parts)
end

-- s with every spelling of secret replaced by the mark.
local function without(s, secret)
  local first = secret:sub(1, 1)
  local class = "[" .. (first:match("%w") and first or "%" .. first) .. "%%\\]"
  return replace_matches(s, function(text, i)
    local at = text:find(class, i)
    if not at then return nil end
    return at, at, spells_text(text, at, secret)
  end)
end

-- A signature is Base64 (HMAC-SHA1) or hex (ACS3-HMAC-SHA256): letters,
-- digits, "+", "/", "=", each maybe percent-encoded.
local SIGNATURE_SYMBOLS = { ("+"):byte(), ("/"):byte(), ("="):byte() }
local function signature_char_end(s, j)
  local b = s:byte(j)
  if not b then return nil end
  if (b >= 48 and b <= 57) or (b >= 65 and b <= 90) or (b >= 97 and b <= 122) then return j + 1 end
  for _, c in ipairs(SIGNATURE_SYMBOLS) do
    local e = spells(s, j, c)
    if e then return e end
  end
  return nil
end

-- s with the value after every "Signature=" (any case, "=" maybe encoded)
-- replaced by the mark.
local function without_signatures(s)
  local lower = s:lower()
  return replace_matches(s, function(text, i)
    local at, stop = lower:find("signature", i, true)
    if not at then return nil end
    local value = spells(text, stop + 1, ("="):byte())
    local e = value
    while e do
      local nxt = signature_char_end(text, e)
      if not nxt then break end
      e = nxt
    end
    if value and e > value then return stop, value, e end
    return stop
  end)
end

local Scrubber = {}
Scrubber.__index = Scrubber

-- Remembers a secret to scrub (ignored unless a string of MIN_LENGTH or more).
function Scrubber:add(secret)
  if type(secret) ~= "string" or #secret < M.MIN_LENGTH or self.known[secret] then return end
  self.known[secret] = true
  self.secrets[#self.secrets + 1] = secret
  table.sort(self.secrets, function(a, b) return #a > #b end)   -- a longer secret first, whole
end

function Scrubber:scrub(s)
  for _, secret in ipairs(self.secrets) do s = without(s, secret) end
  return without_signatures(s)
end

function M.new()
  local self = setmetatable({ secrets = {}, known = {} }, Scrubber)
  self.filter = function(s) return self:scrub(s) end
  return self
end

-- --dry-run's view of a prepared request: the signature and the token
-- replaced by the mark (the writer's scrubber then checks every string).
function M.request(req)
  local headers = {}
  for k, v in pairs(req.headers) do headers[k] = v end
  if headers.authorization then
    headers.authorization = headers.authorization:gsub("Signature=%x+", "Signature=" .. M.MARK)
  end
  if headers["x-acs-security-token"] then headers["x-acs-security-token"] = M.MARK end
  local url = req.url:gsub("([?&]Signature=)[^&]*", "%1" .. M.MARK)
                     :gsub("([?&]SecurityToken=)[^&]*", "%1" .. M.MARK)
  return { method = req.method, url = url, headers = headers, body = req.body }
end

return M
