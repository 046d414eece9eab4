/* wake.h: waking the loop thread from another thread.
 *
 * What uv_async_t does, without its spin: libuv 1.44's loop, woken by
 * uv_async_send's write, spins (pause, then sched_yield) until the sending
 * thread has returned from that write and marked the handle done; a sender
 * preempted right after the write (a query worker, which runs at a lower
 * priority) keeps the loop thread spinning. Here the sender writes an
 * eventfd (once, until the loop has run the callback) and the loop reads
 * it through a uv_poll_t: neither waits for the other. Used by the query
 * workers' pool (workpool.c); the store's writer, at the loop's priority,
 * gained nothing from it in an A/B (docs/benchmarks.md) and keeps its
 * uv_async_t.
 *
 * The callback runs on the loop thread after the eventfd is drained and
 * the `signaled` mark cleared: what other threads queued before their
 * wake_send is there to take (under the caller's own lock); what they
 * queue after it wakes the loop again. */
#ifndef GASKET_CORE_WAKE_H
#define GASKET_CORE_WAKE_H

#include <stdatomic.h>
#include <uv.h>

struct wake;
typedef void (*wake_cb)(struct wake *w);

struct wake {
    uv_poll_t poll; /* first; its data is the caller's; ref/unref it as a handle */
    int fd;
    atomic_int signaled; /* fd written since the callback last ran */
    wake_cb cb;
};

/* Loop thread. 0, or a negative errno (libuv's codes). */
int wake_init(uv_loop_t *loop, struct wake *w, wake_cb cb);
/* Any thread: makes the loop thread run the callback (again). */
void wake_send(struct wake *w);
/* Loop thread: uv_close of the poll handle (close_cb gets it as usual),
 * and the eventfd closed. */
void wake_close(struct wake *w, uv_close_cb close_cb);

#endif
