// Metrics listener, privilege drop, sd_notify and `netlogd --stats`.
#include "ops.h"
#include "clock.h"

#include "load.h"
#include "metrics_server.h"
#include "privileges.h"
#include "process_view.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <sstream>

namespace netlog::daemon {

namespace {

double wall_seconds() {
    return static_cast<double>(base::realtime_ns()) / 1e9;
}

std::string slurp(const char *path) {
    std::ifstream f(path);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

} // namespace

MetricsSnapshot metrics_from_counters(const CountersSnapshot &c) {
    MetricsSnapshot m;
    m.received = c.received;
    static_cast<Accounting &>(m) = c.accounting();
    m.enobufs_errors = c.enobufs;
    m.refused_foreign = c.refused_foreign;
    m.refused_unbound = c.refused_unbound;
    m.implausible_gaps = c.implausible_gaps;
    m.unclassified = c.pipeline.unclassified;
    const auto &rl = c.rate_limit;
    m.suppression_summaries = rl.summaries;
    std::uint64_t by_class = 0;
    for (std::size_t i = 0; i < rl.classes.size() && i < rl.suppressed.size(); ++i) {
        m.classes.push_back({rl.classes[i], 0, rl.suppressed[i]});
        by_class += rl.suppressed[i];
    }
    if (by_class < rl.suppressed_total) // classes a reload removed keep their count here
        m.classes.push_back({"(removed by a reload)", 0, rl.suppressed_total - by_class});
    for (const auto &o : c.outputs) {
        MetricsSnapshot::Output out;
        out.name = o.name;
        out.lines = o.lines;
        out.bytes = o.bytes;
        out.dropped = o.dropped;
        out.errors = o.errors;
        out.reopens = o.reopens;
        out.routed = o.routed;
        out.files = o.files;
        out.fallback = o.fallback;
        m.outputs.push_back(std::move(out));
    }
    m.queue_depth = c.queue_events;
    m.containers = c.containers;
    m.metadata = c.metadata;
    m.sources_resolved = c.pipeline.sources_resolved;
    m.sources_unresolved = c.pipeline.sources_unresolved;
    m.connections_enabled = c.connections_enabled;
    m.connections = c.pipeline.connections;
    m.conntrack_overruns = c.conntrack_overruns;
    return m;
}

std::string status_line(const MetricsSnapshot &m) {
    return fmt::format("events received {}, emitted {}, suppressed {}, dropped {} (enobufs {}, "
                       "gap {}, queue full {}, decode {}); queue {}",
                       m.received, m.emitted, m.suppressed, m.lost(),
                       m.drops(DropReason::kernel_enobufs), m.drops(DropReason::seq_gap),
                       m.drops(DropReason::queue_full), m.drops(DropReason::decode_error),
                       m.queue_depth);
}

Ops::Ops(Options o) : o_(std::move(o)) {}

Ops::~Ops() = default;

Result<std::unique_ptr<Ops>> Ops::start(Options options) {
    std::unique_ptr<Ops> ops(new Ops(std::move(options)));
    ops->start_time_ = wall_seconds();
    ops->watchdog_usec_ = io::watchdog_usec();
    ops->last_tick_ns_ = base::monotonic_ns();
    // Capabilities are per thread: drop them before the listener's thread exists, so that
    // no thread of netlogd keeps more than the config needs.
    auto d = io::drop_privileges(ops->o_.keep_net_admin, ops->o_.user, ops->o_.keep_net_raw);
    if (!d) return make_error(d.error().message);
    if (!ops->o_.metrics_listen.empty()) {
        auto *self = ops.get();
        io::MetricsServerOptions so;
        so.listen = self->o_.metrics_listen;
        so.metrics = [self] { return metrics_render(self->metrics()); };
        so.health = [self] { return self->health(); };
        auto s = io::MetricsServer::start(std::move(so));
        if (!s) return make_error(s.error().message);
        ops->server_ = std::move(*s);
    }
    return ops;
}

void Ops::ready() {
    ready_ = true;
    io::notify_ready();
    fmt::print(stderr, "netlogd: running; {}{}\n", io::capability_summary(),
               server_ ? fmt::format("; metrics on http://{}/metrics", o_.metrics_listen) : "");
}

void Ops::pipeline_tick(const StoreWatcher *store, const Config &config) {
    const auto now = base::monotonic_ns();
    last_tick_ns_.store(now, std::memory_order_relaxed);
    if (watchdog_usec_ && now - last_pet_ns_ >= static_cast<std::int64_t>(watchdog_usec_) * 500) {
        io::notify_watchdog();
        last_pet_ns_ = now;
    }
    if (now - last_refresh_ns_ >= 100'000'000) {
        last_refresh_ns_ = now;
        std::vector<OutputKind> kinds;
        kinds.reserve(config.outputs.size());
        for (const auto &o : config.outputs)
            kinds.push_back({std::string(to_string(o.type)), std::string(to_string(o.format))});
        std::lock_guard lk(mu_);
        store_ = store ? store->stats() : StoreWatcher::Stats{};
        kinds_ = std::move(kinds);
    }
    if (ready_ && now - last_status_ns_ >= 5'000'000'000) {
        last_status_ns_ = now;
        io::notify_status(status_line(metrics_from_counters(o_.counters())));
    }
}

void Ops::stopping() {
    ready_ = false;
    io::notify_stopping();
}

std::string Ops::health() const {
    // Ready, the pipeline thread went round its loop in the last 10 s, and the store (when
    // there is one) loaded the last time it was read.
    if (!ready_) return "not ready";
    if (base::monotonic_ns() - last_tick_ns_.load(std::memory_order_relaxed) >= 10'000'000'000)
        return "not ready: the pipeline thread is stuck";
    std::lock_guard lk(mu_);
    if (!store_.problem.empty())
        return fmt::format("store not loaded: {} (enriching with the previous index)",
                           store_.problem);
    return {};
}

int Ops::metrics_port() const {
    return server_ ? server_->port() : 0;
}

MetricsSnapshot Ops::metrics() const {
    auto m = metrics_from_counters(o_.counters());
    m.ready = ready_;
    m.start_time_seconds = start_time_;
    m.queue_capacity = o_.queue_capacity;
    m.version = NETLOG_VERSION;
    m.process = io::read_process_view();
    if (server_) m.http = server_->stats();
    if (o_.rules_metrics) o_.rules_metrics(m);
    if (o_.peer_metrics) o_.peer_metrics(m);
    {
        std::lock_guard lk(mu_);
        if (store_.reloads_ok || store_.reloads_failed || store_.containers) {
            m.store_reloads_ok = store_.reloads_ok;
            m.store_reloads_failed = store_.reloads_failed;
            m.containers = store_.containers;
        }
        for (std::size_t i = 0; i < m.outputs.size() && i < kinds_.size(); ++i) {
            m.outputs[i].type = kinds_[i].type;
            m.outputs[i].format = kinds_[i].format;
            // a syslog output's reopens are its reconnections
            if (kinds_[i].type == "syslog") m.outputs[i].reconnects = m.outputs[i].reopens;
        }
    }
    // The kernel's view of our groups and of the socket that holds them (under /proc/self:
    // the unit's ProcSubset=pid hides /proc/net, not /proc/self/net).
    for (const auto &g :
         kernel_parse_nfnetlink_log(slurp("/proc/self/net/netfilter/nfnetlink_log")))
        if (std::find(o_.groups.begin(), o_.groups.end(), g.group) != o_.groups.end())
            m.kernel_groups.push_back(g);
    if (!m.kernel_groups.empty())
        kernel_parse_netlink(slurp("/proc/self/net/netlink"), m.kernel_groups.front().portid,
                             m.kernel_socket);
    return m;
}

int stats_command(const std::string &config_path) {
    auto text = read_text(config_path, "config");
    if (!text) {
        fmt::print(stderr, "netlogd: {}\n", text.error().message);
        return 1;
    }
    auto c = config_parse(*text, config_path);
    if (!c) {
        fmt::print(stderr, "netlogd: {}\n", c.error().message);
        return 1;
    }
    if (c->metrics_listen.empty()) {
        fmt::print(stderr,
                   "netlogd: --stats: {} has no metrics listener: add "
                   "`metrics: {{listen: \"127.0.0.1:7561\"}}` and reload netlogd\n",
                   config_path);
        return 1;
    }
    std::string host;
    int port = 0;
    if (!io::split_host_port(c->metrics_listen, host, port) || port == 0) {
        fmt::print(stderr, "netlogd: --stats: {}: metrics.listen '{}' is not HOST:PORT\n",
                   config_path, c->metrics_listen);
        return 1;
    }
    if (host == "0.0.0.0") host = "127.0.0.1";
    if (host == "::") host = "::1";
    const auto url = fmt::format("http://{}/metrics", c->metrics_listen);
    auto res = io::http_get(host, port, "/metrics", 10'000);
    if (!res) {
        fmt::print(stderr,
                   "netlogd: --stats: cannot read {} ({}): is netlogd running with "
                   "this config ({})?\n",
                   url, res.error().message, config_path);
        return 1;
    }
    if (res->status != 200) {
        fmt::print(stderr, "netlogd: --stats: {} answered HTTP {}\n", url, res->status);
        return 1;
    }
    const auto parsed = metrics_parse(res->body);
    if (!parsed) {
        fmt::print(stderr, "netlogd: --stats: {}: {}\n", url, parsed.error().message);
        return 1;
    }
    const MetricsSnapshot &m = *parsed;
    const auto up = static_cast<std::time_t>(m.start_time_seconds);
    char when[64] = "";
    std::tm tm{};
    if (gmtime_r(&up, &tm)) std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    fmt::print("netlogd {} ({}), running since {}\n", url, m.ready ? "ready" : "not ready", when);
    fmt::print("{}", metrics_identity(m));
    fmt::print("queue {} of {} events; store: {} reloads ok, {} failed, {} containers; kernel "
               "socket drops {}\n",
               m.queue_depth, m.queue_capacity, m.store_reloads_ok, m.store_reloads_failed,
               m.containers, m.kernel_socket.drops);
    if (const auto &md = m.metadata; !md.source.empty())
        fmt::print("metadata: {} {}; {} running + {} gone containers; {} connects, {} disconnects, "
                   "{} failed attempts; {} events, {} lookups; last event indexed {:.3f} s after "
                   "the daemon's time\n",
                   md.source, md.up ? "up" : "DOWN (keeping the last index)", md.running, md.gone,
                   md.connects, md.disconnects, md.failures, md.events, md.lookups,
                   md.last_event_lag);
    for (const auto &out : m.outputs)
        if (out.routed)
            fmt::print("output {}: {} files open, {} lines to its fallback file\n", out.name,
                       out.files, out.fallback);
    if (m.peer_enabled)
        fmt::print("peer: {} marks name a source app ({} ruleset reads, {} failed); ingress "
                   "events with their source named: {} of {}\n",
                   m.peer_marks, m.peer_reads, m.peer_read_errors, m.sources_resolved,
                   m.sources_resolved + m.sources_unresolved);
    if (m.connections_enabled) {
        // Events of their own: outside the identity above.
        const auto &c = m.connections;
        fmt::print("connections: followed {} = refused {} + unanswered {} + unreachable {} + "
                   "closed {} + quiet {} + lost {} + active {} ({}); not followed (table full) "
                   "{}; connection events {}; conntrack overruns {}\n",
                   c.followed, c.refused, c.unanswered, c.unreachable, c.closed, c.quiet, c.lost,
                   c.active, c.holds() ? "holds" : "BROKEN", c.untracked, c.events(),
                   m.conntrack_overruns);
    }
    return m.implausible_gaps == 0 && m.holds() ? 0 : 3;
}

} // namespace netlog::daemon
