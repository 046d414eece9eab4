/* datetime.c: instants, time zones, date text and date math (see
 * datetime.h).
 *
 * This file implements, in order: checked arithmetic and the civil calendar;
 * zones (UTC, fixed offsets, and IANA zones read from TZif files: the
 * transition table plus the POSIX TZ footer for instants past its end); the
 * local-time resolution rules (java.time's for tz_from_local, OpenSearch's
 * rounding rules for floors); date parsing and date math as OpenSearch's
 * JavaDateMathParser does it; calendar and fixed intervals; and formatting
 * with a small java.time pattern subset.
 *
 * Instants are clamped to +-DT_LIMIT_MS (about +-253 million years) inside
 * every computation, so no arithmetic overflows whatever the input. */
#include "core/datetime.h"

#include "core/err.h"
#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DT_LIMIT_MS   INT64_C(8000000000000000000)
#define MS_PER_DAY    INT64_C(86400000)
#define TZ_LIMIT_S    (DT_LIMIT_MS / 1000 + 200000) /* table times are clamped to this */
#define TZ_NAME_MAX   64
#define TZ_DIR        "/usr/share/zoneinfo/"
#define TZ_FILE_MAX   (1 << 20)
#define TZ_OFF_MIN    (-89999) /* RFC 8536 bounds of a UT offset */
#define TZ_OFF_MAX    93599
#define TZ_FOOTER_MAX 256

/* ---- Arithmetic helpers ------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

static int64_t clamp_ms(int64_t ms)
{
    return ms > DT_LIMIT_MS ? DT_LIMIT_MS : ms < -DT_LIMIT_MS ? -DT_LIMIT_MS : ms;
}

/* a + b, false when it overflows or leaves +-DT_LIMIT_MS. */
static bool add_ms(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_add_overflow(a, b, out) && *out >= -DT_LIMIT_MS && *out <= DT_LIMIT_MS;
}

/* days * MS_PER_DAY + tod, checked like add_ms. */
static bool days_to_ms(int64_t days, int64_t tod, int64_t *out)
{
    int64_t v;
    return !__builtin_mul_overflow(days, MS_PER_DAY, &v) && add_ms(v, tod, out);
}

/* Copies text into buf (at most 64 bytes, then "...") for an error message:
 * control and non-ASCII bytes become '?', so the reason stays one valid line. */
static const char *quote(char buf[80], const char *s, size_t len)
{
    size_t n = len > 64 ? 64 : len, i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    if (len > n) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads exactly n digits at s[*i] (within len) into *v. */
static bool digits(const char *s, size_t len, size_t *i, int n, int64_t *v)
{
    int64_t x = 0;
    if (len - *i < (size_t)n) return false;
    for (int k = 0; k < n; k++) {
        if (!is_digit(s[*i + k])) return false;
        x = x * 10 + (s[*i + k] - '0');
    }
    *i += n;
    *v = x;
    return true;
}

/* ---- Civil calendar (proleptic Gregorian, H. Hinnant's algorithms) ------ */

#define CIVIL_YEAR_MAX INT64_C(1000000000000) /* inputs are clamped to +-this */

int64_t dt_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    if (y > CIVIL_YEAR_MAX) y = CIVIL_YEAR_MAX;
    if (y < -CIVIL_YEAR_MAX) y = -CIVIL_YEAR_MAX;
    if (m < 1) m = 1;
    if (m > 12) m = 12;
    if (d > 31) d = 31;
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t mp = m > 2 ? m - 3 : m + 9;
    int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void dt_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    const int64_t lim = CIVIL_YEAR_MAX * 366;
    int64_t z = (days > lim ? lim : days < -lim ? -lim : days) + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    unsigned mm = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = mm;
    *y = yoe + era * 400 + (mm <= 2);
}

static bool is_leap(int64_t y)
{
    return floor_mod(y, 4) == 0 && (floor_mod(y, 100) != 0 || floor_mod(y, 400) == 0);
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : n[(m - 1) % 12];
}

/* Local ms split into a civil date and the ms of the day. */
struct civil {
    int64_t y;
    unsigned m, d;
    int64_t tod;
};

static struct civil civil_of(int64_t local)
{
    struct civil c;
    int64_t days = floor_div(local, MS_PER_DAY);
    c.tod = local - days * MS_PER_DAY;
    dt_civil_from_days(days, &c.y, &c.m, &c.d);
    return c;
}

/* ---- Zones ---------------------------------------------------------------- */

/* One date of a POSIX TZ rule: Jn (kind 'J'), n ('n') or Mm.w.d ('M'), and
 * the local time of day it takes effect, in seconds. */
struct tz_when {
    char kind;
    int n, m, w, wd;
    int32_t secs;
};

/* A POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3"); offsets east of UTC. */
struct tz_rule {
    int32_t std_off, dst_off;
    bool has_dst;
    struct tz_when start, end;
};

struct tz {
    char name[TZ_NAME_MAX + 1];
    bool fixed;
    int32_t off0;      /* fixed offset, or the offset before the first change */
    size_t n;          /* offset changes from the table */
    int64_t *at;       /* their instants (s), ascending */
    int32_t *off;      /* offset from at[i] on */
    bool has_table;    /* the file had transitions */
    int64_t table_end; /* last transition of the file: the rule applies from it on */
    bool has_rule;
    struct tz_rule rule;
};

static const struct tz utc_zone = {.name = "UTC", .fixed = true};

const struct tz *tz_utc(void)
{
    return &utc_zone;
}

void tz_free(struct tz *z)
{
    if (!z || z == &utc_zone) return;
    free(z->at);
    free(z->off);
    free(z);
}

const char *tz_name(const struct tz *z)
{
    return z->name;
}

static struct tz *tz_new(const char *name, size_t len)
{
    struct tz *z = xcalloc(1, sizeof *z);
    memcpy(z->name, name, len > TZ_NAME_MAX ? TZ_NAME_MAX : len);
    return z;
}

