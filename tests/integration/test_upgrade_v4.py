"""Upgrades in place (issue 12): a whole data directory written by the gasketd
of 4a48ee1 (store schema 4, mqtt.db schema 1, alarms.db; made by
tests/fixtures/make-datadir-v4.py) is opened by this gasketd with every
document, measurement, alarm and retained message intact. Only content is
checked, through the HTTP API and MQTT, never a schema: the test holds
across any migration of the store."""
import json
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from conftest import GASKETD
from raw_json import raw_sources

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "datadir-v4.expected.json").read_text())


def upgraded(daemon_factory, tmp_path):
    """gasketd started on a copy of the fixture (0700/0600, as gasketd makes
    a data directory) with the configuration that made it."""
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "datadir-v4", data)
    os.chmod(data, 0o700)
    for f in data.iterdir():
        os.chmod(f, 0o600)
    ini = (FIXTURES / "datadir-v4.ini").read_text().replace("DATA_DIR", str(data))
    d = daemon_factory(ini=ini)
    d.key = (data / "apikey").read_text().strip()
    return d


def call(d, method, path, body=None, headers=None, want=200):
    st, _, b = d.request(method, path, body, headers=headers, key=d.key)
    assert st == want, (path, st, b)
    return b.decode()


def mqtt_sub(d, *args):
    """mosquitto_sub logged in with the fixture's default key: its lines."""
    return subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(d.mqtt_port), "-u", "default",
                           "-P", d.key, "-q", "1", "-W", "10"] + list(args),
                          check=True, timeout=20, capture_output=True, text=True).stdout.splitlines()


def measurement_stats(index, gas):
    """{groupid: (doc_count, avg, max)} of gas, computed from the expected _sources."""
    groups = {}
    for doc in EXPECTED["docs"]:
        if doc["_index"] != index:
            continue
        src = json.loads(doc["_source"])
        g = groups.setdefault(str(src["groupid"]), [0, []])
        g[0] += 1
        if isinstance(src.get(gas), dict):
            g[1].append(float(src[gas]["value"]))
    return {k: (n, sum(v) / len(v), max(v)) for k, (n, v) in groups.items() if v}


def check_documents(d):
    """Every document of the fixture, _source byte for byte, the counts, and
    its measurements (per group of each gas, avg and max)."""
    for index, count in EXPECTED["count"].items():
        body = call(d, "POST", "/%s/_search" % index, {"size": 1000, "query": {"match_all": {}}})
        hits = json.loads(body)["hits"]
        assert hits["total"]["value"] == count
        got = sorted(({"_index": h["_index"], "_id": h["_id"], "_source": raw}
                      for h, raw in zip(hits["hits"], raw_sources(body))),
                     key=lambda x: int(x["_id"]))
        assert got == [x for x in EXPECTED["docs"] if x["_index"] == index]
        assert json.loads(call(d, "GET", "/%s/_count" % index))["count"] == count
    # the measurements: per group of each gas, avg and max
    for gas in ("no2", "co"):
        body = call(d, "POST", "/gasdetect/_search", {"size": 0, "aggs": {"g": {
            "terms": {"field": "groupid", "size": 100},
            "aggs": {"avg": {"avg": {"field": gas + ".value"}},
                     "max": {"max": {"field": gas + ".value"}}}}}})
        buckets = json.loads(body)["aggregations"]["g"]["buckets"]
        got = {b["key"]: (b["doc_count"], b["avg"]["value"], b["max"]["value"]) for b in buckets}
        want = measurement_stats("gasdetect", gas)
        assert got.keys() == want.keys() and len(want) == 3
        for k, (n, avg, mx) in want.items():
            assert got[k] == (n, pytest.approx(avg, rel=1e-12), mx), (gas, k)


