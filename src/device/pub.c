/* pub.c: gasket-pub's loop and its sources (pub.h): the simulator and the
 * --exec command on the interval's clock, stdin lines as they come. Each
 * reading is stamped (createdtime, local time) and appended to the spool
 * the moment it is taken; delivery is pub_send.c's. */
#include "device/pub.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "device/cmdline.h"
#include "device/pub_int.h"
#include "device/pubopt.h"
#include "device/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_POLL_MS 1000

/* ---- readings into the spool ---- */

void pub_keep(struct pub *p, const char *body, size_t len, int sync)
{
    char err[256];
    uint64_t seq;
    struct spool_drop drop;
    int rc = spool_append(p->sp, body, len, sync, &seq, &drop, err, sizeof err);
    if (drop.count)
        log_warn("spool full (%" PRIu64 " bytes): dropped the %" PRIu64 " oldest readings (%" PRIu64
                 " to %" PRIu64 ")",
                 p->o->spool_max, drop.count, drop.first_seq, drop.last_seq);
    if (rc == GK_ETOOBIG) {
        log_warn("reading not kept: %s", err);
        return;
    }
    if (rc != 0) {
        log_error("%s", err);
        p->fatal = 1;
        return;
    }
    p->taken++;
    log_debug("reading %" PRIu64 " kept (%zu bytes, %" PRIu64 " waiting)", seq, len,
              spool_pending(p->sp));
    if (p->o->count && p->taken >= p->o->count) p->source_done = 1;
}

static void take_sim(struct pub *p)
{
    double v[SIM_NGAS];
    struct payload_meas m[SIM_NGAS];
    char when[20];
    sim_next(&p->sim, v);
    for (int i = 0; i < SIM_NGAS; i++)
        m[i] = (struct payload_meas){p->sim.gas[i].name, p->sim.gas[i].sensorid,
                                     p->sim.gas[i].sensortype, v[i]};
    payload_local_time(when);
    struct buf b = {0};
    payload_build(&b, &p->pctx, m, SIM_NGAS, when);
    pub_keep(p, b.data, b.len, 1);
    buf_free(&b);
}

/* A line of the user's script (stdin) or a command's output. */
static int keep_json(struct pub *p, const char *line, size_t len, int sync, char *err,
                     size_t errlen)
{
    char when[20];
    payload_local_time(when);
    struct buf b = {0};
    int rc = payload_from_json(&b, line, len, &p->pctx, when, err, errlen);
    if (rc == 0) pub_keep(p, b.data, b.len, sync);
    buf_free(&b);
    return rc;
}

static void on_line(void *ud, size_t lineno, const char *line, size_t len, int too_long)
{
    struct pub *p = ud;
    char err[200];
    if (p->source_done) return;
    if (too_long) {
        log_warn("stdin line %zu: longer than %u bytes; skipped", lineno, PAYLOAD_MAX_LINE);
        return;
    }
    if (len == 0) return;
    if (keep_json(p, line, len, 0, err, sizeof err) != 0)
        log_warn("stdin line %zu: %s; skipped", lineno, err);
}

static void read_stdin(struct pub *p)
{
    uint64_t before = p->taken;
    int rc = linebuf_read(&p->lb, 0, on_line, p);
    if (p->taken > before && spool_sync(p->sp) != 0) {
        log_error("cannot fsync the spool %s: %s", p->o->spool, strerror(errno));
        p->fatal = 1;
    }
    if (rc != 0) {
        if (rc < 0) log_error("reading stdin: %s", strerror(errno));
        else log_info("end of stdin after %zu lines", p->lb.lineno);
        p->source_done = 1;
    }
}

/* ---- --exec ---- */

static void start_exec(struct pub *p, uint64_t now)
{
    char err[256];
    if (p->run.pid) return; /* still running: the deadline deals with it */
    if (runner_start(&p->run, p->exec_argv, err, sizeof err) != 0) {
        log_error("exec %s: %s", p->o->exec, err);
        return;
    }
    uint64_t limit = (uint64_t)(p->o->interval * 1000);
    p->run_deadline = now + (limit < 1000 ? 1000 : limit);
}

