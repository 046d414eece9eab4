/* mosq_roundtrip.c: a small MQTT 5 client on libmosquitto (an independent
 * implementation) for the integration tests: it subscribes to TOPIC/#,
 * publishes COUNT messages at QoS 1 and 2 with a user property, a response
 * topic and correlation data, and checks each arrives once, in order per
 * QoS, with its properties. Prints "ok N" and exits 0, or says what failed.
 *
 *   mosq_roundtrip HOST PORT TOPIC COUNT */
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int count, got[3], bad;

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    char *name = NULL, *value = NULL, *resp = NULL, expect[32];
    void *corr = NULL;
    uint16_t corr_len = 0;
    (void)m, (void)ud;
    snprintf(expect, sizeof expect, "q%d-%d", msg->qos, got[msg->qos]);
    if (msg->payloadlen != (int)strlen(expect) || memcmp(msg->payload, expect, strlen(expect))) {
        fprintf(stderr, "out of order or wrong payload: %.*s (wanted %s)\n", msg->payloadlen,
                (char *)msg->payload, expect);
        bad++;
    }
    if (!mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY, &name, &value, false) ||
        strcmp(name, "site") || strcmp(value, "seoul")) {
        fprintf(stderr, "user property missing\n");
        bad++;
    }
    if (!mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &resp, false) ||
        strcmp(resp, "reply/here")) {
        fprintf(stderr, "response topic missing\n");
        bad++;
    }
    if (!mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &corr_len,
                                        false) ||
        corr_len != 3 || memcmp(corr, "c-1", 3)) {
        fprintf(stderr, "correlation data missing\n");
        bad++;
    }
    free(name), free(value), free(resp), free(corr);
    got[msg->qos]++;
}

static struct mosquitto *client(const char *id, const char *host, int port)
{
    struct mosquitto *m = mosquitto_new(id, true, NULL);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    if (mosquitto_connect_bind_v5(m, host, port, 30, NULL, NULL) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "cannot connect %s\n", id);
        exit(1);
    }
    return m;
}

int main(int argc, char **argv)
{
    if (argc != 5)
        return fprintf(stderr, "usage: mosq_roundtrip HOST PORT TOPIC COUNT\n"), 2;
    int port = atoi(argv[2]);
    count = atoi(argv[4]);
    char filter[256], topic[256];
    snprintf(filter, sizeof filter, "%s/#", argv[3]);
    snprintf(topic, sizeof topic, "%s/x", argv[3]);
    mosquitto_lib_init();
    struct mosquitto *sub = client("mosq-sub", argv[1], port);
    struct mosquitto *pub = client("mosq-pub", argv[1], port);
    mosquitto_message_v5_callback_set(sub, on_message);
    mosquitto_subscribe_v5(sub, NULL, filter, 2, 0, NULL);
    for (int i = 0; i < 20; i++)
        mosquitto_loop(sub, 20, 1), mosquitto_loop(pub, 20, 1);
    mosquitto_property *props = NULL;
    mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "site", "seoul");
    mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, "reply/here");
    mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, "c-1", 3);
    for (int i = 0; i < count; i++) {
        for (int q = 1; q <= 2; q++) {
            char payload[32];
            int n = snprintf(payload, sizeof payload, "q%d-%d", q, i);
            mosquitto_publish_v5(pub, NULL, topic, n, payload, q, false, props);
        }
        mosquitto_loop(pub, 0, 1), mosquitto_loop(sub, 0, 1);
    }
    time_t end = time(NULL) + 15;
    while ((got[1] < count || got[2] < count) && time(NULL) < end)
        mosquitto_loop(pub, 10, 1), mosquitto_loop(sub, 10, 1);
    mosquitto_property_free_all(&props);
    mosquitto_destroy(sub);
    mosquitto_destroy(pub);
    mosquitto_lib_cleanup();
    if (bad || got[1] != count || got[2] != count) {
        fprintf(stderr, "qos1 %d/%d qos2 %d/%d, %d bad\n", got[1], count, got[2], count, bad);
        return 1;
    }
    printf("ok %d\n", got[1] + got[2]);
    return 0;
}
