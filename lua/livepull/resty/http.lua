-- livepull.resty.http: HTTP/1.1 over one nginx cosocket: the request's
-- bytes, the response's framing (status line, headers, Content-Length,
-- chunked or read-until-close bodies, trailers), and the livepull error for
-- each way a socket or a server can fail.
--
-- Every byte from the server is hostile until framed: each read waits at
-- most the time the whole call has left (so no server can stretch a call by
-- trickling), each line and the header block have a size cap, and parsing
-- is linear in the bytes read (plain finds and bounded loops, no pattern
-- that can backtrack).
local core = require "livepull.core"

local byte, find, sub, lower, concat = string.byte, string.find, string.sub, string.lower, table.concat

local M = {
  LINE_MAX = 16384,           -- one status, header, chunk-size or trailer line
  HEADER_BLOCK_MAX = 65536,   -- all header lines together; trailers count too
}
local READ_MAX = 65536        -- one receiveany: returns as soon as any byte is there

-- retryable comes from the core's one retry table (core.retry_rule), as
-- for the native path's errors.
local function transport_error(code, message)
  return core.error("transport", code, message, { retryable = core.retry_rule(code).retryable })
end

local function protocol_error(code, message, status)
  return core.error("protocol", code, message, { status = status })
end

-- A socket error string at one stage ("connect", "TLS handshake", "send",
-- "status line", "headers", "body", "trailers") -> the native path's code for the same situation (csrc/session.c).
function M.socket_error(err, stage)
  err = tostring(err)
  if err == "timeout" then
    return transport_error("Timeout", "the call's timeout ran out during the " .. stage)
  end
  if stage == "connect" then
    if find(err, "resolve", 1, true) then
      return transport_error("CouldNotResolveHost", "could not resolve the host: " .. err)
    end
    return transport_error("CouldNotConnect", "connect failed: " .. err)
  end
  if stage == "TLS handshake" then
    -- ngx_lua reports a failed certificate check as "<X509 code>: <text>"
    -- or "certificate host mismatch", and any other failure as "handshake
    -- failed", which may carry a stale code from an earlier handshake of the
    -- worker ("10: handshake failed"), so the text decides. libcurl says
    -- CURLE_PEER_FAILED_VERIFICATION for every failed check (unknown issuer,
    -- self-signed, expired, wrong name) and CURLE_SSL_CONNECT_ERROR otherwise.
    local code, text = err:match("^(%d+): (.*)$")
    text = text or err
    if text ~= "handshake failed" and (code or text == "certificate host mismatch" or
        find(text, "socket.lua:%d+: assertion failed!$")) then   -- the raise resty.lua catches
      return transport_error("TLSVerificationFailed", "TLS certificate verification failed: " .. err)
    end
    return transport_error("TLSConnectError", "TLS handshake failed: " .. err)
  end
  if stage == "send" then return transport_error("SendError", "send failed: " .. err) end
  if err == "closed" then
    if stage == "status line" then
      return transport_error("EmptyReply", "the server closed the connection without answering")
    end
    return transport_error("PartialResponse", "the server closed the connection in the " .. stage)
  end
  return transport_error("ReceiveError", stage .. " failed: " .. err)
end

