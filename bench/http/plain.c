// No library: accept, read the request head, write the page (the baseline: libc only).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include "page.h"
int main(int argc, char **argv) {
    page_fill();
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) return 1;
    printf("ready\n"); fflush(stdout);
    char buf[8192], head[128];
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        if (read(c, buf, sizeof buf) > 0) {
            int n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", strlen(page));
            write(c, head, (size_t)n);
            write(c, page, strlen(page));
        }
        close(c);
    }
    (void)argc;
}
