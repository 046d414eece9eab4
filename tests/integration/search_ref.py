"""A reference implementation, in plain Python, of the OpenSearch query DSL
subset gasket answers (issue 5), used by test_search_golden.py to compute the
expected reply of every request from the same fixture documents gasket was
loaded with. It is written from OpenSearch's documented behaviour (single
shard), not from gasket's output:

- Dates: a document's time is its `date` text ("YYYY-MM-DD HH:MM:SS") read in
  the configured zone (Asia/Seoul). Date text without an offset in a range
  query is read in the range's `time_zone`, else in the configured zone; date
  math ("now-1h", "2021-09-03||+1d/d") works in that zone; a final "/unit"
  rounds down for gte/lt and up (last millisecond of the unit) for gt/lte.
- date_histogram: no time_zone means UTC. Fixed intervals round on local
  time and convert back with the instant's own offset when it is valid for
  the rounded time (OpenSearch's TimeIntervalRounding: the two 02:00 hours of
  a fall-back night stay two buckets); calendar intervals start at the local
  minute/hour/day/Monday/1st. min_doc_count 0 (the default) fills empty
  buckets between data buckets and out to extended_bounds; key_as_string is
  strict_date_optional_time in the bucket's zone ("...Z" for UTC, "+09:00").
- terms: buckets by _count desc then _key asc; any other order gets _key asc
  as tie-breaker; sum_other_doc_count counts the documents left out.
- Metrics over no values: avg/min/max null, sum 0.0, value_count 0,
  stats {count 0, min/max/avg null, sum 0.0}, percentiles null each.
  Percentiles are exact: linear interpolation between closest ranks, as
  numpy.percentile's default.
- Hits: sorted hits have _score null and a `sort` array; ties (and equal
  scores) are broken by _id ascending (index order). Documents missing a sort
  field come last in either direction. Scores other than match_all (1.0) and
  filter-only bool (0.0) are not modelled (ANY_NUMBER), and hits of queries
  whose OpenSearch scores differ between documents (bool with should) are
  compared as a set (Unordered).
"""
import calendar
import copy
import fnmatch
import math
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

CONFIGURED_ZONE = "Asia/Seoul"
SHARDS = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
DEFAULT_PERCENTS = [1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0]
MAX_WINDOW = 10000


class _Any:
    """Matches any value present (including null)."""

    def __repr__(self):
        return "ANY"

    def __deepcopy__(self, memo):
        return self


class _AnyNumber:
    """Matches any JSON number (not a boolean)."""

    def __repr__(self):
        return "ANY_NUMBER"

    def __deepcopy__(self, memo):
        return self


ANY = _Any()
ANY_NUMBER = _AnyNumber()


class Unordered(list):
    """A list of hits whose order OpenSearch does not fix (it depends on
    scores this reference does not model): compared by _id as a set."""


class Unsupported(Exception):
    """The reference does not model this request (a bug in the test)."""


# ---- zones and instants -------------------------------------------------

EPOCH = datetime(1970, 1, 1)


def zone(name):
    if name in ("UTC", "Z", "GMT", "+00:00"):
        return timezone.utc
    m = re.fullmatch(r"([+-])(\d\d):?(\d\d)?", name)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0)))
    return ZoneInfo(name)


