"""The embedded MQTT broker against clients no one here wrote: Debian's
mosquitto_pub/mosquitto_sub and python3-paho-mqtt, plus raw sockets for
what a well-behaved client never sends.

These tests are about general broker behaviour, so their gasketd admits
anonymous clients (allow_anonymous = true, off by default) and they use
ordinary topics (room/...), not the alert topics only gasketd writes (pi/1,
see test_mqtt_identity.py)."""
import socket
import struct
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest

ANON = "[mqtt]\nallow_anonymous = true\n"


@pytest.fixture
def gasketd(daemon_factory):
    d = daemon_factory(extra=ANON)
    yield d
    assert d.stop() == 0, d.log_text()


def sub_proc(d, version, topic, qos, count, extra=()):
    return subprocess.Popen(["mosquitto_sub", "-V", version, "-h", "127.0.0.1",
                             "-p", str(d.mqtt_port), "-t", topic, "-q", str(qos),
                             "-C", str(count), "-W", "10", "-v"] + list(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def pub(d, version, topic, msg, qos=0, extra=()):
    subprocess.run(["mosquitto_pub", "-V", version, "-h", "127.0.0.1", "-p", str(d.mqtt_port),
                    "-t", topic, "-q", str(qos), "-m", msg] + list(extra),
                   check=True, timeout=10)


def wait_subscribed(d, n=1, timeout=5):
    """Waits until n more subscriptions exist, by polling $SYS-free means:
    a retained probe would disturb tests, so just give the client time."""
    time.sleep(0.4)


@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_pub_sub(gasketd, version, qos):
    s = sub_proc(gasketd, version, "room/#", qos, 3)
    wait_subscribed(gasketd)
    for i in range(3):
        pub(gasketd, version, "room/1", '{"warning":"no2 warning %d"}' % i, qos)
    out, err = s.communicate(timeout=15)
    assert s.returncode == 0, err
    assert out.splitlines() == ['room/1 {"warning":"no2 warning %d"}' % i for i in range(3)]


def test_retained_set_replace_clear(gasketd):
    pub(gasketd, "mqttv311", "status/a", "one", 1, ["-r"])
    pub(gasketd, "mqttv5", "status/a", "two", 1, ["-r"])
    pub(gasketd, "mqttv311", "status/b", "bee", 0, ["-r"])
    s = sub_proc(gasketd, "mqttv311", "status/#", 1, 2)
    out, _ = s.communicate(timeout=15)
    assert sorted(out.splitlines()) == ["status/a two", "status/b bee"]
    pub(gasketd, "mqttv311", "status/a", "", 1, ["-r"])  # an empty payload clears
    s = sub_proc(gasketd, "mqttv5", "status/#", 1, 1)
    out, _ = s.communicate(timeout=15)
    assert out.splitlines() == ["status/b bee"]


def test_dollar_topics_not_matched_by_leading_wildcard(gasketd):
    gasketd_pub = lambda t, m: pub(gasketd, "mqttv311", t, m, 0, ["-r"])  # noqa: E731
    gasketd_pub("$internal/x", "hidden")
    gasketd_pub("plain/x", "seen")
    s = sub_proc(gasketd, "mqttv311", "#", 0, 1)
    out, _ = s.communicate(timeout=15)
    assert out.splitlines() == ["plain/x seen"]
    s = sub_proc(gasketd, "mqttv311", "$internal/#", 0, 1)
    out, _ = s.communicate(timeout=15)
    assert out.splitlines() == ["$internal/x hidden"]


class Paho:
    """A paho client that records what it receives."""

    def __init__(self, d, client_id="", clean=True, version=mqtt.MQTTv311, will=None,
                 keepalive=60, props=None, user=None, password=None):
        self.msgs, self.connected = [], threading.Event()
        self.flags, self.rc = None, None
        kw = {"client_id": client_id, "protocol": version}
        if version != mqtt.MQTTv5:
            kw["clean_session"] = clean
        self.c = mqtt.Client(**kw)
        if user is not None:
            self.c.username_pw_set(user, password)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.msgs.append((m.topic, m.payload, m.qos,
                                                              m.retain))
        if will:
            self.c.will_set(*will)
        ckw = {"keepalive": keepalive}
        if version == mqtt.MQTTv5:
            ckw["clean_start"] = clean
            if props is not None:
                ckw["properties"] = props
        self.c.connect("127.0.0.1", d.mqtt_port, **ckw)
        self.c.loop_start()
        assert self.connected.wait(10), "no CONNACK"

    def _on_connect(self, c, u, flags, rc, props=None):
        self.flags, self.rc = flags, rc
        self.connected.set()

    def wait(self, n, timeout=10):
        deadline = time.time() + timeout
        while len(self.msgs) < n and time.time() < deadline:
            time.sleep(0.02)
        return self.msgs

    def stop(self):
        self.c.disconnect()
        self.c.loop_stop()


def test_persistent_session_gets_100_queued_in_order(gasketd):
    p = Paho(gasketd, "persist-1", clean=False)
    p.c.subscribe("q/#", 1)
    time.sleep(0.3)
    p.stop()
    sender = Paho(gasketd, "sender-1")
    for i in range(100):
        sender.c.publish("q/x", "m%03d" % i, qos=1).wait_for_publish()
    sender.stop()
    p = Paho(gasketd, "persist-1", clean=False)
    assert p.flags["session present"] == 1
    msgs = p.wait(100)
    p.stop()
    assert [m[1].decode() for m in msgs] == ["m%03d" % i for i in range(100)]
    assert all(m[2] == 1 for m in msgs)


def test_will_published_on_abrupt_close(gasketd):
    watcher = Paho(gasketd, "watcher")
    watcher.c.subscribe("wills/#", 1)
    time.sleep(0.3)
    # A raw client with a will, then a close without DISCONNECT.
    s = socket.create_connection(("127.0.0.1", gasketd.mqtt_port), timeout=5)
    s.sendall(connect_packet(b"dying", will=(b"wills/dying", b"gone")))
    assert s.recv(4)[:1] == b"\x20"
    s.close()
    msgs = watcher.wait(1)
    watcher.stop()
    assert msgs and msgs[0][:2] == ("wills/dying", b"gone")


def test_no_will_after_clean_disconnect(gasketd):
    watcher = Paho(gasketd, "watcher2")
    watcher.c.subscribe("wills/#", 1)
    time.sleep(0.3)
    p = Paho(gasketd, "polite", will=("wills/polite", "gone", 1))
    p.stop()
    time.sleep(0.5)
    watcher.stop()
    assert watcher.msgs == []


def test_takeover_closes_the_first_client(gasketd):
    first = socket.create_connection(("127.0.0.1", gasketd.mqtt_port), timeout=5)
    first.sendall(connect_packet(b"same-id"))
    assert first.recv(4)[:1] == b"\x20"
    second = socket.create_connection(("127.0.0.1", gasketd.mqtt_port), timeout=5)
    second.sendall(connect_packet(b"same-id"))
    assert second.recv(4)[:1] == b"\x20"
    assert first.recv(10) == b""  # closed by the takeover
    first.close()
    second.close()


def test_keepalive_closes_a_silent_client(gasketd):
    s = socket.create_connection(("127.0.0.1", gasketd.mqtt_port), timeout=10)
    s.sendall(connect_packet(b"sleepy", keepalive=1))
    assert s.recv(4)[:1] == b"\x20"
    start = time.time()
    assert s.recv(10) == b""  # closed after 1.5 x 1 s of silence
    elapsed = time.time() - start
    s.close()
    assert 1.2 < elapsed < 4, elapsed


def test_shared_subscription_splits_messages(gasketd):
    a = Paho(gasketd, "share-a", version=mqtt.MQTTv5)
    b = Paho(gasketd, "share-b", version=mqtt.MQTTv5)
    a.c.subscribe("$share/g/work/#", 1)
    b.c.subscribe("$share/g/work/#", 1)
    time.sleep(0.3)
    for i in range(10):
        pub(gasketd, "mqttv5", "work/item", "w%d" % i, 1)
    time.sleep(0.5)
    got = sorted(m[1].decode() for m in a.msgs + b.msgs)
    a.stop()
    b.stop()
    assert got == sorted("w%d" % i for i in range(10))
    assert a.msgs and b.msgs


# ---- raw packets ----

def mqtt_str(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack("!H", len(b)) + b


def remaining(n):
    out = b""
    while True:
        byte, n = n % 128, n // 128
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def connect_packet(client_id, keepalive=60, will=None, level=4):
    flags = 0x02
    payload = mqtt_str(client_id)
    if will:
        flags |= 0x04 | 0x08  # will, will QoS 1
        payload += mqtt_str(will[0]) + mqtt_str(will[1])
    body = mqtt_str(b"MQTT") + bytes([level, flags]) + struct.pack("!H", keepalive)
    if level == 5:
        body += b"\x00"
        if will:
            payload = mqtt_str(client_id) + b"\x00" + mqtt_str(will[0]) + mqtt_str(will[1])
    body += payload
    return b"\x10" + remaining(len(body)) + body


MALFORMED = {
    "bad remaining length": b"\x10\xff\xff\xff\xff\x7f",
    "wrong protocol name": b"\x10\x0c" + mqtt_str(b"MQTX") + b"\x04\x02\x00\x3c\x00\x00",
    "wrong protocol level": b"\x10\x0c" + mqtt_str(b"MQTT") + b"\x07\x02\x00\x3c\x00\x00",
    "reserved connect flag": b"\x10\x0c" + mqtt_str(b"MQTT") + b"\x04\x03\x00\x3c\x00\x00",
    "publish before connect": b"\x30\x05" + mqtt_str(b"a/b") ,
}

AFTER_CONNECT = {
    "reserved flags in subscribe": b"\x80\x08\x00\x01" + mqtt_str(b"a/b") + b"\x00",
    "invalid utf-8 in topic": b"\x30\x05" + mqtt_str(b"a\xff") + b"x",
    "wildcard in publish topic": b"\x30\x05" + mqtt_str(b"a/#") ,
    "qos 3": b"\x36\x07" + mqtt_str(b"a/b") + b"\x00\x01",
    "second connect": connect_packet(b"again"),
    "over maximum size": b"\x30" + remaining(300 * 1024) + mqtt_str(b"a/b"),
}


def exchange_still_works(d):
    s = sub_proc(d, "mqttv311", "alive/#", 1, 1)
    time.sleep(0.3)
    pub(d, "mqttv311", "alive/x", "yes", 1)
    out, _ = s.communicate(timeout=15)
    return out.strip() == "alive/x yes"


@pytest.mark.parametrize("name", sorted(MALFORMED) + sorted(AFTER_CONNECT))
def test_malformed_packet_closes_only_its_sender(gasketd, name):
    other = Paho(gasketd, "bystander-" + name.replace(" ", "-"))
    other.c.subscribe("chat/#", 1)
    time.sleep(0.2)
    s = socket.create_connection(("127.0.0.1", gasketd.mqtt_port), timeout=5)
    if name in AFTER_CONNECT:
        s.sendall(connect_packet(b"bad-" + name.replace(" ", "-").encode()))
        assert s.recv(4)[:1] == b"\x20"
        s.sendall(AFTER_CONNECT[name])
    else:
        s.sendall(MALFORMED[name])
    s.settimeout(5)
    data = b""
    try:
        while True:
            chunk = s.recv(100)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pytest.fail("the broker did not close the connection")
    except ConnectionResetError:
        pass
    s.close()
    other.c.publish("chat/x", "still here", qos=1).wait_for_publish()
    msgs = other.wait(1)
    other.stop()
    assert msgs and msgs[0][1] == b"still here"
    assert exchange_still_works(gasketd)


# ---- transports: WebSocket, TLS with client certificates ----

def ws_subscriber(host, port, topic, ca=None):
    """A paho client over WebSocket at /mqtt (TLS with ca), subscribed to
    topic; returns it and the list its messages land in."""
    got, connected = [], threading.Event()
    ws = mqtt.Client(client_id="ws-" + host + str(port), transport="websockets")
    ws.ws_set_options(path="/mqtt")
    if ca:
        ws.tls_set(ca_certs=ca)
    ws.on_connect = lambda c, u, f, rc: connected.set()
    ws.on_message = lambda c, u, m: got.append((m.topic, m.payload))
    ws.connect(host, port, 30)
    ws.loop_start()
    assert connected.wait(10)
    ws.subscribe(topic, 1)
    time.sleep(0.3)
    return ws, got


def wait_for(got, timeout=10):
    deadline = time.time() + timeout
    while not got and time.time() < deadline:
        time.sleep(0.02)
    return got


def test_mqtt_over_websocket(gasketd):
    ws, got = ws_subscriber("127.0.0.1", gasketd.port, "room/1")
    pub(gasketd, "mqttv311", "room/1", '{"warning":"no2 warning"}', 1)
    wait_for(got)
    ws.publish("from/browser", "hi", qos=1).wait_for_publish()
    ws.disconnect()
    ws.loop_stop()
    assert got == [("room/1", b'{"warning":"no2 warning"}')]
    status, _, body = gasketd.request("GET", "/metrics", key=None)
    text = body.decode()
    assert "gasket_mqtt_messages_received_total 2" in text
    assert 'gasket_http_requests_total{route="/mqtt",status="101"} 1' in text


def test_websocket_without_mqtt_subprotocol_refused(gasketd):
    s = socket.create_connection(("127.0.0.1", gasketd.port), timeout=5)
    s.sendall(b"GET /mqtt HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = s.recv(4096).decode()
    s.close()
    assert head.startswith("HTTP/1.1 400"), head


@pytest.fixture
def pki(tmp_path):
    """A CA, a server certificate for localhost and a client certificate for CN=pi-1."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=tmp_path)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")
    for name, cn in (("server", "localhost"), ("client", "pi-1"), ("rogue", "rogue")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn, "-keyout",
            name + ".key", "-out", name + ".csr")
    for name in ("server", "client"):
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-out", name + ".pem")
    run("x509", "-req", "-in", "rogue.csr", "-signkey", "rogue.key", "-days", "1", "-out",
        "rogue.pem")
    return tmp_path


def test_tls_with_client_certificate(daemon_factory, pki):
    d = daemon_factory(extra=ANON + "tls_listen = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s\n"
                       "tls_ca = %s\n" % (pki / "server.pem", pki / "server.key",
                                          pki / "ca.pem"))
    tls_port = d.mqtt_addrs[1].rsplit(":", 1)[1]

    def tls_args(name):
        return ["-h", "localhost", "-p", tls_port, "--cafile", str(pki / "ca.pem"),
                "--cert", str(pki / (name + ".pem")), "--key", str(pki / (name + ".key"))]

    s = subprocess.Popen(["mosquitto_sub", "-V", "mqttv311", "-t", "room/1", "-q", "1", "-C", "1",
                          "-W", "10"] + tls_args("client"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    subprocess.run(["mosquitto_pub", "-V", "mqttv5", "-t", "room/1", "-q", "1", "-m",
                    '{"warning":"no2 warning"}'] + tls_args("client"), check=True, timeout=10)
    out, err = s.communicate(timeout=15)
    assert out.strip() == '{"warning":"no2 warning"}', err
    # A certificate not signed by tls_ca is refused at the handshake.
    r = subprocess.run(["mosquitto_pub", "-t", "room/1", "-m", "x"] + tls_args("rogue"),
                       capture_output=True, timeout=10)
    assert r.returncode != 0
    assert d.stop() == 0


def test_restart_keeps_retained_and_persistent_session(daemon_factory):
    d = daemon_factory(extra=ANON)
    pub(d, "mqttv311", "status/kept", "still here", 1, ["-r"])
    p = Paho(d, "persist-restart", clean=False)
    p.c.subscribe("q/#", 1)
    time.sleep(0.3)
    p.stop()
    v5 = Paho(d, "persist-v5", clean=True, version=mqtt.MQTTv5,
              props=_session_expiry(3600))
    v5.c.subscribe("q/#", 1)
    time.sleep(0.3)
    v5.stop()
    sender = Paho(d, "sender-restart")
    for i in range(100):
        sender.c.publish("q/x", "m%03d" % i, qos=1).wait_for_publish()
    sender.stop()
    assert d.stop() == 0
    d.start()
    assert "loaded 1 retained message(s) and 2 session(s)" in d.log_text()
    for cid, kw in (("persist-restart", {}),
                    ("persist-v5", {"version": mqtt.MQTTv5, "props": _session_expiry(3600)})):
        p = Paho(d, cid, clean=False, **kw)
        msgs = p.wait(100)
        p.stop()
        assert [m[1].decode() for m in msgs] == ["m%03d" % i for i in range(100)], cid
    s = sub_proc(d, "mqttv311", "status/#", 1, 1)
    out, _ = s.communicate(timeout=15)
    assert out.strip() == "status/kept still here"
    assert d.stop() == 0


def _session_expiry(seconds):
    from paho.mqtt.properties import Properties
    from paho.mqtt.packettypes import PacketTypes
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = seconds
    return props


def test_sys_topics(gasketd):
    s = sub_proc(gasketd, "mqttv311", "$SYS/broker/#", 0, 10)
    out, _ = s.communicate(timeout=15)
    values = dict(line.split(" ", 1) for line in out.splitlines()[:10] if " " in line)
    assert values.get("$SYS/broker/version", "").startswith("gasket ")
    assert int(values["$SYS/broker/uptime"]) >= 0
    assert "$SYS/broker/messages/received" in values


def test_libmosquitto_v5_client_roundtrip(gasketd, tmp_path):
    exe = tmp_path / "mosq_roundtrip"
    src = __file__.rsplit("/", 1)[0] + "/clients/mosq_roundtrip.c"
    subprocess.run(["cc", "-O1", "-Wall", "-Werror", src, "-lmosquitto", "-o", str(exe)],
                   check=True, capture_output=True)
    out = subprocess.run([str(exe), "127.0.0.1", str(gasketd.mqtt_port), "mosq", "200"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok 400"


# ---- MQTT 5 details ----

def _props(kind, **values):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    p = Properties(getattr(PacketTypes, kind))
    for k, v in values.items():
        setattr(p, k, v)
    return p


def test_v5_no_local_and_retain_handling(gasketd):
    from paho.mqtt.subscribeoptions import SubscribeOptions
    pub(gasketd, "mqttv5", "opts/r", "retained", 1, ["-r"])
    c = Paho(gasketd, "opts-client", version=mqtt.MQTTv5)
    c.c.subscribe("opts/#", options=SubscribeOptions(qos=1, noLocal=True, retainHandling=2))
    time.sleep(0.3)
    c.c.publish("opts/mine", "from me", qos=1).wait_for_publish()
    pub(gasketd, "mqttv5", "opts/other", "from others", 1)
    msgs = c.wait(1)
    time.sleep(0.3)
    c.stop()
    # retain handling 2: no retained message; no local: not its own message
    assert [(m[0], m[1]) for m in c.msgs] == [("opts/other", b"from others")]


def test_v5_message_expiry(gasketd):
    c = Paho(gasketd, "expiry-sub", clean=False, version=mqtt.MQTTv5,
             props=_session_expiry(600))
    c.c.subscribe("exp/#", 1)
    time.sleep(0.3)
    c.stop()
    sender = Paho(gasketd, "expiry-pub", version=mqtt.MQTTv5)
    sender.c.publish("exp/short", "gone", qos=1,
                     properties=_props("PUBLISH", MessageExpiryInterval=1)).wait_for_publish()
    sender.c.publish("exp/long", "kept", qos=1,
                     properties=_props("PUBLISH", MessageExpiryInterval=60)).wait_for_publish()
    sender.stop()
    time.sleep(2.2)
    c = Paho(gasketd, "expiry-sub", clean=False, version=mqtt.MQTTv5,
             props=_session_expiry(600))
    c.wait(1)
    time.sleep(0.3)
    c.stop()
    assert [(m[0], m[1]) for m in c.msgs] == [("exp/long", b"kept")]


def test_v5_will_delay_and_cancel_on_resume(gasketd):
    watcher = Paho(gasketd, "will-watcher")
    watcher.c.subscribe("wd/#", 1)
    time.sleep(0.3)

    def dying(cid):
        c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5)
        c.will_set("wd/" + cid, "late", 1, properties=_props("WILLMESSAGE", WillDelayInterval=2))
        c.connect("127.0.0.1", gasketd.mqtt_port, 60, clean_start=True,
                  properties=_session_expiry(60))
        c.loop_start()
        time.sleep(0.3)
        c.loop_stop()
        c.socket().close()  # abrupt: no DISCONNECT
    dying("wd-a")
    time.sleep(1.0)
    assert watcher.msgs == []  # not yet: the delay is 2 s
    dying("wd-b")
    back = Paho(gasketd, "wd-b", clean=False, version=mqtt.MQTTv5, props=_session_expiry(60))
    time.sleep(2.5)
    back.stop()
    watcher.stop()
    assert [(m[0], m[1]) for m in watcher.msgs] == [("wd/wd-a", b"late")]


def test_resent_inflight_message_has_dup(gasketd):
    s = socket.create_connection(("127.0.0.1", gasketd.mqtt_port), timeout=5)
    s.sendall(connect_packet(b"dup-check", keepalive=60).replace(b"\x04\x02", b"\x04\x00", 1))
    assert s.recv(4)[:4] == b"\x20\x02\x00\x00"
    s.sendall(b"\x82" + remaining(2 + 2 + 5 + 1) + b"\x00\x01" + mqtt_str(b"dup/x") + b"\x01")
    assert s.recv(5)[:1] == b"\x90"
    pub(gasketd, "mqttv311", "dup/x", "once", 1)
    first = s.recv(100)
    assert first[0] == 0x32  # QoS 1, no DUP; not acknowledged on purpose
    s.close()
    time.sleep(0.3)
    s = socket.create_connection(("127.0.0.1", gasketd.mqtt_port), timeout=5)
    s.sendall(connect_packet(b"dup-check", keepalive=60).replace(b"\x04\x02", b"\x04\x00", 1))
    assert s.recv(4) == b"\x20\x02\x01\x00"  # session present
    again = s.recv(100)
    s.close()
    assert again[0] == 0x3A  # the same PUBLISH, DUP set
    assert again[1:] == first[1:]


# ---- identity and access ----

def _gasket_cli():
    import os
    from conftest import GASKETD
    return os.path.join(os.path.dirname(GASKETD), "gasket")


def add_user(path, user, password):
    subprocess.run([_gasket_cli(), "passwd", str(path), user], input=password + "\n", text=True,
                   check=True, capture_output=True, timeout=30)


def try_pub(d, topic, msg, user=None, password=None, qos=1):
    args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(d.mqtt_port), "-t", topic, "-m", msg,
            "-q", str(qos)]
    if user:
        args += ["-u", user, "-P", password]
    return subprocess.run(args, capture_output=True, text=True, timeout=15)


def test_password_file_and_anonymous_refused(daemon_factory, tmp_path):
    pw = tmp_path / "passwd"
    add_user(pw, "pi", "s3cret")
    d = daemon_factory(extra="[mqtt]\nallow_anonymous = false\npassword_file = %s\n" % pw)
    s = sub_proc(d, "mqttv311", "auth/#", 1, 1, ["-u", "pi", "-P", "s3cret"])
    time.sleep(0.5)
    assert try_pub(d, "auth/x", "wrong", "pi", "nope").returncode != 0
    assert try_pub(d, "auth/x", "anon").returncode != 0
    assert try_pub(d, "auth/x", "good", "pi", "s3cret").returncode == 0
    out, err = s.communicate(timeout=15)
    assert out.strip() == "auth/x good", err
    assert d.stop() == 0


def test_acl_limits_publish_subscribe_and_delivery(daemon_factory, tmp_path):
    pw, acl = tmp_path / "passwd", tmp_path / "acl"
    add_user(pw, "pi", "pw-pi")
    add_user(pw, "viewer", "pw-viewer")
    acl.write_text("user pi\ntopic write gas/pi/#\ntopic write gas/secret/#\n"
                   "topic write alerts/#\ntopic read pi/#\n"
                   "user viewer\ntopic read gas/#\ntopic deny gas/secret/#\n"
                   "pattern read alerts/%u\n")
    d = daemon_factory(extra="[mqtt]\nallow_anonymous = false\npassword_file = %s\n"
                       "acl_file = %s\n" % (pw, acl))
    viewer = sub_proc(d, "mqttv311", "gas/#", 1, 2, ["-u", "viewer", "-P", "pw-viewer"])
    time.sleep(0.5)
    try_pub(d, "gas/pi/1", "allowed", "pi", "pw-pi")
    try_pub(d, "gas/secret/x", "viewer may not read it", "pi", "pw-pi")
    try_pub(d, "gas/other/1", "not pi's to write", "pi", "pw-pi")
    try_pub(d, "gas/pi/2", "second", "pi", "pw-pi")
    out, _ = viewer.communicate(timeout=15)
    assert out.splitlines() == ["gas/pi/1 allowed", "gas/pi/2 second"]
    # a subscription the ACL does not cover is refused in the SUBACK
    denied = subprocess.run(["mosquitto_sub", "-V", "mqttv5", "-p", str(d.mqtt_port), "-t",
                             "gas/#", "-u", "pi", "-P", "pw-pi", "-C", "1", "-W", "3"],
                            capture_output=True, text=True, timeout=15)
    assert "denied" in denied.stderr and denied.stdout == ""
    # %u patterns: viewer may read alerts/viewer (a wider alerts/+ would be refused)
    mine = sub_proc(d, "mqttv311", "alerts/viewer", 1, 1, ["-u", "viewer", "-P", "pw-viewer"])
    time.sleep(0.5)
    try_pub(d, "alerts/pi", "for pi", "pi", "pw-pi")
    try_pub(d, "alerts/viewer", "for viewer", "pi", "pw-pi")
    out, _ = mine.communicate(timeout=15)
    assert out.splitlines() == ["alerts/viewer for viewer"]
    assert d.stop() == 0


def test_certificate_cn_is_the_identity(daemon_factory, pki, tmp_path):
    acl = tmp_path / "acl"
    acl.write_text("user pi-1\ntopic readwrite pi/1\n")
    d = daemon_factory(extra="[mqtt]\nallow_anonymous = false\nacl_file = %s\n"
                       "tls_listen = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s\ntls_ca = %s\n"
                       % (acl, pki / "server.pem", pki / "server.key", pki / "ca.pem"))
    port = d.mqtt_addrs[1].rsplit(":", 1)[1]
    tls = ["-h", "localhost", "-p", port, "--cafile", str(pki / "ca.pem"), "--cert",
           str(pki / "client.pem"), "--key", str(pki / "client.key")]
    s = subprocess.Popen(["mosquitto_sub", "-t", "pi/1", "-q", "1", "-C", "1", "-W", "10"] + tls,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    subprocess.run(["mosquitto_pub", "-t", "pi/2", "-m", "not allowed", "-q", "1"] + tls,
                   check=True, timeout=10)
    subprocess.run(["mosquitto_pub", "-t", "pi/1", "-m", "allowed", "-q", "1"] + tls,
                   check=True, timeout=10)
    out, err = s.communicate(timeout=15)
    assert out.strip() == "allowed", err
    # without a certificate, on the plain listener, an anonymous client is refused
    assert try_pub(d, "pi/1", "anon").returncode != 0
    assert d.stop() == 0


def test_topic_limits(daemon_factory):
    d = daemon_factory(extra=ANON + "max_topic_levels = 3\nmax_topic_length = 20\n")
    ok = Paho(d, "limits-ok")
    ok.c.subscribe("a/#", 1)
    time.sleep(0.2)
    # a 4-level topic is refused: the publisher is disconnected, nothing is routed
    s = socket.create_connection(("127.0.0.1", d.mqtt_port), timeout=5)
    s.sendall(connect_packet(b"too-deep"))
    assert s.recv(4)[:1] == b"\x20"
    s.sendall(b"\x30" + remaining(2 + 7 + 1) + mqtt_str(b"a/b/c/d") + b"x")
    assert s.recv(10) == b""
    s.close()
    long_sub = subprocess.run(["mosquitto_sub", "-V", "mqttv5", "-p", str(d.mqtt_port), "-t",
                               "x" * 30, "-C", "1", "-W", "2"], capture_output=True, text=True,
                              timeout=10)
    assert "denied" in long_sub.stderr
    pub(d, "mqttv311", "a/b/c", "fits", 1)
    ok.wait(1)
    time.sleep(0.3)
    ok.stop()
    assert [(m[0], m[1]) for m in ok.msgs] == [("a/b/c", b"fits")]
    assert d.stop() == 0


def test_mqtt_over_secure_websocket(daemon_factory, pki):
    d = daemon_factory(extra=ANON + "[http]\ntls_listen = 127.0.0.1:0\ntls_cert = %s\n"
                       "tls_key = %s\n" % (pki / "server.pem", pki / "server.key"))
    https_port = int(d.addrs[1].rsplit(":", 1)[1])
    ws, got = ws_subscriber("localhost", https_port, "room/1", ca=str(pki / "ca.pem"))
    pub(d, "mqttv5", "room/1", "over wss", 1)
    wait_for(got)
    ws.disconnect()
    ws.loop_stop()
    assert got == [("room/1", b"over wss")]
    assert d.stop() == 0
