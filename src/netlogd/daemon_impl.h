// The live daemon's one object, shared by the files that hold its parts: daemon.cpp
// (start, signals, stop), daemon_reader.cpp (the reader thread), daemon_pipeline.cpp (the
// pipeline thread) and daemon_reload.cpp (SIGHUP: the loader thread and the swap).
// Private to netlogd.
#pragma once

#include "daemon.h"

#include "batch_queue.h"
#include "conntrack_socket.h"
#include "engine_source.h"
#include "ifnames.h"
#include "load.h"
#include "nflog_socket.h"
#include "ops.h"
#include "outputs.h"
#include "pipeline_setup.h"
#include "peer_watch.h"
#include "rules_manager.h"
#include "sinks.h"
#include "store_watcher.h"
#include "poller.h"

#include <netlog/pipeline.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace netlog::daemon {

class Daemon {
  public:
    Daemon(std::string config_path, Loaded loaded)
        : config_path_(std::move(config_path)), l_(std::move(loaded)), queue_(l_.config.queue) {}

    int run();

  private:
    bool start();
    void reader_loop();
    void pipeline_loop();
    void handoff(std::unique_ptr<io::Batch> &cur);
    void pack(const io::Batch &rx, std::unique_ptr<io::Batch> &cur);
    void process(const io::Batch &b);
    struct Staged;
    void reload_loop();
    bool prepare_reload();
    void apply_staged();
    void reopen_all();
    void refresh_store();
    void refresh_peers();
    static std::unique_ptr<io::EngineSource> open_engine(const Config &c);
    void use_engine(std::unique_ptr<io::EngineSource> e);
    void publish_reader();
    void publish_pipeline();
    void flush_summaries(std::int64_t now, bool all);
    void conntrack_tick();
    PipelineOptions with_connections(PipelineOptions o) const;
    CountersSnapshot snapshot() const;

    std::string config_path_;
    Loaded l_;
    BatchQueue queue_;
    std::unique_ptr<io::NflogSocket> sock_;
    std::unique_ptr<StoreWatcher> store_;
    std::unique_ptr<io::EngineSource> engine_; // metadata.source docker | podman
    std::shared_ptr<const ContainerIndex> index_;
    std::uint64_t store_gen_ = 0;
    std::vector<std::unique_ptr<io::Sink>> sinks_;
    SinkLines lines_{sinks_};
    std::unique_ptr<Pipeline> pipeline_; // everything between the bytes and the lines
    io::IfNames names_;
    HostLocalTime local_time_;

    base::Wakeup wake_; // wakes the reader to stop
    std::atomic<bool> stopping_{false}, reader_done_{false};
    std::atomic<bool> worker_done_{false};
    std::thread reader_, worker_;

    // SIGHUP: the config is read, checked and its new outputs opened on the loader thread
    // (reload_loop), never on the pipeline's; the pipeline thread only swaps the prepared
    // state in (apply_staged) between batches. A config path that is a FIFO or a device is
    // refused at once (load.h) and cannot hold the pipeline or SIGTERM.
    std::thread loader_;
    std::mutex reload_mu_;
    std::condition_variable reload_cv_;
    bool reload_wanted_ = false, loader_stop_ = false; // reload_mu_
    std::vector<int> reload_waiters_; // reload_mu_: pidfds of `netlogd --reload` callers
    std::unique_ptr<Staged> staged_;  // reload_mu_: prepared, not yet swapped in
    std::atomic<bool> staged_ready_{false}, reopen_wanted_{false}, loader_done_{false};
    std::uint64_t queue_dropped_ = 0; // reader thread

    mutable std::mutex snap_mu_;
    CountersSnapshot snap_;
    std::unique_ptr<RulesManager> rules_; // manage_rules (rules_manager.h); null: not managed
    // json extra `peer` (peer_watch.h); null: no output has it. The pipeline thread holds
    // the map the pipeline points into.
    std::unique_ptr<PeerWatcher> peers_;
    std::shared_ptr<const PeerMarks> marks_;
    std::uint64_t marks_gen_ = 0;
    // connections: (conntrack_socket.h); null: off. Drained by the pipeline thread, whose
    // pipeline holds the followed connections; settings fixed at start.
    std::unique_ptr<io::ConntrackSocket> ct_;
    ConnectionOptions ct_options_;
    std::vector<std::uint8_t> ct_requests_;
    std::unique_ptr<Ops> ops_; // metrics, privileges, sd_notify (ops.h); last: goes first
};

// A reload prepared by the loader thread, swapped in by the pipeline thread.
struct Daemon::Staged {
    Loaded l;
    std::vector<int> keep; // per new output: the running sink it keeps, or -1
    std::vector<std::unique_ptr<io::Sink>> opened; // the new outputs (null where kept)
    bool store_changed = false;
    std::unique_ptr<StoreWatcher> store; // when the store path changed (may stay null)
    std::unique_ptr<Pipeline> pipeline;
    std::unique_ptr<StoreWatcher> old_store; // handed back, to be stopped off the pipeline
    bool engine_changed = false;
    std::unique_ptr<io::EngineSource> engine, old_engine; // the same for a Docker/Podman source
    bool applied = false;
};

// Whether an output asks for the json extra `peer`.
bool wants_peers(const Config &c);

} // namespace netlog::daemon
