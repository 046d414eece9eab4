"""Deterministic fixture documents for test_search_golden.py (random with a
fixed seed): a few hundred readings in index `gasdetect` around 2021-09-03
(the seed document's day) and across 2021-10-30 .. 2021-11-01 (Asia/Seoul),
which holds Europe/Berlin's fall-back (2021-10-31 01:00Z, 10:00 in Seoul),
plus hand-placed documents on the edges the tests probe: day edges, a minute
shared by several documents, the DST instant, the non-aligned edges of the
rollup ranges, and ties of date and value. Every document carries its own
`date` ("YYYY-MM-DD HH:MM:SS", Asia/Seoul), which gasket keeps."""
import random
from datetime import datetime, timedelta

from conftest import SEED

GROUPS = ["1", "2", "3", "7", "10"]
GROUP_WEIGHTS = [3, 4, 2, 1, 2]
NO2_SENSORS = ["0006", "0016", "0026", "0106"]
SEED_DATE = "2021-09-03 18:14:49"

# Non-aligned edges of the long ranges (rollup traps), Asia/Seoul.
ROLLUP_FROM = "2021-10-30 06:10:30"
ROLLUP_TO = "2021-11-01 07:45:20"
SHARED_MINUTE = "2021-10-31 09:17"

FIXED_DATES = [
    # day edges of 2021-09-03 (Seoul)
    "2021-09-02 23:59:59", "2021-09-03 00:00:00", "2021-09-03 23:59:59", "2021-09-04 00:00:00",
    # one minute holding eight documents, two of them in the same second
    SHARED_MINUTE + ":00", SHARED_MINUTE + ":05", SHARED_MINUTE + ":05", SHARED_MINUTE + ":17",
    SHARED_MINUTE + ":29", SHARED_MINUTE + ":30", SHARED_MINUTE + ":41", SHARED_MINUTE + ":59",
    # Europe/Berlin's fall-back instant (01:00Z) and its neighbours
    "2021-10-31 09:59:59", "2021-10-31 10:00:00", "2021-10-31 10:00:01",
    # the rollup range edges and documents sharing their minutes
    "2021-10-30 06:10:05", ROLLUP_FROM, "2021-10-30 06:10:31", "2021-10-30 06:10:59",
    "2021-11-01 07:45:00", "2021-11-01 07:45:19", ROLLUP_TO, "2021-11-01 07:45:40",
    # hour edges inside the rollup range
    "2021-10-30 07:00:00", "2021-10-30 06:59:59",
]
# Extreme no2 values just outside/inside the rollup range edges: a plan that
# takes a whole edge minute from the rollups gets min/max (and sums) wrong.
EDGE_NO2 = {"2021-10-30 06:10:05": "119.99", ROLLUP_TO: "0.50", "2021-11-01 07:45:40": "1.01",
            "2021-10-30 06:10:59": 0.75}
# The shared minute's groups and no2 sensors, so that terms buckets tie on
# their counts (groups 2 each; sensors 0006 and 0016 3 each).
SHARED_GROUPS = ["10", "2", "1", "3", "2", "10", "3", "1"]
SHARED_SENSORS = ["0016", "0006", "0016", "0006", "0026", "0006", "0016", "0026"]
# Two documents with the same date and no2 value, one more with the value.
TIES = [("2021-10-30 13:13:13", "42.42"), ("2021-10-30 13:13:13", "42.42"),
        ("2021-10-31 20:00:00", "42.42")]


def _value(rng, lo, hi):
    v = round(rng.uniform(lo, hi), 2)
    return "%.2f" % v if rng.random() < 0.85 else v


