/* auth.c: the broker's password and ACL files (auth.h).
 *
 * Four parts: file and line reading shared by both parsers; the password file
 * (base64, PBKDF2-HMAC-SHA512 through OpenSSL, parse, check, hash, and the
 * atomic rewrite behind `gasket passwd`); the ACL file parser, which compiles
 * rules into per-block lists (anonymous, one per user, patterns), allow and
 * deny apart; and the checks, which substitute %u and %c into a stack buffer
 * and match with mqtt_topic_matches() or the filter cover test. */
#include "mqtt/auth.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/file.h"
#include "core/map.h"
#include "core/mem.h"
#include "mqtt/topic.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define FILE_MAX    (64u << 20)
#define USER_MAX    65535
#define PW_HASH_LEN 64
#define PW_SALT_LEN 12
#define PW_SALT_MAX 64
#define B64_TMP     96 /* decoded bytes of the longest base64 field read */

/* ---- Errors, files and lines -------------------------------------------- */


/* Reads the whole file at path into b; *mode (if not NULL) gets its mode. */
static int read_file(const char *path, struct buf *b, mode_t *mode, char *err, size_t errlen)
{
    return file_read(path, b, FILE_MAX, mode, err, errlen);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

struct lines {
    const char *p, *end;
    unsigned no;
};

/* The next line without its end of line and surrounding white space. */
static bool next_line(struct lines *ls, const char **line, size_t *len)
{
    if (ls->p >= ls->end) return false;
    const char *nl = memchr(ls->p, '\n', (size_t)(ls->end - ls->p));
    const char *s = ls->p, *e = nl ? nl : ls->end;
    ls->p = nl ? nl + 1 : ls->end;
    ls->no++;
    while (s < e && is_blank(*s))
        s++;
    while (e > s && is_blank(e[-1]))
        e--;
    *line = s;
    *len = (size_t)(e - s);
    return true;
}

/* Hands each line that is not blank or a comment to fn, which returns NULL
 * or the reason the line is refused. */
typedef const char *(*line_fn)(void *ctx, const char *line, size_t len);

static int parse_lines(const char *text, size_t len, const char *name, line_fn fn, void *ctx,
                       char *err, size_t errlen)
{
    if (!text) text = "";
    struct lines ls = {text, text + len, 0};
    const char *line;
    size_t n;
    while (next_line(&ls, &line, &n)) {
        if (n == 0 || line[0] == '#') continue;
        const char *why = memchr(line, '\0', n) ? "NUL byte in line" : fn(ctx, line, n);
        if (why) return gk_errf(err, errlen, GK_ECONFIG, "%s:%u: %s", name, ls.no, why);
    }
    return 0;
}

/* ---- Password file: fields and PBKDF2 ----------------------------------- */

struct pw_entry {
    unsigned iter;
    int role; /* enum mqtt_passwd_role */
    size_t salt_len;
    uint8_t salt[PW_SALT_MAX];
    uint8_t hash[PW_HASH_LEN];
};

struct mqtt_passwd {
    struct map users;      /* user name -> struct pw_entry * */
    struct pw_entry dummy; /* what an unknown user is checked against */
};

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Decodes padded standard base64 into out; returns the length, or -1 when s
 * is not base64 or decodes to more than cap bytes. */
static int b64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    uint8_t tmp[B64_TMP];
    if (n == 0 || n % 4 || n / 4 * 3 > sizeof tmp) return -1;
    size_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    for (size_t i = 0; i < n - pad; i++)
        if (!is_b64(s[i])) return -1;
    int got = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
    if (got < (int)pad || (size_t)got - pad > cap) return -1;
    memcpy(out, tmp, (size_t)got - pad);
    return got - (int)pad;
}

/* Parses 1 to 8 decimal digits worth 1..MQTT_PASSWD_ITER_MAX. */
static bool parse_iter(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    if (n == 0 || n > 8) return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return v >= 1 && v <= MQTT_PASSWD_ITER_MAX;
}

