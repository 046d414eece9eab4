/* tz.c: loading a zone by name (see tz.h): UTC and fixed offsets are
 * built here, IANA names are checked, read from /usr/share/zoneinfo and
 * handed to tz_tzif.c; and the zone's lifetime (tz_utc, tz_free, tz_name). */
#include "core/datetime_int.h"

#include "core/err.h"
#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZ_DIR      "/usr/share/zoneinfo/"
#define TZ_FILE_MAX (1 << 20)

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

struct tz *tz__new(const char *name, size_t len)
{
    struct tz *z = xcalloc(1, sizeof *z);
    memcpy(z->name, name, len > TZ_NAME_MAX ? TZ_NAME_MAX : len);
    return z;
}

/* "+h", "+hh", "+hh:mm", "+hhmm", "+hh:mm:ss", "+hhmmss" (java.time's
 * ZoneOffset.of), at most 18 hours. */
bool tz__parse_fixed_offset(const char *s, size_t len, int32_t *out)
{
    int64_t h, m = 0, sec = 0;
    size_t i = 1;
    if (len < 2 || (s[0] != '+' && s[0] != '-')) return false;
    if (!dt__digits(s, len, &i, len == 2 ? 1 : 2, &h)) return false;
    bool colon = i < len && s[i] == ':';
    if (i < len) {
        i += colon;
        if (!dt__digits(s, len, &i, 2, &m)) return false;
    }
    if (i < len) {
        if (colon && s[i++] != ':') return false;
        if (!dt__digits(s, len, &i, 2, &sec)) return false;
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
            return tz__parse_fixed_offset(s + n, len - n, out);
    }
    return tz__parse_fixed_offset(s, len, out);
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
        *out = tz__new(name, len);
        (*out)->fixed = true;
        (*out)->off0 = off;
        return 0;
    }
    if (!tz_name_ok(name, len) || tz_read_file(name, len, &data, &size) != 0)
        return gk_errf(err, errlen, GK_EINVAL, "unknown time zone [%s]", dt__quote(q, name, len));
    memcpy(buf, name, len);
    buf[len] = '\0';
    int rc = tz_parse_tzif(out, buf, data, size, err, errlen);
    free(data);
    return rc;
}
