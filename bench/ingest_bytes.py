#!/usr/bin/env python3
"""Bytes gasketd writes to disk per reading (issue 11: what an Idempotency-Key
costs an SD card).

    bench/ingest_bytes.py [--gasketd build/gasketd] [-n 20000] [-c 8] [--key]

Starts gasketd (durability = full) on a loopback port in a temp dir on a real
disk (BENCH_TMPDIR, /var/tmp), posts n seed readings (8 gases, as gasket-pub
--sim sends them) on c keep-alive connections, with an `Idempotency-Key`
header when --key is given, and prints write_bytes of /proc/PID/io over the
posts and a final POST /_flush divided by n (the journal, the moves into
gasket.db, its WAL, checkpoints and fsync'd pages),
and the growth of gasket.db + WAL after a final checkpoint. write_bytes counts
what reached the block layer: run it two or three times, it moves with the
checkpoint's timing."""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API_KEY = "bench-key-0123456789abcdef"
GASES = ["co", "no2", "c2h5oh", "h2", "nh3", "ch4", "c3h8", "c4h10"]


def reading(i):
    t = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1700000000 + i // 10))
    doc = {"groupid": str(1 + i % 4), "gps": "37.61002501514269, 126.99636868892937"}
    for k, g in enumerate(GASES):
        doc[g] = {"sensorid": "%04d" % (5 + k), "sensortype": "8",
                  "value": "%.2f" % (10 + (i * 7 + k * 13) % 50 / 3), "createdtime": t}
    return json.dumps(doc, separators=(",", ":"))


def write_bytes(pid):
    with open("/proc/%d/io" % pid) as f:
        return int(re.search(r"^write_bytes: (\d+)", f.read(), re.M).group(1))


def flush(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", "/_flush", headers={"x-api-key": API_KEY})
    r = c.getresponse()
    r.read()
    c.close()
    if r.status != 200:
        sys.exit("POST /_flush: %d" % r.status)


def sender(port, ids, use_key, errors):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in ids:
        h = {"Content-Type": "application/json", "x-api-key": API_KEY}
        if use_key:
            h["Idempotency-Key"] = "bench-dev:0123456789abcdef:%d" % i
        c.request("POST", "/gasdetector", body=reading(i), headers=h)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            errors.append(r.status)
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gasketd", default=os.path.join(ROOT, "build", "gasketd"))
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("-c", type=int, default=8)
    ap.add_argument("--key", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gasket-bytes.", dir=os.environ.get("BENCH_TMPDIR", "/var/tmp"))
    p = None
    try:
        conf = os.path.join(tmp, "gasket.ini")
        with open(conf, "w") as f:
            f.write("[server]\ndata_dir = %s/data\ndurability = full\n[http]\nlisten = 127.0.0.1:0\n"
                    "[apikey bench]\nkey = %s\nrate = 1000000\nburst = 1000000\n" % (tmp, API_KEY))
        logf = open(os.path.join(tmp, "gasketd.log"), "wb")
        p = subprocess.Popen([a.gasketd, "-c", conf], stdout=logf, stderr=logf)
        port = None
        for _ in range(200):
            m = re.search(r"http: listening on \S+:(\d+)", open(logf.name).read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.05)
        if not port:
            sys.exit("gasketd did not start: " + open(logf.name).read())
        sender(port, range(-200, 0), a.key, [])  # warm-up: the tables exist
        flush(port)
        time.sleep(1)
        before = write_bytes(p.pid)
        t0 = time.time()
        errors = []
        threads = [threading.Thread(target=sender, args=(port, range(k, a.n, a.c), a.key, errors))
                   for k in range(a.c)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.time() - t0
        flush(port)  # the readings still in the hot tier moved: their bytes count
        after = write_bytes(p.pid)
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        db = os.path.join(tmp, "data", "gasket.db")
        with sqlite3.connect(db) as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            ndocs = c.execute("select count(*) from docs").fetchone()[0]
        size = os.path.getsize(db)
        print("%s readings=%d key=%s errors=%d %.0f/s write_bytes/reading=%.0f "
              "gasket.db/reading=%.0f (docs %d)" % (
                  os.path.basename(a.gasketd), a.n, a.key, len(errors), a.n / took,
                  (after - before) / a.n, size / ndocs, ndocs))
    finally:
        if p and p.poll() is None:  # a step failed: gasketd is not left running
            p.kill()
            p.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
