/* Unit tests for mqtt/auth.c: password hashing and checking (round trip, a
 * vector computed with Python's hashlib, a line made by mosquitto_passwd),
 * password-file errors and rewriting, and ACL tables (user blocks, patterns
 * with %u and %c, deny precedence, anonymous rules, filter coverage and the
 * substitution guard). */
#include "core/err.h"
#include "mqtt/auth.h"
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* hashlib.pbkdf2_hmac('sha512', b'correct horse', bytes(range(1, 13)), 10000) */
static const char python_line[] =
    "carol:$7$10000$AQIDBAUGBwgJCgsM$ekUHux15KlUFVq51L22ODrH+Gcns9lAqViL57TYqEiBrFVBRd3fqUWhwht6O"
    "eGuv8gjkwc07K2o/8eDQn367qA==\n";

/* mosquitto_passwd -b -c FILE alice 's3cret pass' (Mosquitto 2.0.11, Debian 12) */
static const char mosquitto_line[] =
    "alice:$7$101$2UdQvVHxMM4hD7/H$jwL0N/FzGRycep3okKRUBmz/o4PdQ28HVidcBRl2xj8aMUFt/LGLJgjTqWJocz"
    "3JXWWJnYFbOBYn9Ti+Kh9J4g==\n";

static struct mqtt_passwd *pw_parse(const char *text)
{
    struct mqtt_passwd *p = NULL;
    char err[256] = "";
    int rc = mqtt_passwd_parse(&p, text, strlen(text), "pw", err, sizeof err);
    if (rc) fprintf(stderr, "unexpected: %s\n", err);
    return p;
}

static bool pw_ok(const struct mqtt_passwd *p, const char *user, const char *pass)
{
    return mqtt_passwd_check(p, user, user ? strlen(user) : 0, pass, strlen(pass));
}

static char *tmp_dir(void)
{
    static char dir[64];
    strcpy(dir, "/tmp/gasket-test-auth-XXXXXX");
    return mkdtemp(dir);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path)
{
    static char text[4096];
    FILE *f = fopen(path, "r");
    text[0] = '\0';
    if (!f) return text;
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    return text;
}

/* ---- Password file -------------------------------------------------------- */

static void test_hash_round_trip(void)
{
    char h1[MQTT_PASSWD_HASH_MAX], h2[MQTT_PASSWD_HASH_MAX], text[512];
    CHECK_EQ_INT(mqtt_passwd_hash("hunter2", 1000, h1, sizeof h1), 0);
    CHECK_EQ_INT(mqtt_passwd_hash("hunter2", 1000, h2, sizeof h2), 0);
    CHECK(strncmp(h1, "$7$1000$", 8) == 0);
    CHECK_EQ_INT(strlen(h1), 8 + 16 + 1 + 88);
    CHECK(strcmp(h1, h2) != 0); /* fresh salt each time */
    snprintf(text, sizeof text, "bob:%s\ndan:%s\n", h1, h2);
    struct mqtt_passwd *p = pw_parse(text);
    CHECK(p != NULL);
    if (!p) return;
    CHECK_EQ_INT(mqtt_passwd_count(p), 2);
    CHECK(pw_ok(p, "bob", "hunter2"));
    CHECK(pw_ok(p, "dan", "hunter2"));
    CHECK(!pw_ok(p, "bob", "hunter3"));
    CHECK(!pw_ok(p, "bob", "hunter"));
    CHECK(!pw_ok(p, "bob", ""));
    mqtt_passwd_free(p);
}

static void test_hash_errors(void)
{
    char h[MQTT_PASSWD_HASH_MAX];
    CHECK_EQ_INT(mqtt_passwd_hash("x", 0, h, sizeof h), GK_EINVAL);
    CHECK_EQ_INT(mqtt_passwd_hash("x", MQTT_PASSWD_ITER_MAX + 1, h, sizeof h), GK_EINVAL);
    CHECK_EQ_INT(mqtt_passwd_hash("x", 1000, h, 64), GK_ETOOBIG);
}