def offset_ms(z, ms):
    """Offset from UTC in force at instant ms, in ms."""
    dt = datetime.fromtimestamp(ms // 1000, z)
    return int(dt.utcoffset().total_seconds()) * 1000


def to_local(z, ms):
    return ms + offset_ms(z, ms)


def from_local(z, lms):
    """The instant of local time lms (ms since 1970-01-01T00:00 local): in an
    overlap the earlier offset, in a gap moved forward by the gap (java.time)."""
    naive = EPOCH + timedelta(milliseconds=lms)
    aware = naive.replace(tzinfo=z, fold=0)
    return lms - int(aware.utcoffset().total_seconds()) * 1000


def local_parts(z, ms):
    lms = to_local(z, ms)
    return EPOCH + timedelta(milliseconds=lms)


def naive_to_lms(dt):
    return (dt - EPOCH) // timedelta(milliseconds=1)


def local_text_ms(text, zname=CONFIGURED_ZONE):
    """The instant of "YYYY-MM-DD HH:MM:SS" in zone zname."""
    dt = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    return from_local(zone(zname), naive_to_lms(dt))


def ms_local_text(ms, zname=CONFIGURED_ZONE):
    return local_parts(zone(zname), ms).strftime("%Y-%m-%d %H:%M:%S")


def fmt_offset(off_ms):
    if off_ms == 0:
        return "Z"
    sign = "-" if off_ms < 0 else "+"
    m = abs(off_ms) // 60000
    return "%s%02d:%02d" % (sign, m // 60, m % 60)


def format_date(ms, z, pattern=None):
    """strict_date_optional_time (default) or a few java.time patterns."""
    loc = local_parts(z, ms)
    frac = "%03d" % (loc.microsecond // 1000)
    if pattern in (None, "strict_date_optional_time", "date_optional_time"):
        return loc.strftime("%Y-%m-%dT%H:%M:%S.") + frac + fmt_offset(offset_ms(z, ms))
    if pattern == "epoch_millis":
        return str(ms)
    table = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
    out, i = "", 0
    while i < len(pattern):
        for tok, rep in table.items():
            if pattern.startswith(tok, i):
                out += loc.strftime(rep)
                i += len(tok)
                break
        else:
            if pattern.startswith("SSS", i):
                out += frac
                i += 3
            elif pattern.startswith("XXX", i):
                out += fmt_offset(offset_ms(z, ms))
                i += 3
            elif pattern[i] in "-:/ T.":
                out += pattern[i]
                i += 1
            else:
                raise Unsupported("format " + pattern)
    return out


# ---- calendar units -----------------------------------------------------

UNIT_NAMES = {"1m": "m", "minute": "m", "1h": "h", "hour": "h", "1d": "d", "day": "d",
              "1w": "w", "week": "w", "1M": "M", "month": "M", "1q": "q", "quarter": "q",
              "1y": "y", "year": "y"}


def floor_local(dt, unit):
    if unit == "s":
        return dt.replace(microsecond=0)
    if unit == "m":
        return dt.replace(second=0, microsecond=0)
    if unit in ("h", "H"):
        return dt.replace(minute=0, second=0, microsecond=0)
    day = dt.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return day
    if unit == "w":
        return day - timedelta(days=day.weekday())
    if unit == "M":
        return day.replace(day=1)
    if unit == "q":
        return day.replace(day=1, month=(day.month - 1) // 3 * 3 + 1)
    if unit == "y":
        return day.replace(day=1, month=1)
    raise Unsupported("unit " + unit)


def add_local(dt, n, unit):
    if unit == "M" or unit == "q" or unit == "y":
        months = n * {"M": 1, "q": 3, "y": 12}[unit]
        total = dt.year * 12 + dt.month - 1 + months
        y, m = divmod(total, 12)
        d = min(dt.day, calendar.monthrange(y, m + 1)[1])
        return dt.replace(year=y, month=m + 1, day=d)
    if unit == "w":
        return dt + timedelta(weeks=n)
    if unit == "d":
        return dt + timedelta(days=n)
    raise Unsupported("unit " + unit)


def cal_floor(ms, unit, z):
    return from_local(z, naive_to_lms(floor_local(local_parts(z, ms), unit)))


def cal_next(key, unit, z):
    loc = local_parts(z, key)
    if unit in ("m", "h"):
        return key + {"m": 60000, "h": 3600000}[unit]
    return from_local(z, naive_to_lms(add_local(loc, 1, unit)))


FIXED_UNITS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}


def fixed_ms(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text)
    if not m:
        raise Unsupported("fixed_interval " + text)
    return int(m.group(1)) * FIXED_UNITS[m.group(2)]


def fixed_floor(ms, interval, z):
    """OpenSearch TimeIntervalRounding: round local time down, convert back
    with the instant's own offset when that offset is valid there."""
    off = offset_ms(z, ms)
    local = ms + off
    rl = local - local % interval
    cand = rl - off
    if offset_ms(z, cand) == off:
        return cand
    return from_local(z, rl)


def fixed_next(key, interval, z):
    """The next bucket key after key: the bucket of key + interval, or, when
    that rounds back to key (a local day of 25 hours), the next local
    interval. (OpenSearch's own nextRoundingValue steps back into a fall-back
    overlap and would repeat buckets there; keys here only increase.)"""
    n = fixed_floor(key + interval, interval, z)
    return n if n > key else from_local(z, to_local(z, key) + interval)


# ---- date values in queries ---------------------------------------------

ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?)?"
                 r"(Z|[+-]\d\d:?\d\d)?")


def parse_plain(s, z, round_up=False):
    """Date text, ISO 8601 or epoch millis. With round_up (gt, lte) missing
    components are their last value, as OpenSearch fills them: "2021-09-03"
    is 23:59:59.999 that day, "...18:14:49" is 18:14:49.999."""
    if isinstance(s, bool):
        raise Unsupported("date %r" % (s,))
    if isinstance(s, (int, float)):
        return int(s)
    if re.fullmatch(r"-?\d{5,19}", s):
        return int(s)
    m = ISO.fullmatch(s)
    if not m:
        raise Unsupported("date " + s)
    y, mo, d, hh, mi, ss, frac, off = m.groups()
    ms_frac = int((frac or "0").ljust(3, "0")[:3])
    naive = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0))
    lms = naive_to_lms(naive) + ms_frac
    if round_up and not frac:
        lms += (86400000 if hh is None else 60000 if ss is None else 1000) - 1
    if off:
        return lms - offset_ms(zone(off), 0)
    return from_local(z, lms)


