-- `livepull completion bash`: a bash completion script derived from the
-- command's own tables (the core's field table, the client and behaviour
-- flags, plan and apply's own flags), so it offers exactly the flags and
-- choices the command takes.
local core = require "livepull.core"

local M = {}

-- Commands with flags of their own, and the module that declares them
-- (OWN_ORDER: names; OWN_FLAGS[name][1]: takes a value, [2]: "FILE..." for a file).
local OWN_FLAGS = { plan = "livepull.cli.apply", apply = "livepull.cli.apply" }

local function own_flags(command)
  local module = OWN_FLAGS[command] and require(OWN_FLAGS[command])
  return module and module.OWN_ORDER or {}, module and module.OWN_FLAGS or {}
end

local function words(list) return table.concat(list, " ") end

-- Shell-safe: flags, command names and choices are [%w.-] only; anything
-- else is left out rather than quoted into the script.
local function safe(list)
  local out = {}
  for _, w in ipairs(list) do
    if w:match("^[%w.%-]+$") then out[#out + 1] = w end
  end
  return out
end

-- { value flag -> choices } for a command: its parameters' choices and the
-- client options that declare some (signature_algorithm).
local function choices_of(cli, action)
  local choices = {}
  for _, f in ipairs(core.fields(action)) do
    if f.choices then choices["--" .. cli.flag_of(f.name, f.type == "list")] = f.choices end
  end
  local option_choices = {}
  for _, o in ipairs(core.options()) do option_choices[o.name] = o.choices end
  for _, c in ipairs(cli.CLIENT_FLAGS) do
    if option_choices[c[2]] then choices["--" .. c[1]] = option_choices[c[2]] end
  end
  return choices
end

-- Every flag a command takes: parameters, its own, behaviour, client options.
local function flags_of(cli, command, action)
  local flags = {}
  for _, f in ipairs(core.fields(action)) do flags[#flags + 1] = "--" .. cli.flag_of(f.name, f.type == "list") end
  for _, name in ipairs((own_flags(command))) do flags[#flags + 1] = "--" .. name end
  for _, b in ipairs(cli.BEHAVIOUR_FLAGS) do flags[#flags + 1] = "--" .. b[1] end
  for _, c in ipairs(cli.CLIENT_FLAGS) do flags[#flags + 1] = "--" .. c[1] end
  if cli.CREDENTIALS_URI_FLAG then flags[#flags + 1] = "--" .. cli.CREDENTIALS_URI_FLAG[1] end
  return safe(flags)
end

-- Flags whose value is a file or a folder: behaviour flags documented as
-- FILE..., client options named *_file or *_path.
local function paths(cli)
  local files, dirs, seen = {}, {}, {}
  for _, b in ipairs(cli.BEHAVIOUR_FLAGS) do
    if b[2]:match("^FILE") then files[#files + 1] = "--" .. b[1] end
  end
  for _, command in ipairs(cli.ORDER) do
    local order, flags = own_flags(command)
    for _, name in ipairs(order) do
      if flags[name][1] and tostring(flags[name][2]):match("^FILE") and not seen[name] then
        files[#files + 1], seen[name] = "--" .. name, true
      end
    end
  end
  for _, c in ipairs(cli.CLIENT_FLAGS) do
    if c[2]:match("_file$") then files[#files + 1] = "--" .. c[1] end
    if c[2]:match("_path$") then dirs[#dirs + 1] = "--" .. c[1] end
  end
  return safe(files), safe(dirs)
end

function M.bash(cli)
  local lines = {}
  local function add(s) lines[#lines + 1] = s end
  add("# bash completion for livepull " .. core.version .. ", printed by `livepull completion bash`.")
  add("# Install: livepull completion bash > ~/.local/share/bash-completion/completions/livepull")
  add("_livepull() {")
  add("  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}")
  add("  if [ \"$COMP_CWORD\" -eq 1 ]; then")
  add(("    COMPREPLY=($(compgen -W %q -- \"$cur\"))"):format(words(safe(cli.ORDER)) .. " completion --help --version"))
  add("    return")
  add("  fi")
  local files, dirs = paths(cli)
  add("  case $prev in")
  if #files > 0 then add(("    %s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;"):format(table.concat(files, "|"))) end
  if #dirs > 0 then add(("    %s) COMPREPLY=($(compgen -d -- \"$cur\")); return ;;"):format(table.concat(dirs, "|"))) end
  add("  esac")
  add("  case ${COMP_WORDS[1]} in")
  add("    completion) COMPREPLY=($(compgen -W bash -- \"$cur\")); return ;;")
  for _, command in ipairs(safe(cli.ORDER)) do
    local action = cli.COMMANDS[command]
    add(("    %s)"):format(command))
    local choices = choices_of(cli, action)
    local names = {}
    for flag in pairs(choices) do names[#names + 1] = flag end
    table.sort(names)
    if #names > 0 then
      add("      case $prev in")
      for _, flag in ipairs(safe(names)) do
        add(("        %s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;"):format(flag, words(safe(choices[flag]))))
      end
      add("      esac")
    end
    add(("      COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;"):format(words(flags_of(cli, command, action))))
  end
  add("  esac")
  add("}")
  add("complete -o default -F _livepull livepull")
  return table.concat(lines, "\n") .. "\n"
end

-- main(cli, argv, io_): `livepull completion bash` -> exit code.
function M.main(cli, argv, io_)
  if argv[2] == "bash" and argv[3] == nil then
    local ok, why = io_.stdout:write(M.bash(cli))
    if ok then ok, why = io_.stdout:flush() end
    if not ok then error("cannot write the output: " .. tostring(why), 0) end   -- exit 1, as the command's writes
    return cli.EXIT.ok
  end
  cli.emit(io_.stderr, cli.usage_error("usage: livepull completion bash (the only shell supported)"))
  return cli.EXIT.usage
end

return M
