/* search.c: the OpenSearch-compatible read endpoints and the dispatch of
 * all of them (see search.h).
 *
 * A read request goes: path -> method -> API key -> query parameters ->
 * query_parse (loop thread) -> store_read: query_exec and the JSON text on
 * a worker -> the answer on the loop thread. */
#include "gateway/search.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/gzip.h"
#include "core/json.h"
#include "core/map.h"
#include "core/mem.h"
#include "core/url.h"
#include "core/version.h"
#include "gateway/apikey.h"
#include "gateway/bulk.h"
#include "gateway/gateway_int.h"
#include "gateway/web.h"
#include "http/http.h"
#include "store/query.h"
#include "store/store.h"

#include <http_parser.h>
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define JSON "application/json"

/* ---- errors ---- */

int search_status_of(int gk)
{
    switch (gk) {
    case 0:
        return 200;
    case GK_EINVAL:
    case GK_ELIMIT:
        return 400;
    case GK_ENOTFOUND:
        return 404;
    case GK_ECLOSED:
        return 503;
    case GK_ETIMEDOUT:
        return 504;
    default:
        return 500;
    }
}

void search_error(struct http_req *req, int status, const char *type, const char *reason,
                  const char *field)
{
    struct buf b = {0};
    bulk_error_reply(&b, status, type, reason, field);
    http_respond(req, status, NULL, JSON, b.data, b.len);
    buf_free(&b);
}

static void reply_not_allowed(struct http_req *req, const char *allow)
{
    char hdr[96], msg[160];
    snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
    snprintf(msg, sizeof msg, "Incorrect HTTP method for uri [%s] and method [%s], allowed: [%s]",
             http_req_path(req), http_req_method_str(req), allow);
    struct buf b = {0};
    buf_puts(&b, "{\"error\":");
    buf_json_str(&b, msg, strlen(msg));
    buf_puts(&b, ",\"status\":405}");
    http_respond(req, 405, hdr, JSON, b.data, b.len);
    buf_free(&b);
}

/* ---- query parameters ---- */

static int known_name(const char *const *known, const char *name)
{
    for (; *known; known++)
        if (strcmp(*known, name) == 0) return 1;
    return 0;
}

/* Adds the parameter s[0..n) to p; a reason in err when it is refused. */
static int param_add(struct search_params *p, const char *s, size_t n, const char *const *known,
                     const char *path, char *err, size_t errlen)
{
    const char *eq = memchr(s, '=', n);
    size_t nl = eq ? (size_t)(eq - s) : n;
    char *name = url_decode_dup(s, nl);
    char *value = eq ? url_decode_dup(eq + 1, n - nl - 1) : xstrdup("");
    int rc = 0;
    if (!name || !value)
        rc = gk_errf(err, errlen, GK_EINVAL, "bad percent-encoding in the query string");
    else if (!known_name(known, name))
        rc = gk_errf(err, errlen, GK_EINVAL,
                     "request [%s] contains unrecognized parameter: [%.64s]", path, name);
    else if (p->n == SEARCH_MAX_PARAMS)
        rc = gk_errf(err, errlen, GK_EINVAL, "too many query parameters");
    if (rc != 0) {
        free(name);
        free(value);
        return rc;
    }
    p->name[p->n] = name;
    p->value[p->n++] = value;
    return 0;
}

int search_params_parse(struct http_req *req, const char *const *known, struct search_params *p)
{
    const char *q = http_req_query(req);
    char err[256];
    memset(p, 0, sizeof *p);
    while (*q) {
        size_t n = strcspn(q, "&");
        if (n > 0 && param_add(p, q, n, known, http_req_path(req), err, sizeof err) != 0) {
            search_params_free(p);
            search_error(req, 400, "illegal_argument_exception", err, NULL);
            return GK_EINVAL;
        }
        q += n + (q[n] == '&');
    }
    return 0;
}

const char *search_param(const struct search_params *p, const char *name)
{
    for (size_t i = p->n; i-- > 0;) /* the last one wins */
        if (strcmp(p->name[i], name) == 0) return p->value[i];
    return NULL;
}

