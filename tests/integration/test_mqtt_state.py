"""Issue 9: the broker's state is bounded and saved off the loop, and the
ingest queue is bounded. Real gasketd, real clients (paho, raw sockets,
http.client); the store is made slow or failing for real, by holding a
write lock on gasket.db from this process (the store's writer waits for it,
and gives up after its 5 s busy timeout)."""
import json
import shutil
import socket
import sqlite3
import struct
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from conftest import KEY, SEED
from test_mqtt import Paho, _session_expiry, add_user, connect_packet, mqtt_str, remaining

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "mqtt-v0.db"
ANON = "[mqtt]\nallow_anonymous = true\n"


def wait_until(pred, timeout=10, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def mqtt_db(d):
    return sqlite3.connect("file:%s?mode=ro" % (d.data / "mqtt.db"), uri=True, timeout=10)


class StoreLock:
    """A write transaction on both hot files held by this process: the store
    writer stalls (its group commits write the hot tier), and fails its
    transactions after its busy timeout of 5 s."""

    def __init__(self, d):
        hot0, hot1 = d.hot_files()
        self.c = sqlite3.connect(hot0, timeout=10, isolation_level=None)
        self.c.execute("ATTACH ? AS h1", (hot1,))
        self.c.execute("BEGIN IMMEDIATE")

    def release(self):
        self.c.execute("ROLLBACK")
        self.c.close()


def publish_packet(topic, payload, qos, pid, v5=False):
    body = mqtt_str(topic.encode())
    if qos:
        body += struct.pack(">H", pid)
    if v5:
        body += b"\x00"
    body += payload
    return bytes([0x30 | (qos << 1)]) + remaining(len(body)) + body


def connect_v5(client_id, login=False):
    """A 5.0 CONNECT; with login, as principal itest (its name and key)."""
    vh = mqtt_str(b"MQTT") + bytes([5, 0xC2 if login else 0x02]) + struct.pack(">H", 60) + b"\x00"
    body = vh + mqtt_str(client_id.encode())
    if login:
        body += mqtt_str(b"itest") + mqtt_str(KEY.encode())
    return b"\x10" + remaining(len(body)) + body


def login_311(client_id, clean=True, keepalive=60):
    """A 3.1.1 CONNECT as principal itest: only a principal of the route
    may send readings over MQTT."""
    flags = 0xC0 | (0x02 if clean else 0)
    body = (mqtt_str(b"MQTT") + bytes([4, flags]) + struct.pack(">H", keepalive) +
            mqtt_str(client_id) + mqtt_str(b"itest") + mqtt_str(KEY.encode()))
    return b"\x10" + remaining(len(body)) + body


def read_packet(s):
    """(type byte, body) of the next packet, or None once the socket closed."""
    def take(n):
        out = b""
        while len(out) < n:
            chunk = s.recv(n - len(out))
            if not chunk:
                return None
            out += chunk
        return out
    h = take(1)
    if h is None:
        return None
    mult, n = 1, 0
    while True:
        b = take(1)
        if b is None:
            return None
        n += (b[0] & 0x7F) * mult
        mult *= 128
        if not b[0] & 0x80:
            break
    body = take(n) if n else b""
    return None if body is None else (h[0], body)


def raw_client(d, packet):
    s = socket.create_connection(("127.0.0.1", d.mqtt_port), timeout=20)
    s.sendall(packet)
    p = read_packet(s)
    assert p and p[0] == 0x20, p
    return s


def doc_count(d):
    with d.db() as c:
        return c.execute("select count(*) from docs").fetchone()[0]


# ---- persistence ----

def test_mqtt_db_of_schema_0_is_upgraded_and_loaded(daemon_factory, tmp_path):
    d = daemon_factory(extra=ANON, start=False)
    d.data.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE, d.data / "mqtt.db")
    d.start()
    assert "upgraded from schema 0 to 1" in d.log_text()
    assert "loaded 1 retained message(s) and 1 session(s)" in d.log_text()
    p = Paho(d, "fixture-v0", clean=False)
    assert p.flags["session present"] == 1
    got = p.wait(2)
    p.stop()
    assert sorted((t, m.decode()) for t, m, _, _ in got) == [("fix/kept", "retained-v0"),
                                                             ("fix/q", "queued-v0")]
    fresh = Paho(d, "fresh")
    fresh.c.subscribe("fix/#", 1)
    got = fresh.wait(1)
    fresh.stop()
    assert [(t, m.decode(), r) for t, m, _, r in got] == [("fix/kept", "retained-v0", 1)]
    assert d.stop() == 0
    with mqtt_db(d) as c:
        assert c.execute("pragma user_version").fetchone()[0] == 1


