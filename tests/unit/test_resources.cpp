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

#include <algorithm>
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
std::vector<std::vector<std::string>> run(Pipeline &p,
                                          std::initializer_list<const char *> prefixes) {
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
    const auto got =
        run(p, {"DENY_C2C_cb40f81e", "OK_0002_e9e8959f", "OK_cb40f81e", "DENY_cb40f81e"});
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
    CHECK(config_summary(*c).find(
              "only denied ingress classes c2c-ingress-denied,asg-egress-denied") !=
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
    auto c = config_parse(
        "rules: r.yaml\n"
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
    const auto parsed = metrics_parse(text);
    REQUIRE_MESSAGE(parsed.ok(), (parsed.ok() ? std::string() : parsed.error().message));
    const MetricsSnapshot back = *parsed;
    CHECK(back.dropped[static_cast<std::size_t>(DropReason::filtered)] == 4);
    const auto id = metrics_identity(back);
    CHECK(id.find("+ filtered (no output's match)            4\n") != std::string::npos);
    CHECK(id.find("identity holds") != std::string::npos);
}

// --- the rule identity of an event: constant fields and named groups ---------------------

namespace {

// Two firewalls' rules, as an operator writes them (rules/openstack.yaml's shape): the
// prefix carries the rule's id, the class the firewall's and tenant's.
const char *fw_rules = R"(classes:
  - name: fw1-drop
    log_prefix: '^FWD_(?P<rule_id>[0-9a-f]{8})_(?:v[0-9]_)?(?P<port>[a-z0-9]*)'
    direction: egress
    verdict: denied
    fields: {firewall_id: fw-1, tenant_id: "t\"1"}
  - {name: fw2-allow, log_prefix: '^FWA_', direction: egress, verdict: allowed}
)";

RulesFile parse_rules(const char *text) {
    auto r = rules_parse(text, "rules.yaml");
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    return std::move(*r);
}

std::string rules_error(const std::string &text) {
    auto r = rules_parse(text, "rules.yaml");
    return r.ok() ? std::string() : r.error().message;
}

} // namespace

TEST_CASE(
    "named groups are numbered in the order they open, unnamed and non-capturing ones skipped") {
    const auto rules = parse_rules(R"(classes:
  - {name: a, log_prefix: '^FW_(?P<rule_id>[0-9a-f]{8})_[(]\((?:x|y)([a-z]+)(?P<tenant>[a-z]+)_([0-9])', direction: egress, verdict: denied}
)");
    const auto &c = rules.classes[0];
    CHECK(c.group_names == std::vector<std::string>{"rule_id", "tenant"});
    CHECK(c.group_index == std::vector<int>{1, 3});
    Captures v;
    REQUIRE(class_captures(c, "FW_0a1b2c3d_((yab_7", v));
    REQUIRE(v.n == 2);
    CHECK(v.value[0] == "0a1b2c3d");
    CHECK(v.value[1] == "b"); // [a-z]+ before it is greedy and leaves one letter
}

TEST_CASE("with the json extra rule, data.rule holds the class, its constants and captured parts") {
    const auto rules = parse_rules(fw_rules);
    REQUIRE(rules.classes[0].fields.size() == 2);
    CHECK(rules.classes[0].group_names == std::vector<std::string>{"rule_id", "port"});
    PipelineOptions o;
    OutputSpec with, without;
    with.json.rule = true;
    o.outputs = {with, without};
    Pipeline p(rules, o);
    std::vector<std::string> outs(2);
    auto m = message("FWD_0a1b2c3d_v4_https");
    m.timestamp = Timestamp{1795422014, 46346000};
    REQUIRE(p.process(m, {1, 0}, outs));
    const std::string seed =
        R"({"timestamp":"1795422014.046346000","source":"network-log-forwarder",)"
        R"("message":"egress-denied","log_level":1,"data":{"source":{"container_id":"",)"
        R"("app_guid":"","space_guid":"","organization_guid":""},)"
        R"("packet":{"src_ip":"10.255.15.7","src_port":43902,"dst_ip":"10.255.15.13",)"
        R"("dst_port":80,"protocol":"tcp"})";
    CHECK(outs[0] == seed + R"(,"rule":{"name":"fw1-drop","firewall_id":"fw-1",)"
                            R"("tenant_id":"t\"1","rule_id":"0a1b2c3d","port":"https"}}})"
                            "\n");
    CHECK(outs[1] == seed + "}}\n"); // without the extra: the seed line, byte for byte

    // the same prefix again comes from the classifier's cache: the same parts
    outs = {"", ""};
    REQUIRE(p.process(m, {1, 0}, outs));
    CHECK(outs[0].find(R"("rule_id":"0a1b2c3d","port":"https"})") != std::string::npos);
    // an optional part that took no part in the match, and a class without fields
    outs = {"", ""};
    const auto bare = message("FWD_0a1b2c3e_");
    REQUIRE(p.process(bare, {1, 0}, outs));
    CHECK(outs[0].find(R"("rule_id":"0a1b2c3e","port":""}}})") != std::string::npos);
    outs = {"", ""};
    const auto fw2 = message("FWA_x");
    REQUIRE(p.process(fw2, {1, 0}, outs));
    CHECK(outs[0].find(R"(,"rule":{"name":"fw2-allow"}}})") != std::string::npos);
    // an unclassified event has no rule
    outs = {"", ""};
    const auto none = message("NOPE");
    REQUIRE(p.process(none, {1, 0}, outs));
    CHECK(outs[0].find(R"("rule")") == std::string::npos);
}

