// The pipeline as netlogd and --replay run it: whole NFLOG batches (netlink messages as the
// kernel's nfnetlink_log builds them) in, lines per output and the account out. Expected
// values come from the semantics: every message ends emitted, suppressed or under exactly
// one drop reason (accounting.h); a token bucket of burst B admits B events at once and
// then one per 1/rate seconds; rsyslog's RSYSLOG_TraditionalFileFormat line head is
// "%TIMESTAMP% %HOSTNAME% kernel: " and printk's "[%5lu.%06lu] ".
//
// Packet: the real TCP SYN 10.255.15.7:43902 -> 10.255.15.13:80 (pipeline_fixtures.h).
#include <doctest/doctest.h>

#include <netlog/accounting.h>
#include <netlog/classes.h>
#include <netlog/pipeline.h>

#include "pipeline_fixtures.h"

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace netlog;
using netlog::test::cf_rules;
using netlog::test::tcp_syn;

namespace {

void attr(std::vector<std::uint8_t> &m, std::uint16_t type, const void *data, std::size_t len) {
    const nlattr a{static_cast<std::uint16_t>(NLA_HDRLEN + len), type};
    const auto *ap = reinterpret_cast<const std::uint8_t *>(&a);
    m.insert(m.end(), ap, ap + sizeof a);
    const auto *d = static_cast<const std::uint8_t *>(data);
    m.insert(m.end(), d, d + len);
    m.resize(NLMSG_ALIGN(m.size()), 0);
}

// One NFULNL_MSG_PACKET as nfnetlink_log builds it: nlmsghdr, nfgenmsg, NFULA_PACKET_HDR,
// NFULA_PREFIX (with its NUL), NFULA_PAYLOAD; appended to `batch`.
void packet(std::vector<std::uint8_t> &batch, std::string_view prefix,
            const std::vector<std::uint8_t> &payload, std::uint16_t ethertype = 0x0800) {
    std::vector<std::uint8_t> m(NLMSG_HDRLEN, 0);
    const std::uint8_t nfgen[4] = {2 /* AF_INET */, NFNETLINK_V0, 0, 42};
    m.insert(m.end(), nfgen, nfgen + 4);
    const std::uint8_t hdr[4] = {static_cast<std::uint8_t>(ethertype >> 8),
                                 static_cast<std::uint8_t>(ethertype), 1 /* LOCAL_IN */, 0};
    attr(m, NFULA_PACKET_HDR, hdr, sizeof hdr);
    std::string p(prefix);
    attr(m, NFULA_PREFIX, p.c_str(), p.size() + 1);
    attr(m, NFULA_PAYLOAD, payload.data(), payload.size());
    nlmsghdr h{};
    h.nlmsg_len = static_cast<std::uint32_t>(m.size());
    h.nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
    std::memcpy(m.data(), &h, sizeof h);
    batch.insert(batch.end(), m.begin(), m.end());
}

// A packet message whose only attribute claims more bytes than the message has.
void broken_packet(std::vector<std::uint8_t> &batch) {
    std::vector<std::uint8_t> m(NLMSG_HDRLEN, 0);
    const std::uint8_t nfgen[4] = {2, NFNETLINK_V0, 0, 42};
    m.insert(m.end(), nfgen, nfgen + 4);
    const nlattr a{200, NFULA_PAYLOAD};
    const auto *ap = reinterpret_cast<const std::uint8_t *>(&a);
    m.insert(m.end(), ap, ap + sizeof a);
    nlmsghdr h{};
    h.nlmsg_len = static_cast<std::uint32_t>(m.size());
    h.nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
    std::memcpy(m.data(), &h, sizeof h);
    batch.insert(batch.end(), m.begin(), m.end());
}

// Lines per output, with the level each was given.
struct Lines final : LineOutputs {
    explicit Lines(std::size_t n) : buf(n) {}
    std::vector<std::string> buf;
    std::vector<int> levels;
    std::string &line(std::size_t i, int level, std::string_view) override {
        if (i == 0) levels.push_back(level);
        return buf[i];
    }
    std::vector<std::string> split(std::size_t i) const {
        std::vector<std::string> out;
        std::size_t s = 0;
        for (std::size_t nl; (nl = buf[i].find('\n', s)) != std::string::npos; s = nl + 1)
            out.push_back(buf[i].substr(s, nl - s));
        return out;
    }
};

PipelineOptions json_only() {
    PipelineOptions o;
    o.outputs.push_back(OutputSpec{});
    return o;
}

// json, rate limited: `rate` events a second per container and class, bursts of `burst`.
PipelineOptions json_limited(double rate, std::uint32_t burst) {
    PipelineOptions o = json_only();
    o.rate_limit = RateLimitConfig{};
    o.rate_limit->rate = rate;
    o.rate_limit->burst = burst;
    return o;
}

constexpr std::int64_t s_ns = 1'000'000'000;

BatchTime at(std::int64_t sec) {
    return {{sec, 0}, sec * s_ns, 0};
}

Bytes bytes(const std::vector<std::uint8_t> &b) {
    return {b.data(), b.size()};
}

} // namespace

