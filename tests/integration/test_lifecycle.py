"""gasketd as a process: start-up, configuration errors, first-start key,
SIGHUP reload, graceful stop, restart, kill -9 and a full disk."""
import json
import os
import random
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import GASKETD, KEY, SEED, base_ini


def test_help_and_check(tmp_path):
    out = subprocess.run([GASKETD, "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and "-c, --config FILE" in out.stdout
    good = tmp_path / "good.ini"
    good.write_text(base_ini(tmp_path))
    out = subprocess.run([GASKETD, "-t", "-c", str(good)], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0, out.stderr


def test_bad_config_refused_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.ini"
    bad.write_text("[server]\ndata_dir = %s\n\n[http]\nmax_bodyy = 1MiB\n" % tmp_path)
    out = subprocess.run([GASKETD, "-c", str(bad)], capture_output=True, text=True, timeout=10)
    assert out.returncode == 1
    assert "%s:5: unknown key 'max_bodyy' in [http]" % bad in out.stderr
    bad.write_text("[http]\nmax_body = huge\n")
    out = subprocess.run([GASKETD, "-c", str(bad)], capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and "%s:2: bad value for max_body 'huge'" % bad in out.stderr


def test_no_key_is_pending(daemon_factory):
    """Every key of the design is built now: none is logged as pending."""
    d = daemon_factory(extra="[http]\ndashboard_users = admin\nlive_topic = live\n"
                       "[index a]\nretention = 1d\n[index b]\nretention = 2d\n")
    text = d.wait_log("dashboard: 0 user(s) in admin")  # a missing users file: no users
    assert "not yet in effect" not in text
    assert d.stop() == 0


def test_first_start_creates_key_and_prints_curl(daemon_factory):
    d = daemon_factory(key=False)
    text = d.wait_log("Post a reading:")  # printed once everything is up
    key = re.search(r"API key: ([0-9a-f]{40})", text).group(1)
    assert (d.data / "apikey").read_text().strip() == key
    assert oct((d.data / "apikey").stat().st_mode & 0o777) == "0o600"
    cmd = re.search(r"^\s+(curl .*)$", text, re.M).group(1)
    out = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30)
    assert json.loads(out.stdout)["result"] == "created", out
    assert "The dashboard: http://127.0.0.1:%d/" % d.port in text  # loopback: no login
    assert d.stop() == 0
    d.start()  # the same key on the next start, no longer printed in full
    text = d.wait_log("gasketd is ready")
    assert "API key 'default' is kept in %s/apikey" % d.data in text
    assert key not in text
    assert d.post(SEED, key=key)[0] == 200
    assert d.stop() == 0


def test_first_start_says_how_to_add_the_first_dashboard_user(daemon_factory):
    d = daemon_factory(key=False, extra="[http]\ndashboard_login = on\n")
    text = d.wait_log("passwd -r admin")
    assert "asks for a login: add its first user with" in text
    assert "  build/gasket passwd -r admin %s/dashboard_users NAME" % d.data in text
    assert d.stop() == 0


def test_sighup_reloads_keys_without_dropping_connections(daemon_factory):
    d = daemon_factory()
    c = d.conn()
    c.request("POST", "/gasdetector", body=json.dumps(SEED), headers={"x-api-key": KEY})
    assert c.getresponse().read() and True
    new_key = "reloaded-key-0123456789abcdef"
    d.write_conf(d.ini + "[apikey new]\nkey = %s\n" % new_key)
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while "reloaded" not in d.log_text() and time.time() < deadline:
        time.sleep(0.05)
    c.request("POST", "/gasdetector", body=json.dumps(SEED), headers={"x-api-key": new_key})
    r = c.getresponse()
    assert r.status == 200, r.read()
    r.read()
    # A broken file on SIGHUP is refused and the running keys stay.
    d.write_conf(d.ini + "[http]\nnonsense = 1\n")
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while "reload refused" not in d.log_text() and time.time() < deadline:
        time.sleep(0.05)
    assert "reload refused" in d.log_text()
    c.request("POST", "/gasdetector", body=json.dumps(SEED), headers={"x-api-key": new_key})
    assert c.getresponse().status == 200
    c.close()
    assert d.stop() == 0


def test_restart_keeps_every_document(daemon_factory):
    d = daemon_factory()
    ids = [json.loads(d.post(dict(SEED, groupid=i))[2])["_id"] for i in range(20)]
    assert d.stop(signal.SIGINT) == 0
    d.start()
    status, _, body = d.post(SEED)
    assert status == 200 and json.loads(body)["_seq_no"] == 20
    assert [str(r[0]) for r in d.docs()][:20] == ids
    assert d.stop() == 0


def _poster(d, tid, acked, stop):
    n = 0
    while not stop.is_set():
        c = d.conn(timeout=5)
        try:
            while not stop.is_set():
                gid = "t%d-%d" % (tid, n)
                n += 1
                c.request("POST", "/gasdetector", body=json.dumps(dict(SEED, groupid=gid)),
                          headers={"x-api-key": KEY})
                r = c.getresponse()
                body = r.read()
                if r.status == 200:
                    acked.append((json.loads(body)["_id"], gid))
        except (OSError, ValueError, Exception):
            return
        finally:
            c.close()


# flush_docs = 64: the hot tier is moved into gasket.db every 64 readings, so
# most kills land while a move is under way or just after one
@pytest.mark.parametrize("extra", ["", "[server]\nflush_docs = 64\nlog_level = debug\n"],
                         ids=["", "moving"])
def test_kill9_loses_no_acknowledged_reading(daemon_factory, extra):
    d = daemon_factory(extra)
    rng = random.Random(os.getpid())
    total = 0
    for rnd in range(3):
        acked, stop = [], threading.Event()
        threads = [threading.Thread(target=_poster, args=(d, rnd * 10 + t, acked, stop))
                   for t in range(8)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.5, 2.5))
        d.kill9()
        stop.set()
        for t in threads:
            t.join(10)
        snapshot = list(acked)
        assert snapshot, "no request was acknowledged before the kill"
        assert not extra or "store: moved" in d.log_text()
        total += len(snapshot)
        d.start()
        stored = {str(r[0]): r[3] for r in d.docs()}
        missing = [(i, g) for i, g in snapshot if stored.get(i) != g]
        assert not missing, "acknowledged but lost: %r" % missing[:5]
        assert len(set(stored.values())) == len(stored)  # none stored twice
        status, _, body = d.request("GET", "/gasdetect/_count")
        assert json.loads(body)["count"] == len(stored)
    assert d.stop() == 0
    assert total > 0


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs (CI runs as root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_answers_503_and_writes_nothing_half(daemon_factory, tiny_disk):
    d = daemon_factory(ini=base_ini(tiny_disk))
    assert d.post(SEED)[0] == 200
    filler = tiny_disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    statuses = []
    big = dict(SEED, note="x" * 20000)
    for i in range(200):
        status, headers, body = d.post(dict(big, groupid="full-%d" % i))
        statuses.append(status)
        if status == 503:
            assert "disk full" in json.loads(body)["message"]
            break
    assert statuses[-1] == 503, statuses
    assert d.request("GET", "/healthz", key=None)[0] == 503
    filler.unlink()
    assert d.request("GET", "/healthz", key=None)[0] == 200
    assert d.post(SEED)[0] == 200
    acked = 2 + statuses.count(200)
    assert d.stop() == 0
    assert len(d.docs()) == acked


def test_sigterm_answers_in_flight_and_commits(daemon_factory):
    d = daemon_factory()
    acked, stop = [], threading.Event()
    threads = [threading.Thread(target=_poster, args=(d, t, acked, stop)) for t in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    code = d.stop(signal.SIGTERM)
    stop.set()
    for t in threads:
        t.join(10)
    assert code == 0, d.log_text()
    assert "stopped" in d.log_text()
    assert acked
    stored = {str(r[0]): r[3] for r in d.docs()}
    assert all(stored.get(i) == g for i, g in acked)
    assert len(set(stored.values())) == len(stored)  # none stored twice


def test_durability_normal_survives_kill9(daemon_factory):
    d = daemon_factory(extra="[server]\ndurability = normal\n")
    ids = [json.loads(d.post(dict(SEED, groupid="n%d" % i))[2])["_id"] for i in range(30)]
    d.kill9()
    d.start()
    assert [str(r[0]) for r in d.docs()] == ids
    assert d.stop() == 0


def test_date_is_in_the_configured_timezone(daemon_factory):
    d = daemon_factory(extra="[server]\ntimezone = Asia/Seoul\n")
    before = time.time()
    assert d.post(SEED)[0] == 200
    after = time.time()
    date = json.loads(d.docs()[0][4])["date"]
    kst = [time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t + 9 * 3600))
           for t in (before, after)]
    assert kst[0] <= date <= kst[1], (date, kst)
    assert d.stop() == 0


@pytest.mark.skipif(not os.path.exists("/usr/share/zoneinfo/right/Europe/Berlin"),
                    reason="tzdata without right/ zones")
def test_written_date_reads_back_in_a_right_zone(daemon_factory):
    """The `date` gasket writes reads back (as a range bound, in the same
    zone) as the instant it was written for, in a right/ zone too: libc's
    localtime applied its leap seconds and wrote it 27 s early."""
    d = daemon_factory(extra="[server]\ntimezone = right/Europe/Berlin\n")
    assert d.post(SEED)[0] == 200
    date = json.loads(d.docs()[0][4])["date"]
    q = {"query": {"range": {"date": {"gte": date, "lt": date + "||+1s"}}}}
    status, _, body = d.request("POST", "/gasdetect/_search", q)
    assert status == 200, body
    assert json.loads(body)["hits"]["total"]["value"] == 1, date
    assert d.stop() == 0
