#!/usr/bin/python3
"""search_queries.py: the queries of bench/search.sh, checked and timed.

  search_queries.py check --gport P --key K --iport P [--group 17]
  search_queries.py time  --gport P --key K --iport P [-n 20] [--warmup 3]
  search_queries.py loop  --gport P --key K --seconds S

The four queries of issue 5, in gasket's query DSL (POST /gasdetect/_search,
/_count) and the equivalent InfluxQL (GET /query?db=gas&epoch=ms):
  a  last 24 h, 1-minute average of no2 for group 17
  b  14 days, 1-hour average and max of no2 for each of the 100 groups
  c  the latest document of each group (top_hits size 1 by date desc;
     InfluxQL: SELECT * ... GROUP BY groupid ORDER BY time DESC LIMIT 1)
  c2 InfluxQL's cheaper last(no2) per group, for reference (InfluxDB only)
  d  the count of no2 >= 88 over the last 7 days

check compares the answers: (a) every non-empty minute bucket (key, avg),
(b) every non-empty (group, hour) bucket (key, avg, max), (c) each group's
latest date and no2, (d) the count. A query whose answers differ is tried
again (up to 3 times: `now` is read by each server at its own instant, so a
reading exactly at a window's edge may be in one answer only) and then
reported as a MISMATCH line. Prints one CHECK line per query; exit 1 when
any query mismatched or failed.

time runs each query --warmup times per system, then -n times alternating
gasket and InfluxDB, each a request on a keep-alive connection timed from
sending to the last byte of the answer. Prints one TIME line per query:
  TIME q=a gasket_med_ms=.. gasket_p90_ms=.. influx_med_ms=.. influx_p90_ms=..
       ratio=.. gasket_bytes=.. influx_bytes=..
ratio = InfluxDB median / gasket median.

loop runs a, b, c, d in turn against gasket for S seconds (the "ingest under
query load" run) and prints LOOP rounds=N seconds=S and per-query medians.
"""
import argparse
import calendar
import http.client
import json
import math
import re
import statistics
import sys
import time
import urllib.parse

GQ = {
    "a": ("_search", {
        "size": 0,
        "query": {"bool": {"filter": [{"term": {"groupid": "17"}},
                                      {"range": {"date": {"gte": "now-24h"}}}]}},
        "aggs": {"m": {"date_histogram": {"field": "date", "fixed_interval": "1m"},
                       "aggs": {"avg": {"avg": {"field": "no2.value"}}}}}}),
    "b": ("_search", {
        "size": 0,
        "query": {"range": {"date": {"gte": "now-14d"}}},
        "aggs": {"g": {"terms": {"field": "groupid", "size": 100},
                       "aggs": {"h": {"date_histogram": {"field": "date", "fixed_interval": "1h"},
                                      "aggs": {"avg": {"avg": {"field": "no2.value"}},
                                               "max": {"max": {"field": "no2.value"}}}}}}}}),
    "c": ("_search", {
        "size": 0,
        "aggs": {"g": {"terms": {"field": "groupid", "size": 100},
                       "aggs": {"last": {"top_hits": {"size": 1,
                                                      "sort": [{"date": {"order": "desc"}}]}}}}}}),
    "d": ("_count", {
        "query": {"bool": {"filter": [{"range": {"date": {"gte": "now-7d"}}},
                                      {"range": {"no2.value": {"gte": 88}}}]}}}),
}
IQ = {
    "a": "SELECT mean(no2) FROM gas WHERE groupid='17' AND time >= now()-24h GROUP BY time(1m)",
    "b": "SELECT mean(no2), max(no2) FROM gas WHERE time >= now()-14d GROUP BY time(1h), groupid",
    "c": "SELECT * FROM gas GROUP BY groupid ORDER BY time DESC LIMIT 1",
    "c2": "SELECT last(no2) FROM gas GROUP BY groupid",
    "d": "SELECT count(no2) FROM gas WHERE no2 >= 88 AND time >= now()-7d",
}


class Client:
    """One keep-alive connection; reconnects once on a dropped connection."""

    def __init__(self, port, timeout=120):
        self.port, self.timeout = port, timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(self, method, url, body=None, headers=None):
        for attempt in (0, 1):
            try:
                self.conn.request(method, url, body=body, headers=headers or {})
                r = self.conn.getresponse()
                return r.status, r.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                if attempt:
                    raise


