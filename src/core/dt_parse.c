/* dt_parse.c: parsing one date value as the DSL and gasket's `date` accept
 * it (epoch millis, "yyyy-MM-dd HH:mm:ss", ISO 8601 with an optional
 * offset), with OpenSearch's round-up filling for date math; and the text
 * helpers the other zone and date files share. */
#include "core/datetime_int.h"

#include "core/err.h"

#include <string.h>

/* ---- Text helpers shared by the zone and date files ----------------------- */

const char *dt__quote(char buf[80], const char *s, size_t len)
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

bool dt__digits(const char *s, size_t len, size_t *i, int n, int64_t *v)
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

/* ---- Date text ------------------------------------------------------------ */

/* The fields of a date text; has_* say which were present. */
struct fields {
    int64_t y, mo, d, h, mi, s, ms;
    bool has_day, has_h, has_mi, has_s, has_frac, has_off;
    int32_t off;
};

static int parse_fail(char *err, size_t errlen, const char *s, size_t len, const char *why)
{
    char q[80];
    return gk_errf(err, errlen, GK_EINVAL, "failed to parse date field [%s]: %s",
                   dt__quote(q, s, len), why);
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
    return tz__parse_fixed_offset(s + *i, rest, off) && (*i = len, true);
}

/* HH[:mm[:ss[.f]]] at s[*i]; sep ' ' demands HH:mm:ss. */
static const char *parse_time(const char *s, size_t len, size_t *i, char sep, struct fields *f)
{
    if (!dt__digits(s, len, i, 2, &f->h)) return "expected an hour (HH)";
    f->has_h = true;
    if (*i < len && s[*i] == ':') {
        (*i)++;
        if (!dt__digits(s, len, i, 2, &f->mi)) return "expected minutes (mm)";
        f->has_mi = true;
        if (*i < len && s[*i] == ':') {
            (*i)++;
            if (!dt__digits(s, len, i, 2, &f->s)) return "expected seconds (ss)";
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
    if (!dt__digits(s, len, &i, 4, &f->y) || i == len || s[i++] != '-' ||
        !dt__digits(s, len, &i, 2, &f->mo))
        return "expected yyyy-MM-dd";
    if (f->mo < 1 || f->mo > 12) return "month out of range 1-12";
    if (i < len) {
        if (s[i++] != '-' || !dt__digits(s, len, &i, 2, &f->d)) return "expected yyyy-MM-dd";
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
int dt__parse_date(const char *s, size_t len, const struct tz *zone, bool round_up, int64_t *ms,
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
    return dt__parse_date(s, len, zone, false, ms, err, errlen);
}
