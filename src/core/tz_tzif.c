/* tz_tzif.c: parsing TZif files (RFC 8536, versions 1 to 4) into a zone:
 * the 64-bit block when there is one, its transitions merged where the
 * offset does not change, and the POSIX TZ footer (tz_rule.c). Every count
 * and index is checked against the length: a corrupt file is refused,
 * never over-read. */
#include "core/datetime_int.h"

#include "core/err.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

#define TZ_LIMIT_S    (DT_LIMIT_MS / 1000 + 200000) /* table times are clamped to this */
#define TZ_FOOTER_MAX 256

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
    if (n > TZ_FOOTER_MAX || !tz__parse_rule((const char *)p + pos + 1, n, &z->rule)) return false;
    z->has_rule = true;
    return true;
}

static int tzif_fail(struct tz *z, const char *name, char *err, size_t errlen)
{
    char q[80];
    tz_free(z);
    return gk_errf(err, errlen, GK_EINVAL, "time zone file of [%s] is corrupt",
                   dt__quote(q, name, strlen(name)));
}

int tz_parse_tzif(struct tz **out, const char *name, const unsigned char *data, size_t len,
                  char *err, size_t errlen)
{
    struct tzif_hdr h;
    size_t pos = 0, size = tzif_header(data, len, &pos, 4, &h);
    struct tz *z = tz__new(name, strlen(name));
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
