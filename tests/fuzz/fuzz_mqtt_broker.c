/* fuzz_mqtt_broker.c: the broker's packet handling, fed by libFuzzer.
 *
 * Three clients on in-memory links (no sockets): the input is a sequence of
 * records [who, len, bytes...]; who % 4 picks client 0..2 (whose bytes go
 * to mqtt_client_input) or, for 3, an in-process publish of the bytes.
 * Clients 0 and 1 start with a valid CONNECT (5.0 and 3.1.1, persistent
 * sessions) so the fuzzer reaches subscriptions, QoS flows and retained
 * messages quickly; client 2 starts raw. At the end every link reports
 * its close and the broker is freed: leaks and use-after-free show up under
 * ASan. */
#include "mqtt/broker.h"

#include <stdint.h>
#include <string.h>

struct fake {
    struct mqtt_client *c;
    int closed;
};

static int f_write(void *l, const void *p, size_t n)
{
    (void)l, (void)p, (void)n;
    return 0;
}

static void f_close(void *l)
{
    ((struct fake *)l)->closed = 1;
}

static size_t f_pending(void *l)
{
    (void)l;
    return 0;
}

static const char *f_peer(void *l)
{
    (void)l;
    return "fuzz";
}

static const struct mqtt_link_ops ops = {f_write, f_close, f_pending, f_peer};

static const uint8_t connect_v5[] = {0x10, 0x13, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x00, 0, 60,
                                     5,    0x11, 0, 0, 0x0e, 0x10, 0, 1, 'a'};
static const uint8_t connect_v4[] = {0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4,
                                     0x00, 0,    60, 0, 1, 'b'};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uv_loop_t loop;
    struct mqtt_broker *b;
    struct mqtt_broker_options o;
    struct fake f[3] = {{0}};
    uv_loop_init(&loop);
    mqtt_broker_options_default(&o);
    o.max_queued = 50;
    mqtt_broker_new(&b, &loop, &o);
    for (int i = 0; i < 3; i++)
        f[i].c = mqtt_broker_attach(b, &ops, &f[i]);
    mqtt_client_input(f[0].c, connect_v5, sizeof connect_v5);
    mqtt_client_input(f[1].c, connect_v4, sizeof connect_v4);
    while (size >= 2) {
        unsigned who = data[0] % 4;
        size_t n = data[1] < size - 2 ? data[1] : size - 2;
        if (who == 3)
            mqtt_broker_publish(b, "fuzz/in", 7, data + 2, n, n % 3, n % 2);
        else if (!f[who].closed)
            mqtt_client_input(f[who].c, data + 2, n);
        uv_run(&loop, UV_RUN_NOWAIT);
        data += 2 + n;
        size -= 2 + n;
    }
    for (int i = 0; i < 3; i++)
        mqtt_client_closed(f[i].c);
    mqtt_broker_close(b);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}
