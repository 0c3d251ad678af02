-- The command's input rules, in one place for flags, --params and --batch
-- lines: a JSON document must be an object; a JSON null is refused naming
-- the field; for integer fields (and time fields given as Unix time) a
-- string that is an exact decimal integer is that integer, since flags are
-- strings and templating (Jinja) writes every value as a string. The Lua
-- API stays strict: the conversion happens here, by the core's field types.
local cjson = require "cjson.safe"
local core = require "livepull.core"

local M = {}

-- A private decoder that refuses what JSON does not allow (NaN, Infinity, 0x10).
local decoder = cjson.new()
decoder.decode_invalid_numbers(false)

local BOM = "\239\187\191"

-- "3", "-2", "0" -> that integer; anything else ("3.0", " 3", "0x3", "1e2",
-- "+3", "03", "-0") -> nil.
function M.decimal_integer(s)
  if type(s) ~= "string" or not (s == "0" or s:match("^%-?[1-9]%d*$")) then return nil end
  local n = tonumber(s)
  return math.tointeger and math.tointeger(n) or n
end

local TYPE_WORDS = {
  string = "a string",
  integer = "an integer",
  time = "a string YYYY-MM-DDTHH:MM:SSZ or an integer Unix time",
  list = "a list of strings",
}

local JSON_TYPES = { ["{"] = "an object", ["["] = "an array", ['"'] = "a string", t = "true", f = "false", n = "null" }

local function invalid(field, message)
  return { kind = "validation", code = "InvalidParameter", field = field, message = message }
end

local function excerpt(s)
  return #s > 40 and s:sub(1, 40) .. "..." or s
end

local fields_cache = {}
local function fields_of(action)
  local map = fields_cache[action]
  if not map then
    map = {}
    for _, f in ipairs(core.fields(action)) do map[f.name] = f end
    fields_cache[action] = map
  end
  return map
end

local function value_of(f, v)
  if v == cjson.null then
    return nil, invalid(f.name, ("%s must be %s (got null)"):format(f.name, TYPE_WORDS[f.type] or "a " .. f.type))
  end
  if type(v) == "string" and (f.type == "integer" or f.type == "time") then
    local n = M.decimal_integer(v)
    if n then return n end
    if f.type == "integer" then
      return nil, invalid(f.name, ("%s must be an integer: decimal digits with an optional leading minus, " ..
        "such as 3 or -1 (got \"%s\")"):format(f.name, excerpt(v)))
    end
  end
  if f.type == "list" and type(v) == "table" then
    for k, item in next, v do
      if item == cjson.null then
        return nil, invalid(f.name, ("%s[%s] must be a string (got null)"):format(f.name, tostring(k)))
      end
    end
  end
  return v
end

-- convert(action, params) -> a new parameter table, or nil, validation
-- error. Names that are not parameters pass unchanged: the core names them.
function M.convert(action, params)
  local fields, out = fields_of(action), {}
  for name, v in next, params do
    local f = fields[name]
    if f then
      local err
      v, err = value_of(f, v)
      if err then return nil, err end
    end
    out[name] = v
  end
  return out
end

-- decode_object(text) -> table, or nil, a message saying what is wrong.
-- The first character decides the kind of a JSON document, so an array is
-- told from an object even when both decode to an empty table.
function M.decode_object(text)
  if text:sub(1, 3) == BOM then text = text:sub(4) end
  local first = text:match("^[ \t\r\n]*(.)")
  if first ~= "{" then
    local got = not first and "nothing" or JSON_TYPES[first] or first:match("[%-%d]") and "a number"
    return nil, "must be a JSON object (got " .. (got or "text that is not JSON") .. ")"
  end
  local doc, why = decoder.decode(text)
  if type(doc) ~= "table" then return nil, "is not valid JSON: " .. tostring(why) end
  return doc
end

-- A batch line as read: a UTF-8 BOM on line 1 and the "\r" of a CRLF line
-- end are dropped.
function M.clean_line(line, n)
  if n == 1 and line:sub(1, 3) == BOM then line = line:sub(4) end
  if line:sub(-1) == "\r" then line = line:sub(1, -2) end
  return line
end

return M
