// SIGHUP in netlogd: the loader thread reads and checks the new configuration and opens
// its outputs; the pipeline thread swaps the prepared state in between batches.
#include "daemon_impl.h"
#include "clock.h"
#include "pipeline_setup.h"
#include "privileges.h"

#include <fmt/format.h>

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace netlog::daemon {

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
    flush_summaries(base::monotonic_ns(), true); // open suppression windows end here
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

} // namespace netlog::daemon
