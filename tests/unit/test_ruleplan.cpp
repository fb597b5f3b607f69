// Rule planning: which LOG rules need an NFLOG companion, which companions go.
// Rulesets come from tests/data/rulesets/*.iptables-save (real iptables-legacy-save output
// of rules built from ../shared/facts/cloudfoundry.md §1); classes from rules/cloudfoundry.yaml.
#include "iptables_save.h"
#include <netlog/ruleplan.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

using namespace netlog;

namespace {

std::string read_path(const std::string &path) {
    std::ifstream f(path);
    REQUIRE_MESSAGE(f.good(), "missing " << path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

Ruleset ruleset(const std::string &name, Family family = Family::ipv4) {
    auto rs =
        iptables_save_parse(read_path(std::string(NETLOG_TEST_DATA) + "/rulesets/" + name), family);
    REQUIRE_MESSAGE(rs.ok(), (rs.ok() ? "" : rs.error().message));
    return *rs;
}

RulesFile cf_rules(const std::string &extra = "") {
    std::string text =
        read_path(std::string(NETLOG_SOURCE_ROOT) + "/rules/cloudfoundry.yaml") + extra;
    auto rf = rules_parse(text, "cloudfoundry.yaml");
    REQUIRE_MESSAGE(rf.ok(), (rf.ok() ? "" : rf.error().message));
    return *rf;
}

std::size_t count_op(const Plan &p, PlanStep::Op op) {
    return static_cast<std::size_t>(std::count_if(p.steps.begin(), p.steps.end(),
                                                  [op](const PlanStep &s) { return s.op == op; }));
}

FwChain &chain(Ruleset &rs, std::string_view name) {
    for (auto &c : rs.chains)
        if (c.chain == name) return c;
    FAIL("no chain " << name);
    return rs.chains.front();
}

void renumber(FwChain &c) {
    for (std::size_t i = 0; i < c.rules.size(); ++i) c.rules[i].handle = i + 1;
}

} // namespace

TEST_CASE("install on a bare cell adds one companion after each of the eight classed LOG rules") {
    Plan p = plan_install(ruleset("cloudfoundry.iptables-save"), cf_rules(), PlanMode::alongside);
    CHECK(p.steps.size() == 8);
    CHECK(count_op(p, PlanStep::Op::add_after) == 8);
    CHECK(p.covered.empty());
    REQUIRE(p.unmatched.size() == 1);
    CHECK(p.unmatched[0].log_prefix == "SSH_IN ");
    CHECK(p.unused_classes.empty());
    for (const PlanStep &s : p.steps) {
        CAPTURE(s.rule.text);
        CHECK(s.companion.prefix == s.rule.log_prefix); // NFLOG carries the full prefix
        CHECK(s.companion.group == 42);
        CHECK(s.companion.snaplen == 128);
        CHECK(s.companion.queue_threshold == 32);
        CHECK(s.rule.chain != "INPUT"); // neither SSH_IN nor the foreign NFLOG rule is touched
    }
    // The classes the facts assign to each prefix kind.
    auto class_of = [&](std::string_view prefix_start) {
        for (const PlanStep &s : p.steps)
            if (s.rule.log_prefix.rfind(prefix_start, 0) == 0) return s.companion.class_name;
        return std::string();
    };
    CHECK(class_of("OK_0002_") == "c2c-ingress-allowed");
    CHECK(class_of("DENY_C2C_") == "c2c-ingress-denied");
    CHECK(class_of("DENY_ORL_") == "asg-egress-denied-rate");
    CHECK(class_of("OK_d538") == "asg-egress-allowed");
    CHECK(class_of("DENY_d538") == "asg-egress-denied");
}

TEST_CASE("the companion of a rate-limited LOG rule keeps the limit match") {
    Plan p = plan_install(ruleset("cloudfoundry.iptables-save"), cf_rules(), PlanMode::alongside);
    bool seen = false;
    for (const PlanStep &s : p.steps)
        if (s.rule.chain == "asg-da966cab6a6049c44f90") {
            seen = true;
            CHECK(iptables_companion_spec(s.rule.match_key, s.companion)
                      .rfind("-m limit --limit 1/sec --limit-burst 1 -m comment", 0) == 0);
        }
    CHECK(seen);
}

TEST_CASE("install where every companion is in place plans nothing and reports all covered") {
    Plan p = plan_install(ruleset("cloudfoundry-alongside.iptables-save"), cf_rules(),
                          PlanMode::alongside);
    CHECK(p.empty());
    CHECK(p.covered.size() == 8);
    CHECK(p.to_text().empty());
    Plan p6 = plan_install(ruleset("cloudfoundry-alongside.ip6tables-save", Family::ipv6),
                           cf_rules(), PlanMode::alongside);
    CHECK(p6.empty());
    CHECK(p6.covered.size() == 4);
}

TEST_CASE("a companion whose LOG rule is gone is orphaned and removed") {
    Ruleset rs = ruleset("cloudfoundry-alongside.iptables-save");
    FwChain &asg = chain(rs, "asg-da966cab6a6049c44f90");
    REQUIRE(asg.rules[1].kind == RuleKind::log);
    asg.rules.erase(asg.rules.begin() + 1);
    renumber(asg);
    Plan p = plan_install(rs, cf_rules(), PlanMode::alongside);
    REQUIRE(p.steps.size() == 1);
    CHECK(p.steps[0].op == PlanStep::Op::remove);
    CHECK(p.steps[0].rule.chain == "asg-da966cab6a6049c44f90");
    CHECK(p.steps[0].rule.handle == 2);
    CHECK(p.steps[0].rule.kind == RuleKind::companion);
}

TEST_CASE("a companion that no longer matches the rules file is replaced: removed, then re-added") {
    std::string yaml = read_path(std::string(NETLOG_SOURCE_ROOT) + "/rules/cloudfoundry.yaml");
    auto pos = yaml.find("group: 42");
    REQUIRE(pos != std::string::npos);
    yaml.replace(pos, 9, "group: 43");
    auto rf = rules_parse(yaml, "cf43.yaml");
    REQUIRE(rf.ok());
    Plan p =
        plan_install(ruleset("cloudfoundry-alongside.iptables-save"), *rf, PlanMode::alongside);
    CHECK(count_op(p, PlanStep::Op::add_after) == 8);
    CHECK(count_op(p, PlanStep::Op::remove) == 8);
    for (const PlanStep &s : p.steps)
        if (s.op == PlanStep::Op::add_after) CHECK(s.companion.group == 43);
}

TEST_CASE(
    "a class that matches no LOG rule is reported unused; a LOG rule of no class is left alone") {
    RulesFile rf = cf_rules(
        "  - {name: never-seen, log_prefix: '^NEVER_', direction: egress, verdict: denied}\n");
    Plan p = plan_install(ruleset("cloudfoundry.iptables-save"), rf, PlanMode::alongside);
    CHECK(p.unused_classes == std::vector<std::string>{"never-seen"});
    REQUIRE(p.unmatched.size() == 1);
    CHECK(p.unmatched[0].text == "-A INPUT -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -j "
                                 "LOG --log-prefix \"SSH_IN \"");
}

TEST_CASE("replace mode puts a companion in the place of each plain LOG rule") {
    Plan p = plan_install(ruleset("cloudfoundry.iptables-save"), cf_rules(), PlanMode::replace);
    CHECK(p.steps.size() == 8);
    CHECK(count_op(p, PlanStep::Op::replace) == 8);
}

TEST_CASE("replace mode replaces a LOG rule with options too: its companion's tag carries them") {
    Ruleset rs = ruleset("cloudfoundry.iptables-save");
    FwChain &asg = chain(rs, "asg-da966cab6a6049c44f90");
    asg.rules[1].log_level = 6;
    asg.rules[1].log_flags = log_flag_tcpseq | log_flag_uid;
    Plan p = plan_install(rs, cf_rules(), PlanMode::replace);
    CHECK(count_op(p, PlanStep::Op::replace) == 8);
    for (const PlanStep &s : p.steps)
        if (s.rule.chain == "asg-da966cab6a6049c44f90")
            CHECK(s.companion.prefix == s.rule.log_prefix + "~nl609");
        else
            CHECK(s.companion.prefix == s.rule.log_prefix);
}

TEST_CASE("replace mode keeps a LOG rule whose options do not fit the tag, mirrored alongside") {
    Ruleset rs = ruleset("cloudfoundry.iptables-save");
    FwChain &asg = chain(rs, "asg-da966cab6a6049c44f90");
    asg.rules[1].log_level = 6;
    asg.rules[1].log_prefix = "DENY_" + std::string(55, 'x'); // 60 + 6 > 63: no room
    Plan p = plan_install(rs, cf_rules(), PlanMode::replace);
    CHECK(count_op(p, PlanStep::Op::replace) == 7);
    CHECK(count_op(p, PlanStep::Op::add_after) == 1);
    REQUIRE(p.not_carried.size() == 1);
    CHECK(p.not_carried[0].reason.find("no room for the options tag") != std::string::npos);
    CHECK(p.notes_text().rfind("not carried: ipv4 filter asg-da966cab6a6049c44f90 #2", 0) == 0);
}

TEST_CASE("replace mode over an alongside install drops the LOG rules, keeps the companions") {
    Plan p = plan_install(ruleset("cloudfoundry-alongside.iptables-save"), cf_rules(),
                          PlanMode::replace);
    CHECK(count_op(p, PlanStep::Op::remove) == 8);
    for (const PlanStep &s : p.steps) CHECK(s.rule.kind == RuleKind::log);
}

// The ruleset after a replace-mode install: each companion stands where its LOG rule was.
Ruleset replaced_ruleset() {
    Ruleset rs = ruleset("cloudfoundry-alongside.iptables-save");
    for (FwChain &c : rs.chains) {
        std::vector<FwRule> kept;
        for (std::size_t i = 0; i < c.rules.size(); ++i)
            if (!(c.rules[i].kind == RuleKind::log && i + 1 < c.rules.size() &&
                  c.rules[i + 1].kind == RuleKind::companion))
                kept.push_back(c.rules[i]);
        c.rules = kept;
        renumber(c);
    }
    return rs;
}

TEST_CASE("a replace-mode install is stable, and its removal restores each LOG rule in place") {
    Ruleset rs = replaced_ruleset();
    Plan again = plan_install(rs, cf_rules(), PlanMode::replace);
    CHECK(again.empty());
    CHECK(again.covered.size() == 8);
    Plan rm = plan_remove(rs, cf_rules(), PlanMode::replace);
    REQUIRE(rm.steps.size() == 8);
    CHECK(count_op(rm, PlanStep::Op::restore_log) == 8);
    // The restored rule is the original LOG rule as iptables-save printed it.
    Ruleset plain = ruleset("cloudfoundry.iptables-save");
    for (const PlanStep &s : rm.steps) {
        const FwRule &orig = chain(plain, s.rule.chain).rules[s.rule.handle - 1];
        CHECK("-A " + s.rule.chain + " " + iptables_log_spec(s.rule.match_key, s.log) == orig.text);
    }
}

TEST_CASE("remove deletes exactly the companions, and nothing on a ruleset without them") {
    Plan rm = plan_remove(ruleset("cloudfoundry-alongside.iptables-save"), cf_rules(),
                          PlanMode::alongside);
    CHECK(rm.steps.size() == 8);
    for (const PlanStep &s : rm.steps) {
        CHECK(s.op == PlanStep::Op::remove);
        CHECK(s.rule.kind == RuleKind::companion);
    }
    // In replace mode an alongside companion (its LOG rule still before it) is only removed.
    Plan rm2 =
        plan_remove(ruleset("cloudfoundry-alongside.iptables-save"), cf_rules(), PlanMode::replace);
    CHECK(count_op(rm2, PlanStep::Op::remove) == 8);
    CHECK(plan_remove(ruleset("cloudfoundry.iptables-save"), cf_rules(), PlanMode::alongside)
              .empty());
}

TEST_CASE("two identical LOG rules each get their own companion") {
    Ruleset rs = ruleset("cloudfoundry.iptables-save");
    FwChain &asg = chain(rs, "asg-da966cab6a6049c44f90");
    asg.rules.insert(asg.rules.begin() + 1, asg.rules[1]);
    renumber(asg);
    Plan p = plan_install(rs, cf_rules(), PlanMode::alongside);
    CHECK(count_op(p, PlanStep::Op::add_after) == 9);
}

TEST_CASE("the printed plan has one line per step naming family, table, chain and position") {
    Plan p = plan_install(ruleset("cloudfoundry.iptables-save"), cf_rules(), PlanMode::alongside);
    std::string text = p.to_text();
    CHECK(std::count(text.begin(), text.end(), '\n') == 8);
    CHECK(text.find("add ipv4 filter asg-da966cab6a6049c44f90 #2: NFLOG group 42 class "
                    "asg-egress-denied") != std::string::npos);
}

TEST_CASE("an install from before the options tag is brought up to date in either mode") {
    // A LOG rule with --log-level 6 and the untagged companion an older netlog-rules put
    // after it.
    Ruleset rs = ruleset("cloudfoundry-alongside.iptables-save");
    FwChain &asg = chain(rs, "asg-da966cab6a6049c44f90");
    REQUIRE(asg.rules[1].kind == RuleKind::log);
    REQUIRE(asg.rules[2].kind == RuleKind::companion);
    asg.rules[1].log_level = 6;
    Plan a = plan_install(rs, cf_rules(), PlanMode::alongside);
    REQUIRE(a.steps.size() == 2);
    CHECK(count_op(a, PlanStep::Op::add_after) == 1);
    CHECK(count_op(a, PlanStep::Op::remove) == 1); // the untagged one
    Plan r = plan_install(rs, cf_rules(), PlanMode::replace);
    for (const PlanStep &s : r.steps)
        if (s.rule.chain == "asg-da966cab6a6049c44f90") {
            CAPTURE(s.rule.text);
            if (s.rule.kind == RuleKind::log) {
                CHECK(s.op == PlanStep::Op::replace);
                CHECK(s.companion.prefix == s.rule.log_prefix + "~nl600");
            } else {
                CHECK(s.op == PlanStep::Op::remove);
            }
        }
    CHECK(count_op(r, PlanStep::Op::restore_log) == 0);
}
