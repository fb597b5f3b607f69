// The pipeline: a batch of NFLOG messages and its receive time in; for each event one line
// per output, the suppression summaries, and the account of every message out.
//
// Per message: decode (packet_decode) -> classify (the rules' classes) -> enrich (the
// container index: ingress by destination IP, egress by source IP, else the handle in the
// prefix; interface names) -> rate limit (per container and class; a closed suppression
// window becomes one summary line per output) -> format every output (klog: behind the
// kern.log line head) into the caller's LineOutputs.
//
// Pure: the io layer hands in the container index, an interface-name lookup, the local
// time conversion, the host name and the boot time. Live netlogd (netlink batches from the
// socket, process_batch) and --replay (the DLT_NFLOG records of a capture) call the same
// process_message().
#pragma once

#include <netlog/accounting.h>
#include <netlog/classes.h>
#include <netlog/config.h>
#include <netlog/conntrack.h>
#include <netlog/container.h>
#include <netlog/ecs.h>
#include <netlog/event.h>
#include <netlog/format.h>
#include <netlog/journal.h>
#include <netlog/nflog.h>
#include <netlog/result.h>
#include <netlog/output_select.h>
#include <netlog/path_template.h>
#include <netlog/peer_marks.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <deque>

namespace netlog {

class RateLimiter;
struct SuppressionEvent;
struct SuppressionSummary;

// ifindex -> interface name, supplied by the io layer (src/io/ifnames.h). An unknown
// index yields "".
class InterfaceNames {
  public:
    virtual ~InterfaceNames() = default;
    virtual std::string_view name(std::uint32_t ifindex) = 0;
};

// Seconds since the epoch -> local broken-down time (tm_gmtoff set), for the kern.log line
// head; supplied by the io layer (localtime_r reads the time zone). UTC when none is set.
class LocalTime {
  public:
    virtual ~LocalTime() = default;
    virtual void convert(std::int64_t sec, std::tm &out) const = 0;
};

// How one output formats events. Views the strings of the Config it was made from; the
// Pipeline copies them (it may outlive that Config).
struct OutputSpec {
    OutputFormat format = OutputFormat::json;
    JsonOptions json;
    IptablesLoggerOptions iptables_logger;
    EcsOptions ecs;
    JournalOptions journal; // enabled: each line is framed as a journal entry (journal.h)
    // klog: kern.log's line head before each line: off, traditional or rfc3339 (`host` is
    // resolved by the caller, who reads the host's rsyslog configuration).
    KernelPrefix kernel_prefix = KernelPrefix::off;
    bool kernel_prefix_short =
        false;               // a syslog output: only "[uptime] " (its server writes the rest)
    std::string kernel_host; // HOST in the line head
    OutputMatch match;       // the events it takes (all by default)
    PathTemplate path;       // templated: each line goes to the file its event's fields name
};

// The spec of `out` under config `c` (host, source, extras). Views into `c`. The kernel
// prefix is taken as configured (`host` left for the caller), its HOST from
// outputs[].syslog.hostname ("" left for the caller).
OutputSpec output_spec(const Config &c, const OutputConfig &out);

struct PipelineOptions {
    UnclassifiedPolicy unclassified;
    std::vector<OutputSpec> outputs;
    std::optional<RateLimitConfig> rate_limit; // none: every event is formatted
    std::int64_t boot_wall_ns = 0; // wall-clock ns of CLOCK_MONOTONIC zero (kern.log "[uptime]")
    // connections: follow the allowed events' connections through conntrack messages the
    // caller hands in (conntrack_datagram); off unless outcomes or flow_end.
    ConnectionOptions connections;
};

// Where the lines go, one buffer per output: the daemon's sinks, replay's stdout.
class LineOutputs {
  public:
    virtual ~LineOutputs() = default;
    // The buffer the next line of output `i` is appended to. `level`: the LOG rule's level
    // of the event (a syslog output sends the line at it); -1 for a summary line. `route`:
    // for an output whose path names fields (OutputSpec::path), the file of this line; ""
    // when the event has no usable value for them (the output's fallback file).
    virtual std::string &line(std::size_t i, int level, std::string_view route = {}) = 0;
    // After a line was appended to output `i` (a large buffer may be written out).
    virtual void line_done(std::size_t i) { (void)i; }
};

// The container an event's prefix names through its class's container_handle or
// container_app_guid group (classes.h), whose text `caps` holds (views into `prefix`);
// trailing spaces are not part of a name (LOG ends its prefixes with one).
const Container *container_from_prefix(const ContainerIndex &index, const ClassDef &cls,
                                       const Captures &caps, std::string_view prefix);

// The times a batch is processed under.
struct BatchTime {
    Timestamp received;              // an event without NFLOG timestamp gets this time
    std::int64_t now_ns = 0;         // the rate limiter's clock: CLOCK_MONOTONIC live (the
                                     // NFLOG time follows the wall clock, which can jump),
                                     // the capture's time in replay
    std::int64_t wall_offset_ns = 0; // wall-clock = now_ns + this (summaries' first/last)
};

// Every message handed in ends in exactly one of: emitted, decode_errors,
// unclassified_dropped, filtered (no output's match takes it), connection_signals; the rate limit then
// suppresses some of the emitted.
struct PipelineCounters {
    std::uint64_t processed = 0;            // messages handed in
    std::uint64_t emitted = 0;              // events built for the outputs (before the rate
                                            // limit: emitted - suppressed were written)
    std::uint64_t decode_errors = 0;        // not IPv4/IPv6, no bytes, or a garbage IP header
                                            // (Packet::malformed), or a message that does not
                                            // parse; a cut header is emitted
    std::uint64_t unclassified = 0;         // prefix matched no class (emitted or dropped)
    std::uint64_t unclassified_dropped = 0; // ... and dropped by policy
    std::uint64_t filtered = 0;             // classified, but no output's match takes it
    std::uint64_t connection_signals = 0;   // netlog's own ICMP error rule (ruleplan.h): read
                                            // for connection outcomes, not emitted
    std::uint64_t enriched = 0;             // emitted with a container
    std::uint64_t enriched_by_prefix = 0;   // ... found through the prefix's handle
    // Ingress events emitted while an output has the json extra `peer`: with their source
    // named (a container on this cell, or an app from the packet's mark), and without.
    std::uint64_t sources_resolved = 0, sources_unresolved = 0;
    // connections: the followed connections' table (its own identity, conntrack.h). Its
    // -failed and -closed lines are events of their own, outside the NFLOG identity.
    ConnectionCounters connections;
};

// What the rate limiter did.
struct RateLimitCounters {
    bool enabled = false;
    std::vector<std::string> classes;      // class names by class index; last: "unclassified"
    std::vector<std::uint64_t> suppressed; // events suppressed, same index as `classes`
    std::uint64_t suppressed_total = 0;
    std::uint64_t summaries = 0;  // summaries emitted (windows closed; a line per output)
    std::uint64_t summarised = 0; // suppressed events reported by those summaries
    std::uint64_t buckets = 0, evictions = 0, overflow = 0;
};

class Pipeline {
  public:
    // Fails (one line, naming the config position) when rate_limit.classes names a class
    // the rules file does not have. `rules` must outlive the pipeline.
    static Result<std::unique_ptr<Pipeline>> make(const RulesFile &rules, PipelineOptions options);
    // Unchecked: rate_limit.classes naming no class of `rules` are ignored.
    Pipeline(const RulesFile &rules, PipelineOptions options);
    ~Pipeline();