MATH_OP = re.compile(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])")


def parse_date(value, z, now_ms, round_up=False):
    """A range bound: date text, epoch millis or date math (see module doc)."""
    if not isinstance(value, str):
        return parse_plain(value, z)
    if value.startswith("now"):
        base, ops = now_ms, value[3:]
    elif "||" in value:
        anchor, ops = value.split("||", 1)
        base = parse_plain(anchor, z)
    else:
        return parse_plain(value, z, round_up)
    t = base
    pos = 0
    while pos < len(ops):
        m = MATH_OP.match(ops, pos)
        if not m:
            raise Unsupported("date math " + value)
        pos = m.end()
        if m.group(4):
            unit = m.group(4)
            unit = "h" if unit == "H" else unit
            floor = from_local(z, naive_to_lms(floor_local(local_parts(z, t), unit)))
            if round_up:
                if unit in ("s", "m", "h"):
                    nxt = floor + {"s": 1000, "m": 60000, "h": 3600000}[unit]
                else:
                    nxt = from_local(z, naive_to_lms(add_local(floor_local(local_parts(z, t),
                                                                           unit), 1, unit)))
                t = nxt - 1
            else:
                t = floor
        else:
            n = int(m.group(2)) * (-1 if m.group(1) == "-" else 1)
            unit = m.group(3)
            if unit in ("h", "H", "m", "s"):
                t += n * {"h": 3600000, "H": 3600000, "m": 60000, "s": 1000}[unit]
            else:
                loc = local_parts(z, t)
                t = from_local(z, naive_to_lms(add_local(loc, n, unit)))
    return t


# ---- documents and fields -------------------------------------------------

class Doc:
    """One stored document: index, _id (text), _source as posted (with date)."""

    def __init__(self, index, id_, source, ms=None):
        self.index = index
        self.id = str(id_)
        self.source = source
        self.ms = ms if ms is not None else local_text_ms(source["date"])

    def __repr__(self):
        return "Doc(%s/%s)" % (self.index, self.id)