void search_params_free(struct search_params *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->name[i]), free(p->value[i]);
    p->n = 0;
}

void search_env(const struct gateway *g, struct query_env *env)
{
    *env = (struct query_env){.zone = g->zone,
                              .now_ms = clock_now_ms(),
                              .max_aggs = g->search_max_aggs,
                              .max_buckets = g->search_max_buckets,
                              .max_memory = g->search_max_memory,
                              .max_timeout_ms = g->search_max_timeout};
}

int search_deadline(const struct gateway *g, struct http_req *req, const struct search_params *p,
                    uint64_t *deadline)
{
    const char *t = search_param(p, "timeout");
    int64_t ms = g->search_max_timeout;
    if (t && (config_parse_duration(t, &ms) != 0 || ms <= 0)) {
        char reason[160];
        snprintf(reason, sizeof reason,
                 "failed to parse setting [timeout] with value [%.64s] as a time value", t);
        search_error(req, 400, "illegal_argument_exception", reason, NULL);
        return GK_EINVAL;
    }
    if (ms > g->search_max_timeout)
        ms = g->search_max_timeout; /* capped, not refused */
    *deadline = clock_mono_ms() + (uint64_t)ms;
    return 0;
}

const char *search_dsl(struct http_req *req, const struct search_params *p, size_t *len)
{
    const char *src = search_param(p, "source");
    if (src) {
        *len = strlen(src);
        return src;
    }
    const char *body = http_req_body(req, len);
    return *len ? body : NULL;
}

/* ---- API keys ---- */

/* The password of "Authorization: Basic base64(user:password)" into out. */
static const char *basic_password(const char *auth, char *out, size_t outlen)
{
    if (!auth || strncasecmp(auth, "Basic ", 6) != 0) return NULL;
    const char *b64 = auth + 6;
    while (*b64 == ' ')
        b64++;
    size_t n = strlen(b64);
    while (n > 0 && b64[n - 1] == ' ')
        n--;
    if (n == 0 || n % 4 != 0 || n / 4 * 3 >= outlen) return NULL;
    int got = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)b64, (int)n);
    if (got < 0) return NULL;
    got -= (b64[n - 1] == '=') + (b64[n - 2] == '=');
    out[got] = '\0';
    if (strlen(out) != (size_t)got) return NULL;
    char *colon = strchr(out, ':');
    return colon ? colon + 1 : NULL;
}

const char *search_request_key(const struct http_req *req, char *buf, size_t len)
{
    const char *key = http_req_header(req, "x-api-key"), *auth;
    if (key || !(auth = http_req_header(req, "authorization")))
        return key;
    key = basic_password(auth, buf, len);
    return key ? key : ""; /* a credential, if one that names no key */
}

const struct principal *search_authorize(struct gateway *g, struct http_req *req,
                                         const struct gateway_access *a)
{
    char decoded[512];
    return gateway_authorize(g, req, search_request_key(req, decoded, sizeof decoded), a);
}

/* ---- jobs on the worker pool ---- */

enum job_kind { J_QUERY, J_DOC, J_CAT, J_INDEX };

struct job {
    struct http_req *req;
    enum job_kind kind;
    struct query *q;  /* J_QUERY */
    char *index, *id; /* J_DOC; index also J_INDEX */
    int head;         /* J_INDEX: HEAD, no body */
    int verbose, json, pretty;
    char *readable; /* J_CAT: the indexes listed (comma-separated), or NULL: all */
    int status;     /* set by the worker: 0 or a GK_E* code of query.h */
    struct buf out;
    const char *type; /* Content-Type of out */
    int gzip;         /* the client takes gzip; the worker sets gzipped when out is */
    int gzipped;
};

/* A reply at least this long is sent gzipped to a client that takes it
 * (a terms + top_hits of 200 groups: ~270 KB of JSON, ~25 KB gzipped). */
#define SEARCH_GZIP_MIN 1024

/* On the query pool: out becomes its gzip (level 1: a 4 MB reply in a few
 * ms) when the client takes gzip and it is long enough to gain. */
