// The pipeline (include/netlog/pipeline.h): decode, classify, enrich, format.
//
// Packets: the IPv4 bytes of two NFLOG records captured on this machine (kernel 6.x,
// `tcpdump -i nflog:42 -w` in a namespace, iptables -j NFLOG on INPUT) from
// 10.255.15.7 to 10.255.15.13; fields as tshark dissected them:
//  - TCP SYN 43902 -> 80, IP ID 64772, DF, TTL 64, NFLOG timestamp 1795422014.046346 s
//  - UDP 40149 -> 5555, 3 bytes of payload ("hi\n"), IP ID 55231
// Containers: store.json entries in the shape of ../shared/facts/cloudfoundry.md §2.
#include <doctest/doctest.h>

#include <netlog/classes.h>
#include <netlog/container.h>
#include <netlog/pipeline.h>

#include "pipeline_fixtures.h"

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace netlog;
using netlog::test::cf_rules;
using netlog::test::tcp_syn;

namespace {

const std::vector<std::uint8_t> udp_hi = {
    0x45, 0x00, 0x00, 0x1f, 0xd7, 0xbf, 0x40, 0x00, 0x40, 0x11, 0x2e, 0xfd, 0x0a, 0xff, 0x0f, 0x07,
    0x0a, 0xff, 0x0f, 0x0d, 0x9c, 0xd5, 0x15, 0xb3, 0x00, 0x0b, 0x34, 0x2e, 0x68, 0x69, 0x0a};

const char *store_json = R"({
  "d5978989-1401-49ff-46cd-33e5": {
    "handle": "d5978989-1401-49ff-46cd-33e5", "ip": "10.255.15.13",
    "metadata": {"app_id": "bc6f229d-5e4a-4c41-a63f-e8795496c283",
                 "space_id": "b9f86312-a7d7-4bcf-b70f-a440436c210b",
                 "org_id": "604bd59e-4139-4734-a3be-4e97836eb790"}},
  "cb40f81e-52ce-41c5-7a89-f01e": {
    "handle": "cb40f81e-52ce-41c5-7a89-f01e", "ip": "10.255.15.7",
    "metadata": {"app_id": "c5836386-b934-424a-8d93-5894115b3130",
                 "space_id": "8bd0678d-c5fd-4991-8a5c-a75c75440e0b",
                 "org_id": "d95a6357-6124-48fe-80f9-c8ff6c250a6e"}},
  "e9e8959f-3828-4136-8a2b-5d1f": {
    "handle": "e9e8959f-3828-4136-8a2b-5d1f", "ip": "10.255.99.9",
    "metadata": {"app_id": "a1", "space_id": "s1", "org_id": "o1"}}
})";

const ContainerIndex &index() {
    static const ContainerIndex idx = [] {
        auto r = ContainerIndex::parse(store_json);
        REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
        return std::move(*r);
    }();
    return idx;
}

NflogMessage message(const std::vector<std::uint8_t> &payload, std::string_view prefix) {
    NflogMessage m;
    m.family = 2; // AF_INET
    m.group = 42;
    m.hw_protocol = 0x0800;
    m.has_packet_hdr = true;
    m.payload = Bytes(payload.data(), payload.size());
    m.prefix = prefix;
    return m;
}

PipelineOptions json_only() {
    PipelineOptions o;
    o.outputs.push_back(OutputSpec{});
    return o;
}

std::string line(Pipeline &p, const NflogMessage &m, Timestamp rx = {1, 0}) {
    std::vector<std::string> outs(p.outputs());
    p.process(m, rx, outs);
    return outs.empty() ? std::string() : outs[0];
}

struct FakeNames final : InterfaceNames {
    std::map<std::uint32_t, std::string> names;
    std::vector<std::uint32_t> asked;
    std::string_view name(std::uint32_t i) override {
        asked.push_back(i);
        auto it = names.find(i);
        return it == names.end() ? std::string_view{} : std::string_view(it->second);
    }
};

} // namespace

