"""issue 9: one query budget per request ([http] search_max_aggs,
search_max_buckets, search_max_memory): a request over it gets a 400 naming
the limit, never an abort or an OOM kill, and the daemon answers the next
request."""
import json

from test_search_api import load_docs

BUDGET = ("search_max_aggs = 300\nsearch_max_buckets = 10\nsearch_max_memory = 1MiB\n"
          "search_threads = 1\n")


def budget_daemon(daemon_factory, tmp_path, http_extra=BUDGET):
    ini = ("[server]\ndata_dir = %s\n\n[http]\nlisten = 127.0.0.1:0\n%s\n"
           "[mqtt]\nlisten = 127.0.0.1:0\n\n[apikey itest]\nkey = itest-key-0123456789abcdef\n"
           "rate = 1000\nburst = 1000\n" % (tmp_path / "data", http_extra))
    return daemon_factory(ini=ini)


def search(d, body):
    status, _, data = d.request("POST", "/gasdetect/_search", body)
    return status, json.loads(data)


def still_answers(d):
    status, reply = search(d, {"size": 0, "aggs": {"n": {"value_count": {"field": "no2.value"}}}})
    assert status == 200, reply
    return reply


def test_aggregations_counted_over_the_whole_tree(daemon_factory, tmp_path):
    d = budget_daemon(daemon_factory, tmp_path, "search_max_aggs = 5\n")
    load_docs(d, 20)
    # 3 + 3 = 6 aggregations, no aggs object holding more than 3
    sub = {"m": {"max": {"field": "no2.value"}}}
    aggs = {k: {"terms": {"field": "groupid"}, "aggs": sub} for k in ("a", "b", "c")}
    status, reply = search(d, {"size": 0, "aggs": aggs})
    assert status == 400, reply
    assert "search_max_aggs" in reply["error"]["reason"]
    assert still_answers(d)["aggregations"]["n"]["value"] == 20
    del aggs["c"]  # 4: within the budget
    assert search(d, {"size": 0, "aggs": aggs})[0] == 200
    assert d.stop() == 0


def test_buckets_counted_over_all_aggregations(daemon_factory, tmp_path):
    d = budget_daemon(daemon_factory, tmp_path)
    load_docs(d, 70)  # 7 groups
    one = {"terms": {"field": "groupid"}}
    status, reply = search(d, {"size": 0, "aggs": {"a": one}})
    assert status == 200 and len(reply["aggregations"]["a"]["buckets"]) == 7, reply
    # 7 + 7 buckets: each under 10, together over
    status, reply = search(d, {"size": 0, "aggs": {"a": one, "b": one}})
    assert status == 400, reply
    assert reply["error"]["type"] == "too_many_buckets_exception"
    assert "search_max_buckets" in reply["error"]["reason"]
    status, reply = search(d, {"size": 0, "aggs": {"h": {"date_histogram": {
        "field": "date", "fixed_interval": "1s",
        "extended_bounds": {"min": "2026-01-01 00:00:00", "max": "2026-01-01 01:00:00"}}}}})
    assert status == 400 and "search_max_buckets" in reply["error"]["reason"], reply
    assert still_answers(d)["aggregations"]["n"]["value"] == 70
    assert d.stop() == 0


def test_memory_of_aggregation_state(daemon_factory, tmp_path):
    d = budget_daemon(daemon_factory, tmp_path)
    load_docs(d, 2000)
    # percentiles keep every value: 100 of them over 2,000 values hold 1.6 MB
    aggs = {"p%d" % i: {"percentiles": {"field": "no2.value", "percents": [50]}}
            for i in range(100)}
    status, reply = search(d, {"size": 0, "aggs": aggs})
    assert status == 400, reply
    assert "search_max_memory" in reply["error"]["reason"]
    assert d.proc.poll() is None
    assert still_answers(d)["aggregations"]["n"]["value"] == 2000
    few = {k: aggs[k] for k in list(aggs)[:5]}  # 80 KB: within the budget
    status, reply = search(d, {"size": 0, "aggs": few})
    assert status == 200 and reply["aggregations"]["p0"]["values"]["50.0"] is not None
    assert d.stop() == 0


def test_budget_keys_are_in_effect(daemon_factory, tmp_path):
    """The [http] search_* keys are built: none is logged as pending."""
    d = budget_daemon(daemon_factory, tmp_path, BUDGET + "search_max_timeout = 5s\n")
    log = d.log_text()
    for key in ("search_threads", "search_max_timeout", "search_max_buckets", "search_max_aggs",
                "search_max_memory"):
        assert "[http] %s is accepted but not yet in effect" % key not in log, log
    load_docs(d, 10)
    assert still_answers(d)["timed_out"] is False
    assert d.stop() == 0
