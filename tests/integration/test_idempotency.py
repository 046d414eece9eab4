"""Idempotency keys (docs/api.md, "Idempotency keys"): a document sent again
with the same key by the same principal is stored once and answered as the
first was, across restarts and kill -9; another principal's key is its own;
a key reused for another body is refused (422); keys in flight at once
store one document; _bulk's idempotency_key and MQTT 5's user property do
the same; old keys are swept; a gasket.db of schema 3 (made by the gasketd
before keys existed) is upgraded in place."""
import json
import shutil
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from conftest import ADMIN, KEY, SEED
from test_rules import NO2_RULE, watch

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "store-v3.db"
OTHER = "itest-other-0123456789abcdef"
OTHER_INI = "\n[apikey other]\nkey = %s\nroutes = /gasdetector\nrate = 1000\nburst = 1000\n" % OTHER


def reading(v="0.12"):
    doc = json.loads(json.dumps(SEED))
    doc["no2"]["value"] = v
    return json.dumps(doc)


def post_key(d, key, body=None, api_key=KEY, path="/gasdetector"):
    st, h, b = d.request("POST", path, body or reading(), headers={"Idempotency-Key": key},
                         key=api_key)
    return st, b


def count(d):
    return len(d.docs())


def fixed_port(d):
    """The config of d with the ports it got, so that a restart keeps them."""
    return d.ini.replace("127.0.0.1:0\n\n[mqtt]", "127.0.0.1:%d\n\n[mqtt]" % d.port, 1)


def test_same_key_stored_once(daemon_factory):
    d = daemon_factory(OTHER_INI)
    st1, b1 = post_key(d, "pi-7:1")
    st2, b2 = post_key(d, "pi-7:1")
    assert (st1, st2) == (200, 200)
    assert b1 == b2 and json.loads(b1)["result"] == "created"  # the first's answer, byte for byte
    st3, b3 = post_key(d, "pi-7:1", api_key=OTHER)  # another principal: its own key
    assert st3 == 200 and json.loads(b3)["_id"] != json.loads(b1)["_id"]
    st4, b4 = post_key(d, "pi-7:2")
    assert st4 == 200 and json.loads(b4)["_seq_no"] == json.loads(b3)["_seq_no"] + 1
    assert count(d) == 3
    st, _, m = d.request("GET", "/metrics")
    assert b"gasket_readings_duplicate_total 1\n" in m
    # the same key with another body: refused, nothing stored
    st, b = post_key(d, "pi-7:1", body=reading("0.5"))
    assert st == 422, b
    assert json.loads(b)["field"] == "Idempotency-Key"
    assert count(d) == 3
    # a quoted key (structured-field string) is the same key
    st, b = post_key(d, '"pi-7:2"')
    assert (st, b) == (200, b4)
    assert d.stop() == 0


def test_duplicate_not_judged_again(daemon_factory):
    d = daemon_factory("[route /gasdetector]\nalerts = every_reading\n" + NO2_RULE)
    s = watch(d, 3, wait=3)
    time.sleep(0.4)
    for key in ("w-1", "w-1", "w-1", "w-2"):
        assert post_key(d, key, body=reading("90"))[0] == 200
    out, _ = s.communicate(timeout=15)
    assert out.splitlines() == ['{"warning":"no2 warning"}'] * 2  # one per key
    assert d.stop() == 0


def test_bad_keys_refused(gasketd):
    for key in ["", "x" * 201, "caf\u00e9".encode().decode("latin-1"), 'a"b', "a\\b"]:
        st, b = post_key(gasketd, key)
        assert st == 400, (key, b)
        assert json.loads(b)["field"] == "Idempotency-Key"
    assert post_key(gasketd, "x" * 200)[0] == 200
    assert count(gasketd) == 1


def test_dedup_survives_restart_and_kill9(daemon_factory):
    d = daemon_factory()
    ini = fixed_port(d)
    _, first = post_key(d, "k-restart")
    assert d.stop() == 0
    d.write_conf(ini)
    d.start()
    assert post_key(d, "k-restart") == (200, first)  # read back into memory at start
    _, second = post_key(d, "k-kill")
    d.kill9()
    d.start()
    assert post_key(d, "k-kill") == (200, second)
    # forget the memory's copy: keys an hour old are looked up in gasket.db only
    d.stop()
    c = sqlite3.connect(str(d.data / "gasket.db"))
    c.execute("update idem set at = at - 3600000")
    c.commit()
    c.close()
    d.start()
    assert post_key(d, "k-restart") == (200, first)
    assert post_key(d, "k-kill") == (200, second)
    assert count(d) == 2
    assert d.stop() == 0


