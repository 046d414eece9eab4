/* function.c: Lua functions in a sandbox (see function.h).
 *
 * Every step that can raise a Lua error (building the sandbox, loading and
 * running the chunk, converting the event, calling the handler, converting
 * its result) runs inside one lua_pcall, so an allocation refused by the
 * memory ceiling never reaches the panic handler. JSON values built from Lua
 * are attached to a root held by the struct function as soon as they are
 * created, so a Lua error part-way through leaks nothing: the caller drops
 * the root. The instruction budget is counted by a count hook every
 * FUNCTION_HOOK_STEP instructions; it is kept exhausted between calls, so a
 * stray __gc finalizer is stopped within one step. */
#include "rules/function.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/utf8.h"
#include "mqtt/topic.h"
#include "rules/pattern.h"

#include <ctype.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct function {
    lua_State *L;
    char *path;
    size_t mem_used, mem_limit;
    uint64_t steps, max_steps; /* hook calls this call, and the budget */
    uint64_t pattern_owed;     /* pattern steps not charged yet (less than a hook step) */
    int mem_refused, limit_hit;
    int handler_ref, null_ref, array_ref;
    const void *null_ptr; /* gasket.null's identity */
    int load_status;      /* of luaL_loadfilex, inside the protected load */
    /* the call in progress */
    int in_call;
    function_publish_cb publish;
    void *ud;
    json_t *event;   /* read only */
    json_t *result;  /* the handler's result, being built */
    json_t *scratch; /* a publish payload, being built */
};

static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const absent_globals[] = {"io",     "package",  "debug", "require",
                                             "dofile", "loadfile", NULL};

static struct function *fn_of(lua_State *L)
{
    return *(struct function **)lua_getextraspace(L);
}

/* ---- allocator and instruction hook -------------------------------------- */

static void fn_hook(lua_State *L, lua_Debug *ar);

static void *fn_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct function *f = ud;
    size_t old = ptr ? osize : 0; /* without ptr, osize is a type tag */
    if (nsize == 0) {
        free(ptr);
        f->mem_used -= old;
        return NULL;
    }
    if (nsize > old && nsize - old > f->mem_limit - f->mem_used) {
        f->mem_refused = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p) {
        f->mem_refused = 1;
        return NULL;
    }
    f->mem_used = f->mem_used - old + nsize;
    return p;
}

/* Raises the limit error, and from now on the hook of this thread runs on
 * every instruction, so that a script catching the error (pcall, a
 * coroutine) fails again at its next instruction instead of looping on. */
static int limit_error(lua_State *L, struct function *f)
{
    f->limit_hit = 1;
    f->steps = f->max_steps;
    lua_sethook(L, fn_hook, LUA_MASKCOUNT, 1);
    lua_pushliteral(L, "instruction limit reached");
    return lua_error(L);
}

static void fn_hook(lua_State *L, lua_Debug *ar)
{
    struct function *f = fn_of(L);
    (void)ar;
    if (f->steps < f->max_steps) {
        if (lua_gethookcount(L) != FUNCTION_HOOK_STEP) { /* left fast by an earlier call */
            lua_sethook(L, fn_hook, LUA_MASKCOUNT, FUNCTION_HOOK_STEP);
            return;
        }
        if (++f->steps < f->max_steps) return;
    }
    limit_error(L, f);
}

/* Charges n instructions' worth of C work to the budget. */
static void charge(lua_State *L, struct function *f, uint64_t n)
{
    uint64_t steps = n / FUNCTION_HOOK_STEP;
    if (steps >= f->max_steps - f->steps) limit_error(L, f);
    f->steps += steps;
}

/* ---- JSON -> Lua ---------------------------------------------------------- */

static void push_json(lua_State *L, struct function *f, json_t *v, int depth);

static void push_object(lua_State *L, struct function *f, json_t *v, int depth)
{
    const char *k;
    size_t klen;
    json_t *e;
    lua_createtable(L, 0, (int)json_object_size(v));
    json_object_keylen_foreach(v, k, klen, e)
    {
        lua_pushlstring(L, k, klen);
        push_json(L, f, e, depth + 1);
        lua_rawset(L, -3);
    }
}

static void push_array(lua_State *L, struct function *f, json_t *v, int depth)
{
    size_t n = json_array_size(v);
    lua_createtable(L, n < INT32_MAX ? (int)n : 0, 0);
    for (size_t i = 0; i < n; i++) {
        push_json(L, f, json_array_get(v, i), depth + 1);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, f->array_ref);
    lua_setmetatable(L, -2);
}

