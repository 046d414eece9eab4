/* Unit tests for admin/devices_ini.c: removing one device's section keeps
 * every other line, comments included, whatever the spacing of headers. */
#include "admin/devices_ini.h"
#include "test.h"

static void removed(const char *text, const char *name, int found, const char *want)
{
    struct buf out = {0};
    buf_reserve(&out, 1);
    out.data[0] = '\0';
    CHECK_EQ_INT(devices_ini_remove(text, name, &out), found);
    buf_putc(&out, '\0');
    CHECK_EQ_STR(out.data, want);
    buf_free(&out);
}

static void test_remove(void)
{
    const char *text = "; devices\n\n[apikey pi-7]\n; enrolled\nkey = a\n\n"
                       "[ apikey  pi-70 ]\nkey = b\n[apikey pi-8]\nkey = c";
    removed(text, "pi-7", 1, "; devices\n\n[ apikey  pi-70 ]\nkey = b\n[apikey pi-8]\nkey = c");
    removed(text, "pi-70", 1,
            "; devices\n\n[apikey pi-7]\n; enrolled\nkey = a\n\n[apikey pi-8]\nkey = c");
    removed(text, "pi-8", 1,
            "; devices\n\n[apikey pi-7]\n; enrolled\nkey = a\n\n[ apikey  pi-70 ]\nkey = b\n");
    removed(text, "pi", 0, text);
    removed("[apikeypi-7]\nkey = x\n", "pi-7", 0, "[apikeypi-7]\nkey = x\n");
}

int main(void)
{
    RUN(test_remove);
    TEST_MAIN_END();
}
