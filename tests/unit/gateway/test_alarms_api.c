/* Unit tests for gateway/alarms_api.c: the query string of GET /alarms
 * into a struct history_filter (moved from rules/history.c, same cases). */
#include "core/err.h"
#include "gateway/alarms_api.h"
#include "test.h"

#include <stdio.h>
#include <string.h>

#define T0 1795680000000LL /* 2026-11-26T08:00:00.000Z */
#undef MIN
#define MIN 60000LL

/* ---- the query string ----------------------------------------------------- */

static const struct {
    const char *query;
    int rc;
    int active;
    const char *group;
    long long since, limit;
    const char *err; /* the start of the reason */
} parse_cases[] = {
    {NULL, 0, 0, "", 0, 0, NULL},
    {"", 0, 0, "", 0, 0, NULL},
    {"active=true", 0, 1, "", 0, 0, NULL},
    {"active=false", 0, 0, "", 0, 0, NULL},
    {"group=2", 0, 0, "2", 0, 0, NULL},
    {"group=a+b%20c%2Fd%c3%A9", 0, 0, "a b c/d\xc3\xa9", 0, 0, NULL},
    {"since=1795680000000", 0, 0, "", T0, 0, NULL},
    {"since=0", 0, 0, "", 0, 0, NULL},
    {"since=2026-11-26T08:00:00Z", 0, 0, "", T0, 0, NULL},
    {"since=2026-11-26T08%3A00%3A00Z", 0, 0, "", T0, 0, NULL},
    {"since=2026-11-26T08:00:00.123Z", 0, 0, "", T0 + 123, 0, NULL},
    {"since=2026-11-26T08:00:00.5Z", 0, 0, "", T0 + 500, 0, NULL},
    {"since=2026-11-26T08:00:00.123999Z", 0, 0, "", T0 + 123, 0, NULL},
    {"since=2026-11-26T08:00Z", 0, 0, "", T0, 0, NULL},
    {"since=2026-11-26T17:00:00%2B09:00", 0, 0, "", T0, 0, NULL},
    {"since=2026-11-26T17:00:00+09:00", 0, 0, "", T0, 0, NULL}, /* '+' decoded as ' ' */
    {"since=2026-11-26T03:30:00-0430", 0, 0, "", T0, 0, NULL},
    {"since=2026-11-26T09:00:00+01", 0, 0, "", T0, 0, NULL},
    {"since=2026-11-26", 0, 0, "", T0 - 8 * 60 * MIN, 0, NULL},
    {"since=2024-02-29T00:00:00Z", 0, 0, "", 1709164800000LL, 0, NULL},
    {"limit=1", 0, 0, "", 0, 1, NULL},
    {"limit=1000", 0, 0, "", 0, 1000, NULL},
    {"active=true&group=2&since=1795680000000&limit=50", 0, 1, "2", T0, 50, NULL},
    {"&limit=5&&group=x&", 0, 0, "x", 0, 5, NULL},
    {"foo=1", GK_EINVAL, 0, "", 0, 0, "foo: unknown parameter"},
    {"active=true&Group=2", GK_EINVAL, 0, "", 0, 0, "Group: unknown parameter"},
    {"active", GK_EINVAL, 0, "", 0, 0, "active: needs a value"},
    {"group=", GK_EINVAL, 0, "", 0, 0, "group: needs a value"},
    {"active=yes", GK_EINVAL, 0, "", 0, 0, "active: must be true or false"},
    {"active=TRUE", GK_EINVAL, 0, "", 0, 0, "active: must be"},
    {"active=true&active=false", GK_EINVAL, 0, "", 0, 0, "active: given twice"},
    {"group=%zz", GK_EINVAL, 0, "", 0, 0, "group: bad percent-encoding"},
    {"group=%4", GK_EINVAL, 0, "", 0, 0, "group: bad percent-encoding"},
    {"group=a%00b", GK_EINVAL, 0, "", 0, 0, "group: bad percent-encoding"},
    {"limit=0", GK_EINVAL, 0, "", 0, 0, "limit: must be 1..1000"},
    {"limit=1001", GK_EINVAL, 0, "", 0, 0, "limit: must be 1..1000"},
    {"limit=-5", GK_EINVAL, 0, "", 0, 0, "limit: must be"},
    {"limit=5x", GK_EINVAL, 0, "", 0, 0, "limit: must be"},
    {"limit=99999999999999999999", GK_EINVAL, 0, "", 0, 0, "limit: must be"},
    {"since=yesterday", GK_EINVAL, 0, "", 0, 0, "since: must be"},
    {"since=-1", GK_EINVAL, 0, "", 0, 0, "since: must be"},
    {"since=2026-11-26T08:00:00", GK_EINVAL, 0, "", 0, 0, "since: must be"}, /* no zone */
    {"since=2026-13-01T00:00:00Z", GK_EINVAL, 0, "", 0, 0, "since: must be"},
    {"since=2026-02-29T00:00:00Z", GK_EINVAL, 0, "", 0, 0, "since: must be"},
    {"since=2026-11-26T24:00:00Z", GK_EINVAL, 0, "", 0, 0, "since: must be"},
    {"since=2026-11-26T08:00:00.Z", GK_EINVAL, 0, "", 0, 0, "since: must be"},
    {"since=2026-11-26T08:00:00Zjunk", GK_EINVAL, 0, "", 0, 0, "since: must be"},
    {"since=1969-12-31T23:59:59Z", GK_EINVAL, 0, "", 0, 0, "since: must be"},
    {"since=2026-11-26T08:00:00%2B25:00", GK_EINVAL, 0, "", 0, 0, "since: must be"},
    {"\x01\xff=1", GK_EINVAL, 0, "", 0, 0, "??: unknown parameter"},
};

