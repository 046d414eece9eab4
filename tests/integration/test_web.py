"""Issue 10, the dashboard's serving: the files under web/ embedded in
gasketd (or read from [http] web_root) at /_dashboard/..., index.html at /
for browsers while OpenSearch clients keep the JSON root info, with ETag,
304, gzip, the Content-Security-Policy, and path traversal refused. Every
test here fails on the code before issue 10 (which served no page)."""
import gzip
import hashlib
import json
import os
import subprocess

import pytest

from conftest import ADMIN, raw_exchange

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
WEB = os.path.join(ROOT, "web", "src")
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def web_file(name):
    with open(os.path.join(WEB, name), "rb") as f:
        return f.read()


def etag_of(data):
    return '"%s"' % hashlib.sha256(data).hexdigest()[:32]


def get(d, path, headers=None, method="GET"):
    """A request with no API key."""
    return d.request(method, path, headers=headers or {}, key=None)


def assert_page_headers(h):
    csp = h["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert h["x-content-type-options"] == "nosniff"
    assert h["cache-control"] == "no-cache"


def test_root_serves_index_to_browsers(gasketd):
    status, h, body = get(gasketd, "/", {"Accept": BROWSER})
    page = web_file("index.html")
    assert status == 200 and body == page
    assert b"gasket dashboard" in body and b"/_dashboard/app.js" in body
    assert h["content-type"] == "text/html; charset=utf-8"
    assert h["etag"] == etag_of(page)
    assert "Accept" in h["vary"]
    assert_page_headers(h)
    # HEAD: the same head, no body
    status, hh, body = get(gasketd, "/", {"Accept": BROWSER}, method="HEAD")
    assert status == 200 and body == b"" and hh["etag"] == h["etag"]
    assert int(hh["content-length"]) == len(page)


def test_root_stays_json_for_clients(gasketd):
    for accept in (None, "*/*", "application/json", "application/json, text/html"):
        status, h, body = get(gasketd, "/", {"Accept": accept} if accept else {})
        assert status == 200, accept
        assert h["content-type"] == "application/json", accept
        info = json.loads(body)
        assert info["version"]["distribution"] == "opensearch"
        assert h.get("vary") == "Accept"
    # curl's own default Accept (*/*)
    out = subprocess.run(["curl", "-s", "http://127.0.0.1:%d/" % gasketd.port],
                         capture_output=True, check=True).stdout
    assert json.loads(out)["cluster_name"] == "gasket"
    assert get(gasketd, "/", method="POST")[0] == 405


def test_assets_types_and_open_access(gasketd):
    for name, ctype in (("app.js", "text/javascript; charset=utf-8"),
                        ("app.css", "text/css; charset=utf-8"),
                        ("index.html", "text/html; charset=utf-8")):
        status, h, body = get(gasketd, "/_dashboard/" + name)
        assert status == 200, name
        assert body == web_file(name)
        assert h["content-type"] == ctype
        assert h["etag"] == etag_of(body)
        assert h["vary"] == "Accept-Encoding"
        assert_page_headers(h)
    # /_dashboard/ and /_dashboard are the page too, never a listing
    for path in ("/_dashboard/", "/_dashboard"):
        status, _, body = get(gasketd, path)
        assert status == 200 and body == web_file("index.html")
    # the page's libraries (npm's uplot and mqtt, copied to web/src/vendor by make)
    for name, ctype in (("vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
                        ("vendor/mqtt.min.js", "text/javascript; charset=utf-8"),
                        ("vendor/uPlot.min.css", "text/css; charset=utf-8")):
        status, h, body = get(gasketd, "/_dashboard/" + name)
        assert status == 200 and body == web_file(name), name
        assert h["content-type"] == ctype
        assert b"/_dashboard/" + name.encode() in web_file("index.html")


def test_if_none_match_gives_304(gasketd):
    page = web_file("app.js")
    tag = etag_of(page)
    status, h, body = get(gasketd, "/_dashboard/app.js", {"If-None-Match": tag})
    assert status == 304 and body == b"" and h["etag"] == tag
    assert h["cache-control"] == "no-cache"
    status, _, _ = get(gasketd, "/", {"Accept": BROWSER,
                                      "If-None-Match": etag_of(web_file("index.html"))})
    assert status == 304
    # another tag: the file
    status, _, body = get(gasketd, "/_dashboard/app.js", {"If-None-Match": '"0000"'})
    assert status == 200 and body == page


def test_gzip_only_when_accepted(gasketd):
    page = web_file("index.html")
    status, h, body = get(gasketd, "/_dashboard/index.html", {"Accept-Encoding": "gzip, br"})
    assert status == 200 and h["content-encoding"] == "gzip"
    assert len(body) < len(page) and gzip.decompress(body) == page
    assert h["etag"] != etag_of(page)  # another representation, another strong tag
    # its tag revalidates too
    assert get(gasketd, "/_dashboard/index.html",
               {"Accept-Encoding": "gzip", "If-None-Match": h["etag"]})[0] == 304
    for ae in ("identity", "gzip;q=0", "br"):
        status, h, body = get(gasketd, "/_dashboard/index.html", {"Accept-Encoding": ae})
        assert status == 200 and "content-encoding" not in h and body == page, ae
    # curl --compressed decompresses to the same bytes
    out = subprocess.run(["curl", "-s", "--compressed", "-D", "-", "-o", "-",
                          "http://127.0.0.1:%d/_dashboard/app.js" % gasketd.port],
                         capture_output=True, check=True).stdout
    head, _, rest = out.partition(b"\r\n\r\n")
    assert b"content-encoding: gzip" in head.lower() and rest == web_file("app.js")


def test_unknown_asset_404_and_methods_405(gasketd):
    status, h, body = get(gasketd, "/_dashboard/nope.js")
    assert status == 404 and json.loads(body) == {"message": "Not Found"}
    assert h["content-type"] == "application/json"
    for method in ("POST", "PUT", "DELETE"):
        status, h, _ = gasketd.request(method, "/_dashboard/app.js", body="{}", key=None)
        assert status == 405, method
        assert h["allow"] == "GET, HEAD"


def test_traversal_refused(gasketd):
    # a file next to the data the daemon could be tricked into serving
    secret = gasketd.data / "gasket.db"
    assert secret.exists()
    assert get(gasketd, "/_dashboard/app.js")[0] == 200  # the files are served ...
    raw = [b"/_dashboard/../gasket.db", b"/_dashboard/../data/gasket.db",
           b"/_dashboard/%2e%2e/data/gasket.db", b"/_dashboard/%2E%2E%2Fdata%2Fgasket.db",
           b"/_dashboard/a%2fb", b"/_dashboard/app.js%00.png", b"/_dashboard//etc/passwd",
           b"/_dashboard/..%5c..%5cgasket.db", b"/_dashboard/.hidden",
           b"/_dashboard/../../../../etc/passwd"]
    for path in raw:
        (resp,) = raw_exchange(gasketd.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n"
                               b"Connection: close\r\n\r\n", until_close=True)
        assert resp[0] in (400, 404), (path, resp)
        assert b"SQLite format" not in resp[2] and b"root:" not in resp[2]
    # a raw NUL in the request line is malformed HTTP
    (resp,) = raw_exchange(gasketd.port, b"GET /_dashboard/app.js\x00x HTTP/1.1\r\n"
                           b"Host: x\r\n\r\n", until_close=True)
    assert resp[0] == 400


def test_nothing_else_became_open(gasketd):
    # the dashboard's files are open, with or without a body ...
    assert get(gasketd, "/_dashboard/index.html")[0] == 200
    assert gasketd.request("POST", "/_dashboard/x", {"a": 1}, key=None)[0] == 405
    # ... an unknown index and the data APIs still need a key (or a dashboard session):
    # 401 without any credential
    for path in ("/unknownindex", "/unknownindex/_search", "/gasdetect/_search",
                 "/_cat/indices", "/_dashboard_x/_search"):
        assert get(gasketd, path)[0] == 401, path
        assert gasketd.request("GET", path, key=ADMIN)[0] != 403, path
    assert gasketd.request("POST", "/gasdetector", {"groupid": "1"}, key=None)[0] == 403
    # a body on an unknown index path is refused from its head, as before
    assert gasketd.request("POST", "/unknownindex/_doc", {"a": 1}, key=None)[0] == 403


def web_root_daemon(daemon_factory, tmp_path, folder):
    from conftest import base_ini
    ini = base_ini(tmp_path).replace("[http]\n", "[http]\nweb_root = %s\n" % folder, 1)
    return daemon_factory(ini=ini)


def test_web_root_serves_a_folder(daemon_factory, tmp_path):
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_bytes(b"<!doctype html><title>dev</title>dev page\n")
    (root / "sub" / "x.svg").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root / "data.bin").write_bytes(b"\x00\x01\x02")
    (tmp_path / "outside.txt").write_bytes(b"outside secret")
    os.symlink(tmp_path / "outside.txt", root / "link.txt")
    os.symlink(tmp_path, root / "up")
    d = web_root_daemon(daemon_factory, tmp_path, root)
    status, h, body = get(d, "/", {"Accept": BROWSER})
    assert status == 200 and body == (root / "index.html").read_bytes()
    assert h["etag"] == etag_of(body)
    assert_page_headers(h)
    status, h, body = get(d, "/_dashboard/sub/x.svg", {"Accept-Encoding": "gzip"})
    assert status == 200 and h["content-type"] == "image/svg+xml"
    assert body == (root / "sub" / "x.svg").read_bytes() and "content-encoding" not in h
    assert get(d, "/_dashboard/sub/x.svg", {"If-None-Match": h["etag"]})[0] == 304
    status, h, body = get(d, "/_dashboard/data.bin")
    assert status == 200 and h["content-type"] == "application/octet-stream"
    assert body == b"\x00\x01\x02"
    # the embedded files are not served meanwhile
    assert get(d, "/_dashboard/app.js")[0] == 404
    # symlinks out of the folder, folders and traversal
    for path in ("/_dashboard/link.txt", "/_dashboard/up/outside.txt", "/_dashboard/sub",
                 "/_dashboard/sub/", "/_dashboard/../outside.txt",
                 "/_dashboard/%2e%2e/outside.txt", "/_dashboard/sub%2f..%2f..%2foutside.txt"):
        (resp,) = raw_exchange(d.port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                               b"Connection: close\r\n\r\n", until_close=True)
        assert resp[0] in (400, 404), (path, resp)
        assert b"outside secret" not in resp[2]
    # a file changed on disk is served at once, with a new ETag
    old = get(d, "/", {"Accept": BROWSER})[1]["etag"]
    (root / "index.html").write_bytes(b"<!doctype html>changed\n")
    status, h, body = get(d, "/", {"Accept": BROWSER})
    assert body == b"<!doctype html>changed\n" and h["etag"] != old
    assert d.stop() == 0, d.log_text()


def test_generator_output(tmp_path):
    """scripts/gen-web-assets.py: every regular file (no dot-file, no
    symlink), its SHA-256 prefix, and a gzip copy only when smaller."""
    src = tmp_path / "web"
    (src / "sub").mkdir(parents=True)
    big = b"gasket " * 200
    noise = os.urandom(64)
    (src / "a.html").write_bytes(big)
    (src / "sub" / "n.bin").write_bytes(noise)
    (src / ".secret").write_bytes(b"no")
    os.symlink(tmp_path / "elsewhere", src / "link.js")
    (tmp_path / "elsewhere").write_bytes(b"no")
    out = tmp_path / "assets.c"
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "gen-web-assets.py"),
                    str(src), str(out)], check=True)
    text = out.read_text()
    entries = [line.strip() for line in text.splitlines() if line.startswith('    {"')]
    assert entries == [
        '{"a.html", "%s", a0, %d, a0_gz, %d},' % (
            hashlib.sha256(big).hexdigest()[:32], len(big),
            len(gzip.compress(big, compresslevel=9, mtime=0))),
        '{"sub/n.bin", "%s", a1, %d, NULL, 0},' % (hashlib.sha256(noise).hexdigest()[:32],
                                                   len(noise)),
    ]
    assert "const size_t web_nassets = 2;" in text
    # the same input gives the same bytes (make rebuilds only on a change)
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "gen-web-assets.py"),
                    str(src), str(tmp_path / "again.c")], check=True)
    assert (tmp_path / "again.c").read_text() == text


def test_route_under_dashboard_refused(daemon_factory):
    d = daemon_factory(extra="[route /_dashboard/in]\n", start=False)
    with pytest.raises(RuntimeError, match="is the dashboard's"):
        d.start(timeout=10)