static bool derive(const char *pass, size_t plen, const struct pw_entry *e,
                   uint8_t out[PW_HASH_LEN])
{
    if (plen > INT_MAX) return false;
    return PKCS5_PBKDF2_HMAC(pass ? pass : "", (int)plen, e->salt, (int)e->salt_len, (int)e->iter,
                             EVP_sha512(), PW_HASH_LEN, out) == 1;
}

/* Parses "$7$ITER$SALT$HASH" into e; returns NULL or the reason. */
static const char *parse_hash(const char *s, size_t n, struct pw_entry *e)
{
    const char *end = s + n, *f[3];
    size_t fl[3];
    if (n >= 3 && s[0] == '$' && s[2] == '$' && s[1] != '7')
        return "unsupported hash type (only $7$, PBKDF2-SHA512)";
    if (n < 3 || memcmp(s, "$7$", 3) != 0) return "expected USER:$7$ITERATIONS$SALT$HASH";
    const char *p = s + 3;
    for (int i = 0; i < 3; i++) {
        const char *q = memchr(p, '$', (size_t)(end - p));
        if ((i < 2) != (q != NULL)) return "expected USER:$7$ITERATIONS$SALT$HASH";
        f[i] = p;
        fl[i] = (size_t)((q ? q : end) - p);
        p = q ? q + 1 : end;
    }
    if (!parse_iter(f[0], fl[0], &e->iter)) return "iterations must be 1 to 10000000";
    int sl = b64_decode(f[1], fl[1], e->salt, sizeof e->salt);
    if (sl <= 0) return "salt must be 1 to 64 bytes in base64";
    e->salt_len = (size_t)sl;
    if (b64_decode(f[2], fl[2], e->hash, sizeof e->hash) != PW_HASH_LEN)
        return "hash must be 64 bytes in base64";
    return NULL;
}

/* The role a field names, or -1. */
static int role_of(const char *s, size_t n)
{
    static const char *const names[] = {[MQTT_PASSWD_VIEWER] = "viewer",
                                        [MQTT_PASSWD_ADMIN] = "admin"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && memcmp(s, names[i], n) == 0) return (int)i;
    return -1;
}

/* ---- Password file: the table ------------------------------------------- */

struct pw_parse {
    struct mqtt_passwd *p;
    unsigned cand, votes; /* Boyer-Moore majority vote over iteration counts */
};

static const char *pw_line(void *ctx, const char *line, size_t len)
{
    struct pw_parse *ps = ctx;
    const char *colon = memchr(line, ':', len);
    if (!colon) return "expected USER:$7$ITERATIONS$SALT$HASH";
    size_t ulen = (size_t)(colon - line);
    if (ulen == 0) return "empty user name";
    if (ulen > USER_MAX) return "user name longer than 65535 bytes";
    struct pw_entry e = {0};
    const char *hash = colon + 1, *end = line + len;
    const char *role = memchr(hash, ':', (size_t)(end - hash));
    const char *why = parse_hash(hash, (size_t)((role ? role : end) - hash), &e);
    if (why) return why;
    if (role && (e.role = role_of(role + 1, (size_t)(end - role - 1))) < 0)
        return "role must be admin or viewer";
    if (map_get(&ps->p->users, line, ulen)) return "duplicate user";
    struct pw_entry *copy = xmalloc(sizeof *copy);
    *copy = e;
    map_put(&ps->p->users, line, ulen, copy);
    if (ps->votes == 0) ps->cand = e.iter;
    if (ps->cand == e.iter)
        ps->votes++;
    else
        ps->votes--;
    return NULL;
}

static void free_value(void *ud, const char *key, void *value)
{
    (void)ud;
    (void)key;
    free(value);
}

void mqtt_passwd_free(struct mqtt_passwd *p)
{
    if (!p) return;
    map_foreach(&p->users, free_value, NULL);
    map_free(&p->users);
    free(p);
}

