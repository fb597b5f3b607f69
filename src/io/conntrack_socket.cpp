// ctnetlink sockets for `connections:` (conntrack_socket.h).
#include "conntrack_socket.h"

#include <fmt/format.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

namespace netlog::io {

namespace {

int open_netlink(std::uint32_t groups, std::string &why) {
    const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER);
    if (fd < 0) {
        why = fmt::format("socket(NETLINK_NETFILTER): {}", std::strerror(errno));
        return -1;
    }
    sockaddr_nl a{};
    a.nl_family = AF_NETLINK;
    a.nl_groups = groups;
    if (bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
        why = fmt::format("binding the conntrack event groups: {}{}", std::strerror(errno),
                          errno == EPERM ? " (needs CAP_NET_ADMIN)" : "");
        close(fd);
        return -1;
    }
    return fd;
}

} // namespace

Result<std::unique_ptr<ConntrackSocket>> ConntrackSocket::open(std::uint32_t buffer) {
    std::unique_ptr<ConntrackSocket> s(new ConntrackSocket());
    std::string why;
    // NFNLGRP_CONNTRACK_NEW = 1, _UPDATE = 2, _DESTROY = 3: bits 0..2.
    s->events_ =
        open_netlink((1u << (NFNLGRP_CONNTRACK_NEW - 1)) | (1u << (NFNLGRP_CONNTRACK_UPDATE - 1)) |
                         (1u << (NFNLGRP_CONNTRACK_DESTROY - 1)),
                     why);
    if (s->events_ < 0)
        return make_error(fmt::format("connections: {} (is nf_conntrack loaded?)", why));
    int want = static_cast<int>(buffer);
    if (setsockopt(s->events_, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
        setsockopt(s->events_, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
    s->requests_ = open_netlink(0, why);
    if (s->requests_ < 0) return make_error(fmt::format("connections: {}", why));
    s->buf_.resize(64 * 1024);
    return s;
}

ConntrackSocket::~ConntrackSocket() {
    if (events_ >= 0) close(events_);
    if (requests_ >= 0) close(requests_);
}

void ConntrackSocket::drain_one(int fd, const std::function<void(Bytes)> &fn) {
    for (int i = 0; i < 4096; ++i) { // bounded: the caller comes back soon
        sockaddr_nl from{};
        socklen_t fl = sizeof from;
        const ssize_t n =
            recvfrom(fd, buf_.data(), buf_.size(), 0, reinterpret_cast<sockaddr *>(&from), &fl);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOBUFS) {
                ++overruns_;
                continue;
            }
            return; // EAGAIN
        }
        if (from.nl_pid != 0) {
            ++foreign_;
            continue;
        }
        fn(Bytes(buf_.data(), static_cast<std::size_t>(n)));
    }
}

void ConntrackSocket::drain(const std::function<void(Bytes)> &fn) {
    drain_one(events_, fn);
    drain_one(requests_, fn);
}

bool ConntrackSocket::send(const std::vector<std::uint8_t> &requests) {
    if (requests.empty()) return true;
    sockaddr_nl to{};
    to.nl_family = AF_NETLINK;
    const ssize_t n = sendto(requests_, requests.data(), requests.size(), 0,
                             reinterpret_cast<sockaddr *>(&to), sizeof to);
    return n == static_cast<ssize_t>(requests.size());
}

std::optional<bool> ConntrackSocket::accounting_on() {
    std::ifstream f("/proc/sys/net/netfilter/nf_conntrack_acct");
    int v = 0;
    if (!(f >> v)) return std::nullopt;
    return v != 0;
}

} // namespace netlog::io
