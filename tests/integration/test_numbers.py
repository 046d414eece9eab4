"""Numbers come back as posted (issue 12): a real such as 26.2 is written
26.2, never jansson's 26.199999999999999, on every path that prints one
again: a document stored with its own `date`, ?pretty replies, _export
CSV and NDJSON, gasket.publish payloads (and gasket-sub --json printing
them), alarms.json, and gasket-pub's payload lines."""
import csv
import io
import json
import os
import re
import subprocess
import time
import urllib.parse
from pathlib import Path

from conftest import ADMIN, KEY, MQTT_CRED

BUILD = Path(os.environ.get("GASKETD") or "build/gasketd").resolve().parent
LONG = "26.199999999999999"


def test_document_with_a_date_member(gasketd):
    """A `date` member the server rewrites (epoch millis on _doc, any date on
    a route) re-serializes the document: its numbers stay as posted."""
    rest = '"no2":{"sensorid":"0006","value":26.2},"t":0.1,"n":{"value":1.5,"k":7}}'
    st, _, reply = gasketd.request("POST", "/gasdetect/_doc",
                                   '{"groupid":"2","date":1630692889000,' + rest)
    assert st == 201, reply
    assert gasketd.post('{"groupid":"3","date":"2021-09-03 18:14:49",' + rest)[0] == 200
    docs = [row[4] for row in gasketd.docs()]
    assert len(docs) == 2
    for src in docs:
        assert re.fullmatch(r'\{"groupid":"[23]","date":"[-0-9 :]{19}",' + re.escape(rest),
                            src), src


def test_pretty_search(gasketd):
    body = '{"groupid":"2","no2":{"sensorid":"0006","value":26.2}}'
    assert gasketd.post(body)[0] == 200
    st, _, text = gasketd.request("POST", "/gasdetect/_search?pretty",
                                  '{"_source":["no2.*"],"aggs":{"a":{"max":{"field":"no2.value"}}}}')
    text = text.decode()
    assert st == 200, text
    assert '"_source": {\n          "no2": {\n            "sensorid": "0006",\n' \
        '            "value": 26.2\n' in text, text
    assert '"aggregations": {\n    "a": {\n      "value": 26.2\n    }\n  }' in text, text
    assert LONG not in text


def export(d, query):
    c = d.conn(timeout=30)
    try:
        c.request("GET", "/gasdetect/_export" + query, headers={"x-api-key": KEY})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def test_export_csv_and_ndjson(gasketd):
    # over two lines: NDJSON writes it again on one line
    assert gasketd.post('{"groupid":"2",\n"no2":{"sensorid":"0006","value":26.2},"t":{"value":0.1}}')[0] \
        == 200
    st, text = export(gasketd, "?format=csv&fields=_id,no2.value,t")
    assert st == 200, text
    table = list(csv.reader(io.StringIO(text)))
    assert table[1][1:] == ["26.2", '{"value":0.1}'], text
    st, text = export(gasketd, "?format=ndjson")
    assert st == 200, text
    assert '"_source":{"groupid":"2","no2":{"sensorid":"0006","value":26.2},"t":{"value":0.1},' in text
    # a query holding a real still selects
    q = urllib.parse.quote('{"query":{"range":{"no2.value":{"gte":26.2}}}}')
    st, text = export(gasketd, "?format=csv&fields=no2.value&source=" + q)
    assert st == 200 and text.splitlines()[1:] == ["26.2"], text


PUBLISH_FN = 'return function(e) gasket.publish("pi/1", {v = 26.2, w = {0.1}}, 1) return e end\n'


def test_function_publish_and_gasket_sub_json(daemon_factory, tmp_path):
    fn = tmp_path / "pub.lua"
    fn.write_text(PUBLISH_FN)
    d = daemon_factory(extra="[route /gasdetector]\nfunction = %s\n" % fn)
    mq = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(d.mqtt_port), "-t",
                           "pi/1", "-q", "1", "-C", "1", "-W", "10"] + MQTT_CRED,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sub = subprocess.Popen([str(BUILD / "gasket-sub"), "--host", "127.0.0.1", "--port",
                            str(d.mqtt_port), "--user", "itest", "--password", KEY, "--json",
                            "--count", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        deadline = time.time() + 10
        err = ""
        while "subscribed" not in err and time.time() < deadline:
            err += sub.stderr.readline()
        assert "subscribed" in err, err
        time.sleep(0.4)  # mosquitto_sub subscribed too
        assert d.post('{"groupid":"2","no2":{"sensorid":"0006","value":"1"}}')[0] == 200
        out, _ = mq.communicate(timeout=15)
        assert out == '{"v":26.2,"w":[0.1]}\n'
        out, _ = sub.communicate(timeout=15)
        assert out == '{\n  "v": 26.2,\n  "w": [\n    0.1\n  ]\n}\n'
    finally:
        for p in (mq, sub):
            if p.poll() is None:
                p.kill()
                p.wait(5)
    assert d.stop() == 0


def test_alarms_file(daemon_factory):
    d = daemon_factory(extra="[rule no2]\nfield = no2.value\nwarn = 88\n")
    assert d.post('{"groupid":"2","no2":{"sensorid":"0006","value":"90.3"}}')[0] == 200
    st, _, body = d.request("GET", "/alarms", key=ADMIN)
    assert st == 200 and json.loads(body)["total"] == 1, body
    assert d.stop() == 0
    text = (d.data / "alarms.json").read_text()
    assert '"value":90.3,"peak":90.3,' in text, text


def test_gasket_pub_payload(daemon_factory):
    d = daemon_factory()
    p = subprocess.Popen([str(BUILD / "gasket-pub"), "--stdin", "--group", "13", "--url",
                          "http://127.0.0.1:%d/gasdetector" % d.port, "--key", KEY, "--name",
                          "pi-test", "--spool", str(d.dir / "pub.spool")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = p.communicate(b'{"co": {"value": 26.2}, "no2": 0.30000000000000004}\n', timeout=30)
    assert p.returncode == 0, out
    stored = d.docs()[0][4]
    assert '"co":{"value":26.2,' in stored, stored
    assert json.loads(stored)["no2"]["value"] == "0.30000000000000004", stored
    assert d.stop() == 0
