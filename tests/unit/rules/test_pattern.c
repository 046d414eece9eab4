/* Unit tests for rules/pattern.c and the sandbox's string.find, match,
 * gmatch and gsub built on it (rules/function.c).
 *
 * The differential test runs one Lua driver (DRIVER below) twice: in a plain
 * luaL_openlibs state, where the string library is Lua's own, and as a
 * gasket function, where it is ours. The driver calls find (pattern and
 * plain), match, gmatch, gsub (string, table and function replacements, with
 * and without a count) and the s:find method form on a table of hand-written
 * cases and 4000 random small subjects and patterns (a fixed seed), catching
 * errors with pcall, and returns every result as one line; both outputs must
 * be identical, error messages included. The other tests check that
 * pathological patterns fail the call with the instruction limit quickly and
 * leave the function usable, that deep patterns give "pattern too complex",
 * that pattern steps are charged to the budget, and pattern.c's interface. */
#include "core/err.h"
#include "rules/function.h"
#include "rules/pattern.h"
#include "test.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------- */

static char script_path[64];

/* Writes text to a new temporary .lua file; returns its path (static). */
static const char *script(const char *text)
{
    snprintf(script_path, sizeof script_path, "/tmp/gasket-test-pat-XXXXXX.lua");
    int fd = mkstemps(script_path, 4);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return script_path;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Calls f on the JSON text event; returns rc, the result's member key as a
 * string (or dumped JSON) in out, the reason in err. */
static int call(struct function *f, const char *event, const char *key, char *out, size_t outlen,
                char *err, size_t errlen)
{
    json_t *ev = json_loads(event, 0, NULL), *res = NULL;
    CHECK(ev != NULL);
    err[0] = out[0] = '\0';
    int rc = function_call(f, ev, &res, NULL, NULL, err, errlen);
    json_t *v = res ? json_object_get(res, key) : NULL;
    if (json_is_string(v)) {
        snprintf(out, outlen, "%s", json_string_value(v));
    } else if (v) {
        char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(out, outlen, "%s", d);
        free(d);
    }
    json_decref(res);
    json_decref(ev);
    return rc;
}

/* The differential driver (Lua). */
static const char *const DRIVER =
    "-- The differential driver: the same text runs in a plain Lua state and in\n"
    "-- the sandbox; the handler returns every result, one line per operation.\n"
    "local cases = {\n"
    "  {\"hello world\", \"o\"}, {\"hello world\", \"o\", 6}, {\"hello world\", \"l+\"},\n"
    "  {\"hello world\", \"^h\"}, {\"hello world\", \"^w\"}, {\"hello world\", \"d$\"},\n"
    "  {\"hello world\", \"(h)(e)\"}, {\"hello world\", \"()ll()\"}, {\"hello\", \"\"},\n"
    "  {\"\", \"\"}, {\"\", \"^\"}, {\"\", \"$\"}, {\"\", \"^$\"}, {\"abc\", \"$\"}, {\"a$b\", "
    "\"$b\"},\n"
    "  {\"a$b\", \"a$\"}, {\"a^b\", \"a^b\"}, {\"^a\", \"^^a\"}, {\"abc\", \"\", 10},\n"
    "  {\"abc\", \"\", 4}, {\"abc\", \"\", 5}, {\"abc\", \"\", -1}, {\"abc\", \"\", -3},\n"
    "  {\"abc\", \"\", -4}, {\"abc\", \"\", -100}, {\"abc\", \"c\", 0}, {\"abc\", \"b\", -2},\n"
    "  {\"abc\", \"x\", math.mininteger}, {\"abc\", \"a\", math.maxinteger},\n"
    "  {\"aaa\", \"a-\"}, {\"aaa\", \"a-$\"}, {\"aaa\", \"a*\"}, {\"aaa\", \"a?a?a?a?\"},\n"
    "  {\"aaab\", \"a-b\"}, {\"aaab\", \"a+b\"}, {\"xaaab\", \"a*b\"}, {\"b\", \"a?b\"},\n"
    "  {\"  x  \", \"^%s*(.-)%s*$\"}, {\"key = value\", \"(%w+)%s*=%s*(%w+)\"},\n"
    "  {\"THE (quick) fox\", \"%((%a+)%)\"}, {\"f(a(b)c)d\", \"%b()\"},\n"
    "  {\"f(a(b)c\", \"%b()\"}, {\"[[x]]\", \"%b[]\"}, {\"abab\", \"%bab\"},\n"
    "  {\"x\", \"%b\"}, {\"x\", \"%bx\"}, {\"THE (quick) fox\", \"%f[%a]%a+\"},\n"
    "  {\"THE (quick) fox\", \"%f[%A]\"}, {\"abc\", \"%f[%z]\"}, {\"abc\", \"%f[%Z]\"},\n"
    "  {\"abc\", \"%fa\"}, {\"abc\", \"%f\"}, {\"abc\", \"%f[a\"}, {\"hello\", \"(l)%1\"},\n"
    "  {\"hello\", \"%1\"}, {\"hello\", \"(l%1)\"}, {\"hello\", \"()%1\"}, {\"hello\", "
    "\"(h)%2\"},\n"
    "  {\"hello\", \"(h)%0\"}, {\"hello\", \"%\"}, {\"hello\", \"h%\"}, {\"hello\", \"x%\"},\n"
    "  {\"hello\", \"[a\"}, {\"hello\", \"[a%]\"}, {\"hello\", \"[%\"}, {\"hello\", \"[]\"},\n"
    "  {\"a]b\", \"[]]\"}, {\"a]b\", \"[^]]\"}, {\"a-b\", \"[a-]\"}, {\"a-b\", \"[-a]\"},\n"
    "  {\"a-b\", \"[%-]\"}, {\"a^b\", \"[b^]\"}, {\"abc\", \"[^a]\"}, {\"Abc1_\", \"[%w_]+\"},\n"
    "  {\"abc\", \"[a-c]+\"}, {\"abc\", \"[c-a]\"}, {\"a-z\", \"[a-]z\"}, {\"az\", \"[%a-z]+\"},\n"
    "  {\"hello\", \"(\"}, {\"hello\", \")\"}, {\"hello\", \"h)\"}, {\"hello\", \"(h\"},\n"
    "  {\"hello\", \"(h)(e\"}, {\"hello\", \"x(\"}, {\"hello\", \"((h)(e))\"},\n"
    "  {\"hello\", \"()\"}, {\"hello\", \"()\", 6}, {\"hello\", \"(()h())\"},\n"
    "  {\"\\0a\\0\", \"%z\"}, {\"\\0a\\0\", \"%Z+\"}, {\"\\0a\\0\", \"\\0\"}, {\"a\\0b\", "
    "\"a\\0b\"},\n"
    "  {\"a\\0b\", \"[\\0]\"}, {\"a\\0b\", \"[^\\0]+\"}, {\"a.b\", \"a.b\", 1}, {\"a.b\", \"%.\", "
    "1},\n"
    "  {\"a+b\", \"a+b\"}, {\"x\\255y\", \"[\\128-\\255]\"}, {\"x\\255y\", \"%A+\"},\n"
    "  {\"x\\255y\", \"\\255\"}, {\"\\n\\t\\r x\", \"%c+\"}, {\"\\n\\t\\r x\", \"%s+\"},\n"
    "  {\"aB3 .,;_\", \"%p+\"}, {\"aB3 .,;_\", \"%u\"}, {\"aB3 .,;_\", \"%l\"},\n"
    "  {\"aB3 .,;_\", \"%g+\"}, {\"aB3 .,;_\", \"%x+\"}, {\"aB3 .,;_\", \"%X+\"},\n"
    "  {\"aB3 .,;_\", \"%D+\"}, {\"aB3 .,;_\", \"%W+\"}, {\"aB3 .,;_\", \"%S+\"},\n"
    "  {\"aB3 .,;_\", \"%P+\"}, {\"aB3 .,;_\", \"%C+\"}, {\"aB3 .,;_\", \"%G\"},\n"
    "  {\"aB3 .,;_\", \"%U+\"}, {\"aB3 .,;_\", \"%L+\"}, {\"a%b\", \"%%\"}, {\"a%b\", \"%q\"},\n"
    "  {\"date: 2024-01-02\", \"(%d+)-(%d+)-(%d+)\"}, {\"x=1, y=2\", \"(%w+)=(%w+)\"},\n"
    "  {\"one two  three\", \"%a+\"}, {\"one two\", \"%s*\"}, {\"abc\", \".-\"},\n"
    "  {\"abc\", \".-$\"}, {\"abc\", \"^(.-)b\"}, {\"abc\", \"b*\"}, {\"abc\", \"x*\"},\n"
    "  {\"a,b,,c\", \"([^,]*)\"}, {\"a,b,,c\", \"[^,]*\"}, {\"hello\", \"l*\"},\n"
    "  {string.rep(\"a\", 250), string.rep(\"a?\", 250)},\n"
    "  {string.rep(\"a\", 199), string.rep(\"a?\", 199)},\n"
    "  {string.rep(\"a\", 198), string.rep(\"a?\", 198)},\n"
    "  {string.rep(\"a\", 40), string.rep(\"(a)\", 32)},\n"
    "  {string.rep(\"a\", 40), string.rep(\"(a)\", 33)},\n"
    "  {string.rep(\"a\", 40), string.rep(\"()\", 32)},\n"
    "  {string.rep(\"a\", 40), string.rep(\"()\", 40)},\n"
    "  {string.rep(\"a\", 40), string.rep(\"(\", 32) .. \"a\" .. string.rep(\")\", 32)},\n"
    "  {string.rep(\"a\", 300), string.rep(\"a\", 300)},\n"
    "  {string.rep(\"a\", 300), string.rep(\"a*\", 300)},\n"
    "  {string.rep(\"ab\", 120), string.rep(\"%f[a]a\", 120)},\n"
    "  {string.rep(\"ab\", 120), string.rep(\"%bab\", 120)},\n"
    "  {string.rep(\"ab\", 120), \"(ab)\" .. string.rep(\"%1\", 119)},\n"
    "  {\"xyz\", \"(x)(y)(z)\"}, {\"xyz\", \"(x)()(z)\"}, {\"hello world from lua\", \"(%w+) "
    "(%w+)\"},\n"
    "}\n"
    "\n"
    "local function esc(s)\n"
    "  local out = {}\n"
    "  for i = 1, #s do\n"
    "    local b = s:byte(i)\n"
    "    if b < 32 or b > 126 or b == 92 then out[#out + 1] = \"\\\\\" .. b\n"
    "    else out[#out + 1] = string.char(b) end\n"
    "  end\n"
    "  return table.concat(out)\n"
    "end\n"
    "\n"
    "local function ser(v)\n"
    "  local t = type(v)\n"
    "  if t == \"string\" then return '\"' .. esc(v) .. '\"'\n"
    "  elseif t == \"number\" then return math.type(v) .. \":\" .. tostring(v)\n"
    "  elseif t == \"table\" then\n"
    "    local parts = {}\n"
    "    for i = 1, (v.n or #v) do parts[#parts + 1] = ser(v[i]) end\n"
    "    return \"{\" .. table.concat(parts, \",\") .. \"}\"\n"
    "  else return tostring(v) end\n"
    "end\n"
    "\n"
    "local function run(f, ...)\n"
    "  return ser(table.pack(pcall(f, ...)))\n"
    "end\n"
    "\n"
    "local function gm(s, p, init)\n"
    "  local it, out = string.gmatch(s, p, init), {}\n"
    "  for _ = 1, 30 do\n"
    "    local r = table.pack(it())\n"
    "    if r[1] == nil then break end\n"
    "    out[#out + 1] = r\n"
    "  end\n"
    "  out.n = #out\n"
    "  return out\n"
    "end\n"
    "\n"
    "local repl_table = {a = \"A\", b = false, l = 7, x = {}, [\"1\"] = \"one\"}\n"
    "local function repl_fn(...)\n"
    "  local a, n = ..., select(\"#\", ...)\n"
    "  if a == \"b\" or a == \"\" then return nil\n"
    "  elseif a == \"l\" then return false\n"
    "  elseif a == \"x\" then return {}\n"
    "  elseif math.type(a) == \"integer\" then return a * 10\n"
    "  else return \"[\" .. tostring(a) .. n .. \"]\" end\n"
    "end\n"
    "local repls = {\"<%0>\", \"%1\", \"%2-%1\", \"%%\", \"%\", \"x%y\", \"%9\", 12, repl_table, "
    "repl_fn}\n"
    "\n"
    "local lines = {}\n"
    "local function out(i, what, r) lines[#lines + 1] = i .. \" \" .. what .. \" \" .. r end\n"
    "\n"
    "local function one(i, s, p, init, k)\n"
    "  out(i, \"find\", run(string.find, s, p, init))\n"
    "  out(i, \"findp\", run(string.find, s, p, init, true))\n"
    "  out(i, \"match\", run(string.match, s, p, init))\n"
    "  out(i, \"gmatch\", run(gm, s, p, init))\n"
    "  local r = repls[k % #repls + 1]\n"
    "  out(i, \"gsub\", run(string.gsub, s, p, r))\n"
    "  out(i, \"gsubn\", run(string.gsub, s, p, repls[(k + 3) % #repls + 1], k % 3))\n"
    "  out(i, \"method\", run(function() return s:find(p, init), s:match(p, init) end))\n"
    "end\n"
    "\n"
    "local function random_case(rnd)\n"
    "  local tokens = {\"a\", \"b\", \"a\", \"b\", \".\", \"%a\", \"%d\", \"%s\", \"%w\", \"%p\", "
    "\"%x\",\n"
    "    \"%A\", \"%S\", \"%\", \"%%\", \"%.\", \"%(\", \"[ab]\", \"[^a]\", \"[a-c]\", \"[%a_]\", "
    "\"[]\",\n"
    "    \"[^]\", \"[\", \"]\", \"(\", \")\", \"()\", \"*\", \"+\", \"-\", \"?\", \"^\", \"$\", "
    "\"%1\", \"%2\",\n"
    "    \"%0\", \"%b()\", \"%bab\", \"%b\", \"%f[%w]\", \"%f[a]\", \"%f\", \"%f[\", \"\\0\", "
    "\"%z\", \" \",\n"
    "    \"x\", \"1\", \"-\", \"*\", \"(a)\", \"(.-)\", \"(%w+)\", \"%f[%z]\", \"[\\0-a]\", "
    "\"\\200\"}\n"
    "  local chars = {\"a\", \"a\", \"b\", \"b\", \"(\", \")\", \"[\", \"]\", \"%\", \"-\", \".\", "
    "\"^\",\n"
    "    \"$\", \" \", \"\\0\", \"\\200\", \"x\", \"1\", \"_\", \"A\"}\n"
    "  local p, s = {}, {}\n"
    "  for _ = 1, rnd(0, 7) do p[#p + 1] = tokens[rnd(1, #tokens)] end\n"
    "  for _ = 1, rnd(0, 10) do s[#s + 1] = chars[rnd(1, #chars)] end\n"
    "  local init = nil\n"
    "  if rnd(1, 3) == 1 then init = rnd(-12, 12) end\n"
    "  return table.concat(s), table.concat(p), init\n"
    "end\n"
    "\n"
    "local function arg_errors()\n"
    "  out(0, \"arg1\", run(string.find, {}, \"a\"))\n"
    "  out(0, \"arg2\", run(string.match, \"a\", nil))\n"
    "  out(0, \"arg3\", run(string.find, \"a\", \"a\", \"x\"))\n"
    "  out(0, \"arg3f\", run(string.find, \"a\", \"a\", 1.5))\n"
    "  out(0, \"argg\", run(string.gmatch, \"a\"))\n"
    "  out(0, \"gsub3\", run(string.gsub, \"a\", \"a\"))\n"
    "  out(0, \"gsub3b\", run(string.gsub, \"a\", \"a\", true))\n"
    "  out(0, \"gsub4\", run(string.gsub, \"a\", \"a\", \"b\", \"x\"))\n"
    "  out(0, \"num\", run(string.find, 12345, 34))\n"
    "  out(0, \"num2\", run(string.gsub, 12345, 3, 9))\n"
    "  out(0, \"meth\", run(function() return (\"abc\"):find({}) end))\n"
    "  out(0, \"methm\", run(function() return (\"abc\"):gsub(\"b\") end))\n"
    "  out(0, \"gsubneg\", run(string.gsub, \"abc\", \"\", \"-\", -1))\n"
    "  out(0, \"gsubmax\", run(string.gsub, \"abc\", \"\", \"-\", math.maxinteger))\n"
    "  out(0, \"gsuberr\", run(string.gsub, \"abc\", \"(b)\", \"%2\"))\n"
    "  out(0, \"gsubpos\", run(string.gsub, \"abc\", \"()b()\", \"%1%2\"))\n"
    "  out(0, \"gsubposf\", run(string.gsub, \"abc\", \"()b()\", repl_fn))\n"
    "  out(0, \"gsubposT\", run(string.gsub, \"abc\", \"()b\", {[2] = \"two\"}))\n"
    "  out(0, \"gsubanch\", run(string.gsub, \"aaa\", \"^a\", \"b\"))\n"
    "  out(0, \"gsubanch2\", run(string.gsub, \"aaa\", \"^\", \"b\"))\n"
    "  out(0, \"gsubunf\", run(string.gsub, \"abc\", \"(b\", \"x\"))\n"
    "  out(0, \"gsubunf2\", run(string.gsub, \"abc\", \"(b\", \"%1\"))\n"
    "  out(0, \"gsubunf3\", run(string.gsub, \"abc\", \"(b\", repl_fn))\n"
    "  out(0, \"gmanch\", run(gm, \"^a^a\", \"^a\"))\n"
    "  out(0, \"gmiter\", run(function()\n"
    "    local it = string.gmatch(\"a1b2\", \"%a(%d)\")\n"
    "    return it(), it(), it(), it()\n"
    "  end))\n"
    "  out(0, \"meta\", run(function()\n"
    "    return getmetatable(\"\").__index == string and string.find == (\"\").find\n"
    "  end))\n"
    "  out(0, \"gsubmeta\", run(string.gsub, \"abc\", \"%w\", setmetatable({}, {__index = "
    "function(_, k) return k:upper() end})))\n"
    "  out(0, \"gsubfnerr\", run(string.gsub, \"abc\", \"%w\", function() error(\"boom\") end))\n"
    "  out(0, \"gsubnested\", run(string.gsub, \"a b\", \"%w\", function(c) return (string.gsub(c, "
    "\".\", \"%0%0\")) end))\n"
    "end\n"
    "\n"
    "return function(event)\n"
    "  arg_errors()\n"
    "  for i, c in ipairs(cases) do\n"
    "    one(i, c[1], c[2], c[3], i)\n"
    "    if c[3] == nil then one(i, c[1], c[2], -2, i + 1) end\n"
    "  end\n"
    "  math.randomseed(20240611)\n"
    "  local rnd = math.random\n"
    "  for i = 1, 4000 do\n"
    "    local s, p, init = random_case(rnd)\n"
    "    one(1000 + i, s, p, init, i)\n"
    "  end\n"
    "  return {out = table.concat(lines, \"\\n\"), n = #lines}\n"
    "end\n"
    "\n";

/* ---- differential: Lua's string library against ours ---------------------- */

/* Runs the driver at path in a plain Lua state; returns its output (malloc'd)
 * or NULL. */
static char *run_plain(const char *path)
{
    lua_State *L = luaL_newstate();
    char *out = NULL;
    luaL_openlibs(L);
    if (luaL_loadfilex(L, path, "t") == LUA_OK && lua_pcall(L, 0, 1, 0) == LUA_OK) {
        lua_newtable(L);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_getfield(L, -1, "out") == LUA_TSTRING)
            out = strdup(lua_tostring(L, -1));
    }
    if (!out) fprintf(stderr, "  plain driver failed: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return out;
}

/* Runs the driver at path as a gasket function; returns its output or NULL. */
static char *run_sandbox(const char *path)
{
    struct function_limits lim = {.max_memory = 512u << 20, .max_instructions = 100000000000ull};
    struct function *f = NULL;
    char err[300] = "";
    char *out = NULL;
    if (function_load(&f, path, &lim, err, sizeof err) != 0) {
        fprintf(stderr, "  sandbox load failed: %s\n", err);
        return NULL;
    }
    json_t *ev = json_object(), *res = NULL;
    if (function_call(f, ev, &res, NULL, NULL, err, sizeof err) == 0)
        out = strdup(json_string_value(json_object_get(res, "out")));
    else
        fprintf(stderr, "  sandbox driver failed: %s\n", err);
    json_decref(res);
    json_decref(ev);
    function_free(f);
    return out;
}

/* Compares the outputs line by line; returns the number of lines. */
static int compare_lines(char *want, char *got)
{
    int lines = 0, diffs = 0;
    char *sw = NULL, *sg = NULL;
    char *w = strtok_r(want, "\n", &sw), *g = strtok_r(got, "\n", &sg);
    for (; w || g; w = strtok_r(NULL, "\n", &sw), g = strtok_r(NULL, "\n", &sg), lines++) {
        if (w && g && strcmp(w, g) == 0) continue;
        if (++diffs <= 20)
            fprintf(stderr, "  lua:    %s\n  gasket: %s\n", w ? w : "(end)", g ? g : "(end)");
    }
    CHECK_EQ_INT(diffs, 0);
    return lines;
}

static void test_differential(void)
{
    const char *path = script(DRIVER);
    char *want = run_plain(path), *got = run_sandbox(path);
    unlink(path);
    CHECK(want != NULL);
    CHECK(got != NULL);
    if (want && got) {
        int lines = compare_lines(want, got);
        printf("  %d operations compared with Lua's string library\n", lines);
        CHECK(lines > 29000);
    }
    free(want);
    free(got);
}

/* ---- limits through the sandbox ---------------------------------------------- */

static const char *const SLOW =
    "return function(e)\n"
    "  local s, p = string.rep('a', 5000), string.rep('a*', 30) .. 'b'\n"
    "  local m = e.mode\n"
    "  if m == 'find' then string.find(s, p)\n"
    "  elseif m == 'match' then s:match(p)\n"
    "  elseif m == 'gmatch' then for _ in s:gmatch(p) do end\n"
    "  elseif m == 'gsub' then s:gsub(p, '')\n"
    "  elseif m == 'gsubfn' then s:gsub('a', function() return s:find(p) end)\n"
    "  elseif m == 'pcall' then pcall(string.find, s, p); e.caught = true\n"
    "  elseif m == 'balance' then string.find(string.rep('(', 200000), '%b()')\n"
    "  elseif m == 'backref' then string.find(string.rep('a', 200000), '(a*)%1b')\n"
    "  elseif m == 'minexp' then string.find(s, string.rep('a-', 30) .. 'b')\n"
    "  elseif m == 'many' then for i = 1, 1e9 do string.find(s, 'a*b', 4990) end\n"
    "  elseif m == 'complex' then e.r = s:match(string.rep('a?', 1000))\n"
    "  elseif m == 'pcomplex' then e.r = select(2, pcall(string.match, s, string.rep('a?', "
    "1000)))\n"
    "  end\n"
    "  e.ok = ('hello'):find('l+')\n"
    "  return e\n"
    "end\n";

/* Each pathological pattern fails its call with the instruction limit well
 * under a second; the next call works. */
static void test_pathological(void)
{
    static const char *const modes[] = {"find",  "match",   "gmatch",  "gsub",   "gsubfn",
                                        "pcall", "balance", "backref", "minexp", "many"};
    struct function *f = NULL;
    char err[300], out[300], ev[64];
    CHECK_EQ_INT(function_load(&f, script(SLOW), NULL, err, sizeof err), 0);
    unlink(script_path);
    if (!f) return;
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        snprintf(ev, sizeof ev, "{\"mode\":\"%s\"}", modes[i]);
        int rc = call(f, ev, "ok", out, sizeof out, err, sizeof err);
        double dt = seconds_since(&t0);
        printf("  %-8s %.3f s: %s\n", modes[i], dt, err);
        CHECK_EQ_INT(rc, GK_EINVAL);
        CHECK(strstr(err, "instruction limit reached") != NULL);
        CHECK(dt < 1.0);
        CHECK_EQ_INT(call(f, "{\"mode\":\"none\"}", "ok", out, sizeof out, err, sizeof err), 0);
        CHECK_EQ_STR(out, "3");
    }
    function_free(f);
}

