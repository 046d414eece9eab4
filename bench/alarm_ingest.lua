-- wrk script for bench/alarm_ingest.sh: POSTs one gas reading per request,
-- rotating over 50 groups ("1" .. "50").
--
--   wrk ... http://127.0.0.1:PORT/gasdetector -s bench/alarm_ingest.lua -- MODE KEY
--
-- MODE cross: each group's no2 alternates between 95 (at or over the rule's
--             warn level 88: an alarm is raised) and 10 (below its clear level
--             88: the alarm is cleared), so every request raises or clears one.
-- MODE calm:  the same requests with no2 alternating between 20 and 10: no
--             level is ever crossed.
-- done() prints the BENCH line of bench/http_ingest.lua.

local GROUPS = 50
local mode, key
local n = 0

local function body(group, no2)
    return '{"groupid":"' .. group .. '","gps":"37.61002501514269, 126.99636868892937",'
        .. '"co":{"sensorid":"0005","sensortype":"8","value":"26.20","createdtime":"2021-09-03 18:14:49"},'
        .. '"no2":{"sensorid":"0006","sensortype":"8","value":"' .. no2 .. '","createdtime":"2021-09-03 18:14:49"},'
        .. '"c2h5oh":{"sensorid":"0007","sensortype":"8","value":"3.5","createdtime":"2021-09-03 18:14:49"},'
        .. '"h2":{"sensorid":"0008","sensortype":"8","value":"7.75","createdtime":"2021-09-03 18:14:49"}}'
end

-- Every body built once: [phase][group].
local bodies = {}

function init(args)
    mode = args[1] or "cross"
    key = args[2] or ""
    if mode ~= "cross" and mode ~= "calm" then
        error("alarm_ingest.lua: mode must be cross or calm, not " .. tostring(mode))
    end
    local high = mode == "cross" and "95" or "20"
    bodies[0], bodies[1] = {}, {}
    for g = 1, GROUPS do
        bodies[0][g] = body(tostring(g), high)
        bodies[1][g] = body(tostring(g), "10")
    end
end

function request()
    local g = n % GROUPS + 1
    local phase = math.floor(n / GROUPS) % 2
    n = n + 1
    return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["x-api-key"] = key},
                      bodies[phase][g])
end

function done(summary, latency, requests)
    local e = summary.errors
    local secs = summary.duration / 1e6
    io.write(string.format(
        "BENCH requests=%d ok=%d duration_us=%d rps=%.2f p50_us=%d p99_us=%d " ..
        "non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
        summary.requests, summary.requests - e.status, summary.duration,
        secs > 0 and summary.requests / secs or 0,
        latency:percentile(50), latency:percentile(99),
        e.status, e.connect, e.read, e.write, e.timeout))
end
