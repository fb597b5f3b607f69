// The netlink side of the nftables backend: the generation, dumps, one-batch transactions
// and the ruleset-change notifications (NFNLGRP_NFTABLES).
#include "poller.h"
#include "nft_backend.h"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace netlog::nft {

namespace {

constexpr int rcvbuf_size = 8 << 20;
constexpr std::size_t msg_buf_size = 1 << 16; // one netlink message at most

std::string errno_text(int err) {
    if (err == EPERM || err == EACCES)
        return "permission denied: nftables rules can only be read and changed by root "
               "(CAP_NET_ADMIN); "
               "run netlog-rules as root";
    return std::strerror(err);
}

void socket_buffers(mnl_socket *nl, int size) {
    int fd = mnl_socket_get_fd(nl);
    // The *FORCE variants need CAP_NET_ADMIN; without it fall back to the capped ones.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

struct Reply {
    std::vector<std::vector<std::uint8_t>> msgs;
    int error = 0;            // errno from an NLMSG_ERROR, 0 = none
    bool interrupted = false; // NLM_F_DUMP_INTR: the ruleset changed during the dump
};

// Receive the replies to request `seq` until NLMSG_DONE or an ack/error.
Result<Reply> receive(mnl_socket *nl, std::uint32_t seq, std::uint32_t portid) {
    Reply out;
    std::vector<char> buf(msg_buf_size * 4);
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
        if (n < 0)
            return make_error(
                fmt::format("nftables: netlink receive failed: {}", errno_text(errno)));
        int len = static_cast<int>(n);
        for (auto *nlh = reinterpret_cast<const nlmsghdr *>(buf.data()); mnl_nlmsg_ok(nlh, len);
             nlh = mnl_nlmsg_next(nlh, &len)) {
            if (nlh->nlmsg_seq != seq || (nlh->nlmsg_pid && nlh->nlmsg_pid != portid))
                continue; // a stale reply to an earlier request
            if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) out.interrupted = true;
            if (nlh->nlmsg_type == NLMSG_DONE) return out;
            if (nlh->nlmsg_type == NLMSG_ERROR) {
                const auto *e = static_cast<const nlmsgerr *>(mnl_nlmsg_get_payload(nlh));
                out.error = -e->error;
                return out;
            }
            const auto *b = reinterpret_cast<const std::uint8_t *>(nlh);
            out.msgs.emplace_back(b, b + nlh->nlmsg_len);
        }
    }
}

} // namespace

Netlink::~Netlink() {
    if (nl_) mnl_socket_close(nl_);
}

Result<std::unique_ptr<Netlink>> Netlink::open() {
    std::unique_ptr<Netlink> n(new Netlink());
    n->nl_ = mnl_socket_open(NETLINK_NETFILTER);
    if (!n->nl_ || mnl_socket_bind(n->nl_, 0, MNL_SOCKET_AUTOPID) < 0)
        return make_error(
            fmt::format("nftables: cannot open a netlink socket: {}", errno_text(errno)));
    n->portid_ = mnl_socket_get_portid(n->nl_);
    int on = 1;
    mnl_socket_setsockopt(n->nl_, NETLINK_CAP_ACK, &on, sizeof on); // acks without the request
    socket_buffers(n->nl_, rcvbuf_size);
    n->seq_ = static_cast<std::uint32_t>(std::time(nullptr));
    return n;
}

Result<std::uint32_t> Netlink::generation() {
    std::vector<char> buf(msg_buf_size);
    std::uint32_t seq = ++seq_;
    nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf.data(), NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, seq);
    if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0)
        return make_error(fmt::format("nftables: netlink send failed: {}", errno_text(errno)));
    auto r = receive(nl_, seq, portid_);
    if (!r) return r.error();
    if (r->error)
        return make_error(fmt::format("nftables: cannot read the ruleset (generation): {}",
                                      errno_text(r->error)));
    for (const auto &m : r->msgs) {
        nftnl_gen *g = nftnl_gen_alloc();
        bool ok = nftnl_gen_nlmsg_parse(reinterpret_cast<const nlmsghdr *>(m.data()), g) >= 0 &&
                  nftnl_gen_is_set(g, NFTNL_GEN_ID);
        std::uint32_t id = ok ? nftnl_gen_get_u32(g, NFTNL_GEN_ID) : 0;
        nftnl_gen_free(g);
        if (ok) return id;
    }
    return make_error("nftables: the kernel sent no ruleset generation");
}

