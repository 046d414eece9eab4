/* mqtt_load.c: MQTT load generator for bench/mqtt.sh, built on libmosquitto
 * clients and independent of gasket's own code.
 *
 *   cc -O2 bench/mqtt_load.c -lmosquitto -o mqtt_load
 *
 *   mqtt_load throughput -p PORT [-H HOST] [-q QOS] [-P PUBS] [-S SUBS] [-w]
 *             [-d SECS] [-W WARMUP] [-D DRAIN] [-n ACKWIN] [-e E2EWIN]
 *             [-r RATE] [-s SIZE] [-V 3|5] [-l LABEL]
 *   mqtt_load storm -p PORT [-H HOST] -N CLIENTS [-b BATCH] [-i IDLE] [-T TIMEOUT]
 *
 * throughput: PUBS publishers and SUBS subscribers, all in this one thread.
 *   Without -w, every publisher publishes to PREFIX/t and every subscriber
 *   subscribes to PREFIX/t; with -w, publisher j publishes to PREFIX/pJ and
 *   the subscribers subscribe to the wildcard PREFIX/+ (so each subscriber sees
 *   every publisher's messages). PREFIX is unique per run. Each payload (SIZE
 *   bytes, 256 by default) carries a magic, the publisher's index, a sequence
 *   number and the CLOCK_MONOTONIC time of the mosquitto_publish() call, so
 *   that each subscriber computes latency and finds loss, duplicates and
 *   reordering per publisher (a bitmap of the sequence numbers seen).
 *   Flow control of a publisher (it publishes only while all hold):
 *     - the library has nothing left to write for it (!mosquitto_want_write)
 *       and less than 32 KiB wait in its write buffer (below): nothing piles
 *       up in the generator, the socket sets the pace (this is the QoS 0
 *       bound, with the end-to-end window);
 *     - QoS 1/2: fewer than ACKWIN (-n, 100) of its messages are unacknowledged
 *       by the broker (on_publish callbacks);
 *     - end to end: fewer than E2EWIN / SUBS (-e, 1000 deliveries) of its
 *       messages are ahead of the slowest of its subscribers (sent - highest
 *       sequence seen + 1), so at most E2EWIN deliveries of each publisher
 *       are anywhere between it and its subscribers: a broker is measured at
 *       the rate it sustains, not at how much it can buffer or drop (QoS 0
 *       overflow, max_queued). In this closed loop, latency ~ window / rate
 *       when the window is what holds the publisher back;
 *     - with -r RATE, at most RATE messages/s (open loop, for latency).
 *   Publishing lasts WARMUP + SECS seconds; the figures (delivered/s, latency,
 *   CPU) are those of the SECS seconds after the warm-up; then DRAIN seconds at
 *   most for the last messages. Loss counts every message published:
 *   expected = sent * subscribers, lost = expected - distinct received.
 * storm: CLIENTS clients call mosquitto_connect_async (BATCH per turn of the
 *   poll loop, all created beforehand); reports the time until every client
 *   has its CONNACK, then prints "IDLE" and keeps them connected and idle for
 *   IDLE seconds (the script reads the broker's RSS meanwhile), then exits.
 *
 * One thread, one poll() loop over mosquitto_socket() of every client, with
 * mosquitto_loop_read / loop_write / loop_misc: no thread per client, and the
 * generator uses at most one of the two cores. Its CPU is reported (user +
 * system over the measured seconds; on loopback, system time includes the
 * kernel's receive work for the packets it sends). The sockets of throughput
 * mode are buffered in user space (see read()/write() below), and
 * libmosquitto's per-client socketpair is disabled (see socketpair()).
 * The last line of output is a machine-readable "RESULT key=value ..." line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

/* libmosquitto opens a socketpair per client (mosquitto_new) only to wake a
 * mosquitto_loop_start() thread; this program never uses those threads. Two
 * extra descriptors per client would put 9,000 clients at 27,000 open files,
 * and every queued packet would cost a write() to the pair. Interposing this
 * symbol makes the library's net__socketpair fail, which it documents as
 * harmless ("outgoing publish commands may be delayed", i.e. only for the
 * threaded loop): each client then holds its TCP socket only. */
int socketpair(int domain, int type, int protocol, int sv[2])
{
    (void)domain, (void)type, (void)protocol, (void)sv;
    errno = EMFILE;
    return -1;
}

