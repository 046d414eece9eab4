"""The HTTP surface of the OpenSearch-compatible API: GET /, _search and
_count (and GET on a route), _doc, _bulk, _cat/indices, _export; keys,
errors and their statuses, streaming. The search semantics themselves are
tested by test_search_golden.py."""
import base64
import csv
import io
import gzip
import json
import socket
import time
import urllib.parse

from conftest import ADMIN, KEY, SEED, base_ini, measurement_rows


def ndjson(*lines):
    return "".join(json.dumps(line) + "\n" for line in lines)


def reading(group, no2="0.12", **extra):
    doc = dict(SEED, groupid=str(group))
    doc["no2"] = dict(SEED["no2"], value=no2)
    doc.update(extra)
    return doc


def bulk(d, body, path="/_bulk", **kw):
    status, headers, data = d.request("POST", path, body,
                                      headers={"Content-Type": "application/x-ndjson"}, **kw)
    return status, headers, json.loads(data) if data else None


def load_docs(d, n, index="gasdetect", batch=5000, start=0):
    """n documents through _bulk; doc i has groupid str(i % 7) and no2 = i."""
    for lo in range(start, start + n, batch):
        lines = []
        for i in range(lo, min(lo + batch, start + n)):
            lines += [{"index": {"_index": index}}, reading(i % 7, no2=str(i), seq=i)]
        status, _, reply = bulk(d, ndjson(*lines))
        assert status == 200 and not reply["errors"], reply


def error_type(body):
    return json.loads(body)["error"]["type"]


# ---- GET / ----

def test_root_reports_an_opensearch_version(gasketd):
    status, headers, body = gasketd.request("GET", "/", key=None)
    assert status == 200
    info = json.loads(body)
    assert info["version"]["distribution"] == "opensearch"
    assert info["version"]["number"] == "2.11.0"
    assert info["cluster_name"] == "gasket" and len(info["cluster_uuid"]) == 22
    assert info["tagline"].startswith("The OpenSearch Project")
    assert info["gasket_version"]
    status, headers, body = gasketd.request("HEAD", "/", key=None)
    assert status == 200 and body == b""
    assert gasketd.request("POST", "/", "{}", key=None)[0] == 405


# ---- _search, _count, GET on a route ----

def test_search_count_and_route_get(gasketd):
    for i in range(5):
        assert gasketd.post(reading(i % 2, no2=str(10 * i)))[0] == 200
    q = {"query": {"term": {"groupid": "1"}}, "sort": ["_doc"]}
    for method in ("GET", "POST"):
        status, headers, body = gasketd.request(method, "/gasdetect/_search", q)
        assert status == 200, body
        assert headers["content-type"].startswith("application/json")
        assert headers["access-control-allow-origin"] == "*"
        hits = json.loads(body)["hits"]
        assert hits["total"]["value"] == 2
        assert [h["_source"]["groupid"] for h in hits["hits"]] == ["1", "1"]
    status, _, body = gasketd.request("GET", "/gasdetect/_count", {"query": q["query"]})
    assert status == 200 and json.loads(body)["count"] == 2
    assert json.loads(gasketd.request("POST", "/gasdetect/_count")[2])["count"] == 5
    # size and from in the URL win over the body
    status, _, body = gasketd.request("POST", "/gasdetect/_search?size=2&from=1",
                                      {"size": 5, "sort": ["_doc"]})
    hits = json.loads(body)["hits"]["hits"]
    assert status == 200 and [h["_id"] for h in hits] == ["2", "3"]
    # GET on the route with the DSL in ?source=, as the website sent it
    src = urllib.parse.quote(json.dumps({"size": 1, "sort": [{"no2.value": "desc"}]}))
    status, headers, body = gasketd.request(
        "GET", "/gasdetector?source=%s&source_content_type=application/json" % src, key=KEY)
    assert status == 200, body
    hits = json.loads(body)["hits"]
    assert hits["total"]["value"] == 5 and [h["_id"] for h in hits["hits"]] == ["5"]
    assert headers["access-control-allow-methods"] == "OPTIONS,POST,GET"
    # and with a body
    status, _, body = gasketd.request("GET", "/gasdetector", {"query": {"match_all": {}}})
    assert status == 200 and json.loads(body)["hits"]["total"]["value"] == 5
    # ?pretty, ?timeout
    status, _, body = gasketd.request("GET", "/gasdetect/_count?pretty&timeout=500ms")
    assert status == 200 and b"\n  " in body and json.loads(body)["count"] == 5


