// `netlog-rules status`: which LOG rules are covered by a companion, which are not, which
// companions are orphaned, which LOG rules match no class and which classes match nothing.
#include "commands.h"

#include <algorithm>

namespace netlog::cli {

int cmd_status(Context &ctx) {
    std::vector<std::string> unused;
    bool first = true;
    for (auto &b : ctx.backends) {
        for (Family f : ctx.families) {
            auto rs = b->read(f);
            if (!rs) {
                complain(rs.error().message);
                return 1;
            }
            PlanOptions po;
            po.mode = ctx.mode;
            po.prefix_max = b->prefix_max();
            po.icmp_errors = ctx.icmp_errors;
            Plan plan = plan_install(*rs, ctx.rules, po);
            auto refused = b->check(plan, f);
            if (!refused) {
                complain(refused.error().message);
                return exit_failed;
            }
            std::vector<std::string> lines;
            std::size_t not_covered = plan.not_covered.size(), orphaned = 0, stale = 0,
                        covered = plan.covered.size();
            for (const RuleNote &n : plan.not_covered)
                lines.push_back(fmt::format("  not covered: {}: {}", rule_where(n.rule), n.reason));
            for (const RuleNote &n : *refused)
                if (n.rule.kind == RuleKind::log) {
                    ++not_covered;
                    lines.push_back(
                        fmt::format("  not covered: {}: {}", rule_where(n.rule), n.reason));
                }
            for (const FwRule &r : plan.covered)
                lines.push_back(fmt::format("  covered      {}", rule_where(r)));
            for (const FwRule &r : plan.icmp_rules)
                lines.push_back(fmt::format("  ICMP error rule in place: {} {} #{}", r.table,
                                            r.chain, r.handle));
            if (plan.icmp_no_chain) lines.push_back(fmt::format("  {}", icmp_no_chain_text));
            for (const PlanStep &s : plan.steps) {
                if (s.op == PlanStep::Op::insert_first) {
                    lines.push_back(fmt::format("  ICMP error rule missing: {} {} (install adds "
                                                "it)",
                                                s.rule.table, s.rule.chain));
                    continue;
                }
                if (is_icmp_error_rule(s.rule)) {
                    lines.push_back(
                        fmt::format("  ICMP error rule to remove: {}", rule_where(s.rule)));
                    continue;
                }
                if (s.rule.kind == RuleKind::log && s.op == PlanStep::Op::remove) {
                    ++covered; // replace mode, installed alongside: covered all the same
                    lines.push_back(
                        fmt::format("  covered      {} (alongside)", rule_where(s.rule)));
                } else if (s.rule.kind == RuleKind::log) {
                    bool refused_now = false;
                    for (const RuleNote &n : *refused)
                        refused_now = refused_now || same_rule(n.rule, s.rule);
                    if (refused_now) continue;
                    ++not_covered;
                    lines.push_back(fmt::format("  not covered  {} -> class {}", rule_where(s.rule),
                                                s.companion.class_name));
                } else if (s.op == PlanStep::Op::remove) {
                    ++orphaned;
                    lines.push_back(fmt::format("  orphaned     {} (companion of class {})",
                                                rule_where(s.rule), s.rule.owner_class));
                } else {
                    ++stale;
                    lines.push_back(fmt::format("  stale        {} (companion of class {})",
                                                rule_where(s.rule), s.rule.owner_class));
                }
            }
            for (const FwRule &r : plan.unmatched)
                lines.push_back(fmt::format("  no class     {} (left alone)", rule_where(r)));
            for (const RuleNote &n : plan.not_carried)
                lines.push_back(fmt::format("  not carried: {}: {}", rule_where(n.rule), n.reason));
            say("{} {}: {} LOG rule{} covered, {} not covered, {} orphaned companion{}{}, {} LOG "
                "rule{} of no class",
                b->name(), to_string(f), covered, covered == 1 ? "" : "s", not_covered, orphaned,
                orphaned == 1 ? "" : "s", stale ? fmt::format(", {} stale", stale) : "",
                plan.unmatched.size(), plan.unmatched.size() == 1 ? "" : "s");
            for (const auto &l : lines) say("{}", l);
            // A class is unused when no backend and no family has a LOG rule for it.
            if (first)
                unused = plan.unused_classes;
            else
                unused.erase(std::remove_if(unused.begin(), unused.end(),
                                            [&](const std::string &c) {
                                                return std::find(plan.unused_classes.begin(),
                                                                 plan.unused_classes.end(),
                                                                 c) == plan.unused_classes.end();
                                            }),
                             unused.end());
            first = false;
        }
    }
    say("unused classes: {}", unused.empty() ? "none" : fmt::format("{}", fmt::join(unused, " ")));
    return exit_ok;
}

} // namespace netlog::cli