static void push_json(lua_State *L, struct function *f, json_t *v, int depth)
{
    if (depth > FUNCTION_MAX_DEPTH)
        luaL_error(L, "event nested deeper than %d", FUNCTION_MAX_DEPTH);
    luaL_checkstack(L, 4, "event too deep");
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        push_object(L, f, v, depth);
        break;
    case JSON_ARRAY:
        push_array(L, f, v, depth);
        break;
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(v));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(v));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    case JSON_NULL:
        lua_rawgeti(L, LUA_REGISTRYINDEX, f->null_ref);
        break;
    }
}

/* ---- Lua -> JSON ---------------------------------------------------------- */

/* Where a value sits, for error messages: a member name or an element. */
struct where {
    const char *key;
    lua_Integer index;
};

static int where_error(lua_State *L, const struct where *w, const char *what)
{
    if (w->key) return luaL_error(L, "%s (member '%s')", what, w->key);
    if (w->index) return luaL_error(L, "%s (element %I)", what, w->index);
    return luaL_error(L, "%s", what);
}

/* 1 when the table at idx is an array: marked, or keyed exactly 1..n. */
static int table_is_array(lua_State *L, struct function *f, int idx, lua_Integer *n)
{
    int marked = 0;
    if (lua_getmetatable(L, idx)) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, f->array_ref);
        marked = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    lua_Integer count = 0, max = 0;
    int only_ints = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
            only_ints = 0;
        else if (lua_tointeger(L, -1) > max)
            max = lua_tointeger(L, -1);
        count++;
    }
    *n = max;
    if (marked && !only_ints)
        luaL_error(L, "an array (gasket.array) has a key that is not a positive integer");
    return marked || (only_ints && count > 0 && count == max);
}

/* A new JSON value for the Lua value at idx; for a table, an empty container
 * that the caller attaches before filling it (*n: its length when an array). */
static json_t *json_shell(lua_State *L, struct function *f, int idx, const struct where *w,
                          lua_Integer *n)
{
    json_t *v = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TTABLE:
        return table_is_array(L, f, idx, n) ? json_array() : json_object();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) return json_integer((json_int_t)lua_tointeger(L, idx));
        if (!isfinite(lua_tonumber(L, idx))) where_error(L, w, "a number is not finite");
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (!(v = json_stringn(s, len))) where_error(L, w, "a string is not valid UTF-8");
        return v;
    }
    case LUA_TUSERDATA:
        if (lua_touserdata(L, idx) == f->null_ptr) return json_null();
        break;
    }
    lua_pushfstring(L, "cannot encode a %s as JSON", luaL_typename(L, idx));
    where_error(L, w, lua_tostring(L, -1));
    return NULL;
}

static void fill(lua_State *L, struct function *f, int idx, json_t *c, lua_Integer n, int depth);

/* Converts the value on top of the stack, attaches it to c (under key or at
 * the end of an array), fills it when a table, and pops it. */
static void put_top(lua_State *L, struct function *f, json_t *c, const struct where *w, size_t klen,
                    int depth)
{
    int top = lua_gettop(L);
    lua_Integer n = 0;
    json_t *v = json_shell(L, f, top, w, &n);
    int rc = w->key ? json_object_setn_new(c, w->key, klen, v) : json_array_append_new(c, v);
    if (rc != 0) where_error(L, w, "a key is not valid UTF-8");
    if (lua_type(L, top) == LUA_TTABLE) fill(L, f, top, v, n, depth + 1);
    lua_pop(L, 1);
}

static void fill(lua_State *L, struct function *f, int idx, json_t *c, lua_Integer n, int depth)
{
    if (depth > FUNCTION_MAX_DEPTH)
        luaL_error(L, "tables nested deeper than %d (a cycle?)", FUNCTION_MAX_DEPTH);
    luaL_checkstack(L, 8, "tables too deep");
    if (json_is_array(c)) {
        for (lua_Integer i = 1; i <= n; i++) {
            struct where w = {NULL, i};
            lua_rawgeti(L, idx, i);
            put_top(L, f, c, &w, 0, depth);
        }
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "an object key is a %s, not a string", luaL_typename(L, -2));
        size_t klen;
        struct where w = {lua_tolstring(L, -2, &klen), 0};
        put_top(L, f, c, &w, klen, depth);
    }
}

/* Converts the table at idx into *root (set before filling, so the caller
 * can free a partial tree after an error). */
