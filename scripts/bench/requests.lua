-- wrk (or wrk2) request script for scripts/bench/wrk: sends each request of a prepared file
-- once. Arguments (after `--`): FILE HEADER CONTENT_TYPE PATH THREADS.
-- FILE has one request a line, `header value<TAB>body`; thread k of THREADS takes lines
-- k, k+THREADS, … so no two threads send the same request. A thread that runs out sends
-- `GET /__bench_exhausted` (a 404, counted) rather than repeat a request.
-- done() prints one line the script reads:
--   RESULT requests=N s2xx=N s4xx=N s5xx=N other=N exhausted=N p50_ms=X p99_ms=X p999_ms=X max_ms=X
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file, header, ctype, path, nthreads = args[1], args[2], args[3], args[4], tonumber(args[5])
  reqs = {}
  local n = 0
  for line in io.lines(file) do
    if n % nthreads == id then
      local tab = line:find("\t", 1, true)
      local headers = { ["Content-Type"] = ctype }
      headers[header] = line:sub(1, tab - 1)
      reqs[#reqs + 1] = wrk.format("POST", path, headers, line:sub(tab + 1))
    end
    n = n + 1
  end
  nxt = 0
  s2xx, s4xx, s5xx, other, exhausted = 0, 0, 0, 0, 0
end

function request()
  nxt = nxt + 1
  if nxt > #reqs then
    exhausted = exhausted + 1
    return wrk.format("GET", "/__bench_exhausted")
  end
  return reqs[nxt]
end

function response(status, headers, body)
  if status >= 200 and status < 300 then s2xx = s2xx + 1
  elseif status >= 400 and status < 500 then s4xx = s4xx + 1
  elseif status >= 500 then s5xx = s5xx + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local t = { s2xx = 0, s4xx = 0, s5xx = 0, other = 0, exhausted = 0 }
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (thread:get(k) or 0) end
  end
  io.write(string.format(
    "RESULT requests=%d s2xx=%d s4xx=%d s5xx=%d other=%d exhausted=%d sock_errors=%d p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
    summary.requests, t.s2xx, t.s4xx, t.s5xx, t.other, t.exhausted,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000))
end