/* Buffered socket I/O for the throughput clients. libmosquitto reads a packet
 * with read() calls of 1 byte (type), 1 byte per length byte, then the rest:
 * four system calls per 256-byte PUBLISH, and one write() per packet. That
 * made the generator, not the broker, the limit (100% of a core at ~330k
 * messages/s). Interposing read() and write() for the sockets registered
 * below gives each a 64 KiB read buffer (one read() drains what the kernel
 * holds) and a write buffer flushed once per turn of the poll loop (one
 * write() for all the packets a turn produced, like any buffered client).
 * Other descriptors, and every socket in storm mode, go straight to the
 * kernel. The bytes on the wire are unchanged. */
#define RBUF_SIZE (64u << 10)
#define WBUF_SIZE (256u << 10)
struct iobuf {
    bool on;
    unsigned char *r, *w;
    size_t roff, rlen, wlen;
};
static struct iobuf *iob;
static int iob_n;

static void io_register(int fd)
{
    if (fd < 0) return;
    if (fd >= iob_n) {
        int n = fd + 64;
        struct iobuf *t = realloc(iob, (size_t)n * sizeof *t);
        if (!t) abort();
        memset(t + iob_n, 0, (size_t)(n - iob_n) * sizeof *t);
        iob = t;
        iob_n = n;
    }
    struct iobuf *b = &iob[fd];
    if (b->on) return;
    if (!b->r) b->r = malloc(RBUF_SIZE), b->w = malloc(WBUF_SIZE);
    if (!b->r || !b->w) abort();
    b->roff = b->rlen = b->wlen = 0;
    b->on = true;
}

static struct iobuf *io_get(int fd) { return fd >= 0 && fd < iob_n && iob[fd].on ? &iob[fd] : NULL; }

/* Writes out the buffer; 0 when empty after, -1 on a socket error. */
static int io_flush(struct iobuf *b, int fd)
{
    size_t off = 0;
    while (off < b->wlen) {
        ssize_t k = syscall(SYS_write, fd, b->w + off, b->wlen - off);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            b->wlen = 0;
            return -1;
        }
        off += (size_t)k;
    }
    memmove(b->w, b->w + off, b->wlen - off);
    b->wlen -= off;
    return 0;
}

ssize_t read(int fd, void *buf, size_t n)
{
    struct iobuf *b = io_get(fd);
    if (!b) return syscall(SYS_read, fd, buf, n);
    if (b->roff == b->rlen) {
        ssize_t k = syscall(SYS_read, fd, b->r, RBUF_SIZE);
        if (k <= 0) return k;
        b->roff = 0;
        b->rlen = (size_t)k;
    }
    size_t m = b->rlen - b->roff < n ? b->rlen - b->roff : n;
    memcpy(buf, b->r + b->roff, m);
    b->roff += m;
    return (ssize_t)m;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    struct iobuf *b = io_get(fd);
    if (!b) return syscall(SYS_write, fd, buf, n);
    if (b->wlen + n > WBUF_SIZE) {
        if (io_flush(b, fd)) { errno = ECONNRESET; return -1; }
        if (b->wlen + n > WBUF_SIZE) {
            if (b->wlen) { errno = EAGAIN; return -1; }
            return syscall(SYS_write, fd, buf, n);
        }
    }
    memcpy(b->w + b->wlen, buf, n);
    b->wlen += n;
    return (ssize_t)n;
}

#define MAGIC 0x4d514c44u /* "MQLD" */
#define HIST_US 10u       /* latency histogram: 10 us buckets ... */
#define HIST_N 1000000u   /* ... up to 10 s, then one overflow bucket */

struct hdr {
    uint32_t magic;
    uint32_t pub;
    uint64_t seq;
    uint64_t ts_ns;
};

struct track { /* what one subscriber saw of one publisher */
    uint64_t next;   /* highest sequence seen + 1 */
    uint64_t uniq, dups, reorder;
    uint8_t *seen;   /* bitmap of sequences */
    uint64_t cap;    /* bits */
};

enum role { PUB, SUB, IDLE_CL };

struct cl {
    struct mosquitto *m;
    enum role role;
    int idx;
    int fd;
    bool connected, subscribed, dead, started;
    int sub_mid;
    /* publisher */
    uint64_t sent, acked;
    int inflight;
    double next_due;
    char topic[128];
    /* storm */
    uint64_t t_start_ns;
};

static struct {
    const char *host;
    int port, qos, pubs, subs, wildcard, version;
    double secs, warmup, drain, rate, idle, timeout;
    int ackwin, e2ewin, size, nclients, batch;
    const char *label;
} opt = {
    .host = "127.0.0.1", .qos = 0, .pubs = 1, .subs = 1, .version = 3,
    .secs = 10, .warmup = 1, .drain = 10, .ackwin = 100, .e2ewin = 1000,
    .size = 256, .nclients = 9000, .batch = 500, .idle = 5, .timeout = 60,
    .label = "-",
};