static void job_gzip(struct job *j)
{
    j->gzipped = j->gzip && gzip_replace(&j->out, SEARCH_GZIP_MIN);
}

static void job_dump(struct job *j, json_t *reply)
{
    char *text = query_dump(reply, j->pretty ? JSON_INDENT(2) : JSON_COMPACT);
    buf_puts(&j->out, text);
    if (j->pretty) buf_putc(&j->out, '\n');
    free(text);
    json_decref(reply);
}

/* _cat/indices text (verbose, with its header) as JSON: an array of
 * objects of strings, as OpenSearch's ?format=json. */
static json_t *cat_to_json(const char *text)
{
    json_t *rows = json_array();
    char *copy = xstrdup(text), *save = NULL, *names[16];
    size_t nnames = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *s2 = NULL, *tok[16];
        size_t n = 0;
        for (char *t = strtok_r(line, " \t", &s2); t && n < 16; t = strtok_r(NULL, " \t", &s2))
            tok[n++] = t;
        if (nnames == 0) {
            memcpy(names, tok, n * sizeof *tok);
            nnames = n;
            continue;
        }
        json_t *o = json_object();
        for (size_t i = 0; i < n && i < nnames; i++)
            json_object_set_new(o, names[i], json_string(tok[i]));
        json_array_append_new(rows, o);
    }
    free(copy);
    return rows;
}

/* On the worker: j->readable was filled on the loop thread and is not changed. */
static int cat_keep(void *ud, const char *index)
{
    const struct job *j = ud;
    return config_list_has(j->readable, index);
}

static void job_cat(struct job *j, sqlite3 *db)
{
    char *text = NULL;
    size_t len = 0;
    j->status =
        query_cat_indices(db, j->verbose || j->json, j->readable ? cat_keep : NULL, j, &text, &len);
    if (j->status == 0 && j->json) {
        job_dump(j, cat_to_json(text ? text : ""));
    } else if (j->status == 0) {
        buf_append(&j->out, text ? text : "", len);
        j->type = "text/plain; charset=UTF-8";
    } else {
        bulk_error_reply(&j->out, search_status_of(j->status), "exception",
                         "cannot list the indices", NULL);
    }
    free(text);
    job_gzip(j);
}

static void job_run(sqlite3 *db, void *arg)
{
    struct job *j = arg;
    json_t *reply = NULL;
    switch (j->kind) {
    case J_QUERY:
        j->status = query_exec(j->q, db, &reply);
        break;
    case J_DOC:
        j->status = query_get_doc(db, j->index, j->id, &reply);
        break;
    case J_CAT:
        return job_cat(j, db);
    case J_INDEX:
        j->status = query_index_info(db, j->index, &reply);
        if (j->head) {
            json_decref(reply);
            return; /* HEAD: the status is the answer */
        }
        break;
    }
    if (reply)
        job_dump(j, reply);
    else
        bulk_error_reply(&j->out, search_status_of(j->status), "exception", "the query failed",
                         NULL);
    job_gzip(j);
}

static void job_free(struct job *j)
{
    if (j->q) query_free(j->q);
    free(j->index);
    free(j->id);
    free(j->readable);
    buf_free(&j->out);
    free(j);
}

static void job_done(void *arg, int status)
{
    struct job *j = arg;
    if (status != 0) /* store_read() could not run the job: the store is closing */
        search_error(j->req, search_status_of(GK_ECLOSED), "unavailable_shards_exception",
                     "the store is not available", NULL);
    else
        http_respond(j->req, search_status_of(j->status),
                     j->gzipped ? "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n"
                                : "Vary: Accept-Encoding\r\n",
                     j->type, j->out.data, j->out.len);
    job_free(j);
}

static struct job *job_new(struct http_req *req, enum job_kind kind, const struct search_params *p)
{
    struct job *j = xcalloc(1, sizeof *j);
    j->req = req;
    j->kind = kind;
    j->type = JSON;
    const char *pretty = search_param(p, "pretty");
    j->pretty = pretty && strcmp(pretty, "false") != 0;
    j->gzip = web_accepts_gzip(http_req_header(req, "accept-encoding"));
    return j;
}

