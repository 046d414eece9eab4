/* source.c: stdin lines and commands as sources of readings (source.h). */
#include "device/source.h"
#include "core/mem.h"
#include "device/payload.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- linebuf ---- */

static void emit(struct linebuf *lb, const char *p, size_t n, linebuf_fn fn, void *ud)
{
    lb->lineno++;
    if (lb->skipping) {
        lb->skipping = 0;
        return; /* reported when it went over */
    }
    if (n > 0 && p[n - 1] == '\r') n--;
    fn(ud, lb->lineno, p, n, 0);
}

void linebuf_feed(struct linebuf *lb, const char *data, size_t len, int eof, linebuf_fn fn,
                  void *ud)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t)(nl - data) : len;
        if (!lb->skipping) buf_append(&lb->b, data, n);
        if (!lb->skipping && lb->b.len > PAYLOAD_MAX_LINE) {
            fn(ud, lb->lineno + 1, "", 0, 1);
            lb->skipping = 1;
            buf_reset(&lb->b);
        }
        if (nl) {
            emit(lb, lb->b.data ? lb->b.data : "", lb->b.len, fn, ud);
            buf_reset(&lb->b);
            n++;
        }
        data += n;
        len -= n;
    }
    if (eof && (lb->b.len > 0 || lb->skipping)) {
        emit(lb, lb->b.data ? lb->b.data : "", lb->b.len, fn, ud);
        buf_reset(&lb->b);
    }
}

int linebuf_read(struct linebuf *lb, int fd, linebuf_fn fn, void *ud)
{
    char chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        linebuf_feed(lb, chunk, (size_t)n, n == 0, fn, ud);
        if (n == 0) return 1;
        if ((size_t)n < sizeof chunk) return 0;
    }
}

void linebuf_free(struct linebuf *lb)
{
    buf_free(&lb->b);
}

/* ---- runner ---- */

int runner_start(struct runner *r, char *const argv[], char *err, size_t errlen)
{
    int p[2];
    memset(r, 0, sizeof *r);
    r->fd = -1;
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) { /* the child: stdout to the pipe, stdin from /dev/null */
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) dup2(null, 0);
        dup2(p[1], 1);
        sigset_t none; /* gasket-pub blocks the signals it reads from a signalfd */
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        dprintf(2, "gasket-pub: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    r->pid = pid;
    r->fd = p[0];
    return 0;
}

int runner_read(struct runner *r)
{
    char chunk[4096];
    for (;;) {
        ssize_t n = read(r->fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        if (n <= 0) {
            close(r->fd);
            r->fd = -1;
            return 1;
        }
        if (r->out.len + (size_t)n > PAYLOAD_MAX_LINE) r->too_long = 1;
        else buf_append(&r->out, chunk, (size_t)n);
    }
}

int runner_wait(struct runner *r)
{
    int st = 0;
    while (r->pid > 0 && waitpid(r->pid, &st, 0) < 0 && errno == EINTR) {
    }
    r->pid = 0;
    return st;
}

void runner_kill(struct runner *r)
{
    if (r->pid > 0) kill(r->pid, SIGKILL);
    runner_wait(r);
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
}
