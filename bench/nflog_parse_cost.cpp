// Instructions per NFLOG packet message: netlog's parser vs libnetfilter_log's
// nflog_nlmsg_parse (libmnl) filling the same NflogMessage. Input: the real batches of
// tests/data/nflog-mixed.batches, walked `rounds` times. Build and measure (BENCHMARKS.md):
//   g++ -O2 -std=c++20 -Iinclude bench/nflog_parse_cost.cpp build/src/core/libnetlog.a \
//       -lnetfilter_log -lmnl -lfmt -lyaml-cpp -o /tmp/nflog_parse_cost
//   valgrind --tool=callgrind /tmp/nflog_parse_cost tests/data/nflog-mixed.batches netlog|libnfl ROUNDS
// instructions/message = (total at 1000 rounds - total at 100 rounds) / (900 * 52)
#include <netlog/nflog.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_log/libnetfilter_log.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <arpa/inet.h>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>
using namespace netlog;
static std::vector<std::vector<uint8_t>> batches(const char *path) {
    std::ifstream f(path, std::ios::binary);
    std::vector<uint8_t> all((std::istreambuf_iterator<char>(f)), {});
    std::vector<std::vector<uint8_t>> out;
    size_t off = 0;
    while (off + 4 <= all.size()) {
        uint32_t n;
        std::memcpy(&n, &all[off], 4);
        off += 4;
        out.emplace_back(all.begin() + off, all.begin() + off + n);
        off += n;
    }
    return out;
}
__attribute__((noinline)) size_t with_netlog(const std::vector<uint8_t> &b, uint64_t &sink) {
    auto r = nflog_parse_batch(Bytes(b.data(), b.size()), [&](const NflogMessage &m) {
        sink += m.payload.size() + m.prefix.size() + m.indev;
    });
    return r.packets;
}
__attribute__((noinline)) size_t with_libnfl(const std::vector<uint8_t> &b, uint64_t &sink) {
    size_t n = 0;
    int len = static_cast<int>(b.size());
    const nlmsghdr *h = reinterpret_cast<const nlmsghdr *>(b.data());
    for (; mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
        if ((h->nlmsg_type & 0xff) != NFULNL_MSG_PACKET || (h->nlmsg_type >> 8) != NFNL_SUBSYS_ULOG)
            continue;
        nlattr *a[NFULA_MAX + 1] = {};
        if (nflog_nlmsg_parse(h, a) < 0) continue;
        NflogMessage m;
        const nfgenmsg *g = static_cast<const nfgenmsg *>(mnl_nlmsg_get_payload(h));
        m.family = g->nfgen_family;
        m.group = ntohs(g->res_id);
        if (a[NFULA_PACKET_HDR]) {
            auto *ph = static_cast<const nfulnl_msg_packet_hdr *>(
                mnl_attr_get_payload(a[NFULA_PACKET_HDR]));
            m.hw_protocol = ntohs(ph->hw_protocol);
            m.hook = ph->hook;
            m.has_packet_hdr = true;
        }
        if (a[NFULA_MARK]) m.mark = ntohl(mnl_attr_get_u32(a[NFULA_MARK]));
        if (a[NFULA_TIMESTAMP]) {
            auto *ts = static_cast<const nfulnl_msg_packet_timestamp *>(
                mnl_attr_get_payload(a[NFULA_TIMESTAMP]));
            m.timestamp = Timestamp{static_cast<int64_t>(be64toh(ts->sec)),
                                    static_cast<uint32_t>(be64toh(ts->usec) * 1000)};
        }
        if (a[NFULA_IFINDEX_INDEV]) m.indev = ntohl(mnl_attr_get_u32(a[NFULA_IFINDEX_INDEV]));
        if (a[NFULA_IFINDEX_OUTDEV]) m.outdev = ntohl(mnl_attr_get_u32(a[NFULA_IFINDEX_OUTDEV]));
        if (a[NFULA_IFINDEX_PHYSINDEV])
            m.physindev = ntohl(mnl_attr_get_u32(a[NFULA_IFINDEX_PHYSINDEV]));
        if (a[NFULA_IFINDEX_PHYSOUTDEV])
            m.physoutdev = ntohl(mnl_attr_get_u32(a[NFULA_IFINDEX_PHYSOUTDEV]));
        if (a[NFULA_HWADDR]) {
            auto *hw =
                static_cast<const nfulnl_msg_packet_hw *>(mnl_attr_get_payload(a[NFULA_HWADDR]));
            m.hwaddr = Bytes(hw->hw_addr, ntohs(hw->hw_addrlen));
        }
        if (a[NFULA_HWTYPE]) m.hwtype = ntohs(mnl_attr_get_u16(a[NFULA_HWTYPE]));
        if (a[NFULA_HWHEADER])
            m.hwheader =
                Bytes(static_cast<const uint8_t *>(mnl_attr_get_payload(a[NFULA_HWHEADER])),
                      mnl_attr_get_payload_len(a[NFULA_HWHEADER]));
        if (a[NFULA_PAYLOAD])
            m.payload = Bytes(static_cast<const uint8_t *>(mnl_attr_get_payload(a[NFULA_PAYLOAD])),
                              mnl_attr_get_payload_len(a[NFULA_PAYLOAD]));
        if (a[NFULA_PREFIX]) {
            const char *p = mnl_attr_get_str(a[NFULA_PREFIX]);
            m.prefix = std::string_view(p, strnlen(p, mnl_attr_get_payload_len(a[NFULA_PREFIX])));
        }
        if (a[NFULA_UID]) m.uid = ntohl(mnl_attr_get_u32(a[NFULA_UID]));
        if (a[NFULA_GID]) m.gid = ntohl(mnl_attr_get_u32(a[NFULA_GID]));
        if (a[NFULA_SEQ]) m.seq = ntohl(mnl_attr_get_u32(a[NFULA_SEQ]));
        if (a[NFULA_SEQ_GLOBAL]) m.seq_global = ntohl(mnl_attr_get_u32(a[NFULA_SEQ_GLOBAL]));
        sink += m.payload.size() + m.prefix.size() + m.indev;
        ++n;
    }
    return n;
}
int main(int argc, char **argv) {
    auto bs = batches(argv[1]);
    const bool lib = std::string(argv[2]) == "libnfl";
    const int rounds = std::stoi(argv[3]);
    uint64_t sink = 0;
    size_t n = 0;
    for (int r = 0; r < rounds; ++r)
        for (auto &b : bs) n += lib ? with_libnfl(b, sink) : with_netlog(b, sink);
    std::printf("%s messages=%zu sink=%llu\n", argv[2], n, (unsigned long long)sink);
}
