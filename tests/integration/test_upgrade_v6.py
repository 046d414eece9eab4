"""Upgrades in place (issue 12): a whole data directory written by the gasketd
of 0d50f81 (store schema 6, its documents moved from the hot tier into
gasket.db in three moves: index gasdetect's compressed with its dictionary,
field's and other's as text, field's 1-minute rollups turned off; mqtt.db
schema 1, alarms.db; made by tests/fixtures/make-datadir-v6.py) is opened by
this gasketd with every document, measurement, alarm, retained message and
idempotency key intact, and its series go on. Only content is checked,
through the HTTP API and MQTT, never a schema: the test holds across any
migration of the store (upgrade_common.py)."""
import json
import sqlite3
import struct

import upgrade_common as up
from conftest import measurement_rows

V6 = up.Fixture("datadir-v6")
GASES = ("no2", "co", "h2", "nh3", "voc", "pulses")
FIELD = ("ch4", "o2", "h2s", "temp", "rad", "pulses")
OTHER = ("temperature", "humidity")
FLEET = ["f%02d" % g for g in range(1, 19)] + ["41", "42"]
ODD = ["f03", "f04", "f05", "f06", "41"]         # gasdetect: readings out of time order, same dates
FIELD_ODD = ["n05", "n06", "n09", "7"]           # field: the same
DAY = "2026-12-01 "


def check_gasdetect(d, fx):
    """Index gasdetect (1-minute rollups kept): the fleet posts three readings
    a group a minute from 17:00 to 17:06 over the three moves; whole minutes
    (rollups), then edges inside minutes (raw values there); the groups with
    readings back-filled, in the middle of their range or on a date they
    had; datadir-v5's groups 7 (dense) and 2 and 12 (sparse); by hour,
    everything (the documents dated by the server too)."""
    up.check_group_metrics(d, fx, "gasdetect", GASES)
    up.check_histogram(d, fx, "gasdetect", GASES, "1m", FLEET, DAY + "16:00:00", DAY + "17:10:00")
    up.check_histogram(d, fx, "gasdetect", GASES, "1m", FLEET, DAY + "16:58:25", DAY + "17:06:35")
    up.check_histogram(d, fx, "gasdetect", GASES, "1m", ODD, DAY + "16:00:00", DAY + "17:10:00")
    up.check_histogram(d, fx, "gasdetect", GASES, "1m", ODD, DAY + "17:02:30", DAY + "17:03:29")
    up.check_histogram(d, fx, "gasdetect", GASES, "1h", ODD)
    up.check_histogram(d, fx, "gasdetect", GASES, "1m", ["7"], DAY + "15:56:00", DAY + "16:04:00")
    up.check_histogram(d, fx, "gasdetect", GASES, "1m", ["7"], DAY + "15:56:25", DAY + "16:02:35")
    up.check_histogram(d, fx, "gasdetect", GASES, "1m", ["2", "12"], DAY + "14:00:00", DAY + "17:00:00")
    up.check_histogram(d, fx, "gasdetect", GASES, "1h")
    up.check_count(d, fx, "gasdetect", "no2", 88, ["7"], DAY + "15:56:25", DAY + "16:02:35")
    up.check_count(d, fx, "gasdetect", "no2", 88, None, DAY + "14:00:00", DAY + "17:00:00")
    up.check_count(d, fx, "gasdetect", "no2", 40, FLEET, DAY + "16:58:25", DAY + "17:06:35")
    up.check_count(d, fx, "gasdetect", "no2", 0, ODD, DAY + "16:00:00", DAY + "17:03:00")
    up.check_count(d, fx, "gasdetect", "voc", 1e20)      # 1.5e300, "1.5e300", 6.02E+23
    up.check_count(d, fx, "gasdetect", "pulses", 1234567890123456)


