// NflogAccount: which NFLOG messages count, and the sequence gaps among them. Messages are
// built here as nfnetlink_log builds them (nlmsghdr, nfgenmsg, NFULA_SEQ), with the fields
// the account reads; the decoding of the rest is test_nflog.cpp's.
#include "nflog_account.h"

#include <doctest/doctest.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>

#include <cstring>
#include <vector>

using namespace netlog;

namespace {

constexpr std::int64_t ms = 1'000'000;

void put32be(std::vector<std::uint8_t> &b, std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

// One NFULNL_MSG_PACKET of `group` with NFULA_SEQ `seq`, appended to `out`.
void packet(std::vector<std::uint8_t> &out, std::uint16_t group, std::uint32_t seq) {
    std::vector<std::uint8_t> m(NLMSG_HDRLEN, 0);
    m.push_back(2); // AF_INET
    m.push_back(NFNETLINK_V0);
    m.push_back(static_cast<std::uint8_t>(group >> 8));
    m.push_back(static_cast<std::uint8_t>(group));
    const nlattr a{8, NFULA_SEQ};
    const auto *ap = reinterpret_cast<const std::uint8_t *>(&a);
    m.insert(m.end(), ap, ap + sizeof a);
    put32be(m, seq);
    nlmsghdr h{};
    h.nlmsg_len = static_cast<std::uint32_t>(m.size());
    h.nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
    std::memcpy(m.data(), &h, sizeof h);
    out.insert(out.end(), m.begin(), m.end());
}

struct Run {
    std::size_t kept;
    std::uint32_t events;
    std::vector<std::uint8_t> bytes;
};

Run filter(NflogAccount &a, std::vector<std::uint8_t> in, std::int64_t now) {
    Run r{0, 0, in};
    r.kept = a.filter(r.bytes.data(), r.bytes.size(), r.bytes.data(), r.events, now);
    r.bytes.resize(r.kept);
    return r;
}

} // namespace

TEST_CASE("the messages of the bound groups are kept; a missing sequence number is a lost "
          "event, after an overrun under its own reason") {
    NflogAccount a;
    a.bind(42, 0);
    a.bind(43, 0);
    std::vector<std::uint8_t> in;
    packet(in, 42, 0);
    packet(in, 43, 0);
    packet(in, 42, 3); // 1 and 2 never came
    auto r = filter(a, in, 10 * ms);
    CHECK(r.events == 3);
    CHECK(r.bytes == in);
    CHECK(a.counters().received == 3);
    CHECK(a.counters().lost_gap == 2);
    a.overrun();
    in.clear();
    packet(in, 43, 5); // 1..4 lost in the overrun
    packet(in, 42, 5); // 4 lost in the overrun
    filter(a, in, 20 * ms);
    CHECK(a.counters().lost_enobufs == 5);
    CHECK(a.counters().lost_gap == 2);
}

TEST_CASE("a message for a group not bound is dropped and counted; the messages around it "
          "are kept whole and in order") {
    NflogAccount a;
    a.bind(42, 0);
    std::vector<std::uint8_t> in, want;
    packet(in, 42, 0);
    packet(in, 7, 0);
    packet(in, 42, 1);
    packet(want, 42, 0);
    packet(want, 42, 1);
    auto r = filter(a, in, ms);
    CHECK(r.events == 2);
    CHECK(r.bytes == want);
    CHECK(a.counters().unbound == 1);
    CHECK(a.counters().received == 2);
    CHECK(a.counters().lost_gap == 0);
}

TEST_CASE("a sequence jump larger than the kernel could have logged is implausible, not lost "
          "events; the sequence goes on from it") {
    NflogAccount a;
    a.bind(42, 0);
    std::vector<std::uint8_t> in;
    packet(in, 42, 0);
    packet(in, 42, 1 + 2'147'483'563u); // what a forged message once made seq_gap
    packet(in, 42, 2 + 2'147'483'563u);
    filter(a, in, 1000 * ms);
    CHECK(a.counters().implausible == 1);
    CHECK(a.counters().lost_gap == 0);
    CHECK(a.counters().received == 3);
}

TEST_CASE("large gaps the kernel could have made count: up to 2^20 at once, more when time "
          "went by") {
    NflogAccount a;
    a.bind(42, 0);
    std::vector<std::uint8_t> in;
    packet(in, 42, 1u << 20); // 2^20 lost right after the bind
    filter(a, in, 1);
    CHECK(a.counters().lost_gap == 1u << 20);
    CHECK(a.counters().implausible == 0);
    in.clear();
    packet(in, 42, (1u << 20) + 1 + 50'000'000); // 50 M in 1 s (limit 200 M/s)
    filter(a, in, 1000 * ms + 1);
    CHECK(a.counters().lost_gap == (1u << 20) + 50'000'000);
    in.clear();
    packet(in, 42, (1u << 20) + 2 + 50'000'000 + 3'000'000); // 3 M in 1 ms: no
    filter(a, in, 1001 * ms + 1);
    CHECK(a.counters().implausible == 1);
}
