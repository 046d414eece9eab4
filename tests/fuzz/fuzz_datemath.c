/* fuzz_datemath.c: libFuzzer target for the text entry points of core/dt_*.c.
 *
 * The first byte picks the operation, the second a zone and round_up; the
 * rest is the text, passed with its exact length in a buffer of that size
 * (so an over-read is caught). Operations: dt_parse, dt_math (in UTC and in
 * loaded zones), dt_fixed_interval, dt_calendar_unit, dt_format_check (then
 * dt_format with the accepted pattern, which must fit in 64 bytes), and
 * tz_load on the text as a zone name. Results are checked for consistency:
 * a success writes a value inside the supported range, a failure writes a
 * reason naming the text, floors and next never move the wrong way, a
 * formatted default date of years 0..9999 parses back to the same instant
 * (up to the seconds of an LMT offset, which +HH:MM does not show).
 * Corpus: tests/fuzz/corpus/datemath (replayed by `make fuzz-replay`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/datetime.h"
#include "core/err.h"

#define LIMIT INT64_C(8000000000000000000)

static const char *const zone_names[] = {
    "UTC", "Europe/Berlin", "Asia/Seoul", "Australia/Lord_Howe", "America/New_York", "-05:30"};
static struct tz *zones[sizeof zone_names / sizeof zone_names[0]];

static void load_zones(void)
{
    char err[128];
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
        if (!zones[i] && tz_load(&zones[i], zone_names[i], strlen(zone_names[i]), err, sizeof err))
            abort();
}

/* A failure must say why, naming the text in brackets. */
static void check_fail(int rc, const char *err)
{
    if (rc != GK_EINVAL || !strchr(err, '[')) abort();
}

/* Buckets around ms (away from the ends of the range) must hold it. */
static void check_buckets(int64_t ms, const struct tz *z)
{
    const int64_t margin = 400LL * 86400000;
    if (ms < -LIMIT + margin || ms > LIMIT - margin) return;
    for (int u = DT_SECOND; u <= DT_YEAR; u++) {
        int64_t f = dt_floor(ms, (enum dt_unit)u, z);
        int64_t n = dt_next(f, (enum dt_unit)u, z);
        if (f > ms || n <= ms) abort();
    }
    if (dt_floor_fixed(ms, 3600000, z) > ms) abort();
}

static void op_parse(const char *s, size_t n, const struct tz *z)
{
    int64_t ms = 0, back = 0;
    char err[256] = "", out[64];
    int rc = dt_parse(s, n, z, &ms, err, sizeof err);
    if (rc) {
        check_fail(rc, err);
        return;
    }
    if (ms < -LIMIT || ms > LIMIT) abort();
    check_buckets(ms, z);
    int len = dt_format(ms, z, NULL, out, sizeof out, err, sizeof err);
    if (len < 0) abort();
    if (ms < -62167219200000 + 86400000 || ms > 253402300799999 - 86400000) return; /* 0..9999 */
    if (dt_parse(out, (size_t)len, tz_utc(), &back, err, sizeof err)) abort();
    /* the default format shows +HH:MM: an offset with seconds (LMT) loses them */
    if (back - ms != (int64_t)(tz_offset(z, ms) % 60) * 1000) abort();
}

static void op_math(const char *s, size_t n, const struct tz *z, int round_up)
{
    int64_t ms = 0;
    char err[256] = "";
    int rc = dt_math(s, n, 1630660489123, z, round_up, &ms, err, sizeof err);
    if (rc) {
        check_fail(rc, err);
        return;
    }
    if (ms < -LIMIT || ms > LIMIT) abort();
    check_buckets(ms, z);
}

static void op_intervals(const char *s, size_t n, const struct tz *z)
{
    int64_t iv = 0;
    enum dt_unit u;
    char err[256] = "";
    int rc = dt_fixed_interval(s, n, &iv, err, sizeof err);
    if (rc)
        check_fail(rc, err);
    else if (iv <= 0 || dt_floor_fixed(1630660489123, iv, z) > 1630660489123)
        abort();
    err[0] = '\0';
    rc = dt_calendar_unit(s, n, &u, err, sizeof err);
    if (rc)
        check_fail(rc, err);
    else if (u < DT_SECOND || u > DT_YEAR)
        abort();
}

static void op_format(const char *s, size_t n, const struct tz *z, int64_t ms)
{
    char *pat = malloc(n + 1), err[256] = "", out[64];
    memcpy(pat, s, n);
    pat[n] = '\0';
    int rc = dt_format_check(pat, err, sizeof err);
    if (rc) {
        check_fail(rc, err);
    } else {
        int len = dt_format(ms, z, pat, out, sizeof out, err, sizeof err);
        if (len < 0 || (size_t)len != strlen(out)) abort();
    }
    free(pat);
}

static void op_zone(const char *s, size_t n)
{
    struct tz *z = NULL;
    char err[256] = "";
    int rc = tz_load(&z, s, n, err, sizeof err);
    if (rc) {
        check_fail(rc, err);
        if (z) abort();
        return;
    }
    (void)tz_offset(z, 1630660489123);
    (void)tz_from_local(z, 1630660489123);
    check_buckets(1630660489123, z);
    tz_free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_zones();
    if (size < 2) return 0;
    uint8_t op = data[0], sel = data[1];
    size_t n = size - 2;
    char *s = malloc(n ? n : 1); /* exactly n bytes: ASan sees over-reads */
    memcpy(s, data + 2, n);
    const struct tz *z = zones[(sel & 0x7f) % (sizeof zones / sizeof zones[0])];
    switch (op % 6) {
    case 0:
        op_parse(s, n, z);
        break;
    case 1:
    case 2:
        op_math(s, n, op % 6 == 1 ? tz_utc() : z, sel >> 7);
        break;
    case 3:
        op_intervals(s, n, z);
        break;
    case 4:
        op_format(s, n, z, (int64_t)(sel * 977LL - 60000) * 86400000LL * 31);
        break;
    default:
        op_zone(s, n);
        break;
    }
    free(s);
    return 0;
}