static struct cl *cls;
static int ncl;
static struct track *tracks; /* [subs][pubs] */
static uint32_t *hist;
static uint64_t hist_over, hist_n;
static double lat_max_ms;
static uint64_t win_delivered, total_delivered, bad_payload, disconnects;
static double t_meas0, t_meas1; /* measurement window, seconds (monotonic) */
static bool publishing;
static char prefix[96];
static unsigned char *payload;
static volatile sig_atomic_t stop_sig;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static double now_s(void) { return (double)now_ns() / 1e9; }

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *fmt, const char *s)
{
    fprintf(stderr, "mqtt_load: ");
    fprintf(stderr, fmt, s);
    fputc('\n', stderr);
    exit(2);
}

static void hist_add(uint64_t ns)
{
    uint64_t us = ns / 1000, b = us / HIST_US;
    double ms = (double)ns / 1e6;
    if (ms > lat_max_ms) lat_max_ms = ms;
    if (b >= HIST_N) hist_over++;
    else hist[b]++;
    hist_n++;
}

static double hist_pct(double p)
{
    if (!hist_n) return NAN;
    uint64_t want = (uint64_t)(p * (double)hist_n), acc = 0;
    if ((double)want < p * (double)hist_n) want++;
    if (want < 1) want = 1;
    for (uint32_t b = 0; b < HIST_N; b++) {
        acc += hist[b];
        if (acc >= want) return ((double)b + 0.5) * HIST_US / 1000.0;
    }
    return lat_max_ms;
}

/* ------------------------------------------------------------ callbacks */

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    struct cl *c = ud;
    (void)m;
    if (rc) {
        fprintf(stderr, "mqtt_load: client %d: CONNACK refused (%s)\n", c->idx,
                mosquitto_connack_string(rc));
        c->dead = true;
        return;
    }
    c->connected = true;
    if (c->role == IDLE_CL && c->t_start_ns) hist_add(now_ns() - c->t_start_ns);
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
    struct cl *c = ud;
    (void)m;
    if (!c->dead && !stop_sig) {
        disconnects++;
        if (disconnects <= 5)
            fprintf(stderr, "mqtt_load: client %d (%s) disconnected: %s\n", c->idx,
                    c->role == PUB ? "publisher" : c->role == SUB ? "subscriber" : "idle",
                    mosquitto_strerror(rc));
    }
    c->dead = true;
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
    struct cl *c = ud;
    (void)m;
    if (mid != c->sub_mid) return;
    if (n < 1 || granted[0] > 2) {
        fprintf(stderr, "mqtt_load: subscriber %d: SUBSCRIBE refused\n", c->idx);
        c->dead = true;
        return;
    }
    if (granted[0] != opt.qos)
        fprintf(stderr, "mqtt_load: subscriber %d: granted QoS %d, asked %d\n", c->idx, granted[0], opt.qos);
    c->subscribed = true;
}

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
    struct cl *c = ud;
    (void)m, (void)mid;
    c->acked++;
    if (c->inflight > 0) c->inflight--;
}

static void track_grow(struct track *t, uint64_t seq)
{
    uint64_t cap = t->cap ? t->cap : (1u << 20);
    while (cap <= seq) cap *= 2;
    uint8_t *n = realloc(t->seen, cap / 8);
    if (!n) die("%s", "out of memory");
    memset(n + t->cap / 8, 0, (cap - t->cap) / 8);
    t->seen = n;
    t->cap = cap;
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    struct cl *c = ud;
    struct hdr h;
    (void)m;
    uint64_t now = now_ns();
    if (msg->payloadlen < (int)sizeof h) { bad_payload++; return; }
    memcpy(&h, msg->payload, sizeof h);
    if (h.magic != MAGIC || h.pub >= (uint32_t)opt.pubs) { bad_payload++; return; }
    struct track *t = &tracks[(size_t)c->idx * opt.pubs + h.pub];
    if (h.seq >= t->cap) track_grow(t, h.seq);
    uint8_t bit = (uint8_t)(1u << (h.seq & 7));
    if (t->seen[h.seq >> 3] & bit) { t->dups++; return; }
    t->seen[h.seq >> 3] |= bit;
    t->uniq++;
    if (h.seq + 1 < t->next) t->reorder++;
    else t->next = h.seq + 1;
    total_delivered++;
    double s = (double)now / 1e9;
    if (s >= t_meas0 && s < t_meas1) {
        win_delivered++;
        hist_add(now - h.ts_ns);
    }
}

