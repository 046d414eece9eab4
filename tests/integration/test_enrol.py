"""Enrolment end to end (docs/enrol.md): `gasket init` twice keeps its CA;
`gasket device add` on a running gasketd (no restart) gives a bundle with
which gasket-sub receives a warning over TLS with the device's certificate,
and whose key posts only its own group; `gasket device revoke` makes the key
403, the certificate refused at the handshake, and closes the open MQTT
connections; another CA's certificate is refused; --on-warning runs once
per warning with the message only in its environment; gasket-sub --id
keeps a persistent session and connects again when gasketd is back after a
restart; bad input leaves nothing half written; the
systemd units verify. A real gasketd, real TLS, mosquitto_sub/pub."""
import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import threading
import time

import pytest

from conftest import Daemon

BUILD = (os.path.dirname(os.path.abspath(os.environ["GASKETD"]))
         if os.environ.get("GASKETD")
         else os.path.join(os.path.dirname(__file__), "..", "..", "build"))
GASKET = os.path.join(BUILD, "gasket")
SUB = os.path.join(BUILD, "gasket-sub")
UNITS = os.path.join(os.path.dirname(__file__), "..", "..", "dist", "systemd")
WARNING = '{"warning":"no2 warning"}'


def gasket(*args, cwd=None):
    return subprocess.run([GASKET, *map(str, args)], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


def until(cond, what, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def reading(group, no2):
    return {"groupid": group, "no2": {"sensorid": "1", "sensortype": "8", "value": str(no2),
                                      "createdtime": "2021-09-03 18:14:49"}}


def conf(path):
    """A key = value file as a dict (the last value of a key)."""
    pairs = (ln.split("=", 1) for ln in path.read_text().splitlines()
             if "=" in ln and not ln.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


class Site:
    """A data directory made by `gasket init`, its gasketd on free ports."""

    def __init__(self, tmp_path, factory, mqtts_addr="127.0.0.1:0"):
        self.dir = tmp_path / "data"
        self.children = []  # killed at the end of the test, whatever happened
        r = gasket("init", self.dir, "--host", "localhost", "--host", "127.0.0.1")
        assert r.returncode == 0, r.stderr
        ini = self.dir / "gasket.ini"
        text = re.sub(r"(?m)^(listen|tls_listen) = .*$", r"\1 = 127.0.0.1:0", ini.read_text())
        head, mqtt = text.split("[mqtt]")
        text = head + "[mqtt]" + mqtt.replace("tls_listen = 127.0.0.1:0", "tls_listen = " +
                                              mqtts_addr, 1)
        ini.write_text(text)  # what `gasket device add` reads too
        self.admin = re.search(r"(?m)^key = (\S+)", text).group(1)
        self.d = factory(ini=text)
        self.reloads = 0

    @property
    def https(self):
        return int(self.d.addrs[1].rsplit(":", 1)[1])

    @property
    def mqtts(self):
        return int(self.d.mqtt_addrs[1].rsplit(":", 1)[1])

    def add(self, name, group):
        r = gasket("device", "add", name, "--group", group, "--dir", self.dir)
        assert r.returncode == 0, r.stderr
        self.wait_reload()
        return r, self.dir / "devices" / name

    def wait_reload(self):
        self.reloads += 1
        until(lambda: self.d.log_text().count("reloaded ") >= self.reloads, "a reload")

    def request(self, bundle, method, path, body):
        """A request over HTTPS with the bundle's key, trusting its ca.pem."""
        ctx = ssl.create_default_context(cafile=str(bundle / "ca.pem"))
        c = http.client.HTTPSConnection("localhost", self.https, context=ctx, timeout=10)
        try:
            c.request(method, path, body=body,
                      headers={"x-api-key": conf(bundle / "pub.conf")["key"],
                               "Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def post(self, bundle, body):
        return self.request(bundle, "POST", "/gasdetector", json.dumps(body))

    def tls(self, bundle):
        return ["-h", "localhost", "-p", str(self.mqtts), "--cafile", str(bundle / "ca.pem"),
                "--cert", str(bundle / "cert.pem"), "--key", str(bundle / "key.pem")]

    def spawn(self, args, **kw):
        p = subprocess.Popen(args, text=True, stdout=subprocess.PIPE, **kw)
        self.children.append(p)
        return p

    def sub(self, bundle, *extra, **kw):
        """gasket-sub on the bundle's sub.conf, on this site's TLS port."""
        return self.spawn([SUB, "--config", str(bundle / "sub.conf"), "--port",
                           str(self.mqtts), *extra], stderr=subprocess.PIPE, **kw)

    def kill_children(self):
        for p in self.children:
            if p.poll() is None:
                p.kill()
                p.wait(10)

    def admin_publish(self, payload):
        """The operator publishes to the alert topic (loopback, admin key)."""
        subprocess.run(["mosquitto_pub", "-p", str(self.d.mqtt_port), "-u", "admin", "-P",
                        self.admin, "-t", "pi/1", "-q", "1", "-m", payload],
                       check=True, timeout=10)


@pytest.fixture
def sites(tmp_path, daemon_factory):
    """Makes Sites; their children are killed when the test ends."""
    made = []

    def make(**kw):
        made.append(Site(tmp_path, daemon_factory, **kw))
        return made[-1]

    yield make
    for s in made:
        s.kill_children()


@pytest.fixture
def site(sites):
    s = sites()
    yield s
    assert s.d.stop() == 0, s.d.log_text()


class Lines:
    """The lines of a child's pipe, read by a thread, waited for with a timeout."""

    def __init__(self, stream):
        self.q, self.seen = queue.Queue(), []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream):
        for line in stream:
            self.q.put(line)
        self.q.put(None)

    def wait_for(self, text, timeout=10):
        deadline = time.time() + timeout
        while True:
            try:
                line = self.q.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError("no line with %r in %r" % (text, self.seen))
            self.seen.append(line)
            if text in line:
                return line


def started(p):
    """gasket-sub p once it has subscribed: (its stdout lines, its stderr lines)."""
    out, err = Lines(p.stdout), Lines(p.stderr)
    err.wait_for("subscribed to pi/1")
    return out, err


def test_init_twice_keeps_ca_and_keys(tmp_path):
    data = tmp_path / "data"
    first = gasket("init", data)
    assert first.returncode == 0, first.stderr
    assert "created %s/ca/ca.key" % data in first.stdout
    kept = ["ca/ca.pem", "ca/ca.key", "tls/server.pem", "tls/server.key", "ca/crl.pem",
            "gasket.ini", "devices.ini", "acl"]
    before = {f: (data / f).read_bytes() for f in kept}
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for secret in ("ca/ca.key", "tls/server.key", "gasket.ini"):
        assert stat.S_IMODE((data / secret).stat().st_mode) == 0o600, secret
    second = gasket("init", data)
    assert second.returncode == 0, second.stderr
    assert "nothing to do" in second.stdout and "created" not in second.stdout
    assert "kept    %s/ca/ca.key" % data in second.stdout
    assert {f: (data / f).read_bytes() for f in kept} == before
    # half a CA is not replaced either: said, and nothing written
    (data / "ca/ca.key").unlink()
    third = gasket("init", data)
    assert third.returncode == 1
    assert "ca.pem exists without %s/ca/ca.key" % data in third.stderr
    assert (data / "ca/ca.pem").read_bytes() == before["ca/ca.pem"]
    r = subprocess.run([os.environ.get("GASKETD", os.path.join(BUILD, "gasketd")), "-t", "-c",
                        str(data / "gasket.ini")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "1 API key(s)" in r.stdout, r.stderr


def test_device_enrol_warn_and_revoke(site, tmp_path):
    r, pi7 = site.add("pi-7", "7")
    assert "gasket-pub --config /etc/gasket/pub.conf" in r.stdout
    assert "gasket-sub --config /etc/gasket/sub.conf" in r.stdout
    assert "reloads its devices now" in r.stdout
    assert sorted(os.listdir(pi7)) == ["ca.pem", "cert.pem", "key.pem", "pub.conf", "sub.conf"]
    sub = site.sub(pi7)
    out, err = started(sub)
    # its key posts its own group over HTTPS; the warning reaches it over TLS
    assert site.post(pi7, reading("7", 95))[0] == 200
    assert out.wait_for("warning").strip() == WARNING
    status, body = site.post(pi7, reading("8", 95))
    assert (status, json.loads(body)) == (403, {"message": "groupid '8' is not one of pi-7's "
                                                "groups"})
    # _bulk: the item of its group is stored, the other refused
    lines = "".join('{"index":{}}\n%s\n' % json.dumps(reading(g, 1)) for g in ("7", "8"))
    status, body = site.request(pi7, "POST", "/gasdetect/_bulk", lines)
    items = [i["index"] for i in json.loads(body)["items"]]
    assert status == 200 and [i["status"] for i in items] == [201, 403], body
    assert items[1]["error"]["type"] == "security_exception"
    # over MQTT with its certificate: gas/7 is taken, gas/8 refused (0x87)
    def publish(topic, group):
        return subprocess.run(["mosquitto_pub", "-V", "mqttv5", "-d", "-q", "1", "-t", topic,
                               "-m", json.dumps(reading(group, 1))] + site.tls(pi7),
                              capture_output=True, text=True, timeout=10).stdout
    assert "RC:0)" in publish("gas/7", "7")
    assert "RC:135)" in publish("gas/8", "8")
    assert "RC:135)" in publish("gas/7", "8")
    watcher = site.spawn(["stdbuf", "-oL", "mosquitto_sub", "-d", "-t", "pi/1", "-q", "1"]
                         + site.tls(pi7), stderr=subprocess.STDOUT)
    watched = Lines(watcher.stdout)
    watched.wait_for("SUBACK")
    r = gasket("device", "revoke", "pi-7", "--dir", site.dir)
    assert r.returncode == 0, r.stderr
    assert "revoked pi-7: principal removed, certificate in the CRL" in r.stdout
    site.wait_reload()
    # its open connections are closed; mosquitto_sub cannot come back (CRL)
    site.d.wait_log("mqtt: pi-7 withdrawn: 2 client(s) disconnected")
    watched.wait_for("certificate revoked")  # it tried again: refused at the handshake
    assert watcher.wait(10) != 0
    err.wait_for("was lost")
    sub.send_signal(signal.SIGTERM)
    assert sub.wait(10) == 0
    assert site.post(pi7, reading("7", 1))[0] == 403
    again = subprocess.run(["mosquitto_pub", "-d", "-t", "pi/2", "-m", "x"] + site.tls(pi7),
                           capture_output=True, text=True, timeout=10)
    assert again.returncode != 0 and "certificate revoked" in again.stdout, again
    # a certificate of another CA (another `gasket init`), even with the same CN
    other = tmp_path / "other"
    assert gasket("init", other).returncode == 0
    assert gasket("device", "add", "pi-7", "--group", "7", "--dir", other).returncode == 0
    rogue = other / "devices" / "pi-7"
    r = subprocess.run(["mosquitto_pub", "-d", "-t", "pi/2", "-m", "x", "-h", "localhost", "-p",
                        str(site.mqtts), "--cafile", str(pi7 / "ca.pem"), "--cert",
                        str(rogue / "cert.pem"), "--key", str(rogue / "key.pem")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "unknown ca" in r.stdout, r
    # list: removed and revoked, and last seen (saved at stop) once gasketd stops
    assert site.d.stop() == 0
    listing = gasket("device", "list", "--dir", site.dir).stdout.splitlines()
    assert listing[0].split()[:3] == ["NAME", "GROUP", "CREATED"]
    row = listing[1].split()
    assert row[:2] == ["pi-7", "7"] and row[-2:] == ["removed", "revoked"], listing
    assert "never" not in listing[1], listing


def test_on_warning_runs_once_per_warning_without_a_shell(site, tmp_path):
    _, pi8 = site.add("pi-8", "8")
    hook, out = tmp_path / "hook.sh", tmp_path / "hook.out"
    marker, keep = tmp_path / "marker", tmp_path / "keep"
    keep.write_text("still here")
    hook.write_text('#!/bin/sh\nprintf "%s|%s|%s|%s\\n" "$GASKET_KIND" "$GASKET_TOPIC" '
                    '"$GASKET_TEXT" "$GASKET_MESSAGE" >> "$1"\n')
    hook.chmod(0o755)
    evil = '{"warning":"$(touch marker); rm -f keep; `touch marker` & touch marker"}'  # in cwd
    sub = site.sub(pi8, "--count", "3", "--on-warning", "%s '%s'" % (hook, out), cwd=tmp_path)
    _, err = started(sub)
    site.admin_publish(evil)
    site.admin_publish('{"msg":"success"}')  # not a warning: no command
    assert site.post(pi8, reading("8", 95))[0] == 200
    assert sub.wait(15) == 0, err.seen
    lines = out.read_text().splitlines()  # gasket-sub waited for its commands
    assert lines == ["warning|pi/1|%s|%s" % (json.loads(evil)["warning"], evil),
                     "warning|pi/1|no2 warning|%s" % WARNING], lines
    assert not marker.exists()
    assert keep.read_text() == "still here"


def test_persistent_session_gets_what_was_sent_while_away(site):
    _, pi5 = site.add("pi-5", "5")
    assert conf(pi5 / "sub.conf")["id"] == "pi-5-sub"
    first = site.sub(pi5)
    started(first)
    first.send_signal(signal.SIGTERM)
    assert first.wait(10) == 0
    assert site.post(pi5, reading("5", 95))[0] == 200  # while it is away
    back = site.sub(pi5, "--count", "1", "--json")
    out, err = back.communicate(timeout=15)
    assert back.returncode == 0, err
    assert json.loads(out) == {"warning": "no2 warning"}
    assert '{\n  "warning": "no2 warning"\n}' in out  # --json: pretty


def test_gasket_sub_reconnects_when_gasketd_is_back(sites):
    with socket.socket() as probe:  # a fixed port, so that the restart keeps it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    site = sites(mqtts_addr="127.0.0.1:%d" % port)
    _, pi6 = site.add("pi-6", "6")
    sub = site.sub(pi6, "--count", "1")
    out, err = started(sub)
    assert site.d.stop() == 0
    err.wait_for("was lost")
    err.wait_for("trying again")
    site.d.start()
    err.wait_for("subscribed to pi/1", timeout=20)
    assert site.post(pi6, reading("6", 95))[0] == 200
    assert out.wait_for("warning").strip() == WARNING
    assert sub.wait(10) == 0
    assert site.d.stop() == 0


def test_device_add_bad_input_writes_nothing(site, tmp_path):
    site.add("pi-1", "1")
    devices = site.dir / "devices.ini"
    before = devices.read_bytes()

    def unchanged():
        assert devices.read_bytes() == before
        assert sorted(os.listdir(site.dir / "devices")) == ["pi-1"]

    for args, code, why in (
            (["bad name", "--group", "1"], 2, "NAME must be 1 to 64 letters"),
            (["-x", "--group", "1"], 2, "bad option"),
            (["pi-2", "--group", "a/b"], 2, "--group takes a groupid"),
            (["pi-2"], 2, "add needs --group G"),
            (["pi-1", "--group", "1"], 1, "pi-1 is taken: [apikey pi-1] in %s:" % devices),
            (["admin", "--group", "1"], 1, "admin is taken: [apikey admin]")):
        r = gasket("device", "add", *args, "--dir", site.dir)
        assert (r.returncode, why in r.stderr) == (code, True), (args, r.stderr)
        unchanged()
    r = gasket("device", "add", "pi-2", "--group", "2", "--dir", tmp_path / "nowhere")
    assert r.returncode == 1 and "cannot open" in r.stderr and "gasket init" in r.stderr
    # the devices file cannot be written: the bundle goes too
    devices.rename(tmp_path / "devices.ini")
    devices.mkdir()
    r = gasket("device", "add", "pi-2", "--group", "2", "--dir", site.dir)
    devices.rmdir()
    (tmp_path / "devices.ini").rename(devices)
    assert r.returncode == 1 and "devices.ini" in r.stderr, r.stderr
    unchanged()
    r = gasket("device", "revoke", "pi-3", "--dir", site.dir)
    assert r.returncode == 1 and "no device pi-3" in r.stderr


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_units_verify(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for prog in ("gasketd", "gasket-sub", "gasket-pub"):  # gasket-pub: its own change
        built = os.path.join(BUILD, prog)
        os.symlink(built if os.path.exists(built) else "/bin/true", bindir / prog)
    units = []
    for name in ("gasketd.service", "gasket-sub.service", "gasket-pub.service"):
        text = open(os.path.join(UNITS, name)).read()
        for key in ("ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                    "Restart=on-failure", "ReadWritePaths=" if "pub" in name or "gasketd" in name
                    else "DynamicUser=yes"):
            assert key in text, (name, key)
        (tmp_path / name).write_text(text.replace("/usr/local/bin/", str(bindir) + "/"))
        units.append(str(tmp_path / name))
    r = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert not re.search(r"Unknown|unknown|Invalid|ignoring", r.stderr), r.stderr
