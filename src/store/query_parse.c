/* query_parse.c: the query DSL, JSON to plan (struct query of query_int.h).
 *
 * This file parses the request object (query, from, size, sort, _source,
 * track_total_hits, timeout, aggs), the queries (match_all, match_none,
 * term, terms, ids, range, exists, bool) and the field mapping. It is pure:
 * no database, no clock (date math uses env->now_ms), no globals. Every
 * failure records one reason naming the offending part and returns -1; the
 * caller turns it into GK_EINVAL and a 400 error object. Aggregations are
 * in query_parse_agg.c. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "store/query_int.h"

static int parse_query(struct qp *p, json_t *v, struct qnode **out);

int qp_fail(struct qp *p, const char *fmt, ...)
{
    if (p->reason[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->reason, sizeof p->reason, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- fields ------------------------------------------------------------ */

static int seg_ok(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\') return 0;
    return 1;
}

/* '$."a"."b"' for the dotted path s[0..n). */
static char *json_path(const char *s, size_t n)
{
    struct buf b = {0};
    buf_putc(&b, '$');
    while (n > 0) {
        const char *dot = memchr(s, '.', n);
        size_t k = dot ? (size_t)(dot - s) : n;
        buf_puts(&b, ".\"");
        buf_append(&b, s, k);
        buf_putc(&b, '"');
        s += k, n -= k;
        if (dot) s++, n--;
    }
    return buf_steal(&b);
}

static int path_ok(const char *s, size_t n)
{
    while (1) {
        const char *dot = memchr(s, '.', n);
        size_t k = dot ? (size_t)(dot - s) : n;
        if (!seg_ok(s, k)) return 0;
        if (!dot) return 1;
        s += k + 1, n -= k + 1;
    }
}

int qp_field(struct qp *p, const char *name, struct qfield *f)
{
    size_t n = strlen(name);
    memset(f, 0, sizeof *f);
    if (n == 0 || n > QUERY_MAX_FIELD || !path_ok(name, n))
        return qp_fail(p, "field name [%.64s] is not valid", name);
    f->name = xstrdup(name);
    if (strcmp(name, "date") == 0) {
        f->kind = QF_DATE;
    } else if (strcmp(name, "_id") == 0) {
        f->kind = QF_ID;
    } else if (strcmp(name, "groupid") == 0 || strcmp(name, "groupid.keyword") == 0) {
        f->kind = QF_GROUP;
    } else if (name[0] == '_') {
        return qp_fail(p, "field [%s] is not supported", name);
    } else if (n > 6 && strcmp(name + n - 6, ".value") == 0 && !memchr(name, '.', n - 6)) {
        f->kind = QF_MEAS;
        f->arg = xstrndup(name, n - 6);
    } else {
        if (n > 8 && strcmp(name + n - 8, ".keyword") == 0) n -= 8;
        f->kind = QF_KEYWORD;
        f->arg = json_path(name, n);
    }
    return 0;
}

void qp_field_free(struct qfield *f)
{
    free(f->name);
    free(f->arg);
    memset(f, 0, sizeof *f);
}

/* ---- scalars ----------------------------------------------------------- */

int qp_int(struct qp *p, json_t *v, const char *what, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long l = strtoll(s, &end, 10);
        if (*s == '\0' || *end != '\0' || errno || isspace((unsigned char)*s))
            return qp_fail(p, "[%s] must be an integer, got [%.64s]", what, s);
        x = l;
    } else {
        return qp_fail(p, "[%s] must be an integer", what);
    }
    if (x < lo || x > hi)
        return qp_fail(p, "[%s] must be between %lld and %lld, got %lld", what, (long long)lo,
                       (long long)hi, (long long)x);
    *out = x;
    return 0;
}

int qp_bool(struct qp *p, json_t *v, const char *what, int *out)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_string(v) && strcmp(json_string_value(v), "true") == 0) return *out = 1, 0;
    if (json_is_string(v) && strcmp(json_string_value(v), "false") == 0) return *out = 0, 0;
    return qp_fail(p, "[%s] must be a boolean", what);
}

static int qp_double(struct qp *p, json_t *v, const char *what, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        double d = strtod(s, &end);
        if (*s != '\0' && *end == '\0' && !isspace((unsigned char)*s) && isfinite(d)) {
            *out = d;
            return 0;
        }
        return qp_fail(p, "failed to parse [%s] value [%.64s] as a number", what, s);
    }
    return qp_fail(p, "[%s] must be a number", what);
}

static int get_boost(struct qp *p, json_t *v, double *boost)
{
    if (qp_double(p, v, "boost", boost) < 0) return -1;
    if (*boost < 0) return qp_fail(p, "negative [boost] are not allowed");
    return 0;
}

