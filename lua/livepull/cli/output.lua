-- The command's one way to print: each value is one JSON line on stdout or
-- stderr, written by cli/json with the answers' array fields and passed
-- through the secret scrubber, so no path can print a secret or turn an
-- empty array into an object.
local json = require "livepull.cli.json"
local redact = require "livepull.cli.redact"

local M = {}

-- The list-valued fields of the family's answers (api-notes 2.2, the
-- emulator): DescribeLivePullToPush's TaskInfo.SourceUrls,
-- DescribeLivePullToPushList's TaskList and each entry's TaskInfo.SourceUrls.
-- lua-cjson 2.1 decodes [] and {} alike; under these keys an empty table is
-- written as []. A non-empty list is an array by its shape anywhere.
M.ARRAY_FIELDS = { TaskList = true, SourceUrls = true }

-- The fields of an error that the command shows.
local ERROR_FIELDS = { "kind", "code", "message", "field", "status", "request_id", "host_id", "recommend",
  "ret_code", "curl_code", "retryable", "attempts" }

-- True for the error the standalone interpreter raises on Ctrl-C (SIGINT).
function M.is_interrupt(e)
  return type(e) == "string" and e:match("interrupted!$") ~= nil
end

-- A Lua error (a string, or anything else) as the command's error object:
-- the first line only, never a traceback.
function M.internal_error(e)
  local ok, text = pcall(tostring, e)
  text = ok and type(text) == "string" and text or "an error that cannot be shown"
  return { kind = "internal", code = M.is_interrupt(e) and "Interrupted" or "InternalError",
           message = text:match("^[^\n]*") }
end

function M.error_table(err)
  if type(err) ~= "table" then return M.internal_error(err) end
  local out = {}
  for _, k in ipairs(ERROR_FIELDS) do out[k] = rawget(err, k) end
  return out
end

local Writer = {}
Writer.__index = Writer

-- new(io_) -> writer; io_ = { stdout, stderr }.
function M.new(io_)
  return setmetatable({ io = io_, scrubber = redact.new() }, Writer)
end

-- Remembers a secret the output must never show.
function Writer:secret(value) self.scrubber:add(value) end

function Writer:encode(value)
  return json.encode(value, { arrays = M.ARRAY_FIELDS, filter = self.scrubber.filter })
end

-- A line that cannot be written (a full disk, a closed file) raises: the
-- command then fails as a whole (exit 1) rather than exit 0 with no output.
function Writer:line(stream, value)
  local ok, why = stream:write(self:encode(value), "\n")
  if ok then ok, why = stream:flush() end
  if not ok then error("cannot write the output: " .. tostring(why), 0) end
end

function Writer:result(value) self:line(self.io.stdout, value) end
function Writer:error(err) self:line(self.io.stderr, M.error_table(err)) end

-- A one-line notice on stderr that is not an error (the exit code is not changed).
function Writer:warning(code, message)
  self:line(self.io.stderr, { kind = "warning", code = code, message = message })
end

return M