int mqtt_passwd_parse(struct mqtt_passwd **out, const char *text, size_t len, const char *name,
                      char *err, size_t errlen)
{
    struct pw_parse ps = {xcalloc(1, sizeof *ps.p), 0, 0};
    *out = NULL;
    int rc = parse_lines(text, len, name, pw_line, &ps, err, errlen);
    if (rc) {
        mqtt_passwd_free(ps.p);
        return rc;
    }
    struct pw_entry *d = &ps.p->dummy;
    d->iter = ps.p->users.count ? ps.cand : MQTT_PASSWD_ITER_DEFAULT;
    d->salt_len = PW_SALT_LEN;
    if (RAND_bytes(d->salt, PW_SALT_LEN) != 1) memset(d->salt, 0x5a, PW_SALT_LEN);
    *out = ps.p;
    return 0;
}

int mqtt_passwd_load(struct mqtt_passwd **out, const char *path, char *err, size_t errlen)
{
    struct buf b = {0};
    *out = NULL;
    int rc = read_file(path, &b, NULL, err, errlen);
    if (rc == 0) rc = mqtt_passwd_parse(out, b.data, b.len, path, err, errlen);
    buf_free(&b);
    return rc;
}

bool mqtt_passwd_check(const struct mqtt_passwd *p, const char *user, size_t ulen, const char *pass,
                       size_t plen)
{
    const struct pw_entry *e = map_get(&p->users, user ? user : "", user ? ulen : 0);
    uint8_t dk[PW_HASH_LEN];
    bool ok = derive(pass, plen, e ? e : &p->dummy, dk);
    ok = CRYPTO_memcmp(dk, e ? e->hash : p->dummy.hash, PW_HASH_LEN) == 0 && ok;
    OPENSSL_cleanse(dk, sizeof dk);
    return ok && e != NULL;
}

size_t mqtt_passwd_count(const struct mqtt_passwd *p)
{
    return p->users.count;
}

int mqtt_passwd_role(const struct mqtt_passwd *p, const char *user, size_t ulen)
{
    const struct pw_entry *e = map_get(&p->users, user, ulen);
    return e ? e->role : GK_ENOTFOUND;
}

int mqtt_passwd_hash(const char *password, unsigned iterations, char *out, size_t outlen)
{
    struct pw_entry e = {.iter = iterations, .salt_len = PW_SALT_LEN};
    uint8_t dk[PW_HASH_LEN];
    char salt64[4 * ((PW_SALT_LEN + 2) / 3) + 1], hash64[4 * ((PW_HASH_LEN + 2) / 3) + 1];
    if (iterations < 1 || iterations > MQTT_PASSWD_ITER_MAX) return GK_EINVAL;
    if (outlen < MQTT_PASSWD_HASH_MAX) return GK_ETOOBIG;
    if (RAND_bytes(e.salt, PW_SALT_LEN) != 1 || !derive(password, strlen(password), &e, dk))
        return GK_ETLS;
    EVP_EncodeBlock((unsigned char *)salt64, e.salt, PW_SALT_LEN);
    EVP_EncodeBlock((unsigned char *)hash64, dk, PW_HASH_LEN);
    OPENSSL_cleanse(dk, sizeof dk);
    snprintf(out, outlen, "$7$%u$%s$%s", iterations, salt64, hash64);
    return 0;
}

/* ---- Password file: rewriting ------------------------------------------- */

bool mqtt_passwd_valid_user(const char *user)
{
    size_t n = strlen(user);
    if (n == 0 || n > USER_MAX || user[0] == '#' || user[0] == ' ') return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)user[i];
        if (c == ':' || c < 0x20 || c == 0x7f) return false;
    }
    return true;
}

/* The role field of a password-file line s[0..n) ("USER:HASH:ROLE"),
 * without surrounding white space, into *role (length *rlen); false when
 * the line has none. */
static bool line_role(const char *s, size_t n, const char **role, size_t *rlen)
{
    const char *end = s + n, *c1 = memchr(s, ':', n);
    const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
    if (!c2) return false;
    *role = c2 + 1;
    while (end > *role && (is_blank(end[-1]) || end[-1] == '\n'))
        end--;
    *rlen = (size_t)(end - *role);
    return true;
}