/* ------------------------------------------------------------ the loop */

static struct pollfd *pfd;
static int *pfd_cl;

/* Reads what is there, at most 64 packets; libmosquitto reads one packet per
 * mosquitto_loop_read() call when no QoS>0 message is waiting, and leaves
 * errno at EAGAIN when the socket is empty. */
static void client_read(struct cl *c)
{
    for (int i = 0; i < 64 && !c->dead; i++) {
        errno = 0;
        int rc = mosquitto_loop_read(c->m, 1);
        if (rc) { c->dead = true; break; }
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    }
}

static void client_write(struct cl *c)
{
    if (c->dead) return;
    if (mosquitto_loop_write(c->m, 1)) c->dead = true;
}

static bool buffered_io; /* throughput mode: register each client's socket */

/* The client has output waiting, in libmosquitto or in its write buffer
 * beyond 32 KiB: its publisher waits. */
static bool out_full(struct cl *c)
{
    if (mosquitto_want_write(c->m)) return true;
    struct iobuf *b = io_get(mosquitto_socket(c->m));
    return b && b->wlen >= (32u << 10);
}

static void flush_all(void)
{
    for (int i = 0; i < ncl; i++) {
        struct iobuf *b = cls[i].started ? io_get(mosquitto_socket(cls[i].m)) : NULL;
        if (b && b->wlen) io_flush(b, mosquitto_socket(cls[i].m));
    }
}

/* One turn: flush the write buffers, poll every live socket (for output only
 * when something waits), handle what is ready (input already buffered counts
 * as ready). */
static void loop_once(int timeout_ms)
{
    int n = 0;
    bool pending_in = false;
    for (int i = 0; i < ncl; i++) {
        struct cl *c = &cls[i];
        if (c->dead || !c->started) continue;
        int fd = mosquitto_socket(c->m);
        if (fd < 0) { c->dead = true; continue; }
        c->fd = fd;
        struct iobuf *b = io_get(fd);
        if (b && b->wlen) io_flush(b, fd); /* an error shows up as POLLERR/POLLHUP */
        pfd[n].fd = fd;
        pfd[n].events = POLLIN | (mosquitto_want_write(c->m) || (b && b->wlen) ? POLLOUT : 0);
        pfd[n].revents = 0;
        pfd_cl[n] = i;
        if (b && b->roff < b->rlen) pending_in = true;
        n++;
    }
    int r = poll(pfd, (nfds_t)n, pending_in ? 0 : timeout_ms);
    if (r < 0) {
        if (errno == EINTR) return;
        perror("mqtt_load: poll");
        exit(2);
    }
    for (int k = 0; k < n; k++) {
        struct cl *c = &cls[pfd_cl[k]];
        struct iobuf *b = io_get(pfd[k].fd);
        if (b && b->roff < b->rlen) pfd[k].revents |= POLLIN;
        if (!pfd[k].revents) continue;
        if (pfd[k].revents & (POLLIN | POLLERR | POLLHUP)) client_read(c);
        if (c->dead) continue;
        if (pfd[k].revents & POLLOUT) {
            if (b && b->wlen) io_flush(b, pfd[k].fd);
            client_write(c);
        }
    }
}

static void misc_all(void)
{
    for (int i = 0; i < ncl; i++)
        if (!cls[i].dead && cls[i].started && mosquitto_loop_misc(cls[i].m)) cls[i].dead = true;
}

static struct cl *new_client(int i, enum role role, int idx, const char *tag)
{
    char id[64];
    struct cl *c = &cls[i];
    memset(c, 0, sizeof *c);
    c->role = role;
    c->idx = idx;
    c->fd = -1;
    snprintf(id, sizeof id, "ml-%d-%s%d", (int)getpid(), tag, idx);
    c->m = mosquitto_new(id, true, c);
    if (!c->m) die("%s", "mosquitto_new failed");
    mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION,
                         opt.version == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(c->m, on_connect);
    mosquitto_disconnect_callback_set(c->m, on_disconnect);
    return c;
}

static void start_connect(struct cl *c)
{
    c->t_start_ns = now_ns();
    c->started = true;
    int rc = mosquitto_connect_async(c->m, opt.host, opt.port, 60);
    if (!rc && buffered_io) io_register(mosquitto_socket(c->m));
    if (rc) {
        if (!c->dead)
            fprintf(stderr, "mqtt_load: client %d: connect: %s\n", c->idx,
                    rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        c->dead = true;
    }
}

static void on_sig(int s) { (void)s; stop_sig = 1; }

static void raise_nofile(rlim_t want)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur >= want) return;
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want)
        fprintf(stderr, "mqtt_load: open files limited to %ju (want %ju)\n",
                (uintmax_t)rl.rlim_cur, (uintmax_t)want);
}