/* "+h", "+hh", "+hh:mm", "+hhmm", "+hh:mm:ss", "+hhmmss" (java.time's
 * ZoneOffset.of), at most 18 hours. */
static bool parse_fixed_offset(const char *s, size_t len, int32_t *out)
{
    int64_t h, m = 0, sec = 0;
    size_t i = 1;
    if (len < 2 || (s[0] != '+' && s[0] != '-')) return false;
    if (!digits(s, len, &i, len == 2 ? 1 : 2, &h)) return false;
    bool colon = i < len && s[i] == ':';
    if (i < len) {
        i += colon;
        if (!digits(s, len, &i, 2, &m)) return false;
    }
    if (i < len) {
        if (colon && s[i++] != ':') return false;
        if (!digits(s, len, &i, 2, &sec)) return false;
    }
    if (i != len || m > 59 || sec > 59 || h * 3600 + m * 60 + sec > 18 * 3600) return false;
    *out = (int32_t)((s[0] == '-' ? -1 : 1) * (h * 3600 + m * 60 + sec));
    return true;
}

/* A fixed zone name: UTC, Z, GMT, UT, an offset, or UTC/GMT/UT + offset. */
static bool parse_fixed_name(const char *s, size_t len, int32_t *out)
{
    static const char *const utc[] = {"UTC", "GMT", "UT", "Z"};
    for (size_t k = 0; k < sizeof utc / sizeof utc[0]; k++) {
        size_t n = strlen(utc[k]);
        if (len == n && memcmp(s, utc[k], n) == 0) {
            *out = 0;
            return true;
        }
        if (k < 3 && len > n && memcmp(s, utc[k], n) == 0 && (s[n] == '+' || s[n] == '-'))
            return parse_fixed_offset(s + n, len - n, out);
    }
    return parse_fixed_offset(s, len, out);
}

/* An IANA name that is safe to append to TZ_DIR. */
static bool tz_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > TZ_NAME_MAX || s[0] == '/' || s[len - 1] == '/') return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '/' ||
                  c == '_' || c == '-' || c == '+';
        if (!ok) return false;
        if (c == '/' && s[i + 1] == '/') return false;
    }
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == '.' && s[i + 1] == '.') return false;
    return true;
}

/* ---- POSIX TZ strings (the TZif footer) ----------------------------------- */

struct cursor {
    const char *s;
    size_t len, i;
};

static bool cur_eof(const struct cursor *c)
{
    return c->i >= c->len;
}

static char cur_peek(const struct cursor *c)
{
    return c->i < c->len ? c->s[c->i] : '\0';
}

/* An unsigned number of 1 to maxd digits. */
static bool cur_num(struct cursor *c, int maxd, int64_t *v)
{
    int n = 0;
    *v = 0;
    while (n < maxd && is_digit(cur_peek(c))) {
        *v = *v * 10 + (c->s[c->i++] - '0');
        n++;
    }
    return n > 0;
}

/* "<...>" or at least three letters. */
static bool tzs_name(struct cursor *c)
{
    size_t start = c->i;
    if (cur_peek(c) == '<') {
        c->i++;
        while (!cur_eof(c) && c->s[c->i] != '>') {
            char ch = c->s[c->i++];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) ||
                  ch == '+' || ch == '-'))
                return false;
        }
        if (cur_eof(c) || c->i - start < 4) return false;
        c->i++;
        return true;
    }
    while ((cur_peek(c) >= 'a' && cur_peek(c) <= 'z') || (cur_peek(c) >= 'A' && cur_peek(c) <= 'Z'))
        c->i++;
    return c->i - start >= 3;
}

/* [+-]hh[:mm[:ss]] with hh up to max_h, in seconds. */
static bool tzs_time(struct cursor *c, int max_h, int32_t *out)
{
    int sign = 1;
    int64_t h, m = 0, s = 0;
    if (cur_peek(c) == '+' || cur_peek(c) == '-') sign = c->s[c->i++] == '-' ? -1 : 1;
    if (!cur_num(c, 3, &h) || h > max_h) return false;
    if (cur_peek(c) == ':') {
        c->i++;
        if (!cur_num(c, 2, &m) || m > 59) return false;
        if (cur_peek(c) == ':') {
            c->i++;
            if (!cur_num(c, 2, &s) || s > 59) return false;
        }
    }
    *out = (int32_t)(sign * (h * 3600 + m * 60 + s));
    return true;
}

static bool tzs_when(struct cursor *c, struct tz_when *w)
{
    int64_t a, b, d;
    w->secs = 7200;
    if (cur_peek(c) == 'M') {
        c->i++;
        if (!cur_num(c, 2, &a) || a < 1 || a > 12 || cur_peek(c) != '.') return false;
        c->i++;
        if (!cur_num(c, 1, &b) || b < 1 || b > 5 || cur_peek(c) != '.') return false;
        c->i++;
        if (!cur_num(c, 1, &d) || d > 6) return false;
        *w = (struct tz_when){'M', 0, (int)a, (int)b, (int)d, 7200};
    } else if (cur_peek(c) == 'J') {
        c->i++;
        if (!cur_num(c, 3, &a) || a < 1 || a > 365) return false;
        *w = (struct tz_when){'J', (int)a, 0, 0, 0, 7200};
    } else {
        if (!cur_num(c, 3, &a) || a > 365) return false;
        *w = (struct tz_when){'n', (int)a, 0, 0, 0, 7200};
    }
    if (cur_peek(c) == '/') {
        c->i++;
        return tzs_time(c, 167, &w->secs);
    }
    return true;
}