/* ---- _search and _count ---- */

static const char *const search_known[] = {"source",
                                           "source_content_type",
                                           "size",
                                           "from",
                                           "timeout",
                                           "pretty",
                                           "q",
                                           "track_total_hits",
                                           "error_trace",
                                           "human",
                                           "filter_path",
                                           "typed_keys",
                                           "rest_total_hits_as_int",
                                           "allow_no_indices",
                                           "ignore_unavailable",
                                           "expand_wildcards",
                                           "request_cache",
                                           "search_type",
                                           "preference",
                                           "routing",
                                           "allow_partial_search_results",
                                           "batched_reduce_size",
                                           "ccs_minimize_roundtrips",
                                           "max_concurrent_shard_requests",
                                           "pre_filter_shard_size",
                                           "scroll",
                                           NULL};

/* Parameters OpenSearch knows that would change the answer's meaning. */
static const char *const search_refused[] = {
    "q", "filter_path", "typed_keys", "rest_total_hits_as_int", "scroll", NULL};

static int refuse_params(struct http_req *req, const struct search_params *p)
{
    for (const char *const *r = search_refused; *r; r++) {
        if (!search_param(p, *r)) continue;
        char reason[160];
        snprintf(reason, sizeof reason, "the parameter [%s] is not supported by gasket%s", *r,
                 strcmp(*r, "q") == 0 ? "; send a query DSL body (or ?source=)" : "");
        search_error(req, 400, "illegal_argument_exception", reason, NULL);
        return GK_EINVAL;
    }
    const char *ct = search_param(p, "source_content_type");
    if (ct && strncmp(ct, "application/json", 16) != 0) {
        search_error(req, 400, "illegal_argument_exception",
                     "source_content_type must be application/json", NULL);
        return GK_EINVAL;
    }
    return 0;
}

/* Sets an integer URL parameter (size, from) over the body's member. */
static int override_int(struct http_req *req, json_t *dsl, const struct search_params *p,
                        const char *name)
{
    const char *v = search_param(p, name);
    if (!v) return 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || n < 0 || n > INT32_MAX) {
        char reason[160];
        snprintf(reason, sizeof reason, "Failed to parse int parameter [%s] with value [%.32s]",
                 name, v);
        search_error(req, 400, "illegal_argument_exception", reason, NULL);
        return GK_EINVAL;
    }
    json_object_set_new(dsl, name, json_integer(n));
    return 0;
}

/* The DSL text with the URL's size, from and track_total_hits applied;
 * *owned is set when the text had to be rewritten. */
static int dsl_with_params(struct http_req *req, const struct search_params *p, const char **text,
                           size_t *len, char **owned)
{
    const char *tth = search_param(p, "track_total_hits");
    *owned = NULL;
    if (!search_param(p, "size") && !search_param(p, "from") && !tth) return 0;
    json_t *dsl = *len ? json_loadb(*text, *len, 0, NULL) : json_object();
    if (!json_is_object(dsl)) { /* query_parse will name the problem */
        json_decref(dsl);
        return 0;
    }
    int rc = override_int(req, dsl, p, "size");
    if (rc == 0) rc = override_int(req, dsl, p, "from");
    if (rc == 0 && tth) {
        char *end;
        long long n = strtoll(tth, &end, 10);
        json_object_set_new(dsl, "track_total_hits",
                            *tth && !*end ? json_integer(n) : json_boolean(strcmp(tth, "false")));
    }
    if (rc == 0) {
        *owned = json_text(dsl, 0);
        *text = *owned;
        *len = strlen(*owned);
    }
    json_decref(dsl);
    return rc;
}

