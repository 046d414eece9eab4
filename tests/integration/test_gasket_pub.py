"""gasket-pub against a real gasketd (docs/devices.md): readings from --sim,
--stdin and --exec, delivered exactly once and in order through gasketd
outages (SIGTERM or kill -9, restarted on the same port and data dir) and a
kill -9 of gasket-pub itself; the spool when the server is unreachable or
the spool is full; readings the server refuses; MQTT with a password over
TLS and with a client certificate; exit statuses."""
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ADMIN, KEY
from test_enrol import conf, site, sites  # noqa: F401 (fixtures: a `gasket init` site)
from test_mqtt import pki  # noqa: F401 (a fixture: a CA, server and client certificates)

GASKET_PUB = str(Path(os.environ.get("GASKETD") or "build/gasketd").resolve().parent / "gasket-pub")


class Pub:
    """One gasket-pub process, its log in a file."""

    def __init__(self, tmp_path, args, name="pub", stdin=None):
        self.log = tmp_path / (name + ".log")
        self.logf = open(self.log, "ab")
        self.start_at = self.logf.tell()
        self.proc = subprocess.Popen([GASKET_PUB] + args, stdout=self.logf, stderr=self.logf,
                                     stdin=stdin, cwd=tmp_path)

    def wait(self, timeout=30):
        try:
            return self.proc.wait(timeout)
        finally:
            self.logf.close()

    def text(self):
        with open(self.log, "rb") as f:
            f.seek(self.start_at)
            return f.read().decode(errors="replace")

    def wait_log(self, pattern, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            time.sleep(0.05)
        raise AssertionError("%r not in the log:\n%s" % (pattern, self.text()))


def http_args(d, *extra, key=KEY):
    return ["--url", "http://127.0.0.1:%d/gasdetector" % d.port, "--key", key,
            "--name", "pi-test", "--spool", str(d.dir / "pub.spool")] + list(extra)


def fixed_port(d):
    """The daemon's config with the ports it got, so that a restart keeps them."""
    ini = d.ini.replace("[http]\nlisten = 127.0.0.1:0", "[http]\nlisten = 127.0.0.1:%d" % d.port)
    ini = ini.replace("[mqtt]\nlisten = 127.0.0.1:0", "[mqtt]\nlisten = 127.0.0.1:%d" % d.mqtt_port)
    d.write_conf(ini)


def search(d, group):
    """The group's documents in _id order, through _search with the admin key."""
    st, _, body = d.request("POST", "/gasdetect/_search",
                            {"size": 10000, "query": {"term": {"groupid": group}},
                             "sort": ["_doc"]}, key=ADMIN)
    if st == 404 and b"index_not_found_exception" in body:
        return []
    assert st == 200, body
    return [h["_source"] for h in json.loads(body)["hits"]["hits"]]


def check_exactly_once(docs, n):
    """n documents, no two the same reading, createdtime never going back."""
    assert len(docs) == n
    readings = {json.dumps({k: v for k, v in doc.items() if k != "date"}, sort_keys=True)
                for doc in docs}
    assert len(readings) == n, "a reading was stored twice"
    times = [doc["co"]["createdtime"] for doc in docs]
    assert times == sorted(times), "stored out of createdtime order"


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_gasketd_outage_exactly_once(daemon_factory, how):
    d = daemon_factory()
    fixed_port(d)
    p = Pub(d.dir, ["--sim", "--interval", "0.1", "--count", "80", "--group", "11"] +
            http_args(d))
    time.sleep(2)
    d.kill9() if how == "kill9" else d.stop()
    time.sleep(4)  # ~40 readings taken meanwhile, kept in the spool
    d.start()
    assert p.wait(30) == 0, p.text()
    log = p.text()
    assert "cannot deliver" in log and "delivering again" in log, log
    assert "done: 80 readings taken, 80 delivered, 0 dropped" in log
    check_exactly_once(search(d, "11"), 80)
    assert d.stop() == 0


def test_pub_kill9_and_restart_with_the_same_spool(daemon_factory):
    d = daemon_factory()
    fixed_port(d)
    args = ["--sim", "--interval", "0.05", "--group", "12", "--log-level", "debug"]
    p = Pub(d.dir, args + ["--count", "1000"] + http_args(d))
    p.wait_log(r"reading 20 kept")
    d.stop()  # a backlog builds up in the spool
    p.wait_log(r"reading 60 kept")
    p.proc.kill()  # kill -9, the backlog unsent and maybe a request in flight
    p.wait(10)
    d.start()
    p2 = Pub(d.dir, args + ["--count", "20"] + http_args(d), name="pub2")
    assert p2.wait(30) == 0, p2.text()
    last = int(re.findall(r"reading (\d+) kept", p2.text())[-1])  # the spool's numbering went on
    assert last >= 80
    assert "readings waiting)" in p2.text() and "(0 readings waiting)" not in p2.text()
    check_exactly_once(search(d, "12"), last)
    assert d.stop() == 0


def test_stdin_lines(daemon_factory):
    d = daemon_factory()
    lines = ['{"co": 26.2, "no2": "0.12"}',
             '{"co": 1.5',                                  # not JSON
             '{"co": {"value": "abc"}, "no2": 1}',          # the server refuses it: 400
             '{"note": "no measurement"}',
             '{"groupid": "77", "h2": 3, "createdtime": "2024-05-06 07:08:09"}']
    p = Pub(d.dir, ["--stdin", "--group", "13"] + http_args(d), stdin=subprocess.PIPE)
    p.proc.stdin.write(("\n".join(lines) + "\n").encode())
    p.proc.stdin.close()
    assert p.wait(20) == 0, p.text()
    log = p.text()
    assert re.search(r"stdin line 2: not a JSON object: .*; skipped", log), log
    assert "stdin line 4: no measurement" in log
    assert re.search(r"reading 2 dropped, the server refused it: 400 value is not a finite number "
                     r"\(field co.value\)", log), log
    assert "done: 3 readings taken, 2 delivered, 1 dropped" in log
    docs = search(d, "13")
    assert len(docs) == 1 and docs[0]["co"]["value"] == "26.2"
    assert docs[0]["co"]["sensorid"] == "0005" and re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$",
                                                            docs[0]["co"]["createdtime"])
    other = search(d, "77")
    assert other[0]["h2"]["createdtime"] == "2024-05-06 07:08:09"
    assert d.stop() == 0


