// NFLOG over libmnl: bind and configure groups, drain with recvmmsg, count what the kernel
// could not deliver (sequence gaps, ENOBUFS).
#include "poller.h"
#include "nflog_socket.h"
#include "clock.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_log/libnetfilter_log.h>
#include <linux/capability.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace netlog::io {

namespace {

constexpr unsigned max_slots = 64;

bool has_net_admin() {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capget, &hdr, data) != 0) return geteuid() == 0;
    return (data[CAP_NET_ADMIN / 32].effective & (1u << (CAP_NET_ADMIN % 32))) != 0;
}

std::size_t count_messages(const std::uint8_t *data, std::size_t len) {
    const auto *m = reinterpret_cast<const nlmsghdr *>(data);
    int left = static_cast<int>(len);
    std::size_t n = 0;
    for (; mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left)) ++n;
    return std::max<std::size_t>(n, 1);
}

} // namespace

NflogSocket::~NflogSocket() {
    // Closing the socket releases our instances (groups); the protocol family's system
    // logger is never touched (no NFULNL_CFG_CMD_PF_UNBIND, ever).
    if (nl_) mnl_socket_close(nl_);
}

int NflogSocket::fd() const {
    return mnl_socket_get_fd(nl_);
}

Result<std::unique_ptr<NflogSocket>> NflogSocket::open(const NflogSocketOptions &o) {
    std::unique_ptr<NflogSocket> s(new NflogSocket());
    s->nl_ = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (!s->nl_)
        return make_error(
            fmt::format("cannot open a netfilter netlink socket: {}", std::strerror(errno)));
    if (mnl_socket_bind(s->nl_, 0, MNL_SOCKET_AUTOPID) < 0)
        return make_error(fmt::format("cannot bind the netlink socket: {}", std::strerror(errno)));

    const int fd = s->fd();
    int want = static_cast<int>(o.config.socket_buffer);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want); // capped by rmem_max
    int got = 0;
    socklen_t len = sizeof got;
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
    s->rcvbuf_ = got;

    // A receive slot must hold the largest datagram the kernel builds: its batch buffer
    // (nlbufsiz, rounded up by the allocator) or one message bigger than that.
    const std::size_t nlbuf = o.config.netlink_buffer ? o.config.netlink_buffer : 8192;
    s->slot_ = std::max<std::size_t>({16384, 2 * nlbuf, o.config.copy_range + 4096u});

    for (const auto g : o.groups) {
        if (auto st = s->configure(g, o); !st) return st.error();
        s->acct_.bind(g, base::monotonic_ns());
    }
    return s;
}

Status NflogSocket::configure(std::uint16_t group, const NflogSocketOptions &o) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    // libnetfilter_log's builders: header (NFULNL_MSG_CONFIG, nfgenmsg for the group), the
    // bind command and the copy mode; the settings it has no builder for go through libmnl.
    auto *nlh = nflog_nlmsg_put_header(buf.data(), NFULNL_MSG_CONFIG, AF_UNSPEC, group);
    nlh->nlmsg_flags |= NLM_F_ACK;
    nlh->nlmsg_seq = ++seq_;
    nflog_attr_put_cfg_cmd(nlh, NFULNL_CFG_CMD_BIND);
    nflog_attr_put_cfg_mode(nlh, NFULNL_COPY_PACKET, o.config.copy_range);
    mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(o.config.queue_threshold));
    // The kernel counts the flush timeout in 1/100 s.
    const std::uint32_t cs =
        o.config.flush_timeout_ms == 0 ? 0 : std::max(1u, o.config.flush_timeout_ms / 10);
    mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(cs));
    mnl_attr_put_u16(nlh, NFULA_CFG_FLAGS, htons(NFULNL_CFG_F_SEQ | NFULNL_CFG_F_SEQ_GLOBAL));
    if (o.config.netlink_buffer)
        mnl_attr_put_u32(nlh, NFULA_CFG_NLBUFSIZ, htonl(o.config.netlink_buffer));

    if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0)
        return make_error(fmt::format("NFLOG group {}: cannot send the bind request: {}", group,
                                      std::strerror(errno)));

    // Wait for the acknowledgement. Packets of groups bound earlier may arrive first:
    // they are kept for the first receive().
    std::vector<std::uint8_t> rx(slot_);
    for (;;) {
        const int pr = base::wait_fd(fd(), POLLIN, 5000);
        if (pr == 0)
            return make_error(fmt::format("NFLOG group {}: the kernel did not answer the bind "
                                          "request within 5 s",
                                          group));
        if (pr < 0) {
            return make_error(fmt::format("NFLOG group {}: poll: {}", group, std::strerror(errno)));
        }
        sockaddr_nl from{};
        socklen_t fromlen = sizeof from;
        const auto n =
            recvfrom(fd(), rx.data(), rx.size(), 0, reinterpret_cast<sockaddr *>(&from), &fromlen);
        if (n >= 0 && (fromlen < sizeof from || from.nl_pid != 0)) {
            c_.foreign += count_messages(rx.data(), static_cast<std::size_t>(n));
            continue; // not the kernel: neither an answer nor an event
        }
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            if (errno == ENOBUFS) {
                ++c_.enobufs;
                acct_.overrun();
                continue;
            }
            return make_error(fmt::format("NFLOG group {}: recv: {}", group, std::strerror(errno)));
        }
        const auto *m = reinterpret_cast<const nlmsghdr *>(rx.data());
        int len = static_cast<int>(n);
        bool is_ack = false;
        int err = 0;
        for (; mnl_nlmsg_ok(m, len); m = mnl_nlmsg_next(m, &len)) {
            if (m->nlmsg_type == NLMSG_ERROR && m->nlmsg_seq == seq_) {
                const auto *e = static_cast<const nlmsgerr *>(mnl_nlmsg_get_payload(m));
                is_ack = true;
                err = -e->error;
            }
        }
        if (!is_ack) {
            pending_.emplace_back(rx.begin(), rx.begin() + n);
            continue;
        }
        if (err == 0) return {};
        if (err == EPERM && !has_net_admin())
            return make_error(fmt::format("cannot bind NFLOG group {}: netlogd needs root or "
                                          "CAP_NET_ADMIN (run it as root or grant the capability)",
                                          group));
        if (err == EPERM || err == EBUSY)
            return make_error(fmt::format("NFLOG group {} is already bound by another process "
                                          "(ulogd2?): stop it or choose another group in {}",
                                          group, o.rules_source));
        return make_error(fmt::format("cannot bind NFLOG group {}: {}", group, std::strerror(err)));
    }
}

