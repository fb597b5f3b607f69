// netlogd's manage_rules thread (rules_manager.h).
#include "rules_manager.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace netlog::daemon {

namespace {

void say(const std::string &line) {
    fmt::print(stderr, "netlogd: rules: {}\n", line);
    std::fflush(stderr);
}

} // namespace

Result<std::unique_ptr<RulesManager>>
RulesManager::install(const ManageRulesConfig &config, const RulesFile &rules, bool icmp_errors) {
    std::unique_ptr<RulesManager> m(new RulesManager());
    m->rules_ = rules;
    m->options_.families = config.families;
    m->options_.mode = config.mode;
    m->options_.interval =
        std::chrono::milliseconds(std::max<long>(1, static_cast<long>(config.interval * 1000)));
    // The watch thread reconciles once more when it starts: a change made between the
    // install and its subscription to notifications is not missed.
    m->options_.reconcile_first = true;
    m->options_.icmp_errors = icmp_errors;
    std::string why;
    auto b = rules_backends_pick(config.backend, config.families, why);
    if (!b) return make_error(fmt::format("manage_rules: {}", b.error().message));
    m->backends_ = std::move(*b);
    say(fmt::format("backend {}", why));
    WatchHooks hooks;
    auto *self = m.get();
    hooks.on_coverage = [self](const WatchCoverage &c) { self->coverage(c); };
    hooks.on_reconcile = [self](const WatchReconcile &r) {
        self->count(r);
        say(fmt::format("installed {} {}: {} ({} LOG rules covered, {} transaction(s), {} retried) "
                        "in {:.1f} ms",
                        r.backend, to_string(r.family), rules_describe(r.applied), r.covered,
                        r.attempts, r.conflicts, r.latency_ms));
    };
    auto done = rules_reconcile_all(m->backends_, m->rules_, m->options_, Goal::install, hooks);
    if (!done)
        return make_error(fmt::format("manage_rules: {} (check the ruleset with `netlog-rules "
                                      "status`, or remove manage_rules from the config)",
                                      done.error().message));
    if (done->reconciles == 0) say("every LOG rule already covered: nothing to install");
    return m;
}

RulesManager::~RulesManager() {
    (void)stop();
}

bool RulesManager::needs_net_raw() const {
    for (const auto &b : backends_)
        if (b->name() == "legacy") return true;
    return false;
}

void RulesManager::count(const WatchReconcile &r) {
    std::lock_guard lk(mu_);
    conflicts_ += r.conflicts;
    if (r.applied.empty()) return;
    ++reconciles_;
    latency_.observe(r.latency_ms / 1000.0);
}

void RulesManager::coverage(const WatchCoverage &c) {
    Plan p;
    p.not_covered = c.not_covered;
    std::string text = p.notes_text(), key = c.backend + " " + std::string(to_string(c.family));
    if (c.icmp_no_chain) text += std::string(icmp_no_chain_text) + "\n";
    {
        std::lock_guard lk(mu_);
        not_covered_[key] = c.not_covered.size();
        if (not_covered_text_[key] == text) return;
        not_covered_text_[key] = text;
    }
    if (!text.empty()) text.pop_back();
    say(fmt::format("{}: {} LOG rule{} not covered (retried at every check){}{}", key,
                    c.not_covered.size(), c.not_covered.size() == 1 ? "" : "s",
                    text.empty() ? "" : "\n", text));
}

void RulesManager::start() {
    thread_ = std::thread([this] {
        WatchHooks hooks;
        hooks.on_coverage = [this](const WatchCoverage &c) { coverage(c); };
        hooks.on_error = [](const std::string &e) { say(e); };
        hooks.on_reconcile = [this](const WatchReconcile &r) {
            count(r);
            if (r.applied.empty()) {
                say(fmt::format("{} {}: nothing left to do after {} transaction(s) retried on a "
                                "concurrent change",
                                r.backend, to_string(r.family), r.conflicts));
                return;
            }
            say(fmt::format("reconcile {} {}: {} ({} LOG rules covered); in place {:.1f} ms after "
                            "the check that saw the change, {:.1f} ms after the previous check{}",
                            r.backend, to_string(r.family), rules_describe(r.applied), r.covered,
                            r.latency_ms, r.since_previous_ms,
                            r.conflicts ? fmt::format(", {} transaction(s) retried", r.conflicts)
                                        : std::string()));
        };
        auto t = rules_watch(backends_, rules_, options_, stop_, hooks);
        say(fmt::format("watch stopped: {} checks, {} reconciles, {} retried transactions, {} "
                        "errors; {}",
                        t.checks, t.reconciles, t.conflicts, t.errors,
                        options_.mode == PlanMode::replace
                            ? "mode replace: restoring the LOG rules"
                            : "the companions stay (netlog-rules remove removes them)"));
    });
}

bool RulesManager::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (options_.mode != PlanMode::replace || restored_) return true;
    restored_ = true;
    // What `netlog-rules remove --mode replace` does: each companion goes, the LOG rule it
    // replaced comes back in its place (one transaction per table or batch).
    std::size_t restored = 0, removed = 0;
    std::vector<std::string> where;
    WatchHooks hooks;
    hooks.on_reconcile = [&](const WatchReconcile &r) {
        if (r.applied.empty()) return;
        for (const PlanStep &s : r.applied) {
            if (s.op == PlanStep::Op::restore_log)
                ++restored;
            else if (s.op == PlanStep::Op::remove)
                ++removed;
        }
        where.push_back(
            fmt::format("{} {}: {}", r.backend, to_string(r.family), rules_describe(r.applied)));
    };
    auto t0 = std::chrono::steady_clock::now();
    auto done = rules_reconcile_all(backends_, rules_, options_, Goal::remove, hooks);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!where.empty() || done)
        say(where.empty()
                ? fmt::format("mode replace: nothing to restore on exit (no companions found)")
                : fmt::format("mode replace: restored {} LOG rule{} in place of their NFLOG "
                              "companions on exit{} in {:.1f} ms: {}",
                              restored, restored == 1 ? "" : "s",
                              removed ? fmt::format(", removed {} other companion{}", removed,
                                                    removed == 1 ? "" : "s")
                                      : std::string(),
                              ms, fmt::join(where, "; ")));
    if (!done) {
        say(fmt::format("mode replace: restoring the LOG rules on exit failed: {} (the NFLOG "
                        "companions may still stand in for them: run `netlog-rules remove "
                        "--mode replace`)",
                        done.error().message));
        return false;
    }
    return true;
}

void RulesManager::fill(MetricsSnapshot &m) const {
    std::lock_guard lk(mu_);
    m.rule_reconciles = reconciles_;
    m.rules_not_covered = 0;
    for (const auto &[key, n] : not_covered_) m.rules_not_covered += n;
    m.reconcile_latency = latency_;
}

} // namespace netlog::daemon
