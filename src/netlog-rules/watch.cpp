// `netlog-rules watch`: keep the companions in place while other agents rewrite chains.
// The loop is rules_watch() (src/io/rules_watch.h), shared with netlogd's manage_rules;
// this file prints each reconcile that changed something, with its latency. SIGINT/SIGTERM stop it; in replace
// mode the LOG rules are put back on the way out.
#include "commands.h"
#include "rules_watch.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <map>

namespace netlog::cli {

namespace {

std::atomic<bool> stopping{false};

extern "C" void on_stop_signal(int) {
    stopping = true;
}

std::string utc_now() {
    auto now = std::chrono::system_clock::now();
    auto secs = std::chrono::system_clock::to_time_t(now);
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

} // namespace

int cmd_watch(Context &ctx) {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);

    WatchOptions wo;
    wo.families = ctx.families;
    wo.mode = ctx.mode;
    wo.icmp_errors = ctx.icmp_errors;
    wo.interval =
        std::chrono::milliseconds(std::max<long>(1, static_cast<long>(ctx.opts.interval * 1000)));
    std::vector<std::string> names;
    for (auto &b : ctx.backends) names.push_back(b->name());
    std::vector<std::string_view> fams;
    for (Family f : ctx.families) fams.push_back(to_string(f));
    say("{} watching {} {}, mode {}, interval {} ms", utc_now(), fmt::join(names, "+"),
        fmt::join(fams, "+"), to_string(ctx.mode), wo.interval.count());

    std::uint64_t reconciles = 0, conflicts = 0;
    WatchHooks hooks;
    hooks.on_error = [](const std::string &e) { complain(e); };
    // The LOG rules left uncovered, per backend and family: said when the list changes.
    std::map<std::string, std::string> uncovered;
    hooks.on_coverage = [&](const WatchCoverage &c) {
        Plan p;
        p.not_covered = c.not_covered;
        std::string text = p.notes_text();
        std::string &was = uncovered[c.backend + " " + std::string(to_string(c.family))];
        if (text == was) return;
        was = text;
        if (!text.empty()) text.pop_back();
        say("{} {} {}: {} LOG rule{} not covered (retried at every check){}{}", utc_now(),
            c.backend, to_string(c.family), c.not_covered.size(),
            c.not_covered.size() == 1 ? "" : "s", text.empty() ? "" : "\n", text);
    };
    hooks.on_reconcile = [&](const WatchReconcile &r) {
        conflicts += r.conflicts;
        std::string retried =
            r.conflicts
                ? fmt::format(", {} transaction(s) retried after a concurrent change", r.conflicts)
                : "";
        if (r.applied.empty()) {
            say("{} conflict {} {}: nothing left to do{}", utc_now(), r.backend,
                to_string(r.family), retried);
            return;
        }
        ++reconciles;
        // Latency: from the start of the check that saw the change to the commit of the
        // companions; the change itself happened after the previous check.
        say("{} reconcile {} {} {}: {} ({} LOG rules covered, verified); in place {:.1f} ms "
            "after the check that saw the change, {:.1f} ms after the previous check{}",
            utc_now(), reconciles, r.backend, to_string(r.family), rules_describe(r.applied),
            r.covered, r.latency_ms, r.since_previous_ms, retried);
    };
    rules_watch(ctx.backends, ctx.rules, wo, stopping, hooks);

    int rc = 0;
    if (ctx.mode == PlanMode::replace) {
        WatchHooks exit_hooks;
        exit_hooks.on_error = [&rc](const std::string &e) {
            complain(e);
            rc = 1;
        };
        exit_hooks.on_reconcile = [](const WatchReconcile &r) {
            if (!r.applied.empty())
                say("{} {} {}: {} on exit", utc_now(), r.backend, to_string(r.family),
                    rules_describe(r.applied));
        };
        (void)rules_reconcile_all(ctx.backends, ctx.rules, wo, Goal::remove, exit_hooks);
    }
    say("{} stopped after {} reconcile{}, {} transaction{} retried after a concurrent change",
        utc_now(), reconciles, reconciles == 1 ? "" : "s", conflicts, conflicts == 1 ? "" : "s");
    return rc;
}

} // namespace netlog::cli
