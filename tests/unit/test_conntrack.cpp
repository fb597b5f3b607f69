// ctnetlink parsing and the followed connections' table (netlog/conntrack.h).
// Fixtures: tests/data/conntrack/events.bin, the raw netlink datagrams the kernel sent to a
// conntrack event listener, and events.txt, `conntrack -E -o timestamp,extended,id`
// (conntrack-tools) of the same events; both recorded by tests/data/conntrack/capture.sh
// (Linux 6.18, see the README there). Expected values come from conntrack-tools' text.
#include "captures.h"
#include "metrics.h"

#include <doctest/doctest.h>
#include <netlog/config.h>
#include <netlog/conntrack.h>
#include <netlog/format.h>
#include <netlog/packet.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

using namespace netlog;

namespace {

// One line of conntrack-tools' text, the fields the parser must agree with.
struct Line {
    std::string type; // NEW, UPDATE, DESTROY
    int protocol = 0;
    std::optional<unsigned> timeout;
    std::string state; // TCP only
    std::string src, dst, rsrc, rdst;
    unsigned sport = 0, dport = 0, rsport = 0, rdport = 0;
    bool unreplied = false, assured = false;
    std::vector<std::uint64_t> counts; // packets, bytes (orig), packets, bytes (reply)
    std::uint32_t id = 0;
};

std::vector<Line> text_lines() {
    std::ifstream f(std::string(NETLOG_TEST_DATA) + "/conntrack/events.txt");
    REQUIRE(f);
    std::vector<Line> out;
    std::string s;
    const std::regex head(
        R"(\[(NEW|UPDATE|DESTROY)\] ipv4\s+2 \w+\s+(\d+) (\d+ )?([A-Z_]+ )?src=)");
    while (std::getline(f, s)) {
        std::smatch m;
        REQUIRE(std::regex_search(s, m, head));
        Line l;
        l.type = m[1];
        l.protocol = std::stoi(m[2]);
        if (m[3].matched) l.timeout = static_cast<unsigned>(std::stoul(m[3]));
        if (m[4].matched) l.state = std::string(m[4]).substr(0, m[4].length() - 1);
        std::vector<std::string> srcs, dsts;
        std::vector<unsigned> sports, dports;
        std::istringstream w(s.substr(static_cast<std::size_t>(m.position(0) + m.length(0)) - 4));
        std::string tok;
        while (w >> tok) {
            const auto eq = tok.find('=');
            const auto k = tok.substr(0, eq == std::string::npos ? 0 : eq);
            const auto v = eq == std::string::npos ? "" : tok.substr(eq + 1);
            if (k == "src")
                srcs.push_back(v);
            else if (k == "dst")
                dsts.push_back(v);
            else if (k == "sport")
                sports.push_back(static_cast<unsigned>(std::stoul(v)));
            else if (k == "dport")
                dports.push_back(static_cast<unsigned>(std::stoul(v)));
            else if (k == "packets" || k == "bytes")
                l.counts.push_back(std::stoull(v));
            else if (k == "id")
                l.id = static_cast<std::uint32_t>(std::stoul(v));
            else if (tok == "[UNREPLIED]")
                l.unreplied = true;
            else if (tok == "[ASSURED]")
                l.assured = true;
        }
        REQUIRE(srcs.size() == 2);
        l.src = srcs[0], l.dst = dsts[0], l.rsrc = srcs[1], l.rdst = dsts[1];
        l.sport = sports[0], l.dport = dports[0], l.rsport = sports[1], l.rdport = dports[1];
        out.push_back(l);
    }
    return out;
}

std::vector<CtMessage> bin_messages() {
    std::vector<CtMessage> out;
    for (const auto &d : test::read_batches("conntrack/events.bin")) {
        const bool ok = ct_parse_datagram(
            Bytes(d.data(), d.size()), [&](const CtMessage &m) { out.push_back(m); },
            [&](int, const CtMessage *) { FAIL("an error message among the events"); });
        REQUIRE(ok);
    }
    return out;
}

std::string ip(const IpAddress &a) {
    char b[46];
    return std::string(b, ip_to_text(a, b));
}

// The kernel's enum tcp_conntrack (linux/netfilter/nf_conntrack_tcp.h) by conntrack-tools' names.
int tcp_state(const std::string &name) {
    static const std::map<std::string, int> m = {
        {"NONE", 0},       {"SYN_SENT", 1}, {"SYN_RECV", 2},  {"ESTABLISHED", 3}, {"FIN_WAIT", 4},
        {"CLOSE_WAIT", 5}, {"LAST_ACK", 6}, {"TIME_WAIT", 7}, {"CLOSE", 8}};
    return m.at(name);
}

// The first packet of the connection with this original tuple.
Packet first_packet(const CtTuple &t) {
    Packet p;
    p.l3 = t.src.family;
    p.src = t.src;
    p.dst = t.dst;
    p.protocol = t.protocol;
    p.has_ports = p.has_transport = true;
    p.src_port = t.src_port;
    p.dst_port = t.dst_port;
    p.tcp_flags = t.protocol == 6 ? tcp_flag::syn : 0;
    return p;
}

struct Run {
    ConnectionTracker tr;
    std::vector<ConnEnd> ends;
    std::vector<std::string> bodies;
    explicit Run(ConnectionOptions o = {true, true, 64}) : tr(o) {}
    std::function<void(const ConnEnd &)> emit() {
        return [this](const ConnEnd &e) {
            ends.push_back(e);
            bodies.emplace_back(e.body);
        };
    }
};

Timestamp wall(std::int64_t s) {
    return {s, 0};
}

} // namespace