/* Parses a POSIX TZ string; an empty one is valid and means "no rule". */
static bool tz_parse_rule(const char *s, size_t len, struct tz_rule *r)
{
    struct cursor c = {s, len, 0};
    int32_t off;
    memset(r, 0, sizeof *r);
    if (!tzs_name(&c) || !tzs_time(&c, 24, &off)) return false;
    r->std_off = r->dst_off = -off;
    if (cur_eof(&c)) return true;
    if (!tzs_name(&c)) return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (!cur_eof(&c) && cur_peek(&c) != ',') {
        if (!tzs_time(&c, 24, &off)) return false;
        r->dst_off = -off;
    }
    if (cur_eof(&c)) { /* no rule given: the US rules, as glibc assumes */
        r->start = (struct tz_when){'M', 0, 3, 2, 0, 7200};
        r->end = (struct tz_when){'M', 0, 11, 1, 0, 7200};
        return true;
    }
    if (c.s[c.i++] != ',' || !tzs_when(&c, &r->start) || cur_peek(&c) != ',') return false;
    c.i++;
    return tzs_when(&c, &r->end) && cur_eof(&c);
}

/* Days since the epoch of a rule date in year y. */
static int64_t rule_day(const struct tz_when *w, int64_t y)
{
    int64_t jan1 = dt_days_from_civil(y, 1, 1);
    if (w->kind == 'J') return jan1 + w->n - 1 + (is_leap(y) && w->n >= 60);
    if (w->kind == 'n') return jan1 + w->n;
    int64_t first = dt_days_from_civil(y, (unsigned)w->m, 1);
    int64_t wd1 = floor_mod(first + 4, 7); /* 1970-01-01 was a Thursday (4) */
    int64_t day = first + floor_mod(w->wd - wd1, 7) + (int64_t)(w->w - 1) * 7;
    while (day - first >= days_in_month(y, (unsigned)w->m))
        day -= 7;
    return day;
}

/* The instants (s) DST starts and ends in year y. */
static void rule_year(const struct tz_rule *r, int64_t y, int64_t *start, int64_t *end)
{
    *start = rule_day(&r->start, y) * 86400 + r->start.secs - r->std_off;
    *end = rule_day(&r->end, y) * 86400 + r->end.secs - r->dst_off;
}

static int64_t rule_year_of(const struct tz_rule *r, int64_t t)
{
    int64_t y;
    unsigned m, d;
    dt_civil_from_days(floor_div(t + r->std_off, 86400), &y, &m, &d);
    return y;
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
    int64_t s, e;
    if (!r->has_dst) return r->std_off;
    rule_year(r, rule_year_of(r, t), &s, &e);
    bool dst = s < e ? (t >= s && t < e) : !(t >= e && t < s);
    return dst ? r->dst_off : r->std_off;
}

/* ---- Offsets and transitions ----------------------------------------------- */

/* How many of the table's changes are at or before t (s): the index of the
 * first change after t. */
