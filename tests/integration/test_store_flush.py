"""Issue 12, the hot tier: readings wait in a database on /dev/shm (safe in
data_dir/journal) and reach gasket.db a generation at a time; searches see
both; POST /_flush and /{index}/_flush move them now, for a write key."""
import calendar
from collections import Counter
import glob
import json
import os
import random
import sqlite3
import stat
import struct
import time
import zlib

from conftest import ADMIN, SEED, measurement_rows
from raw_json import raw_sources

DEV = "dev-key-0123456789abcdef0000"  # posts /gasdetector: writes gasdetect only
SCOPES = ("[route /gasdetector]\n[route /sensors]\nindex = other\n"
          "[apikey dev]\nkey = %s\nroutes = /gasdetector\n" % DEV)
FLUSHED = {"_shards": {"total": 1, "successful": 1, "failed": 0}}


def in_gasket_db(d):
    """Documents in gasket.db itself, read without flushing."""
    c = sqlite3.connect("file:%s?mode=ro" % (d.data / "gasket.db"), uri=True, timeout=10)
    try:
        return c.execute("select count(*) from docs").fetchone()[0]
    finally:
        c.close()


def hot_files():
    return set(glob.glob("/dev/shm/gasket-%d-*.hot[01]" % os.getuid()))


def test_flush_moves_the_hot_tier_for_a_write_key(daemon_factory):
    d = daemon_factory(extra=SCOPES)
    mine = set(d.hot_files())
    assert mine <= hot_files()  # the hot tier's two files: RAM, the daemon's alone
    assert all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in mine)
    ids = [json.loads(d.post(dict(SEED, groupid=str(i)), key=DEV)[2])["_id"] for i in range(5)]
    assert in_gasket_db(d) == 0  # acknowledged, in the journal and the hot tier
    assert len(os.listdir(d.data / "journal")) == 1
    # searches see the hot tier
    st, _, body = d.request("GET", "/gasdetect/_count", key=DEV)
    assert st == 200 and json.loads(body)["count"] == 5
    # who may flush: a key that may write the index; /_flush: a key that may write
    assert d.request("POST", "/_flush", key=None)[0] == 403
    assert d.request("POST", "/_flush", key="unknown-key-0123456789abcdef")[0] == 403
    assert d.request("POST", "/other/_flush", key=DEV)[0] == 403
    assert d.request("PUT", "/gasdetect/_flush", key=DEV)[0] == 405
    assert in_gasket_db(d) == 0
    st, _, body = d.request("POST", "/gasdetect/_flush", key=DEV)
    assert st == 200 and json.loads(body) == FLUSHED
    assert in_gasket_db(d) == 5
    assert os.listdir(d.data / "journal") == []  # the moved readings' journal file is gone
    # nothing counted twice after the move, and the next reading goes on
    st, _, body = d.request("POST", "/gasdetect/_search", {"size": 10}, key=DEV)
    hits = json.loads(body)["hits"]
    assert hits["total"]["value"] == 5 and sorted(h["_id"] for h in hits["hits"]) == sorted(ids)
    assert d.post(SEED, key=DEV)[0] == 200
    st, _, body = d.request("GET", "/_flush", key=ADMIN)
    assert st == 200 and json.loads(body) == FLUSHED
    assert in_gasket_db(d) == 6
    assert d.stop() == 0
    assert not (mine & hot_files())  # a stopped gasketd leaves no hot file


def test_hot_files_of_a_killed_daemon_are_deleted_by_the_next(daemon_factory):
    d = daemon_factory()
    first = d.hot_files()
    assert all(os.path.exists(f) for f in first)
    d.kill9()
    assert all(os.path.exists(f) for f in first)  # RAM held until someone deletes them
    d.start()
    assert not any(os.path.exists(f) for f in first)
    assert "left by a gasketd that is gone" in d.log_text()
    assert all(os.path.exists(f) for f in d.hot_files())
    assert d.stop() == 0


