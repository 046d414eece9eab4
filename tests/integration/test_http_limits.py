"""The HTTP server's limits and framing, seen from raw sockets and curl."""
import json
import socket
import subprocess
import time

from conftest import KEY, SEED, raw_exchange, read_responses


def post_bytes(body, extra=b"", key=KEY):
    return (b"POST /gasdetector HTTP/1.1\r\nHost: t\r\nx-api-key: " + key.encode() +
            b"\r\nContent-Type: application/json\r\n" + extra +
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


def test_big_body_413_without_reading_it(gasketd):
    s = socket.create_connection(("127.0.0.1", gasketd.port), timeout=10)
    s.sendall(b"POST /gasdetector HTTP/1.1\r\nHost: t\r\nx-api-key: " + KEY.encode() +
              b"\r\nContent-Length: %d\r\n\r\n" % (2 * 1024 * 1024))
    # Not one byte of the body is sent: the answer must come anyway.
    (status, head, body), = read_responses(s, want=1)
    assert status == 413
    assert "connection: close" in head.lower()
    assert json.loads(body)["message"]
    assert s.recv(10) == b""  # and the server closes
    s.close()
    assert gasketd.docs() == []


def test_chunked_body_over_limit_413(gasketd):
    s = socket.create_connection(("127.0.0.1", gasketd.port), timeout=10)
    s.sendall(b"POST /gasdetector HTTP/1.1\r\nHost: t\r\nx-api-key: " + KEY.encode() +
              b"\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 65536
    try:
        for _ in range(48):  # 3 MiB, over the 1 MiB default
            s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = read_responses(s, want=1)
    s.close()
    assert out and out[0][0] == 413
    assert gasketd.docs() == []


def test_headers_over_16k_431(gasketd):
    req = (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n")
    out = raw_exchange(gasketd.port, req, want=1)
    assert out[0][0] == 431


def test_pipelined_requests_answered_in_order(gasketd):
    good = json.dumps(SEED).encode()
    reqs = (post_bytes(good) + post_bytes(b'{"groupid":"2","no2":{"value":"abc"}}') +
            b"GET /gasdetector HTTP/1.1\r\nHost: t\r\nx-api-key: wrong-key-0123456789abcdef"
            b"\r\n\r\n" +
            b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" + post_bytes(good) +
            # a body with a wrong key is refused from its headers: 403, and the
            # connection closes without reading the body (nothing after it is read)
            post_bytes(good, key="wrong-key-0123456789abcdef") + post_bytes(good))
    out = raw_exchange(gasketd.port, reqs, want=7, until_close=True)
    assert [o[0] for o in out] == [200, 400, 403, 200, 200, 403]
    assert json.loads(out[0][2])["_seq_no"] == 0
    assert json.loads(out[1][2])["field"] == "no2.value"
    assert json.loads(out[4][2])["_seq_no"] == 1
    assert "connection: close" in out[5][1].lower()
    assert len(gasketd.docs()) == 2


def test_keepalive_many_requests_one_connection(gasketd):
    c = gasketd.conn()
    for i in range(50):
        c.request("POST", "/gasdetector", body=json.dumps(dict(SEED, groupid=i)),
                  headers={"x-api-key": KEY})
        r = c.getresponse()
        assert r.status == 200
        assert json.loads(r.read())["_seq_no"] == i
    c.close()


def test_slowloris_connection_is_closed(daemon_factory):
    d = daemon_factory(extra="[http]\nheader_timeout = 1s\n")
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.settimeout(0.05)
    start = time.time()
    closed = False
    # One header byte every ~50 ms: the headers would take 10 s to arrive.
    for ch in b"POST /gasdetector HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 200:
        try:
            s.sendall(bytes([ch]))
            if s.recv(4096) == b"":
                closed = True
        except socket.timeout:
            pass
        except OSError:
            closed = True
        if closed or time.time() - start > 10:
            break
    s.close()
    assert closed, "slow client was never closed"
    assert time.time() - start < 6
    assert d.request("GET", "/healthz", key=None)[0] == 200  # others are still served
    assert d.stop() == 0


def test_connection_limit_refused_cleanly(daemon_factory):
    d = daemon_factory(extra="[http]\nmax_connections = 3\n")
    held = [socket.create_connection(("127.0.0.1", d.port), timeout=10) for _ in range(3)]
    time.sleep(0.3)
    extra = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    out = read_responses(extra, until_close=True)
    extra.close()
    assert out and out[0][0] == 503
    assert json.loads(out[0][2])["message"]
    for s in held:
        s.close()
    time.sleep(0.3)
    assert d.request("GET", "/healthz", key=None)[0] == 200
    assert d.stop() == 0


def test_https_listener(daemon_factory, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    d = daemon_factory(extra="[http]\ntls_listen = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s\n"
                       % (cert, key))
    tls_port = d.addrs[1].rsplit(":", 1)[1]
    out = subprocess.run(["curl", "-sS", "--cacert", str(cert), "-w", "\n%{http_code}",
                          "https://localhost:%s/gasdetector" % tls_port, "-H", "x-api-key: " + KEY,
                          "--data-binary", json.dumps(SEED)],
                         capture_output=True, text=True, timeout=30)
    body, code = out.stdout.rsplit("\n", 1)
    assert code == "200", out
    assert json.loads(body)["result"] == "created"
    assert d.stop() == 0
