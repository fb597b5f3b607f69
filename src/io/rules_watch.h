// Keeping NFLOG companions in place while other agents rewrite their chains: the one
// reconcile loop shared by `netlog-rules watch` and netlogd's `manage_rules` thread, and the
// backend choice (--backend auto) both make. Each backend says when its ruleset may have
// changed (nft: netlink notifications, ignoring its own commits; legacy: every interval);
// then each family is reconciled (read, plan, apply all-or-nothing, re-read; retried when
// someone else committed in between) and the caller hears about every reconcile that did
// something. What to print or count is the caller's business (hooks).
#pragma once

#include "rules_backend.h"

#include <netlog/classes.h>
#include <netlog/result.h>
#include <netlog/ruleplan.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace netlog {

// "auto", "nft" or "legacy". auto reads both and picks the one(s) holding rules; `why`
// says which it chose and why (one line, for the user). An Error when neither is readable.
Result<std::vector<std::unique_ptr<RulesBackend>>>
rules_backends_pick(const std::string &which, const std::vector<Family> &families,
                    std::string &why);

// "+2 companions -1 rule in filter/vpa--17000002": what applied steps changed, and where.
std::string rules_describe(const std::vector<PlanStep> &steps);

// One reconcile that did something (applied steps, or found its transaction in conflict).
struct WatchReconcile {
    std::string backend;
    Family family = Family::ipv4;
    std::vector<PlanStep> applied; // empty: every transaction conflicted, then nothing was left
    std::size_t covered = 0;       // LOG rules covered afterwards (verified by a re-read)
    unsigned attempts = 0, conflicts = 0;
    double latency_ms = 0;        // from the start of the check that saw the change to the commit
    double since_previous_ms = 0; // from the previous check (the change happened after it)
};

// After every reconcile of a backend and family: the class-matched LOG rules left without a
// companion (a side effect, or the kernel refused it; retried at every later check).
struct WatchCoverage {
    std::string backend;
    Family family = Family::ipv4;
    std::size_t covered = 0;
    std::vector<RuleNote> not_covered; // an nftables inet table's rules: with the first family only
    bool icmp_no_chain = false;        // Plan::icmp_no_chain
};

struct WatchHooks {
    std::function<void(const WatchReconcile &)> on_reconcile;
    std::function<void(const WatchCoverage &)> on_coverage;
    std::function<void(const std::string &)> on_error; // one line; the loop goes on
};

struct WatchOptions {
    std::vector<Family> families;
    PlanMode mode = PlanMode::alongside;
    std::chrono::milliseconds interval{1000}; // legacy poll period; nft wait timeout
    // false: the first round waits for a change (the caller has just installed).
    bool reconcile_first = true;
    // `connections: {outcomes: true}`: keep the ICMP error rule in place too (ruleplan.h).
    bool icmp_errors = false;
};

struct WatchTotals {
    std::uint64_t checks = 0, reconciles = 0, conflicts = 0, errors = 0;
};

// Run until `stop` (checked at least every interval). `rules` and `backends` must outlive it.
WatchTotals rules_watch(std::vector<std::unique_ptr<RulesBackend>> &backends,
                        const RulesFile &rules, const WatchOptions &options,
                        const std::atomic<bool> &stop, const WatchHooks &hooks);

// Reconcile every backend and family once (install or remove). Reports like rules_watch;
// returns the first error (the others are still tried).
Result<WatchTotals> rules_reconcile_all(std::vector<std::unique_ptr<RulesBackend>> &backends,
                                        const RulesFile &rules, const WatchOptions &options,
                                        Goal goal, const WatchHooks &hooks);

} // namespace netlog