def check_field(d, fx):
    """Index field (sparse, its 1-minute rollups off: raw values; hours from
    the rollups): by minute and by hour, all of it and the groups with
    readings out of time order, and hours cut inside."""
    up.check_group_metrics(d, fx, "field", FIELD)
    up.check_histogram(d, fx, "field", FIELD, "1m")
    up.check_histogram(d, fx, "field", FIELD, "1h")
    up.check_histogram(d, fx, "field", FIELD, "1h", None, DAY + "12:30:00", DAY + "16:45:30")
    up.check_histogram(d, fx, "field", FIELD, "1m", FIELD_ODD, DAY + "11:00:00", DAY + "19:00:00")
    up.check_histogram(d, fx, "field", FIELD, "1h", FIELD_ODD, DAY + "11:00:00", DAY + "19:00:00")
    up.check_count(d, fx, "field", "ch4", 2, None, DAY + "12:12:00", DAY + "17:00:00")
    up.check_count(d, fx, "field", "rad", 1e300)
    up.check_count(d, fx, "field", "temp", -20, FIELD_ODD)
    up.check_count(d, fx, "field", "pulses", 1234567890123460)


def test_datadir_v6_opens_intact(daemon_factory, tmp_path):
    d = V6.start(daemon_factory, tmp_path)
    up.check_documents(d, V6)
    check_gasdetect(d, V6)
    check_field(d, V6)
    up.check_group_metrics(d, V6, "other", OTHER)
    up.check_histogram(d, V6, "other", OTHER, "1m")
    up.check_histogram(d, V6, "other", OTHER, "1h")
    up.check_alarms(d, V6)
    up.check_mqtt(d, V6)
    up.check_continues(d, V6)
    assert d.stop() == 0


def test_datadir_v6_idempotency_keys_kept(daemon_factory, tmp_path):
    d = V6.start(daemon_factory, tmp_path)
    up.check_idempotent(d, V6)
    assert d.stop() == 0


def fleet_reading(grp, date, no2, co, voc=None):
    """A seed-shaped reading of gasdetect's fleet (no2 and co as JSON text)."""
    voc = ',"voc":{"value":%s}' % voc if voc else ""
    return ('{"groupid":%s,"gps":"37.61002501514269, 126.99636868892937",'
            '"co":{"sensorid":"0005","sensortype":"8","value":%s,"createdtime":"%s"},'
            '"no2":{"sensorid":"0006","sensortype":"8","value":%s,"createdtime":"%s"}%s,"date":"%s"}'
            % (grp, co, DAY + date, no2, DAY + date, voc, DAY + date))


# Readings of the fixture's series posted after the upgrade, some older than
# their series' last reading (and than its first), some on a date the
# series has; values as posted: strings, numbers, big exponents.
MORE = [
    ("gasdetect", fleet_reading('"f04"', "17:07:01", '"21.50"', "26.2", "1.5e300")),   # after its last
    ("gasdetect", fleet_reading('"f04"', "17:03:45", "0.5", '"26.20"', "2.5e-300")),   # inside its range
    ("gasdetect", fleet_reading('"f04"', "16:57:30", "-0.0", "1e-7", '"6.02E+23"')),   # before its first
    ("gasdetect", fleet_reading('"f03"', "16:58:10", "12.5", "3")),                     # a back-filled date
    ("gasdetect", fleet_reading("41", "17:06:06", "1e-7", "0.5")),                      # a date it has
    ("field", '{"groupid":"n06","ch4":{"value":"2.75"},"o2":{"value":20.5},"rad":{"value":1.5e300},'
              '"date":"%s12:47:00"}' % DAY),                                              # inside its range
    ("field", '{"groupid":"n06","ch4":{"value":1e-7},"o2":{"value":"21.0"},"date":"%s18:30:00"}' % DAY),
    ("field", '{"groupid":"n05","ch4":{"value":-0.0},"o2":{"value":"19.5"},"temp":{"value":"-3.25e2"},'
              '"date":"%s11:00:00"}' % DAY),                                              # before its first
    ("field", '{"groupid":7,"ch4":{"value":3},"o2":{"value":20.9},"pulses":{"value":1234567890123456},'
              '"date":"%s17:20:00"}' % DAY),                                              # a third at 17:20
]


