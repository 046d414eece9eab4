/* query_parse_agg.c: the aggregations of the query DSL, JSON to plan.
 *
 * Parses "aggs"/"aggregations": metrics (avg, min, max, sum, value_count,
 * stats, percentiles), buckets (terms, date_histogram) with their
 * sub-aggregations, and top_hits. Pure like query_parse.c: a failure
 * records a reason naming the aggregation and the parameter. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "store/query_int.h"

static const struct {
    const char *name;
    enum qa_kind kind;
} agg_types[] = {
    {"avg", QA_AVG},          {"min", QA_MIN},           {"max", QA_MAX},
    {"sum", QA_SUM},          {"value_count", QA_COUNT}, {"stats", QA_STATS},
    {"percentiles", QA_PCT},  {"terms", QA_TERMS},       {"date_histogram", QA_DATEH},
    {"top_hits", QA_TOPHITS},
};

static const char *const unsupported_aggs[] = {"histogram",
                                               "range",
                                               "date_range",
                                               "filter",
                                               "filters",
                                               "cardinality",
                                               "extended_stats",
                                               "percentile_ranks",
                                               "composite",
                                               "nested",
                                               "reverse_nested",
                                               "global",
                                               "missing",
                                               "significant_terms",
                                               "auto_date_histogram",
                                               "geo_bounds",
                                               "geohash_grid",
                                               "scripted_metric",
                                               "weighted_avg",
                                               "median_absolute_deviation",
                                               "rare_terms",
                                               "multi_terms",
                                               "adjacency_matrix",
                                               "sampler",
                                               "diversified_sampler",
                                               "bucket_sort",
                                               "bucket_script",
                                               "bucket_selector",
                                               "avg_bucket",
                                               "max_bucket",
                                               "min_bucket",
                                               "sum_bucket",
                                               "stats_bucket",
                                               "derivative",
                                               "cumulative_sum",
                                               "moving_avg",
                                               "moving_fn",
                                               "serial_diff",
                                               "matrix_stats"};

static const char *kind_name(enum qa_kind k)
{
    for (size_t i = 0; i < sizeof agg_types / sizeof agg_types[0]; i++)
        if (agg_types[i].kind == k) return agg_types[i].name;
    return "?";
}

static int is_metric(enum qa_kind k)
{
    return k <= QA_PCT;
}

static void agg_free(struct qagg *a)
{
    if (!a) return;
    free(a->name);
    qp_field_free(&a->f);
    qp_aggs_free(a->subs, a->nsubs);
    free(a->order_metric);
    free(a->format);
    free(a->pct);
    qp_sorts_free(a->sorts, a->nsorts);
    qp_src_free(&a->src);
    free(a);
}

void qp_aggs_free(struct qagg **a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        agg_free(a[i]);
    free(a);
}

/* ---- metrics ----------------------------------------------------------- */

static int metric_field(struct qp *p, struct qagg *a, json_t *v)
{
    if (!json_is_string(v)) return qp_fail(p, "[%s] [field] must be a string", a->name);
    if (qp_field(p, json_string_value(v), &a->f) < 0) return -1;
    enum qf_kind fk = a->f.kind;
    if (fk == QF_MEAS || a->kind == QA_COUNT) return 0;
    if (fk == QF_DATE && (a->kind == QA_MIN || a->kind == QA_MAX)) return 0;
    return qp_fail(
        p, "field [%s] is not numeric: aggregation [%s] of type [%s] is not supported on it",
        a->f.name, a->name, kind_name(a->kind));
}

static int pct_list(struct qp *p, struct qagg *a, json_t *v)
{
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 100)
        return qp_fail(p, "[%s] [percents] must be an array of 1 to 100 numbers", a->name);
    free(a->pct);
    a->npct = json_array_size(v);
    a->pct = xcalloc(a->npct, sizeof *a->pct);
    for (size_t i = 0; i < a->npct; i++) {
        json_t *x = json_array_get(v, i);
        double d = json_number_value(x);
        if (!json_is_number(x) || !(d >= 0 && d <= 100))
            return qp_fail(p, "[%s] [percents] must be numbers between 0 and 100", a->name);
        a->pct[i] = d;
    }
    return 0;
}

