// `netlog-rules plan`: what install would change, one line per step; changes nothing.
#include "commands.h"

namespace netlog::cli {

int cmd_plan(Context &ctx) {
    std::size_t total = 0;
    for (auto &b : ctx.backends) {
        for (Family f : ctx.families) {
            auto rs = b->read(f);
            if (!rs) {
                complain(rs.error().message);
                return 1;
            }
            Plan plan = plan_install(*rs, ctx.rules, ctx.mode);
            say("{} {}: {} change{}, {} LOG rule{} covered", b->name(), to_string(f),
                plan.steps.size(), plan.steps.size() == 1 ? "" : "s", plan.covered.size(),
                plan.covered.size() == 1 ? "" : "s");
            std::string text = plan.to_text();
            if (!text.empty()) fmt::print("{}", text);
            total += plan.steps.size();
        }
    }
    if (total == 0) say("nothing to do");
    return 0;
}

} // namespace netlog::cli