int qp_zone(struct qp *p, json_t *v, const struct tz **out)
{
    char err[QUERY_REASON];
    struct tz *z;
    if (!json_is_string(v)) return qp_fail(p, "[time_zone] must be a string");
    const char *s = json_string_value(v);
    if (tz_load(&z, s, json_string_length(v), err, sizeof err) < 0) return qp_fail(p, "%s", err);
    struct query *q = p->q;
    q->zones = xrealloc(q->zones, (q->nzones + 1) * sizeof *q->zones);
    q->zones[q->nzones++] = z;
    *out = z;
    return 0;
}

/* A keyword value as text: strings as they are, numbers and booleans as
 * their JSON text. */
static int keyword_text(struct qp *p, json_t *v, const char *field, char **out)
{
    if (json_is_string(v)) {
        if (strlen(json_string_value(v)) != json_string_length(v))
            return qp_fail(p, "value of [%s] holds a NUL character", field);
        *out = xstrdup(json_string_value(v));
        return 0;
    }
    if (json_is_real(v)) {
        /* as SQLite prints a REAL (CAST(x AS TEXT)): %.15g, with ".0" */
        char t[48];
        snprintf(t, sizeof t, "%.15g", json_real_value(v));
        if (!strpbrk(t, ".eni")) strcat(t, ".0");
        *out = xstrdup(t);
        return 0;
    }
    if (json_is_integer(v) || json_is_boolean(v)) {
        *out = json_dumps(v, JSON_ENCODE_ANY);
        return *out ? 0 : qp_fail(p, "bad value of [%s]", field);
    }
    return qp_fail(p, "[%s] value must be a string, a number or a boolean", field);
}

/* A date value: date text in zone with date math, or epoch millis. */
static int date_value(struct qp *p, json_t *v, const struct tz *zone, int round_up, int64_t *ms)
{
    char err[QUERY_REASON];
    const int64_t lim = INT64_C(1) << 52; /* ms: beyond any calendar arithmetic's range */
    if (json_is_integer(v)) {
        *ms = json_integer_value(v);
        if (*ms < -lim || *ms > lim)
            return qp_fail(p, "date [%lld] is out of range", (long long)*ms);
        return 0;
    }
    if (!json_is_string(v)) return qp_fail(p, "[date] value must be a string or epoch millis");
    const char *s = json_string_value(v);
    if (dt_math(s, json_string_length(v), p->q->now_ms, zone, round_up, ms, err, sizeof err) < 0)
        return qp_fail(p, "%s", err);
    if (*ms < -lim || *ms > lim) return qp_fail(p, "date [%.64s] is out of range", s);
    return 0;
}

/* One term value of field f. */
static int term_value(struct qp *p, const struct qfield *f, json_t *v, struct qval *out)
{
    memset(out, 0, sizeof *out);
    if (json_is_null(v) || json_is_object(v) || json_is_array(v))
        return qp_fail(p, "[%s] term value must be a string, a number or a boolean", f->name);
    switch (f->kind) {
    case QF_DATE:
        return date_value(p, v, p->q->zone, 0, &out->i);
    case QF_ID: {
        char *s;
        if (keyword_text(p, v, f->name, &s) < 0) return -1;
        char *end;
        errno = 0;
        long long id = strtoll(s, &end, 10);
        out->i = (*s >= '0' && *s <= '9' && *end == '\0' && !errno && id > 0) ? id : -1;
        free(s);
        return 0;
    }
    case QF_MEAS:
        return qp_double(p, v, f->name, &out->d);
    default:
        return keyword_text(p, v, f->name, &out->s);
    }
}

/* ---- leaf queries ------------------------------------------------------ */

static struct qnode *node_new(enum qn_kind kind)
{
    struct qnode *n = xcalloc(1, sizeof *n);
    n->kind = kind;
    n->boost = 1.0;
    return n;
}

static void node_free(struct qnode *n);

/* The only member of a leaf query object: {"FIELD": ...}, skipping
 * "boost" (terms, exists) and "_name". */
static int single_field(struct qp *p, json_t *v, const char *qname, const char **key, json_t **val,
                        double *boost)
{
    const char *k;
    json_t *x;
    *key = NULL;
    if (!json_is_object(v)) return qp_fail(p, "[%s] query malformed, no start_object", qname);
    json_object_foreach(v, k, x)
    {
        if (strcmp(k, "boost") == 0 && boost) {
            if (get_boost(p, x, boost) < 0) return -1;
        } else if (strcmp(k, "_name") == 0) {
            if (!json_is_string(x)) return qp_fail(p, "[_name] must be a string");
        } else if (*key) {
            return qp_fail(p, "[%s] query doesn't support multiple fields, found [%s] and [%s]",
                           qname, *key, k);
        } else {
            *key = k, *val = x;
        }
    }
    if (!*key) return qp_fail(p, "[%s] query malformed, no field specified", qname);
    return 0;
}

