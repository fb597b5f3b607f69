// netlogd's mark -> app map, kept current (peer_watch.h).
#include "peer_watch.h"

#include "rules_watch.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <pthread.h>

namespace netlog::daemon {

namespace {

void say(const std::string &line) {
    fmt::print(stderr, "netlogd: peer: {}\n", line);
    std::fflush(stderr);
}

} // namespace

Result<std::unique_ptr<PeerWatcher>> PeerWatcher::open(Options options) {
    std::unique_ptr<PeerWatcher> w(new PeerWatcher());
    w->options_ = std::move(options);
    std::string why;
    auto b = rules_backends_pick(w->options_.backend, w->options_.families, why);
    if (!b)
        return make_error(fmt::format("the json extra 'peer' reads the policy agent's mark rules "
                                      "from the ruleset, which could not be read: {}",
                                      b.error().message));
    w->backends_ = std::move(*b);
    w->current_.store(std::make_shared<const PeerMarks>());
    say(fmt::format("reading mark rules through {}", why));
    w->read_all();
    return w;
}

PeerWatcher::~PeerWatcher() {
    stop();
}

bool PeerWatcher::needs_net_raw() const {
    return std::any_of(backends_.begin(), backends_.end(),
                       [](const auto &b) { return b->name() == "legacy"; });
}

void PeerWatcher::read_all() {
    std::vector<Ruleset> sets;
    for (auto &b : backends_)
        for (Family f : options_.families) {
            auto rs = b->read(f);
            if (!rs) {
                ++errors_;
                const auto e =
                    fmt::format("{} {}: {}", b->name(), to_string(f), rs.error().message);
                if (e != last_error_) say(e + " (the last map is kept)");
                last_error_ = e;
                return;
            }
            sets.push_back(std::move(*rs));
        }
    ++reads_;
    last_error_.clear();
    auto marks = std::make_shared<const PeerMarks>(PeerMarks::from_rulesets(sets));
    if (*marks == *current_.load()) return;
    say(fmt::format("{} mark{} name{} a source app{}", marks->size(), marks->size() == 1 ? "" : "s",
                    marks->size() == 1 ? "s" : "",
                    marks->ambiguous()
                        ? fmt::format(" ({} more name several apps: \"\")", marks->ambiguous())
                        : std::string()));
    current_.store(std::move(marks));
    ++generation_;
}

void PeerWatcher::start() {
    thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "nl-peers");
        const auto per_backend = std::max(
            std::chrono::milliseconds(1),
            options_.interval / static_cast<long>(std::max<std::size_t>(1, backends_.size())));
        // The first round reads again once nft's notifications are subscribed to (its first
        // wait_change): a change made since open() read is not missed.
        bool first = true;
        while (!stop_) {
            bool changed = first;
            first = false;
            for (auto &b : backends_) {
                if (stop_) break;
                auto c = b->wait_change(per_backend);
                if (!c) {
                    ++errors_;
                    const auto e = fmt::format("{}: {}", b->name(), c.error().message);
                    if (e != last_error_) say(e);
                    last_error_ = e;
                    continue;
                }
                changed = changed || *c;
            }
            if (changed && !stop_) read_all();
        }
    });
}

void PeerWatcher::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

void PeerWatcher::fill(MetricsSnapshot &m) const {
    m.peer_enabled = true;
    m.peer_marks = current_.load()->size();
    m.peer_reads = reads_.load();
    m.peer_read_errors = errors_.load();
}

} // namespace netlog::daemon
