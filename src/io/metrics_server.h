// The metrics listener: /metrics (Prometheus text) and /healthz over plain HTTP/1.1, on one
// thread of its own with one poll loop, and no HTTP library (none of Debian 12's gives the
// limits below without loading a TLS library: BENCHMARKS.md, "Metrics transport"). The
// daemon supplies the text; this file serves it, and no client can stall or bloat it:
//   - at most `max_connections` at once; one more is answered 503 and closed (counted);
//   - a request head must arrive whole within `head_timeout_ms` of the connect, and the
//     response be taken within `write_timeout_ms`: a slow client loses its connection
//     (counted), however it paces its bytes;
//   - request heads are bounded (HttpLimits: bytes and header lines, 431); a request body
//     is refused as soon as its header arrives (413), any method but GET/HEAD at its first
//     bytes (405); nothing a client sends is kept past its connection.
#pragma once

#include "http.h"
#include "metrics.h"
#include "poller.h"
#include "unique_fd.h"
#include <netlog/result.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace netlog::io {

struct MetricsServerOptions {
    std::string listen; // "HOST:PORT" ("127.0.0.1:7561", "[::1]:7561"); port 0: any
    std::function<std::string()> metrics;
    std::function<std::string()> health; // "" healthy (200 "ok"); else why (503, the text)
    HttpLimits limits;
    std::size_t max_connections = 32;
    int head_timeout_ms = 5000;
    int write_timeout_ms = 5000;
};

class MetricsServer {
  public:
    // Binds now (a busy port is an error for the caller to report), serves on a thread
    // until destroyed.
    static Result<std::unique_ptr<MetricsServer>> start(MetricsServerOptions options);
    ~MetricsServer();
    MetricsServer(const MetricsServer &) = delete;
    MetricsServer &operator=(const MetricsServer &) = delete;
    int port() const { return port_; }
    // What the listener did so far (any thread).
    HttpServerView stats() const;

  private:
    MetricsServer() = default;
    void loop();
    MetricsServerOptions o_;
    base::UniqueFd listen_fd_;
    base::Wakeup wake_;
    int port_ = 0;
    std::thread thread_;
    std::atomic<std::uint64_t> accepted_{0}, refused_{0}, timed_out_{0}, open_{0};
    std::array<std::atomic<std::uint64_t>, HttpServerView::codes.size()> responses_{};
};

// Split "HOST:PORT" / "[V6]:PORT". False when malformed.
bool split_host_port(const std::string &s, std::string &host, int &port);

// GET http://HOST:PORT/PATH with a deadline over the whole exchange: (status, body), or
// an error naming what failed (connect, timeout, not HTTP). For `netlogd --stats`.
struct HttpReply {
    int status = 0;
    std::string body;
};
Result<HttpReply> http_get(const std::string &host, int port, const std::string &path,
                           int timeout_ms);

} // namespace netlog::io
