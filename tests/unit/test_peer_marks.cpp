// The policy agent's mark -> app map (netlog/peer_marks.h) and the json extra `peer`.
// Fixture: tests/data/rulesets/cf-policy-marks.iptables-save, what the real
// iptables-legacy-save v1.8.9 printed after cf-policy-marks.rules (the policy agent's
// argument lists from ../shared/facts/cloudfoundry.md §6, in its order, plus a negated
// mark, a partial mask and a connmark that name no app) was loaded into a fresh namespace.
// The packet: pipeline_fixtures.h's real TCP SYN 10.255.15.7:43902 -> 10.255.15.13:80.
#include <doctest/doctest.h>

#include <netlog/classes.h>
#include <netlog/container.h>
#include "iptables_save.h"
#include "pipeline_fixtures.h"
#include <netlog/peer_marks.h>
#include <netlog/pipeline.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace netlog;
using netlog::test::cf_rules;
using netlog::test::tcp_syn;

namespace {

std::string read_file(const std::string &path) {
    std::ifstream f(path);
    REQUIRE_MESSAGE(f.good(), "missing " << path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

Ruleset fixture() {
    auto rs = iptables_save_parse(
        read_file(std::string(NETLOG_TEST_DATA) + "/rulesets/cf-policy-marks.iptables-save"),
        Family::ipv4);
    REQUIRE_MESSAGE(rs.ok(), (rs.ok() ? "" : rs.error().message));
    return *rs;
}

constexpr std::string_view app_a = "c5836386-b934-424a-8d93-5894115b3130"; // source, tag 0x4
constexpr std::string_view app_b = "bc6f229d-5e4a-4c41-a63f-e8795496c283"; // destination
constexpr std::string_view app_c = "7f1e2d3c-0000-4aaa-8bbb-123456789abc"; // source, tag 0x7

// The destination .13 on this cell; the source .7 only in `with_source`.
std::string store(bool with_source) {
    std::string s = R"({"d5978989-1401-49ff-46cd-33e5": {"handle": "d5978989-1401-49ff-46cd-33e5",
        "ip": "10.255.15.13", "metadata": {"app_id": "bc6f229d-5e4a-4c41-a63f-e8795496c283",
        "space_id": "b9f86312-a7d7-4bcf-b70f-a440436c210b",
        "org_id": "604bd59e-4139-4734-a3be-4e97836eb790"}})";
    if (with_source)
        s += R"(, "cb40f81e-52ce-41c5-7a89-f01e": {"handle": "cb40f81e-52ce-41c5-7a89-f01e",
        "ip": "10.255.15.7", "metadata": {"app_id": "c5836386-b934-424a-8d93-5894115b3130",
        "space_id": "8bd0678d-c5fd-4991-8a5c-a75c75440e0b",
        "org_id": "d95a6357-6124-48fe-80f9-c8ff6c250a6e"}})";
    return s + "}";
}

ContainerIndex index_of(bool with_source) {
    auto r = ContainerIndex::parse(store(with_source));
    REQUIRE(r.ok());
    return std::move(*r);
}

NflogMessage message(std::string_view prefix, std::optional<std::uint32_t> mark) {
    NflogMessage m;
    m.family = 2;
    m.group = 42;
    m.hw_protocol = 0x0800;
    m.has_packet_hdr = true;
    m.payload = Bytes(tcp_syn.data(), tcp_syn.size());
    m.prefix = prefix;
    m.mark = mark;
    m.timestamp = Timestamp{1795422014, 46346000};
    return m;
}

std::string line(Pipeline &p, const NflogMessage &m) {
    std::vector<std::string> outs(p.outputs());
    p.process(m, {1, 0}, outs);
    return outs.empty() ? std::string() : outs[0];
}

Pipeline json_pipeline(bool peer) {
    PipelineOptions o;
    OutputSpec s;
    s.json.peer = peer;
    o.outputs.push_back(s);
    return Pipeline(cf_rules(), std::move(o));
}

const std::string seed_head =
    R"({"timestamp":"1795422014.046346000","source":"network-log-forwarder",)"
    R"("message":"ingress-allowed","log_level":1,"data":{"destination":{)"
    R"("container_id":"d5978989-1401-49ff-46cd-33e5",)"
    R"("app_guid":"bc6f229d-5e4a-4c41-a63f-e8795496c283",)"
    R"("space_guid":"b9f86312-a7d7-4bcf-b70f-a440436c210b",)"
    R"("organization_guid":"604bd59e-4139-4734-a3be-4e97836eb790"},)"
    R"("packet":{"src_ip":"10.255.15.7","src_port":43902,"dst_ip":"10.255.15.13",)"
    R"("dst_port":80,"protocol":"tcp","mark":"0x4"})";

} // namespace

TEST_CASE("iptables-save rules carry the mark they set or require, and their comment") {
    const Ruleset rs = fixture();
    std::vector<const FwRule *> rules;
    for (const auto &c : rs.chains)
        if (c.chain == "vpa--1764705600000000")
            for (const auto &r : c.rules) rules.push_back(&r);
    REQUIRE(rules.size() == 7);
    CHECK(rules[0]->mark_set == 4u); // --set-xmark 0x4/0xffffffff
    CHECK(!rules[0]->mark_match);
    CHECK(rules[0]->note == "src:" + std::string(app_a));
    CHECK(rules[1]->mark_match == 4u); // the LOG rule: no comment
    CHECK(rules[1]->note.empty());
    CHECK(rules[2]->mark_match == 4u);
    CHECK(rules[2]->note == "src:" + std::string(app_a) + "_dst:" + std::string(app_b));
    CHECK(rules[3]->mark_match == 7u);
    CHECK(!rules[4]->mark_match); // ! --mark 0x9
    CHECK(!rules[5]->mark_match); // --mark 0xa/0xff: part of the mark
    CHECK(!rules[6]->mark_match); // -m connmark --mark: the connection's, not the packet's
}

