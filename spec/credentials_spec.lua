-- Credentials the way production runs: every provider type against
-- tools/credentials-emulator (STS, instance metadata, credentials URI),
-- the default chain's order in fresh processes with their own environment
-- and HOME, refresh before expiry, and failed refreshes with and without
-- time left.
local cjson = require "cjson"
local H = require "helpers"
local livepull = require "livepull.safe"
local core = require "livepull.core"
local credentials = require "livepull.credentials"

local ROLE = "acs:ram::1234567890123456:role/livepull-spec"
local OIDC_IDP = "acs:ram::1234567890123456:oidc-provider/spec"
local SECRETS = { H.SECRET, H.STS_SECRET, H.STS_TOKEN, "minted-Secret-", "CAIS-minted-" }

-- Every string inside a value (tables walked), for the no-secret checks.
local function all_text(v, out)
  out = out or {}
  if type(v) == "table" then
    for k, x in pairs(v) do all_text(k, out); all_text(x, out) end
  elseif v ~= nil then
    out[#out + 1] = tostring(v)
  end
  return table.concat(out, "\n")
end

local function assert_no_secret(v)
  local text = all_text(v)
  for _, s in ipairs(SECRETS) do assert.is_nil(text:find(s, 1, true), "a secret leaked: " .. s) end
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local live, creds, dir, token_file
setup(function()
  live = H.start_emulator()
  dir = H.tmpdir()
  token_file = dir .. "/oidc-token"
  write(token_file, "eyJspec.oidc.token-1")
  creds = H.start_credentials_emulator(live, { oidc_token_file = token_file })
end)
teardown(function()
  creds.stop()
  live.stop()
end)
before_each(function()
  creds.reset()
  live.reset()
end)

local function base(extra)
  local c = { endpoint = live.url, max_attempts = 1 }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

local function role_creds(extra)
  local c = { type = "ram_role_arn", access_key_id = H.KEY_ID, access_key_secret = H.SECRET, role_arn = ROLE,
              sts_endpoint = creds.url }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

local function update(client)
  return client:update(H.update_params())
end

-- The AccessKeyIds the live emulator saw, in order.
local function live_key_ids()
  local ids = {}
  for _, r in ipairs(live.requests()) do ids[#ids + 1] = r.access_key_id end
  return ids
end

describe("options", function()
  it("refuses credentials or profile given with access_key_*", function()
    for _, extra in ipairs { { credentials = "default" }, { profile = "p" } } do
      extra.access_key_id, extra.access_key_secret = H.KEY_ID, H.SECRET
      local c, err = livepull.new(base(extra))
      assert.is_nil(c)
      assert.are.equal("InvalidConfig", err.code)
      assert.are.equal("access_key_id", err.field)
      assert_no_secret(err)
    end
    local c, err = livepull.new(base { credentials = "default", profile = "p" })
    assert.is_nil(c)
    assert.are.equal("profile", err.field)
  end)

  it("checks a credentials table field by field (table-driven cases)", function()
    local cases = {
      { { type = "nope" }, "credentials.type" },
      { role_creds { color = "red" }, "credentials.color" },
      { role_creds { duration_seconds = 899 }, "credentials.duration_seconds" },
      { role_creds { duration_seconds = 1000.5 }, "credentials.duration_seconds" },
      { role_creds { role_arn = false }, "credentials.role_arn" },
      { { type = "ram_role_arn", role_arn = ROLE }, "credentials.access_key_id" },
      { { type = "oidc_role_arn", role_arn = ROLE, oidc_provider_arn = OIDC_IDP }, "credentials.oidc_token_file" },
      { { type = "credentials_uri" }, "credentials.uri" },
      { role_creds { role_session_name = "no spaces" }, "credentials.role_session_name" },
      { { type = "external", process_command = "true" }, "credentials.type" },
    }
    for _, case in ipairs(cases) do
      local c, err = livepull.new(base { credentials = case[1] })
      assert.is_nil(c)
      assert.are.equal("config", err.kind)
      assert.are.equal("InvalidConfig", err.code)
      assert.are.equal(case[2], err.field, err.message)
    end
    assert.are.equal(0, creds.stats().issued.AssumeRole)   -- nothing was sent
    local c, err = livepull.new(base { credentials = 42 })
    assert.is_nil(c)
    assert.are.equal("credentials", err.field)
  end)

  it("raises with livepull, returns nil, err with livepull.safe", function()
    local ok, err = pcall(require("livepull").new, base { credentials = { type = "nope" } })
    assert.is_false(ok)
    assert.are.equal("InvalidConfig", err.code)
  end)
end)

describe("the STS endpoint rule", function()
  it("takes sts_endpoint, else sts[-vpc].<region>.aliyuncs.com, else sts.aliyuncs.com", function()
    local sts = require "livepull.credentials.sts"
    local env = { ALIBABA_CLOUD_STS_REGION = "cn-hangzhou", ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED = "TRUE" }
    local region, vpc = sts.env_region(function(k) return env[k] end)
    assert.are.same({ "cn-hangzhou", true }, { region, vpc })
    assert.are.equal("https://sts-vpc.cn-hangzhou.aliyuncs.com", sts.endpoint(nil, region, vpc))
    assert.are.equal("https://sts.cn-hangzhou.aliyuncs.com", sts.endpoint(nil, region, false))
    assert.are.equal("https://sts.aliyuncs.com", sts.endpoint(nil, nil, true))   -- VPC needs a region
    assert.are.equal("https://sts.example.test", sts.endpoint("sts.example.test", region, vpc))
    assert.are.equal("http://127.0.0.1:8", sts.endpoint("http://127.0.0.1:8/", region, vpc))
  end)
end)

describe("credentials_info", function()
  it("shows a static key by its first 6 characters", function()
    local c = assert(livepull.new(base { access_key_id = H.KEY_ID, access_key_secret = H.SECRET }))
    local info = c:credentials_info()
    assert.are.equal("access_key", info.provider)
    assert.are.equal(H.KEY_ID:sub(1, 6) .. "...", info.access_key_id)
    assert.is_nil(info.expiration)
    assert.is_number(info.refreshed_at)
    assert_no_secret(info)
    c:close()
    local none, err = c:credentials_info()
    assert.is_nil(none)
    assert.are.equal("ClientClosed", err.code)
  end)

  it("an access_key credentials table", function()
    local c = assert(livepull.new(base { credentials = { type = "access_key", access_key_id = H.STS_KEY_ID,
      access_key_secret = H.STS_SECRET, security_token = H.STS_TOKEN } }))
    assert.are.equal("access_key", c:credentials_info().provider)
    assert.is_table((update(c)))
    assert.are.same({ H.STS_KEY_ID }, live_key_ids())
  end)
end)

describe("the live emulator and STS keys", function()
  it("accepts a minted key with its token until it expires, then InvalidSecurityToken.Expired", function()
    for _, case in ipairs { { os.time() + 600, nil }, { os.time() - 1, "InvalidSecurityToken.Expired" } } do
      local id = "STS.specAdded" .. case[1]
      live.control("POST", "/_emulator/keys", { access_key_id = id, access_key_secret = "minted-Secret-spec",
        security_token = "CAIS-minted-spec", expires_at = case[1] })
      local c = assert(livepull.new(base { access_key_id = id, access_key_secret = "minted-Secret-spec",
        security_token = "CAIS-minted-spec" }))
      local res, err = update(c)
      if case[2] then
        assert.is_nil(res)
        assert.are.same({ "api", case[2], 400 }, { err.kind, err.code, err.status })
        assert.are.equal("Specified SecurityToken is expired.", err.message)
      else
        assert.is_table(res, err and tostring(err))
      end
    end
  end)
end)

describe("ram_role_arn", function()
  it("assumes the role with a signed AssumeRole and signs Live calls with the STS key", function()
    local c = assert(livepull.new(base { credentials = role_creds { duration_seconds = 900, policy = "{}",
      external_id = "ext-1", role_session_name = "spec.session" } }))
    local res, err = update(c)
    assert.is_table(res, err and tostring(err))
    local info = c:credentials_info()
    assert.are.equal("ram_role_arn", info.provider)
    assert.matches("^STS%.mi%.%.%.$", info.access_key_id)
    assert.is_true(info.expiration > os.time() + 3000)
    assert_no_secret(info)
    local req = creds.stats().requests[1]
    assert.are.equal("AssumeRole", req.action)
    assert.is_true(req.signed)
    assert.are.equal(H.KEY_ID, req.access_key_id)
    assert.are.equal("900", req.duration)   -- an integer, never 900.0
    assert.matches("^STS%.minted", live_key_ids()[1])
  end)

  it("sends the source STS token, and a wrong source secret is CredentialsRefreshFailed", function()
    local ok = assert(livepull.new(base { credentials = role_creds { access_key_id = H.STS_KEY_ID,
      access_key_secret = H.STS_SECRET, security_token = H.STS_TOKEN } }))
    assert.is_table((update(ok)))
    local c, err = livepull.new(base { credentials = role_creds { access_key_secret = "wrong-secret" } })
    assert.is_nil(c)
    assert.are.equal("config", err.kind)
    assert.are.equal("CredentialsRefreshFailed", err.code)
    assert.are.equal("ram_role_arn", err.provider)
    assert.are.equal("api", err.cause.kind)
    assert.are.equal("SignatureDoesNotMatch", err.cause.code)
    assert.is_false(err.retryable)
    assert_no_secret(err)
  end)

  it("names STS being down in the cause, retryable", function()
    creds.config { failures = { sts = "down" } }
    local c, err = livepull.new(base { credentials = role_creds() })
    assert.is_nil(c)
    assert.are.equal("CredentialsRefreshFailed", err.code)
    assert.are.equal("ServiceUnavailable", err.cause.code)
    assert.are.equal(503, err.cause.status)
    assert.is_true(err.retryable)
  end)

  it("refuses plain http to a host that is not loopback, sending nothing", function()
    local c, err = livepull.new(base { credentials = role_creds { sts_endpoint = "http://sts.example.com" } })
    assert.is_nil(c)
    assert.are.equal("InsecureURL", err.cause.code)
  end)
end)

describe("provider HTTP", function()
  it("verifies TLS with the client's ca_file, for STS and the credentials URI", function()
    local certs = H.make_certs()
    local tls = H.start_credentials_emulator(live, { tls = certs })
    finally(tls.stop)
    local sts = role_creds { sts_endpoint = tls.url }
    local uri = { type = "credentials_uri", uri = tls.url .. "/credentials" }
    for _, c in ipairs { sts, uri } do
      local client, err = livepull.new(base { credentials = c, ca_file = certs.ca })
      assert.is_truthy(client, err and tostring(err))
      assert.is_table((update(client)))
      local none
      none, err = livepull.new(base { credentials = c })   -- the system CAs do not know the spec's CA
      assert.is_nil(none)
      assert.are.equal("CredentialsRefreshFailed", err.code)
      assert.are.equal("transport", err.cause.kind)
      assert.matches("^TLS", err.cause.code)
      assert.is_false(err.retryable)
    end
  end)

  it("never follows a redirect", function()
    creds.config { failures = { uri = "redirect" } }
    local c, err = livepull.new(base { credentials = { type = "credentials_uri", uri = creds.url .. "/credentials" } })
    assert.is_nil(c)
    assert.are.equal(302, err.cause.status)
    assert.are.equal(0, creds.stats().issued.uri)
  end)

  it("caps an answer at 64 KiB and refuses control characters in a header", function()
    local status, _, body = core.fetch { url = live.url .. "/_emulator/health" }
    assert.are.equal(200, status)
    assert.matches('"ok"', body)
    live.faults { { kind = "big", bytes = 70000 } }
    local none, err = core.fetch { url = live.url .. "/" }
    assert.is_nil(none)
    assert.are.equal("ResponseTooLarge", err.code)
    none, err = core.fetch { url = live.url .. "/", headers = { ["x-a"] = "1\r\nx-b: 2" } }
    assert.is_nil(none)
    assert.are.equal("InvalidHeader", err.code)
    live.reset()
  end)
end)

describe("oidc_role_arn", function()
  it("sends AssumeRoleWithOIDC unsigned with the token file, re-read at each refresh", function()
    local mine = dir .. "/client-token"
    write(mine, "eyJspec.oidc.token-1\n")
    creds.config { lifetime = 4 }
    local c = assert(livepull.new(base { credentials = { type = "oidc_role_arn", role_arn = ROLE,
      oidc_provider_arn = OIDC_IDP, oidc_token_file = mine, sts_endpoint = creds.url } }))
    assert.is_table((update(c)))
    assert.are.equal("oidc_role_arn", c:credentials_info().provider)
    local req = creds.stats().requests[1]
    assert.are.equal("AssumeRoleWithOIDC", req.action)
    assert.is_false(req.signed)
    -- the token rotates on disk for both sides; the refresh must send the new one
    write(token_file, "eyJspec.oidc.token-2")
    write(mine, "eyJspec.oidc.token-2")
    H.run("sleep 3.2")
    assert.is_table((update(c)))
    assert.are.equal(2, creds.stats().issued.AssumeRoleWithOIDC)
    write(token_file, "eyJspec.oidc.token-1")
  end)

  it("a token the STS refuses is CredentialsRefreshFailed", function()
    local mine = dir .. "/bad-token"
    write(mine, "eyJnot-the-token")
    local c, err = livepull.new(base { credentials = { type = "oidc_role_arn", role_arn = ROLE,
      oidc_provider_arn = OIDC_IDP, oidc_token_file = mine, sts_endpoint = creds.url } })
    assert.is_nil(c)
    assert.are.equal("AuthenticationFail.OIDCToken.Invalid", err.cause.code)
    local _, missing = livepull.new(base { credentials = { type = "oidc_role_arn", role_arn = ROLE,
      oidc_provider_arn = OIDC_IDP, oidc_token_file = dir .. "/absent", sts_endpoint = creds.url } })
    assert.are.equal("CredentialsRefreshFailed", missing.code)
    assert.are.equal("oidc_token_file", missing.cause.field)
  end)
end)

describe("credentials_uri", function()
  it("takes the four fields when Code is Success", function()
    local c = assert(livepull.new(base { credentials = { type = "credentials_uri", uri = creds.url .. "/credentials" } }))
    assert.is_table((update(c)))
    assert.are.equal("credentials_uri", c:credentials_info().provider)
  end)

  it("refuses another Code, an expired answer and a server that is down", function()
    for mode, code in pairs { wrong_code = "CredentialsURIFailed", expired = "ExpiredCredentials",
                              down = "CredentialsURIFailed" } do
      creds.config { failures = { uri = mode } }
      local c, err = livepull.new(base { credentials = { type = "credentials_uri", uri = creds.url .. "/credentials" } })
      assert.is_nil(c)
      assert.are.equal("CredentialsRefreshFailed", err.code)
      assert.are.equal(code, err.cause.code, mode)
      assert_no_secret(err)
    end
  end)
end)

describe("a credentials function", function()
  it("is called for credentials; its failures are wrapped without what it returned", function()
    local calls = 0
    local c = assert(livepull.new(base { credentials = function()
      calls = calls + 1
      return { access_key_id = H.KEY_ID, access_key_secret = H.SECRET, expiration = os.time() + 7200 }
    end }))
    assert.is_table((update(c)))
    assert.are.equal(1, calls)
    assert.are.equal("function", c:credentials_info().provider)
    local cases = {
      { function() return nil, "vault sealed" end, "vault sealed" },
      { function() error(H.SECRET) end, "raised an error" },
      { function() return { access_key_id = H.KEY_ID } end, "must return" },
      { function() return { access_key_id = H.KEY_ID, access_key_secret = "bad secret" } end, "printable ASCII" },
    }
    for _, case in ipairs(cases) do
      local none, err = livepull.new(base { credentials = case[1] })
      assert.is_nil(none)
      assert.are.equal("CredentialsRefreshFailed", err.code)
      assert.are.equal("function", err.provider)
      assert.truthy(err.message:find(case[2], 1, true), err.message)
      assert_no_secret(err)
    end
  end)
end)

describe("refresh", function()
  it("refreshes a short-lived credential before it expires: 15 s of calls, none failing", function()
    creds.config { lifetime = 5 }
    local c = assert(livepull.new(base { credentials = role_creds() }))
    local stop, calls = H.now() + 15, 0
    while H.now() < stop do
      local res, err = update(c)
      assert.is_table(res, err and tostring(err))
      calls = calls + 1
      H.run("sleep 0.25")
    end
    local seen, distinct = {}, 0
    for _, id in ipairs(live_key_ids()) do
      if not seen[id] then seen[id], distinct = true, distinct + 1 end
    end
    assert.is_true(distinct >= 3, "the signer was re-keyed only " .. distinct .. " times")
    assert.is_true(creds.stats().issued.AssumeRole >= 3)
    assert.are.equal(calls, #live_key_ids())
  end)

  it("after expiry a failed refresh is CredentialsRefreshFailed (the emulator refuses the old token)", function()
    creds.config { lifetime = 3 }
    local c = assert(livepull.new(base { credentials = role_creds() }))
    assert.is_table((update(c)))
    creds.config { failures = { sts = "down" } }
    H.run("sleep 3.5")
    local res, err = update(c)
    assert.is_nil(res)
    assert.are.equal("CredentialsRefreshFailed", err.code)
    assert.are.equal("ram_role_arn", err.provider)
    assert.are.equal("ServiceUnavailable", err.cause.code)
    assert_no_secret(err)
    assert.are.equal(1, #live_key_ids())   -- the failed call sent nothing to Live
  end)

  it("keeps signing with the old credential while a minute is left, retrying with backoff (injected clock)", function()
    local now, calls, failing = 1000000, 0, false
    local c = assert(credentials.new(base { credentials = function()
      calls = calls + 1
      if failing then return nil, "issuer down" end
      return { access_key_id = H.KEY_ID, access_key_secret = H.SECRET, expiration = now + 600 }
    end }, true, { now = function() return now end }))
    assert.is_table((update(c)))
    now = now + 350   -- 250 s left: fresh (stale with less than 200 s left)
    assert.is_table((update(c)))
    assert.are.equal(1, calls)
    failing = true
    now = now + 100   -- 150 s left: stale; the refresh fails, the call goes on
    assert.is_table((update(c)))
    assert.are.equal(2, calls)
    now = now + 5     -- within the 10 s backoff: not tried again
    assert.is_table((update(c)))
    assert.are.equal(2, calls)
    now = now + 6
    assert.is_table((update(c)))
    assert.are.equal(3, calls)
    now = now + 85    -- 54 s left: the call fails, naming the provider
    local res, err = update(c)
    assert.is_nil(res)
    assert.are.equal("CredentialsRefreshFailed", err.code)
    assert.are.equal("function", err.provider)
    assert.are.equal("ProviderFailed", err.cause.code)
    failing = false
    now = now + 60    -- after the backoff a working provider is taken again
    assert.is_table((update(c)))
    assert.are.equal(5, calls)
    assert.are.equal(now + 600, c:credentials_info().expiration)
  end)
end)

-- A fresh process with its own environment and HOME; prints JSON.
local function in_process(env, code)
  local prefix = "env -u ALIBABA_CLOUD_ACCESS_KEY_ID -u ALIBABA_CLOUD_ACCESS_KEY_SECRET -u ALIBABA_CLOUD_SECURITY_TOKEN "
    .. "-u ALIBABA_CLOUD_ECS_METADATA_DISABLED HOME=" .. H.sh_quote(dir .. "/home") .. " LIVEPULL_METADATA_ENDPOINT="
    .. H.sh_quote(creds.url) .. " " .. env .. " "
  local out = H.run(prefix .. H.lua_command("local cjson = require 'cjson'; " .. code) .. " 2>&1")
  local ok, doc = pcall(cjson.decode, out)
  assert(ok, "not JSON: " .. out)
  return doc
end

-- livepull.new() (the default chain) in a fresh process: the info or the error.
local function chain(env, extra)
  return in_process(env, ([[
    local lp = require "livepull.safe"
    local c, e = lp.new { endpoint = %q %s }
    if not c then print(cjson.encode { code = e.code, message = e.message, cause = e.cause and e.cause.code }) return end
    local info = c:credentials_info()
    local res, err = c:update { TaskId = "fd245384-4067-4f91-9d75-9666a6bc0000", Region = "cn-shanghai" }
    info.ok = res ~= nil
    info.code = err and err.code
    print(cjson.encode(info))]]):format(live.url, extra or ""))
end

describe("the default chain", function()
  local home = function() return dir .. "/home" end
  setup(function()
    H.run("mkdir -p " .. H.sh_quote(dir .. "/home/.aliyun") .. " " .. H.sh_quote(dir .. "/home/.alibabacloud"))
  end)
  local function cli_file(profiles, current)
    write(home() .. "/.aliyun/config.json", cjson.encode { current = current or profiles[1].name, profiles = profiles })
  end
  local function ini_file(text) write(home() .. "/.alibabacloud/credentials", text) end
  local function clear_files()
    os.remove(home() .. "/.aliyun/config.json")
    os.remove(home() .. "/.alibabacloud/credentials")
  end
  before_each(clear_files)

  local AK_PROFILE = { name = "ak", mode = "AK", access_key_id = H.KEY_ID, access_key_secret = H.SECRET, region_id = "cn-shanghai" }
  local ENV_KEYS = ("ALIBABA_CLOUD_ACCESS_KEY_ID=%s ALIBABA_CLOUD_ACCESS_KEY_SECRET=%s "):format(H.KEY_ID, H.SECRET)
  local function oidc_env(file)
    return ("ALIBABA_CLOUD_ROLE_ARN=%s ALIBABA_CLOUD_OIDC_PROVIDER_ARN=%s ALIBABA_CLOUD_OIDC_TOKEN_FILE=%s "
      .. "LIVEPULL_STS_ENDPOINT=%s "):format(ROLE, OIDC_IDP, H.sh_quote(file or token_file), H.sh_quote(creds.url))
  end

  it("lists every provider and why when none yields credentials", function()
    local r = chain("ALIBABA_CLOUD_ECS_METADATA_DISABLED=true")
    assert.are.equal("MissingCredentials", r.code)
    for _, name in ipairs { "environment skipped", "oidc_role_arn skipped", "cli_profile skipped: no file",
                            "credentials_file skipped: no file", "ecs_ram_role skipped: disabled by ALIBABA_CLOUD_ECS_METADATA_DISABLED=true",
                            "credentials_uri skipped" } do
      assert.truthy(r.message:find(name, 1, true), r.message)
    end
  end)

  it("takes the environment first, then OIDC, then the CLI profile, then the credentials file", function()
    cli_file { AK_PROFILE }
    ini_file("[default]\ntype = access_key\naccess_key_id = " .. H.STS_KEY_ID .. "\naccess_key_secret = x\n")
    assert.are.equal("environment", chain(ENV_KEYS).provider)
    assert.are.equal("environment", chain(ENV_KEYS .. oidc_env()).provider)
    assert.are.equal("environment", chain(ENV_KEYS, ', credentials = "default"').provider)
    local r = chain(oidc_env())
    assert.are.equal("oidc_role_arn", r.provider)
    assert.is_nil(r.source)
    assert.is_true(r.ok)
    -- OIDC inputs present but failing (no token file): the chain goes on
    r = chain(oidc_env(dir .. "/absent"))
    assert.are.equal("access_key", r.provider)
    assert.are.equal("cli_profile:ak", r.source)
    assert.is_true(r.ok)
    r = chain("ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true")
    assert.are.equal("credentials_file:default", r.source)
    r = chain("ALIBABA_CLOUD_CONFIG_FILE=/nonexistent")
    assert.are.equal("credentials_file:default", r.source)
  end)

  it("reads every CLI profile mode, and names an unsupported one", function()
    cli_file({
      AK_PROFILE,
      { name = "sts", mode = "StsToken", access_key_id = H.STS_KEY_ID, access_key_secret = H.STS_SECRET, sts_token = H.STS_TOKEN },
      { name = "role", mode = "RamRoleArn", access_key_id = H.KEY_ID, access_key_secret = H.SECRET, ram_role_arn = ROLE,
        ram_session_name = "spec", expired_seconds = 900, sts_endpoint = creds.url },
      { name = "chain", mode = "ChainableRamRoleArn", source_profile = "role", ram_role_arn = ROLE, sts_endpoint = creds.url },
      { name = "ecs", mode = "EcsRamRole", ram_role_name = "livepull-spec-role" },
      { name = "oidc", mode = "OIDC", oidc_provider_arn = OIDC_IDP, oidc_token_file = token_file, ram_role_arn = ROLE,
        sts_endpoint = creds.url },
      { name = "uri", mode = "CredentialsURI", credentials_uri = creds.url .. "/credentials" },
      { name = "ext", mode = "External", process_command = ("printf '%%s' '%s'"):format(cjson.encode {
        mode = "StsToken", access_key_id = H.STS_KEY_ID, access_key_secret = H.STS_SECRET, sts_token = H.STS_TOKEN }) },
      { name = "sso", mode = "CloudSSO" },
      { name = "loop", mode = "ChainableRamRoleArn", source_profile = "loop", ram_role_arn = ROLE },
    }, "ak")
    local expect = { ak = "access_key", sts = "access_key", role = "ram_role_arn", chain = "ram_role_arn",
                     ecs = "ecs_ram_role", oidc = "oidc_role_arn", uri = "credentials_uri", ext = "external" }
    for name, provider in pairs(expect) do
      local r = chain("ALIBABA_CLOUD_PROFILE=" .. name)
      assert.are.equal(provider, r.provider, name .. ": " .. cjson.encode(r))
      assert.are.equal("cli_profile:" .. name, r.source)
      assert.is_true(r.ok, name .. ": " .. tostring(r.code))
      local explicit = chain("", (", profile = %q"):format(name))
      assert.are.equal(provider, explicit.provider)
    end
    local r = chain("", ', profile = "sso"')
    assert.are.equal("InvalidConfig", r.code)
    assert.truthy(r.message:find('mode "CloudSSO"', 1, true), r.message)
    r = chain("", ', profile = "loop"')
    assert.truthy(r.message:find("deeper than", 1, true), r.message)
    r = chain("", ', profile = "absent"')
    assert.are.equal("InvalidConfig", r.code)
    r = chain("ALIBABA_CLOUD_ECS_METADATA_DISABLED=true", ', profile = "ecs"')
    assert.truthy(r.message:find("ALIBABA_CLOUD_ECS_METADATA_DISABLED", 1, true), r.message)
  end)

  it("names a hostile profile file's problem and goes on", function()
    write(home() .. "/.aliyun/config.json", "[1, 2]")
    ini_file(("x"):rep(1024 * 1024 + 10))
    local r = chain("ALIBABA_CLOUD_ECS_METADATA_DISABLED=true")
    assert.are.equal("MissingCredentials", r.code)
    assert.truthy(r.message:find("cli_profile failed: InvalidConfig: ", 1, true), r.message)
    assert.truthy(r.message:find("is larger than 1048576 bytes", 1, true), r.message)
    write(home() .. "/.aliyun/config.json", cjson.encode { current = "x", profiles = {
      { name = "x", mode = 42 }, { name = 7 }, "junk" } })
    r = chain("", ', profile = "x"')
    assert.are.equal("InvalidConfig", r.code)
    assert.truthy(r.message:find('mode ""', 1, true), r.message)
    write(home() .. "/.aliyun/config.json", cjson.encode { current = "x", profiles = {
      { name = "x", mode = "AK", access_key_id = { 1 }, access_key_secret = 5 } } })
    r = chain("", ', profile = "x"')
    assert.are.equal("InvalidConfig", r.code)
    assert.are.equal(nil, r.provider)
    -- a StsToken profile without its token would sign as if its STS key were a long-term one
    for _, token in ipairs { cjson.null, "", 5 } do
      write(home() .. "/.aliyun/config.json", cjson.encode { current = "x", profiles = {
        { name = "x", mode = "StsToken", access_key_id = H.STS_KEY_ID, access_key_secret = H.STS_SECRET, sts_token = token } } })
      r = chain("", ', profile = "x"')
      assert.are.equal("InvalidConfig", r.code, cjson.encode(r))
      assert.truthy(r.message:find("sts_token", 1, true), r.message)
    end
  end)

  it("reads the credentials file's section types and ALIBABA_CLOUD_PROFILE", function()
    ini_file(table.concat({
      "; comment", "[default]", "type = access_key", "access_key_id = " .. H.KEY_ID, "access_key_secret = " .. H.SECRET,
      "[ecs]", "type = ecs_ram_role", "role_name = livepull-spec-role",
      "[odd]", "type = rsa_key_pair",
    }, "\n"))
    assert.are.equal("credentials_file:default", chain("").source)
    local r = chain("ALIBABA_CLOUD_PROFILE=ecs")
    assert.are.equal("ecs_ram_role", r.provider)
    assert.is_true(r.ok)
    r = chain("ALIBABA_CLOUD_PROFILE=ecs ALIBABA_CLOUD_ECS_METADATA_DISABLED=true")
    assert.are.equal("MissingCredentials", r.code)
    assert.truthy(r.message:find("ALIBABA_CLOUD_ECS_METADATA_DISABLED", 1, true))
    r = chain("ALIBABA_CLOUD_PROFILE=odd ALIBABA_CLOUD_ECS_METADATA_DISABLED=true")
    assert.truthy(r.message:find("rsa_key_pair", 1, true), r.message)
  end)

  it("takes the ECS RAM role with an IMDSv2 token, before the credentials URI", function()
    local uri = "ALIBABA_CLOUD_CREDENTIALS_URI=" .. H.sh_quote(creds.url .. "/credentials")
    creds.config { imds_token_required = true }
    local r = chain(uri)
    assert.are.equal("ecs_ram_role", r.provider)
    assert.is_true(r.ok)
    local paths = {}
    for _, q in ipairs(creds.stats().requests) do paths[#paths + 1] = q.method .. " " .. q.path .. " " .. tostring(q.token_sent) end
    assert.are.same({ "PUT /latest/api/token false", "GET /latest/meta-data/ram/security-credentials/ true",
                      "GET /latest/meta-data/ram/security-credentials/livepull-spec-role true" }, paths)
    assert.are.equal("credentials_uri", chain(uri .. " ALIBABA_CLOUD_ECS_METADATA_DISABLED=true").provider)
    -- an old metadata service without tokens: IMDSv1, unless disabled
    creds.config { imds_token_required = false, imds_token_refused = true }
    assert.are.equal("ecs_ram_role", chain("ALIBABA_CLOUD_ECS_METADATA=livepull-spec-role").provider)
    r = chain("ALIBABA_CLOUD_IMDSV1_DISABLED=true " .. uri)
    assert.are.equal("credentials_uri", r.provider)
    r = chain("ALIBABA_CLOUD_IMDSV1_DISABLED=true")
    assert.truthy(r.message:find("MetadataTokenFailed", 1, true), r.message)
    creds.config { imds_token_refused = false, failures = { imds = "wrong_code" } }
    r = chain("")
    assert.truthy(r.message:find("MetadataCredentialsFailed", 1, true), r.message)
  end)

  it("pays an unreachable metadata service's timeouts once per process", function()
    creds.config { failures = { imds = "slow" }, slow_seconds = 4 }
    local r = in_process("ALIBABA_CLOUD_CREDENTIALS_URI=" .. H.sh_quote(creds.url .. "/credentials"), ([[
      local lp = require "livepull.safe"
      local now = require("livepull.core").monotonic
      local t0 = now()
      local a = assert(lp.new { endpoint = %q })
      local t1 = now()
      local b = assert(lp.new { endpoint = %q })
      print(cjson.encode { first = a:credentials_info().provider, second = b:credentials_info().provider,
                           first_s = t1 - t0, second_s = now() - t1 })]]):format(live.url, live.url))
    assert.are.equal("credentials_uri", r.first)
    assert.are.equal("credentials_uri", r.second)
    -- One metadata attempt costs its 2 s timeout (1 s connect + 1 s read); paying the token's and then
    -- IMDSv1's, or the service's whole 4 s, is 4 s and more. Under valgrind the first chain run took
    -- 2.5 s (its code runs for the first time); whole seconds (os.time) failed such a run from 3.0 s.
    assert.is_true(r.first_s < 3.6, ("the metadata step took %.2f s"):format(r.first_s))
    assert.are.equal(1, creds.stats().received.imds)   -- the token PUT timed out once; the second client did not ask again
  end)

  it("remembers only the provider that succeeded and refreshes with it alone", function()
    creds.config { lifetime = 4 }
    -- OIDC fails (no token file), the URI works; then a CLI profile appears,
    -- which a chain run again would prefer: the refresh stays with the URI.
    local r = in_process(oidc_env(dir .. "/absent") .. " ALIBABA_CLOUD_ECS_METADATA_DISABLED=true ALIBABA_CLOUD_CREDENTIALS_URI=" .. H.sh_quote(creds.url .. "/credentials"), ([[
      local lp = require "livepull.safe"
      local c = assert(lp.new { endpoint = %q })
      local first = c:credentials_info()
      local f = assert(io.open(%q, "w"))
      f:write(%q)
      f:close()
      os.execute("sleep 3.2")
      local res, err = c:update { TaskId = "fd245384-4067-4f91-9d75-9666a6bc0000", Region = "cn-shanghai" }
      print(cjson.encode { first = first.provider, ok = res ~= nil, after = c:credentials_info().provider })]]):format(
        live.url, home() .. "/.aliyun/config.json", cjson.encode { current = "ak", profiles = { AK_PROFILE } }))
    assert.are.same({ first = "credentials_uri", ok = true, after = "credentials_uri" }, r)
    assert.are.equal(2, creds.stats().issued.uri)
  end)
end)
