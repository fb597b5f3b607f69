// A snapshot of netlogd's counters: what the metrics endpoint and the exit summary show.
// The accounting identity it lets anyone check:
//   events the kernel matched = received + lost_enobufs + lost_gap
//   received = queue_dropped + pipeline.processed
//   pipeline.processed = pipeline.emitted + pipeline.decode_errors + pipeline.unclassified_dropped
//                        + pipeline.filtered (no output's match takes it)
//                        + pipeline.connection_signals (netlog's ICMP error rule)
//   pipeline.emitted = emitted() + rate_limit.suppressed_total (the rate limit comes after)
//   lines in output i = emitted() + rate_limit.summaries + connection events (json outputs,
//                       connections:) - outputs[i].dropped (sink losses), counting only the
//                       events, summaries and connections output i's match takes
// so: kernel matched = emitted() + suppressed + lost_enobufs + lost_gap + queue_dropped
//                      + decode_errors + unclassified_dropped + filtered
//                      + connection_signals
//                      (+ events still in flight).
#pragma once

#include "metrics.h"

#include <netlog/accounting.h>
#include <netlog/pipeline.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace netlog {

struct OutputCounters {
    std::string name; // path, "stdout", syslog address
    std::uint64_t lines = 0, bytes = 0, dropped = 0, errors = 0, reopens = 0;
    bool routed = false;                   // a path naming fields: one file per value
    std::uint64_t files = 0, fallback = 0; // ... its files open, lines to its fallback
};

struct CountersSnapshot {
    // reader thread (NFLOG socket)
    std::uint64_t received = 0; // packet messages read from the socket
    std::uint64_t datagrams = 0, recv_calls = 0;
    std::uint64_t enobufs = 0;      // socket overruns reported by the kernel
    std::uint64_t lost_enobufs = 0; // events lost in those overruns (sequence gaps)
    std::uint64_t lost_gap = 0;     // other sequence gaps
    std::uint64_t truncated = 0;    // datagrams cut by a too small receive slot
    // NFLOG messages refused (not events): not the kernel's, for a group not bound; and
    // implausible sequence jumps (not counted as lost)
    std::uint64_t refused_foreign = 0, refused_unbound = 0, implausible_gaps = 0;
    std::uint64_t queue_dropped = 0;
    std::uint64_t queue_events = 0, queue_peak = 0; // events waiting now / at most
    // pipeline thread
    PipelineCounters pipeline;
    std::vector<OutputCounters> outputs;
    std::uint64_t reloads = 0, reload_failures = 0;
    std::size_t containers = 0;
    MetadataSourceView metadata;  // Docker/Podman source (source "" otherwise)
    RateLimitCounters rate_limit; // pipeline thread
    // connections: on; conntrack events the kernel could not deliver (ENOBUFS on the event
    // socket: a followed connection whose DESTROY was among them ends as `lost`).
    bool connections_enabled = false;
    std::uint64_t conntrack_overruns = 0;

    // The identity's terms (netlog/accounting.h) from these counters: the one place that
    // says which counter is which term.
    Accounting accounting() const {
        Accounting a;
        a.kernel_logged = received + lost_enobufs + lost_gap;
        // The pipeline counts an event once built; the rate limit may then suppress it: an
        // event is either emitted or suppressed, never both. Summary lines are not events.
        a.suppressed = rate_limit.suppressed_total;
        a.emitted = pipeline.emitted - std::min(pipeline.emitted, a.suppressed);
        a.drops(DropReason::kernel_enobufs) = lost_enobufs;
        a.drops(DropReason::seq_gap) = lost_gap;
        a.drops(DropReason::queue_full) = queue_dropped;
        a.drops(DropReason::decode_error) = pipeline.decode_errors;
        a.drops(DropReason::unclassified) = pipeline.unclassified_dropped;
        a.drops(DropReason::filtered) = pipeline.filtered;
        a.drops(DropReason::connection_signal) = pipeline.connection_signals;
        for (const auto &o : outputs) a.drops(DropReason::sink) += o.dropped;
        const auto settled = queue_dropped + pipeline.processed;
        a.in_flight = received > settled ? received - settled : 0;
        return a;
    }

    // Events written to the outputs: built by the pipeline and not suppressed.
    std::uint64_t emitted() const { return accounting().emitted; }
};

// One line: "received=... emitted=... lost_enobufs=... ..." (key=value, for logs).
inline std::string counters_line(const CountersSnapshot &s) {
    std::string out = fmt::format(
        "received={} emitted={} lost_enobufs={} lost_gap={} queue_dropped={} decode_errors={} "
        "unclassified={} unclassified_dropped={} filtered={} enriched={} enobufs={} "
        "queue_peak={}",
        s.received, s.emitted(), s.lost_enobufs, s.lost_gap, s.queue_dropped,
        s.pipeline.decode_errors, s.pipeline.unclassified, s.pipeline.unclassified_dropped,
        s.pipeline.filtered, s.pipeline.enriched, s.enobufs, s.queue_peak);
    out += fmt::format(" sink_dropped={}", s.accounting().drops(DropReason::sink));
    if (s.refused_foreign || s.refused_unbound || s.implausible_gaps)
        out += fmt::format(" refused_foreign={} refused_unbound={} implausible_gaps={}",
                           s.refused_foreign, s.refused_unbound, s.implausible_gaps);
    if (s.outputs.size() > 1) // each output's own account (outputs fail independently)
        for (std::size_t i = 0; i < s.outputs.size(); ++i)
            out += fmt::format(" out{}_lines={} out{}_dropped={}", i, s.outputs[i].lines, i,
                               s.outputs[i].dropped);
    if (s.connections_enabled || s.pipeline.connection_signals)
        out += fmt::format(" connection_signals={}", s.pipeline.connection_signals);
    if (s.connections_enabled) { // the followed connections' own identity (conntrack.h)
        const auto &c = s.pipeline.connections;
        out +=
            fmt::format(" connections_followed={} connections_untracked={} "
                        "connection_events={} connections_refused={} "
                        "connections_unanswered={} connections_unreachable={} "
                        "connections_closed={} connections_quiet={} connections_lost={} "
                        "connections_active={} conntrack_overruns={}",
                        c.followed, c.untracked, c.events(), c.refused, c.unanswered, c.unreachable,
                        c.closed, c.quiet, c.lost, c.active, s.conntrack_overruns);
    }
    if (s.rate_limit.enabled) // emitted + suppressed = the events the pipeline built
        out += fmt::format(" suppressed={} suppression_summaries={} summarised={}",
                           s.rate_limit.suppressed_total, s.rate_limit.summaries,
                           s.rate_limit.summarised);
    return out;
}

} // namespace netlog
