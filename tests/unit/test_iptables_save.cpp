// iptables-save text -> Ruleset, and the restore input netlog-rules writes back.
// Fixtures: tests/data/rulesets/*.iptables-save, captured from the real iptables-legacy-save
// v1.8.9 after loading the hand-written *.rules files (built from
// ../shared/facts/cloudfoundry.md §1) into a fresh network namespace.
#include <netlog/classes.h>
#include "iptables_save.h"
#include <netlog/ruleplan.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

using namespace netlog;

namespace {

std::string read_data(const std::string &name) {
    std::ifstream f(std::string(NETLOG_TEST_DATA) + "/rulesets/" + name);
    REQUIRE_MESSAGE(f.good(), "missing fixture " << name);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

Ruleset parse_data(const std::string &name, Family family) {
    auto rs = iptables_save_parse(read_data(name), family);
    REQUIRE_MESSAGE(rs.ok(), (rs.ok() ? "" : rs.error().message));
    return *rs;
}

const FwChain &chain(const Ruleset &rs, std::string_view name) {
    for (const auto &c : rs.chains)
        if (c.chain == name) return c;
    FAIL("no chain " << name);
    return rs.chains.front();
}

std::vector<const FwRule *> rules_of_kind(const Ruleset &rs, RuleKind kind) {
    std::vector<const FwRule *> out;
    for (const auto &c : rs.chains)
        for (const auto &r : c.rules)
            if (r.kind == kind) out.push_back(&r);
    return out;
}

} // namespace

TEST_CASE("a Cloud Foundry filter table parses into its chains, in save order, with positions") {
    Ruleset rs = parse_data("cloudfoundry.iptables-save", Family::ipv4);
    REQUIRE(rs.chains.size() == 9);
    CHECK(rs.chains[0].chain == "INPUT");
    CHECK(rs.chains[0].table == "filter");
    const FwChain &vpa = chain(rs, "vpa--1700000000000001");
    REQUIRE(vpa.rules.size() == 5);
    for (std::size_t i = 0; i < vpa.rules.size(); ++i) CHECK(vpa.rules[i].handle == i + 1);
    CHECK(vpa.rules[0].kind == RuleKind::other); // -j MARK
    CHECK(vpa.rules[1].kind == RuleKind::log);
    CHECK(vpa.rules[1].log_prefix == "OK_0002_e9e8959f-3828-4136-8 ");
    CHECK(vpa.rules[1].match_key ==
          "-d 10.255.15.13/32 -p tcp -m tcp --dport 8080 -m mark --mark 0x2 -m conntrack "
          "--ctstate INVALID,NEW,UNTRACKED");
    CHECK(vpa.rules[1].log_options == "");
    CHECK(vpa.rules[1].text.rfind("-A vpa--1700000000000001 -d 10.255.15.13/32", 0) == 0);
}

TEST_CASE("every LOG rule of the cell is found with its full prefix, the foreign NFLOG rule is not "
          "ours") {
    Ruleset rs = parse_data("cloudfoundry.iptables-save", Family::ipv4);
    auto logs = rules_of_kind(rs, RuleKind::log);
    std::vector<std::string> prefixes;
    for (auto *r : logs) prefixes.push_back(r->log_prefix);
    // Save order: chains sorted by name, built-in chains first.
    CHECK(prefixes == std::vector<std::string>{
                          "SSH_IN ",
                          "DENY_da966cab-6a60-49c4-4f90 ",
                          "DENY_ORL_d538d169-f2f6-4587- ",
                          "OK_d538d169-f2f6-4587-77b1-5 ",
                          "OK_d538d169-f2f6-4587-77b1-5 ",
                          "DENY_d538d169-f2f6-4587-77b1 ",
                          "DENY_C2C_da966cab-6a60-49c4- ",
                          "OK_0002_e9e8959f-3828-4136-8 ",
                          "OK_0002_e9e8959f-3828-4136-8 ",
                      });
    CHECK(rules_of_kind(rs, RuleKind::companion).empty());
    const FwRule &foreign = chain(rs, "INPUT").rules[1];
    CHECK(foreign.kind == RuleKind::other);
    CHECK(foreign.text == "-A INPUT -p udp -m udp --dport 5353 -j NFLOG --nflog-group 7");
}

TEST_CASE("companions are recognised by their owner comment and share their LOG rule's match key") {
    Ruleset rs = parse_data("cloudfoundry-alongside.iptables-save", Family::ipv4);
    auto comps = rules_of_kind(rs, RuleKind::companion);
    REQUIRE(comps.size() == 8);
    for (const auto &c : rs.chains) {
        for (std::size_t i = 0; i < c.rules.size(); ++i) {
            const FwRule &r = c.rules[i];
            if (r.kind != RuleKind::companion) continue;
            CAPTURE(r.text);
            REQUIRE(i > 0);
            const FwRule &log = c.rules[i - 1];
            CHECK(log.kind == RuleKind::log);
            CHECK(r.match_key == log.match_key);
            CHECK(r.log_prefix == log.log_prefix);
            CHECK(r.group == 42);
            CHECK(r.owner_class.size() > 0);
        }
    }
    const FwChain &rl = chain(rs, "netout--d538d169-f2f--rl-log");
    CHECK(rl.rules[1].owner_class == "asg-egress-denied-rate");
    CHECK(rl.rules[1].match_key == "-m limit --limit 1/sec --limit-burst 1");
}

TEST_CASE("the companion rule netlog renders is the line iptables-save prints for it") {
    // The alongside fixture was written by hand from the contract and printed by the real
    // iptables-legacy-save: rendering a companion for each LOG rule must give those lines.
    Ruleset plain = parse_data("cloudfoundry.iptables-save", Family::ipv4);
    Ruleset with = parse_data("cloudfoundry-alongside.iptables-save", Family::ipv4);
    const char *classes[][2] = {
        {"OK_0002_", "c2c-ingress-allowed"},     {"DENY_C2C_", "c2c-ingress-denied"},
        {"DENY_ORL_", "asg-egress-denied-rate"}, {"OK_", "asg-egress-allowed"},
        {"DENY_", "asg-egress-denied"},
    };
    int rendered = 0;
    for (std::size_t ci = 0; ci < plain.chains.size(); ++ci) {
        const FwChain &pc = plain.chains[ci];
        const FwChain &wc = chain(with, pc.chain);
        std::size_t offset = 0;
        for (const FwRule &r : pc.rules) {
            if (r.kind != RuleKind::log || r.log_prefix == "SSH_IN ") continue;
            Companion comp;
            for (auto &k : classes)
                if (r.log_prefix.rfind(k[0], 0) == 0 && comp.class_name.empty())
                    comp.class_name = k[1];
            comp.group = 42;
            comp.prefix = r.log_prefix;
            comp.snaplen = 128;
            comp.queue_threshold = 32;
            std::size_t pos = r.handle + offset; // 1-based position of the companion in `with`
            REQUIRE(pos < wc.rules.size() + 1);
            CHECK("-A " + pc.chain + " " + iptables_companion_spec(r.match_key, comp) ==
                  wc.rules[pos].text);
            ++offset;
            ++rendered;
        }
    }
    CHECK(rendered == 8);
}

TEST_CASE("strings are quoted the way iptables-save quotes them") {
    // Printed by iptables-legacy-save v1.8.9 for --log-prefix 'a"b'"'"'c\d', 'abc_1',
    // 'OK_0002_e9e8959f-3828-4136-8 ' and 'DENY_ORL_d538d169-f2f6-4587-7'.
    CHECK(iptables_quote("a\"b'c\\d") == R"("a\"b\'c\\d")");
    CHECK(iptables_quote("abc_1") == "abc_1");
    CHECK(iptables_quote("DENY_ORL_d538d169-f2f6-4587-7") == "DENY_ORL_d538d169-f2f6-4587-7");
    CHECK(iptables_quote("OK_0002_e9e8959f-3828-4136-8 ") == "\"OK_0002_e9e8959f-3828-4136-8 \"");
    CHECK(iptables_quote("netlog:c2c-ingress-allowed") == "\"netlog:c2c-ingress-allowed\"");
    CHECK(iptables_quote("") == "\"\"");
}

TEST_CASE("a LOG rule's escaped prefix and extra options are read back exactly") {
    // A line printed by iptables-legacy-save v1.8.9 (see the quoting test).
    auto r = iptables_rule_parse(
        R"(-A vpa--1 -p udp -m limit --limit 100/sec --limit-burst 100 -j LOG --log-prefix "a\"b\'c\\d" --log-level 6 --log-uid)",
        Family::ipv4, "filter");
    REQUIRE(r.ok());
    CHECK(r->kind == RuleKind::log);
    CHECK(r->log_prefix == "a\"b'c\\d");
    CHECK(r->log_options == "--log-level 6 --log-uid");
    CHECK(r->match_key == "-p udp -m limit --limit 100/sec --limit-burst 100");
}

