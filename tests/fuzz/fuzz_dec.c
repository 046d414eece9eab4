/* fuzz_dec.c: libFuzzer target for core/dec.c, the decimal reader of
 * readings' values and positions (any text a device posts) and of JSON
 * numbers.
 *
 * The input is read three ways:
 * - as text, given exactly (over-reads are caught): when dec_read()
 *   answers, strtod reads the same text to its end and gives the same
 *   double bit for bit;
 * - as a decimal built from it, so that the long, 16-19 digit path is
 *   reached often: the bytes' digits in order (up to 19), a point after
 *   the digit count of the first byte, a sign and an exponent from two
 *   more bytes; the same check;
 * - as dec_rounds_to()'s arguments (x, k, d: d the double strtod reads for
 *   x * 10^-k): it must say 1 for d and 0 for each neighbour, or that it
 *   cannot tell (-1).
 * Any disagreement aborts. Corpus: tests/fuzz/corpus/dec (replayed by
 * `make fuzz-replay`). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dec.h"

static void same_as_strtod(const char *s, size_t n)
{
    double d;
    if (!dec_read(s, n, &d)) return;
    char *text = malloc(n + 1), *end;
    memcpy(text, s, n);
    text[n] = '\0';
    double want = strtod(text, &end);
    if (end != text + n || memcmp(&d, &want, sizeof d) != 0) {
        fprintf(stderr, "dec_read(\"%s\") = %.17g, strtod %.17g (read %zu of %zu bytes)\n", text, d,
                want, (size_t)(end - text), n);
        abort();
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    same_as_strtod(copy, size);
    free(copy);
    if (size < 3) return 0;

    char s[48];
    size_t n = 0, nd = 0;
    if (data[1] & 1) s[n++] = '-';
    size_t point = data[0] % 21;
    for (size_t i = 3; i < size && nd < 19; i++) {
        if (data[i] < '0' || data[i] > '9') continue;
        if (nd == point) s[n++] = '.';
        s[n++] = (char)data[i];
        nd++;
    }
    if (nd == 0) return 0;
    if (data[1] & 2) n += (size_t)snprintf(s + n, sizeof s - n, "e%d", (int)(int8_t)data[2] / 4);
    same_as_strtod(s, n);

    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] >= '0' && s[i] <= '9') x = x * 10 + (uint64_t)(s[i] - '0');
    int k = data[2] % 22;
    char t[64];
    snprintf(t, sizeof t, "%llue-%d", (unsigned long long)x, k);
    double want = strtod(t, NULL);
    int r = dec_rounds_to(x, k, want);
    if (r == 0 || (r == 1 && (dec_rounds_to(x, k, nextafter(want, 0)) == 1 ||
                              dec_rounds_to(x, k, nextafter(want, INFINITY)) == 1))) {
        fprintf(stderr, "dec_rounds_to(%s) disagrees with strtod (%.17g)\n", t, want);
        abort();
    }
    return 0;
}
