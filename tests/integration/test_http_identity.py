"""Issue 9, the HTTP side of identity and the HTTP holes: read and write
scope on every OpenSearch-style endpoint, _cat/indices filtered, /metrics
for loopback or admin, the key and route judged from the request's head
(before any body byte), the _bulk action cap, the Origin check of
WebSocket /mqtt, HTTP/0.9, out-of-range integer dates and CSV formula
cells. Each test fails on the code before issue 9."""
import base64
import csv
import io
import json
import os
import socket
import time

import paho.mqtt.client as mqtt
import pytest

from conftest import ADMIN, KEY, SEED, read_responses, ws_upgrade

DEV = "dev-key-0123456789abcdef0000"        # posts /gasdetector, reads its index
READER = "reader-key-0123456789abcdef00"    # posts /gasdetector, reads only `other`
OTHER = "other-key-0123456789abcdef000"     # posts /sensors (index `other`)

SCOPES = ("[route /gasdetector]\n[route /sensors]\nindex = other\n"
          "[apikey dev]\nkey = %s\nroutes = /gasdetector\n"
          "[apikey reader]\nkey = %s\nroutes = /gasdetector\nread = other\n"
          "[apikey other]\nkey = %s\nroutes = /sensors\n" % (DEV, READER, OTHER))


def ndjson(*lines):
    return "".join(json.dumps(line) + "\n" for line in lines)


def bulk(d, body, path="/_bulk", key=KEY):
    status, _, data = d.request("POST", path, body, key=key,
                                headers={"Content-Type": "application/x-ndjson"})
    return status, json.loads(data)


def basic(key):
    return {"Authorization": "Basic " + base64.b64encode(b"user:" + key.encode()).decode()}


# ---- 1. scope ----

def test_read_scope_on_every_read_endpoint(daemon_factory):
    d = daemon_factory(extra=SCOPES)
    assert d.request("POST", "/gasdetector", SEED, key=DEV)[0] == 200
    assert d.request("POST", "/sensors", SEED, key=OTHER)[0] == 200
    reads = [("GET", "/%s/_search"), ("POST", "/%s/_search"), ("GET", "/%s/_count"),
             ("GET", "/%s/_export"), ("GET", "/%s/_doc/1"), ("HEAD", "/%s/_doc/1"),
             ("GET", "/%s"), ("HEAD", "/%s")]
    for method, path in reads:
        # dev reads gasdetect (its route's index), not other
        assert d.request(method, path % "gasdetect", key=DEV)[0] in (200, 404), path
        assert d.request(method, path % "other", key=DEV)[0] == 403, path
        # reader's `read = other` replaces its routes' indexes
        assert d.request(method, path % "other", key=READER)[0] in (200, 404), path
        assert d.request(method, path % "gasdetect", key=READER)[0] == 403, path
        # the key may come as HTTP Basic's password too
        assert d.request(method, path % "other", key=None,
                         headers=basic(READER))[0] in (200, 404), path
        assert d.request(method, path % "gasdetect", key=None, headers=basic(READER))[0] == 403
    status, _, body = d.request("GET", "/other/_count", key=READER)
    assert status == 200 and json.loads(body)["count"] == 1
    # GET on a route (a DSL body) reads the route's index: reader may post
    # /gasdetector but not read it
    assert d.request("POST", "/gasdetector", SEED, key=READER)[0] == 200
    assert d.request("GET", "/gasdetector", {"size": 1}, key=READER)[0] == 403
    status, _, body = d.request("GET", "/gasdetector", {"size": 1}, key=DEV)
    assert status == 200 and json.loads(body)["hits"]["total"]["value"] == 2
    # an admin reads everything, including an index that does not exist
    assert d.request("GET", "/other/_search", key=ADMIN)[0] == 200
    assert d.request("GET", "/nope/_search", key=ADMIN)[0] == 404
    assert d.request("GET", "/nope/_search", key=DEV)[0] == 403
    assert d.stop() == 0