/* Copies old into out with user's line set to hash (first one replaced, any
 * others dropped; appended when absent) or removed (hash NULL). The new line
 * carries role, or with role NULL the role field of user's old line, if any.
 * Returns whether user had a line. */
static bool rewrite(const struct buf *old, const char *user, const char *hash, const char *role,
                    struct buf *out)
{
    size_t ulen = strlen(user), rlen = role ? strlen(role) : 0;
    bool found = false;
    const char *p = old->data ? old->data : "", *end = p + old->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *next = nl ? nl + 1 : end, *s = p;
        while (s < next && is_blank(*s))
            s++;
        bool mine = (size_t)(next - s) > ulen && memcmp(s, user, ulen) == 0 && s[ulen] == ':';
        if (mine && !found && !role && line_role(s, (size_t)(next - s), &role, &rlen))
            role = rlen ? role : NULL;
        if (mine && hash && !found)
            buf_printf(out, "%s:%s%s%.*s\n", user, hash, role ? ":" : "", (int)rlen,
                       role ? role : "");
        if (!mine) buf_append(out, p, (size_t)(next - p));
        if (!mine && !nl) buf_putc(out, '\n');
        found = found || mine;
        p = next;
    }
    if (!found && hash)
        buf_printf(out, "%s:%s%s%s\n", user, hash, role ? ":" : "", role ? role : "");
    return found;
}

int mqtt_passwd_file_set(const char *path, const char *user, const char *hash, const char *role,
                         char *err, size_t errlen)
{
    struct buf old = {0}, out = {0};
    mode_t mode = 0600;
    if (!mqtt_passwd_valid_user(user))
        return gk_errf(err, errlen, GK_EINVAL,
                    "invalid user name \"%s\" (empty, ':', a control character, or a leading "
                    "'#' or space)",
                    user);
    if (!hash) role = NULL;
    if (role && role_of(role, strlen(role)) < 0)
        return gk_errf(err, errlen, GK_EINVAL, "invalid role \"%s\" (admin or viewer)", role);
    int rc = read_file(path, &old, &mode, err, errlen);
    if (rc == GK_ENOTFOUND && hash) rc = 0;
    if (rc == 0 && !rewrite(&old, user, hash, role, &out) && !hash)
        rc = gk_errf(err, errlen, GK_ENOTFOUND, "%s: no user \"%s\"", path, user);
    if (rc == 0) rc = file_write(path, out.data, out.len, mode, 0, err, errlen);
    buf_free(&old);
    buf_free(&out);
    return rc;
}

/* ---- ACL file: the parser ------------------------------------------------ */

#define SUB_U 1 /* the rule has a %u level */
#define SUB_C 2 /* the rule has a %c level */

struct acl_rule {
    char *pat; /* a valid topic filter, NUL-terminated */
    size_t len;
    uint8_t access; /* MQTT_ACL_READ | MQTT_ACL_WRITE bits; 0 in deny lists */
    uint8_t subst;  /* SUB_U | SUB_C */
};

struct acl_rules {
    struct acl_rule *v;
    size_t n, cap;
};

struct acl_block {
    struct acl_rules allow, deny;
};

struct mqtt_acl {
    struct acl_block anon;     /* rules before any `user` line */
    struct acl_block patterns; /* `pattern` rules, for every client */
    struct map users;          /* user name -> struct acl_block * */
};

struct acl_parse {
    struct mqtt_acl *a;
    struct acl_block *cur; /* the block `topic` lines go to */
};

static const struct {
    const char *word;
    int access; /* 0: deny */
} acl_access_words[] = {
    {"read", MQTT_ACL_READ},
    {"write", MQTT_ACL_WRITE},
    {"readwrite", MQTT_ACL_READ | MQTT_ACL_WRITE},
    {"deny", 0},
};

