/* workpool.h: a pool of worker threads of gasket's own, for queries.
 *
 * libuv's shared pool (uv_queue_work) also runs its file system and DNS
 * work; long queries there could hold those up, and its size is process
 * wide. A workpool has its own threads (nthreads), a FIFO of jobs, and
 * completions back to the loop thread through an eventfd: work(arg)
 * runs on a worker, then done(arg, status) on the loop thread, never inside
 * workpool_submit(). status is 0, or GK_ECANCELED when the pool was closed
 * before the job started (work then did not run). While jobs are pending
 * the pool keeps the loop alive; when none are, it does not. */
#ifndef GASKET_CORE_WORKPOOL_H
#define GASKET_CORE_WORKPOOL_H

#include <uv.h>

struct workpool;

typedef void (*workpool_work)(void *arg);
typedef void (*workpool_done)(void *arg, int status);

/* Starts nthreads (at least 1) workers. Loop thread. */
struct workpool *workpool_new(uv_loop_t *loop, unsigned nthreads);
/* Queues one job. Loop thread. */
void workpool_submit(struct workpool *p, workpool_work work, workpool_done done, void *arg);
/* Jobs queued or running. Loop thread. */
unsigned workpool_pending(const struct workpool *p);
/* Lets the running jobs finish, cancels the queued ones, joins the workers
 * and closes the handle; every done still due runs on a later loop turn,
 * after which p is freed. Blocks for the running jobs. Loop thread; NULL:
 * nothing. */
void workpool_close(struct workpool *p);

#endif
