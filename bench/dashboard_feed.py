#!/usr/bin/python3
"""dashboard_feed.py: live readings for bench/dashboard.sh.

  dashboard_feed.py --port P --key K [--rate R] [--seconds S] [--groups G]
                    [--conns C]

POSTs device readings to http://127.0.0.1:P/gasdetector at R readings per
second in all (default 200) for S seconds over C keep-alive connections,
groups "1".."G" in turn, so that every group's card and chart move. no2
crosses the warning level (88) now and then, so alarms are raised and
cleared while the page watches. Prints one line at the end:
  FEED sent=N ok=N errors=N seconds=S rate=R
and exits 1 when a reply was not 200 (the first is printed) or the rate fell
short of 90% of R.
"""
import argparse
import http.client
import json
import random
import sys
import threading
import time

GASES = ["no2", "co", "c2h5oh", "h2", "nh3", "ch4", "c3h8", "c4h10"]


def reading(rng, group, t):
    doc = {"groupid": str(group), "gps": "37.%06d, 126.%06d" % (500000 + group * 997 % 200000,
                                                               900000 + group * 577 % 90000)}
    for i, g in enumerate(GASES):
        v = rng.uniform(0.5, 80.0) if g == "no2" and rng.random() > 0.02 else rng.uniform(88, 130) \
            if g == "no2" else rng.uniform(1, 50)
        doc[g] = {"sensorid": "%04d" % i, "sensortype": "8", "value": "%.2f" % v,
                  "createdtime": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))}
    return json.dumps(doc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--groups", type=int, default=200)
    ap.add_argument("--conns", type=int, default=4)
    a = ap.parse_args()

    lock = threading.Lock()
    counts = {"sent": 0, "ok": 0, "errors": 0, "first": None}
    start = time.monotonic()
    total = int(a.rate * a.seconds)

    def worker(k):
        rng = random.Random(k)
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
        n = k
        while n < total:
            due = start + n / a.rate           # reading n is due at this time
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body = reading(rng, n % a.groups + 1, time.time())
            try:
                conn.request("POST", "/gasdetector", body,
                             {"content-type": "application/json", "x-api-key": a.key})
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
                err = None if ok else "HTTP %d" % r.status
            except OSError as e:
                ok, err = False, repr(e)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
            with lock:
                counts["sent"] += 1
                counts["ok" if ok else "errors"] += 1
                if err and counts["first"] is None:
                    counts["first"] = err
            n += a.conns
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - start
    rate = counts["sent"] / secs if secs > 0 else 0
    print("FEED sent=%d ok=%d errors=%d seconds=%.1f rate=%.1f" %
          (counts["sent"], counts["ok"], counts["errors"], secs, rate))
    if counts["first"]:
        print("first error: " + counts["first"])
    sys.exit(1 if counts["errors"] or rate < 0.9 * a.rate else 0)


if __name__ == "__main__":
    main()
