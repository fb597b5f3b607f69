// Which NFLOG messages count, and the sequence gaps among them.
#include "nflog_account.h"

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>

#include <algorithm>
#include <cstring>

namespace netlog {

namespace {

constexpr std::uint16_t packet_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;

std::uint16_t be16(const std::uint8_t *p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

std::uint32_t be32(const std::uint8_t *p) {
    return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

// NFULA_SEQ of a packet message whose payload (after nfgenmsg) is [a, end).
bool find_seq(const std::uint8_t *a, const std::uint8_t *end, std::uint32_t &seq) {
    while (end - a >= static_cast<std::ptrdiff_t>(sizeof(nlattr))) {
        nlattr h;
        std::memcpy(&h, a, sizeof h);
        if (h.nla_len < sizeof h || h.nla_len > end - a) return false;
        if ((h.nla_type & NLA_TYPE_MASK) == NFULA_SEQ && h.nla_len >= sizeof h + 4) {
            seq = be32(a + sizeof h);
            return true;
        }
        a += NLA_ALIGN(h.nla_len);
    }
    return false;
}

} // namespace

void NflogAccount::bind(std::uint16_t group, std::int64_t now_ns) {
    groups_.push_back({group, 0, false, now_ns});
}

void NflogAccount::overrun() {
    for (auto &g : groups_) g.after_enobufs = true;
}

std::size_t NflogAccount::filter(const std::uint8_t *data, std::size_t len, std::uint8_t *dst,
                                 std::uint32_t &events, std::int64_t now_ns) {
    std::size_t off = 0, kept = 0;
    while (len - off >= sizeof(nlmsghdr)) {
        nlmsghdr h;
        std::memcpy(&h, data + off, sizeof h);
        if (h.nlmsg_len < sizeof h || h.nlmsg_len > len - off) break;
        const std::uint8_t *at = data + off;
        const std::size_t size = std::min<std::size_t>(NLMSG_ALIGN(h.nlmsg_len), len - off);
        off += size;
        const auto keep = [&] {
            if (dst + kept != at) std::memmove(dst + kept, at, size);
            kept += size;
        };
        if (h.nlmsg_type != packet_type) {
            ++c_.other;
            keep();
            continue;
        }
        if (h.nlmsg_len < NLMSG_HDRLEN + sizeof(nfgenmsg)) { // a decode error, later
            ++c_.received;
            ++events;
            keep();
            continue;
        }
        const std::uint8_t *nfg = at + NLMSG_HDRLEN;
        const std::uint16_t group = be16(nfg + offsetof(nfgenmsg, res_id));
        auto it = std::find_if(groups_.begin(), groups_.end(),
                               [group](const Group &g) { return g.group == group; });
        if (it == groups_.end()) {
            ++c_.unbound; // the kernel sends only the groups bound
            continue;
        }
        ++c_.received;
        ++events;
        keep();
        std::uint32_t seq = 0;
        if (!find_seq(nfg + NLMSG_ALIGN(sizeof(nfgenmsg)), at + h.nlmsg_len, seq)) continue;
        const std::uint32_t gap = seq - it->next; // modulo 2^32; >= 2^31: went back, ignored
        if (gap != 0 && gap < 0x80000000u) {
            const double since_s = static_cast<double>(now_ns - it->last_ns) / 1e9;
            if (static_cast<double>(gap) > std::max(min_plausible_gap, since_s * max_log_rate)) {
                ++c_.implausible;
            } else {
                // After an overrun the socket reports ENOBUFS before the datagrams queued
                // ahead of the dropped ones: the flag stays until the gap it explains.
                (it->after_enobufs ? c_.lost_enobufs : c_.lost_gap) += gap;
                it->after_enobufs = false;
            }
        }
        it->next = seq + 1;
        it->last_ns = now_ns;
    }
    return kept;
}

} // namespace netlog