Result<std::vector<std::vector<std::uint8_t>>>
Netlink::dump(std::uint16_t msg_type, std::uint8_t nfproto,
              const std::function<void(nlmsghdr *)> &payload) {
    std::vector<char> buf(msg_buf_size);
    std::uint32_t seq = ++seq_;
    nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf.data(), msg_type, nfproto, NLM_F_DUMP, seq);
    if (payload) payload(nlh);
    if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0)
        return make_error(fmt::format("nftables: netlink send failed: {}", errno_text(errno)));
    auto r = receive(nl_, seq, portid_);
    if (!r) return r.error();
    if (r->error)
        return make_error(
            fmt::format("nftables: cannot list the ruleset: {}", errno_text(r->error)));
    if (r->interrupted) return make_error("EINTR: the ruleset changed while it was being listed");
    return std::move(r->msgs);
}

void Netlink::Batch::add(nftnl_rule *r, std::uint16_t msg_type, std::uint16_t flags,
                         std::string what_) {
    std::vector<char> tmp(msg_buf_size);
    auto family = static_cast<std::uint16_t>(nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY));
    nlmsghdr *nlh =
        nftnl_rule_nlmsg_build_hdr(tmp.data(), msg_type, family, flags | NLM_F_ACK, ++seq);
    nftnl_rule_nlmsg_build_payload(nlh, r);
    buf.insert(buf.end(), tmp.data(), tmp.data() + NLMSG_ALIGN(nlh->nlmsg_len));
    what.push_back(std::move(what_));
    step.push_back(current_step);
}

void Netlink::Batch::add_msg(std::uint16_t msg_type, std::uint16_t family, std::uint16_t flags,
                             const std::function<void(nlmsghdr *)> &payload, std::string what_,
                             std::size_t size) {
    std::vector<char> tmp(std::max(size, msg_buf_size));
    nlmsghdr *nlh = nftnl_nlmsg_build_hdr(tmp.data(), msg_type, family, flags | NLM_F_ACK, ++seq);
    payload(nlh);
    buf.insert(buf.end(), tmp.data(), tmp.data() + NLMSG_ALIGN(nlh->nlmsg_len));
    what.push_back(std::move(what_));
    step.push_back(current_step);
}

Netlink::Batch Netlink::batch_start(std::uint32_t genid) {
    Batch b;
    b.seq = ++seq_;
    std::vector<char> tmp(msg_buf_size);
    nlmsghdr *nlh = nftnl_batch_begin(tmp.data(), b.seq);
    // The kernel refuses the whole batch (ERESTART) if the ruleset moved on since `genid`.
    mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
    b.buf.assign(tmp.data(), tmp.data() + NLMSG_ALIGN(nlh->nlmsg_len));
    return b;
}

Result<Netlink::Outcome> Netlink::batch_commit(Batch &b, bool commit) {
    std::uint32_t first = b.seq - static_cast<std::uint32_t>(b.what.size()); // the BEGIN's seq
    std::vector<char> tmp(msg_buf_size);
    if (commit) {
        nlmsghdr *end = nftnl_batch_end(tmp.data(), ++b.seq);
        b.buf.insert(b.buf.end(), tmp.data(), tmp.data() + NLMSG_ALIGN(end->nlmsg_len));
    }
    seq_ = b.seq;

    int fd = mnl_socket_get_fd(nl_);
    int need = static_cast<int>(b.buf.size()) * 2 + 65536;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &need, sizeof need) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &need, sizeof need);
    if (mnl_socket_sendto(nl_, b.buf.data(), b.buf.size()) < 0)
        return make_error(fmt::format("nftables: cannot send the transaction ({} bytes): {}",
                                      b.buf.size(), errno_text(errno)));

    // The kernel processes the batch inside sendmsg: every ack is queued by now. Read
    // until each message is acknowledged or an error arrived (then drain what is left).
    Outcome out;
    std::size_t acked = 0;
    std::vector<char> buf(msg_buf_size * 4);
    for (;;) {
        // The kernel queues every ack and error inside sendmsg: once one error is in, the
        // rest is drained without waiting.
        bool done = out.error || acked >= b.what.size();
        const int ready = base::wait_fd(fd, POLLIN, done ? 0 : 2000);
        if (ready <= 0) {
            if (!done)
                return make_error("nftables: the kernel did not acknowledge the transaction");
            return out;
        }
        ssize_t n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
        if (n < 0)
            return make_error(
                fmt::format("nftables: netlink receive failed: {}", errno_text(errno)));
        int len = static_cast<int>(n);
        for (auto *nlh = reinterpret_cast<const nlmsghdr *>(buf.data()); mnl_nlmsg_ok(nlh, len);
             nlh = mnl_nlmsg_next(nlh, &len)) {
            if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_seq < first || nlh->nlmsg_seq > b.seq)
                continue;
            const auto *e = static_cast<const nlmsgerr *>(mnl_nlmsg_get_payload(nlh));
            if (e->error == 0) {
                ++acked;
                continue;
            }
            std::uint32_t i = nlh->nlmsg_seq - first;
            bool in_batch = i >= 1 && i <= b.what.size();
            int step = in_batch ? b.step[i - 1] : -1;
            if (!out.error) {
                out.error = -e->error;
                out.failed = in_batch ? b.what[i - 1] : "";
                out.step = step;
            }
            if (in_batch) out.failures.emplace_back(step, -e->error);
        }
    }
}

