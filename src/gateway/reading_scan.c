/* reading_scan.c: the one pass over a device's body that the common reading
 * takes (see reading_scan.h).
 *
 * A valid reading is at most two levels deep: a top-level object whose
 * members are scalars or measurements, objects of scalars. So the pass is a
 * loop over the top-level members with an inner loop over a measurement's,
 * checking the JSON syntax as jansson does (strict numbers in range, strings
 * of well-formed UTF-8 without control characters, no duplicate keys) and the
 * payload rules as reading.c's tree walk does, with the same text checks
 * (reading_text.h). Whatever it is not sure of, it declines: the tree path
 * then gives the exact answer, an error naming the field included. */
#include "gateway/reading_scan.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dec.h"
#include "core/utf8.h"
#include "gateway/reading_text.h"

#define TOP_KEYS 96  /* top-level members it checks for duplicates */
#define MEAS_KEYS 16 /* members of one measurement */
#define NUM_MAX 40   /* characters of a number literal */
#define TEXT_MAX 128 /* characters of a string it checks as text */

struct key {
    const char *s;
    size_t n;
};

/* One scalar value: a string (raw bytes, no escapes), a number or a literal. */
struct val {
    enum { V_STR, V_NUM, V_LIT } kind;
    const char *s;
    size_t n;
    int is_int;
    long long i;
    double d;
};

struct scan {
    const char *end;
    struct reading *r;
    size_t names_used;
    int has_groupid;
};

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* The string whose opening quote is at p: sets *s and *n to its bytes and
 * returns past the closing quote, or NULL (escapes, control characters,
 * ill-formed UTF-8, no end). */
static const char *str(const char *p, const char *end, const char **s, size_t *n)
{
    const unsigned char *q = (const unsigned char *)p + 1, *e = (const unsigned char *)end;
    while (q < e) {
        unsigned char c = *q;
        if (c == '"') {
            *s = p + 1;
            *n = (size_t)((const char *)q - (p + 1));
            return (const char *)q + 1;
        }
        if (c == '\\' || c < 0x20) return NULL;
        if (c < 0x80) {
            q++;
            continue;
        }
        int k = utf8_seq(q, (size_t)(e - q));
        if (k <= 0) return NULL;
        q += k;
    }
    return NULL;
}

static const char *digits(const char *p, const char *end)
{
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p;
}

/* The number literal at p, JSON's grammar, read as jansson reads it (strtoll
 * for an integer, strtod otherwise); NULL when it is malformed, out of range
 * or longer than NUM_MAX. */
static const char *num(const char *p, const char *end, struct val *v)
{
    const char *s = p, *d;
    if (p < end && *p == '-') p++;
    if (p < end && *p == '0')
        p++;
    else if (p < end && *p >= '1' && *p <= '9')
        p = digits(p, end);
    else
        return NULL;
    v->is_int = 1;
    if (p < end && *p == '.') {
        v->is_int = 0;
        d = p + 1;
        if ((p = digits(d, end)) == d) return NULL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        v->is_int = 0;
        d = ++p;
        if (d < end && (*d == '+' || *d == '-')) d++;
        if ((p = digits(d, end)) == d) return NULL;
    }
    char tok[NUM_MAX + 1];
    size_t n = (size_t)(p - s);
    if (n > NUM_MAX) return NULL;
    memcpy(tok, s, n);
    tok[n] = '\0';
    v->kind = V_NUM;
    if (v->is_int) {
        errno = 0;
        v->i = strtoll(tok, NULL, 10);
        v->d = (double)v->i;
        return errno == ERANGE ? NULL : p;
    }
    if (dec_read(tok, n, &v->d)) return p;
    v->d = strtod(tok, NULL);
    return isinf(v->d) ? NULL : p;
}