-- The request's bytes: request line, headers, empty line, body.
function M.request_text(req)
  local path = req.url:match("^https?://[^/]+(/.*)$") or "/"
  local lines = { req.method .. " " .. path .. " HTTP/1.1" }
  for name, value in pairs(req.headers) do lines[#lines + 1] = name .. ": " .. value end
  if req.method == "POST" then lines[#lines + 1] = "content-length: " .. #req.body end
  lines[#lines + 1] = ""
  lines[#lines + 1] = req.body
  return concat(lines, "\r\n")
end

-- "Name: value" -> lower-case name, value without the spaces and tabs
-- around it; nil for a line without a name. Linear: one plain find and two
-- loops that each move one way.
function M.parse_header_line(line)
  local colon = find(line, ":", 1, true)
  if not colon or colon == 1 then return nil end
  local i, j = colon + 1, #line
  while i <= j do
    local b = byte(line, i)
    if b ~= 32 and b ~= 9 then break end
    i = i + 1
  end
  while j >= i do
    local b = byte(line, j)
    if b ~= 32 and b ~= 9 then break end
    j = j - 1
  end
  return lower(sub(line, 1, colon - 1)), sub(line, i, j)
end

-- A buffered reader over receiveany: every read waits at most until
-- stop_at (seconds on clock()).
local Reader = {}
Reader.__index = Reader

function M.reader(sock, stop_at, clock)
  return setmetatable({ sock = sock, stop_at = stop_at, clock = clock, buf = "", pos = 1 }, Reader)
end

-- Reads what the server has sent (at most max bytes) into the buffer,
-- which must be used up; true, or nil and the socket's error.
function Reader:fill(max)
  local left = self.stop_at - self.clock()
  if left <= 0 then return nil, "timeout" end
  self.sock:settimeout(math.max(1, math.ceil(left * 1000)))
  local data, err = self.sock:receiveany(max)
  if not data then return nil, err end
  self.buf, self.pos = data, 1
  return true
end

-- Bytes read but not used: a connection holding some is not reused.
function Reader:pending()
  return #self.buf - self.pos + 1
end

-- One line without its LF (and CR); nil, "too large" past max bytes.
-- Each byte is searched once: what has no LF yet waits in parts.
function Reader:line(max)
  local parts, n = nil, 0
  while true do
    local nl = find(self.buf, "\n", self.pos, true)
    local stop = nl and nl - 1 or #self.buf
    local piece = sub(self.buf, self.pos, stop)
    n = n + #piece
    if n > max + 1 then return nil, "too large" end   -- + 1: the CR
    if nl then
      self.pos = nl + 1
      local line = parts and (concat(parts) .. piece) or piece
      if byte(line, -1) == 13 then line = sub(line, 1, -2) end
      if #line > max then return nil, "too large" end
      return line
    end
    if #piece > 0 then
      parts = parts or {}
      parts[#parts + 1] = piece
    end
    local ok, err = self:fill(READ_MAX)
    if not ok then return nil, err end
  end
end

-- Exactly n bytes.
function Reader:bytes(n)
  local parts, have = {}, 0
  while true do
    local take = math.min(n - have, #self.buf - self.pos + 1)
    if take > 0 then
      parts[#parts + 1] = sub(self.buf, self.pos, self.pos + take - 1)
      self.pos = self.pos + take
      have = have + take
    end
    if have == n then return concat(parts) end
    local ok, err = self:fill(math.min(READ_MAX, n - have))
    if not ok then return nil, err end
  end
end

-- Everything until the server closes, at most limit bytes.
function Reader:rest(limit)
  local parts, have = {}, 0
  while true do
    local piece = sub(self.buf, self.pos)
    self.buf, self.pos = "", 1
    have = have + #piece
    if have > limit then return nil, "too large" end
    parts[#parts + 1] = piece
    local ok, err = self:fill(math.min(READ_MAX, limit - have + 1))
    if not ok then
      if err == "closed" then return concat(parts) end
      return nil, err
    end
  end
end

-- One line, or nil and the error: ResponseTooLarge past LINE_MAX (what
-- names the line), else the socket's error at this stage.
local function read_line(r, what, stage, status)
  local line, err = r:line(M.LINE_MAX)
  if line then return line end
  if err == "too large" then
    return nil, protocol_error("ResponseTooLarge",
      ("a response %s line is longer than %d bytes"):format(what, M.LINE_MAX), status)
  end
  return nil, M.socket_error(err, stage)
end

-- Header (or trailer) lines until the empty one, counted against budget
-- ({ left = bytes }, shared by the headers and the trailers). Repeated
-- names are joined with ", ", so two different Content-Lengths are refused.
local function read_fields(r, headers, budget, what, stage, status)
  local repeated = {}   -- name -> its values, joined once at the end (linear)
  while true do
    local line, err = read_line(r, what, stage, status)
    if not line then return nil, err end
    budget.left = budget.left - #line - 2
    if budget.left < 0 then
      return nil, protocol_error("ResponseTooLarge",
        ("the response's header and trailer lines are larger than %d bytes"):format(M.HEADER_BLOCK_MAX), status)
    end
    if line == "" then break end
    local name, value = M.parse_header_line(line)
    if name then
      local list = repeated[name]
      if list then
        list[#list + 1] = value
      elseif headers[name] then
        repeated[name] = { headers[name], value }
      else
        headers[name] = value
      end
    end
  end
  for name, list in pairs(repeated) do headers[name] = concat(list, ", ") end
  return headers
end

-- The status line and headers: status, headers (lower-case names; the
-- HTTP version as "@version", which cannot be a header name), budget (what
-- the trailers may still use), or nil, err.
function M.read_head(r)
  local line, err = read_line(r, "status", "status line")
  if not line then return nil, err end
  local major, minor, code = line:match("^HTTP/(%d)%.(%d) (%d%d%d)")   -- anchored: linear
  local status = tonumber(code)
  if not status then return nil, protocol_error("InvalidResponse", "the answer's status line is not HTTP/1.x") end
  local budget = { left = M.HEADER_BLOCK_MAX }
  local headers
  headers, err = read_fields(r, { ["@version"] = major .. "." .. minor }, budget, "header", "headers", status)
  if not headers then return nil, err end
  return status, headers, budget
end

local function body_too_large(limit, status)
  return protocol_error("ResponseTooLarge",
    ("the response body is larger than max_response_bytes (%d bytes)"):format(limit), status)
end

-- A chunked body and its trailers.
local function read_chunked(r, limit, status, budget)
  local parts, total = {}, 0
  while true do
    local line, err = read_line(r, "chunk-size", "body", status)
    if not line then return nil, err end
    local hex = line:match("^%x+")   -- anchored: linear; extensions after ';' are ignored
    if not hex then return nil, protocol_error("InvalidResponse", "a chunk size is not hexadecimal", status) end
    local size = #hex <= 8 and tonumber(hex, 16) or math.huge   -- 8 hex digits: 4 GiB, past any limit
    if size == 0 then
      local trailers
      trailers, err = read_fields(r, {}, budget, "trailer", "trailers", status)
      if not trailers then return nil, err end
      return concat(parts)
    end
    total = total + size
    if total > limit then return nil, body_too_large(limit, status) end
    local data
    data, err = r:bytes(size)
    if not data then return nil, M.socket_error(err, "body") end
    parts[#parts + 1] = data
    line, err = read_line(r, "chunk-end", "body", status)   -- the CRLF after the data
    if not line then return nil, err end
    if line ~= "" then return nil, protocol_error("InvalidResponse", "a chunk's data is not followed by CRLF", status) end
  end
end

-- The body as the headers frame it; never more than limit bytes.
function M.read_body(r, status, headers, budget, limit)
  local chunked = find(lower(headers["transfer-encoding"] or ""), "chunked", 1, true)
  if chunked then return read_chunked(r, limit, status, budget) end   -- chunked framing wins over a length
  local length_text = headers["content-length"]
  if length_text then
    if not find(length_text, "^%d+$") then
      return nil, protocol_error("InvalidResponse", "the answer's Content-Length is not a number", status)
    end
    local length = #length_text <= 15 and tonumber(length_text) or math.huge   -- 15 digits: past any limit
    if length > limit then return nil, body_too_large(limit, status) end
    local body, err = r:bytes(length)
    if not body then return nil, M.socket_error(err, "body") end
    return body
  end
  local body, err = r:rest(limit)   -- no length: the body ends when the server closes
  if not body then
    if err == "too large" then return nil, body_too_large(limit, status) end
    return nil, M.socket_error(err, "body")
  end
  return body, "closed"
end

return M
