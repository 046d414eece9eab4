/* Unit tests for core/workpool.c: every job's done runs once on the loop
 * thread, in submission order for one worker, never inside the submit;
 * closing cancels what had not started and frees the pool. */
#include "core/err.h"
#include "core/workpool.h"
#include "test.h"

#include <stdlib.h>

struct job {
    int worked, done, status, order;
    uv_thread_t worker;
};

static int done_count;

static void work(void *arg)
{
    struct job *j = arg;
    j->worked = 1;
    j->worker = uv_thread_self();
    uv_sleep(1);
}

static void on_done(void *arg, int status)
{
    struct job *j = arg;
    j->done++;
    j->status = status;
    j->order = done_count++;
}

static void test_jobs_complete_in_order(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct workpool *p = workpool_new(&loop, 1);
    struct job jobs[20] = {{0}};
    uv_thread_t self = uv_thread_self();
    done_count = 0;
    for (int i = 0; i < 20; i++)
        workpool_submit(p, work, on_done, &jobs[i]);
    CHECK_EQ_INT(done_count, 0); /* never inside the call */
    CHECK_EQ_INT(workpool_pending(p), 20);
    uv_run(&loop, UV_RUN_DEFAULT); /* the pool keeps the loop alive until all are done */
    CHECK_EQ_INT(workpool_pending(p), 0);
    for (int i = 0; i < 20; i++) {
        CHECK_EQ_INT(jobs[i].done, 1);
        CHECK_EQ_INT(jobs[i].status, 0);
        CHECK_EQ_INT(jobs[i].order, i);
        CHECK(!uv_thread_equal(&jobs[i].worker, &self));
    }
    workpool_close(p);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

static void test_close_cancels_queued(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct workpool *p = workpool_new(&loop, 2);
    struct job jobs[50] = {{0}};
    done_count = 0;
    for (int i = 0; i < 50; i++)
        workpool_submit(p, work, on_done, &jobs[i]);
    workpool_close(p); /* running ones finish, the rest are canceled */
    uv_run(&loop, UV_RUN_DEFAULT);
    int canceled = 0;
    for (int i = 0; i < 50; i++) {
        CHECK_EQ_INT(jobs[i].done, 1);
        if (jobs[i].status == GK_ECANCELED) {
            canceled++;
            CHECK_EQ_INT(jobs[i].worked, 0);
        } else {
            CHECK_EQ_INT(jobs[i].status, 0);
            CHECK_EQ_INT(jobs[i].worked, 1);
        }
    }
    CHECK(canceled > 0);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
    RUN(test_jobs_complete_in_order);
    RUN(test_close_cancels_queued);
    TEST_MAIN_END();
}