TEST_CASE("rule counters from iptables-save -c are ignored") {
    auto r = iptables_rule_parse(
        R"([12:3456] -A asg-x -m limit --limit 1/sec --limit-burst 1 -j LOG --log-prefix "DENY_x ")",
        Family::ipv4, "filter");
    REQUIRE(r.ok());
    CHECK(r->chain == "asg-x");
    CHECK(r->log_prefix == "DENY_x ");
    CHECK(r->text.rfind("-A asg-x", 0) == 0);
}

TEST_CASE("a comment that is not ours stays part of the matches and the rule is not a companion") {
    auto r =
        iptables_rule_parse(R"(-A X -m comment --comment "kube: -j LOG" -j NFLOG --nflog-group 3)",
                            Family::ipv4, "filter");
    REQUIRE(r.ok());
    CHECK(r->kind == RuleKind::other);
    CHECK(r->match_key == R"(-m comment --comment "kube: -j LOG")");
}

TEST_CASE("malformed save text is refused with the line number") {
    auto r = iptables_save_parse(
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j LOG --log-prefix \"open\nCOMMIT\n",
        Family::ipv4);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("line 3") != std::string::npos);
    auto u = iptables_save_parse("*filter\n-A NOPE -j ACCEPT\nCOMMIT\n", Family::ipv4);
    REQUIRE_FALSE(u.ok());
    CHECK(u.error().message.find("NOPE") != std::string::npos);
    CHECK_FALSE(iptables_save_parse("-A INPUT -j ACCEPT\n", Family::ipv4).ok());
}