def is_measurement(obj):
    return isinstance(obj, dict) and "value" in obj


def field_values(doc, field):
    """The doc's values of field: date -> [epoch ms]; a measurement's
    `value` -> [float]; other scalars -> [as stored]; missing -> []."""
    if field == "date":
        return [doc.ms]
    f = field[:-len(".keyword")] if field.endswith(".keyword") else field
    parts = f.split(".")
    v = doc.source
    parent = None
    for p in parts:
        if not isinstance(v, dict) or p not in v:
            return []
        parent, v = v, v[p]
    if v is None or isinstance(v, (dict, list)):
        return []
    if len(parts) == 2 and parts[1] == "value" and is_measurement(parent):
        return [float(v)]
    return [v]


def field_exists(doc, field):
    v = doc.source
    for p in field.split("."):
        if not isinstance(v, dict) or p not in v:
            return False
        v = v[p]
    return v is not None


# ---- queries --------------------------------------------------------------

def clauses(v):
    return v if isinstance(v, list) else [v]


def single(d, what):
    if not isinstance(d, dict) or len(d) != 1:
        raise Unsupported(what)
    return next(iter(d.items()))


def term_equal(field, docval, qval, ctx):
    if field == "date":
        return docval == parse_date(qval, ctx["zone"], ctx["now"])
    if isinstance(docval, float):
        return docval == float(qval)
    return str(docval) == str(qval)


def matches(q, doc, ctx):
    name, body = single(q, "query")
    if name == "match_all":
        return True
    if name == "match_none":
        return False
    if name == "term":
        field, v = single(body, "term")
        if isinstance(v, dict):
            v = v["value"]
        return any(term_equal(field, x, v, ctx) for x in field_values(doc, field))
    if name == "terms":
        field, vs = single(body, "terms")
        return any(term_equal(field, x, v, ctx) for x in field_values(doc, field) for v in vs)
    if name == "exists":
        return field_exists(doc, body["field"])
    if name == "range":
        field, spec = single(body, "range")
        return in_range(field, spec, doc, ctx)
    if name == "bool":
        return bool_matches(body, doc, ctx)
    raise Unsupported("query " + name)


def in_range(field, spec, doc, ctx):
    vals = field_values(doc, field)
    if not vals:
        return False
    if field == "date":
        z = zone(spec["time_zone"]) if "time_zone" in spec else ctx["zone"]
        b = {}
        for op in ("gt", "gte", "lt", "lte"):
            if op in spec:
                b[op] = parse_date(spec[op], z, ctx["now"], round_up=op in ("gt", "lte"))
    else:
        b = {op: float(spec[op]) for op in ("gt", "gte", "lt", "lte") if op in spec}
    for x in vals:
        if "gt" in b and not x > b["gt"]:
            continue
        if "gte" in b and not x >= b["gte"]:
            continue
        if "lt" in b and not x < b["lt"]:
            continue
        if "lte" in b and not x <= b["lte"]:
            continue
        return True
    return False


def msm_count(msm, nshould):
    if isinstance(msm, int):
        n = msm
    elif isinstance(msm, str) and msm.endswith("%"):
        n = int(nshould * int(msm[:-1]) / 100)
    else:
        n = int(msm)
    return nshould + n if n < 0 else n


def bool_matches(b, doc, ctx):
    for c in clauses(b.get("must", [])) + clauses(b.get("filter", [])):
        if not matches(c, doc, ctx):
            return False
    for c in clauses(b.get("must_not", [])):
        if matches(c, doc, ctx):
            return False
    should = clauses(b.get("should", []))
    if should:
        has_required = bool(b.get("must") or b.get("filter"))
        need = msm_count(b["minimum_should_match"], len(should)) if \
            "minimum_should_match" in b else (0 if has_required else 1)
        if sum(1 for c in should if matches(c, doc, ctx)) < need:
            return False
    return True


