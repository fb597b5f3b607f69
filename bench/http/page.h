// The page every candidate serves: about the size of netlogd's /metrics (14 KiB).
#pragma once
#include <string.h>
static char page[14 * 1024];
static void page_fill(void) {
    for (size_t i = 0; i + 1 < sizeof page; ++i) page[i] = (i % 64 == 63) ? '\n' : 'x';
    page[sizeof page - 1] = '\n';
}
