"""The seed's Lambda, judged by gasketd: threshold warnings on pi/1 (QoS 1),
status messages and emergencies, watched with mosquitto_sub."""
import gzip
import json
import subprocess
import time

from conftest import KEY, MQTT_CRED, SEED

NO2_RULE = "[rule no2]\nfield = no2.value\nwarn = 88\n"


def watch(d, count, topic="pi/1", wait=4):
    """mosquitto_sub on topic until count messages or `wait` seconds of silence."""
    return subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(d.mqtt_port), "-t",
                             topic, "-q", "1", "-C", str(count), "-W", str(wait)] + MQTT_CRED,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def reading(no2, **extra):
    r = dict(SEED, no2=dict(SEED["no2"], value="%g" % no2))
    r.update(extra)
    return r


def test_seed_parity_every_reading(daemon_factory):
    d = daemon_factory(extra="[route /gasdetector]\nalerts = every_reading\n" + NO2_RULE)
    s = watch(d, 3)
    time.sleep(0.4)
    for v in (90, 80, 90, 88):
        assert d.post(reading(v))[0] == 200
    out, _ = s.communicate(timeout=15)
    # one warning per reading at or over 88, nothing for 80, exactly the seed's bytes
    assert out.splitlines() == ['{"warning":"no2 warning"}'] * 3
    assert d.stop() == 0


def test_nothing_below_the_level(daemon_factory):
    d = daemon_factory(extra="[route /gasdetector]\nalerts = every_reading\n" + NO2_RULE)
    s = watch(d, 1, wait=2)
    time.sleep(0.4)
    assert d.post(reading(80))[0] == 200
    out, _ = s.communicate(timeout=15)
    assert out == ""
    assert d.stop() == 0


def test_on_change_raises_once_and_clears(daemon_factory):
    d = daemon_factory(extra=NO2_RULE + "clear = 80\n")
    s = watch(d, 2)
    time.sleep(0.4)
    for v in (90, 95, 85, 79):  # raise, hold, hold (hysteresis), clear
        assert d.post(reading(v))[0] == 200
    out, _ = s.communicate(timeout=15)
    assert out.splitlines() == ['{"warning":"no2 warning"}', '{"clear":"no2 clear"}']
    assert d.stop() == 0


def test_status_messages_and_emergency(daemon_factory):
    d = daemon_factory(extra="[route /gasdetector]\nstatus = true\n")
    s = watch(d, 3)
    time.sleep(0.4)
    assert d.post(reading(1))[0] == 200
    assert d.post(b'{"groupid":"2","no2":{"value":"abc"}}')[0] == 400
    assert d.post(reading(1, emergency="fire"))[0] == 200
    out, _ = s.communicate(timeout=15)
    lines = [json.loads(x) for x in out.splitlines()]
    assert lines[0] == {"msg": "success"}
    assert lines[1]["msg"] == "fail" and "number" in lines[1]["reason"]
    # the emergency goes out at once, before the reading's own status
    assert lines[2] == {"emergency": "emergency"}
    assert d.stop() == 0


def test_offline_after_silence(daemon_factory):
    d = daemon_factory(extra="[route /gasdetector]\noffline_after = 1s\n")
    s = watch(d, 2, wait=6)
    time.sleep(0.4)
    assert d.post(reading(1))[0] == 200
    time.sleep(2.5)
    assert d.post(reading(1))[0] == 200
    out, _ = s.communicate(timeout=15)
    assert out.splitlines() == ['{"offline":"2"}', '{"online":"2"}']
    assert d.stop() == 0


def test_example_config_runs_and_warns(daemon_factory, tmp_path):
    import os
    import re
    example = open(os.path.join(os.path.dirname(__file__), "..", "..",
                                "gasket.example.ini")).read()
    example = example.replace("data_dir = ./data", "data_dir = %s" % (tmp_path / "data"))
    example = re.sub(r"(?m)^listen = 0\.0\.0\.0:\d+$", "listen = 127.0.0.1:0", example)
    d = daemon_factory(ini=example + "\n[apikey itest]\nkey = itest-key-0123456789abcdef\n")
    s = watch(d, 3)
    time.sleep(0.4)
    assert d.post(reading(90))[0] == 200
    assert d.post(dict(reading(1), co=dict(SEED["co"], value="250")))[0] == 200
    out, _ = s.communicate(timeout=15)
    lines = out.splitlines()
    assert lines[0] == '{"warning":"no2 warning"}'
    assert sorted(lines[1:]) == ['{"alarm":"co alarm"}', '{"clear":"no2 clear"}']
    assert d.stop() == 0


