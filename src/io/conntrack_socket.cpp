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

Result<base::UniqueFd> open_netlink(std::uint32_t groups) {
    base::UniqueFd fd(
        socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER));
    if (!fd) return make_error(fmt::format("socket(NETLINK_NETFILTER): {}", std::strerror(errno)));
    sockaddr_nl a{};
    a.nl_family = AF_NETLINK;
    a.nl_groups = groups;
    if (bind(fd.get(), reinterpret_cast<sockaddr *>(&a), sizeof a) != 0)
        return make_error(fmt::format("binding the conntrack event groups: {}{}",
                                      std::strerror(errno),
                                      errno == EPERM ? " (needs CAP_NET_ADMIN)" : ""));
    return fd;
}

} // namespace

Result<std::unique_ptr<ConntrackSocket>> ConntrackSocket::open(std::uint32_t buffer) {
    std::unique_ptr<ConntrackSocket> s(new ConntrackSocket());
    // NFNLGRP_CONNTRACK_NEW = 1, _UPDATE = 2, _DESTROY = 3: bits 0..2.
    auto events =
        open_netlink((1u << (NFNLGRP_CONNTRACK_NEW - 1)) | (1u << (NFNLGRP_CONNTRACK_UPDATE - 1)) |
                     (1u << (NFNLGRP_CONNTRACK_DESTROY - 1)));
    if (!events)
        return make_error(
            fmt::format("connections: {} (is nf_conntrack loaded?)", events.error().message));
    s->events_ = std::move(*events);
    int want = static_cast<int>(buffer);
    if (setsockopt(s->events_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
        setsockopt(s->events_.get(), SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
    auto requests = open_netlink(0);
    if (!requests) return make_error(fmt::format("connections: {}", requests.error().message));
    s->requests_ = std::move(*requests);
    s->buf_.resize(64 * 1024);
    return s;
}

ConntrackSocket::~ConntrackSocket() = default;

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
    drain_one(events_.get(), fn);
    drain_one(requests_.get(), fn);
}

bool ConntrackSocket::send(const std::vector<std::uint8_t> &requests) {
    if (requests.empty()) return true;
    sockaddr_nl to{};
    to.nl_family = AF_NETLINK;
    const ssize_t n = sendto(requests_.get(), requests.data(), requests.size(), 0,
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
