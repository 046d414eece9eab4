/* wake.c: waking the loop thread from another thread (wake.h). */
#include "core/wake.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct wake *w = (struct wake *)h; /* poll is w's first member */
    uint64_t v;
    (void)status, (void)events;
    while (read(w->fd, &v, sizeof v) < 0 && errno == EINTR)
        ; /* EAGAIN: drained already */
    /* before the callback takes what was queued: a later wake_send writes again */
    atomic_store(&w->signaled, 0);
    w->cb(w);
}

int wake_init(uv_loop_t *loop, struct wake *w, wake_cb cb)
{
    w->cb = cb;
    atomic_init(&w->signaled, 0);
    w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->fd < 0) return -errno;
    int rc = uv_poll_init(loop, &w->poll, w->fd);
    if (rc != 0) {
        close(w->fd);
        w->fd = -1;
        return rc;
    }
    /* an eventfd just made is pollable: a failure here is out of memory,
     * with the handle already on the loop */
    if (uv_poll_start(&w->poll, UV_READABLE, on_poll) != 0) abort();
    return 0;
}

void wake_send(struct wake *w)
{
    if (atomic_exchange(&w->signaled, 1)) return;
    uint64_t one = 1;
    while (write(w->fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

void wake_close(struct wake *w, uv_close_cb close_cb)
{
    uv_close((uv_handle_t *)&w->poll, close_cb); /* stops watching the fd now */
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
}
