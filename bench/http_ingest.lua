-- wrk script for bench/http_ingest.sh: POSTs one gas reading per request.
--
--   wrk ... http://127.0.0.1:PORT/gasdetector -s bench/http_ingest.lua -- json KEY [GROUPS]
--   wrk ... 'http://127.0.0.1:PORT/write?db=gas' -s bench/http_ingest.lua -- line [GROUPS]
--
-- json: the device's JSON reading with its x-api-key header (gasketd, nginx).
-- line: the same reading as one line of InfluxDB line protocol (influxd).
-- GROUPS (1): with 1, every request is the same reading of groupid "2" (a
-- fixed request: wrk does not call Lua per request); with N > 1, request i
-- carries groupid "1" .. "N" in turn (i mod N + 1), as N devices would.
--
-- done() prints one machine-readable line, after wrk's own report:
--   BENCH requests=N ok=N duration_us=N rps=F p50_us=N p99_us=N
--         non2xx=N connect=N read=N write=N timeout=N
-- ok = responses with a 2xx/3xx status (wrk counts status > 399 as errors.status).
-- Defines no response() on purpose: that would make wrk hand every reply to Lua
-- and slow the (single-threaded) client down.

local function json_body(group)
    return '{"groupid":"' .. group .. '","gps":"37.61002501514269, 126.99636868892937",'
        .. '"co":{"sensorid":"0005","sensortype":"8","value":"26.20","createdtime":"2021-09-03 18:14:49"},'
        .. '"no2":{"sensorid":"0006","sensortype":"8","value":"0.12","createdtime":"2021-09-03 18:14:49"},'
        .. '"c2h5oh":{"sensorid":"0007","sensortype":"8","value":"3.5","createdtime":"2021-09-03 18:14:49"},'
        .. '"h2":{"sensorid":"0008","sensortype":"8","value":"7.75","createdtime":"2021-09-03 18:14:49"}}'
end

local function line_body(group)
    return "gasdetect,groupid=" .. group .. " co=26.2,no2=0.12,c2h5oh=3.5,h2=7.75"
end

-- Runs in each thread before wrk builds the (fixed) request from wrk.*; with
-- GROUPS > 1 it defines request(), which wrk then calls for every request.
function init(args)
    local mode = args[1] or "json"
    local groups, make
    wrk.method = "POST"
    if mode == "line" then
        groups = args[2]
        make = line_body
        wrk.headers["Content-Type"] = "text/plain; charset=utf-8"
    elseif mode == "json" then
        groups = args[3]
        make = json_body
        wrk.headers["Content-Type"] = "application/json"
        wrk.headers["x-api-key"] = args[2] or os.getenv("BENCH_API_KEY") or ""
    else
        error("http_ingest.lua: mode must be json or line, not " .. tostring(mode))
    end
    local n = tonumber(groups or "1")
    if not n or n < 1 or n ~= math.floor(n) then
        error("http_ingest.lua: GROUPS must be a positive integer, not " .. tostring(groups))
    end
    if n == 1 then
        wrk.body = make("2")
        return
    end
    local reqs = {}
    for g = 1, n do
        reqs[g] = wrk.format(nil, nil, nil, make(tostring(g)))
    end
    local i = 0
    request = function()
        i = i % n + 1
        return reqs[i]
    end
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