/* Deep recursion is an error, not a crash, caught or not. */
static void test_too_complex(void)
{
    struct function *f = NULL;
    char err[300], out[300];
    CHECK_EQ_INT(function_load(&f, script(SLOW), NULL, err, sizeof err), 0);
    unlink(script_path);
    if (!f) return;
    CHECK_EQ_INT(call(f, "{\"mode\":\"complex\"}", "r", out, sizeof out, err, sizeof err),
                 GK_EINVAL);
    CHECK(strstr(err, ": pattern too complex") != NULL);
    CHECK_EQ_INT(call(f, "{\"mode\":\"pcomplex\"}", "r", out, sizeof out, err, sizeof err), 0);
    CHECK_EQ_STR(out, "pattern too complex");
    function_free(f);
}

/* Pattern steps count against max_instructions: about n^2 steps for
 * string.find(string.rep('a', n), 'a*b'). */
static void test_budget_charged(void)
{
    struct function_limits lim = {.max_instructions = 2000000};
    struct function *f = NULL;
    char err[300], out[300];
    const char *text = "return function(e)\n"
                       "  e.ok = string.find(string.rep('a', e.n), 'a*b') or 0\n"
                       "  return e\n"
                       "end\n";
    CHECK_EQ_INT(function_load(&f, script(text), &lim, err, sizeof err), 0);
    unlink(script_path);
    if (!f) return;
    CHECK_EQ_INT(call(f, "{\"n\":500}", "ok", out, sizeof out, err, sizeof err), 0);
    CHECK_EQ_STR(out, "0");
    CHECK_EQ_INT(call(f, "{\"n\":3000}", "ok", out, sizeof out, err, sizeof err), GK_EINVAL);
    CHECK(strstr(err, "instruction limit reached") != NULL);
    CHECK_EQ_INT(call(f, "{\"n\":10}", "ok", out, sizeof out, err, sizeof err), 0);
    function_free(f);
}

