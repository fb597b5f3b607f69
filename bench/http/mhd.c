// libmicrohttpd (Debian's libmicrohttpd12, linked with GnuTLS): one internal epoll thread.
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "page.h"
static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **ptr) {
    (void)cls; (void)url; (void)method; (void)version; (void)data; (void)size; (void)ptr;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(page), page, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}
int main(int argc, char **argv) {
    page_fill();
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, atoi(argv[1]),
        NULL, NULL, handler, NULL, MHD_OPTION_CONNECTION_LIMIT, 64, MHD_OPTION_CONNECTION_TIMEOUT, 5,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_END);
    if (!d) return 1;
    printf("ready\n"); fflush(stdout);
    pause();
    (void)argc;
    return 0;
}