static int parse_term(struct qp *p, json_t *v, struct qnode **out)
{
    const char *key;
    json_t *val;
    struct qnode *n = node_new(QN_TERMS);
    *out = n;
    if (single_field(p, v, "term", &key, &val, NULL) < 0) return -1;
    if (qp_field(p, key, &n->f) < 0) return -1;
    if (json_is_object(val)) {
        const char *k;
        json_t *x, *value = NULL;
        json_object_foreach(val, k, x)
        {
            if (strcmp(k, "value") == 0)
                value = x;
            else if (strcmp(k, "boost") == 0) {
                if (get_boost(p, x, &n->boost) < 0) return -1;
            } else if (strcmp(k, "_name") == 0 || strcmp(k, "case_insensitive") == 0) {
                if (strcmp(k, "case_insensitive") == 0 && !json_is_false(x))
                    return qp_fail(p, "[term] [case_insensitive] true is not supported");
            } else {
                return qp_fail(p, "[term] query does not support [%s]", k);
            }
        }
        if (!value) return qp_fail(p, "[term] query on [%s] has no [value]", key);
        val = value;
    }
    n->vals = xcalloc(1, sizeof *n->vals);
    n->nvals = 1;
    return term_value(p, &n->f, val, &n->vals[0]);
}

/* A long list of values as one JSON array, for json_each. */
static void terms_json(struct qnode *n)
{
    if (n->nvals <= QUERY_INLINE_VALS) return;
    json_t *a = json_array();
    for (size_t i = 0; i < n->nvals; i++) {
        const struct qval *v = &n->vals[i];
        json_array_append_new(a, n->f.kind == QF_MEAS ? json_real(v->d)
                                 : n->f.kind == QF_ID ? json_integer(v->i)
                                                      : json_string(v->s));
    }
    n->json_vals = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(a);
}

static int parse_terms(struct qp *p, json_t *v, struct qnode **out)
{
    const char *key;
    json_t *val;
    struct qnode *n = node_new(QN_TERMS);
    *out = n;
    if (single_field(p, v, "terms", &key, &val, &n->boost) < 0) return -1;
    if (qp_field(p, key, &n->f) < 0) return -1;
    if (!json_is_array(val))
        return qp_fail(p,
                       "[terms] query on [%s]: expected an array of values (terms lookup is not "
                       "supported)",
                       key);
    if (json_array_size(val) > QUERY_MAX_TERMS)
        return qp_fail(p, "[terms] query on [%s] has more than %d values", key, QUERY_MAX_TERMS);
    if (n->f.kind == QF_DATE && json_array_size(val) > 1)
        return qp_fail(p, "[terms] query with several values on [date] is not supported");
    n->vals = xcalloc(json_array_size(val) + 1, sizeof *n->vals);
    size_t i;
    json_t *x;
    json_array_foreach(val, i, x)
    {
        n->nvals++;
        if (term_value(p, &n->f, x, &n->vals[i]) < 0) return -1;
    }
    terms_json(n);
    return 0;
}

/* term/terms on date: one value X matches the second [X, X+1000). */
static void date_term_to_range(struct qnode *n)
{
    if (n->kind != QN_TERMS || n->f.kind != QF_DATE) return;
    if (n->nvals == 0 || q_floordiv(n->vals[0].i, 1000) * 1000 != n->vals[0].i) {
        n->kind = QN_NONE;
        return;
    }
    n->kind = QN_RANGE;
    n->has_lo = n->has_hi = 1;
    n->lo.i = n->vals[0].i;
    n->hi.i = n->vals[0].i + 1000;
}

static int parse_ids(struct qp *p, json_t *v, struct qnode **out)
{
    struct qnode *n = node_new(QN_TERMS);
    *out = n;
    json_t *vals = json_is_object(v) ? json_object_get(v, "values") : NULL;
    if (!json_is_array(vals)) return qp_fail(p, "[ids] query needs a [values] array");
    if (json_object_size(v) != 1) return qp_fail(p, "[ids] query supports only [values]");
    if (json_array_size(vals) > QUERY_MAX_TERMS) return qp_fail(p, "[ids] has too many values");
    qp_field(p, "_id", &n->f);
    n->vals = xcalloc(json_array_size(vals) + 1, sizeof *n->vals);
    size_t i;
    json_t *x;
    json_array_foreach(vals, i, x)
    {
        n->nvals++;
        if (term_value(p, &n->f, x, &n->vals[i]) < 0) return -1;
    }
    terms_json(n);
    return 0;
}

static int parse_exists(struct qp *p, json_t *v, struct qnode **out)
{
    struct qnode *n = node_new(QN_EXISTS);
    *out = n;
    const char *k;
    json_t *x, *field = NULL;
    if (!json_is_object(v)) return qp_fail(p, "[exists] query malformed");
    json_object_foreach(v, k, x)
    {
        if (strcmp(k, "field") == 0)
            field = x;
        else if (strcmp(k, "boost") == 0) {
            if (get_boost(p, x, &n->boost) < 0) return -1;
        } else if (strcmp(k, "_name") != 0) {
            return qp_fail(p, "[exists] query does not support [%s]", k);
        }
    }
    if (!json_is_string(field)) return qp_fail(p, "[exists] must be provided with a [field]");
    return qp_field(p, json_string_value(field), &n->f);
}