static int pct_method(struct qp *p, struct qagg *a, const char *k, json_t *v)
{
    if (strcmp(k, "hdr") == 0)
        return qp_fail(p, "[%s] [hdr] percentiles are not supported", a->name);
    if (!json_is_object(v)) return qp_fail(p, "[%s] [tdigest] must be an object", a->name);
    /* gasket computes exact percentiles; the compression is not needed. */
    json_t *c = json_object_get(v, "compression");
    if (json_object_size(v) != (c ? 1u : 0u) || (c && !json_is_number(c)))
        return qp_fail(p, "[%s] [tdigest] supports only [compression]", a->name);
    return 0;
}

/* An aggregation's "format": a date pattern dt_format() supports. */
static int agg_format(struct qp *p, struct qagg *a, json_t *v)
{
    char err[QUERY_REASON];
    if (!json_is_string(v)) return qp_fail(p, "[%s] [format] must be a string", a->name);
    if (dt_format_check(json_string_value(v), err, sizeof err) < 0) return qp_fail(p, "%s", err);
    free(a->format);
    a->format = xstrdup(json_string_value(v));
    return 0;
}

static int metric_param(struct qp *p, struct qagg *a, const char *k, json_t *v)
{
    if (strcmp(k, "field") == 0) return metric_field(p, a, v);
    if (a->kind == QA_PCT && strcmp(k, "percents") == 0) return pct_list(p, a, v);
    if (a->kind == QA_PCT && strcmp(k, "keyed") == 0) return qp_bool(p, v, "keyed", &a->keyed);
    if (a->kind == QA_PCT && (strcmp(k, "tdigest") == 0 || strcmp(k, "hdr") == 0))
        return pct_method(p, a, k, v);
    if (strcmp(k, "format") == 0) return agg_format(p, a, v);
    return qp_fail(p, "aggregation [%s] of type [%s]: parameter [%s] is not supported", a->name,
                   kind_name(a->kind), k);
}

static const double default_pct[] = {1, 5, 25, 50, 75, 95, 99};

static int parse_metric(struct qp *p, struct qagg *a, json_t *v)
{
    const char *k;
    json_t *x;
    a->keyed = 1;
    json_object_foreach(v, k, x)
    {
        if (metric_param(p, a, k, x) < 0) return -1;
    }
    if (!a->f.name)
        return qp_fail(p, "aggregation [%s] of type [%s] needs a [field]", a->name,
                       kind_name(a->kind));
    if (a->format && a->f.kind != QF_DATE)
        return qp_fail(p, "aggregation [%s]: [format] is supported on [date] only", a->name);
    if (a->kind == QA_PCT && !a->pct) {
        a->npct = sizeof default_pct / sizeof default_pct[0];
        a->pct = xcalloc(a->npct, sizeof *a->pct);
        memcpy(a->pct, default_pct, sizeof default_pct);
    }
    return 0;
}

/* ---- terms ------------------------------------------------------------- */

/* "order": {"_count": "desc"}, {"_key": "asc"}, {"sub": "asc"},
 * {"sub.max": "desc"}, or an array of one such object. */