def test_stop_moves_and_start_reads_the_journal_back(daemon_factory):
    d = daemon_factory()
    assert d.post(SEED)[0] == 200
    assert d.stop() == 0
    assert in_gasket_db(d) == 1  # stopping moved it
    d.start()
    for g in range(12):
        assert d.post(dict(SEED, groupid="g%d" % (g % 4)))[0] == 200
    d.kill9()
    assert in_gasket_db(d) == 1  # the later readings are in the journal only
    d.start()
    d.wait_log("12 documents read back from the journal")
    st, _, body = d.request("GET", "/gasdetect/_count")
    assert json.loads(body)["count"] == 13
    assert d.stop() == 0
    assert in_gasket_db(d) == 13
    # the rollups of the readings read back are those of their measurements
    c = sqlite3.connect("file:%s?mode=ro" % (d.data / "gasket.db"), uri=True)
    meas = Counter(m[1:3] for m in measurement_rows(c))
    meas = [k + (v,) for k, v in meas.items()]
    roll = c.execute("select grp, name, sum(n) from rollup_1m where name <> cast(x'ff' as text)"
                     " group by 1, 2").fetchall()
    docs = c.execute("select grp, sum(n) from rollup_1h where name = cast(x'ff' as text)"
                     " group by 1").fetchall()
    c.close()
    assert sorted(meas) == sorted(roll) and len(meas) >= 5 * 4
    assert sorted(docs) == [("2", 1), ("g0", 3), ("g1", 3), ("g2", 3), ("g3", 3)]