static int parse_match_all(struct qp *p, json_t *v, struct qnode **out, enum qn_kind kind)
{
    struct qnode *n = node_new(kind);
    *out = n;
    const char *k;
    json_t *x;
    if (!json_is_object(v)) return qp_fail(p, "[match_all] query malformed");
    json_object_foreach(v, k, x)
    {
        if (strcmp(k, "boost") == 0) {
            if (get_boost(p, x, &n->boost) < 0) return -1;
        } else if (strcmp(k, "_name") != 0) {
            return qp_fail(p, "[match_all] query does not support [%s]", k);
        }
    }
    return 0;
}

/* ---- range ------------------------------------------------------------- */

struct range_in {
    json_t *lo, *hi;
    int lo_incl, hi_incl;
    int epoch_sec; /* format epoch_second: numbers are seconds */
    const struct tz *zone;
};

/* The range formats whose values dt_math reads as they are meant. */
static const char *const range_formats[] = {"strict_date_optional_time",
                                            "date_optional_time",
                                            "strict_date_optional_time_nanos",
                                            "strict_date_time",
                                            "date_time",
                                            "strict_date",
                                            "date",
                                            "epoch_millis",
                                            "yyyy-MM-dd HH:mm:ss",
                                            "yyyy-MM-dd",
                                            "yyyy-MM-dd'T'HH:mm:ss",
                                            "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
                                            "yyyy-MM-dd'T'HH:mm:ssZ",
                                            "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
                                            "yyyy-MM-dd'T'HH:mm:ssXXX"};

static int range_format(struct qp *p, struct range_in *r, const char *f)
{
    if (strcmp(f, "epoch_second") == 0) return r->epoch_sec = 1, 0;
    while (*f) {
        const char *bar = strstr(f, "||");
        size_t n = bar ? (size_t)(bar - f) : strlen(f), i;
        for (i = 0; i < sizeof range_formats / sizeof range_formats[0]; i++)
            if (strlen(range_formats[i]) == n && strncmp(range_formats[i], f, n) == 0) break;
        if (i == sizeof range_formats / sizeof range_formats[0])
            return qp_fail(p, "[range] [format] [%.*s] is not supported", (int)(n > 64 ? 64 : n),
                           f);
        f += n + (bar ? 2 : 0);
    }
    return 0;
}

static int range_key(struct qp *p, struct qnode *n, struct range_in *r, const char *k, json_t *x)
{
    if (strcmp(k, "gte") == 0 || strcmp(k, "gt") == 0) {
        r->lo = json_is_null(x) ? NULL : x;
        r->lo_incl = k[2] == 'e';
    } else if (strcmp(k, "lte") == 0 || strcmp(k, "lt") == 0) {
        r->hi = json_is_null(x) ? NULL : x;
        r->hi_incl = k[2] == 'e';
    } else if (strcmp(k, "from") == 0) {
        r->lo = json_is_null(x) ? NULL : x;
    } else if (strcmp(k, "to") == 0) {
        r->hi = json_is_null(x) ? NULL : x;
    } else if (strcmp(k, "include_lower") == 0) {
        return qp_bool(p, x, k, &r->lo_incl);
    } else if (strcmp(k, "include_upper") == 0) {
        return qp_bool(p, x, k, &r->hi_incl);
    } else if (strcmp(k, "boost") == 0) {
        return get_boost(p, x, &n->boost);
    } else if (strcmp(k, "time_zone") == 0) {
        if (n->f.kind != QF_DATE)
            return qp_fail(p, "[range] [time_zone] applies to [date] only, not [%s]", n->f.name);
        return qp_zone(p, x, &r->zone);
    } else if (strcmp(k, "format") == 0) {
        if (!json_is_string(x)) return qp_fail(p, "[range] [format] must be a string");
        if (n->f.kind != QF_DATE)
            return qp_fail(p, "[range] [format] applies to [date] only, not [%s]", n->f.name);
        return range_format(p, r, json_string_value(x));
    } else if (strcmp(k, "relation") == 0) {
        if (!json_is_string(x) || strcmp(json_string_value(x), "intersects") != 0)
            return qp_fail(p, "[range] [relation] other than [intersects] is not supported");
    } else if (strcmp(k, "_name") != 0) {
        return qp_fail(p, "[range] query does not support [%s]", k);
    }
    return 0;
}

static int64_t ceil_sec(int64_t ms)
{
    return -q_floordiv(-ms, 1000) * 1000;
}

/* A bound given in epoch seconds (format epoch_second). */
static int epoch_seconds(struct qp *p, json_t *v, int64_t *ms)
{
    int64_t sec;
    if (qp_int(p, v, "date", -(INT64_C(1) << 42), INT64_C(1) << 42, &sec) < 0) return -1;
    *ms = sec * 1000;
    return 0;
}

static int range_value(struct qp *p, const struct range_in *r, json_t *v, const struct tz *z,
                       int round_up, int64_t *ms)
{
    if (r->epoch_sec) return epoch_seconds(p, v, ms);
    return date_value(p, v, z, round_up, ms);
}
static int64_t floor_sec(int64_t ms)
{
    return q_floordiv(ms, 1000) * 1000;
}

