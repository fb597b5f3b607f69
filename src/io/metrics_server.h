// The metrics listener: /metrics (Prometheus text) and /healthz over HTTP, served by
// cpp-httplib on its own thread. The daemon supplies the text; this file only serves it.
#pragma once

#include <netlog/result.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace netlog::io {

class MetricsServer {
public:
    // `listen` is "HOST:PORT" ("127.0.0.1:9273", "[::1]:9273"). Binds now (a busy port is
    // an error for the caller to report), serves on a thread until destroyed.
    static Result<std::unique_ptr<MetricsServer>> start(const std::string &listen,
                                                        std::function<std::string()> metrics,
                                                        std::function<bool()> healthy);
    ~MetricsServer();
    MetricsServer(const MetricsServer &) = delete;
    MetricsServer &operator=(const MetricsServer &) = delete;
    int port() const { return port_; }

private:
    MetricsServer() = default;
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    int port_ = 0;
};

// Split "HOST:PORT" / "[V6]:PORT". False when malformed.
bool split_host_port(const std::string &s, std::string &host, int &port);

} // namespace netlog::io