TEST_CASE("conntrack: every message the kernel sent parses as conntrack-tools reads it") {
    const auto text = text_lines();
    const auto msgs = bin_messages();
    REQUIRE(text.size() == 16);
    REQUIRE(msgs.size() == text.size());
    for (std::size_t i = 0; i < msgs.size(); ++i) {
        const auto &m = msgs[i];
        const auto &l = text[i];
        CAPTURE(i);
        CHECK(m.type == (l.type == "NEW"      ? CtType::create
                         : l.type == "UPDATE" ? CtType::update
                                              : CtType::destroy));
        REQUIRE(m.orig);
        REQUIRE(m.reply);
        CHECK(m.orig->protocol == l.protocol);
        CHECK(ip(m.orig->src) == l.src);
        CHECK(ip(m.orig->dst) == l.dst);
        CHECK(m.orig->src_port == l.sport);
        CHECK(m.orig->dst_port == l.dport);
        CHECK(ip(m.reply->src) == l.rsrc);
        CHECK(ip(m.reply->dst) == l.rdst);
        CHECK(m.reply->src_port == l.rsport);
        CHECK(m.reply->dst_port == l.rdport);
        CHECK(m.id == l.id);
        REQUIRE(m.status);
        CHECK(!(*m.status & ct_status::seen_reply) == l.unreplied);
        CHECK(!!(*m.status & ct_status::assured) == l.assured);
        if (l.timeout) CHECK(m.timeout == l.timeout);
        if (!l.state.empty()) {
            REQUIRE(m.tcp_state);
            CHECK(*m.tcp_state == tcp_state(l.state));
        }
        if (l.counts.size() == 4) {
            REQUIRE(m.orig_counters);
            REQUIRE(m.reply_counters);
            CHECK(m.orig_counters->packets == l.counts[0]);
            CHECK(m.orig_counters->bytes == l.counts[1]);
            CHECK(m.reply_counters->packets == l.counts[2]);
            CHECK(m.reply_counters->bytes == l.counts[3]);
            // nf_conntrack_timestamp=1: DESTROY carries start and stop
            REQUIRE(m.start_ns);
            REQUIRE(m.stop_ns);
            CHECK(*m.stop_ns >= *m.start_ns);
        } else {
            CHECK(!m.orig_counters);
        }
    }
}