def score_kind(q):
    """'one' (every hit 1.0), 'zero' (0.0), 'equal' (equal, unmodelled
    scores: index order) or 'varies' (order by unmodelled scores)."""
    if q is None:
        return "one"
    name, body = single(q, "query")
    if name == "match_all":
        return "one"
    if name == "bool":
        if not body.get("must") and not body.get("should"):
            return "zero"
        if body.get("should"):
            return "varies"
        kinds = {score_kind(c) for c in clauses(body["must"])}
        return "varies" if "varies" in kinds else "equal"
    return "equal"


# ---- _source filtering ----------------------------------------------------

def source_filter(src, spec):
    """None: no _source at all; otherwise the filtered copy."""
    if spec is None or spec is True:
        return copy.deepcopy(src)
    if spec is False:
        return None
    if isinstance(spec, str):
        inc, exc = [spec], []
    elif isinstance(spec, list):
        inc, exc = spec, []
    else:
        inc = clauses(spec.get("includes", [])) or None
        exc = clauses(spec.get("excludes", []))
    return filter_obj(src, "", inc, exc)


def filter_obj(obj, prefix, inc, exc):
    """inc None: everything not excluded; else only paths an include
    pattern matches (an object matched keeps all its members)."""
    out = {}
    for k, v in obj.items():
        path = prefix + k
        if any(fnmatch.fnmatchcase(path, p) for p in exc):
            continue
        if inc is None or any(fnmatch.fnmatchcase(path, p) for p in inc):
            out[k] = filter_obj(v, path + ".", None, exc) if isinstance(v, dict) \
                else copy.deepcopy(v)
        elif isinstance(v, dict):
            below = [p for p in inc if could_match_below(p, path)]
            if below:
                sub = filter_obj(v, path + ".", below, exc)
                if sub:
                    out[k] = sub
    return out


def could_match_below(pattern, path):
    """Whether pattern may match some path under path + '.'."""
    probe = path + "."
    if "*" not in pattern:
        return pattern.startswith(probe)
    head = pattern.split("*", 1)[0]
    return head.startswith(probe) or probe.startswith(head)


# ---- sorting --------------------------------------------------------------

def sort_specs(sort):
    out = []
    for s in clauses(sort):
        if isinstance(s, str):
            out.append((s, "desc" if s == "_score" else "asc"))
        else:
            field, how = single(s, "sort")
            order = how if isinstance(how, str) else how.get("order", "asc")
            out.append((field, order))
    return out


def sort_hits(docs, specs):
    """docs ordered by specs, missing values last, then _id ascending."""
    def key(doc):
        k = []
        for field, order in specs:
            vals = field_values(doc, field)
            if not vals:
                k.append((1, 0))
            else:
                v = vals[0]
                if order == "desc":
                    v = -v if isinstance(v, (int, float)) else _Rev(v)
                k.append((0, v))
        k.append((0, int(doc.id)))
        return k
    return sorted(docs, key=key)


class _Rev:
    def __init__(self, v):
        self.v = v

    def __lt__(self, other):
        return self.v > other.v

    def __eq__(self, other):
        return self.v == other.v


def sort_values(doc, specs):
    """The hit's `sort` array; ANY where the value is unknown (missing, or
    the receive time of a document posted without a date)."""
    out = []
    for field, _ in specs:
        vals = field_values(doc, field)
        unknown = not vals or (field == "date" and doc.source.get("date") is ANY)
        out.append(ANY if unknown else vals[0])
    return out


# ---- aggregations ---------------------------------------------------------

def numbers(docs, field):
    return [float(v) for d in docs for v in field_values(d, field)]


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    rank = p / 100.0 * (len(sorted_vals) - 1)
    lo = math.floor(rank)
    hi = math.ceil(rank)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (rank - lo)


