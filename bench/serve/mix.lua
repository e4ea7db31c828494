-- mix.lua - wrk script for the soak: a 1 KiB echo (native), an add (wasm), and one guest
-- fault in every 100 requests; counts the answers by status in the thread's own table.
-- Usage: wrk -s mix.lua http://127.0.0.1:PORT
local echo = '["' .. string.rep("x", 1024) .. '"]'
local reqs, n = {}, 0
local threads = {}
counts = {} -- a global: done() reads each thread's copy with thread:get()

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	local h = {["Content-Type"] = "application/json"}
	reqs[1] = wrk.format("POST", "/v1/simpleguest/Echo", h, echo)
	reqs[2] = wrk.format("POST", "/v1/bench/add", h, "[40,2]")
	reqs[3] = wrk.format("POST", "/v1/simpleguest/NullDeref", h, "[]")
end

function request()
	n = n + 1
	if n % 100 == 0 then return reqs[3] end
	return reqs[1 + n % 2]
end

function response(status, headers, body)
	counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
	local total = {}
	for _, t in ipairs(threads) do
		for s, c in pairs(t:get("counts")) do total[s] = (total[s] or 0) + c end
	end
	local parts = {}
	for s, c in pairs(total) do table.insert(parts, s .. "=" .. c) end
	table.sort(parts)
	local e = summary.errors
	io.write(string.format("RESULT requests=%d rps=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f " ..
		"socket_errors=%d statuses %s\n", summary.requests,
		summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1e3,
		latency:percentile(99) / 1e3, latency:percentile(99.9) / 1e3,
		e.connect + e.read + e.write + e.timeout, table.concat(parts, " ")))
end
