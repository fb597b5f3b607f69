// HTTP/1.1 GET over AF_UNIX with deadlines and a stop descriptor.
#include "poller.h"
#include "unix_http.h"
#include "clock.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace netlog::io {

namespace {

// Wait until `fd` has `events` or the deadline passes or `stop_fd` is readable.
// 1: ready, 0: timed out, -1: stopped, -2: poll failed.
int wait_for(int fd, short events, std::int64_t deadline_ms, int stop_fd) {
    const auto left = deadline_ms - base::monotonic_ms();
    if (left <= 0) return 0;
    base::Poller p;
    p.add(fd, events);
    const auto stop = p.add(stop_fd); // a negative one is not watched
    const int n = p.wait(static_cast<int>(left));
    if (n < 0) return -2;
    if (n == 0) return 0;
    if (stop_fd >= 0 && p.readable(stop)) return -1;
    return 1;
}

std::string connect_error(const std::string &path, int err) {
    switch (err) {
    case ENOENT:
        return fmt::format("unix://{}: no such socket (is the daemon running, and is this its "
                           "socket?)",
                           path);
    case ECONNREFUSED:
        return fmt::format("unix://{}: connection refused (the socket is there but nothing "
                           "listens: the daemon stopped?)",
                           path);
    case EACCES:
    case EPERM:
        return fmt::format("unix://{}: permission denied (netlogd needs to be root or in the "
                           "socket's group)",
                           path);
    default: return fmt::format("unix://{}: {}", path, std::strerror(err));
    }
}

} // namespace

UnixHttpStream::~UnixHttpStream() = default;

Result<std::unique_ptr<UnixHttpStream>> UnixHttpStream::open(const std::string &path,
                                                             std::string_view target,
                                                             int head_timeout_ms, int stop_fd) {
    const auto deadline = base::monotonic_ms() + head_timeout_ms;
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path)
        return make_error(fmt::format("unix://{}: the path is longer than {} bytes", path,
                                      sizeof sa.sun_path - 1));
    std::memcpy(sa.sun_path, path.data(), path.size());
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return make_error(fmt::format("socket: {}", std::strerror(errno)));
    std::unique_ptr<UnixHttpStream> s(new UnixHttpStream(fd, HttpResponseLimits{}));
    if (connect(fd, reinterpret_cast<const sockaddr *>(&sa), sizeof sa) != 0) {
        if (errno != EAGAIN && errno != EINPROGRESS) return make_error(connect_error(path, errno));
        // the listener's backlog is full: wait for room
        const int w = wait_for(fd, POLLOUT, deadline, stop_fd);
        if (w <= 0)
            return make_error(w == -1 ? "stopped"
                                      : fmt::format("unix://{}: connect timed out after {} ms",
                                                    path, head_timeout_ms));
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) return make_error(connect_error(path, err));
    }
    const std::string req =
        fmt::format("GET {} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: netlogd/" NETLOG_VERSION
                    "\r\nConnection: close\r\n\r\n",
                    target);
    std::size_t sent = 0;
    while (sent < req.size()) {
        const auto n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            const int w = wait_for(fd, POLLOUT, deadline, stop_fd);
            if (w == 1) continue;
            return make_error(w == -1
                                  ? "stopped"
                                  : fmt::format("unix://{}: the request could not be sent in {} ms",
                                                path, head_timeout_ms));
        }
        return make_error(fmt::format("unix://{}: send: {}", path, std::strerror(errno)));
    }
    // Read until the head is complete (body bytes that came with it are kept for later).
    std::string early;
    while (!s->reader_.head_done()) {
        const int w = wait_for(fd, POLLIN, deadline, stop_fd);
        if (w == -1) return make_error("stopped");
        if (w == 0)
            return make_error(fmt::format("unix://{}: no response to GET {} within {} ms (the "
                                          "daemon hangs?)",
                                          path, target, head_timeout_ms));
        if (!s->read_some(early) && !s->reader_.head_done())
            return make_error(fmt::format("unix://{}: GET {}: {}", path, target,
                                          s->error_.empty() ? "no response" : s->error_));
    }
    s->pending_ = std::move(early);
    return s;
}

bool UnixHttpStream::read_some(std::string &body) {
    if (!pending_.empty()) {
        body += pending_;
        pending_.clear();
    }
    if (reader_.done() || reader_.failed()) return false;
    char buf[64 * 1024];
    for (;;) {
        const auto n = recv(fd_.get(), buf, sizeof buf, 0);
        if (n > 0) {
            const std::string_view data(buf, static_cast<std::size_t>(n));
            reader_.feed(data, body);
            if (reader_.failed()) {
                error_ = reader_.error();
                return false;
            }
            if (reader_.done()) return false; // a complete response: error_ stays ""
            continue;
        }
        if (n == 0) {
            reader_.finish();
            if (reader_.failed()) error_ = reader_.error();
            return false;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return true;
        error_ = std::strerror(errno);
        return false;
    }
}

Result<UnixHttpResponse> unix_http_get(const std::string &path, std::string_view target,
                                       int timeout_ms, int stop_fd) {
    const auto deadline = base::monotonic_ms() + timeout_ms;
    auto s = UnixHttpStream::open(path, target, timeout_ms, stop_fd);
    if (!s) return s.error();
    UnixHttpResponse r;
    r.status = (*s)->status();
    while ((*s)->read_some(r.body)) {
        const int w = wait_for((*s)->fd(), POLLIN, deadline, stop_fd);
        if (w == -1) return make_error("stopped");
        if (w == 0)
            return make_error(fmt::format("unix://{}: GET {}: the response did not end within "
                                          "{} ms ({} bytes read)",
                                          path, target, timeout_ms, r.body.size()));
    }
    if (!(*s)->complete())
        return make_error(fmt::format("unix://{}: GET {}: {}", path, target, (*s)->error()));
    return r;
}

} // namespace netlog::io
