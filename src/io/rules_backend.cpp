#include "rules_backend.h"

#include <fmt/format.h>

#include <thread>

namespace netlog {

Result<bool> RulesBackend::wait_change(std::chrono::milliseconds timeout) {
    std::this_thread::sleep_for(timeout);
    return true;
}

Result<ReconcileOutcome> reconcile(RulesBackend &backend, Family family, const RulesFile &rules,
                                   PlanMode mode, Goal goal, unsigned max_attempts) {
    ReconcileOutcome out;
    for (;;) {
        auto rs = backend.read(family);
        if (!rs) return rs.error();
        out.last =
            goal == Goal::install ? plan_install(*rs, rules, mode) : plan_remove(*rs, rules, mode);
        if (out.last.empty()) return out;
        if (out.attempts == max_attempts)
            return make_error(fmt::format(
                "{} {}: the ruleset kept changing while netlog-rules applied its plan ({} "
                "attempts, each all-or-nothing per table); run it again",
                backend.name(), to_string(family), out.attempts));
        ++out.attempts;
        auto st = backend.apply(out.last, family);
        if (!st) return st.error();
        if (*st == ApplyStatus::conflict) {
            ++out.conflicts;
        } else {
            out.applied_at = std::chrono::steady_clock::now();
            out.applied.insert(out.applied.end(), out.last.steps.begin(), out.last.steps.end());
        }
    }
}

} // namespace netlog
