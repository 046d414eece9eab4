/* json.c: JSON text with short numbers (see json.h). */
#include "core/json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dec.h"

/* The first of %.15g, %.16g and %.17g that reads back as d. */
static int real_text(char *tmp, size_t size, double d)
{
    int n = 0;
    for (int digits = 15; digits <= 17; digits++) {
        n = snprintf(tmp, size, "%.*g", digits, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    return n;
}

/* real_text's answer without printf for a d in [1e-4, 1e15) that a
 * decimal of at most 6 places and 15 digits reads back as (a reading, a
 * bucket's average of one): that decimal is what %.15g prints (a decimal
 * of up to 15 digits survives the trip to a double and back: DBL_DIG), in
 * the fixed notation %g uses there, with no trailing zeros. 0: not such a
 * d. */
static int short_text(char *tmp, double d)
{
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    double a = fabs(d);
    if (!(a >= 1e-4 && a < 1e15)) return 0;
    for (int k = 0; k <= 6; k++) {
        double s = a * p10[k];
        if (s >= 1e15) return 0;
        double r = nearbyint(s);
        /* far from a whole number: not k places (strtod alone decides) */
        if (fabs(s - r) > s * 1e-13 + 1e-9) continue;
        uint64_t m = (uint64_t)r, f10 = (uint64_t)p10[k];
        uint64_t ip = m / f10, fp = m % f10;
        char digits[24];
        int n = 0, nd = 0;
        if (d < 0) tmp[n++] = '-';
        do
            digits[nd++] = (char)('0' + ip % 10);
        while (ip /= 10);
        while (nd)
            tmp[n++] = digits[--nd];
        /* the smallest k that fits: fp ends in no 0, as %g drops them */
        if (k > 0) {
            tmp[n++] = '.';
            for (int i = k - 1; i >= 0; i--, fp /= 10)
                tmp[n + i] = (char)('0' + fp % 10);
            n += k;
        }
        tmp[n] = '\0';
        double back;
        if (!dec_read(tmp, (size_t)n, &back)) back = strtod(tmp, NULL);
        return back == d ? n : 0;
    }
    return 0;
}

#ifdef __SIZEOF_INT128__
/* round(m * 10^s / 2^p), ties to even: printf's rounding of the exact
 * binary value (m < 2^53, 10^s < 2^67, 1 <= p <= 66: no overflow); *fl:
 * the same, rounded down. */
static uint64_t scaled_round(uint64_t m, const unsigned __int128 p10s, int p, uint64_t *fl)
{
    unsigned __int128 num = (unsigned __int128)m * p10s, half = (unsigned __int128)1 << (p - 1);
    unsigned __int128 q = num >> p, r = num & (((unsigned __int128)1 << p) - 1);
    *fl = (uint64_t)q;
    if (r > half || (r == half && (q & 1))) q++;
    return (uint64_t)q;
}

/* real_text's answer (the first of %.15g, %.16g and %.17g that reads
 * back) without printf or strtod, for a d in [1e-4, 1e15): the binary
 * value is m * 2^-p exactly, so its N-digit decimal and the check that it
 * reads back are integer arithmetic in 128 bits. 0: not such a d, or an
 * answer %g would print in exponent notation. */
static int exact_text(char *tmp, double d)
{
    static const uint64_t pow10u[] = {1,
                                      10,
                                      100,
                                      1000,
                                      10000,
                                      100000,
                                      1000000,
                                      10000000,
                                      100000000,
                                      1000000000,
                                      10000000000ull,
                                      100000000000ull,
                                      1000000000000ull,
                                      10000000000000ull,
                                      100000000000000ull,
                                      1000000000000000ull,
                                      10000000000000000ull,
                                      100000000000000000ull,
                                      1000000000000000000ull,
                                      10000000000000000000ull};
    double a = fabs(d);
    if (!(a >= 1e-4 && a < 1e15)) return 0;
    int e2;
    double f = frexp(a, &e2); /* a = f * 2^e2, f in [0.5, 1) */
    uint64_t m = (uint64_t)ldexp(f, 53);
    int p = 53 - e2;              /* a = m * 2^-p, 1 <= p <= 66 here */
    int E = (int)floor(log10(a)); /* a guess: checked against the digits */
    for (int N = 15; N <= 17; N++) {
        uint64_t x = 0, fl;
        int e = E;
        for (int tries = 0; tries < 3; tries++) {
            int s = N - 1 - e;
            if (s < 0 || s > 20) return 0;
            unsigned __int128 p10s = (unsigned __int128)pow10u[s < 20 ? s : 19] * (s < 20 ? 1 : 10);
            x = scaled_round(m, p10s, p, &fl);
            /* e is right when the exact value has N digits before rounding */
            if (fl >= pow10u[N])
                e++;
            else if (fl < pow10u[N - 1])
                e--;
            else {
                if (dec_rounds_to(x, s, a) != 1) break;
                if (x == pow10u[N]) /* rounding carried into a new digit */
                    x = pow10u[N - 1], e++;
                if (e >= N || e < -4) return 0; /* %g would use an exponent */
                /* %g's fixed notation: N digits, the point after e + 1 of them,
                 * no trailing zeros */
                char dg[20];
                for (int i = N - 1; i >= 0; i--, x /= 10)
                    dg[i] = (char)('0' + x % 10);
                int nd = N;
                while (nd > 1 && dg[nd - 1] == '0')
                    nd--;
                int n = 0;
                if (d < 0) tmp[n++] = '-';
                if (e >= 0) {
                    for (int i = 0; i <= e; i++)
                        tmp[n++] = i < nd ? dg[i] : '0';
                    if (nd > e + 1) {
                        tmp[n++] = '.';
                        for (int i = e + 1; i < nd; i++)
                            tmp[n++] = dg[i];
                    }
                } else {
                    tmp[n++] = '0';
                    tmp[n++] = '.';
                    for (int i = 0; i < -e - 1; i++)
                        tmp[n++] = '0';
                    for (int i = 0; i < nd; i++)
                        tmp[n++] = dg[i];
                }
                tmp[n] = '\0';
                return n;
            }
        }
        E = e;
    }
    return 0;
}
#else
static int exact_text(char *tmp, double d)
{
    (void)tmp, (void)d;
    return 0; /* no 128-bit integers (32-bit targets): printf's path */
}
#endif

void json_write_real(struct buf *b, double d)
{
    char tmp[40];
    int n = short_text(tmp, d);
    if (n == 0) n = exact_text(tmp, d);
    if (n == 0) n = real_text(tmp, sizeof tmp, d);
    buf_append(b, tmp, (size_t)n);
    if (!strpbrk(tmp, ".eEn"))
        buf_puts(b, ".0"); /* 5.0 stays a real */
}

int json__real_text_printf(char *tmp, size_t size, double d)
{
    return real_text(tmp, size, d);
}

/* A string as jansson writes it: \" \\ \b \f \n \r \t, other control
 * bytes as \u00XX, everything else (UTF-8 included) as is. */
static void write_str(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    buf_reserve(b, n + 2);
    buf_putc(b, '"');
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        buf_append(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', (char)c};
        size_t len = 2;
        switch (c) {
        case '"': case '\\': break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            len = 6;
        }
        buf_append(b, esc, len);
    }
    buf_append(b, s + run, n - run);
    buf_putc(b, '"');
}

/* A line break and depth levels of indentation, when indenting. */
static void newline(struct buf *b, int flags, int depth)
{
    int step = JSON_WRITE_INDENT_OF(flags);
    if (!step)
        return;
    buf_putc(b, '\n');
    for (int i = 0; i < step * depth; i++)
        buf_putc(b, ' ');
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void write_value(struct buf *b, const json_t *v, int flags, int depth);

static void write_member(struct buf *b, const char *key, const json_t *m, int flags, int depth)
{
    write_str(b, key, strlen(key));
    buf_puts(b, JSON_WRITE_INDENT_OF(flags) ? ": " : ":");
    write_value(b, m, flags, depth + 1);
}

static void write_object(struct buf *b, const json_t *v, int flags, int depth)
{
    size_t n = json_object_size(v), i = 0;
    if (n == 0) {
        buf_puts(b, "{}");
        return;
    }
    buf_putc(b, '{');
    newline(b, flags, depth + 1);
    const char *key;
    json_t *m;
    const char **keys = (flags & JSON_WRITE_SORT_KEYS) ? malloc(n * sizeof *keys) : NULL;
    if (keys) {
        json_object_foreach((json_t *)v, key, m)
            keys[i++] = key;
        qsort(keys, n, sizeof *keys, cmp_keys);
        for (i = 0; i < n; i++) {
            if (i) {
                buf_putc(b, ',');
                newline(b, flags, depth + 1);
            }
            write_member(b, keys[i], json_object_get(v, keys[i]), flags, depth);
        }
        free(keys);
    } else { /* members in their order (also when the key list cannot be had) */
        json_object_foreach((json_t *)v, key, m) {
            if (i++) {
                buf_putc(b, ',');
                newline(b, flags, depth + 1);
            }
            write_member(b, key, m, flags, depth);
        }
    }
    newline(b, flags, depth);
    buf_putc(b, '}');
}

static void write_array(struct buf *b, const json_t *v, int flags, int depth)
{
    size_t i;
    json_t *m;
    if (json_array_size(v) == 0) {
        buf_puts(b, "[]");
        return;
    }
    buf_putc(b, '[');
    newline(b, flags, depth + 1);
    json_array_foreach((json_t *)v, i, m) {
        if (i) {
            buf_putc(b, ',');
            newline(b, flags, depth + 1);
        }
        write_value(b, m, flags, depth + 1);
    }
    newline(b, flags, depth);
    buf_putc(b, ']');
}

static void write_value(struct buf *b, const json_t *v, int flags, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        write_object(b, v, flags, depth);
        break;
    case JSON_ARRAY:
        write_array(b, v, flags, depth);
        break;
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if ((flags & JSON_WRITE_RAW_NUL) && n > 0 && s[0] == '\0')
            buf_append(b, s + 1, n - 1);
        else
            write_str(b, s, n);
        break;
    }
    case JSON_INTEGER:
        buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        json_write_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        buf_puts(b, "true");
        break;
    case JSON_FALSE:
        buf_puts(b, "false");
        break;
    case JSON_NULL:
        buf_puts(b, "null");
        break;
    }
}

void json_write(struct buf *b, const json_t *v, int flags)
{
    write_value(b, v, flags, 0);
}

char *json_text(const json_t *v, int flags)
{
    if (!v)
        return NULL;
    struct buf b = {0};
    json_write(&b, v, flags);
    return buf_steal(&b);
}
