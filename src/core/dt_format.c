/* dt_format.c: formatting an instant in a zone with OpenSearch's default
 * format, its named formats or a small java.time pattern subset, and
 * checking a pattern once before a query runs. */
#include "core/datetime_int.h"

#include "core/err.h"

#include <stdio.h>
#include <string.h>

#define ISO_PATTERN "uuuu-MM-dd'T'HH:mm:ss.SSSXXX" /* date_optional_time */
#define FMT_MAX_OUT 63 /* dt_format_check admits patterns that fit 64 bytes */

/* The fields of the instant being formatted. */
struct fctx {
    int64_t y, epoch_ms;
    unsigned mo, d, h, mi, s, ms, dow, doy; /* dow 0 = Monday */
    int32_t off;
};

struct fout {
    char *p;
    size_t len, cap;
};

static void put(struct fout *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, o->len++)
        if (o->len + 1 < o->cap) o->p[o->len] = s[i];
}

/* v >= 0 with at least minw digits (written without snprintf: a
 * histogram's reply formats thousands of keys). */
static void put_num(struct fout *o, int64_t v, int minw)
{
    char buf[32], *p = buf + sizeof buf;
    uint64_t u = v < 0 ? 0 : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    while (buf + sizeof buf - p < minw && p > buf)
        *--p = '0';
    put(o, p, (size_t)(buf + sizeof buf - p));
}

static int num_digits(int64_t v)
{
    int n = 1;
    while (v >= 10)
        v /= 10, n++;
    return n;
}

static void put_year(struct fout *o, int64_t v, int cnt)
{
    if (cnt == 2) {
        put_num(o, floor_mod(v, 100), 2);
        return;
    }
    int64_t a = v < 0 ? -v : v;
    if (v < 0)
        put(o, "-", 1);
    else if (cnt >= 4 && num_digits(a) > cnt)
        put(o, "+", 1);
    put_num(o, a, cnt);
}

/* X/x/Z offsets: style 1 "+HH[MM]", 2 "+HHMM", 3 "+HH:MM"; zero as "Z" if z. */
static void put_offset(struct fout *o, int32_t off, int style, bool z)
{
    int32_t a = off < 0 ? -off : off;
    if (off == 0 && z) {
        put(o, "Z", 1);
        return;
    }
    put(o, off < 0 ? "-" : "+", 1);
    put_num(o, a / 3600, 2);
    if (style == 1 && (a / 60) % 60 == 0) return;
    if (style == 3) put(o, ":", 1);
    put_num(o, (a / 60) % 60, 2);
}

static const char *const month_names[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};
static const char *const day_names[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday"};

static void put_name(struct fout *o, const char *name, int cnt)
{
    put(o, name, cnt >= 4 ? strlen(name) : 3);
}

/* The largest count of each supported letter and its widest output. */
static bool letter_limits(char c, int cnt, size_t *maxw)
{
    static const struct {
        char c;
        int max;
        size_t w;
    } t[] = {{'y', 9, 10}, {'u', 9, 10}, {'M', 4, 9}, {'d', 2, 2}, {'D', 3, 3},
             {'H', 2, 2},  {'h', 2, 2},  {'m', 2, 2}, {'s', 2, 2}, {'S', 9, 9},
             {'E', 4, 9},  {'a', 1, 2},  {'X', 3, 6}, {'x', 3, 6}, {'Z', 5, 6}};
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
        if (t[k].c == c) {
            *maxw = t[k].w;
            return cnt <= t[k].max && !(c == 'Z' && cnt == 4);
        }
    return false;
}

static void put_fraction(struct fout *o, unsigned ms, int cnt)
{
    char buf[9] = {(char)('0' + ms / 100 % 10), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10),
                   '0', '0', '0', '0', '0', '0'};
    put(o, buf, (size_t)cnt);
}