static void to_json(lua_State *L, struct function *f, int idx, json_t **root)
{
    struct where w = {NULL, 0};
    lua_Integer n = 0;
    *root = json_shell(L, f, idx, &w, &n);
    fill(L, f, idx, *root, n, 1);
}

/* ---- member order of the result ------------------------------------------ */

struct key {
    const char *s;
    size_t len;
};

static int key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static json_t *reorder(json_t *v, json_t *tmpl);

/* The members of v in tmpl's order, then the others sorted. Consumes v. */
static json_t *reorder_object(json_t *v, json_t *tmpl)
{
    json_t *o = json_object(), *e, *t;
    const char *k;
    size_t klen, nrest = 0;
    if (json_is_object(tmpl)) {
        json_object_keylen_foreach(tmpl, k, klen, t)
        {
            if ((e = json_object_getn(v, k, klen)))
                json_object_setn_new_nocheck(o, k, klen, reorder(json_incref(e), t));
        }
    }
    struct key *rest = xcalloc(json_object_size(v) + 1, sizeof *rest);
    json_object_keylen_foreach(v, k, klen, e)
    {
        if (!json_object_getn(o, k, klen)) rest[nrest++] = (struct key){k, klen};
    }
    qsort(rest, nrest, sizeof *rest, key_cmp);
    for (size_t i = 0; i < nrest; i++) {
        e = json_object_getn(v, rest[i].s, rest[i].len);
        json_object_setn_new_nocheck(o, rest[i].s, rest[i].len, reorder(json_incref(e), NULL));
    }
    free(rest);
    json_decref(v);
    return o;
}

static json_t *reorder(json_t *v, json_t *tmpl)
{
    if (json_is_object(v)) return reorder_object(v, tmpl);
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++)
        json_array_set_new(v, i,
                           reorder(json_incref(json_array_get(v, i)),
                                   json_is_array(tmpl) ? json_array_get(tmpl, i) : NULL));
    return v;
}

/* ---- the gasket table and sandbox wrappers -------------------------------- */

static int topic_ok(const char *t, size_t len)
{
    if (!mqtt_topic_valid_name(t, len, NULL)) return 0;
    for (size_t i = 0; i < len;) {
        int n = utf8_seq((const unsigned char *)t + i, len - i);
        if (n <= 0) return 0;
        i += (size_t)n;
    }
    return 1;
}

static int l_publish(lua_State *L)
{
    struct function *f = fn_of(L);
    size_t tlen, plen;
    const char *topic = luaL_checklstring(L, 1, &tlen);
    luaL_argcheck(L, topic_ok(topic, tlen), 1, "not a valid topic name");
    int t = lua_type(L, 2);
    if (t != LUA_TSTRING && t != LUA_TTABLE) return luaL_typeerror(L, 2, "string or table");
    lua_Integer qos = luaL_optinteger(L, 3, 1);
    luaL_argcheck(L, qos >= 0 && qos <= 2, 3, "qos must be 0, 1 or 2");
    if (!f->in_call)
        return luaL_error(L, "gasket.publish is only available while handling an event");
    if (t == LUA_TSTRING) {
        const char *p = lua_tolstring(L, 2, &plen);
        if (f->publish) f->publish(f->ud, topic, p, plen, (int)qos);
        return 0;
    }
    to_json(L, f, 2, &f->scratch);
    char *p = json_text(f->scratch, JSON_WRITE_SORT_KEYS); /* 26.2 stays 26.2 */
    json_decref(f->scratch);
    f->scratch = NULL;
    if (!p) return luaL_error(L, "gasket.publish: cannot encode the payload");
    if (f->publish) f->publish(f->ud, topic, p, strlen(p), (int)qos);
    free(p);
    return 0;
}

/* Joins arguments from..top with sep, as print does, into a string on top. */
static const char *join_args(lua_State *L, int from, const char *sep)
{
    luaL_Buffer b;
    int top = lua_gettop(L);
    luaL_buffinit(L, &b);
    for (int i = from; i <= top; i++) {
        if (i > from) luaL_addstring(&b, sep);
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

static int l_log(lua_State *L)
{
    struct function *f = fn_of(L);
    int level = luaL_checkoption(L, 1, NULL, level_names);
    if (level <= (int)log_get_level())
        log_msg((enum log_level)level, "function %s: %s", f->path, join_args(L, 2, " "));
    return 0;
}

static int l_print(lua_State *L)
{
    struct function *f = fn_of(L);
    if (log_get_level() >= LOG_INFO) log_info("function %s: %s", f->path, join_args(L, 1, "\t"));
    return 0;
}

static int l_now(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)clock_now_ms());
    return 1;
}

