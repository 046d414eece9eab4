"""Fixtures for the black-box tests: a real gasketd on free loopback ports
with a temporary data directory, driven with http.client, raw sockets and
curl. Every daemon a test starts is stopped when the test ends."""
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import time

import pytest
import zstandard
from pathlib import Path

GASKETD = os.environ.get("GASKETD") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "gasketd")
KEY = "itest-key-0123456789abcdef"  # a device key: every route, no admin
ADMIN = "itest-admin-0123456789abcdef"  # an admin key: every index
# MQTT login as principal itest (its name and key): anonymous clients are
# refused by default and never ingest nor write alert topics.
MQTT_CRED = ["-u", "itest", "-P", KEY]
SEED = {
    "groupid": "2",
    "gps": "37.61002501514269, 126.99636868892937",
    "co": {"sensorid": "0005", "sensortype": "8", "value": "26.20",
           "createdtime": "2021-09-03 18:14:49"},
    "no2": {"sensorid": "0006", "sensortype": "8", "value": "0.12",
            "createdtime": "2021-09-03 18:14:49"},
    "c2h5oh": {"sensorid": "0007", "sensortype": "8", "value": "3.5",
               "createdtime": "2021-09-03 18:14:49"},
    "h2": {"sensorid": "0008", "sensortype": "8", "value": "7.75",
           "createdtime": "2021-09-03 18:14:49"},
}


def ini_keys(text):
    """{(section, key): value} of an INI text, later sections of a name merged."""
    keys, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]").split()[0]
        elif "=" in line and not line.startswith((";", "#")):
            k, v = line.split("=", 1)
            keys[(section, k.strip())] = v.strip()
    return keys


