/* reading_text.c: the checks on the text of a reading's members (see
 * reading_text.h): numeric strings, positions, times, and the text form of a
 * numeric groupid. */
#include "gateway/reading_text.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dec.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Reads a plain decimal number ([+-]digits[.digits][e[+-]digits]) at s: no
 * hex, inf or nan, finite. Sets *end past it; returns 0 or -1. */
static int parse_decimal(const char *s, const char **end, double *out)
{
    const char *p = s + (*s == '+' || *s == '-');
    size_t digits = strspn(p, "0123456789");
    p += digits;
    if (*p == '.') {
        size_t frac = strspn(p + 1, "0123456789");
        digits += frac;
        p += 1 + frac;
    }
    if (digits == 0) return -1;
    if (*p == 'e' || *p == 'E') {
        const char *x = p + 1 + (p[1] == '+' || p[1] == '-');
        size_t exp = strspn(x, "0123456789");
        if (exp) p = x + exp;
    }
    *end = p;
    if (dec_read(s, (size_t)(p - s), out)) return 0;
    char *stop;
    *out = strtod(s, &stop);
    return stop == p && isfinite(*out) ? 0 : -1;
}

int reading_value_text(const char *s, double *out)
{
    const char *end;
    while (is_space(*s))
        s++;
    if (parse_decimal(s, &end, out) < 0) return -1;
    while (is_space(*end))
        end++;
    return *end == '\0' ? 0 : -1;
}

int reading_gps_text(const char *s, double *lat, double *lon)
{
    const char *p = s + strspn(s, " \t");
    if (parse_decimal(p, &p, lat) < 0) return -1;
    p += strspn(p, " \t");
    if (*p++ != ',') return -1;
    p += strspn(p, " \t");
    if (parse_decimal(p, &p, lon) < 0) return -1;
    p += strspn(p, " \t");
    return *p == '\0' ? 0 : -1;
}

/* Reads exactly n digits at *p; returns the value or -1. */
static int take_digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9') return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return v;
}

/* Reads n digits, then `sep` unless it is 0; -1 if either is missing. Never
 * moves *p past the terminating NUL. */
static int field_at(const char **p, int n, char sep)
{
    int v = take_digits(p, n);
    if (v < 0 || (sep && **p != sep)) return -1;
    if (sep) (*p)++;
    return v;
}

/* 1 when y-m-d (y from 1 to 9999) is a real date of the proleptic
 * Gregorian calendar, datetime's civil calendar. */
static int real_date(int y, int m, int d)
{
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1) return 0;
    int leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    return d <= mdays[m - 1] + (m == 2 && leap);
}

/* The ISO 8601 tail after the seconds: [.fraction][Z|+HH:MM|-HH:MM]. */
static int parse_iso_tail(const char *p)
{
    if (*p == '.') {
        size_t n = strspn(++p, "0123456789");
        if (n < 1 || n > 9) return -1;
        p += n;
    }
    if (*p == 'Z') return p[1] == '\0' ? 0 : -1;
    if (*p == '\0') return 0;
    if (*p != '+' && *p != '-') return -1;
    p++;
    int hh = field_at(&p, 2, ':'), mm = field_at(&p, 2, 0);
    return hh >= 0 && hh <= 23 && mm >= 0 && mm <= 59 && *p == '\0' ? 0 : -1;
}

int reading_time_text(const char *s)
{
    const char *p = s;
    int y = field_at(&p, 4, '-'), mo = field_at(&p, 2, '-'), d = field_at(&p, 2, 0);
    char sep = *p;
    if (y < 1 || !real_date(y, mo, d)) return -1;
    if (sep != ' ' && sep != 'T') return -1;
    p++;
    int h = field_at(&p, 2, ':'), mi = field_at(&p, 2, ':'), sec = field_at(&p, 2, 0);
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) return -1;
    return sep == ' ' ? (*p == '\0' ? 0 : -1) : parse_iso_tail(p);
}

void reading_real_text(double d, char *out, size_t cap)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, d);
        if (strtod(out, NULL) == d) return;
    }
}