/* Parses the request's query on the loop thread and queues it. */
static void run_query(struct gateway *g, struct http_req *req, const char *index,
                      enum query_kind kind)
{
    struct search_params p;
    if (search_params_parse(req, search_known, &p) != 0) return;
    struct query_env env;
    search_env(g, &env);
    size_t len;
    const char *text = search_dsl(req, &p, &len);
    char *owned = NULL;
    json_t *err = NULL;
    struct query *q = NULL;
    if (refuse_params(req, &p) != 0 || search_deadline(g, req, &p, &env.deadline_mono) != 0 ||
        dsl_with_params(req, &p, &text, &len, &owned) != 0)
        goto out;
    int st = query_parse(&q, kind, index, text, len, &env, &err);
    if (st != 0) {
        char *body = json_text(err, 0);
        http_respond(req, search_status_of(st), NULL, JSON, body, strlen(body));
        free(body);
        json_decref(err);
        goto out;
    }
    struct job *j = job_new(req, J_QUERY, &p);
    j->q = q;
    store_read(g->store, job_run, job_done, j);
out:
    free(owned);
    search_params_free(&p);
}

void search_route_get(struct gateway *g, struct http_req *req, const struct route *rt)
{
    struct gateway_access a = {.need = GATEWAY_NEED_READ};
    snprintf(a.index, sizeof a.index, "%s", rt->index);
    if (search_authorize(g, req, &a)) run_query(g, req, rt->index, QUERY_SEARCH);
}

/* ---- _doc and _cat ---- */

static const char *const plain_known[] = {"pretty",   "error_trace", "human",   "refresh",
                                          "realtime", "preference",  "routing", NULL};

static void get_doc(struct gateway *g, struct http_req *req, const char *index, const char *id)
{
    struct search_params p;
    if (search_params_parse(req, plain_known, &p) != 0) return;
    struct job *j = job_new(req, J_DOC, &p);
    j->index = xstrdup(index);
    j->id = xstrdup(id);
    search_params_free(&p);
    store_read(g->store, job_run, job_done, j);
}

/* The indexes p may read, comma-separated (its `read` list, or the indexes
 * of its routes); NULL for an admin (every index). */
static char *readable_indexes(const struct gateway *g, const struct principal *p)
{
    if (p->admin || p->read_all) return NULL;
    if (p->read) return xstrdup(p->read);
    struct buf b = {0};
    buf_puts(&b, "");
    for (size_t i = 0; i < g->nroutes; i++)
        if (gateway_may_read(g, p, g->routes[i].index))
            buf_printf(&b, "%s%s", b.len ? "," : "", g->routes[i].index);
    return buf_steal(&b);
}

static void cat_indices(struct gateway *g, struct http_req *req, const struct principal *who)
{
    static const char *const known[] = {"v", "format", "pretty", "error_trace", "human", NULL};
    struct search_params p;
    if (search_params_parse(req, known, &p) != 0) return;
    const char *format = search_param(&p, "format");
    if (format && strcmp(format, "json") != 0 && strcmp(format, "txt") != 0 &&
        strcmp(format, "text") != 0) {
        search_params_free(&p);
        return search_error(req, 400, "illegal_argument_exception", "format must be json or txt",
                            NULL);
    }
    struct job *j = job_new(req, J_CAT, &p);
    j->readable = readable_indexes(g, who);
    const char *v = search_param(&p, "v");
    j->verbose = v && strcmp(v, "false") != 0;
    j->json = format && strcmp(format, "json") == 0;
    search_params_free(&p);
    store_read(g->store, job_run, job_done, j);
}

/* ---- GET / ---- */

/* A stable id of this node (from the host name), in OpenSearch's style. */
static void cluster_uuid(const char *host, char out[23])
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t h = map_fnv64(MAP_FNV64_OFFSET, host, strlen(host));
    for (int i = 0; i < 22; i++) {
        out[i] = digits[h & 63];
        h = h * 6364136223846793005ull + 1442695040888963407ull;
    }
    out[22] = '\0';
}

/* GET / answers browsers the dashboard instead (web.c): caches keep both. */
#define ROOT_VARY "Vary: Accept\r\n"