static int terms_order(struct qp *p, struct qagg *a, json_t *v)
{
    if (json_is_array(v) && json_array_size(v) == 1) v = json_array_get(v, 0);
    if (!json_is_object(v) || json_object_size(v) != 1)
        return qp_fail(p, "[%s] [order] must be one {\"key\": \"asc|desc\"} object", a->name);
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x)
    {
        const char *s = json_is_string(x) ? json_string_value(x) : "";
        if (strcmp(s, "asc") != 0 && strcmp(s, "desc") != 0)
            return qp_fail(p, "[%s] [order] must be [asc] or [desc]", a->name);
        a->order_desc = s[0] == 'd';
        if (strcmp(k, "_count") == 0)
            a->order = QO_COUNT;
        else if (strcmp(k, "_key") == 0 || strcmp(k, "_term") == 0)
            a->order = QO_KEY;
        else {
            a->order = QO_SUB;
            free(a->order_metric);
            a->order_metric = xstrdup(k); /* resolved after the sub-aggregations */
        }
    }
    return 0;
}

static int terms_param(struct qp *p, struct qagg *a, const char *k, json_t *v)
{
    if (strcmp(k, "field") == 0) {
        if (!json_is_string(v)) return qp_fail(p, "[%s] [field] must be a string", a->name);
        if (qp_field(p, json_string_value(v), &a->f) < 0) return -1;
        if (a->f.kind != QF_GROUP && a->f.kind != QF_KEYWORD)
            return qp_fail(p, "[%s]: [terms] on field [%s] is not supported (keyword fields only)",
                           a->name, a->f.name);
        return 0;
    }
    if (strcmp(k, "size") == 0) return qp_int(p, v, "size", 1, QUERY_MAX_BUCKETS, &a->size);
    if (strcmp(k, "shard_size") == 0) {
        int64_t ignored; /* one shard: every term is seen */
        return qp_int(p, v, "shard_size", -1, INT32_MAX, &ignored);
    }
    if (strcmp(k, "min_doc_count") == 0)
        return qp_int(p, v, "min_doc_count", 1, INT32_MAX, &a->min_doc_count);
    if (strcmp(k, "order") == 0) return terms_order(p, a, v);
    if (strcmp(k, "execution_hint") == 0 || strcmp(k, "collect_mode") == 0)
        return json_is_string(v) ? 0 : qp_fail(p, "[%s] [%s] must be a string", a->name, k);
    if (strcmp(k, "show_term_doc_count_error") == 0) {
        int b;
        if (qp_bool(p, v, k, &b) < 0) return -1;
        return b ? qp_fail(p, "[%s] [show_term_doc_count_error] is not supported", a->name) : 0;
    }
    return qp_fail(p, "aggregation [%s] of type [terms]: parameter [%s] is not supported", a->name,
                   k);
}

static int parse_terms(struct qp *p, struct qagg *a, json_t *v)
{
    const char *k;
    json_t *x;
    a->size = 10;
    a->min_doc_count = 1;
    a->order = QO_COUNT;
    a->order_desc = 1;
    json_object_foreach(v, k, x)
    {
        if (terms_param(p, a, k, x) < 0) return -1;
    }
    if (!a->f.name) return qp_fail(p, "aggregation [%s] of type [terms] needs a [field]", a->name);
    return 0;
}

/* ---- date_histogram ---------------------------------------------------- */

static int dh_interval(struct qp *p, struct qagg *a, const char *k, json_t *v)
{
    char err[QUERY_REASON];
    if (!json_is_string(v)) return qp_fail(p, "[%s] [%s] must be a string", a->name, k);
    if (a->interval || a->calendar)
        return qp_fail(p, "[%s]: only one of [fixed_interval] and [calendar_interval] may be set",
                       a->name);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (k[0] == 'c') {
        a->calendar = 1;
        if (dt_calendar_unit(s, n, &a->unit, err, sizeof err) < 0) return qp_fail(p, "%s", err);
        return 0;
    }
    if (dt_fixed_interval(s, n, &a->interval, err, sizeof err) < 0) return qp_fail(p, "%s", err);
    if (a->interval <= 0 || a->interval > (INT64_C(1) << 50))
        return qp_fail(p, "[%s] [fixed_interval] must be positive and at most 2^50 ms", a->name);
    return 0;
}