static void test_python_vector(void)
{
    struct mqtt_passwd *p = pw_parse(python_line);
    CHECK(p != NULL);
    if (!p) return;
    CHECK(pw_ok(p, "carol", "correct horse"));
    CHECK(!pw_ok(p, "carol", "correct horse "));
    CHECK(!pw_ok(p, "Carol", "correct horse"));
    mqtt_passwd_free(p);
}

static void test_mosquitto_passwd_line(void)
{
    struct mqtt_passwd *p = pw_parse(mosquitto_line);
    CHECK(p != NULL);
    if (!p) return;
    CHECK(pw_ok(p, "alice", "s3cret pass"));
    CHECK(!pw_ok(p, "alice", "s3cret"));
    mqtt_passwd_free(p);
}

static void test_unknown_user(void)
{
    char text[1024];
    snprintf(text, sizeof text, "# users\n\n%s   \r\n\t%s", python_line, mosquitto_line);
    struct mqtt_passwd *p = pw_parse(text);
    CHECK(p != NULL);
    if (!p) return;
    CHECK_EQ_INT(mqtt_passwd_count(p), 2);
    CHECK(pw_ok(p, "alice", "s3cret pass")); /* indented, CRLF and blank neighbours */
    CHECK(!pw_ok(p, "mallory", "s3cret pass"));
    CHECK(!pw_ok(p, "", "s3cret pass"));
    CHECK(!pw_ok(p, NULL, "s3cret pass"));
    CHECK(!pw_ok(p, "alic", "s3cret pass"));
    CHECK(!mqtt_passwd_check(p, "alice", 5, NULL, 0));
    CHECK(mqtt_passwd_check(p, "alice:x", 5, "s3cret pass", 11)); /* lengths, not NULs */
    mqtt_passwd_free(p);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The fastest of three runs each (to ride out scheduling noise) of a
 * wrong password for known user `user` and for an unknown one. */
static void check_times(const struct mqtt_passwd *p, const char *user, double *known,
                        double *unknown)
{
    *known = *unknown = 1e9;
    for (int i = 0; i < 3; i++) {
        double t0 = seconds();
        CHECK(!pw_ok(p, user, "wrong"));
        double t1 = seconds();
        CHECK(!pw_ok(p, "nobody", "wrong"));
        double t2 = seconds();
        *known = t1 - t0 < *known ? t1 - t0 : *known;
        *unknown = t2 - t1 < *unknown ? t2 - t1 : *unknown;
    }
}

/* An unknown user costs a PBKDF2 at the file's usual iteration count
 * (check_times: one run against one other failed under ASan when the
 * known user's check was preempted). */
static void test_unknown_user_costs_pbkdf2(void)
{
    char h[MQTT_PASSWD_HASH_MAX], text[1024];
    CHECK_EQ_INT(mqtt_passwd_hash("pw", 100000, h, sizeof h), 0);
    snprintf(text, sizeof text, "u1:%s\nu2:%s\n%s", h, h, python_line);
    struct mqtt_passwd *p = pw_parse(text);
    if (!p) return;
    double known, unknown;
    check_times(p, "u1", &known, &unknown);
    CHECK(unknown > 0.4 * known);
    mqtt_passwd_free(p);
}

/* Without a majority the dummy still uses a count from the file, not the
 * default. */
static void test_unknown_user_no_majority(void)
{
    char h1[MQTT_PASSWD_HASH_MAX], h2[MQTT_PASSWD_HASH_MAX], text[512];
    CHECK_EQ_INT(mqtt_passwd_hash("pw", 1000, h1, sizeof h1), 0);
    CHECK_EQ_INT(mqtt_passwd_hash("pw", 2000, h2, sizeof h2), 0);
    snprintf(text, sizeof text, "a:%s\nb:%s\n", h1, h2);
    struct mqtt_passwd *p = pw_parse(text);
    if (!p) return;
    double known, unknown;
    check_times(p, "b", &known, &unknown);
    CHECK(unknown < 5 * known); /* 50000 iterations would be 25 times */
    mqtt_passwd_free(p);
}

static void test_passwd_malformed(void)
{
    static const struct {
        const char *text, *err;
    } cases[] = {
        {"alice\n", "pw:1: expected USER:$7$ITERATIONS$SALT$HASH"},
        {"# c\n\n:$7$1$AAAA$x\n", "pw:3: empty user name"},
        {"a:plain\n", "pw:1: expected USER:$7$"},
        {"a:$6$abc$def\n", "pw:1: unsupported hash type (only $7$, PBKDF2-SHA512)"},
        {"a:$7$0$AQIDBAUGBwgJCgsM$AAAA\n", "pw:1: iterations must be 1 to 10000000"},
        {"a:$7$10000001$AQIDBAUGBwgJCgsM$AAAA\n", "pw:1: iterations must be"},
        {"a:$7$99999999999$AQIDBAUGBwgJCgsM$AAAA\n", "pw:1: iterations must be"},
        {"a:$7$-5$AQIDBAUGBwgJCgsM$AAAA\n", "pw:1: iterations must be"},
        {"a:$7$$AQIDBAUGBwgJCgsM$AAAA\n", "pw:1: iterations must be"},
        {"a:$7$10$AQID!AUGBwgJCgsM$AAAA\n", "pw:1: salt must be 1 to 64 bytes in base64"},
        {"a:$7$10$AQI$AAAA\n", "pw:1: salt must be"},
        {"a:$7$10$$AAAA\n", "pw:1: salt must be"},
        {"a:$7$10$AQIDBAUGBwgJCgsM$AAAA\n", "pw:1: hash must be 64 bytes in base64"},
        {"a:$7$10$AQIDBAUGBwgJCgsM\n", "pw:1: expected USER:$7$"},
        {"a:$7$10$AQIDBAUGBwgJCgsM$AAAA$BBBB\n", "pw:1: expected USER:$7$"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mqtt_passwd *p = (struct mqtt_passwd *)1;
        char err[256] = "";
        size_t len = strlen(cases[i].text);
        CHECK_EQ_INT(mqtt_passwd_parse(&p, cases[i].text, len, "pw", err, sizeof err), GK_ECONFIG);
        CHECK(p == NULL);
        if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
            fprintf(stderr, "case %zu: got \"%s\", want \"%s\"\n", i, err, cases[i].err);
        CHECK(strncmp(err, cases[i].err, strlen(cases[i].err)) == 0);
    }
}

/* The dashboard's role field: USER:HASH:admin|viewer (none: a viewer). */
static void test_passwd_roles(void)
{
    char text[1024], err[256] = "";
    size_t n = strlen(mosquitto_line) - 1; /* without its newline */
    /* alice an admin, bobby (carol's hash) a viewer, carol without a role */
    snprintf(text, sizeof text, "%.*s:admin\nbobby%.*s:viewer \r\n%s", (int)n, mosquitto_line,
             (int)strlen(python_line) - 6, python_line + 5, python_line);
    struct mqtt_passwd *p = pw_parse(text);
    CHECK(p != NULL);
    if (!p) return;
    CHECK_EQ_INT(mqtt_passwd_count(p), 3);
    CHECK_EQ_INT(mqtt_passwd_role(p, "alice", 5), MQTT_PASSWD_ADMIN);
    CHECK_EQ_INT(mqtt_passwd_role(p, "bobby", 5), MQTT_PASSWD_VIEWER);
    CHECK_EQ_INT(mqtt_passwd_role(p, "carol", 5), MQTT_PASSWD_VIEWER);
    CHECK_EQ_INT(mqtt_passwd_role(p, "mallory", 7), GK_ENOTFOUND);
    CHECK(pw_ok(p, "alice", "s3cret pass")); /* the role field is not part of the hash */
    CHECK(pw_ok(p, "bobby", "correct horse"));
    mqtt_passwd_free(p);
    static const char *const bad[] = {":root\n", ":\n", ":admin:x\n", ":Admin\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "%.*s%s", (int)n, mosquitto_line, bad[i]);
        CHECK_EQ_INT(mqtt_passwd_parse(&p, text, strlen(text), "f", err, sizeof err),
                     GK_ECONFIG);
        CHECK_EQ_STR(err, "f:1: role must be admin or viewer");
    }
}

static void test_passwd_duplicate_and_nul(void)
{
    char text[1024], err[256] = "";
    struct mqtt_passwd *p;
    CHECK_EQ_INT(mqtt_passwd_parse(&p, "#\na:x\0y\n", 8, "f", err, sizeof err), GK_ECONFIG);
    CHECK_EQ_STR(err, "f:2: NUL byte in line");
    snprintf(text, sizeof text, "%s#\n%s", mosquitto_line, mosquitto_line);
    CHECK_EQ_INT(mqtt_passwd_parse(&p, text, strlen(text), "f", err, sizeof err), GK_ECONFIG);
    CHECK_EQ_STR(err, "f:3: duplicate user");
}

static void test_passwd_load(void)
{
    char *dir = tmp_dir(), path[128], err[256] = "";
    struct mqtt_passwd *p;
    if (!dir) return;
    snprintf(path, sizeof path, "%s/pw", dir);
    CHECK_EQ_INT(mqtt_passwd_load(&p, path, err, sizeof err), GK_ENOTFOUND);
    CHECK(strstr(err, "No such file") != NULL);
    write_text(path, mosquitto_line);
    CHECK_EQ_INT(mqtt_passwd_load(&p, path, err, sizeof err), 0);
    if (p) CHECK(pw_ok(p, "alice", "s3cret pass"));
    mqtt_passwd_free(p);
    write_text(path, "# header\nbroken\n");
    CHECK_EQ_INT(mqtt_passwd_load(&p, path, err, sizeof err), GK_ECONFIG);
    char want[300];
    snprintf(want, sizeof want, "%s:2: expected USER:$7$ITERATIONS$SALT$HASH", path);
    CHECK_EQ_STR(err, want);
    unlink(path);
    rmdir(dir);
}

static void test_passwd_file_set(void)
{
    char *dir = tmp_dir(), path[128], err[256] = "", h[MQTT_PASSWD_HASH_MAX];
    struct stat st;
    if (!dir) return;
    snprintf(path, sizeof path, "%s/pw", dir);
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "bob", NULL, NULL, err, sizeof err), GK_ENOTFOUND);
    CHECK_EQ_INT(mqtt_passwd_hash("one", 1000, h, sizeof h), 0);
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "bob", h, NULL, err, sizeof err), 0);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    write_text(path, "# keep me\nbob:$7$1$AAAA$AAAA\nalice:x\nbob:dup"); /* no final newline */
    chmod(path, 0640);
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "bob", h, NULL, err, sizeof err), 0);
    char want[512];
    snprintf(want, sizeof want, "# keep me\nbob:%s\nalice:x\n", h);
    CHECK_EQ_STR(read_text(path), want);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "carol", h, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "bob", NULL, NULL, err, sizeof err), 0);
    snprintf(want, sizeof want, "# keep me\nalice:x\ncarol:%s\n", h);
    CHECK_EQ_STR(read_text(path), want);
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "bob", NULL, NULL, err, sizeof err), GK_ENOTFOUND);
    CHECK(strstr(err, "no user \"bob\"") != NULL);
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "a:b", h, NULL, err, sizeof err), GK_EINVAL);
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "#a", h, NULL, err, sizeof err), GK_EINVAL);
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "", h, NULL, err, sizeof err), GK_EINVAL);
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "a\nb", h, NULL, err, sizeof err), GK_EINVAL);
    /* the role field: set, kept by a new password, replaced, refused */
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "carol", h, "admin", err, sizeof err), 0);
    snprintf(want, sizeof want, "# keep me\nalice:x\ncarol:%s:admin\n", h);
    CHECK_EQ_STR(read_text(path), want);
    write_text(path, "carol:old:admin \r\n");
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "carol", h, NULL, err, sizeof err), 0);
    snprintf(want, sizeof want, "carol:%s:admin\n", h);
    CHECK_EQ_STR(read_text(path), want);
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "carol", h, "viewer", err, sizeof err), 0);
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "dave", h, "admin", err, sizeof err), 0);
    snprintf(want, sizeof want, "carol:%s:viewer\ndave:%s:admin\n", h, h);
    CHECK_EQ_STR(read_text(path), want);
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "carol", h, "root", err, sizeof err), GK_EINVAL);
    CHECK(strstr(err, "invalid role") != NULL);
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "carol", NULL, "admin", err, sizeof err), 0);
    snprintf(want, sizeof want, "dave:%s:admin\n", h);
    CHECK_EQ_STR(read_text(path), want);
    snprintf(path, sizeof path, "%s/no/such/dir/pw", dir);
    CHECK_EQ_INT(mqtt_passwd_file_set(path, "bob", h, NULL, err, sizeof err), GK_EIO);
    snprintf(path, sizeof path, "%s/pw", dir);
    unlink(path);
    CHECK_EQ_INT(rmdir(dir), 0); /* no temporary file left behind */
}

