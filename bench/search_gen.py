#!/usr/bin/python3
"""search_gen.py: data for bench/search.sh, and its loader.

  search_gen.py gen  --dir DIR [--docs N] [--groups G] [--days D] [--end EPOCH]
                     [--bulk B] [--lines L] [--seed S]
  search_gen.py load --dir DIR --target gasket|influx --port P [--key K]
                     [--conns C] [--timeout S]

gen writes, from one seeded generator, the same readings twice:
  DIR/bulk.ndjson + bulk.idx     _bulk bodies of B documents each (NDJSON,
                                 {"index":{"_index":"gasdetect"}} + source)
  DIR/influx.lp   + influx.idx   /write bodies of L lines each (precision=s)
  DIR/meta.json                  counts, time span, expected answers, sizes
                                 (bulk_bytes: the _bulk bodies; source_bytes:
                                 their document lines alone; lp_bytes)
N documents (default 1,250,000 = 10M measurements of 8 gases) for G groups
"1".."G", readings of each group evenly spaced over the D days ending at
--end (default: now), groups staggered within one spacing, in time order
across groups (as devices would post them). Each document is the device
payload: groupid, gps, 8 gases {sensorid, sensortype, value (a string with
2 decimals), createdtime}, and "date" (YYYY-MM-DD HH:MM:SS, UTC). no2 is in
[0.5, 80) except in ~1% of readings, in [88, 120). InfluxDB's schema: one
measurement `gas`, tag `groupid`, one float field per gas, timestamp in s.

load sends every body of DIR to one server over C keep-alive connections
(threads taking the next body in turn) and prints one line:
  LOAD target=T docs=N measurements=M bodies=K seconds=S docs_per_s=R
       meas_per_s=R errors=E
A gasket _bulk reply must be 200 with "errors":false, an InfluxDB /write 204;
anything else counts as an error (the first is printed) and the exit status
is 1.
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time

GASES = ["no2", "co", "c2h5oh", "h2", "nh3", "ch4", "c3h8", "c4h10"]
# value ranges (ppm) per gas; no2 is special-cased for the >= 88 share
RANGES = {"co": (0.5, 30.0), "c2h5oh": (1.0, 500.0), "h2": (1.0, 1000.0), "nh3": (0.5, 20.0),
          "ch4": (100.0, 3000.0), "c3h8": (10.0, 800.0), "c4h10": (10.0, 600.0)}
NO2_HIGH = 0.01
ACTION = b'{"index":{"_index":"gasdetect"}}\n'


def fmt_time(t):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def gen(a):
    rnd = random.Random(a.seed)
    end = int(a.end if a.end else time.time())
    span = a.days * 86400
    per_group = a.docs // a.groups
    n = per_group * a.groups
    step = span / per_group
    os.makedirs(a.dir, exist_ok=True)
    gps = ["%.6f, %.6f" % (37.5 + rnd.random() * 0.2, 126.9 + rnd.random() * 0.2)
           for _ in range(a.groups)]
    # per group: the document prefix up to the first gas, and the sensor ids
    sid = [[("%02d%02d" % (g % 100, k)) for k in range(len(GASES))] for g in range(a.groups)]
    bulk = open(os.path.join(a.dir, "bulk.ndjson"), "wb")
    lp = open(os.path.join(a.dir, "influx.lp"), "wb")
    bidx, lidx = [], []
    bbuf, lbuf = [], []
    boff = loff = 0
    high7d = 0
    first_t = last_t = None
    for i in range(per_group):
        base = end - span + (i + 1) * step
        for g in range(a.groups):
            # staggered: group g reads g/G of a spacing before the round's end
            t = int(base - (a.groups - 1 - g) * step / a.groups)
            if first_t is None or t < first_t:
                first_t = t
            if last_t is None or t > last_t:
                last_t = t
            d = fmt_time(t)
            vals = []
            for k, gas in enumerate(GASES):
                if k == 0:
                    if rnd.random() < NO2_HIGH:
                        v = round(rnd.uniform(88.0, 120.0), 2)
                    else:
                        v = round(rnd.uniform(0.5, 80.0), 2)
                else:
                    lo, hi = RANGES[gas]
                    v = round(rnd.uniform(lo, hi), 2)
                vals.append(v)
            if vals[0] >= 88 and t > end - 7 * 86400:
                high7d += 1
            gid = str(g + 1)
            parts = ['{"groupid":"%s","gps":"%s"' % (gid, gps[g])]
            for k, gas in enumerate(GASES):
                parts.append(',"%s":{"sensorid":"%s","sensortype":"8","value":"%.2f",'
                             '"createdtime":"%s"}' % (gas, sid[g][k], vals[k], d))
            parts.append(',"date":"%s"}\n' % d)
            bbuf.append(ACTION + "".join(parts).encode())
            lbuf.append(("gas,groupid=%s %s %d\n" % (
                gid, ",".join("%s=%.2f" % (gas, vals[k]) for k, gas in enumerate(GASES)), t)).encode())
            if len(bbuf) == a.bulk:
                body = b"".join(bbuf)
                bulk.write(body)
                bidx.append([boff, len(body), len(bbuf)])
                boff += len(body)
                bbuf = []
            if len(lbuf) == a.lines:
                body = b"".join(lbuf)
                lp.write(body)
                lidx.append([loff, len(body), len(lbuf)])
                loff += len(body)
                lbuf = []
    for buf, f, idx, off in ((bbuf, bulk, bidx, boff), (lbuf, lp, lidx, loff)):
        if buf:
            body = b"".join(buf)
            f.write(body)
            idx.append([off, len(body), len(buf)])
    bulk.close()
    lp.close()
    json.dump(bidx, open(os.path.join(a.dir, "bulk.idx"), "w"))
    json.dump(lidx, open(os.path.join(a.dir, "influx.idx"), "w"))
    meta = dict(docs=n, groups=a.groups, gases=len(GASES), measurements=n * len(GASES),
                per_group=per_group, step_s=step, end=end, first=first_t, last=last_t,
                days=a.days, bulk_size=a.bulk, line_batch=a.lines, no2_ge_88_last_7d=high7d,
                bulk_bytes=sum(x[1] for x in bidx), lp_bytes=sum(x[1] for x in lidx),
                source_bytes=sum(x[1] for x in bidx) - n * len(ACTION), seed=a.seed)
    json.dump(meta, open(os.path.join(a.dir, "meta.json"), "w"), indent=1)
    print("GEN docs=%d groups=%d step_s=%.3f first=%s last=%s bulk_bodies=%d lp_bodies=%d "
          "no2_ge_88_7d=%d" % (n, a.groups, step, fmt_time(first_t), fmt_time(last_t),
                               len(bidx), len(lidx), high7d))


def load(a):
    name = "bulk" if a.target == "gasket" else "influx"
    ext = "ndjson" if a.target == "gasket" else "lp"
    idx = json.load(open(os.path.join(a.dir, name + ".idx")))
    meta = json.load(open(os.path.join(a.dir, "meta.json")))
    path = os.path.join(a.dir, "%s.%s" % (name, ext))
    fd = os.open(path, os.O_RDONLY)
    if a.target == "gasket":
        url = "/_bulk"
        headers = {"Content-Type": "application/x-ndjson", "x-api-key": a.key}
    else:
        url = "/write?db=gas&precision=s"
        headers = {"Content-Type": "text/plain; charset=utf-8"}
    lock = threading.Lock()
    state = {"next": 0, "docs": 0, "errors": 0, "first_error": None}

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=a.timeout)
        while True:
            with lock:
                k = state["next"]
                if k >= len(idx):
                    break
                state["next"] = k + 1
            off, ln, nd = idx[k]
            body = os.pread(fd, ln, off)
            err = None
            try:
                conn.request("POST", url, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                if a.target == "gasket":
                    if r.status != 200 or b'"errors":false' not in data[:200]:
                        err = "status %d: %s" % (r.status, data[:300])
                elif r.status != 204:
                    err = "status %d: %s" % (r.status, data[:300])
            except (OSError, http.client.HTTPException) as e:
                err = "%s: %s" % (type(e).__name__, e)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=a.timeout)
            with lock:
                if err:
                    state["errors"] += 1
                    if state["first_error"] is None:
                        state["first_error"] = "body %d: %s" % (k, err)
                else:
                    state["docs"] += nd
        conn.close()

    t0 = time.perf_counter()
    ths = [threading.Thread(target=worker) for _ in range(a.conns)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    secs = time.perf_counter() - t0
    os.close(fd)
    docs = state["docs"]
    if state["first_error"]:
        print("load %s: first error: %s" % (a.target, state["first_error"]), file=sys.stderr)
    print("LOAD target=%s docs=%d measurements=%d bodies=%d seconds=%.2f docs_per_s=%.0f "
          "meas_per_s=%.0f errors=%d" % (a.target, docs, docs * meta["gases"], len(idx), secs,
                                         docs / secs, docs * meta["gases"] / secs, state["errors"]))
    return 1 if state["errors"] or docs != meta["docs"] else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--dir", required=True)
    g.add_argument("--docs", type=int, default=1250000)
    g.add_argument("--groups", type=int, default=100)
    g.add_argument("--days", type=int, default=14)
    g.add_argument("--end", type=int, default=0)
    g.add_argument("--bulk", type=int, default=2000)
    g.add_argument("--lines", type=int, default=5000)
    g.add_argument("--seed", type=int, default=20261126)
    lo = sub.add_parser("load")
    lo.add_argument("--dir", required=True)
    lo.add_argument("--target", choices=["gasket", "influx"], required=True)
    lo.add_argument("--port", type=int, required=True)
    lo.add_argument("--key", default="")
    lo.add_argument("--conns", type=int, default=4)
    lo.add_argument("--timeout", type=float, default=120)
    a = p.parse_args()
    if a.cmd == "gen":
        if a.docs < a.groups or a.groups < 1 or a.bulk < 1 or a.lines < 1:
            p.error("need docs >= groups >= 1, bulk >= 1, lines >= 1")
        gen(a)
        return 0
    return load(a)


if __name__ == "__main__":
    sys.exit(main())
