// HTTP listener for /metrics and /healthz: one poll loop, bounded in connections, bytes
// and time (metrics_server.h says what each bound is for).
#include "metrics_server.h"
#include "clock.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

namespace netlog::io {

namespace {

// A request body the client sends anyway after a 413 is read and discarded for a moment
// before the close, so that the close does not reset the connection before the client
// has read the answer; never more than this.
constexpr std::size_t linger_bytes = 256 * 1024;
constexpr int linger_ms = 1000;

struct Conn {
    base::UniqueFd fd;
    std::int64_t deadline = 0;
    std::string in;  // the request head so far (bounded by HttpLimits::max_head_bytes + 4 KiB)
    std::string out; // the response, from `sent` on still to write
    std::size_t sent = 0, discarded = 0;
    enum class State { reading, writing, lingering } state = State::reading;
};

std::size_t code_index(int status) {
    for (std::size_t i = 0; i < HttpServerView::codes.size(); ++i)
        if (HttpServerView::codes[i] == status) return i;
    return 1; // 400
}

} // namespace

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

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(MetricsServerOptions options) {
    std::string host;
    int port = 0;
    const auto listen = options.listen;
    if (!split_host_port(listen, host, port))
        return make_error(fmt::format("metrics.listen '{}': expected HOST:PORT, e.g. "
                                      "127.0.0.1:7561",
                                      listen));
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo *ai = nullptr;
    if (const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &ai);
        rc != 0)
        return make_error(fmt::format("metrics.listen '{}': {}: use an address such as "
                                      "127.0.0.1:7561",
                                      listen, gai_strerror(rc)));
    std::unique_ptr<MetricsServer> m(new MetricsServer);
    m->o_ = std::move(options);
    int err = 0;
    for (auto *a = ai; a && !m->listen_fd_; a = a->ai_next) {
        base::UniqueFd fd(socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd) {
            err = errno;
            continue;
        }
        const int one = 1;
        setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd.get(), 64) != 0) {
            err = errno;
            continue;
        }
        m->listen_fd_ = std::move(fd);
    }
    freeaddrinfo(ai);
    if (!m->listen_fd_)
        return make_error(fmt::format("metrics.listen '{}': cannot listen: {} (port in use, or "
                                      "not a local address): choose another in the config",
                                      listen, std::strerror(err)));
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(m->listen_fd_.get(), reinterpret_cast<sockaddr *>(&ss), &len);
    m->port_ = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port
                                              : reinterpret_cast<sockaddr_in *>(&ss)->sin_port);
    if (!m->wake_.ok())
        return make_error(
            fmt::format("metrics.listen '{}': no eventfd: {}", listen, std::strerror(errno)));
    auto *self = m.get();
    m->thread_ = std::thread([self] { self->loop(); });
    return m;
}

MetricsServer::~MetricsServer() {
    if (thread_.joinable()) {
        wake_.notify();
        thread_.join();
    }
}

HttpServerView MetricsServer::stats() const {
    HttpServerView v;
    v.enabled = true;
    v.accepted = accepted_.load(std::memory_order_relaxed);
    v.refused = refused_.load(std::memory_order_relaxed);
    v.timed_out = timed_out_.load(std::memory_order_relaxed);
    v.open = open_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < v.responses.size(); ++i)
        v.responses[i] = responses_[i].load(std::memory_order_relaxed);
    return v;
}