std::size_t NflogSocket::account(const std::uint8_t *data, std::size_t len, std::uint8_t *dst,
                                 Batch &batch, std::int64_t now_ns) {
    const std::size_t kept = acct_.filter(data, len, dst, batch.events, now_ns);
    const auto &a = acct_.counters();
    c_.received = a.received;
    c_.lost_enobufs = a.lost_enobufs;
    c_.lost_gap = a.lost_gap;
    c_.other = a.other;
    c_.unbound = a.unbound;
    c_.implausible = a.implausible;
    return kept;
}

bool NflogSocket::receive(Batch &batch) {
    const auto now = base::monotonic_ns();
    while (!pending_.empty()) {
        auto &d = pending_.front();
        if (batch.capacity - batch.size < d.size()) return true;
        if (batch.empty()) batch.received = to_timestamp(base::realtime_ns());
        std::uint8_t *at = batch.buf.get() + batch.size;
        std::memcpy(at, d.data(), d.size());
        batch.size += account(at, d.size(), at, batch, now);
        ++c_.datagrams;
        pending_.erase(pending_.begin());
    }

    const std::size_t room = batch.capacity - batch.size;
    const auto slots = static_cast<unsigned>(std::min<std::size_t>(room / slot_, max_slots));
    if (slots == 0) return true;
    iovec iov[max_slots];
    mmsghdr msgs[max_slots];
    sockaddr_nl from[max_slots];
    std::uint8_t *base = batch.buf.get() + batch.size;
    for (unsigned i = 0; i < slots; ++i) {
        iov[i] = {base + i * slot_, slot_};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &from[i];
        msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    const int n = recvmmsg(fd(), msgs, slots, MSG_DONTWAIT, nullptr);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
        if (errno == EINTR) return true;
        if (errno == ENOBUFS) {
            // The kernel dropped batches for us; the sequence gap says how many events.
            ++c_.enobufs;
            acct_.overrun();
            return true;
        }
        return false;
    }
    if (n == 0) return false;
    ++c_.recv_calls;
    if (batch.empty()) batch.received = to_timestamp(base::realtime_ns());
    // Make the datagrams contiguous: one netlink stream for the pipeline.
    std::uint8_t *dst = base;
    for (int i = 0; i < n; ++i) {
        std::size_t len = msgs[i].msg_len;
        if (msgs[i].msg_hdr.msg_namelen < sizeof(sockaddr_nl) || from[i].nl_pid != 0) {
            c_.foreign += count_messages(static_cast<const std::uint8_t *>(iov[i].iov_base),
                                         std::min(len, slot_));
            continue; // another process wrote to our port id: not the kernel's account
        }
        if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
            ++c_.truncated; // its missing messages show up as a sequence gap
            len = std::min(len, slot_);
        }
        const std::uint8_t *src = static_cast<const std::uint8_t *>(iov[i].iov_base);
        // Keep whole messages only.
        const auto *m = reinterpret_cast<const nlmsghdr *>(src);
        int left = static_cast<int>(len);
        std::size_t whole = 0;
        for (; mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left))
            whole = static_cast<std::size_t>(reinterpret_cast<const std::uint8_t *>(m) - src) +
                    NLMSG_ALIGN(m->nlmsg_len);
        whole = std::min(whole, len);
        dst += account(src, whole, dst, batch, now);
        ++c_.datagrams;
    }
    batch.size = static_cast<std::size_t>(dst - batch.buf.get());
    return static_cast<unsigned>(n) == slots;
}

} // namespace netlog::io
