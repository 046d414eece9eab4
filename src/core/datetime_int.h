/* datetime_int.h: what the zone files (tz*.c) and the date files (dt_*.c)
 * share, and nothing outside them includes: the layout of a zone, the
 * limits every computation clamps to, checked arithmetic and the calendar
 * helpers as inlines, and the few functions one file lends another
 * (tz__ for zones, dt__ for dates).
 *
 * Instants are clamped to +-DT_LIMIT_MS (about +-253 million years) inside
 * every computation, so no arithmetic overflows whatever the input. */
#ifndef GASKET_CORE_DATETIME_INT_H
#define GASKET_CORE_DATETIME_INT_H

#include "core/datetime.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DT_LIMIT_MS INT64_C(8000000000000000000)
#define MS_PER_DAY  INT64_C(86400000)
#define TZ_NAME_MAX 64
#define TZ_OFF_MIN  (-89999) /* RFC 8536 bounds of a UT offset */
#define TZ_OFF_MAX  93599

/* ---- Zones (tz.c builds them, tz_tzif.c fills them from a file) ---------- */

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

/* A new zone named name[0..len) (cut at TZ_NAME_MAX), all else zero. */
struct tz *tz__new(const char *name, size_t len);
/* "+h", "+hh", "+hh:mm", "+hhmm", "+hh:mm:ss", "+hhmmss" (java.time's
 * ZoneOffset.of), at most 18 hours, into *out seconds east. */
bool tz__parse_fixed_offset(const char *s, size_t len, int32_t *out);

/* ---- POSIX TZ rules (tz_rule.c) ----------------------------------------- */

/* Parses a POSIX TZ string; an empty one is valid and means "no rule". */
bool tz__parse_rule(const char *s, size_t len, struct tz_rule *r);
/* The instants (s) DST starts and ends in year y. */
void tz__rule_year(const struct tz_rule *r, int64_t y, int64_t *start, int64_t *end);
/* The year (of standard local time) the rule is evaluated in at t (s). */
int64_t tz__rule_year_of(const struct tz_rule *r, int64_t t);
/* The rule's offset (s) at instant t (s). */
int32_t tz__rule_offset(const struct tz_rule *r, int64_t t);

/* ---- Offsets, transitions and local time (tz_local.c) -------------------- */

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

/* The latest instant T <= t (s) at which the offset changes; false if none. */
bool tz__prev_change(const struct tz *z, int64_t t, int64_t *T);
/* Fills li for local time L (ms); exact however close the transitions are. */
void tz__local_info(const struct tz *z, int64_t L, struct local_info *li);
/* As java.time's ZonedDateTime.ofLocal: in an overlap, pref if it is valid. */
int64_t tz__from_local_pref(const struct tz *z, int64_t L, int32_t pref);

/* ---- Dates (dt_calendar.c, dt_parse.c) ------------------------------------ */

/* The local start (ms) of the unit holding local time L. */
int64_t dt__local_floor(int64_t L, enum dt_unit u);
/* dt_floor_fixed by walking the zone's offsets (what its fast path must
 * equal: tests). */
int64_t dt__floor_fixed_walk(int64_t ms, int64_t interval_ms, const struct tz *zone);
/* Copies text into buf (at most 64 bytes, then "...") for an error message:
 * control and non-ASCII bytes become '?', so the reason stays one valid line. */
const char *dt__quote(char buf[80], const char *s, size_t len);
/* Reads exactly n digits at s[*i] (within len) into *v. */
bool dt__digits(const char *s, size_t len, size_t *i, int n, int64_t *v);
/* dt_parse, with OpenSearch's round-up parsing when round_up: missing time
 * fields take their largest value (23:59:59.999). */
int dt__parse_date(const char *s, size_t len, const struct tz *zone, bool round_up, int64_t *ms,
                   char *err, size_t errlen);

/* ---- Checked arithmetic and the civil calendar ---------------------------- */

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static inline int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

static inline int64_t clamp_ms(int64_t ms)
{
    return ms > DT_LIMIT_MS ? DT_LIMIT_MS : ms < -DT_LIMIT_MS ? -DT_LIMIT_MS : ms;
}

/* a + b, false when it overflows or leaves +-DT_LIMIT_MS. */
static inline bool add_ms(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_add_overflow(a, b, out) && *out >= -DT_LIMIT_MS && *out <= DT_LIMIT_MS;
}

/* days * MS_PER_DAY + tod, checked like add_ms. */
static inline bool days_to_ms(int64_t days, int64_t tod, int64_t *out)
{
    int64_t v;
    return !__builtin_mul_overflow(days, MS_PER_DAY, &v) && add_ms(v, tod, out);
}

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline bool is_leap(int64_t y)
{
    return floor_mod(y, 4) == 0 && (floor_mod(y, 100) != 0 || floor_mod(y, 400) == 0);
}

static inline unsigned days_in_month(int64_t y, unsigned m)
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

static inline struct civil civil_of(int64_t local)
{
    struct civil c;
    int64_t days = floor_div(local, MS_PER_DAY);
    c.tod = local - days * MS_PER_DAY;
    dt_civil_from_days(days, &c.y, &c.m, &c.d);
    return c;
}

#endif
