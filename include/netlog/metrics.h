// netlogd's counters as a value, rendered in the Prometheus text exposition format, and
// the kernel's own view parsed from /proc text. Pure: the daemon fills the snapshot, the
// io layer serves the text. Every name starts with netlog_ and is documented in
// netlogd(8); counters end in _total, times are in seconds.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace netlog {

// Why an event the kernel matched was not emitted. Each lost event is counted under
// exactly one reason. `sink` counts lines an output could not write (per line, not per
// event: outside the identity); `unclassified` counts events whose prefix matched no class
// when the config says `unclassified: {action: drop}`.
enum class DropReason : std::uint8_t {
    kernel_enobufs, seq_gap, queue_full, decode_error, sink, unclassified, count_
};
std::string_view to_string(DropReason r);

struct KernelGroupView { // one line of /proc/net/netfilter/nfnetlink_log
    std::uint32_t group = 0, portid = 0, queue_len = 0, copy_mode = 0, copy_range = 0,
                  flush_timeout = 0, use = 0;
};
struct KernelSocketView { // our line of /proc/net/netlink
    std::uint32_t portid = 0;
    std::uint64_t rmem = 0, drops = 0;
};

// Parse /proc/net/netfilter/nfnetlink_log; lines that do not parse are skipped.
std::vector<KernelGroupView> kernel_parse_nfnetlink_log(std::string_view text);
// Parse /proc/net/netlink for the sockets of protocol 12 (NETLINK_NETFILTER) with `portid`.
bool kernel_parse_netlink(std::string_view text, std::uint32_t portid, KernelSocketView &out);

struct Histogram {
    std::vector<double> bounds; // upper bounds, seconds, ascending (+Inf implied)
    std::vector<std::uint64_t> counts; // per bound (not cumulative) + 1 for +Inf
    double sum = 0;
    std::uint64_t total = 0;
    explicit Histogram(std::vector<double> b = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                0.25, 0.5, 1, 2.5, 5})
        : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}
    void observe(double seconds);
};

struct MetricsSnapshot {
    std::uint64_t received = 0;                // NFLOG packet messages read from the socket
    std::uint64_t kernel_logged = 0;           // events the kernel sent, from NFLOG sequence numbers
    std::array<std::uint64_t, static_cast<std::size_t>(DropReason::count_)> dropped{};
    std::uint64_t enobufs_errors = 0;          // recv() ENOBUFS occurrences (not events)
    std::uint64_t unclassified = 0;
    struct Output {
        std::string name, type, format;
        std::uint64_t lines = 0, bytes = 0, dropped = 0, errors = 0, reopens = 0, reconnects = 0;
    };
    std::vector<Output> outputs;
    std::uint64_t emitted = 0;                 // events emitted (each to every output)
    struct ClassCount {
        std::string name;
        std::uint64_t emitted = 0, suppressed = 0;
    };
    std::vector<ClassCount> classes;
    std::uint64_t suppressed = 0, suppression_summaries = 0;
    std::uint64_t store_reloads_ok = 0, store_reloads_failed = 0, containers = 0;
    std::uint64_t rule_reconciles = 0;
    std::uint64_t rules_not_covered = 0; // LOG rules without a companion, last check
    Histogram reconcile_latency;
    std::uint64_t queue_depth = 0, queue_capacity = 0;
    std::uint64_t in_flight = 0;                // events read but not yet emitted or dropped
    std::vector<KernelGroupView> kernel_groups;
    KernelSocketView kernel_socket;
    double start_time_seconds = 0;
    bool ready = false;
};

// The Prometheus text format (version 0.0.4), HELP and TYPE for every family.
std::string metrics_render(const MetricsSnapshot &m);

// The accounting identity in words, for `netlogd --stats`:
// kernel logged = emitted + suppressed + every drop counter (+ in flight).
std::string metrics_identity(const MetricsSnapshot &m);

// Read metrics_render's text back (what `netlogd --stats` scrapes). Unknown families are
// ignored; false (and `error` set to the first bad line) when a sample line does not parse.
bool metrics_parse(std::string_view text, MetricsSnapshot &out, std::string &error);

} // namespace netlog
