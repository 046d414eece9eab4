/* workpool.c: worker threads with completions on the loop (workpool.h).
 *
 * One mutex guards the job queue, the done queue and the stopping flag;
 * workers wait on a condition variable. The loop thread owns `pending`
 * and the poll handle's ref. Closing marks the pool stopping, moves the
 * queued jobs to the done queue as canceled, joins the workers, closes the
 * handle, and runs the last completions and frees the pool in the close
 * callback.
 *
 * Completions reach the loop through a struct wake (wake.h), not a
 * uv_async_t: libuv 1.44's loop spins while the thread in uv_async_send
 * has not returned from its write, and a query worker runs at a lower
 * priority (STORE_READ_NICE) and is preempted right after that write wakes
 * the loop: under a loop of histogram queries the loop thread spent about
 * 40% of its time spinning (docs/benchmarks.md). A worker wakes the loop
 * after releasing the mutex.
 */
#include "core/workpool.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/wake.h"

#include <stdlib.h>

struct job {
    struct job *next;
    workpool_work work;
    workpool_done done;
    void *arg;
    int status;
};

struct workpool {
    struct wake wake; /* first: the wake callback's pointer is the pool's */
    uv_mutex_t mu;
    uv_cond_t cv;
    struct job *queue, **queue_tail, *done, **done_tail;
    int stopping;
    unsigned nthreads, pending;
    uv_thread_t *threads;
};

static void push(struct job ***tail, struct job *j)
{
    j->next = NULL;
    **tail = j;
    *tail = &j->next;
}

static void worker(void *arg)
{
    struct workpool *p = arg;
    uv_mutex_lock(&p->mu);
    for (;;) {
        while (!p->queue && !p->stopping)
            uv_cond_wait(&p->cv, &p->mu);
        struct job *j = p->queue;
        if (!j) break; /* stopping and nothing queued */
        if (!(p->queue = j->next)) p->queue_tail = &p->queue;
        uv_mutex_unlock(&p->mu);
        j->work(j->arg);
        uv_mutex_lock(&p->mu);
        push(&p->done_tail, j);
        uv_mutex_unlock(&p->mu);
        wake_send(&p->wake);
        uv_mutex_lock(&p->mu);
    }
    uv_mutex_unlock(&p->mu);
}

/* Loop thread: runs the done callbacks of finished jobs, in order. */
static void run_done(struct workpool *p)
{
    uv_mutex_lock(&p->mu);
    struct job *j = p->done, *next;
    p->done = NULL;
    p->done_tail = &p->done;
    uv_mutex_unlock(&p->mu);
    for (; j; j = next) {
        next = j->next;
        p->pending--;
        j->done(j->arg, j->status);
        free(j);
    }
    if (p->pending == 0 && !uv_is_closing((uv_handle_t *)&p->wake.poll))
        uv_unref((uv_handle_t *)&p->wake.poll);
}

static void on_wake(struct wake *w)
{
    run_done((struct workpool *)w);
}

struct workpool *workpool_new(uv_loop_t *loop, unsigned nthreads)
{
    struct workpool *p = xcalloc(1, sizeof *p);
    p->nthreads = nthreads ? nthreads : 1;
    p->queue_tail = &p->queue;
    p->done_tail = &p->done;
    uv_mutex_init(&p->mu);
    uv_cond_init(&p->cv);
    if (wake_init(loop, &p->wake, on_wake) != 0) abort(); /* no eventfd at start */
    p->wake.poll.data = p;
    uv_unref((uv_handle_t *)&p->wake.poll);
    p->threads = xcalloc(p->nthreads, sizeof *p->threads);
    for (unsigned i = 0; i < p->nthreads; i++)
        if (uv_thread_create(&p->threads[i], worker, p) != 0)
            abort(); /* no thread at start: nothing sensible to do */
    return p;
}

void workpool_submit(struct workpool *p, workpool_work work, workpool_done done, void *arg)
{
    struct job *j = xcalloc(1, sizeof *j);
    j->work = work;
    j->done = done;
    j->arg = arg;
    if (p->pending++ == 0) uv_ref((uv_handle_t *)&p->wake.poll);
    uv_mutex_lock(&p->mu);
    int stopping = p->stopping;
    if (stopping) {
        j->status = GK_ECANCELED;
        push(&p->done_tail, j);
    } else {
        push(&p->queue_tail, j);
        uv_cond_signal(&p->cv);
    }
    uv_mutex_unlock(&p->mu);
    if (stopping) wake_send(&p->wake);
}

unsigned workpool_pending(const struct workpool *p)
{
    return p->pending;
}

static void on_closed(uv_handle_t *h)
{
    struct workpool *p = h->data;
    run_done(p); /* the last completions, canceled ones included */
    uv_cond_destroy(&p->cv);
    uv_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

void workpool_close(struct workpool *p)
{
    if (!p) return;
    uv_mutex_lock(&p->mu);
    p->stopping = 1;
    for (struct job *j = p->queue, *next; j; j = next) {
        next = j->next;
        j->status = GK_ECANCELED;
        push(&p->done_tail, j);
    }
    p->queue = NULL;
    p->queue_tail = &p->queue;
    uv_cond_broadcast(&p->cv);
    uv_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        uv_thread_join(&p->threads[i]);
    wake_close(&p->wake, on_closed);
}
