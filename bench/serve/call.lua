-- call.lua - wrk script for `hyperlight serve`: POSTs one JSON body to the URL and prints
-- requests/s, p50/p99/p99.9 latency and every kind of error in one machine-readable line.
-- Usage: wrk -s call.lua URL -- 'JSON_BODY'
function init(args)
	wrk.method = "POST"
	wrk.body = args[1] or "[]"
	wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"RESULT requests=%d seconds=%.3f rps=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f " ..
		"errors=%d (connect %d, read %d, write %d, timeout %d, non-2xx %d)\n",
		summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
		latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency:percentile(99.9) / 1e3,
		e.connect + e.read + e.write + e.timeout + e.status,
		e.connect, e.read, e.write, e.timeout, e.status))
end
