/* fuzz_alert.c: libFuzzer target for device/alert.c, which reads every
 * MQTT message gasket-sub receives from the network.
 *
 * alert_classify() must never fail on any bytes, must fill the text it is
 * given with a NUL-terminated string that fits, and a message it calls no
 * alert must leave the text empty. The target also varies the text size.
 * Corpus: tests/fuzz/corpus/alert (replayed by `make fuzz-replay`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "device/alert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cap = size ? 1 + data[0] % 64 : 16;
    char *text = malloc(cap);
    enum alert_kind k = alert_classify(data, size, text, cap);
    if (k > ALERT_EMERGENCY || memchr(text, '\0', cap) == NULL) abort();
    if (k == ALERT_NONE && text[0]) abort();
    if (strcmp(alert_kind_name(k), "none") == 0 && k != ALERT_NONE) abort();
    free(text);
    return 0;
}
