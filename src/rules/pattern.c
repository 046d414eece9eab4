/* pattern.c: Lua 5.4 pattern matching with a step budget (see pattern.h).
 *
 * A backtracking matcher over the pattern text, written for gasket from the
 * reference manual. The manual fixes what matches; to give exactly Lua's
 * results where it leaves room (which alternative wins, when an error is
 * seen, when nesting is "too complex"), the matcher walks the pattern the
 * way Lua's does: an item with a `?`, `*`, `+` or `-` suffix, a capture and
 * a capture's end recurse for what follows them; a plain item, %b, %f and a
 * back-reference carry on in a loop, without recursing. Any error sets m->rc
 * and makes every level return NULL at once.
 *
 * The pattern text is read through pat_at() wherever Lua's would read the
 * string's terminating NUL, so nothing past pat_end is touched. */
#include "rules/pattern.h"

#include "core/err.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ESC          '%'
#define CAP_OPEN     (-1) /* len of a capture not closed yet */
#define CAP_POSITION (-2) /* len of a position capture () */
#define SPECIALS     "^$*+?.([%-"

static const char *match_here(struct pattern *m, const char *s, const char *p);

/* Records the first error; returns NULL for the callers' convenience. */
__attribute__((format(printf, 3, 4))) static const char *fail(struct pattern *m, int rc,
                                                              const char *fmt, ...)
{
    if (m->rc) return NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, sizeof m->err, fmt, ap);
    va_end(ap);
    m->rc = rc;
    return NULL;
}

/* Spends n steps; 0 (with GK_ELIMIT recorded) when fewer are left. */
static int spend(struct pattern *m, uint64_t n)
{
    if (m->budget < n || m->budget == 0) {
        m->budget = 0;
        fail(m, GK_ELIMIT, "pattern step budget exhausted");
        return 0;
    }
    m->budget -= n;
    return 1;
}

/* The pattern byte at q, or 0 at the end (where Lua reads the NUL). */
static int pat_at(const struct pattern *m, const char *q)
{
    return q < m->pat_end ? (unsigned char)*q : 0;
}

/* ---- single-character classes -------------------------------------------- */

/* Whether byte c is in the class of %cl (or is cl, for a non-class letter). */
static int class_has(int c, int cl)
{
    int in;
    switch (tolower(cl)) {
    case 'a':
        in = isalpha(c);
        break;
    case 'c':
        in = iscntrl(c);
        break;
    case 'd':
        in = isdigit(c);
        break;
    case 'g':
        in = isgraph(c);
        break;
    case 'l':
        in = islower(c);
        break;
    case 'p':
        in = ispunct(c);
        break;
    case 's':
        in = isspace(c);
        break;
    case 'u':
        in = isupper(c);
        break;
    case 'w':
        in = isalnum(c);
        break;
    case 'x':
        in = isxdigit(c);
        break;
    case 'z':
        in = c == 0;
        break; /* deprecated, still in Lua 5.4 */
    default:
        return cl == c;
    }
    return isupper(cl) ? !in : in != 0;
}

/* Whether byte c is in the set [...] from open (its '[') to close (its ']'). */
static int set_has(int c, const char *open, const char *close)
{
    const char *q = open + 1;
    int want = 1;
    if (*q == '^') {
        want = 0;
        q++;
    }
    for (; q < close; q++) {
        if (*q == ESC) {
            q++;
            if (class_has(c, (unsigned char)*q)) return want;
        } else if (q[1] == '-' && q + 2 < close) {
            if ((unsigned char)q[0] <= c && c <= (unsigned char)q[2]) return want;
            q += 2;
        } else if ((unsigned char)*q == c) {
            return want;
        }
    }
    return !want;
}

/* The end of the single-character class starting at p (where a suffix would
 * be), or NULL for a malformed one. */
