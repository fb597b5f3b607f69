// netlogd's live mode: start (everything that can be refused, before any thread), the
// main thread's signal loop, and an orderly stop. The threads' own loops are in
// daemon_reader.cpp, daemon_pipeline.cpp and daemon_reload.cpp.
#include "daemon_impl.h"

#include "clock.h"
#include "pipeline_setup.h"
#include "privileges.h"

#include <fmt/format.h>

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace netlog::daemon {

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
        auto m = RulesManager::install(*l_.config.manage_rules, *l_.rules,
                                       l_.config.connections.outcomes);
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
    wake_.notify();
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
    return rc;
}

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
