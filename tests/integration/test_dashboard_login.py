"""Issue 10, the dashboard's login, server side: users made with `gasket
passwd -r`, POST /_dashboard/login (wrong and unknown users answered alike,
failed logins limited), the session cookie's flags, GET /_dashboard/session
and its config, the cookie on the APIs (401 without any credential, a
viewer reads, an admin acknowledges, CSRF), logout, expiry, login not
required on loopback, MQTT over WebSocket with the cookie, and SIGHUP after
a user is removed. A real gasketd, http.client, paho over websockets."""
import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from conftest import GASKETD, KEY, SEED, base_ini, ws_upgrade

GASKET = os.path.join(os.path.dirname(os.path.abspath(GASKETD)), "gasket")
RULE = ("[rule no2]\nfield = no2.value\nwarn = 88\nalarm = 120\nclear = 80\ngroups = 1, 2\n"
        "unit = ppm\n[rule co]\nfield = co.value\nwarn = 35\n")


def add_user(path, user, password, role=None):
    args = [GASKET, "passwd", "-i", "1000"] + (["-r", role] if role else []) + [str(path), user]
    r = subprocess.run(args, input=(password + "\n").encode(), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.fixture
def users(tmp_path):
    path = tmp_path / "dashboard_users"
    add_user(path, "alice", "alice pw", "admin")
    add_user(path, "bob", "bob pw")  # no role: a viewer
    return path


def start(daemon_factory, tmp_path, users, login="on", extra=""):
    return daemon_factory(ini=base_ini(tmp_path, "[http]\ndashboard_users = %s\n"
                                       "dashboard_login = %s\n%s%s" % (users, login, extra, RULE)))


def login(d, user=None, password=None, body=None, headers=None):
    """(status, headers, parsed body) of POST /_dashboard/login."""
    if body is None:
        body = {} if user is None else {"user": user, "password": password}
    status, h, data = d.request("POST", "/_dashboard/login", body, key=None, headers=headers)
    return status, h, json.loads(data) if data else None


def cookie_of(h):
    m = re.match(r"gasket_session=([0-9a-f]*);", h["set-cookie"])
    return m.group(1)


def session(d, user, password):
    """(cookie header, csrf token) of a fresh login."""
    status, h, body = login(d, user, password)
    assert status == 200, body
    return {"Cookie": "gasket_session=" + cookie_of(h)}, body["csrf"]


def get(d, path, headers=None, key=None):
    status, _, data = d.request("GET", path, key=key, headers=headers)
    return status, json.loads(data) if data else None


def post_alarm(d):
    """An alarm (no2 95 for group 1) through the route, with the device key."""
    body = dict(SEED, groupid="1", no2=dict(SEED["no2"], value="95"))
    assert d.post(body)[0] == 200
    deadline = time.time() + 10
    while time.time() < deadline:
        status, data = get(d, "/alarms", key=KEY)
        if status == 200 and data["alarms"]:
            return data["alarms"][0]["id"]
        time.sleep(0.05)
    raise AssertionError("no alarm")


# ---- login ----

def test_login_right_wrong_and_unknown(daemon_factory, tmp_path, users):
    d = start(daemon_factory, tmp_path, users)
    status, h, body = login(d, "alice", "alice pw")
    assert status == 200, body
    cookie = h["set-cookie"]
    assert re.fullmatch(r"gasket_session=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict; "
                        r"Max-Age=43200", cookie), cookie
    assert "no-store" in h["cache-control"]
    assert body["user"] == "alice" and body["role"] == "admin" and body["login_required"] is True
    assert re.fullmatch(r"[0-9a-f]{64}", body["csrf"]) and body["csrf"] not in cookie
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["expires"])
    cfg = body["config"]
    assert cfg["indexes"] == ["gasdetect"] and cfg["live_topic"] == "gasket/live"
    assert cfg["alert_topics"] == ["pi/1"] and cfg["offline_after"] == 0
    assert isinstance(cfg["timezone"], str) and cfg["timezone"]
    assert cfg["rules"] == [
        {"name": "no2", "measurement": "no2", "op": ">=", "warn": 88, "alarm": 120, "clear": 80,
         "groups": ["1", "2"], "unit": "ppm"},
        {"name": "co", "measurement": "co", "op": ">=", "warn": 35, "alarm": None, "clear": 35,
         "groups": None, "unit": None}]
    status, _, body = login(d, "bob", "bob pw")
    assert status == 200 and body["user"] == "bob" and body["role"] == "viewer"
    # a wrong password and an unknown user get the very same answer
    wrong = login(d, "alice", "nope")
    unknown = login(d, "mallory", "alice pw")
    assert wrong[0] == unknown[0] == 401
    assert wrong[2] == unknown[2] == {"message": "Wrong user or password"}
    assert "set-cookie" not in wrong[1] and "set-cookie" not in unknown[1]
    # malformed bodies
    for bad in ('{"user":"alice"}', '{"user":1,"password":"x"}', "[]", "not json",
                '{"user":"","password":"x"}', json.dumps({"user": "a" * 300, "password": "x"}),
                '{"user":"al\\u0000ice","password":"x"}', '{"password":"x"}'):
        assert login(d, body=bad)[0] == 400, bad
    # a login from another site's page is refused before any check
    status, _, body = login(d, "alice", "alice pw", headers={"Origin": "http://evil.example"})
    assert status == 403
    assert login(d, "alice", "alice pw",
                 headers={"Origin": "http://127.0.0.1:%d" % d.port})[0] == 200
    assert d.stop() == 0