TEST_CASE("conntrack: the recorded connections end as the kernel's signals say") {
    // capture.sh: :80 nothing listens (RST), :81 SYN dropped, :82 icmp-port-unreachable,
    // :84 established, udp :9999 nothing listens.
    const auto msgs = bin_messages();
    Run r;
    std::int64_t now = 1'000'000'000;
    std::map<unsigned, std::size_t> by_port; // dport -> index in ends
    bool followed_icmp = false;
    for (const auto &m : msgs) {
        if (m.type == CtType::create) {
            const auto p = first_packet(*m.orig);
            CHECK(r.tr.follow(p, Direction::egress, wall(10), now,
                              "body" + std::to_string(p.dst_port), 1,
                              r.emit()) == ConnectionTracker::Follow::followed);
            if (p.dst_port == 82) {
                // what an NFLOG rule would have logged: the ICMP error quoting the SYN
                std::vector<std::uint8_t> icmp(20 + 8 + 20 + 8, 0);
                icmp[0] = 0x45;
                icmp[3] = static_cast<std::uint8_t>(icmp.size());
                icmp[8] = 64;
                icmp[9] = 1;
                std::memcpy(&icmp[12], m.reply->src.bytes.data(), 4);
                std::memcpy(&icmp[16], m.orig->src.bytes.data(), 4);
                icmp[20] = 3; // destination unreachable
                icmp[21] = 3; // port unreachable
                auto *q = &icmp[28];
                q[0] = 0x45;
                q[3] = 60;
                q[8] = 64;
                q[9] = 6;
                std::memcpy(q + 12, m.orig->src.bytes.data(), 4);
                std::memcpy(q + 16, m.orig->dst.bytes.data(), 4);
                q[20] = static_cast<std::uint8_t>(m.orig->src_port >> 8);
                q[21] = static_cast<std::uint8_t>(m.orig->src_port);
                q[22] = static_cast<std::uint8_t>(m.orig->dst_port >> 8);
                q[23] = static_cast<std::uint8_t>(m.orig->dst_port);
                r.tr.icmp(packet_decode(Bytes(icmp.data(), icmp.size()), 0x0800));
                followed_icmp = true;
            }
        }
        const auto before = r.ends.size();
        r.tr.message(m, now, wall(20), r.emit());
        if (r.ends.size() > before) by_port[m.orig->dst_port] = before;
        now += 1'000'000;
    }
    CHECK(followed_icmp);
    REQUIRE(r.ends.size() == 5);
    const auto &refused = r.ends[by_port.at(80)];
    CHECK(refused.failed);
    CHECK(refused.outcome == ConnOutcome::refused);
    CHECK(r.bodies[by_port.at(80)] == "body80");
    CHECK(r.ends[by_port.at(81)].outcome == ConnOutcome::unanswered);
    CHECK(r.ends[by_port.at(82)].outcome == ConnOutcome::unreachable);
    CHECK(r.ends[by_port.at(9999)].outcome == ConnOutcome::unanswered); // no ICMP seen
    const auto &closed = r.ends[by_port.at(84)];
    CHECK(!closed.failed);
    REQUIRE(closed.orig);
    REQUIRE(closed.reply);
    // events.txt's DESTROY of :84: packets=6 bytes=323 / packets=4 bytes=222
    CHECK(closed.orig->packets == 6);
    CHECK(closed.orig->bytes == 323);
    CHECK(closed.reply->packets == 4);
    CHECK(closed.reply->bytes == 222);
    const auto &c = r.tr.counters();
    CHECK(c.followed == 5);
    CHECK(c.refused == 1);
    CHECK(c.unanswered == 2);
    CHECK(c.unreachable == 1);
    CHECK(c.closed == 1);
    CHECK(c.active == 0);
    CHECK(c.events() == 5);
    CHECK(c.holds());
}