/* Bounds on the `date` value (whole seconds of docs.ts) as [lo, hi) of ts. */
static int range_date(struct qp *p, struct qnode *n, const struct range_in *r)
{
    const struct tz *z = r->zone ? r->zone : p->q->zone;
    int64_t x;
    if (r->lo) {
        if (range_value(p, r, r->lo, z, !r->lo_incl, &x) < 0) return -1;
        n->has_lo = 1;
        n->lo.i = r->lo_incl ? ceil_sec(x) : floor_sec(x) + 1000;
    }
    if (r->hi) {
        if (range_value(p, r, r->hi, z, r->hi_incl, &x) < 0) return -1;
        n->has_hi = 1;
        n->hi.i = r->hi_incl ? floor_sec(x) + 1000 : ceil_sec(x);
    }
    return 0;
}

static int range_bound(struct qp *p, struct qnode *n, json_t *v, struct qval *out)
{
    if (n->f.kind == QF_MEAS) return qp_double(p, v, n->f.name, &out->d);
    if (n->f.kind == QF_ID) return qp_fail(p, "[range] on [_id] is not supported");
    if (json_is_object(v) || json_is_array(v))
        return qp_fail(p, "[range] bound of [%s] must be a value", n->f.name);
    return keyword_text(p, v, n->f.name, &out->s);
}

static int parse_range(struct qp *p, json_t *v, struct qnode **out)
{
    const char *key, *k;
    json_t *val, *x;
    struct range_in r = {.lo_incl = 1, .hi_incl = 1};
    struct qnode *n = node_new(QN_RANGE);
    *out = n;
    if (single_field(p, v, "range", &key, &val, NULL) < 0) return -1;
    if (qp_field(p, key, &n->f) < 0) return -1;
    if (!json_is_object(val))
        return qp_fail(p, "[range] query malformed, no start_object after [%s]", key);
    json_object_foreach(val, k, x)
    {
        if (range_key(p, n, &r, k, x) < 0) return -1;
    }
    if (n->f.kind == QF_DATE) return range_date(p, n, &r);
    n->lo_incl = r.lo_incl, n->hi_incl = r.hi_incl;
    if (r.lo && (n->has_lo = 1, range_bound(p, n, r.lo, &n->lo) < 0)) return -1;
    if (r.hi && (n->has_hi = 1, range_bound(p, n, r.hi, &n->hi) < 0)) return -1;
    return 0;
}

/* ---- bool -------------------------------------------------------------- */

static const char *const occur_names[QB_NOCCUR] = {"must", "filter", "should", "must_not"};

static int bool_clauses(struct qp *p, struct qnode *n, enum qb_occur o, json_t *v)
{
    size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_array(v) && !json_is_object(v))
        return qp_fail(p, "[bool] [%s] must be a query or an array of queries", occur_names[o]);
    n->kids[o] = xrealloc(n->kids[o], (n->nkids[o] + cnt) * sizeof *n->kids[o]);
    for (size_t i = 0; i < cnt; i++) {
        json_t *c = json_is_array(v) ? json_array_get(v, i) : v;
        struct qnode **slot = &n->kids[o][n->nkids[o]];
        *slot = NULL;
        n->nkids[o]++;
        if (parse_query(p, c, slot) < 0) return -1;
    }
    return 0;
}

/* minimum_should_match as OpenSearch resolves it: "3", "-1", "75%", "-25%". */
static int msm_resolve(struct qp *p, json_t *v, size_t nshould, int *out)
{
    long long k;
    int neg = 0, pct = 0;
    if (json_is_integer(v)) {
        k = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        k = strtoll(s, &end, 10);
        pct = *end == '%';
        if (end == s || errno || end[pct] != '\0')
            return qp_fail(p, "[minimum_should_match] [%.32s] is not supported", s);
    } else {
        return qp_fail(p, "[minimum_should_match] must be an integer or a string");
    }
    if (k < -1000000 || k > 1000000) return qp_fail(p, "[minimum_should_match] is out of range");
    neg = k < 0;
    if (neg) k = -k;
    long long c = pct ? (long long)nshould * k / 100 : k;
    long long r = neg ? (long long)nshould - c : c;
    *out = r < 0 ? 0 : (int)r;
    return 0;
}

