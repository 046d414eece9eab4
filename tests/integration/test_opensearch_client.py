"""gasketd driven by a client no one here wrote: the official OpenSearch
JavaScript client (tests/clients/opensearch-js, installed by
scripts/install-deps.sh with `npm ci`). The checks live in client_test.mjs;
this starts the daemon and runs it."""
import os
import shutil
import subprocess

from conftest import ADMIN

CLIENT_DIR = os.path.join(os.path.dirname(__file__), "..", "clients", "opensearch-js")


def test_opensearch_js_client(daemon_factory):
    node = shutil.which("node")
    assert node, "node is missing: run scripts/install-deps.sh"
    assert os.path.isdir(os.path.join(CLIENT_DIR, "node_modules", "@opensearch-project")), \
        "the client is not installed: run scripts/install-deps.sh"
    d = daemon_factory(extra="[server]\ntimezone = Asia/Seoul\n")
    # an admin key: the script also asks about an index no route writes
    # (indices.exists on 'never-written' must say 404, which only a key that
    # may read every index learns; a device key gets 403)
    run = subprocess.run([node, "client_test.mjs", "http://127.0.0.1:%d" % d.port, ADMIN],
                         cwd=CLIENT_DIR, capture_output=True, text=True, timeout=120)
    out = run.stdout + run.stderr
    assert run.returncode == 0, "client_test.mjs failed:\n%s\n--- gasketd log:\n%s" % (
        out, d.log_text())
    assert "FAIL" not in out, out
    assert d.stop() == 0, d.log_text()