TEST_CASE("an ingress event is enriched with the destination container, found by IP") {
    Pipeline p(cf_rules(), json_only());
    p.set_containers(&index());
    auto m = message(tcp_syn, "DENY_C2C_cb40f81e-52ce-41c5-");
    m.mark = 2;
    m.timestamp = Timestamp{1795422014, 46346000};
    CHECK(line(p, m) ==
          R"({"timestamp":"1795422014.046346000","source":"network-log-forwarder",)"
          R"("message":"ingress-denied","log_level":1,"data":{"destination":{)"
          R"("container_id":"d5978989-1401-49ff-46cd-33e5",)"
          R"("app_guid":"bc6f229d-5e4a-4c41-a63f-e8795496c283",)"
          R"("space_guid":"b9f86312-a7d7-4bcf-b70f-a440436c210b",)"
          R"("organization_guid":"604bd59e-4139-4734-a3be-4e97836eb790"},)"
          R"("packet":{"src_ip":"10.255.15.7","src_port":43902,"dst_ip":"10.255.15.13",)"
          R"("dst_port":80,"protocol":"tcp","mark":"0x2"}}})"
          "\n");
    CHECK(p.counters().enriched == 1);
    CHECK(p.counters().enriched_by_prefix == 0);
}

TEST_CASE("an egress event is enriched with the source container, found by IP") {
    Pipeline p(cf_rules(), json_only());
    p.set_containers(&index());
    auto m = message(udp_hi, "OK_cb40f81e-52ce-41c5-7a89-f");
    m.timestamp = Timestamp{1795422013, 861604000};
    CHECK(line(p, m) ==
          R"({"timestamp":"1795422013.861604000","source":"network-log-forwarder",)"
          R"("message":"egress-allowed","log_level":1,"data":{"source":{)"
          R"("container_id":"cb40f81e-52ce-41c5-7a89-f01e",)"
          R"("app_guid":"c5836386-b934-424a-8d93-5894115b3130",)"
          R"("space_guid":"8bd0678d-c5fd-4991-8a5c-a75c75440e0b",)"
          R"("organization_guid":"d95a6357-6124-48fe-80f9-c8ff6c250a6e"},)"
          R"("packet":{"src_ip":"10.255.15.7","src_port":40149,"dst_ip":"10.255.15.13",)"
          R"("dst_port":5555,"protocol":"udp"}}})"
          "\n");
}

TEST_CASE("an IP missing from the store falls back to the handle in the prefix") {
    Pipeline p(cf_rules(), json_only());
    p.set_containers(&index());
    // DENY_ is egress and the source 10.255.15.7 is in the store: the IP wins over the
    // handle the prefix names.
    auto m = message(udp_hi, "DENY_e9e8959f-3828-4136-8a2b-5d1f");
    Event ev;
    REQUIRE(p.build(m, {1, 0}, ev));
    REQUIRE(ev.container);
    CHECK(ev.container->handle == "cb40f81e-52ce-41c5-7a89-f01e");

    // Ingress to 10.255.15.13, which this store does not know: the prefix's handle decides.
    auto partial = ContainerIndex::parse(R"({"e9e8959f-3828-4136-8a2b-5d1f": {
        "handle": "e9e8959f-3828-4136-8a2b-5d1f", "ip": "10.255.99.9",
        "metadata": {"app_id": "a1", "space_id": "s1", "org_id": "o1"}}})");
    REQUIRE(partial.ok());
    p.set_containers(&*partial);
    auto in = message(tcp_syn, "DENY_C2C_e9e8959f-3828-4136-8a2b-5d1f");
    REQUIRE(p.build(in, {1, 0}, ev));
    REQUIRE(ev.container);
    CHECK(ev.container->handle == "e9e8959f-3828-4136-8a2b-5d1f");
    CHECK(ev.container->app_guid == "a1");
    CHECK(p.counters().enriched_by_prefix == 1);
}

