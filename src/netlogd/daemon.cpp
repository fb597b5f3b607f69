// netlogd's live mode: threads, signals, reload.
#include "daemon.h"
#include "clock.h"
#include "conntrack_socket.h"

#include "batch_queue.h"
#include "engine_source.h"
#include "ifnames.h"
#include "load.h"
#include "nflog_socket.h"
#include "ops.h"
#include "outputs.h"
#include "pipeline_setup.h"
#include "peer_watch.h"
#include "privileges.h"
#include "rules_manager.h"
#include "sinks.h"
#include "store_watcher.h"
#include "unique_fd.h"

#include <netlog/pipeline.h>

#include <fmt/format.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sys/syscall.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

namespace netlog::daemon {

using io::monotonic_ns;
using io::realtime_ns;

namespace {

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

    base::UniqueFd wake_fd_; // eventfd: wakes the reader to stop
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

// Whether an output asks for the json extra `peer`.
bool wants_peers(const Config &c) {
    return std::any_of(c.outputs.begin(), c.outputs.end(), [](const OutputConfig &o) {
        return o.format == OutputFormat::json && o.extras.peer;
    });
}

bool Daemon::start() {
    // Everything that can be refused before any file is created: a refused start leaves
    // nothing behind (no output file, no bound group).
    if (!l_.config.store_path.empty()) {
        StoreWatcher::Options so;
        so.path = l_.config.store_path;
        auto w = StoreWatcher::open(std::move(so));
        if (!w) {
            fmt::print(stderr, "netlogd: {}: {}\n",
                       config_key_where(config_path_, "metadata.store"), w.error().message);
            return false;
        }
        store_ = std::move(*w);
        index_ = store_->current();
        store_gen_ = store_->generation();
    }
    use_engine(open_engine(l_.config));
    std::vector<std::unique_ptr<io::Sink>> opened(l_.config.outputs.size());
    if (auto err = preflight_outputs(l_.config); !err.empty()) {
        fmt::print(stderr, "netlogd: {}\n", err);
        return false;
    }
    // The groups before the outputs: a group another process holds refuses the start
    // before any output file exists. What the kernel logs meanwhile waits in the socket.
    io::NflogSocketOptions so;
    so.groups = l_.rules->groups();
    so.config = l_.config.nflog;
    so.rules_source = l_.rules_source;
    auto s = io::NflogSocket::open(so);
    if (!s) {
        fmt::print(stderr, "netlogd: {}\n", s.error().message);
        return false;
    }
    sock_ = std::move(*s);
    for (const bool files : {false, true}) // syslog and stdout first, then files
        for (std::size_t i = 0; i < opened.size(); ++i) {
            const auto &o = l_.config.outputs[i];
            if ((o.type == OutputType::file) != files || opened[i]) continue;
            auto s = open_output(o, i);
            if (!s) {
                fmt::print(stderr, "netlogd: {}\n", s.error().message);
                return false;
            }
            opened[i] = std::move(*s);
        }
    for (auto &s : opened) sinks_.push_back(std::move(s));
    if (const auto &cc = l_.config.connections; cc.enabled()) {
        auto c = io::ConntrackSocket::open(8u << 20);
        if (!c) {
            fmt::print(stderr, "netlogd: {}: {}\n", config_key_where(config_path_, "connections"),
                       c.error().message);
            return false;
        }
        ct_ = std::move(*c);
        ct_options_ = {cc.outcomes, cc.flow_end, cc.max_tracked};
        const auto acct = io::ConntrackSocket::accounting_on();
        fmt::print(stderr,
                   "netlogd: connections: following allowed connections through "
                   "conntrack ({}{}{}; at most {}){}\n",
                   cc.outcomes ? "failed" : "", cc.outcomes && cc.flow_end ? ", " : "",
                   cc.flow_end ? "closed" : "", cc.max_tracked,
                   cc.flow_end && acct && !*acct
                       ? "; net.netfilter.nf_conntrack_acct is 0 in this network namespace: "
                         "-closed events carry no packet and byte counts (sysctl -w "
                         "net.netfilter.nf_conntrack_acct=1 turns them on; netlogd leaves it as "
                         "it is)"
                       : "");
    }
    auto setup = pipeline_setup(l_.config);
    if (auto p = Pipeline::make(*l_.rules, with_connections(std::move(setup.options)))) {
        pipeline_ = std::move(*p);
    } else {
        fmt::print(stderr, "netlogd: {}\n", p.error().message);
        return false;
    }
    pipeline_->set_interfaces(&names_);
    pipeline_->set_containers(index_.get());
    pipeline_->set_local_time(&local_time_);
    // Queue chunks hold at least one whole datagram.
    queue_.set_batch_bytes(std::max(BatchQueue::chunk_bytes, sock_->slot_size()));
    wake_fd_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));

