"""What the upgrade tests (test_upgrade_v4.py, test_upgrade_v5.py, ...)
share. Each release's data directory is a fixture (tests/fixtures/datadir-vN/,
made by make-datadir-vN.py with datadir-vN.ini, its answers kept in
datadir-vN.expected.json); this gasketd starts on a copy of it, and its
content is checked through HTTP and MQTT only, never a schema, so the checks
hold across any migration of the store: every document's _source byte for
byte and its time, the counts, the measurements (avg and max per group,
date histograms by minute and by hour, through the rollups and through the
raw values), the alarms, the retained and queued MQTT messages, the
idempotency keys, and that new documents continue the ids and the rules
their state."""
import copy
import datetime
import json
import os
import shutil
import subprocess
import time
import zoneinfo
from pathlib import Path

import pytest

from conftest import ini_keys
from raw_json import raw_sources

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# A groupid no document has: a must_not on it changes no answer but makes a
# query that the rollups would answer (query_rollup.c) read the raw values.
RAW = {"must_not": [{"term": {"groupid": "no such group"}}]}


class Fixture:
    """tests/fixtures/NAME/ with its .ini and its expected answers."""

    def __init__(self, name):
        self.name = name
        self.expected = json.loads((FIXTURES / (name + ".expected.json")).read_text())
        self.ini_text = (FIXTURES / (name + ".ini")).read_text()
        self.zone = zoneinfo.ZoneInfo(ini_keys(self.ini_text).get(("server", "timezone"), "UTC"))
        idem = self.expected["idempotent"]
        if isinstance(idem, dict):  # datadir-v4: one request on the route, by header
            idem = [{"path": "/gasdetector", "headers": {"Idempotency-Key": idem["key"]},
                     "body": idem["body"], "reply": idem["reply"]}]
        self.idempotent = idem

    def copy(self, data):
        """The fixture's data directory copied to data, 0700/0600 as gasketd
        makes one."""
        shutil.copytree(FIXTURES / self.name, data)
        os.chmod(data, 0o700)
        for f in data.iterdir():
            os.chmod(f, 0o600)

    def ini(self, data):
        return self.ini_text.replace("DATA_DIR", str(data))

    def start(self, daemon_factory, tmp_path):
        """gasketd started on a copy of the fixture with the configuration
        that made it; .key is the fixture's default key."""
        data = tmp_path / "data"
        self.copy(data)
        d = daemon_factory(ini=self.ini(data))
        d.key = (data / "apikey").read_text().strip()
        return d

    def plus(self, docs):
        """This fixture with documents posted to it since ({_index, _id,
        _source, ts} each): what the checks expect once they are in."""
        fx = copy.copy(self)
        fx.expected = dict(self.expected)
        fx.expected["docs"] = sorted(self.expected["docs"] + docs, key=lambda x: (x["_index"], int(x["_id"])))
        fx.expected["count"] = {index: n + sum(1 for x in docs if x["_index"] == index)
                                for index, n in self.expected["count"].items()}
        return fx

    def docs(self, index):
        return [x for x in self.expected["docs"] if x["_index"] == index]

    def ts(self, doc):
        """A document's time in epoch ms: as the expected file has it, or
        (datadir-v4) read from its `date` text in the fixture's time zone."""
        if "ts" in doc:
            return doc["ts"]
        t = datetime.datetime.strptime(json.loads(doc["_source"])["date"], "%Y-%m-%d %H:%M:%S")
        return int(t.replace(tzinfo=self.zone).timestamp()) * 1000

    def rows(self, index):
        """[(ts, groupid, {measurement: value})] of the index's documents,
        from the expected _sources."""
        out = []
        for doc in self.docs(index):
            src = json.loads(doc["_source"])
            meas = {k: float(v["value"]) for k, v in src.items() if isinstance(v, dict) and "value" in v}
            out.append((self.ts(doc), str(src["groupid"]), meas))
        return out

    def floor(self, ts, unit):
        """The start of ts's minute or hour in the fixture's time zone, epoch ms."""
        t = datetime.datetime.fromtimestamp(ts / 1000, self.zone)
        t = t.replace(second=0, microsecond=0) if unit == "1m" else t.replace(minute=0, second=0, microsecond=0)
        return int(t.timestamp()) * 1000

    def local_ms(self, text):
        """Epoch ms of "YYYY-MM-DD HH:MM:SS" in the fixture's time zone."""
        t = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=self.zone)
        return int(t.timestamp()) * 1000


def call(d, method, path, body=None, headers=None, want=200):
    st, _, b = d.request(method, path, body, headers=headers, key=d.key)
    assert st == want, (path, st, b)
    return b.decode()


