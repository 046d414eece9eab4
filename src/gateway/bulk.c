/* bulk.c: the _bulk NDJSON parser and reply items (see bulk.h).
 *
 * Each action line is read with jansson (so its strings are checked UTF-8
 * and unescaped); source lines are only located here: the ingest path
 * validates them item by item. */
#include "gateway/bulk.h"
#include "core/err.h"
#include "core/mem.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[] = {"index", "create", "update", "delete"};

/* Metadata accepted in an action and ignored: gasket has one shard, no
 * routing and no ingest pipelines. */
static const char *const ignored_params[] = {"routing", "pipeline", "require_alias",
                                             "retry_on_conflict", "_source"};

const char *bulk_op_name(enum bulk_op op)
{
    return op_names[op];
}

/* Copies s[0..n) into out as printable ASCII (others become '?'),
 * shortened to fit, for a reason text. */
static void quote_text(char *out, size_t outlen, const char *s, size_t n)
{
    size_t i = 0;
    for (; i < n && i + 4 < outlen; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (i < n && i >= 3) memcpy(out + i - 3, "...", 3);
    out[i] = '\0';
}

int bulk_index_name_check(const char *name, size_t len, char *err, size_t errlen)
{
    char q[80];
    int ok = len > 0 && len <= BULK_MAX_INDEX && name[0] != '_' && name[0] != '-';
    for (size_t i = 0; ok && i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        ok = islower(c) || isdigit(c) || c == '_' || c == '-';
    }
    if (ok) return 0;
    quote_text(q, sizeof q, name, len);
    return gk_errf(err, errlen, GK_EINVAL,
                   "Invalid index name [%s], must be 1-255 lowercase letters, digits, _ or -, "
                   "not starting with _ or -",
                   q);
}

static int fail(struct bulk_error *err, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct bulk_error *err, const char *type, const char *fmt, ...)
{
    va_list ap;
    snprintf(err->type, sizeof err->type, "%s", type);
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof err->reason, fmt, ap);
    va_end(ap);
    for (char *p = err->reason; *p; p++) /* jansson's text may quote raw input bytes */
        if (*p < 0x20 || *p >= 0x7f) *p = '?';
    return GK_EINVAL;
}

#define MALFORMED "illegal_argument_exception"

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "START_OBJECT";
    case JSON_ARRAY:
        return "START_ARRAY";
    case JSON_STRING:
        return "VALUE_STRING";
    case JSON_INTEGER:
    case JSON_REAL:
        return "VALUE_NUMBER";
    case JSON_TRUE:
    case JSON_FALSE:
        return "VALUE_BOOLEAN";
    default:
        return "VALUE_NULL";
    }
}

static int is_ignored(const char *key)
{
    for (size_t i = 0; i < sizeof ignored_params / sizeof *ignored_params; i++)
        if (strcmp(key, ignored_params[i]) == 0) return 1;
    return 0;
}

/* Reads and checks an action's idempotency_key into a. */
static int read_idem(json_t *v, struct bulk_action *a, struct bulk_error *err)
{
    const char *key;
    size_t len;
    char why[160];
    if (!json_is_string(v))
        return fail(err, MALFORMED,
                    "Malformed action/metadata line [%zu], [" IDEM_BULK "] must be a string",
                    a->line);
    if (idem_key_check(json_string_value(v), json_string_length(v), &key, &len, why,
                       sizeof why) != 0)
        return fail(err, MALFORMED, "Malformed action/metadata line [%zu], [" IDEM_BULK "]: %s",
                    a->line, why);
    memcpy(a->idem_key, key, len);
    a->idem_key[len] = '\0';
    a->idem_len = len;
    return 0;
}

