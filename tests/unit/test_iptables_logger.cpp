// Cloud Foundry iptables-logger compatibility: what the real program writes for the kernel's
// LOG line of the same packet. Golden data:
// (1) the sample JSON of ../shared/facts/cloudfoundry.md §4 (minified, key order kept, data's
//     keys sorted as a Go map writes them), both timestamp styles; the ICMP error examples
//     of §4 (3/3 quoting UDP 53->5353, 3/1 quoting TCP 8080->41001);
// (2) tests/data/klog/kmsg_golden.json, the real kernel's /dev/kmsg text for 46 packets: the
//     packet object must hold the first SRC=/DST=/SPT=/DPT=/PROTO=/MARK=/TYPE=/CODE= of that
//     text, read by the rules of §4 (an oracle written here from §4, not from the code).
// Expected epochs of the RFC 3339 times were computed with `date -u -d ... +%s`.
#include "captures.h"

#include <doctest/doctest.h>
#include <fstream>
#include <map>
#include <netlog/format.h>
#include <netlog/nflog.h>
#include "../../src/core/kernel_line_fields.h"
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

using namespace netlog;

namespace {

std::vector<std::uint8_t> from_hex(const std::string &hex) {
    std::vector<std::uint8_t> v;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        v.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return v;
}

// An IPv4 header (no options, checksum 0: the kernel's LOG text does not print it) and its
// payload, as bytes.
std::vector<std::uint8_t> ipv4(std::array<std::uint8_t, 4> src, std::array<std::uint8_t, 4> dst,
                               std::uint8_t proto, std::vector<std::uint8_t> payload,
                               std::uint16_t id = 1, bool df = true, std::uint8_t ttl = 63) {
    const auto len = static_cast<std::uint16_t>(20 + payload.size());
    std::vector<std::uint8_t> p = {0x45,
                                   0,
                                   static_cast<std::uint8_t>(len >> 8),
                                   static_cast<std::uint8_t>(len),
                                   static_cast<std::uint8_t>(id >> 8),
                                   static_cast<std::uint8_t>(id),
                                   static_cast<std::uint8_t>(df ? 0x40 : 0),
                                   0,
                                   ttl,
                                   proto,
                                   0,
                                   0};
    p.insert(p.end(), src.begin(), src.end());
    p.insert(p.end(), dst.begin(), dst.end());
    p.insert(p.end(), payload.begin(), payload.end());
    return p;
}

std::vector<std::uint8_t> tcp_syn(std::uint16_t sport, std::uint16_t dport) {
    return {static_cast<std::uint8_t>(sport >> 8),
            static_cast<std::uint8_t>(sport),
            static_cast<std::uint8_t>(dport >> 8),
            static_cast<std::uint8_t>(dport),
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            0,
            0x50,
            0x02,
            0x72,
            0x10,
            0,
            0,
            0,
            0};
}

std::vector<std::uint8_t> udp(std::uint16_t sport, std::uint16_t dport) {
    return {static_cast<std::uint8_t>(sport >> 8),
            static_cast<std::uint8_t>(sport),
            static_cast<std::uint8_t>(dport >> 8),
            static_cast<std::uint8_t>(dport),
            0,
            8,
            0,
            0};
}

std::vector<std::uint8_t> icmp(std::uint8_t type, std::uint8_t code,
                               std::vector<std::uint8_t> rest) {
    std::vector<std::uint8_t> p = {type, code, 0, 0};
    p.insert(p.end(), rest.begin(), rest.end());
    return p;
}

std::vector<std::uint8_t> concat(std::vector<std::uint8_t> a, const std::vector<std::uint8_t> &b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

Container facts_container() {
    Container c;
    c.handle = "bfce786c-ab07-40ad-79f9-8f21";
    c.app_guid = "bc6f229d-5e4a-4c41-a63f-e8795496c283";
    c.space_guid = "b9f86312-a7d7-4bcf-b70f-a440436c210b";
    c.organization_guid = "604bd59e-4139-4734-a3be-4e97836eb790";
    return c;
}

// One logged packet: its NFLOG message (forwarded: in and out devices, Ethernet header),
// the event, the output options of the facts (host ip and guid).
struct Logged {
    std::vector<std::uint8_t> bytes, hw;
    NflogMessage msg;
    Container container = facts_container();
    Event ev;
    IptablesLoggerOptions opt;
    Logged(std::vector<std::uint8_t> packet, std::string_view prefix, std::uint32_t mark,
           Direction d, Verdict v, std::string_view in = "s-010255073003",
           std::string_view out = "eth0")
        : bytes(std::move(packet)),
          hw({0xaa, 0xaa, 0x0a, 0xff, 0x49, 0x03, 0xee, 0xee, 0x0a, 0xff, 0x49, 0x03, 0x08, 0x00}) {
        msg.family = (bytes[0] >> 4) == 6 ? 10 : 2;
        msg.has_packet_hdr = true;
        msg.hw_protocol = msg.family == 10 ? 0x86dd : 0x0800;
        if (msg.family == 10) hw[12] = 0x86, hw[13] = 0xdd;
        msg.indev = 5;
        msg.outdev = 6;
        msg.hwtype = 1;
        msg.hwheader = hw;
        msg.payload = bytes;
        msg.prefix = prefix;
        if (mark) msg.mark = mark;
        ev.msg = &msg;
        ev.prefix = prefix;
        ev.packet = packet_decode(bytes, msg.hw_protocol);
        ev.time = {1500923950, 331232071};
        ev.direction = d;
        ev.verdict = v;
        ev.container = &container;
        ev.in_name = in;
        ev.out_name = out;
        opt.host_ip = "10.0.16.15";
        opt.host_guid = "0455ec2b-11fa-41ab-9d1c-f3a575cd55ea";
    }
    std::string line() const {
        std::string out;
        format_iptables_logger(ev, opt, out);
        return out;
    }
    nlohmann::ordered_json json() const { return nlohmann::ordered_json::parse(line()); }
};

// The facts sample: egress allowed TCP 10.255.73.3:51858 -> 8.8.8.8:80, mark 0x1.
Logged facts_sample() {
    return Logged(ipv4({10, 255, 73, 3}, {8, 8, 8, 8}, 6, tcp_syn(51858, 80)),
                  "OK_bfce786c-ab07-40ad-79f9-8f21 ", 1, Direction::egress, Verdict::allowed);
}

const std::string facts_packet =
    R"("packet":{"direction":"egress","allowed":true,"src_ip":"10.255.73.3","dst_ip":"8.8.8.8","src_port":51858,"dst_port":80,"protocol":"TCP","mark":"0x1","icmp_type":0,"icmp_code":0})";
const std::string facts_container_json =
    R"({"container_id":"bfce786c-ab07-40ad-79f9-8f21","app_guid":"bc6f229d-5e4a-4c41-a63f-e8795496c283","space_guid":"b9f86312-a7d7-4bcf-b70f-a440436c210b","organization_guid":"604bd59e-4139-4734-a3be-4e97836eb790","host_ip":"10.0.16.15","host_guid":"0455ec2b-11fa-41ab-9d1c-f3a575cd55ea"})";

// §4's parser as an oracle: the kernel line split at white space, the first value of each
// KEY= kept; numbers as strconv.Atoi reads them (0 when missing or not a number).
std::map<std::string, std::string> first_values(const std::string &line) {
    std::map<std::string, std::string> kv;
    std::istringstream words(line);
    std::string w;
    while (words >> w)
        if (auto eq = w.find('='); eq != std::string::npos)
            kv.emplace(w.substr(0, eq), w.substr(eq + 1)); // emplace keeps the first
    return kv;
}

long long atoi_or_zero(const std::map<std::string, std::string> &kv, const char *key) {
    auto it = kv.find(key);
    if (it == kv.end() || it->second.empty()) return 0;
    std::size_t used = 0;
    try {
        const long long v = std::stoll(it->second, &used);
        return used == it->second.size() ? v : 0;
    } catch (...) {
        return 0;
    }
}

std::string value_or_empty(const std::map<std::string, std::string> &kv, const char *key) {
    auto it = kv.find(key);
    return it == kv.end() ? "" : it->second;
}

} // namespace

TEST_CASE("the facts sample is reproduced byte for byte in the epoch (deprecated) style") {
    Logged s = facts_sample();
    s.opt.time_style = IptablesLoggerOptions::TimeStyle::epoch;
    CHECK(
        s.line() ==
        R"({"timestamp":"1500923950.331232071","source":"cfnetworking.iptables","message":"cfnetworking.iptables.egress-allowed","log_level":1,"data":{)" +
            facts_packet + R"(,"source":)" + facts_container_json + "}}\n");
}

TEST_CASE("the rfc3339 style has the UTC time with nine decimals, level info and no log_level") {
    Logged s = facts_sample();
    s.ev.time = {1714779307, 123456789};
    CHECK(
        s.line() ==
        R"({"timestamp":"2024-05-03T23:35:07.123456789Z","level":"info","source":"cfnetworking.iptables","message":"cfnetworking.iptables.egress-allowed","data":{)" +
            facts_packet + R"(,"source":)" + facts_container_json + "}}\n");
    s.ev.time = {1500923950, 331232071};
    CHECK(s.line().rfind(R"({"timestamp":"2017-07-24T19:19:10.331232071Z","level":"info",)", 0) ==
          0);
    s.ev.time = {951782400, 0}; // a leap day
    CHECK(s.line().rfind(R"({"timestamp":"2000-02-29T00:00:00.000000000Z",)", 0) == 0);
    s.ev.time = {-1, 5};
    CHECK(s.line().rfind(R"({"timestamp":"1969-12-31T23:59:59.000000005Z",)", 0) == 0);
}

TEST_CASE("ingress: data is a Go map, so destination comes before packet, in both styles") {
    // facts §3's c2c denied SYN: 10.255.15.7:36004 -> 10.255.15.13:723, MARK=0x2, ingress.
    Logged s(ipv4({10, 255, 15, 7}, {10, 255, 15, 13}, 6, tcp_syn(36004, 723), 35889),
             "DENY_C2C_cb40f81e-52ce-41c5- ", 2, Direction::ingress, Verdict::denied,
             "s-010255015007", "s-010255015013");
    const std::string data =
        R"("data":{"destination":)" + facts_container_json +
        R"(,"packet":{"direction":"ingress","allowed":false,"src_ip":"10.255.15.7","dst_ip":"10.255.15.13","src_port":36004,"dst_port":723,"protocol":"TCP","mark":"0x2","icmp_type":0,"icmp_code":0}}})";
    s.opt.time_style = IptablesLoggerOptions::TimeStyle::epoch;
    CHECK(
        s.line() ==
        R"({"timestamp":"1500923950.331232071","source":"cfnetworking.iptables","message":"cfnetworking.iptables.ingress-denied","log_level":1,)" +
            data + "\n");
    s.opt.time_style = IptablesLoggerOptions::TimeStyle::rfc3339;
    CHECK(
        s.line() ==
        R"({"timestamp":"2017-07-24T19:19:10.331232071Z","level":"info","source":"cfnetworking.iptables","message":"cfnetworking.iptables.ingress-denied",)" +
            data + "\n");
}

TEST_CASE("an ICMP error reports the ports of the header it quotes, and the outer type and code") {
    // facts §4: ICMP 3/3 carrying UDP 53 -> 5353 gives src_port 53, dst_port 5353.
    const auto inner_udp = ipv4({10, 255, 73, 3}, {10, 0, 0, 53}, 17, udp(53, 5353), 7, false, 64);
    Logged u(ipv4({10, 255, 73, 3}, {10, 0, 0, 53}, 1, icmp(3, 3, concat({0, 0, 0, 0}, inner_udp)),
                  8, false, 64),
             "DENY_bfce786c-ab07-40ad-79f9-8f21 ", 0, Direction::egress, Verdict::denied);
    CHECK(
        u.line().find(
            R"("src_ip":"10.255.73.3","dst_ip":"10.0.0.53","src_port":53,"dst_port":5353,"protocol":"ICMP","mark":"","icmp_type":3,"icmp_code":3})") !=
        std::string::npos);
    // facts §4: ICMP 3/1 carrying TCP 8080 -> 41001 gives 8080 / 41001.
    const auto inner_tcp = ipv4({10, 255, 73, 3}, {10, 0, 0, 9}, 6, tcp_syn(8080, 41001), 9);
    Logged t(ipv4({10, 255, 73, 3}, {10, 0, 0, 9}, 1, icmp(3, 1, concat({0, 0, 0, 0}, inner_tcp)),
                  10, false, 64),
             "DENY_bfce786c-ab07-40ad-79f9-8f21 ", 1, Direction::egress, Verdict::denied);
    CHECK(
        t.line().find(
            R"("src_port":8080,"dst_port":41001,"protocol":"ICMP","mark":"0x1","icmp_type":3,"icmp_code":1})") !=
        std::string::npos);
}

TEST_CASE("every packet the real kernel logged gives the first value of each key of its line") {
    std::ifstream f(NETLOG_TEST_DATA "/klog/kmsg_golden.json");
    REQUIRE(f.good());
    std::stringstream ss;
    ss << f.rdbuf();
    const auto golden = nlohmann::json::parse(ss.str());
    REQUIRE(golden["records"].size() >= 40);
    const std::string in = golden["in"]; // outlives every event that views it
    for (const auto &r : golden["records"]) {
        const std::string name = r["name"];
        INFO(name);
        const std::string prefix = "OK_gold ";
        Logged l(from_hex(r["packet"]), prefix, r["mark"].get<std::uint32_t>(), Direction::egress,
                 Verdict::allowed, in, "");
        l.hw = from_hex(r["hwheader"]);
        l.msg.hwheader = l.hw;
        l.msg.outdev = 0;
        const auto kv = first_values(prefix + r["text"].get<std::string>());
        const auto j = l.json();
        const auto &p = j["data"]["packet"];
        CHECK(p["src_ip"] == value_or_empty(kv, "SRC"));
        CHECK(p["dst_ip"] == value_or_empty(kv, "DST"));
        CHECK(p["src_port"] == atoi_or_zero(kv, "SPT"));
        CHECK(p["dst_port"] == atoi_or_zero(kv, "DPT"));
        CHECK(p["protocol"] == value_or_empty(kv, "PROTO"));
        CHECK(p["mark"] == value_or_empty(kv, "MARK"));
        CHECK(p["icmp_type"] == atoi_or_zero(kv, "TYPE"));
        CHECK(p["icmp_code"] == atoi_or_zero(kv, "CODE"));
    }
}

TEST_CASE(
    "the kernel's own words: IPv6 uncompressed, no ports on later fragments, no PROTO past ESP") {
    std::ifstream f(NETLOG_TEST_DATA "/klog/kmsg_golden.json");
    std::stringstream ss;
    ss << f.rdbuf();
    const auto golden = nlohmann::json::parse(ss.str());
    std::map<std::string, nlohmann::ordered_json> by_name;
    for (const auto &r : golden["records"]) {
        Logged l(from_hex(r["packet"]), "OK_gold ", r["mark"].get<std::uint32_t>(),
                 Direction::egress, Verdict::allowed, "s-010255015007", "");
        l.msg.outdev = 0;
        by_name[r["name"]] = l.json()["data"]["packet"];
    }
    // the kernel prints %pI6: eight groups of four digits
    CHECK(by_name["v6_udp"]["src_ip"] == "fd00:00ff:0000:0000:0000:0000:0000:0007");
    CHECK(by_name["v6_udp"]["src_port"] == 5000);
    // the ICMPv6 error quotes UDP: its ports
    CHECK(by_name["v6_unreach"]["protocol"] == "ICMPv6");
    CHECK(by_name["v6_unreach"]["icmp_type"] == 1);
    CHECK(by_name["v6_unreach"]["src_port"] != 0);
    // "FRAG:4 PROTO=UDP": a later fragment has no SPT/DPT
    CHECK(by_name["frag1"]["src_port"] == 0);
    CHECK(by_name["frag0"]["src_port"] == 9);
    CHECK(by_name["v6frag1"]["dst_port"] == 0);
    // the kernel stops at ESP in an IPv6 header chain: no PROTO= at all
    CHECK(by_name["v6_esp"]["protocol"] == "");
    // a transport header cut short: "PROTO=TCP INCOMPLETE [10 bytes]"
    CHECK(by_name["tcp_short"]["protocol"] == "TCP");
    CHECK(by_name["tcp_short"]["dst_port"] == 0);
    // ICMP inside an ICMP error: the outer TYPE= comes first
    CHECK(by_name["icmp_redirect"]["icmp_type"] == 5);
    CHECK(by_name["icmp_redirect"]["icmp_code"] == 1);
    // other protocols: the number the kernel printed, as a string
    CHECK(by_name["gre"]["protocol"] == "47");
}

TEST_CASE("a KEY=value word in the prefix comes first, as it did in kern.log") {
    Logged s(ipv4({10, 255, 73, 3}, {8, 8, 8, 8}, 17, udp(51858, 53)), "OK_x SPT=7 DST=a<b ", 0,
             Direction::egress, Verdict::allowed);
    const auto line = s.line();
    CHECK(line.find(R"("dst_ip":"a\u003cb","src_port":7,"dst_port":53,)") != std::string::npos);
    // a prefix joined to "IN=" (no trailing space) only hides IN, which is not read
    Logged t(ipv4({10, 255, 73, 3}, {8, 8, 8, 8}, 17, udp(51858, 53)), "OK_x", 0, Direction::egress,
             Verdict::allowed);
    CHECK(t.line().find(R"("src_ip":"10.255.73.3","dst_ip":"8.8.8.8","src_port":51858,)") !=
          std::string::npos);
}

TEST_CASE("mark is an empty string when the kernel printed no MARK") {
    Logged s = facts_sample();
    s.msg.mark.reset();
    CHECK(s.line().find(R"("mark":"",)") != std::string::npos);
    s.msg.mark = 0xABC;
    CHECK(s.line().find(R"("mark":"0xabc",)") != std::string::npos);
}

TEST_CASE("an unknown container has empty strings and still the host fields") {
    Logged s = facts_sample();
    s.ev.container = nullptr;
    CHECK(
        s.line().find(
            R"("source":{"container_id":"","app_guid":"","space_guid":"","organization_guid":"","host_ip":"10.0.16.15","host_guid":"0455ec2b-11fa-41ab-9d1c-f3a575cd55ea"}}})") !=
        std::string::npos);
}

TEST_CASE("strings are escaped as Go's encoding/json escapes them") {
    Logged s = facts_sample();
    // <, >, & (json.Marshal's HTML escaping), U+2028/U+2029, control characters, and each
    // byte that does not start valid UTF-8 on its own (\xe2\x82 is two, not one).
    s.container.handle = "a\"b\n<&>\xe2\x80\xa8\xe2\x80\xa9\x01\x7f\xff\xe2\x82Z\xc3\xa9";
    s.opt.host_guid = "g\\\b\f";
    const auto line = s.line();
    CHECK(line.find(R"("container_id":"a\"b\n\u003c\u0026\u003e\u2028\u2029\u0001)"
                    "\x7f"
                    R"(\ufffd\ufffd\ufffdZ)"
                    "\xc3\xa9\"") != std::string::npos);
    CHECK(line.find(R"("host_guid":"g\\\b\f"})") != std::string::npos);
    CHECK(nlohmann::json::parse(line)["data"]["source"]["host_guid"] == "g\\\b\f");
}

TEST_CASE("the line replaces nothing before it in the buffer and leaves no kernel text behind") {
    Logged s = facts_sample();
    std::string out = "before\n";
    format_iptables_logger(s.ev, s.opt, out);
    CHECK(out.rfind("before\n{\"timestamp\":", 0) == 0);
    CHECK(out.find("IN=") == std::string::npos);
    CHECK(out.back() == '\n');
    CHECK(std::count(out.begin(), out.end(), '\n') == 2);
}

TEST_CASE("the fields known without writing the kernel's line are the ones read from it") {
    // Every real packet here, under prefixes and flags that keep the short way open and
    // that close it: the two ways must write the same line.
    std::vector<std::pair<std::vector<std::uint8_t>, std::vector<std::uint8_t>>> packets;
    for (const char *file : {"/klog/kmsg_golden.json", "/klog/kmsg_flags_golden.json"}) {
        std::ifstream f(std::string(NETLOG_TEST_DATA) + file);
        std::stringstream ss;
        ss << f.rdbuf();
        const auto golden = nlohmann::json::parse(ss.str());
        for (const auto &r : golden["records"])
            packets.emplace_back(from_hex(r["packet"]), from_hex(r["hwheader"]));
    }
    std::size_t from_nflog = 0;
    for (const char *file : {"nflog-mixed.batches", "nflog-short.batches"})
        for (const auto &batch : netlog::test::read_batches(file))
            nflog_parse_batch(batch, [&](const NflogMessage &m) {
                packets.emplace_back(
                    std::vector<std::uint8_t>(m.payload.begin(), m.payload.end()),
                    std::vector<std::uint8_t>(m.hwheader.begin(), m.hwheader.end()));
                ++from_nflog;
            });
    REQUIRE(from_nflog >= 100);
    std::size_t known = 0, total = 0;
    for (const auto &[bytes, hw] : packets)
        for (const char *prefix : {"OK_x ", "DENY_C2C_x", "OK_a SPT=9 ", "OK_\xc2\xa0SRC=1 "})
            for (std::uint8_t flags : {0x00, 0x01, 0x08, 0x20, 0x2f})
                for (std::uint32_t mark : {0u, 0x2u}) {
                    Logged l(bytes, prefix, mark, Direction::egress, Verdict::denied);
                    l.hw = hw;
                    l.msg.hwheader = l.hw;
                    l.ev.log_flags = flags;
                    const std::string fast = l.line();
                    l.opt.read_kernel_line = true;
                    const std::string read = l.line();
                    INFO(prefix, " flags ", int(flags), " ", read);
                    CHECK(fast == read);
                    KernelLineFields f;
                    KernelLineBuffer buf;
                    known += kernel_line_fields_known(l.ev, f, buf);
                    ++total;
                }
    // the short way is the common one (plain prefixes, no option flags)
    CHECK(known * 5 > total);
}
