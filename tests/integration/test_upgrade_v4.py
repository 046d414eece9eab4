"""Upgrades in place (issue 12): a whole data directory written by the gasketd
of 4a48ee1 (store schema 4, mqtt.db schema 1, alarms.db; made by
tests/fixtures/make-datadir-v4.py) is opened by this gasketd with every
document, measurement, alarm and retained message intact. Only content is
checked, through the HTTP API and MQTT, never a schema: the test holds
across any migration of the store."""
import json
import sqlite3
import subprocess
import time

import upgrade_common as up
from conftest import GASKETD

V4 = up.Fixture("datadir-v4")


def check_content(d):
    """The documents, their measurements per group, by minute and by hour,
    and a count of no2 readings over the warning level."""
    up.check_documents(d, V4)
    up.check_group_metrics(d, V4, "gasdetect", ("no2", "co", "h2"))
    up.check_group_metrics(d, V4, "other", ("temperature",))
    up.check_histogram(d, V4, "gasdetect", ("no2", "co"), "1m")
    up.check_histogram(d, V4, "gasdetect", ("no2", "co"), "1h")
    up.check_count(d, V4, "gasdetect", "no2", 88)


def test_datadir_v4_opens_intact(daemon_factory, tmp_path):
    d = V4.start(daemon_factory, tmp_path)
    check_content(d)
    up.check_alarms(d, V4)
    up.check_mqtt(d, V4)
    up.check_continues(d, V4)
    assert d.stop() == 0


def test_datadir_v4_idempotency_key_kept(daemon_factory, tmp_path):
    d = V4.start(daemon_factory, tmp_path)
    up.check_idempotent(d, V4)
    assert d.stop() == 0


def test_kill9_during_the_upgrade_loses_nothing(daemon_factory, tmp_path):
    """gasketd killed while it copies and upgrades the fixture (made large
    enough that the copy takes ~0.3 s: 120,000 more documents in an index of
    their own, written as schema 4 holds them): the next start upgrades it
    again and nothing is lost."""
    data = tmp_path / "data"
    V4.copy(data)
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
    d = daemon_factory(ini=V4.ini(data), start=False)
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
    assert "upgrading schema 4 to 7" in d.log_text()  # again, from the start
    check_content(d)
    assert json.loads(up.call(d, "GET", "/filler/_count"))["count"] == n
    assert d.stop() == 0