def metric(kind, spec, docs, ctx):
    field = spec.get("field")
    if kind == "value_count":
        return {"value": sum(len(field_values(d, field)) for d in docs)}
    if kind == "top_hits":
        return top_hits(spec, docs, ctx)
    vals = numbers(docs, field)
    if kind == "avg":
        return {"value": math.fsum(vals) / len(vals) if vals else None}
    if kind == "sum":
        return {"value": math.fsum(vals)}
    if kind in ("min", "max"):
        v = (min(vals) if kind == "min" else max(vals)) if vals else None
        out = {"value": v}
        if field == "date" and v is not None:
            out["value_as_string"] = format_date(int(v), timezone.utc, spec.get("format"))
        return out
    if kind == "stats":
        n = len(vals)
        return {"count": n, "min": min(vals) if n else None, "max": max(vals) if n else None,
                "avg": math.fsum(vals) / n if n else None, "sum": math.fsum(vals)}
    if kind == "percentiles":
        percents = [float(p) for p in spec.get("percents", DEFAULT_PERCENTS)]
        s = sorted(vals)
        if spec.get("keyed", True):
            return {"values": {str(p): percentile(s, p) for p in percents}}
        return {"values": [{"key": p, "value": percentile(s, p)} for p in percents]}
    raise Unsupported("agg " + kind)


def top_hits(spec, docs, ctx):
    specs = sort_specs(spec["sort"]) if "sort" in spec else None
    if specs is None:
        raise Unsupported("top_hits without sort")
    ordered = sort_hits(docs, specs)
    frm, size = spec.get("from", 0), spec.get("size", 3)
    hits = [make_hit(d, spec.get("_source"), None, specs) for d in ordered[frm:frm + size]]
    return {"hits": {"total": {"value": len(docs), "relation": "eq"}, "max_score": None,
                     "hits": hits}}


def sub_aggs(spec, docs, ctx):
    out = {}
    for name, a in (spec.get("aggs") or spec.get("aggregations") or {}).items():
        out[name] = aggregate(a, docs, ctx)
    return out


def aggregate(a, docs, ctx):
    kinds = [k for k in a if k not in ("aggs", "aggregations")]
    if len(kinds) != 1:
        raise Unsupported("agg %r" % (a,))
    kind = kinds[0]
    spec = a[kind]
    if kind == "date_histogram":
        return date_histogram(spec, a, docs, ctx)
    if kind == "terms":
        return terms_agg(spec, a, docs, ctx)
    return metric(kind, spec, docs, ctx)


def date_histogram(spec, a, docs, ctx):
    field = spec["field"]
    z = zone(spec.get("time_zone", "UTC"))
    if "fixed_interval" in spec:
        iv = fixed_ms(spec["fixed_interval"])
        rnd = lambda ms: fixed_floor(ms, iv, z)  # noqa: E731
        nxt = lambda k: fixed_next(k, iv, z)  # noqa: E731
    else:
        unit = UNIT_NAMES[spec["calendar_interval"]]
        rnd = lambda ms: cal_floor(ms, unit, z)  # noqa: E731
        nxt = lambda k: cal_next(k, unit, z)  # noqa: E731
    groups = {}
    for d in docs:
        for v in field_values(d, field):
            groups.setdefault(rnd(v), []).append(d)
    keys = sorted(groups)
    mdc = spec.get("min_doc_count", 0)
    if mdc == 0:
        keys = fill_keys(keys, spec.get("extended_bounds"), rnd, nxt, z, ctx)
    buckets = []
    for k in keys:
        members = groups.get(k, [])
        if len(members) < max(mdc, 0):
            continue
        b = {"key_as_string": format_date(k, z, spec.get("format")), "key": k,
             "doc_count": len(members)}
        b.update(sub_aggs(a, members, ctx))
        buckets.append(b)
    return {"buckets": buckets}