def duplicates(d):
    """Readings gasketd got twice (and stored once): none when nothing failed."""
    st, _, text = d.request("GET", "/metrics", key=ADMIN)
    return int(re.search(rb"gasket_readings_duplicate_total (\d+)", text).group(1))


def test_unreachable_then_drained(daemon_factory):
    d = daemon_factory(start=False)
    d.port = 1  # nothing listens there
    lines = "".join('{"co": %d}\n' % i for i in range(300)).encode()
    p = Pub(d.dir, ["--stdin", "--group", "14", "--wait", "1.5"] + http_args(d),
            stdin=subprocess.PIPE)
    p.proc.stdin.write(lines)
    p.proc.stdin.close()
    assert p.wait(20) == 3, p.text()
    log = p.text()
    assert re.search(r"cannot deliver: http://127.0.0.1:1/gasdetector: .*[Cc]onnect", log), log
    assert "giving up after --wait 1.5 s: 300 readings kept in" in log
    d.start()
    p2 = Pub(d.dir, ["--drain", "--batch", "100"] + http_args(d), name="drain")
    assert p2.wait(20) == 0, p2.text()
    assert "(300 readings waiting)" in p2.text()
    assert [doc["co"]["value"] for doc in search(d, "14")] == [str(i) for i in range(300)]
    assert duplicates(d) == 0  # every _bulk acknowledged whole: nothing sent twice
    assert d.stop() == 0


