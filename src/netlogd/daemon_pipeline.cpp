// netlogd's pipeline thread: queued batches through the Pipeline to the sinks, the
// conntrack messages beside them, and the counters it publishes.
#include "daemon_impl.h"
#include "clock.h"

#include <algorithm>

namespace netlog::daemon {

void Daemon::refresh_store() {
    if (!store_ && !engine_) return;
    const auto g = store_ ? store_->generation() : engine_->generation();
    if (g == store_gen_) return;
    store_gen_ = g;
    index_ = store_ ? store_->current() : engine_->current();
    pipeline_->set_containers(index_.get());
}

void Daemon::refresh_peers() {
    if (!peers_ || peers_->generation() == marks_gen_) return;
    marks_gen_ = peers_->generation();
    marks_ = peers_->current();
    pipeline_->set_peers(marks_.get());
}

PipelineOptions Daemon::with_connections(PipelineOptions o) const {
    if (ct_) o.connections = ct_options_;
    return o;
}

// The conntrack messages waiting, then the GET requests due (pipeline thread).
void Daemon::conntrack_tick() {
    if (!ct_) return;
    const auto now = base::monotonic_ns();
    const BatchTime t{to_timestamp(base::realtime_ns()), now, 0};
    ct_->drain([&](Bytes d) { pipeline_->conntrack_datagram(d, t, lines_); });
    ct_requests_.clear();
    pipeline_->conntrack_probes(now, ct_requests_);
    ct_->send(ct_requests_);
    for (auto &s : sinks_) s->flush();
}

void Daemon::process(const io::Batch &b) {
    refresh_store();
    refresh_peers();
    const auto now = base::monotonic_ns(); // the rate limiter's clock (pipeline.h)
    pipeline_->process_batch(b.bytes(), {b.received, now, base::realtime_ns() - now}, lines_);
    for (auto &s : sinks_) s->flush();
    conntrack_tick();
}

void Daemon::pipeline_loop() {
    for (;;) {
        auto b = queue_.pop(std::chrono::milliseconds(100));
        if (b) {
            process(*b);
            queue_.recycle(std::move(b));
        }
        const auto now = base::monotonic_ns();
        flush_summaries(now, false);
        if (!b) conntrack_tick();
        for (auto &s : sinks_) s->tick(now);
        if (staged_ready_.load(std::memory_order_acquire)) apply_staged();
        if (reopen_wanted_.exchange(false)) reopen_all();
        refresh_store(); // a new index is taken up (and the old one freed) without traffic too
        refresh_peers();
        publish_pipeline();
        if (ops_) ops_->pipeline_tick(store_.get(), l_.config);
        if (!b && reader_done_.load() && queue_.events() == 0) {
            // one more look: the reader may have queued a last batch before finishing
            if (auto last = queue_.pop(std::chrono::milliseconds(0))) {
                process(*last);
                queue_.recycle(std::move(last));
                continue;
            }
            break;
        }
    }
    flush_summaries(base::monotonic_ns(), true); // no suppressed count is lost at exit
    // A reader that does not keep up gets a bounded time to take its backlog; what it
    // leaves is dropped and counted for that output.
    const auto drain_until = base::monotonic_ns() + 2'000'000'000;
    for (auto &s : sinks_)
        s->drain(static_cast<int>(std::max<std::int64_t>(0, drain_until - base::monotonic_ns()) /
                                  1'000'000));
    publish_pipeline();
    worker_done_ = true;
    reload_cv_.notify_all(); // a reload waiting to be swapped in is not
}

// Close due suppression windows (all of them at exit/reload) and write their summaries.
void Daemon::flush_summaries(std::int64_t now, bool all) {
    if (!pipeline_ || !pipeline_->limiting()) return;
    pipeline_->flush({{}, now, base::realtime_ns() - now}, lines_, all);
    for (auto &s : sinks_)
        if (!s->buffer().empty()) s->flush();
}

void Daemon::publish_pipeline() {
    std::vector<OutputCounters> outs;
    outs.reserve(sinks_.size());
    for (const auto &s : sinks_) {
        const auto &c = s->counters();
        outs.push_back({s->describe(), c.lines, c.bytes, c.dropped, c.errors, c.reopens, c.routed,
                        c.files, c.fallback});
    }
    std::lock_guard lk(snap_mu_);
    snap_.pipeline = pipeline_->counters();
    if (ct_) {
        snap_.connections_enabled = true;
        snap_.conntrack_overruns = ct_->overruns();
    }
    snap_.outputs = std::move(outs);
    snap_.containers = index_ ? index_->size() : 0;
    snap_.metadata = engine_ ? engine_->health() : MetadataSourceView{};
    snap_.rate_limit = pipeline_->rate_limit_counters();
}

CountersSnapshot Daemon::snapshot() const {
    std::lock_guard lk(snap_mu_);
    return snap_;
}

} // namespace netlog::daemon
