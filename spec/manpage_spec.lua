-- doc/livepull.1: man renders it without warnings, it names every command,
-- flag and exit code the command's help lists and the version CMake
-- declares, and cmake --install puts it in man1.
local H = require "helpers"
local cli = require "livepull.cli"
local core = require "livepull.core"

local read, help = H.read_file, H.cli_help

describe("manual page", function()
  local rendered
  setup(function()
    local out, ok = H.run("MANWIDTH=200 MAN_KEEP_FORMATTING= man --warnings -l doc/livepull.1 2>&1 | col -b")
    assert.is_true(ok, out)
    rendered = out
  end)

  it("renders with man -l, without warnings", function()
    assert.truthy(rendered:find("LIVEPULL(1)", 1, true))
    for _, section in ipairs { "NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "EXIT STATUS", "ENVIRONMENT" } do
      assert.truthy(rendered:find("\n" .. section .. "\n", 1, true), section)
    end
    assert.is_nil(rendered:find("warning", 1, true), rendered:match("[^\n]*warning[^\n]*"))
  end)

  it("names every command and flag of the help, and every exit code", function()
    local commands = rendered:match("\nCOMMANDS\n(.-)\n%u[%u ]+\n")
    local argvs = { {} }
    for _, command in ipairs(cli.ORDER) do
      assert.truthy(commands:find("%f[%w]" .. command .. "%f[^%w]"), command .. " is not under COMMANDS")
      argvs[#argvs + 1] = { command, "--help" }
    end
    for _, op in ipairs(core.operations()) do assert.truthy(commands:find(op.method, 1, true), op.method) end
    for _, name in ipairs(require("livepull.cli.apply").OWN_ORDER) do
      assert.truthy(rendered:find("--" .. name:gsub("%-", "%%-") .. "%f[^%w-]"), "--" .. name .. " (plan, apply)")
    end
    for _, argv in ipairs(argvs) do
      for flag in help(argv):gmatch("\n%s+(%-%-[%w-]+)") do
        assert.truthy(rendered:find(flag:gsub("%-", "%%-") .. "%f[^%w-]"), flag .. " is not in doc/livepull.1")
      end
    end
    local exits = "\n" .. rendered:match("\nEXIT STATUS\n(.-)\n%u[%u ]+\n")
    for name, code in pairs(cli.EXIT) do
      assert.truthy(exits:find("\n       " .. code .. "%s"), "exit code " .. code .. " (" .. name .. ")")
    end
  end)

  it("carries the version CMakeLists.txt declares", function()
    local version = H.cmake_version()
    assert.truthy(read("doc/livepull.1"):find('\n.TH LIVEPULL 1 "%d%d%d%d%-%d%d%-%d%d" "livepull ' ..
      version:gsub("%.", "%%.") .. '"'))
  end)

  it("is installed into share/man/man1 by cmake --install", function()
    local build = os.getenv("LIVEPULL_BUILD_DIR") or "build"
    local prefix = H.tmpdir()
    local out, ok = H.run(("cmake --install %s --prefix %s 2>&1"):format(H.sh_quote(build), H.sh_quote(prefix)))
    assert.is_true(ok, out)
    assert.are.equal(read("doc/livepull.1"), read(prefix .. "/share/man/man1/livepull.1"))
    H.run("rm -rf " .. H.sh_quote(prefix))
  end)
end)
