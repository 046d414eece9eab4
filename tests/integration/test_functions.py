"""Lua functions on a route (`[route] function`): the shipped example judges
exactly like the built-in rules, a failing function fails only its event,
and SIGHUP reloads the file. Watched with mosquitto_sub."""
import json
import os
import re
import signal
import subprocess
import threading
import time

from conftest import MQTT_CRED, SEED

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
EXAMPLE_FN = os.path.abspath(os.path.join(ROOT, "functions", "gasdetect.lua"))
EXAMPLE_INI = os.path.abspath(os.path.join(ROOT, "gasket.example.ini"))


def watch(d, count, topic="pi/1", wait=4):
    """mosquitto_sub on topic until count messages or `wait` seconds of silence."""
    s = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(d.mqtt_port), "-t",
                          topic, "-q", "1", "-C", str(count), "-W", str(wait), "-v"] + MQTT_CRED,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.4)
    return s


def reading(**gases):
    r = {"groupid": "2", "gps": SEED["gps"]}
    for gas, v in gases.items():
        r[gas] = {"sensorid": "0006", "sensortype": "8", "value": v,
                  "createdtime": "2021-09-03 18:14:49"}
    return r


def example_warn_levels():
    """(gas, warn) of every [rule] in gasket.example.ini, in its order."""
    rules, name = [], None
    for line in open(EXAMPLE_INI):
        m = re.match(r"\[rule (\w+)\]", line)
        if m:
            name = m.group(1)
        m = re.match(r"warn = (\S+)", line)
        if m and name:
            rules.append((name, m.group(1)))
            name = None
    return rules


PAYLOADS = [
    reading(no2="90"), reading(no2="80"), reading(no2=88), reading(co="35", no2="0.1"),
    reading(co="34.9"), reading(c2h5oh="1000.5", h2="4000", nh3="25"),
    reading(ch4=5000, c3h8="999", c4h10="800"), reading(nh3="24.99", ch4="4999"),
    reading(no2="1e3", co="1e3", c2h5oh="1e4", h2="1e5", nh3="1e3", ch4="1e5", c3h8="1e4",
            c4h10="1e4"),
    reading(temperature="99", humidity="100"),
]


def test_example_function_publishes_what_the_rules_publish(daemon_factory):
    levels = example_warn_levels()
    assert [g for g, _ in levels] == ["no2", "co", "c2h5oh", "h2", "nh3", "ch4", "c3h8",
                                      "c4h10"]
    rules = "".join("[rule %s]\nfield = %s.value\nwarn = %s\n" % (g, g, w) for g, w in levels)
    extra = ("[route /gasdetector]\nfunction = %s\n\n"
             "[route /rules]\nindex = ruled\ntopic = pi/2\nalerts = every_reading\n"
             "mqtt_topic = ruled/+\n\n%s" % (EXAMPLE_FN, rules))
    d = daemon_factory(extra=extra)
    d.wait_log("judged by function")
    want = 0
    for p in PAYLOADS:
        want += sum(1 for g, w in levels if g in p and float(p[g]["value"]) >= float(w))
    assert want >= 15
    s = watch(d, 2 * want, topic="pi/+")
    for p in PAYLOADS:
        assert d.post(p)[0] == 200
        assert d.request("POST", "/rules", p)[0] == 200
    out, _ = s.communicate(timeout=30)
    got = {"pi/1": [], "pi/2": []}
    for line in out.splitlines():
        topic, payload = line.split(" ", 1)
        got[topic].append(payload)
    assert len(got["pi/1"]) == want
    assert got["pi/1"] == got["pi/2"]
    assert got["pi/1"][0] == '{"warning":"no2 warning"}'
    # both routes stored every reading, unchanged
    docs = d.docs()
    assert len([x for x in docs if x[1] == "gasdetect"]) == len(PAYLOADS)
    assert d.stop() == 0


FAILING_FN = r'''
local calls = 0
return function(event)
    calls = calls + 1
    local mode = event.mode
    if mode == "loop" then while true do end end
    if mode == "alloc" then local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 1024) .. i end end
    if mode == "bigstring" then local s = string.rep("x", 1 << 30) end
    if mode == "error" then error("boom in " .. event.groupid) end
    if mode == "nilindex" then return event.nothing.value end
    if mode == "exec" then os.execute("touch " .. event.path) end
    if mode == "io" then io.open(event.path, "w") end
    if mode == "pattern" then string.find(string.rep("a", 20000), string.rep("a*", 30) .. "b") end
    if mode == "badresult" then return 42 end
    if mode == "invalid" then event.no2.value = "not a number"; return event end
    if mode == "drop" then return nil end
    if mode == "change" then
        event.no2.value = "99"
        event.calls = calls
        gasket.publish("pi/1", {changed = event.groupid}, 1)
    end
    return event
end
'''