static int parse_bool(struct qp *p, json_t *v, struct qnode **out)
{
    const char *k;
    json_t *x, *msm = NULL;
    struct qnode *n = node_new(QN_BOOL);
    *out = n;
    if (!json_is_object(v)) return qp_fail(p, "[bool] query malformed, no start_object");
    json_object_foreach(v, k, x)
    {
        int o;
        for (o = 0; o < QB_NOCCUR && strcmp(k, occur_names[o]) != 0; o++)
            ;
        if (o < QB_NOCCUR) {
            if (bool_clauses(p, n, o, x) < 0) return -1;
        } else if (strcmp(k, "minimum_should_match") == 0) {
            msm = x;
        } else if (strcmp(k, "boost") == 0) {
            if (get_boost(p, x, &n->boost) < 0) return -1;
        } else if (strcmp(k, "adjust_pure_negative") != 0 && strcmp(k, "_name") != 0) {
            return qp_fail(p, "[bool] query does not support [%s]", k);
        }
    }
    size_t ns = n->nkids[QB_SHOULD];
    n->msm = (ns > 0 && n->nkids[QB_MUST] == 0 && n->nkids[QB_FILTER] == 0) ? 1 : 0;
    if (msm && msm_resolve(p, msm, ns, &n->msm) < 0) return -1;
    if (ns == 0) n->msm = 0;
    return 0;
}

/* ---- dispatch ---------------------------------------------------------- */

static int parse_named(struct qp *p, const char *name, json_t *v, struct qnode **out)
{
    if (strcmp(name, "match_all") == 0) return parse_match_all(p, v, out, QN_ALL);
    if (strcmp(name, "match_none") == 0) return parse_match_all(p, v, out, QN_NONE);
    if (strcmp(name, "term") == 0) return parse_term(p, v, out);
    if (strcmp(name, "terms") == 0) return parse_terms(p, v, out);
    if (strcmp(name, "ids") == 0) return parse_ids(p, v, out);
    if (strcmp(name, "range") == 0) return parse_range(p, v, out);
    if (strcmp(name, "exists") == 0) return parse_exists(p, v, out);
    if (strcmp(name, "bool") == 0) return parse_bool(p, v, out);
    static const char *const known[] = {
        "match",   "match_phrase", "multi_match", "query_string",   "simple_query_string",
        "prefix",  "wildcard",     "regexp",      "fuzzy",          "constant_score",
        "nested",  "geo_distance", "script",      "function_score", "dis_max",
        "boosting"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(name, known[i]) == 0)
            return qp_fail(p, "query [%s] is not supported by gasket", name);
    return qp_fail(p, "unknown query [%.64s]", name);
}

static int parse_query(struct qp *p, json_t *v, struct qnode **out)
{
    const char *name;
    json_t *x;
    *out = NULL;
    if (!json_is_object(v)) return qp_fail(p, "query malformed, must start with start_object");
    if (json_object_size(v) == 0) return qp_fail(p, "query malformed, empty clause found");
    if (json_object_size(v) > 1)
        return qp_fail(p, "query malformed, expected one query name in an object, found %zu",
                       json_object_size(v));
    if (++p->depth > QUERY_MAX_DEPTH)
        return qp_fail(p, "query is nested more than %d deep", QUERY_MAX_DEPTH);
    if (++p->nclauses > QUERY_MAX_CLAUSES)
        return qp_fail(p, "too_many_clauses: maxClauseCount is set to %d", QUERY_MAX_CLAUSES);
    json_object_foreach(v, name, x)
    {
        if (parse_named(p, name, x, out) < 0) return -1;
    }
    date_term_to_range(*out);
    p->depth--;
    return 0;
}

static void node_free(struct qnode *n)
{
    if (!n) return;
    qp_field_free(&n->f);
    for (size_t i = 0; i < n->nvals; i++)
        free(n->vals[i].s);
    free(n->vals);
    free(n->json_vals);
    free(n->lo.s);
    free(n->hi.s);
    for (int o = 0; o < QB_NOCCUR; o++) {
        for (size_t i = 0; i < n->nkids[o]; i++)
            node_free(n->kids[o][i]);
        free(n->kids[o]);
    }
    free(n);
}

/* ---- sort -------------------------------------------------------------- */

static int sort_order(struct qp *p, json_t *v, int *desc)
{
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (strcmp(s, "asc") == 0 || strcmp(s, "ASC") == 0) return *desc = 0, 0;
    if (strcmp(s, "desc") == 0 || strcmp(s, "DESC") == 0) return *desc = 1, 0;
    return qp_fail(p, "[sort] order must be [asc] or [desc]");
}

static int sort_options(struct qp *p, json_t *v, struct qsort *s)
{
    const char *k;
    json_t *x;
    if (json_is_string(v)) return sort_order(p, v, &s->desc);
    if (!json_is_object(v))
        return qp_fail(p, "[sort] options of [%s] malformed", s->f.name ? s->f.name : "");
    json_object_foreach(v, k, x)
    {
        if (strcmp(k, "order") == 0) {
            if (sort_order(p, x, &s->desc) < 0) return -1;
        } else if (strcmp(k, "missing") == 0) {
            if (!json_is_string(x) || strcmp(json_string_value(x), "_last") != 0)
                return qp_fail(p, "[sort] [missing] other than [_last] is not supported");
        } else if (strcmp(k, "unmapped_type") == 0) {
            if (!json_is_string(x)) return qp_fail(p, "[sort] [unmapped_type] must be a string");
        } else {
            return qp_fail(p, "[sort] option [%s] is not supported", k);
        }
    }
    return 0;
}

