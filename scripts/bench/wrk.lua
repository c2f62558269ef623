-- The wrk script of `npm run bench` for the 4 KiB workloads (scripts/bench/load.ts runs it).
-- Everything comes from the environment:
--   BENCH_METHOD    GET or PUT
--   BENCH_AUTH      the Authorization header value
--   BENCH_PATH      one path every request asks for, or
--   BENCH_PATHS     a pattern with one %d and BENCH_COUNT: requests cycle over paths 0..COUNT-1
--   BENCH_BODY      PUT body size in bytes (the body is that many "b" characters)
-- When the run ends, done() writes one JSON line with the counts and latencies.

local method = os.getenv("BENCH_METHOD") or "GET"
local auth = os.getenv("BENCH_AUTH") or ""
local pattern = os.getenv("BENCH_PATHS")
local count = tonumber(os.getenv("BENCH_COUNT") or "1")
local size = tonumber(os.getenv("BENCH_BODY") or "0")

wrk.method = method
wrk.path = os.getenv("BENCH_PATH") or wrk.path
if auth ~= "" then wrk.headers["Authorization"] = auth end
if size > 0 then
  wrk.headers["Content-Type"] = "application/octet-stream"
  wrk.body = string.rep("b", size)
end

if pattern then
  -- Build every request once per thread; request() then only hands the next one out.
  local prepared = {}
  local next_index = 0
  function init(args)
    for k = 0, count - 1 do
      prepared[#prepared + 1] = wrk.format(nil, string.format(pattern, k))
    end
  end
  function request()
    next_index = next_index % #prepared + 1
    return prepared[next_index]
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect + errors.read + errors.write + errors.status + errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
