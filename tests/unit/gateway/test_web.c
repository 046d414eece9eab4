/* Unit tests for gateway/web.c: path checks, header parsing, content
 * types, and the embedded files (scripts/gen-web-assets.py's output). */
#include "core/err.h"
#include "gateway/web.h"
#include "test.h"

#include <openssl/evp.h>
#include <stdio.h>

static int check(const char *raw, char *out)
{
    return web_path_check(raw, out, 256);
}

static void test_path_plain(void)
{
    char out[256];
    CHECK_EQ_INT(check("", out), 0);
    CHECK_EQ_STR(out, "index.html");
    CHECK_EQ_INT(check("app.js", out), 0);
    CHECK_EQ_STR(out, "app.js");
    CHECK_EQ_INT(check("img/logo%20x.svg", out), 0);
    CHECK_EQ_STR(out, "img/logo x.svg");
    CHECK_EQ_INT(check("a+b.js", out), 0); /* '+' is no space in a path */
    CHECK_EQ_STR(out, "a+b.js");
}

static void test_path_refused(void)
{
    char out[256];
    static const char *const bad[] = {
        "..",        "../gasket.db", "a/../../x", "%2e%2e/x", "%2E%2e%2fx", "a%2fb",
        "a%2Fb",     "a%5cb",        "a\\b",      "a%00b",    "/etc/passwd", "a//b",
        "a/",        ".",            "./a",       ".git/config", "a/.env",   "%",
        "%4",        "%zz",          "a%0ab",     "a%7f",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = check(bad[i], out);
        if (rc != GK_EINVAL)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK_EQ_INT(rc, GK_EINVAL);
    }
    char small[4];
    CHECK_EQ_INT(web_path_check("abcdef", small, sizeof small), GK_ETOOBIG);
}

static void test_accept_html(void)
{
    CHECK(web_accepts_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
    CHECK(web_accepts_html("text/html"));
    CHECK(web_accepts_html("application/json;q=0.5, TEXT/HTML"));
    CHECK(!web_accepts_html(NULL));
    CHECK(!web_accepts_html(""));
    CHECK(!web_accepts_html("*/*"));
    CHECK(!web_accepts_html("application/json"));
    CHECK(!web_accepts_html("application/json, text/html")); /* a tie: JSON */
    CHECK(!web_accepts_html("text/html;q=0"));
    CHECK(!web_accepts_html("text/html;q=0.4, application/json"));
}

static void test_accept_gzip(void)
{
    CHECK(web_accepts_gzip("gzip, deflate, br"));
    CHECK(web_accepts_gzip("br;q=1.0, gzip;q=0.8"));
    CHECK(web_accepts_gzip("*"));
    CHECK(!web_accepts_gzip(NULL));
    CHECK(!web_accepts_gzip("identity"));
    CHECK(!web_accepts_gzip("gzip;q=0"));
    CHECK(!web_accepts_gzip("gzip;q=0, *"));
    CHECK(!web_accepts_gzip("deflate, br"));
}

static void test_etag(void)
{
    const char *h = "0123456789abcdef0123456789abcdef";
    CHECK(web_etag_matches("\"0123456789abcdef0123456789abcdef\"", h));
    CHECK(web_etag_matches("\"0123456789abcdef0123456789abcdef-gz\"", h));
    CHECK(web_etag_matches("W/\"0123456789abcdef0123456789abcdef\"", h));
    CHECK(web_etag_matches("\"x\", \"0123456789abcdef0123456789abcdef\"", h));
    CHECK(web_etag_matches("*", h));
    CHECK(!web_etag_matches(NULL, h));
    CHECK(!web_etag_matches("\"0123456789abcdef0123456789abcdee\"", h));
    CHECK(!web_etag_matches("\"0123456789abcdef0123456789abcdef-x\"", h));
    CHECK(!web_etag_matches("0123456789abcdef0123456789abcdef", h));
}

static void test_content_type(void)
{
    CHECK_EQ_STR(web_content_type("index.html"), "text/html; charset=utf-8");
    CHECK_EQ_STR(web_content_type("a/app.JS"), "text/javascript; charset=utf-8");
    CHECK_EQ_STR(web_content_type("app.css"), "text/css; charset=utf-8");
    CHECK_EQ_STR(web_content_type("i.svg"), "image/svg+xml");
    CHECK_EQ_STR(web_content_type("i.png"), "image/png");
    CHECK_EQ_STR(web_content_type("m.json"), "application/json");
    CHECK_EQ_STR(web_content_type("f.woff2"), "font/woff2");
    CHECK_EQ_STR(web_content_type("favicon.ico"), "image/x-icon");
    CHECK_EQ_STR(web_content_type("README"), "application/octet-stream");
    CHECK_EQ_STR(web_content_type("x.tar.gz"), "application/octet-stream");
    CHECK_EQ_STR(web_content_type("dir.html/x"), "application/octet-stream");
}

/* The generated table: index.html and app.js are there, each hash is the
 * SHA-256 of its bytes, each gzip copy is smaller than the file. */
static void test_embedded(void)
{
    CHECK(web_asset_find("index.html") != NULL);
    CHECK(web_asset_find("app.js") != NULL);
    CHECK(web_asset_find("nope.js") == NULL);
    for (size_t i = 0; i < web_nassets; i++) {
        const struct web_asset *a = &web_assets[i];
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        char hex[33];
        EVP_Digest(a->data, a->len, md, &n, EVP_sha256(), NULL);
        for (int j = 0; j < 16; j++)
            snprintf(hex + 2 * j, 3, "%02x", md[j]);
        CHECK_EQ_STR(a->hash, hex);
        CHECK(!a->gz || a->gz_len < a->len);
        CHECK(!a->gz || (a->gz[0] == 0x1f && a->gz[1] == 0x8b));
    }
    const struct web_asset *ix = web_asset_find("index.html");
    CHECK(ix && strstr((const char *)ix->data, "gasket dashboard") != NULL);
}

int main(void)
{
    RUN(test_path_plain);
    RUN(test_path_refused);
    RUN(test_accept_html);
    RUN(test_accept_gzip);
    RUN(test_etag);
    RUN(test_content_type);
    RUN(test_embedded);
    TEST_MAIN_END();
}
