// netlogd's counters as a value, rendered in the Prometheus text exposition format, and
// the kernel's own view parsed from /proc text. Pure: the daemon fills the snapshot, the
// io layer serves the text. Every name starts with netlog_ and is documented in
// netlogd(8); counters end in _total, times are in seconds.
#pragma once

#include <netlog/result.h>

#include <netlog/conntrack.h>

#include <netlog/accounting.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace netlog {

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
    std::vector<double> bounds;        // upper bounds, seconds, ascending (+Inf implied)
    std::vector<std::uint64_t> counts; // per bound (not cumulative) + 1 for +Inf
    double sum = 0;
    std::uint64_t total = 0;
    explicit Histogram(std::vector<double> b = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                0.5, 1, 2.5, 5})
        : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}
    void observe(double seconds);
};

// The metrics listener's own account (io/metrics_server.h): connections accepted, refused
// over its limit and closed at their deadline, open now, and responses by status code.
struct HttpServerView {
    static constexpr std::array<int, 8> codes{200, 400, 404, 405, 413, 431, 503, 505};
    bool enabled = false;
    std::uint64_t accepted = 0, refused = 0, timed_out = 0, open = 0;
    std::array<std::uint64_t, codes.size()> responses{};
};

// The standard process_* metrics of Prometheus client libraries, from /proc/self/stat, the
// boot time, the open descriptors and /proc/self/limits.
struct ProcessView {
    bool known = false;
    double cpu_seconds = 0, start_time_seconds = 0;
    std::uint64_t resident_bytes = 0, virtual_bytes = 0, open_fds = 0, max_fds = 0;
};

// Fill cpu_seconds, start_time_seconds, resident_bytes and virtual_bytes from the text of
// /proc/self/stat and the boot time (seconds since the epoch: /proc/stat's btime, or
// CLOCK_REALTIME - CLOCK_BOOTTIME where /proc/stat is hidden). False when it does not parse.
bool process_parse_stat(std::string_view self_stat, double boot_time, long ticks_per_second,
                        long page_size, ProcessView &out);

// The soft "Max open files" of /proc/self/limits; 0 when absent ("unlimited" included).
std::uint64_t process_parse_max_fds(std::string_view limits);

// A Docker/Podman metadata source's health (src/io/engine_source.h); `source` "" when
// the metadata comes from elsewhere (or nowhere).
struct MetadataSourceView {
    std::string source;                     // "docker" | "podman"
    std::string socket, daemon, last_error; // for logs and --stats; not metrics
    bool up = false;                        // connected, listed, following the events
    std::uint64_t connects = 0, disconnects = 0, failures = 0, events = 0, lookups = 0;
    std::uint64_t running = 0, gone = 0; // containers indexed: running, gone (grace period)
    double last_event_lag = 0;           // seconds from the daemon's event time to the new index
};

// The identity's terms (kernel_logged, emitted, suppressed, dropped, in_flight) are the
// Accounting base; the rest is detail around them.
struct MetricsSnapshot : Accounting {
    std::uint64_t received = 0;       // NFLOG packet messages read from the socket
    std::uint64_t enobufs_errors = 0; // recv() ENOBUFS occurrences (not events)
    // NFLOG messages refused (never events): from a sender other than the kernel, for a
    // group not bound; sequence jumps no kernel could have made (not counted as lost).
    std::uint64_t refused_foreign = 0, refused_unbound = 0, implausible_gaps = 0;
    std::uint64_t unclassified = 0;
    struct Output {
        std::string name, type, format;
        std::uint64_t lines = 0, bytes = 0, dropped = 0, errors = 0, reopens = 0, reconnects = 0;
        // A file output whose path names fields: its files open, lines to its fallback.
        bool routed = false;
        std::uint64_t files = 0, fallback = 0;
    };
    std::vector<Output> outputs;
    struct ClassCount {
        std::string name;
        std::uint64_t emitted = 0, suppressed = 0;
    };
    std::vector<ClassCount> classes;
    std::uint64_t suppression_summaries = 0;
    std::uint64_t store_reloads_ok = 0, store_reloads_failed = 0, containers = 0;
    MetadataSourceView metadata;
    std::uint64_t rule_reconciles = 0;
    std::uint64_t rules_not_covered = 0; // LOG rules without a companion, last check
    Histogram reconcile_latency;
    // json extra `peer` (rendered only when an output has it): marks the policy agent's
    // rules name an app for, ruleset reads and read errors, and ingress events with their
    // source named or not.
    bool peer_enabled = false;
    std::uint64_t peer_marks = 0, peer_reads = 0, peer_read_errors = 0;
    std::uint64_t sources_resolved = 0, sources_unresolved = 0;
    // connections: (rendered only when on): the followed connections' table and the
    // conntrack events the kernel could not deliver.
    bool connections_enabled = false;
    ConnectionCounters connections;
    std::uint64_t conntrack_overruns = 0;
    std::uint64_t queue_depth = 0, queue_capacity = 0;
    std::vector<KernelGroupView> kernel_groups;
    KernelSocketView kernel_socket;
    double start_time_seconds = 0;
    bool ready = false;
    std::string version; // netlog_build_info
    HttpServerView http;
    ProcessView process;
};

// The Prometheus text format (version 0.0.4), HELP and TYPE for every family.
std::string metrics_render(const MetricsSnapshot &m);

// The accounting identity in words, for `netlogd --stats`:
// kernel logged = emitted + suppressed + every drop counter (+ in flight).
std::string metrics_identity(const MetricsSnapshot &m);

// Read metrics_render's text back (what `netlogd --stats` scrapes). Unknown families are
// ignored; the error names the first sample line that does not parse.
Result<MetricsSnapshot> metrics_parse(std::string_view text);

} // namespace netlog
