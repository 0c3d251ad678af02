-- The plain-Lua snippet nginx_plain_spec runs inside nginx (content,
-- set_by_lua, log_by_lua) and natively in busted: one update through a
-- client of `livepull` (its raise caught by pcall) or `livepull.safe`, and
-- what came of it as plain data (the result, or the error's fields, whether
-- it was raised, and the on_attempt events).
return function(livepull, opts)
  local events = {}
  local config = {
    endpoint = opts.endpoint, access_key_id = opts.key_id, access_key_secret = opts.secret, timeout = 5, max_attempts = tonumber(opts.attempts) or 1,
    retry_base_delay = 0.05, rate_limit = 0, force_libcurl = opts.force_libcurl == "1" or nil,
    on_attempt = function(ev) events[#events + 1] = ev end,
  }
  local client = opts.client or livepull.new(config)
  local params = { TaskId = opts.task or "fd245384-4067-4f91-9d75-9666a6bc0000", Region = "cn-shanghai" }
  local ok, res, err = pcall(client.update, client, params)
  local raised = not ok
  if raised then res, err = nil, res end
  if not opts.client then client:close() end
  local out = { raised = raised, events = events }
  if res then
    out.result = res
  else
    out.error = { is_error = livepull.is_error(err), kind = err.kind, code = err.code, status = err.status,
                  attempts = err.attempts, retryable = err.retryable, request_id = err.request_id ~= nil }
  end
  return out
end