def untimed(body):
    """A search reply without its "took"."""
    r = json.loads(body)
    r.pop("took")
    return r


def test_large_replies_are_gzipped_for_clients_that_take_it(gasketd):
    """A reply of 1 KiB or more goes gzipped (made on the query pool) to a
    client whose Accept-Encoding takes gzip; the same reply once inflated."""
    for i in range(30):
        assert gasketd.post(reading(i % 3, no2=str(i)))[0] == 200
    q = {"size": 30, "sort": ["_doc"]}
    status, plain_h, plain = gasketd.request("POST", "/gasdetect/_search", q)
    assert status == 200 and len(plain) > 1024
    assert "content-encoding" not in plain_h and plain_h["vary"] == "Accept-Encoding"
    for ae in ("gzip", "br, gzip;q=0.5", "deflate, x-gzip"):
        status, h, body = gasketd.request("POST", "/gasdetect/_search", q,
                                          headers={"Accept-Encoding": ae})
        assert status == 200 and h["content-encoding"] == "gzip", ae
        assert h["vary"] == "Accept-Encoding" and int(h["content-length"]) == len(body)
        assert len(body) < len(plain) // 3
        assert untimed(gzip.decompress(body)) == untimed(plain)
    # refused, or small: as it is
    for ae in ("gzip;q=0", "identity", "br"):
        h = gasketd.request("POST", "/gasdetect/_search", q, headers={"Accept-Encoding": ae})[1]
        assert "content-encoding" not in h, ae
    status, h, body = gasketd.request("POST", "/gasdetect/_count", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and "content-encoding" not in h and json.loads(body)["count"] == 30


def test_search_errors(gasketd):
    assert gasketd.post(SEED)[0] == 200
    cases = [
        ("GET", "/gasdetect/_search?q=groupid:2", None, 400, "illegal_argument_exception"),
        ("GET", "/gasdetect/_search?bogus=1", None, 400, "illegal_argument_exception"),
        ("GET", "/gasdetect/_search?size=-1", None, 400, "illegal_argument_exception"),
        ("GET", "/gasdetect/_search?timeout=soon", None, 400, "illegal_argument_exception"),
        ("GET", "/gasdetect/_search?source=%7B", None, 400, None),
        ("POST", "/gasdetect/_search", {"query": {"bogus": {}}}, 400, "parsing_exception"),
        ("POST", "/gasdetect/_search", "{not json", 400, None),
        ("POST", "/gasdetect/_count", {"size": 3}, 400, None),

        ("GET", "/Bad/_search", None, 400, "invalid_index_name_exception"),
        ("GET", "/_search", None, 400, "illegal_argument_exception"),
        ("GET", "/gasdetect/_search?source_content_type=text/plain&source=%7B%7D", None, 400,
         "illegal_argument_exception"),
    ]
    for method, path, body, want, etype in cases:
        status, headers, data = gasketd.request(method, path, body)
        assert status == want, (path, data)
        reply = json.loads(data)
        assert reply["status"] == want and reply["error"]["reason"], reply
        if etype:
            assert reply["error"]["type"] == etype, (path, reply)
    # an index that does not exist: 404 for a key that may read every index
    # (an admin); a device key may read only its routes' indexes: 403
    for path in ("/nope/_search", "/nope/_count"):
        status, _, data = gasketd.request("GET", path, key=ADMIN)
        assert status == 404 and error_type(data) == "index_not_found_exception", path
        assert gasketd.request("GET", path)[0] == 403, path
    status, headers, _ = gasketd.request("DELETE", "/gasdetect/_search")
    assert status == 405 and "GET" in headers["allow"]


def test_keys_and_basic_auth(daemon_factory):
    d = daemon_factory(extra="[route /gasdetector]\n[route /other]\nindex = other\n"
                       "[apikey narrow]\nkey = narrow-key-0123456789abcdef\nroutes = /other\n")
    assert d.post(SEED)[0] == 200
    for path in ("/gasdetect/_search", "/gasdetect/_count", "/gasdetect/_doc/1",
                 "/_cat/indices", "/gasdetect/_export", "/gasdetector"):
        status, _, body = d.request("GET", path, key=None)  # no credential at all
        assert status == 401 and json.loads(body) == {"message": "Unauthorized"}, path
        status, _, body = d.request("GET", path, key="not-a-key-at-all-xxxxxxxx")
        assert status == 403 and json.loads(body) == {"message": "Forbidden"}, path
    for method, path in (("POST", "/_bulk"), ("POST", "/gasdetect/_doc")):
        assert d.request(method, path, "{}", key=None)[0] == 403
    # a key limited to other routes may not GET this route (as it may not POST)
    assert d.request("GET", "/gasdetector", key="narrow-key-0123456789abcdef")[0] == 403
    assert d.request("GET", "/other", key="narrow-key-0123456789abcdef")[0] == 404
    # ... nor read or write its index by the OpenSearch API
    narrow = "narrow-key-0123456789abcdef"
    for method, path in (("GET", "/gasdetect/_search"), ("GET", "/gasdetect/_doc/1"),
                         ("POST", "/gasdetect/_doc"), ("POST", "/gasdetect/_bulk")):
        assert d.request(method, path, "{}", key=narrow)[0] == 403, path
    status, _, reply = bulk(d, ndjson({"index": {"_index": "gasdetect"}}, reading(1),
                                      {"index": {"_index": "other"}}, reading(2)), key=narrow)
    assert status == 200 and reply["errors"]
    assert reply["items"][0]["index"]["status"] == 403
    assert reply["items"][0]["index"]["error"]["type"] == "security_exception"
    assert reply["items"][1]["index"]["status"] == 201
    assert [x[1] for x in d.docs()] == ["gasdetect", "other"]
    # HTTP Basic with the key as password, as OpenSearch clients' http_auth sends it
    for user in ("admin", ""):
        auth = base64.b64encode(("%s:%s" % (user, KEY)).encode()).decode()
        status, _, body = d.request("GET", "/gasdetect/_count",
                                    headers={"Authorization": "Basic " + auth}, key=None)
        assert status == 200 and json.loads(body)["count"] == 1
    for bad in ("admin:wrong", "no-colon-" + KEY):
        auth = base64.b64encode(bad.encode()).decode()
        assert d.request("GET", "/gasdetect/_count", headers={"Authorization": "Basic " + auth},
                         key=None)[0] == 403
    assert d.request("GET", "/gasdetect/_count", headers={"Authorization": "Basic !!!!"},
                     key=None)[0] == 403
    assert d.stop() == 0


def test_throttled_search_gets_429(daemon_factory):
    d = daemon_factory(key=False, extra="[apikey slow]\nkey = %s\nrate = 0.01\nburst = 2\n" % KEY)
    assert d.post(SEED)[0] == 200
    assert d.request("GET", "/gasdetect/_count")[0] == 200
    status, headers, body = d.request("GET", "/gasdetect/_count")
    assert status == 429 and int(headers["retry-after"]) >= 1
    assert d.stop() == 0


# ---- _doc ----

def test_doc_post_and_get(gasketd):
    doc = reading(4, date="2021-09-03 18:14:49")
    status, headers, body = gasketd.request("POST", "/gasdetect/_doc", doc)
    assert status == 201, body
    reply = json.loads(body)
    assert reply["result"] == "created" and reply["_index"] == "gasdetect"
    assert reply["_version"] == 1 and reply["_seq_no"] == 0
    assert headers["location"] == "/gasdetect/_doc/%s" % reply["_id"]
    status, _, body = gasketd.request("GET", "/gasdetect/_doc/%s" % reply["_id"])
    got = json.loads(body)
    assert status == 200 and got["found"] and got["_source"] == doc  # the date is kept
    status, _, body = gasketd.request("GET", "/gasdetect/_doc/999")
    assert status == 404 and json.loads(body)["found"] is False
    assert gasketd.request("HEAD", "/gasdetect/_doc/999")[0] == 404
    # an index with no route: validated and stored only, for an admin key
    assert gasketd.request("POST", "/lab/_doc?refresh=true", reading(9))[0] == 403
    status, _, body = gasketd.request("POST", "/lab/_doc?refresh=true", reading(9), key=ADMIN)
    assert status == 201 and json.loads(body)["_index"] == "lab"
    # refused
    status, _, body = gasketd.request("POST", "/gasdetect/_doc", dict(SEED, no2={"value": "x"}))
    err = json.loads(body)["error"]
    assert status == 400 and err["type"] == "mapper_parsing_exception"
    assert err["field"] == "no2.value"
    status, _, body = gasketd.request("POST", "/gasdetect/_doc", reading(1, date="yesterday"))
    assert status == 400 and json.loads(body)["error"]["field"] == "date"
    for method in ("PUT", "POST"):
        status, _, body = gasketd.request(method, "/gasdetect/_doc/77", SEED)
        assert status == 400 and "client-chosen ids" in json.loads(body)["error"]["reason"]
    assert gasketd.request("PUT", "/gasdetect/_create/77", SEED)[0] == 400
    assert gasketd.request("GET", "/gasdetect/_doc")[0] == 405
    assert len(gasketd.docs()) == 2


# ---- _bulk ----

def test_bulk_mixed_items_in_order(gasketd):
    body = ndjson(
        {"index": {}}, reading(1, no2="1"),
        {"index": {}}, dict(SEED, no2={"value": "abc"}),
        {"create": {"_index": "lab"}}, reading(2, no2="2"),
        {"index": {"_id": "42"}}, reading(3),
        {"delete": {"_id": "1"}},
        {"update": {"_id": "1"}}, {"doc": {}},
        {"index": {"_index": "Bad"}}, reading(4),
        {"index": {"routing": "x"}}, reading(5, date="2021-09-03 18:14:49"),
    )
    # an admin key: "lab" is an index no route writes
    status, headers, reply = bulk(gasketd, body, "/gasdetect/_bulk?refresh=wait_for", key=ADMIN)
    assert status == 200, reply
    assert reply["errors"] is True and isinstance(reply["took"], int)
    items = reply["items"]
    assert [list(i)[0] for i in items] == ["index", "index", "create", "index", "delete",
                                           "update", "index", "index"]
    ok = [items[0]["index"], items[2]["create"], items[7]["index"]]
    assert [i["status"] for i in ok] == [201, 201, 201]
    assert [i["_index"] for i in ok] == ["gasdetect", "lab", "gasdetect"]
    assert all(i["result"] == "created" and i["_version"] == 1 for i in ok)
    assert ok[0]["_seq_no"] == 0 and ok[2]["_seq_no"] == 1 and ok[1]["_seq_no"] == 0
    bad = items[1]["index"]
    assert bad["status"] == 400 and bad["error"]["type"] == "mapper_parsing_exception"
    assert bad["error"]["field"] == "no2.value"
    assert items[3]["index"]["status"] == 400 and items[3]["index"]["_id"] == "42"
    assert "client-chosen ids" in items[3]["index"]["error"]["reason"]
    assert items[4]["delete"]["status"] == 400 and items[5]["update"]["status"] == 400
    assert items[6]["index"]["error"]["type"] == "invalid_index_name_exception"
    docs = {str(d[0]): d for d in gasketd.docs()}
    assert sorted(docs) == sorted(i["_id"] for i in ok)
    assert docs[ok[1]["_id"]][1] == "lab"
    assert json.loads(docs[ok[2]["_id"]][4])["date"] == "2021-09-03 18:14:49"
    # every item good: errors false
    status, _, reply = bulk(gasketd, ndjson({"index": {"_index": "gasdetect"}}, reading(6)))
    assert status == 200 and reply["errors"] is False


def test_bulk_malformed_request_stores_nothing(gasketd):
    good = ndjson({"index": {}}, reading(1))
    cases = [
        (good + '{"bogus":{}}\n{}\n', "line [3]"),
        (good + "not json\n{}\n", "line [3]"),
        (good + '{"index":{}}\n', "line [3]"),
        (good + '{"index":{"_type":"doc"}}\n{}\n', "unknown parameter [_type]"),
        ("", "no requests added"),
    ]
    for body, reason in cases:
        status, _, reply = bulk(gasketd, body, "/gasdetect/_bulk")
        assert status == 400, reply
        assert reason in reply["error"]["reason"], reply
        assert reply["error"]["type"] in ("illegal_argument_exception",
                                          "action_request_validation_exception")
    status, _, reply = bulk(gasketd, good)  # /_bulk with no index anywhere
    assert status == 400 and "index is missing" in reply["error"]["reason"]
    assert gasketd.docs() == []
    assert gasketd.request("GET", "/_bulk")[0] == 405


def test_bulk_body_limit(daemon_factory, tmp_path):
    ini = base_ini(tmp_path).replace("[http]\n",
                                     "[http]\nmax_body = 4KiB\nmax_bulk_body = 64KiB\n")
    d = daemon_factory(ini=ini)
    lines = []
    for i in range(30):
        lines += [{"index": {}}, reading(i)]
    body = ndjson(*lines)
    assert 4096 < len(body) < 65536
    status, _, reply = bulk(d, body, "/gasdetect/_bulk")
    assert status == 200 and len(reply["items"]) == 30 and not reply["errors"]
    assert d.request("POST", "/gasdetect/_doc", dict(SEED, pad="x" * 5000))[0] == 413
    status, _, _ = d.request("POST", "/gasdetect/_bulk", body * (65536 // len(body) + 1),
                             headers={"Content-Type": "application/x-ndjson"})
    assert status == 413
    assert len(d.docs()) == 30
    assert d.stop() == 0


def test_bulk_items_survive_kill9(daemon_factory):
    d = daemon_factory()
    lines = []
    for i in range(2000):
        lines += [{"index": {}}, reading(i % 5, no2=str(i))]
    status, _, reply = bulk(d, ndjson(*lines), "/gasdetect/_bulk")
    assert status == 200 and not reply["errors"]
    ids = [i["index"]["_id"] for i in reply["items"]]
    d.kill9()
    d.start()  # the journal's documents come back into the hot tier
    status, _, body = d.request("GET", "/gasdetect/_count")
    assert status == 200 and json.loads(body)["count"] == 2000
    stored = {str(row[0]): json.loads(row[4]) for row in d.docs()}  # after /_flush
    assert set(ids) <= set(stored)
    assert [stored[i]["no2"]["value"] for i in ids] == [str(i) for i in range(2000)]
    assert d.stop() == 0


# ---- _cat/indices ----

def test_cat_indices(gasketd):
    assert gasketd.post(SEED)[0] == 200
    assert gasketd.request("POST", "/lab/_doc", SEED, key=ADMIN)[0] == 201
    # a device key sees only the indexes it may read (its routes')
    status, _, body = gasketd.request("GET", "/_cat/indices")
    assert status == 200 and [l.split()[2] for l in body.decode().splitlines()] == ["gasdetect"]
    status, headers, body = gasketd.request("GET", "/_cat/indices", key=ADMIN)
    text = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert "gasdetect" in text and "lab" in text and "health" not in text
    status, _, body = gasketd.request("GET", "/_cat/indices?v", key=ADMIN)
    lines = body.decode().splitlines()
    assert lines[0].split()[:3] == ["health", "status", "index"] and len(lines) == 3
    status, headers, body = gasketd.request("GET", "/_cat/indices?format=json", key=ADMIN)
    rows = {r["index"]: r for r in json.loads(body)}
    assert status == 200 and set(rows) == {"gasdetect", "lab"}
    assert rows["gasdetect"]["docs.count"] == "1" and rows["gasdetect"]["health"] == "green"
    assert gasketd.request("GET", "/_cat/indices?format=yaml")[0] == 400
    assert gasketd.request("GET", "/_cat/indices?h=index")[0] == 400


# ---- _export ----

def export(d, query="", key=KEY):
    c = d.conn(timeout=60)
    try:
        c.request("GET", "/gasdetect/_export" + query, headers={"x-api-key": key})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def test_export_csv_and_ndjson(gasketd):
    load_docs(gasketd, 3500)
    assert gasketd.post(dict(SEED, gps="1.5, 2.5", note='say "hi"'))[0] == 200
    rows = gasketd.docs()
    status, headers, body = export(gasketd, "?format=csv")
    assert status == 200, body
    assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    assert headers["content-type"].startswith("text/csv")
    assert 'filename="gasdetect.csv"' in headers["content-disposition"]
    table = list(csv.reader(io.StringIO(body.decode())))
    header = table[0]
    assert header[:4] == ["_id", "date", "groupid", "gps"]
    assert {"no2.value", "co.value", "c2h5oh.value", "h2.value"} <= set(header)
    assert [int(r[0]) for r in table[1:]] == [r[0] for r in rows]
    for line, row in zip(table[1:], rows):
        src = json.loads(row[4])
        got = dict(zip(header, line))
        assert got["date"] == src["date"] and got["groupid"] == src["groupid"]
        assert got["no2.value"] == src["no2"]["value"] and got["gps"] == src.get("gps", "")
    assert table[-1][3] == "1.5, 2.5"  # quoted, comma and all

    status, headers, body = export(gasketd, "?format=ndjson")
    assert status == 200 and headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(x) for x in body.decode().splitlines()]
    assert [int(x["_id"]) for x in lines] == [r[0] for r in rows]
    assert all(x["_index"] == "gasdetect" for x in lines)
    assert [x["_source"] for x in lines] == [json.loads(r[4]) for r in rows]

    # a query (only its "query" counts) and fixed columns
    q = urllib.parse.quote(json.dumps({"query": {"term": {"groupid": "3"}}, "size": 1,
                                       "aggs": {"x": {"bogus": {}}}}))
    status, _, body = export(gasketd, "?format=csv&fields=_id,no2.value,missing&source=" + q)
    table = list(csv.reader(io.StringIO(body.decode())))
    want = [r for r in rows if r[3] == "3"]
    assert status == 200 and table[0] == ["_id", "no2.value", "missing"]
    assert len(table) - 1 == len(want) == 500
    assert [(int(a), b, c) for a, b, c in table[1:]] == \
        [(r[0], json.loads(r[4])["no2"]["value"], "") for r in want]


def test_export_errors(gasketd):
    assert gasketd.post(SEED)[0] == 200
    assert export(gasketd, "?format=xml")[0] == 400
    assert export(gasketd, "?fields=a,,b")[0] == 400
    assert export(gasketd, "?bogus=1")[0] == 400
    q = urllib.parse.quote(json.dumps({"query": {"bogus": {}}}))
    assert export(gasketd, "?source=" + q)[0] == 400
    assert export(gasketd, key="not-a-key-at-all-xxxxxxxx")[0] == 403
    c = gasketd.conn()
    c.request("GET", "/nope/_export", headers={"x-api-key": ADMIN})
    r = c.getresponse()
    assert r.status == 404 and error_type(r.read()) == "index_not_found_exception"
    c.close()
    # an empty export: the header only
    q = urllib.parse.quote(json.dumps({"query": {"term": {"groupid": "none"}}}))
    status, _, body = export(gasketd, "?source=" + q)
    assert status == 200 and body == b"_id,date,groupid,gps\r\n"


def read_chunked_head(s):
    """Reads up to the end of the response head; returns (head, rest)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, buf
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head.decode(), rest


def dechunk(data):
    out, pos = b"", 0
    while True:
        eol = data.index(b"\r\n", pos)
        n = int(data[pos:eol], 16)
        if n == 0:
            return out
        out += data[eol + 2:eol + 2 + n]
        pos = eol + 2 + n + 2


def test_export_streams_without_reading_ahead(gasketd):
    """A reader that stops holds the export: documents committed while it
    waits, after the first bytes arrived, are in the pages read afterwards.
    Had the server read every page at once, they could not be."""
    n = 24000
    load_docs(gasketd, n)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    s.settimeout(60)
    s.connect(("127.0.0.1", gasketd.port))
    s.sendall(("GET /gasdetect/_export?format=ndjson HTTP/1.1\r\nHost: x\r\n"
               "x-api-key: %s\r\nConnection: close\r\n\r\n" % KEY).encode())
    head, rest = read_chunked_head(s)
    assert head.startswith("HTTP/1.1 200") and "Transfer-Encoding: chunked" in head
    time.sleep(1.0)  # the server fills the socket buffers, then must wait
    status, _, reply = bulk(gasketd, ndjson({"index": {"_index": "gasdetect"}},
                                            reading("late", no2="1")))
    assert status == 200 and not reply["errors"]
    late_id = reply["items"][0]["index"]["_id"]
    data = rest
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    s.close()
    lines = dechunk(data).decode().splitlines()
    assert len(lines) == n + 1
    assert json.loads(lines[-1])["_id"] == late_id
    assert json.loads(lines[-1])["_source"]["groupid"] == "late"


def test_export_client_gone_midway(gasketd):
    load_docs(gasketd, 12000)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    s.settimeout(30)
    s.connect(("127.0.0.1", gasketd.port))
    s.sendall(("GET /gasdetect/_export?format=csv HTTP/1.1\r\nHost: x\r\n"
               "x-api-key: %s\r\n\r\n" % KEY).encode())
    head, _ = read_chunked_head(s)
    assert head.startswith("HTTP/1.1 200")
    s.close()
    time.sleep(0.3)
    status, _, body = gasketd.request("GET", "/gasdetect/_count")
    assert status == 200 and json.loads(body)["count"] == 12000
    status, _, body = export(gasketd, "?fields=_id")
    assert status == 200 and len(body.decode().splitlines()) == 12001


def test_source_comes_back_byte_for_byte(gasketd):
    body = '{"groupid":"2","no2":{"value":26.2,"sensorid":"0006"},"t":1e5,"z":0.30000000000000004}'
    st, _, reply = gasketd.post(body)
    assert st == 200
    doc_id = json.loads(reply)["_id"]
    stored = gasketd.docs()[0][4]
    assert stored.startswith(body[:-1]) and '"date":' in stored
    for path, q in (("/gasdetect/_search", '{"query":{"term":{"groupid":"2"}}}'),
                    ("/gasdetect/_doc/" + doc_id, None)):
        st, _, text = gasketd.request("GET" if q is None else "POST", path, q)
        assert st == 200
        text = text.decode()
        assert '"_source":' + stored in text, text
        json.loads(text)  # still one valid JSON document
    # filtered sources are rebuilt, and still valid JSON
    st, _, text = gasketd.request("POST", "/gasdetect/_search", '{"_source":["no2.*"]}')
    assert st == 200 and json.loads(text)["hits"]["hits"][0]["_source"] == {
        "no2": {"value": 26.2, "sensorid": "0006"}}


def test_retention_deletes_old_documents_in_the_background(daemon_factory):
    d = daemon_factory(extra="[index gasdetect]\nretention = 1d\n")
    old = [dict(reading(1), date="2021-09-0%d 18:14:49" % day) for day in range(1, 6)]
    lines = []
    for doc in old + [reading(2), reading(3)]:
        lines += [{"index": {"_index": "gasdetect"}}, doc]
    status, _, reply = bulk(d, ndjson(*lines))
    assert status == 200 and not reply["errors"], reply
    deadline = time.time() + 20
    count = None
    while time.time() < deadline:
        count = json.loads(d.request("GET", "/gasdetect/_count")[2])["count"]
        if count == 2:
            break
        time.sleep(0.2)
    assert count == 2
    assert sorted(json.loads(x[4])["groupid"] for x in d.docs()) == ["2", "3"]
    with d.db() as c:
        assert measurement_rows(c, "ts < 1700000000000") == []
        assert measurement_rows(c, "ts >= 1700000000000") != []
        assert c.execute("select count(*) from rollup_1m where t < 1700000000000").fetchone() == (0,)
    d.wait_log("retention")
    assert d.stop() == 0


def test_index_exists_and_mapping(gasketd):
    assert gasketd.request("HEAD", "/gasdetect")[0] == 404
    status, _, body = gasketd.request("GET", "/gasdetect")
    assert status == 404 and error_type(body) == "index_not_found_exception"
    assert gasketd.post(SEED)[0] == 200
    status, _, body = gasketd.request("HEAD", "/gasdetect")
    assert status == 200 and body == b""
    status, _, body = gasketd.request("GET", "/gasdetect")
    assert status == 200
    props = json.loads(body)["gasdetect"]["mappings"]["properties"]
    assert props["date"]["type"] == "date" and props["groupid"]["type"] == "keyword"
    assert sorted(k for k in props if "properties" in props[k]) == ["c2h5oh", "co", "h2", "no2"]
    assert props["no2"]["properties"]["value"]["type"] == "double"
    status, _, body = gasketd.request("PUT", "/newindex", "{}")
    assert status == 400 and "first document" in json.loads(body)["error"]["reason"]
    assert gasketd.request("HEAD", "/gasdetect", key=None)[0] == 401
    # a device posting to a path that is no route still gets 404
    assert gasketd.request("POST", "/gasdetect", SEED)[0] == 404
