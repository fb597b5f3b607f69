// `netlog-rules install`: add the NFLOG companions, one transaction per table or batch,
// re-planned and retried if someone else changes the ruleset meanwhile. Idempotent. A
// companion the kernel refuses, or a LOG rule whose matches must not run twice, is named
// ("not covered: ...") and the others are installed; the exit status says which
// (commands.h, netlog-rules(8)).
#include "commands.h"

#include <set>

namespace netlog::cli {

int cmd_install(Context &ctx) {
    std::size_t changed = 0, covered = 0, not_covered = 0;
    bool failed = false;
    std::set<std::string> said; // one line per distinct error (no privilege fails each family)
    for (auto &b : ctx.backends) {
        for (Family f : ctx.families) {
            auto out = reconcile(*b, f, ctx.rules, ctx.mode, Goal::install, 5, ctx.icmp_errors);
            if (!out) {
                if (said.insert(out.error().message).second) complain(out.error().message);
                failed = true; // the other backends and families still get their companions
                continue;
            }
            Plan done;
            done.steps = out->applied;
            std::string text = done.to_text();
            if (!text.empty()) fmt::print("{}", text);
            Plan &last = out->last;
            std::erase_if(last.not_covered,
                          [&](const RuleNote &n) { return inet_seen_before(ctx, f, n.rule); });
            std::erase_if(last.not_carried,
                          [&](const RuleNote &n) { return inet_seen_before(ctx, f, n.rule); });
            say_notes(last);
            say_icmp_no_chain(*b, f, last);
            if (!last.icmp_rules.empty())
                say("{} {}: ICMP error rule in place in {}", b->name(), to_string(f),
                    chains_of(last.icmp_rules));
            covered += last.covered.size();
            not_covered += last.not_covered.size();
            changed += out->applied.size();
            if (!out->applied.empty() || !last.not_covered.empty())
                say("{} {}: {} change{} applied in {} transaction{} ({} retried), {} LOG rules "
                    "covered, {} not covered",
                    b->name(), to_string(f), out->applied.size(),
                    out->applied.size() == 1 ? "" : "s", out->attempts,
                    out->attempts == 1 ? "" : "s", out->conflicts, last.covered.size(),
                    last.not_covered.size());
        }
    }
    if (failed) return covered > 0 ? exit_partial : exit_failed;
    if (changed == 0 && not_covered == 0)
        say("nothing to do: {} LOG rule{} already covered", covered, covered == 1 ? "" : "s");
    return exit_status(covered, not_covered);
}

} // namespace netlog::cli
