// netlogd's json extra `peer`: the policy agent's mark -> app map (netlog/peer_marks.h),
// read from the live ruleset through the rules backends (iptables-legacy, iptables-nft and
// native nftables alike) and kept current in a thread of its own with the change detection
// manage_rules uses (nft: netlink notifications; legacy: a read every interval). The
// pipeline thread takes a new map up between batches (generation() / current()), as it
// does a new container index.
#pragma once

#include "rules_backend.h"

#include <netlog/config.h>
#include "metrics.h"
#include <netlog/peer_marks.h>
#include <netlog/result.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace netlog::daemon {

class PeerWatcher {
  public:
    struct Options {
        std::string backend = "auto"; // auto | nft | legacy (manage_rules.backend when set)
        std::vector<Family> families{Family::ipv4, Family::ipv6};
        std::chrono::milliseconds interval{1000}; // legacy poll period, nft wait timeout
    };
    // Pick the backends and read the ruleset once. One-line error when neither is readable.
    static Result<std::unique_ptr<PeerWatcher>> open(Options options);
    ~PeerWatcher();
    PeerWatcher(const PeerWatcher &) = delete;
    PeerWatcher &operator=(const PeerWatcher &) = delete;

    bool needs_net_raw() const; // iptables-legacy-save opens a raw socket
    void start();               // after the privileges are dropped
    void stop();                // joins within one interval; idempotent

    std::shared_ptr<const PeerMarks> current() const { return current_.load(); } // never null
    std::uint64_t generation() const { return generation_.load(); }
    void fill(MetricsSnapshot &m) const; // marks known, ruleset reads, read errors

  private:
    PeerWatcher() = default;
    void read_all(); // read every backend and family; publish when the map changed

    Options options_;
    std::vector<std::unique_ptr<RulesBackend>> backends_;
    std::atomic<std::shared_ptr<const PeerMarks>> current_;
    std::atomic<std::uint64_t> generation_{0}, reads_{0}, errors_{0};
    std::string last_error_; // watch thread (and open())
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace netlog::daemon