/* ---- pattern.c directly --------------------------------------------------------- */

static int find(struct pattern *m, const char *s, const char *p, uint64_t budget, size_t *start,
                size_t *end)
{
    pattern_init(m, s, strlen(s), p, strlen(p));
    m->budget = budget;
    return pattern_find(m, 0, 0, start, end);
}

static void test_interface(void)
{
    struct pattern m;
    size_t start = 0, end = 0, len = 0;
    const char *str = NULL;
    CHECK_EQ_INT(find(&m, "key = val", "(%w+)%s*=%s*()", 1000, &start, &end), 1);
    CHECK_EQ_INT(start, 0);
    CHECK_EQ_INT(end, 6);
    CHECK_EQ_INT(pattern_ncaptures(&m, 1), 2);
    CHECK_EQ_INT(pattern_capture(&m, 0, start, end, &str, &len), PATTERN_CAPTURE_STRING);
    CHECK(len == 3 && memcmp(str, "key", 3) == 0);
    CHECK_EQ_INT(pattern_capture(&m, 1, start, end, &str, &len), PATTERN_CAPTURE_POSITION);
    CHECK_EQ_INT(len, 7);
    CHECK_EQ_INT(pattern_capture(&m, 2, start, end, &str, &len), GK_EINVAL);
    CHECK_EQ_STR(m.err, "invalid capture index %3");
    CHECK_EQ_INT(find(&m, "abc", "x", 1000, &start, &end), 0);
    CHECK_EQ_INT(pattern_ncaptures(&m, 1), 1);
    CHECK_EQ_INT(find(&m, "abc", "b%", 1000, &start, &end), GK_EINVAL);
    CHECK_EQ_STR(m.err, "malformed pattern (ends with '%')");
    CHECK_EQ_INT(pattern_is_plain("a b\0c", 5), 1);
    CHECK_EQ_INT(pattern_is_plain("a\0.", 3), 0);
}