def test_datadir_v4_opens_intact(daemon_factory, tmp_path):
    d = upgraded(daemon_factory, tmp_path)
    check_documents(d)
    # the alarms, acknowledged one included
    assert json.loads(call(d, "GET", "/alarms")) == EXPECTED["alarms"]
    # retained messages to a new subscriber; the persistent session's queued message
    assert sorted(mqtt_sub(d, "-t", "site/#", "-F", "%r %q %t %p", "-C", "2")) == EXPECTED["retained"]
    q = EXPECTED["queued"]
    assert mqtt_sub(d, "-c", "-i", q["client_id"], "-t", q["filter"], "-v", "-C", "1") == [q["message"]]
    # new documents continue each index's _seq_no and the ids
    last = EXPECTED["last"]
    top = max(int(x["_id"]) for x in EXPECTED["docs"])
    r = json.loads(call(d, "POST", "/gasdetector", {"groupid": "7", "no2": {"value": 10}}))
    assert (r["_id"], r["_seq_no"]) == (str(top + 1), last["gasdetect"]["_seq_no"] + 1)
    # the rules kept their state: group 7's active no2 alarm is cleared, no new one
    alarms = json.loads(call(d, "GET", "/alarms"))
    assert alarms["total"] == EXPECTED["alarms"]["total"]
    assert [(a["group"], a["rule"], a["state"]) for a in alarms["alarms"]] == [
        (a["group"], a["rule"], "cleared" if a["group"] == "7" else a["state"])
        for a in EXPECTED["alarms"]["alarms"]]
    r = json.loads(call(d, "POST", "/other/_doc", {"groupid": "9", "temperature": {"value": 21}}, want=201))
    assert (r["_id"], r["_seq_no"]) == (str(top + 2), last["other"]["_seq_no"] + 1)
    assert d.stop() == 0


def test_datadir_v4_idempotency_key_kept(daemon_factory, tmp_path):
    # the fixture runs with idempotency_window = 365d, the longest there is
    if time.time() - EXPECTED["made_at"] > 364 * 86400:
        pytest.skip("the fixture's idempotency keys are past the longest window: remake it")
    d = upgraded(daemon_factory, tmp_path)
    idem = EXPECTED["idempotent"]
    body = call(d, "POST", "/gasdetector", idem["body"], headers={"Idempotency-Key": idem["key"]})
    r = json.loads(body)
    assert (r["_id"], r["_seq_no"], r["result"]) == (
        idem["reply"]["_id"], idem["reply"]["_seq_no"], "created")
    assert json.loads(call(d, "GET", "/gasdetect/_count"))["count"] == EXPECTED["count"]["gasdetect"]
    assert d.stop() == 0


def test_kill9_during_the_upgrade_loses_nothing(daemon_factory, tmp_path):
    """gasketd killed while it copies and upgrades the fixture (made large
    enough that the copy takes ~0.3 s: 120,000 more documents in an index of
    their own, written as schema 4 holds them): the next start upgrades it
    again and nothing is lost."""
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "datadir-v4", data)
    os.chmod(data, 0o700)
    for f in data.iterdir():
        os.chmod(f, 0o600)
    n = 120000
    with sqlite3.connect(data / "gasket.db") as c:
        assert c.execute("pragma user_version").fetchone()[0] == 4
        ts = [1700000000000 + 10 * i for i in range(n)]
        c.executemany("INSERT INTO docs(idx, seq, ts, groupid, source) VALUES('filler', ?, ?, 'f', ?)",
                      ((i, t, '{"groupid":"f","pad":"%s"}' % ("x" * 800)) for i, t in enumerate(ts)))
        c.execute("INSERT INTO indices VALUES('filler', ?)", (n,))
        c.execute("INSERT INTO groups VALUES('filler', 'f')")
        for table, unit in (("rollup_1m", 60000), ("rollup_1h", 3600000)):  # document counts
            counts = {}
            for t in ts:
                counts[t - t % unit] = counts.get(t - t % unit, 0) + 1
            c.executemany("INSERT INTO %s(idx, grp, name, t, n) VALUES('filler', 'f',"
                          " CAST(x'ff' AS TEXT), ?, ?)" % table, counts.items())
    ini = (FIXTURES / "datadir-v4.ini").read_text().replace("DATA_DIR", str(data))
    d = daemon_factory(ini=ini, start=False)
    d.conf.write_text(d.ini)
    log = open(d.log, "ab")
    p = subprocess.Popen([GASKETD, "-c", str(d.conf)], stdout=log, stderr=log,
                         cwd=d.dir)
    try:
        deadline = time.time() + 30
        while "copying it to" not in d.log.read_text() and time.time() < deadline:
            time.sleep(0.005)
        assert "copying it to" in d.log.read_text()
    finally:
        p.kill()
        p.wait(10)
        log.close()
    d.start()
    d.key = (data / "apikey").read_text().strip()
    assert "upgrading schema 4 to 6" in d.log_text()  # again, from the start
    check_documents(d)
    assert json.loads(call(d, "GET", "/filler/_count"))["count"] == n
    assert d.stop() == 0