    std::string groups;
    for (auto g : so.groups) groups += fmt::format("{}{}", groups.empty() ? "" : ",", g);
    std::string outs;
    for (const auto &o : sinks_)
        outs += fmt::format("{}{}", outs.empty() ? "" : ", ", o->describe());
    fmt::print(stderr,
               "netlogd: reading NFLOG group(s) {} ({} classes from {}), socket buffer {} bytes; "
               "store {}; outputs: {}\n",
               groups, l_.rules->classes.size(), l_.rules_source, sock_->receive_buffer(),
               store_
                   ? fmt::format("{} ({} containers)", store_->path(), index_ ? index_->size() : 0)
               : engine_ ? fmt::format("from {}", engine_->describe())
                         : std::string("none"),
               outs);
    if (!setup.kernel_prefix_note.empty())
        fmt::print(stderr, "netlogd: {}\n", setup.kernel_prefix_note);
    return true;
}

void Daemon::handoff(std::unique_ptr<io::Batch> &cur) {
    if (cur->empty()) return;
    const auto events = cur->events;
    if (auto back = queue_.push(std::move(cur))) {
        queue_dropped_ += events;
        back->clear();
        cur = std::move(back);
    } else {
        cur = queue_.take_free();
    }
}

// Copy the whole netlink messages of `rx` (what one or more recvmmsg calls gave) densely
// into queue chunks, handing each full chunk to the queue: queued memory follows queued
// events, whatever the datagrams' sizes.
void Daemon::pack(const io::Batch &rx, std::unique_ptr<io::Batch> &cur) {
    constexpr std::uint16_t packet_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
    const std::uint8_t *p = rx.buf.get();
    std::size_t off = 0, run = 0; // [run, off): messages not yet copied
    std::uint32_t run_events = 0;
    const auto copy_run = [&] {
        if (off > run) {
            if (cur->empty()) cur->received = rx.received;
            std::memcpy(cur->buf.get() + cur->size, p + run, off - run);
            cur->size += off - run;
            cur->events += run_events;
        }
        run = off;
        run_events = 0;
    };
    while (rx.size - off >= sizeof(nlmsghdr)) {
        nlmsghdr h;
        std::memcpy(&h, p + off, sizeof h);
        if (h.nlmsg_len < sizeof h) break; // receive() keeps whole messages only
        const std::size_t len = std::min<std::size_t>(NLMSG_ALIGN(h.nlmsg_len), rx.size - off);
        if (cur->size + (off - run) + len > cur->capacity) {
            copy_run();
            handoff(cur);
        }
        if (h.nlmsg_type == packet_type) ++run_events;
        off += len;
    }
    copy_run();
}