def fill_keys(keys, bounds, rnd, nxt, z, ctx):
    """OpenSearch's addEmptyBuckets: empties stepped from each data bucket
    up to the next, and out to the rounded extended bounds."""
    lo = hi = None
    if bounds:
        if "min" in bounds:
            lo = rnd(parse_date(bounds["min"], z, ctx["now"]))
        if "max" in bounds:
            hi = rnd(parse_date(bounds["max"], z, ctx["now"]))
    out = []
    if not keys:
        if lo is not None and hi is not None:
            k = lo
            while k <= hi:
                out.append(k)
                k = nxt(k)
        return out
    if lo is not None:
        k = lo
        while k < keys[0]:
            out.append(k)
            k = nxt(k)
    for i, key in enumerate(keys):
        out.append(key)
        if i + 1 < len(keys):
            k = nxt(key)
            while k < keys[i + 1]:
                out.append(k)
                k = nxt(k)
    if hi is not None:
        k = nxt(keys[-1])
        while k <= hi:
            out.append(k)
            k = nxt(k)
    return out


def terms_agg(spec, a, docs, ctx):
    field = spec["field"]
    size = spec.get("size", 10)
    mdc = spec.get("min_doc_count", 1)
    groups = {}
    for d in docs:
        for v in dict.fromkeys(str(x) for x in field_values(d, field)):
            groups.setdefault(v, []).append(d)
    buckets = []
    for k, members in groups.items():
        if len(members) < mdc:
            continue
        b = {"key": k, "doc_count": len(members)}
        b.update(sub_aggs(a, members, ctx))
        buckets.append(b)
    orders = []
    for o in clauses(spec.get("order", [{"_count": "desc"}])):
        orders.extend(o.items())
    if not any(k in ("_key", "_term") for k, _ in orders):
        orders.append(("_key", "asc"))

    def okey(b):
        out = []
        for k, direction in orders:
            if k == "_count":
                v = b["doc_count"]
            elif k in ("_key", "_term"):
                v = b["key"]
            else:
                name, _, sub = k.partition(".")
                v = b[name][sub or "value"]
            if direction == "desc":
                v = -v if isinstance(v, (int, float)) else _Rev(v)
            out.append(v)
        return out
    buckets.sort(key=okey)
    kept = buckets[:size]
    other = sum(b["doc_count"] for b in buckets[size:])
    return {"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": kept}


# ---- replies --------------------------------------------------------------

def make_hit(doc, source_spec, score, specs):
    h = {"_index": doc.index, "_id": doc.id, "_score": score}
    src = source_filter(doc.source, source_spec)
    if src is not None:
        h["_source"] = src
    if specs:
        h["sort"] = sort_values(doc, specs)
    return h


def total_hits(n, tth):
    if tth is False:
        return None
    limit = None if tth is True else (MAX_WINDOW if tth is None else int(tth))
    if limit is not None and n > limit:
        return {"value": limit, "relation": "gte"}
    return {"value": n, "relation": "eq"}


class Ref:
    """The expected replies over a list of Docs."""

    def __init__(self, docs, configured_zone=CONFIGURED_ZONE):
        self.docs = docs
        self.zone = zone(configured_zone)

    def select(self, index, query, now_ms):
        ctx = {"zone": self.zone, "now": now_ms}
        pool = [d for d in self.docs if d.index == index]
        if query is None:
            return pool, ctx
        return [d for d in pool if matches(query, d, ctx)], ctx

    def count(self, index, body, now_ms):
        found, _ = self.select(index, (body or {}).get("query"), now_ms)
        return {"count": len(found), "_shards": dict(SHARDS)}

    def search(self, index, body, now_ms):
        body = body or {}
        query = body.get("query")
        found, ctx = self.select(index, query, now_ms)
        frm, size = body.get("from", 0), body.get("size", 10)
        specs = sort_specs(body["sort"]) if "sort" in body else None
        kind = score_kind(query)
        if specs:
            ordered, score = sort_hits(found, specs), None
        else:
            ordered = sorted(found, key=lambda d: int(d.id))
            score = {"one": 1.0, "zero": 0.0}.get(kind, ANY_NUMBER)
        page = ordered[frm:frm + size]
        if not specs and kind == "varies":
            if frm != 0 or len(found) > size:
                raise Unsupported("a page of hits ordered by unmodelled scores")
        hits = [make_hit(d, body.get("_source"), score, specs) for d in page]
        if not specs and kind == "varies":
            hits = Unordered(hits)
        if specs or not page:
            max_score = None
        else:
            max_score = score
        hits_obj = {}
        total = total_hits(len(found), body.get("track_total_hits"))
        if total is not None:
            hits_obj["total"] = total
        hits_obj["max_score"] = max_score
        hits_obj["hits"] = hits
        reply = {"took": ANY_NUMBER, "timed_out": False, "_shards": dict(SHARDS),
                 "hits": hits_obj}
        aggs = body.get("aggs") or body.get("aggregations")
        if aggs:
            reply["aggregations"] = {name: aggregate(a, found, ctx) for name, a in aggs.items()}
        return reply