/* ---- ACL ------------------------------------------------------------------ */

static struct mqtt_acl *acl_parse(const char *text)
{
    struct mqtt_acl *a = NULL;
    char err[256] = "";
    if (mqtt_acl_parse(&a, text, strlen(text), "acl", err, sizeof err))
        fprintf(stderr, "unexpected: %s\n", err);
    return a;
}

struct acl_case {
    const char *user, *cid, *topic;
    int access;
    bool want;
};

static void run_cases(const struct mqtt_acl *a, const struct acl_case *c, size_t n, bool filter)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(c[i].topic);
        bool got =
            filter ? mqtt_acl_allows_filter(a, c[i].user, c[i].cid, c[i].topic, len, c[i].access)
                   : mqtt_acl_allows(a, c[i].user, c[i].cid, c[i].topic, len, c[i].access);
        if (got != c[i].want)
            fprintf(stderr, "case %zu: %s %s %s access %d: got %d\n", i,
                    c[i].user ? c[i].user : "(anon)", c[i].cid ? c[i].cid : "(none)", c[i].topic,
                    c[i].access, got);
        CHECK(got == c[i].want);
    }
}

#define R                           MQTT_ACL_READ
#define W                           MQTT_ACL_WRITE
#define RW                          (MQTT_ACL_READ | MQTT_ACL_WRITE)
#define RUN_CASES(a, cases, filter) run_cases(a, cases, sizeof cases / sizeof cases[0], filter)