TEST_CASE("without a store, or for an unknown container, the container fields are empty") {
    Pipeline p(cf_rules(), json_only());
    auto m = message(tcp_syn, "DENY_C2C_nobody");
    const auto l = line(p, m);
    CHECK(l.find(R"("destination":{"container_id":"","app_guid":"","space_guid":"",)"
                 R"("organization_guid":""})") != std::string::npos);
    p.set_containers(&index());
    auto out = message(tcp_syn, "OK_nobody"); // egress: source 10.255.15.7 is known
    Event ev;
    REQUIRE(p.build(out, {1, 0}, ev));
    CHECK(ev.container != nullptr);
    CHECK(p.counters().enriched == 1);
}

TEST_CASE("the NFLOG timestamp is used when present, else the receive time") {
    Pipeline p(cf_rules(), json_only());
    auto m = message(tcp_syn, "DENY_C2C_x");
    Event ev;
    REQUIRE(p.build(m, Timestamp{1700000000, 123456789}, ev));
    CHECK(ev.time.sec == 1700000000);
    CHECK(ev.time.nsec == 123456789);
    CHECK(line(p, m, Timestamp{1700000000, 5}).find(R"("timestamp":"1700000000.000000005")") == 1);
    m.timestamp = Timestamp{1795422014, 46346000};
    REQUIRE(p.build(m, Timestamp{1700000000, 123456789}, ev));
    CHECK(ev.time.sec == 1795422014);
    CHECK(ev.time.nsec == 46346000);
}

TEST_CASE("classes decide message and direction; the first matching class wins") {
    Pipeline p(cf_rules(), json_only());
    Event ev;
    struct Case {
        const char *prefix;
        const char *cls;
        Direction d;
        Verdict v;
    };
    for (const auto &c : {Case{"OK_0002_e9e8959f-3828-4136-8", "c2c-ingress-allowed",
                               Direction::ingress, Verdict::allowed},
                          Case{"DENY_C2C_cb40f81e-52ce-41c5-", "c2c-ingress-denied",
                               Direction::ingress, Verdict::denied},
                          Case{"DENY_ORL_cb40f81e-52ce-41c5-", "asg-egress-denied-rate",
                               Direction::egress, Verdict::denied},
                          Case{"OK_container-handle-1-longer", "asg-egress-allowed",
                               Direction::egress, Verdict::allowed},
                          Case{"DENY_d538d169-f2f6-4587-77b1", "asg-egress-denied",
                               Direction::egress, Verdict::denied}}) {
        CAPTURE(c.prefix);
        auto m = message(tcp_syn, c.prefix);
        REQUIRE(p.build(m, {1, 0}, ev));
        REQUIRE(ev.cls);
        CHECK(ev.cls->name == c.cls);
        CHECK(ev.direction == c.d);
        CHECK(ev.verdict == c.v);
    }
    CHECK(p.counters().unclassified == 0);
    CHECK(p.classifier_cache() == 5);
}

TEST_CASE("an unclassified event is emitted with its prefix under the fallback by default") {
    Pipeline p(cf_rules(), json_only());
    auto m = message(udp_hi, "SOMETHING_ELSE");
    const auto l = line(p, m);
    CHECK(l.find(R"("message":"egress-denied")") != std::string::npos);
    CHECK(l.find(R"("prefix":"SOMETHING_ELSE")") != std::string::npos);
    CHECK(p.counters().unclassified == 1);
    CHECK(p.counters().emitted == 1);

    PipelineOptions o = json_only();
    o.unclassified.direction = Direction::ingress;
    o.unclassified.verdict = Verdict::allowed;
    Pipeline q(cf_rules(), o);
    CHECK(line(q, m).find(R"("message":"ingress-allowed")") != std::string::npos);
}

TEST_CASE("an unclassified event is counted and dropped when the policy says drop") {
    PipelineOptions o = json_only();
    o.unclassified.emit = false;
    Pipeline p(cf_rules(), o);
    auto m = message(udp_hi, "SOMETHING_ELSE");
    CHECK(line(p, m).empty());
    CHECK(p.counters().processed == 1);
    CHECK(p.counters().unclassified == 1);
    CHECK(p.counters().unclassified_dropped == 1);
    CHECK(p.counters().emitted == 0);
}