TEST_CASE("ECS puts the rule's id in rule.id and the class's other fields in labels") {
    const auto rules = parse_rules(fw_rules);
    PipelineOptions o;
    OutputSpec ecs;
    ecs.format = OutputFormat::ecs;
    o.outputs = {ecs};
    Pipeline p(rules, o);
    std::vector<std::string> outs(1);
    const auto m = message("FWD_0a1b2c3d_v4_https");
    REQUIRE(p.process(m, {1, 0}, outs));
    CHECK(outs[0].find(R"("rule":{"name":"fw1-drop","id":"0a1b2c3d"},)"
                       R"("labels":{"firewall_id":"fw-1","tenant_id":"t\"1","port":"https"})") !=
          std::string::npos);
    outs = {""};
    const auto fw2 = message("FWA_x");
    REQUIRE(p.process(fw2, {1, 0}, outs));
    CHECK(outs[0].find(R"("rule":{"name":"fw2-allow"},)") != std::string::npos);
    CHECK(outs[0].find("labels") == std::string::npos);
}

TEST_CASE("a field spelled two ways, named twice or badly is refused with file, line and key") {
    const std::string head = "classes:\n  - {name: a, log_prefix: '^A_(?P<rule_id>.)', "
                             "direction: egress, verdict: denied}\n";
    CHECK(rules_error(head + "  - {name: b, log_prefix: '^B_(?P<ruleId>.)', direction: egress, "
                             "verdict: denied}\n") ==
          "rules.yaml:3:27: key 'classes[1].log_prefix': field 'ruleId' is spelled 'rule_id' in "
          "class 'a': spell it the same way in every class");
    CHECK(rules_error(head + "  - {name: b, log_prefix: '^B_', direction: egress, verdict: "
                             "denied, fields: {Rule-ID: x}}\n")
              .find("rules.yaml:3:79: key 'classes[1].fields.Rule-ID': 'Rule-ID' is not a field "
                    "name") == 0);
    CHECK(rules_error(head + "  - {name: b, log_prefix: '^B_', direction: egress, verdict: "
                             "denied, fields: {RULE_ID: x}}\n") ==
          "rules.yaml:3:79: key 'classes[1].fields.RULE_ID': field 'RULE_ID' is spelled "
          "'rule_id' in class 'a': spell it the same way in every class");
    CHECK(rules_error("classes:\n  - {name: a, log_prefix: '^A_(?P<rule_id>.)', direction: "
                      "egress, verdict: denied, fields: {rule_id: x}}\n") ==
          "rules.yaml:2:27: key 'classes[0].log_prefix': field 'rule_id' twice in class 'a' (a "
          "constant and a named group): keep one");
    CHECK(rules_error("classes:\n  - {name: a, log_prefix: '^A_', direction: egress, verdict: "
                      "denied, fields: {name: x}}\n")
              .find("key 'classes[0].fields.name': 'name' is the class's own") !=
          std::string::npos);
    CHECK(rules_error("classes:\n  - {name: a, log_prefix: '^A_(?P<1>.)', direction: egress, "
                      "verdict: denied}\n")
              .find("rules.yaml:2:27: key 'classes[0].log_prefix': '1' is not a field name") == 0);
    CHECK(rules_error("classes:\n  - {name: a, log_prefix: '^A_(?P<x>.)[(?P<]\\(?P<(?P<x>.)', "
                      "direction: egress, verdict: denied}\n") ==
          "rules.yaml:2:27: key 'classes[0].log_prefix': two named groups of one name: a field "
          "has one value, keep one");
    // "netlog:@icmp-error" tags netlog's own ICMP error rule: no class may be read as it.
    CHECK(rules_error("classes:\n  - {name: '@icmp-error', log_prefix: '^A_', direction: egress, "
                      "verdict: denied}\n") ==
          "rules.yaml:2:12: key 'classes[0].name': '@icmp-error': a name starting with '@' is "
          "reserved for netlog's own rules: pick another");
    // A '(?P<' escaped or in a bracket expression opens no group.
    CHECK(rules_error("classes:\n  - {name: a, log_prefix: '^A_(?P<x>.)[(?P<]\\(?P<', "
                      "direction: egress, verdict: denied}\n") == "");
    CHECK(rules_error("classes:\n  - {name: a, log_prefix: '^A_', direction: egress, verdict: "
                      "denied, fields: [x]}\n")
              .find("key 'classes[0].fields': expected a mapping of names to values") !=
          std::string::npos);
}