TEST_CASE("identity: every message of a batch is emitted, a decode error or dropped as "
          "unclassified, once") {
    PipelineOptions o = json_only();
    o.unclassified.emit = false;
    Pipeline p(cf_rules(), o);
    std::vector<std::uint8_t> b;
    packet(b, "DENY_C2C_a", tcp_syn);
    packet(b, "OK_1234_b", tcp_syn);
    packet(b, "DENY_ORL_c", tcp_syn);
    packet(b, "DENY_C2C_a", {0x00, 0x01, 0x08, 0x00}, 0x0806); // ARP: not IP
    packet(b, "NO_CLASS_d", tcp_syn);                          // dropped by the policy
    broken_packet(b);                                          // does not parse
    Lines out(1);
    p.process_batch(bytes(b), at(10), out);

    const Accounting a = p.accounting();
    CHECK(a.kernel_logged == 6);
    CHECK(a.emitted == 3);
    CHECK(a.suppressed == 0);
    CHECK(a.drops(DropReason::decode_error) == 2);
    CHECK(a.drops(DropReason::unclassified) == 1);
    CHECK(a.lost() == 3);
    CHECK(a.holds());
    CHECK(out.split(0).size() == 3);
}

TEST_CASE("identity: a term missing breaks it; sink drops (lines, not events) are outside") {
    Accounting a;
    a.kernel_logged = 10;
    a.emitted = 6;
    a.suppressed = 1;
    a.drops(DropReason::seq_gap) = 2;
    a.in_flight = 1;
    CHECK(a.holds());
    a.drops(DropReason::sink) = 5; // an output that lost 5 lines loses no event
    CHECK(a.holds());
    a.in_flight = 0;
    CHECK_FALSE(a.holds());
    CHECK(a.accounted() == 9);
}

TEST_CASE("rate limit: a burst passes, the rest is suppressed and summarised when the "
          "bucket admits again") {
    Pipeline p(cf_rules(), json_limited(1, 3));
    std::vector<std::uint8_t> burst;
    for (int i = 0; i < 10; ++i) packet(burst, "DENY_C2C_a", tcp_syn);
    Lines out(1);
    p.process_batch(bytes(burst), at(100), out);
    CHECK(out.split(0).size() == 3); // the burst
    CHECK(p.rate_limit_counters().suppressed_total == 7);

    // Two seconds later the bucket holds tokens again: the window of the 7 closes first.
    std::vector<std::uint8_t> one;
    packet(one, "DENY_C2C_a", tcp_syn);
    p.process_batch(bytes(one), at(102), out);
    const auto lines = out.split(0);
    REQUIRE(lines.size() == 5);
    CHECK(lines[3].find(R"("message":"ingress-denied-suppressed")") != std::string::npos);
    CHECK(lines[3].find(R"("count":7)") != std::string::npos);
    CHECK(lines[3].find(R"("ip":"10.255.15.13")") != std::string::npos); // ingress: destination
    CHECK(lines[4].find(R"("message":"ingress-denied")") != std::string::npos);
    CHECK(out.levels.back() >= 0); // an event line carries its rule's level
    CHECK(out.levels[3] == -1);    // a summary line has none

    const Accounting a = p.accounting();
    CHECK(a.kernel_logged == 11);
    CHECK(a.emitted == 4);
    CHECK(a.suppressed == 7);
    CHECK(a.holds());
    CHECK(p.rate_limit_counters().summaries == 1);
    CHECK(p.rate_limit_counters().summarised == 7);
}