static void test_filter_parse(void)
{
    char big[400];
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
        struct history_filter f;
        char err[200] = "";
        memset(&f, 0x5a, sizeof f);
        int rc = alarms_filter_parse(parse_cases[i].query, &f, err, sizeof err);
        if (rc != parse_cases[i].rc)
            fprintf(stderr, "  case %zu (%s): rc %d, err %s\n", i, parse_cases[i].query, rc, err);
        CHECK_EQ_INT(rc, parse_cases[i].rc);
        if (rc != 0) {
            size_t n = strlen(parse_cases[i].err);
            if (strncmp(err, parse_cases[i].err, n) != 0)
                fprintf(stderr, "  case %zu (%s): err \"%s\"\n", i, parse_cases[i].query, err);
            CHECK(strncmp(err, parse_cases[i].err, n) == 0);
            continue;
        }
        CHECK_EQ_INT(f.active, parse_cases[i].active);
        CHECK_EQ_STR(f.group, parse_cases[i].group);
        CHECK_EQ_INT(f.since_ms, parse_cases[i].since);
        CHECK_EQ_INT(f.limit, parse_cases[i].limit);
    }
    /* a group that does not fit */
    struct history_filter f;
    char err[200] = "";
    strcpy(big, "group=");
    memset(big + 6, 'g', HISTORY_GROUP_MAX);
    big[6 + HISTORY_GROUP_MAX] = '\0';
    CHECK_EQ_INT(alarms_filter_parse(big, &f, err, sizeof err), GK_EINVAL);
    CHECK_EQ_STR(err, "group: too long");
    big[6 + HISTORY_GROUP_MAX - 1] = '\0'; /* the longest that fits */
    CHECK_EQ_INT(alarms_filter_parse(big, &f, err, sizeof err), 0);
    CHECK_EQ_INT(strlen(f.group), HISTORY_GROUP_MAX - 1);
    /* a long unknown name is cut in the reason; a small err is not overrun */
    memset(big, 'k', 300);
    strcpy(big + 300, "=1");
    CHECK_EQ_INT(alarms_filter_parse(big, &f, err, sizeof err), GK_EINVAL);
    CHECK(strlen(err) < 64);
    char tiny[8];
    CHECK_EQ_INT(alarms_filter_parse("zzz=1", &f, tiny, sizeof tiny), GK_EINVAL);
    CHECK_EQ_STR(tiny, "zzz: un");
}

int main(void)
{
    RUN(test_filter_parse);
    TEST_MAIN_END();
}