static const char acl_text[] = "# anonymous clients\n"
                               "topic read public/#\n"
                               "topic deny public/secret\n"
                               "\n"
                               "user alice\n"
                               "topic sensors/+/data\n"
                               "topic write alice/out\n"
                               "topic deny sensors/lab/data\n"
                               "user bob\n"
                               "  topic read sensors/#\n"
                               "topic read #\n"
                               "topic readwrite a b/c d\n"
                               "user alice\n"
                               "topic read extra/%u\n"
                               "\n"
                               "pattern read clients/%c/#\n"
                               "pattern readwrite users/%u/#\n"
                               "pattern write %u/status\n";

static void test_acl_topics(void)
{
    static const struct acl_case cases[] = {
        {NULL, "c1", "public/news", R, true},
        {NULL, "c1", "public/news", W, false},
        {NULL, "c1", "public/secret", R, false}, /* deny wins */
        {NULL, "c1", "sensors/a/data", R, false},
        {"alice", "c1", "sensors/a/data", R, true},
        {"alice", "c1", "sensors/a/data", W, true}, /* readwrite when omitted */
        {"alice", "c1", "sensors/a/data", RW, true},
        {"alice", "c1", "sensors/lab/data", R, false}, /* deny in the user block */
        {"alice", "c1", "sensors/a/other", R, false},
        {"alice", "c1", "alice/out", W, true},
        {"alice", "c1", "alice/out", R, false},
        {"alice", "c1", "extra/%u", R, true}, /* second block merged; %u literal in topic */
        {"alice", "c1", "extra/alice", R, false},
        {"alice", "c1", "public/news", R, false},   /* anonymous rules are not alice's */
        {"bob", "c1", "sensors/lab/data", R, true}, /* alice's deny is not bob's */
        {"bob", "c1", "sensors/x", W, false},
        {"bob", "c1", "anything/at/all", R, true},
        {"bob", "c1", "$SYS/broker/load", R, false}, /* '#' does not reach '$' topics */
        {"bob", "c1", "a b/c d", W, true},
        {"carol", "c1", "sensors/a/data", R, false}, /* no block: patterns only */
        {"carol", "c9", "clients/c9/in", R, true},
        {"carol", "c9", "clients/c9/in", W, false},
        {"carol", "c9", "clients/c8/in", R, false},
        {"carol", "c9", "users/carol/x/y", RW, true},
        {"carol", "c9", "users/carol", R, true},
        {"carol", "c9", "users/carolx/y", R, false},
        {"carol", "c9", "carol/status", W, true},
        {"carol", "c9", "carol/status", R, false},
        {NULL, "c9", "clients/c9/in", R, true}, /* %c applies to anonymous clients */
        {NULL, "c9", "users/c9/x", R, false},   /* %u does not */
        {NULL, NULL, "clients/c9/in", R, false},
        {"alice", "c1", "public/news", 0, false}, /* no such access */
        {"alice", "c1", "sensors/a/data", 4, false},
        {"alice", "c1", "", R, false},
    };
    struct mqtt_acl *a = acl_parse(acl_text);
    CHECK(a != NULL);
    if (!a) return;
    RUN_CASES(a, cases, false);
    mqtt_acl_free(a);
}