def search(d, index, body):
    return json.loads(call(d, "POST", "/%s/_search" % index, body))


def mqtt_sub(d, *args):
    """mosquitto_sub logged in with the fixture's default key: its lines."""
    return subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(d.mqtt_port), "-u", "default",
                           "-P", d.key, "-q", "1", "-W", "10"] + list(args),
                          check=True, timeout=20, capture_output=True, text=True).stdout.splitlines()


def metrics(rows, gases):
    """(doc_count, {gas: (avg, max)}) of rows; (None, None) for a gas none has."""
    out = {}
    for gas in gases:
        v = [m[gas] for _, _, m in rows if gas in m]
        out[gas] = (sum(v) / len(v), max(v)) if v else (None, None)
    return len(rows), out


def metric_aggs(gases):
    return {"%s_%s" % (gas, f): {f: {"field": gas + ".value"}} for gas in gases for f in ("avg", "max")}


def bucket_metrics(b, gases):
    return b["doc_count"], {gas: (b[gas + "_avg"]["value"], b[gas + "_max"]["value"]) for gas in gases}


def assert_metrics(got, want, where):
    """got == want, averages to 1e-12 relative (rollups add sums in another
    order than the raw values, docs/search.md)."""
    assert got[0] == want[0], (where, got, want)
    assert got[1].keys() == want[1].keys(), where
    for gas, (avg, mx) in want[1].items():
        assert got[1][gas] == ((None, None) if avg is None else (pytest.approx(avg, rel=1e-12), mx)), \
            (where, gas, got[1][gas], (avg, mx))


def check_documents(d, fx):
    """Every document of the fixture, _source byte for byte, its time (the
    `sort` value of a sort on date) and the counts."""
    for index, count in fx.expected["count"].items():
        body = call(d, "POST", "/%s/_search" % index,
                    {"size": 1000, "query": {"match_all": {}}, "sort": [{"date": "asc"}]})
        hits = json.loads(body)["hits"]
        assert hits["total"]["value"] == count
        got = sorted(({"_index": h["_index"], "_id": h["_id"], "_source": raw, "ts": h["sort"][0]}
                      for h, raw in zip(hits["hits"], raw_sources(body))),
                     key=lambda x: int(x["_id"]))
        want = [dict(x, ts=fx.ts(x)) for x in fx.docs(index)]
        assert got == want
        assert json.loads(call(d, "GET", "/%s/_count" % index))["count"] == count


def check_group_metrics(d, fx, index, gases):
    """Per group of the index: doc_count and each gas's avg and max, asked
    as the rollups answer it and as the raw values do."""
    rows = fx.rows(index)
    want = {g: metrics([r for r in rows if r[1] == g], gases) for g in {r[1] for r in rows}}
    for query in ({"match_all": {}}, {"bool": RAW}):
        r = search(d, index, {"size": 0, "query": query, "aggs": {"g": {
            "terms": {"field": "groupid", "size": 100}, "aggs": metric_aggs(gases)}}})
        got = {b["key"]: bucket_metrics(b, gases) for b in r["aggregations"]["g"]["buckets"]}
        assert got.keys() == want.keys(), (index, query)
        for g in want:
            assert_metrics(got[g], want[g], (index, g, query))


def range_query(fx, groups, lo, hi, raw=False):
    """A query of groups (None: all) over [lo, hi) (local text, None: no
    bound); raw: one the rollups cannot answer, with the same answer."""
    filt = []
    if groups is not None:
        filt.append({"terms": {"groupid": groups}})
    if lo or hi:
        filt.append({"range": {"date": {k: fx.local_ms(v) for k, v in (("gte", lo), ("lt", hi)) if v}}})
    return {"bool": dict({"filter": filt}, **(RAW if raw else {}))}


