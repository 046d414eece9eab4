/* web.h: the dashboard's static files, served by gasketd (docs/api.md,
 * "The dashboard").
 *
 * The files under web/ are embedded at build time by
 * scripts/gen-web-assets.py (build/gen/web_assets.c defines web_assets);
 * with [http] web_root set, files are read from that folder instead (for
 * development), on libuv's thread pool, never on the loop thread.
 *
 * Paths: /_dashboard/{file} serves a file; / serves index.html to a
 * browser (an Accept header that prefers text/html) and stays OpenSearch's
 * root info (JSON) for every other client. Open to anyone: the files hold
 * no data. */
#ifndef GASKET_GATEWAY_WEB_H
#define GASKET_GATEWAY_WEB_H

#include <stddef.h>

struct gateway;
struct http_req;

#define WEB_PREFIX "/_dashboard/"

/* One embedded file. */
struct web_asset {
    const char *path;          /* relative to web/, '/'-separated: "app.js" */
    const char *hash;          /* 32 hex digits of its SHA-256: the ETag */
    const unsigned char *data; /* its bytes */
    size_t len;
    const unsigned char *gz; /* gzip-compressed copy, or NULL when not smaller */
    size_t gz_len;
};

extern const struct web_asset web_assets[];
extern const size_t web_nassets;

/* The embedded file at rel ("app.js"), or NULL. */
const struct web_asset *web_asset_find(const char *rel);
/* The Content-Type of a file by its name's extension (html, js, css, svg,
 * png, json, woff2, ico; else application/octet-stream). */
const char *web_content_type(const char *rel);
/* Checks and decodes the raw (percent-encoded) path of a file below
 * /_dashboard/ into out: "" becomes "index.html". Returns 0, GK_EINVAL for
 * a path that may never name a file (an empty, "." or ".." or dot-file
 * segment, an encoded '/' or '\', a '\', a NUL or control character, a bad
 * escape), GK_ETOOBIG when it does not fit out. */
int web_path_check(const char *raw, char *out, size_t outlen);
/* 1 when an Accept header value prefers text/html: it names text/html with
 * a q above that of application/json (absent: 0). NULL: 0. */
int web_accepts_html(const char *accept);
/* 1 when an Accept-Encoding header value takes gzip (gzip, x-gzip or *,
 * with q above 0). */
int web_accepts_gzip(const char *accept_encoding);
/* 1 when an If-None-Match value matches the file with that hash ("*", or
 * an entity tag of it, weak or strong, of either encoding). */
int web_etag_matches(const char *if_none_match, const char *hash);

/* 1 when req is for the dashboard: any method on /_dashboard and below,
 * GET or HEAD of / from a browser. Such a request needs no key. */
int web_claims(const struct http_req *req, const char *path);
/* Answers req and returns 1 when web_claims() it; else 0. */
int web_handle(struct gateway *g, struct http_req *req, const char *path);

#endif
