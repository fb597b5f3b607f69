// The reconcile loop of `netlog-rules watch` and netlogd's manage_rules (rules_watch.h).
#include "rules_watch.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace netlog {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

std::size_t rule_count(const Ruleset &rs) {
    std::size_t n = 0;
    for (const FwChain &c : rs.chains) n += c.rules.size();
    return n;
}

// Rules in the backend's tables, over the families; an Error if it cannot be read.
Result<std::size_t> rules_in(RulesBackend &b, const std::vector<Family> &families) {
    std::size_t n = 0;
    for (Family f : families) {
        auto rs = b.read(f);
        if (!rs) return rs.error();
        n += rule_count(*rs);
    }
    return n;
}

// Reconcile one family of one backend; hooks hear of anything that happened.
// `refused`: set when the kernel refused a companion (worth trying again later, even when
// nothing else changes: a module may load, a chain may move).
bool reconcile_one(RulesBackend &b, Family f, const RulesFile &rules, const WatchOptions &o,
                   Goal goal, Clock::time_point seen, Clock::time_point previous,
                   WatchTotals &totals, const WatchHooks &hooks, bool *refused = nullptr,
                   bool first_family = true) {
    auto out = reconcile(b, f, rules, o.mode, goal, 5, o.icmp_errors);
    if (refused && out && !out->refused.empty()) *refused = true;
    if (!out) {
        ++totals.errors;
        if (hooks.on_error) hooks.on_error(out.error().message);
        return false;
    }
    totals.conflicts += out->conflicts;
    if (hooks.on_coverage && goal == Goal::install) {
        WatchCoverage c{b.name(), f, out->last.covered.size(), out->last.not_covered,
                        out->last.icmp_no_chain};
        if (!first_family) // an inet table is read with both families: count it once
            std::erase_if(c.not_covered,
                          [](const RuleNote &n) { return n.rule.table.rfind("inet:", 0) == 0; });
        hooks.on_coverage(c);
    }
    if (out->attempts == 0) return true;
    if (!out->applied.empty()) ++totals.reconciles;
    WatchReconcile r;
    r.backend = b.name();
    r.family = f;
    r.applied = std::move(out->applied);
    r.covered = out->last.covered.size();
    r.attempts = out->attempts;
    r.conflicts = out->conflicts;
    const auto at = r.applied.empty() ? Clock::now() : out->applied_at;
    r.latency_ms = ms_between(seen, at);
    r.since_previous_ms = ms_between(previous, at);
    if (hooks.on_reconcile) hooks.on_reconcile(r);
    return true;
}

} // namespace

Result<std::vector<std::unique_ptr<RulesBackend>>>
rules_backends_pick(const std::string &which, const std::vector<Family> &families,
                    std::string &why) {
    std::vector<std::unique_ptr<RulesBackend>> out;
    if (which == "legacy") {
        out.push_back(make_legacy_backend());
        why = "legacy (asked for)";
        return out;
    }
    if (which == "nft") {
        out.push_back(make_nft_backend());
        why = "nft (asked for)";
        return out;
    }
    if (which != "auto")
        return make_error(fmt::format("unknown backend '{}': use auto, nft or legacy", which));
    auto legacy = make_legacy_backend();
    auto nft = make_nft_backend();
    auto in_legacy = rules_in(*legacy, families);
    auto in_nft = rules_in(*nft, families);
    if (!in_legacy && !in_nft) return in_legacy.error();
    std::size_t nl = in_legacy ? *in_legacy : 0, nn = in_nft ? *in_nft : 0;
    std::string counts =
        fmt::format("{} rules in iptables-legacy tables{}, {} in nftables{}", nl,
                    in_legacy ? "" : " (unreadable: " + in_legacy.error().message + ")", nn,
                    in_nft ? "" : " (unreadable: " + in_nft.error().message + ")");
    if (nl > 0 && nn > 0) {
        why = fmt::format("legacy and nft ({})", counts);
        out.push_back(std::move(legacy));
        out.push_back(std::move(nft));
    } else if (nl > 0) {
        why = fmt::format("legacy ({})", counts);
        out.push_back(std::move(legacy));
    } else {
        why = fmt::format("nft ({})", counts);
        out.push_back(std::move(nft));
    }
    return out;
}