static size_t changes_upto(const struct tz *z, int64_t t)
{
    size_t lo = 0, hi = z->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int32_t offset_s(const struct tz *z, int64_t t)
{
    if (z->fixed) return z->off0;
    if (z->has_rule && (!z->has_table || t >= z->table_end)) return rule_offset(&z->rule, t);
    size_t lo = changes_upto(z, t);
    return lo ? z->off[lo - 1] : z->off0;
}

int32_t tz_offset(const struct tz *z, int64_t ms)
{
    return offset_s(z, floor_div(clamp_ms(ms), 1000));
}

static bool is_change(const struct tz *z, int64_t t)
{
    return offset_s(z, t - 1) != offset_s(z, t);
}

/* The last change of the table at or before t (s), checked against
 * offset_s (the last transition is ruled by the footer when there is one). */
static bool table_change(const struct tz *z, int64_t t, int64_t *T)
{
    size_t lo = changes_upto(z, t);
    if (lo && z->has_rule && z->at[lo - 1] == z->table_end && !is_change(z, z->table_end)) lo--;
    if (!lo) return false;
    *T = z->at[lo - 1];
    return true;
}

/* The latest change T <= t (s) made by the footer rule after the table.
 * The rule's offset changes only at its DST start and end and where the
 * year it is evaluated in changes (a rule whose start and end swap order
 * between years changes there), so those are the candidates; the search
 * goes back year by year, at most one 400-year cycle. */
static bool rule_change(const struct tz *z, int64_t t, int64_t *T)
{
    const struct tz_rule *r = &z->rule;
    int64_t best = INT64_MIN, c[3];
    if (!r->has_dst) return false; /* a constant offset */
    for (int64_t k = rule_year_of(r, t) + 1, n = 0; n < 402; k--, n++) {
        rule_year(r, k, &c[0], &c[1]);
        c[2] = dt_days_from_civil(k, 1, 1) * 86400 - r->std_off;
        for (int j = 0; j < 3; j++)
            if (c[j] <= t && c[j] > best && (!z->has_table || c[j] > z->table_end) &&
                is_change(z, c[j]))
                best = c[j];
        /* rule dates of earlier years fall before c[2] + 16 days */
        if (best > c[2] + 16 * 86400) break;
        if (z->has_table && c[2] + 400 * 86400 < z->table_end) break;
    }
    if (best == INT64_MIN) return false;
    *T = best;
    return true;
}

/* The latest instant T <= t (s) at which the offset changes; false if none. */
static bool prev_change(const struct tz *z, int64_t t, int64_t *T)
{
    if (z->fixed) return false;
    if (z->has_rule && (!z->has_table || t >= z->table_end)) {
        if (rule_change(z, t, T)) return true;
        if (!z->has_table) return false;
        if (is_change(z, z->table_end)) {
            *T = z->table_end;
            return true;
        }
    }
    return table_change(z, t, T);
}

#define LOCAL_MAX 8

/* How a local time L (ms) maps to instants, as java.time's
 * ZoneRules.getValidOffsets / getTransition: the offsets under which it
 * exists, the latest instant first (two in an overlap), or, in a gap, the
 * offset before the gap and the instant the gap ends. */
struct local_info {
    int n;
    int32_t o[LOCAL_MAX];
    int32_t before;
    int64_t gap_end;
};

/* Walks back over the offset segments that can hold L - offset (offsets
 * are within RFC 8536's bounds), so the answer is exact however close the
 * transitions are (at most 64 segments are looked at). */
static void local_info(const struct tz *z, int64_t L, struct local_info *li)
{
    int64_t t = floor_div(L, 1000) - TZ_OFF_MIN, t_lo = floor_div(L, 1000) - TZ_OFF_MAX - 1;
    int64_t seg_end = (t + 1) * 1000, T = 0;
    bool gap = false;
    li->n = 0;
    for (int guard = 0; guard < 64; guard++) {
        int32_t o = offset_s(z, t);
        bool has = prev_change(z, t, &T);
        int64_t inst = L - (int64_t)o * 1000;
        if ((!has || inst >= T * 1000) && inst < seg_end) {
            li->o[li->n < LOCAL_MAX ? li->n++ : LOCAL_MAX - 1] = o;
        }
        if (has && !gap) {
            int32_t p = offset_s(z, T - 1);
            if (p < o && L >= T * 1000 + (int64_t)p * 1000 && L < T * 1000 + (int64_t)o * 1000) {
                gap = true;
                li->before = p;
                li->gap_end = T * 1000;
            }
        }
        if (!has || T <= t_lo) break;
        seg_end = T * 1000;
        t = T - 1;
    }
    if (!li->n && !gap) { /* only when the walk was cut short */
        li->before = offset_s(z, floor_div(L, 1000));
        li->gap_end = L - (int64_t)li->before * 1000;
    }
}

int64_t tz_from_local(const struct tz *z, int64_t local_ms)
{
    struct local_info li;
    int64_t L = clamp_ms(local_ms);
    local_info(z, L, &li);
    return L - (int64_t)(li.n ? li.o[li.n - 1] : li.before) * 1000;
}

/* As java.time's ZonedDateTime.ofLocal: in an overlap, pref if it is valid. */
static int64_t from_local_pref(const struct tz *z, int64_t L, int32_t pref)
{
    struct local_info li;
    local_info(z, L, &li);
    for (int i = 0; li.n > 1 && i < li.n; i++)
        if (li.o[i] == pref) return L - (int64_t)pref * 1000;
    return L - (int64_t)(li.n ? li.o[li.n - 1] : li.before) * 1000;
}

/* The first instant of a bucket whose local start is L, for the instant ms
 * it holds: a start in a gap is the end of the gap; in an overlap, the
 * latest instant not after ms. Never after ms. */
static int64_t floor_resolve(const struct tz *z, int64_t L, int64_t ms)
{
    struct local_info li;
    local_info(z, L, &li);
    int64_t r = li.n ? L - (int64_t)li.o[li.n - 1] * 1000 : li.gap_end;
    for (int i = 0; i < li.n; i++)
        if (L - (int64_t)li.o[i] * 1000 <= ms) {
            r = L - (int64_t)li.o[i] * 1000;
            break;
        }
    return r < ms ? r : ms;
}

/* The first instant of a day-or-longer unit starting at local L. */
static int64_t first_instant(const struct tz *z, int64_t L)
{
    struct local_info li;
    local_info(z, L, &li);
    return li.n ? L - (int64_t)li.o[li.n - 1] * 1000 : li.gap_end;
}

/* ---- TZif files (RFC 8536) ------------------------------------------------- */

struct tzif_hdr {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* Reads a header at p[*pos] and returns the size of the data block after
 * it (times of tsize bytes), or 0 when the header is bad or the block does
 * not fit in len. */
static size_t tzif_header(const unsigned char *p, size_t len, size_t *pos, size_t tsize,
                          struct tzif_hdr *h)
{
    if (len - *pos < 44 || memcmp(p + *pos, "TZif", 4) != 0) return 0;
    const unsigned char *q = p + *pos;
    h->version = (char)q[4];
    h->isutcnt = be32(q + 20);
    h->isstdcnt = be32(q + 24);
    h->leapcnt = be32(q + 28);
    h->timecnt = be32(q + 32);
    h->typecnt = be32(q + 36);
    h->charcnt = be32(q + 40);
    *pos += 44;
    if (h->typecnt == 0 || h->typecnt > 256 || (h->isutcnt && h->isutcnt != h->typecnt) ||
        (h->isstdcnt && h->isstdcnt != h->typecnt) || (h->version && h->version < '2'))
        return 0;
    uint64_t need = (uint64_t)h->timecnt * (tsize + 1) + (uint64_t)h->typecnt * 6 + h->charcnt +
                    (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
    return need <= len - *pos ? (size_t)need : 0;
}

/* Builds the change table of z from one data block. */
static bool tzif_block(struct tz *z, const unsigned char *b, const struct tzif_hdr *h, size_t tsize)
{
    const unsigned char *idx = b + (size_t)h->timecnt * tsize, *types = idx + h->timecnt;
    int32_t offs[256];
    for (uint32_t k = 0; k < h->typecnt; k++) {
        const unsigned char *t = types + 6 * k;
        offs[k] = (int32_t)be32(t);
        if (offs[k] < TZ_OFF_MIN || offs[k] > TZ_OFF_MAX || t[4] > 1 || t[5] >= h->charcnt)
            return false;
    }
    z->off0 = offs[0];
    z->at = xmalloc((h->timecnt ? h->timecnt : 1) * sizeof *z->at);
    z->off = xmalloc((h->timecnt ? h->timecnt : 1) * sizeof *z->off);
    int32_t prev = offs[0];
    int64_t last = 0;
    for (uint32_t k = 0; k < h->timecnt; k++) {
        int64_t t = tsize == 8 ? be64(b + 8 * (size_t)k) : (int32_t)be32(b + 4 * (size_t)k);
        if (idx[k] >= h->typecnt || (k && t <= last)) return false;
        last = t;
        /* far times (zic's "big bang" is -2^59) are clamped, so that T * 1000
         * never overflows; clamped ones may then coincide */
        t = t < -TZ_LIMIT_S ? -TZ_LIMIT_S : t > TZ_LIMIT_S ? TZ_LIMIT_S : t;
        z->table_end = t;
        if (offs[idx[k]] == prev) continue;
        if (z->n && z->at[z->n - 1] == t) z->n--;
        z->at[z->n] = t;
        z->off[z->n++] = prev = offs[idx[k]];
    }
    z->has_table = h->timecnt > 0;
    return true;
}

/* The footer "\nTZ\n" at p[pos]; an empty TZ string means no rule. */
static bool tzif_footer(struct tz *z, const unsigned char *p, size_t len, size_t pos)
{
    if (pos >= len || p[pos] != '\n') return false;
    const unsigned char *nl = memchr(p + pos + 1, '\n', len - pos - 1);
    if (!nl) return false;
    size_t n = (size_t)(nl - (p + pos + 1));
    if (n == 0) return true;
    if (n > TZ_FOOTER_MAX || !tz_parse_rule((const char *)p + pos + 1, n, &z->rule)) return false;
    z->has_rule = true;
    return true;
}

static int tzif_fail(struct tz *z, const char *name, char *err, size_t errlen)
{
    char q[80];
    tz_free(z);
    return gk_errf(err, errlen, GK_EINVAL, "time zone file of [%s] is corrupt",
                   quote(q, name, strlen(name)));
}

int tz_parse_tzif(struct tz **out, const char *name, const unsigned char *data, size_t len,
                  char *err, size_t errlen)
{
    struct tzif_hdr h;
    size_t pos = 0, size = tzif_header(data, len, &pos, 4, &h);
    struct tz *z = tz_new(name, strlen(name));
    *out = NULL;
    if (!size) return tzif_fail(z, name, err, errlen);
    if (h.version) { /* skip the 32-bit block: the 64-bit one follows */
        pos += size;
        size = tzif_header(data, len, &pos, 8, &h);
        if (!size || !tzif_block(z, data + pos, &h, 8) || !tzif_footer(z, data, len, pos + size))
            return tzif_fail(z, name, err, errlen);
    } else if (!tzif_block(z, data + pos, &h, 4)) {
        return tzif_fail(z, name, err, errlen);
    }
    *out = z;
    return 0;
}

/* Reads TZ_DIR/name whole (at most TZ_FILE_MAX bytes) into *data. */
static int tz_read_file(const char *name, size_t len, unsigned char **data, size_t *size)
{
    char path[sizeof TZ_DIR + TZ_NAME_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s%.*s", TZ_DIR, (int)len, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return GK_ENOTFOUND;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > TZ_FILE_MAX) {
        close(fd);
        return GK_ENOTFOUND;
    }
    *data = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, *data + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    *size = got;
    return 0;
}

int tz_load(struct tz **out, const char *name, size_t len, char *err, size_t errlen)
{
    char q[80], buf[TZ_NAME_MAX + 1];
    int32_t off;
    unsigned char *data;
    size_t size;
    *out = NULL;
    if (len <= TZ_NAME_MAX && parse_fixed_name(name, len, &off)) {
        *out = tz_new(name, len);
        (*out)->fixed = true;
        (*out)->off0 = off;
        return 0;
    }
    if (!tz_name_ok(name, len) || tz_read_file(name, len, &data, &size) != 0)
        return gk_errf(err, errlen, GK_EINVAL, "unknown time zone [%s]", quote(q, name, len));
    memcpy(buf, name, len);
    buf[len] = '\0';
    int rc = tz_parse_tzif(out, buf, data, size, err, errlen);
    free(data);
    return rc;
}

/* ---- Parsing dates ---------------------------------------------------------- */

/* The fields of a date text; has_* say which were present. */
struct fields {
    int64_t y, mo, d, h, mi, s, ms;
    bool has_day, has_h, has_mi, has_s, has_frac, has_off;
    int32_t off;
};

static int parse_fail(char *err, size_t errlen, const char *s, size_t len, const char *why)
{
    char q[80];
    return gk_errf(err, errlen, GK_EINVAL, "failed to parse date field [%s]: %s", quote(q, s, len),
                   why);
}

/* "Z", "+hh", "+hhmm", "+hh:mm" at the end of a date. */
static bool parse_text_offset(const char *s, size_t len, size_t *i, int32_t *off)
{
    if (*i < len && s[*i] == 'Z') {
        (*i)++;
        *off = 0;
        return true;
    }
    size_t rest = len - *i;
    if (rest != 3 && rest != 5 && rest != 6) return false;
    if (rest == 6 && s[*i + 3] != ':') return false;
    return parse_fixed_offset(s + *i, rest, off) && (*i = len, true);
}

/* HH[:mm[:ss[.f]]] at s[*i]; sep ' ' demands HH:mm:ss. */
static const char *parse_time(const char *s, size_t len, size_t *i, char sep, struct fields *f)
{
    if (!digits(s, len, i, 2, &f->h)) return "expected an hour (HH)";
    f->has_h = true;
    if (*i < len && s[*i] == ':') {
        (*i)++;
        if (!digits(s, len, i, 2, &f->mi)) return "expected minutes (mm)";
        f->has_mi = true;
        if (*i < len && s[*i] == ':') {
            (*i)++;
            if (!digits(s, len, i, 2, &f->s)) return "expected seconds (ss)";
            f->has_s = true;
        }
    }
    if (sep == ' ' && !f->has_s) return "expected HH:mm:ss after the date";
    if (f->has_s && *i < len && s[*i] == '.') {
        int n = 0;
        int64_t v = 0;
        for ((*i)++; *i < len && is_digit(s[*i]) && n < 9; (*i)++, n++)
            v = v * 10 + (s[*i] - '0');
        if (n == 0) return "expected a fraction of a second";
        while (n < 3)
            v *= 10, n++;
        while (n > 3)
            v /= 10, n--;
        f->ms = v;
        f->has_frac = true;
    }
    if (f->h > 23) return "hour out of range 0-23";
    if (f->mi > 59) return "minute out of range 0-59";
    if (f->s > 59) return "second out of range 0-59";
    return NULL;
}

/* yyyy-MM[-dd[(T|' ')time[offset]]] into f; NULL or the reason. */
static const char *parse_fields(const char *s, size_t len, struct fields *f)
{
    size_t i = 0;
    memset(f, 0, sizeof *f);
    f->d = 1;
    if (!digits(s, len, &i, 4, &f->y) || i == len || s[i++] != '-' ||
        !digits(s, len, &i, 2, &f->mo))
        return "expected yyyy-MM-dd";
    if (f->mo < 1 || f->mo > 12) return "month out of range 1-12";
    if (i < len) {
        if (s[i++] != '-' || !digits(s, len, &i, 2, &f->d)) return "expected yyyy-MM-dd";
        f->has_day = true;
        if (f->d < 1 || f->d > days_in_month(f->y, (unsigned)f->mo))
            return "day out of range for its month";
    }
    if (i < len) {
        char sep = s[i++];
        if (sep != 'T' && sep != ' ') return "expected 'T' or ' ' after the date";
        const char *why = parse_time(s, len, &i, sep, f);
        if (why) return why;
        if (i < len) {
            if (!parse_text_offset(s, len, &i, &f->off)) return "unexpected text after the time";
            f->has_off = true;
        }
    }
    return i == len ? NULL : "unexpected text";
}

/* An optional '-' and 1 to 19 digits, within +-DT_LIMIT_MS. */
static bool parse_epoch(const char *s, size_t len, int64_t *ms, bool *range)
{
    size_t i = len && s[0] == '-';
    uint64_t v = 0;
    *range = true;
    if (len == i || len - i > 19) return false;
    for (size_t k = i; k < len; k++) {
        if (!is_digit(s[k])) return false;
        v = v * 10 + (uint64_t)(s[k] - '0'); /* 19 digits fit in uint64_t */
    }
    *range = v <= (uint64_t)DT_LIMIT_MS;
    *ms = i ? -(int64_t)(*range ? v : 0) : (int64_t)(*range ? v : 0);
    return *range;
}

/* dt_parse, with OpenSearch's round-up parsing when round_up: missing time
 * fields take their largest value (23:59:59.999). */
static int parse_date(const char *s, size_t len, const struct tz *zone, bool round_up, int64_t *ms,
                      char *err, size_t errlen)
{
    struct fields f;
    bool range;
    if (parse_epoch(s, len, ms, &range)) return 0;
    if (!range) return parse_fail(err, errlen, s, len, "epoch millis out of range");
    const char *why = parse_fields(s, len, &f);
    if (why) return parse_fail(err, errlen, s, len, why);
    if (round_up) {
        if (!f.has_h) f.h = 23;
        if (!f.has_mi) f.mi = 59;
        if (!f.has_s) f.s = 59;
        if (!f.has_frac) f.ms = 999;
    }
    int64_t local = dt_days_from_civil(f.y, (unsigned)f.mo, (unsigned)f.d) * MS_PER_DAY +
                    ((f.h * 60 + f.mi) * 60 + f.s) * 1000 + f.ms;
    *ms = f.has_off ? local - (int64_t)f.off * 1000 : tz_from_local(zone, local);
    return 0;
}

int dt_parse(const char *s, size_t len, const struct tz *zone, int64_t *ms, char *err,
             size_t errlen)
{
    return parse_date(s, len, zone, false, ms, err, errlen);
}

/* ---- Date math --------------------------------------------------------------- */

/* Adds n units of y/M (months) or w/d (days) in local time, resolved as
 * java.time's ZonedDateTime.plusX does (keeping the offset in an overlap). */
static bool add_calendar(const struct tz *z, int64_t *ms, char unit, int64_t n)
{
    int32_t off = tz_offset(z, *ms);
    int64_t L = *ms + (int64_t)off * 1000, days, out;
    struct civil c = civil_of(L);
    if (unit == 'y' || unit == 'M') {
        int64_t mon = c.y * 12 + (c.m - 1) + (unit == 'y' ? n * 12 : n);
        int64_t y = floor_div(mon, 12);
        unsigned m = (unsigned)(mon - y * 12) + 1;
        if (y > 400000000 || y < -400000000) return false;
        unsigned d = c.d > days_in_month(y, m) ? days_in_month(y, m) : c.d;
        days = dt_days_from_civil(y, m, d);
    } else {
        days = floor_div(L, MS_PER_DAY) + (unit == 'w' ? n * 7 : n);
    }
    if (!days_to_ms(days, c.tod, &out)) return false;
    out = from_local_pref(z, out, off);
    return add_ms(out, 0, ms);
}

/* The local start (ms) of the unit holding local time L. */
static int64_t local_floor(int64_t L, enum dt_unit u)
{
    static const int64_t len[] = {1000, 60000, 3600000};
    if (u <= DT_HOUR) return L - floor_mod(L, len[u]);
    int64_t days = floor_div(L, MS_PER_DAY), y;
    unsigned m, d;
    if (u == DT_DAY) return days * MS_PER_DAY;
    if (u == DT_WEEK) return (days - floor_mod(days + 3, 7)) * MS_PER_DAY;
    dt_civil_from_days(days, &y, &m, &d);
    if (u == DT_QUARTER) m = (m - 1) / 3 * 3 + 1;
    if (u == DT_YEAR) m = 1;
    return dt_days_from_civil(y, m, 1) * MS_PER_DAY;
}

static enum dt_unit math_unit(char c)
{
    switch (c) {
    case 'y':
        return DT_YEAR;
    case 'M':
        return DT_MONTH;
    case 'w':
        return DT_WEEK;
    case 'd':
        return DT_DAY;
    case 'h':
    case 'H':
        return DT_HOUR;
    case 'm':
        return DT_MINUTE;
    default:
        return DT_SECOND;
    }
}

/* Adds sign*n of a date-math unit to *ms. */
static bool math_add(const struct tz *z, int64_t *ms, char unit, int64_t n)
{
    switch (unit) {
    case 'y':
    case 'M':
    case 'w':
    case 'd':
        return add_calendar(z, ms, unit, n);
    case 'h':
    case 'H':
        return add_ms(*ms, n * 3600000, ms);
    case 'm':
        return add_ms(*ms, n * 60000, ms);
    default:
        return add_ms(*ms, n * 1000, ms);
    }
}

/* "/unit": truncates in local time; with round_up, to the unit's last ms. */
static bool math_round(const struct tz *z, int64_t *ms, char unit, bool round_up)
{
    int32_t off = tz_offset(z, *ms);
    int64_t L = local_floor(*ms + (int64_t)off * 1000, math_unit(unit));
    if (!add_ms(from_local_pref(z, L, off), 0, ms)) return false; /* floors may pass the limit */
    if (!round_up) return true;
    return math_add(z, ms, unit, 1) && add_ms(*ms, -1, ms);
}

static int math_fail(char *err, size_t errlen, const char *s, size_t len, const char *why)
{
    char q[80];
    return gk_errf(err, errlen, GK_EINVAL, "%s [%s]", why, quote(q, s, len));
}

/* Applies the operations of m[0..mlen) to *ms; s/len name the whole text. */
static int math_ops(const char *m, size_t mlen, const struct tz *z, bool round_up, int64_t *ms,
                    const char *s, size_t len, char *err, size_t errlen)
{
    size_t i = 0;
    while (i < mlen) {
        char c = m[i++];
        bool round = c == '/';
        int64_t sign = c == '-' ? -1 : 1, num = 1;
        if (!round && c != '+' && c != '-')
            return math_fail(err, errlen, s, len, "operator not supported for date math");
        if (i >= mlen) return math_fail(err, errlen, s, len, "truncated date math");
        if (is_digit(m[i])) {
            for (num = 0; i < mlen && is_digit(m[i]); i++)
                if ((num = num * 10 + (m[i] - '0')) > INT32_MAX)
                    return math_fail(err, errlen, s, len, "number out of range in date math");
            if (i >= mlen) return math_fail(err, errlen, s, len, "truncated date math");
        }
        if (round && num != 1)
            return math_fail(err, errlen, s, len,
                             "rounding `/` can only be used on single unit types");
        char unit = m[i++];
        if (!strchr("yMwdhHms", unit) || unit == '\0')
            return math_fail(err, errlen, s, len, "unit not supported for date math");
        bool ok = round ? math_round(z, ms, unit, round_up) : math_add(z, ms, unit, sign * num);
        if (!ok) return math_fail(err, errlen, s, len, "date math result out of range");
    }
    return 0;
}

int dt_math(const char *s, size_t len, int64_t now_ms, const struct tz *zone, int round_up,
            int64_t *ms, char *err, size_t errlen)
{
    if (len >= 3 && memcmp(s, "now", 3) == 0) {
        *ms = clamp_ms(now_ms);
        return math_ops(s + 3, len - 3, zone, round_up, ms, s, len, err, errlen);
    }
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '|' || s[i + 1] != '|') continue;
        int rc = parse_date(s, i, zone, false, ms, err, errlen);
        if (rc) return rc;
        return math_ops(s + i + 2, len - i - 2, zone, round_up, ms, s, len, err, errlen);
    }
    return parse_date(s, len, zone, round_up, ms, err, errlen);
}

/* ---- Intervals ------------------------------------------------------------ */

int dt_calendar_unit(const char *s, size_t len, enum dt_unit *out, char *err, size_t errlen)
{
    static const struct {
        const char *a, *b;
        enum dt_unit u;
    } names[] = {
        {"1s", "second", DT_SECOND},   {"1m", "minute", DT_MINUTE}, {"1h", "hour", DT_HOUR},
        {"1d", "day", DT_DAY},         {"1w", "week", DT_WEEK},     {"1M", "month", DT_MONTH},
        {"1q", "quarter", DT_QUARTER}, {"1y", "year", DT_YEAR},
    };
    char q[80];
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if ((len == strlen(names[k].a) && memcmp(s, names[k].a, len) == 0) ||
            (len == strlen(names[k].b) && memcmp(s, names[k].b, len) == 0)) {
            *out = names[k].u;
            return 0;
        }
    return gk_errf(err, errlen, GK_EINVAL,
                   "The supplied interval [%s] could not be parsed as a calendar interval.",
                   quote(q, s, len));
}

int dt_fixed_interval(const char *s, size_t len, int64_t *ms, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", MS_PER_DAY}};
    char q[80];
    size_t i = 0;
    int64_t n = 0;
    for (; i < len && is_digit(s[i]); i++)
        if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, s[i] - '0', &n))
            return gk_errf(err, errlen, GK_EINVAL, "fixed interval [%s] is too large",
                           quote(q, s, len));
    for (size_t k = 0; i > 0 && k < sizeof units / sizeof units[0]; k++) {
        if (len - i != strlen(units[k].name) || memcmp(s + i, units[k].name, len - i) != 0)
            continue;
        if (n <= 0 || __builtin_mul_overflow(n, units[k].ms, ms) || *ms > DT_LIMIT_MS)
            return gk_errf(err, errlen, GK_EINVAL,
                           "fixed interval [%s] must be positive and "
                           "not too large",
                           quote(q, s, len));
        return 0;
    }
    return gk_errf(err, errlen, GK_EINVAL,
                   "failed to parse fixed interval [%s]: expected a whole number and a unit "
                   "(ms, s, m, h, d)",
                   quote(q, s, len));
}