static void root_info(struct http_req *req)
{
    char host[256] = "gasket", uuid[23];
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    cluster_uuid(host, uuid);
    json_t *v =
        json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:s,s:s}", "distribution", "opensearch", "number",
                  "2.11.0", "build_type", "gasket", "build_hash", "gasket-" GASKET_VERSION,
                  "build_snapshot", 0, "build_date", "2023-10-13T00:00:00.000000Z",
                  "lucene_version", "9.7.0", "minimum_wire_compatibility_version", "7.10.0",
                  "minimum_index_compatibility_version", "7.0.0");
    json_t *r = json_pack("{s:s,s:s,s:s,s:o,s:s,s:s}", "name", host, "cluster_name", "gasket",
                          "cluster_uuid", uuid, "version", v, "tagline",
                          "The OpenSearch Project: https://opensearch.org/", "gasket_version",
                          GASKET_VERSION);
    char *text = json_text(r, JSON_WRITE_INDENT(2));
    http_respond(req, 200, ROOT_VARY, JSON, text, strlen(text));
    free(text);
    json_decref(r);
}

/* ---- dispatch ---- */

/* A path split into its segments, each percent-decoded, into small (or,
 * for a long path, heap). */
#define MAX_SEGS 4
struct segs {
    size_t n;
    char *s[MAX_SEGS];
    char *heap;
    char small[256];
};

static int split_path(const char *path, struct segs *sg)
{
    sg->n = 0;
    sg->heap = NULL;
    if (*path != '/') return GK_EINVAL;
    /* the segments and their NULs take no more than the path's length */
    size_t len = strlen(path);
    char *dst = len < sizeof sg->small ? sg->small : (sg->heap = xmalloc(len + 1));
    for (const char *p = path + 1; *p;) {
        size_t n = strcspn(p, "/");
        if (sg->n == MAX_SEGS) return GK_EINVAL;
        int k = url_decode(p, n, dst, n + 1);
        if (k < 0) return GK_EINVAL;
        sg->s[sg->n++] = dst;
        dst += k + 1;
        p += n + (p[n] == '/');
    }
    return 0;
}

static void segs_free(struct segs *sg)
{
    free(sg->heap);
}

static int method_is(const struct http_req *req, int a, int b)
{
    int m = http_req_method(req);
    return m == a || m == b;
}

/* POST|GET /_flush and /{index}/_flush (indices.flush): moves the hot
 * tier into gasket.db before answering, so that a copy of gasket.db taken
 * afterwards holds every document acknowledged before the request. There is
 * one hot tier for every index: a flush on one index flushes them all. */
static void on_flush(void *ud, const struct store_ack *ack)
{
    struct http_req *req = ud;
    if (ack->status == 0) {
        static const char ok[] = "{\"_shards\":{\"total\":1,\"successful\":1,\"failed\":0}}";
        return http_respond(req, 200, NULL, JSON, ok, sizeof ok - 1);
    }
    char reason[160];
    snprintf(reason, sizeof reason,
             "the documents stay safe in the journal but could not be moved into gasket.db: %s",
             gk_strerror(ack->status));
    search_error(req, 503, "flush_failed_engine_exception", reason, NULL);
}

static void flush_store(struct gateway *g, struct http_req *req)
{
    if (!method_is(req, HTTP_POST, HTTP_GET)) return reply_not_allowed(req, "POST, GET");
    store_flush(g->store, on_flush, req);
}

