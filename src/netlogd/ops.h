// netlogd in production: the metrics listener, least privilege and the service manager.
// The daemon calls, in order: Ops::start() once its sockets are bound and its files open
// (listener up, privileges dropped), ready() once its threads run (READY=1),
// pipeline_tick() from the pipeline thread at least every ~100 ms (store and output facts
// for the metrics, WATCHDOG=1 at half the interval, STATUS= every few seconds), and
// stopping() on SIGTERM (STOPPING=1). Nothing here runs per event.
#pragma once

#include "store_watcher.h"

#include <netlog/config.h>
#include "counters.h"
#include "metrics.h"
#include <netlog/result.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace netlog::io {
class MetricsServer;
}

namespace netlog::daemon {

// The daemon's counters as the metrics see them (emitted excludes the suppressed, drop
// reasons, in flight). Pure.
MetricsSnapshot metrics_from_counters(const CountersSnapshot &c);

// One line for STATUS= and logs: "events received N, emitted N, dropped N (...)".
std::string status_line(const MetricsSnapshot &m);

class Ops {
  public:
    struct Options {
        std::string metrics_listen;                 // empty: no listener
        std::string user;                           // empty: stay root (uid 0, no capabilities)
        bool keep_net_admin = false;                // rules managed by netlogd
        std::vector<std::uint16_t> groups;          // the bound NFLOG groups (kernel view)
        std::size_t queue_capacity = 0;             // events
        std::function<CountersSnapshot()> counters; // thread-safe copy of the live counters
        bool keep_net_raw = false;                  // rules managed through iptables-legacy
        std::function<void(MetricsSnapshot &)> rules_metrics; // manage_rules: reconciles
        std::function<void(MetricsSnapshot &)> peer_metrics;  // json extra peer: marks
    };
    // Starts the listener (when configured), then drops privileges. One-line errors.
    static Result<std::unique_ptr<Ops>> start(Options options);
    ~Ops();
    Ops(const Ops &) = delete;
    Ops &operator=(const Ops &) = delete;

    void ready();
    // Pipeline thread. `config` is the running one (outputs' types and formats).
    void pipeline_tick(const StoreWatcher *store, const Config &config);
    void stopping();

    // The full snapshot, kernel view included (reads /proc: call off the hot path).
    MetricsSnapshot metrics() const;
    std::string health() const; // "" healthy, else why (/healthz answers 503 with it)
    int metrics_port() const;

  private:
    explicit Ops(Options o);
    Options o_;
    std::unique_ptr<io::MetricsServer> server_;
    double start_time_ = 0;
    std::uint64_t watchdog_usec_ = 0;
    std::atomic<bool> ready_{false};
    std::atomic<std::int64_t> last_tick_ns_{0};

    // pipeline thread only
    std::int64_t last_refresh_ns_ = 0, last_pet_ns_ = 0, last_status_ns_ = 0;

    mutable std::mutex mu_; // guards what pipeline_tick publishes for the server thread
    StoreWatcher::Stats store_;
    struct OutputKind {
        std::string type, format;
    };
    std::vector<OutputKind> kinds_;
};

// `netlogd --stats [-c FILE]`: scrape the configured listener, print the identity.
int stats_command(const std::string &config_path);

} // namespace netlog::daemon
