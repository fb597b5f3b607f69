#include "rules_backend.h"

#include <fmt/format.h>

#include <thread>

namespace netlog {

Result<bool> RulesBackend::wait_change(std::chrono::milliseconds timeout) {
    std::this_thread::sleep_for(timeout);
    return true;
}

Result<std::vector<RuleNote>> RulesBackend::check(const Plan &, Family) {
    return std::vector<RuleNote>{};
}

Result<ReconcileOutcome> reconcile(RulesBackend &backend, Family family, const RulesFile &rules,
                                   PlanMode mode, Goal goal, unsigned max_attempts,
                                   bool icmp_errors) {
    ReconcileOutcome out;
    PlanOptions po;
    po.mode = mode;
    po.icmp_errors = icmp_errors;
    po.prefix_max = backend.prefix_max();
    // Each round either commits something, refuses something (never planned again) or
    // conflicts; a bound on the rounds besides the conflicts guards against a loop.
    unsigned rounds = 0, unproductive = 0;
    for (;;) {
        auto rs = backend.read(family);
        if (!rs) return rs.error();
        po.refused = out.refused;
        out.last =
            goal == Goal::install ? plan_install(*rs, rules, po) : plan_remove(*rs, rules, mode);
        if (out.last.empty()) return out;
        if (out.conflicts == max_attempts || ++rounds > 64 + out.last.steps.size())
            return make_error(fmt::format(
                "{} {}: the ruleset kept changing while netlog-rules applied its plan ({} "
                "attempts, each all-or-nothing per table); run it again",
                backend.name(), to_string(family), out.attempts));
        ++out.attempts;
        RulesBackend::Report report;
        auto st = backend.apply(out.last, family, report);
        if (!st) return st.error();
        if (*st == ApplyStatus::conflict) {
            ++out.conflicts;
            continue;
        }
        out.refused.insert(out.refused.end(), report.refused.begin(), report.refused.end());
        // A refusal of every companion (no NFLOG target in this kernel, ...) is one error,
        // not thousands of rules found one by one (legacy finds one per transaction).
        unproductive = report.applied.empty() ? unproductive + 1 : 0;
        if (unproductive >= 8 && out.applied.empty())
            return make_error(fmt::format("{} {}: the kernel refused the first {} companions and "
                                          "took none: {}: {}; nothing was changed",
                                          backend.name(), to_string(family), out.refused.size(),
                                          rule_name(out.refused.front().rule),
                                          out.refused.front().reason));
        if (!report.applied.empty()) out.applied_at = std::chrono::steady_clock::now();
        for (std::size_t i : report.applied) out.applied.push_back(out.last.steps[i]);
    }
}

} // namespace netlog