TEST_CASE("ip6tables-save output parses the same way") {
    Ruleset rs = parse_data("cloudfoundry-alongside.ip6tables-save", Family::ipv6);
    CHECK(rules_of_kind(rs, RuleKind::log).size() == 4);
    auto comps = rules_of_kind(rs, RuleKind::companion);
    REQUIRE(comps.size() == 4);
    for (auto *c : comps) CHECK(c->family == Family::ipv6);
}

TEST_CASE("restore input works bottom-up, inserts by position and deletes by full rule") {
    Plan plan;
    auto add = [&](std::uint64_t pos, PlanStep::Op op) {
        PlanStep s;
        s.op = op;
        s.rule.family = Family::ipv4;
        s.rule.table = "filter";
        s.rule.chain = "vpa--1";
        s.rule.handle = pos;
        s.rule.match_key = "-p tcp";
        s.rule.text = "-A vpa--1 -p tcp -j LOG"; // stands for the rule's save line
        s.rule.log_prefix = "OK_0002_x ";
        s.companion = Companion{"c2c-ingress-allowed", 42, "OK_0002_x ", 128, 32, ""};
        s.log.prefix = "OK_0002_x "; // restore_log: what the companion's prefix says
        plan.steps.push_back(s);
    };
    add(2, PlanStep::Op::add_after);
    add(7, PlanStep::Op::remove);
    add(4, PlanStep::Op::add_after);
    add(5, PlanStep::Op::restore_log);
    PlanStep other = plan.steps[0];
    other.rule.table = "nat";
    plan.steps.push_back(other);
    CHECK(iptables_plan_tables(plan, Family::ipv4) == std::vector<std::string>{"filter", "nat"});
    CHECK(iptables_plan_tables(plan, Family::ipv6).empty());
    CHECK(iptables_restore_input(plan, Family::ipv4, "filter") ==
          "*filter\n"
          "-D vpa--1 -p tcp -j LOG\n"
          "-D vpa--1 -p tcp -j LOG\n"
          "-I vpa--1 5 -p tcp -j LOG --log-prefix \"OK_0002_x \"\n"
          "-I vpa--1 5 -p tcp -m comment --comment \"netlog:c2c-ingress-allowed\" -j NFLOG "
          "--nflog-prefix \"OK_0002_x \" --nflog-group 42 --nflog-size 128 --nflog-threshold 32\n"
          "-I vpa--1 3 -p tcp -m comment --comment \"netlog:c2c-ingress-allowed\" -j NFLOG "
          "--nflog-prefix \"OK_0002_x \" --nflog-group 42 --nflog-size 128 --nflog-threshold 32\n"
          "COMMIT\n");
}