static void test_acl_filters(void)
{
    static const struct acl_case cases[] = {
        {"alice", "c1", "sensors/+/data", R, true},
        {"alice", "c1", "sensors/x/data", R, true},
        {"alice", "c1", "sensors/#", R, false}, /* the rule covers only part of it */
        {"alice", "c1", "sensors/+/+", R, false},
        {"alice", "c1", "sensors/+", R, false},
        {"alice", "c1", "+/+/data", R, false},
        {"alice", "c1", "sensors/lab/data", R, false}, /* denied outright */
        {"bob", "c1", "sensors/#", R, true},
        {"bob", "c1", "sensors/+/data", R, true},
        {"bob", "c1", "sensors", R, true}, /* sensors/# matches "sensors" too */
        {"bob", "c1", "#", R, true},
        {"bob", "c1", "$SYS/#", R, false},
        {"carol", "c9", "users/carol/#", R, true},
        {"carol", "c9", "users/+/#", R, false},
        {"carol", "c9", "users/#", R, false},
        {"carol", "c9", "clients/c9/+", R, true},
        {NULL, "c1", "public/#", R, true}, /* public/secret is refused at delivery */
        {NULL, "c1", "public/secret", R, false},
    };
    struct mqtt_acl *a = acl_parse(acl_text);
    CHECK(a != NULL);
    if (!a) return;
    RUN_CASES(a, cases, true);
    mqtt_acl_free(a);
}