static int sort_one(struct qp *p, const char *name, json_t *opts, struct qsort *s)
{
    memset(s, 0, sizeof *s);
    if (strcmp(name, "_score") == 0) {
        s->kind = QS_SCORE, s->desc = 1;
    } else if (strcmp(name, "_doc") == 0) {
        s->kind = QS_DOC;
    } else {
        s->kind = QS_FIELD;
        if (qp_field(p, name, &s->f) < 0) return -1;
        if (s->f.kind == QF_ID) return qp_fail(p, "sorting on [_id] is not supported");
    }
    return opts ? sort_options(p, opts, s) : 0;
}

static int sort_item(struct qp *p, json_t *v, struct qsort *s)
{
    if (json_is_string(v)) return sort_one(p, json_string_value(v), NULL, s);
    if (!json_is_object(v) || json_object_size(v) != 1)
        return qp_fail(p, "[sort] entries must be a field name or {\"field\": options}");
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x)
    {
        if (sort_one(p, k, x, s) < 0) return -1;
    }
    return 0;
}

int qp_sort(struct qp *p, json_t *v, struct qsort **out, size_t *n)
{
    size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
    if (cnt > 16) return qp_fail(p, "[sort] has more than 16 keys");
    struct qsort *s = xcalloc(cnt + 1, sizeof *s);
    *out = s;
    *n = 0;
    for (size_t i = 0; i < cnt; i++) {
        (*n)++;
        if (sort_item(p, json_is_array(v) ? json_array_get(v, i) : v, &s[i]) < 0) return -1;
    }
    return 0;
}

void qp_sorts_free(struct qsort *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        qp_field_free(&s[i].f);
    free(s);
}

/* ---- _source ----------------------------------------------------------- */

static int src_list(struct qp *p, json_t *v, char ***out, size_t *n)
{
    size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
    if (cnt > 256) return qp_fail(p, "[_source] has more than 256 patterns");
    *out = xrealloc(*out, (*n + cnt + 1) * sizeof **out);
    for (size_t i = 0; i < cnt; i++) {
        json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(x) || json_string_length(x) == 0 ||
            json_string_length(x) > QUERY_MAX_FIELD ||
            strlen(json_string_value(x)) != json_string_length(x))
            return qp_fail(p, "[_source] patterns must be non-empty strings");
        (*out)[(*n)++] = xstrdup(json_string_value(x));
    }
    return 0;
}

int qp_source(struct qp *p, json_t *v, struct qsrc *s)
{
    const char *k;
    json_t *x;
    if (json_is_boolean(v)) return s->off = json_is_false(v), 0;
    if (json_is_string(v) || json_is_array(v)) return src_list(p, v, &s->inc, &s->ninc);
    if (!json_is_object(v))
        return qp_fail(p, "[_source] must be a boolean, a string, an array or an object");
    json_object_foreach(v, k, x)
    {
        int rc;
        if (strcmp(k, "includes") == 0 || strcmp(k, "include") == 0)
            rc = src_list(p, x, &s->inc, &s->ninc);
        else if (strcmp(k, "excludes") == 0 || strcmp(k, "exclude") == 0)
            rc = src_list(p, x, &s->exc, &s->nexc);
        else
            rc = qp_fail(p, "[_source] does not support [%s]", k);
        if (rc < 0) return -1;
    }
    return 0;
}

void qp_src_free(struct qsrc *s)
{
    for (size_t i = 0; i < s->ninc; i++)
        free(s->inc[i]);
    for (size_t i = 0; i < s->nexc; i++)
        free(s->exc[i]);
    free(s->inc);
    free(s->exc);
}

/* ---- the request ------------------------------------------------------- */

static int parse_track(struct qp *p, json_t *v)
{
    if (json_is_boolean(v)) return p->q->track = json_is_true(v) ? -1 : 0, 0;
    int64_t n;
    if (qp_int(p, v, "track_total_hits", -1, INT32_MAX, &n) < 0) return -1;
    p->q->track = n == -1 ? 0 : n;
    return 0;
}

/* "timeout": "500ms", "2s", "1m" ... */
static int parse_timeout(struct qp *p, json_t *v)
{
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (end != s && !errno && n >= 0 && n < 100000000 && s[0] >= '0' && s[0] <= '9')
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strcmp(end, units[i].u) == 0) {
                p->q->timeout_ms = n * units[i].ms;
                if (p->q->max_timeout_ms > 0 && p->q->timeout_ms > p->q->max_timeout_ms)
                    p->q->timeout_ms = p->q->max_timeout_ms; /* capped, not refused */
                return 0;
            }
    if (strcmp(s, "-1") == 0) return 0;
    return qp_fail(p, "[timeout] must be a time value such as \"500ms\" or \"2s\"");
}

