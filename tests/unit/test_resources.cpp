// Log resources: which events an output takes (`outputs[].match`), and what becomes of an
// event no output takes (counted as `filtered`).
//
// Packets: the IPv4 bytes of an NFLOG record captured on this machine (kernel 6.x,
// `tcpdump -i nflog:42 -w` in a namespace): TCP SYN 10.255.15.7:43902 -> 10.255.15.13:80
// (pipeline_fixtures.h, shared with the pipeline tests). Classes: rules/cloudfoundry.yaml, whose
// order and patterns say which class a prefix belongs to (`OK_0002_` is c2c-ingress-allowed,
// `OK_` alone asg-egress-allowed, `DENY_C2C_` c2c-ingress-denied, `DENY_` asg-egress-denied).
#include <doctest/doctest.h>

#include <netlog/classes.h>
#include <netlog/config.h>
#include "metrics.h"
#include <netlog/pipeline.h>
#include "pipeline_fixtures.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace netlog;
using netlog::test::cf_rules;
using netlog::test::tcp_syn;

namespace {

NflogMessage message(std::string_view prefix) {
    NflogMessage m;
    m.family = 2; // AF_INET
    m.group = 42;
    m.hw_protocol = 0x0800;
    m.has_packet_hdr = true;
    m.payload = Bytes(tcp_syn.data(), tcp_syn.size());
    m.prefix = prefix;
    return m;
}

OutputSpec taking(OutputMatch m) {
    OutputSpec s;
    s.json.class_name = true; // each line names its class
    s.match = std::move(m);
    return s;
}

OutputMatch classes(std::initializer_list<const char *> names) {
    OutputMatch m;
    for (auto n : names) m.classes.push_back({n, "test.yaml:1:1"});
    return m;
}

// The classes (extra `class`) of the lines of each output after `prefixes` went through.
std::vector<std::vector<std::string>> run(Pipeline &p, std::initializer_list<const char *> prefixes) {
    std::vector<std::vector<std::string>> got(p.outputs());
    for (auto prefix : prefixes) {
        std::vector<std::string> outs(p.outputs());
        const auto m = message(prefix);
        p.process(m, {1, 0}, outs);
        for (std::size_t i = 0; i < outs.size(); ++i) {
            if (outs[i].empty()) continue;
            const auto at = outs[i].find(R"("class":")");
            REQUIRE(at != std::string::npos);
            const auto from = at + 9;
            got[i].push_back(outs[i].substr(from, outs[i].find('"', from) - from));
        }
    }
    return got;
}

using Names = std::vector<std::string>;

} // namespace

TEST_CASE("an output takes only the events its match selects; one without a match takes all") {
    PipelineOptions o;
    o.outputs.push_back(taking({}));
    OutputMatch denied;
    denied.verdict = Verdict::denied;
    o.outputs.push_back(taking(denied));
    o.outputs.push_back(taking(classes({"asg-egress-allowed"})));
    OutputMatch ingress_allowed;
    ingress_allowed.direction = Direction::ingress;
    ingress_allowed.verdict = Verdict::allowed;
    o.outputs.push_back(taking(ingress_allowed));
    Pipeline p(cf_rules(), o);
    const auto got = run(p, {"DENY_C2C_cb40f81e", "OK_0002_e9e8959f", "OK_cb40f81e", "DENY_cb40f81e"});
    CHECK(got[0] == Names{"c2c-ingress-denied", "c2c-ingress-allowed", "asg-egress-allowed",
                          "asg-egress-denied"});
    CHECK(got[1] == Names{"c2c-ingress-denied", "asg-egress-denied"});
    CHECK(got[2] == Names{"asg-egress-allowed"});
    CHECK(got[3] == Names{"c2c-ingress-allowed"});
    CHECK(p.counters().emitted == 4);
    CHECK(p.counters().filtered == 0);
}

TEST_CASE("an event no output takes is counted as filtered, and the pipeline's identity holds") {
    PipelineOptions o;
    OutputMatch egress_denied;
    egress_denied.direction = Direction::egress;
    egress_denied.verdict = Verdict::denied;
    o.outputs.push_back(taking(egress_denied));
    o.outputs.push_back(taking(classes({"c2c-ingress-denied", "asg-egress-denied-rate"})));
    o.unclassified.emit = false;
    Pipeline p(cf_rules(), o);
    const auto got = run(p, {"OK_0002_a", "DENY_C2C_b", "DENY_ORL_c", "OK_d", "DENY_e", "NOPE"});
    CHECK(got[0] == Names{"asg-egress-denied-rate", "asg-egress-denied"});
    CHECK(got[1] == Names{"c2c-ingress-denied", "asg-egress-denied-rate"});
    const auto &c = p.counters();
    CHECK(c.processed == 6);
    CHECK(c.emitted == 3);              // DENY_C2C_, DENY_ORL_, DENY_
    CHECK(c.filtered == 2);             // OK_0002_, OK_: both allowed, neither class listed
    CHECK(c.unclassified_dropped == 1); // NOPE: dropped by policy before any match
    CHECK(c.processed == c.emitted + c.decode_errors + c.unclassified_dropped + c.filtered);
}

