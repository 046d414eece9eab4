/* Unit tests for core/wake.c: what other threads queue before their
 * wake_send is always taken by a callback on the loop thread (no wake-up
 * lost, however the sends and the callbacks interleave), the callback runs
 * on the loop thread only, and the handle closes. */
#include "core/wake.h"
#include "test.h"

#include <stdatomic.h>
#include <stdlib.h>

#define THREADS 4
#define SENDS   50000

struct ctx {
    struct wake w; /* first */
    uv_mutex_t mu;
    long queued, taken;
    int calls, wrong_thread, closed;
    uv_thread_t loop_thread;
    uv_timer_t timer;
};

static void on_wake(struct wake *w)
{
    struct ctx *c = w->poll.data;
    if (!uv_thread_equal(&c->loop_thread, &(uv_thread_t){uv_thread_self()})) c->wrong_thread++;
    c->calls++;
    uv_mutex_lock(&c->mu);
    c->taken += c->queued;
    c->queued = 0;
    uv_mutex_unlock(&c->mu);
    if (c->taken == (long)THREADS * SENDS) uv_stop(w->poll.loop);
}

static void sender(void *arg)
{
    struct ctx *c = arg;
    for (int i = 0; i < SENDS; i++) {
        uv_mutex_lock(&c->mu);
        c->queued++;
        uv_mutex_unlock(&c->mu);
        wake_send(&c->w);
    }
}

static void on_timeout(uv_timer_t *t)
{
    uv_stop(t->loop); /* a lost wake-up: taken stays short */
}

static void on_closed(uv_handle_t *h)
{
    ((struct ctx *)h->data)->closed++;
}

static void test_no_lost_wakeup(void)
{
    uv_loop_t loop;
    struct ctx c = {0};
    uv_loop_init(&loop);
    uv_mutex_init(&c.mu);
    c.loop_thread = uv_thread_self();
    CHECK_EQ_INT(wake_init(&loop, &c.w, on_wake), 0);
    c.w.poll.data = &c;
    uv_timer_init(&loop, &c.timer);
    uv_timer_start(&c.timer, on_timeout, 20000, 0);
    uv_thread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ_INT(uv_thread_create(&th[i], sender, &c), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < THREADS; i++)
        uv_thread_join(&th[i]);
    CHECK_EQ_INT(c.taken, (long)THREADS * SENDS);
    CHECK(c.calls >= 1 && c.calls <= THREADS * SENDS); /* sends coalesce */
    CHECK_EQ_INT(c.wrong_thread, 0);
    /* a send after everything was taken still wakes the loop once */
    int calls = c.calls;
    wake_send(&c.w);
    wake_send(&c.w);
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK_EQ_INT(c.calls, calls + 1);
    wake_close(&c.w, on_closed);
    uv_close((uv_handle_t *)&c.timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(c.closed, 1);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    uv_mutex_destroy(&c.mu);
}

int main(void)
{
    RUN(test_no_lost_wakeup);
    TEST_MAIN_END();
}