def test_cat_indices_lists_only_readable(daemon_factory):
    d = daemon_factory(extra=SCOPES)
    assert d.request("POST", "/gasdetector", SEED, key=DEV)[0] == 200
    assert d.request("POST", "/sensors", SEED, key=OTHER)[0] == 200
    assert d.request("POST", "/lab/_doc", SEED, key=ADMIN)[0] == 201

    def listed(key, fmt=""):
        status, _, body = d.request("GET", "/_cat/indices" + fmt, key=key)
        assert status == 200, body
        if fmt == "?format=json":
            return sorted(r["index"] for r in json.loads(body))
        return sorted(line.split()[2] for line in body.decode().splitlines()[1 if fmt else 0:])

    assert listed(DEV) == ["gasdetect"]
    assert listed(READER, "?format=json") == ["other"]
    assert listed(OTHER, "?v") == ["other"]
    assert listed(ADMIN) == ["gasdetect", "lab", "other"]
    assert d.request("GET", "/_cat/indices", key=None)[0] == 401  # no credential at all
    assert d.stop() == 0


def test_write_scope_doc_and_bulk_items(daemon_factory):
    d = daemon_factory(extra=SCOPES)
    # POST _doc: the key's routes' indexes only; an index no route writes: admin only
    assert d.request("POST", "/gasdetect/_doc", SEED, key=DEV)[0] == 201
    assert d.request("POST", "/other/_doc", SEED, key=DEV)[0] == 403
    assert d.request("POST", "/lab/_doc", SEED, key=DEV)[0] == 403
    assert d.request("POST", "/lab/_doc", SEED, key=KEY)[0] == 403  # every route, no admin
    assert d.request("POST", "/lab/_doc", SEED, key=ADMIN)[0] == 201
    # /{index}/_bulk needs write scope on the URL's index
    assert bulk(d, ndjson({"index": {}}, SEED), "/other/_bulk", key=DEV)[0] == 403
    # each item on its own index, an _index in the action line included
    status, reply = bulk(d, ndjson({"index": {"_index": "gasdetect"}}, SEED,
                                   {"index": {"_index": "other"}}, SEED,
                                   {"create": {"_index": "lab"}}, SEED,
                                   {"index": {}}, SEED), "/gasdetect/_bulk", key=DEV)
    assert status == 200 and reply["errors"] is True
    items = [list(i.values())[0] for i in reply["items"]]
    assert [i["status"] for i in items] == [201, 403, 403, 201]
    assert all(i["error"]["type"] == "security_exception" for i in items[1:3])
    assert "[other]" in items[1]["error"]["reason"] and "[lab]" in items[2]["error"]["reason"]
    status, reply = bulk(d, ndjson({"index": {"_index": "lab"}}, SEED), key=ADMIN)
    assert status == 200 and reply["items"][0]["index"]["status"] == 201
    stored = sorted(row[1] for row in d.docs())
    assert stored == ["gasdetect", "gasdetect", "gasdetect", "lab", "lab"]
    assert d.stop() == 0


# ---- /metrics ----

def outside_address():
    """An address of this machine that is not loopback, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent
        addr = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if addr.startswith("127.") else addr


def metrics_status(addr, port, key=None):
    s = socket.create_connection((addr, port), timeout=10)
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\n" +
                  (b"x-api-key: " + key.encode() + b"\r\n" if key else b"") + b"\r\n")
        return read_responses(s, want=1)[0][0]
    finally:
        s.close()


@pytest.mark.parametrize("public", [False, True])
def test_metrics_loopback_or_admin(daemon_factory, tmp_path, public):
    addr = outside_address()
    if not addr:
        pytest.skip("no address other than loopback")
    extra = "[http]\nmetrics_public = true\n" if public else ""
    ini = ("[server]\ndata_dir = %s\n\n[http]\nlisten = 0.0.0.0:0\n%s\n"
           "[mqtt]\nlisten = 127.0.0.1:0\n\n[apikey itest]\nkey = %s\n"
           "[apikey itest-admin]\nkey = %s\nadmin = true\n"
           % (tmp_path / "data", extra.replace("[http]\n", ""), KEY, ADMIN))
    d = daemon_factory(ini=ini)
    assert metrics_status("127.0.0.1", d.port) == 200  # loopback: open
    assert metrics_status(addr, d.port, ADMIN) == 200
    want = 200 if public else 403
    assert metrics_status(addr, d.port) == want
    assert metrics_status(addr, d.port, KEY) == want  # a device key is no admin
    # /healthz stays open
    s = socket.create_connection((addr, d.port), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert read_responses(s, want=1)[0][0] == 200
    s.close()
    assert d.stop() == 0


# ---- 2. refused from the headers, before the body ----

def head_only(port, head):
    """Sends only a request's head; the answer must come without the body."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(head)
        out = read_responses(s, want=1)
        assert out, "no answer to the head alone"
        assert s.recv(16) == b""  # closed without reading the body
        return out[0]
    finally:
        s.close()