static void test_acl_filter_cover_rules(void)
{
    static const struct acl_case cases[] = {
        {"u", NULL, "a/x", R, true},     {"u", NULL, "+/x", R, true},
        {"u", NULL, "+/+", R, false},    {"u", NULL, "#", R, false},
        {"u", NULL, "+/x/#", R, false},  {"u", NULL, "$SYS/x", R, false},
        {"u", NULL, "x", R, false},      {"u", NULL, "p/q", R, true},
        {"u", NULL, "p", R, true},       {"u", NULL, "p/#", R, true},
        {"u", NULL, "p/+/z", R, true},   {"u", NULL, "+/q", R, false},
        {"u", NULL, "$SYS/x", R, false}, {"u", NULL, "$SYS/broker/+", R, true},
        {"u", NULL, "$SYS/#", R, false}, {"u", NULL, "$SYS", R, false},
    };
    struct mqtt_acl *a = acl_parse("user u\ntopic read +/x\ntopic read p/#\n"
                                   "topic read $SYS/broker/#\n");
    if (!a) return;
    RUN_CASES(a, cases, true);
    mqtt_acl_free(a);
}

/* A user name or client id with '/', '+' or '#' must not widen a pattern. */
static void test_acl_injection_guard(void)
{
    static const struct acl_case allow_cases[] = {
        {"a", "c", "users/a/x", R, true},      {"a/#", "c", "users/a/x", R, false},
        {"a/#", "c", "users/a/#/x", R, false}, {"a/b", "c", "users/a/b/c", R, false},
        {"+", "c", "users/x/y", R, false},     {"", "c", "users//y", R, false},
        {"a", "x/#", "clients/x/y", R, false}, {"a", "+", "clients/z/y", R, false},
        {"a", "c", "clients/c/y", R, true},
    };
    static const struct acl_case filter_cases[] = {
        {"+", "c", "users/+/#", R, false},
        {"#", "c", "users/#", R, false},
        {"a", "c", "users/a/#", R, true},
    };
    struct mqtt_acl *a = acl_parse("pattern read users/%u/#\npattern read clients/%c/#\n");
    if (!a) return;
    RUN_CASES(a, allow_cases, false);
    RUN_CASES(a, filter_cases, true);
    mqtt_acl_free(a);
}

