/* test.h: the unit-test harness shared by tests/unit.
 *
 * A test file defines `static void test_x(void)` functions and lists them in
 * main() with RUN(test_x). CHECK() records a failure with file and line and
 * goes on; TEST_MAIN_END prints the closing line "N passed, N failed" and
 * exits non-zero when anything failed. */
#ifndef GASKET_TEST_H
#define GASKET_TEST_H

#include <stdio.h>
#include <string.h>

static int test_passed, test_failed, test_cur_failed;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
            test_cur_failed++;                                               \
        }                                                                    \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                   \
    do {                                                                     \
        long long a_ = (long long)(a), b_ = (long long)(b);                  \
        if (a_ != b_) {                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", \
                    __FILE__, __LINE__, #a, #b, a_, b_);                     \
            test_cur_failed++;                                               \
        }                                                                    \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                   \
    do {                                                                     \
        const char *a_ = (a), *b_ = (b);                                     \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", \
                    __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)",          \
                    b_ ? b_ : "(null)");                                     \
            test_cur_failed++;                                               \
        }                                                                    \
    } while (0)

#define RUN(fn)                                                              \
    do {                                                                     \
        test_cur_failed = 0;                                                 \
        fn();                                                                \
        if (test_cur_failed) {                                               \
            test_failed++;                                                   \
            fprintf(stderr, "FAIL %s\n", #fn);                               \
        } else {                                                             \
            test_passed++;                                                   \
        }                                                                    \
    } while (0)

#define TEST_MAIN_END()                                                      \
    do {                                                                     \
        printf("%s: %d passed, %d failed\n", __FILE__, test_passed,          \
               test_failed);                                                 \
        return test_failed ? 1 : 0;                                          \
    } while (0)

#endif
