// EngineSource: the container index from a Docker or Podman daemon's API socket, live.
//
// One thread: GET /version (an API older than engine_min_api_version is refused), opens
// GET /events (containers and networks), then lists the running containers
// (GET /containers/json) and publishes the index; from then on each event that can change
// an address or a name (start, network connect/disconnect, rename) is looked up
// (GET /containers/{id}/json) and a die/destroy/remove marks the container gone, kept for
// the grace period. The events stream is opened before the list, so that nothing that
// happens in between is missed. When the socket goes away or the stream ends, the last
// index stays, the thread reconnects with a backoff (0.1 s doubling to 5 s) and lists again.
//
// The pipeline never waits for it: current() is an atomic load of the last published index
// (like StoreWatcher), generation() a cheap per-batch check. Every request has a deadline,
// and a stop() ends any wait at once.
#pragma once

#include <netlog/config.h>
#include <netlog/container.h>
#include "metrics.h"
#include "poller.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace netlog::io {

class EngineSource {
  public:
    struct Options {
        MetadataSource kind = MetadataSource::docker; // docker | podman (names it in messages)
        EngineSourceConfig config;
        int request_timeout_ms = 5000; // version, inspect, the events stream's head
        int list_timeout_ms = 30000;   // the full list (a host with many containers)
        // One line per call, without "netlogd: " and without a newline, from the source's
        // thread. Default: "netlogd: <line>\n" to stderr.
        std::function<void(std::string_view)> log;
    };

    using Health = MetadataSourceView; // core metrics.h

    static std::unique_ptr<EngineSource> create(Options options);
    ~EngineSource();
    EngineSource(const EngineSource &) = delete;
    EngineSource &operator=(const EngineSource &) = delete;

    void start();          // the thread; idempotent
    void stop();           // ends the thread; the destructor does it too
    void request_reload(); // list again (SIGHUP); async-signal-safe

    std::shared_ptr<const ContainerIndex> current() const { return current_.load(); }
    std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
    Health health() const;
    std::string describe() const;

  private:
    explicit EngineSource(Options options);
    void run();
    bool session(); // one connection's life; false when it failed before following events
    void publish(std::int64_t event_time_ns = 0);
    void log(std::string_view line) const;
    void fail(const std::string &what);
    bool wait(std::int64_t ms); // false when stopping

    Options opts_;
    std::string name_;       // "docker" | "podman"
    base::Wakeup wake_;      // reload or stop: ends the wait for events or for a reconnect
    base::Wakeup stop_wake_; // stop only: ends any request at once (a reload lets it finish)
    std::thread thread_;
    std::atomic<bool> stop_{false}, reload_{false};

    std::atomic<std::shared_ptr<const ContainerIndex>> current_;
    std::atomic<std::uint64_t> generation_{0};

    mutable std::mutex mu_;
    Health health_;

    // source thread only
    struct State;
    std::unique_ptr<State> st_;
    std::string last_failure_;
};

} // namespace netlog::io