/* ---- Buckets --------------------------------------------------------------- */

static const int64_t unit_ms[] = {1000, 60000, 3600000};

/* The local-time floor of ms, resolved (see floor_resolve). */
static int64_t floor_basic(int64_t ms, enum dt_unit u, const struct tz *zone)
{
    int64_t L = ms + (int64_t)tz_offset(zone, ms) * 1000;
    return floor_resolve(zone, local_floor(L, u), ms);
}

/* The start of the unit after the one starting at start: for units up to
 * an hour, the floor of start + one unit; else the next local calendar
 * date's first instant. */
static int64_t next_basic(int64_t start, enum dt_unit u, const struct tz *zone)
{
    if (u <= DT_HOUR) return floor_basic(start + unit_ms[u], u, zone);
    int64_t L = local_floor(start + (int64_t)tz_offset(zone, start) * 1000, u), y;
    int64_t days = floor_div(L, MS_PER_DAY);
    unsigned m, d;
    if (u == DT_DAY || u == DT_WEEK) {
        days += u == DT_DAY ? 1 : 7;
    } else {
        dt_civil_from_days(days, &y, &m, &d);
        m += u == DT_MONTH ? 1 : u == DT_QUARTER ? 3 : 12;
        if (m > 12) y++, m -= 12;
        days = dt_days_from_civil(y, m, 1);
    }
    return first_instant(zone, days * MS_PER_DAY);
}

