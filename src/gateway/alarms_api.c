/* alarms_api.c: the /alarms endpoints (alarms_api.h).
 *
 * GET /alarms: key, query string -> filter, principal -> scope, then
 * history_list(); the JSON comes back from the query pool. POST
 * /alarms/{id}/ack: key, id, scope, then history_ack(); 200, 404 or 409
 * once the history's writer has committed it. Nothing here touches the
 * database; the request waits for its callback. */
#include "gateway/alarms_api.h"

#include "core/clock.h"
#include "core/datetime.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/url.h"
#include "gateway/apikey.h"
#include "gateway/gateway_int.h"
#include "gateway/web.h"
#include "http/http.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON "application/json"

/* ---- the query string ---- */

static int set_active(struct history_filter *f, const char *v)
{
    if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) return -1;
    f->active = v[0] == 't';
    return 0;
}

static int set_group(struct history_filter *f, const char *v)
{
    memcpy(f->group, v, strlen(v) + 1); /* fits: decoded into a buffer of that size */
    return 0;
}

/* Reads a decimal integer of at most 15 digits (no sign), so no overflow. */
static int decimal(const char *v, int64_t *out)
{
    size_t n = strspn(v, "0123456789");
    if (n == 0 || n > 15 || v[n]) return -1;
    *out = strtoll(v, NULL, 10);
    return 0;
}

/* ISO 8601 through datetime's parser, in UTC, with two rules of GET
 * /alarms: a time of day needs a zone (Z or an offset), and a '+' of the
 * offset may arrive decoded as a space. */
static int parse_iso(const char *v, int64_t *ms)
{
    char text[64];
    size_t n = strlen(v);
    const char *t = strpbrk(v, "Tt"), *sp = strchr(v, ' ');
    if (n >= sizeof text || v[0] < '0' || v[0] > '9' || (sp && sp - v == 10))
        return -1; /* a space after the date is the "YYYY-MM-DD HH:MM" form, not ISO */
    memcpy(text, v, n + 1);
    for (char *p = text; *p; p++)
        if (*p == ' ') *p = '+';
    if (t && !strpbrk(t, "Zz+- ")) return -1;
    if (!t && n != 10) return -1; /* a date alone is YYYY-MM-DD */
    return dt_parse(text, n, tz_utc(), ms, NULL, 0) == 0 ? 0 : -1;
}

static int set_since(struct history_filter *f, const char *v)
{
    int64_t ms;
    if (decimal(v, &ms) != 0 && (parse_iso(v, &ms) != 0 || ms < 0)) return -1;
    f->since_ms = ms;
    return 0;
}

static int set_limit(struct history_filter *f, const char *v)
{
    int64_t n;
    if (decimal(v, &n) != 0 || n < 1 || n > HISTORY_LIMIT_MAX) return -1;
    f->limit = (int)n;
    return 0;
}

static const struct {
    const char *name;
    int (*set)(struct history_filter *f, const char *v);
    const char *expects;
} params[] = {
    {"active", set_active, "must be true or false"},
    {"group", set_group, "must be a group id"},
    {"since", set_since, "must be epoch milliseconds or ISO 8601 (2026-11-26T08:00:00Z)"},
    {"limit", set_limit, "must be 1..1000"},
};
#define NPARAMS (sizeof params / sizeof params[0])

/* Writes the parameter name s[0..n) for an error message: at most 32
 * bytes, anything but printable ASCII as '?'. */
static void name_for_error(const char *s, size_t n, char out[33])
{
    size_t i;
    for (i = 0; i < n && i < 32; i++)
        out[i] = s[i] > ' ' && s[i] < 0x7f ? s[i] : '?';
    out[i] = '\0';
}

/* Applies one "name=value" of length n; *seen has a bit per parameter set. */
static int apply_param(const char *s, size_t n, struct history_filter *f, unsigned *seen, char *err,
                       size_t errlen)
{
    const char *eq = memchr(s, '=', n);
    size_t klen = eq ? (size_t)(eq - s) : n, i = 0;
    char value[HISTORY_GROUP_MAX], name[33];
    int dec = eq ? url_decode(eq + 1, n - klen - 1, value, sizeof value) : 0;
    while (i < NPARAMS && (strlen(params[i].name) != klen || memcmp(params[i].name, s, klen)))
        i++;
    const char *reason = NULL;
    if (i == NPARAMS)
        reason = "unknown parameter";
    else if (*seen & (1u << i))
        reason = "given twice";
    else if (!eq || klen + 1 == n)
        reason = "needs a value";
    else if (dec < 0)
        reason = dec == -1 ? "bad percent-encoding" : "too long";
    else if (params[i].set(f, value) != 0)
        reason = params[i].expects;
    if (!reason) {
        *seen |= 1u << i;
        return 0;
    }
    name_for_error(s, klen, name);
    snprintf(err, errlen, "%s: %s", name, reason);
    return GK_EINVAL;
}