/* A client id "$SYS" must not turn "%c/#" into "$SYS/#". */
static void test_acl_dollar_first_level(void)
{
    static const struct acl_case cases[] = {
        {"u", "$SYS", "$SYS/broker/load", W, false},
        {"u", "c1", "c1/x", W, true},
        {"$u", "c1", "in/$u", R, true}, /* '$' is harmless further down */
        {"$u", "c1", "$u/x", W, false},
    };
    struct mqtt_acl *a = acl_parse("pattern readwrite %c/#\npattern read in/%u\n"
                                   "pattern write %u/x\n");
    if (!a) return;
    RUN_CASES(a, cases, false);
    mqtt_acl_free(a);
}

/* A deny pattern whose substitution is refused denies (fails closed). */
static void test_acl_deny_pattern_fails_closed(void)
{
    static const struct acl_case cases[] = {
        {"a", "c", "x/y", R, true},      {"a", "c", "a/locked", W, false},
        {"a/b", "c", "x/y", R, false},   {NULL, "c", "x/y", R, true},
        {"b", "c", "a/locked", W, true},
    };
    struct mqtt_acl *a = acl_parse("topic read #\nuser a\ntopic #\nuser a/b\ntopic #\n"
                                   "user b\ntopic #\npattern deny %u/locked\n");
    if (!a) return;
    RUN_CASES(a, cases, false);
    mqtt_acl_free(a);
}

static void test_acl_long_substitution(void)
{
    static char cid[MQTT_ACL_SUBST_MAX + 10], topic[MQTT_ACL_SUBST_MAX + 40];
    memset(cid, 'c', sizeof cid - 1);
    snprintf(topic, sizeof topic, "clients/%s/x", cid);
    struct mqtt_acl *a = acl_parse("pattern read clients/%c/#\n");
    if (!a) return;
    CHECK(!mqtt_acl_allows(a, "u", cid, topic, strlen(topic), R));
    cid[100] = '\0';
    snprintf(topic, sizeof topic, "clients/%s/x", cid);
    CHECK(mqtt_acl_allows(a, "u", cid, topic, strlen(topic), R));
    mqtt_acl_free(a);
}