void Daemon::reader_loop() {
    // One receive area (many datagrams per recvmmsg), packed into chunks after each call.
    io::Batch rx(64 * sock_->slot_size());
    auto cur = queue_.take_free();
    pollfd fds[2] = {{sock_->fd(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    std::int64_t deadline = 0;
    for (;;) {
        // A partly filled batch waits (at most 10 ms) while the pipeline is busy: under
        // backlog batches grow instead of multiplying.
        int timeout = cur->empty() ? -1 : 10;
        if (stopping_.load(std::memory_order_relaxed)) {
            // Drain: the kernel flushes partial batches after flush_timeout_ms.
            const auto now = monotonic_ns();
            if (deadline == 0)
                deadline =
                    now + (2 * std::int64_t{l_.config.nflog.flush_timeout_ms} + 100) * 1'000'000;
            if (now >= deadline) break;
            timeout = static_cast<int>((deadline - now) / 1'000'000) + 1;
        }
        const int pr = poll(fds, 2, timeout);
        if (pr < 0 && errno != EINTR) break;
        if (fds[1].revents & POLLIN) {
            std::uint64_t v;
            [[maybe_unused]] auto r = read(wake_fd_.get(), &v, sizeof v);
        }
        for (;;) {
            const bool more = sock_->receive(rx);
            if (!rx.empty()) {
                pack(rx, cur);
                rx.clear();
            }
            if (!more) break;
        }
        if (pr == 0 || queue_.idle()) handoff(cur);
        publish_reader();
    }
    handoff(cur);
    publish_reader();
    reader_done_ = true;
    queue_.wake();
}

// The Docker/Podman source of config `c`, not started; null for other sources. It never
// fails here: it connects in its own thread.
std::unique_ptr<io::EngineSource> Daemon::open_engine(const Config &c) {
    if (c.metadata_source != MetadataSource::docker && c.metadata_source != MetadataSource::podman)
        return nullptr;
    io::EngineSource::Options eo;
    eo.kind = c.metadata_source;
    eo.config = c.engine;
    return io::EngineSource::create(std::move(eo));
}

void Daemon::use_engine(std::unique_ptr<io::EngineSource> e) {
    engine_ = std::move(e);
    if (!engine_) return;
    index_ = engine_->current();
    store_gen_ = engine_->generation();
}

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
    const auto now = monotonic_ns();
    const BatchTime t{io::realtime_now(), now, 0};
    ct_->drain([&](Bytes d) { pipeline_->conntrack_datagram(d, t, lines_); });
    ct_requests_.clear();
    pipeline_->conntrack_probes(now, ct_requests_);
    ct_->send(ct_requests_);
    for (auto &s : sinks_) s->flush();
}

void Daemon::process(const io::Batch &b) {
    refresh_store();
    refresh_peers();
    const auto now = monotonic_ns(); // the rate limiter's clock (pipeline.h)
    pipeline_->process_batch(b.bytes(), {b.received, now, realtime_ns() - now}, lines_);
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
        const auto now = monotonic_ns();
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
    flush_summaries(monotonic_ns(), true); // no suppressed count is lost at exit
    // A reader that does not keep up gets a bounded time to take its backlog; what it
    // leaves is dropped and counted for that output.
    const auto drain_until = monotonic_ns() + 2'000'000'000;
    for (auto &s : sinks_)
        s->drain(
            static_cast<int>(std::max<std::int64_t>(0, drain_until - monotonic_ns()) / 1'000'000));
    publish_pipeline();
    worker_done_ = true;
    reload_cv_.notify_all(); // a reload waiting to be swapped in is not
}

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

void Daemon::reopen_all() {
    for (auto &s : sinks_) s->reopen();
    names_.clear();
    if (store_) store_->request_reload();
    if (engine_) engine_->request_reload();
}

void Daemon::reload_loop() {
    std::unique_lock lk(reload_mu_);
    for (;;) {
        reload_cv_.wait(lk, [&] { return reload_wanted_ || loader_stop_; });
        if (loader_stop_) break;
        reload_wanted_ = false;
        std::vector<int> waiters = std::move(reload_waiters_);
        reload_waiters_.clear();
        lk.unlock();
        io::notify_reloading();
        const bool ok = prepare_reload();
        io::notify_reloaded(ok ? "reloaded" : "reload failed: running the previous configuration");
        for (const int pidfd : waiters) { // `netlogd --reload`: the outcome
            siginfo_t info{};
            info.si_signo = reload_reply_signal;
            info.si_code = SI_QUEUE;
            info.si_pid = getpid();
            info.si_uid = getuid();
            info.si_value.sival_int = ok ? 0 : 1;
            [[maybe_unused]] auto r =
                syscall(SYS_pidfd_send_signal, pidfd, reload_reply_signal, &info, 0);
            close(pidfd);
        }
        lk.lock();
    }
    for (const int pidfd : reload_waiters_) close(pidfd);
    reload_waiters_.clear();
    loader_done_ = true;
}

// SIGHUP: outputs are reopened whatever happens; config, rules and store are reloaded
// when they are valid, else the running ones stay. Loader thread: reads l_ only while no
// staged state is pending (the pipeline thread changes it only when swapping one in).
bool Daemon::prepare_reload() {
    auto fresh = load_config(config_path_);
    auto refuse = [&](const std::string &why) {
        fmt::print(stderr, "netlogd: reload: {}; keeping the running configuration\n", why);
        {
            std::lock_guard lk(snap_mu_);
            ++snap_.reload_failures;
        }
        reopen_wanted_ = true;
        queue_.wake();
        return false;
    };
    if (!fresh) return refuse(fresh.error().message);
    if (fresh->rules->groups() != l_.rules->groups())
        fmt::print(stderr, "netlogd: reload: the NFLOG groups changed; restart netlogd to bind "
                           "the new ones (still reading the old ones)\n");
    if (fresh->config.metrics_listen != l_.config.metrics_listen)
        fmt::print(stderr,
                   "netlogd: reload: metrics.listen changed to '{}'; restart netlogd for "
                   "it to take effect ({})\n",
                   fresh->config.metrics_listen,
                   l_.config.metrics_listen.empty()
                       ? std::string("no listener until then")
                       : fmt::format("still listening on {}", l_.config.metrics_listen));

    // Outputs: keep (and reopen) those that stay, open the new ones first; if one cannot
    // be opened, nothing changes.
    auto st = std::make_unique<Staged>();
    const auto &want = fresh->config.outputs;
    st->keep.assign(want.size(), -1);
    st->opened.resize(want.size());
    std::vector<bool> taken(l_.config.outputs.size(), false);
    for (std::size_t i = 0; i < want.size(); ++i) {
        for (std::size_t j = 0; j < l_.config.outputs.size(); ++j)
            if (!taken[j] && output_key(l_.config.outputs[j]) == output_key(want[i])) {
                taken[j] = true;
                st->keep[i] = static_cast<int>(j);
                break;
            }
        if (st->keep[i] >= 0) continue;
        auto s = open_output(want[i], i);
        if (!s) return refuse(s.error().message);
        st->opened[i] = std::move(*s);
    }
    st->store_changed = fresh->config.store_path != l_.config.store_path;
    if (st->store_changed && !fresh->config.store_path.empty()) {
        StoreWatcher::Options so;
        so.path = fresh->config.store_path;
        if (auto w = StoreWatcher::open(std::move(so))) {
            st->store = std::move(*w);
            st->store->start();
        } else {
            fmt::print(stderr, "netlogd: reload: {}; events are not enriched\n", w.error().message);
        }
    }
    {
        const auto &ne = fresh->config.engine, &oe = l_.config.engine;
        st->engine_changed = fresh->config.metadata_source != l_.config.metadata_source ||
                             ne.socket != oe.socket || ne.labels != oe.labels ||
                             ne.grace != oe.grace;
        if (st->engine_changed && (st->engine = open_engine(fresh->config))) st->engine->start();
    }
    auto setup = pipeline_setup(fresh->config);
    setup.options = with_connections(std::move(setup.options));
    if (auto p = Pipeline::make(*fresh->rules, setup.options)) {
        st->pipeline = std::move(*p);
    } else { // an unknown class in rate_limit.classes: the outputs' formats still change
        fmt::print(stderr, "netlogd: reload: {}; rate limiting off until fixed\n",
                   p.error().message);
        setup.options.rate_limit.reset();
        st->pipeline = std::make_unique<Pipeline>(*fresh->rules, std::move(setup.options));
    }
    st->l = std::move(*fresh);

    // Hand it over, wait until the pipeline thread has swapped it in.
    std::unique_lock lk(reload_mu_);
    staged_ = std::move(st);
    staged_ready_.store(true, std::memory_order_release);
    queue_.wake();
    reload_cv_.wait(lk, [&] { return staged_->applied || loader_stop_ || worker_done_.load(); });
    auto done = std::move(staged_);
    staged_ready_ = false;
    lk.unlock();
    done->old_store.reset(); // stops the old watcher's thread here, not on the pipeline's
    done->old_engine.reset();
    if (!done->applied) return false;
    {
        std::lock_guard slk(snap_mu_);
        ++snap_.reloads;
    }
    fmt::print(stderr, "netlogd: reloaded {} ({} classes, {} outputs)\n", config_path_,
               l_.rules->classes.size(), l_.config.outputs.size());
    if (rules_ || l_.config.manage_rules)
        fmt::print(stderr, "netlogd: reload: manage_rules keeps its settings and classes until "
                           "netlogd restarts\n");
    if (const auto &cc = l_.config.connections;
        cc.outcomes != ct_options_.outcomes || cc.flow_end != ct_options_.flow_end ||
        (cc.enabled() && cc.max_tracked != ct_options_.max_tracked))
        fmt::print(stderr, "netlogd: reload: connections keeps its settings until netlogd "
                           "restarts\n");
    if (!peers_ && wants_peers(l_.config))
        fmt::print(stderr, "netlogd: reload: the json extra 'peer' reads the mark rules from "
                           "the next start on; until then sources are named from the store only\n");
    return true;
}

// Pipeline thread, between batches: swap in what prepare_reload() staged. Nothing here
// reads a file; reopening the outputs kept is a non-blocking open of a regular file.
void Daemon::apply_staged() {
    std::lock_guard lk(reload_mu_);
    if (!staged_ || staged_->applied) return;
    auto &st = *staged_;
    flush_summaries(monotonic_ns(), true); // open suppression windows end here
    std::vector<std::unique_ptr<io::Sink>> next(st.keep.size());
    for (std::size_t i = 0; i < next.size(); ++i) {
        if (st.keep[i] >= 0) {
            next[i] = std::move(sinks_[static_cast<std::size_t>(st.keep[i])]);
            next[i]->reopen();
        } else {
            next[i] = std::move(st.opened[i]);
        }
    }
    for (auto &s : sinks_)
        if (s) s->flush(); // outputs that go away
    Loaded old = std::move(l_);
    l_ = std::move(st.l);
    if (st.store_changed) {
        st.old_store = std::move(store_);
        store_ = std::move(st.store);
        index_ = store_ ? store_->current() : nullptr;
        store_gen_ = store_ ? store_->generation() : 0;
    } else if (store_) {
        store_->request_reload();
    }
    if (st.engine_changed) {
        st.old_engine = std::move(engine_);
        if (!store_) index_.reset();
        use_engine(std::move(st.engine));
    } else if (engine_) {
        engine_->request_reload();
    }
    names_.clear();
    st.pipeline->carry_over(*pipeline_);
    st.pipeline->set_interfaces(&names_);
    st.pipeline->set_containers(index_.get());
    st.pipeline->set_local_time(&local_time_);
    st.pipeline->set_peers(marks_.get());
    pipeline_ = std::move(st.pipeline);
    sinks_ = std::move(next);
    st.applied = true;
    staged_ready_ = false;
    reload_cv_.notify_all();
}

// Close due suppression windows (all of them at exit/reload) and write their summaries.
void Daemon::flush_summaries(std::int64_t now, bool all) {
    if (!pipeline_ || !pipeline_->limiting()) return;
    pipeline_->flush({{}, now, realtime_ns() - now}, lines_, all);
    for (auto &s : sinks_)
        if (!s->buffer().empty()) s->flush();
}

void Daemon::publish_reader() {
    const auto &c = sock_->counters();
    const auto depth = queue_.events(), peak = queue_.peak();
    std::lock_guard lk(snap_mu_);
    snap_.received = c.received;
    snap_.datagrams = c.datagrams;
    snap_.recv_calls = c.recv_calls;
    snap_.enobufs = c.enobufs;
    snap_.lost_enobufs = c.lost_enobufs;
    snap_.lost_gap = c.lost_gap;
    snap_.truncated = c.truncated;
    snap_.refused_foreign = c.foreign;
    snap_.refused_unbound = c.unbound;
    snap_.implausible_gaps = c.implausible;
    snap_.queue_dropped = queue_dropped_;
    snap_.queue_events = depth;
    snap_.queue_peak = peak;
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

int Daemon::run() {
    // Signals go to the main thread only: block them before any thread starts.
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGHUP, SIGTERM, SIGINT, SIGUSR1}) sigaddset(&set, s);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);

    if (!start()) return 1;
    if (l_.config.manage_rules) {
        // Companions after the NFLOG socket is bound: what they log from now on is read.
        auto m = RulesManager::install(*l_.config.manage_rules, *l_.rules);
        if (!m) {
            fmt::print(stderr, "netlogd: {}\n", m.error().message);
            return 1;
        }
        rules_ = std::move(*m);
        if (rules_->needs_net_raw() && !l_.config.user.empty()) {
            fmt::print(stderr,
                       "netlogd: manage_rules: the iptables-legacy backend runs "
                       "iptables-legacy-restore, which needs root: remove 'user' from "
                       "{} or use manage_rules.backend: nft\n",
                       config_path_);
            return 1;
        }
    }
    if (wants_peers(l_.config)) {
        PeerWatcher::Options po;
        if (const auto &mr = l_.config.manage_rules) {
            po.backend = mr->backend;
            po.families = mr->families;
            po.interval = std::chrono::milliseconds(
                std::max<long>(1, static_cast<long>(mr->interval * 1000)));
        }
        auto w = PeerWatcher::open(std::move(po));
        if (!w) {
            fmt::print(stderr, "netlogd: {}\n", w.error().message);
            return 1;
        }
        peers_ = std::move(*w);
        if (peers_->needs_net_raw() && !l_.config.user.empty()) {
            fmt::print(stderr,
                       "netlogd: the json extra 'peer' reads iptables-legacy rules with "
                       "iptables-legacy-save, which needs root: remove 'user' from {} "
                       "or use manage_rules.backend: nft\n",
                       config_path_);
            return 1;
        }
        refresh_peers();
    }
    Ops::Options oo;
    oo.metrics_listen = l_.config.metrics_listen;
    oo.user = l_.config.user;
    oo.groups = l_.rules->groups();
    oo.queue_capacity = l_.config.queue;
    oo.counters = [this] { return snapshot(); };
    if (rules_) {
        oo.keep_net_admin = true; // rule management; none at all otherwise
        oo.keep_net_raw = rules_->needs_net_raw();
        oo.rules_metrics = [this](MetricsSnapshot &m) { rules_->fill(m); };
    }
    if (ct_) oo.keep_net_admin = true; // conntrack GET requests (nfnetlink asks for it)
    if (peers_) {
        oo.keep_net_admin = true; // reading the ruleset
        oo.keep_net_raw = oo.keep_net_raw || peers_->needs_net_raw();
        oo.peer_metrics = [this](MetricsSnapshot &m) { peers_->fill(m); };
    }
    if (auto o = Ops::start(std::move(oo))) {
        ops_ = std::move(*o);
    } else {
        fmt::print(stderr, "{}\n", o.error().message);
        return 1;
    }
    if (rules_) rules_->start(); // after the drop: the thread keeps only what is left
    if (peers_) peers_->start();
    if (store_) store_->start();
    if (engine_) engine_->start();
    // Named (top -H, /proc/PID/task/*/comm): tests stop one thread alone by its name.
    reader_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "nl-reader");
        reader_loop();
    });
    worker_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "nl-pipeline");
        pipeline_loop();
    });
    loader_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "nl-reload");
        reload_loop();
    });
    ops_->ready();

    for (;;) {
        siginfo_t info{};
        const int sig = sigwaitinfo(&set, &info);
        if (sig < 0) continue;
        if (sig == SIGHUP) {
            std::lock_guard lk(reload_mu_);
            if (info.si_code == SI_QUEUE && info.si_value.sival_int == reload_token) {
                // `netlogd --reload` waits for the outcome: keep a handle on that process
                // (a pidfd: its pid cannot be reused by another meanwhile).
                const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, info.si_pid, 0));
                if (pidfd >= 0) reload_waiters_.push_back(pidfd);
            }
            reload_wanted_ = true;
            reload_cv_.notify_all();
        } else if (sig == SIGUSR1) {
            fmt::print(stderr, "netlogd: {}\n", counters_line(snapshot()));
        } else {
            break;
        }
    }
    ops_->stopping();
    // alongside: the companions stay; replace: the LOG rules come back (after the drop, with
    // the capabilities kept for the watch thread), while the reader still reads.
    int rc = 0;
    if (rules_ && !rules_->stop()) rc = 1;
    if (peers_) peers_->stop();
    stopping_ = true;
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = write(wake_fd_.get(), &one, sizeof one);
    reader_.join();
    {
        std::lock_guard lk(reload_mu_);
        loader_stop_ = true;
    }
    reload_cv_.notify_all();
    // Drain, but not forever: nothing should block the pipeline or the loader any more
    // (outputs and files are non-blocking), but a bug there must not keep netlogd alive.
    for (int i = 0; i < 100 && !(worker_done_.load() && loader_done_.load()); ++i) usleep(100'000);
    if (!worker_done_.load() || !loader_done_.load()) {
        auto s = snapshot();
        fmt::print(stderr,
                   "netlogd: {} still busy after 10 s; exiting without draining {} "
                   "queued events\n",
                   worker_done_.load() ? "the reload" : "the pipeline", queue_.events());
        fmt::print(stderr, "netlogd: exiting: {}\n", counters_line(s));
        std::fflush(stderr);
        _exit(rc);
    }
    worker_.join();
    loader_.join();
    if (store_) store_->stop();
    if (engine_) engine_->stop();
    fmt::print(stderr, "netlogd: exiting: {}\n", counters_line(snapshot()));
    sock_.reset();
    wake_fd_.reset();
    return rc;
}

} // namespace

int run(const std::string &config_path) {
    auto l = load_config(config_path);
    if (!l) {
        fmt::print(stderr, "netlogd: {}\n", l.error().message);
        return 1;
    }
    Daemon d(config_path, std::move(*l));
    return d.run();
}

} // namespace netlog::daemon