/* Length of the word at s (up to the first blank). */
static size_t word_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && !is_blank(s[i]))
        i++;
    return i;
}

static bool word_is(const char *s, size_t n, const char *w)
{
    return strlen(w) == n && memcmp(s, w, n) == 0;
}

/* Which of %u and %c the pattern's levels are; NULL, or the reason when one
 * of them is only part of a level. */
static const char *subst_levels(const char *s, size_t n, uint8_t *subst)
{
    const char *end = s + n;
    *subst = 0;
    for (const char *p = s; p;) {
        const char *q = memchr(p, '/', (size_t)(end - p));
        size_t l = (size_t)((q ? q : end) - p);
        if (word_is(p, l, "%u"))
            *subst |= SUB_U;
        else if (word_is(p, l, "%c"))
            *subst |= SUB_C;
        else if (memmem(p, l, "%u", 2) || memmem(p, l, "%c", 2))
            return "%u and %c must be a whole topic level";
        p = q ? q + 1 : NULL;
    }
    if (*subst && n > MQTT_ACL_PATTERN_MAX) return "pattern with %u or %c longer than 1024 bytes";
    return NULL;
}

static void rules_push(struct acl_rules *rs, const char *pat, size_t len, int access, uint8_t sub)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 4;
        rs->v = xrealloc(rs->v, rs->cap * sizeof *rs->v);
    }
    rs->v[rs->n++] = (struct acl_rule){xstrndup(pat, len), len, (uint8_t)access, sub};
}

/* "[ACCESS] PATTERN" of a `topic` (into b) or `pattern` line. */
static const char *acl_rule(struct acl_block *b, const char *s, size_t n, bool pattern)
{
    int access = MQTT_ACL_READ | MQTT_ACL_WRITE;
    size_t wl = word_len(s, n);
    for (size_t i = 0; i < sizeof acl_access_words / sizeof acl_access_words[0]; i++) {
        if (!word_is(s, wl, acl_access_words[i].word)) continue;
        access = acl_access_words[i].access;
        for (s += wl, n -= wl; n && is_blank(*s); s++, n--)
            ;
        break;
    }
    if (n == 0) return "missing topic pattern";
    if (!mqtt_topic_valid_filter(s, n, NULL)) return "not a valid topic filter";
    uint8_t sub = 0;
    const char *why = pattern ? subst_levels(s, n, &sub) : NULL;
    if (why) return why;
    rules_push(access ? &b->allow : &b->deny, s, n, access, sub);
    return NULL;
}

static const char *acl_kw_user(struct acl_parse *ps, const char *s, size_t n)
{
    if (n == 0) return "missing user name";
    struct acl_block *b = map_get(&ps->a->users, s, n);
    if (!b) {
        b = xcalloc(1, sizeof *b);
        map_put(&ps->a->users, s, n, b);
    }
    ps->cur = b;
    return NULL;
}

static const char *acl_kw_topic(struct acl_parse *ps, const char *s, size_t n)
{
    return acl_rule(ps->cur, s, n, false);
}

static const char *acl_kw_pattern(struct acl_parse *ps, const char *s, size_t n)
{
    return acl_rule(&ps->a->patterns, s, n, true);
}

static const struct {
    const char *word;
    const char *(*fn)(struct acl_parse *ps, const char *rest, size_t n);
} acl_keywords[] = {
    {"user", acl_kw_user},
    {"topic", acl_kw_topic},
    {"pattern", acl_kw_pattern},
};

static const char *acl_line(void *ctx, const char *line, size_t len)
{
    size_t wl = word_len(line, len);
    const char *rest = line + wl;
    size_t n = len - wl;
    for (; n && is_blank(*rest); rest++, n--)
        ;
    for (size_t i = 0; i < sizeof acl_keywords / sizeof acl_keywords[0]; i++)
        if (word_is(line, wl, acl_keywords[i].word)) return acl_keywords[i].fn(ctx, rest, n);
    return "unknown keyword (expected user, topic or pattern)";
}

