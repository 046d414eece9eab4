"""POST /gasdetector end to end: the seed payload, keys, throttling,
validation, CORS, and what is (and is not) stored."""
import json
import subprocess

from conftest import KEY, SEED

CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-headers": "Content-Type",
    "access-control-allow-methods": "OPTIONS,POST,GET",
}


def assert_cors(headers):
    for k, v in CORS.items():
        assert headers.get(k) == v, (k, headers)


def test_seed_payload_is_stored_with_date(gasketd):
    status, headers, body = gasketd.post(SEED)
    assert status == 200, body
    reply = json.loads(body)
    assert reply["_index"] == "gasdetect"
    assert reply["result"] == "created"
    assert reply["_version"] == 1 and reply["_primary_term"] == 1
    assert reply["_seq_no"] == 0
    assert headers["content-type"].startswith("application/json")
    assert_cors(headers)
    docs = gasketd.docs()
    assert len(docs) == 1
    doc_id, idx, seq, groupid, source = docs[0]
    assert str(doc_id) == reply["_id"] and idx == "gasdetect" and seq == 0 and groupid == "2"
    stored = json.loads(source)
    date = stored.pop("date")
    assert stored == SEED
    assert len(date) == 19 and date[4] == "-" and date[10] == " " and date[13] == ":"
    rows = {m[2]: m[5] for m in gasketd.measurements("doc = ?", (doc_id,))}
    assert rows == {"co": 26.2, "no2": 0.12, "c2h5oh": 3.5, "h2": 7.75}
    status, _, body = gasketd.post(dict(SEED, groupid=7))
    assert status == 200 and json.loads(body)["_seq_no"] == 1


def test_missing_and_unknown_key_are_forbidden(gasketd):
    for key in (None, "not-a-key-at-all-xxxxxxxx", KEY[:-1]):
        status, headers, body = gasketd.post(SEED, key=key)
        assert status == 403
        assert json.loads(body) == {"message": "Forbidden"}
        assert_cors(headers)
    assert gasketd.docs() == []


def test_key_limited_to_routes(daemon_factory):
    d = daemon_factory(extra="[route /gasdetector]\n[route /other]\nindex = other\n"
                       "[apikey narrow]\nkey = narrow-key-0123456789abcdef\nroutes = /other\n")
    assert d.post(SEED, key="narrow-key-0123456789abcdef")[0] == 403
    status, _, body = d.request("POST", "/other", SEED, key="narrow-key-0123456789abcdef")
    assert status == 200 and json.loads(body)["_index"] == "other"
    assert d.stop() == 0


def test_over_the_rate_gets_429(daemon_factory):
    d = daemon_factory(key=False, extra="[apikey slow]\nkey = %s\nrate = 0.01\nburst = 3\n" % KEY)
    statuses = [d.post(SEED)[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    status, headers, body = d.post(SEED)
    assert status == 429
    assert json.loads(body) == {"message": "Too Many Requests"}
    assert int(headers["retry-after"]) >= 1
    assert_cors(headers)
    assert d.stop() == 0  # the slow key could not /_flush: stopping moves the hot tier
    assert len(d.docs()) == 3


BAD = [
    (b'{"groupid":"2",', ""),
    (b'not json', ""),
    (json.dumps(dict(SEED, no2={"value": "abc"})).encode(), "no2.value"),
    (json.dumps(dict(SEED, no2={"value": "NaN"})).encode(), "no2.value"),
    (json.dumps(dict(SEED, no2={"value": "1e999"})).encode(), "no2.value"),
    (b'{"groupid":"2","no2":{"value":1e999}}', "no2.value"),
    (json.dumps(dict(SEED, gps="91.0, 10.0")).encode(), "gps"),
    (json.dumps(dict(SEED, gps="37.5, 181")).encode(), "gps"),
    (json.dumps({"no2": {"value": 1}}).encode(), "groupid"),
    (b'{"groupid":"2","groupid":"3"}', "groupid"),
    (b'{"groupid":"\xff\xfe"}', ""),
    (b'[1,2,3]', ""),
]


def test_bad_payloads_get_400_naming_the_field(gasketd):
    for body, field in BAD:
        status, headers, reply = gasketd.post(body)
        assert status == 400, (body, reply)
        reply = json.loads(reply)
        assert reply["field"] == field, (body, reply)
        assert reply["message"], reply
        assert_cors(headers)
    assert gasketd.docs() == []


def test_options_preflight_and_unknown_path(gasketd):
    status, headers, _ = gasketd.request("OPTIONS", "/gasdetector", key=None,
                                         headers={"Origin": "http://example.test",
                                                  "Access-Control-Request-Method": "POST"})
    assert status == 200
    assert_cors(headers)
    status, headers, body = gasketd.request("POST", "/nowhere", SEED)
    assert status == 404 and json.loads(body)["message"]
    assert_cors(headers)
    status, headers, body = gasketd.request("DELETE", "/gasdetector", key=None)
    assert status == 405 and "POST" in headers["allow"]


def test_curl_chunked_and_expect_continue(gasketd):
    url = "http://127.0.0.1:%d/gasdetector" % gasketd.port
    for extra in (["-H", "Transfer-Encoding: chunked"], ["-H", "Expect: 100-continue"]):
        out = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", url, "-H",
                              "x-api-key: " + KEY, "-H", "Content-Type: application/json",
                              "--data-binary", json.dumps(SEED)] + extra,
                             capture_output=True, text=True, timeout=30)
        body, code = out.stdout.rsplit("\n", 1)
        assert code == "200", out
        assert json.loads(body)["result"] == "created"
    assert len(gasketd.docs()) == 2


def test_healthz_and_metrics(gasketd):
    assert gasketd.request("GET", "/healthz", key=None)[0] == 200
    gasketd.post(SEED)
    gasketd.post(b"{}")
    gasketd.post(SEED, key=None)
    status, headers, body = gasketd.request("GET", "/metrics", key=None)
    assert status == 200 and headers["content-type"].startswith("text/plain")
    text = body.decode()
    assert 'gasket_http_requests_total{route="/gasdetector",status="200"} 1' in text
    assert 'gasket_http_requests_total{route="/gasdetector",status="400"} 1' in text
    assert 'gasket_http_requests_total{route="/gasdetector",status="403"} 1' in text
    assert "gasket_readings_stored_total 1" in text
    assert "gasket_http_connections_open 1" in text
    assert 'gasket_store_commit_seconds_bucket{le="+Inf"}' in text
