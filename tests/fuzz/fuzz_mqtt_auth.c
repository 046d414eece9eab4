/* fuzz_mqtt_auth.c: libFuzzer target for mqtt/auth.c.
 *
 * The input is parsed as a password file and as an ACL file, with the pure
 * parsers (mqtt_passwd_parse, mqtt_acl_parse: the file loaders only read the
 * file first). When a table loads, it is checked with user names, client ids
 * and topics taken from the input's words and a few fixed hostile ones:
 *  - a user that cannot be in the file never passes mqtt_passwd_check;
 *  - for every valid topic name, mqtt_acl_allows and mqtt_acl_allows_filter
 *    agree (a name is a filter matching only itself);
 *  - a failed parse leaves *out NULL and an error "fuzz:LINE: ...".
 * Password checks are skipped when the input names more than 1000 PBKDF2
 * iterations anywhere or holds no user (an unknown user then costs the
 * default iterations), to keep executions fast. Leaks fail under the fuzzer.
 * Corpus: tests/fuzz/corpus/mqtt_auth (replayed by `make fuzz-replay`). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/auth.h"
#include "mqtt/topic.h"

#define MAX_WORDS 8
#define MAX_WORD  64

struct words {
    char w[MAX_WORDS][MAX_WORD + 1];
    int n;
};

/* Splits the input at blanks, ':' and '$' into at most MAX_WORDS words. */
static void split_words(const uint8_t *p, size_t n, struct words *ws)
{
    ws->n = 0;
    for (size_t i = 0; i < n && ws->n < MAX_WORDS;) {
        while (i < n && strchr(" \t\r\n:$", p[i]) && p[i])
            i++;
        size_t s = i;
        while (i < n && p[i] && !strchr(" \t\r\n:$", p[i]))
            i++;
        if (i > s && i - s <= MAX_WORD) {
            memcpy(ws->w[ws->n], p + s, i - s);
            ws->w[ws->n++][i - s] = '\0';
        }
        if (i < n && !p[i]) i++;
    }
}

/* The largest number following a "$7$" in the input. */
static unsigned long max_iterations(const uint8_t *p, size_t n)
{
    unsigned long max = 0;
    for (size_t i = 0; i + 3 < n; i++) {
        if (memcmp(p + i, "$7$", 3) != 0) continue;
        unsigned long v = 0;
        for (size_t j = i + 3; j < n && p[j] >= '0' && p[j] <= '9' && v < 100000000; j++)
            v = v * 10 + (p[j] - '0');
        if (v > max) max = v;
    }
    return max;
}

static void check_passwd(const uint8_t *data, size_t size, const struct words *ws)
{
    struct mqtt_passwd *p = (struct mqtt_passwd *)1;
    char err[256] = "";
    int rc = mqtt_passwd_parse(&p, (const char *)data, size, "fuzz", err, sizeof err);
    if (rc != 0) {
        if (p != NULL || strncmp(err, "fuzz:", 5) != 0) abort();
        return;
    }
    /* with no line, an unknown user costs MQTT_PASSWD_ITER_DEFAULT: skip */
    if (mqtt_passwd_count(p) > 0 && max_iterations(data, size) <= 1000) {
        static const char nobody[] = "#nobody:";
        if (mqtt_passwd_check(p, nobody, sizeof nobody - 1, "pw", 2)) abort();
        for (int i = 0; i < ws->n && i < 3; i++)
            mqtt_passwd_check(p, ws->w[i], strlen(ws->w[i]), ws->w[ws->n - 1],
                              strlen(ws->w[ws->n - 1]));
    }
    mqtt_passwd_free(p);
}

static void check_acl_topic(const struct mqtt_acl *a, const char *user, const char *cid,
                            const char *t)
{
    size_t len = strlen(t);
    for (int access = 1; access <= 3; access++) {
        bool f = mqtt_acl_allows_filter(a, user, cid, t, len, access);
        if (!mqtt_topic_valid_name(t, len, NULL)) continue;
        if (mqtt_acl_allows(a, user, cid, t, len, access) != f) abort();
    }
}

static void check_acl(const uint8_t *data, size_t size, const struct words *ws)
{
    struct mqtt_acl *a = (struct mqtt_acl *)1;
    char err[256] = "";
    if (mqtt_acl_parse(&a, (const char *)data, size, "fuzz", err, sizeof err) != 0) {
        if (a != NULL || strncmp(err, "fuzz:", 5) != 0) abort();
        return;
    }
    const char *users[] = {NULL, "", "a/#", ws->n > 1 ? ws->w[1] : "alice",
                           ws->n > 3 ? ws->w[3] : "bob"};
    const char *cids[] = {"c1", ws->n > 2 ? ws->w[2] : "+"};
    static const char *fixed[] = {"#", "+/+", "$SYS/x", "a/b", "sensors/x/data"};
    for (size_t u = 0; u < sizeof users / sizeof users[0]; u++) {
        for (size_t c = 0; c < sizeof cids / sizeof cids[0]; c++) {
            for (int i = 0; i < ws->n; i++)
                check_acl_topic(a, users[u], cids[c], ws->w[i]);
            for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
                check_acl_topic(a, users[u], cids[c], fixed[i]);
        }
    }
    mqtt_acl_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct words ws;
    if (size > 1 << 16) return 0;
    split_words(data, size, &ws);
    check_passwd(data, size, &ws);
    check_acl(data, size, &ws);
    return 0;
}