UNIT_MS = {"h": 3600000, "d": 86400000}


def pin(text, now_ms, influx):
    """text with each `now-14d` (InfluxQL: `now()-14d`) made that instant,
    so that both systems cut a range at the same millisecond (check mode:
    queries sent a few seconds apart would otherwise cut at different
    points, and a range's first bucket would differ)."""
    if now_ms is None:
        return text
    pat = r"now\(\)-(\d+)([hd])" if influx else r'"now-(\d+)([hd])"'
    fmt = "%dms" if influx else "%d"
    return re.sub(pat, lambda m: fmt % (now_ms - int(m.group(1)) * UNIT_MS[m.group(2)]), text)


class Gasket:
    def __init__(self, port, key, group, now_ms=None):
        self.c = Client(port)
        self.h = {"Content-Type": "application/json", "x-api-key": key}
        self.bodies = {}
        for q, (ep, dsl) in GQ.items():
            dsl = json.loads(pin(json.dumps(dsl).replace('"17"', json.dumps(group)), now_ms, False))
            self.bodies[q] = ("/gasdetect/" + ep, json.dumps(dsl).encode())

    def raw(self, q):
        url, body = self.bodies[q]
        st, data = self.c.request("POST", url, body, self.h)
        if st != 200:
            raise RuntimeError("gasket %s: status %d: %s" % (q, st, data[:300]))
        return data


class Influx:
    def __init__(self, port, group, now_ms=None):
        self.c = Client(port)
        self.urls = {q: "/query?" + urllib.parse.urlencode(
            {"db": "gas", "epoch": "ms", "q": pin(s.replace("'17'", "'%s'" % group), now_ms, True)})
            for q, s in IQ.items()}

    def raw(self, q):
        st, data = self.c.request("GET", self.urls[q])
        if st != 200 or b'"error"' in data[:200]:
            raise RuntimeError("influx %s: status %d: %s" % (q, st, data[:300]))
        return data


# ---- answers reduced to comparable maps ------------------------------------

def g_a(d):
    return {b["key"]: b["avg"]["value"] for b in d["aggregations"]["m"]["buckets"] if b["doc_count"]}


def i_series(d):
    r = d["results"][0]
    if "error" in r:
        raise RuntimeError(r["error"])
    return r.get("series", [])


def i_a(d):
    out = {}
    for s in i_series(d):
        for t, v in s["values"]:
            if v is not None:
                out[t] = v
    return out


def g_b(d):
    out = {}
    for g in d["aggregations"]["g"]["buckets"]:
        for b in g["h"]["buckets"]:
            if b["doc_count"]:
                out[(g["key"], b["key"])] = (b["avg"]["value"], b["max"]["value"])
    return out


def i_b(d):
    out = {}
    for s in i_series(d):
        gid = s["tags"]["groupid"]
        for t, mean, mx in s["values"]:
            if mean is not None:
                out[(gid, t)] = (mean, mx)
    return out


def parse_date(s):
    """`date` as the benchmark's gasketd writes it ([server] timezone = UTC) to epoch ms."""
    return calendar.timegm(time.strptime(s, "%Y-%m-%d %H:%M:%S")) * 1000


def g_c(d):
    out = {}
    for g in d["aggregations"]["g"]["buckets"]:
        h = g["last"]["hits"]["hits"][0]["_source"]
        out[g["key"]] = (parse_date(h["date"]), float(h["no2"]["value"]))
    return out


def i_c(d):
    out = {}
    for s in i_series(d):
        cols = s["columns"]
        row = s["values"][0]
        out[s["tags"]["groupid"]] = (row[cols.index("time")], row[cols.index("no2")])
    return out


def g_d(d):
    return {"count": d["count"]}


def i_d(d):
    ss = i_series(d)
    return {"count": ss[0]["values"][0][1] if ss else 0}


REDUCE = {"a": (g_a, i_a), "b": (g_b, i_b), "c": (g_c, i_c), "d": (g_d, i_d)}


def close(x, y):
    if isinstance(x, tuple):
        return all(close(p, q) for p, q in zip(x, y))
    if x is None or y is None:
        return x is y
    return math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-9)