TEST_CASE("the mark rules' comments name the source app of each tag") {
    const std::vector<Ruleset> sets{fixture()};
    const auto m = PeerMarks::from_rulesets(sets);
    CHECK(m.app(4) == app_a);
    CHECK(m.app(7) == app_c);
    CHECK(m.app(9) == "");
    CHECK(m.app(0xa) == "");
    CHECK(m.app(0xb) == "");
    CHECK(m.app(0x5) == "");
    CHECK(m.size() == 2);
    CHECK(m.ambiguous() == 0);
}

TEST_CASE("a tag two rules give to different apps names none") {
    Ruleset rs = fixture();
    FwRule other;
    other.mark_set = 4;
    other.note = "src:0aaaaaaa-0000-4aaa-8bbb-123456789abc";
    rs.chains.front().rules.push_back(other);
    const std::vector<Ruleset> sets{rs};
    const auto m = PeerMarks::from_rulesets(sets);
    CHECK(m.app(4) == "");
    CHECK(m.ambiguous() == 1);
    CHECK(m.app(7) == app_c);
}

TEST_CASE("policy agent comments: src:<guid> and src:<guid>_dst:<guid>, nothing else") {
    CHECK(peer_comment_source("src:abc-1") == "abc-1");
    CHECK(peer_comment_source("src:abc-1_dst:def-2") == "abc-1");
    CHECK(peer_comment_source("netlog:c2c-ingress-allowed") == "");
    CHECK(peer_comment_source("dst:abc") == "");
    CHECK(peer_comment_source("src:a b") == "");
}

TEST_CASE("without the extra the seed line is unchanged and no source is counted") {
    const auto idx = index_of(true);
    const std::vector<Ruleset> sets{fixture()};
    const auto marks = PeerMarks::from_rulesets(sets);
    auto p = json_pipeline(false);
    p.set_containers(&idx);
    p.set_peers(&marks);
    CHECK(line(p, message("OK_0004_bc6f229d-5e4a-4c41-a", 4)) == seed_head + "}}\n");
    CHECK(p.counters().sources_resolved + p.counters().sources_unresolved == 0);
}

TEST_CASE("peer: a source container on this cell is named in full") {
    const auto idx = index_of(true);
    auto p = json_pipeline(true);
    p.set_containers(&idx);
    CHECK(line(p, message("OK_0004_bc6f229d-5e4a-4c41-a", 4)) ==
          seed_head + R"(,"source":{"container_id":"cb40f81e-52ce-41c5-7a89-f01e",)"
                      R"("app_guid":"c5836386-b934-424a-8d93-5894115b3130",)"
                      R"("space_guid":"8bd0678d-c5fd-4991-8a5c-a75c75440e0b",)"
                      R"("organization_guid":"d95a6357-6124-48fe-80f9-c8ff6c250a6e"}}})"
                      "\n");
    CHECK(p.counters().sources_resolved == 1);
}

TEST_CASE("peer: a source on another cell is its mark's app; an unknown mark is \"\"") {
    const auto idx = index_of(false);
    const std::vector<Ruleset> sets{fixture()};
    const auto marks = PeerMarks::from_rulesets(sets);
    auto p = json_pipeline(true);
    p.set_containers(&idx);
    p.set_peers(&marks);
    CHECK(line(p, message("OK_0004_bc6f229d-5e4a-4c41-a", 4)) ==
          seed_head +
              R"(,"source":{"container_id":"","app_guid":"c5836386-b934-424a-8d93-5894115b3130",)"
              R"("space_guid":"","organization_guid":""}}})"
              "\n");
    const auto unknown = line(p, message("DENY_C2C_d5978989-1401-49ff-46cd-33e5", 5));
    CHECK(unknown.find(R"(,"source":{"container_id":"","app_guid":"","space_guid":"",)"
                       R"("organization_guid":""}}})") != std::string::npos);
    CHECK(line(p, message("DENY_C2C_d5978989-1401-49ff-46cd-33e5", std::nullopt))
              .find(R"("app_guid":"","space_guid":"","organization_guid":""}}})") !=
          std::string::npos);
    CHECK(p.counters().sources_resolved == 1);
    CHECK(p.counters().sources_unresolved == 2);
}

TEST_CASE("peer: egress to a container on this cell names it as the destination") {
    const auto idx = index_of(true);
    auto p = json_pipeline(true);
    p.set_containers(&idx);
    const auto l = line(p, message("OK_cb40f81e-52ce-41c5-7a89-f01e", 4)); // asg egress
    CHECK(l.find(R"("message":"egress-allowed")") != std::string::npos);
    CHECK(l.find(R"(},"destination":{"container_id":"d5978989-1401-49ff-46cd-33e5",)") !=
          std::string::npos);
    CHECK(p.counters().sources_resolved + p.counters().sources_unresolved == 0);
    auto q = json_pipeline(true);
    ContainerIndex empty;
    q.set_containers(&empty);
    CHECK(line(q, message("OK_cb40f81e-52ce-41c5-7a89-f01e", 4)).find("\"destination\"") ==
          std::string::npos);
}
