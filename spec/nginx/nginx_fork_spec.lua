-- A plain client made in nginx's master and used by its forked workers:
-- each worker signs with nonces of its own (the nonce pool is refilled in
-- a new process generation, not inherited) and sends over a connection of
-- its own.
local H = require "helpers"
local N = require "nginx.helpers"

describe("a client made before nginx forks its workers", function()
  local emu, nginx
  setup(function()
    emu = H.start_emulator {}
    nginx = N.start_nginx("spec/nginx/fork.conf", { workers = 2, endpoint = emu.url })
  end)
  teardown(function()
    nginx.stop()
    emu.stop()
  end)

  it("signs with different nonces in each worker and in the master", function()
    local first = {}   -- pid -> the first nonce that worker signed with
    local seen, master = {}, nil
    for _ = 1, 200 do
      local out = N.get(nginx.url .. "/nonce")
      assert.is_true(out.master_ok, "the master's call: " .. tostring(out.master_err))
      master = out.master_nonce
      assert.is_nil(seen[out.nonce], "a nonce signed twice: " .. out.nonce)
      seen[out.nonce] = true
      first[out.pid] = first[out.pid] or out.nonce
      local workers = 0
      for _ in pairs(first) do workers = workers + 1 end
      if workers == 2 then break end
    end
    local nonces = {}
    for _, nonce in pairs(first) do nonces[#nonces + 1] = nonce end
    assert.are.equal(2, #nonces, "both workers answered")
    assert.are_not.equal(nonces[1], nonces[2])
    assert.is_nil(seen[master], "a worker reused the master's nonce")
  end)

  it("sends from each worker over its own connection", function()
    for _ = 1, 6 do
      assert.are.equal("ok", N.get(nginx.url .. "/send").outcome)
    end
  end)
end)
