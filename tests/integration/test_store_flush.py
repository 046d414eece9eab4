"""Issue 12, the hot tier: readings wait in a database on /dev/shm (safe in
data_dir/journal) and reach gasket.db a generation at a time; searches see
both; POST /_flush and /{index}/_flush move them now, for a write key."""
import glob
import json
import os
import sqlite3
import stat

from conftest import ADMIN, SEED

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
    meas = c.execute("select grp, name, count(*) from measurements group by 1, 2").fetchall()
    roll = c.execute("select grp, name, sum(n) from rollup_1m where name <> cast(x'ff' as text)"
                     " group by 1, 2").fetchall()
    docs = c.execute("select grp, sum(n) from rollup_1h where name = cast(x'ff' as text)"
                     " group by 1").fetchall()
    c.close()
    assert sorted(meas) == sorted(roll) and len(meas) >= 5 * 4
    assert sorted(docs) == [("2", 1), ("g0", 3), ("g1", 3), ("g2", 3), ("g3", 3)]