/* Reads _index, _id and idempotency_key of an action's metadata object into a. */
static int read_meta(json_t *meta, struct bulk_action *a, struct bulk_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(meta, key, v)
    {
        if (strcmp(key, "_index") == 0) {
            const char *s = json_string_value(v);
            if (!s || json_string_length(v) > BULK_MAX_INDEX)
                return fail(err, MALFORMED,
                            "Malformed action/metadata line [%zu], [_index] must be a string of "
                            "at most %d bytes",
                            a->line, BULK_MAX_INDEX);
            memcpy(a->index, s, json_string_length(v) + 1);
        } else if (strcmp(key, "_id") == 0) {
            if (json_is_string(v))
                snprintf(a->id, sizeof a->id, "%s", json_string_value(v));
            else if (json_is_integer(v))
                snprintf(a->id, sizeof a->id, "%lld", (long long)json_integer_value(v));
            else
                return fail(err, MALFORMED,
                            "Malformed action/metadata line [%zu], [_id] must be a string",
                            a->line);
            a->has_id = 1;
        } else if (strcmp(key, IDEM_BULK) == 0) {
            if (read_idem(v, a, err) != 0) return GK_EINVAL;
        } else if (!is_ignored(key)) {
            char q[64];
            quote_text(q, sizeof q, key, strlen(key));
            return fail(err, MALFORMED,
                        "Action/metadata line [%zu] contains an unknown parameter [%s]", a->line,
                        q);
        }
    }
    return 0;
}

/* Parses one action line (line[0..n), no line end) into a. */
static int parse_action(const char *line, size_t n, struct bulk_action *a, struct bulk_error *err)
{
    json_error_t je;
    if (n > BULK_MAX_LINE)
        return fail(err, MALFORMED, "Malformed action/metadata line [%zu], longer than %u bytes",
                    a->line, BULK_MAX_LINE);
    json_t *j = json_loadb(line, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!j)
        return fail(err, MALFORMED, "Malformed action/metadata line [%zu]: %s", a->line, je.text);
    int rc = 0;
    const char *key = NULL;
    json_t *meta = NULL;
    if (!json_is_object(j) || json_object_size(j) != 1) {
        const char *want = !json_is_object(j)    ? "START_OBJECT"
                           : json_object_size(j) ? "END_OBJECT"
                                                 : "FIELD_NAME";
        const char *found = !json_is_object(j)    ? json_kind(j)
                            : json_object_size(j) ? "FIELD_NAME"
                                                  : "END_OBJECT";
        rc =
            fail(err, MALFORMED, "Malformed action/metadata line [%zu], expected %s but found [%s]",
                 a->line, want, found);
        goto out;
    }
    json_object_foreach(j, key, meta) break;
    size_t op = 0;
    while (op < 4 && strcmp(key, op_names[op]) != 0)
        op++;
    char q[64];
    quote_text(q, sizeof q, key, strlen(key));
    if (op == 4) {
        rc = fail(err, MALFORMED,
                  "Malformed action/metadata line [%zu], expected field [create], [delete], "
                  "[index] or [update] but found [%s]",
                  a->line, q);
    } else if (!json_is_object(meta)) {
        rc = fail(err, MALFORMED,
                  "Malformed action/metadata line [%zu], expected START_OBJECT but found [%s]",
                  a->line, json_kind(meta));
    } else {
        a->op = (enum bulk_op)op;
        rc = read_meta(meta, a, err);
    }
out:
    json_decref(j);
    return rc;
}

/* The next line of body from *pos: [*s, *s + *n) without "\n" or "\r\n";
 * 0 at the end of the body. */
static int next_line(const char *body, size_t len, size_t *pos, const char **s, size_t *n)
{
    if (*pos >= len) return 0;
    const char *p = body + *pos;
    const char *nl = memchr(p, '\n', len - *pos);
    size_t l = nl ? (size_t)(nl - p) : len - *pos;
    *pos += l + (nl ? 1 : 0);
    if (l > 0 && p[l - 1] == '\r') l--;
    *s = p;
    *n = l;
    return 1;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return 0;
    return 1;
}

/* Reads the action starting at the line [s, s+n) and, unless it is a
 * delete, its source line. */
static int read_pair(const char *body, size_t len, size_t *pos, size_t *lineno, const char *s,
                     size_t n, const char *default_index, struct bulk_action *a,
                     struct bulk_error *err)
{
    memset(a, 0, sizeof *a);
    a->line = *lineno;
    if (default_index) {
        size_t il = strnlen(default_index, sizeof a->index - 1);
        memcpy(a->index, default_index, il);
        a->index[il] = '\0';
    }
    if (parse_action(s, n, a, err) != 0) return GK_EINVAL;
    if (!a->index[0])
        return fail(err, "action_request_validation_exception",
                    "Validation Failed: 1: index is missing (action/metadata line [%zu]);",
                    a->line);
    if (a->op == BULK_DELETE) return 0;
    if (!next_line(body, len, pos, &a->source, &a->source_len))
        return fail(err, MALFORMED,
                    "Malformed action/metadata line [%zu], expected a source line after it",
                    a->line);
    ++*lineno;
    return 0;
}