static void block_free(struct acl_block *b)
{
    struct acl_rules *lists[2] = {&b->allow, &b->deny};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < lists[l]->n; i++)
            free(lists[l]->v[i].pat);
        free(lists[l]->v);
    }
}

static void user_block_free(void *ud, const char *key, void *value)
{
    (void)ud;
    (void)key;
    block_free(value);
    free(value);
}

void mqtt_acl_free(struct mqtt_acl *a)
{
    if (!a) return;
    block_free(&a->anon);
    block_free(&a->patterns);
    map_foreach(&a->users, user_block_free, NULL);
    map_free(&a->users);
    free(a);
}

int mqtt_acl_parse(struct mqtt_acl **out, const char *text, size_t len, const char *name, char *err,
                   size_t errlen)
{
    struct mqtt_acl *a = xcalloc(1, sizeof *a);
    struct acl_parse ps = {a, &a->anon};
    int rc = parse_lines(text, len, name, acl_line, &ps, err, errlen);
    if (rc) {
        mqtt_acl_free(a);
        a = NULL;
    }
    *out = a;
    return rc;
}

int mqtt_acl_load(struct mqtt_acl **out, const char *path, char *err, size_t errlen)
{
    struct buf b = {0};
    *out = NULL;
    int rc = read_file(path, &b, NULL, err, errlen);
    if (rc == 0) rc = mqtt_acl_parse(out, b.data, b.len, path, err, errlen);
    buf_free(&b);
    return rc;
}

/* ---- ACL checks ---------------------------------------------------------- */

/* The client's values for %u and %c: usable (ok), or present but refused
 * (bad: empty, or containing '/', '+' or '#'). */
struct who {
    const char *val[2]; /* [0] user name, [1] client id */
    size_t len[2];
    uint8_t ok, bad; /* SUB_U | SUB_C */
};

static void who_init(struct who *w, const char *user, const char *client_id)
{
    *w = (struct who){{user, client_id}, {0, 0}, 0, 0};
    for (int i = 0; i < 2; i++) {
        if (!w->val[i]) continue;
        w->len[i] = strlen(w->val[i]);
        bool bad = w->len[i] == 0 || strpbrk(w->val[i], "/+#");
        *(bad ? &w->bad : &w->ok) |= (uint8_t)(i ? SUB_C : SUB_U);
    }
}

/* Writes r's pattern with its %u and %c levels replaced into buf; returns
 * the length, or -1 when it does not fit or a value starting with '$' would
 * become the first level (a client id "$SYS" must not turn "%c/#" into
 * "$SYS/#"). */
static long substitute(const struct acl_rule *r, const struct who *w, char *buf)
{
    const char *end = r->pat + r->len;
    size_t n = 0;
    for (const char *p = r->pat; p;) {
        const char *q = memchr(p, '/', (size_t)(end - p));
        size_t l = (size_t)((q ? q : end) - p);
        int v = word_is(p, l, "%u") ? 0 : word_is(p, l, "%c") ? 1 : -1;
        const char *src = v < 0 ? p : w->val[v];
        size_t sl = v < 0 ? l : w->len[v];
        if (n + sl + 1 > MQTT_ACL_SUBST_MAX || (n == 0 && v >= 0 && src[0] == '$')) return -1;
        memcpy(buf + n, src, sl);
        n += sl;
        if (q) buf[n++] = '/';
        p = q ? q + 1 : NULL;
    }
    return (long)n;
}

/* The length of the level at p (up to end) and where the next begins. */
static size_t level(const char *p, const char *end, const char **next)
{
    const char *q = memchr(p, '/', (size_t)(end - p));
    *next = q ? q + 1 : NULL;
    return (size_t)((q ? q : end) - p);
}

/* True when the ACL filter matches every topic name the subscription filter
 * f matches ('$' rule of mqtt_topic_matches included). */