FAILURES = [
    ("loop", "instruction limit"),
    ("alloc", "memory limit"),
    ("bigstring", "memory limit"),
    ("error", "boom in 2"),
    ("nilindex", "attempt to index"),
    ("exec", "execute"),
    ("io", "io is not available"),
    ("pattern", "instruction limit"),
    ("badresult", "table"),
    ("invalid", "no2.value"),
]


def test_a_failing_function_fails_only_its_event(daemon_factory, tmp_path):
    fn = tmp_path / "failing.lua"
    fn.write_text(FAILING_FN)
    marker = tmp_path / "pwned"
    d = daemon_factory(extra="[route /gasdetector]\nfunction = %s\nstatus = true\n\n"
                             "[route /plain]\nindex = plain\n" % fn)
    s = watch(d, len(FAILURES) + 2, wait=6)
    # a second client keeps posting to a route without a function meanwhile
    plain_ok, stop = [], threading.Event()

    def plain_poster():
        while not stop.is_set():
            t0 = time.time()
            st = d.request("POST", "/plain", reading(no2="1"))[0]
            plain_ok.append((st, time.time() - t0))

    th = threading.Thread(target=plain_poster)
    th.start()
    try:
        for mode, reason in FAILURES:
            t0 = time.time()
            st, _, body = d.post(dict(reading(no2="1"), mode=mode, path=str(marker)))
            took = time.time() - t0
            assert st == 500, (mode, st, body)
            msg = json.loads(body)["message"]
            assert msg.startswith("function failed: ") or "invalid document" in msg, msg
            assert reason in msg, (mode, msg)
            assert took < 2, (mode, took)
            # the next event on the same function goes through
            st, _, body = d.post(dict(reading(no2="1"), mode="change"))
            assert st == 200, (mode, body)
    finally:
        stop.set()
        th.join(30)
    assert not marker.exists()
    assert plain_ok and all(st == 200 for st, _ in plain_ok)
    log = d.log_text()
    for mode, reason in FAILURES:
        assert reason in log, (mode, reason)
    out, _ = s.communicate(timeout=30)
    msgs = [json.loads(x.split(" ", 1)[1]) for x in out.splitlines()]
    fails = [m for m in msgs if m.get("msg") == "fail"]
    assert fails and "function failed" in fails[0]["reason"]
    # only the "change" events were stored, as the function returned them
    stored = [json.loads(x[4]) for x in d.docs() if x[1] == "gasdetect"]
    assert len(stored) == len(FAILURES)
    assert all(x["no2"]["value"] == "99" and x["mode"] == "change" for x in stored)
    assert [x["calls"] for x in stored] == list(range(2, 2 * len(FAILURES) + 1, 2))
    assert d.stop() == 0


def test_drop_answers_noop_and_stores_nothing(daemon_factory, tmp_path):
    fn = tmp_path / "f.lua"
    fn.write_text(FAILING_FN)
    d = daemon_factory(extra="[route /gasdetector]\nfunction = %s\n" % fn)
    st, _, body = d.post(dict(reading(no2="1"), mode="drop"))
    assert st == 200 and json.loads(body)["result"] == "noop"
    assert d.docs() == []
    assert d.stop() == 0


def test_mqtt_telemetry_goes_through_the_function(daemon_factory, tmp_path):
    fn = tmp_path / "f.lua"
    fn.write_text(FAILING_FN)
    d = daemon_factory(extra="[route /gasdetector]\nfunction = %s\n" % fn)
    s = watch(d, 1)
    r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(d.mqtt_port), "-q", "1",
                        "-t", "gas/5", "-m", json.dumps(dict(reading(no2="1"), mode="change"))]
                       + MQTT_CRED,
                       capture_output=True, text=True, timeout=15)
    assert r.returncode == 0, r.stderr
    out, _ = s.communicate(timeout=15)
    assert out.split(" ", 1)[1].strip() == '{"changed":"2"}'
    deadline = time.time() + 10
    while not d.docs() and time.time() < deadline:
        time.sleep(0.05)
    assert json.loads(d.docs()[0][4])["no2"]["value"] == "99"
    assert d.stop() == 0


def version_fn(v):
    return 'return function(e) gasket.publish("pi/1", {v = %d}, 1) return e end\n' % v


