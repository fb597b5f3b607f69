// `netlog-rules plan`: what install would change, one line per step, and the LOG rules it
// would leave uncovered or whose options it cannot carry, with why; changes nothing. On
// nftables the kernel checks the planned batch (and aborts it), so a companion it would
// refuse is named here too.
#include "commands.h"

#include <algorithm>

namespace netlog::cli {

int cmd_plan(Context &ctx) {
    std::size_t total = 0, covered = 0, not_covered = 0;
    for (auto &b : ctx.backends) {
        for (Family f : ctx.families) {
            auto rs = b->read(f);
            if (!rs) {
                complain(rs.error().message);
                return exit_failed;
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
            for (RuleNote &n : *refused) {
                plan.steps.erase(
                    std::remove_if(plan.steps.begin(), plan.steps.end(),
                                   [&](const PlanStep &s) { return same_rule(s.rule, n.rule); }),
                    plan.steps.end());
                plan.not_covered.push_back(std::move(n));
            }
            auto shared = [&](const FwRule &r) { return inet_seen_before(ctx, f, r); };
            std::erase_if(plan.steps, [&](const PlanStep &s) { return shared(s.rule); });
            std::erase_if(plan.not_covered, [&](const RuleNote &n) { return shared(n.rule); });
            std::erase_if(plan.not_carried, [&](const RuleNote &n) { return shared(n.rule); });
            say("{} {}: {} change{}, {} LOG rule{} covered, {} not covered", b->name(),
                to_string(f), plan.steps.size(), plan.steps.size() == 1 ? "" : "s",
                plan.covered.size(), plan.covered.size() == 1 ? "" : "s", plan.not_covered.size());
            std::string text = plan.to_text();
            if (!text.empty()) fmt::print("{}", text);
            say_notes(plan);
            say_icmp_no_chain(*b, f, plan);
            if (!plan.icmp_rules.empty())
                say("ICMP error rule in place in {}", chains_of(plan.icmp_rules));
            total += plan.steps.size();
            covered += plan.covered.size() + plan.steps.size();
            not_covered += plan.not_covered.size();
        }
    }
    if (total == 0 && not_covered == 0) say("nothing to do");
    return exit_ok;
}

} // namespace netlog::cli