/* ------------------------------------------------------------ throughput */

static uint64_t lag_max; /* E2EWIN / subscribers, at least 1 */

static uint64_t pub_lag(int j) /* messages of publisher j not yet seen by its slowest subscriber */
{
    uint64_t minnext = UINT64_MAX;
    for (int s = 0; s < opt.subs; s++) {
        uint64_t nx = tracks[(size_t)s * opt.pubs + j].next;
        if (nx < minnext) minnext = nx;
    }
    struct cl *c = &cls[j];
    return c->sent > minnext ? c->sent - minnext : 0;
}

/* Publishes for every publisher as long as its windows allow; returns true
 * when some publisher waits for time only (fixed rate). */
static bool publish_step(double now, double *next_due)
{
    bool timed = false;
    for (int j = 0; j < opt.pubs; j++) {
        struct cl *c = &cls[j];
        if (c->dead || !c->connected) continue;
        for (int k = 0; k < 64; k++) {
            if (opt.qos > 0 && c->inflight >= opt.ackwin) break;
            if (pub_lag(j) >= lag_max) break;
            if (out_full(c)) break;
            if (opt.rate > 0) {
                if (c->next_due > now) {
                    timed = true;
                    if (c->next_due < *next_due) *next_due = c->next_due;
                    break;
                }
                c->next_due += 1.0 / opt.rate;
                if (c->next_due < now - 0.1) c->next_due = now; /* no catch-up burst */
            }
            struct hdr h = {MAGIC, (uint32_t)j, c->sent, now_ns()};
            memcpy(payload, &h, sizeof h);
            int mid;
            int rc = mosquitto_publish(c->m, &mid, c->topic, opt.size, payload, opt.qos, false);
            if (rc) {
                if (rc != MOSQ_ERR_NO_CONN)
                    fprintf(stderr, "mqtt_load: publisher %d: publish: %s\n", j, mosquitto_strerror(rc));
                c->dead = true;
                break;
            }
            c->sent++;
            if (opt.qos > 0) c->inflight++;
        }
    }
    return timed;
}

static bool drained(void)
{
    for (int j = 0; j < opt.pubs; j++) {
        struct cl *c = &cls[j];
        if (opt.qos > 0 && c->acked < c->sent && !c->dead) return false;
        struct iobuf *b = io_get(mosquitto_socket(c->m));
        if ((mosquitto_want_write(c->m) || (b && b->wlen)) && !c->dead) return false;
        for (int s = 0; s < opt.subs; s++)
            if (tracks[(size_t)s * opt.pubs + j].uniq < c->sent && !cls[opt.pubs + s].dead) return false;
    }
    return true;
}