TEST_CASE("normalizing a save drops the dated comment lines and the counters") {
    std::string a = "# Generated by iptables-save v1.8.9 on Mon Nov 23 08:00:55 2026\n*filter\n"
                    ":INPUT ACCEPT [10:600]\n:x - [0:0]\n[3:180] -A INPUT -j x\nCOMMIT\n"
                    "# Completed on Mon Nov 23 08:00:55 2026\n";
    std::string b = "# Generated by iptables-save v1.8.9 on Mon Nov 23 09:00:00 2026\n*filter\n"
                    ":INPUT ACCEPT [0:0]\n:x - [0:0]\n-A INPUT -j x\nCOMMIT\n";
    CHECK(iptables_save_normalize(a) == iptables_save_normalize(b));
    CHECK(iptables_save_normalize(b) == "*filter\n:INPUT ACCEPT\n:x -\n-A INPUT -j x\nCOMMIT\n");
}

// Lines below are iptables-legacy-save 1.8.9's own output for rules added with
// `iptables-legacy -A INPUT ...` (kernel 6.18).
TEST_CASE("a LOG rule's level and flags are read from its options, and written back as saved") {
    const std::string line = "-A INPUT -p tcp -j LOG --log-prefix \"a \" --log-level 6 "
                             "--log-tcp-sequence --log-tcp-options --log-ip-options --log-uid "
                             "--log-macdecode";
    auto r = iptables_rule_parse(line, Family::ipv4, "filter");
    REQUIRE(r.ok());
    CHECK(r->log_level == 6);
    CHECK(r->log_flags == 0x2f);
    CHECK("-A INPUT " + iptables_log_spec(r->match_key, {r->log_prefix, 6, 0x2f}) == line);
    auto plain = iptables_rule_parse("-A INPUT -p tcp -j LOG", Family::ipv4, "filter");
    REQUIRE(plain.ok());
    CHECK(plain->log_level == 4);
    CHECK(plain->log_flags == 0);
    CHECK(iptables_rule_parse("-A INPUT -j LOG --log-level 9", Family::ipv4, "filter")
              .error()
              .message.find("bad --log-level '9'") != std::string::npos);
}

TEST_CASE("matches whose second evaluation changes state are named; read-only ones are not") {
    auto side = [](const std::string &line) {
        auto r = iptables_rule_parse(line, Family::ipv4, "filter");
        REQUIRE(r.ok());
        return r->side_effect;
    };
    CHECK(side("-A INPUT -m recent --set --name foo --mask 255.255.255.255 --rsource -j LOG "
               "--log-prefix \"r \"")
              .find("-m recent --set writes the recent list \"foo\"") == 0);
    CHECK(side("-A INPUT -m recent --rcheck --seconds 10 --reap --name foo --mask "
               "255.255.255.255 --rsource -j LOG --log-prefix \"r2 \"")
              .empty());
    CHECK(side("-A INPUT -m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 5 "
               "--hashlimit-name hl -j LOG --log-prefix \"h \"")
              .find("--hashlimit-name hl") != std::string::npos);
    CHECK(!side("-A INPUT -m quota --quota 100 -j LOG --log-prefix \"q \"").empty());
    CHECK(!side("-A INPUT -m statistic --mode nth --every 2 --packet 0 -j LOG").empty());
    CHECK(side("-A INPUT -p tcp -m connlimit --connlimit-above 2 --connlimit-mask 32 "
               "--connlimit-saddr -j LOG --log-prefix \"c \"")
              .empty());
    CHECK(side("-A INPUT -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix \"l \"")
              .empty());
}