def test_full_spool_drops_oldest(daemon_factory):
    d = daemon_factory(start=False)
    d.port = 1
    pad = "x" * 900
    lines = "".join('{"co": %d, "pad": "%s"}\n' % (i, pad) for i in range(200)).encode()
    p = Pub(d.dir, ["--stdin", "--group", "15", "--wait", "0.5", "--spool-max", "64KiB"] +
            http_args(d), stdin=subprocess.PIPE)
    p.proc.stdin.write(lines)
    p.proc.stdin.close()
    assert p.wait(20) == 3, p.text()
    drops = [int(n) for n in re.findall(r"spool full \(65536 bytes\): dropped the (\d+) oldest",
                                        p.text())]
    assert drops and sum(drops) < 200, p.text()
    d.start()
    assert Pub(d.dir, ["--drain"] + http_args(d), name="drain").wait(20) == 0
    values = [int(doc["co"]["value"]) for doc in search(d, "15")]
    assert values == list(range(sum(drops), 200))  # the newest kept, in order
    assert d.stop() == 0


def test_exec_source(daemon_factory, tmp_path):
    d = daemon_factory()
    script = tmp_path / "sensor.sh"
    script.write_text('#!/bin/sh\necho "{\\"nh3\\": 4.5, \\"arg\\": \\"$1\\"}"\n')
    script.chmod(0o755)
    p = Pub(d.dir, ["--exec", "%s 'a; touch %s/pwned'" % (script, tmp_path), "--interval", "0.2",
                    "--count", "3", "--group", "16"] + http_args(d))
    assert p.wait(20) == 0, p.text()
    docs = search(d, "16")
    assert [doc["nh3"]["value"] for doc in docs] == ["4.5"] * 3
    assert docs[0]["arg"] == "a; touch %s/pwned" % tmp_path  # one word, no shell
    assert not (tmp_path / "pwned").exists()
    assert d.stop() == 0


def test_refused_key_keeps_readings(daemon_factory):
    d = daemon_factory()
    p = Pub(d.dir, ["--sim", "--count", "2", "--interval", "0.1", "--wait", "1"] +
            http_args(d, key="not-a-key"))
    assert p.wait(20) == 4, p.text()
    assert "cannot deliver: 403 Forbidden; 1 readings kept" in p.text()
    assert "2 readings kept in" in p.text()
    assert search(d, "1") == []
    assert Pub(d.dir, ["--drain"] + http_args(d), name="drain").wait(20) == 0
    assert len(search(d, "1")) == 2
    assert d.stop() == 0


