// The pipeline: one NFLOG message and its receive time in, one line per output out.
// decode (packet_decode) -> classify (Classifier, the rules' classes) -> enrich (the
// container index: ingress by destination IP, egress by source IP, else the handle in the
// prefix; interface names) -> format into the caller's per-output buffers.
// Pure: the io layer hands in the container index and an interface-name lookup; the same
// code serves the live daemon and --replay.
#pragma once

#include <netlog/classes.h>
#include <netlog/config.h>
#include <netlog/container.h>
#include <netlog/ecs.h>
#include <netlog/event.h>
#include <netlog/format.h>
#include <netlog/journal.h>
#include <netlog/nflog.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace netlog {

// ifindex -> interface name, supplied by the io layer (src/io/ifnames.h). An unknown
// index yields "".
class InterfaceNames {
public:
    virtual ~InterfaceNames() = default;
    virtual std::string_view name(std::uint32_t ifindex) = 0;
};

// How one output formats events. Borrows the strings it views (from the Config).
struct OutputSpec {
    OutputFormat format = OutputFormat::json;
    JsonOptions json;
    IptablesLoggerOptions iptables_logger;
    EcsOptions ecs;
    JournalOptions journal; // enabled: each line is framed as a journal entry (journal.h)
};

// The spec of `out` under config `c` (host, source, extras). Views into `c`.
OutputSpec output_spec(const Config &c, const OutputConfig &out);

struct PipelineOptions {
    UnclassifiedPolicy unclassified;
    std::vector<OutputSpec> outputs;
};

// Every message handed to process() ends in exactly one of: emitted, decode_errors,
// unclassified_dropped.
struct PipelineCounters {
    std::uint64_t processed = 0;            // messages handed in
    std::uint64_t emitted = 0;              // events built for the outputs; the rate limit
                                            // (netlogd's OutputStage) may still suppress some:
                                            // netlogd reports emitted - suppressed
    std::uint64_t decode_errors = 0;        // not IPv4/IPv6, no bytes, or a garbage IP header
                                            // (Packet::malformed); a cut header is emitted
    std::uint64_t unclassified = 0;         // prefix matched no class (emitted or dropped)
    std::uint64_t unclassified_dropped = 0; // ... and dropped by policy
    std::uint64_t enriched = 0;             // emitted with a container
    std::uint64_t enriched_by_prefix = 0;   // ... found through the prefix's handle
};

class Pipeline {
public:
    // `rules` must outlive the pipeline (the classifier points into it).
    Pipeline(const RulesFile &rules, PipelineOptions options);

    void set_containers(const ContainerIndex *index) { containers_ = index; } // may be null
    void set_interfaces(InterfaceNames *names) { names_ = names; }            // may be null

    // Decode, classify and enrich `msg` into `ev` (which then borrows `msg`). False when
    // the event is not to be emitted (decode error, or unclassified and dropped by policy);
    // counters are updated either way.
    bool build(const NflogMessage &msg, Timestamp receive_time, Event &ev);

    // build(), then append one line to outs[i] for each output i (outs.size() must equal
    // the number of outputs). True when the lines were appended.
    bool process(const NflogMessage &msg, Timestamp receive_time, std::span<std::string> outs);

    // Append the line of output `i` for `ev`.
    void format(const Event &ev, std::size_t i, std::string &out) const;

    // A message that could not be parsed at all (nflog_parse_batch's on_bad_message):
    // counted as processed and as a decode error.
    void count_bad_message() {
        ++c_.processed;
        ++c_.decode_errors;
    }

    std::size_t outputs() const { return opt_.outputs.size(); }
    const PipelineCounters &counters() const { return c_; }
    // Carry the counts over to a pipeline built after a reload.
    void set_counters(const PipelineCounters &c) { c_ = c; }
    std::size_t classifier_cache() const { return classifier_.cached(); }

private:
    Classifier classifier_;
    PipelineOptions opt_;
    std::vector<JsonOptions> fallback_json_; // per output: json options for unclassified events
    const ContainerIndex *containers_ = nullptr;
    InterfaceNames *names_ = nullptr;
    PipelineCounters c_;
    Event ev_;
};

} // namespace netlog
