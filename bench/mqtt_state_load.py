"""MQTT state for bench/mqtt_state.sh, made through the broker itself.

    mqtt_state_load.py PORT fill RETAINED SESSIONS
        RETAINED retained topics ret/N (100-byte payloads, one paho client,
        QoS 1) and SESSIONS persistent 3.1.1 sessions bench-N, each with one
        subscription (load/<N % 100>/#, QoS 1), created by paho clients that
        connect with clean session off, subscribe and disconnect.
    mqtt_state_load.py PORT churn SECONDS RETAINED
        keeps changing that state for SECONDS: 200 retained topics replaced
        and 20 QoS 1 messages (each queued to the 1/100 of the sessions
        subscribed under load/<k>/) per second, so that every persistence
        save has work to do.
"""
import sys
import threading
import time

import paho.mqtt.client as mqtt


def client(port, cid="", clean=True):
    c = mqtt.Client(client_id=cid, clean_session=clean)
    c.max_inflight_messages_set(100)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port, keepalive=60)
    c.loop_start()
    return c


def fill(port, nret, nses):
    c = client(port, "bench-filler")
    infos = [c.publish("ret/%d" % i, "r%05d-" % i + "x" * 93, qos=1, retain=True)
             for i in range(nret)]
    for info in infos:
        info.wait_for_publish()
    c.disconnect(); c.loop_stop()

    def sessions(lo, hi):
        for i in range(lo, hi):
            done = threading.Event()
            s = mqtt.Client(client_id="bench-%d" % i, clean_session=False)
            s.on_subscribe = lambda *a: done.set()
            s.connect("127.0.0.1", port)
            s.loop_start()
            s.subscribe("load/%d/#" % (i % 100), 1)
            if not done.wait(10):
                raise SystemExit("no SUBACK for bench-%d" % i)
            s.disconnect(); s.loop_stop()

    step = (nses + 7) // 8
    ts = [threading.Thread(target=sessions, args=(k, min(k + step, nses)))
          for k in range(0, nses, step)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def churn(port, secs, nret):
    c = client(port, "bench-churn")
    end, k = time.time() + secs, 0
    while time.time() < end:
        t0 = time.time()
        for j in range(20):  # a tenth of a second's worth
            c.publish("ret/%d" % ((k * 20 + j) % nret), "changed-%d" % k, qos=1, retain=True)
        for j in range(2):
            c.publish("load/%d/x" % ((k * 2 + j) % 100), "queued-%d" % k, qos=1)
        k += 1
        time.sleep(max(0, 0.1 - (time.time() - t0)))
    c.disconnect(); c.loop_stop()


if __name__ == "__main__":
    port, mode = int(sys.argv[1]), sys.argv[2]
    if mode == "fill":
        fill(port, int(sys.argv[3]), int(sys.argv[4]))
    else:
        churn(port, float(sys.argv[3]), int(sys.argv[4]))
