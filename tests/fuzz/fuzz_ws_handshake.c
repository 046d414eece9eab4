/* fuzz_ws_handshake.c: libFuzzer target for the pure handshake helpers of
 * http/ws.c (ws_handshake_check, ws_token_list_has, ws_key_valid,
 * ws_accept_value).
 *
 * The input is split at '\n' into, in order: the method, the HTTP minor
 * version (one digit), the Upgrade, Connection, Sec-WebSocket-Version,
 * Sec-WebSocket-Key and Sec-WebSocket-Protocol values and the subprotocol the
 * server wants; a missing line is an absent header. Checked: a refusal is a
 * 400 or 426 with a reason; an acceptance implies every condition it stands
 * for and yields a 28-character accept value; every non-empty item of a list
 * is found in it. Corpus: tests/fuzz/corpus/ws_handshake. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "http/ws.h"

#define FIELDS 8

/* Every item of a comma list, trimmed, must be found in the list. */
static void check_items(const char *list)
{
    char item[256];
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        const char *s = p;
        size_t len = n;
        while (len && (*s == ' ' || *s == '\t'))
            s++, len--;
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len > 0 && len < sizeof(item)) {
            memcpy(item, s, len);
            item[len] = '\0';
            if (!ws_token_list_has(list, item, 0) || !ws_token_list_has(list, item, 1)) abort();
        }
        p += n + (p[n] == ',');
    }
}

static void check(const struct ws_handshake *hs, const char *subprotocol)
{
    int status = -1;
    const char *why = NULL;
    int rc = ws_handshake_check(hs, subprotocol, &status, &why);
    if (rc != 0) {
        if (rc != GK_EPROTO || (status != 400 && status != 426) || !why || !*why) abort();
        return;
    }
    if (!hs->key || !ws_key_valid(hs->key) || !ws_token_list_has(hs->upgrade, "websocket", 1) ||
        !ws_token_list_has(hs->connection, "upgrade", 1) || strcmp(hs->method, "GET") != 0)
        abort();
    if (subprotocol && !ws_token_list_has(hs->protocol, subprotocol, 0)) abort();
    char accept[29];
    ws_accept_value(hs->key, accept);
    if (strlen(accept) != 28 || accept[27] != '=') abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *field[FIELDS] = {0};
    memcpy(text, data, size);
    text[size] = '\0';
    char *p = text;
    for (int i = 0; i < FIELDS && p; i++) {
        field[i] = p;
        p = strchr(p, '\n');
        if (p) *p++ = '\0';
    }
    struct ws_handshake hs = {
        .method = field[0] ? field[0] : "",
        .major = 1,
        .minor = field[1] && field[1][0] >= '0' && field[1][0] <= '9' ? field[1][0] - '0' : 1,
        .upgrade = field[2],
        .connection = field[3],
        .version = field[4],
        .key = field[5],
        .protocol = field[6],
    };
    for (int i = 2; i < 7; i++)
        check_items(field[i]);
    if (field[5]) ws_key_valid(field[5]);
    check(&hs, field[7] && *field[7] ? field[7] : NULL);
    free(text);
    return 0;
}
