-- livepull.resty.http's pure parts, outside nginx: header-line parsing
-- (linear, trims spaces and tabs) and the socket-error table.
local http = require "livepull.resty.http"

describe("livepull.resty.http", function()
  -- { line, name, value } (name nil: not a header)
  local lines = {
    { "Content-Length: 12", "content-length", "12" },
    { "X-Acs-Request-Id:abc", "x-acs-request-id", "abc" },
    { "X: \t  v  w \t ", "x", "v  w" },
    { "X:", "x", "" },
    { "X:     ", "x", "" },
    { "X: a:b", "x", "a:b" },
    { ": no name", nil },
    { "no colon at all", nil },
    { "", nil },
  }
  for _, c in ipairs(lines) do
    it(("parses %q"):format(c[1]), function()
      local name, value = http.parse_header_line(c[1])
      assert.are.same({ c[2], c[3] }, { name, value })
    end)
  end

  it("parses a 16 KiB line of spaces around a value in one pass", function()
    -- The old pattern ^([^:]+):%s*(.-)%s*$ took about a second per such line.
    local line = "X-Pad: v" .. (" "):rep(http.LINE_MAX - 10) .. "v"
    local t0 = os.clock()
    for _ = 1, 50 do
      local name, value = http.parse_header_line(line)
      assert.are.equal("x-pad", name)
      assert.are.equal(#line - 7, #value)
    end
    assert.is_true(os.clock() - t0 < 5, "50 lines took " .. (os.clock() - t0) .. " s")
  end)

  -- { socket error, stage, code, retryable }
  local errors = {
    { "timeout", "body", "Timeout", true },
    { "connection refused", "connect", "CouldNotConnect", true },
    { "127.0.0.x could not be resolved (3: Host not found)", "connect", "CouldNotResolveHost", true },
    { "20: unable to get local issuer certificate", "TLS handshake", "TLSVerificationFailed", false },
    { "18: self-signed certificate", "TLS handshake", "TLSVerificationFailed", false },
    { "10: certificate has expired", "TLS handshake", "TLSVerificationFailed", false },
    { "certificate host mismatch", "TLS handshake", "TLSVerificationFailed", false },
    { "handshake failed", "TLS handshake", "TLSConnectError", false },
    { "10: handshake failed", "TLS handshake", "TLSConnectError", false },   -- a stale code from ngx_lua
    -- lua-resty-core 0.1.25's raise when a handshake ends at once with a failed check
    { "/usr/share/lua/5.1/resty/core/socket.lua:244: assertion failed!", "TLS handshake", "TLSVerificationFailed", false },
    { "broken pipe", "send", "SendError", true },
    { "closed", "status line", "EmptyReply", true },
    { "closed", "body", "PartialResponse", true },
    { "connection reset by peer", "headers", "ReceiveError", true },
  }
  for _, c in ipairs(errors) do
    it(("classifies %q during the %s as %s"):format(c[1], c[2], c[3]), function()
      local err = http.socket_error(c[1], c[2])
      assert.are.same({ "transport", c[3], c[4] }, { err.kind, err.code, err.retryable })
    end)
  end
end)
