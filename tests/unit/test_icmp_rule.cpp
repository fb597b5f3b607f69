// The ICMP error rule of `connections: {outcomes: true}` (ruleplan.h): planned at the top of
// filter FORWARD, INPUT and OUTPUT, kept when present, removed exactly. Expected rule texts
// are what iptables-legacy-save / ip6tables-legacy-save 1.8.9 print for the rules written
// by hand with iptables-legacy (-p icmp --icmp-type 3 -m conntrack --ctstate RELATED
// -m comment ... -j NFLOG ...), not strings taken from the planner.
#include "iptables_save.h"
#include "metrics.h"
#include "pipeline_fixtures.h"
#include <netlog/accounting.h>
#include <netlog/pipeline.h>
#include <netlog/ruleplan.h>

#include <doctest/doctest.h>

#include <algorithm>

using namespace netlog;

namespace {

RulesFile rules42() {
    auto rf =
        rules_parse("nflog: {group: 42, snaplen: 128, queue_threshold: 1}\nclasses:\n"
                    "  - {name: ok, log_prefix: '^OK_', direction: egress, verdict: allowed}\n",
                    "t.yaml");
    REQUIRE(rf.ok());
    return *rf;
}

Ruleset parse(const std::string &text, Family f = Family::ipv4) {
    auto rs = iptables_save_parse(text, f);
    REQUIRE_MESSAGE(rs.ok(), (rs.ok() ? "" : rs.error().message));
    return *rs;
}

const char *bare = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                   "-A FORWARD -s 10.255.0.2/32 -j ACCEPT\nCOMMIT\n";

// The real save lines (iptables-legacy-save 1.8.9) of the rules netlog should write.
const std::string v4_rule =
    "-p icmp -m icmp --icmp-type 3 -m conntrack --ctstate RELATED -m comment --comment "
    "\"netlog:@icmp-error\" -j NFLOG --nflog-prefix netlog-icmp-error --nflog-group 42 "
    "--nflog-size 128 --nflog-threshold 1";
const std::string v6_rule =
    "-p ipv6-icmp -m icmp6 --icmpv6-type 1 -m conntrack --ctstate RELATED -m comment --comment "
    "\"netlog:@icmp-error\" -j NFLOG --nflog-prefix netlog-icmp-error --nflog-group 42 "
    "--nflog-size 128 --nflog-threshold 1";

PlanOptions with_icmp() {
    PlanOptions o;
    o.icmp_errors = true;
    return o;
}

} // namespace

TEST_CASE("icmp rule: planned first in filter FORWARD, INPUT and OUTPUT, as iptables writes it") {
    Plan p = plan_install(parse(bare), rules42(), with_icmp());
    REQUIRE(p.steps.size() == 3);
    for (const PlanStep &s : p.steps) CHECK(s.op == PlanStep::Op::insert_first);
    std::string in = iptables_restore_input(p, Family::ipv4, "filter");
    CHECK(in == "*filter\n-I FORWARD 1 " + v4_rule + "\n-I INPUT 1 " + v4_rule + "\n-I OUTPUT 1 " +
                    v4_rule + "\nCOMMIT\n");
    CHECK(p.to_text().find("add ipv4 filter FORWARD #1: NFLOG group 42 prefix "
                           "\"netlog-icmp-error\"") != std::string::npos);
    // Without connections.outcomes: nothing.
    CHECK(plan_install(parse(bare), rules42(), PlanOptions{}).empty());
    // A ruleset without a filter table gets none (the table is not created).
    Plan nat =
        plan_install(parse("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n"), rules42(), with_icmp());
    CHECK(nat.empty());
    CHECK(nat.icmp_no_chain); // and said
    CHECK_FALSE(p.icmp_no_chain);
}

TEST_CASE("icmp rule: IPv6 matches ICMPv6 type 1") {
    Plan p = plan_install(parse(bare, Family::ipv6), rules42(), with_icmp());
    REQUIRE(p.steps.size() == 3);
    CHECK(
        iptables_restore_input(p, Family::ipv6, "filter").find("-I FORWARD 1 " + v6_rule + "\n") !=
        std::string::npos);
}