static void put_letter(struct fout *o, char c, int cnt, const struct fctx *f)
{
    switch (c) {
    case 'y':
    case 'u':
        put_year(o, c == 'u' || f->y >= 1 ? f->y : 1 - f->y, cnt);
        break;
    case 'M':
        if (cnt >= 3)
            put_name(o, month_names[f->mo - 1], cnt);
        else
            put_num(o, f->mo, cnt);
        break;
    case 'E':
        put_name(o, day_names[f->dow], cnt);
        break;
    case 'a':
        put(o, f->h < 12 ? "AM" : "PM", 2);
        break;
    case 'S':
        put_fraction(o, f->ms, cnt);
        break;
    case 'X':
    case 'x':
        put_offset(o, f->off, cnt, c == 'X');
        break;
    case 'Z':
        put_offset(o, f->off, cnt == 5 ? 3 : 2, cnt == 5);
        break;
    default: {
        unsigned v = c == 'd'   ? f->d
                     : c == 'D' ? f->doy
                     : c == 'H' ? f->h
                     : c == 'm' ? f->mi
                     : c == 's' ? f->s
                                : (f->h % 12 ? f->h % 12 : 12);
        put_num(o, v, cnt);
    }
    }
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Walks a pattern: with f, writes it to o; without, only checks it and
 * adds its widest output to *maxw. NULL or the reason it is refused. */
static const char *fmt_walk(const char *p, size_t n, const struct fctx *f, struct fout *o,
                            size_t *maxw)
{
    size_t i = 0, w;
    while (i < n) {
        char c = p[i];
        if (c == '\'') {
            size_t j = i + 1;
            if (j < n && p[j] == '\'') { /* '' is a quote */
                f ? put(o, "'", 1) : (void)0;
                *maxw += 1;
                i = j + 1;
                continue;
            }
            for (; j < n && !(p[j] == '\'' && !(j + 1 < n && p[j + 1] == '\'')); j++) {
                if ((unsigned char)p[j] < 0x20 || (unsigned char)p[j] >= 0x7f)
                    return "unsupported character in quoted text";
                f ? put(o, p + j, 1) : (void)0;
                *maxw += 1;
                j += p[j] == '\'';
            }
            if (j >= n) return "unterminated quoted text";
            i = j + 1;
        } else if (is_alpha(c) && c != 'T') {
            int cnt = 1;
            while (i + cnt < n && p[i + cnt] == c)
                cnt++;
            if (!letter_limits(c, cnt, &w)) return "unsupported pattern letters";
            if (f) put_letter(o, c, cnt, f);
            *maxw += w > (size_t)cnt ? w : (size_t)cnt;
            i += (size_t)cnt;
        } else {
            if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f || strchr("[]{}#", c))
                return "unsupported character";
            f ? put(o, p + i, 1) : (void)0;
            *maxw += 1;
            i++;
        }
    }
    return n ? NULL : "empty pattern";
}

/* OpenSearch's named formats that map onto a pattern. */
static const char *named_pattern(const char *s, size_t n)
{
    static const char *const t[][2] = {
        {"date_optional_time", ISO_PATTERN},
        {"date_time", "uuuu-MM-dd'T'HH:mm:ss.SSSXXX"},
        {"date_time_no_millis", "uuuu-MM-dd'T'HH:mm:ssXXX"},
        {"basic_date", "uuuuMMdd"},
        {"basic_date_time", "uuuuMMdd'T'HHmmss.SSSXX"},
        {"basic_date_time_no_millis", "uuuuMMdd'T'HHmmssXX"},
        {"date", "uuuu-MM-dd"},
        {"date_hour", "uuuu-MM-dd'T'HH"},
        {"date_hour_minute", "uuuu-MM-dd'T'HH:mm"},
        {"date_hour_minute_second", "uuuu-MM-dd'T'HH:mm:ss"},
        {"date_hour_minute_second_fraction", "uuuu-MM-dd'T'HH:mm:ss.SSS"},
        {"date_hour_minute_second_millis", "uuuu-MM-dd'T'HH:mm:ss.SSS"},
        {"hour", "HH"},
        {"hour_minute", "HH:mm"},
        {"hour_minute_second", "HH:mm:ss"},
        {"hour_minute_second_millis", "HH:mm:ss.SSS"},
        {"year", "uuuu"},
        {"year_month", "uuuu-MM"},
        {"year_month_day", "uuuu-MM-dd"},
    };
    if (n > 7 && memcmp(s, "strict_", 7) == 0) s += 7, n -= 7;
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
        if (strlen(t[k][0]) == n && memcmp(s, t[k][0], n) == 0) return t[k][1];
    return NULL;
}

static bool is_name(const char *s, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(s, name, n) == 0;
}

/* Checks one "||" alternative; *maxw gets its widest output. */
static const char *fmt_check_one(const char *s, size_t n, size_t *maxw)
{
    const char *named = named_pattern(s, n);
    *maxw = 0;
    if (is_name(s, n, "epoch_millis") || is_name(s, n, "epoch_second")) {
        *maxw = 24;
        return NULL;
    }
    return named ? fmt_walk(named, strlen(named), NULL, NULL, maxw)
                 : fmt_walk(s, n, NULL, NULL, maxw);
}

int dt_format_check(const char *pattern, char *err, size_t errlen)
{
    char q[80];
    size_t len, start = 0, maxw;
    if (!pattern) return 0;
    len = strlen(pattern);
    for (size_t i = 0; i <= len; i++) {
        if (i < len && !(pattern[i] == '|' && i + 1 < len && pattern[i + 1] == '|')) continue;
        const char *why = fmt_check_one(pattern + start, i - start, &maxw);
        if (!why && maxw > FMT_MAX_OUT) why = "output may exceed 63 bytes";
        if (why)
            return gk_errf(err, errlen, GK_EINVAL, "unsupported date format [%s]: %s",
                           dt__quote(q, pattern, len), why);
        start = i + 2;
        i++;
    }
    return 0;
}