// ---- notifications ---------------------------------------------------------------------

Monitor::~Monitor() {
    if (nl_) mnl_socket_close(nl_);
}

Result<std::unique_ptr<Monitor>> Monitor::open() {
    std::unique_ptr<Monitor> m(new Monitor());
    m->nl_ = mnl_socket_open(NETLINK_NETFILTER);
    if (!m->nl_ || mnl_socket_bind(m->nl_, 0, MNL_SOCKET_AUTOPID) < 0)
        return make_error(
            fmt::format("nftables: cannot open a netlink socket: {}", errno_text(errno)));
    int group = NFNLGRP_NFTABLES;
    if (mnl_socket_setsockopt(m->nl_, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0)
        return make_error(
            fmt::format("nftables: cannot subscribe to ruleset changes: {}", errno_text(errno)));
    socket_buffers(m->nl_, rcvbuf_size);
    return m;
}

namespace {

struct GenInfo {
    std::uint32_t id = 0, pid = 0;
};

GenInfo gen_parse(const nlmsghdr *nlh) {
    GenInfo g;
    auto cb = [](const nlattr *attr, void *data) -> int {
        auto *gi = static_cast<GenInfo *>(data);
        if (mnl_attr_get_payload_len(attr) < 4) return MNL_CB_OK;
        if (mnl_attr_get_type(attr) == NFTA_GEN_ID)
            gi->id = ntohl(mnl_attr_get_u32(attr));
        else if (mnl_attr_get_type(attr) == NFTA_GEN_PROC_PID)
            gi->pid = ntohl(mnl_attr_get_u32(attr));
        return MNL_CB_OK;
    };
    mnl_attr_parse(nlh, sizeof(nfgenmsg), cb, &g);
    return g;
}

} // namespace

Result<bool> Monitor::wait(int timeout_ms,
                           const std::function<bool(std::uint32_t, std::uint32_t)> &is_own) {
    const auto deadline = base::monotonic_ms() + timeout_ms;
    int fd = mnl_socket_get_fd(nl_);
    std::vector<char> buf(msg_buf_size * 4);
    for (;;) {
        const auto left = std::max<std::int64_t>(deadline - base::monotonic_ms(), 0);
        const int ready = base::wait_fd(fd, POLLIN, static_cast<int>(left));
        if (ready < 0)
            return make_error(
                fmt::format("nftables: waiting for ruleset changes failed: {}", errno_text(errno)));
        if (ready == 0) return false;
        ssize_t n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0 && errno == ENOBUFS) return true; // notifications were lost: assume a change
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n < 0)
            return make_error(
                fmt::format("nftables: reading ruleset changes failed: {}", errno_text(errno)));
        bool changed = false;
        int len = static_cast<int>(n);
        for (auto *nlh = reinterpret_cast<const nlmsghdr *>(buf.data()); mnl_nlmsg_ok(nlh, len);
             nlh = mnl_nlmsg_next(nlh, &len)) {
            if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
                NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_NEWGEN)
                continue;
            GenInfo g = gen_parse(nlh);
            if (!is_own(g.id, g.pid)) changed = true;
        }
        if (changed) return true;
    }
}

Status nft_watch(const std::function<void()> &on_change, const std::atomic<bool> &stop) {
    auto m = Monitor::open();
    if (!m) return m.error();
    auto self = static_cast<std::uint32_t>(getpid());
    auto is_own = [self](std::uint32_t, std::uint32_t pid) { return pid == self; };
    while (!stop.load()) {
        auto r = (*m)->wait(200, is_own);
        if (!r) return r.error();
        if (*r) on_change();
    }
    return {};
}

} // namespace netlog::nft