int64_t dt_floor(int64_t ms, enum dt_unit u, const struct tz *zone)
{
    int64_t T;
    ms = clamp_ms(ms);
    int64_t r = floor_basic(ms, u, zone);
    /* Where an offset falls by other than whole units (LMT changes), the
     * local floor can lie in the first pass of the overlap, with its unit
     * ending before ms: then the bucket starts at the transition. */
    if (ms < DT_LIMIT_MS - 400 * MS_PER_DAY && next_basic(r, u, zone) <= ms &&
        prev_change(zone, floor_div(ms, 1000), &T) && T * 1000 > r && T * 1000 <= ms)
        r = T * 1000;
    return r;
}

int64_t dt_next(int64_t start, enum dt_unit u, const struct tz *zone)
{
    int64_t r;
    start = clamp_ms(start);
    if (start >= DT_LIMIT_MS - 400 * MS_PER_DAY) return DT_LIMIT_MS;
    r = u <= DT_HOUR ? dt_floor(start + unit_ms[u], u, zone) : next_basic(start, u, zone);
    return r > start ? r : start + (u <= DT_HOUR ? unit_ms[u] : MS_PER_DAY);
}

/* OpenSearch's rounding of fixed intervals in a zone: floor the local time;
 * in a gap take the transition; never round back across a transition (then
 * round the instant just before it instead). */
