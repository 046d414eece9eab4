/* reading.c: validates the gas-sensor payload devices POST (rules in reading.h).
 *
 * A common reading is read in one pass by reading_scan.c, without a tree.
 * Every other body, and every invalid one, takes the tree path here, which
 * gives the exact error: a cheap pre-scan of the raw bytes tracks strings,
 * nesting and the key path: it refuses bodies nested deeper than
 * READING_MAX_DEPTH and number literals that overflow (1e999, integers beyond
 * 64 bits) before jansson allocates anything, naming the member ("no2.value").
 * jansson then builds the tree (duplicate keys, UTF-8 and NUL checks); when it
 * refuses a member, the same scanner maps its error position to a key path.
 * Last, the tree is walked member by member against the payload rules.
 *
 * The stored document is the body as posted with "date" spliced in before the
 * final '}'; only a body that already has a top-level "date" is re-serialized
 * (from the tree, built then if the one pass did not). */
#include "gateway/reading.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/utf8.h"
#include "gateway/reading_scan.h"
#include "gateway/reading_text.h"

/* ---- errors ------------------------------------------------------------ */

/* Makes s printable UTF-8 in place: control characters and bytes that are not
 * part of a valid sequence (jansson quotes raw input; truncation may cut a
 * character) become '?'. */
static void text_clean(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t left = strlen(s);
    while (left) {
        int n = utf8_seq(p, left);
        if (n <= 0 || *p < 0x20 || *p == 0x7F) {
            *p++ = '?';
            left--;
            continue;
        }
        p += n;
        left -= (size_t)n;
    }
}

__attribute__((format(printf, 3, 4))) static int fail(struct reading_error *err, const char *field,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    snprintf(err->field, sizeof err->field, "%s", field);
    text_clean(err->message);
    text_clean(err->field);
    return GK_EINVAL;
}

/* ---- pre-scan of the raw bytes ------------------------------------------ */

struct frame {
    int is_obj, expect_key, has_key;
    size_t key_off, key_len; /* raw key bytes, between the quotes */
    size_t index;            /* element index in an array */
};

struct scanner {
    const char *p;
    size_t len;
    int depth;
    struct frame st[READING_MAX_DEPTH];
};

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Appends n bytes of s to the NUL-terminated out[cap], truncating. */
static void path_append(char *out, size_t cap, const char *s, size_t n)
{
    size_t used = strlen(out);
    if (n > cap - 1 - used) n = cap - 1 - used;
    memcpy(out + used, s, n);
    out[used + n] = '\0';
}

/* Appends a raw key to the path, decoded when it holds escapes. */
static void path_key(char *out, size_t cap, const char *raw, size_t n)
{
    json_t *s = NULL;
    if (memchr(raw, '\\', n)) {
        char *q = xmalloc(n + 2);
        q[0] = '"';
        memcpy(q + 1, raw, n);
        q[n + 1] = '"';
        s = json_loadb(q, n + 2, JSON_DECODE_ANY, NULL);
        free(q);
    }
    if (json_is_string(s))
        path_append(out, cap, json_string_value(s), json_string_length(s));
    else
        path_append(out, cap, raw, n);
    json_decref(s);
}

/* Writes the dotted path of the member being scanned ("no2.value"). */
static void scan_path(const struct scanner *sc, char *out, size_t cap)
{
    out[0] = '\0';
    for (int d = 0; d < sc->depth; d++) {
        const struct frame *f = &sc->st[d];
        if (f->is_obj && !f->has_key) break;
        char idx[24];
        if (d > 0) path_append(out, cap, ".", 1);
        if (f->is_obj) {
            path_key(out, cap, sc->p + f->key_off, f->key_len);
        } else {
            snprintf(idx, sizeof idx, "%zu", f->index);
            path_append(out, cap, idx, strlen(idx));
        }
    }
}

/* Skips the string starting at the quote at i; records it if it is a key. */
static size_t scan_string(struct scanner *sc, size_t i, size_t stop)
{
    size_t j = i + 1;
    while (j < stop && sc->p[j] != '"')
        j += sc->p[j] == '\\' ? 2 : 1;
    if (j >= stop) return stop;
    struct frame *f = sc->depth ? &sc->st[sc->depth - 1] : NULL;
    if (f && f->is_obj && f->expect_key) {
        f->expect_key = 0;
        f->has_key = 1;
        f->key_off = i + 1;
        f->key_len = j - (i + 1);
    }
    return j + 1;
}