TEST_CASE("icmp rule: installed is kept (idempotent), even below another agent's insert") {
    std::string installed = std::string("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
                                        ":OUTPUT ACCEPT [0:0]\n-A INPUT ") +
                            v4_rule + "\n-A FORWARD -j vpa--1\n-A FORWARD " + v4_rule +
                            "\n-A OUTPUT " + v4_rule + "\n:vpa--1 - [0:0]\nCOMMIT\n";
    Ruleset rs = parse(installed);
    for (const auto &c : rs.chains)
        for (const auto &r : c.rules)
            if (r.text.find("NFLOG") != std::string::npos) CHECK(is_icmp_error_rule(r));
    Plan p = plan_install(rs, rules42(), with_icmp());
    CHECK(p.empty());
    CHECK(p.icmp_rules.size() == 3);
    // Not wanted any more, or remove: each goes, by its own text.
    Plan off = plan_install(rs, rules42(), PlanOptions{});
    CHECK(off.steps.size() == 3);
    Plan rm = plan_remove(rs, rules42(), PlanMode::replace);
    REQUIRE(rm.steps.size() == 3);
    for (const PlanStep &s : rm.steps) CHECK(s.op == PlanStep::Op::remove);
    std::string in = iptables_restore_input(rm, Family::ipv4, "filter");
    CHECK(in.find("-D FORWARD " + v4_rule + "\n") != std::string::npos);
    CHECK(in.find("-D INPUT " + v4_rule + "\n") != std::string::npos);
}

TEST_CASE("icmp rule: a second copy, or one of another group, is replaced") {
    std::string text = std::string("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
                                   ":OUTPUT ACCEPT [0:0]\n-A FORWARD ") +
                       v4_rule + "\n-A FORWARD " + v4_rule + "\nCOMMIT\n";
    Plan p = plan_install(parse(text), rules42(), with_icmp());
    CHECK(std::count_if(p.steps.begin(), p.steps.end(), [](const PlanStep &s) {
              return s.op == PlanStep::Op::remove && s.rule.chain == "FORWARD" &&
                     s.rule.handle == 2;
          }) == 1);
    CHECK(p.steps.size() == 3); // the duplicate goes; INPUT and OUTPUT get theirs
    auto other = rules_parse("nflog: {group: 7}\nclasses:\n  - {name: ok, log_prefix: '^OK_', "
                             "direction: egress, verdict: allowed}\n",
                             "t.yaml");
    REQUIRE(other.ok());
    Plan g = plan_install(parse(text), *other, with_icmp());
    // both of group 42 go, one of group 7 comes, in each of the three chains
    CHECK(std::count_if(g.steps.begin(), g.steps.end(), [](const PlanStep &s) {
              return s.op == PlanStep::Op::insert_first && s.companion.group == 7;
          }) == 3);
    CHECK(std::count_if(g.steps.begin(), g.steps.end(),
                        [](const PlanStep &s) { return s.op == PlanStep::Op::remove; }) == 2);
}

// The events of the rule: counted as connection_signal, never written (pipeline, metrics).
// The payload is a real NFLOG record's IPv4 packet (pipeline_fixtures.h); what matters here
// is the prefix the rule writes, icmp_error_prefix, spelled out as iptables-save shows it.
TEST_CASE("icmp rule: its events are counted as connection_signal, not emitted; identity holds") {
    PipelineOptions o;
    o.outputs.push_back(OutputSpec{});
    Pipeline p(netlog::test::cf_rules(), o);
    std::vector<std::string> outs(1);
    NflogMessage m;
    m.family = 2;
    m.group = 42;
    m.hw_protocol = 0x0800;
    m.has_packet_hdr = true;
    m.payload = Bytes(netlog::test::tcp_syn.data(), netlog::test::tcp_syn.size());
    m.prefix = "netlog-icmp-error";
    CHECK_FALSE(p.process(m, {1, 0}, outs));
    CHECK(outs[0].empty());
    m.prefix = "OK_x"; // an ordinary event still goes out
    CHECK(p.process(m, {1, 0}, outs));
    CHECK_FALSE(outs[0].empty());
    const auto &c = p.counters();
    CHECK(c.processed == 2);
    CHECK(c.emitted == 1);
    CHECK(c.connection_signals == 1);
    const Accounting a = p.accounting();
    CHECK(a.drops(DropReason::connection_signal) == 1);
    CHECK(a.holds());

    MetricsSnapshot s;
    s.kernel_logged = s.received = 2;
    s.emitted = 1;
    s.dropped[static_cast<std::size_t>(DropReason::connection_signal)] = 1;
    const auto text = metrics_render(s);
    CHECK(text.find("netlog_events_dropped_total{reason=\"connection_signal\"} 1\n") !=
          std::string::npos);
    const auto parsed = metrics_parse(text);
    REQUIRE_MESSAGE(parsed.ok(), (parsed.ok() ? std::string() : parsed.error().message));
    const MetricsSnapshot back = *parsed;
    const auto id = metrics_identity(back);
    CHECK(id.find("+ connection_signal (own ICMP)            1\n") != std::string::npos);
    CHECK(id.find("identity holds") != std::string::npos);
}