def test_concurrent_duplicates_store_one(gasketd):
    results = []

    def send():
        results.append(post_key(gasketd, "same-time"))

    threads = [threading.Thread(target=send) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16 and {r for r in results} == {results[0]}
    assert results[0][0] == 200
    assert count(gasketd) == 1


def test_bulk_items_with_keys(gasketd):
    def bulk(lines):
        return gasketd.request("POST", "/_bulk", "".join(lines),
                               headers={"Content-Type": "application/x-ndjson"})

    line = '{"create":{"_index":"gasdetect","idempotency_key":"%s"}}\n%s\n'
    st, _, b = bulk([line % ("b1", reading()), line % ("b2", reading()), line % ("b1", reading())])
    assert st == 200, b
    items = [i["create"] for i in json.loads(b)["items"]]
    assert [i["status"] for i in items] == [201, 201, 201]
    assert items[2]["_id"] == items[0]["_id"] and items[1]["_id"] != items[0]["_id"]
    assert count(gasketd) == 2
    # a route POST with the key of a _bulk item: the same document
    st, b = post_key(gasketd, "b2")
    assert st == 200 and json.loads(b)["_id"] == items[1]["_id"]
    # another body under a used key: that item alone is refused
    st, _, b = bulk([line % ("b1", reading("3.0")), line % ("b3", reading())])
    items = [i["create"] for i in json.loads(b)["items"]]
    assert [i["status"] for i in items] == [422, 201]
    assert count(gasketd) == 3
    st, _, b = bulk(['{"create":{"_index":"gasdetect","idempotency_key":7}}\n{}\n'])
    assert st == 400 and b"idempotency_key" in b


def test_mqtt_user_property(gasketd):
    def pub(key, body):
        return subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(gasketd.mqtt_port), "-V", "mqttv5",
             "-q", "1", "-t", "gas/2", "-m", body, "-u", "itest", "-P", KEY,
             "-D", "publish", "user-property", "idempotency-key", key],
            capture_output=True, text=True, timeout=15)

    for _ in range(3):
        assert pub("m-1", reading()).returncode == 0
    assert pub("m-2", reading()).returncode == 0
    assert count(gasketd) == 2
    # the HTTP route with the MQTT key: one principal, one key space
    st, b = post_key(gasketd, "m-1")
    assert st == 200 and json.loads(b)["_id"] == str(gasketd.docs()[0][0])
    assert count(gasketd) == 2


def test_window_sweeps_old_keys(daemon_factory):
    d = daemon_factory()
    ini = d.ini.replace("[server]\n", "[server]\nidempotency_window = 2s\n", 1)
    d.stop()
    d.write_conf(ini)
    d.start()
    _, first = post_key(d, "short")
    deadline = time.time() + 10
    while time.time() < deadline:
        with d.db() as c:
            if c.execute("select count(*) from idem").fetchone()[0] == 0:
                break
        time.sleep(0.2)
    d.wait_log("idempotency keys: swept 1")
    # swept from the table; the memory of recent keys still answers for 10 min
    assert post_key(d, "short") == (200, first)
    assert d.stop() == 0


def test_store_v3_upgraded(daemon_factory, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(FIXTURE, data / "gasket.db")
    d = daemon_factory()
    d.wait_log("upgrading schema 3 to 7")
    assert (data / "gasket.db.schema3.bak").exists()
    docs = d.docs()
    assert [r[0] for r in docs] == [1, 2, 3, 4, 5]
    assert [r[1] for r in docs] == ["gasdetect"] * 3 + ["other"] * 2
    st, _, b = d.request("POST", "/gasdetect/_search", {"query": {"term": {"groupid": "7"}}},
                         key=ADMIN)
    assert st == 200 and json.loads(b)["hits"]["total"]["value"] == 1
    st, b = post_key(d, "after-upgrade")
    assert st == 200 and json.loads(b)["_id"] == "6" and json.loads(b)["_seq_no"] == 3
    assert post_key(d, "after-upgrade") == (200, b)
    with d.db() as c:
        assert c.execute("pragma user_version").fetchone()[0] == 7
    assert d.stop() == 0