static void test_acl_malformed(void)
{
    static const struct {
        const char *text, *err;
    } cases[] = {
        {"bogus x\n", "acl:1: unknown keyword (expected user, topic or pattern)"},
        {"# c\n\ntopic\n", "acl:3: missing topic pattern"},
        {"topic read\n", "acl:1: missing topic pattern"},
        {"topic deny   \n", "acl:1: missing topic pattern"},
        {"user\n", "acl:1: missing user name"},
        {"topic a/#/b\n", "acl:1: not a valid topic filter"},
        {"topic read a+\n", "acl:1: not a valid topic filter"},
        {"user x\ntopic read ok\npattern read a/x%u/b\n",
         "acl:3: %u and %c must be a whole topic level"},
        {"pattern %c%u\n", "acl:1: %u and %c must be a whole topic level"},
        {"topics read a\n", "acl:1: unknown keyword"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mqtt_acl *a = (struct mqtt_acl *)1;
        char err[256] = "";
        CHECK_EQ_INT(
            mqtt_acl_parse(&a, cases[i].text, strlen(cases[i].text), "acl", err, sizeof err),
            GK_ECONFIG);
        CHECK(a == NULL);
        if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
            fprintf(stderr, "case %zu: got \"%s\", want \"%s\"\n", i, err, cases[i].err);
        CHECK(strncmp(err, cases[i].err, strlen(cases[i].err)) == 0);
    }
    struct mqtt_acl *a;
    char err[256];
    static char long_pattern[MQTT_ACL_PATTERN_MAX + 20];
    memset(long_pattern, 'x', sizeof long_pattern - 1);
    memcpy(long_pattern, "pattern %u/", 11);
    CHECK_EQ_INT(mqtt_acl_parse(&a, long_pattern, strlen(long_pattern), "acl", err, sizeof err),
                 GK_ECONFIG);
}

/* mqtt_acl_user_grants: only `topic` lines of the user's own block grant;
 * patterns, the anonymous block and other users' blocks do not; denies win. */
static void test_acl_user_grants(void)
{
    struct mqtt_acl *a = acl_parse("topic write pi/1\n"
                                   "pattern write %u/alerts\n"
                                   "pattern readwrite pi/#\n"
                                   "user ops\n"
                                   "topic write pi/1\n"
                                   "topic read pi/2\n"
                                   "topic readwrite alerts/#\n"
                                   "topic deny alerts/locked\n"
                                   "user dev\n"
                                   "topic read #\n");
    CHECK(a != NULL);
    if (!a) return;
    CHECK(mqtt_acl_user_grants(a, "ops", "pi/1", 4, W));
    CHECK(!mqtt_acl_user_grants(a, "ops", "pi/2", 4, W));           /* read only */
    CHECK(mqtt_acl_user_grants(a, "ops", "alerts/x", 8, W));        /* readwrite */
    CHECK(!mqtt_acl_user_grants(a, "ops", "alerts/locked", 13, W)); /* deny wins */
    CHECK(!mqtt_acl_user_grants(a, "ops", "ops/alerts", 10, W));    /* a pattern is not a grant */
    CHECK(!mqtt_acl_user_grants(a, "dev", "pi/1", 4, W));    /* the pattern allows, no grant */
    CHECK(mqtt_acl_allows(a, "dev", "c", "pi/1", 4, W));     /* ... though the ACL allows it */
    CHECK(!mqtt_acl_user_grants(a, NULL, "pi/1", 4, W));     /* the anonymous block never */
    CHECK(!mqtt_acl_user_grants(a, "nobody", "pi/1", 4, W)); /* no block */
    CHECK(!mqtt_acl_user_grants(NULL, "ops", "pi/1", 4, W)); /* no file */
    CHECK(!mqtt_acl_user_grants(a, "ops", "", 0, W));
    mqtt_acl_free(a);
}

static void test_acl_load(void)
{
    char *dir = tmp_dir(), path[128], err[256] = "";
    struct mqtt_acl *a;
    if (!dir) return;
    snprintf(path, sizeof path, "%s/acl", dir);
    CHECK_EQ_INT(mqtt_acl_load(&a, path, err, sizeof err), GK_ENOTFOUND);
    write_text(path, "user u\r\ntopic read t/#\r\n");
    CHECK_EQ_INT(mqtt_acl_load(&a, path, err, sizeof err), 0);
    if (a) CHECK(mqtt_acl_allows(a, "u", "c", "t/1", 3, MQTT_ACL_READ));
    mqtt_acl_free(a);
    write_text(path, "user u\nwrong\n");
    CHECK_EQ_INT(mqtt_acl_load(&a, path, err, sizeof err), GK_ECONFIG);
    char want[300];
    snprintf(want, sizeof want, "%s:2: unknown keyword (expected user, topic or pattern)", path);
    CHECK_EQ_STR(err, want);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    RUN(test_hash_round_trip);
    RUN(test_hash_errors);
    RUN(test_python_vector);
    RUN(test_mosquitto_passwd_line);
    RUN(test_unknown_user);
    RUN(test_unknown_user_costs_pbkdf2);
    RUN(test_unknown_user_no_majority);
    RUN(test_passwd_malformed);
    RUN(test_passwd_roles);
    RUN(test_passwd_duplicate_and_nul);
    RUN(test_passwd_load);
    RUN(test_passwd_file_set);
    RUN(test_acl_topics);
    RUN(test_acl_filters);
    RUN(test_acl_filter_cover_rules);
    RUN(test_acl_injection_guard);
    RUN(test_acl_dollar_first_level);
    RUN(test_acl_deny_pattern_fails_closed);
    RUN(test_acl_long_substitution);
    RUN(test_acl_malformed);
    RUN(test_acl_user_grants);
    RUN(test_acl_load);
    TEST_MAIN_END();
}
