// `netlog-rules remove`: delete exactly the rules carrying netlog's owner tag; in replace
// mode put the original LOG rule back in each companion's place.
#include "commands.h"

namespace netlog::cli {

int cmd_remove(Context &ctx) {
    std::size_t removed = 0, restored = 0, icmp = 0;
    for (auto &b : ctx.backends) {
        for (Family f : ctx.families) {
            auto out = reconcile(*b, f, ctx.rules, ctx.mode, Goal::remove);
            if (!out) {
                complain(out.error().message);
                return 1;
            }
            Plan done;
            done.steps = out->applied;
            std::string text = done.to_text();
            if (!text.empty()) fmt::print("{}", text);
            for (const PlanStep &s : out->applied) {
                if (is_icmp_error_rule(s.rule))
                    ++icmp;
                else
                    (s.op == PlanStep::Op::restore_log ? restored : removed)++;
            }
        }
    }
    if (removed + restored + icmp == 0)
        say("nothing to do: no netlog companions installed");
    else
        say("removed {} companion{}, restored {} LOG rule{}{}", removed, removed == 1 ? "" : "s",
            restored, restored == 1 ? "" : "s",
            icmp ? fmt::format(", removed {} ICMP error rule{}", icmp, icmp == 1 ? "" : "s")
                 : std::string());
    return 0;
}

} // namespace netlog::cli