    void set_containers(const ContainerIndex *index) { containers_ = index; } // may be null
    void set_interfaces(InterfaceNames *names) { names_ = names; }            // may be null
    void set_local_time(const LocalTime *lt) { local_time_ = lt; }            // may be null

    // A buffer of netlink messages as read from the NFLOG socket: each packet message
    // through process_message(); one that does not parse is a decode error.
    void process_batch(Bytes batch, const BatchTime &t, LineOutputs &out);
    // Build, rate-limit and format one message. True when its lines were appended.
    bool process_message(const NflogMessage &msg, const BatchTime &t, LineOutputs &out);
    // Close the suppression windows older than the window (every one when `all`: at exit
    // and reload) into summary lines.
    void flush(const BatchTime &t, LineOutputs &out, bool all = false);
    void set_peers(const PeerMarks *marks) { marks_ = marks; } // may be null

    // Decode, classify and enrich `msg` into `ev` (which then borrows `msg`). False when
    // the event is not to be emitted (decode error, or unclassified and dropped by policy);
    // counters are updated either way. No rate limit.
    bool build(const NflogMessage &msg, Timestamp receive_time, Event &ev);
    // build(), then append one line to outs[i] for each output i. No rate limit.
    bool process(const NflogMessage &msg, Timestamp receive_time, std::span<std::string> outs);
    // Whether output `i` takes `ev` (its match); build() has made sure one does.
    bool selects(const Event &ev, std::size_t i) const {
        return select_[i].selects(ev.cls, ev.direction, ev.verdict);
    }
    // Append the line of output `i` for `ev` (klog: behind its kernel prefix). Inline for
    // the common output, a plain json line: one call per event less on the hot path.
    void format(const Event &ev, std::size_t i, std::string &out) const {
        const auto &o = opt_.outputs[i];
        if (o.format == OutputFormat::json && o.kernel_prefix == KernelPrefix::off &&
            !o.journal.enabled) [[likely]]
            format_json(ev, ev.cls ? o.json : fallback_json_[i], out);
        else
            format_framed(ev, i, out);
    }

