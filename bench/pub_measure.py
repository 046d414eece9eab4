#!/usr/bin/env python3
"""gasket-pub's costs, measured against a real gasketd (bench/pub.sh runs it).

  steady   gasket-pub --sim at 10 readings/s for D seconds (over HTTP, over
           MQTT, and, for scale, a shell loop running curl once per reading):
           CPU time per reading (utime + stime of /proc/PID/stat, children
           included for the curl loop) and memory (VmRSS, VmHWM of
           /proc/PID/status) once it runs
  drain    a spool of N readings (filled through --stdin while the server is
           unreachable) sent by `gasket-pub --drain` into gasketd
           (durability = full): readings per second until the spool is empty,
           with the default --batch (500 per _bulk request) and with single
           POSTs (--batch 1, on a smaller spool), and the documents counted

Everything runs on 127.0.0.1 in a temp dir on a real disk (BENCH_TMPDIR,
default /var/tmp). Prints one line per result and a Markdown table."""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "bench-key-0123456789abcdef"
GASES = ["co", "no2", "c2h5oh", "h2", "nh3", "ch4", "c3h8", "c4h10"]
HZ = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    f = s[s.rindex(")") + 2:].split()
    return (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / HZ  # self + reaped children


def mem_kib(pid):
    """VmRSS, VmHWM and RssAnon (its private part: heap and stacks) in KiB."""
    with open("/proc/%d/status" % pid) as f:
        t = f.read()
    return tuple(int(re.search(r"%s:\s+(\d+)" % k, t).group(1))
                 for k in ("VmRSS", "VmHWM", "RssAnon"))


class Gasketd:
    def __init__(self, tmp, binary):
        self.dir = tempfile.mkdtemp(prefix="gasketd.", dir=tmp)
        self.port, self.mqtt = free_port(), free_port()
        self.conf = os.path.join(self.dir, "gasket.ini")
        with open(self.conf, "w") as f:
            f.write("[server]\ndata_dir = %s/data\ndurability = full\nlog_level = warn\n"
                    "[http]\nlisten = 127.0.0.1:%d\n[mqtt]\nlisten = 127.0.0.1:%d\n"
                    "[apikey bench]\nkey = %s\nrate = 1000000\nburst = 1000000\n"
                    % (self.dir, self.port, self.mqtt, KEY))
        self.log = open(os.path.join(self.dir, "gasketd.log"), "ab")
        self.p = subprocess.Popen([binary, "-c", self.conf], stdout=self.log, stderr=self.log)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit("gasketd did not start")

    def count(self):
        db = sqlite3.connect("file:%s/data/gasket.db?mode=ro" % self.dir, uri=True, timeout=10)
        n = db.execute("select count(*) from docs").fetchone()[0]
        db.close()
        return n

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(30)
        self.log.close()


def steady_pub(a, d, mode):
    spool = os.path.join(d.dir, "steady-%s.spool" % mode)
    target = (["--url", "http://127.0.0.1:%d/gasdetector" % d.port, "--key", KEY] if mode == "http"
              else ["--mqtt", "127.0.0.1:%d" % d.mqtt, "--user", "bench", "--password", KEY])
    p = subprocess.Popen([a.pub, "--sim", "--interval", "0.1", "--spool", spool,
                          "--log-level", "warn"] + target,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)  # warm: connected, first readings sent
    c0, t0, before = cpu_s(p.pid), time.time(), d.count()
    time.sleep(a.duration)
    c1, t1, (rss, hwm, anon), after = cpu_s(p.pid), time.time(), mem_kib(p.pid), d.count()
    p.send_signal(signal.SIGTERM)
    if p.wait(30) != 0:
        sys.exit("gasket-pub (%s) exited %d" % (mode, p.returncode))
    readings = after - before
    return {"what": "gasket-pub --sim, %s" % mode.upper(), "readings": readings,
            "seconds": t1 - t0, "cpu_ms_per_reading": (c1 - c0) * 1000 / max(readings, 1),
            "cpu_pct": (c1 - c0) * 100 / (t1 - t0), "rss_kib": rss, "hwm_kib": hwm,
            "anon_kib": anon}


CURL_LOOP = r'''
end=$((SECONDS + %d)); n=0
while [ $SECONDS -lt $end ]; do
  t=$(date '+%%Y-%%m-%%d %%H:%%M:%%S')
  curl -s -o /dev/null -X POST "$URL" -H "x-api-key: $KEY" -H 'Content-Type: application/json' \
    --data-binary "{\"groupid\":\"1\",\"co\":{\"sensorid\":\"0005\",\"sensortype\":\"8\",\"value\":\"4.20\",\"createdtime\":\"$t\"}}"
  n=$((n + 1)); sleep 0.1
done
'''


def steady_curl(a, d):
    env = dict(os.environ, URL="http://127.0.0.1:%d/gasdetector" % d.port, KEY=KEY)
    before, t0 = d.count(), time.time()
    p = subprocess.Popen(["bash", "-c", CURL_LOOP % int(a.duration) + "times"], env=env,
                         stdout=subprocess.PIPE, text=True)
    out, _ = p.communicate()
    t1, after = time.time(), d.count()
    # `times`: the shell's own, then its children's user and system time
    vals = re.findall(r"(\d+)m([\d.]+)s", out)
    cpu = sum(int(m) * 60 + float(s) for m, s in vals)
    readings = after - before
    return {"what": "curl loop (bash + date + curl per reading), HTTP", "readings": readings,
            "seconds": t1 - t0, "cpu_ms_per_reading": cpu * 1000 / max(readings, 1),
            "cpu_pct": cpu * 100 / (t1 - t0), "rss_kib": None, "hwm_kib": None, "anon_kib": None}


def fill_spool(a, spool, n):
    """n readings of 8 gases into spool, the server unreachable."""
    rnd = random.Random(1)
    lines = "".join(json.dumps({g: round(rnd.uniform(0.1, 1000), 2) for g in GASES},
                               separators=(",", ":")) + "\n" for _ in range(n))
    t0 = time.time()
    r = subprocess.run([a.pub, "--stdin", "--url", "http://127.0.0.1:1/gasdetector",
                        "--spool", spool, "--spool-max", "512MiB", "--wait", "0.001",
                        "--log-level", "error"], input=lines, text=True, capture_output=True)
    if r.returncode != 3:
        sys.exit("filling the spool: exit %d: %s" % (r.returncode, r.stderr))
    return time.time() - t0


def drain(a, d, n, batch):
    spool = os.path.join(d.dir, "drain-%d.spool" % batch)
    fill = fill_spool(a, spool, n)
    size = os.path.getsize(spool)
    before, t0 = d.count(), time.time()
    p = subprocess.Popen([a.pub, "--drain", "--url", "http://127.0.0.1:%d/gasdetector" % d.port,
                          "--key", KEY, "--spool", spool, "--spool-max", "512MiB",
                          "--batch", str(batch), "--wait", "0", "--log-level", "warn"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    hwm = 0
    while p.poll() is None:
        try:
            hwm = max(hwm, mem_kib(p.pid)[1])
            cpu = cpu_s(p.pid)
        except (OSError, AttributeError):
            pass
        time.sleep(0.05)
    t1 = time.time()
    if p.returncode != 0:
        sys.exit("drain: exit %d: %s" % (p.returncode, p.stderr.read()))
    stored = d.count() - before
    return {"what": "drain %d readings, --batch %d" % (n, batch), "readings": stored,
            "expected": n, "seconds": t1 - t0, "per_s": stored / (t1 - t0),
            "cpu_s": cpu, "hwm_kib": hwm, "spool_bytes": size, "fill_s": fill}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gasketd", default=os.path.join(ROOT, "build", "gasketd"))
    ap.add_argument("--pub", default=os.path.join(ROOT, "build", "gasket-pub"))
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--drain", type=int, default=100000)
    ap.add_argument("--drain-single", type=int, default=5000)
    ap.add_argument("--skip-curl", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gasket-pub-bench.", dir=os.environ.get("BENCH_TMPDIR", "/var/tmp"))
    results, d = [], None
    try:
        d = Gasketd(tmp, a.gasketd)
        for mode in ("http", "mqtt"):
            r = steady_pub(a, d, mode)
            print("steady: %(what)s: %(readings)d readings in %(seconds).1f s, "
                  "%(cpu_ms_per_reading).3f ms CPU per reading (%(cpu_pct).2f%% of a core), "
                  "VmRSS %(rss_kib)d KiB (RssAnon %(anon_kib)d KiB), VmHWM %(hwm_kib)d KiB" % r,
                  flush=True)
            results.append(r)
        if not a.skip_curl:
            r = steady_curl(a, d)
            print("steady: %(what)s: %(readings)d readings in %(seconds).1f s, "
                  "%(cpu_ms_per_reading).3f ms CPU per reading (%(cpu_pct).2f%% of a core)" % r,
                  flush=True)
            results.append(r)
        for n, batch in ((a.drain, 500), (a.drain_single, 1)):
            r = drain(a, d, n, batch)
            print("drain: %(what)s: %(readings)d of %(expected)d stored in %(seconds).2f s = "
                  "%(per_s).0f readings/s; gasket-pub CPU %(cpu_s).2f s, VmHWM %(hwm_kib)d KiB; "
                  "spool %(spool_bytes)d bytes, filled in %(fill_s).1f s" % r, flush=True)
            results.append(r)
        d.stop()
        d = None
        print("\n| what | readings | CPU per reading | CPU | VmRSS (RssAnon) / VmHWM |")
        print("|---|---:|---:|---:|---:|")
        for r in results:
            if "cpu_ms_per_reading" in r:
                mem = ("%d (%d) / %d KiB" % (r["rss_kib"], r["anon_kib"], r["hwm_kib"])
                       if r["rss_kib"] else "-")
                print("| %s | %d in %.0f s | %.3f ms | %.2f%% | %s |" % (
                    r["what"], r["readings"], r["seconds"], r["cpu_ms_per_reading"],
                    r["cpu_pct"], mem))
        print("\n| drain | stored | time | readings/s | gasket-pub CPU | VmHWM |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in results:
            if "per_s" in r:
                print("| %s | %d | %.2f s | %.0f | %.2f s | %d KiB |" % (
                    r["what"], r["readings"], r["seconds"], r["per_s"], r["cpu_s"], r["hwm_kib"]))
        bad = [r for r in results if "expected" in r and r["readings"] != r["expected"]]
        if bad:
            sys.exit("drain: stored counts differ from the spool's: %s" % bad)
    finally:
        if d and d.p.poll() is None:  # a step failed: gasketd is not left running
            d.p.kill()
            d.p.wait(10)
        if os.environ.get("KEEP_TMP") == "1":
            print("temp dir kept: " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