class Daemon:
    """One gasketd process with its own config file and data directory."""

    def __init__(self, tmp_path, ini, name="gasketd"):
        self.dir = tmp_path
        m = re.search(r"(?m)^data_dir = (.*)$", ini)
        self.data = Path(m.group(1)) if m else tmp_path / "data"
        self.conf = tmp_path / (name + ".ini")
        self.log = tmp_path / (name + ".log")
        self.ini = ini
        self.proc = None
        self.addrs = []

    def write_conf(self, ini):
        self.ini = ini
        self.conf.write_text(ini)

    def start(self, timeout=15):
        self.conf.write_text(self.ini)
        self.logf = open(self.log, "ab")
        self.start_offset = self.logf.tell()
        self.proc = subprocess.Popen([GASKETD, "-c", str(self.conf)], stdout=self.logf,
                                     stderr=self.logf, cwd=self.dir)
        keys = ini_keys(self.ini)
        want = 2 if keys.get(("http", "tls_listen")) else 1
        mqtt_want = sum(1 for k in ("listen", "tls_listen") if keys.get(("mqtt", k)))
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.log_text()
            self.addrs = re.findall(r"http: listening on (\S+)", text)
            self.mqtt_addrs = re.findall(r"mqtt: listening on (\S+)", text)
            if len(self.addrs) >= want and len(self.mqtt_addrs) >= mqtt_want:
                self.port = int(self.addrs[0].rsplit(":", 1)[1])
                if self.mqtt_addrs:
                    self.mqtt_port = int(self.mqtt_addrs[0].rsplit(":", 1)[1])
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("gasketd exited %s:\n%s" % (self.proc.returncode, text))
            time.sleep(0.02)
        raise RuntimeError("gasketd did not start:\n" + self.log_text())

    def wait_log(self, text, timeout=10):
        """The log once it holds text (which may come after the listeners)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            log = self.log_text()
            if text in log:
                return log
            time.sleep(0.02)
        raise AssertionError("%r not in the log:\n%s" % (text, self.log_text()))

    def log_text(self):
        with open(self.log, "rb") as f:
            f.seek(self.start_offset)
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends sig and returns the exit code."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.logf.close()

    def kill9(self):
        self.proc.kill()
        self.proc.wait(10)
        self.logf.close()

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, key=KEY):
        """One request on a new connection: (status, headers dict, body bytes)."""
        h = {"Content-Type": "application/json"}
        if key is not None:
            h["x-api-key"] = key
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def post(self, body, **kw):
        return self.request("POST", "/gasdetector", body, **kw)

    def hot_files(self):
        """The two files of the hot tier (store_hot_path: /dev/shm, named by
        FNV-1a 64 of the data folder's real path and the process id)."""
        h = 14695981039346656037
        for b in os.path.realpath(self.data).encode():
            h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
        base = "/dev/shm/gasket-%d-%016x-%d.hot" % (os.getuid(), h, self.proc.pid)
        return [base + "0", base + "1"]

    def flush(self):
        """POST /_flush: the hot tier moved into gasket.db (with the admin
        key, or the plain one when the daemon has no admin key, or the
        daemon's own .key when a test set one)."""
        for key in [k for k in (ADMIN, KEY, getattr(self, "key", None)) if k]:
            status, _, body = self.request("POST", "/_flush", key=key)
            if status == 200:
                return json.loads(body)
        raise AssertionError("POST /_flush: %d %r" % (status, body))

    def db(self):
        """gasket.db read-only; a running daemon flushes its hot tier first."""
        if self.proc and self.proc.poll() is None:
            self.flush()
        return sqlite3.connect("file:%s?mode=ro" % (self.data / "gasket.db"), uri=True,
                               timeout=10)

    def docs(self):
        """(id, idx, seq, groupid, source) of every document in gasket.db,
        sources as posted: a compressed one (a zstd frame made with one of
        the dicts table's dictionaries) read back by python3-zstandard."""
        with self.db() as c:
            rows = c.execute("select id, idx, seq, groupid, source from docs order by id").fetchall()
            dicts = dict(c.execute("select id, dict from dicts"))
        return [r[:4] + (unzip(r[4], dicts),) for r in rows]


    def measurements(self, where="1", args=()):
        """(idx, grp, name, ts, doc, value) rows of gasket.db's measurements
        that match `where` (SQL over those columns), in key order."""
        with self.db() as c:
            return measurement_rows(c, where, args)


M64 = (1 << 64) - 1


def _s64(x):
    x &= M64
    return x - (1 << 64) if x >> 63 else x


def _varint(b, i):
    x = shift = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return x, i


def _zz(b, i):
    z, i = _varint(b, i)
    return (z >> 1) ^ (-(z & 1) & M64), i


def mblock_points(data):
    """The points (ts, doc, value or None) of one measurement block,
    decoded as store_block.c describes its bytes (written here again, apart
    from gasketd's decoder, so that the tests read what the format says)."""
    head = data[0]
    assert head >> 4 == 1 and not head & 0x08, "block version"
    mode, nulls = head & 3, head & 4
    n, i = _varint(data, 1)
    ts, docs = [], []
    t = d = 0
    for k in range(n):
        z, i = _zz(data, i)
        if k == 0:
            t = z
        else:
            d = (d + z) & M64
            t = (t + d) & M64
        ts.append(_s64(t))
    doc = 0
    for k in range(n):
        z, i = _zz(data, i)
        doc = (doc + z) & M64
        docs.append(_s64(doc))
    if nulls:
        bits = data[i:i + (n + 7) // 8]
        i += (n + 7) // 8
        has = [bool(bits[k // 8] >> (k % 8) & 1) for k in range(n)]
    else:
        has = [mode != 2] * n
    values = []
    if mode == 1:
        s = data[i]
        i += 1
        kv = 0
        for h in has:
            if h:
                z, i = _zz(data, i)
                kv = _s64(kv + z)
                values.append(kv / 10 ** s)  # correctly rounded, as C's (double)k / 1e<s>
            else:
                values.append(None)
    elif mode == 0:
        prev = 0
        for h in has:
            if not h:
                values.append(None)
                continue
            b = data[i]
            i += 1
            tz, m = b >> 4, b & 15
            x = int.from_bytes(data[i:i + m], "little") << (8 * tz)
            i += m
            prev ^= x
            values.append(struct.unpack("<d", prev.to_bytes(8, "little"))[0])
    else:
        values = [None] * n
    assert i == len(data), "block length"
    return list(zip(ts, docs, values))


def measurement_rows(c, where="1", args=()):
    """Measurements of a connection to gasket.db: the blocks (schema 7,
    store_mblk.c) and the rows an older schema wrote, filtered by `where`."""
    c.execute("CREATE TEMP TABLE IF NOT EXISTS m_all(idx, grp, name, ts, doc, value)")
    c.execute("DELETE FROM temp.m_all")
    rows = []
    if c.execute("SELECT count(*) FROM sqlite_master WHERE name = 'mblocks'").fetchone()[0]:
        for idx, grp, name, n, data in c.execute("SELECT idx, grp, name, n, data FROM mblocks"):
            pts = mblock_points(data)
            assert len(pts) == n
            rows += [(idx, grp, name) + p for p in pts]
    rows += c.execute("SELECT idx, grp, name, ts, doc, value FROM main.measurements").fetchall()
    c.executemany("INSERT INTO temp.m_all VALUES (?, ?, ?, ?, ?, ?)", rows)
    return c.execute("SELECT * FROM temp.m_all WHERE %s ORDER BY 1, 2, 3, 4, 5" % where,
                     args).fetchall()


def unzip(source, dicts):
    """A document of gasket.db as posted (store_zip.c's format)."""
    if isinstance(source, str):
        return source
    params = zstandard.get_frame_parameters(source)
    d = zstandard.ZstdCompressionDict(dicts[params.dict_id])
    return zstandard.ZstdDecompressor(dict_data=d).decompress(source).decode()


def base_ini(tmp_path, extra="", key=True):
    ini = ("[server]\ndata_dir = %s\n\n[http]\nlisten = 127.0.0.1:0\n\n"
           "[mqtt]\nlisten = 127.0.0.1:0\n" % (tmp_path / "data"))
    if key:
        ini += "\n[apikey itest]\nkey = %s\nrate = 1000\nburst = 1000\n" % KEY
        ini += "\n[apikey itest-admin]\nkey = %s\nadmin = true\nrate = 1000\nburst = 1000\n" % ADMIN
    return ini + extra


@pytest.fixture
def daemon_factory(tmp_path):
    started = []

    def make(extra="", key=True, ini=None, start=True, name="gasketd"):
        d = Daemon(tmp_path, ini if ini is not None else base_ini(tmp_path, extra, key), name)
        started.append(d)
        return d.start() if start else d

    yield make
    for d in started:  # SIGTERM first: a stopped gasketd removes its hot tier's file
        if d.proc and d.proc.poll() is None:
            d.proc.terminate()
            try:
                d.proc.wait(10)
            except subprocess.TimeoutExpired:
                d.proc.kill()
                d.proc.wait(10)


@pytest.fixture
def gasketd(daemon_factory):
    d = daemon_factory()
    yield d
    assert d.stop() == 0, d.log_text()


def ws_upgrade(port, headers=None, host=None):
    """Asks for a WebSocket at /mqtt (subprotocol mqtt) with extra headers:
    (the answer's status, the socket, open, past the answer's head)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(("GET /mqtt HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n%s\r\n"
               % (host or "127.0.0.1:%d" % port,
                  "".join("%s: %s\r\n" % kv for kv in (headers or {}).items()))).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return int(head.split(b" ", 2)[1]), s


def raw_exchange(port, data, timeout=10, until_close=False, want=None):
    """Sends raw bytes and reads until `want` responses or the socket closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        return read_responses(s, want, until_close)
    finally:
        s.close()


def read_responses(s, want=None, until_close=False):
    """Reads HTTP responses (Content-Length framed) from a socket."""
    buf = b""
    out = []
    while True:
        while True:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = buf[:head_end].decode()
            m = re.search(r"(?im)^content-length:\s*(\d+)", head)
            n = int(m.group(1)) if m else 0
            if len(buf) < head_end + 4 + n:
                break
            status = int(head.split(" ", 2)[1])
            out.append((status, head, buf[head_end + 4:head_end + 4 + n]))
            buf = buf[head_end + 4 + n:]
        if want is not None and len(out) >= want and not until_close:
            return out
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return out
        if not chunk:
            return out
        buf += chunk