int alarms_filter_parse(const char *query, struct history_filter *f, char *err, size_t errlen)
{
    unsigned seen = 0;
    memset(f, 0, sizeof *f);
    for (const char *p = query ? query : ""; *p;) {
        size_t n = strcspn(p, "&");
        if (n > 0) {
            int rc = apply_param(p, n, f, &seen, err, errlen);
            if (rc != 0) return rc;
        }
        p += n + (p[n] == '&');
    }
    return 0;
}

/* ---- scope ---- */

/* The routes of a principal, split from its comma-separated list (spaces
 * around items dropped); NULL routes (every route) for an admin or a
 * principal without a list. Free with scope_free(). */
struct scope {
    char *copy;
    const char **routes;
    size_t n;
};

static void scope_of(const struct principal *p, struct scope *s)
{
    memset(s, 0, sizeof *s);
    if (p->admin || p->read_all || !p->routes) return;
    s->copy = xstrdup(p->routes);
    s->routes = xcalloc(strlen(s->copy) / 2 + 2, sizeof *s->routes);
    for (char *item = strtok(s->copy, ","); item; item = strtok(NULL, ",")) {
        item += strspn(item, " \t");
        size_t len = strlen(item);
        while (len > 0 && (item[len - 1] == ' ' || item[len - 1] == '\t'))
            item[--len] = '\0';
        if (len) s->routes[s->n++] = item;
    }
}

static void scope_free(struct scope *s)
{
    free(s->copy);
    free(s->routes);
}

static struct history_scope history_scope_of(const struct scope *s)
{
    return (struct history_scope){.routes = s->copy ? s->routes : NULL, .nroutes = s->n};
}

/* ---- the endpoints ---- */

static void on_list(void *ud, int status, const struct buf *body, int gzipped)
{
    struct http_req *req = ud;
    if (status != 0) return gateway_reply_message(req, 503, NULL, "Alarm history unavailable");
    http_respond(req, 200,
                 gzipped ? "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n"
                         : "Vary: Accept-Encoding\r\n",
                 JSON, body->data, body->len);
}

static void list_alarms(struct gateway *g, struct http_req *req, const struct principal *who)
{
    struct history_filter f;
    struct scope s;
    char err[160];
    if (alarms_filter_parse(http_req_query(req), &f, err, sizeof err) != 0)
        return gateway_reply_message(req, 400, NULL, err);
    scope_of(who, &s);
    f.scope = history_scope_of(&s);
    f.gzip = web_accepts_gzip(http_req_header(req, "accept-encoding"));
    history_list(g->history, &f, on_list, req); /* copies the scope */
    scope_free(&s);
}

struct ack {
    struct http_req *req;
    long long id;
};

static void on_ack(void *ud, int status)
{
    struct ack *a = ud;
    struct http_req *req = a->req;
    long long id = a->id;
    free(a);
    if (status == GK_ENOTFOUND) return gateway_reply_message(req, 404, NULL, "No such alarm");
    if (status == GK_EEXIST) return gateway_reply_message(req, 409, NULL, "Already acknowledged");
    if (status != 0) return gateway_reply_message(req, 503, NULL, "Alarm history unavailable");
    char body[96];
    int n = snprintf(body, sizeof body, "{\"id\":%lld,\"acknowledged\":true}", id);
    http_respond(req, 200, NULL, JSON, body, (size_t)n);
}

static void ack_alarm(struct gateway *g, struct http_req *req, const char *id_text,
                      const struct principal *who)
{
    if (who->read_all && !who->ack_all) /* a dashboard viewer */
        return gateway_reply_message(req, 403, NULL, "Forbidden: a viewer does not acknowledge");
    char *end;
    long long id = strtoll(id_text, &end, 10);
    if (end == id_text || strcmp(end, "/ack") != 0 || id <= 0 || id_text[0] == '-' ||
        id_text[0] == '+')
        return gateway_reply_message(req, 404, NULL, "Not Found");
    struct scope s;
    struct ack *a = xmalloc(sizeof *a);
    a->req = req;
    a->id = id;
    scope_of(who, &s);
    struct history_scope hs = history_scope_of(&s);
    history_ack(g->history, id, &hs, who->name, clock_now_ms(), on_ack, a);
    scope_free(&s);
}

int alarms_api_handle(struct gateway *g, struct http_req *req, const char *path)
{
    int list = strcmp(path, "/alarms") == 0, ack = strncmp(path, "/alarms/", 8) == 0;
    if (!g->history || (!list && !ack)) return 0;
    const struct gateway_access a = {.need = GATEWAY_NEED_KEY};
    int m = http_req_method(req);
    const struct principal *who = gateway_authorize(g, req, http_req_header(req, "x-api-key"), &a);
    if (!who)
        return 1; /* answered */
    if (list && (m == HTTP_GET || m == HTTP_HEAD))
        list_alarms(g, req, who);
    else if (ack && m == HTTP_POST)
        ack_alarm(g, req, path + 8, who);
    else
        gateway_reply_message(req, 405, list ? "Allow: GET\r\n" : "Allow: POST\r\n",
                              "Method Not Allowed");
    return 1;
}