int64_t dt_floor_fixed(int64_t ms, int64_t interval_ms, const struct tz *zone)
{
    const int64_t orig = clamp_ms(ms);
    if (interval_ms <= 0) return orig;
    ms = orig;
    for (int guard = 0; guard < 64; guard++) {
        int64_t L = ms + (int64_t)tz_offset(zone, ms) * 1000, T, fl;
        struct local_info li;
        if (__builtin_mul_overflow(floor_div(L, interval_ms), interval_ms, &fl) ||
            fl < -DT_LIMIT_MS)
            fl = -DT_LIMIT_MS;
        local_info(zone, fl, &li);
        if (li.n == 0) return li.gap_end < orig ? li.gap_end : orig;
        bool has_prev = prev_change(zone, floor_div(ms, 1000), &T);
        int i = 0;
        for (; i < li.n; i++) {
            int64_t cand = fl - (int64_t)li.o[i] * 1000;
            if (has_prev && cand < T * 1000) break;
            if (cand <= ms) return cand;
        }
        if (i == li.n) break;
        ms = T * 1000 - 1;
    }
    return ms < orig ? ms : orig;
}

/* ---- Formatting ------------------------------------------------------------ */

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

/* v >= 0 with at least minw digits. */
static void put_num(struct fout *o, int64_t v, int minw)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%0*lld", minw, (long long)v);
    put(o, buf, (size_t)n);
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
    char buf[16];
    snprintf(buf, sizeof buf, "%03u000000", ms);
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
        {"date_optional_time", "uuuu-MM-dd'T'HH:mm:ss.SSSXXX"},
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
                           quote(q, pattern, len), why);
        start = i + 2;
        i++;
    }
    return 0;
}