def _reading(rng, date, no2=None, group=None, sensor=None):
    doc = {"groupid": group or rng.choices(GROUPS, GROUP_WEIGHTS)[0]}
    if rng.random() < 0.8:
        doc["gps"] = "%.6f, %.6f" % (37.5 + rng.random() * 0.2, 126.9 + rng.random() * 0.2)
    doc["co"] = {"sensorid": "0005", "sensortype": "8", "value": _value(rng, 1, 60),
                 "createdtime": date}
    if no2 is not None or rng.random() < 0.92:
        doc["no2"] = {"sensorid": sensor or rng.choice(NO2_SENSORS), "sensortype": "9",
                      "value": no2 if no2 is not None else _value(rng, 1, 120),
                      "createdtime": date}
    if rng.random() < 0.7:
        doc["h2"] = {"sensorid": "0008", "sensortype": "30", "value": _value(rng, 100, 500),
                     "createdtime": date}
    if rng.random() < 0.1:
        doc["temperature"] = {"value": round(rng.uniform(-5, 35), 1)}
    if rng.random() < 0.05:
        return dict({"date": date}, **doc)  # posted with `date` first
    doc["date"] = date
    return doc


def _random_dates(rng, start, end, n):
    a = datetime.strptime(start, "%Y-%m-%d %H:%M:%S")
    span = int((datetime.strptime(end, "%Y-%m-%d %H:%M:%S") - a).total_seconds())
    out = []
    while len(out) < n:
        text = (a + timedelta(seconds=rng.randrange(span))).strftime("%Y-%m-%d %H:%M:%S")
        if text != SEED_DATE and text not in FIXED_DATES:
            out.append(text)
    return out


def gasdetect_docs(seed=20210903):
    """[source dict] in posting order (shuffled, so _id order is not date
    order); the seed document, with its createdtime as date, is among them."""
    rng = random.Random(seed)
    dates = (_random_dates(rng, "2021-09-02 20:00:00", "2021-09-04 04:00:00", 60)
             + _random_dates(rng, "2021-10-30 00:00:00", "2021-11-01 12:00:00", 220)
             + _random_dates(rng, "2021-10-31 08:30:00", "2021-10-31 11:30:00", 50)
             + FIXED_DATES)
    docs = [_reading(rng, d, no2=EDGE_NO2.get(d)) for d in dates
            if not d.startswith(SHARED_MINUTE)]
    shared = sorted(d for d in dates if d.startswith(SHARED_MINUTE))
    docs += [_reading(rng, d, no2=_value(rng, 1, 120), group=g, sensor=s)
             for d, g, s in zip(shared, SHARED_GROUPS, SHARED_SENSORS)]
    docs += [_reading(rng, d, no2=v) for d, v in TIES]
    # In October/November some readings lack co and a few carry no
    # measurement at all, so measurement counts no longer add up to
    # document counts there (September's all have co).
    for doc in docs:
        if doc["date"] >= "2021-10-30 00:00:00" and rng.random() < 0.05:
            del doc["co"]
    docs += [{"groupid": rng.choice(GROUPS), "gps": "37.600000, 127.000000", "date": d}
             for d in _random_dates(rng, "2021-10-30 00:00:00", "2021-11-01 12:00:00", 6)]
    rng.shuffle(docs)
    docs.insert(len(docs) // 2, dict(SEED, date=SEED_DATE))
    return docs


def shadow_docs(seed=31):
    """Readings of another index over the same days as gasdetect's."""
    rng = random.Random(seed)
    return [_reading(rng, d) for d in _random_dates(rng, "2021-10-30 00:00:00",
                                                    "2021-11-01 12:00:00", 40)]


RECENT_OFFSETS_MIN = [10, 50, 70, 180, 25 * 60, 80 * 60]


def recent_docs(now_s, zone_text):
    """Documents dated relative to now (minutes before now_s), for `now`
    date math; zone_text(epoch seconds) gives the local date text."""
    rng = random.Random(7)
    return [_reading(rng, zone_text(now_s - m * 60)) for m in RECENT_OFFSETS_MIN]


BIG_COUNT = 10001


def big_docs():
    """10,001 small documents, one second apart, for hits.total above 10,000."""
    start = datetime(2021, 1, 1)
    return [{"groupid": "b", "x": {"value": i % 100},
             "date": (start + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S")}
            for i in range(BIG_COUNT)]
