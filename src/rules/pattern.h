/* pattern.h: Lua 5.4 patterns (reference manual §6.4.1) with a step budget.
 *
 * gasket's own matcher for the patterns of string.find, match, gmatch and
 * gsub, so that a function's pattern runs on its instruction budget instead
 * of to its end: Lua's backtracking matcher can take time polynomial in the
 * subject's length (string.rep("a*", 30) .. "b" against 5000 a's would run
 * for ages), and the standard library runs it in C, out of the count hook's
 * sight. Results, captures and error messages are those of Lua 5.4's string
 * library (tests/unit/rules/test_pattern.c compares them), including when an
 * error is noticed: a malformed item is reported only once the matcher
 * reaches it ("x%" finds nothing in "abc" rather than failing).
 *
 * Every call of the matcher, every extra repetition tried by a `*`, `+` or
 * `-` item, every subject byte a %b scans and every 16 bytes a
 * back-reference compares costs one step of m->budget; when none is left the
 * match stops with GK_ELIMIT. Recursion is capped at PATTERN_MAX_DEPTH
 * ("pattern too complex"), as Lua's MAXCCALLS, so the C stack stays small.
 *
 * Usage: pattern_init(), set m.budget, then pattern_match() or
 * pattern_find() as often as needed (each resets the captures), and
 * pattern_capture() to read a match's captures. Pure: no allocation, no I/O;
 * the subject and pattern are borrowed and must outlive the struct. */
#ifndef GASKET_RULES_PATTERN_H
#define GASKET_RULES_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#define PATTERN_MAX_CAPTURES 32  /* LUA_MAXCAPTURES */
#define PATTERN_MAX_DEPTH    200 /* nested matcher calls, Lua's MAXCCALLS */

/* What pattern_capture() found. */
#define PATTERN_CAPTURE_STRING   0 /* a substring: *str, *len */
#define PATTERN_CAPTURE_POSITION 1 /* a () capture: *len is the 1-based position */

struct pattern_capture {
    const char *init;
    ptrdiff_t len; /* bytes, or one of the negative markers in pattern.c */
};

struct pattern {
    uint64_t budget; /* steps left: the caller sets it, the matcher spends it */
    char err[64];    /* the reason of the last GK_EINVAL / GK_ELIMIT */
    /* internal */
    const char *src, *src_end, *pat, *pat_end;
    int level, depth, rc;
    struct pattern_capture cap[PATTERN_MAX_CAPTURES];
};

/* Prepares m to match pattern p[lp] (without a leading '^' anchor: callers
 * that honour one strip it) against subject s[ls]. The budget starts at 0. */
void pattern_init(struct pattern *m, const char *s, size_t ls, const char *p, size_t lp);

/* One anchored attempt at subject offset pos (0 <= pos <= ls). Returns 1 and
 * the end offset of the match in *end, 0 when it does not match here,
 * GK_EINVAL for a malformed pattern or one too complex (reason in m->err,
 * Lua's words), GK_ELIMIT when the budget ran out. */
int pattern_match(struct pattern *m, size_t pos, size_t *end);

/* Tries pattern_match at init, init + 1, ..., ls (only at init when
 * anchored), as string.find does; on a match returns 1 with its offsets
 * [*start, *end). Other returns as pattern_match. */
int pattern_find(struct pattern *m, size_t init, int anchored, size_t *start, size_t *end);

/* Capture i (0-based) of the match [start, end) just found; with no
 * captures, i 0 is the whole match. Returns PATTERN_CAPTURE_STRING with the
 * bytes in *str, *len, PATTERN_CAPTURE_POSITION with the position in *len,
 * or GK_EINVAL ("invalid capture index %2", "unfinished capture") with the
 * reason in m->err. */
int pattern_capture(struct pattern *m, int i, size_t start, size_t end, const char **str,
                    size_t *len);

/* The number of values a match yields: its captures, or 1 (the whole
 * match) when it has none and whole is set. */
int pattern_ncaptures(const struct pattern *m, int whole);

/* 1 when p[lp] holds none of Lua's special characters ^$*+?.([%- (so that
 * string.find may search for it as plain text). */
int pattern_is_plain(const char *p, size_t lp);

#endif