static int l_array(lua_State *L)
{
    struct function *f = fn_of(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, f->array_ref);
    lua_setmetatable(L, 1);
    return 1;
}

static int l_null_tostring(lua_State *L)
{
    lua_pushliteral(L, "null");
    return 1;
}

/* load(chunk [, chunkname [, mode [, env]]]) with text chunks only. */
static int l_load(lua_State *L)
{
    int n = lua_gettop(L);
    const char *mode = luaL_optstring(L, 3, "t");
    if (strcmp(mode, "t") != 0 ||
        (lua_type(L, 1) == LUA_TSTRING && lua_tostring(L, 1)[0] == LUA_SIGNATURE[0]))
        return luaL_error(L, "binary chunks are not available in gasket functions");
    lua_settop(L, 4);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushliteral(L, "t");
    if (n >= 4) /* an explicit nil env is not an absent one */
        lua_pushvalue(L, 4);
    lua_call(L, n >= 4 ? 4 : 3, LUA_MULTRET);
    return lua_gettop(L) - 4;
}

/* collectgarbage without the options that stop or tune the collector. */
static int l_collectgarbage(lua_State *L)
{
    static const char *const allowed[] = {"collect", "count", "step", "isrunning", NULL};
    luaL_checkoption(L, 1, "collect", allowed);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* string.rep, which loops n times even over an empty result. */
static int l_rep(lua_State *L)
{
    size_t l, lsep = 0;
    luaL_checklstring(L, 1, &l);
    luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (l + lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* table.move, whose C loop is charged to the instruction budget. */
static int l_move(lua_State *L)
{
    lua_Integer from = luaL_checkinteger(L, 2), to = luaL_checkinteger(L, 3);
    if (to >= from) charge(L, fn_of(L), (uint64_t)to - (uint64_t)from + 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* ---- string patterns on the budget (rules/pattern.c) ---------------------- */

/* Pattern steps (pattern.h) per instruction of the budget: a step, one call
 * of the matcher or one repetition tried, costs about what a VM instruction
 * does, so a pathological pattern stops as soon as a Lua loop would. */
#define FN_PATTERN_STEPS 1

/* A pattern matched for the script, its steps charged to the call's budget. */
struct fn_pattern {
    struct pattern m;
    uint64_t funded; /* m.budget when last funded or settled */
};

/* Gives fp the rest of the budget, in pattern steps. */
static void fp_fund(lua_State *L, struct fn_pattern *fp)
{
    struct function *f = fn_of(L);
    uint64_t unit = (uint64_t)FUNCTION_HOOK_STEP * FN_PATTERN_STEPS;
    uint64_t left = f->steps < f->max_steps ? f->max_steps - f->steps : 0;
    if (left == 0 || (left <= UINT64_MAX / unit && left * unit <= f->pattern_owed)) {
        f->pattern_owed = 0;
        limit_error(L, f);
    }
    fp->funded = left > UINT64_MAX / unit ? UINT64_MAX : left * unit - f->pattern_owed;
    fp->m.budget = fp->funded;
}

/* Charges what fp spent since it was funded; raises a pattern error or the
 * limit error for a failed rc. */
static void fp_settle(lua_State *L, struct fn_pattern *fp, int rc)
{
    struct function *f = fn_of(L);
    uint64_t unit = (uint64_t)FUNCTION_HOOK_STEP * FN_PATTERN_STEPS;
    f->pattern_owed += fp->funded - fp->m.budget;
    fp->funded = fp->m.budget;
    if (rc == GK_ELIMIT) {
        f->pattern_owed = 0;
        limit_error(L, f);
    }
    if (f->pattern_owed >= unit) {
        uint64_t whole = f->pattern_owed / unit;
        f->pattern_owed %= unit;
        charge(L, f, whole * FUNCTION_HOOK_STEP);
    }
    if (rc < 0) luaL_error(L, "%s", fp->m.err);
}

static int fp_match(lua_State *L, struct fn_pattern *fp, size_t pos, size_t *end)
{
    fp_fund(L, fp);
    int rc = pattern_match(&fp->m, pos, end);
    fp_settle(L, fp, rc);
    return rc;
}

static void fp_push_capture(lua_State *L, struct fn_pattern *fp, int i, size_t s, size_t e)
{
    const char *str = NULL;
    size_t len = 0;
    int kind = pattern_capture(&fp->m, i, s, e, &str, &len);
    if (kind < 0) luaL_error(L, "%s", fp->m.err);
    if (kind == PATTERN_CAPTURE_POSITION)
        lua_pushinteger(L, (lua_Integer)len);
    else
        lua_pushlstring(L, str, len);
}

/* Pushes the captures of the match [s, e) (the whole match when it has none
 * and whole is set); returns how many. */
static int fp_push_captures(lua_State *L, struct fn_pattern *fp, size_t s, size_t e, int whole)
{
    int n = pattern_ncaptures(&fp->m, whole);
    luaL_checkstack(L, n, "too many captures");
    for (int i = 0; i < n; i++)
        fp_push_capture(L, fp, i, s, e);
    return n;
}

/* The init argument at arg as a 0-based offset, as Lua reads it (negative
 * counts from the end; the result may pass len). */
static size_t init_arg(lua_State *L, int arg, size_t len)
{
    lua_Integer i = luaL_optinteger(L, arg, 1);
    if (i > 0) return (size_t)i - 1;
    if (i == 0 || i < -(lua_Integer)len) return 0;
    return len - (size_t)-i;
}

static int find_plain(lua_State *L, const char *s, size_t ls, size_t init, const char *p, size_t lp)
{
    const char *hit = lp == 0 ? s + init : memmem(s + init, ls - init, p, lp);
    if (!hit) {
        luaL_pushfail(L);
        return 1;
    }
    lua_pushinteger(L, (lua_Integer)(hit - s) + 1);
    lua_pushinteger(L, (lua_Integer)(hit - s) + (lua_Integer)lp);
    return 2;
}

/* string.find (find set) and string.match. */
static int find_aux(lua_State *L, int find)
{
    size_t ls, lp, start, end;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = init_arg(L, 3, ls);
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || pattern_is_plain(p, lp)))
        return find_plain(L, s, ls, init, p, lp);
    int anchored = lp > 0 && *p == '^';
    struct fn_pattern fp = {0};
    pattern_init(&fp.m, s, ls, p + anchored, lp - (size_t)anchored);
    fp_fund(L, &fp);
    int rc = pattern_find(&fp.m, init, anchored, &start, &end);
    fp_settle(L, &fp, rc);
    if (rc == 0) {
        luaL_pushfail(L);
        return 1;
    }
    if (!find) return fp_push_captures(L, &fp, start, end, 1);
    lua_pushinteger(L, (lua_Integer)start + 1);
    lua_pushinteger(L, (lua_Integer)end);
    return fp_push_captures(L, &fp, start, end, 0) + 2;
}

static int l_find(lua_State *L)
{
    return find_aux(L, 1);
}

static int l_match(lua_State *L)
{
    return find_aux(L, 0);
}

/* The iterator's state (upvalue 3; the subject and pattern are 1 and 2). */
struct fn_gmatch {
    struct fn_pattern fp;
    size_t src;  /* where the next search starts */
    size_t last; /* the end of the last match, SIZE_MAX before the first */
};

static int gmatch_next(lua_State *L)
{
    struct fn_gmatch *g = lua_touserdata(L, lua_upvalueindex(3));
    size_t ls = (size_t)(g->fp.m.src_end - g->fp.m.src), end;
    for (size_t pos = g->src; pos <= ls; pos++) {
        if (fp_match(L, &g->fp, pos, &end) && end != g->last) {
            g->src = g->last = end;
            return fp_push_captures(L, &g->fp, pos, end, 1);
        }
    }
    return 0;
}

/* string.gmatch(s, pattern [, init]): a '^' is not an anchor here. */
static int l_gmatch(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = init_arg(L, 3, ls);
    lua_settop(L, 2);
    struct fn_gmatch *g = lua_newuserdatauv(L, sizeof *g, 0);
    memset(g, 0, sizeof *g);
    pattern_init(&g->fp.m, s, ls, p, lp);
    g->src = init > ls ? ls + 1 : init;
    g->last = SIZE_MAX;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

/* Appends gsub's replacement string (arg 3) for the match [s, e), with its
 * %0-%9 and %%. */
static void gsub_add_string(lua_State *L, struct fn_pattern *fp, luaL_Buffer *b, size_t s, size_t e)
{
    size_t l, len;
    const char *r = lua_tolstring(L, 3, &l), *end = r + l, *q, *str = NULL;
    while ((q = memchr(r, '%', (size_t)(end - r))) != NULL) {
        luaL_addlstring(b, r, (size_t)(q - r));
        q++; /* at most the string's terminating NUL */
        if (*q == '%') {
            luaL_addchar(b, '%');
        } else if (*q == '0') {
            luaL_addlstring(b, fp->m.src + s, e - s);
        } else if (isdigit((unsigned char)*q)) {
            int kind = pattern_capture(&fp->m, *q - '1', s, e, &str, &len);
            if (kind < 0) luaL_error(L, "%s", fp->m.err);
            if (kind == PATTERN_CAPTURE_POSITION) {
                lua_pushinteger(L, (lua_Integer)len);
                luaL_addvalue(b);
            } else {
                luaL_addlstring(b, str, len);
            }
        } else {
            luaL_error(L, "invalid use of '%%' in replacement string");
        }
        r = q + 1;
    }
    luaL_addlstring(b, r, (size_t)(end - r));
}

/* Appends the replacement of the match [s, e) for replacement type tr;
 * returns 0 when the match was kept as it was (nil or false). */
static int gsub_add(lua_State *L, struct fn_pattern *fp, luaL_Buffer *b, size_t s, size_t e, int tr)
{
    if (tr == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        int n = fp_push_captures(L, fp, s, e, 1);
        lua_call(L, n, 1);
    } else if (tr == LUA_TTABLE) {
        fp_push_capture(L, fp, 0, s, e);
        lua_gettable(L, 3);
    } else {
        gsub_add_string(L, fp, b, s, e);
        return 1;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, fp->m.src + s, e - s);
        return 0;
    }
    if (!lua_isstring(L, -1))
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

/* string.gsub(s, pattern, repl [, n]). */
static int l_gsub(lua_State *L)
{
    size_t ls, lp, pos = 0, last = SIZE_MAX, end;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int tr = lua_type(L, 3), changed = 0;
    lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1), n = 0;
    luaL_argexpected(
        L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
        "string/function/table");
    int anchored = lp > 0 && *p == '^';
    struct fn_pattern fp = {0};
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    pattern_init(&fp.m, s, ls, p + anchored, lp - (size_t)anchored);
    while (n < max) {
        if (fp_match(L, &fp, pos, &end) && end != last) {
            n++;
            changed |= gsub_add(L, &fp, &b, pos, end, tr);
            pos = last = end;
        } else if (pos < ls) {
            luaL_addchar(&b, s[pos++]);
        } else {
            break;
        }
        if (anchored) break;
    }
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, s + pos, ls - pos);
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

static const luaL_Reg pattern_fns[] = {
    {"find", l_find}, {"match", l_match}, {"gmatch", l_gmatch}, {"gsub", l_gsub}, {NULL, NULL}};

/* setmetatable refusing __gc: Lua runs finalizers with hooks off, so one
 * that loops would never be stopped. An object is marked for finalization
 * only when its metatable has __gc as it is set, so adding __gc later is
 * harmless. */
static int l_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE && lua_getfield(L, 2, "__gc") != LUA_TNIL)
        return luaL_error(L, "__gc metamethods are not available in gasket functions");
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

static int l_absent_global(lua_State *L)
{
    const char *k = lua_tostring(L, 2);
    for (int i = 0; k && absent_globals[i]; i++)
        if (strcmp(k, absent_globals[i]) == 0)
            return luaL_error(L, "%s is not available in gasket functions", k);
    return 0;
}

static int l_absent_os(lua_State *L)
{
    return luaL_error(L, "os.%s is not available in gasket functions",
                      lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?");
}

/* Replaces t[name] (t on top) with C function fn, the old value its upvalue. */
static void wrap_field(lua_State *L, const char *name, lua_CFunction fn)
{
    lua_getfield(L, -1, name);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, -2, name);
}

/* Protects the metatable on top: getmetatable() then answers false and
 * setmetatable() refuses to replace it, so a function can neither read nor
 * change a metatable the sandbox shares (adding __gc to one would make the
 * objects given it later run code outside the function's budget). */
static void protect_meta(lua_State *L)
{
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
}

static int l_read_only(lua_State *L)
{
    return luaL_error(L, "the strings' metatable is read-only in gasket functions");
}

/* The strings' metatable, shared by every string: getmetatable("") answers
 * a read-only view whose __index is the string table (as Lua code
 * expects); writing to it is an error. */
static void protect_string_meta(lua_State *L)
{
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_createtable(L, 0, 0); /* the view */
    lua_createtable(L, 0, 3); /* its metatable */
    lua_createtable(L, 0, 1);
    lua_getfield(L, -4, "__index");
    lua_setfield(L, -2, "__index");
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_read_only);
    lua_setfield(L, -2, "__newindex");
    protect_meta(L);
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
}

/* Leaves a protected table on top whose __index is fn. */
static void absent_meta(lua_State *L, lua_CFunction fn)
{
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, fn);
    lua_setfield(L, -2, "__index");
    protect_meta(L);
}

