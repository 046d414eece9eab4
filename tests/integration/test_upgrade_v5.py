"""Upgrades in place (issue 12): a whole data directory written by the gasketd
of e1f5799 (store schema 5, its documents moved from the hot tier into
gasket.db in three moves; mqtt.db schema 1, alarms.db; made by
tests/fixtures/make-datadir-v5.py) is opened by this gasketd with every
document, measurement, alarm, retained message and idempotency key intact.
Only content is checked, through the HTTP API and MQTT, never a schema: the
test holds across any migration of the store (upgrade_common.py)."""
import json

import upgrade_common as up
from raw_json import raw_sources

V5 = up.Fixture("datadir-v5")
GASES = ("no2", "co", "h2", "nh3")


def test_datadir_v5_opens_intact(daemon_factory, tmp_path):
    d = V5.start(daemon_factory, tmp_path)
    up.check_documents(d, V5)
    up.check_group_metrics(d, V5, "gasdetect", GASES)
    up.check_group_metrics(d, V5, "other", ("temperature", "humidity"))
    # group 7 posts every 10 s: six readings a minute; whole minutes, then
    # edges inside a minute (raw values there), across 16:00
    up.check_histogram(d, V5, "gasdetect", GASES, "1m", ["7"], "2026-12-01 15:56:00", "2026-12-01 16:04:00")
    up.check_histogram(d, V5, "gasdetect", GASES, "1m", ["7"], "2026-12-01 15:56:25", "2026-12-01 16:02:35")
    # groups 2 and 12 post every 7 minutes: one reading a minute at most
    up.check_histogram(d, V5, "gasdetect", GASES, "1m", ["2", "12"], "2026-12-01 14:00:00", "2026-12-01 17:00:00")
    # by hour: every group, every document (those dated by the server too)
    up.check_histogram(d, V5, "gasdetect", GASES, "1h")
    up.check_histogram(d, V5, "other", ("temperature", "humidity"), "1m")
    up.check_histogram(d, V5, "other", ("temperature", "humidity"), "1h")
    up.check_count(d, V5, "gasdetect", "no2", 88, ["7"], "2026-12-01 15:56:25", "2026-12-01 16:02:35")
    up.check_count(d, V5, "gasdetect", "no2", 88, None, "2026-12-01 14:00:00", "2026-12-01 17:00:00")
    up.check_alarms(d, V5)
    up.check_mqtt(d, V5)
    up.check_continues(d, V5)
    assert d.stop() == 0


def test_datadir_v5_idempotency_keys_kept(daemon_factory, tmp_path):
    d = V5.start(daemon_factory, tmp_path)
    up.check_idempotent(d, V5)
    assert d.stop() == 0


def test_datadir_v5_documents_compressed_once_their_index_has_a_dictionary(daemon_factory, tmp_path):
    """Schema 6 keeps documents compressed: the fixture's gasket.db holds
    too few documents of an index to train a dictionary; 300 more make one,
    and the move that trains it also compresses the fixture's documents
    already in gasket.db. Each is then a zstd frame that python3-zstandard
    (conftest.Daemon.docs) reads back as posted, and the API returns it
    byte for byte."""
    d = V5.start(daemon_factory, tmp_path)
    lines = []
    for i in range(300):
        lines.append(json.dumps({"index": {"_index": "gasdetect"}}))
        lines.append(json.dumps({"groupid": str(100 + i % 5), "no2": {"sensorid": "0006", "value": "%d.%02d" % (i % 90, i % 97)},
                                 "co": {"sensorid": "0005", "value": "%d.5" % (i % 30)},
                                 "date": "2026-12-02 10:%02d:%02d" % (i // 60, i % 60)}))
    st, _, body = d.request("POST", "/_bulk", ("\n".join(lines) + "\n").encode(), key=d.key,
                            headers={"Content-Type": "application/x-ndjson"})
    assert st == 200 and json.loads(body)["errors"] is False
    stored = {r[0]: r for r in d.docs()}  # flushes first
    with d.db() as c:
        assert [r[0] for r in c.execute("select idx from dicts")] == ["gasdetect"]
        kinds = dict(c.execute("select idx, group_concat(distinct typeof(source)) from docs group by idx"))
    assert kinds["gasdetect"] == "blob"  # the fixture's documents too
    assert kinds["other"] == "text"      # three documents: no dictionary
    for doc in V5.docs("gasdetect") + V5.docs("other"):
        assert stored[int(doc["_id"])][4] == doc["_source"]
        body = up.call(d, "GET", "/%s/_doc/%s" % (doc["_index"], doc["_id"]))
        assert raw_sources(body) == [doc["_source"]]
    assert d.stop() == 0