def test_sighup_reloads_functions(daemon_factory, tmp_path):
    fn = tmp_path / "v.lua"
    fn.write_text(version_fn(1))
    d = daemon_factory(extra="[route /gasdetector]\nfunction = %s\n" % fn)
    s = watch(d, 3)
    assert d.post(reading(no2="1"))[0] == 200
    fn.write_text(version_fn(2))
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log("reloaded")
    assert d.post(reading(no2="1"))[0] == 200
    # a broken file is refused and the loaded function stays
    fn.write_text("return function(e) this is not lua end\n")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log("reload refused")
    assert str(fn) in d.log_text()
    assert d.post(reading(no2="1"))[0] == 200
    out, _ = s.communicate(timeout=15)
    assert [x.split(" ", 1)[1] for x in out.splitlines()] == ['{"v":1}', '{"v":2}', '{"v":2}']
    assert d.stop() == 0


def test_a_broken_function_stops_the_start(daemon_factory, tmp_path):
    fn = tmp_path / "broken.lua"
    fn.write_text("return 42\n")
    d = daemon_factory(extra="[route /gasdetector]\nfunction = %s\n" % fn, start=False)
    try:
        d.start(timeout=5)
        raise AssertionError("gasketd started with a broken function")
    except RuntimeError as e:
        assert "function" in str(e) and "broken.lua" in str(e)


def test_numbers_a_function_returns_are_stored_as_posted(daemon_factory, tmp_path):
    fn = tmp_path / "same.lua"
    fn.write_text("return function(e) return e end\n")
    d = daemon_factory(extra="[route /gasdetector]\nfunction = %s\n" % fn)
    body = '{"groupid":"2","no2":{"value":26.2},"x":0.1,"n":7,"big":1.2345678901234567}'
    assert d.post(body)[0] == 200
    stored = d.docs()[0][4]
    assert stored.startswith(body[:-1] + ',"date":"'), stored
    assert d.stop() == 0


PROTECTED_FN = """
fired = 0
return function(e)
  if e.mode == "attack" then
    -- the shared metatable of gasket.array: with __gc added, every array
    -- made later would run this finalizer outside any budget
    local mt = getmetatable(gasket.array({}))
    e.mt = type(mt)
    if mt then mt.__gc = function() fired = fired + 1 end end
    e.replaced = pcall(setmetatable, gasket.array({}), {__index = {}})
  end
  if e.mode == "arrays" then
    for i = 1, 10 do e["a" .. i] = #gasket.array({i}) end
  end
  if e.mode == "count" then
    collectgarbage()
    collectgarbage()
    e.fired = fired
  end
  return e
end
"""


def test_shared_metatables_cannot_be_changed(daemon_factory, tmp_path):
    """issue 9: a function cannot read or replace gasket.array's metatable
    (adding __gc to it ran code outside the instruction budget)."""
    fn = tmp_path / "protected.lua"
    fn.write_text(PROTECTED_FN)
    d = daemon_factory(extra="[route /gasdetector]\nfunction = %s\n" % fn)
    assert d.post(dict(reading(no2="1"), mode="attack"))[0] == 200
    for _ in range(5):  # events whose function makes arrays
        st, _, body = d.post(dict(reading(no2="1"), mode="arrays"))
        assert st == 200, body
    assert d.post(dict(reading(no2="1"), mode="count"))[0] == 200
    stored = {x["mode"]: x for x in (json.loads(r[4]) for r in d.docs())}
    assert stored["attack"]["mt"] == "boolean"
    assert stored["attack"]["replaced"] is False
    assert stored["count"]["fired"] == 0
    assert d.stop() == 0


def test_client_values_in_the_log_are_escaped(daemon_factory, tmp_path):
    """issue 9: a client value with control characters cannot forge a log line."""
    fn = tmp_path / "logs.lua"
    fn.write_text('return function(e) gasket.log("warn", "group", e.groupid) return e end\n')
    d = daemon_factory(extra="[route /gasdetector]\nfunction = %s\n" % fn)
    forged = "7\n2026-01-01T00:00:00.000Z error forged\x1b[2J\r"
    assert d.post(dict(reading(no2="1"), groupid=forged))[0] == 200
    log = d.wait_log("group 7")
    assert "group 7\\n2026-01-01T00:00:00.000Z error forged\\x1b[2J\\r\n" in log, log
    assert not any(line.startswith("2026-01-01T00:00:00.000Z error forged")
                   for line in log.splitlines())
    assert "\x1b" not in log
    assert d.stop() == 0