/* Checks the number literal at i the way jansson will read it (strtoll for
 * integers, strtod otherwise) and refuses one that overflows. */
static int scan_number(struct scanner *sc, size_t *i, struct reading_error *err)
{
    size_t s = *i, e = s;
    int is_int = 1;
    while (e < sc->len && sc->p[e] && strchr("0123456789+-.eE", sc->p[e])) {
        if (strchr(".eE", sc->p[e])) is_int = 0;
        e++;
    }
    *i = e;
    char small[64], *tok = e - s < sizeof small ? small : xmalloc(e - s + 1);
    memcpy(tok, sc->p + s, e - s);
    tok[e - s] = '\0';
    errno = 0;
    int bad = is_int ? (strtoll(tok, NULL, 10), errno == ERANGE) : isinf(strtod(tok, NULL));
    if (tok != small) free(tok);
    if (!bad) return 0;
    char path[sizeof err->field];
    scan_path(sc, path, sizeof path);
    return fail(err, path, "number out of range");
}

static int scan_open(struct scanner *sc, int is_obj, struct reading_error *err)
{
    if (sc->depth == READING_MAX_DEPTH) {
        char path[sizeof err->field];
        scan_path(sc, path, sizeof path);
        return fail(err, path, "nesting deeper than %d levels", READING_MAX_DEPTH);
    }
    sc->st[sc->depth++] = (struct frame){.is_obj = is_obj, .expect_key = is_obj};
    return 0;
}

static void scan_comma(struct scanner *sc)
{
    if (!sc->depth) return;
    struct frame *f = &sc->st[sc->depth - 1];
    if (f->is_obj) {
        f->expect_key = 1;
        f->has_key = 0;
    } else {
        f->index++;
    }
}

/* Scans body[0..stop): returns GK_EINVAL (err set) for too deep nesting or an
 * overflowing number; syntax is left to jansson. */
static int scan(struct scanner *sc, size_t stop, struct reading_error *err)
{
    size_t i = 0;
    while (i < stop) {
        char c = sc->p[i];
        int rc = 0;
        if (c == '"') {
            i = scan_string(sc, i, stop);
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            if ((rc = scan_number(sc, &i, err)) < 0) return rc;
            continue;
        }
        if (c == '{' || c == '[')
            rc = scan_open(sc, c == '{', err);
        else if ((c == '}' || c == ']') && sc->depth)
            sc->depth--;
        else if (c == ',')
            scan_comma(sc);
        if (rc < 0) return rc;
        i++;
    }
    return 0;
}

/* ---- jansson ------------------------------------------------------------ */

/* Parses body into *doc; maps jansson's member-level errors to a key path. */
static int parse_json(const char *body, size_t len, json_t **doc, struct reading_error *err)
{
    json_error_t je;
    *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (*doc) return 0;
    enum json_error_code code = json_error_code(&je);
    char path[sizeof err->field] = "";
    if (code == json_error_duplicate_key || code == json_error_null_character ||
        code == json_error_null_byte_in_key || code == json_error_numeric_overflow) {
        struct scanner sc = {.p = body, .len = len};
        size_t pos = je.position < 0 ? 0 : (size_t)je.position;
        struct reading_error ignored;
        scan(&sc, pos < len ? pos : len, &ignored);
        scan_path(&sc, path, sizeof path);
    }
    return fail(err, path, "invalid JSON: %s", je.text);
}

/* A measurement value: a finite JSON number or a string holding one. */
static int parse_value(json_t *v, double *out)
{
    if (json_is_integer(v) || json_is_real(v)) {
        *out = json_number_value(v);
        return isfinite(*out) ? 0 : -1;
    }
    return json_is_string(v) ? reading_value_text(json_string_value(v), out) : -1;
}

/* ---- members ------------------------------------------------------------ */

