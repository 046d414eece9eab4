/* fuzz_lua_pattern.c: libFuzzer target for rules/pattern.c, differential
 * against Lua's own string.find.
 *
 * Input: byte 0 picks init (string.find's third argument, -8..23), byte 1
 * the pattern's length n, the next n bytes are the pattern and the rest is
 * the subject. The pattern runs through pattern_find (a leading '^'
 * anchors, as in string.find) with a budget of BUDGET steps. When the budget
 * was enough, the same call to string.find (string.match for a pattern
 * without specials, which find would search as plain text) in a plain Lua
 * state (made once) must give the same answer: nil, the same start, end and
 * captures (strings or positions), or an error with the same message. Lua's matcher
 * does the same work as ours, so an input within our budget is quick for it
 * too. A difference aborts.
 * Corpus: tests/fuzz/corpus/lua_pattern (replayed by `make fuzz-replay`). */
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "rules/pattern.h"

#define BUDGET 20000

static lua_State *lua;

static void die(const char *what, const char *pat, size_t lp, const char *s, size_t ls)
{
    fprintf(stderr, "fuzz_lua_pattern: %s\n  pattern (%zu): ", what, lp);
    fwrite(pat, 1, lp, stderr);
    fprintf(stderr, "\n  subject (%zu): ", ls);
    fwrite(s, 1, ls, stderr);
    fputc('\n', stderr);
    abort();
}

/* Our answer, pushed as string.find (find set) or string.match would return
 * it, or the error message alone; returns the number of values, -1 when the
 * budget ran out. */
static int ours(struct pattern *m, const char *s, size_t ls, const char *p, size_t lp, size_t init,
                int find, int *failed)
{
    int anchored = lp > 0 && p[0] == '^';
    size_t start, end, len;
    const char *str;
    if (init > ls) {
        lua_pushnil(lua);
        return 1;
    }
    pattern_init(m, s, ls, p + anchored, lp - (size_t)anchored);
    m->budget = BUDGET;
    int rc = pattern_find(m, init, anchored, &start, &end);
    if (rc == GK_ELIMIT) return -1;
    if (rc <= 0) {
        *failed = rc < 0;
        if (rc < 0)
            lua_pushstring(lua, m->err);
        else
            lua_pushnil(lua);
        return 1;
    }
    if (find) {
        lua_pushinteger(lua, (lua_Integer)start + 1);
        lua_pushinteger(lua, (lua_Integer)end);
    }
    int n = pattern_ncaptures(m, !find);
    for (int i = 0; i < n; i++) {
        int kind = pattern_capture(m, i, start, end, &str, &len);
        if (kind < 0) {
            lua_settop(lua, 0);
            lua_pushstring(lua, m->err);
            *failed = 1;
            return 1;
        }
        if (kind == PATTERN_CAPTURE_POSITION)
            lua_pushinteger(lua, (lua_Integer)len);
        else
            lua_pushlstring(lua, str, len);
    }
    return n + (find ? 2 : 0);
}

/* Lua's 0-based offset for init, as string.find computes it. */
static size_t init_offset(lua_Integer i, size_t ls)
{
    if (i > 0) return (size_t)i - 1;
    if (i == 0 || i < -(lua_Integer)ls) return 0;
    return ls - (size_t)-i;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pattern m;
    if (size < 2) return 0;
    if (!lua) {
        lua = luaL_newstate();
        luaL_openlibs(lua);
    }
    lua_Integer init = (lua_Integer)(data[0] % 32) - 8;
    size_t lp = data[1] < size - 2 ? data[1] : size - 2;
    const char *p = (const char *)data + 2, *s = p + lp;
    size_t ls = size - 2 - lp;
    /* string.find searches plain text for a pattern without specials */
    int find = !pattern_is_plain(p, lp);
    int failed = 0;
    lua_settop(lua, 0);
    int n = ours(&m, s, ls, p, lp, init_offset(init, ls), find, &failed);
    if (n < 0) return 0;
    int base = lua_gettop(lua);
    lua_getglobal(lua, "string");
    lua_getfield(lua, -1, find ? "find" : "match");
    lua_remove(lua, -2);
    lua_pushlstring(lua, s, ls);
    lua_pushlstring(lua, p, lp);
    lua_pushinteger(lua, init);
    int ok = lua_pcall(lua, 3, LUA_MULTRET, 0) == LUA_OK;
    int got = lua_gettop(lua) - base;
    if (ok == failed)
        die(ok ? "Lua did not fail where we did" : "Lua failed where we did not", p, lp, s, ls);
    if (got != n) die("different number of results", p, lp, s, ls);
    for (int i = 1; i <= n; i++) {
        if (lua_type(lua, i) != lua_type(lua, base + i) || !lua_rawequal(lua, i, base + i))
            die("different results", p, lp, s, ls);
    }
    return 0;
}