def diff(gm, im):
    """A list of differences (at most 5 described) between two maps."""
    out = []
    only_g = sorted(set(gm) - set(im))
    only_i = sorted(set(im) - set(gm))
    if only_g:
        out.append("%d keys only in gasket (e.g. %s)" % (len(only_g), only_g[:3]))
    if only_i:
        out.append("%d keys only in InfluxDB (e.g. %s)" % (len(only_i), only_i[:3]))
    bad = [k for k in sorted(set(gm) & set(im)) if not close(gm[k], im[k])]
    if bad:
        out.append("%d values differ (e.g. %s)" % (
            len(bad), ["%s: gasket %s, influx %s" % (k, gm[k], im[k]) for k in bad[:3]]))
    return out


def check(a):
    now_ms = int(time.time() * 1000)
    g, i = Gasket(a.gport, a.key, a.group, now_ms), Influx(a.iport, a.group, now_ms)
    bad = 0
    for q in "abcd":
        rg, ri = REDUCE[q]
        for attempt in range(1, 4):
            gm = rg(json.loads(g.raw(q)))
            im = ri(json.loads(i.raw(q)))
            dd = diff(gm, im)
            if not dd:
                break
            time.sleep(1)
        n = len(gm)
        what = {"a": "non-empty minute buckets", "b": "non-empty (group, hour) buckets",
                "c": "groups", "d": "count"}[q]
        if q == "d":
            n = gm["count"]
        if dd:
            bad += 1
            print("CHECK q=%s MISMATCH (%s %d; after %d tries): %s" % (q, what, n, attempt, "; ".join(dd)))
        else:
            print("CHECK q=%s ok (%s %d, equal in both%s)" % (
                q, what, n, "" if attempt == 1 else ", on try %d" % attempt))
    return 1 if bad else 0


def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo = math.floor(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def timed(f, q):
    t = time.perf_counter()
    data = f(q)
    return (time.perf_counter() - t) * 1000, len(data)


def time_all(a):
    g, i = Gasket(a.gport, a.key, a.group), Influx(a.iport, a.group)
    for q in ["a", "b", "c", "c2", "d"]:
        tg, ti, gb, ib = [], [], 0, 0
        has_g = q in GQ
        for _ in range(a.warmup):
            if has_g:
                g.raw(q)
            i.raw(q)
        for k in range(a.n):
            # alternate which system goes first
            order = [(g, tg), (i, ti)] if k % 2 == 0 else [(i, ti), (g, tg)]
            for sysm, acc in order:
                if sysm is g and not has_g:
                    continue
                ms, nb = timed(sysm.raw, q)
                acc.append(ms)
                if sysm is g:
                    gb = nb
                else:
                    ib = nb
        if has_g:
            gm, gp = statistics.median(tg), pct(tg, 0.9)
            print("TIME q=%s gasket_med_ms=%.2f gasket_p90_ms=%.2f influx_med_ms=%.2f "
                  "influx_p90_ms=%.2f ratio=%.2f gasket_bytes=%d influx_bytes=%d n=%d" % (
                      q, gm, gp, statistics.median(ti), pct(ti, 0.9),
                      statistics.median(ti) / gm, gb, ib, a.n))
        else:
            print("TIME q=%s influx_med_ms=%.2f influx_p90_ms=%.2f influx_bytes=%d n=%d" % (
                q, statistics.median(ti), pct(ti, 0.9), ib, a.n))
        sys.stdout.flush()
    return 0


def loop(a):
    g = Gasket(a.gport, a.key, a.group)
    ts = {q: [] for q in "abcd"}
    t0 = time.monotonic()
    rounds = 0
    while time.monotonic() - t0 < a.seconds:
        for q in "abcd":
            ts[q].append(timed(g.raw, q)[0])
        rounds += 1
        if a.pause:
            time.sleep(a.pause)
    secs = time.monotonic() - t0
    print("LOOP rounds=%d seconds=%.2f %s" % (rounds, secs, " ".join(
        "%s_med_ms=%.2f" % (q, statistics.median(ts[q])) for q in "abcd" if ts[q])))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cmd", choices=["check", "time", "loop"])
    p.add_argument("--gport", type=int, required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--iport", type=int)
    p.add_argument("--group", default="17")
    p.add_argument("-n", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--pause", type=float, default=0)
    a = p.parse_args()
    if a.cmd != "loop" and not a.iport:
        p.error("--iport is needed for " + a.cmd)
    return {"check": check, "time": time_all, "loop": loop}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