TEST_CASE("a payload that is not IP is a decode error and produces no line") {
    Pipeline p(cf_rules(), json_only());
    const std::vector<std::uint8_t> arp = {0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01};
    auto m = message(arp, "DENY_x");
    m.hw_protocol = 0x0806;
    CHECK(line(p, m).empty());
    auto empty = message({}, "DENY_x");
    CHECK(line(p, empty).empty());
    p.count_bad_message();
    const auto &c = p.counters();
    CHECK(c.processed == 3);
    CHECK(c.decode_errors == 3);
    CHECK(c.emitted == 0);
}

TEST_CASE("a header cut by the copy range is emitted as far as the bytes go; garbage is not") {
    Pipeline p(cf_rules(), json_only());
    const std::vector<std::uint8_t> cut8(udp_hi.begin(), udp_hi.begin() + 8);
    const auto l = line(p, message(cut8, "OK_x"));
    CHECK(l.find(R"("src_ip":"","dst_ip":"","protocol":"")") != std::string::npos);
    const std::vector<std::uint8_t> cut16(udp_hi.begin(), udp_hi.begin() + 16);
    CHECK(line(p, message(cut16, "OK_x")).find(R"("dst_ip":"","protocol":"udp")") !=
          std::string::npos);
    auto garbage = udp_hi;
    garbage[0] = 0x75; // IP version 7
    CHECK(line(p, message(garbage, "OK_x")).empty());
    CHECK(p.counters().emitted == 2);
    CHECK(p.counters().decode_errors == 1);
}

TEST_CASE("every processed message is emitted, a decode error or dropped as unclassified") {
    PipelineOptions o = json_only();
    o.unclassified.emit = false;
    Pipeline p(cf_rules(), o);
    const std::vector<std::uint8_t> junk = {0x00, 0x11};
    for (int i = 0; i < 10; ++i) line(p, message(tcp_syn, "OK_x"));
    for (int i = 0; i < 3; ++i) line(p, message(junk, "OK_x"));
    for (int i = 0; i < 4; ++i) line(p, message(udp_hi, "NOPE"));
    const auto &c = p.counters();
    CHECK(c.processed == 17);
    CHECK(c.emitted == 10);
    CHECK(c.decode_errors == 3);
    CHECK(c.unclassified_dropped == 4);
    CHECK(c.processed == c.emitted + c.decode_errors + c.unclassified_dropped);
}

TEST_CASE("interface names come from the lookup the io layer supplies") {
    Pipeline p(cf_rules(), json_only());
    FakeNames names;
    names.names = {{7, "s-010255015007"}, {2, "eth0"}};
    p.set_interfaces(&names);
    auto m = message(tcp_syn, "DENY_d538d169-f2f6-4587-77b1");
    m.indev = 7;
    m.outdev = 2;
    Event ev;
    REQUIRE(p.build(m, {1, 0}, ev));
    CHECK(ev.in_name == "s-010255015007");
    CHECK(ev.out_name == "eth0");
    CHECK(ev.physin_name.empty());
    CHECK(names.asked == std::vector<std::uint32_t>{7, 2}); // index 0 (absent) is never asked
}

TEST_CASE("each output gets its line in its own format and buffer") {
    PipelineOptions o;
    o.outputs.resize(2);
    o.outputs[1].format = OutputFormat::klog;
    Pipeline p(cf_rules(), o);
    FakeNames names;
    names.names = {{7, "s-010255015007"}, {2, "eth0"}};
    p.set_interfaces(&names);
    auto m = message(tcp_syn, "DENY_C2C_cb40f81e-52ce-41c5-");
    m.indev = 7;
    m.outdev = 2;
    m.mark = 2;
    std::vector<std::string> outs(2);
    REQUIRE(p.process(m, {1, 0}, outs));
    REQUIRE(p.process(m, {1, 0}, outs));
    CHECK(outs[0].find(R"({"timestamp":"1.000000000")") == 0);
    // The klog text itself is tested against the kernel elsewhere (test_klog, integration);
    // here: the right formatter got the event, with its interface names, twice.
    const auto first = outs[1].substr(0, outs[1].find('\n') + 1);
    CHECK(outs[1] == first + first); // appended, not replaced
    CHECK(first.find("DENY_C2C_cb40f81e-52ce-41c5-IN=s-010255015007 OUT=eth0 ") == 0);
    CHECK(first.find(" SRC=10.255.15.7 DST=10.255.15.13 LEN=60 ") != std::string::npos);
    CHECK(first.find(" PROTO=TCP SPT=43902 DPT=80 ") != std::string::npos);
    CHECK(first.find(" MARK=0x2") != std::string::npos);
}