/* The endpoints on an index: /{index}/{what}[/{id}]. */
static void index_endpoint(struct gateway *g, struct http_req *req, const struct segs *sg)
{
    const char *index = sg->s[0], *what = sg->s[1], *id = sg->n > 2 ? sg->s[2] : NULL;
    char err[256];
    if (bulk_index_name_check(index, strlen(index), err, sizeof err) != 0)
        return search_error(req, 400, "invalid_index_name_exception", err, NULL);
    int get = method_is(req, HTTP_GET, HTTP_HEAD), post = method_is(req, HTTP_POST, HTTP_POST);
    int put = method_is(req, HTTP_PUT, HTTP_PUT);
    if (strcmp(what, "_search") == 0 || strcmp(what, "_count") == 0) {
        if (!get && !post) return reply_not_allowed(req, "GET, POST");
        return run_query(g, req, index, what[1] == 's' ? QUERY_SEARCH : QUERY_COUNT);
    }
    if (strcmp(what, "_doc") == 0 && id) {
        if (get) return get_doc(g, req, index, id);
        if (post || put)
            return search_error(req, 400, "illegal_argument_exception",
                                "client-chosen ids are not supported: POST /{index}/_doc "
                                "assigns the _id",
                                NULL);
        return reply_not_allowed(req, "GET, HEAD");
    }
    if (strcmp(what, "_doc") == 0)
        return post ? search_doc_post(g, req, index) : reply_not_allowed(req, "POST");
    if (strcmp(what, "_create") == 0)
        return search_error(req, 400, "illegal_argument_exception",
                            "client-chosen ids are not supported: POST /{index}/_doc assigns "
                            "the _id",
                            NULL);
    if (strcmp(what, "_bulk") == 0)
        return post || put ? search_bulk(g, req, index) : reply_not_allowed(req, "POST, PUT");
    if (strcmp(what, "_export") == 0)
        return get ? search_export(g, req, index) : reply_not_allowed(req, "GET");
    if (strcmp(what, "_flush") == 0) return flush_store(g, req);
    gateway_reply_message(req, 404, NULL, "Not Found");
}

/* GET|HEAD /{index}: does it exist, and its mapping (indices.exists,
 * indices.get). PUT /{index} (indices.create) is refused: an index is
 * created by its first document. */
static void index_info(struct gateway *g, struct http_req *req, const char *index)
{
    char err[256];
    if (bulk_index_name_check(index, strlen(index), err, sizeof err) != 0)
        return search_error(req, 400, "invalid_index_name_exception", err, NULL);
    if (method_is(req, HTTP_PUT, HTTP_PUT))
        return search_error(req, 400, "illegal_argument_exception",
                            "gasket creates an index with its first document: POST it to "
                            "/{index}/_doc or /_bulk",
                            NULL);
    if (!method_is(req, HTTP_GET, HTTP_HEAD)) return reply_not_allowed(req, "GET, HEAD");
    struct search_params p;
    if (search_params_parse(req, plain_known, &p) != 0) return;
    struct job *j = job_new(req, J_INDEX, &p);
    j->index = xstrdup(index);
    j->head = http_req_method(req) == HTTP_HEAD;
    search_params_free(&p);
    store_read(g->store, job_run, job_done, j);
}

/* Which requests search_handle() takes: 1 for a path it answers. */
static int claimed(const struct segs *sg)
{
    if (sg->n == 0) return 1; /* GET / */
    if (sg->n == 1)
        return !strcmp(sg->s[0], "_bulk") || !strcmp(sg->s[0], "_search") ||
               !strcmp(sg->s[0], "_count") || !strcmp(sg->s[0], "_flush");
    if (!strcmp(sg->s[0], "_cat")) return sg->n == 2 && !strcmp(sg->s[1], "indices");
    static const char *const ops[] = {"_search", "_count", "_doc",   "_create",
                                      "_bulk",   "_export", "_flush"};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (!strcmp(sg->s[1], ops[i])) return sg->n == 2 || (sg->n == 3 && (i == 2 || i == 3));
    return 0;
}

/* What a request on the claimed path sg needs of its principal: read
 * scope to read an index, write scope to add to it or flush it (each _bulk
 * item is checked again on its own index; /_flush needs a key that may
 * write), a known key for the rest. */
