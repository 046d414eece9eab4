/* function.h: Lua functions, the user code a route runs on each reading (the
 * original Lambda's place).
 *
 * A function is a Lua 5.4 script, loaded as text only, whose chunk returns
 * the handler:
 *
 *     return function(event)      -- event: the reading's document, a table
 *         gasket.publish("pi/1", {warning = "no2 warning"}, 1)
 *         return event            -- the document to store; nil drops it
 *     end
 *
 * Each function has its own lua_State, kept between calls (globals and
 * upvalues persist from one event to the next, as in a warm Lambda). The
 * state is a sandbox: the base library without dofile, loadfile and
 * collectgarbage's stop/restart/tuning options, `load` forced to text chunks,
 * setmetatable refusing __gc (Lua runs finalizers with hooks off), `print`
 * sent to the log; string (without string.dump), table, math, utf8,
 * coroutine; an `os` holding only time, date and clock. io, package, debug,
 * require and the rest of os are absent: naming them raises "io is not
 * available in gasket functions" (so `if io then` raises too).
 *
 * The `gasket` table:
 *   gasket.publish(topic, payload [, qos])  payload: a string as is, or a
 *       table encoded as compact JSON with sorted keys; qos 0..2, default 1.
 *   gasket.log(level, ...)   level "error", "warn", "info" or "debug"; the
 *       other arguments joined by spaces, as print does.
 *   gasket.now()             epoch milliseconds (an integer).
 *   gasket.null              JSON null: a unique value, so that a null
 *       member survives the round trip (nil would delete it).
 *   gasket.array(t)          marks t as a JSON array (so {} encodes as []);
 *       returns t.
 *
 * JSON <-> Lua: objects are tables with string keys; arrays are sequences
 * marked as arrays; integers stay integers (math.type) and other numbers are
 * floats; null is gasket.null. Back to JSON, a table is an array when marked
 * or when its keys are exactly 1..n (n >= 1), an object otherwise (an
 * unmarked {} is an object); object keys must be strings; numbers must be
 * finite; strings must be UTF-8; nesting stops at FUNCTION_MAX_DEPTH (so a
 * cycle is an error). The returned document keeps the members of the event
 * in their original order; new members follow in sorted order.
 *
 * Limits, per call (and for the chunk at load): an instruction budget,
 * checked every FUNCTION_HOOK_STEP VM instructions, and a memory ceiling for
 * the whole state. Exceeding either, or any Lua error, fails that call with a
 * one-line reason; the state is collected and stays usable. A script that
 * catches the limit error (pcall, a coroutine) fails at its next instruction.
 * C loops the hook cannot see are closed where a script controls their count
 * (string.rep of "", table.move charged to the budget); the memory ceiling
 * bounds the rest. Lua patterns (string.find, match, gmatch, gsub, and so
 * s:find(...)) run on gasket's own matcher (rules/pattern.c: Lua 5.4's
 * results and error messages) whose steps (a matcher call, a repetition
 * tried, a byte scanned by %b) are charged to the budget as one instruction
 * each, so a pathological pattern (string.rep("a*", 30) .. "b" against 5000
 * a's) fails the call with the instruction limit as soon as a Lua loop of
 * the same budget would (tens of milliseconds by default), and one nested
 * deeper than 200 raises "pattern too complex". A plain find (no special
 * character, or plain = true) is a linear search.
 *
 * Nothing here is thread-safe: one call at a time per function. */
#ifndef GASKET_RULES_FUNCTION_H
#define GASKET_RULES_FUNCTION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define FUNCTION_MAX_MEMORY_DEFAULT       (8u << 20) /* bytes, whole state */
#define FUNCTION_MAX_INSTRUCTIONS_DEFAULT 10000000u  /* per call */
#define FUNCTION_HOOK_STEP                1000       /* instructions per check */
#define FUNCTION_MAX_DEPTH                64         /* JSON <-> Lua nesting */

/* Zero fields (or a NULL pointer) take the defaults. */
struct function_limits {
    size_t max_memory;
    uint64_t max_instructions;
};

struct function;

/* Receives each gasket.publish() of a call, synchronously inside
 * function_call(). payload[len] is a NUL (the payload may hold others). The
 * callback must not call back into the function. */
typedef void (*function_publish_cb)(void *ud, const char *topic, const char *payload, size_t len,
                                    int qos);

/* Loads the script at path into a fresh sandbox and runs its chunk, which
 * must return the handler function. Returns 0 with *out set (free it with
 * function_free), or: GK_EIO when the file cannot be read, GK_EINVAL for a
 * syntax error ("path:line: message"), a binary chunk, an error or a limit
 * while running the chunk, or a chunk not returning a function; GK_ENOMEM
 * when the state cannot be built within max_memory. err gets the reason. */
int function_load(struct function **out, const char *path, const struct function_limits *lim,
                  char *err, size_t errlen);

/* Runs the handler on event (a JSON object, only read, never kept). On success returns 0
 * and sets *result to a new object the caller owns (the document to store,
 * changed or not) or to NULL (the handler returned nil: drop the reading).
 * publish may be NULL (publishes are then discarded). On a Lua error, the
 * instruction limit, the memory limit or a result that is neither a table
 * nor nil, returns GK_EINVAL with *result NULL and a one-line reason in err
 * ("functions/x.lua:3: attempt to ...", "functions/x.lua: instruction limit
 * reached", "functions/x.lua: memory limit reached"); publishes made before
 * the failure have been delivered. */
int function_call(struct function *f, json_t *event, json_t **result, function_publish_cb publish,
                  void *ud, char *err, size_t errlen);

/* The script's path, as given to function_load. */
const char *function_path(const struct function *f);

void function_free(struct function *f);

#endif
