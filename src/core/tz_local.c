/* tz_local.c: a zone's offset at an instant (the transition table, then
 * the footer rule), the transitions before an instant, and the local-time
 * resolution rules: which instants a wall-clock time maps to (java.time's,
 * for tz_from_local and for date math). */
#include "core/datetime_int.h"

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
    if (z->has_rule && (!z->has_table || t >= z->table_end)) return tz__rule_offset(&z->rule, t);
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
    for (int64_t k = tz__rule_year_of(r, t) + 1, n = 0; n < 402; k--, n++) {
        tz__rule_year(r, k, &c[0], &c[1]);
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
bool tz__prev_change(const struct tz *z, int64_t t, int64_t *T)
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

/* Walks back over the offset segments that can hold L - offset (offsets
 * are within RFC 8536's bounds), so the answer is exact however close the
 * transitions are (at most 64 segments are looked at). */
void tz__local_info(const struct tz *z, int64_t L, struct local_info *li)
{
    int64_t t = floor_div(L, 1000) - TZ_OFF_MIN, t_lo = floor_div(L, 1000) - TZ_OFF_MAX - 1;
    int64_t seg_end = (t + 1) * 1000, T = 0;
    bool gap = false;
    li->n = 0;
    for (int guard = 0; guard < 64; guard++) {
        int32_t o = offset_s(z, t);
        bool has = tz__prev_change(z, t, &T);
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
    tz__local_info(z, L, &li);
    return L - (int64_t)(li.n ? li.o[li.n - 1] : li.before) * 1000;
}

/* As java.time's ZonedDateTime.ofLocal: in an overlap, pref if it is valid. */
int64_t tz__from_local_pref(const struct tz *z, int64_t L, int32_t pref)
{
    struct local_info li;
    tz__local_info(z, L, &li);
    for (int i = 0; li.n > 1 && i < li.n; i++)
        if (li.o[i] == pref) return L - (int64_t)pref * 1000;
    return L - (int64_t)(li.n ? li.o[li.n - 1] : li.before) * 1000;
}
