/* Unit tests for core/log.c: control characters in a message are escaped. */
#include "core/log.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static void test_escape(void)
{
    char out[64];
    CHECK_EQ_INT(log_escape(out, sizeof out, "plain text", 10), 10);
    CHECK_EQ_STR(out, "plain text");
    log_escape(out, sizeof out, "a\nb\rc\td\x1b[31m\x7f\x01", 14);
    CHECK_EQ_STR(out, "a\\nb\\rc\\td\\x1b[31m\\x7f\\x01");
    log_escape(out, sizeof out, "nul\0x", 5);
    CHECK_EQ_STR(out, "nul\\x00x");
    log_escape(out, sizeof out, "caf\xc3\xa9", 5); /* UTF-8 passes */
    CHECK_EQ_STR(out, "caf\xc3\xa9");
}

/* An escape that does not fit is left out whole. */
static void test_escape_truncates_whole(void)
{
    char out[6];
    CHECK_EQ_INT(log_escape(out, sizeof out, "abc\x01", 4), 3);
    CHECK_EQ_STR(out, "abc");
    CHECK_EQ_INT(log_escape(out, sizeof out, "ab\n", 3), 4);
    CHECK_EQ_STR(out, "ab\\n");
}

/* A log line holding a client value with a newline stays one line. */
static void test_log_line_is_one_line(void)
{
    int fds[2], saved = dup(STDERR_FILENO);
    CHECK(pipe(fds) == 0);
    dup2(fds[1], STDERR_FILENO);
    log_set_level(LOG_INFO);
    log_info("client id %s", "evil\n2026-01-01T00:00:00.000Z error forged");
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    char buf[512];
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    CHECK(n > 0);
    buf[n > 0 ? n : 0] = '\0';
    CHECK(strstr(buf, "evil\\n2026-01-01T00:00:00.000Z error forged\n") != NULL);
    CHECK(strchr(buf, '\n') == buf + n - 1);
}

int main(void)
{
    RUN(test_escape);
    RUN(test_escape_truncates_whole);
    RUN(test_log_line_is_one_line);
    TEST_MAIN_END();
}