static void fctx_of(int64_t ms, const struct tz *zone, struct fctx *f)
{
    ms = clamp_ms(ms);
    f->epoch_ms = ms;
    f->off = tz_offset(zone, ms);
    int64_t L = ms + (int64_t)f->off * 1000, days = floor_div(L, MS_PER_DAY);
    struct civil c = civil_of(L);
    f->y = c.y;
    f->mo = c.m;
    f->d = c.d;
    f->h = (unsigned)(c.tod / 3600000);
    f->mi = (unsigned)(c.tod / 60000 % 60);
    f->s = (unsigned)(c.tod / 1000 % 60);
    f->ms = (unsigned)(c.tod % 1000);
    f->dow = (unsigned)floor_mod(days + 3, 7);
    f->doy = (unsigned)(days - dt_days_from_civil(c.y, 1, 1) + 1);
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
    else
        why = named ? fmt_walk(named, strlen(named), &f, &o, &maxw)
                    : fmt_walk(pattern, n, &f, &o, &maxw);
    if (outlen) out[o.len < outlen ? o.len : outlen - 1] = '\0';
    if (why)
        return gk_errf(err, errlen, -1, "unsupported date format [%s]: %s",
                       quote(q, pattern, strlen(pattern)), why);
    if (o.len >= outlen)
        return gk_errf(err, errlen, -1, "formatted date does not fit in %zu bytes", outlen);
    return (int)o.len;
}