static int run_throughput(void)
{
    ncl = opt.pubs + opt.subs;
    raise_nofile((rlim_t)ncl + 64);
    cls = calloc((size_t)ncl, sizeof *cls);
    tracks = calloc((size_t)opt.subs * opt.pubs, sizeof *tracks);
    hist = calloc(HIST_N, sizeof *hist);
    pfd = calloc((size_t)ncl, sizeof *pfd);
    pfd_cl = calloc((size_t)ncl, sizeof *pfd_cl);
    payload = malloc((size_t)opt.size);
    if (!cls || !tracks || !hist || !pfd || !pfd_cl || !payload) die("%s", "out of memory");
    /* MQTT_LOAD_UNBUFFERED=1: plain libmosquitto I/O (for cross-checks). */
    buffered_io = !getenv("MQTT_LOAD_UNBUFFERED");
    memset(payload, 'x', (size_t)opt.size);
    srand((unsigned)(now_ns() ^ (uint64_t)getpid()));
    snprintf(prefix, sizeof prefix, "bench/%d-%08x", (int)getpid(), (unsigned)rand());

    for (int j = 0; j < opt.pubs; j++) {
        struct cl *c = new_client(j, PUB, j, "p");
        if (opt.wildcard) snprintf(c->topic, sizeof c->topic, "%s/p%d", prefix, j);
        else snprintf(c->topic, sizeof c->topic, "%s/t", prefix);
        mosquitto_publish_callback_set(c->m, on_publish);
        /* The library's own window must not be the smaller one. */
        mosquitto_max_inflight_messages_set(c->m, (unsigned)opt.ackwin);
    }
    for (int s = 0; s < opt.subs; s++) {
        struct cl *c = new_client(opt.pubs + s, SUB, s, "s");
        mosquitto_message_callback_set(c->m, on_message);
        mosquitto_subscribe_callback_set(c->m, on_subscribe);
    }

    /* Connect everyone, then subscribe, then start. */
    double t = now_s(), deadline = t + 20;
    for (int i = 0; i < ncl; i++) start_connect(&cls[i]);
    for (;;) {
        int ok = 0, dead = 0;
        for (int i = 0; i < ncl; i++) ok += cls[i].connected && !cls[i].dead, dead += cls[i].dead;
        if (dead) { fprintf(stderr, "mqtt_load: %d client(s) failed to connect\n", dead); return 2; }
        if (ok == ncl) break;
        if (now_s() > deadline || stop_sig) { fprintf(stderr, "mqtt_load: connect timed out (%d/%d)\n", ok, ncl); return 2; }
        loop_once(50);
    }
    char filter[128];
    snprintf(filter, sizeof filter, opt.wildcard ? "%s/+" : "%s/t", prefix);
    for (int s = 0; s < opt.subs; s++) {
        struct cl *c = &cls[opt.pubs + s];
        if (mosquitto_subscribe(c->m, &c->sub_mid, filter, opt.qos)) die("%s", "subscribe failed");
    }
    for (;;) {
        int ok = 0, dead = 0;
        for (int s = 0; s < opt.subs; s++) ok += cls[opt.pubs + s].subscribed, dead += cls[opt.pubs + s].dead;
        if (dead) { fprintf(stderr, "mqtt_load: a subscription failed\n"); return 2; }
        if (ok == opt.subs) break;
        if (now_s() > deadline || stop_sig) { fprintf(stderr, "mqtt_load: SUBACK timed out\n"); return 2; }
        loop_once(50);
    }

    lag_max = (uint64_t)((opt.e2ewin + opt.subs - 1) / opt.subs);
    double t0 = now_s();
    t_meas0 = t0 + opt.warmup;
    t_meas1 = t_meas0 + opt.secs;
    for (int j = 0; j < opt.pubs; j++) cls[j].next_due = t0;
    publishing = true;
    double cpu0 = 0, cpu1 = 0, last_misc = t0;
    uint64_t sent_at_meas0 = 0, sent_at_meas1 = 0;
    bool in_meas = false;
    for (;;) {
        double now = now_s();
        if (!in_meas && now >= t_meas0) {
            in_meas = true;
            cpu0 = cpu_s();
            for (int j = 0; j < opt.pubs; j++) sent_at_meas0 += cls[j].sent;
        }
        if (now >= t_meas1 || stop_sig) break;
        double next_due = now + 0.05;
        bool timed = publish_step(now, &next_due);
        int to = 50;
        bool can_send = false;
        for (int j = 0; j < opt.pubs && !can_send; j++) {
            struct cl *c = &cls[j];
            can_send = !c->dead && !(opt.qos > 0 && c->inflight >= opt.ackwin) &&
                       pub_lag(j) < lag_max && !out_full(c) && opt.rate <= 0;
        }
        if (can_send) to = 0;
        else if (timed) to = (int)((next_due - now) * 1000);
        if (to > 50) to = 50;
        if (t_meas1 - now < to / 1000.0) to = (int)((t_meas1 - now) * 1000);
        if (to < 0) to = 0;
        loop_once(to);
        if (now - last_misc >= 1) { misc_all(); last_misc = now; }
        if (disconnects) break;
    }
    cpu1 = cpu_s();
    for (int j = 0; j < opt.pubs; j++) sent_at_meas1 += cls[j].sent;
    double meas_len = now_s() - t_meas0;
    if (meas_len > opt.secs) meas_len = opt.secs; /* the loop overshoots by < 1 poll */
    publishing = false;

    double d0 = now_s(), last = d0;
    while (!drained() && now_s() - d0 < opt.drain && !stop_sig) {
        loop_once(20);
        if (now_s() - last >= 1) { misc_all(); last = now_s(); }
    }
    double drain_s = now_s() - d0;

    uint64_t sent = 0, acked = 0, uniq = 0, dups = 0, reorder = 0;
    for (int j = 0; j < opt.pubs; j++) sent += cls[j].sent, acked += cls[j].acked;
    for (size_t k = 0; k < (size_t)opt.subs * opt.pubs; k++)
        uniq += tracks[k].uniq, dups += tracks[k].dups, reorder += tracks[k].reorder;
    uint64_t expected = sent * (uint64_t)opt.subs;
    /* Where the missing messages are: holes below the highest sequence seen
     * (dropped), or a tail never delivered (stuck or dropped at the end). */
    int shown = 0;
    for (int sub = 0; sub < opt.subs; sub++)
        for (int j = 0; j < opt.pubs; j++) {
            struct track *t = &tracks[(size_t)sub * opt.pubs + j];
            if (t->uniq >= cls[j].sent || shown >= 8) continue;
            uint64_t first = 0;
            while (first < t->cap && first < cls[j].sent && (t->seen[first >> 3] & (1u << (first & 7)))) first++;
            fprintf(stderr, "mqtt_load: subscriber %d, publisher %d: %" PRIu64 " of %" PRIu64 " received; highest seen %"
                    PRId64 ", first missing %" PRIu64 ", %" PRIu64 " missing below the highest\n", sub, j, t->uniq,
                    cls[j].sent, (int64_t)t->next - 1, first, t->next - t->uniq);
            shown++;
        }
    int64_t lost = (int64_t)expected - (int64_t)uniq;
    double rate = win_delivered / opt.secs;
    double pubrate = (double)(sent_at_meas1 - sent_at_meas0) / opt.secs;
    double cpu = 100.0 * (cpu1 - cpu0) / (meas_len > 0 ? meas_len : opt.secs);

    printf("%s: QoS %d, %d publisher(s) -> %d subscriber(s)%s, %d-byte payloads, %.0f s (+%.0f s warm-up), "
           "ack window %d, end-to-end window %d%s\n",
           opt.label, opt.qos, opt.pubs, opt.subs, opt.wildcard ? " on a wildcard" : "", opt.size, opt.secs,
           opt.warmup, opt.ackwin, opt.e2ewin, opt.rate > 0 ? " (fixed rate)" : "");
    printf("  delivered %.0f msg/s at the subscribers (published %.0f msg/s); latency p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
           rate, pubrate, hist_pct(0.50), hist_pct(0.99), lat_max_ms);
    printf("  whole run: sent %" PRIu64 ", acked %" PRIu64 ", expected %" PRIu64 ", delivered %" PRIu64
           ", lost %" PRId64 ", duplicates %" PRIu64 ", out of order %" PRIu64 ", disconnects %" PRIu64
           ", drain %.2f s; generator CPU %.0f%%\n",
           sent, acked, expected, uniq, lost, dups, reorder, disconnects, drain_s, cpu);
    printf("RESULT mode=throughput label=%s qos=%d pubs=%d subs=%d wildcard=%d secs=%.3f rate=%.1f pubrate=%.1f "
           "sent=%" PRIu64 " acked=%" PRIu64 " expected=%" PRIu64 " delivered=%" PRIu64 " lost=%" PRId64
           " dups=%" PRIu64 " reorder=%" PRIu64 " bad=%" PRIu64 " disconnects=%" PRIu64
           " p50_ms=%.3f p99_ms=%.3f max_ms=%.3f drain_s=%.2f gen_cpu=%.1f\n",
           opt.label, opt.qos, opt.pubs, opt.subs, opt.wildcard, opt.secs, rate, pubrate, sent, acked, expected,
           uniq, lost, dups, reorder, bad_payload, disconnects, hist_pct(0.5), hist_pct(0.99), lat_max_ms,
           drain_s, cpu);
    fflush(stdout);
    stop_sig = 1; /* the disconnects below are ours */
    for (int i = 0; i < ncl; i++)
        if (!cls[i].dead) { mosquitto_disconnect(cls[i].m); mosquitto_loop_write(cls[i].m, 1); }
    flush_all();
    return (disconnects || bad_payload || (opt.qos > 0 && lost != 0)) ? 1 : 0;
}

