// `netlog-rules install`: add the NFLOG companions, one transaction per table or batch,
// re-planned and retried if someone else changes the ruleset meanwhile. Idempotent.
#include "commands.h"

namespace netlog::cli {

int cmd_install(Context &ctx) {
    std::size_t changed = 0, covered = 0;
    for (auto &b : ctx.backends) {
        for (Family f : ctx.families) {
            auto out = reconcile(*b, f, ctx.rules, ctx.mode, Goal::install);
            if (!out) {
                complain(out.error().message);
                return 1;
            }
            Plan done;
            done.steps = out->applied;
            std::string text = done.to_text();
            if (!text.empty()) fmt::print("{}", text);
            covered += out->last.covered.size();
            changed += out->applied.size();
            if (!out->applied.empty())
                say("{} {}: {} change{} applied in {} transaction{} ({} retried), {} LOG rules "
                    "covered",
                    b->name(), to_string(f), out->applied.size(),
                    out->applied.size() == 1 ? "" : "s", out->attempts,
                    out->attempts == 1 ? "" : "s", out->conflicts, out->last.covered.size());
        }
    }
    if (changed == 0)
        say("nothing to do: {} LOG rule{} already covered", covered, covered == 1 ? "" : "s");
    return 0;
}

} // namespace netlog::cli
