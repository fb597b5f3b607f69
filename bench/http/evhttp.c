// libevent 2.1's evhttp (Debian's libevent-2.1-7, no TLS): one event loop.
#include <event2/event.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include "page.h"
static void cb(struct evhttp_request *req, void *arg) {
    (void)arg;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_reference(b, page, strlen(page), NULL, NULL);
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}
int main(int argc, char **argv) {
    page_fill();
    struct event_base *base = event_base_new();
    struct evhttp *h = evhttp_new(base);
    evhttp_set_max_headers_size(h, 8192);
    evhttp_set_max_body_size(h, 0);
    evhttp_set_timeout(h, 5);
    evhttp_set_gencb(h, cb, NULL);
    if (evhttp_bind_socket(h, "127.0.0.1", (unsigned short)atoi(argv[1])) != 0) return 1;
    printf("ready\n"); fflush(stdout);
    event_base_dispatch(base);
    (void)argc;
    return 0;
}