def test_secure_cookie_only_over_tls(daemon_factory, tmp_path, users):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    d = start(daemon_factory, tmp_path, users,
              extra="tls_listen = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s\n" % (cert, key))
    status, h, _ = login(d, "alice", "alice pw")
    assert status == 200 and "Secure" not in h["set-cookie"]
    tls_port = int(d.addrs[1].rsplit(":", 1)[1])
    ctx = ssl.create_default_context(cafile=str(cert))
    c = http.client.HTTPSConnection("localhost", tls_port, context=ctx, timeout=10)
    c.request("POST", "/_dashboard/login", json.dumps({"user": "alice", "password": "alice pw"}),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    assert r.status == 200
    assert r.getheader("set-cookie").endswith("; Secure"), r.getheader("set-cookie")
    c.close()
    assert d.stop() == 0


# ---- the cookie on the APIs ----

def test_apis_take_the_cookie(daemon_factory, tmp_path, users):
    d = start(daemon_factory, tmp_path, users)
    alarm = post_alarm(d)
    admin, admin_csrf = session(d, "alice", "alice pw")
    viewer, viewer_csrf = session(d, "bob", "bob pw")
    # nothing at all: 401; a wrong key: 403; a dead cookie: 401
    for path in ("/gasdetect/_search", "/gasdetect/_count", "/alarms", "/gasdetector",
                 "/_cat/indices?format=json", "/gasdetect"):
        assert get(d, path) == (401, {"message": "Unauthorized"}), path
        assert get(d, path, key="wrong-key-0123456789abcdef")[0] == 403, path
        assert get(d, path, headers={"Cookie": "gasket_session=" + "0" * 64})[0] == 401, path
        assert get(d, path, headers=viewer)[0] == 200, path
    assert get(d, "/gasdetect/_count", headers=viewer)[1]["count"] == 1
    status, data = get(d, "/alarms", headers=viewer)
    assert status == 200 and [a["id"] for a in data["alarms"]] == [alarm]
    # a POST _search is a read, with the CSRF token
    status, _, _ = d.request("POST", "/gasdetect/_search", {"size": 0}, key=None,
                             headers=dict(viewer, **{"X-Gasket-CSRF": viewer_csrf}))
    assert status == 200
    assert d.request("POST", "/gasdetect/_search", {"size": 0}, key=None, headers=viewer)[0] == 403
    # a session writes nothing
    with_csrf = dict(admin, **{"X-Gasket-CSRF": admin_csrf})
    assert d.request("POST", "/gasdetector", SEED, key=None, headers=with_csrf)[0] == 403
    assert d.request("POST", "/gasdetect/_doc", SEED, key=None, headers=with_csrf)[0] == 403
    bulk = '{"index":{"_index":"gasdetect"}}\n%s\n' % json.dumps(SEED)
    for path in ("/_bulk", "/gasdetect/_bulk"):
        assert d.request("POST", path, bulk, key=None, headers=with_csrf)[0] == 403, path
    # without a credential a write keeps API Gateway's 403
    assert d.request("POST", "/gasdetector", SEED, key=None)[0] == 403
    assert d.request("POST", "/gasdetect/_doc", SEED, key=None)[0] == 403
    # acknowledging: a viewer may not; an admin needs the CSRF token and no foreign Origin
    ack = "/alarms/%d/ack" % alarm
    assert d.request("POST", ack, key=None,
                     headers=dict(viewer, **{"X-Gasket-CSRF": viewer_csrf}))[0] == 403
    status, _, body = d.request("POST", ack, key=None, headers=admin)
    assert (status, json.loads(body)) == (403, {"message": "CSRF token missing or wrong"})
    assert d.request("POST", ack, key=None,
                     headers=dict(admin, **{"X-Gasket-CSRF": viewer_csrf}))[0] == 403
    assert d.request("POST", ack, key=None,
                     headers=dict(with_csrf, Origin="http://evil.example"))[0] == 403
    assert d.request("POST", ack, key=None, headers=with_csrf)[0] == 200
    status, data = get(d, "/alarms", headers=viewer)
    assert data["alarms"][0]["acked_by"] == "alice"
    # the device key is unaffected by the cookie rules
    assert get(d, "/gasdetect/_count", key=KEY)[0] == 200
    assert d.stop() == 0


def test_logout_and_session_endpoint(daemon_factory, tmp_path, users):
    d = start(daemon_factory, tmp_path, users)
    cookie, csrf = session(d, "bob", "bob pw")
    status, body = get(d, "/_dashboard/session", headers=cookie)
    assert status == 200 and body["user"] == "bob" and body["csrf"] == csrf
    assert d.request("POST", "/_dashboard/logout", key=None, headers=cookie)[0] == 403
    status, h, _ = d.request("POST", "/_dashboard/logout", key=None,
                             headers=dict(cookie, **{"X-Gasket-CSRF": csrf}))
    assert status == 204
    assert h["set-cookie"].startswith("gasket_session=; ") and "Max-Age=0" in h["set-cookie"]
    assert get(d, "/_dashboard/session", headers=cookie) == (
        200, {"user": None, "login_required": True})
    assert get(d, "/gasdetect/_search", headers=cookie)[0] == 401
    assert d.request("DELETE", "/_dashboard/session", key=None)[0] == 405
    assert d.stop() == 0


def test_session_expires(daemon_factory, tmp_path, users):
    d = start(daemon_factory, tmp_path, users, extra="dashboard_session = 2s\n")
    status, h, _ = login(d, "alice", "alice pw")
    assert status == 200 and "Max-Age=2" in h["set-cookie"]
    cookie = {"Cookie": "gasket_session=" + cookie_of(h)}
    assert get(d, "/_dashboard/session", headers=cookie)[0] == 200
    ws = WsClient(d.port, cookie, keepalive=1)  # its PINGREQs meet the expiry
    time.sleep(2.2)
    assert ws.wait(lambda: not ws.c.is_connected())
    ws.c.loop_stop()
    assert get(d, "/_dashboard/session", headers=cookie)[1]["user"] is None
    assert get(d, "/gasdetect/_search", headers=cookie)[0] == 401
    assert d.stop() == 0


def test_failed_logins_are_limited(daemon_factory, tmp_path, users):
    d = start(daemon_factory, tmp_path, users)
    for _ in range(5):
        assert login(d, "alice", "wrong")[0] == 401
    status, h, body = login(d, "alice", "wrong")
    assert status == 429 and int(h["retry-after"]) >= 1
    assert "Too many failed logins" in body["message"]
    # locked out: the right password too (from this address)
    assert login(d, "alice", "alice pw")[0] == 429
    assert login(d, "bob", "bob pw")[0] == 429
    assert d.stop() == 0


def test_login_not_required_on_loopback(daemon_factory, tmp_path, users):
    d = start(daemon_factory, tmp_path, users, login="auto")  # every listener is loopback
    assert get(d, "/_dashboard/session") == (200, {"user": None, "login_required": False})
    status, h, body = login(d)
    assert status == 200 and body["user"] == "local" and body["role"] == "admin"
    assert body["login_required"] is False
    assert get(d, "/alarms", headers={"Cookie": "gasket_session=" + cookie_of(h)})[0] == 200
    assert login(d, "alice", "alice pw")[2]["user"] == "alice"  # users still log in
    assert d.stop() == 0
    d = start(daemon_factory, tmp_path, users, login="on")
    status, _, body = login(d)
    assert status == 401 and body == {"message": "Login required", "login_required": True}
    assert d.stop() == 0


# ---- MQTT over WebSocket ----

def upgrade(port, headers):
    """The status of a /mqtt upgrade with those headers."""
    status, s = ws_upgrade(port, headers)
    s.close()
    return status


class WsClient:
    """A paho client over ws://127.0.0.1:port/mqtt with the given headers."""

    def __init__(self, port, headers, user=None, password=None, keepalive=30):
        self.msgs, self.subacks = [], []
        self.connected = threading.Event()
        self.c = mqtt.Client(client_id="dash-%d-%f" % (port, time.time()),
                             transport="websockets")
        self.c.ws_set_options(path="/mqtt", headers=headers)
        if user:
            self.c.username_pw_set(user, password)
        self.c.on_connect = lambda c, u, f, rc: rc == 0 and self.connected.set()
        self.c.on_message = lambda c, u, m: self.msgs.append((m.topic, m.payload))
        self.c.on_subscribe = lambda c, u, mid, granted: self.subacks.append(list(granted))
        self.c.connect("127.0.0.1", port, keepalive)
        self.c.loop_start()
        assert self.connected.wait(10)

    def subscribe(self, topic):
        n = len(self.subacks)
        self.c.subscribe(topic, 1)
        deadline = time.time() + 10
        while len(self.subacks) == n and time.time() < deadline:
            time.sleep(0.02)
        return self.subacks[-1]

    def wait(self, pred, timeout=10):
        deadline = time.time() + timeout
        while not pred() and time.time() < deadline:
            time.sleep(0.02)
        return pred()

    def stop(self):
        self.c.disconnect()
        self.c.loop_stop()


def test_websocket_with_the_cookie(daemon_factory, tmp_path, users):
    d = start(daemon_factory, tmp_path, users)
    own = {"Origin": "http://127.0.0.1:%d" % d.port}
    page = dict(own, **{"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0"})
    assert upgrade(d.port, page) == 401  # a browser page of this origin needs a session
    assert upgrade(d.port, {}) == 101  # no Origin (a device): CONNECT authenticates
    assert upgrade(d.port, own) == 101  # paho's default Origin, not a browser: the same
    cookie, csrf = session(d, "bob", "bob pw")
    assert upgrade(d.port, dict(own, **cookie)) == 101
    # with the cookie, whatever the CONNECT says (here: nothing), the client is bob
    ws = WsClient(d.port, dict(own, **cookie))
    assert ws.subscribe("gasket/live/#") == [1]
    assert ws.subscribe("pi/1") == [1]
    assert ws.subscribe("#") == [128]  # only gasketd's own topics
    assert ws.subscribe("chat/x") == [128]
    # a device-key client (paho's own Origin, no session) listening to what the
    # dashboard client publishes
    other = WsClient(d.port, own, "itest", KEY)
    assert other.subscribe("chat/#") == [1]
    ws.c.publish("chat/x", "from the page", qos=1).wait_for_publish()  # acknowledged, dropped
    ws.c.publish("pi/1", '{"warning":"fake"}', qos=1).wait_for_publish()
    other.c.publish("chat/y", "control", qos=1).wait_for_publish()
    assert other.wait(lambda: other.msgs)
    assert other.msgs == [("chat/y", b"control")]
    assert d.post(dict(SEED, groupid="7"))[0] == 200
    assert ws.wait(lambda: any(t == "gasket/live/7" for t, _ in ws.msgs))
    assert not any(p == b'{"warning":"fake"}' for _, p in ws.msgs)
    # logging out ends the socket too
    assert d.request("POST", "/_dashboard/logout", key=None,
                     headers=dict(cookie, **{"X-Gasket-CSRF": csrf}))[0] == 204
    assert ws.wait(lambda: not ws.c.is_connected())
    ws.c.loop_stop()
    other.stop()
    assert d.stop() == 0


def test_websocket_cookie_with_mqtt_5_refuses_publish(daemon_factory, tmp_path, users):
    d = start(daemon_factory, tmp_path, users)
    cookie, _ = session(d, "alice", "alice pw")

    def frame(payload):  # one masked binary frame (mask 0: payload as is)
        return bytes([0x82, 0x80 | len(payload), 0, 0, 0, 0]) + payload

    def read_frame(s):
        n = s.recv(2)[1] & 0x7f
        data = b""
        while len(data) < n:
            data += s.recv(n - len(data))
        return data

    def connect(flags, rest):
        """A socket whose MQTT 5.0 CONNECT (client id p5, then rest) was answered."""
        status, s = ws_upgrade(d.port, cookie)
        assert status == 101
        packet = b"\x00\x04MQTT\x05" + bytes([flags]) + b"\x00\x3c\x00\x00\x02p5" + rest
        s.sendall(frame(b"\x10" + bytes([len(packet)]) + packet))
        return s, read_frame(s)
    # no user name at all, clean start: accepted as alice
    s, connack = connect(0x02, b"")
    assert connack[0] == 0x20 and connack[3] == 0x00, connack
    # PUBLISH QoS 1 to chat/x, packet id 1: PUBACK with 0x87 not authorized
    pub = b"\x00\x06chat/x\x00\x01\x00hi"
    s.sendall(frame(b"\x32" + bytes([len(pub)]) + pub))
    ack = read_frame(s)
    assert ack[0] == 0x40 and ack[2:4] == b"\x00\x01" and ack[4] == 0x87, ack
    s.close()
    # a will (topic w, payload x) is refused at CONNECT: 0x87
    s, connack = connect(0x06, b"\x00\x00\x01w\x00\x01x")
    assert connack[0] == 0x20 and connack[3] == 0x87, connack
    s.close()
    assert d.stop() == 0


# ---- the users file ----

def test_sighup_after_removing_a_user(daemon_factory, tmp_path, users):
    d = start(daemon_factory, tmp_path, users)
    bob, _ = session(d, "bob", "bob pw")
    alice, _ = session(d, "alice", "alice pw")
    ws = WsClient(d.port, bob)
    r = subprocess.run([GASKET, "passwd", "-D", str(users), "bob"], capture_output=True)
    assert r.returncode == 0, r.stderr
    add_user(users, "alice", "alice pw", "viewer")  # and alice becomes a viewer
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log("dashboard: 1 user(s) in %s; the sessions of removed users ended" % users)
    assert get(d, "/_dashboard/session", headers=bob)[1]["user"] is None
    assert get(d, "/gasdetect/_search", headers=bob)[0] == 401
    assert ws.wait(lambda: not ws.c.is_connected())
    ws.c.loop_stop()
    status, body = get(d, "/_dashboard/session", headers=alice)
    assert status == 200 and body["role"] == "viewer"
    assert login(d, "bob", "bob pw")[0] == 401
    # a broken file on SIGHUP: logged, the users stay
    users.write_text("broken line\n")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log("dashboard: users file not reloaded")
    assert get(d, "/_dashboard/session", headers=alice)[0] == 200
    assert d.stop() == 0


def test_bad_users_file_stops_the_start(daemon_factory, tmp_path):
    path = tmp_path / "users"
    path.write_text("alice:$7$1000$AAAA$BBBB:admin\n")
    d = daemon_factory(ini=base_ini(tmp_path, "[http]\ndashboard_users = %s\n" % path),
                       start=False)
    with pytest.raises(RuntimeError) as e:
        d.start()
    assert "[http] dashboard_users: %s:1:" % path in str(e.value)
