// Debian's libcpp-httplib (compiled library, linked with OpenSSL, zlib, brotli): what
// netlogd used; a thread pool of blocking workers.
#include <httplib.h>
#include <cstdio>
#include <cstdlib>
#include "page.h"
int main(int, char **argv) {
    page_fill();
    httplib::Server s;
    s.Get("/metrics", [](const httplib::Request &, httplib::Response &r) {
        r.set_content(page, "text/plain");
    });
    s.bind_to_port("127.0.0.1", std::atoi(argv[1]));
    std::printf("ready\n");
    std::fflush(stdout);
    s.listen_after_bind();
}