TEST_CASE(
    "the options tag is split off before classes and outputs; the event carries level and flags") {
    // A companion of `-j LOG --log-prefix "DENY_C2C_cb40f81e-52ce-41c5-" --log-level 6
    // --log-tcp-sequence` (netlog-rules writes its prefix with the tag "~nl601").
    PipelineOptions o;
    OutputSpec klog, json;
    klog.format = OutputFormat::klog;
    json.json.prefix = json.json.class_name = true;
    o.outputs = {klog, json};
    Pipeline p(cf_rules(), o);
    auto m = message(tcp_syn, "DENY_C2C_cb40f81e-52ce-41c5-~nl601");
    Event ev;
    REQUIRE(p.build(m, {1, 0}, ev));
    CHECK(ev.prefix == "DENY_C2C_cb40f81e-52ce-41c5-");
    CHECK(ev.log_level == 6);
    CHECK(ev.log_flags == log_flag_tcpseq);
    REQUIRE(ev.cls);
    CHECK(ev.cls->name == "c2c-ingress-denied");
    std::vector<std::string> outs(2);
    p.process(m, {1, 0}, outs);
    CHECK(outs[0].rfind("DENY_C2C_cb40f81e-52ce-41c5-IN= OUT= SRC=10.255.15.7 ", 0) == 0);
    CHECK(outs[0].find(" SPT=43902 DPT=80 SEQ=") != std::string::npos); // the flag's text
    CHECK(outs[0].find("~nl") == std::string::npos);
    CHECK(outs[1].find(R"("class":"c2c-ingress-denied","prefix":"DENY_C2C_cb40f81e-52ce-41c5-")") !=
          std::string::npos);
    // a prefix without a tag: the LOG target's defaults
    auto plain = message(tcp_syn, "DENY_C2C_cb40f81e-52ce-41c5-");
    REQUIRE(p.build(plain, {1, 0}, ev));
    CHECK(ev.log_level == 4);
    CHECK(ev.log_flags == 0);
}

TEST_CASE("a pipeline keeps its outputs' text when the config it came from moves or goes") {
    // A reload moves the new Config into place after its pipeline was built from it; short
    // strings (an IPv4 host ip, a short source) live inside the string object and do not
    // move with it.
    auto c = config_parse("rules: r.yaml\nsource: netlog\nhost: {ip: 10.0.0.5, guid: g1}\n"
                          "outputs:\n  - {type: stdout, format: json, extras: [host]}\n",
                          "netlogd.yaml");
    REQUIRE_MESSAGE(c.ok(), (c.ok() ? std::string() : c.error().message));
    PipelineOptions o;
    o.outputs.push_back(output_spec(*c, c->outputs[0]));
    Pipeline p(test::cf_rules(), o);
    {
        Config moved = std::move(*c);
        c->source = "XXXXXX";
        c->host_ip = "XXXXXXXX";
        c->host_guid = "XX";
        moved.source = "YYYYYY";
        moved.host_ip = "YYYYYYYY";
    }
    const auto out = line(p, message(test::tcp_syn, "DENY_x"));
    CHECK(out.find(R"("source":"netlog")") != std::string::npos);
    CHECK(out.find(R"("host_ip":"10.0.0.5","host_guid":"g1")") != std::string::npos);
}
