"""Golden tests of the OpenSearch-compatible search (issue 5): POST
/{index}/_search and /_count against one daemon loaded once (through POST
/_bulk, each document carrying its own `date`) with the deterministic
documents of search_fixture.py. Every expected reply is computed by the
Python reference in search_ref.py from the same documents, never copied
from gasket, and compared member by member: integers exactly, floats with a
relative tolerance of 1e-9, extra or missing members are differences.

The daemon runs with [server] timezone = Asia/Seoul, as the original did."""
import json
import socket
import time

import pytest

import search_fixture as fx
import search_ref as ref
from conftest import ADMIN, KEY, SEED, Daemon, read_responses

SEOUL = "Asia/Seoul"


def ms(text, zone=SEOUL):
    return ref.local_text_ms(text, zone)


class Env:
    def __init__(self, daemon, docs):
        self.d = daemon
        self.ref = ref.Ref(docs)
        self.docs = docs
        self.by_id = {doc.id: doc for doc in docs}


def bulk(d, index, docs, chunk=2500):
    """Indexes docs through POST /_bulk; returns their _ids in order."""
    ids = []
    for i in range(0, len(docs), chunk):
        part = docs[i:i + chunk]
        lines = []
        for doc in part:
            lines.append(json.dumps({"index": {"_index": index}}))
            lines.append(json.dumps(doc))
        status, _, raw = d.request("POST", "/_bulk", "\n".join(lines) + "\n",
                                   headers={"Content-Type": "application/x-ndjson"})
        assert status == 200, raw[:2000]
        reply = json.loads(raw)
        bad = [it for it in reply.get("items", []) if it["index"].get("status") not in (200, 201)]
        assert reply["errors"] is False and not bad, bad[:3]
        assert len(reply["items"]) == len(part)
        ids += [it["index"]["_id"] for it in reply["items"]]
    assert len(set(ids)) == len(ids)
    return ids


def daemon_ini(tmp):
    return ("[server]\ndata_dir = %s\ntimezone = Asia/Seoul\ndurability = normal\n\n"
            "[http]\nlisten = 127.0.0.1:0\n\n[mqtt]\nlisten = 127.0.0.1:0\n\n"
            "[apikey itest]\nkey = %s\nrate = 100000\nburst = 100000\n\n"
            "[apikey itest-admin]\nkey = %s\nadmin = true\n\n"
            "[route /gasdetector]\n\n[route /recent]\nindex = recent\n\n"
            "[route /big]\nindex = big\n\n[route /shadow]\nindex = shadow\n"
            % (tmp / "data", KEY, ADMIN))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search")
    d = Daemon(tmp, daemon_ini(tmp)).start()
    try:
        sources = fx.gasdetect_docs()
        # Several requests, so that minutes and hours get rollup rows from
        # more than one transaction.
        ids = bulk(d, "gasdetect", sources, chunk=120)
        docs = [ref.Doc("gasdetect", i, s) for i, s in zip(ids, sources)]
        shadow = fx.shadow_docs()
        docs += [ref.Doc("shadow", i, s) for i, s in zip(bulk(d, "shadow", shadow), shadow)]
        now_s = int(time.time())
        recent = fx.recent_docs(now_s, lambda s: ref.ms_local_text(s * 1000))
        docs += [ref.Doc("recent", i, s) for i, s in zip(bulk(d, "recent", recent), recent)]
        # The seed posted on its route: gasket adds `date` (receive time).
        t0 = time.time()
        status, _, body = d.request("POST", "/recent", SEED)
        t1 = time.time()
        assert status == 200, body
        live = ref.Doc("recent", json.loads(body)["_id"], dict(SEED, date=ref.ANY),
                       ms=int(t0 * 1000))
        docs.append(live)
        e = Env(d, docs)
        e.live = (live, t0, t1)
        e.seed_id = ids[sources.index(dict(SEED, date=fx.SEED_DATE))]
        yield e
    finally:
        rc = d.stop()
    assert rc == 0, d.log_text()[-3000:]


@pytest.fixture(scope="module")
def big(env):
    bulk(env.d, "big", fx.big_docs())
    return env


def post(env, path, body):
    status, headers, raw = env.d.request("POST", path, body)
    try:
        reply = json.loads(raw)
    except ValueError:
        reply = raw
    return status, headers, reply


def report(path, body, diffs):
    text = json.dumps(body) if not isinstance(body, (bytes, str)) else str(body)
    lines = diffs[:40] + (["... %d more" % (len(diffs) - 40)] if len(diffs) > 40 else [])
    return "POST %s %s\n  %s" % (path, text[:1500], "\n  ".join(lines))