static int dh_bounds(struct qp *p, struct qagg *a, json_t *v)
{
    const char *k;
    json_t *x;
    if (!json_is_object(v)) return qp_fail(p, "[%s] [extended_bounds] must be an object", a->name);
    json_object_foreach(v, k, x)
    {
        int64_t *dst = strcmp(k, "min") == 0   ? &a->bounds_lo
                       : strcmp(k, "max") == 0 ? &a->bounds_hi
                                               : NULL;
        if (!dst) return qp_fail(p, "[%s] [extended_bounds] does not support [%s]", a->name, k);
        if (!json_is_string(x) && !json_is_integer(x))
            return qp_fail(p, "[%s] [extended_bounds] [%s] must be a date", a->name, k);
        a->has_bounds |= k[1] == 'i' ? 1 : 2;
    }
    return 0;
}

/* extended_bounds values, parsed in the histogram's zone once all of its
 * parameters are known. */
static int dh_bounds_resolve(struct qp *p, struct qagg *a, json_t *v)
{
    char err[QUERY_REASON];
    const char *names[2] = {"min", "max"};
    int64_t *dst[2] = {&a->bounds_lo, &a->bounds_hi};
    for (int i = 0; i < 2; i++) {
        json_t *x = json_object_get(v, names[i]);
        if (!x) continue;
        if (json_is_integer(x)) {
            *dst[i] = json_integer_value(x);
            if (*dst[i] < -(INT64_C(1) << 52) || *dst[i] > (INT64_C(1) << 52))
                return qp_fail(p, "[%s] [extended_bounds] date is out of range", a->name);
            continue;
        }
        const char *s = json_string_value(x);
        if (dt_math(s, json_string_length(x), p->q->now_ms, a->zone, 0, dst[i], err, sizeof err) <
            0)
            return qp_fail(p, "%s", err);
        if (*dst[i] < -(INT64_C(1) << 52) || *dst[i] > (INT64_C(1) << 52))
            return qp_fail(p, "[%s] [extended_bounds] date is out of range", a->name);
    }
    if (a->has_bounds == 3 && a->bounds_lo > a->bounds_hi)
        return qp_fail(p, "[%s] [extended_bounds.min] cannot be greater than [extended_bounds.max]",
                       a->name);
    return 0;
}

static int dh_param(struct qp *p, struct qagg *a, const char *k, json_t *v)
{
    if (strcmp(k, "field") == 0) {
        if (!json_is_string(v)) return qp_fail(p, "[%s] [field] must be a string", a->name);
        if (qp_field(p, json_string_value(v), &a->f) < 0) return -1;
        if (a->f.kind != QF_DATE)
            return qp_fail(p, "[%s]: [date_histogram] on field [%s] is not supported (only [date])",
                           a->name, a->f.name);
        return 0;
    }
    if (strcmp(k, "fixed_interval") == 0 || strcmp(k, "calendar_interval") == 0)
        return dh_interval(p, a, k, v);
    if (strcmp(k, "interval") == 0)
        return qp_fail(p,
                       "[%s]: [interval] is deprecated and not supported; use [fixed_interval] "
                       "or [calendar_interval]",
                       a->name);
    if (strcmp(k, "time_zone") == 0) return qp_zone(p, v, &a->zone);
    if (strcmp(k, "min_doc_count") == 0)
        return qp_int(p, v, "min_doc_count", 0, INT32_MAX, &a->min_doc_count);
    if (strcmp(k, "extended_bounds") == 0) return dh_bounds(p, a, v);
    if (strcmp(k, "keyed") == 0) {
        int b;
        if (qp_bool(p, v, k, &b) < 0) return -1;
        return b ? qp_fail(p, "[%s] [keyed] true is not supported", a->name) : 0;
    }
    if (strcmp(k, "format") == 0) return agg_format(p, a, v);
    return qp_fail(p, "aggregation [%s] of type [date_histogram]: parameter [%s] is not supported",
                   a->name, k);
}