int bulk_parse(const char *body, size_t len, const char *default_index, struct bulk_action **out,
               size_t *n, struct bulk_error *err)
{
    struct bulk_action *v = NULL;
    size_t cap = 0, count = 0, pos = 0, lineno = 0;
    const char *s;
    size_t l;
    *out = NULL;
    *n = 0;
    while (next_line(body, len, &pos, &s, &l)) {
        lineno++;
        if (blank(s, l)) continue;
        if (count == BULK_MAX_ACTIONS) {
            free(v);
            return fail(err, MALFORMED,
                        "too many actions: a _bulk request holds at most %d (line [%zu] is one "
                        "more); send the rest in another request",
                        BULK_MAX_ACTIONS, lineno);
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof *v);
        }
        if (read_pair(body, len, &pos, &lineno, s, l, default_index, &v[count], err) != 0) {
            free(v);
            return GK_EINVAL;
        }
        count++;
    }
    if (count == 0) {
        free(v);
        return fail(err, "action_request_validation_exception",
                    "Validation Failed: 1: no requests added;");
    }
    *out = v;
    *n = count;
    return 0;
}

/* ---- reply items ---- */

static void item_open(struct buf *out, const struct bulk_action *a)
{
    buf_puts(out, "{\"");
    buf_puts(out, op_names[a->op]);
    buf_puts(out, "\":{\"_index\":");
    buf_json_str(out, a->index, strlen(a->index));
    buf_puts(out, ",\"_id\":");
}

void bulk_item_created(struct buf *out, const struct bulk_action *a, const char *id, int64_t seq_no)
{
    item_open(out, a);
    buf_json_str(out, id, strlen(id));
    /* one per item of a load: no printf */
    buf_puts(out, ",\"_version\":1,\"result\":\"created\","
                  "\"_shards\":{\"total\":1,\"successful\":1,\"failed\":0},\"_seq_no\":");
    buf_put_i64(out, seq_no);
    buf_puts(out, ",\"_primary_term\":1,\"status\":201}}");
}

void bulk_item_noop(struct buf *out, const struct bulk_action *a)
{
    item_open(out, a);
    buf_puts(out, "null,\"_version\":-1,\"result\":\"noop\","
                  "\"_shards\":{\"total\":0,\"successful\":0,\"failed\":0},\"status\":200}}");
}

void bulk_item_error(struct buf *out, const struct bulk_action *a, int status, const char *type,
                     const char *reason, const char *field)
{
    item_open(out, a);
    if (a->has_id)
        buf_json_str(out, a->id, strlen(a->id));
    else
        buf_puts(out, "null");
    buf_printf(out, ",\"status\":%d,\"error\":{\"type\":", status);
    buf_json_str(out, type, strlen(type));
    buf_puts(out, ",\"reason\":");
    buf_json_str(out, reason, strlen(reason));
    if (field && field[0]) {
        buf_puts(out, ",\"field\":");
        buf_json_str(out, field, strlen(field));
    }
    buf_puts(out, "}}}");
}

void bulk_error_reply(struct buf *out, int status, const char *type, const char *reason,
                      const char *field)
{
    struct buf cause = {0};
    buf_puts(&cause, "\"type\":");
    buf_json_str(&cause, type, strlen(type));
    buf_puts(&cause, ",\"reason\":");
    buf_json_str(&cause, reason, strlen(reason));
    buf_puts(out, "{\"error\":{\"root_cause\":[{");
    buf_append(out, cause.data, cause.len);
    buf_puts(out, "}],");
    buf_append(out, cause.data, cause.len);
    if (field && field[0]) {
        buf_puts(out, ",\"field\":");
        buf_json_str(out, field, strlen(field));
    }
    buf_printf(out, "},\"status\":%d}", status);
    buf_free(&cause);
}
