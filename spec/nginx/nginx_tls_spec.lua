-- A bad TLS server gets the same error code from both transports: the
-- native path (libcurl) and livepull.resty in nginx run against the same
-- servers (self-signed, unknown CA, wrong host name, expired, not TLS at
-- all) with the same trusted CA, and their codes are compared.
local cjson = require "cjson"
local H = require "helpers"
local N = require "nginx.helpers"
local livepull = require "livepull.safe"

local NAMES = "DNS:localhost,IP:127.0.0.1,DNS:127.0.0.1"   -- nginx checks DNS names only

-- The spec's certificates, made with openssl in a temp dir: a trusted CA
-- (H.make_certs) and the bad certificates beside it.
local function make_bad_certs()
  local certs = H.make_certs(NAMES)
  local q = H.sh_quote
  local function signed_by(ca, name, san, dates)
    return table.concat({
      "openssl req -newkey rsa:2048 -nodes -keyout " .. name .. ".key -out " .. name .. ".csr -subj /CN=" .. name .. " 2>/dev/null",
      "printf 'subjectAltName=%s\\n' " .. q(san) .. " > " .. name .. ".ext",
      (dates or "") .. "openssl x509 -req -in " .. name .. ".csr -CA " .. ca .. ".pem -CAkey " .. ca ..
        ".key -CAcreateserial -out " .. name .. ".pem -days 1 -extfile " .. name .. ".ext 2>/dev/null",
    }, " && ")
  end
  local script = table.concat({
    "set -e; cd " .. q(certs.dir),
    "openssl req -x509 -newkey rsa:2048 -nodes -keyout selfsigned.key -out selfsigned.pem -days 2 -subj /CN=127.0.0.1 " ..
      "-addext " .. q("subjectAltName=" .. NAMES) .. " 2>/dev/null",
    "openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=other-ca 2>/dev/null",
    signed_by("other-ca", "unknownca", NAMES),
    signed_by("ca", "wronghost", "DNS:wrong.example"),
    -- signed on a day long past, valid for one day; and one valid from a day to come
    signed_by("ca", "expired", NAMES, "faketime '2020-01-01 00:00:00' "),
    signed_by("ca", "notyet", NAMES, "faketime '2040-01-01 00:00:00' "),
  }, " && ")
  local out, ok = H.run(script)
  assert(ok, "openssl failed: " .. out)
  local function pair(name) return ",cert=" .. certs.dir .. "/" .. name .. ".pem,key=" .. certs.dir .. "/" .. name .. ".key" end
  return certs, {
    good = "ok,cert=" .. certs.cert .. ",key=" .. certs.key,
    selfsigned = "ok" .. pair("selfsigned"),
    unknownca = "ok" .. pair("unknownca"),
    wronghost = "ok" .. pair("wronghost"),
    expired = "ok" .. pair("expired"),
    notyet = "ok" .. pair("notyet"),
    plain = "banner",
    silent = "silent",
  }
end

-- { server, the code both must give (nil: success) }
local cases = {
  { "good", nil },
  { "selfsigned", "TLSVerificationFailed" },
  { "unknownca", "TLSVerificationFailed" },
  { "wronghost", "TLSVerificationFailed" },
  { "expired", "TLSVerificationFailed" },
  { "notyet", "TLSVerificationFailed" },
  { "plain", "TLSConnectError" },
  { "silent", "Timeout" },   -- accepts and never answers the handshake
}

describe("TLS failures, native path and livepull.resty side by side", function()
  local certs
  local stage = N.stage(function()
    local listeners
    certs, listeners = make_bad_certs()
    return { hostile = listeners, nginx = { ca_file = certs.ca } }
  end)
  setup(stage.start)
  teardown(stage.stop)

  local function native(url)
    local client = assert(livepull.new { endpoint = url, ca_file = certs.ca, max_attempts = 1,
      access_key_id = H.KEY_ID, access_key_secret = H.SECRET, timeout = 2 })
    local res, err = client:update { TaskId = "fd245384-4067-4f91-9d75-9666a6bc0000", Region = "cn-shanghai" }
    client:close()
    return res and "ok" or (err.kind .. " " .. err.code), err
  end
  local function resty(url)
    local res = stage.call { endpoint = url, timeout = 2 }
    return res.ok and "ok" or (res.error.kind .. " " .. res.error.code), res.error
  end

  -- lua-resty-core 0.1.25 raises from sslhandshake when a handshake ends
  -- at once with a failed check, which loopback and a busy machine make
  -- likely: many handshakes at a time, each one an error table, no Lua
  -- error in nginx's log (nginx.stop checks).
  it("60 concurrent handshakes with bad certificates: each a TLSVerificationFailed, no Lua error", function()
    local urls = {}
    for i = 1, 60 do
      local url = stage.url(i % 2 == 0 and "selfsigned" or "expired", "https")
      urls[i] = H.sh_quote(stage.nginx.url .. "/call?" .. N.query { endpoint = url, timeout = 2 })
    end
    local out = H.run("curl -s --max-time 30 --parallel --parallel-max 12 " .. table.concat(urls, " "))
    local codes = {}
    for line in out:gmatch("[^\n]+") do
      local ok, res = pcall(cjson.decode, line)
      local code = ok and res.error and res.error.code or line:sub(1, 60)
      codes[code] = (codes[code] or 0) + 1
    end
    assert.are.same({ TLSVerificationFailed = 60 }, codes)
  end)

  for _, c in ipairs(cases) do
    it(c[1] .. ": both say " .. (c[2] or "ok"), function()
      local url = stage.url(c[1], "https")
      local want = c[2] and ("transport " .. c[2]) or "ok"
      local got_native, native_err = native(url)
      local got_resty, resty_err = resty(url)
      assert.are.same({ native = want, resty = want }, { native = got_native, resty = got_resty },
        cjson.encode { native = native_err and native_err.message, resty = resty_err and resty_err.message })
      if c[2] then assert.are.equal(native_err.retryable, resty_err.retryable) end
      print(("\n  %s: native %q, resty %q"):format(c[1], native_err and native_err.message or "ok", resty_err and resty_err.message or "ok"))
    end)
  end
end)
