-- POST pre-signed Stripe events, each body once (or round-robin with wrap=1, for replays).
-- File format, one event per line: <Stripe-Signature header>\t<JSON body>
-- Arguments: <file> <path> <wrap: 0|1> <expect: substring of a counted answer> <max per thread>
--            <number of threads> (each thread's init runs before the next thread exists)
-- Threads take disjoint slices of the file, so without wrap every event is sent once.
-- Prints one JSON line at the end: {"wrk_summary": {...}} read by benchmarks/load.py.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file, path = args[1], args[2]
  wrap = args[3] == "1"
  expect = args[4] or ""
  max_requests = tonumber(args[5] or "0") or 0
  sent = 0
  local nthreads = tonumber(args[6])
  reqs = {}
  local n = 0
  for line in io.lines(file) do
    if n % nthreads == tid then
      local tab = string.find(line, "\t", 1, true)
      local signature = string.sub(line, 1, tab - 1)
      local body = string.sub(line, tab + 1)
      table.insert(reqs, wrk.format("POST", path, {
        ["Content-Type"] = "application/json",
        ["Stripe-Signature"] = signature,
        ["User-Agent"] = "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
      }, body))
    end
    n = n + 1
  end
  idx = 0
  exhausted = 0
  counted = 0
  status_5xx = 0
  status_other = 0
end

function request()
  sent = sent + 1
  if max_requests > 0 and sent > max_requests then
    wrk.thread:stop()
  end
  idx = idx + 1
  if idx > #reqs then
    if wrap then
      idx = 1
    else
      -- Out of distinct events: stop this thread and say so (the run is then invalid).
      exhausted = 1
      wrk.thread:stop()
      idx = #reqs
    end
  end
  return reqs[idx]
end

function response(status, headers, body)
  if status >= 500 then
    status_5xx = status_5xx + 1
  elseif status ~= 200 then
    status_other = status_other + 1
  elseif expect == "" or string.find(body, expect, 1, true) then
    counted = counted + 1
  end
end

function done(summary, latency, requests)
  local s5, so, c, ex = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    s5 = s5 + t:get("status_5xx")
    so = so + t:get("status_other")
    c = c + t:get("counted")
    ex = ex + t:get("exhausted")
  end
  io.write(string.format(
    '{"wrk_summary": {"requests": %d, "duration_us": %d, "status_5xx": %d, "status_other": %d, '
      .. '"counted": %d, "exhausted_threads": %d, '
      .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, '
      .. '"p50_us": %d, "p99_us": %d}}\n',
    summary.requests, summary.duration, s5, so, c, ex,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