std::string rules_describe(const std::vector<PlanStep> &steps) {
    std::size_t added = 0, removed = 0, restored = 0, icmp = 0;
    std::set<std::string> chains;
    for (const PlanStep &s : steps) {
        chains.insert(s.rule.table + "/" + s.rule.chain);
        switch (s.op) {
        case PlanStep::Op::insert_first: ++icmp; break;
        case PlanStep::Op::add_after:
        case PlanStep::Op::replace: ++added; break;
        case PlanStep::Op::remove: ++removed; break;
        case PlanStep::Op::restore_log: ++restored; break;
        }
    }
    std::string out = fmt::format("+{} companion{} -{} rule{}", added, added == 1 ? "" : "s",
                                  removed, removed == 1 ? "" : "s");
    if (restored) out += fmt::format(" {} LOG rule{} restored", restored, restored == 1 ? "" : "s");
    if (icmp) out += fmt::format(" +{} ICMP error rule{}", icmp, icmp == 1 ? "" : "s");
    return out + fmt::format(" in {}", fmt::join(chains, ","));
}

WatchTotals rules_watch(std::vector<std::unique_ptr<RulesBackend>> &backends,
                        const RulesFile &rules, const WatchOptions &options,
                        const std::atomic<bool> &stop, const WatchHooks &hooks) {
    WatchTotals totals;
    if (backends.empty()) return totals;
    const auto interval = std::max(std::chrono::milliseconds(1), options.interval);
    const auto per_backend = interval / static_cast<long>(backends.size());
    std::vector<Clock::time_point> last_check(backends.size(), Clock::now());
    std::vector<bool> refused(backends.size()); // retry at every interval, change or not
    bool first = options.reconcile_first;
    while (!stop) {
        for (std::size_t bi = 0; bi < backends.size() && !stop; ++bi) {
            RulesBackend &b = *backends[bi];
            if (!first) {
                // Poll on a fixed cadence: the time the last reconcile took counts.
                auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() -
                                                                                   last_check[bi]);
                auto timeout = std::max(std::chrono::milliseconds(1), per_backend - spent);
                auto changed = b.wait_change(timeout);
                if (!changed) {
                    ++totals.errors;
                    if (hooks.on_error)
                        hooks.on_error(fmt::format("{}: {}", b.name(), changed.error().message));
                    last_check[bi] = Clock::now();
                    continue;
                }
                if ((!*changed && !refused[bi]) || stop) continue;
            }
            ++totals.checks;
            auto seen = Clock::now();
            bool any_refused = false;
            for (Family f : options.families)
                reconcile_one(b, f, rules, options, Goal::install, seen, last_check[bi], totals,
                              hooks, &any_refused, f == options.families.front());
            refused[bi] = any_refused;
            last_check[bi] = seen;
        }
        first = false;
    }
    return totals;
}

Result<WatchTotals> rules_reconcile_all(std::vector<std::unique_ptr<RulesBackend>> &backends,
                                        const RulesFile &rules, const WatchOptions &options,
                                        Goal goal, const WatchHooks &hooks) {
    WatchTotals totals;
    std::string first_error;
    WatchHooks h = hooks;
    h.on_error = [&](const std::string &e) {
        if (first_error.empty()) first_error = e;
        if (hooks.on_error) hooks.on_error(e);
    };
    for (auto &b : backends)
        for (Family f : options.families) {
            const auto now = Clock::now();
            reconcile_one(*b, f, rules, options, goal, now, now, totals, h, nullptr,
                          f == options.families.front());
        }
    if (!first_error.empty()) return make_error(first_error);
    return totals;
}

} // namespace netlog
