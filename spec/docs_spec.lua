-- The docs against the code, so they cannot drift: every option of
-- core.options(), every parameter of core.fields() (with its required flag)
-- and every flag of the command's help is documented, and the docs list
-- nothing the code does not have.
local core = require "livepull.core"
local H = require "helpers"

local read = H.read_file

-- The text of a "## title" section, up to the next "## " heading.
local function section(text, title)
  local start = text:find("\n## " .. title .. "\n", 1, true)
  assert(start, "no section '## " .. title .. "'")
  local body = text:sub(start + #title + 5)
  local stop = body:find("\n## ", 1, true)
  return stop and body:sub(1, stop) or body
end

-- Table rows of a section as lists of cells (header and rule rows dropped).
local function rows(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do
    if line:sub(1, 1) == "|" and not line:find("^|%-") then
      local cells = {}
      for cell in line:sub(2):gmatch("([^|]*)|") do cells[#cells + 1] = cell end
      out[#out + 1] = cells
    end
  end
  table.remove(out, 1)   -- the header row
  return out
end

local function backticked(cell)
  local names = {}
  for name in cell:gmatch("`([%w_]+)`") do names[#names + 1] = name end
  return names
end

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local function keys_sorted(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local API = read("docs/api.md")

describe("docs", function()
  it("docs/api.md lists exactly the options of core.options(), with their defaults", function()
    local documented = {}
    for _, cells in ipairs(rows(section(API, "Options of `livepull.new`"))) do
      for _, name in ipairs(backticked(cells[1])) do documented[name] = cells[2] end
    end
    local declared = {}
    for _, o in ipairs(core.options()) do
      declared[o.name] = true
      local default = documented[o.name]
      assert.is_not_nil(default, "option " .. o.name .. " is not in docs/api.md")
      if o.env then
        assert.truthy(default:find(o.env, 1, true), o.name .. ": docs must name " .. o.env)
      elseif type(o.default) == "number" then
        assert.truthy(default:find(("`%s`"):format(("%.15g"):format(o.default)), 1, true),
          o.name .. ": docs must give the default " .. o.default)
      elseif type(o.default) == "string" then
        assert.truthy(default:find(o.default, 1, true), o.name .. ": docs must give the default " .. o.default)
      end
    end
    for _, name in ipairs(keys_sorted(documented)) do
      assert.is_true(declared[name] == true, "docs/api.md documents " .. name .. ", which is not an option")
    end
  end)

  -- { action = { name = required } } as docs/api.md states it.
  local function documented_operations()
    local ops = {}
    local update = {}
    for _, cells in ipairs(rows(section(API, "Parameters of `update` (`UpdateLivePullToPush`)"))) do
      local required = cells[2]:match("^%s*required") ~= nil
      for _, name in ipairs(backticked(cells[1])) do update[name] = required end
    end
    ops.UpdateLivePullToPush = update
    for _, cells in ipairs(rows(section(API, "The rest of the family"))) do
      local params = {}
      for _, name in ipairs(backticked(cells[2])) do params[name] = true end
      for _, name in ipairs(backticked(cells[3])) do params[name] = false end
      for action in cells[1]:gmatch("%u%a+LivePullToPush%a*") do ops[action] = params end
    end
    return ops
  end

  it("docs/api.md lists every operation's parameters and which are required, as core.fields() has them", function()
    local ops = documented_operations()
    local actions = {}
    for _, op in ipairs(core.operations()) do actions[op.action] = op.method end
    for action in pairs(actions) do
      local documented = ops[action]
      assert.is_not_nil(documented, action .. " is not in docs/api.md")
      local declared = {}
      for _, f in ipairs(core.fields(action)) do
        declared[f.name] = true
        assert.is_not_nil(documented[f.name], ("%s.%s is not in docs/api.md"):format(action, f.name))
        assert.are.equal(f.required, documented[f.name], ("%s.%s: required is %s in the code"):format(
          action, f.name, tostring(f.required)))
      end
      for _, name in ipairs(keys_sorted(documented)) do
        assert.is_true(declared[name] == true, ("docs/api.md lists %s for %s, which does not take it"):format(name, action))
      end
    end
    for action in pairs(ops) do assert.is_not_nil(actions[action], action .. " in docs/api.md is not an operation") end
  end)

  it("docs/api.md names every choice of a parameter", function()
    for _, op in ipairs(core.operations()) do
      for _, f in ipairs(core.fields(op.action)) do
        for _, choice in ipairs(f.choices or {}) do
          assert.truthy(API:find("`" .. choice .. "`", 1, true), ("%s.%s: choice %s"):format(op.action, f.name, choice))
        end
      end
    end
  end)

  it("docs/command.md names every flag the command's help lists", function()
    local doc = read("docs/command.md")
    local seen = 0
    local commands = { {} }
    for _, op in ipairs(core.operations()) do commands[#commands + 1] = { op.method, "--help" } end
    for _, argv in ipairs(commands) do
      for flag in H.cli_help(argv):gmatch("\n%s+(%-%-[%w-]+)") do
        seen = seen + 1
        assert.truthy(doc:find(flag:gsub("%-", "%%-") .. "%f[^%w-]"), flag .. " is not in docs/command.md")
      end
    end
    assert.is_true(seen > 30, "the help lists the flags")
  end)

  it("the README links every docs page", function()
    local readme = read("README.md")
    local p = assert(io.popen("ls docs"))
    for name in p:lines() do
      if name:match("%.md$") then
        assert.truthy(readme:find("(docs/" .. name .. ")", 1, true), name .. " is not linked from README.md")
      end
    end
    p:close()
  end)
end)
