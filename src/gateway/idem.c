/* idem.c: idempotency keys as the gateway takes them from clients (idem.h). */
#include "gateway/idem.h"
#include "core/err.h"
#include "core/map.h"
#include "core/mem.h"

#include <string.h>

int idem_key_check(const char *s, size_t len, const char **key, size_t *klen, char *err,
                   size_t errlen)
{
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        s++;
        len -= 2;
    }
    if (len == 0 || len > IDEM_KEY_MAX)
        return gk_errf(err, errlen, GK_EINVAL,
                       "an idempotency key must be 1 to %d characters long, not %zu", IDEM_KEY_MAX,
                       len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return gk_errf(err, errlen, GK_EINVAL,
                           "an idempotency key holds printable ASCII characters only (no '\"' "
                           "nor '\\'): character %zu is not one",
                           i + 1);
    }
    *key = s;
    *klen = len;
    return 0;
}

char *idem_scoped(const char *principal, const struct idem_key *k, size_t *outlen)
{
    size_t plen = strlen(principal);
    char *out = xmalloc(plen + 1 + k->len + 1);
    memcpy(out, principal, plen);
    out[plen] = '\n';
    memcpy(out + plen + 1, k->key, k->len);
    out[plen + 1 + k->len] = '\0';
    *outlen = plen + 1 + k->len;
    return out;
}

uint64_t idem_fingerprint(const char *body, size_t len)
{
    return map_fnv64(MAP_FNV64_OFFSET, body, len);
}
