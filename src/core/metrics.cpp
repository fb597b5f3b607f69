// netlogd's counters rendered: the Prometheus text exposition (every family, HELP and TYPE) and
// the accounting identity in words for `netlogd --stats`.
#include "metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace netlog {

void Histogram::observe(double seconds) {
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    ++counts[i];
    sum += seconds;
    ++total;
}

namespace {

// Label values: backslash, double quote and newline escaped (the exposition format's rules).
std::string label(std::string_view v) {
    std::string o;
    for (char c : v) {
        if (c == '\\')
            o += "\\\\";
        else if (c == '"')
            o += "\\\"";
        else if (c == '\n')
            o += "\\n";
        else
            o += c;
    }
    return o;
}

struct Out {
    std::string s;
    void family(std::string_view name, std::string_view type, std::string_view help) {
        fmt::format_to(std::back_inserter(s), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                       type);
    }
    template <class V> void sample(std::string_view name, V v, std::string_view labels = {}) {
        if (labels.empty())
            fmt::format_to(std::back_inserter(s), "{} {}\n", name, v);
        else
            fmt::format_to(std::back_inserter(s), "{}{{{}}} {}\n", name, labels, v);
    }
};

} // namespace

std::string metrics_render(const MetricsSnapshot &m) {
    Out o;
    o.family("netlog_up", "gauge", "1 when netlogd has bound its NFLOG groups and is running.");
    o.sample("netlog_up", m.ready ? 1 : 0);
    o.family("netlog_start_time_seconds", "gauge",
             "Start time of netlogd, seconds since the epoch.");
    o.sample("netlog_start_time_seconds", fmt::format("{:.3f}", m.start_time_seconds));

    o.family("netlog_events_received_total", "counter",
             "NFLOG packet messages read from the netlink socket.");
    o.sample("netlog_events_received_total", m.received);
    o.family("netlog_events_kernel_logged_total", "counter",
             "Events the kernel sent to netlogd's NFLOG groups, from the NFLOG sequence numbers "
             "(received + lost on the way).");
    o.sample("netlog_events_kernel_logged_total", m.kernel_logged);
    o.family("netlog_events_emitted_total", "counter",
             "Events formatted for the outputs (once per event, whatever the number of outputs).");
    o.sample("netlog_events_emitted_total", m.emitted);
    o.family("netlog_events_unclassified_total", "counter",
             "Events whose prefix matched no class of the rules file.");
    o.sample("netlog_events_unclassified_total", m.unclassified);
    o.family("netlog_events_dropped_total", "counter",
             "Events lost, by reason: kernel_enobufs (socket buffer overrun), seq_gap (other "
             "NFLOG sequence gaps), queue_full (reader to pipeline queue), decode_error, sink "
             "(lines an output could not write, summed over outputs), unclassified (no class "
             "matched and unclassified.action is drop), filtered (no output's match takes the "
             "event), connection_signal (netlog's own ICMP error rule: read for connection "
             "outcomes, not written).");
    for (std::size_t i = 0; i < m.dropped.size(); ++i)
        o.sample("netlog_events_dropped_total", m.dropped[i],
                 fmt::format("reason=\"{}\"", to_string(static_cast<DropReason>(i))));
    o.family("netlog_netlink_enobufs_total", "counter",
             "recv() calls that failed with ENOBUFS (each loses one or more events).");
    o.sample("netlog_netlink_enobufs_total", m.enobufs_errors);
    o.family("netlog_netlink_refused_total", "counter",
             "NFLOG messages refused, never counted as events: not_kernel (sent by a process, "
             "not the kernel), unbound_group (a group netlogd did not bind), "
             "implausible_sequence (a sequence jump larger than the kernel could have logged: "
             "not counted as lost).");
    o.sample("netlog_netlink_refused_total", m.refused_foreign, "reason=\"not_kernel\"");
    o.sample("netlog_netlink_refused_total", m.refused_unbound, "reason=\"unbound_group\"");
    o.sample("netlog_netlink_refused_total", m.implausible_gaps, "reason=\"implausible_sequence\"");

    o.family("netlog_events_suppressed_total", "counter",
             "Events suppressed by the rate limit, by class (each appears in a summary event).");
    for (const auto &c : m.classes)
        o.sample("netlog_events_suppressed_total", c.suppressed,
                 fmt::format("class=\"{}\"", label(c.name)));
    o.family("netlog_suppression_summaries_total", "counter",
             "Suppression summary events emitted by the rate limit.");
    o.sample("netlog_suppression_summaries_total", m.suppression_summaries);

    // One block per family (the exposition format's rule): HELP, TYPE, then every sample.
    using Out_ = MetricsSnapshot::Output;
    // `routed_only`: a family only the file outputs whose path names fields have (none: no
    // family at all).
    const auto output_family = [&](std::string_view name, std::string_view type,
                                   std::string_view help, auto field, bool routed_only) {
        if (routed_only && std::none_of(m.outputs.begin(), m.outputs.end(),
                                        [](const Out_ &x) { return x.routed; }))
            return;
        o.family(name, type, help);
        for (const auto &out : m.outputs)
            if (!routed_only || out.routed)
                o.sample(name, field(out),
                         fmt::format("output=\"{}\",type=\"{}\",format=\"{}\"", label(out.name),
                                     out.type, out.format));
    };
    const auto per_output = [&](std::string_view name, std::string_view help, auto field) {
        output_family(name, "counter", help, field, false);
    };
    per_output("netlog_output_lines_total", "Lines written, per output.",
               [](const Out_ &x) { return x.lines; });
    per_output("netlog_output_bytes_total", "Bytes written, per output.",
               [](const Out_ &x) { return x.bytes; });
    per_output("netlog_output_dropped_total", "Lines an output could not write.",
               [](const Out_ &x) { return x.dropped; });
    per_output("netlog_output_errors_total", "Failed writes or opens, per output.",
               [](const Out_ &x) { return x.errors; });
    per_output("netlog_output_reopens_total", "File reopens (SIGHUP, rotation), per output.",
               [](const Out_ &x) { return x.reopens; });
    per_output("netlog_output_reconnects_total", "Syslog reconnections, per output.",
               [](const Out_ &x) { return x.reconnects; });
    const auto per_routed = [&](std::string_view name, std::string_view type, std::string_view help,
                                auto field) { output_family(name, type, help, field, true); };
    per_routed("netlog_output_files", "gauge",
               "Files open by an output whose path names fields (one per value).",
               [](const Out_ &x) { return x.files; });
    per_routed("netlog_output_fallback_lines_total", "counter",
               "Lines such an output sent to its fallback file: no usable value, max_files "
               "reached, or a file that would not open.",
               [](const Out_ &x) { return x.fallback; });

    o.family("netlog_store_reloads_total", "counter", "Container store loads, by result.");
    o.sample("netlog_store_reloads_total", m.store_reloads_ok, "result=\"ok\"");
    o.sample("netlog_store_reloads_total", m.store_reloads_failed, "result=\"error\"");
    o.family("netlog_containers", "gauge", "Containers in the current index.");
    o.sample("netlog_containers", m.containers);

    if (!m.metadata.source.empty()) {
        const auto &md = m.metadata;
        const auto src = fmt::format("source=\"{}\"", label(md.source));
        o.family("netlog_metadata_source_up", "gauge",
                 "1 while the Docker/Podman source is connected and following events.");
        o.sample("netlog_metadata_source_up", md.up ? 1 : 0, src);
        o.family("netlog_metadata_source_connects_total", "counter",
                 "Connections that listed the containers and followed the events.");
        o.sample("netlog_metadata_source_connects_total", md.connects, src);
        o.family("netlog_metadata_source_disconnects_total", "counter",
                 "Connections that ended (daemon gone, events stream cut).");
        o.sample("netlog_metadata_source_disconnects_total", md.disconnects, src);
        o.family("netlog_metadata_source_failures_total", "counter",
                 "Attempts to connect that failed (socket missing, refused, API too old).");
        o.sample("netlog_metadata_source_failures_total", md.failures, src);
        o.family("netlog_metadata_source_events_total", "counter", "Daemon events read.");
        o.sample("netlog_metadata_source_events_total", md.events, src);
        o.family("netlog_metadata_source_lookups_total", "counter",
                 "Containers looked up after an event.");
        o.sample("netlog_metadata_source_lookups_total", md.lookups, src);
        o.family("netlog_metadata_containers", "gauge",
                 "Containers the source indexes, running or gone (kept for the grace period).");
        o.sample("netlog_metadata_containers", md.running, src + ",state=\"running\"");
        o.sample("netlog_metadata_containers", md.gone, src + ",state=\"gone\"");
        o.family("netlog_metadata_event_lag_seconds", "gauge",
                 "From the daemon's time of the last indexed event to the index that has it.");
        o.sample("netlog_metadata_event_lag_seconds", md.last_event_lag, src);
    }

    o.family("netlog_rule_reconciles_total", "counter",
             "Rule reconciles that changed the ruleset.");
    o.sample("netlog_rule_reconciles_total", m.rule_reconciles);
    o.family("netlog_rules_not_covered", "gauge",
             "Class-matched LOG rules left without a companion at the last check (side "
             "effects, or refused by the kernel; retried at every check).");
    o.sample("netlog_rules_not_covered", m.rules_not_covered);
    if (m.peer_enabled) {
        o.family("netlog_peer_marks", "gauge",
                 "Packet marks the policy agent's rules name a source app for.");
        o.sample("netlog_peer_marks", m.peer_marks);
        o.family("netlog_peer_ruleset_reads_total", "counter",
                 "Ruleset reads for the mark rules, by result.");
        o.sample("netlog_peer_ruleset_reads_total", m.peer_reads, "result=\"ok\"");
        o.sample("netlog_peer_ruleset_reads_total", m.peer_read_errors, "result=\"error\"");
        o.family("netlog_ingress_sources_total", "counter",
                 "Ingress events emitted with their source named (a container on this cell, or "
                 "the app of the packet's mark) or not.");
        o.sample("netlog_ingress_sources_total", m.sources_resolved, "result=\"resolved\"");
        o.sample("netlog_ingress_sources_total", m.sources_unresolved, "result=\"unresolved\"");
    }
    if (m.connections_enabled) {
        const auto &c = m.connections;
        o.family("netlog_connections_followed_total", "counter",
                 "Connections followed through conntrack after their first packet was emitted "
                 "as allowed.");
        o.sample("netlog_connections_followed_total", c.followed);
        o.family("netlog_connections_untracked_total", "counter",
                 "Allowed first packets whose connection was not followed: the table was full "
                 "(connections.max_tracked).");
        o.sample("netlog_connections_untracked_total", c.untracked);
        o.family("netlog_connections_ended_total", "counter",
                 "Followed connections that ended, by result: refused, unanswered, unreachable "
                 "(a -failed event), closed (a -closed event), quiet (no event asked for), lost "
                 "(the kernel had no entry and no DESTROY came).");
        for (const auto &[v, r] : {std::pair{c.refused, "refused"},
                                   {c.unanswered, "unanswered"},
                                   {c.unreachable, "unreachable"},
                                   {c.closed, "closed"},
                                   {c.quiet, "quiet"},
                                   {c.lost, "lost"}})
            o.sample("netlog_connections_ended_total", v, fmt::format("result=\"{}\"", r));
        o.family("netlog_connections_active", "gauge", "Connections followed now.");
        o.sample("netlog_connections_active", c.active);
        o.family("netlog_conntrack_messages_total", "counter",
                 "Conntrack messages read (events and answers), and those that did not parse.");
        o.sample("netlog_conntrack_messages_total", c.messages, "result=\"ok\"");
        o.sample("netlog_conntrack_messages_total", c.bad_messages, "result=\"bad\"");
        o.family("netlog_conntrack_overruns_total", "counter",
                 "Times the kernel could not deliver conntrack events (ENOBUFS).");
        o.sample("netlog_conntrack_overruns_total", m.conntrack_overruns);
    }
    o.family("netlog_rule_reconcile_latency_seconds", "histogram",
             "Time from a ruleset change to the companions being back in place.");
    std::uint64_t cum = 0;
    for (std::size_t i = 0; i < m.reconcile_latency.bounds.size(); ++i) {
        cum += m.reconcile_latency.counts[i];
        o.sample("netlog_rule_reconcile_latency_seconds_bucket", cum,
                 fmt::format("le=\"{}\"", m.reconcile_latency.bounds[i]));
    }
    cum += m.reconcile_latency.counts.back();
    o.sample("netlog_rule_reconcile_latency_seconds_bucket", cum, "le=\"+Inf\"");
    o.sample("netlog_rule_reconcile_latency_seconds_sum", m.reconcile_latency.sum);
    o.sample("netlog_rule_reconcile_latency_seconds_count", m.reconcile_latency.total);

    o.family("netlog_events_in_flight", "gauge",
             "Events read from the socket and not yet emitted or dropped (queued or being "
             "processed).");
    o.sample("netlog_events_in_flight", m.in_flight);
    o.family("netlog_queue_depth", "gauge", "Events waiting between the reader and the pipeline.");
    o.sample("netlog_queue_depth", m.queue_depth);
    o.family("netlog_queue_capacity", "gauge",
             "Capacity of the reader to pipeline queue, in events.");
    o.sample("netlog_queue_capacity", m.queue_capacity);

    o.family("netlog_kernel_group_queue_length", "gauge",
             "Per NFLOG group, packets the kernel holds for the next batch "
             "(/proc/net/netfilter/nfnetlink_log).");
    for (const auto &g : m.kernel_groups)
        o.sample("netlog_kernel_group_queue_length", g.queue_len,
                 fmt::format("group=\"{}\"", g.group));
    o.family("netlog_kernel_group_copy_range_bytes", "gauge", "Per NFLOG group, the copy range.");
    for (const auto &g : m.kernel_groups)
        o.sample("netlog_kernel_group_copy_range_bytes", g.copy_range,
                 fmt::format("group=\"{}\"", g.group));
    o.family("netlog_kernel_socket_drops_total", "counter",
             "Drops the kernel counted on netlogd's NFLOG socket (/proc/net/netlink).");
    o.sample("netlog_kernel_socket_drops_total", m.kernel_socket.drops);
    o.family("netlog_kernel_socket_rmem_bytes", "gauge",
             "Bytes waiting in netlogd's NFLOG socket (/proc/net/netlink).");
    o.sample("netlog_kernel_socket_rmem_bytes", m.kernel_socket.rmem);

    if (m.http.enabled) {
        o.family("netlog_http_connections_total", "counter",
                 "Connections the metrics listener accepted (refused ones included).");
        o.sample("netlog_http_connections_total", m.http.accepted);
        o.family("netlog_http_connections_refused_total", "counter",
                 "Connections answered 503 and closed because the listener already held its "
                 "maximum.");
        o.sample("netlog_http_connections_refused_total", m.http.refused);
        o.family("netlog_http_connections_timed_out_total", "counter",
                 "Connections closed because the request did not arrive, or the response was "
                 "not taken, in time.");
        o.sample("netlog_http_connections_timed_out_total", m.http.timed_out);
        o.family("netlog_http_connections_open", "gauge", "Connections the listener holds now.");
        o.sample("netlog_http_connections_open", m.http.open);
        o.family("netlog_http_responses_total", "counter",
                 "Responses of the listener, by status code.");
        for (std::size_t i = 0; i < m.http.codes.size(); ++i)
            o.sample("netlog_http_responses_total", m.http.responses[i],
                     fmt::format("code=\"{}\"", m.http.codes[i]));
    }

    o.family("netlog_build_info", "gauge", "Always 1; the version of netlogd in its label.");
    o.sample("netlog_build_info", 1, fmt::format("version=\"{}\"", label(m.version)));

    // The standard process metrics (names and meanings of the Prometheus client libraries).
    if (m.process.known) {
        o.family("process_cpu_seconds_total", "counter",
                 "Total user and system CPU time spent in seconds.");
        o.sample("process_cpu_seconds_total", fmt::format("{:.2f}", m.process.cpu_seconds));
        o.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        o.sample("process_resident_memory_bytes", m.process.resident_bytes);
        o.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        o.sample("process_virtual_memory_bytes", m.process.virtual_bytes);
        o.family("process_start_time_seconds", "gauge",
                 "Start time of the process since unix epoch in seconds.");
        o.sample("process_start_time_seconds", fmt::format("{:.2f}", m.process.start_time_seconds));
        o.family("process_open_fds", "gauge", "Number of open file descriptors.");
        o.sample("process_open_fds", m.process.open_fds);
        o.family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
        o.sample("process_max_fds", m.process.max_fds);
    }
    return std::move(o.s);
}

