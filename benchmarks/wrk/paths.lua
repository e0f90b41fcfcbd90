-- GET a list of paths round-robin, each with its own headers (cookie or bearer token).
-- File format, one request per line: <path>\t<header>: <value>[\t<header>: <value>...]
-- Arguments: <file> [max_requests_per_thread]
-- Prints one JSON line at the end: {"wrk_summary": {...}} read by benchmarks/load.py.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function split(s, sep)
  local out = {}
  for piece in string.gmatch(s, "([^" .. sep .. "]+)") do
    table.insert(out, piece)
  end
  return out
end

function init(args)
  local file = args[1]
  max_requests = tonumber(args[2] or "0") or 0
  reqs = {}
  for line in io.lines(file) do
    local parts = split(line, "\t")
    local headers = {}
    for i = 2, #parts do
      local name, value = string.match(parts[i], "^([^:]+):%s*(.*)$")
      headers[name] = value
    end
    table.insert(reqs, wrk.format("GET", parts[1], headers))
  end
  -- Threads start at different offsets so they do not ask for the same row in lockstep.
  idx = (tid * 7919) % #reqs
  sent = 0
  status_5xx = 0
  status_other = 0
end

function request()
  sent = sent + 1
  if max_requests > 0 and sent > max_requests then
    wrk.thread:stop()
  end
  idx = idx % #reqs + 1
  return reqs[idx]
end

function response(status, headers, body)
  if status >= 500 then
    status_5xx = status_5xx + 1
  elseif status ~= 200 and status ~= 204 then
    status_other = status_other + 1
  end
end

function done(summary, latency, requests)
  local s5, so = 0, 0
  for _, t in ipairs(threads) do
    s5 = s5 + t:get("status_5xx")
    so = so + t:get("status_other")
  end
  io.write(string.format(
    '{"wrk_summary": {"requests": %d, "duration_us": %d, "status_5xx": %d, "status_other": %d, '
      .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, '
      .. '"p50_us": %d, "p99_us": %d}}\n',
    summary.requests, summary.duration, s5, so,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