TEST_CASE("an unclassified event is taken by a verdict or direction match, never by a class list") {
    PipelineOptions o;
    OutputMatch denied;
    denied.verdict = Verdict::denied; // the unclassified policy's default verdict
    o.outputs.push_back(taking(denied));
    o.outputs.push_back(taking(classes({"asg-egress-denied"})));
    Pipeline p(cf_rules(), o);
    std::vector<std::string> outs(2);
    const auto m = message("NOPE");
    CHECK(p.process(m, {1, 0}, outs));
    CHECK(outs[0].find(R"("message":"egress-denied")") != std::string::npos);
    CHECK(outs[1].empty());
    CHECK(p.counters().filtered == 0);
}

namespace {
std::string config_error(const std::string &yaml) {
    auto c = config_parse(yaml, "netlogd.yaml");
    return c.ok() ? std::string() : c.error().message;
}
} // namespace

TEST_CASE("outputs[].match is read with each of its keys; a bad value names line, column and key") {
    auto c = config_parse("rules: r.yaml\n"
                          "outputs:\n"
                          "  - {type: stdout}\n"
                          "  - type: stdout\n"
                          "    match: {verdict: denied, direction: ingress,\n"
                          "            classes: [c2c-ingress-denied, asg-egress-denied]}\n",
                          "netlogd.yaml");
    REQUIRE_MESSAGE(c.ok(), (c.ok() ? std::string() : c.error().message));
    CHECK(c->outputs[0].match.any());
    const auto &m = c->outputs[1].match;
    CHECK(m.verdict == Verdict::denied);
    CHECK(m.direction == Direction::ingress);
    REQUIRE(m.classes.size() == 2);
    CHECK(m.classes[1].name == "asg-egress-denied");
    CHECK(m.classes[1].where == "netlogd.yaml:6:43");
    CHECK(config_summary(*c).find("only denied ingress classes c2c-ingress-denied,asg-egress-denied") !=
          std::string::npos);

    const std::string head = "rules: r.yaml\noutputs:\n  - type: stdout\n";
    CHECK(config_error(head + "    match: {verdict: dropped}\n") ==
          "netlogd.yaml:4:22: key 'outputs[0].match.verdict': 'dropped' is not allowed or denied");
    CHECK(config_error(head + "    match: {direction: in}\n") ==
          "netlogd.yaml:4:24: key 'outputs[0].match.direction': 'in' is not ingress or egress");
    CHECK(config_error(head + "    match: {classes: []}\n")
              .find("netlogd.yaml:4:22: key 'outputs[0].match.classes': expected a list of class "
                    "names") == 0);
    CHECK(config_error(head + "    match: {event: drop}\n") ==
          "netlogd.yaml:4:13: key 'outputs[0].match.event': unknown key (expected one of: "
          "verdict, direction, classes)");
}

TEST_CASE("a match naming a class the rules file does not have is refused with its position") {
    auto c = config_parse("rules: r.yaml\n"
                          "outputs:\n"
                          "  - {type: stdout, match: {classes: [asg-egress-denied, asg-egres-allowed]}}\n",
                          "netlogd.yaml");
    REQUIRE(c.ok());
    const auto r = config_check_rules(*c, cf_rules());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message ==
          "netlogd.yaml:3:57: key 'outputs[0].match.classes[1]': the rules file has no class "
          "'asg-egres-allowed' (its classes: c2c-ingress-allowed, c2c-ingress-denied, "
          "asg-egress-denied-rate, asg-egress-allowed, asg-egress-denied)");
}

TEST_CASE("filtered events are a reason of their own in the metrics, inside the identity") {
    MetricsSnapshot m;
    m.kernel_logged = 10;
    m.received = 10;
    m.emitted = 6;
    m.dropped[static_cast<std::size_t>(DropReason::filtered)] = 4;
    const auto text = metrics_render(m);
    CHECK(text.find("netlog_events_dropped_total{reason=\"filtered\"} 4\n") != std::string::npos);
    MetricsSnapshot back;
    std::string err;
    REQUIRE_MESSAGE(metrics_parse(text, back, err), err);
    CHECK(back.dropped[static_cast<std::size_t>(DropReason::filtered)] == 4);
    const auto id = metrics_identity(back);
    CHECK(id.find("+ filtered (no output's match)            4\n") != std::string::npos);
    CHECK(id.find("identity holds") != std::string::npos);
}