static void access_of(const struct http_req *req, const struct segs *sg, struct gateway_access *a)
{
    int get = method_is(req, HTTP_GET, HTTP_HEAD), post = method_is(req, HTTP_POST, HTTP_POST);
    memset(a, 0, sizeof *a);
    a->need = sg->n == 0 ? GATEWAY_NEED_NONE : GATEWAY_NEED_KEY;
    a->writes = sg->n == 1 && (!strcmp(sg->s[0], "_bulk") || !strcmp(sg->s[0], "_flush"));
    if (sg->n == 0 || sg->s[0][0] == '_') return; /* GET /, /_bulk, /_cat/indices, ... */
    const char *what = sg->n > 1 ? sg->s[1] : NULL;
    int read = !what ? get
                     : !strcmp(what, "_search") || !strcmp(what, "_count") ||
                           !strcmp(what, "_export") || (!strcmp(what, "_doc") && sg->n == 3 && get);
    int write = what && ((!strcmp(what, "_doc") && sg->n == 2 && post) ||
                         !strcmp(what, "_bulk") || !strcmp(what, "_flush"));
    char err[256];
    if ((!read && !write) || bulk_index_name_check(sg->s[0], strlen(sg->s[0]), err, sizeof err))
        return; /* a bad name gets its 400 from the endpoint, for any key */
    a->need = read ? GATEWAY_NEED_READ : GATEWAY_NEED_WRITE;
    snprintf(a->index, sizeof a->index, "%s", sg->s[0]);
}

static void dispatch(struct gateway *g, struct http_req *req, const struct segs *sg)
{
    int get = method_is(req, HTTP_GET, HTTP_HEAD);
    if (sg->n == 0)
        return !get                                ? reply_not_allowed(req, "GET, HEAD")
               : http_req_method(req) == HTTP_HEAD ? http_respond(req, 200, ROOT_VARY, JSON, NULL, 0)
                                                   : root_info(req);
    struct gateway_access a;
    access_of(req, sg, &a);
    const struct principal *who = search_authorize(g, req, &a);
    if (!who) return;
    if (sg->n == 2 && !strcmp(sg->s[0], "_cat"))
        return get ? cat_indices(g, req, who) : reply_not_allowed(req, "GET");
    if (sg->n == 1 && !strcmp(sg->s[0], "_bulk"))
        return method_is(req, HTTP_POST, HTTP_PUT) ? search_bulk(g, req, NULL)
                                                   : reply_not_allowed(req, "POST, PUT");
    if (sg->n == 1 && !strcmp(sg->s[0], "_flush")) return flush_store(g, req);
    if (sg->n == 1 && sg->s[0][0] != '_') return index_info(g, req, sg->s[0]);
    if (sg->n == 1)
        return search_error(req, 400, "illegal_argument_exception",
                            "a request on every index is not supported: name one index, as in "
                            "/gasdetect/_search",
                            NULL);
    index_endpoint(g, req, sg);
}

/* Splits path into sg and returns 1 when search_handle() answers it. */
static int search_claims(const struct gateway *g, const struct http_req *req, const char *path,
                         struct segs *sg)
{
    sg->n = 0;
    sg->heap = NULL;
    /* a route's own path (one segment, no '_' or escape): never the
     * search API's, so not split (every reading's POST comes here) */
    if (path[0] == '/' && path[1] && path[1] != '_' && !strpbrk(path + 1, "/%") &&
        gateway_find_route(g, path))
        return 0;
    return split_path(path, sg) == 0 &&
           (claimed(sg) || /* GET|HEAD|PUT /{index}, when no route has that path */
            (sg->n == 1 && sg->s[0][0] != '_' && !gateway_find_route(g, path) &&
             (method_is(req, HTTP_GET, HTTP_HEAD) || method_is(req, HTTP_PUT, HTTP_PUT))));
}

int search_access(const struct gateway *g, const struct http_req *req, const char *path,
                  struct gateway_access *a)
{
    struct segs sg;
    int ok = search_claims(g, req, path, &sg);
    if (ok) access_of(req, &sg, a);
    segs_free(&sg);
    return ok;
}

int search_handle(struct gateway *g, struct http_req *req, const char *path)
{
    struct segs sg;
    int ok = search_claims(g, req, path, &sg);
    if (ok) dispatch(g, req, &sg);
    segs_free(&sg);
    return ok;
}

size_t search_body_limit(void *ud, const struct http_req *req)
{
    const struct gateway *g = ud;
    const char *path = http_req_path(req);
    size_t n = strlen(path);
    if (n >= 6 && strcmp(path + n - 6, "/_bulk") == 0) return g->max_bulk_body;
    return 0;
}