static void setup_os(lua_State *L)
{
    static const char *const keep[] = {"time", "date", "clock", NULL};
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    lua_createtable(L, 0, 3);
    for (int i = 0; keep[i]; i++) {
        lua_getfield(L, -2, keep[i]);
        lua_setfield(L, -2, keep[i]);
    }
    absent_meta(L, l_absent_os);
    lua_setmetatable(L, -2);
    lua_setglobal(L, "os");
    lua_pop(L, 1);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushnil(L);
    lua_setfield(L, -2, LUA_OSLIBNAME);
    lua_pop(L, 1);
}

static void setup_gasket(lua_State *L, struct function *f)
{
    static const luaL_Reg fns[] = {
        {"publish", l_publish}, {"log", l_log}, {"now", l_now}, {"array", l_array}, {NULL, NULL}};
    luaL_newlib(L, fns);
    lua_newuserdatauv(L, 0, 0);
    f->null_ptr = lua_touserdata(L, -1);
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, l_null_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "gasket.null");
    lua_setfield(L, -2, "__name");
    protect_meta(L);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    f->null_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_setfield(L, -2, "null");
    lua_setglobal(L, "gasket");
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "gasket.array");
    lua_setfield(L, -2, "__name");
    protect_meta(L);
    f->array_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Builds the sandbox (protected: arg 1 is the struct function). */