TEST_CASE("alongside, a rule with a side effect is named and left alone; replace mirrors it") {
    auto rs =
        iptables_save_parse("*filter\n:INPUT ACCEPT [0:0]\n"
                            "-A INPUT -m recent --set --name r1 -j LOG --log-prefix \"DENY_R \"\n"
                            "-A INPUT -p tcp -j LOG --log-prefix \"DENY_P \" --log-level 6\n"
                            "COMMIT\n",
                            Family::ipv4);
    REQUIRE(rs.ok());
    auto rules = rules_parse("nflog: {group: 42}\nclasses:\n  - {name: d, log_prefix: '^DENY_', "
                             "direction: egress, verdict: denied}\n",
                             "t.yaml");
    REQUIRE(rules.ok());
    Plan p = plan_install(*rs, *rules, PlanMode::alongside);
    REQUIRE(p.steps.size() == 1);
    CHECK(p.steps[0].companion.prefix == "DENY_P ~nl600");
    REQUIRE(p.not_covered.size() == 1);
    CHECK(p.notes_text().rfind("not covered: ipv4 filter INPUT #1 \"DENY_R \": -m recent --set",
                               0) == 0);
    Plan r = plan_install(*rs, *rules, PlanMode::replace);
    CHECK(r.steps.size() == 2);
    CHECK(r.not_covered.empty());
    // The restore input says which step each line belongs to (line 1 is "*filter").
    std::vector<long> line_step;
    std::string in = iptables_restore_input(r, Family::ipv4, "filter", nullptr, &line_step);
    CHECK(std::count(in.begin(), in.end(), '\n') == static_cast<long>(line_step.size()));
    CHECK(line_step == std::vector<long>{-1, 1, 1, 0, 0, -1});
}

TEST_CASE("a comment with a newline (iptables accepts it, the save tools print it raw) is read "
          "as one rule, and the rules after it are read too") {
    // iptables-legacy-save v1.8.9 after
    //   iptables-legacy -A OUTPUT -p udp --dport 53 -m comment --comment $'a\nb' -j LOG ...
    //   iptables-legacy -A OUTPUT -p tcp -j LOG --log-prefix "OK_y "
    // in a fresh network namespace.
    const std::string text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
                             ":OUTPUT ACCEPT [0:0]\n"
                             "-A OUTPUT -p udp -m udp --dport 53 -m comment --comment \"a\n"
                             "b\" -j LOG --log-prefix \"DENY_x \"\n"
                             "-A OUTPUT -p tcp -j LOG --log-prefix \"OK_y \"\nCOMMIT\n";
    auto rs = iptables_save_parse(text, Family::ipv4);
    REQUIRE_MESSAGE(rs.ok(), (rs.ok() ? "" : rs.error().message));
    auto logs = rules_of_kind(*rs, RuleKind::log);
    REQUIRE(logs.size() == 2);
    CHECK(logs[0]->log_prefix == "DENY_x ");
    CHECK(logs[0]->text.find("--comment \"a\nb\"") != std::string::npos);
    CHECK(logs[1]->log_prefix == "OK_y ");
    CHECK(logs[1]->handle == 2);

    // Planned: the readable rule gets its companion, the other is named and skipped.
    auto rules =
        rules_parse("nflog: {group: 42}\nclasses:\n"
                    "  - {name: d, log_prefix: '^DENY_', direction: egress, verdict: denied}\n"
                    "  - {name: o, log_prefix: '^OK_', direction: egress, verdict: allowed}\n",
                    "test.yaml");
    REQUIRE(rules.ok());
    const Plan plan = plan_install(*rs, *rules, PlanMode::alongside);
    REQUIRE(plan.steps.size() == 1);
    CHECK(plan.steps[0].rule.log_prefix == "OK_y ");
    REQUIRE(plan.not_covered.size() == 1);
    CHECK(plan.not_covered[0].rule.log_prefix == "DENY_x ");
    CHECK(plan.not_covered[0].reason.find("line break") != std::string::npos);
}