static int parse_dateh(struct qp *p, struct qagg *a, json_t *v)
{
    const char *k;
    json_t *x;
    a->zone = tz_utc();
    json_object_foreach(v, k, x)
    {
        if (dh_param(p, a, k, x) < 0) return -1;
    }
    if (!a->f.name)
        return qp_fail(p, "aggregation [%s] of type [date_histogram] needs a [field]", a->name);
    if (!a->calendar && !a->interval)
        return qp_fail(p, "[%s]: [date_histogram] needs [fixed_interval] or [calendar_interval]",
                       a->name);
    if (a->has_bounds && dh_bounds_resolve(p, a, json_object_get(v, "extended_bounds")) < 0)
        return -1;
    return 0;
}

/* ---- top_hits ---------------------------------------------------------- */

static int parse_tophits(struct qp *p, struct qagg *a, json_t *v)
{
    const char *k;
    json_t *x;
    a->size = 3;
    json_object_foreach(v, k, x)
    {
        int rc;
        if (strcmp(k, "size") == 0)
            rc = qp_int(p, x, "size", 0, QUERY_MAX_TOPHITS, &a->size);
        else if (strcmp(k, "from") == 0)
            rc = qp_int(p, x, "from", 0, QUERY_MAX_TOPHITS, &a->from);
        else if (strcmp(k, "sort") == 0)
            rc = qp_sort(p, x, &a->sorts, &a->nsorts);
        else if (strcmp(k, "_source") == 0)
            rc = qp_source(p, x, &a->src);
        else
            rc = qp_fail(p, "aggregation [%s] of type [top_hits]: parameter [%s] is not supported",
                         a->name, k);
        if (rc < 0) return -1;
    }
    if (a->from + a->size > QUERY_MAX_TOPHITS)
        return qp_fail(p, "[%s]: top_hits from + size must be at most %d", a->name,
                       QUERY_MAX_TOPHITS);
    return 0;
}

/* ---- one aggregation --------------------------------------------------- */

static int parse_type(struct qp *p, struct qagg *a, const char *type, json_t *v)
{
    size_t i;
    for (i = 0; i < sizeof agg_types / sizeof agg_types[0]; i++)
        if (strcmp(type, agg_types[i].name) == 0) break;
    if (i == sizeof agg_types / sizeof agg_types[0]) {
        for (size_t j = 0; j < sizeof unsupported_aggs / sizeof unsupported_aggs[0]; j++)
            if (strcmp(type, unsupported_aggs[j]) == 0)
                return qp_fail(p, "aggregation type [%s] of [%s] is not supported by gasket", type,
                               a->name);
        return qp_fail(p, "Unknown aggregation type [%.64s] of [%s]", type, a->name);
    }
    a->kind = agg_types[i].kind;
    if (!json_is_object(v))
        return qp_fail(p, "aggregation [%s]: expected an object after [%s]", a->name, type);
    if (json_object_get(v, "script"))
        return qp_fail(p, "aggregation [%s]: [script] is not supported", a->name);
    if (json_object_get(v, "missing"))
        return qp_fail(p, "aggregation [%s]: [missing] is not supported", a->name);
    if (is_metric(a->kind)) return parse_metric(p, a, v);
    if (a->kind == QA_TERMS) return parse_terms(p, a, v);
    if (a->kind == QA_DATEH) return parse_dateh(p, a, v);
    return parse_tophits(p, a, v);
}