/* ------------------------------------------------------------ storm */

static int run_storm(void)
{
    ncl = opt.nclients;
    raise_nofile((rlim_t)ncl + 64);
    cls = calloc((size_t)ncl, sizeof *cls);
    hist = calloc(HIST_N, sizeof *hist);
    pfd = calloc((size_t)ncl, sizeof *pfd);
    pfd_cl = calloc((size_t)ncl, sizeof *pfd_cl);
    if (!cls || !hist || !pfd || !pfd_cl) die("%s", "out of memory");
    for (int i = 0; i < ncl; i++) new_client(i, IDLE_CL, i, "c");

    double cpu0 = cpu_s(), t0 = now_s(), t_all = -1;
    int next = 0, ok = 0, dead = 0;
    while (!stop_sig) {
        for (int k = 0; k < opt.batch && next < ncl; k++) start_connect(&cls[next++]);
        loop_once(next < ncl ? 0 : 20);
        ok = dead = 0;
        for (int i = 0; i < ncl; i++) ok += cls[i].connected && !cls[i].dead, dead += cls[i].dead;
        if (ok + dead == ncl && next == ncl) { t_all = now_s() - t0; break; }
        if (now_s() - t0 > opt.timeout) break;
    }
    double conn_s = now_s() - t0, cpu = cpu_s() - cpu0;
    if (t_all < 0)
        printf("storm: TIMEOUT after %.2f s: %d of %d clients have their CONNACK, %d failed\n", conn_s, ok, ncl, dead);
    else
        printf("storm: %d of %d clients have their CONNACK after %.3f s (%d failed); per client connect->CONNACK "
               "p50 %.2f ms, p99 %.2f ms, max %.2f ms; generator CPU %.2f s\n",
               ok, ncl, t_all, dead, hist_pct(0.5), hist_pct(0.99), lat_max_ms, cpu);
    printf("IDLE %d clients for %.0f s\n", ok, opt.idle);
    fflush(stdout);
    double i0 = now_s(), last = i0;
    int lost_idle = 0;
    while (!stop_sig && now_s() - i0 < opt.idle) {
        loop_once(100);
        if (now_s() - last >= 1) { misc_all(); last = now_s(); }
    }
    for (int i = 0; i < ncl; i++) lost_idle += cls[i].connected && cls[i].dead;
    printf("RESULT mode=storm clients=%d connected=%d failed=%d all_s=%.3f timeout=%d p50_ms=%.3f p99_ms=%.3f "
           "max_ms=%.3f gen_cpu_s=%.2f dropped_while_idle=%d\n",
           ncl, ok, dead, t_all < 0 ? conn_s : t_all, t_all < 0, hist_pct(0.5), hist_pct(0.99), lat_max_ms, cpu,
           lost_idle);
    fflush(stdout);
    return (t_all < 0 || dead || lost_idle) ? 1 : 0;
}