def test_mqtt_telemetry_is_stored_and_judged(daemon_factory):
    d = daemon_factory(extra="[route /gasdetector]\nalerts = every_reading\n" + NO2_RULE)
    s = watch(d, 1)
    time.sleep(0.4)
    body = json.dumps(reading(90, groupid="5"))
    # QoS 1: mosquitto_pub returns once the PUBACK came, which is after the commit
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(d.mqtt_port), "-t", "gas/5",
                    "-q", "1", "-m", body] + MQTT_CRED, check=True, timeout=15)
    docs = d.docs()
    assert len(docs) == 1 and docs[0][3] == "5"
    stored = json.loads(docs[0][4])
    assert stored["no2"]["value"] == "90" and "date" in stored
    out, _ = s.communicate(timeout=15)
    assert out.splitlines() == ['{"warning":"no2 warning"}']
    # an invalid reading is refused (5.0: PUBACK 0x99) and nothing is stored
    r = subprocess.run(["mosquitto_pub", "-V", "mqttv5", "-h", "127.0.0.1", "-p",
                        str(d.mqtt_port), "-t", "gas/5", "-q", "1", "-m", '{"groupid":"5",'
                        '"no2":{"value":"abc"}}', "-d"] + MQTT_CRED, capture_output=True,
                       text=True, timeout=15)
    assert "received PUBACK (Mid: 1, RC:153)" in r.stdout  # 0x99 payload format invalid
    assert len(d.docs()) == 1
    # other topics are ordinary messages
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(d.mqtt_port), "-t",
                    "other/5", "-q", "1", "-m", "not a reading"] + MQTT_CRED, check=True,
                   timeout=15)
    assert len(d.docs()) == 1
    assert d.stop() == 0


def test_active_alarm_survives_a_restart(daemon_factory):
    d = daemon_factory(extra=NO2_RULE)
    s = watch(d, 1, wait=3)
    time.sleep(0.4)
    assert d.post(reading(90))[0] == 200
    out, _ = s.communicate(timeout=15)
    assert out.splitlines() == ['{"warning":"no2 warning"}']
    assert d.stop() == 0
    d.start()
    d.wait_log("alarms: restored 2 of 2 state(s)")  # the alarm and its group
    s = watch(d, 1, wait=4)
    time.sleep(0.4)
    assert d.post(reading(95))[0] == 200  # still active: no second warning
    assert d.post(reading(70))[0] == 200  # cleared
    out, _ = s.communicate(timeout=15)
    assert out.splitlines() == ['{"clear":"no2 clear"}']
    assert d.stop() == 0