static void end_exec(struct pub *p)
{
    int st = runner_wait(&p->run);
    char err[200];
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        log_warn("exec %s: %s %d; no reading", p->o->exec,
                 WIFEXITED(st) ? "exited with status" : "killed by signal",
                 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    else if (p->run.too_long)
        log_warn("exec %s: its output is over %u bytes; no reading", p->o->exec, PAYLOAD_MAX_LINE);
    else if (keep_json(p, p->run.out.data ? p->run.out.data : "", p->run.out.len, 1, err,
                       sizeof err) != 0)
        log_warn("exec %s: its output is no reading: %s", p->o->exec, err);
    buf_free(&p->run.out);
}

static void poll_exec(struct pub *p, uint64_t now)
{
    if (!p->run.pid) return;
    if (p->run.fd >= 0 && runner_read(&p->run) == 0) {
        if (now < p->run_deadline) return;
        log_warn("exec %s: still running after %.1f s: killed; no reading", p->o->exec,
                 (now - p->run_deadline) / 1000.0 + p->o->interval);
        runner_kill(&p->run);
        buf_free(&p->run.out);
        return;
    }
    end_exec(p);
}

/* ---- the clock ---- */

/* Takes the clocked sources' reading when it is due (stdin readings come
 * when they come). */
static void sample(struct pub *p, uint64_t now)
{
    int clocked = p->o->source == PUB_SRC_SIM || p->o->source == PUB_SRC_EXEC;
    if (!clocked || p->source_done || now < p->next_sample) return;
    uint64_t step = (uint64_t)(p->o->interval * 1000);
    if (step == 0) step = 1;
    p->next_sample += step;
    if (p->next_sample + step < now) p->next_sample = now + step; /* late (suspend): no burst */
    p->last_reading = now;
    if (p->o->source == PUB_SRC_SIM) take_sim(p);
    else start_exec(p, now);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* ms until something is due (at most MAX_POLL_MS). */
static int timeout_of(struct pub *p, uint64_t now)
{
    uint64_t due = now + MAX_POLL_MS;
    int clocked = p->o->source == PUB_SRC_SIM || p->o->source == PUB_SRC_EXEC;
    if (clocked && !p->source_done) due = min_u64(due, p->next_sample);
    if (p->run.pid) due = min_u64(due, p->run_deadline);
    due = min_u64(due, pub_send_due(p, now));
    return due > now ? (int)(due - now) : 0;
}

/* ---- the run ---- */

static int signals_open(struct pub *p)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    p->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return p->sigfd >= 0 ? 0 : -1;
}

static void read_signals(struct pub *p)
{
    struct signalfd_siginfo si;
    while (read(p->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) continue; /* nothing to reload: options are read at start */
        log_info("%s: stopping; %" PRIu64 " readings kept in the spool %s",
                 strsignal((int)si.ssi_signo), spool_pending(p->sp), p->o->spool);
        p->stop = 1;
    }
}

/* One turn: wait, then handle what is ready. */
static void turn(struct pub *p)
{
    struct curl_waitfd fds[3];
    unsigned n = 0;
    uint64_t now = clock_mono_ms();
    fds[n++] = (struct curl_waitfd){p->sigfd, CURL_WAIT_POLLIN, 0};
    if (p->o->source == PUB_SRC_STDIN && !p->source_done)
        fds[n++] = (struct curl_waitfd){0, CURL_WAIT_POLLIN, 0};
    if (p->run.fd >= 0) fds[n++] = (struct curl_waitfd){p->run.fd, CURL_WAIT_POLLIN, 0};
    curl_multi_poll(p->multi, fds, n, timeout_of(p, now), NULL);
    int running;
    curl_multi_perform(p->multi, &running);
    now = clock_mono_ms();
    read_signals(p);
    if (p->o->source == PUB_SRC_STDIN && !p->source_done) read_stdin(p);
    poll_exec(p, now);
    sample(p, now);
    pub_collect(p, now);
    pub_send(p, now);
    curl_multi_perform(p->multi, &running);
}

/* The exit status when the run is over, or -1 while it goes on. */
static int finished(struct pub *p, uint64_t now)
{
    if (p->fatal) return PUB_EXIT_FAIL;
    if (p->stop) return PUB_EXIT_OK;
    if (!p->source_done || (p->o->source == PUB_SRC_EXEC && p->run.pid)) return -1;
    if (spool_pending(p->sp) == 0 && pub_idle(p)) {
        log_info("done: %" PRIu64 " readings taken, %" PRIu64 " delivered, %" PRIu64 " dropped",
                 p->taken, p->delivered, p->dropped);
        return PUB_EXIT_OK;
    }
    if (p->o->wait > 0 && now - p->last_reading > (uint64_t)(p->o->wait * 1000)) {
        log_warn("giving up after --wait %g s: %" PRIu64 " readings kept in %s; the next run "
                 "sends them",
                 p->o->wait, spool_pending(p->sp), p->o->spool);
        return p->refused ? PUB_EXIT_REFUSED : PUB_EXIT_PENDING;
    }
    return -1;
}

static int setup(struct pub *p, char *err, size_t errlen)
{
    char *note = NULL;
    const struct pubopt *o = p->o;
    if (spool_open(&p->sp, o->spool, o->spool_max, &note, err, errlen) != 0) return -1;
    if (note) log_warn("%s", note);
    free(note);
    snprintf(p->key_prefix, sizeof p->key_prefix, "%s:%016" PRIx64 ":", o->name, spool_id(p->sp));
    if (signals_open(p) != 0) return snprintf(err, errlen, "signalfd: %s", strerror(errno)), -1;
    p->multi = curl_multi_init();
    if (!p->multi || pub_send_init(p, err, errlen) != 0) return -1;
    char why[200];
    if (o->source == PUB_SRC_EXEC && cmdline_split(o->exec, &p->exec_argv, why, sizeof why) != 0)
        return snprintf(err, errlen, "--exec %s: %s", o->exec, why), -1;
    if (o->source == PUB_SRC_STDIN) fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    sim_init(&p->sim, o->has_seed ? o->seed : (uint64_t)clock_now_ms());
    p->pctx = (struct payload_ctx){o->group, o->gps};
    p->source_done = o->source == PUB_SRC_DRAIN;
    p->next_sample = p->last_reading = clock_mono_ms();
    return 0;
}

static void teardown(struct pub *p)
{
    if (p->run.pid) runner_kill(&p->run);
    buf_free(&p->run.out);
    cmdline_free(p->exec_argv);
    linebuf_free(&p->lb);
    pub_send_free(p);
    if (p->multi) curl_multi_cleanup(p->multi);
    if (p->sigfd > 0) close(p->sigfd);
    spool_close(p->sp);
}

int pub_run(const struct pubopt *o)
{
    struct pub p = {.o = o, .sigfd = -1, .run = {.fd = -1}};
    char err[512] = "";
    int rc = -1;
    if (setup(&p, err, sizeof err) != 0) {
        log_error("%s", err);
        rc = PUB_EXIT_FAIL;
    } else {
        log_info("gasket-pub %s: %s to %s as %s; spool %s (%" PRIu64 " readings waiting)",
                 o->source == PUB_SRC_DRAIN ? "draining" : "sending", o->url ? "HTTP" : "MQTT",
                 o->url ? o->url : o->mqtt, o->name, o->spool, spool_pending(p.sp));
    }
    while (rc < 0 && (rc = finished(&p, clock_mono_ms())) < 0)
        turn(&p);
    teardown(&p);
    return rc;
}
