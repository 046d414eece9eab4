/* web.c: the dashboard's static files (see web.h).
 *
 * An answer carries the file's strong ETag (from its SHA-256), answers 304
 * to a matching If-None-Match, Cache-Control: no-cache (the names carry no
 * hash, so a browser revalidates each time), the gzip copy when the client
 * takes it, and a Content-Security-Policy allowing only gasketd's own
 * origin. With [http] web_root the file is read on libuv's thread pool
 * after its real path is checked to lie inside the folder. */
#include "gateway/web.h"
#include "gateway/gateway_int.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/url.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/http.h"

#include <ctype.h>
#include <fcntl.h>
#include <http_parser.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define WEB_MAX_PATH 256
#define WEB_MAX_FILE (16u << 20) /* a web_root file larger than this: 500 */

static const char web_security_headers[] =
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'\r\n";

const struct web_asset *web_asset_find(const char *rel)
{
    for (size_t i = 0; i < web_nassets; i++)
        if (strcmp(web_assets[i].path, rel) == 0)
            return &web_assets[i];
    return NULL;
}

const char *web_content_type(const char *rel)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
        {".png", "image/png"},                 {".json", "application/json"},
        {".woff2", "font/woff2"},              {".ico", "image/x-icon"},
    };
    const char *dot = strrchr(rel, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof types / sizeof *types; i++)
            if (strcasecmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/* Checks one decoded segment out[0..n): a name, not "", ".", ".." nor a
 * dot-file, without '/' (it was encoded: it never splits a name), control
 * characters or '\\'. */
static int segment_ok(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '/')
            return 0;
    }
    return 1;
}

int web_path_check(const char *raw, char *out, size_t outlen)
{
    size_t n = 0;
    if (*raw == '\0')
        raw = "index.html";
    for (const char *seg = raw;;) {
        size_t len = strcspn(seg, "/");
        if (n + 1 >= outlen)
            return GK_ETOOBIG;
        int d = url_decode_segment(seg, len, out + n, outlen - n);
        if (d == -2)
            return GK_ETOOBIG;
        if (d < 0 || !segment_ok(out + n, (size_t)d))
            return GK_EINVAL; /* a bad escape, "", ".", "..", ".hidden", a doubled '/' */
        n += (size_t)d;
        if (seg[len] == '\0')
            return 0;
        out[n++] = '/';
        seg += len + 1;
    }
}

/* Walks a comma-separated header value: each item's token (before ';',
 * trimmed) and its q (1 when absent). Calls fn until it returns non-zero. */
static int each_item(const char *v, int (*fn)(const char *tok, size_t n, double q, void *ud),
                     void *ud)
{
    while (v && *v) {
        size_t len = strcspn(v, ",");
        const char *end = v + len, *semi = memchr(v, ';', len);
        const char *t = v, *te = semi ? semi : end;
        while (t < te && isspace((unsigned char)*t)) t++;
        while (te > t && isspace((unsigned char)te[-1])) te--;
        double q = 1;
        for (const char *p = semi; p && p < end; p = memchr(p + 1, ';', (size_t)(end - p - 1))) {
            const char *a = p + 1;
            while (a < end && isspace((unsigned char)*a)) a++;
            if (end - a >= 2 && (a[0] == 'q' || a[0] == 'Q') && a[1] == '=')
                q = strtod(a + 2, NULL);
        }
        if (te > t) {
            int r = fn(t, (size_t)(te - t), q, ud);
            if (r)
                return r;
        }
        v = *end ? end + 1 : end;
    }
    return 0;
}

static int tok_is(const char *t, size_t n, const char *word)
{
    return n == strlen(word) && strncasecmp(t, word, n) == 0;
}

struct accept_q {
    double html, json;
};

static int note_accept(const char *t, size_t n, double q, void *ud)
{
    struct accept_q *a = ud;
    if (tok_is(t, n, "text/html") && q > a->html)
        a->html = q;
    if (tok_is(t, n, "application/json") && q > a->json)
        a->json = q;
    return 0;
}

int web_accepts_html(const char *accept)
{
    struct accept_q a = {0, 0};
    each_item(accept, note_accept, &a);
    return a.html > 0 && a.html > a.json;
}

static int note_gzip(const char *t, size_t n, double q, void *ud)
{
    int *gz = ud;
    if (tok_is(t, n, "gzip") || tok_is(t, n, "x-gzip"))
        *gz = q > 0 ? 1 : -1; /* named: decides */
    else if (tok_is(t, n, "*") && *gz == 0 && q > 0)
        *gz = 2;
    return 0;
}

int web_accepts_gzip(const char *accept_encoding)
{
    int gz = 0;
    each_item(accept_encoding, note_gzip, &gz);
    return gz > 0;
}

static int note_etag(const char *t, size_t n, double q, void *ud)
{
    const char *hash = ud;
    size_t h = strlen(hash);
    (void)q;
    if (n >= 2 && (t[0] == 'W' || t[0] == 'w') && t[1] == '/')
        t += 2, n -= 2;
    if (tok_is(t, n, "*"))
        return 1;
    if (n < h + 2 || t[0] != '"' || strncmp(t + 1, hash, h) != 0)
        return 0;
    return tok_is(t + 1 + h, n - 1 - h, "\"") || tok_is(t + 1 + h, n - 1 - h, "-gz\"");
}

int web_etag_matches(const char *if_none_match, const char *hash)
{
    return each_item(if_none_match, note_etag, (void *)hash);
}

/* ---- answers ---- */