def test_usage_errors(tmp_path):
    for args in ([], ["--sim"], ["--sim", "--stdin", "--url", "http://x/"],
                 ["--sim", "--url", "ftp://x/"], ["--bogus"]):
        r = subprocess.run([GASKET_PUB] + args, capture_output=True, text=True, timeout=10,
                           cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("gasket-pub: ") and r.stderr.count("\n") == 1, r.stderr
    r = subprocess.run([GASKET_PUB, "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "--spool-max" in r.stdout and "Exit status" in r.stdout


def test_sigterm_keeps_the_spool(daemon_factory):
    d = daemon_factory(start=False)
    d.port = 1
    p = Pub(d.dir, ["--sim", "--interval", "0.05"] + http_args(d))
    p.wait_log(r"cannot deliver")
    time.sleep(0.3)
    p.proc.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0
    m = re.search(r"Terminated: stopping; (\d+) readings kept", p.text())
    assert m and int(m.group(1)) > 0, p.text()


def test_mqtt_password_over_tls_through_a_restart(daemon_factory, pki):  # noqa: F811
    d = daemon_factory(extra="[mqtt]\ntls_listen = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s\n" % (
        pki / "server.pem", pki / "server.key"))
    tls_port = int(d.mqtt_addrs[1].rsplit(":", 1)[1])
    ini = d.ini.replace("tls_listen = 127.0.0.1:0", "tls_listen = 127.0.0.1:%d" % tls_port)
    d.write_conf(ini)
    fixed_port(d)
    args = ["--sim", "--interval", "0.1", "--count", "50", "--group", "17", "--name", "pi-mqtt",
            "--mqtt", "localhost:%d" % tls_port, "--cafile", str(pki / "ca.pem"),
            "--user", "itest", "--password", KEY, "--spool", str(d.dir / "mqtt.spool")]
    p = Pub(d.dir, args)
    p.wait_log("MQTT connected")
    time.sleep(1.5)
    d.stop()
    time.sleep(2)
    d.start()
    assert p.wait(30) == 0, p.text()
    assert "connection lost" in p.text() or "cannot deliver" in p.text(), p.text()
    check_exactly_once(search(d, "17"), 50)
    assert d.stop() == 0


def test_mqtt_client_certificate(daemon_factory, pki):  # noqa: F811
    d = daemon_factory(extra="[mqtt]\ntls_listen = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s\n"
                       "tls_ca = %s\n\n[apikey pi-1]\nkey = pi-1-key-0123456789abcdef\n"
                       "cert_cn = pi-1\nroutes = /gasdetector\n" % (
                           pki / "server.pem", pki / "server.key", pki / "ca.pem"))
    tls_port = int(d.mqtt_addrs[1].rsplit(":", 1)[1])
    p = Pub(d.dir, ["--sim", "--interval", "0.05", "--count", "10", "--group", "18",
                    "--mqtt", "localhost:%d" % tls_port, "--cafile", str(pki / "ca.pem"),
                    "--cert", str(pki / "client.pem"), "--keyfile", str(pki / "client.key"),
                    "--spool", str(d.dir / "cert.spool")])
    assert p.wait(20) == 0, p.text()
    check_exactly_once(search(d, "18"), 10)
    assert d.stop() == 0


def test_bundle_from_gasket_device_add(site):  # noqa: F811
    """The pub.conf of `gasket device add` as it is (its key, its CA by a name
    relative to the bundle), over HTTPS and over MQTT with the device's
    certificate; only the ports of this test's gasketd are given."""
    _, bundle = site.add("pi-9", "9")
    cfg = conf(bundle / "pub.conf")
    assert cfg["cacert"] == "ca.pem" and cfg["group"] == "9" and cfg["name"] == "pi-9"
    url = "https://localhost:%d/gasdetector" % site.https
    p = Pub(site.dir, ["--config", str(bundle / "pub.conf"), "--url", url, "--sim", "--count",
                       "5", "--interval", "0.05", "--spool", str(site.dir / "https.spool")])
    assert p.wait(20) == 0, p.text()
    p = Pub(site.dir, ["--config", str(bundle / "pub.conf"), "--mqtt", "localhost:%d" % site.mqtts,
                       "--cert", "cert.pem", "--keyfile", "key.pem", "--cafile", "ca.pem",
                       "--sim", "--count", "5", "--interval", "0.05",
                       "--spool", str(site.dir / "mqtts.spool")], name="mqtts")
    assert p.wait(20) == 2  # on the command line, file names are the working folder's
    assert "gasket-pub: --cafile: ca.pem: No such file or directory" in p.text()
    p = Pub(bundle, ["--config", "pub.conf", "--mqtt", "localhost:%d" % site.mqtts,
                     "--cert", "cert.pem", "--keyfile", "key.pem", "--cafile", "ca.pem",
                     "--sim", "--count", "5", "--interval", "0.05", "--wait", "10",
                     "--spool", str(site.dir / "mqtts2.spool")], name="mqtts2")
    assert p.wait(20) == 0, p.text()
    st, _, body = site.d.request("POST", "/gasdetect/_count", {"query": {"term": {"groupid": "9"}}},
                                 key=site.admin)
    assert st == 200 and json.loads(body)["count"] == 10, body