std::string metrics_identity(const MetricsSnapshot &m) {
    const std::uint64_t accounted = m.accounted();
    std::string s;
    auto w = [&](std::string_view f, auto &&...a) {
        fmt::format_to(std::back_inserter(s), fmt::runtime(f), a...);
    };
    w("kernel logged (NFLOG sequence)   {:>12}\n", m.kernel_logged);
    w("  = emitted                      {:>12}\n", m.emitted);
    w("  + suppressed (rate limit)      {:>12}\n", m.suppressed);
    for (std::size_t i = 0; i < m.dropped.size(); ++i) {
        const auto r = static_cast<DropReason>(i);
        if (r == DropReason::sink) continue;
        if (r == DropReason::filtered)
            w("  + filtered (no output's match) {:>12}\n", m.dropped[i]);
        else if (r == DropReason::connection_signal)
            w("  + connection_signal (own ICMP) {:>12}\n", m.dropped[i]);
        else
            w("  + dropped {:<20} {:>12}\n", to_string(r), m.dropped[i]);
    }
    w("  + in flight (queue)            {:>12}\n", m.in_flight);
    if (m.refused_foreign || m.refused_unbound)
        w("refused NFLOG messages (not events): {} not from the kernel, {} for a group not "
          "bound\n",
          m.refused_foreign, m.refused_unbound);
    if (m.implausible_gaps)
        w("IDENTITY UNVERIFIABLE: {} sequence jumps larger than the kernel could have logged; "
          "the kernel's count is not known\n",
          m.implausible_gaps);
    else if (m.holds())
        w("identity holds: every event the kernel logged is emitted or counted\n");
    else
        w("IDENTITY BROKEN: {} events unaccounted for (a snapshot taken while events flow can "
          "be off by those in transit; take it again)\n",
          static_cast<std::int64_t>(m.kernel_logged) - static_cast<std::int64_t>(accounted));
    for (const auto &o : m.outputs)
        w("output {} ({} {}): {} lines written, {} dropped (sink), {} errors\n", o.name, o.type,
          o.format, o.lines, o.dropped, o.errors);
    return s;
}

} // namespace netlog