static const char *class_end(struct pattern *m, const char *p)
{
    char c = *p++;
    if (c == ESC) {
        if (p == m->pat_end) return fail(m, GK_EINVAL, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c != '[') return p;
    if (pat_at(m, p) == '^') p++;
    do { /* the first byte is a member even when it is ']' */
        if (p == m->pat_end) return fail(m, GK_EINVAL, "malformed pattern (missing ']')");
        c = *p++;
        if (c == ESC && p < m->pat_end) p++;
    } while (pat_at(m, p) != ']');
    return p + 1;
}

/* Whether the subject byte at s is in the class p..ep (ep: past its end). */
static int class_matches(const struct pattern *m, const char *s, const char *p, const char *ep)
{
    if (s >= m->src_end) return 0;
    int c = (unsigned char)*s;
    switch (*p) {
    case '.':
        return 1;
    case ESC:
        return class_has(c, (unsigned char)p[1]);
    case '[':
        return set_has(c, p, ep - 1);
    default:
        return (unsigned char)*p == c;
    }
}

/* ---- repetitions ------------------------------------------------------------ */

/* Item p..ep with `*` (or `+`, its first repetition done): as many
 * repetitions as possible, then fewer until the rest matches. */
static const char *max_expand(struct pattern *m, const char *s, const char *p, const char *ep)
{
    ptrdiff_t i = 0;
    while (class_matches(m, s + i, p, ep)) {
        if (!spend(m, 1)) return NULL;
        i++;
    }
    for (; i >= 0; i--) {
        const char *res = match_here(m, s + i, ep + 1);
        if (res || m->rc) return res;
    }
    return NULL;
}

/* Item p..ep with `-`: as few repetitions as possible. */
static const char *min_expand(struct pattern *m, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *res = match_here(m, s, ep + 1);
        if (res || m->rc) return res;
        if (!class_matches(m, s, p, ep)) return NULL;
        s++;
    }
}

/* ---- captures ----------------------------------------------------------------- */

static const char *open_capture(struct pattern *m, const char *s, const char *p, ptrdiff_t what)
{
    if (m->level >= PATTERN_MAX_CAPTURES) return fail(m, GK_EINVAL, "too many captures");
    m->cap[m->level].init = s;
    m->cap[m->level].len = what;
    m->level++;
    const char *res = match_here(m, s, p);
    if (!res) m->level--;
    return res;
}

static const char *close_capture(struct pattern *m, const char *s, const char *p)
{
    int l = m->level - 1;
    while (l >= 0 && m->cap[l].len != CAP_OPEN)
        l--;
    if (l < 0) return fail(m, GK_EINVAL, "invalid pattern capture");
    m->cap[l].len = s - m->cap[l].init;
    const char *res = match_here(m, s, p);
    if (!res) m->cap[l].len = CAP_OPEN;
    return res;
}

/* ---- items ---------------------------------------------------------------------
 * Each takes the subject and pattern positions in *s and *p. It returns 1
 * with both advanced when the match goes on with the rest of the pattern, or
 * 0 with the whole match's result in *s (NULL: no match, or an error). */

/* %bxy at *p. */
static int balance_item(struct pattern *m, const char **s, const char **p)
{
    const char *q = *p + 2, *t = *s;
    if (m->pat_end - q < 2) {
        *s = fail(m, GK_EINVAL, "malformed pattern (missing arguments to '%%b')");
        return 0;
    }
    *s = NULL;
    if (t >= m->src_end || *t != q[0]) return 0;
    for (int open = 1; ++t < m->src_end;) {
        if (!spend(m, 1)) return 0;
        if (*t == q[1]) {
            if (--open == 0) {
                *s = t + 1;
                *p = q + 2;
                return 1;
            }
        } else if (*t == q[0]) {
            open++;
        }
    }
    return 0;
}

/* %f[set] at *p: the subject goes from a byte outside set to one inside
 * (the start and the end of the subject count as NUL bytes). */
static int frontier_item(struct pattern *m, const char **s, const char **p)
{
    const char *q = *p + 2, *t = *s;
    if (pat_at(m, q) != '[') {
        *s = fail(m, GK_EINVAL, "missing '[' after '%%f' in pattern");
        return 0;
    }
    const char *ep = class_end(m, q);
    int prev = t == m->src ? 0 : (unsigned char)t[-1];
    int cur = t < m->src_end ? (unsigned char)*t : 0;
    if (ep && !set_has(prev, q, ep - 1) && set_has(cur, q, ep - 1)) {
        *p = ep;
        return 1;
    }
    *s = NULL;
    return 0;
}

/* %0-%9 at *p: the text of an earlier, closed capture again. */
static int backref_item(struct pattern *m, const char **s, const char **p)
{
    int l = (*p)[1] - '1';
    if (l < 0 || l >= m->level || m->cap[l].len == CAP_OPEN) {
        *s = fail(m, GK_EINVAL, "invalid capture index %%%d", l + 1);
        return 0;
    }
    ptrdiff_t len = m->cap[l].len;
    if (len < 0 || m->src_end - *s < len || !spend(m, (uint64_t)len / 16) ||
        memcmp(m->cap[l].init, *s, (size_t)len) != 0) {
        *s = NULL;
        return 0;
    }
    *s += len;
    *p += 2;
    return 1;
}

