// netlogd's `manage_rules`: install the NFLOG companions at start, then keep them in place
// in a thread of their own with the loop `netlog-rules watch` runs (rules_watch.h). On a
// clean stop, mode alongside leaves the companions in place (the LOG rules still log; a
// restart finds them and changes nothing; `netlog-rules remove` removes them); mode replace
// does what `netlog-rules remove --mode replace` does and puts the original LOG rules back,
// since NFLOG companions with nobody listening log nothing at all. After a kill -9 the
// replaced state stays; the next start finds it and changes nothing. Reconcile counts and
// latencies go to the metrics.
#pragma once

#include "rules_watch.h"

#include <netlog/classes.h>
#include <netlog/config.h>
#include "metrics.h"
#include <netlog/result.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace netlog::daemon {

class RulesManager {
  public:
    // Pick the backends and install the companions now (one transaction per table or
    // batch, retried on a concurrent change). One-line error: nothing is left half-applied.
    // `icmp_errors` (connections: {outcomes: true}): the ICMP error rule too (ruleplan.h).
    static Result<std::unique_ptr<RulesManager>>
    install(const ManageRulesConfig &config, const RulesFile &rules, bool icmp_errors = false);
    ~RulesManager();
    RulesManager(const RulesManager &) = delete;
    RulesManager &operator=(const RulesManager &) = delete;

    // iptables-legacy-restore opens a raw socket: the legacy backend needs CAP_NET_RAW.
    bool needs_net_raw() const;
    // Start the watch thread (after the privileges are dropped: it keeps what is left).
    void start();
    // Stop and join the thread (within one interval). alongside: the companions stay.
    // replace: restore the LOG rules (with the capabilities left after the drop: the same
    // the thread reconciles with), one line saying what was restored. false: the restore
    // failed (said in one line); idempotent, also called by the destructor.
    bool stop();
    // Reconcile count and latency histogram into the metrics.
    void fill(MetricsSnapshot &m) const;

  private:
    RulesManager() = default;
    void count(const WatchReconcile &r);
    void coverage(const WatchCoverage &c); // count, and say it when the list changes

    RulesFile rules_;
    WatchOptions options_;
    std::vector<std::unique_ptr<RulesBackend>> backends_;
    std::atomic<bool> stop_{false};
    bool restored_ = false;
    std::thread thread_;
    mutable std::mutex mu_;
    std::uint64_t reconciles_ = 0, conflicts_ = 0;
    std::map<std::string, std::size_t> not_covered_; // per "backend family", last check
    std::map<std::string, std::string> not_covered_text_;
    Histogram latency_;
};

} // namespace netlog::daemon
