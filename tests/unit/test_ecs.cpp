// The ECS format: Filebeat's expected document for the same kernel line, absent fields,
// escaping, containers, IPv6/ICMPv6, suppression summaries.
// Filebeat's pair (tests/data/ecs/filebeat_iptables_log.json): elastic/beats
// x-pack/filebeat/module/iptables/log/test/iptables.log, first line, and its document in
// test/iptables.log-expected.json @dde7a1f9 (../shared/facts/ecs.md section 2).
#include <doctest/doctest.h>
#include <netlog/container.h>
#include <netlog/ecs.h>
#include <netlog/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace netlog;
using nlohmann::json;

namespace {

// {"a":{"b":1}} -> {"a.b": 1}; arrays stay values (as in Filebeat's expected files).
void flatten(const json &j, const std::string &prefix, std::map<std::string, json> &out) {
    if (j.is_object()) {
        for (const auto &[k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
        return;
    }
    out[prefix] = j;
}

std::map<std::string, json> flat(const std::string &line) {
    REQUIRE(!line.empty());
    REQUIRE(line.back() == '\n');
    std::map<std::string, json> m;
    flatten(json::parse(line), "", m);
    return m;
}

json load_filebeat() {
    std::ifstream f(std::string(NETLOG_TEST_DATA) + "/ecs/filebeat_iptables_log.json");
    REQUIRE(f.good());
    std::stringstream ss;
    ss << f.rdbuf();
    return json::parse(ss.str());
}

// The packet of Filebeat's line, byte for byte what the kernel printed from: IPv4 LEN=52
// TTL=115 ID=15743 DF, TCP 17805 -> 445 SYN WINDOW=8192 (12 bytes of options: LEN 52).
const std::vector<std::uint8_t> filebeat_packet = {
    0x45, 0x00, 0x00, 0x34, 0x3d, 0x7f, 0x40, 0x00, 0x73, 0x06, 0x00, 0x00, 203,
    0,    113,  36,   172,  16,   54,   114,  0x45, 0x8d, 0x01, 0xbd, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x02, 0x20, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x08, 0x01, 0x01, 0x04, 0x02};
const std::vector<std::uint8_t> filebeat_mac = {0x90, 0x10, 0x35, 0x5a, 0x1e, 0x3a, 0x90,
                                                0x10, 0x9e, 0xec, 0x2c, 0x71, 0x08, 0x00};

// What the pipeline does with an NFLOG prefix: the options tag split off onto the event.
void set_prefix(Event &ev, const NflogMessage &msg) {
    const LogOptionsView tag = prefix_tag_split(msg.prefix);
    ev.prefix = tag.prefix;
    ev.log_level = tag.level;
    ev.log_flags = tag.flags;
}

struct FilebeatEvent {
    NflogMessage msg;
    ClassDef cls;
    Event ev;
    FilebeatEvent() {
        msg.payload = Bytes(filebeat_packet.data(), filebeat_packet.size());
        msg.hw_protocol = 0x0800;
        msg.hwheader = Bytes(filebeat_mac.data(), filebeat_mac.size());
        msg.hwtype = 1;
        msg.family = 2; // AF_INET
        msg.indev = 2;  // eth0: an input device, so the kernel printed MAC=
        msg.prefix = "iptables DROP_INPUT: ";
        cls.name = "drop-input";
        ev.msg = &msg;
        set_prefix(ev, msg);
        ev.packet = packet_decode(msg.payload, msg.hw_protocol);
        ev.time = {1704685029, 0};
        ev.cls = &cls;
        ev.direction = Direction::ingress;
        ev.verdict = Verdict::denied;
        ev.in_name = "eth0";
    }
};

std::string mac_value(std::string s) { // one notation for comparing (ECS suggests RFC 7042)
    std::replace(s.begin(), s.end(), '-', ':');
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

} // namespace

TEST_CASE("ECS agrees with Filebeat's iptables module field by field for the same kernel line") {
    const auto fb = load_filebeat();
    FilebeatEvent f;
    // The same kernel line: our klog text is the part of Filebeat's line after "kernel: ".
    std::string klog;
    format_klog(f.ev, klog);
    const std::string line = fb["line"];
    CHECK(klog == line.substr(line.find("kernel: ") + 8) + "\n");

    std::string out;
    format_ecs(f.ev, {}, out);
    const auto ours = flat(out);
    std::vector<std::string> shared;
    for (const auto &[k, want] : fb["expected"].items()) {
        const auto it = ours.find(k);
        if (it == ours.end()) continue;
        shared.push_back(k);
        const auto &key = k; // clang 14 cannot capture a structured binding
        CAPTURE(key);
        if (k == "event.action") {
            // Different definitions, documented: Filebeat takes the word of the prefix
            // ("drop_input"), netlog says <direction>-<verdict> from the class.
            CHECK(it->second == "ingress-denied");
        } else if (k == "source.mac" || k == "destination.mac") {
            CHECK(mac_value(it->second.get<std::string>()) == mac_value(want.get<std::string>()));
        } else if (k == "related.ip") { // a set of addresses: order has no meaning
            auto a = it->second.get<std::vector<std::string>>(),
                 b = want.get<std::vector<std::string>>();
            std::sort(a.begin(), a.end());
            std::sort(b.begin(), b.end());
            CHECK(a == b);
        } else {
            CHECK(it->second == want);
        }
    }
    // 22 fields in common: a comparison that cannot pass by having nothing to compare
    CHECK(shared.size() >= 22);
    // Filebeat's output_device "" is absent here: a field without a value is left out
    CHECK(ours.count("iptables.output_device") == 0);
    CHECK(ours.at("observer.ingress.interface.name") == "eth0");
    CHECK(ours.at("source.mac") == "90-10-9E-EC-2C-71");
    CHECK(ours.at("destination.mac") == "90-10-35-5A-1E-3A");
    CHECK(ours.at("netlog.prefix") == "iptables DROP_INPUT: ");
    CHECK(ours.at("rule.name") == "drop-input");
    CHECK(ours.at("@timestamp") == "2024-01-08T03:37:09.000000000Z");
    CHECK(ours.at("ecs.version") == "8.17.0");
    CHECK(ours.at("event.outcome") == "failure");
    CHECK(ours.at("network.direction") == "ingress");
    CHECK(ours.at("network.iana_number") == "6");
    CHECK(ours.at("message") == "ingress-denied tcp 203.0.113.36:17805 -> 172.16.54.114:445");
}

TEST_CASE("ECS leaves out what the event does not have: no empty string, null or empty object") {
    NflogMessage msg;
    Event ev;
    ev.msg = &msg;
    set_prefix(ev, msg);
    ev.packet.l3 = L3::ipv4;
    ev.packet.src = ip_from_text("10.0.0.1");
    ev.packet.dst = ip_from_text("10.0.0.2");
    ev.packet.protocol_unknown = true; // the copy range ended before the protocol
    std::string out;
    format_ecs(ev, {}, out);
    const auto doc = json::parse(out);
    for (const char *absent :
         {"container", "cloudfoundry", "orchestrator", "observer", "netlog", "rule", "host", "log"})
        CHECK_MESSAGE(!doc.contains(absent), absent);
    CHECK(!doc["network"].contains("transport"));
    CHECK(!doc["network"].contains("iana_number"));
    CHECK(!doc["network"].contains("community_id"));
    CHECK(!doc["source"].contains("port"));
    CHECK(!doc["source"].contains("mac"));
    for (const auto &[k, v] : flat(out)) {
        const auto &key = k; // clang 14 cannot capture a structured binding
        CAPTURE(key);
        CHECK(!v.is_null());
        CHECK(!(v.is_string() && v.get<std::string>().empty()));
        CHECK(!(v.is_object() && v.empty()));
    }
}

TEST_CASE("ECS escapes every string it did not write itself") {
    // A prefix with quotes, backslashes, control bytes, a lone continuation byte and an
    // overlong form; class and container strings likewise.
    const std::string nasty = std::string("a\"b\\c\nd\x01") + "\x80" + "e\xc0\xaf" + "\xe2\x82\xac";
    NflogMessage msg;
    msg.prefix = nasty;
    msg.mark = 0x2a;
    ClassDef cls;
    cls.name = nasty;
    Container c;
    c.handle = nasty;
    c.app_guid = "app\"";
    c.space_guid = "space\\";
    c.organization_guid = "\x7f";
    Event ev;
    ev.msg = &msg;
    set_prefix(ev, msg);
    ev.cls = &cls;
    ev.container = &c;
    ev.in_name = "in\"0";
    ev.out_name = "out\t1";
    ev.packet.l3 = L3::ipv6;
    ev.packet.src = ip_from_text("2001:db8::1");
    ev.packet.dst = ip_from_text("2001:db8::2");
    ev.packet.protocol = 58;
    ev.packet.has_icmp = true;
    ev.packet.icmp_type = 128;
    ev.packet.flow_label = 0x12345;
    ev.packet.tos = 0xb8;
    std::string out;
    EcsOptions opt;
    opt.host_ip = "10.0.16.15";
    opt.host_guid = nasty;
    format_ecs(ev, opt, out);
    REQUIRE(std::count(out.begin(), out.end(), '\n') == 1); // one line: '\n' escaped
    const auto doc = json::parse(out);
    // valid UTF-8 survives, each ill-formed sequence becomes U+FFFD
    const std::string want = "a\"b\\c\nd\x01\xef\xbf\xbd"
                             "e\xef\xbf\xbd\xef\xbf\xbd\xe2\x82\xac";
    CHECK(doc["netlog"]["prefix"] == want);
    CHECK(doc["rule"]["name"] == want);
    CHECK(doc["container"]["id"] == want);
    CHECK(doc["host"]["id"] == want);
    CHECK(doc["host"]["ip"] == json::array({"10.0.16.15"}));
    CHECK(doc["cloudfoundry"]["app"]["id"] == "app\"");
    CHECK(doc["cloudfoundry"]["space"]["id"] == "space\\");
    CHECK(doc["cloudfoundry"]["org"]["id"] == "\x7f");
    CHECK(doc["orchestrator"]["type"] == "cloudfoundry");
    CHECK(doc["observer"]["ingress"]["interface"]["name"] == "in\"0");
    CHECK(doc["observer"]["egress"]["interface"]["name"] == "out\t1");
    CHECK(doc["netlog"]["mark"] == "0x2a");
    // ICMPv6 under ECS's name; Filebeat's names for the IPv6 header fields
    CHECK(doc["network"]["transport"] == "ipv6-icmp");
    CHECK(doc["network"]["type"] == "ipv6");
    CHECK(doc["network"]["iana_number"] == "58");
    CHECK(doc["network"]["community_id"] ==
          "1:u2vMS3HiWth2lIMKHB1fjELshpQ="); // Filebeat's ipv6.log
    CHECK(doc["iptables"]["flow_label"] == 0x12345);
    CHECK(doc["iptables"]["tos"] == 0xb8);
    CHECK(!doc["iptables"].contains("precedence_bits"));
    CHECK(doc["iptables"]["icmp"]["type"] == 128);
    CHECK(doc["message"] == "egress-denied icmpv6 2001:db8::1 -> 2001:db8::2");
}

TEST_CASE(
    "ECS carries the LOG rule's level from the prefix's options tag, and the prefix without it") {
    NflogMessage msg;
    msg.prefix = "DENY_x ~nl302"; // level 3 (err), flags 0x02
    Event ev;
    ev.msg = &msg;
    set_prefix(ev, msg);
    ev.packet.l3 = L3::ipv4;
    ev.packet.src = ip_from_text("10.0.0.1");
    ev.packet.dst = ip_from_text("10.0.0.2");
    ev.packet.protocol = 17;
    ev.packet.has_ports = true;
    ev.packet.has_transport = true;
    ev.packet.src_port = 40002;
    ev.packet.dst_port = 9999;
    ev.packet.udp_length = 12;
    std::string out;
    format_ecs(ev, {}, out);
    const auto doc = json::parse(out);
    CHECK(doc["log"]["level"] == "err");
    CHECK(doc["netlog"]["prefix"] == "DENY_x ");
    CHECK(doc["iptables"]["udp"]["length"] == 12);
    // the first keys as ecs-logging orders them
    CHECK(out.rfind("{\"@timestamp\":", 0) == 0);
    CHECK(out.find("\"log\":") < out.find("\"message\":"));
    CHECK(out.find("\"message\":") < out.find("\"ecs\":"));
}

// The Docker/Podman members exist once that metadata source is in: then they are set and
// checked; until then the CF fields alone are written. (Templates: a discarded branch of
// `if constexpr` may name members the type lacks only where it depends on the type.)
template <class C> bool set_engine_fields(C &c) {
    if constexpr (requires {
                      c.name;
                      c.image;
                      c.labels;
                  }) {
        c.name = "web";
        c.image = "nginx:1.25";
        c.labels = {{"com.docker.compose.project", "shop"}, {"team", "red\""}};
        return true;
    } else {
        return false;
    }
}

TEST_CASE("ECS writes a container's Docker/Podman fields when the metadata source has them") {
    Container c;
    c.handle = "3f4e1a";
    const bool engine = set_engine_fields(c);
    NflogMessage msg;
    Event ev;
    ev.msg = &msg;
    set_prefix(ev, msg);
    ev.container = &c;
    ev.packet.l3 = L3::ipv4;
    ev.packet.src = ip_from_text("172.17.0.2");
    ev.packet.dst = ip_from_text("1.1.1.1");
    ev.packet.protocol = 47;
    std::string out;
    format_ecs(ev, {}, out);
    const auto doc = json::parse(out);
    CHECK(doc["container"]["id"] == "3f4e1a");
    CHECK(!doc.contains("cloudfoundry"));
    CHECK(!doc.contains("orchestrator"));
    if (engine) {
        CHECK(doc["container"]["name"] == "web");
        CHECK(doc["container"]["image"]["name"] == "nginx:1.25");
        // dots in label keys become '_' (Beats' dedot): one keyword per label
        CHECK(doc["container"]["labels"] ==
              json({{"com_docker_compose_project", "shop"}, {"team", "red\""}}));
    } else {
        MESSAGE("Container has no Docker/Podman members yet: only container.id checked");
        CHECK(doc["container"].size() == 1);
    }
    CHECK(doc["network"]["transport"] == "gre");
    CHECK(doc.contains("iptables"));
}

TEST_CASE("ECS suppression summaries are documents of their own kind") {
    ClassDef cls;
    cls.name = "asg-egress-denied";
    Container c;
    c.handle = "h1";
    c.app_guid = "a1";
    SuppressionEvent s;
    s.cls = &cls;
    s.container = &c;
    s.ip = ip_from_text("10.255.15.7");
    s.count = 42;
    s.first = {1700000000, 5};
    s.last = {1700000001, 6};
    std::string out;
    format_suppression_ecs(s, {}, out);
    const auto doc = json::parse(out);
    CHECK(doc["event"]["action"] == "egress-denied-suppressed");
    CHECK(doc["event"]["start"] == "2023-11-14T22:13:20.000000005Z");
    CHECK(doc["event"]["end"] == "2023-11-14T22:13:21.000000006Z");
    CHECK(doc["@timestamp"] == doc["event"]["end"]);
    CHECK(doc["source"]["ip"] == "10.255.15.7");
    CHECK(doc["netlog"]["suppressed"] == 42);
    CHECK(doc["container"]["id"] == "h1");
    CHECK(doc["cloudfoundry"]["app"]["id"] == "a1");
    CHECK(doc["rule"]["name"] == "asg-egress-denied");
}

TEST_CASE("the json extra community_id comes after the other packet extras, absent without ports") {
    NflogMessage msg;
    Event ev;
    ev.msg = &msg;
    set_prefix(ev, msg);
    ev.packet.l3 = L3::ipv4;
    ev.packet.src = ip_from_text("1.2.3.4");
    ev.packet.dst = ip_from_text("5.6.7.8");
    ev.packet.protocol = 6;
    ev.packet.has_ports = true;
    ev.packet.src_port = 1122;
    ev.packet.dst_port = 3344;
    JsonOptions opt;
    opt.ttl = true;
    opt.community_id = true;
    std::string out;
    format_json(ev, opt, out);
    CHECK(out.find(R"("ttl":0,"community_id":"1:wCb3OG7yAFWelaUydu0D+125CLM="})") !=
          std::string::npos);
    ev.packet.has_ports = false; // a later fragment
    out.clear();
    format_json(ev, opt, out);
    CHECK(out.find("community_id") == std::string::npos);
}
