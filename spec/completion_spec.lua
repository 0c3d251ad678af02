-- `livepull completion bash`: a script bash accepts, whose completions are
-- the command's commands, each command's flags and the fields' choices,
-- asked of a real bash with COMP_WORDS set as readline would.
local H = require "helpers"
local core = require "livepull.core"

local script

-- The words bash would offer for a command line whose last word is `cur`.
local function complete(words)
  local quoted = {}
  for i, w in ipairs(words) do quoted[i] = H.sh_quote(w) end
  local out, ok = H.run(("bash -c %s"):format(H.sh_quote(
    "source " .. H.sh_quote(script) .. "; COMP_WORDS=(" .. table.concat(quoted, " ") .. "); " ..
    "COMP_CWORD=" .. (#words - 1) .. "; _livepull; printf '%s\\n' \"${COMPREPLY[@]}\"")))
  assert.is_true(ok, out)
  local set = {}
  for w in out:gmatch("[^\n]+") do set[w] = true end
  return set
end

describe("livepull completion bash", function()
  setup(function()
    script = os.tmpname()
    local out, ok = H.run(H.lua_command("os.exit(require('livepull.cli').main({ 'completion', 'bash' }))") ..
      " > " .. H.sh_quote(script))
    assert.is_true(ok, out)
  end)
  teardown(function() os.remove(script) end)

  it("prints a script bash parses, registered for livepull", function()
    local out, ok = H.run("bash -n " .. H.sh_quote(script) .. " 2>&1")
    assert.is_true(ok, out)
    out = H.run(("bash -c %s"):format(H.sh_quote("source " .. H.sh_quote(script) .. "; complete -p livepull")))
    assert.truthy(out:find("-F _livepull livepull", 1, true), out)
  end)

  it("completes the commands", function()
    local got = complete { "livepull", "" }
    for _, command in ipairs(require("livepull.cli").ORDER) do assert.is_true(got[command], command) end
    for _, op in ipairs(core.operations()) do assert.is_true(got[op.method], op.method) end
    assert.is_true(got["completion"] and got["--version"] and got["--help"])
    got = complete { "livepull", "de" }
    assert.is_true(got.describe and got.delete)
    assert.is_nil(got.update)
  end)

  it("completes each command's flags from the field table, and only those", function()
    for _, op in ipairs(core.operations()) do
      local action, method = op.action, op.method
      local got = complete { "livepull", method, "--" }
      for _, f in ipairs(core.fields(action)) do
        local flag = "--" .. f.name:gsub("(%l)(%u)", "%1-%2"):lower():gsub(f.type == "list" and "s$" or "^$", "")
        assert.is_true(got[flag], method .. " " .. flag)
      end
      assert.is_true(got["--endpoint"] and got["--dry-run"] and got["--max-attempts"] and got["--credentials-uri"], method)
    end
    assert.is_nil(complete({ "livepull", "describe", "--" })["--source-type"])
  end)

  it("completes plan and apply with update's flags and their own", function()
    for _, command in ipairs { "plan", "apply" } do
      local got = complete { "livepull", command, "--" }
      for _, name in ipairs(require("livepull.cli.apply").OWN_ORDER) do assert.is_true(got["--" .. name], command .. " --" .. name) end
      assert.is_true(got["--task-id"] and got["--callback-url"] and got["--endpoint"], command)
      assert.is_nil(got["--source-type"], command)
    end
    assert.is_nil(complete({ "livepull", "update", "--" })["--prune"])
  end)

  it("completes the choices of a value flag", function()
    local got = complete { "livepull", "update", "--region", "cn-s" }
    assert.is_true(got["cn-shanghai"] and got["cn-shenzhen"])
    assert.is_nil(got["cn-beijing"])
    got = complete { "livepull", "create", "--source-type", "" }
    assert.is_true(got.live and got.vod and got.url)
    got = complete { "livepull", "list", "--signature-algorithm", "" }
    assert.is_true(got["ACS3-HMAC-SHA256"] and got["HMAC-SHA1"])
  end)

  it("refuses other shells with a usage error", function()
    local _, ok, code = H.run(H.lua_command("os.exit(require('livepull.cli').main({ 'completion', 'zsh' }))") .. " 2>/dev/null")
    assert.is_false(ok)
    assert.are.equal(2, code)
  end)
end)