/* ------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr,
            "usage: mqtt_load throughput -p PORT [-H HOST] [-q QOS] [-P PUBS] [-S SUBS] [-w] [-d SECS]\n"
            "                  [-W WARMUP] [-D DRAIN] [-n ACKWIN] [-e E2EWIN] [-r RATE] [-s SIZE] [-V 3|5] [-l LABEL]\n"
            "       mqtt_load storm -p PORT [-H HOST] [-N CLIENTS] [-b BATCH] [-i IDLE] [-T TIMEOUT] [-V 3|5]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2) usage();
    const char *mode = argv[1];
    bool storm = !strcmp(mode, "storm");
    if (!storm && strcmp(mode, "throughput")) usage();
    int ch;
    optind = 2;
    while ((ch = getopt(argc, argv, "H:p:q:P:S:wd:W:D:n:e:r:s:V:l:N:b:i:T:")) != -1) {
        switch (ch) {
        case 'H': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'q': opt.qos = atoi(optarg); break;
        case 'P': opt.pubs = atoi(optarg); break;
        case 'S': opt.subs = atoi(optarg); break;
        case 'w': opt.wildcard = 1; break;
        case 'd': opt.secs = atof(optarg); break;
        case 'W': opt.warmup = atof(optarg); break;
        case 'D': opt.drain = atof(optarg); break;
        case 'n': opt.ackwin = atoi(optarg); break;
        case 'e': opt.e2ewin = atoi(optarg); break;
        case 'r': opt.rate = atof(optarg); break;
        case 's': opt.size = atoi(optarg); break;
        case 'V': opt.version = atoi(optarg); break;
        case 'l': opt.label = optarg; break;
        case 'N': opt.nclients = atoi(optarg); break;
        case 'b': opt.batch = atoi(optarg); break;
        case 'i': opt.idle = atof(optarg); break;
        case 'T': opt.timeout = atof(optarg); break;
        default: usage();
        }
    }
    if (opt.port <= 0 || opt.qos < 0 || opt.qos > 2 || opt.pubs < 1 || opt.subs < 1 || opt.secs <= 0 ||
        opt.ackwin < 1 || opt.e2ewin < 1 || opt.size < (int)sizeof(struct hdr) || opt.nclients < 1 ||
        opt.batch < 1 || (opt.version != 3 && opt.version != 5))
        usage();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_sig);
    signal(SIGTERM, on_sig);
    mosquitto_lib_init();
    int rc = storm ? run_storm() : run_throughput();
    mosquitto_lib_cleanup();
    return rc;
}