/* Finds the sub-aggregation named by a terms "order" path. */
static int resolve_order(struct qp *p, struct qagg *a)
{
    char *path = a->order_metric;
    char *dot = strchr(path, '.');
    if (dot) *dot = '\0';
    for (size_t i = 0; i < a->nsubs; i++) {
        struct qagg *s = a->subs[i];
        if (strcmp(s->name, path) != 0) continue;
        if (!is_metric(s->kind) || (s->kind == QA_STATS || s->kind == QA_PCT) != (dot != NULL))
            return qp_fail(p, "[%s]: invalid [order] path [%s]", a->name, s->name);
        a->order_sub = (int)i;
        memmove(path, dot ? dot + 1 : path + strlen(path), strlen(dot ? dot + 1 : "") + 1);
        if (s->kind == QA_STATS) {
            static const char *const st[] = {"count", "min", "max", "avg", "sum"};
            for (size_t j = 0; j < 5; j++)
                if (strcmp(path, st[j]) == 0) return 0;
            return qp_fail(p, "[%s]: unknown [order] metric [%s] of stats", a->name, path);
        }
        if (s->kind == QA_PCT) {
            char *end;
            double d = strtod(path, &end);
            for (size_t j = 0; *end == '\0' && j < s->npct; j++)
                if (s->pct[j] == d) return 0;
            return qp_fail(p, "[%s]: unknown [order] percentile [%s]", a->name, path);
        }
        return 0;
    }
    return qp_fail(p, "[%s]: [order] names no sub-aggregation [%s]", a->name, path);
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= QUERY_MAX_FIELD && !strpbrk(s, "[]>");
}

static int parse_one(struct qp *p, const char *name, json_t *v, struct qagg *a)
{
    const char *k, *type = NULL;
    json_t *x, *body = NULL, *subs = NULL;
    a->name = xstrdup(name);
    if (!name_ok(name)) return qp_fail(p, "invalid aggregation name [%.64s]", name);
    if (!json_is_object(v)) return qp_fail(p, "aggregation [%s] must be an object", name);
    json_object_foreach(v, k, x)
    {
        if (strcmp(k, "aggs") == 0 || strcmp(k, "aggregations") == 0) {
            if (subs) return qp_fail(p, "[%s]: found two sub-aggregation definitions", name);
            subs = x;
        } else if (strcmp(k, "meta") == 0) {
            if (!json_is_object(x)) return qp_fail(p, "[%s] [meta] must be an object", name);
            return qp_fail(p, "[%s]: [meta] is not supported", name);
        } else if (type) {
            return qp_fail(p, "found two aggregation type definitions in [%s]: [%s] and [%s]", name,
                           type, k);
        } else {
            type = k, body = x;
        }
    }
    if (!type) return qp_fail(p, "missing aggregation type in [%s]", name);
    if (parse_type(p, a, type, body) < 0) return -1;
    if (subs && (is_metric(a->kind) || a->kind == QA_TOPHITS))
        return qp_fail(p, "Aggregator [%s] of type [%s] cannot accept sub-aggregations", name,
                       type);
    if (subs && qp_aggs(p, subs, &a->subs, &a->nsubs) < 0) return -1;
    if (a->kind == QA_TERMS && a->order == QO_SUB) return resolve_order(p, a);
    return 0;
}

int qp_aggs(struct qp *p, json_t *v, struct qagg ***out, size_t *n)
{
    const char *k;
    json_t *x;
    *out = NULL;
    *n = 0;
    if (!json_is_object(v)) return qp_fail(p, "[aggs] must be an object");
    p->naggs_total += json_object_size(v);
    if (p->naggs_total > (size_t)p->q->max_aggs)
        return qp_fail(p,
                       "too many aggregations: the request has more than [%ld] in all; this limit "
                       "is set by [http] search_max_aggs",
                       p->q->max_aggs);
    if (++p->depth > QUERY_MAX_DEPTH)
        return qp_fail(p, "aggregations are nested more than %d deep", QUERY_MAX_DEPTH);
    *out = xcalloc(json_object_size(v) + 1, sizeof **out);
    json_object_foreach(v, k, x)
    {
        struct qagg *a = xcalloc(1, sizeof *a);
        (*out)[(*n)++] = a;
        if (parse_one(p, k, x, a) < 0) return -1;
    }
    p->depth--;
    return 0;
}