static int check_groupid(struct reading *r, json_t *v, struct reading_error *err)
{
    if (json_is_string(v)) {
        size_t n = json_string_length(v);
        if (n == 0) return fail(err, "groupid", "groupid must not be empty");
        if (n >= sizeof r->groupid)
            return fail(err, "groupid", "groupid longer than %zu bytes", sizeof r->groupid - 1);
        memcpy(r->groupid, json_string_value(v), n + 1);
    } else if (json_is_integer(v)) {
        snprintf(r->groupid, sizeof r->groupid, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v) && isfinite(json_real_value(v))) {
        reading_real_text(json_real_value(v), r->groupid, sizeof r->groupid);
    } else {
        return fail(err, "groupid", "groupid must be a string or a number");
    }
    return 0;
}

static int check_gps(struct reading *r, json_t *v, struct reading_error *err)
{
    if (!json_is_string(v) || reading_gps_text(json_string_value(v), &r->lat, &r->lon) < 0)
        return fail(err, "gps", "gps must be a string \"lat, lon\" of two numbers");
    if (r->lat < -90 || r->lat > 90) return fail(err, "gps", "gps latitude outside [-90, 90]");
    if (r->lon < -180 || r->lon > 180) return fail(err, "gps", "gps longitude outside [-180, 180]");
    r->has_gps = 1;
    return 0;
}

/* A member kept as it came: a scalar, finite if a number. */
static int check_scalar(const char *path, json_t *v, struct reading_error *err)
{
    if (json_is_object(v) || json_is_array(v))
        return fail(err, path, "nested objects and arrays are not allowed here");
    if (json_is_real(v) && !isfinite(json_real_value(v)))
        return fail(err, path, "number out of range");
    return 0;
}

static int check_id(const char *path, json_t *v, struct reading_error *err)
{
    if (!json_is_string(v) && !json_is_number(v))
        return fail(err, path, "must be a string or a number");
    return check_scalar(path, v, err);
}

static int check_createdtime(const char *path, json_t *v, struct reading_error *err)
{
    if (!json_is_string(v) || reading_time_text(json_string_value(v)) < 0)
        return fail(err, path, "not a valid \"YYYY-MM-DD HH:MM:SS\" or ISO 8601 time");
    return 0;
}

/* Checks for the known members of a measurement; others must be scalars. */
static const struct {
    const char *key;
    int (*check)(const char *path, json_t *v, struct reading_error *err);
} meas_members[] = {
    {"sensorid", check_id},
    {"sensortype", check_id},
    {"createdtime", check_createdtime},
};

/* Checks one member of measurement `path`'s object; `value` goes to *value. */
static int check_meas_member(const char *path, const char *key, json_t *v, double *value,
                             struct reading_error *err)
{
    if (strcmp(key, "value") == 0)
        return parse_value(v, value) < 0 ? fail(err, path, "value is not a finite number") : 0;
    for (size_t i = 0; i < sizeof meas_members / sizeof meas_members[0]; i++)
        if (strcmp(key, meas_members[i].key) == 0) return meas_members[i].check(path, v, err);
    return check_scalar(path, v, err);
}

static int check_measurement(struct reading *r, const char *name, json_t *obj,
                             struct reading_error *err)
{
    char path[sizeof err->field];
    double value = 0;
    const char *key;
    json_t *v;
    if (r->nmeas == READING_MAX_MEAS)
        return fail(err, name, "more than %d measurements", READING_MAX_MEAS);
    json_object_foreach(obj, key, v)
    {
        snprintf(path, sizeof path, "%s.%s", name, key);
        int rc = check_meas_member(path, key, v, &value, err);
        if (rc < 0) return rc;
    }
    r->meas[r->nmeas++] = (struct measurement){.name = name, .value = value};
    return 0;
}

static int check_member(struct reading *r, const char *key, json_t *v, struct reading_error *err)
{
    if (strcmp(key, "groupid") == 0) return check_groupid(r, v, err);
    if (strcmp(key, "gps") == 0) return check_gps(r, v, err);
    if (json_is_array(v)) return fail(err, key, "arrays are not allowed at the top level");
    if (!json_is_object(v)) return check_scalar(key, v, err);
    if (!json_object_get(v, "value"))
        return fail(err, key, "not a measurement: object without value");
    return check_measurement(r, key, v, err);
}

