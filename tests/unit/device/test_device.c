/* Unit tests for src/device: kvfile (pairs, comments, errors with the
 * line, paths relative to the file), cmdline (quotes, and shell syntax
 * kept as plain words), alert (the kinds gasketd publishes, and whatever
 * else arrives). */
#include "core/err.h"
#include "device/alert.h"
#include "device/cmdline.h"
#include "device/kvfile.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

static const char *write_tmp(const char *text)
{
    static const char path[] = "/tmp/gasket-test-kvfile.conf";
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_kvfile(void)
{
    struct kvfile f;
    char err[600];
    const char *p = write_tmp("# comment\n; other\n\nhost = pi.example \ntopic=a\ntopic = b/c\n"
                              "cafile = ca.pem\ncert = /etc/x.pem\nempty =\n");
    CHECK_EQ_INT(kvfile_load(&f, p, err, sizeof err), 0);
    CHECK_EQ_INT(f.n, 6);
    CHECK_EQ_STR(kvfile_get(&f, "host"), "pi.example");
    CHECK_EQ_STR(kvfile_get(&f, "topic"), "b/c");
    CHECK_EQ_STR(kvfile_get(&f, "empty"), "");
    CHECK(kvfile_get(&f, "port") == NULL);
    CHECK_EQ_INT(f.v[2].line, 6);
    char *ca = kvfile_path(&f, "ca.pem"), *abs = kvfile_path(&f, "/etc/x.pem");
    CHECK_EQ_STR(ca, "/tmp/ca.pem");
    CHECK_EQ_STR(abs, "/etc/x.pem");
    free(ca), free(abs);
    kvfile_free(&f);
    p = write_tmp("host = a\nno pair here\n");
    CHECK_EQ_INT(kvfile_load(&f, p, err, sizeof err), GK_EINVAL);
    CHECK(strstr(err, "kvfile.conf:2: expected key = value") != NULL);
    p = write_tmp("= value\n");
    CHECK_EQ_INT(kvfile_load(&f, p, err, sizeof err), GK_EINVAL);
    CHECK_EQ_INT(kvfile_load(&f, "/nonexistent/x.conf", err, sizeof err), GK_ENOTFOUND);
    remove(p);
}

static void split_is(const char *cmd, const char *const *want)
{
    char **v, err[128];
    CHECK_EQ_INT(cmdline_split(cmd, &v, err, sizeof err), 0);
    size_t i = 0;
    for (; want[i] && v[i]; i++)
        CHECK_EQ_STR(v[i], want[i]);
    CHECK(want[i] == NULL && v[i] == NULL);
    cmdline_free(v);
}

static void test_cmdline(void)
{
    split_is("  buzzer --beep 3 ", (const char *const[]){"buzzer", "--beep", "3", NULL});
    split_is("sh -c 'echo \"$GASKET_TEXT\" >> log'",
             (const char *const[]){"sh", "-c", "echo \"$GASKET_TEXT\" >> log", NULL});
    split_is("a\"b c\"d 'e f' g\\ h \"\\$x \\\\ \\n\"",
             (const char *const[]){"ab cd", "e f", "g h", "$x \\ \\n", NULL});
    split_is("echo $(touch x); rm `y`",
             (const char *const[]){"echo", "$(touch", "x);", "rm", "`y`", NULL});
    char **v, err[128];
    CHECK_EQ_INT(cmdline_split("echo 'open", &v, err, sizeof err), GK_EINVAL);
    CHECK(strstr(err, "unclosed '") != NULL);
    CHECK_EQ_INT(cmdline_split("echo \"open", &v, err, sizeof err), GK_EINVAL);
    CHECK_EQ_INT(cmdline_split("   ", &v, err, sizeof err), GK_EINVAL);
    CHECK(strstr(err, "empty") != NULL);
}

static void test_alert(void)
{
    char text[32];
    const char *w = "{\"warning\":\"no2 warning\"}";
    CHECK_EQ_INT(alert_classify(w, strlen(w), text, sizeof text), ALERT_WARNING);
    CHECK_EQ_STR(text, "no2 warning");
    const char *a = "{\"alarm\":\"co alarm\",\"warning\":\"x\"}";
    CHECK_EQ_INT(alert_classify(a, strlen(a), text, sizeof text), ALERT_ALARM);
    CHECK_EQ_STR(text, "co alarm");
    const char *e = "{\"emergency\":\"emergency\"}";
    CHECK_EQ_INT(alert_classify(e, strlen(e), text, sizeof text), ALERT_EMERGENCY);
    CHECK_EQ_STR(alert_kind_name(ALERT_EMERGENCY), "emergency");
    const char *n = "{\"warning\":3}";
    CHECK_EQ_INT(alert_classify(n, strlen(n), text, sizeof text), ALERT_WARNING);
    CHECK_EQ_STR(text, "");
    const char *long_text = "{\"warning\":\"0123456789012345678901234567890123456789\"}";
    CHECK_EQ_INT(alert_classify(long_text, strlen(long_text), text, sizeof text), ALERT_WARNING);
    CHECK_EQ_INT(strlen(text), sizeof text - 1);
    const char *const none[] = {"{\"clear\":\"no2 clear\"}", "{\"msg\":\"success\"}", "warning",
                                "[\"warning\"]", "{\"warning\":", "", "{\"a\":1,\"a\":2}"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        CHECK_EQ_INT(alert_classify(none[i], strlen(none[i]), text, sizeof text), ALERT_NONE);
    CHECK_EQ_INT(alert_classify("{\"warning\":\"x\"}\0junk", 21, text, sizeof text), ALERT_NONE);
}

int main(void)
{
    RUN(test_kvfile);
    RUN(test_cmdline);
    RUN(test_alert);
    TEST_MAIN_END();
}