static void fctx_of(int64_t ms, const struct tz *zone, struct fctx *f)
{
    /* the last day's date, kept for the next call on this thread: a
     * histogram's keys come a day's worth at a time */
    static _Thread_local int64_t last_days = INT64_MIN;
    static _Thread_local struct {
        int64_t y;
        unsigned m, d, doy;
    } day;
    ms = clamp_ms(ms);
    f->epoch_ms = ms;
    f->off = tz_offset(zone, ms);
    int64_t L = ms + (int64_t)f->off * 1000, days = floor_div(L, MS_PER_DAY);
    int64_t tod = L - days * MS_PER_DAY;
    if (days != last_days) {
        dt_civil_from_days(days, &day.y, &day.m, &day.d);
        day.doy = (unsigned)(days - dt_days_from_civil(day.y, 1, 1) + 1);
        last_days = days;
    }
    f->y = day.y;
    f->mo = day.m;
    f->d = day.d;
    f->h = (unsigned)(tod / 3600000);
    f->mi = (unsigned)(tod / 60000 % 60);
    f->s = (unsigned)(tod / 1000 % 60);
    f->ms = (unsigned)(tod % 1000);
    f->dow = (unsigned)floor_mod(days + 3, 7);
    f->doy = day.doy;
}

/* epoch_second: seconds, and a fraction without trailing zeros if any. */
static void put_epoch(struct fout *o, int64_t ms, bool seconds)
{
    char buf[40];
    uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    int n = seconds ? snprintf(buf, sizeof buf, "%s%llu", ms < 0 ? "-" : "",
                               (unsigned long long)(a / 1000))
                    : snprintf(buf, sizeof buf, "%lld", (long long)ms);
    if (seconds && a % 1000) {
        n += snprintf(buf + n, sizeof buf - (size_t)n, ".%03u", (unsigned)(a % 1000));
        while (buf[n - 1] == '0')
            buf[--n] = '\0';
    }
    put(o, buf, (size_t)n);
}

/* ISO_PATTERN of f (a year in 0..9999) without walking the pattern: the
 * key of every date histogram bucket by default. */
static void put_iso(struct fout *o, const struct fctx *f)
{
    char b[23] = "0000-00-00T00:00:00.000";
    unsigned y = (unsigned)f->y, v[6] = {f->mo, f->d, f->h, f->mi, f->s, 0};
    for (int i = 3; i >= 0; i--, y /= 10)
        b[i] = (char)('0' + y % 10);
    for (int i = 0; i < 5; i++) {
        b[5 + 3 * i] = (char)('0' + v[i] / 10);
        b[6 + 3 * i] = (char)('0' + v[i] % 10);
    }
    b[20] = (char)('0' + f->ms / 100);
    b[21] = (char)('0' + f->ms / 10 % 10);
    b[22] = (char)('0' + f->ms % 10);
    put(o, b, sizeof b);
    put_offset(o, f->off, 3, true);
}

int dt_format(int64_t ms, const struct tz *zone, const char *pattern, char *out, size_t outlen,
              char *err, size_t errlen)
{
    char q[80];
    struct fctx f;
    struct fout o = {out, 0, outlen};
    size_t n, maxw = 0;
    const char *why = NULL;
    if (!pattern) pattern = "strict_date_optional_time";
    const char *bar = strstr(pattern, "||");
    n = bar ? (size_t)(bar - pattern) : strlen(pattern);
    const char *named = named_pattern(pattern, n);
    fctx_of(ms, zone, &f);
    if (is_name(pattern, n, "epoch_millis") || is_name(pattern, n, "epoch_second"))
        put_epoch(&o, f.epoch_ms, pattern[6] == 's');
    else if (named && strcmp(named, ISO_PATTERN) == 0 && f.y >= 0 && f.y <= 9999)
        put_iso(&o, &f);
    else
        why = named ? fmt_walk(named, strlen(named), &f, &o, &maxw)
                    : fmt_walk(pattern, n, &f, &o, &maxw);
    if (outlen) out[o.len < outlen ? o.len : outlen - 1] = '\0';
    if (why)
        return gk_errf(err, errlen, -1, "unsupported date format [%s]: %s",
                       dt__quote(q, pattern, strlen(pattern)), why);
    if (o.len >= outlen)
        return gk_errf(err, errlen, -1, "formatted date does not fit in %zu bytes", outlen);
    return (int)o.len;
}