BIG = 16 * 1024 * 1024


def test_refused_from_headers_before_the_body(gasketd):
    cases = [
        # unauthenticated _bulk with a 16 MiB body
        (b"POST /x/_bulk HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-ndjson\r\n"
         b"Content-Length: %d\r\n\r\n" % BIG, 403),
        (b"POST /_bulk HTTP/1.1\r\nHost: t\r\nx-api-key: not-a-key-0123456789abcd\r\n"
         b"Content-Length: %d\r\n\r\n" % BIG, 403),
        # a POST on a route with a wrong key
        (b"POST /gasdetector HTTP/1.1\r\nHost: t\r\nx-api-key: wrong-key-0123456789abcdef\r\n"
         b"Content-Length: %d\r\n\r\n" % BIG, 403),
        # chunked, without a key
        (b"POST /gasdetector HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", 403),
        # a device key writing an index no route writes
        (b"POST /lab/_doc HTTP/1.1\r\nHost: t\r\nx-api-key: " + KEY.encode() +
         b"\r\nContent-Length: 100000\r\n\r\n", 403),
        # no such route
        (b"POST /nowhere HTTP/1.1\r\nHost: t\r\nx-api-key: " + KEY.encode() +
         b"\r\nContent-Length: %d\r\n\r\n" % BIG, 404),
    ]
    for head, want in cases:
        status, rhead, body = head_only(gasketd.port, head)
        assert status == want, (head, status, body)
        assert "connection: close" in rhead.lower()
        assert json.loads(body)["message"]
    # Expect: 100-continue gets the refusal, never a 100
    s = socket.create_connection(("127.0.0.1", gasketd.port), timeout=5)
    s.sendall(b"POST /x/_bulk HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
              b"Content-Length: %d\r\n\r\n" % BIG)
    first = s.recv(64)
    assert first.startswith(b"HTTP/1.1 403"), first
    s.close()
    # a good key still sends its body and is served
    status, _, _ = gasketd.request("POST", "/gasdetector", SEED)
    assert status == 200
    assert len(gasketd.docs()) == 1


# ---- 3. _bulk: bounded actions ----

def test_bulk_action_cap(gasketd):
    one = '{"index":{}}\n' + json.dumps(SEED) + "\n"
    status, _, data = gasketd.request("POST", "/gasdetect/_bulk", one * 10001,
                                      headers={"Content-Type": "application/x-ndjson"})
    err = json.loads(data)["error"]
    assert status == 400 and err["type"] == "illegal_argument_exception", data[:300]
    assert "at most 10000" in err["reason"]
    assert gasketd.docs() == []  # nothing of it is stored
    status, reply = bulk(gasketd, one * 10000, "/gasdetect/_bulk")
    assert status == 200 and not reply["errors"] and len(reply["items"]) == 10000
    # a document line over 1 MiB is refused alone
    big = dict(SEED, note="x" * (1 << 20))
    status, reply = bulk(gasketd, ndjson({"index": {}}, big, {"index": {}}, SEED),
                         "/gasdetect/_bulk")
    assert status == 200 and [list(i.values())[0]["status"] for i in reply["items"]] == [400, 201]
    assert len(gasketd.docs()) == 10001


# ---- 4. WebSocket /mqtt and Origin ----

def upgrade(port, origin=None, host=None):
    status, s = ws_upgrade(port, {"Origin": origin} if origin else None, host)
    s.close()
    return status


def test_websocket_origin_raw(daemon_factory):
    d = daemon_factory(extra="[http]\nallowed_origins = https://dash.example:8443, "
                             "http://lab.example\n")
    p = d.port
    assert upgrade(p) == 101  # no Origin: not a browser; MQTT's CONNECT authenticates
    assert upgrade(p, "http://127.0.0.1:%d" % p) == 101  # the server's own origin
    assert upgrade(p, "http://gasket.local", host="gasket.local:80") == 101
    assert upgrade(p, "https://dash.example:8443") == 101  # listed
    assert upgrade(p, "http://lab.example") == 101
    for bad in ("http://evil.example", "http://127.0.0.1:%d" % (p + 1), "null",
                "https://dash.example", "http://127.0.0.1:%d.evil.example" % p):
        assert upgrade(p, bad) == 403, bad
    assert d.stop() == 0