def check(env, body, index="gasdetect"):
    """Runs body on /{index}/_search and compares with the reference."""
    path = "/%s/_search" % index
    now = time.time() * 1000
    status, _, got = post(env, path, body)
    assert status == 200, report(path, body, ["status %d: %r" % (status, got)])
    exp = env.ref.search(index, body, now)
    diffs = ref.diff(exp, got)
    assert not diffs, report(path, body, diffs)
    return got


# ---- queries -----------------------------------------------------------

def rng_date(**kw):
    return {"query": {"range": {"date": kw}}, "size": 100}


QUERIES = {
    "empty_body_match_all": {},
    "match_all_size": {"query": {"match_all": {}}, "size": 25},
    "term_groupid": {"query": {"term": {"groupid": "2"}}, "size": 300},
    "term_groupid_value_form": {"query": {"term": {"groupid": {"value": "10"}}}, "size": 300},
    "term_groupid_keyword": {"query": {"term": {"groupid.keyword": "7"}}, "size": 300},
    "term_no2_sensorid": {"query": {"term": {"no2.sensorid": "0016"}}, "size": 300},
    "term_no_match": {"query": {"term": {"groupid": "nope"}}},
    "terms_groupid": {"query": {"terms": {"groupid": ["1", "7"]}}, "size": 400},
    "terms_sensorid": {"query": {"terms": {"no2.sensorid": ["0006", "0106"]}}, "size": 400},
    "range_date_local_gte_lt": rng_date(gte="2021-10-31 09:17:05", lt="2021-10-31 09:17:41"),
    "range_date_local_gt_lte": rng_date(gt="2021-10-31 09:17:05", lte="2021-10-31 09:17:41"),
    "range_date_day_text": rng_date(gte="2021-09-03", lt="2021-09-04"),
    "range_date_day_lte_rounds_up": rng_date(gte="2021-09-03", lte="2021-09-03"),
    "range_date_day_gt_rounds_up": rng_date(gt="2021-09-02", lt="2021-09-03 12:00:00"),
    "range_date_iso_offsets": rng_date(gte="2021-10-30T23:30:00Z", lt="2021-10-31T02:00:00+01:00"),
    "range_date_iso_millis": rng_date(gt="2021-10-31T09:17:29.500+09:00",
                                      lte="2021-10-31T00:17:59Z"),
    "range_date_epoch_millis": rng_date(gte=1635638400000, lt=1635642000000),
    "range_date_epoch_millis_text": rng_date(gte="1635638400000", lte="1635642000000"),
    "range_date_math_day": rng_date(gte="2021-09-03||/d", lt="2021-09-03||+1d/d"),
    "range_date_math_round_up": rng_date(gt="2021-09-02||/d", lte="2021-09-03||/d"),
    "range_date_math_minutes": rng_date(gte="2021-10-31 10:00:00||-30m",
                                        lt="2021-10-31 10:00:00||+30m"),
    "range_date_time_zone_overlap": rng_date(gte="2021-10-31 02:30:00", lt="2021-10-31 03:00:00",
                                             time_zone="Europe/Berlin"),
    "range_no2_gt_lt": {"query": {"range": {"no2.value": {"gt": 30, "lt": 60}}}, "size": 400},
    "range_no2_gte_lte": {"query": {"range": {"no2.value": {"gte": 42.42, "lte": 50}}},
                          "size": 400},
    "range_no2_lt": {"query": {"range": {"no2.value": {"lt": 10}}}, "size": 400},
    "range_no2_gte": {"query": {"range": {"no2.value": {"gte": 100}}}, "size": 400},
    "exists_h2": {"query": {"exists": {"field": "h2"}}, "size": 400},
    "exists_temperature_value": {"query": {"exists": {"field": "temperature.value"}},
                                 "size": 400},
    "exists_gps": {"query": {"exists": {"field": "gps"}}, "size": 400},
    "bool_must_filter": {"query": {"bool": {
        "must": [{"term": {"groupid": "2"}}],
        "filter": [{"range": {"no2.value": {"gte": 50}}}]}}, "size": 400},
    "bool_filter_only_scores_zero": {"query": {"bool": {"filter": [
        {"term": {"no2.sensorid": "0006"}},
        {"range": {"date": {"gte": "2021-10-31", "lt": "2021-11-01"}}}]}}, "size": 400},
    "bool_must_not": {"query": {"bool": {
        "filter": {"range": {"date": {"gte": "2021-10-30", "lt": "2021-10-31"}}},
        "must_not": [{"terms": {"groupid": ["1", "2"]}}, {"exists": {"field": "gps"}}]}},
        "size": 400},
    "bool_should_only": {"query": {"bool": {"should": [
        {"term": {"groupid": "7"}}, {"range": {"no2.value": {"gte": 110}}}]}}, "size": 400},
    "bool_should_msm_2": {"query": {"bool": {"should": [
        {"term": {"groupid": "3"}}, {"range": {"no2.value": {"gte": 60}}},
        {"exists": {"field": "h2"}}], "minimum_should_match": 2}}, "size": 400},
    "bool_filter_should_optional": {"query": {"bool": {
        "filter": [{"term": {"groupid": "10"}}],
        "should": [{"range": {"no2.value": {"gte": 60}}}]}}, "size": 400},
    "bool_filter_should_msm_1": {"query": {"bool": {
        "filter": [{"term": {"groupid": "10"}}],
        "should": [{"range": {"no2.value": {"gte": 60}}}], "minimum_should_match": 1}},
        "size": 400},
    "bool_in_bool": {"query": {"bool": {
        "must": [{"bool": {"should": [{"term": {"groupid": "1"}}, {"term": {"groupid": "3"}}]}}],
        "must_not": [{"range": {"no2.value": {"lt": 20}}}]}}, "size": 400},
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_query(env, name):
    check(env, QUERIES[name])


def test_no_body_is_match_all(env):
    status, _, got = env.d.request("POST", "/gasdetect/_search", None)
    assert status == 200, got
    diffs = ref.diff(env.ref.search("gasdetect", None, time.time() * 1000), json.loads(got))
    assert not diffs, report("/gasdetect/_search", "(no body)", diffs)


SORTS = {
    "date_desc": {"sort": [{"date": {"order": "desc"}}], "size": 30},
    "date_asc_plain_name": {"sort": ["date"], "size": 30, "from": 5},
    "no2_asc": {"query": {"exists": {"field": "no2"}}, "sort": [{"no2.value": "asc"}],
                "size": 60},
    "no2_desc_then_date": {"query": {"range": {"no2.value": {"gte": 40, "lte": 45}}},
                           "sort": [{"no2.value": "desc"}, {"date": "asc"}], "size": 100},
    "no2_desc_missing_last": {"query": {"range": {"date": {"gte": "2021-10-30",
                                                           "lt": "2021-10-31"}}},
                              "sort": [{"no2.value": {"order": "desc"}}], "size": 300},
    "keyword_then_date": {"query": {"range": {"date": {"gte": "2021-09-03", "lt": "2021-09-04"}}},
                          "sort": [{"groupid.keyword": "asc"}, {"date": "desc"}], "size": 100},
    "date_asc_ties": {"query": {"range": {"date": {"gte": "2021-10-30 13:13:13",
                                                   "lte": "2021-10-31 09:17:05"}}},
                      "sort": [{"date": "asc"}], "size": 300},
}


@pytest.mark.parametrize("name", list(SORTS))
def test_sort(env, name):
    check(env, SORTS[name])


PAGES = {
    "from_size": {"query": {"match_all": {}}, "from": 37, "size": 13},
    "from_size_sorted": {"sort": [{"date": "desc"}], "from": 100, "size": 20},
    "size_zero": {"size": 0},
    "source_false": {"_source": False, "size": 5},
    "source_list": {"_source": ["groupid", "no2.value"], "size": 40},
    "source_string": {"_source": "no2", "size": 20},
    "source_includes_excludes": {"_source": {"includes": ["no2.*", "groupid", "date"],
                                             "excludes": ["no2.createdtime"]}, "size": 20},
    "source_excludes_wildcards": {"_source": {"excludes": ["gps", "*.createdtime",
                                                           "*.sensortype"]}, "size": 20},
    "source_wildcard_include": {"_source": ["*.sensorid"], "size": 20},
    "track_total_hits_true": {"track_total_hits": True, "size": 1},
    "track_total_hits_false": {"track_total_hits": False, "size": 1},
    "track_total_hits_below": {"track_total_hits": 100, "size": 1},
    "track_total_hits_above": {"track_total_hits": 100000, "size": 1},
}


@pytest.mark.parametrize("name", list(PAGES))
def test_page_and_source(env, name):
    check(env, PAGES[name])


# ---- aggregations --------------------------------------------------------

def in_range(gte, lt, aggs):
    q = {"range": {"date": {"gte": gte, "lt": lt}}}
    return {"query": q, "size": 0, "aggs": aggs}


def dh(interval, tz=None, sub=None, calendar=False, **kw):
    spec = {"field": "date", ("calendar_interval" if calendar else "fixed_interval"): interval}
    if tz:
        spec["time_zone"] = tz
    spec.update(kw)
    a = {"date_histogram": spec}
    if sub:
        a["aggs"] = sub
    return {"h": a}


AVG_NO2 = {"avg_no2": {"avg": {"field": "no2.value"}}}
STATS_NO2 = {"st": {"stats": {"field": "no2.value"}}}
CLUSTER_B = ("2021-10-30 00:00:00", "2021-11-01 12:00:00")
ALL_TIME = {"size": 0}

HISTOGRAMS = {
    "fixed_30s": in_range("2021-10-31 09:15:00", "2021-10-31 09:20:00", dh("30s")),
    "fixed_1m_metrics": in_range("2021-10-31 09:10:00", "2021-10-31 09:25:00", dh("1m", sub={
        "avg_no2": {"avg": {"field": "no2.value"}}, "min_no2": {"min": {"field": "no2.value"}},
        "max_no2": {"max": {"field": "no2.value"}}})),
    "fixed_5m": in_range("2021-10-31 08:30:00", "2021-10-31 11:30:00",
                         dh("5m", sub={"n": {"value_count": {"field": "no2.value"}}})),
    "fixed_1h": in_range(*CLUSTER_B, dh("1h", sub=AVG_NO2)),
    "fixed_1h_berlin_fall_back": in_range("2021-10-31 07:00:00", "2021-10-31 13:00:00",
                                          dh("1h", "Europe/Berlin", sub=AVG_NO2)),
    "fixed_20m_berlin_fall_back": in_range("2021-10-31 08:30:00", "2021-10-31 11:30:00",
                                           dh("20m", "Europe/Berlin")),
    "fixed_1d_utc": in_range(*CLUSTER_B, dh("1d", sub=STATS_NO2)),
    "fixed_1d_seoul": in_range(*CLUSTER_B, dh("1d", SEOUL, sub=STATS_NO2)),
    "calendar_day_seoul_empty_buckets": dict(ALL_TIME, aggs=dh("day", SEOUL, sub=dict(
        AVG_NO2, mx={"max": {"field": "no2.value"}}, sm={"sum": {"field": "no2.value"}},
        n={"value_count": {"field": "no2.value"}}), calendar=True)),
    "calendar_day_percentiles_empty": dict(ALL_TIME, aggs=dh("day", SEOUL, calendar=True, sub={
        "p": {"percentiles": {"field": "no2.value", "percents": [50, 95]}}})),
    "calendar_day_berlin_25h_day": in_range(*CLUSTER_B, dh("day", "Europe/Berlin",
                                                          sub=STATS_NO2, calendar=True)),
    "calendar_1d_utc": in_range(*CLUSTER_B, dh("1d", calendar=True)),
    "calendar_week_berlin": dict(ALL_TIME, aggs=dh("week", "Europe/Berlin", calendar=True)),
    "calendar_week_seoul": dict(ALL_TIME, aggs=dh("1w", SEOUL, calendar=True)),
    "calendar_month_berlin": dict(ALL_TIME, aggs=dh("month", "Europe/Berlin", sub=AVG_NO2,
                                                    calendar=True)),
    "calendar_month_seoul": dict(ALL_TIME, aggs=dh("1M", SEOUL, calendar=True)),
    "min_doc_count_1": dict(ALL_TIME, aggs=dh("day", SEOUL, calendar=True, min_doc_count=1)),
    "extended_bounds_text_in_zone": in_range("2021-10-31 09:00:00", "2021-10-31 11:00:00", dh(
        "1h", SEOUL, sub=AVG_NO2, min_doc_count=0,
        extended_bounds={"min": "2021-10-31 05:00:00", "max": "2021-10-31 14:00:00"})),
    "extended_bounds_epoch": in_range(*CLUSTER_B, dh(
        "1d", extended_bounds={"min": 1635120000000, "max": 1636070400000})),
    "extended_bounds_no_docs": {"query": {"term": {"groupid": "nope"}}, "size": 0, "aggs": dh(
        "1d", sub=AVG_NO2, extended_bounds={"min": 1635120000000, "max": 1635465600000})},
    "format_day": dict(ALL_TIME, aggs=dh("day", SEOUL, calendar=True, format="yyyy-MM-dd")),
    "format_berlin_repeated_hour": in_range("2021-10-31 08:00:00", "2021-10-31 12:00:00", dh(
        "1h", "Europe/Berlin", format="yyyy-MM-dd HH:mm:ss")),
}


@pytest.mark.parametrize("name", list(HISTOGRAMS))
def test_date_histogram(env, name):
    check(env, HISTOGRAMS[name])


def metrics(field):
    return {"avg": {"avg": {"field": field}}, "min": {"min": {"field": field}},
            "max": {"max": {"field": field}}, "sum": {"sum": {"field": field}},
            "count": {"value_count": {"field": field}}, "stats": {"stats": {"field": field}},
            "pct": {"percentiles": {"field": field}}}


METRICS = {
    "no2_all": {"size": 0, "aggs": metrics("no2.value")},
    "co_in_group": {"query": {"term": {"groupid": "3"}}, "size": 0, "aggs": metrics("co.value")},
    "date_min_max": {"size": 0, "aggregations": {"first": {"min": {"field": "date"}},
                                                 "last": {"max": {"field": "date"}}}},
    "value_count_groupid": {"size": 0, "aggs": {"n": {"value_count": {"field": "groupid"}}}},
    "percentiles_custom": {"size": 0, "aggs": {"p": {"percentiles": {
        "field": "h2.value", "percents": [0, 10, 50, 90, 99.9, 100]}}}},
    "percentiles_not_keyed": {"size": 0, "aggs": {"p": {"percentiles": {
        "field": "no2.value", "percents": [25, 50, 75], "keyed": False}}}},
    "no_matching_docs": {"query": {"term": {"groupid": "nope"}}, "size": 0,
                         "aggs": metrics("no2.value")},
    "unmapped_field": {"size": 0, "aggs": metrics("nh3.value")},
    "with_hits": {"query": {"term": {"no2.sensorid": "0106"}}, "size": 5,
                  "aggs": {"st": {"stats": {"field": "no2.value"}}}},
}


@pytest.mark.parametrize("name", list(METRICS))
def test_metrics(env, name):
    check(env, METRICS[name])


def terms(field, sub=None, **kw):
    a = {"terms": dict({"field": field}, **kw)}
    if sub:
        a["aggs"] = sub
    return {"size": 0, "aggs": {"t": a}}


SHARED_Q = {"range": {"date": {"gte": fx.SHARED_MINUTE + ":00", "lte": fx.SHARED_MINUTE + ":59"}}}
LATEST = {"latest": {"top_hits": {"size": 1, "sort": [{"date": {"order": "desc"}}]}}}

TERMS = {
    "groupid_default": terms("groupid"),
    "groupid_keyword_size_2": terms("groupid.keyword", size=2),
    "no2_sensorid": terms("no2.sensorid"),
    "order_key_asc": terms("groupid", order={"_key": "asc"}),
    "order_key_desc": terms("no2.sensorid", order={"_key": "desc"}),
    "order_count_asc": terms("groupid", order={"_count": "asc"}),
    "order_sub_metric": terms("groupid", sub=AVG_NO2, order={"avg_no2": "desc"}),
    "order_stats_member": terms("no2.sensorid", sub=STATS_NO2, order={"st.max": "asc"}),
    "terms_in_terms": terms("groupid", sub={"s": {"terms": {"field": "no2.sensorid",
                                                            "size": 2}}}),
    "terms_date_histogram_avg": dict(in_range("2021-10-31 08:30:00", "2021-10-31 11:30:00", {}),
                                     aggs=terms("groupid", sub=dh("30m", SEOUL,
                                                                  sub=AVG_NO2))["aggs"]),
    "top_hits_latest_per_group": terms("groupid.keyword", sub=LATEST),
    "tied_counts_key_asc": dict(terms("groupid"), query=SHARED_Q),
    "tied_counts_count_asc": dict(terms("groupid", order={"_count": "asc"}), query=SHARED_Q),
    "tied_counts_size_1": dict(terms("no2.sensorid", size=1), query=SHARED_Q),
    "tied_sub_metric": dict(terms("groupid", sub={"n": {"value_count": {"field": "no2.value"}}},
                                  order={"n": "desc"}), query=SHARED_Q),
    "tied_top_hits": dict(terms("groupid", sub=LATEST), query=SHARED_Q),
    "top_hits_sorted_source": terms("no2.sensorid", sub={"top": {"top_hits": {
        "size": 2, "sort": [{"no2.value": "desc"}], "_source": {"includes": ["no2.value",
                                                                             "date"]}}}}),
}


@pytest.mark.parametrize("name", list(TERMS))
def test_terms(env, name):
    check(env, TERMS[name])


# ---- the seed document --------------------------------------------------

def assert_seed_source(hit, date):
    src = hit["_source"]
    assert list(src) == list(SEED) + ["date"], list(src)
    assert src == dict(SEED, date=date)


@pytest.mark.parametrize("query", [
    {"term": {"groupid": "2"}},
    {"range": {"date": {"gte": fx.SEED_DATE, "lte": fx.SEED_DATE}}},
    {"range": {"no2.value": {"gt": 0.1, "lt": 0.13}}},
    {"range": {"no2.value": {"gte": 0.12, "lte": 0.12}}},
], ids=["term_groupid", "range_date", "range_no2_gt_lt", "range_no2_exact"])
def test_seed_document_found(env, query):
    got = check(env, {"query": query, "size": 500})
    hits = {h["_id"]: h for h in got["hits"]["hits"]}
    assert env.seed_id in hits
    assert_seed_source(hits[env.seed_id], fx.SEED_DATE)
    if "range" in query:
        assert list(hits) == [env.seed_id]


def test_seed_posted_on_route_gets_receive_date(env):
    live, t0, t1 = env.live
    body = {"query": {"bool": {"filter": [{"term": {"groupid": "2"}},
                                          {"range": {"date": {"gte": "now-5m"}}},
                                          {"range": {"no2.value": {"gte": 0.12, "lte": 0.12}}}]}}}
    got = check(env, body, index="recent")
    assert [h["_id"] for h in got["hits"]["hits"]] == [live.id]
    hit = got["hits"]["hits"][0]
    date = hit["_source"]["date"]
    assert ref.ms_local_text(int(t0) * 1000) <= date <= ref.ms_local_text(int(t1 + 1) * 1000)
    assert_seed_source(hit, date)


def test_source_is_as_posted_in_order(env):
    """Members keep the order they were posted in, `date` included (some
    fixture documents were posted with `date` first)."""
    got = check(env, {"size": 1000})
    assert got["hits"]["total"] == {"value": sum(d.index == "gasdetect" for d in env.docs),
                                    "relation": "eq"}
    for hit in got["hits"]["hits"]:
        assert list(hit["_source"]) == list(env.by_id[hit["_id"]].source), hit["_id"]


# ---- now-relative date math ---------------------------------------------

NOW_CASES = {
    "now_minus_1h": {"query": {"range": {"date": {"gte": "now-1h"}}},
                     "sort": [{"date": "desc"}]},
    "now_window": {"query": {"range": {"date": {"gte": "now-4h", "lt": "now-1h"}}},
                   "sort": [{"date": "desc"}]},
    "now_rounded_days": {"query": {"range": {"date": {"gte": "now-2d/d", "lt": "now+1d/d"}}},
                         "sort": [{"date": "asc"}]},
    "now_histogram": {"query": {"range": {"date": {"gte": "now-2h"}}}, "size": 0,
                      "aggs": {"n": {"value_count": {"field": "no2.value"}}}},
}


@pytest.mark.parametrize("name", list(NOW_CASES))
def test_now_date_math(env, name):
    check(env, NOW_CASES[name], index="recent")


# ---- rollup traps ----------------------------------------------------------

LONG = {"gte": fx.ROLLUP_FROM, "lt": fx.ROLLUP_TO}
LONG_GT = {"gt": fx.ROLLUP_FROM, "lte": fx.ROLLUP_TO}
ROLLUP_METRICS = {"st": {"stats": {"field": "no2.value"}},
                  "avg_co": {"avg": {"field": "co.value"}},
                  "min_h2": {"min": {"field": "h2.value"}},
                  "max_h2": {"max": {"field": "h2.value"}},
                  "sum_no2": {"sum": {"field": "no2.value"}},
                  "n": {"value_count": {"field": "no2.value"}}}


def long_range(rng, aggs, extra=None):
    q = {"range": {"date": rng}}
    if extra:
        q = {"bool": {"filter": [q, extra]}}
    return {"query": q, "size": 0, "aggs": aggs}


ROLLUPS = {
    "metrics_unaligned_gte_lt": long_range(LONG, ROLLUP_METRICS),
    "metrics_unaligned_gt_lte": long_range(LONG_GT, ROLLUP_METRICS),
    "metrics_inside_one_minute": long_range({"gte": fx.SHARED_MINUTE + ":05",
                                             "lt": fx.SHARED_MINUTE + ":41"}, ROLLUP_METRICS),
    "hourly_unaligned": long_range(LONG, dh("1h", SEOUL, sub=STATS_NO2)),
    "minutely_unaligned": long_range({"gte": "2021-10-31 09:10:30", "lt": "2021-10-31 10:05:15"},
                                     dh("1m", sub=STATS_NO2)),
    "daily_half_hour_zone": long_range(LONG, dh("day", "+05:30", calendar=True,
                                                sub=ROLLUP_METRICS)),
    "fixed_1h_quarter_hour_zone": long_range(LONG, dh("1h", "+05:45", sub=STATS_NO2)),
    "filter_on_sensorid": long_range(LONG, ROLLUP_METRICS, {"term": {"no2.sensorid": "0016"}}),
    "filter_on_group": long_range(LONG, ROLLUP_METRICS, {"term": {"groupid": "3"}}),
    "filter_on_group_keyword": long_range(LONG, dh("1h", sub=STATS_NO2),
                                          {"term": {"groupid.keyword": "10"}}),
    "filter_on_groups_terms": long_range(LONG, ROLLUP_METRICS, {"terms": {"groupid": ["1", "7"]}}),
    "september_hourly_unaligned": long_range({"gte": "2021-09-02 21:30:15",
                                              "lt": "2021-09-04 01:10:45"},
                                             dh("1h", SEOUL, sub=STATS_NO2)),
    "filter_on_value": long_range(LONG, ROLLUP_METRICS, {"range": {"no2.value": {"lt": 50}}}),
    "filter_must_not_exists": {"query": {"bool": {"filter": {"range": {"date": LONG}},
                                                  "must_not": {"exists": {"field": "h2"}}}},
                               "size": 0, "aggs": ROLLUP_METRICS},
    "range_in_half_hour_zone": long_range({"gte": "2021-10-30 06:00:00",
                                           "lt": "2021-11-01 07:00:00", "time_zone": "+05:30"},
                                          ROLLUP_METRICS),
    "range_millisecond_edges": long_range({"gte": ms(fx.ROLLUP_FROM) - 500,
                                           "lte": ms(fx.ROLLUP_TO) + 999}, ROLLUP_METRICS),
    "terms_sensorid_sub_metrics": long_range(LONG, terms("no2.sensorid",
                                                         sub=ROLLUP_METRICS)["aggs"]),
    "percentiles_long": long_range(LONG, {"p": {"percentiles": {"field": "no2.value"}}}),
    "terms_sub_metrics": long_range(LONG, terms("groupid", sub=ROLLUP_METRICS)["aggs"]),
}


@pytest.mark.parametrize("name", list(ROLLUPS))
def test_rollup_edges(env, name):
    check(env, ROLLUPS[name])


@pytest.mark.parametrize("name", ["metrics_unaligned_gte_lt", "hourly_unaligned",
                                  "terms_sub_metrics"])
def test_rollups_are_per_index(env, name):
    """Index `shadow` holds readings of the same days and groups."""
    check(env, ROLLUPS[name], index="shadow")


# ---- _count ----------------------------------------------------------------

COUNTS = {
    "no_body": (None, "gasdetect"),
    "term": ({"query": {"term": {"groupid": "2"}}}, "gasdetect"),
    "bool": ({"query": {"bool": {"filter": [{"range": {"date": LONG}}],
                                 "must_not": [{"exists": {"field": "h2"}}]}}}, "gasdetect"),
    "now": ({"query": {"range": {"date": {"gte": "now-1h"}}}}, "recent"),
}


@pytest.mark.parametrize("name", list(COUNTS))
def test_count(env, name):
    body, index = COUNTS[name]
    path = "/%s/_count" % index
    now = time.time() * 1000
    status, _, got = post(env, path, body)
    assert status == 200, got
    diffs = ref.diff(env.ref.count(index, body, now), got)
    assert not diffs, report(path, body, diffs)


# ---- reply shape -------------------------------------------------------------

def test_reply_shape(env):
    body = {"query": {"range": {"date": {"gte": "2021-09-03", "lt": "2021-09-04"}}}, "size": 2,
            "aggs": dh("1d", sub=AVG_NO2)}
    got = check(env, body)
    assert isinstance(got["took"], int) and not isinstance(got["took"], bool)
    assert got["timed_out"] is False
    assert got["_shards"] == {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
    assert got["hits"]["total"]["relation"] == "eq"
    for hit in got["hits"]["hits"]:
        assert set(hit) == {"_index", "_id", "_score", "_source"}
        assert hit["_index"] == "gasdetect" and isinstance(hit["_id"], str)
    b = got["aggregations"]["h"]["buckets"]
    assert [x["key_as_string"] for x in b] == ["2021-09-02T00:00:00.000Z",
                                               "2021-09-03T00:00:00.000Z"]
    assert b[0]["key"] == 1630540800000
    got = check(env, dict(body, aggs=dh("1d", SEOUL)))
    assert [x["key_as_string"] for x in got["aggregations"]["h"]["buckets"]] == \
        ["2021-09-03T00:00:00.000+09:00"]


def test_get_on_route_answers_the_dsl(env):
    """The original website sent the DSL with GET on the route."""
    body = {"query": {"term": {"no2.sensorid": "0026"}}, "size": 3,
            "aggs": {"t": {"terms": {"field": "groupid"}}}}
    status, _, raw = env.d.request("GET", "/gasdetector", body)
    assert status == 200, raw
    diffs = ref.diff(env.ref.search("gasdetect", body, time.time() * 1000), json.loads(raw))
    assert not diffs, report("(GET) /gasdetector", body, diffs)


def test_total_above_10000(big):
    def total(body, path="_search"):
        status, _, got = post(big, "/big/" + path, body)
        assert status == 200, got
        return got
    assert total({"size": 0})["hits"]["total"] == {"value": 10000, "relation": "gte"}
    assert total({"size": 0, "track_total_hits": True})["hits"]["total"] == \
        {"value": fx.BIG_COUNT, "relation": "eq"}
    got = total({"size": 0, "track_total_hits": 10001})["hits"]["total"]
    assert got == {"value": fx.BIG_COUNT, "relation": "eq"}
    assert total(None, "_count")["count"] == fx.BIG_COUNT
    got = total({"size": 0, "aggs": {"s": {"stats": {"field": "x.value"}}}})
    s = float(sum(i % 100 for i in range(fx.BIG_COUNT)))
    want = {"count": fx.BIG_COUNT, "min": 0.0, "max": 99.0, "avg": s / fx.BIG_COUNT, "sum": s}
    diffs = ref.diff(want, got["aggregations"]["s"])
    assert not diffs, diffs


# ---- errors --------------------------------------------------------------

def deep_bool(n):
    q = {"match_all": {}}
    for _ in range(n):
        q = {"bool": {"must": [q]}}
    return {"query": q}


def deep_aggs(n):
    a = {"terms": {"field": "groupid"}}
    for _ in range(n):
        a = {"terms": {"field": "groupid"}, "aggs": {"a": a}}
    return {"size": 0, "aggs": {"a": a}}


BAD = {
    "unknown_query": ({"query": {"fuzzy_thing": {"groupid": "2"}}}, ["fuzzy_thing"]),
    "unknown_top_level_key": ({"qeury": {"match_all": {}}}, ["qeury"]),
    "size_not_a_number": ({"size": "x"}, ["size"]),
    "from_plus_size_over_window": ({"from": 9995, "size": 10}, ["from", "size", "window"]),
    "huge_size": ({"size": 10 ** 9}, ["size", "window"]),
    "negative_from": ({"from": -1}, ["from"]),
    "bool_100_deep": (deep_bool(100), ["deep", "depth", "nest", "bool"]),
    "aggs_100_deep": (deep_aggs(100), ["deep", "depth", "nest", "agg"]),
    "unsupported_agg": ({"aggs": {"g": {"geohash_grid": {"field": "gps"}}}}, ["geohash_grid"]),
    "bad_date": ({"query": {"range": {"date": {"gte": "yesterday-ish"}}}}, ["yesterday-ish"]),
    "bad_time_zone": ({"aggs": dh("1h", "Mars/Base")}, ["Mars/Base"]),
    "bad_fixed_interval": ({"aggs": dh("7x")}, ["7x"]),
    "bad_calendar_interval": ({"aggs": dh("2d", calendar=True)}, ["2d"]),
    "not_json": (b'{"query": {', []),
    "body_not_object": (b"[1, 2]", []),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_dsl_is_400(env, name):
    body, words = BAD[name]
    status, _, got = post(env, "/gasdetect/_search", body)
    assert status == 400, (status, got)
    assert_parsing_error(got, words)


def assert_parsing_error(got, words):
    assert isinstance(got, dict) and got.get("status") == 400, got
    err = got["error"]
    assert err["type"] == "parsing_exception", got
    reason = err["reason"]
    assert isinstance(reason, str) and reason.strip(), got
    if words:
        assert any(w.lower() in reason.lower() for w in words), (words, reason)
    if "root_cause" in err:
        assert err["root_cause"][0]["type"] == "parsing_exception"


def test_window_edge_is_allowed(env):
    """from + size = 10000 is still inside index.max_result_window."""
    status, _, got = post(env, "/gasdetect/_search", {"from": 9990, "size": 10})
    assert status == 200, got
    assert got["hits"]["hits"] == []
    assert got["hits"]["total"] == {"value": sum(d.index == "gasdetect" for d in env.docs),
                                    "relation": "eq"}


def test_count_refuses_aggs(env):
    status, _, got = post(env, "/gasdetect/_count", {"aggs": {"n": {"value_count": {
        "field": "groupid"}}}})
    assert status == 400, got
    assert_parsing_error(got, ["aggs"])


def test_body_over_1mib_is_413(env):
    """[http] max_body (1 MiB by default) equals the DSL's own limit, so the
    HTTP layer refuses first, from Content-Length, as for any route."""
    s = socket.create_connection(("127.0.0.1", env.d.port), timeout=10)
    s.sendall(b"POST /gasdetect/_search HTTP/1.1\r\nHost: t\r\nx-api-key: " + KEY.encode() +
              b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
              % ((1 << 20) + 1))
    out = read_responses(s, want=1)
    s.close()
    assert out and out[0][0] == 413, out
    assert json.loads(out[0][2])


def test_key_and_index_checks(env):
    status, _, _ = env.d.request("POST", "/gasdetect/_search", {}, key=None)
    assert status == 401  # no credential at all
    # an index no route writes: a device key may not read it (403, whether
    # it exists or not); an admin key learns it does not exist
    status, _, got = post(env, "/no_such_index/_search", {})
    assert status == 403, got
    status, _, raw = env.d.request("POST", "/no_such_index/_search", {}, key=ADMIN)
    got = json.loads(raw)
    assert status == 404, got
    assert got["error"]["type"] == "index_not_found_exception" and got["status"] == 404