static int setup(lua_State *L)
{
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},
                                    {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_TABLIBNAME, luaopen_table},
                                    {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8},
                                    {LUA_COLIBNAME, luaopen_coroutine},
                                    {NULL, NULL}};
    struct function *f = lua_touserdata(L, 1);
    for (const luaL_Reg *l = libs; l->name; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    setup_os(L);
    setup_gasket(L, f);
    lua_pushglobaltable(L);
    for (int i = 0; absent_globals[i]; i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, absent_globals[i]);
    }
    wrap_field(L, "load", l_load);
    wrap_field(L, "collectgarbage", l_collectgarbage);
    wrap_field(L, "setmetatable", l_setmetatable);
    lua_pushcfunction(L, l_print);
    lua_setfield(L, -2, "print");
    absent_meta(L, l_absent_global);
    lua_setmetatable(L, -2);
    protect_string_meta(L);
    lua_getfield(L, -1, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    wrap_field(L, "rep", l_rep);
    luaL_setfuncs(L, pattern_fns, 0); /* find, match, gmatch, gsub on the budget */
    lua_getfield(L, -2, LUA_TABLIBNAME);
    wrap_field(L, "move", l_move);
    return 0;
}

/* ---- load and call -------------------------------------------------------- */

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gk_verrf(err, errlen, rc, fmt, ap);
    va_end(ap);
    for (char *p = err; err && errlen && *p; p++) /* one line */
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    return rc;
}

