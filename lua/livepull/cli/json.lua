-- JSON text for the command's output, from any Lua value, never raising:
-- lua-cjson cannot write infinities and cannot tell an empty array from an
-- empty object, so the command writes its own JSON.
--
-- Rules (the README's command section repeats them):
-- - a table is an array when its keys are exactly 1..n (n >= 1), or when it
--   is empty and sits under a key the caller names as array-valued or was
--   marked with M.array(t);
--   otherwise an object with sorted keys (number keys written as numbers,
--   keys of other types left out);
-- - inf, -inf and nan are written as null;
-- - bytes that are not UTF-8 become U+FFFD; control characters are escaped;
-- - a value JSON has no word for (a function, a userdata other than
--   cjson.null, a table met again inside itself, anything deeper than
--   MAX_DEPTH) is written as null;
-- - every string, keys included, passes through the caller's filter (the
--   secret scrubber) before it is escaped.
local M = {}

M.MAX_DEPTH = 1000   -- as deep as lua-cjson decodes

-- M.array(t) -> t, marked as a list: written [] even when empty.
local ARRAY_MT = {}
function M.array(t) return setmetatable(t or {}, ARRAY_MT) end

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
local function escape_char(c) return ESCAPES[c] or ("\\u%04x"):format(c:byte()) end

local REPLACEMENT = "\239\191\189"   -- U+FFFD

-- Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong
-- forms, no surrogates, nothing above U+10FFFF), or nil.
local function sequence_length(s, i)
  local c = s:byte(i)
  local len, lo, hi
  if c < 0x80 then return 1
  elseif c >= 0xC2 and c <= 0xDF then len = 2
  elseif c == 0xE0 then len, lo = 3, 0xA0
  elseif c == 0xED then len, hi = 3, 0x9F
  elseif c >= 0xE1 and c <= 0xEF then len = 3
  elseif c == 0xF0 then len, lo = 4, 0x90
  elseif c == 0xF4 then len, hi = 4, 0x8F
  elseif c >= 0xF1 and c <= 0xF3 then len = 4
  else return nil end
  for k = 1, len - 1 do
    local b = s:byte(i + k)
    if not b or b < (k == 1 and lo or 0x80) or b > (k == 1 and hi or 0xBF) then return nil end
  end
  return len
end

local function well_formed(s)
  if not s:find("[\128-\255]") then return s end
  local parts, i, start, n = {}, 1, 1, #s
  while i <= n do
    local len = sequence_length(s, i)
    if len then
      i = i + len
    else
      parts[#parts + 1] = s:sub(start, i - 1)
      parts[#parts + 1] = REPLACEMENT
      i = i + 1
      start = i
    end
  end
  parts[#parts + 1] = s:sub(start)
  return table.concat(parts)
end

local function quote(s, filter)
  if filter then s = filter(s) end
  return '"' .. well_formed(s):gsub('[%c"\\]', escape_char) .. '"'
end

local function is_integral(v)
  return (math.type and math.type(v) == "integer") or (v == math.floor(v) and v >= -2 ^ 53 and v <= 2 ^ 53)
end

-- The shortest text that reads back as the same number; null when JSON has
-- no such number.
local function number(v)
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  if is_integral(v) then return ("%d"):format(v) end
  for digits = 15, 17 do
    local text = ("%." .. digits .. "g"):format(v)
    if tonumber(text) == v then return text end
  end
  return ("%.17g"):format(v)
end

-- n when t's keys are exactly 1..n, else nil.
local function sequence_size(t)
  local count, max = 0, 0
  for k in next, t do
    if type(k) ~= "number" or k < 1 or k ~= math.floor(k) then return nil end
    count = count + 1
    if k > max then max = k end
  end
  return count == max and count or nil
end

local function key_text(k)
  if type(k) == "string" then return k end
  if type(k) == "number" and k == k and k ~= math.huge and k ~= -math.huge then return number(k) end
  return nil
end

local write   -- forward

local function write_table(t, is_array_key, ctx, depth, out)
  local n = sequence_size(t)
  if n == 0 and (is_array_key or getmetatable(t) == ARRAY_MT) then out[#out + 1] = "[]"; return end
  ctx.open[t] = true
  if n and n > 0 then
    out[#out + 1] = "["
    for i = 1, n do
      if i > 1 then out[#out + 1] = "," end
      write(rawget(t, i), false, ctx, depth + 1, out)
    end
    out[#out + 1] = "]"
  else
    local keys, texts = {}, {}
    for k in next, t do
      local text = key_text(k)
      if text then keys[#keys + 1] = k; texts[k] = text end
    end
    table.sort(keys, function(a, b) return texts[a] < texts[b] end)
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = quote(texts[k], ctx.filter)
      out[#out + 1] = ":"
      write(rawget(t, k), type(k) == "string" and ctx.arrays[k] or false, ctx, depth + 1, out)
    end
    out[#out + 1] = "}"
  end
  ctx.open[t] = nil
end

function write(v, is_array_key, ctx, depth, out)
  local t = type(v)
  if t == "string" then out[#out + 1] = quote(v, ctx.filter)
  elseif t == "number" then out[#out + 1] = number(v)
  elseif t == "boolean" then out[#out + 1] = v and "true" or "false"
  elseif t == "table" and not ctx.open[v] and depth < M.MAX_DEPTH then write_table(v, is_array_key, ctx, depth, out)
  else out[#out + 1] = "null" end
end

-- encode(value [, opts]) -> text. opts.arrays: { [key] = true } for keys
-- whose empty table is an empty array; opts.filter: string -> string.
function M.encode(value, opts)
  opts = opts or {}
  local out = {}
  write(value, false, { arrays = opts.arrays or {}, filter = opts.filter, open = {} }, 0, out)
  return table.concat(out)
end

return M