static int is_root(const char *path)
{
    return strcmp(path, "/") == 0;
}

int web_claims(const struct http_req *req, const char *path)
{
    int m = http_req_method(req);
    if (strncmp(path, WEB_PREFIX, sizeof WEB_PREFIX - 1) == 0 || strcmp(path, "/_dashboard") == 0)
        return 1;
    return is_root(path) && (m == HTTP_GET || m == HTTP_HEAD) &&
           web_accepts_html(http_req_header(req, "accept"));
}

/* Sends one file: data/gz as an asset holds them (gz may be NULL). */
static void send_file(struct http_req *req, const char *rel, const char *hash,
                      const unsigned char *data, size_t len, const unsigned char *gz,
                      size_t gz_len, int vary_accept)
{
    int use_gz = gz && web_accepts_gzip(http_req_header(req, "accept-encoding"));
    struct buf h = {0};
    buf_printf(&h, "Cache-Control: no-cache\r\nETag: \"%s%s\"\r\n", hash, use_gz ? "-gz" : "");
    if (gz || vary_accept)
        buf_printf(&h, "Vary: %s%s\r\n", vary_accept ? "Accept" : "",
                   gz ? (vary_accept ? ", Accept-Encoding" : "Accept-Encoding") : "");
    buf_puts(&h, web_security_headers);
    if (web_etag_matches(http_req_header(req, "if-none-match"), hash)) {
        http_respond(req, 304, h.data, NULL, NULL, 0);
    } else {
        if (use_gz)
            buf_puts(&h, "Content-Encoding: gzip\r\n");
        http_respond(req, 200, h.data, web_content_type(rel), use_gz ? gz : data,
                     use_gz ? gz_len : len);
    }
    buf_free(&h);
}

/* A file of [http] web_root, read on the thread pool. */
struct web_read {
    uv_work_t work;
    struct http_req *req;
    char *root;
    char rel[WEB_MAX_PATH];
    int vary_accept;
    int status; /* 200, 404 or 500 once read */
    unsigned char *data;
    size_t len;
    char hash[33];
};

static void hash_hex(const unsigned char *data, size_t len, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Reads w->rel below w->root: 404 unless its real path (symlinks
 * resolved) is a regular file inside the root's real path. */
static void read_work(uv_work_t *work)
{
    struct web_read *w = work->data;
    char root[PATH_MAX], full[PATH_MAX], *joined = NULL;
    w->status = 404;
    if (!realpath(w->root, root) || asprintf(&joined, "%s/%s", root, w->rel) < 0)
        return;
    size_t rl = strlen(root);
    int inside = realpath(joined, full) && strncmp(full, root, rl) == 0 && full[rl] == '/';
    free(joined);
    int fd = inside ? open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    struct stat st;
    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        w->status = 500;
        if ((size_t)st.st_size <= WEB_MAX_FILE) {
            w->data = xmalloc((size_t)st.st_size + 1);
            ssize_t n = read(fd, w->data, (size_t)st.st_size + 1);
            if (n == st.st_size) /* a file growing meanwhile: 500, try again */
                w->len = (size_t)n, w->status = 200;
        }
    }
    close(fd);
    if (w->status == 200)
        hash_hex(w->data, w->len, w->hash);
}

static void read_done(uv_work_t *work, int status)
{
    struct web_read *w = work->data;
    if (status == 0 && w->status == 200)
        send_file(w->req, w->rel, w->hash, w->data, w->len, NULL, 0, w->vary_accept);
    else if (status == 0 && w->status == 404)
        gateway_reply_message(w->req, 404, NULL, "Not Found");
    else
        gateway_reply_message(w->req, 500, NULL, "The file could not be read");
    free(w->data);
    free(w->root);
    free(w);
}

static void serve_rel(struct gateway *g, struct http_req *req, const char *rel, int vary_accept)
{
    if (g->web_root) {
        struct web_read *w = xcalloc(1, sizeof *w);
        w->work.data = w;
        w->req = req;
        w->root = xstrdup(g->web_root);
        snprintf(w->rel, sizeof w->rel, "%s", rel);
        w->vary_accept = vary_accept;
        if (uv_queue_work(http_req_loop(req), &w->work, read_work, read_done) != 0) {
            free(w->root), free(w);
            gateway_reply_message(req, 500, NULL, "The file could not be read");
        }
        return;
    }
    const struct web_asset *a = web_asset_find(rel);
    if (!a)
        return gateway_reply_message(req, 404, NULL, "Not Found");
    send_file(req, rel, a->hash, a->data, a->len, a->gz, a->gz_len, vary_accept);
}

int web_handle(struct gateway *g, struct http_req *req, const char *path)
{
    if (!web_claims(req, path))
        return 0;
    int m = http_req_method(req);
    if (m != HTTP_GET && m != HTTP_HEAD) {
        gateway_reply_message(req, 405, "Allow: GET, HEAD\r\n", "Method Not Allowed");
        return 1;
    }
    if (is_root(path)) {
        serve_rel(g, req, "index.html", 1);
        return 1;
    }
    char rel[WEB_MAX_PATH];
    const char *raw = path[sizeof WEB_PREFIX - 2] == '/' ? path + sizeof WEB_PREFIX - 1 : "";
    int rc = web_path_check(raw, rel, sizeof rel);
    if (rc == GK_ETOOBIG)
        gateway_reply_message(req, 404, NULL, "Not Found");
    else if (rc != 0)
        gateway_reply_message(req, 400, NULL, "Bad dashboard file path");
    else
        serve_rel(g, req, rel, 0);
    return 1;
}