def test_a_new_mqtt_db_is_given_schema_1_in_wal_mode(daemon_factory):
    d = daemon_factory(extra=ANON)
    assert d.stop() == 0
    with mqtt_db(d) as c:
        assert c.execute("pragma user_version").fetchone()[0] == 1
        assert c.execute("pragma journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in c.execute("select name from sqlite_master where type = 'table'")}
    assert tables == {"retained", "sessions", "subscriptions", "deliveries"}


def test_mqtt_db_of_a_newer_schema_is_refused_and_left_alone(daemon_factory):
    d = daemon_factory(extra=ANON, start=False)
    d.data.mkdir(parents=True, exist_ok=True)
    c = sqlite3.connect(d.data / "mqtt.db")
    c.executescript("create table future(x); insert into future values(42);"
                    " pragma user_version = 2;")
    c.close()
    try:
        d.start(timeout=5)
        raise AssertionError("gasketd started with an mqtt.db of schema 2")
    except RuntimeError as e:
        assert "was written by a newer gasket (schema 2); move it away" in str(e)
    with mqtt_db(d) as c:
        assert c.execute("pragma user_version").fetchone()[0] == 2
        assert c.execute("select x from future").fetchall() == [(42,)]
        assert c.execute("select count(*) from sqlite_master where name = 'sessions'"
                         ).fetchone()[0] == 0


def test_persistence_writes_only_what_changed(daemon_factory):
    d = daemon_factory(extra=ANON + "persist_interval = 500ms\n")
    pub = Paho(d, "setter")
    for i in range(50):
        pub.c.publish("r/%d" % i, "v%d" % i, qos=1, retain=True).wait_for_publish()
    pub.stop()
    wait_until(lambda: mqtt_db(d).execute("select count(*) from retained").fetchone()[0] == 50,
               what="the first save")
    assert d.stop() == 0
    # an audit of every row written from now on
    with sqlite3.connect(str(d.data / "mqtt.db")) as c:
        c.executescript(
            "CREATE TABLE audit(what TEXT);"
            "CREATE TRIGGER a1 AFTER INSERT ON retained BEGIN INSERT INTO audit VALUES(new.topic); END;"
            "CREATE TRIGGER a2 AFTER DELETE ON retained BEGIN INSERT INTO audit VALUES('-' || old.topic); END;")
    d.start()
    pub = Paho(d, "setter")
    pub.c.publish("r/7", "changed", qos=1, retain=True).wait_for_publish()
    pub.c.publish("r/9", "", qos=1, retain=True).wait_for_publish()  # cleared
    pub.stop()
    wait_until(lambda: mqtt_db(d).execute("select count(*) from audit").fetchone()[0] >= 2,
               what="the save of the change")
    time.sleep(1.5)  # several more intervals: nothing else changes
    rows = sorted(r[0] for r in mqtt_db(d).execute("select what from audit"))
    # INSERT OR REPLACE deletes the old row of r/7 first
    assert set(rows) <= {"r/7", "-r/7", "-r/9"} and "r/7" in rows and "-r/9" in rows, rows
    assert d.stop() == 0
    d.start()
    s = Paho(d, "reader")
    s.c.subscribe("r/#", 1)
    got = s.wait(49)
    s.stop()
    kept = {t: m.decode() for t, m, _, _ in got}
    assert len(kept) == 49 and kept["r/7"] == "changed" and "r/9" not in kept
    assert d.stop() == 0


def test_a_failed_save_is_written_by_a_later_one(daemon_factory):
    d = daemon_factory(extra=ANON + "persist_interval = 500ms\n")
    lock = sqlite3.connect(str(d.data / "mqtt.db"), timeout=10, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        p = Paho(d, "setter")
        p.c.publish("kept/1", "v1", qos=1, retain=True).wait_for_publish()
        p.stop()
        d.wait_log("mqtt: persistence: save", timeout=20)  # the writer gave up
        # the loop went on meanwhile
        assert d.request("GET", "/healthz", key=None)[0] == 200
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    wait_until(lambda: mqtt_db(d).execute("select count(*) from retained").fetchone()[0] == 1,
               timeout=15, what="the retried save")
    d.kill9()
    d.start()
    s = Paho(d, "reader")
    s.c.subscribe("kept/#", 1)
    got = s.wait(1)
    s.stop()
    assert [(t, m) for t, m, _, _ in got] == [("kept/1", b"v1")]
    assert d.stop() == 0


def test_session_owner_survives_a_restart(daemon_factory, tmp_path):
    pw, acl = tmp_path / "passwd", tmp_path / "acl"
    add_user(pw, "owner", "pw-owner")
    add_user(pw, "pub", "pw-pub")
    acl.write_text("user owner\ntopic read q/#\nuser pub\ntopic write q/#\n")
    d = daemon_factory(extra="[mqtt]\nallow_anonymous = false\npassword_file = %s\n"
                       "acl_file = %s\n" % (pw, acl))

    def client(cid, user, clean):
        c = mqtt.Client(client_id=cid, clean_session=clean)
        c.username_pw_set(user, "pw-" + user)
        got = []
        c.on_message = lambda c_, u, m: got.append(m.payload.decode())
        c.connect("127.0.0.1", d.mqtt_port)
        c.loop_start()
        return c, got

    o, _ = client("owned", "owner", False)
    o.subscribe("q/#", 1)
    time.sleep(0.5)
    o.disconnect(); o.loop_stop()
    assert d.stop() == 0
    with mqtt_db(d) as c:
        assert c.execute("select user from sessions where id='owned'").fetchone() == ("owner",)
    d.start()
    p, _ = client("sender", "pub", True)
    for i in range(3):
        p.publish("q/x", "m%d" % i, qos=1).wait_for_publish()
    p.disconnect(); p.loop_stop()
    # queued while the owner was away: its ACL (read q/#) let them in
    o, got = client("owned", "owner", False)
    wait_until(lambda: len(got) >= 3, what="the queued messages")
    o.disconnect(); o.loop_stop()
    assert got == ["m0", "m1", "m2"]
    assert d.stop() == 0


# ---- bounded state ----

def test_retained_limits(daemon_factory):
    keys = {u: "%s-key-0123456789abcdef" % u for u in ("alice", "bob")}
    d = daemon_factory(extra=ANON + "max_retained_per_identity = 3\nmax_retained_bytes = 4096\n" +
                       "".join("[apikey %s]\nkey = %s\n" % kv for kv in keys.items()))
    live = Paho(d, "live")
    live.c.subscribe("r/#", 1)
    time.sleep(0.3)

    def pub_as(user, items):
        c = mqtt.Client(client_id="p-" + user)
        c.username_pw_set(user, keys[user])  # principals alice and bob
        c.connect("127.0.0.1", d.mqtt_port)
        c.loop_start()
        for t, m in items:
            info = c.publish(t, m, qos=1, retain=True)
            info.wait_for_publish()
            assert info.rc == 0
        c.disconnect(); c.loop_stop()

    pub_as("alice", [("r/a%d" % i, "a%d" % i) for i in range(5)])
    pub_as("bob", [("r/b0", "b0"), ("r/big", "x" * 5000)])
    got = live.wait(7)
    live.stop()
    assert len(got) == 7  # every message was delivered
    late = Paho(d, "late")
    late.c.subscribe("r/#", 1)
    kept = late.wait(4)
    time.sleep(0.5)
    late.stop()
    assert sorted(t for t, _, _, r in late.msgs if r) == ["r/a0", "r/a1", "r/a2", "r/b0"]
    log = d.log_text()
    assert "delivered but not retained: max_retained_per_identity reached" in log
    assert d.stop() == 0


def _suback(s, pid, filters, v5):
    body = struct.pack(">H", pid) + (b"\x00" if v5 else b"")
    for f in filters:
        body += mqtt_str(f.encode()) + b"\x01"
    s.sendall(b"\x82" + remaining(len(body)) + body)
    t, rb = read_packet(s)
    assert t == 0x90
    codes = rb[2:]
    if v5:
        codes = codes[1 + codes[0]:]  # property length (< 128 here), properties
    return list(codes)


def test_max_subscriptions(daemon_factory):
    d = daemon_factory(extra=ANON + "max_subscriptions = 2\n")
    s = raw_client(d, connect_packet(b"subs-311"))
    assert _suback(s, 1, ["a/1", "a/2", "a/3"], False) == [1, 1, 0x80]
    assert _suback(s, 2, ["a/1"], False) == [1]  # renewing one held is fine
    s.close()
    s = raw_client(d, connect_v5("subs-5"))
    assert _suback(s, 1, ["a/1", "a/2", "a/3"], True) == [1, 1, 0x97]
    s.close()
    assert d.stop() == 0


def test_max_session_expiry(daemon_factory):
    d = daemon_factory(extra=ANON + "max_session_expiry = 2s\n")
    p = Paho(d, "short", clean=False)
    p.c.subscribe("x/#", 1)
    time.sleep(0.3)
    p.stop()
    time.sleep(3.5)
    p = Paho(d, "short", clean=False)
    assert p.flags["session present"] == 0  # 3.1.1: ended after max_session_expiry
    p.stop()
    got = {}
    c = mqtt.Client(client_id="v5", protocol=mqtt.MQTTv5)
    c.on_connect = lambda c_, u, f, rc, props=None: got.setdefault("props", props)
    c.connect("127.0.0.1", d.mqtt_port, properties=_session_expiry(3600))
    c.loop_start()
    wait_until(lambda: "props" in got, what="CONNACK")
    c.disconnect(); c.loop_stop()
    assert got["props"].SessionExpiryInterval == 2
    assert d.stop() == 0


# ---- a failed commit is not acknowledged to a 3.1.1 client ----

def test_v311_publish_whose_commit_fails_is_not_acknowledged(daemon_factory):
    d = daemon_factory(extra=ANON)
    payload = json.dumps(dict(SEED, groupid="commit-fail")).encode()
    lock = StoreLock(d)
    try:
        s311 = raw_client(d, login_311(b"dev-311"))
        q2 = raw_client(d, login_311(b"dev-311-qos2", clean=False))
        s5 = raw_client(d, connect_v5("dev-5", login=True))
        s311.sendall(publish_packet("gas/1", payload, 1, 7))
        q2.sendall(publish_packet("gas/2", payload, 2, 9))
        s5.sendall(publish_packet("gas/1", payload, 1, 8, v5=True))
        for s in (s311, q2, s5):
            s.settimeout(30)
        assert read_packet(s311) is None  # closed, no PUBACK: the client will resend
        assert read_packet(q2) is None  # closed, no PUBREC
        t, body = read_packet(s5)
        assert t == 0x40 and body[:2] == struct.pack(">H", 8) and body[2] == 0x80
    finally:
        lock.release()
    s311.close(); q2.close(); s5.close()
    assert doc_count(d) == 0
    s = raw_client(d, login_311(b"dev-311"))
    s.sendall(publish_packet("gas/1", payload, 1, 7))  # the resend
    assert read_packet(s) == (0x40, struct.pack(">H", 7))
    s.close()
    q2 = raw_client(d, login_311(b"dev-311-qos2", clean=False))
    dup = bytearray(publish_packet("gas/2", payload, 2, 9))
    dup[0] |= 0x08
    q2.sendall(bytes(dup))  # the resend (DUP) is taken as new, not as already routed
    assert read_packet(q2) == (0x50, struct.pack(">H", 9))
    q2.sendall(b"\x62\x02" + struct.pack(">H", 9))  # PUBREL
    assert read_packet(q2) == (0x70, struct.pack(">H", 9))
    q2.close()
    assert doc_count(d) == 2
    assert d.stop() == 0


# ---- the bounded ingest queue ----

def test_http_ingest_answers_503_when_the_store_is_behind(daemon_factory):
    d = daemon_factory(extra="[server]\nmax_pending = 4\n")
    lock = StoreLock(d)
    results = []

    def post(i):
        st, h, body = d.post(dict(SEED, groupid="q-%d" % i))
        results.append((i, st, h, body))

    threads = [threading.Thread(target=post, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: sum(1 for r in results if r[1] == 503) >= 12, what="the 503s")
        st, h, body = d.request("POST", "/gasdetect/_doc", dict(SEED, groupid="doc"))
        assert st == 503 and h.get("retry-after") == "1"
        bulk = '{"index":{"_index":"gasdetect"}}\n%s\n' % json.dumps(SEED)
        st, h, body = d.request("POST", "/_bulk", bulk,
                                headers={"Content-Type": "application/x-ndjson"})
        assert st == 503 and json.loads(body)["message"].startswith("Store busy")
    finally:
        time.sleep(0.5)
        lock.release()
    for t in threads:
        t.join(30)
    ok = sorted("q-%d" % i for i, st, _, _ in results if st == 200)
    busy = [r for r in results if r[1] == 503]
    assert len(ok) + len(busy) == 16 and len(ok) == 4, [r[1] for r in results]
    for _, _, h, body in busy:
        assert h.get("retry-after") == "1"
        assert json.loads(body)["message"].startswith("Store busy")
    assert d.post(SEED)[0] == 200
    stored = sorted(g for _, _, _, g, _ in d.docs() if g.startswith("q-"))
    assert stored == ok
    assert d.stop() == 0


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def test_mqtt_telemetry_is_not_read_while_the_store_is_behind(daemon_factory):
    d = daemon_factory(extra=ANON + "[server]\nmax_pending = 20\n")
    n, body = 6000, dict(SEED, note="x" * 4000)
    packets = [publish_packet("gas/%d" % (i % 50), json.dumps(dict(body, groupid="m%d" % i))
                              .encode(), 1, i % 65535 + 1) for i in range(n)]
    s = raw_client(d, login_311(b"flood"))
    acks = []

    def reader():
        while len(acks) < n:
            p = read_packet(s)
            if p is None:
                return
            if p[0] == 0x40:
                acks.append(p[1])

    def writer():
        for p in packets:
            s.sendall(p)

    before = rss_kb(d.proc.pid)
    lock = StoreLock(d)
    r, w = threading.Thread(target=reader), threading.Thread(target=writer)
    r.start(); w.start()
    try:
        time.sleep(2.0)  # the flood runs into the stopped reader
        during = rss_kb(d.proc.pid)
    finally:
        lock.release()
    w.join(120)
    r.join(120)
    s.close()
    # 24 MB were offered; only max_pending readings and the socket buffers are held
    assert during - before < 12 * 1024, (before, during)
    assert len(acks) == n
    assert doc_count(d) == n
    assert d.stop() == 0


def test_keep_alive_does_not_close_a_paused_client(daemon_factory):
    d = daemon_factory(extra=ANON + "[server]\nmax_pending = 1\n")
    lock = StoreLock(d)
    try:
        s = raw_client(d, login_311(b"slow-store", keepalive=1))
        for pid in (1, 2):
            s.sendall(publish_packet("gas/1", json.dumps(dict(SEED, groupid="ka%d" % pid))
                                     .encode(), 1, pid))
        time.sleep(3.0)  # twice the keep-alive timeout (1.5 s), paused: not read meanwhile
    finally:
        lock.release()
    s.settimeout(20)
    assert [read_packet(s), read_packet(s)] == [(0x40, struct.pack(">H", 1)),
                                                (0x40, struct.pack(">H", 2))]
    s.sendall(b"\xc0\x00")  # PINGREQ: still connected
    assert read_packet(s) == (0xD0, b"")
    s.close()
    assert doc_count(d) == 2
    assert d.stop() == 0


class RawWebSocketMqtt:
    """MQTT over a WebSocket written here (paho's WebSocket transport resends
    or mangles frames when the socket blocks): blocking sends of masked
    binary frames, a reader that unwraps the server's frames."""

    def __init__(self, port):
        import base64, os
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
                        % key).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.s.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.stream = b""

    def send(self, data):
        n = len(data)
        hdr = b"\x82" + (bytes([0x80 | n]) if n < 126 else
                         b"\xfe" + struct.pack(">H", n) if n < 65536 else
                         b"\xff" + struct.pack(">Q", n))
        mask = b"\x01\x02\x03\x04"
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.s.sendall(hdr + mask + body)

    def _take(self, n):
        out = b""
        while len(out) < n:
            chunk = self.s.recv(n - len(out))
            if not chunk:
                return None
            out += chunk
        return out

    def recv(self, n):
        """n bytes of the MQTT stream, or None once closed."""
        while len(self.stream) < n:
            h = self._take(2)
            if h is None:
                return None
            ln = h[1] & 0x7F
            if ln == 126:
                ln = struct.unpack(">H", self._take(2))[0]
            elif ln == 127:
                ln = struct.unpack(">Q", self._take(8))[0]
            self.stream += self._take(ln) if ln else b""
        out, self.stream = self.stream[:n], self.stream[n:]
        return out


def test_websocket_telemetry_is_paused_too(daemon_factory):
    d = daemon_factory(extra=ANON + "[server]\nmax_pending = 20\n")
    n, body = 4000, dict(SEED, note="x" * 4000)
    packets = [publish_packet("gas/%d" % (i % 50), json.dumps(dict(body, groupid="w%d" % i))
                              .encode(), 1, i % 65535 + 1) for i in range(n)]
    ws = RawWebSocketMqtt(d.port)
    ws.send(login_311(b"ws-flood"))
    assert ws.recv(4)[0] == 0x20
    acks = []

    def reader():
        while len(acks) < n:
            p = ws.recv(4)
            if p is None:
                return
            acks.append(p)

    def writer():
        for p in packets:
            ws.send(p)

    before = rss_kb(d.proc.pid)
    lock = StoreLock(d)
    r, w = threading.Thread(target=reader), threading.Thread(target=writer)
    r.start(); w.start()
    try:
        time.sleep(2.0)
        during = rss_kb(d.proc.pid)
    finally:
        lock.release()
    w.join(120)
    r.join(120)
    ws.s.close()
    assert during - before < 12 * 1024, (before, during)
    assert len(acks) == n and all(a[0] == 0x40 for a in acks)
    assert doc_count(d) == n
    assert d.stop() == 0
