// HTTP listener for /metrics and /healthz.
#include "metrics_server.h"

#include <fmt/format.h>
#include <httplib.h>

namespace netlog::io {

bool split_host_port(const std::string &s, std::string &host, int &port) {
    std::string p;
    if (!s.empty() && s[0] == '[') {
        const auto close = s.find(']');
        if (close == std::string::npos || close + 2 > s.size() || s[close + 1] != ':') return false;
        host = s.substr(1, close - 1);
        p = s.substr(close + 2);
    } else {
        const auto colon = s.rfind(':');
        if (colon == std::string::npos) return false;
        host = s.substr(0, colon);
        p = s.substr(colon + 1);
    }
    if (host.empty() || p.empty() || p.size() > 5) return false;
    port = 0;
    for (char c : p) {
        if (c < '0' || c > '9') return false;
        port = port * 10 + (c - '0');
    }
    return port <= 65535;
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string &listen,
                                                            std::function<std::string()> metrics,
                                                            std::function<bool()> healthy) {
    std::string host;
    int port = 0;
    if (!split_host_port(listen, host, port))
        return make_error(fmt::format("metrics.listen '{}': expected HOST:PORT, e.g. "
                                      "127.0.0.1:9273",
                                      listen));
    std::unique_ptr<MetricsServer> m(new MetricsServer);
    m->server_ = std::make_unique<httplib::Server>();
    m->server_->Get("/metrics", [metrics](const httplib::Request &, httplib::Response &res) {
        res.set_content(metrics(), "text/plain; version=0.0.4; charset=utf-8");
    });
    m->server_->Get("/healthz", [healthy](const httplib::Request &, httplib::Response &res) {
        const bool ok = healthy();
        res.status = ok ? 200 : 503;
        res.set_content(ok ? "ok\n" : "not ready\n", "text/plain");
    });
    if (port == 0) {
        m->port_ = m->server_->bind_to_any_port(host.c_str());
        if (m->port_ < 0)
            return make_error(fmt::format("metrics.listen '{}': cannot listen", listen));
    } else {
        if (!m->server_->bind_to_port(host.c_str(), port))
            return make_error(fmt::format("metrics.listen '{}': cannot listen (port in use, or "
                                          "not a local address): choose another in the config",
                                          listen));
        m->port_ = port;
    }
    auto *srv = m->server_.get();
    m->thread_ = std::thread([srv] { srv->listen_after_bind(); });
    return m;
}

MetricsServer::~MetricsServer() {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
}

} // namespace netlog::io