/* The scalar at p; NULL for objects, arrays and anything invalid. */
static const char *scalar(const char *p, const char *end, struct val *v)
{
    static const char *const lits[] = {"true", "false", "null"};
    if (p == end) return NULL;
    if (*p == '"') {
        v->kind = V_STR;
        return str(p, end, &v->s, &v->n);
    }
    if (*p == '-' || (*p >= '0' && *p <= '9')) return num(p, end, v);
    for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++) {
        size_t n = strlen(lits[i]);
        if ((size_t)(end - p) >= n && memcmp(p, lits[i], n) == 0) {
            v->kind = V_LIT;
            return p + n;
        }
    }
    return NULL;
}

/* A string value copied to buf[TEXT_MAX + 1], NUL-terminated; 0 or -1 (not a
 * string, or too long). It holds no NUL: control characters are declined. */
static int text(const struct val *v, char *buf)
{
    if (v->kind != V_STR || v->n > TEXT_MAX) return -1;
    memcpy(buf, v->s, v->n);
    buf[v->n] = '\0';
    return 0;
}

static int is_key(const char *s, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(s, name, n) == 0;
}

/* 1 when s[0..n) is one of keys[0..nk); else adds it (0), or -1 when full. */
static int seen(struct key *keys, size_t *nk, size_t cap, const char *s, size_t n)
{
    for (size_t i = 0; i < *nk; i++)
        if (keys[i].n == n && memcmp(keys[i].s, s, n) == 0) return 1;
    if (*nk == cap) return -1;
    keys[(*nk)++] = (struct key){s, n};
    return 0;
}

/* The key at p, its colon and the whitespace after it: returns the start of
 * the value, or NULL (a duplicate, or too many keys to check). */
static const char *member_key(const char *p, const char *end, struct key *keys, size_t *nk,
                              size_t cap, struct key *k)
{
    if (p == end || *p != '"' || !(p = str(p, end, &k->s, &k->n))) return NULL;
    if (seen(keys, nk, cap, k->s, k->n) != 0) return NULL;
    p = skip_ws(p, end);
    if (p == end || *p != ':') return NULL;
    return skip_ws(p + 1, end);
}

/* After a member's value: past the ',' and whitespace (*last = 0) or at the
 * closing '}' (*last = 1); NULL for anything else. */
static const char *member_end(const char *p, const char *end, int *last)
{
    p = skip_ws(p, end);
    if (p == end || (*p != ',' && *p != '}')) return NULL;
    *last = *p == '}';
    return *last ? p : skip_ws(p + 1, end);
}

/* One member of a measurement, as reading.c's check_meas_member: 0 or -1. */
static int meas_member(const struct key *k, const struct val *v, double *value, int *has_value)
{
    char buf[TEXT_MAX + 1];
    if (is_key(k->s, k->n, "value")) {
        *has_value = 1;
        if (v->kind == V_NUM) {
            *value = v->d;
            return 0;
        }
        return text(v, buf) == 0 && reading_value_text(buf, value) == 0 ? 0 : -1;
    }
    if (is_key(k->s, k->n, "sensorid") || is_key(k->s, k->n, "sensortype"))
        return v->kind == V_LIT ? -1 : 0;
    if (is_key(k->s, k->n, "createdtime"))
        return text(v, buf) == 0 && reading_time_text(buf) == 0 ? 0 : -1;
    return 0;
}

/* The measurement named k whose '{' is at p: returns past its '}', or NULL. */
static const char *measurement(struct scan *sc, const char *p, const struct key *name)
{
    struct reading *r = sc->r;
    struct key keys[MEAS_KEYS], k;
    size_t nk = 0;
    double value = 0;
    int has_value = 0, last = 0;
    p = skip_ws(p + 1, sc->end);
    while (!last) {
        struct val v;
        if (!(p = member_key(p, sc->end, keys, &nk, MEAS_KEYS, &k))) return NULL;
        if (!(p = scalar(p, sc->end, &v)) || meas_member(&k, &v, &value, &has_value) < 0)
            return NULL;
        if (!(p = member_end(p, sc->end, &last))) return NULL;
    }
    if (!has_value || r->nmeas == READING_MAX_MEAS) return NULL;
    if (sc->names_used + name->n + 1 > sizeof r->names) return NULL;
    char *copy = r->names + sc->names_used;
    memcpy(copy, name->s, name->n);
    copy[name->n] = '\0';
    sc->names_used += name->n + 1;
    r->meas[r->nmeas++] = (struct measurement){.name = copy, .value = value};
    return p + 1;
}