TEST_CASE("conntrack: a DESTROY read before the NFLOG event of its SYN still ends it") {
    const auto msgs = bin_messages();
    Run r;
    const CtMessage *destroy = nullptr;
    for (const auto &m : msgs)
        if (m.type == CtType::destroy && m.orig->dst_port == 80) destroy = &m;
    REQUIRE(destroy);
    r.tr.message(*destroy, 5'000'000'000, wall(20), r.emit());
    CHECK(r.ends.empty());
    // the SYN logged before the DESTROY was read: ended at once
    CHECK(r.tr.follow(first_packet(*destroy->orig), Direction::ingress, wall(19), 5'100'000'000,
                      "b", 1, r.emit()) == ConnectionTracker::Follow::followed);
    REQUIRE(r.ends.size() == 1);
    CHECK(r.ends[0].outcome == ConnOutcome::refused);
    CHECK(r.ends[0].direction == Direction::ingress);
    // an older connection's DESTROY (before this SYN was logged) does not end a new one
    Run r2;
    r2.tr.message(*destroy, 5'000'000'000, wall(20), r2.emit());
    r2.tr.follow(first_packet(*destroy->orig), Direction::egress, wall(21), 5'100'000'000, "b", 1,
                 r2.emit());
    CHECK(r2.ends.empty());
    CHECK(r2.tr.counters().active == 1);
}

TEST_CASE("conntrack: GET requests, their answers and the entries the kernel does not have") {
    Run r;
    CtTuple t;
    t.src.family = t.dst.family = L3::ipv4;
    t.src.bytes[0] = 10, t.src.bytes[3] = 1;
    t.dst.bytes[0] = 10, t.dst.bytes[3] = 2;
    t.protocol = 6, t.src_port = 40000, t.dst_port = 443;
    r.tr.follow(first_packet(t), Direction::egress, wall(1), 0, "b", 1, r.emit());
    std::vector<std::pair<CtTuple, bool>> asked;
    const auto ask = [&](const CtTuple &k, bool by_reply) { asked.push_back({k, by_reply}); };
    r.tr.due(1'999'999'999, 16, ask);
    CHECK(asked.empty()); // the first GET 2 s after the SYN
    r.tr.due(2'000'000'000, 16, ask);
    REQUIRE(asked.size() == 1);
    CHECK(asked[0].first == t);
    CHECK(!asked[0].second);

    // The request, as the kernel quotes it back in an ENOENT error.
    std::vector<std::uint8_t> req;
    ct_build_get(t, false, 7, req);
    auto back = ct_parse_message(Bytes(req.data(), req.size()));
    REQUIRE(back.ok());
    REQUIRE(back->orig);
    CHECK(*back->orig == t);
    std::vector<std::uint8_t> err(NLMSG_HDRLEN + sizeof(int) + req.size());
    nlmsghdr h{};
    h.nlmsg_len = static_cast<std::uint32_t>(err.size());
    h.nlmsg_type = NLMSG_ERROR;
    const int e = -2; // -ENOENT
    std::memcpy(err.data(), &h, sizeof h);
    std::memcpy(err.data() + NLMSG_HDRLEN, &e, sizeof e);
    std::memcpy(err.data() + NLMSG_HDRLEN + sizeof e, req.data(), req.size());
    int code = 0;
    const auto enoent = [&](std::int64_t now) {
        CHECK(ct_parse_datagram(
            Bytes(err.data(), err.size()), [](const CtMessage &) { FAIL("not a message"); },
            [&](int c, const CtMessage *q) {
                code = c;
                REQUIRE(q);
                r.tr.probe_failed(*q, now);
            }));
    };
    enoent(2'100'000'000);
    CHECK(code == -2); // -ENOENT
    asked.clear();
    r.tr.due(3'100'000'000, 16, ask); // again 1 s later: the packet's tuple as the reply's inverse
    REQUIRE(asked.size() == 1);
    CHECK(asked[0].second);
    CHECK(asked[0].first == t.inverted());
    enoent(3'200'000'000);
    enoent(4'300'000'000);
    CHECK(r.tr.counters().active == 1);
    enoent(5'400'000'000); // the fourth: the kernel has no such entry, no DESTROY came
    CHECK(r.tr.counters().lost == 1);
    CHECK(r.tr.counters().active == 0);
    CHECK(r.tr.counters().holds());
    CHECK(r.ends.empty());
}

TEST_CASE("conntrack: the table is bounded; what does not fit is counted") {
    Run r({true, false, 2});
    CtTuple t;
    t.src.family = t.dst.family = L3::ipv4;
    t.protocol = 17;
    for (std::uint16_t port = 1; port <= 5; ++port) {
        t.src_port = port;
        r.tr.follow(first_packet(t), Direction::egress, wall(1), 0, "b", 1, r.emit());
    }
    t.src_port = 1; // its first packet again: already followed
    CHECK(r.tr.follow(first_packet(t), Direction::egress, wall(1), 0, "b", 1, r.emit()) ==
          ConnectionTracker::Follow::already);
    CHECK(r.tr.counters().followed == 2);
    CHECK(r.tr.counters().untracked == 3);
    CHECK(r.tr.size() == 2);
    CHECK(r.tr.counters().holds());
}

TEST_CASE("conntrack: a connection's first packet") {
    Packet p;
    p.has_ports = p.has_transport = true;
    p.protocol = 6;
    p.tcp_flags = tcp_flag::syn;
    CHECK(ConnectionTracker::starts_connection(p));
    p.tcp_flags = tcp_flag::syn | tcp_flag::ack;
    CHECK(!ConnectionTracker::starts_connection(p));
    p.tcp_flags = tcp_flag::ack;
    CHECK(!ConnectionTracker::starts_connection(p));
    p.protocol = 17;
    CHECK(ConnectionTracker::starts_connection(p));
    p.protocol = 1;
    CHECK(!ConnectionTracker::starts_connection(p));
}

TEST_CASE("conntrack: a connection's line") {
    ConnEnd e;
    e.failed = true;
    e.outcome = ConnOutcome::refused;
    e.direction = Direction::egress;
    e.time = {1700000000, 123456789};
    e.duration_ms = 12;
    const std::string body =
        R"({"container_id":"","app_guid":"","space_guid":"","organization_guid":""},"packet":{"src_ip":"10.0.0.1"})";
    e.body = body;
    JsonOptions o;
    json_prepare(o);
    std::string out;
    format_json_connection(e, o, out);
    CHECK(
        out ==
        R"({"timestamp":"1700000000.123456789","source":"network-log-forwarder","message":"egress-failed","log_level":1,"data":{"source":)" +
            body + R"(,"connection":{"outcome":"refused","duration_ms":12}}})" + "\n");
    e.failed = false;
    e.direction = Direction::ingress;
    e.orig = CtMessage::Counters{6, 323};
    e.reply = CtMessage::Counters{4, 222};
    out.clear();
    format_json_connection(e, o, out);
    CHECK(out.find(R"("message":"ingress-closed","log_level":1,"data":{"destination":)") !=
          std::string::npos);
    CHECK(
        out.find(
            R"("connection":{"duration_ms":12,"orig_packets":6,"orig_bytes":323,"reply_packets":4,"reply_bytes":222}}})") !=
        std::string::npos);
}

TEST_CASE("config: connections") {
    auto c = config_parse("rules: r.yaml\noutputs: [{type: stdout}]\n"
                          "connections: {outcomes: true, max_tracked: 10}\n",
                          "n.yaml");
    REQUIRE(c.ok());
    CHECK(c->connections.outcomes);
    CHECK(!c->connections.flow_end);
    CHECK(c->connections.max_tracked == 10);
    CHECK(c->connections.enabled());
    auto d = config_parse("rules: r.yaml\noutputs: [{type: stdout}]\n", "n.yaml");
    REQUIRE(d.ok());
    CHECK(!d->connections.enabled());
    auto bad = config_parse("rules: r.yaml\noutputs: [{type: stdout}]\n"
                            "connections:\n  outcomes: yes please\n",
                            "n.yaml");
    REQUIRE(!bad.ok());
    CHECK(bad.error().message.find("n.yaml:4:") == 0);
    CHECK(bad.error().message.find("connections.outcomes") != std::string::npos);
    auto unknown = config_parse("rules: r.yaml\noutputs: [{type: stdout}]\n"
                                "connections: {outcome: true}\n",
                                "n.yaml");
    REQUIRE(!unknown.ok());
    CHECK(unknown.error().message.find("n.yaml:3:") == 0);
    CHECK(unknown.error().message.find("unknown key") != std::string::npos);
    auto zero = config_parse("rules: r.yaml\noutputs: [{type: stdout}]\n"
                             "connections: {outcomes: true, max_tracked: 0}\n",
                             "n.yaml");
    REQUIRE(!zero.ok());
}

TEST_CASE("metrics: the connections' counters render and parse back") {
    MetricsSnapshot m;
    m.connections_enabled = true;
    auto &c = m.connections;
    c.followed = 9, c.untracked = 2, c.refused = 1, c.unanswered = 2, c.unreachable = 1;
    c.closed = 1, c.quiet = 1, c.lost = 1, c.active = 2, c.messages = 40, c.bad_messages = 1;
    m.conntrack_overruns = 3;
    const auto text = metrics_render(m);
    CHECK(text.find("netlog_connections_ended_total{result=\"unreachable\"} 1\n") !=
          std::string::npos);
    const auto parsed = metrics_parse(text);
    REQUIRE_MESSAGE(parsed.ok(), (parsed.ok() ? std::string() : parsed.error().message));
    const MetricsSnapshot back = *parsed;
    CHECK(back.connections_enabled);
    CHECK(back.connections == m.connections);
    CHECK(back.connections.holds());
    CHECK(back.conntrack_overruns == 3);
    // off: none of it is rendered
    const MetricsSnapshot off;
    CHECK(metrics_render(off).find("netlog_connections") == std::string::npos);
}