# ---- comparison -----------------------------------------------------------

REL_TOL = 1e-9


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def diff(exp, got, path="$", out=None):
    """Differences between an expected reply (with ANY, ANY_NUMBER,
    Unordered) and gasket's, as 'path: expected X, got Y' lines. Floats
    compare with a relative tolerance of 1e-9; an expected float accepts an
    integral JSON number of the same value; an expected int needs an int."""
    out = [] if out is None else out
    if exp is ANY:
        return out
    if exp is ANY_NUMBER:
        if not is_number(got):
            out.append("%s: expected a number, got %r" % (path, got))
        return out
    if isinstance(exp, dict):
        if not isinstance(got, dict):
            out.append("%s: expected an object, got %s" % (path, trim(got)))
            return out
        for k in exp:
            if k not in got:
                out.append("%s.%s: missing (expected %s)" % (path, k, trim(exp[k])))
            else:
                diff(exp[k], got[k], "%s.%s" % (path, k), out)
        for k in got:
            if k not in exp:
                out.append("%s.%s: unexpected member %s" % (path, k, trim(got[k])))
        return out
    if isinstance(exp, Unordered):
        if not isinstance(got, list):
            out.append("%s: expected a list, got %s" % (path, trim(got)))
            return out
        by_id = {h.get("_id"): h for h in got if isinstance(h, dict)}
        want = [h["_id"] for h in exp]
        if sorted(by_id) != sorted(want) or len(got) != len(exp):
            out.append("%s: expected ids %s, got %s" % (path, sorted(want, key=int),
                                                        sorted(by_id, key=str)))
            return out
        for h in exp:
            diff(h, by_id[h["_id"]], "%s[_id=%s]" % (path, h["_id"]), out)
        return out
    if isinstance(exp, list):
        if not isinstance(got, list):
            out.append("%s: expected a list, got %s" % (path, trim(got)))
            return out
        if len(exp) != len(got):
            out.append("%s: expected %d items, got %d" % (path, len(exp), len(got)))
            ids_e = [x.get("_id", x.get("key")) for x in exp if isinstance(x, dict)]
            ids_g = [x.get("_id", x.get("key")) for x in got if isinstance(x, dict)]
            if ids_e or ids_g:
                out.append("%s: expected keys %s, got %s" % (path, trim(ids_e), trim(ids_g)))
        for i, (e, g) in enumerate(zip(exp, got)):
            diff(e, g, "%s[%d]" % (path, i), out)
        return out
    if isinstance(exp, float):
        if not is_number(got) or not math.isclose(exp, got, rel_tol=REL_TOL, abs_tol=1e-12):
            out.append("%s: expected %r, got %r" % (path, exp, got))
        return out
    if isinstance(exp, bool) or exp is None or isinstance(exp, str):
        if got != exp or type(got) is not type(exp):
            out.append("%s: expected %r, got %s" % (path, exp, trim(got)))
        return out
    if isinstance(exp, int):
        if not isinstance(got, int) or isinstance(got, bool) or got != exp:
            out.append("%s: expected %r, got %s" % (path, exp, trim(got)))
        return out
    raise TypeError("unexpected %r" % (exp,))


def trim(v, n=300):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."
