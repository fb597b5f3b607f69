// Reading metrics_render's exposition text back into a MetricsSnapshot: what `netlogd --stats`
// scrapes from a running daemon.
#include "metrics.h"
#include "metrics_text.h"

#include <fmt/format.h>

#include <charconv>
#include <limits>

namespace netlog {

using metrics_text::for_each_line;
using metrics_text::num;

namespace {

// One sample line: name, labels (unescaped), value text.
struct Sample {
    std::string_view name;
    std::vector<std::pair<std::string_view, std::string>> labels;
    std::string_view value;
    std::string_view label(std::string_view key) const {
        for (const auto &[k, v] : labels)
            if (k == key) return v;
        return {};
    }
};

bool parse_sample(std::string_view line, Sample &s) {
    s.labels.clear();
    const auto name_end = line.find_first_of(" {");
    if (name_end == std::string_view::npos || name_end == 0) return false;
    s.name = line.substr(0, name_end);
    std::size_t i = name_end;
    if (line[i] == '{') {
        ++i;
        while (i < line.size() && line[i] != '}') {
            const auto eq = line.find('=', i);
            if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"')
                return false;
            const auto key = line.substr(i, eq - i);
            std::string v;
            std::size_t j = eq + 2;
            for (; j < line.size() && line[j] != '"'; ++j) {
                if (line[j] == '\\' && j + 1 < line.size()) {
                    ++j;
                    v += line[j] == 'n' ? '\n' : line[j];
                } else {
                    v += line[j];
                }
            }
            if (j >= line.size()) return false;
            s.labels.emplace_back(key, std::move(v));
            i = j + 1;
            if (i < line.size() && line[i] == ',') ++i;
        }
        if (i >= line.size()) return false;
        ++i; // '}'
    }
    while (i < line.size() && line[i] == ' ') ++i;
    auto value = line.substr(i);
    if (const auto sp = value.find(' '); sp != std::string_view::npos)
        value = value.substr(0, sp); // a timestamp may follow
    if (value.empty()) return false;
    s.value = value;
    return true;
}

bool to_double(std::string_view s, double &v) {
    if (s == "+Inf") {
        v = std::numeric_limits<double>::infinity();
        return true;
    }
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

MetricsSnapshot::Output &output_of(MetricsSnapshot &m, const Sample &s) {
    const auto name = s.label("output");
    for (auto &o : m.outputs)
        if (o.name == name) return o;
    auto &o = m.outputs.emplace_back();
    o.name = std::string(name);
    o.type = std::string(s.label("type"));
    o.format = std::string(s.label("format"));
    return o;
}

KernelGroupView &group_of(MetricsSnapshot &m, std::uint32_t group) {
    for (auto &g : m.kernel_groups)
        if (g.group == group) return g;
    auto &g = m.kernel_groups.emplace_back();
    g.group = group;
    return g;
}

} // namespace

Result<MetricsSnapshot> metrics_parse(std::string_view text) {
    MetricsSnapshot m;
    std::string error;
    m.reconcile_latency.bounds.clear();
    m.reconcile_latency.counts.clear();
    std::vector<std::pair<double, std::uint64_t>> buckets; // cumulative, as exposed
    bool ok = true;
    Sample s;
    for_each_line(text, [&](std::string_view line) {
        if (!ok || line.empty() || line[0] == '#') return;
        double d = 0;
        std::uint64_t u = 0;
        if (!parse_sample(line, s) || !to_double(s.value, d)) {
            ok = false;
            error = fmt::format("cannot read the metrics line '{}'", line);
            return;
        }
        u = d < 0 ? 0 : static_cast<std::uint64_t>(d);
        num(s.value, u); // exact when integral
        const auto n = s.name;
        if (n == "netlog_up")
            m.ready = u != 0;
        else if (n == "netlog_start_time_seconds")
            m.start_time_seconds = d;
        else if (n == "netlog_events_received_total")
            m.received = u;
        else if (n == "netlog_events_kernel_logged_total")
            m.kernel_logged = u;
        else if (n == "netlog_events_emitted_total")
            m.emitted = u;
        else if (n == "netlog_events_unclassified_total")
            m.unclassified = u;
        else if (n == "netlog_events_dropped_total") {
            for (std::size_t i = 0; i < m.dropped.size(); ++i)
                if (to_string(static_cast<DropReason>(i)) == s.label("reason")) m.dropped[i] = u;
        } else if (n == "netlog_netlink_enobufs_total")
            m.enobufs_errors = u;
        else if (n == "netlog_netlink_refused_total") {
            const auto r = s.label("reason");
            (r == "not_kernel"      ? m.refused_foreign
             : r == "unbound_group" ? m.refused_unbound
                                    : m.implausible_gaps) = u;
        } else if (n == "netlog_events_suppressed_total") {
            m.classes.push_back({std::string(s.label("class")), 0, u});
            m.suppressed += u;
        } else if (n == "netlog_suppression_summaries_total")
            m.suppression_summaries = u;
        else if (n == "netlog_output_lines_total")
            output_of(m, s).lines = u;
        else if (n == "netlog_output_bytes_total")
            output_of(m, s).bytes = u;
        else if (n == "netlog_output_dropped_total")
            output_of(m, s).dropped = u;
        else if (n == "netlog_output_errors_total")
            output_of(m, s).errors = u;
        else if (n == "netlog_output_reopens_total")
            output_of(m, s).reopens = u;
        else if (n == "netlog_output_reconnects_total")
            output_of(m, s).reconnects = u;
        else if (n == "netlog_output_files") {
            output_of(m, s).files = u;
            output_of(m, s).routed = true;
        } else if (n == "netlog_output_fallback_lines_total")
            output_of(m, s).fallback = u;
        else if (n == "netlog_store_reloads_total") {
            (s.label("result") == "ok" ? m.store_reloads_ok : m.store_reloads_failed) = u;
        } else if (n == "netlog_containers")
            m.containers = u;
        else if (n.starts_with("netlog_metadata_")) {
            auto &md = m.metadata;
            md.source = std::string(s.label("source"));
            if (n == "netlog_metadata_source_up")
                md.up = u != 0;
            else if (n == "netlog_metadata_source_connects_total")
                md.connects = u;
            else if (n == "netlog_metadata_source_disconnects_total")
                md.disconnects = u;
            else if (n == "netlog_metadata_source_failures_total")
                md.failures = u;
            else if (n == "netlog_metadata_source_events_total")
                md.events = u;
            else if (n == "netlog_metadata_source_lookups_total")
                md.lookups = u;
            else if (n == "netlog_metadata_containers")
                (s.label("state") == "gone" ? md.gone : md.running) = u;
            else if (n == "netlog_metadata_event_lag_seconds")
                md.last_event_lag = d;
        } else if (n == "netlog_rule_reconciles_total")
            m.rule_reconciles = u;
        else if (n == "netlog_rules_not_covered")
            m.rules_not_covered = u;
        else if (n == "netlog_peer_marks") {
            m.peer_enabled = true;
            m.peer_marks = u;
        } else if (n == "netlog_peer_ruleset_reads_total") {
            (s.label("result") == "ok" ? m.peer_reads : m.peer_read_errors) = u;
        } else if (n == "netlog_ingress_sources_total") {
            (s.label("result") == "resolved" ? m.sources_resolved : m.sources_unresolved) = u;
        } else if (n.starts_with("netlog_connections_") || n.starts_with("netlog_conntrack_")) {
            auto &c = m.connections;
            m.connections_enabled = true;
            const auto r = s.label("result");
            if (n == "netlog_connections_followed_total")
                c.followed = u;
            else if (n == "netlog_connections_untracked_total")
                c.untracked = u;
            else if (n == "netlog_connections_active")
                c.active = u;
            else if (n == "netlog_conntrack_overruns_total")
                m.conntrack_overruns = u;
            else if (n == "netlog_conntrack_messages_total")
                (r == "bad" ? c.bad_messages : c.messages) = u;
            else if (n == "netlog_connections_ended_total") {
                if (r == "refused")
                    c.refused = u;
                else if (r == "unanswered")
                    c.unanswered = u;
                else if (r == "unreachable")
                    c.unreachable = u;
                else if (r == "closed")
                    c.closed = u;
                else if (r == "quiet")
                    c.quiet = u;
                else if (r == "lost")
                    c.lost = u;
            }
        } else if (n == "netlog_rule_reconcile_latency_seconds_bucket") {
            double le = 0;
            if (to_double(s.label("le"), le)) buckets.emplace_back(le, u);
        } else if (n == "netlog_rule_reconcile_latency_seconds_sum")
            m.reconcile_latency.sum = d;
        else if (n == "netlog_rule_reconcile_latency_seconds_count")
            m.reconcile_latency.total = u;
        else if (n == "netlog_events_in_flight")
            m.in_flight = u;
        else if (n == "netlog_queue_depth")
            m.queue_depth = u;
        else if (n == "netlog_queue_capacity")
            m.queue_capacity = u;
        else if (n == "netlog_kernel_group_queue_length" ||
                 n == "netlog_kernel_group_copy_range_bytes") {
            std::uint32_t g = 0;
            if (!num(s.label("group"), g)) return;
            auto &v = group_of(m, g);
            (n == "netlog_kernel_group_queue_length" ? v.queue_len : v.copy_range) =
                static_cast<std::uint32_t>(u);
        } else if (n == "netlog_kernel_socket_drops_total")
            m.kernel_socket.drops = u;
        else if (n == "netlog_kernel_socket_rmem_bytes")
            m.kernel_socket.rmem = u;
    });
    if (!ok) return make_error(std::move(error));
    // Cumulative buckets back to per-bucket counts; the last (+Inf) has no bound.
    std::uint64_t prev = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        if (i + 1 < buckets.size()) m.reconcile_latency.bounds.push_back(buckets[i].first);
        m.reconcile_latency.counts.push_back(buckets[i].second - std::min(prev, buckets[i].second));
        prev = buckets[i].second;
    }
    if (m.reconcile_latency.counts.empty()) m.reconcile_latency = Histogram();
    return m;
}

} // namespace netlog