/* The budget stops a match; a zero budget stops it at once. */
static void test_budget(void)
{
    static char s[5001];
    struct pattern m;
    size_t start, end;
    memset(s, 'a', 5000);
    CHECK_EQ_INT(find(&m, s, "a*a*a*a*a*a*a*a*a*a*a*b", 100000, &start, &end), GK_ELIMIT);
    CHECK_EQ_INT(m.budget, 0);
    CHECK_EQ_STR(m.err, "pattern step budget exhausted");
    CHECK_EQ_INT(find(&m, "ab", "b", 0, &start, &end), GK_ELIMIT);
    CHECK_EQ_INT(find(&m, "ab", "b", 10, &start, &end), 1);
    CHECK_EQ_INT(start, 1);
    CHECK(m.budget > 0 && m.budget < 10);
}

/* Nesting stops at PATTERN_MAX_DEPTH, whatever the budget. */
static void test_depth(void)
{
    static char s[2001], p[4001];
    struct pattern m;
    size_t start, end;
    memset(s, 'a', 2000);
    for (int i = 0; i < 2000; i++)
        memcpy(p + 2 * i, "a?", 2);
    CHECK_EQ_INT(find(&m, s, p, UINT64_MAX, &start, &end), GK_EINVAL);
    CHECK_EQ_STR(m.err, "pattern too complex");
    p[2 * (PATTERN_MAX_DEPTH - 1)] = '\0';
    CHECK_EQ_INT(find(&m, s, p, UINT64_MAX, &start, &end), 1);
    CHECK_EQ_INT(end, PATTERN_MAX_DEPTH - 1);
}

int main(void)
{
    RUN(test_interface);
    RUN(test_budget);
    RUN(test_depth);
    RUN(test_differential);
    RUN(test_pathological);
    RUN(test_too_complex);
    RUN(test_budget_charged);
    TEST_MAIN_END();
}