TEST_CASE("rules/openstack.yaml: each class names its firewall or group, its tenant and its rule") {
    std::ifstream in(std::string(NETLOG_SOURCE_ROOT) + "/rules/openstack.yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    const auto rules = parse_rules(ss.str().c_str());
    REQUIRE(rules.classes.size() == 6);
    Classifier c(rules);
    Captures caps;
    // a LOG prefix of the shape the file's comment gives (29 characters at most)
    const auto *drop = c.classify("FWD_4f2a9c1e_0b7d3e21_", &caps);
    REQUIRE(drop);
    CHECK(drop->name == "fw-1-drop");
    CHECK(drop->verdict == Verdict::denied);
    CHECK(drop->fields[0].value == "4f2a9c1e-7d3b-4c1a-9e0f-2b8d6a5c3e71");
    REQUIRE(caps.n == 1);
    CHECK(caps.value[0] == "0b7d3e21");
    const auto *sg = c.classify("SGA_77aa0c19_5d2e8f10_", &caps);
    REQUIRE(sg);
    CHECK(sg->name == "sg-accept");
    CHECK(sg->direction == Direction::ingress);
    REQUIRE(caps.n == 2);
    CHECK(caps.value[0] == "77aa0c19");
    CHECK(caps.value[1] == "5d2e8f10");
    CHECK(c.classify("FWD_00000000_0b7d3e21_") == nullptr); // a firewall the file does not know
}

// --- one file per resource: a file output's path naming fields ------------------------------

TEST_CASE("a path names fields only in the file's name; a stray brace or bad name is refused") {
    auto t = path_template_parse("/var/log/netlog/fw-{firewall_id}-{rule_id}.log");
    REQUIRE(t.ok());
    CHECK(t->templated());
    CHECK(t->fields() == std::vector<std::string>{"firewall_id", "rule_id"});
    CHECK(t->fallback() == "/var/log/netlog/fw-_other-_other.log");
    auto plain = path_template_parse("/var/log/netlog/netlog.log");
    REQUIRE(plain.ok());
    CHECK_FALSE(plain->templated());
    CHECK(path_template_parse("/var/log/{tenant_id}/fw.log")
              .error()
              .message.find("a field may stand only in the file's name") == 0);
    CHECK(path_template_parse("/x/fw-{firewall-id}.log").error().message ==
          "'{firewall-id}' at byte 7 is not a field: write {name} with letters, digits and '_' "
          "(e.g. {firewall_id})");
    CHECK(path_template_parse("/x/fw-{}.log")
              .error()
              .message.find("'{}' at byte 7 is not a "
                            "field") == 0);
    CHECK(path_template_parse("/x/fw-{rule_id.log")
              .error()
              .message.find("at byte 7 is not a "
                            "field") != std::string::npos);
    CHECK(path_template_parse("/x/fw-rule}.log").error().message ==
          "'}' at byte 11 closes no field: a field is written {name}");
}

TEST_CASE("a value stands in a file name only when it cannot leave the directory or hide") {
    CHECK(path_value_ok("fw-1"));
    CHECK(path_value_ok("4f2a9c1e-7d3b-4c1a-9e0f-2b8d6a5c3e71"));
    CHECK(path_value_ok("a.b_c"));
    CHECK_FALSE(path_value_ok(""));
    CHECK_FALSE(path_value_ok(".."));
    CHECK_FALSE(path_value_ok(".hidden"));
    CHECK_FALSE(path_value_ok("_other")); // the fallback's own name
    CHECK_FALSE(path_value_ok("a/b"));
    CHECK_FALSE(path_value_ok("t\"1"));
    CHECK_FALSE(path_value_ok(std::string(129, 'a')));
    CHECK(path_value_ok(std::string(128, 'a')));
}

TEST_CASE(
    "each line of a templated output goes to the file its class's constants and groups name") {
    const auto rules = parse_rules(fw_rules);
    PipelineOptions o;
    OutputSpec routed;
    routed.path = *path_template_parse("/l/{firewall_id}-{rule_id}.log");
    OutputSpec by_class;
    by_class.path = *path_template_parse("/l/{name}.log");
    OutputSpec plain;
    o.outputs = {routed, plain, by_class};
    Pipeline p(rules, o);
    struct Routes final : LineOutputs {
        std::vector<std::string> buf = std::vector<std::string>(3);
        std::vector<std::pair<std::size_t, std::string>> routes;
        std::string &line(std::size_t i, int, std::string_view route) override {
            routes.emplace_back(i, std::string(route));
            return buf[i];
        }
    } out;
    const BatchTime t{{1795422014, 0}, 0, 0};
    CHECK(p.process_message(message("FWD_0a1b2c3d_v4_https"), t, out));
    CHECK(p.process_message(message("FWD_0a1b2c3e_x"), t, out));
    CHECK(p.process_message(message("FWA_x"), t, out)); // fw2-allow: no firewall_id
    CHECK(p.process_message(message("OTHER"), t, out)); // unclassified
    const std::vector<std::pair<std::size_t, std::string>> want = {
        {0, "/l/fw-1-0a1b2c3d.log"},
        {1, ""},
        {2, "/l/fw1-drop.log"},
        {0, "/l/fw-1-0a1b2c3e.log"},
        {1, ""},
        {2, "/l/fw1-drop.log"},
        {0, ""},
        {1, ""},
        {2, "/l/fw2-allow.log"},
        {0, ""},
        {1, ""},
        {2, ""}}; // unclassified: no class, no name
    CHECK(out.routes == want);
    CHECK(out.buf[0].find("FWD") == std::string::npos); // the lines themselves are unchanged
    CHECK(std::count(out.buf[0].begin(), out.buf[0].end(), '\n') == 4);
}

TEST_CASE("a templated path's fields, max_files and fallback are checked at start, with position") {
    auto c = config_parse("rules: r.yaml\n"
                          "outputs:\n"
                          "  - type: file\n"
                          "    path: /l/fw-{firewall_id}.log\n"
                          "    max_files: 8\n"
                          "  - {type: file, path: '/l/t-{tenant_id}.log', fallback: /l/t.log}\n"
                          "  - {type: file, path: /l/plain.log}\n",
                          "netlogd.yaml");
    REQUIRE_MESSAGE(c.ok(), (c.ok() ? std::string() : c.error().message));
    CHECK(c->outputs[0].max_files == 8);
    CHECK(c->outputs[0].fallback == "/l/fw-_other.log");
    CHECK(c->outputs[1].max_files == 64);
    CHECK(c->outputs[1].fallback == "/l/t.log");
    CHECK(c->outputs[2].fallback.empty());
    CHECK(config_check_rules(*c, parse_rules(fw_rules)).ok());
    const auto r = config_check_rules(*c, cf_rules());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message ==
          "netlogd.yaml:4:11: key 'outputs[0].path': no class of the rules "
          "file has the field 'firewall_id' (their fields: container_app_guid, "
          "container_handle, name)");
    auto typo = config_parse("rules: r.yaml\noutputs:\n  - {type: file, path: '/l/{firewal_id}'}\n",
                             "netlogd.yaml");
    REQUIRE(typo.ok());
    CHECK(config_check_rules(*typo, parse_rules(fw_rules)).error().message ==
          "netlogd.yaml:3:24: key 'outputs[0].path': no class of the rules file has the field "
          "'firewal_id' (their fields: firewall_id, name, port, rule_id, tenant_id)");

    const std::string head = "rules: r.yaml\noutputs:\n  - type: file\n";
    CHECK(config_error(head + "    path: /l/plain.log\n    max_files: 3\n") ==
          "netlogd.yaml:5:16: key 'outputs[0].max_files': only a path that names a field "
          "({name}) has one");
    CHECK(config_error(head + "    path: /l/{rule_id}.log\n    max_files: 0\n")
              .find("netlogd.yaml:5:16: key 'outputs[0].max_files'") == 0);
    CHECK(config_error(head + "    path: /l/{rule_id}.log\n    fallback: /l/{x}.log\n") ==
          "netlogd.yaml:5:15: key 'outputs[0].fallback': the fallback is one file: it names no "
          "field");
    CHECK(config_error(head + "    path: /{rule_id}/x.log\n")
              .find("netlogd.yaml:4:11: key 'outputs[0].path': a field may stand only") == 0);
    CHECK(config_error(head + "    path: /l/{rule_id}.log\n"
                              "  - {type: file, path: /l/_other.log}\n") ==
          "netlogd.yaml:5:24: key 'outputs[1].path': '/l/_other.log' is already the path of "
          "another output");
}

TEST_CASE("a templated output's files and fallback lines survive the metrics round trip") {
    MetricsSnapshot m;
    m.outputs.push_back({"/l/plain.log", "file", "json", 5, 500, 0, 0, 0, 0, false, 0, 0});
    m.outputs.push_back(
        {"/l/fw-{firewall_id}.log", "file", "json", 7, 700, 0, 0, 0, 0, true, 3, 2});
    const auto text = metrics_render(m);
    CHECK(text.find("netlog_output_files{output=\"/l/fw-{firewall_id}.log\",type=\"file\","
                    "format=\"json\"} 3\n") != std::string::npos);
    CHECK(text.find("netlog_output_files{output=\"/l/plain.log\"") == std::string::npos);
    const auto parsed = metrics_parse(text);
    REQUIRE_MESSAGE(parsed.ok(), (parsed.ok() ? std::string() : parsed.error().message));
    const MetricsSnapshot back = *parsed;
    REQUIRE(back.outputs.size() == 2);
    CHECK_FALSE(back.outputs[0].routed);
    CHECK(back.outputs[1].routed);
    CHECK(back.outputs[1].files == 3);
    CHECK(back.outputs[1].fallback == 2);
}
