/* fuzz_tzif.c: libFuzzer target for core/tz_tzif.c, the TZif reader.
 *
 * The input is the raw bytes of a TZif file, handed to tz_parse_tzif in a
 * buffer of exactly that size (so an over-read is caught). A zone it accepts
 * is then exercised: offsets at instants across the table and the footer
 * rule, tz_from_local, calendar floors and fixed-interval floors, which must
 * contain their instant; offsets must stay within RFC 8536's bounds.
 * Corpus: tests/fuzz/corpus/tzif, a few small files from /usr/share/zoneinfo
 * (data) plus hand-made edge cases. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/datetime.h"
#include "core/err.h"

static const int64_t probes[] = {
    INT64_MIN,
    -2208988800000,
    -1,
    0,
    1616893200000,
    1635642000000,
    2082758400000,
    2208988800000,
    4102444800000,
    253402300799999,
    INT64_MAX,
};

static void exercise(const struct tz *z)
{
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        int64_t ms = probes[i];
        int32_t off = tz_offset(z, ms);
        if (off < -89999 || off > 93599) abort();
        (void)tz_from_local(z, ms);
        if (ms < -INT64_C(7000000000000000000) || ms > INT64_C(7000000000000000000)) continue;
        for (int u = DT_SECOND; u <= DT_YEAR; u++) {
            int64_t f = dt_floor(ms, (enum dt_unit)u, z);
            if (f > ms || dt_next(f, (enum dt_unit)u, z) <= ms) abort();
        }
        if (dt_floor_fixed(ms, 5400000, z) > ms) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *copy = malloc(size ? size : 1);
    struct tz *z = NULL;
    char err[256] = "";
    memcpy(copy, data, size);
    int rc = tz_parse_tzif(&z, "fuzz", copy, size, err, sizeof err);
    if (rc == 0) {
        exercise(z);
        tz_free(z);
    } else if (rc != GK_EINVAL || z || !strstr(err, "corrupt")) {
        abort();
    }
    free(copy);
    return 0;
}
