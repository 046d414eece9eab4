-- gasdetect.lua: the original Lambda (gasdetector_api_py) as a gasket function.
--
-- Used by a route with `function = functions/gasdetect.lua`. A function file
-- is a Lua 5.4 chunk that returns the handler; gasket calls handler(event)
-- once per accepted reading:
--
--   event    the reading's JSON document as a table: objects are tables,
--            arrays are sequences, JSON null is gasket.null ("value" stays a
--            string when the device sent "90.5": use tonumber).
--   return   the document to store (the event, changed or not), or nil to
--            drop the reading. gasket adds `date` itself when it stores.
--
--   gasket.publish(topic, payload [, qos])  payload: a string as is, or a
--            table sent as compact JSON with sorted keys; qos defaults to 1
--   gasket.log(level, ...)                  "error", "warn", "info", "debug"
--   gasket.now()                            epoch milliseconds
--
-- The sandbox has string, table, math, utf8, coroutine and os.time/date/clock;
-- no io, no os.execute, no require. Each call has an instruction and a memory
-- budget; an error or an exhausted budget fails that reading, not the daemon.
--
-- This one does what the Lambda did: for every measurement at or over its
-- level, publish {"warning":"<gas> warning"} to pi/1 at QoS 1 (the same
-- messages as the [rule] sections of gasket.example.ini with
-- `alerts = every_reading`), then store the event unchanged.

local TOPIC = "pi/1"

-- gas, warn level (ppm): gasket.example.ini's [rule] sections, in its order
local LEVELS = {
    {"no2", 88},
    {"co", 35},
    {"c2h5oh", 1000},
    {"h2", 4000},
    {"nh3", 25},
    {"ch4", 5000},
    {"c3h8", 1000},
    {"c4h10", 800},
}

return function(event)
    for _, rule in ipairs(LEVELS) do
        local gas, level = rule[1], rule[2]
        local m = event[gas]
        local value = type(m) == "table" and tonumber(m.value)
        if value and value >= level then
            gasket.publish(TOPIC, {warning = gas .. " warning"}, 1)
        end
    end
    return event
end