/* A single-character class at *p with its optional suffix. */
static int class_item(struct pattern *m, const char **s, const char **p)
{
    const char *ep = class_end(m, *p);
    if (!ep) {
        *s = NULL;
        return 0;
    }
    int suffix = pat_at(m, ep);
    if (!class_matches(m, *s, *p, ep)) {
        if (suffix == '*' || suffix == '?' || suffix == '-') { /* zero repetitions will do */
            *p = ep + 1;
            return 1;
        }
        *s = NULL;
        return 0;
    }
    switch (suffix) {
    case '?': {
        const char *res = match_here(m, *s + 1, ep + 1);
        if (res || m->rc) {
            *s = res;
            return 0;
        }
        *p = ep + 1;
        return 1;
    }
    case '+':
        *s = max_expand(m, *s + 1, *p, ep);
        return 0;
    case '*':
        *s = max_expand(m, *s, *p, ep);
        return 0;
    case '-':
        *s = min_expand(m, *s, *p, ep);
        return 0;
    default:
        (*s)++;
        *p = ep;
        return 1;
    }
}

static int item(struct pattern *m, const char **s, const char **p)
{
    const char *q = *p;
    switch (*q) {
    case '(':
        if (pat_at(m, q + 1) == ')')
            *s = open_capture(m, *s, q + 2, CAP_POSITION);
        else
            *s = open_capture(m, *s, q + 1, CAP_OPEN);
        return 0;
    case ')':
        *s = close_capture(m, *s, q + 1);
        return 0;
    case '$':
        if (q + 1 != m->pat_end) break; /* a '$' elsewhere is itself */
        if (*s != m->src_end) *s = NULL;
        return 0;
    case ESC:
        switch (pat_at(m, q + 1)) {
        case 'b':
            return balance_item(m, s, p);
        case 'f':
            return frontier_item(m, s, p);
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9':
            return backref_item(m, s, p);
        }
        break;
    }
    return class_item(m, s, p);
}

/* Matches the pattern from p against the subject from s; returns the end of
 * the match or NULL (no match, or an error in m->rc). */
static const char *match_here(struct pattern *m, const char *s, const char *p)
{
    if (m->depth >= PATTERN_MAX_DEPTH) return fail(m, GK_EINVAL, "pattern too complex");
    m->depth++;
    do {
        if (!spend(m, 1)) {
            s = NULL;
            break;
        }
    } while (p != m->pat_end && item(m, &s, &p));
    m->depth--;
    return s;
}

/* ---- the interface ---------------------------------------------------------- */

void pattern_init(struct pattern *m, const char *s, size_t ls, const char *p, size_t lp)
{
    memset(m, 0, sizeof *m);
    m->src = s;
    m->src_end = s + ls;
    m->pat = p;
    m->pat_end = p + lp;
}

int pattern_match(struct pattern *m, size_t pos, size_t *end)
{
    m->level = m->depth = m->rc = 0;
    m->err[0] = '\0';
    const char *res = match_here(m, m->src + pos, m->pat);
    if (m->rc) return m->rc;
    if (!res) return 0;
    *end = (size_t)(res - m->src);
    return 1;
}

int pattern_find(struct pattern *m, size_t init, int anchored, size_t *start, size_t *end)
{
    size_t ls = (size_t)(m->src_end - m->src);
    for (size_t pos = init; pos <= ls; pos++) {
        int rc = pattern_match(m, pos, end);
        if (rc) {
            *start = pos;
            return rc;
        }
        if (anchored) break;
    }
    return 0;
}

int pattern_capture(struct pattern *m, int i, size_t start, size_t end, const char **str,
                    size_t *len)
{
    if (i < 0 || i >= m->level) {
        if (i != 0) {
            snprintf(m->err, sizeof m->err, "invalid capture index %%%d", i + 1);
            return GK_EINVAL;
        }
        *str = m->src + start;
        *len = end - start;
        return PATTERN_CAPTURE_STRING;
    }
    const struct pattern_capture *c = &m->cap[i];
    if (c->len == CAP_OPEN) {
        snprintf(m->err, sizeof m->err, "unfinished capture");
        return GK_EINVAL;
    }
    if (c->len == CAP_POSITION) {
        *len = (size_t)(c->init - m->src) + 1;
        return PATTERN_CAPTURE_POSITION;
    }
    *str = c->init;
    *len = (size_t)c->len;
    return PATTERN_CAPTURE_STRING;
}

int pattern_ncaptures(const struct pattern *m, int whole)
{
    return m->level == 0 && whole ? 1 : m->level;
}

int pattern_is_plain(const char *p, size_t lp)
{
    for (size_t i = 0; i < lp; i++)
        if (p[i] && strchr(SPECIALS, p[i])) return 0;
    return 1;
}
