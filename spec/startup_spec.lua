-- The installed command starts the way a curl process does: its shebang runs
-- the Lua luarocks built it for (no luarocks wrapper, no luarocks.loader), it
-- finds its own tree without LUA_PATH, a real update executes no other
-- program (no shell for `[ -t 2 ]`), and it loads only the modules it uses.
local H = require "helpers"

local TASK = "fd245384-4067-4f91-9d75-9666a6bc0000"
local tree, emu

-- The environment without any Lua search path, so only the command's own
-- lookup (and Lua's built-in default paths) can find livepull.
local CLEAN = "env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_2 -u LUA_CPATH_5_2 -u LUA_PATH_5_3 " ..
  "-u LUA_CPATH_5_3 -u LUA_PATH_5_4 -u LUA_CPATH_5_4 -u LUA_INIT -u LUA_INIT_5_2 -u LUA_INIT_5_3 -u LUA_INIT_5_4 " ..
  "-u ALIBABA_CLOUD_PROFILE HOME=/nonexistent "

local function update_args()
  return ("update --endpoint %s --access-key-id %s --access-key-secret %s --rate-limit 0 " ..
    "--task-id %s --region cn-shanghai --callback-url https://cb.example.com/startup"):format(
    emu.url, H.KEY_ID, H.SECRET, TASK)
end

describe("the installed command's start", function()
  setup(function()
    tree = H.tmpdir()
    local log, ok = H.luarocks_make(tree)
    assert(ok, log)
    emu = H.start_emulator()
  end)
  teardown(function()
    emu.stop()
    H.run("rm -rf " .. H.sh_quote(tree))
  end)

  it("is the script itself, started by the Lua luarocks built for, not luarocks' wrapper", function()
    local text = H.read_file(tree .. "/bin/livepull")
    local lua = H.run(H.luarocks("config variables.LUA")):gsub("%s+$", "")
    assert.are.equal("#!" .. lua, text:match("^[^\n]*"))
    assert.is_nil(text:find("luarocks.loader", 1, true))
    assert.is_nil(text:find("LUAROCKS_SYSCONFDIR", 1, true))
  end)

  it("finds its own tree with no LUA_PATH and sends a real update", function()
    local out, ok = H.run(CLEAN .. tree .. "/bin/livepull " .. update_args() .. " 2>&1")
    assert.is_true(ok, out)
    assert.truthy(out:find('"RetCode":0', 1, true), out)
  end)

  it("executes no other program (no shell) during a real update", function()
    local trace = H.tmpdir() .. "/trace"
    local out, ok = H.run(("%s strace -f -qq -e trace=execve -o %s %s/bin/livepull %s 2>&1"):format(
      CLEAN, H.sh_quote(trace), tree, update_args()))
    assert.is_true(ok, out)
    local execs = {}
    for line in io.lines(trace) do
      local program = line:match('execve%("([^"]+)"')
      if program then execs[#execs + 1] = program end
    end
    assert.are.same({ tree .. "/bin/livepull" }, execs)
  end)

  it("loads only the modules the command uses", function()
    -- LUA_INIT runs before the script: report package.loaded when it exits.
    local init = [[local exit = os.exit; os.exit = function(...)
      local names = {}
      for name in pairs(package.loaded) do if name:find("^livepull") or name:find("^cjson") or name:find("^luarocks") then names[#names + 1] = name end end
      table.sort(names); io.stderr:write("loaded=", table.concat(names, ","), "\n"); return exit(...) end]]
    local var = "LUA_INIT" .. (H.LUA_ABI == "5.1" and "" or "_" .. H.LUA_ABI:gsub("%.", "_"))
    local function loaded(args)
      local out = H.run(("%s %s=%s %s/bin/livepull %s 2>&1 >/dev/null"):format(CLEAN, var, H.sh_quote(init), tree, args))
      return out:match("loaded=(%S*)") or error("no report: " .. out)
    end
    -- Every run uses the core, the safe module, the command and its input
    -- rules and JSON writer; nothing else is loaded unless asked for.
    local ALWAYS = { "cjson.safe", "livepull.cli", "livepull.cli.input", "livepull.cli.json", "livepull.cli.output",
      "livepull.cli.redact", "livepull.core", "livepull.credentials", "livepull.credentials.refresh",
      "livepull.credentials.util", "livepull.module", "livepull.safe" }
    local always = table.concat(ALWAYS, ",")
    assert.are.equal(always, loaded(update_args()))
    assert.are.equal(always, loaded("--version"))
    -- a batch whose stderr is not a terminal (no progress bar), credentials from flags (no profile)
    assert.are.equal(always, loaded("update --batch /dev/null --access-key-id a --access-key-secret b"))
    assert.truthy(loaded("completion bash"):find("livepull.cli.completion", 1, true))
  end)
end)