void MetricsServer::loop() {
    std::vector<Conn> conns;
    base::Poller poller;
    char chunk[4096];

    const auto respond = [&](Conn &c, int status, std::string_view type, std::string_view body,
                             bool head) {
        c.out = http_response(status, type, body, head);
        c.sent = 0;
        c.state = Conn::State::writing;
        c.deadline = base::monotonic_ms() + o_.write_timeout_ms;
        std::string().swap(c.in); // what the client sent is not kept
        responses_[code_index(status)].fetch_add(1, std::memory_order_relaxed);
    };
    const auto serve = [&](Conn &c) {
        HttpRequest req;
        const auto v = http_parse_head(c.in, o_.limits, req);
        if (v == HttpVerdict::incomplete) return;
        if (v != HttpVerdict::ok) {
            const int status = http_status(v);
            respond(c, status, "text/plain; charset=utf-8",
                    fmt::format("{} {}\n", status, http_reason(status)), false);
            return;
        }
        auto path = req.target.substr(0, req.target.find('?'));
        if (path == "/metrics") {
            respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", o_.metrics(), req.head);
        } else if (path == "/healthz") {
            const auto why = o_.health();
            respond(c, why.empty() ? 200 : 503, "text/plain; charset=utf-8",
                    why.empty() ? std::string("ok\n") : why + "\n", req.head);
        } else {
            respond(c, 404, "text/plain; charset=utf-8",
                    "404 Not Found: this is netlogd's metrics listener (/metrics, /healthz)\n",
                    req.head);
        }
    };
    // false: the connection is done (closed by the caller)
    const auto step = [&](Conn &c, short revents) -> bool {
        if (c.state == Conn::State::reading && (revents & (POLLIN | POLLHUP | POLLERR))) {
            for (;;) {
                const auto n = read(c.fd.get(), chunk, sizeof chunk);
                if (n == 0) return false;
                if (n < 0) return errno == EAGAIN || errno == EINTR;
                c.in.append(chunk, static_cast<std::size_t>(n));
                serve(c);
                if (c.state != Conn::State::reading) break;
            }
        }
        if (c.state == Conn::State::writing) {
            while (c.sent < c.out.size()) {
                const auto n =
                    send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
                if (n < 0) return errno == EAGAIN || errno == EINTR;
                c.sent += static_cast<std::size_t>(n);
            }
            std::string().swap(c.out);
            shutdown(c.fd.get(), SHUT_WR);
            c.state = Conn::State::lingering;
            c.deadline = std::min(c.deadline, base::monotonic_ms() + linger_ms);
        }
        if (c.state == Conn::State::lingering && (revents & (POLLIN | POLLHUP | POLLERR))) {
            for (;;) {
                const auto n = read(c.fd.get(), chunk, sizeof chunk);
                if (n == 0) return false;
                if (n < 0) return errno == EAGAIN || errno == EINTR;
                c.discarded += static_cast<std::size_t>(n);
                if (c.discarded > linger_bytes) return false;
            }
        }
        return true;
    };

    for (;;) {
        // Slots: the stop, the listening socket, then one per connection in order.
        poller.clear();
        const auto stop = poller.add(wake_.fd());
        const auto listening = poller.add(listen_fd_.get());
        std::int64_t next = -1;
        for (const auto &c : conns) {
            poller.add(c.fd.get(), c.state == Conn::State::writing ? POLLOUT : POLLIN);
            next = next < 0 ? c.deadline : std::min(next, c.deadline);
        }
        const int timeout =
            next < 0 ? -1
                     : static_cast<int>(std::max<std::int64_t>(0, next - base::monotonic_ms()) + 1);
        if (poller.wait(timeout) < 0 || poller.readable(stop)) break;

        const auto now = base::monotonic_ms();
        std::vector<Conn> keep;
        keep.reserve(conns.size());
        for (std::size_t i = 0; i < conns.size(); ++i) {
            auto &c = conns[i];
            bool alive = step(c, poller.revents(listening + 1 + i));
            if (alive && now >= c.deadline) {
                if (c.state != Conn::State::lingering)
                    timed_out_.fetch_add(1, std::memory_order_relaxed);
                alive = false;
            }
            if (alive) keep.push_back(std::move(c)); // else closed with `conns`
        }
        conns.swap(keep);

        if (poller.readable(listening)) {
            for (;;) {
                base::UniqueFd fd(
                    accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
                if (!fd) break; // EAGAIN, or out of descriptors: the backlog waits
                accepted_.fetch_add(1, std::memory_order_relaxed);
                if (conns.size() >= o_.max_connections) {
                    // Over the limit: say so in one non-blocking send, then close.
                    static const std::string busy =
                        http_response(503, "text/plain; charset=utf-8",
                                      "503 Service Unavailable: too many connections\n");
                    [[maybe_unused]] auto r =
                        send(fd.get(), busy.data(), busy.size(), MSG_NOSIGNAL);
                    refused_.fetch_add(1, std::memory_order_relaxed);
                    responses_[code_index(503)].fetch_add(1, std::memory_order_relaxed);
                    continue;
                }
                Conn c;
                c.fd = std::move(fd);
                c.deadline = base::monotonic_ms() + o_.head_timeout_ms;
                conns.push_back(std::move(c));
            }
        }
        open_.store(conns.size(), std::memory_order_relaxed);
    }
    conns.clear();
    open_.store(0, std::memory_order_relaxed);
}

Result<HttpReply> http_get(const std::string &host, int port, const std::string &path,
                           int timeout_ms) {
    const auto deadline = base::monotonic_ms() + timeout_ms;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo *ai = nullptr;
    if (const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &ai);
        rc != 0)
        return make_error(fmt::format("cannot resolve {}: {}", host, gai_strerror(rc)));
    base::UniqueFd fd;
    int err = ECONNREFUSED;
    for (auto *a = ai; a && !fd; a = a->ai_next) {
        fd.reset(socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd) continue;
        if (connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
            err = errno;
            fd.reset();
            continue;
        }
        const int left =
            static_cast<int>(std::max<std::int64_t>(0, deadline - base::monotonic_ms()));
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (base::wait_fd(fd.get(), POLLOUT, left) != 1 ||
            getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            err = soerr ? soerr : ETIMEDOUT;
            fd.reset();
        }
    }
    freeaddrinfo(ai);
    if (!fd) return make_error(fmt::format("connect: {}", std::strerror(err)));
    const auto req = fmt::format("GET {} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n\r\n",
                                 path, host, port);
    std::size_t off = 0;
    std::string in;
    char chunk[16384];
    for (;;) {
        const int left = static_cast<int>(deadline - base::monotonic_ms());
        if (left <= 0) return make_error("timed out");
        if (base::wait_fd(fd.get(), off < req.size() ? POLLOUT : POLLIN, left) < 0) break;
        if (off < req.size()) {
            const auto n = send(fd.get(), req.data() + off, req.size() - off, MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN) break;
            if (n > 0) off += static_cast<std::size_t>(n);
            continue;
        }
        const auto n = read(fd.get(), chunk, sizeof chunk);
        if (n == 0) break;
        if (n < 0 && errno != EAGAIN && errno != EINTR) break;
        if (n > 0) in.append(chunk, static_cast<std::size_t>(n));
    }
    const auto end = in.find("\r\n\r\n");
    HttpReply r;
    if (in.compare(0, 9, "HTTP/1.1 ") != 0 && in.compare(0, 9, "HTTP/1.0 ") != 0)
        return make_error("the answer is not HTTP/1.x");
    r.status = std::atoi(in.c_str() + 9);
    if (end != std::string::npos) r.body = in.substr(end + 4);
    return r;
}

} // namespace netlog::io