/* groupid and gps, as reading.c's check_groupid and check_gps: 0 or -1. */
static int groupid(struct reading *r, const struct val *v)
{
    if (v->kind == V_STR) {
        if (v->n == 0 || v->n >= sizeof r->groupid) return -1;
        memcpy(r->groupid, v->s, v->n);
        r->groupid[v->n] = '\0';
    } else if (v->kind == V_NUM && v->is_int) {
        snprintf(r->groupid, sizeof r->groupid, "%lld", v->i);
    } else if (v->kind == V_NUM) {
        reading_real_text(v->d, r->groupid, sizeof r->groupid);
    } else {
        return -1;
    }
    return 0;
}

static int gps(struct reading *r, const struct val *v)
{
    char buf[TEXT_MAX + 1];
    if (text(v, buf) < 0 || reading_gps_text(buf, &r->lat, &r->lon) < 0) return -1;
    if (r->lat < -90 || r->lat > 90 || r->lon < -180 || r->lon > 180) return -1;
    r->has_gps = 1;
    return 0;
}

/* One top-level member whose value starts at p: returns past the value. */
static const char *top_member(struct scan *sc, const char *p, const struct key *k)
{
    struct reading *r = sc->r;
    struct val v;
    if (is_key(k->s, k->n, "date")) r->has_date = 1;
    if (is_key(k->s, k->n, "emergency")) r->has_emergency = 1;
    if (p < sc->end && *p == '{') {
        if (is_key(k->s, k->n, "groupid") || is_key(k->s, k->n, "gps")) return NULL;
        return measurement(sc, p, k);
    }
    if (!(p = scalar(p, sc->end, &v))) return NULL;
    if (is_key(k->s, k->n, "groupid")) {
        sc->has_groupid = 1;
        if (groupid(r, &v) < 0) return NULL;
    } else if (is_key(k->s, k->n, "gps")) {
        if (gps(r, &v) < 0) return NULL;
    } else if (is_key(k->s, k->n, "date") && v.kind == V_STR) {
        r->date = v.s;
        r->date_len = v.n;
    }
    return p;
}

int reading_scan(struct reading *r, const char *body, size_t len)
{
    struct scan sc = {.end = body + len, .r = r};
    struct key keys[TOP_KEYS], k;
    size_t nk = 0;
    int last = 0;
    memset(r, 0, offsetof(struct reading, names));
    const char *p = skip_ws(body, sc.end);
    if (p == sc.end || *p != '{') return 1;
    p = skip_ws(p + 1, sc.end);
    while (!last) {
        if (!(p = member_key(p, sc.end, keys, &nk, TOP_KEYS, &k))) return 1;
        if (!(p = top_member(&sc, p, &k))) return 1;
        if (!(p = member_end(p, sc.end, &last))) return 1;
    }
    if (skip_ws(p + 1, sc.end) != sc.end || !sc.has_groupid) return 1;
    r->nmembers = nk;
    r->body = body;
    r->len = len;
    return 0;
}

int reading_same(const struct reading *a, const struct reading *b)
{
    if (strcmp(a->groupid, b->groupid) != 0 || a->has_gps != b->has_gps ||
        memcmp(&a->lat, &b->lat, sizeof a->lat) != 0 ||
        memcmp(&a->lon, &b->lon, sizeof a->lon) != 0 || a->nmeas != b->nmeas ||
        a->nmembers != b->nmembers || a->has_date != b->has_date ||
        a->has_emergency != b->has_emergency || !a->date != !b->date)
        return 0;
    if (a->date && (a->date_len != b->date_len || memcmp(a->date, b->date, a->date_len) != 0))
        return 0;
    for (size_t i = 0; i < a->nmeas; i++)
        if (strcmp(a->meas[i].name, b->meas[i].name) != 0 ||
            memcmp(&a->meas[i].value, &b->meas[i].value, sizeof a->meas[i].value) != 0)
            return 0;
    return 1;
}
