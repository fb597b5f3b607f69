// sd_notify and the journal's native protocol without libsystemd (systemd_native.h).
#include "systemd_native.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace netlog::io {

namespace {

// The address of an AF_UNIX socket named by `name` ("/path", or "@abstract"); false when
// it names none or is too long for sun_path.
bool unix_address(std::string_view name, sockaddr_un &a, socklen_t &len) {
    a = {};
    a.sun_family = AF_UNIX;
    if (name.size() < 2 || (name[0] != '/' && name[0] != '@') ||
        name.size() > sizeof a.sun_path - (name[0] == '/' ? 1 : 0))
        return false;
    std::memcpy(a.sun_path, name.data(), name.size());
    if (name[0] == '@') a.sun_path[0] = '\0';
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
                                 (name[0] == '/' ? 1 : 0));
    return true;
}

template <typename T> bool parse_number(const char *s, T &v) {
    if (!s || !*s) return false;
    const char *end = s + std::strlen(s);
    const auto r = std::from_chars(s, end, v);
    return r.ec == std::errc() && r.ptr == end;
}

} // namespace

bool systemd_notify(std::string_view state) {
    const char *name = std::getenv("NOTIFY_SOCKET");
    sockaddr_un a;
    socklen_t len = 0;
    if (!name || !unix_address(name, a, len)) return false;
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const auto n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                            reinterpret_cast<const sockaddr *>(&a), len);
    ::close(fd);
    return n == static_cast<ssize_t>(state.size());
}

std::uint64_t systemd_watchdog_usec() {
    std::uint64_t usec = 0;
    // 0 and USEC_INFINITY (UINT64_MAX) ask for no watchdog, as in sd_watchdog_enabled(3); a
    // period too long to count in nanoseconds (over 292 years) is none either.
    if (!parse_number(std::getenv("WATCHDOG_USEC"), usec) || usec == 0 ||
        usec > static_cast<std::uint64_t>(INT64_MAX) / 1000)
        return 0;
    if (const char *pid = std::getenv("WATCHDOG_PID"); pid && *pid) {
        pid_t p = 0;
        if (!parse_number(pid, p) || p != ::getpid()) return 0; // meant for another process
    }
    return usec;
}

std::string journal_datagram(std::span<const std::string_view> fields) {
    std::string d;
    for (const auto f : fields) {
        const auto eq = f.find('=');
        // A name is what precedes the '=': never empty, never holding a newline (journald
        // would read the rest as a binary field's length), as libsystemd refuses too.
        if (eq == std::string_view::npos || eq == 0 ||
            f.substr(0, eq).find('\n') != std::string_view::npos)
            return {};
        const auto name = f.substr(0, eq), value = f.substr(eq + 1);
        if (value.find('\n') == std::string_view::npos) {
            d.append(f);
            d.push_back('\n');
            continue;
        }
        d.append(name);
        d.push_back('\n');
        std::uint64_t n = value.size();
        for (int i = 0; i < 8; ++i, n >>= 8) d.push_back(static_cast<char>(n & 0xff));
        d.append(value);
        d.push_back('\n');
    }
    return d;
}

JournalSocket::~JournalSocket() {
    if (fd_ >= 0) ::close(fd_);
}

int JournalSocket::open() {
    if (fd_ >= 0) return 0;
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return -errno;
    // As libsystemd: a large send buffer, forced past net.core.wmem_max when allowed.
    int got = 0;
    socklen_t gl = sizeof got;
    if (::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf_, sizeof sndbuf_) != 0 ||
        ::getsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &got, &gl) != 0 || got < sndbuf_)
        (void)::setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf_, sizeof sndbuf_);
    return 0;
}

int JournalSocket::send(std::span<const std::string_view> fields) {
    const std::string d = journal_datagram(fields);
    if (d.empty()) return -EINVAL;
    sockaddr_un a;
    socklen_t len = 0;
    if (!unix_address(path_, a, len)) return -EINVAL;
    if (const int r = open(); r < 0) return r;
    if (::sendto(fd_, d.data(), d.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr *>(&a),
                 len) >= 0)
        return 0;
    if (errno != EMSGSIZE && errno != ENOBUFS) return -errno;
    return send_memfd(d);
}

// An entry larger than a datagram: written to a memfd, sealed (journald refuses an fd it
// cannot trust not to change), and passed without payload.
int JournalSocket::send_memfd(const std::string &d) {
    const int mfd = ::memfd_create("netlog-journal", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0) return -errno;
    int err = 0;
    for (std::size_t off = 0; off < d.size() && !err;) {
        const auto n = ::write(mfd, d.data() + off, d.size() - off);
        if (n < 0 && errno != EINTR) err = errno;
        if (n > 0) off += static_cast<std::size_t>(n);
    }
    if (!err &&
        ::fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
        err = errno;
    if (!err) {
        sockaddr_un a;
        socklen_t len = 0;
        unix_address(path_, a, len);
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr mh{};
        mh.msg_name = &a;
        mh.msg_namelen = len;
        mh.msg_control = control;
        mh.msg_controllen = sizeof control;
        cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &mfd, sizeof(int));
        if (::sendmsg(fd_, &mh, MSG_NOSIGNAL) < 0) err = errno;
    }
    ::close(mfd);
    return -err;
}

} // namespace netlog::io