def test_alarm_history_and_ack(daemon_factory):
    d = daemon_factory(extra=NO2_RULE + "clear = 80\n")
    assert d.post(reading(90))[0] == 200
    assert d.post(reading(97))[0] == 200
    assert d.request("GET", "/alarms", key=None)[0] == 401  # no credential at all
    assert d.request("GET", "/alarms", key="not-a-key-at-all-xxxxxxxx")[0] == 403
    status, _, body = d.request("GET", "/alarms?active=true")
    assert status == 200, body
    alarms = json.loads(body)["alarms"]
    assert len(alarms) == 1
    a = alarms[0]
    assert (a["group"], a["rule"], a["severity"], a["state"], a["value"]) == \
        ("2", "no2", "warning", "active", 90)
    status, _, body = d.request("POST", "/alarms/%d/ack" % a["id"])
    assert status == 200 and json.loads(body)["acknowledged"] is True
    assert d.request("POST", "/alarms/%d/ack" % a["id"])[0] == 409
    assert d.request("POST", "/alarms/99999/ack")[0] == 404
    assert d.post(reading(70))[0] == 200
    status, _, body = d.request("GET", "/alarms?group=2")
    a = json.loads(body)["alarms"][0]
    assert a["state"] == "cleared" and a["acked_by"] == "itest" and a["cleared"]
    assert a["peak"] == 97  # the peak is written when the alarm changes or clears
    assert json.loads(d.request("GET", "/alarms?active=true")[2])["alarms"] == []
    assert d.request("GET", "/alarms?bogus=1")[0] == 400
    # a listing of 1 KiB or more goes gzipped to a client that takes it
    for v in (95, 70, 96, 70, 97, 70):
        assert d.post(reading(v))[0] == 200
    status, h, plain = d.request("GET", "/alarms")
    assert status == 200 and len(plain) >= 1024 and "content-encoding" not in h
    status, h, body = d.request("GET", "/alarms", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and h["content-encoding"] == "gzip" and h["vary"] == "Accept-Encoding"
    assert json.loads(gzip.decompress(body)) == json.loads(plain)
    assert d.stop() == 0


def test_kill9_loses_no_acknowledged_mqtt_reading(daemon_factory):
    import os
    import random
    import threading
    import paho.mqtt.client as mqtt
    d = daemon_factory()
    acked, lock = {}, threading.Lock()
    c = mqtt.Client(client_id="telemetry-crash")
    c.username_pw_set("itest", KEY)
    c.on_publish = lambda cl, u, mid: acked.__setitem__(mid, sent.get(mid))
    sent = {}
    c.connect("127.0.0.1", d.mqtt_port, 30)
    c.loop_start()
    stop = time.time() + random.Random(os.getpid()).uniform(0.5, 2.0)
    n = 0
    while time.time() < stop:
        gid = "m%d" % n
        info = c.publish("gas/" + gid, json.dumps(reading(1, groupid=gid)), qos=1)
        with lock:
            sent[info.mid] = gid
        n += 1
        if n % 200 == 0:
            time.sleep(0.01)
    d.kill9()
    c.loop_stop()
    snapshot = [g for g in acked.values() if g]
    assert len(snapshot) > 10, "too few PUBACKs before the kill: %d" % len(snapshot)
    d.start()
    stored = {row[3] for row in d.docs()}
    missing = [g for g in snapshot if g not in stored]
    assert not missing, "acknowledged but lost: %r" % missing[:5]
    assert d.stop() == 0


KEY_A = "alarms-key-a-0123456789abcdef"
KEY_B = "alarms-key-b-0123456789abcdef"
KEY_ADMIN = "alarms-key-admin-0123456789ab"


def test_alarms_are_scoped_to_the_keys_routes(daemon_factory):
    """issue 9: a key sees and acknowledges only the alarms of its routes;
    another route's alarm is 404 to it; an admin key sees all of them."""
    extra = ("[route /a]\nindex = ia\n[route /b]\nindex = ib\n"
             "[apikey a]\nkey = %s\nroutes = /a\n"
             "[apikey b]\nkey = %s\nroutes = /b\n"
             "[apikey boss]\nkey = %s\nadmin = true\n" % (KEY_A, KEY_B, KEY_ADMIN) + NO2_RULE)
    d = daemon_factory(extra=extra)
    assert d.request("POST", "/a", reading(90, groupid="1"), key=KEY_A)[0] == 200
    assert d.request("POST", "/b", reading(95, groupid="2"), key=KEY_B)[0] == 200

    def listed(key, query=""):
        status, _, body = d.request("GET", "/alarms" + query, key=key)
        assert status == 200, body
        doc = json.loads(body)
        return [(a["route"], a["group"]) for a in doc["alarms"]], doc["total"]

    assert listed(KEY_A) == ([("/a", "1")], 1)
    assert listed(KEY_B) == ([("/b", "2")], 1)
    assert listed(KEY_B, "?group=1") == ([], 0)
    assert listed(KEY_ADMIN) == ([("/b", "2"), ("/a", "1")], 2)
    ids = {r: i for r, i in ((a["route"], a["id"]) for a in
                             json.loads(d.request("GET", "/alarms", key=KEY_ADMIN)[2])["alarms"])}
    # acknowledging another route's alarm: as if it did not exist
    status, _, body = d.request("POST", "/alarms/%d/ack" % ids["/b"], key=KEY_A)
    assert status == 404, body
    status, _, body = d.request("POST", "/alarms/%d/ack" % ids["/a"], key=KEY_A)
    assert status == 200, body
    assert d.request("POST", "/alarms/%d/ack" % ids["/a"], key=KEY_B)[0] == 404
    assert d.request("POST", "/alarms/%d/ack" % ids["/a"], key=KEY_A)[0] == 409
    status, _, body = d.request("POST", "/alarms/%d/ack" % ids["/b"], key=KEY_ADMIN)
    assert status == 200, body
    acked = {a["route"]: a["acked_by"] for a in
             json.loads(d.request("GET", "/alarms", key=KEY_ADMIN)[2])["alarms"]}
    assert acked == {"/a": "a", "/b": "boss"}
    assert d.stop() == 0


def test_alarm_history_answers_while_events_stream(daemon_factory):
    """issue 9: alarm events are committed off the loop in groups; every
    raise and clear of a burst is in the history and GET /alarms answers."""
    d = daemon_factory(extra=NO2_RULE)
    for i in range(40):
        assert d.post(reading(95 if (i // 4) % 2 == 0 else 10, groupid=str(i % 4)))[0] == 200
    status, _, body = d.request("GET", "/alarms?limit=1000")
    assert status == 200, body
    doc = json.loads(body)
    assert doc["total"] == 20
    assert all(a["state"] == "cleared" for a in doc["alarms"])
    assert d.stop() == 0
    # alarms.json is written at stop, by the history's thread
    assert json.loads((d.data / "alarms.json").read_text()) is not None