static int check_body(struct reading *r, struct reading_error *err)
{
    if (!json_is_object(r->doc)) return fail(err, "", "body must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach(r->doc, key, v)
    {
        int rc = check_member(r, key, v, err);
        if (rc < 0) return rc;
    }
    if (!json_object_get(r->doc, "groupid")) return fail(err, "groupid", "groupid is required");
    json_t *date = json_object_get(r->doc, "date");
    r->nmembers = json_object_size(r->doc);
    r->has_date = date != NULL;
    r->has_emergency = json_object_get(r->doc, "emergency") != NULL;
    if (json_is_string(date)) {
        r->date = json_string_value(date);
        r->date_len = json_string_length(date);
    }
    return 0;
}

/* The tree path: the pre-scan, jansson, the walk; see reading_scan.h. */
int reading_parse_tree(struct reading *r, const char *body, size_t len, struct reading_error *err)
{
    struct reading_error dummy;
    struct scanner sc = {.p = body, .len = len};
    size_t ws = 0;
    if (!err) err = &dummy;
    err->message[0] = err->field[0] = '\0';
    memset(r, 0, sizeof *r);
    while (ws < len && is_ws(body[ws]))
        ws++;
    if (ws == len) return fail(err, "", "empty body");
    int rc = scan(&sc, len, err);
    if (rc == 0) rc = parse_json(body, len, &r->doc, err);
    if (rc == 0) rc = check_body(r, err);
    if (rc < 0) reading_free(r);
    return rc;
}

/* Parses and validates a device's body: one pass for the common reading,
 * the tree path for the rest; see reading.h. */
int reading_parse(struct reading *r, const char *body, size_t len, struct reading_error *err)
{
    if (reading_scan(r, body, len) == 0) {
        if (err) err->message[0] = err->field[0] = '\0';
        return 0;
    }
    return reading_parse_tree(r, body, len, err);
}

json_t *reading_doc(struct reading *r)
{
    if (!r->doc && r->body) {
        r->doc = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, NULL);
        if (!r->doc) abort(); /* out of memory: reading_scan accepts only what jansson does */
    }
    return r->doc;
}

/* 1 when v nests at most `left` more levels of objects and arrays. */
static int depth_ok(json_t *v, int left)
{
    if (!json_is_object(v) && !json_is_array(v))
        return 1;
    if (left == 0)
        return 0;
    const char *key;
    json_t *m;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach(v, key, m)
            if (!depth_ok(m, left - 1))
                return 0;
    } else {
        json_array_foreach(v, i, m)
            if (!depth_ok(m, left - 1))
                return 0;
    }
    return 1;
}

/* Validates an object built in memory (a Lua function's result); see
 * reading.h. */
int reading_from_json(struct reading *r, json_t *doc, struct reading_error *err)
{
    struct reading_error dummy;
    if (!err) err = &dummy;
    err->message[0] = err->field[0] = '\0';
    memset(r, 0, sizeof *r);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return fail(err, "", "the document is not an object");
    }
    if (!depth_ok(doc, READING_MAX_DEPTH)) {
        json_decref(doc);
        return fail(err, "", "nesting deeper than %d levels", READING_MAX_DEPTH);
    }
    r->doc = doc;
    int rc = check_body(r, err);
    if (rc < 0) reading_free(r);
    return rc;
}

/* Releases the parsed document; r may then be reused or discarded. */
void reading_free(struct reading *r)
{
    json_decref(r->doc);
    memset(r, 0, offsetof(struct reading, names));
}

/* Appends the document to store to out: the body with "date" as its last
 * member, or re-serialized with `date` replaced in place; see reading.h. */
void reading_document(struct reading *r, const char *body, size_t len, const char *date,
                      struct buf *out)
{
    if (r->has_date) {
        json_t *copy = json_copy(reading_doc(r)), *d = json_string(date);
        json_object_set_new(copy, "date", d ? d : json_string(""));
        json_write(out, copy, 0); /* compact, member order kept, 26.2 stays 26.2 */
        json_decref(copy);
        return;
    }
    while (len > 0 && is_ws(body[len - 1]))
        len--;
    size_t dlen = strlen(date);
    buf_reserve(out, len + dlen + 16); /* one allocation for most documents */
    buf_append(out, body, len - 1);    /* all but the closing '}' */
    if (r->nmembers > 0) buf_putc(out, ',');
    buf_puts(out, "\"date\":");
    buf_json_str(out, date, dlen);
    buf_putc(out, '}');
}