def check_histogram(d, fx, index, gases, interval, groups=None, lo=None, hi=None):
    """A date_histogram (min_doc_count 1, in the fixture's time zone) of
    doc_count and each gas's avg and max under a terms on groupid, over
    groups and [lo, hi): through the rollups and through the raw values,
    both as computed from the expected documents."""
    rows = [r for r in fx.rows(index) if (groups is None or r[1] in groups)
            and (lo is None or r[0] >= fx.local_ms(lo)) and (hi is None or r[0] < fx.local_ms(hi))]
    want = {}
    for g in {r[1] for r in rows}:
        mine = [r for r in rows if r[1] == g]
        keys = sorted({fx.floor(r[0], interval) for r in mine})
        want[g] = [(k, metrics([r for r in mine if fx.floor(r[0], interval) == k], gases)) for k in keys]
    assert want, "a histogram of nothing"
    dh = {"date_histogram": {"field": "date", "fixed_interval": interval, "min_doc_count": 1,
                             "time_zone": str(fx.zone)}, "aggs": metric_aggs(gases)}
    for raw in (False, True):
        r = search(d, index, {"size": 0, "query": range_query(fx, groups, lo, hi, raw),
                              "aggs": {"g": {"terms": {"field": "groupid", "size": 100}, "aggs": {"h": dh}}}})
        got = {b["key"]: [(h["key"], bucket_metrics(h, gases)) for h in b["h"]["buckets"]]
               for b in r["aggregations"]["g"]["buckets"]}
        assert got.keys() == want.keys(), (index, interval, groups, raw)
        for g in want:
            assert [k for k, _ in got[g]] == [k for k, _ in want[g]], (index, interval, g, raw)
            for (k, m), (_, w) in zip(got[g], want[g]):
                assert_metrics(m, w, (index, interval, g, k, raw))


def check_count(d, fx, index, gas, gte, groups=None, lo=None, hi=None):
    """_count of the documents of groups over [lo, hi) whose gas >= gte
    (counted from the rollups' min and max where they decide, and raw)."""
    want = sum(1 for ts, g, m in fx.rows(index) if (groups is None or g in groups)
               and (lo is None or ts >= fx.local_ms(lo)) and (hi is None or ts < fx.local_ms(hi))
               and m.get(gas, float("-inf")) >= gte)
    assert want > 0
    for raw in (False, True):
        q = range_query(fx, groups, lo, hi, raw)
        q["bool"]["filter"].append({"range": {gas + ".value": {"gte": gte}}})
        body = call(d, "POST", "/%s/_count" % index, {"query": q})
        assert json.loads(body)["count"] == want, (index, gas, gte, groups, lo, hi, raw)


def check_alarms(d, fx):
    """The alarm history as the fixture's gasketd listed it, acknowledgements included."""
    assert json.loads(call(d, "GET", "/alarms")) == fx.expected["alarms"]


def check_mqtt(d, fx):
    """The retained messages to a new subscriber; the persistent session's queued message."""
    assert sorted(mqtt_sub(d, "-t", "site/#", "-F", "%r %q %t %p", "-C", str(len(fx.expected["retained"])))) \
        == fx.expected["retained"]
    q = fx.expected["queued"]
    assert mqtt_sub(d, "-c", "-i", q["client_id"], "-t", q["filter"], "-v", "-C", "1") == [q["message"]]


def check_continues(d, fx):
    """New documents continue each index's _seq_no and the ids; the rules
    kept their state: group 7's active no2 alarm is cleared, no new one."""
    exp = fx.expected
    last = exp["last"]
    top = max(int(x["_id"]) for x in exp["docs"])
    r = json.loads(call(d, "POST", "/gasdetector", {"groupid": "7", "no2": {"value": 10}}))
    assert (r["_id"], r["_seq_no"]) == (str(top + 1), last["gasdetect"]["_seq_no"] + 1)
    alarms = json.loads(call(d, "GET", "/alarms"))
    assert alarms["total"] == exp["alarms"]["total"]
    assert [(a["group"], a["rule"], a["state"]) for a in alarms["alarms"]] == [
        (a["group"], a["rule"], "cleared" if a["group"] == "7" else a["state"])
        for a in exp["alarms"]["alarms"]]
    assert any(a["group"] == "7" and a["state"] == "active" for a in exp["alarms"]["alarms"])
    r = json.loads(call(d, "POST", "/other/_doc", {"groupid": "9", "temperature": {"value": 21}}, want=201))
    assert (r["_id"], r["_seq_no"]) == (str(top + 2), last["other"]["_seq_no"] + 1)


def check_idempotent(d, fx):
    """Each idempotent request of the fixture sent again: answered as the
    first time (for _bulk, its items), nothing stored."""
    # the fixtures run with idempotency_window = 365d, the longest there is
    if time.time() - fx.expected["made_at"] > 364 * 86400:
        pytest.skip("the fixture's idempotency keys are past the longest window: remake it")
    for e in fx.idempotent:
        body = call(d, "POST", e["path"], e["body"], headers=e["headers"],
                    want=201 if e["path"].endswith("/_doc") else 200)
        r = json.loads(body)
        assert (r["items"] if e["path"].endswith("_bulk") else r) == e["reply"], e
    for index, count in fx.expected["count"].items():
        assert json.loads(call(d, "GET", "/%s/_count" % index))["count"] == count