static bool covers(const char *acl, size_t alen, const char *f, size_t flen)
{
    if (flen && f[0] == '$' && alen && (acl[0] == '+' || acl[0] == '#')) return false;
    const char *ae = acl + alen, *fe = f + flen, *a = acl, *s = f;
    while (a) {
        const char *an, *sn;
        size_t al = level(a, ae, &an);
        if (al == 1 && a[0] == '#') return true;
        if (!s) return false;
        size_t sl = level(s, fe, &sn);
        if (sl == 1 && s[0] == '#') return false;
        if (!(al == 1 && a[0] == '+') && (al != sl || memcmp(a, s, al) != 0)) return false;
        a = an;
        s = sn;
    }
    return s == NULL;
}

enum { R_NO, R_YES, R_BAD };

/* Whether rule r applies to t (a topic name, or a filter when `filter`):
 * R_BAD when it needs a value the client has but that is refused. */
static int rule_test(const struct acl_rule *r, const struct who *w, const char *t, size_t tl,
                     bool filter)
{
    char buf[MQTT_ACL_SUBST_MAX];
    const char *pat = r->pat;
    size_t plen = r->len;
    if (r->subst) {
        if (r->subst & ~(w->ok | w->bad)) return R_NO; /* e.g. %u for an anonymous client */
        if (r->subst & w->bad) return R_BAD;
        long n = substitute(r, w, buf);
        if (n < 0) return R_BAD;
        pat = buf;
        plen = (size_t)n;
    }
    bool m = filter ? covers(pat, plen, t, tl) : mqtt_topic_matches(pat, plen, t, tl);
    return m ? R_YES : R_NO;
}

static bool decide(const struct mqtt_acl *a, const char *user, const char *client_id, const char *t,
                   size_t tl, int access, bool filter)
{
    if (access < MQTT_ACL_READ || access > (MQTT_ACL_READ | MQTT_ACL_WRITE) || tl == 0)
        return false;
    struct who w;
    who_init(&w, user, client_id);
    const struct acl_block *blocks[2] = {user ? map_get(&a->users, user, w.len[0]) : &a->anon,
                                         &a->patterns};
    for (int b = 0; b < 2; b++)
        for (size_t i = 0; blocks[b] && i < blocks[b]->deny.n; i++)
            if (rule_test(&blocks[b]->deny.v[i], &w, t, tl, filter) != R_NO) return false;
    for (int b = 0; b < 2; b++) {
        for (size_t i = 0; blocks[b] && i < blocks[b]->allow.n; i++) {
            const struct acl_rule *r = &blocks[b]->allow.v[i];
            if ((r->access & access) == access && rule_test(r, &w, t, tl, filter) == R_YES)
                return true;
        }
    }
    return false;
}

bool mqtt_acl_allows(const struct mqtt_acl *a, const char *user, const char *client_id,
                     const char *topic, size_t len, int access)
{
    return decide(a, user, client_id, topic, len, access, false);
}

bool mqtt_acl_allows_filter(const struct mqtt_acl *a, const char *user, const char *client_id,
                            const char *filter, size_t len, int access)
{
    return decide(a, user, client_id, filter, len, access, true);
}

bool mqtt_acl_user_grants(const struct mqtt_acl *a, const char *user, const char *topic,
                          size_t len, int access)
{
    if (!a || !user || len == 0 || access < MQTT_ACL_READ ||
        access > (MQTT_ACL_READ | MQTT_ACL_WRITE))
        return false;
    struct who w;
    who_init(&w, user, NULL);
    const struct acl_block *own = map_get(&a->users, user, w.len[0]);
    if (!own)
        return false;
    const struct acl_block *blocks[2] = {own, &a->patterns};
    for (int b = 0; b < 2; b++)
        for (size_t i = 0; i < blocks[b]->deny.n; i++)
            if (rule_test(&blocks[b]->deny.v[i], &w, topic, len, false) != R_NO) return false;
    for (size_t i = 0; i < own->allow.n; i++) {
        const struct acl_rule *r = &own->allow.v[i];
        if ((r->access & access) == access && rule_test(r, &w, topic, len, false) == R_YES)
            return true;
    }
    return false;
}