def paho_ws(port, headers):
    """(connected, the client) for paho over ws://127.0.0.1:port/mqtt."""
    c = mqtt.Client(client_id="ws-origin-%d" % len(str(headers)), transport="websockets")
    c.ws_set_options(path="/mqtt", headers=headers)
    c.username_pw_set("itest", KEY)  # a principal: the Origin alone decides
    try:
        c.connect("127.0.0.1", port, keepalive=10)
    except Exception:  # the handshake refused
        return False, c
    c.loop_start()
    deadline = time.time() + 10
    while not c.is_connected() and time.time() < deadline:
        time.sleep(0.05)
    ok = c.is_connected()
    c.disconnect()
    c.loop_stop()
    return ok, c


def test_websocket_origin_paho(gasketd):
    ok, _ = paho_ws(gasketd.port, {"Origin": "http://evil.example"})
    assert not ok
    ok, _ = paho_ws(gasketd.port, lambda h: {k: v for k, v in h.items() if k != "Origin"})
    assert ok
    ok, _ = paho_ws(gasketd.port, {"Origin": "http://127.0.0.1:%d" % gasketd.port})
    assert ok
    assert gasketd.stop() == 0


# ---- 5. HTTP/0.9 ----

def test_http09_request_line_refused(gasketd):
    for req in (b"GET /\r\n", b"GET /\r\n\r\n", b"GET /healthz\n"):
        s = socket.create_connection(("127.0.0.1", gasketd.port), timeout=5)
        s.sendall(req)
        out = read_responses(s, until_close=True)
        s.close()
        assert [o[0] for o in out] == [400], (req, out)
        assert "HTTP/0.9" in json.loads(out[0][2])["message"]
    s = socket.create_connection(("127.0.0.1", gasketd.port), timeout=5)
    s.sendall(b"GET / HTTP/2.0\r\nHost: t\r\n\r\n")
    out = read_responses(s, until_close=True)
    s.close()
    assert [o[0] for o in out] == [505]


# ---- 6. integer dates out of range ----

def test_integer_date_out_of_range(gasketd):
    for bad in ("253402300800000", "-1", "1e300", "9223372036854775807"):
        body = json.dumps(SEED)[:-1] + ', "date": %s}' % bad
        status, _, data = gasketd.request("POST", "/gasdetect/_doc", body)
        err = json.loads(data)["error"]
        assert status == 400 and err["field"] == "date", (bad, data)
        status, _, data = gasketd.request("POST", "/gasdetect/_bulk",
                                          '{"index":{}}\n' + body + "\n",
                                          headers={"Content-Type": "application/x-ndjson"})
        item = json.loads(data)["items"][0]["index"]
        assert status == 200 and item["status"] == 400 and item["error"]["field"] == "date"
    assert gasketd.docs() == []
    # the ends of the range are kept
    for good, text in ((0, "1970-01-01"), (253402300799999, "9999-12-31")):
        status, _, data = gasketd.request("POST", "/gasdetect/_doc", dict(SEED, date=good))
        assert status == 201, data
        _id = json.loads(data)["_id"]
        status, _, data = gasketd.request("GET", "/gasdetect/_doc/" + _id)
        assert json.loads(data)["_source"]["date"].startswith(text[:4])


# ---- 7. CSV formula cells ----

def test_csv_export_neutralises_formulas(gasketd):
    doc = dict(SEED, f_eq="=HYPERLINK(\"http://evil\",\"x\")", f_plus="+1+cmd", f_minus="-2+3",
               f_at="@SUM(A1)", f_tab="\tx", f_cr="\rx", neg="-3.5", num=-3.5, plain="ok=1")
    assert gasketd.request("POST", "/gasdetect/_doc", doc)[0] == 201
    fields = "f_eq,f_plus,f_minus,f_at,f_tab,f_cr,neg,num,plain"
    c = gasketd.conn()
    c.request("GET", "/gasdetect/_export?format=csv&fields=" + fields, headers={"x-api-key": KEY})
    r = c.getresponse()
    assert r.status == 200
    rows = list(csv.reader(io.StringIO(r.read().decode(), newline="")))
    c.close()
    assert rows[0] == fields.split(",")
    assert rows[1] == ["'=HYPERLINK(\"http://evil\",\"x\")", "'+1+cmd", "'-2+3", "'@SUM(A1)",
                       "'\tx", "'\rx", "-3.5", "-3.5", "ok=1"]