def test_rollup_answers_hold_across_moves(daemon_factory):
    """A move every 40 readings, then a flush and 10 more: the hourly
    buckets of 600 readings are in gasket.db and in a hot file at once, and
    the rollup path answers as the readings do, before and after a flush."""
    d = daemon_factory(extra="[server]\ntimezone = UTC\nflush_docs = 40\n")
    rng = random.Random(12)
    start = (int(time.time()) // 3600 - 8) * 3600
    day = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))  # noqa: E731
    docs = [{"groupid": "g%d" % (i % 7), "date": day(start + rng.randrange(6 * 3600)),
             "no2": {"value": round(rng.uniform(0, 100), 2)}} for i in range(600)]
    for k in list(range(0, 590, 50)) + [590]:
        if k == 590:
            d.flush()
        part = docs[k:min(k + 50, 590)] if k < 590 else docs[590:]
        body = "".join('{"index":{}}\n' + json.dumps(doc) + "\n" for doc in part)
        st, _, reply = d.request("POST", "/gasdetect/_bulk", body,
                                 headers={"Content-Type": "application/x-ndjson"})
        assert st == 200 and not json.loads(reply)["errors"]
    assert in_gasket_db(d) == 590  # the last 10 are in a hot file
    want = {}
    for doc in docs:
        hour = calendar.timegm(time.strptime(doc["date"], "%Y-%m-%d %H:%M:%S"))
        b = want.setdefault((doc["groupid"], hour // 3600 * 3600 * 1000), [])
        b.append(doc["no2"]["value"])
    query = {"size": 0, "query": {"range": {"date": {"gte": day(start), "lt": day(start + 6 * 3600)}}},
             "aggs": {"g": {"terms": {"field": "groupid", "size": 10},
                            "aggs": {"h": {"date_histogram": {"field": "date", "fixed_interval": "1h"},
                                           "aggs": {"avg": {"avg": {"field": "no2.value"}},
                                                    "max": {"max": {"field": "no2.value"}}}}}}}}

    def answer():
        st, _, body = d.request("POST", "/gasdetect/_search", query)
        assert st == 200, body
        got = {}
        for g in json.loads(body)["aggregations"]["g"]["buckets"]:
            for h in g["h"]["buckets"]:
                if h["doc_count"]:
                    got[(g["key"], h["key"])] = (h["doc_count"], round(h["avg"]["value"], 6),
                                                 h["max"]["value"])
        return got

    expected = {k: (len(v), round(sum(v) / len(v), 6), max(v)) for k, v in want.items()}
    assert answer() == expected
    assert d.flush() and answer() == expected
    assert d.stop() == 0


def journal_after_kill(daemon_factory, n):
    """A daemon killed after n readings posted one at a time (a record each),
    and the bytes of its one journal file."""
    d = daemon_factory()
    for i in range(n):
        assert d.post(dict(SEED, groupid="j%d" % i))[0] == 200
    d.kill9()
    (f,) = list((d.data / "journal").iterdir())
    return d, f, f.read_bytes()


def test_a_torn_last_record_is_cut_off(daemon_factory):
    d, f, data = journal_after_kill(daemon_factory, 3)
    f.write_bytes(data[:-5])  # the last append cut short, as a crash leaves it
    d.start()
    assert "unfinished record at its end cut off" in d.log_text()
    st, _, body = d.request("GET", "/gasdetect/_count")
    assert json.loads(body)["count"] == 2
    assert d.stop() == 0


def test_a_damaged_record_before_others_refuses_the_start(daemon_factory):
    d, f, data = journal_after_kill(daemon_factory, 3)
    bad = bytearray(data)
    bad[40] ^= 0xFF  # inside the first record, two whole records after it
    f.write_bytes(bytes(bad))
    try:
        d.start()
        raise AssertionError("gasketd started on a damaged journal")
    except RuntimeError:
        pass
    assert d.proc.wait(10) != 0
    assert "is damaged at byte 0 (whole records follow)" in d.log_text()
    assert f.read_bytes() == bytes(bad)  # left as it is: nothing acknowledged is cut
    # moved away, as the message says: gasketd starts without its readings
    f.rename(d.dir / "damaged.log")
    d.start()
    st, _, body = d.request("GET", "/gasdetect/_count")
    assert st in (200, 404)
    assert d.stop() == 0



def gkj1_record(docs):
    """A journal record as the previous release wrote it (store schema 5:
    "GKJ1", uncompressed; store_journal.c): docs are (id, seq, ts, index,
    groupid, source, {name: value})."""
    def s(b):
        return struct.pack("<I", len(b)) + b
    payload = struct.pack("<I", len(docs))
    for id_, seq, ts, idx, grp, src, meas in docs:
        payload += struct.pack("<qqq", id_, seq, ts) + s(idx.encode()) + s(grp.encode()) + s(src.encode())
        payload += struct.pack("<I", len(meas))
        for name, v in meas.items():
            payload += s(name.encode()) + struct.pack("<d", v)
        payload += struct.pack("<I", 0xFFFFFFFF) + struct.pack("<Qq", 0, ts)  # no key
    return b"GKJ1" + struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def test_journal_records_are_compressed_and_old_ones_read_back(daemon_factory):
    """A journal left by the previous release (uncompressed records, e.g.
    after a crash) is read back; the records this one writes are
    compressed ("GKJ2"), a fraction of the bytes, and read back too."""
    d = daemon_factory(start=False)
    (d.data / "journal").mkdir(parents=True)
    src = '{"groupid":"old","no2":{"value":"26.20"},"date":"2021-09-03 18:14:49"}'
    old = [(i, i - 1, 1630660489000 + i, "gasdetect", "old", src, {"no2": 26.2}) for i in (1, 2, 3)]
    (d.data / "journal" / ("%020d.log" % 1)).write_bytes(gkj1_record(old[:2]) + gkj1_record(old[2:]))
    d.start()
    d.wait_log("3 documents read back from the journal")
    lines = "".join('{"index":{"_index":"gasdetect"}}\n%s\n' % json.dumps(dict(SEED, groupid="n%d" % i))
                    for i in range(20))
    st, _, reply = d.request("POST", "/_bulk", lines.encode(), headers={"Content-Type": "application/x-ndjson"})
    assert st == 200 and json.loads(reply)["errors"] is False, reply
    d.kill9()
    # the new record: in a file of its own (a start never appends to an old one)
    (f,) = [f for f in (d.data / "journal").iterdir() if f.name != "%020d.log" % 1]
    new = f.read_bytes()
    assert new[:4] == b"GKJ2" and len(new) < len(lines) // 4, (new[:4], len(new), len(lines))
    d.start()
    d.wait_log("23 documents read back from the journal")
    st, _, reply = d.request("POST", "/gasdetect/_search", {"size": 100, "sort": [{"date": "asc"}]})
    hits = json.loads(reply)["hits"]["hits"]
    assert sorted(h["_source"]["groupid"] for h in hits) == sorted(["old"] * 3 + ["n%d" % i for i in range(20)])
    assert raw_sources(reply.decode())[:3] == [src] * 3
    assert d.stop() == 0
