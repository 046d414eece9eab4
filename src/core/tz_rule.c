/* tz_rule.c: POSIX TZ strings ("CET-1CEST,M3.5.0,M10.5.0/3"), the footer
 * of a TZif file that rules the instants after its last transition: the
 * parser, and the offset and DST dates the rule gives for a year. */
#include "core/datetime_int.h"

#include <string.h>

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
bool tz__parse_rule(const char *s, size_t len, struct tz_rule *r)
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
void tz__rule_year(const struct tz_rule *r, int64_t y, int64_t *start, int64_t *end)
{
    *start = rule_day(&r->start, y) * 86400 + r->start.secs - r->std_off;
    *end = rule_day(&r->end, y) * 86400 + r->end.secs - r->dst_off;
}

int64_t tz__rule_year_of(const struct tz_rule *r, int64_t t)
{
    int64_t y;
    unsigned m, d;
    dt_civil_from_days(floor_div(t + r->std_off, 86400), &y, &m, &d);
    return y;
}

int32_t tz__rule_offset(const struct tz_rule *r, int64_t t)
{
    int64_t s, e;
    if (!r->has_dst) return r->std_off;
    tz__rule_year(r, tz__rule_year_of(r, t), &s, &e);
    bool dst = s < e ? (t >= s && t < e) : !(t >= e && t < s);
    return dst ? r->dst_off : r->std_off;
}