TEST_CASE("rate limit: separate buckets per class; an open window is summarised at exit") {
    Pipeline p(cf_rules(), json_limited(1, 1));
    std::vector<std::uint8_t> b;
    for (int i = 0; i < 4; ++i) packet(b, "DENY_C2C_a", tcp_syn); // ingress class
    for (int i = 0; i < 4; ++i) packet(b, "DENY_x", tcp_syn);     // egress class
    Lines out(1);
    p.process_batch(bytes(b), at(50), out);
    CHECK(out.split(0).size() == 2);
    CHECK(p.rate_limit_counters().suppressed_total == 6);
    p.flush(at(50), out, true);
    const auto lines = out.split(0);
    REQUIRE(lines.size() == 4);
    int summaries = 0;
    for (const auto &l : lines)
        if (l.find(R"(-suppressed")") != std::string::npos) {
            ++summaries;
            CHECK(l.find(R"("count":3)") != std::string::npos);
        }
    CHECK(summaries == 2);
    CHECK(p.accounting().holds());
}

TEST_CASE("every output gets each event and each summary, in its own format") {
    PipelineOptions o = json_limited(1, 1);
    OutputSpec k;
    k.format = OutputFormat::klog;
    o.outputs.push_back(k);
    Pipeline p(cf_rules(), o);
    std::vector<std::uint8_t> b;
    for (int i = 0; i < 3; ++i) packet(b, "DENY_C2C_a", tcp_syn);
    Lines out(2);
    p.process_batch(bytes(b), at(7), out);
    p.flush(at(7), out, true);
    CHECK(out.split(0).size() == 2);
    REQUIRE(out.split(1).size() == 2);
    CHECK(out.split(1)[0].find("DENY_C2C_a") == 0); // the kernel's line starts with the prefix
    CHECK(out.split(1)[1].find("suppressed 2") != std::string::npos);
}

TEST_CASE("the kern.log line head takes the host name and boot time it is given") {
    PipelineOptions o;
    OutputSpec k;
    k.format = OutputFormat::klog;
    k.kernel_prefix = KernelPrefix::traditional;
    k.kernel_host = "cell-7";
    o.outputs.push_back(k);
    // 2024-05-03T23:34:07.493829Z (date -u -d @1714779247), 87921.493829 s after boot
    const std::int64_t t_ns = 1714779247LL * s_ns + 493'829'000;
    o.boot_wall_ns = t_ns - (87921LL * s_ns + 493'829'000);
    Pipeline p(cf_rules(), o);
    std::vector<std::uint8_t> b;
    packet(b, "DENY_C2C_a", tcp_syn);
    Lines out(1);
    p.process_batch(bytes(b), {{1714779247, 493'829'000}, 0, 0}, out); // no local time: UTC
    CHECK(out.buf[0].rfind("May  3 23:34:07 cell-7 kernel: [87921.493829] DENY_C2C_a", 0) == 0);

    OutputSpec s = k;
    s.kernel_prefix_short = true; // a syslog output: its server writes the rest
    PipelineOptions o2 = o;
    o2.outputs = {s};
    Pipeline q(cf_rules(), o2);
    Lines out2(1);
    q.process_batch(bytes(b), {{1714779247, 493'829'000}, 0, 0}, out2);
    CHECK(out2.buf[0].rfind("[87921.493829] DENY_C2C_a", 0) == 0);
}
