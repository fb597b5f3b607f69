// `netlog-rules watch`: keep the companions in place while other agents rewrite chains.
// Each backend says when its ruleset may have changed (nft: netlink notifications;
// legacy: every --interval); then each family is reconciled and every reconcile that
// changed something is reported with its latency. SIGINT/SIGTERM stop it; in replace
// mode the LOG rules are put back on the way out.
#include "commands.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <set>

namespace netlog::cli {

namespace {

std::atomic<bool> stopping{false};

extern "C" void on_stop_signal(int) {
    stopping = true;
}

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
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

// "+2 -1 restored 0 in vpa--17000002,overlay--x": what a reconcile changed, and where.
std::string describe(const std::vector<PlanStep> &steps) {
    std::size_t added = 0, removed = 0, restored = 0;
    std::set<std::string> chains;
    for (const PlanStep &s : steps) {
        chains.insert(s.rule.table + "/" + s.rule.chain);
        switch (s.op) {
        case PlanStep::Op::add_after:
        case PlanStep::Op::replace:
            ++added;
            break;
        case PlanStep::Op::remove:
            ++removed;
            break;
        case PlanStep::Op::restore_log:
            ++restored;
            break;
        }
    }
    std::string out = fmt::format("+{} companion{} -{} rule{}", added, added == 1 ? "" : "s",
                                  removed, removed == 1 ? "" : "s");
    if (restored) out += fmt::format(" {} LOG rule{} restored", restored, restored == 1 ? "" : "s");
    return out + fmt::format(" in {}", fmt::join(chains, ","));
}

} // namespace

int cmd_watch(Context &ctx) {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);

    auto interval =
        std::chrono::milliseconds(std::max<long>(1, static_cast<long>(ctx.opts.interval * 1000)));
    auto per_backend = interval / static_cast<long>(ctx.backends.size());
    std::vector<std::string> names;
    for (auto &b : ctx.backends)
        names.push_back(b->name());
    std::vector<std::string_view> fams;
    for (Family f : ctx.families)
        fams.push_back(to_string(f));
    say("{} watching {} {}, mode {}, interval {} ms", utc_now(), fmt::join(names, "+"),
        fmt::join(fams, "+"), to_string(ctx.mode), interval.count());

    std::vector<Clock::time_point> last_check(ctx.backends.size(), Clock::now());
    std::uint64_t reconciles = 0;
    bool first = true;
    while (!stopping) {
        for (std::size_t bi = 0; bi < ctx.backends.size() && !stopping; ++bi) {
            RulesBackend &b = *ctx.backends[bi];
            if (!first) {
                // Poll on a fixed cadence: the time the last reconcile took counts.
                auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() -
                                                                                   last_check[bi]);
                auto timeout = std::max(std::chrono::milliseconds(1), per_backend - spent);
                auto changed = b.wait_change(timeout);
                if (!changed) {
                    complain(fmt::format("{}: {}", b.name(), changed.error().message));
                    continue;
                }
                if (!*changed || stopping) continue;
            }
            auto seen = Clock::now();
            for (Family f : ctx.families) {
                auto out = reconcile(b, f, ctx.rules, ctx.mode, Goal::install);
                if (!out) {
                    complain(out.error().message);
                    continue;
                }
                if (out->applied.empty()) continue;
                ++reconciles;
                // Latency: from the start of the check that saw the change to the commit of
                // the companions; the change itself happened after the previous check.
                say("{} reconcile {} {} {}: {} ({} LOG rules covered, verified); in place {:.1f} "
                    "ms "
                    "after the check that saw the change, {:.1f} ms after the previous check{}",
                    utc_now(), reconciles, b.name(), to_string(f), describe(out->applied),
                    out->last.covered.size(), ms_between(seen, out->applied_at),
                    ms_between(last_check[bi], out->applied_at),
                    out->conflicts
                        ? fmt::format(", {} transaction(s) retried after a concurrent change",
                                      out->conflicts)
                        : "");
            }
            last_check[bi] = seen;
        }
        first = false;
    }
    int rc = 0;
    if (ctx.mode == PlanMode::replace) {
        for (auto &b : ctx.backends)
            for (Family f : ctx.families) {
                auto out = reconcile(*b, f, ctx.rules, ctx.mode, Goal::remove);
                if (!out) {
                    complain(out.error().message);
                    rc = 1;
                } else if (!out->applied.empty()) {
                    say("{} {} {}: {} on exit", utc_now(), b->name(), to_string(f),
                        describe(out->applied));
                }
            }
    }
    say("{} stopped after {} reconcile{}", utc_now(), reconciles, reconciles == 1 ? "" : "s");
    return rc;
}

} // namespace netlog::cli
