"""Live readings for the dashboard (issue 10, [http] live_topic): every
reading gasketd stores is published, as stored, to live_topic/<groupid>
(default gasket/live), after its commit; clients cannot write there. Real
gasketd, paho clients, http.client."""
import json
import subprocess
import time

from conftest import GASKETD, KEY, SEED, Daemon, base_ini
from test_mqtt import Paho


def reading(group, **gases):
    doc = dict(SEED, groupid=group)
    for name, value in gases.items():
        doc[name] = dict(SEED["no2"], value=value)
    return json.dumps(doc)


def watcher(d, flt="gasket/live/#"):
    w = Paho(d, "live-watch", user="itest", password=KEY)
    assert w.rc == 0
    w.c.subscribe(flt, 0)
    time.sleep(0.3)
    return w


def test_stored_readings_are_published_as_stored(daemon_factory):
    d = daemon_factory()
    w = watcher(d)
    status, _, data = d.request("POST", "/gasdetector", reading("7", no2="95.5"))
    assert status == 200, data
    status, _, _ = d.request("POST", "/gasdetector", '{"groupid":"8","no2":{"value":"x"}}')
    assert status == 400  # refused: nothing goes live
    # a reading sent over MQTT by a principal of the route goes live too
    dev = Paho(d, "dev-9", user="itest", password=KEY)
    dev.c.publish("gas/9", reading("9"), qos=1).wait_for_publish()
    got = w.wait(2)
    time.sleep(0.5)
    w.stop(), dev.stop()
    assert [t for t, _, _, _ in w.msgs] == ["gasket/live/7", "gasket/live/9"]
    stored = {row[3]: json.loads(row[4]) for row in d.docs()}  # groupid: source
    for topic, payload, _, _ in got:
        live = json.loads(payload)
        assert live == stored[topic.rsplit("/", 1)[1]]  # the document as stored, date included
        assert "date" in live
    assert d.stop() == 0


def test_clients_cannot_write_live_topics(daemon_factory):
    d = daemon_factory(extra="[mqtt]\nallow_anonymous = true\n")
    w = watcher(d)
    for user in ("itest", None):  # a principal (even one with every route) or anonymous
        r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(d.mqtt_port), "-V",
                            "mqttv5", "-d", "-q", "1", "-t", "gasket/live/7", "-m", "{}"] +
                           (["-u", user, "-P", KEY] if user else []),
                           capture_output=True, text=True, timeout=15)
        assert "RC:135" in r.stdout, r  # PUBACK "not authorized"
    time.sleep(0.5)
    w.stop()
    assert w.msgs == []
    assert d.stop() == 0


def test_groupids_that_are_not_one_level_are_stored_not_published(daemon_factory):
    d = daemon_factory()
    w = watcher(d)
    for group in ("a/b", "+", "#"):
        status, _, data = d.request("POST", "/gasdetector", reading(group))
        assert status == 200, data
    status, _, _ = d.request("POST", "/gasdetector", reading("ok"))
    assert status == 200
    w.wait(1)
    time.sleep(0.5)
    w.stop()
    assert [t for t, _, _, _ in w.msgs] == ["gasket/live/ok"]
    assert len(d.docs()) == 4
    assert d.stop() == 0


def test_live_topic_off_and_a_clash_with_telemetry_refused(daemon_factory, tmp_path):
    d = daemon_factory(extra="[http]\nlive_topic =\n")
    w = watcher(d, "#")
    assert d.request("POST", "/gasdetector", reading("7"))[0] == 200
    time.sleep(0.5)
    w.stop()
    assert [t for t, _, _, _ in w.msgs if t.startswith("gasket/")] == []
    assert d.stop() == 0
    # live_topic = gas would reserve gas/<groupid>, where devices send readings
    bad = Daemon(tmp_path, base_ini(tmp_path, "[http]\nlive_topic = gas\n"), "clash")
    bad.conf.write_text(bad.ini)
    r = subprocess.run([GASKETD, "-c", str(bad.conf)], capture_output=True, text=True,
                       timeout=30, cwd=tmp_path)
    assert r.returncode != 0
    assert "live_topic 'gas'" in r.stderr and "mqtt_topic gas/+" in r.stderr, r.stderr