/* Writes the reason of a failed pcall (status st, error object on top). */
static void describe(struct function *f, int st, char *err, size_t errlen)
{
    lua_State *L = f->L;
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    size_t plen = strlen(f->path);
    if (f->limit_hit)
        fail(err, errlen, 0, "%s: instruction limit reached (%llu instructions)", f->path,
             (unsigned long long)f->max_steps * FUNCTION_HOOK_STEP);
    else if (st == LUA_ERRMEM || (f->mem_refused && msg && strcmp(msg, "not enough memory") == 0))
        fail(err, errlen, 0, "%s: memory limit reached (%zu bytes)", f->path, f->mem_limit);
    else if (!msg)
        fail(err, errlen, 0, "%s: error object is a %s value", f->path, luaL_typename(L, -1));
    else if ((strncmp(msg, f->path, plen) == 0 && msg[plen] == ':') ||
             f->load_status == LUA_ERRFILE)
        fail(err, errlen, 0, "%s", msg);
    else
        fail(err, errlen, 0, "%s: %s", f->path, msg);
}

/* Loads and runs the chunk, keeping the handler it returns (protected). */
static int load_body(lua_State *L)
{
    struct function *f = lua_touserdata(L, 1);
    f->load_status = luaL_loadfilex(L, f->path, "t");
    if (f->load_status != LUA_OK) return lua_error(L);
    lua_call(L, 0, 1);
    if (lua_type(L, -1) != LUA_TFUNCTION)
        return luaL_error(L, "the chunk must return the handler function, not %s",
                          luaL_typename(L, -1));
    f->handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static int run_protected(struct function *f, lua_CFunction body)
{
    f->steps = 0;
    f->limit_hit = f->mem_refused = 0;
    lua_settop(f->L, 0);
    /* Garbage of earlier calls is collected now rather than in the middle
     * of this one: a string buffer (luaL_Buffer) growing past its first
     * block asks the allocator directly, without Lua's emergency collection,
     * so a state full of garbage would refuse it. */
    if (f->mem_used > f->mem_limit / 2)
        lua_gc(f->L, LUA_GCCOLLECT);
    lua_sethook(f->L, fn_hook, LUA_MASKCOUNT, FUNCTION_HOOK_STEP);
    lua_pushcfunction(f->L, body);
    lua_pushlightuserdata(f->L, f);
    int st = lua_pcall(f->L, 1, 0, 0);
    f->steps = f->max_steps;
    return st;
}

int function_load(struct function **out, const char *path, const struct function_limits *lim,
                  char *err, size_t errlen)
{
    *out = NULL;
    struct function *f = xcalloc(1, sizeof *f);
    f->path = xstrdup(path);
    f->mem_limit = lim && lim->max_memory ? lim->max_memory : FUNCTION_MAX_MEMORY_DEFAULT;
    uint64_t ins =
        lim && lim->max_instructions ? lim->max_instructions : FUNCTION_MAX_INSTRUCTIONS_DEFAULT;
    f->max_steps = ins / FUNCTION_HOOK_STEP ? ins / FUNCTION_HOOK_STEP : 1;
    f->handler_ref = f->null_ref = f->array_ref = LUA_NOREF;
    if (!(f->L = lua_newstate(fn_alloc, f))) {
        function_free(f);
        return fail(err, errlen, GK_ENOMEM, "%s: memory limit too small for a Lua state", path);
    }
    *(struct function **)lua_getextraspace(f->L) = f;
    int rc = GK_ENOMEM;
    int st = run_protected(f, setup);
    if (st == LUA_OK) {
        rc = GK_EINVAL;
        st = run_protected(f, load_body);
    }
    if (st != LUA_OK) {
        if (rc == GK_EINVAL && f->load_status == LUA_ERRFILE) rc = GK_EIO;
        describe(f, st, err, errlen);
        function_free(f);
        return rc;
    }
    lua_settop(f->L, 0);
    lua_gc(f->L, LUA_GCCOLLECT);
    *out = f;
    return 0;
}

/* Converts the event, runs the handler, converts its result (protected). */
static int call_body(lua_State *L)
{
    struct function *f = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, f->handler_ref);
    push_json(L, f, f->event, 1);
    lua_call(L, 1, 1);
    int t = lua_type(L, -1);
    if (t == LUA_TNIL) return 0;
    if (t != LUA_TTABLE)
        return luaL_error(L, "the handler returned a %s, not a table or nil", lua_typename(L, t));
    to_json(L, f, lua_gettop(L), &f->result);
    if (!json_is_object(f->result))
        return luaL_error(L, "the handler returned an array, not an object");
    return 0;
}

