/* alert.c: alert messages told from the others (see alert.h). */
#include "device/alert.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *const names[] = {"none", "warning", "alarm", "emergency"};

const char *alert_kind_name(enum alert_kind k)
{
    return k <= ALERT_EMERGENCY ? names[k] : "none";
}

enum alert_kind alert_classify(const void *payload, size_t len, char *text, size_t textlen)
{
    if (textlen)
        text[0] = '\0';
    json_t *doc = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
    enum alert_kind kind = ALERT_NONE;
    json_t *member = NULL;
    for (int k = ALERT_EMERGENCY; json_is_object(doc) && k > ALERT_NONE && !member; k--)
        if ((member = json_object_get(doc, names[k])))
            kind = (enum alert_kind)k;
    if (json_is_string(member) && textlen)
        snprintf(text, textlen, "%s", json_string_value(member));
    json_decref(doc);
    return kind;
}
