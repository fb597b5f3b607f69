// The boundary between netlog-rules' pure planning (netlog/ruleplan.h) and the kernel's
// rule tables: read a family's ruleset, apply a plan atomically, wait for changes.
// Two implementations: iptables-legacy (legacy_backend.cpp) and nftables (nft_backend.cpp).
#pragma once

#include <netlog/result.h>
#include <netlog/ruleplan.h>

#include <chrono>
#include <memory>
#include <string>

namespace netlog {

enum class ApplyStatus : std::uint8_t {
    applied,  // every step of the plan is in the kernel (one transaction per table/batch)
    conflict, // someone changed the ruleset since it was read: nothing was applied;
              // re-read, re-plan and try again
};

class RulesBackend {
  public:
    virtual ~RulesBackend() = default;

    // "legacy" or "nft": what --backend names and what messages say.
    virtual std::string name() const = 0;

    // The current ruleset of one family: every table and chain, rules in chain order,
    // each classified (LOG / our companion / other) with its match_key. A table that
    // does not exist yields no chains; that is not an error.
    virtual Result<Ruleset> read(Family family) = 0;

    // The longest NFLOG prefix this backend's companions carry (bytes, no NUL).
    virtual std::size_t prefix_max() const = 0;

    // Apply every step of `plan` (computed from a read() of the same family) as one
    // transaction per table (legacy) or one batch (nft): all or nothing. Steps name
    // their rule by FwRule::handle (legacy: 1-based position as read) and text.
    // A companion the kernel refuses is left out and named in `report.refused` (the LOG
    // rule and the kernel's reason); the other steps are applied. `report.applied` may
    // then name only part of the plan (legacy, when a refusal could not be pinned on one
    // step at once: what was committed is committed, the caller reads and plans again).
    // Errors (no privilege, a refusal of the whole transaction) are one line for the
    // user; nothing changed by the failing transaction.
    struct Report {
        std::vector<RuleNote> refused;    // companions the kernel refused, with its reason
        std::vector<std::size_t> applied; // indices into plan.steps of what was committed
    };
    virtual Result<ApplyStatus> apply(const Plan &plan, Family family, Report &report) = 0;

    // Which steps of `plan` the kernel would refuse, without changing anything (nft: the
    // batch is checked and aborted, as `nft -c` does). The default knows of none.
    virtual Result<std::vector<RuleNote>> check(const Plan &plan, Family family);

    // Block until the ruleset may have changed, or `timeout` passed. Returns true when a
    // change (by someone other than this backend's own apply) may have happened. The
    // default polls: it sleeps `timeout` and says "maybe". nft overrides it with netlink
    // notifications (NFNLGRP_NFTABLES), ignoring the backend's own transactions.
    virtual Result<bool> wait_change(std::chrono::milliseconds timeout);
};

// iptables-legacy through iptables-legacy-save / iptables-legacy-restore --noflush
// (ip6tables-legacy-* for IPv6). Defined in legacy_backend.cpp.
std::unique_ptr<RulesBackend> make_legacy_backend();

// nftables through libnftnl + libmnl. Defined in nft_backend.cpp.
std::unique_ptr<RulesBackend> make_nft_backend();

} // namespace netlog

namespace netlog {

enum class Goal : std::uint8_t { install, remove };

struct ReconcileOutcome {
    std::vector<PlanStep> applied; // every step applied, over all attempts
    Plan last;                     // the plan of the last read: empty when done; its
                                   // not_covered names what the kernel refused
    std::vector<RuleNote> refused; // companions the kernel refused (also in last.not_covered)
    unsigned attempts = 0;         // transactions tried (0: there was nothing to do)
    unsigned conflicts = 0;        // of which found the ruleset changed and retried
    std::chrono::steady_clock::time_point applied_at{}; // when the last transaction committed
};

// Read, plan (install or remove), apply, and read again until the plan is empty: a
// ruleset changed by someone else mid-apply is re-read and re-planned, up to
// `max_attempts` conflicts. Each transaction is all-or-nothing; a companion the kernel
// refuses is left out (ReconcileOutcome::refused) and the others are applied.
Result<ReconcileOutcome> reconcile(RulesBackend &backend, Family family, const RulesFile &rules,
                                   PlanMode mode, Goal goal, unsigned max_attempts = 5,
                                   bool icmp_errors = false);

} // namespace netlog