    // connections: one datagram read from the conntrack event socket or the answers to
    // conntrack_probes' requests; a followed connection that ended becomes one line in each
    // json output that took its first packet (journal-framed outputs and the other formats
    // get none). `t.now_ns` is the monotonic clock, `t.received` the wall clock.
    void conntrack_datagram(Bytes datagram, const BatchTime &t, LineOutputs &out);
    // The conntrack GET requests due at `now_ns` (netlink messages appended to `out`).
    void conntrack_probes(std::int64_t now_ns, std::vector<std::uint8_t> &out);
    bool tracking() const { return tracker_ != nullptr; }

    // A message that could not be parsed at all (a netlink message, a capture's record):
    // counted as processed and as a decode error.
    void count_bad_message() {
        ++c_.processed;
        ++c_.decode_errors;
    }

    std::size_t outputs() const { return opt_.outputs.size(); }
    bool limiting() const { return limiter_ != nullptr; }
    const PipelineCounters &counters() const { return c_; }
    const RateLimitCounters &rate_limit_counters();
    // This pipeline's terms of the identity: kernel_logged = the messages handed in.
    Accounting accounting();
    // Carry the counts of the pipeline this one replaces (a reload) over.
    void carry_over(Pipeline &old);
    std::size_t classifier_cache() const { return classifier_.cached(); }

  private:
    template <class Emit>
    void summarise(const SuppressionSummary &s, const BatchTime &t, Emit &&emit);
    void append_summary(const SuppressionEvent &e, LineOutputs &out);
    void kernel_prefix(const Event &ev, std::size_t i, std::string &out) const;
    bool build_event(const NflogMessage &msg, Timestamp receive_time, Event &ev);
    // format() for any output: a kernel prefix, journal framing, any format.
    void format_framed(const Event &ev, std::size_t i, std::string &out) const;

    const RulesFile *rules_;
    void enrich_peer(const NflogMessage &msg, Event &ev);

    Classifier classifier_;
    PipelineOptions opt_;
    std::vector<JsonOptions> fallback_json_; // per output: json options for unclassified events
    std::vector<OutputSelector> select_;     // per output: its match
    std::vector<std::unique_ptr<PathRouter>> routers_; // per output: its path's fields, or null
    // The text the outputs' options view (source, host ip and guid, journal identifier),
    // copied here: the Config they came from may move or go (a reload replaces it) while
    // this pipeline still formats. A deque: its strings never move.
    std::deque<std::string> owned_;
    std::string route_; // the path of the line being written
    // The file of output `i` for a line: "" unless its path names fields.
    std::string_view route(std::size_t i, const ClassDef *cls, const Captures *caps) {
        return routers_[i] ? routed(i, cls, caps) : std::string_view();
    }
    std::string_view routed(std::size_t i, const ClassDef *cls, const Captures *caps);
    bool some_take_all_ = false; // an output without a match: nothing is filtered
    const ContainerIndex *containers_ = nullptr;
    InterfaceNames *names_ = nullptr;
    const LocalTime *local_time_ = nullptr;
    std::unique_ptr<RateLimiter> limiter_;
    std::uint64_t evictions_base_ = 0, overflow_base_ = 0; // carried over from before a reload
    const PeerMarks *marks_ = nullptr;
    bool peers_wanted_ = false;                  // an output has the json extra `peer`
    std::unique_ptr<ConnectionTracker> tracker_; // connections: on
    std::uint32_t probe_seq_ = 0;
    void follow(const BatchTime &t, LineOutputs &out);
    void emit_connection(const ConnEnd &x, LineOutputs &out);
    PipelineCounters c_;
    RateLimitCounters rl_;
    Event ev_;
};

} // namespace netlog
