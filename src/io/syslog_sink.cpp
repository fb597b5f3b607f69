// Non-blocking syslog client: framing, a bounded buffer, reconnection with backoff.
#include "syslog_sink.h"
#include "poller.h"

#include <fmt/format.h>

#include <algorithm>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace netlog::io {

namespace {

constexpr std::int64_t backoff_min_ns = 100'000'000;
constexpr std::int64_t backoff_max_ns = 10'000'000'000;

bool is_stream(SyslogSettings::Transport t) {
    return t == SyslogSettings::Transport::tcp || t == SyslogSettings::Transport::unix_stream;
}

void put_u32(std::string &b, std::uint32_t v) {
    b.append(reinterpret_cast<const char *>(&v), 4);
}
std::uint32_t get_u32(const std::string &b, std::size_t at) {
    std::uint32_t v;
    std::memcpy(&v, b.data() + at, 4);
    return v;
}

} // namespace

Result<SyslogSettings> syslog_parse_address(std::string_view a, SyslogSettings s) {
    auto take = [&](std::string_view scheme) {
        if (a.substr(0, scheme.size()) != scheme) return false;
        a.remove_prefix(scheme.size());
        return true;
    };
    using T = SyslogSettings::Transport;
    if (take("unix-stream://"))
        s.transport = T::unix_stream;
    else if (take("unix://"))
        s.transport = T::unix_dgram;
    else if (take("udp://"))
        s.transport = T::udp;
    else if (take("tcp://"))
        s.transport = T::tcp;
    else
        return make_error(fmt::format("syslog address '{}': expected udp://HOST:PORT, "
                                      "tcp://HOST:PORT, unix:///PATH or unix-stream:///PATH",
                                      a));
    if (s.transport == T::unix_dgram || s.transport == T::unix_stream) {
        if (a.empty() || a[0] != '/')
            return make_error("syslog address: unix path must be absolute");
        if (a.size() >= sizeof(sockaddr_un::sun_path))
            return make_error(fmt::format("syslog address: unix path '{}' is too long", a));
        s.path = std::string(a);
        return s;
    }
    std::string_view host, port;
    if (!a.empty() && a[0] == '[') {
        const auto close = a.find(']');
        if (close == std::string_view::npos || close + 1 >= a.size() || a[close + 1] != ':')
            return make_error(fmt::format("syslog address '{}': expected [IPV6]:PORT", a));
        host = a.substr(1, close - 1);
        port = a.substr(close + 2);
    } else {
        const auto colon = a.rfind(':');
        if (colon == std::string_view::npos)
            return make_error(fmt::format("syslog address '{}': missing :PORT", a));
        host = a.substr(0, colon);
        port = a.substr(colon + 1);
    }
    if (host.empty() || port.empty())
        return make_error(fmt::format("syslog address '{}': expected HOST:PORT", a));
    if (std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
        (port.size() > 5 || std::stoul(std::string(port)) == 0 ||
         std::stoul(std::string(port)) > 65535))
        return make_error(fmt::format("syslog address '{}': port {} is not in 1..65535", a, port));
    s.host = std::string(host);
    s.port = std::string(port);
    return s;
}

SyslogSink::SyslogSink(SyslogSettings s) : s_(std::move(s)) {
    static constexpr const char *names[] = {"udp", "tcp", "unix", "unix-stream"};
    const auto scheme = names[static_cast<int>(s_.transport)];
    description_ = s_.path.empty() ? fmt::format("{}://{}:{}", scheme, s_.host, s_.port)
                                   : fmt::format("{}://{}", scheme, s_.path);
    hostname_ = s_.hostname;
    if (hostname_.empty()) {
        char h[256] = {};
        if (gethostname(h, sizeof h - 1) == 0) hostname_ = h;
        if (hostname_.empty()) hostname_ = "-";
    }
    pid_ = std::to_string(getpid());
}

SyslogSink::~SyslogSink() = default;

// RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG
// RFC 3164: <PRI>Mmm dd hh:mm:ss HOST APP[PROCID]: MSG
void SyslogSink::frame(std::string_view msg, Timestamp ts, int severity) {
    const int pri = s_.facility * 8 + (severity >= 0 && severity <= 7 ? severity : s_.severity);
    std::tm tm{};
    const time_t t = static_cast<time_t>(ts.sec);
    auto &out = scratch_;
    out.clear();
    if (s_.protocol == SyslogSettings::Protocol::rfc5424) {
        gmtime_r(&t, &tm);
        fmt::format_to(std::back_inserter(out),
                       "<{}>1 {:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z {} {} {} - - ", pri,
                       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                       tm.tm_sec, ts.nsec / 1000, hostname_, s_.app_name, pid_);
    } else {
        localtime_r(&t, &tm);
        static constexpr const char *mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        // Over a unix socket (/dev/log) the local form of syslog(3) has no hostname.
        const bool local = s_.transport == SyslogSettings::Transport::unix_dgram ||
                           s_.transport == SyslogSettings::Transport::unix_stream;
        fmt::format_to(std::back_inserter(out), "<{}>{} {:2} {:02}:{:02}:{:02} {}{}{}[{}]: ", pri,
                       mon[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                       local ? "" : hostname_, local ? "" : " ", s_.app_name, pid_);
    }
    out.append(msg);
}

bool SyslogSink::push(std::string_view msg, Timestamp ts, int severity) {
    frame(msg, ts, severity);
    std::string framed_len;
    if (s_.transport == SyslogSettings::Transport::tcp) // RFC 6587 octet counting
        framed_len = fmt::format("{} ", scratch_.size());
    else if (s_.transport == SyslogSettings::Transport::unix_stream)
        scratch_.push_back('\n'); // newline framing, as /dev/log stream readers expect
    const std::size_t rec = 4 + framed_len.size() + scratch_.size();
    if (buf_.size() - head_ + rec > s_.buffer_bytes) {
        ++c_.dropped;
        return false;
    }
    if (head_ > 0 && head_ >= buf_.size() / 2) { // compact
        buf_.erase(0, head_);
        head_ = 0;
    }
    put_u32(buf_, static_cast<std::uint32_t>(framed_len.size() + scratch_.size()));
    buf_ += framed_len;
    buf_ += scratch_;
    c_.buffered_bytes = buf_.size() - head_;
    return true;
}

void SyslogSink::disconnect(std::int64_t now_ns) {
    fd_.reset();
    c_.connected = false;
    next_attempt_ns_ = now_ns + backoff_ns_;
    backoff_ns_ = std::min(backoff_ns_ * 2, backoff_max_ns);
    // A record half-written on a stream is lost with the connection: the server discards
    // the fragment. Skip its rest and count it.
    if (partial_ > 0) {
        head_ += 4 + get_u32(buf_, head_);
        partial_ = 0;
        ++c_.dropped;
    }
}

void SyslogSink::try_connect(std::int64_t now_ns) {
    if (now_ns < next_attempt_ns_) return;
    using T = SyslogSettings::Transport;
    int fd = -1;
    int rc = -1;
    if (s_.transport == T::unix_dgram || s_.transport == T::unix_stream) {
        fd = socket(AF_UNIX,
                    (s_.transport == T::unix_dgram ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK |
                        SOCK_CLOEXEC,
                    0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::memcpy(sa.sun_path, s_.path.data(), s_.path.size());
        if (fd >= 0) rc = connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa);
    } else {
        addrinfo hints{};
        hints.ai_socktype = s_.transport == T::udp ? SOCK_DGRAM : SOCK_STREAM;
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
        addrinfo *res = nullptr;
        if (getaddrinfo(s_.host.c_str(), s_.port.c_str(), &hints, &res) == 0 && res) {
            fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd >= 0) rc = connect(fd, res->ai_addr, res->ai_addrlen);
            freeaddrinfo(res);
        }
    }
    if (fd >= 0 && (rc == 0 || errno == EINPROGRESS)) {
        fd_.reset(fd);
        connecting_ = rc != 0;
        if (!connecting_) on_connected();
        return;
    }
    if (fd >= 0) close(fd);
    ++c_.connect_failures;
    next_attempt_ns_ = now_ns + backoff_ns_;
    backoff_ns_ = std::min(backoff_ns_ * 2, backoff_max_ns);
}

void SyslogSink::on_connected() {
    connecting_ = false;
    c_.connected = true;
    backoff_ns_ = backoff_min_ns;
    if (ever_connected_) ++c_.reconnects;
    ever_connected_ = true;
}

void SyslogSink::send_records(std::int64_t now_ns) {
    const bool stream = is_stream(s_.transport);
    while (head_ < buf_.size()) {
        const std::uint32_t len = get_u32(buf_, head_);
        const char *p = buf_.data() + head_ + 4 + partial_;
        const std::size_t n = len - partial_;
        const ssize_t w = send(fd_.get(), p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
            if (errno == EMSGSIZE) { // a datagram too large for the transport: lost, counted
                head_ += 4 + len;
                ++c_.dropped;
                continue;
            }
            disconnect(now_ns); // ECONNREFUSED, EPIPE, ECONNRESET, ENOENT...: keep the buffer
            break;
        }
        if (stream && static_cast<std::size_t>(w) < n) {
            partial_ += static_cast<std::size_t>(w);
            break;
        }
        head_ += 4 + len;
        partial_ = 0;
        ++c_.sent;
    }
    if (head_ == buf_.size()) {
        buf_.clear();
        head_ = 0;
    }
    c_.buffered_bytes = buf_.size() - head_;
}

void SyslogSink::pump(std::int64_t now_ns) {
    if (!fd_) try_connect(now_ns);
    if (!fd_) return;
    if (connecting_) {
        if (base::wait_fd(fd_.get(), POLLOUT, 0) == 0) return; // still connecting
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err == EINPROGRESS || err == EALREADY) return;
        if (err != 0) {
            ++c_.connect_failures;
            disconnect(now_ns);
            return;
        }
        on_connected();
    }
    if (is_stream(s_.transport)) { // the server closing shows as EOF
        char junk[256];
        const ssize_t r = recv(fd_.get(), junk, sizeof junk, MSG_DONTWAIT);
        if (r == 0) {
            disconnect(now_ns);
            return;
        }
    }
    send_records(now_ns);
}

} // namespace netlog::io