def test_datadir_v6_series_go_on(daemon_factory, tmp_path):
    """More readings of the fixture's series, out of time order too, then a
    POST /_flush (they move into the upgraded gasket.db, their rollups
    added to the fixture's) and a restart: every answer is the fixture's
    expected one with them added, computed here."""
    d = V6.start(daemon_factory, tmp_path)
    lines = "".join('{"index":{"_index":"%s"}}\n%s\n' % (index, body) for index, body in MORE)
    st, _, body = d.request("POST", "/_bulk", lines, key=d.key, headers={"Content-Type": "application/x-ndjson"})
    assert st == 200, body
    items = json.loads(body)
    assert items["errors"] is False, items
    top = max(int(x["_id"]) for x in V6.expected["docs"])
    ids = [x["index"]["_id"] for x in items["items"]]
    assert ids == [str(top + 1 + i) for i in range(len(MORE))], ids
    fx = V6.plus([{"_index": index, "_id": i, "_source": src, "ts": V6.local_ms(json.loads(src)["date"])}
                  for (index, src), i in zip(MORE, ids)])
    d.flush()
    for restart in (False, True):
        if restart:
            assert d.stop() == 0
            d.start()
        up.check_documents(d, fx)
        check_gasdetect(d, fx)
        check_field(d, fx)
        up.check_alarms(d, fx)  # readings under the rules' levels: no alarm
    assert d.stop() == 0


def bits(rows):
    """Rows with their value as its IEEE bits: -0.0 is not 0.0."""
    return sorted(r[:5] + (None if r[5] is None else struct.pack("<d", r[5]),) for r in rows)


def test_datadir_v6_measurements_move_into_blocks(daemon_factory, tmp_path):
    """Schema 7 keeps measurements in per-series blocks (store_mblk.c): the
    upgrade copies gasket.db first and adds the blocks' table; the rows the
    fixture's gasketd wrote stay readable as they are until the next move,
    which converts them (fewer than a slice of 100,000): afterwards no row
    is left in the old table and the blocks, decoded here by conftest's
    reader of the block format, hold exactly the fixture's measurements,
    value for value bit for bit, and the new reading's."""
    fixture_db = sqlite3.connect("file:%s?mode=ro" % (up.FIXTURES / "datadir-v6" / "gasket.db"), uri=True)
    before = fixture_db.execute("SELECT idx, grp, name, ts, doc, value FROM measurements").fetchall()
    fixture_db.close()
    assert len(before) > 1500
    d = V6.start(daemon_factory, tmp_path)
    assert (d.data / "gasket.db.schema6.bak").exists()
    d.wait_log("upgrading schema 6 to 7")
    c = sqlite3.connect("file:%s?mode=ro" % (d.data / "gasket.db"), uri=True)
    assert c.execute("pragma user_version").fetchone()[0] == 7
    assert c.execute("SELECT count(*) FROM measurements").fetchone()[0] == len(before)
    c.close()
    up.check_group_metrics(d, V6, "field", FIELD)  # read from the old rows
    _, reply = MORE[0]
    st, _, body = d.request("POST", "/gasdetect/_doc", reply, key=d.key,
                            headers={"Content-Type": "application/json"})
    assert st == 201, body
    doc = int(json.loads(body)["_id"])
    with d.db() as c:  # flushed: the move converted the old rows
        assert c.execute("SELECT count(*) FROM main.measurements").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM mblocks").fetchone()[0] > 0
        after = measurement_rows(c)
    new = [r for r in after if r[4] == doc]
    assert sorted((r[2], r[5]) for r in new) == [("co", 26.2), ("no2", 21.5), ("voc", 1.5e300)]
    assert bits([r for r in after if r[4] != doc]) == bits(before)
    up.check_group_metrics(d, V6, "field", FIELD)  # and from the blocks
    assert d.stop() == 0