static int parse_key(struct qp *p, const char *k, json_t *x)
{
    struct query *q = p->q;
    if (strcmp(k, "query") == 0) return parse_query(p, x, &q->root);
    if (q->kind == QUERY_COUNT) return qp_fail(p, "request does not support [%s]", k);
    if (strcmp(k, "from") == 0) return qp_int(p, x, "from", 0, INT32_MAX, &q->from);
    if (strcmp(k, "size") == 0) return qp_int(p, x, "size", 0, INT32_MAX, &q->size);
    if (strcmp(k, "sort") == 0) return qp_sort(p, x, &q->sorts, &q->nsorts);
    if (strcmp(k, "_source") == 0) return qp_source(p, x, &q->src);
    if (strcmp(k, "track_total_hits") == 0) return parse_track(p, x);
    if (strcmp(k, "track_scores") == 0) return qp_bool(p, x, k, &q->track_scores);
    if (strcmp(k, "timeout") == 0) return parse_timeout(p, x);
    if (strcmp(k, "aggs") == 0 || strcmp(k, "aggregations") == 0) {
        if (q->aggs) return qp_fail(p, "found two aggregation definitions");
        return qp_aggs(p, x, &q->aggs, &q->naggs);
    }
    static const char *const known[] = {"post_filter",
                                        "search_after",
                                        "highlight",
                                        "suggest",
                                        "collapse",
                                        "rescore",
                                        "script_fields",
                                        "docvalue_fields",
                                        "stored_fields",
                                        "fields",
                                        "explain",
                                        "version",
                                        "seq_no_primary_term",
                                        "min_score",
                                        "indices_boost",
                                        "pit",
                                        "slice",
                                        "profile",
                                        "terminate_after",
                                        "stats",
                                        "ext"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(k, known[i]) == 0) return qp_fail(p, "[%s] is not supported by gasket", k);
    return qp_fail(p, "Unknown key for a %s in [%.64s].",
                   json_is_object(x)  ? "START_OBJECT"
                   : json_is_array(x) ? "START_ARRAY"
                                      : "VALUE",
                   k);
}

static int parse_body(struct qp *p, const char *body, size_t len)
{
    json_error_t jerr;
    size_t i = 0;
    while (i < len && isspace((unsigned char)body[i]))
        i++;
    if (i == len) return 0;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return qp_fail(p, "failed to parse the request body: %s", jerr.text);
    int rc = 0;
    const char *k;
    json_t *x;
    if (!json_is_object(root))
        rc = qp_fail(p, "the request body must be a JSON object");
    else
        json_object_foreach(root, k, x)
        {
            if ((rc = parse_key(p, k, x)) < 0) break;
        }
    json_decref(root);
    return rc;
}

static int check_window(struct qp *p)
{
    struct query *q = p->q;
    if (q->from + q->size > QUERY_MAX_WINDOW)
        return qp_fail(p,
                       "Result window is too large, from + size must be less than or equal to: "
                       "[%d] but was [%lld]. See the scroll api for a more efficient way to "
                       "request large data sets.",
                       QUERY_MAX_WINDOW, (long long)(q->from + q->size));
    return 0;
}

int query_parse_plan(struct query **out, enum query_kind kind, const char *index, const char *body,
                     size_t len, const struct query_env *env, char *reason, size_t reasonlen)
{
    struct qp p = {0};
    struct query *q = xcalloc(1, sizeof *q);
    q->kind = kind;
    q->index = xstrdup(index);
    q->size = 10;
    q->track = QUERY_MAX_WINDOW;
    q->zone = env->zone ? env->zone : tz_utc();
    q->now_ms = env->now_ms;
    q->deadline_mono = env->deadline_mono;
    q->max_aggs = env->max_aggs > 0 ? env->max_aggs : QUERY_MAX_AGGS;
    q->max_buckets = env->max_buckets > 0 ? env->max_buckets : QUERY_MAX_BUCKETS;
    q->max_memory = env->max_memory > 0 ? env->max_memory : QUERY_MAX_MEMORY;
    q->max_timeout_ms = env->max_timeout_ms;
    p.q = q;
    int rc = -1;
    if (body && len > QUERY_MAX_BODY)
        qp_fail(&p, "the request body is larger than %u bytes", QUERY_MAX_BODY);
    else if ((!body || parse_body(&p, body, len) == 0) && check_window(&p) == 0)
        rc = 0;
    if (rc == 0 && !q->root) q->root = node_new(QN_ALL);
    if (rc == 0 && q->timeout_ms == 0) q->timeout_ms = q->max_timeout_ms; /* none: the cap */
    if (rc < 0) {
        snprintf(reason, reasonlen, "%s", p.reason[0] ? p.reason : "bad request");
        query_free(q);
        q = NULL;
    }
    *out = q;
    return rc;
}

void query_free(struct query *q)
{
    if (!q) return;
    free(q->index);
    node_free(q->root);
    qp_sorts_free(q->sorts, q->nsorts);
    qp_src_free(&q->src);
    qp_aggs_free(q->aggs, q->naggs);
    for (size_t i = 0; i < q->nzones; i++)
        tz_free(q->zones[i]);
    free(q->zones);
    free(q);
}
