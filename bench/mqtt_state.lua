-- wrk script for bench/mqtt_state.sh: POSTs one gas reading per request,
-- cycling through 64 groupids (so the rules see 64 groups).
--
--   wrk ... http://127.0.0.1:PORT/gasdetector -s bench/mqtt_state.lua -- KEY
--
-- done() prints, after wrk's report:
--   BENCH requests=N ok=N rps=F p50_us=N p99_us=N p999_us=N max_us=N errors=N

local GROUPS = 64
local reqs, n = {}, 0

function init(args)
    local key = args[1] or ""
    for g = 1, GROUPS do
        local body = '{"groupid":"g' .. g .. '","gps":"37.61002501514269, 126.99636868892937",'
            .. '"co":{"sensorid":"0005","sensortype":"8","value":"26.20","createdtime":"2021-09-03 18:14:49"},'
            .. '"no2":{"sensorid":"0006","sensortype":"8","value":"0.12","createdtime":"2021-09-03 18:14:49"}}'
        reqs[g] = wrk.format("POST", "/gasdetector",
            {["Content-Type"] = "application/json", ["x-api-key"] = key}, body)
    end
end

function request()
    n = n % GROUPS + 1
    return reqs[n]
end

function done(summary, latency, requests)
    local e = summary.errors
    local secs = summary.duration / 1e6
    io.write(string.format(
        "BENCH requests=%d ok=%d rps=%.2f p50_us=%d p99_us=%d p999_us=%d max_us=%d errors=%d\n",
        summary.requests, summary.requests - e.status, secs > 0 and summary.requests / secs or 0,
        latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
        e.status + e.connect + e.read + e.write + e.timeout))
end