int function_call(struct function *f, json_t *event, json_t **result, function_publish_cb publish,
                  void *ud, char *err, size_t errlen)
{
    *result = NULL;
    if (!json_is_object(event))
        return fail(err, errlen, GK_EINVAL, "%s: the event is not a JSON object", f->path);
    f->in_call = 1;
    f->publish = publish, f->ud = ud, f->event = event;
    int st = run_protected(f, call_body);
    f->in_call = 0;
    f->publish = NULL, f->ud = NULL, f->event = NULL;
    if (st == LUA_OK && !f->limit_hit) {
        *result = f->result ? reorder(f->result, event) : NULL;
        f->result = NULL;
        lua_settop(f->L, 0);
        return 0;
    }
    if (st == LUA_OK) lua_pushnil(f->L);
    describe(f, st, err, errlen);
    json_decref(f->result);
    json_decref(f->scratch);
    f->result = f->scratch = NULL;
    lua_settop(f->L, 0);
    lua_gc(f->L, LUA_GCCOLLECT);
    return GK_EINVAL;
}

const char *function_path(const struct function *f)
{
    return f->path;
}

void function_free(struct function *f)
{
    if (!f) return;
    if (f->L) {
        f->steps = f->max_steps; /* finalizers run on an exhausted budget */
        lua_close(f->L);
    }
    free(f->path);
    free(f);
}
